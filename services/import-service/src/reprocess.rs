//! Reprocessing: after an operator maps a department or adds an employee, every row of the import
//! not queued yet (invalid rows, and valid rows held back by strict or hold) is validated again
//! against a fresh directory snapshot. Newly valid rows are queued unless the import is held, or
//! strict with rows still invalid. Punches already known stay known (duplicates stay duplicates).

use chrono::Utc;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Integer};
use diesel_async::{AsyncConnection, RunQueryDsl};
use report::{FileFacts, ReportRow, RowResult};
use serde_json::json;

use crate::pipeline::{self, Tally};
use crate::queueing;
use crate::schema::imports;
use crate::store::imports::Import;
use crate::store::{self, rows, Conn};

async fn delete_rows(conn: &mut Conn, import_id: i64, lines: &[i32]) -> diesel::QueryResult<usize> {
    diesel::sql_query("DELETE FROM import.import_rows WHERE import_id = $1 AND line = ANY($2)")
        .bind::<BigInt, _>(import_id)
        .bind::<Array<Integer>, _>(lines)
        .execute(conn)
        .await
}

pub async fn reprocess(
    pool: &db::Pool,
    snapshot: &directory::DirectorySnapshot,
    import: &Import,
    actor: &str,
) -> Result<Import, String> {
    let facts: FileFacts = import
        .facts
        .clone()
        .ok_or("the import has no stored file facts")
        .and_then(|f| {
            serde_json::from_value(f).map_err(|_| "the import's file facts cannot be read")
        })
        .map_err(str::to_owned)?;
    let directory = pipeline::directory_of(snapshot)?;
    let now = Utc::now();
    let mut conn = db::connection(pool).await.map_err(|e| e.to_string())?;
    let pending = rows::unqueued(&mut conn, import.id)
        .await
        .map_err(|e| e.to_string())?;
    let mut batch: Vec<(ReportRow, RowResult)> = Vec::with_capacity(pending.len());
    for row in &pending {
        let cells: Vec<String> = row
            .raw
            .as_ref()
            .and_then(|raw| serde_json::from_value(raw.clone()).ok())
            .ok_or_else(|| {
                format!(
                    "row {}: its values were removed by retention; upload the report again",
                    row.line
                )
            })?;
        let report_row = report::parse_row(&facts, u64::try_from(row.line).unwrap_or(0), cells);
        let result = report::validate(&report_row, &directory, now);
        batch.push((report_row, result));
    }
    let import_id = import.id;
    let held = import.held_reason.clone();
    conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        let lines: Vec<i32> = pending.iter().map(|r| r.line).collect();
        delete_rows(conn, import_id, &lines).await?;
        let mut tally = Tally::default();
        for chunk in batch.chunks(5_000) {
            pipeline::write_batch(conn, import_id, chunk, &mut tally).await?;
        }
        let (valid, invalid, skipped) = rows::outcome_counts(conn, import_id).await?;
        let held_reason = match held.as_deref() {
            Some("hold") => Some("hold"),
            Some("strict") if invalid > 0 => Some("strict"),
            _ => None,
        };
        let queued = match held_reason {
            None => queueing::queue_import(conn, import_id).await?,
            Some(_) => Vec::new(),
        };
        let to_i32 = |n: i64| i32::try_from(n).unwrap_or(i32::MAX);
        diesel::update(imports::table.find(import_id))
            .set((
                imports::successful_records.eq(to_i32(valid)),
                imports::failed_records.eq(to_i32(invalid)),
                imports::skipped_records.eq(to_i32(skipped)),
                imports::punches_new.eq(imports::punches_new + tally.punches_new),
                imports::duplicate_punches_in_file.eq(imports::duplicate_punches_in_file + tally.duplicate_punches_in_file),
                imports::duplicate_punches_known.eq(imports::duplicate_punches_known + tally.duplicate_punches_known),
                imports::unmapped_departments.eq(tally.unmapped_json()),
                imports::unknown_employees.eq(tally.unknown_json()),
                imports::held_reason.eq(held_reason),
                imports::updated_at.eq(diesel::dsl::now),
            ))
            .execute(conn)
            .await?;
        queueing::audit(
            conn,
            actor,
            "import.reprocessed",
            None,
            format!("import {import_id}"),
            json!({ "rows_reprocessed": lines.len(), "now_valid": tally.valid, "still_invalid": tally.invalid, "queued": queued }),
        )
        .await
    })
    .await
    .map_err(|e| e.to_string())?;
    store::imports::find(&mut conn, import_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "the import disappeared".to_owned())
}
