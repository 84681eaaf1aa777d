//! The write transaction of an import, a reprocess or a release, on a Postgres connection of its
//! own. Rows and punches go in with binary COPY (which diesel-async does not offer), in the same
//! transaction as the import's counts and its outbox messages: an import is stored whole or not
//! at all.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use futures_util::pin_mut;
use report::{ImportSummary, Punch, RowIssue};
use serde::ser::{Serialize, SerializeSeq, Serializer};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{Json, Type};
use tokio_postgres::{Client, NoTls};
use uuid::Uuid;

use crate::queueing::{Queued, ReadyMessages};
use crate::store::punches::of_import;
use crate::SCHEMA;

pub type TxResult<T> = Result<T, TxError>;

/// Why a write transaction failed.
#[derive(Debug, thiserror::Error)]
pub enum TxError {
    #[error("database: {}", describe(.0))]
    Database(#[from] tokio_postgres::Error),
    #[error("outbox: {0}")]
    Outbox(Box<dyn std::error::Error + Send + Sync>),
    /// A message for the outbox could not be built.
    #[error("building a message: {0}")]
    Message(#[from] diesel::result::Error),
}

impl TxError {
    /// Whether the database was away (the same work is expected to succeed shortly) or
    /// something else went wrong.
    pub fn failure(&self) -> db::Failure {
        match self {
            TxError::Database(error) => failure_of(error),
            TxError::Outbox(error) => match error.downcast_ref::<tokio_postgres::Error>() {
                Some(error) => failure_of(error),
                None => db::Failure::Defect,
            },
            TxError::Message(error) => db::failure_of(error),
        }
    }
}

/// What a failure of the transaction's own connection means, as `db::failure_of` says for the
/// pool's: no answer from the server (it could not be reached, the connection went), or an
/// answer that ends the session or the transaction through no fault of the work (SQLSTATE
/// class 08 connection exceptions, 57P operator interventions such as a terminated backend or
/// a shutdown, 53300 too many connections, 40001 and 40P01 lost races, 25006 a read-only
/// standby after a failover) is the database being away; anything else is a defect.
pub fn failure_of(error: &tokio_postgres::Error) -> db::Failure {
    use db::Failure;
    if error.is_closed() {
        return Failure::Unavailable;
    }
    if let Some(answer) = error.as_db_error() {
        let code = answer.code().code();
        let unavailable = code.starts_with("08")
            || code.starts_with("57P")
            || matches!(code, "53300" | "40001" | "40P01" | "25006");
        return if unavailable {
            Failure::Unavailable
        } else {
            Failure::Defect
        };
    }
    // Connecting, reading or writing failed on the socket (refused, reset, timed out).
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if cause.is::<std::io::Error>() {
            return Failure::Unavailable;
        }
        source = cause.source();
    }
    Failure::Defect
}

/// What Postgres said, rather than tokio-postgres's bare "db error".
fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => db.to_string(),
        None => error.to_string(),
    }
}

/// How long connecting may take (unless the database URL says otherwise).
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Rows fetched at a time when a stored set is read back in order.
const FETCH_ROWS: i64 = 10_000;

/// One open transaction. Dropping it without [`ImportTx::commit`] closes the connection, which
/// rolls the transaction back.
pub struct ImportTx {
    client: Client,
    /// Where the connection goes (to be kept for the next transaction there).
    database_url: String,
}

/// How a transaction begins on its connection: every transaction that adds punches holds one
/// advisory lock until it ends.
const BEGIN: &str =
    "SET TIME ZONE 'UTC'; BEGIN; SELECT pg_advisory_xact_lock(hashtext('import.punches'))";

/// Connections kept open at most, per database, between transactions.
const MAX_IDLE: usize = 4;

/// Connections of transactions that ended cleanly, by database URL, for the next transaction.
/// A connection opened per transaction was a fresh server process each time, whose first reads
/// of every table and statement (catalog lookups, plans) ran under the writers' lock: a clock's
/// upload of a few lines cost tens of milliseconds there, and uploads of many clocks queued
/// behind each other for seconds.
static IDLE: std::sync::Mutex<Vec<(String, Client)>> = std::sync::Mutex::new(Vec::new());

fn take_idle(database_url: &str) -> Option<Client> {
    let mut idle = IDLE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let at = idle.iter().rposition(|(url, _)| url == database_url)?;
    Some(idle.swap_remove(at).1)
}

