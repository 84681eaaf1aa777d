//! The upload page, the dry run's report, and an import's details.

use std::collections::BTreeMap;

use auth::Permission;
use maud::{html, Markup};
use serde_json::Value;

use super::{action_button, csrf, n, pager, s, unavailable, Ctx};
use crate::backend::{segment, BackendResult};
use crate::i18n::Lang;

/// Punch states that end a punch's journey.
const DONE: [&str; 4] = ["delivered", "rejected", "failed", "cancelled"];
/// Punch states still on their way to Bayzat without anyone doing anything.
const MOVING: [&str; 4] = ["queued", "pending", "sending", "retry_wait"];

/// One company's punches of an import by state, as import-service reports them.
pub struct CompanyProgress<'a> {
    pub company: &'a str,
    pub counts: BTreeMap<String, i64>,
}

impl CompanyProgress<'_> {
    fn count(&self, states: &[&str]) -> i64 {
        self.counts
            .iter()
            .filter(|(state, _)| states.contains(&state.as_str()))
            .map(|(_, count)| count)
            .sum()
    }

    pub fn total(&self) -> i64 {
        self.counts.values().sum()
    }

    pub fn done(&self) -> i64 {
        self.count(&DONE)
    }

    pub fn moving(&self) -> i64 {
        self.count(&MOVING)
    }

    /// The worst state first, as the design orders a row's delivery state.
    pub fn indicator(&self) -> &'static str {
        if self.count(&["failed", "rejected"]) > 0 {
            "failed"
        } else if self.count(&["sending"]) > 0 {
            "syncing"
        } else if self.moving() > 0 || self.count(&["scheduled", "held", "paused", "new"]) > 0 {
            "pending"
        } else if self.count(&["delivered"]) > 0 {
            "synced"
        } else {
            "skipped"
        }
    }
}

