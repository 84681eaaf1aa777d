//! Bad input is a 4xx problem, everywhere: every operation of the three OpenAPI documents is sent
//! a NUL in each of its path parameters, query parameters and JSON string fields (as its request
//! schema describes them), and must refuse it with 400 `invalid_text` naming the parameter or
//! field, never a 5xx and never the database's or a library's words. Non-numeric ids and
//! malformed query values are refused in the API's own words too; an employee CSV or an upload
//! with a NUL is refused whole (no name cut at the NUL, no partial file left behind); a body that
//! stops arriving is answered 408 within the configured bound.

use std::path::Path;
use std::time::{Duration, Instant};

use bridge_tests::{fixtures, Role, Service, System};
use reqwest::Method;
use serde_json::{json, Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Words that would mean a parser's or the database's message reached the caller.
const LEAKS: [&str; 12] = [
    "deserialize",
    "can not parse",
    "invalid digit",
    "invalid type",
    "invalid byte sequence",
    "0x00",
    "db error",
    "sqlstate",
    "postgres",
    "diesel",
    "serde",
    "multipart stream",
];

const SERVICES: [(Service, &str); 3] = [
    (Service::Config, "config-service"),
    (Service::Import, "import-service"),
    (Service::Sync, "sync-service"),
];

struct Answer {
    status: u16,
    content_type: String,
    text: String,
    body: Value,
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.status, self.content_type, self.text)
    }
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.expect("the service answers");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await.unwrap_or_default();
    Answer {
        status,
        content_type,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    }
}

/// A 4xx problem+json in the API's own words; the failures are collected, not panicked on, so
/// that one run lists every operation that answers wrongly.
fn check_problem(what: &str, answer: &Answer, failures: &mut Vec<String>) {
    let lower = answer.text.to_lowercase();
    let leak = LEAKS.iter().find(|word| lower.contains(*word));
    if !(400..500).contains(&answer.status)
        || !answer.content_type.starts_with("application/problem+json")
        || !answer.body["code"].is_string()
        || leak.is_some()
    {
        failures.push(format!("{what}: {answer}"));
    }
}

fn check_invalid_text(what: &str, field: &str, answer: &Answer, failures: &mut Vec<String>) {
    let before = failures.len();
    check_problem(what, answer, failures);
    if failures.len() == before
        && (answer.body["code"] != "invalid_text" || answer.body["field"] != field)
    {
        failures.push(format!(
            "{what}: expected invalid_text naming {field}: {answer}"
        ));
    }
}

fn document(name: &str) -> Value {
    let path = format!(
        "{}/../proto/openapi/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("the OpenAPI document"))
        .expect("OpenAPI is JSON")
}

/// Follows a `$ref` into the document's components.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap_or_default();
            resolve(doc, &doc["components"]["schemas"][name])
        }
        None => schema,
    }
}

/// The schema's type, the first that is not null.
fn type_of(schema: &Value) -> &str {
    match &schema["type"] {
        Value::String(kind) => kind,
        Value::Array(kinds) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|kind| *kind != "null")
            .unwrap_or("null"),
        _ if schema["properties"].is_object() => "object",
        _ => "",
    }
}

/// A small valid-looking value of the schema: its required fields, filled in.
fn sample(doc: &Value, schema: &Value) -> Value {
    let schema = resolve(doc, schema);
    match type_of(schema) {
        "object" => {
            let mut object = Map::new();
            for name in schema["required"].as_array().into_iter().flatten() {
                let name = name.as_str().unwrap_or_default();
                object.insert(name.to_owned(), sample(doc, &schema["properties"][name]));
            }
            Value::Object(object)
        }
        "array" => json!([sample(doc, &schema["items"])]),
        "integer" | "number" => json!(1),
        "boolean" => json!(false),
        _ => json!("x"),
    }
}

