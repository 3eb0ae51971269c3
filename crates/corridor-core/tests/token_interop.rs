//! corridor's FST2 tokens against flowersec v1: the official test vector,
//! and tokens signed by each side verified by the other with the same verdict.

use corridor_core::Role;
use corridor_core::keys::{IssuerKey, PublicKeys};
use corridor_core::token::{self, Claims, TokenError, VerifyOptions};
use ed25519_dalek::SigningKey;
use flowersec::controlplane::token as fs_token;
use std::collections::HashMap;
use std::time::Duration;

const VECTOR_TOKEN: &str = "FST2.eyJraWQiOiJrMSIsImF1ZCI6ImZsb3dlcnNlYy10dW5uZWw6ZGV2IiwiaXNzIjoiaXNzdWVyLWRldiIsImNoYW5uZWxfaWQiOiJjaGFuX3Rlc3RfMTIzIiwicm9sZSI6MSwidG9rZW5faWQiOiJ0b2tfdGVzdF8xIiwiaW5pdF9leHAiOjE3MDAwMDAwMDAsImlkbGVfdGltZW91dF9zZWNvbmRzIjo2MCwiaWF0IjoxNjk5OTk5OTAwLCJleHAiOjE2OTk5OTk5NjB9.OCJtBmTln5TXsyKrTe6QnustwPlEHw_uA2bgoajAi437n4B4W_F1lUVW7tFTazsXrc4pjVvoZeabIPxdx_HNDQ";

fn vector_key() -> SigningKey {
    let seed: [u8; 32] = std::array::from_fn(|i| i as u8);
    SigningKey::from_bytes(&seed)
}

fn vector_claims() -> Claims {
    Claims {
        kid: "k1".into(),
        aud: "flowersec-tunnel:dev".into(),
        iss: "issuer-dev".into(),
        channel_id: "chan_test_123".into(),
        role: Role::Client,
        token_id: "tok_test_1".into(),
        init_exp: 1_700_000_000,
        idle_timeout_seconds: 60,
        iat: 1_699_999_900,
        exp: 1_699_999_960,
    }
}

fn options(now: i64) -> VerifyOptions {
    VerifyOptions {
        now_unix_s: now,
        audience: Some("flowersec-tunnel:dev".into()),
        issuer: Some("issuer-dev".into()),
        clock_skew_secs: 30,
    }
}

fn fs_options(now: i64) -> fs_token::VerifyOptions {
    fs_token::VerifyOptions {
        now_unix_s: Some(now),
        audience: Some("flowersec-tunnel:dev".into()),
        issuer: Some("issuer-dev".into()),
        clock_skew: Duration::from_secs(30),
    }
}

#[test]
fn signing_the_official_vector_gives_the_official_token() {
    assert_eq!(
        token::sign(&vector_key(), vector_claims()).unwrap(),
        VECTOR_TOKEN
    );
}

#[test]
fn the_official_token_verifies() {
    let keys = HashMap::from([("k1".to_string(), vector_key().verifying_key())]);
    let claims = token::verify(VECTOR_TOKEN, &keys, &options(1_699_999_910)).unwrap();
    assert_eq!(claims, vector_claims());
}

#[test]
fn flowersec_verifies_corridor_tokens_and_corridor_verifies_flowersec_tokens() {
    let key = IssuerKey::generate("k1", &mut rand_core::OsRng).unwrap();
    let keys = HashMap::from([("k1".to_string(), key.verifying_key())]);
    let ours = token::sign(key.signing_key(), vector_claims()).unwrap();
    let theirs_payload = fs_token::Payload {
        kid: "k1".into(),
        aud: "flowersec-tunnel:dev".into(),
        iss: "issuer-dev".into(),
        channel_id: "chan_test_123".into(),
        role: 1,
        token_id: "tok_test_1".into(),
        init_exp: 1_700_000_000,
        idle_timeout_seconds: 60,
        iat: 1_699_999_900,
        exp: 1_699_999_960,
    };
    let theirs = fs_token::sign(key.signing_key(), theirs_payload.clone()).unwrap();
    assert_eq!(ours, theirs, "same claims, same key: same token");
    let verified = fs_token::verify(&ours, &keys, &fs_options(1_699_999_910)).unwrap();
    assert_eq!(verified, theirs_payload);
    assert_eq!(
        token::verify(&theirs, &keys, &options(1_699_999_910)).unwrap(),
        vector_claims()
    );
}

