//! The HTTP surface: `POST …/attendance` and the `/__admin` endpoints.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::{Server, ServerHandle};
use actix_web::http::{header, Method, StatusCode};
use actix_web::{error, web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::json;
use tokio::task::JoinHandle;

use crate::model::{
    AttendanceReply, Contract, DuplicateEntry, Faults, KeyBody, KeySpec, LedgerEntry, Reason,
    RetryAfterHeaders, RotateBody, Stats,
};
use crate::state::{count_records, lock, Admission, RotateError, SimState, SimulatedAnswer};

/// Far above the 20-record limit, so an oversized request is judged as `too_many_records`
/// rather than cut off by the transport.
pub const BODY_LIMIT_BYTES: usize = 4 * 1024 * 1024;

/// Initial state of a simulator.
#[derive(Debug, Clone, Default)]
pub struct SimConfig {
    pub keys: Vec<KeySpec>,
}

/// How to run the HTTP server; [`spawn`] uses the defaults, the binary sets them from its flags.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Worker threads; `None` lets actix pick one per physical core.
    pub workers: Option<usize>,
    /// Whether actix installs SIGINT/SIGTERM handlers (wanted by the process, not by tests).
    pub handle_signals: bool,
    /// Seconds a graceful stop waits for in-flight requests (held requests included).
    pub shutdown_timeout_secs: u64,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            workers: Some(2),
            handle_signals: false,
            shutdown_timeout_secs: 1,
        }
    }
}

