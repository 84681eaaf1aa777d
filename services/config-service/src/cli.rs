//! config-service's operator commands besides serving: minting a token, re-encrypting stored keys
//! under the newest master key, and loading a directory file through the REST API.

use std::time::Duration;

use auth::{Claims, JwtKeys, Role, Signer, SigningKey};
use serde::Deserialize;
use serde_json::{json, Value};
use settings::{Env, SettingsError};

use crate::store::{self, bayzat_configs};

/// A token for `sub` with `role`, limited to `companies` when given, signed as the IT portal with
/// `BRIDGE_PORTAL_SIGNING_KEY` (or, in development mode, the development secret). The portal's
/// keys never sign `service` tokens: the services refuse them.
pub fn mint_token(
    env: &Env,
    sub: &str,
    role: Role,
    companies: Option<Vec<String>>,
    ttl: Duration,
) -> Result<String, SettingsError> {
    mint_token_for(env, sub, role, companies, ttl, None)
}

/// Like [`mint_token`], for one consumer when `audience` is given: the console's sign-in tokens
/// carry `console`, which the services' APIs refuse.
pub fn mint_token_for(
    env: &Env,
    sub: &str,
    role: Role,
    companies: Option<Vec<String>>,
    ttl: Duration,
    audience: Option<&str>,
) -> Result<String, SettingsError> {
    let keys = JwtKeys::portal_from_env(env)?;
    let mut claims = Claims::new(
        sub,
        role,
        chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(1)),
    );
    if let Some(companies) = companies {
        claims = claims.with_companies(companies);
    }
    if let Some(audience) = audience {
        claims = claims.with_audience(audience);
    }
    Ok(keys.mint(&claims))
}

/// A key id the rules for signing keys refuse, and why.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidKeyId(&'static str);

/// A fresh Ed25519 key for `signer` under `kid`: the private key as `BRIDGE_SIGNING_KEY` (or
/// `BRIDGE_PORTAL_SIGNING_KEY`) takes it, and the item to add to `BRIDGE_TRUSTED_KEYS`.
pub fn generate_key(kid: &str, signer: Signer) -> Result<(String, String), InvalidKeyId> {
    let key = SigningKey::generate(kid, signer);
    // Parsing it back applies the kid rules.
    SigningKey::parse(&key.to_setting(), signer).map_err(InvalidKeyId)?;
    Ok((key.to_setting(), key.trusted().to_setting()))
}

