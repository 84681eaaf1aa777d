use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;
use uuid::Uuid;

use super::{Conn, QueryResult};
use crate::schema::audit_log;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = audit_log)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub service: String,
    pub actor: String,
    pub action: String,
    pub company_id: Option<i64>,
    pub target: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    #[serde(skip)]
    #[schema(ignore)]
    pub message_id: Option<Uuid>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = audit_log)]
pub struct NewAuditEntry {
    pub at: DateTime<Utc>,
    pub service: String,
    pub actor: String,
    pub action: String,
    pub company_id: Option<i64>,
    pub target: Option<String>,
    pub details: serde_json::Value,
    pub message_id: Option<Uuid>,
}

/// Which entries to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Entries of these companies only.
    pub company_ids: Option<Vec<i64>>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Stores an entry; an entry from an already stored message is ignored.
pub async fn record(conn: &mut Conn, entry: &NewAuditEntry) -> QueryResult<()> {
    diesel::insert_into(audit_log::table)
        .values(entry)
        .on_conflict(audit_log::message_id)
        .do_nothing()
        .execute(conn)
        .await
        .map(drop)
}

/// A page of entries, newest first.
pub async fn page(
    conn: &mut Conn,
    filter: &AuditFilter,
    offset: i64,
    limit: i64,
) -> QueryResult<(Vec<AuditEntry>, i64)> {
    let filtered = || {
        let mut query = audit_log::table.into_boxed();
        if let Some(company_ids) = &filter.company_ids {
            query = query.filter(audit_log::company_id.eq_any(company_ids.clone()));
        }
        if let Some(actor) = &filter.actor {
            query = query.filter(audit_log::actor.eq(actor.clone()));
        }
        if let Some(action) = &filter.action {
            query = query.filter(audit_log::action.eq(action.clone()));
        }
        if let Some(from) = filter.from {
            query = query.filter(audit_log::at.ge(from));
        }
        if let Some(to) = filter.to {
            query = query.filter(audit_log::at.lt(to));
        }
        query
    };
    let total = filtered().count().get_result(conn).await?;
    let items = filtered()
        .select(AuditEntry::as_select())
        .order(audit_log::id.desc())
        .offset(offset)
        .limit(limit)
        .load(conn)
        .await?;
    Ok((items, total))
}
