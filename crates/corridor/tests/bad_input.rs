//! Hostile input against the endpoint stack: tampered, dropped, repeated and
//! reordered records, a wrong PSK, garbage instead of a handshake, bad stream
//! hellos, streams beyond the accept backlog, bad RPC frames, and a flood of
//! calls against a slow handler. Each ends only the session or stream it hit,
//! with a named reason.

mod support;

use corridor::rpc::{Failure, RpcError};
use corridor::{Client, Endpoint, Error, SessionOptions};
use corridor_core::fsec1::Suite;
use futures_util::SinkExt;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use support::mitm::{self, Tamper};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

const X25519: Suite = Suite::X25519HkdfSha256Aes256Gcm;

/// A direct endpoint that serves the scenario for every connection; returns its address and credential.
async fn endpoint(
    options: SessionOptions,
) -> (std::net::SocketAddr, corridor_core::grant::DirectInfo) {
    let (addr, info, _) = direct_endpoint(options, X25519, |session| async move {
        serve_corridor_endpoint(&session, false).await
    })
    .await;
    (addr, info)
}

/// Connects through a tampering proxy, drives traffic, and returns why the client session ended.
async fn session_end_under(tamper: Tamper) -> String {
    let (addr, mut info) = endpoint(endpoint_options().0).await;
    let proxy = mitm::start(addr, tamper).await;
    info.ws_url = format!("ws://{proxy}/");
    let session = Arc::new(
        Client::connect_direct(&info, &client_options().0)
            .await
            .expect("handshake passes untouched"),
    );
    let traffic = {
        let session = session.clone();
        tokio::spawn(async move {
            // Traffic until the session dies; errors here are expected.
            let Ok(mut stream) = session.open_stream("echo").await else {
                return;
            };
            let block = pattern(0, CHUNK);
            while stream.write_all(&block).await.is_ok() {}
        })
    };
    tokio::time::timeout(WAIT, session.closed())
        .await
        .expect("the session ends");
    traffic.abort();
    session
        .end_reason()
        .expect("an ended session has a reason")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_ciphertext_bit_ends_the_session_with_decrypt_failed() {
    assert_eq!(
        session_end_under(Tamper::Flip { nth: 4, at: 30 }).await,
        "decrypt_failed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flipped_header_bits_end_the_session_with_their_names() {
    // Byte 0 is the magic, byte 5 the flag (part of the AAD), byte 13 the
    // sequence number's low byte.
    assert_eq!(
        session_end_under(Tamper::Flip { nth: 4, at: 0 }).await,
        "invalid_magic"
    );
    assert_eq!(
        session_end_under(Tamper::Flip { nth: 4, at: 5 }).await,
        "decrypt_failed"
    );
    assert_eq!(
        session_end_under(Tamper::Flip { nth: 4, at: 13 }).await,
        "bad_sequence"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_record_ends_the_session_with_bad_sequence() {
    assert_eq!(
        session_end_under(Tamper::Drop { nth: 4 }).await,
        "bad_sequence"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_record_ends_the_session_with_bad_sequence() {
    assert_eq!(
        session_end_under(Tamper::Repeat { nth: 4 }).await,
        "bad_sequence"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reordered_records_end_the_session_with_bad_sequence() {
    assert_eq!(
        session_end_under(Tamper::Swap { nth: 4 }).await,
        "bad_sequence"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_psk_fails_the_handshake_with_auth_failed() {
    let relay = TestRelay::start().await;
    let pair = relay.grants("wrong-psk", X25519);
    let mut client_grant = pair.client.clone();
    client_grant.e2ee_psk_b64u = corridor_core::b64::encode([0x55u8; 32]);
    let server_grant = pair.server.clone();
    let endpoint = tokio::spawn(async move {
        Endpoint::connect_tunnel(&server_grant, &SessionOptions::default()).await
    });
    let client = Client::connect_tunnel(&client_grant, &SessionOptions::default()).await;
    let endpoint = join(endpoint).await;
    assert_eq!(
        endpoint.expect_err("the endpoint refuses the ack").reason(),
        "auth_failed"
    );
    assert!(client.is_err(), "the client gets no session");
}

/// A raw WebSocket to a direct endpoint, for sending what no client would.
async fn raw_ws(
    options: SessionOptions,
) -> (
    support::RawWs,
    tokio::task::JoinHandle<Result<corridor::Session, Error>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (_, credential) = direct_pair(addr, X25519);
    let endpoint = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        Endpoint::accept_direct(tcp, &credential, &options).await
    });
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
        .await
        .expect("upgrade");
    (ws, endpoint)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_instead_of_an_init_is_named() {
    let cases: Vec<(Message, &str)> = vec![
        (
            Message::binary(b"XXXX\x01\x01\x00\x00\x00\x00".to_vec()),
            "invalid_magic",
        ),
        (
            Message::binary(b"FSEH\x02\x01\x00\x00\x00\x00".to_vec()),
            "invalid_version",
        ),
        (
            Message::binary(b"FSEH\x01\x03\x00\x00\x00\x02{}".to_vec()),
            "unexpected_message",
        ),
        (Message::binary(b"FSEH\x01".to_vec()), "invalid_length"),
        (
            Message::binary(b"FSEH\x01\x01\x00\x00\x00\x09not json!".to_vec()),
            "invalid_json",
        ),
        (
            Message::binary([b"FSEH\x01\x01\x00\x00\x20\x01".as_slice(), &[b' '; 8193]].concat()),
            "handshake_too_large",
        ),
        (Message::text("hello"), "non_binary_frame"),
    ];
    for (message, reason) in cases {
        let (mut ws, endpoint) = raw_ws(SessionOptions::default()).await;
        ws.send(message).await.expect("send");
        let result = join(endpoint).await;
        assert_eq!(result.expect_err("refused").reason(), reason);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_over_the_size_limit_is_refused_by_the_carrier() {
    let (mut ws, endpoint) = raw_ws(SessionOptions::default()).await;
    let _ = ws.send(Message::binary(vec![0u8; 1024 * 1024 + 1])).await;
    let result = join(endpoint).await;
    assert_eq!(result.expect_err("refused").reason(), "record_too_large");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_oversized_stream_hellos_reset_only_that_stream() {
    let (mut options, _) = endpoint_options();
    options.stream_kinds = Some(vec!["echo".into()]);
    let (_, info) = endpoint(options).await;
    let session = Client::connect_direct(&info, &client_options().0)
        .await
        .expect("handshake");
    for kind in ["bogus".to_owned(), "x".repeat(9000)] {
        let mut refused = session
            .open_stream(&kind)
            .await
            .expect("the opener cannot know yet");
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(WAIT, refused.read(&mut buf))
            .await
            .expect("reset in time");
        assert!(
            matches!(read, Ok(0) | Err(_)),
            "a refused stream carries nothing: {read:?}"
        );
    }
    // The session and its other streams are untouched.
    let reply: Value = session
        .rpc()
        .call(ECHO_RPC, &json!(1))
        .await
        .expect("rpc still works");
    assert_eq!(reply, json!({"echo": 1}));
    small_echo(&session, b"still here").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_beyond_the_accept_backlog_are_reset_and_the_session_goes_on() {
    let (mut options, _) = endpoint_options();
    options.mux.accept_backlog = 4;
    // The endpoint serves RPC but never accepts a stream.
    let (_, info, _) = direct_endpoint(
        options,
        X25519,
        |session| async move { session.closed().await },
    )
    .await;
    let session = Arc::new(
        Client::connect_direct(&info, &client_options().0)
            .await
            .expect("handshake"),
    );
    let mut outcomes = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let mut stream = session.open_stream("echo").await.expect("open");
        // The endpoint may reset a stream past its backlog before this write.
        let written = stream.write_all(b"x").await.is_ok();
        outcomes.spawn(async move {
            if !written {
                return true;
            }
            let mut buf = [0u8; 1];
            // A reset stream ends at once; a waiting one stays silent.
            tokio::time::timeout(std::time::Duration::from_secs(3), stream.read(&mut buf))
                .await
                .is_ok()
        });
    }
    let mut ended = 0;
    while let Some(outcome) = outcomes.join_next().await {
        ended += usize::from(outcome.expect("task"));
    }
    assert_eq!(
        ended, 6,
        "the 4 the backlog holds wait, the other 6 are reset"
    );
    let reply: Value = session
        .rpc()
        .call(ECHO_RPC, &json!("after"))
        .await
        .expect("rpc still works");
    assert_eq!(reply, json!({"echo": "after"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rpc_frames_close_only_the_rpc_stream() {
    let (endpoint_options, _) = endpoint_options();
    let (session_tx, mut sessions) = tokio::sync::mpsc::channel(1);
    let (_, info, _) = direct_endpoint(endpoint_options, X25519, |session| async move {
        let session = Arc::new(session);
        let _ = session_tx.send(session.clone()).await;
        serve_echo_streams(&session).await;
    })
    .await;
    let options = SessionOptions {
        open_rpc_stream: false,
        ..SessionOptions::default()
    };
    let client = Client::connect_direct(&info, &options)
        .await
        .expect("handshake");
    let server = sessions.recv().await.expect("endpoint session");
    let mut rpc = client.open_stream("rpc").await.expect("raw rpc stream");
    // Three bad frames in a row: not JSON, not an envelope, not even complete.
    rpc.write_all(&[0, 0, 0, 8]).await.expect("write");
    rpc.write_all(b"not json").await.expect("write");
    rpc.write_all(&[0, 0, 0, 2, b'[', b']'])
        .await
        .expect("write");
    rpc.write_all(&[0, 0, 0, 9, b'{']).await.expect("write");
    rpc.flush().await.expect("flush");
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(WAIT, rpc.read_to_end(&mut rest))
        .await
        .expect("the stream closes");
    assert!(rest.is_empty());
    assert_eq!(
        server.rpc().closed_reason().as_deref(),
        Some("rpc_invalid_json")
    );
    // The session is alive: a stream still echoes.
    small_echo(&client, b"alive").await;
    assert!(server.end_reason().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_calls_against_a_slow_handler_get_429_beyond_the_limit() {
    const SLOW: u32 = 21;
    const CALLS: usize = 10_000;
    // Handlers wait until the gate opens; once open it stays open.
    let (gate, gate_rx) = tokio::sync::watch::channel(false);
    let running = Arc::new(AtomicUsize::new(0));
    let most_running = Arc::new(AtomicUsize::new(0));
    let (options, _) = endpoint_options();
    let router = {
        let (running, most_running) = (running.clone(), most_running.clone());
        options.router().clone().handle(SLOW, move |n: u64| {
            let (mut gate, running, most_running) =
                (gate_rx.clone(), running.clone(), most_running.clone());
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most_running.fetch_max(now, Ordering::SeqCst);
                let _ = gate.wait_for(|open| *open).await;
                running.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, Failure>(n)
            }
        })
    };
    let options = options.with_router(router);
    let limits = options.rpc;
    let admitted = limits.max_concurrent_requests + limits.max_queued_requests;
    let (_, info) = endpoint(options).await;
    let mut client_options = SessionOptions::default();
    client_options.rpc.max_calls_in_flight = CALLS;
    // Admitted calls wait for the last refusal; on a loaded machine that can
    // take longer than the default call timeout.
    client_options.rpc.call_timeout = WAIT;
    let client = Arc::new(
        Client::connect_direct(&info, &client_options)
            .await
            .expect("handshake"),
    );
    let (done, mut answers) = tokio::sync::mpsc::unbounded_channel();
    for n in 0..CALLS as u64 {
        let (client, done) = (client.clone(), done.clone());
        tokio::spawn(async move {
            let _ = done.send(client.rpc().call::<_, u64>(SLOW, &n).await);
        });
    }
    // Release the handlers only once every refusal has arrived.
    let refusals = async {
        for _ in 0..CALLS - admitted {
            match answers.recv().await.expect("a call's answer") {
                Err(RpcError::Remote { code: 429, .. }) => {}
                other => panic!("unexpected answer before release {other:?}"),
            }
        }
    };
    tokio::time::timeout(WAIT, refusals)
        .await
        .expect("every refusal arrives in time");
    assert_eq!(
        most_running.load(Ordering::SeqCst),
        limits.max_concurrent_requests
    );
    gate.send_replace(true);
    let answering = async {
        for _ in 0..admitted {
            answers
                .recv()
                .await
                .expect("a call's answer")
                .expect("an admitted call is answered");
        }
    };
    tokio::time::timeout(WAIT, answering)
        .await
        .expect("every admitted call is answered in time");
    assert!(most_running.load(Ordering::SeqCst) <= limits.max_concurrent_requests);
}