/// Why re-encrypting stored keys stopped, or why one of them was left as it is.
#[derive(Debug, thiserror::Error)]
pub enum ReencryptError {
    #[error("database: {0}")]
    Connect(#[from] diesel::ConnectionError),
    #[error("database: {0}")]
    Storage(#[from] diesel::result::Error),
    /// A stored key the configured master keys cannot open (its master key is gone).
    #[error("company {company_id}: {error}")]
    Key {
        company_id: i64,
        error: crypto::CryptoError,
    },
    /// A webhook endpoint's signing secret the configured master keys cannot open.
    #[error("webhook endpoint {endpoint_id}: {error}")]
    WebhookSecret {
        endpoint_id: i64,
        error: crypto::CryptoError,
    },
}

/// What `reencrypt` (or the move of old-format values at start) did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reencrypted {
    /// Stored keys looked at.
    pub total: usize,
    /// Moved to the newest master key (and the current format).
    pub moved: usize,
    /// Left alone because the key was changed while the run was under way: the new key is already
    /// under the newest master key, and writing the old one back would undo the change.
    pub changed_meanwhile: usize,
    /// Webhook signing secrets moved to the newest master key.
    pub webhook_secrets_moved: usize,
}

/// Re-encrypts every stored Bayzat key that is not under the newest master key in the current
/// format (bound to its company), each in its own statement, and records one audit entry. Safe to
/// run again: keys already moved are skipped. Each write is a compare-and-swap on the ciphertext
/// that was read, so a key changed through the API meanwhile is never overwritten.
pub async fn reencrypt(
    database_url: &str,
    master_keys: &crypto::MasterKeys,
) -> Result<Reencrypted, ReencryptError> {
    let mut conn =
        <diesel_async::AsyncPgConnection as diesel_async::AsyncConnection>::establish(database_url)
            .await?;
    let (mut done, mut failures) = move_keys(&mut conn, master_keys, |stored| {
        master_keys.needs_reencryption(stored)
    })
    .await?;
    let (moved, secret_failures) = move_webhook_secrets(&mut conn, master_keys).await?;
    done.webhook_secrets_moved = moved;
    failures.extend(secret_failures);
    match failures.into_iter().next() {
        Some(failure) => Err(failure),
        None => Ok(done),
    }
}

/// Moves stored keys of the old format (not bound to their company) to the current one, under the
/// newest master key; run by config-service at start. A value that cannot be moved (its master key
/// is gone) is logged and left as it is.
pub async fn upgrade_legacy_keys(
    conn: &mut store::Conn,
    master_keys: &crypto::MasterKeys,
) -> Result<Reencrypted, ReencryptError> {
    let (done, failures) =
        move_keys(conn, master_keys, |stored| master_keys.is_legacy(stored)).await?;
    for failure in failures {
        tracing::error!(error = %failure, "a stored Bayzat key of the old format cannot be moved");
    }
    if done.moved > 0 {
        tracing::info!(
            moved = done.moved,
            "stored Bayzat keys bound to their companies"
        );
    }
    Ok(done)
}

/// Re-encrypts the stored keys `select` picks; per-company failures are returned, not fatal.
async fn move_keys(
    conn: &mut store::Conn,
    master_keys: &crypto::MasterKeys,
    select: impl Fn(&str) -> bool,
) -> Result<(Reencrypted, Vec<ReencryptError>), ReencryptError> {
    let stored = bayzat_configs::encrypted_keys(conn).await?;
    let mut result = Reencrypted {
        total: stored.len(),
        ..Reencrypted::default()
    };
    let mut failures = Vec::new();
    let mut moved_companies = Vec::new();
    for (company_id, ciphertext) in stored {
        if !select(&ciphertext) {
            continue;
        }
        let fresh = match master_keys.reencrypt(company_id, &ciphertext) {
            Ok(fresh) => fresh,
            Err(error) => {
                failures.push(ReencryptError::Key { company_id, error });
                continue;
            }
        };
        let replaced =
            bayzat_configs::replace_ciphertext(conn, company_id, &ciphertext, &fresh).await?;
        if replaced == 0 {
            result.changed_meanwhile += 1;
            continue;
        }
        result.moved += 1;
        moved_companies.push(company_id);
    }
    if result.moved > 0 {
        crate::changes::Change {
            actor: "reencrypt",
            action: "bayzat_keys.reencrypted",
            company_id: None,
            target: None,
            details: json!({ "companies": moved_companies }),
            events: Vec::new(),
        }
        .record(conn)
        .await?;
    }
    Ok((result, failures))
}

/// Re-encrypts every webhook signing secret not under the newest master key, each with a
/// compare-and-swap on the ciphertext read, as `move_keys` does for Bayzat keys.
async fn move_webhook_secrets(
    conn: &mut store::Conn,
    master_keys: &crypto::MasterKeys,
) -> Result<(usize, Vec<ReencryptError>), ReencryptError> {
    let mut moved = 0;
    let mut failures = Vec::new();
    for (id, endpoint_id, ciphertext) in store::webhooks::all_secrets(conn).await? {
        if !master_keys.needs_reencryption(&ciphertext) {
            continue;
        }
        let fresh = match master_keys.decrypt_webhook_secret(endpoint_id, &ciphertext) {
            Ok(secret) => master_keys.encrypt_webhook_secret(endpoint_id, secret.expose()),
            Err(error) => {
                failures.push(ReencryptError::WebhookSecret { endpoint_id, error });
                continue;
            }
        };
        moved += store::webhooks::replace_secret(conn, id, &ciphertext, &fresh).await?;
    }
    Ok((moved, failures))
}

#[derive(Debug, Deserialize)]
struct DirectoryFile {
    companies: Vec<DirectoryFileCompany>,
    #[serde(default)]
    employees: Vec<DirectoryFileEmployee>,
}

#[derive(Debug, Deserialize)]
struct DirectoryFileCompany {
    slug: String,
    name_en: String,
    name_ar: Option<String>,
    timezone: Option<String>,
    #[serde(default)]
    fingerprint_report_names: Vec<String>,
    bayzat: Option<DirectoryFileBayzat>,
}

#[derive(Deserialize)]
struct DirectoryFileBayzat {
    api_key: Option<String>,
    is_enabled: Option<bool>,
    sync_frequency: Option<String>,
    daily_at: Option<String>,
}

impl std::fmt::Debug for DirectoryFileBayzat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectoryFileBayzat")
            .field("api_key", &self.api_key.as_deref().map(crypto::mask))
            .field("is_enabled", &self.is_enabled)
            .field("sync_frequency", &self.sync_frequency)
            .field("daily_at", &self.daily_at)
            .finish()
    }
}

