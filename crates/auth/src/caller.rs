use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest};
use service_kit::Problem;

use crate::{AuthError, Claims, JwtKeys, Permission, Role, Signer};

/// The authenticated caller of a REST handler.
///
/// Taking a `Caller` argument is what makes a handler authenticated: extraction fails with a 401
/// problem+json (and `WWW-Authenticate: Bearer`) unless the request carries a valid bearer token
/// verified by the `web::Data<JwtKeys>` registered on the app. Authorisation is then explicit in
/// the handler through [`Caller::require`] and [`Caller::require_company`].
#[derive(Debug, Clone)]
pub struct Caller {
    claims: Claims,
    signer: Signer,
}

impl Caller {
    /// A caller with already-verified claims, for code paths that verify tokens themselves; its
    /// signer is the one the claims imply ([`Signer::implied_by`]).
    pub fn from_claims(claims: Claims) -> Self {
        let signer = Signer::implied_by(&claims);
        Self { claims, signer }
    }

    /// A caller with claims verified as signed by `signer`.
    pub fn signed_by(claims: Claims, signer: Signer) -> Self {
        Self { claims, signer }
    }

    /// Authenticates a request: the `Authorization: Bearer` token checked with `keys`.
    pub fn authenticate(req: &HttpRequest, keys: &JwtKeys) -> Result<Self, AuthError> {
        let token = bearer_token(req)?;
        let (claims, signer) = keys.verify_signed(token)?;
        Ok(Self::signed_by(claims, signer))
    }

    /// Who signed the caller's token.
    pub fn signer(&self) -> Signer {
        self.signer
    }

    pub fn sub(&self) -> &str {
        &self.claims.sub
    }

    pub fn role(&self) -> Role {
        self.claims.role
    }

    pub fn team(&self) -> Option<&str> {
        self.claims.team.as_deref()
    }

    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// Whether both the caller's role and its token's signer grant `permission`.
    pub fn allows(&self, permission: Permission) -> bool {
        self.claims.role.allows(permission) && self.signer.grants(permission)
    }

    /// 403 `forbidden` unless the caller's role and its token's signer grant `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), Problem> {
        if self.allows(permission) {
            return Ok(());
        }
        if !self.signer.grants(permission) {
            return Err(
                Problem::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden").with_detail(format!(
                    "a token signed by {} does not grant permission {permission}",
                    self.signer
                )),
            );
        }
        Err(
            Problem::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden").with_detail(format!(
                "role {} does not grant permission {permission}",
                self.claims.role
            )),
        )
    }

    /// Whether the token may see and act on company `slug` (no `companies` claim = every company).
    pub fn can_access_company(&self, slug: &str) -> bool {
        self.claims.can_access_company(slug)
    }

    /// 404 `not_found` unless the token covers company `slug`: a company outside the token's
    /// scope answers exactly as a company that does not exist, so a limited token cannot tell
    /// which other companies there are.
    pub fn require_company(&self, slug: &str) -> Result<(), Problem> {
        if self.can_access_company(slug) {
            return Ok(());
        }
        Err(Problem::not_found("company"))
    }

    /// Whether the token is limited to some companies (a `companies` claim, even an empty one).
    pub fn is_limited(&self) -> bool {
        self.claims.companies.is_some()
    }

    /// The role check first, then the company check, as almost every per-company route needs.
    pub fn require_for_company(&self, permission: Permission, slug: &str) -> Result<(), Problem> {
        self.require(permission)?;
        self.require_company(slug)
    }

    /// The companies list endpoints must restrict themselves to; `None` means every company.
    pub fn visible_companies(&self) -> Option<&[String]> {
        self.claims.companies.as_deref()
    }
}

impl FromRequest for Caller {
    type Error = AuthError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let result = match req.app_data::<web::Data<JwtKeys>>() {
            Some(keys) => Caller::authenticate(req, keys),
            None => Err(AuthError::NotConfigured),
        };
        ready(result)
    }
}

