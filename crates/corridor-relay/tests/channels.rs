//! Channel behaviour: pairing, buffering before pairing, forwarding limits,
//! backpressure, replacement, deadlines and shutdown, each ending with the
//! named close reason on the endpoints it concerns.

mod support;

use corridor_core::Role;
use corridor_relay::Limits;
use futures_util::{SinkExt as _, StreamExt as _};
use std::sync::Arc;
use std::time::Duration;
use support::*;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

fn close_pair(reason: &str, code: u16) -> (u16, String) {
    (code, reason.to_owned())
}

#[tokio::test]
async fn frames_sent_before_pairing_arrive_in_order_and_both_ways_work() {
    let relay = TestRelay::start().await;
    let mut client = raw_attach(&relay, "ch", Role::Client).await;
    for i in 0..3u8 {
        client
            .send(Message::binary(vec![i; 10]))
            .await
            .expect("send");
    }
    let mut server = raw_attach(&relay, "ch", Role::Server).await;
    for i in 0..3u8 {
        assert_eq!(next_binary(&mut server).await, vec![i; 10]);
    }
    server
        .send(Message::binary(b"pong".to_vec()))
        .await
        .expect("send");
    assert_eq!(next_binary(&mut client).await, b"pong");
    assert_eq!(relay.handle.channel_count(), 1);
    assert_eq!(
        metric(&relay, "flowersec_tunnel_pair_latency_seconds_count", ""),
        1.0
    );
}

#[tokio::test]
async fn frame_over_the_record_limit_closes_the_channel_with_record_too_large() {
    let relay = TestRelay::start_with(|c| c.limits.max_record_bytes = 64 * 1024).await;
    let mut server = raw_attach(&relay, "ch", Role::Server).await;
    let mut client = raw_attach(&relay, "ch", Role::Client).await;
    client
        .send(Message::binary(vec![1; 1000]))
        .await
        .expect("send");
    assert_eq!(next_binary(&mut server).await.len(), 1000);
    let _ = client.send(Message::binary(vec![2; 100 * 1024])).await;
    assert_eq!(
        expect_close(&mut server).await,
        close_pair("record_too_large", 1009)
    );
    assert_eq!(
        metric(&relay, "flowersec_tunnel_close_total", "record_too_large"),
        1.0
    );
    assert_relay_serves(&relay).await;
}

#[tokio::test]
async fn text_after_attach_closes_the_channel_with_non_binary_frame() {
    let relay = TestRelay::start().await;
    let mut server = raw_attach(&relay, "ch", Role::Server).await;
    let mut client = raw_attach(&relay, "ch", Role::Client).await;
    client
        .send(Message::binary(vec![1; 8]))
        .await
        .expect("send");
    assert_eq!(next_binary(&mut server).await.len(), 8);
    client
        .send(Message::text("not a record"))
        .await
        .expect("send");
    assert_eq!(
        expect_close(&mut server).await,
        close_pair("non_binary_frame", 1002)
    );
    assert_eq!(
        expect_close(&mut client).await,
        close_pair("non_binary_frame", 1002)
    );
}

