//! What import-service tells people, through config-service's webhooks and mail
//! (`bridge.event.v1` on `event.{company}`): an import stored, failed or needing attention, a
//! clock waiting for approval or gone silent.
//!
//! An event is written to the outbox in the transaction of the change it tells of, so it goes out
//! if and only if that change is committed. Its id is derived from a stable name of what
//! happened (`import.completed:<import>:<company>`), so the same event written twice (a silence
//! seen again after a restart) is one event to config-service. Events carry names, counts and
//! reasons, never a key or a secret.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use domain::{
    BridgeEvent, BridgeEventV1, ClockFacts, CompanyId, ImportAttention, ImportFacts, ImportFailure,
    ImportId,
};
use report::{ImportSummary, IssueCode, RowResult};

use crate::queueing;
use crate::store::clocks::Clock;
use crate::store::{Conn, QueryResult};
use crate::SCHEMA;

/// Unmapped departments an `import.needs_attention` names at most (the import's page has them
/// all).
pub const MAX_NAMED_DEPARTMENTS: usize = 50;

/// What an import's rows say of companies, gathered row by row as they are written: the
/// companies they belong to, and per company the employee ids its directory does not know
/// (under `None`, those on rows of no company). Memory grows with the companies and the unknown
/// ids only.
#[derive(Debug, Default)]
pub struct RowCompanies {
    companies: BTreeSet<i64>,
    unknown_employees: BTreeMap<Option<i64>, BTreeSet<String>>,
}

impl RowCompanies {
    pub fn add(&mut self, result: &RowResult) {
        if let Some(company) = result.company_id {
            self.companies.insert(company);
        }
        let unknown = result
            .errors
            .iter()
            .any(|e| e.code == IssueCode::UnknownEmployee);
        // Keyed as the import's list of unknown employees is: by the id as the report has it.
        if let (true, Some(id)) = (unknown, &result.report_employee_id) {
            let ids = self.unknown_employees.entry(result.company_id).or_default();
            if !ids.contains(id) {
                ids.insert(id.clone());
            }
        }
    }

    /// The companies the rows belong to; `[None]` when they belong to none.
    fn concerned(&self) -> Vec<Option<i64>> {
        if self.companies.is_empty() {
            return vec![None];
        }
        self.companies.iter().copied().map(Some).collect()
    }

    fn unknown_employees_of(&self, company: Option<i64>) -> i64 {
        self.unknown_employees
            .get(&company)
            .map_or(0, |ids| i64::try_from(ids.len()).unwrap_or(i64::MAX))
    }
}

