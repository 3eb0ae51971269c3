//! FST2 token parsing and verification: never panics, and what verifies
//! keeps the verifier's rules.
#![no_main]

use corridor_core::token::{self, VerifyOptions};
use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = token::parse(text);
    let key = SigningKey::from_bytes(&[9; 32]);
    let keys = HashMap::from([("k1".to_string(), key.verifying_key())]);
    let options = VerifyOptions {
        now_unix_s: 1_700_000_000,
        audience: Some("aud".into()),
        issuer: None,
        clock_skew_secs: 30,
    };
    if let Ok(claims) = token::verify(text, &keys, &options) {
        // What verifies keeps every rule the verifier promises.
        assert!(claims.exp <= claims.init_exp && claims.iat <= claims.exp);
        assert!(claims.idle_timeout_seconds > 0);
        assert!(!claims.channel_id.is_empty() && claims.channel_id.len() <= 256);
        assert!(claims.exp >= options.now_unix_s - 30);
        assert_eq!(claims.aud, "aud");
    }
});
