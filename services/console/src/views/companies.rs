//! Companies and their report names, the employee directory, and a company's Bayzat
//! configuration.

use auth::Permission;
use maud::{html, Markup};
use serde_json::Value;

use super::{action_button, company_name, csrf, n, pager, s, unavailable, Ctx};
use crate::backend::{BackendError, BackendResult};

pub fn list(ctx: &Ctx, companies: &[Value], notice: Option<&'static str>) -> Markup {
    let t = |text| ctx.t(text);
    html! {
        @if let Some(notice) = notice { p.notice role="status" { (ctx.t(notice)) } }
        table #companies {
            thead { tr {
                th { (t("Slug")) } th { (t("Name")) } th { (t("Time zone")) } th { (t("Report names")) } th {}
            } }
            tbody {
                @for company in companies {
                    @let slug = s(&company["slug"]);
                    tr data-company=(slug) {
                        td { (slug) }
                        td { (company_name(ctx.lang, company)) }
                        td { (s(&company["timezone"])) }
                        td {
                            ul.names {
                                @for name in company["fingerprint_report_names"].as_array().into_iter().flatten() {
                                    li data-name=(s(&name["name"])) {
                                        (s(&name["name"]))
                                        @if ctx.session.can_for(Permission::ManageReportNames, slug) {
                                            (action_button(ctx.session, &format!("/companies/{slug}/report-names/{}/remove", n(&name["id"])), t("Remove"), &[], "remove-report-name"))
                                        }
                                    }
                                }
                            }
                            @if ctx.session.can_for(Permission::ManageReportNames, slug) {
                                form.action.inline method="post" action=(format!("/companies/{slug}/report-names")) {
                                    (csrf(ctx.session))
                                    input type="text" name="name" required aria-label=(t("Report names"));
                                    button type="submit" data-action="add-report-name" { (t("Add")) }
                                }
                            }
                        }
                        td.links {
                            a href=(format!("/companies/{slug}/employees")) { (t("Employees")) } " · "
                            a href=(format!("/companies/{slug}/bayzat")) { (t("Bayzat")) } " · "
                            a.notifications href=(format!("/companies/{slug}/notifications")) { (t("Notifications")) }
                        }
                    }
                }
            }
        }
        @if ctx.session.can(Permission::ManageCompanies) && ctx.session.companies.is_none() {
            section {
                h2 { (t("Add company")) }
                form.action method="post" action="/companies" {
                    (csrf(ctx.session))
                    label { (t("Slug")) " " input type="text" name="slug" required pattern="[a-z0-9-]+"; }
                    label { (t("Name (English)")) " " input type="text" name="name_en" required; }
                    label { (t("Name (Arabic)")) " " input type="text" name="name_ar" dir="rtl"; }
                    label { (t("Time zone")) " " input type="text" name="timezone" value="Asia/Dubai"; }
                    button type="submit" data-action="create-company" { (t("Add company")) }
                }
            }
        }
    }
}

pub fn employees(
    ctx: &Ctx,
    company: &Value,
    page: &BackendResult<Value>,
    search: &str,
    current: i64,
    notice: Option<String>,
) -> Markup {
    let t = |text| ctx.t(text);
    let slug = s(&company["slug"]);
    let base = format!("/companies/{slug}/employees");
    let query = crate::backend::query([("search", Some(search))]);
    html! {
        @if let Some(notice) = notice { p.notice role="status" { (notice) } }
        form.filters method="get" action=(base) {
            input type="search" name="search" value=(search) aria-label=(t("Search"));
            button type="submit" id="search" { (t("Search")) }
        }
        @match page {
            Err(error) => (unavailable(ctx.lang, t("Employees"), error)),
            Ok(page) => {
                table #employees {
                    thead { tr { th { (t("Employee")) } th { (t("Name")) } th { (t("Bayzat id")) } th { (t("Active")) } } }
                    tbody {
                        @for e in page["items"].as_array().into_iter().flatten() {
                            tr data-employee=(s(&e["employee_id"])) {
                                td { (s(&e["employee_id"])) }
                                td { (s(&e["name"])) }
                                td { (s(&e["bayzat_emp_id"])) }
                                td { @if e["active"].as_bool().unwrap_or(false) { (t("yes")) } @else { (t("no")) } }
                            }
                        }
                    }
                }
                (pager(ctx.lang, &base, &query, current, 50, n(&page["total"])))
            }
        }
        @if ctx.session.can_for(Permission::ManageEmployees, slug) {
            section {
                h2 { (t("Upload employees (CSV)")) }
                form.action method="post" action=(format!("/companies/{slug}/employees.csv")) enctype="multipart/form-data" {
                    (csrf(ctx.session))
                    input type="file" name="file" required accept=".csv,text/csv";
                    button type="submit" data-action="upload-employees" { (t("Upload")) }
                }
                small { "Employee ID, Name[, Bayzat Emp ID][, Active]" }
            }
        }
    }
}

/// Everything the Bayzat configuration page shows.
pub struct ConfigPage {
    pub company: Value,
    pub config: BackendResult<Value>,
    pub health: BackendResult<Value>,
    pub audit: Option<BackendResult<Value>>,
    pub notice: Option<&'static str>,
    pub error: Option<BackendError>,
}