fn keep_idle(database_url: String, client: Client) {
    if client.is_closed() {
        return;
    }
    let mut idle = IDLE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    idle.retain(|(_, c)| !c.is_closed());
    if idle.iter().filter(|(url, _)| *url == database_url).count() < MAX_IDLE {
        idle.push((database_url, client));
    }
}

impl ImportTx {
    /// Begins, on a connection kept from an earlier transaction or a new one. Every transaction
    /// that adds punches holds one advisory lock until it ends: punches are looked up before
    /// they are copied in and their ids are reserved in blocks, so two such transactions at once
    /// could each miss what the other is adding.
    pub async fn begin(database_url: &str) -> TxResult<Self> {
        // A kept connection the server closed meanwhile (a restart) is dropped for a new one,
        // found out by a statement before the transaction: a failure once it began (its
        // backend terminated while it waits on the lock) is the transaction's, not retried.
        while let Some(client) = take_idle(database_url) {
            if client.is_closed() || client.batch_execute("SET TIME ZONE 'UTC'").await.is_err() {
                continue;
            }
            client.batch_execute(BEGIN).await?;
            return Ok(Self {
                client,
                database_url: database_url.to_owned(),
            });
        }
        let mut config: tokio_postgres::Config = database_url.parse()?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let (client, connection) = config.connect(NoTls).await?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::warn!(%error, "import transaction connection closed");
            }
        });
        client.batch_execute(BEGIN).await?;
        Ok(Self {
            client,
            database_url: database_url.to_owned(),
        })
    }

    /// The transaction's connection, for a statement that must commit with the rows (a pull's
    /// cursor).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Commits; the connection is kept for the next transaction.
    pub async fn commit(self) -> TxResult<()> {
        self.client.batch_execute("COMMIT").await?;
        keep_idle(self.database_url, self.client);
        Ok(())
    }

    pub async fn rollback(self) {
        // Closing the connection (dropping the client) rolls back what the ROLLBACK did not.
        match self.client.batch_execute("ROLLBACK").await {
            Ok(()) => keep_idle(self.database_url, self.client),
            Err(error) => {
                tracing::warn!(error = %describe(&error), "rolling back an import transaction failed; its connection closes");
            }
        }
    }

    /// Writes messages to the outbox in this transaction.
    pub async fn enqueue(&self, messages: &[bus::Outgoing]) -> TxResult<()> {
        outbox::enqueue_with_client(&self.client, SCHEMA, messages)
            .await
            .map_err(TxError::Outbox)
    }

    /// Punches already stored for these employees in these time windows (`from` inclusive,
    /// `until` exclusive), by any import, this one included.
    pub async fn stored_punches(&self, windows: &Windows<'_>) -> TxResult<Vec<StoredPunch>> {
        if windows.company_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self
            .client
            .query(
                // LATERAL keeps this one index range scan per employee: a join the planner
                // may choose instead would read the whole table for every batch.
                "SELECT p.id, p.company_id, p.emp_id, p.punch_time, p.import_id \
                 FROM UNNEST($1::bigint[], $2::text[], $3::timestamp[], $4::timestamp[]) \
                   AS w(company_id, emp_id, from_time, until_time) \
                 CROSS JOIN LATERAL ( \
                   SELECT id, company_id, emp_id, punch_time, import_id FROM import.punches \
                   WHERE company_id = w.company_id AND emp_id = w.emp_id \
                     AND punch_time >= w.from_time AND punch_time < w.until_time) p",
                &[
                    &windows.company_ids,
                    &windows.emp_ids,
                    &windows.from,
                    &windows.until,
                ],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredPunch {
                    id: row.try_get(0)?,
                    company_id: row.try_get(1)?,
                    emp_id: row.try_get(2)?,
                    time: row.try_get(3)?,
                    import_id: row.try_get(4)?,
                })
            })
            .collect()
    }

    /// The recorded spans (company, first and last punch time) of imports' punches of these
    /// companies that reach into `[from, until)`: of every import stored before, and of this one
    /// as it was before this transaction (a reprocess).
    pub async fn stored_spans(
        &self,
        company_ids: &[i64],
        from: NaiveDateTime,
        until: NaiveDateTime,
    ) -> TxResult<Vec<(i64, NaiveDateTime, NaiveDateTime)>> {
        let rows = self
            .client
            .query(
                "SELECT company_id, first_time, last_time FROM import.import_spans \
                 WHERE company_id = ANY($1) AND first_time < $3 AND last_time >= $2",
                &[&company_ids, &from, &until],
            )
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
            .collect()
    }

    /// Widens the import's spans to take in these (company, first, last punch time).
    pub async fn record_spans(
        &self,
        import_id: i64,
        spans: &[(i64, NaiveDateTime, NaiveDateTime)],
    ) -> TxResult<()> {
        if spans.is_empty() {
            return Ok(());
        }
        let companies: Vec<i64> = spans.iter().map(|s| s.0).collect();
        let first: Vec<NaiveDateTime> = spans.iter().map(|s| s.1).collect();
        let last: Vec<NaiveDateTime> = spans.iter().map(|s| s.2).collect();
        self.client
            .execute(
                "INSERT INTO import.import_spans AS s (import_id, company_id, first_time, last_time) \
                 SELECT $1, c, f, l FROM UNNEST($2::bigint[], $3::timestamp[], $4::timestamp[]) AS u(c, f, l) \
                 ON CONFLICT (import_id, company_id) DO UPDATE SET \
                   first_time = LEAST(s.first_time, EXCLUDED.first_time), \
                   last_time = GREATEST(s.last_time, EXCLUDED.last_time)",
                &[&import_id, &companies, &first, &last],
            )
            .await?;
        Ok(())
    }

    /// Records that the import owns these ranges of punch ids (see [`ImportTx::reserve_punch_ids`]):
    /// how its punches are found.
    pub async fn record_punch_ids(&self, import_id: i64, ranges: &[(i64, i64)]) -> TxResult<()> {
        if ranges.is_empty() {
            return Ok(());
        }
        let (first, last): (Vec<i64>, Vec<i64>) = ranges.iter().copied().unzip();
        self.client
            .execute(
                "INSERT INTO import.import_punch_ids (import_id, first_id, last_id) \
                 SELECT $1, f, l FROM UNNEST($2::bigint[], $3::bigint[]) AS u(f, l)",
                &[&import_id, &first, &last],
            )
            .await?;
        Ok(())
    }

    /// Reserves `count` punch ids; returns the first (they are consecutive). Safe under the
    /// transaction's lock: nothing else takes punch ids meanwhile.
    pub async fn reserve_punch_ids(&self, count: usize) -> TxResult<i64> {
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        let row = self
            .client
            .query_one(
                "SELECT setval(pg_get_serial_sequence('import.punches', 'id'), \
                   nextval(pg_get_serial_sequence('import.punches', 'id')) + $1 - 1)",
                &[&count],
            )
            .await?;
        let last: i64 = row.try_get(0)?;
        Ok(last - count + 1)
    }

    pub async fn copy_punches(&self, import_id: i64, punches: &[NewPunch<'_>]) -> TxResult<()> {
        if punches.is_empty() {
            return Ok(());
        }
        let sink = self
            .client
            .copy_in(
                "COPY import.punches (id, company_id, emp_id, punch_time, punch_type, import_id, \
                   line, state, state_at, batch_id) FROM STDIN (FORMAT binary)",
            )
            .await?;
        let writer = BinaryCopyInWriter::new(
            sink,
            &[
                Type::INT8,
                Type::INT8,
                Type::TEXT,
                Type::TIMESTAMP,
                Type::TEXT,
                Type::INT8,
                Type::INT4,
                Type::TEXT,
                Type::TIMESTAMPTZ,
                Type::UUID,
            ],
        );
        pin_mut!(writer);
        for p in punches {
            writer
                .as_mut()
                .write(&[
                    &p.id,
                    &p.company_id,
                    &p.emp_id,
                    &p.time,
                    &p.punch_type,
                    &import_id,
                    &p.line,
                    &p.state,
                    &p.state_at,
                    &p.batch_id,
                ])
                .await?;
        }
        writer.finish().await?;
        Ok(())
    }

    pub async fn copy_rows(&self, import_id: i64, rows: &[NewRow<'_>]) -> TxResult<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let sink = self
            .client
            .copy_in(
                "COPY import.import_rows (import_id, line, raw, outcome, errors, warnings, department, \
                   company_id, employee_id, bayzat_emp_id, work_date, punches, punch_ids, \
                   known_punch_ids, queued) FROM STDIN (FORMAT binary)",
            )
            .await?;
        let writer = BinaryCopyInWriter::new(
            sink,
            &[
                Type::INT8,
                Type::INT4,
                Type::JSONB,
                Type::TEXT,
                Type::JSONB,
                Type::JSONB,
                Type::TEXT,
                Type::INT8,
                Type::TEXT,
                Type::TEXT,
                Type::DATE,
                Type::JSONB,
                Type::INT8_ARRAY,
                Type::INT8_ARRAY,
                Type::BOOL,
            ],
        );
        pin_mut!(writer);
        for r in rows {
            writer
                .as_mut()
                .write(&[
                    &import_id,
                    &r.line,
                    &Json(r.raw),
                    &r.outcome,
                    &Json(r.errors),
                    &Json(&r.warnings),
                    &r.department,
                    &r.company_id,
                    &r.employee_id,
                    &r.bayzat_emp_id,
                    &r.work_date,
                    &Json(r.punches),
                    &r.punch_ids,
                    &r.known_punch_ids,
                    &r.queued,
                ])
                .await?;
        }
        writer.finish().await?;
        Ok(())
    }

    /// Queues every punch of the import not queued yet (state `new`), one batch per company, and
    /// marks the valid rows queued. Reads the punches back in id order a page at a time, so
    /// memory does not grow with the import.
    pub async fn queue_new_punches(&self, import_id: i64) -> TxResult<Vec<Queued>> {
        let ranges: Vec<(i64, i64)> = self
            .client
            .query(
                "SELECT first_id, last_id FROM import.import_punch_ids WHERE import_id = $1 \
                 ORDER BY first_id",
                &[&import_id],
            )
            .await?
            .iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect::<Result<_, tokio_postgres::Error>>()?;
        let punches_of_import = of_import(&ranges);
        let companies: Vec<i64> = self
            .client
            .query(
                format!(
                    "SELECT DISTINCT p.company_id FROM import.punches p \
                     WHERE {punches_of_import} AND p.state = 'new' ORDER BY p.company_id"
                )
                .as_str(),
                &[&import_id],
            )
            .await?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()?;
        let batches: Vec<Uuid> = companies.iter().map(|_| Uuid::now_v7()).collect();
        let mut messages = ReadyMessages::new(import_id);
        if !companies.is_empty() {
            self.client
                .execute(
                    format!(
                        "UPDATE import.punches p SET state = 'queued', batch_id = b.batch_id, \
                           state_at = now() \
                         FROM UNNEST($2::bigint[], $3::uuid[]) AS b(company_id, batch_id) \
                         WHERE {punches_of_import} AND p.company_id = b.company_id \
                           AND p.state = 'new'"
                    )
                    .as_str(),
                    &[&import_id, &companies, &batches],
                )
                .await?;
            self.client
                .execute(
                    format!(
                        "DECLARE queued_punches NO SCROLL CURSOR FOR \
                         SELECT p.company_id, p.batch_id, p.id FROM import.punches p \
                         WHERE {punches_of_import} AND p.batch_id = ANY($2::uuid[]) \
                         ORDER BY p.id"
                    )
                    .as_str(),
                    &[&import_id, &batches],
                )
                .await?;
            loop {
                let page = self
                    .client
                    .query(
                        format!("FETCH {FETCH_ROWS} FROM queued_punches").as_str(),
                        &[],
                    )
                    .await?;
                for row in &page {
                    messages.push(row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)?;
                }
                self.enqueue(&messages.take_done()).await?;
                if page.len() < usize::try_from(FETCH_ROWS).unwrap_or(usize::MAX) {
                    break;
                }
            }
            self.client.batch_execute("CLOSE queued_punches").await?;
        }
        let (rest, queued) = messages.finish()?;
        self.enqueue(&rest).await?;
        self.client
            .execute(
                "UPDATE import.import_rows SET queued = true \
                 WHERE import_id = $1 AND outcome = 'valid' AND NOT queued",
                &[&import_id],
            )
            .await?;
        Ok(queued)
    }

    /// A page of the import's rows not queued yet (invalid rows, and valid rows held back by
    /// strict or hold), in line order after `after_line`: each line and its cells (`None` once
    /// retention removed them).
    pub async fn unqueued_rows(
        &self,
        import_id: i64,
        after_line: i32,
        limit: i64,
    ) -> TxResult<Vec<(i32, Option<Vec<String>>)>> {
        let rows = self
            .client
            .query(
                "SELECT line, raw FROM import.import_rows \
                 WHERE import_id = $1 AND line > $2 AND NOT queued AND outcome <> 'skipped' \
                 ORDER BY line LIMIT $3",
                &[&import_id, &after_line, &limit],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let raw: Option<Json<Vec<String>>> = row.try_get(1)?;
                Ok((row.try_get(0)?, raw.map(|r| r.0)))
            })
            .collect()
    }

    pub async fn delete_rows(&self, import_id: i64, lines: &[i32]) -> TxResult<()> {
        self.client
            .execute(
                "DELETE FROM import.import_rows WHERE import_id = $1 AND line = ANY($2)",
                &[&import_id, &lines],
            )
            .await?;
        Ok(())
    }

    /// Where rows appended to the import stand: the line after its last, its counts and lists as
    /// committed (under the transaction's lock nothing else adds rows meanwhile). Read through
    /// the primary key and the import's row, whatever the number of its rows: a clock's day
    /// import grows with every upload. `None` when there is no such import.
    pub async fn appending(&self, import_id: i64) -> TxResult<Option<Appending>> {
        let row = self
            .client
            .query_opt(
                "SELECT COALESCE((SELECT max(r.line) FROM import.import_rows r \
                   WHERE r.import_id = i.id), 0), \
                   i.successful_records, i.failed_records, i.skipped_records, \
                   i.unknown_employees, i.unmapped_departments \
                 FROM import.imports i WHERE i.id = $1",
                &[&import_id],
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(Appending {
            last_line: row.try_get(0)?,
            valid: row.try_get(1)?,
            invalid: row.try_get(2)?,
            skipped: row.try_get(3)?,
            unknown_employees: row.try_get(4)?,
            unmapped_departments: row.try_get(5)?,
        }))
    }

    /// Counts of the import's rows by outcome: (valid, invalid, skipped).
    pub async fn outcome_counts(&self, import_id: i64) -> TxResult<(i64, i64, i64)> {
        let row = self
            .client
            .query_one(
                "SELECT count(*) FILTER (WHERE outcome = 'valid'), \
                        count(*) FILTER (WHERE outcome = 'invalid'), \
                        count(*) FILTER (WHERE outcome = 'skipped') \
                 FROM import.import_rows WHERE import_id = $1",
                &[&import_id],
            )
            .await?;
        Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
    }

    /// Marks the import completed with its counts and where its file is kept.
    pub async fn complete(
        &self,
        import_id: i64,
        total: u64,
        completion: &Completion<'_>,
        file_path: &str,
    ) -> TxResult<()> {
        let total = column(total);
        self.client
            .execute(
                "UPDATE import.imports SET total_records = $2, processed_records = $2, \
                   successful_records = $3, failed_records = $4, skipped_records = $5, \
                   punches_new = $6, duplicate_punches_in_file = $7, duplicate_punches_known = $8, \
                   unmapped_departments = $9, unknown_employees = $10, held_reason = $11, \
                   file_path = $12, status = 'completed', completed_at = now(), updated_at = now() \
                 WHERE id = $1",
                &[
                    &import_id,
                    &total,
                    &completion.valid,
                    &completion.invalid,
                    &completion.skipped,
                    &completion.punches_new,
                    &completion.duplicate_punches_in_file,
                    &completion.duplicate_punches_known,
                    &completion.unmapped_departments,
                    &completion.unknown_employees,
                    &completion.held_reason,
                    &file_path,
                ],
            )
            .await?;
        Ok(())
    }

    /// After a reprocess: the row counts, the punch counts added to, and why it is held.
    pub async fn reprocessed(&self, import_id: i64, completion: &Completion<'_>) -> TxResult<()> {
        self.client
            .execute(
                "UPDATE import.imports SET successful_records = $2, failed_records = $3, \
                   skipped_records = $4, punches_new = punches_new + $5, \
                   duplicate_punches_in_file = duplicate_punches_in_file + $6, \
                   duplicate_punches_known = duplicate_punches_known + $7, \
                   unmapped_departments = $8, unknown_employees = $9, held_reason = $10, \
                   updated_at = now() \
                 WHERE id = $1",
                &[
                    &import_id,
                    &completion.valid,
                    &completion.invalid,
                    &completion.skipped,
                    &completion.punches_new,
                    &completion.duplicate_punches_in_file,
                    &completion.duplicate_punches_known,
                    &completion.unmapped_departments,
                    &completion.unknown_employees,
                    &completion.held_reason,
                ],
            )
            .await?;
        Ok(())
    }

    pub async fn set_held(&self, import_id: i64, held_reason: Option<&str>) -> TxResult<()> {
        self.client
            .execute(
                "UPDATE import.imports SET held_reason = $2, updated_at = now() WHERE id = $1",
                &[&import_id, &held_reason],
            )
            .await?;
        Ok(())
    }
}

