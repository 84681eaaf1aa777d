//! Encryption of Bayzat API keys at rest.
//!
//! Each company's Bayzat API key is stored encrypted with AES-256-GCM under a master key from
//! `BRIDGE_MASTER_KEYS`. A stored value looks like `v2:<key_id>:<base64(nonce || ciphertext+tag)>`:
//! the key id says which master key sealed it, so master keys can be rotated (the newest seals,
//! every listed key still opens). The version, the key id and the id of the company the key belongs
//! to are authenticated as associated data, so a value can be neither relabelled under another key
//! id nor copied into another company's row: either fails to decrypt.
//!
//! Values of the earlier format `v1` (not bound to a company) are only ever read to move them to
//! `v2` ([`MasterKeys::reencrypt`]); [`MasterKeys::decrypt`] refuses them.
//!
//! Nothing here ever puts key material (master keys, API keys or their ciphertexts) into an error
//! message or a `Debug` output: these end up in logs and HTTP responses.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

/// The environment variable holding the master keys, newest first.
pub const MASTER_KEYS_VARIABLE: &str = "BRIDGE_MASTER_KEYS";

/// The format version written by [`MasterKeys::encrypt`]: bound to a company.
const VERSION: &str = "v2";

/// The earlier format, bound only to its key id; read only to move it to [`VERSION`].
const LEGACY_VERSION: &str = "v1";

/// Length of a master key in bytes (AES-256).
const KEY_LEN: usize = 32;

/// Length of the GCM authentication tag appended to every ciphertext.
const TAG_LEN: usize = 16;

/// Key ids are kept short so a stored value's id can be named in an error without any chance of it
/// being key material or ciphertext that landed in the wrong field.
const MAX_KEY_ID_LEN: usize = 32;

/// What can go wrong parsing master keys or decrypting a stored value. No variant carries key
/// material; [`CryptoError::UnknownKeyId`] carries only a key id, which is not secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// `BRIDGE_MASTER_KEYS` (or the string given to [`MasterKeys::parse`]) cannot be used.
    #[error("invalid master keys: {0}")]
    InvalidMasterKeys(String),
    /// The stored value names a master key id that is not configured.
    #[error(
        "encrypted API key was sealed with master key id `{key_id}`, which is not in \
         BRIDGE_MASTER_KEYS (the master key may have been removed before the value was re-encrypted)"
    )]
    UnknownKeyId { key_id: String },
    /// The stored value is not a well-formed `v2:<key_id>:<data>` value.
    #[error("encrypted API key is malformed: {reason}")]
    Malformed { reason: &'static str },
    /// The stored value is of the `v1` format, which is not bound to its company.
    #[error(
        "encrypted API key is of the old format v1, which is not bound to its company \
         (config-service moves such values to v2 at start; `config-service reencrypt` does too)"
    )]
    Legacy,
    /// The value did not authenticate under the master key its id names.
    #[error("encrypted API key could not be decrypted: wrong master key or tampered value")]
    Authentication,
}

/// A plaintext Bayzat API key. `Debug` and `Display` show it masked (`••••1a2b`); only
/// [`ApiKey::expose`] gives the key itself, so every place that sends it is easy to find.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key itself, for the `Authorization` header and for [`MasterKeys::encrypt`].
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The key as the console and the API show it.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

