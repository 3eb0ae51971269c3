//! Known peers in an embedded store (a redb file): id, name, key, role,
//! address and when each was last seen. Peers with an address are kept
//! connected; in allowlist mode the registry is the allowlist.

use crate::MeshError;
use crate::message::Role;
use redb::{ReadableDatabase as _, ReadableTable as _, TableDefinition};
use serde::{Deserialize, Serialize};
use std::path::Path;

const PEERS: TableDefinition<&str, &[u8]> = TableDefinition::new("peers");

/// One known peer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerRecord {
    /// Its peer id (the fingerprint of its key).
    pub id: String,
    /// Its name, as it last said.
    pub name: String,
    /// Its public key (base64url).
    pub public_key: String,
    /// Its role, as it last said.
    pub role: Option<Role>,
    /// The role the operator gave it (`peers add --role`): it overrides
    /// what the peer says.
    #[serde(default)]
    pub assigned_role: Option<Role>,
    /// Where to dial it (`ws://host:9091/ws`), if this node dials it.
    pub address: Option<String>,
    /// Unix seconds when it was last connected.
    pub last_seen: Option<i64>,
}

/// The known peers.
pub struct PeerRegistry {
    db: redb::Database,
}

fn store(error: impl std::fmt::Display) -> MeshError {
    MeshError::Store(error.to_string())
}

impl PeerRegistry {
    /// Opens (or creates) the store file.
    pub fn open(path: &Path) -> Result<PeerRegistry, MeshError> {
        Ok(PeerRegistry {
            db: redb::Database::create(path).map_err(store)?,
        })
    }

    /// Adds or replaces `record`.
    pub fn put(&self, record: &PeerRecord) -> Result<(), MeshError> {
        let bytes = serde_json::to_vec(record).map_err(store)?;
        let write = self.db.begin_write().map_err(store)?;
        {
            let mut table = write.open_table(PEERS).map_err(store)?;
            table
                .insert(record.id.as_str(), bytes.as_slice())
                .map_err(store)?;
        }
        write.commit().map_err(store)
    }

    /// Forgets peer `id`; `false` when it was not known.
    pub fn remove(&self, id: &str) -> Result<bool, MeshError> {
        let write = self.db.begin_write().map_err(store)?;
        let removed = {
            let mut table = write.open_table(PEERS).map_err(store)?;
            table.remove(id).map_err(store)?.is_some()
        };
        write.commit().map_err(store)?;
        Ok(removed)
    }

    /// Peer `id`, if known.
    pub fn get(&self, id: &str) -> Result<Option<PeerRecord>, MeshError> {
        Ok(self.list()?.into_iter().find(|record| record.id == id))
    }

    /// Every known peer, by id.
    pub fn list(&self) -> Result<Vec<PeerRecord>, MeshError> {
        let read = self.db.begin_read().map_err(store)?;
        let table = match read.open_table(PEERS) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(error) => return Err(store(error)),
        };
        let mut records = Vec::new();
        for entry in table.iter().map_err(store)? {
            let (_, bytes) = entry.map_err(store)?;
            records.push(serde_json::from_slice(bytes.value()).map_err(store)?);
        }
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peers.redb");
        let record = PeerRecord {
            id: "id1".into(),
            name: "one".into(),
            public_key: "key".into(),
            role: Some(Role::Controller),
            assigned_role: Some(Role::Worker),
            address: Some("ws://127.0.0.1:9091/ws".into()),
            last_seen: None,
        };
        PeerRegistry::open(&path).unwrap().put(&record).unwrap();
        let registry = PeerRegistry::open(&path).unwrap();
        assert_eq!(registry.list().unwrap(), [record]);
        assert!(registry.remove("id1").unwrap());
        assert!(!registry.remove("id1").unwrap());
        assert_eq!(registry.get("id1").unwrap(), None);
    }
}
