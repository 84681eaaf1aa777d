//! The directory's companies as the clock and BioTime routes name them: slugs for the ids a
//! registration stores, and ids for the slugs a request gives, each checked against the
//! caller's companies.

use auth::Caller;
use service_kit::Problem;

use crate::errors::DirectoryFailure;
use crate::AppState;

/// The directory snapshot a request was answered from.
pub(super) struct Companies(pub(super) std::sync::Arc<directory::DirectorySnapshot>);

impl Companies {
    pub(super) async fn load(state: &AppState) -> Result<Self, Problem> {
        let snapshot = state
            .directory
            .current()
            .await
            .map_err(DirectoryFailure::from)?;
        Ok(Self(snapshot))
    }

    /// The company's slug; its id when the directory no longer has it.
    pub(super) fn slug(&self, id: i64) -> String {
        self.0
            .company(id)
            .map_or_else(|| id.to_string(), |c| c.slug.clone())
    }

    pub(super) fn slugs(&self, ids: &[i64]) -> Vec<String> {
        ids.iter().map(|id| self.slug(*id)).collect()
    }

    /// The time zone of the first of these companies (the one a registration's day follows);
    /// UTC without one.
    pub(super) fn time_zone_of(&self, ids: &[i64]) -> String {
        ids.first()
            .and_then(|id| self.0.company(*id))
            .map_or_else(|| "UTC".to_owned(), |c| c.timezone.clone())
    }

    /// The ids of these slugs, in their order, once each, each checked against the caller's
    /// scope; an unknown slug is a 422.
    pub(super) fn ids(&self, caller: &Caller, slugs: &[String]) -> Result<Vec<i64>, Problem> {
        let mut ids = Vec::with_capacity(slugs.len());
        for slug in slugs {
            caller.require_company(slug)?;
            let company = self
                .0
                .companies
                .iter()
                .find(|c| &c.slug == slug)
                .ok_or_else(|| {
                    Problem::unprocessable("unknown_company", format!("no company {slug:?}"))
                })?;
            if !ids.contains(&company.id) {
                ids.push(company.id);
            }
        }
        Ok(ids)
    }
}
