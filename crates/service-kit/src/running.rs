use std::net::{SocketAddr, TcpListener};

use actix_web::dev::{Server, ServerHandle};
use tokio::task::JoinHandle;

/// Everything a started service owns, so that stopping it stops all of it. Dropping it stops the
/// consumers, the background tasks and the broker connection at once (a test that ends without
/// `stop` leaves nothing running that could re-declare its broker objects).
pub struct ServiceParts {
    /// None for a service without a broker connection.
    pub broker: Option<bus::Broker>,
    /// Background tasks (relays, schedulers) stopped with the service.
    pub tasks: Vec<JoinHandle<()>>,
    /// Queue consumers, stopped with the service.
    pub consumers: Vec<bus::ConsumerHandle>,
}

impl ServiceParts {
    /// The parts of a service with background tasks but no broker.
    pub fn without_broker(tasks: Vec<JoinHandle<()>>) -> Self {
        Self {
            broker: None,
            tasks,
            consumers: Vec::new(),
        }
    }
}

impl Drop for ServiceParts {
    fn drop(&mut self) {
        for consumer in &self.consumers {
            consumer.stop();
        }
        for task in &self.tasks {
            task.abort();
        }
        if let Some(broker) = &self.broker {
            broker.stop_supervising();
        }
    }
}

/// A service listening on `addr`: for binaries (`wait`) and for tests (`base_url`, `stop`).
/// Dropping it stops the server without waiting for in-flight requests.
pub struct RunningService {
    addr: SocketAddr,
    handle: ServerHandle,
    server: Option<JoinHandle<std::io::Result<()>>>,
    parts: Option<ServiceParts>,
}

impl RunningService {
    /// Binds first (so port 0 gives a real port), then runs `build(listener)` as the HTTP server.
    pub fn start(
        bind: SocketAddr,
        parts: ServiceParts,
        build: impl FnOnce(TcpListener) -> std::io::Result<Server>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(bind)?;
        let addr = listener.local_addr()?;
        let server = build(listener)?;
        let handle = server.handle();
        let server = tokio::spawn(server);
        tracing::info!(%addr, "listening");
        Ok(Self {
            addr,
            handle,
            server: Some(server),
            parts: Some(parts),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Runs until the server stops (SIGTERM or SIGINT in a binary), then shuts the rest down.
    pub async fn wait(mut self) -> std::io::Result<()> {
        let result = match self.server.take() {
            Some(server) => server
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e))),
            None => Ok(()),
        };
        self.shut_down().await;
        result
    }

    /// Stops gracefully: in-flight requests finish, then background tasks and the broker stop.
    pub async fn stop(mut self) {
        self.handle.stop(true).await;
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        self.shut_down().await;
    }

    async fn shut_down(&mut self) {
        if let Some(parts) = self.parts.take() {
            if let Some(broker) = &parts.broker {
                broker.close().await;
            }
            drop(parts);
            tracing::info!("stopped");
        }
    }
}

impl Drop for RunningService {
    fn drop(&mut self) {
        if self.server.is_some() {
            // Sends the stop command now; the server finishes on its own.
            drop(self.handle.stop(false));
        }
    }
}
