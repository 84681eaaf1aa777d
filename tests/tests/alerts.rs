//! deploy/prometheus/alerts.yml stays in step with its tests: it is valid YAML of Prometheus rule
//! groups, and alerts.test.yml (run by `promtool test rules` in `make ops`) has, for every alert,
//! a case where it fires and one where it stays quiet. tests/tests/metrics.rs checks that every
//! metric the rules read is one a running service exports.
//!
//! deploy/alertmanager/alertmanager.yml gets the alerts to people: the real `alertmanager` runs
//! with it, its mail relay and the IT portal's endpoint replaced by local stand-ins, and each
//! stand-in must receive what Prometheus would send (`make deps` installs alertmanager).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value as Json};
use test_support::wait_for;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn yaml(name: &str) -> serde_yaml::Value {
    let text = std::fs::read_to_string(format!("{ROOT}/deploy/prometheus/{name}")).unwrap();
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{name} is YAML: {e}"))
}

#[test]
fn every_alert_has_a_unit_test_where_it_fires_and_one_where_it_stays_quiet() {
    let rules = yaml("alerts.yml");
    let mut alerts = Vec::new();
    for group in rules["groups"].as_sequence().expect("rule groups") {
        for rule in group["rules"].as_sequence().expect("rules") {
            let name = rule["alert"]
                .as_str()
                .unwrap_or_else(|| panic!("every rule names its alert: {rule:?}"));
            assert!(rule["expr"].is_string(), "{name} has an expr");
            alerts.push(name.to_owned());
        }
    }
    assert!(!alerts.is_empty());

    let tests = yaml("alerts.test.yml");
    assert_eq!(
        tests["rule_files"],
        serde_yaml::from_str::<serde_yaml::Value>("[alerts.yml]").unwrap(),
        "the tests load the rules beside them"
    );
    // Per alert: (evaluations where it fires, evaluations where it stays quiet).
    let mut cases: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for test in tests["tests"].as_sequence().expect("tests") {
        for case in test["alert_rule_test"].as_sequence().into_iter().flatten() {
            let name = case["alertname"].as_str().expect("alertname").to_owned();
            let expected = case["exp_alerts"].as_sequence().map_or(0, Vec::len);
            let counts = cases.entry(name).or_default();
            if expected > 0 {
                counts.0 += 1;
            } else {
                counts.1 += 1;
            }
        }
    }
    for alert in &alerts {
        let (fires, quiet) = cases.get(alert).copied().unwrap_or_default();
        assert!(
            fires > 0 && quiet > 0,
            "alerts.test.yml tests {alert} firing {fires} time(s) and quiet {quiet} time(s)"
        );
    }
    for tested in cases.keys() {
        assert!(
            alerts.contains(tested),
            "alerts.test.yml tests {tested}, which alerts.yml does not define"
        );
    }
}

#[test]
fn dead_letters_waiting_for_a_replay_raise_an_alert() {
    let rules = yaml("alerts.yml");
    let alert = rules["groups"]
        .as_sequence()
        .into_iter()
        .flatten()
        .flat_map(|group| group["rules"].as_sequence().into_iter().flatten())
        .find(|rule| rule["alert"] == "DeadLetters")
        .expect("a DeadLetters alert");
    let expr = alert["expr"].as_str().unwrap();
    assert!(
        expr.contains("bridge_dead_letters") && expr.contains("> 0"),
        "{expr}"
    );
}

// Alertmanager as deployed: deploy/alertmanager/alertmanager.yml, run by the real `alertmanager`
// binary, with its mail relay and the IT portal's endpoint replaced by local stand-ins.

const WAIT: Duration = Duration::from_secs(30);
/// The password the test puts in the file `auth_password_file` names.
const SMTP_PASSWORD: &str = "relay-password-from-file";

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `alertmanager` on the PATH (scripts/deps.sh installs it from Debian's package).
fn alertmanager_binary() -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join("alertmanager"))
        .find(|candidate| candidate.is_file())
        .expect("alertmanager is not installed: `make deps` installs it (with amtool)")
}

/// The IT portal's alert endpoint: keeps the JSON body of every POST and answers 200.
struct Portal {
    listener: test_support::RecordingListener,
}

impl Portal {
    async fn start() -> Self {
        Self {
            listener: test_support::RecordingListener::answering("200 OK", "/api/alerts").await,
        }
    }

    fn url(&self) -> &str {
        &self.listener.url
    }

