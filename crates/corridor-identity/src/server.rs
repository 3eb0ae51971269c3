//! The identity server: one listener, the Noise handshake judged by the
//! [`KeyAuthority`], each admitted session registered by key (so a
//! revocation closes it) and served with the application's router plus the
//! topic subscription calls. The revocation log is followed and last-seen
//! times are written in the background.

use crate::authority::{Admitted, KeyAuthority};
use crate::events::{EventLimits, Events, TopicPolicy};
use crate::live::{LiveSessions, follow_revocations, say_goodbye};
use crate::store::Store;
use crate::{CHANNEL_ID, IdentityError};
use corridor::listener::{BindAddr, Listener, ListenerConfig};
use corridor::peer::Address;
use corridor::{Endpoint, EndpointCredential, Session, SessionOptions};
use corridor_core::identity::{PublicKey, StaticSecret};
use corridor_core::noise::ResponderConfig;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What an identity server runs with.
#[derive(Clone, Debug)]
pub struct IdentityConfig {
    /// Where it listens (WebSocket).
    pub listen: BindAddr,
    /// The server's static key; clients pin its public half.
    pub identity: StaticSecret,
    /// Connection caps and the handshake deadline.
    pub listener: ListenerConfig,
    /// How often the revocation log is read (revoked sessions close within it).
    pub revocation_poll: Duration,
    /// How often last-seen times are written.
    pub last_seen_flush: Duration,
    /// Subscription limits.
    pub events: EventLimits,
}

impl IdentityConfig {
    /// A server on `listen` with `identity` and the defaults: revocations
    /// read every 250 ms, last-seen times written every 5 s.
    pub fn new(listen: BindAddr, identity: StaticSecret) -> IdentityConfig {
        IdentityConfig {
            listen,
            identity,
            listener: ListenerConfig::default(),
            revocation_poll: Duration::from_millis(250),
            last_seen_flush: Duration::from_secs(5),
            events: EventLimits::default(),
        }
    }
}

/// A bound identity server.
#[derive(Debug)]
pub struct IdentityServer {
    listener: Listener,
    config: IdentityConfig,
    credential: EndpointCredential,
    store: Arc<Store>,
    live: Arc<LiveSessions>,
    events: Arc<Events>,
    revocations_from: i64,
    shutdown: CancellationToken,
}

/// Stops a running server.
#[derive(Clone, Debug)]
pub struct IdentityServerHandle {
    shutdown: CancellationToken,
}

impl IdentityServerHandle {
    /// Stops accepting and closes the open sessions.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }
}

impl IdentityServer {
    /// Binds the listener. Topics are authorized by `policy`.
    pub async fn bind(
        config: IdentityConfig,
        store: Arc<Store>,
        policy: Arc<dyn TopicPolicy>,
    ) -> Result<IdentityServer, IdentityError> {
        let listener = Listener::bind(&config.listen, config.listener.clone())
            .await
            .map_err(|source| IdentityError::Bind {
                addr: config.listen.to_string(),
                source,
            })?;
        // IK for key logins, XX for enrollments (the client's key is new).
        let responder = ResponderConfig::service(config.identity.clone(), CHANNEL_ID);
        let credential =
            EndpointCredential::noise(responder, Arc::new(KeyAuthority::new(store.clone())));
        // Where the revocation log stands before anyone is admitted: every
        // later revocation closes sessions.
        let revocations_from = store.last_revocation().await?;
        let live = Arc::new(LiveSessions::default());
        let events = Arc::new(Events::new(policy, live.clone(), config.events));
        Ok(IdentityServer {
            listener,
            config,
            credential,
            store,
            live,
            events,
            revocations_from,
            shutdown: CancellationToken::new(),
        })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> &Address {
        self.listener.local_addr()
    }

    /// The WebSocket URL clients dial.
    pub fn url(&self) -> String {
        format!("ws://{}/", self.listener.local_addr())
    }

    /// The key clients pin.
    pub fn public_key(&self) -> PublicKey {
        self.config.identity.public_key()
    }

    /// The topic hub: publish here.
    pub fn events(&self) -> Arc<Events> {
        self.events.clone()
    }

    /// The sessions open now.
    pub fn live(&self) -> Arc<LiveSessions> {
        self.live.clone()
    }

    /// The registry.
    pub fn store(&self) -> Arc<Store> {
        self.store.clone()
    }

    /// A handle that stops [`IdentityServer::serve`].
    pub fn handle(&self) -> IdentityServerHandle {
        IdentityServerHandle {
            shutdown: self.shutdown.clone(),
        }
    }

    /// Serves admitted clients with `options` (whose router answers the
    /// application's calls; the subscription calls are added) and runs
    /// `on_session` for each session's life.
    pub async fn serve<F, Fut>(self, options: SessionOptions, on_session: F)
    where
        F: Fn(Arc<Session>, Admitted) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let router = options.router().clone().merge(self.events.router());
        let options = Arc::new(options.with_router(router));
        let on_session = Arc::new(on_session);
        let tasks = TaskTracker::new();
        tasks.spawn(follow_revocations(
            self.store.clone(),
            self.live.clone(),
            self.revocations_from,
            self.config.revocation_poll,
            self.shutdown.clone(),
        ));
        tasks.spawn(flush_last_seen(
            self.store.clone(),
            self.config.last_seen_flush,
            self.shutdown.clone(),
        ));
        loop {
            let accepted = tokio::select! {
                _ = self.shutdown.cancelled() => break,
                accepted = self.listener.accept() => accepted,
            };
            let (credential, options) = (self.credential.clone(), options.clone());
            let (live, events) = (self.live.clone(), self.events.clone());
            let (on_session, shutdown) = (on_session.clone(), self.shutdown.clone());
            tasks.spawn(async move {
                let handshake = accepted.handshake(|connection| async move {
                    Endpoint::accept_direct(connection, &credential, &options).await
                });
                let (session, _slot) = match handshake.await {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::debug!(reason = error.reason(), "handshake failed");
                        return;
                    }
                };
                let Some(admitted) = session.peer().attached::<Admitted>().cloned() else {
                    return;
                };
                let session = Arc::new(session);
                let Some(_registration) =
                    live.register(&admitted.account.fingerprint, admitted.session_id, &session)
                else {
                    say_goodbye(session, "key revoked").await;
                    return;
                };
                let session_id = admitted.session_id;
                let serving = async {
                    on_session(session.clone(), admitted).await;
                    session.closed().await;
                };
                tokio::select! {
                    _ = serving => {}
                    _ = shutdown.cancelled() => say_goodbye(session, "server stopping").await,
                }
                events.forget(session_id);
            });
        }
        tasks.close();
        // Open sessions end with the server; in-flight handshakes too.
        let sessions_closing = self.live.len();
        tracing::info!(sessions_closing, "identity server stopping");
        tasks.wait().await;
        let _ = self.store.flush_last_seen().await;
    }
}

async fn flush_last_seen(store: Arc<Store>, every: Duration, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        if let Err(error) = store.flush_last_seen().await {
            tracing::warn!(%error, "writing last-seen times failed");
        }
    }
}
