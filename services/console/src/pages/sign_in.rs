//! Sign-in, sign-out, language, static files.

use super::*;

#[derive(Deserialize)]
pub(super) struct LoginForm {
    token: String,
}

/// The IT portal posts the login token here. The answer sets the cookie and moves on to the
/// dashboard with a same-site navigation, so the SameSite=Strict cookie is sent with it.
///
/// A post from a page of another site than the console and the configured portal is refused
/// before the token is looked at: no other site can sign a browser in (to an account of its
/// choosing), nor use up a token.
pub(super) async fn login(
    state: web::Data<AppState>,
    metrics: web::Data<crate::metrics::Metrics>,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> HttpResponse {
    let header_value = |name: header::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
    };
    let fetch_site = header_value(header::HeaderName::from_static("sec-fetch-site"));
    let host = req.connection_info().host().to_owned();
    if !state
        .session
        .login_allowed_from(header_value(header::ORIGIN), fetch_site, &host)
    {
        metrics.sign_ins.with_label_values(&["other_site"]).inc();
        return html_response(
            actix_web::http::StatusCode::FORBIDDEN,
            layout::bare(
                Lang::En,
                "Sign-in refused",
                "This sign-in did not come from the IT portal; sign in again from the IT portal.",
            ),
        );
    }
    let opened = session::open(&state, &form.token).await;
    let result = match &opened {
        Ok(_) => "ok",
        Err(session::LoginError::Invalid) => "invalid",
        Err(session::LoginError::TooLong) => "too_long",
        Err(session::LoginError::Used) => "used",
        Err(session::LoginError::Storage(_)) => "unavailable",
    };
    metrics.sign_ins.with_label_values(&[result]).inc();
    match opened {
        Ok(opened) => {
            let page = html! {
                (maud::DOCTYPE)
                html lang="en" {
                    head {
                        meta charset="utf-8";
                        meta http-equiv="refresh" content="0;url=/";
                        title { "Signing in" }
                    }
                    body { p { a href="/" { "Continue to the console" } } }
                }
            };
            HttpResponse::Ok()
                .cookie(session::cookie(&req, &state.session, &opened.cookie_value))
                .content_type("text/html; charset=utf-8")
                .body(page.into_string())
        }
        Err(error) => crate::errors::failure_page(&error),
    }
}

pub(super) async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
    form: web::Form<CsrfForm>,
) -> Page {
    session.check_request_csrf(&req, form.csrf.as_deref())?;
    session::close(&state, &session).await?;
    Ok(HttpResponse::SeeOther()
        .cookie(session::removal(&req, &state.session))
        .insert_header((header::LOCATION, "/signed-out"))
        .finish())
}

pub(super) async fn signed_out() -> HttpResponse {
    html_response(
        actix_web::http::StatusCode::OK,
        layout::bare(
            Lang::En,
            "Signed out",
            "You are signed out. Sign in again from the IT portal.",
        ),
    )
}

#[derive(Deserialize)]
pub(super) struct LanguageForm {
    csrf: Option<String>,
    lang: String,
}

pub(super) async fn set_language(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
    form: web::Form<LanguageForm>,
) -> Page {
    session.check_request_csrf(&req, form.csrf.as_deref())?;
    session::set_lang(&state, &session.sub, Lang::from_code(&form.lang)).await?;
    // Back to the page the switch was on (same-origin Referer only).
    let back = req
        .headers()
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|referer| reqwest::Url::parse(referer).ok())
        .filter(|url| {
            Some(url.host_str().unwrap_or(""))
                == Some(req.connection_info().host().split(':').next().unwrap_or(""))
        })
        .map(|url| match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        });
    Ok(see_other(&local_path(back.as_deref(), "/")))
}

pub(super) async fn static_file(path: web::Path<String>) -> HttpResponse {
    let (body, content_type): (&'static str, &str) = match path.as_str() {
        "htmx.min.js" => (
            include_str!("../../static/htmx.min.js"),
            "text/javascript; charset=utf-8",
        ),
        "console.js" => (
            include_str!("../../static/console.js"),
            "text/javascript; charset=utf-8",
        ),
        "console.css" => (
            include_str!("../../static/console.css"),
            "text/css; charset=utf-8",
        ),
        _ => return HttpResponse::NotFound().finish(),
    };
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(body)
}
