//! `corridor bench`: measure a live endpoint the way iperf or wrk would:
//! connect time, RPC round trips, and echo-stream throughput.

use crate::target::Target;
use anyhow::{Context as _, ensure};
use clap::Args;
use corridor::{Session, SessionOptions, builtin};
use serde::Serialize;
use serde_json::{Value, json};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Measure an endpoint: connect time, RPC round trips, stream throughput.
///
/// Works against any endpoint that answers `ping` and accepts `echo` streams,
/// such as `corridor serve`, directly or through a relay (a grant is used
/// once). Calls are made one after another, so each timing is one round trip;
/// the transfer goes out on echo streams while the echo is read back.
#[derive(Args, Debug)]
#[command(after_help = "\
Examples:
  corridor bench --direct-info info.json
  corridor bench --grant pair.json --calls 10000 --mib 256 --streams 4 --json")]
pub(crate) struct BenchArgs {
    #[command(flatten)]
    target: Target,
    /// Sequential ping calls to time (0 skips them).
    #[arg(long, default_value_t = 2000)]
    calls: usize,
    /// MiB to send through echo streams and read back (0 skips the transfer).
    #[arg(long, default_value_t = 64)]
    mib: usize,
    /// Echo streams the transfer is split over.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=32))]
    streams: u16,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// Calls made before timing starts, so first-use costs do not count.
const WARM_UP_CALLS: usize = 100;
/// Bytes per write on the echo streams.
const CHUNK: usize = 64 * 1024;

#[derive(Debug, Serialize)]
struct Report {
    connect_ms: f64,
    calls: Option<Latency>,
    echo: Option<Throughput>,
}

#[derive(Debug, Serialize)]
struct Latency {
    count: usize,
    p50_us: f64,
    p90_us: f64,
    p99_us: f64,
    max_us: f64,
}

#[derive(Debug, Serialize)]
struct Throughput {
    streams: u16,
    bytes_each_way: u64,
    seconds: f64,
    mib_per_s_each_way: f64,
}

pub(crate) fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(async {
        let started = Instant::now();
        let session = args.target.connect(&SessionOptions::default()).await?;
        let connect_ms = started.elapsed().as_secs_f64() * 1e3;
        let calls = match args.calls {
            0 => None,
            count => Some(time_calls(&session, count).await?),
        };
        let echo = match args.mib {
            0 => None,
            mib => Some(echo_transfer(&session, mib, args.streams).await?),
        };
        session.close().await;
        let report = Report {
            connect_ms,
            calls,
            echo,
        };
        if args.json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            print_table(&report);
        }
        Ok(ExitCode::SUCCESS)
    })
}

async fn time_calls(session: &Session, count: usize) -> anyhow::Result<Latency> {
    let payload = json!({});
    for _ in 0..WARM_UP_CALLS.min(count) {
        let _: Value = session.rpc().call(builtin::PING, &payload).await?;
    }
    let mut rtts = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        let _: Value = session.rpc().call(builtin::PING, &payload).await?;
        rtts.push(started.elapsed());
    }
    rtts.sort();
    let at = |p: f64| {
        let index = ((rtts.len() as f64 * p).ceil() as usize).clamp(1, rtts.len()) - 1;
        rtts[index].as_secs_f64() * 1e6
    };
    Ok(Latency {
        count,
        p50_us: at(0.50),
        p90_us: at(0.90),
        p99_us: at(0.99),
        max_us: at(1.0),
    })
}

async fn echo_transfer(session: &Session, mib: usize, streams: u16) -> anyhow::Result<Throughput> {
    let per_stream = (mib * 1024 * 1024).div_ceil(usize::from(streams));
    let mut opened = Vec::with_capacity(usize::from(streams));
    for _ in 0..streams {
        opened.push(session.open_stream(builtin::ECHO_STREAM).await?);
    }
    let started = Instant::now();
    let mut transfers = tokio::task::JoinSet::new();
    for stream in opened {
        transfers.spawn(echo_one(stream, per_stream));
    }
    let mut echoed = 0u64;
    while let Some(done) = transfers.join_next().await {
        echoed += done.context("echo stream task")??;
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(Throughput {
        streams,
        bytes_each_way: echoed,
        seconds,
        mib_per_s_each_way: echoed as f64 / (1024.0 * 1024.0) / seconds.max(f64::EPSILON),
    })
}

/// Sends `bytes` on `stream`, then FIN, while reading the echo back; the
/// bytes that came back.
async fn echo_one(stream: corridor::Stream, bytes: usize) -> anyhow::Result<u64> {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let send = async move {
        let chunk = vec![0x5a_u8; CHUNK];
        let mut sent = 0;
        while sent < bytes {
            let n = CHUNK.min(bytes - sent);
            writer.write_all(&chunk[..n]).await?;
            sent += n;
        }
        writer.shutdown().await
    };
    let receive = async move {
        let mut buf = vec![0u8; CHUNK];
        let mut got = 0u64;
        loop {
            match reader.read(&mut buf).await? {
                0 => return Ok::<_, std::io::Error>(got),
                n => got += n as u64,
            }
        }
    };
    let (sent, got) =
        tokio::time::timeout(stall_bound(bytes), async { tokio::join!(send, receive) })
            .await
            .context("the echo stalled")?;
    sent.context("sending")?;
    let got = got.context("reading the echo")?;
    ensure!(
        got == bytes as u64,
        "the endpoint echoed {got} of {bytes} bytes"
    );
    Ok(got)
}

/// A generous bound on one transfer: a minute, plus a second per 16 MiB.
fn stall_bound(bytes: usize) -> Duration {
    Duration::from_secs(60 + (bytes >> 24) as u64)
}

fn print_table(report: &Report) {
    println!("session up in               {:>10.2} ms", report.connect_ms);
    if let Some(calls) = &report.calls {
        println!("ping round trip ({} calls, one at a time)", calls.count);
        println!("  p50                       {:>10.1} us", calls.p50_us);
        println!("  p90                       {:>10.1} us", calls.p90_us);
        println!("  p99                       {:>10.1} us", calls.p99_us);
        println!("  max                       {:>10.1} us", calls.max_us);
    }
    if let Some(echo) = &report.echo {
        println!(
            "echo ({} MiB each way on {} stream{})",
            echo.bytes_each_way >> 20,
            echo.streams,
            if echo.streams == 1 { "" } else { "s" }
        );
        println!(
            "  throughput, each way      {:>10.1} MiB/s",
            echo.mib_per_s_each_way
        );
        println!("  time                      {:>10.3} s", echo.seconds);
    }
}
