//! The client side of a session: dial through a relay, a direct WebSocket or
//! a byte stream, choose the suite, run the handshake, open the RPC stream.

use crate::carrier::framed::FramedRecords;
use crate::carrier::ws::WsRecords;
use crate::carrier::{Connection, Records};
use crate::credential::{ClientCredential, DirectCredential, NoiseCredential};
use crate::error::Error;
use crate::peer::ConnectionInfo;
use crate::secure::handshake;
use crate::session::{Session, SessionOptions};
use crate::{negotiate, tunnel};
use corridor_core::Role;
use corridor_core::grant::{self, ChannelInitGrant, DirectInfo};

/// Connects client sessions.
#[derive(Debug)]
pub struct Client;

impl Client {
    /// Joins a relay channel with a client grant and returns the session once
    /// the endpoint has answered the handshake.
    ///
    /// ```no_run
    /// # async fn run(grant: corridor_core::grant::ChannelInitGrant) -> Result<(), corridor::Error> {
    /// use corridor::{Client, SessionOptions};
    /// let session = Client::connect_tunnel(&grant, &SessionOptions::default()).await?;
    /// let pong: serde_json::Value = session.rpc().call(1, &serde_json::json!({})).await.unwrap();
    /// # Ok(()) }
    /// ```
    pub async fn connect_tunnel(
        grant: &ChannelInitGrant,
        options: &SessionOptions,
    ) -> Result<Session, Error> {
        let credential = ClientCredential::Fsec1(tunnel::fsec1_credential(grant)?);
        let (records, info, _) = tunnel::attach(grant, Role::Client, options).await?;
        let options = &options.for_grant(grant.idle_timeout_seconds);
        Self::finish(Box::new(records), info, &credential, options).await
    }

    /// Joins a relay channel whose grant names the noise suite, with this
    /// client's noise credential. The grant's channel id and PSK are bound
    /// into the handshake, so only holders of the grant and of the right
    /// keys meet.
    pub async fn connect_tunnel_with(
        grant: &ChannelInitGrant,
        credential: &NoiseCredential,
        options: &SessionOptions,
    ) -> Result<Session, Error> {
        tunnel::require_noise(grant)?;
        let (records, info, psk) = tunnel::attach(grant, Role::Client, options).await?;
        let options = &options.for_grant(grant.idle_timeout_seconds);
        let mut credential = credential.clone();
        credential.channel_id = grant.channel_id.clone();
        credential.psk = Some(psk);
        let credential = ClientCredential::Noise(credential);
        Self::finish(Box::new(records), info, &credential, options).await
    }

    /// Connects straight to an endpoint listening for WebSocket connections,
    /// with flowersec's direct connect info (fsec1).
    pub async fn connect_direct(
        info: &DirectInfo,
        options: &SessionOptions,
    ) -> Result<Session, Error> {
        let psk = grant::decode_psk(&info.e2ee_psk_b64u).ok_or(Error::InvalidGrant(
            "e2ee_psk_b64u is not 32 bytes of base64url",
        ))?;
        let credential = ClientCredential::Fsec1(DirectCredential {
            psk,
            suite: info.default_suite,
            channel_id: Some(info.channel_id.clone()),
            init_exp_unix_s: info.channel_init_expire_at_unix_s,
        });
        Self::connect_ws(&info.ws_url, credential, options).await
    }

    /// Connects to a WebSocket endpoint at `url` with any credential; the
    /// suite is offered in `Sec-WebSocket-Protocol` (nothing for fsec1, as
    /// flowersec's clients do).
    ///
    /// ```no_run
    /// # async fn run(server_key: corridor::core::identity::PublicKey) -> Result<(), corridor::Error> {
    /// use corridor::credential::NoiseCredential;
    /// use corridor::core::identity::StaticSecret;
    /// use corridor::{Client, SessionOptions};
    /// let me = StaticSecret::generate(&mut rand_core::OsRng);
    /// let credential = NoiseCredential::ik(me, server_key, "svc");
    /// let session = Client::connect_ws("ws://127.0.0.1:9000/", credential, &SessionOptions::default()).await?;
    /// assert_eq!(session.peer().identity.static_key(), Some(&server_key));
    /// # Ok(()) }
    /// ```
    pub async fn connect_ws(
        url: &str,
        credential: impl Into<ClientCredential>,
        options: &SessionOptions,
    ) -> Result<Session, Error> {
        let credential = credential.into();
        let (records, suite, info) =
            WsRecords::connect_suites(url, &[credential.suite()], &options.ws).await?;
        debug_assert_eq!(suite, credential.suite());
        Self::finish(Box::new(records), info, &credential, options).await
    }

    /// Runs the client over a connected byte stream (TCP, a Unix socket):
    /// length-prefixed records, a preface naming the suite, the handshake.
    pub async fn connect_framed(
        connection: impl Into<Connection>,
        credential: impl Into<ClientCredential>,
        options: &SessionOptions,
    ) -> Result<Session, Error> {
        let Connection { io, info, .. } = connection.into();
        let credential = credential.into();
        let mut records: Records = Box::new(FramedRecords::new(io, options.ws.max_message_bytes));
        let (mut handshake, authorizer) =
            handshake::client_handshake(&credential, options.ws.max_message_bytes)?;
        // One suite is offered: its opening messages go behind the offer.
        let opening = handshake::opening(handshake.as_mut())?;
        negotiate::offer(
            &mut records,
            &[credential.suite()],
            opening,
            options.handshake_timeout,
        )
        .await?;
        Self::established(records, info, (handshake, authorizer), options).await
    }

    async fn finish(
        records: Records,
        info: ConnectionInfo,
        credential: &ClientCredential,
        options: &SessionOptions,
    ) -> Result<Session, Error> {
        let start = handshake::client_handshake(credential, options.ws.max_message_bytes)?;
        Self::established(records, info, start, options).await
    }

    /// Runs the rest of the handshake `start` and the session on it.
    async fn established(
        records: Records,
        info: ConnectionInfo,
        (handshake, authorizer): handshake::ClientStart,
        options: &SessionOptions,
    ) -> Result<Session, Error> {
        let (secure, peer) = handshake::secure(
            records,
            handshake,
            authorizer.as_ref(),
            info,
            options.secure,
            options.handshake_timeout,
        )
        .await?;
        Session::start(secure, peer, Role::Client, options).await
    }
}
