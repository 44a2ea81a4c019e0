//! Columnar arrangements of encoded rows: how every arrangement that can spill is built and
//! read back.
//!
//! In: a keyed collection of encoded rows. Out: an arrangement in differential's columnar
//! layout, tagged so its chunks' spill counts are its own (see `storage::spill`), and the way
//! back from its batches to a collection. A view's output and a source's history are such
//! arrangements keyed by the whole row with an empty value when the session has a memory budget,
//! and vector arrangements otherwise, a batch's rows in one buffer ([`arrange_readable`]).
//!
//! Invariant: updates are exchanged between workers by a hash of the key's bytes, the same on
//! every worker and run, so an arrangement's key lives on one worker.

use columnar::Columnar;
use differential_dataflow::AsCollection;
use differential_dataflow::columnar::collection::{
    Builder as ColumnarCollectionBuilder, Pact as ColumnarPact, RecordedUpdates,
};
use differential_dataflow::columnar::trace::{Batcher as ColumnarBatcher, Spine as ColumnarSpine};
use differential_dataflow::operators::arrange::arrangement::arrange_core;
use differential_dataflow::operators::arrange::{Arranged, TraceAgent};
use std::rc::Rc;

use differential_dataflow::batcher::merge::MergeBatcher;
use differential_dataflow::batcher::merge::chunker::ContainerChunker;
use differential_dataflow::batcher::merge::vec::VecMerger;
use differential_dataflow::trace::implementations::ord_neu::{OrdKeyBatch, OrdKeyBuilder, OrdValBatch};
use differential_dataflow::trace::implementations::spine_fueled::Spine;
use differential_dataflow::trace::implementations::{BatchContainer, OffsetList};
use differential_dataflow::trace::{Cursor, Navigable};
use timely::container::PushInto;
use timely::dataflow::ProbeHandle;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Probe;
use timely::dataflow::operators::generic::Operator;

use super::binned::RoomFor;
use super::{KeyedRows, Rows};
use crate::render::arrangement::{RowsArrangement, Spillable};
use crate::render::columnar::RowUpdate;
use crate::repr::{ByteRows, EncodedRow, Time};
use crate::storage::spill::ArrangementSpill;
use crate::storage::spill::tagged::{TaggedBatcher, TaggedSpine, next_tag};

/// A columnar spine of encoded rows by encoded keys, wearing its arrangement's spill tag.
pub type RowSpine = TaggedSpine<ColumnarSpine<EncodedRow, EncodedRow, Time, i64>>;
/// A handle to a [`RowSpine`].
pub type RowTrace = TraceAgent<RowSpine>;
/// A vector arrangement of whole rows, each its own key, a batch's rows in one buffer.
pub type RowsSpine = Spine<Rc<OrdKeyBatch<RowsLayout>>>;
type RowsLayout = (ByteRows, Vec<()>, Vec<Time>, Vec<i64>, OffsetList);
/// A vector arrangement of byte values by a `u64` (a rule's kept rows by a hash of their key):
/// keys in a vector, a batch's values in one buffer.
pub(super) type HashedSpine = Spine<Rc<OrdValBatch<HashedLayout>>>;
pub(super) type HashedLayout = (Vec<u64>, ByteRows, Vec<Time>, Vec<i64>, OffsetList);
type RowUpdateVec = Vec<((EncodedRow, ()), Time, i64)>;
type RowsBatcher = MergeBatcher<
    ContainerChunker<RowUpdateVec>,
    VecMerger<(EncodedRow, ()), Time, i64>,
    OrdKeyBuilder<RowsLayout, RowUpdateVec>,
>;

/// Arrange `keyed` by key in a columnar spine with a spill tag of its own: the arrangement, and
/// the handle that registers it as state.
pub fn arrange<'scope>(keyed: KeyedRows<'scope>, name: &str) -> (Arranged<'scope, RowTrace>, Spillable) {
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
        let arranged =
            rows.map(|row| (row, ())).arrange_named::<RowsBatcher, RowsSpine>(name, RowsBatcher::new);
        arranged.stream.probe_with(probe);
        RowsArrangement::InMemory(arranged.trace)
    }
}

/// An arrangement's updates as a keyed collection, read off the batches it produces (the
/// batches themselves, not a copy through another columnar container).
pub fn updates_of<'scope>(arranged: Arranged<'scope, RowTrace>) -> KeyedRows<'scope> {
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

fn to_columnar(
    keyed: KeyedRows<'_>,
) -> differential_dataflow::Collection<'_, Time, RecordedUpdates<RowUpdate>> {
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
pub(super) fn hash_bytes<'a>(bytes: impl IntoIterator<Item = &'a u8>) -> u64 {
    bytes
        .into_iter()
        .fold(0xcbf29ce484222325u64, |hash, byte| (hash ^ *byte as u64).wrapping_mul(0x100000001b3))
}

