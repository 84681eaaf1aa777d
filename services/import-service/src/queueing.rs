//! Queueing an import's punches for delivery: per company, `punches.ready.v1` messages of at most
//! 1,000 punches, written to the outbox in the caller's transaction. Audit events go the same way.

use chrono::Utc;
use domain::{
    split_ready_punches, AuditRecordedV1, BatchId, BayzatEmpId, CompanyId, ImportCancelledV1,
    ImportId, LocalPunchTime, Message, PunchId, PunchType, ReadyPunch,
};
use uuid::Uuid;

use crate::store::{punches, rows, Conn, QueryResult};
use crate::{SCHEMA, SERVICE};

fn serialization(e: impl std::error::Error + Send + Sync + 'static) -> diesel::result::Error {
    diesel::result::Error::SerializationError(Box::new(e))
}

fn outgoing<M: Message>(message: &M) -> QueryResult<bus::Outgoing> {
    bus::Outgoing::message(Uuid::now_v7(), message, None).map_err(serialization)
}

/// What was queued for one company.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Queued {
    pub company_id: i64,
    pub batch_id: Uuid,
    pub punches: usize,
}

/// Queues every new punch of the import (all companies), and marks the valid rows queued.
pub async fn queue_import(conn: &mut Conn, import_id: i64) -> QueryResult<Vec<Queued>> {
    let companies = punches::companies_with_new_punches(conn, import_id).await?;
    let mut queued = Vec::new();
    for company_id in &companies {
        let batch_id = Uuid::now_v7();
        let taken = punches::take_for_queue(conn, import_id, *company_id, batch_id).await?;
        let ready: Vec<ReadyPunch> = taken
            .iter()
            .map(|p| {
                Ok(ReadyPunch {
                    punch_id: PunchId(p.id),
                    emp_id: BayzatEmpId::new(&p.emp_id).map_err(serialization)?,
                    punch_type: p.punch_type.parse::<PunchType>().map_err(serialization)?,
                    time: LocalPunchTime::new(p.punch_time),
                })
            })
            .collect::<QueryResult<_>>()?;
        let count = ready.len();
        let messages = split_ready_punches(
            BatchId::from(batch_id),
            ImportId(import_id),
            CompanyId(*company_id),
            ready,
        )
        .iter()
        .map(outgoing)
        .collect::<QueryResult<Vec<_>>>()?;
        outbox::enqueue(conn, SCHEMA, &messages).await?;
        queued.push(Queued {
            company_id: *company_id,
            batch_id,
            punches: count,
        });
    }
    // Rows whose punches were all known already count as queued too: nothing of theirs waits.
    let all_companies: Vec<i64> = rows_companies(conn, import_id).await?;
    rows::mark_queued(conn, import_id, &all_companies).await?;
    Ok(queued)
}

async fn rows_companies(conn: &mut Conn, import_id: i64) -> QueryResult<Vec<i64>> {
    use crate::schema::import_rows;
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    import_rows::table
        .filter(import_rows::import_id.eq(import_id))
        .filter(import_rows::company_id.is_not_null())
        .select(import_rows::company_id.assume_not_null())
        .distinct()
        .load(conn)
        .await
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

/// Records an operator's action in the system's audit log (kept by config-service).
pub async fn audit(
    conn: &mut Conn,
    actor: &str,
    action: &str,
    company_id: Option<i64>,
    target: String,
    details: serde_json::Value,
) -> QueryResult<()> {
    let event = AuditRecordedV1 {
        actor: actor.to_owned(),
        action: action.to_owned(),
        company_id: company_id.map(CompanyId),
        target: Some(target),
        details,
        service: SERVICE.to_owned(),
        at: Utc::now(),
    };
    outbox::enqueue(conn, SCHEMA, &[outgoing(&event)?]).await
}
