//! What a client asks of the records service: the seed's JSON actions on
//! named views.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// RPC type id of a records action (request [`Action`], answer JSON).
pub const ACTION: u32 = 110;

/// One action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "lowercase", deny_unknown_fields)]
pub enum Action {
    /// Rows matching every filter, ordered, at most `limit` (and the view's
    /// `max_limit`): `{"rows": [...]}`.
    Select {
        /// The view.
        view: String,
        /// Columns to return (all of the view's when empty).
        #[serde(default)]
        fields: Vec<String>,
        /// Conditions, all of which must hold.
        #[serde(default)]
        filter: Vec<Filter>,
        /// Sort order.
        #[serde(default)]
        order: Vec<Order>,
        /// At most this many rows.
        #[serde(default)]
        limit: Option<u32>,
    },
    /// A new row from writable columns: `{"row": {...}}`.
    Insert {
        /// The view.
        view: String,
        /// Column values.
        #[serde(default)]
        values: Map<String, Value>,
    },
    /// Changes the row with `key`: `{"rows": [...]}` (none if no such row).
    Update {
        /// The view.
        view: String,
        /// A value for each key column.
        key: Map<String, Value>,
        /// Writable columns' new values.
        values: Map<String, Value>,
    },
    /// Deletes the row with `key`: `{"deleted": n}`.
    Delete {
        /// The view.
        view: String,
        /// A value for each key column.
        key: Map<String, Value>,
    },
    /// The view's columns and types, key and writable columns.
    Meta {
        /// The view.
        view: String,
    },
}

impl Action {
    /// The view it acts on.
    pub fn view(&self) -> &str {
        match self {
            Action::Select { view, .. }
            | Action::Insert { view, .. }
            | Action::Update { view, .. }
            | Action::Delete { view, .. }
            | Action::Meta { view } => view,
        }
    }

    /// Whether it changes rows.
    pub fn writes(&self) -> bool {
        matches!(
            self,
            Action::Insert { .. } | Action::Update { .. } | Action::Delete { .. }
        )
    }
}

/// A condition on one column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// The column.
    pub column: String,
    /// The comparison (`eq` by default).
    #[serde(default)]
    pub op: Op,
    /// The value compared with; `null` only with `eq` (IS NULL) and `ne`.
    pub value: Value,
}

/// A comparison.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// `=`
    #[default]
    Eq,
    /// `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `LIKE`, on text columns.
    Like,
}

impl Op {
    pub(crate) fn sql(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "<>",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Like => "LIKE",
        }
    }
}

/// One sort key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Order {
    /// The column.
    pub column: String,
    /// Descending.
    #[serde(default)]
    pub desc: bool,
}

/// A change, as published on the view's topic (`records/VIEW`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// `insert`, `update` or `delete`.
    pub op: String,
    /// The changed row's key.
    pub key: Map<String, Value>,
}
