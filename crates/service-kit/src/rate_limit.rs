//! The services' own API is rate limited per caller (docs/architecture.md#security): one runaway client cannot
//! starve the others. The caller is the identity its bearer token proves, as the service's
//! resolver reads it after verifying the token, never the bytes of the header: writing "Bearer"
//! another way or minting a fresh token for the same user buys no extra allowance. Requests
//! without a token, or with one that does not verify, are limited per peer address (IPv6 per
//! /64), so a flood of made-up tokens costs one bucket per address, not one per token.
//!
//! Both bucket sets are bounded: a bucket that has refilled is dropped (it is the same as a new
//! one), at the latest once a minute, and when a set is full, newcomers share one overflow bucket
//! until room is made. The operational endpoints are never limited, so probes keep working under
//! load.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderValue, AUTHORIZATION, RETRY_AFTER};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse, ResponseError};

use crate::Problem;

/// Most buckets one set keeps (a few MiB at most).
pub const MAX_BUCKETS: usize = 100_000;
/// How often refilled buckets are dropped even when a set is far from full.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// How often a full set looks for room; newcomers use the overflow bucket in between, so a flood
/// of new keys never costs more than one pass a second.
const SWEEP_WHEN_FULL_EVERY: Duration = Duration::from_secs(1);

/// Verifies a bearer token and names the caller it proves (for example `role:sub`); `None` when
/// the token does not verify.
pub type CallerIdentity = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Whether a caller's identity (a [`CallerIdentity`]'s) is one of the services'.
type IsService = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Per-caller limits shared by a service's workers.
#[derive(Clone)]
pub struct ApiRateLimit {
    callers: Arc<KeyedLimit>,
    peers: Arc<KeyedLimit>,
    identify: Option<CallerIdentity>,
    /// Callers that are services, by their identity, and their allowance.
    services: Option<(IsService, Arc<KeyedLimit>)>,
}

impl ApiRateLimit {
    /// `per_second` requests a second sustained, bursts of ten times that. Until
    /// [`ApiRateLimit::identified_by`] gives a way to verify tokens, every request is limited per
    /// peer address.
    pub fn per_second(per_second: NonZeroU32) -> Self {
        let burst = per_second.saturating_mul(NonZeroU32::new(10).expect("ten is not zero"));
        Self {
            callers: Arc::new(KeyedLimit::new(per_second, burst, MAX_BUCKETS)),
            peers: Arc::new(KeyedLimit::new(per_second, burst, MAX_BUCKETS)),
            identify: None,
            services: None,
        }
    }

    /// Gives the verified callers `is_service` picks out (by the identity `identified_by`
    /// names) an allowance of `per_second` each, in bursts of ten times that: the bridge's own
    /// services call one another as often as their work needs (a directory read for every
    /// clock upload), which is not one person's or the portal's pace.
    pub fn with_services(
        mut self,
        per_second: NonZeroU32,
        is_service: impl Fn(&str) -> bool + Send + Sync + 'static,
    ) -> Self {
        let burst = per_second.saturating_mul(NonZeroU32::new(10).expect("ten is not zero"));
        self.services = Some((
            Arc::new(is_service),
            Arc::new(KeyedLimit::new(per_second, burst, MAX_BUCKETS)),
        ));
        self
    }

    /// Limits each verified caller on its own: `identify` gets the bearer token (the scheme
    /// already taken off) and answers the stable identity it proves, or `None` if it does not
    /// verify.
    pub fn identified_by(
        mut self,
        identify: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.identify = Some(Arc::new(identify));
        self
    }

    /// Buckets kept for verified callers, and for peer addresses.
    pub fn buckets(&self) -> (usize, usize) {
        (self.callers.len(), self.peers.len())
    }

