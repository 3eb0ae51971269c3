//! An endpoint's WebSocket as the relay holds it: the type, its settings
//! (small buffers, the record limit on every frame), and how the relay
//! closes one. Every layer above speaks to endpoints through this.

use crate::budget::AttachBudget;
use crate::limits::Limits;
use corridor::carrier::read_ahead::ReadAhead;
use futures_util::StreamExt as _;
use hyper_util::rt::TokioIo;
use std::time::Duration;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};

/// An upgraded endpoint connection.
pub(crate) type Ws = WebSocketStream<ReadAhead<AttachBudget<TokioIo<hyper::upgrade::Upgraded>>>>;

/// The WebSocket write buffer: a queue that built up behind a busy
/// destination leaves in writes of up to this size.
pub(crate) const WRITE_BUFFER_BYTES: usize = 256 * 1024;

/// How long a close frame may take to go out before the socket is dropped.
pub(crate) const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// WebSocket settings for endpoint connections: the record limit on every
/// message and frame, small buffers (idle channels dominate memory), and a
/// write-buffer cap so a stalled reader cannot grow it.
pub(crate) fn config(limits: &Limits) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(limits.ws_read_buffer_bytes)
        // The pump hands over what it holds, then flushes: a queue that
        // built up behind a busy destination leaves in few writes.
        .write_buffer_size(WRITE_BUFFER_BYTES)
        // The buffer, plus the record that crossed its size, plus one
        // more (and control frames) while the socket is full.
        .max_write_buffer_size(WRITE_BUFFER_BYTES + 2 * limits.max_record_bytes + 64)
        .max_message_size(Some(limits.max_record_bytes))
        .max_frame_size(Some(limits.max_record_bytes))
}

/// Bytes an endpoint may send before its attach is accepted: the attach
/// message and the largest client frame header (14 bytes).
pub(crate) fn attach_read_budget(limits: &Limits) -> usize {
    limits.max_attach_bytes + 14
}

/// Sends a close frame and waits for the peer's (RFC 6455 7.1.1), both
/// within [`CLOSE_GRACE`]; the socket closes when `ws` drops. Waiting matters:
/// an endpoint sends its first record right behind its attach, and a socket
/// dropped with those bytes unread goes out as a TCP reset, which a browser
/// reports as 1006 with no reason, losing the refusal's (`token_replay`, ...).
pub(crate) async fn close_with(ws: &mut Ws, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: Utf8Bytes::from_static(reason),
    };
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        if ws.close(Some(frame)).await.is_ok() {
            // Discards what is still arriving; ends with the peer's close frame.
            while let Some(Ok(_)) = ws.next().await {}
        }
    })
    .await;
}
