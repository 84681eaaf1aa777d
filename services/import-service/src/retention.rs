//! Retention: stored report files are deleted after IMPORT_FILE_RETENTION_DAYS and raw row values
//! (names) removed after IMPORT_ROW_RETENTION_DAYS; outcomes and punches stay.

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::store::{imports, rows};

/// Runs the retention pass now and then every `every`.
pub fn spawn(pool: db::Pool, file_days: u32, row_days: u32, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match run_once(&pool, file_days, row_days).await {
                Ok((files, rows)) if files + rows > 0 => {
                    tracing::info!(files, rows, "retention pass")
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "retention pass failed; trying again later"),
            }
            tokio::time::sleep(every).await;
        }
    })
}

/// One pass: returns how many files were deleted and how many rows lost their raw values.
pub async fn run_once(
    pool: &db::Pool,
    file_days: u32,
    row_days: u32,
) -> Result<(usize, usize), String> {
    let mut conn = db::connection(pool).await.map_err(|e| e.to_string())?;
    let paths = imports::forget_files_older_than(&mut conn, file_days)
        .await
        .map_err(|e| e.to_string())?;
    let mut deleted = 0;
    for path in &paths {
        match tokio::fs::remove_file(path).await {
            Ok(()) => deleted += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(%path, error = %e, "could not delete a stored report"),
        }
    }
    let rows = rows::forget_raw_older_than(&mut conn, row_days)
        .await
        .map_err(|e| e.to_string())?;
    Ok((deleted, rows))
}
