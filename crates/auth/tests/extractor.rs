//! The `Caller` extractor inside a real actix-web app: the answers a service's clients see.

use actix_web::http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use actix_web::http::StatusCode;
use actix_web::{test, web, App, HttpResponse};
use auth::{Caller, Claims, JwtKeys, Permission, Role};
use chrono::Duration;
use service_kit::Problem;

const SECRET: &[u8] = b"extractor-test-secret-0123456789abcdef";

fn keys() -> JwtKeys {
    JwtKeys::new(SECRET)
}

async fn list_imports(caller: Caller) -> Result<HttpResponse, Problem> {
    caller.require(Permission::ReadImports)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "sub": caller.sub(),
        "companies": caller.visible_companies(),
    })))
}

async fn upload(caller: Caller, path: web::Path<String>) -> Result<HttpResponse, Problem> {
    caller.require_for_company(Permission::UploadImports, &path)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"company": path.into_inner()})))
}

async fn company(caller: Caller, path: web::Path<String>) -> Result<HttpResponse, Problem> {
    caller.require(Permission::ReadCompanies)?;
    caller.require_company(&path)?;
    Ok(HttpResponse::Ok().finish())
}

async fn decrypted_key(caller: Caller, path: web::Path<String>) -> Result<HttpResponse, Problem> {
    caller.require_for_company(Permission::ReadDecryptedKey, &path)?;
    Ok(HttpResponse::Ok().finish())
}

struct Answer {
    status: StatusCode,
    content_type: Option<String>,
    challenge: Option<String>,
    body: String,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }

    fn code(&self) -> Option<String> {
        self.json()["code"].as_str().map(str::to_owned)
    }

    fn assert_problem(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(
            self.content_type.as_deref(),
            Some("application/problem+json"),
            "{}",
            self.body
        );
        assert_eq!(self.code().as_deref(), Some(code), "{}", self.body);
        assert_eq!(self.json()["status"], status.as_u16());
        let challenge_expected = status == StatusCode::UNAUTHORIZED;
        assert_eq!(
            self.challenge.is_some(),
            challenge_expected,
            "{:?}",
            self.challenge
        );
        if let Some(challenge) = &self.challenge {
            assert!(challenge.starts_with("Bearer"), "{challenge}");
        }
    }
}

async fn call(method: &str, uri: &str, authorization: Option<&str>) -> Answer {
    call_with(Some(keys()), method, uri, authorization).await
}

