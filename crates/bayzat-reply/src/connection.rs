//! What the answer to a connection test (the empty request) says about a company's URL and key,
//! as config-service shows it.

use serde::{Deserialize, Serialize};

use crate::text::excerpt;

/// What a connection test (an empty `{"records": []}` request) says about a company's URL and key.
///
/// Serialized as `{"result": "ok"}`, `{"result": "invalid_key"}`,
/// `{"result": "unreachable", "cause": "..."}` or
/// `{"result": "unexpected", "status": 404, "body_excerpt": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ConnectionTest {
    /// 200 or 400: authentication passed. What Bayzat makes of an empty request is unknown, so
    /// a refusal of its content still means the key was accepted.
    Ok,
    /// 401 or 403, or a key that cannot even be put in a header.
    InvalidKey,
    /// No answer: DNS, connection refused, TLS, timeout, or a URL that cannot be used.
    Unreachable { cause: String },
    /// Any other answer, 5xx included, and a 429 that persists after waiting the key's turn
    /// once: the contract says nothing about what they mean here.
    Unexpected { status: u16, body_excerpt: String },
}

impl ConnectionTest {
    /// Reads the answer to the empty request. Pure, like [`crate::classify`].
    pub fn from_answer(status: u16, body: &[u8]) -> Self {
        match status {
            200 | 400 => ConnectionTest::Ok,
            401 | 403 => ConnectionTest::InvalidKey,
            _ => ConnectionTest::Unexpected {
                status,
                body_excerpt: excerpt(body),
            },
        }
    }

    /// A stable name for metrics labels and logs; the same as the serialized `result`.
    pub fn kind(&self) -> &'static str {
        match self {
            ConnectionTest::Ok => "ok",
            ConnectionTest::InvalidKey => "invalid_key",
            ConnectionTest::Unreachable { .. } => "unreachable",
            ConnectionTest::Unexpected { .. } => "unexpected",
        }
    }

    pub fn is_ok(&self) -> bool {
        matches!(self, ConnectionTest::Ok)
    }

    /// Rewrites every text the result carries (see [`crate::Reply::map_text`]).
    pub fn map_text(self, f: impl Fn(String) -> String) -> Self {
        match self {
            ConnectionTest::Unreachable { cause } => {
                ConnectionTest::Unreachable { cause: f(cause) }
            }
            ConnectionTest::Unexpected {
                status,
                body_excerpt,
            } => ConnectionTest::Unexpected {
                status,
                body_excerpt: f(body_excerpt),
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers() {
        let cases: &[(u16, &str, ConnectionTest)] = &[
            (
                200,
                r#"{"success":true,"message":"no records"}"#,
                ConnectionTest::Ok,
            ),
            (200, "", ConnectionTest::Ok),
            (
                400,
                r#"{"success":false,"message":"no records"}"#,
                ConnectionTest::Ok,
            ),
            (
                401,
                r#"{"success":false,"message":"Unauthorized"}"#,
                ConnectionTest::InvalidKey,
            ),
            (403, "Forbidden", ConnectionTest::InvalidKey),
            (
                500,
                "Internal Server Error",
                ConnectionTest::Unexpected {
                    status: 500,
                    body_excerpt: "Internal Server Error".into(),
                },
            ),
            (
                429,
                r#"{"success":false}"#,
                ConnectionTest::Unexpected {
                    status: 429,
                    body_excerpt: r#"{"success":false}"#.into(),
                },
            ),
            (
                201,
                r#"{"success":true}"#,
                ConnectionTest::Unexpected {
                    status: 201,
                    body_excerpt: r#"{"success":true}"#.into(),
                },
            ),
            (
                404,
                " Not Found ",
                ConnectionTest::Unexpected {
                    status: 404,
                    body_excerpt: "Not Found".into(),
                },
            ),
            (
                503,
                "",
                ConnectionTest::Unexpected {
                    status: 503,
                    body_excerpt: String::new(),
                },
            ),
            (
                302,
                "",
                ConnectionTest::Unexpected {
                    status: 302,
                    body_excerpt: String::new(),
                },
            ),
        ];
        for (status, body, expected) in cases {
            assert_eq!(
                &ConnectionTest::from_answer(*status, body.as_bytes()),
                expected,
                "{status} {body:?}"
            );
        }
        let long = "a".repeat(1000);
        let ConnectionTest::Unexpected { body_excerpt, .. } =
            ConnectionTest::from_answer(404, long.as_bytes())
        else {
            panic!("404 is unexpected")
        };
        assert_eq!(body_excerpt.len(), 200);
    }

    #[test]
    fn every_text_of_a_result_can_be_rewritten() {
        let hide = |text: String| text.replace("k3y", "[redacted]");
        let cases = [
            (
                ConnectionTest::Unreachable {
                    cause: "refused k3y".into(),
                },
                ConnectionTest::Unreachable {
                    cause: "refused [redacted]".into(),
                },
            ),
            (
                ConnectionTest::Unexpected {
                    status: 500,
                    body_excerpt: "k3y".into(),
                },
                ConnectionTest::Unexpected {
                    status: 500,
                    body_excerpt: "[redacted]".into(),
                },
            ),
            (ConnectionTest::Ok, ConnectionTest::Ok),
            (ConnectionTest::InvalidKey, ConnectionTest::InvalidKey),
        ];
        for (result, expected) in cases {
            assert!(result.is_ok() == (expected == ConnectionTest::Ok));
            assert_eq!(result.map_text(hide), expected);
        }
    }

    #[test]
    fn serialized_form() {
        let cases = [
            (ConnectionTest::Ok, json!({"result": "ok"})),
            (ConnectionTest::InvalidKey, json!({"result": "invalid_key"})),
            (
                ConnectionTest::Unreachable {
                    cause: "connection refused".into(),
                },
                json!({"result": "unreachable", "cause": "connection refused"}),
            ),
            (
                ConnectionTest::Unexpected {
                    status: 404,
                    body_excerpt: "Not Found".into(),
                },
                json!({"result": "unexpected", "status": 404, "body_excerpt": "Not Found"}),
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(serde_json::to_value(&value).unwrap(), expected);
            assert_eq!(expected["result"], value.kind());
            assert_eq!(
                serde_json::from_value::<ConnectionTest>(expected).unwrap(),
                value
            );
        }
    }
}
