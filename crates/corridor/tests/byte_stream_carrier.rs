//! Sessions over plain byte streams (a Unix socket pair, loopback TCP) with
//! u32-length-prefixed records: the same scenario as over WebSocket, and a
//! length prefix over the record limit refused as `record_too_large`.

mod support;

use corridor::{Client, Connection, DirectCredential, Endpoint};
use corridor_core::fsec1::Suite;
use support::*;
use tokio::io::AsyncWriteExt;

const MAX_RECORD: usize = 1024 * 1024;

fn credential(suite: Suite) -> DirectCredential {
    DirectCredential {
        psk: [0x42u8; 32].into(),
        suite,
        channel_id: Some("framed".into()),
        init_exp_unix_s: now() + 120,
    }
}

async fn scenario(client_io: Connection, endpoint_io: Connection, suite: Suite) {
    let (options, mut server_notes) = endpoint_options();
    let credential = credential(suite);
    let served = credential.clone();
    let endpoint = tokio::spawn(async move {
        let session = Endpoint::accept_framed(endpoint_io, &served, &options)
            .await
            .expect("endpoint handshake");
        serve_corridor_endpoint(&session, true).await;
    });
    let (client_options, from_server) = client_options();
    let session = Client::connect_framed(client_io, &credential, &client_options)
        .await
        .expect("client handshake");
    run_corridor_client(&session, from_server, Some(&mut server_notes)).await;
    session.close().await;
    join(endpoint).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_runs_over_a_unix_socket_pair() {
    let (a, b) = tokio::net::UnixStream::pair().expect("socket pair");
    scenario(a.into(), b.into(), Suite::X25519HkdfSha256Aes256Gcm).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_runs_over_loopback_tcp_with_p256() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let client = tokio::net::TcpStream::connect(listener.local_addr().expect("addr"))
        .await
        .expect("connect");
    let (server, _) = listener.accept().await.expect("accept");
    client.set_nodelay(true).expect("nodelay");
    server.set_nodelay(true).expect("nodelay");
    scenario(client.into(), server.into(), Suite::P256HkdfSha256Aes256Gcm).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_length_over_the_record_limit_is_refused() {
    let (mut raw, endpoint_io) = tokio::net::UnixStream::pair().expect("socket pair");
    let endpoint = tokio::spawn(async move {
        Endpoint::accept_framed(
            endpoint_io,
            &credential(Suite::X25519HkdfSha256Aes256Gcm),
            &Default::default(),
        )
        .await
    });
    raw.write_all(&((MAX_RECORD + 1) as u32).to_be_bytes())
        .await
        .expect("write");
    let result = join(endpoint).await;
    assert_eq!(result.expect_err("refused").reason(), "record_too_large");
}