impl From<String> for ApiKey {
    fn from(key: String) -> Self {
        Self(key)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({})", self.masked())
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// An API key as it may be shown: `••••` and its last four characters, or only `••••` when the key
/// is so short that four characters would be most or all of it.
pub fn mask(api_key: &str) -> String {
    const DOTS: &str = "••••";
    let count = api_key.chars().count();
    if count <= 4 {
        return DOTS.to_owned();
    }
    let tail: String = api_key.chars().skip(count - 4).collect();
    format!("{DOTS}{tail}")
}

/// A new master key for `BRIDGE_MASTER_KEYS`: the base64 of 32 random bytes.
pub fn generate_master_key() -> String {
    let mut bytes = [0u8; KEY_LEN];
    // Without the operating system's random source there is no safe key to hand out.
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random number generator failed");
    BASE64.encode(bytes)
}

struct MasterKey {
    id: String,
    key: LessSafeKey,
}

/// The configured master keys, newest first: the newest encrypts, any of them decrypts.
pub struct MasterKeys {
    keys: Vec<MasterKey>,
    rng: SystemRandom,
}

impl MasterKeys {
    /// Reads `BRIDGE_MASTER_KEYS` from the process environment.
    pub fn from_environment() -> Result<Self, settings::SettingsError> {
        Self::from_env(&settings::Env::process())
    }

    /// Reads `BRIDGE_MASTER_KEYS` from `env`; a problem is reported against the variable, naming
    /// the entry and what is wrong with it, never its value.
    pub fn from_env(env: &settings::Env) -> Result<Self, settings::SettingsError> {
        let raw: settings::Secret = env.required(MASTER_KEYS_VARIABLE)?;
        Self::parse(raw.expose()).map_err(|error| settings::SettingsError {
            variable: MASTER_KEYS_VARIABLE.to_owned(),
            problem: match error {
                CryptoError::InvalidMasterKeys(problem) => problem,
                other => other.to_string(),
            },
        })
    }

    /// Parses `<key_id>:<base64 of 32 bytes>` entries separated by commas, newest first.
    pub fn parse(value: &str) -> Result<Self, CryptoError> {
        let invalid = |problem: String| CryptoError::InvalidMasterKeys(problem);
        if value.trim().is_empty() {
            return Err(invalid(
                "no master keys; expected <key_id>:<base64 of 32 bytes>, newest first".to_owned(),
            ));
        }
        let mut keys: Vec<MasterKey> = Vec::new();
        // Entries are named by position only: echoing an id could echo a key pasted in the wrong
        // order.
        for (index, entry) in value.split(',').enumerate() {
            let n = index + 1;
            let entry = entry.trim();
            if entry.is_empty() {
                return Err(invalid(format!("entry {n} is empty")));
            }
            let Some((id, encoded)) = entry.split_once(':') else {
                return Err(invalid(format!(
                    "entry {n} has no ':'; expected <key_id>:<base64 of 32 bytes>"
                )));
            };
            let id = id.trim();
            if !is_valid_key_id(id) {
                return Err(invalid(format!(
                    "entry {n} has an invalid key id; use 1 to {MAX_KEY_ID_LEN} of A-Z a-z 0-9 _ -"
                )));
            }
            // The decoder's own message names the offending character, so it is not passed on.
            let bytes = BASE64
                .decode(encoded.trim())
                .map_err(|_| invalid(format!("entry {n}: the key is not valid base64")))?;
            if bytes.len() != KEY_LEN {
                return Err(invalid(format!(
                    "entry {n}: the key is {} bytes; a master key must be exactly {KEY_LEN} bytes",
                    bytes.len()
                )));
            }
            if let Some(first) = keys.iter().position(|key| key.id == id) {
                return Err(invalid(format!(
                    "entry {n} repeats the key id of entry {}; key ids must be unique",
                    first + 1
                )));
            }
            let key = UnboundKey::new(&AES_256_GCM, &bytes)
                .map_err(|_| invalid(format!("entry {n}: the key was refused by AES-256-GCM")))?;
            keys.push(MasterKey {
                id: id.to_owned(),
                key: LessSafeKey::new(key),
            });
        }
        Ok(Self {
            keys,
            rng: SystemRandom::new(),
        })
    }

    /// The id of the key that [`MasterKeys::encrypt`] uses.
    pub fn newest_key_id(&self) -> &str {
        &self.newest().id
    }

    /// Every configured key id, newest first.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|key| key.id.as_str())
    }

    /// Encrypts `plaintext`, the key of company `company_id`, under the newest master key with a
    /// fresh random nonce: `v2:<key_id>:<base64(nonce || ciphertext+tag)>`, bound to the company.
    pub fn encrypt(&self, company_id: i64, plaintext: &str) -> String {
        self.seal(&Owner::Company(company_id), plaintext)
    }

    /// Encrypts a signing secret of webhook endpoint `endpoint_id`, bound to that endpoint as a
    /// Bayzat key is bound to its company.
    pub fn encrypt_webhook_secret(&self, endpoint_id: i64, plaintext: &str) -> String {
        self.seal(&Owner::Webhook(endpoint_id), plaintext)
    }

    /// Decrypts a secret [`MasterKeys::encrypt_webhook_secret`] wrote for `endpoint_id`.
    pub fn decrypt_webhook_secret(
        &self,
        endpoint_id: i64,
        stored: &str,
    ) -> Result<ApiKey, CryptoError> {
        let parsed = Stored::parse(stored)?;
        if parsed.version == LEGACY_VERSION {
            return Err(CryptoError::Legacy);
        }
        self.open(&parsed, Some(&Owner::Webhook(endpoint_id)))
    }

    fn seal(&self, owner: &Owner, plaintext: &str) -> String {
        let key = self.newest();
        let mut nonce = [0u8; NONCE_LEN];
        // A repeated or predictable nonce would break GCM, so there is no fallback.
        self.rng
            .fill(&mut nonce)
            .expect("the system random number generator failed");
        let header = header(VERSION, &key.id);
        let aad = associated_data(VERSION, &key.id, Some(owner));
        let mut sealed = plaintext.as_bytes().to_vec();
        key.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad.as_bytes()),
                &mut sealed,
            )
            // Sealing fails only for inputs of tens of gigabytes.
            .expect("AES-256-GCM refused to seal an API key");
        let mut data = Vec::with_capacity(NONCE_LEN + sealed.len());
        data.extend_from_slice(&nonce);
        data.extend_from_slice(&sealed);
        format!("{header}{}", BASE64.encode(data))
    }

    /// Decrypts company `company_id`'s key, written by [`MasterKeys::encrypt`] for that company
    /// under any configured master key. A value written for another company fails to authenticate;
    /// a `v1` value is refused ([`CryptoError::Legacy`]).
    pub fn decrypt(&self, company_id: i64, stored: &str) -> Result<ApiKey, CryptoError> {
        let parsed = Stored::parse(stored)?;
        if parsed.version == LEGACY_VERSION {
            return Err(CryptoError::Legacy);
        }
        self.open(&parsed, Some(&Owner::Company(company_id)))
    }

    /// Whether `stored` is of the old format `v1`, not bound to its company.
    pub fn is_legacy(&self, stored: &str) -> bool {
        matches!(Stored::parse(stored), Ok(parsed) if parsed.version == LEGACY_VERSION)
    }

    /// Whether `stored` should be re-encrypted: anything that is not a well-formed `v2` value under
    /// the newest key, so a re-encryption run also surfaces malformed values.
    pub fn needs_reencryption(&self, stored: &str) -> bool {
        !matches!(Stored::parse(stored),
            Ok(parsed) if parsed.version == VERSION && parsed.key_id == self.newest_key_id())
    }

    /// Decrypts company `company_id`'s stored key and encrypts it again under the newest key, bound
    /// to the company (with a fresh nonce, even when it already was under the newest key). This is
    /// the one place a `v1` value is read: it is taken to belong to the company whose row holds it.
    pub fn reencrypt(&self, company_id: i64, stored: &str) -> Result<String, CryptoError> {
        let parsed = Stored::parse(stored)?;
        let api_key = if parsed.version == LEGACY_VERSION {
            self.open(&parsed, None)?
        } else {
            self.open(&parsed, Some(&Owner::Company(company_id)))?
        };
        Ok(self.encrypt(company_id, api_key.expose()))
    }

    /// Opens a parsed value; `owner` is None only for `v1` values.
    fn open(&self, parsed: &Stored<'_>, owner: Option<&Owner>) -> Result<ApiKey, CryptoError> {
        let key = self
            .keys
            .iter()
            .find(|key| key.id == parsed.key_id)
            .ok_or_else(|| CryptoError::UnknownKeyId {
                key_id: parsed.key_id.to_owned(),
            })?;
        let mut data = BASE64
            .decode(parsed.data)
            .map_err(|_| CryptoError::Malformed {
                reason: "the data is not valid base64",
            })?;
        if data.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::Malformed {
                reason: "the data is too short",
            });
        }
        let mut sealed = data.split_off(NONCE_LEN);
        let nonce =
            Nonce::try_assume_unique_for_key(&data).map_err(|_| CryptoError::Malformed {
                reason: "the nonce has the wrong length",
            })?;
        let aad = associated_data(parsed.version, parsed.key_id, owner);
        let plaintext = key
            .key
            .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut sealed)
            .map_err(|_| CryptoError::Authentication)?;
        let plaintext =
            String::from_utf8(plaintext.to_vec()).map_err(|_| CryptoError::Malformed {
                reason: "the decrypted value is not UTF-8",
            })?;
        Ok(ApiKey(plaintext))
    }

    fn newest(&self) -> &MasterKey {
        // `parse` refuses an empty list, so there is always a newest key.
        &self.keys[0]
    }
}

