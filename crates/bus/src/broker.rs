//! A supervised connection to RabbitMQ.
//!
//! The supervisor keeps one connection open, declares the exchanges each time it connects, and
//! when the connection is lost (broker restart, network cut) it reconnects with backoff. Callers
//! never hold a dead connection for long: they ask for the current one, and publishers and
//! consumers re-open their channels after a reconnect.

use std::sync::Arc;
use std::time::Duration;

use lapin::{Connection, ConnectionProperties};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::topology::Topology;

/// How often the supervisor looks at the connection's state.
const WATCH_INTERVAL: Duration = Duration::from_millis(200);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Heartbeats find a silently dead peer (a partition) when no socket error does.
const HEARTBEAT_SECONDS: u16 = 10;

/// A handle on the supervised connection. Cheap to clone.
#[derive(Clone)]
pub struct Broker {
    topology: Topology,
    current: watch::Receiver<Option<Arc<Connection>>>,
    supervisor: Arc<SupervisorGuard>,
}

struct SupervisorGuard(JoinHandle<()>);

impl Drop for SupervisorGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Broker {
    /// Starts the supervisor and returns at once; the connection comes up in the background.
    /// `name` shows in the broker's connection list.
    pub fn start(url: &str, topology: Topology, name: &str) -> Self {
        let (sender, receiver) = watch::channel(None);
        let url = with_heartbeat(url);
        let task = tokio::spawn(supervise(url, topology.clone(), name.to_owned(), sender));
        Self {
            topology,
            current: receiver,
            supervisor: Arc::new(SupervisorGuard(task)),
        }
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// True when the connection is open right now (used by /readyz).
    pub fn is_connected(&self) -> bool {
        self.current
            .borrow()
            .as_ref()
            .is_some_and(|connection| connection.status().connected())
    }

    /// The open connection, if any, without waiting.
    pub fn current(&self) -> Option<Arc<Connection>> {
        self.current
            .borrow()
            .clone()
            .filter(|connection| connection.status().connected())
    }

    /// Waits until the connection is open.
    pub async fn connected(&self) -> Arc<Connection> {
        let mut receiver = self.current.clone();
        loop {
            if let Some(connection) = receiver
                .borrow_and_update()
                .clone()
                .filter(|c| c.status().connected())
            {
                return connection;
            }
            if receiver.changed().await.is_err() {
                // The supervisor is gone (the service is stopping): nothing will connect again.
                std::future::pending::<()>().await;
            }
        }
    }

    /// Stops supervising (no reconnect, no re-declaration) without waiting.
    pub fn stop_supervising(&self) {
        self.supervisor.0.abort();
    }

    /// Stops supervising and closes the connection.
    pub async fn close(&self) {
        self.supervisor.0.abort();
        let connection = self.current.borrow().clone();
        if let Some(connection) = connection {
            let _ = connection.close(200, "shutting down".into()).await;
        }
    }
}

async fn supervise(
    url: String,
    topology: Topology,
    name: String,
    current: watch::Sender<Option<Arc<Connection>>>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match connect(&url, &topology, &name).await {
            Ok(connection) => {
                tracing::info!(connection = %name, "connected to the broker");
                backoff = Duration::from_millis(100);
                let connection = Arc::new(connection);
                current.send_replace(Some(connection.clone()));
                while connection.status().connected() {
                    tokio::time::sleep(WATCH_INTERVAL).await;
                }
                current.send_replace(None);
                tracing::warn!(connection = %name, "lost the broker connection; reconnecting");
            }
            Err(error) => {
                tracing::warn!(connection = %name, %error, retry_in_ms = backoff.as_millis() as u64, "broker not reachable");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn connect(url: &str, topology: &Topology, name: &str) -> Result<Connection, String> {
    let properties = ConnectionProperties::default().with_connection_name(name.into());
    let connection = tokio::time::timeout(CONNECT_TIMEOUT, Connection::connect(url, properties))
        .await
        .map_err(|_| "connection timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    let channel = connection
        .create_channel()
        .await
        .map_err(|e| e.to_string())?;
    topology
        .declare_all(&channel)
        .await
        .map_err(|e| format!("declaring the topology: {e}"))?;
    let _ = channel.close(200, "declared".into()).await;
    Ok(connection)
}

fn with_heartbeat(url: &str) -> String {
    if url.contains("heartbeat=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&heartbeat={HEARTBEAT_SECONDS}")
    } else {
        format!("{url}?heartbeat={HEARTBEAT_SECONDS}")
    }
}

#[cfg(test)]
mod tests {
    use super::with_heartbeat;

    #[test]
    fn heartbeat_is_added_unless_configured() {
        assert_eq!(
            with_heartbeat("amqp://h:5672/%2f"),
            "amqp://h:5672/%2f?heartbeat=10"
        );
        assert_eq!(
            with_heartbeat("amqp://h/%2f?frame_max=8192"),
            "amqp://h/%2f?frame_max=8192&heartbeat=10"
        );
        assert_eq!(
            with_heartbeat("amqp://h?heartbeat=3"),
            "amqp://h?heartbeat=3"
        );
    }
}
