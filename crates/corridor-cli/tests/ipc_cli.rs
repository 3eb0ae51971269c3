//! `corridor ipc serve` and `corridor ipc call` as separate processes: a
//! client running as another user, client executables allowed and not, a
//! client whose binary is replaced after it connected, mutual TLS with a
//! PKI from `corridor ipc certs`, and SIGTERM.

mod support;

use corridor_ipc::hashes::{ExecutableHashes, hex};
use corridor_ipc::{PeerPolicy, Refusal};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::{BIN, Service, corridor};

/// `sha256sum FILE`'s digest.
fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)[..64].to_owned()
}

/// A client key file in `dir`; returns its path and public key.
fn client_key(dir: &Path) -> (PathBuf, String) {
    let file = dir.join("client.key");
    let out = corridor(
        &[
            "keygen",
            "--kind",
            "identity",
            "--out",
            file.to_str().expect("utf8"),
        ],
        dir,
    );
    assert!(out.status.success());
    let printed: Value = serde_json::from_slice(&out.stdout).expect("json");
    (
        file,
        printed["public_key"].as_str().expect("key").to_owned(),
    )
}

struct Server {
    service: Service,
    socket: String,
    server_key: String,
}

fn serve(dir: &Path, socket: &str, client_key: &str, extra: &[&str]) -> Server {
    let identity = dir.join("server.key");
    let mut args = vec![
        "ipc",
        "serve",
        "--socket",
        socket,
        "--identity",
        identity.to_str().expect("utf8"),
        "--client-key",
        client_key,
    ];
    args.extend_from_slice(extra);
    let service = Service::spawn(&args, dir);
    let server_key = service.url("server_key");
    Server {
        service,
        socket: socket.to_owned(),
        server_key,
    }
}

/// `PROGRAM ipc call ... ping`, optionally under a wrapper (setpriv).
fn call(program: &Path, wrapper: &[&str], server: &Server, key: &Path) -> Output {
    let mut command = match wrapper.split_first() {
        Some((first, rest)) => {
            let mut command = Command::new(first);
            command.args(rest).arg(program);
            command
        }
        None => Command::new(program),
    };
    command
        .args(["ipc", "call", "--socket", &server.socket])
        .args(["--identity", key.to_str().expect("utf8")])
        .args(["--server-key", &server.server_key, "whoami"])
        .output()
        .expect("run the client")
}

/// The JSON a successful call printed.
fn answer(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
}

#[test]
fn a_client_running_as_another_user_is_refused_by_the_uid_policy() {
    if !is_root() {
        eprintln!("skipped: changing a client's uid needs root");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let (key, public) = client_key(dir.path());
    // The unprivileged client must be able to read its own key.
    std::os::unix::fs::chown(&key, Some(65534), Some(65534)).expect("chown");
    let name = format!("@corridor-uid-test-{}", std::process::id());
    let server = serve(dir.path(), &name, &public, &["--allow-uid", "0"]);
    let nobody = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ];
    let out = call(Path::new(BIN), &nobody, &server, &key);
    assert!(!out.status.success(), "nobody is refused");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("uid 65534 is not allowed"),
        "told why: {stderr}"
    );
    server.service.wait_log("uid_not_allowed");
    // The same key and binary as root (uid 0) are served.
    std::os::unix::fs::chown(&key, Some(0), Some(0)).expect("chown back");
    let out = call(Path::new(BIN), &[], &server, &key);
    let who = answer(&out);
    assert_eq!(who["unix"]["uid"], 0);
}

#[test]
fn only_allowed_client_executables_are_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, public) = client_key(dir.path());
    let socket = dir.path().join("run/ipc.sock");
    let digest = sha256sum(Path::new(BIN));
    let server = serve(
        dir.path(),
        socket.to_str().expect("utf8"),
        &public,
        &["--client-hash", &digest],
    );
    let out = call(Path::new(BIN), &[], &server, &key);
    let who = answer(&out);
    assert_eq!(who["executable"]["sha256"], digest);
    // Another binary (the same program, one byte longer) is not.
    let other = dir.path().join("other-client");
    let mut bytes = std::fs::read(BIN).expect("read");
    bytes.push(0);
    std::fs::write(&other, bytes).expect("write");
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = call(&other, &[], &server, &key);
    assert!(!out.status.success(), "an unlisted binary is refused");
    server.service.wait_log("executable_not_allowed");
}

