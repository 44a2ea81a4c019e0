//! The state a worker holds: arrangements, seen through one small trait.
//!
//! Every arrangement a view or source keeps is registered as a [`StateHandle`], so the
//! worker can let it compact as frontiers advance and count what it holds for `SHOW STATS`.

use differential_dataflow::operators::arrange::TraceAgent;
use differential_dataflow::trace::TraceReader;
use differential_dataflow::trace::implementations::spine_fueled::SpineBatch;
use timely::progress::frontier::AntichainRef;

use crate::render::Time;

/// An arrangement held by a worker.
pub trait StateHandle {
    /// Allow the arrangement to forget distinctions between times before `read_frontier`,
    /// the earliest time a future read can ask for. Reads count updates at times strictly
    /// before their read time, so updates are advanced only up to `read_frontier - 1`: one
    /// advanced to the read frontier itself would drop out of the next read.
    fn compact_to(&mut self, read_frontier: Time);
    /// Updates physically held, summed over the arrangement's batches.
    fn records(&mut self) -> usize;
    /// Non-empty batches held; idle merging goes on until there is at most one.
    fn batches(&mut self) -> usize;
}

impl<Tr> StateHandle for TraceAgent<Tr>
where
    Tr: TraceReader<Time = Time> + 'static,
    Tr::Batch: SpineBatch,
{
    fn compact_to(&mut self, read_frontier: Time) {
        let since = read_frontier.saturating_sub(1);
        self.set_logical_compaction(AntichainRef::new(&[since]));
        self.set_physical_compaction(AntichainRef::new(&[since]));
    }

    fn records(&mut self) -> usize {
        self.batches_through(AntichainRef::new(&[]))
            .map_or(0, |batches| batches.iter().map(|b| b.len()).sum())
    }

    fn batches(&mut self) -> usize {
        self.batches_through(AntichainRef::new(&[]))
            .map_or(0, |batches| batches.iter().filter(|b| b.len() > 0).count())
    }
}