async fn call_with(
    keys: Option<JwtKeys>,
    method: &str,
    uri: &str,
    authorization: Option<&str>,
) -> Answer {
    let mut app = App::new()
        .route("/imports", web::get().to(list_imports))
        .route("/companies/{slug}/imports", web::post().to(upload))
        .route("/companies/{slug}", web::get().to(company))
        .route(
            "/internal/companies/{slug}/key",
            web::get().to(decrypted_key),
        );
    if let Some(keys) = keys {
        app = app.app_data(web::Data::new(keys));
    }
    let service = test::init_service(app).await;
    let mut request = match method {
        "POST" => test::TestRequest::post(),
        _ => test::TestRequest::get(),
    }
    .uri(uri);
    if let Some(value) = authorization {
        request = request.insert_header((AUTHORIZATION, value));
    }
    let response = test::call_service(&service, request.to_request()).await;
    let status = response.status();
    let header = |name| {
        response
            .headers()
            .get(name)
            .map(|v: &actix_web::http::header::HeaderValue| v.to_str().unwrap().to_owned())
    };
    let content_type = header(CONTENT_TYPE);
    let challenge = header(WWW_AUTHENTICATE);
    let body = test::read_body(response).await;
    Answer {
        status,
        content_type,
        challenge,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn token(role: Role, companies: Option<&[&str]>) -> String {
    keys().mint_for(
        "alice@example.com",
        role,
        companies.map(|c| c.iter().map(|s| s.to_string()).collect()),
        Duration::minutes(10),
    )
}

#[actix_web::test]
async fn no_authorization_header_is_401_unauthenticated() {
    call("GET", "/imports", None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
}

#[actix_web::test]
async fn other_schemes_are_401_unauthenticated() {
    let token = token(Role::Admin, None);
    for value in [
        "Basic YWxpY2U6c2VjcmV0".to_owned(),
        token.clone(),
        format!("Token {token}"),
        "Bearer".to_owned(),
    ] {
        let answer = call("GET", "/imports", Some(&value)).await;
        answer.assert_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
        assert!(!answer.body.contains(&token));
    }
}

#[actix_web::test]
async fn bad_tokens_are_401_invalid_token_without_echoing_them() {
    let foreign = JwtKeys::new(b"some-other-secret-some-other-secret").mint_for(
        "mallory",
        Role::Admin,
        None,
        Duration::minutes(5),
    );
    let console = keys()
        .mint(&Claims::new("alice", Role::Admin, Duration::minutes(5)).with_audience("console"));
    for bad in [
        "garbage".to_owned(),
        "aaaa.bbbb.cccc".to_owned(),
        foreign,
        console,
    ] {
        let answer = call("GET", "/imports", Some(&bearer(&bad))).await;
        answer.assert_problem(StatusCode::UNAUTHORIZED, "invalid_token");
        assert!(!answer.body.contains(&bad), "{}", answer.body);
        let detail = answer.json()["detail"].as_str().unwrap().to_owned();
        assert!(detail.contains("invalid"), "{detail}");
        assert!(!detail.contains("expired"), "{detail}");
    }
}

#[actix_web::test]
async fn expired_token_is_401_invalid_token_saying_expired() {
    let expired = keys().mint(&Claims::new("alice", Role::Admin, -Duration::minutes(1)));
    let answer = call("GET", "/imports", Some(&bearer(&expired))).await;
    answer.assert_problem(StatusCode::UNAUTHORIZED, "invalid_token");
    assert!(answer.json()["detail"]
        .as_str()
        .unwrap()
        .contains("expired"));
    assert!(answer.challenge.unwrap().contains("invalid_token"));
    assert!(!answer.body.contains(&expired));
}

#[actix_web::test]
async fn a_role_without_the_permission_is_403_forbidden() {
    let answer = call(
        "POST",
        "/companies/acme/imports",
        Some(&bearer(&token(Role::Viewer, None))),
    )
    .await;
    answer.assert_problem(StatusCode::FORBIDDEN, "forbidden");
    let detail = answer.json()["detail"].as_str().unwrap().to_owned();
    assert!(
        detail.contains("viewer") && detail.contains("upload_imports"),
        "{detail}"
    );
}

#[actix_web::test]
async fn the_service_role_cannot_read_what_viewers_read() {
    let service = token(Role::Service, None);
    call("GET", "/imports", Some(&bearer(&service)))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    let answer = call(
        "GET",
        "/internal/companies/acme/key",
        Some(&bearer(&service)),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    call(
        "GET",
        "/internal/companies/acme/key",
        Some(&bearer(&token(Role::Admin, None))),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, "forbidden");
}

#[actix_web::test]
async fn another_company_is_404_as_if_it_did_not_exist() {
    let acme_only = token(Role::Operator, Some(&["acme"]));
    call(
        "POST",
        "/companies/globex/imports",
        Some(&bearer(&acme_only)),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "not_found");
    call("GET", "/companies/globex", Some(&bearer(&acme_only)))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
}

#[actix_web::test]
async fn allowed_calls_are_200() {
    let acme_only = token(Role::Operator, Some(&["acme"]));
    let answer = call("POST", "/companies/acme/imports", Some(&bearer(&acme_only))).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.json()["company"], "acme");

    let everywhere = token(Role::Admin, None);
    let answer = call("GET", "/companies/globex", Some(&bearer(&everywhere))).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);

    let lowercase_scheme = format!("bearer {}", token(Role::Viewer, None));
    let answer = call("GET", "/imports", Some(&lowercase_scheme)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
}

#[actix_web::test]
async fn list_endpoints_see_the_token_companies() {
    let limited = token(Role::Viewer, Some(&["acme", "globex"]));
    let answer = call("GET", "/imports", Some(&bearer(&limited))).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["sub"], "alice@example.com");
    assert_eq!(
        answer.json()["companies"],
        serde_json::json!(["acme", "globex"])
    );

    let all = token(Role::Viewer, None);
    let answer = call("GET", "/imports", Some(&bearer(&all))).await;
    assert_eq!(answer.json()["companies"], serde_json::Value::Null);
}

#[actix_web::test]
async fn a_service_without_registered_keys_answers_500_not_401() {
    let answer = call_with(
        None,
        "GET",
        "/imports",
        Some(&bearer(&token(Role::Admin, None))),
    )
    .await;
    answer.assert_problem(StatusCode::INTERNAL_SERVER_ERROR, "auth_not_configured");
}
