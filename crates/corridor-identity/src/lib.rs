//! Key-identified clients (seed 001, without its weak points): a server
//! that knows its users by their X25519 keys.
//!
//! - [`store`]: users, their keys (several per user), one-time enrollment
//!   tokens and the revocation log, in an SQLite file (the default) or
//!   PostgreSQL, through one interface.
//! - [`authority`]: judges each Noise handshake: an enrollment (a token in
//!   the handshake's encrypted payload, XX) registers the key and admits at
//!   once; afterwards the key alone logs in (IK). Freshness comes from the
//!   handshake, not from clocks; nothing secret travels in a URL.
//! - [`live`]: sessions by key, closed when their key is revoked.
//! - [`events`]: topic subscriptions and fan-out over the sessions' RPC.
//! - [`server`] and [`client`]: the two ends, composed from corridor's
//!   listener, Noise suite and sessions.
//! - [`records`]: the records service on top: JSON actions on declared
//!   views, and their changes as topic events.
//!
//! ```
//! use corridor_identity::{client, ClientConfig, Enroll, IdentityConfig, IdentityServer, Store};
//! use corridor::core::identity::StaticSecret;
//! use std::sync::Arc;
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let dir = tempfile::tempdir()?;
//! let store = Arc::new(Store::open_sqlite(&dir.path().join("users.db")).await?);
//! store.add_user("alice", &[]).await?;
//! let token = store.issue_token("alice", std::time::Duration::from_secs(900), "laptop").await?;
//!
//! let key = StaticSecret::generate(&mut rand_core::OsRng);
//! let config = IdentityConfig::new("127.0.0.1:0".parse()?, key);
//! let everyone = Arc::new(|_: &corridor_identity::Account, _: &str| true);
//! let server = IdentityServer::bind(config, store, everyone).await?;
//! let (url, server_key) = (server.url(), server.public_key());
//! tokio::spawn(server.serve(Default::default(), |_, _| async {}));
//!
//! // Enroll once with the token, then log in with the key alone.
//! let me = ClientConfig::new(url, server_key, StaticSecret::generate(&mut rand_core::OsRng));
//! let enroll = Enroll { user: "alice".into(), token, label: String::new() };
//! let first = client::enroll(&me, enroll).await?;
//! assert!(first.welcome.enrolled);
//! let again = client::login(&me).await?;
//! assert_eq!(again.welcome.user, "alice");
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

#![forbid(unsafe_code)]

pub mod authority;
pub mod client;
pub mod events;
pub mod hello;
pub mod live;
pub mod records;
pub mod rpc;
pub mod server;
pub mod store;
pub mod token;

pub use authority::Admitted;
pub use client::{ClientConfig, Connected};
pub use events::{EventLimits, Events, TopicPolicy};
pub use hello::{Enroll, Welcome};
pub use server::{IdentityConfig, IdentityServer, IdentityServerHandle};
pub use store::{Account, Backend, Refusal, Store, StoreError};

/// The channel id identity sessions name in their handshake.
pub const CHANNEL_ID: &str = "corridor.identity";

/// Everything that fails in this crate.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The listener could not bind.
    #[error("bind {addr}: {source}")]
    Bind {
        /// Where.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The registry failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The server refused this client, and said why.
    #[error("refused by the server: {0}")]
    Refused(String),
    /// The session failed (connect, handshake, a pin that does not match).
    #[error(transparent)]
    Session(corridor::Error),
    /// The server's welcome did not parse.
    #[error("the server's welcome is malformed")]
    Welcome,
}
