//! Clients that trust a server by its key: the SHA-256 of the certificate's
//! SubjectPublicKeyInfo, written `sha256/<base64>` as in HPKP and curl's
//! `--pinnedpubkey`. A server with a self-signed certificate is then as
//! safe to reach as one with a CA-issued name, with no CA involved, and
//! the pin survives certificate renewal with the same key.

use base64::Engine as _;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::Arc;
use x509_cert::der::{Decode as _, Encode as _};

/// Why a pin could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    /// The certificate is not DER X.509.
    #[error("not an X.509 certificate: {0}")]
    Certificate(String),
    /// The pin is not `sha256/` and 32 bytes of base64.
    #[error("a pin is sha256/ followed by 32 bytes in base64: {0:?}")]
    Format(String),
}

/// The pin of a DER certificate: `sha256/` and the base64 SHA-256 of its
/// SubjectPublicKeyInfo.
pub fn spki_pin(cert: &[u8]) -> Result<String, PinError> {
    Ok(format_pin(&spki_digest(cert)?))
}

fn spki_digest(cert: &[u8]) -> Result<[u8; 32], PinError> {
    let parsed = x509_cert::Certificate::from_der(cert)
        .map_err(|error| PinError::Certificate(error.to_string()))?;
    let spki = parsed
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|error| PinError::Certificate(error.to_string()))?;
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, &spki).as_ref());
    Ok(out)
}

fn format_pin(digest: &[u8; 32]) -> String {
    format!(
        "sha256/{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

fn parse_pin(pin: &str) -> Result<[u8; 32], PinError> {
    pin.strip_prefix("sha256/")
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .and_then(|raw| <[u8; 32]>::try_from(raw).ok())
        .ok_or_else(|| PinError::Format(pin.to_owned()))
}

/// A rustls client configuration that accepts exactly the server whose
/// key has `pin` (any name, any issuer, any validity dates: the key is the
/// identity), with handshake signatures still checked.
///
/// ```
/// let config = corridor::tls::client_config("sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=").unwrap();
/// let _connector = tokio_rustls::TlsConnector::from(config);
/// ```
pub fn client_config(pin: &str) -> Result<Arc<rustls::ClientConfig>, PinError> {
    let verifier = PinnedServer {
        digest: parse_pin(pin)?,
        provider: super::provider(),
    };
    let config = rustls::ClientConfig::builder_with_provider(super::provider())
        .with_safe_default_protocol_versions()
        .map_err(|error| PinError::Format(error.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[derive(Debug)]
struct PinnedServer {
    digest: [u8; 32],
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = spki_digest(end_entity).map_err(|_| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
        })?;
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            &presented[..],
            &self.digest[..],
        )) {
            return Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
