//! One notification pushed to 1,000 sessions: encoded once, queued to each
//! with `try_send`, and timed from the first queueing to each subscriber's
//! handler, over 20 rounds. Beside it, the same bytes written to 1,000 raw
//! Unix socket pairs and read back: what the kernel alone costs.

use corridor::rpc::{Notification, Router};
use corridor::{Client, DirectCredential, Endpoint, Session, SessionOptions};
use corridor_core::fsec1::Suite;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::mpsc;

const SESSIONS: usize = 1_000;
const ROUNDS: usize = 20;
const NEWS: u32 = 77;

fn credential() -> DirectCredential {
    DirectCredential {
        psk: [0x33; 32].into(),
        suite: Suite::X25519HkdfSha256Aes256Gcm,
        channel_id: Some("fanout".into()),
        init_exp_unix_s: corridor::clock::unix_now() + 3600,
    }
}

/// The endpoint's sessions, and a feed of (round, arrival) from the clients.
async fn sessions() -> (
    Vec<Session>,
    Vec<Session>,
    mpsc::UnboundedReceiver<(u64, Instant)>,
) {
    let (arrivals_tx, arrivals) = mpsc::unbounded_channel();
    let mut endpoints = Vec::with_capacity(SESSIONS);
    let mut clients = Vec::with_capacity(SESSIONS);
    for _ in 0..SESSIONS {
        let arrivals_tx = arrivals_tx.clone();
        let router = Router::new().on_notify(NEWS, move |round: u64| {
            let _ = arrivals_tx.send((round, Instant::now()));
            async {}
        });
        let (a, b) = tokio::net::UnixStream::pair().expect("pair");
        let served = tokio::spawn(async move {
            Endpoint::accept_framed(b, credential(), &SessionOptions::default()).await
        });
        let client = Client::connect_framed(
            a,
            credential(),
            &SessionOptions::default().with_router(router),
        )
        .await
        .expect("client");
        endpoints.push(served.await.expect("task").expect("endpoint"));
        clients.push(client);
    }
    (endpoints, clients, arrivals)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1e3
}

/// Delivery times of one payload to every raw socket pair, `ROUNDS` times.
async fn raw_sockets(payload_len: usize) -> Vec<Duration> {
    let (arrivals_tx, mut arrivals) = mpsc::unbounded_channel();
    let mut writers = Vec::with_capacity(SESSIONS);
    for _ in 0..SESSIONS {
        let (a, mut b) = tokio::net::UnixStream::pair().expect("pair");
        let arrivals_tx = arrivals_tx.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; payload_len];
            while b.read_exact(&mut buf).await.is_ok() {
                let _ = arrivals_tx.send(Instant::now());
            }
        });
        writers.push(a);
    }
    let payload = vec![7u8; payload_len];
    let mut times = Vec::with_capacity(SESSIONS * ROUNDS);
    for _ in 0..ROUNDS {
        let started = Instant::now();
        for writer in &mut writers {
            writer.write_all(&payload).await.expect("write");
        }
        for _ in 0..SESSIONS {
            let arrived = arrivals.recv().await.expect("arrival");
            times.push(arrived - started);
        }
    }
    times
}

pub(crate) async fn run() {
    let (endpoints, _clients, mut arrivals) = sessions().await;
    let mut times = Vec::with_capacity(SESSIONS * ROUNDS);
    let mut enqueue = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS as u64 {
        let notification = Notification::new(NEWS, &round).expect("encode");
        let started = Instant::now();
        for endpoint in &endpoints {
            endpoint.rpc().try_send(&notification).expect("room");
        }
        enqueue.push(started.elapsed());
        for _ in 0..SESSIONS {
            let (got, arrived) = arrivals.recv().await.expect("arrival");
            assert_eq!(got, round);
            times.push(arrived - started);
        }
    }
    let frame_len = Notification::new(NEWS, &0u64).expect("encode").len();
    let mut raw = raw_sockets(frame_len).await;
    times.sort();
    raw.sort();
    enqueue.sort();
    println!(
        "\nfan-out: one notification to {SESSIONS} sessions (fsec1 over Unix socket pairs, both ends in this process), {ROUNDS} rounds"
    );
    println!(
        "  delivery to the handler, p50 / p99 / max   {:6.2} / {:6.2} / {:6.2} ms   (target: p99 under 20 ms)",
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        percentile(&times, 1.0)
    );
    println!(
        "  raw socket pairs, same bytes, p50 / p99     {:6.2} / {:6.2} ms   ({:.1}x at p99)",
        percentile(&raw, 0.5),
        percentile(&raw, 0.99),
        percentile(&times, 0.99) / percentile(&raw, 0.99)
    );
    println!(
        "  queueing to all {SESSIONS} (try_send), median  {:6.2} ms",
        percentile(&enqueue, 0.5)
    );
}
