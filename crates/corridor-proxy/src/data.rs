//! Agents' data connections: TLS, then the 32-byte secret of the visitor
//! they are for. A connection may arrive early and wait (a warm one) until
//! its agent has a visitor for it, within the data idle timeout; an
//! unknown, expired or reused secret closes it.

use crate::dialback::{DIAL_SECRET_BYTES, DataConnection};
use crate::state::Shared;
use corridor::carrier::Connection;
use corridor::listener::{Accepted, HandshakeError, Listener};
use std::sync::Arc;
use tokio::io::AsyncReadExt as _;

pub(crate) async fn serve(shared: Arc<Shared>, listener: Listener) {
    loop {
        let accepted = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        // Tracked until delivered (then its visitor's splice holds it); one
        // still waiting for its secret ends at shutdown.
        shared.tasks.spawn(arrive(shared.clone(), accepted));
    }
}

async fn arrive(shared: Arc<Shared>, accepted: Accepted) {
    let secret = accepted.handshake(|mut data: Connection| async move {
        let mut secret = [0u8; DIAL_SECRET_BYTES];
        data.io.read_exact(&mut secret).await?;
        Ok::<_, std::io::Error>((secret, data))
    });
    let secret = tokio::select! {
        secret = secret => secret,
        _ = shared.shutdown.cancelled() => return,
    };
    let ((secret, data), slot) = match secret {
        Ok(arrived) => arrived,
        Err(HandshakeError::Failed(_)) => return shared.metrics.data_refused("closed"),
        Err(error) => return shared.metrics.data_refused(error.reason()),
    };
    let data = DataConnection {
        connection: data,
        slot,
    };
    if !shared.dialbacks.deliver(&secret, data) {
        shared.metrics.data_refused("unknown_secret");
        tracing::debug!("data connection with an unknown, expired or used secret: closed");
    }
}
