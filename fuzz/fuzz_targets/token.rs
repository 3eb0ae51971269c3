//! FST2 token parsing and verification: never panics, and what verifies
//! keeps the verifier's rules. Each input is tried twice: as a whole token
//! (reaching the parser and signature check), and as the payload of a token
//! signed with the trusted key (reaching every claim check, which random
//! bytes would never get past the signature to test).
#![no_main]

use corridor_core::b64;
use corridor_core::token::{self, VerifyOptions};
use ed25519_dalek::{Signer as _, SigningKey};
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;

const NOW: i64 = 1_700_000_000;

fuzz_target!(|data: &[u8]| {
    let key = SigningKey::from_bytes(&[9; 32]);
    let keys = HashMap::from([("k1".to_string(), key.verifying_key())]);
    let options = VerifyOptions {
        now_unix_s: NOW,
        audience: Some("aud".into()),
        issuer: Some("iss".into()),
        clock_skew_secs: 30,
    };
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = token::parse(text);
        check(token::verify(text, &keys, &options));
    }
    let signed_part = format!("FST2.{}", b64::encode(data));
    let signature = key.sign(signed_part.as_bytes());
    let signed = format!("{signed_part}.{}", b64::encode(signature.to_bytes()));
    check(token::verify(&signed, &keys, &options));
});

/// What verifies keeps every rule the verifier promises.
fn check<E>(verified: Result<token::Claims, E>) {
    let Ok(claims) = verified else {
        return;
    };
    assert!(claims.exp <= claims.init_exp && claims.iat <= claims.exp);
    assert!(claims.idle_timeout_seconds > 0);
    assert!(!claims.channel_id.is_empty() && claims.channel_id.len() <= 256);
    assert!(claims.exp >= NOW - 30);
    assert!(claims.iat <= NOW + 30);
    assert_eq!((claims.aud.as_str(), claims.iss.as_str()), ("aud", "iss"));
    assert_eq!(claims.kid, "k1");
}
