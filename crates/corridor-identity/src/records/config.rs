//! The records service's views, declared in a TOML file: which table, which
//! columns a user may read and write, the key, and who may act. Every name
//! that reaches SQL comes from here, checked when the file loads.
//!
//! ```toml
//! [[view]]
//! name = "orders"
//! table = "orders"
//! key = ["id"]
//! columns = { id = "integer", customer = "text", amount = "real" }
//! writable = ["customer", "amount"]
//! read = ["group:staff", "alice"]
//! write = ["group:staff"]
//! max_limit = 500
//! ```

use crate::store::Account;
use serde::Deserialize;
use std::collections::BTreeMap;

/// A column's type as the service reads and binds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    /// A 64-bit integer.
    Integer,
    /// A double.
    Real,
    /// Text.
    Text,
}

impl ColumnType {
    /// The name `meta` reports.
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::Integer => "integer",
            ColumnType::Real => "real",
            ColumnType::Text => "text",
        }
    }

    /// What a value is cast to when read, so both databases answer alike.
    pub(crate) fn sql_cast(self) -> &'static str {
        match self {
            ColumnType::Integer => "BIGINT",
            ColumnType::Real => "DOUBLE PRECISION",
            ColumnType::Text => "TEXT",
        }
    }
}

/// One view, as declared.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewConfig {
    /// The name clients use.
    pub name: String,
    /// The table behind it.
    pub table: String,
    /// The columns a client may see, with their types.
    pub columns: BTreeMap<String, ColumnType>,
    /// The key columns (update and delete address rows by them).
    pub key: Vec<String>,
    /// Columns a client may set with insert and update.
    #[serde(default)]
    pub writable: Vec<String>,
    /// Who may select, meta and watch: user names, `group:NAME`, or `*`.
    #[serde(default)]
    pub read: Vec<String>,
    /// Who may insert, update and delete.
    #[serde(default)]
    pub write: Vec<String>,
    /// The most rows a select returns (and the default limit).
    #[serde(default = "default_max_limit")]
    pub max_limit: u32,
}

fn default_max_limit() -> u32 {
    1000
}

/// The whole file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordsConfig {
    /// Statements run at start (e.g. `CREATE TABLE IF NOT EXISTS`), from
    /// the operator's file, never from clients.
    #[serde(default)]
    pub setup: Vec<String>,
    /// The views.
    #[serde(rename = "view", default)]
    pub views: Vec<ViewConfig>,
}

/// A file that does not declare usable views.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not TOML of this shape.
    #[error("records config: {0}")]
    Parse(#[from] toml::de::Error),
    /// A declaration that cannot be served.
    #[error("records config, view {view:?}: {problem}")]
    Invalid {
        /// The view.
        view: String,
        /// What is wrong.
        problem: String,
    },
}

/// Whether `name` may be a table, column or view name: a plain identifier,
/// so that it needs no escaping beyond the double quotes it is put in.
pub fn valid_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && name.len() <= 63
}

impl RecordsConfig {
    /// Parses and checks a config file's text.
    pub fn parse(text: &str) -> Result<RecordsConfig, ConfigError> {
        let config: RecordsConfig = toml::from_str(text)?;
        let mut seen = std::collections::HashSet::new();
        for view in &config.views {
            let invalid = |problem: String| ConfigError::Invalid {
                view: view.name.clone(),
                problem,
            };
            if !seen.insert(view.name.clone()) {
                return Err(invalid("declared twice".into()));
            }
            for name in [&view.name, &view.table]
                .into_iter()
                .chain(view.columns.keys())
            {
                if !valid_identifier(name) {
                    return Err(invalid(format!("{name:?} is not a plain identifier")));
                }
            }
            if view.key.is_empty() {
                return Err(invalid("a key column is required".into()));
            }
            for column in view.key.iter().chain(&view.writable) {
                if !view.columns.contains_key(column) {
                    return Err(invalid(format!("{column:?} is not one of its columns")));
                }
            }
            if view.max_limit == 0 {
                return Err(invalid("max_limit must be at least 1".into()));
            }
        }
        Ok(config)
    }

    /// The view called `name`.
    pub fn view(&self, name: &str) -> Option<&ViewConfig> {
        self.views.iter().find(|view| view.name == name)
    }
}

impl ViewConfig {
    /// Whether `account` may read this view.
    pub fn may_read(&self, account: &Account) -> bool {
        allowed(&self.read, account) || self.may_write(account)
    }

    /// Whether `account` may change it.
    pub fn may_write(&self, account: &Account) -> bool {
        allowed(&self.write, account)
    }

    /// The topic its changes are published on.
    pub fn topic(&self) -> String {
        format!("records/{}", self.name)
    }
}

fn allowed(list: &[String], account: &Account) -> bool {
    list.iter().any(|entry| {
        entry == "*"
            || *entry == account.user
            || entry
                .strip_prefix("group:")
                .is_some_and(|group| account.groups.iter().any(|g| g == group))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_would_need_escaping_are_refused_at_load() {
        for bad in ["orders; DROP TABLE users", "a\"b", "1abc", "", "naïve"] {
            let text = format!(
                "[[view]]\nname = \"v\"\ntable = {bad:?}\nkey = [\"id\"]\ncolumns = {{ id = \"integer\" }}\n"
            );
            assert!(RecordsConfig::parse(&text).is_err(), "{bad:?} accepted");
        }
        let good = "[[view]]\nname = \"v\"\ntable = \"t_1\"\nkey = [\"id\"]\ncolumns = { id = \"integer\" }\n";
        assert!(RecordsConfig::parse(good).is_ok());
    }

    #[test]
    fn keys_and_writable_columns_must_be_declared_columns() {
        let text = "[[view]]\nname = \"v\"\ntable = \"t\"\nkey = [\"id\"]\nwritable = [\"secret\"]\ncolumns = { id = \"integer\" }\n";
        assert!(RecordsConfig::parse(text).is_err());
    }
}
