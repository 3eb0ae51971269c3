//! A session kept up by `Reconnecting`, against a real endpoint on loopback:
//! it comes back after the endpoint ends it, retries while nothing listens,
//! and closes for good when stopped.

mod support;

use corridor::reconnect::{Backoff, Link, Reconnecting};
use corridor::{Client, DirectInfo, Endpoint, Session, SessionOptions, Suite};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use support::{ECHO_RPC, WAIT, direct_pair, endpoint_options};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

fn quick() -> Backoff {
    Backoff {
        initial: Duration::from_millis(5),
        max: Duration::from_millis(50),
        ..Backoff::default()
    }
}

/// Accepts direct sessions on `listener` for as long as the test runs and
/// hands each one (kept alive) to the test.
fn serve(
    listener: TcpListener,
    credential: corridor::DirectCredential,
) -> mpsc::Receiver<Arc<Session>> {
    let (sessions_tx, sessions) = mpsc::channel(8);
    let (options, _notes) = endpoint_options();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let session = Endpoint::accept_direct(tcp, &credential, &options)
                .await
                .expect("endpoint handshake");
            if sessions_tx.send(Arc::new(session)).await.is_err() {
                return;
            }
        }
    });
    sessions
}

fn keep_up(info: DirectInfo, attempts: Arc<AtomicU64>) -> Reconnecting {
    Reconnecting::spawn(
        move || {
            attempts.fetch_add(1, Ordering::SeqCst);
            let info = info.clone();
            async move { Client::connect_direct(&info, &SessionOptions::default()).await }
        },
        quick(),
    )
}

async fn echo_call(session: &Session) {
    let answer: Value = session
        .rpc()
        .call(ECHO_RPC, &json!({"n": 1}))
        .await
        .expect("call");
    assert_eq!(answer, json!({"echo": {"n": 1}}));
}

async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, future)
        .await
        .unwrap_or_else(|_| panic!("{what} within {WAIT:?}"))
}

/// A listening endpoint and a link kept up to it.
async fn endpoint_and_link() -> (Reconnecting, mpsc::Receiver<Arc<Session>>, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let (info, credential) = direct_pair(
        listener.local_addr().expect("addr"),
        Suite::X25519HkdfSha256Aes256Gcm,
    );
    let served = serve(listener, credential);
    let attempts = Arc::new(AtomicU64::new(0));
    (keep_up(info, attempts.clone()), served, attempts)
}

#[tokio::test]
async fn a_session_the_endpoint_ends_comes_back_and_serves_calls() {
    let (link, mut served, attempts) = endpoint_and_link().await;

    let first = within("first session", link.session()).await.expect("up");
    echo_call(&first).await;
    let first_on_endpoint = within("endpoint side", served.recv())
        .await
        .expect("session");

    // The endpoint ends the session; the client side connects again.
    first_on_endpoint.close().await;
    let second_on_endpoint = within("reconnect", served.recv()).await.expect("session");
    let mut watch = link.watch();
    let second = within(
        "second session",
        watch.wait_for(|state| matches!(state, Link::Up(now) if !Arc::ptr_eq(now, &first))),
    )
    .await
    .expect("link alive");
    let Link::Up(second) = second.clone() else {
        unreachable!("waited for Up")
    };
    assert!(first.is_closed());
    echo_call(&second).await;
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    assert!(!second_on_endpoint.is_closed());
    assert!(link.current().is_some_and(|now| Arc::ptr_eq(&now, &second)));
}

#[tokio::test]
async fn connect_failures_are_retried_until_the_endpoint_listens() {
    // A loopback port that is ours but not listening yet: connects are
    // refused, and nobody else can take the port before we listen.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let addr: SocketAddr = socket.local_addr().expect("addr");
    let (info, credential) = direct_pair(addr, Suite::P256HkdfSha256Aes256Gcm);
    let attempts = Arc::new(AtomicU64::new(0));
    let link = keep_up(info, attempts.clone());
    let mut watch = link.watch();
    within(
        "three refused attempts",
        watch.wait_for(|state| {
            matches!(state, Link::Connecting { attempt, last_error: Some(error) }
                if *attempt >= 3 && error.contains("connect"))
        }),
    )
    .await
    .expect("link alive");
    assert!(link.current().is_none());

    let listener = socket.listen(128).expect("listen on the reserved port");
    let _served = serve(listener, credential);
    let session = within("session once listening", link.session())
        .await
        .expect("up");
    echo_call(&session).await;
    assert!(attempts.load(Ordering::SeqCst) >= 3);
}

#[tokio::test]
async fn stop_closes_the_session_and_ends_the_link() {
    let (link, mut served, attempts) = endpoint_and_link().await;
    let session = within("session", link.session()).await.expect("up");
    let on_endpoint = within("endpoint side", served.recv())
        .await
        .expect("session");

    link.stop();
    within("endpoint sees the close", on_endpoint.closed()).await;
    assert!(session.is_closed());
    let mut watch = link.watch();
    within(
        "stopped",
        watch.wait_for(|state| matches!(state, Link::Stopped)),
    )
    .await
    .expect("link ends as Stopped");
    assert!(link.session().await.is_none());
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        1,
        "no reconnect after stop"
    );
}
