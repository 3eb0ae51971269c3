//! Topic events pushed over sessions: subscribe and unsubscribe calls,
//! authorized per user by a [`TopicPolicy`]; publishing encodes an event
//! once and offers it to each subscriber without waiting
//! ([`corridor::rpc::Rpc::try_send`]), so a slow subscriber never slows the
//! publisher or the others: it is told goodbye and disconnected, or, by its
//! choice, told later how many events it missed.

use crate::authority::Admitted;
use crate::live::{LiveSessions, say_goodbye};
use crate::rpc::{
    BAD_SUBSCRIPTION, EVENT, Event, Overflow, SUBSCRIBE, Subscribe, Subscribed, TOPIC_NOT_ALLOWED,
    UNSUBSCRIBE, Unsubscribe,
};
use crate::store::Account;
use corridor::rpc::{Call, Failure, Notification, Router, Rpc, RpcError};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Who may read which topic.
pub trait TopicPolicy: Send + Sync {
    /// Whether `account` may subscribe to `topic`.
    fn allows(&self, account: &Account, topic: &str) -> bool;
}

impl<F: Fn(&Account, &str) -> bool + Send + Sync> TopicPolicy for F {
    fn allows(&self, account: &Account, topic: &str) -> bool {
        self(account, topic)
    }
}

/// Limits on subscriptions.
#[derive(Clone, Copy, Debug)]
pub struct EventLimits {
    /// Longest topic name.
    pub max_topic_bytes: usize,
    /// Topics one session may hold.
    pub max_topics_per_session: usize,
}

impl Default for EventLimits {
    fn default() -> Self {
        EventLimits {
            max_topic_bytes: 256,
            max_topics_per_session: 256,
        }
    }
}

/// What one publication reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Published {
    /// The event's sequence number.
    pub seq: u64,
    /// Subscribers it was queued for.
    pub delivered: usize,
    /// Slow subscribers disconnected by this publication.
    pub disconnected: usize,
    /// Subscribers (counting ones) it was dropped for.
    pub missed: usize,
}

struct Subscriber {
    rpc: Rpc,
    fingerprint: String,
    overflow: Overflow,
    missed: u64,
}

#[derive(Default)]
struct Topic {
    seq: u64,
    subscribers: HashMap<u64, Subscriber>,
}

