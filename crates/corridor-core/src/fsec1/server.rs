//! The server side of the fsec1 handshake: answer an init (and identical
//! retries of it) with a response, verify the client's PSK-authenticated ack
//! and its timestamp, and send the finished record.
//!
//! Pending handshakes live in a [`HandshakeCache`] shared by a server's
//! connections, bounded in size and age, so an identical retried init gets the
//! identical response. A handshake that is dropped before its ack removes its
//! entry, so clients that send an init and vanish cannot fill the cache.

use super::ephemeral::{self, EphemeralSecret};
use super::frame::{self, MessageType};
use super::messages::{self, Ack, Init, Resp};
use super::record::Flag;
use super::schedule::{self, Transcript};
use super::{Established, Fsec1Error, Suite, VERSION, keyed};
use crate::{Role, b64};
use rand_core::CryptoRngCore;
use ring::digest;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// What the server brings to a handshake.
#[derive(Clone)]
pub struct ServerConfig {
    /// The channel's 32-byte pre-shared key (from the grant).
    pub psk: Zeroizing<[u8; 32]>,
    /// The suite the server accepts.
    pub suite: Suite,
    /// The channel id the client must name, when the server knows it.
    pub channel_id: Option<String>,
    /// The channel's init deadline (Unix seconds): acks stamped later than
    /// this plus the skew are refused.
    pub init_exp_unix_s: i64,
    /// Tolerated difference between the client's clock and ours.
    pub clock_skew_secs: u64,
    /// Feature bits to advertise.
    pub features: u32,
    /// Largest handshake body accepted from the client.
    pub max_handshake_payload: usize,
    /// Largest record accepted or produced.
    pub max_record_bytes: usize,
}

impl ServerConfig {
    /// A configuration with flowersec's defaults.
    pub fn new(psk: [u8; 32], suite: Suite, init_exp_unix_s: i64) -> ServerConfig {
        ServerConfig {
            psk: Zeroizing::new(psk),
            suite,
            channel_id: None,
            init_exp_unix_s,
            clock_skew_secs: super::DEFAULT_CLOCK_SKEW_SECS,
            features: 0,
            max_handshake_payload: super::DEFAULT_MAX_HANDSHAKE_PAYLOAD,
            max_record_bytes: super::DEFAULT_MAX_RECORD_BYTES,
        }
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("suite", &self.suite)
            .field("channel_id", &self.channel_id)
            .field("init_exp_unix_s", &self.init_exp_unix_s)
            .finish_non_exhaustive()
    }
}

/// A server's half of a handshake, between its response and the ack.
struct Pending {
    handshake_id: String,
    secret: EphemeralSecret,
    public: Vec<u8>,
    nonce_s: [u8; 32],
    features: u32,
    created: Instant,
}

/// Handshakes waiting for their ack, keyed by the SHA-256 of the init body.
pub struct HandshakeCache {
    entries: Mutex<HashMap<[u8; 32], Arc<Pending>>>,
    ttl: Duration,
    max_entries: usize,
}

impl Default for HandshakeCache {
    /// 60 s and 4096 entries, as flowersec.
    fn default() -> Self {
        HandshakeCache::new(Duration::from_secs(60), 4096)
    }
}

impl std::fmt::Debug for HandshakeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandshakeCache")
            .field("pending", &self.len())
            .field("ttl", &self.ttl)
            .field("max_entries", &self.max_entries)
            .finish()
    }
}

impl HandshakeCache {
    /// A cache holding at most `max_entries` handshakes for at most `ttl` each.
    pub fn new(ttl: Duration, max_entries: usize) -> HandshakeCache {
        HandshakeCache {
            entries: Mutex::new(HashMap::new()),
            ttl,
            max_entries,
        }
    }

