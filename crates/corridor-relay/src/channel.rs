//! One channel's life, run by the task of the endpoint that attached first:
//! wait for the peer (buffering what the lone endpoint sends, within bounds),
//! then forward both ways until an endpoint leaves, a deadline passes, or the
//! channel is replaced; then close both endpoints with the reason.
//!
//! A channel that goes quiet after traffic is compacted: tungstenite keeps
//! the read and write buffers a burst grew (about 64 KiB each way per
//! connection after 64 KiB records), so once nothing has moved for
//! `compact_after`, each connection's WebSocket state is rebuilt around the
//! same socket with fresh small buffers, at a point where tungstenite holds
//! no bytes of a frame or message.

use crate::metrics::Direction;
use crate::pairing::{Endpoint, Lead};
use crate::pump::{Activity, Lane, LaneEvent, LaneLimits};
use crate::state::Shared;
use crate::ws::{self, Ws, close_with};
use bytes::Bytes;
use corridor_core::Role;
use corridor_core::close::Teardown;
use futures_util::FutureExt as _;
use futures_util::SinkExt as _;
use futures_util::StreamExt as _;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::time::Instant as TokioInstant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::protocol::Role as WsRole;

/// The channel's deadlines.
#[derive(Debug)]
struct Deadlines {
    /// When the channel closes unless an FSEC record has passed.
    init: Instant,
    idle_timeout: Duration,
    write_timeout: Duration,
    /// Quiet time after which the connections' buffers are given back.
    compact_after: Duration,
}

impl Deadlines {
    fn new(lead: &Lead, shared: &Shared) -> Self {
        // flowersec closes once the Unix second passes init_exp + skew.
        let closes_at = lead
            .init_exp
            .saturating_add(shared.verifier.clock_skew_secs())
            .saturating_add(1)
            .max(0) as u64;
        let closes_at = std::time::UNIX_EPOCH + Duration::from_secs(closes_at);
        let left = closes_at
            .duration_since(shared.config.clock.now())
            .unwrap_or_default();
        Self {
            init: Instant::now() + left,
            idle_timeout: lead.idle_timeout,
            write_timeout: shared.config.limits.write_timeout,
            compact_after: shared.config.limits.compact_after,
        }
    }

    /// The earliest deadline still in force, compaction included.
    fn next(&self, activity: &Activity, blocked_since: Option<Instant>) -> Instant {
        let mut next = activity.last_active + self.idle_timeout;
        if !activity.saw_record {
            next = next.min(self.init);
        }
        if let Some(since) = blocked_since {
            if !self.write_timeout.is_zero() {
                next = next.min(since + self.write_timeout);
            }
        }
        if let Some(due) = self.compaction_due(activity) {
            next = next.min(due);
        }
        next
    }

    /// When the connections may give back their buffers: `compact_after`
    /// past the last message, if any has moved since the last compaction
    /// (a lane reports the first one with `LaneEvent::Woke`).
    fn compaction_due(&self, activity: &Activity) -> Option<Instant> {
        (!self.compact_after.is_zero() && !activity.quiet)
            .then(|| activity.last_active + self.compact_after)
    }

    /// Which deadline has passed at `now`, if any (init first, as flowersec).
    fn expired(
        &self,
        now: Instant,
        activity: &Activity,
        blocked_since: Option<Instant>,
    ) -> Option<Teardown> {
        if !activity.saw_record && now >= self.init {
            return Some(Teardown::InitExpired);
        }
        if now >= activity.last_active + self.idle_timeout {
            return Some(Teardown::IdleTimeout);
        }
        let write_stalled = blocked_since.is_some_and(|since| {
            !self.write_timeout.is_zero() && now >= since + self.write_timeout
        });
        write_stalled.then_some(Teardown::WriteError)
    }
}

/// Frames a lone endpoint sent before its peer came.
#[derive(Debug, Default)]
struct Pending {
    frames: VecDeque<Bytes>,
    bytes: usize,
}

/// Runs a channel from its first endpoint to its end.
pub(crate) async fn run(shared: Arc<Shared>, mut lead: Lead) {
    let deadlines = Deadlines::new(&lead, &shared);
    let mut activity = Activity {
        last_active: Instant::now(),
        saw_record: false,
        quiet: true,
    };
    let mut pending = Pending::default();
    let waited = wait_for_peer(&shared, &mut lead, &deadlines, &mut activity, &mut pending).await;
    let (teardown, mut endpoints, queued) = match waited {
        Err(teardown) => (teardown, vec![lead.endpoint], pending.bytes),
        Ok(peer) => {
            shared.metrics.paired(lead.first_seen.elapsed());
            let (teardown, queued, [first, peer]) = forward(
                &shared,
                &lead.evicted,
                [lead.endpoint, peer],
                &deadlines,
                &mut activity,
                pending,
            )
            .await;
            (teardown, vec![first, peer], queued)
        }
    };
    shared.registry.remove(&lead.key, lead.generation);
    // A peer handed over while this channel was ending is closed with it
    // rather than dropped without a word.
    lead.join.close();
    if let Ok(late) = lead.join.try_recv() {
        endpoints.push(late);
    }
    shared.metrics.release_queued(queued);
    shared.metrics.closed(teardown);
    tracing::debug!(channel = %lead.key.2, reason = teardown.reason(), "channel closed");
    let closes = endpoints
        .iter_mut()
        .map(|endpoint| close_with(&mut endpoint.ws, teardown.code(), teardown.reason()));
    futures_util::future::join_all(closes).await;
}

