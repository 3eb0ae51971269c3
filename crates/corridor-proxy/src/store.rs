//! Registrations: which hosts may be served, each with the SHA-256 of its
//! subscription secret. Kept in memory for lookups and written through to
//! a redb file, so registrations survive a restart. The secret itself is
//! shown once, at registration, and never stored.

use crate::ProxyError;
use redb::{ReadableDatabase as _, ReadableTable as _, TableDefinition};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use subtle::ConstantTimeEq as _;

const HOSTS: TableDefinition<&str, &[u8]> = TableDefinition::new("hosts");

/// A subscription secret's length in bytes.
pub const SECRET_BYTES: usize = 32;

/// The registered hosts.
pub struct Store {
    db: redb::Database,
    hosts: Mutex<BTreeMap<String, [u8; 32]>>,
}

fn storage(error: impl std::fmt::Display) -> ProxyError {
    ProxyError::Store(error.to_string())
}

fn digest(secret: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, secret).as_ref());
    out
}

impl Store {
    /// Opens (or creates) the store file and loads it.
    pub fn open(path: &Path) -> Result<Store, ProxyError> {
        let db = redb::Database::create(path).map_err(storage)?;
        let mut hosts = BTreeMap::new();
        let read = db.begin_read().map_err(storage)?;
        match read.open_table(HOSTS) {
            Ok(table) => {
                for entry in table.iter().map_err(storage)? {
                    let (host, hash) = entry.map_err(storage)?;
                    let hash: [u8; 32] = hash
                        .value()
                        .try_into()
                        .map_err(|_| storage("a stored digest is not 32 bytes"))?;
                    hosts.insert(host.value().to_owned(), hash);
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(error) => return Err(storage(error)),
        }
        Ok(Store {
            db,
            hosts: Mutex::new(hosts),
        })
    }

    fn hosts(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, [u8; 32]>> {
        // Each update is one insert or remove: a poisoned map is still whole.
        self.hosts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers `host` (again: the old secret stops working) and returns
    /// its new secret.
    pub fn register(&self, host: &str) -> Result<[u8; SECRET_BYTES], ProxyError> {
        let mut secret = [0u8; SECRET_BYTES];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut secret);
        let hash = digest(&secret);
        let write = self.db.begin_write().map_err(storage)?;
        {
            let mut table = write.open_table(HOSTS).map_err(storage)?;
            table.insert(host, hash.as_slice()).map_err(storage)?;
        }
        write.commit().map_err(storage)?;
        self.hosts().insert(host.to_owned(), hash);
        Ok(secret)
    }

    /// Forgets `host`; `false` when it was not registered.
    pub fn unregister(&self, host: &str) -> Result<bool, ProxyError> {
        let write = self.db.begin_write().map_err(storage)?;
        let removed = {
            let mut table = write.open_table(HOSTS).map_err(storage)?;
            table.remove(host).map_err(storage)?.is_some()
        };
        write.commit().map_err(storage)?;
        self.hosts().remove(host);
        Ok(removed)
    }

    /// Whether `host` is registered.
    pub fn contains(&self, host: &str) -> bool {
        self.hosts().contains_key(host)
    }

    /// The registered hosts, in order.
    pub fn list(&self) -> Vec<String> {
        self.hosts().keys().cloned().collect()
    }

    /// Whether `secret` is `host`'s. An unknown host costs the same
    /// comparison as a known one, so timing tells nothing about which
    /// hosts exist.
    pub fn verify(&self, host: &str, secret: &[u8]) -> bool {
        let presented = digest(secret);
        let stored = self.hosts().get(host).copied();
        let compared = stored.unwrap_or([0u8; 32]);
        bool::from(presented.ct_eq(&compared)) && stored.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrations_survive_a_reopen_and_old_secrets_stop_working() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("proxy.redb");
        let store = Store::open(&path).unwrap();
        let first = store.register("a.example").unwrap();
        let second = store.register("a.example").unwrap();
        store.register("b.example").unwrap();
        assert!(!store.verify("a.example", &first));
        assert!(store.verify("a.example", &second));
        assert!(!store.verify("b.example", &second));
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.list(), ["a.example", "b.example"]);
        assert!(store.verify("a.example", &second));
        assert!(store.unregister("b.example").unwrap());
        assert!(!store.unregister("b.example").unwrap());
        assert!(!store.verify("nobody.example", &second));
    }
}
