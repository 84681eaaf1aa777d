//! A company's notification contacts: who is mailed about its events, in which language, about
//! which event types; the admin's forms to add, change and remove them, and a test mail.

use auth::Permission;
use maud::{html, Markup};
use serde_json::Value;

use super::{action_button, csrf, flash, n, s, unavailable, Ctx, Flash};
use crate::backend::BackendResult;

/// The event types of the bridge, as config-service names them.
pub const EVENT_TYPES: [&str; 8] = domain::BridgeEvent::TYPES;

/// An event type as people read it (the English text is the key of its Arabic).
pub fn event_label(event_type: &str) -> &'static str {
    match event_type {
        "import.completed" => "Import completed",
        "import.failed" => "Import failed",
        "import.needs_attention" => "Import needs attention",
        "company.sync_paused" => "Company sync paused",
        "deliveries.failed" => "Deliveries failed",
        "batch.completed" => "Batch completed",
        "clock.silent" => "Clock silent",
        "clock.pending_approval" => "Clock pending approval",
        _ => "Other event",
    }
}

/// One checkbox per event type, named `name`, those in `checked` ticked.
pub fn event_checkboxes(ctx: &Ctx, name: &str, checked: &[&str]) -> Markup {
    html! {
        @for event_type in EVENT_TYPES {
            label.event {
                input type="checkbox" name=(name) value=(event_type) checked[checked.contains(&event_type)];
                " " (ctx.t(event_label(event_type)))
            }
        }
    }
}

/// The string members of an array.
pub fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

fn language_label(code: &str) -> &'static str {
    match code {
        "ar" => "Arabic",
        _ => "English",
    }
}

fn language_select(ctx: &Ctx, selected: &str) -> Markup {
    html! {
        select name="language" aria-label=(ctx.t("Language")) {
            @for code in ["en", "ar"] {
                option value=(code) selected[selected == code] { (ctx.t(language_label(code))) }
            }
        }
    }
}

/// Everything the notifications page shows.
pub struct NotificationsPage {
    pub company: Value,
    pub contacts: BackendResult<Value>,
    pub flash: Flash,
    /// What a test mail just did (config-service's report).
    pub test: Option<Value>,
    /// The address of a contact that could not be added, to try again.
    pub email: String,
}

pub fn page(ctx: &Ctx, p: &NotificationsPage) -> Markup {
    let t = |text| ctx.t(text);
    let slug = s(&p.company["slug"]);
    let zone = crate::time::zone(s(&p.company["timezone"]), ctx.zone);
    let manage = ctx.session.can_for(Permission::ManageCompanies, slug);
    let base = format!("/companies/{slug}/notifications");
    html! {
        (flash(ctx, &p.flash))
        @if let Some(report) = &p.test { (test_report(ctx, report)) }
        @match &p.contacts {
            Err(error) => (unavailable(ctx.lang, t("Notification contacts"), error)),
            Ok(contacts) => {
                @let items = contacts.as_array().cloned().unwrap_or_default();
                @if items.is_empty() {
                    p #no-contacts { (t("No notification contacts yet.")) }
                } @else {
                    table #contacts {
                        thead { tr {
                            th { (t("Email")) } th { (t("Language")) } th { (t("Events")) } th { (t("Last mailed")) } th {}
                        } }
                        tbody {
                            @for contact in &items {
                                @let id = n(&contact["id"]);
                                @let email = s(&contact["email"]);
                                @let language = s(&contact["language"]);
                                @let events = strings(&contact["event_types"]);
                                tr.contact data-contact=(id) data-email=(email) data-language=(language) {
                                    td.email dir="ltr" { (email) }
                                    @if manage {
                                        td.settings colspan="2" {
                                            form.action.inline.contact-settings method="post" action=(format!("{base}/{id}")) {
                                                (csrf(ctx.session))
                                                (language_select(ctx, language))
                                                (event_checkboxes(ctx, "event_types", &events))
                                                button type="submit" data-action="save-contact" { (t("Save")) }
                                            }
                                        }
                                    } @else {
                                        td.language { (t(language_label(language))) }
                                        td.events {
                                            ul.events {
                                                @for event_type in &events {
                                                    li data-event=(event_type) { (t(event_label(event_type))) }
                                                }
                                            }
                                        }
                                    }
                                    td.last-mailed {
                                        @if contact["last_mailed_at"].is_null() { (t("never")) } @else { (crate::time::local(&contact["last_mailed_at"], zone)) }
                                        @if let Some(error) = contact["last_error"].as_str() { br; span.issue { (error) } }
                                    }
                                    td.actions {
                                        @if manage {
                                            (action_button(ctx.session, &format!("{base}/{id}/remove"), t("Remove"), &[], "remove-contact"))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if manage {
            section #send-test {
                (action_button(ctx.session, &format!("{base}/test"), t("Send test"), &[], "send-test"))
                small { (t("Mails every contact of the company a test now.")) }
            }
            section #add-contact {
                h2 { (t("Add a contact")) }
                form.action method="post" action=(base) {
                    (csrf(ctx.session))
                    label { (t("Email")) " " input type="email" name="email" required dir="ltr" value=(p.email); }
                    label { (t("Language")) " " (language_select(ctx, "en")) }
                    fieldset.events {
                        legend { (t("Events")) }
                        (event_checkboxes(ctx, "event_types", &EVENT_TYPES))
                    }
                    button type="submit" data-action="add-contact" { (t("Add")) }
                }
            }
        }
        p { a href="/companies" { "← " (t("Companies")) } }
    }
}

/// Who a test mail went to, and who it did not reach with the reason.
fn test_report(ctx: &Ctx, report: &Value) -> Markup {
    let t = |text| ctx.t(text);
    let sent = report["sent"].as_array().cloned().unwrap_or_default();
    let failed = report["failed"].as_array().cloned().unwrap_or_default();
    html! {
        div #test-result role="status" {
            @if !sent.is_empty() {
                p.notice.sent {
                    (t("Test mail sent to")) ": "
                    @for (i, outcome) in sent.iter().enumerate() {
                        @if i > 0 { (t(", ")) }
                        span.sent-to dir="ltr" data-email=(s(&outcome["email"])) { (s(&outcome["email"])) }
                        " (" (t(language_label(s(&outcome["language"])))) ")"
                    }
                }
            }
            @for outcome in &failed {
                p.error.failed data-email=(s(&outcome["email"])) {
                    (t("Test mail not sent to")) " " span dir="ltr" { (s(&outcome["email"])) } ": " (s(&outcome["error"]))
                }
            }
        }
    }
}
