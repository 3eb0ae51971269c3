//! RPC answers and failures as a caller sees them: typed results, 404 for a
//! missing handler, 400 for a payload of the wrong shape, a handler's own
//! code, 500 for a handler that panics (in its future or before it), a
//! notification handler's panic that ends nothing, and a local timeout that
//! forgets the call.

mod support;

use corridor::rpc::{Failure, Router, RpcError};
use corridor::{Client, SessionOptions};
use corridor_core::fsec1::Suite;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use support::*;

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Add {
    a: i64,
    b: i64,
}

const ADD: u32 = 100;
const FAIL: u32 = 101;
const NEVER: u32 = 102;
const PANIC: u32 = 103;
const PANIC_AT_ONCE: u32 = 104;
const PANIC_ON_NOTICE: u32 = 105;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_answer_with_typed_results_and_named_failures() {
    let router = Router::new()
        .handle(
            ADD,
            |req: Add| async move { Ok::<_, Failure>(req.a + req.b) },
        )
        .handle(FAIL, |_: serde_json::Value| async {
            Err::<(), _>(Failure::new(503, "warming up"))
        })
        .handle(NEVER, |_: serde_json::Value| {
            std::future::pending::<Result<(), Failure>>()
        })
        .handle(PANIC, |_: serde_json::Value| async {
            if true {
                panic!("handler bug");
            }
            Ok::<(), Failure>(())
        })
        .handle(PANIC_AT_ONCE, |_: serde_json::Value| {
            if true {
                panic!("handler bug before its future");
            }
            std::future::ready(Ok::<(), Failure>(()))
        })
        .on_notify(PANIC_ON_NOTICE, |_: serde_json::Value| async {
            panic!("notification handler bug");
        });
    let options = SessionOptions::default().with_router(router);
    let (_, info, _) = direct_endpoint(
        options,
        Suite::X25519HkdfSha256Aes256Gcm,
        |session| async move { session.closed().await },
    )
    .await;
    let session = Client::connect_direct(&info, &SessionOptions::default())
        .await
        .expect("handshake");
    let rpc = session.rpc();

    let sum: i64 = rpc.call(ADD, &Add { a: 2, b: 40 }).await.expect("add");
    assert_eq!(sum, 42);
    match rpc.call::<_, i64>(ADD, &"not an Add").await {
        Err(RpcError::Remote { code: 400, .. }) => {}
        other => panic!("a payload of the wrong shape is 400: {other:?}"),
    }
    match rpc.call::<_, ()>(FAIL, &()).await {
        Err(RpcError::Remote { code: 503, message }) => assert_eq!(message, "warming up"),
        other => panic!("the handler's failure reaches the caller: {other:?}"),
    }
    let started = std::time::Instant::now();
    match rpc.call::<_, ()>(PANIC, &()).await {
        Err(RpcError::Remote { code: 500, message }) => assert_eq!(message, "handler panicked"),
        other => panic!("a panicking handler answers 500: {other:?}"),
    }
    match rpc.call::<_, ()>(PANIC_AT_ONCE, &()).await {
        Err(RpcError::Remote { code: 500, message }) => assert_eq!(message, "handler panicked"),
        other => panic!("a handler panicking before its future answers 500: {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered, not timed out"
    );
    rpc.notify(PANIC_ON_NOTICE, &()).await.expect("notify");
    match rpc.call::<_, ()>(9999, &()).await {
        Err(error @ RpcError::Remote { code: 404, .. }) => assert_eq!(error.reason(), "not_found"),
        other => panic!("a missing handler is 404: {other:?}"),
    }
    let timed_out = rpc
        .call_with_timeout::<_, ()>(NEVER, &(), Duration::from_millis(200))
        .await;
    assert!(matches!(timed_out, Err(RpcError::Timeout)), "{timed_out:?}");
    // The session and the RPC stream carry on after a timeout.
    let sum: i64 = rpc
        .call(ADD, &Add { a: 1, b: 1 })
        .await
        .expect("add after a timeout");
    assert_eq!(sum, 2);
}
