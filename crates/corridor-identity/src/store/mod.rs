//! The user and key registry: one interface over the embedded SQLite file
//! and PostgreSQL (sqlx's Any driver runs the same SQL on both). Users,
//! their keys (several per user: devices), one-time enrollment tokens, and
//! a revocation log that running servers follow to close live sessions.
//!
//! Every query is parameterized; names are checked before they are stored.

mod schema;

use crate::token::TokenParts;
use corridor_core::identity::PublicKey;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Row};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

/// Which database a store runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file (created on first open).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// A user's key as the registry knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRecord {
    /// The key.
    pub key: PublicKey,
    /// Its short name.
    pub fingerprint: String,
    /// What the device was called at enrollment.
    pub label: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds of the last login (written in batches, seconds late).
    pub last_seen_at: Option<i64>,
    /// Unix milliseconds of the revocation, if revoked.
    pub revoked_at: Option<i64>,
}

/// A user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// The row id.
    pub id: i64,
    /// The login name.
    pub name: String,
    /// Groups the user belongs to.
    pub groups: Vec<String>,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// Who a session belongs to: the user, and the key it proved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// The user's row id.
    pub user_id: i64,
    /// The user's name.
    pub user: String,
    /// The user's groups.
    pub groups: Vec<String>,
    /// The key the session's handshake proved.
    pub key: PublicKey,
    /// Its fingerprint.
    pub fingerprint: String,
}

/// Why a client was refused, in words it is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No user has this key.
    #[error("unknown key")]
    UnknownKey,
    /// The key was revoked.
    #[error("key revoked")]
    KeyRevoked,
    /// The key belongs to another user.
    #[error("key is enrolled for another user")]
    KeyOfAnotherUser,
    /// No such token, a wrong secret, or an unknown user (one answer for all).
    #[error("invalid enrollment token")]
    InvalidToken,
    /// The token was used before.
    #[error("enrollment token already used")]
    TokenUsed,
    /// The token expired.
    #[error("enrollment token expired")]
    TokenExpired,
    /// The token was issued for another user.
    #[error("enrollment token is for another user")]
    TokenOfAnotherUser,
    /// The handshake payload is not a hello.
    #[error("malformed hello")]
    MalformedHello,
}

/// What went wrong in the store itself.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The URL names no database corridor speaks.
    #[error("{0:?} is not an SQLite path or URL, nor a postgres:// URL")]
    UnsupportedUrl(String),
    /// A user or group name outside `[A-Za-z0-9._@-]{1,64}`.
    #[error("{0:?} is not a valid name (1 to 64 of A-Z a-z 0-9 . _ @ -)")]
    InvalidName(String),
    /// No such user.
    #[error("no user {0:?}")]
    NoSuchUser(String),
    /// The user exists already.
    #[error("user {0:?} exists")]
    UserExists(String),
    /// The user has no live key with that fingerprint.
    #[error("user {user:?} has no live key {fingerprint}")]
    NoSuchKey {
        /// The user.
        user: String,
        /// The fingerprint asked for.
        fingerprint: String,
    },
}

/// The registry.
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// What it was opened with (PostgreSQL's change listener opens its own connection).
    url: String,
    /// Logins seen since the last flush: fingerprint -> Unix ms. Written in
    /// batches so that a login costs one read, not a write.
    seen: Mutex<HashMap<String, i64>>,
}

impl std::fmt::Debug for Store {
    // Not the URL: it may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Whether `name` may be a user or group name.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-'))
}

fn check_name(name: &str) -> Result<(), StoreError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(StoreError::InvalidName(name.to_owned()))
    }
}

fn split_groups(text: &str) -> Vec<String> {
    text.split(',')
        .filter(|g| !g.is_empty())
        .map(str::to_owned)
        .collect()
}

fn key_from(bytes: Vec<u8>) -> Result<PublicKey, StoreError> {
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| StoreError::Database(sqlx::Error::Decode("a key is not 32 bytes".into())))?;
    Ok(PublicKey::from_bytes(bytes))
}

