//! The server's answers and the terminal's command results.
//!
//! - Handshake (`GET /iclock/cdata`): `GET OPTION FROM: <SN>` then `Key=Value` lines that set how
//!   the terminal behaves (where its uploads resume, how often it polls, …).
//! - Upload (`POST /iclock/cdata`): `OK: <n>`, `n` the number of rows taken. The terminal keeps
//!   the rows and sends them again until it gets this answer.
//! - Poll (`GET /iclock/getrequest`): `OK` when nothing is queued, else one `C:<id>:<command>`
//!   line per command.
//! - Command results (`POST /iclock/devicecmd`): one `ID=<id>&Return=<code>&CMD=<verb>` line per
//!   command run; the server answers `OK`.
//!
//! All answers are `text/plain`; terminals accept LF or CRLF line endings, LF is written here.

use std::fmt;

use crate::query::{get, parse_query};
use crate::serial::SerialNumber;

/// The plain answer: to a poll with nothing queued, and to command results.
pub const ACK_OK: &str = "OK";

/// The options a handshake reply gives a terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeOptions {
    /// Where the terminal resumes its ATTLOG uploads. `0` or `None` asks for everything it holds;
    /// a large value such as `9999` (the common choice) asks only for new punches.
    pub att_log_stamp: String,
    pub oper_log_stamp: String,
    pub att_photo_stamp: String,
    /// Seconds the terminal waits before trying again after a failed request.
    pub error_delay_secs: u32,
    /// Seconds between polls (`getrequest`), the heartbeat.
    pub delay_secs: u32,
    /// Times of day (`HH:MM;HH:MM`) at which the terminal uploads whatever it has not sent.
    pub trans_times: String,
    /// Minutes between checks for new data to upload.
    pub trans_interval_mins: u32,
    /// Which tables the terminal uploads: a digit mask (`1111000000`, ATTLOG first) on older
    /// firmware, or names (`TransData AttLog OpLog`) on newer.
    pub trans_flag: String,
    /// The terminal's time zone as minutes east of UTC, written in hours (`4`, `5.5`).
    pub time_zone_minutes: i32,
    /// Upload each punch as it happens instead of waiting for the interval.
    pub realtime: bool,
    pub encrypt: bool,
}

impl Default for HandshakeOptions {
    /// New punches only, in real time, a 10-second heartbeat, Gulf Standard Time.
    fn default() -> Self {
        Self {
            att_log_stamp: "9999".to_owned(),
            oper_log_stamp: "9999".to_owned(),
            att_photo_stamp: "9999".to_owned(),
            error_delay_secs: 30,
            delay_secs: 10,
            trans_times: "00:00;14:05".to_owned(),
            trans_interval_mins: 1,
            trans_flag: "1111000000".to_owned(),
            time_zone_minutes: 4 * 60,
            realtime: true,
            encrypt: false,
        }
    }
}

fn time_zone_hours(minutes: i32) -> String {
    if minutes % 60 == 0 {
        (minutes / 60).to_string()
    } else {
        (f64::from(minutes) / 60.0).to_string()
    }
}

/// Control characters would end a line early; they become spaces.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The handshake answer: `GET OPTION FROM: <SN>` and the options, one per line.
pub fn handshake_reply(serial: &SerialNumber, options: &HandshakeOptions) -> String {
    let flag = |b: bool| if b { "1" } else { "0" };
    let lines = [
        format!("GET OPTION FROM: {serial}"),
        format!("ATTLOGStamp={}", one_line(&options.att_log_stamp)),
        format!("OPERLOGStamp={}", one_line(&options.oper_log_stamp)),
        format!("ATTPHOTOStamp={}", one_line(&options.att_photo_stamp)),
        format!("ErrorDelay={}", options.error_delay_secs),
        format!("Delay={}", options.delay_secs),
        format!("TransTimes={}", one_line(&options.trans_times)),
        format!("TransInterval={}", options.trans_interval_mins),
        format!("TransFlag={}", one_line(&options.trans_flag)),
        format!("TimeZone={}", time_zone_hours(options.time_zone_minutes)),
        format!("Realtime={}", flag(options.realtime)),
        format!("Encrypt={}", flag(options.encrypt)),
    ];
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// A handshake answer as a terminal reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeReply {
    /// The serial number the server echoed.
    pub serial: String,
    /// `Key=Value` lines in order, values as sent.
    pub options: Vec<(String, String)>,
}

