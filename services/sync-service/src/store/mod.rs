//! Storage functions over the `sync` schema: small, one statement each where possible, and never
//! one statement per delivery of a bulk change.

pub mod batches;
pub mod companies;
pub mod deliveries;
pub mod leases;
pub mod requests;
pub mod status;

pub use diesel::QueryResult;
pub use diesel_async::AsyncPgConnection as Conn;

/// The `sync.deliveries` states in which a delivery has not been sent yet and nothing is in flight.
pub const WAITING: &[&str] = &["pending", "scheduled", "held", "paused", "retry_wait"];

pub(crate) fn names(states: &[domain::DeliveryState]) -> Vec<String> {
    states.iter().map(|s| s.as_str().to_owned()).collect()
}
