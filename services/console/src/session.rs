//! Server-side sessions: opened by the IT portal's login token, kept in Postgres (schema
//! `console`), carried by an HttpOnly SameSite=Strict cookie, ended by sign-out, inactivity or
//! age. Each session holds the user's sub, role and companies exactly as the login token said,
//! and a CSRF token every form sends back.
//!
//! A login token opens one session, once: its hash is remembered until the token expires, so it
//! opens nothing again whatever becomes of its session. Login tokens live five minutes at most,
//! and `/login` takes them only from the console itself or the configured IT portal. Each
//! session may make a bounded number of requests a second.

use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::time::Duration;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use auth::{Claims, Permission, Role};
use base64::Engine;
use chrono::{DateTime, TimeDelta, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Bytea, Jsonb, Nullable, Text, Timestamptz};
use diesel::upsert::excluded;
use diesel_async::RunQueryDsl;
use settings::{Env, SettingsError};
use sha2::{Digest, Sha256};

use crate::i18n::Lang;
use crate::schema::{preferences, sessions, used_login_tokens};
use crate::AppState;

/// The session cookie's name.
pub const COOKIE: &str = "console_session";
/// Header an htmx request carries its CSRF token in (forms carry the `csrf` field).
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The longest life a login token may have (from its `iat`, or from now when it has none).
pub const MAX_LOGIN_TOKEN_LIFE: TimeDelta = TimeDelta::minutes(5);
/// Most sessions whose request rate is tracked at once.
const MAX_LIMITED_SESSIONS: usize = 10_000;

/// How long sessions last.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// `CONSOLE_SESSION_IDLE_MINUTES` (default 30): a session unused this long is over.
    pub idle: TimeDelta,
    /// `CONSOLE_SESSION_MAX_HOURS` (default 12): a session this old is over, used or not.
    pub absolute: TimeDelta,
    /// `CONSOLE_COOKIE_SECURE` (default false): always mark the cookie Secure, for a console
    /// behind a TLS-terminating proxy that does not send X-Forwarded-Proto. Requests that arrive
    /// over https (or say so in Forwarded / X-Forwarded-Proto) get it anyway.
    pub always_secure: bool,
    /// `CONSOLE_PORTAL_ORIGIN` (comma-separated, none by default): the origins, besides the
    /// console's own, whose pages may post a login token to `/login` (the IT portal, e.g.
    /// `https://portal.example.com`). `null` admits pages without an origin of their own (a
    /// sign-in page opened from a file), for trying the console locally only.
    pub portal_origins: Vec<String>,
    /// `CONSOLE_SESSION_REQUESTS_PER_SECOND` (default 10): requests a second one session may make,
    /// in bursts of ten times that; over it the console answers 429.
    pub requests_per_second: NonZeroU32,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            idle: TimeDelta::minutes(30),
            absolute: TimeDelta::hours(12),
            always_secure: false,
            portal_origins: Vec::new(),
            requests_per_second: NonZeroU32::new(10).expect("ten is not zero"),
        }
    }
}

impl SessionSettings {
    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        let idle: u32 = env.or("CONSOLE_SESSION_IDLE_MINUTES", 30)?;
        let absolute: u32 = env.or("CONSOLE_SESSION_MAX_HOURS", 12)?;
        Ok(Self {
            idle: TimeDelta::minutes(i64::from(idle.max(1))),
            absolute: TimeDelta::hours(i64::from(absolute.max(1))),
            always_secure: env.or("CONSOLE_COOKIE_SECURE", false)?,
            portal_origins: portal_origins(&env.or("CONSOLE_PORTAL_ORIGIN", String::new())?)?,
            requests_per_second: env.or(
                "CONSOLE_SESSION_REQUESTS_PER_SECOND",
                NonZeroU32::new(10).expect("ten is not zero"),
            )?,
        })
    }

    /// The per-session request limit these settings ask for.
    pub fn request_limit(&self) -> service_kit::KeyedLimit {
        let burst = self
            .requests_per_second
            .saturating_mul(NonZeroU32::new(10).expect("ten is not zero"));
        service_kit::KeyedLimit::new(self.requests_per_second, burst, MAX_LIMITED_SESSIONS)
    }

    /// Whether a `/login` with these `Origin` and `Sec-Fetch-Site` headers may sign in, on a
    /// console reached as `host` (the request's Host). A browser sends an Origin with every
    /// form post; a request with none comes from a program, which no other site can make a
    /// browser send, unless the browser says the request is cross-site.
    pub fn login_allowed_from(
        &self,
        origin: Option<&str>,
        fetch_site: Option<&str>,
        host: &str,
    ) -> bool {
        match origin.map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase()) {
            Some(origin) => {
                let own = origin
                    .split_once("://")
                    .is_some_and(|(_, authority)| authority == host.to_ascii_lowercase());
                own || self.portal_origins.contains(&origin)
            }
            None => !matches!(fetch_site, Some("cross-site" | "same-site")),
        }
    }
}