#[derive(Debug, Deserialize)]
struct DirectoryFileEmployee {
    employee_id: String,
    name: String,
    company: String,
    bayzat_emp_id: Option<String>,
    active: Option<bool>,
}

/// How long load-directory waits in all, unless told otherwise, for the services' rate limit
/// (`--max-rate-limit-wait`).
pub const DEFAULT_MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(300);

/// The wait after a 429 that names none it can be read from.
pub const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(1);

/// The 429s a client of the services' APIs met, the time it waited on them, and the most it may
/// wait in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitWaits {
    pub max: Duration,
    pub times: u32,
    pub waited: Duration,
}

impl RateLimitWaits {
    /// No 429 met yet; at most `max` of waiting in all.
    pub fn at_most(max: Duration) -> Self {
        Self {
            max,
            times: 0,
            waited: Duration::ZERO,
        }
    }
}

impl std::fmt::Display for RateLimitWaits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rate limited {} times, waited {:.1} s in all",
            self.times,
            self.waited.as_secs_f64()
        )
    }
}

/// Why a call to the services' APIs got no answer to use: none came, or only 429s.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No answer came.
    #[error(transparent)]
    Request(#[from] reqwest::Error),
    /// Still answered 429 when waiting once more would pass the most allowed in all.
    #[error(
        "still answered 429 (rate limited) after {times} waits, {waited:.1} s in all; waiting \
         the {asked:.1} s more it asks for would pass the {max:.1} s allowed \
         (--max-rate-limit-wait)",
        waited = .waits.waited.as_secs_f64(),
        times = .waits.times,
        asked = .asked.as_secs_f64(),
        max = .waits.max.as_secs_f64(),
    )]
    RateLimited {
        waits: RateLimitWaits,
        asked: Duration,
    },
}

/// The wait a 429 asks for: `Retry-After-Ms`, else `Retry-After` in seconds, read as sync-service
/// reads Bayzat's; [`DEFAULT_RATE_LIMIT_WAIT`] when neither can be read (a date, say).
pub fn rate_limit_wait(headers: &reqwest::header::HeaderMap) -> Duration {
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    bayzat_client::Headers {
        retry_after_ms: text("retry-after-ms"),
        retry_after: text(reqwest::header::RETRY_AFTER.as_str()),
    }
    .retry_after()
    .unwrap_or(DEFAULT_RATE_LIMIT_WAIT)
}

