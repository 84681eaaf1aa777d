//! Companies, report names, employees.

use super::*;

pub(super) async fn companies_page(
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<NoticeQuery>,
) -> Page {
    let ctx = Ctx::new(&session, state.timezone);
    let companies = match state
        .backend
        .get(&session, Service::Config, "/v1/companies")
        .await
    {
        Ok(companies) => companies,
        Err(error) => return Ok(refused(&state, &session, &error, "/")),
    };
    let list = companies.as_array().cloned().unwrap_or_default();
    Ok(ok(layout::page(
        &ctx,
        ctx.t("Companies"),
        company_views::list(&ctx, &list, notice(query.notice.as_deref())),
    )))
}

#[derive(Deserialize)]
pub(super) struct CompanyForm {
    csrf: Option<String>,
    slug: String,
    name_en: String,
    name_ar: Option<String>,
    timezone: Option<String>,
}

pub(super) async fn create_company(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
    form: web::Form<CompanyForm>,
) -> Page {
    session.check_request_csrf(&req, form.csrf.as_deref())?;
    let body = json!({
        "slug": form.slug.trim(),
        "name_en": form.name_en.trim(),
        "name_ar": form.name_ar.as_deref().map(str::trim).filter(|v| !v.is_empty()),
        "timezone": form.timezone.as_deref().map(str::trim).filter(|v| !v.is_empty()),
    });
    match state
        .backend
        .post(&session, Service::Config, "/v1/companies", &body)
        .await
    {
        Ok(_) => Ok(see_other("/companies?notice=created")),
        Err(error) => Ok(refused(&state, &session, &error, "/companies")),
    }
}

#[derive(Deserialize)]
pub(super) struct NameForm {
    csrf: Option<String>,
    name: String,
}

pub(super) async fn add_report_name(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
    path: web::Path<String>,
    form: web::Form<NameForm>,
) -> Page {
    session.check_request_csrf(&req, form.csrf.as_deref())?;
    match state
        .backend
        .post(
            &session,
            Service::Config,
            &format!("/v1/companies/{}/report-names", segment(&path)),
            &json!({ "name": form.name }),
        )
        .await
    {
        Ok(_) => Ok(see_other("/companies?notice=names")),
        Err(error) => Ok(refused(&state, &session, &error, "/companies")),
    }
}

pub(super) async fn remove_report_name(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
    path: web::Path<(String, i64)>,
    form: web::Form<CsrfForm>,
) -> Page {
    session.check_request_csrf(&req, form.csrf.as_deref())?;
    let (slug, id) = path.into_inner();
    match state
        .backend
        .delete(
            &session,
            Service::Config,
            &format!("/v1/companies/{}/report-names/{id}", segment(&slug)),
        )
        .await
    {
        Ok(_) => Ok(see_other("/companies?notice=names")),
        Err(error) => Ok(refused(&state, &session, &error, "/companies")),
    }
}

#[derive(Deserialize)]
pub(super) struct EmployeeQuery {
    search: Option<String>,
    page: Option<i64>,
    /// Counts of a CSV upload just done (numbers only, so a link cannot put text on the page).
    inserted: Option<u32>,
    updated: Option<u32>,
    unchanged: Option<u32>,
}

pub(super) async fn employees_page(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
    query: web::Query<EmployeeQuery>,
) -> Page {
    let slug = segment(&path);
    let search = query.search.clone().unwrap_or_default();
    let page = query.page.unwrap_or(1).max(1);
    let list_path = format!(
        "/v1/companies/{slug}/employees?{}&page={page}&per_page=50",
        query_pairs(&[("search", &search)])
    );
    let (company, employees) = futures_util::join!(
        state
            .backend
            .get(&session, Service::Config, format!("/v1/companies/{slug}")),
        state.backend.get(&session, Service::Config, &list_path),
    );
    let company = match company {
        Ok(company) => company,
        Err(error) => return Ok(refused(&state, &session, &error, "/companies")),
    };
    let ctx = Ctx::new(&session, state.timezone);
    let title = format!(
        "{} · {}",
        ctx.t("Employees"),
        views::company_name(ctx.lang, &company)
    );
    let uploaded = match (query.inserted, query.updated, query.unchanged) {
        (Some(inserted), Some(updated), Some(unchanged)) => Some(format!(
            "{} +{inserted} ~{updated} ={unchanged}",
            ctx.t("Saved.")
        )),
        _ => None,
    };
    Ok(ok(layout::page(
        &ctx,
        &title,
        company_views::employees(&ctx, &company, &employees, &search, page, uploaded),
    )))
}

pub(super) fn query_pairs(pairs: &[(&str, &str)]) -> String {
    query(pairs.iter().map(|(k, v)| (*k, Some(*v))))
}

/// The directory CSV: read whole (config-service takes it in one request, at most 8 MB) and
/// passed on.
pub(super) async fn upload_employees(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
    path: web::Path<String>,
    mut multipart: Multipart,
) -> Page {
    const LIMIT: usize = 8 * 1024 * 1024;
    let slug = segment(&path);
    let back = format!("/companies/{slug}/employees");
    let mut csrf = None;
    let mut file: Option<Vec<u8>> = None;
    while let Some(field) = multipart.next().await {
        let mut field = field?;
        match field.name().unwrap_or("") {
            "csrf" => csrf = Some(text_field(&mut field).await?),
            "file" => {
                session.check_request_csrf(&req, csrf.as_deref())?;
                let mut bytes = Vec::new();
                while let Some(chunk) = field.next().await {
                    let chunk = chunk?;
                    if bytes.len() + chunk.len() > LIMIT {
                        return Err(PageError::TooLarge {
                            what: "the file",
                            limit: "8 MB",
                        });
                    }
                    bytes.extend_from_slice(&chunk);
                }
                file = Some(bytes);
            }
            _ => {
                let _ = text_field(&mut field).await;
            }
        }
    }
    session.check_request_csrf(&req, csrf.as_deref())?;
    let Some(file) = file else {
        return Ok(see_other(&back));
    };
    let request = state
        .backend
        .request(
            &session,
            Method::POST,
            Service::Config,
            &format!("/v1/companies/{slug}/employees.csv"),
        )
        .header(reqwest::header::CONTENT_TYPE, "text/csv")
        .body(file);
    match state.backend.send(Service::Config, request).await {
        Ok(result) => Ok(see_other(&format!(
            "{back}?inserted={}&updated={}&unchanged={}",
            views::n(&result["inserted"]),
            views::n(&result["updated"]),
            views::n(&result["unchanged"])
        ))),
        Err(error) => Ok(refused(&state, &session, &error, &back)),
    }
}
