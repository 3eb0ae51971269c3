//! The server name (SNI) of a TLS ClientHello, read without terminating
//! TLS. The handshake message is gathered from as many records as it spans
//! (a ClientHello may be fragmented at any byte), then parsed by tls-parser.

use super::SniffError;
use tls_parser::{SNIType, TlsExtension, TlsMessage, TlsMessageHandshake};

const RECORD_HEADER: usize = 5;
const CONTENT_HANDSHAKE: u8 = 0x16;
const HANDSHAKE_CLIENT_HELLO: u8 = 0x01;
/// Largest plaintext record (RFC 8446 5.1).
const MAX_RECORD: usize = 1 << 14;

/// The name a ClientHello asks for, once the whole ClientHello is in
/// `bytes` (`None` while more are needed). `max_hello` bounds the
/// handshake message's declared length.
pub fn server_name(bytes: &[u8], max_hello: usize) -> Result<Option<String>, SniffError> {
    let Some(message) = handshake_message(bytes, max_hello)? else {
        return Ok(None);
    };
    let hello = match tls_parser::parse_tls_message_handshake(&message) {
        Ok((_, TlsMessage::Handshake(TlsMessageHandshake::ClientHello(hello)))) => hello,
        _ => return Err(SniffError::Malformed("client hello")),
    };
    let extensions = hello.ext.ok_or(SniffError::NoHost)?;
    let (_, extensions) = tls_parser::parse_tls_client_hello_extensions(extensions)
        .map_err(|_| SniffError::Malformed("client hello extensions"))?;
    for extension in extensions {
        if let TlsExtension::SNI(names) = extension {
            let name = names
                .iter()
                .find(|(kind, _)| *kind == SNIType::HostName)
                .ok_or(SniffError::NoHost)?
                .1;
            let name = std::str::from_utf8(name).map_err(|_| SniffError::Malformed("sni"))?;
            return super::normalize(name).map(Some);
        }
    }
    Err(SniffError::NoHost)
}

/// The first handshake message, joined from the records it spans.
fn handshake_message(mut bytes: &[u8], max_hello: usize) -> Result<Option<Vec<u8>>, SniffError> {
    let mut message = Vec::new();
    loop {
        if bytes.len() < RECORD_HEADER {
            return Ok(None);
        }
        if bytes[0] != CONTENT_HANDSHAKE || bytes[1] != 0x03 {
            return Err(SniffError::Malformed("not a tls handshake"));
        }
        let length = usize::from(u16::from_be_bytes([bytes[3], bytes[4]]));
        if length == 0 || length > MAX_RECORD {
            return Err(SniffError::Malformed("tls record length"));
        }
        let Some(fragment) = bytes.get(RECORD_HEADER..RECORD_HEADER + length) else {
            // The record is incomplete; what it holds may already finish the message.
            message.extend_from_slice(&bytes[RECORD_HEADER..]);
            return complete(message, max_hello).map(|_| None);
        };
        message.extend_from_slice(fragment);
        bytes = &bytes[RECORD_HEADER + length..];
        if complete(message.as_slice(), max_hello)? {
            let declared = declared_length(&message).unwrap_or_default();
            message.truncate(4 + declared);
            return Ok(Some(message));
        }
    }
}

/// Whether `message` holds the whole ClientHello; errors for another
/// message or one longer than allowed.
fn complete(message: impl AsRef<[u8]>, max_hello: usize) -> Result<bool, SniffError> {
    let message = message.as_ref();
    let Some(&kind) = message.first() else {
        return Ok(false);
    };
    if kind != HANDSHAKE_CLIENT_HELLO {
        return Err(SniffError::Malformed("not a client hello"));
    }
    let Some(declared) = declared_length(message) else {
        return Ok(false);
    };
    if declared > max_hello {
        return Err(SniffError::TooLarge);
    }
    Ok(message.len() >= 4 + declared)
}

fn declared_length(message: &[u8]) -> Option<usize> {
    let bytes = message.get(1..4)?;
    Some(usize::from(bytes[0]) << 16 | usize::from(bytes[1]) << 8 | usize::from(bytes[2]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A ClientHello as rustls writes it for `name`.
    pub(crate) fn client_hello(name: &str) -> Vec<u8> {
        let config = rustls::ClientConfig::builder_with_provider(corridor::tls::provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let name = rustls_pki_types::ServerName::try_from(name.to_owned()).expect("name");
        let mut client = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
        let mut hello = Vec::new();
        client.write_tls(&mut hello).expect("hello");
        hello
    }

    /// The same handshake bytes re-cut into records of `size` bytes each.
    fn refragment(hello: &[u8], size: usize) -> Vec<u8> {
        let body = &hello[RECORD_HEADER..];
        let mut out = Vec::new();
        for piece in body.chunks(size) {
            out.extend_from_slice(&[CONTENT_HANDSHAKE, 3, 1]);
            out.extend_from_slice(&(piece.len() as u16).to_be_bytes());
            out.extend_from_slice(piece);
        }
        out
    }

    #[test]
    fn a_client_hello_gives_its_server_name() {
        let hello = client_hello("App.Example.com");
        assert_eq!(
            server_name(&hello, 16 * 1024).unwrap().as_deref(),
            Some("app.example.com")
        );
    }

    #[test]
    fn a_hello_cut_into_one_byte_records_is_joined() {
        let hello = refragment(&client_hello("a.example"), 1);
        assert_eq!(
            server_name(&hello, 16 * 1024).unwrap().as_deref(),
            Some("a.example")
        );
    }

    #[test]
    fn every_prefix_asks_for_more() {
        for hello in [
            client_hello("a.example"),
            refragment(&client_hello("a.example"), 7),
        ] {
            for end in 0..hello.len() {
                assert_eq!(
                    server_name(&hello[..end], 16 * 1024),
                    Ok(None),
                    "prefix {end}"
                );
            }
        }
    }

    #[test]
    fn oversized_garbage_and_nameless_hellos_are_refused() {
        let hello = client_hello("a.example");
        assert_eq!(server_name(&hello, 64), Err(SniffError::TooLarge));
        assert!(matches!(
            server_name(b"GET / HTTP/1.1\r\n", 1024),
            Err(SniffError::Malformed(_))
        ));
        // A ServerHello where a ClientHello belongs.
        let mut other = hello.clone();
        other[RECORD_HEADER] = 2;
        assert!(matches!(
            server_name(&other, 16 * 1024),
            Err(SniffError::Malformed(_))
        ));
        // An IP address: rustls sends no SNI for it.
        let no_sni = client_hello("192.0.2.1");
        assert_eq!(server_name(&no_sni, 16 * 1024), Err(SniffError::NoHost));
    }
}
