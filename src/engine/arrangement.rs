//! The state a worker holds: arrangements, seen through one small trait.
//!
//! Every arrangement a view or source keeps is registered as a [`StateHandle`], so the
//! worker can let it compact as frontiers advance and count what it holds for `SHOW STATS`.

use differential_dataflow::difference::Semigroup;
use differential_dataflow::operators::arrange::TraceAgent;
use differential_dataflow::trace::TraceReader;
use differential_dataflow::trace::cursor::{BatchCursor, Cursor, Navigable, cursor_list};
use differential_dataflow::trace::implementations::spine_fueled::SpineBatch;
use timely::progress::frontier::AntichainRef;

use std::rc::Rc;

use crate::render::Time;
use crate::storage::spill::{ArrangementSpill, SpillCounts};

/// An arrangement held by a worker.
pub trait StateHandle {
    /// Allow the arrangement to forget distinctions between times before `read_frontier`,
    /// the earliest time a future read can ask for. Reads count updates at times strictly
    /// before their read time, so updates are advanced only up to `read_frontier - 1`: one
    /// advanced to the read frontier itself would drop out of the next read.
    fn compact_to(&mut self, read_frontier: Time);
    /// Updates held once compacted to the arrangement's compaction frontier: distinct
    /// `(key, value, time)` with a non-zero count, times at or before the frontier counted as
    /// one. A batch merged just before the frontier last moved still holds the distinctions
    /// it no longer needs, and with no other batch to merge with, idle merging never revisits
    /// it; counting what it physically holds would make the count depend on that timing.
    fn records(&mut self) -> usize;
    /// Non-empty batches held; idle merging goes on until there is at most one.
    fn batches(&mut self) -> usize;
    /// What it holds through the spill hook, for arrangements that can spill.
    fn spill(&self) -> Option<SpillCounts> {
        None
    }
}

/// A state handle whose arrangement's chunks are paged under `tag` (see `storage::spill`).
pub struct Spillable<H> {
    handle: H,
    tag: Rc<ArrangementSpill>,
}

impl<H> Spillable<H> {
    /// `handle`, reporting the spill counts of `tag`.
    pub fn new(handle: H, tag: Rc<ArrangementSpill>) -> Self {
        Spillable { handle, tag }
    }
}

impl<H: StateHandle> StateHandle for Spillable<H> {
    fn compact_to(&mut self, read_frontier: Time) {
        self.handle.compact_to(read_frontier)
    }

    fn records(&mut self) -> usize {
        self.handle.records()
    }

    fn batches(&mut self) -> usize {
        self.handle.batches()
    }

    fn spill(&self) -> Option<SpillCounts> {
        Some(self.tag.counts())
    }
}

impl<Tr> StateHandle for TraceAgent<Tr>
where
    Tr: TraceReader<Time = Time> + 'static,
    Tr::Batch: SpineBatch + Navigable<Cursor: Cursor<Time = Time, Diff: Semigroup + 'static>>,
{
    fn compact_to(&mut self, read_frontier: Time) {
        let since = read_frontier.saturating_sub(1);
        self.set_logical_compaction(AntichainRef::new(&[since]));
        self.set_physical_compaction(AntichainRef::new(&[since]));
    }

    fn records(&mut self) -> usize {
        let since = self.get_logical_compaction().first().copied().unwrap_or(Time::MAX);
        let Some(batches) = self.batches_through(AntichainRef::new(&[])) else { return 0 };
        let (mut cursor, storage) = cursor_list(batches);
        let mut records = 0;
        let mut times = Vec::new();
        while cursor.key_valid(&storage) {
            while cursor.val_valid(&storage) {
                times.clear();
                cursor.map_times(&storage, |time, diff| {
                    let time = <BatchCursor<Tr> as Cursor>::owned_time(time).max(since);
                    times.push((time, <BatchCursor<Tr> as Cursor>::owned_diff(diff)));
                });
                differential_dataflow::consolidation::consolidate(&mut times);
                records += times.len();
                cursor.step_val(&storage);
            }
            cursor.step_key(&storage);
        }
        records
    }

    fn batches(&mut self) -> usize {
        self.batches_through(AntichainRef::new(&[]))
            .map_or(0, |batches| batches.iter().filter(|b| b.len() > 0).count())
    }
}
