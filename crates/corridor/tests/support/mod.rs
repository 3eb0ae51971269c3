//! Shared helpers of the endpoint-stack tests: an in-process corridor relay
//! with grant minting, the byte pattern of the 64 MiB transfers, and the
//! scenario every client/endpoint pair runs (calls, notifications both ways,
//! an echoed stream checked byte by byte), for corridor and flowersec peers.

#![allow(dead_code)]

pub mod mitm;

use corridor::rpc::{Failure, Router};
use corridor::{DirectCredential, Session, SessionOptions};
use corridor_core::fsec1::Suite;
use corridor_core::grant::DirectInfo;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

// Each test binary uses some of these.
/// The interop scenario's calls and notifications (the flowersec peer serves the same).
pub use corridor_testkit::flowersec_peer::{ECHO_RPC, HELLO_CLIENT, HELLO_SERVER};
#[allow(unused_imports)]
pub use corridor_testkit::{TestRelay, now, to_flowersec, to_flowersec_direct, wait_until};
/// Server to client call (corridor clients serve it).
pub const WHO_RPC: u32 = 13;
pub const STREAM_BYTES: usize = 64 * 1024 * 1024;
pub const CHUNK: usize = 64 * 1024;
pub const WAIT: Duration = Duration::from_secs(60);

/// A direct listener's address, its connect info and the endpoint's credential.
pub fn direct_pair(addr: std::net::SocketAddr, suite: Suite) -> (DirectInfo, DirectCredential) {
    let mut psk = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut psk);
    let init_exp = now() + 120;
    let info = DirectInfo {
        ws_url: format!("ws://{addr}/"),
        channel_id: "direct-1".into(),
        e2ee_psk_b64u: corridor_core::b64::encode(psk),
        channel_init_expire_at_unix_s: init_exp,
        default_suite: suite,
    };
    let credential = DirectCredential {
        psk: psk.into(),
        suite,
        channel_id: Some("direct-1".into()),
        init_exp_unix_s: init_exp,
    };
    (info, credential)
}

/// A deterministic byte pattern, so the receiver can check every byte.
pub fn pattern(offset: usize, len: usize) -> Vec<u8> {
    (offset..offset + len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).rotate_right(13) as u8)
        .collect()
}

/// What the server side of a scenario reports: the client's notification.
pub type Notes = mpsc::Receiver<Value>;

/// Options for a corridor endpoint that serves the scenario.
pub fn endpoint_options() -> (SessionOptions, Notes) {
    let (notes_tx, notes) = mpsc::channel(4);
    let router = Router::new()
        .handle(ECHO_RPC, |payload: Value| async move {
            Ok::<_, Failure>(json!({ "echo": payload }))
        })
        .on_notify(HELLO_SERVER, move |payload: Value| {
            let notes_tx = notes_tx.clone();
            async move {
                let _ = notes_tx.send(payload).await;
            }
        });
    (SessionOptions::default().with_router(router), notes)
}

/// Serves a corridor endpoint session: notifies the client, calls it back if
/// asked, and echoes every `echo` stream.
pub async fn serve_corridor_endpoint(session: &Session, call_back: bool) {
    session
        .rpc()
        .notify(HELLO_CLIENT, &json!({"hello": "client"}))
        .await
        .expect("endpoint notifies the client");
    if call_back {
        let who: Value = session
            .rpc()
            .call(WHO_RPC, &json!({}))
            .await
            .expect("endpoint calls the client");
        assert_eq!(who, json!({"i_am": "client"}));
    }
    serve_echo_streams(session).await;
}

/// Echoes every stream the peer opens until the session ends.
pub async fn serve_echo_streams(session: &Session) {
    while let Ok(stream) = session.accept_stream().await {
        assert_eq!(stream.kind(), "echo");
        tokio::spawn(async move {
            let (mut reader, mut writer) = tokio::io::split(stream);
            if tokio::io::copy(&mut reader, &mut writer).await.is_ok() {
                let _ = writer.shutdown().await;
            }
        });
    }
}

