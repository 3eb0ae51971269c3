//! What a client puts in the Noise handshake, and enrollment tokens, on
//! arbitrary bytes: never a panic; whatever parses round-trips.
#![no_main]

use corridor_identity::hello::ClientHello;
use corridor_identity::token::TokenParts;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(hello) = ClientHello::decode(data) {
        assert_eq!(ClientHello::decode(&hello.encode()), Some(hello));
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Some(token) = TokenParts::parse(text)
    {
        assert_eq!(TokenParts::parse(&token.to_text()), Some(token.clone()));
        assert!(token.matches(&token.secret_hash()));
    }
});
