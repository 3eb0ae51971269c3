//! The public host a relay names in its ready line (`--advertise-host`), for
//! relays bound to `0.0.0.0` or behind a load balancer: `ws://0.0.0.0:8080/ws`
//! is no URL to hand to an endpoint.

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

/// A host, with a port when the public one differs from the bound one.
///
/// Accepts what flowersec-tunnel accepts: `host`, `host:port`, `[v6]`,
/// `[v6]:port`, a bare IPv6 address, or a URL whose authority is one of those.
///
/// ```
/// use corridor_relay::AdvertiseHost;
///
/// let public: AdvertiseHost = "https://relay.example.com:8443/ws".parse().unwrap();
/// assert_eq!(public.authority(8080), "relay.example.com:8443");
/// let public: AdvertiseHost = "2001:db8::1".parse().unwrap();
/// assert_eq!(public.authority(8080), "[2001:db8::1]:8080");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdvertiseHost {
    /// The host as it goes into a URL (IPv6 in brackets).
    host: String,
    port: Option<u16>,
}

/// Why a value is not a host to advertise.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid --advertise-host {value:?}: {why} (expected host, host:port, [ipv6]:port, or a URL)"
)]
pub struct AdvertiseHostError {
    value: String,
    why: &'static str,
}

impl AdvertiseHost {
    /// `host:port` for URLs, with `bound_port` when no port was given.
    pub fn authority(&self, bound_port: u16) -> String {
        format!("{}:{}", self.host, self.port.unwrap_or(bound_port))
    }

    /// The host alone, for listeners whose port is their own (metrics).
    pub fn host(&self) -> &str {
        &self.host
    }
}

impl FromStr for AdvertiseHost {
    type Err = AdvertiseHostError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let fail = |why| AdvertiseHostError {
            value: value.to_owned(),
            why,
        };
        let mut rest = value.trim();
        if let Some((_scheme, after)) = rest.split_once("://") {
            rest = after.split(['/', '?', '#']).next().unwrap_or_default();
        }
        if rest.is_empty() {
            return Err(fail("missing host"));
        }
        if rest.contains(|c: char| c.is_whitespace() || "/?#@".contains(c)) {
            return Err(fail("not a host"));
        }
        let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
            let (address, after) = inner.split_once(']').ok_or_else(|| fail("unclosed ["))?;
            let without_zone = address.split('%').next().unwrap_or_default();
            without_zone
                .parse::<Ipv6Addr>()
                .map_err(|_| fail("not an IPv6 address"))?;
            let port = match after {
                "" => None,
                _ => Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| fail("junk after ]"))?,
                ),
            };
            (format!("[{address}]"), port)
        } else if rest.matches(':').count() > 1 {
            let address = rest.split('%').next().unwrap_or_default();
            address
                .parse::<Ipv6Addr>()
                .map_err(|_| fail("not an IPv6 address"))?;
            (format!("[{rest}]"), None)
        } else {
            match rest.split_once(':') {
                Some((host, port)) => (host.to_owned(), Some(port)),
                None => (rest.to_owned(), None),
            }
        };
        if host.is_empty() {
            return Err(fail("missing host"));
        }
        let port = match port {
            None => None,
            Some(port) => match port.parse::<u16>() {
                Ok(port) if port > 0 => Some(port),
                _ => return Err(fail("invalid port")),
            },
        };
        Ok(Self { host, port })
    }
}

impl fmt::Display for AdvertiseHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::AdvertiseHost;

    fn authority(value: &str) -> Result<String, String> {
        value
            .parse::<AdvertiseHost>()
            .map(|host| host.authority(8080))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn accepts_the_forms_flowersec_accepts() {
        assert_eq!(
            authority("relay.example.com"),
            Ok("relay.example.com:8080".into())
        );
        assert_eq!(
            authority("relay.example.com:443"),
            Ok("relay.example.com:443".into())
        );
        assert_eq!(authority("203.0.113.7"), Ok("203.0.113.7:8080".into()));
        assert_eq!(authority("[2001:db8::1]"), Ok("[2001:db8::1]:8080".into()));
        assert_eq!(authority("[2001:db8::1]:9"), Ok("[2001:db8::1]:9".into()));
        assert_eq!(authority("2001:db8::1"), Ok("[2001:db8::1]:8080".into()));
        assert_eq!(
            authority("wss://relay.example.com/ws"),
            Ok("relay.example.com:8080".into())
        );
        assert_eq!(
            authority("https://relay.example.com:8443"),
            Ok("relay.example.com:8443".into())
        );
    }

    #[test]
    fn refuses_what_is_not_a_host() {
        for bad in [
            "",
            "  ",
            "https://",
            ":8080",
            "relay:0",
            "relay:65536",
            "relay:http",
            "[2001:db8::1",
            "[not-v6]:80",
            "[::1]x",
            "2001:db8::zz",
            "relay example",
            "user@relay",
        ] {
            let error = authority(bad).expect_err(bad);
            assert!(error.contains("--advertise-host"), "{bad}: {error}");
        }
    }
}
