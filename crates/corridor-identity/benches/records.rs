//! The records service's cost over its database, on SQLite and
//! PostgreSQL: `select` of one row by key and `insert`, round trips p50
//! and p99 through the service (client, session, RPC, the statement)
//! beside the same statement through the database driver directly, both
//! measured in this run; and a change's fan-out to 1,000 watchers (time
//! from the insert call to each watcher holding the event), p50 and p99,
//! beside an event published straight into the hub to the same watchers
//! (the fan-out alone, without the call, the database or its trigger).
//!
//! The session's bare RPC round trip is printed too: the floor under the
//! service's overhead.
//!
//! `cargo bench -p corridor-identity --bench records` (PostgreSQL binaries
//! needed, as for the tests).

use corridor::core::identity::StaticSecret;
use corridor_identity::records::sql::statement;
use corridor_identity::records::{ACTION, Action, RecordsConfig, RecordsServer};
use corridor_identity::rpc::Overflow;
use corridor_identity::{Backend, ClientConfig, Connected, Enroll, IdentityConfig, Store, client};
use corridor_testkit::postgres::TestPostgres;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const ROUND_TRIPS: usize = 2_000;
const WATCHERS: usize = 1_000;
const CHANGES: usize = 10;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        run(
            Backend::Sqlite,
            &dir.path().join("bench.db").display().to_string(),
        )
        .await;
        run(Backend::Postgres, &TestPostgres::get().fresh_database()).await;
    });
}

fn config(backend: Backend) -> RecordsConfig {
    let id = match backend {
        Backend::Sqlite => "INTEGER PRIMARY KEY",
        Backend::Postgres => "BIGSERIAL PRIMARY KEY",
    };
    RecordsConfig::parse(&format!(
        r#"setup = ["CREATE TABLE IF NOT EXISTS orders (id {id}, customer TEXT NOT NULL, amount DOUBLE PRECISION)"]
[[view]]
name = "orders"
table = "orders"
key = ["id"]
columns = {{ id = "integer", customer = "text", amount = "real" }}
writable = ["customer", "amount"]
read = ["*"]
write = ["*"]
"#
    ))
    .expect("config")
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() as f64 - 1.0) * p).round() as usize]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

async fn direct(store: &Store, config: &RecordsConfig, action: &Action) -> Duration {
    let statement = statement(&config.views[0], action).expect("statement");
    let query = statement.query();
    let started = Instant::now();
    query.fetch_all(store.pool()).await.expect("direct");
    started.elapsed()
}

async fn through(user: &Connected, action: &Action) -> Duration {
    let started = Instant::now();
    let _: Value = user.session.rpc().call(ACTION, action).await.expect("call");
    started.elapsed()
}

