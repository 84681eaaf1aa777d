//! The BioTime servers on the REST API: listing them with their pull status (`read_imports`; a
//! token limited to some companies sees the servers all of whose companies it covers),
//! registering and changing one and asking for a pull now (`manage_companies`, and a limited
//! token only for servers all of whose companies it covers). The password goes in, sealed with
//! import-service's own master keys, and never comes out.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use auth::{Caller, Permission};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use diesel_async::AsyncConnection;
use domain::LocalPunchTime;
use serde::{Deserialize, Serialize};
use service_kit::Problem;
use utoipa::ToSchema;

use super::biotime::{self, Attempt, MapBy, Mapping};
use super::companies::Companies;
use crate::access::Access;
use crate::store::biotime::{self as store, Cursor, NewServer, Server, ServerChanges};
use crate::AppState;

pub fn configure(config: &mut web::ServiceConfig) {
    config.service(
        web::scope("/v1/biotime-servers")
            .route("", web::get().to(list_biotime_servers))
            .route("", web::post().to(register_biotime_server))
            .route("/{id}", web::patch().to(update_biotime_server))
            .route("/{id}/pull", web::post().to(pull_biotime_server)),
    );
}

/// What stands for the password wherever a server is shown.
pub const MASKED_PASSWORD: &str = "••••";

/// A server as the API shows it: its mapping by company slug, its pull status and cursor, the
/// password masked.
#[derive(Debug, Serialize, ToSchema)]
pub struct BioTimeServerView {
    pub id: i64,
    pub name: String,
    pub url: String,
    pub username: String,
    /// Always masked.
    #[schema(example = "••••")]
    pub password: &'static str,
    pub mapping: MappingView,
    pub time_zone: String,
    pub interval_seconds: i32,
    /// enabled or disabled.
    pub state: String,
    pub next_pull_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    /// When the current run of failed pulls began; none when the last pull succeeded.
    pub failing_since: Option<DateTime<Utc>>,
    pub consecutive_failures: i32,
    /// What went wrong with the last pull.
    pub last_error: Option<String>,
    pub cursor: Cursor,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The company mapping: per department or area name (`*`: every other name), company slugs in
/// the order an employee code is looked up in their directories.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MappingView {
    pub by: MapBy,
    #[schema(value_type = Object, example = json!({"Sales": ["advline"], "*": ["clarastars"]}))]
    pub companies: BTreeMap<String, Vec<String>>,
}

/// The servers.
#[derive(Debug, Serialize, ToSchema)]
pub struct BioTimeServerList {
    pub items: Vec<BioTimeServerView>,
}

/// One company slug or several, in order.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Slugs {
    One(String),
    Many(Vec<String>),
}

impl Slugs {
    fn list(&self) -> Vec<String> {
        match self {
            Slugs::One(slug) => vec![slug.clone()],
            Slugs::Many(slugs) => slugs.clone(),
        }
    }
}

/// A company mapping as given: per department or area name, a company slug or a list of them.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MappingRequest {
    pub by: MapBy,
    #[schema(value_type = Object, example = json!({"Sales": "advline", "Warehouse": ["clarastars", "advline"]}))]
    pub companies: BTreeMap<String, Slugs>,
}

/// A BioTime server to pull from.
#[derive(Deserialize, ToSchema)]
pub struct NewBioTimeServer {
    pub name: String,
    /// Its base URL, e.g. `http://10.1.2.3:8081` (http or https, no credentials in it).
    pub url: String,
    pub username: String,
    /// Sealed at rest; never shown again.
    pub password: String,
    pub mapping: MappingRequest,
    /// IANA name of the day a pull's rows are filed under; the first mapped company's when absent.
    pub time_zone: Option<String>,
    /// Seconds between pulls (default 300, from 10 to 86400).
    pub interval_seconds: Option<i32>,
    /// Only transactions punched from this local time on (`YYYY-MM-DD HH:MM:SS`); absent: every
    /// transaction the server holds.
    pub since: Option<String>,
    /// false: registered disabled (default true).
    pub enabled: Option<bool>,
}

/// Changes to a server; an absent field stays as it is.
#[derive(Deserialize, ToSchema)]
pub struct BioTimeServerUpdate {
    pub name: Option<String>,
    pub url: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub mapping: Option<MappingRequest>,
    pub time_zone: Option<String>,
    pub interval_seconds: Option<i32>,
    pub enabled: Option<bool>,
}

fn no_such_server() -> Problem {
    Problem::not_found("BioTime server")
}

fn not_configured() -> Problem {
    Problem::conflict(
        "biotime_not_configured",
        format!(
            "BioTime pulls are not configured: import-service has no {} to seal passwords with",
            biotime::MASTER_KEYS_VARIABLE
        ),
    )
}

