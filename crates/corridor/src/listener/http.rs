//! HTTP/1.1 on an accepted connection, for services that answer plain
//! requests and WebSocket upgrades on one port (the relay, the control
//! plane): the header read bounded in time and size, upgrades handed on to
//! whoever took them, and a graceful end when the service shuts down.

use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

/// Largest request head held in memory.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Serves HTTP/1.1 requests on `io` with `handler` until the client is
/// done, a request head takes longer than `header_timeout`, or `shutdown`
/// is cancelled (in-flight requests then finish).
pub async fn serve_http<S, F, Fut, B>(
    io: S,
    handler: F,
    header_timeout: Duration,
    shutdown: &CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: Fn(Request<Incoming>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Response<B>, Infallible>> + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .serve_connection(TokioIo::new(io), service_fn(handler))
        .with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%error, "http connection ended with an error");
            }
        }
        _ = shutdown.cancelled() => connection.as_mut().graceful_shutdown(),
    }
}
