//! What a relay is told at start: where to listen, whom to trust, and its limits.

use crate::Limits;
use crate::advertise::AdvertiseHost;
use corridor::clock::{Clock, SystemClock};
use corridor::origin::OriginPolicy;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// A relay's configuration.
#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// Address of the main listener (WebSocket path, `/healthz`, and `/metrics`
    /// unless `metrics_listen` is set).
    pub listen: SocketAddr,
    /// Path of the WebSocket endpoint, starting with `/`.
    pub ws_path: String,
    /// The host (and port) the ready line's URLs name instead of the bound address.
    pub advertise_host: Option<AdvertiseHost>,
    /// The public issuer keys file; reloaded on [`crate::RelayHandle::reload_keys`].
    pub issuer_keys_file: PathBuf,
    /// Audience tokens must name.
    pub audience: String,
    /// Issuer tokens must name.
    pub issuer: String,
    /// Which browser origins may attach.
    pub origins: OriginPolicy,
    /// PEM certificate chain and key; TLS on every listener when set.
    pub tls: Option<TlsFiles>,
    /// A separate listener for `/metrics`.
    pub metrics_listen: Option<SocketAddr>,
    /// Whether `/metrics` answers from the start (else after SIGUSR1).
    pub metrics_enabled: bool,
    /// The bounds.
    pub limits: Limits,
    /// The wall clock tokens and channel deadlines are read against (the
    /// system's; tests set their own).
    pub clock: Arc<dyn Clock>,
}

/// PEM files for TLS.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Private key.
    pub key: PathBuf,
}

/// A configuration the relay cannot run with; the message names the setting.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl RelayConfig {
    /// A configuration with defaults for everything but trust.
    pub fn new(issuer_keys_file: impl Into<PathBuf>, audience: &str, issuer: &str) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            ws_path: "/ws".into(),
            advertise_host: None,
            issuer_keys_file: issuer_keys_file.into(),
            audience: audience.into(),
            issuer: issuer.into(),
            origins: OriginPolicy::default(),
            tls: None,
            metrics_listen: None,
            metrics_enabled: false,
            limits: Limits::default(),
            clock: Arc::new(SystemClock),
        }
    }

    /// Checks the settings that no type rules out.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |text: &str| Err(ConfigError(text.to_owned()));
        if !self.ws_path.starts_with('/') {
            return err("--ws-path must start with /");
        }
        if matches!(self.ws_path.as_str(), "/healthz" | "/metrics") {
            return err("--ws-path must not be /healthz or /metrics");
        }
        if self.audience.trim().is_empty() {
            return err("missing --aud");
        }
        if self.issuer.trim().is_empty() {
            return err("missing --iss");
        }
        let limits = &self.limits;
        if limits.max_conns == 0 {
            return err("--max-conns must be > 0");
        }
        if limits.max_channels == 0 {
            return err("--max-channels must be > 0");
        }
        if limits.max_replay_entries == Some(0) {
            return err("--max-replay-entries must be > 0");
        }
        if limits.max_replay_bytes < 1024 {
            return err("--max-replay-bytes must be >= 1024");
        }
        if limits.max_attach_bytes < 64 {
            return err("--max-attach-bytes must be >= 64");
        }
        if limits.max_record_bytes < 1024 {
            return err("--max-record-bytes must be >= 1024");
        }
        if limits.max_write_queue_bytes < limits.max_record_bytes {
            return err("--max-write-queue-bytes must be >= --max-record-bytes");
        }
        if limits.max_token_lifetime.is_zero() {
            return err("--max-token-lifetime must be > 0");
        }
        if limits.max_init_horizon.is_zero() {
            return err("--max-init-horizon must be > 0");
        }
        if limits.attach_timeout.is_zero() {
            return err("--attach-timeout must be > 0");
        }
        if limits.ws_read_buffer_bytes < 1024 {
            return err("--ws-read-buffer-bytes must be >= 1024");
        }
        Ok(())
    }
}
