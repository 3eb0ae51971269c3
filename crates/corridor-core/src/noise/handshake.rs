//! The two sides of a Noise handshake as [`Handshake`]s.
//!
//! Initiator, XX: header + `e` out; `e, ee, s, es` in, then the application
//! judges the responder's key (unless it was pinned); `s, se` with the hello
//! out; the responder's verdict record in. IK and KK: header + first message
//! with the hello out; the responder's message with its verdict in.
//!
//! Responder, XX: header + `e` in; `e, ee, s, es` out; `s, se` with the hello
//! in, the application judges; the verdict record out. IK and KK: the first
//! message with the hello in, the application judges; the message with the
//! verdict out.

use super::transport::{KIND_VERDICT, NoiseRecords, TAG_LEN};
use super::wire::{self, Answer, Header, Hello};
use super::{Cipher, DEFAULT_MAX_PAYLOAD, MAX_MESSAGE_BYTES, NoiseError, Pattern, Protocol};
use crate::identity::{PublicKey, StaticSecret};
use crate::suite::{
    Claim, Context, Established, Handshake, PeerIdentity, SecureError, Step, SuiteName, Verdict,
};
use std::collections::VecDeque;
use zeroize::Zeroizing;

/// What an initiator brings.
#[derive(Clone, Debug)]
pub struct InitiatorConfig {
    /// The Noise protocol to run.
    pub protocol: Protocol,
    /// This side's static key.
    pub local: StaticSecret,
    /// The responder's key: required for IK and KK; for XX, a pin the
    /// responder's key must equal (without one the application judges it).
    pub remote: Option<PublicKey>,
    /// The PSK, for a `psk` protocol.
    pub psk: Option<Zeroizing<[u8; 32]>>,
    /// The channel or service to reach (bound into the transcript).
    pub channel_id: String,
    /// Application bytes for the responder (an enrollment token, metadata).
    pub payload: Vec<u8>,
    /// Feature bits to advertise.
    pub features: u32,
    /// Largest payload accepted from the responder.
    pub max_payload: usize,
}

impl InitiatorConfig {
    /// An initiator of `protocol` with no PSK, pin or payload.
    pub fn new(protocol: Protocol, local: StaticSecret, channel_id: impl Into<String>) -> Self {
        InitiatorConfig {
            protocol,
            local,
            remote: None,
            psk: None,
            channel_id: channel_id.into(),
            payload: Vec::new(),
            features: 0,
            max_payload: DEFAULT_MAX_PAYLOAD,
        }
    }
}

/// What a responder accepts.
#[derive(Clone, Debug)]
pub struct ResponderConfig {
    /// This side's static key.
    pub local: StaticSecret,
    /// Patterns accepted.
    pub patterns: Vec<Pattern>,
    /// Ciphers accepted.
    pub ciphers: Vec<Cipher>,
    /// With a PSK, only `psk` protocols are accepted (and must know it);
    /// without one, only the others.
    pub psk: Option<Zeroizing<[u8; 32]>>,
    /// The channel initiators must name; `None` accepts any.
    pub channel_id: Option<String>,
    /// Feature bits to advertise.
    pub features: u32,
    /// Largest payload accepted from an initiator.
    pub max_payload: usize,
}

impl ResponderConfig {
    /// A responder accepting every pattern and cipher, without a PSK.
    pub fn new(local: StaticSecret) -> Self {
        ResponderConfig {
            local,
            patterns: vec![Pattern::XX, Pattern::IK, Pattern::KK],
            ciphers: vec![Cipher::AesGcm, Cipher::ChaChaPoly],
            psk: None,
            channel_id: None,
            features: 0,
            max_payload: DEFAULT_MAX_PAYLOAD,
        }
    }

    /// A service's responder on `channel_id` whose clients know its key (IK)
    /// or learn it in the handshake (XX); KK is not offered, since a
    /// service does not know its clients' keys in advance.
    ///
    /// ```
    /// use corridor_core::identity::StaticSecret;
    /// use corridor_core::noise::{Pattern, ResponderConfig};
    /// let config = ResponderConfig::service(StaticSecret::from_bytes([1; 32]), "svc");
    /// assert_eq!(config.patterns, vec![Pattern::IK, Pattern::XX]);
    /// assert_eq!(config.channel_id.as_deref(), Some("svc"));
    /// ```
    pub fn service(local: StaticSecret, channel_id: impl Into<String>) -> Self {
        ResponderConfig {
            patterns: vec![Pattern::IK, Pattern::XX],
            channel_id: Some(channel_id.into()),
            ..ResponderConfig::new(local)
        }
    }

