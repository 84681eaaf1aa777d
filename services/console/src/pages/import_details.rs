//! Import details.

use super::*;

pub(super) async fn import_page(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
    filters: web::Query<imports::RowFilters>,
    notice_query: web::Query<NoticeQuery>,
) -> Page {
    let id = path.into_inner();
    let backend = &state.backend;
    let mut filters = filters.into_inner();
    if filters.company.as_deref().is_none_or(str::is_empty) {
        // A user limited to some companies reads rows one company at a time.
        filters.company = session.companies.as_ref().and_then(|c| c.first().cloned());
    }
    let page = filters.page.unwrap_or(1).max(1);
    let rows_path = format!(
        "/v1/imports/{id}/rows?{}&page={page}&per_page={}",
        filters.query(),
        imports::ROWS_PER_PAGE
    );
    let (import, rows, batches, companies) = futures_util::join!(
        backend.get(&session, Service::Import, format!("/v1/imports/{id}")),
        backend.get(&session, Service::Import, &rows_path),
        backend.get(
            &session,
            Service::Sync,
            format!("/v1/batches?import_id={id}&per_page=100")
        ),
        backend.get(&session, Service::Config, "/v1/companies"),
    );
    let import = match import {
        Ok(import) => import,
        Err(error) => return Ok(refused(&state, &session, &error, "/")),
    };
    let ctx = Ctx::new(&session, state.timezone);
    let details = imports::Details {
        import,
        rows,
        batches,
        companies: companies
            .ok()
            .and_then(|c| c.as_array().cloned())
            .unwrap_or_default(),
        filters,
        notice: notice(notice_query.notice.as_deref()),
    };
    let title = format!("{} #{id}", ctx.t("Import"));
    Ok(ok(layout::page(
        &ctx,
        &title,
        imports::details(&ctx, &details),
    )))
}

pub(super) async fn import_live(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
) -> Page {
    let id = path.into_inner();
    let ctx = Ctx::new(&session, state.timezone);
    let backend = &state.backend;
    let (import, batches, companies) = futures_util::join!(
        backend.get(&session, Service::Import, format!("/v1/imports/{id}")),
        backend.get(
            &session,
            Service::Sync,
            format!("/v1/batches?import_id={id}&per_page=100")
        ),
        backend.get(&session, Service::Config, "/v1/companies"),
    );
    let companies = companies
        .ok()
        .and_then(|c| c.as_array().cloned())
        .unwrap_or_default();
    match import {
        Ok(import) => Ok(ok(imports::live(&ctx, &import, &batches, &companies))),
        Err(error) => Ok(ok(views::unavailable(ctx.lang, ctx.t("Progress"), &error))),
    }
}

/// The rows export as a file: CSV, or an Excel workbook.
#[derive(Debug, Clone, Copy)]
pub(super) enum ExportFormat {
    Csv,
    Xlsx,
}

impl ExportFormat {
    fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Xlsx => "xlsx",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Xlsx => {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
        }
    }
}

pub(super) async fn export_rows_csv(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
    filters: web::Query<imports::RowFilters>,
) -> Page {
    export_rows(
        &state,
        &session,
        *path,
        filters.into_inner(),
        ExportFormat::Csv,
    )
    .await
}

pub(super) async fn export_rows_xlsx(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
    filters: web::Query<imports::RowFilters>,
) -> Page {
    export_rows(
        &state,
        &session,
        *path,
        filters.into_inner(),
        ExportFormat::Xlsx,
    )
    .await
}

/// The import's rows, filtered as on its page, streamed from import-service as they come.
async fn export_rows(
    state: &AppState,
    session: &Session,
    id: i64,
    mut filters: imports::RowFilters,
    format: ExportFormat,
) -> Page {
    if filters.company.as_deref().is_none_or(str::is_empty) {
        filters.company = session.companies.as_ref().and_then(|c| c.first().cloned());
    }
    let extension = format.extension();
    let response = match state
        .backend
        .get_raw(
            session,
            Service::Import,
            &format!("/v1/imports/{id}/rows.{extension}?{}", filters.query()),
        )
        .await
    {
        Ok(response) => response,
        Err(error) => return Ok(refused(state, session, &error, &format!("/imports/{id}"))),
    };
    let mut answer = HttpResponse::Ok();
    answer.content_type(format.content_type());
    answer.insert_header((
        header::CONTENT_DISPOSITION,
        format!("attachment; filename=\"import-{id}-rows.{extension}\""),
    ));
    Ok(answer.streaming(
        response
            .bytes_stream()
            .map(|chunk| chunk.map_err(broken_export)),
    ))
}

/// An export that broke off on the way from import-service: logged with why; the download ends
/// unfinished.
fn broken_export(error: reqwest::Error) -> actix_web::Error {
    tracing::warn!(error = %crate::backend::without_url(&error), "rows export broke off");
    actix_web::error::ErrorBadGateway("the export broke off")
}

