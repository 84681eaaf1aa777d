//! Runs the shell examples of a markdown guide and compares what they print with the responses
//! the guide documents, so the guide cannot drift from the API.
//!
//! - Every ` ```sh ` block is an example. They run in order, in one bash session (`set -eo
//!   pipefail`, so variables carry over and a failing command stops the run).
//! - The example's documented output is the next fenced block when it is an `http`, `json` or
//!   `text` block and no other `sh` block comes first. An example without one must only succeed.
//! - An `http` block is a status line, the headers worth documenting, a blank line and the body,
//!   as `curl -i` prints them: the status line must match, each documented header must be there
//!   with that value (other headers are ignored), and the body must match.
//! - A body (or a `json`/`text` block) that is JSON is compared as JSON (key order and layout do
//!   not matter); anything else line by line, ignoring trailing spaces.
//! - Values that change from run to run are masked on both sides before comparing: RFC 3339
//!   timestamps, UUIDs, and the fields named in [`VOLATILE_FIELDS`].

use std::io::Read;
use std::ops::Range;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use regex::Regex;
use serde_json::Value;

/// JSON fields whose values depend on timing, masked wherever they appear.
pub const VOLATILE_FIELDS: [&str; 5] = [
    "latency_p50_ms",
    "latency_p95_ms",
    "oldest_pending_age_seconds",
    "success_rate_24h",
    "calls_24h",
];

const RESPONSE_KINDS: [&str; 3] = ["http", "json", "text"];

static TIMESTAMP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
        .expect("timestamp pattern")
});
static UUID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
        .expect("uuid pattern")
});

/// A fenced code block of the markdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The info string's first word (`sh`, `http`, `php`...).
    pub kind: String,
    pub content: String,
    /// Where the content is in the markdown (between the fence lines).
    pub range: Range<usize>,
    /// The line of the opening fence, for messages.
    pub line: usize,
}

/// An `sh` block and the output documented for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    pub command: Fence,
    pub response: Option<Fence>,
}

/// The fenced blocks of `markdown`, in order. Fences start at the beginning of a line.
pub fn fences(markdown: &str) -> Vec<Fence> {
    let mut fences = Vec::new();
    let mut open: Option<(String, usize, usize)> = None;
    let mut offset = 0;
    for (number, line) in markdown.split_inclusive('\n').enumerate() {
        let start = offset;
        offset += line.len();
        let trimmed = line.trim_end();
        let Some(info) = trimmed.strip_prefix("```") else {
            continue;
        };
        match open.take() {
            None => {
                let kind = info.split_whitespace().next().unwrap_or("").to_owned();
                open = Some((kind, offset, number + 1));
            }
            Some((kind, content_start, line)) => {
                fences.push(Fence {
                    kind,
                    content: markdown[content_start..start].to_owned(),
                    range: content_start..start,
                    line,
                });
            }
        }
    }
    fences
}

/// Each `sh` block with the response block that follows it, if any.
pub fn examples(fences: &[Fence]) -> Vec<Example> {
    let mut examples = Vec::new();
    for (i, fence) in fences.iter().enumerate() {
        if fence.kind != "sh" {
            continue;
        }
        let response = fences[i + 1..]
            .iter()
            .take_while(|f| f.kind != "sh")
            .find(|f| RESPONSE_KINDS.contains(&f.kind.as_str()))
            .cloned();
        examples.push(Example {
            command: fence.clone(),
            response,
        });
    }
    examples
}

fn marker(n: usize) -> String {
    format!("<<<example-{n}-done>>>")
}

