use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinHandle};

/// A TCP proxy between a service and a server, that a test can cut (every open connection is
/// closed and new ones are refused) and restore, to simulate an outage of that server only for
/// the service under test.
pub struct TcpProxy {
    addr: SocketAddr,
    state: Arc<State>,
    acceptor: JoinHandle<()>,
}

struct State {
    cut: AtomicBool,
    connections: Mutex<Vec<AbortHandle>>,
}

impl TcpProxy {
    /// Listens on a random loopback port and forwards to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let state = Arc::new(State {
            cut: AtomicBool::new(false),
            connections: Mutex::new(Vec::new()),
        });
        let upstream = upstream.to_owned();
        let accept_state = state.clone();
        let acceptor = tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    continue;
                };
                if accept_state.cut.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&upstream).await {
                        let mut inbound = inbound;
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                let mut connections = accept_state.connections.lock().expect("proxy state");
                connections.retain(|c| !c.is_finished());
                connections.push(task.abort_handle());
            }
        });
        Self {
            addr,
            state,
            acceptor,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every open connection and refuses new ones until [`restore`](Self::restore).
    pub fn cut(&self) {
        self.state.cut.store(true, Ordering::SeqCst);
        for connection in self
            .state
            .connections
            .lock()
            .expect("proxy state")
            .drain(..)
        {
            connection.abort();
        }
    }

    /// Accepts and forwards connections again.
    pub fn restore(&self) {
        self.state.cut.store(false, Ordering::SeqCst);
    }

    /// `url` with its `host:port` replaced by this proxy's address.
    pub fn url_for(&self, url: &str) -> String {
        let authority_start = url.find("://").map(|i| i + 3).unwrap_or(0);
        let rest = &url[authority_start..];
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        let host_start = authority.rfind('@').map(|i| i + 1).unwrap_or(0);
        format!(
            "{}{}{}{}",
            &url[..authority_start],
            &authority[..host_start],
            self.addr,
            &rest[authority_end..]
        )
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.acceptor.abort();
        self.cut();
    }
}

/// The `host:port` of a URL such as `postgres://u@h:5432/db` or `amqp://g:g@h:5672/%2f`.
pub fn upstream_of(url: &str) -> String {
    let authority_start = url.find("://").map(|i| i + 3).unwrap_or(0);
    let rest = &url[authority_start..];
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    authority[authority.rfind('@').map(|i| i + 1).unwrap_or(0)..].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn upstream_is_the_host_and_port() {
        assert_eq!(
            upstream_of("postgres://postgres@127.0.0.1:5432/db"),
            "127.0.0.1:5432"
        );
        assert_eq!(
            upstream_of("amqp://guest:guest@127.0.0.1:5672/%2f"),
            "127.0.0.1:5672"
        );
    }

    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buffer = [0u8; 64];
                    while let Ok(n) = socket.read(&mut buffer).await {
                        if n == 0 || socket.write_all(&buffer[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn round_trip(stream: &mut TcpStream) -> bool {
        if stream.write_all(b"ping").await.is_err() {
            return false;
        }
        let mut buffer = [0u8; 4];
        matches!(
            tokio::time::timeout(
                std::time::Duration::from_secs(2),
                stream.read_exact(&mut buffer)
            )
            .await,
            Ok(Ok(_))
        ) && &buffer == b"ping"
    }

    #[tokio::test]
    async fn cut_closes_open_connections_and_refuses_new_ones_until_restored() {
        let upstream = echo_server().await;
        let proxy = TcpProxy::start(&upstream.to_string()).await;
        assert_eq!(
            proxy.url_for("postgres://u@h:1/db"),
            format!("postgres://u@{}/db", proxy.addr())
        );

        let mut open = TcpStream::connect(proxy.addr()).await.unwrap();
        assert!(round_trip(&mut open).await);

        proxy.cut();
        assert!(
            !round_trip(&mut open).await,
            "an open connection is closed by a cut"
        );
        let mut refused = TcpStream::connect(proxy.addr()).await.unwrap();
        assert!(
            !round_trip(&mut refused).await,
            "a new connection is refused while cut"
        );

        proxy.restore();
        let mut again = TcpStream::connect(proxy.addr()).await.unwrap();
        assert!(round_trip(&mut again).await);
    }
}
