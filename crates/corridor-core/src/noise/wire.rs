//! The few bytes corridor adds around Noise: the clear header of the
//! initiator's first message, and the two payloads (the initiator's hello,
//! the responder's verdict). Every length is checked; a short or trailing
//! input is [`NoiseError::Malformed`].
//!
//! ```text
//! header:  version u8 (1) | name_len u8 | name | channel_len u16 BE | channel
//!          | key_len u8 (0, or 32 for KK) | the key the initiator claims
//! hello:   features u32 BE | len u16 BE | payload
//! verdict: status u8 (0 accepted, 1 refused) | features u32 BE | len u16 BE
//!          | payload (accepted) or UTF-8 reason (refused)
//! ```

use super::NoiseError;
use crate::codec::{Reader, Short};
use crate::identity::PublicKey;

/// The header's wire version.
pub const WIRE_VERSION: u8 = 1;
/// Longest Noise protocol name in a header.
pub const MAX_NAME_BYTES: usize = 64;
/// Longest channel id in a header.
pub const MAX_CHANNEL_BYTES: usize = 1024;
/// The prologue's fixed prefix, before the header's bytes.
const PROLOGUE_PREFIX: &[u8] = b"corridor-noise\0";

/// The clear header of the initiator's first message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The Noise protocol name.
    pub name: String,
    /// The channel (or service) the initiator means to reach.
    pub channel_id: String,
    /// For KK: the static key the initiator claims (proven by the handshake).
    pub claimed_key: Option<PublicKey>,
}

impl Header {
    /// The header's bytes.
    pub fn encode(&self) -> Result<Vec<u8>, NoiseError> {
        if self.name.len() > MAX_NAME_BYTES {
            return Err(NoiseError::Config("protocol name too long"));
        }
        if self.channel_id.is_empty() || self.channel_id.len() > MAX_CHANNEL_BYTES {
            return Err(NoiseError::Config("channel id empty or too long"));
        }
        let mut out = Vec::with_capacity(4 + self.name.len() + self.channel_id.len() + 33);
        out.push(WIRE_VERSION);
        out.push(self.name.len() as u8);
        out.extend_from_slice(self.name.as_bytes());
        out.extend_from_slice(&(self.channel_id.len() as u16).to_be_bytes());
        out.extend_from_slice(self.channel_id.as_bytes());
        match &self.claimed_key {
            Some(key) => {
                out.push(32);
                out.extend_from_slice(key.as_bytes());
            }
            None => out.push(0),
        }
        Ok(out)
    }

    /// Splits a first message into its header, the header's bytes (the
    /// prologue's tail) and the Noise message after it.
    pub fn decode(message: &[u8]) -> Result<(Header, &[u8], &[u8]), NoiseError> {
        let mut reader = Reader::new(message);
        let version = reader.u8()?;
        if version != WIRE_VERSION {
            return Err(NoiseError::Version(version));
        }
        let name_len = usize::from(reader.u8()?);
        if name_len > MAX_NAME_BYTES {
            return Err(NoiseError::Malformed("protocol name too long"));
        }
        let name = text(&mut reader, name_len)?;
        let channel_len = usize::from(reader.u16()?);
        if channel_len == 0 || channel_len > MAX_CHANNEL_BYTES {
            return Err(NoiseError::Malformed("channel id empty or too long"));
        }
        let channel_id = text(&mut reader, channel_len)?;
        let claimed_key = match reader.u8()? {
            0 => None,
            32 => Some(PublicKey::from_bytes(
                reader
                    .take(32)?
                    .try_into()
                    .map_err(|_| NoiseError::Malformed("key"))?,
            )),
            _ => return Err(NoiseError::Malformed("claimed key length")),
        };
        let header_len = message.len() - reader.remaining();
        let header = Header {
            name,
            channel_id,
            claimed_key,
        };
        Ok((header, &message[..header_len], reader.rest()))
    }
}

/// The Noise prologue for a header's bytes: binds version, protocol name,
/// channel and claimed key into the transcript.
pub fn prologue(header_bytes: &[u8]) -> Vec<u8> {
    let mut prologue = PROLOGUE_PREFIX.to_vec();
    prologue.extend_from_slice(header_bytes);
    prologue
}

/// The initiator's payload: its feature bits and application bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    /// Feature bits.
    pub features: u32,
    /// Application bytes (an enrollment token, client metadata).
    pub payload: Vec<u8>,
}

