//! Signing keys for tests: one Ed25519 key per signer, generated once per test process, and the
//! settings that make services trust them.

use std::sync::OnceLock;

use auth::{JwtKeys, Signer, SigningKey, TrustedKey};

/// One key per signer, as a deployment has them.
pub struct TestKeys {
    pub portal: SigningKey,
    pub console: SigningKey,
    pub sync: SigningKey,
    pub import: SigningKey,
    pub config: SigningKey,
}

/// This process's test keys.
pub fn test_keys() -> &'static TestKeys {
    static KEYS: OnceLock<TestKeys> = OnceLock::new();
    KEYS.get_or_init(|| TestKeys {
        portal: SigningKey::generate("test-portal-1", Signer::Portal),
        console: SigningKey::generate("test-console-1", Signer::Console),
        sync: SigningKey::generate("test-sync-1", Signer::SyncService),
        import: SigningKey::generate("test-import-1", Signer::ImportService),
        config: SigningKey::generate("test-config-1", Signer::ConfigService),
    })
}

impl TestKeys {
    /// The keys in the order a harness keyring tries them: people's tokens from the portal.
    fn all(&self) -> [&SigningKey; 5] {
        [
            &self.portal,
            &self.sync,
            &self.import,
            &self.config,
            &self.console,
        ]
    }

    /// The key of `signer` (development has none: the portal's is returned).
    pub fn key(&self, signer: Signer) -> &SigningKey {
        match signer {
            Signer::Console => &self.console,
            Signer::SyncService => &self.sync,
            Signer::ImportService => &self.import,
            Signer::ConfigService => &self.config,
            Signer::Portal | Signer::Development => &self.portal,
        }
    }

    pub fn trusted(&self) -> Vec<TrustedKey> {
        self.all().iter().map(|key| key.trusted()).collect()
    }

    /// `BRIDGE_TRUSTED_KEYS` for services under test: every test key.
    pub fn trusted_setting(&self) -> String {
        self.trusted()
            .iter()
            .map(TrustedKey::to_setting)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A verifier trusting every test key, with nothing to sign with.
    pub fn verifier(&self) -> JwtKeys {
        JwtKeys::trusting(self.trusted())
    }

    /// What `signer` holds in a deployment: every public key and its own private key.
    pub fn for_signer(&self, signer: Signer) -> JwtKeys {
        self.verifier().with_signing_key(self.key(signer).clone())
    }

    /// A test's keyring: trusts every test key and signs each token with the key that may sign
    /// it (people's tokens with the portal's, `service` tokens with the named service's).
    pub fn keyring(&self) -> JwtKeys {
        self.all().into_iter().fold(self.verifier(), |keys, key| {
            keys.with_signing_key(key.clone())
        })
    }

    /// Environment variables for a service binary signing as `signer` (None: verifying only).
    pub fn env(&self, signer: Option<Signer>) -> Vec<(String, String)> {
        let mut env = vec![(
            auth::TRUSTED_KEYS_VARIABLE.to_owned(),
            self.trusted_setting(),
        )];
        if let Some(signer) = signer {
            env.push((
                auth::SIGNING_KEY_VARIABLE.to_owned(),
                self.key(signer).to_setting(),
            ));
        }
        env
    }

    /// `BRIDGE_PORTAL_SIGNING_KEY` for the token-minting commands.
    pub fn portal_env(&self) -> (String, String) {
        (
            auth::PORTAL_SIGNING_KEY_VARIABLE.to_owned(),
            self.portal.to_setting(),
        )
    }
}
