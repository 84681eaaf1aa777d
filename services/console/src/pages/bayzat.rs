//! Bayzat configuration.

use super::*;

pub(super) async fn config_data(
    state: &AppState,
    session: &Session,
    slug: &str,
) -> Result<company_views::ConfigPage, BackendError> {
    let backend = &state.backend;
    let slug = segment(slug);
    let company = backend
        .get(session, Service::Config, format!("/v1/companies/{slug}"))
        .await?;
    let audit_path = format!("/v1/audit?company={slug}&per_page=20");
    let audit = async {
        if session.can(Permission::ReadAudit) {
            Some(backend.get(session, Service::Config, &audit_path).await)
        } else {
            None
        }
    };
    let (config, health, audit) = futures_util::join!(
        backend.get(
            session,
            Service::Config,
            format!("/v1/companies/{slug}/bayzat-config")
        ),
        backend.get(
            session,
            Service::Sync,
            format!("/v1/companies/{slug}/sync-health")
        ),
        audit,
    );
    Ok(company_views::ConfigPage {
        company,
        config,
        health,
        audit,
        notice: None,
        error: None,
    })
}

pub(super) fn config_title(ctx: &Ctx, company: &Value) -> String {
    format!(
        "{} · {}",
        ctx.t("Bayzat configuration"),
        views::company_name(ctx.lang, company)
    )
}

pub(super) async fn config_page(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
    query: web::Query<NoticeQuery>,
) -> Page {
    let mut data = match config_data(&state, &session, &path).await {
        Ok(data) => data,
        Err(error) => return Ok(refused(&state, &session, &error, "/companies")),
    };
    data.notice = notice(query.notice.as_deref());
    let ctx = Ctx::new(&session, state.timezone);
    Ok(ok(layout::page(
        &ctx,
        &config_title(&ctx, &data.company),
        company_views::config(&ctx, &data),
    )))
}

#[derive(Deserialize)]
pub(super) struct ConfigForm {
    csrf: Option<String>,
    api_key: Option<String>,
    api_url: Option<String>,
    is_enabled: Option<String>,
    sync_frequency: Option<String>,
    daily_at: Option<String>,
}

pub(super) fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

pub(super) async fn save_config(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
    path: web::Path<String>,
    form: web::Form<ConfigForm>,
) -> Page {
    session.check_request_csrf(&req, form.csrf.as_deref())?;
    let slug = path.into_inner();
    let mut body = json!({
        "is_enabled": form.is_enabled.as_deref() == Some("true"),
    });
    if let Some(key) = non_empty(&form.api_key) {
        body["api_key"] = json!(key);
    }
    if let Some(url) = non_empty(&form.api_url) {
        body["api_url"] = json!(url);
    }
    if let Some(frequency) = non_empty(&form.sync_frequency) {
        body["sync_frequency"] = json!(frequency);
    }
    if let Some(at) = non_empty(&form.daily_at) {
        body["daily_at"] = json!(at);
    }
    let saved = state
        .backend
        .put(
            &session,
            Service::Config,
            &format!("/v1/companies/{}/bayzat-config", segment(&slug)),
            &body,
        )
        .await;
    match saved {
        Ok(_) => Ok(see_other(&format!(
            "/companies/{}/bayzat?notice=saved",
            segment(&slug)
        ))),
        Err(error) => {
            // The page again, with what went wrong (a failed key test shows its result).
            let mut data = match config_data(&state, &session, &slug).await {
                Ok(data) => data,
                Err(_) => return Ok(refused(&state, &session, &error, "/companies")),
            };
            let status = actix_web::http::StatusCode::from_u16(error.status())
                .unwrap_or(actix_web::http::StatusCode::BAD_GATEWAY);
            data.error = Some(error);
            let ctx = Ctx::new(&session, state.timezone);
            Ok(html_response(
                status,
                layout::page(
                    &ctx,
                    &config_title(&ctx, &data.company),
                    company_views::config(&ctx, &data),
                ),
            ))
        }
    }
}

#[derive(Deserialize)]
pub(super) struct TestForm {
    csrf: Option<String>,
    api_key: Option<String>,
    api_url: Option<String>,
}

/// Tests the typed key (or the stored one when the field is empty) and answers with the result,
/// which htmx shows beside the button.
pub(super) async fn test_connection(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
    path: web::Path<String>,
    form: web::Form<TestForm>,
) -> Page {
    session.check_request_csrf(&req, form.csrf.as_deref())?;
    let mut body = json!({});
    if let Some(key) = non_empty(&form.api_key) {
        body["api_key"] = json!(key);
    }
    if let Some(url) = non_empty(&form.api_url) {
        body["api_url"] = json!(url);
    }
    let ctx = Ctx::new(&session, state.timezone);
    let result = state
        .backend
        .post(
            &session,
            Service::Config,
            &format!("/v1/companies/{}/bayzat-config/test", segment(&path)),
            &body,
        )
        .await;
    Ok(ok(match result {
        Ok(result) => company_views::test_result(&ctx, &result),
        Err(error) => {
            html! { p #connection-result.result.failed role="alert" { (error.to_string()) } }
        }
    }))
}
