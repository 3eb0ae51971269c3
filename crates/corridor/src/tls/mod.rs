//! TLS with ring as the provider: servers load a certificate chain and key
//! (and, for mutual TLS, the CAs client certificates must chain to);
//! clients trust a private CA (and, for mutual TLS, present their own
//! certificate) or pin one server key ([`client_config`]). Every corridor
//! server and client loads its TLS here.

use crate::carrier::Connection;
use crate::peer::TlsInfo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The files of a TLS server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerTlsFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key of the leaf.
    pub key: PathBuf,
    /// PEM CA certificates client certificates must chain to; with it, every
    /// client must present one (mutual TLS).
    pub client_ca: Option<PathBuf>,
}

/// Which of the files a [`TlsError`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsFile {
    /// The certificate chain.
    Certificate,
    /// The private key.
    Key,
    /// The client CA certificates.
    ClientCa,
    /// The CA certificates a server's chain must lead to.
    ServerCa,
}

/// Why TLS material did not load: which file, and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("{file:?} {path}: {detail}")]
pub struct TlsError {
    /// Which file.
    pub file: TlsFile,
    /// Its path.
    pub path: PathBuf,
    /// What is wrong.
    pub detail: String,
}

impl TlsError {
    fn new(file: TlsFile, path: &Path, detail: impl std::fmt::Display) -> TlsError {
        TlsError {
            file,
            path: path.to_owned(),
            detail: detail.to_string(),
        }
    }
}

fn certificates(path: &Path, file: TlsFile) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::new(file, path, e))?;
    if certs.is_empty() {
        return Err(TlsError::new(file, path, "no certificate found"));
    }
    Ok(certs)
}

/// The ring provider. Named explicitly: a build that also links aws-lc-rs
/// (through another crate) would make rustls refuse to guess.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Loads a server configuration: TLS 1.2 and 1.3 with rustls's safe
/// defaults (AEAD suites only; X25519 and P-256 key exchange).
pub fn load_server_config(files: &ServerTlsFiles) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certs = certificates(&files.cert, TlsFile::Certificate)?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| TlsError::new(TlsFile::Key, &files.key, e))?;
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::new(TlsFile::Certificate, &files.cert, e))?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                roots(ca, TlsFile::ClientCa)?.into(),
                provider(),
            )
            .build()
            .map_err(|e| TlsError::new(TlsFile::ClientCa, ca, e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::new(TlsFile::Certificate, &files.cert, e))?;
    Ok(Arc::new(config))
}

/// Loads a client configuration that trusts the CAs in `ca` (PEM) and no
/// others; with `identity` (certificate chain and key, PEM) it presents
/// that certificate to servers that ask for one (mutual TLS). TLS 1.2 and
/// 1.3 with rustls's safe defaults.
///
/// ```no_run
/// let config = corridor::tls::load_client_config(std::path::Path::new("ca.pem"), None)?;
/// let _connector = tokio_rustls::TlsConnector::from(config);
/// # Ok::<(), corridor::tls::TlsError>(())
/// ```
pub fn load_client_config(
    ca: &Path,
    identity: Option<(&Path, &Path)>,
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::new(TlsFile::ServerCa, ca, e))?
        .with_root_certificates(roots(ca, TlsFile::ServerCa)?);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let certs = certificates(cert, TlsFile::Certificate)?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| TlsError::new(TlsFile::Key, key, e))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| TlsError::new(TlsFile::Certificate, cert, e))?
        }
    };
    Ok(Arc::new(config))
}

/// The pin of the first (leaf) certificate in `path` (PEM), as
/// [`client_config`] takes it: what a server prints for its clients.
pub fn certificate_pin(path: &Path) -> Result<String, TlsError> {
    let certs = certificates(path, TlsFile::Certificate)?;
    spki_pin(&certs[0]).map_err(|e| TlsError::new(TlsFile::Certificate, path, e))
}

/// The CA certificates in `path`, as a trust store.
fn roots(path: &Path, file: TlsFile) -> Result<rustls::RootCertStore, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in certificates(path, file)? {
        roots.add(cert).map_err(|e| TlsError::new(file, path, e))?;
    }
    Ok(roots)
}

/// Runs the client side of a TLS handshake on `connection` (a Unix socket,
/// a TCP stream) with `config`, checking the server's certificate for
/// `server_name`; the connection's facts record that name.
pub async fn client_handshake(
    connection: Connection,
    config: Arc<rustls::ClientConfig>,
    server_name: &str,
) -> std::io::Result<Connection> {
    let name = rustls_pki_types::ServerName::try_from(server_name.to_owned())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let Connection {
        io,
        mut info,
        progress,
    } = connection;
    let stream = tokio_rustls::TlsConnector::from(config)
        .connect(name, io)
        .await?;
    info.tls = Some(TlsInfo {
        server_name: Some(server_name.to_owned()),
        client_certificates: Vec::new(),
    });
    Ok(Connection {
        io: Box::new(stream),
        info,
        progress,
    })
}

mod dev_pki;
mod pin;
mod self_signed;

pub use dev_pki::PkiDir;
pub use pin::{PinError, client_config, spki_pin};
pub use self_signed::{SelfSigned, load_or_create_self_signed};
