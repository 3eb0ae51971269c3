//! Local IPC measured against a plain Unix socket in the same run. Both
//! servers run in a child process, as a daemon does, and the clients in
//! this one:
//!
//! - small request/response round trips, one client in sequence (p50/p99)
//!   and 8 clients at once (calls per second): a plain length-prefixed echo
//!   on a Unix socket (the floor) beside a corridor IPC session's RPC echo.
//!   The 8-client figures alternate, one second of each per round, so that
//!   the machine's drift during the run (a shared VM's speed changes by a
//!   fifth from minute to minute) falls on both alike; the ratio printed is
//!   the median of the rounds' ratios;
//! - connection setup: connect, peer checks (uid and executable digest,
//!   the digest cached) and the Noise handshake, beside a plain connect;
//! - the first read of an executable's digest (uncached), for this bench's
//!   own binary.
//!
//! `cargo bench -p corridor-ipc --bench ipc -- [--calls N] [--rounds N] [--seconds N] [--setups N]`
//! Not a test: it prints figures and ratios, and asserts nothing about speed.
//!
//! For a profiler: `plain-only` or `ipc-only` runs just that side's 8
//! clients for `--seconds` (after the round trips in sequence) and prints
//! their calls per second, e.g. under `perf stat` to count CPU per call.
//! `CORRIDOR_BENCH_RUNTIME=current_thread` runs both processes on tokio's
//! single-threaded runtime.

use corridor::builtin::{self, Info};
use corridor::rpc::Router;
use corridor::{Session, SessionOptions};
use corridor_core::identity::{PublicKey, StaticSecret};
use corridor_ipc::hashes::ExecutableHashes;
use corridor_ipc::{IpcAddr, IpcClientConfig, IpcServer, IpcServerConfig, PeerPolicy, connect};
use corridor_testkit::bench;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

const PAYLOAD: &[u8] = b"{\"n\":12345}";

struct Args {
    calls: usize,
    /// Rounds of the 8-client comparison.
    rounds: usize,
    /// Seconds of each side per round.
    seconds: u64,
    /// Connections set up for the setup figures.
    setups: usize,
}

fn args() -> Args {
    Args {
        calls: bench::flag("calls", 20_000) as usize,
        rounds: bench::flag("rounds", 5) as usize,
        seconds: bench::flag("seconds", 1),
        setups: bench::flag("setups", 500) as usize,
    }
}

/// Calls per second of 8 clients at once for `seconds`, each client making
/// calls in sequence on a connection of its own, opened beforehand.
async fn eight_clients<C, F, Fut>(connections: Vec<C>, seconds: u64, call: F) -> (f64, Vec<C>)
where
    C: Send + 'static,
    F: Fn(C) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = C> + Send,
{
    let pool = Arc::new(std::sync::Mutex::new(connections));
    let returned = Arc::new(std::sync::Mutex::new(Vec::new()));
    let calls = bench::for_seconds(8, seconds, |until| {
        let (pool, returned, call) = (pool.clone(), returned.clone(), call.clone());
        async move {
            let mut connection = pool
                .lock()
                .expect("pool")
                .pop()
                .expect("a connection per client");
            let mut calls = 0u64;
            while Instant::now() < until {
                connection = call(connection).await;
                calls += 1;
            }
            returned.lock().expect("returned").push(connection);
            calls
        }
    })
    .await;
    let connections = std::mem::take(&mut *returned.lock().expect("returned"));
    (calls as f64 / seconds as f64, connections)
}

/// The plain echo's calls per second with 8 clients, and the streams back.
async fn plain_eight(streams: Vec<UnixStream>, seconds: u64) -> (f64, Vec<UnixStream>) {
    eight_clients(streams, seconds, |mut stream: UnixStream| async move {
        plain_call(&mut stream).await;
        stream
    })
    .await
}

/// IPC's calls per second with 8 clients, and the sessions back.
async fn ipc_eight(sessions: Vec<Arc<Session>>, seconds: u64) -> (f64, Vec<Arc<Session>>) {
    eight_clients(sessions, seconds, |session: Arc<Session>| async move {
        ipc_call(&session).await;
        session
    })
    .await
}

/// A plain echo server: u32 length, bytes, answered the same.
async fn plain_server(path: &Path) {
    let listener = UnixListener::bind(path).expect("bind");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let mut len = [0u8; 4];
                    if stream.read_exact(&mut len).await.is_err() {
                        return;
                    }
                    let n = u32::from_be_bytes(len) as usize;
                    if n > buf.len() || stream.read_exact(&mut buf[..n]).await.is_err() {
                        return;
                    }
                    let mut out = len.to_vec();
                    out.extend_from_slice(&buf[..n]);
                    if stream.write_all(&out).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
}

