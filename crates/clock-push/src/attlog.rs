//! The `ATTLOG` table: one punch per line, fields separated by tabs.
//!
//! ```text
//! PIN <TAB> YYYY-MM-DD HH:MM:SS <TAB> state <TAB> verify <TAB> workcode <TAB> reserved <TAB> …
//! 31<TAB>2026-10-05 06:58:10<TAB>0<TAB>1<TAB>0<TAB>0<TAB>0
//! ```
//!
//! The time is the terminal's own wall clock: no time zone, which is what Bayzat takes too. The
//! state is the punch state key pressed (or scheduled) on the terminal; the verify field is how
//! the user was recognised (fingerprint, card, face, …). Lines end in LF or CRLF.
//!
//! Parsing is per line: a line that cannot be read is reported with its number and reason, and
//! the other lines of the body still count. The PIN, the time and the state are required; the
//! verify type, the work code and the reserved fields may be missing, as older firmware omits
//! them. Spaces around fields are ignored.

use std::fmt;

use domain::{LocalPunchTime, PunchTimeError, PunchType};

use crate::serial::{Pin, PinError};

/// Longest line read, in bytes. A real line is under 100 bytes; anything this long is not a punch,
/// and refusing it early keeps a garbage body from costing more than a glance.
pub const MAX_LINE_BYTES: usize = 1024;

/// How much of a refused line an error keeps, in characters.
const EXCERPT_CHARS: usize = 80;

/// The punch state codes of the push protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PunchState {
    CheckIn,
    CheckOut,
    BreakOut,
    BreakIn,
    OvertimeIn,
    OvertimeOut,
}

impl PunchState {
    pub const ALL: [PunchState; 6] = [
        PunchState::CheckIn,
        PunchState::CheckOut,
        PunchState::BreakOut,
        PunchState::BreakIn,
        PunchState::OvertimeIn,
        PunchState::OvertimeOut,
    ];

    /// `None` for a code the protocol does not define.
    pub const fn from_code(code: u32) -> Option<Self> {
        Some(match code {
            0 => PunchState::CheckIn,
            1 => PunchState::CheckOut,
            2 => PunchState::BreakOut,
            3 => PunchState::BreakIn,
            4 => PunchState::OvertimeIn,
            5 => PunchState::OvertimeOut,
            _ => return None,
        })
    }

    pub const fn code(self) -> u32 {
        match self {
            PunchState::CheckIn => 0,
            PunchState::CheckOut => 1,
            PunchState::BreakOut => 2,
            PunchState::BreakIn => 3,
            PunchState::OvertimeIn => 4,
            PunchState::OvertimeOut => 5,
        }
    }

    /// Bayzat knows only in and out: coming back from a break or starting overtime is coming in,
    /// leaving for a break or ending overtime is going out.
    pub const fn punch_type(self) -> PunchType {
        match self {
            PunchState::CheckIn | PunchState::BreakIn | PunchState::OvertimeIn => {
                PunchType::CheckIn
            }
            PunchState::CheckOut | PunchState::BreakOut | PunchState::OvertimeOut => {
                PunchType::CheckOut
            }
        }
    }

    /// The state's name as ZKTeco's software shows it (BioTime's `punch_state_display`).
    pub const fn label(self) -> &'static str {
        match self {
            PunchState::CheckIn => "Check In",
            PunchState::CheckOut => "Check Out",
            PunchState::BreakOut => "Break Out",
            PunchState::BreakIn => "Break In",
            PunchState::OvertimeIn => "Overtime In",
            PunchState::OvertimeOut => "Overtime Out",
        }
    }
}

impl fmt::Display for PunchState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One ATTLOG line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttLogRecord {
    pub pin: Pin,
    /// The terminal's wall-clock time of the punch.
    pub time: LocalPunchTime,
    pub state: PunchState,
    /// How the user was verified (1 fingerprint, 4 card, 15 face, …); `None` when not sent.
    pub verify: Option<u16>,
    /// The work code typed with the punch (`0` or empty when none).
    pub work_code: String,
    /// The fields after the work code, kept as sent so a line can be written back unchanged.
    pub reserved: Vec<String>,
}

