//! The Prometheus and Grafana files read metrics the services really export.
//!
//! The system is started with the console beside it and given the traffic that makes every series
//! the dashboards and alert rules read appear (an upload delivered, Bayzat failing one company's
//! calls until its retries run out, a refused key, a dead letter); then the `/metrics` of every
//! job `deploy/prometheus/prometheus.yml` scrapes is read, again and again while the traffic goes
//! on, until every metric name, label and label value a dashboard query or an alert names has
//! been seen (labels Prometheus adds itself, `job` and `instance`, and its own `up`, included).
//!
//! Sample names are compared as a scrape shows them, so a histogram counts under its `_bucket`,
//! `_sum` and `_count` series, never under its bare name, which Prometheus does not store either.
//! Series that exist only while something is the case are made to exist: the queue delay
//! (`bridge_oldest_pending_seconds`) while a company's deliveries wait for their retries, the dead
//! letters (`bridge_dead_letters`) once a message is dead-lettered, `status="401"` once a key is
//! refused. `make ops` checks separately that every query parses.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bridge_tests::fixtures;
use bridge_tests::{Role, Service, System};
use bus::lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use bus::lapin::{BasicProperties, Connection, ConnectionProperties};
use reqwest::Method;
use serde_json::{json, Value};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
/// How long the traffic may take to make every series appear.
const WAIT: Duration = Duration::from_secs(120);

// PromQL, as far as the dashboards and alert rules use it: which metrics a query selects, with
// which label matchers, and which labels it groups or matches by.

