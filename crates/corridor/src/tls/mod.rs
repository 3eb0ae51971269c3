//! TLS for servers: loading a certificate chain and key (and, for mutual
//! TLS, the CAs client certificates must chain to) into a rustls server
//! configuration, with ring as the provider. Every corridor server loads its
//! TLS here.

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
            let mut roots = rustls::RootCertStore::empty();
            for cert in certificates(ca, TlsFile::ClientCa)? {
                roots
                    .add(cert)
                    .map_err(|e| TlsError::new(TlsFile::ClientCa, ca, e))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                roots.into(),
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

mod pin;
mod self_signed;

pub use pin::{PinError, client_config, spki_pin};
pub use self_signed::{SelfSigned, load_or_create_self_signed};
