//! The clock registry on the REST API: reading it (`read_imports`, a company-limited token sees
//! the clocks of its companies), registering, changing, approving and disabling a clock
//! (`manage_companies`, and a limited token only for clocks all of whose companies it covers).

use actix_web::{web, HttpResponse};
use auth::{Caller, Permission};
use chrono_tz::Tz;
use clock_push::SerialNumber;
use diesel_async::AsyncConnection;
use serde::{Deserialize, Deserializer, Serialize};
use service_kit::Problem;
use utoipa::{IntoParams, ToSchema};

use super::companies::Companies;
use super::intake::{self, IntakeError};
use super::network::Network;
use crate::access::Access;
use crate::errors::ActionError;
use crate::queueing::Queued;
use crate::store::clocks::{self, Clock, ClockChanges, Covering, NewClock, APPROVED, DISABLED};
use crate::store::imports;
use crate::store::rows::{self, RowFilter, StoredRow};
use crate::AppState;

pub fn configure(config: &mut web::ServiceConfig) {
    config.service(
        web::scope("/v1/clocks")
            .route("", web::get().to(list_clocks))
            .route("", web::post().to(register_clock))
            .route("/{id}", web::patch().to(update_clock))
            .route("/{id}/approve", web::post().to(approve_clock))
            .route("/{id}/disable", web::post().to(disable_clock))
            .route("/{id}/punches", web::get().to(clock_punches)),
    );
}

/// A clock as the API shows it: its companies by slug, and its health.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClockView {
    #[serde(flatten)]
    #[schema(value_type = Clock)]
    pub clock: serde_json::Value,
    /// The slugs of its companies, in order (a company the directory no longer has by id).
    pub companies: Vec<String>,
    /// The punches it put into the ledger on its local day (its time zone's today); a line sent
    /// again or invalid is none.
    #[schema(example = 42)]
    pub punches_today: i64,
    /// Approved, and it has not called for longer than `CLOCK_SILENT_AFTER` (since it was last
    /// seen; never seen, since it was last changed): the `ClockSilent` alert fires for it.
    pub silent: bool,
}

/// The clocks.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClockList {
    pub items: Vec<ClockView>,
}

/// A clock an admin registers before it first calls: it is approved from the start.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewClockRequest {
    pub serial_number: String,
    /// Company slugs; a PIN is looked up in their directories in this order.
    #[serde(default)]
    pub companies: Vec<String>,
    /// IANA name; the first company's when absent.
    pub time_zone: Option<String>,
    /// CIDR the clock must call from.
    pub allowed_network: Option<String>,
}

/// Changes to a clock; an absent field stays as it is, `allowed_network: null` clears it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ClockUpdate {
    pub companies: Option<Vec<String>>,
    pub time_zone: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub allowed_network: Option<Option<String>>,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// What approving released.
#[derive(Debug, Serialize, ToSchema)]
pub struct Approved {
    #[serde(flatten)]
    #[schema(value_type = ClockView)]
    pub clock: ClockView,
    /// Per company: the batch its held punches were queued in.
    #[schema(value_type = Vec<Object>)]
    pub queued: Vec<Queued>,
}

