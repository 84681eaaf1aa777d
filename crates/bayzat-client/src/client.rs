//! The HTTP side: one pooled client, the request Bayzat wants, the answer read and handed to
//! `bayzat-reply`, and failures turned into replies.

use std::error::Error as _;
use std::time::{Duration, Instant};

use bayzat_reply::{classify, ConnectionTest, Headers, Reply, RETRY_AFTER, RETRY_AFTER_MS};
use domain::{BayzatRecord, BayzatRequest};
use regex::Regex;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::redirect::Policy;
use reqwest::{Response, Url};
use serde::Serialize;
use tracing::Instrument;

/// Most of an answer's body that is read. Bayzat's answers are a few hundred bytes; a server
/// that sends more is not Bayzat, and its body only feeds an excerpt.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Longest a connection test waits for the key's turn after a 429 before trying once more.
pub const MAX_CONNECTION_TEST_WAIT: Duration = Duration::from_secs(2);

/// How long a connection may stay idle and still carry a request. A server closes a connection
/// idle for its keep-alive (actix-web's, bayzat-sim's, 5 s; nginx's 75 s), and a request sent on
/// one it is just closing gets no answer: a transport failure, retried 5 minutes later. A key
/// sending every second or so keeps its connection in use.
pub const IDLE_CONNECTION_REUSE: Duration = Duration::from_secs(2);
const API_KEY_HEADER: &str = "x-api-key";
const JSON: &str = "application/json";
const REDACTED: &str = "[redacted]";

/// The HTTP client could not be built (in practice: the TLS backend failed to initialise).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the Bayzat HTTP client: {0}")]
pub struct BuildError(#[source] reqwest::Error);

/// A client for Bayzat's attendance API, shared by every company: the URL and key are per call.
/// Cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct BayzatClient {
    http: reqwest::Client,
    timeout: Duration,
    duplicate_pattern: Regex,
}

/// Borrows the records so a request does not copy them.
#[derive(Serialize)]
struct Body<'a> {
    records: &'a [BayzatRecord],
}

/// What one request's answer means, timed: the [`Reply`] with the HTTP status and the latency the
/// caller's request log keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedReply {
    pub reply: Reply,
    /// The HTTP status, `None` when no answer came (timeout, connection error).
    pub status: Option<u16>,
    /// From just before the request was sent until the answer was read or the request failed.
    pub latency: Duration,
}

/// [`BayzatClient::exchange`]'s result: what the request means, and the answer itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    pub outcome: TimedReply,
    /// `None` when no answer came (the same cases as `outcome.status`).
    pub answer: Option<RawAnswer>,
}

/// An answer as it came, for a caller that studies the contract itself (the contract probe)
/// rather than acting on a [`Reply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawAnswer {
    pub status: u16,
    /// As received. Nothing here is redacted, so show single headers, never the map.
    pub headers: HeaderMap,
    /// At most [`MAX_BODY_BYTES`] of the body as text (invalid UTF-8 replaced), with the key
    /// replaced by `[redacted]`.
    pub body: String,
}

/// An answer, whatever its status.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// Why no answer came.
enum Failure {
    /// The key cannot be carried by an HTTP header (control characters, non-ASCII).
    UnusableKey,
    UnusableUrl(String),
    Timeout,
    Connect(String),
    Other(String),
}

impl BayzatClient {
    /// `timeout` (`BAYZAT_HTTP_TIMEOUT`) bounds a whole request, connecting included;
    /// `duplicate_pattern` (`BAYZAT_DUPLICATE_PATTERN`) recognises a duplicate in a refusal's
    /// message.
    ///
    /// # Panics
    /// When the HTTP client cannot be built, as `reqwest::Client::new` does; see [`Self::try_new`].
    pub fn new(timeout: Duration, duplicate_pattern: Regex) -> Self {
        Self::try_new(timeout, duplicate_pattern).expect("the Bayzat HTTP client builds")
    }