/// Sends `request` to one of the services' APIs; after a 429 waits as it says
/// ([`rate_limit_wait`]) and sends the same request again, until another answer comes or one more
/// wait would take `waits` past its most. A request whose body cannot be sent twice (a stream) is
/// sent once.
pub async fn send_waiting_on_rate_limit(
    request: reqwest::RequestBuilder,
    waits: &mut RateLimitWaits,
) -> Result<reqwest::Response, SendError> {
    loop {
        let again = request.try_clone();
        let response = match again {
            Some(again) => again.send().await?,
            None => return Ok(request.send().await?),
        };
        if response.status() != reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Ok(response);
        }
        let asked = rate_limit_wait(response.headers());
        if waits.waited + asked > waits.max {
            return Err(SendError::RateLimited {
                waits: *waits,
                asked,
            });
        }
        tokio::time::sleep(asked).await;
        waits.times += 1;
        waits.waited += asked;
    }
}

/// Why loading a directory file stopped.
#[derive(Debug, thiserror::Error)]
pub enum LoadDirectoryError {
    #[error("{file}: {error}")]
    Read { file: String, error: std::io::Error },
    #[error("{file}: {error}")]
    Parse {
        file: String,
        error: serde_json::Error,
    },
    /// config-service did not answer a call.
    #[error("{path}: {error}")]
    Request { path: String, error: reqwest::Error },
    /// config-service answered a call 429 for longer than the run may wait in all.
    #[error("{path}: {error}")]
    RateLimited { path: String, error: SendError },
    /// config-service refused a call about a company; its answer as it came.
    #[error("{slug}: {status}: {body}")]
    Refused {
        slug: String,
        status: reqwest::StatusCode,
        body: Value,
    },
}

/// What loading a directory file did: a line per company, and the 429s met on the way.
#[derive(Debug)]
pub struct Loaded {
    pub companies: Vec<String>,
    pub rate_limited: RateLimitWaits,
}

impl std::fmt::Display for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.companies.join("\n"))?;
        if self.rate_limited.times > 0 {
            write!(f, "\n{}", self.rate_limited)?;
        }
        Ok(())
    }
}

/// Calls to config-service's REST API as one caller, waiting on its rate limit.
struct Api<'a> {
    client: reqwest::Client,
    base: &'a str,
    token: &'a str,
    waits: RateLimitWaits,
}

impl Api<'_> {
    /// The status and body (JSON, else the text as it came) of `method path`.
    async fn call(
        &mut self,
        method: reqwest::Method,
        path: String,
        body: Option<Value>,
    ) -> Result<(reqwest::StatusCode, Value), LoadDirectoryError> {
        let request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(self.token);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        let response = send_waiting_on_rate_limit(request, &mut self.waits)
            .await
            .map_err(|error| match error {
                SendError::Request(error) => LoadDirectoryError::Request {
                    path: path.clone(),
                    error,
                },
                error => LoadDirectoryError::RateLimited {
                    path: path.clone(),
                    error,
                },
            })?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|error| LoadDirectoryError::Request { path, error })?;
        // An answer that is not JSON (a proxy's error page) is kept as text for the message.
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, body))
    }
}

/// Loads a directory file (companies, report names, Bayzat settings and keys, employees) through
/// config-service's REST API at `base_url`, as an admin. Creates what is missing and updates the
/// rest, so it can be run again. `api_url` overrides each company's Bayzat URL (e.g. a simulator).
/// Waits on the API's rate limit as its 429s say, [`DEFAULT_MAX_RATE_LIMIT_WAIT`] at most in all.
pub async fn load_directory(
    base_url: &str,
    token: &str,
    file: &str,
    api_url: Option<&str>,
) -> Result<String, LoadDirectoryError> {
    load_directory_waiting(base_url, token, file, api_url, DEFAULT_MAX_RATE_LIMIT_WAIT)
        .await
        .map(|loaded| loaded.to_string())
}

