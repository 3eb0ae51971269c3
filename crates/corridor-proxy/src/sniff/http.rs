//! The `Host` of an HTTP/1.x request head, read with httparse.

use super::SniffError;

/// Headers a request head may carry before it counts as malformed.
const MAX_HEADERS: usize = 100;

/// The host a request head names, once the head is complete (`None` while
/// more bytes are needed).
pub fn host(head: &[u8]) -> Result<Option<String>, SniffError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(head) {
        Ok(httparse::Status::Partial) => return Ok(None),
        Ok(httparse::Status::Complete(_)) => {}
        Err(httparse::Error::TooManyHeaders) => return Err(SniffError::TooLarge),
        Err(_) => return Err(SniffError::Malformed("http")),
    }
    let mut hosts = request
        .headers
        .iter()
        .filter(|header| header.name.eq_ignore_ascii_case("host"));
    let value = hosts.next().ok_or(SniffError::NoHost)?.value;
    // Two Host headers are a request smuggling attempt (RFC 9112 3.2).
    if hosts.next().is_some() {
        return Err(SniffError::Malformed("two host headers"));
    }
    let value = std::str::from_utf8(value).map_err(|_| SniffError::Malformed("host"))?;
    super::normalize(strip_port(value.trim())).map(Some)
}

/// `name:port`, `[v6]:port` and bare names, without the port.
fn strip_port(value: &str) -> &str {
    if let Some(rest) = value.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match value.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_complete_head_gives_its_host_without_port_in_lower_case() {
        let head = b"GET / HTTP/1.1\r\nUser-Agent: x\r\nHOST: App.Example.COM:8080\r\n\r\n";
        assert_eq!(host(head).unwrap().as_deref(), Some("app.example.com"));
    }

    #[test]
    fn every_prefix_of_a_head_asks_for_more() {
        let head = b"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n";
        for end in 0..head.len() {
            assert_eq!(host(&head[..end]).unwrap(), None, "prefix {end}");
        }
    }

    #[test]
    fn missing_duplicate_and_garbage_hosts_are_refused() {
        assert_eq!(host(b"GET / HTTP/1.0\r\n\r\n"), Err(SniffError::NoHost));
        let twice = b"GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n";
        assert!(matches!(host(twice), Err(SniffError::Malformed(_))));
        let garbage = b"GET / HTTP/1.1\r\nHost: a b/c\r\n\r\n";
        assert!(matches!(host(garbage), Err(SniffError::Malformed(_))));
        assert!(matches!(
            host(b"\x16\x03\x01\x00"),
            Err(SniffError::Malformed(_))
        ));
    }

    #[test]
    fn ipv6_literals_lose_their_port_and_brackets() {
        let head = b"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n";
        assert_eq!(host(head).unwrap().as_deref(), Some("::1"));
    }
}
