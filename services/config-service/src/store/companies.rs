use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;

use super::{Conn, QueryResult};
use crate::schema::companies;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Serialize)]
#[diesel(table_name = companies)]
pub struct Company {
    pub id: i64,
    pub slug: String,
    pub name_en: String,
    pub name_ar: Option<String>,
    pub timezone: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = companies)]
pub struct NewCompany<'a> {
    pub slug: &'a str,
    pub name_en: &'a str,
    pub name_ar: Option<&'a str>,
    pub timezone: &'a str,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = companies)]
pub struct CompanyChanges {
    pub name_en: Option<String>,
    pub name_ar: Option<Option<String>>,
    pub timezone: Option<String>,
}

/// How a request names a company: its id, or its slug.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompanyKey {
    Id(i64),
    Slug(String),
}

impl CompanyKey {
    pub fn parse(raw: &str) -> Self {
        match raw.parse::<i64>() {
            Ok(id) => CompanyKey::Id(id),
            Err(_) => CompanyKey::Slug(raw.to_owned()),
        }
    }
}

/// Inserts a company; fails with a unique violation when the slug is taken.
pub async fn insert(conn: &mut Conn, new: &NewCompany<'_>) -> QueryResult<Company> {
    diesel::insert_into(companies::table)
        .values(new)
        .returning(Company::as_returning())
        .get_result(conn)
        .await
}

/// The company with that id or slug.
pub async fn find(conn: &mut Conn, key: &CompanyKey) -> QueryResult<Option<Company>> {
    let query = companies::table.select(Company::as_select()).into_boxed();
    let query = match key {
        CompanyKey::Id(id) => query.filter(companies::id.eq(*id)),
        CompanyKey::Slug(slug) => query.filter(companies::slug.eq(slug.clone())),
    };
    query.first(conn).await.optional()
}

/// Companies in slug order; `only` limits them to those slugs (a token's `companies` claim).
pub async fn list(conn: &mut Conn, only: Option<&[String]>) -> QueryResult<Vec<Company>> {
    let mut query = companies::table
        .select(Company::as_select())
        .order(companies::slug.asc())
        .into_boxed();
    if let Some(slugs) = only {
        query = query.filter(companies::slug.eq_any(slugs.to_vec()));
    }
    query.load(conn).await
}

/// Applies `changes` and returns the company as it is now.
pub async fn update(conn: &mut Conn, id: i64, changes: &CompanyChanges) -> QueryResult<Company> {
    diesel::update(companies::table.find(id))
        .set((changes, companies::updated_at.eq(diesel::dsl::now)))
        .returning(Company::as_returning())
        .get_result(conn)
        .await
}
