//! A client of the control API: TLS to the server (trusted by pin, by a CA
//! file, or by the public roots), the WebSocket upgrade, and JSON-RPC
//! calls. The agent and `corridor proxy register` both use it.

use crate::ProxyError;
use corridor::jsonrpc::{self, RpcError};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

/// How a client trusts the proxy server's certificate.
#[derive(Clone, Debug)]
pub enum ServerTrust {
    /// Exactly the key with this pin (`sha256/...`), as the server's ready
    /// line prints it for its self-signed certificate.
    Pin(String),
    /// Certificates issued by the CAs in this PEM file, for the URL's name.
    CaFile(PathBuf),
    /// The public web PKI roots, for the URL's name.
    PublicRoots,
}

impl ServerTrust {
    /// The rustls configuration this trust makes.
    pub fn client_config(&self) -> Result<Arc<rustls::ClientConfig>, ProxyError> {
        let roots = match self {
            ServerTrust::Pin(pin) => return Ok(corridor::tls::client_config(pin)?),
            ServerTrust::CaFile(path) => {
                use rustls_pki_types::pem::PemObject as _;
                let mut roots = rustls::RootCertStore::empty();
                let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
                    .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
                    .map_err(|error| ProxyError::Config(format!("{}: {error}", path.display())))?;
                for cert in certs {
                    roots.add(cert).map_err(|error| {
                        ProxyError::Config(format!("{}: {error}", path.display()))
                    })?;
                }
                roots
            }
            ServerTrust::PublicRoots => {
                rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned())
            }
        };
        let config = rustls::ClientConfig::builder_with_provider(corridor::tls::provider())
            .with_safe_default_protocol_versions()
            .map_err(|error| ProxyError::Config(error.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }
}

/// The SHA-256 an admin token is compared by.
pub fn admin_token_digest(token: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref());
    out
}

/// Where a `wss://host:port/path` URL points.
#[derive(Clone, Debug)]
pub struct ApiUrl {
    /// The whole URL.
    pub url: String,
    /// Its host (the TLS server name).
    pub host: String,
    /// Its port (443 when absent).
    pub port: u16,
}

impl std::str::FromStr for ApiUrl {
    type Err = ProxyError;

    fn from_str(url: &str) -> Result<ApiUrl, ProxyError> {
        let bad = || {
            ProxyError::Config(format!(
                "an API URL is wss://host:port{}: {url:?}",
                crate::API_PATH
            ))
        };
        let uri: hyper::Uri = url.parse().map_err(|_| bad())?;
        if uri.scheme_str() != Some("wss") {
            return Err(bad());
        }
        let host = uri.host().ok_or_else(bad)?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        Ok(ApiUrl {
            url: url.to_owned(),
            host,
            port: uri.port_u16().unwrap_or(443),
        })
    }
}

