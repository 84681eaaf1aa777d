//! The HTTP server of a service. [`serve`] is a REST API's: the middleware stack, the defaults
//! every API registers and the listeners, around the routes and data the service adds.
//! [`serve_app`] is the part underneath, the listeners and the server's life, for an app with a
//! stack of its own (the console's pages).

use std::net::{SocketAddr, TcpListener};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, App, HttpServer, ResponseError};

use crate::{ApiRateLimit, Ops, Problem, RunningService, ServiceParts};

/// How a REST API is served: where, with which limits, and on which further listener its
/// internal routes are.
pub struct HttpApi {
    bind: SocketAddr,
    ops: Ops,
    rate_limit: ApiRateLimit,
    body_limit: usize,
    internal: Option<InternalListener>,
}

/// A listener of its own for the routes other services call, and only for them.
struct InternalListener {
    listener: TcpListener,
    routes: InternalRoutes,
    /// Its callers' allowance, when it is not the API's.
    rate_limit: Option<ApiRateLimit>,
}

/// The allowance of the requests that come in on the internal listener (at `addr`), in place of
/// the API's: its callers are others than the API's (fingerprint terminals, many behind one
/// address), and neither should use up the other's.
pub(crate) struct InternalRateLimit {
    pub(crate) addr: SocketAddr,
    pub(crate) limit: ApiRateLimit,
}

/// Where the internal routes are served, and how their paths begin.
#[derive(Clone, Copy)]
struct InternalRoutes {
    addr: SocketAddr,
    prefix: &'static str,
}

impl HttpApi {
    /// The API on `bind`, with the operational endpoints of `ops`, each caller limited by
    /// `rate_limit`, and JSON and form bodies of at most `body_limit` bytes.
    pub fn new(bind: SocketAddr, ops: Ops, rate_limit: ApiRateLimit, body_limit: usize) -> Self {
        Self {
            bind,
            ops,
            rate_limit,
            body_limit,
            internal: None,
        }
    }

    /// Serves the routes whose path starts with `prefix` on `listener` instead: there and only
    /// there, and nothing else there. A request for the other listener's routes gets the same 404
    /// as an unknown route, so the public bind does not even tell that they exist.
    pub fn with_internal_listener(
        mut self,
        listener: TcpListener,
        prefix: &'static str,
    ) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        self.internal = Some(InternalListener {
            listener,
            routes: InternalRoutes { addr, prefix },
            rate_limit: None,
        });
        Ok(self)
    }

    /// Limits the callers of the internal listener by `rate_limit` instead of the API's
    /// allowance; without an internal listener, nothing changes.
    pub fn with_internal_rate_limit(mut self, rate_limit: ApiRateLimit) -> Self {
        if let Some(internal) = self.internal.as_mut() {
            internal.rate_limit = Some(rate_limit);
        }
        self
    }
}

/// Serves a REST API: binds (port 0 gives a real port), then answers with `configure`'s routes
/// and data behind the stack every API has. From the outside in: a span per request
/// (`trace_requests`, so it sees every refusal), the per-caller rate limit, the input checks
/// (`checked_input`), and, with an internal listener, the split of the routes between the
/// listeners. `configure` runs after the defaults of [`crate::api_defaults`] (operational
/// endpoints, problem+json for bad JSON, queries and paths), once per worker.
pub fn serve(
    api: HttpApi,
    parts: ServiceParts,
    configure: impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
) -> std::io::Result<RunningService> {
    let HttpApi {
        bind,
        ops,
        rate_limit,
        body_limit,
        internal,
    } = api;
    let (also_on, internal_routes, internal_limit) = match internal {
        Some(internal) => {
            let limit = internal.rate_limit.map(|limit| InternalRateLimit {
                addr: internal.routes.addr,
                limit,
            });
            (vec![internal.listener], Some(internal.routes), limit)
        }
        None => (Vec::new(), None, None),
    };
    let internal_limit = internal_limit.map(web::Data::new);
    // One limiter for all the workers: a caller's allowance is the service's, not a worker's.
    let rate_limit = web::Data::new(rate_limit);
    let app = move || {
        let mut app = App::new();
        if let Some(limit) = &internal_limit {
            app = app.app_data(limit.clone());
        }
        app.wrap(from_fn(move |req, next| {
            keep_to_listener(internal_routes, req, next)
        }))
        .wrap(from_fn(crate::checked_input))
        .wrap(from_fn(crate::rate_limit))
        .wrap(from_fn(crate::trace_requests))
        .configure(crate::api_defaults(
            ops.clone(),
            rate_limit.clone(),
            body_limit,
        ))
        .configure(|config| configure(config))
    };
    let running = serve_app(bind, also_on, parts, app)?;
    if let Some(routes) = internal_routes {
        tracing::info!(addr = %routes.addr, "internal endpoints listening");
    }
    Ok(running)
}

