//! Storage functions over the `import` schema. Rows and punches are written in bulk (COPY, in
//! [`tx`]), never one statement per row.

pub mod biotime;
pub mod clocks;
pub mod imports;
pub mod inbox;
pub mod punches;
pub mod rows;
pub mod tx;

pub use diesel::QueryResult;
pub use diesel_async::AsyncPgConnection as Conn;
