//! The role matrix of docs/architecture.md#security over every endpoint: no token and an expired token are 401, a
//! role the endpoint does not allow is 403, and a company outside a limited token is 404.

mod common;

use auth::{Claims, Role};
use common::App;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

struct Endpoint {
    method: Method,
    path: &'static str,
    body: Option<Value>,
    /// The roles allowed, as letters: v(iewer), o(perator), a(dmin), s(ervice).
    allowed: &'static str,
    /// Whether it acts on the company in its path (or body), so a token for another company gets
    /// the answer of a missing company.
    company_scoped: bool,
}

fn endpoints() -> Vec<Endpoint> {
    let e = |method: Method, path, body: Option<Value>, allowed, company_scoped| Endpoint {
        method,
        path,
        body,
        allowed,
        company_scoped,
    };
    vec![
        e(Method::GET, "/v1/companies", None, "voa", false),
        e(
            Method::POST,
            "/v1/companies",
            Some(json!({ "slug": "newco", "name_en": "New" })),
            "a",
            true,
        ),
        e(Method::GET, "/v1/companies/advline", None, "voa", true),
        e(
            Method::PATCH,
            "/v1/companies/advline",
            Some(json!({})),
            "a",
            true,
        ),
        e(
            Method::POST,
            "/v1/companies/advline/report-names",
            Some(json!({ "name": "AdvLine" })),
            "oa",
            true,
        ),
        e(
            Method::DELETE,
            "/v1/companies/advline/report-names/999999",
            None,
            "oa",
            true,
        ),
        e(
            Method::GET,
            "/v1/companies/advline/employees",
            None,
            "voa",
            true,
        ),
        e(
            Method::PUT,
            "/v1/companies/advline/employees",
            Some(json!({ "employees": [] })),
            "oa",
            true,
        ),
        e(
            Method::POST,
            "/v1/companies/advline/employees.csv",
            None,
            "oa",
            true,
        ),
        e(
            Method::POST,
            "/v1/companies/advline/employees/1001/deactivate",
            None,
            "oa",
            true,
        ),
        e(
            Method::GET,
            "/v1/companies/advline/bayzat-config",
            None,
            "voa",
            true,
        ),
        e(
            Method::PUT,
            "/v1/companies/advline/bayzat-config",
            Some(json!({ "is_enabled": true })),
            "a",
            true,
        ),
        e(
            Method::POST,
            "/v1/companies/advline/bayzat-config/test",
            Some(json!({ "api_key": "x" })),
            "a",
            true,
        ),
        e(Method::GET, "/v1/directory", None, "voas", false),
        e(Method::GET, "/v1/audit", None, "a", false),
        e(
            Method::GET,
            "/internal/v1/companies/advline/bayzat-key",
            None,
            "s",
            true,
        ),
    ]
}

