//! What every E2EE suite offers the layers above, in the shape of
//! quinn-proto's `crypto::Session`: a [`Handshake`] that takes the peer's
//! messages and hands back its own, asks the application to judge the peer
//! where the suite lets it, and ends in [`Established`]: a
//! [`RecordProtector`], the peer's proven [`PeerIdentity`], the feature bits
//! both sides advertised, and what the peer put in the handshake's payload.
//!
//! The suites are [`crate::fsec1`] (flowersec v1's PSK handshake) and
//! [`crate::noise`] (Noise XX, IK and KK with static keys). A driver runs any
//! of them the same way:
//!
//! ```text
//! loop {
//!     match handshake.step()? {
//!         Step::Send(message) => carrier.send(message),
//!         Step::Receive => handshake.on_message(&mut carrier.receive(), &mut cx)?,
//!         Step::Decide(claim) => handshake.decide(application.judge(claim))?,
//!         Step::Done => break,
//!     }
//! }
//! let established = handshake.finish()?;
//! ```

use crate::fsec1::Fsec1Error;
use crate::identity::PublicKey;
use crate::noise::NoiseError;
use std::ops::Range;
use std::time::Instant;

/// The stable names of the suites, as negotiation spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SuiteName {
    /// flowersec v1's PSK handshake and FSEC records.
    Fsec1,
    /// Noise with X25519 static keys.
    Noise,
}

impl SuiteName {
    /// The name on the wire (`Sec-WebSocket-Protocol`, the byte-stream preface).
    pub const fn wire_name(self) -> &'static str {
        match self {
            SuiteName::Fsec1 => "corridor.fsec1",
            SuiteName::Noise => "corridor.noise",
        }
    }

    /// The suite a wire name names.
    pub fn from_wire_name(name: &str) -> Option<SuiteName> {
        [SuiteName::Fsec1, SuiteName::Noise]
            .into_iter()
            .find(|suite| suite.wire_name() == name)
    }
}

/// What the driver hands a handshake with each message.
pub struct Context<'a> {
    /// The wall clock, Unix seconds (fsec1 stamps and checks its ack with it).
    pub now_unix_s: u64,
    /// The monotonic clock (ages a server's pending handshakes).
    pub now: Instant,
    /// Randomness for ephemeral keys and nonces.
    pub rng: &'a mut dyn rand_core::CryptoRngCore,
}

/// What a handshake wants next.
#[derive(Debug)]
pub enum Step {
    /// Send this message to the peer.
    Send(Vec<u8>),
    /// Wait for the peer's next message and pass it to [`Handshake::on_message`].
    Receive,
    /// The peer's identity (and payload) is known: judge it with
    /// [`Handshake::decide`] before anything more goes out.
    Decide(Claim),
    /// The handshake is complete: call [`Handshake::finish`].
    Done,
}

/// A peer's claim, proven by the handshake so far, for the application to judge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// Who the peer proved to be.
    pub identity: PeerIdentity,
    /// What the peer sent in the handshake (an enrollment token, client
    /// metadata); empty where the suite carries none.
    pub payload: Vec<u8>,
}

/// The application's judgement of a [`Claim`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Go on; a responder sends `payload` back with its acceptance.
    Accept {
        /// The answer's payload (empty for none).
        payload: Vec<u8>,
    },
    /// Stop. A responder tells the peer `reason` where the suite can carry it
    /// authenticated; the handshake then fails with [`SecureError::NotAllowed`].
    Refuse {
        /// Shown to the peer and in logs: short, no secrets.
        reason: String,
    },
}

impl Verdict {
    /// Acceptance with no payload.
    pub fn accept() -> Verdict {
        Verdict::Accept {
            payload: Vec::new(),
        }
    }
}

/// Who the peer proved to be.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PeerIdentity {
    /// Holds the channel's pre-shared key (fsec1): anyone the grant was given to.
    ChannelPsk {
        /// The channel both sides named.
        channel_id: String,
    },
    /// Holds the private half of this X25519 static key (Noise).
    StaticKey(PublicKey),
}

