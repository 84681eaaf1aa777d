use std::str::FromStr;

use actix_web::{web, HttpResponse};
use auth::{Caller, Permission};
use chrono::{DateTime, Utc};
use diesel_async::AsyncConnection;
use domain::{normalize_report_name, validate_slug, CompanyChange};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::authorized_company;
use crate::changes::Change;
use crate::errors::{AccessError, CompanyError};
use crate::store::companies::{self as store, Company, CompanyChanges, NewCompany};
use crate::store::report_names::{self, ReportName};
use crate::store::Conn;
use crate::AppState;
use db::is_unique_violation;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReportNameView {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CompanyView {
    pub id: i64,
    pub slug: String,
    pub name_en: String,
    pub name_ar: Option<String>,
    /// IANA time zone of the company's clocks (punch times are local to it).
    pub timezone: String,
    pub fingerprint_report_names: Vec<ReportNameView>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl CompanyView {
    fn new(company: Company, names: &[ReportName]) -> Self {
        let fingerprint_report_names = names
            .iter()
            .filter(|n| n.company_id == company.id)
            .map(|n| ReportNameView {
                id: n.id,
                name: n.name.clone(),
            })
            .collect();
        Self {
            id: company.id,
            slug: company.slug,
            name_en: company.name_en,
            name_ar: company.name_ar,
            timezone: company.timezone,
            fingerprint_report_names,
            created_at: company.created_at,
            updated_at: company.updated_at,
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewCompanyRequest {
    pub slug: String,
    pub name_en: String,
    pub name_ar: Option<String>,
    /// IANA time zone; Asia/Dubai when absent.
    pub timezone: Option<String>,
    #[serde(default)]
    pub fingerprint_report_names: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct UpdateCompanyRequest {
    pub name_en: Option<String>,
    /// An empty string clears it.
    pub name_ar: Option<String>,
    pub timezone: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewReportName {
    /// The department name exactly as fingerprint reports spell it, e.g. "AdvLine".
    pub name: String,
}

fn valid_timezone(timezone: &str) -> Result<(), CompanyError> {
    chrono_tz::Tz::from_str(timezone)
        .map(drop)
        .map_err(|_| CompanyError::InvalidTimezone(timezone.to_owned()))
}

fn required_text(field: &'static str, value: &str) -> Result<String, CompanyError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(CompanyError::MissingField(field));
    }
    Ok(value.to_owned())
}

/// Adds a report name to a company, refusing one another company has (409, naming that company
/// only to a token that may see it).
async fn add_name(
    conn: &mut Conn,
    caller: &Caller,
    company: &Company,
    name: &str,
) -> Result<(ReportName, bool), CompanyError> {
    let name = required_text("name", name)?;
    let normalized = normalize_report_name(&name);
    if let Some(existing) = report_names::find_normalized(conn, &normalized).await? {
        if existing.company_id == company.id {
            return Ok((existing, false));
        }
        let owner = store::find(conn, &store::CompanyKey::Id(existing.company_id))
            .await?
            .filter(|c| caller.can_access_company(&c.slug));
        return Err(CompanyError::ReportNameTaken {
            name: existing.name,
            owner: owner.map(|c| format!("{} ({})", c.name_en, c.slug)),
        });
    }
    match report_names::insert(conn, company.id, &name, &normalized).await {
        Ok(inserted) => Ok((inserted, true)),
        // Two requests adding the same name at once: the one that lost is told so. Its
        // transaction is over, so it cannot look up where the name went.
        Err(error) if is_unique_violation(&error) => {
            Err(CompanyError::ReportNameAddedMeanwhile(name))
        }
        Err(error) => Err(error.into()),
    }
}

#[utoipa::path(get, path = "/v1/companies", tag = "companies",
    responses((status = 200, body = [CompanyView]), (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub async fn list_companies(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, CompanyError> {
    caller
        .require(Permission::ReadCompanies)
        .map_err(AccessError::Refused)?;
    let mut conn = db::connection(&state.pool).await?;
    let companies = store::list(&mut conn, caller.visible_companies()).await?;
    let ids: Vec<i64> = companies.iter().map(|c| c.id).collect();
    let names = report_names::for_companies(&mut conn, &ids).await?;
    let views: Vec<CompanyView> = companies
        .into_iter()
        .map(|c| CompanyView::new(c, &names))
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

#[utoipa::path(post, path = "/v1/companies", tag = "companies", request_body = NewCompanyRequest,
    responses((status = 201, body = CompanyView), (status = 403, description = "forbidden: the role; forbidden_company: a slug outside the token's companies"),
              (status = 409, description = "slug or report name taken (the other company is named only to a token that may see it)"),
              (status = 422, description = "invalid slug (an all-digit one too: paths read digits as an id), time zone or name")),
    security(("bearer" = [])))]
pub async fn create_company(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<NewCompanyRequest>,
) -> Result<HttpResponse, CompanyError> {
    caller
        .require(Permission::ManageCompanies)
        .map_err(AccessError::Refused)?;
    let body = body.into_inner();
    let slug = body.slug.trim().to_owned();
    validate_slug(&slug).map_err(CompanyError::InvalidSlug)?;
    if slug.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CompanyError::AllDigitSlug(slug));
    }
    if !caller.can_access_company(&slug) {
        return Err(CompanyError::SlugOutsideToken);
    }
    let name_en = required_text("name_en", &body.name_en)?;
    let name_ar = body
        .name_ar
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    let timezone = body.timezone.unwrap_or_else(|| "Asia/Dubai".to_owned());
    valid_timezone(&timezone)?;

    let mut conn = db::connection(&state.pool).await?;
    let view = conn
        .transaction::<_, CompanyError, _>(async |conn| {
            let new = NewCompany {
                slug: &slug,
                name_en: &name_en,
                name_ar: name_ar.as_deref(),
                timezone: &timezone,
            };
            let company = match store::insert(conn, &new).await {
                Err(e) if is_unique_violation(&e) => {
                    return Err(CompanyError::SlugTaken(slug.clone()));
                }
                other => other?,
            };
            let mut names = Vec::new();
            for name in &body.fingerprint_report_names {
                names.push(add_name(conn, &caller, &company, name).await?.0);
            }
            let view = CompanyView::new(company, &names);
            Change {
                actor: caller.sub(),
                action: "company.created",
                company_id: Some(view.id),
                target: Some(view.slug.clone()),
                details: json!({ "after": &view }),
                events: vec![CompanyChange::Created, CompanyChange::Mapping],
            }
            .record(conn)
            .await?;
            Ok(view)
        })
        .await?;
    state.relay.wake();
    Ok(HttpResponse::Created().json(view))
}

#[utoipa::path(get, path = "/v1/companies/{company}", tag = "companies",
    params(("company" = String, Path, description = "id or slug", example = "advline")),
    responses((status = 200, body = CompanyView), (status = 404)), security(("bearer" = [])))]
pub async fn get_company(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, CompanyError> {
    let mut conn = db::connection(&state.pool).await?;
    let company = authorized_company(&mut conn, &caller, Permission::ReadCompanies, &path).await?;
    let names = report_names::for_companies(&mut conn, &[company.id]).await?;
    Ok(HttpResponse::Ok().json(CompanyView::new(company, &names)))
}

#[utoipa::path(patch, path = "/v1/companies/{company}", tag = "companies", request_body = UpdateCompanyRequest,
    params(("company" = String, Path, description = "id or slug", example = "advline")),
    responses((status = 200, body = CompanyView), (status = 404), (status = 422)), security(("bearer" = [])))]
pub async fn update_company(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<UpdateCompanyRequest>,
) -> Result<HttpResponse, CompanyError> {
    let body = body.into_inner();
    let changes = CompanyChanges {
        name_en: body
            .name_en
            .as_deref()
            .map(|n| required_text("name_en", n))
            .transpose()?,
        name_ar: body
            .name_ar
            .map(|n| Some(n.trim().to_owned()).filter(|n| !n.is_empty())),
        timezone: body
            .timezone
            .map(|tz| valid_timezone(&tz).map(|()| tz))
            .transpose()?,
    };
    let mut conn = db::connection(&state.pool).await?;
    let view = conn
        .transaction::<_, CompanyError, _>(async |conn| {
            let before =
                authorized_company(conn, &caller, Permission::ManageCompanies, &path).await?;
            let names = report_names::for_companies(conn, &[before.id]).await?;
            if changes.name_en.is_none() && changes.name_ar.is_none() && changes.timezone.is_none()
            {
                return Ok(CompanyView::new(before, &names));
            }
            let after = store::update(conn, before.id, &changes).await?;
            Change {
                actor: caller.sub(),
                action: "company.updated",
                company_id: Some(after.id),
                target: Some(after.slug.clone()),
                details: json!({ "before": &before, "after": &after }),
                events: vec![CompanyChange::Profile],
            }
            .record(conn)
            .await?;
            Ok(CompanyView::new(after, &names))
        })
        .await?;
    state.relay.wake();
    Ok(HttpResponse::Ok().json(view))
}

#[utoipa::path(post, path = "/v1/companies/{company}/report-names", tag = "companies", request_body = NewReportName,
    params(("company" = String, Path, description = "id or slug", example = "advline")),
    responses((status = 201, body = ReportNameView, description = "added"), (status = 200, body = ReportNameView, description = "the company already had it"),
              (status = 409, description = "another company has this name"),
              (status = 422, description = "missing_field: the name is empty")),
    security(("bearer" = [])))]
pub async fn add_report_name(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<NewReportName>,
) -> Result<HttpResponse, CompanyError> {
    let mut conn = db::connection(&state.pool).await?;
    let (name, added) = conn
        .transaction::<_, CompanyError, _>(async |conn| {
            let company =
                authorized_company(conn, &caller, Permission::ManageReportNames, &path).await?;
            let (name, added) = add_name(conn, &caller, &company, &body.name).await?;
            if added {
                Change {
                    actor: caller.sub(),
                    action: "report_name.added",
                    company_id: Some(company.id),
                    target: Some(name.name.clone()),
                    details: json!({ "company": company.slug, "name": name.name }),
                    events: vec![CompanyChange::Mapping],
                }
                .record(conn)
                .await?;
            }
            Ok((name, added))
        })
        .await?;
    state.relay.wake();
    let view = ReportNameView {
        id: name.id,
        name: name.name,
    };
    Ok(if added {
        HttpResponse::Created().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

#[utoipa::path(delete, path = "/v1/companies/{company}/report-names/{id}", tag = "companies",
    params(("company" = String, Path, description = "id or slug", example = "advline"), ("id" = i64, Path)),
    responses((status = 204), (status = 404)), security(("bearer" = [])))]
pub async fn remove_report_name(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, CompanyError> {
    let (company_key, id) = path.into_inner();
    let mut conn = db::connection(&state.pool).await?;
    conn.transaction::<_, CompanyError, _>(async |conn| {
        let company =
            authorized_company(conn, &caller, Permission::ManageReportNames, &company_key).await?;
        let removed = report_names::delete(conn, company.id, id)
            .await?
            .ok_or(CompanyError::NoSuchReportName)?;
        Change {
            actor: caller.sub(),
            action: "report_name.removed",
            company_id: Some(company.id),
            target: Some(removed.name.clone()),
            details: json!({ "company": company.slug, "name": removed.name }),
            events: vec![CompanyChange::Mapping],
        }
        .record(conn)
        .await
        .map_err(CompanyError::from)
    })
    .await?;
    state.relay.wake();
    Ok(HttpResponse::NoContent().finish())
}
