//! Queueing an import's punches for delivery: per company, `punches.ready.v1` messages of at most
//! 1,000 punches, written to the outbox in the caller's transaction. Audit events go the same way.
//!
//! A ready message is stored as a reference (its batch, company and the ranges of punch ids it
//! carries), and the outbox relay builds the message from the punches when it publishes it
//! ([`ReadyExpander`]): a large import writes its punches once, not a second time as JSON.

use std::collections::BTreeMap;

use chrono::{NaiveDateTime, Utc};
use diesel::sql_types::{Array, BigInt, Text, Timestamp, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::{
    AuditRecordedV1, BatchId, BayzatEmpId, CompanyId, ImportCancelledV1, ImportId, LocalPunchTime,
    Message, PunchId, PunchType, PunchesReadyV1, ReadyPunch, MAX_PUNCHES_PER_READY_MESSAGE,
};
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::store::{Conn, QueryResult};
use crate::{SCHEMA, SERVICE};

fn serialization(e: impl std::error::Error + Send + Sync + 'static) -> diesel::result::Error {
    diesel::result::Error::SerializationError(Box::new(e))
}

/// `message` for the outbox, with a new message id, in the trace of the current span.
pub(crate) fn outgoing<M: Message>(message: &M) -> QueryResult<bus::Outgoing> {
    bus::Outgoing::message(Uuid::now_v7(), message, telemetry::current_traceparent())
        .map_err(serialization)
}

/// What was queued for one company.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Queued {
    pub company_id: i64,
    pub batch_id: Uuid,
    pub punches: usize,
}

/// The stored form of a `punches.ready.v1`: which punches it carries. Every punch of `batch_id`
/// whose id lies in one of the (inclusive) ranges, `punches` of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadyReference {
    pub batch_id: Uuid,
    pub import_id: i64,
    pub company_id: i64,
    pub punches: usize,
    pub punch_id_ranges: Vec<(i64, i64)>,
    /// The batch's punches over all its messages, on the messages completed once that is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_punches: Option<usize>,
}

impl ReadyReference {
    fn new(batch_id: Uuid, import_id: i64, company_id: i64) -> Self {
        Self {
            batch_id,
            import_id,
            company_id,
            punches: 0,
            punch_id_ranges: Vec::new(),
            batch_punches: None,
        }
    }

    fn add(&mut self, punch_id: i64) {
        match self.punch_id_ranges.last_mut() {
            Some((_, last)) if *last + 1 == punch_id => *last = punch_id,
            _ => self.punch_id_ranges.push((punch_id, punch_id)),
        }
        self.punches += 1;
    }

    /// Splits off the first `n` punches (by id) as a reference of their own, of the same batch.
    fn split_off_first(&mut self, n: usize) -> Self {
        let mut first = Self {
            batch_punches: self.batch_punches,
            ..Self::new(self.batch_id, self.import_id, self.company_id)
        };
        while first.punches < n {
            let Some(range) = self.punch_id_ranges.first_mut() else {
                break;
            };
            let wanted = i64::try_from(n - first.punches).unwrap_or(i64::MAX);
            let (from, to) = *range;
            if to - from < wanted {
                first.punch_id_ranges.push((from, to));
                self.punch_id_ranges.remove(0);
            } else {
                first.punch_id_ranges.push((from, from + wanted - 1));
                range.0 = from + wanted;
            }
            let taken = first.punch_id_ranges.last().map_or(0, |(a, b)| b - a + 1);
            first.punches += usize::try_from(taken).unwrap_or(0);
        }
        self.punches -= first.punches;
        first
    }

    fn outgoing(&self, traceparent: Option<&str>) -> QueryResult<bus::Outgoing> {
        let routing = PunchesReadyV1 {
            batch_id: BatchId::from(self.batch_id),
            import_id: ImportId(self.import_id),
            company_id: CompanyId(self.company_id),
            punches: Vec::new(),
            batch_punches: None,
        };
        Ok(bus::Outgoing {
            message_id: Uuid::now_v7(),
            message_type: PunchesReadyV1::TYPE.to_owned(),
            routing_key: routing.routing_key(),
            payload: serde_json::to_vec(self).map_err(serialization)?,
            traceparent: traceparent.map(str::to_owned),
        })
    }
}

