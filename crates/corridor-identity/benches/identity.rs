//! Key logins (Noise IK, the key looked up in the store) and enrollments
//! (Noise XX, a token consumed and a key inserted in one transaction) per
//! second, on SQLite and on PostgreSQL, beside the same session stack
//! whose authorizer admits every key without a store (the baseline,
//! measured in the same run). Client and server share this process and its
//! two cores, so each rate is the pair's, not the server's alone.
//!
//! `cargo bench -p corridor-identity --bench identity` (PostgreSQL binaries
//! needed, as for the tests).

use corridor::credential::{AcceptAll, NoiseCredential};
use corridor::listener::{Listener, ListenerConfig};
use corridor::{Client, Endpoint, EndpointCredential, SessionOptions};
use corridor_core::identity::{PublicKey, StaticSecret};
use corridor_core::noise::{Pattern, ResponderConfig};
use corridor_identity::{
    Account, ClientConfig, Enroll, IdentityConfig, IdentityServer, Store, client,
};
use corridor_testkit::postgres::TestPostgres;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const CLIENTS: usize = 16;
const RUN: Duration = Duration::from_secs(3);

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let baseline = baseline_handshakes().await;
        println!("noise IK handshakes, no store (baseline): {baseline:>7.0}/s");
        let dir = tempfile::tempdir().expect("tempdir");
        let sqlite = Store::open_sqlite(&dir.path().join("bench.db"))
            .await
            .expect("sqlite");
        measure("sqlite", Arc::new(sqlite), baseline).await;
        let postgres = Store::open(&TestPostgres::get().fresh_database())
            .await
            .expect("postgres");
        measure("postgres", Arc::new(postgres), baseline).await;
    });
}

/// Runs `attempt` from CLIENTS tasks for RUN; attempts per second.
async fn rate<F, Fut>(attempt: F) -> f64
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let attempt = Arc::new(attempt);
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        let (attempt, done) = (attempt.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let mut round = 0;
            while started.elapsed() < RUN {
                attempt(client, round).await;
                round += 1;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for task in tasks {
        task.await.expect("client");
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

async fn baseline_handshakes() -> f64 {
    let server_key = StaticSecret::generate(&mut rand_core::OsRng);
    let listener = Listener::bind(
        &"127.0.0.1:0".parse().expect("addr"),
        ListenerConfig::default(),
    )
    .await
    .expect("bind");
    let url = format!("ws://{}/", listener.local_addr());
    let mut responder = ResponderConfig::new(server_key.clone());
    responder.patterns = vec![Pattern::IK];
    let credential = EndpointCredential::noise(responder, Arc::new(AcceptAll));
    tokio::spawn(async move {
        loop {
            let accepted = listener.accept().await;
            let credential = credential.clone();
            tokio::spawn(async move {
                let options = SessionOptions::default();
                let handshake = accepted.handshake(|c| async move {
                    Endpoint::accept_direct(c, &credential, &options).await
                });
                if let Ok((session, _slot)) = handshake.await {
                    session.closed().await;
                }
            });
        }
    });
    let public = server_key.public_key();
    let keys: Arc<Vec<StaticSecret>> = Arc::new(
        (0..CLIENTS)
            .map(|_| StaticSecret::generate(&mut rand_core::OsRng))
            .collect(),
    );
    rate(move |client, _| {
        let credential = NoiseCredential::ik(keys[client].clone(), public, "bench");
        let url = url.clone();
        async move {
            let session = Client::connect_ws(&url, credential, &SessionOptions::default())
                .await
                .expect("handshake");
            session.close().await;
        }
    })
    .await
}

async fn measure(name: &str, store: Arc<Store>, baseline: f64) {
    store.add_user("bench", &[]).await.expect("user");
    let config = IdentityConfig::new(
        "127.0.0.1:0".parse().expect("addr"),
        StaticSecret::generate(&mut rand_core::OsRng),
    );
    let everyone = Arc::new(|_: &Account, _: &str| true);
    let server = IdentityServer::bind(config, store.clone(), everyone)
        .await
        .expect("bind");
    let (url, server_key): (String, PublicKey) = (server.url(), server.public_key());
    let handle = server.handle();
    tokio::spawn(server.serve(Default::default(), |_, _| async {}));

    // Enrollments: a fresh key and token each; tokens issued beforehand.
    let mut tokens = Vec::new();
    for _ in 0..20_000 {
        tokens.push(
            store
                .issue_token("bench", Duration::from_secs(600), "")
                .await
                .expect("token"),
        );
    }
    let tokens = Arc::new(std::sync::Mutex::new(tokens));
    let (enroll_url, issued) = (url.clone(), tokens.clone());
    let enrollments = rate(move |_, _| {
        let token = issued.lock().expect("tokens").pop().expect("enough tokens");
        let me = ClientConfig::new(
            enroll_url.clone(),
            server_key,
            StaticSecret::generate(&mut rand_core::OsRng),
        );
        async move {
            let enroll = Enroll {
                user: "bench".into(),
                token,
                label: String::new(),
            };
            let connected = client::enroll(&me, enroll).await.expect("enroll");
            connected.session.close().await;
        }
    })
    .await;

    // Key logins: CLIENTS enrolled keys log in again and again.
    let mut members = Vec::new();
    for _ in 0..CLIENTS {
        let me = ClientConfig::new(
            url.clone(),
            server_key,
            StaticSecret::generate(&mut rand_core::OsRng),
        );
        let token = tokens.lock().expect("tokens").pop().expect("token");
        let enroll = Enroll {
            user: "bench".into(),
            token,
            label: String::new(),
        };
        client::enroll(&me, enroll).await.expect("enroll");
        members.push(me);
    }
    let members = Arc::new(members);
    let logins = rate(move |client, _| {
        let me = members[client].clone();
        async move {
            let connected = client::login(&me).await.expect("login");
            connected.session.close().await;
        }
    })
    .await;
    println!(
        "{name:>8}: key logins (IK) {logins:>7.0}/s ({:.2} of baseline)   enrollments (XX) {enrollments:>7.0}/s",
        logins / baseline
    );
    handle.shutdown();
}
