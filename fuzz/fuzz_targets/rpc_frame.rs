//! RPC envelope parsing: never panics; an accepted envelope has portable ids
//! and survives a round trip through its frame; the reader's raw-payload
//! parse accepts what the full parse accepts, with the same envelope.
#![no_main]

use corridor_core::rpc::{Envelope, MAX_ID, RawEnvelope};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let full = Envelope::decode(data);
    let raw = RawEnvelope::decode(data).and_then(RawEnvelope::into_envelope);
    assert_eq!(full.as_ref().ok(), raw.as_ref().ok());
    if let Ok(envelope) = full {
        assert!(envelope.request_id <= MAX_ID && envelope.response_to <= MAX_ID);
        let frame = envelope.encode_frame();
        assert_eq!(u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize, frame.len() - 4);
        assert_eq!(Envelope::decode(&frame[4..]).expect("round trip"), envelope);
    }
});
