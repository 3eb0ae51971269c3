//! An agent's routes: which local address serves a host (on any public
//! port, or on one). The agent dials only these, so a hostile or
//! compromised server cannot make it reach any other local port.

use crate::ProxyError;
use crate::proxy_protocol::ProxyProtocol;
use std::collections::HashMap;

/// Where one route's visitors go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The local `host:port`.
    pub addr: String,
    /// A PROXY protocol header to send the service first, if any.
    pub proxy_protocol: Option<ProxyProtocol>,
}

/// Routes from `(host, public port)` to a local address.
#[derive(Clone, Debug, Default)]
pub struct Routes {
    routes: HashMap<(String, Option<u16>), Route>,
}

impl Routes {
    /// Adds one route from its text: `app.example.com=127.0.0.1:3000`, with
    /// the public port it is for, `app.example.com:443=127.0.0.1:3443`, and
    /// with a PROXY protocol header, `...=127.0.0.1:3000,proxy-protocol=v2`.
    ///
    /// ```
    /// let mut routes = corridor_proxy::Routes::default();
    /// routes.add("app.example.com=127.0.0.1:3000").unwrap();
    /// routes.add("app.example.com:443=127.0.0.1:3443,proxy-protocol=v2").unwrap();
    /// assert_eq!(routes.target("app.example.com", 80).unwrap().addr, "127.0.0.1:3000");
    /// assert_eq!(routes.target("app.example.com", 443).unwrap().addr, "127.0.0.1:3443");
    /// assert!(routes.target("other.example.com", 80).is_none());
    /// ```
    pub fn add(&mut self, text: &str) -> Result<(), ProxyError> {
        let bad = || {
            ProxyError::Config(format!(
                "a route is HOST[:PORT]=ADDR:PORT[,proxy-protocol=v1|v2]: {text:?}"
            ))
        };
        let (public, local) = text.split_once('=').ok_or_else(bad)?;
        let (local, proxy_protocol) = match local.split_once(',') {
            Some((local, option)) => {
                let version = option.strip_prefix("proxy-protocol=").ok_or_else(bad)?;
                (
                    local,
                    Some(
                        version
                            .parse::<ProxyProtocol>()
                            .map_err(ProxyError::Config)?,
                    ),
                )
            }
            None => (local, None),
        };
        let (host, port) = match public.rsplit_once(':') {
            Some((host, port)) => (host, Some(port.parse::<u16>().map_err(|_| bad())?)),
            None => (public, None),
        };
        let host = crate::sniff::normalize(host).map_err(|_| bad())?;
        let (local_host, local_port) = local.rsplit_once(':').ok_or_else(bad)?;
        if local_host.is_empty() || local_port.parse::<u16>().is_err() {
            return Err(bad());
        }
        let route = Route {
            addr: local.to_owned(),
            proxy_protocol,
        };
        self.routes.insert((host, port), route);
        Ok(())
    }

    /// The local address for a visitor of `host` on public `port`.
    pub fn target(&self, host: &str, port: u16) -> Option<&Route> {
        self.routes
            .get(&(host.to_owned(), Some(port)))
            .or_else(|| self.routes.get(&(host.to_owned(), None)))
    }

    /// The hosts routed.
    pub fn hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self.routes.keys().map(|(host, _)| host.clone()).collect();
        hosts.sort();
        hosts.dedup();
        hosts
    }
}