/// Reads `CONSOLE_PORTAL_ORIGIN`: origins (`scheme://host[:port]`, no path) separated by commas,
/// or `null`.
fn portal_origins(value: &str) -> Result<Vec<String>, SettingsError> {
    value
        .split(',')
        .map(|origin| origin.trim().trim_end_matches('/').to_ascii_lowercase())
        .filter(|origin| !origin.is_empty())
        .map(|origin| {
            let well_formed = origin == "null"
                || origin.split_once("://").is_some_and(|(scheme, authority)| {
                    matches!(scheme, "http" | "https")
                        && !authority.is_empty()
                        && !authority.contains(['/', '?', '#', '@', ' '])
                });
            if well_formed {
                Ok(origin)
            } else {
                Err(SettingsError {
                    variable: "CONSOLE_PORTAL_ORIGIN".to_owned(),
                    problem: "malformed (expected origins like https://portal.example.com, \
                              separated by commas)"
                        .to_owned(),
                })
            }
        })
        .collect()
}

/// The signed-in user of a request.
#[derive(Debug, Clone)]
pub struct Session {
    pub sub: String,
    pub role: Role,
    /// Company slugs; `None` means every company.
    pub companies: Option<Vec<String>>,
    pub team: Option<String>,
    pub csrf_token: String,
    pub lang: Lang,
    token_sha256: Vec<u8>,
}

impl Session {
    /// Whether the user's role grants `permission` (on every company the user may see).
    pub fn can(&self, permission: Permission) -> bool {
        self.role.allows(permission)
    }

    /// Whether the user may perform `permission` on company `slug`.
    pub fn can_for(&self, permission: Permission, slug: &str) -> bool {
        self.can(permission) && self.sees(slug)
    }

    pub fn sees(&self, slug: &str) -> bool {
        match &self.companies {
            None => true,
            Some(companies) => companies.iter().any(|c| c == slug),
        }
    }

    /// Claims for one call to a service on the user's behalf: the same sub, role, companies and
    /// team, never more, for `ttl`.
    pub fn claims(&self, ttl: TimeDelta) -> Claims {
        let mut claims = Claims::new(self.sub.clone(), self.role, ttl);
        claims.companies = self.companies.clone();
        claims.team = self.team.clone();
        claims
    }

    /// 403 unless `token` is this session's CSRF token.
    pub fn check_csrf(&self, token: Option<&str>) -> Result<(), SessionError> {
        match token {
            Some(token) if constant_time_eq(token.as_bytes(), self.csrf_token.as_bytes()) => Ok(()),
            _ => Err(SessionError::Csrf),
        }
    }

    /// The CSRF token of a request: the `X-CSRF-Token` header, else the form's `csrf` field.
    pub fn check_request_csrf(
        &self,
        req: &HttpRequest,
        field: Option<&str>,
    ) -> Result<(), SessionError> {
        let header = req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|value| value.to_str().ok());
        self.check_csrf(header.or(field))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Why a request has no usable session, or a form was refused. Answered in `crate::errors`.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("not signed in")]
    SignedOut,
    #[error("the form is stale or did not come from the console; reload the page and try again")]
    Csrf,
    #[error(transparent)]
    Storage(#[from] db::DbError),
    #[error("too many requests from this session; wait a moment and try again")]
    RateLimited(Duration),
}

