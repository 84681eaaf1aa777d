//! Black-box tests of the whole system. [`System`] runs bayzat-sim, config-service,
//! import-service and sync-service (the binaries in `target/debug`) as child processes against
//! one test's own database and broker namespace, loads the fixture directory the way an operator
//! does, mints tokens as the IT portal does, can kill -9 and restart any of them, and kills them
//! all when dropped. [`fixtures`] says what Bayzat must end up holding for each fixture report;
//! [`guide`] runs the shell examples of a markdown guide and compares their output with the
//! responses it documents; [`rabbitmq`] and [`postgres`] restart the broker and the database for
//! the serial tests; [`collector`]
//! receives the traces the services export.

pub mod collector;
pub mod fixtures;
pub mod guide;
pub mod postgres;
mod process;
pub mod rabbitmq;
pub mod server;
mod system;

pub use auth::Role;
pub use process::binary;
pub use system::{
    delivery_punch, free_port, Body, Reply, Service, System, SystemBuilder, JWT_SECRET,
};
/// Polls a check until it returns `Ok`, and panics with its last `Err` after the timeout.
pub use test_support::wait_for;
