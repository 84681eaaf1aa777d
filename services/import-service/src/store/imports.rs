use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;

use super::{Conn, QueryResult};
use crate::schema::{import_rows, imports};

/// An import as the API shows it (a token limited to some companies sees its companies' counts).
#[derive(Debug, Clone, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = imports)]
pub struct Import {
    pub id: i64,
    pub filename: String,
    #[serde(skip)]
    pub file_path: Option<String>,
    /// Hex SHA-256 of the uploaded bytes.
    pub sha256: String,
    pub size_bytes: i64,
    #[schema(value_type = crate::api::ImportStatus)]
    pub status: String,
    /// The upload options (dry_run, strict, hold, date_order, force).
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
    /// What was learnt about the file: encoding, delimiter, header, columns, date order.
    #[schema(value_type = Option<Object>)]
    pub facts: Option<serde_json::Value>,
    pub total_records: i32,
    pub processed_records: i32,
    pub successful_records: i32,
    pub failed_records: i32,
    pub skipped_records: i32,
    pub punches_new: i32,
    pub duplicate_punches_in_file: i32,
    pub duplicate_punches_known: i32,
    #[schema(value_type = Vec<Object>)]
    pub validation_errors: serde_json::Value,
    /// Departments no company's report names match, with their row counts.
    #[schema(value_type = Vec<crate::api::UnmappedDepartment>)]
    pub unmapped_departments: serde_json::Value,
    /// Employee ids the directory does not know, with their row counts.
    #[schema(value_type = Vec<crate::api::UnknownEmployee>)]
    pub unknown_employees: serde_json::Value,
    pub held_reason: Option<String>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub uploaded_by: String,
    pub team: Option<String>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = imports)]
pub struct NewImport<'a> {
    pub filename: &'a str,
    pub file_path: Option<&'a str>,
    pub sha256: &'a str,
    pub size_bytes: i64,
    pub status: &'a str,
    pub options: serde_json::Value,
    pub facts: Option<serde_json::Value>,
    pub uploaded_by: &'a str,
    pub team: Option<&'a str>,
    pub started_at: Option<DateTime<Utc>>,
}

/// The import a clock's or a BioTime server's rows of one day are appended to: no file,
/// `completed` from the start (its counts grow with each upload or pull), held with `held` when
/// given. Runs in the caller's transaction, which records whose day it is.
pub async fn insert_day_import(
    conn: &mut Conn,
    filename: &str,
    uploaded_by: &str,
    options: serde_json::Value,
    held: Option<&str>,
) -> QueryResult<i64> {
    let import = insert(
        conn,
        &NewImport {
            filename,
            file_path: None,
            sha256: "",
            size_bytes: 0,
            status: "completed",
            options,
            facts: None,
            uploaded_by,
            team: None,
            started_at: Some(Utc::now()),
        },
    )
    .await?;
    diesel::update(imports::table.find(import.id))
        .set((
            imports::completed_at.eq(Some(Utc::now())),
            imports::held_reason.eq(held),
        ))
        .execute(conn)
        .await?;
    Ok(import.id)
}

/// What an import ends with once its rows are stored.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = imports)]
pub struct Completion {
    pub total_records: i32,
    pub processed_records: i32,
    pub successful_records: i32,
    pub failed_records: i32,
    pub skipped_records: i32,
    pub punches_new: i32,
    pub duplicate_punches_in_file: i32,
    pub duplicate_punches_known: i32,
    pub unmapped_departments: serde_json::Value,
    pub unknown_employees: serde_json::Value,
    pub held_reason: Option<Option<String>>,
}

pub async fn insert(conn: &mut Conn, new: &NewImport<'_>) -> QueryResult<Import> {
    diesel::insert_into(imports::table)
        .values(new)
        .returning(Import::as_returning())
        .get_result(conn)
        .await
}

pub async fn find(conn: &mut Conn, id: i64) -> QueryResult<Option<Import>> {
    imports::table
        .find(id)
        .select(Import::as_select())
        .first(conn)
        .await
        .optional()
}

/// The latest completed imports of the same bytes, newest first, for "this file was imported
/// before" (the caller picks the first one its token may be given).
pub async fn by_sha256(conn: &mut Conn, sha256: &str, limit: i64) -> QueryResult<Vec<Import>> {
    imports::table
        .filter(imports::sha256.eq(sha256))
        .filter(imports::status.eq("completed"))
        .order(imports::id.desc())
        .limit(limit)
        .select(Import::as_select())
        .load(conn)
        .await
}

/// What a token limited to some companies may see of the imports: those with rows of its
/// companies, and those its subject uploaded.
#[derive(Debug, Clone, Default)]
pub struct Visibility {
    pub company_ids: Vec<i64>,
    pub uploader: String,
}

/// Whether the import is one `visibility` lets its holder see.
pub async fn is_visible(
    conn: &mut Conn,
    import: &Import,
    visibility: &Visibility,
) -> QueryResult<bool> {
    if import.uploaded_by == visibility.uploader {
        return Ok(true);
    }
    diesel::select(diesel::dsl::exists(
        import_rows::table
            .filter(import_rows::import_id.eq(import.id))
            .filter(import_rows::company_id.eq_any(visibility.company_ids.clone())),
    ))
    .get_result(conn)
    .await
}

/// Marks an import completed with its counts.
pub async fn complete(conn: &mut Conn, id: i64, completion: &Completion) -> QueryResult<Import> {
    diesel::update(imports::table.find(id))
        .set((
            completion,
            imports::status.eq("completed"),
            imports::completed_at.eq(diesel::dsl::now),
            imports::updated_at.eq(diesel::dsl::now),
        ))
        .returning(Import::as_returning())
        .get_result(conn)
        .await
}

