//! A relay, a control plane on loopback, and endpoints that register with it.

#![allow(dead_code)]

use corridor::SessionOptions;
use corridor::builtin::{self, Info};
use corridor::reconnect::{Backoff, Reconnecting};
use corridor::rpc::Router;
use corridor_controlplane::agent::{self, AgentConfig};
use corridor_controlplane::{ControlPlane, ControlPlaneConfig, ControlPlaneHandle};
use corridor_testkit::TestRelay;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub use corridor_testkit::wait_until;

pub const WAIT: Duration = Duration::from_secs(60);
pub const PSK: [u8; 32] = [7; 32];

pub struct Stack {
    pub url: String,
    pub control_plane: ControlPlaneHandle,
    pub relay: TestRelay,
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.control_plane.shutdown();
    }
}

/// A relay and a control plane minting channels on it.
pub async fn stack(adjust: impl FnOnce(&mut ControlPlaneConfig)) -> Stack {
    let relay = TestRelay::start().await;
    let mut config = ControlPlaneConfig::new(relay.issuer_key(), relay.grant_params());
    config.control_psk = Some(PSK.into());
    config.listen = "127.0.0.1:0".parse().expect("addr");
    adjust(&mut config);
    let control_plane = ControlPlane::bind(config)
        .await
        .expect("control plane binds");
    let url = control_plane.url();
    let handle = control_plane.handle();
    tokio::spawn(control_plane.run());
    Stack {
        url,
        control_plane: handle,
        relay,
    }
}

/// An endpoint serving the built-in RPC and echo streams under `id`;
/// counts the client sessions it served.
pub struct TestEndpoint {
    pub link: Reconnecting,
    pub served: Arc<AtomicUsize>,
    /// Attach tasks that have finished, served or not.
    pub finished: Arc<AtomicUsize>,
}

impl TestEndpoint {
    pub fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }

    pub fn finished(&self) -> usize {
        self.finished.load(Ordering::SeqCst)
    }
}

pub async fn endpoint(stack: &Stack, id: &str) -> TestEndpoint {
    endpoint_with(AgentConfig::new(&stack.url, id, PSK)).await
}

/// [`endpoint`] with the agent's configuration given.
pub async fn endpoint_with(mut config: AgentConfig) -> TestEndpoint {
    let served = Arc::new(AtomicUsize::new(0));
    let router = builtin::register(
        Router::new(),
        Info {
            name: "test".into(),
            version: "0".into(),
            streams: vec![builtin::ECHO_STREAM.into()],
        },
    );
    let options = SessionOptions::default().with_router(router);
    let forwards = Arc::new(HashMap::new());
    let finished = Arc::new(AtomicUsize::new(0));
    let (counter, done) = (served.clone(), finished.clone());
    config.backoff = Backoff {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(200),
        ..Backoff::default()
    };
    let link = agent::spawn(
        config,
        Arc::new(move |grant| {
            let (options, forwards) = (options.clone(), forwards.clone());
            let (counter, done) = (counter.clone(), done.clone());
            tokio::spawn(async move {
                if let Ok(session) = agent::attach(&grant, &options).await {
                    counter.fetch_add(1, Ordering::SeqCst);
                    builtin::serve_streams(&session, forwards).await;
                }
                done.fetch_add(1, Ordering::SeqCst);
            });
            Ok(())
        }),
    )
    .expect("agent starts");
    tokio::time::timeout(WAIT, link.session())
        .await
        .expect("registered in time")
        .expect("not stopped");
    TestEndpoint {
        link,
        served,
        finished,
    }
}

/// A raw HTTP/1.1 POST; returns the status and the body as JSON.
pub async fn post(
    url: &str,
    path: &str,
    content_type: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, serde_json::Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let authority = url.strip_prefix("http://").expect("http url");
    let mut tcp = tokio::net::TcpStream::connect(authority)
        .await
        .expect("connect");
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    tcp.write_all(head.as_bytes()).await.expect("write head");
    // A server may answer and close before taking a large body.
    let _ = tcp.write_all(body).await;
    let mut response = Vec::new();
    let _ = tcp.read_to_end(&mut response).await;
    let (status, body) = corridor_testkit::status_and_body(&response);
    (
        status,
        serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
    )
}

/// The body of a plain HTTP/1.1 GET.
pub async fn get(url: &str, path: &str) -> String {
    let addr = url.strip_prefix("http://").expect("http url");
    let (_, body) = corridor_testkit::http_get(addr.parse().expect("address"), path).await;
    body
}
