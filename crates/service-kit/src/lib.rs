//! The wiring every service shares: the operational endpoints (`/healthz`, `/readyz`, `/metrics`),
//! problem+json errors, and a handle on a running HTTP server that tests can start on a random
//! port and stop.

mod ops;
mod problem;
mod running;
mod start;

pub use ops::{configure_ops, Ops};
pub use problem::Problem;
pub use running::{RunningService, ServiceParts};
pub use start::{run_binary, Foundation, StartError};
