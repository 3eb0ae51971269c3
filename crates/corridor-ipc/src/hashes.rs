//! SHA-256 of peer executables, remembered by the file's identity (device,
//! inode, change time, size), so a busy server does not read the same binary
//! for every connection, and a binary changed in place (new change time) is
//! read again. Clients of one new binary arriving together wait for one
//! read, not one each. Reading a peer's executable needs Linux (its pidfd);
//! elsewhere the cache stays empty and executable checks refuse.

#[cfg(target_os = "linux")]
use corridor::process::{PeerProcess, ProcessError};
use std::collections::HashMap;
#[cfg(target_os = "linux")]
use std::io::Read as _;
#[cfg(target_os = "linux")]
use std::os::unix::fs::MetadataExt as _;
#[cfg(target_os = "linux")]
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Entries kept before the cache starts over: far more distinct binaries
/// than one machine's clients run.
#[cfg(target_os = "linux")]
const MAX_ENTRIES: usize = 4096;

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
struct FileIdentity {
    dev: u64,
    ino: u64,
    ctime: i64,
    ctime_nsec: i64,
    size: u64,
}

/// One file's digest, filled by the first caller; the others wait on its
/// lock instead of reading the file again.
type Slot = Arc<Mutex<Option<[u8; 32]>>>;

/// Digests of executables by file identity.
#[derive(Debug, Default)]
pub struct ExecutableHashes {
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    known: Mutex<HashMap<FileIdentity, Slot>>,
}

#[cfg(target_os = "linux")]
impl ExecutableHashes {
    /// The SHA-256 of the executable `process` runs, and its path; `true`
    /// when the digest came from the cache.
    pub fn of(&self, process: &PeerProcess) -> Result<([u8; 32], PathBuf, bool), ProcessError> {
        let (mut file, path) = process.open_executable()?;
        let metadata = file.metadata()?;
        let identity = FileIdentity {
            dev: metadata.dev(),
            ino: metadata.ino(),
            ctime: metadata.ctime(),
            ctime_nsec: metadata.ctime_nsec(),
            size: metadata.size(),
        };
        let slot = {
            let mut known = lock(&self.known);
            if known.len() >= MAX_ENTRIES && !known.contains_key(&identity) {
                known.clear();
            }
            known.entry(identity).or_default().clone()
        };
        // Blocking is fine: callers run on the blocking pool.
        let mut digest = lock(&slot);
        if let Some(digest) = *digest {
            return Ok((digest, path, true));
        }
        let read = sha256(&mut file)?;
        *digest = Some(read);
        Ok((read, path, false))
    }
}

#[cfg(target_os = "linux")]
fn sha256(file: &mut std::fs::File) -> std::io::Result<[u8; 32]> {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        context.update(&buffer[..read]);
    }
    let mut digest = [0u8; 32];
    digest.copy_from_slice(context.finish().as_ref());
    Ok(digest)
}

// Every update is one insert, clear or store: a poisoned lock still guards
// whole data.
#[cfg(target_os = "linux")]
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Lower-case hex of a digest, as `sha256sum` prints it.
pub fn hex(digest: &[u8; 32]) -> String {
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A digest from 64 hex digits (any case), as `sha256sum` prints it.
pub fn parse_hex(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut digest = [0u8; 32];
    for (index, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[index * 2..index * 2 + 2], 16).ok()?;
    }
    Some(digest)
}
