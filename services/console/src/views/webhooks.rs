//! Webhook endpoints (admins): where the bridge posts its events, their state, the forms to
//! register, enable, disable, rotate and delete them; an endpoint's recent deliveries with a
//! replay each. A signing secret is drawn only on the page answering the action that made it.

use auth::Permission;
use maud::{html, Markup};
use serde_json::Value;

use super::notifications::{event_checkboxes, event_label, strings, EVENT_TYPES};
use super::{action_button, csrf, flash, n, s, unavailable, Ctx, Flash};
use crate::backend::BackendResult;

/// A secret config-service just made, for the endpoint `id`: shown on this one page.
pub struct NewSecret {
    pub id: i64,
    pub secret: String,
}

/// What the register form held when config-service refused it, to try again.
#[derive(Debug, Default)]
pub struct Draft {
    pub url: String,
    pub description: String,
    pub event_types: Vec<String>,
    pub companies: String,
    pub owner_email: String,
}

pub struct ListPage {
    pub endpoints: BackendResult<Value>,
    pub flash: Flash,
    pub secret: Option<NewSecret>,
    pub draft: Draft,
}

pub struct DetailPage {
    pub endpoint: Value,
    pub deliveries: BackendResult<Value>,
    pub flash: Flash,
    pub secret: Option<NewSecret>,
}

fn secret_box(ctx: &Ctx, secret: &Option<NewSecret>) -> Markup {
    let t = |text| ctx.t(text);
    html! {
        @if let Some(secret) = secret {
            div.notice #new-secret role="alert" data-webhook=(secret.id) {
                p { strong { (t("Signing secret")) } ": " code #webhook-secret dir="ltr" { (secret.secret) } }
                p { (t("Copy this secret now: it is not shown again.")) }
            }
        }
    }
}

fn events(ctx: &Ctx, endpoint: &Value) -> Markup {
    html! {
        ul.events {
            @for event_type in strings(&endpoint["event_types"]) {
                li data-event=(event_type) { (ctx.t(event_label(event_type))) " " small dir="ltr" { code { (event_type) } } }
            }
        }
    }
}

fn header(ctx: &Ctx) -> Markup {
    let t = |text| ctx.t(text);
    html! {
        thead { tr {
            th { "URL" } th { (t("Events")) } th { (t("Companies")) } th { (t("State")) } th { (t("Failing since")) } th {}
        } }
    }
}

fn row(ctx: &Ctx, endpoint: &Value) -> Markup {
    let t = |text| ctx.t(text);
    let id = n(&endpoint["id"]);
    let enabled = endpoint["enabled"].as_bool().unwrap_or(false);
    let base = format!("/webhooks/{id}");
    html! {
        tr.webhook data-webhook=(id) data-url=(s(&endpoint["url"])) data-enabled=(enabled) {
            td.url dir="ltr" {
                a href=(base) { (s(&endpoint["url"])) }
                @if let Some(description) = endpoint["description"].as_str().filter(|d| !d.is_empty()) {
                    br; small.description { (description) }
                }
            }
            td.events { (events(ctx, endpoint)) }
            td.companies {
                @match endpoint["companies"].as_array() {
                    None => (t("All companies")),
                    Some(_) => { (strings(&endpoint["companies"]).join(t(", "))) }
                }
            }
            td.state {
                @if enabled {
                    span.badge.active data-state="enabled" { (t("Enabled")) }
                } @else {
                    span.badge.disabled data-state="disabled" { (t("Disabled")) }
                    @if let Some(reason) = endpoint["disabled_reason"].as_str() { br; small.reason { (reason) } }
                }
            }
            td.failing-since { (crate::time::local(&endpoint["failing_since"], ctx.zone)) }
            td.actions {
                @if enabled {
                    (action_button(ctx.session, &format!("{base}/enabled"), t("Disable"), &[("enabled", "false")], "disable-webhook"))
                } @else {
                    (action_button(ctx.session, &format!("{base}/enabled"), t("Enable"), &[("enabled", "true")], "enable-webhook"))
                }
                (action_button(ctx.session, &format!("{base}/rotate"), t("Rotate secret"), &[], "rotate-secret"))
                (action_button(ctx.session, &format!("{base}/delete"), t("Delete"), &[], "delete-webhook"))
                a.deliveries href=(base) { (t("Deliveries")) }
            }
        }
    }
}

