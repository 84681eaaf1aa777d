//! What sync-service consumes: each company's queue (`punches.ready.v1`, `sync.due.v1`,
//! `import.cancelled.v1`), handled briefly (store, commit, ack) before the company's sender is
//! woken, `config.company.changed.v1` on `sync.config`, and `clock.health.v1` on `sync.clocks`.

use std::sync::{Arc, Weak};

use bus::{spawn_consumer, ConsumerHandle, HandlerDecision, Incoming};
use chrono::{DateTime, Utc};
use diesel_async::AsyncConnection;
use directory::DirectoryCompany;
use domain::{
    ClockHealthV1, CompanyChange, CompanyId, CompanySyncState, ConfigCompanyChangedV1,
    DeliveryState, DueReason, ImportCancelledV1, Message, PunchesReadyV1, SyncDueV1, SyncFrequency,
};
use tokio::sync::Notify;

use crate::runtime::{CompanyWorkers, SyncContext};
use crate::store::deliveries::{self, Selection};
use crate::store::{clock_health, companies, status, Conn, QueryResult};
use crate::SCHEMA;

/// Messages handed to a company consumer before it acknowledges: handling is short, so a few
/// in flight keep the queue moving without holding many unacknowledged.
const COMPANY_PREFETCH: u16 = 10;
const CONFIG_PREFETCH: u16 = 10;

pub fn spawn_company_consumer(
    shared: &Arc<SyncContext>,
    company_id: i64,
    wake: Arc<Notify>,
) -> ConsumerHandle {
    let queue = shared.broker.topology().company_queue(company_id);
    let shared = shared.clone();
    spawn_consumer(
        &shared.broker.clone(),
        queue,
        COMPANY_PREFETCH,
        move |incoming| {
            let shared = shared.clone();
            let wake = wake.clone();
            async move { on_company_message(&shared, company_id, &wake, incoming).await }
        },
    )
}

pub fn spawn_config_consumer(
    shared: &Arc<SyncContext>,
    registry: Weak<CompanyWorkers>,
) -> ConsumerHandle {
    let queue = shared.broker.topology().sync_config_queue();
    let shared = shared.clone();
    spawn_consumer(
        &shared.broker.clone(),
        queue,
        CONFIG_PREFETCH,
        move |incoming| {
            let shared = shared.clone();
            let registry = registry.clone();
            async move { on_config_changed(&shared, &registry, incoming).await }
        },
    )
}

/// Clocks' health from import-service, kept for the sync health of their companies.
pub fn spawn_clock_consumer(shared: &Arc<SyncContext>) -> ConsumerHandle {
    let queue = shared.broker.topology().sync_clocks_queue();
    let shared = shared.clone();
    spawn_consumer(
        &shared.broker.clone(),
        queue,
        CONFIG_PREFETCH,
        move |incoming| {
            let shared = shared.clone();
            async move { on_clock_health(&shared, incoming).await }
        },
    )
}

async fn on_clock_health(shared: &SyncContext, incoming: Incoming) -> HandlerDecision {
    let health: ClockHealthV1 = match incoming.decode() {
        Ok(health) => health,
        Err(outcome) => return outcome,
    };
    let mut conn = match db::connection(&shared.pool).await {
        Ok(conn) => conn,
        Err(error) => return retry(error),
    };
    // Every message says all of its clock and the newest wins: a repeat needs no inbox.
    match clock_health::record(&mut conn, &health).await {
        Ok(()) => HandlerDecision::Done,
        Err(error) => retry(error),
    }
}

fn retry(error: impl std::fmt::Display) -> HandlerDecision {
    HandlerDecision::Retry(error.to_string())
}

/// Records the message as handled, inside the caller's transaction; false when it was before.
async fn first_time(conn: &mut Conn, incoming: &Incoming, kind: &str) -> QueryResult<bool> {
    match incoming.message_uuid() {
        Some(id) => outbox::first_delivery(conn, SCHEMA, id, kind).await,
        // Without an id the handlers' own keys (punch ids) still make a redelivery harmless.
        None => Ok(true),
    }
}