/// Room for an item's bytes, beyond its place among the ends.
impl RoomFor<EncodedRow> for ByteRows {
    fn room_for(item: &EncodedRow) -> usize {
        item.len()
    }

    fn reserve_room(&mut self, room: usize) {
        self.reserve_bytes(room);
    }
}

impl PushInto<EncodedRow> for ByteRows {
    fn push_into(&mut self, item: EncodedRow) {
        self.push(&item);
    }
}

impl PushInto<&EncodedRow> for ByteRows {
    fn push_into(&mut self, item: &EncodedRow) {
        self.push(item);
    }
}

impl PushInto<&[u8]> for ByteRows {
    fn push_into(&mut self, item: &[u8]) {
        self.push(item);
    }
}

impl BatchContainer for ByteRows {
    type Owned = EncodedRow;
    type ReadItem<'a> = &'a [u8];

    fn into_owned(item: &[u8]) -> EncodedRow {
        item.to_vec()
    }

    fn clone_onto(item: &[u8], other: &mut EncodedRow) {
        other.clear();
        other.extend_from_slice(item);
    }

    fn push_ref(&mut self, item: &[u8]) {
        self.push(item);
    }

    fn push_own(&mut self, item: &EncodedRow) {
        self.push(item);
    }

    fn clear(&mut self) {
        ByteRows::clear(self);
    }

    fn with_capacity(size: usize) -> Self {
        ByteRows::with_capacity(size, 0)
    }

    fn merge_capacity(cont1: &Self, cont2: &Self) -> Self {
        ByteRows::with_capacity(cont1.len() + cont2.len(), cont1.byte_len() + cont2.byte_len())
    }

    fn reborrow<'b, 'a: 'b>(item: &'a [u8]) -> &'b [u8] {
        item
    }

    // Always inlined, with `ByteRows::get`: differential's merges, builders and cursors read
    // every value through here, and the compiler left it a call in their loops.
    #[inline(always)]
    fn index(&self, index: usize) -> &[u8] {
        self.get(index)
    }

    #[inline(always)]
    fn len(&self) -> usize {
        ByteRows::len(self)
    }
}

#[cfg(test)]
mod tests {
    use differential_dataflow::trace::implementations::ord_neu::OrdValBuilder;

    use super::*;
    use crate::render::binned::SealSized;

    #[test]
    fn a_sealed_batch_holds_its_bytes_in_one_allocation_each() {
        type Layout = (ByteRows, ByteRows, Vec<Time>, Vec<i64>, OffsetList);
        let update = |key: &str, value: &str, time, diff| {
            ((key.as_bytes().to_vec(), value.as_bytes().to_vec()), time, diff)
        };
        // A value at two times is held once; so is a key with two values.
        let updates = vec![
            update("key one", "value one", 1, 1),
            update("key one", "value one", 2, -1),
            update("key one", "value two!", 1, 1),
            update("key two", "value three", 3, 1),
        ];
        let batch = OrdValBuilder::<Layout, Vec<_>>::seal_sized(updates).expect("updates");
        let (keys, values) = (&batch.storage.keys, &batch.storage.vals.vals);
        assert_eq!((keys.len(), values.len()), (2, 3));
        assert_eq!((keys.bytes.len(), keys.bytes.capacity()), (14, 14));
        assert_eq!((values.bytes.len(), values.bytes.capacity()), (30, 30));
    }

    #[test]
    fn byte_rows_hand_back_what_was_pushed() {
        let mut rows = ByteRows::default();
        for row in [&b"abc"[..], b"", b"z"] {
            rows.push_ref(row);
        }
        assert_eq!(rows.len(), 3);
        assert_eq!((rows.index(0), rows.index(1), rows.index(2)), (&b"abc"[..], &b""[..], &b"z"[..]));
        // Past the ends kept in four bytes (16 under test), the rest are kept in eight.
        for row in [&b"0123456789"[..], b"abcdefghij", b"", b"klm"] {
            rows.push_ref(row);
        }
        assert_eq!((rows.ends.len(), rows.wide_ends.len()), (4, 3));
        assert_eq!(rows.len(), 7);
        let all: Vec<&[u8]> = (0..rows.len()).map(|i| rows.index(i)).collect();
        assert_eq!(all, [&b"abc"[..], b"", b"z", b"0123456789", b"abcdefghij", b"", b"klm"]);
        let mut other = ByteRows::merge_capacity(&rows, &rows);
        other.push_own(&b"q".to_vec());
        assert_eq!(other.last(), Some(&b"q"[..]));
    }
}
