//! The records service's actions on arbitrary JSON: parsing and statement
//! building never panic, and every statement names only the declared table
//! and columns (each double-quoted) and binds one parameter per `$N`.
#![no_main]

use corridor_identity::records::sql::statement;
use corridor_identity::records::{Action, RecordsConfig};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const VIEW: &str = r#"
[[view]]
name = "orders"
table = "orders"
key = ["id", "region"]
columns = { id = "integer", region = "text", amount = "real", note = "text" }
writable = ["amount", "note"]
max_limit = 10
"#;

fn config() -> &'static RecordsConfig {
    static CONFIG: OnceLock<RecordsConfig> = OnceLock::new();
    CONFIG.get_or_init(|| RecordsConfig::parse(VIEW).expect("config"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(action) = serde_json::from_slice::<Action>(data) else { return };
    let view = &config().views[0];
    let Ok(statement) = statement(view, &action) else { return };
    let allowed: Vec<&str> = view
        .columns
        .keys()
        .map(String::as_str)
        .chain([view.table.as_str()])
        .collect();
    for (i, quoted) in statement.sql.split('"').enumerate() {
        if i % 2 == 1 {
            assert!(allowed.contains(&quoted), "undeclared name {quoted:?} in {}", statement.sql);
        }
    }
    let placeholders = statement.sql.matches('$').count();
    assert_eq!(placeholders, statement.params.len(), "{}", statement.sql);
    assert!(!statement.sql.contains(';'), "{}", statement.sql);
});