/// The companies' progress of an import view.
pub fn progress_of(import: &Value) -> Vec<CompanyProgress<'_>> {
    import["progress"]
        .as_object()
        .map(|companies| {
            companies
                .iter()
                .map(|(company, states)| CompanyProgress {
                    company,
                    counts: states
                        .as_object()
                        .map(|m| m.iter().map(|(k, v)| (k.clone(), n(v))).collect())
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whether nothing of the import is on its way any more (what waits for a schedule, a disabled
/// company or an operator does not move by itself).
pub fn finished(import: &Value) -> bool {
    s(&import["status"]) != "processing" && progress_of(import).iter().all(|p| p.moving() == 0)
}

/// Whether the user may act on every company the import touches (import-service says when it
/// showed only the user's part of the import).
fn acts_on_all(ctx: &Ctx, import: &Value) -> bool {
    import["concerns_other_companies"].as_bool() != Some(true)
        && progress_of(import)
            .iter()
            .all(|p| ctx.session.sees(p.company))
}

/// Small per-company badges: `advline 22/24`, coloured by the worst state.
pub fn sync_badges(import: &Value) -> Markup {
    html! {
        span.badges {
            @for p in progress_of(import) {
                span class=(format!("badge {}", p.indicator())) data-company=(p.company) title=(p.indicator()) {
                    (p.company) " " (p.done()) "/" (p.total())
                }
            }
        }
    }
}

/// The files the upload offers to pick: text reports and Excel workbooks. Only a hint to the
/// browser's file picker; import-service reads whatever arrives by its content.
const UPLOAD_ACCEPT: &str = ".csv,.txt,.tsv,.xlsx,.xlsm,.xls,text/csv,text/plain,\
     text/tab-separated-values,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet,\
     application/vnd.ms-excel.sheet.macroEnabled.12,application/vnd.ms-excel";

/// How the file was read, from an import's or a dry run's `facts`: "Excel workbook (xlsx),
/// sheet «Report»", or a text file's encoding and delimiter. `None` when the facts say neither
/// (an import refused before its file was read).
pub fn file_form(ctx: &Ctx, facts: &Value) -> Option<String> {
    let t = |text| ctx.t(text);
    // The list separator is the language's own (Arabic writes "،").
    let comma = t(", ");
    match s(&facts["format"]) {
        format @ ("xlsx" | "xls") => Some(format!(
            "{} ({format}){comma}{} «{}»",
            t("Excel workbook"),
            t("sheet"),
            s(&facts["sheet"])
        )),
        // Facts stored before workbooks were read have no format: they are text.
        "text" | "" if facts["encoding"].is_string() => {
            let delimiter = match s(&facts["delimiter"]) {
                "semicolon" => t("semicolon-separated"),
                "tab" => t("tab-separated"),
                _ => t("comma-separated"),
            };
            let bom = if facts["bom"].as_bool() == Some(true) {
                format!("{comma}{}", t("with a byte-order mark"))
            } else {
                String::new()
            };
            Some(format!(
                "{} ({}{bom}){comma}{delimiter}",
                t("Text file"),
                s(&facts["encoding"])
            ))
        }
        _ => None,
    }
}

/// The file's form as a term of a `dl.facts`, with the format and sheet for scripts and tests.
fn file_form_facts(ctx: &Ctx, facts: &Value) -> Markup {
    let format = facts["format"].as_str().unwrap_or("text");
    html! {
        @if let Some(form) = file_form(ctx, facts) {
            dt { (ctx.t("File format")) }
            dd #file-form data-format=(format) data-sheet=[facts["sheet"].as_str()] { (form) }
        }
    }
}

pub fn upload_form(ctx: &Ctx) -> Markup {
    let t = |text| ctx.t(text);
    html! {
        form #upload method="post" action="/imports" enctype="multipart/form-data"
            hx-encoding="multipart/form-data" hx-target="#report" hx-swap="innerHTML" {
            (csrf(ctx.session))
            fieldset {
                label { input type="checkbox" name="strict" value="true"; " " (t("Strict: queue nothing if any row is invalid")) }
                label {
                    (t("Date order")) " "
                    select name="date_order" {
                        option value="" { (t("Decided by the file (day first)")) }
                        option value="dmy" { (t("Day first (DD/MM/YYYY)")) }
                        option value="mdy" { (t("Month first (MM/DD/YYYY)")) }
                    }
                }
                label {
                    (t("Sheet")) " "
                    input #sheet type="text" name="sheet" maxlength="100" size="16"
                        placeholder=(t("First sheet with a report")) aria-describedby="sheet-help";
                    " " span.detail #sheet-help { (t("Excel workbooks only")) }
                }
            }
            // The file comes last: the console reads the options before it streams the file on.
            label { (t("File")) " " input #file type="file" name="file" required accept=(UPLOAD_ACCEPT); }
            div.buttons {
                // Each button posts with its own option, so the option never trails the file.
                button type="submit" hx-post="/imports?dry_run=true" id="check" { (t("Check the file")) }
                button type="submit" hx-post="/imports" id="import" { (t("Import the file")) }
            }
        }
        div #report aria-live="polite" {}
    }
}

/// The dry run's report, shown under the upload form.
pub fn dry_run_report(ctx: &Ctx, report: &Value, companies: &[Value]) -> Markup {
    let t = |text| ctx.t(text);
    let rows = report["row_results"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    html! {
        section #dry-run-report {
            h2 { (t("Validation report")) }
            p.notice { (t("Nothing was stored or queued.")) }
            dl.facts {
                dt { (t("File")) } dd #filename { (s(&report["filename"])) }
                (file_form_facts(ctx, &report["facts"]))
            }
            (counts_table(ctx, &report["rows"]))
            (departments_and_employees(ctx, report, None, &[]))
            @if !rows.is_empty() {
                table.rows {
                    thead { tr { th { (t("Line")) } th { (t("Outcome")) } th { (t("Company")) } th { (t("Employee")) } th { (t("Date")) } th { (t("Errors")) } } }
                    tbody {
                        @for row in rows.iter().take(200) {
                            tr class=(s(&row["outcome"])) {
                                td { (row["line"]) }
                                td { (s(&row["outcome"])) }
                                td { (company_slug(companies, &row["company_id"])) }
                                td { (s(&row["employee_id"])) }
                                td { (s(&row["date"])) }
                                td { (issues(&row["errors"])) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A company's slug by its id, from the companies list.
fn company_slug(companies: &[Value], id: &Value) -> String {
    companies
        .iter()
        .find(|c| c["id"] == *id)
        .map(|c| s(&c["slug"]).to_owned())
        .unwrap_or_default()
}

/// The row counts of an import or a dry run.
fn counts_table(ctx: &Ctx, report: &Value) -> Markup {
    let t = |text| ctx.t(text);
    let count = |names: &[&str]| {
        names
            .iter()
            .find_map(|name| {
                report[*name]
                    .as_i64()
                    .or_else(|| report["counts"][*name].as_i64())
            })
            .unwrap_or(0)
    };
    html! {
        dl.counts {
            dt { (t("Rows")) } dd #count-total { (count(&["total_records", "total"])) }
            dt { (t("Valid")) } dd #count-valid { (count(&["successful_records", "valid"])) }
            dt { (t("Invalid")) } dd #count-invalid { (count(&["failed_records", "invalid"])) }
            dt { (t("Skipped")) } dd #count-skipped { (count(&["skipped_records", "skipped"])) }
            dt { (t("Duplicates")) } dd { (count(&["duplicate_punches_known", "duplicate_punches_in_file"])) }
        }
    }
}

/// Error or warning codes and messages of a row.
pub fn issues(list: &Value) -> Markup {
    html! {
        @for issue in list.as_array().into_iter().flatten() {
            span.issue data-code=(s(&issue["code"])) {
                (s(&issue["code"]))
                @if !s(&issue["message"]).is_empty() { ": " (s(&issue["message"])) }
            }
            " "
        }
    }
}

/// Unmapped departments and unknown employees; with `import_id`, the one-step fixes.
fn departments_and_employees(
    ctx: &Ctx,
    report: &Value,
    import_id: Option<i64>,
    companies: &[Value],
) -> Markup {
    let t = |text| ctx.t(text);
    // A fix reprocesses the import, which import-service allows only to a user who may act on
    // every company the import touches.
    let import_id = import_id.filter(|_| acts_on_all(ctx, report));
    let unmapped = report["unmapped_departments"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let unknown = report["unknown_employees"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let name = |item: &Value| {
        item["name"]
            .as_str()
            .or(item.as_str())
            .unwrap_or("")
            .to_owned()
    };
    let id_of = |item: &Value| {
        item["employee_id"]
            .as_str()
            .or(item.as_str())
            .unwrap_or("")
            .to_owned()
    };
    let can_map = import_id.is_some()
        && ctx.session.can(Permission::ManageReportNames)
        && ctx.session.can(Permission::ManageImports);
    let can_add = import_id.is_some()
        && ctx.session.can(Permission::ManageEmployees)
        && ctx.session.can(Permission::ManageImports);
    let company_options = |permission: Permission| {
        html! {
            @for company in companies.iter().filter(|c| ctx.session.can_for(permission, s(&c["slug"]))) {
                option value=(s(&company["slug"])) { (super::company_name(ctx.lang, company)) }
            }
        }
    };
    html! {
        @if !unmapped.is_empty() {
            section #unmapped {
                h2 { (t("Unmapped departments")) }
                ul {
                    @for item in &unmapped {
                        li data-department=(name(item)) {
                            strong { (name(item)) }
                            @if let Some(rows) = item["rows"].as_i64() { " " span.detail { "(" (rows) " " (t("Rows")) ")" } " " }
                            @if let (true, Some(id)) = (can_map && companies.iter().any(|c| ctx.session.can_for(Permission::ManageReportNames, s(&c["slug"]))), import_id) {
                                form.action.inline method="post" action=(format!("/imports/{id}/map-department")) {
                                    (csrf(ctx.session))
                                    input type="hidden" name="department" value=(name(item));
                                    label { (t("Map to company")) " "
                                        select name="company" required { (company_options(Permission::ManageReportNames)) }
                                    }
                                    button type="submit" data-action="map-department" { (t("Map and reprocess")) }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if !unknown.is_empty() {
            section #unknown {
                h2 { (t("Unknown employees")) }
                ul {
                    @for item in &unknown {
                        li data-employee=(id_of(item)) {
                            strong { (id_of(item)) }
                            @if let Some(rows) = item["rows"].as_i64() { " " span.detail { "(" (rows) " " (t("Rows")) ")" } " " }
                            @if let (true, Some(id)) = (can_add && companies.iter().any(|c| ctx.session.can_for(Permission::ManageEmployees, s(&c["slug"]))), import_id) {
                                form.action.inline method="post" action=(format!("/imports/{id}/add-employee")) {
                                    (csrf(ctx.session))
                                    input type="hidden" name="employee_id" value=(id_of(item));
                                    label { (t("Name")) " " input type="text" name="name" required; }
                                    label { (t("Company")) " "
                                        select name="company" required { (company_options(Permission::ManageEmployees)) }
                                    }
                                    button type="submit" data-action="add-employee" { (t("Add and reprocess")) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The live part of an import's page (progress per company and the batches); it polls itself
/// every two seconds until nothing moves.
pub fn live(
    ctx: &Ctx,
    import: &Value,
    batch_page: &BackendResult<Value>,
    companies: &[Value],
) -> Markup {
    let id = n(&import["id"]);
    let done = finished(import);
    let poll = (!done).then(|| format!("/imports/{id}/live"));
    html! {
        div #live hx-get=[poll] hx-trigger=[(!done).then_some("every 2s")] hx-swap="outerHTML" {
            (progress(ctx, import))
            (batches(ctx, id, batch_page, companies))
        }
    }
}

/// Each company's punches of the import by state.
pub fn progress(ctx: &Ctx, import: &Value) -> Markup {
    let t = |text| ctx.t(text);
    let done = finished(import);
    html! {
        section #progress data-finished=(done) {
            h2 { (t("Progress")) " " span class=(if done { "badge synced" } else { "badge syncing" }) { @if done { (t("Sync finished")) } @else { (t("Syncing")) "…" } } }
            @let companies = progress_of(import);
            @if companies.is_empty() { p { (t("none")) } }
            @for p in companies {
                div.company-progress data-company=(p.company) data-done=(p.done()) data-total=(p.total()) {
                    span.name { (p.company) }
                    progress value=(p.done()) max=(p.total().max(1)) {}
                    span.figure { (p.done()) " / " (p.total()) }
                    span.states {
                        @for (state, count) in &p.counts {
                            span class=(format!("state {state}")) { (state_label(ctx.lang, state)) ": " (count) } " "
                        }
                    }
                }
            }
        }
    }
}

fn state_label(lang: Lang, state: &str) -> &'static str {
    match state {
        "delivered" => lang.t("Delivered"),
        "rejected" => lang.t("Rejected"),
        "failed" => lang.t("Failed"),
        "pending" | "queued" | "new" => lang.t("Pending"),
        "retry_wait" => lang.t("Retrying"),
        "sending" => lang.t("Sending"),
        "scheduled" => lang.t("Scheduled"),
        "held" | "paused" => lang.t("Held"),
        "cancelled" => lang.t("Cancelled"),
        _ => "?",
    }
}

/// The filters of the rows table, as the query string carries them.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
pub struct RowFilters {
    pub outcome: Option<String>,
    pub error: Option<String>,
    pub company: Option<String>,
    pub employee: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub delivery_state: Option<String>,
    pub page: Option<i64>,
}

impl RowFilters {
    /// The filters as a query string, without the page.
    pub fn query(&self) -> String {
        crate::backend::query([
            ("outcome", self.outcome.as_deref()),
            ("error", self.error.as_deref()),
            ("company", self.company.as_deref()),
            ("employee", self.employee.as_deref()),
            ("from", self.from.as_deref()),
            ("to", self.to.as_deref()),
            ("delivery_state", self.delivery_state.as_deref()),
        ])
    }
}

pub const ROWS_PER_PAGE: i64 = 50;

/// What the import details page shows.
pub struct Details {
    pub import: Value,
    pub rows: BackendResult<Value>,
    pub batches: BackendResult<Value>,
    pub companies: Vec<Value>,
    pub filters: RowFilters,
    pub notice: Option<&'static str>,
}

pub fn details(ctx: &Ctx, d: &Details) -> Markup {
    let t = |text| ctx.t(text);
    let import = &d.import;
    let id = n(&import["id"]);
    let manage = ctx.session.can(Permission::ManageImports) && acts_on_all(ctx, import);
    let cancelled = !import["cancelled_at"].is_null();
    html! {
        @if let Some(notice) = d.notice { p.notice role="status" { (ctx.t(notice)) } }
        section.summary {
            dl.facts {
                dt { (t("File")) } dd #filename { (s(&import["filename"])) }
                (file_form_facts(ctx, &import["facts"]))
                dt { (t("Status")) } dd #import-status { (s(&import["status"])) @if cancelled { " (" (t("Cancelled")) ")" } }
                dt { (t("Uploaded")) } dd { (crate::time::local(&import["created_at"], ctx.zone)) }
                dt { (t("Uploaded by")) } dd { (s(&import["uploaded_by"])) }
                @if let Some(reason) = import["held_reason"].as_str() { dt { (t("Held")) } dd { (reason) } }
            }
            (counts_table(ctx, import))
            div.buttons {
                @if manage && !cancelled {
                    (action_button(ctx.session, &format!("/imports/{id}/reprocess"), t("Reprocess"), &[], "reprocess"))
                    @if !import["held_reason"].is_null() {
                        (action_button(ctx.session, &format!("/imports/{id}/release"), t("Release"), &[], "release"))
                    }
                    (action_button(ctx.session, &format!("/imports/{id}/cancel"), t("Cancel import"), &[], "cancel"))
                }
                @if ctx.session.can(Permission::SyncNow) && !cancelled {
                    (action_button(ctx.session, &format!("/imports/{id}/sync-now"), t("Sync now"), &[], "import-sync-now"))
                }
            }
        }
        (live(ctx, import, &d.batches, &d.companies))
        (departments_and_employees(ctx, import, Some(id), &d.companies))
        (rows(ctx, id, d))
    }
}

fn batches(
    ctx: &Ctx,
    import_id: i64,
    batches: &BackendResult<Value>,
    companies: &[Value],
) -> Markup {
    let t = |text| ctx.t(text);
    let slug_of = |company_id: i64| {
        companies
            .iter()
            .find(|c| n(&c["id"]) == company_id)
            .map(|c| s(&c["slug"]).to_owned())
            .unwrap_or_else(|| company_id.to_string())
    };
    html! {
        section #batches {
            h2 { (t("Batches")) }
            @match batches {
                Err(error) => (unavailable(ctx.lang, t("Batches"), error)),
                Ok(page) => {
                    table {
                        thead { tr { th { (t("Company")) } th { (t("Status")) } th { (t("Total")) } th { (t("Delivered")) } th { (t("Failed")) } th { (t("Rejected")) } th { (t("Reason")) } th {} } }
                        tbody {
                            @for batch in page["items"].as_array().into_iter().flatten() {
                                @let slug = slug_of(n(&batch["company_id"]));
                                tr.batch data-company=(slug) data-status=(s(&batch["status"])) {
                                    td { (slug) }
                                    td { (s(&batch["status"])) }
                                    td { (n(&batch["total_count"])) }
                                    td { (n(&batch["delivered_count"])) }
                                    td { (n(&batch["failed_count"])) }
                                    td { (n(&batch["rejected_count"])) }
                                    td.reason { (s(&batch["error_message"])) }
                                    td {
                                        @if n(&batch["failed_count"]) + n(&batch["rejected_count"]) > 0
                                            && ctx.session.can_for(Permission::RetryBatches, &slug) {
                                            (action_button(ctx.session, &format!("/batches/{}/retry", s(&batch["id"])), t("Retry"),
                                                &[("back", &format!("/imports/{import_id}"))], "retry-batch"))
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
}

fn rows(ctx: &Ctx, import_id: i64, d: &Details) -> Markup {
    let t = |text| ctx.t(text);
    let f = &d.filters;
    let selected = |value: &Option<String>, option: &str| value.as_deref() == Some(option);
    let base = format!("/imports/{import_id}");
    let export_href = |format: &str| format!("/imports/{import_id}/rows.{format}?{}", f.query());
    html! {
        section #rows {
            h2 { (t("Records")) }
            form.filters method="get" action=(base) {
                label { (t("Outcome")) " " select name="outcome" {
                    option value="" { (t("Any")) }
                    @for o in ["valid", "invalid", "skipped"] { option value=(o) selected[selected(&f.outcome, o)] { (o) } }
                } }
                label { (t("Error")) " " select name="error" {
                    option value="" { (t("Any")) }
                    @for e in ["unknown_employee", "unmapped_department", "ambiguous_employee", "invalid_date", "invalid_time", "missing_field", "bad_row"] {
                        option value=(e) selected[selected(&f.error, e)] { (e) }
                    }
                } }
                label { (t("Company")) " " select name="company" {
                    @if ctx.session.companies.is_none() { option value="" { (t("Any")) } }
                    @for c in d.companies.iter().filter(|c| ctx.session.sees(s(&c["slug"]))) {
                        option value=(s(&c["slug"])) selected[selected(&f.company, s(&c["slug"]))] { (s(&c["slug"])) }
                    }
                } }
                label { (t("Employee")) " " input type="text" name="employee" value=[f.employee.as_deref()] size="8"; }
                label { (t("From")) " " input type="date" name="from" value=[f.from.as_deref()]; }
                label { (t("To")) " " input type="date" name="to" value=[f.to.as_deref()]; }
                label { (t("Delivery")) " " select name="delivery_state" {
                    option value="" { (t("Any")) }
                    @for state in ["failed", "syncing", "pending", "synced", "skipped"] {
                        option value=(state) selected[selected(&f.delivery_state, state)] { (state) }
                    }
                } }
                button type="submit" id="filter" { (t("Filter")) }
                a.export #export-csv href=(export_href("csv")) download { (t("Export CSV")) }
                " "
                a.export #export-xlsx href=(export_href("xlsx")) download { (t("Export XLSX")) }
            }
            @match &d.rows {
                Err(error) => (unavailable(ctx.lang, t("Records"), error)),
                Ok(page) => {
                    table.rows {
                        thead { tr {
                            th { (t("Line")) } th { (t("Outcome")) } th { (t("Department")) } th { (t("Employee")) }
                            th { (t("Date")) } th { (t("Punches")) } th { (t("Errors")) } th { (t("Delivery")) }
                        } }
                        tbody {
                            @for row in page["items"].as_array().into_iter().flatten() {
                                tr.row data-line=(n(&row["line"])) data-outcome=(s(&row["outcome"])) data-delivery=(s(&row["delivery_state"])) {
                                    td { (n(&row["line"])) }
                                    td { (s(&row["outcome"])) }
                                    td { (s(&row["department"])) }
                                    td { (s(&row["employee_id"])) @if !s(&row["bayzat_emp_id"]).is_empty() && row["bayzat_emp_id"] != row["employee_id"] { " → " (s(&row["bayzat_emp_id"])) } }
                                    td { (s(&row["work_date"])) }
                                    td { @for p in row["punches"].as_array().into_iter().flatten() { span.punch { (s(&p["type"])) " " (s(&p["time"]).get(11..16).unwrap_or("")) } " " } }
                                    td { (issues(&row["errors"])) (issues(&row["warnings"])) }
                                    td.delivery {
                                        span class=(format!("badge {}", s(&row["delivery_state"]))) { (s(&row["delivery_state"])) }
                                        @if !s(&row["delivery_detail"]).is_empty() { " " span.detail { (s(&row["delivery_detail"])) } }
                                    }
                                }
                            }
                        }
                    }
                    (pager(ctx.lang, &base, &f.query(), f.page.unwrap_or(1).max(1), ROWS_PER_PAGE, n(&page["total"])))
                }
            }
        }
    }
}

/// The import's page link for a list.
pub fn link(import: &Value) -> String {
    format!("/imports/{}", segment(&n(&import["id"]).to_string()))
}
