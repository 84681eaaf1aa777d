//! Releasing a held (or strict) import: its valid rows' punches are queued, in one transaction
//! with the import's new state and the audit entry.

use serde_json::json;

use crate::queueing::{self, Queued};
use crate::store::tx::{ImportTx, TxResult};

pub async fn release(database_url: &str, import_id: i64, actor: &str) -> TxResult<Vec<Queued>> {
    let tx = ImportTx::begin(database_url).await?;
    let result = async {
        let queued = tx.queue_new_punches(import_id).await?;
        tx.set_held(import_id, None).await?;
        tx.enqueue(&[queueing::audit_event(
            actor,
            "import.released",
            None,
            format!("import {import_id}"),
            json!({ "queued": queued }),
        )?])
        .await?;
        Ok(queued)
    }
    .await;
    match result {
        Ok(queued) => {
            tx.commit().await?;
            Ok(queued)
        }
        Err(error) => {
            tx.rollback().await;
            Err(error)
        }
    }
}
