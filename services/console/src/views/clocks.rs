//! The fingerprint clocks that push to import-service: their state, companies and health, the
//! admin's actions on them, and a clock's invalid punches with their reasons.

use auth::Permission;
use maud::{html, Markup};
use serde_json::Value;

use super::imports::issues;
use super::{action_button, csrf, n, s, unavailable, Ctx};
use crate::backend::BackendResult;

/// Whether the reader may change the clock, as import-service decides: the role, and a reader
/// limited to some companies only for a clock all of whose (some) companies it covers. Nobody
/// sees a button the service would refuse.
pub fn manages(ctx: &Ctx, clock: &Value) -> bool {
    if !ctx.session.can(Permission::ManageCompanies) {
        return false;
    }
    match &ctx.session.companies {
        None => true,
        Some(_) => {
            let companies = slugs(clock);
            !companies.is_empty() && companies.iter().all(|slug| ctx.session.sees(slug))
        }
    }
}

fn slugs(clock: &Value) -> Vec<&str> {
    clock["companies"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

fn state_badge(ctx: &Ctx, clock: &Value) -> Markup {
    let state = s(&clock["state"]);
    let label = match state {
        "approved" => "approved",
        "disabled" => "disabled",
        _ => "pending",
    };
    html! {
        span class=(format!("badge clock-{label}")) data-state=(state) { (ctx.t(label)) }
        @if clock["silent"].as_bool().unwrap_or(false) {
            " " span.badge.silent data-silent="true" { (ctx.t("silent")) }
        }
    }
}

pub fn list(ctx: &Ctx, clocks: &BackendResult<Value>, notice: Option<&'static str>) -> Markup {
    let t = |text| ctx.t(text);
    html! {
        @if let Some(notice) = notice { p.notice role="status" { (ctx.t(notice)) } }
        @match clocks {
            Err(error) => (unavailable(ctx.lang, t("Clocks"), error)),
            Ok(clocks) => {
                @let items = clocks["items"].as_array().cloned().unwrap_or_default();
                @if items.is_empty() {
                    p { (t("No clock has called yet.")) }
                } @else {
                    table #clocks {
                        thead { tr {
                            th { (t("Serial number")) } th { (t("State")) } th { (t("Companies")) } th { (t("Time zone")) }
                            th { (t("Last seen")) } th { (t("Last punch")) } th { (t("Punches today")) } th {}
                        } }
                        tbody {
                            @for clock in &items {
                                (row(ctx, clock))
                            }
                        }
                    }
                }
            }
        }
    }
}

fn row(ctx: &Ctx, clock: &Value) -> Markup {
    let t = |text| ctx.t(text);
    let id = n(&clock["id"]);
    let zone = crate::time::zone(s(&clock["time_zone"]), ctx.zone);
    let state = s(&clock["state"]);
    let companies = slugs(clock).join(", ");
    html! {
        tr.clock data-clock=(s(&clock["serial_number"])) data-state=(state) {
            td.serial { a href=(format!("/clocks/{id}")) { (s(&clock["serial_number"])) } }
            td.state { (state_badge(ctx, clock)) }
            td.companies {
                @if manages(ctx, clock) {
                    form.action.inline method="post" action=(format!("/clocks/{id}/companies")) {
                        (csrf(ctx.session))
                        input type="text" name="companies" dir="ltr" value=(companies) placeholder="acme, globex"
                            aria-label=(t("Companies")) title=(t("Company slugs, in the order a PIN is looked up"));
                        button type="submit" data-action="assign-companies" { (t("Save")) }
                    }
                } @else {
                    (companies)
                }
            }
            td.time-zone { (s(&clock["time_zone"])) }
            td.last-seen { (crate::time::local(&clock["last_seen_at"], zone)) }
            td.last-punch { (crate::time::local(&clock["last_punch_at"], zone)) }
            td.punches-today { (n(&clock["punches_today"])) }
            td.actions {
                @if manages(ctx, clock) {
                    @if state != "approved" {
                        (action_button(ctx.session, &format!("/clocks/{id}/approve"), t("Approve"), &[], "approve-clock"))
                    }
                    @if state != "disabled" {
                        (action_button(ctx.session, &format!("/clocks/{id}/disable"), t("Disable"), &[], "disable-clock"))
                    }
                }
                a href=(format!("/clocks/{id}")) { (t("Invalid punches")) }
            }
        }
    }
}

/// One clock: its row, and the invalid punches of its uploads with their reasons.
pub fn detail(ctx: &Ctx, clock: &Value, invalid: &BackendResult<Value>) -> Markup {
    let t = |text| ctx.t(text);
    html! {
        table #clocks {
            thead { tr {
                th { (t("Serial number")) } th { (t("State")) } th { (t("Companies")) } th { (t("Time zone")) }
                th { (t("Last seen")) } th { (t("Last punch")) } th { (t("Punches today")) } th {}
            } }
            tbody { (row(ctx, clock)) }
        }
        section #invalid-punches {
            h2 { (t("Invalid punches")) }
            @match invalid {
                Err(error) => (unavailable(ctx.lang, t("Invalid punches"), error)),
                Ok(page) => {
                    @let rows = page["items"].as_array().cloned().unwrap_or_default();
                    @if rows.is_empty() {
                        p { (t("No invalid punches.")) }
                    } @else {
                        table.invalid {
                            thead { tr { th { (t("Import")) } th { (t("Employee")) } th { (t("Time")) } th { (t("Reason")) } } }
                            tbody {
                                @for row in &rows {
                                    // The PIN as the clock sent it: a PIN no company knows is no
                                    // employee id.
                                    @let pin = row["employee_id"].as_str().unwrap_or_else(|| s(&row["raw"][0]));
                                    tr.invalid-punch data-employee=(pin) {
                                        td { a href=(format!("/imports/{}", n(&row["import_id"]))) { "#" (n(&row["import_id"])) } }
                                        td { (pin) }
                                        td { (s(&row["raw"][1])) }
                                        td.reason { (issues(&row["errors"])) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        p { a href="/clocks" { "← " (t("Clocks")) } }
    }
}

/// The clocks on the dashboard: how many there are, and the silent ones by name.
pub fn health(ctx: &Ctx, clocks: &BackendResult<Value>) -> Markup {
    let t = |text| ctx.t(text);
    html! {
        section #clock-health {
            h2 { (t("Clock health")) }
            @match clocks {
                Err(error) => (unavailable(ctx.lang, t("Clocks"), error)),
                Ok(clocks) => {
                    @let items = clocks["items"].as_array().cloned().unwrap_or_default();
                    @let approved = items.iter().filter(|c| s(&c["state"]) == "approved").count();
                    @let pending = items.iter().filter(|c| s(&c["state"]) == "pending").count();
                    @let silent: Vec<&Value> = items.iter().filter(|c| c["silent"].as_bool().unwrap_or(false)).collect();
                    p.clock-counts {
                        a href="/clocks" { (t("Clocks")) } ": "
                        span.clock-count data-count=(items.len()) { (items.len()) } " · "
                        (t("approved")) " " span.approved-count { (approved) } " · "
                        (t("pending")) " " span.pending-count { (pending) } " · "
                        (t("silent")) " " span.silent-count { (silent.len()) }
                    }
                    @if !silent.is_empty() {
                        p.error role="alert" #silent-clocks {
                            (t("Silent clocks")) ": "
                            @for (i, clock) in silent.iter().enumerate() {
                                @if i > 0 { (t(", ")) }
                                a.silent-clock href=(format!("/clocks/{}", n(&clock["id"]))) data-clock=(s(&clock["serial_number"])) { (s(&clock["serial_number"])) }
                            }
                        }
                    }
                }
            }
        }
    }
}
