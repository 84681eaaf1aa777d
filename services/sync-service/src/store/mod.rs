//! Storage functions over the `sync` schema: small, one statement each where possible, and never
//! one statement per delivery of a bulk change.

pub mod batches;
pub mod clock_health;
pub mod companies;
pub mod deliveries;
pub mod delivery_state;
pub mod leases;
pub mod replicas;
pub mod requests;
pub mod retention;
pub mod status;
#[cfg(test)]
mod tests;

use domain::DeliveryState;

pub use diesel::QueryResult;
pub use diesel_async::AsyncPgConnection as Conn;

/// One field of every item, as the array a bulk statement binds for its `UNNEST`.
fn column<A, T>(items: &[A], field: impl Fn(&A) -> T) -> Vec<T> {
    items.iter().map(field).collect()
}

/// The `sync.deliveries` states in which a delivery has not been sent yet and nothing is in flight.
pub const WAITING: &[DeliveryState] = &[
    DeliveryState::Pending,
    DeliveryState::Scheduled,
    DeliveryState::Held,
    DeliveryState::Paused,
    DeliveryState::RetryWait,
];
