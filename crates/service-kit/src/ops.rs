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
}

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

    pub fn registry(&self) -> &prometheus::Registry {
        &self.registry
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

/// Ready: Postgres answers a query and the broker connection is open, right now.
async fn readyz(ops: web::Data<Ops>) -> HttpResponse {
    let database = match db::ping(&ops.pool).await {
        Ok(()) => Check {
            ok: true,
            error: None,
        },
        Err(e) => Check {
            ok: false,
            error: Some(e.to_string()),
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
        // With Postgres away the gauge keeps its last value; database_up says why.
        if let Ok(mut conn) = db::connection(&ops.pool).await {
            if let Ok(count) = outbox::backlog(&mut conn, schema).await {
                backlog.set(count);
            }
        }
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(telemetry::render(&ops.registry))
}
