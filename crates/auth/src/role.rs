use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Who the token speaks for.
///
/// The three human roles are cumulative (an operator can do everything a viewer can, an admin
/// everything an operator can). `Service` is the identity one bridge service uses to call another
/// and is deliberately *not* on that ladder: it reads the directory snapshot and one company's
/// decrypted key, and nothing a viewer can. For that reason `Role` has no `Ord`: a total order
/// would have to place `Service` above or below the humans, and either reading would be wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Operator,
    Admin,
    Service,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Operator, Role::Admin, Role::Service];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
            Role::Service => "service",
        }
    }

    /// Whether this role may perform `permission`; the answer comes from [`Permission::granted_to`].
    pub fn allows(self, permission: Permission) -> bool {
        permission.granted_to().contains(&self)
    }

    /// Whether this role has every right `other` has.
    pub fn includes(self, other: Role) -> bool {
        Permission::ALL
            .iter()
            .all(|&p| !other.allows(p) || self.allows(p))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The role named in a `mint-token --role ...` argument or similar was not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role (expected viewer, operator, admin or service)")]
pub struct UnknownRole;

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or(UnknownRole)
    }
}

/// One action of the security table (docs/architecture.md#security). Handlers name the action they perform and the
/// table decides; no handler compares roles itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Imports and their rows.
    ReadImports,
    /// Batches, deliveries and sync health.
    ReadSyncData,
    ReadCompanies,
    ReadDirectory,
    /// Company configuration with the Bayzat key masked.
    ReadMaskedConfig,
    UploadImports,
    /// Reprocess, release and cancel an import.
    ManageImports,
    /// Add or remove fingerprint report names.
    ManageReportNames,
    ManageEmployees,
    RetryBatches,
    SyncNow,
    /// Create and update companies.
    ManageCompanies,
    /// Bayzat configuration and keys (writing them; the decrypted key is never shown to people).
    ManageBayzatConfig,
    TestConnection,
    ReadAudit,
    /// The whole employee directory feed that sync-service consumes.
    ReadDirectorySnapshot,
    /// One company's decrypted Bayzat key, for the service that delivers to Bayzat.
    ReadDecryptedKey,
    /// Webhook endpoints: register, change, remove, read their delivery log, replay.
    ManageWebhooks,
}

const HUMANS: &[Role] = &[Role::Viewer, Role::Operator, Role::Admin];
const OPERATORS: &[Role] = &[Role::Operator, Role::Admin];
const ADMINS: &[Role] = &[Role::Admin];
const SERVICES: &[Role] = &[Role::Service];

impl Permission {
    pub const ALL: [Permission; 18] = [
        Permission::ReadImports,
        Permission::ReadSyncData,
        Permission::ReadCompanies,
        Permission::ReadDirectory,
        Permission::ReadMaskedConfig,
        Permission::UploadImports,
        Permission::ManageImports,
        Permission::ManageReportNames,
        Permission::ManageEmployees,
        Permission::RetryBatches,
        Permission::SyncNow,
        Permission::ManageCompanies,
        Permission::ManageBayzatConfig,
        Permission::TestConnection,
        Permission::ReadAudit,
        Permission::ReadDirectorySnapshot,
        Permission::ReadDecryptedKey,
        Permission::ManageWebhooks,
    ];

