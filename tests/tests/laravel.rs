//! The Laravel package of clients/laravel, by its own PHPUnit suites: `unit` alone, and
//! `integration` and `webhooks` each against a fresh system loaded with the fixture directory,
//! configured as a portal configures it (the `ATTENDANCE_BRIDGE_*` variables, the portal's key as
//! a PEM file). `webhooks` serves the package's webhook route from a Laravel application on a
//! port given here, registers it with config-service (which may send to 127.0.0.1), and follows
//! an upload of basic.csv through its webhooks. The two suites also run the code of the package's
//! README.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bridge_tests::{free_port, Service, System};

const PACKAGE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../clients/laravel");
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");
/// The suites finish in seconds; this only stops a hung run.
const PHPUNIT_TIMEOUT: Duration = Duration::from_secs(300);

/// `phpunit` from Debian's package, with the PHP extensions the package needs; a failure that
/// says how to get them otherwise (this test does not skip).
fn phpunit() -> PathBuf {
    let found = |command: &str| {
        Command::new("bash")
            .args(["-c", command])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    assert!(
        found("command -v php && command -v phpunit"),
        "the Laravel package's tests need php and phpunit: run scripts/deps.sh (make deps), which \
         installs php-cli, php-laravel-framework, php-guzzlehttp-guzzle and phpunit"
    );
    assert!(
        found("php -r 'exit(function_exists(\"sodium_crypto_sign_detached\") && function_exists(\"curl_init\") ? 0 : 1);'")
            && found(&format!(
                "test -f /usr/share/php/Illuminate/autoload.php -o -f {PACKAGE}/vendor/autoload.php"
            )),
        "the Laravel package's tests need PHP's sodium and curl extensions and Laravel: run \
         scripts/deps.sh (make deps)"
    );
    PathBuf::from("phpunit")
}

/// Runs one suite of the package's phpunit.xml with `vars`, and fails with its output unless it
/// passed.
async fn run_suite(suite: &str, vars: Vec<(String, String)>) {
    let program = phpunit();
    let package = Path::new(PACKAGE).to_path_buf();
    let suite_name = suite.to_owned();
    let run = tokio::task::spawn_blocking(move || {
        // coreutils' timeout stops a hung phpunit (say, a wait that never ends) rather than the
        // whole test binary.
        Command::new("timeout")
            .arg(PHPUNIT_TIMEOUT.as_secs().to_string())
            .arg(program)
            .current_dir(&package)
            .args(["--configuration", "phpunit.xml", "--testsuite", &suite_name])
            .envs(vars)
            .output()
            .expect("run phpunit")
    })
    .await
    .expect("phpunit ran");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "phpunit --testsuite {suite} failed ({}):\n{stdout}\n{stderr}",
        run.status
    );
    assert!(
        stdout.contains("OK ("),
        "phpunit --testsuite {suite} ran no tests:\n{stdout}\n{stderr}"
    );
    println!("{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_laravel_packages_unit_tests_pass() {
    run_suite("unit", Vec::new()).await;
}

/// The `ATTENDANCE_BRIDGE_*` variables of a portal that calls `system`, its key in a PEM file.
fn portal_vars(system: &System) -> Vec<(String, String)> {
    // The portal's key as the package's README has it kept: a PKCS#8 PEM file.
    let portal = &test_support::test_keys().portal;
    let pem = system.scratch_dir().join("portal.pem");
    let body = STANDARD.encode(portal.pkcs8_der());
    std::fs::write(
        &pem,
        format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n"),
    )
    .expect("write the portal's key");
    [
        ("ATTENDANCE_BRIDGE_CONFIG_URL", system.url(Service::Config)),
        ("ATTENDANCE_BRIDGE_IMPORT_URL", system.url(Service::Import)),
        ("ATTENDANCE_BRIDGE_SYNC_URL", system.url(Service::Sync)),
        ("ATTENDANCE_BRIDGE_KEY_ID", portal.kid().to_owned()),
        (
            "ATTENDANCE_BRIDGE_PRIVATE_KEY_FILE",
            pem.display().to_string(),
        ),
        ("ATTENDANCE_BRIDGE_FIXTURES", FIXTURES.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_laravel_package_drives_the_real_services() {
    phpunit();
    let system = System::start().await;
    run_suite("integration", portal_vars(&system)).await;
}

/// The `webhooks` suite: its own system (it uploads basic.csv and waits for that upload's
/// webhooks), whose config-service may send to the receiver the suite runs on 127.0.0.1 and
/// retries a few seconds apart (the default schedule spreads a day).
#[tokio::test(flavor = "multi_thread")]
async fn the_laravel_package_receives_the_bridges_webhooks() {
    phpunit();
    let system = System::start_with(
        System::builder()
            .env(
                Service::Config,
                "WEBHOOK_ALLOWED_URLS",
                "http://127.0.0.1:*",
            )
            .env(
                Service::Config,
                "WEBHOOK_RETRY_SCHEDULE",
                "1s,2s,4s,8s,8s,8s,8s,8s,8s,8s,8s,8s,8s,8s",
            )
            .env(Service::Config, "WEBHOOK_TIMEOUT", "5"),
    )
    .await;
    let mut vars = portal_vars(&system);
    vars.push((
        "ATTENDANCE_BRIDGE_TEST_WEBHOOK_PORT".to_owned(),
        free_port().to_string(),
    ));
    run_suite("webhooks", vars).await;
}
