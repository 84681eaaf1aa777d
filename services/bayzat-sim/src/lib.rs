//! A strict, in-memory simulator of the Bayzat attendance API (`POST /attendance`), with an
//! admin API that exposes what it accepted. It is the acceptance oracle of the delivery tests:
//! see `docs/bayzat-api.md` for the rules it enforces.

mod directory;
mod model;
mod server;
mod state;

pub use directory::{keys_from_directory_file, keys_from_directory_json, DirectoryError};
pub use model::{
    AttendanceReply, Contract, DuplicateEntry, EmptyRecords, Faults, KeyBody, KeySpec, KeyStats,
    LedgerEntry, Reason, RetryAfterHeaders, RotateBody, Stats, DEFAULT_HOLD_MS,
    DEFAULT_INTERVAL_MS, DEFAULT_MAX_RECORDS,
};
pub use server::{
    serve, spawn, spawn_with, RunningSim, ServerOptions, SimConfig, BODY_LIMIT_BYTES,
};
