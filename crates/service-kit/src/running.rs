use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::pin::Pin;

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
    drain: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
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
            drain: None,
        })
    }

    /// Work to finish when the service stops gracefully: after the HTTP server stopped, before
    /// the broker closes and the background tasks end (e.g. a call in flight, bounded by its own
    /// timeout). In a binary a second SIGTERM or SIGINT meanwhile cuts it short.
    pub fn with_drain(mut self, drain: impl Future<Output = ()> + Send + 'static) -> Self {
        self.drain = Some(Box::pin(drain));
        self
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Runs until the server stops (SIGTERM or SIGINT in a binary), then finishes the drain and
    /// shuts the rest down. A second SIGTERM or SIGINT, while the server still waits for the
    /// requests in progress or while the drain runs, stops everything at once.
    pub async fn wait(mut self) -> std::io::Result<()> {
        let mut signals = StopSignals::new();
        let result = match self.server.take() {
            Some(server) => tokio::select! {
                result = server => result.unwrap_or_else(|e| Err(std::io::Error::other(e))),
                () = signals.until(2) => {
                    tracing::warn!("second stop signal: stopping at once");
                    self.drain = None;
                    Ok(())
                }
            },
            None => Ok(()),
        };
        if let Some(drain) = self.drain.take() {
            tracing::info!("stopping: finishing work in flight");
            tokio::select! {
                () = drain => {}
                () = signals.until(2) => tracing::warn!("second stop signal: stopping at once"),
            }
        }
        self.shut_down().await;
        result
    }

    /// Stops gracefully: in-flight requests finish, then background tasks and the broker stop.
    pub async fn stop(mut self) {
        self.handle.stop(true).await;
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        if let Some(drain) = self.drain.take() {
            drain.await;
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

/// The stop signals (SIGTERM, SIGINT) a binary receives, counted from when it starts waiting.
struct StopSignals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
    seen: u32,
}

impl StopSignals {
    fn new() -> Self {
        Self {
            #[cfg(unix)]
            term: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok(),
            #[cfg(unix)]
            int: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok(),
            seen: 0,
        }
    }

    /// Resolves once `count` stop signals have arrived in all. Cancel-safe: a signal is counted
    /// when it arrives, whoever waits.
    async fn until(&mut self, count: u32) {
        while self.seen < count {
            self.next().await;
            self.seen += 1;
        }
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        if let (Some(term), Some(int)) = (self.term.as_mut(), self.int.as_mut()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
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
