use std::sync::Arc;
use std::time::Instant;

use actix_web::{web, HttpResponse};
use prometheus::IntGauge;
use serde::Serialize;
use telemetry::prometheus;

/// What the operational endpoints look at.
#[derive(Clone)]
pub struct Ops {
    pool: db::Pool,
    /// None for a service that does not use the broker (the console): readiness then looks at
    /// the database alone.
    broker: Option<bus::Broker>,
    registry: prometheus::Registry,
    database_up: IntGauge,
    broker_up: Option<IntGauge>,
    /// The schema whose outbox backlog `/metrics` reports, and its gauge.
    outbox: Option<(String, IntGauge)>,
    /// The service's own gauges that a query counts, counted when scrapes ask for them.
    counted: Option<CountedGauges>,
    /// How long a request body read may wait for the next bytes.
    body_read_timeout: std::time::Duration,
    /// The last database probe: when it ended and what it found. Held while a probe runs, so
    /// the operational endpoints use at most one of the pool's connections however many
    /// requests they get, and the API keeps the rest.
    probe: Arc<tokio::sync::Mutex<Option<Probe>>>,
}

/// When a database probe ended, and what it found.
type Probe = (Instant, Result<(), String>);

impl Ops {
    /// Registers the readiness gauges in the service's registry.
    pub fn new(pool: db::Pool, broker: bus::Broker, registry: prometheus::Registry) -> Self {
        Self::build(pool, Some(broker), registry)
    }

    /// For a service that talks to Postgres but not to RabbitMQ.
    pub fn without_broker(pool: db::Pool, registry: prometheus::Registry) -> Self {
        Self::build(pool, None, registry)
    }

    fn build(pool: db::Pool, broker: Option<bus::Broker>, registry: prometheus::Registry) -> Self {
        let database_up = gauge(
            &registry,
            "database_up",
            "1 when Postgres answered the last readiness check",
        );
        let broker_up = broker.is_some().then(|| {
            gauge(
                &registry,
                "broker_up",
                "1 when RabbitMQ was connected at the last readiness check",
            )
        });
        Self {
            pool,
            broker,
            registry,
            database_up,
            broker_up,
            outbox: None,
            counted: None,
            body_read_timeout: crate::InputLimits::DEFAULT_READ_TIMEOUT,
            probe: Arc::default(),
        }
    }

    /// Reports the messages of `schema`'s outbox the broker has not confirmed yet, read at every
    /// scrape: a growing backlog means RabbitMQ is out of reach.
    pub fn watch_outbox(mut self, schema: &str) -> Self {
        let backlog = gauge(
            &self.registry,
            "outbox_backlog",
            "Messages written to the outbox and not yet confirmed by RabbitMQ",
        );
        self.outbox = Some((schema.to_owned(), backlog));
        self
    }

    /// Has `/metrics` show gauges that `count` sets from the database (a count over a large
    /// table, say). They are counted only when scraped, so they cost nothing while nobody looks:
    /// a scrape that finds the last count older than [`COUNTED_GAUGES_AGE`] starts another in the
    /// background and shows the last one, so it never waits for a slow count, and one count at
    /// a time runs however many scrapes come.
    pub fn count_when_scraped(mut self, count: CountGauges) -> Self {
        self.counted = Some(CountedGauges {
            count,
            last: Arc::default(),
        });
        self
    }

    /// Bounds every wait for the next bytes of a request body (`HTTP_BODY_READ_TIMEOUT`).
    pub fn with_body_read_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.body_read_timeout = timeout;
        self
    }

    pub fn body_read_timeout(&self) -> std::time::Duration {
        self.body_read_timeout
    }

    pub fn registry(&self) -> &prometheus::Registry {
        &self.registry
    }
}

/// Sets a service's counted gauges (see [`Ops::count_when_scraped`]).
pub type CountGauges = Arc<dyn Fn() -> futures_util::future::BoxFuture<'static, ()> + Send + Sync>;

