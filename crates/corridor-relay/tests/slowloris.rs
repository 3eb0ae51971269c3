//! Slow clients cannot lock real ones out: hundreds of connections that
//! drip a partial HTTP request and reconnect whenever they are closed, far
//! more than the handshake places, while fresh endpoints attach. Each new
//! connection closes the handshake that has waited longest (a slow one: a
//! connection whose request has arrived goes last), so the quick ones get
//! through and the slow ones hold no more than the cap.

mod support;

use corridor_core::Role;
use futures_util::{SinkExt as _, StreamExt as _};
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
    // Ten channels, one after another, each within 5 s. A real client whose
    // upgrade the relay closed for a newer handshake meets a reset and tries
    // again, as browsers do; a relay that let slow clients hold every place
    // would still fail the deadline.
    for n in 0..10 {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        for attempt in 0.. {
            let channel = format!("real-{n}-{attempt}");
            match tokio::time::timeout_at(deadline, try_channel(&relay, &channel)).await {
                Ok(Ok(())) => break,
                Ok(Err(reset)) => eprintln!("channel {n}, attempt {attempt}: {reset}; again"),
                Err(_) => panic!("channel {n} attached within 5 s"),
            }
        }
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

/// One channel as real endpoints make it: both attach and a message
/// crosses. An error is a connection the relay closed while it was still
/// handshaking.
async fn try_channel(relay: &TestRelay, channel: &str) -> Result<(), String> {
    let mut server = attach(relay, channel, Role::Server).await?;
    let mut client = attach(relay, channel, Role::Client).await?;
    client
        .send(Message::binary(b"through".to_vec()))
        .await
        .map_err(|error| error.to_string())?;
    loop {
        match server.next().await {
            Some(Ok(Message::Binary(bytes))) => {
                assert_eq!(&bytes[..], b"through");
                return Ok(());
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => return Err(format!("{other:?}")),
        }
    }
}

async fn attach(relay: &TestRelay, channel: &str, role: Role) -> Result<RawWs, String> {
    let (mut ws, _) = tokio_tungstenite::connect_async(relay.ws_url.as_str())
        .await
        .map_err(|error| error.to_string())?;
    let token = relay.token(channel, role);
    ws.send(Message::text(attach_json(channel, role, &token)))
        .await
        .map_err(|error| error.to_string())?;
    Ok(ws)
}
