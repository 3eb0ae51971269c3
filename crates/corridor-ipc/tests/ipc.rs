//! The IPC server and client on real Unix sockets: peer checks before the
//! handshake (uid, gid, executable digest), keys on both sides, mutual TLS
//! with a PKI (another CA's certificate refused, both ways), deadlines,
//! hostile bytes, many clients at once, and the socket's life cycle.
//! The client here is this test process, so its executable is this test
//! binary; checks that need another process are in corridor-cli's tests.

use corridor::builtin::{self, Info};
use corridor::rpc::Router;
use corridor::tls::{PkiDir, load_client_config};
use corridor::{Session, SessionOptions};
use corridor_core::identity::{PublicKey, StaticSecret};
use corridor_ipc::hashes::ExecutableHashes;
use corridor_ipc::{
    IpcAddr, IpcClientConfig, IpcClientTls, IpcError, IpcServer, IpcServerConfig, IpcStats,
    PeerPolicy, connect,
};
use corridor_testkit::wait_until;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

fn secret() -> StaticSecret {
    StaticSecret::generate(&mut rand_core::OsRng)
}

/// The digest `sha256sum` reports: an implementation independent of the server's.
fn sha256_of(path: &std::path::Path) -> [u8; 32] {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    let text = String::from_utf8_lossy(&out.stdout);
    corridor_ipc::hashes::parse_hex(text.get(..64).expect("a digest")).expect("hex")
}

fn this_binary() -> std::path::PathBuf {
    std::fs::read_link("/proc/self/exe").expect("own executable")
}

