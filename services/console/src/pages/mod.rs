//! The console's routes: each reads the session, asks the services (as the user), and renders a
//! view. Every POST checks the session's CSRF token before it does anything.

mod bayzat;
mod clocks;
mod companies;
mod import_details;
mod notifications;
mod overview;
mod sign_in;
mod upload;
mod webhooks;

use bayzat::*;
use clocks::*;
use companies::*;
use import_details::*;
use notifications::*;
use overview::*;
use sign_in::*;
use upload::*;
use webhooks::*;

use actix_multipart::{Field, Multipart};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse};
use auth::Permission;
use futures_util::StreamExt;
use maud::{html, Markup};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::backend::{query, segment, BackendError, Service};
use crate::errors::PageError;
use crate::i18n::Lang;
use crate::session::{self, Session};
use crate::views::{self, companies as company_views, dashboard, imports, layout, Ctx};
use crate::AppState;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/", web::get().to(dashboard_page))
        .route("/login", web::post().to(login))
        .route("/logout", web::post().to(logout))
        .route("/signed-out", web::get().to(signed_out))
        .route("/preferences/language", web::post().to(set_language))
        .route("/static/{name}", web::get().to(static_file))
        .route("/imports/new", web::get().to(upload_page))
        .route("/imports", web::post().to(upload))
        .route("/imports/{id}", web::get().to(import_page))
        .route("/imports/{id}/live", web::get().to(import_live))
        .route("/imports/{id}/rows.csv", web::get().to(export_rows_csv))
        .route("/imports/{id}/rows.xlsx", web::get().to(export_rows_xlsx))
        .route(
            "/imports/{id}/map-department",
            web::post().to(map_department),
        )
        .route("/imports/{id}/add-employee", web::post().to(add_employee))
        .route("/imports/{id}/{action}", web::post().to(import_action))
        .route("/batches/{id}/retry", web::post().to(retry_batch))
        .route("/clocks", web::get().to(clocks_page))
        .route("/clocks/{id}", web::get().to(clock_page))
        .route("/clocks/{id}/companies", web::post().to(assign_companies))
        .route("/clocks/{id}/{action}", web::post().to(clock_action))
        .route("/companies", web::get().to(companies_page))
        .route("/companies", web::post().to(create_company))
        .route(
            "/companies/{slug}/sync-now",
            web::post().to(company_sync_now),
        )
        .route(
            "/companies/{slug}/report-names",
            web::post().to(add_report_name),
        )
        .route(
            "/companies/{slug}/report-names/{id}/remove",
            web::post().to(remove_report_name),
        )
        .route("/companies/{slug}/employees", web::get().to(employees_page))
        .route(
            "/companies/{slug}/employees.csv",
            web::post().to(upload_employees),
        )
        .route(
            "/companies/{slug}/notifications",
            web::get().to(notifications_page),
        )
        .route(
            "/companies/{slug}/notifications",
            web::post().to(add_contact),
        )
        .route(
            "/companies/{slug}/notifications/test",
            web::post().to(send_test),
        )
        .route(
            "/companies/{slug}/notifications/{id}",
            web::post().to(update_contact),
        )
        .route(
            "/companies/{slug}/notifications/{id}/remove",
            web::post().to(remove_contact),
        )
        .route("/webhooks", web::get().to(webhooks_page))
        .route("/webhooks", web::post().to(register_webhook))
        .route("/webhooks/{id}", web::get().to(webhook_page))
        .route(
            "/webhooks/{id}/enabled",
            web::post().to(set_webhook_enabled),
        )
        .route("/webhooks/{id}/rotate", web::post().to(rotate_secret))
        .route("/webhooks/{id}/delete", web::post().to(delete_webhook))
        .route("/webhooks/{id}/replay", web::post().to(replay_delivery))
        .route("/companies/{slug}/bayzat", web::get().to(config_page))
        .route("/companies/{slug}/bayzat", web::post().to(save_config))
        .route(
            "/companies/{slug}/bayzat/test",
            web::post().to(test_connection),
        );
}

/// Headers on every answer: nothing framed, nothing sniffed, scripts and styles only from the
/// console itself, no Referer to other sites, and no page kept in a shared cache.
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let is_static = req.path().starts_with("/static/");
    let mut response = next.call(req).await?;
    let headers = response.headers_mut();
    let set = |headers: &mut header::HeaderMap, name: &'static str, value: &'static str| {
        headers.insert(
            header::HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    };
    set(
        headers,
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    );
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "x-frame-options", "DENY");
    set(headers, "referrer-policy", "same-origin");
    if !is_static {
        set(headers, "cache-control", "no-store");
    }
    Ok(response)
}

