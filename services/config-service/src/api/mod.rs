//! The REST API: thin handlers that authorize, call the storage functions inside a transaction
//! with the change's audit entry and event, and shape the answer.

mod audit;
mod bayzat;
mod companies;
mod directory;
mod employees;
mod internal;
mod notifications;
mod webhooks;

use actix_web::{web, HttpResponse};
use auth::{Caller, Permission};

use crate::errors::AccessError;
use crate::store::companies::{self as company_store, Company, CompanyKey};
use crate::store::Conn;

pub use audit::AuditQuery;
pub use bayzat::{ConfigUpdate, ConfigView, ConnectionTestRequest, DecryptedKey};
pub use companies::{
    CompanyView, NewCompanyRequest, NewReportName, ReportNameView, UpdateCompanyRequest,
};
pub use directory::{DirectoryCompany, DirectoryEmployee, DirectorySnapshot};
pub use employees::{
    EmployeeList, EmployeeQuery, EmployeeView, UpsertRequest, UpsertResult, MAX_EMPLOYEES_PER_CALL,
};

pub(crate) use audit::__path_list_audit;
pub(crate) use bayzat::{__path_get_config, __path_put_config, __path_test_connection};
pub(crate) use companies::{
    __path_add_report_name, __path_create_company, __path_get_company, __path_list_companies,
    __path_remove_report_name, __path_update_company,
};
pub(crate) use directory::__path_snapshot;
pub(crate) use employees::{
    __path_deactivate_employee, __path_list_employees, __path_upload_employees_csv,
    __path_upsert_employees,
};
pub(crate) use internal::__path_decrypted_key;
pub(crate) use notifications::{
    __path_add_contact, __path_list_contacts, __path_remove_contact, __path_test_contacts,
    __path_update_contact,
};
pub use notifications::{ContactUpdate, ContactView, NewContactRequest, TestMailReport};
pub(crate) use webhooks::{
    __path_create_webhook, __path_delete_webhook, __path_get_webhook, __path_list_deliveries,
    __path_list_webhooks, __path_replay_delivery, __path_rotate_secret, __path_update_webhook,
};
pub use webhooks::{
    AttemptView, CreatedWebhook, DeliveryPage, DeliveryQuery, DeliveryView, NewWebhook,
    RotatedSecret, WebhookList, WebhookUpdate, WebhookView,
};

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/openapi.json", web::get().to(openapi))
        .service(
            web::scope("/v1")
                .route("/companies", web::get().to(companies::list_companies))
                .route("/companies", web::post().to(companies::create_company))
                .route(
                    "/companies/{company}",
                    web::get().to(companies::get_company),
                )
                .route(
                    "/companies/{company}",
                    web::patch().to(companies::update_company),
                )
                .route(
                    "/companies/{company}/report-names",
                    web::post().to(companies::add_report_name),
                )
                .route(
                    "/companies/{company}/report-names/{id}",
                    web::delete().to(companies::remove_report_name),
                )
                .route(
                    "/companies/{company}/employees",
                    web::get().to(employees::list_employees),
                )
                .route(
                    "/companies/{company}/employees",
                    web::put().to(employees::upsert_employees),
                )
                .route(
                    "/companies/{company}/employees.csv",
                    web::post().to(employees::upload_employees_csv),
                )
                .route(
                    "/companies/{company}/employees/{employee_id}/deactivate",
                    web::post().to(employees::deactivate_employee),
                )
                .route(
                    "/companies/{company}/bayzat-config",
                    web::get().to(bayzat::get_config),
                )
                .route(
                    "/companies/{company}/bayzat-config",
                    web::put().to(bayzat::put_config),
                )
                .route(
                    "/companies/{company}/bayzat-config/test",
                    web::post().to(bayzat::test_connection),
                )
                .route(
                    "/companies/{company}/notification-contacts",
                    web::get().to(notifications::list_contacts),
                )
                .route(
                    "/companies/{company}/notification-contacts",
                    web::post().to(notifications::add_contact),
                )
                .route(
                    "/companies/{company}/notification-contacts/test",
                    web::post().to(notifications::test_contacts),
                )
                .route(
                    "/companies/{company}/notification-contacts/{id}",
                    web::patch().to(notifications::update_contact),
                )
                .route(
                    "/companies/{company}/notification-contacts/{id}",
                    web::delete().to(notifications::remove_contact),
                )
                .route("/directory", web::get().to(directory::snapshot))
                .route("/audit", web::get().to(audit::list_audit))
                .route("/webhooks", web::get().to(webhooks::list_webhooks))
                .route("/webhooks", web::post().to(webhooks::create_webhook))
                .route("/webhooks/{id}", web::get().to(webhooks::get_webhook))
                .route("/webhooks/{id}", web::patch().to(webhooks::update_webhook))
                .route("/webhooks/{id}", web::delete().to(webhooks::delete_webhook))
                .route(
                    "/webhooks/{id}/secret/rotate",
                    web::post().to(webhooks::rotate_secret),
                )
                .route(
                    "/webhooks/{id}/deliveries",
                    web::get().to(webhooks::list_deliveries),
                )
                .route(
                    "/webhooks/{id}/deliveries/{delivery}/replay",
                    web::post().to(webhooks::replay_delivery),
                ),
        )
        .route(
            "/internal/v1/companies/{company}/bayzat-key",
            web::get().to(internal::decrypted_key),
        );
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(crate::openapi::document())
}

/// The company a request names, once the caller may perform `permission` on it.
pub(crate) async fn authorized_company(
    conn: &mut Conn,
    caller: &Caller,
    permission: Permission,
    key: &str,
) -> Result<Company, AccessError> {
    caller.require(permission).map_err(AccessError::Refused)?;
    let company = company_store::find(conn, &CompanyKey::parse(key))
        .await?
        .ok_or(AccessError::NoSuchCompany)?;
    caller
        .require_company(&company.slug)
        .map_err(AccessError::Refused)?;
    Ok(company)
}
