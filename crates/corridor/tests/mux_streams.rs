//! Streams of one session hold each other up in nothing: a stream whose
//! reader never reads takes its own window's worth and no more, while the
//! RPC stream and other streams go on. And a session closed by several
//! tasks at once, and by its peer, ends for each of them.

mod support;

use corridor::{Client, DirectCredential, Endpoint, Session, Stream};
use corridor_core::fsec1::Suite;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use support::*;
use tokio::io::AsyncWriteExt;

/// The window a stream's sender may fill before the reader reads.
const WINDOW: usize = 256 * 1024;

/// A client session and the endpoint session it reached, over a Unix
/// socket pair.
async fn session_pair(channel: &str) -> (Session, Session) {
    let (a, b) = tokio::net::UnixStream::pair().expect("socket pair");
    let credential = DirectCredential {
        psk: [0x42u8; 32].into(),
        suite: Suite::X25519HkdfSha256Aes256Gcm,
        channel_id: Some(channel.into()),
        init_exp_unix_s: now() + 120,
    };
    let served = credential.clone();
    let endpoint = tokio::spawn(async move {
        Endpoint::accept_framed(
            corridor::Connection::from(b),
            &served,
            &endpoint_options().0,
        )
        .await
        .expect("endpoint handshake")
    });
    let client = Client::connect_framed(
        corridor::Connection::from(a),
        &credential,
        &client_options().0,
    )
    .await
    .expect("client handshake");
    (client, join(endpoint).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_nobody_reads_takes_its_window_and_holds_up_nothing_else() {
    let (session, peer) = session_pair("streams").await;
    let endpoint = tokio::spawn(async move {
        // The first stream is kept and never read; the others are echoed.
        let unread: Stream = peer.accept_stream().await.expect("the unread stream");
        serve_echo_streams(&peer).await;
        drop(unread);
    });

    // Nearly a window's worth (the stream's hello took a few bytes of it)
    // in small writes: one frame each, hundreds of them.
    let mut unread = session.open_stream("sink").await.expect("open");
    let piece = vec![7u8; 1024];
    for _ in 0..WINDOW / piece.len() - 1 {
        tokio::time::timeout(WAIT, unread.write_all(&piece))
            .await
            .expect("the window takes it")
            .expect("write");
    }

    // Everything else on the session still moves.
    let reply: Value = tokio::time::timeout(WAIT, session.rpc().call(ECHO_RPC, &json!("on")))
        .await
        .expect("a call is answered in time")
        .expect("call");
    assert_eq!(reply, json!({"echo": "on"}));
    small_echo(&session, &pattern(0, 512 * 1024)).await;

    // And the unread stream takes no more than its window.
    let more = tokio::time::timeout(
        Duration::from_millis(300),
        unread.write_all(&[piece.as_slice(); 2].concat()),
    )
    .await;
    assert!(
        more.is_err(),
        "a write past the window waits for the reader"
    );

    session.close().await;
    join(endpoint).await;
}

/// A session closed by several of its owner's tasks while its peer closes
/// it too, as a mesh node's are (its shutdown, the connection's watcher and
/// the peer's goodbye notice): every close returns once the session ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closes_from_many_tasks_and_the_peer_at_once_all_return() {
    for round in 0..2000 {
        let (session, peer) = session_pair("closes").await;
        let session = Arc::new(session);
        let closers: Vec<_> = (0..8)
            .map(|_| {
                let session = session.clone();
                tokio::spawn(async move { session.close().await })
            })
            .collect();
        let peer_closes = tokio::spawn(async move { peer.close().await });
        for closer in closers {
            tokio::time::timeout(Duration::from_secs(10), closer)
                .await
                .unwrap_or_else(|_| panic!("round {round}: a close never returned"))
                .expect("closer");
        }
        assert!(session.is_closed());
        join(peer_closes).await;
    }
}
