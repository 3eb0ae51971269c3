//! The relay attach message parser: never panics; what it accepts is within
//! the limits and survives a round trip.
#![no_main]

use corridor_core::attach::{Attach, AttachLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = AttachLimits::default();
    if let Ok(attach) = Attach::parse(data, &limits) {
        assert!(!attach.channel_id.is_empty());
        assert!(attach.channel_id.len() <= limits.max_channel_id_bytes);
        assert!(attach.token.len() <= limits.max_token_bytes);
        let again = Attach::parse(attach.to_json().as_bytes(), &limits).expect("round trip");
        assert_eq!(again, attach);
    }
});
