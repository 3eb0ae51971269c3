//! The tables, in each backend's dialect. Only the DDL differs; every query
//! runs unchanged on both (`$N` parameters, `RETURNING`).

/// SQLite: the embedded default.
pub(super) const SQLITE: &str = "
CREATE TABLE IF NOT EXISTS corridor_users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    group_names TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS corridor_keys (
    public_key BLOB PRIMARY KEY,
    fingerprint TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES corridor_users(id) ON DELETE CASCADE,
    label TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX IF NOT EXISTS corridor_keys_user ON corridor_keys(user_id);
CREATE TABLE IF NOT EXISTS corridor_tokens (
    id TEXT PRIMARY KEY,
    secret_hash BLOB NOT NULL,
    user_id BIGINT NOT NULL REFERENCES corridor_users(id) ON DELETE CASCADE,
    label TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE TABLE IF NOT EXISTS corridor_revocations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint TEXT NOT NULL,
    at BIGINT NOT NULL
);
";

/// PostgreSQL.
pub(super) const POSTGRES: &str = "
CREATE TABLE IF NOT EXISTS corridor_users (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    group_names TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS corridor_keys (
    public_key BYTEA PRIMARY KEY,
    fingerprint TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES corridor_users(id) ON DELETE CASCADE,
    label TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX IF NOT EXISTS corridor_keys_user ON corridor_keys(user_id);
CREATE TABLE IF NOT EXISTS corridor_tokens (
    id TEXT PRIMARY KEY,
    secret_hash BYTEA NOT NULL,
    user_id BIGINT NOT NULL REFERENCES corridor_users(id) ON DELETE CASCADE,
    label TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE TABLE IF NOT EXISTS corridor_revocations (
    id BIGSERIAL PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    at BIGINT NOT NULL
);
";
