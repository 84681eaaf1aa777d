//! No shared master secret: config-service run as a process with the keys a deployment gives it.
//! Each credential is good for what its holder may do and nothing more: only sync-service's own
//! credential reads a decrypted Bayzat key, the console's key cannot make a `service` token, a key
//! nobody trusts opens nothing, portal keys rotate without downtime, the internal endpoints are
//! not served on the public bind, and a shared HS256 secret works only in development mode.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use auth::{Claims, JwtKeys, Role, Signer, SigningKey, TrustedKey};
use bridge_tests::JWT_SECRET;
use serde_json::{json, Value};
use test_support::{test_keys, TestEnv};

const KEY: &str = "bz_credentials_test_key_5e1f";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// config-service as a process against `env`, with `vars` (its keys) on top of the basics.
struct Config {
    child: Child,
    public: String,
    internal: String,
    client: reqwest::Client,
}

impl Drop for Config {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn command(env: &TestEnv, vars: &[(String, String)]) -> (Command, String, String) {
    let (port, internal_port) = (free_port(), free_port());
    let mut command = Command::new(bridge_tests::binary("config-service"));
    command
        .env_clear()
        .env("DATABASE_URL", env.db.url())
        .env("AMQP_URL", env.broker.url())
        .env("AMQP_NAMESPACE", env.broker.namespace())
        .env("CONFIG_SERVICE_BIND", format!("127.0.0.1:{port}"))
        .env(
            "CONFIG_SERVICE_INTERNAL_BIND",
            format!("127.0.0.1:{internal_port}"),
        )
        .env(
            "BRIDGE_MASTER_KEYS",
            format!("k1:{}", crypto::generate_master_key()),
        )
        .env("BAYZAT_DEFAULT_API_URL", "http://127.0.0.1:9/attendance")
        .env("BAYZAT_ALLOWED_API_URLS", "http://127.0.0.1:*")
        .env("RUST_LOG", "warn")
        .envs(vars.iter().cloned())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    (
        command,
        format!("http://127.0.0.1:{port}"),
        format!("http://127.0.0.1:{internal_port}"),
    )
}

impl Config {
    async fn start(env: &TestEnv, vars: &[(String, String)]) -> Self {
        let (mut command, public, internal) = command(env, vars);
        let mut config = Self {
            child: command.spawn().expect("start config-service"),
            public,
            internal,
            client: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while test_support::status_of(&config.client, &config.public, "/readyz").await != 200 {
            if let Some(status) = config.child.try_wait().unwrap() {
                let mut stderr = String::new();
                if let Some(mut pipe) = config.child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
                }
                panic!("config-service exited ({status}): {stderr}");
            }
            assert!(Instant::now() < deadline, "config-service never ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        config
    }

    async fn call(&self, base: &str, method: reqwest::Method, path: &str, token: &str) -> u16 {
        self.send(base, method, path, token, None).await.0
    }

    async fn send(
        &self,
        base: &str,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, format!("{base}{path}"))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("config-service answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn companies(&self, token: &str) -> u16 {
        self.call(&self.public, reqwest::Method::GET, "/v1/companies", token)
            .await
    }
}

/// The exit of config-service started with `vars`, and what it wrote to stderr.
fn refused_start(env: &TestEnv, vars: &[(String, String)]) -> (Option<i32>, String) {
    let (mut command, _, _) = command(env, vars);
    let output = command.output().expect("run config-service");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn pair(name: &str, value: impl Into<String>) -> (String, String) {
    (name.to_owned(), value.into())
}

fn claims(sub: &str, role: Role) -> Claims {
    Claims::new(sub, role, chrono::Duration::minutes(10))
}

fn trusted_list(keys: &[TrustedKey]) -> String {
    keys.iter()
        .map(TrustedKey::to_setting)
        .collect::<Vec<_>>()
        .join(",")
}

#[tokio::test(flavor = "multi_thread")]
async fn only_sync_services_own_credential_reads_a_decrypted_key_and_only_on_the_internal_bind() {
    let env = TestEnv::new().await;
    let keys = test_keys();
    let config = Config::start(&env, &keys.env(None)).await;
    let admin = keys.portal.sign(&claims("jane@corp.example", Role::Admin));
    let (status, body) = config
        .send(
            &config.public,
            reqwest::Method::POST,
            "/v1/companies",
            &admin,
            Some(json!({ "slug": "advline", "name_en": "Advline LLC" })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = config
        .send(
            &config.public,
            reqwest::Method::PUT,
            "/v1/companies/advline/bayzat-config",
            &admin,
            Some(json!({ "api_key": KEY, "test_connection": false })),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let path = "/internal/v1/companies/advline/bayzat-key";
    let sync = keys.sync.sign(&claims("sync-service", Role::Service));
    let (status, body) = config
        .send(&config.internal, reqwest::Method::GET, path, &sync, None)
        .await;
    assert_eq!(
        (status, body["api_key"].as_str()),
        (200, Some(KEY)),
        "{body}"
    );

    let stranger = SigningKey::generate("test-portal-1", Signer::Portal);
    let unknown_kid = SigningKey::generate("nobody-1", Signer::SyncService);
    let refused = [
        (
            "import-service's own credential",
            keys.import.sign(&claims("import-service", Role::Service)),
            403,
        ),
        (
            "the console's credential for an admin",
            keys.console.sign(&claims("jane@corp.example", Role::Admin)),
            403,
        ),
        (
            "the console's key claiming role service",
            keys.console.sign(&claims("sync-service", Role::Service)),
            401,
        ),
        (
            "the portal's key claiming role service",
            keys.portal.sign(&claims("sync-service", Role::Service)),
            401,
        ),
        (
            "import-service's key naming sync-service",
            keys.import.sign(&claims("sync-service", Role::Service)),
            401,
        ),
        (
            "sync-service's key naming another service",
            keys.sync.sign(&claims("import-service", Role::Service)),
            401,
        ),
        (
            "a key nobody trusts, under a trusted kid",
            stranger.sign(&claims("jane@corp.example", Role::Admin)),
            401,
        ),
        (
            "a key nobody trusts, under an unknown kid",
            unknown_kid.sign(&claims("sync-service", Role::Service)),
            401,
        ),
        (
            "the old shared secret",
            JwtKeys::new(JWT_SECRET.as_bytes()).mint(&claims("sync-service", Role::Service)),
            401,
        ),
    ];
    for (who, token, expected) in &refused {
        let status = config
            .call(&config.internal, reqwest::Method::GET, path, token)
            .await;
        assert_eq!(status, *expected, "{who}");
    }

    // The public bind does not serve the internal endpoint, whoever asks; the internal bind
    // serves nothing else.
    let status = config
        .call(&config.public, reqwest::Method::GET, path, &sync)
        .await;
    assert_eq!(status, 404, "the key endpoint on the public bind");
    let status = config
        .call(
            &config.internal,
            reqwest::Method::GET,
            "/v1/companies",
            &admin,
        )
        .await;
    assert_eq!(status, 404, "the public API on the internal bind");
    assert_eq!(config.companies(&admin).await, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_portal_keys_work_at_once_and_a_removed_one_is_refused() {
    let env = TestEnv::new().await;
    let keys = test_keys();
    let next = SigningKey::generate("test-portal-2", Signer::Portal);
    let old_token = keys.portal.sign(&claims("jane@corp.example", Role::Viewer));
    let new_token = next.sign(&claims("jane@corp.example", Role::Viewer));

    let mut both = keys.trusted();
    both.push(next.trusted());
    let config = Config::start(&env, &[pair("BRIDGE_TRUSTED_KEYS", trusted_list(&both))]).await;
    assert_eq!(config.companies(&old_token).await, 200, "the current key");
    assert_eq!(config.companies(&new_token).await, 200, "the next key");
    drop(config);

    let without_old: Vec<TrustedKey> = both
        .into_iter()
        .filter(|key| key.kid() != keys.portal.kid())
        .collect();
    let config = Config::start(
        &env,
        &[pair("BRIDGE_TRUSTED_KEYS", trusted_list(&without_old))],
    )
    .await;
    assert_eq!(config.companies(&new_token).await, 200, "the next key");
    assert_eq!(config.companies(&old_token).await, 401, "the removed key");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shared_hs256_secret_works_only_in_development_mode() {
    let env = TestEnv::new().await;
    let keys = test_keys();
    let hs256 = JwtKeys::new(JWT_SECRET.as_bytes()).mint(&claims("dev", Role::Admin));

    let config = Config::start(&env, &keys.env(None)).await;
    assert_eq!(config.companies(&hs256).await, 401, "development mode off");
    drop(config);

    let dev = [
        pair("BRIDGE_JWT_DEV_MODE", "on"),
        pair("BRIDGE_JWT_DEV_SECRET", JWT_SECRET),
    ];
    let config = Config::start(&env, &dev).await;
    assert_eq!(config.companies(&hs256).await, 200, "development mode on");
    drop(config);

    // A secret without development mode, or the old shared-secret variable, stops the service at
    // start with one line naming the variable, never its value.
    for (vars, variable) in [
        (
            vec![pair("BRIDGE_JWT_DEV_SECRET", JWT_SECRET)],
            "BRIDGE_JWT_DEV_SECRET",
        ),
        (
            vec![pair("BRIDGE_JWT_SECRET", JWT_SECRET)],
            "BRIDGE_JWT_SECRET",
        ),
        (Vec::new(), "BRIDGE_TRUSTED_KEYS"),
    ] {
        let mut vars = vars;
        if variable != "BRIDGE_TRUSTED_KEYS" {
            vars.extend(keys.env(None));
        }
        let (code, stderr) = refused_start(&env, &vars);
        assert_eq!(code, Some(2), "{variable}: {stderr}");
        assert!(stderr.contains(variable), "{variable}: {stderr}");
        assert!(!stderr.contains(JWT_SECRET), "{stderr}");
    }
}
