//! A stand-in for the ZKBio Time / BioTime REST API: token login and the paged transaction list.
//!
//! - `POST /jwt-api-token-auth/` and `POST /api-token-auth/` take `username` and `password`
//!   (JSON or form) and answer `{"token": …}`; wrong credentials are a 400 with
//!   `{"non_field_errors": ["Unable to log in with provided credentials."]}`, as Django REST
//!   framework answers. A JWT token is sent back as `Authorization: JWT <token>` and expires
//!   after the configured time; the other is sent as `Authorization: Token <token>` and lasts
//!   until the tokens are expired through the control API.
//! - `GET /iclock/api/transactions/` answers `{"count", "next", "previous", "msg", "code",
//!   "data": [...]}` with BioTime's transaction fields, filtered by `start_time`, `end_time`
//!   (`YYYY-MM-DD HH:MM:SS`, inclusive, on `punch_time`), `emp_code` and `terminal_sn`, paged by
//!   `page` and `page_size`, in id order so pages stay put while transactions are added.
//!
//! Control API under `/sim/`: `POST /sim/transactions` adds transactions (a JSON list),
//! `GET /sim/transactions` lists them all, `DELETE /sim/transactions` clears them;
//! `POST /sim/fail` with `{"seconds": s}` or `{"requests": n}` makes the API answer 500 for that
//! long, `DELETE /sim/fail` ends it; `POST /sim/expire-tokens` expires every token issued;
//! `GET /sim/stats` counts requests.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::dev::{Server, ServerHandle};
use actix_web::http::{header, StatusCode};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use clock_push::query::{get, parse_query};
use clock_push::PunchState;
use domain::LocalPunchTime;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::task::JoinHandle;

/// The real server's page size when none is asked for.
pub const DEFAULT_PAGE_SIZE: usize = 10;
/// Larger `page_size` values are cut to this.
pub const MAX_PAGE_SIZE: usize = 1000;

const BAD_CREDENTIALS: &str = "Unable to log in with provided credentials.";

/// Initial settings of a stand-in.
#[derive(Debug, Clone)]
pub struct BioTimeConfig {
    pub username: String,
    pub password: String,
    /// How long a JWT token stays valid.
    pub token_ttl: Duration,
    pub default_page_size: usize,
    pub max_page_size: usize,
}

impl Default for BioTimeConfig {
    fn default() -> Self {
        Self {
            username: "admin".to_owned(),
            password: "admin".to_owned(),
            token_ttl: Duration::from_secs(3600),
            default_page_size: DEFAULT_PAGE_SIZE,
            max_page_size: MAX_PAGE_SIZE,
        }
    }
}

/// How to run the HTTP server (the same knobs as the Bayzat simulator's).
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub workers: Option<usize>,
    pub handle_signals: bool,
    pub shutdown_timeout_secs: u64,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            workers: Some(2),
            handle_signals: false,
            shutdown_timeout_secs: 1,
        }
    }
}

/// A transaction as the control API takes it; everything but `emp_code` and `punch_time` has a
/// default.
#[derive(Debug, Clone, Deserialize)]
pub struct NewTransaction {
    pub emp_code: String,
    /// `YYYY-MM-DD HH:MM:SS`, the terminal's local time.
    pub punch_time: String,
    /// The push protocol's state code (`"0"` check in … `"5"` overtime out); a number is taken
    /// too.
    #[serde(default = "default_state")]
    pub punch_state: Value,
    #[serde(default = "default_verify")]
    pub verify_type: i32,
    #[serde(default)]
    pub terminal_sn: String,
    #[serde(default)]
    pub terminal_alias: String,
    #[serde(default)]
    pub area_alias: String,
    #[serde(default)]
    pub work_code: String,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub department: String,
    #[serde(default)]
    pub position: Option<String>,
    /// When the terminal delivered it; the time it was added when not given.
    #[serde(default)]
    pub upload_time: Option<String>,
}

fn default_state() -> Value {
    Value::String("0".to_owned())
}

fn default_verify() -> i32 {
    1
}

impl NewTransaction {
    /// A check-in or whatever `state` says, by `emp_code` at `punch_time`, everything else
    /// defaulted.
    pub fn new(emp_code: &str, punch_time: &str, state: PunchState) -> Self {
        Self {
            emp_code: emp_code.to_owned(),
            punch_time: punch_time.to_owned(),
            punch_state: Value::String(state.code().to_string()),
            verify_type: 1,
            terminal_sn: String::new(),
            terminal_alias: String::new(),
            area_alias: String::new(),
            work_code: String::new(),
            first_name: String::new(),
            last_name: None,
            department: String::new(),
            position: None,
            upload_time: None,
        }
    }

