use std::fmt;

use actix_web::http::header::{HeaderValue, WWW_AUTHENTICATE};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use service_kit::Problem;
use settings::{Env, Secret, SettingsError};

use crate::Role;

/// The environment variable holding the HS256 secret shared with the IT portal.
pub const JWT_SECRET_VARIABLE: &str = "BRIDGE_JWT_SECRET";

/// HS256 is only as strong as its key; 32 bytes matches the SHA-256 block of security it offers.
pub const MIN_SECRET_BYTES: usize = 32;

/// Clock skew tolerated on `exp`, in seconds. Kept tiny: the portal and the services run on
/// NTP-synchronised hosts, and every extra second is a second a revoked-by-expiry token still works.
pub const EXP_LEEWAY_SECS: u64 = 5;

/// What a bridge token says about its bearer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The acting user (or service), as recorded in the audit log.
    pub sub: String,
    pub role: Role,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
    /// Company slugs the token may see and act on; absent means every company, and an empty list
    /// means none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub companies: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// Set only on tokens meant for one particular consumer (the console's login tokens carry
    /// `console`); the services' verifier refuses any token that has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

impl Claims {
    /// Claims for every company, no team and no audience, expiring `ttl` from now.
    pub fn new(sub: impl Into<String>, role: Role, ttl: chrono::Duration) -> Self {
        Self {
            sub: sub.into(),
            role,
            exp: (Utc::now() + ttl).timestamp(),
            companies: None,
            team: None,
            aud: None,
        }
    }

    pub fn with_companies<S: Into<String>>(
        mut self,
        companies: impl IntoIterator<Item = S>,
    ) -> Self {
        self.companies = Some(companies.into_iter().map(Into::into).collect());
        self
    }

    pub fn with_team(mut self, team: impl Into<String>) -> Self {
        self.team = Some(team.into());
        self
    }

    pub fn with_audience(mut self, aud: impl Into<String>) -> Self {
        self.aud = Some(aud.into());
        self
    }

    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(self.exp, 0)
    }

    /// Whether the token may see and act on `slug`.
    pub fn can_access_company(&self, slug: &str) -> bool {
        match &self.companies {
            None => true,
            Some(companies) => companies.iter().any(|c| c == slug),
        }
    }
}

/// Why a request could not be authenticated. `Display` never contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no Authorization header")]
    MissingCredentials,
    #[error("the Authorization header does not carry a Bearer token")]
    NotBearer,
    #[error("the token has expired")]
    Expired,
    /// The reason is a fixed phrase chosen here, never text derived from the token.
    #[error("the token is invalid: {0}")]
    Invalid(&'static str),
    /// The service forgot to register its `JwtKeys`; a deployment bug, not the caller's fault.
    #[error("authentication is not configured on this service")]
    NotConfigured,
}

impl AuthError {
    /// The problem+json body for this error.
    pub fn to_problem(&self) -> Problem {
        match self {
            AuthError::MissingCredentials | AuthError::NotBearer => Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Authentication required",
            )
            .with_detail(format!("{self}; send Authorization: Bearer <token>")),
            AuthError::Expired | AuthError::Invalid(_) => {
                Problem::new(StatusCode::UNAUTHORIZED, "invalid_token", "Invalid token")
                    .with_detail(self.to_string())
            }
            AuthError::NotConfigured => Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "auth_not_configured",
                "Authentication not configured",
            )
            .with_detail(self.to_string()),
        }
    }

    /// The RFC 6750 challenge sent with a 401.
    fn challenge(&self) -> Option<&'static str> {
        match self {
            AuthError::MissingCredentials | AuthError::NotBearer => Some("Bearer"),
            AuthError::Expired => {
                Some(r#"Bearer error="invalid_token", error_description="the token has expired""#)
            }
            AuthError::Invalid(_) => Some(r#"Bearer error="invalid_token""#),
            AuthError::NotConfigured => None,
        }
    }
}

