//! The Bayzat contract probe (docs/architecture.md#operating-it): before go-live, checks with a sandbox key what
//! `docs/bayzat-api.md` marks UNKNOWN (the answer to an empty request, how a duplicate is
//! refused, the 429's headers, the rate limit's window and scope, how an unknown employee is
//! refused), judges each answer against the configuration sync-service will run with, and says
//! what to set. It creates at most one punch when the contract is as documented, and none
//! without a sandbox employee.

mod assumptions;
mod checks;
mod probe;
mod report;
mod suggest;

pub use assumptions::{
    Assumptions, DUPLICATE_PATTERN, HTTP_TIMEOUT, RATE_LIMIT_DELAY, RATE_LIMIT_MARGIN_MS,
};
pub use checks::BURST;
pub use probe::{default_punch_time, run, ProbeOptions, DEFAULT_UNKNOWN_EMPLOYEE};
pub use report::{
    shell_quote, Check, ContractVerdict, Finding, Report, SentPunch, Setting, Status,
};
pub use suggest::{delay_seconds, duplicate_pattern};
