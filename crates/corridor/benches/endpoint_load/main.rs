//! End-to-end load tool for the endpoint stack, corridor against the flowersec
//! crate 0.27.0 in the same run and on the same machine, both directly
//! connected over loopback WebSockets with both endpoints in this process:
//!
//! - the single-core AES-256-GCM seal rate of ring (the physical limit) and
//!   raw loopback TCP, as baselines;
//! - single-stream and 8-stream throughput (client writes, endpoint reads);
//! - small-RPC round trip p50/p99, alone and while a bulk transfer runs;
//! - server handshake CPU against one X25519 key generation plus agreement,
//!   and full handshakes per second over loopback;
//! - the suites side by side (`suites`): one-stream throughput of `noise`
//!   (AES-GCM and ChaChaPoly) beside `fsec1` and raw TCP, server handshakes
//!   per second on one core, full connects per second with the WebSocket accept;
//! - fan-out (`fanout`): one notification pushed to 1,000 sessions, delivery
//!   p50/p99, beside the same bytes written to 1,000 raw socket pairs.
//!
//! `cargo bench -p corridor --bench endpoint_load -- [all|throughput|rpc|handshake|suites|fanout|profile-stream] [--mib N] [--calls N]`
//! Not a test: it prints figures and ratios, and asserts nothing about speed.

use corridor::rpc::Failure;
use corridor::{Client, DirectCredential, Endpoint, EndpointCredential, Session, SessionOptions};
use corridor_core::fsec1::Suite;
use corridor_core::fsec1::client::{ClientConfig, ClientHandshake};
use corridor_core::fsec1::server::{HandshakeCache, ServerConfig, ServerHandshake, ServerStep};
use corridor_core::grant::DirectInfo;
use corridor_core::x25519;
use corridor_testkit::bench;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

mod fanout;
mod suites;

const PING: u32 = 1;
const CHUNK: usize = 64 * 1024;
const SUITE: Suite = Suite::X25519HkdfSha256Aes256Gcm;

struct Args {
    what: String,
    mib: usize,
    calls: usize,
}

fn args() -> Args {
    let mut args = Args {
        what: "all".into(),
        mib: 512,
        calls: 5000,
    };
    let mut iter = std::env::args().skip(1).filter(|a| a != "--bench");
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--mib" => args.mib = iter.next().and_then(|v| v.parse().ok()).unwrap_or(args.mib),
            "--calls" => {
                args.calls = iter
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(args.calls)
            }
            other if !other.starts_with('-') => args.what = other.to_owned(),
            _ => {}
        }
    }
    args
}

fn main() {
    let args = args();
    let runtime = bench::runtime();
    println!(
        "endpoint_load: {} (both endpoints in this process, 2 worker threads)",
        args.what
    );
    let all = args.what == "all";
    if all || args.what == "throughput" {
        runtime.block_on(throughput(args.mib));
    }
    if args.what == "profile-stream" {
        // corridor alone on one stream, for `perf record` of the hot path.
        runtime.block_on(async {
            let (_, info) = corridor_endpoint().await;
            let session = Arc::new(
                Client::connect_direct(&info, &session_options())
                    .await
                    .expect("connects"),
            );
            let rate = corridor_throughput(&session, args.mib * 1024 * 1024, 1).await;
            println!("corridor, 1 stream: {rate:.1} MiB/s");
        });
    }
    if all || args.what == "rpc" {
        runtime.block_on(rpc(args.calls, args.mib));
    }
    if all || args.what == "handshake" {
        handshake_cpu();
        runtime.block_on(handshakes_per_second());
    }
    if all || args.what == "suites" {
        suites::handshake_cpu();
        runtime.block_on(suites::run(args.mib));
    }
    if all || args.what == "fanout" {
        runtime.block_on(fanout::run());
    }
}

fn mib_per_s(bytes: usize, elapsed: Duration) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / elapsed.as_secs_f64()
}