pub fn config(ctx: &Ctx, p: &ConfigPage) -> Markup {
    let t = |text| ctx.t(text);
    let slug = s(&p.company["slug"]);
    let zone = crate::time::zone(s(&p.company["timezone"]), ctx.zone);
    let admin = ctx.session.can_for(Permission::ManageBayzatConfig, slug);
    html! {
        @if let Some(notice) = p.notice { p.notice role="status" { (ctx.t(notice)) } }
        @if let Some(error) = &p.error {
            div.error role="alert" #save-error {
                p { (error.to_string()) }
                @if let Some(test) = error.body().map(|b| &b["connection_test"]).filter(|v| !v.is_null()) {
                    (test_result(ctx, test))
                }
            }
        }
        @match &p.config {
            Err(error) => (unavailable(ctx.lang, t("Bayzat configuration"), error)),
            Ok(config) => {
                section #sync-status {
                    dl.facts {
                        dt { (t("Last sync")) } dd #last-sync {
                            @if config["last_sync_at"].is_null() { (t("never")) } @else { (crate::time::local(&config["last_sync_at"], zone)) }
                        }
                        dt { (t("State")) } dd #sync-state {
                            @match &p.health {
                                Ok(h) => { (s(&h["state"])) @if let Some(reason) = h["state_reason"].as_str() { " (" (reason) ")" } }
                                Err(_) => "–",
                            }
                        }
                        dt { (t("Stored key")) } dd #key-mask { (config["api_key"].as_str().unwrap_or(t("none"))) }
                    }
                }
                @if admin {
                    form #config.action method="post" action=(format!("/companies/{slug}/bayzat")) {
                        (csrf(ctx.session))
                        label { (t("API key")) " "
                            input #api-key type="password" name="api_key" autocomplete="off" placeholder=(config["api_key"].as_str().unwrap_or(""));
                            button type="button" #toggle-key data-show=(t("Show")) data-hide=(t("Hide")) aria-controls="api-key" { (t("Show")) }
                        }
                        small { (t("Leave empty to keep the stored key.")) }
                        label { (t("API URL")) " " input #api-url type="url" name="api_url" value=(s(&config["api_url"])) required; }
                        label { input type="checkbox" name="is_enabled" value="true" checked[config["is_enabled"].as_bool().unwrap_or(true)]; " " (t("Enabled")) }
                        label { (t("Sync frequency")) " " select name="sync_frequency" {
                            @for f in ["manual", "hourly", "daily"] {
                                option value=(f) selected[s(&config["sync_frequency"]) == f] { (ctx.lang.t(match f { "hourly" => "hourly", "daily" => "daily", _ => "manual" })) }
                            }
                        } }
                        label { (t("Daily at")) " " input type="time" name="daily_at" value=(s(&config["daily_at"]).get(..5).unwrap_or("")); }
                        div.buttons {
                            button type="submit" #save data-action="save-config" { (t("Save")) }
                            button type="button" #test-connection data-action="test-connection"
                                hx-post=(format!("/companies/{slug}/bayzat/test")) hx-include="#api-key, #api-url" hx-target="#test-result" { (t("Test connection")) }
                        }
                        div #test-result aria-live="polite" {}
                    }
                } @else {
                    dl.facts {
                        dt { (t("API URL")) } dd { (s(&config["api_url"])) }
                        dt { (t("Enabled")) } dd { @if config["is_enabled"].as_bool().unwrap_or(false) { (t("yes")) } @else { (t("no")) } }
                        dt { (t("Sync frequency")) } dd { (s(&config["sync_frequency"])) " " (s(&config["daily_at"])) }
                    }
                }
            }
        }
        @if let Some(audit) = &p.audit {
            section #audit {
                h2 { (t("Audit history")) }
                @match audit {
                    Err(error) => (unavailable(ctx.lang, t("Audit history"), error)),
                    Ok(page) => {
                        table {
                            thead { tr { th { (t("When")) } th { (t("Who")) } th { (t("What")) } th {} } }
                            tbody {
                                @for entry in page["items"].as_array().into_iter().flatten() {
                                    tr data-action=(s(&entry["action"])) {
                                        td { (crate::time::local(&entry["at"], zone)) }
                                        td { (s(&entry["actor"])) }
                                        td { (s(&entry["action"])) }
                                        td { small.details { (audit_details(&entry["details"])) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// An audit entry's details in one line; the services mask secrets before they store them.
fn audit_details(details: &Value) -> String {
    let text = details.to_string();
    if text.chars().count() > 240 {
        format!("{}…", text.chars().take(240).collect::<String>())
    } else {
        text
    }
}

/// A connection test's result, inline.
pub fn test_result(ctx: &Ctx, result: &Value) -> Markup {
    let kind = s(&result["result"]);
    let (class, message) = match kind {
        "ok" => (
            "ok",
            ctx.t("The connection works: Bayzat accepted the key."),
        ),
        "invalid_key" => ("failed", ctx.t("Bayzat refused the key.")),
        "unreachable" => ("failed", ctx.t("Bayzat could not be reached.")),
        _ => ("failed", ctx.t("Bayzat answered unexpectedly.")),
    };
    html! {
        p #connection-result class=(format!("result {class}")) data-result=(kind) role="status" {
            (message)
            @if let Some(cause) = result["cause"].as_str() { " " small { (cause) } }
            @if let Some(status) = result["status"].as_i64() { " " small { "HTTP " (status) " " (s(&result["body_excerpt"])) } }
        }
    }
}
