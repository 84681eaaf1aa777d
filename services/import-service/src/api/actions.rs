//! An operator's actions on an import: release a held one, cancel one, reprocess one.

use actix_web::{web, HttpResponse};
use auth::{Caller, Permission};
use diesel_async::AsyncConnection;
use serde_json::json;
use service_kit::Problem;

use super::{view, ImportView};
use crate::access::Access;
use crate::errors::{AccessError, ActionError, DirectoryFailure};
use crate::queueing;
use crate::store::imports::{self, Import};
use crate::store::punches;
use crate::AppState;

/// The import as it is now, after an action.
async fn load(state: &AppState, id: i64) -> Result<Import, AccessError> {
    let mut conn = db::connection(&state.pool).await?;
    imports::find(&mut conn, id)
        .await?
        .ok_or(AccessError::NoSuchImport)
}

/// The import an operator's action (release, cancel, reprocess) is about: the caller must manage
/// imports and may act on every company the import touches, and a cancelled import takes no
/// action (`when_cancelled` says why).
async fn actionable_import(
    state: &AppState,
    caller: &Caller,
    id: i64,
    when_cancelled: &'static str,
) -> Result<(Import, Access), Problem> {
    caller.require(Permission::ManageImports)?;
    let access = Access::of(state, caller).await?;
    let import = access.load(state, id).await?;
    let mut conn = db::connection(&state.pool).await?;
    access.require_whole(&mut conn, &import).await?;
    if import.cancelled_at.is_some() {
        return Err(ActionError::Cancelled(when_cancelled).into());
    }
    Ok((import, access))
}

#[utoipa::path(post, path = "/v1/imports/{id}/release", tag = "imports", params(("id" = i64, Path, description = "import id", example = 1)),
    responses((status = 200, body = ImportView), (status = 403, description = "forbidden: the role; forbidden_company: the import concerns companies the token does not cover"), (status = 404, description = "no such import, or none the token may see"), (status = 409, description = "not_held, import_cancelled, or clock_not_approved: the import holds the punches of a clock not approved yet (approve the clock instead)")), security(("bearer" = [])))]
pub async fn release(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    let (import, access) = actionable_import(
        &state,
        &caller,
        *path,
        "a cancelled import cannot be released",
    )
    .await?;
    if import.held_reason.is_none() {
        return Err(ActionError::NotHeld.into());
    }
    let mut conn = db::connection(&state.pool).await?;
    if let Some(serial) = crate::store::clocks::unapproved_clock_of(&mut conn, import.id)
        .await
        .map_err(ActionError::from)?
    {
        return Err(ActionError::ClockNotApproved(serial).into());
    }
    drop(conn);
    let queued = crate::release::release(&state.database_url, import.id, caller.sub())
        .await
        .map_err(ActionError::Release)?;
    tracing::info!(import = import.id, companies = queued.len(), "released");
    state.relay.wake();
    answer_with_view(&state, &access, import.id).await
}

#[utoipa::path(post, path = "/v1/imports/{id}/cancel", tag = "imports", params(("id" = i64, Path, description = "import id", example = 1)),
    responses((status = 200, body = ImportView), (status = 403, description = "forbidden: the role; forbidden_company: the import concerns companies the token does not cover"), (status = 404, description = "no such import, or none the token may see"), (status = 409, description = "already cancelled")), security(("bearer" = [])))]
pub async fn cancel(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    let (import, access) =
        actionable_import(&state, &caller, *path, "the import is already cancelled").await?;
    let mut conn = db::connection(&state.pool).await?;
    conn.transaction::<_, ActionError, _>(async |conn| {
        imports::set_cancelled(conn, import.id).await?;
        imports::set_held(conn, import.id, None).await?;
        let companies = punches::cancel(conn, import.id).await?;
        queueing::announce_cancel(conn, import.id, &companies).await?;
        queueing::audit(
            conn,
            caller.sub(),
            "import.cancelled",
            None,
            format!("import {}", import.id),
            json!({ "companies": companies }),
        )
        .await?;
        Ok(())
    })
    .await?;
    state.relay.wake();
    answer_with_view(&state, &access, import.id).await
}

#[utoipa::path(post, path = "/v1/imports/{id}/reprocess", tag = "imports", params(("id" = i64, Path, description = "import id", example = 1)),
    responses((status = 200, body = ImportView), (status = 403, description = "forbidden: the role; forbidden_company: the import concerns companies the token does not cover"), (status = 404, description = "no such import, or none the token may see"), (status = 409, description = "cancelled, or its rows' raw values are gone")), security(("bearer" = [])))]
pub async fn reprocess(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    let (import, access) = actionable_import(
        &state,
        &caller,
        *path,
        "a cancelled import cannot be reprocessed",
    )
    .await?;
    let mut conn = db::connection(&state.pool).await?;
    // A clock's day import has no file: its rows are validated again against the clock's
    // companies, and queued unless the clock still waits for approval.
    if let Some(clock) = crate::store::clocks::clock_of_import(&mut conn, import.id)
        .await
        .map_err(ActionError::from)?
    {
        drop(conn);
        let afterwards = if clock.state == crate::store::clocks::APPROVED {
            crate::clocks::intake::Afterwards::Queue {
                actor: caller.sub(),
            }
        } else {
            crate::clocks::intake::Afterwards::StayHeld
        };
        crate::clocks::intake::revalidate(&state, &clock, import.id, afterwards)
            .await
            .map_err(crate::clocks::admin::intake_problem)?;
        return answer_with_view(&state, &access, import.id).await;
    }
    drop(conn);
    let snapshot = state
        .directory
        .current()
        .await
        .map_err(DirectoryFailure::from)?;
    let import = crate::reprocess::reprocess(
        &state.pool,
        &state.database_url,
        &snapshot,
        &import,
        caller.sub(),
    )
    .await?;
    state.relay.wake();
    Ok(HttpResponse::Ok().json(view(&state, &access, import, false).await?))
}

/// The answer to an action: the import as it is now, as the caller may see it.
async fn answer_with_view(
    state: &AppState,
    access: &Access,
    id: i64,
) -> Result<HttpResponse, Problem> {
    let import = load(state, id).await?;
    Ok(HttpResponse::Ok().json(view(state, access, import, false).await?))
}
