//! A development PKI for mutual TLS: a CA, and a server and a client
//! certificate it signed, in one directory under the names Flyme uses
//! (`ca.pem`, `server-cert.pem`, `server-key.pem`, `client-cert.pem`,
//! `client-key.pem`), plus `ca-key.pem` to sign more. For tests and first
//! deployments; a real deployment brings its own CA. Every file is written
//! whole and 0600, and an existing PKI is never overwritten.

use super::{ServerTlsFiles, TlsError, TlsFile};
use crate::keystore::write_secret_file;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use std::path::{Path, PathBuf};

/// The files of a mutual-TLS setup in one directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PkiDir {
    /// The CA certificate both sides trust (`ca.pem`).
    pub ca: PathBuf,
    /// The CA's key (`ca-key.pem`), only for signing more certificates.
    pub ca_key: PathBuf,
    /// The server's certificate (`server-cert.pem`).
    pub server_cert: PathBuf,
    /// The server's key (`server-key.pem`).
    pub server_key: PathBuf,
    /// The client's certificate (`client-cert.pem`).
    pub client_cert: PathBuf,
    /// The client's key (`client-key.pem`).
    pub client_key: PathBuf,
}

impl PkiDir {
    /// The files' places in `dir`.
    pub fn new(dir: &Path) -> PkiDir {
        PkiDir {
            ca: dir.join("ca.pem"),
            ca_key: dir.join("ca-key.pem"),
            server_cert: dir.join("server-cert.pem"),
            server_key: dir.join("server-key.pem"),
            client_cert: dir.join("client-cert.pem"),
            client_key: dir.join("client-key.pem"),
        }
    }

    /// The server's side: its certificate and key, and the CA that every
    /// client's certificate must chain to.
    pub fn server(&self) -> ServerTlsFiles {
        ServerTlsFiles {
            cert: self.server_cert.clone(),
            key: self.server_key.clone(),
            client_ca: Some(self.ca.clone()),
        }
    }

    /// Makes a fresh CA and a server certificate (for `server_names`) and a
    /// client certificate it signed; refuses if a CA is there already.
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("corridor-pki-doc-{}", std::process::id()));
    /// let pki = corridor::tls::PkiDir::new(&dir);
    /// pki.create(&["corridor-ipc".to_owned()]).unwrap();
    /// assert!(pki.create(&["corridor-ipc".to_owned()]).is_err(), "never overwritten");
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn create(&self, server_names: &[String]) -> Result<(), TlsError> {
        if self.ca.exists() {
            return Err(TlsError::new(
                TlsFile::ServerCa,
                &self.ca,
                "exists: a PKI is never overwritten",
            ));
        }
        let mut ca = CertificateParams::new(Vec::<String>::new())
            .map_err(failed(TlsFile::ServerCa, &self.ca))?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate().map_err(failed(TlsFile::Key, &self.ca_key))?;
        // A name of its own: two development CAs with one name would make a
        // verifier take one for the other's issuer ("bad signature" where
        // "unknown issuer" is the truth).
        let tag: String = ca_key.public_key_raw()[1..7]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        ca.distinguished_name
            .push(DnType::CommonName, format!("corridor development CA {tag}"));
        let ca_key_pem = ca_key.serialize_pem();
        let ca = CertifiedIssuer::self_signed(ca, ca_key)
            .map_err(failed(TlsFile::ServerCa, &self.ca))?;
        let leaf = |names: Vec<String>, common_name: &str, usage, path: &Path| {
            let mut params =
                CertificateParams::new(names).map_err(failed(TlsFile::Certificate, path))?;
            params
                .distinguished_name
                .push(DnType::CommonName, common_name);
            params.extended_key_usages = vec![usage];
            let key = KeyPair::generate().map_err(failed(TlsFile::Key, path))?;
            let cert = params
                .signed_by(&key, &ca)
                .map_err(failed(TlsFile::Certificate, path))?;
            Ok::<_, TlsError>((cert.pem(), key.serialize_pem()))
        };
        let server = leaf(
            server_names.to_vec(),
            "corridor server",
            ExtendedKeyUsagePurpose::ServerAuth,
            &self.server_cert,
        )?;
        let client = leaf(
            Vec::new(),
            "corridor client",
            ExtendedKeyUsagePurpose::ClientAuth,
            &self.client_cert,
        )?;
        // Keys before certificates, the CA last: a CA on disk means the
        // whole set is there.
        for (path, text, file) in [
            (&self.ca_key, ca_key_pem.as_str(), TlsFile::Key),
            (&self.server_key, server.1.as_str(), TlsFile::Key),
            (&self.client_key, client.1.as_str(), TlsFile::Key),
            (&self.server_cert, server.0.as_str(), TlsFile::Certificate),
            (&self.client_cert, client.0.as_str(), TlsFile::Certificate),
            (&self.ca, ca.pem().as_str(), TlsFile::ServerCa),
        ] {
            write_secret_file(path, text.as_bytes()).map_err(|e| TlsError::new(file, path, e))?;
        }
        Ok(())
    }
}

/// An rcgen failure, named by the file it was making.
fn failed(file: TlsFile, path: &Path) -> impl FnOnce(rcgen::Error) -> TlsError + '_ {
    move |error| TlsError::new(file, path, error)
}