impl Companies {
    fn server_view(&self, server: &Server, cursor: Cursor) -> BioTimeServerView {
        let mapping = Mapping::from_value(&server.mapping);
        BioTimeServerView {
            id: server.id,
            name: server.name.clone(),
            url: server.url.clone(),
            username: server.username.clone(),
            password: MASKED_PASSWORD,
            mapping: MappingView {
                by: mapping.as_ref().map_or(MapBy::Department, |m| m.by),
                companies: mapping
                    .map(|m| {
                        m.companies
                            .into_iter()
                            .map(|(name, ids)| {
                                (name, ids.into_iter().map(|id| self.slug(id)).collect())
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            },
            time_zone: server.time_zone.clone(),
            interval_seconds: server.interval_seconds,
            state: server.state.clone(),
            next_pull_at: server.next_pull_at,
            last_attempt_at: server.last_attempt_at,
            last_success_at: server.last_success_at,
            failing_since: server.failing_since,
            consecutive_failures: server.consecutive_failures,
            last_error: server.last_error.clone(),
            cursor,
            created_at: server.created_at,
            updated_at: server.updated_at,
        }
    }

    /// The stored mapping of a requested one, every slug checked against the caller's scope.
    fn mapping(&self, caller: &Caller, request: &MappingRequest) -> Result<Mapping, Problem> {
        if request.companies.is_empty() {
            return Err(Problem::unprocessable(
                "invalid_mapping",
                "the mapping names no department or area",
            ));
        }
        let mut companies = BTreeMap::new();
        for (name, slugs) in &request.companies {
            let name = name.trim();
            let slugs = slugs.list();
            if name.is_empty() || slugs.is_empty() {
                return Err(Problem::unprocessable(
                    "invalid_mapping",
                    format!("the mapping of {name:?} needs a name and at least one company"),
                ));
            }
            companies.insert(name.to_owned(), self.ids(caller, &slugs)?);
        }
        Ok(Mapping {
            by: request.by,
            companies,
        })
    }
}

fn checked_name(name: &str) -> Result<String, Problem> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Problem::unprocessable(
            "invalid_name",
            "a server's name is 1 to 100 characters",
        ));
    }
    Ok(name.to_owned())
}

/// The URL as stored: http or https, a host, no credentials, no query; without a trailing slash.
fn checked_url(text: &str) -> Result<String, Problem> {
    let invalid = |why: &str| Problem::unprocessable("invalid_url", why.to_owned());
    let url = reqwest::Url::parse(text.trim())
        .map_err(|_| invalid("the URL does not read, e.g. http://10.1.2.3:8081"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("a BioTime server is reached over http or https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "the URL must not hold credentials: give username and password on their own",
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("the URL names no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("the URL is the server's base, without a query"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

fn checked_text(field: &str, value: &str) -> Result<(), Problem> {
    if value.is_empty() || value.len() > 200 {
        return Err(Problem::unprocessable(
            &format!("invalid_{field}"),
            format!("the {field} is 1 to 200 characters"),
        ));
    }
    Ok(())
}

fn checked_time_zone(name: &str) -> Result<(), Problem> {
    name.parse::<Tz>().map(drop).map_err(|_| {
        Problem::unprocessable(
            "invalid_time_zone",
            format!("{name:?} is not an IANA time zone"),
        )
    })
}

fn checked_interval(seconds: i32) -> Result<i32, Problem> {
    if (10..=86_400).contains(&seconds) {
        Ok(seconds)
    } else {
        Err(Problem::unprocessable(
            "invalid_interval",
            "interval_seconds is from 10 to 86400",
        ))
    }
}

/// Whether the caller sees the server: every server unlimited; a limited token, those all of
/// whose companies it covers (a server of no company: none).
fn sees(access: &Access, server: &Server) -> bool {
    match access {
        Access::Everything => true,
        Access::Limited(_) => {
            let ids = biotime::company_ids_of(server);
            !ids.is_empty() && ids.iter().all(|id| access.covers(*id))
        }
    }
}

/// The server with that id if the caller may manage it; 404 otherwise.
async fn managed_server(
    state: &AppState,
    caller: &Caller,
    id: i64,
) -> Result<(Server, Cursor), Problem> {
    caller.require(Permission::ManageCompanies)?;
    let access = Access::of(state, caller).await?;
    let mut conn = db::connection(&state.pool).await?;
    store::find(&mut conn, id)
        .await?
        .filter(|(s, _)| sees(&access, s))
        .ok_or_else(no_such_server)
}

#[utoipa::path(get, path = "/v1/biotime-servers", tag = "biotime",
    responses((status = 200, body = BioTimeServerList, description = "every server with its pull status and cursor; a token limited to some companies sees the servers all of whose companies it covers")), security(("bearer" = [])))]
pub async fn list_biotime_servers(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, Problem> {
    caller.require(Permission::ReadImports)?;
    let access = Access::of(&state, &caller).await?;
    let companies = Companies::load(&state).await?;
    let mut conn = db::connection(&state.pool).await?;
    let items = store::list(&mut conn)
        .await?
        .into_iter()
        .filter(|(s, _)| sees(&access, s))
        .map(|(s, c)| companies.server_view(&s, c))
        .collect();
    Ok(HttpResponse::Ok().json(BioTimeServerList { items }))
}

#[utoipa::path(post, path = "/v1/biotime-servers", tag = "biotime", request_body = NewBioTimeServer,
    responses((status = 201, body = BioTimeServerView, description = "registered; pulled when due (at once, then every interval)"), (status = 403, description = "forbidden: the role"), (status = 404, description = "a company named is not one the token covers (answered as a company that does not exist)"), (status = 409, description = "biotime_server_exists: the name is taken; biotime_not_configured: import-service has no master keys to seal the password with"), (status = 422, description = "invalid_name, invalid_url, invalid_username, invalid_password, invalid_mapping, unknown_company, invalid_time_zone, invalid_interval, invalid_since")), security(("bearer" = [])))]
pub async fn register_biotime_server(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<NewBioTimeServer>,
) -> Result<HttpResponse, Problem> {
    caller.require(Permission::ManageCompanies)?;
    let keys = state
        .biotime
        .master_keys
        .clone()
        .ok_or_else(not_configured)?;
    let name = checked_name(&body.name)?;
    let url = checked_url(&body.url)?;
    let username = body.username.trim();
    checked_text("username", username)?;
    checked_text("password", &body.password)?;
    let companies = Companies::load(&state).await?;
    let mapping = companies.mapping(&caller, &body.mapping)?;
    let time_zone = body
        .time_zone
        .clone()
        .unwrap_or_else(|| companies.time_zone_of(&mapping.company_ids()));
    checked_time_zone(&time_zone)?;
    let interval_seconds = checked_interval(body.interval_seconds.unwrap_or(300))?;
    let since = match body.since.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(
            LocalPunchTime::parse(text)
                .map_err(|e| Problem::unprocessable("invalid_since", e.to_string()))?
                .to_string(),
        ),
    };
    let state_name = if body.enabled.unwrap_or(true) {
        store::ENABLED
    } else {
        store::DISABLED
    };
    let mut conn = db::connection(&state.pool).await?;
    let inserted = conn
        .transaction::<_, diesel::result::Error, _>(async |conn| {
            let server = store::insert(
                conn,
                &NewServer {
                    name: &name,
                    url: &url,
                    username,
                    password_sealed: "",
                    mapping: mapping.to_value(),
                    time_zone: &time_zone,
                    interval_seconds,
                    state: state_name,
                },
                since.as_deref(),
                |id| keys.encrypt(id, &body.password),
            )
            .await?;
            audit(conn, &caller, "biotime_server.registered", &server, false).await?;
            let cursor = store::cursor(conn, server.id).await?;
            Ok((server, cursor))
        })
        .await;
    match inserted {
        Ok((server, cursor)) => {
            Ok(HttpResponse::Created().json(companies.server_view(&server, cursor)))
        }
        Err(error) if db::is_unique_violation(&error) => Err(Problem::conflict(
            "biotime_server_exists",
            format!("a BioTime server named {name:?} is registered already"),
        )),
        Err(error) => Err(error.into()),
    }
}

#[utoipa::path(patch, path = "/v1/biotime-servers/{id}", tag = "biotime", params(("id" = i64, Path, description = "server id", example = 1)), request_body = BioTimeServerUpdate,
    responses((status = 200, body = BioTimeServerView), (status = 403, description = "forbidden: the role"), (status = 404, description = "no such server or none the token may see, or a company named that the token does not cover"), (status = 409, description = "biotime_server_exists: the name is taken; biotime_not_configured: no master keys to seal a new password with"), (status = 422, description = "invalid_name, invalid_url, invalid_username, invalid_password, invalid_mapping, unknown_company, invalid_time_zone, invalid_interval")), security(("bearer" = [])))]
