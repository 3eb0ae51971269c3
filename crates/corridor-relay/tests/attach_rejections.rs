//! Every way an attach can be wrong closes that one connection with
//! flowersec v1's close code and reason, counts once in
//! `flowersec_tunnel_attach_total`, and leaves the relay serving others.

mod support;

use corridor_core::Role;
use corridor_core::token;
use futures_util::{SinkExt as _, StreamExt as _};
use std::time::Duration;
use support::*;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// Sends `first` as the first message and asserts the close it earns.
async fn assert_refused(relay: &TestRelay, first: Message, code: u16, reason: &str) {
    assert_refused_counted_as(relay, first, (code, reason), reason).await;
}

/// [`assert_refused`] where the metric label differs from the close reason.
async fn assert_refused_counted_as(
    relay: &TestRelay,
    first: Message,
    (code, reason): (u16, &str),
    label: &str,
) {
    let mut ws = raw_connect(relay).await;
    ws.send(first).await.expect("send first message");
    assert_eq!(expect_close(&mut ws).await, (code, reason.to_owned()));
    let label = format!("reason=\"{label}\"");
    assert!(
        metric(relay, "flowersec_tunnel_attach_total", &label) >= 1.0,
        "attach_total counts {label}"
    );
    assert_relay_serves(relay).await;
}

/// The token with the last character of its signature changed.
fn with_bad_signature(mut token: String) -> String {
    let last = token.pop().expect("token not empty");
    token.push(if last == 'A' { 'B' } else { 'A' });
    token
}

fn text_attach(relay: &TestRelay, claims: token::Claims) -> Message {
    let channel = claims.channel_id.clone();
    let role = claims.role;
    Message::text(attach_json(&channel, role, &relay.sign(claims)))
}

#[tokio::test]
async fn binary_first_message_is_refused_with_expected_attach() {
    let relay = TestRelay::start().await;
    assert_refused(
        &relay,
        Message::binary(b"{}".to_vec()),
        1002,
        "expected_attach",
    )
    .await;
}

#[tokio::test]
async fn non_json_attach_is_refused_with_invalid_attach() {
    let relay = TestRelay::start().await;
    assert_refused(&relay, Message::text("hello relay"), 1002, "invalid_attach").await;
}

#[tokio::test]
async fn oversized_attach_is_refused_with_message_too_big() {
    let relay = TestRelay::start().await;
    let huge = format!("{{\"v\":1,\"pad\":\"{}\"}}", "x".repeat(9000));
    // As flowersec: its WebSocket library closes with 1009 and no text; the
    // tunnel counts it as expected_attach.
    assert_refused_counted_as(&relay, Message::text(huge), (1009, ""), "expected_attach").await;
}

#[tokio::test]
async fn attach_of_exactly_the_limit_is_parsed() {
    let relay = TestRelay::start().await;
    let mut text = attach_json("ch", Role::Client, "x");
    text.insert_str(1, &" ".repeat(8192 - text.len()));
    assert_eq!(text.len(), 8192);
    // Parsed (not refused as too large): the bogus token is what fails.
    assert_refused(&relay, Message::text(text), 1008, "invalid_token").await;
}

#[tokio::test]
async fn unknown_version_is_refused_with_invalid_attach() {
    let relay = TestRelay::start().await;
    let token = relay.token("ch", Role::Client);
    let text = attach_json("ch", Role::Client, &token).replace("\"v\":1", "\"v\":2");
    assert_refused(&relay, Message::text(text), 1002, "invalid_attach").await;
}

#[tokio::test]
async fn bad_signature_is_refused_with_invalid_token() {
    let relay = TestRelay::start().await;
    let token = with_bad_signature(relay.token("ch", Role::Client));
    let text = attach_json("ch", Role::Client, &token);
    assert_refused(&relay, Message::text(text), 1008, "invalid_token").await;
}

#[tokio::test]
async fn unknown_kid_is_refused_with_invalid_token() {
    let relay = TestRelay::start().await;
    let mut claims = relay.claims("ch", Role::Client);
    claims.kid = "someone-else".into();
    assert_refused(&relay, text_attach(&relay, claims), 1008, "invalid_token").await;
}