/// Maps flowersec's error to ours, to compare verdicts.
fn same_error(ours: TokenError, theirs: fs_token::TokenError) -> bool {
    use fs_token::TokenError as F;
    matches!(
        (ours, theirs),
        (TokenError::InvalidFormat, F::InvalidFormat)
            | (TokenError::InvalidBase64, F::InvalidBase64)
            | (TokenError::InvalidJson, F::InvalidJson)
            | (TokenError::UnknownKid, F::UnknownKid)
            | (TokenError::InvalidSignature, F::InvalidSignature)
            | (TokenError::InvalidAudience, F::InvalidAudience)
            | (TokenError::InvalidIssuer, F::InvalidIssuer)
            | (TokenError::Expired, F::Expired)
            | (TokenError::IatInFuture, F::IatInFuture)
            | (TokenError::InitExpired, F::InitExpired)
            | (TokenError::ExpAfterInit, F::ExpAfterInit)
            | (TokenError::InvalidIdleTimeout, F::InvalidIdleTimeout)
    )
}

#[test]
fn both_sides_refuse_the_same_bad_tokens_for_the_same_reason() {
    let keys = HashMap::from([("k1".to_string(), vector_key().verifying_key())]);
    let signed = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut payload = serde_json::to_value(vector_claims()).unwrap();
        edit(&mut payload);
        let part = corridor_core::b64::encode(serde_json::to_vec(&payload).unwrap());
        let signed = format!("FST2.{part}");
        let signature = ed25519_dalek::Signer::sign(&vector_key(), signed.as_bytes());
        format!(
            "{signed}.{}",
            corridor_core::b64::encode(signature.to_bytes())
        )
    };
    let mut flipped = VECTOR_TOKEN.to_string();
    flipped.replace_range(10..11, "A");
    let cases: Vec<(String, i64)> = vec![
        ("FST1.a.b".into(), 1_699_999_910),
        ("FST2.a".into(), 1_699_999_910),
        ("FST2.***.b".into(), 1_699_999_910),
        ("FST2.e30.AA".into(), 1_699_999_910),
        (flipped, 1_699_999_910),
        (VECTOR_TOKEN.into(), 1_700_000_031),
        (VECTOR_TOKEN.into(), 1_699_999_991),
        (VECTOR_TOKEN.into(), 1_699_999_800),
        (signed(&|p| p["kid"] = "k2".into()), 1_699_999_910),
        (signed(&|p| p["aud"] = "other".into()), 1_699_999_910),
        (signed(&|p| p["iss"] = "other".into()), 1_699_999_910),
        (signed(&|p| p["exp"] = 1_700_000_001.into()), 1_699_999_910),
        (
            signed(&|p| p["idle_timeout_seconds"] = 0.into()),
            1_699_999_910,
        ),
        (signed(&|p| p["token_id"] = " ".into()), 1_699_999_910),
        (
            signed(&|p| p["channel_id"] = "x".repeat(257).into()),
            1_699_999_910,
        ),
        (signed(&|p| p["iat"] = 1_699_999_961.into()), 1_699_999_910),
    ];
    for (text, now) in cases {
        let ours = token::verify(&text, &keys, &options(now));
        let theirs = fs_token::verify(&text, &keys, &fs_options(now));
        match (ours, theirs) {
            (Err(a), Err(b)) => assert!(same_error(a, b), "{text}: ours {a:?}, theirs {b:?}"),
            (a, b) => panic!("{text} at {now}: ours {a:?}, theirs {b:?}"),
        }
    }
}

#[test]
fn keys_files_round_trip_and_match_flowersec_export() {
    let keyset = flowersec::controlplane::issuer::Keyset::new("k1", vector_key()).unwrap();
    let exported = keyset.export_tunnel_keyset().unwrap();
    let keys = PublicKeys::from_json(&exported).unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(
        token::verify(VECTOR_TOKEN, &keys, &options(1_699_999_910)).unwrap(),
        vector_claims()
    );
}

#[test]
fn keys_files_with_errors_are_refused() {
    let cases: &[&[u8]] = &[
        br#"{"keys":[]}"#,
        br#"{"keys":[{"kid":" k1","pubkey_b64u":"O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik"}]}"#,
        br#"{"keys":[{"kid":"k1","pubkey_b64u":"AAAA"}]}"#,
        br#"{"keys":[{"kid":"k1","pubkey_b64u":"O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik"},{"kid":"k1","pubkey_b64u":"O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik"}]}"#,
        b"not json",
    ];
    for case in cases {
        assert!(
            PublicKeys::from_json(case).is_err(),
            "{}",
            String::from_utf8_lossy(case)
        );
    }
    let private = br#"{"kid":"k1","privkey_b64u":"AAAA","extra":1}"#;
    assert!(IssuerKey::from_private_json(private).is_err());
}
