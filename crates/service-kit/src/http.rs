//! Request-side conventions shared by the REST APIs: problem+json for every error the framework
//! itself raises (bad JSON, bad query), and pagination. Storage and broker failures are answered
//! in `errors`.

use actix_web::error::{JsonPayloadError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::Problem;

/// What every REST API registers: the operational endpoints, the per-token rate limit's state
/// (the `rate_limit` middleware reads it), the limits the `checked_input` middleware enforces, and
/// problem+json for bad JSON, queries and paths. `json_limit` caps JSON bodies.
pub fn api_defaults(
    ops: crate::Ops,
    rate_limit: web::Data<crate::ApiRateLimit>,
    json_limit: usize,
) -> impl FnOnce(&mut web::ServiceConfig) {
    move |config| {
        config
            .app_data(rate_limit)
            .app_data(web::Data::new(crate::InputLimits {
                body_limit: json_limit,
                read_timeout: ops.body_read_timeout(),
            }))
            .app_data(json_config(json_limit))
            .app_data(query_config())
            .app_data(path_config());
        crate::configure_ops(config, ops);
    }
}

/// JSON bodies up to `limit` bytes; a malformed or oversized body is a 400/413 problem naming the
/// problem in the API's own words (never the parser's text) instead of actix's plain-text answer.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|error, _req: &HttpRequest| {
            let problem = match &error {
                JsonPayloadError::OverflowKnownLength { .. }
                | JsonPayloadError::Overflow { .. } => Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    "The request body is too large",
                ),
                JsonPayloadError::ContentType => Problem::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "Send the body as application/json",
                ),
                JsonPayloadError::Deserialize(error) => Problem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_body",
                    "The request body is not valid",
                )
                .with_detail(describe_json_error(error)),
                _ => Problem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_body",
                    "The request body could not be read",
                ),
            };
            problem.into()
        })
}

/// Query strings that do not parse are a 400 problem, in the API's own words.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|error: QueryPayloadError, _req: &HttpRequest| {
        let detail = match &error {
            QueryPayloadError::Deserialize(error) => describe_value_error(&error.to_string()),
            _ => None,
        };
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "The query string is not valid",
        )
        .with_detail(detail.unwrap_or_else(|| {
            "a query parameter has a value this operation does not accept".to_owned()
        }))
        .into()
    })
}

/// Path segments that do not parse (`/v1/imports/abc` where an id is a number) are a 404: there
/// is no such resource.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_error, _req: &HttpRequest| {
        Problem::new(StatusCode::NOT_FOUND, "not_found", "No such resource")
            .with_detail("the path names no resource")
            .into()
    })
}

/// A JSON body that does not fit the operation, said without the parser's wording.
fn describe_json_error(error: &serde_json::Error) -> String {
    let at = format!("line {}, column {}", error.line(), error.column());
    match error.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            format!("the body is not valid JSON ({at})")
        }
        serde_json::error::Category::Data => {
            let message = error.to_string();
            let message = message
                .rsplit_once(" at line ")
                .map_or(message.as_str(), |(head, _)| head);
            match describe_value_error(message) {
                Some(detail) => format!("{detail} ({at})"),
                None => format!("a field has a value of the wrong type or form ({at})"),
            }
        }
        serde_json::error::Category::Io => "the body could not be read".to_owned(),
    }
}

/// The serde errors worth telling a caller, rephrased: a missing or unknown field, or a value
/// outside a fixed set. None for the rest.
fn describe_value_error(message: &str) -> Option<String> {
    let quoted = |text: &str| -> Option<String> {
        let rest = text.split_once('`')?.1;
        Some(rest.split_once('`')?.0.to_owned())
    };
    if let Some(rest) = message.strip_prefix("missing field ") {
        return Some(format!("`{}` is required", quoted(rest)?));
    }
    if let Some(rest) = message.strip_prefix("unknown field ") {
        return Some(format!("`{}` is not a known field", quoted(rest)?));
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        let expected: Vec<&str> = rest
            .split_once("expected one of ")
            .map(|(_, list)| list.split(", ").map(|v| v.trim_matches('`')).collect())
            .unwrap_or_default();
        return Some(if expected.is_empty() {
            "a value is not one of the accepted ones".to_owned()
        } else {
            format!("a value is not one of: {}", expected.join(", "))
        });
    }
    None
}

/// Which page of a list: 1-based `page`, `per_page` from 1 to 500 (default 50).
#[derive(Debug, Clone, Copy, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

impl PageQuery {
    pub const MAX_PER_PAGE: u32 = 500;
    pub const DEFAULT_PER_PAGE: u32 = 50;

    pub fn page(&self) -> u32 {
        self.page.unwrap_or(1).max(1)
    }

    pub fn per_page(&self) -> u32 {
        self.per_page
            .unwrap_or(Self::DEFAULT_PER_PAGE)
            .clamp(1, Self::MAX_PER_PAGE)
    }

    pub fn offset(&self) -> i64 {
        i64::from(self.page() - 1) * i64::from(self.per_page())
    }

    pub fn limit(&self) -> i64 {
        i64::from(self.per_page())
    }

    /// Wraps one page of results.
    pub fn of<T>(&self, items: Vec<T>, total: i64) -> Page<T> {
        Page {
            items,
            page: self.page(),
            per_page: self.per_page(),
            total,
        }
    }
}

/// One page of a list, with the total count so clients can page through.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: u32,
    pub per_page: u32,
    pub total: i64,
}

#[cfg(test)]
mod tests {
    use super::{describe_json_error, describe_value_error, PageQuery};

    #[test]
    fn parser_errors_are_said_in_the_apis_words() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Body {
            name: String,
            count: u32,
        }
        let table = [
            ("{", "the body is not valid JSON (line 1, column 1)"),
            (r#"{"count": 1}"#, "`name` is required (line 1, column 12)"),
            (
                r#"{"name": 1, "count": 1}"#,
                "a field has a value of the wrong type or form (line 1, column 10)",
            ),
        ];
        for (body, detail) in table {
            let error = serde_json::from_str::<Body>(body).unwrap_err();
            assert_eq!(describe_json_error(&error), detail, "{body}");
        }
        assert_eq!(
            describe_value_error("unknown variant `x`, expected one of `a`, `b`").as_deref(),
            Some("a value is not one of: a, b")
        );
        assert_eq!(describe_value_error("invalid digit found in string"), None);
    }

    #[test]
    fn pages_are_clamped() {
        let table = [
            (None, None, 1, 50, 0),
            (Some(3), Some(20), 3, 20, 40),
            (Some(0), Some(0), 1, 1, 0),
            (Some(2), Some(10_000), 2, 500, 500),
        ];
        for (page, per_page, p, pp, offset) in table {
            let query = PageQuery { page, per_page };
            assert_eq!(
                (query.page(), query.per_page(), query.offset()),
                (p, pp, offset)
            );
        }
    }
}