    /// Handshakes currently waiting for their ack.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no handshake is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Arc<Pending>>> {
        // A panic while holding this lock cannot leave the map inconsistent.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn get_or_create(
        &self,
        fingerprint: [u8; 32],
        make: impl FnOnce() -> Pending,
        now: Instant,
    ) -> Result<Arc<Pending>, Fsec1Error> {
        let mut entries = self.lock();
        if let Some(existing) = entries.get(&fingerprint) {
            if now.saturating_duration_since(existing.created) <= self.ttl {
                return Ok(existing.clone());
            }
        }
        if entries.len() >= self.max_entries {
            entries.retain(|_, pending| now.saturating_duration_since(pending.created) <= self.ttl);
            if entries.len() >= self.max_entries {
                return Err(Fsec1Error::TooManyPendingHandshakes);
            }
        }
        let pending = Arc::new(make());
        entries.insert(fingerprint, pending.clone());
        Ok(pending)
    }

    /// Removes the entry if it is still `expected`; returns whether it was.
    fn remove(&self, fingerprint: &[u8; 32], expected: &Arc<Pending>) -> bool {
        let mut entries = self.lock();
        match entries.get(fingerprint) {
            Some(current) if Arc::ptr_eq(current, expected) => {
                entries.remove(fingerprint);
                true
            }
            _ => false,
        }
    }
}

/// A server that has answered an init and waits for the ack.
pub struct ServerHandshake {
    config: ServerConfig,
    cache: Arc<HandshakeCache>,
    fingerprint: [u8; 32],
    init: Init,
    client_public: Vec<u8>,
    nonce_c: [u8; 32],
    pending: Option<Arc<Pending>>,
}

impl std::fmt::Debug for ServerHandshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandshake")
            .field("channel_id", &self.init.channel_id)
            .finish_non_exhaustive()
    }
}

/// What the server does with a message after its response.
// Returned once per message of a handshake and matched at once: boxing the
// large variant would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum ServerStep {
    /// The client repeated its init: send this response again and keep waiting.
    Resend {
        /// The handshake, still waiting for the ack.
        handshake: ServerHandshake,
        /// The response frame to send again.
        resp: Vec<u8>,
    },
    /// The ack verified: send `finished`, then the session is up.
    Done {
        /// This side's record keys; the finished record already used sequence 1.
        established: Established,
        /// The finished record to send before any application record.
        finished: Vec<u8>,
    },
}

impl ServerHandshake {
    /// Takes the client's init and returns the state and the response frame.
    /// `now` ages the cache.
    pub fn on_init(
        config: ServerConfig,
        cache: &Arc<HandshakeCache>,
        frame: &[u8],
        now: Instant,
        rng: &mut impl CryptoRngCore,
    ) -> Result<(ServerHandshake, Vec<u8>), Fsec1Error> {
        let body = frame::expect(frame, MessageType::Init, config.max_handshake_payload)?;
        let init: Init = messages::parse(body)?;
        if init.version != VERSION || init.role != Role::Client.as_u8() {
            return Err(Fsec1Error::InvalidVersion);
        }
        let suite = Suite::from_u16(init.suite).ok_or(Fsec1Error::SuiteMismatch)?;
        let client_public =
            b64::decode(&init.client_eph_pub_b64u).map_err(|_| Fsec1Error::InvalidKey)?;
        ephemeral::check_public(suite, &client_public)?;
        let nonce_c = b64::decode_array::<32>(&init.nonce_c_b64u).ok_or(Fsec1Error::InvalidKey)?;
        if init.channel_id.is_empty() || init.channel_id.len() > usize::from(u16::MAX) {
            return Err(Fsec1Error::InvalidChannelId);
        }
        if config
            .channel_id
            .as_ref()
            .is_some_and(|expected| *expected != init.channel_id)
        {
            return Err(Fsec1Error::ChannelMismatch);
        }
        if suite != config.suite {
            return Err(Fsec1Error::SuiteMismatch);
        }
        let fingerprint = fingerprint(body);
        let features = config.features;
        let pending = cache.get_or_create(
            fingerprint,
            || {
                let secret = EphemeralSecret::generate(suite, rng);
                let public = secret.public_bytes();
                let mut nonce_s = [0u8; 32];
                rng.fill_bytes(&mut nonce_s);
                let mut id = [0u8; 24];
                rng.fill_bytes(&mut id);
                Pending {
                    handshake_id: b64::encode(id),
                    secret,
                    public,
                    nonce_s,
                    features,
                    created: now,
                }
            },
            now,
        )?;
        let resp = response_frame(&pending);
        let handshake = ServerHandshake {
            config,
            cache: cache.clone(),
            fingerprint,
            init,
            client_public,
            nonce_c,
            pending: Some(pending),
        };
        Ok((handshake, resp))
    }