impl From<diesel::result::Error> for SessionError {
    fn from(error: diesel::result::Error) -> Self {
        SessionError::Storage(error.into())
    }
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A live session's row, with the user's language from their preferences.
#[derive(Queryable)]
struct Row {
    sub: String,
    role: String,
    companies: Option<serde_json::Value>,
    team: Option<String>,
    csrf_token: String,
    lang: Option<String>,
}

/// A session just opened: the cookie value to hand to the browser.
pub struct Opened {
    pub cookie_value: String,
}

/// Why a login token opened no session. Answered in `crate::errors`.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("the sign-in link is invalid or has expired; sign in again from the IT portal")]
    Invalid,
    #[error(
        "the sign-in link lives longer than the console accepts; sign in again from the IT portal"
    )]
    TooLong,
    #[error("this sign-in link was used already; sign in again from the IT portal")]
    Used,
    #[error(transparent)]
    Storage(#[from] db::DbError),
}

impl From<diesel::result::Error> for LoginError {
    fn from(error: diesel::result::Error) -> Self {
        LoginError::Storage(error.into())
    }
}

/// The `iat` (issued at, seconds since the epoch) of a token whose signature was verified.
fn issued_at(token: &str) -> Option<i64> {
    let payload = token.split('.').nth(1)?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice::<serde_json::Value>(&json)
        .ok()?
        .get("iat")?
        .as_i64()
}

/// Whether a login token expiring at `exp` (issued at `iat`, when it says) lives longer than
/// [`MAX_LOGIN_TOKEN_LIFE`], measured at `now`.
fn lives_too_long(exp: i64, iat: Option<i64>, now: DateTime<Utc>) -> bool {
    let max = MAX_LOGIN_TOKEN_LIFE.num_seconds();
    exp - now.timestamp() > max || iat.is_some_and(|iat| exp - iat > max)
}

/// Verifies the login token (audience `console`, five minutes of life at most) and opens a
/// session holding its claims, unless the token was used before. Sessions and used tokens past
/// their time are removed on the way, so the tables stay small without a timer.
pub async fn open(state: &AppState, login_token: &str) -> Result<Opened, LoginError> {
    let login_token = login_token.trim();
    let claims = state
        .login_keys
        .verify(login_token)
        .map_err(|_| LoginError::Invalid)?;
    if claims.role == Role::Service {
        return Err(LoginError::Invalid);
    }
    let now = Utc::now();
    if lives_too_long(claims.exp, issued_at(login_token), now) {
        return Err(LoginError::TooLong);
    }
    // The verifier accepts a token a few seconds past its exp: it is remembered that long.
    let usable_until = DateTime::from_timestamp(claims.exp, 0).unwrap_or(now)
        + TimeDelta::seconds(auth::EXP_LEEWAY_SECS as i64 + 1);
    let cookie_value = random_token();
    let mut conn = db::connection(&state.pool).await?;
    diesel::delete(
        sessions::table.filter(
            sessions::expires_at
                .lt(now)
                .or(sessions::last_seen_at.lt(now - state.session.idle)),
        ),
    )
    .execute(&mut conn)
    .await?;
    diesel::delete(used_login_tokens::table.filter(used_login_tokens::usable_until.lt(now)))
        .execute(&mut conn)
        .await?;
    // One statement: the token is marked used and the session opened together, or neither.
    // Raw: the builder has no data-modifying `WITH` to feed the second insert from the first.
    let inserted = diesel::sql_query(
        "WITH first_use AS ( \
           INSERT INTO console.used_login_tokens (token_sha256, usable_until) VALUES ($7, $10) \
           ON CONFLICT (token_sha256) DO NOTHING RETURNING token_sha256) \
         INSERT INTO console.sessions (token_sha256, sub, role, companies, team, csrf_token, \
           login_sha256, created_at, last_seen_at, expires_at) \
         SELECT $1, $2, $3, $4, $5, $6, token_sha256, $8, $8, $9 FROM first_use \
         ON CONFLICT (login_sha256) DO NOTHING",
    )
    .bind::<Bytea, _>(sha256(cookie_value.as_bytes()))
    .bind::<Text, _>(&claims.sub)
    .bind::<Text, _>(claims.role.as_str())
    .bind::<Nullable<Jsonb>, _>(claims.companies.as_ref().map(|c| serde_json::json!(c)))
    .bind::<Nullable<Text>, _>(&claims.team)
    .bind::<Text, _>(random_token())
    .bind::<Bytea, _>(sha256(login_token.as_bytes()))
    .bind::<Timestamptz, _>(now)
    .bind::<Timestamptz, _>(now + state.session.absolute)
    .bind::<Timestamptz, _>(usable_until)
    .execute(&mut conn)
    .await?;
    if inserted == 0 {
        return Err(LoginError::Used);
    }
    tracing::info!(sub = %claims.sub, role = %claims.role, "signed in");
    Ok(Opened { cookie_value })
}