impl AttLogRecord {
    /// A punch as a terminal writes one when the user puts a finger on it: verify 1 (fingerprint),
    /// work code 0 and two reserved zeros.
    pub fn new(pin: Pin, time: LocalPunchTime, state: PunchState) -> Self {
        Self {
            pin,
            time,
            state,
            verify: Some(1),
            work_code: "0".to_owned(),
            reserved: vec!["0".to_owned(), "0".to_owned()],
        }
    }

    pub const fn punch_type(&self) -> PunchType {
        self.state.punch_type()
    }
}

/// Why one line could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttLogError {
    #[error("line is {bytes} bytes long, more than the {MAX_LINE_BYTES} a punch can take")]
    LineTooLong { bytes: usize },
    #[error("bad PIN: {0}")]
    BadPin(PinError),
    #[error("no punch time")]
    MissingTime,
    #[error("bad punch time: {0}")]
    BadTime(PunchTimeError),
    #[error("no punch state")]
    MissingState,
    #[error("punch state {0:?} is not a number")]
    BadState(String),
    #[error("punch state {0} is not one of 0 to 5")]
    UnknownState(u32),
    #[error("verify type {0:?} is not a number")]
    BadVerify(String),
}

/// A line that could not be read: its 1-based number in the body, its beginning, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line_number} ({excerpt:?}): {error}")]
pub struct LineError {
    pub line_number: usize,
    pub excerpt: String,
    pub error: AttLogError,
}

/// What a body held: the punches read and the lines refused, each in body order. Blank lines are
/// neither.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttLogParse {
    pub records: Vec<AttLogRecord>,
    pub errors: Vec<LineError>,
}

impl AttLogParse {
    /// Non-blank lines seen: what a server counts when it acknowledges a body.
    pub fn lines(&self) -> usize {
        self.records.len() + self.errors.len()
    }
}

/// Reads one line (without its line ending).
pub fn parse_attlog_line(line: &str) -> Result<AttLogRecord, AttLogError> {
    if line.len() > MAX_LINE_BYTES {
        return Err(AttLogError::LineTooLong { bytes: line.len() });
    }
    let mut fields = line.split('\t').map(str::trim);
    let pin = Pin::parse(fields.next().unwrap_or("")).map_err(AttLogError::BadPin)?;
    let time = match fields.next() {
        None | Some("") => return Err(AttLogError::MissingTime),
        Some(t) => LocalPunchTime::parse(t).map_err(AttLogError::BadTime)?,
    };
    let state = match fields.next() {
        None | Some("") => return Err(AttLogError::MissingState),
        Some(s) => {
            let code: u32 = s.parse().map_err(|_| AttLogError::BadState(s.to_owned()))?;
            PunchState::from_code(code).ok_or(AttLogError::UnknownState(code))?
        }
    };
    let verify = match fields.next() {
        None | Some("") => None,
        Some(v) => Some(
            v.parse::<u16>()
                .map_err(|_| AttLogError::BadVerify(v.to_owned()))?,
        ),
    };
    let work_code = fields.next().unwrap_or("").to_owned();
    let reserved = fields.map(str::to_owned).collect();
    Ok(AttLogRecord {
        pin,
        time,
        state,
        verify,
        work_code,
        reserved,
    })
}

/// Reads a body line by line; never fails as a whole.
pub fn parse_attlog(body: &str) -> AttLogParse {
    let mut parse = AttLogParse::default();
    for (index, raw) in body.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            continue;
        }
        match parse_attlog_line(line) {
            Ok(record) => parse.records.push(record),
            Err(error) => parse.errors.push(LineError {
                line_number: index + 1,
                excerpt: line.chars().take(EXCERPT_CHARS).collect(),
                error,
            }),
        }
    }
    parse
}

