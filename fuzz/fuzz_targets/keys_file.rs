//! Issuer key files, public and private: never panic; what parses round-trips.
#![no_main]

use corridor_core::keys::{IssuerKey, PublicKeys};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(keys) = PublicKeys::from_json(data) {
        let again = PublicKeys::from_json(keys.to_json().as_bytes()).expect("round trip");
        assert_eq!(again, keys);
    }
    if let Ok(key) = IssuerKey::from_private_json(data) {
        let again = IssuerKey::from_private_json(key.to_private_json().as_bytes()).expect("round trip");
        assert_eq!(again.verifying_key(), key.verifying_key());
    }
});
