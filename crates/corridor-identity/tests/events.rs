//! Topic events over real sessions: fan-out to a thousand subscribers, a
//! slow subscriber disconnected (or told what it missed) while the others
//! keep up, and topics a user may not read.

use corridor::core::identity::StaticSecret;
use corridor::rpc::RpcError;
use corridor_identity::rpc::{Overflow, TOPIC_NOT_ALLOWED};
use corridor_identity::{
    Account, ClientConfig, Connected, Enroll, Events, IdentityConfig, IdentityServer,
    IdentityServerHandle, Store, client,
};
use std::sync::Arc;
use std::time::Duration;

struct Running {
    url: String,
    server_key: corridor::core::identity::PublicKey,
    store: Arc<Store>,
    events: Arc<Events>,
    handle: IdentityServerHandle,
    _dir: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

/// A server whose `secret-*` topics only the `staff` group may read; each
/// session may queue `queue_bytes` towards its client.
async fn serve(queue_bytes: usize) -> Running {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(
        Store::open_sqlite(&dir.path().join("users.db"))
            .await
            .expect("store"),
    );
    let config = IdentityConfig::new(
        "127.0.0.1:0".parse().expect("addr"),
        StaticSecret::generate(&mut rand_core::OsRng),
    );
    let policy = Arc::new(|account: &Account, topic: &str| {
        !topic.starts_with("secret-") || account.groups.iter().any(|g| g == "staff")
    });
    let server = IdentityServer::bind(config, store.clone(), policy)
        .await
        .expect("bind");
    let mut options = corridor::SessionOptions::default();
    options.rpc.max_queued_bytes = queue_bytes;
    let running = Running {
        url: server.url(),
        server_key: server.public_key(),
        store,
        events: server.events(),
        handle: server.handle(),
        _dir: dir,
    };
    tokio::spawn(server.serve(options, |_, _| async {}));
    running
}

impl Running {
    /// A new key enrolled for `user` (created, in `groups`, on first use).
    async fn member(&self, user: &str, groups: &[&str], event_buffer: usize) -> Connected {
        if self.store.user(user).await.expect("user").is_none() {
            let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
            self.store.add_user(user, &groups).await.expect("add");
        }
        let token = self
            .store
            .issue_token(user, Duration::from_secs(60), "")
            .await
            .expect("token");
        let mut config = ClientConfig::new(
            self.url.clone(),
            self.server_key,
            StaticSecret::generate(&mut rand_core::OsRng),
        );
        config.event_buffer = event_buffer;
        let enroll = Enroll {
            user: user.into(),
            token,
            label: String::new(),
        };
        client::enroll(&config, enroll).await.expect("enroll")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_subscribers_each_receive_the_event() {
    let server = serve(1 << 20).await;
    let mut members = Vec::new();
    for _ in 0..1000 {
        let member = server.member("alice", &[], 16).await;
        member
            .subscribe("prices", Overflow::Disconnect)
            .await
            .expect("subscribe");
        members.push(member);
    }
    assert_eq!(server.events.subscribers("prices"), 1000);
    let published = server
        .events
        .publish("prices", &serde_json::json!({"eur": 42}))
        .expect("publish");
    assert_eq!(published.delivered, 1000);
    assert_eq!(published.seq, 1);
    for member in &members {
        let event = tokio::time::timeout(Duration::from_secs(10), member.next_event())
            .await
            .expect("in time")
            .expect("an event");
        assert_eq!(event.topic, "prices");
        assert_eq!(event.seq, 1);
        assert_eq!(event.payload["eur"], 42);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_subscriber_is_disconnected_while_the_others_keep_up() {
    let server = serve(64 * 1024).await;
    // The slow one holds one event and never reads: its session stops reading.
    let slow = server.member("slow", &[], 1).await;
    slow.subscribe("feed", Overflow::Disconnect)
        .await
        .expect("subscribe");
    let fast = server.member("fast", &[], 16).await;
    fast.subscribe("feed", Overflow::Disconnect)
        .await
        .expect("subscribe");

    let payload = "x".repeat(8 * 1024);
    let mut seq = 0;
    while !slow.session.is_closed() {
        let published = server.events.publish("feed", &payload).expect("publish");
        assert!(
            published.seq < 20_000,
            "the slow subscriber was never dropped"
        );
        // The fast one gets every event, in order, and is never dropped.
        let event = tokio::time::timeout(Duration::from_secs(5), fast.next_event())
            .await
            .expect("the fast subscriber keeps up")
            .expect("an event");
        seq += 1;
        assert_eq!(event.seq, seq);
        if published.disconnected == 1 {
            break;
        }
    }
    tokio::time::timeout(Duration::from_secs(5), slow.session.closed())
        .await
        .expect("the slow subscriber's session closes");
    assert_eq!(server.events.slow_disconnects(), 1);
    assert_eq!(server.events.subscribers("feed"), 1);
    assert!(!fast.session.is_closed());
    let published = server.events.publish("feed", &"after").expect("publish");
    assert_eq!(published.delivered, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_chose_counting_is_told_what_it_missed() {
    let server = serve(64 * 1024).await;
    let lagging = server.member("lagging", &[], 1).await;
    lagging
        .subscribe("feed", Overflow::CountMissed)
        .await
        .expect("subscribe");
    let payload = "y".repeat(8 * 1024);
    let mut missed = 0;
    while missed == 0 {
        let published = server.events.publish("feed", &payload).expect("publish");
        assert!(published.seq < 20_000, "never overflowed");
        missed = published.missed;
    }
    // Drain what it queued, then one more event carries the count.
    let mut last_seq = 0;
    let mut told = 0;
    while told == 0 {
        let before = last_seq;
        let event =
            match tokio::time::timeout(Duration::from_millis(500), lagging.next_event()).await {
                Ok(event) => event.expect("an event"),
                Err(_) => {
                    server.events.publish("feed", &"next").expect("publish");
                    continue;
                }
            };
        last_seq = event.seq;
        if event.missed > 0 {
            // The gap in sequence numbers is exactly what it was told.
            assert_eq!(
                event.seq - before - 1,
                event.missed,
                "seq {} after {}",
                event.seq,
                before
            );
            told = event.missed;
        }
    }
    assert!(told >= 1);
    assert!(!lagging.session.is_closed());
    assert_eq!(server.events.slow_disconnects(), 0);
}

#[tokio::test]
async fn topics_outside_the_users_groups_are_refused() {
    let server = serve(1 << 20).await;
    let outsider = server.member("mallory", &[], 16).await;
    let insider = server.member("carol", &["staff"], 16).await;
    match outsider
        .subscribe("secret-plans", Overflow::Disconnect)
        .await
    {
        Err(RpcError::Remote { code, .. }) => assert_eq!(code, TOPIC_NOT_ALLOWED),
        other => panic!("expected a refusal, got {other:?}"),
    }
    insider
        .subscribe("secret-plans", Overflow::Disconnect)
        .await
        .expect("staff may read it");
    outsider
        .subscribe("public", Overflow::Disconnect)
        .await
        .expect("public topics are open");
    let published = server
        .events
        .publish("secret-plans", &"launch")
        .expect("publish");
    assert_eq!(published.delivered, 1);
    let event = insider.next_event().await.expect("event");
    assert_eq!(event.payload, "launch");
}
