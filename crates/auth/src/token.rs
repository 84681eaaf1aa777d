use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use actix_web::http::header::{HeaderValue, WWW_AUTHENTICATE};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use service_kit::Problem;
use settings::{Env, Secret, SettingsError};

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine;

use crate::{Role, Signer};

/// The variable that held the shared HS256 secret before keys existed; a service that finds it
/// set refuses to start, so a deployment cannot silently keep a master secret around.
pub const JWT_SECRET_VARIABLE: &str = "BRIDGE_JWT_SECRET";
/// The verification keys: comma-separated `kid:signer:base64(Ed25519 public key)`.
pub const TRUSTED_KEYS_VARIABLE: &str = "BRIDGE_TRUSTED_KEYS";
/// A service's (or the console's) own credential: `kid:base64(Ed25519 private key)`.
pub const SIGNING_KEY_VARIABLE: &str = "BRIDGE_SIGNING_KEY";
/// The portal's private key, for the token-minting commands: `kid:base64(private key)`.
pub const PORTAL_SIGNING_KEY_VARIABLE: &str = "BRIDGE_PORTAL_SIGNING_KEY";
/// `on` turns development mode on: HS256 tokens signed with [`DEV_SECRET_VARIABLE`] are accepted.
pub const DEV_MODE_VARIABLE: &str = "BRIDGE_JWT_DEV_MODE";
/// The shared HS256 secret of development mode; refused unless development mode is on.
pub const DEV_SECRET_VARIABLE: &str = "BRIDGE_JWT_DEV_SECRET";

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

/// A signing key's identity and material: an Ed25519 private key under its `kid`, held by one
/// [`Signer`]. `Debug` never shows the key.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    signer: Signer,
    seed: [u8; 32],
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("signer", &self.signer)
            .field("private_key", &"••••")
            .finish()
    }
}

/// The DER prefix of a PKCS#8 (v1) Ed25519 private key; the 32-byte seed follows it.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

impl SigningKey {
    /// A fresh random key.
    pub fn generate(kid: impl Into<String>, signer: Signer) -> Self {
        Self::from_seed(kid, signer, rand::random::<[u8; 32]>())
    }

    /// The key whose 32-byte Ed25519 seed is `seed`.
    pub fn from_seed(kid: impl Into<String>, signer: Signer, seed: [u8; 32]) -> Self {
        Self {
            kid: kid.into(),
            signer,
            seed,
        }
    }

    /// Parses `kid:base64(private key)` (the key as PKCS#8 DER, as `openssl genpkey -algorithm
    /// ed25519 -outform DER` writes it, or as the bare 32-byte seed) for `signer`.
    pub fn parse(text: &str, signer: Signer) -> Result<Self, &'static str> {
        let (kid, key) = text
            .trim()
            .split_once(':')
            .ok_or("malformed (expected kid:base64-private-key)")?;
        check_kid(kid)?;
        let bytes = decode_base64(key).ok_or("malformed (the private key is not base64)")?;
        let seed = match bytes.len() {
            32 => <[u8; 32]>::try_from(bytes.as_slice()).expect("32 bytes"),
            _ => {
                use ed25519_dalek::pkcs8::DecodePrivateKey;
                ed25519_dalek::SigningKey::from_pkcs8_der(&bytes)
                    .map_err(|_| "malformed (not an Ed25519 private key)")?
                    .to_bytes()
            }
        };
        Ok(Self::from_seed(kid, signer, seed))
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn signer(&self) -> Signer {
        self.signer
    }

    /// The matching verification key, bound to the same signer.
    pub fn trusted(&self) -> TrustedKey {
        TrustedKey {
            kid: self.kid.clone(),
            signer: self.signer,
            public: ed25519_dalek::SigningKey::from_bytes(&self.seed)
                .verifying_key()
                .to_bytes(),
        }
    }

