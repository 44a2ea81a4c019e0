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
    /// Allow the arrangement to forget distinctions between times before `frontier`.
    fn compact_to(&mut self, frontier: Time);
    /// Updates physically held, summed over the arrangement's batches.
    fn records(&mut self) -> usize;
}

impl<Tr> StateHandle for TraceAgent<Tr>
where
    Tr: TraceReader<Time = Time> + 'static,
    Tr::Batch: SpineBatch,
{
    fn compact_to(&mut self, frontier: Time) {
        self.set_logical_compaction(AntichainRef::new(&[frontier]));
        self.set_physical_compaction(AntichainRef::new(&[frontier]));
    }

    fn records(&mut self) -> usize {
        self.batches_through(AntichainRef::new(&[]))
            .map_or(0, |batches| batches.iter().map(|b| b.len()).sum())
    }
}
