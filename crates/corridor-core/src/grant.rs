//! Channel-init grants: what a control plane hands each endpoint of a new
//! channel (where the relay is, the role's attach token, the shared E2EE PSK and
//! the allowed suites), in flowersec v1's `ChannelInitGrant` JSON shape.

use crate::keys::IssuerKey;
use crate::token::{self, Claims, TokenError};
use crate::{Role, b64};
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Seconds from minting until the channel's handshake must be done, by default.
pub const DEFAULT_INIT_WINDOW_SECS: i64 = 120;
/// Default idle timeout written into grants.
pub const DEFAULT_IDLE_TIMEOUT_SECS: i32 = 60;
/// Default lifetime of an attach token.
pub const DEFAULT_TOKEN_EXP_SECS: i64 = 60;

pub use crate::fsec1::Suite;

/// The number corridor's `noise` suite takes in a grant: outside flowersec's
/// suite numbers, so a flowersec endpoint refuses such a grant instead of
/// running fsec1 against a noise peer.
pub const NOISE_SUITE_NUMBER: u16 = 0x4E01;

/// The E2EE suite a grant names: an fsec1 key exchange (flowersec's numbers
/// 1 and 2), or corridor's `noise` suite, whose endpoints bring their own
/// static keys and mix the grant's PSK into the handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GrantSuite {
    /// fsec1 with this key exchange.
    Fsec1(Suite),
    /// noise.
    Noise,
}

impl GrantSuite {
    /// The wire number.
    pub const fn as_u16(self) -> u16 {
        match self {
            GrantSuite::Fsec1(suite) => suite.as_u16(),
            GrantSuite::Noise => NOISE_SUITE_NUMBER,
        }
    }

    /// The suite a wire number names.
    pub const fn from_u16(value: u16) -> Option<GrantSuite> {
        match value {
            NOISE_SUITE_NUMBER => Some(GrantSuite::Noise),
            other => match Suite::from_u16(other) {
                Some(suite) => Some(GrantSuite::Fsec1(suite)),
                None => None,
            },
        }
    }
}

impl From<Suite> for GrantSuite {
    fn from(suite: Suite) -> Self {
        GrantSuite::Fsec1(suite)
    }
}

impl std::str::FromStr for GrantSuite {
    type Err = String;

    /// `x25519`, `p256` (fsec1) or `noise`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "noise" => Ok(GrantSuite::Noise),
            other => other
                .parse::<Suite>()
                .map(GrantSuite::Fsec1)
                .map_err(|_| format!("unknown suite {other:?} (expected x25519, p256 or noise)")),
        }
    }
}

impl Serialize for GrantSuite {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u16(self.as_u16())
    }
}

impl<'de> Deserialize<'de> for GrantSuite {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = u16::deserialize(deserializer)?;
        GrantSuite::from_u16(value)
            .ok_or_else(|| serde::de::Error::custom(format_args!("unknown suite {value}")))
    }
}

/// One endpoint's grant for a channel.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ChannelInitGrant {
    /// WebSocket URL of the relay.
    pub tunnel_url: String,
    /// Channel shared by both endpoints.
    pub channel_id: String,
    /// Unix time by which the E2EE handshake must be done.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub channel_init_expire_at_unix_s: i64,
    /// Seconds of silence after which the relay closes the channel.
    pub idle_timeout_seconds: i32,
    /// The role this grant admits as: 1 client, 2 server.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub role: Role,
    /// The role's single-use attach token.
    pub token: String,
    /// The 32-byte pre-shared key both endpoints authenticate the handshake with.
    pub e2ee_psk_b64u: String,
    /// Suites the endpoints may use: 1 fsec1 X25519, 2 fsec1 P-256, 0x4E01 noise.
    #[cfg_attr(feature = "ts", ts(type = "number[]"))]
    pub allowed_suites: Vec<GrantSuite>,
    /// The suite the client proposes.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub default_suite: GrantSuite,
}

impl std::fmt::Debug for ChannelInitGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelInitGrant")
            .field("tunnel_url", &self.tunnel_url)
            .field("channel_id", &self.channel_id)
            .field("init_exp", &self.channel_init_expire_at_unix_s)
            .field("idle_timeout_seconds", &self.idle_timeout_seconds)
            .field("role", &self.role)
            .field("token", &"[REDACTED]")
            .field("e2ee_psk_b64u", &"[REDACTED]")
            .field("allowed_suites", &self.allowed_suites)
            .field("default_suite", &self.default_suite)
            .finish()
    }
}

/// How grants are minted.
#[derive(Clone, Debug)]
pub struct GrantParams {
    /// The relay's WebSocket URL, copied into each grant.
    pub tunnel_url: String,
    /// The relay's audience (`--aud`).
    pub audience: String,
    /// The issuer id (`--iss`).
    pub issuer: String,
    /// Seconds from minting to `init_exp`.
    pub init_window_secs: i64,
    /// Idle timeout written into the tokens.
    pub idle_timeout_secs: i32,
    /// Lifetime of each token (capped at `init_exp`).
    pub token_exp_secs: i64,
    /// Allowed suites; the first is the default.
    pub suites: Vec<GrantSuite>,
}

impl Default for GrantParams {
    fn default() -> Self {
        Self {
            tunnel_url: String::new(),
            audience: String::new(),
            issuer: String::new(),
            init_window_secs: DEFAULT_INIT_WINDOW_SECS,
            idle_timeout_secs: DEFAULT_IDLE_TIMEOUT_SECS,
            token_exp_secs: DEFAULT_TOKEN_EXP_SECS,
            suites: vec![Suite::X25519HkdfSha256Aes256Gcm.into()],
        }
    }
}

