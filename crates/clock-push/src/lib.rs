//! The ZKTeco "push" protocol (ADMS, the `/iclock/…` HTTP dialect fingerprint terminals speak to
//! a server) as pure functions: no network, no clock, no randomness.
//!
//! Both sides of the conversation live here so that a server and a simulated terminal share one
//! definition of every message:
//!
//! - [`request`]: what a terminal's request is (handshake, upload, command poll, command result),
//!   from its method, path and query string; and the paths a terminal builds.
//! - [`attlog`]: the `ATTLOG` table, one punch per line, parsed line by line (a bad line is an
//!   error of its own, never the batch's) and formatted back.
//! - [`reply`]: the server's answers (handshake options, `OK: <n>`, queued commands) and the
//!   terminal's command results, each with its parser and formatter.
//! - [`serial`]: the terminal serial number and the user PIN as validated types.

pub mod attlog;
pub mod query;
pub mod reply;
pub mod request;
pub mod serial;

pub use attlog::{
    format_attlog_body, format_attlog_line, parse_attlog, parse_attlog_bytes, parse_attlog_line,
    AttLogError, AttLogParse, AttLogRecord, LineError, PunchState, MAX_LINE_BYTES,
};
pub use reply::{
    format_command_result, handshake_reply, parse_command_results, parse_handshake_reply,
    parse_poll_reply, parse_upload_ack, poll_reply, upload_ack, CommandId, CommandResult,
    CommandResults, DeviceCommand, HandshakeOptions, HandshakeReply, ReplyError, ResultLineError,
    ACK_OK,
};
pub use request::{
    classify, command_result_path, handshake_path, poll_path, upload_path, RequestError, Table,
    TerminalRequest, ICLOCK_PREFIX,
};
pub use serial::{Pin, PinError, SerialError, SerialNumber};
