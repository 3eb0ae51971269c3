//! The FSEH handshake frame: `"FSEH" | version u8 | type u8 | length u32 BE | body`.

use super::{Fsec1Error, VERSION};

/// The four bytes every handshake frame starts with.
pub const MAGIC: [u8; 4] = *b"FSEH";
/// Bytes before the body.
pub const HEADER_LEN: usize = 10;

/// The three handshake messages.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum MessageType {
    /// Client to server: ephemeral key, nonce and suite.
    Init = 1,
    /// Server to client: its ephemeral key and nonce, and a handshake id.
    Resp = 2,
    /// Client to server: the PSK-authenticated confirmation.
    Ack = 3,
}

/// Encodes a handshake frame around `body`.
///
/// ```
/// use corridor_core::fsec1::frame::{self, MessageType};
/// let bytes = frame::encode(MessageType::Ack, b"{}");
/// let (kind, body) = frame::decode(&bytes, 8192).unwrap();
/// assert_eq!((kind, body), (MessageType::Ack as u8, &b"{}"[..]));
/// ```
pub fn encode(kind: MessageType, body: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(HEADER_LEN + body.len());
    frame.extend_from_slice(&MAGIC);
    frame.push(VERSION);
    frame.push(kind as u8);
    // Bodies are small JSON objects built by this module; callers cap them far below 4 GiB.
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(body);
    frame
}

/// Splits a handshake frame into its type byte and body, checking magic,
/// version, the body limit and that the length field matches the frame exactly.
pub fn decode(frame: &[u8], max_body: usize) -> Result<(u8, &[u8]), Fsec1Error> {
    let Some((header, body)) = frame.split_first_chunk::<HEADER_LEN>() else {
        return Err(Fsec1Error::InvalidLength);
    };
    if header[..4] != MAGIC {
        return Err(Fsec1Error::InvalidMagic);
    }
    if header[4] != VERSION {
        return Err(Fsec1Error::InvalidVersion);
    }
    let length = u32::from_be_bytes([header[6], header[7], header[8], header[9]]) as usize;
    if length > max_body {
        return Err(Fsec1Error::HandshakeTooLarge);
    }
    if body.len() != length {
        return Err(Fsec1Error::InvalidLength);
    }
    Ok((header[5], body))
}

/// Decodes a frame that must be of type `expected`.
pub fn expect(frame: &[u8], expected: MessageType, max_body: usize) -> Result<&[u8], Fsec1Error> {
    let (kind, body) = decode(frame, max_body)?;
    if kind != expected as u8 {
        return Err(Fsec1Error::UnexpectedMessage(kind));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_wrong_magic_wrong_version_and_bad_lengths_are_named() {
        let good = encode(MessageType::Init, b"{\"a\":1}");
        assert_eq!(decode(&good[..9], 100), Err(Fsec1Error::InvalidLength));
        let mut bad = good.clone();
        bad[0] = b'X';
        assert_eq!(decode(&bad, 100), Err(Fsec1Error::InvalidMagic));
        let mut bad = good.clone();
        bad[4] = 2;
        assert_eq!(decode(&bad, 100), Err(Fsec1Error::InvalidVersion));
        assert_eq!(
            decode(&good[..good.len() - 1], 100),
            Err(Fsec1Error::InvalidLength)
        );
        let mut long = good.clone();
        long.push(0);
        assert_eq!(decode(&long, 100), Err(Fsec1Error::InvalidLength));
        assert_eq!(decode(&good, 3), Err(Fsec1Error::HandshakeTooLarge));
        assert_eq!(
            expect(&good, MessageType::Ack, 100),
            Err(Fsec1Error::UnexpectedMessage(1))
        );
    }
}