/// How a company appears in an event's name.
fn named(company: Option<i64>) -> String {
    company.map_or_else(|| "none".to_owned(), |id| id.to_string())
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The events of an import read and stored (`completed`): `import.completed` for each company its
/// rows belong to (one of no company when they belong to none), and `import.needs_attention`
/// for each company concerned by what someone must look at: a company with employees its
/// directory does not know; no company for departments nobody claims and unknown ids on their
/// rows; every company of the import when it is held.
pub fn import_stored(
    import_id: i64,
    filename: &str,
    summary: &ImportSummary,
    rows: &RowCompanies,
    held_reason: Option<&str>,
    at: DateTime<Utc>,
) -> Vec<BridgeEventV1> {
    let facts = ImportFacts {
        import_id: ImportId(import_id),
        filename: filename.to_owned(),
        total_rows: count(summary.total),
        valid_rows: count(summary.valid),
        invalid_rows: count(summary.invalid),
        skipped_rows: count(summary.skipped),
        new_punches: count(summary.punches_new),
    };
    let companies = rows.concerned();
    let mut events: Vec<BridgeEventV1> = companies
        .iter()
        .map(|&company| {
            BridgeEventV1::new(
                &format!("import.completed:{import_id}:{}", named(company)),
                company.map(CompanyId),
                at,
                BridgeEvent::ImportCompleted(facts.clone()),
            )
        })
        .collect();
    let unmapped: Vec<String> = summary
        .unmapped_departments()
        .into_iter()
        .take(MAX_NAMED_DEPARTMENTS)
        .map(|d| d.name)
        .collect();
    let mut concerned: BTreeSet<Option<i64>> = rows.unknown_employees.keys().copied().collect();
    if !unmapped.is_empty() {
        concerned.insert(None);
    }
    if held_reason.is_some() {
        concerned.extend(companies);
    }
    events.extend(concerned.into_iter().map(|company| {
        BridgeEventV1::new(
            &format!("import.needs_attention:{import_id}:{}", named(company)),
            company.map(CompanyId),
            at,
            BridgeEvent::ImportNeedsAttention(ImportAttention {
                import_id: ImportId(import_id),
                filename: filename.to_owned(),
                // No company claims them: a company's own event does not name them.
                unmapped_departments: if company.is_none() {
                    unmapped.clone()
                } else {
                    Vec::new()
                },
                unknown_employees: rows.unknown_employees_of(company),
                held_reason: held_reason.map(str::to_owned),
            }),
        )
    }));
    events
}

/// `import.failed` of an import marked failed with `error` (as its page shows it). Nothing of it
/// was stored, so it is of no company.
pub fn import_failed(
    import_id: i64,
    filename: &str,
    error: &str,
    at: DateTime<Utc>,
) -> BridgeEventV1 {
    BridgeEventV1::new(
        &format!("import.failed:{import_id}"),
        None,
        at,
        BridgeEvent::ImportFailed(ImportFailure {
            import_id: ImportId(import_id),
            filename: filename.to_owned(),
            error: error.to_owned(),
        }),
    )
}

/// `clock.pending_approval` of a terminal nobody registered, first recorded calling from
/// `address`: no company yet.
pub fn clock_pending(clock: &Clock, address: Option<&str>, at: DateTime<Utc>) -> BridgeEventV1 {
    BridgeEventV1::new(
        &format!("clock.pending_approval:{}", clock.id),
        None,
        at,
        BridgeEvent::ClockPendingApproval(ClockFacts {
            clock_id: clock.id,
            serial_number: clock.serial_number.clone(),
            last_seen_at: clock.last_seen_at,
            address: address.map(str::to_owned),
        }),
    )
}

/// `clock.silent` of an approved clock quiet for longer than `silent_after`, for each of its
/// companies (of none when it has none). One silence is one event: named by the time the clock
/// went quiet, it occurred when that quiet became a silence; a later silence is another event.
pub fn clock_silent(clock: &Clock, silent_after: Duration) -> Vec<BridgeEventV1> {
    let since = clock.quiet_since();
    let at = chrono::TimeDelta::from_std(silent_after)
        .ok()
        .and_then(|after| since.checked_add_signed(after))
        .unwrap_or(since);
    let companies: Vec<Option<i64>> = if clock.company_ids.is_empty() {
        vec![None]
    } else {
        clock.company_ids.iter().copied().map(Some).collect()
    };
    companies
        .into_iter()
        .map(|company| {
            BridgeEventV1::new(
                &format!(
                    "clock.silent:{}:{}:{}",
                    clock.id,
                    since.to_rfc3339_opts(SecondsFormat::Micros, true),
                    named(company)
                ),
                company.map(CompanyId),
                at,
                BridgeEvent::ClockSilent(ClockFacts {
                    clock_id: clock.id,
                    serial_number: clock.serial_number.clone(),
                    last_seen_at: clock.last_seen_at,
                    address: None,
                }),
            )
        })
        .collect()
}

/// The outbox messages of `events`. Each has a message id of its own (the outbox keeps message
/// ids unique, and an event may be written again); the event id says which are one event.
pub fn messages(events: &[BridgeEventV1]) -> QueryResult<Vec<bus::Outgoing>> {
    events.iter().map(queueing::outgoing).collect()
}

/// Writes `events` to the outbox, in the caller's transaction.
pub async fn enqueue(conn: &mut Conn, events: &[BridgeEventV1]) -> QueryResult<()> {
    outbox::enqueue(conn, SCHEMA, &messages(events)?).await
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use report::{ReadOptions, Scope};

    use super::*;

    /// The type, company and data of each event, in order.
    fn described(events: &[BridgeEventV1]) -> Vec<(&'static str, Option<i64>, serde_json::Value)> {
        events
            .iter()
            .map(|e| {
                let body = serde_json::to_value(e).unwrap();
                (
                    e.event.type_name(),
                    e.company_id.map(|c| c.0),
                    body["data"].clone(),
                )
            })
            .collect()
    }

    /// Validates `csv` against companies 1 (`AdvLine`: employees 1001, 1002) and 2 (`Clara`:
    /// 2001), as an import reads it.
    fn read(csv: &str) -> (ImportSummary, RowCompanies) {
        let directory = report::Directory::new(
            [
                (1, "advline", "AdvLine", ["1001", "1002"].as_slice()),
                (2, "clara", "Clara", &["2001"]),
            ]
            .into_iter()
            .map(|(id, slug, name, employees)| report::DirectoryCompany {
                id,
                slug: slug.into(),
                timezone: "Asia/Dubai".into(),
                report_names: vec![name.into()],
                employees: employees
                    .iter()
                    .map(|e| report::DirectoryEmployee {
                        employee_id: (*e).into(),
                        bayzat_emp_id: None,
                        active: true,
                    })
                    .collect(),
            })
            .collect(),
        )
        .unwrap();
        let (_, rows) = report::read_report(csv.as_bytes(), ReadOptions::default()).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 10, 0, 0, 0).unwrap();
        let mut summary = ImportSummary::new();
        let mut companies = RowCompanies::default();
        for row in rows {
            let result = report::validate_within(&row, &directory, now, Scope::All);
            summary.add(&result);
            companies.add(&result);
        }
        (summary, companies)
    }

    const HEADER: &str = "Employee ID,Name,Department,Date,Check In,Check Out\n";

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 5, 10, 0, 0).unwrap()
    }

    #[test]
    fn a_stored_import_is_completed_for_each_company_and_needs_attention_where_it_is_concerned() {
        let (summary, rows) = read(&format!(
            "{HEADER}1001,A,AdvLine,2026-11-01,08:00,17:00\n\
             9999,B,AdvLine,2026-11-01,08:00,17:00\n\
             9998,B,AdvLine,2026-11-02,08:00,17:00\n\
             9999,B,AdvLine,2026-11-02,08:00,17:00\n\
             2001,C,Clara,2026-11-01,08:00,17:00\n\
             5001,D,Marketing,2026-11-01,08:00,17:00\n\
             1002,E,marketing,2026-11-01,08:00,17:00\n"
        ));
        let events = import_stored(7, "nov.csv", &summary, &rows, None, at());
        let facts = serde_json::json!({
            "import_id": 7, "filename": "nov.csv", "total_rows": 7, "valid_rows": 2,
            "invalid_rows": 5, "skipped_rows": 0, "new_punches": 0,
        });
        assert_eq!(
            described(&events),
            [
                ("import.completed", Some(1), facts.clone()),
                ("import.completed", Some(2), facts),
                (
                    "import.needs_attention",
                    None,
                    serde_json::json!({ "import_id": 7, "filename": "nov.csv",
                        "unmapped_departments": ["Marketing"], "unknown_employees": 1 })
                ),
                (
                    "import.needs_attention",
                    Some(1),
                    serde_json::json!({ "import_id": 7, "filename": "nov.csv",
                        "unmapped_departments": [], "unknown_employees": 2 })
                ),
            ]
        );
        // The same import told again is the same events.
        let again = import_stored(7, "nov.csv", &summary, &rows, None, at());
        assert_eq!(
            events.iter().map(|e| e.event_id).collect::<Vec<_>>(),
            again.iter().map(|e| e.event_id).collect::<Vec<_>>()
        );
        let ids: BTreeSet<_> = events.iter().map(|e| e.event_id).collect();
        assert_eq!(ids.len(), events.len(), "every event has an id of its own");
    }

    #[test]
    fn a_held_import_needs_attention_for_every_company_and_one_of_no_company_is_of_none() {
        let (summary, rows) = read(&format!(
            "{HEADER}1001,A,AdvLine,2026-11-01,08:00,17:00\n2001,C,Clara,2026-11-01,08:00,17:00\n"
        ));
        let held = import_stored(8, "held.csv", &summary, &rows, Some("hold"), at());
        assert_eq!(
            described(&held)
                .into_iter()
                .map(|(kind, company, data)| (kind, company, data["held_reason"].clone()))
                .collect::<Vec<_>>(),
            [
                ("import.completed", Some(1), serde_json::Value::Null),
                ("import.completed", Some(2), serde_json::Value::Null),
                ("import.needs_attention", Some(1), "hold".into()),
                ("import.needs_attention", Some(2), "hold".into()),
            ]
        );

        let (summary, rows) = read(&format!("{HEADER}1001,A,Nowhere,2026-11-01,08:00,17:00\n"));
        let nobodys = import_stored(9, "x.csv", &summary, &rows, None, at());
        assert_eq!(
            described(&nobodys)
                .into_iter()
                .map(|(kind, company, _)| (kind, company))
                .collect::<Vec<_>>(),
            [("import.completed", None), ("import.needs_attention", None)]
        );

        let (summary, rows) = read(&format!("{HEADER}1001,A,AdvLine,2026-11-01,08:00,17:00\n"));
        let fine = import_stored(10, "fine.csv", &summary, &rows, None, at());
        assert_eq!(fine.len(), 1, "nothing to look at: {fine:?}");
    }

    #[test]
    fn an_attention_names_at_most_fifty_departments() {
        let csv: String = std::iter::once(HEADER.to_owned())
            .chain((0..60).map(|i| format!("1001,A,Dept {i:02},2026-11-01,08:00,17:00\n")))
            .collect();
        let (summary, rows) = read(&csv);
        let events = import_stored(11, "many.csv", &summary, &rows, None, at());
        let BridgeEvent::ImportNeedsAttention(attention) = &events[1].event else {
            panic!("{events:?}");
        };
        assert_eq!(attention.unmapped_departments.len(), MAX_NAMED_DEPARTMENTS);
        assert_eq!(attention.unmapped_departments[0], "Dept 00");
    }

    fn clock(companies: Vec<i64>, last_seen_at: Option<DateTime<Utc>>) -> Clock {
        Clock {
            id: 4,
            serial_number: "CKJ4201".into(),
            state: crate::store::clocks::APPROVED.into(),
            company_ids: companies,
            time_zone: "Asia/Dubai".into(),
            allowed_network: None,
            handshake: None,
            last_seen_at,
            last_punch_at: None,
            created_at: at(),
            updated_at: at(),
        }
    }

    #[test]
    fn a_silence_is_one_event_per_company_and_a_later_silence_another() {
        let after = Duration::from_secs(1800);
        let first = clock_silent(&clock(vec![1, 2], Some(at())), after);
        assert_eq!(
            first
                .iter()
                .map(|e| e.company_id.map(|c| c.0))
                .collect::<Vec<_>>(),
            [Some(1), Some(2)]
        );
        assert_eq!(
            first[0].occurred_at,
            at() + chrono::TimeDelta::seconds(1800)
        );
        assert_ne!(first[0].event_id, first[1].event_id);
        let seen_again = clock_silent(&clock(vec![1, 2], Some(at())), after);
        assert_eq!(first, seen_again, "the same silence is the same events");
        let later = clock_silent(
            &clock(vec![1, 2], Some(at() + chrono::TimeDelta::hours(2))),
            after,
        );
        assert_ne!(first[0].event_id, later[0].event_id);
        // A clock of no company (never seen: quiet since it was last changed).
        let none = clock_silent(&clock(Vec::new(), None), after);
        assert_eq!(none.len(), 1);
        assert_eq!(none[0].company_id, None);
    }

    #[test]
    fn a_pending_clock_says_where_it_called_from() {
        let event = clock_pending(&clock(Vec::new(), Some(at())), Some("10.0.0.7"), at());
        assert_eq!(event.company_id, None);
        assert_eq!(
            serde_json::to_value(&event).unwrap()["data"],
            serde_json::json!({ "clock_id": 4, "serial_number": "CKJ4201",
                "last_seen_at": "2026-11-05T10:00:00Z", "address": "10.0.0.7" })
        );
        let failed = import_failed(3, "r.csv", "the report has no data rows", at());
        assert_eq!(failed.company_id, None);
        assert_eq!(failed.event.type_name(), "import.failed");
    }
}
