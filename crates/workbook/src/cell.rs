//! A cell's value as the text a report reader reads: what the spreadsheet shows, in the shapes
//! the text reports use (`1001`, `2026-11-05`, `08:05:00`, `2026-11-05 08:05:00`).

use calamine::{Data, DataRef, ExcelDateTime};
use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

const SECONDS_PER_DAY: i64 = 86_400;

/// The largest magnitude at which every whole f64 is exact and fits an i64 printed as digits.
const MAX_WHOLE: f64 = 9_007_199_254_740_992.0; // 2^53

/// Which day serial 0 is: the workbook's date system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DateSystem {
    /// Windows Excel: serial 1 is 1900-01-01, and serial 60 is the 1900-02-29 that never was
    /// (kept by Excel for Lotus 1-2-3).
    Excel1900,
    /// Classic Mac Excel: serial 0 is 1904-01-01.
    Excel1904,
}

impl DateSystem {
    pub(crate) fn from_1904_flag(is_1904: bool) -> Self {
        if is_1904 {
            DateSystem::Excel1904
        } else {
            DateSystem::Excel1900
        }
    }
}

pub(crate) fn data_text(value: &Data, system: DateSystem) -> String {
    match value {
        Data::Int(i) => i.to_string(),
        Data::Float(f) => number_text(*f),
        Data::String(s) => s.clone(),
        Data::Bool(b) => bool_text(*b),
        Data::DateTime(dt) => date_time_text(dt, system),
        Data::DateTimeIso(s) => iso_date_time_text(s),
        Data::DurationIso(s) => s.clone(),
        Data::Error(_) | Data::Empty => String::new(),
    }
}

pub(crate) fn data_ref_text(value: DataRef<'_>, system: DateSystem) -> String {
    match value {
        DataRef::Int(i) => i.to_string(),
        DataRef::Float(f) => number_text(f),
        DataRef::String(s) => s,
        DataRef::SharedString(s) => s.to_owned(),
        DataRef::Bool(b) => bool_text(b),
        DataRef::DateTime(dt) => date_time_text(&dt, system),
        DataRef::DateTimeIso(s) => iso_date_time_text(&s),
        DataRef::DurationIso(s) => s,
        DataRef::Error(_) | DataRef::Empty => String::new(),
    }
}

fn bool_text(b: bool) -> String {
    if b { "TRUE" } else { "FALSE" }.to_owned()
}

/// A whole number as its digits (an id typed into Excel is stored as 1001.0 and must read
/// "1001"); any other number as the shortest decimal that reads back as the same f64.
pub(crate) fn number_text(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < MAX_WHOLE {
        // Exact: |f| < 2^53 and whole, so the cast loses nothing. `as` also turns -0.0 into 0.
        (f as i64).to_string()
    } else {
        // Rust's Display for f64 is the shortest round-trip form, never in exponent notation.
        f.to_string()
    }
}

fn date_time_text(dt: &ExcelDateTime, system: DateSystem) -> String {
    if dt.is_duration() {
        duration_text(dt.as_f64())
    } else {
        serial_text(dt.as_f64(), system)
    }
}

/// A duration cell (`[h]:mm:ss`) as hours, minutes and seconds, hours past 23 kept: it is a
/// length of time, not a time of day. Below one day it reads like a time cell.
fn duration_text(days: f64) -> String {
    if !days.is_finite() {
        return number_text(days);
    }
    let total = (days * SECONDS_PER_DAY as f64).round() as i64;
    let sign = if total < 0 { "-" } else { "" };
    let total = total.abs();
    format!(
        "{sign}{:02}:{:02}:{:02}",
        total / 3600,
        (total / 60) % 60,
        total % 60
    )
}

/// An Excel serial date-time as the date and time it holds, rounded to the nearest second:
/// a date alone when there is no time part, a time alone when the serial is below one day.
pub(crate) fn serial_text(serial: f64, system: DateSystem) -> String {
    // Excel shows no date before its epoch (negative serials are "####"), nor past 9999.
    if !serial.is_finite() || !(0.0..2_958_466.0).contains(&serial) {
        return number_text(serial);
    }
    let total = (serial * SECONDS_PER_DAY as f64).round() as i64;
    if serial < 1.0 {
        // A time of day with no date to carry into: 23:59:59.9 stays on its day.
        let seconds = total.min(SECONDS_PER_DAY - 1);
        return time_text(seconds);
    }
    let days = total.div_euclid(SECONDS_PER_DAY);
    let seconds = total.rem_euclid(SECONDS_PER_DAY);
    let Some(date) = serial_day(days, system) else {
        return number_text(serial);
    };
    if seconds == 0 {
        date.format("%Y-%m-%d").to_string()
    } else {
        format!("{} {}", date.format("%Y-%m-%d"), time_text(seconds))
    }
}

