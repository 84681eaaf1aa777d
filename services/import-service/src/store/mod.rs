//! Storage functions over the `import` schema. Rows and punches are written in bulk (one
//! statement per batch of thousands), never one statement per row.

pub mod imports;
pub mod punches;
pub mod rows;

pub use diesel::QueryResult;
pub use diesel_async::AsyncPgConnection as Conn;
