//! Test support shared by corridor's crates (a dev-dependency only): a relay
//! running in the test's process with an issuer key of its own, grants and
//! tokens it trusts, a bounded wait on a condition, a plain HTTP GET, and the
//! flowersec crate's types for corridor's grants (the peer of the interop
//! tests).

pub mod bench;
pub mod flowersec_peer;
pub mod postgres;

use corridor_core::grant::{
    self, ChannelInitGrant, DirectInfo, GrantPair, GrantParams, GrantSuite,
};
use corridor_core::keys::IssuerKey;
use corridor_core::token::{self, Claims};
use corridor_core::{Role, b64};
use corridor_relay::{Relay, RelayConfig, RelayHandle};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The test relay's audience.
pub const AUD: &str = "test-aud";
/// The test relay's issuer id.
pub const ISS: &str = "test-iss";

/// A relay running in this process on loopback.
pub struct TestRelay {
    /// Stops it, reloads keys, reads its metrics.
    pub handle: RelayHandle,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The separate metrics listener, with `metrics_listen` configured.
    pub metrics_addr: Option<SocketAddr>,
    /// Its tunnel URL.
    pub ws_url: String,
    /// The issuer key it trusts.
    pub key: IssuerKey,
    /// The public keys file it reads.
    pub keys_file: PathBuf,
    /// Holds the keys file.
    pub dir: tempfile::TempDir,
    /// Every hand-made token's `init_exp`: both ends of a channel must agree
    /// on it, so it cannot follow the clock across a second boundary mid-test.
    pub init_exp: i64,
}

impl TestRelay {
    /// A relay admitting clients without an Origin and from `https://app.example.com`.
    pub async fn start() -> TestRelay {
        Self::start_with(|_| {}).await
    }

    /// [`TestRelay::start`], with the configuration adjusted first.
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

    /// The grant parameters of this relay: its URL, audience and issuer.
    pub fn grant_params(&self) -> GrantParams {
        GrantParams {
            tunnel_url: self.ws_url.clone(),
            audience: AUD.into(),
            issuer: ISS.into(),
            ..GrantParams::default()
        }
    }

    /// A copy of the trusted issuer key (for a control plane minting on this relay).
    pub fn issuer_key(&self) -> IssuerKey {
        IssuerKey::from_private_json(self.key.to_private_json().as_bytes()).expect("key copy")
    }

    /// A grant pair for `channel_id` with `suite`, signed by the trusted key.
    pub fn grants(&self, channel_id: &str, suite: impl Into<GrantSuite>) -> GrantPair {
        self.grants_with(channel_id, suite, |_| {})
    }

    /// [`TestRelay::grants`] with the parameters adjusted first.
    pub fn grants_with(
        &self,
        channel_id: &str,
        suite: impl Into<GrantSuite>,
        adjust: impl FnOnce(&mut GrantParams),
    ) -> GrantPair {
        let mut params = GrantParams {
            suites: vec![suite.into()],
            ..self.grant_params()
        };
        adjust(&mut params);
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

    /// Signs claims with the trusted key.
    pub fn sign(&self, claims: Claims) -> String {
        token::sign(self.key.signing_key(), claims).expect("sign")
    }

    /// A valid token for `channel_id` and `role`.
    pub fn token(&self, channel_id: &str, role: Role) -> String {
        self.sign(self.claims(channel_id, role))
    }

    /// `http://ADDR/PATH` on the relay's listener.
    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

/// Unix time in seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// 16 random bytes.
pub fn random_bytes() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
    bytes
}

/// Waits (up to 10 s) until `condition` holds, re-checking every few
/// milliseconds; panics with `what` otherwise.
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

/// `future`'s output, or a panic naming `what` after 10 s: a test that
/// would otherwise wait forever says what it waited for.
pub async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// The flowersec crate's grant type for a corridor grant: the JSON is the same.
pub fn to_flowersec(
    grant: &ChannelInitGrant,
) -> flowersec::generated::flowersec::controlplane::v1::ChannelInitGrant {
    serde_json::from_value(serde_json::to_value(grant).expect("grant json"))
        .expect("flowersec reads corridor's grant")
}

/// The flowersec crate's direct connect info for corridor's.
pub fn to_flowersec_direct(
    info: &DirectInfo,
) -> flowersec::generated::flowersec::direct::v1::DirectConnectInfo {
    serde_json::from_value(serde_json::to_value(info).expect("info json"))
        .expect("flowersec reads corridor's info")
}

/// A minimal HTTP/1.1 GET; returns the status and body.
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
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
