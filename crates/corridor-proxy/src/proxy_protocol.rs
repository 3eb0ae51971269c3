//! The PROXY protocol header (v1 text or v2 binary, by HAProxy's spec) an
//! agent may send its local service first, so the service sees the
//! visitor's address rather than the agent's. Encoded by the ppp crate.

use std::net::SocketAddr;

/// Which PROXY protocol version a route sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyProtocol {
    /// `PROXY TCP4 ...\r\n`.
    V1,
    /// The binary header.
    V2,
}

impl std::str::FromStr for ProxyProtocol {
    type Err = String;

    fn from_str(text: &str) -> Result<ProxyProtocol, String> {
        match text {
            "v1" => Ok(ProxyProtocol::V1),
            "v2" => Ok(ProxyProtocol::V2),
            other => Err(format!(
                "the PROXY protocol version is v1 or v2, not {other:?}"
            )),
        }
    }
}

impl ProxyProtocol {
    /// The header for a visitor from `source` that reached `destination`;
    /// without both addresses (or with mixed families), the header that
    /// says the source is unknown.
    pub fn header(self, source: Option<SocketAddr>, destination: Option<SocketAddr>) -> Vec<u8> {
        let pair = match (source, destination) {
            (Some(source), Some(destination)) if source.is_ipv4() == destination.is_ipv4() => {
                Some((source, destination))
            }
            _ => None,
        };
        match self {
            ProxyProtocol::V1 => match pair {
                Some(pair) => ppp::v1::Addresses::from(pair).to_string().into_bytes(),
                None => ppp::v1::Addresses::Unknown.to_string().into_bytes(),
            },
            ProxyProtocol::V2 => {
                use ppp::v2::{Builder, Command, Protocol, Version};
                let built = match pair {
                    Some(pair) => Builder::with_addresses(
                        Version::Two | Command::Proxy,
                        Protocol::Stream,
                        pair,
                    )
                    .build(),
                    None => Builder::with_addresses(
                        Version::Two | Command::Local,
                        Protocol::Unspecified,
                        ppp::v2::Addresses::Unspecified,
                    )
                    .build(),
                };
                // Building into a Vec cannot fail.
                built.unwrap_or_default()
            }
        }
    }
}
