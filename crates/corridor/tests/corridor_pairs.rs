//! corridor client to corridor endpoint, directly and through corridor's relay,
//! with both suites: handshake, calls both ways, notifications both ways, and
//! 64 MiB echoed byte-exact.

mod support;

use corridor::{Client, Endpoint};
use corridor_core::fsec1::Suite;
use support::mitm;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
    via(&TestRelay::start().await, suite).await;
}

/// The whole scenario between corridor peers through `relay`.
async fn via(relay: &TestRelay, suite: Suite) {
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
    // A key seals at least 1 MiB, and at most that plus one record (256 KiB):
    // 64 MiB takes at least 50 keys after the first.
    assert!(
        rekeys >= 50,
        "the endpoint rekeyed {rekeys} times for 64 MiB"
    );
    session.close().await;
}

/// flowersec's yamux answers a late window update for a finished stream with
/// RST and loses the unread tail (DESIGN.md); corridor's streams must not:
/// here the client sends FIN right after its last byte, long before the echo
/// has come back, eight times over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fin_sent_before_the_echo_returns_loses_nothing() {
    const BYTES: usize = 8 * 1024 * 1024;
    let (options, _) = endpoint_options();
    let (_, info, _endpoint) = direct_endpoint(
        options,
        Suite::X25519HkdfSha256Aes256Gcm,
        |session| async move { serve_echo_streams(&session).await },
    )
    .await;
    let session = Client::connect_direct(&info, &corridor::SessionOptions::default())
        .await
        .expect("client handshake");
    for round in 0..8 {
        let stream = session.open_stream("echo").await.expect("open echo stream");
        let (mut reader, mut writer) = tokio::io::split(stream);
        let sending = tokio::spawn(async move {
            let mut sent = 0;
            while sent < BYTES {
                writer
                    .write_all(&pattern(sent, CHUNK))
                    .await
                    .expect("write");
                sent += CHUNK;
            }
            writer.shutdown().await.expect("fin at once");
        });
        let mut back = Vec::with_capacity(BYTES);
        tokio::time::timeout(WAIT, reader.read_to_end(&mut back))
            .await
            .expect("echo in time")
            .expect("read");
        assert_eq!(back.len(), BYTES, "round {round}: the tail was lost");
        assert!(back == pattern(0, BYTES), "round {round}: bytes differ");
        join(sending).await;
    }
}

/// The relay rebuilds a connection's WebSocket state whenever a channel goes
/// quiet; here after 1 ms, so it happens between the bursts of a real
/// encrypted session. A lost or repeated byte would fail a record's
/// decryption or the 64 MiB check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_compacting_between_bursts_changes_no_byte() {
    let relay = TestRelay::start_with(|config| {
        config.limits.compact_after = std::time::Duration::from_millis(1);
    })
    .await;
    via(&relay, Suite::X25519HkdfSha256Aes256Gcm).await;
    let compactions = relay
        .handle
        .metrics()
        .encode()
        .lines()
        .find_map(|line| line.strip_prefix("corridor_relay_compactions_total "))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(
        compactions >= 2.0,
        "{compactions} compactions: the test proved nothing"
    );
}
