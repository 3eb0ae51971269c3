//! corridor against the official flowersec v1 Rust SDK (`flowersec = "=0.27.0"`),
//! both ways round, directly and through corridor's relay: the fsec1 handshake,
//! a call, notifications both ways, and 64 MiB echoed byte-exact.

mod support;

use corridor::{Client, Endpoint};
use corridor_core::fsec1::Suite;
use flowersec::client::ConnectOptions;
use flowersec::e2ee::{Secret32, ServerHandshakeOptions, Suite as FsSuite};
use flowersec::endpoint::{DirectAcceptOptions, EndpointOptions};
use flowersec::transport::TungsteniteTransport;
use flowersec::transport_security::TransportSecurityPolicy;
use serde_json::{Value, json};
use std::sync::Arc;
use support::*;
use tokio::sync::mpsc;

const X25519: Suite = Suite::X25519HkdfSha256Aes256Gcm;

/// A flowersec endpoint session serving the scenario: echo calls, the
/// client's notification reported on `notes`, a notification to the client,
/// and echo streams.
async fn serve_flowersec_endpoint(
    session: flowersec::endpoint::Session,
    notes: mpsc::Sender<Value>,
) {
    corridor_testkit::flowersec_peer::serve(&session, move |stream| {
        let notes = notes.clone();
        async move {
            let (_, serving) = corridor_testkit::flowersec_peer::scenario_rpc(stream, notes).await;
            let _ = serving.await;
        }
    })
    .await;
}

fn flowersec_endpoint_options() -> EndpointOptions {
    EndpointOptions {
        transport_security_policy: TransportSecurityPolicy::allow_plaintext_for_loopback(),
        ..EndpointOptions::default()
    }
}

fn flowersec_connect_options() -> ConnectOptions {
    ConnectOptions {
        transport_security_policy: TransportSecurityPolicy::allow_plaintext_for_loopback(),
        ..ConnectOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corridor_client_to_flowersec_endpoint_via_relay() {
    let relay = TestRelay::start().await;
    let pair = relay.grants("to-flowersec", X25519);
    let (notes_tx, mut notes) = mpsc::channel(4);
    let grant = to_flowersec(&pair.server);
    let endpoint = tokio::spawn(async move {
        let session = flowersec::endpoint::connect_tunnel(grant, flowersec_endpoint_options())
            .await
            .expect("flowersec endpoint attaches");
        serve_flowersec_endpoint(session, notes_tx).await;
    });
    let (options, from_server) = client_options();
    let session = Client::connect_tunnel(&pair.client, &options)
        .await
        .expect("corridor client handshake with flowersec");
    run_corridor_client(&session, from_server, Some(&mut notes)).await;
    session.close().await;
    endpoint.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corridor_client_to_flowersec_endpoint_direct() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let (info, credential) = direct_pair(listener.local_addr().expect("addr"), X25519);
    let (notes_tx, mut notes) = mpsc::channel(4);
    let endpoint = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        tcp.set_nodelay(true).expect("nodelay");
        let transport = Arc::new(TungsteniteTransport::accept(tcp).await.expect("upgrade"));
        let mut handshake = ServerHandshakeOptions::new(
            Secret32::new(*credential.psk),
            FsSuite::X25519HkdfSha256Aes256Gcm,
            credential.init_exp_unix_s,
        );
        handshake.channel_id = credential.channel_id.clone();
        let session =
            flowersec::endpoint::accept_direct(transport, DirectAcceptOptions::new(handshake))
                .await
                .expect("flowersec direct handshake");
        serve_flowersec_endpoint(session, notes_tx).await;
    });
    let (mut options, from_server) = client_options();
    // Keepalive ping records every 10 ms while idle: flowersec must skip them.
    options.secure.keepalive_interval = Some(std::time::Duration::from_millis(10));
    let session = Client::connect_direct(&info, &options)
        .await
        .expect("corridor client handshake with flowersec");
    // Idle: keepalive pings go out until a few have.
    wait_until("keepalive pings while idle", || {
        session.stats().pings_sent >= 3
    })
    .await;
    // corridor changes its sending key too; flowersec must follow.
    session.rekey();
    run_corridor_client(&session, from_server, Some(&mut notes)).await;
    // flowersec read everything after the pings and the rekey.
    assert_eq!(session.stats().rekeys_sent, 1);
    session.close().await;
    endpoint.abort();
}

