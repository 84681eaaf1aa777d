//! A simulator of fingerprint clocks, for tests and benchmarks of the clock intake.
//!
//! Two halves, one per way punches leave a ZKTeco installation:
//!
//! - [`terminal`]: simulated terminals speaking the push protocol (ADMS, `/iclock/…`) to a
//!   server, with a punch buffer that survives the server being down, batching, clock skew,
//!   backoff, optional duplicate retransmission and heartbeats.
//! - [`biotime`]: a stand-in for a ZKBio Time / BioTime server's REST API (token login and the
//!   paged transaction list), fed through a control endpoint, with a failure switch and token
//!   expiry.
//!
//! The protocol itself (request shapes, ATTLOG lines, replies) comes from the `clock-push` crate,
//! so the simulator and a real server read and write the same text.

pub mod biotime;
pub mod load;
pub mod terminal;

pub use biotime::{
    serve_biotime, spawn_biotime, BioTimeConfig, BioTimeStats, NewTransaction, RunningBioTime,
    ServerOptions, Transaction,
};
pub use load::{run_load, write_csv, LoadConfig, LoadReport, OfflineWindow, PinSource};
pub use terminal::{PunchLog, Terminal, TerminalConfig, TerminalStats};