#[derive(Debug, Clone, PartialEq, Eq)]
struct Matcher {
    label: String,
    op: String,
    value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Selector {
    metric: String,
    matchers: Vec<Matcher>,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Query {
    selectors: Vec<Selector>,
    /// Labels of `by (...)`, `without (...)`, `on (...)`, `ignoring (...)`, `group_left (...)`.
    grouping: BTreeSet<String>,
}

/// Words that are operators, modifiers or aggregations (which may stand before `by (...)`),
/// never metric names.
const KEYWORDS: [&str; 27] = [
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "atan2",
    "inf",
    "nan",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];
/// The keywords followed by a list of labels.
const GROUPING: [&str; 6] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// The index just past the string literal that starts at `start`.
fn skip_string(chars: &[char], start: usize) -> usize {
    let quote = chars[start];
    let mut i = start + 1;
    while i < chars.len() && chars[i] != quote {
        i += if chars[i] == '\\' { 2 } else { 1 };
    }
    i + 1
}

/// The string literal that starts at `start`, unescaped, and the index just past it.
fn read_string(chars: &[char], start: usize) -> (String, usize) {
    let end = skip_string(chars, start).min(chars.len());
    let mut value = String::new();
    let mut escaped = false;
    for &c in &chars[start + 1..(end - 1).max(start + 1)] {
        if escaped || c != '\\' {
            value.push(c);
            escaped = false;
        } else {
            escaped = true;
        }
    }
    (value, end)
}

fn skip_spaces(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() && chars[i].is_whitespace() {
        i += 1;
    }
    i
}

/// The matchers of the `{...}` that starts at `start`, and the index just past it.
fn parse_matchers(chars: &[char], start: usize, expr: &str) -> (Vec<Matcher>, usize) {
    let mut matchers = Vec::new();
    let mut i = start + 1;
    loop {
        i = skip_spaces(chars, i);
        match chars.get(i) {
            Some('}') => return (matchers, i + 1),
            Some(',') => {
                i += 1;
                continue;
            }
            None => panic!("unclosed {{ in {expr}"),
            _ => {}
        }
        let label_start = i;
        while i < chars.len() && is_name_char(chars[i]) {
            i += 1;
        }
        let label: String = chars[label_start..i].iter().collect();
        i = skip_spaces(chars, i);
        let op = ["=~", "!~", "!=", "="]
            .into_iter()
            .find(|op| chars[i..].starts_with(&op.chars().collect::<Vec<_>>()))
            .unwrap_or_else(|| panic!("a matcher of {label} without an operator in {expr}"));
        i = skip_spaces(chars, i + op.len());
        assert!(
            matches!(chars.get(i), Some('"' | '\'' | '`')),
            "the value of {label} is a string in {expr}"
        );
        let (value, next) = read_string(chars, i);
        i = next;
        matchers.push(Matcher {
            label,
            op: op.to_owned(),
            value,
        });
    }
}

fn parse_query(expr: &str) -> Query {
    let chars: Vec<char> = expr.chars().collect();
    let mut query = Query::default();
    let mut after_metric = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let mut metric = false;
        if matches!(c, '"' | '\'' | '`') {
            i = skip_string(&chars, i);
        } else if c == '[' {
            // A range or subquery: durations and Grafana's $__rate_interval.
            while i < chars.len() && chars[i] != ']' {
                i += 1;
            }
            i += 1;
        } else if c == '{' {
            assert!(
                after_metric,
                "a selector without a metric name is not checked: {expr}"
            );
            let (matchers, next) = parse_matchers(&chars, i, expr);
            query
                .selectors
                .last_mut()
                .expect("the selector's metric")
                .matchers = matchers;
            i = next;
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len() && is_name_char(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = skip_spaces(&chars, i);
            let opens = chars.get(next) == Some(&'(');
            if GROUPING.contains(&word.as_str()) && opens {
                let close = chars[next..]
                    .iter()
                    .position(|&c| c == ')')
                    .map(|p| next + p)
                    .unwrap_or_else(|| panic!("unclosed {word} ( in {expr}"));
                let labels: String = chars[next + 1..close].iter().collect();
                query.grouping.extend(
                    labels
                        .split(',')
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(str::to_owned),
                );
                i = close + 1;
            } else if !opens && !KEYWORDS.contains(&word.as_str()) {
                // Neither a function, an aggregation nor an operator: a metric.
                query.selectors.push(Selector {
                    metric: word,
                    matchers: Vec::new(),
                });
                metric = true;
            }
        } else if c.is_ascii_digit() || c == '.' {
            // A number or a duration (0.95, 10m, 1e3).
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c == '$' {
            // A Grafana variable.
            i += 1;
            while i < chars.len() && is_name_char(chars[i]) {
                i += 1;
            }
        } else if c.is_whitespace() {
            i += 1;
            continue;
        } else {
            i += 1;
        }
        after_metric = metric;
    }
    query
}

// What the dashboards and rules read.

/// Every query of the Grafana dashboards and of the alert rules, with where it is.
fn queries() -> Vec<(String, Query)> {
    let mut queries = Vec::new();
    let dashboards = format!("{ROOT}/deploy/grafana/dashboards");
    let mut files: Vec<_> = std::fs::read_dir(&dashboards)
        .unwrap_or_else(|e| panic!("{dashboards}: {e}"))
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "dashboards in {dashboards}");
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap())
            .unwrap_or_else(|e| panic!("{name} is JSON: {e}"));
        for panel in dashboard["panels"].as_array().expect("panels") {
            let nested = panel["panels"].as_array().into_iter().flatten();
            for panel in std::iter::once(panel).chain(nested) {
                for target in panel["targets"].as_array().into_iter().flatten() {
                    let expr = target["expr"].as_str().expect("a target's expr");
                    let place =
                        format!("{name}, panel {:?}", panel["title"].as_str().unwrap_or(""));
                    queries.push((place, parse_query(expr)));
                }
            }
        }
        for variable in dashboard["templating"]["list"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let definition = variable["definition"].as_str().unwrap_or_default();
            let place = format!(
                "{name}, variable {:?}",
                variable["name"].as_str().unwrap_or("")
            );
            queries.push((place, parse_label_values(definition)));
        }
    }
    let rules: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(format!("{ROOT}/deploy/prometheus/alerts.yml")).unwrap(),
    )
    .expect("alerts.yml is YAML");
    for group in rules["groups"].as_sequence().expect("rule groups") {
        for rule in group["rules"].as_sequence().expect("rules") {
            let place = format!("alert {}", rule["alert"].as_str().expect("an alert name"));
            let expr = rule["expr"].as_str().expect("an expr");
            queries.push((place, parse_query(expr)));
        }
    }
    queries
}

