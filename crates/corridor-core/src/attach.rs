//! The relay attach message: the first WebSocket message an endpoint sends, a
//! TEXT JSON `{v, channel_id, role, token, endpoint_instance_id}`.
//!
//! Parsing follows flowersec v1's rules and order (size, JSON, version,
//! channel id, role, token, endpoint instance id), so the same input is refused
//! with the same reason by either relay.

use crate::{Role, b64};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The attach envelope version this crate speaks.
pub const ATTACH_VERSION: i64 = 1;

/// Size limits on an attach message.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct AttachLimits {
    /// Largest attach message, in bytes.
    pub max_attach_bytes: usize,
    /// Longest channel id, in bytes.
    pub max_channel_id_bytes: usize,
    /// Longest token, in bytes.
    pub max_token_bytes: usize,
}

impl Default for AttachLimits {
    /// flowersec v1's limits: 8 KiB message, 256-byte channel id, 2 KiB token.
    fn default() -> Self {
        Self {
            max_attach_bytes: 8 * 1024,
            max_channel_id_bytes: 256,
            max_token_bytes: 2048,
        }
    }
}

/// Shortest and longest decoded endpoint instance id, in bytes.
pub const ENDPOINT_INSTANCE_ID_BYTES: std::ops::RangeInclusive<usize> = 16..=32;

/// A parsed, structurally valid attach message (the token is not verified yet).
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Attach {
    /// Envelope version, always [`ATTACH_VERSION`].
    pub v: i64,
    /// Channel to join, trimmed.
    pub channel_id: String,
    /// Role to join as.
    pub role: Role,
    /// The FST2 attach token, trimmed.
    pub token: String,
    /// Base64url id of this endpoint process, 16 to 32 bytes decoded.
    pub endpoint_instance_id: String,
    /// Optional capabilities, carried through unread.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caps: Option<BTreeMap<String, String>>,
}

impl std::fmt::Debug for Attach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attach")
            .field("v", &self.v)
            .field("channel_id", &self.channel_id)
            .field("role", &self.role)
            .field("token", &"[REDACTED]")
            .field("endpoint_instance_id", &self.endpoint_instance_id)
            .finish()
    }
}

/// Why an attach message was refused.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
pub enum AttachError {
    /// Larger than the limit.
    #[error("attach too large")]
    TooLarge,
    /// Not a JSON object of the attach shape.
    #[error("attach invalid json")]
    InvalidJson,
    /// `v` is not [`ATTACH_VERSION`].
    #[error("attach invalid version")]
    InvalidVersion,
    /// `channel_id` is empty.
    #[error("attach missing channel_id")]
    MissingChannelId,
    /// `channel_id` is too long.
    #[error("attach invalid channel_id")]
    InvalidChannelId,
    /// `role` is neither 1 nor 2.
    #[error("attach invalid role")]
    InvalidRole,
    /// `token` is empty.
    #[error("attach missing token")]
    MissingToken,
    /// `token` is too long.
    #[error("attach invalid token")]
    InvalidToken,
    /// `endpoint_instance_id` is empty.
    #[error("attach missing endpoint_instance_id")]
    MissingEndpointInstanceId,
    /// `endpoint_instance_id` is not base64url of 16 to 32 bytes.
    #[error("attach invalid endpoint_instance_id")]
    InvalidEndpointInstanceId,
}

/// The wire shape before validation: every field optional, so a missing field
/// is reported by name rather than as bad JSON.
#[derive(Deserialize)]
struct RawAttach {
    #[serde(default)]
    v: i64,
    #[serde(default)]
    channel_id: String,
    #[serde(default)]
    role: i64,
    #[serde(default)]
    token: String,
    #[serde(default)]
    endpoint_instance_id: String,
    #[serde(default)]
    caps: Option<BTreeMap<String, String>>,
}

