//! FSEC record opening: arbitrary bytes never panic, and open only if they are
//! exactly the record the sealer would produce (the key here is a fixed test
//! key, and libFuzzer's comparison feedback can learn a tag, so "never opens"
//! would be the wrong property); a genuine record with any change never
//! opens; the opener's sequence moves only on success.
#![no_main]

use corridor_core::fsec1::record::{Flag, test_pair};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, data)) = data.split_first() else { return };
    let (mut sealer, mut opener) = test_pair();
    if mode % 2 == 0 {
        let mut record = data.to_vec();
        match opener.open_in_place(&mut record) {
            Ok(opened) => {
                let mut again = Vec::new();
                sealer.seal(opened.flag, opened.plaintext, &mut again).expect("seal");
                assert_eq!(again, data, "only the genuine sealing of a plaintext opens");
                assert_eq!(opener.next_sequence(), 2);
            }
            Err(_) => assert_eq!(opener.next_sequence(), 1),
        }
        return;
    }
    // A genuine record of the first half, then the second half XORed over it.
    let (plaintext, flips) = data.split_at(data.len() / 2);
    let mut genuine = Vec::new();
    sealer.seal(Flag::App, plaintext, &mut genuine).expect("seal");
    let mut record = genuine.clone();
    for (byte, flip) in record.iter_mut().zip(flips) {
        *byte ^= flip;
    }
    let unchanged = record == genuine;
    match opener.open_in_place(&mut record) {
        Ok(opened) => {
            assert!(unchanged, "a changed record opened");
            assert_eq!(opened.plaintext, plaintext);
            assert_eq!(opener.next_sequence(), 2);
        }
        Err(_) => {
            assert!(!unchanged, "a genuine record failed");
            assert_eq!(opener.next_sequence(), 1);
        }
    }
});
