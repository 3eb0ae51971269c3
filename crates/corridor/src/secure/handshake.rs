//! Runs the fsec1 handshake of `corridor-core` over a record carrier, within
//! a deadline, and returns the established [`SecureStream`].

use super::{SecureOptions, SecureStream};
use crate::carrier::Records;
use crate::error::{Error, from_io};
use bytes::Bytes;
use corridor_core::fsec1::client::{ClientConfig, ClientHandshake};
use corridor_core::fsec1::messages;
use corridor_core::fsec1::server::{HandshakeCache, ServerConfig, ServerHandshake, ServerStep};
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The feature bits corridor advertises: it opens rekey records.
pub const LOCAL_FEATURES: u32 = messages::FEATURE_REKEY;

/// The wall clock in Unix seconds, for the ack's timestamp.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

async fn send(io: &mut Records, frame: Vec<u8>) -> Result<(), Error> {
    io.send(Bytes::from(frame))
        .await
        .map_err(|error| from_io(error, "handshake"))
}

async fn receive(io: &mut Records) -> Result<Vec<u8>, Error> {
    match io.next().await {
        Some(Ok(bytes)) => Ok(bytes.into()),
        Some(Err(error)) => Err(from_io(error, "handshake")),
        None => Err(Error::Closed("handshake")),
    }
}

/// The client side: init, response, ack, finished.
pub async fn client(
    mut io: Records,
    mut config: ClientConfig,
    options: SecureOptions,
    timeout: Duration,
) -> Result<SecureStream, Error> {
    config.features |= LOCAL_FEATURES;
    let run = async {
        let (handshake, init) = ClientHandshake::start(config, &mut rand_core::OsRng)?;
        send(&mut io, init).await?;
        let resp = receive(&mut io).await?;
        let (handshake, ack) = handshake.on_response(&resp, unix_now())?;
        send(&mut io, ack).await?;
        let mut finished = receive(&mut io).await?;
        Ok::<_, Error>(handshake.on_finished(&mut finished)?)
    };
    let keys = tokio::time::timeout(timeout, run)
        .await
        .map_err(|_| Error::Timeout("handshake"))??;
    Ok(SecureStream::new(io, keys, options))
}

/// The server side: init, response (again for an identical retried init),
/// ack, finished.
pub async fn server(
    mut io: Records,
    mut config: ServerConfig,
    cache: &Arc<HandshakeCache>,
    options: SecureOptions,
    timeout: Duration,
) -> Result<SecureStream, Error> {
    config.features |= LOCAL_FEATURES;
    let run = async {
        let init = receive(&mut io).await?;
        let (mut handshake, resp) = ServerHandshake::on_init(
            config,
            cache,
            &init,
            std::time::Instant::now(),
            &mut rand_core::OsRng,
        )?;
        send(&mut io, resp).await?;
        loop {
            let message = receive(&mut io).await?;
            match handshake.on_message(&message, unix_now())? {
                ServerStep::Resend {
                    handshake: again,
                    resp,
                } => {
                    handshake = again;
                    send(&mut io, resp).await?;
                }
                ServerStep::Done {
                    established,
                    finished,
                } => {
                    send(&mut io, finished).await?;
                    return Ok::<_, Error>(established);
                }
            }
        }
    };
    let keys = tokio::time::timeout(timeout, run)
        .await
        .map_err(|_| Error::Timeout("handshake"))??;
    Ok(SecureStream::new(io, keys, options))
}
