use auth::Permission;
use maud::{html, Markup, DOCTYPE};

use super::{csrf, Ctx};
use crate::i18n::Lang;

fn head(lang: Lang, title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            // htmx's own indicator styles would be an inline <style>, which the CSP refuses.
            meta name="htmx-config" content=r#"{"includeIndicatorStyles":false}"#;
            title { (title) " · " (lang.t("Attendance console")) }
            link rel="stylesheet" href="/static/console.css";
            script src="/static/htmx.min.js" defer {}
            script src="/static/console.js" defer {}
        }
    }
}

/// A page of the console for a signed-in user.
pub fn page(ctx: &Ctx, title: &str, content: Markup) -> Markup {
    let lang = ctx.lang;
    let session = ctx.session;
    let other = match lang {
        Lang::En => Lang::Ar,
        Lang::Ar => Lang::En,
    };
    let headers = format!(r#"{{"X-CSRF-Token": "{}"}}"#, session.csrf_token);
    html! {
        (DOCTYPE)
        html lang=(lang.code()) dir=(lang.dir()) {
            (head(lang, title))
            body hx-headers=(headers) data-role=(session.role.as_str()) {
                header.top {
                    strong.brand { (lang.t("Attendance console")) }
                    nav.main {
                        a href="/" { (lang.t("Dashboard")) }
                        @if session.can(Permission::UploadImports) {
                            a href="/imports/new" { (lang.t("Upload")) }
                        }
                        a href="/companies" { (lang.t("Companies")) }
                        @if session.can(Permission::ReadImports) {
                            a href="/clocks" { (lang.t("Clocks")) }
                        }
                        @if session.can(Permission::ManageWebhooks) {
                            a href="/webhooks" { (lang.t("Webhooks")) }
                        }
                    }
                    div.user {
                        span.who { (lang.t("Signed in as")) " " (session.sub) " (" (session.role.as_str()) ")" }
                        form.lang method="post" action="/preferences/language" {
                            (csrf(session))
                            input type="hidden" name="lang" value=(other.code());
                            button type="submit" id="switch-language" lang=(other.code()) {
                                @match other { Lang::Ar => "العربية", Lang::En => "English" }
                            }
                        }
                        form.signout method="post" action="/logout" {
                            (csrf(session))
                            button type="submit" id="sign-out" { (lang.t("Sign out")) }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (content)
                }
            }
        }
    }
}

/// A page without a session: signed out, refused, errors before sign-in.
pub fn bare(lang: Lang, title: &str, message: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.code()) dir=(lang.dir()) {
            (head(lang, title))
            body {
                header.top { strong.brand { (lang.t("Attendance console")) } }
                main {
                    h1 { (title) }
                    p.notice { (message) }
                }
            }
        }
    }
}

/// A page telling a signed-in user what went wrong, with a way back.
pub fn problem(ctx: &Ctx, title: &str, message: &str, back: &str) -> Markup {
    page(
        ctx,
        title,
        html! {
            p.error role="alert" { (message) }
            p { a href=(back) { "←" } }
        },
    )
}
