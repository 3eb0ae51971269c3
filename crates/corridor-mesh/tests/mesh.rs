//! Real nodes on loopback: a full mesh and broadcast, allowlists, the
//! connection cap before the upgrade, oversized messages, floods, replays,
//! roles (claimed and operator-given), requests and replies, origins,
//! shutdown codes, simultaneous dials and silent peers.

use corridor_mesh::{
    MeshError, MeshEvent, Message, NodeIdentity, PeerInfo, Role, Transport, TransportConfig, codes,
};
use corridor_testkit::{wait_until, within};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::mpsc;

struct Node {
    transport: Transport,
    inbox: mpsc::UnboundedReceiver<(PeerInfo, Message)>,
    url: String,
}

async fn node(name: &str, role: Role, adjust: impl FnOnce(&mut TransportConfig)) -> Node {
    let mut config = TransportConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..TransportConfig::default()
    };
    adjust(&mut config);
    let transport = Transport::new(config, NodeIdentity::generate(name, role));
    let (deliver, inbox) = mpsc::unbounded_channel();
    transport.on_message(move |peer, message| {
        let _ = deliver.send((peer, message));
        async {}
    });
    let addr = transport.start().await.expect("starts");
    Node {
        transport,
        inbox,
        url: format!("ws://{addr}/ws"),
    }
}

async fn next(node: &mut Node) -> (PeerInfo, Message) {
    tokio::time::timeout(Duration::from_secs(10), node.inbox.recv())
        .await
        .expect("a message in time")
        .expect("inbox open")
}

fn message(kind: &str) -> Message {
    Message::new(kind, &json!({"n": 1})).unwrap()
}