/// [`parse_attlog`] on raw bytes: bytes that are not UTF-8 become U+FFFD, which no PIN or time
/// accepts, so they cost only the lines they are on.
pub fn parse_attlog_bytes(body: &[u8]) -> AttLogParse {
    parse_attlog(&String::from_utf8_lossy(body))
}

/// Tabs and line breaks would split a field; they become spaces, and the field is trimmed as a
/// reader would.
fn clean(field: &str) -> String {
    field
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// Writes one line, without a line ending. For any record whose work code and reserved fields are
/// free of control characters and surrounding spaces, [`parse_attlog_line`] reads it back equal.
pub fn format_attlog_line(record: &AttLogRecord) -> String {
    let mut line = format!(
        "{}\t{}\t{}\t{}\t{}",
        record.pin,
        record.time,
        record.state.code(),
        record.verify.map(|v| v.to_string()).unwrap_or_default(),
        clean(&record.work_code),
    );
    for field in &record.reserved {
        line.push('\t');
        line.push_str(&clean(field));
    }
    line
}

/// Writes a body: each line followed by LF, as terminals send it.
pub fn format_attlog_body(records: &[AttLogRecord]) -> String {
    let mut body = String::new();
    for record in records {
        body.push_str(&format_attlog_line(record));
        body.push('\n');
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn pin(s: &str) -> Pin {
        Pin::parse(s).unwrap()
    }

    fn time(s: &str) -> LocalPunchTime {
        LocalPunchTime::parse(s).unwrap()
    }

    #[test]
    fn a_real_line() {
        let r = parse_attlog_line("31\t2026-10-05 06:58:10\t0\t1\t0\t0\t0").unwrap();
        assert_eq!(r.pin, pin("31"));
        assert_eq!(r.time, time("2026-10-05 06:58:10"));
        assert_eq!(r.state, PunchState::CheckIn);
        assert_eq!(r.verify, Some(1));
        assert_eq!(r.work_code, "0");
        assert_eq!(r.reserved, vec!["0", "0"]);
        assert_eq!(r.punch_type(), PunchType::CheckIn);
        assert_eq!(r, AttLogRecord::new(pin("31"), r.time, PunchState::CheckIn));
    }

    #[test]
    fn states_map_to_bayzat_types() {
        let expected = [
            (0, PunchType::CheckIn),
            (1, PunchType::CheckOut),
            (2, PunchType::CheckOut),
            (3, PunchType::CheckIn),
            (4, PunchType::CheckIn),
            (5, PunchType::CheckOut),
        ];
        for (code, kind) in expected {
            let state = PunchState::from_code(code).unwrap();
            assert_eq!(state.code(), code);
            assert_eq!(state.punch_type(), kind, "state {code}");
        }
        assert_eq!(PunchState::from_code(6), None);
        assert_eq!(PunchState::from_code(255), None);
        assert_eq!(PunchState::ALL.len(), 6);
        assert_eq!(PunchState::OvertimeOut.to_string(), "Overtime Out");
    }

    #[test]
    fn crlf_blank_lines_spaces_and_missing_trailing_fields() {
        let body = "\r\n 1 \t 2026-01-04 08:00:00 \t 0 \r\n\r\n   \t  \n2\t2026-01-04 17:30:05\t1\t15\r\n3\t2026-01-04 17:31:00\t5\t\t\n";
        let parsed = parse_attlog(body);
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        let got: Vec<_> = parsed
            .records
            .iter()
            .map(|r| (r.pin.as_str(), r.time.to_string(), r.state, r.verify))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "1",
                    "2026-01-04 08:00:00".to_owned(),
                    PunchState::CheckIn,
                    None
                ),
                (
                    "2",
                    "2026-01-04 17:30:05".to_owned(),
                    PunchState::CheckOut,
                    Some(15)
                ),
                (
                    "3",
                    "2026-01-04 17:31:00".to_owned(),
                    PunchState::OvertimeOut,
                    None
                ),
            ]
        );
        assert_eq!(parsed.records[0].work_code, "");
        assert!(parsed.records[0].reserved.is_empty());
        assert_eq!(parsed.lines(), 3);
    }

    #[test]
    fn bad_lines_are_reported_and_the_rest_still_parse() {
        let body = [
            "1\t2026-01-04 08:00:00\t0\t1",      // 1 good
            "2\t2026-01-04 08:00:00\t7\t1",      // 2 unknown state
            "3\t2026-01-04 08:00:00\tx\t1",      // 3 state not a number
            "4\t2026-02-30 08:00:00\t0\t1",      // 4 no such date
            "5\t2026-01-04T08:00:00\t0\t1",      // 5 ISO form
            "6\t2026-01-04 08:00:00",            // 6 no state
            "7",                                 // 7 no time
            "\t2026-01-04 08:00:00\t0",          // 8 empty PIN
            "٣٤\t2026-01-04 08:00:00\t0\t1",     // 9 Arabic digits
            "9\t2026-01-04 08:00:00\t1\tfinger", // 10 verify not a number
            "10\t2026-01-04 24:00:00\t0",        // 11 no such time
            "11\t2026-01-04 09:00:00\t1\t1\t0",  // 12 good
        ]
        .join("\n");
        let parsed = parse_attlog(&body);
        let pins: Vec<_> = parsed.records.iter().map(|r| r.pin.as_str()).collect();
        assert_eq!(pins, vec!["1", "11"]);
        let reasons: Vec<_> = parsed
            .errors
            .iter()
            .map(|e| (e.line_number, e.error.clone()))
            .collect();
        assert_eq!(reasons[0], (2, AttLogError::UnknownState(7)));
        assert_eq!(reasons[1], (3, AttLogError::BadState("x".into())));
        assert!(matches!(reasons[2], (4, AttLogError::BadTime(_))));
        assert!(matches!(reasons[3], (5, AttLogError::BadTime(_))));
        assert_eq!(reasons[4], (6, AttLogError::MissingState));
        assert_eq!(reasons[5], (7, AttLogError::MissingTime));
        assert_eq!(reasons[6], (8, AttLogError::BadPin(PinError::Empty)));
        assert_eq!(
            reasons[7],
            (9, AttLogError::BadPin(PinError::BadCharacters))
        );
        assert_eq!(reasons[8], (10, AttLogError::BadVerify("finger".into())));
        assert!(matches!(reasons[9], (11, AttLogError::BadTime(_))));
        assert_eq!(parsed.errors.len(), 10);
        assert_eq!(parsed.errors[7].excerpt, "٣٤\t2026-01-04 08:00:00\t0\t1");
        // The message names the line and the reason.
        assert!(parsed.errors[0].to_string().starts_with("line 2 "));
    }

    #[test]
    fn empty_and_blank_bodies_hold_nothing() {
        for body in ["", "\n", "\r\n\r\n", "  \t \n\t"] {
            assert_eq!(parse_attlog(body), AttLogParse::default(), "{body:?}");
        }
        assert_eq!(parse_attlog_bytes(b""), AttLogParse::default());
    }

    #[test]
    fn garbage_bytes_cost_only_their_line() {
        let mut body = b"1\t2026-01-04 08:00:00\t0\t1\n".to_vec();
        body.extend_from_slice(&[0xFF, 0xFE, 0x00, 0x09, 0xC3, 0x28, b'\n']);
        body.extend_from_slice(b"\x00\x00\x00\n");
        body.extend_from_slice("مرحبا\tعالم\n".as_bytes());
        body.extend_from_slice(b"2\t2026-01-04 08:01:00\t1\t1\n");
        let parsed = parse_attlog_bytes(&body);
        assert_eq!(parsed.records.len(), 2);
        assert_eq!(parsed.errors.len(), 3);
        assert!(parsed
            .errors
            .iter()
            .all(|e| matches!(e.error, AttLogError::BadPin(_))));
    }

    #[test]
    fn very_long_lines_are_refused_cheaply() {
        let long = format!("1\t2026-01-04 08:00:00\t0\t1\t{}", "x".repeat(100_000));
        let body = format!("{long}\n2\t2026-01-04 08:01:00\t1\n");
        let parsed = parse_attlog(&body);
        assert_eq!(parsed.records.len(), 1);
        assert_eq!(
            parsed.errors[0].error,
            AttLogError::LineTooLong { bytes: long.len() }
        );
        assert_eq!(parsed.errors[0].excerpt.chars().count(), EXCERPT_CHARS);
        // A line exactly at the limit is still read.
        let pad = MAX_LINE_BYTES - "1\t2026-01-04 08:00:00\t0\t1\t".len();
        let at_limit = format!("1\t2026-01-04 08:00:00\t0\t1\t{}", "w".repeat(pad));
        assert_eq!(at_limit.len(), MAX_LINE_BYTES);
        assert!(parse_attlog_line(&at_limit).is_ok());
    }

    /// A small deterministic generator, enough to sweep the value space without a dependency.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn random_record(rng: &mut Lcg) -> AttLogRecord {
        const ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let pin_len = 1 + rng.below(24) as usize;
        let pin: String = (0..pin_len)
            .map(|_| ALNUM[rng.below(ALNUM.len() as u64) as usize] as char)
            .collect();
        let date =
            NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + chrono::Days::new(rng.below(365 * 130));
        let time = LocalPunchTime::from_parts(
            date,
            rng.below(24) as u32,
            rng.below(60) as u32,
            rng.below(60) as u32,
        )
        .unwrap();
        let state = PunchState::ALL[rng.below(6) as usize];
        let verify = match rng.below(3) {
            0 => None,
            _ => Some(rng.below(u16::MAX as u64 + 1) as u16),
        };
        let work_code = match rng.below(3) {
            0 => String::new(),
            1 => "0".to_owned(),
            _ => rng.below(1_000_000).to_string(),
        };
        let reserved = (0..rng.below(4))
            .map(|_| rng.below(100).to_string())
            .collect();
        AttLogRecord {
            pin: Pin::parse(&pin).unwrap(),
            time,
            state,
            verify,
            work_code,
            reserved,
        }
    }

    #[test]
    fn every_formatted_line_parses_back() {
        let mut rng = Lcg(0x5EED);
        for _ in 0..20_000 {
            let record = random_record(&mut rng);
            let line = format_attlog_line(&record);
            assert_eq!(parse_attlog_line(&line).as_ref(), Ok(&record), "{line:?}");
        }
    }

    #[test]
    fn every_formatted_body_parses_back() {
        let mut rng = Lcg(42);
        for size in [0, 1, 2, 17, 500] {
            let records: Vec<_> = (0..size).map(|_| random_record(&mut rng)).collect();
            let body = format_attlog_body(&records);
            let parsed = parse_attlog(&body);
            assert!(parsed.errors.is_empty());
            assert_eq!(parsed.records, records);
            // The same body with CRLF endings reads the same.
            let crlf = body.replace('\n', "\r\n");
            assert_eq!(parse_attlog(&crlf).records, records);
        }
    }

    #[test]
    fn formatting_cleans_fields_that_would_split_the_line() {
        let mut record =
            AttLogRecord::new(pin("5"), time("2026-03-01 10:00:00"), PunchState::BreakIn);
        record.work_code = "a\tb\n".into();
        record.reserved = vec!["x\ry".into()];
        let line = format_attlog_line(&record);
        assert_eq!(line, "5\t2026-03-01 10:00:00\t3\t1\ta b\tx y");
        assert_eq!(parse_attlog(&line).records.len(), 1);
    }
}