/// A company's first message carries at most this many punches when more follow: two Bayzat
/// requests' worth, enough to keep its sender busy while the next is handed over. Each next
/// message of the same batch carries twice as many as the one before.
const FIRST_MESSAGE_PUNCHES: usize = 2 * domain::MAX_RECORDS_PER_REQUEST.get();

/// Groups punches, as they are queued, into ready messages per company. Holds at most one
/// unfinished message per company, so memory does not grow with the import.
#[derive(Debug)]
pub struct ReadyMessages {
    import_id: i64,
    /// The trace of the upload (or release) that queues them, handed on to sync-service.
    traceparent: Option<String>,
    open: BTreeMap<i64, ReadyReference>,
    done: Vec<bus::Outgoing>,
    queued: BTreeMap<i64, Queued>,
}

impl ReadyMessages {
    /// Messages of `import_id`, in the trace of the current span.
    pub fn new(import_id: i64) -> Self {
        Self {
            import_id,
            traceparent: telemetry::current_traceparent(),
            open: BTreeMap::new(),
            done: Vec::new(),
            queued: BTreeMap::new(),
        }
    }

    /// Adds a punch of `company_id` queued in `batch_id`. Punches of a company come in
    /// increasing id order, so a message's ids form few ranges.
    pub fn push(&mut self, company_id: i64, batch_id: Uuid, punch_id: i64) -> QueryResult<()> {
        let import_id = self.import_id;
        let open = self
            .open
            .entry(company_id)
            .or_insert_with(|| ReadyReference::new(batch_id, import_id, company_id));
        open.add(punch_id);
        self.queued
            .entry(company_id)
            .or_insert(Queued {
                company_id,
                batch_id,
                punches: 0,
            })
            .punches += 1;
        if open.punches >= MAX_PUNCHES_PER_READY_MESSAGE {
            if let Some(full) = self.open.remove(&company_id) {
                self.done.push(full.outgoing(self.traceparent.as_deref())?);
            }
        }
        Ok(())
    }

    /// The messages completed since the last call.
    pub fn take_done(&mut self) -> Vec<bus::Outgoing> {
        std::mem::take(&mut self.done)
    }

    /// Completes the unfinished messages; returns them and what was queued per company.
    ///
    /// Each tells how many punches its batch has in all, so sync-service does not report the
    /// batch settled while some are still on their way to it. A company whose punches all fit in
    /// this last message gets them in messages of growing size: its first
    /// [`FIRST_MESSAGE_PUNCHES`], then twice as many each time, the last taking whatever is left
    /// once that is at most twice the message before. They go out in rounds: every company's
    /// first message, then every company's second, and so on. A sender starts as soon as its
    /// first punches are stored, and each next message is stored while the sender works through
    /// the one before, however many companies' punches are handed over at once.
    pub fn finish(mut self) -> QueryResult<(Vec<bus::Outgoing>, Vec<Queued>)> {
        let mut rounds: Vec<Vec<ReadyReference>> = Vec::new();
        for mut open in std::mem::take(&mut self.open).into_values() {
            let batch_punches = self
                .queued
                .get(&open.company_id)
                .map_or(open.punches, |q| q.punches);
            open.batch_punches = Some(batch_punches);
            let mut round = 0;
            if batch_punches == open.punches {
                let mut size = FIRST_MESSAGE_PUNCHES;
                while open.punches > 2 * size {
                    push_to_round(&mut rounds, round, open.split_off_first(size));
                    round += 1;
                    size *= 2;
                }
            }
            push_to_round(&mut rounds, round, open);
        }
        for reference in rounds.into_iter().flatten() {
            self.done
                .push(reference.outgoing(self.traceparent.as_deref())?);
        }
        Ok((self.done, self.queued.into_values().collect()))
    }
}