/// An import as rows are appended to it ([`ImportTx::appending`]).
#[derive(Debug)]
pub struct Appending {
    pub last_line: i32,
    pub valid: i32,
    pub invalid: i32,
    pub skipped: i32,
    pub unknown_employees: serde_json::Value,
    pub unmapped_departments: serde_json::Value,
}

/// Per employee, the span of time a batch of rows covers.
#[derive(Debug, Default)]
pub struct Windows<'a> {
    pub company_ids: Vec<i64>,
    pub emp_ids: Vec<&'a str>,
    pub from: Vec<NaiveDateTime>,
    pub until: Vec<NaiveDateTime>,
}

/// A punch as stored: its id and the import that first gave it.
#[derive(Debug, Clone)]
pub struct StoredPunch {
    pub id: i64,
    pub company_id: i64,
    pub emp_id: String,
    pub time: NaiveDateTime,
    pub import_id: i64,
}

/// A punch to copy in.
#[derive(Debug, Clone)]
pub struct NewPunch<'a> {
    pub id: i64,
    pub company_id: i64,
    pub emp_id: &'a str,
    pub time: NaiveDateTime,
    pub punch_type: &'static str,
    pub line: i32,
    pub state: &'static str,
    pub state_at: Option<DateTime<Utc>>,
    pub batch_id: Option<Uuid>,
}

