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
/// How long requests in flight at shutdown get to finish.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(5);

/// Serves HTTP/1.1 requests on `io` with `handler` until the client is
/// done, a request head takes longer than `header_timeout`, or `shutdown`
/// is cancelled (a request in flight then gets [`SHUTDOWN_DRAIN`] to
/// finish; an idle connection closes at once).
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
        _ = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            // hyper ends the connection once the request in flight is
            // answered, but only while it is still polled.
            let _ = tokio::time::timeout(SHUTDOWN_DRAIN, connection).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::Full;
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::sync::Notify;

    #[tokio::test]
    async fn a_request_in_flight_at_shutdown_is_answered() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let started = Arc::new(Notify::new());
        let shutdown = CancellationToken::new();
        let (in_handler, stop) = (started.clone(), shutdown.clone());
        let server = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let stopping = stop.clone();
            let handler = move |_req| {
                let (in_handler, stopping) = (in_handler.clone(), stopping.clone());
                async move {
                    in_handler.notify_one();
                    // Still busy when the server sees the shutdown.
                    stopping.cancelled().await;
                    tokio::task::yield_now().await;
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"done"))))
                }
            };
            serve_http(socket, handler, Duration::from_secs(5), &stop).await;
        });
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            .await
            .unwrap();
        started.notified().await;
        shutdown.cancel();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), client.read_to_end(&mut answer))
            .await
            .expect("the connection ends after the answer")
            .unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("done"), "{answer}");
        server.await.unwrap();
    }
}
