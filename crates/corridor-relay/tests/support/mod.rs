//! Shared test helpers: an in-process relay with its own issuer key, grant
//! minting, a raw WebSocket client for hostile input, and the conversion of
//! corridor grants into the flowersec crate's type.

#![allow(dead_code)]

use corridor_core::grant::{self, ChannelInitGrant, GrantPair, GrantParams};
use corridor_core::keys::IssuerKey;
use corridor_core::token::{self, Claims};
use corridor_core::{Role, b64};
use corridor_relay::{Relay, RelayConfig, RelayHandle};
use futures_util::{SinkExt as _, StreamExt as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const AUD: &str = "test-aud";
pub const ISS: &str = "test-iss";

/// A raw WebSocket client.
pub type RawWs = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A relay running in this process on loopback.
pub struct TestRelay {
    pub handle: RelayHandle,
    pub addr: SocketAddr,
    /// The separate metrics listener, with `metrics_listen` configured.
    pub metrics_addr: Option<SocketAddr>,
    pub ws_url: String,
    pub key: IssuerKey,
    pub keys_file: PathBuf,
    pub dir: tempfile::TempDir,
    /// Every token's `init_exp`: both ends of a channel must agree on it,
    /// so it cannot follow the clock across a second boundary mid-test.
    pub init_exp: i64,
}

impl TestRelay {
    pub async fn start() -> TestRelay {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut RelayConfig)) -> TestRelay {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = IssuerKey::generate("k1", &mut rand_core::OsRng).expect("key");
        let keys_file = dir.path().join("issuer_keys.json");
        std::fs::write(&keys_file, key.to_public_json()).expect("write keys");
        let mut config = RelayConfig::new(&keys_file, AUD, ISS);
        config.origins.allow_no_origin = true;
        config.origins.allowed = vec!["https://app.example.com".into()];
        adjust(&mut config);
        let relay = Relay::bind(config).await.expect("relay binds");
        let handle = relay.handle();
        let addr = relay.local_addr();
        let metrics_addr = relay.metrics_addr();
        let ws_url = relay.ws_url();
        tokio::spawn(relay.run());
        TestRelay {
            handle,
            addr,
            metrics_addr,
            ws_url,
            key,
            keys_file,
            dir,
            init_exp: now() + 120,
        }
    }

    /// A grant pair for `channel_id`, signed by the relay's trusted key.
    pub fn grants(&self, channel_id: &str) -> GrantPair {
        let params = GrantParams {
            tunnel_url: self.ws_url.clone(),
            audience: AUD.into(),
            issuer: ISS.into(),
            ..GrantParams::default()
        };
        grant::mint(&self.key, &params, channel_id, now(), &mut rand_core::OsRng).expect("mint")
    }

    /// Valid claims for a token, to be altered by a test.
    pub fn claims(&self, channel_id: &str, role: Role) -> Claims {
        let now = now();
        Claims {
            kid: "k1".into(),
            aud: AUD.into(),
            iss: ISS.into(),
            channel_id: channel_id.into(),
            role,
            token_id: format!("tok-{}", b64::encode(random_bytes())),
            init_exp: self.init_exp,
            idle_timeout_seconds: 60,
            iat: now,
            exp: now + 60,
        }
    }

    /// Signs claims with the relay's trusted key.
    pub fn sign(&self, claims: Claims) -> String {
        token::sign(self.key.signing_key(), claims).expect("sign")
    }

    /// A valid token for `channel_id` and `role`.
    pub fn token(&self, channel_id: &str, role: Role) -> String {
        self.sign(self.claims(channel_id, role))
    }

    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn random_bytes() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
    bytes
}

/// The attach message an endpoint sends.
pub fn attach_json(channel_id: &str, role: Role, token: &str) -> String {
    serde_json::json!({
        "v": 1,
        "channel_id": channel_id,
        "role": role.as_u8(),
        "token": token,
        "endpoint_instance_id": b64::encode(random_bytes()),
    })
    .to_string()
}

/// Opens a raw WebSocket to the relay (no Origin header).
pub async fn raw_connect(relay: &TestRelay) -> RawWs {
    let (ws, _) = tokio_tungstenite::connect_async(relay.ws_url.as_str())
        .await
        .expect("websocket connects");
    ws
}

/// Connects and sends an attach message for `channel_id` and `role`.
pub async fn raw_attach(relay: &TestRelay, channel_id: &str, role: Role) -> RawWs {
    let mut ws = raw_connect(relay).await;
    let token = relay.token(channel_id, role);
    ws.send(Message::text(attach_json(channel_id, role, &token)))
        .await
        .expect("send attach");
    ws
}

/// Reads until the relay closes; returns the close code and reason.
/// Fails the test if nothing closes within 10 s.
pub async fn expect_close(ws: &mut RawWs) -> (u16, String) {
    let read = async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(Some(frame)))) => {
                    return (u16::from(frame.code), frame.reason.to_string());
                }
                Some(Ok(Message::Close(None))) => return (1005, String::new()),
                Some(Ok(_)) => continue,
                Some(Err(error)) => return (1006, error.to_string()),
                None => return (1006, "eof".into()),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("relay closes within 10 s")
}

/// Reads the next data message, failing on close or after 10 s.
pub async fn next_binary(ws: &mut RawWs) -> Vec<u8> {
    let read = async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Binary(bytes))) => return bytes.to_vec(),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("expected a binary message, got {other:?}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("message within 10 s")
}

/// Proves the relay still serves: a fresh pair attaches and a message crosses.
pub async fn assert_relay_serves(relay: &TestRelay) {
    let channel = format!("alive-{}", b64::encode(random_bytes()));
    let mut server = raw_attach(relay, &channel, Role::Server).await;
    let mut client = raw_attach(relay, &channel, Role::Client).await;
    client
        .send(Message::binary(b"still here".to_vec()))
        .await
        .expect("send");
    assert_eq!(next_binary(&mut server).await, b"still here");
}

/// The flowersec crate's grant type for a corridor grant: the JSON is the same.
pub fn to_flowersec(
    grant: &ChannelInitGrant,
) -> flowersec::generated::flowersec::controlplane::v1::ChannelInitGrant {
    serde_json::from_value(serde_json::to_value(grant).expect("grant json"))
        .expect("flowersec reads corridor's grant")
}

/// A metric's value: the sum over its series whose labels contain `labels`.
pub fn metric(relay: &TestRelay, name: &str, labels: &str) -> f64 {
    let text = relay.handle.metrics().encode();
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.split(['{', ' '])
                .next()
                .is_some_and(|metric| metric == name)
        })
        .filter(|line| line.contains(labels))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A minimal HTTP/1.1 GET; returns the status and body.
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    status_and_body(&response)
}

/// The status code and body of a whole HTTP/1.1 response.
pub fn status_and_body(response: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(response);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Waits (up to 10 s) until `condition` holds, re-checking as the runtime
/// makes progress; panics with `what` otherwise.
pub async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A frame shaped like an FSEC record (magic, version 1, matching length).
pub fn fsec_like_record(seq: u64, payload: &[u8]) -> Vec<u8> {
    let mut frame = b"FSEC\x01\x00".to_vec();
    frame.extend_from_slice(&seq.to_be_bytes());
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}
