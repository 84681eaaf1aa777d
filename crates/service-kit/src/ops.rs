use actix_web::{web, HttpResponse};
use prometheus::IntGauge;
use serde::Serialize;
use telemetry::prometheus;

/// What the operational endpoints look at.
#[derive(Clone)]
pub struct Ops {
    pool: db::Pool,
    broker: bus::Broker,
    registry: prometheus::Registry,
    database_up: IntGauge,
    broker_up: IntGauge,
}

impl Ops {
    /// Registers the readiness gauges in the service's registry.
    pub fn new(pool: db::Pool, broker: bus::Broker, registry: prometheus::Registry) -> Self {
        let database_up = gauge(
            &registry,
            "database_up",
            "1 when Postgres answered the last readiness check",
        );
        let broker_up = gauge(
            &registry,
            "broker_up",
            "1 when RabbitMQ was connected at the last readiness check",
        );
        Self {
            pool,
            broker,
            registry,
            database_up,
            broker_up,
        }
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
    broker: Check,
}

#[derive(Serialize)]
struct Check {
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

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
    let broker = if ops.broker.is_connected() {
        Check {
            ok: true,
            error: None,
        }
    } else {
        Check {
            ok: false,
            error: Some("not connected".into()),
        }
    };
    ops.database_up.set(i64::from(database.ok));
    ops.broker_up.set(i64::from(broker.ok));
    let ready = database.ok && broker.ok;
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
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(telemetry::render(&ops.registry))
}
