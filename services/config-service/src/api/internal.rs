use super::authorized_company;
use super::bayzat::DecryptedKey;
use crate::errors::KeyError;
use crate::store::bayzat_configs;
use crate::AppState;
use actix_web::{web, HttpResponse};
use auth::{Caller, Permission};

#[utoipa::path(get, path = "/internal/v1/companies/{company}/bayzat-key", tag = "internal",
    description = "Served on the internal listener (`CONFIG_SERVICE_INTERNAL_BIND`), not the public one, to a service token allowed to read keys.",
    params(("company" = String, Path, description = "id or slug", example = "advline")),
    responses((status = 200, body = DecryptedKey), (status = 404, description = "not_found: no such company, or no key stored"),
              (status = 500, description = "key_unreadable: the stored key cannot be decrypted with the configured master keys")),
    security(("bearer" = [])))]
pub async fn decrypted_key(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, KeyError> {
    let mut conn = db::connection(&state.pool).await?;
    let company =
        authorized_company(&mut conn, &caller, Permission::ReadDecryptedKey, &path).await?;
    let config = bayzat_configs::find(&mut conn, company.id).await?;
    let (config, ciphertext) = config
        .and_then(|c| c.api_key.clone().map(|key| (c, key)))
        .ok_or(KeyError::NoStoredKey)?;
    let api_key = state
        .master_keys
        .decrypt(company.id, &ciphertext)
        .map_err(KeyError::Unreadable)?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(DecryptedKey {
            company_id: company.id,
            slug: company.slug,
            api_key: api_key.expose().to_owned(),
            api_url: config.api_url,
            is_enabled: config.is_enabled,
        }))
}
