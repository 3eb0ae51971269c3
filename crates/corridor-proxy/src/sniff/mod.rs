//! Sniffing: reading just enough of a visitor's first bytes to learn the
//! host it wants (HTTP `Host`, TLS SNI), keeping every byte read so it can
//! be replayed to the agent. Bounded in bytes here and in time by the
//! listener's handshake deadline.

pub mod http;
pub mod tls;

use tokio::io::{AsyncRead, AsyncReadExt as _};

/// Which preamble a public port expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.x: the `Host` header.
    Http,
    /// TLS: the ClientHello's server name.
    Tls,
}

impl Protocol {
    /// `http` or `tls`, for logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Tls => "tls",
        }
    }
}

/// Why a preamble did not name a host.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SniffError {
    /// The visitor closed before the preamble was complete.
    #[error("closed before the preamble was complete")]
    Closed,
    /// The preamble is larger than allowed.
    #[error("preamble too large")]
    TooLarge,
    /// Not HTTP/1.x or TLS as expected.
    #[error("malformed preamble ({0})")]
    Malformed(&'static str),
    /// A well-formed preamble without a host name.
    #[error("no host name")]
    NoHost,
    /// The socket failed.
    #[error("read failed: {0}")]
    Io(String),
}

impl SniffError {
    /// A stable snake_case name for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            SniffError::Closed => "closed",
            SniffError::TooLarge => "too_large",
            SniffError::Malformed(_) => "malformed",
            SniffError::NoHost => "no_host",
            SniffError::Io(_) => "io",
        }
    }
}

/// A sniffed preamble: the host, and every byte read to find it.
#[derive(Debug)]
pub struct Sniffed {
    /// Lower-case host name (or IP literal), without port.
    pub host: String,
    /// The bytes read, to be sent on before anything else.
    pub preamble: Vec<u8>,
}

/// Reads from `io` until `protocol`'s preamble names a host, holding at most
/// `max_bytes`.
pub async fn sniff(
    io: &mut (impl AsyncRead + Unpin),
    protocol: Protocol,
    max_bytes: usize,
) -> Result<Sniffed, SniffError> {
    let mut preamble = Vec::with_capacity(1024.min(max_bytes));
    let mut chunk = [0u8; 2048];
    loop {
        let room = max_bytes.saturating_sub(preamble.len()).min(chunk.len());
        if room == 0 {
            return Err(SniffError::TooLarge);
        }
        let read = io
            .read(&mut chunk[..room])
            .await
            .map_err(|error| SniffError::Io(error.to_string()))?;
        if read == 0 {
            return Err(SniffError::Closed);
        }
        preamble.extend_from_slice(&chunk[..read]);
        let host = match protocol {
            Protocol::Http => http::host(&preamble)?,
            Protocol::Tls => tls::server_name(&preamble, max_bytes)?,
        };
        if let Some(host) = host {
            return Ok(Sniffed { host, preamble });
        }
    }
}

/// A host name as routes key it: a DNS name (labels of letters, digits,
/// `-` and `_`, none empty, at most 63 bytes each, 253 in all) in lower
/// case without a trailing dot, or an IP address literal.
pub fn normalize(name: &str) -> Result<String, SniffError> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        return Err(SniffError::NoHost);
    }
    let malformed = SniffError::Malformed("host name");
    if name.contains(':') {
        return name
            .parse::<std::net::Ipv6Addr>()
            .map(|ip| ip.to_string())
            .map_err(|_| malformed);
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_'))
    };
    if name.len() > 253 || !name.split('.').all(label_ok) {
        return Err(malformed);
    }
    Ok(name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lower_cased_and_bad_ones_refused() {
        assert_eq!(
            normalize("App.Example.COM.").as_deref(),
            Ok("app.example.com")
        );
        assert_eq!(normalize("0:0::1").as_deref(), Ok("::1"));
        for bad in [
            "....",
            "a..b",
            ".a",
            "a b",
            "a:b",
            &"x".repeat(64),
            "\u{e9}.example",
        ] {
            assert!(
                matches!(normalize(bad), Err(SniffError::Malformed(_))),
                "{bad:?}"
            );
        }
        assert_eq!(normalize("."), Err(SniffError::NoHost));
    }
}
