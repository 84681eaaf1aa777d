//! Mail to a company's notification contacts, against a real SMTP server the test owns
//! (aiosmtpd, see test_support::SmtpSink): events published on the broker become one mail per
//! contact in their language, with times in the company's time zone and a link to the console;
//! repeats within the digest window are folded into one mail; a repeated event is one line; no
//! mail holds a key; two replicas never send the same mail; the REST routes check their input and
//! the caller's role and companies.

mod common;

use std::time::Duration;

use auth::Role;
use bus::{Broker, Outgoing, Publisher};
use chrono::{DateTime, TimeZone, Utc};
use common::App;
use config_service::mail::{MailSettings, SmtpSettings};
use diesel::sql_types::{BigInt, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain::{
    BatchId, BridgeEvent, BridgeEventV1, ClockFacts, CompanyId, FailedDeliveries, SyncPaused,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use test_support::{ReceivedMail, SmtpSink, TestEnv};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(30);
const CONSOLE: &str = "http://console.test:8080";
const KEY: &str = "bz_live_advline_5e1f0c9a7d";

/// config-service mailing through `smtp`, with a digest window of `window`.
async fn start(smtp: &SmtpSink, window: Duration) -> (App, config_service::Settings) {
    let env = TestEnv::new().await;
    let master_keys = common::master_key("k1");
    let mut settings = common::settings(env.common_settings(), &master_keys);
    settings.mail = MailSettings {
        smtp: Some(
            SmtpSettings::parse(&smtp.url(), "Attendance bridge <bridge@example.com>").unwrap(),
        ),
        console_url: CONSOLE.to_owned(),
        digest_window: window,
        tick: Duration::from_millis(200),
    };
    let started = common::start(settings.clone()).await;
    let app = App {
        base: started.service.base_url(),
        internal_base: common::internal_base(&started),
        service: Some(started.service),
        env,
        client: test_support::client(),
        keys: common::keys(),
        master_keys,
    };
    (app, settings)
}

async fn publisher(app: &App) -> Publisher {
    let broker = Broker::start(app.env.broker.url(), app.env.broker.topology(), "mail-test");
    broker.connected().await;
    Publisher::new(broker)
}

/// Publishes `event` as a new message (another message id each time, as a republished event).
async fn publish(publisher: &Publisher, event: &BridgeEventV1) {
    publisher
        .publish(&Outgoing::message(Uuid::new_v4(), event, None).unwrap())
        .await
        .unwrap();
}

async fn company(app: &App, slug: &str, name_en: &str, name_ar: &str, timezone: &str) -> i64 {
    let (status, body) = app
        .post(
            "/v1/companies",
            &app.admin(),
            json!({ "slug": slug, "name_en": name_en, "name_ar": name_ar, "timezone": timezone }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_i64().unwrap()
}

async fn contact(app: &App, slug: &str, body: Value) -> i64 {
    let (status, created) = app
        .post(
            &format!("/v1/companies/{slug}/notification-contacts"),
            &app.admin(),
            body,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["id"].as_i64().unwrap()
}

fn at(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 5, hour, minute, 0).unwrap()
}

fn sync_paused(
    name: &str,
    company: i64,
    reason: &str,
    occurred_at: DateTime<Utc>,
) -> BridgeEventV1 {
    BridgeEventV1::new(
        name,
        Some(CompanyId(company)),
        occurred_at,
        BridgeEvent::CompanySyncPaused(SyncPaused {
            reason: reason.to_owned(),
            since: occurred_at,
        }),
    )
}

fn deliveries_failed(name: &str, company: i64) -> BridgeEventV1 {
    BridgeEventV1::new(
        name,
        Some(CompanyId(company)),
        at(10, 20),
        BridgeEvent::DeliveriesFailed(FailedDeliveries {
            count: 4,
            batch_ids: vec![BatchId(Uuid::nil())],
            last_error: "HTTP 503 from Bayzat".into(),
        }),
    )
}

fn clock_silent(name: &str, company: i64) -> BridgeEventV1 {
    BridgeEventV1::new(
        name,
        Some(CompanyId(company)),
        at(10, 30),
        BridgeEvent::ClockSilent(ClockFacts {
            clock_id: 3,
            serial_number: "CQZ7233".into(),
            last_seen_at: Some(at(9, 0)),
            address: None,
        }),
    )
}

#[derive(QueryableByName)]
struct Queued {
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = BigInt)]
    queued: i64,
    #[diesel(sql_type = BigInt)]
    undone: i64,
}

/// Per contact address: events queued in all, and those not mailed yet.
async fn queue_counts(app: &App) -> Vec<(String, i64, i64)> {
    let mut conn = AsyncPgConnection::establish(app.env.db.url())
        .await
        .unwrap();
    let rows: Vec<Queued> = diesel::sql_query(
        "SELECT c.email, count(m.id) AS queued, count(m.id) FILTER (WHERE m.done_at IS NULL) AS undone \
           FROM config.notification_contacts c LEFT JOIN config.notification_mails m ON m.contact_id = c.id \
          GROUP BY c.email ORDER BY c.email",
    )
    .load(&mut conn)
    .await
    .unwrap();
    rows.into_iter()
        .map(|r| (r.email, r.queued, r.undone))
        .collect()
}

/// Waits until `email` has `queued` events queued and none waiting.
async fn wait_all_mailed(app: &App, email: &str, queued: i64) {
    test_support::wait_for(
        WAIT,
        &format!("{queued} events mailed to {email}"),
        || async {
            let counts = queue_counts(app).await;
            match counts.iter().find(|(e, _, _)| e == email) {
                Some((_, q, 0)) if *q == queued => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
}

/// The events a mail lists: its lines that start with a bullet.
fn lines(mail: &ReceivedMail) -> usize {
    mail.text.lines().filter(|l| l.starts_with("• ")).count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_key_mails_each_contact_once_in_their_language_then_one_digest_per_window() {
    let smtp = SmtpSink::start().await;
    let window = Duration::from_secs(6);
    let (app, _) = start(&smtp, window).await;
    let admin = app.admin();
    let advline = company(
        &app,
        "advline",
        "Advanced Line",
        "الخط المتقدم",
        "Asia/Dubai",
    )
    .await;
    let clara = company(
        &app,
        "clarastars",
        "Clara Stars",
        "كلارا ستارز",
        "Africa/Cairo",
    )
    .await;
    // The company's Bayzat key: no mail may ever hold it.
    let (status, saved) = app
        .put(
            "/v1/companies/advline/bayzat-config",
            &admin,
            json!({ "api_key": KEY, "test_connection": false }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    contact(
        &app,
        "advline",
        json!({ "email": "hr@advline.test", "language": "en",
                "event_types": ["company.sync_paused", "deliveries.failed"] }),
    )
    .await;
    contact(
        &app,
        "advline",
        json!({ "email": "it@advline.test", "language": "ar" }),
    )
    .await;
    contact(
        &app,
        "advline",
        json!({ "email": "clocks@advline.test", "event_types": ["clock.silent"] }),
    )
    .await;
    contact(&app, "clarastars", json!({ "email": "hr@clara.test" })).await;

    // Bayzat refused the key: the event, delivered twice and published again (another message,
    // the same event id).
    let publisher = publisher(&app).await;
    let paused = sync_paused("paused:1", advline, "401 Unauthorized", at(10, 3));
    let message = Outgoing::message(Uuid::new_v4(), &paused, None).unwrap();
    publisher.publish(&message).await.unwrap();
    publisher.publish(&message).await.unwrap();
    publish(&publisher, &paused).await;

    let english = smtp.wait_for("hr@advline.test", 1, WAIT).await;
    let arabic = smtp.wait_for("it@advline.test", 1, WAIT).await;
    let (en, ar) = (&english[0], &arabic[0]);
    assert_eq!(
        en.subject,
        "[Attendance bridge] Advanced Line: Bayzat sync paused"
    );
    assert_eq!(
        ar.subject,
        "[جسر الحضور] الخط المتقدم: توقفت المزامنة مع Bayzat"
    );
    assert!(en.from.contains("bridge@example.com"), "{}", en.from);
    for mail in [en, ar] {
        // One line for the one event, however often it came; 10:03 UTC is 14:03 in Dubai.
        assert_eq!(lines(mail), 1, "{}", mail.text);
        assert!(
            mail.text.contains("2026-12-05 14:03 (Asia/Dubai)"),
            "{}",
            mail.text
        );
        assert!(
            mail.text
                .contains(&format!("{CONSOLE}/companies/advline/bayzat")),
            "{}",
            mail.text
        );
        assert!(mail
            .html
            .contains(&format!("href=\"{CONSOLE}/companies/advline/bayzat\"")));
    }
    assert!(ar.html.contains("dir=\"rtl\""), "{}", ar.html);
    assert!(ar.text.contains("رفض Bayzat مفتاح الشركة"), "{}", ar.text);
    assert!(en.html.contains("dir=\"ltr\""));

    // Three more events within the window (the last one's reason echoing the key, as a careless
    // answer might), the first one again, and one of a type hr@ does not get.
    let more = [
        sync_paused("paused:2", advline, "401 Unauthorized", at(10, 10)),
        deliveries_failed("failed:1", advline),
        sync_paused(
            "paused:3",
            advline,
            &format!("401: the key {KEY} is revoked"),
            at(10, 25),
        ),
    ];
    for event in &more {
        publish(&publisher, event).await;
    }
    publish(&publisher, &more[1]).await;
    publish(&publisher, &paused).await;
    publish(&publisher, &clock_silent("silent:1", advline)).await;
    // Another company's event reaches its own contact only.
    publish(
        &publisher,
        &sync_paused("paused:clara", clara, "401", at(11, 0)),
    )
    .await;

    // Queued for hr@ (4 events in all), and nothing mailed before the window is over.
    test_support::wait_for(WAIT, "the events queued for hr@", || async {
        let counts = queue_counts(&app).await;
        match counts.iter().find(|(e, _, _)| e == "hr@advline.test") {
            Some((_, 4, _)) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(smtp.received_by("hr@advline.test").len(), 1);

    // Then exactly one digest listing the three.
    let english = smtp.wait_for("hr@advline.test", 2, WAIT).await;
    wait_all_mailed(&app, "hr@advline.test", 4).await;
    wait_all_mailed(&app, "it@advline.test", 5).await;
    wait_all_mailed(&app, "clocks@advline.test", 1).await;
    wait_all_mailed(&app, "hr@clara.test", 1).await;
    let english = {
        let again = smtp.received_by("hr@advline.test");
        assert_eq!(again.len(), english.len(), "exactly one digest");
        again
    };
    let digest = &english[1];
    assert!(
        digest.received_at - english[0].received_at >= window.as_secs_f64() - 0.5,
        "the digest came {}s after the first mail, within the window",
        digest.received_at - english[0].received_at
    );
    assert_eq!(
        digest.subject,
        "[Attendance bridge] Advanced Line: 3 events"
    );
    assert_eq!(lines(digest), 3, "{}", digest.text);
    assert!(digest.text.contains("2026-12-05 14:10 (Asia/Dubai)"));
    assert!(digest.text.contains("4 punches failed"));
    assert!(digest.text.contains(&format!("{CONSOLE}/#attention")));
    assert!(
        !digest.text.contains("CQZ7233"),
        "hr@ does not get clock events"
    );
    assert!(
        digest.text.contains("the key •••• is revoked"),
        "{}",
        digest.text
    );

    let arabic = smtp.received_by("it@advline.test");
    assert_eq!(arabic.len(), 2);
    assert_eq!(
        arabic[1].subject,
        "[جسر الحضور] الخط المتقدم: أحداث جديدة (4)"
    );
    assert_eq!(lines(&arabic[1]), 4);
    assert!(arabic[1].text.contains(&format!("{CONSOLE}/clocks")));

    // The contact that gets clock events only got that one; the other company's its own.
    let clocks = smtp.received_by("clocks@advline.test");
    assert_eq!(clocks.len(), 1);
    assert_eq!(
        clocks[0].subject,
        "[Attendance bridge] Advanced Line: Clock CQZ7233 is silent"
    );
    let clara_mail = smtp.received_by("hr@clara.test");
    assert_eq!(clara_mail.len(), 1);
    assert!(clara_mail[0]
        .text
        .contains("2026-12-05 13:00 (Africa/Cairo)"));

    // No mail holds the key, anywhere in it.
    let all = smtp.received();
    assert_eq!(all.len(), 6);
    for mail in &all {
        assert!(!mail.contains(KEY), "{:?} holds the key", mail.subject);
    }

    // The contact shows when it was last mailed.
    let (_, contacts) = app
        .get("/v1/companies/advline/notification-contacts", &admin)
        .await;
    assert!(contacts[0]["last_mailed_at"].is_string(), "{contacts}");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_never_send_the_same_mail_twice() {
    let smtp = SmtpSink::start().await;
    let (app, settings) = start(&smtp, Duration::from_secs(600)).await;
    let second = common::start(settings).await;
    let advline = company(
        &app,
        "advline",
        "Advanced Line",
        "الخط المتقدم",
        "Asia/Dubai",
    )
    .await;
    let addresses: Vec<String> = (0..30).map(|i| format!("admin{i}@advline.test")).collect();
    for address in &addresses {
        contact(&app, "advline", json!({ "email": address })).await;
    }
    // Both replicas' mailers look for the same 30 contacts at once.
    let publisher = publisher(&app).await;
    publish(
        &publisher,
        &sync_paused("paused:1", advline, "401", at(10, 0)),
    )
    .await;
    for address in &addresses {
        smtp.wait_for(address, 1, WAIT).await;
    }
    test_support::wait_for(WAIT, "every queued event mailed", || async {
        let counts = queue_counts(&app).await;
        if counts.len() == addresses.len() && counts.iter().all(|(_, q, u)| *q == 1 && *u == 0) {
            Ok(())
        } else {
            Err(format!("{counts:?}"))
        }
    })
    .await;
    for address in &addresses {
        let received = smtp.received_by(address);
        assert_eq!(received.len(), 1, "{address}");
    }
    second.service.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_address_does_not_hold_up_the_others_and_webhook_owners_are_told() {
    let smtp = SmtpSink::start().await;
    let (app, _) = start(&smtp, Duration::from_secs(600)).await;
    let advline = company(
        &app,
        "advline",
        "Advanced Line",
        "الخط المتقدم",
        "Asia/Dubai",
    )
    .await;
    let refused = contact(&app, "advline", json!({ "email": "refused@advline.test" })).await;
    contact(&app, "advline", json!({ "email": "ok@advline.test" })).await;
    let publisher = publisher(&app).await;
    publish(
        &publisher,
        &sync_paused("paused:1", advline, "401", at(10, 0)),
    )
    .await;
    smtp.wait_for("ok@advline.test", 1, WAIT).await;
    // The refusal is shown on the contact, and its event is not tried again.
    test_support::wait_for(WAIT, "the refusal shown", || async {
        let (_, contacts) = app
            .get("/v1/companies/advline/notification-contacts", &app.admin())
            .await;
        let shown = contacts
            .as_array()
            .and_then(|c| c.iter().find(|c| c["id"] == refused))
            .map(|c| c["last_error"].clone())
            .unwrap_or_default();
        match shown.as_str() {
            Some(error) if error.contains("550") => Ok(()),
            _ => Err(shown.to_string()),
        }
    })
    .await;
    wait_all_mailed(&app, "refused@advline.test", 1).await;

    // A disabled webhook endpoint's owner is told, without the URL's credentials or query.
    let mut conn = AsyncPgConnection::establish(app.env.db.url())
        .await
        .unwrap();
    config_service::mail::tell_webhook_owner(
        &mut conn,
        "owner@partner.test",
        "https://hook:s3cret@partner.test/in?token=tok_123",
        "every attempt failed for 24 hours (last: HTTP 500)",
    )
    .await
    .unwrap();
    let told = smtp.wait_for("owner@partner.test", 1, WAIT).await;
    assert_eq!(
        told[0].subject,
        "[Attendance bridge] Your webhook endpoint was disabled"
    );
    assert!(
        told[0].text.contains("https://partner.test/in"),
        "{}",
        told[0].text
    );
    assert!(told[0].text.contains("HTTP 500"));
    for secret in ["s3cret", "tok_123"] {
        assert!(!told[0].contains(secret), "{secret}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_contact_routes_check_input_roles_and_companies() {
    let smtp = SmtpSink::start().await;
    let (app, _) = start(&smtp, Duration::from_secs(600)).await;
    let admin = app.admin();
    company(
        &app,
        "advline",
        "Advanced Line",
        "الخط المتقدم",
        "Asia/Dubai",
    )
    .await;
    company(
        &app,
        "clarastars",
        "Clara Stars",
        "كلارا ستارز",
        "Africa/Cairo",
    )
    .await;
    let path = "/v1/companies/advline/notification-contacts";

    // The test mail needs contacts.
    let (status, body) = app.post(&format!("{path}/test"), &admin, json!({})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("no_contacts"))
    );

    // Bad input: 422 naming the problem.
    for (body, code, named) in [
        (
            json!({ "email": "not-an-address" }),
            "invalid_email",
            "not-an-address",
        ),
        (
            json!({ "email": "a@advline.test", "language": "fr" }),
            "invalid_language",
            "fr",
        ),
        (
            json!({ "email": "a@advline.test", "event_types": ["import.exploded"] }),
            "invalid_event_types",
            "import.exploded",
        ),
        (
            json!({ "email": "a@advline.test", "event_types": [] }),
            "invalid_event_types",
            "empty",
        ),
    ] {
        let (status, problem) = app.post(path, &admin, body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {problem}"
        );
        assert_eq!(problem["code"], code, "{problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains(named),
            "{problem}"
        );
    }

    // An admin adds, changes and removes; the same address again (any case) is a conflict.
    let (status, created) = app
        .post(
            path,
            &admin,
            json!({ "email": "HR@advline.test", "language": "ar" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["language"], "ar");
    assert_eq!(
        created["event_types"].as_array().unwrap().len(),
        8,
        "every type by default"
    );
    let id = created["id"].as_i64().unwrap();
    let (status, problem) = app
        .post(path, &admin, json!({ "email": "hr@ADVLINE.test" }))
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("contact_exists"))
    );
    let (status, updated) = app
        .call(
            Method::PATCH,
            &format!("{path}/{id}"),
            Some(&admin),
            Some(json!({ "language": "en", "event_types": ["company.sync_paused"] })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(
        (updated["language"].as_str(), &updated["event_types"]),
        (Some("en"), &json!(["company.sync_paused"]))
    );
    let (status, problem) = app
        .call(
            Method::PATCH,
            &format!("{path}/{id}"),
            Some(&admin),
            Some(json!({ "language": "de" })),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_language"))
    );
    contact(
        &app,
        "advline",
        json!({ "email": "it@advline.test", "language": "ar" }),
    )
    .await;

    // The test mail goes to each contact now, in their language.
    let (status, report) = app.post(&format!("{path}/test"), &admin, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["sent"].as_array().unwrap().len(), 2, "{report}");
    assert_eq!(report["failed"], json!([]));
    let en = smtp.wait_for("HR@advline.test", 1, WAIT).await;
    assert_eq!(
        en[0].subject,
        "[Attendance bridge] Advanced Line: test mail"
    );
    assert!(en[0].text.contains("Bayzat sync paused (key refused)"));
    let ar = smtp.wait_for("it@advline.test", 1, WAIT).await;
    assert_eq!(ar[0].subject, "[جسر الحضور] الخط المتقدم: رسالة تجريبية");

    // Roles: a viewer and an operator read, only an admin changes or tests.
    for role in [Role::Viewer, Role::Operator] {
        let token = app.token(role);
        let (status, listed) = app.get(path, &token).await;
        assert_eq!(status, StatusCode::OK, "{role:?}");
        assert_eq!(listed.as_array().unwrap().len(), 2);
        for (method, target, body) in [
            (
                Method::POST,
                path.to_owned(),
                Some(json!({ "email": "x@advline.test" })),
            ),
            (
                Method::PATCH,
                format!("{path}/{id}"),
                Some(json!({ "language": "ar" })),
            ),
            (Method::DELETE, format!("{path}/{id}"), None),
            (Method::POST, format!("{path}/test"), Some(json!({}))),
        ] {
            let (status, problem) = app.call(method.clone(), &target, Some(&token), body).await;
            assert_eq!(
                (status, problem["code"].as_str()),
                (StatusCode::FORBIDDEN, Some("forbidden")),
                "{role:?} {method} {target}"
            );
        }
    }
    // An admin limited to clarastars does not see advline's contacts (404, as for no company).
    let limited = app.token_for(Role::Admin, &["clarastars"]);
    for (method, target) in [
        (Method::GET, path.to_owned()),
        (Method::DELETE, format!("{path}/{id}")),
    ] {
        let (status, _) = app.call(method, &target, Some(&limited), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{target}");
    }
    // A contact of another company is not found through this one.
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/companies/clarastars/notification-contacts/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _) = app
        .call(Method::DELETE, &format!("{path}/{id}"), Some(&admin), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .call(Method::DELETE, &format!("{path}/{id}"), Some(&admin), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Every change is in the audit log.
    for action in [
        "notification_contact.added",
        "notification_contact.updated",
        "notification_contact.removed",
        "notification_contacts.tested",
    ] {
        let (_, entries) = app.get(&format!("/v1/audit?action={action}"), &admin).await;
        assert!(entries["total"].as_i64() >= Some(1), "{action}: {entries}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_an_smtp_server_nothing_is_mailed_and_the_test_says_so() {
    let app = App::start().await;
    let admin = app.admin();
    let advline = app.company("advline", &[]).await;
    contact(&app, "advline", json!({ "email": "hr@advline.test" })).await;
    let (status, problem) = app
        .post(
            "/v1/companies/advline/notification-contacts/test",
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("mail_not_configured")),
        "{problem}"
    );
    // Events are still queued (kept a while, then deleted), and none is marked sent.
    let publisher = publisher(&app).await;
    publish(
        &publisher,
        &sync_paused("paused:1", advline, "401", at(10, 0)),
    )
    .await;
    test_support::wait_for(WAIT, "the event queued", || async {
        match queue_counts(&app).await.as_slice() {
            [(_, 1, 1)] => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}