fn bearer_token(req: &HttpRequest) -> Result<&str, AuthError> {
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .ok_or(AuthError::MissingCredentials)?;
    let value = header.to_str().map_err(|_| AuthError::NotBearer)?.trim();
    // The scheme name is case-insensitive (RFC 9110 §11.1).
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::NotBearer)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::NotBearer);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(AuthError::MissingCredentials);
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;
    use chrono::Duration;

    fn caller(role: Role, companies: Option<&[&str]>) -> Caller {
        let mut claims = Claims::new("alice", role, Duration::minutes(5));
        claims.companies = companies.map(|c| c.iter().map(|s| s.to_string()).collect());
        Caller::from_claims(claims)
    }

    #[test]
    fn bearer_header_forms() {
        let table: [(Option<&str>, Result<&str, AuthError>); 9] = [
            (None, Err(AuthError::MissingCredentials)),
            (Some("Bearer abc.def.ghi"), Ok("abc.def.ghi")),
            (Some("bearer abc.def.ghi"), Ok("abc.def.ghi")),
            (Some("BEARER   abc.def.ghi  "), Ok("abc.def.ghi")),
            (Some("Bearer "), Err(AuthError::NotBearer)),
            (Some("Bearer    x"), Ok("x")),
            (Some("Basic YWxpY2U6cHc="), Err(AuthError::NotBearer)),
            (Some("abc.def.ghi"), Err(AuthError::NotBearer)),
            (Some("Token abc"), Err(AuthError::NotBearer)),
        ];
        for (header, expected) in table {
            let mut request = TestRequest::default();
            if let Some(header) = header {
                request = request.insert_header((AUTHORIZATION, header));
            }
            let req = request.to_http_request();
            assert_eq!(bearer_token(&req), expected, "{header:?}");
        }
    }

    #[test]
    fn require_reports_role_and_permission() {
        let viewer = caller(Role::Viewer, None);
        assert!(viewer.require(Permission::ReadImports).is_ok());
        let problem = viewer.require(Permission::UploadImports).unwrap_err();
        assert_eq!(problem.status, 403);
        assert_eq!(problem.code, "forbidden");
        let detail = problem.detail.clone().unwrap();
        assert!(detail.contains("viewer"), "{detail}");
        assert!(detail.contains("upload_imports"), "{detail}");
    }

    fn everywhere_but_nothing_named() -> Problem {
        Problem::not_found("company")
    }

    #[test]
    fn company_rules() {
        let limited = caller(Role::Operator, Some(&["acme"]));
        assert!(limited.require_company("acme").is_ok());
        let problem = limited.require_company("globex").unwrap_err();
        assert_eq!(problem.status, 404);
        assert_eq!(problem.code, "not_found");
        let missing = everywhere_but_nothing_named();
        assert_eq!(
            serde_json::to_value(&problem).unwrap(),
            serde_json::to_value(&missing).unwrap(),
            "out of scope answers exactly as missing"
        );
        assert!(limited.is_limited());
        assert_eq!(limited.visible_companies(), Some(&["acme".to_owned()][..]));

        let everywhere = caller(Role::Viewer, None);
        assert!(!everywhere.is_limited());
        assert!(everywhere.require_company("globex").is_ok());
        assert_eq!(everywhere.visible_companies(), None);

        let nowhere = caller(Role::Admin, Some(&[]));
        assert!(nowhere.is_limited());
        assert!(!nowhere.can_access_company("acme"));
        assert_eq!(nowhere.require_company("acme").unwrap_err().status, 404);
        assert_eq!(nowhere.visible_companies(), Some(&[][..]));
    }

    #[test]
    fn require_for_company_checks_the_role_first() {
        let viewer = caller(Role::Viewer, Some(&["acme"]));
        let table = [
            (Permission::ReadImports, "acme", None),
            (Permission::ReadImports, "globex", Some("not_found")),
            (Permission::SyncNow, "acme", Some("forbidden")),
            (Permission::SyncNow, "globex", Some("forbidden")),
        ];
        for (permission, slug, expected) in table {
            let code = viewer
                .require_for_company(permission, slug)
                .err()
                .map(|p| p.code.clone());
            assert_eq!(code.as_deref(), expected, "{permission} {slug}");
        }
    }

    #[test]
    fn accessors_expose_the_claims() {
        let claims =
            Claims::new("sync-service", Role::Service, Duration::minutes(5)).with_team("ops");
        let caller = Caller::from_claims(claims.clone());
        assert_eq!(caller.sub(), "sync-service");
        assert_eq!(caller.signer(), Signer::SyncService);
        assert_eq!(caller.role(), Role::Service);
        assert_eq!(caller.team(), Some("ops"));
        assert_eq!(caller.claims(), &claims);
        assert!(caller.allows(Permission::ReadDecryptedKey));
        assert!(!caller.allows(Permission::ReadImports));
    }

    #[test]
    fn a_service_credential_is_refused_what_its_service_does_not_need() {
        let claims = Claims::new("import-service", Role::Service, Duration::minutes(5));
        let import = Caller::signed_by(claims, Signer::ImportService);
        assert!(import.require(Permission::ReadDirectorySnapshot).is_ok());
        let problem = import.require(Permission::ReadDecryptedKey).unwrap_err();
        assert_eq!(problem.status, 403);
        assert!(problem.detail.clone().unwrap().contains("import-service"));
    }
}
