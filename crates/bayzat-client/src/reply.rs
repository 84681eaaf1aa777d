//! What an answer from Bayzat means for a delivery: a pure function over status, headers and body.

use std::time::Duration;

use regex::Regex;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde_json::Value;

/// `BAYZAT_DUPLICATE_PATTERN`'s default. Whether the real service says "duplicate" or "already
/// exists" is unknown, so both are recognised.
pub const DEFAULT_DUPLICATE_PATTERN: &str = "(?i)duplicate|already exists";

/// Longest body excerpt handed back for an answer nobody expected: enough to diagnose, short
/// enough for a log line or a status column.
pub const EXCERPT_CHARS: usize = 200;

/// Longest refusal message kept. The message is shown to the operator next to a rejected punch,
/// so it is kept whole unless a server sends something absurd.
pub const MESSAGE_CHARS: usize = 1000;

/// The header in which the simulator (and perhaps Bayzat) gives the exact wait, where
/// `Retry-After` can only say whole seconds.
const RETRY_AFTER_MS: &str = "retry-after-ms";

/// [`DEFAULT_DUPLICATE_PATTERN`], compiled.
pub fn default_duplicate_pattern() -> Regex {
    Regex::new(DEFAULT_DUPLICATE_PATTERN).expect("the default duplicate pattern compiles")
}

/// What Bayzat's answer to one request means for the records in it (docs/architecture.md#delivery-rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// 200 with `"success": true`: every record of the request is Bayzat's now.
    Accepted,
    /// Nothing is known to have been stored; try again later. 200 without `"success": true`, any
    /// 5xx, a timeout, a connection that failed. `status` is `None` when no answer came.
    Transient { status: Option<u16>, detail: String },
    /// 400: Bayzat refused the whole request. `duplicate` says the refusal is about a punch Bayzat
    /// already holds, recognised by the simulator's `reason` or by the duplicate pattern over the
    /// message; which record it is about is never assumed.
    Refused {
        message: String,
        reason: Option<String>,
        duplicate: bool,
    },
    /// 401 or 403: the company's key is missing, wrong or revoked.
    Unauthorized,
    /// 429: too fast for this key. `retry_after` is `Retry-After-Ms`, else `Retry-After` in
    /// seconds; `None` when neither is usable, and the caller waits its own interval.
    RateLimited { retry_after: Option<Duration> },
    /// Any other status (3xx, 404, ...): the URL or the service is not what the contract says.
    Unexpected { status: u16, body_excerpt: String },
}

impl Reply {
    /// A stable, low-cardinality name for metrics labels and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Reply::Accepted => "accepted",
            Reply::Transient { .. } => "transient",
            Reply::Refused { .. } => "refused",
            Reply::Unauthorized => "unauthorized",
            Reply::RateLimited { .. } => "rate_limited",
            Reply::Unexpected { .. } => "unexpected",
        }
    }

    /// Rewrites every text the reply carries, so that a server echoing the key cannot smuggle it
    /// into logs or the database.
    pub(crate) fn map_text(self, f: impl Fn(String) -> String) -> Self {
        match self {
            Reply::Transient { status, detail } => Reply::Transient {
                status,
                detail: f(detail),
            },
            Reply::Refused {
                message,
                reason,
                duplicate,
            } => Reply::Refused {
                message: f(message),
                reason: reason.map(&f),
                duplicate,
            },
            Reply::Unexpected {
                status,
                body_excerpt,
            } => Reply::Unexpected {
                status,
                body_excerpt: f(body_excerpt),
            },
            other => other,
        }
    }
}

/// One request's result, with what the caller's request log needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub reply: Reply,
    /// The HTTP status, `None` when no answer came (timeout, connection error).
    pub status: Option<u16>,
    /// From just before the request was sent until the answer was read or the request failed.
    pub latency: Duration,
}

/// Reads one answer of `POST {api_url}`. Pure, so the contract's table is tested as a table.
pub fn classify(status: u16, headers: &HeaderMap, body: &[u8], duplicate_pattern: &Regex) -> Reply {
    match status {
        200 => {
            let json = parse(body);
            match json
                .as_ref()
                .and_then(|v| v.get("success"))
                .and_then(Value::as_bool)
            {
                Some(true) => Reply::Accepted,
                // Bayzat has been seen answering 200 without storing anything. Treating anything
                // short of an explicit `true` as not stored is safe: a resend of what did land is
                // refused as a duplicate, which the sender counts as delivered.
                Some(false) => Reply::Transient {
                    status: Some(200),
                    detail: format!(
                        "answered 200 with success false: {}",
                        json.as_ref()
                            .and_then(message)
                            .unwrap_or_else(|| excerpt(body))
                    ),
                },
                None => Reply::Transient {
                    status: Some(200),
                    detail: format!("answered 200 without success true: {}", excerpt(body)),
                },
            }
        }
        400 => {
            let json = parse(body);
            let message = json
                .as_ref()
                .and_then(message)
                .map(|m| truncate(&m, MESSAGE_CHARS))
                .unwrap_or_else(|| excerpt(body));
            let reason = json
                .as_ref()
                .and_then(|v| v.get("reason"))
                .and_then(Value::as_str)
                .map(|r| truncate(r, EXCERPT_CHARS));
            let duplicate =
                reason.as_deref() == Some("duplicate") || duplicate_pattern.is_match(&message);
            Reply::Refused {
                message,
                reason,
                duplicate,
            }
        }
        401 | 403 => Reply::Unauthorized,
        429 => Reply::RateLimited {
            retry_after: retry_after(headers),
        },
        500..=599 => Reply::Transient {
            status: Some(status),
            detail: format!("answered {status}: {}", excerpt(body)),
        },
        _ => Reply::Unexpected {
            status,
            body_excerpt: excerpt(body),
        },
    }
}

