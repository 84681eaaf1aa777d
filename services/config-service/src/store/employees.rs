use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text};
use diesel_async::RunQueryDsl;
use serde::Serialize;

use super::{Conn, QueryResult};
use crate::schema::employees;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Serialize)]
#[diesel(table_name = employees)]
pub struct Employee {
    #[serde(skip)]
    pub company_id: i64,
    pub employee_id: String,
    pub name: String,
    pub bayzat_emp_id: Option<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One employee as the IT portal sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmployeeInput {
    pub employee_id: String,
    pub name: String,
    pub bayzat_emp_id: Option<String>,
    pub active: bool,
}

/// What a bulk upsert did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct UpsertCounts {
    pub inserted: usize,
    pub updated: usize,
    pub unchanged: usize,
}

/// Inserts or updates every employee of one company in one statement. Rows whose values did not
/// change are left alone (their `updated_at` stays), and counted as unchanged.
pub async fn upsert(
    conn: &mut Conn,
    company_id: i64,
    rows: &[EmployeeInput],
) -> QueryResult<UpsertCounts> {
    #[derive(QueryableByName)]
    struct Written {
        #[diesel(sql_type = Bool)]
        inserted: bool,
    }
    if rows.is_empty() {
        return Ok(UpsertCounts::default());
    }
    let written: Vec<Written> = diesel::sql_query(
        "INSERT INTO config.employees (company_id, employee_id, name, bayzat_emp_id, active) \
         SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::text[], $5::bool[]) \
         ON CONFLICT (company_id, employee_id) DO UPDATE \
           SET name = EXCLUDED.name, bayzat_emp_id = EXCLUDED.bayzat_emp_id, \
               active = EXCLUDED.active, updated_at = now() \
           WHERE (employees.name, employees.bayzat_emp_id, employees.active) \
                 IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.bayzat_emp_id, EXCLUDED.active) \
         RETURNING (xmax = 0) AS inserted",
    )
    .bind::<BigInt, _>(company_id)
    .bind::<Array<Text>, _>(
        rows.iter()
            .map(|r| r.employee_id.clone())
            .collect::<Vec<_>>(),
    )
    .bind::<Array<Text>, _>(rows.iter().map(|r| r.name.clone()).collect::<Vec<_>>())
    .bind::<Array<Nullable<Text>>, _>(
        rows.iter()
            .map(|r| r.bayzat_emp_id.clone())
            .collect::<Vec<_>>(),
    )
    .bind::<Array<Bool>, _>(rows.iter().map(|r| r.active).collect::<Vec<_>>())
    .load(conn)
    .await?;
    let inserted = written.iter().filter(|w| w.inserted).count();
    let updated = written.len() - inserted;
    Ok(UpsertCounts {
        inserted,
        updated,
        unchanged: rows.len() - written.len(),
    })
}

/// A page of one company's employees, by employee id; `search` matches id or name.
pub async fn page(
    conn: &mut Conn,
    company_id: i64,
    search: Option<&str>,
    active: Option<bool>,
    offset: i64,
    limit: i64,
) -> QueryResult<(Vec<Employee>, i64)> {
    let filtered = || {
        let mut query = employees::table
            .filter(employees::company_id.eq(company_id))
            .into_boxed();
        if let Some(search) = search.filter(|s| !s.trim().is_empty()) {
            let pattern = format!("%{}%", escape_like(search.trim()));
            query = query.filter(
                employees::employee_id
                    .ilike(pattern.clone())
                    .or(employees::name.ilike(pattern)),
            );
        }
        if let Some(active) = active {
            query = query.filter(employees::active.eq(active));
        }
        query
    };
    let total = filtered().count().get_result(conn).await?;
    let items = filtered()
        .select(Employee::as_select())
        .order(employees::employee_id.asc())
        .offset(offset)
        .limit(limit)
        .load(conn)
        .await?;
    Ok((items, total))
}

/// Every employee of these companies (for the directory snapshot).
pub async fn for_companies(conn: &mut Conn, company_ids: &[i64]) -> QueryResult<Vec<Employee>> {
    employees::table
        .filter(employees::company_id.eq_any(company_ids))
        .order((employees::company_id.asc(), employees::employee_id.asc()))
        .select(Employee::as_select())
        .load(conn)
        .await
}

/// Activates or deactivates one employee; None when the company has no such employee.
pub async fn set_active(
    conn: &mut Conn,
    company_id: i64,
    employee_id: &str,
    active: bool,
) -> QueryResult<Option<Employee>> {
    diesel::update(employees::table.find((company_id, employee_id)))
        .set((
            employees::active.eq(active),
            employees::updated_at.eq(diesel::dsl::now),
        ))
        .returning(Employee::as_returning())
        .get_result(conn)
        .await
        .optional()
}

fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