    pub fn on_terminal(mut self, sn: &str, alias: &str) -> Self {
        self.terminal_sn = sn.to_owned();
        self.terminal_alias = alias.to_owned();
        self
    }
}

/// A transaction in the shape `GET /iclock/api/transactions/` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transaction {
    pub id: u64,
    /// The employee's internal id, one per `emp_code`.
    pub emp: u64,
    pub emp_code: String,
    pub first_name: String,
    pub last_name: Option<String>,
    pub department: String,
    pub position: Option<String>,
    pub punch_time: String,
    pub punch_state: String,
    pub punch_state_display: String,
    pub verify_type: i32,
    pub verify_type_display: String,
    pub work_code: String,
    pub gps_location: String,
    pub area_alias: String,
    pub terminal_sn: String,
    pub temperature: f64,
    pub is_mask: String,
    pub terminal_alias: String,
    pub upload_time: String,
}

fn verify_display(code: i32) -> &'static str {
    match code {
        0 => "Any",
        1 => "Fingerprint",
        3 => "Password",
        4 => "Card",
        15 => "Face",
        25 => "Palm",
        _ => "Other",
    }
}

/// Request counts, for tests and the benchmark.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BioTimeStats {
    pub logins: u64,
    pub refused_logins: u64,
    pub transaction_pages: u64,
    pub unauthorized: u64,
    pub failed_by_switch: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Jwt,
    Token,
}

enum Failure {
    Until(Instant),
    Requests(u64),
}

struct Inner {
    config: BioTimeConfig,
    transactions: Vec<Transaction>,
    employees: HashMap<String, u64>,
    jwt_tokens: HashMap<String, Instant>,
    drf_token: Option<String>,
    failure: Option<Failure>,
    stats: BioTimeStats,
}

struct BioState {
    inner: Mutex<Inner>,
}

