//! The clients the project ships wait out the API's rate limit: a request answered 429 is sent
//! again once the wait the answer names has passed, and the work completes. `config-service
//! load-directory` (the command itself), the scripts' Python helper (scripts/bridge_http.py) and
//! the benches' `bridge_curl` (bench/lib.sh), each against config-service allowing a few requests
//! a second.

mod common;

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use auth::Role;
use serde_json::{json, Value};
use service_kit::RunningService;
use test_support::TestEnv;
use tokio::process::Command;

const BINARY: &str = env!("CARGO_BIN_EXE_config-service");
const REPOSITORY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
/// Companies of the directory load-directory loads (six requests each).
const COMPANIES: usize = 8;
/// Calls of the script clients, at one a second in bursts of ten.
const CALLS: u32 = 15;

/// config-service allowing `per_second` requests a second per caller, in bursts of ten times that.
async fn limited_service(per_second: u32) -> (RunningService, TestEnv) {
    let env = TestEnv::new().await;
    let mut common_settings = env.common_settings();
    common_settings.api_rate_limit_per_second = NonZeroU32::new(per_second).unwrap();
    let started = common::start(common::settings(common_settings, &common::master_key("k1"))).await;
    (started.service, env)
}

/// A directory file of `companies` companies, each with two report names, three employees and a
/// Bayzat key, written to a file of its own.
fn directory_file(companies: usize) -> (tempdir::Dir, PathBuf) {
    let companies: Vec<Value> = (0..companies)
        .map(|i| {
            json!({
                "slug": format!("co{i:03}"),
                "name_en": format!("Company {i}"),
                "timezone": "Asia/Dubai",
                "fingerprint_report_names": [format!("Report {i} North"), format!("Report {i} South")],
                "bayzat": { "api_key": format!("bz_test_co{i:03}"), "is_enabled": true, "sync_frequency": "manual" },
            })
        })
        .collect();
    let employees: Vec<Value> = companies
        .iter()
        .enumerate()
        .flat_map(|(i, company)| {
            let slug = company["slug"].clone();
            (0..3).map(move |e| {
                json!({
                    "employee_id": format!("{}", 1000 * (i + 1) + e),
                    "name": format!("Employee {e} of {i}"),
                    "company": slug,
                    "bayzat_emp_id": format!("BZ-{i}-{e}"),
                })
            })
        })
        .collect();
    let dir = tempdir::Dir::new();
    let file = dir.path.join("directory.json");
    std::fs::write(
        &file,
        serde_json::to_vec(&json!({ "companies": companies, "employees": employees })).unwrap(),
    )
    .unwrap();
    (dir, file)
}

/// A folder removed when dropped.
mod tempdir {
    use std::path::PathBuf;

    pub struct Dir {
        pub path: PathBuf,
    }

