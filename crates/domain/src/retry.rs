//! When a delivery that failed for a transient reason is tried again (`BAYZAT_RETRY_SCHEDULE`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The original design's schedule: five retries, 5 minutes to a day apart.
pub const DEFAULT_RETRY_SCHEDULE: &str = "5m,30m,2h,8h,24h";

/// The waits before each retry, in order. The first send is not a retry: a delivery is tried
/// once, then once more after each delay here, and is `failed` when the last retry fails too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    delays: Vec<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetryScheduleError {
    #[error("retry schedule is empty; expected delays like \"{DEFAULT_RETRY_SCHEDULE}\"")]
    Empty,
    #[error("retry schedule item {position} ({item:?}): {reason}")]
    BadItem {
        /// 1-based, as a person counts them.
        position: usize,
        item: String,
        reason: &'static str,
    },
}

const UNITS: [(&str, u64); 5] = [
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];

fn parse_delay(item: &str) -> Result<Duration, &'static str> {
    if item.is_empty() {
        return Err("empty delay");
    }
    let digits_end = item
        .find(|c: char| !c.is_ascii_digit())
        .ok_or("missing unit (use ms, s, m, h or d)")?;
    if digits_end == 0 {
        return Err("expected a whole number followed by a unit, e.g. 30m");
    }
    let (number, unit) = item.split_at(digits_end);
    let millis_per_unit = UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|(_, millis)| *millis)
        .ok_or("unknown unit (use ms, s, m, h or d)")?;
    let count: u64 = number.parse().map_err(|_| "number too large")?;
    let millis = count
        .checked_mul(millis_per_unit)
        .ok_or("delay too large")?;
    Ok(Duration::from_millis(millis))
}

impl RetrySchedule {
    pub fn new(delays: Vec<Duration>) -> Self {
        Self { delays }
    }

    /// Items are separated by commas, each a whole number and a unit (`ms`, `s`, `m`, `h`, `d`);
    /// spaces around items are ignored.
    pub fn parse(text: &str) -> Result<Self, RetryScheduleError> {
        if text.trim().is_empty() {
            return Err(RetryScheduleError::Empty);
        }
        text.split(',')
            .enumerate()
            .map(|(i, item)| {
                let item = item.trim();
                parse_delay(item).map_err(|reason| RetryScheduleError::BadItem {
                    position: i + 1,
                    item: item.to_owned(),
                    reason,
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self::new)
    }

    pub fn delays(&self) -> &[Duration] {
        &self.delays
    }

    /// How many retries follow the first send.
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.delays.len()).unwrap_or(u32::MAX)
    }

    /// The wait before retry `n` (1-based: retry 1 follows the first send's failure). `None`
    /// when there is no such retry, i.e. the delivery has failed for good after retry `n - 1`.
    pub fn delay_before_retry(&self, n: u32) -> Option<Duration> {
        let index = usize::try_from(n.checked_sub(1)?).ok()?;
        self.delays.get(index).copied()
    }

    /// Fits the schedule to `BAYZAT_MAX_RETRY_ATTEMPTS` when the two settings disagree: extra
    /// retries wait as long as the last listed delay, missing ones are dropped.
    pub fn with_max_attempts(&self, max_attempts: u32) -> Self {
        let wanted = usize::try_from(max_attempts).unwrap_or(usize::MAX);
        let mut delays: Vec<Duration> = self.delays.iter().copied().take(wanted).collect();
        if let Some(&last) = self.delays.last() {
            delays.resize(wanted, last);
        }
        Self::new(delays)
    }
}

impl Default for RetrySchedule {
    fn default() -> Self {
        Self::parse(DEFAULT_RETRY_SCHEDULE).expect("the default schedule parses")
    }
}

impl FromStr for RetrySchedule {
    type Err = RetryScheduleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Each delay in the largest unit that divides it exactly, days excepted (a day reads better as
/// `24h`), so the default prints as it is written.
impl fmt::Display for RetrySchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, delay) in self.delays.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let millis = delay.as_millis();
            if millis == 0 {
                f.write_str("0s")?;
                continue;
            }
            let (unit, size) = UNITS[..4]
                .iter()
                .rev()
                .find(|(_, size)| millis % u128::from(*size) == 0)
                .map(|(unit, size)| (*unit, u128::from(*size)))
                .unwrap_or(("ms", 1));
            write!(f, "{}{unit}", millis / size)?;
        }
        Ok(())
    }
}

impl Serialize for RetrySchedule {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RetrySchedule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1;
    const S: u64 = 1_000;
    const M: u64 = 60 * S;
    const H: u64 = 60 * M;
    const D: u64 = 24 * H;