    /// The private key as PKCS#8 DER.
    pub fn pkcs8_der(&self) -> Vec<u8> {
        let mut der = PKCS8_ED25519_PREFIX.to_vec();
        der.extend_from_slice(&self.seed);
        der
    }

    /// The `BRIDGE_SIGNING_KEY` value for this key: `kid:base64(PKCS#8 DER)`.
    pub fn to_setting(&self) -> String {
        format!("{}:{}", self.kid, STANDARD.encode(self.pkcs8_der()))
    }

    /// Signs `claims` with EdDSA, naming this key in the header's `kid`.
    pub fn sign(&self, claims: &Claims) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(
            &header,
            claims,
            &EncodingKey::from_ed_der(&self.pkcs8_der()),
        )
        .expect("Ed25519 signing of plain serde claims cannot fail")
    }
}

/// A verification key: an Ed25519 public key under its `kid`, bound to the one [`Signer`] that
/// may sign with it. Written `kid:signer:base64(32-byte public key)` in `BRIDGE_TRUSTED_KEYS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    kid: String,
    signer: Signer,
    public: [u8; 32],
}

impl TrustedKey {
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn signer(&self) -> Signer {
        self.signer
    }

    /// The `BRIDGE_TRUSTED_KEYS` item for this key.
    pub fn to_setting(&self) -> String {
        format!(
            "{}:{}:{}",
            self.kid,
            self.signer,
            STANDARD.encode(self.public)
        )
    }
}

impl std::str::FromStr for TrustedKey {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut parts = text.trim().splitn(3, ':');
        let (Some(kid), Some(signer), Some(key)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err("malformed item (expected kid:signer:base64-public-key)".to_owned());
        };
        check_kid(kid).map_err(str::to_owned)?;
        let signer: Signer = signer
            .parse()
            .map_err(|e: crate::UnknownSigner| format!("key {kid}: {e}"))?;
        let bytes =
            decode_base64(key).ok_or_else(|| format!("key {kid}: the public key is not base64"))?;
        // Accept the bare 32 bytes or the SubjectPublicKeyInfo DER `openssl pkey -pubout
        // -outform DER` writes (12 bytes of header, then the key).
        let raw = match bytes.len() {
            32 => &bytes[..],
            44 if bytes.starts_with(&[0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70]) => {
                &bytes[12..]
            }
            _ => return Err(format!("key {kid}: not a 32-byte Ed25519 public key")),
        };
        let public = <[u8; 32]>::try_from(raw).expect("32 bytes");
        ed25519_dalek::VerifyingKey::from_bytes(&public)
            .map_err(|_| format!("key {kid}: not a valid Ed25519 public key"))?;
        Ok(Self {
            kid: kid.to_owned(),
            signer,
            public,
        })
    }
}

fn check_kid(kid: &str) -> Result<(), &'static str> {
    if kid.is_empty()
        || kid.len() > 64
        || !kid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err("malformed kid (1 to 64 of A-Z a-z 0-9 - _ .)");
    }
    Ok(())
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    STANDARD
        .decode(text)
        .or_else(|_| STANDARD_NO_PAD.decode(text.trim_end_matches('=')))
        .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
        .ok()
}

/// A trusted key as verification uses it: its signer, its public key and the decoding key.
type Verifying = (Signer, [u8; 32], DecodingKey);

/// The shared HS256 secret of development mode.
#[derive(Clone)]
struct DevSecret {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

/// The keys a service verifies bridge tokens with, and (for a service that calls others, or the
/// console) its own credential to sign its calls.
///
/// Verification accepts EdDSA tokens whose header `kid` names a trusted key and whose claims
/// stay within what that key's [`Signer`] may grant; HS256 only in development mode. Register it
/// once as `web::Data<JwtKeys>` app data; the [`crate::Caller`] extractor finds it there.
#[derive(Clone)]
pub struct JwtKeys {
    trusted: Arc<HashMap<String, Verifying>>,
    signing: Vec<SigningKey>,
    dev: Option<DevSecret>,
    audience: Option<String>,
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut trusted: Vec<String> = self
            .trusted
            .iter()
            .map(|(kid, (signer, _, _))| format!("{kid}:{signer}"))
            .collect();
        trusted.sort();
        f.debug_struct("JwtKeys")
            .field("trusted", &trusted)
            .field(
                "signing",
                &self.signing.iter().map(|k| k.kid()).collect::<Vec<_>>(),
            )
            .field("development_secret", &self.dev.as_ref().map(|_| "••••"))
            .field("audience", &self.audience)
            .finish()
    }
}

