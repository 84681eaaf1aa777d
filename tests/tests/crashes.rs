//! Crashes and outages in the middle of the work: each service killed with SIGKILL and started
//! again while punches are being delivered, and RabbitMQ restarted in the middle of an import.
//! Bayzat (the simulator) must end holding every punch exactly once.
//!
//! These kill processes and restart the shared broker, so they are `serial_*`: `make test` runs
//! them one at a time after the rest.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bridge_tests::fixtures::{self, CompanyOutcome, Punch};
use bridge_tests::rabbitmq::RabbitMqStopped;
use bridge_tests::{Service, System};

/// Long enough for a sync-service started after a SIGKILL to wait out its predecessor's sender
/// lease (`SYNC_LEASE_TTL`, 3 s here) and finish the drain.
const SETTLE: Duration = Duration::from_secs(120);

/// Uploads a generated report of `days` days from `first_day`; the punches it queues per company.
async fn upload_generated(
    system: &System,
    first_day: &str,
    days: u32,
) -> (i64, BTreeMap<String, Vec<Punch>>) {
    let (csv, punches) = fixtures::generated_report(first_day, days);
    let reply = system
        .upload_bytes(&format!("export-{first_day}.csv"), csv.into_bytes(), "")
        .await;
    assert_eq!(reply.status, 201, "{reply}");
    (reply.body["id"].as_i64().expect("an import id"), punches)
}

/// Waits until Bayzat holds some of advline's punches, and checks it does not hold them all
/// yet: what follows happens in the middle of the delivery.
async fn wait_until_delivery_is_under_way(system: &System, total: usize) {
    bridge_tests::wait_for(Duration::from_secs(60), "delivery under way", || async {
        let held = system.ledger_of("advline").await.len();
        (held >= 40).then_some(()).ok_or(format!("{held} punches"))
    })
    .await;
    let held = system.ledger_of("advline").await.len();
    assert!(
        held < total,
        "advline's {total} punches were all delivered before the interruption"
    );
}

/// Every punch queued per company is in Bayzat exactly once and delivered in sync-service, and
/// each import shows its punches delivered.
async fn assert_all_delivered_once(
    system: &System,
    imports: &[(i64, BTreeMap<String, Vec<Punch>>)],
) {
    let mut all: BTreeMap<String, BTreeSet<Punch>> = BTreeMap::new();
    for (_, punches) in imports {
        for (slug, records) in punches {
            all.entry(slug.clone())
                .or_default()
                .extend(records.iter().cloned());
        }
    }
    for (slug, delivered) in &all {
        let outcome = CompanyOutcome {
            delivered: delivered.clone(),
            ..Default::default()
        };
        system.assert_outcome(slug, &outcome, SETTLE).await;
        let key = &system.directory().company(slug).api_key;
        let stats = system.sim_stats().await;
        assert_eq!(
            stats.keys[key].accepted_records,
            delivered.len() as u64,
            "{slug}: Bayzat accepted each punch once"
        );
    }
    for (import_id, punches) in imports {
        let expected: BTreeMap<String, BTreeMap<String, i64>> = punches
            .iter()
            .map(|(slug, records)| {
                (
                    slug.clone(),
                    [("delivered".to_owned(), records.len() as i64)].into(),
                )
            })
            .collect();
        bridge_tests::wait_for(SETTLE, "the import's progress", || async {
            let seen = system.import_progress(*import_id).await;
            (seen == expected)
                .then_some(())
                .ok_or(format!("{seen:?}, expected {expected:?}"))
        })
        .await;
    }
}

async fn killed_mid_delivery(service: Service) {
    let mut system = System::start().await;
    let import = upload_generated(&system, "2026-03-01", 40).await;
    wait_until_delivery_is_under_way(&system, import.1["advline"].len()).await;
    system.kill_and_restart(service).await;
    assert_all_delivered_once(&system, &[import]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn serial_sync_service_killed_mid_delivery_delivers_every_punch_once() {
    killed_mid_delivery(Service::Sync).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn serial_import_service_killed_mid_delivery_delivers_every_punch_once() {
    killed_mid_delivery(Service::Import).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn serial_config_service_killed_mid_delivery_delivers_every_punch_once() {
    killed_mid_delivery(Service::Config).await;
}

/// RabbitMQ stops while an import is being delivered, and another report is imported while it
/// is away; once it is back, every punch of both is in Bayzat exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn serial_rabbitmq_restarted_mid_import_delivers_every_punch_once() {
    let system = System::start().await;
    let first = upload_generated(&system, "2026-03-01", 40).await;
    wait_until_delivery_is_under_way(&system, first.1["advline"].len()).await;

    let stopped = RabbitMqStopped::stop();
    let sync = system.url(Service::Sync);
    bridge_tests::wait_for(
        Duration::from_secs(30),
        "sync-service sees the outage",
        || async {
            let status = test_support::status_of(&system.client, &sync, "/readyz").await;
            (status == 503)
                .then_some(())
                .ok_or(format!("/readyz {status}"))
        },
    )
    .await;
    let second = upload_generated(&system, "2026-06-01", 5).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stopped.start();

    for service in [Service::Config, Service::Import, Service::Sync] {
        let base = system.url(service);
        bridge_tests::wait_for(Duration::from_secs(60), "ready again", || async {
            let status = test_support::status_of(&system.client, &base, "/readyz").await;
            (status == 200)
                .then_some(())
                .ok_or(format!("{service} /readyz {status}"))
        })
        .await;
    }
    assert_all_delivered_once(&system, &[first, second]).await;
}
