//! Crashes and outages in the middle of the work: each service killed with SIGKILL and started
//! again while punches are being delivered, RabbitMQ restarted in the middle of an import, and
//! Postgres restarted in the middle of a delivery. Bayzat (the simulator) must end holding every
//! punch exactly once.
//!
//! These kill processes and restart the shared broker and database, so they are `serial_*`:
//! `make test` runs them one at a time after the rest.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bridge_tests::fixtures::{self, CompanyOutcome, Punch};
use bridge_tests::postgres::PostgresStopped;
use bridge_tests::rabbitmq::RabbitMqStopped;
use bridge_tests::{Service, System};

/// Long enough for a sync-service started after a SIGKILL to wait out its predecessor's sender
/// lease (`SYNC_LEASE_TTL`, 3 s here) and finish the drain.
const SETTLE: Duration = Duration::from_secs(120);
/// How long Postgres stays away in the restart test: past every connection checkout's wait (3 s)
/// and the longest pause between reconnect attempts (5 s), so every service meets it as an outage,
/// and within the time a message is retried in place (5 min), as a restart with crash recovery or
/// a failover is.
const OUTAGE: Duration = Duration::from_secs(10);

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
    // import-service has tried to send the second import's messages and been refused.
    bridge_tests::wait_for(
        Duration::from_secs(30),
        "import-service's relay meets the outage",
        || async {
            match test_support::refused_outbox_rows(system.env().db.url(), "import").await? {
                0 => Err("no refused attempt yet".to_owned()),
                _ => Ok(()),
            }
        },
    )
    .await;
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

/// The operators' console as a child process beside a [`System`], killed when dropped.
struct Console {
    child: std::process::Child,
    url: String,
}

impl Console {
    async fn start(system: &System) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log = std::fs::File::create(system.scratch_dir().join("console.log"))
            .expect("the console's log");
        let child = std::process::Command::new(bridge_tests::binary("console"))
            .env_clear()
            .env("RUST_LOG", "info")
            .env("DATABASE_URL", system.env().db.url())
            .envs(system.key_env(Some(auth::Signer::Console)))
            .env("CONSOLE_BIND", format!("127.0.0.1:{port}"))
            .env("CONFIG_SERVICE_URL", system.url(Service::Config))
            .env("IMPORT_SERVICE_URL", system.url(Service::Import))
            .env("SYNC_SERVICE_URL", system.url(Service::Sync))
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("start the console");
        let console = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        wait_ready(system, &console.url, "console", 200).await;
        console
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `{base}/readyz` answers `status`.
async fn wait_ready(system: &System, base: &str, name: &str, status: u16) {
    bridge_tests::wait_for(Duration::from_secs(60), "readiness", || async {
        let seen = test_support::status_of(&system.client, base, "/readyz").await;
        (seen == status)
            .then_some(())
            .ok_or(format!("{name} /readyz {seen}, expected {status}"))
    })
    .await;
}

/// The process id of `service` of `system` (its binary, with this test's broker namespace).
fn pid_of(system: &System, service: Service) -> u32 {
    let namespace = format!("AMQP_NAMESPACE={}", system.env().broker.namespace());
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            let program = cmdline.split(|b| *b == 0).next().unwrap_or_default();
            program.ends_with(service.binary().as_bytes())
                && environ
                    .split(|b| *b == 0)
                    .any(|var| var == namespace.as_bytes())
        })
        .unwrap_or_else(|| panic!("no {service} process of this test"))
}

/// How many messages wait in `queue`, not yet handed to a consumer.
async fn waiting_in(system: &System, queue: &str) -> u32 {
    system.env().broker.queue_now(queue).await.waiting
}

fn signal(pid: u32, signal: &str) {
    let sent = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(sent, "kill {signal} {pid}");
}

/// Postgres stops (every session cut off) while punches are being delivered, and stays away for
/// [`OUTAGE`] while import-service has a backlog of delivery status events to handle (it was
/// paused a moment before); every service and the console say they are not ready meanwhile and
/// are ready again once Postgres is back; every punch ends in Bayzat exactly once, none left
/// `sending`, and each import shows its punches delivered: no status event was dead-lettered.
///
/// This restarts the tests' Postgres: run it against a private server (`TEST_POSTGRES_URL`,
/// `TEST_POSTGRES_CTL`, see tests/README.md) unless nothing else uses the machine's.
#[tokio::test(flavor = "multi_thread")]
async fn serial_postgres_restarted_mid_delivery_delivers_every_punch_once() {
    let system = System::start().await;
    let console = Console::start(&system).await;
    let mut services: Vec<(String, String)> = [Service::Config, Service::Import, Service::Sync]
        .into_iter()
        .map(|service| (service.to_string(), system.url(service)))
        .collect();
    services.push(("console".to_owned(), console.url.clone()));

    let first = upload_generated(&system, "2026-03-01", 40).await;
    let second = upload_generated(&system, "2026-06-01", 5).await;
    wait_until_delivery_is_under_way(&system, first.1["advline"].len()).await;

    // Status events pile up in import-service's queue while it is paused.
    let import_service = pid_of(&system, Service::Import);
    signal(import_service, "-STOP");
    bridge_tests::wait_for(
        Duration::from_secs(30),
        "status events wait in import-service's queue",
        || async {
            match waiting_in(
                &system,
                &system.env().broker.topology().import_status_queue().name,
            )
            .await
            {
                0 => Err("none yet".to_owned()),
                _ => Ok(()),
            }
        },
    )
    .await;
    let stopped = PostgresStopped::stop();
    signal(import_service, "-CONT");
    for (name, base) in &services {
        wait_ready(&system, base, name, 503).await;
    }
    // A restart with crash recovery, or a failover, keeps Postgres away for a while. The length
    // of the outage is the scenario itself, not a wait for something to happen.
    tokio::time::sleep(OUTAGE).await;
    stopped.start();

    for (name, base) in &services {
        wait_ready(&system, base, name, 200).await;
    }
    // A report imported after the restart goes the same way.
    let third = upload_generated(&system, "2026-09-01", 5).await;
    assert_all_delivered_once(&system, &[first, second, third]).await;
}
