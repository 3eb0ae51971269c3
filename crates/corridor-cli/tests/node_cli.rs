//! `corridor node` as separate processes: a controller and a worker, the
//! worker's registry dialling the controller (again after a restart),
//! broadcast and send through the admin API, and a worker's order refused;
//! nodes over wss:// with a self-signed certificate and its pin, and a role
//! the operator gives outranking the one a node claims.

use serde_json::Value;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_corridor");

/// A running node: its ready line and every later stdout line.
struct NodeProcess {
    child: Child,
    ready: Value,
    lines: mpsc::Receiver<String>,
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(name: &str, role: &str, dir: &Path) -> NodeProcess {
    start_with(name, role, dir, &[])
}

fn start_with(name: &str, role: &str, dir: &Path, extra: &[&str]) -> NodeProcess {
    let mut child = Command::new(BIN)
        .args(["node", "start", "--name", name, "--role", role])
        .args(extra)
        .args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .arg("--state-dir")
        .arg(dir)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let (send, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                return;
            }
        }
    });
    let first = lines
        .recv_timeout(Duration::from_secs(30))
        .expect("ready line");
    let ready = serde_json::from_str(&first).expect("JSON ready line");
    NodeProcess {
        child,
        ready,
        lines,
    }
}

impl NodeProcess {
    fn field(&self, key: &str) -> String {
        self.ready[key].as_str().expect(key).to_owned()
    }

    /// `corridor node ARGS --admin ... --admin-token-file ...`; its JSON answer.
    fn admin(&self, args: &[&str]) -> Value {
        let out = Command::new(BIN)
            .arg("node")
            .args(args)
            .args([
                "--admin",
                &self.field("admin"),
                "--admin-token-file",
                &self.field("admin_token_file"),
            ])
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON answer")
    }

    fn connected(&self) -> usize {
        self.admin(&["status"])["connected"]
            .as_array()
            .map_or(0, Vec::len)
    }

    fn wait_connected(&self, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.connected() != count {
            assert!(Instant::now() < deadline, "{count} connected within 20 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Until the node has counted `count` orders refused.
    fn wait_refused_orders(&self, count: u64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.admin(&["status"])["stats"]["dropped_unauthorized"] != count {
            assert!(
                Instant::now() < deadline,
                "{count} orders counted as refused"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The next message line whose type is `kind`.
    fn received(&self, kind: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .expect("a message line in time");
            let value: Value = serde_json::from_str(&line).expect("JSON line");
            if value["message"]["type"] == kind {
                return value;
            }
        }
    }

    fn terminate(mut self) {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(self.child.wait().expect("exits").success());
    }
}

#[test]
fn a_controller_and_a_worker_in_separate_processes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let controller = start("ctl", "controller", &dir.path().join("ctl"));
    let worker = start("w1", "worker", &dir.path().join("w1"));
    let (ctl_url, ctl_key, ctl_id) = (
        controller.field("url"),
        controller.field("public_key"),
        controller.field("peer_id"),
    );
    let added = worker.admin(&["peers", "add", &ctl_url, "--key", &ctl_key, "--name", "ctl"]);
    assert_eq!(added["id"], ctl_id.as_str());
    controller.wait_connected(1);

    let sent = controller.admin(&["broadcast", "hello", r#"{"x":1}"#]);
    assert_eq!(sent["peers"], 1);
    let got = worker.received("hello");
    assert_eq!(
        (
            got["from"]["name"].as_str(),
            got["message"]["payload"]["x"].as_i64()
        ),
        (Some("ctl"), Some(1))
    );

    // A worker's order is dropped; its report arrives.
    worker.admin(&["send", &ctl_id, "order.run", "{}"]);
    worker.admin(&["send", &ctl_id, "report", r#"{"ok":true}"#]);
    assert_eq!(controller.received("report")["from"]["role"], "worker");
    controller.wait_refused_orders(1);

    // The counters as Prometheus text on the admin listener.
    let metrics = Command::new("curl")
        .args(["--silent", "--max-time", "10"])
        .arg(format!("http://{}/metrics", controller.field("admin")))
        .output()
        .expect("curl");
    let metrics = String::from_utf8_lossy(&metrics.stdout);
    assert!(
        metrics.contains("corridor_mesh_dropped_total{reason=\"unauthorized\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("corridor_mesh_messages_total{direction=\"in\",type=\"report\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("corridor_mesh_connections 1"), "{metrics}");

    // The worker restarts: its registry dials the controller again.
    let worker_dir = dir.path().join("w1");
    worker.terminate();
    controller.wait_connected(0);
    let worker = start("w1", "worker", &worker_dir);
    controller.wait_connected(1);
    let listed = worker.admin(&["peers", "list"]);
    assert_eq!(
        (listed[0]["name"].as_str(), listed[0]["connected"].as_bool()),
        (Some("ctl"), Some(true))
    );
    controller.terminate();
    worker.wait_connected(0);
}

#[test]
fn over_wss_with_a_pinned_self_signed_certificate_and_an_operator_given_role() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = start_with(
        "hub",
        "dual",
        &dir.path().join("hub"),
        &["--tls-self-signed"],
    );
    let url = hub.field("url");
    assert!(url.starts_with("wss://"), "{url}");
    let pin = hub.field("tls_pin");
    // Claims to be a controller; the hub's operator says it is a worker.
    let liar = start_with(
        "liar",
        "controller",
        &dir.path().join("liar"),
        &["--peer-tls-pin", &pin],
    );
    hub.admin(&[
        "peers",
        "add",
        "--key",
        &liar.field("public_key"),
        "--role",
        "worker",
    ]);
    liar.admin(&["peers", "add", &url, "--key", &hub.field("public_key")]);
    hub.wait_connected(1);
    let hub_id = hub.field("peer_id");
    liar.admin(&["send", &hub_id, "order.run", "{}"]);
    liar.admin(&["send", &hub_id, "report", "{}"]);
    let report = hub.received("report");
    assert_eq!(
        (
            report["from"]["role"].as_str(),
            report["from"]["claimed_role"].as_str()
        ),
        (Some("worker"), Some("controller"))
    );
    hub.wait_refused_orders(1);
    let listed = hub.admin(&["peers", "list"]);
    assert_eq!(listed[0]["assigned_role"], "worker");
}
