//! The control plane end to end on loopback: a real relay, endpoints
//! registered over control sessions, clients (corridor's and flowersec's)
//! asking for artifacts.

mod support;

use corridor::{Client, SessionOptions, builtin};
use corridor_controlplane::client::{ClientError, request_grant};
use flowersec::client::ConnectOptions;
use flowersec::transport_security::TransportSecurityPolicy;
use serde_json::{Value, json};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ARTIFACT: &str = "/v1/connect/artifact";

async fn corridor_call(url: &str, id: &str) -> Result<Value, ClientError> {
    let grant = request_grant(url, id, None, WAIT).await?;
    let session = Client::connect_tunnel(&grant, &SessionOptions::default())
        .await
        .expect("client joins the pushed channel");
    let reply: Value = session
        .rpc()
        .call(builtin::ECHO, &json!({"id": id}))
        .await
        .expect("echo");
    session.close().await;
    Ok(reply)
}

fn refused_with(result: Result<Value, ClientError>) -> (u16, String) {
    match result {
        Err(ClientError::Refused { status, code, .. }) => (status, code),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flowersec_client_connects_with_an_artifact() {
    let stack = stack(|_| {}).await;
    let _endpoint = endpoint(&stack, "files").await;
    let mut request = flowersec::controlplane::client::ConnectArtifactRequestConfig::new("files");
    request.base_url = stack.url.clone();
    request.allow_loopback_http = true;
    request.trace_id = Some("trace-0001".into());
    let artifact = flowersec::controlplane::client::request_connect_artifact(request)
        .await
        .expect("flowersec's client reads corridor's artifact");
    assert_eq!(
        artifact.correlation().and_then(|c| c.trace_id.as_deref()),
        Some("trace-0001")
    );
    let options = ConnectOptions {
        transport_security_policy: TransportSecurityPolicy::allow_plaintext_for_loopback(),
        ..ConnectOptions::default()
    };
    let client = flowersec::client::connect(artifact, options)
        .await
        .expect("flowersec connects through the relay");
    let reply: Value = client
        .rpc()
        .call_typed(builtin::ECHO, &json!({"n": 42}))
        .await
        .expect("rpc");
    assert_eq!(reply, json!({"n": 42}));
    let stream = client.open_stream("echo").await.expect("stream");
    stream
        .write(b"through the control plane")
        .await
        .expect("write");
    let back = tokio::time::timeout(WAIT, stream.read())
        .await
        .expect("in time")
        .expect("read")
        .expect("data");
    assert_eq!(back, b"through the control plane");
    client.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_in_sequence_and_at_once_each_get_a_channel() {
    let stack = stack(|_| {}).await;
    let endpoint = endpoint(&stack, "svc").await;
    for _ in 0..200 {
        let reply = corridor_call(&stack.url, "svc").await.expect("sequential");
        assert_eq!(reply, json!({"id": "svc"}));
    }
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let url = stack.url.clone();
        calls.spawn(async move { corridor_call(&url, "svc").await });
    }
    while let Some(call) = calls.join_next().await {
        assert_eq!(
            call.expect("task").expect("concurrent"),
            json!({"id": "svc"})
        );
    }
    // The count follows the endpoint's session start, which the answer may pass.
    wait_until("one session per client", || endpoint.served() == 250).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_endpoints_share_an_id_and_one_leaving_spares_the_other() {
    let stack = stack(|_| {}).await;
    let first = endpoint(&stack, "shared").await;
    let second = endpoint(&stack, "shared").await;
    for _ in 0..20 {
        corridor_call(&stack.url, "shared").await.expect("call");
    }
    wait_until("20 sessions", || first.served() + second.served() == 20).await;
    assert_eq!(
        (first.served(), second.served()),
        (10, 10),
        "turns alternate"
    );
    first.link.stop();
    for _ in 0..10 {
        corridor_call(&stack.url, "shared")
            .await
            .expect("the other endpoint serves");
    }
    wait_until("the other endpoint's 10 more", || second.served() == 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_get_503_while_the_endpoint_is_away_and_succeed_after() {
    let stack = stack(|_| {}).await;
    let first = endpoint(&stack, "flaky").await;
    corridor_call(&stack.url, "flaky").await.expect("before");
    first.link.stop();
    // The control session's end unregisters the endpoint.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match corridor_call(&stack.url, "flaky").await {
            Err(ClientError::Refused {
                status: 503, code, ..
            }) => {
                assert!(code.starts_with("endpoint_"), "{code}");
                break;
            }
            Ok(_) => assert!(tokio::time::Instant::now() < deadline, "still registered"),
            Err(other) => panic!("{other:?}"),
        }
        tokio::task::yield_now().await;
    }
    let restored = endpoint(&stack, "flaky").await;
    corridor_call(&stack.url, "flaky").await.expect("after");
    wait_until("the restored endpoint's session", || restored.served() == 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_refused_with_flowersec_statuses() {
    let stack = stack(|config| config.max_body_bytes = 1024).await;
    let _endpoint = endpoint(&stack, "svc").await;
    assert_eq!(
        refused_with(corridor_call(&stack.url, "nobody").await),
        (503, "endpoint_not_connected".into())
    );
    let json_type = "application/json";
    let (status, body) = post(&stack.url, ARTIFACT, "text/plain", &[], b"{}").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    let big = format!(
        r#"{{"endpoint_id":"svc","payload":{{"x":"{}"}}}}"#,
        "a".repeat(2048)
    );
    let (status, body) = post(&stack.url, ARTIFACT, json_type, &[], big.as_bytes()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (413, Some("body_too_large"))
    );
    let (status, body) = post(&stack.url, ARTIFACT, json_type, &[], b"{not json").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_json"))
    );
    let unknown_field = br#"{"endpoint_id":"svc","extra":1}"#;
    let (status, _) = post(&stack.url, ARTIFACT, json_type, &[], unknown_field).await;
    assert_eq!(status, 400);
    let (status, body) = post(
        &stack.url,
        ARTIFACT,
        json_type,
        &[],
        br#"{"endpoint_id":"  "}"#,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, body) = post(
        &stack.url,
        ARTIFACT,
        json_type,
        &[],
        br#"{"endpoint_id":"svc"}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["connect_artifact"]["transport"], "tunnel");
    assert_eq!(body["connect_artifact"]["tunnel_grant"]["role"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_tokens_are_required_when_configured() {
    let stack = stack(|config| config.api_tokens = vec!["s3cret".into(), "other".into()]).await;
    let _endpoint = endpoint(&stack, "svc").await;
    let body = br#"{"endpoint_id":"svc"}"#;
    let json_type = "application/json";
    let (status, reply) = post(&stack.url, ARTIFACT, json_type, &[], body).await;
    assert_eq!(
        (status, reply["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let wrong = [("Authorization", "Bearer s3cre")];
    let (status, _) = post(&stack.url, ARTIFACT, json_type, &wrong, body).await;
    assert_eq!(status, 401);
    let right = [("Authorization", "Bearer other")];
    let (status, _) = post(&stack.url, ARTIFACT, json_type, &right, body).await;
    assert_eq!(status, 200);
    let grant = request_grant(&stack.url, "svc", Some("s3cret"), WAIT)
        .await
        .expect("corridor's client presents the token");
    assert_eq!(grant.role, corridor_core::Role::Client);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_init_in_the_demo_shape() {
    let stack = stack(|_| {}).await;
    let _endpoint = endpoint(&stack, "only").await;
    let (status, body) = post(
        &stack.url,
        "/v1/channel/init",
        "application/json",
        &[],
        br#"{"channel_id":"chosen-1"}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let grant: corridor::ChannelInitGrant =
        serde_json::from_value(body["grant_client"].clone()).expect("a client grant");
    assert_eq!(grant.channel_id, "chosen-1");
    let session = Client::connect_tunnel(&grant, &SessionOptions::default())
        .await
        .expect("joins");
    let mut stream = session.open_stream("echo").await.expect("stream");
    stream.write_all(b"hi").await.expect("write");
    let mut back = [0u8; 2];
    tokio::time::timeout(WAIT, stream.read_exact(&mut back))
        .await
        .expect("in time")
        .expect("read");
    assert_eq!(&back, b"hi");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_no_client_uses_ends_with_its_window() {
    // Channels whose init window is 1 s: the endpoint's attach ends when
    // the relay gives up on the missing client, and the endpoint keeps
    // serving the next one.
    let stack = stack(|config| config.grants.init_window_secs = 1).await;
    let endpoint = endpoint(&stack, "svc").await;
    let unused = request_grant(&stack.url, "svc", None, WAIT)
        .await
        .expect("grant");
    drop(unused);
    wait_until("the unused attach to end", || endpoint.finished() == 1).await;
    assert_eq!(endpoint.served(), 0, "the unused channel served nobody");
    corridor_call(&stack.url, "svc")
        .await
        .expect("the next client");
    wait_until("the next client's session", || endpoint.served() == 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_over_their_rate_get_429_and_metrics_count_outcomes() {
    let stack = stack(|config| {
        config.rate = corridor_controlplane::RateLimit {
            per_second: std::num::NonZeroU32::MIN,
            burst: std::num::NonZeroU32::new(2).expect("2"),
        };
    })
    .await;
    let _endpoint = endpoint(&stack, "svc").await;
    corridor_call(&stack.url, "svc").await.expect("first");
    corridor_call(&stack.url, "svc")
        .await
        .expect("second, within the burst");
    assert_eq!(
        refused_with(corridor_call(&stack.url, "svc").await),
        (429, "rate_limited".into())
    );
    let metrics = get(&stack.url, "/metrics").await;
    for line in [
        "corridor_controlplane_artifacts_total{outcome=\"issued\"} 2",
        "corridor_controlplane_artifacts_total{outcome=\"rate_limited\"} 1",
        "corridor_controlplane_endpoints_connected 1",
        "corridor_controlplane_push_seconds_count 2",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    assert_eq!(get(&stack.url, "/healthz").await, "ok\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn noise_control_sessions_prove_which_endpoint_registers_which_id() {
    use corridor::credential::NoiseCredential;
    use corridor::rpc::RpcError;
    use corridor_controlplane::agent::{AgentConfig, ControlCredential, control_url};
    use corridor_controlplane::protocol::{CONTROL_CHANNEL_ID, REGISTER, Register};
    use corridor_controlplane::{ControlNoise, EndpointKeys};
    use corridor_core::identity::StaticSecret;
    let secret = || StaticSecret::generate(&mut rand_core::OsRng);
    let (control_key, listed, stranger) = (secret(), secret(), secret());
    let keys = EndpointKeys::parse(&format!("{} svc\n", listed.public_key().to_b64u()))
        .expect("keys file");
    let control_public = control_key.public_key();
    let stack = stack(move |config| {
        config.control_psk = None;
        config.control_noise = Some(ControlNoise {
            identity: control_key,
            endpoint_keys: keys,
        });
    })
    .await;
    let noise = |identity: &StaticSecret, pinned| ControlCredential::Noise {
        identity: identity.clone(),
        controlplane_key: pinned,
    };
    let _endpoint = endpoint_with(AgentConfig::with(
        &stack.url,
        "svc",
        noise(&listed, control_public),
    ))
    .await;
    corridor_call(&stack.url, "svc")
        .await
        .expect("served by the listed key");

    let url = control_url(&stack.url).expect("control url");
    let options = SessionOptions::default();
    let own = Client::connect_ws(
        &url,
        NoiseCredential::ik(listed.clone(), control_public, CONTROL_CHANNEL_ID),
        &options,
    )
    .await
    .expect("the listed key connects");
    let refused = own
        .rpc()
        .call::<_, Value>(
            REGISTER,
            &Register {
                endpoint_id: "billing".into(),
            },
        )
        .await;
    assert!(
        matches!(refused, Err(RpcError::Remote { code: 403, .. })),
        "{refused:?}"
    );

    let unlisted = Client::connect_ws(
        &url,
        NoiseCredential::ik(stranger, control_public, CONTROL_CHANNEL_ID),
        &options,
    )
    .await;
    assert!(
        unlisted.is_err(),
        "an unlisted key is refused in the handshake"
    );
    let impostor_key = StaticSecret::generate(&mut rand_core::OsRng).public_key();
    let wrong_pin = Client::connect_ws(
        &url,
        NoiseCredential::ik(listed, impostor_key, CONTROL_CHANNEL_ID),
        &options,
    )
    .await;
    assert!(
        wrong_pin.is_err(),
        "an endpoint pinning another key does not get through"
    );
    let psk = corridor::DirectCredential {
        psk: PSK.into(),
        suite: corridor::Suite::X25519HkdfSha256Aes256Gcm,
        channel_id: Some(CONTROL_CHANNEL_ID.into()),
        init_exp_unix_s: corridor_controlplane::protocol::CONTROL_INIT_EXP,
    };
    let psk_session = Client::connect_ws(&url, psk, &options).await;
    assert!(psk_session.is_err(), "the PSK is off");
}
