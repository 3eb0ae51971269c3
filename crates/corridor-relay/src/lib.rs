//! corridor's relay: an untrusted tunnel server, wire-compatible with
//! flowersec v1's tunnel.
//!
//! It authenticates each endpoint by a signed one-time FST2 token in its
//! first WebSocket message, pairs a client and a server endpoint by channel
//! id, and forwards their encrypted records blindly, one WebSocket message to
//! one message. It holds no keys and reads no plaintext. It owns the
//! listeners, the attach checks, the channel table, forwarding with bounded
//! queues, and the operator surface (metrics, health, key reload).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = corridor_relay::RelayConfig::new("issuer_keys.json", "relay-aud", "my-cp");
//! config.origins.allow_no_origin = true;
//! let relay = corridor_relay::Relay::bind(config).await?;
//! let handle = relay.handle();
//! tokio::spawn(relay.run());
//! handle.reload_keys()?;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

mod advertise;
mod attach;
mod budget;
mod channel;
mod config;
mod http;
mod limits;
mod metrics;
mod pairing;
mod pump;
mod refusals;
mod replay;
mod server;
mod slots;
mod state;
mod verifier;
mod ws;

pub use advertise::{AdvertiseHost, AdvertiseHostError};
pub use config::{ConfigError, RelayConfig, TlsFiles};
pub use corridor::origin::OriginPolicy;
pub use limits::Limits;
pub use metrics::Metrics;
pub use replay::{ReplayCache, ReplayStore, ReplayUsage, StoreFuture, TokenUse};
pub use server::{Relay, RelayError, RelayHandle};
pub use verifier::{LoadKeysError, VerifyError, load_public_keys};