/// Attaches a pair whose server never reads, writes from the client until
/// the relay stops taking data, checks the channel then closes with
/// `write_error` (not `resource_exhausted`), and returns the bytes the relay
/// held while stalled.
async fn stall_behind_a_reader_that_never_reads(adjust: impl FnOnce(&mut Limits)) -> f64 {
    let relay = TestRelay::start_with(|c| {
        c.limits.max_record_bytes = 64 * 1024;
        c.limits.write_timeout = Duration::from_secs(1);
        adjust(&mut c.limits);
    })
    .await;
    let mut server = raw_attach(&relay, "ch", Role::Server).await;
    let mut client = raw_attach(&relay, "ch", Role::Client).await;
    client
        .send(Message::binary(vec![0; 16]))
        .await
        .expect("send");
    assert_eq!(next_binary(&mut server).await.len(), 16);
    // The server stops reading. The client writes until the relay stops taking data.
    let frame = vec![7u8; 64 * 1024];
    let mut sent = 0usize;
    loop {
        let send = client.send(Message::binary(frame.clone()));
        match tokio::time::timeout(Duration::from_millis(500), send).await {
            Ok(Ok(())) => sent += frame.len(),
            // Socket buffers alone take more than 1 MiB on loopback: a pause
            // before that is a slow machine, not backpressure.
            Err(_) if sent < 1024 * 1024 => continue,
            Ok(Err(_)) | Err(_) => break,
        }
        assert!(
            sent < 256 * 1024 * 1024,
            "relay kept accepting: no backpressure"
        );
    }
    let queued = metric(&relay, "flowersec_tunnel_queued_bytes", "");
    // The stalled write times out and the channel closes with write_error,
    // while the server is still connected (it just never reads).
    assert_eq!(
        expect_close(&mut client).await,
        close_pair("write_error", 1011)
    );
    assert_eq!(
        metric(&relay, "flowersec_tunnel_close_total", "write_error"),
        1.0
    );
    drop(server);
    wait_until("channel removed", || relay.handle.channel_count() == 0).await;
    assert_eq!(metric(&relay, "flowersec_tunnel_queued_bytes", ""), 0.0);
    assert_relay_serves(&relay).await;
    queued
}

#[tokio::test]
async fn a_reader_that_never_reads_stalls_its_sender_at_the_write_queue_bound() {
    let queued = stall_behind_a_reader_that_never_reads(|limits| {
        limits.max_write_queue_bytes = 192 * 1024;
    })
    .await;
    // The relay read ahead until the write queue was full, then stopped: it
    // holds the queue (plus at most the record that crossed the bound), not
    // what was sent.
    assert!(
        (192.0 * 1024.0..256.0 * 1024.0).contains(&queued),
        "relay queued {queued} bytes"
    );
}

#[tokio::test]
async fn reading_ahead_stops_short_of_the_global_budget() {
    // A 1 MiB write queue but a 320 KiB relay-wide budget: reading ahead stops
    // while another record still fits, instead of spending the budget and
    // closing the channel with resource_exhausted.
    let queued = stall_behind_a_reader_that_never_reads(|limits| {
        limits.max_write_queue_bytes = 1024 * 1024;
        limits.max_total_queued_bytes = 320 * 1024;
    })
    .await;
    assert!(
        (256.0 * 1024.0..=320.0 * 1024.0).contains(&queued),
        "relay queued {queued} bytes"
    );
}

#[tokio::test]
async fn same_role_attach_replaces_the_channel_and_is_rate_limited() {
    let relay = TestRelay::start_with(|c| c.limits.max_replaces_per_window = 1).await;
    let mut server = raw_attach(&relay, "ch", Role::Server).await;
    let mut client = raw_attach(&relay, "ch", Role::Client).await;
    client.send(Message::binary(vec![1])).await.expect("send");
    assert_eq!(next_binary(&mut server).await, vec![1]);

    let mut server2 = raw_attach(&relay, "ch", Role::Server).await;
    assert_eq!(
        expect_close(&mut server).await,
        close_pair("replaced", 1001)
    );
    assert_eq!(
        expect_close(&mut client).await,
        close_pair("replaced", 1001)
    );
    let mut client2 = raw_attach(&relay, "ch", Role::Client).await;
    client2.send(Message::binary(vec![2])).await.expect("send");
    assert_eq!(next_binary(&mut server2).await, vec![2]);

    let mut server3 = raw_attach(&relay, "ch", Role::Server).await;
    assert_eq!(
        expect_close(&mut server3).await,
        close_pair("replace_rate_limited", 1013)
    );
    assert_eq!(
        metric(&relay, "flowersec_tunnel_replace_total", "rate_limited"),
        1.0
    );
    // The rate-limited attach left the channel alone.
    client2.send(Message::binary(vec![3])).await.expect("send");
    assert_eq!(next_binary(&mut server2).await, vec![3]);
}