/// The client half of the scenario on a flowersec client.
async fn run_flowersec_client(client: flowersec::Client, server_notes: &mut Notes) {
    let (notified_tx, mut notified) = mpsc::channel(4);
    let _subscription = client
        .rpc()
        .on_notify_typed(HELLO_CLIENT, move |message: Value| {
            let notified_tx = notified_tx.clone();
            async move {
                let _ = notified_tx.send(message).await;
            }
        });
    let reply: Value = client
        .rpc()
        .call_typed(ECHO_RPC, &json!({"n": 42}))
        .await
        .expect("flowersec client calls corridor");
    assert_eq!(reply, json!({"echo": {"n": 42}}));
    client
        .rpc()
        .notify_typed(HELLO_SERVER, &json!({"hello": "server"}))
        .await
        .expect("flowersec client notifies corridor");
    let note = tokio::time::timeout(WAIT, server_notes.recv())
        .await
        .expect("in time");
    assert_eq!(note, Some(json!({"hello": "server"})));
    let note = tokio::time::timeout(WAIT, notified.recv())
        .await
        .expect("in time");
    assert_eq!(note, Some(json!({"hello": "client"})));

    let stream = client.open_stream("echo").await.expect("open echo stream");
    let writer_stream = stream.clone();
    let writer = tokio::spawn(async move {
        let mut sent = 0;
        while sent < STREAM_BYTES {
            writer_stream
                .write(&pattern(sent, CHUNK))
                .await
                .expect("write");
            sent += CHUNK;
        }
    });
    let mut received = 0;
    while received < STREAM_BYTES {
        let chunk = tokio::time::timeout(WAIT, stream.read())
            .await
            .expect("in time")
            .expect("read")
            .expect("open until every byte is back");
        assert!(
            chunk == pattern(received, chunk.len()),
            "bytes at offset {received}"
        );
        received += chunk.len();
    }
    writer.await.expect("writer");
    stream.close().await.expect("fin");
    assert_eq!(
        stream.read().await.expect("eof"),
        None,
        "nothing after the echo"
    );
    client.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flowersec_client_to_corridor_endpoint_via_relay() {
    let relay = TestRelay::start().await;
    let pair = relay.grants("from-flowersec", X25519);
    let (options, mut notes) = endpoint_options();
    let server_grant = pair.server.clone();
    let endpoint = tokio::spawn(async move {
        let session = Endpoint::connect_tunnel(&server_grant, &options)
            .await
            .expect("corridor endpoint handshake");
        serve_corridor_endpoint(&session, false).await;
    });
    let client = flowersec::connect_tunnel(to_flowersec(&pair.client), flowersec_connect_options())
        .await
        .expect("flowersec client handshake with corridor");
    run_flowersec_client(client, &mut notes).await;
    join(endpoint).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flowersec_client_to_corridor_endpoint_direct() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let (info, credential) = direct_pair(listener.local_addr().expect("addr"), X25519);
    let (options, mut notes) = endpoint_options();
    let endpoint = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        tcp.set_nodelay(true).expect("nodelay");
        let session = Endpoint::accept_direct(tcp, &credential, &options)
            .await
            .expect("corridor endpoint handshake");
        serve_corridor_endpoint(&session, false).await;
    });
    let client = flowersec::connect_direct(to_flowersec_direct(&info), flowersec_connect_options())
        .await
        .expect("flowersec client handshake with corridor");
    run_flowersec_client(client, &mut notes).await;
    join(endpoint).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_flowersec_client_keeps_a_short_idle_channel_through_a_corridor_endpoint() {
    // The grant allows 1 s of silence and the flowersec client sends no
    // keepalives of its own: the corridor endpoint's, derived from the
    // grant, keep the channel open.
    let relay = TestRelay::start().await;
    let pair = relay.grants_with("quiet-flowersec", X25519, |params| {
        params.idle_timeout_secs = 1;
    });
    let (options, _) = endpoint_options();
    let server_grant = pair.server.clone();
    let endpoint = tokio::spawn(async move {
        let session = Endpoint::connect_tunnel(&server_grant, &options)
            .await
            .expect("corridor endpoint handshake");
        session.closed().await;
    });
    let options = ConnectOptions {
        liveness: flowersec::yamux::LivenessOptions::Disabled,
        ..flowersec_connect_options()
    };
    let client = flowersec::connect_tunnel(to_flowersec(&pair.client), options)
        .await
        .expect("flowersec client handshake");
    // Silent for three of the grant's idle timeouts (the silence is what is tested).
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let reply: Value = client
        .rpc()
        .call_typed(ECHO_RPC, &json!("still here"))
        .await
        .expect("the channel is still open");
    assert_eq!(reply, json!({"echo": "still here"}));
    client.close().await.expect("close");
    join(endpoint).await;
}