async fn run(backend: Backend, url: &str) {
    let store = Arc::new(Store::open(url).await.expect("store"));
    store.add_user("bench", &[]).await.expect("user");
    let records = config(backend);
    let identity = IdentityConfig::new(
        "127.0.0.1:0".parse().expect("addr"),
        StaticSecret::generate(&mut rand_core::OsRng),
    );
    let server = RecordsServer::bind(identity, records.clone(), store.clone())
        .await
        .expect("bind");
    let (server_url, server_key) = (server.identity().url(), server.identity().public_key());
    let handle = server.identity().handle();
    let hub = server.identity().events();
    tokio::spawn(server.serve(Default::default()));
    let connect = |store: Arc<Store>, url: String| async move {
        let token = store
            .issue_token("bench", Duration::from_secs(600), "")
            .await
            .expect("token");
        let me = ClientConfig::new(
            url,
            server_key,
            StaticSecret::generate(&mut rand_core::OsRng),
        );
        let enroll = Enroll {
            user: "bench".into(),
            token,
            label: String::new(),
        };
        client::enroll(&me, enroll).await.expect("enroll")
    };
    let user = connect(store.clone(), server_url.clone()).await;

    let insert = |n: usize| -> Action {
        serde_json::from_value(json!({"action": "insert", "view": "orders",
            "values": {"customer": format!("c{n}"), "amount": n as f64}}))
        .expect("insert")
    };
    let select = |id: usize| -> Action {
        serde_json::from_value(json!({"action": "select", "view": "orders",
            "filter": [{"column": "id", "value": id}]}))
        .expect("select")
    };
    let (mut insert_direct, mut insert_service) = (Vec::new(), Vec::new());
    let (mut select_direct, mut select_service) = (Vec::new(), Vec::new());
    // Interleaved, so both paths see the same database state and machine load.
    for n in 0..ROUND_TRIPS {
        insert_direct.push(direct(&store, &records, &insert(n)).await);
        insert_service.push(through(&user, &insert(n)).await);
    }
    for n in 0..ROUND_TRIPS {
        let id = 1 + (n * 7919) % (2 * ROUND_TRIPS);
        select_direct.push(direct(&store, &records, &select(id)).await);
        select_service.push(through(&user, &select(id)).await);
    }
    // The session's bare RPC round trip (a call that touches no database),
    // the floor under the service's overhead.
    let mut rpc = Vec::new();
    for _ in 0..ROUND_TRIPS {
        let started = Instant::now();
        user.unsubscribe("nothing").await.expect("call");
        rpc.push(started.elapsed());
    }
    let name = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    println!(
        "{name:>8} bare RPC round trip (no database): p50 {:>6.0} us p99 {:>6.0} us",
        us(percentile(&mut rpc, 0.5)),
        us(percentile(&mut rpc, 0.99))
    );
    for (what, direct, service) in [
        ("select by key", &mut select_direct, &mut select_service),
        ("insert", &mut insert_direct, &mut insert_service),
    ] {
        let (d50, d99) = (percentile(direct, 0.5), percentile(direct, 0.99));
        let (s50, s99) = (percentile(service, 0.5), percentile(service, 0.99));
        println!(
            "{name:>8} {what:<13}: driver p50 {:>6.0} us p99 {:>6.0} us | service p50 {:>6.0} us p99 {:>6.0} us | overhead p50 {:>5.0} us",
            us(d50),
            us(d99),
            us(s50),
            us(s99),
            us(s50.saturating_sub(d50))
        );
    }

    // Fan-out: WATCHERS sessions watch the view; each change's arrival at
    // each of them is timed from the start of the insert call.
    let mut watchers = Vec::new();
    let mut first_seq = 0;
    for _ in 0..WATCHERS {
        let watcher = connect(store.clone(), server_url.clone()).await;
        let subscribed = watcher
            .subscribe("records/orders", Overflow::Disconnect)
            .await
            .expect("subscribe");
        first_seq = subscribed.seq + 1;
        watchers.push(Arc::new(watcher));
    }
    // Each watcher notes its arrivals by sequence number; one counter says
    // when a change has reached everyone (no lock on the receiving path).
    let delivered = Arc::new(AtomicUsize::new(0));
    let everyone = Arc::new(tokio::sync::Notify::new());
    let mut tasks = Vec::new();
    for watcher in &watchers {
        let (watcher, delivered, everyone) = (watcher.clone(), delivered.clone(), everyone.clone());
        tasks.push(tokio::spawn(async move {
            let mut arrivals = Vec::with_capacity(2 * CHANGES);
            for _ in 0..2 * CHANGES {
                let event = watcher.next_event().await.expect("event");
                arrivals.push((event.seq, Instant::now()));
                if (delivered.fetch_add(1, Ordering::AcqRel) + 1) % WATCHERS == 0 {
                    everyone.notify_one();
                }
            }
            arrivals
        }));
    }
    // First CHANGES inserts through the service; then, as the same run's
    // floor, CHANGES events published straight into the hub (no client
    // call, no database): what the sessions' fan-out alone costs.
    let mut starts = Vec::new();
    for n in 0..2 * CHANGES {
        starts.push(Instant::now());
        if n < CHANGES {
            through(&user, &insert(100_000 + n)).await;
        } else {
            let change = json!({"op": "insert", "key": {"id": n}});
            hub.publish("records/orders", &change).expect("publish");
        }
        // One change's fan-out at a time (waiting without spinning: the
        // watchers share these two cores).
        while delivered.load(Ordering::Acquire) < (n + 1) * WATCHERS {
            everyone.notified().await;
        }
    }
    let (mut changes, mut floor) = (Vec::new(), Vec::new());
    for task in tasks {
        for (seq, arrived) in task.await.expect("watcher") {
            let index = (seq - first_seq) as usize;
            let latency = arrived - starts[index];
            if index < CHANGES {
                changes.push(latency);
            } else {
                floor.push(latency);
            }
        }
    }
    for (what, latencies) in [("change", &mut changes), ("publish only", &mut floor)] {
        println!(
            "{name:>8} {what:<12} to {WATCHERS} watchers: p50 {:>6.2} ms p99 {:>6.2} ms (n = {})",
            us(percentile(latencies, 0.5)) / 1000.0,
            us(percentile(latencies, 0.99)) / 1000.0,
            latencies.len()
        );
    }
    handle.shutdown();
}