pub async fn update_biotime_server(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<i64>,
    body: web::Json<BioTimeServerUpdate>,
) -> Result<HttpResponse, Problem> {
    let (server, _) = managed_server(&state, &caller, *path).await?;
    let companies = Companies::load(&state).await?;
    let mut changes = ServerChanges::default();
    if let Some(name) = &body.name {
        changes.name = Some(checked_name(name)?);
    }
    if let Some(url) = &body.url {
        changes.url = Some(checked_url(url)?);
    }
    if let Some(username) = &body.username {
        checked_text("username", username.trim())?;
        changes.username = Some(username.trim().to_owned());
    }
    if let Some(password) = &body.password {
        checked_text("password", password)?;
        let keys = state
            .biotime
            .master_keys
            .as_ref()
            .ok_or_else(not_configured)?;
        changes.password_sealed = Some(keys.encrypt(server.id, password));
    }
    if let Some(mapping) = &body.mapping {
        changes.mapping = Some(companies.mapping(&caller, mapping)?.to_value());
    }
    if let Some(zone) = &body.time_zone {
        checked_time_zone(zone)?;
        changes.time_zone = Some(zone.clone());
    }
    if let Some(seconds) = body.interval_seconds {
        changes.interval_seconds = Some(checked_interval(seconds)?);
    }
    if let Some(enabled) = body.enabled {
        changes.state = Some(
            if enabled {
                store::ENABLED
            } else {
                store::DISABLED
            }
            .to_owned(),
        );
    }
    let password_changed = changes.password_sealed.is_some();
    let mut conn = db::connection(&state.pool).await?;
    // A pull in progress holds the row: the change waits for it to end.
    let updated = conn
        .transaction::<_, diesel::result::Error, _>(async |conn| {
            let changed = store::update(conn, server.id, &changes).await?;
            if let Some(changed) = &changed {
                audit(
                    conn,
                    &caller,
                    "biotime_server.updated",
                    changed,
                    password_changed,
                )
                .await?;
            }
            Ok(changed)
        })
        .await;
    let server = match updated {
        Ok(server) => server.ok_or_else(no_such_server)?,
        Err(error) if db::is_unique_violation(&error) => {
            return Err(Problem::conflict(
                "biotime_server_exists",
                "a BioTime server of that name is registered already",
            ))
        }
        Err(error) => return Err(error.into()),
    };
    let cursor = store::cursor(&mut conn, server.id).await?;
    Ok(HttpResponse::Ok().json(companies.server_view(&server, cursor)))
}

