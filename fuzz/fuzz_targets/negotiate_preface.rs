//! The suite negotiation preface and the `Sec-WebSocket-Protocol` parser on
//! arbitrary bytes: they never panic, and whatever parses encodes back to
//! something that parses the same.
#![no_main]

use corridor_core::negotiate::{self, Answer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(names) = negotiate::decode_offer(data) {
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let again = negotiate::decode_offer(&negotiate::encode_offer(&refs)).expect("re-encoded offer parses");
        assert_eq!(again, names);
        // Choosing among what was offered never invents a name.
        match negotiate::choose(&names, &["corridor.noise", "corridor.fsec1"]) {
            Answer::Chosen(name) => assert!(names.contains(&name)),
            Answer::NoCommonSuite(accepted) => assert_eq!(accepted.len(), 2),
        }
    }
    if let Ok(answer) = negotiate::decode_answer(data) {
        let again = negotiate::decode_answer(&negotiate::encode_answer(&answer)).expect("re-encoded answer parses");
        assert_eq!(again, answer);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let suites = negotiate::parse_header(Some(text));
        assert!(suites.len() <= text.split(',').count());
    }
});
