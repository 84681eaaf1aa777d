//! Where a punch is on its way to Bayzat, how an import row shows it, and the company-level
//! settings that decide whether a punch may go now.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} {input:?} is not one of: {allowed}")]
pub struct UnknownVariant {
    pub kind: &'static str,
    pub input: String,
    pub allowed: &'static str,
}

macro_rules! text_enum {
    ($name:ident, $kind:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The same spelling as in JSON and in the database.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::delivery::UnknownVariant;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err($crate::delivery::UnknownVariant {
                        kind: $kind,
                        input: other.to_owned(),
                        allowed: concat!($($text, " "),+).trim_ascii_end(),
                    }),
                }
            }
        }
    };
}
pub(crate) use text_enum;

/// The state of one punch's delivery (sync-service's `deliveries.state`). Every change is
/// published in `punches.status.v1`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Due now: the company's sender will send it at the rate limit's pace.
    Pending,
    /// Waiting for the company's hourly or daily run.
    Scheduled,
    /// The company's Bayzat sync is disabled; released when it is enabled again.
    Held,
    /// Bayzat refused the company's key (401); resumed when the key is replaced or the company
    /// re-enabled.
    Paused,
    /// In a request to Bayzat whose answer is not known yet.
    Sending,
    /// Bayzat holds it (accepted, or refused as a duplicate of a record it already holds).
    Delivered,
    /// A transient failure; the next attempt is due at `next_attempt_at`.
    RetryWait,
    /// Every retry failed too. Waits for an operator to retry it.
    Failed,
    /// Bayzat refused the record itself (e.g. unknown empId). Resent only when an operator asks.
    Rejected,
    /// The import was cancelled before the punch was sent.
    Cancelled,
}

text_enum!(DeliveryState, "delivery state", {
    Pending => "pending",
    Scheduled => "scheduled",
    Held => "held",
    Paused => "paused",
    Sending => "sending",
    Delivered => "delivered",
    RetryWait => "retry_wait",
    Failed => "failed",
    Rejected => "rejected",
    Cancelled => "cancelled",
});

impl DeliveryState {
    /// Nothing more will happen to the delivery on its own, and sending it again could not
    /// change the outcome without someone changing the data: delivered, rejected, cancelled.
    ///
    /// `failed` is deliberately not final: its retries ran out on transient errors, so the same
    /// punch may well go through later, and it stays in the operator's queue of work until they
    /// retry or cancel it.
    pub const fn is_final(self) -> bool {
        matches!(
            self,
            DeliveryState::Delivered | DeliveryState::Rejected | DeliveryState::Cancelled
        )
    }

    /// Shown to the operator as a problem to act on.
    pub const fn needs_operator(self) -> bool {
        matches!(self, DeliveryState::Failed | DeliveryState::Rejected)
    }

    /// An operator's batch retry queues these again: both have given up, and a retry is how an
    /// operator says the cause is fixed.
    pub const fn is_retryable_by_operator(self) -> bool {
        matches!(self, DeliveryState::Failed | DeliveryState::Rejected)
    }

    /// Cancelling an import stops these. `sending` is not among them: the request is already on
    /// its way and its answer decides. Finished deliveries have nothing to cancel.
    pub const fn is_cancellable(self) -> bool {
        matches!(
            self,
            DeliveryState::Pending
                | DeliveryState::Scheduled
                | DeliveryState::Held
                | DeliveryState::Paused
                | DeliveryState::RetryWait
                | DeliveryState::Failed
        )
    }

    /// How an import row shows a punch in this state.
    pub const fn row_state(self) -> RowDeliveryState {
        match self {
            DeliveryState::Failed | DeliveryState::Rejected => RowDeliveryState::Failed,
            DeliveryState::Sending => RowDeliveryState::Syncing,
            DeliveryState::Pending
            | DeliveryState::Scheduled
            | DeliveryState::Held
            | DeliveryState::Paused
            | DeliveryState::RetryWait => RowDeliveryState::Pending,
            DeliveryState::Delivered => RowDeliveryState::Synced,
            // Nothing was or will be sent for it, as for a row without punches.
            DeliveryState::Cancelled => RowDeliveryState::Skipped,
        }
    }