/// Every way to put a NUL into one string of a value of `schema`: the field's path
/// (`employees[0].name`) and the whole value with that string holding the NUL.
fn variants(doc: &Value, schema: &Value) -> Vec<(String, Value)> {
    let schema = resolve(doc, schema);
    let nul = json!("a\u{0}b");
    match type_of(schema) {
        "string" => vec![(String::new(), nul)],
        "array" => variants(doc, &schema["items"])
            .into_iter()
            .map(|(field, value)| (format!("[0]{field}"), json!([value])))
            .collect(),
        "object" => {
            let base = sample(doc, schema);
            let properties = schema["properties"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            if properties.is_empty() {
                // A free-form object (settings): a string member of its own.
                return vec![(".note".to_owned(), json!({ "note": nul }))];
            }
            let mut all = Vec::new();
            for (name, property) in &properties {
                for (field, value) in variants(doc, property) {
                    let mut body = base.clone();
                    body[name.as_str()] = value;
                    all.push((format!(".{name}{field}"), body));
                }
            }
            all
        }
        _ => Vec::new(),
    }
}

/// A value that names something that exists in the loaded directory.
fn path_value(name: &str) -> &'static str {
    match name {
        "company" => "advline",
        "employee_id" => "1001",
        _ => "1",
    }
}

struct Operation {
    service: Service,
    method: Method,
    template: String,
    parameters: Vec<(String, String, String)>,
    json_body: Option<Value>,
}

impl Operation {
    fn path(&self, replaced: Option<(&str, &str)>) -> String {
        let mut path = self.template.clone();
        for (name, place, _) in &self.parameters {
            if place != "path" {
                continue;
            }
            let value = match replaced {
                Some((target, value)) if target == name => value,
                _ => path_value(name),
            };
            path = path.replace(&format!("{{{name}}}"), value);
        }
        path
    }

    fn role(&self) -> Role {
        if self.template.starts_with("/internal/") {
            Role::Service
        } else {
            Role::Admin
        }
    }

    fn describe(&self) -> String {
        format!("{} {}{}", self.method, self.service, self.template)
    }
}

fn operations() -> Vec<(Operation, Value)> {
    let mut all = Vec::new();
    for (service, name) in SERVICES {
        let doc = document(name);
        for (template, item) in doc["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("operations") {
                let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
                let parameters = operation["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| {
                        (
                            p["name"].as_str().unwrap_or_default().to_owned(),
                            p["in"].as_str().unwrap_or_default().to_owned(),
                            type_of(resolve(&doc, &p["schema"])).to_owned(),
                        )
                    })
                    .collect();
                let json_body =
                    operation["requestBody"]["content"]["application/json"]["schema"].clone();
                all.push((
                    Operation {
                        service,
                        method,
                        template: template.clone(),
                        parameters,
                        json_body: (!json_body.is_null()).then_some(json_body),
                    },
                    doc.clone(),
                ));
            }
        }
    }
    all
}

