use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;

use super::{Conn, QueryResult};
use crate::schema::report_names;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Serialize)]
#[diesel(table_name = report_names)]
pub struct ReportName {
    pub id: i64,
    #[serde(skip)]
    pub company_id: i64,
    pub name: String,
    #[serde(skip)]
    pub normalized: String,
    pub created_at: DateTime<Utc>,
}

/// The report names of these companies, in the order they were added.
pub async fn for_companies(conn: &mut Conn, company_ids: &[i64]) -> QueryResult<Vec<ReportName>> {
    report_names::table
        .filter(report_names::company_id.eq_any(company_ids))
        .order(report_names::id.asc())
        .select(ReportName::as_select())
        .load(conn)
        .await
}

/// The name already registered under this normalized form, whichever company has it.
pub async fn find_normalized(conn: &mut Conn, normalized: &str) -> QueryResult<Option<ReportName>> {
    report_names::table
        .filter(report_names::normalized.eq(normalized))
        .select(ReportName::as_select())
        .first(conn)
        .await
        .optional()
}

/// Adds a name; fails with a unique violation when another company took it meanwhile.
pub async fn insert(
    conn: &mut Conn,
    company_id: i64,
    name: &str,
    normalized: &str,
) -> QueryResult<ReportName> {
    diesel::insert_into(report_names::table)
        .values((
            report_names::company_id.eq(company_id),
            report_names::name.eq(name),
            report_names::normalized.eq(normalized),
        ))
        .returning(ReportName::as_returning())
        .get_result(conn)
        .await
}

/// Removes one of a company's names; returns it, or None when it is not that company's.
pub async fn delete(conn: &mut Conn, company_id: i64, id: i64) -> QueryResult<Option<ReportName>> {
    diesel::delete(
        report_names::table
            .filter(report_names::id.eq(id))
            .filter(report_names::company_id.eq(company_id)),
    )
    .returning(ReportName::as_returning())
    .get_result(conn)
    .await
    .optional()
}
