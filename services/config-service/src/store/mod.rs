//! Storage functions over the `config` schema: small, documented, one statement each where
//! possible, never one statement per row of a bulk operation.

pub mod audit;
pub mod bayzat_configs;
pub mod companies;
pub mod directory;
pub mod employees;
pub mod notifications;
pub mod report_names;
pub mod webhooks;

pub use diesel::QueryResult;
pub use diesel_async::AsyncPgConnection as Conn;