    fn accepts(&self, protocol: &Protocol) -> bool {
        self.patterns.contains(&protocol.pattern)
            && self.ciphers.contains(&protocol.cipher)
            && protocol.psk == self.psk.is_some()
    }
}

/// A Noise message written into a fresh buffer.
fn write(state: &mut snow::HandshakeState, payload: &[u8]) -> Result<Vec<u8>, NoiseError> {
    let mut message = vec![0u8; MAX_MESSAGE_BYTES];
    let len = state
        .write_message(payload, &mut message)
        .map_err(|_| NoiseError::PayloadTooLarge)?;
    message.truncate(len);
    Ok(message)
}

/// A Noise message read; the payload it carried.
fn read(state: &mut snow::HandshakeState, message: &[u8]) -> Result<Vec<u8>, NoiseError> {
    if message.len() > MAX_MESSAGE_BYTES {
        return Err(NoiseError::PayloadTooLarge);
    }
    let mut payload = vec![0u8; message.len()];
    let len = state.read_message(message, &mut payload)?;
    payload.truncate(len);
    Ok(payload)
}

fn builder<'a>(
    protocol: &Protocol,
    local: &'a StaticSecret,
    prologue: &'a [u8],
    psk: Option<&'a Zeroizing<[u8; 32]>>,
) -> Result<snow::Builder<'a>, NoiseError> {
    let params = protocol
        .name()
        .parse()
        .map_err(|_| NoiseError::Config("protocol name"))?;
    let mut builder = snow::Builder::with_resolver(params, super::resolver::resolver())
        .local_private_key(local.as_bytes())?
        .prologue(prologue)?;
    if protocol.psk {
        let psk = psk.ok_or(NoiseError::Config("a psk protocol needs the PSK"))?;
        builder = builder.psk(protocol.psk_location(), psk)?;
    }
    Ok(builder)
}

fn remote_static(state: &snow::HandshakeState) -> Result<PublicKey, NoiseError> {
    let key = state
        .get_remote_static()
        .and_then(|key| <[u8; 32]>::try_from(key).ok())
        .ok_or(NoiseError::Handshake("no remote static key".into()))?;
    Ok(PublicKey::from_bytes(key))
}

/// The transport keys of a finished handshake: (initiator to responder, back).
fn split(state: &mut snow::HandshakeState) -> (Zeroizing<[u8; 32]>, Zeroizing<[u8; 32]>) {
    let (i2r, r2i) = state.dangerously_get_raw_split();
    (Zeroizing::new(i2r), Zeroizing::new(r2i))
}

/// A seal-ready record holding `plaintext`.
fn record_with(plaintext: &[u8]) -> Vec<u8> {
    let mut record = vec![0u8];
    record.extend_from_slice(plaintext);
    record.resize(record.len() + TAG_LEN, 0);
    record
}

/// The established session of either side.
struct Outcome {
    records: NoiseRecords,
    peer: PublicKey,
    features: u32,
    peer_payload: Vec<u8>,
}

impl From<Outcome> for Established {
    fn from(outcome: Outcome) -> Established {
        Established {
            records: Box::new(outcome.records),
            peer: PeerIdentity::StaticKey(outcome.peer),
            features: outcome.features,
            suite: SuiteName::Noise,
            peer_payload: outcome.peer_payload,
        }
    }
}

enum InitiatorState {
    AwaitingResponder(Box<snow::HandshakeState>),
    Judging(Box<snow::HandshakeState>, PublicKey),
    AwaitingVerdict(NoiseRecords, PublicKey),
    Done(Outcome),
    Failed,
}

/// The initiating side.
pub struct NoiseInitiator {
    config: InitiatorConfig,
    state: InitiatorState,
    outbox: VecDeque<Vec<u8>>,
}

