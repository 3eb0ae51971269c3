//! A proxy server, agents and small local services on loopback.

#![allow(dead_code)]

use corridor_proxy::{
    Agent, AgentConfig, ApiClient, ApiUrl, Limits, ProxyConfig, ProxyServer, ProxyServerHandle,
    Ready, Routes, ServerTrust,
};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

pub fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

pub struct Proxy {
    pub ready: Ready,
    pub handle: ProxyServerHandle,
    pub done: tokio::task::JoinHandle<()>,
    pub dir: Arc<tempfile::TempDir>,
}

/// Limits short enough for tests.
pub fn test_limits() -> Limits {
    Limits {
        sniff_timeout: Duration::from_millis(500),
        dialback_timeout: Duration::from_secs(2),
        drain: Duration::from_secs(2),
        // Every visitor comes from 127.0.0.1 here.
        per_ip_rate: 0,
        ..Limits::default()
    }
}

impl Proxy {
    pub async fn start(adjust: impl FnOnce(&mut ProxyConfig)) -> Proxy {
        Proxy::start_in(Arc::new(tempfile::tempdir().expect("tempdir")), adjust).await
    }

    /// A server on ports of its own, with its state in `dir`.
    pub async fn start_in(
        dir: Arc<tempfile::TempDir>,
        adjust: impl FnOnce(&mut ProxyConfig),
    ) -> Proxy {
        let mut config = ProxyConfig::local(dir.path().join("state"));
        config.http = vec![loopback()];
        config.https = vec![loopback()];
        config.api = loopback();
        config.data = loopback();
        config.limits = test_limits();
        adjust(&mut config);
        let server = ProxyServer::bind(config).await.expect("binds");
        let ready = server.ready().clone();
        let handle = server.handle();
        let done = tokio::spawn(server.serve());
        Proxy {
            ready,
            handle,
            done,
            dir,
        }
    }

    pub fn api_url(&self) -> ApiUrl {
        format!(
            "wss://127.0.0.1:{}{}",
            self.ready.api.port(),
            corridor_proxy::API_PATH
        )
        .parse()
        .expect("url")
    }

    pub fn trust(&self) -> ServerTrust {
        ServerTrust::Pin(self.ready.pin.clone().expect("self-signed"))
    }

    pub fn admin_token(&self) -> String {
        std::fs::read_to_string(&self.ready.admin_token_file)
            .expect("token")
            .trim()
            .to_owned()
    }

    pub async fn admin(&self) -> ApiClient {
        ApiClient::connect(&self.api_url(), &self.trust(), Some(&self.admin_token()))
            .await
            .expect("admin session")
    }

    /// Registers `host`; its secret.
    pub async fn register(&self, host: &str) -> String {
        let mut admin = self.admin().await;
        let answer = admin
            .call("proxy.register", json!({"host": host}))
            .await
            .expect("registered");
        admin.close().await;
        answer["secret"].as_str().expect("secret").to_owned()
    }

    /// An agent serving `host` with `routes`, subscribed.
    pub async fn agent(&self, host: &str, secret: &str, routes: &[&str], warm: usize) -> Agent {
        let mut config = AgentConfig::new(self.api_url(), self.trust());
        config.subscriptions = vec![(host.to_owned(), secret.to_owned())];
        let mut table = Routes::default();
        for route in routes {
            table.add(route).expect("route");
        }
        config.routes = table;
        config.warm = warm;
        config.drain = Duration::from_secs(5);
        let agent = Agent::spawn(config);
        agent
            .subscribed(Duration::from_secs(10))
            .await
            .expect("subscribed");
        agent
    }

    pub fn http_port(&self) -> u16 {
        self.ready.http[0].port()
    }

    pub fn https_port(&self) -> u16 {
        self.ready.https[0].port()
    }
}

/// A local HTTP service that answers every request with `name` and the
/// request's path, then closes.
pub async fn http_service(name: &'static str) -> SocketAddr {
    let listener = TcpListener::bind(loopback()).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(answer_http(stream, name));
        }
    });
    addr
}

async fn answer_http<S>(mut stream: S, name: &str)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut head = Vec::new();
    let mut byte = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&byte[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head);
    let path = text.split_whitespace().nth(1).unwrap_or("?").to_owned();
    let body = format!("{name} {path}\n");
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// A certificate for `names` from a CA made for it: the CA's PEM, and the
/// leaf's certificate and PKCS#8 key in DER.
pub fn ca_issued(
    names: &[&str],
) -> (
    String,
    rustls_pki_types::CertificateDer<'static>,
    rustls_pki_types::PrivateKeyDer<'static>,
) {
    let ca_key = rcgen::KeyPair::generate().expect("ca key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    // A subject of its own: with rcgen's default on both, the leaf would
    // look self-signed to OpenSSL.
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "corridor test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("ca");
    let leaf_key = rcgen::KeyPair::generate().expect("leaf key");
    let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
    let mut leaf_params = rcgen::CertificateParams::new(names.clone()).expect("leaf params");
    leaf_params.distinguished_name = rcgen::DistinguishedName::new();
    leaf_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, names[0].clone());
    let leaf = leaf_params.signed_by(&leaf_key, &ca).expect("leaf");
    let key = rustls_pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    (ca.pem(), leaf.der().clone(), key)
}

/// A local HTTPS service for `name` with a certificate from a CA of its
/// own; returns its address and the CA's PEM (the visitor's trust).
pub async fn https_service(name: &'static str) -> (SocketAddr, String) {
    let (ca_pem, cert, key) = ca_issued(&[name]);
    let config = rustls::ServerConfig::builder_with_provider(corridor::tls::provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind(loopback()).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(stream).await {
                    answer_http(tls, name).await;
                }
            });
        }
    });
    (addr, ca_pem)
}

/// A local service that echoes every byte back.
pub async fn echo_service() -> SocketAddr {
    let listener = TcpListener::bind(loopback()).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let (mut read, mut write) = stream.split();
                let _ = tokio::io::copy(&mut read, &mut write).await;
                let _ = write.shutdown().await;
            });
        }
    });
    addr
}

/// `curl` with `args`; its status and stdout.
pub async fn curl(args: &[&str]) -> (bool, String) {
    let out = tokio::process::Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "10"])
        .args(args)
        .output()
        .await
        .expect("curl runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// One HTTP/1.1 request for `host` on `port`; the whole answer.
pub async fn get(port: u16, host: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut answer)).await;
    answer
}

/// Waits for a JSON-RPC notification on `client`.
pub async fn notification(client: &mut ApiClient) -> Value {
    tokio::time::timeout(Duration::from_secs(10), client.next_json())
        .await
        .expect("a notification in time")
        .expect("a message")
}
