//! Token verification as the relay does it: the issuer keys (swapped atomically
//! on reload), the token's own checks, then the relay's time bounds.

use corridor_core::keys::{KeyFileError, PublicKeys};
use corridor_core::token::{self, Claims, TokenError, VerifyOptions};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// Why an attach token was refused. Every variant closes with `invalid_token`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    /// The token's own checks failed.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// `exp - iat` is longer than the relay allows.
    #[error("token lifetime exceeds the relay's maximum")]
    LifetimeTooLong,
    /// `init_exp` lies further ahead than the relay allows.
    #[error("token init_exp is beyond the relay's horizon")]
    InitTooFar,
}

/// Why the issuer keys could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadKeysError {
    /// The file could not be read.
    #[error("read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not a valid keys file.
    #[error("{path}: {source}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: KeyFileError,
    },
}

/// Loads a public keys file.
pub fn load_public_keys(path: &Path) -> Result<PublicKeys, LoadKeysError> {
    let bytes = std::fs::read(path).map_err(|source| LoadKeysError::Io {
        path: path.to_owned(),
        source,
    })?;
    PublicKeys::from_json(&bytes).map_err(|source| LoadKeysError::Invalid {
        path: path.to_owned(),
        source,
    })
}

/// The relay's token verifier.
#[derive(Debug)]
pub struct Verifier {
    keys: RwLock<Arc<PublicKeys>>,
    keys_file: PathBuf,
    audience: String,
    issuer: String,
    clock_skew_secs: i64,
    max_lifetime_secs: i64,
    max_init_horizon_secs: i64,
}

impl Verifier {
    /// A verifier with keys loaded from `keys_file`.
    pub fn load(
        keys_file: &Path,
        audience: &str,
        issuer: &str,
        limits: &crate::Limits,
    ) -> Result<Self, LoadKeysError> {
        Ok(Self {
            keys: RwLock::new(Arc::new(load_public_keys(keys_file)?)),
            keys_file: keys_file.to_owned(),
            audience: audience.trim().to_owned(),
            issuer: issuer.trim().to_owned(),
            clock_skew_secs: limits.clock_skew_secs(),
            max_lifetime_secs: limits.max_token_lifetime.as_secs() as i64,
            max_init_horizon_secs: limits.max_init_horizon.as_secs() as i64,
        })
    }

    /// Re-reads the keys file; on error the old keys stay in force.
    pub fn reload(&self) -> Result<usize, LoadKeysError> {
        let keys = load_public_keys(&self.keys_file)?;
        let count = keys.len();
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
        Ok(count)
    }

    /// The audience tokens must name.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The issuer tokens must name.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The clock skew, whole seconds.
    pub fn clock_skew_secs(&self) -> i64 {
        self.clock_skew_secs
    }

    /// Verifies a token at `now` (Unix seconds).
    pub fn verify(&self, text: &str, now: i64) -> Result<Claims, VerifyError> {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner()).clone();
        let options = VerifyOptions {
            now_unix_s: now,
            audience: Some(self.audience.clone()),
            issuer: Some(self.issuer.clone()),
            clock_skew_secs: self.clock_skew_secs,
        };
        let claims = token::verify(text, keys.as_ref(), &options)?;
        let lifetime = i128::from(claims.exp) - i128::from(claims.iat);
        if lifetime > i128::from(self.max_lifetime_secs) {
            return Err(VerifyError::LifetimeTooLong);
        }
        let horizon = now
            .saturating_add(self.clock_skew_secs)
            .saturating_add(self.max_init_horizon_secs);
        if claims.init_exp > horizon {
            return Err(VerifyError::InitTooFar);
        }
        Ok(claims)
    }
}
