use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Date, Integer, Jsonb, Nullable, Text};
use diesel_async::RunQueryDsl;
use domain::{DeliveryState, RowDeliveryState};

use super::{Conn, QueryResult};
use crate::schema::{import_rows, punches};

/// A stored row, with the delivery state of its punches worked out from their states.
#[derive(Debug, Clone, QueryableByName, serde::Serialize, utoipa::ToSchema)]
pub struct StoredRow {
    /// The line number a text editor shows.
    #[diesel(sql_type = Integer)]
    pub line: i32,
    /// The row's cells as the file had them; null once the raw values are no longer kept.
    #[diesel(sql_type = Nullable<Jsonb>)]
    #[schema(value_type = Option<Vec<String>>)]
    pub raw: Option<serde_json::Value>,
    #[diesel(sql_type = Text)]
    #[schema(value_type = crate::api::RowOutcome)]
    pub outcome: String,
    #[diesel(sql_type = Jsonb)]
    #[schema(value_type = Vec<crate::api::RowIssueView>)]
    pub errors: serde_json::Value,
    #[diesel(sql_type = Jsonb)]
    #[schema(value_type = Vec<crate::api::RowIssueView>)]
    pub warnings: serde_json::Value,
    #[diesel(sql_type = Text)]
    pub department: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub company_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    pub employee_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub bayzat_emp_id: Option<String>,
    #[diesel(sql_type = Nullable<Date>)]
    pub work_date: Option<NaiveDate>,
    #[diesel(sql_type = Jsonb)]
    #[schema(value_type = Vec<crate::api::PunchView>)]
    pub punches: serde_json::Value,
    #[diesel(sql_type = Bool)]
    pub queued: bool,
    #[diesel(sql_type = Integer)]
    pub duplicate_punches: i32,
    /// failed, syncing, pending, synced or skipped; null for a row with nothing queued yet.
    #[diesel(sql_type = Nullable<Text>)]
    #[schema(value_type = Option<crate::api::RowDeliveryState>)]
    pub delivery_state: Option<String>,
    /// The punches' states, e.g. "retry_wait", "paused: …": what `pending` stands for.
    #[diesel(sql_type = Nullable<Text>)]
    pub delivery_detail: Option<String>,
}

/// Filters of an import's rows.
#[derive(Debug, Clone, Default)]
pub struct RowFilter {
    pub outcome: Option<String>,
    pub error_code: Option<String>,
    pub company_id: Option<i64>,
    pub employee_id: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub delivery_state: Option<String>,
    /// Only rows of these companies (`None`: every row), and with `unassigned` also the rows of
    /// no company (unmapped departments, rows refused for the uploader's scope).
    pub company_ids: Option<Vec<i64>>,
    pub unassigned: bool,
}

/// The row-level delivery state of docs/architecture.md#who-owns-what, worst first, from the punches' states. A row
/// whose punches all belong to earlier imports is skipped; a valid row not queued has none.
/// [`export_page`] works out the same for the rows it reads ([`delivery_of`]): a change here
/// goes there too.
const ROWS_WITH_STATE: &str = "
    WITH rows AS (
      SELECT r.*,
        cardinality(r.known_punch_ids) AS duplicate_punches,
        d.detail,
        CASE
          WHEN r.outcome <> 'valid' THEN NULL
          WHEN cardinality(r.punch_ids) = 0 THEN 'skipped'
          WHEN NOT r.queued THEN NULL
          WHEN d.states && ARRAY['failed', 'rejected'] THEN 'failed'
          WHEN d.states && ARRAY['sending'] THEN 'syncing'
          WHEN d.states && ARRAY['new', 'queued', 'pending', 'scheduled', 'held', 'paused', 'retry_wait'] THEN 'pending'
          WHEN d.states <@ ARRAY['cancelled'] THEN 'skipped'
          ELSE 'synced'
        END AS delivery_state
      FROM import.import_rows r
      LEFT JOIN LATERAL (
        SELECT array_agg(DISTINCT p.state) AS states,
               string_agg(DISTINCT p.state || COALESCE(': ' || p.error, ''), '; ') AS detail
        FROM import.punches p WHERE p.id = ANY(r.punch_ids)
      ) d ON true
      WHERE r.import_id = $1
    )
    SELECT line, raw, outcome, errors, warnings, department, company_id, employee_id, bayzat_emp_id,
      work_date, punches, queued, duplicate_punches::int AS duplicate_punches, delivery_state,
      CASE WHEN delivery_state IN ('pending', 'failed') THEN detail END AS delivery_detail
    FROM rows
    WHERE ($2::text IS NULL OR outcome = $2)
      AND ($3::text IS NULL OR errors @> jsonb_build_array(jsonb_build_object('code', $3::text)))
      AND ($4::bigint IS NULL OR company_id = $4)
      AND ($5::text IS NULL OR employee_id = $5)
      AND ($6::date IS NULL OR work_date >= $6)
      AND ($7::date IS NULL OR work_date <= $7)
      AND ($8::text IS NULL OR delivery_state = $8)
      AND ($9::bigint[] IS NULL OR company_id = ANY($9) OR ($10 AND company_id IS NULL))";