fn push_to_round(rounds: &mut Vec<Vec<ReadyReference>>, round: usize, reference: ReadyReference) {
    if rounds.len() <= round {
        rounds.resize_with(round + 1, Vec::new);
    }
    rounds[round].push(reference);
}

#[derive(QueryableByName)]
struct ReferencedPunch {
    /// Which reference of those read together the punch is for.
    #[diesel(sql_type = BigInt)]
    reference: i64,
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    emp_id: String,
    #[diesel(sql_type = Text)]
    punch_type: String,
    #[diesel(sql_type = Timestamp)]
    punch_time: NaiveDateTime,
}

/// Builds a stored [`ReadyReference`] into the `punches.ready.v1` it stands for, its punches in
/// time order. A ready message stored whole (by an earlier version) is published as stored.
pub struct ReadyExpander;

/// Punches a relay round reads at most: 8 full messages, as many small ones as add up to it. A
/// round waits for the broker's confirms of all its messages, and publishes none before all its
/// punches are read. Rounds of 32 full messages (when every message was full) let the last of 200
/// companies wait 2.5 s; with the messages growing from 40 punches ([`FIRST_MESSAGE_PUNCHES`]),
/// the first round of 32,000 punches held every company's first and second message and some
/// third ones: every first message waited for the reading of all those (0.14 s on an idle
/// database) and for the others' publishing. Rounds of 8,000 hand 200 companies their first
/// punches in one round: sync-service had them all stored 2.5–2.7 s after the upload began (three
/// runs), against 2.8 s (two).
const ROUND_PUNCHES: usize = 8 * MAX_PUNCHES_PER_READY_MESSAGE;

impl ReadyExpander {
    /// The messages of `references`, in order, from one query: a round of many small messages
    /// (a clock's uploads) costs one round trip, not one each.
    async fn build_all(
        conn: &mut AsyncPgConnection,
        references: &[&ReadyReference],
    ) -> QueryResult<Vec<Vec<u8>>> {
        let mut index = Vec::new();
        let mut from = Vec::new();
        let mut to = Vec::new();
        let mut batches = Vec::new();
        for (i, reference) in references.iter().enumerate() {
            for &(first, last) in &reference.punch_id_ranges {
                index.push(i64::try_from(i).unwrap_or(i64::MAX));
                from.push(first);
                to.push(last);
                batches.push(reference.batch_id);
            }
        }
        let found: Vec<ReferencedPunch> = if index.is_empty() {
            Vec::new()
        } else {
            diesel::sql_query(
                // Each range is read through the primary key (the `OFFSET 0` keeps Postgres from
                // flattening the lateral subquery). As a plain join, the batch filter looked
                // selective enough for Postgres to scan the whole ledger for every message: 9 ms
                // at 120,000 punches and growing with the ledger, against 0.5 ms this way.
                "SELECT r.reference, p.id, p.emp_id, p.punch_type, p.punch_time \
                 FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::uuid[]) \
                   AS r(reference, first_id, last_id, batch_id) \
                 CROSS JOIN LATERAL (SELECT q.id, q.emp_id, q.punch_type, q.punch_time, q.batch_id \
                   FROM import.punches q WHERE q.id BETWEEN r.first_id AND r.last_id OFFSET 0) p \
                 WHERE p.batch_id = r.batch_id \
                 ORDER BY r.reference, p.punch_time, p.emp_id, p.id",
            )
            .bind::<Array<BigInt>, _>(index)
            .bind::<Array<BigInt>, _>(from)
            .bind::<Array<BigInt>, _>(to)
            .bind::<Array<SqlUuid>, _>(batches)
            .load(conn)
            .await?
        };
        let mut punches: Vec<Vec<ReadyPunch>> = references.iter().map(|_| Vec::new()).collect();
        for p in found {
            let Some(list) = usize::try_from(p.reference)
                .ok()
                .and_then(|i| punches.get_mut(i))
            else {
                continue;
            };
            list.push(ReadyPunch {
                punch_id: PunchId(p.id),
                emp_id: BayzatEmpId::new(&p.emp_id).map_err(serialization)?,
                punch_type: p.punch_type.parse::<PunchType>().map_err(serialization)?,
                time: LocalPunchTime::new(p.punch_time),
            });
        }
        references
            .iter()
            .zip(punches)
            .map(|(reference, punches)| {
                if punches.len() != reference.punches {
                    tracing::error!(
                        batch = %reference.batch_id,
                        expected = reference.punches,
                        found = punches.len(),
                        "a ready message's punches are not all stored"
                    );
                }
                let message = PunchesReadyV1 {
                    batch_id: BatchId::from(reference.batch_id),
                    import_id: ImportId(reference.import_id),
                    company_id: CompanyId(reference.company_id),
                    punches,
                    batch_punches: reference.batch_punches.and_then(|n| u32::try_from(n).ok()),
                };
                serde_json::to_vec(&message).map_err(serialization)
            })
            .collect()
    }

