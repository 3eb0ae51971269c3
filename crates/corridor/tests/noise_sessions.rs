//! The noise suite end to end on real sockets: every pattern over a direct
//! WebSocket and over a Unix socket, through a relay whose grant names it,
//! sessions that know their peer's key, handshake payloads both ways, an
//! endpoint taking fsec1 and noise clients on one listener, and the named
//! errors of a refusal, no common suite, a foreign preface and a preface
//! that never comes.

mod support;

use corridor::credential::{AcceptAll, Allowlist, Authorizer, EndpointCredential, NoiseCredential};
use corridor::peer::{Address, UnixCredentials};
use corridor::{Client, Endpoint, Error, SessionOptions};
use corridor_core::identity::{PublicKey, StaticSecret};
use corridor_core::noise::{Cipher, Pattern, ResponderConfig};
use corridor_core::suite::{Claim, PeerIdentity, SecureError, SuiteName, Verdict};
use futures_util::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;
use support::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

fn key() -> StaticSecret {
    StaticSecret::generate(&mut rand_core::OsRng)
}

/// Answers a client whose payload is `b"let me in"` with `b"welcome"`,
/// refuses others with a reason.
struct Doorman;

impl Authorizer for Doorman {
    fn authorize<'a>(
        &'a self,
        claim: &'a Claim,
        _: &'a corridor::ConnectionInfo,
    ) -> BoxFuture<'a, Verdict> {
        let verdict = if claim.payload == b"let me in" {
            Verdict::Accept {
                payload: b"welcome".to_vec(),
            }
        } else {
            Verdict::Refuse {
                reason: "wrong word".into(),
            }
        };
        Box::pin(std::future::ready(verdict))
    }
}

fn noise_endpoint(server: &StaticSecret, authorizer: Arc<dyn Authorizer>) -> EndpointCredential {
    let mut config = ResponderConfig::new(server.clone());
    config.channel_id = Some("svc".into());
    EndpointCredential::noise(config, authorizer)
}

fn credential(pattern: Pattern, client: &StaticSecret, server: PublicKey) -> NoiseCredential {
    let mut credential = match pattern {
        Pattern::XX => NoiseCredential::xx(client.clone(), "svc"),
        Pattern::IK => NoiseCredential::ik(client.clone(), server, "svc"),
        Pattern::KK => NoiseCredential::kk(client.clone(), server, "svc"),
    };
    credential.cipher = Cipher::ChaChaPoly;
    credential.payload = b"let me in".to_vec();
    credential
}