struct Running {
    addr: IpcAddr,
    server_key: PublicKey,
    client: StaticSecret,
    stats: Arc<IpcStats>,
    handle: corridor_ipc::IpcServerHandle,
    done: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Running {
    fn client_config(&self) -> IpcClientConfig {
        IpcClientConfig::new(self.addr.clone(), self.client.clone(), self.server_key)
    }
}

/// A server at a fresh path with `policy`, admitting one client key.
async fn running(policy: PeerPolicy, adjust: impl FnOnce(&mut IpcServerConfig)) -> Running {
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = IpcAddr::Path(dir.path().join("run/ipc.sock"));
    let (server, client) = (secret(), secret());
    let server_key = server.public_key();
    let mut config = IpcServerConfig::new(addr.clone(), server, vec![client.public_key()]);
    config.policy = policy;
    adjust(&mut config);
    let server = IpcServer::bind(config).await.expect("binds");
    let (stats, handle) = (server.stats(), server.handle());
    let router = builtin::register(
        Router::new(),
        Info {
            name: "test".into(),
            version: "0".into(),
            streams: vec![],
        },
    );
    let options = SessionOptions::default().with_router(router);
    let done = tokio::spawn(server.serve(options, |session: Arc<Session>| async move {
        session.closed().await
    }));
    Running {
        addr,
        server_key,
        client,
        stats,
        handle,
        done,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_client_is_served_and_handlers_see_who_it_is() {
    let me = std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m));
    let uid = me.expect("own uid");
    let policy = PeerPolicy {
        uids: [uid].into(),
        executables: [sha256_of(&this_binary())].into(),
        ..PeerPolicy::default()
    };
    let server = running(policy, |_| {}).await;
    let session = connect(&server.client_config(), &SessionOptions::default())
        .await
        .expect("admitted");
    let who: Value = session
        .rpc()
        .call(builtin::WHOAMI, &Value::Null)
        .await
        .expect("whoami");
    assert_eq!(who["unix"]["uid"], uid);
    assert_eq!(who["unix"]["pid"], std::process::id());
    assert_eq!(
        who["executable"]["sha256"],
        corridor_ipc::hashes::hex(&sha256_of(&this_binary()))
    );
    assert_eq!(
        who["identity"]["public_key"],
        server.client.public_key().to_b64u()
    );
    assert_eq!(server.stats.get("session"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_whose_executable_is_not_listed_is_refused_and_told_why() {
    let policy = PeerPolicy {
        executables: [[7u8; 32]].into(),
        ..PeerPolicy::default()
    };
    let server = running(policy, |_| {}).await;
    let refused = connect(&server.client_config(), &SessionOptions::default()).await;
    assert!(
        matches!(refused, Err(IpcError::Handshake(_))),
        "{refused:?}"
    );
    // The reason travels in the handshake: the client reads which binary was refused.
    let message = refused.expect_err("refused").to_string();
    assert!(
        message.contains("is not allowed") && message.contains("sha256"),
        "{message}"
    );
    wait_until("the refusal counted", || {
        server.stats.get("executable_not_allowed") == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_uid_not_listed_is_refused() {
    let policy = PeerPolicy {
        uids: [4_000_000].into(),
        ..PeerPolicy::default()
    };
    let server = running(policy, |_| {}).await;
    let refused = connect(&server.client_config(), &SessionOptions::default()).await;
    let message = refused.expect_err("refused").to_string();
    let uid = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").expect("proc"));
    assert!(
        message.contains(&format!("uid {uid} is not allowed")),
        "{message}"
    );
    wait_until("the refusal counted", || {
        server.stats.get("uid_not_allowed") == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_checked_both_ways() {
    let server = running(PeerPolicy::default(), |_| {}).await;
    let mut stranger = server.client_config();
    stranger.identity = secret();
    let refused = connect(&stranger, &SessionOptions::default()).await;
    assert!(refused.is_err(), "an unlisted client key");
    wait_until("the refusal counted", || {
        server.stats.get("peer_not_allowed") == 1
    })
    .await;
    let mut wrong_pin = server.client_config();
    wrong_pin.server_key = Some(secret().public_key());
    let refused = connect(&wrong_pin, &SessionOptions::default()).await;
    assert!(
        refused.is_err(),
        "a client pinning another server key does not get through"
    );
    // The server cannot read a handshake sealed to a key it does not hold.
    wait_until("the wrong pin counted", || {
        server.stats.get("decrypt_failed") == 1
    })
    .await;
    let mut wrong_uid = server.client_config();
    wrong_uid.server_uid = Some(4_000_000);
    let refused = connect(&wrong_uid, &SessionOptions::default()).await;
    assert!(
        matches!(refused, Err(IpcError::ServerUid { .. })),
        "{refused:?}"
    );
    connect(&server.client_config(), &SessionOptions::default())
        .await
        .expect("the listed key still gets in");
}

/// A development PKI in its own directory.
fn pki(dir: &tempfile::TempDir) -> PkiDir {
    let pki = PkiDir::new(dir.path());
    pki.create(&["corridor-ipc".to_owned()]).expect("pki");
    pki
}

fn tls_client(server: &Running, trusts: &PkiDir, presents: Option<&PkiDir>) -> IpcClientConfig {
    let identity = presents.map(|pki| (pki.client_cert.as_path(), pki.client_key.as_path()));
    let tls = IpcClientTls {
        config: load_client_config(&trusts.ca, identity).expect("client tls"),
        server_name: "corridor-ipc".into(),
    };
    IpcClientConfig::mutual_tls(server.addr.clone(), tls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_admits_the_cas_clients_and_refuses_others_both_ways() {
    let (ours, theirs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (ours, theirs) = (pki(&ours), pki(&theirs));
    let server = running(PeerPolicy::default(), |config| {
        config.tls = Some(ours.server());
        // The certificate is the credential: no key list.
        config.client_keys.clear();
    })
    .await;
    let session = connect(
        &tls_client(&server, &ours, Some(&ours)),
        &SessionOptions::default(),
    )
    .await
    .expect("admitted by its certificate");
    let who: Value = session
        .rpc()
        .call(builtin::WHOAMI, &Value::Null)
        .await
        .expect("whoami");
    let leaf = std::fs::read_to_string(&ours.client_cert).unwrap();
    let der = corridor_core::b64::decode_std(
        leaf.lines()
            .filter(|line| !line.starts_with("-----"))
            .collect::<String>()
            .as_bytes(),
    )
    .expect("PEM body");
    let digest = ring::digest::digest(&ring::digest::SHA256, &der);
    assert_eq!(
        who["tls"]["client_certificate_sha256"],
        corridor_ipc::hashes::hex(digest.as_ref().try_into().unwrap())
    );
    // A certificate from another CA, and none at all: refused by the server.
    for (refusals, presents) in [(1, Some(&theirs)), (2, None)] {
        let refused = connect(
            &tls_client(&server, &ours, presents),
            &SessionOptions::default(),
        )
        .await
        .expect_err("refused");
        assert!(
            matches!(refused, IpcError::Tls(_) | IpcError::Handshake(_)),
            "{refused:?}"
        );
        wait_until("the TLS refusal counted", || {
            server.stats.get("tls_failed") == refusals
        })
        .await;
    }
    // A server whose certificate another CA signed: refused by the client.
    let refused = connect(
        &tls_client(&server, &theirs, Some(&ours)),
        &SessionOptions::default(),
    )
    .await
    .expect_err("the server is not trusted");
    assert!(
        matches!(&refused, IpcError::Tls(message) if message.contains("UnknownIssuer")),
        "{refused:?}"
    );
    wait_until("the server counted the refusals", || {
        server.stats.get("tls_failed") >= 2
    })
    .await;
    assert_eq!(server.stats.get("session"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_garbage_clients_are_closed_and_others_go_on() {
    let server = running(PeerPolicy::default(), |config| {
        config.listener.handshake_timeout = Duration::from_millis(500);
    })
    .await;
    let IpcAddr::Path(path) = &server.addr else {
        unreachable!()
    };
    // One at a time, so a busy machine cannot turn the garbage client's
    // reason into a timeout while both wait.
    let mut garbage = tokio::net::UnixStream::connect(path)
        .await
        .expect("connect");
    garbage
        .write_all(&[0xff; 4096])
        .await
        .expect("write garbage");
    closed_by_the_server(&mut garbage).await;
    wait_until("the garbage client counted", || {
        server.stats.all().values().sum::<u64>() == 1
    })
    .await;
    // Refused for what it sent: four 0xff bytes read as a record length.
    assert_eq!(
        server.stats.get("record_too_large"),
        1,
        "{:?}",
        server.stats.all()
    );
    assert_eq!(
        server.stats.get("handshake_timeout"),
        0,
        "{:?}",
        server.stats.all()
    );
    let mut silent = tokio::net::UnixStream::connect(path)
        .await
        .expect("connect");
    closed_by_the_server(&mut silent).await;
    wait_until("the deadline counted", || {
        server.stats.get("handshake_timeout") == 1
    })
    .await;
    connect(&server.client_config(), &SessionOptions::default())
        .await
        .expect("a real client is still served");
}

async fn closed_by_the_server(stream: &mut tokio::net::UnixStream) {
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
        .await
        .expect("closed by the server");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_clients_make_a_hundred_calls_each_at_once() {
    let server = running(PeerPolicy::default(), |_| {}).await;
    let mut config = server.client_config();
    // All 200 handshakes queue at once on two cores shared with the
    // other tests: the deadline is for a hung server, not a busy one.
    config.timeout = Duration::from_secs(60);
    let mut clients = tokio::task::JoinSet::new();
    for n in 0..200u64 {
        let config = config.clone();
        clients.spawn(async move {
            let session = connect(&config, &SessionOptions::default())
                .await
                .expect("connect");
            for call in 0..100u64 {
                let payload = json!([n, call]);
                let echoed: Value = session
                    .rpc()
                    .call(builtin::ECHO, &payload)
                    .await
                    .expect("call");
                assert_eq!(echoed, payload);
            }
            session.close().await;
        });
    }
    while let Some(done) = clients.join_next().await {
        done.expect("client");
    }
    assert_eq!(server.stats.get("session"), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_socket_is_never_taken_a_stale_one_is_and_shutdown_removes_it() {
    let server = running(PeerPolicy::default(), |_| {}).await;
    let IpcAddr::Path(path) = server.addr.clone() else {
        unreachable!()
    };
    let second = IpcServerConfig::new(server.addr.clone(), secret(), vec![]);
    let taken = IpcServer::bind(second).await;
    assert!(matches!(taken, Err(IpcError::Bind { .. })), "{taken:?}");
    server.handle.shutdown();
    server.done.await.expect("serve returns");
    assert!(!path.exists(), "shutdown removes the socket file");
    // A crashed server leaves its socket file behind.
    let crashed = std::os::unix::net::UnixListener::bind(&path).expect("bind");
    drop(crashed);
    assert!(path.exists());
    let config = IpcServerConfig::new(server.addr.clone(), secret(), vec![]);
    IpcServer::bind(config)
        .await
        .expect("the stale file is replaced");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abstract_socket_serves_too() {
    let name = format!("corridor-ipc-test-{}", std::process::id());
    let server = running(PeerPolicy::default(), |config| {
        config.addr = IpcAddr::Abstract(name.clone());
    })
    .await;
    let mut config = server.client_config();
    config.addr = IpcAddr::Abstract(name);
    let session = connect(&config, &SessionOptions::default())
        .await
        .expect("connect");
    let _: Value = session.rpc().call(builtin::PING, &()).await.expect("ping");
}

#[test]
fn digests_are_cached_by_file_identity() {
    // Two reads of one executable: the second comes from the cache.
    let hashes = ExecutableHashes::default();
    let (a, b) = std::os::unix::net::UnixStream::pair().expect("pair");
    let process = corridor::process::PeerProcess::of_socket(&a).expect("pidfd");
    drop(b);
    let (first, _, cached) = hashes.of(&process).expect("read");
    assert!(!cached);
    let (second, _, cached) = hashes.of(&process).expect("read");
    assert!(cached);
    assert_eq!(first, second);
    assert_eq!(first, sha256_of(&this_binary()));
}

#[test]
fn clients_of_one_binary_arriving_together_read_it_once() {
    // Eight checks at once for one uncached binary (tens of MiB here): one
    // reads it, the others wait for that digest.
    let hashes = ExecutableHashes::default();
    let (a, _b) = std::os::unix::net::UnixStream::pair().expect("pair");
    let process = corridor::process::PeerProcess::of_socket(&a).expect("pidfd");
    let gate = std::sync::Barrier::new(8);
    let reads = std::thread::scope(|scope| {
        let checks: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    gate.wait();
                    let (_, _, cached) = hashes.of(&process).expect("read");
                    !cached
                })
            })
            .collect();
        checks
            .into_iter()
            .map(|check| check.join().expect("check"))
            .filter(|&read| read)
            .count()
    });
    assert_eq!(reads, 1);
}