impl HandshakeReply {
    /// The value of option `key`, compared without regard to ASCII case.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// `Delay=`, the heartbeat interval, when present and a number.
    pub fn delay_secs(&self) -> Option<u32> {
        self.get("Delay").and_then(|v| v.trim().parse().ok())
    }

    /// `ErrorDelay=`, the wait after a failure, when present and a number.
    pub fn error_delay_secs(&self) -> Option<u32> {
        self.get("ErrorDelay").and_then(|v| v.trim().parse().ok())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("the handshake answer does not start with \"GET OPTION FROM\"")]
    NoOptionHeader,
    #[error("{0:?} is not a command line (C:<id>:<command>)")]
    BadCommandLine(String),
}

/// Reads a handshake answer. Lines without `=` (some servers send bare words) are skipped.
pub fn parse_handshake_reply(text: &str) -> Result<HandshakeReply, ReplyError> {
    let mut lines = text
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty());
    let header = lines.next().ok_or(ReplyError::NoOptionHeader)?.trim();
    let serial = header
        .strip_prefix("GET OPTION FROM")
        .and_then(|rest| rest.trim_start().strip_prefix([':', '=']))
        .ok_or(ReplyError::NoOptionHeader)?
        .trim()
        .to_owned();
    let options = lines
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .collect();
    Ok(HandshakeReply { serial, options })
}

/// The acknowledgement of an upload of `count` rows.
pub fn upload_ack(count: usize) -> String {
    format!("OK: {count}")
}

/// The row count of an `OK: <n>` answer; `None` for anything else (a bare `OK` included), which a
/// terminal takes as "not stored" and sends the rows again.
pub fn parse_upload_ack(text: &str) -> Option<usize> {
    let rest = text.trim().strip_prefix("OK:")?.trim();
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest.parse().ok()
}

/// A command id: the server's number for a command, echoed in its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommandId(pub u64);

impl fmt::Display for CommandId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A command queued for a terminal: `DATA UPDATE USERINFO PIN=1…`, `INFO`, `REBOOT`, …
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCommand {
    pub id: CommandId,
    pub command: String,
}

impl DeviceCommand {
    /// The command's first word (`DATA`, `INFO`, …), which a result's `CMD=` names.
    pub fn verb(&self) -> &str {
        self.command.split_whitespace().next().unwrap_or("")
    }
}

/// The answer to a poll: `OK` with nothing queued, else `C:<id>:<command>` lines.
pub fn poll_reply(commands: &[DeviceCommand]) -> String {
    if commands.is_empty() {
        return ACK_OK.to_owned();
    }
    let mut text = String::new();
    for c in commands {
        text.push_str(&format!("C:{}:{}\n", c.id, one_line(&c.command)));
    }
    text
}

/// Reads a poll answer: no commands for `OK` or an empty body.
pub fn parse_poll_reply(text: &str) -> Result<Vec<DeviceCommand>, ReplyError> {
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed == ACK_OK {
        return Ok(Vec::new());
    }
    trimmed
        .lines()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .map(|line| {
            let bad = || ReplyError::BadCommandLine(line.to_owned());
            let rest = line.strip_prefix("C:").ok_or_else(bad)?;
            let (id, command) = rest.split_once(':').ok_or_else(bad)?;
            let id = id.trim().parse().map_err(|_| bad())?;
            Ok(DeviceCommand {
                id: CommandId(id),
                command: command.to_owned(),
            })
        })
        .collect()
}

/// The result of one command, as a terminal reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandResult {
    pub id: CommandId,
    /// `0` for success; negative codes are the terminal's errors.
    pub return_code: i32,
    /// The command's verb (`CMD=`), empty when not sent.
    pub command: String,
    /// Lines after the result line that belong to it (the answer to `INFO`, for one).
    pub details: Vec<String>,
}

