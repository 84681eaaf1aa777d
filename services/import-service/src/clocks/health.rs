//! Clock health leaves import-service two ways, from one reading of the clocks: the per-clock
//! gauges ([`crate::metrics::ClockHealth`], for the alert) and `clock.health.v1` for
//! sync-service, which shows a company's clocks in its sync health.
//!
//! The messages go straight to the broker, not through the outbox: each says all there is to
//! know about its clock, so one lost is made good by the clock's next change (a clock that calls
//! changes at every call), and one repeated only rewrites the same row.
//!
//! The same reading tells people when an approved clock falls silent (`clock.silent`, once per
//! silence). That event is not made good by a later one, so it goes through the outbox.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bus::{Outgoing, Publisher};
use chrono::{DateTime, Utc};
use domain::{ClockHealthV1, CompanyId};
use outbox::RelayWaker;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::bridge_events;
use crate::metrics::ClockHealth;
use crate::store::clocks::{self, Clock, Covering, APPROVED};

/// How often the clocks are read again: a fraction of `CLOCK_SILENT_AFTER`, so a clock calling
/// again clears its silence well within it, and at most every 15 seconds.
pub fn read_every(silent_after: Duration) -> Duration {
    (silent_after / 4).clamp(Duration::from_millis(100), Duration::from_secs(15))
}

/// What `clock.health.v1` says of `clock` at `now`.
pub fn health_of(
    clock: &Clock,
    punches_today: i64,
    silent_after: Duration,
    now: DateTime<Utc>,
) -> ClockHealthV1 {
    ClockHealthV1 {
        clock_id: clock.id,
        serial_number: clock.serial_number.clone(),
        state: clock.state.clone(),
        company_ids: clock.company_ids.iter().copied().map(CompanyId).collect(),
        last_seen_at: clock.last_seen_at,
        last_punch_at: clock.last_punch_at,
        punches_today,
        quiet_since: clock.quiet_since(),
        silent_after_seconds: silent_after.as_secs(),
        observed_at: now,
    }
}

/// The clocks' health as last published, to publish only what changed.
#[derive(Default)]
struct Published(HashMap<i64, ClockHealthV1>);

impl Published {
    /// Whether `health` says something the last message of its clock did not.
    fn is_news(&self, health: &ClockHealthV1) -> bool {
        self.0.get(&health.clock_id).is_none_or(|last| {
            let at_the_same_time = ClockHealthV1 {
                observed_at: health.observed_at,
                ..last.clone()
            };
            at_the_same_time != *health
        })
    }
}

/// The silences told of, by clock and the time it went quiet, to tell of each once.
#[derive(Default)]
struct Silences(HashSet<(i64, DateTime<Utc>)>);

impl Silences {
    /// The clocks of `read` silent at `now` whose silence was not told of yet. Silences that
    /// ended are forgotten: the clock's next one is quiet since a later time.
    fn begun<'a>(
        &mut self,
        read: &'a [(Clock, i64)],
        silent_after: Duration,
        now: DateTime<Utc>,
    ) -> Vec<&'a Clock> {
        let silent: HashSet<(i64, DateTime<Utc>)> = read
            .iter()
            .filter(|(clock, _)| clock.is_silent(now, silent_after))
            .map(|(clock, _)| (clock.id, clock.quiet_since()))
            .collect();
        self.0.retain(|silence| silent.contains(silence));
        read.iter()
            .map(|(clock, _)| clock)
            .filter(|clock| {
                let silence = (clock.id, clock.quiet_since());
                silent.contains(&silence) && !self.0.contains(&silence)
            })
            .collect()
    }

    fn told(&mut self, clocks: &[&Clock]) {
        self.0
            .extend(clocks.iter().map(|clock| (clock.id, clock.quiet_since())));
    }
}

/// Reads the clocks now and then every [`read_every`]: into `gauges`, as `clock.health.v1` for
/// those that changed since they were last published, and as `clock.silent` for those that fell
/// silent. A failed reading keeps the last one (`database_up` says why); a failed publish, or a
/// silence not written to the outbox, is tried again at the next reading. After a restart the
/// silences under way are told of again, as the same events (their ids are the same).
pub fn spawn(
    pool: db::Pool,
    gauges: ClockHealth,
    publisher: Arc<Publisher>,
    relay: RelayWaker,
    silent_after: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut published = Published::default();
        let mut silences = Silences::default();
        loop {
            match read(&pool).await {
                Ok(read) => {
                    gauges.show(
                        read.iter()
                            .filter(|(clock, _)| clock.state == APPROVED)
                            .map(|(clock, today)| (clock.clone(), *today))
                            .collect(),
                    );
                    tell_silences(&pool, &relay, &mut silences, &read, silent_after).await;
                    publish(&publisher, &mut published, read, silent_after).await;
                }
                Err(error) => tracing::warn!(%error, "reading the clocks' health failed"),
            }
            tokio::time::sleep(read_every(silent_after)).await;
        }
    })
}

/// The clocks an admin has placed, each with its punches of the day.
async fn read(pool: &db::Pool) -> Result<Vec<(Clock, i64)>, db::DbError> {
    let mut conn = db::connection(pool).await?;
    Ok(clocks::with_punches_today(&mut conn, Covering::Placed, Utc::now()).await?)
}