    /// The state a newly queued punch starts in. The company's sync state comes first (a
    /// disabled company holds, a refused key pauses), then the frequency; `urgent` is an
    /// operator's "sync now" or a batch retry, which go at once whatever the frequency.
    pub const fn on_arrival(
        company: CompanySyncState,
        frequency: SyncFrequency,
        urgent: bool,
    ) -> DeliveryState {
        match company {
            CompanySyncState::Disabled => DeliveryState::Held,
            CompanySyncState::PausedAuth => DeliveryState::Paused,
            CompanySyncState::Active => match frequency {
                _ if urgent => DeliveryState::Pending,
                SyncFrequency::Manual => DeliveryState::Pending,
                SyncFrequency::Hourly | SyncFrequency::Daily => DeliveryState::Scheduled,
            },
        }
    }
}

/// The delivery state of an import row, as the import shows it (the original design's
/// `bayzat_sync_status`). Declared worst first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RowDeliveryState {
    /// A punch failed or was rejected.
    Failed,
    /// A punch is being sent.
    Syncing,
    /// A punch is pending, scheduled, held, paused or waiting for a retry.
    Pending,
    /// Every punch delivered.
    Synced,
    /// No punches to send: an absence, every punch a duplicate of an earlier import, or every
    /// punch cancelled.
    Skipped,
}

text_enum!(RowDeliveryState, "row delivery state", {
    Failed => "failed",
    Syncing => "syncing",
    Pending => "pending",
    Synced => "synced",
    Skipped => "skipped",
});

impl RowDeliveryState {
    /// A row's state from the delivery states of its own punches, worst first. Punches that are
    /// duplicates of an earlier import have no delivery of their own and are left out by the
    /// caller, so a row with none left is `skipped`.
    pub fn of_punches(states: impl IntoIterator<Item = DeliveryState>) -> RowDeliveryState {
        states
            .into_iter()
            .map(DeliveryState::row_state)
            .min()
            .unwrap_or(RowDeliveryState::Skipped)
    }
}

/// When a company's punches go to Bayzat (`bayzat_configs.sync_frequency`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncFrequency {
    /// As soon as their import completes.
    #[default]
    Manual,
    /// At the next top of the hour in the company's time zone.
    Hourly,
    /// At the company's daily time in its time zone.
    Daily,
}

text_enum!(SyncFrequency, "sync frequency", {
    Manual => "manual",
    Hourly => "hourly",
    Daily => "daily",
});

/// Whether sync-service may call Bayzat for a company (`company_sync_state.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CompanySyncState {
    #[default]
    Active,
    /// Bayzat answered 401: nothing is sent until a new key arrives or the company is re-enabled.
    PausedAuth,
    /// The company's Bayzat sync is switched off (`is_enabled = false`).
    Disabled,
}

text_enum!(CompanySyncState, "company sync state", {
    Active => "active",
    PausedAuth => "paused_auth",
    Disabled => "disabled",
});

#[cfg(test)]
mod tests {
    use std::fmt;
    use std::str::FromStr;

    use super::*;
    use DeliveryState as D;
    use RowDeliveryState as R;

    fn assert_spelling<T>(cases: &[(T, &str)])
    where
        T: Copy + fmt::Debug + PartialEq + Serialize + serde::de::DeserializeOwned + FromStr,
        T: fmt::Display,
        <T as FromStr>::Err: fmt::Debug,
    {
        for &(value, text) in cases {
            assert_eq!(
                serde_json::to_string(&value).unwrap(),
                format!("\"{text}\"")
            );
            assert_eq!(
                serde_json::from_str::<T>(&format!("\"{text}\"")).unwrap(),
                value
            );
            assert_eq!(value.to_string(), text);
            assert_eq!(text.parse::<T>().unwrap(), value);
        }
    }

    #[test]
    fn delivery_state_spelling() {
        let cases = [
            (D::Pending, "pending"),
            (D::Scheduled, "scheduled"),
            (D::Held, "held"),
            (D::Paused, "paused"),
            (D::Sending, "sending"),
            (D::Delivered, "delivered"),
            (D::RetryWait, "retry_wait"),
            (D::Failed, "failed"),
            (D::Rejected, "rejected"),
            (D::Cancelled, "cancelled"),
        ];
        assert_eq!(cases.len(), D::ALL.len());
        assert_spelling(&cases);
        assert!(serde_json::from_str::<D>("\"retryWait\"").is_err());
        assert_eq!(
            "done".parse::<D>().unwrap_err().to_string(),
            "delivery state \"done\" is not one of: pending scheduled held paused sending \
             delivered retry_wait failed rejected cancelled"
        );
    }

