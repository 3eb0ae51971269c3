//! A server's own TLS identity when it is given none: a self-signed
//! certificate made on first start in its state directory (0600 files in
//! a 0700 directory, each written whole) and loaded on every later start, so its pin stays
//! the same and clients pinned to it keep working.

use super::{ServerTlsFiles, TlsError, TlsFile};
use crate::keystore::write_secret_file;
use std::path::Path;

/// A self-signed identity on disk.
#[derive(Clone, Debug)]
pub struct SelfSigned {
    /// The certificate and key files.
    pub files: ServerTlsFiles,
    /// Its pin, for clients (see [`super::client_config`]).
    pub pin: String,
    /// Whether it was made just now.
    pub created: bool,
}

/// Loads `dir/cert.pem` and `dir/key.pem`, making them first (for `names`)
/// when they do not exist.
pub fn load_or_create_self_signed(dir: &Path, names: &[String]) -> Result<SelfSigned, TlsError> {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let files = ServerTlsFiles {
        cert: cert.clone(),
        key: key.clone(),
        client_ca: None,
    };
    let created = !cert.exists();
    if created {
        let made = rcgen::generate_simple_self_signed(names.to_vec())
            .map_err(|e| TlsError::new(TlsFile::Certificate, &cert, e))?;
        // The key first: a certificate on disk means its key is there too.
        write_secret_file(&key, made.signing_key.serialize_pem().as_bytes())
            .map_err(|e| TlsError::new(TlsFile::Key, &key, e))?;
        write_secret_file(&cert, made.cert.pem().as_bytes())
            .map_err(|e| TlsError::new(TlsFile::Certificate, &cert, e))?;
    }
    let certs = super::certificates(&cert, TlsFile::Certificate)?;
    let pin =
        super::spki_pin(&certs[0]).map_err(|e| TlsError::new(TlsFile::Certificate, &cert, e))?;
    Ok(SelfSigned {
        files,
        pin,
        created,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_then_loaded_with_the_same_pin_and_a_private_key() {
        let dir = tempfile::tempdir().unwrap();
        let tls = dir.path().join("tls");
        let first = load_or_create_self_signed(&tls, &["localhost".into()]).unwrap();
        assert!(first.created);
        let again = load_or_create_self_signed(&tls, &["localhost".into()]).unwrap();
        assert!(!again.created);
        assert_eq!(first.pin, again.pin);
        super::super::load_server_config(&again.files).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&again.files.key)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
