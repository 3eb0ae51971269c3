//! Full client connects through the control plane, as a client of a service
//! behind a relay makes them: the artifact request (the control plane mints
//! a channel and pushes the server grant to the endpoint, which attaches),
//! the client's attach, the E2EE handshake through the relay, and a first
//! RPC answered. Beside it, in the same run, the same client connecting
//! directly to an endpoint (WebSocket, handshake, first RPC), the floor.
//! The relay, the control plane, the endpoint and the clients all run in
//! this process and share this machine's cores.
//!
//! `cargo bench -p corridor-controlplane --bench connects -- [--seconds N] [--parallel N] [--sequential N]`
//! Not a test: it prints figures and ratios, and asserts nothing about speed.

use corridor::builtin::{self, Info};
use corridor::reconnect::Backoff;
use corridor::rpc::Router;
use corridor::{Client, DirectCredential, DirectInfo, Endpoint, Session, SessionOptions};
use corridor_controlplane::agent::{self, AgentConfig};
use corridor_controlplane::{ControlPlane, ControlPlaneConfig, RateLimit, client};
use corridor_core::fsec1::Suite;
use corridor_testkit::{TestRelay, bench};
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PSK: [u8; 32] = [9; 32];

type Connect = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Session> + Send>> + Send + Sync>;

struct Args {
    seconds: u64,
    parallel: usize,
    sequential: usize,
}

fn args() -> Args {
    Args {
        seconds: bench::flag("seconds", 10),
        parallel: bench::flag("parallel", 16) as usize,
        sequential: bench::flag("sequential", 1000) as usize,
    }
}

fn router() -> Router {
    builtin::register(
        Router::new(),
        Info {
            name: "bench".into(),
            version: "0".into(),
            streams: vec![],
        },
    )
}

/// Relay, control plane, one registered endpoint; returns the control plane URL.
async fn through_control_plane() -> String {
    let relay = TestRelay::start().await;
    let mut config = ControlPlaneConfig::new(relay.issuer_key(), relay.grant_params());
    std::mem::forget(relay);
    config.control_psk = Some(PSK.into());
    config.listen = "127.0.0.1:0".parse().expect("addr");
    // The bench is one caller: the per-caller limit must not be what it measures.
    config.rate = RateLimit {
        per_second: NonZeroU32::new(1_000_000).expect("rate"),
        burst: NonZeroU32::new(1_000_000).expect("burst"),
    };
    let control_plane = ControlPlane::bind(config).await.expect("control plane");
    let url = control_plane.url();
    tokio::spawn(control_plane.run());
    let options = SessionOptions::default().with_router(router());
    let forwards = Arc::new(HashMap::new());
    let mut agent = AgentConfig::new(&url, "bench", PSK);
    agent.backoff = Backoff::default();
    let link = agent::spawn(
        agent,
        Arc::new(move |grant| {
            let (options, forwards) = (options.clone(), forwards.clone());
            tokio::spawn(async move {
                if let Ok(session) = agent::attach(&grant, &options).await {
                    builtin::serve_streams(&session, forwards).await;
                }
            });
            Ok(())
        }),
    )
    .expect("agent");
    link.session().await.expect("registered");
    std::mem::forget(link);
    url
}

/// A direct endpoint accepting every connection; returns its connect info.
async fn direct() -> DirectInfo {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let init_exp = corridor::clock::unix_now() + 3600;
    let credential = DirectCredential {
        psk: PSK.into(),
        suite: Suite::X25519HkdfSha256Aes256Gcm,
        channel_id: Some("direct".into()),
        init_exp_unix_s: init_exp,
    };
    let options = SessionOptions::default().with_router(router());
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let (credential, options) = (credential.clone(), options.clone());
            tokio::spawn(async move {
                if let Ok(session) = Endpoint::accept_direct(tcp, &credential, &options).await {
                    session.closed().await;
                }
            });
        }
    });
    DirectInfo {
        ws_url: format!("ws://{addr}/"),
        channel_id: "direct".into(),
        e2ee_psk_b64u: corridor_core::b64::encode(PSK),
        channel_init_expire_at_unix_s: init_exp,
        default_suite: Suite::X25519HkdfSha256Aes256Gcm,
    }
}

/// One connect and its first RPC; the session is closed afterwards.
async fn timed(connect: &Connect) -> Duration {
    let started = Instant::now();
    let session = connect().await;
    let _: Value = session.rpc().call(builtin::PING, &()).await.expect("ping");
    let took = started.elapsed();
    session.close().await;
    took
}

struct Figures {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn figures(mut latencies: Vec<Duration>, elapsed: Duration) -> Figures {
    let millis = |d: Duration| d.as_secs_f64() * 1e3;
    Figures {
        per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: millis(bench::percentile(&mut latencies, 0.50)),
        p99_ms: millis(bench::percentile(&mut latencies, 0.99)),
    }
}

async fn sequential(connect: &Connect, count: usize) -> Figures {
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(count);
    for _ in 0..count {
        latencies.push(timed(connect).await);
    }
    figures(latencies, started.elapsed())
}

async fn parallel(connect: &Connect, workers: usize, seconds: u64) -> Figures {
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let connect = connect.clone();
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < until {
                latencies.push(timed(&connect).await);
            }
            latencies
        });
    }
    let mut latencies = Vec::new();
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done.expect("worker"));
    }
    figures(latencies, started.elapsed())
}

fn main() {
    let args = args();
    let runtime = bench::runtime();
    runtime.block_on(async {
        let url = through_control_plane().await;
        let info = direct().await;
        let via: Connect = Arc::new(move || {
            let url = url.clone();
            Box::pin(async move {
                let grant = client::request_grant(&url, "bench", None, Duration::from_secs(10))
                    .await
                    .expect("artifact");
                Client::connect_tunnel(&grant, &SessionOptions::default())
                    .await
                    .expect("connect through the relay")
            })
        });
        let straight: Connect = Arc::new(move || {
            let info = info.clone();
            Box::pin(async move {
                Client::connect_direct(&info, &SessionOptions::default())
                    .await
                    .expect("connect directly")
            })
        });
        // Warm both paths (allocators, caches) before measuring.
        sequential(&via, 50).await;
        sequential(&straight, 50).await;
        println!(
            "full connects (connect + first RPC), {} in sequence, then {} s with {} at once\n",
            args.sequential, args.seconds, args.parallel
        );
        println!(
            "{:<44} {:>10} {:>9} {:>9}",
            "path", "connects/s", "p50 ms", "p99 ms"
        );
        let mut rows = Vec::new();
        for (name, connect) in [("control plane + relay", &via), ("direct (baseline)", &straight)] {
            let one = sequential(connect, args.sequential).await;
            let many = parallel(connect, args.parallel, args.seconds).await;
            for (mode, f) in [("sequential", &one), ("parallel", &many)] {
                println!(
                    "{:<44} {:>10.0} {:>9.2} {:>9.2}",
                    format!("{name}, {mode}"),
                    f.per_second,
                    f.p50_ms,
                    f.p99_ms
                );
            }
            rows.push((one, many));
        }
        let (via, straight) = (&rows[0], &rows[1]);
        println!(
            "\ncontrol plane + relay / direct: {:.2}x the sequential rate, {:.2}x the parallel rate",
            via.0.per_second / straight.0.per_second,
            via.1.per_second / straight.1.per_second
        );
    });
}
