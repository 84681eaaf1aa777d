use std::collections::HashMap;

use actix_web::http::header::{self, EntityTag, IfNoneMatch};
use actix_web::{web, HttpResponse};
use auth::{Caller, Permission};
use sha2::{Digest, Sha256};

pub use ::directory::{DirectoryCompany, DirectoryEmployee, DirectorySnapshot};

use super::bayzat::frequency;
use crate::errors::{AccessError, DirectoryError};
use crate::store::{bayzat_configs, companies, directory, employees, report_names};
use crate::AppState;

/// The snapshot's entity tag: its version, and which companies the caller sees.
fn entity_tag(version: i64, visible: Option<&[String]>) -> EntityTag {
    match visible {
        None => EntityTag::new_strong(format!("v{version}")),
        Some(slugs) => {
            let mut slugs = slugs.to_vec();
            slugs.sort();
            let digest = Sha256::digest(slugs.join(",").as_bytes());
            let scope: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
            EntityTag::new_strong(format!("v{version}-{scope}"))
        }
    }
}

#[utoipa::path(get, path = "/v1/directory", tag = "directory",
    params(("If-None-Match" = Option<String>, Header, description = "the ETag of a snapshot already held")),
    responses((status = 200, body = DirectorySnapshot, headers(("ETag" = String))), (status = 304, description = "unchanged")),
    security(("bearer" = [])))]
pub async fn snapshot(
    state: web::Data<AppState>,
    caller: Caller,
    if_none_match: Option<web::Header<IfNoneMatch>>,
) -> Result<HttpResponse, DirectoryError> {
    if !caller.allows(Permission::ReadDirectorySnapshot) {
        caller
            .require(Permission::ReadDirectory)
            .map_err(AccessError::Refused)?;
    }
    let mut conn = db::connection(&state.pool).await?;
    let version = directory::version(&mut conn).await?;
    let tag = entity_tag(version, caller.visible_companies());
    let unchanged = match if_none_match.as_deref() {
        Some(IfNoneMatch::Any) => true,
        Some(IfNoneMatch::Items(tags)) => tags.iter().any(|t| t.weak_eq(&tag)),
        None => false,
    };
    if unchanged {
        return Ok(HttpResponse::NotModified()
            .insert_header(header::ETag(tag))
            .finish());
    }
    // The version is read first: a change that commits meanwhile gets a newer version, so a
    // client holding this (possibly newer) content will still fetch again next time.
    let company_rows = companies::list(&mut conn, caller.visible_companies()).await?;
    let ids: Vec<i64> = company_rows.iter().map(|c| c.id).collect();
    let mut names: HashMap<i64, Vec<String>> = HashMap::new();
    for name in report_names::for_companies(&mut conn, &ids).await? {
        names.entry(name.company_id).or_default().push(name.name);
    }
    let mut staff: HashMap<i64, Vec<DirectoryEmployee>> = HashMap::new();
    for e in employees::for_companies(&mut conn, &ids).await? {
        staff
            .entry(e.company_id)
            .or_default()
            .push(DirectoryEmployee {
                employee_id: e.employee_id,
                name: e.name,
                bayzat_emp_id: e.bayzat_emp_id,
                active: e.active,
            });
    }
    let configs: HashMap<i64, bayzat_configs::StoredConfig> =
        bayzat_configs::for_companies(&mut conn, &ids)
            .await?
            .into_iter()
            .map(|c| (c.company_id, c))
            .collect();
    let companies = company_rows
        .into_iter()
        .map(|c| {
            let config = configs.get(&c.id);
            DirectoryCompany {
                fingerprint_report_names: names.remove(&c.id).unwrap_or_default(),
                employees: staff.remove(&c.id).unwrap_or_default(),
                is_enabled: config.is_none_or(|c| c.is_enabled),
                sync_frequency: config
                    .map(|config| frequency(c.id, &config.sync_frequency))
                    .unwrap_or_default(),
                daily_at: config.and_then(|c| c.daily_at),
                api_key_configured: config.is_some_and(|c| c.api_key.is_some()),
                id: c.id,
                slug: c.slug,
                name_en: c.name_en,
                name_ar: c.name_ar,
                timezone: c.timezone,
            }
        })
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header(header::ETag(tag))
        .json(DirectorySnapshot { version, companies }))
}

#[cfg(test)]
mod tests {
    use super::entity_tag;

    #[test]
    fn tags_differ_by_version_and_by_scope_but_not_by_scope_order() {
        let all = entity_tag(3, None);
        assert_ne!(all, entity_tag(4, None));
        let scoped = entity_tag(3, Some(&["b".into(), "a".into()]));
        assert_ne!(all, scoped);
        assert_eq!(scoped, entity_tag(3, Some(&["a".into(), "b".into()])));
        assert_ne!(scoped, entity_tag(3, Some(&["a".into()])));
    }
}