impl JwtKeys {
    /// Development-mode keys from a shared HS256 secret: anyone holding it signs anything. For
    /// tests and local experiments only; services read keys with [`JwtKeys::from_env`], which
    /// allows this only with `BRIDGE_JWT_DEV_MODE=on`.
    pub fn new(secret: &[u8]) -> Self {
        Self {
            trusted: Arc::new(HashMap::new()),
            signing: Vec::new(),
            dev: Some(DevSecret {
                encoding: EncodingKey::from_secret(secret),
                decoding: DecodingKey::from_secret(secret),
            }),
            audience: None,
        }
    }

    /// A verifier trusting exactly `keys` (no development secret, nothing to sign with).
    pub fn trusting(keys: impl IntoIterator<Item = TrustedKey>) -> Self {
        let trusted = keys
            .into_iter()
            .map(|key| {
                let decoding = DecodingKey::from_ed_der(&key.public);
                (key.kid, (key.signer, key.public, decoding))
            })
            .collect();
        Self {
            trusted: Arc::new(trusted),
            signing: Vec::new(),
            dev: None,
            audience: None,
        }
    }

    /// The same keys, signing with `key` too. A holder of several keys signs each token with the
    /// first whose signer may sign it.
    pub fn with_signing_key(mut self, key: SigningKey) -> Self {
        self.signing.push(key);
        self
    }