#[derive(Deserialize)]
pub(super) struct MapForm {
    csrf: Option<String>,
    department: String,
    company: String,
}

/// "Map to company" in one step: the department becomes one of the company's report names, then
/// the import is reprocessed.
pub(super) async fn map_department(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
    path: web::Path<i64>,
    form: web::Form<MapForm>,
) -> Page {
    session.check_request_csrf(&req, form.csrf.as_deref())?;
    let id = path.into_inner();
    let back = format!("/imports/{id}");
    let backend = &state.backend;
    let added = backend
        .post(
            &session,
            Service::Config,
            &format!("/v1/companies/{}/report-names", segment(&form.company)),
            &json!({ "name": form.department }),
        )
        .await;
    if let Err(error) = added {
        return Ok(refused(&state, &session, &error, &back));
    }
    reprocess_then(&state, &session, id, "mapped").await
}

#[derive(Deserialize)]
pub(super) struct EmployeeForm {
    csrf: Option<String>,
    employee_id: String,
    name: String,
    company: String,
}

/// "Add to directory" in one step: the employee joins the company's directory, then the import
/// is reprocessed.
pub(super) async fn add_employee(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
    path: web::Path<i64>,
    form: web::Form<EmployeeForm>,
) -> Page {
    session.check_request_csrf(&req, form.csrf.as_deref())?;
    let id = path.into_inner();
    let added = state
        .backend
        .put(
            &session,
            Service::Config,
            &format!("/v1/companies/{}/employees", segment(&form.company)),
            &json!({ "employees": [{ "employee_id": form.employee_id, "name": form.name }] }),
        )
        .await;
    if let Err(error) = added {
        return Ok(refused(&state, &session, &error, &format!("/imports/{id}")));
    }
    reprocess_then(&state, &session, id, "added").await
}

pub(super) async fn reprocess_then(
    state: &AppState,
    session: &Session,
    id: i64,
    notice: &str,
) -> Page {
    let back = format!("/imports/{id}");
    match state
        .backend
        .post(
            session,
            Service::Import,
            &format!("/v1/imports/{id}/reprocess"),
            &json!({}),
        )
        .await
    {
        Ok(_) => Ok(see_other(&format!("{back}?notice={notice}"))),
        Err(error) => Ok(refused(state, session, &error, &back)),
    }
}

/// Reprocess, release, cancel and sync-now of one import.
pub(super) async fn import_action(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
    path: web::Path<(i64, String)>,
    form: web::Form<CsrfForm>,
) -> Page {
    session.check_request_csrf(&req, form.csrf.as_deref())?;
    let (id, action) = path.into_inner();
    let (service, api_path, notice) = match action.as_str() {
        "reprocess" => (
            Service::Import,
            format!("/v1/imports/{id}/reprocess"),
            "reprocessed",
        ),
        "release" => (
            Service::Import,
            format!("/v1/imports/{id}/release"),
            "released",
        ),
        "cancel" => (
            Service::Import,
            format!("/v1/imports/{id}/cancel"),
            "cancelled",
        ),
        "sync-now" => (
            Service::Sync,
            format!("/v1/imports/{id}/sync-now"),
            "sync-now",
        ),
        _ => return Ok(HttpResponse::NotFound().finish()),
    };
    let back = format!("/imports/{id}");
    match state
        .backend
        .post(&session, service, &api_path, &json!({}))
        .await
    {
        Ok(_) => Ok(see_other(&format!("{back}?notice={notice}"))),
        Err(error) => Ok(refused(&state, &session, &error, &back)),
    }
}

pub(super) async fn retry_batch(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Page {
    session.check_request_csrf(&req, form.csrf.as_deref())?;
    let back = local_path(form.back.as_deref(), "/");
    match state
        .backend
        .post(
            &session,
            Service::Sync,
            &format!("/v1/batches/{}/retry", segment(&path)),
            &json!({}),
        )
        .await
    {
        Ok(_) => {
            let separator = if back.contains('?') { '&' } else { '?' };
            Ok(see_other(&format!("{back}{separator}notice=retried")))
        }
        Err(error) => Ok(refused(&state, &session, &error, &back)),
    }
}

pub(super) async fn company_sync_now(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Page {
    session.check_request_csrf(&req, form.csrf.as_deref())?;
    match state
        .backend
        .post(
            &session,
            Service::Sync,
            &format!("/v1/companies/{}/sync-now", segment(&path)),
            &json!({}),
        )
        .await
    {
        Ok(_) => Ok(see_other("/?notice=sync-now")),
        Err(error) => Ok(refused(&state, &session, &error, "/")),
    }
}
