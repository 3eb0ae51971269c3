//! RPC built to push to many sessions: handlers that know their caller and
//! keep its session to push to later, one notification encoded once for
//! many subscribers, messages queued together sent as few records, a full queue that refuses at once instead of waiting,
//! an oversized message that fails its sender and nobody else, two peers
//! flooding each other that finish in bounded time, and handler tasks that
//! end with their session.

mod support;

use corridor::rpc::{Call, Failure, Notification, Router, RpcError, RpcOptions};
use corridor::{Client, DirectCredential, Endpoint, Session, SessionOptions};
use corridor_core::fsec1::Suite;
use corridor_core::suite::PeerIdentity;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::{WAIT, join, now};
use tokio::sync::mpsc;

fn credential() -> DirectCredential {
    DirectCredential {
        psk: [0x5a; 32].into(),
        suite: Suite::X25519HkdfSha256Aes256Gcm,
        channel_id: Some("fanout".into()),
        init_exp_unix_s: now() + 120,
    }
}

/// A client and an endpoint session over a Unix socket pair.
async fn pair(client: SessionOptions, endpoint: SessionOptions) -> (Session, Session) {
    let (a, b) = tokio::net::UnixStream::pair().expect("pair");
    let served = tokio::spawn(async move {
        Endpoint::accept_framed(b, credential(), &endpoint)
            .await
            .expect("endpoint")
    });
    let client = Client::connect_framed(a, credential(), &client)
        .await
        .expect("client");
    (client, join(served).await)
}

