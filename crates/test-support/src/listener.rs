//! A host that must never receive a Bayzat key, as a test sees it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

/// A plain HTTP listener on a random loopback port that keeps every request it is sent, whole,
/// and answers each the same way. [`RecordingListener::start`] stands in for a host that must never
/// receive a key.
pub struct RecordingListener {
    /// Its URL: the attendance URL, as a company's api_url would name it, for
    /// [`RecordingListener::start`].
    pub url: String,
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
    acceptor: JoinHandle<()>,
}

impl RecordingListener {
    /// Answers every request 401, at `/attendance`.
    pub async fn start() -> Self {
        Self::answering("401 Unauthorized", "/attendance").await
    }

    /// Answers every request with `status` (e.g. "200 OK") and no body; `url` names `path`.
    pub async fn answering(status: &str, path: &str) -> Self {
        let socket = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a listener");
        let url = format!(
            "http://{}{path}",
            socket.local_addr().expect("the listener's address")
        );
        let answer: Arc<[u8]> =
            format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .into_bytes()
                .into();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let keep = requests.clone();
        let acceptor = tokio::spawn(async move {
            while let Ok((mut stream, _)) = socket.accept().await {
                let keep = keep.clone();
                let answer = answer.clone();
                tokio::spawn(async move {
                    let request = read_request(&mut stream).await;
                    if !request.is_empty() {
                        lock(&keep).push(request);
                    }
                    let _ = stream.write_all(&answer).await;
                });
            }
        });
        Self {
            url,
            requests,
            acceptor,
        }
    }

    /// Everything received so far, as text.
    pub fn received(&self) -> String {
        lock(&self.requests)
            .iter()
            .map(|request| String::from_utf8_lossy(request).into_owned())
            .collect()
    }

    /// The body of every request received so far (what follows its head).
    pub fn bodies(&self) -> Vec<Vec<u8>> {
        lock(&self.requests)
            .iter()
            .map(|request| {
                let head = request.windows(4).position(|w| w == b"\r\n\r\n");
                head.map_or_else(Vec::new, |end| request[end + 4..].to_vec())
            })
            .collect()
    }

    /// How many requests arrived so far.
    pub fn requests(&self) -> usize {
        lock(&self.requests).len()
    }
}

impl Drop for RecordingListener {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One HTTP request: its head, then as many body bytes as its content-length says (whatever
/// arrived when the sender stops writing for five seconds); empty when the sender closed first.
pub async fn read_request(stream: &mut tokio::net::TcpStream) -> Vec<u8> {
    let mut request = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer)).await;
        let Ok(Ok(n)) = read else { break };
        if n == 0 {
            break;
        }
        request.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&request).to_ascii_lowercase();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if request.len() >= end + 4 + length {
                break;
            }
        }
    }
    request
}
