use std::collections::HashSet;

use actix_web::{web, HttpResponse};
use auth::{Caller, Permission};
use chrono::{DateTime, Utc};
use diesel_async::AsyncConnection;
use domain::CompanyChange;
use serde::{Deserialize, Serialize};
use serde_json::json;
use service_kit::{Page, PageQuery};
use utoipa::{IntoParams, ToSchema};

use super::authorized_company;
use crate::changes::Change;
use crate::employee_csv;
use crate::errors::EmployeeError;
use crate::store::companies::Company;
use crate::store::employees::{self as store, Employee, EmployeeInput, UpsertCounts};
use crate::AppState;

/// At most this many employees in one upsert.
pub const MAX_EMPLOYEES_PER_CALL: usize = 10_000;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EmployeeView {
    /// The id on the fingerprint clock.
    pub employee_id: String,
    pub name: String,
    /// The id Bayzat knows; employee_id is sent when absent.
    pub bayzat_emp_id: Option<String>,
    pub active: bool,
    pub updated_at: DateTime<Utc>,
}

impl From<Employee> for EmployeeView {
    fn from(e: Employee) -> Self {
        Self {
            employee_id: e.employee_id,
            name: e.name,
            bayzat_emp_id: e.bayzat_emp_id,
            active: e.active,
            updated_at: e.updated_at,
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct EmployeeInputView {
    pub employee_id: String,
    pub name: String,
    pub bayzat_emp_id: Option<String>,
    /// true when absent.
    pub active: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct UpsertRequest {
    /// At most 10,000.
    pub employees: Vec<EmployeeInputView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UpsertResult {
    pub inserted: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Rows of an uploaded CSV that could not be used (the upload is refused when there are any).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rejected_rows: Vec<employee_csv::RowError>,
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EmployeeQuery {
    /// Matches employee id or name, case-insensitively.
    pub search: Option<String>,
    pub active: Option<bool>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

pub type EmployeeList = Page<EmployeeView>;

/// Trims and checks a batch: ids and names present, no id twice, not too many.
fn checked(rows: Vec<EmployeeInputView>) -> Result<Vec<EmployeeInput>, EmployeeError> {
    if rows.len() > MAX_EMPLOYEES_PER_CALL {
        return Err(EmployeeError::TooMany(rows.len()));
    }
    let mut seen = HashSet::new();
    let mut repeated = Vec::new();
    let mut checked = Vec::with_capacity(rows.len());
    for (index, row) in rows.into_iter().enumerate() {
        let employee_id = row.employee_id.trim().to_owned();
        let name = row.name.trim().to_owned();
        if employee_id.is_empty() || name.is_empty() {
            return Err(EmployeeError::MissingField(index));
        }
        if !seen.insert(employee_id.clone()) {
            repeated.push(employee_id.clone());
        }
        let bayzat_emp_id = row
            .bayzat_emp_id
            .map(|b| b.trim().to_owned())
            .filter(|b| !b.is_empty());
        checked.push(EmployeeInput {
            employee_id,
            name,
            bayzat_emp_id,
            active: row.active.unwrap_or(true),
        });
    }
    if !repeated.is_empty() {
        repeated.truncate(10);
        return Err(EmployeeError::RepeatedIds(repeated));
    }
    Ok(checked)
}

/// The company a batch goes to, checked before the batch itself is looked at.
async fn target_company(
    state: &AppState,
    caller: &Caller,
    company_key: &str,
) -> Result<Company, EmployeeError> {
    let mut conn = db::connection(&state.pool).await?;
    Ok(authorized_company(&mut conn, caller, Permission::ManageEmployees, company_key).await?)
}

/// Writes a checked batch with its audit entry and event.
async fn upsert_checked(
    state: &AppState,
    caller: &Caller,
    company: &Company,
    rows: Vec<EmployeeInput>,
    source: &str,
) -> Result<UpsertCounts, EmployeeError> {
    let mut conn = db::connection(&state.pool).await?;
    let counts = conn
        .transaction::<_, EmployeeError, _>(async |conn| {
            let counts = store::upsert(conn, company.id, &rows).await?;
            if counts.inserted + counts.updated > 0 {
                Change {
                    actor: caller.sub(),
                    action: "employees.upserted",
                    company_id: Some(company.id),
                    target: Some(company.slug.clone()),
                    details: json!({ "source": source, "received": rows.len(), "counts": counts }),
                    events: vec![CompanyChange::Employees],
                }
                .record(conn)
                .await?;
            }
            Ok(counts)
        })
        .await?;
    state.relay.wake();
    Ok(counts)
}

fn result(counts: UpsertCounts) -> UpsertResult {
    UpsertResult {
        inserted: counts.inserted,
        updated: counts.updated,
        unchanged: counts.unchanged,
        rejected_rows: Vec::new(),
    }
}

#[utoipa::path(get, path = "/v1/companies/{company}/employees", tag = "employees",
    params(("company" = String, Path, description = "id or slug", example = "advline"), EmployeeQuery),
    responses((status = 200, body = Page<EmployeeView>)), security(("bearer" = [])))]
pub async fn list_employees(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<EmployeeQuery>,
) -> Result<HttpResponse, EmployeeError> {
    let mut conn = db::connection(&state.pool).await?;
    let company = authorized_company(&mut conn, &caller, Permission::ReadDirectory, &path).await?;
    let page = PageQuery {
        page: query.page,
        per_page: query.per_page,
    };
    let (items, total) = store::page(
        &mut conn,
        company.id,
        query.search.as_deref(),
        query.active,
        page.offset(),
        page.limit(),
    )
    .await?;
    Ok(
        HttpResponse::Ok()
            .json(page.of(items.into_iter().map(EmployeeView::from).collect(), total)),
    )
}

#[utoipa::path(put, path = "/v1/companies/{company}/employees", tag = "employees", request_body = UpsertRequest,
    params(("company" = String, Path, description = "id or slug", example = "advline")),
    responses((status = 200, body = UpsertResult), (status = 422, description = "missing fields, repeated ids or more than 10,000")),
    security(("bearer" = [])))]
pub async fn upsert_employees(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<UpsertRequest>,
) -> Result<HttpResponse, EmployeeError> {
    let company = target_company(&state, &caller, &path).await?;
    let rows = checked(body.into_inner().employees)?;
    let counts = upsert_checked(&state, &caller, &company, rows, "json").await?;
    Ok(HttpResponse::Ok().json(result(counts)))
}

#[utoipa::path(post, path = "/v1/companies/{company}/employees.csv", tag = "employees",
    request_body(content = String, content_type = "text/csv", description = "Employee ID, Name[, Bayzat Emp ID][, Active]"),
    params(("company" = String, Path, description = "id or slug", example = "advline")),
    responses((status = 200, body = UpsertResult), (status = 422, description = "unreadable file or rows; nothing stored")),
    security(("bearer" = [])))]
pub async fn upload_employees_csv(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, EmployeeError> {
    let company = target_company(&state, &caller, &path).await?;
    let (rows, rejected_rows) =
        employee_csv::parse(&body).map_err(EmployeeError::UnreadableFile)?;
    if !rejected_rows.is_empty() {
        return Err(EmployeeError::InvalidRows(rejected_rows));
    }
    let views = rows
        .into_iter()
        .map(|r| EmployeeInputView {
            employee_id: r.employee_id,
            name: r.name,
            bayzat_emp_id: r.bayzat_emp_id,
            active: Some(r.active),
        })
        .collect();
    let counts = upsert_checked(&state, &caller, &company, checked(views)?, "csv").await?;
    Ok(HttpResponse::Ok().json(result(counts)))
}

#[utoipa::path(post, path = "/v1/companies/{company}/employees/{employee_id}/deactivate", tag = "employees",
    params(("company" = String, Path, description = "id or slug", example = "advline"), ("employee_id" = String, Path)),
    responses((status = 200, body = EmployeeView), (status = 404)), security(("bearer" = [])))]
pub async fn deactivate_employee(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, EmployeeError> {
    let (company_key, employee_id) = path.into_inner();
    let mut conn = db::connection(&state.pool).await?;
    let employee = conn
        .transaction::<_, EmployeeError, _>(async |conn| {
            let company =
                authorized_company(conn, &caller, Permission::ManageEmployees, &company_key)
                    .await?;
            let employee = store::set_active(conn, company.id, &employee_id, false)
                .await?
                .ok_or(EmployeeError::NoSuchEmployee)?;
            Change {
                actor: caller.sub(),
                action: "employee.deactivated",
                company_id: Some(company.id),
                target: Some(employee.employee_id.clone()),
                details: json!({ "company": company.slug, "employee_id": employee.employee_id }),
                events: vec![CompanyChange::Employees],
            }
            .record(conn)
            .await?;
            Ok(employee)
        })
        .await?;
    state.relay.wake();
    Ok(HttpResponse::Ok().json(EmployeeView::from(employee)))
}
