//! The dial-back and the control API against hostile or broken agents:
//! wrong, expired and replayed secrets, an agent that never dials back,
//! a wrong pin, JSON-RPC as any client sends it, restarts on both sides.

mod support;

use corridor_proxy::{ApiClient, ProxyError, ServerTrust};
use serde_json::{Value, json};
use std::time::Duration;
use support::{Proxy, get, http_service, notification};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A data connection to `proxy` presenting `secret`.
async fn dial_data(
    proxy: &Proxy,
    secret: &[u8],
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let tls = corridor::tls::client_config(proxy.ready.pin.as_deref().unwrap()).unwrap();
    let tcp = tokio::net::TcpStream::connect(proxy.ready.data)
        .await
        .unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut data = tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .unwrap();
    data.write_all(secret).await.unwrap();
    data.flush().await.unwrap();
    data
}

fn secret_of(notification: &Value) -> Vec<u8> {
    use base64::Engine as _;
    let text = notification["params"]["secret"].as_str().expect("secret");
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

/// An API session subscribed to `host` by hand, acting as an agent.
async fn hand_agent(proxy: &Proxy, host: &str, secret: &str) -> ApiClient {
    let mut api = ApiClient::connect(&proxy.api_url(), &proxy.trust(), None)
        .await
        .unwrap();
    api.call("proxy.subscribe", json!({"host": host, "secret": secret}))
        .await
        .expect("subscribed");
    api
}

async fn closed_without_data(data: &mut tokio_rustls::client::TlsStream<tokio::net::TcpStream>) {
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(10), data.read(&mut buf))
        .await
        .expect("closed in time");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_expired_and_wrong_secrets_close_the_data_connection() {
    let proxy = Proxy::start(|config| {
        config.limits.dialback_timeout = Duration::from_millis(300);
    })
    .await;
    let secret = proxy.register("hand.example").await;
    let mut agent = hand_agent(&proxy, "hand.example", &secret).await;
    let port = proxy.http_port();

    // Served once with the notified secret.
    let visitor = tokio::spawn(get(port, "hand.example", "/once"));
    let notified = notification(&mut agent).await;
    assert_eq!(notified["method"], "proxy.connect");
    assert_eq!(notified["params"]["host"], "hand.example");
    assert_eq!(notified["params"]["port"], port);
    assert!(
        notified["params"]["client_addr"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    let used = secret_of(&notified);
    let mut data = dial_data(&proxy, &used).await;
    let mut head = vec![0u8; 64];
    let n = data.read(&mut head).await.unwrap();
    assert!(
        head[..n].starts_with(b"GET /once HTTP/1.1\r\n"),
        "the sniffed bytes come first"
    );
    data.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    data.shutdown().await.unwrap();
    assert!(visitor.await.unwrap().starts_with("HTTP/1.1 204"));

    // The same secret again.
    closed_without_data(&mut dial_data(&proxy, &used).await).await;
    // A secret nobody was given.
    closed_without_data(&mut dial_data(&proxy, &[7u8; 32]).await).await;
    // An agent that never dials back: the visitor gets 502 at the deadline,
    // and the secret is worthless afterwards.
    let late = get(port, "hand.example", "/late").await;
    assert!(late.starts_with("HTTP/1.1 502"), "{late}");
    let expired = secret_of(&notification(&mut agent).await);
    assert_eq!(proxy.handle.pending_dialbacks(), 0);
    closed_without_data(&mut dial_data(&proxy, &expired).await).await;
    corridor_testkit::wait_until("three refusals counted", || {
        proxy.handle.data_refusals("unknown_secret") == 3
    })
    .await;
    assert_eq!(proxy.handle.visitors("http", "dialback_timeout"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_hosts_and_wrong_secrets_get_one_error_and_operators_need_the_token() {
    let proxy = Proxy::start(|_| {}).await;
    let secret = proxy.register("known.example").await;
    let mut anyone = ApiClient::connect(&proxy.api_url(), &proxy.trust(), None)
        .await
        .unwrap();
    let mut codes = Vec::new();
    for (host, secret) in [
        ("known.example", "d3Jvbmc="),
        ("unknown.example", secret.as_str()),
    ] {
        match anyone
            .call("proxy.subscribe", json!({"host": host, "secret": secret}))
            .await
        {
            Err(ProxyError::Rpc { error, .. }) => codes.push((error.code, error.message)),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        codes[0], codes[1],
        "the answer does not say which hosts exist"
    );
    for method in ["proxy.register", "proxy.list", "proxy.unregister"] {
        let refused = anyone.call(method, json!({"host": "x.example"})).await;
        assert!(
            matches!(refused, Err(ProxyError::Rpc { ref error, .. }) if error.code == -32002),
            "{refused:?}"
        );
    }
    let wrong = ApiClient::connect(&proxy.api_url(), &proxy.trust(), Some("not-the-token")).await;
    let refused = wrong.unwrap().call("proxy.list", json!({})).await;
    assert!(
        matches!(refused, Err(ProxyError::Rpc { .. })),
        "{refused:?}"
    );
    let mut admin = proxy.admin().await;
    let listed = admin.call("proxy.list", Value::Null).await.unwrap();
    assert_eq!(
        listed,
        json!({"hosts": [{"host": "known.example", "agents": 0}]})
    );
    let bad = admin.call("proxy.register", json!({"host": "a b"})).await;
    assert!(
        matches!(bad, Err(ProxyError::Rpc { ref error, .. }) if error.code == -32602),
        "{bad:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_pinning_another_key_never_connects() {
    let proxy = Proxy::start(|_| {}).await;
    let secret = proxy.register("pin.example").await;
    let mut config = corridor_proxy::AgentConfig::new(
        proxy.api_url(),
        ServerTrust::Pin("sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into()),
    );
    config.subscriptions = vec![("pin.example".into(), secret)];
    let agent = corridor_proxy::Agent::spawn(config);
    let mut state = agent.state();
    let failed = tokio::time::timeout(
        Duration::from_secs(10),
        state.wait_for(|state| state.last_error.is_some()),
    )
    .await
    .expect("an attempt in time")
    .unwrap()
    .clone();
    assert_eq!(failed.sessions, 0);
    assert!(failed.last_error.unwrap().contains("tls"));
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_and_the_pin_survive_a_server_restart_and_agents_come_back() {
    let first = Proxy::start(|_| {}).await;
    let service = http_service("kept").await;
    let secret = first.register("kept.example").await;
    let pin = first.ready.pin.clone();
    let agent = first
        .agent(
            "kept.example",
            &secret,
            &[&format!("kept.example={service}")],
            1,
        )
        .await;
    let (api, data, http) = (first.ready.api, first.ready.data, first.ready.http[0]);
    first.handle.shutdown();
    first.done.await.unwrap();
    // The handle holds the server's state (its store file) open.
    drop(first.handle);
    let mut state = agent.state();
    state.wait_for(|state| !state.subscribed).await.unwrap();
    // The same state directory and ports: the agent reconnects by itself.
    let second = Proxy::start_in(first.dir.clone(), |config| {
        config.api = api;
        config.data = data;
        config.http = vec![http];
    })
    .await;
    assert_eq!(second.ready.pin, pin);
    agent
        .subscribed(Duration::from_secs(30))
        .await
        .expect("back");
    let answer = get(second.http_port(), "kept.example", "/again").await;
    assert!(answer.ends_with("kept /again\n"), "{answer}");
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_splice_outlives_its_agents_restart_and_the_next_agent_takes_new_visitors() {
    let proxy = Proxy::start(|_| {}).await;
    let echo = support::echo_service().await;
    let secret = proxy.register("flow.example").await;
    let route = format!("flow.example={echo}");
    let first = proxy.agent("flow.example", &secret, &[&route], 0).await;
    // A long-lived connection through the first agent.
    let mut long = tokio::net::TcpStream::connect(("127.0.0.1", proxy.http_port()))
        .await
        .unwrap();
    let head = b"GET /stream HTTP/1.1\r\nHost: flow.example\r\n\r\n";
    long.write_all(head).await.unwrap();
    let mut echoed = vec![0u8; head.len()];
    long.read_exact(&mut echoed).await.unwrap();
    // The agent restarts while the connection is open: it stops taking
    // visitors at once, and the open splice carries on.
    let stopping = tokio::spawn(first.shutdown());
    long.write_all(b"still here").await.unwrap();
    let mut more = [0u8; 10];
    long.read_exact(&mut more).await.unwrap();
    assert_eq!(&more, b"still here");
    let _second = proxy.agent("flow.example", &secret, &[&route], 0).await;
    let mut fresh = tokio::net::TcpStream::connect(("127.0.0.1", proxy.http_port()))
        .await
        .unwrap();
    fresh
        .write_all(b"GET /new HTTP/1.1\r\nHost: flow.example\r\n\r\n")
        .await
        .unwrap();
    let mut reply = [0u8; 12];
    fresh.read_exact(&mut reply).await.unwrap();
    assert_eq!(&reply, b"GET /new HTT");
    // Closing the long connection lets the first agent finish its drain.
    drop(long);
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("drained")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_rpc_batches_and_parse_errors_over_the_real_socket() {
    use futures_util::{SinkExt as _, StreamExt as _};
    let proxy = Proxy::start(|_| {}).await;
    let tls = corridor::tls::client_config(proxy.ready.pin.as_deref().unwrap()).unwrap();
    let tcp = tokio::net::TcpStream::connect(proxy.ready.api)
        .await
        .unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .unwrap();
    let url = proxy.api_url().url;
    let (mut ws, _) = tokio_tungstenite::client_async(url.as_str(), stream)
        .await
        .unwrap();
    use tokio_tungstenite::tungstenite::Message;
    let batch = r#"[{"jsonrpc":"2.0","method":"proxy.nothing","id":1},
        {"jsonrpc":"2.0","method":"proxy.subscribe","params":{"host":"x.example"},"id":2},
        {"jsonrpc":"2.0","method":"proxy.nothing"}]"#;
    ws.send(Message::text(batch)).await.unwrap();
    let Some(Ok(Message::Text(answer))) = ws.next().await else {
        panic!("an answer")
    };
    let answer: Value = serde_json::from_str(answer.as_str()).unwrap();
    assert_eq!(answer[0]["error"]["code"], -32601);
    assert_eq!(answer[1]["error"]["code"], -32602);
    assert_eq!(answer.as_array().unwrap().len(), 2);
    ws.send(Message::text("{not json")).await.unwrap();
    let Some(Ok(Message::Text(answer))) = ws.next().await else {
        panic!("an answer")
    };
    let answer: Value = serde_json::from_str(answer.as_str()).unwrap();
    assert_eq!(answer["error"]["code"], -32700);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_agent_is_kept_by_pings_not_reconnected() {
    let proxy = Proxy::start(|config| {
        config.limits.api_ping_interval = Duration::from_millis(100);
    })
    .await;
    let secret = proxy.register("idle.example").await;
    let mut config = corridor_proxy::AgentConfig::new(proxy.api_url(), proxy.trust());
    config.subscriptions = vec![("idle.example".into(), secret)];
    config.warm = 0;
    // Four ping intervals without any frame would end the session.
    config.api_silence = Duration::from_millis(400);
    let agent = corridor_proxy::Agent::spawn(config);
    agent.subscribed(Duration::from_secs(10)).await.unwrap();
    // A window of ten ping intervals with no traffic but pings: the one
    // session stays up, on both sides.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let state = agent.state().borrow().clone();
    assert_eq!((state.sessions, state.subscribed), (1, true), "{state:?}");
    let mut admin = proxy.admin().await;
    let listed = admin.call("proxy.list", Value::Null).await.unwrap();
    assert_eq!(listed["hosts"][0]["agents"], 1);
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_issued_certificate_serves_agents_that_trust_the_ca() {
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let (ca_pem, cert, key) = support::ca_issued(&["localhost"]);
    let write_pem = |name: &str, label: &str, der: &[u8]| {
        use base64::Engine as _;
        let body = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            format!(
                "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
                lines.join("\n")
            ),
        )
        .unwrap();
        path
    };
    let cert_file = write_pem("cert.pem", "CERTIFICATE", &cert);
    let key_file = write_pem("key.pem", "PRIVATE KEY", key.secret_der());
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let proxy = Proxy::start_in(dir.clone(), |config| {
        config.tls = Some(corridor::tls::ServerTlsFiles {
            cert: cert_file,
            key: key_file,
            client_ca: None,
        });
    })
    .await;
    assert_eq!(proxy.ready.pin, None, "no self-signed certificate was made");
    let url: corridor_proxy::ApiUrl = format!("wss://localhost:{}/api", proxy.ready.api.port())
        .parse()
        .unwrap();
    let token = proxy.admin_token();
    let trusted = ApiClient::connect(&url, &ServerTrust::CaFile(ca_file), Some(&token)).await;
    let listed = trusted
        .unwrap()
        .call("proxy.list", Value::Null)
        .await
        .unwrap();
    assert_eq!(listed, json!({"hosts": []}));
    // The public roots do not know this CA.
    let refused = ApiClient::connect(&url, &ServerTrust::PublicRoots, Some(&token)).await;
    assert!(
        matches!(refused, Err(ProxyError::Connect { ref detail, .. }) if detail.contains("tls")),
        "{:?}",
        refused.err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_server_takes_no_new_visitors_and_lets_open_splices_finish() {
    let proxy = Proxy::start(|config| config.limits.drain = Duration::from_secs(30)).await;
    let echo = support::echo_service().await;
    let secret = proxy.register("drain.example").await;
    let _agent = proxy
        .agent(
            "drain.example",
            &secret,
            &[&format!("drain.example={echo}")],
            0,
        )
        .await;
    let port = proxy.http_port();
    let mut open = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let head = b"GET /long HTTP/1.1\r\nHost: drain.example\r\n\r\n";
    open.write_all(head).await.unwrap();
    let mut echoed = vec![0u8; head.len()];
    open.read_exact(&mut echoed).await.unwrap();
    proxy.handle.shutdown();
    // New visitors are refused (the listener is gone)...
    wait_for_refusal(port).await;
    // ...while the open splice carries on until its visitor is done.
    open.write_all(b"more").await.unwrap();
    let mut more = [0u8; 4];
    open.read_exact(&mut more).await.unwrap();
    assert_eq!(&more, b"more");
    assert!(!proxy.done.is_finished(), "serve waits for the open splice");
    drop(open);
    tokio::time::timeout(Duration::from_secs(10), proxy.done)
        .await
        .expect("serve returns once the splice ends")
        .unwrap();
}

/// Waits until connecting to `port` is refused.
async fn wait_for_refusal(port: u16) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_ok()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the listener closes"
        );
        tokio::task::yield_now().await;
    }
}
