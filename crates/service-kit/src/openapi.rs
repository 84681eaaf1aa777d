//! What every service's OpenAPI document shares.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::Modify;

/// Declares the `bearer` security scheme (a JWT in `Authorization: Bearer`) the handlers name.
pub struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Documents the refusals every operation that takes input can answer, whatever its handler:
/// 400 for a control character in a parameter or field (`invalid_text`, naming it in `field`) or
/// a body or query that does not parse, and, for operations with a body, 408 for a body that
/// stopped arriving. Declares the `Problem` schema they answer with.
pub struct BadInput;

impl Modify for BadInput {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::Operation;

        declare_problem(openapi);
        let add = |operation: &mut Operation| {
            let has_body = operation.request_body.is_some();
            let has_input =
                has_body || operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
            let responses = &mut operation.responses.responses;
            if has_input && !responses.contains_key("400") {
                responses.insert(
                    "400".to_owned(),
                    problem(
                        "invalid_text: a parameter or field holds a control character (`field` \
                         names it; no value may hold one); invalid_query, invalid_body: the query \
                         or body does not parse",
                    )
                    .into(),
                );
            }
            if has_body && !responses.contains_key("408") {
                responses.insert(
                    "408".to_owned(),
                    problem("body_timeout: the body stopped arriving; the connection is closed")
                        .into(),
                );
            }
        };
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                add(operation);
            }
        }
    }
}

/// Declares the `Problem` schema every refusal answers with (once).
fn declare_problem(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::schema::{ObjectBuilder, Type};

    let components = openapi.components.get_or_insert_with(Default::default);
    if components.schemas.contains_key("Problem") {
        return;
    }
    let text = |description: &str| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(description))
    };
    components.schemas.insert(
        "Problem".to_owned(),
        ObjectBuilder::new()
            .description(Some(
                "An RFC 9457 problem (application/problem+json). Some refusals add members, \
                 e.g. `connection_test` for a failed connection test.",
            ))
            .property("type", text("urn:attendance-bridge:problem:<code>"))
            .property("title", text("What went wrong, for people"))
            .property("status", ObjectBuilder::new().schema_type(Type::Integer))
            .property("code", text("A stable machine-readable code"))
            .property("detail", text("More about this occurrence"))
            .property(
                "field",
                text("For invalid_text: the parameter or field that holds a control character"),
            )
            .required("type")
            .required("title")
            .required("status")
            .required("code")
            .into(),
    );
}

/// An application/problem+json response.
fn problem(description: &str) -> utoipa::openapi::Response {
    utoipa::openapi::ResponseBuilder::new()
        .description(description)
        .content("application/problem+json", problem_content())
        .build()
}

fn problem_content() -> utoipa::openapi::Content {
    use utoipa::openapi::{ContentBuilder, Ref};

    ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("Problem")))
        .build()
}

/// Documents the refusals the shared layers answer for every operation, whatever its handler,
/// and gives every error response the `Problem` schema:
///
/// - 401 `unauthenticated`/`invalid_token`, 403 `forbidden` (the token's role) and 429
///   `rate_limited` (with `Retry-After`) for every operation that takes a bearer token;
/// - 404 `not_found` for every operation with a path parameter or a `company` query parameter
///   (a company or resource that does not exist, or that the token may not see);
/// - 413 `body_too_large` for every operation with a body, and 415 `unsupported_media_type` for
///   a JSON body sent as something else;
/// - 503 `database_unavailable` for every operation;
/// - application/problem+json with `Problem` for every 4xx/5xx a handler documents without a
///   body, and a description for those documented without one.
///
/// Apply it after the handlers' own responses are in (it never replaces a documented status).
pub struct Refusals;

impl Modify for Refusals {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::header::HeaderBuilder;
        use utoipa::openapi::path::{Operation, ParameterIn};
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        use utoipa::openapi::RefOr;