#[test]
fn a_client_that_replaces_its_binary_after_connecting_is_judged_by_the_one_it_runs() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let client = dir.path().join("client");
    std::fs::copy(BIN, &client).expect("copy");
    let allowed = corridor_ipc::hashes::parse_hex(&sha256sum(&client)).expect("hex");
    let socket = dir.path().join("swap.sock");
    runtime.block_on(async {
        let listener = tokio::net::UnixListener::bind(&socket).expect("bind");
        // The client connects and waits for a handshake that never comes.
        let server_key = corridor_core::identity::StaticSecret::generate(&mut rand_core::OsRng)
            .public_key()
            .to_b64u();
        let (key, _) = client_key(dir.path());
        let mut child = Command::new(&client)
            .args(["ipc", "call", "--socket", socket.to_str().expect("utf8")])
            .args([
                "--identity",
                key.to_str().expect("utf8"),
                "--server-key",
                &server_key,
            ])
            .arg("ping")
            .spawn()
            .expect("spawn");
        let (stream, _) = listener.accept().await.expect("accept");
        let mut info = corridor::ConnectionInfo::unix(&stream);
        // Now the file at the client's path becomes another program.
        let replacement = dir.path().join("replacement");
        std::fs::write(&replacement, b"#!/bin/sh\nexit 0\n").expect("write");
        std::fs::rename(&replacement, &client).expect("swap");
        assert_ne!(sha256sum(&client), hex(&allowed));
        let policy = PeerPolicy {
            executables: [allowed].into(),
            ..PeerPolicy::default()
        };
        let verdict = policy.check(&mut info, &ExecutableHashes::default());
        assert_eq!(verdict, Ok(()), "the binary it runs is the allowed one");
        let executable = info.process.and_then(|p| p.executable).expect("recorded");
        assert_eq!(executable.sha256, allowed);
        // And the other way round: the binary it runs is what is refused.
        let mut info = corridor::ConnectionInfo::unix(&stream);
        let strict = PeerPolicy {
            executables: [corridor_ipc::hashes::parse_hex(&sha256sum(&client)).expect("hex")]
                .into(),
            ..PeerPolicy::default()
        };
        let verdict = strict.check(&mut info, &ExecutableHashes::default());
        assert!(
            matches!(verdict, Err(Refusal::Executable { .. })),
            "{verdict:?}"
        );
        drop(stream);
        let _ = child.kill();
        let _ = child.wait();
    });
}

#[test]
fn sigterm_removes_the_socket_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, public) = client_key(dir.path());
    let socket = dir.path().join("run/ipc.sock");
    let mut server = serve(dir.path(), socket.to_str().expect("utf8"), &public, &[]);
    let who = answer(&call(Path::new(BIN), &[], &server, &key));
    assert_eq!(who["suite"], "corridor.noise");
    assert!(socket.exists());
    server.service.signal("TERM");
    let status = server.service.child.wait().expect("exits");
    assert!(status.success(), "{status:?}");
    assert!(!socket.exists(), "the socket file is gone");
}

#[test]
fn keys_that_begin_with_a_dash_are_taken_as_keys() {
    // base64url keys start with '-' one time in 64.
    let dir = tempfile::tempdir().expect("tempdir");
    let key = "-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    // Each command stops at its missing (or, for ipc serve, new) identity
    // or its bad socket, once its flags have parsed.
    let path = |name: &str| dir.path().join(name).to_str().expect("utf8").to_owned();
    let (call_key, serve_key, agent_key) = (path("call.key"), path("ipc.key"), path("agent.key"));
    for args in [
        vec![
            "ipc",
            "call",
            "--socket",
            "@x",
            "--identity",
            &call_key,
            "--server-key",
            key,
            "ping",
        ],
        vec![
            "ipc",
            "serve",
            "--socket",
            "x.sock",
            "--identity",
            &serve_key,
            "--client-key",
            key,
        ],
        vec![
            "serve",
            "--controlplane",
            "http://127.0.0.1:9",
            "--endpoint-id",
            "x",
            "--identity",
            &agent_key,
            "--controlplane-key",
            key,
        ],
    ] {
        let out = corridor(&args, dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("unexpected argument"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn mutual_tls_with_a_pki_that_ipc_certs_made() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = |name: &str| dir.path().join(name).to_str().expect("utf8").to_owned();
    let (ours, theirs) = (path("pki"), path("other-pki"));
    for out_dir in [&ours, &theirs] {
        let made = corridor(&["ipc", "certs", "--out-dir", out_dir], dir.path());
        let printed = answer(&made);
        assert!(Path::new(printed["ca"].as_str().expect("ca")).exists());
    }
    let mode = std::fs::metadata(dir.path().join("pki/ca-key.pem"))
        .expect("ca key")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let again = corridor(&["ipc", "certs", "--out-dir", &ours], dir.path());
    assert!(!again.status.success(), "an existing PKI is kept");
    assert!(String::from_utf8_lossy(&again.stderr).contains("never overwritten"));

    let socket = path("run/ipc.sock");
    let identity = path("server.key");
    let _server = Service::spawn(
        &[
            "ipc",
            "serve",
            "--socket",
            &socket,
            "--identity",
            &identity,
            "--tls-dir",
            &ours,
        ],
        dir.path(),
    );
    let call = |pki: &str| {
        Command::new(BIN)
            .args([
                "ipc",
                "call",
                "--socket",
                &socket,
                "--tls-dir",
                pki,
                "whoami",
            ])
            .output()
            .expect("run the client")
    };
    let who = answer(&call(&ours));
    assert_eq!(
        who["tls"]["client_certificate_sha256"]
            .as_str()
            .map(str::len),
        Some(64),
        "{who}"
    );
    // The other PKI's client does not trust this server's certificate.
    let refused = call(&theirs);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("tls") && stderr.contains("UnknownIssuer"),
        "{stderr}"
    );
}