async fn disconnected(
    events: &mut tokio::sync::broadcast::Receiver<MeshEvent>,
    peer: &str,
) -> (u16, String, bool) {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("an event in time")
            .expect("events open");
        if let MeshEvent::Disconnected {
            peer: who,
            code,
            reason,
            by_peer,
        } = event
        {
            if who.id == peer {
                return (code, reason, by_peer);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_form_a_full_mesh_and_a_broadcast_reaches_all_but_the_sender() {
    let mut a = node("a", Role::Controller, |_| {}).await;
    let mut b = node("b", Role::Worker, |_| {}).await;
    let mut c = node("c", Role::Worker, |_| {}).await;
    let peer_b = a
        .transport
        .connect(&b.url, Some(b.transport.public_key()))
        .await
        .unwrap();
    assert_eq!(
        (peer_b.id.as_str(), peer_b.name.as_str(), peer_b.role),
        (b.transport.peer_id(), "b", Role::Worker)
    );
    a.transport.connect(&c.url, None).await.unwrap();
    b.transport.connect(&c.url, None).await.unwrap();
    wait_until("a full mesh", || {
        [&a, &b, &c]
            .iter()
            .all(|node| node.transport.connected_peers() == 2)
    })
    .await;
    assert_eq!(a.transport.broadcast(message("hello")).unwrap(), 2);
    for receiver in [&mut b, &mut c] {
        let (from, got) = next(receiver).await;
        assert_eq!((from.name.as_str(), got.kind.as_str()), ("a", "hello"));
        assert_eq!(got.from, a.transport.peer_id());
    }
    // The sender got nothing, and b and c exactly one each.
    b.transport
        .send(a.transport.peer_id(), message("after"))
        .await
        .unwrap();
    assert_eq!(next(&mut a).await.1.kind, "after");
    assert!(b.inbox.try_recv().is_err() && c.inbox.try_recv().is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_allowlist_refuses_an_unknown_key_with_a_reason_the_initiator_reads() {
    let a = node("a", Role::Dual, |_| {}).await;
    let b = node("b", Role::Dual, |_| {}).await;
    b.transport.access().set_allowlist_mode(true);
    let refused = a.transport.connect(&b.url, None).await.unwrap_err();
    assert!(
        refused.to_string().contains("not on the allowlist"),
        "{refused}"
    );
    assert_eq!(b.transport.connected_peers(), 0);
    // Switched at run time: listed, it is admitted.
    b.transport.access().allow(a.transport.public_key());
    a.transport.connect(&b.url, None).await.unwrap();
}

/// An upgrade request by hand; the status line of the answer.
async fn raw_upgrade(url: &str, origin: Option<&str>) -> String {
    let addr = url.trim_start_matches("ws://").trim_end_matches("/ws");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let origin = origin
        .map(|o| format!("Origin: {o}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: corridor.noise\r\n{origin}\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 256];
    let n = stream.read(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer[..n])
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_cap_an_upgrade_gets_503_before_any_handshake() {
    let b = node("b", Role::Dual, |config| config.max_conns = 2).await;
    let (a1, a2) = (
        node("a1", Role::Dual, |_| {}).await,
        node("a2", Role::Dual, |_| {}).await,
    );
    a1.transport.connect(&b.url, None).await.unwrap();
    a2.transport.connect(&b.url, None).await.unwrap();
    assert_eq!(
        raw_upgrade(&b.url, None).await,
        "HTTP/1.1 503 Service Unavailable"
    );
    let a3 = node("a3", Role::Dual, |_| {}).await;
    assert!(a3.transport.connect(&b.url, None).await.is_err());
    assert_eq!(b.transport.stats().get("refused_at_cap"), Some(&2));
    // A place frees when a connection ends.
    a1.transport.stop().await;
    wait_until("a1 gone", || b.transport.connected_peers() == 1).await;
    a3.transport.connect(&b.url, None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_from_other_hosts_are_refused_local_pages_are_not() {
    let b = node("b", Role::Dual, |_| {}).await;
    assert_eq!(
        raw_upgrade(&b.url, Some("https://evil.example")).await,
        "HTTP/1.1 403 Forbidden"
    );
    assert_eq!(
        raw_upgrade(&b.url, Some("http://localhost:3000")).await,
        "HTTP/1.1 101 Switching Protocols"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_message_closes_only_that_connection_with_1002() {
    let a = node("a", Role::Dual, |config| config.max_message_size = 4 << 20).await;
    let mut b = node("b", Role::Dual, |config| config.max_message_size = 64 << 10).await;
    let c = node("c", Role::Dual, |_| {}).await;
    a.transport.connect(&b.url, None).await.unwrap();
    c.transport.connect(&b.url, None).await.unwrap();
    let mut events = b.transport.events();
    let big = Message::new("blob", &"x".repeat(1 << 20)).unwrap();
    a.transport.send(b.transport.peer_id(), big).await.unwrap();
    let (code, reason, by_peer) = disconnected(&mut events, a.transport.peer_id()).await;
    assert_eq!((code, by_peer), (codes::PROTOCOL_ERROR, false), "{reason}");
    // c is still connected and heard.
    c.transport
        .send(b.transport.peer_id(), message("still"))
        .await
        .unwrap();
    assert_eq!(next(&mut b).await.1.kind, "still");
    assert_eq!(b.transport.connected_peers(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_rate_limited_and_the_node_still_hears_others() {
    let a = node("a", Role::Dual, |_| {}).await;
    let mut b = node("b", Role::Dual, |_| {}).await;
    let c = node("c", Role::Dual, |_| {}).await;
    a.transport.connect(&b.url, None).await.unwrap();
    c.transport.connect(&b.url, None).await.unwrap();
    let started = std::time::Instant::now();
    let target = b.transport.peer_id();
    for _ in 0..10_000 {
        let _ = a.transport.send(target, message("flood")).await;
    }
    c.transport.send(target, message("from c")).await.unwrap();
    let mut flood = 0;
    loop {
        let (from, got) = next(&mut b).await;
        if from.name == "c" {
            assert_eq!(got.kind, "from c");
            break;
        }
        flood += 1;
    }
    let allowed = 100.0 + 50.0 * started.elapsed().as_secs_f64() + 1.0;
    assert!(
        flood as f64 <= allowed,
        "{flood} delivered, at most {allowed} allowed"
    );
    assert!(flood >= 50, "the burst gets through: {flood}");
    assert!(
        b.transport
            .stats()
            .get("dropped_rate_limited")
            .copied()
            .unwrap_or(0)
            > 0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_message_id_is_delivered_once() {
    let a = node("a", Role::Dual, |_| {}).await;
    let mut b = node("b", Role::Dual, |_| {}).await;
    a.transport.connect(&b.url, None).await.unwrap();
    let once = message("once");
    let target = b.transport.peer_id();
    a.transport.send(target, once.clone()).await.unwrap();
    a.transport.send(target, once.clone()).await.unwrap();
    a.transport.send(target, message("marker")).await.unwrap();
    // Handlers run concurrently: the two arrive in either order.
    let mut kinds = [next(&mut b).await.1.kind, next(&mut b).await.1.kind];
    kinds.sort();
    assert_eq!(kinds, ["marker", "once"]);
    wait_until("the repeat counted", || {
        b.transport.stats().get("dropped_duplicate") == Some(&1)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workers_order_is_refused_a_controllers_is_carried_out() {
    let worker = node("w", Role::Worker, |_| {}).await;
    let controller = node("c", Role::Controller, |_| {}).await;
    let mut target = node("t", Role::Dual, |_| {}).await;
    worker.transport.connect(&target.url, None).await.unwrap();
    controller
        .transport
        .connect(&target.url, None)
        .await
        .unwrap();
    let id = target.transport.peer_id();
    worker
        .transport
        .send(id, message("order.run"))
        .await
        .unwrap();
    worker.transport.send(id, message("status")).await.unwrap();
    controller
        .transport
        .send(id, message("order.run"))
        .await
        .unwrap();
    let mut got = [next(&mut target).await, next(&mut target).await];
    got.sort_by(|x, y| x.0.name.cmp(&y.0.name));
    assert_eq!(
        got.iter()
            .map(|(p, m)| (p.name.as_str(), m.kind.as_str()))
            .collect::<Vec<_>>(),
        [("c", "order.run"), ("w", "status")]
    );
    // Handlers run concurrently: the refused one may be judged last.
    wait_until("the order counted as refused", || {
        target.transport.stats().get("dropped_unauthorized") == Some(&1)
    })
    .await;
    assert!(
        target.inbox.try_recv().is_err(),
        "the worker's order never arrives"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_the_operator_gave_outranks_the_one_a_peer_claims() {
    let liar = node("liar", Role::Controller, |_| {}).await;
    let mut target = node("t", Role::Dual, |_| {}).await;
    target
        .transport
        .access()
        .assign_role(&liar.transport.public_key(), Some(Role::Worker));
    let peer = liar.transport.connect(&target.url, None).await.unwrap();
    let id = target.transport.peer_id();
    assert_eq!(peer.role, Role::Dual, "no role given: the claim stands");
    liar.transport.send(id, message("order.run")).await.unwrap();
    liar.transport.send(id, message("status")).await.unwrap();
    let (from, got) = next(&mut target).await;
    assert_eq!(got.kind, "status");
    assert_eq!(
        (from.role, from.claimed_role),
        (Role::Worker, Role::Controller)
    );
    wait_until("the order counted as refused", || {
        target.transport.stats().get("dropped_unauthorized") == Some(&1)
    })
    .await;
    assert!(target.inbox.try_recv().is_err(), "the order never arrives");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_gets_its_reply_and_the_handler_does_not() {
    let mut asker = node("asker", Role::Dual, |_| {}).await;
    let silent = node("silent", Role::Dual, |_| {}).await;
    let config = TransportConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..TransportConfig::default()
    };
    let answerer = Transport::new(config, NodeIdentity::generate("answerer", Role::Dual));
    let replier = answerer.clone();
    answerer.on_message(move |peer, question| {
        let replier = replier.clone();
        async move {
            let answer = question.reply("pong", &question.payload).unwrap();
            let _ = replier.send(&peer.id, answer).await;
        }
    });
    let addr = answerer.start().await.unwrap();
    let answerer_id = asker
        .transport
        .connect(&format!("ws://{addr}/ws"), None)
        .await
        .unwrap()
        .id;
    let question = Message::new("ping", &json!({"n": 7})).unwrap();
    let question_id = question.id.clone();
    let answer = asker
        .transport
        .request(&answerer_id, question, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(answer.kind, "pong");
    assert_eq!(answer.reply_to, Some(question_id));
    assert_eq!(answer.payload, json!({"n": 7}));
    assert!(
        asker.inbox.try_recv().is_err(),
        "the reply went to the request"
    );
    // A peer that never answers: the request gives up at its timeout.
    let silent_id = asker.transport.connect(&silent.url, None).await.unwrap().id;
    let unanswered = asker
        .transport
        .request(&silent_id, message("ping"), Duration::from_millis(200))
        .await;
    assert!(
        matches!(unanswered, Err(MeshError::NoReply(_))),
        "{unanswered:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_tells_every_peer_1004() {
    let a = node("a", Role::Dual, |_| {}).await;
    let b = node("b", Role::Dual, |_| {}).await;
    let c = node("c", Role::Dual, |_| {}).await;
    a.transport.connect(&b.url, None).await.unwrap();
    a.transport.connect(&c.url, None).await.unwrap();
    let (mut from_b, mut from_c) = (b.transport.events(), c.transport.events());
    a.transport.stop().await;
    for events in [&mut from_b, &mut from_c] {
        let (code, reason, by_peer) = disconnected(events, a.transport.peer_id()).await;
        assert_eq!(
            (code, reason.as_str(), by_peer),
            (codes::SHUTDOWN, "shutting down", true)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_dialling_each_other_at_once_end_with_one_connection() {
    for _ in 0..5 {
        let mut a = node("a", Role::Dual, |_| {}).await;
        let b = node("b", Role::Dual, |_| {}).await;
        let (ab, ba) = within(
            "both dials",
            futures_util::future::join(
                a.transport.connect(&b.url, None),
                b.transport.connect(&a.url, None),
            ),
        )
        .await;
        assert!(ab.is_ok() || ba.is_ok(), "{ab:?} {ba:?}");
        // Settled: each side holds one connection, the same one (outbound
        // on one side, inbound on the other), dialled by the node with the
        // smaller peer id.
        let a_dialled = a.transport.peer_id() < b.transport.peer_id();
        wait_until("the same single connection on both sides", || {
            let (on_a, on_b) = (a.transport.connections(), b.transport.connections());
            on_a.len() == 1
                && on_b.len() == 1
                && on_a[0].peer.outbound == a_dialled
                && on_b[0].peer.outbound != a_dialled
        })
        .await;
        // Both kept the same one: it carries a message.
        within(
            "the send",
            b.transport
                .send(a.transport.peer_id(), message("over the survivor")),
        )
        .await
        .unwrap();
        assert_eq!(next(&mut a).await.1.kind, "over the survivor");
        within("a to stop", a.transport.stop()).await;
        within("b to stop", b.transport.stop()).await;
    }
}

/// A TCP hop that holds each connection it accepts (`accepted` is
/// notified) until `open` is notified, then passes it on to `target`.
async fn gated_hop(target: &str) -> (String, Arc<tokio::sync::Notify>, Arc<tokio::sync::Notify>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (accepted, open) = (
        Arc::new(tokio::sync::Notify::new()),
        Arc::new(tokio::sync::Notify::new()),
    );
    let (target, on_accept, gate) = (target.to_owned(), accepted.clone(), open.clone());
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            on_accept.notify_one();
            gate.notified().await;
            let mut outbound = tokio::net::TcpStream::connect(&target).await.unwrap();
            tokio::spawn(async move {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            });
        }
    });
    (format!("ws://{addr}/ws"), accepted, open)
}

/// A dial still under way when its node stops ends with the stop: once
/// done it is told 1004 and closed like the node's other connections,
/// not left open on a stopped node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dial_that_completes_as_its_node_stops_is_closed_too() {
    let a = node("a", Role::Dual, |_| {}).await;
    let b = node("b", Role::Dual, |_| {}).await;
    let target = a.url.trim_start_matches("ws://").trim_end_matches("/ws");
    let (via_gate, accepted, open) = gated_hop(target).await;
    let mut events = a.transport.events();
    let dialler = b.transport.clone();
    let dial = tokio::spawn(async move { dialler.connect(&via_gate, None).await });
    accepted.notified().await;
    within("b to stop", b.transport.stop()).await;
    open.notify_one();
    within("the late dial", dial).await.unwrap().unwrap();
    let (code, _, by_peer) = disconnected(&mut events, b.transport.peer_id()).await;
    assert_eq!((code, by_peer), (codes::SHUTDOWN, true));
    wait_until("b to hold no connection", || {
        b.transport.connected_peers() == 0
    })
    .await;
}

/// A TCP hop that can stop forwarding while keeping both sockets open: a
/// peer gone silent without closing.
async fn freezable_hop(target: &str) -> (String, Arc<AtomicBool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let frozen = Arc::new(AtomicBool::new(false));
    let (target, flag) = (target.to_owned(), frozen.clone());
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let outbound = tokio::net::TcpStream::connect(&target).await.unwrap();
            let (in_read, in_write) = inbound.into_split();
            let (out_read, out_write) = outbound.into_split();
            for (mut from, mut to, flag) in [
                (
                    Box::new(in_read) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
                    Box::new(out_write) as Box<dyn tokio::io::AsyncWrite + Unpin + Send>,
                    flag.clone(),
                ),
                (Box::new(out_read), Box::new(in_write), flag.clone()),
            ] {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        let Ok(n) = from.read(&mut buf).await else {
                            return;
                        };
                        if n == 0 || flag.load(Ordering::SeqCst) {
                            // Frozen: hold the sockets, pass nothing on.
                            std::future::pending::<()>().await;
                        }
                        if to.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        }
    });
    (format!("ws://{addr}/ws"), frozen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_peer_is_dropped_after_ping_interval_and_pong_timeout() {
    let quick = |config: &mut TransportConfig| {
        config.ping_interval = Duration::from_millis(200);
        config.pong_timeout = Duration::from_millis(300);
    };
    let a = node("a", Role::Dual, quick).await;
    let b = node("b", Role::Dual, quick).await;
    let target = b
        .url
        .trim_start_matches("ws://")
        .trim_end_matches("/ws")
        .to_owned();
    let (via_hop, frozen) = freezable_hop(&target).await;
    a.transport.connect(&via_hop, None).await.unwrap();
    let mut events = a.transport.events();
    frozen.store(true, Ordering::SeqCst);
    let started = std::time::Instant::now();
    let (code, _, by_peer) = disconnected(&mut events, b.transport.peer_id()).await;
    assert_eq!((code, by_peer), (codes::TIMEOUT, false));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(a.transport.connected_peers(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_sender_is_slowed_down_not_thinned_out() {
    let a = node("a", Role::Dual, |_| {}).await;
    let no_limit = |config: &mut TransportConfig| {
        config.rate_per_second = u32::MAX;
        config.rate_burst = u32::MAX;
    };
    let mut config = TransportConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..TransportConfig::default()
    };
    no_limit(&mut config);
    let b = Transport::new(config, NodeIdentity::generate("b", Role::Dual));
    // Every handler waits at a gate: the receiving queue fills up.
    let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (gate, gate_open) = tokio::sync::watch::channel(false);
    let (deliver, mut inbox) = mpsc::unbounded_channel();
    let counter = started.clone();
    b.on_message(move |_, message| {
        counter.fetch_add(1, Ordering::SeqCst);
        let (mut gate_open, deliver) = (gate_open.clone(), deliver.clone());
        async move {
            let _ = gate_open.wait_for(|open| *open).await;
            let _ = deliver.send(message);
        }
    });
    let addr = b.start().await.unwrap();
    a.transport
        .connect(&format!("ws://{addr}/ws"), None)
        .await
        .unwrap();
    let (sender, target) = (a.transport.clone(), b.peer_id().to_owned());
    let sending = tokio::spawn(async move {
        for _ in 0..2000 {
            sender.send(&target, message("many")).await.unwrap();
        }
    });
    wait_until("the handlers' queue is full", || {
        started.load(Ordering::SeqCst) >= 128
    })
    .await;
    let _ = gate.send(true);
    sending.await.unwrap();
    for n in 0..2000 {
        tokio::time::timeout(Duration::from_secs(10), inbox.recv())
            .await
            .unwrap_or_else(|_| panic!("message {n} of 2000 arrives"));
    }
}

/// A TCP hop that flips one bit of the first byte it forwards after
/// `armed` is set: a tampered record on the wire.
async fn tampering_hop(target: &str) -> (String, Arc<AtomicBool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let armed = Arc::new(AtomicBool::new(false));
    let (target, flag) = (target.to_owned(), armed.clone());
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let outbound = tokio::net::TcpStream::connect(&target).await.unwrap();
            let (mut in_read, in_write) = inbound.into_split();
            let (out_read, mut out_write) = outbound.into_split();
            let flag = flag.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    let Ok(n) = in_read.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    if flag.swap(false, Ordering::SeqCst) {
                        buf[n - 1] ^= 0x01;
                    }
                    if out_write.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
            tokio::spawn(async move {
                let (mut from, mut to) = (out_read, in_write);
                let _ = tokio::io::copy(&mut from, &mut to).await;
            });
        }
    });
    (format!("ws://{addr}/ws"), armed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_frame_kills_the_connection_and_nothing_is_delivered() {
    let a = node("a", Role::Dual, |_| {}).await;
    let mut b = node("b", Role::Dual, |_| {}).await;
    let target = b
        .url
        .trim_start_matches("ws://")
        .trim_end_matches("/ws")
        .to_owned();
    let (via_hop, armed) = tampering_hop(&target).await;
    a.transport.connect(&via_hop, None).await.unwrap();
    let mut events = b.transport.events();
    armed.store(true, Ordering::SeqCst);
    let _ = a
        .transport
        .send(b.transport.peer_id(), message("tampered"))
        .await;
    disconnected(&mut events, a.transport.peer_id()).await;
    assert!(
        b.inbox.try_recv().is_err(),
        "the tampered message was not delivered"
    );
    assert_eq!(b.transport.connected_peers(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_talk_over_wss_with_a_pinned_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let made =
        corridor::tls::load_or_create_self_signed(dir.path(), &["localhost".into()]).unwrap();
    let files = made.files.clone();
    let mut b = node("b", Role::Dual, |config| config.tls = Some(files)).await;
    let pin = made.pin.clone();
    let a = node("a", Role::Dual, |config| {
        config.tls_client = Some(corridor::tls::client_config(&pin).unwrap());
    })
    .await;
    let port = b.transport.local_addr().unwrap().port();
    a.transport
        .connect(
            &format!("wss://localhost:{port}/ws"),
            Some(b.transport.public_key()),
        )
        .await
        .unwrap();
    a.transport
        .send(b.transport.peer_id(), message("over tls"))
        .await
        .unwrap();
    assert_eq!(next(&mut b).await.1.kind, "over tls");
    // Plain ws:// to a TLS port gets nowhere.
    let c = node("c", Role::Dual, |_| {}).await;
    assert!(
        c.transport
            .connect(&format!("ws://localhost:{port}/ws"), None)
            .await
            .is_err()
    );
    // Nor does a client pinning another key.
    let other = tempfile::tempdir().unwrap();
    let other_pin = corridor::tls::load_or_create_self_signed(other.path(), &["localhost".into()])
        .unwrap()
        .pin;
    let d = node("d", Role::Dual, |config| {
        config.tls_client = Some(corridor::tls::client_config(&other_pin).unwrap());
    })
    .await;
    assert!(
        d.transport
            .connect(&format!("wss://localhost:{port}/ws"), None)
            .await
            .is_err()
    );
}
