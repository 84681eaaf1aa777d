use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use db::Prepared;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamptz};
use diesel_async::RunQueryDsl;

use super::{Conn, QueryResult};

/// The ranges of punch ids an import owns (`import_punch_ids`).
pub async fn id_ranges(conn: &mut Conn, import_id: i64) -> QueryResult<Vec<(i64, i64)>> {
    #[derive(QueryableByName)]
    struct Range {
        #[diesel(sql_type = BigInt)]
        first_id: i64,
        #[diesel(sql_type = BigInt)]
        last_id: i64,
    }
    let ranges: Vec<Range> = diesel::sql_query(
        "SELECT first_id, last_id FROM import.import_punch_ids WHERE import_id = $1 ORDER BY first_id",
    )
    .bind::<BigInt, _>(import_id)
    .load(conn)
    .await?;
    Ok(ranges
        .into_iter()
        .map(|r| (r.first_id, r.last_id))
        .collect())
}

/// The condition on punches `p` that selects those of import `$1` owning these id ranges. The
/// ranges are written into the statement so the planner sees how much of the table they cover
/// (an index range scan of the primary key for an import among many).
pub fn of_import(ranges: &[(i64, i64)]) -> String {
    let ranges: Vec<String> = ranges
        .iter()
        .map(|(first, last)| format!("p.id BETWEEN {first} AND {last}"))
        .collect();
    if ranges.is_empty() {
        // No punch; `$1` stays in the statement, which is always given the import's id.
        "(p.import_id = $1 AND false)".to_owned()
    } else {
        format!("p.import_id = $1 AND ({})", ranges.join(" OR "))
    }
}

/// One delivery state change reported by sync-service.
#[derive(Debug, Clone)]
pub struct StateChange {
    pub punch_id: i64,
    pub state: String,
    pub error: Option<String>,
    pub at: DateTime<Utc>,
}

/// Applies state changes, as if one after another: a change older than the one already recorded
/// is ignored (messages may arrive late or twice), and of several changes of a punch the latest
/// wins (the last given of those equally late).
pub async fn apply_states(conn: &mut Conn, changes: &[StateChange]) -> QueryResult<usize> {
    if changes.is_empty() {
        return Ok(0);
    }
    // One UPDATE must see each punch once: which of several joined rows it takes is unspecified.
    let changes = latest_per_punch(changes);
    diesel::sql_query(
        // `p.id = ANY($1)` reads the punches through the primary key. With the join alone,
        // Postgres hashed the whole table for a batch of a thousand changes: 67 ms of 81 with
        // 120,000 punches, growing with every import kept.
        "UPDATE import.punches p SET state = c.state, error = c.error, state_at = c.at \
         FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::timestamptz[]) AS c(id, state, error, at) \
         WHERE p.id = ANY($1) AND p.id = c.id AND (p.state_at IS NULL OR p.state_at <= c.at)",
    )
    .bind::<Array<BigInt>, _>(changes.iter().map(|c| c.punch_id).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(changes.iter().map(|c| c.state.clone()).collect::<Vec<_>>())
    .bind::<Array<Nullable<Text>>, _>(changes.iter().map(|c| c.error.clone()).collect::<Vec<_>>())
    .bind::<Array<Timestamptz>, _>(changes.iter().map(|c| c.at).collect::<Vec<_>>())
    .prepared()
    .execute(conn)
    .await
}

/// For each punch, the change that applying `changes` in order would leave, by punch id.
fn latest_per_punch(changes: &[StateChange]) -> Vec<&StateChange> {
    let mut latest: BTreeMap<i64, &StateChange> = BTreeMap::new();
    for change in changes {
        latest
            .entry(change.punch_id)
            .and_modify(|kept| {
                if change.at >= kept.at {
                    *kept = change;
                }
            })
            .or_insert(change);
    }
    latest.into_values().collect()
}

/// Per company of an import: how many of its punches are in each state.
#[derive(Debug, Clone, QueryableByName, serde::Serialize)]
pub struct StateCount {
    #[diesel(sql_type = BigInt)]
    pub company_id: i64,
    #[diesel(sql_type = Text)]
    pub state: String,
    #[diesel(sql_type = BigInt)]
    pub count: i64,
}

pub async fn progress(conn: &mut Conn, import_id: i64) -> QueryResult<Vec<StateCount>> {
    let ranges = id_ranges(conn, import_id).await?;
    diesel::sql_query(format!(
        "SELECT p.company_id, p.state, count(*) AS count FROM import.punches p WHERE {} \
         GROUP BY p.company_id, p.state ORDER BY p.company_id, p.state",
        of_import(&ranges)
    ))
    .bind::<BigInt, _>(import_id)
    .load(conn)
    .await
}

/// Cancels the import's punches that were never queued; returns the companies that had queued
/// punches (sync-service cancels those it has not sent).
pub async fn cancel(conn: &mut Conn, import_id: i64) -> QueryResult<Vec<i64>> {
    let ranges = id_ranges(conn, import_id).await?;
    diesel::sql_query(format!(
        "UPDATE import.punches p SET state = 'cancelled', state_at = now() \
         WHERE {} AND p.state = 'new'",
        of_import(&ranges)
    ))
    .bind::<BigInt, _>(import_id)
    .execute(conn)
    .await?;
    #[derive(QueryableByName)]
    struct Company {
        #[diesel(sql_type = BigInt)]
        company_id: i64,
    }
    let companies: Vec<Company> = diesel::sql_query(format!(
        "SELECT DISTINCT p.company_id FROM import.punches p \
         WHERE {} AND p.batch_id IS NOT NULL ORDER BY p.company_id",
        of_import(&ranges)
    ))
    .bind::<BigInt, _>(import_id)
    .load(conn)
    .await?;
    Ok(companies.into_iter().map(|c| c.company_id).collect())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn change(punch_id: i64, state: &str, second: u32) -> StateChange {
        StateChange {
            punch_id,
            state: state.to_owned(),
            error: None,
            at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, second).unwrap(),
        }
    }

    #[test]
    fn each_punch_keeps_its_latest_change_and_of_equally_late_ones_the_last() {
        let changes = [
            change(2, "delivered", 5),
            change(1, "sending", 1),
            change(2, "sending", 4),
            change(1, "delivered", 2),
            change(3, "sending", 7),
            change(3, "failed", 7),
        ];
        let kept: Vec<(i64, &str)> = latest_per_punch(&changes)
            .into_iter()
            .map(|c| (c.punch_id, c.state.as_str()))
            .collect();
        assert_eq!(kept, [(1, "delivered"), (2, "delivered"), (3, "failed")]);
    }
}