/// How old the last count of the counted gauges may be before a scrape starts another:
/// Prometheus scrapes every 15 s (deploy/prometheus/prometheus.yml).
pub const COUNTED_GAUGES_AGE: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Clone)]
struct CountedGauges {
    count: CountGauges,
    /// When the last count started; held while a count runs, so one runs at a time.
    last: Arc<tokio::sync::Mutex<Option<Instant>>>,
}

impl CountedGauges {
    fn count_if_old(&self) {
        let Ok(mut last) = self.last.clone().try_lock_owned() else {
            return;
        };
        if last.is_some_and(|at| at.elapsed() < COUNTED_GAUGES_AGE) {
            return;
        }
        *last = Some(Instant::now());
        let count = (self.count)();
        tokio::spawn(async move {
            count.await;
            drop(last);
        });
    }
}

fn gauge(registry: &prometheus::Registry, name: &str, help: &str) -> IntGauge {
    let gauge = IntGauge::new(name, help).expect("valid metric name");
    registry
        .register(Box::new(gauge.clone()))
        .expect("each gauge is registered once per registry");
    gauge
}

#[derive(Serialize)]
struct Readiness {
    ready: bool,
    database: Check,
    #[serde(skip_serializing_if = "Option::is_none")]
    broker: Option<Check>,
}

