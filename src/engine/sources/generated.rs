//! Generated sources: rows come from a built-in live generator, each at its own wall-clock
//! millisecond, and the workers move the frontier with the wall clock.
//!
//! Each reading view gets a generator instance of its own; since a generator's rows are a
//! function of wall time, every instance produces the same rows from its start on, so a view
//! created late sees the rows from its creation on. Nothing else adds rows.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use differential_dataflow::AsCollection;
use timely::dataflow::Scope;
use timely::dataflow::operators::generic::operator::source;

use super::{Feed, RowInput};
use crate::generator::{Generator, now_ms};
use crate::plan::ObjectId;
use crate::render::Rows;
use crate::repr::{EncodedRow, Time, row};

/// A generated source on one worker: only its configuration; each view runs its own instance.
pub(super) struct Generated {
    generator: Generator,
}

impl Generated {
    pub(super) fn new(generator: Generator) -> Generated {
        Generated { generator }
    }
}

impl Feed for Generated {
    fn collection<'scope>(
        &mut self,
        scope: Scope<'scope, Time>,
        _view: ObjectId,
        _frontier: Time,
    ) -> Rows<'scope> {
        generate(scope, self.generator.clone())
    }

    fn row_inputs(&mut self) -> Vec<&mut RowInput> {
        Vec::new()
    }

    fn forget_view(&mut self, _view: ObjectId) {}

    fn compact_to(&mut self, _frontier: Time) {}
}

/// This worker's share of a live generator's rows (those numbered `i ≡ worker (mod workers)`),
/// from now on, each at its own wall-clock millisecond. The operator wakes every millisecond;
/// rows that happen later than their sequence number says (receipts) wait until they are due.
fn generate(scope: Scope<'_, Time>, generator: Generator) -> Rows<'_> {
    let (index, peers) = (scope.index() as u64, scope.peers() as u64);
    let activator_scope = scope;
    source(scope, "Generator", move |capability, info| {
        let activator = activator_scope.activator_for(info.address);
        let mut capability = Some(capability);
        let start = generator.first_at(now_ms());
        let mut next = start + (index + peers - start % peers) % peers;
        let mut due: BinaryHeap<Reverse<(Time, EncodedRow)>> = BinaryHeap::new();
        move |output| {
            let Some(held) = capability.as_mut() else { return };
            let now = now_ms();
            let mut session = output.session(&*held);
            while generator.sequence_time(next) <= now {
                let (row, time) = generator.row(next);
                let encoded = row::encode(&row);
                if time <= now {
                    session.give((encoded, time, 1i64));
                } else {
                    due.push(Reverse((time, encoded)));
                }
                next += peers;
            }
            while due.peek().is_some_and(|Reverse((time, _))| *time <= now) {
                if let Some(Reverse((time, encoded))) = due.pop() {
                    session.give((encoded, time, 1i64));
                }
            }
            drop(session);
            let earliest = due.peek().map_or(now + 1, |Reverse((time, _))| (*time).min(now + 1));
            held.downgrade(&earliest);
            activator.activate_after(Duration::from_millis(1));
        }
    })
    .as_collection()
}
