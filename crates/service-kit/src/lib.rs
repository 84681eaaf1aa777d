//! The wiring every service shares: the operational endpoints (`/healthz`, `/readyz`, `/metrics`),
//! problem+json errors, a span per request that joins the caller's trace, and a handle on a
//! running HTTP server that tests can start on a random port and stop.

pub mod http;
mod openapi;
mod ops;
mod problem;
mod rate_limit;
mod running;
mod start;
mod trace;

pub use http::{api_defaults, json_config, path_config, query_config, Page, PageQuery};
pub use openapi::BearerAuth;
pub use ops::{configure_ops, Ops};
pub use problem::{Problem, ProblemBody};
pub use rate_limit::{rate_limit, ApiRateLimit};
pub use running::{RunningService, ServiceParts};
pub use start::{run_binary, Foundation, StartError};
pub use trace::trace_requests;
