//! Runs any suite's handshake over a record carrier, within a deadline: its
//! messages out and in, the application's judgement where the suite asks
//! for one, and the established [`SecureStream`] at the end.

use super::{SecureOptions, SecureStream};
use crate::carrier::Records;
use crate::credential::{Authorizer, ClientCredential, EndpointCredential};
use crate::error::{Error, from_io};
use crate::peer::{Attachment, ConnectionInfo, Peer};
use bytes::Bytes;
use corridor_core::fsec1::client::ClientConfig;
use corridor_core::fsec1::server::{HandshakeCache, ServerConfig};
use corridor_core::fsec1::{Fsec1Client, Fsec1Server};
use corridor_core::noise::{NoiseInitiator, NoiseResponder};
use corridor_core::suite::{Context, Established, FEATURE_REKEY, Handshake, Step, SuiteName};
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The feature bits corridor advertises: it opens rekey records.
pub const LOCAL_FEATURES: u32 = FEATURE_REKEY;

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

/// The messages `handshake` opens with, before it needs anything from the
/// peer; the handshake then goes on from its first receive.
pub(crate) fn opening(handshake: &mut dyn Handshake) -> Result<Vec<Vec<u8>>, Error> {
    let mut messages = Vec::new();
    while let Step::Send(message) = handshake.step()? {
        messages.push(message);
    }
    Ok(messages)
}

/// Drives `handshake` to its end over `io`, asking `authorizer` wherever the
/// suite wants a judgement, all within `timeout`; returns what the
/// authorizer attached to the peer with the established channel.
pub async fn run(
    io: &mut Records,
    mut handshake: Box<dyn Handshake>,
    authorizer: &dyn Authorizer,
    connection: &ConnectionInfo,
    timeout: Duration,
) -> Result<(Established, Option<Attachment>), Error> {
    let mut attachment = None;
    let exchange = async {
        loop {
            match handshake.step()? {
                Step::Send(message) => send(io, message).await?,
                Step::Receive => {
                    let mut message = receive(io).await?;
                    let mut rng = rand_core::OsRng;
                    let mut cx = Context {
                        now_unix_s: crate::clock::unix_now().max(0) as u64,
                        now: Instant::now(),
                        rng: &mut rng,
                    };
                    handshake.on_message(&mut message, &mut cx)?;
                }
                Step::Decide(claim) => {
                    let admission = authorizer.admit(&claim, connection).await;
                    attachment = admission.attachment;
                    handshake.decide(admission.verdict)?;
                }
                Step::Done => return Ok::<_, Error>(handshake.finish()?),
            }
        }
    };
    let established = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| Error::Timeout("handshake"))??;
    Ok((established, attachment))
}

/// A client's handshake and the judge of the endpoint it meets.
pub(crate) type ClientStart = (Box<dyn Handshake>, Arc<dyn Authorizer>);

/// The client's handshake for `credential`.
pub(crate) fn client_handshake(
    credential: &ClientCredential,
    max_record_bytes: usize,
) -> Result<ClientStart, Error> {
    match credential {
        ClientCredential::Fsec1(fsec1) => {
            let channel_id = fsec1
                .channel_id
                .clone()
                .ok_or(Error::InvalidGrant("a client needs the channel_id"))?;
            let mut config = ClientConfig::new(*fsec1.psk, fsec1.suite, channel_id);
            config.features |= LOCAL_FEATURES;
            config.max_record_bytes = max_record_bytes;
            let handshake = Fsec1Client::start(config, &mut rand_core::OsRng)?;
            Ok((Box::new(handshake), Arc::new(crate::credential::AcceptAll)))
        }
        ClientCredential::Noise(noise) => {
            let handshake = NoiseInitiator::start(noise.initiator_config(LOCAL_FEATURES))?;
            Ok((Box::new(handshake), noise.authorizer.clone()))
        }
    }
}

/// The endpoint's handshake for the suite negotiation chose.
pub(crate) fn endpoint_handshake(
    suite: SuiteName,
    credential: &EndpointCredential,
    cache: &Arc<HandshakeCache>,
    max_record_bytes: usize,
) -> Result<Box<dyn Handshake>, Error> {
    let unavailable = || Error::NoCommonSuite {
        offered: vec![suite.wire_name().to_owned()],
        accepted: corridor_core::negotiate::wire_names(&credential.suites()),
    };
    match suite {
        SuiteName::Fsec1 => {
            let fsec1 = credential.fsec1.as_ref().ok_or_else(unavailable)?;
            let mut config = ServerConfig::new(*fsec1.psk, fsec1.suite, fsec1.init_exp_unix_s);
            config.channel_id = fsec1.channel_id.clone();
            config.features |= LOCAL_FEATURES;
            config.max_record_bytes = max_record_bytes;
            Ok(Box::new(Fsec1Server::new(config, cache.clone())))
        }
        SuiteName::Noise => {
            let mut config = credential.noise.clone().ok_or_else(unavailable)?;
            config.features |= LOCAL_FEATURES;
            Ok(Box::new(NoiseResponder::new(config)))
        }
    }
}

/// Runs the handshake and wraps the carrier as a [`SecureStream`]; returns
/// it with the peer the handshake proved.
pub(crate) async fn secure(
    mut io: Records,
    handshake: Box<dyn Handshake>,
    authorizer: &dyn Authorizer,
    connection: ConnectionInfo,
    options: SecureOptions,
    timeout: Duration,
) -> Result<(SecureStream, Peer), Error> {
    let (
        Established {
            records,
            peer,
            features,
            suite,
            peer_payload,
        },
        attachment,
    ) = run(&mut io, handshake, authorizer, &connection, timeout).await?;
    let peer = Peer {
        identity: peer,
        suite,
        handshake_payload: peer_payload,
        connection,
        attachment,
    };
    Ok((SecureStream::new(io, records, features, options), peer))
}