/// The session a cookie names, if it is still alive; marks it used now.
async fn load(state: &AppState, cookie_value: &str) -> Result<Option<Session>, SessionError> {
    let token_sha256 = sha256(cookie_value.as_bytes());
    let now = Utc::now();
    let mut conn = db::connection(&state.pool).await?;
    let lang = preferences::table
        .filter(preferences::sub.eq(sessions::sub))
        .select(preferences::lang)
        .single_value();
    let row: Option<Row> = diesel::update(sessions::table)
        .filter(sessions::token_sha256.eq(&token_sha256))
        .filter(sessions::expires_at.gt(now))
        .filter(sessions::last_seen_at.gt(now - state.session.idle))
        .set(sessions::last_seen_at.eq(now))
        .returning((
            sessions::sub,
            sessions::role,
            sessions::companies,
            sessions::team,
            sessions::csrf_token,
            lang,
        ))
        .get_result(&mut conn)
        .await
        .optional()?;
    Ok(row.and_then(|row| session_of(row, token_sha256)))
}

/// The session a stored row holds. A row whose role or companies cannot be read opens no
/// session (it is logged): companies read as none would mean every company.
fn session_of(row: Row, token_sha256: Vec<u8>) -> Option<Session> {
    let role = match row.role.parse() {
        Ok(role) => role,
        Err(error) => {
            tracing::error!(sub = %row.sub, %error, "stored session has an unknown role; it is not used");
            return None;
        }
    };
    let companies = match row.companies.map(serde_json::from_value).transpose() {
        Ok(companies) => companies,
        Err(error) => {
            tracing::error!(sub = %row.sub, %error, "stored session's companies cannot be read; it is not used");
            return None;
        }
    };
    Some(Session {
        role,
        companies,
        sub: row.sub,
        team: row.team,
        csrf_token: row.csrf_token,
        lang: row.lang.as_deref().map(Lang::from_code).unwrap_or_default(),
        token_sha256,
    })
}

/// Ends the session.
pub async fn close(state: &AppState, session: &Session) -> Result<(), SessionError> {
    let mut conn = db::connection(&state.pool).await?;
    diesel::delete(sessions::table.find(&session.token_sha256))
        .execute(&mut conn)
        .await?;
    tracing::info!(sub = %session.sub, "signed out");
    Ok(())
}

/// Remembers the user's language.
pub async fn set_lang(state: &AppState, sub: &str, lang: Lang) -> Result<(), SessionError> {
    let mut conn = db::connection(&state.pool).await?;
    diesel::insert_into(preferences::table)
        .values((
            preferences::sub.eq(sub),
            preferences::lang.eq(lang.code()),
            preferences::updated_at.eq(diesel::dsl::now),
        ))
        .on_conflict(preferences::sub)
        .do_update()
        .set((
            preferences::lang.eq(excluded(preferences::lang)),
            preferences::updated_at.eq(diesel::dsl::now),
        ))
        .execute(&mut conn)
        .await?;
    Ok(())
}

/// Whether the request reached the console over TLS (directly or through a proxy that says so).
fn over_tls(req: &HttpRequest) -> bool {
    req.connection_info().scheme() == "https"
}

/// The session cookie: HttpOnly, SameSite=Strict, Path=/, Secure over TLS; no Max-Age, so the
/// browser forgets it when it closes, and the server's expiry decides the rest.
pub fn cookie(req: &HttpRequest, settings: &SessionSettings, value: &str) -> Cookie<'static> {
    Cookie::build(COOKIE, value.to_owned())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(settings.always_secure || over_tls(req))
        .finish()
}

/// A cookie that removes the session cookie.
pub fn removal(req: &HttpRequest, settings: &SessionSettings) -> Cookie<'static> {
    let mut cookie = cookie(req, settings, "");
    cookie.make_removal();
    cookie
}

