//! The process at the other end of a Unix socket, held by the pidfd the
//! kernel hands out for it (Linux `SO_PEERPIDFD`, taken when the listener
//! accepts). A pid can come to mean another process once its owner exits; a
//! pidfd cannot. The executable is opened through `/proc/PID/exe` and the
//! pidfd is asked afterwards whether that pid is still its process, so what
//! was opened is the binary the connected process runs, even when the file
//! at its path has been replaced since.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Arc;

/// A Unix socket's peer process.
#[derive(Clone, Debug)]
pub struct PeerProcess {
    pidfd: Arc<OwnedFd>,
    /// What a peer check found out about its executable, when one ran
    /// (`corridor-ipc` fills it in before the handshake).
    pub executable: Option<Executable>,
}

/// A peer process's executable, as a peer check read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Executable {
    /// SHA-256 of the file the process runs.
    pub sha256: [u8; 32],
    /// Its path when it was read (informative: the file there may differ now).
    pub path: PathBuf,
}

impl PartialEq for PeerProcess {
    /// The same pidfd (one accepted connection's), and the same findings.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.pidfd, &other.pidfd) && self.executable == other.executable
    }
}

impl Eq for PeerProcess {}

/// Why a peer process's executable could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// The process has exited (its pid may already belong to another).
    #[error("the peer process has exited")]
    Gone,
    /// `/proc` could not be read.
    #[error("reading the peer process: {0}")]
    Io(#[from] io::Error),
}

impl PeerProcess {
    /// The peer process of a connected Unix socket.
    pub fn of_socket(socket: &impl AsFd) -> io::Result<PeerProcess> {
        let pidfd = nix::sys::socket::getsockopt(socket, nix::sys::socket::sockopt::PeerPidfd)
            .map_err(io::Error::from)?;
        Ok(PeerProcess {
            pidfd: Arc::new(pidfd),
            executable: None,
        })
    }

    /// The process id, while the process has not exited.
    pub fn pid(&self) -> Option<i32> {
        // The pidfd's fdinfo names its process's pid, and -1 once it exited.
        let fdinfo = format!("/proc/self/fdinfo/{}", self.pidfd.as_raw_fd());
        let text = std::fs::read_to_string(fdinfo).ok()?;
        text.lines()
            .find_map(|line| line.strip_prefix("Pid:"))
            .and_then(|pid| pid.trim().parse::<i32>().ok())
            .filter(|pid| *pid > 0)
    }

    /// Opens the executable the process runs, and its path then.
    pub fn open_executable(&self) -> Result<(File, PathBuf), ProcessError> {
        let pid = self.pid().ok_or(ProcessError::Gone)?;
        let link = PathBuf::from(format!("/proc/{pid}/exe"));
        let file = File::open(&link)?;
        let path = std::fs::read_link(&link).unwrap_or(link);
        // Still alive after the open: the pid was its, so the file is too.
        if self.pid() != Some(pid) {
            return Err(ProcessError::Gone);
        }
        Ok((file, path))
    }
}
