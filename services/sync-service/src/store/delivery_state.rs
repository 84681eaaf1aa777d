//! `deliveries.state` read and written as [`DeliveryState`]: a word outside the set of delivery
//! states is a deserialization error where it is read, never a delivery quietly taken for another
//! state or left out.

use std::io::Write;

use diesel::deserialize::{self, FromSql, Queryable};
use diesel::expression::{
    AppearsOnTable, AsExpression, Expression, SelectableExpression, ValidGrouping,
};
use diesel::pg::{Pg, PgValue};
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Bool;
use diesel::QueryResult;
use domain::DeliveryState;

use crate::schema::sql_types::DeliveryState as StateColumn;

impl ToSql<StateColumn, Pg> for DeliveryState {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        out.write_all(self.as_str().as_bytes())?;
        Ok(IsNull::No)
    }
}

impl FromSql<StateColumn, Pg> for DeliveryState {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        Ok(std::str::from_utf8(value.as_bytes())?.parse()?)
    }
}

impl Queryable<StateColumn, Pg> for DeliveryState {
    type Row = Self;

    fn build(row: Self) -> deserialize::Result<Self> {
        Ok(row)
    }
}

/// A delivery state compared with or written to `deliveries.state` by the query builder, which
/// takes only values of this crate's types (`DeliveryState` is the domain crate's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, AsExpression)]
#[diesel(sql_type = StateColumn)]
pub struct State(pub DeliveryState);

impl ToSql<StateColumn, Pg> for State {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <DeliveryState as ToSql<StateColumn, Pg>>::to_sql(&self.0, out)
    }
}

/// Each of `states` as a [`State`], for `eq_any`.
pub fn states(states: &[DeliveryState]) -> Vec<State> {
    states.iter().copied().map(State).collect()
}

/// `(column IN ('…', …))`: the column is one of a fixed set of delivery states, written into the
/// statement rather than bound. The planner then sees the states in every plan it makes,
/// generic ones included, and can prove that the partial index `deliveries_due` covers the
/// query. The words are the states' own spellings, never input.
#[derive(Debug, Clone, Copy)]
pub struct StateIn<C> {
    column: C,
    states: &'static [DeliveryState],
}

/// `column` holds one of `states` (at least one).
pub fn state_in<C>(column: C, states: &'static [DeliveryState]) -> StateIn<C> {
    debug_assert!(!states.is_empty(), "IN () is no SQL");
    StateIn { column, states }
}

impl<C> Expression for StateIn<C>
where
    C: Expression<SqlType = StateColumn>,
{
    type SqlType = Bool;
}

impl<C> QueryFragment<Pg> for StateIn<C>
where
    C: QueryFragment<Pg>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("(");
        self.column.walk_ast(out.reborrow())?;
        out.push_sql(" IN (");
        for (i, state) in self.states.iter().enumerate() {
            if i > 0 {
                out.push_sql(", ");
            }
            out.push_sql("'");
            out.push_sql(state.as_str());
            out.push_sql("'");
        }
        out.push_sql("))");
        Ok(())
    }
}

/// The statement's text depends on the states, not only on the types: it is cached by its text.
impl<C> QueryId for StateIn<C> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<C, QS> AppearsOnTable<QS> for StateIn<C>
where
    C: AppearsOnTable<QS>,
    Self: Expression,
{
}

impl<C, QS> SelectableExpression<QS> for StateIn<C>
where
    C: SelectableExpression<QS>,
    Self: AppearsOnTable<QS>,
{
}

impl<C, GB> ValidGrouping<GB> for StateIn<C>
where
    C: ValidGrouping<GB>,
{
    type IsAggregate = C::IsAggregate;
}