/// A simulator serving on [`RunningSim::addr`]. Dropping it asks the server to stop; prefer
/// [`RunningSim::stop`], which waits for it.
pub struct RunningSim {
    pub addr: SocketAddr,
    state: Arc<SimState>,
    handle: ServerHandle,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

/// Starts a simulator on `bind` (use port 0 for a free port) in the current tokio runtime.
pub async fn spawn(bind: &str, config: SimConfig) -> std::io::Result<RunningSim> {
    spawn_with(bind, config, ServerOptions::default()).await
}

/// [`spawn`] with explicit server options.
pub async fn spawn_with(
    bind: &str,
    config: SimConfig,
    options: ServerOptions,
) -> std::io::Result<RunningSim> {
    let state = Arc::new(SimState::new(config.keys));
    let (server, addr) = build(bind, state.clone(), &options)?;
    let handle = server.handle();
    let task = tokio::spawn(server);
    Ok(RunningSim {
        addr,
        state,
        handle,
        task: Some(task),
    })
}

/// Binds and returns the server future without running it, for the binary's own `main`.
pub fn serve(
    bind: &str,
    config: SimConfig,
    options: &ServerOptions,
) -> std::io::Result<(Server, SocketAddr)> {
    build(bind, Arc::new(SimState::new(config.keys)), options)
}

fn build(
    bind: &str,
    state: Arc<SimState>,
    options: &ServerOptions,
) -> std::io::Result<(Server, SocketAddr)> {
    let data = web::Data::from(state);
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(
                web::JsonConfig::default()
                    .limit(BODY_LIMIT_BYTES)
                    .error_handler(|err, _req| {
                        let body = AttendanceReply {
                            success: false,
                            message: format!("malformed: {err}"),
                            reason: Some(Reason::Malformed),
                        };
                        error::InternalError::from_response(
                            err,
                            HttpResponse::BadRequest().json(body),
                        )
                        .into()
                    }),
            )
            .service(
                web::scope("/__admin")
                    .route("/keys", web::get().to(list_keys))
                    .route("/keys/{key}", web::put().to(put_key))
                    .route("/keys/{key}", web::delete().to(delete_key))
                    .route("/keys/{key}/faults", web::put().to(put_faults))
                    .route("/keys/{key}/faults", web::get().to(get_faults))
                    .route("/keys/{key}/contract", web::put().to(put_contract))
                    .route("/keys/{key}/contract", web::get().to(get_contract))
                    .route("/keys/{key}/ledger", web::get().to(get_ledger))
                    .route("/keys/{key}/duplicates", web::get().to(get_duplicates))
                    .route("/keys/{key}/rotate", web::post().to(rotate_key))
                    .route("/stats", web::get().to(get_stats))
                    .route("/reset", web::post().to(reset)),
            )
            .default_service(web::to(attendance))
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

impl RunningSim {
    /// `http://IP:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The URL a client posts punches to.
    pub fn attendance_url(&self) -> String {
        format!("{}/attendance", self.base_url())
    }

    /// Stops accepting, lets in-flight requests finish (up to the shutdown timeout) and waits.
    pub async fn stop(mut self) {
        self.handle.stop(true).await;
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Same as `PUT /__admin/keys/{key}`.
    pub fn put_key(&self, spec: KeySpec) {
        self.state.put_key(spec);
    }

    /// Same as `PUT /__admin/keys/{key}/faults`; `Ok(false)` for an unknown key.
    pub fn set_faults(&self, key: &str, faults: Faults) -> Result<bool, String> {
        faults.validate()?;
        Ok(self.state.set_faults(key, faults))
    }

    /// Same as `PUT /__admin/keys/{key}/contract`; `false` for an unknown key.
    pub fn set_contract(&self, key: &str, contract: Contract) -> bool {
        self.state.set_contract(key, contract)
    }

    /// Same as `GET /__admin/keys/{key}/ledger`; `None` for an unknown key.
    pub fn ledger(&self, key: &str) -> Option<Vec<LedgerEntry>> {
        self.state.ledger(key)
    }

    /// Same as `GET /__admin/keys/{key}/duplicates`; `None` for an unknown key.
    pub fn duplicates(&self, key: &str) -> Option<Vec<DuplicateEntry>> {
        self.state.duplicates(key)
    }

    /// Same as `POST /__admin/keys/{key}/rotate`: `Err` with the reason when `from` is unknown or
    /// `to` is empty or taken.
    pub fn rotate_key(&self, from: &str, to: &str) -> Result<(), String> {
        self.state
            .rotate_key(from, to)
            .map_err(|e| rotate_problem(e, from, to))
    }

    /// Same as `GET /__admin/stats`.
    pub fn stats(&self) -> Stats {
        self.state.stats()
    }

    /// Same as `POST /__admin/reset`.
    pub fn reset(&self) {
        self.state.reset();
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        if self.task.is_some() {
            // The command is queued before the returned future is polled, so dropping the
            // future still stops the server.
            drop(self.handle.stop(false));
        }
    }
}

fn reply(
    status: StatusCode,
    success: bool,
    message: String,
    reason: Option<Reason>,
) -> HttpResponse {
    HttpResponse::build(status).json(AttendanceReply {
        success,
        message,
        reason,
    })
}

/// Simulated server errors are plain text, because Bayzat's 500s need not be JSON and clients
/// must cope with that.
fn server_error() -> HttpResponse {
    HttpResponse::InternalServerError()
        .content_type("text/plain; charset=utf-8")
        .body("Internal Server Error")
}

async fn attendance(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<SimState>,
) -> HttpResponse {
    if !req.path().ends_with("/attendance") {
        return reply(StatusCode::NOT_FOUND, false, "Not Found".into(), None);
    }
    if req.method() != Method::POST {
        return HttpResponse::MethodNotAllowed()
            .insert_header((header::ALLOW, "POST"))
            .json(AttendanceReply {
                success: false,
                message: "Method Not Allowed".into(),
                reason: None,
            });
    }

    // Step 1.
    let key_name = req
        .headers()
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let Some(key) = state.key(&key_name).filter(|_| !key_name.is_empty()) else {
        state.note_unauthorized();
        tracing::debug!(key = %key_name, "401");
        return reply(StatusCode::UNAUTHORIZED, false, "Unauthorized".into(), None);
    };

    // Step 2 and the draws of step 3, judged before the body is read so that the time that
    // counts is when the request arrived.
    let admission = lock(&key).admit(Instant::now(), state.shared_window());

    let body = match payload.to_bytes_limited(BODY_LIMIT_BYTES).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => Err(format!("the body could not be read: {e}")),
        Err(_) => Err(format!("the body is larger than {BODY_LIMIT_BYTES} bytes")),
    };
    let size = body.as_ref().ok().and_then(|b| count_records(b));

    let draws = match admission {
        Admission::RateLimited {
            remaining,
            latency,
            headers,
        } => {
            lock(&key).note_request_size(size);
            tracing::debug!(key = %key_name, remaining_ms = remaining.as_millis() as u64, "429");
            sleep(latency).await;
            return too_many_requests(remaining, headers);
        }
        Admission::Counted(draws) => draws,
    };

    let (outcome, with_reason, retry_after_headers) = {
        let mut k = lock(&key);
        k.note_request_size(size);
        let outcome = k.settle(&draws, body.as_deref().map_err(String::as_str));
        (outcome, !k.contract.no_reason, k.contract.retry_after)
    };
    tracing::debug!(key = %key_name, ?outcome, "counted request");

    let response = match outcome {
        SimulatedAnswer::Hold => {
            sleep(draws.hold).await;
            server_error()
        }
        SimulatedAnswer::ServerError | SimulatedAnswer::AcceptedThen500(_) => server_error(),
        SimulatedAnswer::TooManyRequests => {
            too_many_requests(draws.retry_after, retry_after_headers)
        }
        SimulatedAnswer::AcceptedSlowly(n) => {
            sleep(draws.hold).await;
            reply(
                StatusCode::OK,
                true,
                format!("{n} attendance record(s) accepted"),
                None,
            )
        }
        SimulatedAnswer::SuccessFalse => reply(
            StatusCode::OK,
            false,
            "Attendance could not be processed".into(),
            None,
        ),
        SimulatedAnswer::Rejected(r) => reply(
            StatusCode::BAD_REQUEST,
            false,
            r.message,
            with_reason.then_some(r.reason),
        ),
        SimulatedAnswer::NoRecords => reply(StatusCode::OK, true, "no records".into(), None),
        SimulatedAnswer::Accepted(n) => reply(
            StatusCode::OK,
            true,
            format!("{n} attendance record(s) accepted"),
            None,
        ),
    };
    sleep(draws.latency).await;
    response
}

async fn sleep(d: Duration) {
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}

fn too_many_requests(remaining: Duration, headers: RetryAfterHeaders) -> HttpResponse {
    let remaining_ms = remaining.as_micros().div_ceil(1000).max(1);
    let retry_after_s = remaining_ms.div_ceil(1000).max(1);
    let mut response = HttpResponse::TooManyRequests();
    if headers != RetryAfterHeaders::None {
        response.insert_header((header::RETRY_AFTER, retry_after_s.to_string()));
    }
    if headers == RetryAfterHeaders::Both {
        response.insert_header(("Retry-After-Ms", remaining_ms.to_string()));
    }
    response.json(AttendanceReply {
        success: false,
        message: format!("Too many requests: retry in {remaining_ms} ms"),
        reason: None,
    })
}

fn unknown_key(key: &str) -> HttpResponse {
    HttpResponse::NotFound()
        .json(json!({"success": false, "message": format!("unknown key {key}")}))
}

async fn list_keys(state: web::Data<SimState>) -> HttpResponse {
    HttpResponse::Ok().json(state.specs())
}

async fn put_key(
    path: web::Path<String>,
    body: web::Json<KeyBody>,
    state: web::Data<SimState>,
) -> HttpResponse {
    let spec = body.into_inner().into_spec(path.into_inner());
    state.put_key(spec.clone());
    HttpResponse::Ok().json(spec)
}

async fn delete_key(path: web::Path<String>, state: web::Data<SimState>) -> HttpResponse {
    if state.remove_key(&path) {
        HttpResponse::NoContent().finish()
    } else {
        unknown_key(&path)
    }
}

async fn put_faults(
    path: web::Path<String>,
    body: web::Json<Faults>,
    state: web::Data<SimState>,
) -> HttpResponse {
    let faults = body.into_inner();
    if let Err(e) = faults.validate() {
        return HttpResponse::BadRequest().json(json!({"success": false, "message": e}));
    }
    if state.set_faults(&path, faults.clone()) {
        HttpResponse::Ok().json(faults)
    } else {
        unknown_key(&path)
    }
}

async fn get_faults(path: web::Path<String>, state: web::Data<SimState>) -> HttpResponse {
    match state.faults(&path) {
        Some(f) => HttpResponse::Ok().json(f),
        None => unknown_key(&path),
    }
}

async fn put_contract(
    path: web::Path<String>,
    body: web::Json<Contract>,
    state: web::Data<SimState>,
) -> HttpResponse {
    let contract = body.into_inner();
    if state.set_contract(&path, contract.clone()) {
        HttpResponse::Ok().json(contract)
    } else {
        unknown_key(&path)
    }
}

async fn get_contract(path: web::Path<String>, state: web::Data<SimState>) -> HttpResponse {
    match state.contract(&path) {
        Some(c) => HttpResponse::Ok().json(c),
        None => unknown_key(&path),
    }
}

async fn get_ledger(path: web::Path<String>, state: web::Data<SimState>) -> HttpResponse {
    match state.ledger(&path) {
        Some(l) => HttpResponse::Ok().json(l),
        None => unknown_key(&path),
    }
}

async fn get_duplicates(path: web::Path<String>, state: web::Data<SimState>) -> HttpResponse {
    match state.duplicates(&path) {
        Some(d) => HttpResponse::Ok().json(d),
        None => unknown_key(&path),
    }
}

fn rotate_problem(error: RotateError, from: &str, to: &str) -> String {
    match error {
        RotateError::Unknown => format!("unknown key {from}"),
        RotateError::Taken => format!("key {to} is already registered"),
        RotateError::BadName => "the new key must not be empty".to_owned(),
    }
}

async fn rotate_key(
    path: web::Path<String>,
    body: web::Json<RotateBody>,
    state: web::Data<SimState>,
) -> HttpResponse {
    let to = body.into_inner().to;
    match state.rotate_key(&path, &to) {
        Ok(()) => HttpResponse::Ok().json(json!({"key": to})),
        Err(RotateError::Unknown) => unknown_key(&path),
        Err(e) => HttpResponse::BadRequest()
            .json(json!({"success": false, "message": rotate_problem(e, &path, &to)})),
    }
}

async fn get_stats(state: web::Data<SimState>) -> HttpResponse {
    HttpResponse::Ok().json(state.stats())
}

async fn reset(state: web::Data<SimState>) -> HttpResponse {
    state.reset();
    HttpResponse::Ok().json(json!({"reset": true}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up() {
        let r = too_many_requests(Duration::from_micros(1_300), RetryAfterHeaders::Both);
        assert_eq!(r.headers().get("retry-after").unwrap(), "1");
        assert_eq!(r.headers().get("retry-after-ms").unwrap(), "2");
        let r = too_many_requests(Duration::from_millis(1_001), RetryAfterHeaders::Both);
        assert_eq!(r.headers().get("retry-after").unwrap(), "2");
        assert_eq!(r.headers().get("retry-after-ms").unwrap(), "1001");
        let r = too_many_requests(Duration::from_nanos(10), RetryAfterHeaders::Both);
        assert_eq!(r.headers().get("retry-after").unwrap(), "1");
        assert_eq!(r.headers().get("retry-after-ms").unwrap(), "1");
    }

    #[test]
    fn retry_after_headers_follow_the_contract() {
        let r = too_many_requests(Duration::from_millis(400), RetryAfterHeaders::Seconds);
        assert_eq!(r.headers().get("retry-after").unwrap(), "1");
        assert!(r.headers().get("retry-after-ms").is_none());
        let r = too_many_requests(Duration::from_millis(400), RetryAfterHeaders::None);
        assert!(r.headers().get("retry-after").is_none());
        assert!(r.headers().get("retry-after-ms").is_none());
    }
}
