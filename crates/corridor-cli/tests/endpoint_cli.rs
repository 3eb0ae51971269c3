//! `corridor serve`, `corridor call` and `corridor demo` as a user runs them:
//! a direct endpoint and a client, a relay with a minted grant between them,
//! built-in RPC, piping stdin through a stream, and forwarding to a TCP port.

mod support;

use serde_json::{Value, json};
use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use support::{BIN, Service, corridor};

/// Runs `corridor call ARGS` with `stdin`; returns (exit code, stdout).
fn call(args: &[&str], stdin: &[u8], state_dir: &Path) -> (i32, String) {
    let mut child = Command::new(BIN)
        .arg("call")
        .args(args)
        .env("CORRIDOR_STATE_DIR", state_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn corridor call");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    let output = child.wait_with_output().expect("corridor call finishes");
    let stderr = String::from_utf8_lossy(&output.stderr);
    (
        output.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            if output.status.success() {
                String::new()
            } else {
                format!("\nstderr: {stderr}")
            }
        ),
    )
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| panic!("JSON output, got {text:?}"))
}

/// A relay, and a control plane minting channels on it with `args` added.
fn relay_and_control_plane(state_dir: &Path, args: &[&str]) -> (Service, Service) {
    let relay = Service::start(&[], state_dir);
    let ws_url = relay.url("ws_url");
    let mut full = vec![
        "controlplane",
        "--listen",
        "127.0.0.1:0",
        "--tunnel-url",
        &ws_url,
    ];
    full.extend_from_slice(args);
    let control_plane = Service::spawn(&full, state_dir);
    (relay, control_plane)
}

/// A TCP server that answers each connection with its input upper-cased.
fn upper_case_server() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for mut conn in listener.incoming().map_while(Result::ok) {
            let mut text = String::new();
            let _ = conn.read_to_string(&mut text);
            let _ = conn.write_all(text.to_uppercase().as_bytes());
        }
    });
    addr
}