#[tokio::test]
async fn wrong_audience_or_issuer_is_refused_with_invalid_token() {
    let relay = TestRelay::start().await;
    let mut claims = relay.claims("ch", Role::Client);
    claims.aud = "other-relay".into();
    assert_refused(&relay, text_attach(&relay, claims), 1008, "invalid_token").await;
    let mut claims = relay.claims("ch", Role::Client);
    claims.iss = "other-issuer".into();
    assert_refused(&relay, text_attach(&relay, claims), 1008, "invalid_token").await;
}

#[tokio::test]
async fn expired_and_future_tokens_are_refused_with_invalid_token() {
    let relay = TestRelay::start().await;
    let now = now();
    let mut expired = relay.claims("ch", Role::Client);
    (expired.iat, expired.exp, expired.init_exp) = (now - 200, now - 100, now + 10);
    assert_refused(&relay, text_attach(&relay, expired), 1008, "invalid_token").await;
    let mut future = relay.claims("ch", Role::Client);
    (future.iat, future.exp, future.init_exp) = (now + 100, now + 110, now + 120);
    assert_refused(&relay, text_attach(&relay, future), 1008, "invalid_token").await;
    let mut too_long = relay.claims("ch", Role::Client);
    (too_long.iat, too_long.exp, too_long.init_exp) = (now, now + 121, now + 121);
    assert_refused(&relay, text_attach(&relay, too_long), 1008, "invalid_token").await;
}

#[tokio::test]
async fn token_for_another_channel_or_role_is_refused() {
    let relay = TestRelay::start().await;
    let token = relay.token("ch-a", Role::Client);
    let text = attach_json("ch-b", Role::Client, &token);
    assert_refused(&relay, Message::text(text), 1008, "channel_mismatch").await;
    let token = relay.token("ch-a", Role::Client);
    let text = attach_json("ch-a", Role::Server, &token);
    assert_refused(&relay, Message::text(text), 1008, "role_mismatch").await;
}

#[tokio::test]
async fn token_used_twice_is_refused_with_token_replay() {
    let relay = TestRelay::start().await;
    let token = relay.token("ch", Role::Server);
    let mut first = raw_connect(&relay).await;
    first
        .send(Message::text(attach_json("ch", Role::Server, &token)))
        .await
        .expect("first attach");
    let replay = Message::text(attach_json("ch", Role::Server, &token));
    assert_refused(&relay, replay, 1008, "token_replay").await;
}

#[tokio::test]
async fn silent_attacher_is_closed_at_the_deadline() {
    let relay = TestRelay::start_with(|config| {
        config.limits.attach_timeout = Duration::from_millis(300);
    })
    .await;
    let mut ws = raw_connect(&relay).await;
    assert_eq!(expect_close(&mut ws).await, (1008, "timeout".to_owned()));
    assert_relay_serves(&relay).await;
}

#[tokio::test]
async fn connection_cap_refuses_with_too_many_connections() {
    let relay = TestRelay::start_with(|config| config.limits.max_conns = 2).await;
    let _a = raw_attach(&relay, "held", Role::Server).await;
    let _b = raw_attach(&relay, "held-2", Role::Server).await;
    let mut third = raw_connect(&relay).await;
    assert_eq!(
        expect_close(&mut third).await,
        (1013, "too_many_connections".to_owned())
    );
    drop((_a, _b));
    // Slots come back when connections go.
    wait_until("connections released", || {
        metric(&relay, "flowersec_tunnel_connections", "") == 0.0
    })
    .await;
    assert_relay_serves(&relay).await;
}

#[tokio::test]
async fn origin_outside_the_allow_list_gets_403_before_upgrade() {
    let relay = TestRelay::start().await;
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
            relay.ws_url.as_str(),
        )
        .expect("request");
    request
        .headers_mut()
        .insert("origin", "https://evil.example".parse().expect("header"));
    let error = tokio_tungstenite::connect_async(request)
        .await
        .expect_err("upgrade refused");
    match error {
        tokio_tungstenite::tungstenite::Error::Http(response) => {
            assert_eq!(response.status(), 403)
        }
        other => panic!("expected HTTP 403, got {other}"),
    }
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
            relay.ws_url.as_str(),
        )
        .expect("request");
    request
        .headers_mut()
        .insert("origin", "https://app.example.com".parse().expect("header"));
    tokio_tungstenite::connect_async(request)
        .await
        .expect("allowed origin upgrades");
}

