//! Dial-backs waiting for their agent: each routed visitor gets a
//! single-use 32-byte secret, and waits (bounded) for the data connection
//! that presents it. Entries are keyed by the secret's SHA-256 and leave
//! the table when delivered or when the visitor stops waiting, so an
//! expired or replayed secret finds nothing.

use corridor::carrier::Connection;
use corridor::listener::ConnectionSlot;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// An ephemeral secret's length in bytes.
pub const DIAL_SECRET_BYTES: usize = 32;

type Key = [u8; 32];

/// An agent's data connection, with the slot that counts it against the
/// data listener's cap for as long as it is used.
#[derive(Debug)]
pub struct DataConnection {
    /// The connection.
    pub connection: Connection,
    /// Its place under the cap.
    pub slot: ConnectionSlot,
}

fn key(secret: &[u8; DIAL_SECRET_BYTES]) -> Key {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, secret).as_ref());
    out
}

struct Waiter {
    agent: u64,
    deliver: oneshot::Sender<DataConnection>,
}

/// The waiting dial-backs of one server.
#[derive(Default)]
pub struct DialBacks {
    waiting: Mutex<HashMap<Key, Waiter>>,
    per_agent: Mutex<HashMap<u64, usize>>,
}

/// Why a dial-back could not be expected.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("agent {agent} already has {limit} dial-backs pending")]
pub struct TooManyPending {
    /// The agent.
    pub agent: u64,
    /// Its limit.
    pub limit: usize,
}

/// One visitor's wait for its data connection; dropping it withdraws the
/// secret.
pub struct Ticket {
    table: Arc<DialBacks>,
    key: Key,
    agent: u64,
    /// Resolves with the agent's data connection.
    pub connection: oneshot::Receiver<DataConnection>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.table.lock().remove(&self.key).is_some() {
            self.table.release(self.agent);
        }
    }
}

impl DialBacks {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Waiter>> {
        // One insert or remove per update: a poisoned map is still whole.
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn release(&self, agent: u64) {
        let mut counts = self.per_agent.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = counts.get_mut(&agent) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&agent);
            }
        }
    }

    /// A fresh secret for `agent` to present, and the ticket that receives
    /// its connection; at most `limit` pending per agent.
    pub fn expect(
        self: &Arc<Self>,
        agent: u64,
        limit: usize,
    ) -> Result<([u8; DIAL_SECRET_BYTES], Ticket), TooManyPending> {
        {
            let mut counts = self.per_agent.lock().unwrap_or_else(|p| p.into_inner());
            let count = counts.entry(agent).or_default();
            if *count >= limit {
                return Err(TooManyPending { agent, limit });
            }
            *count += 1;
        }
        let mut secret = [0u8; DIAL_SECRET_BYTES];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut secret);
        let key = key(&secret);
        let (deliver, connection) = oneshot::channel();
        self.lock().insert(key, Waiter { agent, deliver });
        let ticket = Ticket {
            table: self.clone(),
            key,
            agent,
            connection,
        };
        Ok((secret, ticket))
    }

    /// Hands `connection` to the visitor waiting for `secret`; `false`
    /// (and the connection closed) when no one waits: an unknown, expired
    /// or already used secret, or a visitor that just gave up.
    pub fn deliver(&self, secret: &[u8; DIAL_SECRET_BYTES], connection: DataConnection) -> bool {
        let Some(waiter) = self.lock().remove(&key(secret)) else {
            return false;
        };
        self.release(waiter.agent);
        waiter.deliver.send(connection).is_ok()
    }

    /// Dial-backs waiting now.
    pub fn pending(&self) -> usize {
        self.lock().len()
    }
}
