//! Bearer-token authentication and the access rules every bridge service shares (docs/architecture.md#security).
//!
//! The IT portal signs people's tokens (EdDSA) with its private key; the console and each service
//! that calls another sign with their own. Services hold only public keys (`BRIDGE_TRUSTED_KEYS`),
//! each bound to one [`Signer`], and verify with [`JwtKeys`]; a token is accepted only when its
//! claims stay within what its signer may grant. Handlers take a [`Caller`] and ask it for a
//! [`Permission`] and, where the route names a company, for that company. The rules live in one
//! place: [`Permission::granted_to`] (roles) and [`Signer::grants`] / [`Signer::may_sign`]
//! (signers), so they cannot drift between services.

mod caller;
mod role;
mod signer;
mod token;

pub use caller::Caller;
pub use role::{Permission, Role, UnknownRole};
pub use signer::{Signer, UnknownSigner};
pub use token::{
    parse_trusted_keys, AuthError, Claims, JwtKeys, SigningKey, TrustedKey, DEV_MODE_VARIABLE,
    DEV_SECRET_VARIABLE, EXP_LEEWAY_SECS, JWT_SECRET_VARIABLE, MIN_SECRET_BYTES,
    PORTAL_SIGNING_KEY_VARIABLE, SIGNING_KEY_VARIABLE, TRUSTED_KEYS_VARIABLE,
};