    /// Verification keys from `BRIDGE_TRUSTED_KEYS` (comma-separated `kid:signer:base64`), and
    /// the development secret when `BRIDGE_JWT_DEV_MODE=on` (then `BRIDGE_JWT_DEV_SECRET`, at
    /// least [`MIN_SECRET_BYTES`] bytes, is required and the trusted keys are optional). Nothing
    /// to sign with: see [`JwtKeys::from_env_signing_as`].
    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        if env.raw(JWT_SECRET_VARIABLE).is_some() {
            return Err(SettingsError {
                variable: JWT_SECRET_VARIABLE.to_owned(),
                problem: format!(
                    "is no longer read: tokens are verified with the public keys in \
                     {TRUSTED_KEYS_VARIABLE} (a shared secret only in development mode, \
                     {DEV_MODE_VARIABLE}=on with {DEV_SECRET_VARIABLE}); remove it"
                ),
            });
        }
        let dev = dev_secret(env)?;
        let trusted: Option<String> = env.optional(TRUSTED_KEYS_VARIABLE)?;
        let trusted = match trusted {
            Some(list) => parse_trusted_keys(&list).map_err(|problem| SettingsError {
                variable: TRUSTED_KEYS_VARIABLE.to_owned(),
                problem,
            })?,
            None if dev.is_some() => Vec::new(),
            None => {
                return Err(SettingsError {
                    variable: TRUSTED_KEYS_VARIABLE.to_owned(),
                    problem: "missing (comma-separated kid:signer:base64-public-key items)"
                        .to_owned(),
                })
            }
        };
        let mut keys = Self::trusting(trusted);
        keys.dev = dev;
        Ok(keys)
    }

    /// [`JwtKeys::from_env`] plus this service's own credential, `BRIDGE_SIGNING_KEY`
    /// (`kid:base64-private-key`), which signs as `signer`. Required unless development mode is
    /// on. A trusted key under the same kid must be this very key, bound to `signer`.
    pub fn from_env_signing_as(env: &Env, signer: Signer) -> Result<Self, SettingsError> {
        let mut keys = Self::from_env(env)?;
        let error = |problem: String| SettingsError {
            variable: SIGNING_KEY_VARIABLE.to_owned(),
            problem,
        };
        let text: Option<Secret> = env.optional(SIGNING_KEY_VARIABLE)?;
        match text {
            Some(text) => {
                let key = SigningKey::parse(text.expose(), signer).map_err(|p| error(p.into()))?;
                if let Some((bound, public, _)) = keys.trusted.get(key.kid()) {
                    if *bound != signer || *public != key.trusted().public {
                        return Err(error(format!(
                            "kid {} is trusted in {TRUSTED_KEYS_VARIABLE} as another key or \
                             another signer than {signer}",
                            key.kid()
                        )));
                    }
                }
                keys.signing.push(key);
            }
            None if keys.dev.is_some() => {}
            None => {
                return Err(error(format!(
                    "missing (this service's own credential as {signer}: kid:base64-private-key)"
                )))
            }
        }
        Ok(keys)
    }

    /// The IT portal's key from `BRIDGE_PORTAL_SIGNING_KEY` (`kid:base64-private-key`), for the
    /// commands that mint people's tokens as the portal would; in development mode without it,
    /// the development secret.
    pub fn portal_from_env(env: &Env) -> Result<Self, SettingsError> {
        let text: Option<Secret> = env.optional(PORTAL_SIGNING_KEY_VARIABLE)?;
        match text {
            Some(text) => {
                let key = SigningKey::parse(text.expose(), Signer::Portal).map_err(|problem| {
                    SettingsError {
                        variable: PORTAL_SIGNING_KEY_VARIABLE.to_owned(),
                        problem: problem.to_owned(),
                    }
                })?;
                Ok(Self::trusting([key.trusted()]).with_signing_key(key))
            }
            None => match dev_secret(env)? {
                Some(dev) => Ok(Self {
                    dev: Some(dev),
                    ..Self::trusting([])
                }),
                None => Err(SettingsError {
                    variable: PORTAL_SIGNING_KEY_VARIABLE.to_owned(),
                    problem: "missing (the IT portal's private key, kid:base64-private-key)"
                        .to_owned(),
                }),
            },
        }
    }

    /// Whether the shared development secret is accepted. Services log it loudly at start.
    pub fn development_mode(&self) -> bool {
        self.dev.is_some()
    }

    /// Logs a warning when development mode is on; every service calls it as it starts.
    pub fn warn_if_development(&self, service: &str) {
        if self.development_mode() {
            tracing::warn!(
                service,
                alert = "jwt_development_mode",
                "{DEV_MODE_VARIABLE}=on: tokens signed with the shared development secret are \
                 accepted and grant anything; never use this outside development"
            );
            eprintln!(
                "{service}: WARNING: {DEV_MODE_VARIABLE}=on accepts the shared development secret; \
                 anyone holding it can act as anyone"
            );
        }
    }

    /// The same keys, but verifying only tokens whose `aud` is `audience` (and requiring one).
    /// Without this, tokens that carry any `aud` are refused.
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    pub fn audience(&self) -> Option<&str> {
        self.audience.as_deref()
    }

    /// Whether there is a key to sign with (own credential or development secret).
    pub fn can_sign(&self) -> bool {
        !self.signing.is_empty() || self.dev.is_some()
    }

    /// Signs `claims`: with the first own key whose signer may sign them (EdDSA, `kid` in the
    /// header), else the first own key, else the development secret (HS256).
    ///
    /// # Panics
    /// When there is nothing to sign with: services that sign load their credential at start
    /// with [`JwtKeys::from_env_signing_as`], which refuses to start without one.
    pub fn mint(&self, claims: &Claims) -> String {
        let key = self
            .signing
            .iter()
            .find(|key| key.signer().may_sign(claims).is_ok())
            .or_else(|| self.signing.first());
        match (key, &self.dev) {
            (Some(key), _) => key.sign(claims),
            (None, Some(dev)) => {
                jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &dev.encoding)
                    .expect("HMAC signing of plain serde claims cannot fail")
            }
            (None, None) => panic!("no signing key is configured ({SIGNING_KEY_VARIABLE})"),
        }
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

    /// Checks signature, expiry, audience and that the claims stay within what the signing
    /// key's signer may grant, and returns the claims.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        self.verify_signed(token).map(|(claims, _)| claims)
    }

    /// The identity a valid token proves, as a key for per-caller limits: however the token is
    /// written or re-minted, one caller keeps one key. None for a token that does not verify.
    pub fn caller_identity(&self) -> impl Fn(&str) -> Option<String> + Send + Sync + 'static {
        let keys = self.clone();
        move |token| {
            let claims = keys.verify(token).ok()?;
            Some(format!("{}:{}", claims.role, claims.sub))
        }
    }

    /// Whether an identity of [`JwtKeys::caller_identity`] is one of the bridge's services (role
    /// `service`): limited apart from the people and the portal.
    pub fn is_service_caller(identity: &str) -> bool {
        identity
            .strip_prefix(Role::Service.as_str())
            .is_some_and(|rest| rest.starts_with(':'))
    }

    /// [`JwtKeys::verify`], also naming who signed the token.
    pub fn verify_signed(&self, token: &str) -> Result<(Claims, Signer), AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| match e.kind() {
            ErrorKind::InvalidAlgorithmName | ErrorKind::UnsupportedAlgorithm => {
                AuthError::Invalid("algorithm not accepted")
            }
            _ => AuthError::Invalid("malformed token"),
        })?;
        let validation = validation(header.alg, self.audience.as_deref());
        let (claims, signer) = match header.alg {
            Algorithm::EdDSA => {
                let kid = header
                    .kid
                    .as_deref()
                    .ok_or(AuthError::Invalid("no key id"))?;
                let (signer, _, key) = self
                    .trusted
                    .get(kid)
                    .ok_or(AuthError::Invalid("unknown signing key"))?;
                let data = jsonwebtoken::decode::<Claims>(token, key, &validation)
                    .map_err(|e| classify(e.kind()))?;
                (data.claims, *signer)
            }
            Algorithm::HS256 => {
                let dev = self
                    .dev
                    .as_ref()
                    .ok_or(AuthError::Invalid("algorithm not accepted"))?;
                let data = jsonwebtoken::decode::<Claims>(token, &dev.decoding, &validation)
                    .map_err(|e| classify(e.kind()))?;
                (data.claims, Signer::Development)
            }
            _ => return Err(AuthError::Invalid("algorithm not accepted")),
        };
        if claims.sub.trim().is_empty() {
            return Err(AuthError::Invalid("empty subject"));
        }
        signer
            .may_sign(&claims)
            .map_err(|_| AuthError::Invalid("claims exceed what the signing key may grant"))?;
        Ok((claims, signer))
    }
}

