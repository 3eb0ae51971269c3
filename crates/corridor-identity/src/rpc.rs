//! The identity service's messages on the session's RPC stream: topic
//! subscriptions, the events they deliver, and the server's goodbye
//! before it closes a session (revoked key, slow subscriber).

use serde::{Deserialize, Serialize};

/// Call: subscribe to a topic ([`Subscribe`] -> [`Subscribed`]).
pub const SUBSCRIBE: u32 = 100;
/// Call: unsubscribe ([`Unsubscribe`] -> `{}`).
pub const UNSUBSCRIBE: u32 = 101;
/// Notification from the server: an [`Event`].
pub const EVENT: u32 = 102;
/// Notification from the server: a [`Goodbye`], then the session closes.
pub const GOODBYE: u32 = 103;

/// RPC error code: the user may not read this topic.
pub const TOPIC_NOT_ALLOWED: u32 = 403;
/// RPC error code: a malformed topic, or too many subscriptions.
pub const BAD_SUBSCRIPTION: u32 = 400;

/// What happens when a subscriber reads slower than events come.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overflow {
    /// The server says goodbye ("slow subscriber") and closes the session.
    #[default]
    Disconnect,
    /// Events that find no room are dropped; the next one delivered says
    /// how many were missed.
    CountMissed,
}

/// Subscribe to `topic`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscribe {
    /// The topic.
    pub topic: String,
    /// What to do when this subscriber falls behind.
    #[serde(default)]
    pub overflow: Overflow,
}

/// The answer: the topic's sequence number now (the next event has a higher one).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscribed {
    /// The topic.
    pub topic: String,
    /// Its last sequence number.
    pub seq: u64,
}

/// Stop receiving `topic`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsubscribe {
    /// The topic.
    pub topic: String,
}

/// One event on a topic.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The topic.
    pub topic: String,
    /// Per topic, from 1, no gaps at the publisher.
    pub seq: u64,
    /// The event itself.
    pub payload: serde_json::Value,
    /// Events of this topic dropped for this subscriber since its last delivery.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub missed: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Why the server is closing the session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Goodbye {
    /// Short, for people: "key revoked", "slow subscriber".
    pub reason: String,
}
