//! What an operator does when something is wrong, end to end: the next export overlapping the
//! last, a department mapped after the import, and a Bayzat key that stops working.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bridge_tests::fixtures::{self, CompanyOutcome, Punch};
use bridge_tests::{Role, Service, System};
use reqwest::Method;
use serde_json::json;

const SETTLE: Duration = Duration::from_secs(60);

/// basic.csv, then the next export (basic-overlap.csv, overlapping its last day): Bayzat ends
/// with basic's punches and the new ones, and nothing was sent twice.
#[tokio::test(flavor = "multi_thread")]
async fn an_overlapping_export_delivers_nothing_twice() {
    let system = System::start().await;
    let directory = system.directory().clone();
    let first = system.upload_fixture("basic.csv", "").await;
    assert_eq!(first.status, 201, "{first}");
    let basic = fixtures::report_outcomes(&directory, "basic.csv");
    for slug in ["advline", "clarastars"] {
        system.assert_outcome(slug, &basic[slug], SETTLE).await;
    }

    let overlap = system.upload_fixture("basic-overlap.csv", "").await;
    assert_eq!(overlap.status, 201, "{overlap}");
    let new = fixtures::outcomes(
        &directory,
        &fixtures::punches_of(&fixtures::json("expected/basic-overlap.json")["new_after_basic"]),
    );
    let new_count: usize = new.values().map(|o| o.delivered.len()).sum();
    assert_eq!(overlap.body["punches_new"], new_count, "{overlap}");
    assert!(
        overlap.body["duplicate_punches_known"].as_i64() > Some(0),
        "{overlap}"
    );
    for slug in ["advline", "clarastars"] {
        let mut both = basic[slug].clone();
        both.delivered.extend(new[slug].delivered.iter().cloned());
        system.assert_outcome(slug, &both, SETTLE).await;
    }
    // The overlap import's own punches: only the new ones were queued and delivered.
    let overlap_id = overlap.body["id"].as_i64().expect("id");
    let expected: BTreeMap<String, BTreeMap<String, i64>> = new
        .iter()
        .map(|(slug, o)| {
            (
                slug.clone(),
                [("delivered".to_owned(), o.delivered.len() as i64)].into(),
            )
        })
        .collect();
    bridge_tests::wait_for(SETTLE, "the overlap's progress", || async {
        let seen = system.import_progress(overlap_id).await;
        (seen == expected)
            .then_some(())
            .ok_or(format!("{seen:?}, expected {expected:?}"))
    })
    .await;
    let stats = system.sim_stats().await;
    for (key, stats) in &stats.keys {
        assert_eq!(
            stats.bad_requests_by_reason.get("duplicate"),
            None,
            "{key}: {stats:?}"
        );
    }
}