impl BioState {
    fn new(config: BioTimeConfig) -> Self {
        Self {
            inner: Mutex::new(Inner {
                config,
                transactions: Vec::new(),
                employees: HashMap::new(),
                jwt_tokens: HashMap::new(),
                drf_token: None,
                failure: None,
                stats: BioTimeStats::default(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A handler that panicked left nothing half-written that matters to a simulator.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    /// Whether the failure switch is on for this request (and counts it down).
    fn failing(&mut self) -> bool {
        let on = match &mut self.failure {
            None => false,
            Some(Failure::Until(t)) => Instant::now() < *t,
            Some(Failure::Requests(n)) if *n > 0 => {
                *n -= 1;
                true
            }
            Some(Failure::Requests(_)) => false,
        };
        if on {
            self.stats.failed_by_switch += 1;
        } else {
            self.failure = None;
        }
        on
    }

    fn add(&mut self, new: NewTransaction) -> Result<Transaction, String> {
        if new.emp_code.trim().is_empty() {
            return Err("emp_code is empty".to_owned());
        }
        let time = LocalPunchTime::parse(&new.punch_time).map_err(|e| e.to_string())?;
        let state = match &new.punch_state {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => {
                return Err(format!(
                    "punch_state {other} is neither a string nor a number"
                ))
            }
        };
        let display = state
            .parse::<u32>()
            .ok()
            .and_then(PunchState::from_code)
            .map(|s| s.label())
            .unwrap_or("Unknown");
        let next_emp = self.employees.len() as u64 + 1;
        let emp = *self
            .employees
            .entry(new.emp_code.clone())
            .or_insert(next_emp);
        let upload_time = new.upload_time.unwrap_or_else(|| {
            chrono::Local::now()
                .naive_local()
                .format(domain::LOCAL_PUNCH_TIME_FORMAT)
                .to_string()
        });
        let t = Transaction {
            id: self.transactions.len() as u64 + 1,
            emp,
            emp_code: new.emp_code,
            first_name: new.first_name,
            last_name: new.last_name,
            department: new.department,
            position: new.position,
            punch_time: time.to_string(),
            punch_state: state,
            punch_state_display: display.to_owned(),
            verify_type: new.verify_type,
            verify_type_display: verify_display(new.verify_type).to_owned(),
            work_code: new.work_code,
            gps_location: String::new(),
            area_alias: new.area_alias,
            terminal_sn: new.terminal_sn,
            temperature: 0.0,
            is_mask: "-".to_owned(),
            terminal_alias: new.terminal_alias,
            upload_time,
        };
        self.transactions.push(t.clone());
        Ok(t)
    }
}

/// A stand-in serving on [`RunningBioTime::addr`].
pub struct RunningBioTime {
    pub addr: SocketAddr,
    state: Arc<BioState>,
    handle: ServerHandle,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

/// Starts a stand-in on `bind` (port 0 for a free port) in the current tokio runtime.
pub async fn spawn_biotime(bind: &str, config: BioTimeConfig) -> std::io::Result<RunningBioTime> {
    let state = Arc::new(BioState::new(config));
    let (server, addr) = build(bind, state.clone(), &ServerOptions::default())?;
    let handle = server.handle();
    let task = tokio::spawn(server);
    Ok(RunningBioTime {
        addr,
        state,
        handle,
        task: Some(task),
    })
}

/// Binds and returns the server future without running it, for the binary.
pub fn serve_biotime(
    bind: &str,
    config: BioTimeConfig,
    options: &ServerOptions,
) -> std::io::Result<(Server, SocketAddr)> {
    build(bind, Arc::new(BioState::new(config)), options)
}

impl RunningBioTime {
    /// `http://IP:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Same as `POST /sim/transactions`.
    pub fn add_transactions(
        &self,
        new: impl IntoIterator<Item = NewTransaction>,
    ) -> Result<Vec<Transaction>, String> {
        let mut inner = self.state.lock();
        new.into_iter().map(|t| inner.add(t)).collect()
    }

    /// Every transaction held, in id order.
    pub fn transactions(&self) -> Vec<Transaction> {
        self.state.lock().transactions.clone()
    }

    /// The API answers 500 for `duration`.
    pub fn fail_for(&self, duration: Duration) {
        self.state.lock().failure = Some(Failure::Until(Instant::now() + duration));
    }

    /// The API answers 500 to the next `requests` requests.
    pub fn fail_next(&self, requests: u64) {
        self.state.lock().failure = Some(Failure::Requests(requests));
    }

    pub fn stop_failing(&self) {
        self.state.lock().failure = None;
    }

    /// Every token issued so far stops working.
    pub fn expire_tokens(&self) {
        expire_all(&mut self.state.lock());
    }

    pub fn stats(&self) -> BioTimeStats {
        self.state.lock().stats.clone()
    }

    /// Stops accepting, lets in-flight requests finish and waits.
    pub async fn stop(mut self) {
        self.handle.stop(true).await;
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningBioTime {
    fn drop(&mut self) {
        if self.task.is_some() {
            // The command is queued before the returned future is polled, so dropping the
            // future still stops the server.
            drop(self.handle.stop(false));
        }
    }
}

fn expire_all(inner: &mut Inner) {
    let now = Instant::now();
    for expiry in inner.jwt_tokens.values_mut() {
        *expiry = now;
    }
    inner.drf_token = None;
}

fn build(
    bind: &str,
    state: Arc<BioState>,
    options: &ServerOptions,
) -> std::io::Result<(Server, SocketAddr)> {
    let data = web::Data::from(state);
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::default().limit(16 * 1024 * 1024))
            .route("/jwt-api-token-auth/", web::post().to(jwt_login))
            .route("/jwt-api-token-auth", web::post().to(jwt_login))
            .route("/api-token-auth/", web::post().to(token_login))
            .route("/api-token-auth", web::post().to(token_login))
            .route(
                "/iclock/api/transactions/",
                web::get().to(list_transactions),
            )
            .route("/iclock/api/transactions", web::get().to(list_transactions))
            .service(
                web::scope("/sim")
                    .route("/transactions", web::post().to(sim_add))
                    .route("/transactions", web::get().to(sim_list))
                    .route("/transactions", web::delete().to(sim_clear))
                    .route("/fail", web::post().to(sim_fail))
                    .route("/fail", web::delete().to(sim_stop_failing))
                    .route("/expire-tokens", web::post().to(sim_expire))
                    .route("/stats", web::get().to(sim_stats)),
            )
            .default_service(web::to(|| async {
                HttpResponse::NotFound().json(json!({"detail": "Not found."}))
            }))
    })
    .shutdown_timeout(options.shutdown_timeout_secs);
    if let Some(w) = options.workers {
        server = server.workers(w);
    }
    if !options.handle_signals {
        server = server.disable_signals();
    }
    let server = server.bind(bind)?;
    let addr = *server
        .addrs()
        .first()
        .ok_or_else(|| std::io::Error::other(format!("{bind} resolved to no address")))?;
    Ok((server.run(), addr))
}

type Data = web::Data<BioState>;

fn server_error() -> HttpResponse {
    HttpResponse::InternalServerError()
        .content_type("text/html")
        .body("<h1>Server Error (500)</h1>")
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// `username` and `password` from a JSON or form body.
fn credentials(req: &HttpRequest, body: &[u8]) -> (Option<String>, Option<String>) {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if is_json {
        let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let field = |k: &str| match value.get(k) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        };
        (field("username"), field("password"))
    } else {
        let pairs = parse_query(&String::from_utf8_lossy(body));
        let field = |k: &str| {
            pairs
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        (field("username"), field("password"))
    }
}

fn login(data: &Data, req: &HttpRequest, body: &[u8], scheme: Scheme) -> HttpResponse {
    let mut inner = data.lock();
    if inner.failing() {
        return server_error();
    }
    let (user, pass) = credentials(req, body);
    if user.is_none() || pass.is_none() {
        inner.stats.refused_logins += 1;
        let mut errors = serde_json::Map::new();
        for (name, value) in [("username", &user), ("password", &pass)] {
            if value.is_none() {
                errors.insert(name.to_owned(), json!(["This field is required."]));
            }
        }
        return HttpResponse::BadRequest().json(Value::Object(errors));
    }
    if user.as_deref() != Some(inner.config.username.as_str())
        || pass.as_deref() != Some(inner.config.password.as_str())
    {
        inner.stats.refused_logins += 1;
        return HttpResponse::BadRequest().json(json!({ "non_field_errors": [BAD_CREDENTIALS] }));
    }
    inner.stats.logins += 1;
    let token = match scheme {
        Scheme::Jwt => {
            let token = format!("{}.{}.{}", random_hex(12), random_hex(24), random_hex(16));
            let expiry = Instant::now() + inner.config.token_ttl;
            inner.jwt_tokens.insert(token.clone(), expiry);
            token
        }
        // One token per user, handed out again on every login, as Django REST framework does.
        Scheme::Token => inner
            .drf_token
            .get_or_insert_with(|| random_hex(20))
            .clone(),
    };
    HttpResponse::Ok().json(json!({ "token": token }))
}

async fn jwt_login(data: Data, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    login(&data, &req, &body, Scheme::Jwt)
}

async fn token_login(data: Data, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    login(&data, &req, &body, Scheme::Token)
}

fn unauthorized(detail: &str) -> HttpResponse {
    HttpResponse::build(StatusCode::UNAUTHORIZED).json(json!({ "detail": detail }))
}

/// `None` when the request may go on, else the 401 to send.
fn authenticate(inner: &mut Inner, req: &HttpRequest) -> Option<HttpResponse> {
    let refuse = |inner: &mut Inner, detail: &str| {
        inner.stats.unauthorized += 1;
        Some(unauthorized(detail))
    };
    let Some(value) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return refuse(inner, "Authentication credentials were not provided.");
    };
    let Some((scheme, token)) = value.trim().split_once(' ') else {
        return refuse(inner, "Invalid token header. No credentials provided.");
    };
    let token = token.trim();
    if scheme.eq_ignore_ascii_case("JWT") {
        match inner.jwt_tokens.get(token) {
            None => refuse(inner, "Error decoding signature."),
            Some(expiry) if Instant::now() >= *expiry => refuse(inner, "Signature has expired."),
            Some(_) => None,
        }
    } else if scheme.eq_ignore_ascii_case("Token") {
        if inner.drf_token.as_deref() == Some(token) {
            None
        } else {
            refuse(inner, "Invalid token.")
        }
    } else {
        refuse(inner, "Authentication credentials were not provided.")
    }
}

fn field_error(field: &str, message: &str) -> HttpResponse {
    HttpResponse::BadRequest().json(json!({ field: [message] }))
}

async fn list_transactions(data: Data, req: HttpRequest) -> HttpResponse {
    let mut inner = data.lock();
    if inner.failing() {
        return server_error();
    }
    if let Some(refusal) = authenticate(&mut inner, &req) {
        return refusal;
    }
    let pairs = parse_query(req.query_string());
    let param = |k: &str| get(&pairs, k).map(str::trim).filter(|v| !v.is_empty());

    let mut bounds = [None, None];
    for (slot, name) in bounds.iter_mut().zip(["start_time", "end_time"]) {
        if let Some(v) = param(name) {
            match LocalPunchTime::parse(v) {
                Ok(t) => *slot = Some(t),
                Err(_) => return field_error(name, "Enter a valid date/time."),
            }
        }
    }
    let [start, end] = bounds;
    let emp_code = param("emp_code");
    let terminal_sn = param("terminal_sn");
    let page_size = param("page_size")
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(inner.config.default_page_size)
        .min(inner.config.max_page_size);
    let page = match param("page") {
        None => 1,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => return HttpResponse::NotFound().json(json!({"detail": "Invalid page."})),
        },
    };

    inner.stats.transaction_pages += 1;
    let matching: Vec<&Transaction> = inner
        .transactions
        .iter()
        .filter(|t| emp_code.is_none_or(|c| t.emp_code == c))
        .filter(|t| terminal_sn.is_none_or(|s| t.terminal_sn == s))
        .filter(|t| {
            // Stored times were validated on the way in.
            let time = LocalPunchTime::parse(&t.punch_time).ok();
            start.is_none_or(|s| time.is_some_and(|t| t >= s))
                && end.is_none_or(|e| time.is_some_and(|t| t <= e))
        })
        .collect();
    let count = matching.len();
    let pages = count.div_ceil(page_size).max(1);
    if page > pages {
        return HttpResponse::NotFound().json(json!({"detail": "Invalid page."}));
    }
    let data_page: Vec<&Transaction> = matching
        .into_iter()
        .skip((page - 1) * page_size)
        .take(page_size)
        .collect();

    let info = req.connection_info();
    let link = |n: usize| {
        let mut query: Vec<String> = pairs
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("page"))
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    clock_push::query::encode_component(k),
                    clock_push::query::encode_component(v)
                )
            })
            .collect();
        query.push(format!("page={n}"));
        format!(
            "{}://{}{}?{}",
            info.scheme(),
            info.host(),
            req.path(),
            query.join("&")
        )
    };
    let next = (page < pages).then(|| link(page + 1));
    let previous = (page > 1).then(|| link(page - 1));
    HttpResponse::Ok().json(json!({
        "count": count,
        "next": next,
        "previous": previous,
        "msg": "",
        "code": 0,
        "data": data_page,
    }))
}