/// ring's AES-256-GCM seal of 64 KiB records on one core, for one second.
fn aes_seal_rate() -> f64 {
    use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7u8; 32]).expect("key"));
    let mut buf = vec![0u8; CHUNK];
    let started = Instant::now();
    let mut sealed = 0usize;
    let mut counter = 0u64;
    while started.elapsed() < Duration::from_secs(1) {
        counter += 1;
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&counter.to_be_bytes());
        let tag = key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from([0u8; 18]),
                &mut buf,
            )
            .expect("seal");
        let _ = std::hint::black_box(tag);
        sealed += CHUNK;
    }
    mib_per_s(sealed, started.elapsed())
}

/// Raw loopback TCP: one connection, 64 KiB writes.
async fn raw_tcp(bytes: usize) -> f64 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let sink = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.expect("accept");
        tcp.set_nodelay(true).expect("nodelay");
        let mut buf = vec![0u8; CHUNK];
        let mut total = 0;
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return total,
                Ok(n) => total += n,
            }
        }
    });
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    // As on every socket corridor opens: without it each 64 KiB write's tail
    // past the 65,483-byte loopback segment waits for an ACK.
    tcp.set_nodelay(true).expect("nodelay");
    let block = vec![1u8; CHUNK];
    let started = Instant::now();
    let mut sent = 0;
    while sent < bytes {
        tcp.write_all(&block).await.expect("write");
        sent += CHUNK;
    }
    tcp.shutdown().await.expect("fin");
    let got = sink.await.expect("sink");
    assert_eq!(got, sent);
    mib_per_s(sent, started.elapsed())
}

// ---------- corridor ----------

/// Session options, with `CORRIDOR_BENCH_FRAME` / `CORRIDOR_BENCH_RECORD`
/// (bytes) overriding the yamux frame and record plaintext sizes for tuning runs.
fn session_options() -> SessionOptions {
    let mut options = SessionOptions::default();
    let env = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
    };
    if let Some(frame) = env("CORRIDOR_BENCH_FRAME") {
        options.mux.frame_bytes = frame;
    }
    if let Some(record) = env("CORRIDOR_BENCH_RECORD") {
        options.secure.record_plaintext_bytes = record;
    }
    options
}

fn direct_info(addr: SocketAddr) -> (DirectInfo, DirectCredential) {
    let psk = [9u8; 32];
    let init_exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
        + 3600;
    let info = DirectInfo {
        ws_url: format!("ws://{addr}/"),
        channel_id: "bench".into(),
        e2ee_psk_b64u: corridor_core::b64::encode(psk),
        channel_init_expire_at_unix_s: init_exp,
        default_suite: SUITE,
    };
    let credential = DirectCredential {
        psk: psk.into(),
        suite: SUITE,
        channel_id: Some("bench".into()),
        init_exp_unix_s: init_exp,
    };
    (info, credential)
}

/// A corridor fsec1 endpoint serving `ping` and `sink` streams.
async fn corridor_endpoint() -> (SocketAddr, DirectInfo) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (info, credential) = direct_info(addr);
    serve_corridor(listener, credential.into());
    (addr, info)
}

/// Serves `ping`, `echo` streams and `sink` streams (read to the end, answer
/// the count) to every client `credential` admits.
fn serve_corridor(listener: TcpListener, credential: EndpointCredential) {
    let options = session_options().with_router(
        corridor::rpc::Router::new().handle(PING, |v: Value| async move { Ok::<_, Failure>(v) }),
    );
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (credential, options) = (credential.clone(), options.clone());
            tokio::spawn(async move {
                let _ = tcp.set_nodelay(true);
                let Ok(session) = Endpoint::accept_direct(tcp, &credential, &options).await else {
                    return;
                };
                while let Ok(stream) = session.accept_stream().await {
                    if stream.kind() == "echo" {
                        tokio::spawn(async move {
                            let (mut reader, mut writer) = tokio::io::split(stream);
                            let _ = tokio::io::copy(&mut reader, &mut writer).await;
                        });
                        continue;
                    }
                    tokio::spawn(corridor_testkit::bench::answer_byte_count(stream));
                }
            });
        }
    });
}

