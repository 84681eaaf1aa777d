//! The services' own API is rate limited per token (DESIGN.md §6): one runaway client cannot
//! starve the others. Requests without a token are limited per peer address. The operational
//! endpoints are never limited, so probes keep working under load.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::num::NonZeroU32;
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, ResponseError};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::Problem;

/// Per-caller limits shared by a service's workers.
#[derive(Clone)]
pub struct ApiRateLimit {
    limiter: Arc<DefaultKeyedRateLimiter<u64>>,
}

impl ApiRateLimit {
    /// `per_second` requests a second sustained, bursts of ten times that.
    pub fn per_second(per_second: NonZeroU32) -> Self {
        let burst = per_second.saturating_mul(NonZeroU32::new(10).expect("ten is not zero"));
        Self {
            limiter: Arc::new(DefaultKeyedRateLimiter::keyed(
                Quota::per_second(per_second).allow_burst(burst),
            )),
        }
    }
}

fn caller_key(req: &ServiceRequest) -> u64 {
    let mut hasher = DefaultHasher::new();
    match req.headers().get("authorization") {
        Some(token) => token.as_bytes().hash(&mut hasher),
        None => req.peer_addr().map(|addr| addr.ip()).hash(&mut hasher),
    }
    hasher.finish()
}

/// The middleware: `App::new().app_data(web::Data::new(limit)).wrap(from_fn(rate_limit))`.
pub async fn rate_limit<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let limit = req.app_data::<web::Data<ApiRateLimit>>().cloned();
    if let (Some(limit), false) = (limit, crate::ops::OPS_PATHS.contains(&req.path())) {
        if let Err(not_until) = limit.limiter.check_key(&caller_key(&req)) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let problem = Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests",
            )
            .with_detail(format!("retry in {} ms", wait.as_millis()));
            let mut response = problem.error_response();
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            if let Ok(value) = seconds.max(1).to_string().parse() {
                response
                    .headers_mut()
                    .insert(actix_web::http::header::RETRY_AFTER, value);
            }
            return Ok(req.into_response(response).map_into_right_body());
        }
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::middleware::from_fn;
    use actix_web::{test, App, HttpResponse};

    #[actix_web::test]
    async fn each_token_has_its_own_allowance_and_probes_are_never_limited() {
        let limit = ApiRateLimit::per_second(NonZeroU32::new(1).unwrap());
        let app = test::init_service(
            App::new()
                .app_data(web::Data::new(limit))
                .wrap(from_fn(rate_limit))
                .route("/v1/x", web::get().to(HttpResponse::Ok))
                .route("/healthz", web::get().to(HttpResponse::Ok)),
        )
        .await;
        let call = |path: &str, token: &str| {
            test::TestRequest::get()
                .uri(path)
                .insert_header(("authorization", format!("Bearer {token}")))
                .to_request()
        };
        // A burst of ten, then refused.
        for _ in 0..10 {
            assert_eq!(
                test::call_service(&app, call("/v1/x", "a")).await.status(),
                StatusCode::OK
            );
        }
        let refused = test::call_service(&app, call("/v1/x", "a")).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(refused.headers().contains_key("retry-after"));
        let body: serde_json::Value = test::read_body_json(refused).await;
        assert_eq!(body["code"], "rate_limited");
        // Another token is not affected, nor are the probes.
        assert_eq!(
            test::call_service(&app, call("/v1/x", "b")).await.status(),
            StatusCode::OK
        );
        for _ in 0..20 {
            assert_eq!(
                test::call_service(&app, call("/healthz", "a"))
                    .await
                    .status(),
                StatusCode::OK
            );
        }
    }
}