#[derive(Serialize)]
struct Check {
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// How long a scrape waits for the outbox backlog before it reports the last value.
const SCRAPE_QUERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// The operational endpoints, answered whatever the load and never traced.
pub(crate) const OPS_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// Mounts `/healthz`, `/readyz` and `/metrics`.
pub fn configure_ops(config: &mut web::ServiceConfig, ops: Ops) {
    config
        .app_data(web::Data::new(ops))
        .route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}

/// Alive: the process answers HTTP. Says nothing about its dependencies.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Whether Postgres answers, asked at most once at a time (bounded by the pool's checkout
/// timeout): a request that waited for another's probe takes the answer that probe got, since
/// it is as recent as its own would be.
async fn database_answers(ops: &Ops) -> Result<(), String> {
    let asked = Instant::now();
    let mut last = ops.probe.lock().await;
    if let Some((ended, result)) = &*last {
        if *ended >= asked {
            return result.clone();
        }
    }
    let result = db::ping(&ops.pool).await.map_err(|e| e.to_string());
    *last = Some((Instant::now(), result.clone()));
    result
}

/// Ready: Postgres answers a query and the broker connection is open, right now.
async fn readyz(ops: web::Data<Ops>) -> HttpResponse {
    let database = match database_answers(&ops).await {
        Ok(()) => Check {
            ok: true,
            error: None,
        },
        Err(error) => Check {
            ok: false,
            error: Some(error),
        },
    };
    let broker = ops.broker.as_ref().map(|broker| {
        if broker.is_connected() {
            Check {
                ok: true,
                error: None,
            }
        } else {
            Check {
                ok: false,
                error: Some("not connected".into()),
            }
        }
    });
    let broker_ok = broker.as_ref().is_none_or(|check| check.ok);
    ops.database_up.set(i64::from(database.ok));
    if let Some(gauge) = &ops.broker_up {
        gauge.set(i64::from(broker_ok));
    }
    let ready = database.ok && broker_ok;
    let body = Readiness {
        ready,
        database,
        broker,
    };
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn metrics(ops: web::Data<Ops>) -> HttpResponse {
    if let Some((schema, backlog)) = &ops.outbox {
        // With Postgres away the gauge keeps its last value; database_up says why. While another
        // scrape or a readiness probe is at the database, this one reports the last value too.
        if let Ok(_probing) = ops.probe.try_lock() {
            let count = tokio::time::timeout(SCRAPE_QUERY_TIMEOUT, async {
                let mut conn = db::connection(&ops.pool).await.ok()?;
                outbox::backlog(&mut conn, schema).await.ok()
            })
            .await;
            if let Ok(Some(count)) = count {
                backlog.set(count);
            }
        }
    }
    if let Some(counted) = &ops.counted {
        counted.count_if_old();
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(telemetry::render(&ops.registry))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn postgres_url() -> String {
        std::env::var("TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
    }

    #[actix_web::test]
    async fn a_flood_of_readiness_probes_uses_one_connection_and_the_api_keeps_the_rest() {
        let pool = db::pool(&postgres_url(), 8).unwrap();
        let ops = web::Data::new(Ops::without_broker(
            pool.clone(),
            prometheus::Registry::new(),
        ));
        let flood = |ops: &web::Data<Ops>| -> Vec<_> {
            (0..200)
                .map(|_| actix_web::rt::spawn(readyz(ops.clone())))
                .collect()
        };
        for probe in flood(&ops) {
            assert_eq!(probe.await.unwrap().status(), 200);
        }
        assert_eq!(pool.status().size, 1, "{:?}", pool.status());

        // With the API holding every other connection, probes still answer at once, and the API
        // gets its connections back from them in time.
        let mut api = Vec::new();
        for _ in 0..7 {
            api.push(
                db::connection(&pool)
                    .await
                    .expect("a connection for the API"),
            );
        }
        let started = Instant::now();
        let probes = flood(&ops);
        let more_api = actix_web::rt::spawn({
            let pool = pool.clone();
            async move { db::connection(&pool).await.map(drop) }
        });
        for probe in probes {
            assert_eq!(probe.await.unwrap().status(), 200);
        }
        more_api
            .await
            .unwrap()
            .expect("the API gets the probes' connection");
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        drop(api);
        assert!(pool.status().size <= 8);
    }

    /// A count that takes a while: each scrape shows the last one, a scrape that finds it old
    /// starts another, and nothing counts while nobody scrapes.
    #[actix_web::test]
    async fn counted_gauges_are_counted_when_scraped_one_count_at_a_time() {
        use std::sync::atomic::{AtomicI64, Ordering};
        let registry = prometheus::Registry::new();
        let counted = gauge(&registry, "counted_things", "Things a query counts");
        let counts = Arc::new(AtomicI64::new(0));
        let (release, released) = tokio::sync::watch::channel(false);
        let ops = web::Data::new(
            Ops::without_broker(db::pool(&postgres_url(), 1).unwrap(), registry)
                .count_when_scraped(Arc::new({
                    let counts = counts.clone();
                    let counted = counted.clone();
                    move || {
                        let counts = counts.clone();
                        let counted = counted.clone();
                        let mut released = released.clone();
                        Box::pin(async move {
                            let n = counts.fetch_add(1, Ordering::SeqCst) + 1;
                            let _ = released.wait_for(|go| *go).await;
                            counted.set(n * 10);
                        })
                    }
                })),
        );
        let scrape = |ops: &web::Data<Ops>| {
            let ops = ops.clone();
            async move {
                let response = metrics(ops).await;
                let body = actix_web::body::to_bytes(response.into_body())
                    .await
                    .unwrap();
                String::from_utf8(body.to_vec()).unwrap()
            }
        };
        assert_eq!(
            counts.load(Ordering::SeqCst),
            0,
            "nothing counts before a scrape"
        );

        let first = scrape(&ops).await;
        assert!(first.contains("counted_things 0"), "{first}");
        until(|| counts.load(Ordering::SeqCst) == 1).await;
        // While the count runs, scrapes answer at once with the last values and start no other.
        for _ in 0..20 {
            assert!(scrape(&ops).await.contains("counted_things 0"));
        }
        assert_eq!(counts.load(Ordering::SeqCst), 1);
        release.send(true).unwrap();
        until(|| counted.get() == 10).await;
        assert!(scrape(&ops).await.contains("counted_things 10"));
        // A count younger than the age a count may have is not repeated.
        assert_eq!(counts.load(Ordering::SeqCst), 1);
    }

    async fn until(done: impl Fn() -> bool) {
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "not within 10 s");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}
