//! Retention: the outbox's sent messages and the handled message ids go after
//! [`outbox::Retention`]'s ages, at start and then every `every`; everything else
//! config-service stores is kept.

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::SCHEMA;

/// Runs the pass now and then every `every`, until aborted.
pub fn spawn(pool: db::Pool, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match run_once(&pool).await {
                Ok(pruned) if pruned != outbox::Pruned::default() => tracing::info!(
                    outbox_sent = pruned.sent,
                    processed_messages = pruned.processed,
                    "retention pass"
                ),
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "retention pass failed; trying again later"),
            }
            tokio::time::sleep(every).await;
        }
    })
}

/// One pass: what it deleted.
pub async fn run_once(pool: &db::Pool) -> Result<outbox::Pruned, db::DbError> {
    let mut conn = db::connection(pool).await?;
    Ok(outbox::prune(&mut conn, SCHEMA, &outbox::Retention::default()).await?)
}
