//! Shared test helpers: an in-process relay with its own issuer key, grant
//! minting, a raw WebSocket client for hostile input, and the conversion of
//! corridor grants into the flowersec crate's type (the relay itself and
//! what every crate's tests share come from `corridor-testkit`).

#![allow(dead_code)]

use corridor_core::{Role, b64};
use futures_util::{SinkExt as _, StreamExt as _};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

// Each test binary uses some of these.
#[allow(unused_imports)]
pub use corridor_testkit::{
    AUD, ISS, TestRelay, http_get, now, random_bytes, status_and_body, to_flowersec, wait_until,
};

/// A raw WebSocket client.
pub type RawWs = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The attach message an endpoint sends.
pub fn attach_json(channel_id: &str, role: Role, token: &str) -> String {
    serde_json::json!({
        "v": 1,
        "channel_id": channel_id,
        "role": role.as_u8(),
        "token": token,
        "endpoint_instance_id": b64::encode(random_bytes()),
    })
    .to_string()
}

/// Opens a raw WebSocket to the relay (no Origin header).
pub async fn raw_connect(relay: &TestRelay) -> RawWs {
    let (ws, _) = tokio_tungstenite::connect_async(relay.ws_url.as_str())
        .await
        .expect("websocket connects");
    ws
}

/// Connects and sends an attach message for `channel_id` and `role`.
pub async fn raw_attach(relay: &TestRelay, channel_id: &str, role: Role) -> RawWs {
    let mut ws = raw_connect(relay).await;
    let token = relay.token(channel_id, role);
    ws.send(Message::text(attach_json(channel_id, role, &token)))
        .await
        .expect("send attach");
    ws
}

/// Reads until the relay closes; returns the close code and reason.
/// Fails the test if nothing closes within 10 s.
pub async fn expect_close(ws: &mut RawWs) -> (u16, String) {
    let read = async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(Some(frame)))) => {
                    return (u16::from(frame.code), frame.reason.to_string());
                }
                Some(Ok(Message::Close(None))) => return (1005, String::new()),
                Some(Ok(_)) => continue,
                Some(Err(error)) => return (1006, error.to_string()),
                None => return (1006, "eof".into()),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("relay closes within 10 s")
}

/// Reads the next data message, failing on close or after 10 s.
pub async fn next_binary(ws: &mut RawWs) -> Vec<u8> {
    let read = async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Binary(bytes))) => return bytes.to_vec(),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("expected a binary message, got {other:?}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("message within 10 s")
}

/// Proves the relay still serves: a fresh pair attaches and a message crosses.
pub async fn assert_relay_serves(relay: &TestRelay) {
    let channel = format!("alive-{}", b64::encode(random_bytes()));
    let mut server = raw_attach(relay, &channel, Role::Server).await;
    let mut client = raw_attach(relay, &channel, Role::Client).await;
    client
        .send(Message::binary(b"still here".to_vec()))
        .await
        .expect("send");
    assert_eq!(next_binary(&mut server).await, b"still here");
}

/// A metric's value: the sum over its series whose labels contain `labels`.
pub fn metric(relay: &TestRelay, name: &str, labels: &str) -> f64 {
    let text = relay.handle.metrics().encode();
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.split(['{', ' '])
                .next()
                .is_some_and(|metric| metric == name)
        })
        .filter(|line| line.contains(labels))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A frame shaped like an FSEC record (magic, version 1, matching length).
pub fn fsec_like_record(seq: u64, payload: &[u8]) -> Vec<u8> {
    let mut frame = b"FSEC\x01\x00".to_vec();
    frame.extend_from_slice(&seq.to_be_bytes());
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}
