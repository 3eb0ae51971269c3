//! The endpoint (server) side of a session: attach to a relay, or accept a
//! direct WebSocket or a byte stream, choose the suite the client offers,
//! run the handshake, serve the RPC stream.

use crate::carrier::framed::FramedRecords;
use crate::carrier::ws::WsRecords;
use crate::carrier::{Connection, Records};
use crate::credential::EndpointCredential;
use crate::error::Error;
use crate::peer::ConnectionInfo;
use crate::secure::handshake;
use crate::session::{Session, SessionOptions};
use crate::{negotiate, tunnel};
use corridor_core::Role;
use corridor_core::grant::ChannelInitGrant;
use corridor_core::suite::SuiteName;

/// Runs endpoint sessions.
#[derive(Debug)]
pub struct Endpoint;

impl Endpoint {
    /// Joins a relay channel with a server grant and returns the session once
    /// a client has completed the handshake.
    pub async fn connect_tunnel(
        grant: &ChannelInitGrant,
        options: &SessionOptions,
    ) -> Result<Session, Error> {
        let credential = EndpointCredential::fsec1(tunnel::fsec1_credential(grant)?);
        let (records, info, _) = tunnel::attach(grant, Role::Server, options).await?;
        let options = &options.for_grant(grant.idle_timeout_seconds);
        Self::finish(
            Box::new(records),
            info,
            SuiteName::Fsec1,
            &credential,
            options,
        )
        .await
    }

    /// Joins a relay channel whose grant names the noise suite, answering
    /// with `credential`'s noise configuration (its key, patterns, and the
    /// authorizer that judges the client). The grant's channel id and PSK
    /// are bound into the handshake.
    pub async fn connect_tunnel_with(
        grant: &ChannelInitGrant,
        credential: &EndpointCredential,
        options: &SessionOptions,
    ) -> Result<Session, Error> {
        tunnel::require_noise(grant)?;
        let mut noise = credential.noise.clone().ok_or(Error::InvalidGrant(
            "the grant names the noise suite, and the credential has no noise configuration",
        ))?;
        let (records, info, psk) = tunnel::attach(grant, Role::Server, options).await?;
        let options = &options.for_grant(grant.idle_timeout_seconds);
        noise.channel_id = Some(grant.channel_id.clone());
        noise.psk = Some(psk);
        let credential = EndpointCredential {
            fsec1: None,
            noise: Some(noise),
            authorizer: credential.authorizer.clone(),
        };
        Self::finish(
            Box::new(records),
            info,
            SuiteName::Noise,
            &credential,
            options,
        )
        .await
    }

    /// Answers a WebSocket upgrade on an accepted connection, with the suite
    /// the client offers (fsec1 when it names none), and runs the handshake.
    ///
    /// ```no_run
    /// # async fn run(credential: corridor::DirectCredential) -> Result<(), corridor::Error> {
    /// use corridor::{Endpoint, SessionOptions};
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let (tcp, _) = listener.accept().await?;
    /// let session = Endpoint::accept_direct(tcp, &credential, &SessionOptions::default()).await?;
    /// println!("{:?} connected from {:?}", session.peer().identity, session.peer().connection.remote);
    /// while let Ok(stream) = session.accept_stream().await {
    ///     println!("peer opened a {} stream", stream.kind());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn accept_direct(
        connection: impl Into<Connection>,
        credential: impl Into<EndpointCredential>,
        options: &SessionOptions,
    ) -> Result<Session, Error> {
        let credential = credential.into();
        let (records, suite, info) = tokio::time::timeout(
            options.handshake_timeout,
            WsRecords::accept_suites(connection.into(), &credential.suites(), &options.ws),
        )
        .await
        .map_err(|_| Error::Timeout("upgrade"))??;
        Self::finish(Box::new(records), info, suite, &credential, options).await
    }

    /// Runs the endpoint over a connection that the caller's HTTP server has
    /// already upgraded to a WebSocket (it answered 101, see
    /// [`accept_websocket`](crate::listener::upgrade::accept_websocket)), so a
    /// service can serve its own routes beside
    /// corridor sessions on one port. `suite` is the one the upgrade agreed
    /// (fsec1 when the client named no subprotocol, as flowersec's do).
    pub async fn accept_upgraded(
        io: Box<dyn crate::carrier::ByteIo>,
        info: ConnectionInfo,
        suite: SuiteName,
        credential: impl Into<EndpointCredential>,
        options: &SessionOptions,
    ) -> Result<Session, Error> {
        let records = WsRecords::upgraded(io, &options.ws).await;
        Self::finish(Box::new(records), info, suite, &credential.into(), options).await
    }

    /// Runs the endpoint over an accepted byte stream (TCP, a Unix socket):
    /// length-prefixed records, the client's preface, the handshake.
    pub async fn accept_framed(
        connection: impl Into<Connection>,
        credential: impl Into<EndpointCredential>,
        options: &SessionOptions,
    ) -> Result<Session, Error> {
        let Connection { io, info, progress } = connection.into();
        let credential = credential.into();
        let mut records: Records = Box::new(FramedRecords::new(io, options.ws.max_message_bytes));
        let suite = negotiate::answer(
            &mut records,
            &credential.suites(),
            options.handshake_timeout,
        )
        .await?;
        progress.complete();
        Self::finish(records, info, suite, &credential, options).await
    }

    async fn finish(
        records: Records,
        info: ConnectionInfo,
        suite: SuiteName,
        credential: &EndpointCredential,
        options: &SessionOptions,
    ) -> Result<Session, Error> {
        let handshake = handshake::endpoint_handshake(
            suite,
            credential,
            &options.handshake_cache,
            options.ws.max_message_bytes,
        )?;
        let (secure, peer) = handshake::secure(
            records,
            handshake,
            credential.authorizer.as_ref(),
            info,
            options.secure,
            options.handshake_timeout,
        )
        .await?;
        Session::start(secure, peer, Role::Server, options).await
    }
}
