//! The attendance dashboard: imports with their sync indicators, each company's sync health and
//! API usage, what needs attention, and the deliveries chart.

use auth::Permission;
use maud::{html, Markup};
use serde_json::Value;

use super::imports::{link, sync_badges};
use super::{action_button, company_name, n, s, unavailable, Ctx};
use crate::backend::BackendResult;
use crate::chart::{self, Series};

/// One company with its health and usage.
pub struct CompanyStatus {
    pub company: Value,
    pub health: BackendResult<Value>,
    pub usage: BackendResult<Value>,
}

pub struct Dashboard {
    pub imports: BackendResult<Vec<Value>>,
    pub companies: BackendResult<Vec<CompanyStatus>>,
    pub attention: BackendResult<Vec<Value>>,
    pub failed_batches: BackendResult<Vec<Value>>,
    /// import-service's clocks, with their health.
    pub clocks: BackendResult<Value>,
    /// The chart's days, oldest first (`YYYY-MM-DD`).
    pub days: Vec<String>,
    pub notice: Option<&'static str>,
}

fn count(health: &Value, states: &[&str]) -> i64 {
    states
        .iter()
        .map(|state| n(&health["counts"][*state]))
        .sum()
}

fn ms(value: &Value) -> String {
    value
        .as_f64()
        .map(|v| format!("{v:.0} ms"))
        .unwrap_or_else(|| "–".to_owned())
}

