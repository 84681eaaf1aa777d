//! Untrusted input at the door. Before a handler sees a request, every path parameter, query
//! parameter and field of a JSON or form body is checked for control characters, and a request
//! body that stops arriving is given up after a bound.
//!
//! The rule for text: no identifier, name, filter or setting the APIs take holds multi-line text,
//! so every text value refuses every control character (U+0000–U+001F, U+007F–U+009F; tab, CR
//! and LF included). A refused value is a 400 problem with `code: "invalid_text"` whose `field`
//! names it (`name`, `employees[3].name`, a query parameter, a path parameter); nothing reaches
//! the database, where a NUL would otherwise fail the statement or cut the text.
//!
//! Bodies: a read that waits longer than the read timeout for the next bytes ends the request
//! with 408 `body_timeout` and the connection is closed; a handler that streams the body (an
//! upload) gets an error from the stream and cleans up as for any other failed read.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes, BytesMut};
use actix_web::{HttpMessage, HttpResponse, ResponseError};
use futures_util::Stream;
use serde_json::Value;

use crate::Problem;

/// What [`checked_input`] enforces; registered by [`crate::api_defaults`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputLimits {
    /// The largest JSON or form body read into memory to be checked.
    pub body_limit: usize,
    /// How long a body read may wait for the next bytes.
    pub read_timeout: Duration,
}

impl InputLimits {
    /// The read timeout when none is configured.
    pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);
}

impl Default for InputLimits {
    fn default() -> Self {
        Self {
            body_limit: 256 * 1024,
            read_timeout: Self::DEFAULT_READ_TIMEOUT,
        }
    }
}

/// The first control character of `text`, if any.
pub fn control_char(text: &str) -> Option<char> {
    text.chars().find(|c| c.is_control())
}

/// The 400 `invalid_text` problem for `field`, which holds `found`.
pub fn invalid_text(field: &str, found: char) -> Problem {
    let field: String = field.escape_debug().collect();
    Problem::new(
        StatusCode::BAD_REQUEST,
        "invalid_text",
        "A text value holds a control character",
    )
    .with_detail(format!(
        "`{field}` holds the control character U+{:04X}; no value may hold control characters",
        u32::from(found)
    ))
    .with_extension("field", field)
}

/// Refuses `value` when it holds a control character, naming `field`.
pub fn check_text(field: &str, value: &str) -> Result<(), Problem> {
    match control_char(value) {
        Some(found) => Err(invalid_text(field, found)),
        None => Ok(()),
    }
}

/// The first string (or object key) of a JSON document that holds a control character: its
/// field path (`employees[3].name`) and the character.
pub fn control_char_in_json(value: &Value) -> Option<(String, char)> {
    fn walk(value: &Value, path: &mut String) -> Option<char> {
        match value {
            Value::String(text) => control_char(text),
            Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                let found = walk(item, path);
                if found.is_none() {
                    path.truncate(len);
                }
                found
            }),
            Value::Object(map) => map.iter().find_map(|(key, item)| {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                let found = control_char(key).or_else(|| walk(item, path));
                if found.is_none() {
                    path.truncate(len);
                }
                found
            }),
            _ => None,
        }
    }
    let mut path = String::new();
    let found = walk(value, &mut path)?;
    if path.is_empty() {
        path.push_str("body");
    }
    Some((path, found))
}

/// The first `name=value` pair of a query string or form body that holds a control character.
fn control_char_in_pairs(encoded: &str) -> Option<(String, char)> {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(encoded).ok()?;
    pairs.iter().find_map(|(name, value)| {
        control_char(name)
            .or_else(|| control_char(value))
            .map(|found| (name.clone(), found))
    })
}

