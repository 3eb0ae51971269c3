//! The records service (seed 001's data side): clients send JSON actions
//! (`select`, `insert`, `update`, `delete`, `meta`) on views an operator
//! declared, and watch a view's topic for changes. Every identifier comes
//! from the declaration and every value is a bound parameter.

pub mod config;
pub mod notify;
pub mod request;
pub mod server;
pub mod service;
pub mod sql;

pub use config::{ColumnType, RecordsConfig, ViewConfig};
pub use request::{ACTION, Action, Change, Filter, Op, Order};
pub use server::RecordsServer;
pub use service::RecordsService;