/// The rows of a clock's uploads, newest day first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClockRows {
    pub items: Vec<ClockRow>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClockRow {
    pub import_id: i64,
    #[serde(flatten)]
    #[schema(value_type = StoredRow)]
    pub row: StoredRow,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RowsQuery {
    /// valid or invalid (or skipped).
    pub outcome: Option<String>,
    /// At most this many rows (default 500, at most 5,000).
    pub limit: Option<i64>,
}

pub(crate) fn intake_problem(error: IntakeError) -> Problem {
    match error {
        IntakeError::Directory(e) => e.into(),
        IntakeError::Database(e) => e.into(),
        IntakeError::Tx(e) => ActionError::Release(e).into(),
    }
}

fn no_such_clock() -> Problem {
    Problem::not_found("clock")
}

impl Companies {
    fn view(&self, clock: &Clock, health: &Health) -> ClockView {
        ClockView {
            clock: serde_json::to_value(clock).unwrap_or_default(),
            companies: self.slugs(&clock.company_ids),
            punches_today: health.today.get(&clock.id).copied().unwrap_or(0),
            silent: clock.is_silent(health.now, health.silent_after),
        }
    }

    /// The view of one clock, its health read now.
    async fn view_now(&self, state: &AppState, clock: &Clock) -> Result<ClockView, Problem> {
        let mut conn = db::connection(&state.pool).await?;
        let health = Health::of(state, &mut conn, std::slice::from_ref(clock)).await?;
        Ok(self.view(clock, &health))
    }
}

/// The health of some clocks at one instant: their punches of the day, read in one query.
struct Health {
    now: chrono::DateTime<chrono::Utc>,
    silent_after: std::time::Duration,
    today: std::collections::HashMap<i64, i64>,
}

impl Health {
    async fn of(
        state: &AppState,
        conn: &mut crate::store::Conn,
        of: &[Clock],
    ) -> Result<Self, Problem> {
        let now = chrono::Utc::now();
        Ok(Self {
            now,
            silent_after: state.clock_silent_after,
            today: clocks::punches_today(conn, of, now).await?,
        })
    }
}

fn checked_time_zone(name: &str) -> Result<(), Problem> {
    name.parse::<Tz>().map(drop).map_err(|_| {
        Problem::unprocessable(
            "invalid_time_zone",
            format!("{name:?} is not an IANA time zone"),
        )
    })
}

fn checked_network(text: &str) -> Result<(), Problem> {
    Network::parse(text).map(drop).ok_or_else(|| {
        Problem::unprocessable(
            "invalid_network",
            format!("{text:?} is not an address block such as 10.1.2.0/24"),
        )
    })
}

/// Whether the caller sees the clock: every clock unlimited; a limited token, those with one of
/// its companies.
fn sees(access: &Access, clock: &Clock) -> bool {
    match access {
        Access::Everything => true,
        Access::Limited(_) => clock.company_ids.iter().any(|id| access.covers(*id)),
    }
}

/// Whether the caller may change the clock: unlimited, or covering every one of its companies
/// (and it has some).
fn manages(access: &Access, clock: &Clock) -> bool {
    match access {
        Access::Everything => true,
        Access::Limited(_) => {
            !clock.company_ids.is_empty() && clock.company_ids.iter().all(|id| access.covers(*id))
        }
    }
}

/// The clock with that id if the caller may change it; 404 if it may not see it, 403 if it may
/// see but not change it.
async fn managed_clock(state: &AppState, caller: &Caller, id: i64) -> Result<Clock, Problem> {
    caller.require(Permission::ManageCompanies)?;
    let access = Access::of(state, caller).await?;
    let mut conn = db::connection(&state.pool).await?;
    let clock = clocks::find(&mut conn, id)
        .await?
        .filter(|c| sees(&access, c) || matches!(access, Access::Everything))
        .ok_or_else(no_such_clock)?;
    if !manages(&access, &clock) {
        return Err(Problem::new(
            actix_web::http::StatusCode::FORBIDDEN,
            "forbidden_company",
            "This token does not cover every company of the clock",
        ));
    }
    Ok(clock)
}

#[utoipa::path(get, path = "/v1/clocks", tag = "clocks",
    responses((status = 200, body = ClockList, description = "every clock; a token limited to some companies sees the clocks of its companies")), security(("bearer" = [])))]
pub async fn list_clocks(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, Problem> {
    caller.require(Permission::ReadImports)?;
    let access = Access::of(&state, &caller).await?;
    let companies = Companies::load(&state).await?;
    let mut conn = db::connection(&state.pool).await?;
    let now = chrono::Utc::now();
    let seen: Vec<(Clock, i64)> = clocks::with_punches_today(&mut conn, Covering::All, now)
        .await?
        .into_iter()
        .filter(|(c, _)| sees(&access, c))
        .collect();
    let health = Health {
        now,
        silent_after: state.clock_silent_after,
        today: seen.iter().map(|(c, punches)| (c.id, *punches)).collect(),
    };
    let items: Vec<ClockView> = seen
        .iter()
        .map(|(c, _)| companies.view(c, &health))
        .collect();
    Ok(HttpResponse::Ok().json(ClockList { items }))
}

#[utoipa::path(post, path = "/v1/clocks", tag = "clocks", request_body = NewClockRequest,
    responses((status = 201, body = ClockView, description = "registered, approved"), (status = 403, description = "forbidden: the role; forbidden_company: a company the token does not cover"), (status = 409, description = "clock_exists: the serial number is registered already"), (status = 422, description = "invalid_serial_number, unknown_company, invalid_time_zone, invalid_network, companies_required")), security(("bearer" = [])))]
