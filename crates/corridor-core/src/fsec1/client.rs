//! The client side of the fsec1 handshake: send init, answer the response with
//! a PSK-authenticated ack, then check the server's finished record.

use super::ephemeral::EphemeralSecret;
use super::frame::{self, MessageType};
use super::messages::{self, Ack, Init, Resp};
use super::record::Flag;
use super::schedule::{self, Transcript};
use super::{Established, Fsec1Error, Suite, VERSION, keyed};
use crate::{Role, b64};
use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

/// What the client brings to a handshake.
#[derive(Clone)]
pub struct ClientConfig {
    /// The channel's 32-byte pre-shared key (from the grant).
    pub psk: Zeroizing<[u8; 32]>,
    /// The suite to propose.
    pub suite: Suite,
    /// The channel id, bound into the transcript.
    pub channel_id: String,
    /// Feature bits to advertise.
    pub features: u32,
    /// Largest handshake body accepted from the server.
    pub max_handshake_payload: usize,
    /// Largest record accepted or produced.
    pub max_record_bytes: usize,
}

impl ClientConfig {
    /// A configuration with flowersec's defaults.
    pub fn new(psk: [u8; 32], suite: Suite, channel_id: impl Into<String>) -> ClientConfig {
        ClientConfig {
            psk: Zeroizing::new(psk),
            suite,
            channel_id: channel_id.into(),
            features: 0,
            max_handshake_payload: super::DEFAULT_MAX_HANDSHAKE_PAYLOAD,
            max_record_bytes: super::DEFAULT_MAX_RECORD_BYTES,
        }
    }
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("suite", &self.suite)
            .field("channel_id", &self.channel_id)
            .field("features", &self.features)
            .finish_non_exhaustive()
    }
}

/// A client that has sent its init and waits for the response.
#[derive(Debug)]
pub struct ClientHandshake {
    config: ClientConfig,
    secret: EphemeralSecret,
    public: Vec<u8>,
    nonce_c: [u8; 32],
}

/// A client that has sent its ack and waits for the server's finished record.
#[derive(Debug)]
pub struct AwaitingFinished {
    established: Established,
}

impl ClientHandshake {
    /// Starts a handshake: returns the state and the init frame to send.
    ///
    /// ```
    /// use corridor_core::fsec1::{client::*, server::*, Suite};
    /// use std::{sync::Arc, time::Instant};
    /// let (psk, now) = ([42u8; 32], 1_700_000_000);
    /// let rng = &mut rand_core::OsRng;
    /// let cache = Arc::new(HandshakeCache::default());
    /// let server_config = ServerConfig::new(psk, Suite::X25519HkdfSha256Aes256Gcm, now as i64 + 60);
    ///
    /// let (client, init) = ClientHandshake::start(
    ///     ClientConfig::new(psk, Suite::X25519HkdfSha256Aes256Gcm, "ch-1"), rng).unwrap();
    /// let (server, resp) = ServerHandshake::on_init(server_config, &cache, &init, Instant::now(), rng).unwrap();
    /// let (client, ack) = client.on_response(&resp, now).unwrap();
    /// let ServerStep::Done { established: mut server_side, finished } =
    ///     server.on_message(&ack, now).unwrap() else { panic!("ack completes") };
    /// let mut client_side = client.on_finished(&mut finished.clone()).unwrap();
    ///
    /// let mut record = Vec::new();
    /// client_side.sealer.seal(corridor_core::fsec1::record::Flag::App, b"hi", &mut record).unwrap();
    /// assert_eq!(server_side.opener.open_in_place(&mut record).unwrap().plaintext, b"hi");
    /// ```
    pub fn start(
        config: ClientConfig,
        rng: &mut impl CryptoRngCore,
    ) -> Result<(ClientHandshake, Vec<u8>), Fsec1Error> {
        let secret = EphemeralSecret::generate(config.suite, rng);
        let mut nonce_c = [0u8; 32];
        rng.fill_bytes(&mut nonce_c);
        ClientHandshake::with_secret(config, secret, nonce_c)
    }

    /// Starts a handshake with a given ephemeral key and nonce (known-answer tests).
    pub fn with_secret(
        config: ClientConfig,
        secret: EphemeralSecret,
        nonce_c: [u8; 32],
    ) -> Result<(ClientHandshake, Vec<u8>), Fsec1Error> {
        if config.channel_id.is_empty() || config.channel_id.len() > usize::from(u16::MAX) {
            return Err(Fsec1Error::InvalidChannelId);
        }
        let public = secret.public_bytes();
        let init = Init {
            channel_id: config.channel_id.clone(),
            role: Role::Client.as_u8(),
            version: VERSION,
            suite: config.suite.as_u16(),
            client_eph_pub_b64u: b64::encode(&public),
            nonce_c_b64u: b64::encode(nonce_c),
            client_features: config.features,
        };
        let frame = frame::encode(MessageType::Init, &messages::to_body(&init));
        let handshake = ClientHandshake {
            config,
            secret,
            public,
            nonce_c,
        };
        Ok((handshake, frame))
    }

    /// Takes the server's response and returns the ack frame to send, stamped
    /// with the client's clock `now_unix_s`.
    pub fn on_response(
        self,
        frame: &[u8],
        now_unix_s: u64,
    ) -> Result<(AwaitingFinished, Vec<u8>), Fsec1Error> {
        let body = frame::expect(frame, MessageType::Resp, self.config.max_handshake_payload)?;
        let resp: Resp = messages::parse(body)?;
        let server_public =
            b64::decode(&resp.server_eph_pub_b64u).map_err(|_| Fsec1Error::InvalidKey)?;
        super::ephemeral::check_public(self.config.suite, &server_public)?;
        let nonce_s = b64::decode_array::<32>(&resp.nonce_s_b64u).ok_or(Fsec1Error::InvalidKey)?;
        let transcript = Transcript {
            suite: self.config.suite,
            client_features: self.config.features,
            server_features: resp.server_features,
            channel_id: &self.config.channel_id,
            nonce_c: self.nonce_c,
            nonce_s,
            client_public: &self.public,
            server_public: &server_public,
        }
        .hash()?;
        let shared = self.secret.agree(&server_public)?;
        let keys = schedule::session_keys(self.config.psk.as_ref(), &shared, &transcript)?;
        let tag = schedule::auth_tag(self.config.psk.as_ref(), &transcript, now_unix_s);
        let ack = Ack {
            handshake_id: resp.handshake_id,
            timestamp_unix_s: now_unix_s,
            auth_tag_b64u: b64::encode(tag),
        };
        let frame = frame::encode(MessageType::Ack, &messages::to_body(&ack));
        let established = keyed(
            &keys,
            &transcript,
            Role::Client,
            self.config.max_record_bytes,
            self.config.features & resp.server_features,
        );
        Ok((AwaitingFinished { established }, frame))
    }
}

impl AwaitingFinished {
    /// Opens the server's finished record (an empty ping at sequence 1, which
    /// only a holder of the session keys can produce) and returns the session.
    pub fn on_finished(mut self, record: &mut [u8]) -> Result<Established, Fsec1Error> {
        let opened = self.established.opener.open_in_place(record)?;
        if opened.flag != Flag::Ping || !opened.plaintext.is_empty() {
            return Err(Fsec1Error::InvalidFinished);
        }
        Ok(self.established)
    }
}
