//! Reading one cell's value: dates, times, weekdays and punch states as clocks and Excel write them.

use chrono::{NaiveDate, NaiveTime, Weekday};
use domain::PunchType;
use serde::{Deserialize, Serialize};

use crate::arabic::comparison_key;

/// How a slashed date like 05/11/2026 is read. Decided once per file (see `FileFacts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DateOrder {
    /// DD/MM/YYYY, the Gulf default.
    #[serde(rename = "dmy")]
    DayFirst,
    /// MM/DD/YYYY.
    #[serde(rename = "mdy")]
    MonthFirst,
}

impl DateOrder {
    pub const fn as_str(self) -> &'static str {
        match self {
            DateOrder::DayFirst => "dmy",
            DateOrder::MonthFirst => "mdy",
        }
    }

    pub(crate) const fn describe(self) -> &'static str {
        match self {
            DateOrder::DayFirst => "day-first (DD/MM/YYYY)",
            DateOrder::MonthFirst => "month-first (MM/DD/YYYY)",
        }
    }
}

impl std::fmt::Display for DateOrder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The upload's `date_order` parameter was neither `dmy` nor `mdy`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("date order {0:?} is neither \"dmy\" nor \"mdy\"")]
pub struct DateOrderError(pub String);

impl std::str::FromStr for DateOrder {
    type Err = DateOrderError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "dmy" => Ok(DateOrder::DayFirst),
            "mdy" => Ok(DateOrder::MonthFirst),
            _ => Err(DateOrderError(s.to_owned())),
        }
    }
}

/// A date cell before the file's date order is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DateShape {
    /// Only one reading exists (year first, dashes or dots with the year last, a month name).
    Known(NaiveDate),
    /// `a/b/yyyy`: day-first or month-first, depending on the file.
    Slashed { first: u32, second: u32, year: i32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DateProblem {
    /// Not in any accepted form.
    NotADate,
    /// In an accepted form but no such day (2026-13-45, 31/02/2026).
    NoSuchDate,
}

impl DateShape {
    /// The date under the file's order, `None` when that reading does not exist.
    pub(crate) fn resolve(self, order: DateOrder) -> Option<NaiveDate> {
        match self {
            DateShape::Known(date) => Some(date),
            DateShape::Slashed {
                first,
                second,
                year,
            } => match order {
                DateOrder::DayFirst => NaiveDate::from_ymd_opt(year, second, first),
                DateOrder::MonthFirst => NaiveDate::from_ymd_opt(year, first, second),
            },
        }
    }
}

pub(crate) const DATE_FORMATS: &str =
    "YYYY-MM-DD, DD/MM/YYYY, MM/DD/YYYY, DD-MM-YYYY, DD-Mon-YYYY or YYYY/MM/DD";

fn small_number(part: &str) -> Option<u32> {
    if (1..=2).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit()) {
        part.parse().ok()
    } else {
        None
    }
}

fn year(part: &str) -> Option<i32> {
    if part.len() == 4 && part.bytes().all(|b| b.is_ascii_digit()) {
        part.parse().ok()
    } else {
        None
    }
}

fn month_name(part: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let lower = part.to_ascii_lowercase();
    if lower == "sept" {
        return Some(9);
    }
    MONTHS
        .iter()
        .position(|m| lower.len() >= 3 && (lower == m[..3] || lower == *m))
        .map(|i| i as u32 + 1)
}

/// Reads a date cell in any of the accepted forms; days and months may have one or two digits.
pub(crate) fn date_shape(text: &str) -> Result<DateShape, DateProblem> {
    let text = text.trim();
    let Some(sep) = text.chars().find(|c| !c.is_ascii_alphanumeric()) else {
        return Err(DateProblem::NotADate);
    };
    if !matches!(sep, '-' | '/' | '.' | ' ') {
        return Err(DateProblem::NotADate);
    }
    let parts: Vec<&str> = text.split(sep).collect();
    let [a, b, c] = parts[..] else {
        return Err(DateProblem::NotADate);
    };
    let known = |y: i32, m: u32, d: u32| {
        NaiveDate::from_ymd_opt(y, m, d)
            .map(DateShape::Known)
            .ok_or(DateProblem::NoSuchDate)
    };
    if let Some(y) = year(a) {
        if sep == ' ' {
            return Err(DateProblem::NotADate);
        }
        return match (small_number(b), small_number(c)) {
            (Some(m), Some(d)) => known(y, m, d),
            _ => Err(DateProblem::NotADate),
        };
    }
    let (Some(y), Some(first)) = (year(c), small_number(a)) else {
        return Err(DateProblem::NotADate);
    };
    if let Some(m) = month_name(b) {
        return known(y, m, first);
    }
    let Some(second) = small_number(b) else {
        return Err(DateProblem::NotADate);
    };
    match sep {
        '/' => Ok(DateShape::Slashed {
            first,
            second,
            year: y,
        }),
        '-' | '.' => known(y, second, first),
        _ => Err(DateProblem::NotADate),
    }
}

