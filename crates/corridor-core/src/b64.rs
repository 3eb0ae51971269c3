//! Base64url without padding, the only base64 flavour on corridor's wire.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Encodes bytes as base64url without padding.
pub fn encode(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding; any other alphabet or padding is an error.
pub fn decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    URL_SAFE_NO_PAD.decode(text)
}

/// Decodes base64url into exactly `N` bytes, or `None`.
pub fn decode_array<const N: usize>(text: &str) -> Option<[u8; N]> {
    decode(text).ok()?.try_into().ok()
}

/// Decodes standard base64 with padding (the alphabet of HTTP headers such as
/// `Sec-WebSocket-Key`), or `None`.
pub fn decode_std(text: &[u8]) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}
