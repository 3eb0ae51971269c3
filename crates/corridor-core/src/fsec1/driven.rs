//! fsec1 behind the suite interface: its client and server state machines
//! as [`Handshake`]s, and its sealer and opener as a [`RecordProtector`].
//! Nothing changes on the wire; this only adapts the calls.

use super::client::{AwaitingFinished, ClientConfig, ClientHandshake};
use super::record::{Flag, HEADER_LEN, Opener, Sealer, TAG_LEN};
use super::server::{HandshakeCache, ServerConfig, ServerHandshake, ServerStep};
use super::{Established as Fsec1Keys, Fsec1Error};
use crate::suite::{
    Context, Established, Handshake, PeerIdentity, RecordKind, RecordProtector, SecureError, Step,
    SuiteName, Verdict,
};
use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;

/// A session's fsec1 keys as a [`RecordProtector`].
pub struct Fsec1Records {
    sealer: Sealer,
    opener: Opener,
}

impl From<Fsec1Keys> for Fsec1Records {
    fn from(keys: Fsec1Keys) -> Self {
        Fsec1Records {
            sealer: keys.sealer,
            opener: keys.opener,
        }
    }
}

impl std::fmt::Debug for Fsec1Records {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fsec1Records")
            .field("next_send", &self.sealer.next_sequence())
            .field("next_receive", &self.opener.next_sequence())
            .finish()
    }
}

impl RecordProtector for Fsec1Records {
    fn header_len(&self) -> usize {
        HEADER_LEN
    }

    fn tag_len(&self) -> usize {
        TAG_LEN
    }

    fn max_plaintext(&self) -> usize {
        super::record::max_plaintext(self.sealer.max_record_bytes())
    }

    fn seal(&mut self, kind: RecordKind, record: &mut [u8]) -> Result<(), SecureError> {
        let flag = match kind {
            RecordKind::App => Flag::App,
            RecordKind::Ping => Flag::Ping,
            RecordKind::Rekey => Flag::Rekey,
        };
        self.sealer.seal_in_place(flag, record)?;
        Ok(())
    }

    fn open(&mut self, record: &mut [u8]) -> Result<(RecordKind, Range<usize>), SecureError> {
        let opened = self.opener.open_in_place(record)?;
        let kind = match opened.flag {
            Flag::App => RecordKind::App,
            Flag::Ping => RecordKind::Ping,
            Flag::Rekey => RecordKind::Rekey,
        };
        Ok((kind, HEADER_LEN..HEADER_LEN + opened.plaintext.len()))
    }
}

fn established(keys: Fsec1Keys, channel_id: String) -> Established {
    Established {
        features: keys.shared_features,
        records: Box::new(Fsec1Records::from(keys)),
        peer: PeerIdentity::ChannelPsk { channel_id },
        suite: SuiteName::Fsec1,
        peer_payload: Vec::new(),
    }
}

/// What a side with `outbox` and done-ness `done` does next.
fn next_step(outbox: &mut VecDeque<Vec<u8>>, done: bool) -> Result<Step, SecureError> {
    Ok(match outbox.pop_front() {
        Some(message) => Step::Send(message),
        None if done => Step::Done,
        None => Step::Receive,
    })
}

/// fsec1 never asks the application to judge: the PSK is the judgement.
fn no_decision() -> Result<(), SecureError> {
    Err(Fsec1Error::UnexpectedMessage(0).into())
}

enum ClientState {
    AwaitingResponse(ClientHandshake),
    AwaitingFinished(AwaitingFinished),
    Done(Fsec1Keys),
    Failed,
}

/// The fsec1 client as a [`Handshake`]: init out, response in, ack out,
/// finished record in.
pub struct Fsec1Client {
    state: ClientState,
    outbox: VecDeque<Vec<u8>>,
    channel_id: String,
}

impl Fsec1Client {
    /// Starts the handshake; the init is the first message to send.
    pub fn start(
        config: ClientConfig,
        rng: &mut dyn rand_core::CryptoRngCore,
    ) -> Result<Fsec1Client, SecureError> {
        let channel_id = config.channel_id.clone();
        let (handshake, init) = ClientHandshake::start(config, &mut &mut *rng)?;
        Ok(Fsec1Client {
            state: ClientState::AwaitingResponse(handshake),
            outbox: VecDeque::from([init]),
            channel_id,
        })
    }
}

