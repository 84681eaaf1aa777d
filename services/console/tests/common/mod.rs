//! The whole system in-process for the console's tests: bayzat-sim (fast intervals),
//! config-service loaded with the fixture directory, import-service, sync-service and the console,
//! against this test's database and broker namespace; and a headless Chromium driven through
//! chromedriver.
#![allow(dead_code)]

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use auth::{Claims, JwtKeys, Role};
use bayzat_sim::{KeySpec, RunningSim, SimConfig};
use fantoccini::{Client, ClientBuilder, Locator};
use service_kit::RunningService;
use test_support::{ConfigService, TestEnv};

pub const JWT_SECRET: &str = "console-test-secret-of-at-least-32-bytes";
/// The simulator's interval per key: fast, so a whole import syncs in seconds.
pub const INTERVAL_MS: u64 = 200;
/// import-service's `CLOCK_SILENT_AFTER`.
pub const CLOCK_SILENT_AFTER: Duration = Duration::from_secs(3);

/// Fields drop in order: the services stop before the simulator, database and namespace go.
pub struct Stack {
    pub console: Option<RunningService>,
    pub sync: Option<RunningService>,
    pub import: Option<RunningService>,
    pub config: Option<ConfigService>,
    pub sim: RunningSim,
    pub keys: JwtKeys,
    pub client: reqwest::Client,
    pub console_base: String,
    pub config_base: String,
    pub import_base: String,
    /// Where import-service's terminal endpoints listen (clock-sim terminals push there).
    pub clock_base: String,
    pub storage: PathBuf,
    pub env: TestEnv,
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.storage);
    }
}

/// Which services run besides the console.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Services {
    /// config, import and sync, with the simulator.
    All,
    /// The console alone: its own sign-in and sessions.
    ConsoleOnly,
}

impl Stack {
    pub async fn start(services: Services) -> Self {
        // The browser signs in from a data: URL page, as a sign-in page opened from a file would:
        // its origin is `null`.
        let session = console::SessionSettings {
            portal_origins: vec!["null".to_owned()],
            ..console::SessionSettings::default()
        };
        Self::start_with(services, session).await
    }

    /// The whole system with config-service mailing through the SMTP server at `smtp_url` (an
    /// [`test_support::SmtpSink`]'s).
    pub async fn start_with_mail(smtp_url: &str) -> Self {
        let session = console::SessionSettings {
            portal_origins: vec!["null".to_owned()],
            ..console::SessionSettings::default()
        };
        let mail = config_service::mail::MailSettings {
            smtp: Some(
                config_service::mail::SmtpSettings::parse(
                    smtp_url,
                    "Attendance bridge <bridge@example.com>",
                )
                .unwrap(),
            ),
            console_url: "http://console.test:8080".to_owned(),
            tick: Duration::from_millis(200),
            ..config_service::mail::MailSettings::default()
        };
        Self::start_full(Services::All, session, mail).await
    }

    pub async fn start_with(services: Services, session: console::SessionSettings) -> Self {
        Self::start_full(services, session, Default::default()).await
    }

