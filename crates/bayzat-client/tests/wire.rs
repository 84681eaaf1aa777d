//! What goes over the wire, seen by a bare TCP server that records the request and answers
//! with whatever the test wants: things the simulator never does (echoing the key, redirecting).

mod common;

use std::time::Duration;

use bayzat_client::{ConnectionTest, Reply};
use common::{client, record, KEY};
use domain::PunchType::{CheckIn, CheckOut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Serves one request with `answer(request_text)` and hands back the request as text.
async fn one_shot(
    answer: impl FnOnce(&str) -> String + Send + 'static,
) -> (String, JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/attendance", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            request.extend_from_slice(&buf[..n]);
            if n == 0 || complete(&request) {
                break;
            }
        }
        let request = String::from_utf8(request).unwrap();
        stream.write_all(answer(&request).as_bytes()).await.unwrap();
        stream.shutdown().await.unwrap();
        request
    });
    (url, task)
}

/// Headers read and `Content-Length` bytes of body after them.
fn complete(request: &[u8]) -> bool {
    let text = String::from_utf8_lossy(request);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    body.len() >= length
}

fn http(status: &str, extra_headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{extra_headers}\r\n{body}",
        body.len()
    )
}

fn header<'a>(request: &'a str, name: &str) -> Option<&'a str> {
    let (head, _) = request.split_once("\r\n\r\n")?;
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[tokio::test]
async fn the_request_is_exactly_what_bayzat_wants() {
    let (url, server) =
        one_shot(|_| http("200 OK", "", r#"{"success":true,"message":"ok"}"#)).await;
    let records = [
        record("0042", CheckIn, "2023-04-30 09:00:00"),
        record("0042", CheckOut, "2023-04-30 17:00:00"),
    ];
    let outcome = client().send(&url, KEY, &records).await;
    assert_eq!(outcome.reply, Reply::Accepted);

    let request = server.await.unwrap();
    assert!(
        request.starts_with("POST /attendance HTTP/1.1\r\n"),
        "{request}"
    );
    assert_eq!(header(&request, "x-api-key"), Some(KEY));
    assert_eq!(header(&request, "content-type"), Some("application/json"));
    assert_eq!(header(&request, "accept"), Some("application/json"));
    assert!(header(&request, "authorization").is_none());
    let (_, body) = request.split_once("\r\n\r\n").unwrap();
    assert_eq!(
        body,
        r#"{"records":[{"empId":"0042","type":"checkIn","time":"2023-04-30 09:00:00"},{"empId":"0042","type":"checkOut","time":"2023-04-30 17:00:00"}]}"#
    );
}

#[tokio::test]
async fn a_connection_test_sends_no_record() {
    let (url, server) = one_shot(|_| http("200 OK", "", r#"{"success":true}"#)).await;
    assert_eq!(
        client().test_connection(&url, KEY).await,
        ConnectionTest::Ok
    );
    let request = server.await.unwrap();
    assert_eq!(header(&request, "x-api-key"), Some(KEY));
    assert!(request.ends_with("\r\n\r\n{\"records\":[]}"), "{request}");
}

#[tokio::test]
async fn a_key_echoed_by_the_server_is_redacted() {
    let echo = |request: &str| {
        let key = header(request, "x-api-key").unwrap_or_default().to_owned();
        http("404 Not Found", "", &format!("no such key {key}"))
    };
    let records = [record("1001", CheckIn, "2023-04-30 09:00:00")];

    let (url, _server) = one_shot(echo).await;
    let outcome = client().send(&url, KEY, &records).await;
    assert_eq!(
        outcome.reply,
        Reply::Unexpected {
            status: 404,
            body_excerpt: "no such key [redacted]".into()
        }
    );

    let (url, _server) = one_shot(echo).await;
    assert_eq!(
        client().test_connection(&url, KEY).await,
        ConnectionTest::Unexpected {
            status: 404,
            body_excerpt: "no such key [redacted]".into()
        }
    );

    let refusal = |request: &str| {
        let key = header(request, "x-api-key").unwrap_or_default().to_owned();
        let body = format!(r#"{{"success":false,"message":"key {key}: record already exists"}}"#);
        http("400 Bad Request", "", &body)
    };
    let (url, _server) = one_shot(refusal).await;
    assert_eq!(
        client().send(&url, KEY, &records).await.reply,
        Reply::Refused {
            message: "key [redacted]: record already exists".into(),
            reason: None,
            duplicate: true,
        }
    );
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    // Following it would post the key to another host.
    let (url, server) = one_shot(|_| {
        http(
            "307 Temporary Redirect",
            "Location: http://127.0.0.1:9/attendance\r\n",
            "",
        )
    })
    .await;
    let records = [record("1001", CheckIn, "2023-04-30 09:00:00")];
    let outcome = client().send(&url, KEY, &records).await;
    assert_eq!(outcome.status, Some(307));
    assert_eq!(
        outcome.reply,
        Reply::Unexpected {
            status: 307,
            body_excerpt: String::new()
        }
    );
    server.await.unwrap();
}

#[tokio::test]
async fn retry_after_seconds_are_used_without_retry_after_ms() {
    let (url, _server) = one_shot(|_| {
        http(
            "429 Too Many Requests",
            "Retry-After: 2\r\n",
            r#"{"success":false,"message":"slow down"}"#,
        )
    })
    .await;
    let records = [record("1001", CheckIn, "2023-04-30 09:00:00")];
    assert_eq!(
        client().send(&url, KEY, &records).await.reply,
        Reply::RateLimited {
            retry_after: Some(Duration::from_secs(2))
        }
    );
}

#[tokio::test]
async fn a_non_json_success_is_not_taken_for_delivery() {
    let (url, _server) = one_shot(|_| http("200 OK", "", "OK")).await;
    let records = [record("1001", CheckIn, "2023-04-30 09:00:00")];
    assert_eq!(
        client().send(&url, KEY, &records).await.reply,
        Reply::Transient {
            status: Some(200),
            detail: "answered 200 without success true: OK".into()
        }
    );
}

#[tokio::test]
async fn an_exchange_hands_back_the_answer_as_it_came() {
    let (url, _server) = one_shot(|request: &str| {
        let key = header(request, "x-api-key").unwrap_or_default().to_owned();
        http(
            "429 Too Many Requests",
            "Retry-After: 1\r\nX-Trace: abc\r\n",
            &format!(r#"{{"success":false,"message":"slow down, {key}"}}"#),
        )
    })
    .await;
    let exchange = client().exchange(&url, KEY, &[]).await;
    assert_eq!(
        exchange.outcome.reply,
        Reply::RateLimited {
            retry_after: Some(Duration::from_secs(1))
        }
    );
    let answer = exchange.answer.expect("an answer came");
    assert_eq!(answer.status, 429);
    assert_eq!(answer.headers["retry-after"], "1");
    assert!(answer.headers.get("retry-after-ms").is_none());
    assert_eq!(answer.headers["x-trace"], "abc");
    assert_eq!(
        answer.body,
        r#"{"success":false,"message":"slow down, [redacted]"}"#
    );

    // No answer: the outcome says why, and there is no answer to hand back.
    let exchange = client()
        .exchange(&common::closed_port_url(), KEY, &[])
        .await;
    assert!(matches!(
        exchange.outcome.reply,
        Reply::Transient { status: None, .. }
    ));
    assert_eq!(exchange.answer, None);
}