#[tokio::test]
async fn endpoints_must_agree_on_init_exp_and_idle_timeout() {
    let relay = TestRelay::start().await;
    let _server = raw_attach(&relay, "ch", Role::Server).await;
    let mut claims = relay.claims("ch", Role::Client);
    claims.init_exp += 1;
    let mut ws = raw_connect(&relay).await;
    let text = attach_json("ch", Role::Client, &relay.sign(claims));
    ws.send(Message::text(text)).await.expect("send");
    assert_eq!(
        expect_close(&mut ws).await,
        close_pair("init_exp_mismatch", 1008)
    );

    let mut claims = relay.claims("ch", Role::Client);
    claims.idle_timeout_seconds = 61;
    let mut ws = raw_connect(&relay).await;
    let text = attach_json("ch", Role::Client, &relay.sign(claims));
    ws.send(Message::text(text)).await.expect("send");
    assert_eq!(
        expect_close(&mut ws).await,
        close_pair("idle_timeout_mismatch", 1008)
    );
}

#[tokio::test]
async fn silent_channel_closes_at_the_idle_timeout() {
    let relay = TestRelay::start().await;
    let attach = |role| {
        let mut claims = relay.claims("ch", role);
        claims.idle_timeout_seconds = 1;
        (role, relay.sign(claims))
    };
    let (s_role, s_token) = attach(Role::Server);
    let (c_role, c_token) = attach(Role::Client);
    let mut server = raw_connect(&relay).await;
    server
        .send(Message::text(attach_json("ch", s_role, &s_token)))
        .await
        .expect("send");
    let mut client = raw_connect(&relay).await;
    client
        .send(Message::text(attach_json("ch", c_role, &c_token)))
        .await
        .expect("send");
    let started = std::time::Instant::now();
    assert_eq!(
        expect_close(&mut client).await,
        close_pair("idle_timeout", 1008)
    );
    assert_eq!(
        expect_close(&mut server).await,
        close_pair("idle_timeout", 1008)
    );
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn channel_without_an_encrypted_record_closes_at_init_exp() {
    // The relay's clock reads 100 ms before the init deadline (the Unix
    // second after init_exp + skew), so nothing waits for wall-clock seconds.
    let init_exp = now() + 60;
    let skew = 1;
    let deadline = std::time::UNIX_EPOCH + Duration::from_secs((init_exp + skew + 1) as u64);
    let clock = Arc::new(corridor::clock::ManualClock::new(
        deadline - Duration::from_millis(100),
    ));
    let relay_clock = clock.clone();
    let relay = TestRelay::start_with(move |c| {
        c.limits.clock_skew = Duration::from_secs(skew as u64);
        c.clock = relay_clock;
    })
    .await;
    let token = |channel: &str, role: Role| {
        let mut claims = relay.claims(channel, role);
        (claims.iat, claims.exp, claims.init_exp) = (init_exp - 5, init_exp, init_exp);
        relay.sign(claims)
    };
    // The sealed channel starts first, so its deadline is the earlier one.
    let mut sealed = Vec::new();
    for role in [Role::Server, Role::Client] {
        let mut ws = raw_connect(&relay).await;
        ws.send(Message::text(attach_json(
            "sealed",
            role,
            &token("sealed", role),
        )))
        .await
        .expect("send");
        sealed.push(ws);
    }
    sealed[1]
        .send(Message::binary(fsec_like_record(0, b"ciphertext")))
        .await
        .expect("send");
    assert_eq!(
        next_binary(&mut sealed[0]).await,
        fsec_like_record(0, b"ciphertext")
    );
    // Only handshake-like traffic on "plain".
    let mut plain = Vec::new();
    for role in [Role::Server, Role::Client] {
        let mut ws = raw_connect(&relay).await;
        ws.send(Message::text(attach_json(
            "plain",
            role,
            &token("plain", role),
        )))
        .await
        .expect("send");
        plain.push(ws);
    }
    plain[1]
        .send(Message::binary(b"FSEH-not-a-record".to_vec()))
        .await
        .expect("send");
    assert_eq!(
        expect_close(&mut plain[1]).await,
        close_pair("init_expired", 1008)
    );
    // The plain channel's deadline came after the sealed one's: the sealed
    // channel is past init_exp + skew, and carries on.
    sealed[1]
        .send(Message::binary(b"later".to_vec()))
        .await
        .expect("send");
    assert_eq!(next_binary(&mut sealed[0]).await, b"later");
    assert_eq!(metric(&relay, "flowersec_tunnel_encrypted_total", ""), 1.0);
}

#[tokio::test]
async fn lone_endpoint_that_sends_too_much_closes_with_pending_overflow() {
    let relay = TestRelay::start_with(|c| c.limits.max_pending_bytes = 1024).await;
    let mut client = raw_attach(&relay, "ch", Role::Client).await;
    client
        .send(Message::binary(vec![0; 800]))
        .await
        .expect("send");
    client
        .send(Message::binary(vec![0; 800]))
        .await
        .expect("send");
    assert_eq!(
        expect_close(&mut client).await,
        close_pair("pending_overflow", 1013)
    );
    wait_until("channel removed", || relay.handle.channel_count() == 0).await;
    assert_eq!(metric(&relay, "flowersec_tunnel_queued_bytes", ""), 0.0);
}

#[tokio::test]
async fn peer_leaving_closes_the_other_side_with_peer_closed() {
    let relay = TestRelay::start().await;
    let mut server = raw_attach(&relay, "ch", Role::Server).await;
    let mut client = raw_attach(&relay, "ch", Role::Client).await;
    client.send(Message::binary(vec![1])).await.expect("send");
    assert_eq!(next_binary(&mut server).await, vec![1]);
    client.close(None).await.expect("client closes");
    assert_eq!(
        expect_close(&mut server).await,
        close_pair("peer_closed", 1000)
    );
    wait_until("channel removed", || relay.handle.channel_count() == 0).await;
    // The channel id is free again.
    let mut server = raw_attach(&relay, "ch", Role::Server).await;
    let mut client = raw_attach(&relay, "ch", Role::Client).await;
    client.send(Message::binary(vec![2])).await.expect("send");
    assert_eq!(next_binary(&mut server).await, vec![2]);
}

#[tokio::test]
async fn shutdown_closes_every_endpoint_with_going_away() {
    let relay = TestRelay::start().await;
    let mut lone = raw_attach(&relay, "lone", Role::Server).await;
    let mut server = raw_attach(&relay, "ch", Role::Server).await;
    let mut client = raw_attach(&relay, "ch", Role::Client).await;
    client.send(Message::binary(vec![1])).await.expect("send");
    assert_eq!(next_binary(&mut server).await, vec![1]);
    relay.handle.shutdown();
    for ws in [&mut lone, &mut server, &mut client] {
        assert_eq!(expect_close(ws).await, close_pair("shutdown", 1001));
    }
    let _ = client.next().await;
}

#[tokio::test]
async fn a_quiet_channel_gives_back_its_buffers_and_still_forwards() {
    let relay =
        TestRelay::start_with(|c| c.limits.compact_after = Duration::from_millis(100)).await;
    let mut server = raw_attach(&relay, "ch", Role::Server).await;
    let mut client = raw_attach(&relay, "ch", Role::Client).await;
    // A burst each way grows tungstenite's buffers on both connections.
    let burst = fsec_like_record(0, &vec![7u8; 64 * 1024]);
    client
        .send(Message::binary(burst.clone()))
        .await
        .expect("send");
    assert_eq!(next_binary(&mut server).await, burst);
    server
        .send(Message::binary(burst.clone()))
        .await
        .expect("send");
    assert_eq!(next_binary(&mut client).await, burst);
    // Quiet: both connections are rebuilt with small buffers.
    wait_until("both connections compacted", || {
        metric(&relay, "corridor_relay_compactions_total", "") >= 2.0
    })
    .await;
    // A message split into fragments, with a quiet pause in the middle: the
    // client's connection holds half a message, so only the server's is
    // rebuilt; the message then arrives whole.
    let first_half = vec![1u8; 1000];
    let second_half = vec![2u8; 1000];
    // A whole message first, so the quiet that follows counts as after traffic.
    client
        .send(Message::binary(b"wake".to_vec()))
        .await
        .expect("send");
    assert_eq!(next_binary(&mut server).await, b"wake");
    client
        .send(Message::Frame(Frame::message(
            first_half.clone(),
            OpCode::Data(Data::Binary),
            false,
        )))
        .await
        .expect("first fragment");
    wait_until("the server side compacted again", || {
        metric(&relay, "corridor_relay_compactions_total", "") >= 3.0
    })
    .await;
    client
        .send(Message::Frame(Frame::message(
            second_half.clone(),
            OpCode::Data(Data::Continue),
            true,
        )))
        .await
        .expect("last fragment");
    assert_eq!(
        next_binary(&mut server).await,
        [first_half, second_half].concat()
    );
    assert_eq!(
        metric(&relay, "corridor_relay_compactions_total", ""),
        3.0,
        "the connection holding half a message was left alone"
    );
    // Nothing was lost or reordered, and the channel carries on both ways.
    for round in 0..3u8 {
        let message = vec![round; 100_000];
        client
            .send(Message::binary(message.clone()))
            .await
            .expect("send");
        assert_eq!(next_binary(&mut server).await, message);
        server
            .send(Message::binary(message.clone()))
            .await
            .expect("send");
        assert_eq!(next_binary(&mut client).await, message);
    }
    assert_eq!(relay.handle.channel_count(), 1);
}

#[tokio::test]
async fn waiting_endpoints_that_outgrow_the_global_budget_close_with_resource_exhausted() {
    // Each lone endpoint may buffer 64 KiB, but the relay as a whole only
    // 96 KiB: the second waiting endpoint that pushes past it is closed,
    // and the first keeps its channel.
    let relay = TestRelay::start_with(|c| {
        c.limits.max_pending_bytes = 64 * 1024;
        c.limits.max_total_queued_bytes = 96 * 1024;
    })
    .await;
    let mut first = raw_attach(&relay, "first", Role::Client).await;
    first
        .send(Message::binary(vec![1; 60 * 1024]))
        .await
        .expect("send");
    wait_until("first frame buffered", || {
        metric(&relay, "flowersec_tunnel_queued_bytes", "") == (60 * 1024) as f64
    })
    .await;
    let mut second = raw_attach(&relay, "second", Role::Client).await;
    second
        .send(Message::binary(vec![2; 20 * 1024]))
        .await
        .expect("send");
    second
        .send(Message::binary(vec![2; 20 * 1024]))
        .await
        .expect("send");
    assert_eq!(
        expect_close(&mut second).await,
        close_pair("resource_exhausted", 1013)
    );
    assert_eq!(
        metric(&relay, "flowersec_tunnel_resource_exhausted_total", ""),
        1.0
    );
    // What the closed endpoint held is given back; the first still pairs
    // and receives what it was waiting with.
    assert_eq!(
        metric(&relay, "flowersec_tunnel_queued_bytes", ""),
        (60 * 1024) as f64
    );
    let mut server = raw_attach(&relay, "first", Role::Server).await;
    assert_eq!(next_binary(&mut server).await, vec![1; 60 * 1024]);
}