impl Handshake for Fsec1Client {
    fn step(&mut self) -> Result<Step, SecureError> {
        let done = matches!(self.state, ClientState::Done(_));
        next_step(&mut self.outbox, done)
    }

    fn on_message(&mut self, message: &mut [u8], cx: &mut Context<'_>) -> Result<(), SecureError> {
        match std::mem::replace(&mut self.state, ClientState::Failed) {
            ClientState::AwaitingResponse(handshake) => {
                let (next, ack) = handshake.on_response(message, cx.now_unix_s)?;
                self.outbox.push_back(ack);
                self.state = ClientState::AwaitingFinished(next);
            }
            ClientState::AwaitingFinished(handshake) => {
                self.state = ClientState::Done(handshake.on_finished(message)?);
            }
            ClientState::Done(_) | ClientState::Failed => {
                return Err(Fsec1Error::HandshakeStateUnavailable.into());
            }
        }
        Ok(())
    }

    fn decide(&mut self, _verdict: Verdict) -> Result<(), SecureError> {
        no_decision()
    }

    fn finish(self: Box<Self>) -> Result<Established, SecureError> {
        match self.state {
            ClientState::Done(keys) => Ok(established(keys, self.channel_id)),
            _ => Err(Fsec1Error::HandshakeStateUnavailable.into()),
        }
    }
}

enum ServerState {
    AwaitingInit(ServerConfig),
    AwaitingAck(ServerHandshake),
    Done(Box<Fsec1Keys>),
    Failed,
}

/// The fsec1 server as a [`Handshake`]: init in, response out (again for an
/// identical retried init), ack in, finished record out.
pub struct Fsec1Server {
    state: ServerState,
    cache: Arc<HandshakeCache>,
    outbox: VecDeque<Vec<u8>>,
    channel_id: String,
}

impl Fsec1Server {
    /// A server waiting for the client's init; pending handshakes live in `cache`.
    pub fn new(config: ServerConfig, cache: Arc<HandshakeCache>) -> Fsec1Server {
        Fsec1Server {
            state: ServerState::AwaitingInit(config),
            cache,
            outbox: VecDeque::new(),
            channel_id: String::new(),
        }
    }
}

impl Handshake for Fsec1Server {
    fn step(&mut self) -> Result<Step, SecureError> {
        let done = matches!(self.state, ServerState::Done(_));
        next_step(&mut self.outbox, done)
    }

    fn on_message(&mut self, message: &mut [u8], cx: &mut Context<'_>) -> Result<(), SecureError> {
        match std::mem::replace(&mut self.state, ServerState::Failed) {
            ServerState::AwaitingInit(config) => {
                let (handshake, resp) = ServerHandshake::on_init(
                    config,
                    &self.cache,
                    message,
                    cx.now,
                    &mut &mut *cx.rng,
                )?;
                self.channel_id = handshake.channel_id().to_owned();
                self.outbox.push_back(resp);
                self.state = ServerState::AwaitingAck(handshake);
            }
            ServerState::AwaitingAck(handshake) => {
                match handshake.on_message(message, cx.now_unix_s)? {
                    ServerStep::Resend { handshake, resp } => {
                        self.outbox.push_back(resp);
                        self.state = ServerState::AwaitingAck(handshake);
                    }
                    ServerStep::Done {
                        established,
                        finished,
                    } => {
                        self.outbox.push_back(finished);
                        self.state = ServerState::Done(Box::new(established));
                    }
                }
            }
            ServerState::Done(_) | ServerState::Failed => {
                return Err(Fsec1Error::HandshakeStateUnavailable.into());
            }
        }
        Ok(())
    }

    fn decide(&mut self, _verdict: Verdict) -> Result<(), SecureError> {
        no_decision()
    }

    fn finish(self: Box<Self>) -> Result<Established, SecureError> {
        match self.state {
            ServerState::Done(keys) => Ok(established(*keys, self.channel_id)),
            _ => Err(Fsec1Error::HandshakeStateUnavailable.into()),
        }
    }
}
