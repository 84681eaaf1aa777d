//! What every change to the configuration does besides the change itself, in the same
//! transaction: an audit entry, a `config.company.changed.v1` event through the outbox when the
//! other services care, and a new directory version when the snapshot shows it.

use chrono::Utc;
use domain::{CompanyChange, CompanyId, ConfigCompanyChangedV1};
use serde_json::Value;
use uuid::Uuid;

use crate::store::audit::{self, NewAuditEntry};
use crate::store::{directory, Conn, QueryResult};
use crate::{SCHEMA, SERVICE};

/// One change to record.
pub struct Change<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub company_id: Option<i64>,
    pub target: Option<String>,
    /// Before/after and other facts; secrets masked by the caller.
    pub details: Value,
    /// What the other services are told changed (nothing when empty).
    pub events: Vec<CompanyChange>,
}

impl Change<'_> {
    /// Writes the audit entry, enqueues the event and moves the directory version on.
    pub async fn record(self, conn: &mut Conn) -> QueryResult<()> {
        audit::record(
            conn,
            &NewAuditEntry {
                at: Utc::now(),
                service: SERVICE.to_owned(),
                actor: self.actor.to_owned(),
                action: self.action.to_owned(),
                company_id: self.company_id,
                target: self.target,
                details: self.details,
                message_id: None,
            },
        )
        .await?;
        if let (Some(company_id), false) = (self.company_id, self.events.is_empty()) {
            let event = ConfigCompanyChangedV1 {
                company_id: CompanyId(company_id),
                changes: self.events,
            };
            let message =
                bus::Outgoing::message(Uuid::now_v7(), &event, telemetry::current_traceparent())
                    .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
            outbox::enqueue(conn, SCHEMA, &[message]).await?;
            directory::bump_version(conn).await?;
        }
        Ok(())
    }
}
