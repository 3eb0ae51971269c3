//! `corridor records` as real processes: the server with its example view
//! on SQLite, `corridor users` enrolling a user in its database, calls that
//! enroll and then log in by key, a watcher that prints another client's
//! change, and SIGTERM ending the server.

use serde_json::Value;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_corridor");

/// A process whose stdout lines arrive on a channel.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    fn spawn(command: &mut Command) -> Running {
        let mut child = command
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
        Running { child, lines }
    }

    fn next_json(&self) -> Value {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(30))
            .expect("a line in time");
        serde_json::from_str(&line).expect("a JSON line")
    }
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run corridor")
}

fn stdout_ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

fn call_args<'a>(ready: &'a Value, identity: &'a Path) -> Vec<String> {
    vec![
        "records".into(),
        "call".into(),
        "--url".into(),
        ready["url"].as_str().expect("url").into(),
        "--server-key".into(),
        ready["server_key"].as_str().expect("key").into(),
        "--identity".into(),
        identity.display().to_string(),
    ]
}

#[test]
fn a_user_enrolls_acts_and_watches_through_the_cli() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let mut server = Running::spawn(
        Command::new(BIN)
            .args(["records", "serve", "--listen", "127.0.0.1:0", "--state-dir"])
            .arg(&state),
    );
    let ready = server.next_json();
    assert_eq!(ready["views"], serde_json::json!(["notes"]));
    let db = ready["db"].as_str().expect("db").to_owned();

    stdout_ok(run(&["users", "--db", &db, "add", "alice"]));
    let token = stdout_ok(run(&[
        "users", "--db", &db, "enroll", "alice", "--label", "cli",
    ]));
    let me = dir.path().join("alice.key");

    // Enroll and act in one call; the key file is made on first use.
    let mut args = call_args(&ready, &me);
    args.extend(["--user", "alice", "--token", token.trim()].map(String::from));
    args.push(r#"{"action":"insert","view":"notes","values":{"title":"first"}}"#.into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let answer = stdout_ok(run(&args));
    let answer: Value = serde_json::from_str(answer.trim()).expect("json");
    assert_eq!(answer["row"]["title"], "first");
    assert!(me.exists());

    // The token is spent; the key alone logs in from now on.
    let replay = run(&args);
    assert!(!replay.status.success());
    assert!(String::from_utf8_lossy(&replay.stderr).contains("enrollment token already used"));

    let mut watch_args = call_args(&ready, &me);
    watch_args.extend(["--watch", "notes"].map(String::from));
    let watcher = Running::spawn(Command::new(BIN).args(&watch_args));
    assert_eq!(watcher.next_json()["watching"], "records/notes");

    let mut insert = call_args(&ready, &me);
    insert.push(r#"{"action":"insert","view":"notes","values":{"title":"second"}}"#.into());
    insert.push(r#"{"action":"select","view":"notes","order":[{"column":"id"}]}"#.into());
    let out = stdout_ok(Command::new(BIN).args(&insert).output().expect("call"));
    let mut answers = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json"));
    let second = answers.next().expect("insert answer");
    let rows = answers.next().expect("select answer");
    assert_eq!(rows["rows"].as_array().map(Vec::len), Some(2));

    let event = watcher.next_json();
    assert_eq!(event["topic"], "records/notes");
    assert_eq!(event["payload"]["op"], "insert");
    assert_eq!(event["payload"]["key"]["id"], second["row"]["id"]);

    // SIGTERM: the server stops and exits cleanly.
    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let status = server.child.wait().expect("wait");
    assert!(status.success(), "{status}");
}