/// A WebSocket endpoint taking connections on a fresh port until dropped.
async fn ws_endpoint(
    credential: EndpointCredential,
) -> (
    std::net::SocketAddr,
    tokio::sync::mpsc::Receiver<Result<corridor::Session, Error>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (sessions_tx, sessions) = tokio::sync::mpsc::channel(8);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (credential, sessions_tx) = (credential.clone(), sessions_tx.clone());
            tokio::spawn(async move {
                let (options, _) = endpoint_options();
                let session = Endpoint::accept_direct(tcp, &credential, &options).await;
                let _ = sessions_tx.send(session).await;
            });
        }
    });
    (addr, sessions)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_pattern_runs_a_session_over_websocket_with_both_keys_proven() {
    let (client_key, server_key) = (key(), key());
    let (addr, mut sessions) = ws_endpoint(noise_endpoint(&server_key, Arc::new(Doorman))).await;
    for pattern in [Pattern::XX, Pattern::IK, Pattern::KK] {
        let credential = credential(pattern, &client_key, server_key.public_key());
        let url = format!("ws://{addr}/");
        let session = Client::connect_ws(&url, &credential, &SessionOptions::default())
            .await
            .unwrap_or_else(|error| panic!("{pattern:?}: {error}"));
        let endpoint = sessions.recv().await.expect("endpoint").expect("handshake");
        assert_eq!(
            session.peer().identity,
            PeerIdentity::StaticKey(server_key.public_key())
        );
        assert_eq!(session.peer().suite, SuiteName::Noise);
        assert_eq!(session.peer().handshake_payload, b"welcome");
        assert_eq!(
            endpoint.peer().identity,
            PeerIdentity::StaticKey(client_key.public_key())
        );
        assert_eq!(endpoint.peer().handshake_payload, b"let me in");
        // The endpoint sees where the client came from.
        let client_local = session.peer().connection.local.clone();
        assert_eq!(endpoint.peer().connection.remote, client_local);
        let serving = tokio::spawn(async move { serve_echo_streams(&endpoint).await });
        small_echo(&session, format!("{pattern:?} says hi").as_bytes()).await;
        session.close().await;
        join(serving).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_noise_session_over_a_unix_socket_knows_the_peer_process() {
    let (client_key, server_key) = (key(), key());
    let (client_io, endpoint_io) = tokio::net::UnixStream::pair().expect("pair");
    let credential_served = noise_endpoint(&server_key, Arc::new(AcceptAll));
    let endpoint = tokio::spawn(async move {
        let (options, mut notes) = endpoint_options();
        let session = Endpoint::accept_framed(endpoint_io, &credential_served, &options)
            .await
            .expect("endpoint handshake");
        let peer = session.peer().clone();
        serve_corridor_endpoint(&session, true).await;
        let _ = notes.try_recv();
        peer
    });
    let (options, from_server) = client_options();
    let credential = credential(Pattern::IK, &client_key, server_key.public_key());
    let session = Client::connect_framed(client_io, &credential, &options)
        .await
        .expect("client handshake");
    run_corridor_client(&session, from_server, None).await;
    session.close().await;
    let peer = join(endpoint).await;
    assert_eq!(
        peer.identity,
        PeerIdentity::StaticKey(client_key.public_key())
    );
    // The kernel's word for who connected: this very process.
    let me = UnixCredentials {
        uid: nix_uid(),
        gid: nix_gid(),
        pid: Some(std::process::id() as i32),
    };
    assert_eq!(peer.connection.unix, Some(me));
    assert_eq!(peer.connection.remote, Some(Address::UnixUnnamed));
}

/// This process's user and group, as the kernel shows them in /proc.
fn nix_uid() -> u32 {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self").expect("/proc/self").uid()
}

fn nix_gid() -> u32 {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self").expect("/proc/self").gid()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_endpoint_serves_fsec1_and_noise_clients_side_by_side() {
    let server_key = key();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (info, fsec1) = direct_pair(addr, corridor_core::fsec1::Suite::X25519HkdfSha256Aes256Gcm);
    let mut both = noise_endpoint(&server_key, Arc::new(AcceptAll));
    both.fsec1 = Some(fsec1);
    let endpoint = tokio::spawn(async move {
        let mut suites = Vec::new();
        for _ in 0..2 {
            let (tcp, _) = listener.accept().await.expect("accept");
            let session = Endpoint::accept_direct(tcp, &both, &SessionOptions::default())
                .await
                .expect("handshake");
            suites.push(session.peer().suite);
            let _ = session.accept_stream().await;
        }
        suites
    });
    let fsec1_session = Client::connect_direct(&info, &SessionOptions::default())
        .await
        .expect("fsec1 client");
    assert_eq!(fsec1_session.peer().suite, SuiteName::Fsec1);
    fsec1_session.close().await;
    let mut noise = NoiseCredential::xx(key(), "svc");
    noise.server_key = Some(server_key.public_key());
    let noise_session =
        Client::connect_ws(&format!("ws://{addr}/"), &noise, &SessionOptions::default())
            .await
            .expect("noise client");
    noise_session.close().await;
    assert_eq!(
        join(endpoint).await,
        vec![SuiteName::Fsec1, SuiteName::Noise]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_client_reads_the_endpoint_reason() {
    let (client_key, server_key) = (key(), key());
    let (addr, mut sessions) = ws_endpoint(noise_endpoint(&server_key, Arc::new(Doorman))).await;
    for pattern in [Pattern::XX, Pattern::IK] {
        let mut credential = credential(pattern, &client_key, server_key.public_key());
        credential.payload = b"open sesame".to_vec();
        let error = Client::connect_ws(
            &format!("ws://{addr}/"),
            &credential,
            &SessionOptions::default(),
        )
        .await
        .expect_err("refused");
        assert!(
            matches!(&error, Error::Handshake(SecureError::Refused(reason)) if reason == "wrong word"),
            "{pattern:?}: {error}"
        );
        let endpoint_error = sessions
            .recv()
            .await
            .expect("endpoint")
            .expect_err("refused");
        assert_eq!(endpoint_error.reason(), "peer_not_allowed");
    }
    // An allowlist that does not list the client.
    let (addr, _sessions) = ws_endpoint(noise_endpoint(
        &server_key,
        Arc::new(Allowlist::new([key().public_key()])),
    ))
    .await;
    let credential = credential(Pattern::IK, &client_key, server_key.public_key());
    let error = Client::connect_ws(
        &format!("ws://{addr}/"),
        &credential,
        &SessionOptions::default(),
    )
    .await
    .expect_err("not listed");
    assert!(
        matches!(&error, Error::Handshake(SecureError::Refused(reason)) if reason == "not on the allowlist"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_noise_client_and_an_fsec1_only_endpoint_name_the_missing_suite() {
    // WebSocket: the endpoint answers 400 naming what it accepts.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (_, fsec1) = direct_pair(addr, corridor_core::fsec1::Suite::X25519HkdfSha256Aes256Gcm);
    let endpoint = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        Endpoint::accept_direct(tcp, &fsec1, &SessionOptions::default()).await
    });
    let noise = NoiseCredential::xx(key(), "svc");
    let error = Client::connect_ws(&format!("ws://{addr}/"), &noise, &SessionOptions::default())
        .await
        .expect_err("no common suite");
    assert_eq!(error.reason(), "no_common_suite");
    assert!(
        matches!(&error, Error::NoCommonSuite { accepted, .. } if accepted == &["corridor.fsec1"]),
        "{error}"
    );
    let endpoint_error = join(endpoint).await.expect_err("refused");
    assert_eq!(endpoint_error.reason(), "no_common_suite");

    // A byte stream: the preface answer says the same.
    let (client_io, endpoint_io) = tokio::net::UnixStream::pair().expect("pair");
    let (_, fsec1) = direct_pair(addr, corridor_core::fsec1::Suite::X25519HkdfSha256Aes256Gcm);
    let endpoint = tokio::spawn(async move {
        Endpoint::accept_framed(endpoint_io, &fsec1, &SessionOptions::default()).await
    });
    let error = Client::connect_framed(client_io, &noise, &SessionOptions::default())
        .await
        .expect_err("no common suite");
    assert!(
        matches!(&error, Error::NoCommonSuite { accepted, .. } if accepted == &["corridor.fsec1"]),
        "{error}"
    );
    assert_eq!(
        join(endpoint).await.expect_err("refused").reason(),
        "no_common_suite"
    );
}

/// One framed record: u32 length, bytes.
async fn read_record(io: &mut tokio::net::UnixStream) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await.expect("length");
    let mut record = vec![0u8; u32::from_be_bytes(len) as usize];
    io.read_exact(&mut record).await.expect("record");
    record
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_byte_stream_client_sends_its_handshake_behind_the_offer_without_waiting() {
    let (server, client) = (key(), key());
    let (client_io, mut seen) = tokio::net::UnixStream::pair().expect("pair");
    let connecting = tokio::spawn({
        let credential = credential(Pattern::IK, &client, server.public_key());
        async move { Client::connect_framed(client_io, &credential, &SessionOptions::default()).await }
    });
    // Nothing answers yet: both the offer and the first handshake message
    // must arrive anyway, which saves the client a round trip.
    let (offer, opening) = tokio::time::timeout(Duration::from_secs(5), async {
        (read_record(&mut seen).await, read_record(&mut seen).await)
    })
    .await
    .expect("the opening came without waiting for the answer");
    assert_eq!(
        corridor_core::negotiate::decode_offer(&offer).expect("an offer"),
        ["corridor.noise"]
    );

    // Then a real endpoint gets both records and the rest of the stream.
    let (mut replay, endpoint_io) = tokio::net::UnixStream::pair().expect("pair");
    let endpoint_credential = noise_endpoint(&server, Arc::new(Doorman));
    let endpoint = tokio::spawn(async move {
        Endpoint::accept_framed(
            endpoint_io,
            &endpoint_credential,
            &SessionOptions::default(),
        )
        .await
    });
    for record in [&offer, &opening] {
        replay
            .write_all(&(record.len() as u32).to_be_bytes())
            .await
            .expect("len");
        replay.write_all(record).await.expect("record");
    }
    tokio::spawn(async move { tokio::io::copy_bidirectional(&mut seen, &mut replay).await });
    let session = join(connecting).await.expect("connected");
    let served = join(endpoint).await.expect("accepted");
    assert_eq!(
        served.peer().identity.static_key(),
        Some(&client.public_key())
    );
    assert_eq!(session.peer().handshake_payload, b"welcome");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_or_unfinished_preface_is_named_and_bounded() {
    let server_key = key();
    // Something that is not a corridor peer: an HTTP request as one record.
    let (mut raw, endpoint_io) = tokio::net::UnixStream::pair().expect("pair");
    let credential = noise_endpoint(&server_key, Arc::new(AcceptAll));
    let served = credential.clone();
    let endpoint = tokio::spawn(async move {
        Endpoint::accept_framed(endpoint_io, &served, &SessionOptions::default()).await
    });
    let request = b"GET / HTTP/1.1\r\n\r\n";
    raw.write_all(&(request.len() as u32).to_be_bytes())
        .await
        .expect("len");
    raw.write_all(request).await.expect("write");
    assert_eq!(
        join(endpoint).await.expect_err("refused").reason(),
        "not_a_preface"
    );

    // An unknown suite name in an otherwise good offer.
    let (mut raw, endpoint_io) = tokio::net::UnixStream::pair().expect("pair");
    let served = credential.clone();
    let endpoint = tokio::spawn(async move {
        Endpoint::accept_framed(endpoint_io, &served, &SessionOptions::default()).await
    });
    let offer = corridor_core::negotiate::encode_offer(&["corridor.quantum"]);
    raw.write_all(&(offer.len() as u32).to_be_bytes())
        .await
        .expect("len");
    raw.write_all(&offer).await.expect("write");
    assert_eq!(
        join(endpoint).await.expect_err("refused").reason(),
        "no_common_suite"
    );

    // Half a preface, then silence: the deadline ends it.
    let (mut raw, endpoint_io) = tokio::net::UnixStream::pair().expect("pair");
    let options = SessionOptions {
        handshake_timeout: Duration::from_millis(300),
        ..SessionOptions::default()
    };
    let endpoint = tokio::spawn(async move {
        let started = tokio::time::Instant::now();
        let result = Endpoint::accept_framed(endpoint_io, &credential, &options).await;
        (result, started.elapsed())
    });
    raw.write_all(&[0, 0, 0, 20, b'C', b'R'])
        .await
        .expect("write");
    let (result, elapsed) = join(endpoint).await;
    assert_eq!(result.expect_err("timed out").reason(), "timeout");
    assert!(elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_channel_whose_grant_names_noise_binds_keys_and_grant() {
    use corridor_core::grant::GrantSuite;
    let relay = TestRelay::start().await;
    let (client_key, server_key) = (key(), key());
    let pair = relay.grants("noise-channel", GrantSuite::Noise);
    // A grant naming noise cannot be used as an fsec1 grant.
    let error = Client::connect_tunnel(&pair.client, &SessionOptions::default())
        .await
        .expect_err("noise grant");
    assert_eq!(error.reason(), "invalid_grant");
    let served = EndpointCredential::noise(
        ResponderConfig::new(server_key.clone()),
        Arc::new(Allowlist::new([client_key.public_key()])),
    );
    let server_grant = pair.server.clone();
    let endpoint = tokio::spawn(async move {
        let (options, _) = endpoint_options();
        let session = Endpoint::connect_tunnel_with(&server_grant, &served, &options)
            .await
            .expect("endpoint");
        let peer = session.peer().clone();
        serve_echo_streams(&session).await;
        peer
    });
    let mut credential = NoiseCredential::xx(client_key.clone(), "the grant decides");
    credential.server_key = Some(server_key.public_key());
    let session =
        Client::connect_tunnel_with(&pair.client, &credential, &SessionOptions::default())
            .await
            .expect("client through the relay");
    assert_eq!(
        session.peer().identity,
        PeerIdentity::StaticKey(server_key.public_key())
    );
    small_echo(&session, b"noise through a relay").await;
    session.close().await;
    let peer = join(endpoint).await;
    assert_eq!(
        peer.identity,
        PeerIdentity::StaticKey(client_key.public_key())
    );
}