    /// Whether `req` may go on now; otherwise how long until it may.
    fn check(&self, req: &ServiceRequest) -> Result<(), Duration> {
        let now = Instant::now();
        let caller = match (
            &self.identify,
            bearer_token(req.headers().get(AUTHORIZATION)),
        ) {
            (Some(identify), Some(token)) => identify(token),
            _ => None,
        };
        match caller {
            Some(caller) => match &self.services {
                Some((is_service, services)) if is_service(&caller) => {
                    services.check_at(&caller, now)
                }
                _ => self.callers.check_at(&caller, now),
            },
            None => self
                .peers
                .check_at(&req.peer_addr().map(|addr| network(addr.ip())), now),
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header (the scheme in any case, spaces
/// around), as the services' authentication reads it.
fn bearer_token(header: Option<&HeaderValue>) -> Option<&str> {
    let value = header?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The address a bucket belongs to: IPv4 addresses one by one, IPv6 by /64 (one host usually
/// has a whole /64 to pick addresses from).
fn network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

/// A set of token buckets by key (GCRA: each bucket is the time it will be full again), with a
/// bounded number of buckets. Cheap to check: one short lock, no allocation for a known key.
pub struct KeyedLimit {
    /// Time one request's allowance takes to come back.
    interval: Duration,
    /// How far ahead of now a bucket may be and still admit a request: the burst, less one.
    tolerance: Duration,
    max_buckets: usize,
    hasher: RandomState,
    state: Mutex<Buckets>,
}

struct Buckets {
    /// Key hash → when the bucket is full again.
    full_at: HashMap<u64, Instant>,
    /// The bucket newcomers share while the set is full.
    overflow: Instant,
    swept_at: Instant,
}

impl KeyedLimit {
    /// `per_second` sustained, `burst` at once, at most `max_buckets` keys remembered.
    pub fn new(per_second: NonZeroU32, burst: NonZeroU32, max_buckets: usize) -> Self {
        let interval = Duration::from_secs(1) / per_second.get();
        let now = Instant::now();
        Self {
            interval,
            tolerance: interval * (burst.get() - 1),
            max_buckets: max_buckets.max(1),
            hasher: RandomState::new(),
            state: Mutex::new(Buckets {
                full_at: HashMap::new(),
                overflow: now,
                swept_at: now,
            }),
        }
    }

    /// Takes one request from `key`'s bucket; when it is empty, how long until it is not.
    pub fn check(&self, key: &impl Hash) -> Result<(), Duration> {
        self.check_at(key, Instant::now())
    }

    /// Buckets remembered now (the overflow bucket not counted).
    pub fn len(&self) -> usize {
        self.lock().full_at.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Buckets> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn check_at(&self, key: &impl Hash, now: Instant) -> Result<(), Duration> {
        let key = self.hasher.hash_one(key);
        let mut state = self.lock();
        let known = state.full_at.contains_key(&key);
        let full = state.full_at.len() >= self.max_buckets;
        let since_sweep = now.saturating_duration_since(state.swept_at);
        if since_sweep >= SWEEP_EVERY || (!known && full && since_sweep >= SWEEP_WHEN_FULL_EVERY) {
            // A bucket full again is the same as no bucket.
            state.full_at.retain(|_, full_at| *full_at > now);
            let keep = self.max_buckets.min(2 * state.full_at.len());
            state.full_at.shrink_to(keep);
            state.swept_at = now;
        }
        let Buckets {
            full_at, overflow, ..
        } = &mut *state;
        let bucket = if full_at.contains_key(&key) || full_at.len() < self.max_buckets {
            full_at.entry(key).or_insert(now)
        } else {
            overflow
        };
        let ahead = bucket.saturating_duration_since(now);
        if ahead > self.tolerance {
            return Err(ahead - self.tolerance);
        }
        *bucket = now.max(*bucket) + self.interval;
        Ok(())
    }
}

/// The 429 problem with `Retry-After` in whole seconds (at least one).
pub fn too_many_requests(wait: Duration) -> HttpResponse {
    let problem = Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "Too many requests",
    )
    .with_detail(format!("retry in {} ms", wait.as_millis()));
    let mut response = problem.error_response();
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    if let Ok(value) = seconds.max(1).to_string().parse() {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    response
}

/// The middleware: `App::new().app_data(web::Data::new(limit)).wrap(from_fn(rate_limit))`.
pub async fn rate_limit<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let internal = req
        .app_data::<web::Data<crate::serve::InternalRateLimit>>()
        .filter(|internal| req.app_config().local_addr() == internal.addr)
        .map(|internal| internal.limit.clone());
    let limit = internal.or_else(|| {
        req.app_data::<web::Data<ApiRateLimit>>()
            .map(|limit| ApiRateLimit::clone(limit))
    });
    if let (Some(limit), false) = (limit, crate::ops::OPS_PATHS.contains(&req.path())) {
        if let Err(wait) = limit.check(&req) {
            return Ok(req
                .into_response(too_many_requests(wait))
                .map_into_right_body());
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
    use actix_web::{test as actix_test, App};

    fn one_a_second() -> NonZeroU32 {
        NonZeroU32::new(1).unwrap()
    }

    /// Tokens "good-<user>" verify as <user>; anything else does not.
    fn limit() -> ApiRateLimit {
        ApiRateLimit::per_second(one_a_second()).identified_by(|token| {
            token
                .strip_prefix("good-")
                .map(|user| format!("user:{user}"))
        })
    }

    macro_rules! app {
        ($limit:expr) => {
            actix_test::init_service(
                App::new()
                    .app_data(web::Data::new($limit))
                    .wrap(from_fn(rate_limit))
                    .route("/v1/x", web::get().to(HttpResponse::Ok))
                    .route("/healthz", web::get().to(HttpResponse::Ok)),
            )
            .await
        };
    }

    fn call(path: &str, authorization: &str) -> actix_test::TestRequest {
        actix_test::TestRequest::get()
            .uri(path)
            .insert_header(("authorization", authorization.to_owned()))
    }

    /// Every way the services' authentication accepts the same bearer token.
    fn variants(token: &str) -> Vec<String> {
        ["Bearer", "bearer", "BEARER", "bEaReR"]
            .iter()
            .flat_map(|scheme| {
                [
                    format!("{scheme} {token}"),
                    format!("{scheme}    {token}"),
                    format!("  {scheme} {token}  "),
                ]
            })
            .collect()
    }

    #[actix_web::test]
    async fn each_caller_has_its_own_allowance_and_probes_are_never_limited() {
        let app = app!(limit());
        // A burst of ten, then refused.
        for _ in 0..10 {
            let response =
                actix_test::call_service(&app, call("/v1/x", "Bearer good-a").to_request()).await;
            assert_eq!(response.status(), StatusCode::OK);
        }
        let refused =
            actix_test::call_service(&app, call("/v1/x", "Bearer good-a").to_request()).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(refused.headers().contains_key("retry-after"));
        let body: serde_json::Value = actix_test::read_body_json(refused).await;
        assert_eq!(body["code"], "rate_limited");
        // Another caller is not affected, nor are the probes.
        let other =
            actix_test::call_service(&app, call("/v1/x", "Bearer good-b").to_request()).await;
        assert_eq!(other.status(), StatusCode::OK);
        for _ in 0..20 {
            let probe =
                actix_test::call_service(&app, call("/healthz", "Bearer good-a").to_request())
                    .await;
            assert_eq!(probe.status(), StatusCode::OK);
        }
    }

    #[actix_web::test]
    async fn services_have_an_allowance_of_their_own() {
        // Tokens "good-svc-<name>" are services, allowed a hundred a second in bursts of 1000.
        let limit = limit().with_services(NonZeroU32::new(100).unwrap(), |identity| {
            identity.starts_with("user:svc-")
        });
        let app = app!(limit);
        for _ in 0..200 {
            let response = actix_test::call_service(
                &app,
                call("/v1/x", "Bearer good-svc-import").to_request(),
            )
            .await;
            assert_eq!(response.status(), StatusCode::OK);
        }
        // A person still has ten at once.
        for _ in 0..10 {
            let response =
                actix_test::call_service(&app, call("/v1/x", "Bearer good-a").to_request()).await;
            assert_eq!(response.status(), StatusCode::OK);
        }
        let refused =
            actix_test::call_service(&app, call("/v1/x", "Bearer good-a").to_request()).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    }

    #[actix_web::test]
    async fn the_way_the_header_is_written_buys_no_extra_allowance() {
        let app = app!(limit());
        let mut statuses = Vec::new();
        for header in variants("good-a").iter().cycle().take(30) {
            statuses.push(
                actix_test::call_service(&app, call("/v1/x", header).to_request())
                    .await
                    .status(),
            );
        }
        let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
        assert_eq!(ok, 10, "{statuses:?}");
        assert_eq!(statuses[10..], [StatusCode::TOO_MANY_REQUESTS; 20]);
    }

    #[actix_web::test]
    async fn without_a_way_to_verify_tokens_every_request_counts_for_its_address() {
        let app = app!(ApiRateLimit::per_second(one_a_second()));
        let mut statuses = Vec::new();
        for (i, header) in variants("whatever").iter().enumerate() {
            let header = format!("{header}{i}");
            statuses.push(
                actix_test::call_service(&app, call("/v1/x", &header).to_request())
                    .await
                    .status(),
            );
        }
        assert_eq!(statuses[..10], [StatusCode::OK; 10]);
        assert_eq!(statuses[10..], [StatusCode::TOO_MANY_REQUESTS; 2]);
    }

    #[actix_web::test]
    async fn made_up_tokens_share_the_address_bucket_and_fill_no_memory() {
        let limit = limit();
        let app = app!(limit.clone());
        let mut limited = 0;
        for i in 0..5_000 {
            let response = actix_test::call_service(
                &app,
                call("/v1/x", &format!("Bearer bad-{i}")).to_request(),
            )
            .await;
            limited += usize::from(response.status() == StatusCode::TOO_MANY_REQUESTS);
        }
        assert!(limited >= 5_000 - 20, "{limited}");
        assert_eq!(limit.buckets(), (0, 1));
        // A real caller from the same address is not held back by the flood.
        let good =
            actix_test::call_service(&app, call("/v1/x", "Bearer good-a").to_request()).await;
        assert_eq!(good.status(), StatusCode::OK);
    }

    #[test]
    fn the_bucket_sets_are_bounded() {
        let per_second = NonZeroU32::new(10).unwrap();
        let limit = KeyedLimit::new(per_second, NonZeroU32::new(5).unwrap(), 1_000);
        let start = Instant::now();
        // A flood of distinct keys fills the set to its bound, no further.
        for key in 0..50_000u32 {
            let _ = limit.check_at(&key, start);
        }
        assert_eq!(limit.len(), 1_000);
        // Newcomers past the bound shared one bucket, long empty by now.
        assert!(limit.check_at(&50_000u32, start).is_err());
        // Known keys keep their own bucket.
        assert!(limit.check_at(&7u32, start).is_ok());
        // Once refilled, buckets are dropped when room is needed, and on the next sweep anyway.
        let later = start + Duration::from_secs(1);
        assert!(limit.check_at(&"newcomer", later).is_ok());
        assert_eq!(limit.len(), 1);
        let much_later = later + SWEEP_EVERY;
        assert!(limit.check_at(&"another", much_later).is_ok());
        assert_eq!(limit.len(), 1);
    }

    #[test]
    fn buckets_refill_at_the_sustained_rate() {
        let limit = KeyedLimit::new(NonZeroU32::new(2).unwrap(), NonZeroU32::new(3).unwrap(), 10);
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limit.check_at(&"k", start).is_ok());
        }
        let wait = limit.check_at(&"k", start).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        assert!(limit.check_at(&"k", start + wait).is_ok());
        assert!(limit.check_at(&"k", start + wait).is_err());
    }

    #[test]
    fn bearer_headers_are_read_like_the_services_read_them() {
        let table = [
            ("Bearer abc", Some("abc")),
            ("bearer abc", Some("abc")),
            ("  BEARER   abc  ", Some("abc")),
            ("Bearer ", None),
            ("Basic abc", None),
            ("abc", None),
        ];
        for (header, expected) in table {
            let value = HeaderValue::from_str(header).unwrap();
            assert_eq!(bearer_token(Some(&value)), expected, "{header:?}");
        }
        assert_eq!(bearer_token(None), None);
    }

    #[test]
    fn ipv6_addresses_count_per_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(network(a), network(b));
        assert_ne!(network(a), network(c));
        let v4: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(network(v4), v4);
    }
}