/// Why a run stopped early.
#[derive(Debug)]
pub struct RunFailure {
    /// The example that failed (its index), when one did.
    pub example: Option<usize>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the examples in one bash session in `dir`, with nothing of the caller's environment but
/// `PATH` and `vars`; returns what each printed.
pub fn run(
    examples: &[Example],
    vars: &[(&str, String)],
    dir: &Path,
    timeout: Duration,
) -> Result<Vec<String>, RunFailure> {
    let mut script = String::from("set -eo pipefail\n");
    for (n, example) in examples.iter().enumerate() {
        script.push_str(&example.command.content);
        script.push_str(&format!("\nprintf '\\n%s\\n' '{}'\n", marker(n)));
    }
    let script_path = dir.join("guide-examples.sh");
    std::fs::write(&script_path, script).expect("write the examples' script");
    let stdout_path = dir.join("guide-examples.out");
    let stderr_path = dir.join("guide-examples.err");
    let mut child = Command::new("bash")
        .arg(&script_path)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("LANG", "C.UTF-8")
        .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .expect("run bash");
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for bash") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let read = |path: &Path| {
        let mut text = String::new();
        let _ = std::fs::File::open(path).and_then(|mut f| f.read_to_string(&mut text));
        text
    };
    let stdout = read(&stdout_path);
    let stderr = read(&stderr_path);
    let mut outputs = Vec::new();
    let mut rest = stdout.as_str();
    for n in 0..examples.len() {
        match rest.split_once(&format!("\n{}\n", marker(n))) {
            Some((output, after)) => {
                outputs.push(output.to_owned());
                rest = after;
            }
            None => {
                return Err(RunFailure {
                    example: Some(n),
                    stdout: rest.to_owned(),
                    stderr,
                })
            }
        }
    }
    if status.is_some_and(|s| s.success()) {
        Ok(outputs)
    } else {
        Err(RunFailure {
            example: None,
            stdout,
            stderr,
        })
    }
}

