//! `corridor users` as a separate process against the store a running
//! identity server uses: a token it prints enrolls a key, and its
//! revocation closes the key's live session in the server within a second.

use corridor::core::identity::StaticSecret;
use corridor_identity::{
    Account, ClientConfig, Enroll, IdentityConfig, IdentityError, IdentityServer, Store, client,
};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_corridor");

fn users(db: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("users")
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("run corridor users")
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_printed_by_the_cli_enroll_and_its_revocation_closes_the_session() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("users.db");
    ok(users(&db, &["add", "alice", "--group", "staff"]));
    let again = users(&db, &["add", "alice"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));
    let invalid = users(&db, &["add", "alice smith"]);
    assert!(!invalid.status.success());
    assert!(String::from_utf8_lossy(&invalid.stderr).contains("not a valid name"));

    let token = ok(users(
        &db,
        &["enroll", "alice", "--ttl", "10m", "--label", "laptop"],
    ));
    let token = token.trim().to_owned();
    assert!(token.starts_with("ce1."), "{token}");

    // A server in this process over the same file.
    let store = Arc::new(Store::open_sqlite(&db).await.expect("store"));
    let config = IdentityConfig::new(
        "127.0.0.1:0".parse().expect("addr"),
        StaticSecret::generate(&mut rand_core::OsRng),
    );
    let everyone = Arc::new(|_: &Account, _: &str| true);
    let server = IdentityServer::bind(config, store, everyone)
        .await
        .expect("bind");
    let me = ClientConfig::new(
        server.url(),
        server.public_key(),
        StaticSecret::generate(&mut rand_core::OsRng),
    );
    let handle = server.handle();
    tokio::spawn(server.serve(Default::default(), |_, _| async {}));

    let enroll = Enroll {
        user: "alice".into(),
        token,
        label: String::new(),
    };
    let live = client::enroll(&me, enroll).await.expect("enroll");
    assert_eq!(live.welcome.groups, vec!["staff".to_string()]);
    let fingerprint = me.identity.public_key().fingerprint();

    let keys = ok(users(&db, &["keys", "alice"]));
    assert!(keys.contains(&fingerprint), "{keys}");
    assert!(keys.contains("laptop"), "{keys}");
    assert!(ok(users(&db, &["list"])).contains("alice\tgroups=staff\tkeys=1"));

    ok(users(&db, &["revoke", "alice", "--key", &fingerprint]));
    tokio::time::timeout(Duration::from_secs(1), live.session.closed())
        .await
        .expect("the server closes the revoked key's session within a second");
    assert_eq!(live.goodbye().as_deref(), Some("key revoked"));
    match client::login(&me).await {
        Err(IdentityError::Refused(reason)) => assert_eq!(reason, "key revoked"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let revoke_again = users(&db, &["revoke", "alice", "--key", &fingerprint]);
    assert!(!revoke_again.status.success());
    assert!(ok(users(&db, &["list"])).contains("keys=0"));
    handle.shutdown();
}

/// A fingerprint is base64url and may begin with `-`: it is the key's
/// fingerprint, not a flag (a random key's did so about once in 64 runs).
#[test]
fn a_fingerprint_beginning_with_a_dash_is_taken_as_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("users.db");
    ok(users(&db, &["add", "alice"]));
    let revoked = users(&db, &["revoke", "alice", "--key", "-rNotAKeyOfAlice"]);
    assert!(!revoked.status.success());
    let stderr = String::from_utf8_lossy(&revoked.stderr);
    assert!(!stderr.contains("unexpected argument"), "{stderr}");
}