/// Opens a TLS connection to `host:port` with `tls`, naming `host`.
pub(crate) async fn connect_tls(
    host: &str,
    port: u16,
    tls: Arc<rustls::ClientConfig>,
    timeout: Duration,
) -> Result<TlsStream<TcpStream>, ProxyError> {
    let addr = format!("{host}:{port}");
    let failed = |detail: String| ProxyError::Connect {
        addr: addr.clone(),
        detail,
    };
    let connect = async {
        let tcp = TcpStream::connect((host, port))
            .await
            .map_err(|error| failed(error.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let name = rustls_pki_types::ServerName::try_from(host.to_owned())
            .map_err(|error| failed(error.to_string()))?;
        tokio_rustls::TlsConnector::from(tls)
            .connect(name, tcp)
            .await
            .map_err(|error| failed(format!("tls: {error}")))
    };
    tokio::time::timeout(timeout, connect)
        .await
        .map_err(|_| ProxyError::Timeout)?
}

/// A JSON-RPC session with the control API.
pub struct ApiClient {
    ws: WebSocketStream<TlsStream<TcpStream>>,
    next_id: u64,
    /// Notifications that arrived while a call waited for its answer.
    pub(crate) early: std::collections::VecDeque<Value>,
}

/// How long one call may wait for its answer.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

impl ApiClient {
    /// Connects to `url`, trusting the server by `trust`; `admin_token`
    /// for the operator methods.
    pub async fn connect(
        url: &ApiUrl,
        trust: &ServerTrust,
        admin_token: Option<&str>,
    ) -> Result<ApiClient, ProxyError> {
        let tls = connect_tls(&url.host, url.port, trust.client_config()?, CALL_TIMEOUT).await?;
        let mut request = url
            .url
            .as_str()
            .into_client_request()
            .map_err(|error| ProxyError::Config(error.to_string()))?;
        if let Some(token) = admin_token {
            let value = format!("Bearer {token}")
                .parse()
                .map_err(|_| ProxyError::Config("the admin token is not header text".into()))?;
            request
                .headers_mut()
                .insert(hyper::header::AUTHORIZATION, value);
        }
        let upgrade = tokio_tungstenite::client_async(request, tls);
        let (ws, _) = tokio::time::timeout(CALL_TIMEOUT, upgrade)
            .await
            .map_err(|_| ProxyError::Timeout)?
            .map_err(|error| ProxyError::Connect {
                addr: url.url.clone(),
                detail: error.to_string(),
            })?;
        Ok(ApiClient {
            ws,
            next_id: 1,
            early: Default::default(),
        })
    }

    /// Calls `method` and waits for its answer.
    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value, ProxyError> {
        let id = self.next_id;
        self.next_id += 1;
        let text = jsonrpc::request(method, params, Some(id));
        let failed = |detail: String| ProxyError::Connect {
            addr: "api".into(),
            detail,
        };
        self.ws
            .send(Message::text(text))
            .await
            .map_err(|error| failed(error.to_string()))?;
        let answer = tokio::time::timeout(CALL_TIMEOUT, async {
            loop {
                let message = self.next_json().await?;
                if message.get("id").and_then(Value::as_u64) == Some(id) {
                    return Ok::<_, ProxyError>(message);
                }
                self.early.push_back(message);
            }
        })
        .await
        .map_err(|_| ProxyError::Timeout)??;
        if let Some(error) = answer.get("error") {
            let error: RpcError = serde_json::from_value(error.clone())
                .unwrap_or_else(|_| RpcError::new(jsonrpc::INTERNAL_ERROR, error.to_string()));
            return Err(ProxyError::Rpc {
                method: method.to_owned(),
                error,
            });
        }
        Ok(answer.get("result").cloned().unwrap_or(Value::Null))
    }

    /// The next JSON message from the server (answers and notifications).
    pub async fn next_json(&mut self) -> Result<Value, ProxyError> {
        self.next_json_within(None).await
    }

    /// [`ApiClient::next_json`], failing with [`ProxyError::Timeout`] when
    /// no frame at all (pings included) arrives for `silence`.
    pub async fn next_json_within(
        &mut self,
        silence: Option<Duration>,
    ) -> Result<Value, ProxyError> {
        if let Some(early) = self.early.pop_front() {
            return Ok(early);
        }
        loop {
            let next = match silence {
                Some(silence) => tokio::time::timeout(silence, self.ws.next())
                    .await
                    .map_err(|_| ProxyError::Timeout)?,
                None => self.ws.next().await,
            };
            let message = next.ok_or_else(|| ProxyError::Connect {
                addr: "api".into(),
                detail: "closed".into(),
            })?;
            match message {
                Ok(Message::Text(text)) => {
                    return serde_json::from_str(text.as_str()).map_err(|error| {
                        ProxyError::Connect {
                            addr: "api".into(),
                            detail: format!("not JSON: {error}"),
                        }
                    });
                }
                Ok(Message::Close(frame)) => {
                    return Err(ProxyError::Connect {
                        addr: "api".into(),
                        detail: format!("closed: {frame:?}"),
                    });
                }
                Ok(_) => continue,
                Err(error) => {
                    return Err(ProxyError::Connect {
                        addr: "api".into(),
                        detail: error.to_string(),
                    });
                }
            }
        }
    }

    /// Closes the session.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.ws.close(None)).await;
    }
}
