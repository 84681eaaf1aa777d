//! A punch: which way the employee went through the door, and when, in the company's local time.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use chrono::{NaiveDate, NaiveDateTime, Timelike};
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Bayzat's two punch types, spelled exactly as its API wants them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum PunchType {
    CheckIn,
    CheckOut,
}

impl PunchType {
    pub const fn as_str(self) -> &'static str {
        match self {
            PunchType::CheckIn => "checkIn",
            PunchType::CheckOut => "checkOut",
        }
    }
}

impl fmt::Display for PunchType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("punch type {0:?} is neither \"checkIn\" nor \"checkOut\"")]
pub struct PunchTypeError(pub String);

impl FromStr for PunchType {
    type Err = PunchTypeError;

    /// Only Bayzat's spelling: the many ways clocks name a punch state are the report reader's
    /// business, not the wire's.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "checkIn" => Ok(PunchType::CheckIn),
            "checkOut" => Ok(PunchType::CheckOut),
            other => Err(PunchTypeError(other.to_owned())),
        }
    }
}

/// A punch time as the company's clock on the wall showed it: no time zone, whole seconds.
///
/// Bayzat takes local wall-clock time, so the time zone is never applied to a punch; it only
/// matters for deciding when a company's scheduled run is due. Whole seconds because that is all
/// the wire carries, and Bayzat's duplicate rule (same empId and time) compares what it received:
/// two times that print the same must be the same punch here too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocalPunchTime(NaiveDateTime);

/// The one accepted text form, `YYYY-MM-DD HH:MM:SS`.
pub const LOCAL_PUNCH_TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("punch time {input:?} is not a local time in the form YYYY-MM-DD HH:MM:SS (no offset, no T): {reason}")]
pub struct PunchTimeError {
    pub input: String,
    pub reason: &'static str,
}

impl LocalPunchTime {
    /// Drops any fraction of a second (see the type's documentation).
    pub fn new(time: NaiveDateTime) -> Self {
        Self(
            time.with_nanosecond(0)
                .expect("zero nanoseconds is always valid"),
        )
    }

    /// `None` when the date or time does not exist (30 February, 24:00).
    pub fn from_parts(date: NaiveDate, hour: u32, minute: u32, second: u32) -> Option<Self> {
        date.and_hms_opt(hour, minute, second).map(Self)
    }

    pub const fn as_naive(&self) -> NaiveDateTime {
        self.0
    }

    pub fn date(&self) -> NaiveDate {
        self.0.date()
    }

    /// Parses exactly `YYYY-MM-DD HH:MM:SS`. Chrono alone would accept one-digit fields, a leap
    /// second and a leading sign, none of which Bayzat takes, so the shape is checked first.
    pub fn parse(input: &str) -> Result<Self, PunchTimeError> {
        let fail = |reason| PunchTimeError {
            input: input.to_owned(),
            reason,
        };
        let bytes = input.as_bytes();
        if bytes.len() != 19 {
            return Err(fail("expected exactly 19 characters"));
        }
        for (i, &b) in bytes.iter().enumerate() {
            let ok = match i {
                4 | 7 => b == b'-',
                10 => b == b' ',
                13 | 16 => b == b':',
                _ => b.is_ascii_digit(),
            };
            if !ok {
                return Err(fail("characters out of place"));
            }
        }
        if &input[17..19] >= "60" {
            return Err(fail("seconds must be below 60"));
        }
        NaiveDateTime::parse_from_str(input, LOCAL_PUNCH_TIME_FORMAT)
            .map(Self)
            .map_err(|_| fail("no such date or time"))
    }
}

impl fmt::Display for LocalPunchTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.format(LOCAL_PUNCH_TIME_FORMAT), f)
    }
}