/// Writes `clock.silent` to the outbox for the clocks of `read` that fell silent since the last
/// reading. Nothing else changes with it: the one statement is its own transaction.
async fn tell_silences(
    pool: &db::Pool,
    relay: &RelayWaker,
    silences: &mut Silences,
    read: &[(Clock, i64)],
    silent_after: Duration,
) {
    let begun = silences.begun(read, silent_after, Utc::now());
    if begun.is_empty() {
        return;
    }
    let events: Vec<_> = begun
        .iter()
        .flat_map(|clock| bridge_events::clock_silent(clock, silent_after))
        .collect();
    let written = async {
        let mut conn = db::connection(pool).await?;
        bridge_events::enqueue(&mut conn, &events).await?;
        Ok::<_, db::DbError>(())
    }
    .await;
    match written {
        Ok(()) => {
            silences.told(&begun);
            relay.wake();
        }
        Err(error) => {
            tracing::warn!(%error, "telling of silent clocks failed; tried again at the next reading")
        }
    }
}

async fn publish(
    publisher: &Publisher,
    published: &mut Published,
    read: Vec<(Clock, i64)>,
    silent_after: Duration,
) {
    let now = Utc::now();
    let news: Vec<ClockHealthV1> = read
        .iter()
        .map(|(clock, today)| health_of(clock, *today, silent_after, now))
        .filter(|health| published.is_news(health))
        .collect();
    if news.is_empty() {
        return;
    }
    let outgoing: Vec<Outgoing> = news
        .iter()
        .filter_map(|health| Outgoing::message(Uuid::now_v7(), health, None).ok())
        .collect();
    let (sent, failure) = publisher.publish_all(&outgoing).await;
    if let Some(error) = failure {
        tracing::warn!(%error, "publishing clock health failed; tried again at the next reading");
    }
    for health in news.into_iter().take(sent) {
        published.0.insert(health.clock_id, health);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn clock(last_seen: Option<DateTime<Utc>>) -> Clock {
        let at = Utc.with_ymd_and_hms(2026, 12, 5, 8, 0, 0).unwrap();
        Clock {
            id: 3,
            serial_number: "CKJ4201".into(),
            state: APPROVED.into(),
            company_ids: vec![1, 2],
            time_zone: "Asia/Dubai".into(),
            allowed_network: None,
            handshake: None,
            last_seen_at: last_seen,
            last_punch_at: None,
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn only_a_change_is_news_not_the_time_it_was_read() {
        let at = Utc.with_ymd_and_hms(2026, 12, 5, 9, 0, 0).unwrap();
        let after = Duration::from_secs(1800);
        let mut published = Published::default();
        let first = health_of(&clock(Some(at)), 4, after, at);
        assert!(published.is_news(&first), "a clock never published");
        published.0.insert(first.clock_id, first);
        let later = at + chrono::TimeDelta::seconds(15);
        assert!(!published.is_news(&health_of(&clock(Some(at)), 4, after, later)));
        assert!(published.is_news(&health_of(&clock(Some(at)), 5, after, later)));
        assert!(published.is_news(&health_of(&clock(Some(later)), 4, after, later)));
    }

    #[test]
    fn a_clock_never_seen_is_quiet_since_it_was_last_changed() {
        let health = health_of(
            &clock(None),
            0,
            Duration::from_secs(1800),
            Utc.with_ymd_and_hms(2026, 12, 5, 9, 0, 0).unwrap(),
        );
        assert_eq!(health.quiet_since, clock(None).updated_at);
        assert!(health.is_silent_at(Utc.with_ymd_and_hms(2026, 12, 5, 9, 0, 0).unwrap()));
        assert_eq!(health.company_ids, [CompanyId(1), CompanyId(2)]);
    }

    #[test]
    fn a_silence_is_told_of_once_and_the_next_one_again() {
        let after = Duration::from_secs(1800);
        let seen = Utc.with_ymd_and_hms(2026, 12, 5, 9, 0, 0).unwrap();
        let quiet = seen + chrono::TimeDelta::minutes(31);
        let mut silences = Silences::default();
        let calling = [(clock(Some(seen)), 0)];
        assert!(silences.begun(&calling, after, seen).is_empty(), "calling");
        let begun: Vec<i64> = silences
            .begun(&calling, after, quiet)
            .iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(begun, [3]);
        // Not written to the outbox: told of at the next reading.
        assert_eq!(silences.begun(&calling, after, quiet).len(), 1);
        let told = silences.begun(&calling, after, quiet);
        silences.told(&told);
        assert!(silences
            .begun(&calling, after, quiet + chrono::TimeDelta::hours(5))
            .is_empty());
        // It called again: that silence is over; the next one is told of.
        let again = seen + chrono::TimeDelta::hours(6);
        let called = [(clock(Some(again)), 0)];
        assert!(silences.begun(&called, after, again).is_empty());
        assert!(silences.0.is_empty(), "the silence that ended is forgotten");
        let later = again + chrono::TimeDelta::minutes(31);
        assert_eq!(silences.begun(&called, after, later).len(), 1);
    }

    #[test]
    fn clocks_are_read_a_quarter_of_the_silence_apart_at_most_every_15_seconds() {
        assert_eq!(
            read_every(Duration::from_secs(1800)),
            Duration::from_secs(15)
        );
        assert_eq!(read_every(Duration::from_secs(4)), Duration::from_secs(1));
        assert_eq!(read_every(Duration::ZERO), Duration::from_millis(100));
    }
}