/// Parses a `BRIDGE_TRUSTED_KEYS` value: items separated by commas or white space.
pub fn parse_trusted_keys(list: &str) -> Result<Vec<TrustedKey>, String> {
    let mut keys: Vec<TrustedKey> = Vec::new();
    for item in list
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|item| !item.is_empty())
    {
        let key: TrustedKey = item.parse()?;
        if keys.iter().any(|k| k.kid == key.kid) {
            return Err(format!("kid {} is listed twice", key.kid));
        }
        keys.push(key);
    }
    if keys.is_empty() {
        return Err("empty (at least one kid:signer:base64-public-key item)".to_owned());
    }
    Ok(keys)
}

fn dev_secret(env: &Env) -> Result<Option<DevSecret>, SettingsError> {
    let on = match env
        .optional::<String>(DEV_MODE_VARIABLE)?
        .as_deref()
        .map(str::trim)
    {
        None | Some("" | "off") => false,
        Some("on") => true,
        Some(_) => {
            return Err(SettingsError {
                variable: DEV_MODE_VARIABLE.to_owned(),
                problem: "malformed (expected on or off)".to_owned(),
            })
        }
    };
    let secret: Option<Secret> = env.optional(DEV_SECRET_VARIABLE)?;
    match (on, secret) {
        (false, None) => Ok(None),
        (false, Some(_)) => Err(SettingsError {
            variable: DEV_SECRET_VARIABLE.to_owned(),
            problem: format!(
                "is set but development mode is off: a shared secret lets anyone holding it act \
                 as anyone; set {DEV_MODE_VARIABLE}=on only for development, or remove it"
            ),
        }),
        (true, None) => Err(SettingsError {
            variable: DEV_SECRET_VARIABLE.to_owned(),
            problem: format!("missing ({DEV_MODE_VARIABLE}=on needs it)"),
        }),
        (true, Some(secret)) if secret.expose().len() < MIN_SECRET_BYTES => Err(SettingsError {
            variable: DEV_SECRET_VARIABLE.to_owned(),
            problem: format!("too short (at least {MIN_SECRET_BYTES} bytes required)"),
        }),
        (true, Some(secret)) => Ok(Some(DevSecret {
            encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
            decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
        })),
    }
}

