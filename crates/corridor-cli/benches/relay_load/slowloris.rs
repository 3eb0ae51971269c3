//! Slowloris against the relay as the issue measured it: 3,000 connections
//! that send a partial HTTP request one byte every 2 s and reconnect as soon
//! as they are closed, against the default 1,024 handshake places; then ten
//! fresh channels, each given 20 s to attach. Reports how many attached and
//! how fast, the relay's memory and handshaking count during the attack, and
//! how often slow connections were closed to make room.

use crate::{RelayProcess, attach_pair};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const SLOW: usize = 3_000;
const DRIP: Duration = Duration::from_secs(2);
const CHANNELS: usize = 10;
const PER_CHANNEL: Duration = Duration::from_secs(20);

async fn slow_client(addr: String, stop: Arc<AtomicBool>, connects: Arc<AtomicUsize>) {
    let request = b"GET /ws HTTP/1.1\r\nHost: relay\r\nUpgrade: websocket\r\nX-Slow: ";
    while !stop.load(Ordering::Relaxed) {
        let Ok(stream) = tokio::net::TcpStream::connect(&addr).await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        connects.fetch_add(1, Ordering::Relaxed);
        let (mut reader, mut writer) = stream.into_split();
        let mut sink = [0u8; 64];
        for byte in request.iter().cycle() {
            if stop.load(Ordering::Relaxed) || writer.write_all(&[*byte]).await.is_err() {
                break;
            }
            // Closed by the relay: reconnect at once.
            if let Ok(Ok(0) | Err(_)) = tokio::time::timeout(DRIP, reader.read(&mut sink)).await {
                break;
            }
        }
    }
}

pub(crate) async fn run(relay: Arc<RelayProcess>) {
    let addr = relay
        .ws_url
        .trim_start_matches("ws://")
        .trim_end_matches("/ws")
        .to_owned();
    let rss_before = relay.rss_kib();
    let stop = Arc::new(AtomicBool::new(false));
    let connects = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..SLOW)
        .map(|_| tokio::spawn(slow_client(addr.clone(), stop.clone(), connects.clone())))
        .collect();
    let started = Instant::now();
    while connects.load(Ordering::Relaxed) < SLOW && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let the attack settle into its churn.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let connects_before = connects.load(Ordering::Relaxed);
    let evicted_before =
        relay.metric(r#"corridor_relay_http_rejected_total{reason="handshake_evicted"}"#);
    let attack_started = Instant::now();
    let mut times = Vec::new();
    for n in 0..CHANNELS {
        let channel = format!("slowloris-{n}");
        let tokens = relay.token_pair(&channel, 60);
        let begun = Instant::now();
        match tokio::time::timeout(PER_CHANNEL, attach_pair(&relay, channel, tokens)).await {
            Ok((server, client, _)) => {
                times.push(begun.elapsed());
                drop((server, client));
            }
            Err(_) => println!("  channel {n} did not attach within {PER_CHANNEL:?}"),
        }
    }
    let window = attack_started.elapsed().as_secs_f64();
    let rss_during = relay.rss_kib();
    let handshaking = relay.metric("corridor_relay_handshaking");
    let evicted = relay.metric(r#"corridor_relay_http_rejected_total{reason="handshake_evicted"}"#)
        - evicted_before;
    let reconnects = connects.load(Ordering::Relaxed) - connects_before;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.abort();
    }
    times.sort();
    println!(
        "slowloris ({SLOW} connections dripping one byte every {DRIP:?}, reconnecting when closed; default limits):"
    );
    println!(
        "  channels attached                 {:>9} of {CHANNELS} (each given {PER_CHANNEL:?})",
        times.len()
    );
    if let (Some(first), Some(last)) = (times.first(), times.last()) {
        println!(
            "  attach time, fastest / median / slowest {:.1} / {:.1} / {:.1} ms",
            first.as_secs_f64() * 1e3,
            times[times.len() / 2].as_secs_f64() * 1e3,
            last.as_secs_f64() * 1e3
        );
    }
    println!("  relay handshaking connections     {handshaking:>9.0} (cap 1,024)");
    println!(
        "  slow connections closed for room  {:>9.0} ({:.0}/s; {:.0} reconnects/s)",
        evicted,
        evicted / window,
        reconnects as f64 / window
    );
    println!(
        "  relay RSS before / during attack  {:>9} / {} KiB",
        rss_before, rss_during
    );
}
