//! With a certificate and key the relay serves wss:// and https:// (the
//! separate metrics listener too, as flowersec-tunnel does), and a channel
//! pairs over TLS exactly as over plain WebSocket.

mod support;

use corridor_core::Role;
use futures_util::SinkExt as _;
use std::sync::Arc;
use support::*;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// A self-signed certificate for `localhost`, written where the relay reads it.
struct SelfSigned {
    roots: rustls::RootCertStore,
    files: corridor_relay::TlsFiles,
    _dir: tempfile::TempDir,
}

fn self_signed() -> SelfSigned {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
    let dir = tempfile::tempdir().expect("tempdir");
    let files = corridor_relay::TlsFiles {
        cert: dir.path().join("cert.pem"),
        key: dir.path().join("key.pem"),
    };
    std::fs::write(&files.cert, cert.cert.pem()).expect("write cert");
    std::fs::write(&files.key, cert.signing_key.serialize_pem()).expect("write key");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).expect("root");
    SelfSigned {
        roots,
        files,
        _dir: dir,
    }
}

/// A TLS connection to `addr` that trusts only `roots`.
async fn tls_connect(
    addr: std::net::SocketAddr,
    roots: &rustls::RootCertStore,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots.clone())
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    connector.connect(name, tcp).await.expect("tls handshake")
}

/// An HTTP/1.1 GET over TLS: the status and body.
async fn https_get(
    addr: std::net::SocketAddr,
    roots: &rustls::RootCertStore,
    path: &str,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut tls = tls_connect(addr, roots).await;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    // A peer that closes without close_notify is still a complete HTTP/1.1
    // response here (Connection: close).
    let _ = tls.read_to_end(&mut response).await;
    status_and_body(&response)
}

async fn wss_attach(
    relay: &TestRelay,
    roots: &rustls::RootCertStore,
    channel: &str,
    role: Role,
) -> tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>> {
    let tls = tls_connect(relay.addr, roots).await;
    assert!(relay.ws_url.starts_with("wss://"));
    let (mut ws, _) = tokio_tungstenite::client_async(relay.ws_url.as_str(), tls)
        .await
        .expect("websocket over tls");
    let token = relay.token(channel, role);
    ws.send(Message::text(attach_json(channel, role, &token)))
        .await
        .expect("attach");
    ws
}

#[tokio::test]
async fn channel_pairs_over_tls() {
    let tls = self_signed();
    let relay = TestRelay::start_with(|config| config.tls = Some(tls.files.clone())).await;
    let mut server = wss_attach(&relay, &tls.roots, "tls-ch", Role::Server).await;
    let mut client = wss_attach(&relay, &tls.roots, "tls-ch", Role::Client).await;
    client
        .send(Message::binary(b"over tls".to_vec()))
        .await
        .expect("send");
    let got = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        use futures_util::StreamExt as _;
        loop {
            match server.next().await {
                Some(Ok(Message::Binary(bytes))) => return bytes.to_vec(),
                Some(Ok(_)) => continue,
                other => panic!("{other:?}"),
            }
        }
    })
    .await
    .expect("message within 10 s");
    assert_eq!(got, b"over tls");
}

#[tokio::test]
async fn healthz_and_the_separate_metrics_listener_are_served_over_tls() {
    let tls = self_signed();
    let relay = TestRelay::start_with(|config| {
        config.tls = Some(tls.files.clone());
        config.metrics_listen = Some("127.0.0.1:0".parse().expect("addr"));
        config.metrics_enabled = true;
    })
    .await;
    assert_eq!(
        https_get(relay.addr, &tls.roots, "/healthz").await,
        (200, "ok".to_owned())
    );
    let metrics_addr = relay.metrics_addr.expect("metrics listener");
    let (status, body) = https_get(metrics_addr, &tls.roots, "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        body.contains("# TYPE flowersec_tunnel_connections gauge"),
        "{body}"
    );
}

#[tokio::test]
async fn unreadable_certificate_is_a_configuration_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = corridor_core::keys::IssuerKey::generate("k1", &mut rand_core::OsRng).expect("key");
    let keys_file = dir.path().join("keys.json");
    std::fs::write(&keys_file, key.to_public_json()).expect("write");
    let mut config = corridor_relay::RelayConfig::new(&keys_file, AUD, ISS);
    config.origins.allow_no_origin = true;
    config.tls = Some(corridor_relay::TlsFiles {
        cert: dir.path().join("missing.pem"),
        key: dir.path().join("missing-key.pem"),
    });
    let error = corridor_relay::Relay::bind(config)
        .await
        .expect_err("refused");
    assert!(error.to_string().contains("--tls-cert-file"), "{error}");
}
