//! Which browser origins may attach: flowersec v1's allow-list rules.
//!
//! An entry is matched against the request's `Origin` header, first match wins:
//! - `scheme://host[:port]`: the same origin (default ports filled in);
//! - `*.example.com`: any subdomain of example.com (not the apex);
//! - `host:port`: that host and port, any scheme;
//! - `host`: that host, any scheme and port;
//! - anything else (such as `null`): the literal header value.
//!
//! Origins are `scheme://host[:port]` with nothing after; a small parser does
//! here what a URL crate would, for this one shape.

/// The allow-list.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct OriginPolicy {
    /// Allowed entries, in the forms above.
    pub allowed: Vec<String>,
    /// Whether a request without an `Origin` header (a non-browser client) may attach.
    pub allow_no_origin: bool,
}

#[derive(Debug, PartialEq, Eq)]
struct Origin<'a> {
    scheme: String,
    host: String,
    port: Option<&'a str>,
    /// `host[:port]` as written.
    authority: &'a str,
}

fn parse(origin: &str) -> Option<Origin<'_>> {
    let (scheme, authority) = origin.split_once("://")?;
    let authority = authority.strip_suffix('/').unwrap_or(authority);
    if authority.is_empty() || authority.contains(['/', '?', '#', '@']) {
        return None;
    }
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    Some(Origin {
        scheme: scheme.to_ascii_lowercase(),
        host: host.to_ascii_lowercase(),
        port,
        authority,
    })
}

fn default_port(scheme: &str) -> Option<&'static str> {
    match scheme {
        "http" | "ws" => Some("80"),
        "https" | "wss" => Some("443"),
        _ => None,
    }
}

fn same_origin(a: &Origin<'_>, b: &Origin<'_>) -> bool {
    fn port<'a>(o: &Origin<'a>) -> Option<&'a str> {
        o.port.or_else(|| default_port(&o.scheme))
    }
    a.scheme == b.scheme && a.host == b.host && port(a) == port(b)
}

impl OriginPolicy {
    /// Whether a request with this `Origin` header (None: no header) may attach.
    ///
    /// ```
    /// use corridor::origin::OriginPolicy;
    /// let policy = OriginPolicy { allowed: vec!["https://app.example.com".into(), "*.example.org".into()], allow_no_origin: false };
    /// assert!(policy.allows(Some("https://app.example.com:443")));
    /// assert!(policy.allows(Some("http://a.example.org:8080")));
    /// assert!(!policy.allows(Some("https://example.org")));
    /// assert!(!policy.allows(None));
    /// ```
    pub fn allows(&self, header: Option<&str>) -> bool {
        let origin = header.map(str::trim).unwrap_or("");
        if origin.is_empty() {
            return self.allow_no_origin;
        }
        let parsed = parse(origin);
        self.allowed
            .iter()
            .map(|entry| entry.trim())
            .filter(|entry| !entry.is_empty())
            .any(|entry| matches_entry(entry, origin, parsed.as_ref()))
    }
}

fn matches_entry(entry: &str, raw: &str, origin: Option<&Origin<'_>>) -> bool {
    if entry.contains("://") {
        return entry.eq_ignore_ascii_case(raw)
            || matches!((parse(entry), origin), (Some(e), Some(o)) if same_origin(&e, o));
    }
    if let Some(base) = entry.strip_prefix("*.") {
        let suffix = format!(".{}", base.to_ascii_lowercase());
        return origin.is_some_and(|o| o.host.ends_with(&suffix));
    }
    if let Some(origin) = origin {
        if entry.contains(':') && !entry.starts_with('[') || entry.contains("]:") {
            return entry.eq_ignore_ascii_case(origin.authority);
        }
        let host = entry.trim_start_matches('[').trim_end_matches(']');
        if host.eq_ignore_ascii_case(&origin.host) {
            return true;
        }
    }
    entry == raw
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(entries: &[&str]) -> OriginPolicy {
        OriginPolicy {
            allowed: entries.iter().map(|e| e.to_string()).collect(),
            allow_no_origin: false,
        }
    }

    #[test]
    fn full_origin_entry_fills_default_ports_and_ignores_case() {
        let p = policy(&["https://App.Example.com"]);
        assert!(p.allows(Some("https://app.example.com")));
        assert!(p.allows(Some("https://app.example.com:443")));
        assert!(!p.allows(Some("http://app.example.com")));
        assert!(!p.allows(Some("https://app.example.com:8443")));
    }

    #[test]
    fn wildcard_matches_subdomains_only() {
        let p = policy(&["*.example.com"]);
        assert!(p.allows(Some("https://a.b.example.com")));
        assert!(!p.allows(Some("https://example.com")));
        assert!(!p.allows(Some("https://badexample.com")));
    }

    #[test]
    fn host_port_and_bare_host_entries() {
        assert!(policy(&["localhost:5173"]).allows(Some("http://localhost:5173")));
        assert!(!policy(&["localhost:5173"]).allows(Some("http://localhost:5174")));
        assert!(policy(&["localhost"]).allows(Some("http://localhost:5174")));
        assert!(policy(&["[::1]"]).allows(Some("http://[::1]:3000")));
    }

    #[test]
    fn literal_null_and_missing_origin() {
        assert!(policy(&["null"]).allows(Some("null")));
        assert!(!policy(&["localhost"]).allows(Some("null")));
        let mut p = policy(&[]);
        assert!(!p.allows(None));
        p.allow_no_origin = true;
        assert!(p.allows(None));
        assert!(p.allows(Some("  ")));
    }
}
