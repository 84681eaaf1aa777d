use std::net::{SocketAddr, TcpListener};

use actix_web::dev::{Server, ServerHandle};
use tokio::task::JoinHandle;

/// Everything a started service owns, so that stopping it stops all of it.
pub struct ServiceParts {
    pub broker: bus::Broker,
    /// Background tasks (relays, schedulers) stopped with the service.
    pub tasks: Vec<JoinHandle<()>>,
    /// Queue consumers, stopped with the service.
    pub consumers: Vec<bus::ConsumerHandle>,
}

/// A service listening on `addr`: for binaries (`wait`) and for tests (`base_url`, `stop`).
pub struct RunningService {
    addr: SocketAddr,
    handle: ServerHandle,
    server: JoinHandle<std::io::Result<()>>,
    parts: ServiceParts,
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
            server,
            parts,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Runs until the server stops (SIGTERM or SIGINT in a binary), then shuts the rest down.
    pub async fn wait(self) -> std::io::Result<()> {
        let RunningService { server, parts, .. } = self;
        let result = server
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        shut_down(parts).await;
        result
    }

    /// Stops gracefully: in-flight requests finish, then background tasks and the broker stop.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        let _ = self.server.await;
        shut_down(self.parts).await;
    }
}

async fn shut_down(parts: ServiceParts) {
    for consumer in &parts.consumers {
        consumer.stop();
    }
    for task in &parts.tasks {
        task.abort();
    }
    parts.broker.close().await;
    tracing::info!("stopped");
}
