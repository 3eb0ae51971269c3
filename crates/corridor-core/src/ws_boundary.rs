//! Where the WebSocket frames in a byte stream end, without buffering them.
//!
//! The relay passes every byte it hands its WebSocket library through a
//! [`FrameBoundary`]: the library parses every complete frame it holds before
//! it reads again, so once it has asked for more and got nothing, and the
//! bytes it was given end at a message boundary, it holds no bytes of a frame
//! or message, and its state can be rebuilt to free the buffers a burst left
//! behind. This reads headers only (RFC 6455, 5.2); validating them stays the
//! library's job.
//!
//! ```
//! use corridor_core::ws_boundary::FrameBoundary;
//!
//! // A masked binary frame with a 3-byte payload, fed in two pieces.
//! let frame = [0x82, 0x83, 1, 2, 3, 4, b'a', b'b', b'c'];
//! let mut boundary = FrameBoundary::default();
//! boundary.consume(&frame[..5]);
//! assert!(!boundary.at_message_boundary());
//! boundary.consume(&frame[5..]);
//! assert!(boundary.at_message_boundary());
//! ```

/// The frame-header position of one direction of a connection.
#[derive(Debug, Clone)]
pub struct FrameBoundary {
    header: [u8; MAX_HEADER],
    have: usize,
    need: usize,
    payload_left: u64,
    /// A data frame without FIN has started a message that is not finished.
    mid_message: bool,
}

const MAX_HEADER: usize = 14;

impl Default for FrameBoundary {
    fn default() -> Self {
        Self {
            header: [0; MAX_HEADER],
            have: 0,
            need: 2,
            payload_left: 0,
            mid_message: false,
        }
    }
}

impl FrameBoundary {
    /// Bytes left in the header or payload being read.
    fn limit(&self) -> usize {
        if self.payload_left > 0 {
            usize::try_from(self.payload_left).unwrap_or(usize::MAX)
        } else {
            self.need - self.have
        }
    }

    /// Notes bytes handed on, across any number of frames.
    pub fn consume(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.payload_left > 0 {
                let n = bytes.len().min(self.limit());
                self.payload_left -= n as u64;
                bytes = &bytes[n..];
                continue;
            }
            let n = bytes.len().min(self.need - self.have);
            self.header[self.have..self.have + n].copy_from_slice(&bytes[..n]);
            self.have += n;
            bytes = &bytes[n..];
            if self.have == 2 {
                let masked = self.header[1] & 0x80 != 0;
                let extended = match self.header[1] & 0x7f {
                    126 => 2,
                    127 => 8,
                    _ => 0,
                };
                self.need = 2 + extended + if masked { 4 } else { 0 };
            }
            if self.have == self.need {
                self.end_header();
            }
        }
    }

    fn end_header(&mut self) {
        let length = match self.header[1] & 0x7f {
            126 => u64::from(u16::from_be_bytes([self.header[2], self.header[3]])),
            127 => {
                let mut bytes = [0u8; 8];
                bytes.copy_from_slice(&self.header[2..10]);
                u64::from_be_bytes(bytes)
            }
            short => u64::from(short),
        };
        let fin = self.header[0] & 0x80 != 0;
        // Data frames (continuation, text, binary) carry a message; control
        // frames may come between its fragments without ending it.
        if self.header[0] & 0x0f < 8 {
            self.mid_message = !fin;
        }
        self.payload_left = length;
        self.have = 0;
        self.need = 2;
    }

    /// Between frames and not inside a fragmented message.
    pub fn at_message_boundary(&self) -> bool {
        self.have == 0 && self.payload_left == 0 && !self.mid_message
    }
}

#[cfg(test)]
mod tests {
    use super::FrameBoundary;

    /// A client frame: FIN and opcode in `first`, masked, with `payload`.
    fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mut bytes = vec![first];
        match payload.len() {
            n if n < 126 => bytes.push(0x80 | n as u8),
            n if n <= 0xffff => {
                bytes.push(0x80 | 126);
                bytes.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                bytes.push(0x80 | 127);
                bytes.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        bytes.extend_from_slice(&[1, 2, 3, 4]);
        bytes.extend_from_slice(payload);
        bytes
    }

    /// Feeds `stream` in pieces of at most `piece` bytes, each ending at a
    /// frame part when `aligned`; returns the offsets at which a message
    /// boundary was reported.
    fn boundaries(stream: &[u8], piece: usize, aligned: bool) -> Vec<usize> {
        let mut tracker = FrameBoundary::default();
        let mut at = 0;
        let mut seen = Vec::new();
        while at < stream.len() {
            let limit = if aligned { tracker.limit() } else { usize::MAX };
            let n = piece.min(limit).min(stream.len() - at);
            assert!(n > 0, "the limit never stalls a read");
            tracker.consume(&stream[at..at + n]);
            at += n;
            if tracker.at_message_boundary() {
                seen.push(at);
            }
        }
        seen
    }

    #[test]
    fn finds_message_ends_across_lengths_fragments_and_control_frames() {
        let small = frame(0x82, b"hi");
        let medium = frame(0x82, &[7; 300]);
        let large = frame(0x82, &vec![9; 70_000]);
        let first_part = frame(0x02, &[1; 10]);
        let ping = frame(0x89, b"p");
        let last_part = frame(0x80, &[2; 10]);
        let mut stream = Vec::new();
        let mut ends = Vec::new();
        for part in [&small, &medium, &large, &first_part, &ping, &last_part] {
            stream.extend_from_slice(part);
            ends.push(stream.len());
        }
        // The fragmented message ends only with its last part.
        let expected: Vec<usize> = vec![ends[0], ends[1], ends[2], ends[5]];
        for piece in [1, 2, 3, 7, 4096] {
            assert_eq!(
                boundaries(&stream, piece, true),
                expected,
                "pieces of {piece}"
            );
        }
        // Pieces that cross frame ends see a boundary only where one lands.
        assert_eq!(boundaries(&stream, usize::MAX, false), vec![stream.len()]);
        let crossing = boundaries(&stream, 1000, false);
        assert!(
            crossing.iter().all(|at| expected.contains(at)),
            "{crossing:?}"
        );
    }

    #[test]
    fn an_empty_frame_ends_at_its_header() {
        let empty = frame(0x82, b"");
        assert_eq!(boundaries(&empty, 1, true), vec![empty.len()]);
    }
}