/// Percent-decodes one path segment (invalid UTF-8 becomes U+FFFD).
fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((high * 16 + low) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The name of a route pattern's segment (`{company}` → `company`), if it is a parameter.
fn parameter_name(segment: &str) -> Option<&str> {
    let inner = segment.strip_prefix('{')?;
    let end = inner.find(['}', ':'])?;
    Some(&inner[..end])
}

/// The first path segment that holds a control character once decoded, named by the route's
/// parameter when the route has one there.
fn check_path(req: &ServiceRequest) -> Result<(), Problem> {
    let path = req.path();
    if !path.contains('%') {
        return Ok(());
    }
    let pattern = req.match_pattern().unwrap_or_default();
    let names: Vec<&str> = pattern.split('/').collect();
    for (i, segment) in path.split('/').enumerate() {
        if let Some(found) = control_char(&percent_decode(segment)) {
            let field = names
                .get(i)
                .and_then(|segment| parameter_name(segment))
                .unwrap_or("path");
            return Err(invalid_text(field, found));
        }
    }
    Ok(())
}

fn check_query(req: &ServiceRequest) -> Result<(), Problem> {
    match control_char_in_pairs(req.query_string()) {
        Some((field, found)) => Err(invalid_text(&field, found)),
        None => Ok(()),
    }
}

/// The kind of body the middleware reads and checks itself.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Checked {
    Json,
    Form,
}

fn checked_kind(req: &ServiceRequest) -> Option<Checked> {
    let content_type = req.headers().get(CONTENT_TYPE)?.to_str().ok()?;
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json" || essence.ends_with("+json") {
        Some(Checked::Json)
    } else if essence == "application/x-www-form-urlencoded" {
        Some(Checked::Form)
    } else {
        None
    }
}

fn check_body(kind: Checked, body: &[u8]) -> Result<(), Problem> {
    let found = match kind {
        // A body that is not JSON is left to the handler's extractor, which says so.
        Checked::Json => serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|value| control_char_in_json(&value)),
        Checked::Form => control_char_in_pairs(&String::from_utf8_lossy(body)),
    };
    match found {
        Some((field, found)) => Err(invalid_text(&field, found)),
        None => Ok(()),
    }
}

/// The 408 answer to a body that stopped arriving; the connection is closed.
pub fn body_timeout(timeout: Duration) -> HttpResponse {
    let problem = Problem::new(
        StatusCode::REQUEST_TIMEOUT,
        "body_timeout",
        "The request body stopped arriving",
    )
    .with_detail(format!(
        "no bytes of the body arrived for {} s",
        timeout.as_secs_f64()
    ));
    let mut response = problem.error_response();
    response
        .head_mut()
        .set_connection_type(actix_web::http::ConnectionType::Close);
    response
}

/// Whether a payload error is the read timeout of [`checked_input`].
pub fn is_body_timeout(error: &PayloadError) -> bool {
    matches!(error, PayloadError::Io(e) if e.kind() == std::io::ErrorKind::TimedOut)
}

enum ReadError {
    TooLarge,
    TimedOut,
    Broken,
}

async fn read_all(payload: &mut TimedPayload, limit: usize) -> Result<Bytes, ReadError> {
    use futures_util::StreamExt;
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            if is_body_timeout(&e) {
                ReadError::TimedOut
            } else {
                ReadError::Broken
            }
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ReadError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The middleware every API registers (`App::new().wrap(from_fn(checked_input))`): refuses
/// control characters in path parameters, query parameters and JSON or form bodies (400
/// `invalid_text` naming the field), and bounds every body read (408 `body_timeout`).
pub async fn checked_input<B: MessageBody + 'static>(
    mut req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let limits = req
        .app_data::<web::Data<InputLimits>>()
        .map(|limits| *limits.get_ref())
        .unwrap_or_default();
    if let Err(problem) = check_path(&req).and_then(|()| check_query(&req)) {
        return refuse(req, problem.error_response());
    }
    let timed_out = Arc::new(AtomicBool::new(false));
    let mut payload = TimedPayload {
        inner: req.take_payload(),
        timeout: limits.read_timeout,
        timer: None,
        timed_out: timed_out.clone(),
    };
    match checked_kind(&req) {
        Some(kind) => {
            let announced = req
                .headers()
                .get(actix_web::http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
            if announced.is_some_and(|length| length > limits.body_limit) {
                return refuse(req, too_large(limits.body_limit));
            }
            let body = match read_all(&mut payload, limits.body_limit).await {
                Ok(body) => body,
                Err(ReadError::TimedOut) => return refuse(req, body_timeout(limits.read_timeout)),
                Err(ReadError::TooLarge) => return refuse(req, too_large(limits.body_limit)),
                Err(ReadError::Broken) => {
                    let problem = Problem::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_body",
                        "The request body could not be read",
                    );
                    return refuse(req, problem.error_response());
                }
            };
            if let Err(problem) = check_body(kind, &body) {
                return refuse(req, problem.error_response());
            }
            req.set_payload(Payload::from(body));
        }
        None => req.set_payload(Payload::Stream {
            payload: Box::pin(payload),
        }),
    }
    let result = next.call(req).await;
    if timed_out.load(Ordering::Relaxed) {
        // Whatever the handler made of the broken read, the answer is the timeout.
        return match result {
            Ok(response) => Ok(response
                .into_response(body_timeout(limits.read_timeout))
                .map_into_right_body()),
            Err(_) => Err(BodyTimedOut(limits.read_timeout).into()),
        };
    }
    result.map(ServiceResponse::map_into_left_body)
}