pub fn list(ctx: &Ctx, p: &ListPage) -> Markup {
    let t = |text| ctx.t(text);
    let checked: Vec<&str> = if p.draft.event_types.is_empty() {
        Vec::new()
    } else {
        p.draft.event_types.iter().map(String::as_str).collect()
    };
    html! {
        (flash(ctx, &p.flash))
        (secret_box(ctx, &p.secret))
        @match &p.endpoints {
            Err(error) => (unavailable(ctx.lang, t("Webhooks"), error)),
            Ok(list) => {
                @let endpoints = list["endpoints"].as_array().cloned().unwrap_or_default();
                @if endpoints.is_empty() {
                    p #no-webhooks { (t("No webhook endpoint yet.")) }
                } @else {
                    table #webhooks {
                        (header(ctx))
                        tbody { @for endpoint in &endpoints { (row(ctx, endpoint)) } }
                    }
                }
            }
        }
        @if ctx.session.can(Permission::ManageWebhooks) { section #register {
            h2 { (t("Register an endpoint")) }
            form.action #register-webhook method="post" action="/webhooks" {
                (csrf(ctx.session))
                label { "URL " input type="url" name="url" required dir="ltr" value=(p.draft.url) placeholder="https://portal.example.com/webhooks"; }
                label { (t("Description")) " " input type="text" name="description" value=(p.draft.description); }
                fieldset.events {
                    legend { (t("Events")) }
                    (event_checkboxes(ctx, "event_types", &checked))
                }
                label { (t("Companies")) " "
                    input type="text" name="companies" dir="ltr" value=(p.draft.companies) placeholder="acme, globex"
                        title=(t("Company slugs; empty: every company"));
                }
                label { (t("Owner's email")) " " input type="email" name="owner_email" dir="ltr" value=(p.draft.owner_email); }
                button type="submit" data-action="register-webhook" { (t("Register")) }
            }
            small { (t("Company slugs; empty: every company")) }
        } }
    }
}

pub fn detail(ctx: &Ctx, p: &DetailPage) -> Markup {
    let t = |text| ctx.t(text);
    let id = n(&p.endpoint["id"]);
    let back = format!("/webhooks/{id}");
    html! {
        (flash(ctx, &p.flash))
        (secret_box(ctx, &p.secret))
        table #webhooks {
            (header(ctx))
            tbody { (row(ctx, &p.endpoint)) }
        }
        section #recent-deliveries {
            h2 { (t("Recent deliveries")) }
            @match &p.deliveries {
                Err(error) => (unavailable(ctx.lang, t("Recent deliveries"), error)),
                Ok(page) => {
                    @let deliveries = page["deliveries"].as_array().cloned().unwrap_or_default();
                    @if deliveries.is_empty() {
                        p #no-deliveries { (t("Nothing sent yet.")) }
                    } @else {
                        table #deliveries {
                            thead { tr {
                                th { (t("Time")) } th { (t("Event")) } th { (t("State")) } th { (t("Attempts")) }
                                th { (t("Last status")) } th { (t("Last error")) } th {}
                            } }
                            tbody {
                                @for delivery in &deliveries {
                                    (delivery_row(ctx, delivery, id, &back))
                                }
                            }
                        }
                    }
                }
            }
        }
        p { a href="/webhooks" { "← " (t("Webhooks")) } }
    }
}

fn state_label(state: &str) -> &'static str {
    match state {
        "delivered" => "Delivered",
        "failed" => "Failed",
        _ => "Pending",
    }
}

fn delivery_row(ctx: &Ctx, delivery: &Value, endpoint: i64, back: &str) -> Markup {
    let t = |text| ctx.t(text);
    let id = n(&delivery["id"]);
    let state = s(&delivery["state"]);
    let event_type = s(&delivery["type"]);
    let log = delivery["log"].as_array().cloned().unwrap_or_default();
    let last = log.last();
    // Every attempt made, replays included (config-service's count starts again at a replay).
    let attempts = usize::try_from(n(&delivery["attempts"]))
        .unwrap_or(0)
        .max(log.len());
    html! {
        tr.delivery data-delivery=(id) data-state=(state) data-attempts=(attempts) data-event=(event_type) {
            td.created { (crate::time::local(&delivery["created_at"], ctx.zone)) }
            td.type { (t(event_label(event_type))) " " small dir="ltr" { code { (event_type) } } }
            td.state { span class=(format!("badge {state}")) { (t(state_label(state))) } }
            td.attempts { (attempts) }
            td.last-status {
                @if let Some(last) = last {
                    @match last["status"].as_i64() {
                        Some(status) => { "HTTP " (status) },
                        None => "–",
                    }
                    " " small { (n(&last["latency_ms"])) " ms" }
                }
            }
            td.last-error.reason { @if let Some(last) = last { (s(&last["error"])) } }
            td.actions {
                (action_button(ctx.session, &format!("/webhooks/{endpoint}/replay"), t("Replay"), &[("delivery", &id.to_string()), ("back", back)], "replay"))
                @if !log.is_empty() {
                    details.attempts {
                        summary { (t("Attempts")) }
                        ol {
                            @for attempt in &log {
                                li.attempt data-replay=(attempt["replay"].as_bool().unwrap_or(false)) {
                                    (crate::time::local(&attempt["attempted_at"], ctx.zone)) " · "
                                    @match attempt["status"].as_i64() { Some(status) => { "HTTP " (status) }, None => "–" }
                                    " · " (n(&attempt["latency_ms"])) " ms"
                                    @if attempt["replay"].as_bool().unwrap_or(false) { " · " (t("replay")) }
                                    @if let Some(error) = attempt["error"].as_str() { " · " (error) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Every label the webhooks and notifications pages translate through a table rather than as a
/// literal (for the test that every phrase has its Arabic).
pub fn labels() -> Vec<&'static str> {
    let mut labels: Vec<&'static str> = EVENT_TYPES.iter().map(|t| event_label(t)).collect();
    labels.extend(["delivered", "failed", "pending"].map(state_label));
    labels.extend(["English", "Arabic"]);
    labels
}
