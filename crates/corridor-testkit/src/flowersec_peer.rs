//! A flowersec 0.27 endpoint session served the way the interop tests and
//! the `flowersec-endpoint` binary need it: each `rpc` stream goes to the
//! caller, `echo` streams echo until the client finishes, other kinds are
//! reset.

use flowersec::endpoint::Session;
use flowersec::yamux::YamuxStream;
use std::future::Future;

/// Serves `session`'s streams until it ends; `on_rpc` runs (spawned) for each `rpc` stream.
pub async fn serve<F, Fut>(session: &Session, on_rpc: F)
where
    F: Fn(YamuxStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    while let Ok((kind, stream)) = session.accept_stream().await {
        match kind.as_str() {
            "rpc" => {
                tokio::spawn(on_rpc(stream));
            }
            "echo" => {
                tokio::spawn(echo(stream));
            }
            _ => {
                let _ = stream.reset().await;
            }
        }
    }
}

/// Writes back what it reads; closes its side after the client's.
async fn echo(stream: YamuxStream) {
    while let Ok(Some(chunk)) = stream.read().await {
        if stream.write(&chunk).await.is_err() {
            return;
        }
    }
    let _ = stream.close().await;
}

/// The interop scenario's RPC type ids: a call answered `{"echo": payload}`,
/// the endpoint's greeting to the client, the client's note to the endpoint.
pub const ECHO_RPC: u32 = 7;
/// The endpoint's notification `{"hello": "client"}`, sent once the stream is served.
pub const HELLO_CLIENT: u32 = 9;
/// The client's notification, reported to the caller.
pub const HELLO_SERVER: u32 = 11;

/// Serves an `rpc` stream with the interop scenario: [`ECHO_RPC`] calls
/// echo, every [`HELLO_SERVER`] notification's payload goes to `notes`, and
/// [`HELLO_CLIENT`] greets the client as soon as the stream is served.
/// Returns the server (to notify more) and the task serving the stream.
pub async fn scenario_rpc(
    stream: YamuxStream,
    notes: tokio::sync::mpsc::Sender<serde_json::Value>,
) -> (
    std::sync::Arc<flowersec::rpc::Server>,
    tokio::task::JoinHandle<Result<(), flowersec::rpc::RpcError>>,
) {
    use serde_json::{Value, json};
    let router = flowersec::rpc::Router::default();
    router
        .register(ECHO_RPC, |payload: Value| async move {
            Ok(json!({ "echo": payload }))
        })
        .await;
    router
        .register(HELLO_SERVER, move |payload: Value| {
            let notes = notes.clone();
            async move {
                let _ = notes.send(payload).await;
                Ok(Value::Null)
            }
        })
        .await;
    let rpc = std::sync::Arc::new(flowersec::rpc::Server::new(router));
    let serving = tokio::spawn(rpc.clone().serve(stream));
    // notify fails until serve() has registered the stream.
    while rpc
        .notify_typed(HELLO_CLIENT, &json!({"hello": "client"}))
        .await
        .is_err()
    {
        tokio::task::yield_now().await;
    }
    (rpc, serving)
}
