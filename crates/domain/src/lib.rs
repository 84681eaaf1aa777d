//! The attendance bridge's domain: identifiers, punches, Bayzat's record format, delivery states
//! and their rules, the retry schedule, and the message contracts between the services.
//!
//! Pure by design: nothing here reads files, talks to the network or a database, reads the clock
//! or draws random numbers, so every rule is testable as a plain function and every service can
//! depend on it.

pub mod bayzat;
pub mod company;
pub mod delivery;
pub mod ids;
pub mod messages;
pub mod punch;
pub mod retry;

pub use bayzat::{
    split_refused, BayzatRecord, BayzatRequest, TimeOrdered, MAX_RECORDS_PER_REQUEST,
};
pub use company::{normalize_report_name, validate_slug, SlugError};
pub use delivery::{
    CompanySyncState, DeliveryState, RowDeliveryState, SyncFrequency, UnknownVariant,
};
pub use ids::{BatchId, BayzatEmpId, CompanyId, EmployeeId, IdError, ImportId, PunchId};
pub use messages::{
    message_contracts, split_ready_punches, AuditRecordedV1, BatchOutcome, BridgeEvent,
    BridgeEventV1, ClockFacts, ClockHealthV1, CompanyChange, ConfigCompanyChangedV1, DueReason,
    FailedDeliveries, ImportAttention, ImportCancelledV1, ImportFacts, ImportFailure, Message,
    MessageContract, PunchStatusChange, PunchesReadyV1, PunchesStatusV1, ReadyPunch, SyncDueV1,
    SyncPaused, MAX_PUNCHES_PER_READY_MESSAGE,
};
pub use punch::{
    LocalPunchTime, PunchTimeError, PunchType, PunchTypeError, LOCAL_PUNCH_TIME_FORMAT,
};
pub use retry::{RetrySchedule, RetryScheduleError, DEFAULT_RETRY_SCHEDULE};
