//! Running the real `corridor` binary in tests: a process with its JSON ready
//! line and log feed, one-shot commands, and a plain HTTP status probe.

#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_corridor");

/// A running `corridor` service with its ready line, a feed of its later
/// stdout lines and a feed of its log lines.
pub struct Service {
    pub child: Child,
    pub ready: Value,
    pub lines: mpsc::Receiver<String>,
    pub logs: mpsc::Receiver<String>,
}

impl Service {
    /// Runs `corridor relay --listen 127.0.0.1:0 ARGS` and waits for its ready line.
    pub fn start(args: &[&str], state_dir: &Path) -> Service {
        let mut full = vec!["relay", "--listen", "127.0.0.1:0"];
        full.extend_from_slice(args);
        Self::spawn(&full, state_dir)
    }

    /// Runs `corridor ARGS` and waits for the first stdout line, as JSON.
    pub fn spawn(args: &[&str], state_dir: &Path) -> Service {
        Self::spawn_with_env(args, &[], state_dir)
    }

    /// [`Service::spawn`] with extra environment variables.
    pub fn spawn_with_env(args: &[&str], env: &[(&str, &str)], state_dir: &Path) -> Service {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .envs(env.iter().copied())
            .env("CORRIDOR_STATE_DIR", state_dir);
        Self::from_command(command)
    }

    /// Runs `command` (a `corridor` process, perhaps under a wrapper) and
    /// waits for its first stdout line, as JSON.
    pub fn from_command(mut command: Command) -> Service {
        let mut child = command
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn corridor");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let (ready_tx, ready_rx) = mpsc::channel();
        let (line_tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            let mut line = String::new();
            let _ = stdout.read_line(&mut line);
            let _ = ready_tx.send(line);
            for line in stdout.lines().map_while(Result::ok) {
                if line_tx.send(line).is_err() {
                    return;
                }
            }
        });
        let (log_tx, logs) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if log_tx.send(line).is_err() {
                    return;
                }
            }
        });
        let line = ready_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("ready line within 30 s");
        let ready: Value = match serde_json::from_str(&line) {
            Ok(ready) => ready,
            Err(error) => {
                // It exited or printed something else: show why.
                let status = child.wait();
                let logs: Vec<String> = logs.try_iter().collect();
                panic!("no JSON ready line ({error}): {line:?}, {status:?}, stderr: {logs:#?}");
            }
        };
        Service {
            child,
            ready,
            lines,
            logs,
        }
    }

    pub fn url(&self, key: &str) -> String {
        self.ready[key]
            .as_str()
            .expect("url in ready line")
            .to_owned()
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// The next stdout line after the ready line, as JSON.
    pub fn next_json(&self) -> Value {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(30))
            .expect("a stdout line within 30 s");
        serde_json::from_str(&line).expect("a JSON line")
    }

    /// Waits for a log line containing `text`.
    pub fn wait_log(&self, text: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.logs.recv_timeout(left) {
                Ok(line) if line.contains(text) => return,
                Ok(_) => continue,
                Err(_) => panic!("no log line with {text:?} within 10 s"),
            }
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The whole response to a plain HTTP/1.1 GET of `url`.
fn http_get(url: &str) -> String {
    let rest = url.strip_prefix("http://").expect("http url");
    let (host, path) = rest.split_once('/').expect("path");
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    use std::io::{Read as _, Write as _};
    write!(
        stream,
        "GET /{path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("read");
    text
}

pub fn http_status(url: &str) -> u16 {
    http_get(url)
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

pub fn http_body(url: &str) -> String {
    let text = http_get(url);
    text.split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}

pub fn corridor(args: &[&str], state_dir: &Path) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env("CORRIDOR_STATE_DIR", state_dir)
        .output()
        .expect("run corridor")
}
