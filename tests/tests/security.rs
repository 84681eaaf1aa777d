//! Company scope, end to end: a viewer and an operator limited to clarastars against every route
//! of import-service, sync-service and config-service (the routes read from the checked-in
//! OpenAPI documents, so a new route without a row here fails), and a clarastars operator
//! uploading advline's rows, reading imports, re-uploading someone else's file and dry-running.

use std::collections::BTreeSet;
use std::time::Duration;

use bridge_tests::{Body, Reply, Role, Service, System};
use reqwest::Method;
use serde_json::{json, Value};
use test_support::token;

const SETTLE: Duration = Duration::from_secs(60);

async fn call(
    system: &System,
    service: Service,
    method: &Method,
    path: &str,
    token: &str,
    body: &Body,
) -> Reply {
    system
        .send(method.clone(), service, path, token, body.clone())
        .await
}

async fn upload(system: &System, token: &str, name: &str, csv: &str, query: &str) -> Reply {
    let path = format!("/v1/imports?filename={name}&{query}");
    call(
        system,
        Service::Import,
        &Method::POST,
        &path,
        token,
        &Body::Csv(csv.as_bytes().to_vec()),
    )
    .await
}

type Check = Box<dyn Fn(&Reply) -> Result<(), String>>;

/// What a limited token must get.
enum Want {
    /// Exactly this status, with a problem+json code.
    Status(u16),
    /// Not refused: no 401, 403 or 404, no server error.
    Allowed,
    /// 2xx, and the check holds (a list shows only the token's company).
    Filtered(Check),
    /// Whatever the status, the check holds (a conflict names no other company).
    Answer(Check),
}

impl Want {
    fn judge(&self, reply: &Reply) -> Result<(), String> {
        match self {
            Want::Status(status) => {
                if reply.status == *status && reply.body["code"].is_string() {
                    Ok(())
                } else {
                    Err(format!("wanted {status}"))
                }
            }
            Want::Allowed => {
                if [401, 403, 404].contains(&reply.status) || reply.status >= 500 {
                    Err("wanted an answer that is no refusal".into())
                } else {
                    Ok(())
                }
            }
            Want::Filtered(check) => {
                if !(200..300).contains(&reply.status) {
                    return Err("wanted 2xx".into());
                }
                check(reply)
            }
            Want::Answer(check) => check(reply),
        }
    }
}

struct Probe {
    path: String,
    body: Body,
    viewer: Want,
    operator: Want,
}

fn probe(path: impl Into<String>, viewer: Want, operator: Want) -> Probe {
    Probe {
        path: path.into(),
        body: Body::None,
        viewer,
        operator,
    }
}

/// A probe of a resource neither limited token may know of: 404 for both.
fn hidden(path: impl Into<String>) -> Probe {
    probe(path, Want::Status(404), Want::Status(404))
}

fn probe_with(path: impl Into<String>, body: Body, viewer: Want, operator: Want) -> Probe {
    Probe {
        path: path.into(),
        body,
        viewer,
        operator,
    }
}

/// One route of an OpenAPI document and what limited tokens get from it.
struct Route {
    service: Service,
    method: Method,
    /// As the OpenAPI document writes it.
    template: &'static str,
    probes: Vec<Probe>,
}

fn route(service: Service, method: Method, template: &'static str, probes: Vec<Probe>) -> Route {
    Route {
        service,
        method,
        template,
        probes,
    }
}

/// Every (service, METHOD, path) of the checked-in OpenAPI documents.
fn documented_routes() -> BTreeSet<(String, String, String)> {
    let mut routes = BTreeSet::new();
    for service in [Service::Config, Service::Import, Service::Sync] {
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../proto/openapi")
            .join(format!("{service}.json"));
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file:?}: {e}"));
        let document: Value = serde_json::from_str(&text).expect("an OpenAPI document");
        for (path, operations) in document["paths"].as_object().expect("paths") {
            for method in operations.as_object().expect("operations").keys() {
                if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                    routes.insert((service.to_string(), method.to_uppercase(), path.to_owned()));
                }
            }
        }
    }
    routes
}

