//! The channel table: which channels exist, which roles are present, and the
//! rules by which a newly attached endpoint leads a new channel, joins its
//! peer, replaces an endpoint of its own role, or is refused.
//!
//! The first endpoint of a channel leads it: its task runs the channel from
//! then on and the second endpoint is handed to it. A same-role attach
//! replaces the whole channel (both old endpoints close with `replaced`), at
//! most `max_replaces_per_window` times per window and role.

use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::slots::ConnectionSlot;
use crate::ws::Ws;
use corridor_core::Role;
use corridor_core::close::Rejection;
use corridor_core::token::Claims;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

/// An attached endpoint connection.
#[derive(Debug)]
pub(crate) struct Endpoint {
    /// Boxed: the channel task moves endpoints around, and an idle channel's
    /// task should hold pointers, not two copies of the WebSocket state.
    pub(crate) ws: Box<Ws>,
    pub(crate) role: Role,
    /// Held for its `Drop`: the connection counts until the endpoint goes.
    pub(crate) _slot: ConnectionSlot,
}

/// Everything a leading task needs to run its channel.
#[derive(Debug)]
pub(crate) struct Lead {
    pub(crate) key: ChannelKey,
    pub(crate) generation: u64,
    pub(crate) endpoint: Endpoint,
    /// Receives the peer endpoint when it arrives.
    pub(crate) join: oneshot::Receiver<Endpoint>,
    /// Cancelled when a same-role endpoint takes the channel over.
    pub(crate) evicted: CancellationToken,
    pub(crate) first_seen: Instant,
    pub(crate) init_exp: i64,
    pub(crate) idle_timeout: Duration,
}

/// The outcome of admitting an endpoint.
#[derive(Debug)]
pub(crate) enum Admission {
    /// The endpoint leads a new channel (or a replacement of one).
    Lead(Lead),
    /// The endpoint was handed to its peer's channel task.
    Joined,
    /// Refused; the endpoint comes back to be closed with the reason.
    Refused(Rejection, Endpoint),
}

/// (audience, issuer, channel id): channels of different issuers never meet.
pub(crate) type ChannelKey = (String, String, String);

#[derive(Debug, Default, Clone, Copy)]
struct ReplaceWindow {
    started: Option<Instant>,
    count: u32,
}

#[derive(Debug)]
struct Slot {
    generation: u64,
    init_exp: i64,
    idle_timeout_seconds: i32,
    present: [bool; 2],
    /// Taken by the one peer that joins this generation.
    join: Option<oneshot::Sender<Endpoint>>,
    evict: CancellationToken,
    replace: [ReplaceWindow; 2],
}

/// The channel table.
#[derive(Debug)]
pub(crate) struct Registry {
    inner: Mutex<Inner>,
    /// Channels are keyed under the relay's audience and issuer.
    scope: (String, String),
    max_channels: usize,
    max_replaces_per_window: u32,
    replace_window: Duration,
    metrics: Arc<Metrics>,
}

#[derive(Debug, Default)]
struct Inner {
    channels: HashMap<ChannelKey, Slot>,
    next_generation: u64,
}

fn index(role: Role) -> usize {
    match role {
        Role::Client => 0,
        Role::Server => 1,
    }
}

impl Registry {
    /// An empty table for channels of `audience` and `issuer`, within `limits`.
    pub(crate) fn new(
        audience: &str,
        issuer: &str,
        limits: &Limits,
        metrics: Arc<Metrics>,
    ) -> Registry {
        Registry {
            inner: Mutex::default(),
            scope: (audience.to_owned(), issuer.to_owned()),
            max_channels: limits.max_channels,
            max_replaces_per_window: limits.max_replaces_per_window,
            replace_window: limits.replace_window,
            metrics,
        }
    }

    /// Channels paired or waiting.
    pub(crate) fn len(&self) -> usize {
        self.lock().channels.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits an endpoint whose token verified with `claims`.
    pub(crate) fn admit(&self, endpoint: Endpoint, claims: &Claims) -> Admission {
        let key: ChannelKey = (
            self.scope.0.clone(),
            self.scope.1.clone(),
            claims.channel_id.clone(),
        );
        let role = endpoint.role;
        let mut inner = self.lock();
        let replace_state = match inner.channels.get_mut(&key) {
            None => {
                if inner.channels.len() >= self.max_channels {
                    return Admission::Refused(Rejection::TooManyChannels, endpoint);
                }
                [ReplaceWindow::default(); 2]
            }
            Some(slot) => {
                if slot.init_exp != claims.init_exp {
                    return Admission::Refused(Rejection::InitExpMismatch, endpoint);
                }
                if slot.idle_timeout_seconds != claims.idle_timeout_seconds {
                    return Admission::Refused(Rejection::IdleTimeoutMismatch, endpoint);
                }
                if !slot.present[index(role)] {
                    slot.present[index(role)] = true;
                    let Some(join) = slot.join.take() else {
                        return Admission::Refused(Rejection::AttachFailed, endpoint);
                    };
                    // The lead may be gone, its slot about to be removed.
                    return match join.send(endpoint) {
                        Ok(()) => Admission::Joined,
                        Err(endpoint) => Admission::Refused(Rejection::AttachFailed, endpoint),
                    };
                }
                let window = &mut slot.replace[index(role)];
                let now = Instant::now();
                if window
                    .started
                    .is_none_or(|started| now.duration_since(started) >= self.replace_window)
                {
                    *window = ReplaceWindow {
                        started: Some(now),
                        count: 0,
                    };
                }
                if window.count >= self.max_replaces_per_window {
                    self.metrics.replaced(false);
                    return Admission::Refused(Rejection::ReplaceRateLimited, endpoint);
                }
                window.count += 1;
                self.metrics.replaced(true);
                slot.evict.cancel();
                slot.replace
            }
        };
        inner.next_generation += 1;
        let generation = inner.next_generation;
        // A oneshot, not an mpsc: an mpsc allocates a block of 32 slots,
        // which was 11 KiB of every idle channel.
        let (join, join_receiver) = oneshot::channel();
        let evict = CancellationToken::new();
        let mut present = [false; 2];
        present[index(role)] = true;
        inner.channels.insert(
            key.clone(),
            Slot {
                generation,
                init_exp: claims.init_exp,
                idle_timeout_seconds: claims.idle_timeout_seconds,
                present,
                join: Some(join),
                evict: evict.clone(),
                replace: replace_state,
            },
        );
        self.metrics.set_channels(inner.channels.len());
        Admission::Lead(Lead {
            key,
            generation,
            endpoint,
            join: join_receiver,
            evicted: evict,
            first_seen: Instant::now(),
            init_exp: claims.init_exp,
            idle_timeout: Duration::from_secs(claims.idle_timeout_seconds.max(1) as u64),
        })
    }

    /// Removes a channel if it is still the given generation (a replacement
    /// may already have taken its key).
    pub(crate) fn remove(&self, key: &ChannelKey, generation: u64) {
        let mut inner = self.lock();
        if inner
            .channels
            .get(key)
            .is_some_and(|slot| slot.generation == generation)
        {
            inner.channels.remove(key);
        }
        self.metrics.set_channels(inner.channels.len());
    }
}
