//! Keepalive: an idle session with a live peer stays up past the read idle
//! timeout on ping records alone; a peer that goes silent without closing
//! ends the session with `keepalive_timeout`.

mod support;

use corridor::liveness::Liveness;
use corridor::{Client, Endpoint, SessionOptions};
use corridor_core::fsec1::Suite;
use serde_json::{Value, json};
use std::time::Duration;
use support::mitm::{self, Tamper};
use support::*;

fn quick(mut options: SessionOptions) -> SessionOptions {
    options.secure.read_idle_timeout = Some(Duration::from_millis(600));
    options.secure.keepalive_interval = Some(Duration::from_millis(100));
    options
}

async fn endpoint_at(
    options: SessionOptions,
) -> (std::net::SocketAddr, corridor_core::grant::DirectInfo) {
    let (addr, info, _) = direct_endpoint(
        options,
        Suite::X25519HkdfSha256Aes256Gcm,
        |session| async move { session.closed().await },
    )
    .await;
    (addr, info)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_session_outlives_the_idle_timeout_on_keepalives() {
    let (_, info) = endpoint_at(quick(endpoint_options().0)).await;
    let session = Client::connect_direct(&info, &quick(SessionOptions::default()))
        .await
        .expect("handshake");
    let before = session.stats();
    // Idle for three idle timeouts (the idleness is what is tested):
    // keepalive records keep it up, both ways.
    tokio::time::sleep(Duration::from_millis(1800)).await;
    assert_eq!(session.end_reason(), None, "the session is still up");
    let idle = session.stats();
    assert!(idle.pings_sent - before.pings_sent >= 5, "{idle:?}");
    assert!(idle.pings_received - before.pings_received >= 5, "{idle:?}");
    let reply: Value = session
        .rpc()
        .call(ECHO_RPC, &json!("awake"))
        .await
        .expect("call after idling");
    assert_eq!(reply, json!({"echo": "awake"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_keepalives_an_idle_session_ends_at_the_idle_timeout() {
    // The endpoint times out after 600 ms of silence; this client sends no
    // keepalives, so its idle session is ended.
    let (_, info) = endpoint_at(quick(endpoint_options().0)).await;
    let mut options = SessionOptions::default();
    options.secure.keepalive_interval = None;
    options.mux.keepalive_interval = Duration::from_secs(3600);
    let session = Client::connect_direct(&info, &options)
        .await
        .expect("handshake");
    let started = tokio::time::Instant::now();
    tokio::time::timeout(WAIT, session.closed())
        .await
        .expect("the endpoint ends the idle session");
    assert!(started.elapsed() >= Duration::from_millis(500));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_peer_ends_the_session_with_keepalive_timeout() {
    let (addr, mut info) = endpoint_at(endpoint_options().0).await;
    // Everything after the handshake (response 0, finished 1) is swallowed.
    let proxy = mitm::start(addr, Tamper::Silence { nth: 2 }).await;
    info.ws_url = format!("ws://{proxy}/");
    let session = Client::connect_direct(
        &info,
        &quick(SessionOptions {
            open_rpc_stream: false,
            ..SessionOptions::default()
        }),
    )
    .await
    .expect("handshake");
    tokio::time::timeout(WAIT, session.closed())
        .await
        .expect("the session ends");
    assert_eq!(session.end_reason(), Some("keepalive_timeout"));
}

/// A relay channel whose grant allows 1 s of silence, with both ends'
/// liveness as `liveness` says; returns the client's session.
async fn quiet_relay_channel(
    relay: &TestRelay,
    name: &str,
    liveness: Liveness,
) -> (corridor::Session, tokio::task::JoinHandle<()>) {
    let pair = relay.grants_with(name, Suite::X25519HkdfSha256Aes256Gcm, |params| {
        params.idle_timeout_secs = 1;
    });
    let mut options = endpoint_options().0;
    options.liveness = liveness;
    let endpoint = tokio::spawn(async move {
        let session = Endpoint::connect_tunnel(&pair.server, &options)
            .await
            .expect("endpoint handshake");
        session.closed().await;
    });
    let options = SessionOptions {
        liveness,
        ..SessionOptions::default()
    };
    let session = Client::connect_tunnel(&pair.client, &options)
        .await
        .expect("client handshake");
    (session, endpoint)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_relay_channel_outlives_a_short_grant_idle_timeout() {
    let relay = TestRelay::start().await;
    let (session, _endpoint) = quiet_relay_channel(&relay, "quiet-1", Liveness::FromGrant).await;
    // Silent for three of the grant's idle timeouts (the silence is what is
    // tested): keepalives derived from the grant (every 500 ms) keep it open.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(session.end_reason(), None, "the channel is still open");
    let reply: Value = session
        .rpc()
        .call(ECHO_RPC, &json!("awake"))
        .await
        .expect("call after the silence");
    assert_eq!(reply, json!({"echo": "awake"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_keepalives_slower_than_the_grant_lose_the_channel() {
    // The same channel with the fixed 15 s keepalive: the relay closes it.
    let relay = TestRelay::start().await;
    let (session, _endpoint) = quiet_relay_channel(&relay, "quiet-2", Liveness::AsConfigured).await;
    tokio::time::timeout(WAIT, session.closed())
        .await
        .expect("the relay closes the idle channel");
}
