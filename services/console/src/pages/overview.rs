//! Dashboard.

use super::*;

pub(super) async fn dashboard_page(
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<NoticeQuery>,
) -> Page {
    let backend = &state.backend;
    let user = &session;
    let companies = backend.get(user, Service::Config, "/v1/companies").await;
    let list = || async {
        let imports = backend
            .get(user, Service::Import, "/v1/imports?per_page=10")
            .await?;
        // Each listed import with its per-company progress, for the sync indicators.
        let views =
            futures_util::future::join_all(imports["items"].as_array().into_iter().flatten().map(
                |import| async move {
                    let id = views::n(&import["id"]);
                    backend
                        .get(user, Service::Import, format!("/v1/imports/{id}"))
                        .await
                        .unwrap_or_else(|_| import.clone())
                },
            ))
            .await;
        Ok::<_, BackendError>(views)
    };
    let statuses = || async {
        let companies = companies.clone()?;
        let list = companies.as_array().cloned().unwrap_or_default();
        Ok::<_, BackendError>(
            futures_util::future::join_all(list.into_iter().map(|company| async move {
                let slug = segment(views::s(&company["slug"]));
                let (health, usage) = futures_util::join!(
                    backend.get(
                        user,
                        Service::Sync,
                        format!("/v1/companies/{slug}/sync-health")
                    ),
                    backend.get(
                        user,
                        Service::Sync,
                        format!("/v1/companies/{slug}/usage?days=7")
                    ),
                );
                dashboard::CompanyStatus {
                    company,
                    health,
                    usage,
                }
            }))
            .await,
        )
    };
    let attention = || async {
        let (failed, rejected) = futures_util::join!(
            backend.get(
                user,
                Service::Sync,
                "/v1/deliveries?state=failed&per_page=10"
            ),
            backend.get(
                user,
                Service::Sync,
                "/v1/deliveries?state=rejected&per_page=10"
            ),
        );
        let mut items: Vec<Value> = Vec::new();
        for page in [failed?, rejected?] {
            items.extend(page["items"].as_array().cloned().unwrap_or_default());
        }
        Ok::<_, BackendError>(items)
    };
    let failed_batches = || async {
        let page = backend
            .get(user, Service::Sync, "/v1/batches?status=failed&per_page=10")
            .await?;
        Ok::<_, BackendError>(page["items"].as_array().cloned().unwrap_or_default())
    };
    let clocks = backend.get(user, Service::Import, "/v1/clocks");
    let (imports, statuses, attention, failed_batches, clocks) =
        futures_util::join!(list(), statuses(), attention(), failed_batches(), clocks);
    let today = chrono::Utc::now()
        .with_timezone(&state.timezone)
        .date_naive();
    let days = (0..7)
        .rev()
        .map(|back| (today - chrono::TimeDelta::days(back)).to_string())
        .collect();
    let ctx = Ctx::new(&session, state.timezone);
    let data = dashboard::Dashboard {
        imports,
        companies: statuses,
        attention,
        failed_batches,
        clocks,
        days,
        notice: notice(query.notice.as_deref()),
    };
    Ok(ok(layout::page(
        &ctx,
        ctx.t("Dashboard"),
        dashboard::render(&ctx, &data),
    )))
}
