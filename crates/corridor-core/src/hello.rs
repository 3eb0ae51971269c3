//! StreamHello: the first frame on every yamux stream, naming what the stream
//! carries. Wire form: `u32 BE length | {"kind":"...","v":1}`.

use serde::{Deserialize, Serialize};

/// The only StreamHello version.
pub const VERSION: u32 = 1;
/// Largest hello body accepted by default (flowersec's default).
pub const DEFAULT_MAX_BYTES: usize = 8 * 1024;
/// The kind of the RPC stream.
pub const RPC_KIND: &str = "rpc";

/// Why a hello was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelloError {
    /// The length prefix exceeds the limit.
    #[error("stream hello of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// The body is not a hello object.
    #[error("stream hello is not valid JSON: {0}")]
    InvalidJson(String),
    /// The version is not 1.
    #[error("stream hello version {0} is not supported")]
    UnsupportedVersion(u32),
    /// The kind is empty or blank.
    #[error("stream hello kind is empty")]
    EmptyKind,
}

impl HelloError {
    /// A stable snake_case name for logs and metrics.
    pub const fn reason(&self) -> &'static str {
        match self {
            HelloError::TooLarge(_) => "hello_too_large",
            HelloError::InvalidJson(_) => "hello_invalid_json",
            HelloError::UnsupportedVersion(_) => "hello_bad_version",
            HelloError::EmptyKind => "hello_empty_kind",
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Hello<'a> {
    kind: std::borrow::Cow<'a, str>,
    v: u32,
}

/// Encodes the hello frame for `kind`, length prefix included.
///
/// ```
/// use corridor_core::hello;
/// let frame = hello::encode("rpc").unwrap();
/// assert_eq!(hello::check_length(&frame[..4], 8192).unwrap(), frame.len() - 4);
/// assert_eq!(hello::decode_body(&frame[4..]).unwrap(), "rpc");
/// ```
pub fn encode(kind: &str) -> Result<Vec<u8>, HelloError> {
    if kind.trim().is_empty() {
        return Err(HelloError::EmptyKind);
    }
    let body = serde_json::to_vec(&Hello {
        kind: kind.into(),
        v: VERSION,
    })
    .map_err(|error| HelloError::InvalidJson(error.to_string()))?;
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    Ok(frame)
}

/// Reads the 4-byte length prefix and checks it against `max_bytes`.
pub fn check_length(prefix: &[u8], max_bytes: usize) -> Result<usize, HelloError> {
    let bytes: [u8; 4] = prefix
        .try_into()
        .map_err(|_| HelloError::InvalidJson("short length prefix".into()))?;
    let length = u32::from_be_bytes(bytes) as usize;
    if length > max_bytes {
        return Err(HelloError::TooLarge(length));
    }
    Ok(length)
}

/// Parses a hello body and returns its kind.
pub fn decode_body(body: &[u8]) -> Result<String, HelloError> {
    let hello: Hello<'_> =
        serde_json::from_slice(body).map_err(|error| HelloError::InvalidJson(error.to_string()))?;
    if hello.v != VERSION {
        return Err(HelloError::UnsupportedVersion(hello.v));
    }
    if hello.kind.trim().is_empty() {
        return Err(HelloError::EmptyKind);
    }
    Ok(hello.kind.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_hellos_are_named() {
        assert_eq!(
            check_length(&[0, 0, 0x20, 1], 8192),
            Err(HelloError::TooLarge(8193))
        );
        assert!(matches!(
            decode_body(b"[1]"),
            Err(HelloError::InvalidJson(_))
        ));
        assert_eq!(
            decode_body(br#"{"kind":"x","v":2}"#),
            Err(HelloError::UnsupportedVersion(2))
        );
        assert_eq!(
            decode_body(br#"{"kind":" ","v":1}"#),
            Err(HelloError::EmptyKind)
        );
        assert_eq!(encode(""), Err(HelloError::EmptyKind));
        assert_eq!(
            decode_body(br#"{"kind":"echo","v":1,"extra":true}"#).unwrap(),
            "echo"
        );
    }
}