    impl Dir {
        pub fn new() -> Self {
            let path = std::env::temp_dir().join(test_support::unique_name("rate_limited_clients"));
            std::fs::create_dir_all(&path).unwrap();
            Self { path }
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Runs `config-service load-directory FILE --url BASE` with the test portal key, and `extra`.
async fn load_directory(base: &str, file: &PathBuf, extra: &[&str]) -> Output {
    let (name, value) = test_support::test_keys().portal_env();
    Command::new(BINARY)
        .arg("load-directory")
        .arg(file)
        .args(["--url", base, "--api-url", "http://127.0.0.1:9/attendance"])
        .args(extra)
        .env(name, value)
        .kill_on_drop(true)
        .output()
        .await
        .expect("run config-service load-directory")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The number in "rate limited N times" of a client's output.
fn times_rate_limited(output: &str) -> u32 {
    let (_, after) = output
        .split_once("rate limited ")
        .unwrap_or_else(|| panic!("no 429 was met: {output}"));
    after.split(' ').next().unwrap().parse().unwrap()
}

/// The directory as the other services read it: slug → the company.
async fn snapshot(base: &str) -> BTreeMap<String, Value> {
    let token = test_support::role_token(Role::Service, "sync-service");
    let response = reqwest::Client::new()
        .get(format!("{base}/v1/directory"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let snapshot: Value = response.json().await.unwrap();
    snapshot["companies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["slug"].as_str().unwrap().to_owned(), c.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn load_directory_waits_out_the_rate_limit_and_loads_every_company() {
    // Two requests a second, bursts of twenty; eight companies take 48 requests, about fourteen
    // seconds' worth past the burst.
    let (service, _env) = limited_service(2).await;
    let base = service.base_url();
    let (_dir, file) = directory_file(COMPANIES);

    let output = load_directory(&base, &file, &[]).await;
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "load-directory failed: {stdout}{}",
        text(&output.stderr)
    );
    println!("{stdout}");
    assert!(times_rate_limited(&stdout) >= 1, "{stdout}");
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("co")).count(),
        COMPANIES,
        "{stdout}"
    );

    let companies = snapshot(&base).await;
    assert_eq!(companies.len(), COMPANIES, "{:?}", companies.keys());
    for i in 0..COMPANIES {
        let company = &companies[&format!("co{i:03}")];
        assert_eq!(company["name_en"], format!("Company {i}"));
        assert_eq!(
            company["fingerprint_report_names"],
            json!([format!("Report {i} North"), format!("Report {i} South")])
        );
        assert_eq!(company["api_key_configured"], true);
        let mut employees: Vec<(String, String, String)> = company["employees"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["employee_id"].as_str().unwrap().to_owned(),
                    e["name"].as_str().unwrap().to_owned(),
                    e["bayzat_emp_id"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        employees.sort();
        let expected: Vec<(String, String, String)> = (0..3)
            .map(|e| {
                (
                    format!("{}", 1000 * (i + 1) + e),
                    format!("Employee {e} of {i}"),
                    format!("BZ-{i}-{e}"),
                )
            })
            .collect();
        assert_eq!(employees, expected, "co{i:03}");
    }
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn load_directory_gives_up_with_a_clear_error_when_waiting_would_pass_its_limit() {
    // One request a second, bursts of ten: five companies take thirty requests, so a run that may
    // wait two seconds in all meets a 429 it may not wait out.
    let (service, _env) = limited_service(1).await;
    let base = service.base_url();
    let (_dir, file) = directory_file(5);

    let output = load_directory(&base, &file, &["--max-rate-limit-wait", "2"]).await;
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{}", text(&output.stdout));
    assert!(
        stderr.contains("still answered 429 (rate limited) after 2 waits, 2.0 s in all")
            && stderr.contains("--max-rate-limit-wait"),
        "{stderr}"
    );
    service.stop().await;
}

/// `calls` requests of `GET /v1/companies` as one caller; what the client printed.
async fn run(program: &str, script: &str, base: &str, calls: u32) -> Output {
    Command::new(program)
        .arg("-c")
        .arg(script)
        .env("BASE", base)
        .env("TOKEN", test_support::admin_token())
        .env("CALLS", calls.to_string())
        .env("REPOSITORY", REPOSITORY)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap_or_else(|error| panic!("run {program}: {error}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_scripts_python_helper_waits_out_the_rate_limit() {
    let (service, _env) = limited_service(1).await;
    let base = service.base_url();
    // Half the calls through urlopen, half through waiting_on_429 (as the generated clients are
    // called): five past the burst of ten.
    let script = r#"
import collections, os, sys, urllib.error, urllib.request
sys.path.insert(0, os.path.join(os.environ["REPOSITORY"], "scripts"))
import bridge_http

url = os.environ["BASE"] + "/v1/companies"
headers = {"Authorization": "Bearer " + os.environ["TOKEN"]}
Answer = collections.namedtuple("Answer", "status_code headers")

def send():
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as r:
            return Answer(r.status, r.headers)
    except urllib.error.HTTPError as e:
        return Answer(e.code, e.headers)

statuses = collections.Counter()
for i in range(int(os.environ["CALLS"])):
    if i % 2:
        statuses[bridge_http.waiting_on_429(send).status_code] += 1
    else:
        with bridge_http.urlopen(urllib.request.Request(url, headers=headers)) as r:
            statuses[r.status] += 1
print(dict(statuses), bridge_http.WAITS)
"#;
    let output = run("python3", script, &base, CALLS).await;
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    assert!(
        stdout.starts_with(&format!("{{200: {CALLS}}} ")),
        "{stdout}"
    );
    assert!(times_rate_limited(&stdout) >= 1, "{stdout}");
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_benches_bridge_curl_waits_out_the_rate_limit() {
    // Five calls past the burst of ten.
    let (service, _env) = limited_service(1).await;
    let base = service.base_url();
    let script = r#"
set -euo pipefail
BENCH_FUNCTIONS_ONLY=1 . "$REPOSITORY/bench/lib.sh"
for _ in $(seq 1 "$CALLS"); do
  bridge_curl -sS -o /dev/null -w '%{http_code}\n' -H "Authorization: Bearer $TOKEN" "$BASE/v1/companies"
done | sort | uniq -c
"#;
    let output = run("bash", script, &base, CALLS).await;
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stdout}{stderr}");
    assert_eq!(stdout.trim(), format!("{CALLS} 200"), "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l == "bridge_curl: answered 429 (rate limited); sending it again in 1 s"),
        "{stderr}"
    );
    service.stop().await;
}

#[test]
fn the_wait_is_read_from_retry_after_ms_then_retry_after_then_a_default() {
    use config_service::cli::{rate_limit_wait, DEFAULT_RATE_LIMIT_WAIT};
    use reqwest::header::{HeaderMap, HeaderValue};

    let headers = |pairs: &[(&'static str, &'static str)]| {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    };
    let table = [
        (
            headers(&[("retry-after-ms", "250"), ("retry-after", "1")]),
            Duration::from_millis(250),
        ),
        (headers(&[("Retry-After", "3")]), Duration::from_secs(3)),
        (
            headers(&[("retry-after-ms", "soon"), ("retry-after", "2")]),
            Duration::from_secs(2),
        ),
        (
            headers(&[("retry-after", "Sat, 05 Dec 2026 07:00:00 GMT")]),
            DEFAULT_RATE_LIMIT_WAIT,
        ),
        (headers(&[]), DEFAULT_RATE_LIMIT_WAIT),
    ];
    for (headers, wait) in table {
        assert_eq!(rate_limit_wait(&headers), wait, "{headers:?}");
    }
}
