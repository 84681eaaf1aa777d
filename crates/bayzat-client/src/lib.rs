//! The HTTP client for Bayzat's attendance API (`docs/bayzat-api.md`).
//!
//! [`BayzatClient::send`] posts one request of records and says what Bayzat's answer means for
//! the delivery ([`Reply`]); [`BayzatClient::test_connection`] checks a company's key without
//! creating a punch ([`ConnectionTest`]). This crate does the I/O only: it sends the request,
//! reads the status, headers and body, and hands them to `bayzat-reply`, whose pure functions
//! ([`classify`], [`ConnectionTest::from_answer`]) say what the answer means. Those are
//! re-exported here, as every caller of the client reads them.
//!
//! The company's API key travels only in the `x-api-key` header, marked sensitive. It is never
//! logged, never shown by `Debug`, and removed from every text this crate hands back, because
//! those texts end up in logs, the database and the operator's screen.

mod client;

pub use bayzat_reply::{
    classify, default_duplicate_pattern, ConnectionTest, Headers, Reply, DEFAULT_DUPLICATE_PATTERN,
    EXCERPT_CHARS, MESSAGE_CHARS,
};
pub use client::{
    BayzatClient, BuildError, Exchange, RawAnswer, TimedReply, IDLE_CONNECTION_REUSE,
    MAX_BODY_BYTES,
};