type Page = Result<HttpResponse, PageError>;

fn html_response(status: actix_web::http::StatusCode, markup: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(markup.into_string())
}

fn ok(markup: Markup) -> HttpResponse {
    html_response(actix_web::http::StatusCode::OK, markup)
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.to_owned()))
        .finish()
}

/// A service's refusal as a page, with the service's status.
fn refused(state: &AppState, session: &Session, error: &BackendError, back: &str) -> HttpResponse {
    let ctx = Ctx::new(session, state.timezone);
    let status = actix_web::http::StatusCode::from_u16(error.status())
        .unwrap_or(actix_web::http::StatusCode::BAD_GATEWAY);
    html_response(
        status,
        layout::problem(&ctx, ctx.t("Error"), &error.to_string(), back),
    )
}

/// A path inside the console to go back to, or `fallback`: one that starts with a single `/` and
/// holds only visible ASCII without backslashes. Anything else could leave the console (`//host`,
/// `/\host`, a scheme) or be read so by a browser, which drops tabs and newlines from a URL
/// (`/<TAB>/host` is `//host` to it).
fn local_path(candidate: Option<&str>, fallback: &str) -> String {
    match candidate {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && path.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') =>
        {
            path.to_owned()
        }
        _ => fallback.to_owned(),
    }
}

/// What a notice code in a redirect stands for; unknown codes show nothing, so no text can be
/// put on a page through a link.
fn notice(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "saved" => "Saved.",
        "mapped" => "Mapped and reprocessed.",
        "added" => "Added and reprocessed.",
        "reprocessed" => "Reprocessed.",
        "released" => "Released.",
        "cancelled" => "Import cancelled.",
        "sync-now" => "Queued for sync now.",
        "retried" => "Queued for retry.",
        "names" => "Report names changed.",
        "created" => "Company added.",
        "clock-approved" => "Clock approved; its held punches are queued.",
        "clock-disabled" => "Clock disabled; its uploads are refused.",
        "contact-added" => "Contact added.",
        "contact-removed" => "Contact removed.",
        "webhook-enabled" => "Endpoint enabled.",
        "webhook-disabled" => "Endpoint disabled.",
        "webhook-deleted" => "Endpoint deleted.",
        "replayed" => "Replay queued.",
        _ => return None,
    })
}

#[derive(Deserialize)]
struct NoticeQuery {
    notice: Option<String>,
}

/// A form that only carries its CSRF token.
#[derive(Deserialize)]
struct CsrfForm {
    csrf: Option<String>,
    back: Option<String>,
}

/// A urlencoded form whose fields may repeat (a group of checkboxes), which `web::Form` cannot
/// read into a list.
struct Fields(Vec<(String, String)>);

impl Fields {
    fn parse(body: &[u8]) -> Self {
        Self(form_urlencoded::parse(body).into_owned().collect())
    }

    /// The first value of `name`.
    fn one(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.as_str())
    }

    /// Every value of `name`, in order.
    fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(field, _)| field == name)
            .map(|(_, value)| value.as_str())
            .collect()
    }
}

/// Reads a small text field of a multipart form.
async fn text_field(field: &mut Field) -> Result<String, PageError> {
    let mut value = Vec::new();
    while let Some(chunk) = field.next().await {
        let chunk = chunk?;
        if value.len() + chunk.len() > 4096 {
            return Err(PageError::TooLarge {
                what: "a form field",
                limit: "4 KB",
            });
        }
        value.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&value).into_owned())
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_same_origin_paths_are_followed_back() {
        let kept = ["/", "/imports/12?page=2", "/companies/advline#names"];
        for path in kept {
            assert_eq!(local_path(Some(path), "/"), path);
        }
        let refused = [
            "//evil.example/x",
            "/\\evil.example",
            "\\\\evil.example",
            "https://evil.example/",
            "javascript:alert(1)",
            "evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "/ /evil.example",
            "/imports\u{0}",
            "/caf\u{e9}",
            "",
        ];
        for path in refused {
            assert_eq!(local_path(Some(path), "/home"), "/home", "{path:?}");
        }
        assert_eq!(local_path(None, "/home"), "/home");
    }
}
