//! The client side of a session: dial through a relay or directly, handshake
//! as the fsec1 client, open the RPC stream.

use crate::carrier::Records;
use crate::carrier::ws::WsRecords;
use crate::endpoint::DirectCredential;
use crate::error::Error;
use crate::secure::handshake;
use crate::session::{Session, SessionOptions};
use crate::tunnel;
use corridor_core::Role;
use corridor_core::fsec1::client::ClientConfig;
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
        let (records, psk) = tunnel::attach(grant, Role::Client, options).await?;
        let config = ClientConfig::new(*psk, grant.default_suite, grant.channel_id.clone());
        Self::finish(Box::new(records), config, options).await
    }

    /// Connects straight to an endpoint listening for WebSocket connections.
    pub async fn connect_direct(
        info: &DirectInfo,
        options: &SessionOptions,
    ) -> Result<Session, Error> {
        let psk = grant::decode_psk(&info.e2ee_psk_b64u).ok_or(Error::InvalidGrant(
            "e2ee_psk_b64u is not 32 bytes of base64url",
        ))?;
        let records = WsRecords::connect(&info.ws_url, &options.ws).await?;
        let config = ClientConfig::new(*psk, info.default_suite, info.channel_id.clone());
        Self::finish(Box::new(records), config, options).await
    }

    /// Runs the client side over a carrier that is already connected, such as
    /// [`FramedRecords`](crate::carrier::framed::FramedRecords) on a TCP or
    /// Unix socket. The credential's `channel_id` is required; its `init_exp`
    /// binds only the endpoint.
    pub async fn connect_over(
        records: Records,
        credential: &DirectCredential,
        options: &SessionOptions,
    ) -> Result<Session, Error> {
        let channel_id = credential
            .channel_id
            .clone()
            .ok_or(Error::InvalidGrant("a client needs the channel_id"))?;
        let config = ClientConfig::new(*credential.psk, credential.suite, channel_id);
        Self::finish(records, config, options).await
    }

    async fn finish(
        records: Records,
        mut config: ClientConfig,
        options: &SessionOptions,
    ) -> Result<Session, Error> {
        config.max_record_bytes = options.ws.max_message_bytes;
        let secure =
            handshake::client(records, config, options.secure, options.handshake_timeout).await?;
        Session::start(secure, Role::Client, options).await
    }
}