#[test]
fn a_direct_endpoint_answers_calls_streams_and_forwards() {
    let state = tempfile::tempdir().expect("tempdir");
    let upper = upper_case_server();
    let forward = format!("upper={upper}");
    let serve = Service::spawn(
        &["serve", "--listen", "127.0.0.1:0", "--forward", &forward],
        state.path(),
    );
    let info_file = state.path().join("info.json");
    std::fs::write(&info_file, serve.ready.to_string()).expect("write info");
    let info = info_file.to_str().expect("utf-8 path");

    let (code, out) = call(&["--direct-info", info, "ping"], b"", state.path());
    assert_eq!((code, json_of(&out)), (0, json!({"pong": true})), "{out}");
    let (code, out) = call(
        &["--direct-info", info, "echo", r#"{"a":[1,2]}"#],
        b"",
        state.path(),
    );
    assert_eq!((code, json_of(&out)), (0, json!({"a": [1, 2]})));
    let (code, out) = call(&["--direct-info", info, "info"], b"", state.path());
    assert_eq!(code, 0, "{out}");
    assert_eq!(json_of(&out)["streams"], json!(["echo", "upper"]));
    let (code, out) = call(&["--direct-info", info, "77"], b"", state.path());
    assert_eq!(code, 1, "no handler for 77 is a failure: {out}");
    assert!(out.contains("404"), "{out}");
    let (code, _) = call(&["--direct-info", info, "nonsense"], b"", state.path());
    assert_eq!(code, 2, "an unknown method name is a usage error");

    let (code, out) = call(
        &["--direct-info", info, "--stream", "echo"],
        b"through the stream\n",
        state.path(),
    );
    assert_eq!((code, out.as_str()), (0, "through the stream\n"));
    let (code, out) = call(
        &["--direct-info", info, "--stream", "upper"],
        b"forwarded to tcp",
        state.path(),
    );
    assert_eq!((code, out.as_str()), (0, "FORWARDED TO TCP"));
}

#[test]
fn an_endpoint_and_a_client_meet_through_a_relay_with_a_minted_grant() {
    let state = tempfile::tempdir().expect("tempdir");
    let relay = Service::start(&[], state.path());
    let out = corridor(
        &["token", "grant", "--tunnel-url", &relay.url("ws_url")],
        state.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pair_file = state.path().join("pair.json");
    std::fs::write(&pair_file, &out.stdout).expect("write grants");
    let pair = pair_file.to_str().expect("utf-8 path");
    let mut serve = Command::new(BIN)
        .args(["serve", "--grant", pair])
        .env("CORRIDOR_STATE_DIR", state.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn corridor serve");
    let (code, out) = call(
        &["--grant", pair, "echo", r#""via the relay""#],
        b"",
        state.path(),
    );
    assert_eq!((code, json_of(&out)), (0, json!("via the relay")), "{out}");
    // The grant admits one session: the endpoint exits when it ends.
    let status = serve
        .wait()
        .expect("corridor serve exits after its session");
    assert!(status.success());
}

#[test]
fn demo_shows_every_step_and_exits_cleanly() {
    let out = Command::new(BIN)
        .args(["demo", "--bytes", "65536"])
        .output()
        .expect("run demo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for step in [
        "relay",
        "control plane at",
        "registered as \"demo\"",
        "client 1",
        "client 2",
        "ping -> {\"pong\":true}",
        "byte-exact",
        "forwarded",
    ] {
        assert!(text.contains(step), "demo output lacks {step:?}:\n{text}");
    }
}

#[test]
fn bench_reports_round_trips_and_echo_throughput_of_an_endpoint() {
    let state = tempfile::tempdir().expect("tempdir");
    let serve = Service::spawn(&["serve", "--listen", "127.0.0.1:0"], state.path());
    let info_file = state.path().join("info.json");
    std::fs::write(&info_file, serve.ready.to_string()).expect("write info");
    let info = info_file.to_str().expect("utf-8 path");
    let out = corridor(
        &[
            "bench",
            "--direct-info",
            info,
            "--calls",
            "200",
            "--mib",
            "8",
            "--streams",
            "2",
            "--json",
        ],
        state.path(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json_of(&stdout);
    let calls = &report["calls"];
    assert_eq!(calls["count"], 200);
    let (p50, p99, max) = (
        calls["p50_us"].as_f64().expect("p50"),
        calls["p99_us"].as_f64().expect("p99"),
        calls["max_us"].as_f64().expect("max"),
    );
    assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{calls}");
    let echo = &report["echo"];
    assert_eq!(echo["streams"], 2);
    assert_eq!(echo["bytes_each_way"], 8 * 1024 * 1024);
    assert!(echo["mib_per_s_each_way"].as_f64().expect("rate") > 0.0);
    assert!(report["connect_ms"].as_f64().expect("connect") > 0.0);

    // Nothing listening: a clear failure, not a hang.
    drop(serve);
    let out = corridor(&["bench", "--direct-info", info, "--json"], state.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("connecting"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn keygen_identity_writes_a_private_file_and_prints_its_fingerprint() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("keys/node.key");
    let file_arg = file.to_str().expect("utf8");
    let out = corridor(
        &["keygen", "--kind", "identity", "--out", file_arg],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let mode = std::fs::metadata(&file).expect("file").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // What it printed is the key the file holds.
    let key = corridor::keystore::FileKeyStore::new(&file);
    let key = corridor::keystore::KeyStore::load(&key)
        .expect("loads")
        .public_key();
    assert_eq!(printed["public_key"], key.to_b64u());
    assert_eq!(printed["fingerprint"], key.fingerprint());
    // A second run refuses to replace it.
    let again = corridor(
        &["keygen", "--kind", "identity", "--out", file_arg],
        dir.path(),
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));
}

#[test]
fn serve_keeps_serving_when_accept_runs_out_of_file_descriptors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let info_file = dir.path().join("info.json");
    // A descriptor limit the idle connections below exhaust.
    let mut command = Command::new("sh");
    command.arg("-c").arg(format!(
        "ulimit -n 64 && exec {BIN} serve --listen 127.0.0.1:0 --info-file {}",
        info_file.display()
    ));
    let service = Service::from_command(command);
    let listen = service.ready["listen"].as_str().expect("listen").to_owned();
    let idle: Vec<_> = (0..80)
        .filter_map(|_| std::net::TcpStream::connect(&listen).ok())
        .collect();
    service.wait_log("accept failed; backing off");
    drop(idle);
    // The endpoint is still there once descriptors are free again.
    let (code, out) = call(
        &["--direct-info", info_file.to_str().expect("utf8"), "ping"],
        b"",
        dir.path(),
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("pong"), "{out}");
}

#[test]
fn a_control_plane_sends_every_client_to_one_persistent_endpoint() {
    let state = tempfile::tempdir().expect("tempdir");
    let (_relay, control_plane) = relay_and_control_plane(state.path(), &[]);
    let url = control_plane.url("controlplane_url");
    assert_eq!(control_plane.ready["callers"], "loopback only");
    let mut serve = Service::spawn(
        &["serve", "--controlplane", &url, "--endpoint-id", "demo"],
        state.path(),
    );
    assert_eq!(serve.ready["endpoint_id"], "demo");
    let target = ["--controlplane", url.as_str(), "--endpoint-id", "demo"];
    // Every call is a new client on a fresh channel, served by the same endpoint.
    for n in 0..3 {
        let mut args = target.to_vec();
        let payload = n.to_string();
        args.extend(["echo", payload.as_str()]);
        let (code, out) = call(&args, b"", state.path());
        assert_eq!((code, json_of(&out)), (0, json!(n)), "{out}");
    }
    let mut args = target.to_vec();
    args.extend(["--stream", "echo"]);
    let (code, out) = call(&args, b"a stream too", state.path());
    assert_eq!((code, out.as_str()), (0, "a stream too"));
    let mut args = target.to_vec();
    args[3] = "nobody";
    args.push("ping");
    let (code, out) = call(&args, b"", state.path());
    assert_ne!(code, 0);
    assert!(out.contains("endpoint_not_connected"), "{out}");
    serve.signal("TERM");
    let status = serve.child.wait().expect("serve exits on SIGTERM");
    assert!(status.success(), "{status:?}");
}

#[test]
fn sigterm_lets_an_open_session_finish_before_serve_exits() {
    let state = tempfile::tempdir().expect("tempdir");
    let (_relay, control_plane) = relay_and_control_plane(state.path(), &[]);
    let url = control_plane.url("controlplane_url");
    let mut serve = Service::spawn(
        &["serve", "--controlplane", &url, "--endpoint-id", "drain"],
        state.path(),
    );
    let mut client = Command::new(BIN)
        .args(["call", "--controlplane", &url, "--endpoint-id", "drain"])
        .args(["--stream", "echo"])
        .env("CORRIDOR_STATE_DIR", state.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn corridor call");
    let mut stdin = client.stdin.take().expect("stdin");
    let mut stdout = client.stdout.take().expect("stdout");
    let mut echoed = |text: &[u8]| {
        stdin.write_all(text).expect("write");
        stdin.flush().expect("flush");
        let mut back = vec![0u8; text.len()];
        stdout.read_exact(&mut back).expect("echo");
        assert_eq!(back, text);
    };
    echoed(b"before\n");
    serve.signal("TERM");
    serve.wait_log("draining");
    // The open session is still served after SIGTERM.
    echoed(b"after\n");
    drop(stdin);
    assert!(client.wait().expect("call ends").success());
    let status = serve
        .child
        .wait()
        .expect("serve exits once the session ends");
    assert!(status.success(), "{status:?}");
}

#[test]
fn an_endpoint_with_a_listed_key_joins_a_control_plane_over_noise() {
    let state = tempfile::tempdir().expect("tempdir");
    let key_file = state.path().join("endpoint.key");
    let key_arg = key_file.to_str().expect("utf8");
    let out = corridor(
        &["keygen", "--kind", "identity", "--out", key_arg],
        state.path(),
    );
    assert!(out.status.success());
    let printed: Value = serde_json::from_slice(&out.stdout).expect("json");
    let keys_file = state.path().join("endpoint_keys.txt");
    let public_key = printed["public_key"].as_str().expect("key");
    std::fs::write(&keys_file, format!("{public_key} noisy\n")).expect("write keys");
    let keys_arg = keys_file.to_str().expect("utf8");
    let (_relay, control_plane) =
        relay_and_control_plane(state.path(), &["--endpoint-keys", keys_arg]);
    let url = control_plane.url("controlplane_url");
    let control_key = control_plane.url("control_key");
    // Endpoint keys alone turn the PSK off: none was written.
    assert!(!state.path().join("controlplane_psk").exists());
    let _serve = Service::spawn(
        &[
            "serve",
            "--controlplane",
            &url,
            "--endpoint-id",
            "noisy",
            "--identity",
            key_arg,
            "--controlplane-key",
            &control_key,
        ],
        state.path(),
    );
    let (code, out) = call(
        &[
            "--controlplane",
            &url,
            "--endpoint-id",
            "noisy",
            "echo",
            "7",
        ],
        b"",
        state.path(),
    );
    assert_eq!((code, json_of(&out)), (0, json!(7)), "{out}");
}

#[test]
fn a_flowersec_client_reaches_serve_through_the_control_plane_processes() {
    let state = tempfile::tempdir().expect("tempdir");
    let (_relay, control_plane) = relay_and_control_plane(state.path(), &[]);
    let url = control_plane.url("controlplane_url");
    let _serve = Service::spawn(
        &["serve", "--controlplane", &url, "--endpoint-id", "fs"],
        state.path(),
    );
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        use flowersec::controlplane::client::{
            ConnectArtifactRequestConfig, request_connect_artifact,
        };
        let mut request = ConnectArtifactRequestConfig::new("fs");
        request.base_url = url.clone();
        request.allow_loopback_http = true;
        let artifact = request_connect_artifact(request)
            .await
            .expect("flowersec's client gets an artifact");
        let options = flowersec::ConnectOptions {
            transport_security_policy:
                flowersec::transport_security::TransportSecurityPolicy::allow_plaintext_for_loopback(),
            ..flowersec::ConnectOptions::default()
        };
        let client = flowersec::connect(artifact, options)
            .await
            .expect("flowersec connects through corridor's relay");
        let reply: Value = client
            .rpc()
            .call_typed(2, &json!({"from": "flowersec"}))
            .await
            .expect("echo");
        assert_eq!(reply, json!({"from": "flowersec"}));
        let stream = client.open_stream("echo").await.expect("stream");
        stream.write(b"bytes both ways").await.expect("write");
        let back = stream.read().await.expect("read").expect("data");
        assert_eq!(back, b"bytes both ways");
        client.close().await.expect("close");
    });
}
