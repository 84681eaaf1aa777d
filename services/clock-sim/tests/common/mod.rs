//! Shared by the integration tests: a minimal push server built on `clock-push`, and waiting on
//! conditions.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use clock_push::{
    classify, handshake_reply, parse_attlog_bytes, parse_command_results, poll_reply, upload_ack,
    AttLogRecord, CommandResult, DeviceCommand, HandshakeOptions, Table, TerminalRequest,
};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How the push server answers uploads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadAnswer {
    Ok,
    /// A 503, as a server that is overloaded.
    Unavailable,
    /// A 200 whose text is not `OK: <n>`.
    Error,
}

#[derive(Default)]
pub struct Seen {
    pub handshakes: Vec<String>,
    /// Every ATTLOG upload body, as parsed, acknowledged or not.
    pub uploads: Vec<Vec<AttLogRecord>>,
    /// Uploads answered with `OK: <n>`.
    pub acked: Vec<Vec<AttLogRecord>>,
    pub polls: usize,
    pub results: Vec<CommandResult>,
    pub queued: Vec<DeviceCommand>,
    /// Uploads still to refuse, and how.
    pub refuse: usize,
    pub refusal: Option<UploadAnswer>,
}

pub type SeenRef = Arc<Mutex<Seen>>;

pub struct PushServer {
    pub addr: SocketAddr,
    pub seen: SeenRef,
    /// Set on stop: a connection the stopping server still holds is answered 503, unrecorded.
    closed: Arc<AtomicBool>,
    handle: ServerHandle,
    task: JoinHandle<std::io::Result<()>>,
}

impl PushServer {
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0", Arc::default()).await
    }

    /// Starts on `bind` with an existing record, so a server can come back on the same port.
    pub async fn start_on(bind: &str, seen: SeenRef) -> Self {
        let data = web::Data::new(seen.clone());
        let closed = Arc::new(AtomicBool::new(false));
        let closed_data = web::Data::new(closed.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(closed_data.clone())
                .default_service(web::to(handle))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .bind(bind)
        .expect("the push server binds");
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        let task = tokio::spawn(server);
        Self {
            addr,
            seen,
            closed,
            handle,
            task,
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops listening. A kept-alive connection can outlive the stop for a moment; what comes on
    /// it meanwhile is refused, so a stopped server acknowledges nothing.
    pub async fn stop(self) {
        self.closed.store(true, Ordering::SeqCst);
        self.handle.stop(false).await;
        let _ = self.task.await;
    }

    pub fn refuse_next(&self, uploads: usize, how: UploadAnswer) {
        let mut seen = self.seen.lock().unwrap();
        seen.refuse = uploads;
        seen.refusal = Some(how);
    }

    pub fn queue(&self, command: DeviceCommand) {
        self.seen.lock().unwrap().queued.push(command);
    }

    pub fn with<T>(&self, f: impl FnOnce(&Seen) -> T) -> T {
        f(&self.seen.lock().unwrap())
    }

    /// Every acknowledged record, in arrival order.
    pub fn acked_records(&self) -> Vec<AttLogRecord> {
        self.with(|s| s.acked.iter().flatten().cloned().collect())
    }
}

async fn handle(
    seen: web::Data<SeenRef>,
    closed: web::Data<Arc<AtomicBool>>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    if closed.load(Ordering::SeqCst) {
        return HttpResponse::ServiceUnavailable().finish();
    }
    let request = match classify(req.method().as_str(), req.path(), req.query_string()) {
        Ok(r) => r,
        Err(e) => return HttpResponse::BadRequest().body(e.to_string()),
    };
    let mut seen = seen.lock().unwrap();
    match request {
        TerminalRequest::Handshake { serial, .. } => {
            seen.handshakes.push(serial.to_string());
            HttpResponse::Ok().body(handshake_reply(&serial, &HandshakeOptions::default()))
        }
        TerminalRequest::Upload { table, .. } => {
            let parsed = parse_attlog_bytes(&body);
            assert_eq!(table, Table::AttLog);
            assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
            seen.uploads.push(parsed.records.clone());
            if seen.refuse > 0 {
                seen.refuse -= 1;
                return match seen.refusal.unwrap_or(UploadAnswer::Error) {
                    UploadAnswer::Unavailable => HttpResponse::ServiceUnavailable().finish(),
                    _ => HttpResponse::Ok().body("ERROR"),
                };
            }
            let n = parsed.lines();
            seen.acked.push(parsed.records);
            HttpResponse::Ok().body(upload_ack(n))
        }
        TerminalRequest::Poll { .. } => {
            seen.polls += 1;
            let queued = std::mem::take(&mut seen.queued);
            HttpResponse::Ok().body(poll_reply(&queued))
        }
        TerminalRequest::CommandResult { .. } => {
            let parsed = parse_command_results(&String::from_utf8_lossy(&body));
            seen.results.extend(parsed.results);
            HttpResponse::Ok().body("OK")
        }
    }
}

/// Polls `condition` until it holds, panicking with `what` after `timeout`.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if condition().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub const WAIT: Duration = Duration::from_secs(20);
