//! The JSON bodies of the three handshake messages, in flowersec v1's field
//! names and order. Unknown fields are ignored (as the peer does); missing
//! fields and wrong types are errors.

use super::Fsec1Error;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// Feature bit: the sender understands rekey records.
pub const FEATURE_REKEY: u32 = 1;

/// Client to server: the client's ephemeral key and nonce.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Init {
    /// The channel both endpoints were granted.
    pub channel_id: String,
    /// The sender's role: always 1, the client.
    pub role: u8,
    /// Protocol version: 1.
    pub version: u8,
    /// The suite the client proposes, by wire number.
    pub suite: u16,
    /// The client's ephemeral public key, base64url.
    pub client_eph_pub_b64u: String,
    /// 32 random bytes, base64url.
    pub nonce_c_b64u: String,
    /// The client's feature bits.
    pub client_features: u32,
}

/// Server to client: the server's ephemeral key and nonce.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resp {
    /// Names this handshake in the ack (and in a retried init's answer).
    pub handshake_id: String,
    /// The server's ephemeral public key, base64url.
    pub server_eph_pub_b64u: String,
    /// 32 random bytes, base64url.
    pub nonce_s_b64u: String,
    /// The server's feature bits.
    pub server_features: u32,
}

/// Client to server: proof that the client holds the PSK and saw this transcript.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The handshake id from the response.
    pub handshake_id: String,
    /// The client's clock, Unix seconds, bound into the auth tag.
    pub timestamp_unix_s: u64,
    /// HMAC-SHA256(PSK, transcript || timestamp), base64url.
    pub auth_tag_b64u: String,
}

/// Parses a handshake body.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Fsec1Error> {
    serde_json::from_slice(body).map_err(|error| Fsec1Error::InvalidJson(error.to_string()))
}

/// Serialises a handshake body. These types always serialise.
pub fn to_body<T: Serialize>(message: &T) -> Vec<u8> {
    serde_json::to_vec(message).unwrap_or_default()
}
