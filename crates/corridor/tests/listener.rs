//! The shared listener on real sockets: the connection cap refuses at once
//! and counts; 2,000 half-open handshakes (each holding a pending fsec1
//! entry) and a slowloris larger than the handshake cap leave real clients
//! connecting; a client whose upgrade request has arrived outlasts older
//! slow ones; Unix path sockets replace a stale file but never a live
//! server; abstract sockets carry the peer's credentials; TLS shows the SNI.

mod support;

use corridor::listener::{BindAddr, Listener, ListenerConfig};
use corridor::peer::Address;
use corridor::{Client, DirectCredential, Endpoint, EndpointCredential, SessionOptions};
use corridor_core::fsec1::Suite;
use corridor_core::fsec1::client::{ClientConfig, ClientHandshake};
use corridor_core::fsec1::server::HandshakeCache;
use futures_util::SinkExt as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use support::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const SUITE: Suite = Suite::X25519HkdfSha256Aes256Gcm;

/// Serves every connection `listener` admits as a WebSocket endpoint with
/// `credential`, holding each session until it ends.
fn serve(listener: Arc<Listener>, credential: EndpointCredential, options: SessionOptions) {
    tokio::spawn(async move {
        loop {
            let accepted = listener.accept().await;
            let (credential, options) = (credential.clone(), options.clone());
            tokio::spawn(async move {
                let handshake = accepted.handshake(|connection| {
                    Endpoint::accept_direct(connection, &credential, &options)
                });
                if let Ok((session, _slot)) = handshake.await {
                    serve_echo_streams(&session).await;
                }
            });
        }
    });
}