impl Attach {
    /// Parses and validates an attach message.
    ///
    /// ```
    /// use corridor_core::attach::{Attach, AttachError, AttachLimits};
    /// let text = br#"{"v":1,"channel_id":"ch","role":2,"token":"FST2.a.b","endpoint_instance_id":"AAAAAAAAAAAAAAAAAAAAAA"}"#;
    /// let attach = Attach::parse(text, &AttachLimits::default()).unwrap();
    /// assert_eq!(attach.role, corridor_core::Role::Server);
    /// assert_eq!(Attach::parse(b"{\"v\":2}", &AttachLimits::default()), Err(AttachError::InvalidVersion));
    /// ```
    pub fn parse(bytes: &[u8], limits: &AttachLimits) -> Result<Attach, AttachError> {
        if bytes.len() > limits.max_attach_bytes {
            return Err(AttachError::TooLarge);
        }
        // Only an object: serde would also read a struct from a JSON array.
        if bytes.trim_ascii_start().first() != Some(&b'{') {
            return Err(AttachError::InvalidJson);
        }
        let raw: RawAttach = serde_json::from_slice(bytes).map_err(|_| AttachError::InvalidJson)?;
        if raw.v != ATTACH_VERSION {
            return Err(AttachError::InvalidVersion);
        }
        let channel_id = raw.channel_id.trim();
        if channel_id.is_empty() {
            return Err(AttachError::MissingChannelId);
        }
        if channel_id.len() > limits.max_channel_id_bytes {
            return Err(AttachError::InvalidChannelId);
        }
        let role = u8::try_from(raw.role)
            .ok()
            .and_then(Role::from_u8)
            .ok_or(AttachError::InvalidRole)?;
        let token = raw.token.trim();
        if token.is_empty() {
            return Err(AttachError::MissingToken);
        }
        if token.len() > limits.max_token_bytes {
            return Err(AttachError::InvalidToken);
        }
        let endpoint_instance_id = raw.endpoint_instance_id.trim();
        if endpoint_instance_id.is_empty() {
            return Err(AttachError::MissingEndpointInstanceId);
        }
        let decoded = b64::decode(endpoint_instance_id)
            .map_err(|_| AttachError::InvalidEndpointInstanceId)?;
        if !ENDPOINT_INSTANCE_ID_BYTES.contains(&decoded.len()) {
            return Err(AttachError::InvalidEndpointInstanceId);
        }
        Ok(Attach {
            v: raw.v,
            channel_id: channel_id.to_owned(),
            role,
            token: token.to_owned(),
            endpoint_instance_id: endpoint_instance_id.to_owned(),
            caps: raw.caps,
        })
    }

    /// The message as sent on the wire.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Attach, AttachError> {
        Attach::parse(text.as_bytes(), &AttachLimits::default())
    }

    const EID: &str = "AAAAAAAAAAAAAAAAAAAAAA";

    #[test]
    fn each_rule_has_its_error_in_flowersec_order() {
        let cases = [
            ("[]", AttachError::InvalidJson),
            ("{\"v\":1.5}", AttachError::InvalidJson),
            ("{}", AttachError::InvalidVersion),
            ("{\"v\":1}", AttachError::MissingChannelId),
            (
                "{\"v\":1,\"channel_id\":\"  \"}",
                AttachError::MissingChannelId,
            ),
            (
                "{\"v\":1,\"channel_id\":\"c\",\"role\":3}",
                AttachError::InvalidRole,
            ),
            (
                "{\"v\":1,\"channel_id\":\"c\",\"role\":1}",
                AttachError::MissingToken,
            ),
            (
                "{\"v\":1,\"channel_id\":\"c\",\"role\":1,\"token\":\"t\"}",
                AttachError::MissingEndpointInstanceId,
            ),
            (
                "{\"v\":1,\"channel_id\":\"c\",\"role\":1,\"token\":\"t\",\"endpoint_instance_id\":\"AAAA\"}",
                AttachError::InvalidEndpointInstanceId,
            ),
            (
                "{\"v\":1,\"channel_id\":\"c\",\"role\":1,\"token\":\"t\",\"endpoint_instance_id\":\"AAAAAAAAAAAAAAAAAAAAAA==\"}",
                AttachError::InvalidEndpointInstanceId,
            ),
        ];
        for (text, error) in cases {
            assert_eq!(parse(text), Err(error), "{text}");
        }
        let long_channel = format!(
            "{{\"v\":1,\"channel_id\":\"{}\",\"role\":1,\"token\":\"t\",\"endpoint_instance_id\":\"{EID}\"}}",
            "c".repeat(257)
        );
        assert_eq!(parse(&long_channel), Err(AttachError::InvalidChannelId));
        let long_token = format!(
            "{{\"v\":1,\"channel_id\":\"c\",\"role\":1,\"token\":\"{}\",\"endpoint_instance_id\":\"{EID}\"}}",
            "t".repeat(2049)
        );
        assert_eq!(parse(&long_token), Err(AttachError::InvalidToken));
        assert_eq!(parse(&" ".repeat(8193)), Err(AttachError::TooLarge));
    }

    #[test]
    fn fields_are_trimmed_and_unknown_fields_ignored() {
        let text = format!(
            "{{\"v\":1,\"channel_id\":\" c \",\"role\":2,\"token\":\" t \",\"endpoint_instance_id\":\" {EID} \",\"extra\":true,\"caps\":{{\"a\":\"b\"}}}}"
        );
        let attach = parse(&text).unwrap();
        assert_eq!(
            (attach.channel_id.as_str(), attach.token.as_str()),
            ("c", "t")
        );
        assert_eq!(attach.role, Role::Server);
        assert_eq!(
            Attach::parse(attach.to_json().as_bytes(), &AttachLimits::default()),
            Ok(attach)
        );
    }
}
