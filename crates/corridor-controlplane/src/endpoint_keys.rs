//! Which endpoint keys may open a control session, and which endpoint ids
//! each may register: the Noise control sessions' allowlist, read from a
//! file of lines `PUBLIC_KEY [ID ...]` (base64url X25519 keys as `corridor
//! keygen --kind identity` prints them; no ids, or `*`, allows any id).

use corridor::credential::Allowlist;
use corridor_core::identity::PublicKey;
use std::collections::{HashMap, HashSet};

/// The allowlist.
#[derive(Clone, Debug, Default)]
pub struct EndpointKeys {
    /// Each key's ids; `None`: any id.
    keys: HashMap<PublicKey, Option<HashSet<String>>>,
}

/// A line of an endpoint keys file that is not `KEY [ID ...]`.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct EndpointKeysError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub problem: &'static str,
}

impl EndpointKeys {
    /// Parses the file's text; blank lines and `#` comments are skipped.
    ///
    /// ```
    /// use corridor_controlplane::EndpointKeys;
    /// use corridor::core::identity::StaticSecret;
    /// let key = StaticSecret::generate(&mut rand_core::OsRng).public_key();
    /// let keys = EndpointKeys::parse(&format!("# build farm\n{} builds ci\n", key.to_b64u())).unwrap();
    /// assert!(keys.allows(&key, "ci"));
    /// assert!(!keys.allows(&key, "billing"));
    /// ```
    pub fn parse(text: &str) -> Result<EndpointKeys, EndpointKeysError> {
        let mut keys = HashMap::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            let mut words = line.split_whitespace();
            let Some(key) = words.next() else { continue };
            let error = |problem| EndpointKeysError {
                line: index + 1,
                problem,
            };
            let key = PublicKey::from_b64u(key)
                .ok_or_else(|| error("not a base64url X25519 public key"))?;
            let ids: Vec<String> = words.map(str::to_owned).collect();
            for id in &ids {
                if id != "*" {
                    crate::protocol::endpoint_id(id).map_err(error)?;
                }
            }
            let ids = if ids.is_empty() || ids.iter().any(|id| id == "*") {
                None
            } else {
                Some(ids.into_iter().collect())
            };
            keys.insert(key, ids);
        }
        Ok(EndpointKeys { keys })
    }

    /// Whether `key` may register `endpoint_id`.
    pub fn allows(&self, key: &PublicKey, endpoint_id: &str) -> bool {
        match self.keys.get(key) {
            Some(None) => true,
            Some(Some(ids)) => ids.contains(endpoint_id),
            None => false,
        }
    }

    /// How many keys are listed.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is listed.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The handshake's judge: listed keys only (which ids a key may
    /// register is checked when it registers).
    pub fn allowlist(&self) -> Allowlist {
        Allowlist::new(self.keys.keys().copied())
    }
}