fn time_text(seconds: i64) -> String {
    format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        (seconds / 60) % 60,
        seconds % 60
    )
}

/// The calendar day of a whole serial day number.
fn serial_day(days: i64, system: DateSystem) -> Option<NaiveDate> {
    match system {
        DateSystem::Excel1904 => {
            NaiveDate::from_ymd_opt(1904, 1, 1)?.checked_add_signed(Duration::days(days))
        }
        DateSystem::Excel1900 => {
            if days == 60 {
                // 1900-02-29 does not exist (Excel shows it anyway); the day before it does.
                return NaiveDate::from_ymd_opt(1900, 2, 28);
            }
            // Serial 1 is 1900-01-01; after the phantom 29 February every serial is one ahead.
            let base = if days < 60 {
                NaiveDate::from_ymd_opt(1899, 12, 31)?
            } else {
                NaiveDate::from_ymd_opt(1899, 12, 30)?
            };
            base.checked_add_signed(Duration::days(days))
        }
    }
}

/// An ISO 8601 date, time or date-time cell (`t="d"`) in the same shapes as a serial one:
/// `T` becomes a space, a midnight date-time is its date, fractions of a second are rounded.
/// Anything that does not parse is kept as it is.
pub(crate) fn iso_date_time_text(s: &str) -> String {
    let trimmed = s.trim();
    // A trailing Z or offset says nothing a report's wall-clock time can use.
    let local = trimmed.strip_suffix('Z').unwrap_or(trimmed);
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(local, format) {
            let dt = round_to_second(dt);
            return if dt.time() == NaiveTime::MIN {
                dt.format("%Y-%m-%d").to_string()
            } else {
                dt.format("%Y-%m-%d %H:%M:%S").to_string()
            };
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(local, "%Y-%m-%d") {
        return d.format("%Y-%m-%d").to_string();
    }
    for format in ["%H:%M:%S%.f", "%H:%M"] {
        if let Ok(t) = NaiveTime::parse_from_str(local, format) {
            let seconds =
                i64::from(t.num_seconds_from_midnight()) + i64::from(t.nanosecond() >= 500_000_000);
            return time_text(seconds.min(SECONDS_PER_DAY - 1));
        }
    }
    s.to_owned()
}

fn round_to_second(dt: NaiveDateTime) -> NaiveDateTime {
    let whole = dt.with_nanosecond(0).unwrap_or(dt);
    if dt.nanosecond() >= 500_000_000 {
        whole + Duration::seconds(1)
    } else {
        whole
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::ExcelDateTimeType;

    fn dt(serial: f64, is_1904: bool) -> Data {
        Data::DateTime(ExcelDateTime::new(
            serial,
            ExcelDateTimeType::DateTime,
            is_1904,
        ))
    }

    const W1900: DateSystem = DateSystem::Excel1900;
    const W1904: DateSystem = DateSystem::Excel1904;

    #[test]
    fn whole_numbers_read_as_their_digits() {
        for (value, text) in [
            (1001.0, "1001"),
            (42.0, "42"),
            (0.0, "0"),
            (-0.0, "0"),
            (-7.0, "-7"),
            (123_456_789_012.0, "123456789012"),
        ] {
            assert_eq!(data_text(&Data::Float(value), W1900), text, "{value}");
        }
        assert_eq!(data_text(&Data::Int(1001), W1900), "1001");
    }

    #[test]
    fn other_numbers_read_as_the_shortest_decimal_that_round_trips() {
        for (value, text) in [
            (0.1, "0.1"),
            (8.5, "8.5"),
            (1.0 / 3.0, "0.3333333333333333"),
            (-2.25, "-2.25"),
            (1e20, "100000000000000000000"),
        ] {
            assert_eq!(data_text(&Data::Float(value), W1900), text, "{value}");
        }
    }

    #[test]
    fn text_booleans_errors_and_empty_cells() {
        assert_eq!(data_text(&Data::String(" 08:05 ".into()), W1900), " 08:05 ");
        assert_eq!(data_text(&Data::Bool(true), W1900), "TRUE");
        assert_eq!(data_text(&Data::Bool(false), W1900), "FALSE");
        assert_eq!(
            data_text(&Data::Error(calamine::CellErrorType::Div0), W1900),
            ""
        );
        assert_eq!(data_text(&Data::Empty, W1900), "");
    }

    #[test]
    fn date_cells_read_as_dates_in_the_1900_system() {
        // 2026-11-05 is serial 46331 in the 1900 system.
        assert_eq!(data_text(&dt(46331.0, false), W1900), "2026-11-05");
        assert_eq!(data_text(&dt(1.0, false), W1900), "1900-01-01");
        assert_eq!(data_text(&dt(59.0, false), W1900), "1900-02-28");
        assert_eq!(data_text(&dt(61.0, false), W1900), "1900-03-01");
        assert_eq!(data_text(&dt(36526.0, false), W1900), "2000-01-01");
    }

    #[test]
    fn date_cells_read_as_dates_in_the_1904_system() {
        // The same day is 1462 days fewer in the 1904 system.
        assert_eq!(data_text(&dt(46331.0 - 1462.0, true), W1904), "2026-11-05");
        assert_eq!(data_text(&dt(1.0, true), W1904), "1904-01-02");
        assert_eq!(
            data_text(&dt(44869.0 + 0.5, true), W1904),
            "2026-11-05 12:00:00"
        );
    }

    #[test]
    fn time_cells_read_as_times_rounded_to_the_second() {
        for (serial, text) in [
            (0.0, "00:00:00"),
            (8.0 / 24.0 + 5.0 / 1440.0, "08:05:00"),
            // 08:05:00.4 rounds down, 08:05:00.6 up.
            ((29100.4) / 86400.0, "08:05:00"),
            ((29100.6) / 86400.0, "08:05:01"),
            (0.5, "12:00:00"),
            // A time just short of midnight stays on its day.
            (0.999_999_9, "23:59:59"),
        ] {
            assert_eq!(data_text(&dt(serial, false), W1900), text, "{serial}");
            assert_eq!(data_text(&dt(serial, true), W1904), text, "{serial}");
        }
    }

    #[test]
    fn date_time_cells_round_to_the_second_and_carry_into_the_next_day() {
        let eight_oh_five = 46331.0 + 29100.0 / 86400.0;
        assert_eq!(
            data_text(&dt(eight_oh_five, false), W1900),
            "2026-11-05 08:05:00"
        );
        // A float a hair below 08:05:00 is still 08:05:00.
        assert_eq!(
            data_text(&dt(eight_oh_five - 1e-9, false), W1900),
            "2026-11-05 08:05:00"
        );
        // 23:59:59.9 on the 5th is midnight of the 6th: a date alone.
        assert_eq!(
            data_text(&dt(46331.0 + 86399.9 / 86400.0, false), W1900),
            "2026-11-06"
        );
        assert_eq!(
            data_text(&dt(46331.0 + 86399.4 / 86400.0, false), W1900),
            "2026-11-05 23:59:59"
        );
    }

    #[test]
    fn out_of_range_serials_read_as_numbers() {
        assert_eq!(data_text(&dt(-1.0, false), W1900), "-1");
        assert_eq!(data_text(&dt(3_000_000.0, false), W1900), "3000000");
    }

    #[test]
    fn durations_keep_hours_past_a_day() {
        let d = |v| Data::DateTime(ExcelDateTime::new(v, ExcelDateTimeType::TimeDelta, false));
        assert_eq!(data_text(&d(8.5 / 24.0), W1900), "08:30:00");
        assert_eq!(data_text(&d(1.0 + 1.5 / 24.0), W1900), "25:30:00");
    }

    #[test]
    fn iso_cells_take_the_same_shapes() {
        for (iso, text) in [
            ("2026-11-05T08:05:00", "2026-11-05 08:05:00"),
            ("2026-11-05T08:05:00.6", "2026-11-05 08:05:01"),
            ("2026-11-05T23:59:59.7Z", "2026-11-06"),
            ("2026-11-05T00:00:00", "2026-11-05"),
            ("2026-11-05", "2026-11-05"),
            ("08:05:00", "08:05:00"),
            ("08:05", "08:05:00"),
            ("not a date", "not a date"),
        ] {
            assert_eq!(
                data_text(&Data::DateTimeIso(iso.into()), W1900),
                text,
                "{iso}"
            );
        }
    }
}