const SUBSCRIBE: u32 = 1;
const NEWS: u32 = 2;
const STUCK: u32 = 3;
const ECHO: u32 = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_knows_its_caller_and_pushes_to_it_later() {
    let (subscribers_tx, mut subscribers) = mpsc::unbounded_channel();
    let router = Router::new().handle(SUBSCRIBE, move |call: Call, topic: String| {
        let subscribers_tx = subscribers_tx.clone();
        async move {
            let who = match &call.peer().identity {
                PeerIdentity::ChannelPsk { channel_id } => channel_id.clone(),
                other => format!("{other:?}"),
            };
            let _ = subscribers_tx.send(call.session().clone());
            Ok::<_, Failure>(format!("{who} subscribed to {topic}"))
        }
    });
    let (news_tx, mut news) = mpsc::unbounded_channel();
    let client_router = Router::new().on_notify(NEWS, move |text: String| {
        let news_tx = news_tx.clone();
        async move {
            let _ = news_tx.send(text);
        }
    });
    let (client, _endpoint) = pair(
        SessionOptions::default().with_router(client_router),
        SessionOptions::default().with_router(router),
    )
    .await;
    let answer: String = client
        .rpc()
        .call(SUBSCRIBE, &"weather")
        .await
        .expect("call");
    assert_eq!(answer, "fanout subscribed to weather");
    // Later, outside any handler: the kept session handle pushes.
    let subscriber = subscribers.recv().await.expect("kept");
    subscriber.notify(NEWS, &"rain").await.expect("push");
    let got = tokio::time::timeout(WAIT, news.recv())
        .await
        .expect("in time");
    assert_eq!(got.as_deref(), Some("rain"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_notification_reaches_fifty_sessions_encoded_once() {
    let (news_tx, mut news) = mpsc::unbounded_channel();
    let mut endpoints = Vec::new();
    let mut clients = Vec::new();
    for _ in 0..50 {
        let news_tx = news_tx.clone();
        let router = Router::new().on_notify(NEWS, move |text: String| {
            let news_tx = news_tx.clone();
            async move {
                let _ = news_tx.send(text);
            }
        });
        let (client, endpoint) = pair(
            SessionOptions::default().with_router(router),
            SessionOptions::default(),
        )
        .await;
        clients.push(client);
        endpoints.push(endpoint);
    }
    let notification = Notification::new(NEWS, &"to all").expect("encode");
    for endpoint in &endpoints {
        endpoint.rpc().try_send(&notification).expect("room");
    }
    for _ in 0..50 {
        let got = tokio::time::timeout(WAIT, news.recv())
            .await
            .expect("in time");
        assert_eq!(got.as_deref(), Some("to all"));
    }
}

// One thread: the writer cannot run until all 1,000 are queued.
#[tokio::test(flavor = "current_thread")]
async fn messages_queued_together_go_out_in_few_records_and_in_order() {
    let (news_tx, mut news) = mpsc::unbounded_channel();
    let router = Router::new().on_notify(NEWS, move |n: u32| {
        let news_tx = news_tx.clone();
        async move {
            let _ = news_tx.send(n);
        }
    });
    let mut endpoint_options = SessionOptions::default().with_router(router);
    // Handled one at a time, so arrival order is handling order.
    endpoint_options.rpc.notification_backpressure = true;
    endpoint_options.rpc.max_queued_notifications = 1;
    let (client, _endpoint) = pair(SessionOptions::default(), endpoint_options).await;
    let before = client.stats().records_sent;
    for n in 0..1000u32 {
        let message = Notification::new(NEWS, &n).expect("encode");
        client.rpc().try_send(&message).expect("room");
    }
    for n in 0..1000u32 {
        let got = tokio::time::timeout(WAIT, news.recv())
            .await
            .expect("in time");
        assert_eq!(got, Some(n));
    }
    let records = client.stats().records_sent - before;
    // Hundreds of records when each message was its own write.
    assert!(records <= 2, "1000 messages took {records} records");
}

// Messages skip the queue only while it is empty. The receiver takes one
// message and waits: the window fills, later messages wait in the queue,
// and none may overtake them once the window opens again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_through_a_full_window_keep_their_order() {
    let (news_tx, mut news) = mpsc::channel(1);
    let router = Router::new().on_notify(NEWS, move |(n, _pad): (u32, String)| {
        let news_tx = news_tx.clone();
        async move {
            let _ = news_tx.send(n).await;
        }
    });
    let mut endpoint_options = SessionOptions::default().with_router(router);
    endpoint_options.rpc.notification_backpressure = true;
    endpoint_options.rpc.max_queued_notifications = 1;
    let (client, _endpoint) = pair(SessionOptions::default(), endpoint_options).await;
    let client = Arc::new(client);
    let pad = "p".repeat(1024);
    let sender = {
        let client = client.clone();
        tokio::spawn(async move {
            for n in 0..2048u32 {
                client
                    .rpc()
                    .notify(NEWS, &(n, &pad))
                    .await
                    .expect("room in time");
            }
        })
    };
    corridor_testkit::wait_until("messages wait in the queue", || {
        client.rpc().queued_bytes() > 0
    })
    .await;
    for n in 0..2048u32 {
        let got = tokio::time::timeout(WAIT, news.recv())
            .await
            .expect("in time");
        assert_eq!(got, Some(n));
    }
    join(sender).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_refuses_at_once_and_notify_gives_up_at_its_deadline() {
    // The client opens the RPC stream itself and never reads it.
    let client_options = SessionOptions {
        open_rpc_stream: false,
        ..SessionOptions::default()
    };
    let endpoint_options = SessionOptions {
        rpc: RpcOptions {
            max_queued_bytes: 64 * 1024,
            call_timeout: Duration::from_millis(300),
            ..RpcOptions::default()
        },
        ..SessionOptions::default()
    };
    let (client, endpoint) = pair(client_options, endpoint_options).await;
    let _unread = client.open_stream("rpc").await.expect("rpc stream");
    let big = "x".repeat(16 * 1024);
    // Stream windows and socket buffers take the first megabyte or so;
    // then the queue fills, and try_notify says so without waiting.
    let mut sent = 0;
    let full = loop {
        let started = tokio::time::Instant::now();
        match endpoint.rpc().try_notify(NEWS, &big) {
            Ok(()) => sent += 1,
            Err(error) => break (error, started.elapsed()),
        }
        assert!(sent < 10_000, "the queue never filled");
        tokio::task::yield_now().await;
    };
    assert!(matches!(full.0, RpcError::Full), "{:?}", full.0);
    assert!(
        full.1 < Duration::from_millis(50),
        "refused at once: {:?}",
        full.1
    );
    assert!(endpoint.rpc().queued_bytes() <= 64 * 1024 + 17 * 1024);
    // The writer may still drain what the stream window lets through; once
    // it is stuck, notify waits out its deadline and gives up.
    for attempt in 0.. {
        let started = tokio::time::Instant::now();
        match endpoint.rpc().notify(NEWS, &big).await {
            Ok(()) => assert!(attempt < 100, "the queue never stayed full"),
            Err(RpcError::Full) => {
                assert!(started.elapsed() >= Duration::from_millis(300));
                assert!(started.elapsed() < Duration::from_secs(5));
                break;
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_the_frame_limit_fails_its_sender_only() {
    let options = SessionOptions::default()
        .with_router(Router::new().handle(ECHO, |v: Value| async move { Ok::<_, Failure>(v) }));
    let (client, _endpoint) = pair(SessionOptions::default(), options).await;
    let huge = "y".repeat(2 * 1024 * 1024);
    match client.rpc().call::<_, Value>(ECHO, &huge).await {
        Err(RpcError::TooLarge { bytes, limit }) => {
            assert!(bytes > limit);
            assert_eq!(limit, corridor_core::rpc::DEFAULT_MAX_FRAME_BYTES);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert!(matches!(
        client.rpc().try_notify(NEWS, &huge),
        Err(RpcError::TooLarge { .. })
    ));
    // Nothing reached the peer: the RPC stream is up both ways.
    let back: Value = client
        .rpc()
        .call(ECHO, &json!({"ok": 1}))
        .await
        .expect("call");
    assert_eq!(back, json!({"ok": 1}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_peers_flooding_each_other_finish_in_bounded_time() {
    // Each side admits one request at a time and has a small outbound queue:
    // most calls earn a 429, and both readers keep reading while the
    // writers are full.
    let rpc = RpcOptions {
        max_concurrent_requests: 1,
        max_queued_requests: 0,
        max_calls_in_flight: 4000,
        max_queued_bytes: 32 * 1024,
        call_timeout: Duration::from_secs(5),
        ..RpcOptions::default()
    };
    let echo = || Router::new().handle(ECHO, |v: Value| async move { Ok::<_, Failure>(v) });
    let options = SessionOptions {
        rpc,
        ..SessionOptions::default()
    };
    let (client, endpoint) = pair(
        options.clone().with_router(echo()),
        options.with_router(echo()),
    )
    .await;
    let (client, endpoint) = (Arc::new(client), Arc::new(endpoint));
    let payload = "z".repeat(8 * 1024);
    let outcomes = Arc::new([
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    ]);
    let mut calls = tokio::task::JoinSet::new();
    for n in 0..4000 {
        let side = if n % 2 == 0 {
            client.clone()
        } else {
            endpoint.clone()
        };
        let (payload, outcomes) = (payload.clone(), outcomes.clone());
        calls.spawn(async move {
            let index = match side.rpc().call::<_, String>(ECHO, &payload).await {
                Ok(back) if back == payload => 0,
                Err(RpcError::Remote { code: 429, .. }) => 1,
                Err(RpcError::Timeout) => 2,
                other => panic!("unexpected outcome {other:?}"),
            };
            outcomes[index].fetch_add(1, Ordering::Relaxed);
        });
    }
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(done) = calls.join_next().await {
            done.expect("call task");
        }
    })
    .await
    .expect("every call answered, refused or timed out within a minute");
    let [answered, refused, _timed_out] = outcomes.each_ref().map(|n| n.load(Ordering::Relaxed));
    assert!(answered > 0, "some calls were served");
    assert!(refused > 0, "the flood was beyond both sides' limits");
    // Both readers are alive: a quiet call goes through each way.
    let back: String = client
        .rpc()
        .call(ECHO, &"after")
        .await
        .expect("client to endpoint");
    assert_eq!(back, "after");
    let back: String = endpoint
        .rpc()
        .call(ECHO, &"after")
        .await
        .expect("endpoint to client");
    assert_eq!(back, "after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_tasks_end_with_their_session() {
    struct Dropped(mpsc::UnboundedSender<()>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            let _ = self.0.send(());
        }
    }
    let (dropped_tx, mut dropped) = mpsc::unbounded_channel();
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let router = Router::new().handle(STUCK, move |_: Value| {
        let guard = Dropped(dropped_tx.clone());
        let started_tx = started_tx.clone();
        async move {
            let _guard = guard;
            let _ = started_tx.send(());
            std::future::pending::<Result<(), Failure>>().await
        }
    });
    let (client, endpoint) = pair(
        SessionOptions::default(),
        SessionOptions::default().with_router(router),
    )
    .await;
    let client = Arc::new(client);
    let caller = client.clone();
    tokio::spawn(async move { caller.rpc().call::<_, ()>(STUCK, &()).await });
    tokio::time::timeout(WAIT, started.recv())
        .await
        .expect("handler runs");
    assert!(dropped.try_recv().is_err(), "still running");
    client.close().await;
    endpoint.closed().await;
    tokio::time::timeout(Duration::from_secs(5), dropped.recv())
        .await
        .expect("the handler was cancelled with its session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_cloned_for_another_session_keep_their_own_handlers() {
    let base = SessionOptions::default()
        .with_router(Router::new().handle(ECHO, |v: Value| async move { Ok::<_, Failure>(v) }));
    // A second set of options adds a handler on a copy of the router.
    let _extended = base.clone().with_router(
        base.router()
            .clone()
            .handle(STUCK, |_: Value| async { Ok::<_, Failure>("extended") }),
    );
    let (client, _endpoint) = pair(SessionOptions::default(), base).await;
    match client.rpc().call::<_, Value>(STUCK, &()).await {
        Err(RpcError::Remote { code: 404, .. }) => {}
        other => panic!("the base session must not serve the extension: {other:?}"),
    }
}