    /// The reference a stored row holds, when it is a ready message stored as one.
    fn reference(message_type: &str, stored: &serde_json::Value) -> Option<ReadyReference> {
        if message_type != PunchesReadyV1::TYPE {
            return None;
        }
        ReadyReference::deserialize(stored).ok()
    }
}

impl outbox::Expander for ReadyExpander {
    fn expand<'a>(
        &'a self,
        conn: &'a mut AsyncPgConnection,
        message_type: &'a str,
        stored: &'a serde_json::Value,
    ) -> BoxFuture<'a, QueryResult<Option<Vec<u8>>>> {
        Box::pin(async move {
            match Self::reference(message_type, stored) {
                Some(reference) => Ok(Self::build_all(conn, &[&reference]).await?.pop()),
                None => Ok(None),
            }
        })
    }

    fn expand_all<'a>(
        &'a self,
        conn: &'a mut AsyncPgConnection,
        rows: &'a [(&'a str, &'a serde_json::Value)],
    ) -> BoxFuture<'a, QueryResult<Vec<Option<Vec<u8>>>>> {
        Box::pin(async move {
            let references: Vec<Option<ReadyReference>> = rows
                .iter()
                .map(|(message_type, stored)| Self::reference(message_type, stored))
                .collect();
            let wanted: Vec<&ReadyReference> = references.iter().flatten().collect();
            let mut built = Self::build_all(conn, &wanted).await?.into_iter();
            Ok(references
                .iter()
                .map(|reference| reference.as_ref().and_then(|_| built.next()))
                .collect())
        })
    }

    /// A ready message costs its punches (read and sent); anything else one.
    fn cost(&self, message_type: &str, stored: &serde_json::Value) -> usize {
        if message_type != PunchesReadyV1::TYPE {
            return 1;
        }
        stored
            .get("punches")
            .and_then(serde_json::Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(MAX_PUNCHES_PER_READY_MESSAGE)
            .max(1)
    }

    fn round_cost(&self) -> usize {
        ROUND_PUNCHES
    }
}

/// Tells sync-service, per company, that the import is cancelled.
pub async fn announce_cancel(
    conn: &mut Conn,
    import_id: i64,
    companies: &[i64],
) -> QueryResult<()> {
    let messages = companies
        .iter()
        .map(|company| {
            outgoing(&ImportCancelledV1 {
                company_id: CompanyId(*company),
                import_id: ImportId(import_id),
            })
        })
        .collect::<QueryResult<Vec<_>>>()?;
    outbox::enqueue(conn, SCHEMA, &messages).await
}

/// An operator's action for the system's audit log (kept by config-service).
pub fn audit_event(
    actor: &str,
    action: &str,
    company_id: Option<i64>,
    target: String,
    details: serde_json::Value,
) -> QueryResult<bus::Outgoing> {
    outgoing(&AuditRecordedV1 {
        actor: actor.to_owned(),
        action: action.to_owned(),
        company_id: company_id.map(CompanyId),
        target: Some(target),
        details,
        service: SERVICE.to_owned(),
        at: Utc::now(),
    })
}