/// One page of an import's rows by the filters that need no delivery state.
const PAGE_OF_ROWS: &str = "FROM (SELECT * FROM import.import_rows
      WHERE import_id = $1
        AND ($2::text IS NULL OR outcome = $2)
        AND ($3::text IS NULL OR errors @> jsonb_build_array(jsonb_build_object('code', $3::text)))
        AND ($4::bigint IS NULL OR company_id = $4)
        AND ($5::text IS NULL OR employee_id = $5)
        AND ($6::date IS NULL OR work_date >= $6)
        AND ($7::date IS NULL OR work_date <= $7)
        AND ($9::bigint[] IS NULL OR company_id = ANY($9) OR ($10 AND company_id IS NULL))
      ORDER BY line OFFSET $11 LIMIT $12) r";

/// A page of an import's rows in line order, with the total that match.
pub async fn page(
    conn: &mut Conn,
    import_id: i64,
    filter: &RowFilter,
    offset: i64,
    limit: i64,
) -> QueryResult<(Vec<StoredRow>, i64)> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        count: i64,
    }
    macro_rules! filtered {
        ($sql:expr) => {
            diesel::sql_query($sql)
                .bind::<BigInt, _>(import_id)
                .bind::<Nullable<Text>, _>(filter.outcome.clone())
                .bind::<Nullable<Text>, _>(filter.error_code.clone())
                .bind::<Nullable<BigInt>, _>(filter.company_id)
                .bind::<Nullable<Text>, _>(filter.employee_id.clone())
                .bind::<Nullable<Date>, _>(filter.from)
                .bind::<Nullable<Date>, _>(filter.to)
                .bind::<Nullable<Text>, _>(filter.delivery_state.clone())
                .bind::<Nullable<Array<BigInt>>, _>(filter.company_ids.clone())
                .bind::<Bool, _>(filter.unassigned)
        };
    }
    let total: Count = filtered!(format!(
        "SELECT count(*) AS count FROM ({ROWS_WITH_STATE}) counted"
    ))
    .get_result(conn)
    .await?;
    // Without a delivery-state filter the page is cut from the rows first, so a late page does
    // not work out the state of every row before it.
    let sql = match filter.delivery_state {
        Some(_) => format!("{ROWS_WITH_STATE} ORDER BY line OFFSET $11 LIMIT $12"),
        None => format!(
            "{} ORDER BY line",
            ROWS_WITH_STATE.replace("FROM import.import_rows r", PAGE_OF_ROWS)
        ),
    };
    let items = filtered!(sql)
        .bind::<BigInt, _>(offset)
        .bind::<BigInt, _>(limit)
        .load(conn)
        .await?;
    Ok((items, total.count))
}