async fn plain_call(stream: &mut UnixStream) {
    let mut frame = (PAYLOAD.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(PAYLOAD);
    stream.write_all(&frame).await.expect("write");
    let mut back = vec![0u8; frame.len()];
    stream.read_exact(&mut back).await.expect("read");
}

/// The call's body, typed as an application's would be; it travels as
/// the same JSON the plain echo carries.
#[derive(serde::Serialize, serde::Deserialize)]
struct Echo {
    n: u64,
}

async fn ipc_call(session: &Session) {
    let back: Echo = session
        .rpc()
        .call(builtin::ECHO, &Echo { n: 12345 })
        .await
        .expect("call");
    std::hint::black_box(back.n);
}

/// p50 and p99 in microseconds.
fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    (
        micros(bench::percentile(&mut samples, 0.5)),
        micros(bench::percentile(&mut samples, 0.99)),
    )
}

fn this_binary() -> std::path::PathBuf {
    std::fs::read_link("/proc/self/exe").expect("own executable")
}

fn sha256sum(path: &Path) -> [u8; 32] {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    corridor_ipc::hashes::parse_hex(&String::from_utf8_lossy(&out.stdout)[..64]).expect("hex")
}

/// The child process: the plain echo server and the IPC server, in `dir`,
/// until stdin closes. The IPC server admits `client` by key, this user by
/// uid and this binary by digest (the parent runs the same binary).
async fn serve(dir: &Path, client: PublicKey) {
    plain_server(&dir.join("plain.sock")).await;
    let key = std::fs::read(dir.join("server.key")).expect("key");
    let server_key = StaticSecret::from_file_json(&key).expect("key json");
    let addr = IpcAddr::Path(dir.join("run/ipc.sock"));
    let mut config = IpcServerConfig::new(addr, server_key, vec![client]);
    let uid = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").expect("proc"));
    config.policy = PeerPolicy {
        uids: [uid].into(),
        executables: [sha256sum(&this_binary())].into(),
        ..PeerPolicy::default()
    };
    let server = IpcServer::bind(config).await.expect("bind");
    let router = builtin::register(
        Router::new(),
        Info {
            name: "bench".into(),
            version: "0".into(),
            streams: vec![],
        },
    );
    let options = SessionOptions::default().with_router(router);
    tokio::spawn(server.serve(options, |session: Arc<Session>| async move {
        session.closed().await
    }));
    println!("ready");
    let mut rest = Vec::new();
    let _ = tokio::io::stdin().read_to_end(&mut rest).await;
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if let Some(at) = argv.iter().position(|arg| arg == "--serve") {
        let (dir, client) = (&argv[at + 1], &argv[at + 2]);
        let client = PublicKey::from_b64u(client).expect("client key");
        return bench::runtime().block_on(serve(Path::new(dir), client));
    }
    let args = args();
    let runtime = bench::runtime();
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let plain_path = dir.path().join("plain.sock");
        let (server_key, client_key) = (
            StaticSecret::generate(&mut rand_core::OsRng),
            StaticSecret::generate(&mut rand_core::OsRng),
        );
        std::fs::write(dir.path().join("server.key"), &*server_key.to_file_json()).expect("key");
        let mut servers = std::process::Command::new(this_binary())
            .args(["--serve".as_ref(), dir.path().as_os_str(), client_key.public_key().to_b64u().as_ref()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("server process");
        let mut ready = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(servers.stdout.take().expect("stdout")),
            &mut ready,
        )
        .expect("ready line");
        assert_eq!(ready.trim(), "ready", "the server process started");
        let addr = IpcAddr::Path(dir.path().join("run/ipc.sock"));
        let client = IpcClientConfig::new(addr, client_key, server_key.public_key());

        // Round trips in sequence.
        let mut plain = UnixStream::connect(&plain_path).await.expect("connect");
        let session = connect(&client, &SessionOptions::default()).await.expect("ipc connect");
        for _ in 0..1000 {
            plain_call(&mut plain).await;
            ipc_call(&session).await;
        }
        let mut rows = Vec::new();
        let mut samples = Vec::with_capacity(args.calls);
        let started = Instant::now();
        for _ in 0..args.calls {
            let t = Instant::now();
            plain_call(&mut plain).await;
            samples.push(t.elapsed());
        }
        let plain_rate = args.calls as f64 / started.elapsed().as_secs_f64();
        rows.push(("plain Unix socket, 1 client", plain_rate, percentiles(samples)));
        let mut samples = Vec::with_capacity(args.calls);
        let started = Instant::now();
        for _ in 0..args.calls {
            let t = Instant::now();
            ipc_call(&session).await;
            samples.push(t.elapsed());
        }
        let ipc_rate = args.calls as f64 / started.elapsed().as_secs_f64();
        rows.push(("corridor IPC (Noise, RPC), 1 client", ipc_rate, percentiles(samples)));

        // 8 clients at once, plain and IPC alternating.
        let mut plain_streams = Vec::new();
        let mut sessions = Vec::new();
        for _ in 0..8 {
            plain_streams.push(UnixStream::connect(&plain_path).await.expect("connect"));
            sessions.push(Arc::new(connect(&client, &SessionOptions::default()).await.expect("connect")));
        }
        let only = match bench::mode(&["plain-only", "ipc-only"], "both").as_str() {
            "plain-only" => Some(("plain", plain_eight(std::mem::take(&mut plain_streams), args.seconds).await.0)),
            "ipc-only" => Some(("IPC", ipc_eight(std::mem::take(&mut sessions), args.seconds).await.0)),
            _ => None,
        };
        if let Some((side, rate)) = only {
            println!("8 clients, {side} only: {rate:.0} calls/s for {} s", args.seconds);
            drop(servers.stdin.take());
            let _ = servers.wait();
            return;
        }
        let mut parallel = Vec::new();
        for _ in 0..args.rounds {
            let (plain_rate, streams) = plain_eight(plain_streams, args.seconds).await;
            plain_streams = streams;
            let (ipc_rate, back) = ipc_eight(sessions, args.seconds).await;
            sessions = back;
            parallel.push((plain_rate, ipc_rate));
        }

        // Setup: connect + checks (digest cached) + handshake, beside a plain connect.
        let mut setup = Vec::new();
        let mut first_call = Vec::new();
        let mut plain_setup = Vec::new();
        for _ in 0..args.setups {
            let t = Instant::now();
            let stream = UnixStream::connect(&plain_path).await.expect("connect");
            plain_setup.push(t.elapsed());
            drop(stream);
            let t = Instant::now();
            let session = connect(&client, &SessionOptions::default()).await.expect("connect");
            setup.push(t.elapsed());
            let t = Instant::now();
            let _: serde_json::Value = session.rpc().call(builtin::PING, &()).await.expect("ping");
            first_call.push(t.elapsed());
            session.close().await;
        }
        // The first digest of this binary, from a fresh cache each time.
        let (a, _b) = std::os::unix::net::UnixStream::pair().expect("pair");
        let process = corridor::process::PeerProcess::of_socket(&a).expect("pidfd");
        let size = std::fs::metadata(this_binary()).map(|m| m.len()).unwrap_or_default();
        let mut uncached = Vec::new();
        for _ in 0..20 {
            let t = Instant::now();
            ExecutableHashes::default().of(&process).expect("digest");
            uncached.push(t.elapsed());
        }

        println!(
            "round trips, {} small calls in sequence; then 8 clients, {} rounds of {} s plain and {} s IPC\n",
            args.calls, args.rounds, args.seconds, args.seconds
        );
        println!("{:<40} {:>12} {:>10} {:>10}", "path", "calls/s", "p50 us", "p99 us");
        for (name, rate, (p50, p99)) in &rows {
            println!("{name:<40} {rate:>12.0} {p50:>10.1} {p99:>10.1}");
        }
        for (round, (plain, ipc)) in parallel.iter().enumerate() {
            println!(
                "8 clients, round {}: plain {plain:>8.0} calls/s, IPC {ipc:>8.0} calls/s, {:.2}x",
                round + 1,
                ipc / plain
            );
        }
        let mut ratios: Vec<f64> = parallel.iter().map(|(plain, ipc)| ipc / plain).collect();
        ratios.sort_by(f64::total_cmp);
        let median_ratio = ratios.get(ratios.len() / 2).copied().unwrap_or_default();
        println!(
            "\nIPC / plain: {:.2}x the calls per second with 1 client; with 8, median {median_ratio:.2}x of {} rounds ({:.2}x to {:.2}x)",
            ipc_rate / plain_rate,
            ratios.len(),
            ratios.first().copied().unwrap_or_default(),
            ratios.last().copied().unwrap_or_default(),
        );
        let (setup_p50, setup_p99) = percentiles(setup);
        let (first_p50, _) = percentiles(first_call);
        let (plain_p50, _) = percentiles(plain_setup);
        let (uncached_p50, _) = percentiles(uncached);
        println!("\nsetup: plain connect p50 {plain_p50:.1} us; IPC connect + checks (digest cached) + handshake p50 {setup_p50:.1} us, p99 {setup_p99:.1} us; then the first call p50 {first_p50:.1} us");
        println!("first digest of this binary ({:.1} MiB, uncached): p50 {:.1} ms", size as f64 / 1048576.0, uncached_p50 / 1e3);
        // Closing its stdin ends the server process.
        drop(servers.stdin.take());
        let _ = servers.wait();
    });
}
