//! Upload.

use super::*;

pub(super) async fn upload_page(state: web::Data<AppState>, session: Session) -> Page {
    let ctx = Ctx::new(&session, state.timezone);
    if !session.can(Permission::UploadImports) {
        return Ok(html_response(
            actix_web::http::StatusCode::FORBIDDEN,
            layout::problem(
                &ctx,
                ctx.t("Upload"),
                "Your role cannot upload reports.",
                "/",
            ),
        ));
    }
    Ok(ok(layout::page(
        &ctx,
        ctx.t("Upload a report"),
        imports::upload_form(&ctx),
    )))
}

#[derive(Deserialize)]
pub(super) struct UploadQuery {
    dry_run: Option<bool>,
}

/// The upload: the options are read first, then the file is streamed on to import-service as
/// it arrives (never held whole in memory). From htmx, a dry run answers with the validation
/// report to show under the form, an import with a redirect to its page.
pub(super) async fn upload(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
    query: web::Query<UploadQuery>,
    mut multipart: Multipart,
) -> Page {
    let htmx = req.headers().contains_key("hx-request");
    let mut csrf: Option<String> = None;
    let mut strict = false;
    let mut date_order = String::new();
    let mut sheet = String::new();
    let mut dry_run = query.dry_run.unwrap_or(false);
    let mut outcome = None;
    while let Some(field) = multipart.next().await {
        let mut field = field?;
        match field.name().unwrap_or("") {
            "csrf" => csrf = Some(text_field(&mut field).await?),
            "strict" => strict = text_field(&mut field).await? == "true",
            "date_order" => date_order = text_field(&mut field).await?,
            "sheet" => sheet = text_field(&mut field).await?,
            "dry_run" => dry_run = text_field(&mut field).await? == "true",
            "file" => {
                session.check_request_csrf(&req, csrf.as_deref())?;
                let filename = field
                    .content_disposition()
                    .and_then(|d| d.get_filename())
                    .unwrap_or("report.csv")
                    .to_owned();
                let options = query_options(&UploadOptions {
                    dry_run,
                    strict,
                    date_order: &date_order,
                    sheet: &sheet,
                    filename: &filename,
                });
                outcome = Some(stream_upload(&state, &session, &mut field, &options).await);
                break;
            }
            _ => {
                let _ = text_field(&mut field).await;
            }
        }
    }
    let ctx = Ctx::new(&session, state.timezone);
    let Some(outcome) = outcome else {
        session.check_request_csrf(&req, csrf.as_deref())?;
        return Ok(html_response(
            actix_web::http::StatusCode::BAD_REQUEST,
            html! { p.error role="alert" { "Choose a file." } },
        ));
    };
    match outcome {
        Ok(body) if dry_run => {
            let companies = state
                .backend
                .get(&session, Service::Config, "/v1/companies")
                .await
                .ok()
                .and_then(|c| c.as_array().cloned())
                .unwrap_or_default();
            Ok(ok(imports::dry_run_report(&ctx, &body, &companies)))
        }
        Ok(body) => {
            let location = format!("/imports/{}", views::n(&body["id"]));
            if htmx {
                Ok(HttpResponse::Ok()
                    .insert_header(("hx-redirect", location))
                    .finish())
            } else {
                Ok(see_other(&location))
            }
        }
        Err(error) if htmx => {
            // htmx swaps only successful answers by default; the report area shows the refusal.
            Ok(ok(html! {
                div.error role="alert" #upload-error data-code=(error.code()) { (error.to_string()) }
            }))
        }
        Err(error) => Ok(refused(&state, &session, &error, "/imports/new")),
    }
}

/// What the upload form chose, passed on to import-service as its query options.
pub(super) struct UploadOptions<'a> {
    pub dry_run: bool,
    pub strict: bool,
    pub date_order: &'a str,
    /// The worksheet of a workbook to read; empty for the first with a recognised header.
    pub sheet: &'a str,
    pub filename: &'a str,
}

pub(super) fn query_options(options: &UploadOptions<'_>) -> String {
    let yes = |flag: bool| flag.then_some("true");
    query([
        ("dry_run", yes(options.dry_run)),
        ("strict", yes(options.strict)),
        ("date_order", Some(options.date_order)),
        ("sheet", Some(options.sheet)),
        ("filename", Some(options.filename)),
    ])
}

pub(super) async fn stream_upload(
    state: &AppState,
    session: &Session,
    field: &mut Field,
    options: &str,
) -> Result<Value, BackendError> {
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<web::Bytes, std::io::Error>>(8);
    let chunks = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    });
    let request = state
        .backend
        .request(
            session,
            Method::POST,
            Service::Import,
            &format!("/v1/imports?{options}"),
        )
        // The file's bytes as they came, CSV or workbook alike: import-service tells a workbook
        // from text by its first bytes, never by a name or a content type.
        .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
        .body(reqwest::Body::wrap_stream(chunks));
    let limit = state.max_upload_bytes;
    let pump = async move {
        let mut sent: u64 = 0;
        while let Some(chunk) = field.next().await {
            let item = match chunk {
                Ok(bytes) => {
                    sent += bytes.len() as u64;
                    if sent > limit {
                        Err(std::io::Error::other("upload too large"))
                    } else {
                        Ok(bytes)
                    }
                }
                Err(error) => Err(std::io::Error::other(error.to_string())),
            };
            let stop = item.is_err();
            if sender.send(item).await.is_err() || stop {
                break;
            }
        }
        drop(sender);
    };
    let (result, ()) = futures_util::join!(state.backend.send(Service::Import, request), pump);
    result
}
