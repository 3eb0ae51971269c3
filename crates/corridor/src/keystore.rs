//! Static identities on disk: the [`KeyStore`] interface and its file
//! implementation, and [`write_secret_file`], which every secret file goes
//! through (mode 0600 from its first byte, written whole or not at all,
//! never over an existing file).

use corridor_core::identity::{IdentityError, StaticSecret};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Why a key could not be loaded or stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyStoreError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not an identity file, or not a consistent one.
    #[error("{path}: {source}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: IdentityError,
    },
    /// Others than the owner may read or write the file.
    #[error("{path} is accessible to others (mode {mode:o}); chmod 600 it")]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

/// Where a node keeps its static key.
pub trait KeyStore: Send + Sync {
    /// The key, which must exist.
    fn load(&self) -> Result<StaticSecret, KeyStoreError>;

    /// The key, created on first use; `true` when it was just created.
    fn load_or_create(&self) -> Result<(StaticSecret, bool), KeyStoreError>;
}

/// An identity file (`corridor keygen --kind identity` writes one).
///
/// ```
/// use corridor::keystore::{FileKeyStore, KeyStore};
/// let dir = tempfile::tempdir().unwrap();
/// let store = FileKeyStore::new(dir.path().join("node.key"));
/// let (key, created) = store.load_or_create().unwrap();
/// assert!(created);
/// assert_eq!(store.load().unwrap().public_key(), key.public_key());
/// ```
#[derive(Clone, Debug)]
pub struct FileKeyStore {
    path: PathBuf,
}

impl FileKeyStore {
    /// A store at `path`.
    pub fn new(path: impl Into<PathBuf>) -> FileKeyStore {
        FileKeyStore { path: path.into() }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: std::io::Error) -> KeyStoreError {
        KeyStoreError::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// Writes `key` to a new file (never over an existing one).
    pub fn create(&self, key: &StaticSecret) -> Result<(), KeyStoreError> {
        write_secret_file(&self.path, &key.to_file_json()).map_err(|e| self.io(e))
    }
}

impl KeyStore for FileKeyStore {
    fn load(&self) -> Result<StaticSecret, KeyStoreError> {
        let file = std::fs::File::open(&self.path).map_err(|e| self.io(e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = file
                .metadata()
                .map_err(|e| self.io(e))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(KeyStoreError::Permissions {
                    path: self.path.clone(),
                    mode: mode & 0o777,
                });
            }
        }
        let bytes = zeroize::Zeroizing::new(
            std::io::read_to_string(file)
                .map_err(|e| self.io(e))?
                .into_bytes(),
        );
        StaticSecret::from_file_json(&bytes).map_err(|source| KeyStoreError::Invalid {
            path: self.path.clone(),
            source,
        })
    }

    fn load_or_create(&self) -> Result<(StaticSecret, bool), KeyStoreError> {
        match self.load() {
            Err(KeyStoreError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                let key = StaticSecret::generate(&mut rand_core::OsRng);
                match self.create(&key) {
                    Ok(()) => Ok((key, true)),
                    // Another process created it first: use theirs.
                    Err(KeyStoreError::Io { source, .. })
                        if source.kind() == std::io::ErrorKind::AlreadyExists =>
                    {
                        Ok((self.load()?, false))
                    }
                    Err(error) => Err(error),
                }
            }
            other => other.map(|key| (key, false)),
        }
    }
}

/// Reads a bearer token from `path`, or makes one (32 random bytes,
/// base64url, 0600) on first use; a token made at the same moment by
/// another process is the one used.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("admin.token");
/// let token = corridor::keystore::load_or_create_token(&path).unwrap();
/// assert_eq!(corridor::keystore::load_or_create_token(&path).unwrap(), token);
/// ```
pub fn load_or_create_token(path: &Path) -> std::io::Result<String> {
    let read = |path: &Path| std::fs::read_to_string(path).map(|token| token.trim().to_owned());
    match read(path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let mut raw = [0u8; 32];
            rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut raw);
            let token = corridor_core::b64::encode(raw);
            match write_secret_file(path, format!("{token}\n").as_bytes()) {
                Ok(()) => Ok(token),
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => read(path),
                Err(error) => Err(error),
            }
        }
        other => other,
    }
}

/// Writes a secret file: created with mode 0600 under a temporary name in
/// the same directory, synced, then linked into place, which fails if
/// `path` exists. Readers see no file or the whole file; nobody but the
/// owner can read it at any moment. Creates missing parent directories
/// (mode 0700).
pub fn write_secret_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    create_private_dir(&dir)?;
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("a secret file needs a file name"))?;
    let mut suffix = [0u8; 8];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut suffix);
    let temporary = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        corridor_core::b64::encode(suffix)
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = (|| {
        let mut file = options.open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        // A hard link refuses an existing target, unlike rename.
        std::fs::hard_link(&temporary, path)
    })();
    let _ = std::fs::remove_file(&temporary);
    written?;
    // The new name is durable once the directory is.
    if let Ok(dir) = std::fs::File::open(&dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_file_is_0600_whole_and_never_overwritten() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nested/secret.json");
        write_secret_file(&path, b"first").expect("write");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = write_secret_file(&path, b"second").expect_err("exists");
        assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&path).expect("read"), b"first");
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(path.parent().expect("dir"))
            .expect("list")
            .map(|entry| entry.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("secret.json")]);
    }

    #[test]
    fn a_key_readable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileKeyStore::new(dir.path().join("node.key"));
        store.load_or_create().expect("create");
        std::fs::set_permissions(store.path(), std::fs::Permissions::from_mode(0o644))
            .expect("chmod");
        assert!(matches!(
            store.load(),
            Err(KeyStoreError::Permissions { mode: 0o644, .. })
        ));
    }
}
