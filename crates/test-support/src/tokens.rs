//! Tokens as a deployment signs them, with this process's test keys.

use auth::{Claims, Role};

use crate::test_keys;

/// A token for `sub` with `role`, for every company (`None`) or only `companies`, valid for 30
/// minutes: a person's signed by the portal's key, a `service` token by the key of the service
/// `sub` names.
pub fn token(sub: &str, role: Role, companies: Option<&[&str]>) -> String {
    let mut claims = Claims::new(sub, role, chrono::Duration::minutes(30));
    if let Some(companies) = companies {
        claims = claims.with_companies(companies.iter().copied());
    }
    test_keys().keyring().mint(&claims)
}

/// A token of `role` for every company: a person's as `{role}-user`, a `service` token as
/// `service`'s own credential.
pub fn role_token(role: Role, service: &str) -> String {
    let sub = match role {
        Role::Service => service.to_owned(),
        _ => format!("{}-user", role.as_str()),
    };
    token(&sub, role, None)
}

/// An admin's token for every company.
pub fn admin_token() -> String {
    token("admin-user", Role::Admin, None)
}
