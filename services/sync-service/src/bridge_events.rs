//! The `bridge.event.v1` events sync-service publishes for people to hear about (a company's
//! sync paused, punches whose retries ran out, a batch settled), built from what the store
//! reported. Pure: the callers write them to the outbox in the transaction of the change they
//! tell. Each event's name (`what`) is stable for that one occurrence, so a copy of it keeps its
//! id, and a later occurrence of the same kind gets a new one.

use chrono::{DateTime, Utc};
use domain::{
    BatchId, BatchOutcome, BridgeEvent, BridgeEventV1, CompanyId, DeliveryState, FailedDeliveries,
    ImportId, SyncPaused,
};

use crate::store::batches::Settled;
use crate::store::deliveries::Changed;

/// Most characters of Bayzat's message kept in a pause's reason: enough for any real answer,
/// and a server that sends an essay is cut short.
const MESSAGE_CHARS: usize = 200;

/// Why the company is paused after Bayzat refused its key: the HTTP status and Bayzat's own
/// message, from the answer's body, which the client has already cleared of the key. No answer
/// (`status` `None`) means the key could not even be put into a request.
pub fn key_refused(status: Option<u16>, body: Option<&str>) -> String {
    let Some(status) = status else {
        return "the company's key cannot be sent in a request".to_owned();
    };
    let message = body
        .and_then(|body| serde_json::from_str::<serde_json::Value>(body).ok())
        .and_then(|json| {
            json.get("message")?
                .as_str()
                .map(str::trim)
                .map(str::to_owned)
        })
        .filter(|message| !message.is_empty());
    match message {
        Some(message) => format!(
            "Bayzat refused the company's key ({status}): {}",
            message.chars().take(MESSAGE_CHARS).collect::<String>()
        ),
        None => format!("Bayzat refused the company's key ({status})"),
    }
}

/// `company.sync_paused`: the company went into `paused_auth` at `since`. A later pause, after
/// a new key, pauses at another time and is another event.
pub fn sync_paused(company_id: i64, reason: &str, since: DateTime<Utc>) -> BridgeEventV1 {
    BridgeEventV1::new(
        &format!(
            "company.sync_paused:{company_id}:{}",
            since.timestamp_micros()
        ),
        Some(CompanyId(company_id)),
        since,
        BridgeEvent::CompanySyncPaused(SyncPaused {
            reason: reason.to_owned(),
            since,
        }),
    )
}

/// `deliveries.failed`: the deliveries of `changed` that became `failed` in one change of the
/// company's deliveries at `now` (their retries ran out), as one event; `None` when none did.
pub fn deliveries_failed(
    company_id: i64,
    changed: &[Changed],
    now: DateTime<Utc>,
) -> Option<BridgeEventV1> {
    let failed: Vec<&Changed> = changed
        .iter()
        .filter(|c| c.state == DeliveryState::Failed)
        .collect();
    let first_punch = failed.iter().map(|c| c.punch_id).min()?;
    let mut batch_ids: Vec<_> = failed.iter().map(|c| c.batch_id).collect();
    batch_ids.sort();
    batch_ids.dedup();
    let last_error = failed
        .iter()
        .rev()
        .find_map(|c| c.last_error.clone())
        .unwrap_or_default();
    Some(BridgeEventV1::new(
        &format!(
            "deliveries.failed:{company_id}:{}:{first_punch}",
            now.timestamp_micros()
        ),
        Some(CompanyId(company_id)),
        now,
        BridgeEvent::DeliveriesFailed(FailedDeliveries {
            count: failed.len() as i64,
            batch_ids: batch_ids.into_iter().map(BatchId).collect(),
            last_error,
        }),
    ))
}

