//! The tables, once, with the two words the dialects spell differently
//! filled in per backend. Every query runs unchanged on both (`$N`
//! parameters, `RETURNING`).

use super::Backend;

const TABLES: &str = "
CREATE TABLE IF NOT EXISTS corridor_users (
    id SERIAL_ID,
    name TEXT NOT NULL UNIQUE,
    group_names TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS corridor_keys (
    public_key BYTES PRIMARY KEY,
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
    secret_hash BYTES NOT NULL,
    user_id BIGINT NOT NULL REFERENCES corridor_users(id) ON DELETE CASCADE,
    label TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE TABLE IF NOT EXISTS corridor_revocations (
    id SERIAL_ID,
    fingerprint TEXT NOT NULL,
    at BIGINT NOT NULL
);
";

/// The DDL for `backend`.
pub(super) fn tables(backend: Backend) -> String {
    let (serial_id, bytes) = match backend {
        Backend::Sqlite => ("INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB"),
        Backend::Postgres => ("BIGSERIAL PRIMARY KEY", "BYTEA"),
    };
    TABLES
        .replace("SERIAL_ID", serial_id)
        .replace("BYTES", bytes)
}