#[tokio::test]
async fn plain_get_on_the_tunnel_path_is_a_400() {
    let relay = TestRelay::start().await;
    assert_eq!(http_get(relay.addr, "/ws").await.0, 400);
    assert_eq!(
        http_get(relay.addr, "/healthz").await,
        (200, "ok".to_owned())
    );
    assert_eq!(http_get(relay.addr, "/nope").await.0, 404);
}

#[tokio::test]
async fn idle_sockets_before_the_upgrade_make_room_for_newcomers() {
    use tokio::io::AsyncReadExt as _;
    let relay = TestRelay::start_with(|config| config.limits.max_handshaking_conns = 2).await;
    // Two sockets that connect and say nothing hold both handshaking places.
    // The kernel hands connections over in the order they came, so these
    // are the oldest handshakes when the endpoints below arrive.
    let mut idle = Vec::new();
    for _ in 0..2 {
        idle.push(
            tokio::net::TcpStream::connect(relay.addr)
                .await
                .expect("connect"),
        );
    }
    // Real endpoints still attach: each new connection closes the socket
    // that has waited longest, well before its 5 s header timeout.
    assert_relay_serves(&relay).await;
    let mut buf = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(2), idle[0].read(&mut buf))
        .await
        .expect("the oldest idle socket was closed to make room");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    wait_until("the eviction is counted", || {
        metric(
            &relay,
            "corridor_relay_http_rejected_total",
            "handshake_evicted",
        ) >= 1.0
    })
    .await;
}

#[tokio::test]
async fn checks_run_in_flowersec_order_and_a_refused_attach_leaves_its_token_unused() {
    let relay = TestRelay::start().await;
    // Bad signature and wrong channel: the token is checked first.
    let forged = with_bad_signature(relay.token("ch-a", Role::Client));
    let text = attach_json("ch-b", Role::Server, &forged);
    assert_refused(&relay, Message::text(text), 1008, "invalid_token").await;
    // Wrong channel and wrong role: the channel is checked before the role.
    let token = relay.token("ch-a", Role::Client);
    let text = attach_json("ch-b", Role::Server, &token);
    assert_refused(&relay, Message::text(text), 1008, "channel_mismatch").await;
    let text = attach_json("ch-a", Role::Server, &token);
    assert_refused(&relay, Message::text(text), 1008, "role_mismatch").await;
    // Neither refusal spent the token: the single-use check comes after them.
    let mut server = raw_attach(&relay, "ch-a", Role::Server).await;
    let mut client = raw_connect(&relay).await;
    client
        .send(Message::text(attach_json("ch-a", Role::Client, &token)))
        .await
        .expect("attach");
    client
        .send(Message::binary(b"still valid".to_vec()))
        .await
        .expect("send");
    assert_eq!(next_binary(&mut server).await, b"still valid");
}

#[tokio::test]
async fn channel_cap_refuses_with_too_many_connections() {
    let relay = TestRelay::start_with(|config| config.limits.max_channels = 1).await;
    let mut server = raw_attach(&relay, "only", Role::Server).await;
    // A waiting channel counts: another channel is refused, as flowersec
    // does, with the connection cap's reason.
    let mut other = raw_connect(&relay).await;
    other
        .send(Message::text(attach_json(
            "another",
            Role::Server,
            &relay.token("another", Role::Server),
        )))
        .await
        .expect("attach");
    assert_eq!(
        expect_close(&mut other).await,
        (1013, "too_many_connections".to_owned())
    );
    // The peer of the existing channel is not a new channel.
    let mut client = raw_attach(&relay, "only", Role::Client).await;
    client
        .send(Message::binary(b"fits".to_vec()))
        .await
        .expect("send");
    assert_eq!(next_binary(&mut server).await, b"fits");
}

