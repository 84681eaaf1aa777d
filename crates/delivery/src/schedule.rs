//! When a company's punches may go: the state a new delivery starts in, and the next hourly or
//! daily run in the company's time zone.

use chrono::{DateTime, LocalResult, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use domain::{CompanySyncState, DeliveryState, SyncFrequency};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("time zone {0:?} is not an IANA time zone name")]
    UnknownTimeZone(String),
    #[error("a daily sync needs a daily time (daily_at)")]
    MissingDailyTime,
}

/// Reads a company's time zone (`Asia/Dubai`, `Europe/London`, ...).
pub fn parse_time_zone(name: &str) -> Result<Tz, ScheduleError> {
    name.trim()
        .parse()
        .map_err(|_| ScheduleError::UnknownTimeZone(name.to_owned()))
}

/// The state a newly queued punch starts in. `is_enabled` is the company's Bayzat setting as
/// last heard from config-service, which may be ahead of the stored company sync state;
/// either one saying "off" holds the punch. The rest is [`DeliveryState::on_arrival`].
pub fn arrival_state(
    company: CompanySyncState,
    is_enabled: bool,
    frequency: SyncFrequency,
    urgent: bool,
) -> DeliveryState {
    if !is_enabled {
        return DeliveryState::Held;
    }
    DeliveryState::on_arrival(company, frequency, urgent)
}

/// When a company's scheduled punches are next due, strictly after `now`. `Ok(None)` for a
/// manual company: its punches are due at once.
///
/// - hourly: the next top of the hour on the company's wall clock, which is not the top of a
///   UTC hour in zones like Asia/Kolkata. Every UTC instant that is a local top of the hour
///   counts, so the repeated hour of a DST change runs twice and the skipped one not at all.
/// - daily: the next `daily_at` on the company's wall clock, once per local day. When that
///   time occurs twice (clocks going back) the first one counts; when it does not occur
///   (clocks going forward) the run moves forward by the gap, as a wall clock would show it.
pub fn next_run(
    frequency: SyncFrequency,
    daily_at: Option<NaiveTime>,
    timezone: &str,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, ScheduleError> {
    match frequency {
        SyncFrequency::Manual => Ok(None),
        SyncFrequency::Hourly => Ok(Some(next_top_of_hour(parse_time_zone(timezone)?, now))),
        SyncFrequency::Daily => {
            let daily_at = daily_at.ok_or(ScheduleError::MissingDailyTime)?;
            Ok(Some(next_daily(parse_time_zone(timezone)?, daily_at, now)))
        }
    }
}

fn next_top_of_hour(tz: Tz, now: DateTime<Utc>) -> DateTime<Utc> {
    let local = now.with_timezone(&tz).naive_local();
    let hour = local
        .with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(local);
    // A few hours ahead is always enough: no zone skips more than a couple of hours at once.
    (0..6)
        .filter_map(|k| hour.checked_add_signed(TimeDelta::hours(k)))
        .flat_map(|candidate| all_instants(tz, candidate))
        .filter(|&at| at > now)
        .min()
        .unwrap_or_else(|| now + TimeDelta::hours(1))
}

fn next_daily(tz: Tz, daily_at: NaiveTime, now: DateTime<Utc>) -> DateTime<Utc> {
    let today = now.with_timezone(&tz).date_naive();
    (-1..=2)
        .filter_map(|days| today.checked_add_signed(TimeDelta::days(days)))
        .map(|date| first_instant(tz, date.and_time(daily_at)))
        .filter(|&at| at > now)
        .min()
        .unwrap_or_else(|| now + TimeDelta::days(1))
}

/// Every instant at which the zone's wall clock shows `local`: none in a gap, two in an overlap.
fn all_instants(tz: Tz, local: NaiveDateTime) -> Vec<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(at) => vec![at.to_utc()],
        LocalResult::Ambiguous(first, second) => vec![first.to_utc(), second.to_utc()],
        LocalResult::None => Vec::new(),
    }
}