    /// Every alert posted so far, with the status and receiver of its notification.
    fn alerts(&self) -> Vec<Json> {
        self.listener
            .bodies()
            .iter()
            .filter_map(|body| serde_json::from_slice::<Json>(body).ok())
            .flat_map(|body| {
                body["alerts"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|mut alert| {
                        alert["receiver"] = body["receiver"].clone();
                        alert
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn posted(&self, alertname: &str, company: &str) -> bool {
        self.alerts().iter().any(|alert| {
            alert["labels"]["alertname"] == alertname && alert["labels"]["company"] == company
        })
    }
}

/// One mail as the relay took it.
#[derive(Clone, Debug)]
struct Mail {
    /// AUTH PLAIN's user name and password.
    login: Option<(String, String)>,
    from: String,
    to: Vec<String>,
    data: String,
}

/// The IT team's SMTP relay: ESMTP with AUTH PLAIN and no STARTTLS; keeps every mail.
struct Relay {
    address: String,
    mails: Arc<Mutex<Vec<Mail>>>,
    acceptor: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start() -> Self {
        let socket = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = socket.local_addr().unwrap().to_string();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let keep = mails.clone();
        let acceptor = tokio::spawn(async move {
            while let Ok((stream, _)) = socket.accept().await {
                let keep = keep.clone();
                tokio::spawn(async move {
                    let _ = Self::session(stream, keep).await;
                });
            }
        });
        Self {
            address,
            mails,
            acceptor,
        }
    }

    async fn session(
        stream: tokio::net::TcpStream,
        mails: Arc<Mutex<Vec<Mail>>>,
    ) -> std::io::Result<()> {
        let mut stream = BufReader::new(stream);
        let mut mail = Mail {
            login: None,
            from: String::new(),
            to: Vec::new(),
            data: String::new(),
        };
        stream.get_mut().write_all(b"220 relay ESMTP\r\n").await?;
        loop {
            let mut line = String::new();
            if stream.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let line = line.trim_end();
            let verb = line
                .split(' ')
                .next()
                .unwrap_or_default()
                .to_ascii_uppercase();
            let reply: &[u8] = match verb.as_str() {
                "EHLO" => b"250-relay\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n",
                "HELO" | "RSET" | "NOOP" => b"250 ok\r\n",
                "AUTH" => {
                    let encoded = line.split(' ').nth(2).unwrap_or_default();
                    let decoded = String::from_utf8(base64_decode(encoded)).unwrap_or_default();
                    let mut parts = decoded.split('\0').skip(1);
                    mail.login = Some((
                        parts.next().unwrap_or_default().to_owned(),
                        parts.next().unwrap_or_default().to_owned(),
                    ));
                    b"235 2.7.0 authenticated\r\n"
                }
                "MAIL" => {
                    mail.from = line.to_owned();
                    b"250 ok\r\n"
                }
                "RCPT" => {
                    mail.to.push(line.to_owned());
                    b"250 ok\r\n"
                }
                "DATA" => {
                    stream.get_mut().write_all(b"354 go on\r\n").await?;
                    loop {
                        let mut data = String::new();
                        if stream.read_line(&mut data).await? == 0 {
                            return Ok(());
                        }
                        if data.trim_end() == "." {
                            break;
                        }
                        mail.data.push_str(&data);
                    }
                    lock(&mails).push(mail.clone());
                    b"250 queued\r\n"
                }
                "QUIT" => {
                    stream.get_mut().write_all(b"221 bye\r\n").await?;
                    return Ok(());
                }
                _ => b"502 not here\r\n",
            };
            stream.get_mut().write_all(reply).await?;
        }
    }

    fn mails(&self) -> Vec<Mail> {
        lock(&self.mails).clone()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let (mut bits, mut count, mut out) = (0u32, 0, Vec::new());
    for sixbits in text.bytes().filter_map(value) {
        bits = (bits << 6) | u32::from(sixbits);
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}

/// The real `alertmanager` on a free loopback port, killed (and its folder removed) when dropped.
struct Alertmanager {
    url: String,
    dir: PathBuf,
    child: Child,
}

impl Alertmanager {
    async fn start(config: &serde_yaml::Value, dir: PathBuf) -> Self {
        let binary = alertmanager_binary();
        let config_file = dir.join("alertmanager.yml");
        std::fs::write(&config_file, serde_yaml::to_string(config).unwrap()).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(dir.join("alertmanager.log")).unwrap();
        let child = Command::new(&binary)
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
        let alertmanager = Self {
            url: format!("http://127.0.0.1:{port}"),
            dir,
            child,
        };
        let client = reqwest::Client::new();
        let ready = format!("{}/-/ready", alertmanager.url);
        wait_for(WAIT, "alertmanager answers /-/ready", || async {
            match client.get(&ready).send().await {
                Ok(response) if response.status().is_success() => Ok(()),
                Ok(response) => Err(format!("{}", response.status())),
                Err(error) => Err(format!("{error}; log: {}", alertmanager.log())),
            }
        })
        .await;
        alertmanager
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("alertmanager.log")).unwrap_or_default()
    }

    async fn post(&self, alerts: Json) {
        let response = reqwest::Client::new()
            .post(format!("{}/api/v2/alerts", self.url))
            .json(&alerts)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
    }

    /// Waits until the alert named `alertname` with the label `label` is held back by another.
    async fn assert_inhibited(&self, alertname: &str, (label, value): (&str, &str)) {
        let what = format!("{alertname} {{{label}=\"{value}\"}} is inhibited");
        wait_for(WAIT, &what, || async {
            let alerts = self.alerts().await;
            let alert = alerts.iter().find(|alert| {
                alert["labels"]["alertname"] == alertname && alert["labels"][label] == value
            });
            match alert {
                Some(alert)
                    if alert["status"]["state"] == "suppressed"
                        && alert["status"]["inhibitedBy"]
                            .as_array()
                            .is_some_and(|by| !by.is_empty()) =>
                {
                    Ok(())
                }
                other => Err(format!("{other:?}")),
            }
        })
        .await;
    }

    /// GET /api/v2/alerts: every alert it holds, with its state (active, suppressed).
    async fn alerts(&self) -> Vec<Json> {
        reqwest::Client::new()
            .get(format!("{}/api/v2/alerts", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("alertmanager's log:\n{}", self.log());
        }
    }
}

/// Every receiver config of `kind` (`email_configs`, `webhook_configs`) in alertmanager.yml.
fn receiver_configs<'a>(
    config: &'a mut serde_yaml::Value,
    kind: &str,
) -> Vec<&'a mut serde_yaml::Value> {
    config["receivers"]
        .as_sequence_mut()
        .expect("receivers")
        .iter_mut()
        .filter_map(|receiver| receiver.get_mut(kind)?.as_sequence_mut())
        .flatten()
        .collect()
}

/// An alert of alerts.yml as Prometheus sends it: its name, its labels, the given ones.
fn firing(alertname: &str, labels: &[(&str, &str)]) -> Json {
    let rules = yaml("alerts.yml");
    let rule = rules["groups"]
        .as_sequence()
        .into_iter()
        .flatten()
        .flat_map(|group| group["rules"].as_sequence().into_iter().flatten())
        .find(|rule| rule["alert"] == alertname)
        .unwrap_or_else(|| panic!("alerts.yml defines {alertname}"));
    let mut all: serde_json::Map<String, Json> = serde_json::to_value(&rule["labels"])
        .ok()
        .and_then(|labels| labels.as_object().cloned())
        .unwrap_or_default();
    all.insert("alertname".into(), json!(alertname));
    for (name, value) in labels {
        all.insert((*name).into(), json!(value));
    }
    json!({"labels": all, "annotations": {"summary": format!("{alertname} (test)")}})
}

#[tokio::test]
async fn alertmanager_mails_the_it_team_and_posts_to_the_it_portal() {
    let deployed = Path::new(ROOT).join("deploy/alertmanager/alertmanager.yml");
    let mut config: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&deployed).unwrap()).unwrap();
    let dir = std::env::temp_dir().join(test_support::unique_name("alertmanager"));
    std::fs::create_dir_all(&dir).unwrap();
    // As the documentation says to write it (`printf '%s'`): Alertmanager 0.25 sends the file's
    // bytes as they are, a newline included.
    let password_file = dir.join("smtp-password");
    std::fs::write(&password_file, SMTP_PASSWORD).unwrap();

    let portal = Portal::start().await;
    let relay = Relay::start().await;
    // The deployed receivers, pointed at the stand-ins: the relay without STARTTLS, and the
    // password in this test's file. Groups go out at once rather than after 30 s.
    config["route"]["group_wait"] = "100ms".into();
    let mut mailbox = None;
    for email in receiver_configs(&mut config, "email_configs") {
        assert!(
            email["auth_password_file"].is_string(),
            "the SMTP password comes from a file"
        );
        mailbox = Some((
            email["to"].as_str().unwrap().to_owned(),
            email["from"].as_str().unwrap().to_owned(),
            email["auth_username"].as_str().unwrap().to_owned(),
        ));
        email["smarthost"] = relay.address.clone().into();
        email["require_tls"] = false.into();
        email["auth_password_file"] = password_file.display().to_string().into();
    }
    let (to, from, username) = mailbox.expect("alertmanager.yml mails the IT team");
    let webhooks = receiver_configs(&mut config, "webhook_configs");
    assert!(
        !webhooks.is_empty(),
        "alertmanager.yml posts to the IT portal"
    );
    for webhook in webhooks {
        webhook["url"] = portal.url().into();
    }
    let alertmanager = Alertmanager::start(&config, dir).await;

    // A refused key: the portal gets it, and the IT team a mail through the relay, logged in.
    alertmanager
        .post(json!([
            firing(
                "BayzatKeyRefused",
                &[("company", "advline"), ("service", "sync-service")]
            ),
            firing("BridgeServiceNotReady", &[("service", "import-service")]),
        ]))
        .await;
    wait_for(WAIT, "the IT portal receives both pages", || async {
        if portal.posted("BayzatKeyRefused", "advline")
            && portal.alerts().iter().any(|alert| {
                alert["labels"]["alertname"] == "BridgeServiceNotReady"
                    && alert["receiver"] == "it-portal"
            })
        {
            Ok(())
        } else {
            Err(format!("posted: {:?}", portal.alerts()))
        }
    })
    .await;
    let mail = wait_for(WAIT, "the IT team is mailed BayzatKeyRefused", || async {
        relay
            .mails()
            .into_iter()
            .find(|mail| mail.data.contains("BayzatKeyRefused"))
            .ok_or_else(|| format!("mails: {:?}", relay.mails()))
    })
    .await;
    assert_eq!(
        mail.login,
        Some((username, SMTP_PASSWORD.to_owned())),
        "the relay login: auth_username and the password file's content"
    );
    assert!(mail.to.iter().any(|rcpt| rcpt.contains(&to)), "{mail:?}");
    assert!(mail.from.contains(&from), "{mail:?}");
    assert!(
        mail.data.contains("advline"),
        "the mail names the company: {mail:?}"
    );

    // While advline's key is refused, its delayed queue is that refusal and is held back;
    // another company's delay still goes out. So is the outbox backlog of a service that cannot
    // reach RabbitMQ.
    alertmanager
        .post(json!([
            firing("DeliveryQueueDelayed", &[("company", "advline")]),
            firing("DeliveryQueueDelayed", &[("company", "bluefin")]),
            firing("OutboxBacklog", &[("service", "import-service")]),
        ]))
        .await;
    wait_for(WAIT, "the IT portal receives bluefin's delay", || async {
        if portal.posted("DeliveryQueueDelayed", "bluefin") {
            Ok(())
        } else {
            Err(format!("posted: {:?}", portal.alerts()))
        }
    })
    .await;
    alertmanager
        .assert_inhibited("DeliveryQueueDelayed", ("company", "advline"))
        .await;
    alertmanager
        .assert_inhibited("OutboxBacklog", ("service", "import-service"))
        .await;
    assert!(
        !portal
            .alerts()
            .iter()
            .any(|alert| alert["labels"]["alertname"] == "OutboxBacklog"),
        "an inhibited backlog is not posted: {:?}",
        portal.alerts()
    );
    assert!(
        !portal.posted("DeliveryQueueDelayed", "advline"),
        "an inhibited alert is not posted: {:?}",
        portal.alerts()
    );
    wait_for(WAIT, "the IT team is mailed bluefin's delay", || async {
        if relay
            .mails()
            .iter()
            .any(|mail| mail.data.contains("DeliveryQueueDelayed") && mail.data.contains("bluefin"))
        {
            Ok(())
        } else {
            Err(format!("{} mail(s)", relay.mails().len()))
        }
    })
    .await;
    assert!(
        !relay
            .mails()
            .iter()
            .any(|mail| mail.data.contains("DeliveryQueueDelayed") && mail.data.contains("advline")),
        "an inhibited alert is not mailed"
    );
}