        declare_problem(openapi);
        let secured_everywhere = openapi.security.as_ref().is_some_and(|s| !s.is_empty());
        let add = |operation: &mut Operation| {
            let secured =
                secured_everywhere || operation.security.as_ref().is_some_and(|s| !s.is_empty());
            let names_something = operation.parameters.as_ref().is_some_and(|parameters| {
                parameters.iter().any(|p| {
                    matches!(p.parameter_in, ParameterIn::Path)
                        || (matches!(p.parameter_in, ParameterIn::Query) && p.name == "company")
                })
            });
            let body = operation.request_body.as_ref();
            let json_body = body.is_some_and(|b| b.content.contains_key("application/json"));
            let has_body = body.is_some();
            let responses = &mut operation.responses.responses;
            let mut standard = Vec::new();
            if secured {
                standard.push((
                    "401",
                    "unauthenticated: no bearer token; invalid_token: expired, revoked, or not \
                     one of ours (with a WWW-Authenticate challenge)",
                ));
                standard.push((
                    "403",
                    "forbidden: the token's role may not do this, or it names a company the \
                     token does not cover (forbidden_company)",
                ));
            }
            if names_something {
                standard.push((
                    "404",
                    "not_found: the path, or the `company` parameter, names nothing the token may \
                     see",
                ));
            }
            if has_body {
                standard.push(("413", "body_too_large: the body is larger than allowed"));
            }
            if json_body {
                standard.push((
                    "415",
                    "unsupported_media_type: the body is not sent as application/json",
                ));
            }
            for (status, description) in standard {
                responses
                    .entry(status.to_owned())
                    .or_insert_with(|| problem(description).into());
            }
            if secured && !responses.contains_key("429") {
                let mut limited = problem(
                    "rate_limited: too many requests with this token; retry after `Retry-After` \
                     seconds",
                );
                limited.headers.insert(
                    "Retry-After".to_owned(),
                    HeaderBuilder::new()
                        .schema(ObjectBuilder::new().schema_type(Type::Integer))
                        .description(Some("Seconds to wait"))
                        .build(),
                );
                responses.insert("429".to_owned(), limited.into());
            }
            responses.entry("503".to_owned()).or_insert_with(|| {
                problem("database_unavailable: the service's database is not reachable right now")
                    .into()
            });
            for (status, response) in responses.iter_mut() {
                let RefOr::T(response) = response else {
                    continue;
                };
                if !status.starts_with('4') && !status.starts_with('5') {
                    continue;
                }
                if response.content.is_empty() {
                    response
                        .content
                        .insert("application/problem+json".to_owned(), problem_content());
                }
                if response.description.is_empty() {
                    response.description = default_description(status).to_owned();
                }
            }
        };
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                add(operation);
            }
        }
    }
}

fn default_description(status: &str) -> &'static str {
    match status {
        "400" => "the request is not valid",
        "401" => "unauthenticated or invalid_token",
        "403" => "forbidden",
        "404" => "not_found",
        "409" => "the request conflicts with what is stored",
        "413" => "the body is too large",
        "415" => "unsupported_media_type",
        "422" => "the request breaks a rule",
        "429" => "rate_limited",
        "503" => "unavailable right now",
        _ => "refused",
    }
}

