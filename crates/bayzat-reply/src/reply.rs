//! What an answer from Bayzat to a request of records means for a delivery: a pure function over
//! status, headers and body.

use std::time::Duration;

use regex::Regex;
use serde_json::Value;

use crate::text::{excerpt, truncate, EXCERPT_CHARS, MESSAGE_CHARS};

/// `BAYZAT_DUPLICATE_PATTERN`'s default. Whether the real service says "duplicate" or "already
/// exists" is unknown, so both are recognised.
pub const DEFAULT_DUPLICATE_PATTERN: &str = "(?i)duplicate|already exists";

/// The header in which the simulator (and perhaps Bayzat) gives the exact wait, where
/// `Retry-After` can only say whole seconds.
pub const RETRY_AFTER_MS: &str = "retry-after-ms";

/// The standard header of a 429's wait, in seconds (fractions allowed) or as an HTTP date.
pub const RETRY_AFTER: &str = "retry-after";

/// [`DEFAULT_DUPLICATE_PATTERN`], compiled.
pub fn default_duplicate_pattern() -> Regex {
    Regex::new(DEFAULT_DUPLICATE_PATTERN).expect("the default duplicate pattern compiles")
}

/// The headers of an answer that the contract gives a meaning to, as the text they carried:
/// `None` when the header is absent or its value is not text. When a header came more than once,
/// the caller passes the first value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Headers<'a> {
    /// [`RETRY_AFTER_MS`].
    pub retry_after_ms: Option<&'a str>,
    /// [`RETRY_AFTER`].
    pub retry_after: Option<&'a str>,
}

impl Headers<'_> {
    /// The wait a 429 asks for. `Retry-After-Ms` first because it is exact; a value that cannot
    /// be read falls through to the next source rather than to a made-up wait. `Retry-After` as
    /// an HTTP date is not read: the caller's own interval is as good a guess.
    pub fn retry_after(&self) -> Option<Duration> {
        let seconds = |text: Option<&str>, scale: f64| {
            let value: f64 = text?.trim().parse().ok()?;
            Duration::try_from_secs_f64(value / scale).ok()
        };
        seconds(self.retry_after_ms, 1000.0).or_else(|| seconds(self.retry_after, 1.0))
    }
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
    pub fn map_text(self, f: impl Fn(String) -> String) -> Self {
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

/// Reads one answer of `POST {api_url}`. Pure, so the contract's table is tested as a table.
pub fn classify(status: u16, headers: &Headers, body: &[u8], duplicate_pattern: &Regex) -> Reply {
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
            retry_after: headers.retry_after(),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Header pairs of one case of the table, as they came on the wire.
    type Pairs<'a> = &'a [(&'static str, &'a str)];

    /// What the caller hands over: the first value of each header the contract reads.
    fn headers<'a>(pairs: Pairs<'a>) -> Headers<'a> {
        let first = |name: &str| {
            pairs
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v)
        };
        Headers {
            retry_after_ms: first(RETRY_AFTER_MS),
            retry_after: first(RETRY_AFTER),
        }
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
        let cases: Vec<(u16, Pairs, &str, Reply)> = vec![
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
            // The edges of each kind: the last 5xx, a 2xx without a body, 4xx the contract
            // does not name, an informational status, padded header values.
            (599, none, "", transient(Some(599), "answered 599: ")),
            (204, none, "", unexpected(204, "")),
            (
                402,
                none,
                "Payment Required",
                unexpected(402, "Payment Required"),
            ),
            (405, none, "", unexpected(405, "")),
            (
                409,
                none,
                r#"{"success":false,"message":"duplicate"}"#,
                unexpected(409, r#"{"success":false,"message":"duplicate"}"#),
            ),
            (422, none, "Unprocessable", unexpected(422, "Unprocessable")),
            (100, none, "", unexpected(100, "")),
            (429, &[("Retry-After", " 2 ")], "", limited(Some(ms(2000)))),
            (
                429,
                &[("retry-after-ms", "312.5")],
                "",
                limited(Some(Duration::from_micros(312_500))),
            ),
            (
                429,
                &[("retry-after-ms", ""), ("retry-after", "")],
                "",
                limited(None),
            ),
            // A refusal without a usable message: the body stands in for it.
            (400, none, "", refused("", None, false)),
            (
                400,
                none,
                r#"{"success":false,"message":"   "}"#,
                refused(r#"{"success":false,"message":"   "}"#, None, false),
            ),
            (
                400,
                none,
                r#"{"success":false,"message":"  Invalid time  ","reason":7}"#,
                refused("Invalid time", None, false),
            ),
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
        let default = classify(400, &Headers::default(), body, &default_duplicate_pattern());
        assert!(matches!(
            default,
            Reply::Refused {
                duplicate: false,
                ..
            }
        ));
        let custom = Regex::new("(?i)record exists").unwrap();
        let got = classify(400, &Headers::default(), body, &custom);
        assert!(matches!(
            got,
            Reply::Refused {
                duplicate: true,
                ..
            }
        ));
        // The simulator's reason counts whatever the pattern says.
        let body = br#"{"success":false,"message":"no","reason":"duplicate"}"#;
        let got = classify(400, &Headers::default(), body, &Regex::new("^$").unwrap());
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
            &Headers::default(),
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
            &Headers::default(),
            body.as_bytes(),
            &default_duplicate_pattern(),
        );
        let Reply::Refused { message, .. } = got else {
            panic!("{got:?}")
        };
        assert_eq!(message.len(), MESSAGE_CHARS);

        let got = classify(
            500,
            &Headers::default(),
            &[0xff, 0xfe, b'a'],
            &default_duplicate_pattern(),
        );
        assert_eq!(got, transient(Some(500), "answered 500: \u{fffd}\u{fffd}a"));
    }

    #[test]
    fn the_wait_a_429_asks_for() {
        let ms = Duration::from_millis;
        let wait = |retry_after_ms, retry_after| {
            Headers {
                retry_after_ms,
                retry_after,
            }
            .retry_after()
        };
        assert_eq!(wait(None, None), None);
        assert_eq!(wait(Some("250"), None), Some(ms(250)));
        assert_eq!(wait(Some("250"), Some("9")), Some(ms(250)));
        assert_eq!(wait(None, Some("1.5")), Some(ms(1500)));
        assert_eq!(wait(Some("soon"), Some("1")), Some(ms(1000)));
        assert_eq!(wait(Some("inf"), Some("-1")), None);
        assert_eq!(wait(None, Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
    }

    #[test]
    fn every_text_of_a_reply_can_be_rewritten() {
        let hide = |text: String| text.replace("k3y", "[redacted]");
        let cases = [
            (
                transient(Some(500), "echo k3y"),
                transient(Some(500), "echo [redacted]"),
            ),
            (
                refused("bad k3y", Some("k3y"), true),
                refused("bad [redacted]", Some("[redacted]"), true),
            ),
            (unexpected(404, "k3y"), unexpected(404, "[redacted]")),
            (Reply::Accepted, Reply::Accepted),
            (Reply::Unauthorized, Reply::Unauthorized),
            (
                limited(Some(Duration::from_secs(1))),
                limited(Some(Duration::from_secs(1))),
            ),
        ];
        for (reply, expected) in cases {
            assert_eq!(reply.map_text(hide), expected);
        }
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