/// Marks an import failed with the reason (its rows were never committed); its filename, for
/// telling of it, or `None` when there is no such import.
pub async fn fail(conn: &mut Conn, id: i64, reason: &str) -> QueryResult<Option<String>> {
    diesel::update(imports::table.find(id))
        .set((
            imports::status.eq("failed"),
            imports::error.eq(reason),
            imports::completed_at.eq(diesel::dsl::now),
            imports::updated_at.eq(diesel::dsl::now),
        ))
        .returning(imports::filename)
        .get_result(conn)
        .await
        .optional()
}

/// Marks an import a stop cut off mid-way failed with `reason`, its stored report kept at
/// `file_path` (its rows were never committed); its filename, or `None` when it was no longer
/// being read.
pub async fn fail_cut_off(
    conn: &mut Conn,
    id: i64,
    reason: &str,
    file_path: &str,
) -> QueryResult<Option<String>> {
    diesel::update(
        imports::table
            .find(id)
            .filter(imports::status.eq_any(["pending", "processing"])),
    )
    .set((
        imports::status.eq("failed"),
        imports::error.eq(reason),
        imports::file_path.eq(file_path),
        imports::completed_at.eq(diesel::dsl::now),
        imports::updated_at.eq(diesel::dsl::now),
    ))
    .returning(imports::filename)
    .get_result(conn)
    .await
    .optional()
}

/// What an import interrupted by a stop shows as its error.
pub const INTERRUPTED: &str =
    "interrupted: the service stopped while reading this report; upload it again";

/// Imports left `processing` by a service that stopped mid-way: their transaction never
/// committed, so nothing of them is stored; they are marked failed at start. Their ids and
/// filenames, for telling of them.
pub async fn fail_interrupted(conn: &mut Conn) -> QueryResult<Vec<(i64, String)>> {
    diesel::update(imports::table.filter(imports::status.eq_any(["pending", "processing"])))
        .set((
            imports::status.eq("failed"),
            imports::error.eq(INTERRUPTED),
            imports::updated_at.eq(diesel::dsl::now),
        ))
        .returning((imports::id, imports::filename))
        .load(conn)
        .await
}

pub async fn set_held(conn: &mut Conn, id: i64, held_reason: Option<&str>) -> QueryResult<usize> {
    diesel::update(imports::table.find(id))
        .set((
            imports::held_reason.eq(held_reason),
            imports::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
}

pub async fn set_cancelled(conn: &mut Conn, id: i64) -> QueryResult<usize> {
    diesel::update(
        imports::table
            .find(id)
            .filter(imports::cancelled_at.is_null()),
    )
    .set((
        imports::cancelled_at.eq(diesel::dsl::now),
        imports::updated_at.eq(diesel::dsl::now),
    ))
    .execute(conn)
    .await
}

/// Filters of the import list.
#[derive(Debug, Clone, Default)]
pub struct ImportFilter {
    pub status: Option<String>,
    pub uploaded_by: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// `None`: every import.
    pub visible_to: Option<Visibility>,
}

pub async fn page(
    conn: &mut Conn,
    filter: &ImportFilter,
    offset: i64,
    limit: i64,
) -> QueryResult<(Vec<Import>, i64)> {
    let filtered = || {
        let mut query = imports::table.into_boxed();
        if let Some(status) = &filter.status {
            query = query.filter(imports::status.eq(status.clone()));
        }
        if let Some(by) = &filter.uploaded_by {
            query = query.filter(imports::uploaded_by.eq(by.clone()));
        }
        if let Some(from) = filter.from {
            query = query.filter(imports::created_at.ge(from));
        }
        if let Some(to) = filter.to {
            query = query.filter(imports::created_at.lt(to));
        }
        if let Some(visibility) = &filter.visible_to {
            query = query.filter(
                imports::uploaded_by
                    .eq(visibility.uploader.clone())
                    .or(diesel::dsl::exists(
                        import_rows::table
                            .filter(import_rows::import_id.eq(imports::id))
                            .filter(import_rows::company_id.eq_any(visibility.company_ids.clone())),
                    )),
            );
        }
        query
    };
    let total = filtered().count().get_result(conn).await?;
    let items = filtered()
        .select(Import::as_select())
        .order(imports::id.desc())
        .offset(offset)
        .limit(limit)
        .load(conn)
        .await?;
    Ok((items, total))
}

/// Stored files older than `days`: their paths are cleared, and returned so the files can be
/// deleted.
pub async fn forget_files_older_than(conn: &mut Conn, days: u32) -> QueryResult<Vec<String>> {
    #[derive(QueryableByName)]
    struct Path {
        #[diesel(sql_type = diesel::sql_types::Text)]
        file_path: String,
    }
    let paths: Vec<Path> = diesel::sql_query(
        "UPDATE import.imports i SET file_path = NULL, updated_at = now() \
         FROM (SELECT id, file_path FROM import.imports \
               WHERE file_path IS NOT NULL AND created_at < now() - make_interval(days => $1) FOR UPDATE) old \
         WHERE i.id = old.id RETURNING old.file_path",
    )
    .bind::<diesel::sql_types::Integer, _>(i32::try_from(days).unwrap_or(i32::MAX))
    .load(conn)
    .await?;
    Ok(paths.into_iter().map(|p| p.file_path).collect())
}
