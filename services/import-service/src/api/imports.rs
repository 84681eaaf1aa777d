//! Listing imports and reading one.

use actix_web::{web, HttpResponse};
use auth::{Caller, Permission};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use service_kit::{Page, PageQuery, Problem};
use utoipa::IntoParams;

use super::{view, ImportStatus, ImportView};
use crate::access::Access;
use crate::store::imports::{self, Import, ImportFilter};
use crate::AppState;

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportListQuery {
    /// pending, processing, completed or failed.
    #[param(value_type = Option<ImportStatus>)]
    pub status: Option<String>,
    pub uploaded_by: Option<String>,
    /// Uploaded at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Uploaded before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

#[utoipa::path(get, path = "/v1/imports", tag = "imports", params(ImportListQuery),
    responses((status = 200, body = Page<Import>, description = "a page of imports, newest first; a token limited to some companies sees those with rows of its companies or uploaded by its user, with only its companies' counts")), security(("bearer" = [])))]
pub async fn list_imports(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ImportListQuery>,
) -> Result<HttpResponse, Problem> {
    caller.require(Permission::ReadImports)?;
    let access = Access::of(&state, &caller).await?;
    let query = query.into_inner();
    let page = PageQuery {
        page: query.page,
        per_page: query.per_page,
    };
    let filter = ImportFilter {
        status: query.status,
        uploaded_by: query.uploaded_by,
        from: query.from,
        to: query.to,
        visible_to: access.visibility(),
    };
    let mut conn = db::connection(&state.pool).await?;
    let (items, total) = imports::page(&mut conn, &filter, page.offset(), page.limit()).await?;
    drop(conn);
    let mut shown = Vec::with_capacity(items.len());
    for import in items {
        shown.push(access.listed(&state, import).await?);
    }
    Ok(HttpResponse::Ok().json(page.of(shown, total)))
}

#[utoipa::path(get, path = "/v1/imports/{id}", tag = "imports", params(("id" = i64, Path, description = "import id", example = 1)),
    responses((status = 200, body = ImportView), (status = 404, description = "not_found: no such import, or none the token may see")), security(("bearer" = [])))]
pub async fn get_import(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    caller.require(Permission::ReadImports)?;
    let access = Access::of(&state, &caller).await?;
    let import = access.load(&state, *path).await?;
    Ok(HttpResponse::Ok().json(view(&state, &access, import, false).await?))
}
