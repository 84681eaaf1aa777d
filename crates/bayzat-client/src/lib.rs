//! The HTTP client for Bayzat's attendance API (`docs/bayzat-api.md`).
//!
//! [`BayzatClient::send`] posts one request of records and says what Bayzat's answer means for
//! the delivery ([`Reply`]); [`BayzatClient::test_connection`] checks a company's key without
//! creating a punch ([`ConnectionTest`]). How an answer is read is a pure function,
//! [`classify`], so every rule of the contract is testable without a server.
//!
//! The company's API key travels only in the `x-api-key` header, marked sensitive. It is never
//! logged, never shown by `Debug`, and removed from every text this crate hands back, because
//! those texts end up in logs, the database and the operator's screen.

mod client;
mod connection;
mod reply;

pub use client::{BayzatClient, BuildError, Exchange, RawAnswer, MAX_BODY_BYTES};
pub use connection::ConnectionTest;
pub use reply::{
    classify, default_duplicate_pattern, Outcome, Reply, DEFAULT_DUPLICATE_PATTERN, EXCERPT_CHARS,
    MESSAGE_CHARS,
};
