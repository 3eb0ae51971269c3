//! `corridor proxy serve`, `register`, `list` and `agent` as separate
//! processes, with curl as the visitor, and SIGTERM ending both.

mod support;

use serde_json::Value;
use std::io::{Read as _, Write as _};
use std::process::Command;
use support::{Service, corridor};

/// A local HTTP service on a thread: answers each request with "private".
fn private_service() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nprivate\n",
            );
        }
    });
    addr
}

#[test]
fn a_private_service_is_reached_with_curl_through_serve_register_and_agent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("proxy");
    let any = "127.0.0.1:0";
    let mut server = Service::spawn(
        &[
            "proxy",
            "serve",
            "--http",
            any,
            "--https",
            any,
            "--api",
            any,
            "--data",
            any,
            "--state-dir",
            state.to_str().expect("utf8"),
        ],
        dir.path(),
    );
    let ready = server.ready.clone();
    let pin = ready["pin"].as_str().expect("a pin").to_owned();
    let api = format!("wss://{}/api", ready["api"].as_str().expect("api"));
    let token = ready["admin_token_file"]
        .as_str()
        .expect("token file")
        .to_owned();
    let http = ready["http"][0].as_str().expect("http").to_owned();
    let secret = dir.path().join("app.secret");
    let api_flags = [
        "--api",
        &api,
        "--server-pin",
        &pin,
        "--admin-token-file",
        &token,
    ];

    let mut register = vec!["proxy", "register", "app.example"];
    register.extend_from_slice(&api_flags);
    register.extend_from_slice(&["--out", secret.to_str().expect("utf8")]);
    let out = corridor(&register, dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let service = private_service();
    let subscribe = format!("app.example={}", secret.display());
    let route = format!("app.example={service}");
    let mut agent = Service::spawn(
        &[
            "proxy",
            "agent",
            "--api",
            &api,
            "--server-pin",
            &pin,
            "--subscribe",
            &subscribe,
            "--route",
            &route,
        ],
        dir.path(),
    );
    assert_eq!(agent.ready["subscribed"], 1);

    let port = http.rsplit_once(':').expect("port").1;
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "10", "--resolve"])
        .arg(format!("app.example:{port}:127.0.0.1"))
        .arg(format!("http://app.example:{port}/"))
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "private\n");

    let mut list = vec!["proxy", "list"];
    list.extend_from_slice(&api_flags);
    let out = corridor(&list, dir.path());
    let listed: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(listed["hosts"][0]["agents"], 1, "{listed}");

    // /healthz and /metrics on the API port, reached with curl pinning the
    // same key (curl writes pins with two slashes).
    let curl_pin = pin.replacen("sha256/", "sha256//", 1);
    let api_https = format!("https://{}", ready["api"].as_str().expect("api"));
    let fetch = |path: &str| {
        let out = Command::new("curl")
            .args([
                "--silent",
                "--insecure",
                "--max-time",
                "10",
                "--pinnedpubkey",
                &curl_pin,
            ])
            .args(["--write-out", "\n%{http_code}"])
            .arg(format!("{api_https}{path}"))
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(fetch("/healthz"), "ok\n\n200");
    // Counted when the splice ends, just after curl has its answer.
    let spliced = "corridor_proxy_visitors_total{listener=\"http\",outcome=\"spliced\"} 1";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !fetch("/metrics").contains(spliced) {
        assert!(std::time::Instant::now() < deadline, "the visitor counted");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    server.signal("USR2");
    server.wait_log("metrics switched");
    assert!(fetch("/metrics").ends_with("404"));
    server.signal("USR1");
    server.wait_log("metrics switched");
    assert!(fetch("/metrics").ends_with("200"));
    let wrong_pin = "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let out = Command::new("curl")
        .args(["--silent", "--insecure", "--pinnedpubkey", wrong_pin])
        .arg(format!("{api_https}/healthz"))
        .output()
        .expect("curl");
    assert!(!out.status.success(), "curl refuses another key");

    agent.signal("TERM");
    assert!(agent.child.wait().expect("exits").success());
    server.signal("TERM");
    assert!(server.child.wait().expect("exits").success());
}