/// `batch.completed`: the batch settled as `completed` or `failed` at `now`. Named by the batch
/// and the time it settled, so a batch that settles again (an operator's retry, punches added to
/// it later) is told again, whatever its status.
/// `None` for a batch without an import, which sync-service never makes (every batch is one
/// company's share of an import).
pub fn batch_completed(batch: &Settled, now: DateTime<Utc>) -> Option<BridgeEventV1> {
    let import_id = batch.import_id?;
    Some(BridgeEventV1::new(
        &format!(
            "batch.completed:{}:{}:{}",
            batch.id,
            batch.status,
            batch.completed_at.map_or(0, |at| at.timestamp_micros())
        ),
        Some(CompanyId(batch.company_id)),
        now,
        BridgeEvent::BatchCompleted(BatchOutcome {
            batch_id: BatchId(batch.id),
            import_id: ImportId(import_id),
            status: batch.status.clone(),
            total: batch.total_count.into(),
            delivered: batch.delivered_count.into(),
            failed: batch.failed_count.into(),
            rejected: batch.rejected_count.into(),
            cancelled: batch.cancelled_count.into(),
        }),
    ))
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use uuid::Uuid;

    use super::*;

    fn changed(punch_id: i64, batch_id: Uuid, state: DeliveryState, error: &str) -> Changed {
        Changed {
            punch_id,
            batch_id,
            state,
            last_error: (!error.is_empty()).then(|| error.to_owned()),
        }
    }

    fn settled(status: &str) -> Settled {
        Settled {
            id: Uuid::from_u128(1),
            company_id: 7,
            import_id: Some(3),
            status: status.to_owned(),
            total_count: 10,
            delivered_count: 7,
            failed_count: 1,
            rejected_count: 1,
            cancelled_count: 1,
            completed_at: Some(DateTime::from_timestamp(1_764_928_800, 0).unwrap()),
        }
    }

    #[test]
    fn a_refused_key_is_told_by_status_and_bayzats_message() {
        let table: [(Option<u16>, Option<&str>, &str); 6] = [
            (
                Some(401),
                Some(r#"{"success":false,"message":" Unauthorized "}"#),
                "Bayzat refused the company's key (401): Unauthorized",
            ),
            (
                Some(403),
                Some(r#"{"message":"key [redacted] revoked"}"#),
                "Bayzat refused the company's key (403): key [redacted] revoked",
            ),
            (
                Some(401),
                Some(""),
                "Bayzat refused the company's key (401)",
            ),
            (
                Some(401),
                Some("Forbidden"),
                "Bayzat refused the company's key (401)",
            ),
            (
                Some(401),
                Some(r#"{"message":""}"#),
                "Bayzat refused the company's key (401)",
            ),
            (None, None, "the company's key cannot be sent in a request"),
        ];
        for (status, body, reason) in table {
            assert_eq!(key_refused(status, body), reason, "{status:?} {body:?}");
        }
        let long = format!(r#"{{"message":"{}"}}"#, "x".repeat(1000));
        let reason = key_refused(Some(401), Some(&long));
        assert!(reason.ends_with(&"x".repeat(MESSAGE_CHARS)), "{reason}");
        assert!(
            !reason.ends_with(&"x".repeat(MESSAGE_CHARS + 1)),
            "{reason}"
        );
    }

    #[test]
    fn a_pause_is_one_event_per_time_the_company_paused() {
        let since = Utc::now();
        let event = sync_paused(7, "Bayzat refused the company's key (401)", since);
        assert_eq!(event.company_id, Some(CompanyId(7)));
        assert_eq!(event.occurred_at, since);
        assert_eq!(
            event.event,
            BridgeEvent::CompanySyncPaused(SyncPaused {
                reason: "Bayzat refused the company's key (401)".to_owned(),
                since,
            })
        );
        let again = sync_paused(7, "another wording", since);
        assert_eq!(again.event_id, event.event_id, "the same pause");
        let later = sync_paused(
            7,
            "Bayzat refused the company's key (401)",
            since + TimeDelta::seconds(1),
        );
        assert_ne!(later.event_id, event.event_id, "a later pause");
        assert_ne!(sync_paused(8, "", since).event_id, event.event_id);
    }

    #[test]
    fn failed_deliveries_of_one_change_are_one_event() {
        let now = Utc::now();
        let (a, b) = (Uuid::from_u128(2), Uuid::from_u128(1));
        let changes = [
            changed(5, a, DeliveryState::Failed, "answered 500: first"),
            changed(3, a, DeliveryState::RetryWait, "answered 500: retried"),
            changed(4, b, DeliveryState::Failed, "answered 500: last"),
            changed(6, a, DeliveryState::Failed, ""),
            changed(7, b, DeliveryState::Delivered, ""),
        ];
        let event = deliveries_failed(7, &changes, now).expect("an event");
        assert_eq!(event.company_id, Some(CompanyId(7)));
        assert_eq!(event.occurred_at, now);
        assert_eq!(
            event.event,
            BridgeEvent::DeliveriesFailed(FailedDeliveries {
                count: 3,
                batch_ids: vec![BatchId(b), BatchId(a)],
                last_error: "answered 500: last".to_owned(),
            })
        );
        assert_eq!(
            deliveries_failed(7, &changes, now).unwrap().event_id,
            event.event_id
        );
        let later = deliveries_failed(7, &changes, now + TimeDelta::seconds(1)).unwrap();
        assert_ne!(later.event_id, event.event_id, "failed again after a retry");
        assert_eq!(deliveries_failed(7, &changes[1..2], now), None);
        assert_eq!(deliveries_failed(7, &[], now), None);
    }

    #[test]
    fn a_settled_batch_is_one_event_per_status() {
        let now = Utc::now();
        let event = batch_completed(&settled("failed"), now).expect("an event");
        assert_eq!(event.company_id, Some(CompanyId(7)));
        assert_eq!(
            event.event,
            BridgeEvent::BatchCompleted(BatchOutcome {
                batch_id: BatchId(Uuid::from_u128(1)),
                import_id: ImportId(3),
                status: "failed".to_owned(),
                total: 10,
                delivered: 7,
                failed: 1,
                rejected: 1,
                cancelled: 1,
            })
        );
        let copy = batch_completed(&settled("failed"), now + TimeDelta::seconds(1)).unwrap();
        assert_eq!(copy.event_id, event.event_id, "the same settling");
        let retried = batch_completed(&settled("completed"), now).unwrap();
        assert_ne!(retried.event_id, event.event_id, "completed by a retry");
        let failed_again = Settled {
            completed_at: Some(DateTime::from_timestamp(1_764_929_400, 0).unwrap()),
            ..settled("failed")
        };
        let failed_again = batch_completed(&failed_again, now).unwrap();
        assert_ne!(
            failed_again.event_id, event.event_id,
            "failed again after a retry"
        );
        let orphan = Settled {
            import_id: None,
            ..settled("completed")
        };
        assert_eq!(batch_completed(&orphan, now), None);
    }
}