async fn tcp_listener(config: ListenerConfig) -> (Arc<Listener>, std::net::SocketAddr) {
    let listener = Listener::bind(&"127.0.0.1:0".parse().expect("addr"), config)
        .await
        .expect("bind");
    let Address::Tcp(addr) = *listener.local_addr() else {
        panic!("a TCP address");
    };
    (Arc::new(listener), addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_cap_refuses_at_once_and_counts() {
    let (listener, addr) = tcp_listener(ListenerConfig {
        max_connections: 2,
        ..ListenerConfig::default()
    })
    .await;
    let (info, credential) = direct_pair(addr, SUITE);
    serve(
        listener.clone(),
        credential.into(),
        SessionOptions::default(),
    );
    let options = SessionOptions::default();
    let first = Client::connect_direct(&info, &options)
        .await
        .expect("first");
    let second = Client::connect_direct(&info, &options)
        .await
        .expect("second");
    // The third is closed before any byte of the upgrade is answered.
    let mut third = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(5), third.read(&mut byte))
        .await
        .expect("closed at once");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert_eq!(listener.stats().refused_at_cap.load(Ordering::Relaxed), 1);
    // A place frees when a session ends.
    first.close().await;
    drop(first);
    wait_until("a place frees", || {
        listener.stats().open.load(Ordering::Relaxed) < 2
    })
    .await;
    let again = Client::connect_direct(&info, &options)
        .await
        .expect("again");
    small_echo(&again, b"room again").await;
    drop(second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_handshakes_and_slowloris_do_not_lock_real_clients_out() {
    const PLACES: usize = 256;
    let (listener, addr) = tcp_listener(ListenerConfig {
        max_handshaking: PLACES,
        ..ListenerConfig::default()
    })
    .await;
    let (info, credential) = direct_pair(addr, SUITE);
    // A cache far smaller than the flood: without the handshake cap, 2,000
    // pending handshakes would fill it and real clients would be refused
    // with too_many_handshakes.
    let cache = Arc::new(HandshakeCache::new(Duration::from_secs(60), 2 * PLACES));
    let options = SessionOptions {
        handshake_cache: cache.clone(),
        ..SessionOptions::default()
    };
    serve(listener.clone(), credential.clone().into(), options);

    // 2,000 clients that upgrade, send an fsec1 init, and go quiet: each
    // holds a pending handshake in the endpoint's cache while it is open.
    let mut half_open = Vec::new();
    for _ in 0..2000 {
        let Ok((mut ws, _)) = tokio_tungstenite::connect_async(info.ws_url.as_str()).await else {
            continue;
        };
        let config = ClientConfig::new(*credential.psk, SUITE, "direct-1");
        let (_, init) = ClientHandshake::start(config, &mut rand_core::OsRng).expect("init");
        let _ = ws
            .send(tokio_tungstenite::tungstenite::Message::binary(init))
            .await;
        half_open.push(ws);
    }
    // Slow clients that never finish their upgrade request.
    let mut slow = Vec::new();
    for _ in 0..PLACES * 2 {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let _ = stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await;
        slow.push(stream);
    }
    assert!(
        cache.len() <= PLACES,
        "the cache holds {} entries",
        cache.len()
    );
    assert!(listener.stats().handshaking.load(Ordering::Relaxed) <= PLACES);
    assert!(listener.stats().evicted.load(Ordering::Relaxed) > 0);
    // Real clients connect, each within 5 s, while all that is still open.
    for n in 0..5 {
        let session = tokio::time::timeout(
            Duration::from_secs(5),
            Client::connect_direct(&info, &SessionOptions::default()),
        )
        .await
        .unwrap_or_else(|_| panic!("client {n} connected in time"))
        .expect("handshake");
        small_echo(&session, b"through").await;
    }
    drop((half_open, slow));
}

/// A WebSocket upgrade request, whole.
const UPGRADE: &[u8] =
    b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_whose_request_arrived_outlasts_older_slow_ones() {
    let (listener, addr) = tcp_listener(ListenerConfig {
        max_handshaking: 2,
        ..ListenerConfig::default()
    })
    .await;
    let (_, credential) = direct_pair(addr, SUITE);
    serve(
        listener.clone(),
        credential.into(),
        SessionOptions::default(),
    );
    // The oldest: its upgrade is answered, then it is busy with its E2EE
    // handshake (it sends nothing more here).
    let mut upgraded = tokio::net::TcpStream::connect(addr).await.expect("connect");
    upgraded.write_all(UPGRADE).await.expect("request");
    let mut answer = [0u8; 12];
    upgraded.read_exact(&mut answer).await.expect("answer");
    assert_eq!(&answer, b"HTTP/1.1 101");
    // Two slow ones, each a partial request: the second needs a place.
    let mut slow = tokio::net::TcpStream::connect(addr).await.expect("connect");
    slow.write_all(b"GET / HTTP/1.1\r\n").await.expect("part");
    wait_until("both handshakes counted", || {
        listener.stats().handshaking.load(Ordering::Relaxed) == 2
    })
    .await;
    let mut slower = tokio::net::TcpStream::connect(addr).await.expect("connect");
    slower.write_all(b"GET / HTTP/1.1\r\n").await.expect("part");
    // The slow one goes, though the upgraded one waited longer.
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(WAIT, slow.read(&mut byte))
        .await
        .expect("the slow handshake is closed");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    // One closed: the slow one. The upgraded one and the newest hold the places.
    assert_eq!(listener.stats().evicted.load(Ordering::Relaxed), 1);
    assert_eq!(listener.stats().handshaking.load(Ordering::Relaxed), 2);
    drop((upgraded, slower));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unix_path_replaces_a_stale_socket_but_never_a_live_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("endpoint.sock");
    // A socket file left by a server that is gone.
    drop(std::os::unix::net::UnixListener::bind(&path).expect("stale"));
    assert!(path.exists());
    let addr = BindAddr::UnixPath(path.clone());
    let live = Listener::bind(&addr, ListenerConfig::default())
        .await
        .expect("the stale file is replaced");
    // While it serves, nobody takes its name.
    let error = Listener::bind(&addr, ListenerConfig::default())
        .await
        .expect_err("a live server keeps its socket");
    assert_eq!(error.kind(), std::io::ErrorKind::AddrInUse);
    // A regular file at the path is not a socket and is left alone.
    let file = dir.path().join("not-a-socket");
    std::fs::write(&file, b"data").expect("write");
    assert!(
        Listener::bind(&BindAddr::UnixPath(file.clone()), ListenerConfig::default())
            .await
            .is_err()
    );
    assert_eq!(std::fs::read(&file).expect("untouched"), b"data");
    drop(live);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abstract_socket_session_knows_the_peer_process() {
    let name = format!("corridor-test-{}", std::process::id());
    let addr: BindAddr = format!("@{name}").parse().expect("addr");
    let listener = Listener::bind(&addr, ListenerConfig::default())
        .await
        .expect("bind");
    let credential = DirectCredential {
        psk: [3; 32].into(),
        suite: SUITE,
        channel_id: Some("ipc".into()),
        init_exp_unix_s: now() + 60,
    };
    let served = credential.clone();
    let (peer_tx, peer_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let accepted = listener.accept().await;
        let options = SessionOptions::default();
        let (session, _slot) = accepted
            .handshake(|connection| Endpoint::accept_framed(connection, &served, &options))
            .await
            .expect("handshake");
        let _ = peer_tx.send(session.peer().clone());
        session.closed().await;
    });
    use std::os::linux::net::SocketAddrExt as _;
    let socket_addr =
        std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).expect("name");
    let stream = std::os::unix::net::UnixStream::connect_addr(&socket_addr).expect("connect");
    stream.set_nonblocking(true).expect("nonblocking");
    let stream = tokio::net::UnixStream::from_std(stream).expect("tokio");
    let session = Client::connect_framed(stream, &credential, &SessionOptions::default())
        .await
        .expect("client");
    let peer = tokio::time::timeout(WAIT, peer_rx)
        .await
        .expect("in time")
        .expect("peer");
    let credentials = peer.connection.unix.expect("peer credentials");
    assert_eq!(credentials.pid, Some(std::process::id() as i32));
    assert_eq!(
        peer.connection.local,
        Some(Address::UnixAbstract(name.into_bytes()))
    );
    session.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_listener_shows_the_server_name_the_client_asked_for() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
    let dir = tempfile::tempdir().expect("tempdir");
    let files = corridor::tls::ServerTlsFiles {
        cert: dir.path().join("cert.pem"),
        key: dir.path().join("key.pem"),
        client_ca: None,
    };
    std::fs::write(&files.cert, cert.cert.pem()).expect("cert");
    std::fs::write(&files.key, cert.signing_key.serialize_pem()).expect("key");
    let (listener, addr) = tcp_listener(ListenerConfig {
        tls: Some(corridor::tls::load_server_config(&files).expect("tls")),
        ..ListenerConfig::default()
    })
    .await;
    let (mut info, credential) = direct_pair(addr, SUITE);
    info.ws_url = format!("wss://localhost:{}/", addr.port());
    let (tls_tx, tls_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let accepted = listener.accept().await;
        let options = SessionOptions::default();
        let (session, _slot) = accepted
            .handshake(|connection| Endpoint::accept_direct(connection, &credential, &options))
            .await
            .expect("handshake");
        let _ = tls_tx.send(session.peer().connection.tls.clone());
        session.closed().await;
    });
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).expect("root");
    let tls = rustls::ClientConfig::builder_with_provider(corridor::tls::provider())
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut options = SessionOptions::default();
    options.ws.tls = Some(Arc::new(tls));
    let session = Client::connect_direct(&info, &options).await.expect("wss");
    let tls = tokio::time::timeout(WAIT, tls_rx)
        .await
        .expect("in time")
        .expect("sent")
        .expect("tls info");
    assert_eq!(tls.server_name.as_deref(), Some("localhost"));
    assert!(tls.client_certificates.is_empty());
    session.close().await;
}
