//! `Source`: a source's rows, as the engine built them for the view being rendered.

use super::{Context, Rows};
use crate::plan::ObjectId;

pub(super) fn render<'scope>(id: ObjectId, ctx: &Context<'scope>) -> Rows<'scope> {
    // The engine builds a collection for every source the plan reads (`Plan::sources`), the
    // same walk that reaches this node.
    ctx.sources.get(&id).cloned().expect("the engine built every source the plan reads")
}
