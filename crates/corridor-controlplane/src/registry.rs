//! Which endpoints are connected, under which ids: each registration is the
//! RPC handle of a live control session. Clients asking for an id are spread
//! over that id's endpoints in turn.

use corridor::rpc::Rpc;
use std::collections::HashMap;
use std::sync::Mutex;

/// The control sessions that registered, by endpoint id.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    groups: Mutex<HashMap<String, Group>>,
}

#[derive(Debug, Default)]
struct Group {
    members: Vec<(u64, Rpc)>,
    /// Where the next client's turn starts.
    cursor: usize,
}

impl Registry {
    /// Adds control session `session` (its `rpc`) under `endpoint_id`;
    /// registering the same id twice from one session changes nothing.
    /// Returns the number of registrations.
    pub(crate) fn add(&self, endpoint_id: &str, session: u64, rpc: Rpc) -> usize {
        let mut groups = self.lock();
        let group = groups.entry(endpoint_id.to_owned()).or_default();
        if !group.members.iter().any(|(key, _)| *key == session) {
            group.members.push((session, rpc));
        }
        count(&groups)
    }

    /// Drops every registration of control session `session`. Returns the
    /// number left.
    pub(crate) fn remove_session(&self, session: u64) -> usize {
        let mut groups = self.lock();
        groups.retain(|_, group| {
            group.members.retain(|(key, _)| *key != session);
            !group.members.is_empty()
        });
        count(&groups)
    }

    /// The endpoints of `endpoint_id` in the order to try them: the next in
    /// turn first, then the rest (so a failed push moves on).
    pub(crate) fn candidates(&self, endpoint_id: &str) -> Vec<Rpc> {
        let mut groups = self.lock();
        let Some(group) = groups.get_mut(endpoint_id) else {
            return Vec::new();
        };
        let len = group.members.len();
        let start = group.cursor % len;
        group.cursor = (start + 1) % len;
        (0..len)
            .map(|i| group.members[(start + i) % len].1.clone())
            .collect()
    }

    /// The one endpoint id registered, if exactly one is.
    pub(crate) fn only_id(&self) -> Option<String> {
        let groups = self.lock();
        let mut ids = groups.keys();
        match (ids.next(), ids.next()) {
            (Some(id), None) => Some(id.clone()),
            _ => None,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Group>> {
        // A panic elsewhere while holding the lock leaves consistent data:
        // every update above is a single push or retain.
        self.groups
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn count(groups: &HashMap<String, Group>) -> usize {
    groups.values().map(|group| group.members.len()).sum()
}