async fn on_company_message(
    shared: &SyncContext,
    company_id: i64,
    wake: &Notify,
    incoming: Incoming,
) -> HandlerDecision {
    let kind = incoming.message_type.clone().unwrap_or_default();
    let outcome = match kind.as_str() {
        PunchesReadyV1::TYPE => match incoming.decode::<PunchesReadyV1>() {
            Ok(ready) => store_ready(shared, &incoming, ready).await,
            Err(outcome) => outcome,
        },
        SyncDueV1::TYPE => match incoming.decode::<SyncDueV1>() {
            Ok(due) => {
                tracing::debug!(company_id, reason = %due.reason, "sync due");
                HandlerDecision::Done
            }
            Err(outcome) => outcome,
        },
        ImportCancelledV1::TYPE => match incoming.decode::<ImportCancelledV1>() {
            Ok(cancelled) => cancel_import(shared, &incoming, cancelled).await,
            Err(outcome) => outcome,
        },
        other => HandlerDecision::Poison(format!("unexpected message type {other:?}")),
    };
    if outcome == HandlerDecision::Done {
        shared.relay.wake();
        wake.notify_one();
    }
    outcome
}

/// The company's delivery settings as config-service last described them.
async fn company(
    shared: &SyncContext,
    company_id: i64,
) -> Result<Option<DirectoryCompany>, HandlerDecision> {
    let snapshot = shared.directory.current().await.map_err(retry)?;
    Ok(snapshot.company(company_id).cloned())
}

/// When a new punch of the company is first due, and in which state it waits until then.
pub(crate) fn arrival(
    company: Option<&DirectoryCompany>,
    sync_state: CompanySyncState,
    now: DateTime<Utc>,
) -> (DeliveryState, Option<DateTime<Utc>>) {
    let Some(company) = company else {
        // A company config-service does not know (yet): nothing may go until it does.
        return (DeliveryState::Held, None);
    };
    let state = delivery::arrival_state(
        sync_state,
        company.is_enabled,
        company.sync_frequency,
        false,
    );
    if state != DeliveryState::Scheduled {
        return (state, None);
    }
    match delivery::next_run(
        company.sync_frequency,
        company.daily_at,
        &company.timezone,
        now,
    ) {
        Ok(Some(at)) => (state, Some(at)),
        Ok(None) => (DeliveryState::Pending, None),
        Err(error) => {
            // A schedule that cannot be computed must not hold punches forever.
            tracing::warn!(company_id = company.id, %error, "schedule unusable; sending now");
            (DeliveryState::Pending, None)
        }
    }
}

async fn store_ready(
    shared: &SyncContext,
    incoming: &Incoming,
    ready: PunchesReadyV1,
) -> HandlerDecision {
    let company_id = ready.company_id.0;
    let batch_id = ready.batch_id;
    let company = match company(shared, company_id).await {
        Ok(company) => company,
        Err(outcome) => return outcome,
    };
    match shared
        .storer
        .store(incoming.message_uuid(), ready, company)
        .await
    {
        Ok(count) => {
            tracing::info!(company_id, %batch_id, count, "punches stored");
            HandlerDecision::Done
        }
        Err(error) => retry(error),
    }
}

async fn cancel_import(
    shared: &SyncContext,
    incoming: &Incoming,
    cancelled: ImportCancelledV1,
) -> HandlerDecision {
    let now = shared.clock.now();
    let company_id = cancelled.company_id.0;
    let mut conn = match db::connection(&shared.pool).await {
        Ok(conn) => conn,
        Err(error) => return retry(error),
    };
    let done = conn
        .transaction::<_, diesel::result::Error, _>(async |conn| {
            if !first_time(conn, incoming, ImportCancelledV1::TYPE).await? {
                return Ok(0);
            }
            let selection = Selection {
                company_id: Some(company_id),
                import_id: Some(cancelled.import_id.0),
                from: cancellable(),
                ..Selection::default()
            };
            let changed = deliveries::transition(
                conn,
                &selection,
                DeliveryState::Cancelled,
                None,
                false,
                now,
            )
            .await?;
            status::record(conn, company_id, &changed, now).await?;
            Ok(changed.len())
        })
        .await;
    match done {
        Ok(count) => {
            tracing::info!(company_id, import_id = %cancelled.import_id, count, "import cancelled");
            HandlerDecision::Done
        }
        Err(error) => retry(error),
    }
}

fn cancellable() -> Vec<DeliveryState> {
    DeliveryState::ALL
        .iter()
        .copied()
        .filter(|s| s.is_cancellable())
        .collect()
}

