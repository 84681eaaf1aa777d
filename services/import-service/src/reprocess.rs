//! Reprocessing: after an operator maps a department or adds an employee, every row of the import
//! not queued yet (invalid rows, and valid rows held back by strict or hold) is validated again
//! against a fresh directory snapshot. Newly valid rows are queued unless the import is held, or
//! strict with rows still invalid. Punches already known stay known (duplicates stay duplicates).

use chrono::Utc;
use report::{FileFacts, ReportRow, RowResult};
use serde_json::json;

use crate::batch::{Prepared, Queueing, RowWriter};
use crate::errors::ReprocessError;
use crate::pipeline;
use crate::queueing;
use crate::store::imports::Import;
use crate::store::tx::{Completion, ImportTx, TxError};

/// Rows re-validated and rewritten at a time.
const PAGE_ROWS: i64 = 5_000;

pub async fn reprocess(
    pool: &db::Pool,
    database_url: &str,
    snapshot: &directory::DirectorySnapshot,
    import: &Import,
    actor: &str,
) -> Result<Import, ReprocessError> {
    let facts = import.facts.clone().ok_or(ReprocessError::NoFacts)?;
    let facts: FileFacts =
        serde_json::from_value(facts).map_err(|_| ReprocessError::FactsUnreadable)?;
    let directory = pipeline::directory_of(snapshot)?;
    let tx = ImportTx::begin(database_url).await?;
    let result = rewrite(&tx, import, &facts, &directory, actor).await;
    match result {
        Ok(()) => tx.commit().await?,
        Err(error) => {
            tx.rollback().await;
            return Err(error);
        }
    }
    let mut conn = db::connection(pool).await?;
    crate::store::imports::find(&mut conn, import.id)
        .await?
        .ok_or(ReprocessError::Gone)
}

/// In the transaction: the unqueued rows a page at a time (in line order, so a page's rewritten
/// rows are behind the next page), then the counts, the queueing and the audit.
async fn rewrite(
    tx: &ImportTx,
    import: &Import,
    facts: &FileFacts,
    directory: &report::Directory,
    actor: &str,
) -> Result<(), ReprocessError> {
    let import_id = import.id;
    let now = Utc::now();
    // The scope of the upload stays the scope of the import, whoever reprocesses it.
    let companies = pipeline::stored_scope(&import.options);
    let scope = pipeline::scope_of(&companies);
    let mut writer = RowWriter::new(tx, import_id, Queueing::Later);
    let mut after = 0;
    let mut rewritten = 0usize;
    loop {
        let page = tx.unqueued_rows(import_id, after, PAGE_ROWS).await?;
        let Some(&(last, _)) = page.last() else {
            break;
        };
        let mut batch: Vec<(ReportRow, RowResult)> = Vec::with_capacity(page.len());
        let mut lines = Vec::with_capacity(page.len());
        for (line, cells) in page {
            let cells = cells.ok_or(ReprocessError::RawValuesRemoved(line))?;
            let row = report::parse_row(facts, u64::try_from(line).unwrap_or(0), cells);
            let result = report::validate_within(&row, directory, now, scope);
            batch.push((row, result));
            lines.push(line);
        }
        tx.delete_rows(import_id, &lines).await?;
        writer.write(Prepared::new(batch)).await?;
        rewritten += lines.len();
        after = last;
    }
    let summary = writer.finish().await?.summary;
    let (valid, invalid, skipped) = tx.outcome_counts(import_id).await?;
    let held_reason = match import.held_reason.as_deref() {
        Some("hold") => Some("hold"),
        Some("strict") if invalid > 0 => Some("strict"),
        _ => None,
    };
    let queued = match held_reason {
        None => tx.queue_new_punches(import_id).await?,
        Some(_) => Vec::new(),
    };
    let to_i32 = |n: i64| i32::try_from(n).unwrap_or(i32::MAX);
    // The outcomes are counted over every row of the import, not only the rewritten ones.
    tx.reprocessed(
        import_id,
        &Completion {
            valid: to_i32(valid),
            invalid: to_i32(invalid),
            skipped: to_i32(skipped),
            ..Completion::of(&summary, held_reason)
        },
    )
    .await?;
    tx.enqueue(&[queueing::audit_event(
        actor,
        "import.reprocessed",
        None,
        format!("import {import_id}"),
        json!({ "rows_reprocessed": rewritten, "now_valid": summary.valid, "still_invalid": summary.invalid, "queued": queued }),
    )
    .map_err(TxError::from)?])
    .await?;
    Ok(())
}
