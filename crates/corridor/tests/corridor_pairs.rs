//! corridor client to corridor endpoint, directly and through corridor's relay,
//! with both suites: handshake, calls both ways, notifications both ways, and
//! 64 MiB echoed byte-exact.

mod support;

use corridor::{Client, Endpoint};
use corridor_core::fsec1::Suite;
use support::mitm;
use support::*;

async fn direct(suite: Suite) {
    let (options, mut server_notes) = endpoint_options();
    let (_, info, endpoint) = direct_endpoint(options, suite, |session| async move {
        serve_corridor_endpoint(&session, true).await
    })
    .await;
    let (client_options, from_server) = client_options();
    let session = Client::connect_direct(&info, &client_options)
        .await
        .expect("client handshake");
    run_corridor_client(&session, from_server, Some(&mut server_notes)).await;
    session.close().await;
    join(endpoint).await;
}

async fn via_relay(suite: Suite) {
    let relay = TestRelay::start().await;
    let pair = relay.grants("pair-1", suite);
    let (options, mut server_notes) = endpoint_options();
    let endpoint = tokio::spawn(async move {
        let session = Endpoint::connect_tunnel(&pair.server, &options)
            .await
            .expect("endpoint handshake");
        serve_corridor_endpoint(&session, true).await;
    });
    let (client_options, from_server) = client_options();
    let session = Client::connect_tunnel(&pair.client, &client_options)
        .await
        .expect("client handshake");
    run_corridor_client(&session, from_server, Some(&mut server_notes)).await;
    session.close().await;
    join(endpoint).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corridor_pair_direct_x25519() {
    direct(Suite::X25519HkdfSha256Aes256Gcm).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corridor_pair_direct_p256() {
    direct(Suite::P256HkdfSha256Aes256Gcm).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corridor_pair_via_relay_x25519() {
    via_relay(Suite::X25519HkdfSha256Aes256Gcm).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corridor_pair_via_relay_p256() {
    via_relay(Suite::P256HkdfSha256Aes256Gcm).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_change_every_mebibyte_during_a_64_mib_echo() {
    let (mut options, _) = endpoint_options();
    options.secure.rekey_after_bytes = Some(1 << 20);
    let (addr, mut info, _) = direct_endpoint(
        options,
        Suite::X25519HkdfSha256Aes256Gcm,
        |session| async move { serve_corridor_endpoint(&session, false).await },
    )
    .await;
    let seen = mitm::Seen::default();
    let proxy = mitm::start_watching(addr, mitm::Tamper::Nothing, seen.clone()).await;
    info.ws_url = format!("ws://{proxy}/");
    let (mut client_options, _) = client_options();
    client_options.secure.rekey_after_bytes = Some(1 << 20);
    let session = Client::connect_direct(&info, &client_options)
        .await
        .expect("client handshake");
    echo_stream(&session).await;
    let rekeys = seen.rekeys.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        rekeys >= 63,
        "the endpoint rekeyed {rekeys} times for 64 MiB"
    );
    session.close().await;
}
