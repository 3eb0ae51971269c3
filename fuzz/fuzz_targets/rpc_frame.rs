//! RPC envelope parsing: never panics; an accepted envelope has portable ids
//! and survives a round trip through its frame.
#![no_main]

use corridor_core::rpc::{Envelope, MAX_ID};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(envelope) = Envelope::decode(data) {
        assert!(envelope.request_id <= MAX_ID && envelope.response_to <= MAX_ID);
        let frame = envelope.encode_frame();
        assert_eq!(u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize, frame.len() - 4);
        assert_eq!(Envelope::decode(&frame[4..]).expect("round trip"), envelope);
    }
});