/// Waits for the peer endpoint, buffering what the lone endpoint sends.
async fn wait_for_peer(
    shared: &Shared,
    lead: &mut Lead,
    deadlines: &Deadlines,
    activity: &mut Activity,
    pending: &mut Pending,
) -> Result<Endpoint, Teardown> {
    let limits = &shared.config.limits;
    loop {
        let wake = TokioInstant::from_std(deadlines.next(activity, None));
        let message = tokio::select! {
            biased;
            _ = shared.shutdown.cancelled() => return Err(Teardown::Shutdown),
            _ = lead.evicted.cancelled() => return Err(Teardown::Replaced),
            peer = &mut lead.join => return peer.map_err(|_| Teardown::PeerClosed),
            message = lead.endpoint.ws.next() => message,
            _ = tokio::time::sleep_until(wake) => {
                match deadlines.expired(Instant::now(), activity, None) {
                    Some(teardown) => return Err(teardown),
                    None => continue,
                }
            }
        };
        match message {
            Some(Ok(Message::Binary(frame))) => {
                activity.last_active = Instant::now();
                if pending.bytes + frame.len() > limits.max_pending_bytes {
                    return Err(Teardown::PendingOverflow);
                }
                if !shared
                    .metrics
                    .reserve_queued(frame.len(), limits.max_total_queued_bytes)
                {
                    return Err(Teardown::ResourceExhausted);
                }
                pending.bytes += frame.len();
                pending.frames.push_back(frame);
            }
            Some(Ok(Message::Text(_))) => return Err(Teardown::NonBinaryFrame),
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
            Some(Err(WsError::Capacity(CapacityError::MessageTooLong { .. }))) => {
                return Err(Teardown::RecordTooLarge);
            }
            Some(Ok(Message::Close(_)) | Err(_)) | None => return Err(Teardown::PeerClosed),
        }
    }
}

/// Forwards between the lead and its peer until the channel must end.
/// Returns why, the bytes still held against the queue budget, and the
/// endpoints (to be closed).
async fn forward(
    shared: &Shared,
    evicted: &tokio_util::sync::CancellationToken,
    endpoints: [Endpoint; 2],
    deadlines: &Deadlines,
    activity: &mut Activity,
    pending: Pending,
) -> (Teardown, usize, [Endpoint; 2]) {
    let [mut first, mut peer] = endpoints;
    let (to_peer_direction, to_lead_direction) = match peer.role {
        Role::Server => (Direction::ToServer, Direction::ToClient),
        Role::Client => (Direction::ToClient, Direction::ToServer),
    };
    let mut to_peer = Lane::new(to_peer_direction, pending.frames);
    let mut to_lead = Lane::new(to_lead_direction, VecDeque::new());
    let limits = LaneLimits {
        metrics: &shared.metrics,
        max_record_bytes: shared.config.limits.max_record_bytes,
        max_total_queued_bytes: shared.config.limits.max_total_queued_bytes,
        max_write_queue_bytes: shared.config.limits.max_write_queue_bytes,
    };
    let blocked = |a: &Lane, b: &Lane| match (a.blocked_since, b.blocked_since) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    };
    let sleep = tokio::time::sleep_until(TokioInstant::from_std(deadlines.next(activity, None)));
    tokio::pin!(sleep);
    enum Step {
        End(Teardown),
        /// Something changed that moves a deadline: recompute the timer.
        Rearm,
        Timer,
    }
    let teardown = loop {
        let step = tokio::select! {
            biased;
            _ = shared.shutdown.cancelled() => Step::End(Teardown::Shutdown),
            _ = evicted.cancelled() => Step::End(Teardown::Replaced),
            event = poll_fn(|cx| {
                let (a, b) = (&mut *first.ws, &mut *peer.ws);
                if let std::task::Poll::Ready(event) = to_peer.poll(cx, a, b, activity, limits) {
                    return std::task::Poll::Ready(event);
                }
                to_lead.poll(cx, b, a, activity, limits)
            }) => match event {
                LaneEvent::End(teardown) => Step::End(teardown),
                LaneEvent::Stalled | LaneEvent::Woke => Step::Rearm,
            },
            _ = &mut sleep => Step::Timer,
        };
        let blocked_since = blocked(&to_peer, &to_lead);
        match step {
            Step::End(teardown) => break teardown,
            Step::Timer => {
                let now = Instant::now();
                if let Some(teardown) = deadlines.expired(now, activity, blocked_since) {
                    break teardown;
                }
                if deadlines
                    .compaction_due(activity)
                    .is_some_and(|due| now >= due)
                {
                    activity.quiet = true;
                    // A connection is read by one lane and written by the other.
                    if to_peer.src_drained() && to_lead.is_flushed() {
                        first.ws = Box::new(compact(*first.ws, shared).await);
                    }
                    if to_lead.src_drained() && to_peer.is_flushed() {
                        peer.ws = Box::new(compact(*peer.ws, shared).await);
                    }
                }
            }
            Step::Rearm => {}
        }
        let next = deadlines.next(activity, blocked_since);
        sleep.as_mut().reset(TokioInstant::from_std(next));
    };
    let queued = to_peer.queued_bytes() + to_lead.queued_bytes();
    (teardown, queued, [first, peer])
}

/// Rebuilds a quiet connection's WebSocket state around the same socket, so
/// the buffers a burst grew are freed, if that loses nothing. The caller has
/// seen its last read find nothing and its writes flushed; here the bytes it
/// was given must end at a message boundary, and a queued pong must go out
/// at once. Otherwise it is returned as it was.
async fn compact(mut ws: Ws, shared: &Shared) -> Ws {
    let flushed = matches!(ws.flush().now_or_never(), Some(Ok(())));
    if !flushed || !ws.get_ref().at_message_boundary() {
        return ws;
    }
    shared.metrics.compacted();
    let config = ws::config(&shared.config.limits);
    WebSocketStream::from_raw_socket(ws.into_inner(), WsRole::Server, Some(config)).await
}
