//! With a certificate and key the relay serves wss:// and https://, and a
//! channel pairs over TLS exactly as over plain WebSocket.

mod support;

use corridor_core::Role;
use futures_util::SinkExt as _;
use std::sync::Arc;
use support::*;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

async fn wss_attach(
    relay: &TestRelay,
    roots: &rustls::RootCertStore,
    channel: &str,
    role: Role,
) -> tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots.clone())
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(relay.addr).await.expect("connect");
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    let tls = connector.connect(name, tcp).await.expect("tls handshake");
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
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
    let dir = tempfile::tempdir().expect("tempdir");
    let cert_file = dir.path().join("cert.pem");
    let key_file = dir.path().join("key.pem");
    std::fs::write(&cert_file, cert.cert.pem()).expect("write cert");
    std::fs::write(&key_file, cert.signing_key.serialize_pem()).expect("write key");
    let relay = TestRelay::start_with(|config| {
        config.tls = Some(corridor_relay::TlsFiles {
            cert: cert_file.clone(),
            key: key_file.clone(),
        });
    })
    .await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).expect("root");

    let mut server = wss_attach(&relay, &roots, "tls-ch", Role::Server).await;
    let mut client = wss_attach(&relay, &roots, "tls-ch", Role::Client).await;
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