/// `value` with the run-dependent parts masked.
pub fn mask_json(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(mask_text(s)),
        Value::Array(items) => Value::Array(items.iter().map(mask_json).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if VOLATILE_FIELDS.contains(&k.as_str()) && !v.is_null() {
                        Value::String("<volatile>".into())
                    } else {
                        mask_json(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

pub fn mask_text(text: &str) -> String {
    let text = TIMESTAMP.replace_all(text, "<timestamp>");
    UUID.replace_all(&text, "<uuid>").into_owned()
}

/// The first place two JSON values differ, as a path and both values.
fn first_difference(path: &str, documented: &Value, actual: &Value) -> Option<String> {
    match (documented, actual) {
        (Value::Object(a), Value::Object(b)) => {
            for key in a.keys().chain(b.keys()) {
                let here = format!("{path}.{key}");
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => {
                        if let Some(d) = first_difference(&here, x, y) {
                            return Some(d);
                        }
                    }
                    (Some(x), None) => return Some(format!("{here}: documented {x}, absent")),
                    (None, Some(y)) => return Some(format!("{here}: not documented, got {y}")),
                    (None, None) => {}
                }
            }
            None
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(i, (x, y))| first_difference(&format!("{path}[{i}]"), x, y)),
        _ if documented == actual => None,
        _ => Some(format!("{path}: documented {documented}, got {actual}")),
    }
}

fn compare_body(documented: &str, actual: &str) -> Result<(), String> {
    let documented = documented.trim();
    let actual = actual.trim();
    if let Ok(expected) = serde_json::from_str::<Value>(documented) {
        let got: Value =
            serde_json::from_str(actual).map_err(|_| format!("documented JSON, got: {actual}"))?;
        return match first_difference("$", &mask_json(&expected), &mask_json(&got)) {
            None => Ok(()),
            Some(difference) => Err(difference),
        };
    }
    let lines = |text: &str| -> Vec<String> {
        mask_text(text)
            .lines()
            .map(|l| l.trim_end().to_owned())
            .collect()
    };
    if lines(documented) == lines(actual) {
        Ok(())
    } else {
        Err(format!("documented:\n{documented}\ngot:\n{actual}"))
    }
}

/// Status line, headers, body of an HTTP response as `curl -i` prints it.
fn split_http(text: &str) -> (String, Vec<(String, String)>, String) {
    let text = text.replace("\r\n", "\n");
    let text = text.trim_start_matches('\n');
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let status = lines.next().unwrap_or("").trim().to_owned();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

/// Whether `actual` is what `documented` (a response block) says.
pub fn compare(documented: &Fence, actual: &str) -> Result<(), String> {
    if documented.kind != "http" {
        return compare_body(&documented.content, actual);
    }
    let (status, headers, body) = split_http(&documented.content);
    let (actual_status, actual_headers, actual_body) = split_http(actual);
    if status != actual_status {
        return Err(format!(
            "status: documented {status:?}, got {actual_status:?}\n{actual}"
        ));
    }
    for (name, value) in &headers {
        let got = actual_headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v);
        match got {
            Some(got) if mask_text(got) == mask_text(value) => {}
            other => {
                return Err(format!(
                    "header {name}: documented {value:?}, got {other:?}"
                ))
            }
        }
    }
    compare_body(&body, &actual_body)
}

/// Indents compact JSON text, keeping its key order.
pub fn pretty_json(raw: &str) -> String {
    let mut out = String::new();
    let mut indent = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let chars: Vec<char> = raw.trim().chars().collect();
    let newline = |out: &mut String, indent: usize| {
        out.push('\n');
        out.push_str(&"  ".repeat(indent));
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                let close = if c == '{' { '}' } else { ']' };
                let next = chars[i + 1..].iter().find(|n| !n.is_whitespace());
                if next == Some(&close) {
                    out.push(c);
                    out.push(close);
                    i += chars[i + 1..].iter().position(|n| *n == close).unwrap_or(0) + 1;
                } else {
                    out.push(c);
                    indent += 1;
                    newline(&mut out, indent);
                }
            }
            '}' | ']' => {
                indent = indent.saturating_sub(1);
                newline(&mut out, indent);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, indent);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
        i += 1;
    }
    out
}

fn render_body(actual: &str) -> String {
    let trimmed = actual.trim();
    if serde_json::from_str::<Value>(trimmed).is_ok() {
        pretty_json(trimmed)
    } else {
        trimmed.to_owned()
    }
}

/// A response block's new content from `actual`, keeping the block's choice of headers.
pub fn render(documented: &Fence, actual: &str) -> String {
    if documented.kind != "http" {
        return format!("{}\n", render_body(actual));
    }
    let (_, headers, _) = split_http(&documented.content);
    let (status, actual_headers, body) = split_http(actual);
    let mut out = status;
    out.push('\n');
    for (name, _) in &headers {
        if let Some((_, value)) = actual_headers.iter().find(|(k, _)| k == name) {
            out.push_str(&format!("{name}: {value}\n"));
        }
    }
    let body = render_body(&body);
    if !body.is_empty() {
        out.push('\n');
        out.push_str(&body);
        out.push('\n');
    }
    out
}

/// `markdown` with each response block that differs from what its example printed replaced by
/// that output (blocks that still match stay as they are, masked values included).
pub fn update(markdown: &str, examples: &[Example], outputs: &[String]) -> String {
    let mut replacements: Vec<(Range<usize>, String)> = examples
        .iter()
        .zip(outputs)
        .filter_map(|(example, output)| {
            let response = example.response.as_ref()?;
            compare(response, output)
                .is_err()
                .then(|| (response.range.clone(), render(response, output)))
        })
        .collect();
    replacements.sort_by_key(|(range, _)| std::cmp::Reverse(range.start));
    let mut text = markdown.to_owned();
    for (range, content) in replacements {
        text.replace_range(range, &content);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUIDE: &str = "# Guide\n\n```sh\nX=1\n```\n\n```php\n$x = 1;\n```\n\n```sh\necho \"{\\\"a\\\": $X}\"\n```\n\nAnswers:\n\n```json\n{\"a\": 2}\n```\n\n```sh\nprintf 'HTTP/1.1 201 Created\\r\\ncontent-type: text/plain\\r\\nx-other: 1\\r\\n\\r\\nat 2026-11-24T09:24:25.22Z'\n```\n\n```http\nHTTP/1.1 201 Created\ncontent-type: text/plain\n\nat 2030-01-01T00:00:00Z\n```\n";

    #[test]
    fn examples_pair_commands_with_the_next_response_block() {
        let fences = fences(GUIDE);
        assert_eq!(
            fences.iter().map(|f| f.kind.as_str()).collect::<Vec<_>>(),
            ["sh", "php", "sh", "json", "sh", "http"]
        );
        assert_eq!(fences[0].content, "X=1\n");
        assert_eq!(&GUIDE[fences[3].range.clone()], "{\"a\": 2}\n");
        let examples = examples(&fences);
        assert_eq!(examples.len(), 3);
        assert!(examples[0].response.is_none(), "a php block is not output");
        assert_eq!(examples[1].response.as_ref().unwrap().kind, "json");
        assert_eq!(examples[2].response.as_ref().unwrap().kind, "http");
    }

    #[test]
    fn examples_share_one_session_and_are_compared_with_their_documented_output() {
        let fences = fences(GUIDE);
        let examples = examples(&fences);
        let dir = std::env::temp_dir().join(test_support::unique_name("guide"));
        std::fs::create_dir_all(&dir).unwrap();
        let outputs = run(&examples, &[], &dir, Duration::from_secs(20)).unwrap();
        assert_eq!(outputs[0], "");
        assert_eq!(outputs[1].trim(), "{\"a\": 1}");
        let mismatch = compare(examples[1].response.as_ref().unwrap(), &outputs[1]).unwrap_err();
        assert!(mismatch.contains("$.a: documented 2, got 1"), "{mismatch}");
        // Timestamps are masked; headers not documented are ignored.
        compare(examples[2].response.as_ref().unwrap(), &outputs[2]).unwrap();

        let updated = update(GUIDE, &examples, &outputs);
        assert!(
            updated.contains("```json\n{\n  \"a\": 1\n}\n```"),
            "{updated}"
        );
        assert!(
            updated.contains("\n\nat 2030-01-01T00:00:00Z\n```"),
            "a block that matches keeps its masked values: {updated}"
        );
        let again = super::examples(&super::fences(&updated));
        for (example, output) in again.iter().zip(&outputs) {
            if let Some(response) = &example.response {
                compare(response, output).unwrap();
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failing_example_is_named() {
        let fences = fences("```sh\necho one\n```\n```sh\nfalse\necho never\n```\n");
        let dir = std::env::temp_dir().join(test_support::unique_name("guide"));
        std::fs::create_dir_all(&dir).unwrap();
        let failure = run(&examples(&fences), &[], &dir, Duration::from_secs(20)).unwrap_err();
        assert_eq!(failure.example, Some(1));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn masking_and_layout() {
        let value: Value = serde_json::from_str(
            r#"{"id":"01a20cde-ea16-76f0-b548-0d20c6ade734","at":"2026-11-24T09:24:25.290952Z","time":"2026-11-01 08:45:00","latency_p50_ms":1.0,"latency_p95_ms":null}"#,
        )
        .unwrap();
        assert_eq!(
            mask_json(&value),
            serde_json::json!({"id":"<uuid>","at":"<timestamp>","time":"2026-11-01 08:45:00","latency_p50_ms":"<volatile>","latency_p95_ms":null})
        );
        assert_eq!(
            pretty_json(r#"{"b":[1,{"c":"x,{y}:"}],"a":{},"e":[ ]}"#),
            "{\n  \"b\": [\n    1,\n    {\n      \"c\": \"x,{y}:\"\n    }\n  ],\n  \"a\": {},\n  \"e\": []\n}"
        );
    }
}