/// basic.csv has a row of "Marketing Dept", a department no company has. Once an admin adds the
/// company with that report name, its Bayzat key and the employee, "reprocess" delivers the row.
#[tokio::test(flavor = "multi_thread")]
async fn an_unmapped_department_delivers_after_mapping_and_reprocess() {
    let system = System::start().await;
    let upload = system.upload_fixture("basic.csv", "").await;
    assert_eq!(upload.status, 201, "{upload}");
    let import_id = upload.body["id"].as_i64().expect("id");
    let unmapped = system
        .get(
            Service::Import,
            &format!("/v1/imports/{import_id}/rows?error=unmapped_department"),
        )
        .await;
    assert_eq!(unmapped.body["total"], 1, "{unmapped}");
    let basic = fixtures::report_outcomes(system.directory(), "basic.csv");
    system
        .assert_outcome("advline", &basic["advline"], SETTLE)
        .await;

    let key = "bz_test_marketing_5e11a1";
    system.sim_put_key(key, &["5001"]).await;
    let admin = |method, path: &'static str, body| {
        system.call(method, Service::Config, path, Role::Admin, Some(body))
    };
    let created = admin(
        Method::POST,
        "/v1/companies",
        json!({"slug": "marketing", "name_en": "Marketing Services LLC"}),
    )
    .await;
    assert_eq!(created.status, 201, "{created}");
    let named = admin(
        Method::POST,
        "/v1/companies/marketing/report-names",
        json!({"name": "Marketing Dept"}),
    )
    .await;
    assert!(named.status < 300, "{named}");
    let configured = admin(
        Method::PUT,
        "/v1/companies/marketing/bayzat-config",
        json!({"api_key": key, "api_url": system.bayzat_api_url()}),
    )
    .await;
    assert_eq!(configured.status, 200, "{configured}");
    let employees = admin(
        Method::PUT,
        "/v1/companies/marketing/employees",
        json!({"employees": [{"employee_id": "5001", "name": "Layla Nasser"}]}),
    )
    .await;
    assert_eq!(employees.status, 200, "{employees}");

    let reprocessed = system
        .call(
            Method::POST,
            Service::Import,
            &format!("/v1/imports/{import_id}/reprocess"),
            Role::Operator,
            None,
        )
        .await;
    assert_eq!(reprocessed.status, 200, "{reprocessed}");
    assert_eq!(
        reprocessed.body["unmapped_departments"],
        json!([]),
        "{reprocessed}"
    );
    let marketing = CompanyOutcome {
        delivered: [
            Punch::new("5001", "checkIn", "2026-11-01 09:00:00"),
            Punch::new("5001", "checkOut", "2026-11-01 17:00:00"),
        ]
        .into(),
        ..Default::default()
    };
    bridge_tests::wait_for(SETTLE, "marketing's punches in Bayzat", || async {
        let held: BTreeSet<Punch> = system.ledger(key).await.iter().map(Punch::from).collect();
        (held == marketing.delivered)
            .then_some(())
            .ok_or(format!("{held:?}"))
    })
    .await;
    assert_eq!(system.ledger(key).await.len(), 2, "each punch once");
    system
        .wait_for_states("marketing", &[("delivered", 2)], SETTLE)
        .await;
    // The rest of the import was not sent again.
    system
        .assert_outcome("advline", &basic["advline"], SETTLE)
        .await;
    let stats = system.sim_stats().await;
    assert!(stats
        .keys
        .values()
        .all(|s| !s.bad_requests_by_reason.contains_key("duplicate")));
    let still_invalid = system
        .get(
            Service::Import,
            &format!("/v1/imports/{import_id}/rows?outcome=invalid"),
        )
        .await;
    let ids: Vec<_> = still_invalid.body["items"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["raw"][0].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(ids, ["9999"], "only the unknown employee stays invalid");
}

/// advline's key stops working (Bayzat answers 401): advline pauses, marking nothing failed,
/// while clarastars delivers; a new key resumes advline and everything arrives.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_key_pauses_only_its_company_until_a_new_key() {
    let system = System::start().await;
    let old_key = system.directory().company("advline").api_key.clone();
    system.sim_delete_key(&old_key).await;
    let upload = system.upload_fixture("basic.csv", "").await;
    assert_eq!(upload.status, 201, "{upload}");
    let basic = fixtures::report_outcomes(system.directory(), "basic.csv");

    system
        .assert_outcome("clarastars", &basic["clarastars"], SETTLE)
        .await;
    let queued = basic["advline"].delivered.len() + basic["advline"].rejected.len();
    system
        .wait_for_states("advline", &[("paused", queued)], SETTLE)
        .await;
    let health = system
        .get(Service::Sync, "/v1/companies/advline/sync-health")
        .await;
    assert_eq!(health.body["state"], "paused_auth", "{health}");
    let other = system
        .get(Service::Sync, "/v1/companies/clarastars/sync-health")
        .await;
    assert_eq!(other.body["state"], "active", "{other}");
    let paused = system.deliveries_in("advline", "paused").await;
    assert!(
        paused.iter().all(|d| d["attempts"] == 0),
        "a 401 burns no attempts: {paused:?}"
    );
    assert!(system.sim_stats().await.unauthorized > 0);

    // A new key at Bayzat, set (and tested) through config-service.
    let new_key = "bz_test_advline_rotated_9d0c";
    let employees: Vec<&str> = system
        .directory()
        .company("advline")
        .bayzat_employees
        .iter()
        .map(String::as_str)
        .collect();
    system.sim_put_key(new_key, &employees).await;
    let rotated = system
        .call(
            Method::PUT,
            Service::Config,
            "/v1/companies/advline/bayzat-config",
            Role::Admin,
            Some(json!({"api_key": new_key})),
        )
        .await;
    assert_eq!(rotated.status, 200, "{rotated}");
    assert_eq!(rotated.body["api_key"], "••••9d0c", "{rotated}");

    let advline = &basic["advline"];
    system
        .wait_for_states(
            "advline",
            &[
                ("delivered", advline.delivered.len()),
                ("rejected", advline.rejected.len()),
            ],
            SETTLE,
        )
        .await;
    let held: BTreeSet<Punch> = system
        .ledger(new_key)
        .await
        .iter()
        .map(Punch::from)
        .collect();
    assert_eq!(
        held, advline.delivered,
        "advline's punches under the new key"
    );
    let health = system
        .get(Service::Sync, "/v1/companies/advline/sync-health")
        .await;
    assert_eq!(health.body["state"], "active", "{health}");
    // clarastars was never disturbed.
    system
        .assert_outcome("clarastars", &basic["clarastars"], SETTLE)
        .await;
}

