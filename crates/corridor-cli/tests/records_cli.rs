//! `corridor records` as real processes: the server with its example view
//! on SQLite, `corridor users` enrolling a user in its database, calls that
//! enroll and then log in by key, a watcher that prints another client's
//! change, and SIGTERM ending the server.

mod support;

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use support::{BIN, Service};

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
    let state = dir.path().join("state").display().to_string();
    let serve = [
        "records",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--state-dir",
        &state,
    ];
    let mut server = Service::spawn(&serve, dir.path());
    let ready = server.ready.clone();
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
    let mut watch = Command::new(BIN);
    watch.args(&watch_args);
    let watcher = Service::from_command(watch);
    assert_eq!(watcher.ready["watching"], "records/notes");

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
    server.signal("TERM");
    let status = server.child.wait().expect("wait");
    assert!(status.success(), "{status}");
}
