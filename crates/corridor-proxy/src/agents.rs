//! Subscribed agents by host. Each API connection that subscribes becomes
//! one agent with a bounded queue of notifications; visitors of a host are
//! spread over its agents in turn, and an agent's subscriptions end with
//! its connection.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use tokio::sync::mpsc;

/// Notifications queued per agent before visitors for it are refused.
pub(crate) const NOTIFY_QUEUE: usize = 1024;

/// One agent as visitors see it.
#[derive(Clone, Debug)]
pub(crate) struct AgentLink {
    pub(crate) id: u64,
    notify: mpsc::Sender<String>,
}

impl AgentLink {
    /// Queues a notification; `false` when the agent is gone or behind.
    pub(crate) fn notify(&self, text: String) -> bool {
        self.notify.try_send(text).is_ok()
    }

    /// Resolves when the agent's API connection has ended.
    pub(crate) async fn gone(&self) {
        self.notify.closed().await
    }
}

#[derive(Default)]
pub(crate) struct Agents {
    next_id: AtomicU64,
    turn: AtomicUsize,
    by_host: Mutex<HashMap<String, Vec<AgentLink>>>,
}

impl Agents {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<AgentLink>>> {
        // One push or retain per update: a poisoned map is still whole.
        self.by_host.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new agent: its link and the queue its connection sends from.
    pub(crate) fn link(&self) -> (AgentLink, mpsc::Receiver<String>) {
        let (notify, queue) = mpsc::channel(NOTIFY_QUEUE);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        (AgentLink { id, notify }, queue)
    }

    /// Adds `agent` to `host`'s agents (once).
    pub(crate) fn subscribe(&self, host: &str, agent: &AgentLink) {
        let mut hosts = self.lock();
        let agents = hosts.entry(host.to_owned()).or_default();
        if !agents.iter().any(|known| known.id == agent.id) {
            agents.push(agent.clone());
        }
    }

    /// Ends every subscription of agent `id`.
    pub(crate) fn remove(&self, id: u64) {
        self.lock().retain(|_, agents| {
            agents.retain(|agent| agent.id != id);
            !agents.is_empty()
        });
    }

    /// Ends every subscription to `host` (it was unregistered).
    pub(crate) fn remove_host(&self, host: &str) {
        self.lock().remove(host);
    }

    /// How many agents serve `host`.
    pub(crate) fn count(&self, host: &str) -> usize {
        self.lock().get(host).map_or(0, Vec::len)
    }

    /// The next agent for `host`, in turn.
    pub(crate) fn pick(&self, host: &str) -> Option<AgentLink> {
        let hosts = self.lock();
        let agents = hosts.get(host)?;
        let turn = self.turn.fetch_add(1, Ordering::Relaxed);
        agents.get(turn % agents.len()).cloned()
    }

    /// Agents per host.
    pub(crate) fn counts(&self) -> HashMap<String, usize> {
        self.lock()
            .iter()
            .map(|(host, agents)| (host.clone(), agents.len()))
            .collect()
    }

    /// Agents holding at least one subscription.
    pub(crate) fn connected(&self) -> usize {
        let mut ids: Vec<u64> = self
            .lock()
            .values()
            .flatten()
            .map(|agent| agent.id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    }
}