async fn corridor_sink(session: &Session, bytes: usize) {
    let mut stream = session.open_stream("sink").await.expect("open");
    let block = vec![1u8; CHUNK];
    let mut sent = 0;
    while sent < bytes {
        stream.write_all(&block).await.expect("write");
        sent += CHUNK;
    }
    stream.shutdown().await.expect("fin");
    let mut count = [0u8; 8];
    stream.read_exact(&mut count).await.expect("count");
    assert_eq!(u64::from_be_bytes(count) as usize, sent);
}

async fn corridor_throughput(session: &Arc<Session>, bytes: usize, streams: usize) -> f64 {
    let started = Instant::now();
    let tasks: Vec<_> = (0..streams)
        .map(|_| {
            let session = session.clone();
            tokio::spawn(async move { corridor_sink(&session, bytes / streams).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("stream");
    }
    mib_per_s(bytes / streams * streams, started.elapsed())
}

// ---------- flowersec ----------

fn flowersec_connect_options() -> flowersec::client::ConnectOptions {
    flowersec::client::ConnectOptions {
        transport_security_policy:
            flowersec::transport_security::TransportSecurityPolicy::allow_plaintext_for_loopback(),
        ..Default::default()
    }
}

async fn flowersec_endpoint() -> (SocketAddr, DirectInfo) {
    use flowersec::e2ee::{Secret32, ServerHandshakeOptions, Suite as FsSuite};
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (info, credential) = direct_info(addr);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let credential = credential.clone();
            tokio::spawn(async move {
                let _ = tcp.set_nodelay(true);
                let Ok(transport) = flowersec::transport::TungsteniteTransport::accept(tcp).await
                else {
                    return;
                };
                let mut handshake = ServerHandshakeOptions::new(
                    Secret32::new(*credential.psk),
                    FsSuite::X25519HkdfSha256Aes256Gcm,
                    credential.init_exp_unix_s,
                );
                handshake.channel_id = credential.channel_id.clone();
                let options = flowersec::endpoint::DirectAcceptOptions::new(handshake);
                let Ok(session) =
                    flowersec::endpoint::accept_direct(Arc::new(transport), options).await
                else {
                    return;
                };
                let router = flowersec::rpc::Router::default();
                router.register(PING, |v: Value| async move { Ok(v) }).await;
                let rpc = Arc::new(flowersec::rpc::Server::new(router));
                while let Ok((kind, stream)) = session.accept_stream().await {
                    if kind == "rpc" {
                        tokio::spawn(rpc.clone().serve(stream));
                        continue;
                    }
                    tokio::spawn(async move {
                        let mut total = 0u64;
                        while let Ok(Some(chunk)) = stream.read().await {
                            total += chunk.len() as u64;
                        }
                        let _ = stream.write(&total.to_be_bytes()).await;
                        let _ = stream.close().await;
                    });
                }
            });
        }
    });
    (addr, info)
}

async fn flowersec_client(info: &DirectInfo) -> Arc<flowersec::Client> {
    let info =
        serde_json::from_value(serde_json::to_value(info).expect("json")).expect("flowersec info");
    Arc::new(
        flowersec::connect_direct(info, flowersec_connect_options())
            .await
            .expect("flowersec connects"),
    )
}

async fn flowersec_sink(client: &flowersec::Client, bytes: usize) {
    let stream = client.open_stream("sink").await.expect("open");
    let block = vec![1u8; CHUNK];
    let mut sent = 0;
    while sent < bytes {
        stream.write(&block).await.expect("write");
        sent += CHUNK;
    }
    stream.close().await.expect("fin");
    let mut count = Vec::new();
    while count.len() < 8 {
        match stream.read().await.expect("read") {
            Some(chunk) => count.extend_from_slice(&chunk),
            None => break,
        }
    }
    assert_eq!(count.len(), 8, "count arrives");
}