/// Options for a corridor client in the scenario: it takes the server's
/// notification and answers the server's call.
pub fn client_options() -> (SessionOptions, Notes) {
    let (notes_tx, notes) = mpsc::channel(4);
    let router = Router::new()
        .handle(WHO_RPC, |_: Value| async {
            Ok::<_, Failure>(json!({"i_am": "client"}))
        })
        .on_notify(HELLO_CLIENT, move |payload: Value| {
            let notes_tx = notes_tx.clone();
            async move {
                let _ = notes_tx.send(payload).await;
            }
        });
    (SessionOptions::default().with_router(router), notes)
}

/// The client half of the scenario on a corridor session.
pub async fn run_corridor_client(
    session: &Session,
    mut from_server: Notes,
    server_notes: Option<&mut Notes>,
) {
    let reply: Value = session
        .rpc()
        .call(ECHO_RPC, &json!({"n": 42}))
        .await
        .expect("client calls the endpoint");
    assert_eq!(reply, json!({"echo": {"n": 42}}));
    session
        .rpc()
        .notify(HELLO_SERVER, &json!({"hello": "server"}))
        .await
        .expect("client notifies the endpoint");
    if let Some(server_notes) = server_notes {
        let note = tokio::time::timeout(WAIT, server_notes.recv())
            .await
            .expect("in time");
        assert_eq!(note, Some(json!({"hello": "server"})));
    }
    let note = tokio::time::timeout(WAIT, from_server.recv())
        .await
        .expect("in time");
    assert_eq!(note, Some(json!({"hello": "client"})));
    echo_stream(session).await;
}

/// Pushes `STREAM_BYTES` through an echo stream and checks every byte back.
pub async fn echo_stream(session: &Session) {
    let stream = session.open_stream("echo").await.expect("open echo stream");
    let (mut reader, mut writer) = tokio::io::split(stream);
    let sending = tokio::spawn(async move {
        let mut sent = 0;
        while sent < STREAM_BYTES {
            writer
                .write_all(&pattern(sent, CHUNK))
                .await
                .expect("write");
            sent += CHUNK;
        }
        writer.flush().await.expect("flush");
        writer
    });
    let mut received = 0;
    let mut buf = vec![0u8; CHUNK];
    while received < STREAM_BYTES {
        let n = tokio::time::timeout(WAIT, reader.read(&mut buf))
            .await
            .expect("in time")
            .expect("read");
        assert!(n > 0, "stream ended after {received} bytes");
        assert!(
            buf[..n] == pattern(received, n)[..],
            "bytes at offset {received}"
        );
        received += n;
    }
    // FIN only after every byte is back (see DESIGN.md on flowersec's yamux).
    let mut writer = sending.await.expect("writer");
    writer.shutdown().await.expect("fin");
    assert_eq!(
        reader.read(&mut buf).await.expect("eof"),
        0,
        "nothing after the echo"
    );
}

/// A plain WebSocket client, for sending what no corridor client would.
pub type RawWs =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A direct endpoint on a fresh loopback port: it takes one connection, runs
/// the handshake with `options`, and hands the session to `serve`. Returns the
/// port, the client's connect info, and the task (await it to see the
/// endpoint's own assertions).
pub async fn direct_endpoint<F, Fut>(
    options: SessionOptions,
    suite: Suite,
    serve: F,
) -> (
    std::net::SocketAddr,
    DirectInfo,
    tokio::task::JoinHandle<()>,
)
where
    F: FnOnce(Session) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (info, credential) = direct_pair(addr, suite);
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        tcp.set_nodelay(true).expect("nodelay");
        let session = corridor::Endpoint::accept_direct(tcp, &credential, &options)
            .await
            .expect("endpoint handshake");
        serve(session).await;
    });
    (addr, info, task)
}

/// Sends `bytes` through a new echo stream, half-closes, and checks they all come back.
pub async fn small_echo(session: &Session, bytes: &[u8]) {
    let mut echo = session.open_stream("echo").await.expect("open echo stream");
    echo.write_all(bytes).await.expect("write");
    echo.shutdown().await.expect("fin");
    let mut back = Vec::new();
    tokio::time::timeout(WAIT, echo.read_to_end(&mut back))
        .await
        .expect("echo in time")
        .expect("read");
    assert_eq!(back, bytes);
}

/// Waits for a spawned task, failing the test if it takes longer than `WAIT` or panicked.
pub async fn join<T>(task: tokio::task::JoinHandle<T>) -> T {
    tokio::time::timeout(WAIT, task)
        .await
        .expect("the task ends in time")
        .expect("the task did not panic")
}