    pub fn try_new(timeout: Duration, duplicate_pattern: Regex) -> Result<Self, BuildError> {
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_idle_timeout(IDLE_CONNECTION_REUSE)
            // Following a redirect would hand `x-api-key` to whatever host it names (reqwest
            // strips only the standard credential headers), and a POST redirected to a GET is not
            // a delivery anyway: a 3xx is reported as unexpected.
            .redirect(Policy::none())
            // Bayzat is reached directly; an inherited proxy variable must not reroute the key.
            .no_proxy()
            .user_agent(concat!(
                "attendance-bridge-bayzat-client/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(BuildError)?;
        Ok(Self {
            http,
            timeout,
            duplicate_pattern,
        })
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn duplicate_pattern(&self) -> &Regex {
        &self.duplicate_pattern
    }

    /// Posts `records` as one request and reads the answer. Never fails: every way a request can
    /// go wrong is a [`Reply`]. Keeping to the record limit and the rate limit is the caller's job;
    /// a breach comes back as Bayzat's answer to it.
    pub async fn send(&self, api_url: &str, api_key: &str, records: &[BayzatRecord]) -> TimedReply {
        self.exchange(api_url, api_key, records).await.outcome
    }

    /// [`Self::send`], also handing back the answer as it came.
    pub async fn exchange(
        &self,
        api_url: &str,
        api_key: &str,
        records: &[BayzatRecord],
    ) -> Exchange {
        // Traced as a span of its own; Bayzat is a third party, so no traceparent is sent. The
        // key stays out of the span as out of everything else.
        let span = tracing::info_span!(
            "bayzat_send",
            otel.name = "POST Bayzat attendance",
            otel.kind = "client",
            records = records.len(),
            http.response.status_code = tracing::field::Empty,
        );
        async {
            let body = serde_json::to_vec(&Body { records })
                .expect("records are plain strings and always serialize");
            let started = Instant::now();
            let result = self.post(api_url, api_key, body).await;
            let latency = started.elapsed();
            let (reply, answer) = match result {
                Ok(answer) => (
                    classify(
                        answer.status,
                        &contract_headers(&answer.headers),
                        &answer.body,
                        &self.duplicate_pattern,
                    ),
                    Some(RawAnswer {
                        status: answer.status,
                        body: redact(String::from_utf8_lossy(&answer.body).into_owned(), api_key),
                        headers: answer.headers,
                    }),
                ),
                // Bayzat would refuse such a key anyway, and the operator must replace it.
                Err(Failure::UnusableKey) => (Reply::Unauthorized, None),
                Err(failure) => (
                    Reply::Transient {
                        status: None,
                        detail: self.describe(&failure),
                    },
                    None,
                ),
            };
            let status = answer.as_ref().map(|a| a.status);
            if let Some(status) = status {
                tracing::Span::current().record("http.response.status_code", status);
            }
            let reply = reply.map_text(|text| redact(text, api_key));
            tracing::debug!(
                status,
                latency_ms = millis(latency),
                kind = reply.kind(),
                reply = ?reply,
                "bayzat answered"
            );
            Exchange {
                outcome: TimedReply {
                    reply,
                    status,
                    latency,
                },
                answer,
            }
        }
        .instrument(span)
        .await
    }

    /// Checks the URL and the key with an empty request, so that no punch can be created.
    /// The empty body is built here, not taken from the caller, to keep that promise.
    pub async fn test_connection(&self, api_url: &str, api_key: &str) -> ConnectionTest {
        let span = tracing::info_span!("bayzat_test_connection", otel.kind = "client");
        async {
            let body = serde_json::to_vec(&BayzatRequest::empty())
                .expect("an empty request always serializes");
            let started = Instant::now();
            let mut answer = self.post(api_url, api_key, body.clone()).await;
            // A key allows one request a second, and the company's sender or a test a moment
            // ago may have used it: wait the key's turn once rather than report a busy key.
            if let Ok(busy) = &answer {
                if busy.status == 429 {
                    let wait = contract_headers(&busy.headers)
                        .retry_after()
                        .unwrap_or(Duration::from_secs(1));
                    if wait <= MAX_CONNECTION_TEST_WAIT {
                        tokio::time::sleep(wait).await;
                        answer = self.post(api_url, api_key, body).await;
                    }
                }
            }
            let result = match answer {
                Ok(answer) => ConnectionTest::from_answer(answer.status, &answer.body),
                Err(Failure::UnusableKey) => ConnectionTest::InvalidKey,
                Err(failure) => ConnectionTest::Unreachable {
                    cause: self.describe(&failure),
                },
            }
            .map_text(|text| redact(text, api_key));
            tracing::debug!(
                latency_ms = millis(started.elapsed()),
                result = ?result,
                "bayzat connection test"
            );
            result
        }
        .instrument(span)
        .await
    }

    async fn post(&self, api_url: &str, api_key: &str, body: Vec<u8>) -> Result<Answer, Failure> {
        let url = Url::parse(api_url).map_err(|e| Failure::UnusableUrl(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Failure::UnusableUrl(format!(
                "scheme {:?} is neither http nor https",
                url.scheme()
            )));
        }
        let mut key = HeaderValue::from_str(api_key).map_err(|_| Failure::UnusableKey)?;
        // Keeps the value out of every Debug of the request and its headers.
        key.set_sensitive(true);
        let response = self
            .http
            .post(url)
            .header(API_KEY_HEADER, key)
            .header(CONTENT_TYPE, JSON)
            .header(ACCEPT, JSON)
            .body(body)
            .send()
            .await
            .map_err(|e| self.failure(e))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = read_body(response).await;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    fn failure(&self, err: reqwest::Error) -> Failure {
        if err.is_timeout() {
            Failure::Timeout
        } else if err.is_connect() {
            Failure::Connect(causes(err))
        } else if err.is_builder() {
            Failure::UnusableUrl(causes(err))
        } else {
            Failure::Other(causes(err))
        }
    }

    fn describe(&self, failure: &Failure) -> String {
        match failure {
            Failure::UnusableKey => "the API key cannot be sent in an HTTP header".to_owned(),
            Failure::UnusableUrl(cause) => format!("unusable api_url: {cause}"),
            Failure::Timeout => format!("no answer within {:?}", self.timeout),
            Failure::Connect(cause) => format!("connection failed: {cause}"),
            Failure::Other(cause) => format!("request failed: {cause}"),
        }
    }
}

/// The headers the contract gives a meaning to, as `bayzat-reply` reads them: the first value of
/// each, and none when a value is not text.
fn contract_headers(headers: &HeaderMap) -> Headers<'_> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    Headers {
        retry_after_ms: text(RETRY_AFTER_MS),
        retry_after: text(RETRY_AFTER),
    }
}

/// Reads at most [`MAX_BODY_BYTES`]. A body cut short by a timeout or a reset is classified as
/// far as it got: the status is known, and an incomplete 200 does not parse, so it counts as not
/// stored, which a resend settles.
async fn read_body(mut response: Response) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_BODY_BYTES - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if body.len() >= MAX_BODY_BYTES {
                    break;
                }
            }
            Ok(None) => break,
            Err(err) => {
                tracing::debug!(error = %causes(err), read = body.len(), "answer body cut short");
                break;
            }
        }
    }
    body
}