/// Pulls the server now and answers when the pull has ended, its outcome in the status; if
/// another pull of it is running, the server is made due and 202 answered.
#[utoipa::path(post, path = "/v1/biotime-servers/{id}/pull", tag = "biotime", params(("id" = i64, Path, description = "server id", example = 1)),
    responses((status = 200, body = BioTimeServerView, description = "pulled: last_success_at, or last_error and failing_since when it failed"), (status = 202, body = BioTimeServerView, description = "a pull of the server is running already"), (status = 403, description = "forbidden: the role"), (status = 404, description = "no such server, or none the token may see"), (status = 409, description = "biotime_server_disabled: a disabled server is not pulled")), security(("bearer" = [])))]
pub async fn pull_biotime_server(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    let (server, _) = managed_server(&state, &caller, *path).await?;
    if server.state != store::ENABLED {
        return Err(Problem::conflict(
            "biotime_server_disabled",
            format!("BioTime server {:?} is disabled", server.name),
        ));
    }
    {
        let mut conn = db::connection(&state.pool).await?;
        conn.transaction::<_, diesel::result::Error, _>(async |conn| {
            audit(
                conn,
                &caller,
                "biotime_server.pull_requested",
                &server,
                false,
            )
            .await
        })
        .await?;
    }
    let status = match biotime::attempt(&state, &state.biotime, Some(server.id)).await? {
        Attempt::Pulled { .. } => StatusCode::OK,
        Attempt::Nothing => {
            let mut conn = db::connection(&state.pool).await?;
            store::due_now(&mut conn, server.id).await?;
            StatusCode::ACCEPTED
        }
    };
    let companies = Companies::load(&state).await?;
    let mut conn = db::connection(&state.pool).await?;
    let (server, cursor) = store::find(&mut conn, server.id)
        .await?
        .ok_or_else(no_such_server)?;
    Ok(HttpResponse::build(status).json(companies.server_view(&server, cursor)))
}

/// Records an admin's change of a server in the audit log, in the caller's transaction: the
/// server as it is now, never its password.
async fn audit(
    conn: &mut crate::store::Conn,
    caller: &Caller,
    action: &str,
    server: &Server,
    password_changed: bool,
) -> diesel::QueryResult<()> {
    let company_ids = biotime::company_ids_of(server);
    crate::queueing::audit(
        conn,
        caller.sub(),
        action,
        company_ids.first().copied(),
        format!("biotime:{}", server.name),
        serde_json::json!({
            "biotime_server_id": server.id,
            "name": server.name,
            "url": server.url,
            "username": server.username,
            "mapping": server.mapping,
            "company_ids": company_ids,
            "time_zone": server.time_zone,
            "interval_seconds": server.interval_seconds,
            "state": server.state,
            "password_changed": password_changed,
        }),
    )
    .await
}