fn ids_of(reply: &Reply, key: &str) -> Vec<i64> {
    reply.body["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|i| i[key].as_i64()).collect())
        .unwrap_or_default()
}

fn only_company(company_id: i64) -> Check {
    Box::new(move |reply| {
        let seen = ids_of(reply, "company_id");
        if seen.iter().all(|&c| c == company_id) {
            Ok(())
        } else {
            Err(format!("items of other companies: {seen:?}"))
        }
    })
}

fn csv(rows: &[&str]) -> String {
    let mut text = String::from("Employee ID,First Name,Department,Date,Check In,Check Out\n");
    for row in rows {
        text.push_str(row);
        text.push('\n');
    }
    text
}

async fn wait_for_total(system: &System, service: Service, path: &str, at_least: i64) -> Value {
    test_support::wait_for(SETTLE, &format!("{path}: {at_least}"), || async {
        let reply = system.get(service, path).await;
        if reply.body["total"].as_i64() >= Some(at_least) {
            Ok(reply.body)
        } else {
            Err(reply.to_string())
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_answers_tokens_limited_to_one_company_as_the_table_says() {
    let system = System::start().await;
    let admin = token("admin-security", Role::Admin, None);
    let advline = system.company_id("advline").await;
    let clara = system.company_id("clarastars").await;

    // advline's import, clarastars' import, and one with rows of both, uploaded by an admin.
    let upload_as_admin = |name: &'static str, rows: &'static [&'static str]| {
        let admin = admin.clone();
        let system = &system;
        async move {
            let reply = upload(system, &admin, name, &csv(rows), "").await;
            assert_eq!(reply.status, 201, "{name}: {reply}");
            reply.body["id"].as_i64().expect("an import id")
        }
    };
    let advline_import = upload_as_admin(
        "advline.csv",
        &[
            "1001,Ahmed,AdvLine,2026-11-02,08:00,17:00",
            "1002,Fatima,AdvLine,2026-11-02,08:10,17:10",
        ],
    )
    .await;
    let clara_import = upload_as_admin(
        "clara.csv",
        &["2001,Sara,ClaraStars,2026-11-02,08:00,16:00"],
    )
    .await;
    let mixed_import = upload_as_admin(
        "mixed.csv",
        &[
            "1003,Rajesh,AdvLine,2026-11-03,08:30,17:30",
            "2002,Yousef,ClaraStars,2026-11-03,09:00,17:00",
            "9999,Ghost,ClaraStars,2026-11-03,09:00,17:00",
            "5001,Nobody,Marketing,2026-11-03,09:00,17:00",
        ],
    )
    .await;
    let advline_batches = wait_for_total(
        &system,
        Service::Sync,
        &format!("/v1/batches?import_id={advline_import}"),
        1,
    )
    .await;
    let advline_batch = advline_batches["items"][0]["id"]
        .as_str()
        .expect("a batch id")
        .to_owned();
    let clara_batches = wait_for_total(
        &system,
        Service::Sync,
        &format!("/v1/batches?import_id={clara_import}"),
        1,
    )
    .await;
    let clara_batch = clara_batches["items"][0]["id"]
        .as_str()
        .expect("a batch id")
        .to_owned();
    wait_for_total(
        &system,
        Service::Sync,
        &format!("/v1/batches?import_id={mixed_import}"),
        2,
    )
    .await;

    // A clock of advline's and one of clarastars', registered by an admin.
    let register_clock = |serial: &'static str, company: &'static str| {
        let admin = admin.clone();
        let system = &system;
        async move {
            let body = Body::Json(json!({ "serial_number": serial, "companies": [company] }));
            let reply = call(
                system,
                Service::Import,
                &Method::POST,
                "/v1/clocks",
                &admin,
                &body,
            )
            .await;
            assert_eq!(reply.status, 201, "{serial}: {reply}");
            reply.body["id"].as_i64().expect("a clock id")
        }
    };
    let advline_clock = register_clock("SEC-ADVLINE", "advline").await;
    let clara_clock = register_clock("SEC-CLARA", "clarastars").await;
    let viewer = token("clara-viewer", Role::Viewer, Some(&["clarastars"]));
    let operator = token("clara-operator", Role::Operator, Some(&["clarastars"]));
    use Want::{Allowed, Answer, Filtered, Status};
    let missing = || Status(404);
    let role = || Status(403);
    // An action on an import: advline's is not found for the operator, the mixed one needs more
    // than clarastars, clarastars' own is allowed; a viewer may do none.
    let import_action = |action: &str| {
        vec![
            probe(
                format!("/v1/imports/{advline_import}/{action}"),
                role(),
                missing(),
            ),
            probe(
                format!("/v1/imports/{mixed_import}/{action}"),
                role(),
                role(),
            ),
            probe(
                format!("/v1/imports/{clara_import}/{action}"),
                role(),
                Allowed,
            ),
        ]
    };
    // A company's resource: advline's (by slug, and by id where `by_id`) is not found, clarastars'
    // is there.
    let company_read = |resource: &str, by_id: bool| {
        let mut probes = vec![
            hidden(format!("/v1/companies/advline{resource}")),
            probe(
                format!("/v1/companies/clarastars{resource}"),
                Allowed,
                Allowed,
            ),
        ];
        if by_id {
            probes.insert(1, hidden(format!("/v1/companies/{advline}{resource}")));
        }
        probes
    };

    let clocks_listed = move |reply: &Reply| {
        let ids = ids_of(reply, "id");
        if ids == [clara_clock] {
            Ok(())
        } else {
            Err(format!("wanted clarastars' clock only: {ids:?}"))
        }
    };
    let biotime_listed = |reply: &Reply| {
        let others: Vec<&Value> = reply.body["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|server| {
                server["mapping"]["companies"]
                    .as_object()
                    .into_iter()
                    .flat_map(|m| m.values())
                    .flat_map(|slugs| slugs.as_array().cloned().unwrap_or_default())
                    .any(|slug| slug != "clarastars")
            })
            .collect();
        if others.is_empty() {
            Ok(())
        } else {
            Err(format!("servers of other companies are listed: {others:?}"))
        }
    };
    let imports_listed = move |reply: &Reply| {
        let ids = ids_of(reply, "id");
        if ids.contains(&advline_import) {
            return Err(format!("advline's import is listed: {ids:?}"));
        }
        if !ids.contains(&clara_import) || !ids.contains(&mixed_import) {
            return Err(format!("clarastars' imports are missing: {ids:?}"));
        }
        let mixed = reply.body["items"]
            .as_array()
            .and_then(|items| items.iter().find(|i| i["id"] == mixed_import))
            .cloned()
            .unwrap_or_default();
        if mixed["total_records"] != 2 || mixed["unknown_employees"] != json!([]) {
            return Err(format!("the mixed import counts others' rows: {mixed}"));
        }
        Ok(())
    };
    let mixed_read = move |reply: &Reply| {
        let progress: Vec<&String> = reply.body["progress"]
            .as_object()
            .map(|p| p.keys().collect())
            .unwrap_or_default();
        if progress != ["clarastars"] {
            return Err(format!("progress of {progress:?}"));
        }
        if reply.body["concerns_other_companies"] != true {
            return Err("not told that the import concerns other companies too".to_owned());
        }
        for field in ["unknown_employees", "unmapped_departments"] {
            if reply.body[field] != json!([]) {
                return Err(format!("{field} shown to a non-uploader"));
            }
        }
        if reply.body["total_records"] != 2 || reply.body["successful_records"] != 1 {
            return Err("counts of other companies' rows".into());
        }
        Ok(())
    };
    let mixed_rows = move |reply: &Reply| {
        let companies = ids_of(reply, "company_id");
        if reply.body["total"] != 2 || companies != [clara, clara] {
            return Err(format!("rows of others: {companies:?}"));
        }
        Ok(())
    };
    let mixed_csv = |reply: &Reply| {
        let lines = reply.text.lines().count();
        if reply.text.contains("AdvLine") || reply.text.contains("Marketing") || lines != 3 {
            return Err("rows of others in the export".into());
        }
        Ok(())
    };
    // The same rows as `mixed_csv`, read back out of the workbook.
    let mixed_xlsx = |reply: &Reply| {
        let mut book = workbook::Workbook::open(std::io::Cursor::new(reply.bytes.clone()))
            .map_err(|e| format!("not a workbook: {e}"))?;
        let sheet = book.sheet_names().first().cloned().ok_or("no sheet")?;
        let mut rows = Vec::new();
        book.rows(&sheet, |_, cells| {
            rows.push(cells.join(","));
            std::ops::ControlFlow::Continue(())
        })
        .map_err(|e| e.to_string())?;
        let text = rows.join("\n");
        if text.contains("AdvLine") || text.contains("Marketing") || rows.len() != 3 {
            return Err("rows of others in the export".into());
        }
        Ok(())
    };
    let refused_upload = |reply: &Reply| {
        if reply.status != 201 || reply.body["progress"] != json!({}) {
            return Err("advline's rows were imported".into());
        }
        if reply.body["failed_records"] != 1 || reply.body["punches_new"] != 0 {
            return Err("the refused row is not counted as invalid".into());
        }
        Ok(())
    };
    let not_naming_advline = |reply: &Reply| {
        if reply.status == 409
            && reply.body["code"] == "report_name_taken"
            && !reply.text.contains("advline")
            && !reply.text.contains("Advanced Line")
        {
            Ok(())
        } else {
            Err("wanted 409 report_name_taken naming no other company".into())
        }
    };
    let only_clarastars = |reply: &Reply| {
        let slugs: Vec<&str> = reply
            .body
            .as_array()
            .or_else(|| reply.body["companies"].as_array())
            .map(|c| c.iter().filter_map(|c| c["slug"].as_str()).collect())
            .unwrap_or_default();
        if slugs == ["clarastars"] {
            Ok(())
        } else {
            Err(format!("companies {slugs:?}"))
        }
    };

    let routes = vec![
        // config-service
        route(
            Service::Config,
            Method::GET,
            "/v1/companies",
            vec![probe(
                "/v1/companies",
                Filtered(Box::new(only_clarastars)),
                Filtered(Box::new(only_clarastars)),
            )],
        ),
        route(
            Service::Config,
            Method::POST,
            "/v1/companies",
            vec![probe_with(
                "/v1/companies",
                Body::Json(json!({ "slug": "clarastars-two", "name_en": "Two" })),
                role(),
                role(),
            )],
        ),
        route(
            Service::Config,
            Method::GET,
            "/v1/companies/{company}",
            company_read("", true),
        ),
        route(
            Service::Config,
            Method::PATCH,
            "/v1/companies/{company}",
            vec![probe_with(
                "/v1/companies/advline",
                Body::Json(json!({ "name_en": "Mine now" })),
                role(),
                role(),
            )],
        ),
        route(
            Service::Config,
            Method::POST,
            "/v1/companies/{company}/report-names",
            vec![
                probe_with(
                    "/v1/companies/advline/report-names",
                    Body::Json(json!({ "name": "Stolen" })),
                    role(),
                    missing(),
                ),
                probe_with(
                    "/v1/companies/clarastars/report-names",
                    Body::Json(json!({ "name": "ADVLINE" })),
                    role(),
                    Answer(Box::new(not_naming_advline)),
                ),
            ],
        ),
        route(
            Service::Config,
            Method::DELETE,
            "/v1/companies/{company}/report-names/{id}",
            vec![probe(
                "/v1/companies/advline/report-names/1",
                role(),
                missing(),
            )],
        ),
        route(
            Service::Config,
            Method::GET,
            "/v1/companies/{company}/employees",
            company_read("/employees", false),
        ),
        route(
            Service::Config,
            Method::PUT,
            "/v1/companies/{company}/employees",
            vec![
                probe_with(
                    "/v1/companies/advline/employees",
                    Body::Json(json!({ "employees": [{ "employee_id": "1009", "name": "Mole" }] })),
                    role(),
                    missing(),
                ),
                probe_with(
                    "/v1/companies/clarastars/employees",
                    Body::Json(json!({ "employees": [] })),
                    role(),
                    Allowed,
                ),
            ],
        ),
        route(
            Service::Config,
            Method::POST,
            "/v1/companies/{company}/employees.csv",
            vec![probe_with(
                "/v1/companies/advline/employees.csv",
                Body::Csv(b"employee_id,name\n1009,Mole\n".to_vec()),
                role(),
                missing(),
            )],
        ),
        route(
            Service::Config,
            Method::POST,
            "/v1/companies/{company}/employees/{employee_id}/deactivate",
            vec![probe(
                "/v1/companies/advline/employees/1001/deactivate",
                role(),
                missing(),
            )],
        ),
        route(
            Service::Config,
            Method::GET,
            "/v1/companies/{company}/bayzat-config",
            company_read("/bayzat-config", false),
        ),
        route(
            Service::Config,
            Method::PUT,
            "/v1/companies/{company}/bayzat-config",
            vec![probe_with(
                "/v1/companies/advline/bayzat-config",
                Body::Json(json!({ "is_enabled": false })),
                role(),
                role(),
            )],
        ),
        route(
            Service::Config,
            Method::POST,
            "/v1/companies/{company}/bayzat-config/test",
            vec![probe_with(
                "/v1/companies/advline/bayzat-config/test",
                Body::Json(json!({})),
                role(),
                role(),
            )],
        ),
        // config-service: notification contacts (reading needs ReadCompanies, changing and
        // testing ManageCompanies, which neither limited token has).
        route(
            Service::Config,
            Method::GET,
            "/v1/companies/{company}/notification-contacts",
            company_read("/notification-contacts", false),
        ),
        route(
            Service::Config,
            Method::POST,
            "/v1/companies/{company}/notification-contacts",
            vec![
                probe_with(
                    "/v1/companies/advline/notification-contacts",
                    Body::Json(json!({ "email": "mole@advline.test" })),
                    role(),
                    role(),
                ),
                probe_with(
                    "/v1/companies/clarastars/notification-contacts",
                    Body::Json(json!({ "email": "hr@clarastars.test" })),
                    role(),
                    role(),
                ),
            ],
        ),
        route(
            Service::Config,
            Method::PATCH,
            "/v1/companies/{company}/notification-contacts/{id}",
            vec![probe_with(
                "/v1/companies/advline/notification-contacts/1",
                Body::Json(json!({ "email": "mole@advline.test" })),
                role(),
                role(),
            )],
        ),
        route(
            Service::Config,
            Method::DELETE,
            "/v1/companies/{company}/notification-contacts/{id}",
            vec![probe(
                "/v1/companies/advline/notification-contacts/1",
                role(),
                role(),
            )],
        ),
        route(
            Service::Config,
            Method::POST,
            "/v1/companies/{company}/notification-contacts/test",
            vec![probe_with(
                "/v1/companies/clarastars/notification-contacts/test",
                Body::Json(json!({})),
                role(),
                role(),
            )],
        ),
        route(
            Service::Config,
            Method::GET,
            "/v1/directory",
            vec![probe(
                "/v1/directory",
                Filtered(Box::new(only_clarastars)),
                Filtered(Box::new(only_clarastars)),
            )],
        ),
        route(
            Service::Config,
            Method::GET,
            "/v1/audit",
            vec![probe("/v1/audit?company=advline", role(), role())],
        ),
        // config-service: webhook endpoints are admins' (ManageWebhooks).
        route(
            Service::Config,
            Method::GET,
            "/v1/webhooks",
            vec![probe("/v1/webhooks", role(), role())],
        ),
        route(
            Service::Config,
            Method::POST,
            "/v1/webhooks",
            vec![probe_with(
                "/v1/webhooks",
                Body::Json(json!({
                    "url": "http://127.0.0.1:9/hooks",
                    "event_types": ["import.completed"],
                    "companies": ["clarastars"],
                })),
                role(),
                role(),
            )],
        ),
        route(
            Service::Config,
            Method::GET,
            "/v1/webhooks/{id}",
            vec![probe("/v1/webhooks/1", role(), role())],
        ),
        route(
            Service::Config,
            Method::PATCH,
            "/v1/webhooks/{id}",
            vec![probe_with(
                "/v1/webhooks/1",
                Body::Json(json!({ "enabled": true })),
                role(),
                role(),
            )],
        ),
        route(
            Service::Config,
            Method::DELETE,
            "/v1/webhooks/{id}",
            vec![probe("/v1/webhooks/1", role(), role())],
        ),
        route(
            Service::Config,
            Method::POST,
            "/v1/webhooks/{id}/secret/rotate",
            vec![probe("/v1/webhooks/1/secret/rotate", role(), role())],
        ),
        route(
            Service::Config,
            Method::GET,
            "/v1/webhooks/{id}/deliveries",
            vec![probe("/v1/webhooks/1/deliveries", role(), role())],
        ),
        route(
            Service::Config,
            Method::POST,
            "/v1/webhooks/{id}/deliveries/{delivery}/replay",
            vec![probe("/v1/webhooks/1/deliveries/1/replay", role(), role())],
        ),
        route(
            Service::Config,
            Method::GET,
            "/internal/v1/companies/{company}/bayzat-key",
            vec![probe(
                "/internal/v1/companies/advline/bayzat-key",
                role(),
                role(),
            )],
        ),
        // import-service
        route(
            Service::Import,
            Method::GET,
            "/v1/imports",
            vec![probe(
                "/v1/imports?per_page=100",
                Filtered(Box::new(imports_listed)),
                Filtered(Box::new(imports_listed)),
            )],
        ),
        route(
            Service::Import,
            Method::POST,
            "/v1/imports",
            vec![probe_with(
                "/v1/imports?filename=theirs.csv",
                Body::Csv(csv(&["1005,Mohammed,AdvLine,2026-11-04,08:00,17:00"]).into_bytes()),
                role(),
                Filtered(Box::new(refused_upload)),
            )],
        ),
        route(
            Service::Import,
            Method::GET,
            "/v1/imports/{id}",
            vec![
                hidden(format!("/v1/imports/{advline_import}")),
                probe(
                    format!("/v1/imports/{mixed_import}"),
                    Filtered(Box::new(mixed_read)),
                    Filtered(Box::new(mixed_read)),
                ),
                probe(format!("/v1/imports/{clara_import}"), Allowed, Allowed),
            ],
        ),
        route(
            Service::Import,
            Method::GET,
            "/v1/imports/{id}/rows",
            vec![
                hidden(format!("/v1/imports/{advline_import}/rows")),
                hidden(format!("/v1/imports/{clara_import}/rows?company=advline")),
                probe(
                    format!("/v1/imports/{mixed_import}/rows"),
                    Filtered(Box::new(mixed_rows)),
                    Filtered(Box::new(mixed_rows)),
                ),
            ],
        ),
        route(
            Service::Import,
            Method::GET,
            "/v1/imports/{id}/rows.csv",
            vec![
                hidden(format!("/v1/imports/{advline_import}/rows.csv")),
                probe(
                    format!("/v1/imports/{mixed_import}/rows.csv"),
                    Filtered(Box::new(mixed_csv)),
                    Filtered(Box::new(mixed_csv)),
                ),
            ],
        ),
        route(
            Service::Import,
            Method::GET,
            "/v1/imports/{id}/rows.xlsx",
            vec![
                hidden(format!("/v1/imports/{advline_import}/rows.xlsx")),
                probe(
                    format!("/v1/imports/{mixed_import}/rows.xlsx"),
                    Filtered(Box::new(mixed_xlsx)),
                    Filtered(Box::new(mixed_xlsx)),
                ),
            ],
        ),
        route(
            Service::Import,
            Method::POST,
            "/v1/imports/{id}/reprocess",
            import_action("reprocess"),
        ),
        route(
            Service::Import,
            Method::POST,
            "/v1/imports/{id}/release",
            import_action("release"),
        ),
        route(
            Service::Import,
            Method::POST,
            "/v1/imports/{id}/cancel",
            vec![
                probe(
                    format!("/v1/imports/{advline_import}/cancel"),
                    role(),
                    missing(),
                ),
                probe(format!("/v1/imports/{mixed_import}/cancel"), role(), role()),
            ],
        ),
        route(
            Service::Import,
            Method::GET,
            "/v1/clocks",
            vec![probe(
                "/v1/clocks",
                Filtered(Box::new(clocks_listed)),
                Filtered(Box::new(clocks_listed)),
            )],
        ),
        route(
            Service::Import,
            Method::POST,
            "/v1/clocks",
            vec![probe_with(
                "/v1/clocks",
                Body::Json(json!({ "serial_number": "SEC-NEW", "companies": ["clarastars"] })),
                role(),
                role(),
            )],
        ),
        route(
            Service::Import,
            Method::PATCH,
            "/v1/clocks/{id}",
            vec![
                probe_with(
                    format!("/v1/clocks/{advline_clock}"),
                    Body::Json(json!({ "time_zone": "Asia/Dubai" })),
                    role(),
                    role(),
                ),
                probe_with(
                    format!("/v1/clocks/{clara_clock}"),
                    Body::Json(json!({ "time_zone": "Asia/Dubai" })),
                    role(),
                    role(),
                ),
            ],
        ),
        route(
            Service::Import,
            Method::POST,
            "/v1/clocks/{id}/approve",
            vec![
                probe(
                    format!("/v1/clocks/{advline_clock}/approve"),
                    role(),
                    role(),
                ),
                probe(format!("/v1/clocks/{clara_clock}/approve"), role(), role()),
            ],
        ),
        route(
            Service::Import,
            Method::POST,
            "/v1/clocks/{id}/disable",
            vec![
                probe(
                    format!("/v1/clocks/{advline_clock}/disable"),
                    role(),
                    role(),
                ),
                probe(format!("/v1/clocks/{clara_clock}/disable"), role(), role()),
            ],
        ),
        route(
            Service::Import,
            Method::GET,
            "/v1/clocks/{id}/punches",
            vec![
                hidden(format!("/v1/clocks/{advline_clock}/punches")),
                probe(
                    format!("/v1/clocks/{clara_clock}/punches"),
                    Allowed,
                    Allowed,
                ),
            ],
        ),
        // BioTime servers: a limited token lists only servers all of whose companies it covers
        // (tests/biotime.rs of import-service registers and scopes them); neither role changes one.
        route(
            Service::Import,
            Method::GET,
            "/v1/biotime-servers",
            vec![probe(
                "/v1/biotime-servers",
                Filtered(Box::new(biotime_listed)),
                Filtered(Box::new(biotime_listed)),
            )],
        ),
        route(
            Service::Import,
            Method::POST,
            "/v1/biotime-servers",
            vec![probe_with(
                "/v1/biotime-servers",
                Body::Json(json!({
                    "name": "SEC-BIOTIME", "url": "http://127.0.0.1:9", "username": "admin",
                    "password": "secret", "mapping": { "by": "department", "companies": { "*": "clarastars" } },
                })),
                role(),
                role(),
            )],
        ),
        route(
            Service::Import,
            Method::PATCH,
            "/v1/biotime-servers/{id}",
            vec![probe_with(
                "/v1/biotime-servers/1",
                Body::Json(json!({ "interval_seconds": 600 })),
                role(),
                role(),
            )],
        ),
        route(
            Service::Import,
            Method::POST,
            "/v1/biotime-servers/{id}/pull",
            vec![probe("/v1/biotime-servers/1/pull", role(), role())],
        ),
        // sync-service
        route(
            Service::Sync,
            Method::GET,
            "/v1/batches",
            vec![
                probe(
                    "/v1/batches?per_page=100",
                    Filtered(only_company(clara)),
                    Filtered(only_company(clara)),
                ),
                hidden("/v1/batches?company=advline"),
            ],
        ),
        route(
            Service::Sync,
            Method::GET,
            "/v1/batches/{id}",
            vec![
                hidden(format!("/v1/batches/{advline_batch}")),
                probe(format!("/v1/batches/{clara_batch}"), Allowed, Allowed),
            ],
        ),
        route(
            Service::Sync,
            Method::POST,
            "/v1/batches/{id}/retry",
            vec![
                probe(
                    format!("/v1/batches/{advline_batch}/retry"),
                    role(),
                    missing(),
                ),
                probe(format!("/v1/batches/{clara_batch}/retry"), role(), Allowed),
            ],
        ),
        route(
            Service::Sync,
            Method::GET,
            "/v1/companies/{company}/sync-health",
            company_read("/sync-health", false),
        ),
        route(
            Service::Sync,
            Method::POST,
            "/v1/companies/{company}/sync-now",
            vec![
                probe("/v1/companies/advline/sync-now", role(), missing()),
                probe("/v1/companies/clarastars/sync-now", role(), Allowed),
            ],
        ),
        route(
            Service::Sync,
            Method::GET,
            "/v1/companies/{company}/usage",
            company_read("/usage", true),
        ),
        route(
            Service::Sync,
            Method::GET,
            "/v1/deliveries",
            vec![
                probe(
                    "/v1/deliveries?per_page=100",
                    Filtered(only_company(clara)),
                    Filtered(only_company(clara)),
                ),
                probe(
                    format!("/v1/deliveries?import_id={mixed_import}&per_page=100"),
                    Filtered(only_company(clara)),
                    Filtered(only_company(clara)),
                ),
                hidden("/v1/deliveries?company=advline"),
            ],
        ),
        route(
            Service::Sync,
            Method::POST,
            "/v1/imports/{id}/sync-now",
            import_action("sync-now"),
        ),
        route(
            Service::Sync,
            Method::GET,
            "/v1/dead-letters",
            vec![
                probe(
                    "/v1/dead-letters?state=all&per_page=100",
                    role(),
                    Filtered(only_company(clara)),
                ),
                probe("/v1/dead-letters?company=advline", role(), missing()),
            ],
        ),
        route(
            Service::Sync,
            Method::POST,
            "/v1/dead-letters/{id}/replay",
            vec![probe("/v1/dead-letters/1/replay", role(), missing())],
        ),
    ];

    // The table covers exactly the documented routes.
    let documented = documented_routes();
    let tabled: BTreeSet<(String, String, String)> = routes
        .iter()
        .map(|r| {
            (
                r.service.to_string(),
                r.method.to_string(),
                r.template.to_owned(),
            )
        })
        .collect();
    let untabled: Vec<_> = documented.difference(&tabled).collect();
    let undocumented: Vec<_> = tabled.difference(&documented).collect();
    assert!(
        untabled.is_empty() && undocumented.is_empty(),
        "routes without a row (say what a limited token gets): {untabled:?}; rows of no documented route: {undocumented:?}"
    );

    let mut failures = Vec::new();
    for route in &routes {
        assert!(!route.probes.is_empty(), "{} has no probe", route.template);
        for probe in &route.probes {
            for (who, token, want) in [
                ("viewer", &viewer, &probe.viewer),
                ("operator", &operator, &probe.operator),
            ] {
                let reply = call(
                    &system,
                    route.service,
                    &route.method,
                    &probe.path,
                    token,
                    &probe.body,
                )
                .await;
                if let Err(why) = want.judge(&reply) {
                    failures.push(format!(
                        "{} {}{} as the clarastars {who}: {why}; got {reply}",
                        route.method, route.service, probe.path
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Nothing happened to advline meanwhile, and its import is whole for an admin.
    let advline_view = system
        .get(Service::Import, &format!("/v1/imports/{advline_import}"))
        .await;
    assert_eq!(
        advline_view.body["cancelled_at"],
        Value::Null,
        "{advline_view}"
    );
    let company = system.get(Service::Config, "/v1/companies/advline").await;
    assert_eq!(company.body["name_en"], "Advanced Line for Technology");

    // `companies: []` is no company, in every service.
    let nobody = token("nobody", Role::Admin, Some(&[]));
    for (service, path) in [
        (Service::Import, "/v1/imports"),
        (Service::Sync, "/v1/batches"),
        (Service::Sync, "/v1/deliveries"),
    ] {
        let reply = call(&system, service, &Method::GET, path, &nobody, &Body::None).await;
        assert_eq!(
            (reply.status, &reply.body["total"]),
            (200, &json!(0)),
            "{service}{path}: {reply}"
        );
    }
    let reply = call(
        &system,
        Service::Config,
        &Method::GET,
        "/v1/companies",
        &nobody,
        &Body::None,
    )
    .await;
    assert_eq!(reply.body, json!([]), "{reply}");
    for (service, path) in [
        (Service::Config, "/v1/companies/clarastars"),
        (Service::Sync, "/v1/companies/clarastars/sync-health"),
    ] {
        let reply = call(&system, service, &Method::GET, path, &nobody, &Body::None).await;
        assert_eq!(reply.status, 404, "{service}{path}: {reply}");
    }
    let reply = call(
        &system,
        Service::Import,
        &Method::GET,
        &format!("/v1/imports/{clara_import}"),
        &nobody,
        &Body::None,
    )
    .await;
    assert_eq!(reply.status, 404, "{reply}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_limited_to_clarastars_imports_for_clarastars_only() {
    let system = System::start().await;
    let clara = system.company_id("clarastars").await;
    let operator = token("clara-operator", Role::Operator, Some(&["clarastars"]));
    let viewer = token("clara-viewer", Role::Viewer, Some(&["clarastars"]));
    let admin = token("admin-security", Role::Admin, None);

    // advline's rows in a clarastars operator's upload: stored, refused, never sent.
    let mine = csv(&[
        "1001,Ahmed,AdvLine,2026-11-05,08:00,17:00",
        "1002,Fatima,AdvLine,2026-11-05,08:05,17:05",
        "2001,Sara,ClaraStars,2026-11-05,08:00,16:00",
    ]);
    let strict = upload(&system, &operator, "mine.csv", &mine, "strict=true").await;
    assert_eq!(
        strict.status, 422,
        "strict refuses the file whole: {strict}"
    );
    assert_eq!(strict.body["code"], "company_not_permitted", "{strict}");
    let uploaded = upload(&system, &operator, "mine.csv", &mine, "").await;
    assert_eq!(uploaded.status, 201, "{uploaded}");
    let import = uploaded.body["id"].as_i64().unwrap();
    assert_eq!(
        uploaded.body["progress"].as_object().unwrap().len(),
        1,
        "{uploaded}"
    );
    assert_eq!(
        uploaded.body["progress"]["clarastars"]["queued"], 2,
        "{uploaded}"
    );
    assert_eq!(uploaded.body["punches_new"], 2, "{uploaded}");
    let rows = call(
        &system,
        Service::Import,
        &Method::GET,
        &format!("/v1/imports/{import}/rows?error=company_not_permitted"),
        &operator,
        &Body::None,
    )
    .await;
    assert_eq!(
        rows.body["total"], 2,
        "the uploader sees its refused rows: {rows}"
    );
    for row in rows.body["items"].as_array().unwrap() {
        assert_eq!(row["outcome"], "invalid", "{row}");
        assert_eq!(row["company_id"], Value::Null, "{row}");
        assert_eq!(row["employee_id"], Value::Null, "{row}");
    }
    // Reprocessed by an admin, the import keeps its uploader's scope: advline's rows stay refused.
    let reprocessed = call(
        &system,
        Service::Import,
        &Method::POST,
        &format!("/v1/imports/{import}/reprocess"),
        &admin,
        &Body::None,
    )
    .await;
    assert_eq!(reprocessed.status, 200, "{reprocessed}");
    assert_eq!(reprocessed.body["failed_records"], 2, "{reprocessed}");
    assert_eq!(
        reprocessed.body["progress"].as_object().unwrap().len(),
        1,
        "{reprocessed}"
    );
    bridge_tests::wait_for(SETTLE, "clarastars' punches in Bayzat", || async {
        let held = system.ledger_of("clarastars").await;
        (held.len() == 2).then_some(()).ok_or(format!("{held:?}"))
    })
    .await;
    assert_eq!(
        system.ledger_of("advline").await,
        vec![],
        "nothing reached advline"
    );
    assert_eq!(
        system
            .get(Service::Sync, "/v1/deliveries?company=advline")
            .await
            .body["total"],
        0
    );
    let mut imports_of_the_operator = call(
        &system,
        Service::Import,
        &Method::GET,
        "/v1/imports?uploaded_by=clara-operator",
        &admin,
        &Body::None,
    )
    .await;
    assert_eq!(
        imports_of_the_operator.body["total"], 1,
        "the strict upload stored nothing: {imports_of_the_operator}"
    );

    // Another clarastars user sees the import (it has clarastars' rows), but not the rows of no
    // company: those are the uploader's.
    let seen = call(
        &system,
        Service::Import,
        &Method::GET,
        &format!("/v1/imports/{import}"),
        &viewer,
        &Body::None,
    )
    .await;
    assert_eq!(seen.status, 200, "{seen}");
    assert_eq!(
        (
            seen.body["total_records"].as_i64(),
            seen.body["failed_records"].as_i64()
        ),
        (Some(1), Some(0)),
        "{seen}"
    );
    let rows = call(
        &system,
        Service::Import,
        &Method::GET,
        &format!("/v1/imports/{import}/rows"),
        &viewer,
        &Body::None,
    )
    .await;
    assert_eq!(rows.body["total"], 1, "{rows}");
    assert_eq!(rows.body["items"][0]["company_id"], clara, "{rows}");

    // An import of no company yet (an unmapped department): its uploader may act on it, another
    // clarastars operator does not see it.
    let unmapped = upload(
        &system,
        &operator,
        "unmapped.csv",
        &csv(&["2004,Noura,Marketing,2026-11-05,08:00,16:00"]),
        "",
    )
    .await;
    assert_eq!(unmapped.status, 201, "{unmapped}");
    assert_eq!(
        unmapped.body["unmapped_departments"][0]["name"], "Marketing",
        "{unmapped}"
    );
    let unmapped_id = unmapped.body["id"].as_i64().unwrap();
    let colleague = token("clara-colleague", Role::Operator, Some(&["clarastars"]));
    for (who, status) in [(&operator, 200), (&colleague, 404)] {
        let reply = call(
            &system,
            Service::Import,
            &Method::POST,
            &format!("/v1/imports/{unmapped_id}/reprocess"),
            who,
            &Body::None,
        )
        .await;
        assert_eq!(reply.status, status, "{reply}");
    }

    // An admin's advline-only file: the clarastars users do not see it, and the same bytes
    // uploaded by the clarastars operator do not answer with it.
    let theirs = csv(&[
        "1003,Rajesh,AdvLine,2026-11-06,08:30,17:30",
        "9999,Ghost,AdvLine,2026-11-06,09:00,17:00",
    ]);
    let admins = upload(&system, &admin, "theirs.csv", &theirs, "").await;
    assert_eq!(admins.status, 201, "{admins}");
    let theirs_id = admins.body["id"].as_i64().unwrap();
    for who in [&viewer, &operator] {
        let listed = call(
            &system,
            Service::Import,
            &Method::GET,
            "/v1/imports",
            who,
            &Body::None,
        )
        .await;
        assert!(!ids_of(&listed, "id").contains(&theirs_id), "{listed}");
        let read = call(
            &system,
            Service::Import,
            &Method::GET,
            &format!("/v1/imports/{theirs_id}"),
            who,
            &Body::None,
        )
        .await;
        assert_eq!(read.status, 404, "{read}");
    }
    let again = upload(&system, &operator, "theirs.csv", &theirs, "").await;
    assert_eq!(again.status, 201, "not the admin's import: {again}");
    assert_ne!(again.body["id"].as_i64(), Some(theirs_id), "{again}");
    assert!(!again.text.contains("9999"), "{again}");
    assert_eq!(again.body["progress"], json!({}), "{again}");
    assert_eq!(again.body["failed_records"], 2, "{again}");

    // The same bytes as an import with clarastars' rows: that import, as the operator may see it.
    let mixed = csv(&[
        "1004,Maria,AdvLine,2026-11-07,08:45,17:15",
        "2003,Aisha,ClaraStars,2026-11-07,08:00,16:00",
    ]);
    let first = upload(&system, &admin, "mixed.csv", &mixed, "").await;
    assert_eq!(first.status, 201, "{first}");
    let reused = upload(&system, &operator, "mixed.csv", &mixed, "").await;
    assert_eq!(reused.status, 200, "{reused}");
    assert_eq!(reused.body["reused"], true, "{reused}");
    assert_eq!(reused.body["id"], first.body["id"], "{reused}");
    let progress: Vec<&String> = reused.body["progress"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(progress, ["clarastars"], "{reused}");
    assert_eq!(reused.body["total_records"], 1, "{reused}");

    // A dry run says nothing of other companies' employees.
    let dry = upload(
        &system,
        &operator,
        "dry.csv",
        &csv(&[
            "1007,John,AdvLine,2026-11-08,08:00,17:00",
            "1001,Ahmed,ClaraStars,2026-11-08,08:00,17:00",
        ]),
        "dry_run=true",
    )
    .await;
    assert_eq!(dry.status, 200, "{dry}");
    assert!(!dry.text.contains("advline"), "{dry}");
    assert!(!dry.text.contains("ADV-1007"), "{dry}");
    let results = dry.body["row_results"].as_array().unwrap();
    assert_eq!(
        results[0]["errors"][0]["code"], "company_not_permitted",
        "{dry}"
    );
    assert_eq!(
        (&results[0]["company_id"], &results[0]["employee_id"]),
        (&Value::Null, &Value::Null),
        "{dry}"
    );
    assert_eq!(results[1]["errors"][0]["code"], "unknown_employee", "{dry}");

    imports_of_the_operator = call(
        &system,
        Service::Import,
        &Method::GET,
        "/v1/imports?uploaded_by=clara-operator",
        &admin,
        &Body::None,
    )
    .await;
    assert_eq!(
        imports_of_the_operator.body["total"], 3,
        "{imports_of_the_operator}"
    );
}