pub fn render(ctx: &Ctx, d: &Dashboard) -> Markup {
    let t = |text| ctx.t(text);
    let companies: &[CompanyStatus] = d.companies.as_deref().unwrap_or(&[]);
    let slug_of = |company_id: i64| {
        companies
            .iter()
            .find(|c| n(&c.company["id"]) == company_id)
            .map(|c| s(&c.company["slug"]).to_owned())
            .unwrap_or_else(|| company_id.to_string())
    };
    html! {
        @if let Some(notice) = d.notice { p.notice role="status" { (ctx.t(notice)) } }
        section #health {
            h2 { (t("Company sync health")) }
            @match &d.companies {
                Err(error) => (unavailable(ctx.lang, t("Companies"), error)),
                Ok(list) => {
                    table {
                        thead { tr {
                            th { (t("Company")) } th { (t("State")) } th { (t("Pending")) } th { (t("Retrying")) }
                            th { (t("Failed")) } th { (t("Rejected")) } th { (t("Delivered")) } th { (t("Last success")) } th {}
                        } }
                        tbody {
                            @for c in list {
                                @let slug = s(&c.company["slug"]);
                                @let zone = crate::time::zone(s(&c.company["timezone"]), ctx.zone);
                                tr.company data-company=(slug) {
                                    td { a href=(format!("/companies/{slug}/bayzat")) { (company_name(ctx.lang, &c.company)) } }
                                    @match &c.health {
                                        Err(error) => td colspan="7" { (unavailable(ctx.lang, slug, error)) },
                                        Ok(h) => {
                                            td.state data-state=(s(&h["state"])) {
                                                span class=(format!("badge {}", s(&h["state"]))) { (ctx.lang.t(match s(&h["state"]) { "paused_auth" => "paused_auth", "disabled" => "disabled", _ => "active" })) }
                                                @if let Some(reason) = h["state_reason"].as_str() { " " small { (reason) } }
                                            }
                                            td.pending { (count(h, &["pending", "scheduled", "held", "paused", "sending"])) }
                                            td.retrying { (count(h, &["retry_wait"])) }
                                            td.failed { (count(h, &["failed"])) }
                                            td.rejected { (count(h, &["rejected"])) }
                                            td.delivered { (count(h, &["delivered"])) }
                                            td.last-success { (crate::time::local(&h["last_success_at"], zone)) }
                                        }
                                    }
                                    td {
                                        @if ctx.session.can_for(Permission::SyncNow, slug) {
                                            (action_button(ctx.session, &format!("/companies/{slug}/sync-now"), t("Sync now"), &[], "company-sync-now"))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        (super::clocks::health(ctx, &d.clocks))
        section #usage {
            h2 { (t("API usage")) }
            table {
                thead { tr {
                    th { (t("Company")) } th { (t("Bayzat calls (24 h)")) } th { (t("429 answers (7 days)")) }
                    th { (t("Errors (7 days)")) } th { (t("Latency p50 / p95 (24 h)")) }
                } }
                tbody {
                    @for c in companies {
                        @let slug = s(&c.company["slug"]);
                        tr data-company=(slug) {
                            td { (slug) }
                            @match (&c.health, &c.usage) {
                                (Ok(h), Ok(u)) => {
                                    @let days = u["days"].as_array().cloned().unwrap_or_default();
                                    td.calls { (n(&h["calls_24h"])) }
                                    td.rate-limited { (days.iter().map(|d| n(&d["rate_limited"])).sum::<i64>()) }
                                    td.errors { (days.iter().map(|d| n(&d["errors"])).sum::<i64>()) }
                                    td { (ms(&h["latency_p50_ms"])) " / " (ms(&h["latency_p95_ms"])) }
                                }
                                _ => td colspan="4" { "–" },
                            }
                        }
                    }
                }
            }
            h3 { (t("Deliveries per day")) }
            (chart::deliveries(&d.days, &companies.iter().map(|c| Series {
                name: s(&c.company["slug"]).to_owned(),
                values: d.days.iter().map(|day| {
                    c.usage.as_ref().ok()
                        .and_then(|u| u["days"].as_array())
                        .and_then(|days| days.iter().find(|x| s(&x["date"]) == day))
                        .map(|x| n(&x["delivered"]))
                        .unwrap_or(0)
                }).collect(),
            }).collect::<Vec<_>>()))
        }
        section #attention {
            h2 { (t("Failed records requiring attention")) }
            @match &d.failed_batches {
                Err(error) => (unavailable(ctx.lang, t("Batches"), error)),
                Ok(batches) if !batches.is_empty() => {
                    table {
                        thead { tr { th { (t("Company")) } th { (t("Import")) } th { (t("Failed")) } th { (t("Rejected")) } th { (t("Reason")) } th {} } }
                        tbody {
                            @for b in batches {
                                @let slug = slug_of(n(&b["company_id"]));
                                tr.batch data-company=(slug) {
                                    td { (slug) }
                                    td { @if let Some(id) = b["import_id"].as_i64() { a href=(format!("/imports/{id}")) { "#" (id) } } }
                                    td { (n(&b["failed_count"])) }
                                    td { (n(&b["rejected_count"])) }
                                    td.reason { (s(&b["error_message"])) }
                                    td { @if ctx.session.can_for(Permission::RetryBatches, &slug) {
                                        (action_button(ctx.session, &format!("/batches/{}/retry", s(&b["id"])), t("Retry"), &[("back", "/")], "retry-batch"))
                                    } }
                                }
                            }
                        }
                    }
                }
                Ok(_) => {}
            }
            @match &d.attention {
                Err(error) => (unavailable(ctx.lang, t("Failed records requiring attention"), error)),
                Ok(items) if items.is_empty() => p { (t("No failed records.")) },
                Ok(items) => {
                    table.attention {
                        thead { tr { th { (t("Company")) } th { (t("Employee")) } th { (t("Time")) } th { (t("State")) } th { (t("Reason")) } th { (t("Import")) } } }
                        tbody {
                            @for item in items {
                                tr data-state=(s(&item["state"])) {
                                    td { (slug_of(n(&item["company_id"]))) }
                                    td { (s(&item["emp_id"])) }
                                    td { (s(&item["local_time"]).replace('T', " ")) }
                                    td { (s(&item["state"])) }
                                    td.reason { (s(&item["last_error"])) }
                                    td { a href=(format!("/imports/{}", n(&item["import_id"]))) { "#" (n(&item["import_id"])) } }
                                }
                            }
                        }
                    }
                }
            }
        }
        section #imports {
            h2 { (t("Imports")) }
            @match &d.imports {
                Err(error) => (unavailable(ctx.lang, t("Imports"), error)),
                Ok(imports) => {
                    table {
                        thead { tr {
                            th { "#" } th { (t("File")) } th { (t("Uploaded")) } th { (t("Uploaded by")) } th { (t("Status")) }
                            th { (t("Valid")) } th { (t("Invalid")) } th { (t("Skipped")) } th { (t("Sync")) }
                        } }
                        tbody {
                            @for import in imports {
                                tr.import data-import=(n(&import["id"])) {
                                    td { a href=(link(import)) { (n(&import["id"])) } }
                                    td { a href=(link(import)) { (s(&import["filename"])) } }
                                    td { (crate::time::local(&import["created_at"], ctx.zone)) }
                                    td { (s(&import["uploaded_by"])) }
                                    td { (s(&import["status"])) }
                                    td { (n(&import["successful_records"])) }
                                    td { (n(&import["failed_records"])) }
                                    td { (n(&import["skipped_records"])) }
                                    td { (sync_badges(import)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
