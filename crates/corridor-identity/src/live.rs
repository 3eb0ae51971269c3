//! The sessions open now, by key fingerprint, so that a revocation closes
//! them: the server follows the store's revocation log (written by any
//! process: the CLI, another server) and closes each revoked key's
//! sessions, telling the client why first.

use crate::rpc::{GOODBYE, Goodbye};
use crate::store::Store;
use corridor::Session;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long a goodbye may wait for room before the session closes anyway.
const GOODBYE_WAIT: Duration = Duration::from_millis(200);

/// Open sessions by key fingerprint.
#[derive(Debug, Default)]
pub struct LiveSessions {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    by_key: HashMap<String, HashMap<u64, Weak<Session>>>,
    /// Fingerprints revoked while this server ran: a session admitted just
    /// before its key's revocation was read is closed as it registers.
    revoked: HashSet<String>,
}

/// Keeps a session registered; dropping it unregisters.
#[derive(Debug)]
pub struct Registration {
    live: Arc<LiveSessions>,
    fingerprint: String,
    session_id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut inner = self.live.lock();
        if let Some(sessions) = inner.by_key.get_mut(&self.fingerprint) {
            sessions.remove(&self.session_id);
            if sessions.is_empty() {
                inner.by_key.remove(&self.fingerprint);
            }
        }
    }
}

impl LiveSessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Each critical section is one map update.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers `session`; `None` when its key was revoked meanwhile (the
    /// caller closes it).
    pub fn register(
        self: &Arc<Self>,
        fingerprint: &str,
        session_id: u64,
        session: &Arc<Session>,
    ) -> Option<Registration> {
        let mut inner = self.lock();
        if inner.revoked.contains(fingerprint) {
            return None;
        }
        inner
            .by_key
            .entry(fingerprint.to_owned())
            .or_default()
            .insert(session_id, Arc::downgrade(session));
        Some(Registration {
            live: self.clone(),
            fingerprint: fingerprint.to_owned(),
            session_id,
        })
    }

    /// The session `session_id` of `fingerprint`, while it is open.
    pub fn get(&self, fingerprint: &str, session_id: u64) -> Option<Arc<Session>> {
        self.lock()
            .by_key
            .get(fingerprint)?
            .get(&session_id)?
            .upgrade()
    }

    /// Sessions open now.
    pub fn len(&self) -> usize {
        self.lock().by_key.values().map(HashMap::len).sum()
    }

    /// Whether none is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Marks `fingerprint` revoked and closes its sessions; returns how many.
    pub fn revoke(&self, fingerprint: &str) -> usize {
        let sessions: Vec<Arc<Session>> = {
            let mut inner = self.lock();
            inner.revoked.insert(fingerprint.to_owned());
            inner
                .by_key
                .remove(fingerprint)
                .map(|sessions| sessions.into_values().filter_map(|s| s.upgrade()).collect())
                .unwrap_or_default()
        };
        let count = sessions.len();
        for session in sessions {
            tokio::spawn(say_goodbye(session, "key revoked"));
        }
        count
    }
}

/// Tells the client why and gives it a moment to close the session itself
/// (so it has read the reason when its session ends); then closes it.
pub async fn say_goodbye(session: Arc<Session>, reason: &str) {
    let goodbye = Goodbye {
        reason: reason.into(),
    };
    if let Ok(notice) = corridor::rpc::Notification::new(GOODBYE, &goodbye)
        && session
            .rpc()
            .send_within(&notice, GOODBYE_WAIT)
            .await
            .is_ok()
    {
        let _ = tokio::time::timeout(GOODBYE_WAIT, session.closed()).await;
    }
    session.close().await;
}

/// Follows the store's revocation log from entry `after` (read before the
/// server admitted anyone) every `interval` until `stop`, closing the
/// sessions of each revoked key.
pub async fn follow_revocations(
    store: Arc<Store>,
    live: Arc<LiveSessions>,
    mut after: i64,
    interval: Duration,
    stop: CancellationToken,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        match store.revocations_since(after).await {
            Ok(entries) => {
                for (id, fingerprint) in entries {
                    after = id;
                    let closed = live.revoke(&fingerprint);
                    tracing::info!(key = %fingerprint, closed, "key revoked");
                }
            }
            Err(error) => tracing::warn!(%error, "reading the revocation log failed; retrying"),
        }
    }
}