/// The next rows of an import after line `after`, in line order, at most `limit` of them read:
/// a page of the export, which goes through an import of any size a page at a time, each page
/// found by the key (import, line) rather than by skipping the rows before it. Fewer rows than
/// were read come back when the filter asks for a delivery state.
pub async fn export_page(
    conn: &mut Conn,
    import_id: i64,
    filter: &RowFilter,
    after: i32,
    limit: i64,
) -> QueryResult<ExportPage> {
    let mut query = import_rows::table
        .filter(import_rows::import_id.eq(import_id))
        .filter(import_rows::line.gt(after))
        .order(import_rows::line.asc())
        .limit(limit)
        .select(StoredCells::as_select())
        .into_boxed();
    if let Some(outcome) = &filter.outcome {
        query = query.filter(import_rows::outcome.eq(outcome.clone()));
    }
    if let Some(code) = &filter.error_code {
        query = query.filter(import_rows::errors.contains(serde_json::json!([{ "code": code }])));
    }
    if let Some(company_id) = filter.company_id {
        query = query.filter(import_rows::company_id.eq(company_id));
    }
    if let Some(employee_id) = &filter.employee_id {
        query = query.filter(import_rows::employee_id.eq(employee_id.clone()));
    }
    if let Some(from) = filter.from {
        query = query.filter(import_rows::work_date.ge(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(import_rows::work_date.le(to));
    }
    if let Some(company_ids) = &filter.company_ids {
        query = if filter.unassigned {
            query.filter(
                import_rows::company_id
                    .eq_any(company_ids.clone())
                    .or(import_rows::company_id.is_null()),
            )
        } else {
            query.filter(import_rows::company_id.eq_any(company_ids.clone()))
        };
    }
    let cells: Vec<StoredCells> = query.load(conn).await?;
    let read = cells.len();
    let Some(last) = cells.last().map(|row| row.line) else {
        return Ok(ExportPage {
            rows: Vec::new(),
            last: None,
        });
    };

    // The states of the page's own punches, for the rows that have a delivery state.
    let ids: Vec<i64> = cells
        .iter()
        .filter(|row| row.outcome == "valid" && row.queued)
        .flat_map(|row| row.punch_ids.iter().copied())
        .collect();
    let states: HashMap<i64, (String, Option<String>)> = if ids.is_empty() {
        HashMap::new()
    } else {
        punches::table
            .filter(punches::id.eq_any(ids))
            .select((punches::id, punches::state, punches::error))
            .load::<(i64, String, Option<String>)>(conn)
            .await?
            .into_iter()
            .map(|(id, state, error)| (id, (state, error)))
            .collect()
    };
    let rows = cells
        .into_iter()
        .map(|row| {
            let (delivery_state, delivery_detail) =
                delivery_of(&row.outcome, &row.punch_ids, row.queued, &states);
            StoredRow {
                line: row.line,
                raw: row.raw,
                outcome: row.outcome,
                errors: row.errors,
                warnings: row.warnings,
                department: row.department,
                company_id: row.company_id,
                employee_id: row.employee_id,
                bayzat_emp_id: row.bayzat_emp_id,
                work_date: row.work_date,
                punches: row.punches,
                queued: row.queued,
                duplicate_punches: i32::try_from(row.known_punch_ids.len()).unwrap_or(i32::MAX),
                delivery_state,
                delivery_detail,
            }
        })
        .filter(|row| {
            filter.delivery_state.is_none() || row.delivery_state == filter.delivery_state
        })
        .collect();
    // A short page was the last.
    let full = i64::try_from(read).unwrap_or(i64::MAX) >= limit;
    Ok(ExportPage {
        rows,
        last: full.then_some(last),
    })
}

/// A page of the export.
#[derive(Debug)]
pub struct ExportPage {
    /// The rows read that match every filter, in line order.
    pub rows: Vec<StoredRow>,
    /// The last line read, where the next page starts; `None` once every row was read.
    pub last: Option<i32>,
}

/// A row as stored, before its delivery state is worked out.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = import_rows)]
#[diesel(check_for_backend(diesel::pg::Pg))]
struct StoredCells {
    line: i32,
    raw: Option<serde_json::Value>,
    outcome: String,
    errors: serde_json::Value,
    warnings: serde_json::Value,
    department: String,
    company_id: Option<i64>,
    employee_id: Option<String>,
    bayzat_emp_id: Option<String>,
    work_date: Option<NaiveDate>,
    punches: serde_json::Value,
    punch_ids: Vec<i64>,
    known_punch_ids: Vec<i64>,
    queued: bool,
}

/// A row's delivery state and, when pending or failed, its punches' distinct states (with their
/// errors): what [`ROWS_WITH_STATE`] works out in SQL, from the states of the punches read.
fn delivery_of(
    outcome: &str,
    punch_ids: &[i64],
    queued: bool,
    states: &HashMap<i64, (String, Option<String>)>,
) -> (Option<String>, Option<String>) {
    if outcome != "valid" {
        return (None, None);
    }
    if punch_ids.is_empty() {
        return (Some(RowDeliveryState::Skipped.as_str().to_owned()), None);
    }
    if !queued {
        return (None, None);
    }
    let own: Vec<&(String, Option<String>)> =
        punch_ids.iter().filter_map(|id| states.get(id)).collect();
    let state = own
        .iter()
        .map(|(state, _)| match state.as_str() {
            // Not handed to sync-service yet: on its way all the same.
            "new" | "queued" => RowDeliveryState::Pending,
            // A state the rules do not name says nothing against the row, as in the SQL.
            other => other
                .parse::<DeliveryState>()
                .map_or(RowDeliveryState::Synced, DeliveryState::row_state),
        })
        .min()
        .unwrap_or(RowDeliveryState::Synced);
    let detail = matches!(state, RowDeliveryState::Pending | RowDeliveryState::Failed).then(|| {
        own.iter()
            .map(|(state, error)| match error {
                Some(error) => format!("{state}: {error}"),
                None => state.clone(),
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
            .join("; ")
    });
    (Some(state.as_str().to_owned()), detail)
}

/// An import's rows of some companies counted: what a token limited to them is told.
#[derive(Debug, Clone, Default, QueryableByName)]
pub struct RowCounts {
    #[diesel(sql_type = BigInt)]
    pub valid: i64,
    #[diesel(sql_type = BigInt)]
    pub invalid: i64,
    #[diesel(sql_type = BigInt)]
    pub skipped: i64,
    /// Punches of the rows that are this import's (new ones and repeats within the file).
    #[diesel(sql_type = BigInt)]
    pub own_punches: i64,
    /// Punches of the rows stored by earlier imports.
    #[diesel(sql_type = BigInt)]
    pub known_punches: i64,
}

/// Counts the import's rows of `company_ids` (and, with `unassigned`, of no company).
pub async fn counts(
    conn: &mut Conn,
    import_id: i64,
    company_ids: &[i64],
    unassigned: bool,
) -> QueryResult<RowCounts> {
    diesel::sql_query(
        "SELECT count(*) FILTER (WHERE outcome = 'valid') AS valid, \
                count(*) FILTER (WHERE outcome = 'invalid') AS invalid, \
                count(*) FILTER (WHERE outcome = 'skipped') AS skipped, \
                COALESCE(sum(cardinality(punch_ids)), 0)::bigint AS own_punches, \
                COALESCE(sum(cardinality(known_punch_ids)), 0)::bigint AS known_punches \
         FROM import.import_rows \
         WHERE import_id = $1 AND (company_id = ANY($2) OR ($3 AND company_id IS NULL))",
    )
    .bind::<BigInt, _>(import_id)
    .bind::<Array<BigInt>, _>(company_ids)
    .bind::<Bool, _>(unassigned)
    .get_result(conn)
    .await
}

/// The companies the import's rows belong to.
pub async fn companies(conn: &mut Conn, import_id: i64) -> QueryResult<Vec<i64>> {
    #[derive(QueryableByName)]
    struct Company {
        #[diesel(sql_type = BigInt)]
        company_id: i64,
    }
    let companies: Vec<Company> = diesel::sql_query(
        "SELECT DISTINCT company_id FROM import.import_rows \
         WHERE import_id = $1 AND company_id IS NOT NULL ORDER BY company_id",
    )
    .bind::<BigInt, _>(import_id)
    .load(conn)
    .await?;
    Ok(companies.into_iter().map(|c| c.company_id).collect())
}

/// Removes raw values (names) of rows of imports older than `days`; outcomes and punches stay.
pub async fn forget_raw_older_than(conn: &mut Conn, days: u32) -> QueryResult<usize> {
    diesel::sql_query(
        "UPDATE import.import_rows r SET raw = NULL FROM import.imports i \
         WHERE r.import_id = i.id AND r.raw IS NOT NULL AND i.created_at < now() - make_interval(days => $1)",
    )
    .bind::<Integer, _>(i32::try_from(days).unwrap_or(i32::MAX))
    .execute(conn)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rows_delivery_state_is_its_worst_punchs() {
        let states: HashMap<i64, (String, Option<String>)> = [
            (1, ("new", None)),
            (2, ("queued", None)),
            (3, ("delivered", None)),
            (4, ("cancelled", None)),
            (5, ("sending", None)),
            (6, ("retry_wait", Some("HTTP 503"))),
            (7, ("failed", Some("HTTP 500"))),
            (8, ("rejected", Some("unknown empId"))),
            (9, ("paused", None)),
        ]
        .into_iter()
        .map(|(id, (state, error))| (id, (state.to_owned(), error.map(str::to_owned))))
        .collect();
        let of = |outcome, ids: &[i64], queued| {
            let (state, detail) = delivery_of(outcome, ids, queued, &states);
            (state.unwrap_or_default(), detail.unwrap_or_default())
        };
        let cases: &[(&str, &[i64], bool, &str, &str)] = &[
            ("invalid", &[1], true, "", ""),
            ("skipped", &[], false, "", ""),
            ("valid", &[], true, "skipped", ""),
            ("valid", &[1], false, "", ""),
            ("valid", &[1, 2], true, "pending", "new; queued"),
            ("valid", &[3], true, "synced", ""),
            ("valid", &[3, 4], true, "synced", ""),
            ("valid", &[4, 4], true, "skipped", ""),
            ("valid", &[3, 5, 6], true, "syncing", ""),
            (
                "valid",
                &[9, 6, 3],
                true,
                "pending",
                "delivered; paused; retry_wait: HTTP 503",
            ),
            (
                "valid",
                &[8, 5, 7],
                true,
                "failed",
                "failed: HTTP 500; rejected: unknown empId; sending",
            ),
            // Punches not found say nothing against the row.
            ("valid", &[99], true, "synced", ""),
        ];
        for &(outcome, ids, queued, state, detail) in cases {
            assert_eq!(
                of(outcome, ids, queued),
                (state.to_owned(), detail.to_owned()),
                "{outcome} {ids:?} queued={queued}"
            );
        }
    }
}