impl FromRequest for Session {
    type Error = SessionError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let cookie = req.cookie(COOKIE).map(|c| c.value().to_owned());
        Box::pin(async move {
            let (Some(state), Some(cookie)) = (state, cookie) else {
                return Err(SessionError::SignedOut);
            };
            let session = load(&state, &cookie)
                .await?
                .ok_or(SessionError::SignedOut)?;
            state
                .session_limit
                .check(&session.token_sha256)
                .map_err(SessionError::RateLimited)?;
            Ok(session)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(role: &str, companies: Option<serde_json::Value>) -> Row {
        Row {
            sub: "ana".to_owned(),
            role: role.to_owned(),
            companies,
            team: None,
            csrf_token: "t".to_owned(),
            lang: Some("ar".to_owned()),
        }
    }

    #[test]
    fn a_stored_session_that_cannot_be_read_opens_nothing_rather_than_every_company() {
        let limited = session_of(
            row("viewer", Some(serde_json::json!(["advline"]))),
            Vec::new(),
        )
        .expect("a session");
        assert_eq!(limited.companies, Some(vec!["advline".to_owned()]));
        assert_eq!(limited.lang, Lang::Ar);
        let every = session_of(row("admin", None), Vec::new()).expect("a session");
        assert_eq!(every.companies, None);
        assert!(session_of(
            row("viewer", Some(serde_json::json!("advline"))),
            Vec::new()
        )
        .is_none());
        assert!(session_of(row("emperor", None), Vec::new()).is_none());
    }

    #[test]
    fn login_tokens_live_five_minutes_at_most() {
        let now = Utc::now();
        let t = now.timestamp();
        let table = [
            (t + 60, None, false),
            (t + 300, None, false),
            (t + 301, None, true),
            (t + 600, None, true),
            (t + 60, Some(t - 60), false),
            (t + 60, Some(t - 300), true),
            (t + 300, Some(t), false),
        ];
        for (exp, iat, too_long) in table {
            assert_eq!(lives_too_long(exp, iat, now), too_long, "{exp} {iat:?}");
        }
    }

    #[test]
    fn issued_at_is_read_from_the_payload() {
        let encode = |json: &str| {
            format!(
                "h.{}.s",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
            )
        };
        assert_eq!(
            issued_at(&encode(r#"{"iat":1700000000}"#)),
            Some(1_700_000_000)
        );
        assert_eq!(issued_at(&encode(r#"{"exp":1}"#)), None);
        assert_eq!(issued_at("garbage"), None);
    }

    #[test]
    fn logins_are_taken_from_the_console_itself_and_the_portal_only() {
        let settings = SessionSettings {
            portal_origins: portal_origins(" https://Portal.example.com/ ,http://10.0.0.5:8443")
                .unwrap(),
            ..SessionSettings::default()
        };
        let host = "console.example.com";
        let table = [
            (Some("https://console.example.com"), None, true),
            (
                Some("http://console.example.com"),
                Some("same-origin"),
                true,
            ),
            (Some("https://portal.example.com"), Some("cross-site"), true),
            (Some("http://10.0.0.5:8443"), Some("cross-site"), true),
            (Some("https://evil.example"), Some("cross-site"), false),
            (Some("https://evil.example"), None, false),
            (Some("null"), Some("cross-site"), false),
            (
                Some("https://console.example.com.evil.example"),
                None,
                false,
            ),
            (None, None, true),
            (None, Some("none"), true),
            (None, Some("same-origin"), true),
            (None, Some("cross-site"), false),
            (None, Some("same-site"), false),
        ];
        for (origin, fetch_site, allowed) in table {
            assert_eq!(
                settings.login_allowed_from(origin, fetch_site, host),
                allowed,
                "{origin:?} {fetch_site:?}"
            );
        }
        let local = SessionSettings {
            portal_origins: portal_origins("null").unwrap(),
            ..SessionSettings::default()
        };
        assert!(local.login_allowed_from(Some("null"), Some("cross-site"), host));
        for malformed in [
            "portal.example.com",
            "ftp://x",
            "https://x/path",
            "https://",
        ] {
            let error = portal_origins(malformed).unwrap_err();
            assert_eq!(error.variable, "CONSOLE_PORTAL_ORIGIN", "{malformed}");
        }
        assert!(portal_origins("").unwrap().is_empty());
    }
}
