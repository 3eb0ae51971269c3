//! The records service: runs each client's action against the declared
//! views, as the user its session proved, and publishes every change on
//! the view's topic. On SQLite it publishes the changes it makes; on
//! PostgreSQL a trigger on each table announces every change, whoever
//! made it, and the service relays those (see [`super::notify`]).

use super::config::{ColumnType, RecordsConfig, ViewConfig};
use super::request::{ACTION, Action, Change};
use super::sql::{SqlError, Statement, statement};
use crate::authority::Admitted;
use crate::events::{Events, TopicPolicy};
use crate::store::{Account, Backend, Store};
use corridor::rpc::{Call, Failure, Router};
use serde_json::{Map, Value, json};
use sqlx::Row;
use sqlx::any::AnyRow;
use std::sync::{Arc, OnceLock};

/// RPC error code: no such view (or none this user may read).
pub const NO_SUCH_VIEW: u32 = 404;
/// RPC error code: the user may read but not change this view.
pub const NOT_ALLOWED: u32 = 403;
/// RPC error code: the action does not fit the view.
pub const BAD_ACTION: u32 = 400;
/// RPC error code: the database failed (details in the server's log).
pub const DATABASE_ERROR: u32 = 500;

/// The service over one store's database.
pub struct RecordsService {
    config: Arc<RecordsConfig>,
    store: Arc<Store>,
    events: OnceLock<Arc<Events>>,
}

impl std::fmt::Debug for RecordsService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordsService")
            .field("views", &self.config.views.len())
            .finish_non_exhaustive()
    }
}

impl RecordsService {
    /// Runs the config's setup statements and returns the service.
    pub async fn start(config: RecordsConfig, store: Arc<Store>) -> Result<Arc<Self>, sqlx::Error> {
        for setup in &config.setup {
            // The operator's own statements, from the config file.
            sqlx::raw_sql(sqlx::AssertSqlSafe(setup.clone()))
                .execute(store.pool())
                .await?;
        }
        Ok(Arc::new(RecordsService {
            config: Arc::new(config),
            store,
            events: OnceLock::new(),
        }))
    }

    /// The declared views.
    pub fn config(&self) -> &Arc<RecordsConfig> {
        &self.config
    }

    /// Who may watch which view's topic (`records/VIEW`): its readers.
    pub fn topic_policy(self: &Arc<Self>) -> Arc<dyn TopicPolicy> {
        let config = self.config.clone();
        Arc::new(move |account: &Account, topic: &str| {
            topic
                .strip_prefix("records/")
                .and_then(|name| config.view(name))
                .is_some_and(|view| view.may_read(account))
        })
    }

    /// Where changes are published (the identity server's hub).
    pub fn publish_to(&self, events: Arc<Events>) {
        let _ = self.events.set(events);
    }

    /// The action handler, to serve on the identity server.
    pub fn router(self: &Arc<Self>) -> Router {
        let service = self.clone();
        Router::new().handle(ACTION, move |call: Call, action: Action| {
            let service = service.clone();
            async move {
                let admitted = call
                    .peer()
                    .attached::<Admitted>()
                    .ok_or_else(|| Failure::new(NOT_ALLOWED, "not an identified session"))?;
                service.act(&admitted.account, &action).await
            }
        })
    }

    /// Runs `action` as `account`.
    pub async fn act(&self, account: &Account, action: &Action) -> Result<Value, Failure> {
        let view = self
            .config
            .view(action.view())
            .filter(|view| view.may_read(account))
            .ok_or_else(|| Failure::new(NO_SUCH_VIEW, "no such view"))?;
        if action.writes() && !view.may_write(account) {
            return Err(Failure::new(NOT_ALLOWED, "not allowed to change this view"));
        }
        if let Action::Meta { .. } = action {
            return Ok(meta(view));
        }
        let statement = statement(view, action).map_err(bad_action)?;
        let rows = self.run(&statement).await?;
        let rows: Vec<Value> = rows
            .iter()
            .map(|row| row_json(row, &statement.columns))
            .collect::<Result<_, _>>()?;
        let answer = match action {
            Action::Select { .. } | Action::Update { .. } => json!({ "rows": rows }),
            Action::Insert { .. } => json!({ "row": rows.first().cloned().unwrap_or(Value::Null) }),
            Action::Delete { .. } => json!({ "deleted": rows.len() }),
            Action::Meta { .. } => Value::Null,
        };
        if action.writes() && self.store.backend() == Backend::Sqlite {
            self.announce(view, action, &rows);
        }
        Ok(answer)
    }

    async fn run(&self, statement: &Statement) -> Result<Vec<AnyRow>, Failure> {
        statement
            .query()
            .fetch_all(self.store.pool())
            .await
            .map_err(|error| {
                tracing::warn!(%error, sql = %statement.sql, "records query failed");
                Failure::new(DATABASE_ERROR, "database error")
            })
    }

    /// Publishes the changes this service made (SQLite: nothing else tells).
    fn announce(&self, view: &ViewConfig, action: &Action, rows: &[Value]) {
        let op = match action {
            Action::Insert { .. } => "insert",
            Action::Update { .. } => "update",
            _ => "delete",
        };
        for row in rows {
            let key: Map<String, Value> = view
                .key
                .iter()
                .map(|k| (k.clone(), row.get(k).cloned().unwrap_or(Value::Null)))
                .collect();
            self.publish(view, Change { op: op.into(), key });
        }
    }

    /// Publishes `change` on `view`'s topic, to every watcher.
    pub(crate) fn publish(&self, view: &ViewConfig, change: Change) {
        if let Some(events) = self.events.get()
            && let Err(error) = events.publish(&view.topic(), &change)
        {
            tracing::warn!(%error, view = %view.name, "publishing a change failed");
        }
    }
}

fn bad_action(error: SqlError) -> Failure {
    Failure::new(BAD_ACTION, error.to_string())
}

fn meta(view: &ViewConfig) -> Value {
    let columns: Vec<Value> = view
        .columns
        .iter()
        .map(|(name, kind)| {
            json!({
                "name": name,
                "type": kind.name(),
                "key": view.key.contains(name),
                "writable": view.writable.contains(name),
            })
        })
        .collect();
    json!({ "view": view.name, "key": view.key, "columns": columns, "max_limit": view.max_limit })
}

fn row_json(row: &AnyRow, columns: &[(String, ColumnType)]) -> Result<Value, Failure> {
    let failed = |error: sqlx::Error| {
        tracing::warn!(%error, "a records value did not decode");
        Failure::new(DATABASE_ERROR, "database error")
    };
    let mut object = Map::new();
    for (index, (name, kind)) in columns.iter().enumerate() {
        let value = match kind {
            ColumnType::Integer => row
                .try_get::<Option<i64>, _>(index)
                .map_err(failed)?
                .map(Value::from),
            ColumnType::Real => row
                .try_get::<Option<f64>, _>(index)
                .map_err(failed)?
                .map(Value::from),
            ColumnType::Text => row
                .try_get::<Option<String>, _>(index)
                .map_err(failed)?
                .map(Value::from),
        };
        object.insert(name.clone(), value.unwrap_or(Value::Null));
    }
    Ok(Value::Object(object))
}