async fn flowersec_throughput(
    client: &Arc<flowersec::Client>,
    bytes: usize,
    streams: usize,
) -> f64 {
    let started = Instant::now();
    let tasks: Vec<_> = (0..streams)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { flowersec_sink(&client, bytes / streams).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("stream");
    }
    mib_per_s(bytes / streams * streams, started.elapsed())
}

async fn throughput(mib: usize) {
    let bytes = mib * 1024 * 1024;
    let aes = tokio::task::spawn_blocking(aes_seal_rate)
        .await
        .expect("aes");
    let tcp = raw_tcp(bytes * 4).await;
    let (_, info) = corridor_endpoint().await;
    let corridor = Arc::new(
        Client::connect_direct(&info, &session_options())
            .await
            .expect("corridor connects"),
    );
    let (_, fs_info) = flowersec_endpoint().await;
    let flowersec = flowersec_client(&fs_info).await;
    // Warm up both.
    corridor_throughput(&corridor, 16 << 20, 1).await;
    flowersec_throughput(&flowersec, 16 << 20, 1).await;
    let c1 = corridor_throughput(&corridor, bytes, 1).await;
    let f1 = flowersec_throughput(&flowersec, bytes, 1).await;
    let c8 = corridor_throughput(&corridor, bytes, 8).await;
    let f8 = flowersec_throughput(&flowersec, bytes, 8).await;
    println!("\nthroughput ({mib} MiB, client to endpoint, direct over loopback WebSocket)");
    println!("  ring AES-256-GCM seal, 1 core, 64 KiB  {aes:>8.1} MiB/s   (crypto limit)");
    println!("  raw loopback TCP                        {tcp:>8.1} MiB/s   (transport limit)");
    println!(
        "  corridor, 1 stream                      {c1:>8.1} MiB/s   {:.3} of AES seal, {:.2} of raw TCP, {:.2}x flowersec",
        c1 / aes,
        c1 / tcp,
        c1 / f1
    );
    println!(
        "  flowersec 0.27.0, 1 stream              {f1:>8.1} MiB/s   {:.3} of AES seal",
        f1 / aes
    );
    println!(
        "  corridor, 8 streams                     {c8:>8.1} MiB/s   {:.2}x flowersec",
        c8 / f8
    );
    println!("  flowersec 0.27.0, 8 streams             {f8:>8.1} MiB/s");
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1e6
}

async fn rpc_rtts<F, Fut>(calls: usize, call: F) -> (f64, f64)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..200 {
        call().await;
    }
    let mut rtts = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        call().await;
        rtts.push(started.elapsed());
    }
    rtts.sort();
    (percentile(&rtts, 0.50), percentile(&rtts, 0.99))
}

async fn rpc(calls: usize, mib: usize) {
    let payload = serde_json::json!({"n": 1});
    let (_, info) = corridor_endpoint().await;
    let corridor = Arc::new(
        Client::connect_direct(&info, &session_options())
            .await
            .expect("connects"),
    );
    let (c50, c99) = rpc_rtts(calls, || {
        let (corridor, payload) = (corridor.clone(), payload.clone());
        async move {
            let _: Value = corridor.rpc().call(PING, &payload).await.expect("call");
        }
    })
    .await;
    // The session's floor: 16 bytes there and back on a plain stream.
    let echo = Arc::new(tokio::sync::Mutex::new(
        corridor.open_stream("echo").await.expect("echo stream"),
    ));
    let (e50, e99) = rpc_rtts(calls, || {
        let echo = echo.clone();
        async move {
            let mut stream = echo.lock().await;
            stream.write_all(&[7u8; 16]).await.expect("write");
            let mut back = [0u8; 16];
            stream.read_exact(&mut back).await.expect("read");
        }
    })
    .await;
    let (_, fs_info) = flowersec_endpoint().await;
    let flowersec = flowersec_client(&fs_info).await;
    let (f50, f99) = rpc_rtts(calls, || {
        let (flowersec, payload) = (flowersec.clone(), payload.clone());
        async move {
            let _: Value = flowersec
                .rpc()
                .call_typed(PING, &payload)
                .await
                .expect("call");
        }
    })
    .await;
    // Small calls while another stream carries a bulk transfer.
    let bulk = {
        let corridor = corridor.clone();
        tokio::spawn(async move { corridor_sink(&corridor, mib * 4 * 1024 * 1024).await })
    };
    let (b50, b99) = rpc_rtts(calls, || {
        let (corridor, payload) = (corridor.clone(), payload.clone());
        async move {
            let _: Value = corridor.rpc().call(PING, &payload).await.expect("call");
        }
    })
    .await;
    let bulk_done = bulk.is_finished();
    bulk.await.expect("bulk");
    println!("\nRPC round trip ({calls} sequential small calls, direct over loopback)");
    println!("  corridor               p50 {c50:>7.1} us   p99 {c99:>7.1} us");
    println!("  corridor stream echo   p50 {e50:>7.1} us   p99 {e99:>7.1} us   (no RPC layer)");
    println!("  flowersec 0.27.0       p50 {f50:>7.1} us   p99 {f99:>7.1} us");
    println!(
        "  corridor under bulk    p50 {b50:>7.1} us   p99 {b99:>7.1} us{}",
        if bulk_done {
            "   (bulk ended before the calls did: raise --mib)"
        } else {
            ""
        }
    );
}