/// The warnings of a row: the reader's, and one the import adds.
#[derive(Debug)]
pub struct Warnings<'a> {
    pub read: &'a [RowIssue],
    pub added: Option<RowIssue>,
}

impl Serialize for Warnings<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq =
            serializer.serialize_seq(Some(self.read.len() + usize::from(self.added.is_some())))?;
        for issue in self.read.iter().chain(self.added.as_ref()) {
            seq.serialize_element(issue)?;
        }
        seq.end()
    }
}

/// A row to copy in.
#[derive(Debug)]
pub struct NewRow<'a> {
    pub line: i32,
    pub raw: &'a [String],
    pub outcome: &'static str,
    pub errors: &'a [RowIssue],
    pub warnings: Warnings<'a>,
    pub department: &'a str,
    pub company_id: Option<i64>,
    pub employee_id: Option<&'a str>,
    pub bayzat_emp_id: Option<&'a str>,
    pub work_date: Option<NaiveDate>,
    pub punches: &'a [Punch],
    pub punch_ids: Vec<i64>,
    pub known_punch_ids: Vec<i64>,
    pub queued: bool,
}

/// What an import (or a reprocess) ends with.
#[derive(Debug)]
pub struct Completion<'a> {
    pub valid: i32,
    pub invalid: i32,
    pub skipped: i32,
    pub punches_new: i32,
    pub duplicate_punches_in_file: i32,
    pub duplicate_punches_known: i32,
    pub unmapped_departments: serde_json::Value,
    pub unknown_employees: serde_json::Value,
    pub held_reason: Option<&'a str>,
}

