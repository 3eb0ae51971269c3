//! The `flowersec-endpoint` binary (the TypeScript client's interop peer)
//! serves what its doc says, checked with the flowersec crate's own client.
//! Also makes `cargo test` build it, so the TypeScript tests find it.

use corridor_testkit::flowersec_peer::{ECHO_RPC, HELLO_CLIENT};
use serde_json::{Value, json};
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The child process, killed however the test ends (a failed assertion too).
struct Endpoint(Child);

impl Drop for Endpoint {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_answers_calls_and_notifies() {
    let mut child = Endpoint(
        Command::new(env!("CARGO_BIN_EXE_flowersec-endpoint"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn flowersec-endpoint"),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("ready line");
    let ready: Value = serde_json::from_str(&line).expect("JSON ready line");
    let info = serde_json::from_value(ready["direct_info"].clone()).expect("direct info");
    let options = flowersec::client::ConnectOptions {
        transport_security_policy:
            flowersec::transport_security::TransportSecurityPolicy::allow_plaintext_for_loopback(),
        ..Default::default()
    };
    let client = flowersec::connect_direct(info, options)
        .await
        .expect("flowersec client connects");
    let (hello_tx, mut hello) = tokio::sync::mpsc::channel(4);
    let _subscription = client
        .rpc()
        .on_notify_typed(HELLO_CLIENT, move |note: Value| {
            let hello_tx = hello_tx.clone();
            async move {
                let _ = hello_tx.send(note).await;
            }
        });
    let reply: Value = client
        .rpc()
        .call_typed(ECHO_RPC, &json!({"n": 1}))
        .await
        .expect("echo call");
    assert_eq!(reply, json!({"echo": {"n": 1}}));
    let note = tokio::time::timeout(Duration::from_secs(10), hello.recv()).await;
    assert_eq!(note.expect("in time"), Some(json!({"hello": "client"})));
    let _ = client.close().await;
}