pub async fn register_clock(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<NewClockRequest>,
) -> Result<HttpResponse, Problem> {
    caller.require(Permission::ManageCompanies)?;
    let serial = SerialNumber::parse(body.serial_number.trim())
        .map_err(|e| Problem::unprocessable("invalid_serial_number", e.to_string()))?;
    let companies = Companies::load(&state).await?;
    let company_ids = companies.ids(&caller, &body.companies)?;
    if caller.is_limited() && company_ids.is_empty() {
        return Err(Problem::unprocessable(
            "companies_required",
            "a token limited to some companies registers clocks of its companies",
        ));
    }
    let time_zone = body
        .time_zone
        .clone()
        .unwrap_or_else(|| companies.time_zone_of(&company_ids));
    checked_time_zone(&time_zone)?;
    if let Some(network) = &body.allowed_network {
        checked_network(network)?;
    }
    let mut conn = db::connection(&state.pool).await?;
    let inserted = conn
        .transaction::<_, diesel::result::Error, _>(async |conn| {
            let clock = clocks::insert(
                conn,
                &NewClock {
                    serial_number: serial.as_str(),
                    state: APPROVED,
                    company_ids,
                    time_zone: &time_zone,
                    allowed_network: body.allowed_network.as_deref(),
                },
            )
            .await?;
            audit(conn, &caller, "clock.registered", &clock).await?;
            Ok(clock)
        })
        .await;
    match inserted {
        Ok(clock) => Ok(HttpResponse::Created().json(companies.view_now(&state, &clock).await?)),
        Err(error) if db::is_unique_violation(&error) => Err(Problem::conflict(
            "clock_exists",
            format!("clock {serial} is registered already"),
        )),
        Err(error) => Err(error.into()),
    }
}

#[utoipa::path(patch, path = "/v1/clocks/{id}", tag = "clocks", params(("id" = i64, Path, description = "clock id", example = 1)), request_body = ClockUpdate,
    responses((status = 200, body = ClockView), (status = 403, description = "forbidden: the role; forbidden_company: the clock or a company named is outside the token's companies"), (status = 404, description = "no such clock, or none the token may see"), (status = 422, description = "unknown_company, invalid_time_zone, invalid_network, companies_required")), security(("bearer" = [])))]
pub async fn update_clock(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<i64>,
    body: web::Json<ClockUpdate>,
) -> Result<HttpResponse, Problem> {
    let clock = managed_clock(&state, &caller, *path).await?;
    let companies = Companies::load(&state).await?;
    let company_ids = match &body.companies {
        Some(slugs) => {
            let ids = companies.ids(&caller, slugs)?;
            if caller.is_limited() && ids.is_empty() {
                return Err(Problem::unprocessable(
                    "companies_required",
                    "a token limited to some companies cannot leave a clock without one",
                ));
            }
            Some(ids)
        }
        None => None,
    };
    if let Some(zone) = &body.time_zone {
        checked_time_zone(zone)?;
    }
    if let Some(Some(network)) = &body.allowed_network {
        checked_network(network)?;
    }
    let mut conn = db::connection(&state.pool).await?;
    let clock = conn
        .transaction::<_, diesel::result::Error, _>(async |conn| {
            let changed = clocks::update(
                conn,
                clock.id,
                &ClockChanges {
                    company_ids,
                    time_zone: body.time_zone.clone(),
                    allowed_network: body.allowed_network.clone(),
                },
            )
            .await?;
            if let Some(changed) = &changed {
                audit(conn, &caller, "clock.updated", changed).await?;
            }
            Ok(changed)
        })
        .await?
        .ok_or_else(no_such_clock)?;
    Ok(HttpResponse::Ok().json(companies.view_now(&state, &clock).await?))
}

/// Approves the clock: its unqueued rows are validated again (its companies may have been set
/// since they came) and its held imports released, their punches queued.
#[utoipa::path(post, path = "/v1/clocks/{id}/approve", tag = "clocks", params(("id" = i64, Path, description = "clock id", example = 1)),
    responses((status = 200, body = Approved, description = "approved; its held punches queued"), (status = 403, description = "forbidden: the role; forbidden_company: the clock concerns companies the token does not cover"), (status = 404, description = "no such clock, or none the token may see")), security(("bearer" = [])))]