    async fn start_full(
        services: Services,
        session: console::SessionSettings,
        mail: config_service::mail::MailSettings,
    ) -> Self {
        let env = TestEnv::new().await;
        let test_keys = test_support::test_keys();
        let keys = test_keys.keyring();
        let specs: Vec<KeySpec> =
            bayzat_sim::keys_from_directory_file(test_support::fixture("directory.json"))
                .unwrap()
                .into_iter()
                .map(|spec| spec.with_interval_ms(INTERVAL_MS))
                .collect();
        let sim = bayzat_sim::spawn("127.0.0.1:0", SimConfig { keys: specs })
            .await
            .unwrap();
        let storage = std::env::temp_dir().join(test_support::unique_name("console-imports"));
        let unreachable = "http://127.0.0.1:9".to_owned();
        let (mut config, mut import, mut sync) = (None, None, None);
        let (mut config_base, mut import_base, mut sync_base) = (
            unreachable.clone(),
            unreachable.clone(),
            unreachable.clone(),
        );
        let mut config_internal_base = unreachable.clone();
        let mut clock_base = unreachable.clone();
        if services != Services::ConsoleOnly {
            let started = ConfigService::start_with(&env, &sim.attendance_url(), |settings| {
                settings.mail = mail;
            })
            .await;
            config_internal_base = started.internal_base.clone();
            config_base = started.base.clone();
            config = Some(started);
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            clock_base = format!("http://{}", listener.local_addr().unwrap());
            let settings = import_service::Settings {
                common: env.common_settings(),
                jwt: test_keys.for_signer(auth::Signer::ImportService),
                config_service_url: config_base.clone(),
                storage_dir: storage.clone(),
                max_upload_bytes: 64 * 1024 * 1024,
                file_retention_days: 90,
                row_retention_days: 400,
                biotime: Default::default(),
                // Short, so a test sees a clock it takes off the network fall silent.
                clock_silent_after: CLOCK_SILENT_AFTER,
                clock_rate_limit_per_second: std::num::NonZeroU32::new(500).unwrap(),
            };
            let running = import_service::start_with_clocks(settings, Some(listener))
                .await
                .unwrap();
            import_base = running.base_url();
            import = Some(running);
        }
        if services == Services::All {
            let mut settings = sync_service::Settings::new(
                env.common_settings(),
                test_keys.for_signer(auth::Signer::SyncService),
                config_base.clone(),
            );
            settings.config_service_internal_url = config_internal_base.clone();
            settings.bayzat = sync_service::BayzatSettings {
                rate_limit_delay: Duration::from_millis(INTERVAL_MS),
                rate_limit_margin: Duration::from_millis(50),
                retry_schedule: "1s,1s,1s,1s,1s".parse().unwrap(),
                http_timeout: Duration::from_secs(2),
                ..sync_service::BayzatSettings::default()
            };
            settings.lease_ttl = Duration::from_secs(3);
            settings.allowed_api_urls = "http://127.0.0.1:*".parse().unwrap();
            let running = sync_service::start(settings).await.unwrap();
            sync_base = running.base_url();
            sync = Some(running);
        }
        let console = console::start(console::Settings {
            database_url: env.db.url().to_owned(),
            bind: "127.0.0.1:0".parse().unwrap(),
            config_service_url: config_base.clone(),
            import_service_url: import_base.clone(),
            sync_service_url: sync_base,
            jwt: test_keys.for_signer(auth::Signer::Console),
            session,
            timezone: chrono_tz::Asia::Dubai,
            max_upload_bytes: 64 * 1024 * 1024,
            backend_timeout: Duration::from_secs(120),
        })
        .await
        .unwrap();
        Self {
            console_base: console.base_url(),
            console: Some(console),
            sync,
            import,
            config,
            sim,
            keys,
            client: test_support::client_builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            config_base,
            import_base,
            clock_base,
            storage,
            env,
        }
    }

    /// The IT portal's sign-in token: audience `console`, one minute.
    pub fn login_token(&self, sub: &str, role: Role, companies: Option<&[&str]>) -> String {
        let mut claims =
            Claims::new(sub, role, chrono::Duration::minutes(1)).with_audience("console");
        if let Some(companies) = companies {
            claims = claims.with_companies(companies.iter().copied());
        }
        self.keys.mint(&claims)
    }

    /// A token for the services' APIs, for test setup.
    pub fn api_token(&self, role: Role) -> String {
        self.keys.mint(&Claims::new(
            format!("{}-setup", role.as_str()),
            role,
            chrono::Duration::minutes(10),
        ))
    }

    /// Signs in over HTTP as the portal would; returns the session cookie's `name=value`.
    pub async fn sign_in_http(&self, token: &str) -> reqwest::Response {
        self.client
            .post(format!("{}/login", self.console_base))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap()
    }
}

/// The `name=value` of the session cookie a response sets.
pub fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("console_session="))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

