//! Companies, fingerprint report names and the employee directory, through the REST API.

mod common;

use common::App;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn companies_are_created_read_updated_and_listed() {
    let app = App::start().await;
    let admin = app.admin();
    let (status, created) = app
        .post(
            "/v1/companies",
            &admin,
            json!({ "slug": "advline", "name_en": "Advanced Line for Technology", "name_ar": "الخط المتقدم",
                    "fingerprint_report_names": ["AdvLine"] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["timezone"], "Asia/Dubai", "default time zone");
    assert_eq!(created["fingerprint_report_names"][0]["name"], "AdvLine");

    let (status, by_slug) = app.get("/v1/companies/advline", &admin).await;
    assert_eq!(status, StatusCode::OK);
    let (_, by_id) = app
        .get(&format!("/v1/companies/{}", created["id"]), &admin)
        .await;
    assert_eq!(by_slug, by_id);

    let (status, updated) = app
        .call(
            Method::PATCH,
            "/v1/companies/advline",
            Some(&admin),
            Some(json!({ "timezone": "Asia/Riyadh", "name_ar": "" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["timezone"], "Asia/Riyadh");
    assert_eq!(updated["name_ar"], serde_json::Value::Null);
    assert_eq!(updated["name_en"], "Advanced Line for Technology");

    app.company("clarastars", &["ClaraStars"]).await;
    let (_, list) = app.get("/v1/companies", &admin).await;
    let slugs: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["advline", "clarastars"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_companies_are_refused_with_a_code() {
    let app = App::start().await;
    let admin = app.admin();
    app.company("advline", &[]).await;
    let table = [
        (
            json!({ "slug": "advline", "name_en": "Again" }),
            StatusCode::CONFLICT,
            "slug_taken",
        ),
        (
            json!({ "slug": "Adv Line", "name_en": "X" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_slug",
        ),
        (
            json!({ "slug": "x1", "name_en": "X", "timezone": "Mars/Olympus" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_timezone",
        ),
        (
            json!({ "slug": "x2", "name_en": "  " }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_field",
        ),
        (
            json!({ "slug": "x3" }),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
    ];
    for (body, status, code) in table {
        let (got, problem) = app.post("/v1/companies", &admin, body.clone()).await;
        assert_eq!(
            (got, problem["code"].as_str()),
            (status, Some(code)),
            "{body}: {problem}"
        );
    }
    let (_, list) = app.get("/v1/companies", &admin).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "nothing half-created");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_report_name_maps_to_one_company_whatever_its_case_and_spacing() {
    let app = App::start().await;
    let operator = app.token(auth::Role::Operator);
    app.company("gulflog", &["Gulf Logistics - Warehouse"])
        .await;
    app.company("advline", &["AdvLine"]).await;

    // The same company again, spelled differently: accepted as the name it already has.
    let (status, same) = app
        .post(
            "/v1/companies/gulflog/report-names",
            &operator,
            json!({ "name": "  gulf   LOGISTICS - warehouse " }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{same}");
    assert_eq!(same["name"], "Gulf Logistics - Warehouse");

    // Another company: 409 naming the company that has it.
    let (status, problem) = app
        .post(
            "/v1/companies/advline/report-names",
            &operator,
            json!({ "name": "GULF LOGISTICS -  Warehouse" }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(problem["code"], "report_name_taken");
    assert!(
        problem["detail"].as_str().unwrap().contains("gulflog"),
        "{problem}"
    );
    assert_eq!(problem["company"], "gulflog LLC (gulflog)");

    let (status, added) = app
        .post(
            "/v1/companies/advline/report-names",
            &operator,
            json!({ "name": "Advanced Line" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, company) = app.get("/v1/companies/advline", &operator).await;
    let names: Vec<&str> = company["fingerprint_report_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["AdvLine", "Advanced Line"]);

    let path = format!("/v1/companies/advline/report-names/{}", added["id"]);
    let (status, _) = app.call(Method::DELETE, &path, Some(&operator), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.call(Method::DELETE, &path, Some(&operator), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Freed: another company may take it now.
    let (status, _) = app
        .post(
            "/v1/companies/gulflog/report-names",
            &operator,
            json!({ "name": "advanced line" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread")]
async fn employees_are_upserted_in_bulk_searched_paged_and_deactivated() {
    let app = App::start().await;
    let operator = app.token(auth::Role::Operator);
    app.company("advline", &[]).await;
    app.company("clarastars", &[]).await;
    let employees: Vec<_> = (1..=120)
        .map(|n| json!({ "employee_id": format!("{}", 1000 + n), "name": format!("Employee {n}") }))
        .collect();
    let (status, counts) = app
        .put(
            "/v1/companies/advline/employees",
            &operator,
            json!({ "employees": employees }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{counts}");
    assert_eq!(
        (
            counts["inserted"].as_u64(),
            counts["updated"].as_u64(),
            counts["unchanged"].as_u64()
        ),
        (Some(120), Some(0), Some(0))
    );

    // Again, with one change and one new employee.
    let again = json!({ "employees": [
        { "employee_id": "1001", "name": "Employee 1" },
        { "employee_id": "1002", "name": "Renamed", "bayzat_emp_id": "ADV-1002" },
        { "employee_id": "9999", "name": "New" },
    ]});
    let (_, counts) = app
        .put("/v1/companies/advline/employees", &operator, again)
        .await;
    assert_eq!(
        (
            counts["inserted"].as_u64(),
            counts["updated"].as_u64(),
            counts["unchanged"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );

    // The same clock id in another company is another employee.
    let (_, counts) = app
        .put(
            "/v1/companies/clarastars/employees",
            &operator,
            json!({ "employees": [{ "employee_id": "1001", "name": "Someone Else" }] }),
        )
        .await;
    assert_eq!(counts["inserted"], 1);

    let (_, page) = app
        .get(
            "/v1/companies/advline/employees?per_page=50&page=3",
            &operator,
        )
        .await;
    assert_eq!(
        (
            page["total"].as_i64(),
            page["items"].as_array().unwrap().len()
        ),
        (Some(121), 21)
    );
    let (_, found) = app
        .get("/v1/companies/advline/employees?search=renamed", &operator)
        .await;
    assert_eq!(found["items"][0]["employee_id"], "1002");
    assert_eq!(found["items"][0]["bayzat_emp_id"], "ADV-1002");

    let (status, deactivated) = app
        .post(
            "/v1/companies/advline/employees/1003/deactivate",
            &operator,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deactivated["active"], false);
    let (_, inactive) = app
        .get("/v1/companies/advline/employees?active=false", &operator)
        .await;
    assert_eq!(inactive["total"], 1);
    let (status, _) = app
        .post(
            "/v1/companies/advline/employees/404404/deactivate",
            &operator,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_employee_batches_are_refused_whole() {
    let app = App::start().await;
    let operator = app.token(auth::Role::Operator);
    app.company("advline", &[]).await;
    let too_many: Vec<_> = (0..10_001)
        .map(|n| json!({ "employee_id": n.to_string(), "name": "x" }))
        .collect();
    let table = [
        (json!({ "employees": too_many }), "too_many_employees"),
        (
            json!({ "employees": [{ "employee_id": "1", "name": "a" }, { "employee_id": " 1 ", "name": "b" }] }),
            "duplicate_employee_ids",
        ),
        (
            json!({ "employees": [{ "employee_id": "", "name": "a" }] }),
            "missing_field",
        ),
    ];
    for (body, code) in table {
        let (status, problem) = app
            .put("/v1/companies/advline/employees", &operator, body)
            .await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(code))
        );
    }
    let (_, page) = app.get("/v1/companies/advline/employees", &operator).await;
    assert_eq!(page["total"], 0);

    // 10,000 is fine.
    let most: Vec<_> = (0..10_000)
        .map(|n| json!({ "employee_id": n.to_string(), "name": "x" }))
        .collect();
    let (status, counts) = app
        .put(
            "/v1/companies/advline/employees",
            &operator,
            json!({ "employees": most }),
        )
        .await;
    assert_eq!(
        (status, counts["inserted"].as_u64()),
        (StatusCode::OK, Some(10_000))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn employees_are_uploaded_as_csv() {
    let app = App::start().await;
    let operator = app.token(auth::Role::Operator);
    app.company("advline", &[]).await;
    let upload = |body: &'static str| {
        app.client
            .post(format!("{}/v1/companies/advline/employees.csv", app.base))
            .bearer_auth(&operator)
            .header("content-type", "text/csv")
            .body(body)
            .send()
    };
    let response = upload("Employee ID;Name;Bayzat Emp ID\n1001;Ahmed;\n1007;Omar;ADV-1007\n")
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let counts: serde_json::Value = response.json().await.unwrap();
    assert_eq!(counts["inserted"], 2);

    let response = upload("Employee ID,Name\n1002,Fatima\n,Nobody\n")
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "invalid_rows");
    assert_eq!(problem["rejected_rows"][0]["line"], 3);
    let response = upload("Department,Date\nx,y\n").await.unwrap();
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "unreadable_file");
    assert!(problem["detail"].as_str().unwrap().contains("employee_id"));

    let (_, page) = app.get("/v1/companies/advline/employees", &operator).await;
    assert_eq!(page["total"], 2, "the refused uploads stored nothing");
}