fn validation(algorithm: Algorithm, audience: Option<&str>) -> Validation {
    // One algorithm per key kind: an attacker cannot name another in the header to confuse key
    // handling (HS256 with a public key as secret, `none`, ...).
    let mut validation = Validation::new(algorithm);
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

    #[test]
    fn a_service_caller_is_one_of_role_service() {
        assert!(JwtKeys::is_service_caller("service:import-service"));
        assert!(!JwtKeys::is_service_caller("admin:service:x"));
        assert!(!JwtKeys::is_service_caller("serviceman:x"));
        assert!(!JwtKeys::is_service_caller("operator:alice"));
    }

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

    fn portal() -> SigningKey {
        SigningKey::from_seed("portal-1", Signer::Portal, [7; 32])
    }

    fn trusted_env(extra: &[(&str, &str)]) -> Env {
        let mut pairs = vec![(
            TRUSTED_KEYS_VARIABLE.to_owned(),
            portal().trusted().to_setting(),
        )];
        pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Env::from_pairs(pairs)
    }

    #[test]
    fn from_env_refuses_the_old_shared_secret_and_dev_secrets_unless_dev_mode_is_on() {
        let secret = std::str::from_utf8(SECRET).unwrap();
        let old = JwtKeys::from_env(&trusted_env(&[(JWT_SECRET_VARIABLE, secret)])).unwrap_err();
        assert_eq!(old.variable, JWT_SECRET_VARIABLE);
        assert!(!old.to_string().contains(secret));

        let missing =
            JwtKeys::from_env(&Env::from_pairs(Vec::<(String, String)>::new())).unwrap_err();
        assert_eq!(missing.variable, TRUSTED_KEYS_VARIABLE);

        let dev_off =
            JwtKeys::from_env(&trusted_env(&[(DEV_SECRET_VARIABLE, secret)])).unwrap_err();
        assert_eq!(dev_off.variable, DEV_SECRET_VARIABLE);

        let short = JwtKeys::from_env(&trusted_env(&[
            (DEV_MODE_VARIABLE, "on"),
            (DEV_SECRET_VARIABLE, "too-short-secret"),
        ]))
        .unwrap_err();
        assert_eq!(short.variable, DEV_SECRET_VARIABLE);
        assert!(!short.to_string().contains("too-short-secret"));

        let hs256 = keys().mint_for("alice", Role::Viewer, None, Duration::minutes(1));
        let production = JwtKeys::from_env(&trusted_env(&[])).unwrap();
        assert!(!production.development_mode());
        assert_eq!(
            production.verify(&hs256),
            Err(AuthError::Invalid("algorithm not accepted"))
        );
        let dev = JwtKeys::from_env(&Env::from_pairs([
            (DEV_MODE_VARIABLE, "on"),
            (DEV_SECRET_VARIABLE, secret),
        ]))
        .unwrap();
        assert!(dev.development_mode());
        assert!(dev.verify(&hs256).is_ok());
    }

    #[test]
    fn tokens_of_a_trusted_key_are_accepted_and_others_refused() {
        let verifier = JwtKeys::trusting([portal().trusted()]);
        let claims = Claims::new("alice", Role::Admin, Duration::minutes(5));
        assert_eq!(verifier.verify(&portal().sign(&claims)).unwrap(), claims);
        assert_eq!(
            verifier.verify_signed(&portal().sign(&claims)).unwrap().1,
            Signer::Portal
        );

        let stranger = SigningKey::from_seed("portal-1", Signer::Portal, [8; 32]);
        assert_eq!(
            verifier.verify(&stranger.sign(&claims)),
            Err(AuthError::Invalid("bad signature"))
        );
        let unknown = SigningKey::from_seed("portal-9", Signer::Portal, [7; 32]);
        assert_eq!(
            verifier.verify(&unknown.sign(&claims)),
            Err(AuthError::Invalid("unknown signing key"))
        );
        // The shared secret is nothing to a verifier that trusts only keys.
        assert_eq!(
            verifier.verify(&keys().mint(&claims)),
            Err(AuthError::Invalid("algorithm not accepted"))
        );
    }

    #[test]
    fn claims_beyond_what_the_signer_may_grant_are_refused() {
        let console = SigningKey::from_seed("console-1", Signer::Console, [1; 32]);
        let sync = SigningKey::from_seed("sync-1", Signer::SyncService, [2; 32]);
        let verifier = JwtKeys::trusting([portal().trusted(), console.trusted(), sync.trusted()]);
        let exceeds = Err(AuthError::Invalid(
            "claims exceed what the signing key may grant",
        ));
        let service = |sub: &str| Claims::new(sub, Role::Service, Duration::minutes(5));
        assert_eq!(
            verifier.verify(&console.sign(&service("sync-service"))),
            exceeds
        );
        assert_eq!(
            verifier.verify(&portal().sign(&service("sync-service"))),
            exceeds
        );
        assert_eq!(
            verifier.verify(&sync.sign(&service("import-service"))),
            exceeds
        );
        let admin = Claims::new("sync-service", Role::Admin, Duration::minutes(5));
        assert_eq!(verifier.verify(&sync.sign(&admin)), exceeds);
        assert!(verifier
            .verify(&sync.sign(&service("sync-service")))
            .is_ok());
        assert!(verifier.verify(&console.sign(&admin)).is_ok());
    }

    #[test]
    fn several_keys_are_trusted_at_once_for_rotation() {
        let next = SigningKey::from_seed("portal-2", Signer::Portal, [9; 32]);
        let claims = Claims::new("alice", Role::Viewer, Duration::minutes(5));
        let list = format!(
            "{}, {}",
            portal().trusted().to_setting(),
            next.trusted().to_setting()
        );
        let both = JwtKeys::from_env(&Env::from_pairs([(TRUSTED_KEYS_VARIABLE, list)])).unwrap();
        assert!(both.verify(&portal().sign(&claims)).is_ok());
        assert!(both.verify(&next.sign(&claims)).is_ok());
        let only_next = JwtKeys::from_env(&Env::from_pairs([(
            TRUSTED_KEYS_VARIABLE,
            next.trusted().to_setting(),
        )]))
        .unwrap();
        assert!(only_next.verify(&next.sign(&claims)).is_ok());
        assert_eq!(
            only_next.verify(&portal().sign(&claims)),
            Err(AuthError::Invalid("unknown signing key"))
        );
    }

    #[test]
    fn key_settings_parse_and_name_what_is_wrong() {
        let key = portal();
        let parsed = SigningKey::parse(&key.to_setting(), Signer::Portal).unwrap();
        assert_eq!(parsed.trusted(), key.trusted());
        let seed_only = format!("portal-1:{}", STANDARD.encode([7u8; 32]));
        assert_eq!(
            SigningKey::parse(&seed_only, Signer::Portal)
                .unwrap()
                .trusted(),
            key.trusted()
        );
        let mut spki = vec![
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        let raw = key.trusted().to_setting();
        let public = decode_base64(raw.rsplit(':').next().unwrap()).unwrap();
        spki.extend_from_slice(&public);
        let from_spki: TrustedKey = format!("portal-1:portal:{}", STANDARD.encode(&spki))
            .parse()
            .unwrap();
        assert_eq!(from_spki, key.trusted());
        for bad in [
            "",
            "portal-1",
            "portal-1:portal",
            "portal-1:root:AAAA",
            "portal-1:portal:not base64!",
            "portal-1:portal:AAAA",
            "bad kid:portal:AAAA",
        ] {
            assert!(bad.parse::<TrustedKey>().is_err(), "{bad:?}");
        }
        assert!(parse_trusted_keys(&format!("{raw},{raw}")).is_err());
        assert!(parse_trusted_keys(" , ").is_err());
        for bad in ["", "portal-1", "portal-1:AAAA", ":AAAA"] {
            assert!(SigningKey::parse(bad, Signer::Portal).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn keys_made_with_openssl_are_read_as_openssl_wrote_them() {
        // openssl genpkey -algorithm ed25519 -outform DER | openssl base64 -A, and
        // openssl pkey -pubout -outform DER | tail -c 32 | openssl base64 -A.
        let private = "MC4CAQAwBQYDK2VwBCIEIFPFR+DWnqkYvTk7BbFg3Cuo9KsjnU8Dndf1X/cUh/it";
        let public = "Dc0GfzeQYuTLXtiUICzIsjB3FVEwcXOgGFPKtZZFS6o=";
        let key = SigningKey::parse(&format!("p-1:{private}"), Signer::Portal).unwrap();
        assert_eq!(key.to_setting(), format!("p-1:{private}"));
        assert_eq!(key.trusted().to_setting(), format!("p-1:portal:{public}"));
    }

    #[test]
    fn a_service_needs_its_own_credential_and_it_must_match_what_is_trusted() {
        let sync = SigningKey::from_seed("sync-1", Signer::SyncService, [2; 32]);
        let missing =
            JwtKeys::from_env_signing_as(&trusted_env(&[]), Signer::SyncService).unwrap_err();
        assert_eq!(missing.variable, SIGNING_KEY_VARIABLE);
        let setting = sync.to_setting();
        let keys = JwtKeys::from_env_signing_as(
            &trusted_env(&[(SIGNING_KEY_VARIABLE, setting.as_str())]),
            Signer::SyncService,
        )
        .unwrap();
        let token = keys.mint(&Claims::new(
            "sync-service",
            Role::Service,
            Duration::minutes(1),
        ));
        let (_, signer) = JwtKeys::trusting([sync.trusted()])
            .verify_signed(&token)
            .unwrap();
        assert_eq!(signer, Signer::SyncService);
        assert!(!format!("{keys:?}").contains(&setting[8..]));

        let clash = format!("{},sync-1:portal:{}", portal().trusted().to_setting(), {
            let t = sync.trusted().to_setting();
            t.rsplit(':').next().unwrap().to_owned()
        });
        let error = JwtKeys::from_env_signing_as(
            &Env::from_pairs([
                (TRUSTED_KEYS_VARIABLE, clash.as_str()),
                (SIGNING_KEY_VARIABLE, setting.as_str()),
            ]),
            Signer::SyncService,
        )
        .unwrap_err();
        assert_eq!(error.variable, SIGNING_KEY_VARIABLE);
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