/// A headless Chromium behind its own chromedriver; both stop when this is dropped.
pub struct Browser {
    pub client: Client,
    driver: Child,
    profile: PathBuf,
    pub screenshots: PathBuf,
}

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether something accepts connections on the local `port`.
async fn listens(port: u16) -> bool {
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_ok()
}

impl Browser {
    pub async fn start() -> Self {
        assert!(
            std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
            "{CHROMIUM} and {CHROMEDRIVER} are needed: run `make deps` (scripts/deps.sh)"
        );
        let profile = std::env::temp_dir().join(test_support::unique_name("chromium-profile"));
        std::fs::create_dir_all(&profile).unwrap();
        // A free port can be taken between finding and using it; try a few.
        let mut attempt = 0;
        let (driver, port) = loop {
            attempt += 1;
            let port = free_port();
            // Its own process group, so the browser it starts goes with it even when a test
            // panics before closing its session.
            let mut driver = Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .expect("start chromedriver");
            // Listening, or gone (its port taken by another process meanwhile).
            let settled = test_support::eventually(Duration::from_secs(20), || {
                let exited = driver.try_wait().ok().flatten().is_some();
                async move { exited || listens(port).await }
            })
            .await;
            if settled && listens(port).await {
                break (driver, port);
            }
            let _ = driver.kill();
            let _ = driver.wait();
            assert!(attempt < 4, "chromedriver did not start");
        };
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a WebDriver session with headless Chromium");
        let screenshots = std::env::var_os("CONSOLE_SCREENSHOTS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/console-screenshots")
            });
        std::fs::create_dir_all(&screenshots).unwrap();
        println!("screenshots: {}", screenshots.display());
        Self {
            client,
            driver,
            profile,
            screenshots,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// Signs in the way the IT portal does: a form on another origin posts the token.
    pub async fn sign_in(&self, console_base: &str, token: &str) {
        let page = format!(
            "<form method=post action='{console_base}/login'><input name=token value='{token}'></form>\
             <script>document.forms[0].submit()</script>"
        );
        let url = format!("data:text/html,{}", percent(&page));
        self.goto(&url).await;
        self.wait_for_css("header.top .who", Duration::from_secs(30))
            .await;
    }

    /// Waits until an element matches `css`.
    pub async fn wait_for_css(
        &self,
        css: &str,
        timeout: Duration,
    ) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(timeout)
            .every(Duration::from_millis(100))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(error) => {
                let source = self.client.source().await.unwrap_or_default();
                panic!("no {css} within {timeout:?}: {error}\n{source}");
            }
        }
    }

    /// Waits until `check` (over the page source) holds.
    pub async fn wait_until(&self, what: &str, timeout: Duration, check: impl Fn(&str) -> bool) {
        let check = &check;
        test_support::wait_for(timeout, what, || async move {
            let source = self.client.source().await.unwrap_or_default();
            if check(&source) {
                Ok(())
            } else {
                Err(format!("the page is\n{source}"))
            }
        })
        .await;
    }

    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.wait_for_css(css, Duration::from_secs(30)).await
    }

    pub async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .map(|v| v.len())
            .unwrap_or(0)
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap();
    }

    /// Clicks and waits for the next page to have loaded (its URL or content changed).
    pub async fn click_and_wait(&self, css: &str) {
        self.client
            .execute("window.__stale = true;", vec![])
            .await
            .unwrap();
        self.click(css).await;
        let fresh = test_support::eventually(Duration::from_secs(60), || async {
            self.client
                .execute(
                    "return window.__stale !== true && document.readyState === 'complete';",
                    vec![],
                )
                .await
                .ok()
                .and_then(|v| v.as_bool())
                .unwrap_or(false)
        })
        .await;
        assert!(fresh, "no new page after clicking {css}");
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    /// A screenshot with the element `css` scrolled to the top of the window.
    pub async fn screenshot_at(&self, name: &str, css: &str) {
        self.client
            .execute(
                "document.querySelector(arguments[0]).scrollIntoView();",
                vec![serde_json::json!(css)],
            )
            .await
            .unwrap();
        self.screenshot(name).await;
    }

    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(self.screenshots.join(format!("{name}.png")), png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