    #[test]
    fn other_enum_spellings() {
        assert_spelling(&[
            (R::Failed, "failed"),
            (R::Syncing, "syncing"),
            (R::Pending, "pending"),
            (R::Synced, "synced"),
            (R::Skipped, "skipped"),
        ]);
        assert_spelling(&[
            (SyncFrequency::Manual, "manual"),
            (SyncFrequency::Hourly, "hourly"),
            (SyncFrequency::Daily, "daily"),
        ]);
        assert_spelling(&[
            (CompanySyncState::Active, "active"),
            (CompanySyncState::PausedAuth, "paused_auth"),
            (CompanySyncState::Disabled, "disabled"),
        ]);
        assert_eq!(SyncFrequency::default(), SyncFrequency::Manual);
        assert_eq!(CompanySyncState::default(), CompanySyncState::Active);
        assert!("Hourly".parse::<SyncFrequency>().is_err());
        assert!("paused".parse::<CompanySyncState>().is_err());
    }

    #[test]
    fn delivery_state_predicates() {
        // state, final, needs operator, operator may retry, cancellable, row state
        let table = [
            (D::Pending, false, false, false, true, R::Pending),
            (D::Scheduled, false, false, false, true, R::Pending),
            (D::Held, false, false, false, true, R::Pending),
            (D::Paused, false, false, false, true, R::Pending),
            (D::Sending, false, false, false, false, R::Syncing),
            (D::Delivered, true, false, false, false, R::Synced),
            (D::RetryWait, false, false, false, true, R::Pending),
            (D::Failed, false, true, true, true, R::Failed),
            (D::Rejected, true, true, true, false, R::Failed),
            (D::Cancelled, true, false, false, false, R::Skipped),
        ];
        assert_eq!(table.len(), D::ALL.len());
        for (state, is_final, needs_operator, retryable, cancellable, row) in table {
            assert_eq!(state.is_final(), is_final, "{state} final");
            assert_eq!(state.needs_operator(), needs_operator, "{state} operator");
            assert_eq!(state.is_retryable_by_operator(), retryable, "{state} retry");
            assert_eq!(state.is_cancellable(), cancellable, "{state} cancel");
            assert_eq!(state.row_state(), row, "{state} row");
        }
    }

    #[test]
    fn row_state_is_the_worst_of_its_punches() {
        let table: &[(&[D], R)] = &[
            (&[], R::Skipped),
            (&[D::Cancelled], R::Skipped),
            (&[D::Cancelled, D::Cancelled], R::Skipped),
            (&[D::Delivered], R::Synced),
            (&[D::Delivered, D::Delivered], R::Synced),
            (&[D::Delivered, D::Cancelled], R::Synced),
            (&[D::Pending], R::Pending),
            (&[D::Scheduled], R::Pending),
            (&[D::Held], R::Pending),
            (&[D::Paused], R::Pending),
            (&[D::RetryWait], R::Pending),
            (&[D::Delivered, D::Pending], R::Pending),
            (&[D::RetryWait, D::Delivered], R::Pending),
            (&[D::Sending], R::Syncing),
            (&[D::Pending, D::Sending], R::Syncing),
            (&[D::Sending, D::Delivered], R::Syncing),
            (&[D::Failed], R::Failed),
            (&[D::Rejected], R::Failed),
            (&[D::Delivered, D::Rejected], R::Failed),
            (&[D::Sending, D::Failed], R::Failed),
            (&[D::Failed, D::Pending], R::Failed),
            (&[D::Cancelled, D::Failed], R::Failed),
        ];
        for (states, expected) in table {
            assert_eq!(
                R::of_punches(states.iter().copied()),
                *expected,
                "{states:?}"
            );
        }
    }

    #[test]
    fn arrival_state() {
        use CompanySyncState as C;
        use SyncFrequency as F;
        let table = [
            (C::Active, F::Manual, false, D::Pending),
            (C::Active, F::Hourly, false, D::Scheduled),
            (C::Active, F::Daily, false, D::Scheduled),
            (C::Active, F::Manual, true, D::Pending),
            (C::Active, F::Hourly, true, D::Pending),
            (C::Active, F::Daily, true, D::Pending),
            (C::Disabled, F::Manual, false, D::Held),
            (C::Disabled, F::Daily, true, D::Held),
            (C::PausedAuth, F::Manual, false, D::Paused),
            (C::PausedAuth, F::Hourly, true, D::Paused),
        ];
        for (company, frequency, urgent, expected) in table {
            assert_eq!(
                D::on_arrival(company, frequency, urgent),
                expected,
                "{company} {frequency} urgent={urgent}"
            );
        }
    }
}
