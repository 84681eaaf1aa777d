//! Webhooks as the Standard Webhooks convention defines them: the payload, the `whsec_` secrets
//! and the `webhook-signature` header. No I/O: config-service stores and sends them.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use domain::{BridgeEvent, BridgeEventV1};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The prefix of every secret, so one pasted into the wrong place is recognisable.
pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a secret (the convention asks for 24 to 64).
const SECRET_BYTES: usize = 24;

/// The body of every webhook: what happened (`type`, `data`) and when (`timestamp`, RFC 3339).
/// The payload of one event is the same on every attempt and replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Payload {
    pub timestamp: String,
    #[serde(flatten)]
    pub event: BridgeEvent,
}

impl Payload {
    pub fn of(event: &BridgeEventV1) -> Self {
        Self {
            timestamp: event
                .occurred_at
                .to_rfc3339_opts(SecondsFormat::Millis, true),
            event: event.event.clone(),
        }
    }

    /// The body as sent: compact JSON.
    pub fn to_body(&self) -> String {
        serde_json::to_string(self).expect("a payload is JSON")
    }
}

/// The JSON Schema of [`Payload`], as checked in at `proto/webhooks/webhook.payload.v1.json`:
/// pretty JSON with a final newline.
pub fn payload_schema() -> String {
    let mut schema = schemars::schema_for!(Payload);
    schema.insert("title".into(), "webhook.payload.v1".into());
    schema.insert(
        "description".into(),
        "The body of every webhook of the attendance bridge (Standard Webhooks): `type` names \
         the event, `data` holds its facts, `timestamp` is when it happened. Signed with the \
         `webhook-id`, `webhook-timestamp` and `webhook-signature` headers."
            .into(),
    );
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema is JSON");
    text.push('\n');
    text
}

/// A signing secret: `whsec_` and the base64 of its bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    bytes: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("a webhook secret starts with whsec_")]
    NoPrefix,
    #[error("a webhook secret is whsec_ and base64")]
    NotBase64,
    #[error("a webhook secret holds 24 to 64 bytes")]
    WrongLength,
}

impl Secret {
    /// A fresh secret from the system's random number generator.
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; SECRET_BYTES];
        // A predictable secret would let anyone forge webhooks, so there is no fallback.
        SystemRandom::new()
            .fill(&mut bytes)
            .expect("the system random number generator failed");
        Self { bytes }
    }

    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let encoded = text
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SecretError::NoPrefix)?;
        let bytes = BASE64.decode(encoded).map_err(|_| SecretError::NotBase64)?;
        if !(SECRET_BYTES..=64).contains(&bytes.len()) {
            return Err(SecretError::WrongLength);
        }
        Ok(Self { bytes })
    }

    /// The secret as it is shown once to whoever registers an endpoint, and stored encrypted.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", BASE64.encode(&self.bytes))
    }

    fn sign(&self, id: &str, timestamp: i64, body: &str) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.bytes);
        let tag = hmac::sign(&key, format!("{id}.{timestamp}.{body}").as_bytes());
        format!("v1,{}", BASE64.encode(tag.as_ref()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(••••)")
    }
}

/// The `webhook-signature` header: a signature per secret, separated by spaces.
pub fn signature(secrets: &[Secret], id: &str, timestamp: DateTime<Utc>, body: &str) -> String {
    secrets
        .iter()
        .map(|secret| secret.sign(id, timestamp.timestamp(), body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use domain::{CompanyId, SyncPaused};

    use super::*;

    fn event() -> BridgeEventV1 {
        let at = Utc.with_ymd_and_hms(2026, 12, 5, 9, 30, 0).unwrap();
        BridgeEventV1::new(
            "company.sync_paused:4:2026-12-05T09:30:00Z",
            Some(CompanyId(4)),
            at,
            BridgeEvent::CompanySyncPaused(SyncPaused {
                reason: "Bayzat refused the key".into(),
                since: at,
            }),
        )
    }

    #[test]
    fn the_body_is_type_timestamp_and_data() {
        let body = Payload::of(&event()).to_body();
        assert_eq!(
            body,
            r#"{"timestamp":"2026-12-05T09:30:00.000Z","type":"company.sync_paused","data":{"reason":"Bayzat refused the key","since":"2026-12-05T09:30:00Z"}}"#
        );
        let read: Payload = serde_json::from_str(&body).unwrap();
        assert_eq!(read, Payload::of(&event()));
    }

    #[test]
    fn every_active_secret_signs_and_each_verifies_as_the_convention_does() {
        let old = Secret::generate();
        let new = Secret::generate();
        assert_ne!(old, new);
        let body = Payload::of(&event()).to_body();
        let id = event().event_id.to_string();
        let at = Utc::now();
        let header = signature(&[old.clone(), new.clone()], &id, at, &body);
        assert_eq!(header.split(' ').count(), 2);
        let mut headers = http::HeaderMap::new();
        headers.insert("webhook-id", id.parse().unwrap());
        headers.insert(
            "webhook-timestamp",
            at.timestamp().to_string().parse().unwrap(),
        );
        headers.insert("webhook-signature", header.parse().unwrap());
        for secret in [&old, &new] {
            let verifier = standardwebhooks::Webhook::new(&secret.expose()).unwrap();
            verifier.verify(body.as_bytes(), &headers).unwrap();
        }
        let stranger = standardwebhooks::Webhook::new(&Secret::generate().expose()).unwrap();
        assert!(stranger.verify(body.as_bytes(), &headers).is_err());
        let tampered = body.replace("refused", "accepted");
        let verifier = standardwebhooks::Webhook::new(&old.expose()).unwrap();
        assert!(verifier.verify(tampered.as_bytes(), &headers).is_err());
    }

    #[test]
    fn secrets_read_back_as_written_and_bad_ones_are_named() {
        let secret = Secret::generate();
        assert!(secret.expose().starts_with("whsec_"));
        assert_eq!(Secret::parse(&secret.expose()).unwrap(), secret);
        assert_eq!(Secret::parse("c2VjcmV0"), Err(SecretError::NoPrefix));
        assert_eq!(Secret::parse("whsec_%%%"), Err(SecretError::NotBase64));
        assert_eq!(
            Secret::parse("whsec_c2VjcmV0"),
            Err(SecretError::WrongLength)
        );
        assert!(!format!("{secret:?}").contains(&secret.expose()[6..]));
    }
}
