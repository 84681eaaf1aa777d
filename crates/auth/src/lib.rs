//! Bearer-token authentication and the access rules every bridge service shares (DESIGN §6).
//!
//! The IT portal mints HS256 JWTs with the secret in `BRIDGE_JWT_SECRET`; services verify them
//! with [`JwtKeys`], take a [`Caller`] in each handler, and ask it for a [`Permission`] and,
//! where the route names a company, for that company. The role table lives in one place,
//! [`Permission::granted_to`], so the rules cannot drift between services.

mod caller;
mod role;
mod token;

pub use caller::Caller;
pub use role::{Permission, Role, UnknownRole};
pub use token::{
    AuthError, Claims, JwtKeys, EXP_LEEWAY_SECS, JWT_SECRET_VARIABLE, MIN_SECRET_BYTES,
};