impl NoiseInitiator {
    /// Starts the handshake: the first message is ready to send.
    ///
    /// ```
    /// use corridor_core::identity::StaticSecret;
    /// use corridor_core::noise::*;
    /// use corridor_core::suite::{Context, Handshake, Step, Verdict};
    /// let rng = &mut rand_core::OsRng;
    /// let (client_key, server_key) = (StaticSecret::generate(rng), StaticSecret::generate(rng));
    /// let protocol = Protocol { pattern: Pattern::IK, cipher: Cipher::AesGcm, psk: false };
    /// let mut config = InitiatorConfig::new(protocol, client_key.clone(), "svc");
    /// config.remote = Some(server_key.public_key());
    /// config.payload = b"hello".to_vec();
    /// let mut client = NoiseInitiator::start(config).unwrap();
    /// let mut server = NoiseResponder::new(ResponderConfig::new(server_key));
    /// let mut cx = Context { now_unix_s: 0, now: std::time::Instant::now(), rng };
    ///
    /// let Ok(Step::Send(mut first)) = client.step() else { panic!() };
    /// server.on_message(&mut first, &mut cx).unwrap();
    /// let Ok(Step::Decide(claim)) = server.step() else { panic!() };
    /// assert_eq!(claim.identity.static_key(), Some(&client_key.public_key()));
    /// assert_eq!(claim.payload, b"hello");
    /// server.decide(Verdict::Accept { payload: b"welcome".to_vec() }).unwrap();
    /// let Ok(Step::Send(mut second)) = server.step() else { panic!() };
    /// client.on_message(&mut second, &mut cx).unwrap();
    /// assert!(matches!(client.step(), Ok(Step::Done)));
    /// let client_side = Box::new(client).finish().unwrap();
    /// assert_eq!(client_side.peer_payload, b"welcome");
    /// ```
    pub fn start(config: InitiatorConfig) -> Result<NoiseInitiator, SecureError> {
        let protocol = config.protocol;
        if matches!(protocol.pattern, Pattern::IK | Pattern::KK) && config.remote.is_none() {
            return Err(NoiseError::Config("IK and KK need the responder's key").into());
        }
        let header = Header {
            name: protocol.name(),
            channel_id: config.channel_id.clone(),
            claimed_key: (protocol.pattern == Pattern::KK).then(|| config.local.public_key()),
        }
        .encode()?;
        let prologue = wire::prologue(&header);
        let mut builder = builder(&protocol, &config.local, &prologue, config.psk.as_ref())?;
        let remote = config.remote;
        if protocol.pattern != Pattern::XX {
            if let Some(remote) = remote.as_ref() {
                builder = builder
                    .remote_public_key(remote.as_bytes())
                    .map_err(NoiseError::from)?;
            }
        }
        let mut state = Box::new(builder.build_initiator().map_err(NoiseError::from)?);
        let payload = match protocol.pattern {
            // XX's first message is not encrypted: the hello waits for the third.
            Pattern::XX => Vec::new(),
            Pattern::IK | Pattern::KK => Hello {
                features: config.features,
                payload: config.payload.clone(),
            }
            .encode(),
        };
        let mut first = header;
        first.extend_from_slice(&write(&mut state, &payload)?);
        Ok(NoiseInitiator {
            config,
            state: InitiatorState::AwaitingResponder(state),
            outbox: VecDeque::from([first]),
        })
    }

    /// Writes the XX third message once the responder's key is accepted.
    fn send_hello(
        &mut self,
        mut state: Box<snow::HandshakeState>,
        responder: PublicKey,
    ) -> Result<(), SecureError> {
        let hello = Hello {
            features: self.config.features,
            payload: self.config.payload.clone(),
        };
        self.outbox.push_back(write(&mut state, &hello.encode())?);
        let (i2r, r2i) = split(&mut state);
        let records = NoiseRecords::new(self.config.protocol.cipher, *i2r, *r2i);
        self.state = InitiatorState::AwaitingVerdict(records, responder);
        Ok(())
    }

    fn conclude(
        &mut self,
        records: NoiseRecords,
        responder: PublicKey,
        answer: Answer,
    ) -> Result<(), SecureError> {
        match answer {
            Answer::Accepted { features, payload } => {
                self.state = InitiatorState::Done(Outcome {
                    records,
                    peer: responder,
                    features: features & self.config.features,
                    peer_payload: payload,
                });
                Ok(())
            }
            Answer::Refused(reason) => Err(SecureError::Refused(reason)),
        }
    }
}

