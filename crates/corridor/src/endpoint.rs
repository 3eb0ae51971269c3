//! The endpoint (server) side of a session: attach to a relay or accept a
//! direct connection, handshake as the fsec1 server, serve the RPC stream.

use crate::carrier::ws::WsRecords;
use crate::carrier::{ByteIo, Records};
use crate::error::Error;
use crate::secure::handshake;
use crate::session::{Session, SessionOptions};
use crate::tunnel;
use corridor_core::Role;
use corridor_core::fsec1::Suite;
use corridor_core::fsec1::server::ServerConfig;
use corridor_core::grant::ChannelInitGrant;
use zeroize::Zeroizing;

/// What a direct endpoint checks a client's handshake against.
#[derive(Clone)]
pub struct DirectCredential {
    /// The 32-byte PSK the client was given.
    pub psk: Zeroizing<[u8; 32]>,
    /// The suite accepted.
    pub suite: Suite,
    /// The channel id the client must name; `None` accepts any.
    pub channel_id: Option<String>,
    /// Unix time after which handshakes are refused.
    pub init_exp_unix_s: i64,
}

impl std::fmt::Debug for DirectCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectCredential")
            .field("suite", &self.suite)
            .field("channel_id", &self.channel_id)
            .field("init_exp_unix_s", &self.init_exp_unix_s)
            .finish_non_exhaustive()
    }
}

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
        let (records, psk) = tunnel::attach(grant, Role::Server, options).await?;
        let mut config = ServerConfig::new(
            *psk,
            grant.default_suite,
            grant.channel_init_expire_at_unix_s,
        );
        config.channel_id = Some(grant.channel_id.clone());
        Self::finish(Box::new(records), config, options).await
    }

    /// Answers a WebSocket upgrade on an accepted connection and runs the
    /// handshake against `credential`.
    ///
    /// ```no_run
    /// # async fn run(credential: corridor::DirectCredential) -> Result<(), corridor::Error> {
    /// use corridor::{Endpoint, SessionOptions};
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let (tcp, _) = listener.accept().await?;
    /// tcp.set_nodelay(true)?;
    /// let session = Endpoint::accept_direct(Box::new(tcp), &credential, &SessionOptions::default()).await?;
    /// while let Ok(stream) = session.accept_stream().await {
    ///     println!("peer opened a {} stream", stream.kind());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn accept_direct(
        io: Box<dyn ByteIo>,
        credential: &DirectCredential,
        options: &SessionOptions,
    ) -> Result<Session, Error> {
        let records = tokio::time::timeout(
            options.handshake_timeout,
            WsRecords::accept(io, options.ws.max_message_bytes),
        )
        .await
        .map_err(|_| Error::Timeout("upgrade"))??;
        Self::accept_over(Box::new(records), credential, options).await
    }

    /// Runs the endpoint side over a carrier that is already connected, such
    /// as [`FramedRecords`](crate::carrier::framed::FramedRecords) on an
    /// accepted TCP or Unix socket.
    pub async fn accept_over(
        records: Records,
        credential: &DirectCredential,
        options: &SessionOptions,
    ) -> Result<Session, Error> {
        let mut config = ServerConfig::new(
            *credential.psk,
            credential.suite,
            credential.init_exp_unix_s,
        );
        config.channel_id = credential.channel_id.clone();
        Self::finish(records, config, options).await
    }

    async fn finish(
        records: Records,
        mut config: ServerConfig,
        options: &SessionOptions,
    ) -> Result<Session, Error> {
        config.max_record_bytes = options.ws.max_message_bytes;
        let secure = handshake::server(
            records,
            config,
            &options.handshake_cache,
            options.secure,
            options.handshake_timeout,
        )
        .await?;
        Session::start(secure, Role::Server, options).await
    }
}