#[tokio::test(flavor = "multi_thread")]
async fn every_operation_refuses_a_nul_with_a_problem_naming_the_field() {
    let system = System::start().await;
    let client = reqwest::Client::new();
    let mut failures = Vec::new();
    let mut sent = 0;
    let operations = operations();
    assert!(
        operations.len() >= 30,
        "every operation of the three documents"
    );
    for (operation, doc) in &operations {
        let url = system.url(operation.service);
        let token = system.token(operation.role());
        let request = |path: &str| {
            client
                .request(operation.method.clone(), format!("{url}{path}"))
                .bearer_auth(&token)
        };
        for (name, place, _) in &operation.parameters {
            let what = format!("{} {place} {name}", operation.describe());
            let answer = match place.as_str() {
                "path" => send(request(&operation.path(Some((name, "a%00b"))))).await,
                "query" => {
                    let path = format!("{}?{name}=a%00b", operation.path(None));
                    send(request(&path)).await
                }
                _ => continue,
            };
            sent += 1;
            check_invalid_text(&what, name, &answer, &mut failures);
        }
        if let Some(schema) = &operation.json_body {
            for (field, body) in variants(doc, schema) {
                let field = field.trim_start_matches('.');
                let what = format!("{} body {field}", operation.describe());
                let answer = send(request(&operation.path(None)).json(&body)).await;
                sent += 1;
                check_invalid_text(&what, field, &answer, &mut failures);
            }
        }
    }
    assert!(
        sent >= 80,
        "a NUL in every parameter and field: {sent} requests"
    );

    // The employee CSV: the row is refused, not stored with its name cut at the NUL.
    let token = system.token(Role::Admin);
    let config = system.url(Service::Config);
    let answer = send(
        client
            .post(format!("{config}/v1/companies/advline/employees.csv"))
            .bearer_auth(&token)
            .header("content-type", "text/csv")
            .body("Employee ID,Name\n9001,Ah\u{0}med\n"),
    )
    .await;
    check_problem("employees.csv with a NUL in a name", &answer, &mut failures);
    let stored = send(
        client
            .get(format!(
                "{config}/v1/companies/advline/employees?search=9001"
            ))
            .bearer_auth(&token),
    )
    .await;
    if stored.body["total"] != 0 {
        failures.push(format!(
            "employees.csv: the row was stored anyway: {stored}"
        ));
    }

    // The upload's file name, in a multipart part, raw and RFC 5987-encoded.
    let report = std::fs::read(fixtures::path("basic.csv")).expect("basic.csv");
    for disposition in [
        "form-data; name=\"file\"; filename=\"basic\0.csv\"",
        "form-data; name=\"file\"; filename*=UTF-8''basic%00.csv",
    ] {
        let answer = send(
            client
                .post(format!("{}/v1/imports", system.url(Service::Import)))
                .bearer_auth(system.token(Role::Operator))
                .header("content-type", "multipart/form-data; boundary=XyZ")
                .body(multipart(disposition, &report)),
        )
        .await;
        check_problem(
            &format!("upload, Content-Disposition {disposition:?}"),
            &answer,
            &mut failures,
        );
    }
    // And as the `filename` of a raw-body upload, with a whole report behind it.
    let answer = send(
        client
            .post(format!(
                "{}/v1/imports?force=true&filename=basic%00.csv",
                system.url(Service::Import)
            ))
            .bearer_auth(system.token(Role::Operator))
            .header("content-type", "text/csv")
            .body(report.clone()),
    )
    .await;
    check_invalid_text(
        "upload, ?force=true&filename=basic%00.csv",
        "filename",
        &answer,
        &mut failures,
    );
    let left = partial_uploads(&system.scratch_dir().join("imports"));
    if !left.is_empty() {
        failures.push(format!("partial uploads left behind: {left:?}"));
    }

    assert!(
        failures.is_empty(),
        "{} of {sent} requests answered wrongly:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn non_numeric_ids_and_malformed_query_values_answer_in_the_apis_own_words() {
    let system = System::start().await;
    let client = reqwest::Client::new();
    let mut failures = Vec::new();
    let mut sent = 0;
    for (operation, _) in operations() {
        let url = system.url(operation.service);
        let token = system.token(operation.role());
        for (name, place, kind) in &operation.parameters {
            if kind != "integer" && kind != "boolean" {
                continue;
            }
            let path = match place.as_str() {
                "path" => operation.path(Some((name, "abc"))),
                "query" => format!("{}?{name}=abc", operation.path(None)),
                _ => continue,
            };
            let answer = send(
                client
                    .request(operation.method.clone(), format!("{url}{path}"))
                    .bearer_auth(&token),
            )
            .await;
            sent += 1;
            check_problem(
                &format!("{} {place} {name}=abc", operation.describe()),
                &answer,
                &mut failures,
            );
        }
    }
    assert!(sent >= 20, "every numeric parameter: {sent} requests");
    // A body that is not what the operation takes is described, not quoted from the parser.
    let answer = send(
        client
            .post(format!("{}/v1/companies", system.url(Service::Config)))
            .bearer_auth(system.token(Role::Admin))
            .json(&json!({ "slug": 7, "name_en": "X" })),
    )
    .await;
    check_problem(
        "POST /v1/companies with a number for slug",
        &answer,
        &mut failures,
    );
    assert!(
        failures.is_empty(),
        "{} of {sent} requests answered wrongly:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A request whose body stops: the service, path, content type, role, the bytes sent and the
/// Content-Length announced.
type Stalled<'a> = (Service, &'a str, &'a str, Role, &'a [u8], usize);

#[tokio::test(flavor = "multi_thread")]
async fn a_body_that_stops_arriving_is_answered_408_and_leaves_nothing() {
    let system = System::builder()
        .env(Service::Import, "HTTP_BODY_READ_TIMEOUT", "1")
        .env(Service::Config, "HTTP_BODY_READ_TIMEOUT", "1")
        .start()
        .await;
    let report = std::fs::read(fixtures::path("basic.csv")).expect("basic.csv");
    let half = &report[..report.len() / 2];
    let multipart_body = multipart("form-data; name=\"file\"; filename=\"basic.csv\"", &report);
    // A workbook is only read once whole: cut short, it is answered and removed like text.
    let workbook =
        std::fs::read(fixtures::path("workbooks/zktime-daily.xlsx")).expect("a workbook");
    let cases: [Stalled; 4] = [
        (
            Service::Import,
            "/v1/imports?filename=stalled.csv",
            "text/csv",
            Role::Operator,
            half,
            report.len(),
        ),
        (
            Service::Import,
            "/v1/imports",
            "multipart/form-data; boundary=XyZ",
            Role::Operator,
            &multipart_body[..multipart_body.len() / 2],
            multipart_body.len(),
        ),
        (
            Service::Import,
            "/v1/imports?filename=stalled.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Role::Operator,
            &workbook[..workbook.len() / 2],
            workbook.len(),
        ),
        (
            Service::Config,
            "/v1/companies",
            "application/json",
            Role::Admin,
            br#"{"slug": "stalled", "name_en": "#,
            60,
        ),
    ];
    for (service, path, content_type, role, sent, length) in cases {
        let address = system.url(service).trim_start_matches("http://").to_owned();
        let mut stream = tokio::net::TcpStream::connect(&address)
            .await
            .expect("connect");
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\n\
             Content-Type: {content_type}\r\nContent-Length: {length}\r\n\r\n",
            system.token(role)
        );
        stream.write_all(head.as_bytes()).await.expect("send head");
        stream.write_all(sent).await.expect("send half the body");
        let started = Instant::now();
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(15), async {
            let mut buffer = [0u8; 4096];
            loop {
                match stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => answer.extend_from_slice(&buffer[..n]),
                }
                if answer.windows(4).any(|w| w == b"\r\n\r\n")
                    && String::from_utf8_lossy(&answer).contains("body_timeout")
                {
                    break;
                }
            }
        })
        .await;
        let answer = String::from_utf8_lossy(&answer).into_owned();
        assert!(
            read.is_ok(),
            "{service}{path}: no answer 15 s after the body stopped: {answer:?}"
        );
        assert!(
            answer.starts_with("HTTP/1.1 408")
                && answer.contains("application/problem+json")
                && answer.contains("body_timeout"),
            "{service}{path}: {answer:?}"
        );
        eprintln!("{service}{path}: 408 after {:?}", started.elapsed());
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{service}{path}: answered after {:?}",
            started.elapsed()
        );
    }
    let storage = system.scratch_dir().join("imports");
    bridge_tests::wait_for(Duration::from_secs(5), "no partial upload left", || {
        let left = partial_uploads(&storage);
        async move {
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!("left behind: {left:?}"))
            }
        }
    })
    .await;
    // The service still answers: nothing is stuck on the abandoned connections.
    let health =
        send(reqwest::Client::new().get(format!("{}/readyz", system.url(Service::Import)))).await;
    assert_eq!(health.status, 200, "{health}");
}

/// A multipart body with one `file` part.
fn multipart(disposition: &str, content: &[u8]) -> Vec<u8> {
    let mut body =
        format!("--XyZ\r\nContent-Disposition: {disposition}\r\nContent-Type: text/csv\r\n\r\n")
            .into_bytes();
    body.extend_from_slice(content);
    body.extend_from_slice(b"\r\n--XyZ--\r\n");
    body
}

/// The partial uploads (`*.part`) in import-service's storage folder.
fn partial_uploads(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.ends_with(".part"))
                .collect()
        })
        .unwrap_or_default()
}
