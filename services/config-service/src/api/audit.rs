use actix_web::{web, HttpResponse};
use auth::{Caller, Permission};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use service_kit::{Page, PageQuery};
use utoipa::IntoParams;

use crate::errors::{AccessError, AuditError};
use crate::store::audit::{self as store, AuditEntry, AuditFilter};
use crate::store::companies::{self, CompanyKey};
use crate::AppState;

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Company id or slug.
    pub company: Option<String>,
    pub actor: Option<String>,
    /// e.g. `bayzat_config.updated`, `import.uploaded`.
    pub action: Option<String>,
    /// From this time on (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Before this time (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = Page<AuditEntry>)), security(("bearer" = [])))]
pub async fn list_audit(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, AuditError> {
    caller
        .require(Permission::ReadAudit)
        .map_err(AccessError::Refused)?;
    let query = query.into_inner();
    let mut conn = db::connection(&state.pool).await?;
    let company_id = match &query.company {
        None => None,
        Some(key) => {
            let company = companies::find(&mut conn, &CompanyKey::parse(key))
                .await?
                .ok_or(AccessError::NoSuchCompany)?;
            caller
                .require_company(&company.slug)
                .map_err(AccessError::Refused)?;
            Some(company.id)
        }
    };
    // A token limited to some companies sees their entries only.
    let company_ids = match (company_id, caller.visible_companies()) {
        (Some(id), _) => Some(vec![id]),
        (None, Some(slugs)) => Some(
            companies::list(&mut conn, Some(slugs))
                .await?
                .into_iter()
                .map(|c| c.id)
                .collect(),
        ),
        (None, None) => None,
    };
    let filter = AuditFilter {
        company_ids,
        actor: query.actor,
        action: query.action,
        from: query.from,
        to: query.to,
    };
    let page = PageQuery {
        page: query.page,
        per_page: query.per_page,
    };
    let (items, total) = store::page(&mut conn, &filter, page.offset(), page.limit()).await?;
    Ok(HttpResponse::Ok().json(page.of(items, total)))
}
