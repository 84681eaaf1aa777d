//! Fingerprint terminals that push their punches (ZKTeco ADMS, see the `clock-push` crate): the
//! terminal endpoints on a listener of their own ([`push`], answering through [`terminal`]),
//! storing their uploads in the punch ledger ([`intake`]), and the registry on the REST API
//! ([`admin`]).

pub mod admin;
pub mod biotime;
pub mod biotime_admin;
mod companies;
pub mod health;
pub mod intake;
pub mod network;
pub mod push;
pub mod terminal;

/// The variable naming the terminals' listen address; unset, no terminal is listened to.
pub const BIND_VARIABLE: &str = "IMPORT_CLOCK_BIND";