impl From<AuthError> for Problem {
    fn from(error: AuthError) -> Self {
        error.to_problem()
    }
}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        self.to_problem().status_code()
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = self.to_problem().error_response();
        if let Some(challenge) = self.challenge() {
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        response
    }
}

/// The HS256 key shared with the IT portal, able to mint and verify bridge tokens.
///
/// Register it once as `web::Data<JwtKeys>` app data; the [`crate::Caller`] extractor finds it there.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    audience: Option<String>,
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKeys")
            .field("secret", &"••••")
            .field("audience", &self.audience)
            .finish()
    }
}

impl JwtKeys {
    /// Keys from a raw secret. No length rule is applied here so tests can use short fixtures;
    /// services go through [`JwtKeys::from_env`], which enforces [`MIN_SECRET_BYTES`].
    pub fn new(secret: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation: validation(None),
            audience: None,
        }
    }

    /// Keys from `BRIDGE_JWT_SECRET`, which must be at least [`MIN_SECRET_BYTES`] bytes long.
    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        let secret: Secret = env.required(JWT_SECRET_VARIABLE)?;
        if secret.expose().len() < MIN_SECRET_BYTES {
            return Err(SettingsError {
                variable: JWT_SECRET_VARIABLE.to_owned(),
                problem: format!("too short (at least {MIN_SECRET_BYTES} bytes required)"),
            });
        }
        Ok(Self::new(secret.expose().as_bytes()))
    }

    /// The same keys, but verifying only tokens whose `aud` is `audience` (and requiring one).
    /// Without this, tokens that carry any `aud` are refused.
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        let audience = audience.into();
        self.validation = validation(Some(&audience));
        self.audience = Some(audience);
        self
    }

    pub fn audience(&self) -> Option<&str> {
        self.audience.as_deref()
    }

    /// Signs `claims` with HS256.
    pub fn mint(&self, claims: &Claims) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .expect("HMAC signing of plain serde claims cannot fail")
    }

    /// A token for `sub` with `role`, limited to `companies` (None = all), valid for `ttl`.
    pub fn mint_for(
        &self,
        sub: impl Into<String>,
        role: Role,
        companies: Option<Vec<String>>,
        ttl: chrono::Duration,
    ) -> String {
        let mut claims = Claims::new(sub, role, ttl);
        claims.companies = companies;
        self.mint(&claims)
    }

    /// Checks signature (HS256 only), expiry and audience and returns the claims.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| classify(e.kind()))?;
        if data.claims.sub.trim().is_empty() {
            return Err(AuthError::Invalid("empty subject"));
        }
        Ok(data.claims)
    }
}

fn validation(audience: Option<&str>) -> Validation {
    // Pinning the list to HS256 is what refuses `none`, HS384/HS512 and any asymmetric algorithm
    // an attacker might name in the header to confuse key handling.
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = EXP_LEEWAY_SECS;
    validation.validate_exp = true;
    validation.validate_aud = true;
    validation.set_required_spec_claims(&["exp"]);
    if let Some(audience) = audience {
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "aud"]);
    }
    validation
}