/// The topic hub of one server.
pub struct Events {
    topics: Mutex<HashMap<String, Arc<Mutex<Topic>>>>,
    per_session: Mutex<HashMap<u64, usize>>,
    policy: Arc<dyn TopicPolicy>,
    live: Arc<LiveSessions>,
    limits: EventLimits,
    slow_disconnects: AtomicU64,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Critical sections are map updates and queue pushes: nothing panics mid-way.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Events {
    /// A hub authorizing subscriptions by `policy`; it closes slow
    /// subscribers' sessions through `live`.
    pub fn new(
        policy: Arc<dyn TopicPolicy>,
        live: Arc<LiveSessions>,
        limits: EventLimits,
    ) -> Events {
        Events {
            topics: Mutex::new(HashMap::new()),
            per_session: Mutex::new(HashMap::new()),
            policy,
            live,
            limits,
            slow_disconnects: AtomicU64::new(0),
        }
    }

    /// The subscribe and unsubscribe handlers, to merge into a server's router.
    pub fn router(self: &Arc<Self>) -> Router {
        let subscribe = self.clone();
        let unsubscribe = self.clone();
        Router::new()
            .handle(SUBSCRIBE, move |call: Call, request: Subscribe| {
                let events = subscribe.clone();
                async move { events.subscribe(&call, request) }
            })
            .handle(UNSUBSCRIBE, move |call: Call, request: Unsubscribe| {
                let events = unsubscribe.clone();
                async move {
                    let admitted = admitted(&call)?;
                    events.unsubscribe(admitted.session_id, &request.topic);
                    Ok::<_, Failure>(serde_json::json!({}))
                }
            })
    }

    fn subscribe(&self, call: &Call, request: Subscribe) -> Result<Subscribed, Failure> {
        let admitted = admitted(call)?;
        if request.topic.is_empty() || request.topic.len() > self.limits.max_topic_bytes {
            return Err(Failure::new(
                BAD_SUBSCRIPTION,
                "topic name empty or too long",
            ));
        }
        if !self.policy.allows(&admitted.account, &request.topic) {
            return Err(Failure::new(TOPIC_NOT_ALLOWED, "topic not allowed"));
        }
        let topic = lock(&self.topics)
            .entry(request.topic.clone())
            .or_default()
            .clone();
        let mut topic = lock(&topic);
        if !topic.subscribers.contains_key(&admitted.session_id) {
            let mut counts = lock(&self.per_session);
            let count = counts.entry(admitted.session_id).or_default();
            if *count >= self.limits.max_topics_per_session {
                return Err(Failure::new(BAD_SUBSCRIPTION, "too many subscriptions"));
            }
            *count += 1;
        }
        topic.subscribers.insert(
            admitted.session_id,
            Subscriber {
                rpc: call.session().clone(),
                fingerprint: admitted.account.fingerprint.clone(),
                overflow: request.overflow,
                missed: 0,
            },
        );
        Ok(Subscribed {
            topic: request.topic,
            seq: topic.seq,
        })
    }

    fn unsubscribe(&self, session_id: u64, topic: &str) {
        let Some(topic) = lock(&self.topics).get(topic).cloned() else {
            return;
        };
        if lock(&topic).subscribers.remove(&session_id).is_some() {
            self.uncount(session_id);
        }
    }

    fn uncount(&self, session_id: u64) {
        let mut counts = lock(&self.per_session);
        if let Some(count) = counts.get_mut(&session_id) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&session_id);
            }
        }
    }

    /// Drops every subscription of a session (when it ends).
    pub fn forget(&self, session_id: u64) {
        if lock(&self.per_session).remove(&session_id).is_none() {
            return;
        }
        let topics: Vec<_> = lock(&self.topics).values().cloned().collect();
        for topic in topics {
            lock(&topic).subscribers.remove(&session_id);
        }
    }

    /// Subscribers of `topic` now.
    pub fn subscribers(&self, topic: &str) -> usize {
        lock(&self.topics)
            .get(topic)
            .map(|t| lock(t).subscribers.len())
            .unwrap_or(0)
    }

    /// Slow subscribers disconnected so far.
    pub fn slow_disconnects(&self) -> u64 {
        self.slow_disconnects.load(Ordering::Relaxed)
    }

    /// Publishes `payload` on `topic`: the next sequence number, encoded
    /// once, offered to every subscriber without waiting.
    pub fn publish<T: Serialize + ?Sized>(
        &self,
        topic: &str,
        payload: &T,
    ) -> Result<Published, RpcError> {
        let payload = serde_json::to_value(payload)?;
        let Some(entry) = lock(&self.topics).get(topic).cloned() else {
            return Ok(Published::default());
        };
        let mut entry = lock(&entry);
        entry.seq += 1;
        let mut event = Event {
            topic: topic.to_owned(),
            seq: entry.seq,
            payload,
            missed: 0,
        };
        let shared = Notification::new(EVENT, &event)?;
        let mut published = Published {
            seq: entry.seq,
            ..Published::default()
        };
        let mut gone = Vec::new();
        for (&session_id, subscriber) in entry.subscribers.iter_mut() {
            let sent = if subscriber.missed == 0 {
                subscriber.rpc.try_send(&shared)
            } else {
                // Rare: this subscriber is told what it missed.
                event.missed = subscriber.missed;
                let own = Notification::new(EVENT, &event);
                event.missed = 0;
                own.and_then(|own| subscriber.rpc.try_send(&own))
            };
            match sent {
                Ok(()) => {
                    subscriber.missed = 0;
                    published.delivered += 1;
                }
                Err(RpcError::Full) if subscriber.overflow == Overflow::CountMissed => {
                    subscriber.missed += 1;
                    published.missed += 1;
                }
                Err(RpcError::Full) => {
                    published.disconnected += 1;
                    self.slow_disconnects.fetch_add(1, Ordering::Relaxed);
                    if let Some(session) = self.live.get(&subscriber.fingerprint, session_id) {
                        tokio::spawn(async move { say_goodbye(session, "slow subscriber").await });
                    }
                    gone.push(session_id);
                }
                Err(_) => gone.push(session_id),
            }
        }
        for session_id in gone {
            entry.subscribers.remove(&session_id);
            self.uncount(session_id);
        }
        Ok(published)
    }
}

fn admitted(call: &Call) -> Result<&Admitted, Failure> {
    call.peer()
        .attached::<Admitted>()
        .ok_or_else(|| Failure::new(TOPIC_NOT_ALLOWED, "not an identified session"))
}
