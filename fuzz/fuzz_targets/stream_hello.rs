//! StreamHello parsing: never panics; an accepted hello re-encodes to one that
//! parses to the same kind.
#![no_main]

use corridor_core::hello;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let (prefix, body) = data.split_at(4);
    let Ok(length) = hello::check_length(prefix, hello::DEFAULT_MAX_BYTES) else { return };
    assert!(length <= hello::DEFAULT_MAX_BYTES);
    if let Ok(kind) = hello::decode_body(&body[..length.min(body.len())]) {
        assert!(!kind.trim().is_empty());
        let frame = hello::encode(&kind).expect("an accepted kind encodes");
        assert_eq!(hello::decode_body(&frame[4..]).expect("round trip"), kind);
    }
});
