//! What the load tools share: numeric flags, percentiles, running
//! workers against a deadline, and the far end of a throughput measure.

use std::future::Future;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

/// The value of `--name N` on the command line, or `default`.
pub fn flag(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2)
        .find(|pair| pair[0] == format!("--{name}"))
        .and_then(|pair| pair[1].parse().ok())
        .unwrap_or(default)
}

/// The runtime every load tool runs in: two workers, this machine's cores;
/// or, with `CORRIDOR_BENCH_RUNTIME=current_thread` in the environment
/// (which child processes inherit), tokio's single-threaded runtime.
pub fn runtime() -> tokio::runtime::Runtime {
    if std::env::var("CORRIDOR_BENCH_RUNTIME").as_deref() == Ok("current_thread") {
        return tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// The first command-line word that is one of `modes`, or `default`.
pub fn mode(modes: &[&str], default: &str) -> String {
    std::env::args()
        .skip(1)
        .find(|arg| modes.contains(&arg.as_str()))
        .unwrap_or_else(|| default.to_owned())
}

/// The `p` quantile (0 to 1) of `samples`, which are sorted here.
pub fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

/// Runs `workers` copies of `work` (each given the deadline) until
/// `seconds` have passed and returns the sum of what they return (the
/// operations each did).
pub async fn for_seconds<F, Fut>(workers: usize, seconds: u64, work: F) -> u64
where
    F: Fn(Instant) -> Fut,
    Fut: Future<Output = u64> + Send + 'static,
{
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers {
        tasks.spawn(work(until));
    }
    let mut total = 0;
    while let Some(done) = tasks.join_next().await {
        total += done.expect("worker");
    }
    total
}

/// The far end of a throughput measure: reads `stream` to its end, then
/// answers with the byte count (8 bytes, big-endian) and closes.
pub async fn answer_byte_count<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    let _ = stream.write_all(&total.to_be_bytes()).await;
    let _ = stream.shutdown().await;
}