/// The error and its sources, without the URL: reqwest's own text repeats it on every error,
/// and the caller already knows which company it called.
fn causes(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.contains(&text) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

/// A server or a library may echo what it was sent; the key must not leave this crate that way.
fn redact(text: String, api_key: &str) -> String {
    if api_key.is_empty() || !text.contains(api_key) {
        text
    } else {
        text.replace(api_key, REDACTED)
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction() {
        assert_eq!(
            redact("unknown key s3cret!".into(), "s3cret!"),
            "unknown key [redacted]"
        );
        assert_eq!(
            redact("s3cret!s3cret!".into(), "s3cret!"),
            "[redacted][redacted]"
        );
        assert_eq!(redact("nothing here".into(), "s3cret!"), "nothing here");
        assert_eq!(redact("nothing here".into(), ""), "nothing here");
    }

    #[test]
    fn the_contract_headers_are_handed_over_as_text() {
        let mut map = HeaderMap::new();
        map.append(RETRY_AFTER_MS, HeaderValue::from_static("250"));
        map.append(RETRY_AFTER_MS, HeaderValue::from_static("900"));
        map.insert(RETRY_AFTER, HeaderValue::from_bytes(b"\xff2").unwrap());
        assert_eq!(
            contract_headers(&map),
            Headers {
                retry_after_ms: Some("250"),
                retry_after: None,
            }
        );
        assert_eq!(contract_headers(&HeaderMap::new()), Headers::default());
    }

    #[test]
    fn debug_never_shows_a_key() {
        let client = BayzatClient::new(Duration::from_secs(1), crate::default_duplicate_pattern());
        let text = format!("{client:?}");
        assert!(text.contains("BayzatClient"), "{text}");
        let mut key = HeaderValue::from_static("s3cret-value");
        key.set_sensitive(true);
        assert!(!format!("{key:?}").contains("s3cret"));
    }
}