#[tokio::test]
async fn init_exp_beyond_the_horizon_is_refused_on_its_own() {
    let relay = TestRelay::start_with(|config| {
        config.limits.max_init_horizon = Duration::from_secs(20);
    })
    .await;
    // A short-lived token (within --max-token-lifetime) whose init_exp lies
    // past now + skew (30 s) + horizon (20 s).
    let now = now();
    let mut far = relay.claims("ch", Role::Client);
    (far.iat, far.exp, far.init_exp) = (now, now + 40, now + 55);
    let mut ws = raw_connect(&relay).await;
    ws.send(text_attach(&relay, far)).await.expect("attach");
    assert_eq!(
        expect_close(&mut ws).await,
        (1008, "invalid_token".to_owned())
    );
    let mut near = relay.claims("ch", Role::Client);
    (near.iat, near.exp, near.init_exp) = (now, now + 40, now + 45);
    let mut ws = raw_connect(&relay).await;
    ws.send(text_attach(&relay, near)).await.expect("attach");
    ws.send(Message::binary(b"waiting".to_vec()))
        .await
        .expect("send");
    wait_until("the near token attached", || {
        relay.handle.channel_count() == 1
    })
    .await;
}

#[tokio::test]
async fn a_full_replay_cache_refuses_new_tokens() {
    let relay = TestRelay::start_with(|config| config.limits.max_replay_entries = Some(2)).await;
    let _a = raw_attach(&relay, "a", Role::Server).await;
    let _b = raw_attach(&relay, "b", Role::Server).await;
    wait_until("two channels", || relay.handle.channel_count() == 2).await;
    // Both entries are live until their tokens expire: a third token cannot
    // be remembered, so it cannot be accepted as single-use.
    let third = Message::text(attach_json(
        "c",
        Role::Server,
        &relay.token("c", Role::Server),
    ));
    let mut ws = raw_connect(&relay).await;
    ws.send(third).await.expect("attach");
    assert_eq!(
        expect_close(&mut ws).await,
        (1013, "replay_cache_full".to_owned())
    );
    assert_eq!(
        metric(
            &relay,
            "flowersec_tunnel_attach_total",
            "reason=\"replay_cache_full\""
        ),
        1.0
    );
}

#[tokio::test]
async fn a_close_frame_in_place_of_the_attach_is_answered_with_a_close_frame() {
    let relay = TestRelay::start().await;
    let mut ws = raw_connect(&relay).await;
    let bye = CloseFrame {
        code: CloseCode::Away,
        reason: "changed my mind".into(),
    };
    ws.send(Message::Close(Some(bye)))
        .await
        .expect("send close");
    // RFC 6455 5.5.1: the peer's code comes back, as flowersec's tunnel
    // answers, rather than a dropped connection (1006).
    assert_eq!(
        expect_close(&mut ws).await,
        (1001, "changed my mind".to_owned())
    );
    assert!(
        metric(
            &relay,
            "flowersec_tunnel_attach_total",
            "reason=\"expected_attach\""
        ) >= 1.0
    );
    assert_relay_serves(&relay).await;
}

#[tokio::test]
async fn pings_before_the_attach_are_answered_and_the_attach_still_counts() {
    let relay = TestRelay::start().await;
    let mut server = raw_connect(&relay).await;
    server
        .send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .expect("ping");
    let pong = tokio::time::timeout(Duration::from_secs(10), server.next())
        .await
        .expect("pong within 10 s");
    match pong {
        Some(Ok(Message::Pong(payload))) => assert_eq!(&payload[..], b"are you there"),
        other => panic!("expected a pong, got {other:?}"),
    }
    let token = relay.token("pinged", Role::Server);
    server
        .send(Message::text(attach_json("pinged", Role::Server, &token)))
        .await
        .expect("attach");
    let mut client = raw_attach(&relay, "pinged", Role::Client).await;
    client
        .send(Message::binary(b"after a ping".to_vec()))
        .await
        .expect("send");
    assert_eq!(next_binary(&mut server).await, b"after a ping");
}
