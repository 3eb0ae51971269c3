//! The client side: enroll a key with a one-time token (Noise XX, the
//! server's key pinned), or log in with the key alone (Noise IK); receive
//! topic events and the server's goodbye.

use crate::hello::{ClientHello, Enroll, Welcome};
use crate::rpc::{
    EVENT, Event, GOODBYE, Goodbye, Overflow, SUBSCRIBE, Subscribe, Subscribed, UNSUBSCRIBE,
    Unsubscribe,
};
use crate::{CHANNEL_ID, IdentityError};
use corridor::credential::NoiseCredential;
use corridor::rpc::{Router, RpcError};
use corridor::{Client, Session, SessionOptions};
use corridor_core::identity::{PublicKey, StaticSecret};
use corridor_core::suite::SecureError;
use std::sync::{Arc, Mutex};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

/// Where and as whom a client connects.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// The server's WebSocket URL.
    pub url: String,
    /// The server's key, pinned: a server without it is refused.
    pub server_key: PublicKey,
    /// This client's static key.
    pub identity: StaticSecret,
    /// Session options; the event handlers are added to its router.
    pub options: SessionOptions,
    /// Events held for [`Connected::next_event`] before the session stops
    /// reading (the server then treats this client as slow).
    pub event_buffer: usize,
}

impl ClientConfig {
    /// A client of the server at `url` with key `server_key`.
    pub fn new(url: impl Into<String>, server_key: PublicKey, identity: StaticSecret) -> Self {
        ClientConfig {
            url: url.into(),
            server_key,
            identity,
            options: SessionOptions::default(),
            event_buffer: 1024,
        }
    }
}

/// An admitted session.
#[derive(Debug)]
pub struct Connected {
    /// The session: RPC, streams.
    pub session: Arc<Session>,
    /// What the server said about the account.
    pub welcome: Welcome,
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<Event>>,
    /// One permit per event the application may still fall behind by.
    room: Arc<Semaphore>,
    goodbye: Arc<Mutex<Option<String>>>,
    /// Ends the task that closes the session on a goodbye.
    _dropped: tokio_util::sync::DropGuard,
}

impl Connected {
    /// Subscribes to `topic`.
    pub async fn subscribe(&self, topic: &str, overflow: Overflow) -> Result<Subscribed, RpcError> {
        let request = Subscribe {
            topic: topic.to_owned(),
            overflow,
        };
        self.session.rpc().call(SUBSCRIBE, &request).await
    }

    /// Unsubscribes from `topic`.
    pub async fn unsubscribe(&self, topic: &str) -> Result<(), RpcError> {
        let request = Unsubscribe {
            topic: topic.to_owned(),
        };
        let _: serde_json::Value = self.session.rpc().call(UNSUBSCRIBE, &request).await?;
        Ok(())
    }

    /// The next event; `None` once the session has ended.
    pub async fn next_event(&self) -> Option<Event> {
        let event = self.events.lock().await.recv().await?;
        self.room.add_permits(1);
        Some(event)
    }

    /// Why the server closed the session, if it said.
    pub fn goodbye(&self) -> Option<String> {
        self.goodbye
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Enrolls this client's key for `enroll.user` with its one-time token.
pub async fn enroll(config: &ClientConfig, enroll: Enroll) -> Result<Connected, IdentityError> {
    let mut credential = NoiseCredential::xx(config.identity.clone(), CHANNEL_ID);
    credential.server_key = Some(config.server_key);
    credential.payload = ClientHello {
        enroll: Some(enroll),
    }
    .encode();
    connect(config, credential).await
}

/// Logs in with the key alone.
pub async fn login(config: &ClientConfig) -> Result<Connected, IdentityError> {
    let credential = NoiseCredential::ik(config.identity.clone(), config.server_key, CHANNEL_ID);
    connect(config, credential).await
}

async fn connect(
    config: &ClientConfig,
    credential: NoiseCredential,
) -> Result<Connected, IdentityError> {
    // Events are queued in the order they arrive, synchronously in the RPC
    // reader (handler tasks may run in any order); the handler then waits
    // for room, so a client that stops reading events stops its session's
    // reading, which the server sees as a slow subscriber.
    let (events_tx, events) = mpsc::unbounded_channel();
    let room = Arc::new(Semaphore::new(config.event_buffer.max(1)));
    let waiting_room = room.clone();
    let goodbye = Arc::new(Mutex::new(None));
    let said = goodbye.clone();
    let farewell = CancellationToken::new();
    let told = farewell.clone();
    let inbox = Router::new()
        .on_notify(EVENT, move |event: Event| {
            let _ = events_tx.send(event);
            let room = waiting_room.clone();
            async move {
                if let Ok(permit) = room.acquire().await {
                    permit.forget();
                }
            }
        })
        .on_notify(GOODBYE, move |goodbye: Goodbye| {
            *said.lock().unwrap_or_else(|p| p.into_inner()) = Some(goodbye.reason);
            told.cancel();
            std::future::ready(())
        });
    let router = config.options.router().clone().merge(inbox);
    let mut options = config.options.clone().with_router(router);
    // Events are messages, not calls: wait for the inbox instead of dropping.
    options.rpc.notification_backpressure = true;
    let session = Client::connect_ws(&config.url, credential, &options)
        .await
        .map_err(refusal)?;
    let welcome: Welcome = serde_json::from_slice(&session.peer().handshake_payload)
        .map_err(|_| IdentityError::Welcome)?;
    let session = Arc::new(session);
    // Told goodbye, the client closes its side: by the time its session
    // has ended, the reason is there to read.
    let closing = Arc::downgrade(&session);
    let dropped = CancellationToken::new();
    let gone = dropped.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = farewell.cancelled() => {}
            _ = gone.cancelled() => return,
        }
        if let Some(session) = closing.upgrade() {
            session.close().await;
        }
    });
    Ok(Connected {
        session,
        welcome,
        events: tokio::sync::Mutex::new(events),
        room,
        goodbye,
        _dropped: dropped.drop_guard(),
    })
}

/// The server's refusal, readable, where the handshake carried one.
fn refusal(error: corridor::Error) -> IdentityError {
    match error {
        corridor::Error::Handshake(SecureError::Refused(reason)) => IdentityError::Refused(reason),
        other => IdentityError::Session(other),
    }
}
