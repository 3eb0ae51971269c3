//! PostgreSQL change notices: a trigger on each declared table sends
//! `{table, op, key}` on the `corridor_records` channel for every row any
//! writer changes (psql, another application, this service), and the
//! service relays each notice to the watchers of the views on that table.
//! Only the key travels, so a large row never trips NOTIFY's 8,000-byte limit.

use super::config::ViewConfig;
use super::request::Change;
use super::service::RecordsService;
use serde::Deserialize;
use serde_json::{Map, Value};
use sqlx::AnyPool;
use sqlx::postgres::PgListener;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The NOTIFY channel.
pub const CHANNEL: &str = "corridor_records";

const FUNCTION: &str = "
CREATE OR REPLACE FUNCTION corridor_records_notify() RETURNS trigger AS $$
DECLARE
    changed jsonb;
    key jsonb := '{}'::jsonb;
    col text;
BEGIN
    IF TG_OP = 'DELETE' THEN changed := to_jsonb(OLD); ELSE changed := to_jsonb(NEW); END IF;
    FOREACH col IN ARRAY TG_ARGV LOOP
        key := key || jsonb_build_object(col, changed -> col);
    END LOOP;
    PERFORM pg_notify('corridor_records',
        jsonb_build_object('table', TG_TABLE_NAME, 'op', lower(TG_OP), 'key', key)::text);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
";

/// Installs the function and one trigger per declared table (its views'
/// key columns as the trigger's arguments).
pub async fn install_triggers(pool: &AnyPool, views: &[ViewConfig]) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(FUNCTION).execute(pool).await?;
    let mut keys: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for view in views {
        let columns = keys.entry(view.table.as_str()).or_default();
        for key in &view.key {
            if !columns.contains(&key.as_str()) {
                columns.push(key);
            }
        }
    }
    for (table, columns) in keys {
        // Plain identifiers only (checked at load): no escaping is needed.
        let arguments: Vec<String> = columns.iter().map(|c| format!("'{c}'")).collect();
        let trigger = format!(
            "CREATE OR REPLACE TRIGGER corridor_records_notify \
             AFTER INSERT OR UPDATE OR DELETE ON \"{table}\" \
             FOR EACH ROW EXECUTE FUNCTION corridor_records_notify({})",
            arguments.join(", ")
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(trigger))
            .execute(pool)
            .await?;
    }
    Ok(())
}

#[derive(Deserialize)]
struct Notice {
    table: String,
    op: String,
    key: Map<String, Value>,
}

/// A connection listening on the channel: made before the server admits
/// anyone, so no change after start is missed.
pub async fn listen(url: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Relays each notice `listener` receives until `stop`; sqlx's listener
/// reconnects (and listens again) when the connection drops.
pub async fn relay_changes(
    mut listener: PgListener,
    service: Arc<RecordsService>,
    stop: CancellationToken,
) {
    loop {
        let notification = tokio::select! {
            _ = stop.cancelled() => return,
            notification = listener.recv() => notification,
        };
        let notification = match notification {
            Ok(notification) => notification,
            Err(error) => {
                tracing::warn!(%error, "change notices interrupted; reconnecting");
                continue;
            }
        };
        let Ok(notice) = serde_json::from_str::<Notice>(notification.payload()) else {
            tracing::debug!(payload = notification.payload(), "not a change notice");
            continue;
        };
        for view in service
            .config()
            .views
            .iter()
            .filter(|v| v.table == notice.table)
        {
            let key = view
                .key
                .iter()
                .map(|k| (k.clone(), notice.key.get(k).cloned().unwrap_or(Value::Null)))
                .collect();
            service.publish(
                view,
                Change {
                    op: notice.op.clone(),
                    key,
                },
            );
        }
    }
}