    fn millis(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|&v| Duration::from_millis(v)).collect()
    }

    #[test]
    fn parses_schedules() {
        let cases: &[(&str, &[u64])] = &[
            ("5m,30m,2h,8h,24h", &[5 * M, 30 * M, 2 * H, 8 * H, 24 * H]),
            ("200ms,1s", &[200 * MS, S]),
            ("1d", &[D]),
            ("0s", &[0]),
            (" 5m , 30m ", &[5 * M, 30 * M]),
            ("90s,90m", &[90 * S, 90 * M]),
            ("1ms,1s,1m,1h,1d", &[MS, S, M, H, D]),
            ("007s", &[7 * S]),
        ];
        for (text, expected) in cases {
            let schedule = RetrySchedule::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(schedule.delays(), millis(expected), "{text}");
        }
    }

    #[test]
    fn refuses_bad_schedules_naming_the_item() {
        let cases: &[(&str, usize, &str, &str)] = &[
            ("5m,,2h", 2, "", "empty delay"),
            ("5m,30m,", 3, "", "empty delay"),
            ("5", 1, "5", "missing unit (use ms, s, m, h or d)"),
            ("5m,2x", 2, "2x", "unknown unit (use ms, s, m, h or d)"),
            ("5M", 1, "5M", "unknown unit (use ms, s, m, h or d)"),
            ("5 m", 1, "5 m", "unknown unit (use ms, s, m, h or d)"),
            ("1.5h", 1, "1.5h", "unknown unit (use ms, s, m, h or d)"),
            (
                "m",
                1,
                "m",
                "expected a whole number followed by a unit, e.g. 30m",
            ),
            (
                "-5m",
                1,
                "-5m",
                "expected a whole number followed by a unit, e.g. 30m",
            ),
            (
                "5m,h5",
                2,
                "h5",
                "expected a whole number followed by a unit, e.g. 30m",
            ),
            (
                "99999999999999999999s",
                1,
                "99999999999999999999s",
                "number too large",
            ),
            (
                "999999999999999999d",
                1,
                "999999999999999999d",
                "delay too large",
            ),
        ];
        for &(text, position, item, reason) in cases {
            assert_eq!(
                RetrySchedule::parse(text),
                Err(RetryScheduleError::BadItem {
                    position,
                    item: item.to_owned(),
                    reason
                }),
                "{text:?}"
            );
        }
        for empty in ["", "  "] {
            assert_eq!(RetrySchedule::parse(empty), Err(RetryScheduleError::Empty));
        }
        assert_eq!(
            RetrySchedule::parse("5m,2x").unwrap_err().to_string(),
            "retry schedule item 2 (\"2x\"): unknown unit (use ms, s, m, h or d)"
        );
    }

    #[test]
    fn default_is_the_original_schedule() {
        let schedule = RetrySchedule::default();
        assert_eq!(schedule, RetrySchedule::parse("5m,30m,2h,8h,24h").unwrap());
        assert_eq!(schedule.max_attempts(), 5);
        assert_eq!(schedule.to_string(), DEFAULT_RETRY_SCHEDULE);
    }

    #[test]
    fn delay_before_each_retry() {
        let schedule = RetrySchedule::default();
        let cases: &[(u32, Option<u64>)] = &[
            (0, None),
            (1, Some(5 * M)),
            (2, Some(30 * M)),
            (3, Some(2 * H)),
            (4, Some(8 * H)),
            (5, Some(24 * H)),
            (6, None),
            (u32::MAX, None),
        ];
        for &(n, expected) in cases {
            assert_eq!(
                schedule.delay_before_retry(n),
                expected.map(Duration::from_millis),
                "retry {n}"
            );
        }
    }

    #[test]
    fn fits_to_max_attempts() {
        let schedule = RetrySchedule::parse("1s,2s,3s").unwrap();
        let cases: &[(u32, &[u64])] = &[
            (0, &[]),
            (2, &[S, 2 * S]),
            (3, &[S, 2 * S, 3 * S]),
            (5, &[S, 2 * S, 3 * S, 3 * S, 3 * S]),
        ];
        for &(max, expected) in cases {
            let fitted = schedule.with_max_attempts(max);
            assert_eq!(fitted.delays(), millis(expected), "{max}");
            assert_eq!(fitted.max_attempts(), max);
        }
        assert_eq!(
            RetrySchedule::new(vec![])
                .with_max_attempts(3)
                .max_attempts(),
            0,
            "nothing to repeat"
        );
    }

    #[test]
    fn prints_in_the_largest_exact_unit() {
        let cases = [
            ("200ms,1s", "200ms,1s"),
            ("1500ms", "1500ms"),
            ("60s,120m", "1m,2h"),
            ("1d,2d", "24h,48h"),
            ("0s", "0s"),
        ];
        for (text, printed) in cases {
            let schedule = RetrySchedule::parse(text).unwrap();
            assert_eq!(schedule.to_string(), printed, "{text}");
            assert_eq!(RetrySchedule::parse(printed).unwrap(), schedule);
        }
    }

    #[test]
    fn serde_as_text() {
        let schedule = RetrySchedule::parse("200ms,1s").unwrap();
        assert_eq!(serde_json::to_string(&schedule).unwrap(), "\"200ms,1s\"");
        assert_eq!(
            serde_json::from_str::<RetrySchedule>("\"5m,30m\"").unwrap(),
            RetrySchedule::parse("5m,30m").unwrap()
        );
        assert!(serde_json::from_str::<RetrySchedule>("\"5q\"").is_err());
    }
}
