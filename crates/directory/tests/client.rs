//! The directory client against a stand-in for config-service's `GET /v1/directory` that answers
//! with ETags like it does, slowly, counting requests: calls at once share revalidations, and a
//! call never gets a snapshot older than a change made before it began.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use directory::DirectoryClient;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// How long the stand-in takes to answer: long enough for calls to queue behind a request.
const ANSWER_AFTER: Duration = Duration::from_millis(100);

#[derive(Default)]
struct Directory {
    version: AtomicI64,
    requests: AtomicUsize,
    /// The next requests answered 429, as config-service's rate limit does.
    limited: AtomicUsize,
}

impl Directory {
    fn answer(&self, if_none_match: Option<&str>) -> String {
        self.requests.fetch_add(1, Ordering::SeqCst);
        if self
            .limited
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            let body = r#"{"status":429,"code":"rate_limited"}"#;
            return format!(
                "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
        }
        let version = self.version.load(Ordering::SeqCst);
        let etag = format!("\"{version}\"");
        if if_none_match == Some(etag.as_str()) {
            return format!(
                "HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\ncontent-length: 0\r\n\r\n"
            );
        }
        let body = format!(r#"{{"version":{version},"companies":[]}}"#);
        format!(
            "HTTP/1.1 200 OK\r\nETag: {etag}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
    }
}

/// Serves `directory` on a free port (requests kept alive); its base URL.
async fn serve(directory: Arc<Directory>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            let directory = directory.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                let mut if_none_match = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(value) = line
                        .to_ascii_lowercase()
                        .strip_prefix("if-none-match:")
                        .map(|v| v.trim().to_owned())
                    {
                        if_none_match = Some(value);
                    }
                    if line.is_empty() {
                        // The version is read when the request arrives, as the database would.
                        let answer = directory.answer(if_none_match.take().as_deref());
                        tokio::time::sleep(ANSWER_AFTER).await;
                        if write.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    base
}

#[tokio::test]
async fn calls_at_once_share_requests_and_none_misses_an_earlier_change() {
    let directory = Arc::new(Directory::default());
    let client = Arc::new(DirectoryClient::new(
        &serve(directory.clone()).await,
        || "token".to_owned(),
    ));
    assert_eq!(client.current().await.unwrap().version, 0);
    assert_eq!(directory.requests.load(Ordering::SeqCst), 1);

    // 40 calls at once: one request in flight when they began, then one more serves them all.
    let calls: Vec<_> = (0..40)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.current().await.unwrap().version })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap(), 0);
    }
    let requests = directory.requests.load(Ordering::SeqCst) - 1;
    assert!(
        (1..=2).contains(&requests),
        "40 calls at once cost {requests} requests"
    );

    // A change made while a request is in flight: a call that begins after the change does not
    // take the answer of the request sent before it.
    let before = tokio::spawn({
        let client = client.clone();
        async move { client.current().await.unwrap().version }
    });
    tokio::time::sleep(ANSWER_AFTER / 4).await;
    directory.version.store(1, Ordering::SeqCst);
    let after = client.current().await.unwrap().version;
    assert_eq!(after, 1, "the call after the change sees it");
    assert!(before.await.unwrap() <= 1);

    // One at a time, each call asks again.
    let counted = directory.requests.load(Ordering::SeqCst);
    for _ in 0..3 {
        assert_eq!(client.current().await.unwrap().version, 1);
    }
    assert_eq!(directory.requests.load(Ordering::SeqCst), counted + 3);
}

#[tokio::test]
async fn a_429_is_waited_out_as_told() {
    let directory = Arc::new(Directory::default());
    let client = DirectoryClient::new(&serve(directory.clone()).await, || "token".to_owned());
    directory.limited.store(2, Ordering::SeqCst);
    let started = tokio::time::Instant::now();
    assert_eq!(client.current().await.unwrap().version, 0);
    assert_eq!(
        directory.requests.load(Ordering::SeqCst),
        3,
        "two 429s, then the answer"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "Retry-After: 1, twice"
    );

    // Config-service refusing for longer than the client waits: the call fails with the 429.
    directory.limited.store(100, Ordering::SeqCst);
    let error = client.current().await.unwrap_err();
    assert!(error.to_string().contains("429"), "{error}");
}