impl Store {
    /// Opens (creating what is missing) the store at `url`: a file path or
    /// `sqlite:` URL, or a `postgres://` URL.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = corridor_identity::Store::open(dir.path().join("users.db").to_str().unwrap()).await.unwrap();
    /// store.add_user("alice", &[]).await.unwrap();
    /// assert_eq!(store.user("alice").await.unwrap().map(|u| u.name), Some("alice".into()));
    /// # });
    /// ```
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        install_default_drivers();
        let (url, backend) = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (url.to_owned(), Backend::Postgres)
        } else if let Some(rest) = url.strip_prefix("sqlite:") {
            let sep = if rest.contains('?') { '&' } else { '?' };
            let url = if rest.contains("mode=") {
                url.to_owned()
            } else {
                format!("{url}{sep}mode=rwc")
            };
            (url, Backend::Sqlite)
        } else if !url.contains("://") {
            (format!("sqlite://{url}?mode=rwc"), Backend::Sqlite)
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(10))
            // A ping before each use guards against a server that dropped
            // the connection; an SQLite file has no server, and the ping is
            // a round trip to the connection's thread on every query.
            .test_before_acquire(backend == Backend::Postgres)
            .connect(&url)
            .await?;
        if backend == Backend::Sqlite {
            // WAL: readers (logins) never wait for a writer (enrollment).
            sqlx::raw_sql("PRAGMA journal_mode=WAL")
                .execute(&pool)
                .await?;
        }
        // Built from constants only: no input reaches the DDL.
        sqlx::raw_sql(sqlx::AssertSqlSafe(schema::tables(backend)))
            .execute(&pool)
            .await?;
        Ok(Store {
            pool,
            backend,
            url,
            seen: Mutex::new(HashMap::new()),
        })
    }

    /// Opens the SQLite file at `path`.
    pub async fn open_sqlite(path: &Path) -> Result<Store, StoreError> {
        Store::open(&format!("sqlite://{}?mode=rwc", path.display())).await
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL it was opened with.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The connection pool, for services that keep their own tables beside.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Adds a user in `groups`.
    pub async fn add_user(&self, name: &str, groups: &[String]) -> Result<User, StoreError> {
        check_name(name)?;
        for group in groups {
            check_name(group)?;
        }
        let created_at = now_ms();
        let row = sqlx::query(
            "INSERT INTO corridor_users (name, group_names, created_at) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(name)
        .bind(groups.join(","))
        .bind(created_at)
        .fetch_one(&self.pool)
        .await
        .map_err(|error| match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::UserExists(name.to_owned())
            }
            _ => StoreError::Database(error),
        })?;
        Ok(User {
            id: row.try_get(0)?,
            name: name.to_owned(),
            groups: groups.to_vec(),
            created_at,
        })
    }

    /// The user called `name`.
    pub async fn user(&self, name: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, group_names, created_at FROM corridor_users WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| user_from(&row)).transpose()
    }

    /// Every user, by name.
    pub async fn users(&self) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, group_names, created_at FROM corridor_users ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user_from).collect()
    }

    /// Removes a user with its keys and tokens; its live sessions close.
    pub async fn remove_user(&self, name: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let now = now_ms();
        sqlx::query(
            "INSERT INTO corridor_revocations (fingerprint, at) \
             SELECT k.fingerprint, $2 FROM corridor_keys k JOIN corridor_users u ON u.id = k.user_id \
             WHERE u.name = $1 AND k.revoked_at IS NULL",
        )
        .bind(name)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for delete in [
            "DELETE FROM corridor_keys WHERE user_id IN (SELECT id FROM corridor_users WHERE name = $1)",
            "DELETE FROM corridor_tokens WHERE user_id IN (SELECT id FROM corridor_users WHERE name = $1)",
        ] {
            sqlx::query(delete).bind(name).execute(&mut *tx).await?;
        }
        let removed = sqlx::query("DELETE FROM corridor_users WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if removed.rows_affected() == 0 {
            return Err(StoreError::NoSuchUser(name.to_owned()));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Issues a one-time token with which `user` enrolls a key within `ttl`.
    /// The text is shown once; the store keeps its hash.
    pub async fn issue_token(
        &self,
        user: &str,
        ttl: Duration,
        label: &str,
    ) -> Result<String, StoreError> {
        let token = TokenParts::generate(&mut rand_core::OsRng);
        let now = now_ms();
        let inserted = sqlx::query(
            "INSERT INTO corridor_tokens (id, secret_hash, user_id, label, created_at, expires_at) \
             SELECT $1, $2, id, $3, $4, $5 FROM corridor_users WHERE name = $6",
        )
        .bind(&token.id)
        .bind(token.secret_hash())
        .bind(label)
        .bind(now)
        .bind(now.saturating_add(ttl.as_millis().min(i64::MAX as u128) as i64))
        .bind(user)
        .execute(&self.pool)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::NoSuchUser(user.to_owned()));
        }
        Ok(token.to_text())
    }

    /// Enrolls `key` for `user` with a one-time `token`: the token is
    /// consumed and the key registered in one transaction, or neither.
    /// `label` names the device (the token's label when empty).
    pub async fn enroll(
        &self,
        user: &str,
        token: &str,
        key: &PublicKey,
        label: &str,
    ) -> Result<Result<Account, Refusal>, StoreError> {
        let Some(token) = TokenParts::parse(token) else {
            return Ok(Err(Refusal::InvalidToken));
        };
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        // Write first: the transaction takes the write lock at once (SQLite
        // then waits its busy timeout instead of failing a stale snapshot),
        // and a second use of the token finds it used.
        let claimed = sqlx::query(
            "UPDATE corridor_tokens SET used_at = $2 WHERE id = $1 AND used_at IS NULL \
             RETURNING secret_hash, user_id, expires_at, label",
        )
        .bind(&token.id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(claimed) = claimed else {
            drop(tx);
            return self.why_unclaimed(&token).await.map(Err);
        };
        let stored_hash: Vec<u8> = claimed.try_get(0)?;
        let user_id: i64 = claimed.try_get(1)?;
        let expires_at: i64 = claimed.try_get(2)?;
        let token_label: String = claimed.try_get(3)?;
        if !token.matches(&stored_hash) {
            return Ok(Err(Refusal::InvalidToken));
        }
        let owner = sqlx::query("SELECT name, group_names FROM corridor_users WHERE id = $1")
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?;
        let owner_name: String = owner.try_get(0)?;
        let groups: String = owner.try_get(1)?;
        if owner_name != user {
            return Ok(Err(Refusal::TokenOfAnotherUser));
        }
        if expires_at <= now {
            return Ok(Err(Refusal::TokenExpired));
        }
        let existing =
            sqlx::query("SELECT user_id, revoked_at FROM corridor_keys WHERE public_key = $1")
                .bind(key.as_bytes().to_vec())
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(existing) = existing {
            let holder: i64 = existing.try_get(0)?;
            let revoked: Option<i64> = existing.try_get(1)?;
            if revoked.is_some() {
                return Ok(Err(Refusal::KeyRevoked));
            }
            if holder != user_id {
                return Ok(Err(Refusal::KeyOfAnotherUser));
            }
        } else {
            let label = if label.is_empty() {
                &token_label
            } else {
                label
            };
            sqlx::query(
                "INSERT INTO corridor_keys (public_key, fingerprint, user_id, label, created_at, last_seen_at) \
                 VALUES ($1, $2, $3, $4, $5, $5)",
            )
            .bind(key.as_bytes().to_vec())
            .bind(key.fingerprint())
            .bind(user_id)
            .bind(label)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Ok(Account {
            user_id,
            user: owner_name,
            groups: split_groups(&groups),
            key: *key,
            fingerprint: key.fingerprint(),
        }))
    }

    /// Why a token could not be claimed: used (only said to its holder,
    /// whose secret matches), or invalid.
    async fn why_unclaimed(&self, token: &TokenParts) -> Result<Refusal, StoreError> {
        let row = sqlx::query("SELECT secret_hash FROM corridor_tokens WHERE id = $1")
            .bind(&token.id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(row) if token.matches(&row.try_get::<Vec<u8>, _>(0)?) => Refusal::TokenUsed,
            _ => Refusal::InvalidToken,
        })
    }

    /// The account of a client proving `key`, if the key is live.
    pub async fn login(&self, key: &PublicKey) -> Result<Result<Account, Refusal>, StoreError> {
        let row = sqlx::query(
            "SELECT k.fingerprint, k.revoked_at, u.id, u.name, u.group_names \
             FROM corridor_keys k JOIN corridor_users u ON u.id = k.user_id WHERE k.public_key = $1",
        )
        .bind(key.as_bytes().to_vec())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(Err(Refusal::UnknownKey));
        };
        if row.try_get::<Option<i64>, _>(1)?.is_some() {
            return Ok(Err(Refusal::KeyRevoked));
        }
        let fingerprint: String = row.try_get(0)?;
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(fingerprint.clone(), now_ms());
        Ok(Ok(Account {
            user_id: row.try_get(2)?,
            user: row.try_get(3)?,
            groups: split_groups(&row.try_get::<String, _>(4)?),
            key: *key,
            fingerprint,
        }))
    }

    /// Writes the last-seen times of logins since the previous flush.
    pub async fn flush_last_seen(&self) -> Result<usize, StoreError> {
        let seen = std::mem::take(&mut *self.seen.lock().unwrap_or_else(|p| p.into_inner()));
        if seen.is_empty() {
            return Ok(0);
        }
        let mut tx = self.pool.begin().await?;
        for (fingerprint, at) in &seen {
            sqlx::query("UPDATE corridor_keys SET last_seen_at = $2 WHERE fingerprint = $1")
                .bind(fingerprint)
                .bind(*at)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(seen.len())
    }

    /// A user's keys, oldest first, revoked ones included.
    pub async fn keys(&self, user: &str) -> Result<Vec<KeyRecord>, StoreError> {
        if self.user(user).await?.is_none() {
            return Err(StoreError::NoSuchUser(user.to_owned()));
        }
        let rows = sqlx::query(
            "SELECT k.public_key, k.fingerprint, k.label, k.created_at, k.last_seen_at, k.revoked_at \
             FROM corridor_keys k JOIN corridor_users u ON u.id = k.user_id \
             WHERE u.name = $1 ORDER BY k.created_at, k.fingerprint",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(KeyRecord {
                    key: key_from(row.try_get(0)?)?,
                    fingerprint: row.try_get(1)?,
                    label: row.try_get(2)?,
                    created_at: row.try_get(3)?,
                    last_seen_at: row.try_get(4)?,
                    revoked_at: row.try_get(5)?,
                })
            })
            .collect()
    }

    /// Revokes a user's key: it can no longer log in, and servers close
    /// its live sessions when they read the revocation log.
    pub async fn revoke_key(&self, user: &str, fingerprint: &str) -> Result<(), StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let revoked = sqlx::query(
            "UPDATE corridor_keys SET revoked_at = $3 WHERE fingerprint = $2 AND revoked_at IS NULL \
             AND user_id IN (SELECT id FROM corridor_users WHERE name = $1)",
        )
        .bind(user)
        .bind(fingerprint)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if revoked.rows_affected() == 0 {
            return Err(StoreError::NoSuchKey {
                user: user.to_owned(),
                fingerprint: fingerprint.to_owned(),
            });
        }
        sqlx::query("INSERT INTO corridor_revocations (fingerprint, at) VALUES ($1, $2)")
            .bind(fingerprint)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The revocation log's newest entry id (0 when empty).
    pub async fn last_revocation(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COALESCE(MAX(id), 0) FROM corridor_revocations")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get(0)?)
    }

    /// Revocations after entry `after`: (entry id, fingerprint), oldest first.
    pub async fn revocations_since(&self, after: i64) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, fingerprint FROM corridor_revocations WHERE id > $1 ORDER BY id LIMIT 1000",
        )
        .bind(after)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect()
    }
}

fn user_from(row: &sqlx::any::AnyRow) -> Result<User, StoreError> {
    Ok(User {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        groups: split_groups(&row.try_get::<String, _>(2)?),
        created_at: row.try_get(3)?,
    })
}
