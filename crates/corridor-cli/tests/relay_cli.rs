//! The `corridor` binary as an operator runs it: the ready line, exit code 2
//! on bad configuration, `corridor token grant` output that attaches, and
//! real signals (SIGHUP reloads keys, SIGUSR1/SIGUSR2 switch /metrics,
//! SIGTERM shuts down cleanly).

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

mod support;

use support::{Service, corridor, http_body, http_status};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Attaches both grants of a pair and checks a message crosses the relay.
async fn pair_crosses(grants: &Value) {
    crosses(&mut pair(grants).await).await;
}

/// Attaches both grants of a pair: the server's socket, then the client's.
async fn pair(grants: &Value) -> [Ws; 2] {
    let mut sockets = Vec::new();
    for role in ["server", "client"] {
        let grant = &grants[role];
        let url = grant["tunnel_url"].as_str().expect("tunnel_url");
        let (mut ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect");
        let attach = serde_json::json!({
            "v": 1,
            "channel_id": grant["channel_id"],
            "role": grant["role"],
            "token": grant["token"],
            "endpoint_instance_id": "AAAAAAAAAAAAAAAAAAAAAA",
        });
        ws.send(Message::text(attach.to_string()))
            .await
            .expect("attach");
        sockets.push(ws);
    }
    sockets.try_into().unwrap_or_else(|_| unreachable!())
}

/// Checks a message from the client reaches the server.
async fn crosses([server, client]: &mut [Ws; 2]) {
    client
        .send(Message::binary(b"hello".to_vec()))
        .await
        .expect("send");
    let got = tokio::time::timeout(Duration::from_secs(10), server.next())
        .await
        .expect("message within 10 s");
    match got {
        Some(Ok(Message::Binary(bytes))) => assert_eq!(&bytes[..], b"hello"),
        other => panic!("expected the message, got {other:?}"),
    }
}

#[tokio::test]
async fn development_relay_runs_without_flags_and_accepts_minted_grants() {
    let state = tempfile::tempdir().expect("tempdir");
    let relay = Service::start(&[], state.path());
    assert_eq!(relay.ready["aud"], "corridor-dev");
    assert_eq!(http_status(&relay.url("healthz_url")), 200);
    let out = corridor(
        &["token", "grant", "--tunnel-url", &relay.url("ws_url")],
        state.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let grants: Value = serde_json::from_slice(&out.stdout).expect("grant JSON");
    assert_eq!(
        grants["client"]["e2ee_psk_b64u"],
        grants["server"]["e2ee_psk_b64u"]
    );
    // The grant is flowersec's ChannelInitGrant shape.
    let _: flowersec::generated::flowersec::controlplane::v1::ChannelInitGrant =
        serde_json::from_value(grants["client"].clone()).expect("flowersec reads the grant");
    pair_crosses(&grants).await;
}

#[test]
fn advertise_host_names_the_public_address_in_the_ready_line() {
    let state = tempfile::tempdir().expect("tempdir");
    let relay = Service::start(
        &[
            "--advertise-host",
            "relay.example.com:8443",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
        state.path(),
    );
    let ready = &relay.ready;
    assert_eq!(ready["advertise_host"], "relay.example.com:8443");
    assert_eq!(ready["ws_url"], "ws://relay.example.com:8443/ws");
    assert_eq!(
        ready["healthz_url"],
        "http://relay.example.com:8443/healthz"
    );
    // The metrics listener keeps its own bound port under the public host.
    let metrics_url = ready["metrics_url"].as_str().expect("metrics_url");
    let metrics_port = metrics_url
        .strip_prefix("http://relay.example.com:")
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .expect("metrics_url under the public host");
    assert_ne!(metrics_port, "8443");
    assert!(
        ready["listen"]
            .as_str()
            .expect("listen")
            .starts_with("127.0.0.1:")
    );
}

#[test]
fn bad_configuration_exits_2_naming_the_flag() {
    let state = tempfile::tempdir().expect("tempdir");
    let keys = state.path().join("keys.json");
    std::fs::write(&keys, "{\"keys\":[]}").expect("write");
    let keys = keys.to_str().expect("utf8");
    let cases: &[(&[&str], &str)] = &[
        (
            &["relay", "--issuer-keys-file", keys, "--iss", "i"],
            "--aud",
        ),
        (
            &[
                "relay",
                "--issuer-keys-file",
                keys,
                "--aud",
                "a",
                "--iss",
                "i",
            ],
            "--allow-origin",
        ),
        (
            &[
                "relay",
                "--issuer-keys-file",
                keys,
                "--aud",
                "a",
                "--iss",
                "i",
                "--allow-no-origin",
            ],
            "keys.json",
        ),
        (&["relay", "--tls-cert-file", "x.pem"], "--tls-key-file"),
        (&["relay", "--ws-path", "ws"], "--ws-path"),
        (&["relay", "--max-conns", "many"], "--max-conns"),
        (
            &["relay", "--advertise-host", "relay:0"],
            "--advertise-host",
        ),
        (
            &["relay", "--max-write-queue-bytes", "1000"],
            "--max-write-queue-bytes",
        ),
        (&["relay", "--write-timeout=-1s"], "--write-timeout"),
        (&["relay", "--write-timeout", "1.2.3s"], "--write-timeout"),
        (&["relay", "--allow-no-origin=maybe"], "--allow-no-origin"),
    ];
    for (args, named) in cases {
        let out = corridor(args, state.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(named),
            "{args:?} should name {named}: {stderr}"
        );
    }
}

#[tokio::test]
async fn signals_reload_keys_switch_metrics_and_shut_down() {
    let state = tempfile::tempdir().expect("tempdir");
    let issuer_dir = state.path().join("issuer");
    let out = corridor(
        &[
            "keygen",
            "--kid",
            "k1",
            "--out-dir",
            issuer_dir.to_str().unwrap(),
        ],
        state.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keys_file = issuer_dir.join("issuer_keys.json");
    let mut relay = Service::start(
        &[
            "--issuer-keys-file",
            keys_file.to_str().unwrap(),
            "--aud",
            "a",
            "--iss",
            "i",
            "--allow-no-origin",
        ],
        state.path(),
    );
    let metrics_url = relay.url("metrics_url");
    assert_eq!(http_status(&metrics_url), 404, "metrics start disabled");
    relay.signal("USR1");
    relay.wait_log("metrics enabled");
    assert_eq!(http_status(&metrics_url), 200);
    let body = http_body(&metrics_url);
    for name in [
        "flowersec_tunnel_connections",
        "flowersec_tunnel_channels",
        "flowersec_tunnel_queued_bytes",
        "flowersec_tunnel_pair_latency_seconds",
    ] {
        assert!(
            body.contains(&format!("# TYPE {name} ")),
            "{name} in {body}"
        );
    }
    relay.signal("USR2");
    relay.wait_log("metrics disabled");
    assert_eq!(http_status(&metrics_url), 404);

    // A key the relay does not know yet: its grants are refused until SIGHUP.
    let new_dir = state.path().join("issuer2");
    let out = corridor(
        &[
            "keygen",
            "--kid",
            "k2",
            "--out-dir",
            new_dir.to_str().unwrap(),
        ],
        state.path(),
    );
    assert!(out.status.success());
    let grant_args = |dir: &Path| {
        vec![
            "token".to_owned(),
            "grant".into(),
            "--key".into(),
            dir.join("issuer_key.json").to_str().unwrap().into(),
            "--aud".into(),
            "a".into(),
            "--iss".into(),
            "i".into(),
            "--tunnel-url".into(),
            relay.url("ws_url"),
        ]
    };
    let mint = |dir: &Path| -> Value {
        let args = grant_args(dir);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = corridor(&args, state.path());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("grant JSON")
    };
    let early = mint(&new_dir);
    let url = early["client"]["tunnel_url"].as_str().unwrap().to_owned();
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .expect("connect");
    let attach = serde_json::json!({"v":1,"channel_id":early["client"]["channel_id"],"role":1,
        "token":early["client"]["token"],"endpoint_instance_id":"AAAAAAAAAAAAAAAAAAAAAA"});
    ws.send(Message::text(attach.to_string()))
        .await
        .expect("attach");
    match tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("answer")
    {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.reason.as_str(), "invalid_token"),
        other => panic!("expected invalid_token, got {other:?}"),
    }

    // Merge both keys into the file the relay reads, then SIGHUP.
    let merged = serde_json::json!({"keys": [
        serde_json::from_str::<Value>(&std::fs::read_to_string(&keys_file).unwrap()).unwrap()["keys"][0],
        serde_json::from_str::<Value>(&std::fs::read_to_string(new_dir.join("issuer_keys.json")).unwrap()).unwrap()["keys"][0],
    ]});
    // A channel paired before the reload keeps forwarding after it.
    let mut held = pair(&mint(&issuer_dir)).await;
    crosses(&mut held).await;
    std::fs::write(&keys_file, merged.to_string()).expect("write merged keys");
    relay.signal("HUP");
    relay.wait_log("reloaded issuer keys");
    crosses(&mut held).await;
    pair_crosses(&mint(&new_dir)).await;
    pair_crosses(&mint(&issuer_dir)).await;

    // A broken file keeps the old keys.
    std::fs::write(&keys_file, "{ not json").expect("write");
    relay.signal("HUP");
    relay.wait_log("reload keys failed");
    pair_crosses(&mint(&new_dir)).await;

    relay.signal("TERM");
    let status = relay.child.wait().expect("wait");
    assert_eq!(status.code(), Some(0), "SIGTERM exits 0");
}

/// A deployment of flowersec-tunnel configured only by its environment
/// moves over unchanged: Go's booleans and durations, and 0 as "the default".
#[tokio::test]
async fn flowersec_tunnel_environment_configures_the_relay() {
    let state = tempfile::tempdir().expect("tempdir");
    let issuer_dir = state.path().join("issuer");
    let issuer = issuer_dir.to_str().expect("utf8");
    let out = corridor(
        &["keygen", "--kid", "k1", "--out-dir", issuer],
        state.path(),
    );
    assert!(out.status.success());
    let keys_file = issuer_dir.join("issuer_keys.json");
    let relay = Service::spawn_with_env(
        &["relay"],
        &[
            ("FSEC_TUNNEL_LISTEN", "127.0.0.1:0"),
            ("FSEC_TUNNEL_WS_PATH", "/tunnel"),
            (
                "FSEC_TUNNEL_ISSUER_KEYS_FILE",
                keys_file.to_str().expect("utf8"),
            ),
            ("FSEC_TUNNEL_AUD", "env-aud"),
            ("FSEC_TUNNEL_ISS", "env-iss"),
            ("FSEC_TUNNEL_ALLOW_NO_ORIGIN", "1"),
            ("FSEC_TUNNEL_MAX_CONNS", "0"),
            ("FSEC_TUNNEL_MAX_CHANNELS", "0"),
            ("FSEC_TUNNEL_MAX_WRITE_QUEUE_BYTES", "0"),
            ("FSEC_TUNNEL_MAX_TOTAL_QUEUED_BYTES", "33554432"),
            ("FSEC_TUNNEL_WRITE_TIMEOUT", "1.5s"),
            ("FSEC_TUNNEL_MAX_TOKEN_LIFETIME", "1m30s"),
            ("FSEC_TUNNEL_MAX_INIT_HORIZON", "100000ms"),
            ("FSEC_TUNNEL_MAX_REPLAY_ENTRIES", "777"),
        ],
        state.path(),
    );
    relay.wait_log(
        "max_conns: 12000, max_channels: 6000, max_attach_bytes: 8192, \
         max_record_bytes: 1048576, max_pending_bytes: 262144, \
         max_total_queued_bytes: 33554432, max_write_queue_bytes: 1048576, \
         max_replay_bytes: 67108864, max_replay_entries: Some(777), \
         attach_timeout: 10s, clock_skew: 30s, \
         max_token_lifetime: 90s, max_init_horizon: 100s, write_timeout: 1.5s",
    );
    let ws_url = relay.url("ws_url");
    assert!(ws_url.ends_with("/tunnel"), "{ws_url}");
    let key = issuer_dir.join("issuer_key.json");
    let out = corridor(
        &[
            "token",
            "grant",
            "--key",
            key.to_str().expect("utf8"),
            "--aud",
            "env-aud",
            "--iss",
            "env-iss",
            "--tunnel-url",
            &ws_url,
        ],
        state.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // No Origin header: accepted only because the variable said "1".
    pair_crosses(&serde_json::from_slice(&out.stdout).expect("grant JSON")).await;
}

#[test]
fn a_separate_metrics_listener_starts_enabled_and_follows_the_signals() {
    let state = tempfile::tempdir().expect("tempdir");
    let relay = Service::start(&["--metrics-listen", "127.0.0.1:0"], state.path());
    let metrics_url = relay.url("metrics_url");
    assert_ne!(
        metrics_url.split('/').nth(2),
        relay.url("healthz_url").split('/').nth(2),
        "its own address"
    );
    assert_eq!(http_status(&metrics_url), 200, "enabled from the start");
    assert!(http_body(&metrics_url).contains("# TYPE flowersec_tunnel_connections gauge"));
    relay.signal("USR2");
    relay.wait_log("metrics disabled");
    assert_eq!(http_status(&metrics_url), 404);
    relay.signal("USR1");
    relay.wait_log("metrics enabled");
    assert_eq!(http_status(&metrics_url), 200);
}

#[test]
fn flowersec_policy_variables_corridor_lacks_stop_the_relay() {
    let state = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(support::BIN)
        .args(["relay", "--listen", "127.0.0.1:0"])
        .env("CORRIDOR_STATE_DIR", state.path())
        .env(
            "FSEC_TUNNEL_ATTACH_AUTHORIZER_URL",
            "http://127.0.0.1:9/authorize",
        )
        .output()
        .expect("run corridor");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("FSEC_TUNNEL_ATTACH_AUTHORIZER_URL"),
        "{stderr}"
    );
}

#[test]
fn refusals_are_logged_with_their_reason_and_the_peer_address() {
    use std::io::{Read as _, Write as _};
    let state = tempfile::tempdir().expect("tempdir");
    let relay = Service::start(&[], state.path());
    let addr = relay.url("ws_url");
    let host = addr
        .trim_start_matches("ws://")
        .trim_end_matches("/ws")
        .to_owned();
    // A page from an origin the development relay does not allow.
    let mut stream = std::net::TcpStream::connect(&host).expect("connect");
    let peer = stream.local_addr().expect("local addr");
    write!(
        stream,
        "GET /ws HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Origin: https://evil.example\r\n\r\n"
    )
    .expect("request");
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).expect("response");
    assert_eq!(&head, b"HTTP/1.1 403");
    relay.wait_log(&format!("peer={peer} reason=\"origin_not_allowed\""));
}
