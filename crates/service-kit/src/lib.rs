//! The wiring every service shares: the operational endpoints (`/healthz`, `/readyz`, `/metrics`),
//! problem+json errors, a span per request that joins the caller's trace, and a handle on a
//! running HTTP server that tests can start on a random port and stop.

mod errors;
pub mod http;
mod input;
mod openapi;
mod ops;
mod problem;
mod rate_limit;
mod running;
mod serve;
mod start;
mod trace;

#[doc(hidden)]
pub use errors::__private;
pub use errors::{logged_problem, problem_response, storage_code, ApiError, OUTAGE_RETRY_AFTER};
pub use http::{api_defaults, json_config, path_config, query_config, Page, PageQuery};
pub use input::{
    body_timeout, check_text, checked_input, control_char, control_char_in_json, invalid_text,
    is_body_timeout, InputLimits,
};
pub use openapi::{undocumented, BadInput, BearerAuth, Refusals};
pub use ops::{configure_ops, Ops};
pub use problem::{Problem, ProblemBody};
pub use rate_limit::{rate_limit, too_many_requests, ApiRateLimit, CallerIdentity, KeyedLimit};
pub use running::{RunningService, ServiceParts};
pub use serve::{serve, serve_app, HttpApi};
pub use start::{run_binary, Foundation, StartError};
pub use trace::trace_requests;