impl FromStr for LocalPunchTime {
    type Err = PunchTimeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl From<LocalPunchTime> for NaiveDateTime {
    fn from(time: LocalPunchTime) -> Self {
        time.0
    }
}

impl Serialize for LocalPunchTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for LocalPunchTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Cow::<'de, str>::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for LocalPunchTime {
    fn schema_name() -> Cow<'static, str> {
        "LocalPunchTime".into()
    }

    fn schema_id() -> Cow<'static, str> {
        "domain::LocalPunchTime".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$",
            "description": "The company's local wall-clock time, YYYY-MM-DD HH:MM:SS, no offset, no T.",
            "examples": ["2023-04-30 09:00:00"],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn punch_type_spelling() {
        let cases = [
            (PunchType::CheckIn, "checkIn"),
            (PunchType::CheckOut, "checkOut"),
        ];
        for (punch_type, text) in cases {
            assert_eq!(
                serde_json::to_string(&punch_type).unwrap(),
                format!("\"{text}\"")
            );
            assert_eq!(
                serde_json::from_str::<PunchType>(&format!("\"{text}\"")).unwrap(),
                punch_type
            );
            assert_eq!(punch_type.to_string(), text);
            assert_eq!(text.parse::<PunchType>().unwrap(), punch_type);
        }
        for bad in ["checkin", "CheckIn", "check_in", "in", "", "checkOut "] {
            assert_eq!(
                bad.parse::<PunchType>(),
                Err(PunchTypeError(bad.to_owned()))
            );
            assert!(serde_json::from_str::<PunchType>(&format!("\"{bad}\"")).is_err());
        }
    }

    #[test]
    fn accepted_times() {
        let cases = [
            ("2023-04-30 09:00:00", (2023, 4, 30, 9, 0, 0)),
            ("2023-04-30 23:59:59", (2023, 4, 30, 23, 59, 59)),
            ("2024-02-29 00:00:00", (2024, 2, 29, 0, 0, 0)),
            ("2000-01-01 12:30:05", (2000, 1, 1, 12, 30, 5)),
            ("0001-01-01 00:00:00", (1, 1, 1, 0, 0, 0)),
            ("9999-12-31 23:59:59", (9999, 12, 31, 23, 59, 59)),
        ];
        for (text, (y, mo, d, h, mi, s)) in cases {
            let time = LocalPunchTime::parse(text).unwrap_or_else(|e| panic!("{e}"));
            let expected = NaiveDate::from_ymd_opt(y, mo, d)
                .unwrap()
                .and_hms_opt(h, mi, s)
                .unwrap();
            assert_eq!(time.as_naive(), expected, "{text}");
            assert_eq!(time.to_string(), text);
            assert_eq!(serde_json::to_string(&time).unwrap(), format!("\"{text}\""));
            assert_eq!(
                serde_json::from_str::<LocalPunchTime>(&format!("\"{text}\"")).unwrap(),
                time
            );
        }
    }

    #[test]
    fn rejected_times() {
        let cases = [
            ("", "expected exactly 19 characters"),
            ("2023-04-30", "expected exactly 19 characters"),
            ("2023-04-30 09:00", "expected exactly 19 characters"),
            ("2023-04-30 9:00:00", "expected exactly 19 characters"),
            ("2023-4-30 09:00:00", "expected exactly 19 characters"),
            ("2023-04-30 09:00:00.000", "expected exactly 19 characters"),
            ("2023-04-30 09:00:00Z", "expected exactly 19 characters"),
            (
                "2023-04-30 09:00:00+04:00",
                "expected exactly 19 characters",
            ),
            ("2023-04-30T09:00:00Z", "expected exactly 19 characters"),
            (" 2023-04-30 09:00:00", "expected exactly 19 characters"),
            ("2023-04-30T09:00:00", "characters out of place"),
            ("2023/04/30 09:00:00", "characters out of place"),
            ("30-04-2023 09:00:00", "characters out of place"),
            ("2023-04-30 09.00.00", "characters out of place"),
            ("2023-04-30  9:00:00", "characters out of place"),
            ("+023-04-30 09:00:00", "characters out of place"),
            ("2023-04-3a 09:00:00", "characters out of place"),
            ("２023-04-30 09:00:", "characters out of place"),
            ("2023-04-30 23:59:60", "seconds must be below 60"),
            ("2023-04-30 09:00:99", "seconds must be below 60"),
            ("2023-02-29 09:00:00", "no such date or time"),
            ("2023-13-01 09:00:00", "no such date or time"),
            ("2023-00-10 09:00:00", "no such date or time"),
            ("2023-04-31 09:00:00", "no such date or time"),
            ("2023-04-00 09:00:00", "no such date or time"),
            ("2023-04-30 24:00:00", "no such date or time"),
            ("2023-04-30 09:60:00", "no such date or time"),
        ];
        for (text, reason) in cases {
            let err = LocalPunchTime::parse(text).expect_err(text);
            assert_eq!(err.reason, reason, "{text:?}");
            assert_eq!(err.input, text);
            assert!(
                serde_json::from_str::<LocalPunchTime>(&serde_json::to_string(text).unwrap())
                    .is_err(),
                "{text:?}"
            );
        }
        assert_eq!(
            LocalPunchTime::parse("2023-04-30T09:00:00")
                .unwrap_err()
                .to_string(),
            "punch time \"2023-04-30T09:00:00\" is not a local time in the form \
             YYYY-MM-DD HH:MM:SS (no offset, no T): characters out of place"
        );
        assert!(serde_json::from_str::<LocalPunchTime>("1682845200").is_err());
    }

    #[test]
    fn fractions_of_a_second_are_dropped() {
        let precise = NaiveDate::from_ymd_opt(2023, 4, 30)
            .unwrap()
            .and_hms_milli_opt(9, 0, 0, 999)
            .unwrap();
        let time = LocalPunchTime::new(precise);
        assert_eq!(time.to_string(), "2023-04-30 09:00:00");
        assert_eq!(time, LocalPunchTime::parse("2023-04-30 09:00:00").unwrap());
    }

    #[test]
    fn from_parts_refuses_impossible_times() {
        let date = NaiveDate::from_ymd_opt(2023, 4, 30).unwrap();
        assert_eq!(
            LocalPunchTime::from_parts(date, 17, 5, 0)
                .unwrap()
                .to_string(),
            "2023-04-30 17:05:00"
        );
        assert_eq!(LocalPunchTime::from_parts(date, 24, 0, 0), None);
        assert_eq!(LocalPunchTime::from_parts(date, 9, 0, 60), None);
    }

    #[test]
    fn times_order_chronologically() {
        let mut times: Vec<LocalPunchTime> = [
            "2023-05-01 00:00:00",
            "2023-04-30 17:00:00",
            "2023-04-30 09:00:00",
        ]
        .iter()
        .map(|t| t.parse().unwrap())
        .collect();
        times.sort();
        let texts: Vec<String> = times.iter().map(ToString::to_string).collect();
        assert_eq!(
            texts,
            [
                "2023-04-30 09:00:00",
                "2023-04-30 17:00:00",
                "2023-05-01 00:00:00"
            ]
        );
    }
}