impl Handshake for NoiseInitiator {
    fn step(&mut self) -> Result<Step, SecureError> {
        if let Some(message) = self.outbox.pop_front() {
            return Ok(Step::Send(message));
        }
        Ok(match &self.state {
            InitiatorState::Judging(_, responder) => Step::Decide(Claim {
                identity: PeerIdentity::StaticKey(*responder),
                payload: Vec::new(),
            }),
            InitiatorState::Done(_) => Step::Done,
            InitiatorState::Failed => return Err(NoiseError::Unexpected.into()),
            _ => Step::Receive,
        })
    }

    fn on_message(&mut self, message: &mut [u8], _cx: &mut Context<'_>) -> Result<(), SecureError> {
        match std::mem::replace(&mut self.state, InitiatorState::Failed) {
            InitiatorState::AwaitingResponder(mut state) => {
                let payload = read(&mut state, message)?;
                let responder = remote_static(&state)?;
                match self.config.protocol.pattern {
                    Pattern::XX => {
                        if !payload.is_empty() {
                            return Err(NoiseError::Malformed("payload in XX message 2").into());
                        }
                        match self.config.remote {
                            Some(pinned) if pinned != responder => {
                                return Err(SecureError::NotAllowed(
                                    "the responder's key is not the pinned key".into(),
                                ));
                            }
                            Some(_) => self.send_hello(state, responder)?,
                            None => self.state = InitiatorState::Judging(state, responder),
                        }
                    }
                    Pattern::IK | Pattern::KK => {
                        let answer = Answer::decode(&payload, self.config.max_payload)?;
                        let (i2r, r2i) = split(&mut state);
                        let records = NoiseRecords::new(self.config.protocol.cipher, *i2r, *r2i);
                        self.conclude(records, responder, answer)?;
                    }
                }
            }
            InitiatorState::AwaitingVerdict(mut records, responder) => {
                let (kind, plaintext) = records.open_kind(message)?;
                if kind != KIND_VERDICT {
                    return Err(NoiseError::RecordKind(kind).into());
                }
                let answer = Answer::decode(&message[plaintext], self.config.max_payload)?;
                self.conclude(records, responder, answer)?;
            }
            InitiatorState::Judging(..) | InitiatorState::Done(_) | InitiatorState::Failed => {
                return Err(NoiseError::Unexpected.into());
            }
        }
        Ok(())
    }

    fn decide(&mut self, verdict: Verdict) -> Result<(), SecureError> {
        let InitiatorState::Judging(state, responder) =
            std::mem::replace(&mut self.state, InitiatorState::Failed)
        else {
            return Err(NoiseError::Unexpected.into());
        };
        match verdict {
            Verdict::Accept { .. } => self.send_hello(state, responder),
            Verdict::Refuse { reason } => Err(SecureError::NotAllowed(reason)),
        }
    }

    fn finish(self: Box<Self>) -> Result<Established, SecureError> {
        match self.state {
            InitiatorState::Done(outcome) => Ok(outcome.into()),
            _ => Err(NoiseError::Unexpected.into()),
        }
    }
}

enum ResponderState {
    AwaitingFirst,
    AwaitingHello(Box<snow::HandshakeState>, Protocol),
    Judging {
        state: Box<snow::HandshakeState>,
        protocol: Protocol,
        initiator: PublicKey,
        hello: Hello,
    },
    Done(Box<Outcome>),
    Refused(String),
    Failed,
}

/// The responding side.
pub struct NoiseResponder {
    config: ResponderConfig,
    state: ResponderState,
    outbox: VecDeque<Vec<u8>>,
}

impl NoiseResponder {
    /// A responder waiting for an initiator's first message.
    pub fn new(config: ResponderConfig) -> NoiseResponder {
        NoiseResponder {
            config,
            state: ResponderState::AwaitingFirst,
            outbox: VecDeque::new(),
        }
    }