impl fmt::Debug for MasterKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKeys")
            .field("key_ids", &self.key_ids().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The parts of a stored value, checked for shape only.
struct Stored<'a> {
    version: &'a str,
    key_id: &'a str,
    data: &'a str,
}

impl<'a> Stored<'a> {
    // Reasons never quote the input: a plaintext key stored by mistake would otherwise be echoed.
    fn parse(stored: &'a str) -> Result<Self, CryptoError> {
        let malformed = |reason| CryptoError::Malformed { reason };
        if stored.is_empty() {
            return Err(malformed("the value is empty"));
        }
        let mut parts = stored.splitn(3, ':');
        let (Some(version), Some(key_id), Some(data)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("expected v2:<key_id>:<data>"));
        };
        if version != VERSION && version != LEGACY_VERSION {
            return Err(malformed("unsupported format version (expected v2)"));
        }
        if !is_valid_key_id(key_id) {
            return Err(malformed("the key id is invalid"));
        }
        if data.is_empty() {
            return Err(malformed("the data is empty"));
        }
        Ok(Self {
            version,
            key_id,
            data,
        })
    }
}

/// The prefix of a stored value.
fn header(version: &str, key_id: &str) -> String {
    format!("{version}:{key_id}:")
}

/// Whom a sealed value belongs to: a value sealed for one owner never opens as another's.
enum Owner {
    /// A company's Bayzat key.
    Company(i64),
    /// A webhook endpoint's signing secret.
    Webhook(i64),
}

