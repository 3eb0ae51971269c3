//! The ingress proxy's sniffers on arbitrary first bytes: never panic, an
//! HTTP host or TLS server name found is normalized (lower case, no port),
//! and a preamble that names a host names the same one with more bytes
//! after it (the visitor's next bytes cannot change the route).
#![no_main]

use corridor_proxy::sniff::{http, tls};
use libfuzzer_sys::fuzz_target;

fn normalized(host: &str) -> bool {
    !host.is_empty() && host.len() <= 253 && host == host.to_ascii_lowercase() && !host.ends_with('.')
}

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(host)) = http::host(data) {
        assert!(normalized(&host), "{host:?}");
        let mut longer = data.to_vec();
        longer.extend_from_slice(b"more body bytes");
        assert_eq!(http::host(&longer), Ok(Some(host)));
    }
    if let Ok(Some(name)) = tls::server_name(data, 16 * 1024) {
        assert!(normalized(&name), "{name:?}");
        let mut longer = data.to_vec();
        longer.extend_from_slice(&[0x17, 3, 3, 0, 1, 0]);
        assert_eq!(tls::server_name(&longer, 16 * 1024), Ok(Some(name)));
    }
});
