//! The official flowersec v1 Rust SDK (`flowersec = "=0.27.0"`) runs both
//! endpoints of a channel through `corridor relay`: attach, E2EE handshake,
//! RPC both ways, and 64 MiB each way through a yamux stream, byte-exact.

mod support;

use flowersec::client::ConnectOptions;
use flowersec::endpoint::EndpointOptions;
use flowersec::rpc::{Router, Server as RpcServer};
use flowersec::transport_security::TransportSecurityPolicy;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use support::{TestRelay, to_flowersec};

const ECHO_RPC: u32 = 7;
const HELLO_NOTIFY: u32 = 9;
const STREAM_BYTES: usize = 64 * 1024 * 1024;
const CHUNK: usize = 64 * 1024;

/// A deterministic byte pattern, so the receiver can check every byte.
fn pattern(offset: usize, len: usize) -> Vec<u8> {
    (offset..offset + len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).rotate_right(13) as u8)
        .collect()
}

async fn run_server_endpoint(
    grant: flowersec::generated::flowersec::controlplane::v1::ChannelInitGrant,
) {
    let options = EndpointOptions {
        transport_security_policy: TransportSecurityPolicy::allow_plaintext_for_loopback(),
        ..EndpointOptions::default()
    };
    let session = flowersec::endpoint::connect_tunnel(grant, options)
        .await
        .expect("server endpoint attaches through corridor relay");
    // The first call tells the server the client is listening: the client
    // subscribes to notifications before it calls, and a notification sent
    // before that would be dropped.
    let called = Arc::new(tokio::sync::Notify::new());
    let router = Router::default();
    let on_call = called.clone();
    router
        .register(ECHO_RPC, move |payload: Value| {
            on_call.notify_one();
            async move { Ok(json!({ "echo": payload })) }
        })
        .await;
    let rpc = Arc::new(RpcServer::new(router));
    corridor_testkit::flowersec_peer::serve(&session, move |stream| {
        let rpc = rpc.clone();
        let called = called.clone();
        async move {
            let serving = tokio::spawn(rpc.clone().serve(stream));
            called.notified().await;
            rpc.notify_typed(HELLO_NOTIFY, &json!({"hello": "client"}))
                .await
                .expect("notify the client");
            let _ = serving.await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flowersec_endpoints_talk_through_corridor_relay() {
    let relay = TestRelay::start().await;
    let pair = relay.grants(
        "interop-1",
        corridor_core::fsec1::Suite::X25519HkdfSha256Aes256Gcm,
    );
    let server = tokio::spawn(run_server_endpoint(to_flowersec(&pair.server)));

    let options = ConnectOptions {
        transport_security_policy: TransportSecurityPolicy::allow_plaintext_for_loopback(),
        ..ConnectOptions::default()
    };
    let client = flowersec::connect_tunnel(to_flowersec(&pair.client), options)
        .await
        .expect("client endpoint attaches and finishes the E2EE handshake");

    // Server to client: a notification.
    let (notified_tx, notified_rx) = tokio::sync::oneshot::channel();
    let notified_tx = std::sync::Mutex::new(Some(notified_tx));
    let _subscription = client
        .rpc()
        .on_notify_typed(HELLO_NOTIFY, move |message: Value| {
            if let Some(tx) = notified_tx.lock().unwrap().take() {
                let _ = tx.send(message);
            }
            async {}
        });

    // Client to server: a call.
    let reply: Value = client
        .rpc()
        .call_typed(ECHO_RPC, &json!({"n": 42}))
        .await
        .expect("rpc call through the relay");
    assert_eq!(reply, json!({"echo": {"n": 42}}));
    let notified = tokio::time::timeout(Duration::from_secs(10), notified_rx)
        .await
        .expect("notification within 10 s")
        .expect("notification sent");
    assert_eq!(notified, json!({"hello": "client"}));

    // 64 MiB each way through one yamux stream, checked byte by byte.
    let stream = client.open_stream("echo").await.expect("open echo stream");
    let writer_stream = stream.clone();
    let writer = tokio::spawn(async move {
        let mut sent = 0;
        while sent < STREAM_BYTES {
            writer_stream
                .write(&pattern(sent, CHUNK))
                .await
                .expect("write through relay");
            sent += CHUNK;
        }
    });
    let mut received = 0;
    while received < STREAM_BYTES {
        let chunk = stream
            .read()
            .await
            .expect("read through relay")
            .expect("stream open until all bytes are back");
        assert_eq!(
            chunk,
            pattern(received, chunk.len()),
            "bytes at offset {received}"
        );
        received += chunk.len();
    }
    assert_eq!(received, STREAM_BYTES);
    writer.await.expect("writer done");
    // FIN only after everything was read back (see DESIGN.md on the peer's yamux).
    stream.close().await.expect("close stream");

    assert_eq!(
        support::metric(&relay, "flowersec_tunnel_encrypted_total", ""),
        1.0
    );
    assert!(
        support::metric(&relay, "corridor_relay_forwarded_bytes_total", "to_server")
            >= STREAM_BYTES as f64
    );
    client.close().await.expect("client closes");
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("server endpoint ends after the client leaves")
        .expect("server task");
}

/// Tokens minted by the crate's own control plane are accepted by corridor's
/// relay: keys exported by `issuer::Keyset`, grants from `channelinit::Service`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_minted_by_flowersec_attach_through_corridor_relay() {
    use flowersec::controlplane::{channelinit, issuer::Keyset};
    let keyset = Arc::new(Keyset::new_random("fs-k1").expect("keyset"));
    let relay = TestRelay::start().await;
    std::fs::write(
        &relay.keys_file,
        keyset.export_tunnel_keyset().expect("export"),
    )
    .expect("write keys");
    relay.handle.reload_keys().expect("reload");
    let service = channelinit::Service::new(
        keyset,
        channelinit::Params {
            tunnel_url: relay.ws_url.clone(),
            tunnel_audience: support::AUD.into(),
            issuer_id: support::ISS.into(),
            ..channelinit::Params::default()
        },
    );
    let (client_grant, server_grant) = service.new_channel_init("fs-minted").expect("grants");
    let server = tokio::spawn(run_server_endpoint(server_grant));
    let options = ConnectOptions {
        transport_security_policy: TransportSecurityPolicy::allow_plaintext_for_loopback(),
        ..ConnectOptions::default()
    };
    let client = flowersec::connect_tunnel(client_grant, options)
        .await
        .expect("client attaches with a flowersec-minted token");
    let reply: Value = client
        .rpc()
        .call_typed(ECHO_RPC, &json!("hi"))
        .await
        .expect("rpc call");
    assert_eq!(reply, json!({"echo": "hi"}));
    client.close().await.expect("close");
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
}
