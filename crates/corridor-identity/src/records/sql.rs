//! Statements for an action on a declared view, with no I/O. Identifiers
//! come only from the view's declaration (checked plain at load, then
//! double-quoted); every value a client sends becomes a `$N` parameter of
//! the column's declared type. A name the view does not declare is an
//! error, never SQL.

use super::config::{ColumnType, ViewConfig};
use super::request::{Action, Filter, Op, Order};
use serde_json::{Map, Value};

/// A bound value, typed by its column.
#[derive(Clone, Debug, PartialEq)]
pub enum Param {
    /// An integer (or NULL).
    Integer(Option<i64>),
    /// A double (or NULL).
    Real(Option<f64>),
    /// Text (or NULL).
    Text(Option<String>),
}

/// A statement and its parameters, and the columns its rows carry.
#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    /// SQL with `$1..$N`.
    pub sql: String,
    /// The parameters, in order.
    pub params: Vec<Param>,
    /// The columns each returned row holds, in order, with their types.
    pub columns: Vec<(String, ColumnType)>,
}

impl Statement {
    /// The statement as a sqlx query with its parameters bound in order.
    pub fn query(&self) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
        // Built from declared names and `$N` placeholders only.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(self.sql.clone()));
        for param in &self.params {
            query = match param {
                Param::Integer(value) => query.bind(*value),
                Param::Real(value) => query.bind(*value),
                Param::Text(value) => query.bind(value.clone()),
            };
        }
        query
    }
}

/// Why an action cannot become a statement: the client's mistake.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SqlError {
    /// A column the view does not declare.
    #[error("view has no column {0:?}")]
    UnknownColumn(String),
    /// A column that may not be written.
    #[error("column {0:?} is not writable")]
    NotWritable(String),
    /// A value that does not fit its column's type.
    #[error("column {column:?} takes {expected} values")]
    BadValue {
        /// The column.
        column: String,
        /// Its type's name.
        expected: &'static str,
    },
    /// The key does not name exactly the view's key columns.
    #[error("the key must give exactly the columns {0:?}")]
    BadKey(Vec<String>),
    /// An update with nothing to set.
    #[error("nothing to change")]
    NoValues,
    /// `null` with an ordering or LIKE comparison, or LIKE on a non-text column.
    #[error("comparison {0:?} does not apply here")]
    BadComparison(String),
    /// Not a statement (meta is answered from the declaration).
    #[error("meta has no statement")]
    NoStatement,
}

fn quote(name: &str) -> String {
    // Plain identifiers only (checked at load): quoting needs no escaping.
    format!("\"{name}\"")
}

fn column<'v>(view: &'v ViewConfig, name: &str) -> Result<(&'v str, ColumnType), SqlError> {
    view.columns
        .get_key_value(name)
        .map(|(name, kind)| (name.as_str(), *kind))
        .ok_or_else(|| SqlError::UnknownColumn(name.to_owned()))
}

fn param(column: &str, kind: ColumnType, value: &Value) -> Result<Param, SqlError> {
    let bad = || SqlError::BadValue {
        column: column.to_owned(),
        expected: kind.name(),
    };
    Ok(match (kind, value) {
        (ColumnType::Integer, Value::Null) => Param::Integer(None),
        (ColumnType::Integer, Value::Number(n)) => {
            Param::Integer(Some(n.as_i64().ok_or_else(bad)?))
        }
        (ColumnType::Real, Value::Null) => Param::Real(None),
        (ColumnType::Real, Value::Number(n)) => Param::Real(Some(n.as_f64().ok_or_else(bad)?)),
        (ColumnType::Text, Value::Null) => Param::Text(None),
        (ColumnType::Text, Value::String(s)) => Param::Text(Some(s.clone())),
        _ => return Err(bad()),
    })
}

