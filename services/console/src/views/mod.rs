//! The pages' HTML (maud escapes every value). Views only render what the handlers fetched;
//! an action is drawn only when the user's role and companies allow it, so nobody sees a button
//! the services would refuse.

pub mod clocks;
pub mod companies;
pub mod dashboard;
pub mod imports;
pub mod layout;
pub mod notifications;
pub mod webhooks;

use maud::{html, Markup};
use serde_json::Value;

use crate::backend::BackendError;
use crate::i18n::Lang;
use crate::session::Session;

/// What every page knows about its reader.
pub struct Ctx<'a> {
    pub session: &'a Session,
    pub lang: Lang,
    pub zone: chrono_tz::Tz,
}

impl<'a> Ctx<'a> {
    pub fn new(session: &'a Session, zone: chrono_tz::Tz) -> Self {
        Self {
            session,
            lang: session.lang,
            zone,
        }
    }

    pub fn t(&self, text: &'static str) -> &'static str {
        self.lang.t(text)
    }
}

/// The hidden CSRF field every form carries.
pub fn csrf(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf_token); }
}

/// A one-button form that posts to `action`, with `fields` as hidden inputs.
pub fn action_button(
    session: &Session,
    action: &str,
    label: &str,
    fields: &[(&str, &str)],
    name: &str,
) -> Markup {
    html! {
        form.action method="post" action=(action) {
            (csrf(session))
            @for (field, value) in fields {
                input type="hidden" name=(field) value=(value);
            }
            button type="submit" data-action=(name) { (label) }
        }
    }
}

/// A string member, or "".
pub fn s(value: &Value) -> &str {
    value.as_str().unwrap_or("")
}

/// A number member, or 0.
pub fn n(value: &Value) -> i64 {
    value.as_i64().unwrap_or(0)
}

/// A box saying a service could not answer; the page goes on without that part.
pub fn unavailable(lang: Lang, what: &str, error: &crate::backend::BackendError) -> Markup {
    html! {
        p.error role="alert" { (lang.t("Could not load")) " " (what) ": " (error.to_string()) }
    }
}

/// Previous / next links for a list of `total` items, `per_page` a page, keeping `query`.
pub fn pager(lang: Lang, base: &str, query: &str, page: i64, per_page: i64, total: i64) -> Markup {
    let pages = ((total + per_page - 1) / per_page).max(1);
    let link = |p: i64| {
        if query.is_empty() {
            format!("{base}?page={p}")
        } else {
            format!("{base}?{query}&page={p}")
        }
    };
    html! {
        nav.pager aria-label="pages" {
            @if page > 1 { a rel="prev" href=(link(page - 1)) { (lang.t("Previous")) } }
            span.page-of { (lang.t("Page")) " " (page) " " (lang.t("of")) " " (pages) " (" (total) ")" }
            @if page < pages { a rel="next" href=(link(page + 1)) { (lang.t("Next")) } }
        }
    }
}

/// A company's display name in the reader's language.
pub fn company_name(lang: Lang, company: &Value) -> String {
    match (lang, company["name_ar"].as_str()) {
        (Lang::Ar, Some(name)) if !name.is_empty() => name.to_owned(),
        _ => s(&company["name_en"]).to_owned(),
    }
}

/// What an action just did, shown at the top of the page that answers it: a notice, or the
/// service's refusal in its own words.
#[derive(Debug, Default)]
pub struct Flash {
    pub notice: Option<&'static str>,
    pub error: Option<BackendError>,
}

impl Flash {
    pub fn notice(notice: Option<&'static str>) -> Self {
        Self {
            notice,
            error: None,
        }
    }

    pub fn error(error: BackendError) -> Self {
        Self {
            notice: None,
            error: Some(error),
        }
    }
}

pub fn flash(ctx: &Ctx, flash: &Flash) -> Markup {
    html! {
        @if let Some(notice) = flash.notice { p.notice role="status" { (ctx.t(notice)) } }
        @if let Some(error) = &flash.error {
            p.error #action-error role="alert" data-code=(error.code()) { (error.to_string()) }
        }
    }
}