fn parse(body: &[u8]) -> Option<Value> {
    serde_json::from_slice(body).ok()
}

fn message(json: &Value) -> Option<String> {
    json.get("message")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
}

/// `Retry-After-Ms` first because it is exact; a value that cannot be read falls through to the
/// next source rather than to a made-up wait. `Retry-After` as an HTTP date is not read: the
/// caller's own interval is as good a guess.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds = |name: &str, scale: f64| {
        let text = headers.get(name)?.to_str().ok()?.trim();
        let value: f64 = text.parse().ok()?;
        Duration::try_from_secs_f64(value / scale).ok()
    };
    seconds(RETRY_AFTER_MS, 1000.0).or_else(|| seconds(RETRY_AFTER.as_str(), 1.0))
}

/// The start of a body as text, for answers that are not what the contract says.
pub(crate) fn excerpt(body: &[u8]) -> String {
    truncate(String::from_utf8_lossy(body).trim(), EXCERPT_CHARS)
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => text[..end].to_owned(),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    /// Header pairs of one case of the table.
    type Headers<'a> = &'a [(&'static str, &'a str)];

    fn headers(pairs: Headers) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn transient(status: Option<u16>, detail: &str) -> Reply {
        Reply::Transient {
            status,
            detail: detail.to_owned(),
        }
    }

    fn refused(message: &str, reason: Option<&str>, duplicate: bool) -> Reply {
        Reply::Refused {
            message: message.to_owned(),
            reason: reason.map(str::to_owned),
            duplicate,
        }
    }

    fn unexpected(status: u16, body_excerpt: &str) -> Reply {
        Reply::Unexpected {
            status,
            body_excerpt: body_excerpt.to_owned(),
        }
    }

    fn limited(retry_after: Option<Duration>) -> Reply {
        Reply::RateLimited { retry_after }
    }

    #[test]
    fn the_contracts_table() {
        let ms = Duration::from_millis;
        let none: &[(&str, &str)] = &[];
        let cases: Vec<(u16, Headers, &str, Reply)> = vec![
            (
                200,
                none,
                r#"{"success":true,"message":"ok"}"#,
                Reply::Accepted,
            ),
            (200, none, r#"{"success":true}"#, Reply::Accepted),
            (
                200,
                none,
                r#"{"success":false,"message":"try later"}"#,
                transient(Some(200), "answered 200 with success false: try later"),
            ),
            (
                200,
                none,
                r#"{"success":false}"#,
                transient(
                    Some(200),
                    r#"answered 200 with success false: {"success":false}"#,
                ),
            ),
            (
                200,
                none,
                r#"{"success":"true"}"#,
                transient(
                    Some(200),
                    r#"answered 200 without success true: {"success":"true"}"#,
                ),
            ),
            (
                200,
                none,
                "OK",
                transient(Some(200), "answered 200 without success true: OK"),
            ),
            (
                200,
                none,
                "",
                transient(Some(200), "answered 200 without success true: "),
            ),
            (
                400,
                none,
                r#"{"success":false,"message":"Unknown employee 9 at 2023-04-30 09:00:00","reason":"unknown_employee"}"#,
                refused(
                    "Unknown employee 9 at 2023-04-30 09:00:00",
                    Some("unknown_employee"),
                    false,
                ),
            ),
            (
                400,
                none,
                r#"{"success":false,"message":"Punch 1 at 2023-04-30 09:00:00 refused","reason":"duplicate"}"#,
                refused(
                    "Punch 1 at 2023-04-30 09:00:00 refused",
                    Some("duplicate"),
                    true,
                ),
            ),
            (
                400,
                none,
                r#"{"success":false,"message":"Duplicate record for employee 1"}"#,
                refused("Duplicate record for employee 1", None, true),
            ),
            (
                400,
                none,
                r#"{"success":false,"message":"Attendance ALREADY EXISTS for 1"}"#,
                refused("Attendance ALREADY EXISTS for 1", None, true),
            ),
            (
                400,
                none,
                r#"{"success":false,"message":"Invalid type","reason":"bad_type"}"#,
                refused("Invalid type", Some("bad_type"), false),
            ),
            (
                400,
                none,
                r#"{"success":false,"message":"too many","reason":"too_many_records"}"#,
                refused("too many", Some("too_many_records"), false),
            ),
            // No JSON message: the pattern still reads what there is.
            (
                400,
                none,
                "duplicate entry",
                refused("duplicate entry", None, true),
            ),
            (
                400,
                none,
                "Bad Request",
                refused("Bad Request", None, false),
            ),
            (
                400,
                none,
                r#"{"error":"bad"}"#,
                refused(r#"{"error":"bad"}"#, None, false),
            ),
            (
                401,
                none,
                r#"{"success":false,"message":"Unauthorized"}"#,
                Reply::Unauthorized,
            ),
            (401, none, "", Reply::Unauthorized),
            (403, none, "Forbidden", Reply::Unauthorized),
            (
                429,
                &[("retry-after", "1"), ("retry-after-ms", "312")],
                "",
                limited(Some(ms(312))),
            ),
            (429, &[("retry-after", "2")], "", limited(Some(ms(2000)))),
            (429, &[("retry-after", "0.5")], "", limited(Some(ms(500)))),
            (429, &[("retry-after-ms", "0")], "", limited(Some(ms(0)))),
            (
                429,
                &[("retry-after-ms", "x"), ("retry-after", "3")],
                "",
                limited(Some(ms(3000))),
            ),
            (429, &[("retry-after-ms", "-5")], "", limited(None)),
            (
                429,
                &[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")],
                "",
                limited(None),
            ),
            (429, &[("retry-after", "NaN")], "", limited(None)),
            (429, &[("retry-after", "1e300")], "", limited(None)),
            (429, none, r#"{"success":false}"#, limited(None)),
            (
                500,
                none,
                "Internal Server Error",
                transient(Some(500), "answered 500: Internal Server Error"),
            ),
            (
                502,
                none,
                "<html>bad gateway</html>",
                transient(Some(502), "answered 502: <html>bad gateway</html>"),
            ),
            (503, none, "", transient(Some(503), "answered 503: ")),
            (404, none, "Not Found", unexpected(404, "Not Found")),
            (
                301,
                &[("location", "https://elsewhere/")],
                "",
                unexpected(301, ""),
            ),
            (
                201,
                none,
                r#"{"success":true}"#,
                unexpected(201, r#"{"success":true}"#),
            ),
            (418, none, "  teapot \n", unexpected(418, "teapot")),
        ];
        let pattern = default_duplicate_pattern();
        for (status, pairs, body, expected) in cases {
            let got = classify(status, &headers(pairs), body.as_bytes(), &pattern);
            assert_eq!(got, expected, "{status} {pairs:?} {body:?}");
        }
    }

    #[test]
    fn the_duplicate_pattern_is_configurable() {
        let body = br#"{"success":false,"message":"Record exists: 1 2023-04-30 09:00:00"}"#;
        let default = classify(400, &HeaderMap::new(), body, &default_duplicate_pattern());
        assert!(matches!(
            default,
            Reply::Refused {
                duplicate: false,
                ..
            }
        ));
        let custom = Regex::new("(?i)record exists").unwrap();
        let got = classify(400, &HeaderMap::new(), body, &custom);
        assert!(matches!(
            got,
            Reply::Refused {
                duplicate: true,
                ..
            }
        ));
        // The simulator's reason counts whatever the pattern says.
        let body = br#"{"success":false,"message":"no","reason":"duplicate"}"#;
        let got = classify(400, &HeaderMap::new(), body, &Regex::new("^$").unwrap());
        assert!(matches!(
            got,
            Reply::Refused {
                duplicate: true,
                ..
            }
        ));
    }

    #[test]
    fn long_bodies_are_cut_on_character_boundaries() {
        let body = "é".repeat(500);
        let got = classify(
            404,
            &HeaderMap::new(),
            body.as_bytes(),
            &default_duplicate_pattern(),
        );
        let Reply::Unexpected { body_excerpt, .. } = got else {
            panic!("{got:?}")
        };
        assert_eq!(body_excerpt.chars().count(), EXCERPT_CHARS);

        let message = "x".repeat(MESSAGE_CHARS + 50);
        let body = serde_json::json!({"success": false, "message": message}).to_string();
        let got = classify(
            400,
            &HeaderMap::new(),
            body.as_bytes(),
            &default_duplicate_pattern(),
        );
        let Reply::Refused { message, .. } = got else {
            panic!("{got:?}")
        };
        assert_eq!(message.len(), MESSAGE_CHARS);

        let got = classify(
            500,
            &HeaderMap::new(),
            &[0xff, 0xfe, b'a'],
            &default_duplicate_pattern(),
        );
        assert_eq!(got, transient(Some(500), "answered 500: \u{fffd}\u{fffd}a"));
    }

    #[test]
    fn kinds_are_stable() {
        let kinds: Vec<&str> = [
            Reply::Accepted,
            transient(None, ""),
            refused("", None, false),
            Reply::Unauthorized,
            limited(None),
            unexpected(404, ""),
        ]
        .iter()
        .map(Reply::kind)
        .collect();
        assert_eq!(
            kinds,
            [
                "accepted",
                "transient",
                "refused",
                "unauthorized",
                "rate_limited",
                "unexpected"
            ]
        );
    }
}
