//! The yamux frame header (hashicorp's spec, which flowersec v1 and libp2p
//! speak): 12 bytes, `version u8 | type u8 | flags u16 BE | stream id u32 BE
//! | length u32 BE`. A data frame's body of `length` bytes follows its header;
//! for a window update `length` is the credit, for a ping its opaque value,
//! for a go-away its code. Stream 0 is the session itself.

/// Bytes in a header.
pub const HEADER_LEN: usize = 12;
/// The only version.
pub const VERSION: u8 = 0;
/// The window every stream starts with, in each direction.
pub const INITIAL_WINDOW: u32 = 256 * 1024;

/// Opens a stream (on its first frame).
pub const SYN: u16 = 1;
/// Accepts a stream (on the first frame the acceptor sends), or answers a ping.
pub const ACK: u16 = 2;
/// The sender's half of the stream is done.
pub const FIN: u16 = 4;
/// The stream is abandoned in both directions.
pub const RST: u16 = 8;

/// Go-away codes.
pub const GO_AWAY_NORMAL: u32 = 0;
/// The peer broke the protocol.
pub const GO_AWAY_PROTOCOL_ERROR: u32 = 1;

/// What a frame is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `length` bytes of a stream's data follow.
    Data = 0,
    /// `length` more bytes the receiver may be sent on the stream.
    WindowUpdate = 1,
    /// A liveness probe (SYN) or its answer (ACK); `length` is opaque.
    Ping = 2,
    /// The sender opens no more streams and accepts none; `length` is the code.
    GoAway = 3,
}

/// One frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// What the frame is.
    pub kind: Kind,
    /// SYN, ACK, FIN, RST, or'ed.
    pub flags: u16,
    /// The stream, or 0 for the session.
    pub stream_id: u32,
    /// Body length, credit, opaque value or code, by kind.
    pub length: u32,
}

/// Why a header was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Not version 0.
    #[error("yamux version {0} is not supported")]
    Version(u8),
    /// Not one of the four types.
    #[error("yamux frame type {0} is unknown")]
    Type(u8),
}

impl Header {
    /// A header of `kind` for `stream_id`.
    ///
    /// ```
    /// use corridor_core::yamux::{Header, Kind, SYN};
    /// let header = Header::new(Kind::WindowUpdate, SYN, 1, 0);
    /// assert_eq!(Header::decode(&header.encode()), Ok(header));
    /// ```
    pub const fn new(kind: Kind, flags: u16, stream_id: u32, length: u32) -> Header {
        Header {
            kind,
            flags,
            stream_id,
            length,
        }
    }

    /// The 12 bytes on the wire.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0] = VERSION;
        out[1] = self.kind as u8;
        out[2..4].copy_from_slice(&self.flags.to_be_bytes());
        out[4..8].copy_from_slice(&self.stream_id.to_be_bytes());
        out[8..12].copy_from_slice(&self.length.to_be_bytes());
        out
    }

    /// Parses 12 bytes; the flags are taken as they are (unknown bits ignored).
    pub fn decode(bytes: &[u8; HEADER_LEN]) -> Result<Header, FrameError> {
        if bytes[0] != VERSION {
            return Err(FrameError::Version(bytes[0]));
        }
        let kind = match bytes[1] {
            0 => Kind::Data,
            1 => Kind::WindowUpdate,
            2 => Kind::Ping,
            3 => Kind::GoAway,
            other => return Err(FrameError::Type(other)),
        };
        let word = |at: usize| {
            u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        Ok(Header {
            kind,
            flags: u16::from_be_bytes([bytes[2], bytes[3]]),
            stream_id: word(4),
            length: word(8),
        })
    }

    /// Whether every bit of `flag` is set.
    pub const fn has(&self, flag: u16) -> bool {
        self.flags & flag == flag
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_is_hashicorps() {
        let header = Header::new(Kind::Data, SYN | FIN, 0x0102_0304, 0x0A0B_0C0D);
        assert_eq!(
            header.encode(),
            [0, 0, 0, 5, 1, 2, 3, 4, 0x0A, 0x0B, 0x0C, 0x0D]
        );
        assert_eq!(Header::decode(&header.encode()), Ok(header));
        assert!(header.has(FIN) && !header.has(RST));
    }

    #[test]
    fn a_bad_version_or_type_is_refused() {
        let mut bytes = Header::new(Kind::Ping, SYN, 0, 7).encode();
        bytes[1] = 4;
        assert_eq!(Header::decode(&bytes), Err(FrameError::Type(4)));
        bytes[0] = 1;
        assert_eq!(Header::decode(&bytes), Err(FrameError::Version(1)));
    }
}
