//! Sign-in with the IT portal's login token, the session cookie, CSRF, expiry and sign-out,
//! over plain HTTP.

mod common;

use std::time::{Duration, Instant};

use auth::{Claims, Role};
use common::*;

fn csrf_of(page: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let start = page.find(marker).expect("a form with a csrf field") + marker.len();
    page[start..start + page[start..].find('"').unwrap()].to_owned()
}

async fn get(stack: &Stack, path: &str, cookie: &str) -> (u16, String) {
    let response = stack
        .client
        .get(format!("{}{path}", stack.console_base))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_portals_login_token_opens_one_session_that_sign_out_ends() {
    let stack = Stack::start(Services::ConsoleOnly).await;
    let (status, page) = get(&stack, "/", "").await;
    assert_eq!(status, 401);
    assert!(page.contains("Signed out"), "{page}");

    let token = stack.login_token("jane@corp.example", Role::Operator, Some(&["advline"]));
    let response = stack.sign_in_http(&token).await;
    assert_eq!(response.status().as_u16(), 200);
    let set_cookie = response
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "plain http: {set_cookie}");
    assert!(!set_cookie.contains(&token), "{set_cookie}");
    let cookie = session_cookie(&response).unwrap();
    assert!(response.text().await.unwrap().contains(r#"url=/"#));

    let (status, page) = get(&stack, "/", &cookie).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("jane@corp.example (operator)"), "{page}");

    // A login token opens one session only, and only tokens made for the console open one.
    assert_eq!(stack.sign_in_http(&token).await.status().as_u16(), 401);
    let api_token = stack.api_token(Role::Admin);
    let elsewhere = stack.keys.mint(
        &Claims::new("x", Role::Admin, chrono::Duration::minutes(1)).with_audience("reports"),
    );
    let expired = stack.keys.mint(
        &Claims::new("x", Role::Admin, chrono::Duration::minutes(-5)).with_audience("console"),
    );
    let service = stack.login_token("sync-service", Role::Service, None);
    let forged = auth::JwtKeys::new(b"another-secret-another-secret-xx").mint(
        &Claims::new("x", Role::Admin, chrono::Duration::minutes(1)).with_audience("console"),
    );
    for refused in [
        api_token,
        elsewhere,
        expired,
        service,
        forged,
        "garbage".to_owned(),
    ] {
        let response = stack.sign_in_http(&refused).await;
        assert_eq!(response.status().as_u16(), 401);
        assert!(session_cookie(&response).is_none());
    }

    // Behind a TLS-terminating proxy the cookie is Secure.
    let over_tls = stack
        .client
        .post(format!("{}/login", stack.console_base))
        .header("x-forwarded-proto", "https")
        .form(&[("token", stack.login_token("tls-user", Role::Viewer, None))])
        .send()
        .await
        .unwrap();
    let set_cookie = over_tls.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(set_cookie.contains("Secure"), "{set_cookie}");

    // Forms need the session's CSRF token.
    let (_, page) = get(&stack, "/", &cookie).await;
    let csrf = csrf_of(&page);
    let post = |path: &str, form: Vec<(&'static str, String)>| {
        stack
            .client
            .post(format!("{}{path}", stack.console_base))
            .header("cookie", cookie.clone())
            .form(&form)
            .send()
    };
    for form in [vec![], vec![("csrf", "not-the-token".to_owned())]] {
        let response = post("/logout", form).await.unwrap();
        assert_eq!(response.status().as_u16(), 403);
    }
    assert_eq!(get(&stack, "/", &cookie).await.0, 200);

    // The language is the user's: it survives into the next page.
    let response = post(
        "/preferences/language",
        vec![("csrf", csrf.clone()), ("lang", "ar".to_owned())],
    )
    .await
    .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    let (_, page) = get(&stack, "/", &cookie).await;
    assert!(page.contains(r#"<html lang="ar" dir="rtl">"#), "{page}");

    let response = post("/logout", vec![("csrf", csrf)]).await.unwrap();
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(response.headers()["location"], "/signed-out");
    let removal = response.headers()["set-cookie"].to_str().unwrap();
    assert!(removal.starts_with("console_session=;"), "{removal}");
    assert_eq!(get(&stack, "/", &cookie).await.0, 401);
}

/// Moves the last use of `sub`'s sessions `seconds` back, as if they had been left alone that long.
async fn unused_for(stack: &Stack, sub: &str, seconds: i64) {
    use diesel_async::{AsyncConnection, RunQueryDsl};
    let mut conn = diesel_async::AsyncPgConnection::establish(stack.env.db.url())
        .await
        .unwrap();
    let moved = diesel::sql_query(
        "UPDATE console.sessions SET last_seen_at = last_seen_at - make_interval(secs => $2) \
         WHERE sub = $1",
    )
    .bind::<diesel::sql_types::Text, _>(sub)
    .bind::<diesel::sql_types::Double, _>(seconds as f64)
    .execute(&mut conn)
    .await
    .unwrap();
    assert_eq!(moved, 1, "one session of {sub}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_end_after_inactivity_and_after_their_lifetime_and_survive_a_second_replica() {
    let stack = Stack::start_with(
        Services::ConsoleOnly,
        console::SessionSettings {
            idle: chrono::TimeDelta::minutes(1),
            absolute: chrono::TimeDelta::seconds(5),
            ..console::SessionSettings::default()
        },
    )
    .await;
    // Idle: unused for a minute, the session is over. The minute passes for the session alone:
    // its last use is moved back.
    let response = stack
        .sign_in_http(&stack.login_token("idle", Role::Viewer, None))
        .await;
    let idle_cookie = session_cookie(&response).unwrap();
    assert_eq!(get(&stack, "/signed-out", &idle_cookie).await.0, 200);
    assert_eq!(get(&stack, "/", &idle_cookie).await.0, 200);
    unused_for(&stack, "idle", 50).await;
    assert_eq!(
        get(&stack, "/", &idle_cookie).await.0,
        200,
        "unused for 50 s, the session goes on, and this use counts"
    );
    unused_for(&stack, "idle", 50).await;
    assert_eq!(get(&stack, "/", &idle_cookie).await.0, 200);
    unused_for(&stack, "idle", 61).await;
    assert_eq!(get(&stack, "/", &idle_cookie).await.0, 401);

    // Absolute: used all the while, it still ends five seconds after sign-in. Another
    // console replica on the same database knows the session meanwhile.
    // Timed from before the sign-in: the service opens the session (and starts its five
    // seconds) before its answer arrives here.
    let opened = Instant::now();
    let response = stack
        .sign_in_http(&stack.login_token("busy", Role::Viewer, None))
        .await;
    let cookie = session_cookie(&response).unwrap();
    let replica = console::start(console::Settings {
        database_url: stack.env.db.url().to_owned(),
        bind: "127.0.0.1:0".parse().unwrap(),
        config_service_url: "http://127.0.0.1:9".into(),
        import_service_url: "http://127.0.0.1:9".into(),
        sync_service_url: "http://127.0.0.1:9".into(),
        jwt: stack.keys.clone(),
        session: console::SessionSettings::default(),
        timezone: chrono_tz::Asia::Dubai,
        max_upload_bytes: 1024,
        backend_timeout: Duration::from_secs(5),
    })
    .await
    .unwrap();
    let on_replica = stack
        .client
        .get(format!("{}/", replica.base_url()))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(on_replica.status().as_u16(), 200);
    replica.stop().await;
    test_support::wait_for(Duration::from_secs(30), "the busy session ends", || async {
        match get(&stack, "/", &cookie).await.0 {
            401 => Ok(()),
            status => Err(format!("answered {status}")),
        }
    })
    .await;
    assert!(opened.elapsed() >= Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_page_carries_the_security_headers_and_probes_answer() {
    let stack = Stack::start(Services::ConsoleOnly).await;
    let response = stack
        .client
        .get(format!("{}/signed-out", stack.console_base))
        .send()
        .await
        .unwrap();
    let headers = response.headers();
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["cache-control"], "no-store");
    for path in ["/healthz", "/readyz", "/metrics", "/static/htmx.min.js"] {
        let status = test_support::status_of(&stack.client, &stack.console_base, path).await;
        assert_eq!(status, 200, "{path}");
    }
    let readiness: serde_json::Value = stack
        .client
        .get(format!("{}/readyz", stack.console_base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(readiness["database"]["ok"], true);
    assert!(readiness.get("broker").is_none(), "{readiness}");

    // Pages are counted by route pattern, sign-ins by result.
    stack.sign_in_http("not-a-token").await;
    let ok = stack
        .sign_in_http(&stack.login_token("metered", Role::Viewer, None))
        .await;
    let cookie = session_cookie(&ok).unwrap();
    get(&stack, "/imports/42/live", &cookie).await;
    let metrics = test_support::metrics(&stack.client, &stack.console_base).await;
    for line in [
        r#"bridge_console_sign_ins_total{result="invalid",service="console"} 1"#,
        r#"bridge_console_sign_ins_total{result="ok",service="console"} 1"#,
        r#"bridge_console_requests_total{route="/imports/{id}/live",status="200",service="console"} 1"#,
        r#"bridge_database_up{service="console"} 1"#,
    ] {
        assert!(
            metrics.contains(line),
            "{line}
{metrics}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sign_in_page_command_signs_in_like_the_portal() {
    let stack = Stack::start(Services::ConsoleOnly).await;
    let env = settings::Env::from_pairs([test_support::test_keys().portal_env()]);
    let page = console::sign_in_page(
        &env,
        "local-admin",
        Role::Admin,
        Some(vec!["advline".into()]),
        &stack.console_base,
    )
    .unwrap();
    assert!(page.contains(&format!(r#"action="{}/login""#, stack.console_base)));
    let marker = r#"name="token" value=""#;
    let start = page.find(marker).unwrap() + marker.len();
    let token = &page[start..start + page[start..].find('"').unwrap()];
    let claims = stack
        .keys
        .clone()
        .with_audience("console")
        .verify(token)
        .unwrap();
    assert_eq!(claims.companies, Some(vec!["advline".to_owned()]));
    let response = stack.sign_in_http(token).await;
    let cookie = session_cookie(&response).unwrap();
    let (status, page) = get(&stack, "/", &cookie).await;
    assert_eq!(status, 200);
    assert!(page.contains("local-admin (admin)"));
}

/// Signs in and returns the session cookie, or panics.
async fn signed_in(stack: &Stack, token: &str) -> String {
    let response = stack.sign_in_http(token).await;
    assert_eq!(response.status().as_u16(), 200);
    session_cookie(&response).unwrap()
}

async fn sign_out(stack: &Stack, cookie: &str) {
    let (_, page) = get(stack, "/", cookie).await;
    let response = stack
        .client
        .post(format!("{}/logout", stack.console_base))
        .header("cookie", cookie)
        .form(&[("csrf", csrf_of(&page))])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(get(stack, "/", cookie).await.0, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_login_token_opens_no_second_session_after_its_first_one_ended() {
    let stack = Stack::start(Services::ConsoleOnly).await;
    let token = stack.login_token("replayed", Role::Admin, None);
    let cookie = signed_in(&stack, &token).await;
    sign_out(&stack, &cookie).await;

    // The same token again, as anyone who copied it would post it.
    let replay = stack.sign_in_http(&token).await;
    assert_eq!(replay.status().as_u16(), 401);
    assert!(session_cookie(&replay).is_none());
    let page = replay.text().await.unwrap();
    assert!(page.contains("used already"), "{page}");

    // Another token of the same user still works (tokens minted within the same second with the
    // same claims are the same token: this one lives a little longer).
    let another = stack.keys.mint(
        &Claims::new("replayed", Role::Admin, chrono::Duration::minutes(2))
            .with_audience("console"),
    );
    let cookie = signed_in(&stack, &another).await;
    assert_eq!(get(&stack, "/", &cookie).await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn login_tokens_that_live_longer_than_five_minutes_are_refused() {
    let stack = Stack::start(Services::ConsoleOnly).await;
    let mint = |life: chrono::Duration| {
        stack
            .keys
            .mint(&Claims::new("long-lived", Role::Viewer, life).with_audience("console"))
    };
    for minutes in [10, 60, 24 * 60] {
        let response = stack
            .sign_in_http(&mint(chrono::Duration::minutes(minutes)))
            .await;
        assert_eq!(response.status().as_u16(), 401, "{minutes} minutes");
        assert!(session_cookie(&response).is_none());
    }
    // Up to five minutes is fine.
    signed_in(&stack, &mint(chrono::Duration::minutes(5))).await;
}

async fn post_login(stack: &Stack, token: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = stack
        .client
        .post(format!("{}/login", stack.console_base))
        .form(&[("token", token)]);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_login_posted_from_another_site_is_refused() {
    let stack = Stack::start(Services::ConsoleOnly).await;
    let refused: [&[(&str, &str)]; 3] = [
        &[("origin", "https://evil.example")],
        &[
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ],
        &[("sec-fetch-site", "cross-site")],
    ];
    for headers in refused {
        let token = stack.login_token("victim", Role::Admin, None);
        let response = post_login(&stack, &token, headers).await;
        assert_eq!(response.status().as_u16(), 403, "{headers:?}");
        assert!(session_cookie(&response).is_none(), "{headers:?}");
    }
    // The console's own origin, and clients that send no Origin (not a browser), are let in.
    let own = stack.console_base.clone();
    let allowed: [&[(&str, &str)]; 3] = [
        &[("origin", own.as_str())],
        &[("origin", own.as_str()), ("sec-fetch-site", "same-origin")],
        &[],
    ];
    for (i, headers) in allowed.into_iter().enumerate() {
        let token = stack.login_token(&format!("user-{i}"), Role::Viewer, None);
        let response = post_login(&stack, &token, headers).await;
        assert_eq!(response.status().as_u16(), 200, "{headers:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_session_is_rate_limited_without_slowing_the_others() {
    let stack = Stack::start(Services::ConsoleOnly).await;
    let busy = signed_in(&stack, &stack.login_token("busy", Role::Operator, None)).await;
    let calm = signed_in(&stack, &stack.login_token("calm", Role::Operator, None)).await;
    let mut statuses = Vec::new();
    let mut told_when = true;
    for _ in 0..250 {
        let response = stack
            .client
            .get(format!("{}/imports/new", stack.console_base))
            .header("cookie", &busy)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        if status == 429 {
            told_when &= response.headers().contains_key("retry-after");
        }
        statuses.push(status);
    }
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert!(limited > 0, "{statuses:?}");
    assert!(told_when, "every 429 says when to come back");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
    assert_eq!(get(&stack, "/imports/new", &calm).await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_configured_portal_may_post_the_login() {
    let stack = Stack::start_with(
        Services::ConsoleOnly,
        console::SessionSettings {
            portal_origins: vec!["https://portal.example.com".to_owned()],
            ..console::SessionSettings::default()
        },
    )
    .await;
    let from_portal: [(&str, &str); 2] = [
        ("origin", "https://portal.example.com"),
        ("sec-fetch-site", "cross-site"),
    ];
    let token = stack.login_token("from-portal", Role::Operator, None);
    let response = post_login(&stack, &token, &from_portal).await;
    assert_eq!(response.status().as_u16(), 200);
    let cookie = session_cookie(&response).unwrap();
    assert_eq!(get(&stack, "/", &cookie).await.0, 200);
    // Pages without an origin of their own are not the portal.
    let token = stack.login_token("from-a-file", Role::Operator, None);
    let response = post_login(&stack, &token, &[("origin", "null")]).await;
    assert_eq!(response.status().as_u16(), 403);
    // A refused post does not use the token up.
    let response = post_login(&stack, &token, &from_portal).await;
    assert_eq!(response.status().as_u16(), 200);
}

/// Every route of the console, as `pages::configure` declares them: its method and path.
fn console_routes() -> Vec<(String, String)> {
    let source = include_str!("../src/pages/mod.rs");
    let configure = &source[source.find("pub fn configure").unwrap()..];
    let configure = &configure[..configure.find("\n}\n").unwrap()];
    configure
        .split(".route(")
        .skip(1)
        .map(|route| {
            let path = route.split('"').nth(1).unwrap().to_owned();
            let method = route
                .split("web::")
                .nth(1)
                .and_then(|rest| rest.split("()").next())
                .unwrap()
                .to_uppercase();
            (method, path)
        })
        .collect()
}

/// Only signing in and out and the static files answer without a session; every other route
/// reads the session before it does anything (the role is then the services' to check, with the
/// user's own token). A new route is listed here by itself.
#[tokio::test(flavor = "multi_thread")]
async fn every_route_but_signing_in_wants_a_session() {
    let stack = Stack::start(Services::ConsoleOnly).await;
    let routes = console_routes();
    for expected in [
        ("GET", "/imports/{id}/rows.csv"),
        ("GET", "/imports/{id}/rows.xlsx"),
        ("POST", "/imports"),
        ("POST", "/login"),
    ] {
        assert!(
            routes
                .iter()
                .any(|(m, p)| (m.as_str(), p.as_str()) == expected),
            "{expected:?} in {routes:?}"
        );
    }
    let public = ["/login", "/signed-out", "/static/{name}"];
    for (method, path) in &routes {
        if public.contains(&path.as_str()) {
            continue;
        }
        let concrete = path
            .replace("{id}", "1")
            .replace("{slug}", "advline")
            .replace("{action}", "reprocess");
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = stack
            .client
            .request(method.clone(), format!("{}{concrete}", stack.console_base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 401, "{method} {path}");
        assert!(
            response.text().await.unwrap().contains("Signed out"),
            "{method} {path}"
        );
    }
}
