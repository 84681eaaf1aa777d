//! A company's sync health (sync-service) shows its clocks (import-service's): a lobby clock
//! shared by two companies shows in both, with when it last called and its punches of the day,
//! and shows silent once it has not called for longer than `CLOCK_SILENT_AFTER`, even when what
//! stopped it is import-service itself.

use std::time::Duration;

use bridge_tests::{free_port, wait_for, Role, Service, System};
use clock_push::{Pin, PunchState, SerialNumber};
use clock_sim::{Terminal, TerminalConfig};
use reqwest::Method;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(60);
const SERIAL: &str = "LOBBYSYNC1";

/// The clock of `company`'s sync health, once `ready` holds for it.
async fn clock_in_sync_health(
    system: &System,
    company: &str,
    what: &str,
    ready: impl Fn(&Value) -> bool,
) -> Value {
    wait_for(WAIT, what, || async {
        let health = system
            .get(
                Service::Sync,
                &format!("/v1/companies/{company}/sync-health"),
            )
            .await;
        assert_eq!(health.status, 200, "{health}");
        health.body["clocks"]
            .as_array()
            .and_then(|clocks| clocks.iter().find(|c| c["serial_number"] == SERIAL))
            .filter(|clock| ready(clock))
            .cloned()
            .ok_or_else(|| format!("{company}: {}", health.body["clocks"]))
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_health_shows_a_companys_clocks_and_their_silence() {
    let clock_bind = format!("127.0.0.1:{}", free_port());
    let mut system = System::start_with(
        System::builder()
            .env(Service::Import, "IMPORT_CLOCK_BIND", &clock_bind)
            .env(Service::Import, "CLOCK_SILENT_AFTER", "3"),
    )
    .await;
    let registered = system
        .call(
            Method::POST,
            Service::Import,
            "/v1/clocks",
            Role::Admin,
            Some(json!({ "serial_number": SERIAL, "companies": ["advline", "clarastars"] })),
        )
        .await;
    assert_eq!(registered.status, 201, "{registered}");

    // The terminal calls every 300 ms and sends one punch of advline's 1001.
    let mut config = TerminalConfig::new(
        SerialNumber::parse(SERIAL).unwrap(),
        format!("http://{clock_bind}"),
    );
    config.heartbeat_interval = Duration::from_millis(300);
    config.backoff_initial = Duration::from_millis(20);
    config.backoff_max = Duration::from_millis(200);
    let terminal = Terminal::spawn(config);
    terminal.punch(Pin::parse("1001").unwrap(), PunchState::CheckIn);

    for company in ["advline", "clarastars"] {
        let clock = clock_in_sync_health(&system, company, "the calling clock", |clock| {
            clock["punches_today"] == 1 && clock["silent"] == false
        })
        .await;
        assert_eq!(clock["state"], "approved", "{clock}");
        assert!(clock["last_seen_at"].is_string(), "{clock}");
        assert!(clock["last_punch_at"].is_string(), "{clock}");
    }
    let gulflog = system
        .get(Service::Sync, "/v1/companies/gulflog/sync-health")
        .await;
    assert_eq!(gulflog.body["clocks"], json!([]), "{gulflog}");

    // import-service goes away: the clock's calls reach no one, and its silence shows all the
    // same once CLOCK_SILENT_AFTER has passed.
    system.kill(Service::Import);
    let clock = clock_in_sync_health(&system, "advline", "the clock falls silent", |clock| {
        clock["silent"] == true
    })
    .await;
    assert_eq!(clock["punches_today"], 1, "{clock}");

    // import-service back, the clock calling again is not silent any more.
    system.start_service(Service::Import).await;
    clock_in_sync_health(&system, "advline", "the clock calls again", |clock| {
        clock["silent"] == false
    })
    .await;
    terminal.stop().await;
}