impl<'a> Completion<'a> {
    /// The counts and lists of an import's summary, as the import's columns keep them.
    pub fn of(summary: &ImportSummary, held_reason: Option<&'a str>) -> Self {
        Self {
            valid: column(summary.valid),
            invalid: column(summary.invalid),
            skipped: column(summary.skipped),
            punches_new: column(summary.punches_new),
            duplicate_punches_in_file: column(summary.duplicate_punches_in_file),
            duplicate_punches_known: column(summary.duplicate_punches_known),
            unmapped_departments: unmapped_departments(summary),
            unknown_employees: unknown_employees(summary),
            held_reason,
        }
    }
}

/// A count as an `integer` column holds it.
fn column(count: u64) -> i32 {
    i32::try_from(count).unwrap_or(i32::MAX)
}

/// The departments no company claims, as an import keeps and shows them:
/// `[{"name": "Marketing Dept", "rows": 2}]`, one entry however the department is spelt.
pub fn unmapped_departments(summary: &ImportSummary) -> serde_json::Value {
    serde_json::json!(summary
        .unmapped_departments()
        .into_iter()
        .map(|d| serde_json::json!({ "name": d.name, "rows": d.rows }))
        .collect::<Vec<_>>())
}

/// The employee ids no directory knows, as an import keeps and shows them:
/// `[{"employee_id": "9999", "rows": 1}]`.
pub fn unknown_employees(summary: &ImportSummary) -> serde_json::Value {
    serde_json::json!(summary
        .unknown_employees()
        .into_iter()
        .map(|e| serde_json::json!({ "employee_id": e.name, "rows": e.rows }))
        .collect::<Vec<_>>())
}
