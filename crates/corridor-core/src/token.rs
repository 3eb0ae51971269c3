//! FST2 attach tokens: `FST2.<b64url(payload JSON)>.<b64url(Ed25519 signature)>`.
//!
//! The signature covers the ASCII of `FST2.<payload part>`. A token names one
//! channel, one role and one `token_id` (single use, enforced by the relay), and
//! is only good until `exp`, which never lies after the channel's `init_exp`.
//! Verification follows flowersec v1's checks in flowersec v1's order, so a token
//! one side accepts the other accepts too.

use crate::Role;
use crate::b64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;

/// The token format tag, the text before the first dot.
pub const PREFIX: &str = "FST2";
/// Longest channel id a token may carry, in bytes (after trimming).
pub const MAX_CHANNEL_ID_BYTES: usize = 256;
/// Longest token text accepted at all; longer input is refused before decoding.
pub const MAX_TOKEN_BYTES: usize = 4096;
/// Default tolerated clock difference between issuer and verifier.
pub const DEFAULT_CLOCK_SKEW_SECS: i64 = 30;

/// The signed claims of a token.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// Id of the issuer key that signed the token.
    pub kid: String,
    /// Audience: the relay deployment the token is for.
    pub aud: String,
    /// Issuer id; empty when the issuer does not name itself.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub iss: String,
    /// Channel the token admits to.
    pub channel_id: String,
    /// Role the token admits as.
    pub role: Role,
    /// Single-use id; a relay refuses a second attach with the same one.
    pub token_id: String,
    /// Unix time by which the channel's E2EE handshake must have finished.
    pub init_exp: i64,
    /// Seconds of silence after which the relay closes the channel.
    pub idle_timeout_seconds: i32,
    /// Issued-at, Unix seconds.
    pub iat: i64,
    /// Expiry, Unix seconds; at most `init_exp`.
    pub exp: i64,
}

/// Why a token was refused.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
pub enum TokenError {
    /// Not three dot-separated parts starting with `FST2`, over the size limit,
    /// or claims that break a structural rule (empty kid, bad channel id, `iat > exp`).
    #[error("token invalid format")]
    InvalidFormat,
    /// A part is not base64url without padding.
    #[error("token invalid base64url")]
    InvalidBase64,
    /// The payload is not the claims JSON.
    #[error("token invalid json")]
    InvalidJson,
    /// No issuer key with the token's `kid`.
    #[error("token unknown kid")]
    UnknownKid,
    /// The signature does not verify under the issuer key.
    #[error("token invalid signature")]
    InvalidSignature,
    /// `aud` is not the verifier's audience.
    #[error("token invalid audience")]
    InvalidAudience,
    /// `iss` is not the verifier's issuer.
    #[error("token invalid issuer")]
    InvalidIssuer,
    /// `exp` has passed (beyond the clock skew).
    #[error("token expired")]
    Expired,
    /// `iat` lies in the future (beyond the clock skew).
    #[error("token iat in future")]
    IatInFuture,
    /// The channel's `init_exp` has passed (beyond the clock skew).
    #[error("token init window expired")]
    InitExpired,
    /// `exp` lies after `init_exp`.
    #[error("token exp > init_exp")]
    ExpAfterInit,
    /// `idle_timeout_seconds` is not positive.
    #[error("token invalid idle timeout")]
    InvalidIdleTimeout,
}

/// Finds the verifying key for a key id.
pub trait KeyLookup {
    /// The key named `kid`, if the verifier trusts one.
    fn lookup(&self, kid: &str) -> Option<VerifyingKey>;
}

impl KeyLookup for std::collections::HashMap<String, VerifyingKey> {
    fn lookup(&self, kid: &str) -> Option<VerifyingKey> {
        self.get(kid).copied()
    }
}

/// What a verifier expects of a token besides a good signature.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct VerifyOptions {
    /// The verifier's clock, Unix seconds.
    pub now_unix_s: i64,
    /// Required `aud`, if any.
    pub audience: Option<String>,
    /// Required `iss`, if any.
    pub issuer: Option<String>,
    /// Tolerated clock difference in seconds.
    pub clock_skew_secs: i64,
}

/// A token split into its parts, claims decoded but nothing verified yet.
#[derive(Clone, Eq, PartialEq)]
pub struct ParsedToken {
    /// The decoded, not yet trusted claims.
    pub claims: Claims,
    signed_len: usize,
    signature: Vec<u8>,
    text: String,
}

impl std::fmt::Debug for ParsedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedToken")
            .field("claims", &self.claims)
            .field("signature", &"[REDACTED]")
            .finish()
    }
}

