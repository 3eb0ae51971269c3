//! The `fsec1` E2EE suite: flowersec v1's handshake (FSEH) and record layer (FSEC).
//!
//! Two endpoints that share a 32-byte PSK agree on fresh keys with an ephemeral
//! X25519 or P-256 exchange, authenticate the exchange with the PSK, and then
//! exchange AES-256-GCM records with strict sequence numbers. Everything here is
//! sans-io: the state machines take frames, the time and a random source, and
//! hand back the frames to send. Wire-compatible with the `flowersec` crate 0.27.0.
//!
//! - [`frame`]: the FSEH handshake frame (10-byte header, JSON body).
//! - [`messages`]: the init, response and ack bodies.
//! - [`schedule`]: transcript hash, key schedule, PSK auth tag and rekey keys.
//! - [`ephemeral`]: the ephemeral key exchange of each suite.
//! - [`record`]: FSEC records (18-byte header as AAD) with [`record::Sealer`] and [`record::Opener`].
//! - [`client`] and [`server`]: the two handshake state machines.

pub mod client;
mod driven;
pub mod ephemeral;
pub mod frame;
pub mod messages;
pub mod record;
pub mod schedule;
pub mod server;

mod error;
mod suite;

pub use driven::{Fsec1Client, Fsec1Records, Fsec1Server};
pub use error::Fsec1Error;
pub use suite::Suite;

/// The protocol version in every FSEH and FSEC header and in the init body.
pub const VERSION: u8 = 1;
/// Largest handshake body accepted by default (flowersec's default).
pub const DEFAULT_MAX_HANDSHAKE_PAYLOAD: usize = 8 * 1024;
/// Largest record accepted or produced by default, header and tag included.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 1024 * 1024;
/// Clock skew tolerated on the ack timestamp by default.
pub const DEFAULT_CLOCK_SKEW_SECS: u64 = 30;

/// The keys and state an established session hands to its record layer.
pub struct Established {
    /// Seals the records this side sends.
    pub sealer: record::Sealer,
    /// Opens the records the peer sends.
    pub opener: record::Opener,
    /// The feature bits both sides advertised (authenticated by the transcript).
    pub shared_features: u32,
}

impl std::fmt::Debug for Established {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Established")
            .field("next_send", &self.sealer.next_sequence())
            .field("next_receive", &self.opener.next_sequence())
            .field("shared_features", &self.shared_features)
            .finish_non_exhaustive()
    }
}

/// Builds a side's sealer and opener from the session keys. The server's
/// finished ping is the first server-to-client record (sequence 1), and the
/// client's first record is 1 too.
fn keyed(
    keys: &schedule::SessionKeys,
    transcript: &[u8; 32],
    role: crate::Role,
    max_record_bytes: usize,
    shared_features: u32,
) -> Established {
    use record::{DirectionParams, Opener, Sealer};
    use schedule::Direction;
    let c2s = DirectionParams {
        key: &keys.c2s_key,
        nonce_prefix: keys.c2s_nonce_prefix,
        first_sequence: 1,
        rekey_base: &keys.rekey_base,
        transcript,
        direction: Direction::ClientToServer,
        max_record_bytes,
    };
    let s2c = DirectionParams {
        key: &keys.s2c_key,
        nonce_prefix: keys.s2c_nonce_prefix,
        direction: Direction::ServerToClient,
        ..c2s
    };
    match role {
        crate::Role::Client => Established {
            sealer: Sealer::new(c2s),
            opener: Opener::new(s2c),
            shared_features,
        },
        crate::Role::Server => Established {
            sealer: Sealer::new(s2c),
            opener: Opener::new(c2s),
            shared_features,
        },
    }
}
