//! Webhook endpoints (admins): list, register, enable and disable, rotate the secret, delete; an
//! endpoint's recent deliveries and their replay. A secret config-service answers with is drawn
//! on the page answering that one request and kept nowhere.

use super::*;
use crate::views::webhooks::{self as webhook_views, DetailPage, Draft, ListPage, NewSecret};
use crate::views::Flash;

/// Deliveries an endpoint's page lists, newest first.
const DELIVERIES_SHOWN: u32 = 50;

async fn render_list(
    state: &AppState,
    session: &Session,
    flash: Flash,
    secret: Option<NewSecret>,
    draft: Draft,
) -> HttpResponse {
    let endpoints = state
        .backend
        .get(session, Service::Config, "/v1/webhooks")
        .await;
    if let Err(error) = &endpoints {
        // Not an admin (or config-service away): the refusal, without the forms.
        return refused(state, session, error, "/");
    }
    let status = flash
        .error
        .as_ref()
        .and_then(|error| actix_web::http::StatusCode::from_u16(error.status()).ok())
        .unwrap_or(actix_web::http::StatusCode::OK);
    let ctx = Ctx::new(session, state.timezone);
    let page = ListPage {
        endpoints,
        flash,
        secret,
        draft,
    };
    html_response(
        status,
        layout::page(&ctx, ctx.t("Webhooks"), webhook_views::list(&ctx, &page)),
    )
}

async fn render_detail(
    state: &AppState,
    session: &Session,
    id: i64,
    flash: Flash,
    secret: Option<NewSecret>,
) -> HttpResponse {
    let backend = &state.backend;
    let (endpoint, deliveries) = futures_util::join!(
        backend.get(session, Service::Config, format!("/v1/webhooks/{id}")),
        backend.get(
            session,
            Service::Config,
            format!("/v1/webhooks/{id}/deliveries?limit={DELIVERIES_SHOWN}")
        ),
    );
    let endpoint = match endpoint {
        Ok(endpoint) => endpoint,
        Err(error) => return refused(state, session, &error, "/webhooks"),
    };
    let ctx = Ctx::new(session, state.timezone);
    let status = flash
        .error
        .as_ref()
        .and_then(|error| actix_web::http::StatusCode::from_u16(error.status()).ok())
        .unwrap_or(actix_web::http::StatusCode::OK);
    let title = format!("{} · {}", ctx.t("Webhook"), views::s(&endpoint["url"]));
    let page = DetailPage {
        endpoint,
        deliveries,
        flash,
        secret,
    };
    html_response(
        status,
        layout::page(&ctx, &title, webhook_views::detail(&ctx, &page)),
    )
}

pub(super) async fn webhooks_page(
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<NoticeQuery>,
) -> Page {
    let flash = Flash::notice(notice(query.notice.as_deref()));
    Ok(render_list(&state, &session, flash, None, Draft::default()).await)
}

pub(super) async fn webhook_page(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
    query: web::Query<NoticeQuery>,
) -> Page {
    let flash = Flash::notice(notice(query.notice.as_deref()));
    Ok(render_detail(&state, &session, path.into_inner(), flash, None).await)
}

/// Slugs, comma or space separated.
fn slugs(text: &str) -> Vec<&str> {
    text.split(|c: char| c == ',' || c == '،' || c.is_whitespace())
        .filter(|slug| !slug.is_empty())
        .collect()
}

/// Registers an endpoint; the answer is the list with its secret, this once.
pub(super) async fn register_webhook(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
    body: web::Bytes,
) -> Page {
    let form = Fields::parse(&body);
    session.check_request_csrf(&req, form.one("csrf"))?;
    let draft = Draft {
        url: form.one("url").unwrap_or("").trim().to_owned(),
        description: form.one("description").unwrap_or("").trim().to_owned(),
        event_types: form
            .all("event_types")
            .into_iter()
            .map(str::to_owned)
            .collect(),
        companies: form.one("companies").unwrap_or("").trim().to_owned(),
        owner_email: form.one("owner_email").unwrap_or("").trim().to_owned(),
    };
    let mut request = json!({
        "url": draft.url,
        "description": draft.description,
        "event_types": draft.event_types,
    });
    let companies = slugs(&draft.companies);
    if !companies.is_empty() {
        request["companies"] = json!(companies);
    }
    if !draft.owner_email.is_empty() {
        request["owner_email"] = json!(draft.owner_email);
    }
    match state
        .backend
        .post(&session, Service::Config, "/v1/webhooks", &request)
        .await
    {
        Ok(created) => {
            let secret = NewSecret {
                id: views::n(&created["id"]),
                secret: views::s(&created["secret"]).to_owned(),
            };
            let flash = Flash::notice(Some("Endpoint registered."));
            Ok(render_list(&state, &session, flash, Some(secret), Draft::default()).await)
        }
        Err(error) => Ok(render_list(&state, &session, Flash::error(error), None, draft).await),
    }
}