/// `CAST("c" AS T) AS "c", ...` for `columns`.
fn select_list(columns: &[(String, ColumnType)]) -> String {
    columns
        .iter()
        .map(|(name, kind)| {
            format!(
                "CAST({} AS {}) AS {}",
                quote(name),
                kind.sql_cast(),
                quote(name)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn all_columns(view: &ViewConfig) -> Vec<(String, ColumnType)> {
    view.columns.iter().map(|(n, k)| (n.clone(), *k)).collect()
}

/// `"k1" = $i AND ...` for a key that names exactly the key columns.
fn key_condition(
    view: &ViewConfig,
    key: &Map<String, Value>,
    params: &mut Vec<Param>,
) -> Result<String, SqlError> {
    if key.len() != view.key.len() || !view.key.iter().all(|k| key.contains_key(k)) {
        return Err(SqlError::BadKey(view.key.clone()));
    }
    let mut parts = Vec::new();
    for name in &view.key {
        let (name, kind) = column(view, name)?;
        let value = &key[name];
        if value.is_null() {
            return Err(SqlError::BadKey(view.key.clone()));
        }
        params.push(param(name, kind, value)?);
        parts.push(format!("{} = ${}", quote(name), params.len()));
    }
    Ok(parts.join(" AND "))
}

fn filter_condition(
    view: &ViewConfig,
    filter: &Filter,
    params: &mut Vec<Param>,
) -> Result<String, SqlError> {
    let (name, kind) = column(view, &filter.column)?;
    if filter.value.is_null() {
        return match filter.op {
            Op::Eq => Ok(format!("{} IS NULL", quote(name))),
            Op::Ne => Ok(format!("{} IS NOT NULL", quote(name))),
            other => Err(SqlError::BadComparison(format!("{other:?} null"))),
        };
    }
    if filter.op == Op::Like && kind != ColumnType::Text {
        return Err(SqlError::BadComparison(format!("like on {name}")));
    }
    params.push(param(name, kind, &filter.value)?);
    Ok(format!(
        "{} {} ${}",
        quote(name),
        filter.op.sql(),
        params.len()
    ))
}

fn writable_values(
    view: &ViewConfig,
    values: &Map<String, Value>,
    params: &mut Vec<Param>,
) -> Result<Vec<(String, usize)>, SqlError> {
    let mut assigned = Vec::new();
    for (name, value) in values {
        let (name, kind) = column(view, name)?;
        if !view.writable.iter().any(|w| w == name) {
            return Err(SqlError::NotWritable(name.to_owned()));
        }
        params.push(param(name, kind, value)?);
        assigned.push((quote(name), params.len()));
    }
    Ok(assigned)
}

/// The statement for `action` on `view`.
pub fn statement(view: &ViewConfig, action: &Action) -> Result<Statement, SqlError> {
    let table = quote(&view.table);
    let mut params = Vec::new();
    match action {
        Action::Select {
            fields,
            filter,
            order,
            limit,
            ..
        } => {
            let columns = if fields.is_empty() {
                all_columns(view)
            } else {
                fields
                    .iter()
                    .map(|f| column(view, f).map(|(n, k)| (n.to_owned(), k)))
                    .collect::<Result<_, _>>()?
            };
            let mut sql = format!("SELECT {} FROM {table}", select_list(&columns));
            let conditions = filter
                .iter()
                .map(|f| filter_condition(view, f, &mut params))
                .collect::<Result<Vec<_>, _>>()?;
            if !conditions.is_empty() {
                sql += &format!(" WHERE {}", conditions.join(" AND "));
            }
            let order = order
                .iter()
                .map(|Order { column: c, desc }| {
                    column(view, c).map(|(n, _)| {
                        format!("{} {}", quote(n), if *desc { "DESC" } else { "ASC" })
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            if !order.is_empty() {
                sql += &format!(" ORDER BY {}", order.join(", "));
            }
            let limit = limit.unwrap_or(view.max_limit).min(view.max_limit);
            params.push(Param::Integer(Some(i64::from(limit))));
            sql += &format!(" LIMIT ${}", params.len());
            Ok(Statement {
                sql,
                params,
                columns,
            })
        }
        Action::Insert { values, .. } => {
            let assigned = writable_values(view, values, &mut params)?;
            let columns = all_columns(view);
            let sql = if assigned.is_empty() {
                format!(
                    "INSERT INTO {table} DEFAULT VALUES RETURNING {}",
                    select_list(&columns)
                )
            } else {
                let names: Vec<_> = assigned.iter().map(|(n, _)| n.clone()).collect();
                let slots: Vec<_> = assigned.iter().map(|(_, i)| format!("${i}")).collect();
                format!(
                    "INSERT INTO {table} ({}) VALUES ({}) RETURNING {}",
                    names.join(", "),
                    slots.join(", "),
                    select_list(&columns)
                )
            };
            Ok(Statement {
                sql,
                params,
                columns,
            })
        }
        Action::Update { key, values, .. } => {
            if values.is_empty() {
                return Err(SqlError::NoValues);
            }
            let assigned = writable_values(view, values, &mut params)?;
            let condition = key_condition(view, key, &mut params)?;
            let set: Vec<_> = assigned
                .iter()
                .map(|(n, i)| format!("{n} = ${i}"))
                .collect();
            let columns = all_columns(view);
            Ok(Statement {
                sql: format!(
                    "UPDATE {table} SET {} WHERE {condition} RETURNING {}",
                    set.join(", "),
                    select_list(&columns)
                ),
                params,
                columns,
            })
        }
        Action::Delete { key, .. } => {
            let condition = key_condition(view, key, &mut params)?;
            let columns: Vec<_> = view
                .key
                .iter()
                .map(|k| column(view, k).map(|(n, t)| (n.to_owned(), t)))
                .collect::<Result<_, _>>()?;
            Ok(Statement {
                sql: format!(
                    "DELETE FROM {table} WHERE {condition} RETURNING {}",
                    select_list(&columns)
                ),
                params,
                columns,
            })
        }
        Action::Meta { .. } => Err(SqlError::NoStatement),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::config::RecordsConfig;
    use serde_json::json;

    fn view() -> ViewConfig {
        RecordsConfig::parse(
            "[[view]]\nname = \"orders\"\ntable = \"orders\"\nkey = [\"id\"]\n\
             writable = [\"customer\"]\ncolumns = { id = \"integer\", customer = \"text\" }\n",
        )
        .expect("config")
        .views
        .remove(0)
    }

    fn action(value: serde_json::Value) -> Action {
        serde_json::from_value(value).expect("action")
    }

    #[test]
    fn values_become_parameters_and_names_come_from_the_view() {
        let statement = statement(
            &view(),
            &action(json!({"action": "select", "view": "orders",
                "filter": [{"column": "customer", "value": "x' OR '1'='1"}],
                "order": [{"column": "id", "desc": true}], "limit": 5})),
        )
        .expect("statement");
        assert_eq!(
            statement.sql,
            "SELECT CAST(\"customer\" AS TEXT) AS \"customer\", CAST(\"id\" AS BIGINT) AS \"id\" \
             FROM \"orders\" WHERE \"customer\" = $1 ORDER BY \"id\" DESC LIMIT $2"
        );
        assert_eq!(
            statement.params,
            vec![
                Param::Text(Some("x' OR '1'='1".into())),
                Param::Integer(Some(5))
            ]
        );
    }

    #[test]
    fn undeclared_names_are_errors_not_sql() {
        let view = view();
        for request in [
            json!({"action": "select", "view": "orders", "fields": ["id; DROP TABLE orders"]}),
            json!({"action": "select", "view": "orders", "filter": [{"column": "1=1 --", "value": 1}]}),
            json!({"action": "select", "view": "orders", "order": [{"column": "(SELECT 1)"}]}),
            json!({"action": "insert", "view": "orders", "values": {"secret": "x"}}),
        ] {
            assert!(matches!(
                statement(&view, &action(request)),
                Err(SqlError::UnknownColumn(_))
            ));
        }
        let update = action(
            json!({"action": "update", "view": "orders", "key": {"id": 1}, "values": {"id": 2}}),
        );
        assert_eq!(
            statement(&view, &update),
            Err(SqlError::NotWritable("id".into()))
        );
    }

    #[test]
    fn a_limit_never_exceeds_the_views_maximum() {
        let statement = statement(
            &view(),
            &action(json!({"action": "select", "view": "orders", "limit": 1_000_000})),
        )
        .expect("statement");
        assert_eq!(statement.params.last(), Some(&Param::Integer(Some(1000))));
    }

    #[test]
    fn keys_must_name_exactly_the_key_columns() {
        let view = view();
        for key in [
            json!({}),
            json!({"id": 1, "customer": "x"}),
            json!({"customer": "x"}),
            json!({"id": null}),
        ] {
            let delete = action(json!({"action": "delete", "view": "orders", "key": key}));
            assert!(matches!(
                statement(&view, &delete),
                Err(SqlError::BadKey(_))
            ));
        }
    }

    #[test]
    fn values_of_the_wrong_type_are_refused() {
        let insert =
            action(json!({"action": "insert", "view": "orders", "values": {"customer": 5}}));
        assert!(matches!(
            statement(&view(), &insert),
            Err(SqlError::BadValue { .. })
        ));
    }
}
