//! What Bayzat's answers mean (`docs/bayzat-api.md`), as pure functions over what the caller read:
//! the status code, the few headers the contract gives a meaning to, and the body.
//!
//! [`classify`] reads the answer to a request of records as a [`Reply`], which the delivery rules
//! act on; [`ConnectionTest::from_answer`] reads the answer to the empty request of a connection
//! test. No HTTP client and no runtime: `bayzat-client` does the I/O and hands the answer here, so
//! every rule of the contract is a table-driven unit test, and the pure delivery rules can name a
//! `Reply` without linking an HTTP stack.

mod connection;
mod reply;
mod text;

pub use connection::ConnectionTest;
pub use reply::{
    classify, default_duplicate_pattern, Headers, Reply, DEFAULT_DUPLICATE_PATTERN, RETRY_AFTER,
    RETRY_AFTER_MS,
};
pub use text::{EXCERPT_CHARS, MESSAGE_CHARS};
