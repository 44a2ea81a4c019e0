//! Columnar arrangements of encoded rows: how every arrangement that can spill is built and
//! read back.
//!
//! In: a keyed collection of encoded rows. Out: an arrangement in differential's columnar
//! layout, tagged so its chunks' spill counts are its own (see `storage::spill`), and the way
//! back from its batches to a collection. A view's output and a source's history are such
//! arrangements keyed by the whole row with an empty value when the session has a memory budget,
//! and vector arrangements otherwise ([`arrange_readable`]).
//!
//! Invariant: updates are exchanged between workers by a hash of the key's bytes, the same on
//! every worker and run, so an arrangement's key lives on one worker.

use columnar::Columnar;
use differential_dataflow::AsCollection;
use differential_dataflow::VecCollection;
use differential_dataflow::columnar::collection::{
    Builder as ColumnarCollectionBuilder, Pact as ColumnarPact, RecordedUpdates,
};
use differential_dataflow::columnar::trace::{Batcher as ColumnarBatcher, Spine as ColumnarSpine};
use differential_dataflow::operators::arrange::arrangement::arrange_core;
use differential_dataflow::operators::arrange::{Arranged, TraceAgent};
use differential_dataflow::trace::{Cursor, Navigable};
use timely::dataflow::ProbeHandle;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Probe;
use timely::dataflow::operators::generic::Operator;

use super::{Rows, Time};
use crate::engine::arrangement::{RowsArrangement, Spillable};
use crate::repr::EncodedRow;
use crate::storage::columnar::RowUpdate;
use crate::storage::spill::ArrangementSpill;
use crate::storage::spill::tagged::{TaggedBatcher, TaggedSpine, next_tag};

/// A columnar spine of encoded rows by encoded keys, wearing its arrangement's spill tag.
pub type RowSpine = TaggedSpine<ColumnarSpine<EncodedRow, EncodedRow, Time, i64>>;
/// A handle to a [`RowSpine`].
pub type RowTrace = TraceAgent<RowSpine>;
/// Rows keyed by an encoded key.
pub type Keyed<'scope> = VecCollection<'scope, Time, (EncodedRow, EncodedRow), i64>;

/// Arrange `keyed` by key in a columnar spine with a spill tag of its own: the arrangement, and
/// the handle that registers it as state.
pub fn arrange<'scope>(keyed: Keyed<'scope>, name: &str) -> (Arranged<'scope, RowTrace>, Spillable) {
    let pact = ColumnarPact { hashfunc: |key: columnar::Ref<'_, EncodedRow>| hash_bytes(key.into_iter()) };
    let tag = ArrangementSpill::new();
    next_tag(&tag);
    let arranged = arrange_core::<_, _, _, RowSpine>(
        to_columnar(keyed).inner,
        pact,
        name,
        TaggedBatcher::wrap(ColumnarBatcher::new),
    );
    let state = Spillable::new(arranged.trace.clone(), tag);
    (arranged, state)
}

/// Arrange a view's rows or a source's history by the whole row — columnar and spillable, or a
/// vector arrangement (see [`RowsArrangement`]) — and have `probe` follow it.
pub fn arrange_readable<'scope>(
    rows: Rows<'scope>,
    name: &str,
    spillable: bool,
    probe: &ProbeHandle<Time>,
) -> RowsArrangement {
    if spillable {
        let (arranged, state) = arrange(rows.map(|row| (row, EncodedRow::new())), name);
        arranged.stream.probe_with(probe);
        RowsArrangement::Spillable(state)
    } else {
        let arranged = rows.arrange_by_self_named(name);
        arranged.stream.probe_with(probe);
        RowsArrangement::InMemory(arranged.trace)
    }
}

/// An arrangement's updates as a keyed collection, read off the batches it produces (the
/// batches themselves, not a copy through another columnar container).
pub fn updates_of<'scope>(arranged: Arranged<'scope, RowTrace>) -> Keyed<'scope> {
    arranged
        .stream
        .unary(Pipeline, "FromColumnar", |_, _| {
            move |input, output| {
                input.for_each(|time, spans| {
                    let mut session = output.session(&time);
                    for span in spans.drain(..) {
                        let Some(batch) = span.inner else { continue };
                        let mut cursor = batch.cursor();
                        while cursor.key_valid(&batch) {
                            while cursor.val_valid(&batch) {
                                let key = <EncodedRow as Columnar>::into_owned(cursor.key(&batch));
                                let value = <EncodedRow as Columnar>::into_owned(cursor.val(&batch));
                                cursor.map_times(&batch, |time, diff| {
                                    session.give(((key.clone(), value.clone()), *time, *diff));
                                });
                                cursor.step_val(&batch);
                            }
                            cursor.step_key(&batch);
                        }
                    }
                });
            }
        })
        .as_collection()
}

/// The rows of an arrangement of whole rows, each its own key with an empty value (see
/// [`arrange_readable`]).
pub fn rows_of<'scope>(arranged: Arranged<'scope, RowTrace>) -> Rows<'scope> {
    updates_of(arranged).map(|(row, _)| row)
}

fn to_columnar(keyed: Keyed<'_>) -> differential_dataflow::Collection<'_, Time, RecordedUpdates<RowUpdate>> {
    keyed
        .inner
        .unary::<ColumnarCollectionBuilder<RowUpdate>, _, _, _>(Pipeline, "ToColumnar", |_, _| {
            move |input, output| {
                input.for_each(|time, data| {
                    let mut session = output.session_with_builder(&time);
                    for ((key, value), time, diff) in data.drain(..) {
                        session.give((&key, &value, &time, &diff));
                    }
                });
            }
        })
        .as_collection()
}

/// FNV-1a: cheap, and stable across workers and runs.
pub(crate) fn hash_bytes<'a>(bytes: impl IntoIterator<Item = &'a u8>) -> u64 {
    bytes
        .into_iter()
        .fold(0xcbf29ce484222325u64, |hash, byte| (hash ^ *byte as u64).wrapping_mul(0x100000001b3))
}