/// Where an action on an endpoint goes back to: its page or the list.
fn back_to(back: Option<&str>) -> String {
    local_path(back, "/webhooks")
}

#[derive(Deserialize)]
pub(super) struct EnabledForm {
    csrf: Option<String>,
    enabled: Option<String>,
}

pub(super) async fn set_webhook_enabled(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
    path: web::Path<i64>,
    form: web::Form<EnabledForm>,
) -> Page {
    session.check_request_csrf(&req, form.csrf.as_deref())?;
    let id = path.into_inner();
    let enabled = form.enabled.as_deref() == Some("true");
    match state
        .backend
        .patch(
            &session,
            Service::Config,
            format!("/v1/webhooks/{id}"),
            &json!({ "enabled": enabled }),
        )
        .await
    {
        Ok(_) => {
            let code = if enabled {
                "webhook-enabled"
            } else {
                "webhook-disabled"
            };
            Ok(see_other(&format!("/webhooks/{id}?notice={code}")))
        }
        Err(error) => Ok(render_detail(&state, &session, id, Flash::error(error), None).await),
    }
}

/// A new secret; the answer is the endpoint's page with it, this once.
pub(super) async fn rotate_secret(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
    path: web::Path<i64>,
    form: web::Form<CsrfForm>,
) -> Page {
    session.check_request_csrf(&req, form.csrf.as_deref())?;
    let id = path.into_inner();
    match state
        .backend
        .post(
            &session,
            Service::Config,
            format!("/v1/webhooks/{id}/secret/rotate"),
            &Value::Null,
        )
        .await
    {
        Ok(rotated) => {
            let secret = NewSecret {
                id,
                secret: views::s(&rotated["secret"]).to_owned(),
            };
            let flash = Flash::notice(Some(
                "Secret rotated; the previous one keeps signing for a day.",
            ));
            Ok(render_detail(&state, &session, id, flash, Some(secret)).await)
        }
        Err(error) => Ok(render_detail(&state, &session, id, Flash::error(error), None).await),
    }
}

pub(super) async fn delete_webhook(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
    path: web::Path<i64>,
    form: web::Form<CsrfForm>,
) -> Page {
    session.check_request_csrf(&req, form.csrf.as_deref())?;
    let id = path.into_inner();
    match state
        .backend
        .delete(&session, Service::Config, format!("/v1/webhooks/{id}"))
        .await
    {
        Ok(_) => Ok(see_other("/webhooks?notice=webhook-deleted")),
        Err(error) => Ok(render_list(
            &state,
            &session,
            Flash::error(error),
            None,
            Draft::default(),
        )
        .await),
    }
}

#[derive(Deserialize)]
pub(super) struct ReplayForm {
    csrf: Option<String>,
    back: Option<String>,
    delivery: Option<String>,
}

pub(super) async fn replay_delivery(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
    path: web::Path<i64>,
    form: web::Form<ReplayForm>,
) -> Page {
    session.check_request_csrf(&req, form.csrf.as_deref())?;
    let id = path.into_inner();
    let back = back_to(form.back.as_deref());
    let Some(delivery) = form.delivery.as_deref().and_then(|d| d.parse::<i64>().ok()) else {
        return Ok(HttpResponse::BadRequest().finish());
    };
    match state
        .backend
        .post(
            &session,
            Service::Config,
            format!("/v1/webhooks/{id}/deliveries/{delivery}/replay"),
            &Value::Null,
        )
        .await
    {
        Ok(_) => {
            let (path, _) = back.split_once('?').unwrap_or((&back, ""));
            Ok(see_other(&format!("{path}?notice=replayed")))
        }
        Err(error) => Ok(render_detail(&state, &session, id, Flash::error(error), None).await),
    }
}
