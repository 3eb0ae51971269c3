//! What a client process must be before its handshake starts: its kernel
//! credentials (`SO_PEERCRED`) among the allowed uids and gids, and the
//! executable it runs among the allowed SHA-256 digests. Each refusal has a
//! name, logged and counted.
//!
//! What such checks cannot stop: an allowed interpreter (python, sh) running
//! another script has the interpreter's digest; `LD_PRELOAD` and `ptrace` by
//! the same user change what an allowed binary does without changing its
//! file. They tell the server which user and which program connected, not
//! that the program behaves.

use crate::hashes::{ExecutableHashes, parse_hex};
use corridor::ConnectionInfo;
#[cfg(target_os = "linux")]
use corridor::process::Executable;
use std::collections::HashSet;

/// Flyme's variables, read as aliases of corridor's own: one allowed digest.
pub const ENV_HASH: &str = "FLYME_CLIENT_BINARY_HASH";
/// Comma-separated allowed digests (Flyme).
pub const ENV_HASHES: &str = "FLYME_CLIENT_BINARY_HASHES";
/// `true` to enforce the digests (Flyme; corridor enforces whenever any is given).
pub const ENV_ENFORCE: &str = "FLYME_ENFORCE_CLIENT_HASH_VALIDATION";

/// The checks a client process passes before its handshake.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerPolicy {
    /// Allowed effective uids; empty: any.
    pub uids: HashSet<u32>,
    /// Allowed effective gids; empty: any.
    pub gids: HashSet<u32>,
    /// Allowed executable digests; empty: no check.
    pub executables: HashSet<[u8; 32]>,
}

/// A named refusal.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The socket reports no peer credentials.
    #[error("no peer credentials")]
    NoCredentials,
    /// The uid is not allowed.
    #[error("uid {0} is not allowed")]
    Uid(u32),
    /// The gid is not allowed.
    #[error("gid {0} is not allowed")]
    Gid(u32),
    /// The executable could not be read (the process exited, say).
    #[error("the client's executable could not be read: {0}")]
    ExecutableUnreadable(String),
    /// The executable's digest is not allowed.
    #[error("executable {path} (sha256 {digest}) is not allowed")]
    Executable {
        /// Where it was.
        path: String,
        /// Its SHA-256, hex.
        digest: String,
    },
}

impl Refusal {
    /// A stable snake_case name for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::NoCredentials => "no_peer_credentials",
            Refusal::Uid(_) => "uid_not_allowed",
            Refusal::Gid(_) => "gid_not_allowed",
            Refusal::ExecutableUnreadable(_) => "executable_unreadable",
            Refusal::Executable { .. } => "executable_not_allowed",
        }
    }
}

/// A digest list that is not one.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a SHA-256 digest (64 hex digits)")]
pub struct BadDigest(pub String);

impl PeerPolicy {
    /// Adds digests from the Flyme variables, as given by `lookup`: both
    /// `FLYME_CLIENT_BINARY_HASH` and `FLYME_CLIENT_BINARY_HASHES`, unless
    /// `FLYME_ENFORCE_CLIENT_HASH_VALIDATION` says `false` (Flyme's default
    /// is not to enforce; corridor enforces whatever digests it is given).
    pub fn add_flyme_env(
        &mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), BadDigest> {
        if lookup(ENV_ENFORCE).is_some_and(|value| value.trim().eq_ignore_ascii_case("false")) {
            return Ok(());
        }
        let listed = [lookup(ENV_HASH), lookup(ENV_HASHES)];
        for text in listed.iter().flatten() {
            for digest in text.split(',').map(str::trim).filter(|d| !d.is_empty()) {
                self.executables
                    .insert(parse_hex(digest).ok_or_else(|| BadDigest(digest.to_owned()))?);
            }
        }
        Ok(())
    }

    /// Checks the peer of `info`; on success records what was read of its
    /// executable in `info`, for the session's handlers.
    pub fn check(
        &self,
        info: &mut ConnectionInfo,
        hashes: &ExecutableHashes,
    ) -> Result<(), Refusal> {
        if !self.uids.is_empty() || !self.gids.is_empty() {
            // Windows pipes carry no credentials: a uid or gid rule refuses.
            let credentials = info.unix.ok_or(Refusal::NoCredentials)?;
            if !self.uids.is_empty() && !self.uids.contains(&credentials.uid) {
                return Err(Refusal::Uid(credentials.uid));
            }
            if !self.gids.is_empty() && !self.gids.contains(&credentials.gid) {
                return Err(Refusal::Gid(credentials.gid));
            }
        }
        // The digest is read whether or not it is checked: handlers see it.
        let (sha256, path) = match read_executable(info, hashes) {
            Ok(read) => read,
            Err(_) if self.executables.is_empty() => return Ok(()),
            Err(error) => return Err(Refusal::ExecutableUnreadable(error)),
        };
        if !self.executables.is_empty() && !self.executables.contains(&sha256) {
            return Err(Refusal::Executable {
                path: path.display().to_string(),
                digest: crate::hashes::hex(&sha256),
            });
        }
        #[cfg(target_os = "linux")]
        if let Some(process) = info.process.as_mut() {
            process.executable = Some(Executable { sha256, path });
        }
        Ok(())
    }
}

/// The digest and path of the executable the peer of `info` runs.
#[cfg(target_os = "linux")]
fn read_executable(
    info: &ConnectionInfo,
    hashes: &ExecutableHashes,
) -> Result<([u8; 32], std::path::PathBuf), String> {
    match info.process.as_ref() {
        Some(process) => hashes
            .of(process)
            .map(|(sha256, path, _)| (sha256, path))
            .map_err(|error| error.to_string()),
        None => Err("no pidfd for the peer".to_owned()),
    }
}

/// Without Linux's pidfd there is no executable to read: a digest rule refuses.
#[cfg(not(target_os = "linux"))]
fn read_executable(
    _info: &ConnectionInfo,
    _hashes: &ExecutableHashes,
) -> Result<([u8; 32], std::path::PathBuf), String> {
    Err("executable checks need Linux (the peer's pidfd)".to_owned())
}