/// One line `ID=…&Return=…&CMD=…` (no details, no line ending).
pub fn format_command_result(result: &CommandResult) -> String {
    format!(
        "ID={}&Return={}&CMD={}",
        result.id,
        result.return_code,
        crate::query::encode_component(&result.command)
    )
}

/// A devicecmd line that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line_number} ({excerpt:?}): {reason}")]
pub struct ResultLineError {
    pub line_number: usize,
    pub excerpt: String,
    pub reason: &'static str,
}

/// What a devicecmd body held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandResults {
    pub results: Vec<CommandResult>,
    pub errors: Vec<ResultLineError>,
}

/// Reads a devicecmd body: each line with an `ID=` key starts a result; other non-blank lines
/// are details of the result before them.
pub fn parse_command_results(body: &str) -> CommandResults {
    let mut out = CommandResults::default();
    for (index, raw) in body.split('\n').enumerate() {
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let fail = |reason| ResultLineError {
            line_number: index + 1,
            excerpt: line.chars().take(80).collect(),
            reason,
        };
        let pairs = parse_query(line.trim());
        let Some(id) = get(&pairs, "ID") else {
            match out.results.last_mut() {
                Some(last) => last.details.push(line.to_owned()),
                None => out.errors.push(fail("no ID= and no result before it")),
            }
            continue;
        };
        let Ok(id) = id.trim().parse::<u64>() else {
            out.errors.push(fail("ID= is not a number"));
            continue;
        };
        let return_code = match get(&pairs, "Return").map(|r| r.trim().parse::<i32>()) {
            Some(Ok(code)) => code,
            Some(Err(_)) => {
                out.errors.push(fail("Return= is not a number"));
                continue;
            }
            None => {
                out.errors.push(fail("no Return="));
                continue;
            }
        };
        out.results.push(CommandResult {
            id: CommandId(id),
            return_code,
            command: get(&pairs, "CMD").unwrap_or("").to_owned(),
            details: Vec::new(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sn(s: &str) -> SerialNumber {
        SerialNumber::parse(s).unwrap()
    }

    #[test]
    fn handshake_text_is_what_terminals_expect() {
        let text = handshake_reply(&sn("AEVL201160168"), &HandshakeOptions::default());
        assert_eq!(
            text,
            "GET OPTION FROM: AEVL201160168\n\
             ATTLOGStamp=9999\n\
             OPERLOGStamp=9999\n\
             ATTPHOTOStamp=9999\n\
             ErrorDelay=30\n\
             Delay=10\n\
             TransTimes=00:00;14:05\n\
             TransInterval=1\n\
             TransFlag=1111000000\n\
             TimeZone=4\n\
             Realtime=1\n\
             Encrypt=0\n"
        );
    }

    #[test]
    fn handshake_values_come_from_the_options() {
        let options = HandshakeOptions {
            att_log_stamp: "None".into(),
            oper_log_stamp: "0".into(),
            att_photo_stamp: "0".into(),
            error_delay_secs: 60,
            delay_secs: 3,
            trans_times: "00:00".into(),
            trans_interval_mins: 2,
            trans_flag: "TransData AttLog\tOpLog".into(),
            time_zone_minutes: 330,
            realtime: false,
            encrypt: true,
        };
        let text = handshake_reply(&sn("S1"), &options);
        let reply = parse_handshake_reply(&text).unwrap();
        assert_eq!(reply.serial, "S1");
        assert_eq!(reply.get("attlogstamp"), Some("None"));
        assert_eq!(reply.get("TimeZone"), Some("5.5"));
        assert_eq!(reply.get("TransFlag"), Some("TransData AttLog OpLog"));
        assert_eq!(reply.get("Realtime"), Some("0"));
        assert_eq!(reply.get("Encrypt"), Some("1"));
        assert_eq!(reply.delay_secs(), Some(3));
        assert_eq!(reply.error_delay_secs(), Some(60));
        assert_eq!(reply.options.len(), 11);
        for (minutes, text) in [(0, "0"), (-360, "-6"), (345, "5.75"), (-210, "-3.5")] {
            assert_eq!(time_zone_hours(minutes), text);
        }
    }

    #[test]
    fn handshake_answers_of_other_servers_are_read() {
        let text = "\r\nGET OPTION FROM=X9\r\nATTSTAMP\r\nStamp=9999\r\nDelay=30\r\n";
        let reply = parse_handshake_reply(text).unwrap();
        assert_eq!(reply.serial, "X9");
        assert_eq!(reply.delay_secs(), Some(30));
        assert_eq!(reply.get("Stamp"), Some("9999"));
        assert_eq!(parse_handshake_reply("OK"), Err(ReplyError::NoOptionHeader));
        assert_eq!(parse_handshake_reply(""), Err(ReplyError::NoOptionHeader));
    }

    #[test]
    fn upload_acks() {
        assert_eq!(upload_ack(3), "OK: 3");
        for n in [0, 1, 17, 100_000] {
            assert_eq!(parse_upload_ack(&upload_ack(n)), Some(n));
        }
        assert_eq!(parse_upload_ack("OK:5\r\n"), Some(5));
        for not_ack in [
            "OK", "OK: ", "OK: x", "OK: -1", "ERROR", "", "ok: 3", "OK: 3 4",
        ] {
            assert_eq!(parse_upload_ack(not_ack), None, "{not_ack:?}");
        }
    }

    #[test]
    fn poll_replies_round_trip() {
        assert_eq!(poll_reply(&[]), "OK");
        assert_eq!(parse_poll_reply("OK\n").unwrap(), vec![]);
        assert_eq!(parse_poll_reply("").unwrap(), vec![]);
        let commands = vec![
            DeviceCommand {
                id: CommandId(9),
                command: "INFO".into(),
            },
            DeviceCommand {
                id: CommandId(10),
                command: "DATA UPDATE USERINFO PIN=1\tName=Ali".into(),
            },
        ];
        let text = poll_reply(&commands);
        assert_eq!(text, "C:9:INFO\nC:10:DATA UPDATE USERINFO PIN=1 Name=Ali\n");
        let read = parse_poll_reply(&text).unwrap();
        assert_eq!(read[0], commands[0]);
        assert_eq!(read[1].command, "DATA UPDATE USERINFO PIN=1 Name=Ali");
        assert_eq!(read[1].verb(), "DATA");
        // A command may itself hold colons.
        let read = parse_poll_reply("C:3:SET OPTIONS TransTimes=00:00\r\n").unwrap();
        assert_eq!(read[0].command, "SET OPTIONS TransTimes=00:00");
        for bad in ["C:x:INFO", "INFO", "C:5"] {
            assert!(parse_poll_reply(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn command_results() {
        let body = "ID=9&Return=0&CMD=INFO\n~DeviceName=F18\nMAC=00:17:61\r\nID=10&Return=-1002&CMD=DATA\n\nID=x&Return=0\nReturn=0&CMD=X\nID=12&CMD=REBOOT\nID=13&Return=ok\n";
        let parsed = parse_command_results(body);
        assert_eq!(
            parsed.results,
            vec![
                CommandResult {
                    id: CommandId(9),
                    return_code: 0,
                    command: "INFO".into(),
                    details: vec!["~DeviceName=F18".into(), "MAC=00:17:61".into()],
                },
                CommandResult {
                    id: CommandId(10),
                    return_code: -1002,
                    command: "DATA".into(),
                    details: vec!["Return=0&CMD=X".into()],
                },
            ]
        );
        let reasons: Vec<_> = parsed
            .errors
            .iter()
            .map(|e| (e.line_number, e.reason))
            .collect();
        assert_eq!(
            reasons,
            vec![
                (6, "ID= is not a number"),
                (8, "no Return="),
                (9, "Return= is not a number"),
            ]
        );
        let orphan = parse_command_results("garbage\u{0}\u{FFFD}");
        assert_eq!(orphan.errors.len(), 1);
        assert!(parse_command_results("").results.is_empty());
    }

    #[test]
    fn formatted_results_parse_back() {
        for (id, code, cmd) in [(1, 0, "DATA"), (u64::MAX, -1002, "INFO"), (7, 2, "")] {
            let result = CommandResult {
                id: CommandId(id),
                return_code: code,
                command: cmd.into(),
                details: Vec::new(),
            };
            let line = format_command_result(&result);
            assert_eq!(parse_command_results(&line).results, vec![result]);
        }
    }
}
