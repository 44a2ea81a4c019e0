//! `View`: another view's rows, imported from its output arrangement.
//!
//! The view's dataflow keeps running on its own; this one reads the arrangement it already
//! maintains, so a view over a view shares the inner view's state instead of recomputing it.
//! The import starts from the arrangement's compacted contents, then follows its updates.

use timely::dataflow::Scope;

use super::{Context, Rows};
use crate::plan::ObjectId;
use crate::repr::Time;

pub(super) fn render<'scope>(
    scope: Scope<'scope, Time>,
    id: ObjectId,
    ctx: &mut Context<'scope>,
) -> Rows<'scope> {
    ctx.views.get_mut(&id).expect("the binder resolved this view").import(scope, "View")
}