    /// The channel id the client named (checked against the server's, if it has one).
    pub fn channel_id(&self) -> &str {
        &self.init.channel_id
    }

    /// Takes the next handshake message: an identical init again, or the ack,
    /// checked against the server's clock `now_unix_s`.
    pub fn on_message(mut self, frame: &[u8], now_unix_s: u64) -> Result<ServerStep, Fsec1Error> {
        let (kind, body) = frame::decode(frame, self.config.max_handshake_payload)?;
        let Some(pending) = self.pending.clone() else {
            return Err(Fsec1Error::HandshakeStateUnavailable);
        };
        if kind == MessageType::Init as u8 {
            if fingerprint(body) != self.fingerprint {
                return Err(Fsec1Error::Authentication);
            }
            let resp = response_frame(&pending);
            return Ok(ServerStep::Resend {
                handshake: self,
                resp,
            });
        }
        if kind != MessageType::Ack as u8 {
            return Err(Fsec1Error::UnexpectedMessage(kind));
        }
        let ack: Ack = messages::parse(body)?;
        // Take the entry first: whatever the ack's fate, it is spent.
        self.pending = None;
        if !self.cache.remove(&self.fingerprint, &pending) {
            return Err(Fsec1Error::HandshakeStateUnavailable);
        }
        if ack.handshake_id != pending.handshake_id {
            return Err(Fsec1Error::Authentication);
        }
        self.check_timestamp(ack.timestamp_unix_s, now_unix_s)?;
        let transcript = Transcript {
            suite: self.config.suite,
            client_features: self.init.client_features,
            server_features: pending.features,
            channel_id: &self.init.channel_id,
            nonce_c: self.nonce_c,
            nonce_s: pending.nonce_s,
            client_public: &self.client_public,
            server_public: &pending.public,
        }
        .hash()?;
        let tag = b64::decode(&ack.auth_tag_b64u).map_err(|_| Fsec1Error::Authentication)?;
        schedule::verify_auth_tag(
            self.config.psk.as_ref(),
            &transcript,
            ack.timestamp_unix_s,
            &tag,
        )?;
        let shared = pending.secret.agree(&self.client_public)?;
        let keys = schedule::session_keys(self.config.psk.as_ref(), &shared, &transcript)?;
        let mut established = keyed(
            &keys,
            &transcript,
            Role::Server,
            self.config.max_record_bytes,
            self.init.client_features & pending.features,
        );
        let mut finished = Vec::with_capacity(super::record::OVERHEAD);
        established.sealer.seal(Flag::Ping, &[], &mut finished)?;
        Ok(ServerStep::Done {
            established,
            finished,
        })
    }

    /// The client's clock must be within the skew of ours, and not past the
    /// channel's init deadline (plus the skew).
    fn check_timestamp(&self, timestamp: u64, now: u64) -> Result<(), Fsec1Error> {
        let (timestamp, now) = (i128::from(timestamp), i128::from(now));
        let skew = i128::from(self.config.clock_skew_secs);
        if timestamp < now - skew || timestamp > now + skew {
            return Err(Fsec1Error::Timestamp);
        }
        if timestamp > i128::from(self.config.init_exp_unix_s) + skew {
            return Err(Fsec1Error::Timestamp);
        }
        Ok(())
    }
}

impl Drop for ServerHandshake {
    fn drop(&mut self) {
        if let Some(pending) = self.pending.take() {
            self.cache.remove(&self.fingerprint, &pending);
        }
    }
}

fn fingerprint(body: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, body).as_ref());
    out
}

fn response_frame(pending: &Pending) -> Vec<u8> {
    let resp = Resp {
        handshake_id: pending.handshake_id.clone(),
        server_eph_pub_b64u: b64::encode(&pending.public),
        nonce_s_b64u: b64::encode(pending.nonce_s),
        server_features: pending.features,
    };
    frame::encode(MessageType::Resp, &messages::to_body(&resp))
}