/// What is authenticated besides the ciphertext: the prefix, and for `v2` the owner of the value
/// (`v1` values authenticated the prefix alone).
fn associated_data(version: &str, key_id: &str, owner: Option<&Owner>) -> String {
    match owner {
        Some(Owner::Company(company_id)) => format!("{version}:{key_id}:company={company_id}"),
        Some(Owner::Webhook(endpoint_id)) => format!("{version}:{key_id}:webhook={endpoint_id}"),
        None => header(version, key_id),
    }
}

fn is_valid_key_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_KEY_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const API_KEY: &str = "bz_live_5f3c9e7a1d2b4c6e8f0a1a2b";

    /// The company the keys in these tests belong to.
    const C: i64 = 7;

    /// A recognisable, non-repeating 32-byte key so leaks of any part of it can be searched for.
    fn key_bytes(seed: u8) -> Vec<u8> {
        (0..KEY_LEN as u8)
            .map(|i| i.wrapping_mul(7).wrapping_add(seed))
            .collect()
    }

    fn b64(seed: u8) -> String {
        BASE64.encode(key_bytes(seed))
    }

    fn keys(spec: &[(&str, u8)]) -> MasterKeys {
        let value = spec
            .iter()
            .map(|(id, seed)| format!("{id}:{}", b64(*seed)))
            .collect::<Vec<_>>()
            .join(",");
        MasterKeys::parse(&value).unwrap()
    }

    /// Whether any six consecutive characters of `secret` appear in `text`.
    fn leaks(text: &str, secret: &str) -> bool {
        let chars: Vec<char> = secret.chars().collect();
        chars
            .windows(6)
            .any(|w| text.contains(&w.iter().collect::<String>()))
    }

    /// A value in the old `v1` format, as earlier versions wrote it (bound only to its key id).
    fn legacy_encrypt(master: &MasterKeys, plaintext: &str) -> String {
        let key = master.newest();
        let header = header(LEGACY_VERSION, &key.id);
        let mut sealed = plaintext.as_bytes().to_vec();
        let nonce = [3u8; NONCE_LEN];
        key.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(header.as_bytes()),
                &mut sealed,
            )
            .unwrap();
        format!(
            "{header}{}",
            BASE64.encode([nonce.to_vec(), sealed].concat())
        )
    }

    #[test]
    fn a_value_opens_only_for_the_company_it_was_sealed_for() {
        let master = keys(&[("k1", 1)]);
        let for_a = master.encrypt(1, API_KEY);
        assert_eq!(master.decrypt(1, &for_a).unwrap().expose(), API_KEY);
        // Copied into company 2's row: it does not authenticate, and no key comes out.
        assert_eq!(
            master.decrypt(2, &for_a).unwrap_err(),
            CryptoError::Authentication
        );
        assert_eq!(
            master.reencrypt(2, &for_a).unwrap_err(),
            CryptoError::Authentication
        );
        assert_eq!(
            master.decrypt(-1, &for_a).unwrap_err(),
            CryptoError::Authentication
        );
    }

    #[test]
    fn legacy_values_are_refused_by_decrypt_and_moved_by_reencrypt() {
        let master = keys(&[("k1", 1)]);
        let legacy = legacy_encrypt(&master, API_KEY);
        assert!(legacy.starts_with("v1:k1:"));
        assert!(master.is_legacy(&legacy));
        assert!(!master.is_legacy(&master.encrypt(C, API_KEY)));
        assert_eq!(master.decrypt(C, &legacy).unwrap_err(), CryptoError::Legacy);
        let moved = master.reencrypt(C, &legacy).unwrap();
        assert!(moved.starts_with("v2:k1:"));
        assert!(!master.needs_reencryption(&moved));
        assert_eq!(master.decrypt(C, &moved).unwrap().expose(), API_KEY);
        assert!(master.decrypt(C + 1, &moved).is_err());
        // A legacy value whose prefix was rewritten to v2 does not open either.
        let relabelled = replace_part(&legacy, 0, "v2");
        assert_eq!(
            master.decrypt(C, &relabelled).unwrap_err(),
            CryptoError::Authentication
        );
        assert!(!leaks(&CryptoError::Legacy.to_string(), API_KEY));
    }

    fn replace_part(stored: &str, index: usize, value: &str) -> String {
        let mut parts: Vec<String> = stored.splitn(3, ':').map(str::to_owned).collect();
        parts[index] = value.to_owned();
        parts.join(":")
    }

    #[test]
    fn round_trip() {
        let master = keys(&[("k1", 1)]);
        let stored = master.encrypt(C, API_KEY);
        assert!(stored.starts_with("v2:k1:"));
        assert_eq!(master.decrypt(C, &stored).unwrap().expose(), API_KEY);
        for plaintext in ["", "x", "مفتاح-٣٤٥", &"a".repeat(4096)] {
            let stored = master.encrypt(C, plaintext);
            assert_eq!(master.decrypt(C, &stored).unwrap().expose(), plaintext);
        }
    }

    #[test]
    fn same_plaintext_encrypts_differently_each_time() {
        let master = keys(&[("k1", 1)]);
        let a = master.encrypt(C, API_KEY);
        let b = master.encrypt(C, API_KEY);
        assert_ne!(a, b);
        let data = |s: &str| BASE64.decode(s.splitn(3, ':').nth(2).unwrap()).unwrap();
        assert_ne!(data(&a)[..NONCE_LEN], data(&b)[..NONCE_LEN]);
    }

    #[test]
    fn ciphertext_does_not_contain_the_plaintext() {
        let master = keys(&[("k1", 1)]);
        let stored = master.encrypt(C, API_KEY);
        assert!(!leaks(&stored, API_KEY));
        assert!(!leaks(&stored, &BASE64.encode(API_KEY)));
        let raw = BASE64
            .decode(stored.splitn(3, ':').nth(2).unwrap())
            .unwrap();
        assert!(!raw
            .windows(6)
            .any(|w| API_KEY.as_bytes().windows(6).any(|p| p == w)));
    }

    #[test]
    fn rotation_keeps_old_values_readable_until_reencrypted() {
        let old_only = keys(&[("old", 1)]);
        let stored = old_only.encrypt(C, API_KEY);

        let rotated = keys(&[("new", 2), ("old", 1)]);
        assert_eq!(rotated.newest_key_id(), "new");
        assert_eq!(rotated.decrypt(C, &stored).unwrap().expose(), API_KEY);
        assert!(rotated.needs_reencryption(&stored));

        let moved = rotated.reencrypt(C, &stored).unwrap();
        assert!(moved.starts_with("v2:new:"));
        assert!(!rotated.needs_reencryption(&moved));

        let new_only = keys(&[("new", 2)]);
        assert_eq!(new_only.decrypt(C, &moved).unwrap().expose(), API_KEY);
        assert_eq!(
            new_only.decrypt(C, &stored).unwrap_err(),
            CryptoError::UnknownKeyId {
                key_id: "old".to_owned()
            }
        );
    }

    #[test]
    fn needs_reencryption_for_malformed_values_too() {
        let master = keys(&[("k1", 1)]);
        assert!(master.needs_reencryption(""));
        assert!(master.needs_reencryption("plaintext-key"));
        assert!(master.needs_reencryption("v3:k1:AAAA"));
        assert!(master.needs_reencryption(&legacy_encrypt(&master, API_KEY)));
        assert!(!master.needs_reencryption(&master.encrypt(C, API_KEY)));
    }

    #[test]
    fn wrong_master_key_is_an_authentication_error() {
        let stored = keys(&[("k1", 1)]).encrypt(C, API_KEY);
        let other = keys(&[("k1", 2)]);
        assert_eq!(
            other.decrypt(C, &stored).unwrap_err(),
            CryptoError::Authentication
        );
        assert!(other
            .decrypt(C, &stored)
            .unwrap_err()
            .to_string()
            .contains("wrong master key or tampered value"));
        assert_eq!(
            other.reencrypt(C, &stored).unwrap_err(),
            CryptoError::Authentication
        );
    }

    #[test]
    fn unknown_key_id_is_named() {
        let stored = keys(&[("gone", 1)]).encrypt(C, API_KEY);
        let err = keys(&[("k1", 1)]).decrypt(C, &stored).unwrap_err();
        assert_eq!(
            err,
            CryptoError::UnknownKeyId {
                key_id: "gone".to_owned()
            }
        );
        let message = err.to_string();
        assert!(message.contains("`gone`"), "{message}");
        assert!(message.contains("removed"), "{message}");
    }

    #[test]
    fn malformed_values_are_refused_without_echoing_them() {
        let master = keys(&[("k1", 1)]);
        let good = master.encrypt(C, API_KEY);
        let short = BASE64.encode([0u8; NONCE_LEN + TAG_LEN - 1]);
        let table: Vec<(String, &str)> = vec![
            (String::new(), "empty"),
            (API_KEY.to_owned(), "expected v2"),
            ("v2".to_owned(), "expected v2"),
            ("v2:k1".to_owned(), "expected v2"),
            ("v2:k1:".to_owned(), "data is empty"),
            ("v2::AAAA".to_owned(), "key id"),
            (replace_part(&good, 0, "v3"), "version"),
            (replace_part(&good, 0, "V1"), "version"),
            (replace_part(&good, 1, "k 1"), "key id"),
            (replace_part(&good, 1, &"k".repeat(33)), "key id"),
            (replace_part(&good, 2, "zz*zz!zz"), "base64"),
            (format!("{}!", good), "base64"),
            (format!("v2:k1:{short}"), "too short"),
        ];
        for (input, expected) in table {
            let err = master.decrypt(C, &input).unwrap_err();
            let message = err.to_string();
            assert!(
                matches!(err, CryptoError::Malformed { .. }),
                "{input:?}: {err:?}"
            );
            assert!(message.contains(expected), "{input:?}: {message}");
            assert!(!leaks(&message, API_KEY), "{message}");
            if input.len() >= 6 {
                assert!(!leaks(&message, &input), "{input:?}: {message}");
            }
        }
    }

    #[test]
    fn master_key_parse_errors_name_the_entry_and_never_the_key() {
        let good = b64(1);
        let b16 = BASE64.encode(&key_bytes(3)[..16]);
        let b31 = BASE64.encode(&key_bytes(3)[..31]);
        let b33 = BASE64.encode([key_bytes(3), vec![9]].concat());
        let table: Vec<(String, &str)> = vec![
            (String::new(), "no master keys"),
            ("   ".to_owned(), "no master keys"),
            (good.clone(), "entry 1 has no ':'"),
            (format!("k1:{good},{b31}"), "entry 2 has no ':'"),
            (format!("k1:{good},"), "entry 2 is empty"),
            (format!("k1:{good},,k2:{b31}"), "entry 2 is empty"),
            (
                format!("k1:{}*", &good[..40]),
                "entry 1: the key is not valid base64",
            ),
            ("k1:".to_owned(), "entry 1: the key is 0 bytes"),
            (format!("k1:{b16}"), "entry 1: the key is 16 bytes"),
            (format!("k1:{b31}"), "entry 1: the key is 31 bytes"),
            (
                format!("k1:{good},k2:{b33}"),
                "entry 2: the key is 33 bytes",
            ),
            (
                format!("k1:{good},k2:{},k1:{}", b64(2), b64(3)),
                "entry 3 repeats the key id of entry 1",
            ),
            (format!(":{good}"), "entry 1 has an invalid key id"),
            (format!("k 1:{good}"), "entry 1 has an invalid key id"),
            (format!("k.1:{good}"), "entry 1 has an invalid key id"),
            (
                format!("{}:{good}", "k".repeat(33)),
                "entry 1 has an invalid key id",
            ),
            (format!("{good}:k1"), "entry 1 has an invalid key id"),
        ];
        let secrets = [good.clone(), b16, b31, b33, b64(2), b64(3)];
        for (input, expected) in table {
            let Err(err) = MasterKeys::parse(&input) else {
                panic!("{input:?} was accepted");
            };
            let message = err.to_string();
            assert!(message.contains(expected), "{input:?}: {message}");
            for secret in &secrets {
                assert!(!leaks(&message, secret), "{message}");
            }
            let debug = format!("{err:?}");
            for secret in &secrets {
                assert!(!leaks(&debug, secret), "{debug}");
            }
        }
    }

    #[test]
    fn master_keys_accept_spaces_around_entries() {
        let value = format!(" new : {} , old:{} ", b64(2), b64(1));
        let master = MasterKeys::parse(&value).unwrap();
        assert_eq!(master.key_ids().collect::<Vec<_>>(), ["new", "old"]);
    }

    #[test]
    fn from_env_reports_against_the_variable() {
        let env = |value: &str| settings::Env::from_pairs([(MASTER_KEYS_VARIABLE, value)]);

        let master = MasterKeys::from_env(&env(&format!("k1:{}", b64(1)))).unwrap();
        assert_eq!(master.newest_key_id(), "k1");

        let missing = MasterKeys::from_env(&settings::Env::from_pairs::<&str, &str>([]));
        assert_eq!(missing.unwrap_err().variable, MASTER_KEYS_VARIABLE);

        let b16 = BASE64.encode(&key_bytes(1)[..16]);
        let err = MasterKeys::from_env(&env(&format!("k1:{b16}"))).unwrap_err();
        assert_eq!(err.variable, MASTER_KEYS_VARIABLE);
        let line = err.to_string();
        assert!(line.contains("entry 1: the key is 16 bytes"), "{line}");
        assert!(!leaks(&line, &b16), "{line}");
    }

    #[test]
    fn tampering_with_any_byte_is_detected() {
        let master = keys(&[("k1", 1)]);
        let stored = master.encrypt(C, API_KEY);
        let prefix = header(VERSION, "k1");
        let data = BASE64.decode(&stored[prefix.len()..]).unwrap();
        for i in 0..data.len() {
            for flip in [0x01u8, 0x80] {
                let mut tampered = data.clone();
                tampered[i] ^= flip;
                let value = format!("{prefix}{}", BASE64.encode(&tampered));
                assert_eq!(
                    master.decrypt(C, &value).unwrap_err(),
                    CryptoError::Authentication,
                    "byte {i}"
                );
            }
        }
        let truncated = format!("{prefix}{}", BASE64.encode(&data[..data.len() - 1]));
        assert!(master.decrypt(C, &truncated).is_err());
        let extended = format!(
            "{prefix}{}",
            BASE64.encode([data.clone(), vec![0]].concat())
        );
        assert!(master.decrypt(C, &extended).is_err());
    }

    #[test]
    fn moving_a_value_under_another_key_id_is_detected() {
        // Both ids hold the same bytes, so only the associated data tells them apart.
        let master = keys(&[("a", 1), ("b", 1)]);
        let stored = master.encrypt(C, API_KEY);
        assert!(stored.starts_with("v2:a:"));
        let relabelled = replace_part(&stored, 1, "b");
        assert_eq!(
            master.decrypt(C, &relabelled).unwrap_err(),
            CryptoError::Authentication
        );
    }

    #[test]
    fn mask_shows_only_the_last_four_characters() {
        let table = [
            ("", "••••"),
            ("a", "••••"),
            ("1a2b", "••••"),
            ("x1a2b", "••••1a2b"),
            (API_KEY, "••••1a2b"),
            ("مفتاح-٣٤٥٦", "••••٣٤٥٦"),
        ];
        for (input, expected) in table {
            assert_eq!(mask(input), expected, "{input:?}");
        }
    }

    #[test]
    fn debug_and_display_never_show_keys() {
        let api_key = ApiKey::new(API_KEY);
        assert_eq!(api_key.expose(), API_KEY);
        assert_eq!(api_key.to_string(), "••••1a2b");
        assert_eq!(format!("{api_key:?}"), "ApiKey(••••1a2b)");
        assert_eq!(format!("{:?}", ApiKey::new("abc")), "ApiKey(••••)");

        let master = keys(&[("new", 2), ("old", 1)]);
        let debug = format!("{master:?}");
        assert!(debug.contains("new") && debug.contains("old"), "{debug}");
        for seed in [1, 2] {
            assert!(!leaks(&debug, &b64(seed)), "{debug}");
        }
        let alternate = format!("{master:#?}");
        assert!(!leaks(&alternate, &b64(1)) && !leaks(&alternate, &b64(2)));

        let decrypted = master.decrypt(C, &master.encrypt(C, API_KEY)).unwrap();
        assert!(!leaks(&format!("{decrypted:?} {decrypted}"), API_KEY));
    }

    #[test]
    fn generated_master_keys_are_usable_and_distinct() {
        let a = generate_master_key();
        let b = generate_master_key();
        assert_ne!(a, b);
        assert_eq!(BASE64.decode(&a).unwrap().len(), KEY_LEN);
        let master = MasterKeys::parse(&format!("k1:{a}")).unwrap();
        assert_eq!(
            master
                .decrypt(C, &master.encrypt(C, API_KEY))
                .unwrap()
                .expose(),
            API_KEY
        );
    }

    #[test]
    fn a_webhook_secret_opens_for_its_endpoint_only_and_never_as_a_companys_key() {
        let master = keys(&[("k1", 1)]);
        let stored = master.encrypt_webhook_secret(C, "whsec_c2VjcmV0");
        assert_eq!(
            master.decrypt_webhook_secret(C, &stored).unwrap().expose(),
            "whsec_c2VjcmV0"
        );
        assert!(!stored.contains("whsec"));
        assert!(matches!(
            master.decrypt_webhook_secret(C + 1, &stored),
            Err(CryptoError::Authentication)
        ));
        assert!(matches!(
            master.decrypt(C, &stored),
            Err(CryptoError::Authentication)
        ));
        assert!(matches!(
            master.decrypt_webhook_secret(C, &master.encrypt(C, API_KEY)),
            Err(CryptoError::Authentication)
        ));
    }
}