/// Why grants could not be minted.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// A parameter is missing or out of range.
    #[error("invalid grant parameter: {0}")]
    InvalidParam(&'static str),
    /// The token could not be signed.
    #[error(transparent)]
    Token(#[from] TokenError),
}

/// A grant pair for one channel: one for each role, same PSK.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GrantPair {
    /// The client endpoint's grant.
    pub client: ChannelInitGrant,
    /// The server endpoint's grant.
    pub server: ChannelInitGrant,
}

/// A fresh random channel id: `ch_` and 16 random bytes in base64url.
pub fn random_channel_id(rng: &mut impl CryptoRngCore) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    format!("ch_{}", b64::encode(bytes))
}

/// Mints the grants of a new channel at time `now` (Unix seconds).
///
/// ```
/// use corridor_core::{grant, keys::IssuerKey, token, Role};
/// let key = IssuerKey::generate("k1", &mut rand_core::OsRng).unwrap();
/// let params = grant::GrantParams {
///     tunnel_url: "ws://127.0.0.1:8080/ws".into(), audience: "relay".into(),
///     issuer: "cp".into(), ..Default::default()
/// };
/// let pair = grant::mint(&key, &params, "ch-1", 1_000_000, &mut rand_core::OsRng).unwrap();
/// assert_eq!(pair.client.role, Role::Client);
/// assert_eq!(pair.client.e2ee_psk_b64u, pair.server.e2ee_psk_b64u);
/// let claims = token::parse(&pair.server.token).unwrap().claims;
/// assert_eq!((claims.role, claims.channel_id.as_str()), (Role::Server, "ch-1"));
/// ```
pub fn mint(
    key: &IssuerKey,
    params: &GrantParams,
    channel_id: &str,
    now: i64,
    rng: &mut impl CryptoRngCore,
) -> Result<GrantPair, GrantError> {
    if params.tunnel_url.trim().is_empty() {
        return Err(GrantError::InvalidParam("tunnel_url is empty"));
    }
    if params.audience.trim().is_empty() {
        return Err(GrantError::InvalidParam("audience is empty"));
    }
    if params.init_window_secs <= 0 || params.token_exp_secs <= 0 {
        return Err(GrantError::InvalidParam(
            "init window and token lifetime must be positive",
        ));
    }
    let default_suite = *params
        .suites
        .first()
        .ok_or(GrantError::InvalidParam("no suite allowed"))?;
    let mut psk = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(psk.as_mut());
    let psk_b64u = b64::encode(psk.as_ref());
    let init_exp = now.saturating_add(params.init_window_secs);
    let mut grant_for = |role: Role| -> Result<ChannelInitGrant, GrantError> {
        let mut token_id = [0u8; 24];
        rng.fill_bytes(&mut token_id);
        let iat = now.min(init_exp);
        let claims = Claims {
            kid: key.kid().to_owned(),
            aud: params.audience.clone(),
            iss: params.issuer.clone(),
            channel_id: channel_id.to_owned(),
            role,
            token_id: b64::encode(token_id),
            init_exp,
            idle_timeout_seconds: params.idle_timeout_secs,
            iat,
            exp: iat.saturating_add(params.token_exp_secs).min(init_exp),
        };
        Ok(ChannelInitGrant {
            tunnel_url: params.tunnel_url.clone(),
            channel_id: channel_id.to_owned(),
            channel_init_expire_at_unix_s: init_exp,
            idle_timeout_seconds: params.idle_timeout_secs,
            role,
            token: token::sign(key.signing_key(), claims)?,
            e2ee_psk_b64u: psk_b64u.clone(),
            allowed_suites: params.suites.clone(),
            default_suite,
        })
    };
    Ok(GrantPair {
        client: grant_for(Role::Client)?,
        server: grant_for(Role::Server)?,
    })
}

/// What a client needs to reach an endpoint directly, without a relay: in
/// flowersec v1's `DirectConnectInfo` JSON shape.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DirectInfo {
    /// WebSocket URL the endpoint listens on.
    pub ws_url: String,
    /// The channel id bound into the handshake.
    pub channel_id: String,
    /// The 32-byte pre-shared key, base64url.
    pub e2ee_psk_b64u: String,
    /// Unix time by which the handshake must be done.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub channel_init_expire_at_unix_s: i64,
    /// The suite the client proposes: 1 X25519, 2 P-256.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub default_suite: Suite,
}

impl std::fmt::Debug for DirectInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectInfo")
            .field("ws_url", &self.ws_url)
            .field("channel_id", &self.channel_id)
            .field("e2ee_psk_b64u", &"[REDACTED]")
            .field("init_exp", &self.channel_init_expire_at_unix_s)
            .field("default_suite", &self.default_suite)
            .finish()
    }
}

/// Decodes a grant's base64url PSK into its 32 bytes.
pub fn decode_psk(psk_b64u: &str) -> Option<Zeroizing<[u8; 32]>> {
    b64::decode_array::<32>(psk_b64u).map(Zeroizing::new)
}

#[cfg(test)]
mod suite_tests {
    use super::*;

    #[test]
    fn grant_suites_keep_flowersec_numbers_and_add_noise() {
        let json = |suite: GrantSuite| serde_json::to_string(&suite).expect("json");
        assert_eq!(json(Suite::X25519HkdfSha256Aes256Gcm.into()), "1");
        assert_eq!(json(Suite::P256HkdfSha256Aes256Gcm.into()), "2");
        assert_eq!(json(GrantSuite::Noise), NOISE_SUITE_NUMBER.to_string());
        let back: GrantSuite = serde_json::from_str(&json(GrantSuite::Noise)).expect("parse");
        assert_eq!(back, GrantSuite::Noise);
        assert!(serde_json::from_str::<GrantSuite>("3").is_err());
        assert_eq!("noise".parse(), Ok(GrantSuite::Noise));
    }
}
