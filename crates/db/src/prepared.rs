//! Statements planned once per connection, however diesel built them.
//!
//! diesel prepares and keeps a statement only when it can tell from the query's type that its
//! text never changes: it never keeps an `UPDATE`, nor raw SQL (`sql_query`), so Postgres parses
//! and plans those again on every call. For the statements a sender runs for every Bayzat request
//! that planning cost more than running them (a batch refresh: 0.28 ms planned, 0.14 ms run), and
//! at 200 requests a second it took a tenth of a two-core machine. [`Prepared::prepared`] marks a
//! statement whose text, given its binds' types, is always the same: the connection then keeps
//! it under that text, and Postgres plans it once (or, after five runs, keeps a generic plan when
//! that is no worse).
//!
//! Only for a statement whose text is fixed: one built with a varying number of binds (an
//! `IN (…)` list) or with values written into its text would be kept once per variant.

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::QueryResult;

/// A statement the connection keeps prepared: see the module's documentation.
#[derive(Debug, Clone, Copy)]
#[must_use = "a statement does nothing until it is run"]
pub struct PreparedStatement<Q>(Q);

/// Marks a statement as kept prepared by the connection that runs it.
pub trait Prepared: Sized {
    /// This statement, planned once per connection (its text must not vary but for its binds).
    fn prepared(self) -> PreparedStatement<Self> {
        PreparedStatement(self)
    }
}

impl<Q: QueryFragment<Pg>> Prepared for Q {}

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for PreparedStatement<Q> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    /// Kept under its text (see the module's documentation), whatever diesel concludes from its
    /// type.
    fn is_safe_to_cache_prepared(&self, _backend: &Pg) -> QueryResult<bool> {
        Ok(true)
    }
}

/// No identity by type: the connection keeps the statement under its SQL text and binds' types.
impl<Q> QueryId for PreparedStatement<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for PreparedStatement<Q> {
    type SqlType = Q::SqlType;
}
