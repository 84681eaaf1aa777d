//! Mail to company admins, against the real processes: Bayzat refuses a company's key, and each
//! of its notification contacts gets one mail in their own language, naming the company's
//! console page, without the key; a second refusal within the digest window mails no one again
//! until the window is over.

use std::time::Duration;

use bridge_tests::{Role, Service, System};
use reqwest::Method;
use serde_json::json;
use test_support::SmtpSink;

const WAIT: Duration = Duration::from_secs(90);
const ADVLINE_KEY: &str = "bz_test_advline_7f3a9c";

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_key_mails_the_companys_contacts_once_in_their_language() {
    let smtp = SmtpSink::start().await;
    let system = System::start_with(
        System::builder()
            .env(Service::Config, "SMTP_URL", &smtp.url())
            .env(Service::Config, "NOTIFY_MAIL_FROM", "bridge@group.example")
            .env(Service::Config, "NOTIFY_DIGEST_MINUTES", "10")
            .env(
                Service::Config,
                "CONSOLE_PUBLIC_URL",
                "http://console.group.example",
            ),
    )
    .await;
    for (email, language) in [
        ("hr@advline.example", "en"),
        ("finance@advline.example", "ar"),
    ] {
        let added = system
            .call(
                Method::POST,
                Service::Config,
                "/v1/companies/advline/notification-contacts",
                Role::Admin,
                Some(json!({ "email": email, "language": language, "event_types": ["company.sync_paused"] })),
            )
            .await;
        assert_eq!(added.status, 201, "{added}");
    }

    system.sim_delete_key(ADVLINE_KEY).await;
    let upload = system.upload_fixture("basic.csv", "").await;
    assert_eq!(upload.status, 201, "{upload}");

    let english = smtp.wait_for("hr@advline.example", 1, WAIT).await;
    let arabic = smtp.wait_for("finance@advline.example", 1, WAIT).await;
    assert!(
        english[0].subject.starts_with("[Attendance bridge]"),
        "{}",
        english[0].subject
    );
    assert!(
        arabic[0].subject.starts_with("[جسر الحضور]"),
        "{}",
        arabic[0].subject
    );
    assert!(arabic[0].html.contains("dir=\"rtl\""), "{}", arabic[0].html);
    for mail in [&english[0], &arabic[0]] {
        assert!(
            mail.contains("http://console.group.example/companies/advline/bayzat"),
            "{}",
            mail.text
        );
        assert!(
            !mail.raw.contains(ADVLINE_KEY),
            "a mail carries the key: {}",
            mail.raw
        );
    }

    // The key is given again and refused again: the company pauses a second time, within the
    // digest window, and nobody is mailed twice.
    system.sim_put_key(ADVLINE_KEY, &["1001"]).await;
    let saved = system
        .call(
            Method::PUT,
            Service::Config,
            "/v1/companies/advline/bayzat-config",
            Role::Admin,
            Some(json!({ "api_key": ADVLINE_KEY, "test_connection": false })),
        )
        .await;
    assert_eq!(saved.status, 200, "{saved}");
    system.sim_delete_key(ADVLINE_KEY).await;
    let sync_now = system
        .call(
            Method::POST,
            Service::Sync,
            "/v1/companies/advline/sync-now",
            Role::Operator,
            None,
        )
        .await;
    assert!(sync_now.status < 300, "{sync_now}");
    bridge_tests::wait_for(WAIT, "the second pause queued for the contacts", || async {
        let contacts = system
            .get(
                Service::Config,
                "/v1/companies/advline/notification-contacts",
            )
            .await;
        let waiting: Vec<i64> = contacts
            .body
            .as_array()
            .map(|all| all.iter().filter_map(|c| c["waiting"].as_i64()).collect())
            .unwrap_or_default();
        (waiting == [1, 1])
            .then_some(())
            .ok_or_else(|| contacts.body.to_string())
    })
    .await;
    assert_eq!(smtp.received_by("hr@advline.example").len(), 1);
    assert_eq!(smtp.received_by("finance@advline.example").len(), 1);
}