/// A Grafana variable's `label_values(metric, label)`, as the metric grouped by the label.
fn parse_label_values(definition: &str) -> Query {
    let inner = definition
        .strip_prefix("label_values(")
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| {
            panic!("a variable of the form label_values(metric, label): {definition}")
        });
    let (metric, label) = inner.split_once(',').expect("metric and label");
    Query {
        selectors: vec![Selector {
            metric: metric.trim().to_owned(),
            matchers: Vec::new(),
        }],
        grouping: [label.trim().to_owned()].into(),
    }
}

// What the services export.

/// Every series seen on any scrape: sample name, then each label with the values it had.
#[derive(Debug, Default)]
struct Seen(BTreeMap<String, BTreeMap<String, BTreeSet<String>>>);

impl Seen {
    fn add(&mut self, name: &str, labels: &BTreeMap<String, String>) {
        let series = self.0.entry(name.to_owned()).or_default();
        for (label, value) in labels {
            series
                .entry(label.clone())
                .or_default()
                .insert(value.clone());
        }
    }

    /// One scrape of `job`'s target `instance`, as Prometheus stores it: each sample with the
    /// target's labels, and `up` for the target.
    fn add_scrape(&mut self, job: &str, instance: &str, text: &str) {
        let target: BTreeMap<String, String> = [
            ("job".to_owned(), job.to_owned()),
            ("instance".to_owned(), instance.to_owned()),
        ]
        .into();
        self.add("up", &target);
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let chars: Vec<char> = line.chars().collect();
            let end = chars
                .iter()
                .position(|&c| !is_name_char(c))
                .unwrap_or(chars.len());
            let name: String = chars[..end].iter().collect();
            let mut labels = target.clone();
            if chars.get(end) == Some(&'{') {
                let (matchers, _) = parse_matchers(&chars, end, line);
                labels.extend(matchers.into_iter().map(|m| (m.label, m.value)));
            }
            self.add(&name, &labels);
        }
    }

    fn labels(&self, metric: &str) -> Option<&BTreeMap<String, BTreeSet<String>>> {
        self.0.get(metric)
    }
}

/// What the queries name that no scrape has shown yet.
fn unseen(queries: &[(String, Query)], seen: &Seen) -> Vec<String> {
    let mut unseen = Vec::new();
    for (place, query) in queries {
        for selector in &query.selectors {
            let metric = &selector.metric;
            let Some(labels) = seen.labels(metric) else {
                let hint = if seen.labels(&format!("{metric}_bucket")).is_some() {
                    " (a histogram: read its _bucket, _sum or _count series)"
                } else {
                    ""
                };
                unseen.push(format!("{place}: no service exports {metric}{hint}"));
                continue;
            };
            for matcher in &selector.matchers {
                let Some(values) = labels.get(&matcher.label) else {
                    unseen.push(format!("{place}: {metric} has no label {}", matcher.label));
                    continue;
                };
                if matcher.value.contains('$') {
                    continue;
                }
                // A value the query looks for (=, or each word of a =~ "a|b|c") was exported.
                let wanted: Vec<&str> = match matcher.op.as_str() {
                    "=" => vec![matcher.value.as_str()],
                    "=~" if matcher
                        .value
                        .chars()
                        .all(|c| is_name_char(c) || c == '-' || c == '|') =>
                    {
                        matcher.value.split('|').collect()
                    }
                    _ => Vec::new(),
                };
                for value in wanted {
                    if !values.contains(value) {
                        unseen.push(format!(
                            "{place}: no {metric}{{{}=\"{value}\"}} yet (seen: {values:?})",
                            matcher.label
                        ));
                    }
                }
            }
        }
        for label in &query.grouping {
            let carried = query.selectors.iter().any(|selector| {
                seen.labels(&selector.metric)
                    .is_some_and(|labels| labels.contains_key(label))
            });
            if !carried {
                unseen.push(format!(
                    "{place}: by/on ({label}), a label none of its metrics carries"
                ));
            }
        }
    }
    unseen
}

