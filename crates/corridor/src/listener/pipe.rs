//! Windows named pipes (`\\.\pipe\NAME`) through tokio's named-pipe API:
//! the listener keeps one unconnected pipe instance waiting and makes the
//! next as each client connects. The first instance is created with
//! `first_pipe_instance`, so a name a live server holds is never taken;
//! remote clients are rejected. Compiled only on Windows, and not tested
//! by corridor's CI, which runs on Linux.

use std::io;
use std::time::Duration;
use tokio::net::windows::named_pipe::{
    ClientOptions, NamedPipeClient, NamedPipeServer, ServerOptions,
};
use tokio::sync::Mutex;

/// `ERROR_PIPE_BUSY`: every instance is taken; a client waits and retries.
const ERROR_PIPE_BUSY: i32 = 231;

/// How long a client waits between attempts on a busy pipe.
const BUSY_RETRY: Duration = Duration::from_millis(20);

/// A listening pipe name and its next waiting instance.
pub(crate) struct PipeListener {
    name: String,
    next: Mutex<NamedPipeServer>,
}

impl PipeListener {
    pub(crate) fn bind(name: &str) -> io::Result<PipeListener> {
        let first = ServerOptions::new()
            .first_pipe_instance(true)
            .reject_remote_clients(true)
            .create(name)?;
        Ok(PipeListener {
            name: name.to_owned(),
            next: Mutex::new(first),
        })
    }

    /// The next connected client.
    pub(crate) async fn accept(&self) -> io::Result<NamedPipeServer> {
        let mut next = self.next.lock().await;
        next.connect().await?;
        let fresh = ServerOptions::new()
            .reject_remote_clients(true)
            .create(&self.name)?;
        Ok(std::mem::replace(&mut *next, fresh))
    }
}

/// Opens pipe `name`, waiting while every instance is busy (the caller
/// bounds the wait).
pub(crate) async fn connect(name: &str) -> io::Result<NamedPipeClient> {
    loop {
        match ClientOptions::new().open(name) {
            Err(error) if error.raw_os_error() == Some(ERROR_PIPE_BUSY) => {
                tokio::time::sleep(BUSY_RETRY).await;
            }
            opened => return opened,
        }
    }
}