pub async fn approve_clock(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    let clock = managed_clock(&state, &caller, *path).await?;
    let mut conn = db::connection(&state.pool).await?;
    let clock = set_state(&mut conn, &caller, clock.id, APPROVED, "clock.approved").await?;
    let mut queued = Vec::new();
    for import_id in clocks::imports_of(&mut conn, clock.id).await? {
        let Some(import) = imports::find(&mut conn, import_id).await? else {
            continue;
        };
        if import.cancelled_at.is_some() {
            continue;
        }
        intake::revalidate(&state, &clock, import_id, intake::Afterwards::StayHeld)
            .await
            .map_err(intake_problem)?;
        queued.extend(
            crate::release::release(&state.database_url, import_id, caller.sub())
                .await
                .map_err(ActionError::Release)?,
        );
    }
    state.relay.wake();
    tracing::info!(clock = clock.id, serial = %clock.serial_number, batches = queued.len(), "clock approved");
    let companies = Companies::load(&state).await?;
    Ok(HttpResponse::Ok().json(Approved {
        clock: companies.view_now(&state, &clock).await?,
        queued,
    }))
}

/// Disables the clock: its uploads are refused from now on (what it stored stays).
#[utoipa::path(post, path = "/v1/clocks/{id}/disable", tag = "clocks", params(("id" = i64, Path, description = "clock id", example = 1)),
    responses((status = 200, body = ClockView, description = "disabled: its uploads are refused"), (status = 403, description = "forbidden: the role; forbidden_company: the clock concerns companies the token does not cover"), (status = 404, description = "no such clock, or none the token may see")), security(("bearer" = [])))]
pub async fn disable_clock(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    let clock = managed_clock(&state, &caller, *path).await?;
    let mut conn = db::connection(&state.pool).await?;
    let clock = set_state(&mut conn, &caller, clock.id, DISABLED, "clock.disabled").await?;
    let companies = Companies::load(&state).await?;
    Ok(HttpResponse::Ok().json(companies.view_now(&state, &clock).await?))
}

/// The rows of the clock's uploads, newest day first, each valid or invalid with its reasons; a
/// limited token sees its companies' rows only.
#[utoipa::path(get, path = "/v1/clocks/{id}/punches", tag = "clocks", params(("id" = i64, Path, description = "clock id", example = 1), RowsQuery),
    responses((status = 200, body = ClockRows, description = "the rows of its uploads, newest day first, valid or invalid with their reasons"), (status = 404, description = "no such clock, or none the token may see")), security(("bearer" = [])))]
pub async fn clock_punches(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<i64>,
    query: web::Query<RowsQuery>,
) -> Result<HttpResponse, Problem> {
    caller.require(Permission::ReadImports)?;
    let access = Access::of(&state, &caller).await?;
    let mut conn = db::connection(&state.pool).await?;
    let clock = clocks::find(&mut conn, *path)
        .await?
        .filter(|c| sees(&access, c))
        .ok_or_else(no_such_clock)?;
    let filter = RowFilter {
        outcome: query.outcome.clone(),
        company_ids: match &access {
            Access::Everything => None,
            Access::Limited(v) => Some(v.company_ids.clone()),
        },
        unassigned: matches!(access, Access::Everything),
        ..RowFilter::default()
    };
    let mut left = query.limit.unwrap_or(500).clamp(1, 5_000);
    let mut items = Vec::new();
    for import_id in clocks::imports_of(&mut conn, clock.id)
        .await?
        .into_iter()
        .rev()
    {
        if left == 0 {
            break;
        }
        let (page, _) = rows::page(&mut conn, import_id, &filter, 0, left).await?;
        left -= i64::try_from(page.len()).unwrap_or(left);
        items.extend(page.into_iter().map(|row| ClockRow { import_id, row }));
    }
    Ok(HttpResponse::Ok().json(ClockRows { items }))
}

/// Moves the clock to `to`, with its audit entry, in one transaction.
async fn set_state(
    conn: &mut crate::store::Conn,
    caller: &Caller,
    id: i64,
    to: &str,
    action: &str,
) -> Result<Clock, Problem> {
    conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        let clock = clocks::set_state(conn, id, to).await?;
        if let Some(clock) = &clock {
            audit(conn, caller, action, clock).await?;
        }
        Ok(clock)
    })
    .await?
    .ok_or_else(no_such_clock)
}

/// Records an admin's change of a clock in the audit log, in the caller's transaction: the
/// clock as it is now (no secret in it).
async fn audit(
    conn: &mut crate::store::Conn,
    caller: &Caller,
    action: &str,
    clock: &Clock,
) -> diesel::QueryResult<()> {
    crate::queueing::audit(
        conn,
        caller.sub(),
        action,
        clock.company_ids.first().copied(),
        format!("clock:{}", clock.serial_number),
        serde_json::json!({
            "clock_id": clock.id,
            "state": clock.state,
            "company_ids": clock.company_ids,
            "time_zone": clock.time_zone,
            "allowed_network": clock.allowed_network,
        }),
    )
    .await
}
