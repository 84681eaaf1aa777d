//! What a token limited to some companies may see of the imports and do with them.
//!
//! A limited token sees an import that has rows of its companies, or that its subject uploaded;
//! within it, only its companies' rows, counts and progress. The rows of no company (unmapped
//! departments, unknown employees of no company, rows refused for the uploader's scope) and the
//! lists of unmapped departments and unknown employees are the uploader's and unrestricted
//! tokens' only. An import the token may not see answers exactly as a missing one.

use std::collections::BTreeSet;

use auth::Caller;
use serde_json::{json, Value};

use crate::api::ImportView;
use crate::errors::{AccessError, DirectoryFailure};
use crate::store::imports::{self, Import, Visibility};
use crate::store::punches::StateCount;
use crate::store::{rows, Conn};
use crate::AppState;

/// The caller's reach over imports.
#[derive(Debug, Clone)]
pub enum Access {
    /// No `companies` claim: every import, whole.
    Everything,
    /// A `companies` claim: these companies' ids (those the directory knows), and the subject.
    Limited(Visibility),
}

impl Access {
    pub async fn of(state: &AppState, caller: &Caller) -> Result<Self, AccessError> {
        if !caller.is_limited() {
            return Ok(Access::Everything);
        }
        let snapshot = state
            .directory
            .current()
            .await
            .map_err(DirectoryFailure::from)?;
        Ok(Access::Limited(Visibility {
            company_ids: snapshot
                .companies
                .iter()
                .filter(|c| caller.can_access_company(&c.slug))
                .map(|c| c.id)
                .collect(),
            uploader: caller.sub().to_owned(),
        }))
    }

    /// The filter of the import list; `None` for every import.
    pub fn visibility(&self) -> Option<Visibility> {
        match self {
            Access::Everything => None,
            Access::Limited(visibility) => Some(visibility.clone()),
        }
    }

    /// Whether the company may be shown.
    pub fn covers(&self, company_id: i64) -> bool {
        match self {
            Access::Everything => true,
            Access::Limited(v) => v.company_ids.contains(&company_id),
        }
    }

    pub fn is_uploader(&self, import: &Import) -> bool {
        match self {
            Access::Everything => false,
            Access::Limited(v) => v.uploader == import.uploaded_by,
        }
    }

    /// The rows filter for this caller: `(companies, rows of no company too)`.
    pub fn rows(&self, import: &Import) -> (Option<Vec<i64>>, bool) {
        match self {
            Access::Everything => (None, true),
            Access::Limited(v) => (Some(v.company_ids.clone()), self.is_uploader(import)),
        }
    }

    pub async fn can_see(&self, conn: &mut Conn, import: &Import) -> Result<bool, AccessError> {
        match self {
            Access::Everything => Ok(true),
            Access::Limited(v) => Ok(imports::is_visible(conn, import, v).await?),
        }
    }

    /// The import with that id, if it exists and the caller may see it; 404 otherwise.
    pub async fn load(&self, state: &AppState, id: i64) -> Result<Import, AccessError> {
        let mut conn = db::connection(&state.pool).await?;
        match imports::find(&mut conn, id).await? {
            Some(import) if self.can_see(&mut conn, &import).await? => Ok(import),
            _ => Err(AccessError::NoSuchImport),
        }
    }

    /// An earlier import of the same bytes may answer an upload only if the caller may see it
    /// and it was read for at least the caller's companies (an import whose uploader could not
    /// import some company's rows does not stand for an upload by someone who can).
    pub fn may_reuse(&self, caller: &Caller, import: &Import) -> bool {
        match crate::pipeline::stored_scope(&import.options) {
            None => true,
            Some(earlier) => match caller.visible_companies() {
                None => false,
                Some(mine) => mine.iter().all(|slug| earlier.contains(slug)),
            },
        }
    }

    /// An operator's action on the import (reprocess, release, cancel) needs every company it
    /// concerns in the token's scope; one that concerns no company yet, an unrestricted token or
    /// its uploader.
    pub async fn require_whole(&self, conn: &mut Conn, import: &Import) -> Result<(), AccessError> {
        let Access::Limited(v) = self else {
            return Ok(());
        };
        let touched = touched(conn, import.id).await?;
        if touched.is_empty() && !self.is_uploader(import) {
            return Err(AccessError::NoSuchImport);
        }
        if touched.iter().any(|id| !v.company_ids.contains(id)) {
            return Err(AccessError::OtherCompanies);
        }
        Ok(())
    }

    /// The import as this caller may see it, with its punches' progress per company.
    pub async fn view(
        &self,
        state: &AppState,
        import: Import,
        counts: Vec<StateCount>,
        reused: bool,
    ) -> Result<ImportView, AccessError> {
        let others = match self {
            Access::Everything => false,
            Access::Limited(_) => {
                let mut conn = db::connection(&state.pool).await?;
                touched(&mut conn, import.id)
                    .await?
                    .iter()
                    .any(|id| !self.covers(*id))
            }
        };
        let counts: Vec<StateCount> = counts
            .into_iter()
            .filter(|c| self.covers(c.company_id))
            .collect();
        let shown = self.shown(state, &import, &counts).await?;
        let mut view = crate::api::view_of(state, shown, counts, reused).await;
        view.concerns_other_companies = others;
        Ok(view)
    }

    /// The import's fields as this caller may see them.
    pub async fn shown(
        &self,
        state: &AppState,
        import: &Import,
        counts: &[StateCount],
    ) -> Result<Value, AccessError> {
        let mut shown = serde_json::to_value(import).unwrap_or_default();
        let Access::Limited(v) = self else {
            return Ok(shown);
        };
        let uploader = self.is_uploader(import);
        let mut conn = db::connection(&state.pool).await?;
        let rows = rows::counts(&mut conn, import.id, &v.company_ids, uploader).await?;
        let punches_new: i64 = counts.iter().map(|c| c.count).sum();
        let total = rows.valid + rows.invalid + rows.skipped;
        shown["total_records"] = json!(total);
        shown["processed_records"] = json!(total);
        shown["successful_records"] = json!(rows.valid);
        shown["failed_records"] = json!(rows.invalid);
        shown["skipped_records"] = json!(rows.skipped);
        shown["punches_new"] = json!(punches_new);
        shown["duplicate_punches_in_file"] = json!((rows.own_punches - punches_new).max(0));
        shown["duplicate_punches_known"] = json!(rows.known_punches);
        if !uploader {
            shown["unmapped_departments"] = json!([]);
            shown["unknown_employees"] = json!([]);
            if let Some(options) = shown["options"].as_object_mut() {
                options.remove("companies");
            }
        }
        Ok(shown)
    }

    /// An import of a list as this caller may see it.
    pub async fn listed(&self, state: &AppState, import: Import) -> Result<Value, AccessError> {
        if let Access::Everything = self {
            return Ok(serde_json::to_value(&import).unwrap_or_default());
        }
        let mut conn = db::connection(&state.pool).await?;
        let counts: Vec<StateCount> = crate::store::punches::progress(&mut conn, import.id)
            .await?
            .into_iter()
            .filter(|c| self.covers(c.company_id))
            .collect();
        drop(conn);
        self.shown(state, &import, &counts).await
    }
}

/// The companies an import concerns: those of its rows and of its punches.
async fn touched(conn: &mut Conn, import_id: i64) -> Result<BTreeSet<i64>, AccessError> {
    let mut touched: BTreeSet<i64> = rows::companies(conn, import_id)
        .await?
        .into_iter()
        .collect();
    for count in crate::store::punches::progress(conn, import_id).await? {
        touched.insert(count.company_id);
    }
    Ok(touched)
}
