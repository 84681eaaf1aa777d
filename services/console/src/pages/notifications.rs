//! A company's notification contacts: list, add, change, remove, and a test mail to them.

use super::*;
use crate::views::notifications::{self as notification_views, NotificationsPage};
use crate::views::Flash;

fn base(slug: &str) -> String {
    format!("/companies/{}/notifications", segment(slug))
}

fn api(slug: &str) -> String {
    format!("/v1/companies/{}/notification-contacts", segment(slug))
}

/// The page, with what the action just did; `None` when the company cannot be read.
async fn render(
    state: &AppState,
    session: &Session,
    slug: &str,
    flash: Flash,
    test: Option<Value>,
    email: String,
) -> HttpResponse {
    let backend = &state.backend;
    let (company, contacts) = futures_util::join!(
        backend.get(
            session,
            Service::Config,
            format!("/v1/companies/{}", segment(slug))
        ),
        backend.get(session, Service::Config, api(slug)),
    );
    let company = match company {
        Ok(company) => company,
        Err(error) => return refused(state, session, &error, "/companies"),
    };
    let ctx = Ctx::new(session, state.timezone);
    let status = flash
        .error
        .as_ref()
        .and_then(|error| actix_web::http::StatusCode::from_u16(error.status()).ok())
        .unwrap_or(actix_web::http::StatusCode::OK);
    let title = format!(
        "{} · {}",
        ctx.t("Notifications"),
        views::company_name(ctx.lang, &company)
    );
    let page = NotificationsPage {
        company,
        contacts,
        flash,
        test,
        email,
    };
    html_response(
        status,
        layout::page(&ctx, &title, notification_views::page(&ctx, &page)),
    )
}

pub(super) async fn notifications_page(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
    query: web::Query<NoticeQuery>,
) -> Page {
    let flash = Flash::notice(notice(query.notice.as_deref()));
    Ok(render(&state, &session, &path, flash, None, String::new()).await)
}

pub(super) async fn add_contact(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
    path: web::Path<String>,
    body: web::Bytes,
) -> Page {
    let form = Fields::parse(&body);
    session.check_request_csrf(&req, form.one("csrf"))?;
    let slug = path.into_inner();
    let email = form.one("email").unwrap_or("").trim().to_owned();
    let request = json!({
        "email": email,
        "language": form.one("language").unwrap_or("en"),
        "event_types": form.all("event_types"),
    });
    match state
        .backend
        .post(&session, Service::Config, api(&slug), &request)
        .await
    {
        Ok(_) => Ok(see_other(&format!("{}?notice=contact-added", base(&slug)))),
        Err(error) => Ok(render(&state, &session, &slug, Flash::error(error), None, email).await),
    }
}

pub(super) async fn update_contact(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
    path: web::Path<(String, i64)>,
    body: web::Bytes,
) -> Page {
    let form = Fields::parse(&body);
    session.check_request_csrf(&req, form.one("csrf"))?;
    let (slug, id) = path.into_inner();
    let mut request = json!({ "event_types": form.all("event_types") });
    if let Some(language) = form.one("language") {
        request["language"] = json!(language);
    }
    match state
        .backend
        .patch(
            &session,
            Service::Config,
            format!("{}/{id}", api(&slug)),
            &request,
        )
        .await
    {
        Ok(_) => Ok(see_other(&format!("{}?notice=saved", base(&slug)))),
        Err(error) => Ok(render(
            &state,
            &session,
            &slug,
            Flash::error(error),
            None,
            String::new(),
        )
        .await),
    }
}

pub(super) async fn remove_contact(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
    path: web::Path<(String, i64)>,
    form: web::Form<CsrfForm>,
) -> Page {
    session.check_request_csrf(&req, form.csrf.as_deref())?;
    let (slug, id) = path.into_inner();
    match state
        .backend
        .delete(&session, Service::Config, format!("{}/{id}", api(&slug)))
        .await
    {
        Ok(_) => Ok(see_other(&format!(
            "{}?notice=contact-removed",
            base(&slug)
        ))),
        Err(error) => Ok(render(
            &state,
            &session,
            &slug,
            Flash::error(error),
            None,
            String::new(),
        )
        .await),
    }
}

/// Mails the company's contacts a test now; the page shows who got it, or why nobody did.
pub(super) async fn send_test(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Page {
    session.check_request_csrf(&req, form.csrf.as_deref())?;
    let slug = path.into_inner();
    let result = state
        .backend
        .post(
            &session,
            Service::Config,
            format!("{}/test", api(&slug)),
            &Value::Null,
        )
        .await;
    let (flash, report) = match result {
        Ok(report) => (Flash::default(), Some(report)),
        Err(error) => (Flash::error(error), None),
    };
    Ok(render(&state, &session, &slug, flash, report, String::new()).await)
}
