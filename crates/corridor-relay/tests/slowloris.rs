//! Slow clients cannot lock real ones out: hundreds of connections that
//! drip a partial HTTP request and reconnect whenever they are closed, far
//! more than the handshake places, while fresh endpoints attach. Each new
//! connection closes the handshake that has waited longest, so the quick
//! ones get through and the slow ones hold no more than the cap.

mod support;

use corridor_core::Role;
use futures_util::SinkExt as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use support::*;
use tokio::io::AsyncWriteExt as _;
use tokio_tungstenite::tungstenite::Message;

const PLACES: usize = 64;
const SLOW_CLIENTS: usize = 300;

/// One slow client: a partial request, a byte at a time, forever, reconnecting when closed.
async fn drip(addr: std::net::SocketAddr, stop: Arc<AtomicBool>, connects: Arc<AtomicUsize>) {
    let request = b"GET /ws HTTP/1.1\r\nHost: relay\r\nUpgrade: websocket\r\nX-Slow: ";
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
            tokio::task::yield_now().await;
            continue;
        };
        connects.fetch_add(1, Ordering::Relaxed);
        for byte in request.iter().cycle() {
            if stop.load(Ordering::Relaxed) || stream.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_clients_attach_through_a_slowloris_larger_than_the_handshake_cap() {
    let relay = TestRelay::start_with(|config| {
        config.limits.max_handshaking_conns = PLACES;
    })
    .await;
    let stop = Arc::new(AtomicBool::new(false));
    let connects = Arc::new(AtomicUsize::new(0));
    let slow: Vec<_> = (0..SLOW_CLIENTS)
        .map(|_| tokio::spawn(drip(relay.addr, stop.clone(), connects.clone())))
        .collect();
    wait_until("every slow client connected once", || {
        connects.load(Ordering::Relaxed) >= SLOW_CLIENTS
    })
    .await;
    // Ten channels, one after another, each within 5 s.
    for n in 0..10 {
        let channel = format!("real-{n}");
        let attach = async {
            let mut server = raw_attach(&relay, &channel, Role::Server).await;
            let mut client = raw_attach(&relay, &channel, Role::Client).await;
            client
                .send(Message::binary(b"through".to_vec()))
                .await
                .expect("send");
            assert_eq!(next_binary(&mut server).await, b"through");
        };
        tokio::time::timeout(Duration::from_secs(5), attach)
            .await
            .unwrap_or_else(|_| panic!("channel {n} attached within 5 s"));
        assert!(relay.handle.handshaking() <= PLACES, "bounded by the cap");
    }
    assert!(
        metric(
            &relay,
            "corridor_relay_http_rejected_total",
            "handshake_evicted"
        ) >= 1.0
    );
    stop.store(true, Ordering::Relaxed);
    for task in slow {
        task.abort();
    }
}
