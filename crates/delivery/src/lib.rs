//! The rules of delivering punches to Bayzat (docs/architecture.md#delivery-rules), as plain functions: which due
//! deliveries go in the next request, what an answer means for each of them, when a company's
//! scheduled punches are due, when the next request may start, which empIds Bayzat refused
//! as unknown, and which replica sends for a company.
//!
//! Pure by design: no I/O, no async, no database and no clock. Time is always a parameter, so
//! sync-service decides with the instants it stored and tests can walk days and DST changes.

mod outcome;
mod pacing;
mod packing;
mod schedule;
mod sharing;
mod time;
mod unknown;

#[cfg(test)]
mod test_util;

pub use outcome::{
    is_unknown_employee, on_reply, Change, Next, ReplyEffects, Transition, UNKNOWN_EMPLOYEE_REASON,
};
pub use pacing::{earliest_start, Pace};
pub use packing::{next_request, screen_half, Delivery, Plan, Rejection};
pub use schedule::{arrival_state, next_run, parse_time_zone, ScheduleError};
pub use sharing::preferred_replica;
pub use unknown::{UnknownEmployee, UnknownEmployees, UNKNOWN_EMPLOYEE_MEMORY};