async fn sim_add(data: Data, body: web::Json<Vec<NewTransaction>>) -> HttpResponse {
    let mut inner = data.lock();
    // All or nothing: check every entry before adding any.
    for (i, t) in body.iter().enumerate() {
        if t.emp_code.trim().is_empty() {
            return HttpResponse::BadRequest()
                .json(json!({"error": format!("entry {i}: emp_code is empty")}));
        }
        if let Err(e) = LocalPunchTime::parse(&t.punch_time) {
            return HttpResponse::BadRequest().json(json!({"error": format!("entry {i}: {e}")}));
        }
    }
    let mut added = Vec::with_capacity(body.len());
    for t in body.into_inner() {
        match inner.add(t) {
            Ok(t) => added.push(t),
            Err(e) => return HttpResponse::BadRequest().json(json!({"error": e})),
        }
    }
    HttpResponse::Created().json(added)
}

async fn sim_list(data: Data) -> HttpResponse {
    HttpResponse::Ok().json(&data.lock().transactions)
}

async fn sim_clear(data: Data) -> HttpResponse {
    let mut inner = data.lock();
    inner.transactions.clear();
    inner.employees.clear();
    HttpResponse::NoContent().finish()
}

#[derive(Deserialize)]
struct FailBody {
    seconds: Option<f64>,
    requests: Option<u64>,
}

async fn sim_fail(data: Data, body: web::Json<FailBody>) -> HttpResponse {
    let failure = match (body.seconds, body.requests) {
        (Some(s), None) if s.is_finite() && s >= 0.0 => {
            Failure::Until(Instant::now() + Duration::from_secs_f64(s))
        }
        (None, Some(n)) => Failure::Requests(n),
        _ => {
            return HttpResponse::BadRequest()
                .json(json!({"error": "give either seconds (>= 0) or requests"}))
        }
    };
    data.lock().failure = Some(failure);
    HttpResponse::NoContent().finish()
}

async fn sim_stop_failing(data: Data) -> HttpResponse {
    data.lock().failure = None;
    HttpResponse::NoContent().finish()
}

async fn sim_expire(data: Data) -> HttpResponse {
    expire_all(&mut data.lock());
    HttpResponse::NoContent().finish()
}

async fn sim_stats(data: Data) -> HttpResponse {
    HttpResponse::Ok().json(&data.lock().stats)
}
