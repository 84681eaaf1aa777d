//! What the consumers, senders, scheduler and handlers share, and the per-company parts of this
//! replica: one consumer of `sync.company.{id}` and one sender task per company.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use bayzat_client::BayzatClient;
use bus::Broker;
use directory::DirectoryClient;
use outbox::RelayWaker;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::keys::KeyCache;
use crate::metrics::Metrics;
use crate::settings::BayzatSettings;
use crate::store::companies;

/// What the consumers, senders, scheduler and API handlers of this replica share: the pool, the
/// broker, the Bayzat client, the keys, the clock and the stop signal.
pub struct SyncContext {
    pub pool: db::Pool,
    pub broker: Broker,
    pub relay: RelayWaker,
    pub clock: Clock,
    pub replica_id: String,
    pub lease_ttl: std::time::Duration,
    pub bayzat_settings: BayzatSettings,
    pub bayzat: BayzatClient,
    pub keys: KeyCache,
    pub directory: DirectoryClient,
    pub metrics: Metrics,
    /// True once the service stops: senders start no new call.
    pub stopping: tokio::sync::watch::Sender<bool>,
    /// Stores the ready messages the company consumers hand over.
    pub storer: crate::storing::Storer,
}

impl SyncContext {
    pub fn is_stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    /// Resolves once the service stops.
    pub async fn stopped(&self) {
        let mut stopping = self.stopping.subscribe();
        let _ = stopping.wait_for(|stopping| *stopping).await;
    }
}

struct CompanyParts {
    /// Subscribes to the company's queue (at once, or after [`STANDBY_DELAY`] when another
    /// replica is preferred) and holds the consumer; aborting it cancels the consumer.
    subscription: JoinHandle<()>,
    /// Wakes the company's sender; the consumer holds it too.
    wake: Arc<Notify>,
    /// None once [`CompanyWorkers::finish`] took it to wait for it.
    sender: Option<JoinHandle<()>>,
}

impl Drop for CompanyParts {
    fn drop(&mut self) {
        self.subscription.abort();
        if let Some(sender) = &self.sender {
            sender.abort();
        }
    }
}

/// How long a replica waits before it subscribes, as a stand-by, to the queue of a company another
/// replica is preferred for: long enough for the preferred replica to subscribe first and so
/// become the queue's single active consumer.
pub const STANDBY_DELAY: std::time::Duration = std::time::Duration::from_secs(3);

/// Each company's consumer and sender on this replica: the companies it consumes and sends for.
/// Dropping it stops them all.
pub struct CompanyWorkers {
    shared: Arc<SyncContext>,
    companies: Mutex<HashMap<i64, CompanyParts>>,
    /// The replicas alive at the last heartbeat, by name (this one included once it beat).
    replicas: Mutex<Vec<String>>,
    me: Weak<CompanyWorkers>,
}