/// Records an operator's action in the system's audit log, in the caller's transaction.
pub async fn audit(
    conn: &mut Conn,
    actor: &str,
    action: &str,
    company_id: Option<i64>,
    target: String,
    details: serde_json::Value,
) -> QueryResult<()> {
    let event = audit_event(actor, action, company_id, target, details)?;
    outbox::enqueue(conn, SCHEMA, &[event]).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn references(messages: &[bus::Outgoing]) -> Vec<ReadyReference> {
        messages
            .iter()
            .map(|m| serde_json::from_slice(&m.payload).unwrap())
            .collect()
    }

    #[test]
    fn ready_messages_hold_at_most_the_limit_and_name_their_punches_as_ranges() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let mut messages = ReadyMessages::new(7);
        // Company 1: ids 1..=1500 with a gap after 600; company 2: ids 2001..=2003.
        for id in (1..=600).chain(701..=1600) {
            messages.push(1, a, id).unwrap();
        }
        for id in 2001..=2003 {
            messages.push(2, b, id).unwrap();
        }
        let first = references(&messages.take_done());
        assert_eq!(
            first,
            [ReadyReference {
                batch_id: a,
                import_id: 7,
                company_id: 1,
                punches: 1000,
                punch_id_ranges: vec![(1, 600), (701, 1100)],
                batch_punches: None,
            }]
        );
        assert!(messages.take_done().is_empty(), "taken once");
        let (rest, queued) = messages.finish().unwrap();
        assert_eq!(
            references(&rest),
            [
                ReadyReference {
                    batch_id: a,
                    import_id: 7,
                    company_id: 1,
                    punches: 500,
                    punch_id_ranges: vec![(1101, 1600)],
                    batch_punches: Some(1500),
                },
                ReadyReference {
                    batch_id: b,
                    import_id: 7,
                    company_id: 2,
                    punches: 3,
                    punch_id_ranges: vec![(2001, 2003)],
                    batch_punches: Some(3),
                },
            ]
        );
        assert_eq!(
            rest.iter()
                .map(|m| m.routing_key.as_str())
                .collect::<Vec<_>>(),
            ["company.1.ready", "company.2.ready"]
        );
        assert!(rest.iter().all(|m| m.message_type == PunchesReadyV1::TYPE));
        let counts: Vec<(i64, usize)> = queued.iter().map(|q| (q.company_id, q.punches)).collect();
        assert_eq!(counts, [(1, 1500), (2, 3)]);
    }

    #[test]
    fn every_company_sends_its_messages_in_growing_sizes_one_round_at_a_time() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let mut messages = ReadyMessages::new(7);
        // Company 1: 100 punches, ids 1..=30 and 41..=110; company 2: 600 punches; company 3: 80.
        for id in (1..=30).chain(41..=110) {
            messages.push(1, a, id).unwrap();
        }
        for id in 1001..=1600 {
            messages.push(2, b, id).unwrap();
        }
        for id in 2001..=2080 {
            messages.push(3, b, id).unwrap();
        }
        let (all, _) = messages.finish().unwrap();
        let sent: Vec<_> = references(&all)
            .into_iter()
            .map(|r| (r.company_id, r.punches, r.punch_id_ranges, r.batch_punches))
            .collect();
        assert_eq!(
            sent,
            [
                (1, 40, vec![(1, 30), (41, 50)], Some(100)),
                (2, 40, vec![(1001, 1040)], Some(600)),
                (3, 80, vec![(2001, 2080)], Some(80)),
                (1, 60, vec![(51, 110)], Some(100)),
                (2, 80, vec![(1041, 1120)], Some(600)),
                (2, 160, vec![(1121, 1280)], Some(600)),
                (2, 320, vec![(1281, 1600)], Some(600)),
            ]
        );
    }
}