/// Server handshake CPU, sans-io, against X25519 key generation plus agreement.
/// The server's share of one fsec1 handshake: its two calls, timed alone.
fn fsec1_server_time(cache: &Arc<HandshakeCache>) -> Duration {
    let now = 1_700_000_000u64;
    let (client, init) = ClientHandshake::start(
        ClientConfig::new([1; 32], SUITE, "bench"),
        &mut rand_core::OsRng,
    )
    .expect("init");
    let started = Instant::now();
    let (server, resp) = ServerHandshake::on_init(
        ServerConfig::new([1; 32], SUITE, now as i64 + 60),
        cache,
        &init,
        Instant::now(),
        &mut rand_core::OsRng,
    )
    .expect("resp");
    let mut server_time = started.elapsed();
    let (_client, ack) = client.on_response(&resp, now).expect("ack");
    let started = Instant::now();
    let ServerStep::Done { .. } = server.on_message(&ack, now).expect("done") else {
        panic!("done")
    };
    server_time += started.elapsed();
    server_time
}

fn handshake_cpu() {
    const N: usize = 2000;
    let cache = Arc::new(HandshakeCache::default());
    let server_time: Duration = (0..N).map(|_| fsec1_server_time(&cache)).sum();
    let started = Instant::now();
    let peer = x25519::public_key(&[5u8; 32]);
    for _ in 0..N {
        let mut bytes = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
        let ours = x25519::Secret::from_bytes(&bytes);
        std::hint::black_box(ours.public_key());
        std::hint::black_box(ours.agree(&peer));
    }
    let baseline = started.elapsed();
    let per_server = server_time.as_secs_f64() / N as f64 * 1e6;
    let per_x25519 = baseline.as_secs_f64() / N as f64 * 1e6;
    println!("\nhandshake CPU ({N} handshakes, sans-io, one core)");
    println!("  server side of a handshake           {per_server:>7.1} us");
    println!("  X25519 keygen + agreement            {per_x25519:>7.1} us");
    println!(
        "  ratio                                {:>7.2}   (target at most 2)",
        per_server / per_x25519
    );
    println!(
        "  server handshakes per second, 1 core {:>7.0}",
        1e6 / per_server
    );
}

/// Full handshakes over loopback: WebSocket upgrade, fsec1, session start.
async fn handshakes_per_second() {
    let (_, info) = corridor_endpoint().await;
    let options = session_options();
    let started = Instant::now();
    let mut done = 0;
    while started.elapsed() < Duration::from_secs(3) {
        let session = Client::connect_direct(&info, &options)
            .await
            .expect("connects");
        session.close().await;
        done += 1;
    }
    let rate = done as f64 / started.elapsed().as_secs_f64();
    println!(
        "  full connects per second (WS + fsec1 + session, both ends in this process, sequential) {rate:.0}"
    );
}