impl Hello {
    /// The encoded payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(6 + self.payload.len());
        out.extend_from_slice(&self.features.to_be_bytes());
        put_bytes(&mut out, &self.payload);
        out
    }

    /// Parses a hello of at most `max_payload` application bytes.
    pub fn decode(bytes: &[u8], max_payload: usize) -> Result<Hello, NoiseError> {
        let mut reader = Reader::new(bytes);
        let features = reader.u32()?;
        let payload = field(&mut reader, max_payload)?.to_vec();
        reader.end()?;
        Ok(Hello { features, payload })
    }
}

/// The responder's verdict on the initiator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Accepted, with the responder's feature bits and application bytes.
    Accepted {
        /// Feature bits.
        features: u32,
        /// Application bytes.
        payload: Vec<u8>,
    },
    /// Refused, with a reason for the initiator.
    Refused(String),
}

impl Answer {
    /// The encoded payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Answer::Accepted { features, payload } => {
                out.push(0);
                out.extend_from_slice(&features.to_be_bytes());
                put_bytes(&mut out, payload);
            }
            Answer::Refused(reason) => {
                out.push(1);
                out.extend_from_slice(&0u32.to_be_bytes());
                put_bytes(&mut out, reason.as_bytes());
            }
        }
        out
    }

    /// Parses a verdict of at most `max_payload` bytes of payload or reason.
    pub fn decode(bytes: &[u8], max_payload: usize) -> Result<Answer, NoiseError> {
        let mut reader = Reader::new(bytes);
        let status = reader.u8()?;
        let features = reader.u32()?;
        let payload = field(&mut reader, max_payload)?;
        let answer = match status {
            0 => Answer::Accepted {
                features,
                payload: payload.to_vec(),
            },
            1 => Answer::Refused(String::from_utf8_lossy(payload).into_owned()),
            _ => return Err(NoiseError::Malformed("verdict status")),
        };
        reader.end()?;
        Ok(answer)
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    // Callers bound payloads far below 64 KiB (a Noise message's limit).
    let len = bytes.len().min(usize::from(u16::MAX));
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(&bytes[..len]);
}

impl From<Short> for NoiseError {
    fn from(short: Short) -> Self {
        match short {
            Short::Truncated => NoiseError::Malformed("truncated"),
            Short::Trailing => NoiseError::Malformed("trailing bytes"),
        }
    }
}

/// A u16-length-prefixed field of at most `max` bytes.
fn field<'a>(reader: &mut Reader<'a>, max: usize) -> Result<&'a [u8], NoiseError> {
    let len = usize::from(reader.u16()?);
    if len > max {
        return Err(NoiseError::PayloadTooLarge);
    }
    Ok(reader.take(len)?)
}

fn text(reader: &mut Reader<'_>, n: usize) -> Result<String, NoiseError> {
    let bytes = reader.take(n)?;
    String::from_utf8(bytes.to_vec()).map_err(|_| NoiseError::Malformed("not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_round_trips_and_every_truncation_fails() {
        let header = Header {
            name: "Noise_KK_25519_AESGCM_SHA256".into(),
            channel_id: "mesh".into(),
            claimed_key: Some(PublicKey::from_bytes([9; 32])),
        };
        let mut message = header.encode().expect("encode");
        let header_len = message.len();
        message.extend_from_slice(b"noise message");
        let (decoded, bytes, rest) = Header::decode(&message).expect("decode");
        assert_eq!(decoded, header);
        assert_eq!(bytes.len(), header_len);
        assert_eq!(rest, b"noise message");
        for cut in 0..header_len {
            assert!(Header::decode(&message[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn payloads_refuse_oversized_and_trailing_bytes() {
        let hello = Hello {
            features: 1,
            payload: vec![7; 100],
        };
        let bytes = hello.encode();
        assert_eq!(Hello::decode(&bytes, 100), Ok(hello));
        assert_eq!(Hello::decode(&bytes, 99), Err(NoiseError::PayloadTooLarge));
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(
            Hello::decode(&trailing, 100),
            Err(NoiseError::Malformed("trailing bytes"))
        );
        let refused = Answer::Refused("not on the allowlist".into());
        assert_eq!(Answer::decode(&refused.encode(), 64), Ok(refused));
    }
}
