//! WebSocket frame-boundary tracking: never panics on any byte stream, and
//! where message boundaries fall does not depend on how the stream is split
//! into reads (the first byte of the input picks the read size).
#![no_main]

use corridor_core::ws_boundary::FrameBoundary;
use libfuzzer_sys::fuzz_target;

/// The offsets after which the tracker reports a message boundary, feeding
/// `stream` in pieces of `piece` bytes and looking after each piece.
fn boundaries(stream: &[u8], piece: usize) -> Vec<usize> {
    let mut tracker = FrameBoundary::default();
    let mut seen = Vec::new();
    let mut at = 0;
    for chunk in stream.chunks(piece) {
        tracker.consume(chunk);
        at += chunk.len();
        if tracker.at_message_boundary() {
            seen.push(at);
        }
    }
    seen
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, stream)) = data.split_first() else {
        return;
    };
    let piece = usize::from(split).max(1);
    let byte_by_byte = boundaries(stream, 1);
    let in_pieces = boundaries(stream, piece);
    // Looking less often sees a subset of the same boundaries.
    assert!(
        in_pieces.iter().all(|at| byte_by_byte.contains(at)),
        "{in_pieces:?} not within {byte_by_byte:?}"
    );
    // Wherever a piece ends on a byte-by-byte boundary, the pieces see it too.
    for at in &byte_by_byte {
        if at % piece == 0 || *at == stream.len() {
            assert!(in_pieces.contains(at), "missed the boundary at {at}");
        }
    }
});