/// Bayzat does not know Maria (1004), so her punches of basic.csv are rejected; once she is
/// added on the Bayzat side, an operator's batch retry delivers them.
#[tokio::test(flavor = "multi_thread")]
async fn a_retried_batch_delivers_once_bayzat_knows_the_employee() {
    let system = System::start().await;
    let upload = system.upload_fixture("basic.csv", "").await;
    assert_eq!(upload.status, 201, "{upload}");
    let basic = fixtures::report_outcomes(system.directory(), "basic.csv");
    let advline = &basic["advline"];
    system.assert_outcome("advline", advline, SETTLE).await;

    let failed = system
        .get(Service::Sync, "/v1/batches?company=advline&status=failed")
        .await;
    assert_eq!(failed.body["total"], 1, "{failed}");
    let batch = failed.body["items"][0]["id"].as_str().expect("a batch id");
    let company = system.directory().company("advline").clone();
    let mut employees: Vec<&str> = company
        .bayzat_employees
        .iter()
        .map(String::as_str)
        .collect();
    employees.push("1004");
    // Replacing the key at the simulator forgets its ledger: only the retried punches remain.
    system.sim_put_key(&company.api_key, &employees).await;
    let retried = system
        .call(
            Method::POST,
            Service::Sync,
            &format!("/v1/batches/{batch}/retry"),
            Role::Operator,
            None,
        )
        .await;
    assert_eq!(retried.status, 202, "{retried}");
    assert_eq!(retried.body["queued"], advline.rejected.len(), "{retried}");
    let after = CompanyOutcome {
        delivered: advline.rejected.clone(),
        ..Default::default()
    };
    system
        .wait_for_ledger("advline", &after.delivered, SETTLE)
        .await;
    system
        .wait_for_states(
            "advline",
            &[(
                "delivered",
                advline.delivered.len() + advline.rejected.len(),
            )],
            SETTLE,
        )
        .await;
    let batch = system
        .get(Service::Sync, &format!("/v1/batches/{batch}"))
        .await;
    assert_eq!(batch.body["status"], "completed", "{batch}");
}

/// dormant is disabled: its punches of basic.csv are held, and go to Bayzat once an admin
/// enables the company.
#[tokio::test(flavor = "multi_thread")]
async fn a_disabled_company_sends_its_held_punches_once_enabled() {
    let system = System::start().await;
    let upload = system.upload_fixture("basic.csv", "").await;
    assert_eq!(upload.status, 201, "{upload}");
    let dormant = fixtures::report_outcomes(system.directory(), "basic.csv")["dormant"].clone();
    system.assert_outcome("dormant", &dormant, SETTLE).await;
    let health = system
        .get(Service::Sync, "/v1/companies/dormant/sync-health")
        .await;
    assert_eq!(health.body["state"], "disabled", "{health}");

    let enabled = system
        .call(
            Method::PUT,
            Service::Config,
            "/v1/companies/dormant/bayzat-config",
            Role::Admin,
            Some(json!({"is_enabled": true})),
        )
        .await;
    assert_eq!(enabled.status, 200, "{enabled}");
    let released = CompanyOutcome {
        delivered: dormant.held.clone(),
        ..Default::default()
    };
    system.assert_outcome("dormant", &released, SETTLE).await;
    let health = system
        .get(Service::Sync, "/v1/companies/dormant/sync-health")
        .await;
    assert_eq!(health.body["state"], "active", "{health}");
}
