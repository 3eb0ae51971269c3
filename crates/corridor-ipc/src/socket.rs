//! Where an IPC server listens: a path socket inside a private directory, or
//! a Linux abstract-namespace name.
//!
//! A path socket's directory must belong to the server's user and be closed
//! to everyone else (0700): in a shared directory anyone could take the name
//! first and answer in the server's place. The directory is created so when
//! missing and refused when it is not so. An abstract name (`@name`) has no
//! owner at all: any process may bind it first. Mutual authentication (the
//! client pins the server's key) is what makes that safe.
//!
//! On Windows, a named pipe (`\\.\pipe\NAME`) through tokio's named-pipe
//! API: a live server's name is never taken and remote clients are
//! rejected, but a pipe carries no peer credentials, so uid, gid and
//! executable rules refuse every client there. Compiled only on Windows and
//! not tested by corridor's CI (Linux).

use corridor::listener::{BindAddr, PIPE_PREFIX};
#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
#[cfg(unix)]
use std::path::Path;
use std::path::PathBuf;

/// An IPC socket address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IpcAddr {
    /// A socket file in a private directory.
    Path(PathBuf),
    /// A Linux abstract-namespace name (written `@name`).
    Abstract(String),
    /// A Windows named pipe (written `\\.\pipe\NAME`, the whole name).
    Pipe(String),
}

/// Why a socket address cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SocketError {
    /// The socket file has no parent directory.
    #[error("{0}: a socket path needs a directory")]
    NoDirectory(PathBuf),
    /// The directory is not the server user's alone.
    #[error(
        "{dir}: the socket's directory must belong to uid {expected_uid} and be closed to others (mode 0700), found uid {uid} mode {mode:o}"
    )]
    InsecureDirectory {
        /// The directory.
        dir: PathBuf,
        /// Its owner.
        uid: u32,
        /// Its permission bits.
        mode: u32,
        /// The server's uid.
        expected_uid: u32,
    },
    /// Creating or inspecting the directory failed.
    #[error("{dir}: {source}")]
    Io {
        /// The directory.
        dir: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
}

impl std::str::FromStr for IpcAddr {
    type Err = std::convert::Infallible;

    /// `@name` is an abstract name, `\\.\pipe\name` a pipe; anything
    /// else a path.
    ///
    /// ```
    /// use corridor_ipc::IpcAddr;
    /// assert_eq!("@svc".parse(), Ok(IpcAddr::Abstract("svc".into())));
    /// assert_eq!(r"\\.\pipe\svc".parse(), Ok(IpcAddr::Pipe(r"\\.\pipe\svc".into())));
    /// ```
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.starts_with(PIPE_PREFIX) {
            return Ok(IpcAddr::Pipe(text.to_owned()));
        }
        Ok(match text.strip_prefix('@') {
            Some(name) => IpcAddr::Abstract(name.to_owned()),
            None => IpcAddr::Path(PathBuf::from(text)),
        })
    }
}

impl std::fmt::Display for IpcAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IpcAddr::Path(path) => write!(f, "{}", path.display()),
            IpcAddr::Abstract(name) => write!(f, "@{name}"),
            IpcAddr::Pipe(name) => f.write_str(name),
        }
    }
}

impl IpcAddr {
    /// The address to connect to (no checks: the client pins the key).
    pub fn to_bind_addr(&self) -> BindAddr {
        match self {
            IpcAddr::Path(path) => BindAddr::UnixPath(path.clone()),
            IpcAddr::Abstract(name) => BindAddr::UnixAbstract(name.as_bytes().to_vec()),
            IpcAddr::Pipe(name) => BindAddr::Pipe(name.clone()),
        }
    }

    /// The listener address, after making sure a path socket's directory
    /// is private (creating it 0700 when missing).
    pub fn prepare(&self) -> Result<BindAddr, SocketError> {
        match self {
            IpcAddr::Path(path) => {
                let dir = path
                    .parent()
                    .filter(|dir| !dir.as_os_str().is_empty())
                    .ok_or_else(|| SocketError::NoDirectory(path.clone()))?;
                // Elsewhere binding a path fails as unsupported.
                #[cfg(unix)]
                private_directory(dir)?;
                #[cfg(not(unix))]
                let _ = dir;
                Ok(self.to_bind_addr())
            }
            IpcAddr::Abstract(_) | IpcAddr::Pipe(_) => Ok(self.to_bind_addr()),
        }
    }
}

/// Creates `dir` (mode 0700) if missing; refuses one that another user owns
/// or others may enter.
#[cfg(unix)]
fn private_directory(dir: &Path) -> Result<(), SocketError> {
    let io = |source| SocketError::Io {
        dir: dir.to_owned(),
        source,
    };
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io)?;
    }
    let metadata = std::fs::metadata(dir).map_err(io)?;
    let expected_uid = current_uid(dir)?;
    let mode = metadata.permissions().mode() & 0o7777;
    if metadata.uid() != expected_uid || mode & 0o077 != 0 {
        return Err(SocketError::InsecureDirectory {
            dir: dir.to_owned(),
            uid: metadata.uid(),
            mode,
            expected_uid,
        });
    }
    Ok(())
}

/// This process's effective uid, read from `/proc/self` (no unsafe libc call).
#[cfg(unix)]
fn current_uid(dir: &Path) -> Result<u32, SocketError> {
    std::fs::metadata("/proc/self")
        .map(|metadata| metadata.uid())
        .map_err(|source| SocketError::Io {
            dir: dir.to_owned(),
            source,
        })
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_missing_directory_is_created_private_and_an_open_one_refused() {
        let base = tempfile::tempdir().expect("tempdir");
        let addr = IpcAddr::Path(base.path().join("run/svc.sock"));
        addr.prepare().expect("created");
        let mode = std::fs::metadata(base.path().join("run"))
            .expect("dir")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        let open = base.path().join("open");
        std::fs::create_dir(&open).expect("dir");
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let refused = IpcAddr::Path(open.join("svc.sock")).prepare();
        assert!(
            matches!(refused, Err(SocketError::InsecureDirectory { .. })),
            "{refused:?}"
        );
    }

    #[test]
    fn at_names_are_abstract() {
        assert_eq!(
            "@svc".parse::<IpcAddr>(),
            Ok(IpcAddr::Abstract("svc".into()))
        );
        assert_eq!(
            "/run/x.sock".parse::<IpcAddr>(),
            Ok(IpcAddr::Path("/run/x.sock".into()))
        );
    }
}