/// Empty, `-` and `--` are how clocks write "no punch".
pub(crate) fn is_no_punch(text: &str) -> bool {
    matches!(text.trim(), "" | "-" | "--")
}

/// Reads a time of day: `HH:MM`, `HH:MM:SS`, `H:MM`, or 12-hour with AM/PM.
pub(crate) fn parse_time(text: &str) -> Option<NaiveTime> {
    let text = text.trim();
    let lower = text.to_lowercase();
    let (clock, meridiem) = split_meridiem(&lower);
    let clock = clock.trim_end();
    let mut parts = clock.split(':');
    let hour_text = parts.next()?;
    let minute_text = parts.next()?;
    let second_text = parts.next();
    if parts.next().is_some() {
        return None;
    }
    let hour = small_number(hour_text)?;
    let two_digits = |s: &str| -> Option<u32> {
        if s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    let minute = two_digits(minute_text)?;
    let second = match second_text {
        Some(s) => two_digits(s)?,
        None => 0,
    };
    let hour = match meridiem {
        None => hour,
        Some(pm) => {
            if !(1..=12).contains(&hour) {
                return None;
            }
            match (hour, pm) {
                (12, false) => 0,
                (12, true) => 12,
                (h, false) => h,
                (h, true) => h + 12,
            }
        }
    };
    NaiveTime::from_hms_opt(hour, minute, second)
}

/// Splits off an AM/PM marker: `Some(true)` for PM. Arabic Excel writes ص and م.
fn split_meridiem(lower: &str) -> (&str, Option<bool>) {
    const MARKERS: [(&str, bool); 6] = [
        ("a.m.", false),
        ("p.m.", true),
        ("am", false),
        ("pm", true),
        ("ص", false),
        ("م", true),
    ];
    for (marker, pm) in MARKERS {
        if let Some(rest) = lower.strip_suffix(marker) {
            return (rest, Some(pm));
        }
    }
    (lower, None)
}

/// Splits a date-time cell ("2026-11-05 07:58:12", "05/11/2026 7:58 AM", "2026-11-05T07:58:12")
/// into its date and time parts. A cell with no date part gives `None` as the date.
pub(crate) fn split_date_time(text: &str) -> (Option<&str>, &str) {
    let text = text.trim();
    if date_shape(text).is_ok() {
        return (Some(text), "");
    }
    if let Some((date, time)) = text.split_once(char::is_whitespace) {
        if date_shape(date).is_ok() {
            return (Some(date), time.trim());
        }
    }
    if let Some((date, time)) = text.split_once('T') {
        if date_shape(date).is_ok() {
            return (Some(date), time.trim());
        }
    }
    (None, text)
}

/// English (full or abbreviated) and Arabic day names, Arabic spelt with or without hamza or
/// the article.
pub(crate) fn parse_weekday(text: &str) -> Option<Weekday> {
    let key = comparison_key(text);
    // Arabic names as `comparison_key` spells them (الأحد is "الاحد", الجمعة "الجمعه").
    let table: [(Weekday, &[&str]); 7] = [
        (Weekday::Mon, &["monday", "mon", "الاثنين", "اثنين"]),
        (
            Weekday::Tue,
            &["tuesday", "tue", "tues", "الثلاثاء", "ثلاثاء"],
        ),
        (Weekday::Wed, &["wednesday", "wed", "الاربعاء", "اربعاء"]),
        (
            Weekday::Thu,
            &["thursday", "thu", "thur", "thurs", "الخميس", "خميس"],
        ),
        (Weekday::Fri, &["friday", "fri", "الجمعه", "جمعه"]),
        (Weekday::Sat, &["saturday", "sat", "السبت", "سبت"]),
        (Weekday::Sun, &["sunday", "sun", "الاحد", "احد"]),
    ];
    table
        .iter()
        .find(|(_, names)| names.contains(&key.as_str()))
        .map(|(day, _)| *day)
}

/// Punch states as BioTime, ZKTime and Att2000 write them, in words or as their numeric codes.
pub(crate) fn parse_punch_state(text: &str) -> Option<PunchType> {
    let key: String = text
        .trim()
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect();
    match key.as_str() {
        "checkin" | "breakin" | "overtimein" | "otin" | "c/in" | "i" | "0" | "3" | "4" => {
            Some(PunchType::CheckIn)
        }
        "checkout" | "breakout" | "overtimeout" | "otout" | "c/out" | "o" | "1" | "2" | "5" => {
            Some(PunchType::CheckOut)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn unambiguous_date_forms() {
        let cases = [
            ("2026-11-05", ymd(2026, 11, 5)),
            ("2026-1-5", ymd(2026, 1, 5)),
            (" 2026-11-05 ", ymd(2026, 11, 5)),
            ("2026/11/05", ymd(2026, 11, 5)),
            ("2026/1/5", ymd(2026, 1, 5)),
            ("05-11-2026", ymd(2026, 11, 5)),
            ("5-1-2026", ymd(2026, 1, 5)),
            ("13-11-2026", ymd(2026, 11, 13)),
            ("05.11.2026", ymd(2026, 11, 5)),
            ("05-Nov-2026", ymd(2026, 11, 5)),
            ("5-nov-2026", ymd(2026, 11, 5)),
            ("5-NOV-2026", ymd(2026, 11, 5)),
            ("5 Nov 2026", ymd(2026, 11, 5)),
            ("5-November-2026", ymd(2026, 11, 5)),
            ("30-Sept-2026", ymd(2026, 9, 30)),
            ("29-Feb-2028", ymd(2028, 2, 29)),
        ];
        for (text, expected) in cases {
            assert_eq!(date_shape(text), Ok(DateShape::Known(expected)), "{text:?}");
        }
    }

    #[test]
    fn slashed_dates_wait_for_the_file_order() {
        let cases = [
            ("05/11/2026", 5, 11, 2026),
            ("5/11/2026", 5, 11, 2026),
            ("11/5/2026", 11, 5, 2026),
            ("13/11/2026", 13, 11, 2026),
            ("11/13/2026", 11, 13, 2026),
        ];
        for (text, first, second, year) in cases {
            assert_eq!(
                date_shape(text),
                Ok(DateShape::Slashed {
                    first,
                    second,
                    year
                }),
                "{text:?}"
            );
        }
        let shape = date_shape("05/11/2026").unwrap();
        assert_eq!(shape.resolve(DateOrder::DayFirst), Some(ymd(2026, 11, 5)));
        assert_eq!(shape.resolve(DateOrder::MonthFirst), Some(ymd(2026, 5, 11)));
        let shape = date_shape("13/11/2026").unwrap();
        assert_eq!(shape.resolve(DateOrder::DayFirst), Some(ymd(2026, 11, 13)));
        assert_eq!(shape.resolve(DateOrder::MonthFirst), None);
    }

    #[test]
    fn dates_that_are_refused() {
        let cases = [
            ("", DateProblem::NotADate),
            ("today", DateProblem::NotADate),
            ("20261105", DateProblem::NotADate),
            ("2026-11", DateProblem::NotADate),
            ("2026-11-05-01", DateProblem::NotADate),
            ("26-11-05", DateProblem::NotADate),
            ("05/11/26", DateProblem::NotADate),
            ("2026-011-05", DateProblem::NotADate),
            ("2026 11 05", DateProblem::NotADate),
            ("05-Foo-2026", DateProblem::NotADate),
            ("2026-11/05", DateProblem::NotADate),
            ("2026-13-45", DateProblem::NoSuchDate),
            ("2026-02-29", DateProblem::NoSuchDate),
            ("31-04-2026", DateProblem::NoSuchDate),
            ("31-Feb-2026", DateProblem::NoSuchDate),
        ];
        for (text, problem) in cases {
            assert_eq!(date_shape(text), Err(problem), "{text:?}");
        }
    }

    #[test]
    fn times() {
        let t = |h, m, s| Some(NaiveTime::from_hms_opt(h, m, s).unwrap());
        let cases = [
            ("08:05", t(8, 5, 0)),
            ("8:05", t(8, 5, 0)),
            ("23:59", t(23, 59, 0)),
            ("00:00", t(0, 0, 0)),
            ("08:05:12", t(8, 5, 12)),
            (" 17:02:40 ", t(17, 2, 40)),
            ("8:05 AM", t(8, 5, 0)),
            ("8:05 am", t(8, 5, 0)),
            ("8:05AM", t(8, 5, 0)),
            ("08:05:30 PM", t(20, 5, 30)),
            ("12:00 AM", t(0, 0, 0)),
            ("12:30 PM", t(12, 30, 0)),
            ("11:59 p.m.", t(23, 59, 0)),
            ("7:15 ص", t(7, 15, 0)),
            ("7:15 م", t(19, 15, 0)),
            ("25:99", None),
            ("24:00", None),
            ("12:60", None),
            ("12:00:60", None),
            ("8:5", None),
            ("805", None),
            ("08:05:12:01", None),
            ("13:00 PM", None),
            ("0:30 AM", None),
            ("noon", None),
            ("08-05", None),
            ("--", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_time(text), expected, "{text:?}");
        }
    }

    #[test]
    fn no_punch_markers() {
        for text in ["", " ", "-", "--", " -- "] {
            assert!(is_no_punch(text), "{text:?}");
        }
        for text in ["---", "0", "n/a", "08:00"] {
            assert!(!is_no_punch(text), "{text:?}");
        }
    }

    #[test]
    fn punch_states() {
        let ins = [
            "Check In",
            "check in",
            "CHECK-IN",
            "CheckIn",
            "Break In",
            "Overtime In",
            "OT In",
            "OT-In",
            "C/In",
            "c/in",
            "I",
            "i",
            "0",
            "3",
            "4",
        ];
        let outs = [
            "Check Out",
            "check-out",
            "Break Out",
            "Overtime Out",
            "OT Out",
            "C/Out",
            "O",
            "o",
            "1",
            "2",
            "5",
        ];
        for text in ins {
            assert_eq!(
                parse_punch_state(text),
                Some(PunchType::CheckIn),
                "{text:?}"
            );
        }
        for text in outs {
            assert_eq!(
                parse_punch_state(text),
                Some(PunchType::CheckOut),
                "{text:?}"
            );
        }
        for text in ["", "6", "In", "Out", "Checked", "10"] {
            assert_eq!(parse_punch_state(text), None, "{text:?}");
        }
    }

    #[test]
    fn weekdays() {
        let cases = [
            ("Sunday", Some(Weekday::Sun)),
            ("sun", Some(Weekday::Sun)),
            ("THU", Some(Weekday::Thu)),
            ("Thurs.", Some(Weekday::Thu)),
            ("الجمعة", Some(Weekday::Fri)),
            ("الجمعه", Some(Weekday::Fri)),
            ("الاحد", Some(Weekday::Sun)),
            ("الأحد", Some(Weekday::Sun)),
            ("الاثنين", Some(Weekday::Mon)),
            ("الإثنين", Some(Weekday::Mon)),
            ("الثلاثاء", Some(Weekday::Tue)),
            ("الأربعاء", Some(Weekday::Wed)),
            ("الاربعاء", Some(Weekday::Wed)),
            ("الخميس", Some(Weekday::Thu)),
            (" السبت ", Some(Weekday::Sat)),
            ("الســبت", Some(Weekday::Sat)),
            ("", None),
            ("Funday", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_weekday(text), expected, "{text:?}");
        }
    }

    #[test]
    fn date_time_cells() {
        let cases = [
            ("2026-11-05 07:58:12", (Some("2026-11-05"), "07:58:12")),
            ("05/11/2026 7:58 AM", (Some("05/11/2026"), "7:58 AM")),
            ("2026-11-05T07:58:12", (Some("2026-11-05"), "07:58:12")),
            ("07:58", (None, "07:58")),
            ("7:58 PM", (None, "7:58 PM")),
            ("2026-11-05", (Some("2026-11-05"), "")),
            ("5 Nov 2026", (Some("5 Nov 2026"), "")),
        ];
        for (text, expected) in cases {
            assert_eq!(split_date_time(text), expected, "{text:?}");
        }
    }

    #[test]
    fn date_order_option() {
        assert_eq!("dmy".parse::<DateOrder>(), Ok(DateOrder::DayFirst));
        assert_eq!("MDY".parse::<DateOrder>(), Ok(DateOrder::MonthFirst));
        assert!("ymd".parse::<DateOrder>().is_err());
        assert_eq!(
            serde_json::to_string(&DateOrder::MonthFirst).unwrap(),
            "\"mdy\""
        );
    }
}