/// [`load_directory`], waiting at most `max_rate_limit_wait` in all on the API's rate limit: each
/// request answered 429 is sent again once the wait it names has passed.
pub async fn load_directory_waiting(
    base_url: &str,
    token: &str,
    file: &str,
    api_url: Option<&str>,
    max_rate_limit_wait: Duration,
) -> Result<Loaded, LoadDirectoryError> {
    let text = std::fs::read_to_string(file).map_err(|error| LoadDirectoryError::Read {
        file: file.to_owned(),
        error,
    })?;
    let directory: DirectoryFile =
        serde_json::from_str(&text).map_err(|error| LoadDirectoryError::Parse {
            file: file.to_owned(),
            error,
        })?;
    let mut api = Api {
        client: reqwest::Client::new(),
        base: base_url.trim_end_matches('/'),
        token,
        waits: RateLimitWaits::at_most(max_rate_limit_wait),
    };
    let mut summary = Vec::new();
    for company in &directory.companies {
        let slug = &company.slug;
        let (status, _) = api
            .call(reqwest::Method::GET, format!("/v1/companies/{slug}"), None)
            .await?;
        if status == reqwest::StatusCode::NOT_FOUND {
            let body = json!({ "slug": slug, "name_en": company.name_en, "name_ar": company.name_ar, "timezone": company.timezone });
            expect_success(
                api.call(reqwest::Method::POST, "/v1/companies".into(), Some(body))
                    .await?,
                slug,
            )?;
        } else {
            let body = json!({ "name_en": company.name_en, "name_ar": company.name_ar, "timezone": company.timezone });
            expect_success(
                api.call(
                    reqwest::Method::PATCH,
                    format!("/v1/companies/{slug}"),
                    Some(body),
                )
                .await?,
                slug,
            )?;
        }
        for name in &company.fingerprint_report_names {
            let body = json!({ "name": name });
            expect_success(
                api.call(
                    reqwest::Method::POST,
                    format!("/v1/companies/{slug}/report-names"),
                    Some(body),
                )
                .await?,
                slug,
            )?;
        }
        let bayzat = company.bayzat.as_ref();
        let mut config = json!({ "test_connection": false });
        if let Some(b) = bayzat {
            config["api_key"] = json!(b.api_key);
            config["is_enabled"] = json!(b.is_enabled);
            config["sync_frequency"] = json!(b.sync_frequency);
            config["daily_at"] = json!(b.daily_at);
        }
        if let Some(url) = api_url {
            config["api_url"] = json!(url);
        }
        let config = Value::Object(
            config
                .as_object()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|(_, v)| !v.is_null())
                .collect(),
        );
        expect_success(
            api.call(
                reqwest::Method::PUT,
                format!("/v1/companies/{slug}/bayzat-config"),
                Some(config),
            )
            .await?,
            slug,
        )?;
        let employees: Vec<Value> = directory
            .employees
            .iter()
            .filter(|e| &e.company == slug)
            .map(|e| json!({ "employee_id": e.employee_id, "name": e.name, "bayzat_emp_id": e.bayzat_emp_id, "active": e.active }))
            .collect();
        let (status, body) = api
            .call(
                reqwest::Method::PUT,
                format!("/v1/companies/{slug}/employees"),
                Some(json!({ "employees": employees })),
            )
            .await?;
        expect_success((status, body.clone()), slug)?;
        summary.push(format!(
            "{slug}: {} report names, {} employees ({})",
            company.fingerprint_report_names.len(),
            employees.len(),
            body
        ));
    }
    Ok(Loaded {
        companies: summary,
        rate_limited: api.waits,
    })
}

fn expect_success(
    (status, body): (reqwest::StatusCode, Value),
    slug: &str,
) -> Result<(), LoadDirectoryError> {
    if status.is_success() {
        Ok(())
    } else {
        Err(LoadDirectoryError::Refused {
            slug: slug.to_owned(),
            status,
            body,
        })
    }
}