/// The timeout as an error, for when the handler answered with an error.
#[derive(Debug)]
struct BodyTimedOut(Duration);

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body stopped arriving")
    }
}

impl ResponseError for BodyTimedOut {
    fn status_code(&self) -> StatusCode {
        StatusCode::REQUEST_TIMEOUT
    }

    fn error_response(&self) -> HttpResponse {
        body_timeout(self.0)
    }
}

fn refuse<B>(
    req: ServiceRequest,
    response: HttpResponse,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    Ok(req.into_response(response).map_into_right_body())
}

fn too_large(limit: usize) -> HttpResponse {
    let problem = Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        "The request body is too large",
    )
    .with_detail(format!("at most {limit} bytes"));
    let mut response = problem.error_response();
    response
        .head_mut()
        .set_connection_type(actix_web::http::ConnectionType::Close);
    response
}

/// A request body whose every read gives up after `timeout` without new bytes.
struct TimedPayload {
    inner: Payload,
    timeout: Duration,
    /// Started when a read has to wait, dropped when bytes arrive.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    timed_out: Arc<AtomicBool>,
}

impl Stream for TimedPayload {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.timed_out.load(Ordering::Relaxed) {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(item) => {
                this.timer = None;
                Poll::Ready(item)
            }
            Poll::Pending => {
                let timeout = this.timeout;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.timer = None;
                        this.timed_out.store(true, Ordering::Relaxed);
                        Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "the request body stopped arriving",
                        )))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn control_characters_are_found_and_named() {
        let table = [
            (json!({ "name": "ok", "slug": "a\u{0}b" }), Some("slug")),
            (
                json!({ "employees": [{ "name": "x" }, { "name": "y\u{1}" }] }),
                Some("employees[1].name"),
            ),
            (json!({ "settings": { "k\ny": 1 } }), Some("settings.k\ny")),
            (json!({ "name": "tab\there" }), Some("name")),
            (json!({ "name": "DEL\u{7f}" }), Some("name")),
            (json!("\u{0}"), Some("body")),
            (json!({ "name": "عربي", "n": 1, "ok": [true, null] }), None),
        ];
        for (value, field) in table {
            assert_eq!(
                control_char_in_json(&value).map(|(path, _)| path),
                field.map(str::to_owned),
                "{value}"
            );
        }
        assert_eq!(
            control_char_in_pairs("a=1&search=x%00y"),
            Some(("search".to_owned(), '\0'))
        );
        assert_eq!(control_char_in_pairs("a=1&b=caf%C3%A9+x"), None);
    }

    #[test]
    fn path_segments_are_decoded_and_named_by_the_route() {
        assert_eq!(percent_decode("a%00b"), "a\0b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%e2%82%ac"), "€");
        assert_eq!(parameter_name("{company}"), Some("company"));
        assert_eq!(parameter_name("{id:\\d+}"), Some("id"));
        assert_eq!(parameter_name("v1"), None);
    }

    #[test]
    fn the_problem_names_the_field_without_echoing_the_value() {
        let problem = invalid_text("name", '\0');
        assert_eq!(problem.status, 400);
        assert_eq!(problem.code, "invalid_text");
        assert_eq!(problem.extensions["field"], "name");
        assert!(problem.detail.as_deref().unwrap().contains("U+0000"));
    }
}
