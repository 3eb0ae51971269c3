//! The yamux frames a peer sends, applied to a session's mux state while
//! its streams read, write, shut down and drop: never panics, and the
//! outgoing buffer stays bounded.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    corridor::mux::fuzz(data);
});
