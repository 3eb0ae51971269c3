//! The records service end to end on both stores: actions as enrolled
//! users, who may read and write, SQL injection through every name and
//! value a client sends, change events to watchers, and on PostgreSQL a
//! change written by `psql` reaching a watcher.

use corridor::core::identity::StaticSecret;
use corridor::rpc::RpcError;
use corridor_identity::records::{ACTION, RecordsConfig, RecordsServer};
use corridor_identity::rpc::Overflow;
use corridor_identity::{
    Backend, ClientConfig, Connected, Enroll, IdentityConfig, IdentityServerHandle, Store, client,
};
use corridor_testkit::postgres::{TestPostgres, database_name};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const VIEWS: &str = r#"
[[view]]
name = "orders"
table = "orders"
key = ["id"]
columns = { id = "integer", customer = "text", amount = "real", note = "text" }
writable = ["customer", "amount", "note"]
read = ["group:viewers"]
write = ["group:staff"]
max_limit = 50
"#;

fn config(backend: Backend) -> RecordsConfig {
    let table = match backend {
        Backend::Sqlite => {
            "CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, amount REAL, note TEXT, secret TEXT DEFAULT 'hidden')"
        }
        Backend::Postgres => {
            "CREATE TABLE IF NOT EXISTS orders (id BIGSERIAL PRIMARY KEY, customer TEXT NOT NULL, amount DOUBLE PRECISION, note TEXT, secret TEXT DEFAULT 'hidden')"
        }
    };
    let text = format!("setup = [{table:?}]\n{VIEWS}");
    RecordsConfig::parse(&text).expect("config")
}

struct Running {
    url: String,
    server_key: corridor::core::identity::PublicKey,
    store: Arc<Store>,
    handle: IdentityServerHandle,
    database: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

async fn start(backend: Backend) -> Running {
    let (url, dir, database) = match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("records.db").display().to_string();
            (path, Some(dir), None)
        }
        Backend::Postgres => {
            let url = TestPostgres::get().fresh_database();
            let name = database_name(&url).to_owned();
            (url, None, Some(name))
        }
    };
    let store = Arc::new(Store::open(&url).await.expect("store"));
    for (user, group) in [("sam", "staff"), ("vera", "viewers"), ("otto", "outsiders")] {
        store.add_user(user, &[group.into()]).await.expect("user");
    }
    let identity = IdentityConfig::new(
        "127.0.0.1:0".parse().expect("addr"),
        StaticSecret::generate(&mut rand_core::OsRng),
    );
    let server = RecordsServer::bind(identity, config(backend), store.clone())
        .await
        .expect("bind");
    let running = Running {
        url: server.identity().url(),
        server_key: server.identity().public_key(),
        store,
        handle: server.identity().handle(),
        database,
        _dir: dir,
    };
    tokio::spawn(server.serve(Default::default()));
    running
}

impl Running {
    async fn user(&self, name: &str) -> Connected {
        let token = self
            .store
            .issue_token(name, Duration::from_secs(60), "")
            .await
            .expect("token");
        let me = ClientConfig::new(
            self.url.clone(),
            self.server_key,
            StaticSecret::generate(&mut rand_core::OsRng),
        );
        let enroll = Enroll {
            user: name.into(),
            token,
            label: String::new(),
        };
        client::enroll(&me, enroll).await.expect("enroll")
    }
}

async fn act(user: &Connected, action: Value) -> Result<Value, RpcError> {
    user.session.rpc().call(ACTION, &action).await
}

