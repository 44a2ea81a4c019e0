//! A batch builder for columnar arrangements that takes many small chunks cheaply.
//!
//! A reduce hands its batch builder one chunk per key. Differential's columnar builder
//! re-packs everything it is carrying on every push, which costs time quadratic in the number
//! of keys per packed chunk (it was most of the time of a one-million-key `RETAIN`). This
//! builder melds consecutive per-key chunks into one trie and passes the builder a chunk only
//! once that trie holds [`COALESCE_UPDATES`] updates, so packing stays linear.
//!
//! Invariant: chunks arrive in key order, each consolidated, as a reduce produces them, so
//! each can be melded onto the end of the trie being built.

use differential_dataflow::columnar::trace::{Builder as ChunkBuilder, ColChunk};
use differential_dataflow::columnar::updates::{UpdatesBuilder, UpdatesTyped};
use differential_dataflow::trace::Builder;

use crate::repr::{EncodedRow, Time};

/// Updates melded before a chunk is handed on.
pub const COALESCE_UPDATES: usize = 8 * 1024;

/// One update of a columnar arrangement keyed and valued by encoded rows.
pub type RowUpdate = (EncodedRow, EncodedRow, Time, i64);

/// A columnar batch builder that coalesces small chunks (see the module docs).
#[derive(Default)]
pub struct CoalescingBuilder {
    inner: ChunkBuilder<EncodedRow, EncodedRow, Time, i64>,
    pending: Option<UpdatesBuilder<RowUpdate>>,
    pending_updates: usize,
}

impl CoalescingBuilder {
    fn flush(&mut self) {
        if let Some(pending) = self.pending.take() {
            let mut chunk = ColChunk::default();
            *chunk.updates_mut() = pending.done();
            self.inner.push(&mut chunk);
            self.pending_updates = 0;
        }
    }
}

impl Builder for CoalescingBuilder {
    type Input = ColChunk<RowUpdate>;
    type Time = Time;
    type Output = <ChunkBuilder<EncodedRow, EncodedRow, Time, i64> as Builder>::Output;

    fn push(&mut self, chunk: &mut Self::Input) {
        let trie: UpdatesTyped<RowUpdate> = std::mem::take(chunk.updates_mut());
        let updates = trie.len();
        if updates == 0 {
            return;
        }
        match self.pending.as_mut() {
            Some(pending) => pending.meld(&trie),
            None => self.pending = Some(UpdatesBuilder::new_from(trie)),
        }
        self.pending_updates += updates;
        if self.pending_updates >= COALESCE_UPDATES {
            self.flush();
        }
    }

    fn done(mut self) -> Option<Self::Output> {
        self.flush();
        self.inner.done()
    }
}