impl PeerIdentity {
    /// The static key, for identities that have one.
    pub fn static_key(&self) -> Option<&PublicKey> {
        match self {
            PeerIdentity::StaticKey(key) => Some(key),
            PeerIdentity::ChannelPsk { .. } => None,
        }
    }
}

/// The outcome of a handshake.
pub struct Established {
    /// Seals what this side sends and opens what the peer sends.
    pub records: Box<dyn RecordProtector>,
    /// Who the peer proved to be.
    pub peer: PeerIdentity,
    /// The feature bits both sides advertised, authenticated by the handshake.
    pub features: u32,
    /// The suite that ran.
    pub suite: SuiteName,
    /// The peer's handshake payload (empty for fsec1).
    pub peer_payload: Vec<u8>,
}

impl std::fmt::Debug for Established {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Established")
            .field("suite", &self.suite)
            .field("peer", &self.peer)
            .field("features", &self.features)
            .field("records", &self.records)
            .finish_non_exhaustive()
    }
}

/// A handshake of one suite, driven by bytes in and bytes out.
pub trait Handshake: Send {
    /// What to do next. Repeated `Send`s are sent in order. Any other step is
    /// a question, not a move: asked again with nothing in between, it is
    /// the same (so a driver may send a handshake's opening messages ahead
    /// of it and go on from the first `Receive`). An error after the last
    /// `Send` (a refusal that went out to the peer) ends the handshake.
    fn step(&mut self) -> Result<Step, SecureError>;

    /// Takes the peer's next message (opened in place where the suite needs to).
    fn on_message(&mut self, message: &mut [u8], cx: &mut Context<'_>) -> Result<(), SecureError>;

    /// Answers the last [`Step::Decide`].
    fn decide(&mut self, verdict: Verdict) -> Result<(), SecureError>;

    /// The established session, once [`Step::Done`] was returned.
    fn finish(self: Box<Self>) -> Result<Established, SecureError>;
}

/// What a record carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    /// Application bytes.
    App,
    /// An empty keepalive, skipped by the receiver.
    Ping,
    /// An empty record after which the sender's key changes.
    Rekey,
}

/// Seals and opens one session's records, in place.
///
/// A record buffer is `header_len()` bytes of room, the plaintext, then
/// `tag_len()` bytes of room; sealing fills the header and tag. Records are
/// numbered implicitly or explicitly by the suite: a skipped, repeated or
/// reordered record fails to open.
pub trait RecordProtector: Send + std::fmt::Debug {
    /// Bytes before the plaintext.
    fn header_len(&self) -> usize;
    /// Bytes after the plaintext.
    fn tag_len(&self) -> usize;
    /// The largest plaintext one record holds.
    fn max_plaintext(&self) -> usize;
    /// Seals `record` (header room, plaintext, tag room) as a record of `kind`.
    fn seal(&mut self, kind: RecordKind, record: &mut [u8]) -> Result<(), SecureError>;
    /// Opens `record` in place: its kind and where the plaintext lies in it.
    /// A rekey record has switched the receiving key when this returns.
    fn open(&mut self, record: &mut [u8]) -> Result<(RecordKind, Range<usize>), SecureError>;
}

/// Feature bit: the sender opens rekey records (fsec1's bit, kept for every suite).
pub const FEATURE_REKEY: u32 = crate::fsec1::messages::FEATURE_REKEY;

/// Why a handshake or a record failed. Each variant's [`reason`](Self::reason)
/// is a stable name for logs, metrics and close frames.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecureError {
    /// An fsec1 handshake or record failed.
    #[error(transparent)]
    Fsec1(#[from] Fsec1Error),
    /// A Noise handshake or record failed.
    #[error(transparent)]
    Noise(#[from] NoiseError),
    /// This side's application refused the peer.
    #[error("peer not allowed: {0}")]
    NotAllowed(String),
    /// The peer refused this side, with its reason.
    #[error("refused by the peer: {0}")]
    Refused(String),
}

impl SecureError {
    /// A stable snake_case name.
    pub fn reason(&self) -> &'static str {
        match self {
            SecureError::Fsec1(error) => error.reason(),
            SecureError::Noise(error) => error.reason(),
            SecureError::NotAllowed(_) => "peer_not_allowed",
            SecureError::Refused(_) => "refused_by_peer",
        }
    }
}