async fn on_config_changed(
    shared: &SyncContext,
    registry: &Weak<CompanyWorkers>,
    incoming: Incoming,
) -> HandlerDecision {
    let event: ConfigCompanyChangedV1 = match incoming.decode() {
        Ok(event) => event,
        Err(outcome) => return outcome,
    };
    let company_id = event.company_id.0;
    let Some(registry) = registry.upgrade() else {
        return retry("stopping");
    };
    if event.changes.contains(&CompanyChange::Deleted) {
        registry.remove(company_id);
        return HandlerDecision::Done;
    }
    let company = match company(shared, company_id).await {
        Ok(Some(company)) => company,
        Ok(None) => return HandlerDecision::Done,
        Err(outcome) => return outcome,
    };
    if let Err(error) = registry.ensure(company_id, company.is_enabled).await {
        return retry(error);
    }
    let now = shared.clock.now();
    let mut conn = match db::connection(&shared.pool).await {
        Ok(conn) => conn,
        Err(error) => return retry(error),
    };
    let applied = conn
        .transaction::<_, diesel::result::Error, _>(async |conn| {
            if !first_time(conn, &incoming, ConfigCompanyChangedV1::TYPE).await? {
                return Ok(());
            }
            apply_config_change(conn, &company, &event.changes, now).await
        })
        .await;
    match applied {
        Ok(()) => {
            shared.relay.wake();
            HandlerDecision::Done
        }
        Err(error) => retry(error),
    }
}

/// What a configuration change means for the company's deliveries (docs/architecture.md#delivery-rules).
async fn apply_config_change(
    conn: &mut Conn,
    company: &DirectoryCompany,
    changes: &[CompanyChange],
    now: DateTime<Utc>,
) -> QueryResult<()> {
    let company_id = company.id;
    // Every replica's cached key and remembered unknown empIds of the company are stale now.
    companies::bump_config_version(conn, company_id).await?;
    let state = companies::find(conn, company_id)
        .await?
        .map(|s| s.state())
        .unwrap_or_default();
    let select = |from: &[DeliveryState]| Selection {
        company_id: Some(company_id),
        from: from.to_vec(),
        ..Selection::default()
    };
    let mut resume = false;
    for change in changes {
        match change {
            CompanyChange::Enablement if !company.is_enabled => {
                companies::set_state(
                    conn,
                    company_id,
                    CompanySyncState::Disabled,
                    Some("sync disabled"),
                    now,
                )
                .await?;
                let from = [
                    DeliveryState::Pending,
                    DeliveryState::Scheduled,
                    DeliveryState::RetryWait,
                    DeliveryState::Paused,
                ];
                let changed = deliveries::transition(
                    conn,
                    &select(&from),
                    DeliveryState::Held,
                    None,
                    false,
                    now,
                )
                .await?;
                status::record(conn, company_id, &changed, now).await?;
            }
            CompanyChange::Enablement => {
                companies::set_state(conn, company_id, CompanySyncState::Active, None, now).await?;
                let from = [DeliveryState::Held, DeliveryState::Paused];
                let changed = deliveries::transition(
                    conn,
                    &select(&from),
                    DeliveryState::Pending,
                    None,
                    false,
                    now,
                )
                .await?;
                status::record(conn, company_id, &changed, now).await?;
                resume = true;
            }
            CompanyChange::KeyRotated if state != CompanySyncState::Disabled => {
                companies::set_state(conn, company_id, CompanySyncState::Active, None, now).await?;
                let changed = deliveries::transition(
                    conn,
                    &select(&[DeliveryState::Paused]),
                    DeliveryState::Pending,
                    None,
                    false,
                    now,
                )
                .await?;
                status::record(conn, company_id, &changed, now).await?;
                resume = true;
            }
            CompanyChange::Frequency => {
                let next = match company.sync_frequency {
                    SyncFrequency::Manual => None,
                    frequency => {
                        delivery::next_run(frequency, company.daily_at, &company.timezone, now)
                            .unwrap_or(None)
                    }
                };
                let to = if next.is_some() {
                    DeliveryState::Scheduled
                } else {
                    DeliveryState::Pending
                };
                let changed = deliveries::transition(
                    conn,
                    &select(&[DeliveryState::Scheduled]),
                    to,
                    next,
                    false,
                    now,
                )
                .await?;
                if to == DeliveryState::Pending {
                    status::record(conn, company_id, &changed, now).await?;
                    resume = resume || !changed.is_empty();
                }
            }
            _ => {}
        }
    }
    if resume {
        status::enqueue(
            conn,
            &SyncDueV1 {
                company_id: CompanyId(company_id),
                reason: DueReason::Resume,
            },
        )
        .await?;
    }
    Ok(())
}