impl CompanyWorkers {
    pub fn new(shared: Arc<SyncContext>) -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            shared,
            companies: Mutex::new(HashMap::new()),
            replicas: Mutex::new(Vec::new()),
            me: me.clone(),
        })
    }

    pub fn weak(&self) -> Weak<CompanyWorkers> {
        self.me.clone()
    }

    pub fn knows(&self, company_id: i64) -> bool {
        self.lock().contains_key(&company_id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, CompanyParts>> {
        self.companies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts consuming the company's queue and its sender, once; records its sync state.
    pub async fn ensure(&self, company_id: i64, is_enabled: bool) -> Result<(), db::DbError> {
        if self.knows(company_id) {
            return Ok(());
        }
        let mut conn = db::connection(&self.shared.pool).await?;
        companies::ensure(&mut conn, company_id, is_enabled, self.shared.clock.now()).await?;
        drop(conn);
        let mut map = self.lock();
        if map.contains_key(&company_id) {
            return Ok(());
        }
        self.shared.metrics.track_company(company_id);
        let wake = Arc::new(Notify::new());
        let sender = crate::sender::spawn(self.shared.clone(), company_id, wake.clone());
        let subscription = self.subscribe(company_id, &wake);
        map.insert(
            company_id,
            CompanyParts {
                subscription,
                wake,
                sender: Some(sender),
            },
        );
        Ok(())
    }

    /// Whether this replica is the one preferred to send for the company (also when no heartbeat
    /// was read yet: alone, or starting together with others, it subscribes at once).
    fn preferred(&self, company_id: i64) -> bool {
        let replicas = self
            .replicas
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        delivery::preferred_replica(company_id, &replicas)
            .is_none_or(|preferred| preferred == self.shared.replica_id)
    }

    /// Starts consuming the company's queue: at once where this replica is preferred, after
    /// [`STANDBY_DELAY`] elsewhere, so the preferred replica's consumer is the active one.
    fn subscribe(&self, company_id: i64, wake: &Arc<Notify>) -> JoinHandle<()> {
        let delay = if self.preferred(company_id) {
            std::time::Duration::ZERO
        } else {
            STANDBY_DELAY
        };
        let shared = self.shared.clone();
        let wake = wake.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _consumer = crate::events::spawn_company_consumer(&shared, company_id, wake);
            tracing::info!(
                company_id,
                standby = !delay.is_zero(),
                "consuming the company's queue"
            );
            std::future::pending::<()>().await
        })
    }

    /// Takes in the replicas alive now. When they changed, this replica cancels and renews its
    /// consumer of every company another replica is preferred for, as a stand-by behind that
    /// replica's: RabbitMQ then makes the preferred replica's consumer the active one, and the
    /// companies spread over the replicas. A consumer cancelled mid-message leaves it
    /// unacknowledged, and RabbitMQ hands it to the next consumer.
    pub fn share(&self, alive: Vec<String>) {
        {
            let mut replicas = self
                .replicas
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if *replicas == alive {
                return;
            }
            tracing::info!(replicas = ?alive, "the replicas sharing the companies changed");
            *replicas = alive;
        }
        let mut map = self.lock();
        let mut moved = 0;
        for (company_id, parts) in map.iter_mut() {
            if self.preferred(*company_id) {
                continue;
            }
            parts.subscription.abort();
            parts.subscription = self.subscribe(*company_id, &parts.wake);
            moved += 1;
        }
        drop(map);
        if moved > 0 {
            tracing::info!(companies = moved, "left to the replicas preferred for them");
        }
        let sharing = self
            .replicas
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len();
        self.shared
            .metrics
            .replicas
            .set(i64::try_from(sharing).unwrap_or(i64::MAX));
    }

    /// The service stops: every sender finishes the call it is making (and writes its outcome),
    /// starts no other, and gives its lease up; one still busy after `within` is cut off (its
    /// deliveries stay `sending`, resent by whichever replica sends for the company next).
    pub async fn finish(&self, within: std::time::Duration) {
        self.shared.stopping.send_replace(true);
        let senders: Vec<(i64, JoinHandle<()>)> = self
            .lock()
            .iter_mut()
            .filter_map(|(id, parts)| parts.sender.take().map(|sender| (*id, sender)))
            .collect();
        let deadline = tokio::time::Instant::now() + within;
        for (company_id, mut sender) in senders {
            if tokio::time::timeout_at(deadline, &mut sender)
                .await
                .is_err()
            {
                tracing::warn!(
                    company_id,
                    "sender still busy at the stop deadline; cut off"
                );
                sender.abort();
            }
        }
    }

    /// The company was deleted: stop its consumer and sender.
    pub fn remove(&self, company_id: i64) {
        self.lock().remove(&company_id);
    }

    /// Every company of the directory snapshot gets its consumer; errors are logged and the next
    /// round tries again.
    pub async fn ensure_directory(&self) {
        let snapshot = match self.shared.directory.current().await {
            Ok(snapshot) => snapshot,
            Err(error) => {
                tracing::warn!(%error, "directory snapshot unavailable; companies not refreshed");
                return;
            }
        };
        for company in &snapshot.companies {
            if let Err(error) = self.ensure(company.id, company.is_enabled).await {
                tracing::warn!(company_id = company.id, %error, "company not started");
            }
        }
    }
}