// The deployment files.

fn yaml(path: &str) -> serde_yaml::Value {
    let text =
        std::fs::read_to_string(format!("{ROOT}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut value: serde_yaml::Value =
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path} is YAML: {e}"));
    value.apply_merge().expect("merge keys resolve");
    value
}

/// The scrape jobs of prometheus.yml: job name, the host names it resolves and the port.
fn scrape_jobs() -> Vec<(String, Vec<String>, u16)> {
    let config = yaml("deploy/prometheus/prometheus.yml");
    let jobs = config["scrape_configs"]
        .as_sequence()
        .expect("scrape_configs");
    jobs.iter()
        .map(|job| {
            let name = job["job_name"].as_str().expect("job_name").to_owned();
            let path = job["metrics_path"].as_str().unwrap_or("/metrics");
            assert_eq!(path, "/metrics", "{name} is scraped where services serve");
            let mut hosts = Vec::new();
            let mut ports = BTreeSet::new();
            for statics in job["static_configs"].as_sequence().into_iter().flatten() {
                for target in statics["targets"].as_sequence().expect("targets") {
                    let (host, port) = target
                        .as_str()
                        .and_then(|t| t.rsplit_once(':'))
                        .expect("host:port");
                    hosts.push(host.to_owned());
                    ports.insert(port.parse::<u16>().expect("a port"));
                }
            }
            for dns in job["dns_sd_configs"].as_sequence().into_iter().flatten() {
                for host in dns["names"].as_sequence().expect("names") {
                    hosts.push(host.as_str().expect("a name").to_owned());
                }
                ports.insert(u16::try_from(dns["port"].as_u64().expect("a port")).expect("a port"));
            }
            assert_eq!(ports.len(), 1, "{name}: one port");
            (name, hosts, ports.pop_first().unwrap())
        })
        .collect()
}

#[test]
fn queries_are_read_for_their_metrics_labels_and_groupings() {
    let query = parse_query(
        "histogram_quantile(0.95, sum by (le, company) (rate(bridge_bayzat_request_seconds_bucket{company=~\"$company\"}[$__rate_interval])))\n\
         / on(company) group_left max without (instance) (bridge_deliveries{state = \"a,}\\\"b\", company!=''})\n\
         or up offset 10m unless sum(x:recorded) by (job) > bool 1e3",
    );
    let metrics: Vec<&str> = query.selectors.iter().map(|s| s.metric.as_str()).collect();
    assert_eq!(
        metrics,
        [
            "bridge_bayzat_request_seconds_bucket",
            "bridge_deliveries",
            "up",
            "x:recorded"
        ]
    );
    assert_eq!(
        query.selectors[1].matchers,
        [
            Matcher {
                label: "state".into(),
                op: "=".into(),
                value: "a,}\"b".into()
            },
            Matcher {
                label: "company".into(),
                op: "!=".into(),
                value: String::new()
            }
        ]
    );
    assert_eq!(
        query.grouping,
        ["company", "instance", "job", "le"]
            .map(String::from)
            .into()
    );

    let mut seen = Seen::default();
    seen.add_scrape(
        "sync-service",
        "127.0.0.1:1",
        "# HELP bridge_x_seconds t\nbridge_x_seconds_bucket{company=\"3\",le=\"0.5\"} 1\nbridge_y_total{status=\"200\"} 2\n",
    );
    let problems = unseen(
        &[(
            "test".to_owned(),
            parse_query(
                "sum by (le) (bridge_x_seconds_bucket) + bridge_x_seconds + bridge_y_total{status=\"401\"} + up{job=~\"sync-service|console\"} + sum by (queue) (bridge_y_total{nope!=\"\"})",
            ),
        )],
        &seen,
    );
    assert_eq!(
        problems,
        [
            "test: no service exports bridge_x_seconds (a histogram: read its _bucket, _sum or _count series)",
            "test: no bridge_y_total{status=\"401\"} yet (seen: {\"200\"})",
            "test: no up{job=\"console\"} yet (seen: {\"sync-service\"})",
            "test: bridge_y_total has no label nope",
            "test: by/on (queue), a label none of its metrics carries",
        ]
    );
}

#[test]
fn prometheus_scrapes_every_service_where_compose_runs_it() {
    let config = yaml("deploy/prometheus/prometheus.yml");
    assert_eq!(
        config["rule_files"],
        serde_yaml::from_str::<serde_yaml::Value>("[alerts.yml]").unwrap(),
        "the alert rules beside the configuration"
    );
    let compose = yaml("docker-compose.yml");
    let binds = [
        ("config-service", config_service::BIND_VARIABLE),
        ("import-service", import_service::BIND_VARIABLE),
        ("sync-service", sync_service::BIND_VARIABLE),
        ("console", console::BIND_VARIABLE),
    ];
    let jobs = scrape_jobs();
    assert_eq!(
        jobs.iter()
            .map(|(name, ..)| name.as_str())
            .collect::<Vec<_>>(),
        binds.map(|(name, _)| name),
        "one job per service"
    );
    for ((job, hosts, port), (service, variable)) in jobs.iter().zip(binds) {
        assert_eq!(
            hosts,
            &[service],
            "{job} scrapes the compose service {service}"
        );
        let bind = compose["services"][service]["environment"][variable]
            .as_str()
            .unwrap_or_else(|| panic!("{service} sets {variable} in docker-compose.yml"));
        assert_eq!(
            bind.rsplit(':').next(),
            Some(port.to_string().as_str()),
            "{job} scrapes the port {service} listens on"
        );
    }
}

#[test]
fn dashboards_use_the_provisioned_datasource() {
    let provisioned = yaml("deploy/grafana/provisioning/datasources/prometheus.yml");
    let datasource = &provisioned["datasources"][0];
    assert_eq!(datasource["name"].as_str(), Some("Prometheus"));
    assert_eq!(datasource["type"].as_str(), Some("prometheus"));
    let uid = datasource["uid"].as_str().expect("a datasource uid");
    let text = std::fs::read_to_string(format!(
        "{ROOT}/deploy/grafana/dashboards/attendance-bridge.json"
    ))
    .unwrap();
    let dashboard: Value = serde_json::from_str(&text).unwrap();
    let mut uses = 0;
    let mut stack = vec![&dashboard];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) => {
                if let Some(source) = map.get("datasource") {
                    if source["type"] == "prometheus" {
                        assert_eq!(source["uid"], uid, "{source}");
                        uses += 1;
                    }
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    assert!(uses > 0, "the dashboard reads Prometheus");
    let provider = yaml("deploy/grafana/provisioning/dashboards/attendance-bridge.yml");
    assert_eq!(
        provider["providers"][0]["type"].as_str(),
        Some("file"),
        "dashboards come from files"
    );
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
        bridge_tests::wait_for(Duration::from_secs(60), "the console is ready", || async {
            let status = test_support::status_of(&system.client, &console.url, "/readyz").await;
            (status == 200)
                .then_some(())
                .ok_or(format!("/readyz {status}"))
        })
        .await;
        console
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sets the simulator's faults for a key.
async fn sim_faults(system: &System, key: &str, faults: Value) {
    let response = system
        .client
        .put(format!(
            "{}/__admin/keys/{key}/faults",
            system.url(Service::BayzatSim)
        ))
        .json(&faults)
        .send()
        .await
        .expect("simulator faults");
    assert!(response.status().is_success(), "faults of {key}");
}

/// A batch of punches no consumer can decode, on `company_id`'s delivery queue: it ends in the
/// dead letters.
async fn publish_poison(system: &System, company_id: i64) {
    let connection =
        Connection::connect(system.env().broker.url(), ConnectionProperties::default())
            .await
            .expect("connect to RabbitMQ");
    let channel = connection.create_channel().await.expect("a channel");
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let confirm = channel
        .basic_publish(
            system.env().broker.topology().exchange().as_str().into(),
            format!("company.{company_id}.ready").as_str().into(),
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            br#"{"not": "a batch of punches"}"#,
            BasicProperties::default()
                .with_message_id(test_support::unique_name("poison").as_str().into())
                .with_type("punches.ready.v1".into()),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(confirm.is_ack());
    let _ = connection.close(200, "published".into()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_metric_the_dashboards_and_alerts_read_is_exported_by_a_service() {
    let queries = queries();
    let system = System::start().await;
    let console = Console::start(&system).await;
    // Each job of prometheus.yml, at the address this test's process of that service has.
    let targets: Vec<(String, String)> = scrape_jobs()
        .into_iter()
        .map(|(job, ..)| {
            let base = match job.as_str() {
                "console" => console.url.clone(),
                "config-service" => system.url(Service::Config),
                "import-service" => system.url(Service::Import),
                "sync-service" => system.url(Service::Sync),
                other => panic!("no service of this system for job {other}"),
            };
            (job, base)
        })
        .collect();

    // The traffic. advline delivers; clarastars's calls all fail with 500 until its punches run
    // out of retries, waiting meanwhile (the queue delay); gulflog's key is unknown to Bayzat, so
    // its "sync now" is refused with 401; a poison message is dead-lettered; a clock is
    // registered; and a BioTime server fails to answer.
    let directory = system.directory().clone();
    sim_faults(
        &system,
        &directory.company("clarastars").api_key,
        json!({ "p_500": 1.0 }),
    )
    .await;
    system
        .sim_delete_key(&directory.company("gulflog").api_key)
        .await;
    let outcomes = fixtures::report_outcomes(&directory, "basic.csv");
    let upload = system.upload_fixture("basic.csv", "").await;
    assert_eq!(upload.status, 201, "{upload}");
    publish_poison(&system, system.company_id("advline").await).await;
    system
        .wait_until_scheduled("gulflog", "basic.csv", WAIT)
        .await;
    let now = system
        .call(
            Method::POST,
            Service::Sync,
            "/v1/companies/gulflog/sync-now",
            Role::Operator,
            None,
        )
        .await;
    assert_eq!(now.status, 202, "{now}");
    // An approved clock: its health series (bridge_clock_*).
    let clock = system
        .call(
            Method::POST,
            Service::Import,
            "/v1/clocks",
            Role::Admin,
            Some(json!({ "serial_number": "METRICS01", "companies": ["advline"] })),
        )
        .await;
    assert_eq!(clock.status, 201, "{clock}");
    // A BioTime server nothing answers at: its pulls fail (bridge_biotime_*).
    let server = system
        .call(
            Method::POST,
            Service::Import,
            "/v1/biotime-servers",
            Role::Admin,
            Some(json!({
                "name": "metrics-biotime", "url": "http://127.0.0.1:9", "username": "api",
                "password": "not-a-real-password",
                "mapping": { "by": "department", "companies": { "*": "advline" } },
            })),
        )
        .await;
    assert_eq!(server.status, 201, "{server}");

    let mut seen = Seen::default();
    let deadline = Instant::now() + WAIT;
    loop {
        for (job, base) in &targets {
            let response = system
                .client
                .get(format!("{base}/metrics"))
                .send()
                .await
                .unwrap_or_else(|e| panic!("{job} /metrics: {e}"));
            assert_eq!(response.status(), 200, "{job} serves /metrics");
            let text = response.text().await.expect("metrics text");
            seen.add_scrape(job, base.trim_start_matches("http://"), &text);
        }
        let missing = unseen(&queries, &seen);
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after {WAIT:?} of traffic, the dashboards and alerts still read what no service \
             exports:\n  {}\nexported: {:?}",
            missing.join("\n  "),
            seen.0.keys().collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The traffic was what it says: advline's punches are in Bayzat.
    system
        .assert_outcome("advline", &outcomes["advline"], WAIT)
        .await;
}
