use bus::lapin::options::{ExchangeDeleteOptions, QueueDeclareOptions, QueueDeleteOptions};
use bus::lapin::types::FieldTable;
use bus::lapin::{Connection, ConnectionProperties};
use bus::Topology;

/// Company ids a test may use: their `sync.company.{id}` queues are removed with the namespace.
/// Test databases are fresh, so companies get small ids.
const COMPANY_IDS_CLEANED: std::ops::RangeInclusive<i64> = 1..=200;

/// A broker namespace of one test: every exchange and queue the services declare under it is
/// deleted when the value is dropped.
pub struct TestBroker {
    url: String,
    namespace: String,
}

impl TestBroker {
    pub fn new() -> Self {
        let url = std::env::var("TEST_AMQP_URL")
            .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
        Self {
            url,
            namespace: format!("{}.", crate::unique_name("t")),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn topology(&self) -> Topology {
        Topology::new(self.namespace.clone())
    }

    /// What the broker says of `queue` now: the messages waiting (not handed to a consumer) and
    /// its consumers. Panics when the queue does not exist.
    pub async fn queue_now(&self, queue: &str) -> QueueNow {
        let connection = Connection::connect(&self.url, ConnectionProperties::default())
            .await
            .expect("connect to RabbitMQ");
        let channel = connection.create_channel().await.expect("a channel");
        let declared = channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("the queue exists");
        let _ = connection.close(200, "looked".into()).await;
        QueueNow {
            waiting: declared.message_count(),
            consumers: declared.consumer_count(),
        }
    }
}

/// A queue's counts, as [`TestBroker::queue_now`] read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueNow {
    pub waiting: u32,
    pub consumers: u32,
}

impl Default for TestBroker {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        let url = self.url.clone();
        let topology = self.topology();
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime for clean-up");
            runtime.block_on(remove_namespace(&url, &topology));
        });
        let _ = cleanup.join();
    }
}

async fn remove_namespace(url: &str, topology: &Topology) {
    let Ok(connection) = Connection::connect(url, ConnectionProperties::default()).await else {
        return;
    };
    let Ok(channel) = connection.create_channel().await else {
        return;
    };
    let mut queues = vec![topology.dead_letter_queue()];
    queues.extend(topology.shared_queues().into_iter().map(|queue| queue.name));
    queues.extend(COMPANY_IDS_CLEANED.map(|id| topology.company_queue(id).name));
    for queue in queues {
        // Deleting a queue that does not exist succeeds in RabbitMQ.
        let _ = channel
            .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
            .await;
    }
    for exchange in [topology.exchange(), topology.dead_letter_exchange()] {
        let _ = channel
            .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
            .await;
    }
    let _ = connection.close(200, "test finished".into()).await;
}