    fn on_first(&mut self, message: &[u8]) -> Result<(), SecureError> {
        let (header, header_bytes, noise) = Header::decode(message)?;
        let protocol = Protocol::from_name(&header.name)
            .filter(|protocol| self.config.accepts(protocol))
            .ok_or_else(|| NoiseError::ProtocolNotAccepted(header.name.clone()))?;
        if self
            .config
            .channel_id
            .as_ref()
            .is_some_and(|channel| *channel != header.channel_id)
        {
            return Err(NoiseError::ChannelMismatch.into());
        }
        if (protocol.pattern == Pattern::KK) != header.claimed_key.is_some() {
            return Err(NoiseError::Malformed("a claimed key belongs to KK alone").into());
        }
        let prologue = wire::prologue(header_bytes);
        let mut builder = builder(
            &protocol,
            &self.config.local,
            &prologue,
            self.config.psk.as_ref(),
        )?;
        if let Some(claimed) = header.claimed_key.as_ref() {
            builder = builder
                .remote_public_key(claimed.as_bytes())
                .map_err(NoiseError::from)?;
        }
        let mut state = Box::new(builder.build_responder().map_err(NoiseError::from)?);
        let payload = read(&mut state, noise)?;
        match protocol.pattern {
            Pattern::XX => {
                if !payload.is_empty() {
                    return Err(NoiseError::Malformed("payload in XX message 1").into());
                }
                self.outbox.push_back(write(&mut state, &[])?);
                self.state = ResponderState::AwaitingHello(state, protocol);
            }
            Pattern::IK | Pattern::KK => self.judge(state, protocol, &payload)?,
        }
        Ok(())
    }

    /// The initiator's hello has arrived: its key and payload go to the judge.
    fn judge(
        &mut self,
        state: Box<snow::HandshakeState>,
        protocol: Protocol,
        payload: &[u8],
    ) -> Result<(), SecureError> {
        let hello = Hello::decode(payload, self.config.max_payload)?;
        let initiator = remote_static(&state)?;
        self.state = ResponderState::Judging {
            state,
            protocol,
            initiator,
            hello,
        };
        Ok(())
    }
}

impl Handshake for NoiseResponder {
    fn step(&mut self) -> Result<Step, SecureError> {
        if let Some(message) = self.outbox.pop_front() {
            return Ok(Step::Send(message));
        }
        Ok(match &self.state {
            ResponderState::Judging {
                initiator, hello, ..
            } => Step::Decide(Claim {
                identity: PeerIdentity::StaticKey(*initiator),
                payload: hello.payload.clone(),
            }),
            ResponderState::Done(_) => Step::Done,
            ResponderState::Refused(reason) => {
                return Err(SecureError::NotAllowed(reason.clone()));
            }
            ResponderState::Failed => return Err(NoiseError::Unexpected.into()),
            ResponderState::AwaitingFirst | ResponderState::AwaitingHello(..) => Step::Receive,
        })
    }

    fn on_message(&mut self, message: &mut [u8], _cx: &mut Context<'_>) -> Result<(), SecureError> {
        match std::mem::replace(&mut self.state, ResponderState::Failed) {
            ResponderState::AwaitingFirst => self.on_first(message),
            ResponderState::AwaitingHello(mut state, protocol) => {
                let payload = read(&mut state, message)?;
                self.judge(state, protocol, &payload)
            }
            _ => Err(NoiseError::Unexpected.into()),
        }
    }

    fn decide(&mut self, verdict: Verdict) -> Result<(), SecureError> {
        let ResponderState::Judging {
            mut state,
            protocol,
            initiator,
            hello,
        } = std::mem::replace(&mut self.state, ResponderState::Failed)
        else {
            return Err(NoiseError::Unexpected.into());
        };
        let answer = match verdict {
            Verdict::Accept { payload } => Answer::Accepted {
                features: self.config.features,
                payload,
            },
            Verdict::Refuse { reason } => Answer::Refused(reason),
        };
        let records = match protocol.pattern {
            Pattern::IK | Pattern::KK => {
                self.outbox.push_back(write(&mut state, &answer.encode())?);
                let (i2r, r2i) = split(&mut state);
                NoiseRecords::new(protocol.cipher, *r2i, *i2r)
            }
            Pattern::XX => {
                let (i2r, r2i) = split(&mut state);
                let mut records = NoiseRecords::new(protocol.cipher, *r2i, *i2r);
                let mut record = record_with(&answer.encode());
                records.seal_kind(KIND_VERDICT, &mut record)?;
                self.outbox.push_back(record);
                records
            }
        };
        self.state = match answer {
            Answer::Refused(reason) => ResponderState::Refused(reason),
            Answer::Accepted { .. } => ResponderState::Done(Box::new(Outcome {
                records,
                peer: initiator,
                features: hello.features & self.config.features,
                peer_payload: hello.payload,
            })),
        };
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Established, SecureError> {
        match self.state {
            ResponderState::Done(outcome) => Ok((*outcome).into()),
            _ => Err(NoiseError::Unexpected.into()),
        }
    }
}