/// Serves `app` on `bind` and on the listeners `also_on` (already bound): the listener handling
/// and the server's life as [`RunningService`] has them, for an app that builds its own stack.
pub fn serve_app<F, T, B>(
    bind: SocketAddr,
    also_on: Vec<TcpListener>,
    parts: ServiceParts,
    app: F,
) -> std::io::Result<RunningService>
where
    F: Fn() -> App<T> + Send + Clone + 'static,
    T: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    B: MessageBody + 'static,
{
    RunningService::start(bind, parts, move |listener| {
        let mut server = HttpServer::new(app).listen(listener)?;
        for listener in also_on {
            server = server.listen(listener)?;
        }
        Ok(server.run())
    })
}

/// Keeps the internal routes on the internal listener and everything else off it; passes every
/// request on when there is no internal listener.
async fn keep_to_listener<B: MessageBody>(
    internal: Option<InternalRoutes>,
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    if let Some(internal) = internal {
        let on_internal = req.app_config().local_addr() == internal.addr;
        let internal_route = req.path().starts_with(internal.prefix);
        if on_internal != internal_route {
            let response = Problem::not_found("route").error_response();
            return Ok(req.into_response(response).map_into_right_body());
        }
    }
    Ok(next.call(req).await?.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use actix_web::HttpResponse;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// The status of `GET path` at `addr`.
    async fn status(addr: SocketAddr, path: &str) -> u16 {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"))
    }

    fn api(per_second: u32) -> HttpApi {
        // The pool connects lazily: nothing here reaches Postgres.
        let pool = db::pool("postgres://nobody@127.0.0.1:1/none", 1).unwrap();
        let ops = Ops::without_broker(pool, telemetry::prometheus::Registry::new());
        let limit = ApiRateLimit::per_second(NonZeroU32::new(per_second).unwrap());
        HttpApi::new(([127, 0, 0, 1], 0).into(), ops, limit, 1024)
    }

    fn routes(config: &mut web::ServiceConfig) {
        config
            .route("/v1/thing", web::get().to(HttpResponse::Ok))
            .route("/internal/v1/thing", web::get().to(HttpResponse::Ok));
    }

    #[tokio::test]
    async fn internal_routes_are_served_on_the_internal_listener_only() {
        let internal = TcpListener::bind("127.0.0.1:0").unwrap();
        let internal_addr = internal.local_addr().unwrap();
        let http = api(1000)
            .with_internal_listener(internal, "/internal/")
            .unwrap();
        let running = serve(http, ServiceParts::without_broker(Vec::new()), routes).unwrap();
        let public = running.addr();
        assert_eq!(status(public, "/v1/thing").await, 200);
        assert_eq!(status(public, "/healthz").await, 200);
        assert_eq!(status(public, "/internal/v1/thing").await, 404);
        assert_eq!(status(internal_addr, "/internal/v1/thing").await, 200);
        assert_eq!(status(internal_addr, "/v1/thing").await, 404);
        assert_eq!(status(internal_addr, "/healthz").await, 404);
        running.stop().await;
    }

    #[tokio::test]
    async fn the_internal_listener_has_an_allowance_of_its_own() {
        let internal = TcpListener::bind("127.0.0.1:0").unwrap();
        let internal_addr = internal.local_addr().unwrap();
        // The API allows one a second in bursts of ten; the internal listener a thousand.
        let http = api(1)
            .with_internal_listener(internal, "/internal/")
            .unwrap()
            .with_internal_rate_limit(ApiRateLimit::per_second(NonZeroU32::new(1000).unwrap()));
        let running = serve(http, ServiceParts::without_broker(Vec::new()), routes).unwrap();
        for _ in 0..30 {
            assert_eq!(status(internal_addr, "/internal/v1/thing").await, 200);
        }
        for _ in 0..10 {
            assert_eq!(status(running.addr(), "/v1/thing").await, 200);
        }
        assert_eq!(status(running.addr(), "/v1/thing").await, 429);
        assert_eq!(status(internal_addr, "/internal/v1/thing").await, 200);
        running.stop().await;
    }

    #[tokio::test]
    async fn without_an_internal_listener_every_route_is_public() {
        let running = serve(api(1000), ServiceParts::without_broker(Vec::new()), routes).unwrap();
        assert_eq!(status(running.addr(), "/internal/v1/thing").await, 200);
        running.stop().await;
    }

    #[tokio::test]
    async fn requests_refused_by_the_input_checks_count_toward_the_rate_limit() {
        // One a second, bursts of ten: the rate limit sits outside the input checks, so ten
        // refused requests use the burst up and the eleventh is limited, however good.
        let running = serve(api(1), ServiceParts::without_broker(Vec::new()), routes).unwrap();
        for _ in 0..10 {
            assert_eq!(status(running.addr(), "/v1/thing?q=%00").await, 400);
        }
        assert_eq!(status(running.addr(), "/v1/thing").await, 429);
        running.stop().await;
    }
}
