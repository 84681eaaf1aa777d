use std::fmt;
use std::str::FromStr;

use crate::{Claims, Permission, Role};

/// Who holds a signing key, and so what the tokens it signs may claim.
///
/// Every trusted verification key is bound to one signer (`BRIDGE_TRUSTED_KEYS` entries are
/// `kid:signer:public-key`). A token is accepted only if its claims stay within what its signer
/// may grant ([`Signer::may_sign`]), and a caller may only do what both its role and its signer
/// allow ([`Signer::grants`]). So no one key lets its holder act as anybody else: the console
/// cannot make a `service` token, and one service's credential does not open another's routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signer {
    /// The IT portal: people's tokens (viewer, operator, admin), including the console's
    /// one-minute login tokens (audience `console`). Never `service`.
    Portal,
    /// The console, acting for its signed-in users: person roles only, no audience.
    Console,
    /// sync-service's own credential: role `service`, `sub` `sync-service`; reads the directory
    /// snapshot and companies' decrypted Bayzat keys.
    SyncService,
    /// import-service's own credential: role `service`, `sub` `import-service`; reads the
    /// directory snapshot.
    ImportService,
    /// config-service's own credential: role `service`, `sub` `config-service`; it calls no
    /// other service, so it is granted nothing.
    ConfigService,
    /// The shared HS256 development secret (`BRIDGE_JWT_DEV_SECRET`, refused unless
    /// `BRIDGE_JWT_DEV_MODE=on`): anyone holding it can sign anything, as before keys existed.
    Development,
}

/// A signer name in `BRIDGE_TRUSTED_KEYS` that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown signer (expected portal, console, sync-service, import-service or config-service)"
)]
pub struct UnknownSigner;

impl Signer {
    /// The signers a trusted key may be bound to (`development` is never a key's signer).
    pub const KEYED: [Signer; 5] = [
        Signer::Portal,
        Signer::Console,
        Signer::SyncService,
        Signer::ImportService,
        Signer::ConfigService,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Signer::Portal => "portal",
            Signer::Console => "console",
            Signer::SyncService => "sync-service",
            Signer::ImportService => "import-service",
            Signer::ConfigService => "config-service",
            Signer::Development => "development",
        }
    }

    /// The service a credential names, or None for the portal, the console and development.
    pub fn service_name(self) -> Option<&'static str> {
        match self {
            Signer::SyncService | Signer::ImportService | Signer::ConfigService => {
                Some(self.as_str())
            }
            Signer::Portal | Signer::Console | Signer::Development => None,
        }
    }

    /// Whether a token with `claims` may be signed by this signer; the reason when not.
    pub fn may_sign(self, claims: &Claims) -> Result<(), &'static str> {
        match self {
            Signer::Development => Ok(()),
            Signer::Portal => match claims.role {
                Role::Service => Err("the portal's keys do not sign service tokens"),
                _ => Ok(()),
            },
            Signer::Console => {
                if claims.role == Role::Service {
                    Err("the console's key does not sign service tokens")
                } else if claims.aud.is_some() {
                    Err("the console's key does not sign tokens for an audience")
                } else {
                    Ok(())
                }
            }
            Signer::SyncService | Signer::ImportService | Signer::ConfigService => {
                if claims.role != Role::Service {
                    Err("a service's key signs only its own service tokens")
                } else if Some(claims.sub.as_str()) != self.service_name() {
                    Err("a service's key signs only tokens naming that service")
                } else if claims.aud.is_some() {
                    Err("a service's key does not sign tokens for an audience")
                } else {
                    Ok(())
                }
            }
        }
    }

    /// The second half of the security table: what a token from this signer may be used for.
    /// People's tokens (portal, console) are limited by their role alone; each service's
    /// credential only opens the routes that service needs.
    pub fn grants(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Signer::Portal | Signer::Console | Signer::Development => true,
            Signer::SyncService => matches!(permission, ReadDecryptedKey | ReadDirectorySnapshot),
            Signer::ImportService => matches!(permission, ReadDirectorySnapshot),
            Signer::ConfigService => false,
        }
    }

    /// The signer a caller built from bare claims is taken to have: the service a `service`
    /// token names, otherwise the portal.
    pub fn implied_by(claims: &Claims) -> Signer {
        match claims.role {
            Role::Service => Signer::KEYED
                .into_iter()
                .find(|s| s.service_name() == Some(claims.sub.as_str()))
                .unwrap_or(Signer::ConfigService),
            _ => Signer::Portal,
        }
    }
}

impl fmt::Display for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Signer {
    type Err = UnknownSigner;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Signer::KEYED
            .into_iter()
            .find(|signer| signer.as_str() == s.trim())
            .ok_or(UnknownSigner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use Permission::*;

    fn claims(sub: &str, role: Role) -> Claims {
        Claims::new(sub, role, Duration::minutes(5))
    }

    #[test]
    fn what_each_signer_may_sign() {
        let person = claims("jane", Role::Admin);
        let login = person.clone().with_audience("console");
        let sync = claims("sync-service", Role::Service);
        let import = claims("import-service", Role::Service);
        let anonymous_service = claims("someone", Role::Service);
        let table = [
            (Signer::Portal, &person, true),
            (Signer::Portal, &login, true),
            (Signer::Portal, &sync, false),
            (Signer::Console, &person, true),
            (Signer::Console, &login, false),
            (Signer::Console, &sync, false),
            (Signer::SyncService, &sync, true),
            (Signer::SyncService, &import, false),
            (Signer::SyncService, &person, false),
            (Signer::ImportService, &import, true),
            (Signer::ImportService, &sync, false),
            (Signer::ConfigService, &sync, false),
            (Signer::ConfigService, &anonymous_service, false),
            (Signer::Development, &anonymous_service, true),
        ];
        for (signer, claims, expected) in table {
            assert_eq!(
                signer.may_sign(claims).is_ok(),
                expected,
                "{signer} / {} {}",
                claims.sub,
                claims.role
            );
        }
    }

    #[test]
    fn service_credentials_open_only_what_their_service_needs() {
        let table = [
            (Signer::SyncService, ReadDecryptedKey, true),
            (Signer::SyncService, ReadDirectorySnapshot, true),
            (Signer::ImportService, ReadDecryptedKey, false),
            (Signer::ImportService, ReadDirectorySnapshot, true),
            (Signer::ConfigService, ReadDecryptedKey, false),
            (Signer::ConfigService, ReadDirectorySnapshot, false),
            (Signer::Console, ReadDecryptedKey, true),
            (Signer::Portal, ManageCompanies, true),
        ];
        for (signer, permission, expected) in table {
            assert_eq!(
                signer.grants(permission),
                expected,
                "{signer} / {permission}"
            );
        }
        for permission in Permission::ALL {
            for signer in [Signer::SyncService, Signer::ImportService] {
                if signer.grants(permission) {
                    assert!(Role::Service.allows(permission), "{signer} / {permission}");
                }
            }
        }
    }

    #[test]
    fn signer_names_parse_back_and_development_is_not_a_key_signer() {
        for signer in Signer::KEYED {
            assert_eq!(signer.as_str().parse::<Signer>().unwrap(), signer);
        }
        assert!("development".parse::<Signer>().is_err());
        assert!("Portal".parse::<Signer>().is_err());
    }
}