/// Signs claims into a token. The claims are checked first, so a token this
/// function returns is one a verifier with the same key and clock accepts.
///
/// ```
/// use corridor_core::{Role, token};
/// use ed25519_dalek::SigningKey;
/// use std::collections::HashMap;
///
/// let key = SigningKey::from_bytes(&[7; 32]);
/// let claims = token::Claims {
///     kid: "k1".into(), aud: "relay".into(), iss: "cp".into(),
///     channel_id: "ch-1".into(), role: Role::Client, token_id: "t-1".into(),
///     init_exp: 1_000_120, idle_timeout_seconds: 60, iat: 1_000_000, exp: 1_000_060,
/// };
/// let text = token::sign(&key, claims.clone()).unwrap();
/// let keys = HashMap::from([("k1".to_string(), key.verifying_key())]);
/// let options = token::VerifyOptions { now_unix_s: 1_000_010, ..Default::default() };
/// assert_eq!(token::verify(&text, &keys, &options).unwrap(), claims);
/// ```
pub fn sign(key: &SigningKey, mut claims: Claims) -> Result<String, TokenError> {
    if claims.aud.trim().is_empty() {
        return Err(TokenError::InvalidFormat);
    }
    check_structure(&mut claims)?;
    if claims.init_exp <= 0 || claims.iat <= 0 || claims.exp <= 0 {
        return Err(TokenError::InvalidFormat);
    }
    check_timestamps(&claims)?;
    let payload = serde_json::to_vec(&claims).map_err(|_| TokenError::InvalidJson)?;
    let signed = format!("{PREFIX}.{}", b64::encode(payload));
    let signature = key.sign(signed.as_bytes());
    Ok(format!("{signed}.{}", b64::encode(signature.to_bytes())))
}

/// Splits and decodes a token without verifying it.
pub fn parse(text: &str) -> Result<ParsedToken, TokenError> {
    if text.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::InvalidFormat);
    }
    let mut parts = text.split('.');
    let (Some(PREFIX), Some(payload_part), Some(signature_part), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::InvalidFormat);
    };
    let payload = b64::decode(payload_part).map_err(|_| TokenError::InvalidBase64)?;
    let signature = b64::decode(signature_part).map_err(|_| TokenError::InvalidBase64)?;
    let claims = serde_json::from_slice(&payload).map_err(|_| TokenError::InvalidJson)?;
    Ok(ParsedToken {
        claims,
        signed_len: PREFIX.len() + 1 + payload_part.len(),
        signature,
        text: text.to_owned(),
    })
}

/// Parses and verifies a token, returning its claims.
pub fn verify(
    text: &str,
    keys: &impl KeyLookup,
    options: &VerifyOptions,
) -> Result<Claims, TokenError> {
    verify_parsed(parse(text)?, keys, options)
}

/// Verifies an already parsed token: structure, key, signature, audience,
/// issuer, then the clock, in that order.
pub fn verify_parsed(
    parsed: ParsedToken,
    keys: &impl KeyLookup,
    options: &VerifyOptions,
) -> Result<Claims, TokenError> {
    let ParsedToken {
        mut claims,
        signed_len,
        signature,
        text,
    } = parsed;
    check_structure(&mut claims)?;
    let key = keys
        .lookup(claims.kid.trim())
        .ok_or(TokenError::UnknownKid)?;
    let signature = Signature::from_slice(&signature).map_err(|_| TokenError::InvalidSignature)?;
    key.verify(&text.as_bytes()[..signed_len], &signature)
        .map_err(|_| TokenError::InvalidSignature)?;
    if let Some(audience) = &options.audience {
        if !constant_time_eq(claims.aud.as_bytes(), audience.as_bytes()) {
            return Err(TokenError::InvalidAudience);
        }
    }
    if let Some(issuer) = &options.issuer {
        if !constant_time_eq(claims.iss.as_bytes(), issuer.as_bytes()) {
            return Err(TokenError::InvalidIssuer);
        }
    }
    check_timestamps(&claims)?;
    let skew = options.clock_skew_secs.max(0);
    let now = options.now_unix_s;
    if claims.iat > now.saturating_add(skew) {
        return Err(TokenError::IatInFuture);
    }
    let earliest = now.saturating_sub(skew);
    if claims.init_exp < earliest {
        return Err(TokenError::InitExpired);
    }
    if claims.exp < earliest {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

fn check_structure(claims: &mut Claims) -> Result<(), TokenError> {
    if claims.kid.trim().is_empty() || claims.token_id.trim().is_empty() {
        return Err(TokenError::InvalidFormat);
    }
    let channel_id = claims.channel_id.trim();
    if channel_id.is_empty() || channel_id.len() > MAX_CHANNEL_ID_BYTES {
        return Err(TokenError::InvalidFormat);
    }
    if channel_id.len() != claims.channel_id.len() {
        claims.channel_id = channel_id.to_owned();
    }
    if claims.idle_timeout_seconds <= 0 {
        return Err(TokenError::InvalidIdleTimeout);
    }
    Ok(())
}

fn check_timestamps(claims: &Claims) -> Result<(), TokenError> {
    if claims.exp > claims.init_exp {
        return Err(TokenError::ExpAfterInit);
    }
    if claims.iat > claims.exp {
        return Err(TokenError::InvalidFormat);
    }
    Ok(())
}

fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    left.len() == right.len() && bool::from(left.ct_eq(right))
}
