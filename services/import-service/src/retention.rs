//! Retention: stored report files are deleted after IMPORT_FILE_RETENTION_DAYS and raw row values
//! (names) removed after IMPORT_ROW_RETENTION_DAYS; outcomes and punches stay. The outbox's sent
//! messages and the handled message ids go after [`outbox::Retention`]'s ages. Partial uploads
//! (`upload-*.part`) that nothing has written to for an hour are left over from a process that
//! stopped mid-upload: each pass, the first at start, removes them.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tokio::task::JoinHandle;

use crate::errors::RetentionError;
use crate::store::{imports, rows};

/// How long a partial upload may go unwritten before a retention pass removes it. Far longer
/// than any live upload waits between writes (a stalled body is given up long before).
pub const PARTIAL_UPLOAD_MAX_AGE: Duration = Duration::from_secs(3600);

/// Runs the retention pass now and then every `every`.
pub fn spawn(
    pool: db::Pool,
    storage_dir: PathBuf,
    file_days: u32,
    row_days: u32,
    every: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let dir = storage_dir.clone();
            let swept = tokio::task::spawn_blocking(move || {
                sweep_partial_uploads(&dir, PARTIAL_UPLOAD_MAX_AGE)
            })
            .await
            .unwrap_or_default();
            if swept > 0 {
                tracing::info!(files = swept, "removed partial uploads left behind");
            }
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
) -> Result<(usize, usize), RetentionError> {
    let mut conn = db::connection(pool).await?;
    let paths = imports::forget_files_older_than(&mut conn, file_days).await?;
    let mut deleted = 0;
    for path in &paths {
        match tokio::fs::remove_file(path).await {
            Ok(()) => deleted += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(%path, error = %e, "could not delete a stored report"),
        }
    }
    let rows = rows::forget_raw_older_than(&mut conn, row_days).await?;
    let pruned = outbox::prune(&mut conn, crate::SCHEMA, &outbox::Retention::default()).await?;
    if pruned != outbox::Pruned::default() {
        tracing::info!(
            outbox_sent = pruned.sent,
            processed_messages = pruned.processed,
            "retention pass: outbox and inbox"
        );
    }
    Ok((deleted, rows))
}

/// Removes the partial uploads in `dir` not written to for `max_age`; returns how many.
pub fn sweep_partial_uploads(dir: &Path, max_age: Duration) -> usize {
    use crate::pipeline::PartFile;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let now = SystemTime::now();
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with(PartFile::PREFIX) && name.ends_with(PartFile::SUFFIX)) {
            continue;
        }
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|modified| now.duration_since(modified).ok())
            .is_some_and(|age| age >= max_age);
        if stale && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_partial_uploads_are_swept_and_nothing_else() {
        let dir = std::env::temp_dir().join(format!("sweep-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let old = SystemTime::now() - Duration::from_secs(2 * 3600);
        for (name, modified) in [
            ("upload-old.part", Some(old)),
            ("upload-live.part", None),
            ("12-abc.csv", Some(old)),
        ] {
            let file = std::fs::File::create(dir.join(name)).unwrap();
            if let Some(modified) = modified {
                file.set_modified(modified).unwrap();
            }
        }
        assert_eq!(sweep_partial_uploads(&dir, PARTIAL_UPLOAD_MAX_AGE), 1);
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["12-abc.csv", "upload-live.part"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