fn classify(kind: &ErrorKind) -> AuthError {
    match kind {
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::InvalidSignature => AuthError::Invalid("bad signature"),
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::UnsupportedAlgorithm
        | ErrorKind::MissingAlgorithm => AuthError::Invalid("algorithm not accepted"),
        ErrorKind::InvalidAudience => AuthError::Invalid("audience not accepted"),
        ErrorKind::MissingRequiredClaim(_) | ErrorKind::InvalidClaimFormat(_) => {
            AuthError::Invalid("missing or malformed claim")
        }
        ErrorKind::ImmatureSignature => AuthError::Invalid("not yet valid"),
        _ => AuthError::Invalid("malformed token"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn keys() -> JwtKeys {
        JwtKeys::new(SECRET)
    }

    fn b64url(bytes: &[u8]) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
            for i in 0..=chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }

    fn hand_made(header: &str, payload: &serde_json::Value, signature: &str) -> String {
        format!(
            "{}.{}.{}",
            b64url(header.as_bytes()),
            b64url(payload.to_string().as_bytes()),
            signature
        )
    }

    fn future_exp() -> i64 {
        (Utc::now() + Duration::minutes(5)).timestamp()
    }

    #[test]
    fn base64url_helper_matches_known_vectors() {
        assert_eq!(b64url(b"f"), "Zg");
        assert_eq!(b64url(b"fo"), "Zm8");
        assert_eq!(b64url(b"foo"), "Zm9v");
        assert_eq!(b64url(b"\xfb\xff"), "-_8");
    }

    #[test]
    fn minted_token_round_trips() {
        let claims = Claims::new("alice", Role::Operator, Duration::minutes(10))
            .with_companies(["acme", "globex"])
            .with_team("payroll");
        let token = keys().mint(&claims);
        assert_eq!(keys().verify(&token).unwrap(), claims);
    }

    #[test]
    fn mint_for_sets_sub_role_companies_and_expiry() {
        let before = Utc::now().timestamp();
        let token = keys().mint_for(
            "svc-sync",
            Role::Service,
            Some(vec!["acme".into()]),
            Duration::minutes(15),
        );
        let claims = keys().verify(&token).unwrap();
        assert_eq!(claims.sub, "svc-sync");
        assert_eq!(claims.role, Role::Service);
        assert_eq!(claims.companies, Some(vec!["acme".to_owned()]));
        assert_eq!(claims.team, None);
        assert_eq!(claims.aud, None);
        assert!(claims.exp >= before + 15 * 60 && claims.exp <= before + 15 * 60 + 2);
        assert!(claims.expires_at().is_some());
    }

    #[test]
    fn absent_optional_claims_are_left_out_of_the_token() {
        let claims = Claims::new("bob", Role::Viewer, Duration::minutes(1));
        let json = serde_json::to_value(&claims).unwrap();
        let object = json.as_object().unwrap();
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["exp", "role", "sub"]);
    }

    #[test]
    fn expired_token_is_refused_as_expired() {
        for ago in [Duration::seconds(30), Duration::hours(2)] {
            let token = keys().mint(&Claims::new("alice", Role::Admin, -ago));
            assert_eq!(keys().verify(&token), Err(AuthError::Expired), "{ago}");
        }
    }

    #[test]
    fn token_signed_with_another_secret_is_refused() {
        let other = JwtKeys::new(b"another-secret-another-secret-xx");
        let token = other.mint_for("mallory", Role::Admin, None, Duration::minutes(5));
        assert_eq!(
            keys().verify(&token),
            Err(AuthError::Invalid("bad signature"))
        );
    }

    #[test]
    fn other_hmac_algorithms_are_refused_even_with_the_right_secret() {
        let claims = Claims::new("alice", Role::Admin, Duration::minutes(5));
        for alg in [Algorithm::HS384, Algorithm::HS512] {
            let token = jsonwebtoken::encode(
                &Header::new(alg),
                &claims,
                &EncodingKey::from_secret(SECRET),
            )
            .unwrap();
            assert_eq!(
                keys().verify(&token),
                Err(AuthError::Invalid("algorithm not accepted")),
                "{alg:?}"
            );
        }
    }

    #[test]
    fn alg_none_is_refused() {
        let payload = serde_json::json!({"sub": "mallory", "role": "admin", "exp": future_exp()});
        for header in [
            r#"{"alg":"none","typ":"JWT"}"#,
            r#"{"alg":"None","typ":"JWT"}"#,
            r#"{"alg":"NONE"}"#,
        ] {
            for signature in ["", "AAAA"] {
                let token = hand_made(header, &payload, signature);
                assert!(
                    matches!(keys().verify(&token), Err(AuthError::Invalid(_))),
                    "{header} / {signature:?}"
                );
            }
        }
    }

    #[test]
    fn signature_of_a_tampered_payload_is_refused() {
        let token = keys().mint_for("alice", Role::Viewer, None, Duration::minutes(5));
        let parts: Vec<&str> = token.split('.').collect();
        let forged_payload =
            serde_json::json!({"sub": "alice", "role": "admin", "exp": future_exp()});
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            b64url(forged_payload.to_string().as_bytes()),
            parts[2]
        );
        assert_eq!(
            keys().verify(&forged),
            Err(AuthError::Invalid("bad signature"))
        );
    }

    #[test]
    fn malformed_tokens_are_invalid() {
        let good = keys().mint_for("alice", Role::Viewer, None, Duration::minutes(5));
        let truncated = &good[..good.len() - 5];
        let extra_part = format!("{good}.AAAA");
        for token in [
            "",
            "not-a-jwt",
            "a.b",
            "a.b.c",
            "...",
            "eyJhbGciOiJIUzI1NiJ9.%%%.sig",
            truncated,
            extra_part.as_str(),
        ] {
            assert!(
                matches!(keys().verify(token), Err(AuthError::Invalid(_))),
                "{token:?}"
            );
        }
    }

    #[test]
    fn correctly_signed_tokens_with_bad_claims_are_invalid() {
        let header = Header::new(Algorithm::HS256);
        let key = EncodingKey::from_secret(SECRET);
        let exp = future_exp();
        let table = [
            serde_json::json!({"sub": "alice", "role": "admin"}),
            serde_json::json!({"sub": "alice", "role": "root", "exp": exp}),
            serde_json::json!({"role": "admin", "exp": exp}),
            serde_json::json!({"sub": "", "role": "admin", "exp": exp}),
            serde_json::json!({"sub": "alice", "role": "admin", "exp": "tomorrow"}),
            serde_json::json!({"sub": "alice", "role": "admin", "exp": exp, "companies": "acme"}),
        ];
        for payload in table {
            let token = jsonwebtoken::encode(&header, &payload, &key).unwrap();
            assert!(
                matches!(keys().verify(&token), Err(AuthError::Invalid(_))),
                "{payload}"
            );
        }
    }

    #[test]
    fn unknown_claims_from_the_portal_are_ignored() {
        let payload = serde_json::json!({
            "sub": "alice", "role": "viewer", "exp": future_exp(),
            "iat": Utc::now().timestamp(), "iss": "it-portal", "name": "Alice"
        });
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &payload,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert_eq!(keys().verify(&token).unwrap().sub, "alice");
    }

    #[test]
    fn services_refuse_tokens_minted_for_an_audience() {
        let console =
            Claims::new("alice", Role::Admin, Duration::minutes(5)).with_audience("console");
        let token = keys().mint(&console);
        assert_eq!(
            keys().verify(&token),
            Err(AuthError::Invalid("audience not accepted"))
        );
    }

    #[test]
    fn an_audience_verifier_accepts_only_its_own_audience() {
        let verifier = keys().with_audience("console");
        assert_eq!(verifier.audience(), Some("console"));
        let console =
            Claims::new("alice", Role::Admin, Duration::minutes(5)).with_audience("console");
        assert_eq!(verifier.verify(&keys().mint(&console)).unwrap(), console);

        let elsewhere = console.clone().with_audience("reports");
        assert_eq!(
            verifier.verify(&keys().mint(&elsewhere)),
            Err(AuthError::Invalid("audience not accepted"))
        );
        let without = Claims::new("alice", Role::Admin, Duration::minutes(5));
        assert_eq!(
            verifier.verify(&keys().mint(&without)),
            Err(AuthError::Invalid("missing or malformed claim"))
        );
    }

    #[test]
    fn companies_claim_absent_means_all_and_empty_means_none() {
        let all = Claims::new("a", Role::Viewer, Duration::minutes(1));
        let some = all.clone().with_companies(["acme", "globex"]);
        let none = all.clone().with_companies(Vec::<String>::new());
        let table = [
            (&all, "acme", true),
            (&all, "anything", true),
            (&some, "acme", true),
            (&some, "globex", true),
            (&some, "initech", false),
            (&some, "ACME", false),
            (&some, "acm", false),
            (&none, "acme", false),
        ];
        for (claims, slug, expected) in table {
            assert_eq!(
                claims.can_access_company(slug),
                expected,
                "{:?} {slug}",
                claims.companies
            );
        }
    }

    #[test]
    fn from_env_requires_a_long_enough_secret() {
        let env = |value: &str| Env::from_pairs([(JWT_SECRET_VARIABLE, value)]);

        let missing =
            JwtKeys::from_env(&Env::from_pairs(Vec::<(String, String)>::new())).unwrap_err();
        assert_eq!(missing.variable, JWT_SECRET_VARIABLE);

        let short = JwtKeys::from_env(&env("too-short-secret")).unwrap_err();
        assert_eq!(short.variable, JWT_SECRET_VARIABLE);
        assert!(short.to_string().contains("BRIDGE_JWT_SECRET"));
        assert!(!short.to_string().contains("too-short-secret"));

        let keys = JwtKeys::from_env(&env(std::str::from_utf8(SECRET).unwrap())).unwrap();
        let token = keys.mint_for("alice", Role::Viewer, None, Duration::minutes(1));
        assert!(JwtKeys::new(SECRET).verify(&token).is_ok());
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let debug = format!("{:?}", keys());
        assert!(!debug.contains("0123456789abcdef"));
    }

    #[test]
    fn error_messages_never_contain_the_token() {
        let token = keys().mint_for("alice", Role::Viewer, None, Duration::minutes(-5));
        let other = JwtKeys::new(b"another-secret-another-secret-xx").mint_for(
            "alice",
            Role::Viewer,
            None,
            Duration::minutes(5),
        );
        for candidate in [token.as_str(), other.as_str(), "gArBaGe1.x9Qz7pW.kLm3vR"] {
            let error = keys().verify(candidate).unwrap_err();
            let problem = error.to_problem();
            for text in [
                error.to_string(),
                format!("{error:?}"),
                problem.to_string(),
                serde_json::to_string(&problem).unwrap(),
            ] {
                assert!(!text.contains(candidate), "{text}");
                for part in candidate.split('.').filter(|p| p.len() > 3) {
                    assert!(!text.contains(part), "{text}");
                }
            }
        }
    }

    #[test]
    fn errors_map_to_401_with_a_challenge_except_misconfiguration() {
        let table = [
            (AuthError::MissingCredentials, 401, "unauthenticated"),
            (AuthError::NotBearer, 401, "unauthenticated"),
            (AuthError::Expired, 401, "invalid_token"),
            (AuthError::Invalid("bad signature"), 401, "invalid_token"),
            (AuthError::NotConfigured, 500, "auth_not_configured"),
        ];
        for (error, status, code) in table {
            let problem = error.to_problem();
            assert_eq!(problem.status, status, "{error}");
            assert_eq!(problem.code, code, "{error}");
            let response = error.error_response();
            assert_eq!(response.status().as_u16(), status);
            let challenge = response.headers().get(WWW_AUTHENTICATE);
            assert_eq!(challenge.is_some(), status == 401, "{error}");
            if let Some(challenge) = challenge {
                assert!(challenge.to_str().unwrap().starts_with("Bearer"));
            }
        }
        assert!(AuthError::Expired
            .to_problem()
            .detail
            .clone()
            .unwrap()
            .contains("expired"));
        assert!(!AuthError::Invalid("bad signature")
            .to_problem()
            .detail
            .clone()
            .unwrap()
            .contains("expired"));
    }
}
