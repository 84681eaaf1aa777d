//! Connections a server is closing. A server closes a connection that stayed idle for its
//! keep-alive (actix-web's, bayzat-sim's, is 5 s), and a request sent on it as it closes gets no
//! answer: "connection closed before message completed", a transport failure whose punches wait
//! for the first retry, 5 minutes later (one request in a run of 200 companies now and then).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bayzat_client::{ConnectionTest, IDLE_CONNECTION_REUSE};
use common::{client, KEY};
use test_support::read_request;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

/// A server that answers the first request of every connection and keeps the connection open,
/// and closes it unanswered when the next request comes, as one whose keep-alive runs out just
/// then. Its URL, and how many connections it was opened.
async fn closing_server() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/attendance", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                if read_request(&mut socket).await.is_empty() {
                    return;
                }
                let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                              content-length: 2\r\n\r\n{}";
                socket.write_all(answer.as_bytes()).await.unwrap();
                let _ = read_request(&mut socket).await;
            });
        }
    });
    (url, connections)
}

#[tokio::test]
async fn a_connection_idle_for_a_while_is_not_used_again() {
    let (url, connections) = closing_server().await;
    let client = client();
    assert_eq!(client.test_connection(&url, KEY).await, ConnectionTest::Ok);
    // Idle past the client's reuse limit, as a key between two imports.
    tokio::time::sleep(IDLE_CONNECTION_REUSE + Duration::from_millis(500)).await;
    assert_eq!(client.test_connection(&url, KEY).await, ConnectionTest::Ok);
    assert_eq!(connections.load(Ordering::SeqCst), 2);
}