/// The first instant the wall clock shows `local`, or, when it never does (a gap), `local` read
/// with the offset in force before the gap, which lands as far past the gap's end as `local`
/// was past its start.
fn first_instant(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => at.to_utc(),
        LocalResult::None => {
            let before_gap = local.and_utc() - TimeDelta::days(1);
            let offset = tz.offset_from_utc_datetime(&before_gap.naive_utc());
            let seconds = chrono::Offset::fix(&offset).local_minus_utc();
            local.and_utc() - TimeDelta::seconds(i64::from(seconds))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::at;

    fn time(text: &str) -> NaiveTime {
        NaiveTime::parse_from_str(text, "%H:%M").unwrap()
    }

    fn next_hourly(tz: &str, now: &str) -> DateTime<Utc> {
        next_run(SyncFrequency::Hourly, None, tz, at(now))
            .unwrap()
            .unwrap()
    }

    fn next_daily_at(tz: &str, daily_at: &str, now: &str) -> DateTime<Utc> {
        next_run(SyncFrequency::Daily, Some(time(daily_at)), tz, at(now))
            .unwrap()
            .unwrap()
    }

    #[test]
    fn manual_is_due_at_once() {
        assert_eq!(
            next_run(
                SyncFrequency::Manual,
                None,
                "Asia/Dubai",
                at("2026-05-01T12:00:00Z")
            ),
            Ok(None)
        );
        // Manual needs no schedule, so a broken zone does not stop it.
        assert_eq!(
            next_run(
                SyncFrequency::Manual,
                None,
                "Mars/Olympus",
                at("2026-05-01T12:00:00Z")
            ),
            Ok(None)
        );
    }

    #[test]
    fn hourly() {
        let cases = [
            ("Asia/Dubai", "2026-05-01T01:15:00Z", "2026-05-01T02:00:00Z"),
            (
                "Asia/Dubai",
                "2026-05-01T01:59:59.999Z",
                "2026-05-01T02:00:00Z",
            ),
            // Strictly after: a run at the top of the hour schedules the next one.
            ("Asia/Dubai", "2026-05-01T02:00:00Z", "2026-05-01T03:00:00Z"),
            ("Asia/Dubai", "2026-12-31T23:30:00Z", "2027-01-01T00:00:00Z"),
            // Half-hour offset: the company's top of the hour is :30 in UTC.
            (
                "Asia/Kolkata",
                "2026-05-01T01:15:00Z",
                "2026-05-01T01:30:00Z",
            ),
            (
                "Asia/Kolkata",
                "2026-05-01T01:30:00Z",
                "2026-05-01T02:30:00Z",
            ),
            (
                "Asia/Kathmandu",
                "2026-05-01T01:00:00Z",
                "2026-05-01T01:15:00Z",
            ),
            // Europe/London, 2026-03-29: 01:00 GMT becomes 02:00 BST; local 01:00 never happens.
            (
                "Europe/London",
                "2026-03-29T00:30:00Z",
                "2026-03-29T01:00:00Z",
            ),
            (
                "Europe/London",
                "2026-03-29T01:00:00Z",
                "2026-03-29T02:00:00Z",
            ),
            (
                "Europe/London",
                "2026-03-28T23:59:00Z",
                "2026-03-29T00:00:00Z",
            ),
            // 2026-10-25: 02:00 BST becomes 01:00 GMT; local 01:00 happens twice.
            (
                "Europe/London",
                "2026-10-24T23:30:00Z",
                "2026-10-25T00:00:00Z",
            ),
            (
                "Europe/London",
                "2026-10-25T00:00:00Z",
                "2026-10-25T01:00:00Z",
            ),
            (
                "Europe/London",
                "2026-10-25T00:30:00Z",
                "2026-10-25T01:00:00Z",
            ),
            (
                "Europe/London",
                "2026-10-25T01:00:00Z",
                "2026-10-25T02:00:00Z",
            ),
            ("UTC", "2026-05-01T12:00:00Z", "2026-05-01T13:00:00Z"),
        ];
        for (tz, now, expected) in cases {
            assert_eq!(next_hourly(tz, now), at(expected), "{tz} {now}");
        }
    }

    #[test]
    fn daily() {
        let cases = [
            // Asia/Dubai is UTC+4 all year.
            (
                "Asia/Dubai",
                "06:30",
                "2026-05-01T01:00:00Z",
                "2026-05-01T02:30:00Z",
            ),
            (
                "Asia/Dubai",
                "06:30",
                "2026-05-01T02:29:59Z",
                "2026-05-01T02:30:00Z",
            ),
            (
                "Asia/Dubai",
                "06:30",
                "2026-05-01T02:30:00Z",
                "2026-05-02T02:30:00Z",
            ),
            (
                "Asia/Dubai",
                "06:30",
                "2026-05-01T03:00:00Z",
                "2026-05-02T02:30:00Z",
            ),
            // 01:00 local on 2 May is still 1 May in UTC: the local date counts.
            (
                "Asia/Dubai",
                "02:00",
                "2026-05-01T21:00:00Z",
                "2026-05-01T22:00:00Z",
            ),
            (
                "Asia/Dubai",
                "00:00",
                "2026-05-01T19:59:00Z",
                "2026-05-01T20:00:00Z",
            ),
            (
                "Asia/Dubai",
                "23:59",
                "2026-05-01T20:00:00Z",
                "2026-05-02T19:59:00Z",
            ),
            // Europe/London, across 2026-03-29 (GMT to BST): 09:00 moves an hour earlier in UTC.
            (
                "Europe/London",
                "09:00",
                "2026-03-28T08:00:00Z",
                "2026-03-28T09:00:00Z",
            ),
            (
                "Europe/London",
                "09:00",
                "2026-03-28T10:00:00Z",
                "2026-03-29T08:00:00Z",
            ),
            (
                "Europe/London",
                "09:00",
                "2026-03-29T08:00:00Z",
                "2026-03-30T08:00:00Z",
            ),
            // 01:30 does not exist on 2026-03-29: it runs at 02:30 BST, then at 01:30 BST.
            (
                "Europe/London",
                "01:30",
                "2026-03-28T12:00:00Z",
                "2026-03-29T01:30:00Z",
            ),
            (
                "Europe/London",
                "01:30",
                "2026-03-29T01:30:00Z",
                "2026-03-30T00:30:00Z",
            ),
            // Across 2026-10-25 (BST to GMT): 09:00 moves an hour later in UTC.
            (
                "Europe/London",
                "09:00",
                "2026-10-24T09:00:00Z",
                "2026-10-25T09:00:00Z",
            ),
            // 01:30 happens twice on 2026-10-25: only the first runs.
            (
                "Europe/London",
                "01:30",
                "2026-10-24T12:00:00Z",
                "2026-10-25T00:30:00Z",
            ),
            (
                "Europe/London",
                "01:30",
                "2026-10-25T00:30:00Z",
                "2026-10-26T01:30:00Z",
            ),
            (
                "Europe/London",
                "01:30",
                "2026-10-25T01:00:00Z",
                "2026-10-26T01:30:00Z",
            ),
        ];
        for (tz, daily_at, now, expected) in cases {
            assert_eq!(
                next_daily_at(tz, daily_at, now),
                at(expected),
                "{tz} {daily_at} {now}"
            );
        }
    }

    #[test]
    fn errors() {
        let now = at("2026-05-01T12:00:00Z");
        assert_eq!(
            next_run(SyncFrequency::Hourly, None, "Mars/Olympus", now),
            Err(ScheduleError::UnknownTimeZone("Mars/Olympus".into()))
        );
        assert_eq!(
            next_run(SyncFrequency::Daily, Some(time("06:00")), "", now),
            Err(ScheduleError::UnknownTimeZone(String::new()))
        );
        assert_eq!(
            next_run(SyncFrequency::Daily, None, "Asia/Dubai", now),
            Err(ScheduleError::MissingDailyTime)
        );
        assert_eq!(parse_time_zone(" Asia/Dubai "), Ok(Tz::Asia__Dubai));
    }

    #[test]
    fn arrival_states() {
        use CompanySyncState as C;
        use DeliveryState as D;
        use SyncFrequency as F;
        // company state, is_enabled, frequency, urgent → state
        let table = [
            (C::Active, true, F::Manual, false, D::Pending),
            (C::Active, true, F::Hourly, false, D::Scheduled),
            (C::Active, true, F::Daily, false, D::Scheduled),
            (C::Active, true, F::Manual, true, D::Pending),
            (C::Active, true, F::Hourly, true, D::Pending),
            (C::Active, true, F::Daily, true, D::Pending),
            (C::Active, false, F::Manual, false, D::Held),
            (C::Active, false, F::Hourly, true, D::Held),
            (C::Disabled, true, F::Manual, false, D::Held),
            (C::Disabled, false, F::Daily, true, D::Held),
            (C::PausedAuth, true, F::Manual, false, D::Paused),
            (C::PausedAuth, true, F::Hourly, true, D::Paused),
            (C::PausedAuth, true, F::Daily, false, D::Paused),
            (C::PausedAuth, false, F::Manual, true, D::Held),
        ];
        for (company, enabled, frequency, urgent, expected) in table {
            assert_eq!(
                arrival_state(company, enabled, frequency, urgent),
                expected,
                "{company} enabled={enabled} {frequency} urgent={urgent}"
            );
        }
    }
}