fn code(result: Result<Value, RpcError>) -> u32 {
    match result {
        Err(RpcError::Remote { code, .. }) => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite { $( #[tokio::test] async fn $name() { super::$name(corridor_identity::Backend::Sqlite).await } )* }
        mod on_postgres { $( #[tokio::test] async fn $name() { super::$name(corridor_identity::Backend::Postgres).await } )* }
    };
}

on_both_stores!(
    actions_run_as_the_sessions_user,
    injection_through_names_and_values_is_refused_or_inert,
    watchers_receive_changes_made_through_the_service,
);

async fn actions_run_as_the_sessions_user(backend: Backend) {
    let server = start(backend).await;
    let sam = server.user("sam").await;
    let inserted = act(
        &sam,
        json!({"action": "insert", "view": "orders",
        "values": {"customer": "acme", "amount": 12.5}}),
    )
    .await
    .expect("insert");
    let id = inserted["row"]["id"].as_i64().expect("an id");
    assert_eq!(inserted["row"]["customer"], "acme");
    assert_eq!(inserted["row"]["amount"], 12.5);
    assert_eq!(inserted["row"]["note"], Value::Null);
    // Undeclared columns never leave the database.
    assert!(inserted["row"].get("secret").is_none());

    let updated = act(
        &sam,
        json!({"action": "update", "view": "orders",
        "key": {"id": id}, "values": {"note": "rush"}}),
    )
    .await
    .expect("update");
    assert_eq!(updated["rows"][0]["note"], "rush");

    let vera = server.user("vera").await;
    let rows = act(&vera, json!({"action": "select", "view": "orders",
        "filter": [{"column": "customer", "value": "acme"}], "order": [{"column": "id", "desc": true}]}))
    .await
    .expect("select");
    assert_eq!(rows["rows"].as_array().map(Vec::len), Some(1));
    assert_eq!(rows["rows"][0]["note"], "rush");
    let meta = act(&vera, json!({"action": "meta", "view": "orders"}))
        .await
        .expect("meta");
    assert_eq!(meta["key"], json!(["id"]));
    assert!(
        meta["columns"]
            .as_array()
            .expect("columns")
            .iter()
            .any(|c| c["name"] == "amount" && c["type"] == "real" && c["writable"] == true)
    );

    // A reader may not write; an outsider does not see the view at all.
    let denied = act(
        &vera,
        json!({"action": "delete", "view": "orders", "key": {"id": id}}),
    )
    .await;
    assert_eq!(code(denied), 403);
    let otto = server.user("otto").await;
    assert_eq!(
        code(act(&otto, json!({"action": "meta", "view": "orders"})).await),
        404
    );
    assert!(
        otto.subscribe("records/orders", Overflow::Disconnect)
            .await
            .is_err()
    );

    let deleted = act(
        &sam,
        json!({"action": "delete", "view": "orders", "key": {"id": id}}),
    )
    .await
    .expect("delete");
    assert_eq!(deleted["deleted"], 1);
    let gone = act(
        &sam,
        json!({"action": "delete", "view": "orders", "key": {"id": id}}),
    )
    .await
    .expect("delete again");
    assert_eq!(gone["deleted"], 0);
}

async fn injection_through_names_and_values_is_refused_or_inert(backend: Backend) {
    let server = start(backend).await;
    let sam = server.user("sam").await;
    let hostile = "x'); DROP TABLE orders; --";
    let inserted = act(
        &sam,
        json!({"action": "insert", "view": "orders",
        "values": {"customer": hostile}}),
    )
    .await
    .expect("a hostile value is just a value");
    assert_eq!(inserted["row"]["customer"], hostile);
    // Names: views, fields, filter columns, order columns, written columns.
    let refusals = [
        (
            json!({"action": "select", "view": "orders; DROP TABLE orders"}),
            404,
        ),
        (json!({"action": "select", "view": "corridor_users"}), 404),
        (
            json!({"action": "select", "view": "orders", "fields": ["secret"]}),
            400,
        ),
        (
            json!({"action": "select", "view": "orders", "fields": ["id FROM corridor_users --"]}),
            400,
        ),
        (
            json!({"action": "select", "view": "orders", "filter": [{"column": "1=1 OR customer", "value": "x"}]}),
            400,
        ),
        (
            json!({"action": "select", "view": "orders", "order": [{"column": "(SELECT name FROM corridor_users)"}]}),
            400,
        ),
        (
            json!({"action": "insert", "view": "orders", "values": {"secret": "mine"}}),
            400,
        ),
        (
            json!({"action": "update", "view": "orders", "key": {"id": "1 OR 1=1"}, "values": {"note": "x"}}),
            400,
        ),
        (json!({"action": "drop", "view": "orders"}), 400),
    ];
    for (request, expected) in refusals {
        assert_eq!(
            code(act(&sam, request.clone()).await),
            expected,
            "{request}"
        );
    }
    // Values in filters compare, never execute.
    let none = act(
        &sam,
        json!({"action": "select", "view": "orders",
        "filter": [{"column": "customer", "value": "' OR '1'='1"}]}),
    )
    .await
    .expect("select");
    assert_eq!(none["rows"], json!([]));
    let like = act(
        &sam,
        json!({"action": "select", "view": "orders",
        "filter": [{"column": "customer", "op": "like", "value": "x'); DROP%"}]}),
    )
    .await
    .expect("select");
    assert_eq!(like["rows"][0]["customer"], hostile);
    // The table and the user store are intact.
    assert!(server.store.user("sam").await.expect("user").is_some());
    let all = act(
        &sam,
        json!({"action": "select", "view": "orders", "limit": 1000}),
    )
    .await
    .expect("select");
    assert_eq!(all["rows"].as_array().map(Vec::len), Some(1));
}

async fn watchers_receive_changes_made_through_the_service(backend: Backend) {
    let server = start(backend).await;
    let sam = server.user("sam").await;
    let vera = server.user("vera").await;
    vera.subscribe("records/orders", Overflow::Disconnect)
        .await
        .expect("subscribe");
    let inserted = act(
        &sam,
        json!({"action": "insert", "view": "orders",
        "values": {"customer": "globex"}}),
    )
    .await
    .expect("insert");
    let id = inserted["row"]["id"].clone();
    let event = tokio::time::timeout(Duration::from_secs(5), vera.next_event())
        .await
        .expect("in time")
        .expect("event");
    assert_eq!(event.topic, "records/orders");
    assert_eq!(event.payload, json!({"op": "insert", "key": {"id": id}}));
    act(
        &sam,
        json!({"action": "delete", "view": "orders", "key": {"id": id}}),
    )
    .await
    .expect("delete");
    let event = tokio::time::timeout(Duration::from_secs(5), vera.next_event())
        .await
        .expect("in time")
        .expect("event");
    assert_eq!(event.payload["op"], "delete");
    assert_eq!(event.seq, 2);
}

#[tokio::test]
async fn a_change_written_by_psql_reaches_a_watcher() {
    let server = start(Backend::Postgres).await;
    let vera = server.user("vera").await;
    vera.subscribe("records/orders", Overflow::Disconnect)
        .await
        .expect("subscribe");
    let database = server.database.clone().expect("postgres");
    let id = TestPostgres::get().psql(
        &database,
        "INSERT INTO orders (customer) VALUES ('written by psql') RETURNING id",
    );
    let id: i64 = id.trim().parse().expect("an id");
    let event = tokio::time::timeout(Duration::from_secs(5), vera.next_event())
        .await
        .expect("the change arrives")
        .expect("event");
    assert_eq!(event.payload, json!({"op": "insert", "key": {"id": id}}));
    TestPostgres::get().psql(
        &database,
        &format!("UPDATE orders SET note = 'n' WHERE id = {id}"),
    );
    let event = tokio::time::timeout(Duration::from_secs(5), vera.next_event())
        .await
        .expect("the change arrives")
        .expect("event");
    assert_eq!(event.payload["op"], "update");
}
