//! Clocks: the terminals that push punches to import-service, approved, assigned to companies
//! and disabled here; a clock's invalid punches.

use super::*;
use crate::views::clocks as clock_views;

pub(super) async fn clocks_page(
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<NoticeQuery>,
) -> Page {
    let clocks = state
        .backend
        .get(&session, Service::Import, "/v1/clocks")
        .await;
    let ctx = Ctx::new(&session, state.timezone);
    Ok(ok(layout::page(
        &ctx,
        ctx.t("Clocks"),
        clock_views::list(&ctx, &clocks, notice(query.notice.as_deref())),
    )))
}

/// How many invalid punches a clock's page lists, newest day first.
const INVALID_SHOWN: u32 = 200;

pub(super) async fn clock_page(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
    query: web::Query<NoticeQuery>,
) -> Page {
    let id = path.into_inner();
    let backend = &state.backend;
    let (clocks, invalid) = futures_util::join!(
        backend.get(&session, Service::Import, "/v1/clocks"),
        backend.get(
            &session,
            Service::Import,
            format!("/v1/clocks/{id}/punches?outcome=invalid&limit={INVALID_SHOWN}")
        ),
    );
    let clocks = match clocks {
        Ok(clocks) => clocks,
        Err(error) => return Ok(refused(&state, &session, &error, "/clocks")),
    };
    let ctx = Ctx::new(&session, state.timezone);
    let Some(clock) = clocks["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| views::n(&c["id"]) == id)
    else {
        return Ok(html_response(
            actix_web::http::StatusCode::NOT_FOUND,
            layout::problem(&ctx, ctx.t("Error"), ctx.t("No such clock."), "/clocks"),
        ));
    };
    let title = format!("{} · {}", ctx.t("Clock"), views::s(&clock["serial_number"]));
    let content = html! {
        @if let Some(notice) = notice(query.notice.as_deref()) { p.notice role="status" { (ctx.t(notice)) } }
        (clock_views::detail(&ctx, clock, &invalid))
    };
    Ok(ok(layout::page(&ctx, &title, content)))
}

/// Where an action on a clock goes back to: the clock's page or the list.
fn back_to(back: Option<&str>) -> String {
    local_path(back, "/clocks")
}

fn with_notice(back: &str, code: &str) -> String {
    let (path, _) = back.split_once('?').unwrap_or((back, ""));
    format!("{path}?notice={code}")
}

pub(super) async fn clock_action(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
    path: web::Path<(i64, String)>,
    form: web::Form<CsrfForm>,
) -> Page {
    session.check_request_csrf(&req, form.csrf.as_deref())?;
    let (id, action) = path.into_inner();
    let (endpoint, done) = match action.as_str() {
        "approve" => ("approve", "clock-approved"),
        "disable" => ("disable", "clock-disabled"),
        _ => return Ok(HttpResponse::NotFound().finish()),
    };
    let back = back_to(form.back.as_deref());
    match state
        .backend
        .post(
            &session,
            Service::Import,
            format!("/v1/clocks/{id}/{endpoint}"),
            &Value::Null,
        )
        .await
    {
        Ok(_) => Ok(see_other(&with_notice(&back, done))),
        Err(error) => Ok(refused(&state, &session, &error, &back)),
    }
}

#[derive(Deserialize)]
pub(super) struct CompaniesForm {
    csrf: Option<String>,
    back: Option<String>,
    /// Company slugs, comma or space separated, in the order a PIN is looked up.
    companies: String,
}

pub(super) async fn assign_companies(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
    path: web::Path<i64>,
    form: web::Form<CompaniesForm>,
) -> Page {
    session.check_request_csrf(&req, form.csrf.as_deref())?;
    let id = path.into_inner();
    let back = back_to(form.back.as_deref());
    let slugs: Vec<&str> = form
        .companies
        .split(|c: char| c == ',' || c == '،' || c.is_whitespace())
        .filter(|slug| !slug.is_empty())
        .collect();
    let request = state
        .backend
        .request(
            &session,
            Method::PATCH,
            Service::Import,
            &format!("/v1/clocks/{id}"),
        )
        .json(&json!({ "companies": slugs }));
    match state.backend.send(Service::Import, request).await {
        Ok(_) => Ok(see_other(&with_notice(&back, "saved"))),
        Err(error) => Ok(refused(&state, &session, &error, &back)),
    }
}