/// What a service's OpenAPI document leaves unsaid, for its contracts test: a 2xx answer with a
/// body but no schema, a 4xx/5xx answer that is not application/problem+json with the `Problem`
/// schema, an operation taking a bearer token without its 401, 403 and 429, and a `$ref` to a
/// schema the document does not declare. Empty when nothing is missing.
pub fn undocumented(openapi: &utoipa::openapi::OpenApi) -> Vec<String> {
    let Ok(document) = serde_json::to_value(openapi) else {
        return vec!["the document does not serialize".to_owned()];
    };
    let mut gaps = Vec::new();
    let schemas = &document["components"]["schemas"];
    let mut refs = Vec::new();
    collect_refs(&document, &mut refs);
    for reference in refs {
        let name = reference.trim_start_matches("#/components/schemas/");
        if schemas.get(name).is_none() {
            gaps.push(format!("{reference} is not declared"));
        }
    }
    let Some(paths) = document["paths"].as_object() else {
        return gaps;
    };
    for (path, item) in paths {
        let Some(item) = item.as_object() else {
            continue;
        };
        for (method, operation) in item {
            let name = format!("{} {path}", method.to_uppercase());
            let Some(responses) = operation["responses"].as_object() else {
                gaps.push(format!("{name}: no responses"));
                continue;
            };
            let secured = operation["security"]
                .as_array()
                .is_some_and(|s| !s.is_empty());
            if secured {
                for status in ["401", "403", "429"] {
                    if !responses.contains_key(status) {
                        gaps.push(format!("{name}: no {status}"));
                    }
                }
            }
            for (status, response) in responses {
                let content = response["content"].as_object();
                if status.starts_with('2') && !["202", "204"].contains(&status.as_str()) {
                    let typed = content.is_some_and(|c| {
                        !c.is_empty() && c.values().all(|media| media.get("schema").is_some())
                    });
                    if !typed {
                        gaps.push(format!("{name}: {status} has no schema"));
                    }
                } else if status.starts_with('2') {
                    if content
                        .is_some_and(|c| c.values().any(|media| media.get("schema").is_none()))
                    {
                        gaps.push(format!("{name}: {status} has a body without a schema"));
                    }
                } else if status.starts_with('4') || status.starts_with('5') {
                    let problem = content
                        .and_then(|c| c.get("application/problem+json"))
                        .is_some_and(|media| {
                            media["schema"]["$ref"] == "#/components/schemas/Problem"
                        });
                    if !problem {
                        gaps.push(format!("{name}: {status} is not a Problem"));
                    }
                }
            }
        }
    }
    gaps
}

fn collect_refs(value: &serde_json::Value, refs: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", serde_json::Value::String(reference)) => refs.push(reference.clone()),
                    _ => collect_refs(value, refs),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_refs(v, refs)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use utoipa::OpenApi;

    use super::{undocumented, BadInput, BearerAuth, Refusals};

    #[derive(serde::Deserialize, utoipa::ToSchema)]
    #[allow(dead_code)]
    struct Thing {
        name: String,
    }

    /// A handler documenting only its success and one refusal without a body.
    #[utoipa::path(put, path = "/v1/things/{id}", request_body = Thing,
        params(("id" = i64, Path)),
        responses((status = 200, body = Thing), (status = 409)),
        security(("bearer" = [])))]
    #[allow(dead_code)]
    fn put_thing() {}

    /// Listed with a company filter, documented with a success without a body.
    #[utoipa::path(get, path = "/v1/things", params(("company" = Option<String>, Query)),
        responses((status = 200)), security(("bearer" = [])))]
    #[allow(dead_code)]
    fn list_things() {}

    #[derive(OpenApi)]
    #[openapi(paths(put_thing, list_things), modifiers(&BearerAuth, &BadInput, &Refusals))]
    struct Doc;

    fn statuses(doc: &utoipa::openapi::OpenApi, path: &str) -> Vec<String> {
        let item = &doc.paths.paths[path];
        let operation = item.put.as_ref().or(item.get.as_ref()).unwrap();
        operation.responses.responses.keys().cloned().collect()
    }

    #[test]
    fn the_shared_refusals_are_documented_with_the_problem_schema() {
        let doc = Doc::openapi();
        assert_eq!(
            statuses(&doc, "/v1/things/{id}"),
            ["200", "400", "401", "403", "404", "408", "409", "413", "415", "429", "503"]
        );
        assert_eq!(
            statuses(&doc, "/v1/things"),
            ["200", "400", "401", "403", "404", "429", "503"]
        );
        // The handler's own 409 got the Problem body and a description.
        let json = serde_json::to_value(&doc).unwrap();
        let conflict = &json["paths"]["/v1/things/{id}"]["put"]["responses"]["409"];
        assert_eq!(
            conflict["content"]["application/problem+json"]["schema"]["$ref"],
            "#/components/schemas/Problem"
        );
        assert!(!conflict["description"].as_str().unwrap().is_empty());
        let limited = &json["paths"]["/v1/things"]["get"]["responses"]["429"];
        assert!(limited["headers"].get("Retry-After").is_some());
    }

    #[test]
    fn what_a_document_leaves_unsaid_is_named() {
        assert_eq!(
            undocumented(&Doc::openapi()),
            ["GET /v1/things: 200 has no schema"]
        );
    }
}