fn letter(role: Role) -> char {
    match role {
        Role::Viewer => 'v',
        Role::Operator => 'o',
        Role::Admin => 'a',
        Role::Service => 's',
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_endpoint_answers_each_kind_of_caller_as_the_role_table_says() {
    let app = App::start().await;
    app.company("advline", &["AdvLine"]).await;
    app.company("gulflog", &[]).await;
    app.put(
        "/v1/companies/advline/employees",
        &app.admin(),
        json!({ "employees": [{ "employee_id": "1001", "name": "Ahmed" }] }),
    )
    .await;
    app.put(
        "/v1/companies/advline/bayzat-config",
        &app.admin(),
        json!({ "api_key": "bz_key", "test_connection": false }),
    )
    .await;

    let expired = app.keys.mint(&Claims {
        exp: chrono::Utc::now().timestamp() - 3600,
        ..Claims::new("late", Role::Admin, chrono::Duration::minutes(1))
    });
    let mut failures = Vec::new();
    for endpoint in endpoints() {
        let mut callers: Vec<(String, Option<String>, StatusCode)> = vec![
            ("no token".into(), None, StatusCode::UNAUTHORIZED),
            (
                "expired".into(),
                Some(expired.clone()),
                StatusCode::UNAUTHORIZED,
            ),
            (
                "garbage".into(),
                Some("not.a.jwt".into()),
                StatusCode::UNAUTHORIZED,
            ),
        ];
        for role in Role::ALL {
            let allowed = endpoint.allowed.contains(letter(role));
            let expected = if allowed {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            };
            callers.push((role.as_str().into(), Some(app.token(role)), expected));
            // The same role limited to another company: the role is checked first, then a
            // company outside the token answers as a missing one (creating one is refused).
            let creates = endpoint.method == Method::POST && endpoint.path == "/v1/companies";
            let expected = if !allowed || creates {
                StatusCode::FORBIDDEN
            } else if endpoint.company_scoped {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::OK
            };
            callers.push((
                format!("{} of gulflog", role.as_str()),
                Some(app.token_for(role, &["gulflog"])),
                expected,
            ));
        }
        for (who, token, expected) in callers {
            let (status, body) = app
                .call(
                    endpoint.method.clone(),
                    endpoint.path,
                    token.as_deref(),
                    endpoint.body.clone(),
                )
                .await;
            let ok = match expected {
                // Allowed: anything but an authentication or authorization refusal.
                StatusCode::OK => {
                    status != StatusCode::UNAUTHORIZED
                        && status != StatusCode::FORBIDDEN
                        && !status.is_server_error()
                }
                refused => status == refused && body["code"].is_string(),
            };
            if !ok {
                failures.push(format!(
                    "{} {} as {who}: {status} {body}",
                    endpoint.method, endpoint.path
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_show_only_the_companies_a_token_may_see() {
    let app = App::start().await;
    app.company("advline", &[]).await;
    app.company("gulflog", &[]).await;
    let limited = app.token_for(Role::Viewer, &["gulflog"]);
    let (_, list) = app.get("/v1/companies", &limited).await;
    let slugs: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["gulflog"]);
    let (_, snapshot) = app.get("/v1/directory", &limited).await;
    assert_eq!(snapshot["companies"].as_array().unwrap().len(), 1);
    let (_, audit) = app
        .get("/v1/audit", &app.token_for(Role::Admin, &["gulflog"]))
        .await;
    assert!(
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["target"] == "gulflog"),
        "{audit}"
    );
    assert_eq!(audit["total"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_company_outside_the_token_is_told_apart_from_a_missing_one_by_nothing() {
    let app = App::start().await;
    app.company("advline", &[]).await;
    app.company("gulflog", &["GulfLog"]).await;
    let advline_only = app.token_for(Role::Operator, &["advline"]);
    let (other, other_body) = app.get("/v1/companies/gulflog", &advline_only).await;
    let (missing, missing_body) = app.get("/v1/companies/nosuchco", &advline_only).await;
    assert_eq!(other, StatusCode::NOT_FOUND, "{other_body}");
    assert_eq!((other, other_body), (missing, missing_body));

    // A report name another company has: 409, naming it only to a token that may see it.
    let (status, problem) = app
        .post(
            "/v1/companies/advline/report-names",
            &advline_only,
            json!({ "name": "gulflog" }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["code"], "report_name_taken");
    let text = problem.to_string();
    assert!(!text.to_lowercase().contains("gulflog llc"), "{text}");
    assert!(problem.get("company").is_none(), "{text}");
    let (status, problem) = app
        .post(
            "/v1/companies/advline/report-names",
            &app.token(Role::Operator),
            json!({ "name": "gulflog" }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(problem["company"], "gulflog LLC (gulflog)", "{problem}");

    // `companies: []` is no company at all.
    let nothing = app.token_for(Role::Admin, &[]);
    let (status, list) = app.get("/v1/companies", &nothing).await;
    assert_eq!((status, list), (StatusCode::OK, json!([])));
    let (status, _) = app.get("/v1/companies/advline", &nothing).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, snapshot) = app.get("/v1/directory", &nothing).await;
    assert_eq!(snapshot["companies"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_all_digit_slug_is_refused_because_paths_read_digits_as_an_id() {
    let app = App::start().await;
    let (status, problem) = app
        .post(
            "/v1/companies",
            &app.admin(),
            json!({ "slug": "777", "name_en": "Digits" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["code"], "invalid_slug");
    let (status, _) = app.get("/v1/companies/777", &app.admin()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Digits among letters are a slug like any other, reachable by it.
    let (status, created) = app
        .post(
            "/v1/companies",
            &app.admin(),
            json!({ "slug": "777-trading", "name_en": "Sevens" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, found) = app.get("/v1/companies/777-trading", &app.admin()).await;
    assert_eq!(
        (status, &found["slug"]),
        (StatusCode::OK, &json!("777-trading"))
    );
}
