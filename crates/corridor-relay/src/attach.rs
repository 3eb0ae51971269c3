//! The attach phase of one endpoint connection: the connection cap, the
//! attach message under its deadline, token checks, the replay cache, then
//! pairing. Each refusal closes with its code and reason and counts once.

use crate::budget::is_budget_spent;
use crate::pairing::{Admission, Endpoint};
use crate::refusals::Severity;
use crate::replay::TokenUse;
use crate::state::Shared;
use crate::ws::{CLOSE_GRACE, Ws, close_with};
use corridor_core::attach::{Attach, AttachLimits};
use corridor_core::close::Rejection;
use futures_util::{SinkExt as _, StreamExt as _};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// Runs one upgraded connection from `peer` to its end.
pub(crate) async fn serve_endpoint(shared: Arc<Shared>, mut ws: Ws, peer: SocketAddr) {
    let Some(slot) = shared.connections.try_open() else {
        shared.metrics.attach_failed(Rejection::TooManyConnections);
        shared.refusals.refused(
            peer,
            Rejection::TooManyConnections.reason(),
            Severity::Capacity,
        );
        close_with(
            &mut ws,
            Rejection::TooManyConnections.code(),
            Rejection::TooManyConnections.reason(),
        )
        .await;
        return;
    };
    let deadline = shared.config.limits.attach_timeout;
    let first = tokio::select! {
        read = tokio::time::timeout(deadline, read_attach(&mut ws)) => match read {
            Ok(result) => result,
            Err(_) => Err(Rejection::Timeout),
        },
        _ = shared.shutdown.cancelled() => Err(Rejection::Canceled),
    };
    let admitted = match first {
        Ok(text) => admit(&shared, text.as_bytes()).await,
        Err(rejection) => Err(rejection),
    };
    let (attach, claims) = match admitted {
        Ok(pair) => pair,
        Err(rejection) => return reject(&shared, ws, rejection, peer).await,
    };
    ws.get_mut().get_mut().lift();
    let endpoint = Endpoint {
        ws: Box::new(ws),
        role: attach.role,
        _slot: slot,
    };
    match shared.registry.admit(endpoint, &claims) {
        Admission::Lead(lead) => {
            shared.metrics.attach_ok();
            // A task of its own: an idle channel then holds only the channel's
            // state, not the larger state of the attach phase that led to it.
            shared
                .tasks
                .spawn(crate::channel::run(shared.clone(), lead));
        }
        Admission::Joined => shared.metrics.attach_ok(),
        Admission::Refused(rejection, endpoint) => {
            reject(&shared, *endpoint.ws, rejection, peer).await;
        }
    }
}

async fn reject(shared: &Shared, mut ws: Ws, rejection: Rejection, peer: SocketAddr) {
    let severity = match rejection.code() {
        corridor_core::close::TRY_AGAIN_LATER => Severity::Capacity,
        _ => Severity::Peer,
    };
    shared.refusals.refused(peer, rejection.reason(), severity);
    shared.metrics.attach_failed(rejection);
    // After the peer's own close frame this only flushes: the answer to it
    // went out already and the socket is done.
    close_with(&mut ws, rejection.code(), rejection.close_reason()).await;
}

/// Reads until the first data message; it must be text.
async fn read_attach(ws: &mut Ws) -> Result<Utf8Bytes, Rejection> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => return Ok(text),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {
                // Answer pings now, as flowersec's tunnel does: tungstenite
                // queued the pong and sends it with the next write.
                let _ = ws.flush().await;
            }
            Some(Ok(Message::Close(_))) => {
                // tungstenite queued the answer (the peer's code echoed, as
                // flowersec's tunnel answers); send it, then end.
                let _ = tokio::time::timeout(CLOSE_GRACE, ws.flush()).await;
                return Err(Rejection::ExpectedAttach);
            }
            Some(Ok(_)) | None => return Err(Rejection::ExpectedAttach),
            Some(Err(error)) if is_budget_spent(&error) => return Err(Rejection::AttachTooLarge),
            Some(Err(WsError::Capacity(CapacityError::MessageTooLong { .. }))) => {
                return Err(Rejection::AttachTooLarge);
            }
            Some(Err(_)) => return Err(Rejection::ExpectedAttach),
        }
    }
}

/// Parses the attach message and checks its token against it.
async fn admit(
    shared: &Shared,
    text: &[u8],
) -> Result<(Attach, corridor_core::token::Claims), Rejection> {
    let limits = AttachLimits {
        max_attach_bytes: shared.config.limits.max_attach_bytes,
        ..AttachLimits::default()
    };
    let attach = Attach::parse(text, &limits).map_err(|error| {
        tracing::debug!(%error, "invalid attach");
        Rejection::InvalidAttach
    })?;
    let now = shared.config.clock.unix_now();
    let claims = shared
        .verifier
        .verify(&attach.token, now)
        .map_err(|error| {
            tracing::debug!(%error, "invalid token");
            Rejection::InvalidToken
        })?;
    if claims.channel_id != attach.channel_id {
        return Err(Rejection::ChannelMismatch);
    }
    if claims.role != attach.role {
        return Err(Rejection::RoleMismatch);
    }
    let key = format!(
        "{}\0{}\0{}",
        shared.verifier.audience(),
        shared.verifier.issuer(),
        claims.token_id.trim()
    );
    let used_until = claims.exp.saturating_add(shared.verifier.clock_skew_secs());
    let spent = shared.replay.try_use(&key, used_until, now).await;
    shared.metrics.set_replay_usage(shared.replay.usage(now));
    match spent {
        TokenUse::Fresh => Ok((attach, claims)),
        TokenUse::Replayed => Err(Rejection::TokenReplay),
        TokenUse::Full => Err(Rejection::ReplayCacheFull),
    }
}