    /// The security table: the roles that may perform this action.
    pub fn granted_to(self) -> &'static [Role] {
        use Permission::*;
        match self {
            ReadImports | ReadSyncData | ReadCompanies | ReadDirectory | ReadMaskedConfig => HUMANS,
            UploadImports | ManageImports | ManageReportNames | ManageEmployees | RetryBatches
            | SyncNow => OPERATORS,
            ManageCompanies | ManageBayzatConfig | TestConnection | ReadAudit | ManageWebhooks => {
                ADMINS
            }
            ReadDirectorySnapshot | ReadDecryptedKey => SERVICES,
        }
    }

    /// The stable snake_case name used in problem details and logs.
    pub fn as_str(self) -> &'static str {
        use Permission::*;
        match self {
            ReadImports => "read_imports",
            ReadSyncData => "read_sync_data",
            ReadCompanies => "read_companies",
            ReadDirectory => "read_directory",
            ReadMaskedConfig => "read_masked_config",
            UploadImports => "upload_imports",
            ManageImports => "manage_imports",
            ManageReportNames => "manage_report_names",
            ManageEmployees => "manage_employees",
            RetryBatches => "retry_batches",
            SyncNow => "sync_now",
            ManageCompanies => "manage_companies",
            ManageBayzatConfig => "manage_bayzat_config",
            TestConnection => "test_connection",
            ReadAudit => "read_audit",
            ReadDirectorySnapshot => "read_directory_snapshot",
            ReadDecryptedKey => "read_decrypted_key",
            ManageWebhooks => "manage_webhooks",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Permission::*;

    /// The table of docs/architecture.md#security written out independently of `granted_to`, one column per role:
    /// (permission, viewer, operator, admin, service).
    const EXPECTED: [(Permission, bool, bool, bool, bool); 18] = [
        (ReadImports, true, true, true, false),
        (ReadSyncData, true, true, true, false),
        (ReadCompanies, true, true, true, false),
        (ReadDirectory, true, true, true, false),
        (ReadMaskedConfig, true, true, true, false),
        (UploadImports, false, true, true, false),
        (ManageImports, false, true, true, false),
        (ManageReportNames, false, true, true, false),
        (ManageEmployees, false, true, true, false),
        (RetryBatches, false, true, true, false),
        (SyncNow, false, true, true, false),
        (ManageCompanies, false, false, true, false),
        (ManageBayzatConfig, false, false, true, false),
        (TestConnection, false, false, true, false),
        (ReadAudit, false, false, true, false),
        (ReadDirectorySnapshot, false, false, false, true),
        (ReadDecryptedKey, false, false, false, true),
        (ManageWebhooks, false, false, true, false),
    ];

    #[test]
    fn every_role_and_permission_pair_matches_the_security_table() {
        assert_eq!(EXPECTED.len(), Permission::ALL.len());
        for (permission, viewer, operator, admin, service) in EXPECTED {
            for (role, expected) in [
                (Role::Viewer, viewer),
                (Role::Operator, operator),
                (Role::Admin, admin),
                (Role::Service, service),
            ] {
                assert_eq!(role.allows(permission), expected, "{role} / {permission}");
            }
        }
    }

    #[test]
    fn the_expected_table_names_every_permission_once() {
        for permission in Permission::ALL {
            let rows = EXPECTED.iter().filter(|row| row.0 == permission).count();
            assert_eq!(rows, 1, "{permission}");
        }
    }

    #[test]
    fn human_roles_are_cumulative_and_service_stands_apart() {
        let table = [
            (Role::Operator, Role::Viewer, true),
            (Role::Admin, Role::Operator, true),
            (Role::Admin, Role::Viewer, true),
            (Role::Viewer, Role::Operator, false),
            (Role::Operator, Role::Admin, false),
            (Role::Service, Role::Viewer, false),
            (Role::Admin, Role::Service, false),
            (Role::Viewer, Role::Service, false),
        ];
        for (role, other, expected) in table {
            assert_eq!(role.includes(other), expected, "{role} includes {other}");
        }
        for role in Role::ALL {
            assert!(role.includes(role));
        }
    }

    #[test]
    fn every_permission_is_granted_to_someone() {
        for permission in Permission::ALL {
            assert!(!permission.granted_to().is_empty(), "{permission}");
        }
    }

    #[test]
    fn roles_serialize_lowercase_and_parse_back() {
        for role in Role::ALL {
            let json = serde_json::to_string(&role).unwrap();
            assert_eq!(json, format!("\"{}\"", role.as_str()));
            assert_eq!(serde_json::from_str::<Role>(&json).unwrap(), role);
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert_eq!(" Admin ".parse::<Role>().unwrap(), Role::Admin);
        assert!("root".parse::<Role>().is_err());
        assert!(serde_json::from_str::<Role>("\"Admin\"").is_err());
    }

    #[test]
    fn permission_names_match_their_serde_form() {
        for permission in Permission::ALL {
            let json = serde_json::to_string(&permission).unwrap();
            assert_eq!(json, format!("\"{}\"", permission.as_str()));
        }
    }
}
