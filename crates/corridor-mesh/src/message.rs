//! Messages between nodes, roles, and which role may send which type.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A message: `payload` is typed by the application through serde.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Unique per message; repeats within the de-duplication window are dropped.
    pub id: String,
    /// What it is (`status`, `order.run`, ...): the handler and the role
    /// rules key on it.
    #[serde(rename = "type")]
    pub kind: String,
    /// The sender's peer id (set by the transport, checked on receipt).
    pub from: String,
    /// The addressee's peer id, or empty for a broadcast.
    #[serde(default)]
    pub to: String,
    /// Unix time in milliseconds when it was made.
    pub ts: i64,
    /// The id of the message this answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// The application's content.
    #[serde(default)]
    pub payload: Value,
}

impl Message {
    /// A new message of `kind` carrying `payload`, with a fresh id.
    ///
    /// ```
    /// #[derive(serde::Serialize)]
    /// struct Status { load: f32 }
    /// let message = corridor_mesh::Message::new("status", &Status { load: 0.5 }).unwrap();
    /// assert_eq!(message.payload["load"], 0.5);
    /// ```
    pub fn new(kind: &str, payload: &impl Serialize) -> Result<Message, serde_json::Error> {
        let mut id = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut id);
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_millis() as i64)
            .unwrap_or_default();
        Ok(Message {
            id: corridor_core::b64::encode(id),
            kind: kind.to_owned(),
            from: String::new(),
            to: String::new(),
            ts,
            reply_to: None,
            payload: serde_json::to_value(payload)?,
        })
    }

    /// An answer to this message: of `kind`, addressed to its sender, with
    /// `reply_to` naming it (what [`Transport::request`](crate::Transport::request)
    /// waits for).
    ///
    /// ```
    /// let question = corridor_mesh::Message::new("ping", &()).unwrap();
    /// let answer = question.reply("pong", &"here").unwrap();
    /// assert_eq!(answer.reply_to.as_deref(), Some(question.id.as_str()));
    /// ```
    pub fn reply(
        &self,
        kind: &str,
        payload: &impl Serialize,
    ) -> Result<Message, serde_json::Error> {
        let mut reply = Message::new(kind, payload)?;
        reply.to = self.from.clone();
        reply.reply_to = Some(self.id.clone());
        Ok(reply)
    }

    /// The payload as `T`.
    pub fn payload_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&self.payload)
    }
}

/// What a node is for, and so what it may order others to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Gives orders.
    Controller,
    /// Takes orders; its own messages are reports.
    Worker,
    /// Both.
    Dual,
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(text: &str) -> Result<Role, String> {
        match text {
            "controller" => Ok(Role::Controller),
            "worker" => Ok(Role::Worker),
            "dual" => Ok(Role::Dual),
            other => Err(format!(
                "a role is controller, worker or dual, not {other:?}"
            )),
        }
    }
}

/// Message types that are orders: only controllers (and dual nodes) may
/// send them; from a worker they are dropped and counted. Types starting
/// `order.` are orders, as are the ones listed here.
#[derive(Clone, Debug, Default)]
pub struct OrderTypes {
    extra: Vec<String>,
}

impl OrderTypes {
    /// Also counts `kind` as an order.
    pub fn with(mut self, kind: impl Into<String>) -> OrderTypes {
        self.extra.push(kind.into());
        self
    }

    /// Whether `kind` is an order.
    pub fn is_order(&self, kind: &str) -> bool {
        kind.starts_with("order.") || self.extra.iter().any(|extra| extra == kind)
    }

    /// Whether a node of `role` may send a message of `kind`.
    pub fn may_send(&self, role: Role, kind: &str) -> bool {
        role != Role::Worker || !self.is_order(kind)
    }
}
