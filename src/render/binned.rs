//! A batcher for the input arrangement of a rule with feedback: updates at times the next
//! batch cannot release wait, in bins by time or in their messages sorted by time, until a
//! batch can.
//!
//! In: the updates of a rule's live input, which include the retractions its `Variable`
//! carries back, each stamped DELAY ahead of the tick that made it. Out: the same batches
//! differential's merge batcher would build, from one sort of the updates due.
//!
//! Why: differential's merge batcher merges everything it holds at every extraction and keeps
//! the part not yet due. A rule's loop always holds DELAY worth of retractions not yet due, so
//! with one tick per millisecond and a DELAY of 100, each retraction was merged again at each
//! of the 100 extractions before its own; and when the input ran ahead of the loop (whose
//! frontier moves at most DELAY per round), the backlog was merged again every round, so
//! falling behind made each round slower. Here an update is moved (or sorted with its
//! message) on the way in, at most once more when it is due, and once when its batch is sorted
//! and built.
//!
//! Messages come in two shapes. A tick's rows share a time, or a few times in long runs: each
//! run waits in a bin for its time, taken whole when due. A rule over event times puts nearly
//! every update at a time of its own (and its loop sends them back so): such a message is
//! sorted by time once and waits as it is, and what is due is a prefix of it. Binned by time,
//! each of those updates took a map entry and a vector of its own.
//!
//! Invariant: the bins and the runs hold exactly the updates not yet extracted, each run
//! sorted by time, so the earliest of the first bin's time and the runs' first times is the
//! batcher's lower frontier. Times are totally ordered, so an extraction's `upper` is one time
//! (or none, when every update is due).
//!
//! Known limitation: a run's allocation is freed only once its last update is due, so a message
//! with one update far ahead of the rest holds its whole buffer until then (the updates already
//! extracted leave empty slots behind).

use std::collections::BTreeMap;
use std::marker::PhantomData;

use differential_dataflow::batcher::{Batcher, Extract};
use differential_dataflow::logging::Logger;
use differential_dataflow::trace::Builder;
use differential_dataflow::trace::implementations::Layout;
use differential_dataflow::trace::implementations::ord_neu::{OrdValBatch, OrdValBuilder};
use timely::progress::Antichain;
use timely::progress::frontier::AntichainRef;

use crate::repr::{EncodedRow, Time};

/// Updates of `D`, in the containers they came in.
type Containers<D> = Vec<Vec<(D, Time, i64)>>;

/// One message's updates, sorted by time, of which those before `start` were extracted.
struct Run<D> {
    updates: Vec<(D, Time, i64)>,
    start: usize,
}

/// Updates of `D` waiting in bins and runs until due, each batch sorted, consolidated and built
/// by `S`.
pub(super) struct Binned<D, S> {
    /// Updates not yet extracted that came in long runs of one time, by time, in the
    /// containers they came in or were copied into.
    bins: BTreeMap<Time, Containers<D>>,
    /// Updates not yet extracted that came with scattered times: each message, sorted by time.
    runs: Vec<Run<D>>,
    /// The earliest time in `bins` and `runs`.
    frontier: Antichain<Time>,
    sealer: PhantomData<S>,
}

/// A message whose updates come, on average, in runs of one time at least this long is binned
/// by time; one with shorter runs is kept as a run sorted by time.
const LONG_RUN: usize = 16;

impl<D, S> Binned<D, S> {
    /// A new batcher; differential's constructor signature, whose logger and operator id a
    /// batcher uses to report its memory (this one does not).
    pub(super) fn new(_logger: Option<Logger>, _operator_id: usize) -> Binned<D, S> {
        Binned { bins: BTreeMap::new(), runs: Vec::new(), frontier: Antichain::new(), sealer: PhantomData }
    }
}

impl<D: Ord + SortPrefix + Default, S: SealSized<D>> Batcher<Vec<(D, Time, i64)>> for Binned<D, S> {
    fn insert(&mut self, container: &mut Vec<(D, Time, i64)>) {
        let Some(first) = container.first() else { return };
        if container.iter().all(|update| update.1 == first.1) {
            self.bins.entry(first.1).or_default().push(std::mem::take(container));
            return;
        }
        let runs: Vec<(Time, usize)> =
            container.chunk_by(|a, b| a.1 == b.1).map(|run| (run[0].1, run.len())).collect();
        if container.len() < LONG_RUN * runs.len() {
            if !container.is_sorted_by_key(|(_, time, _)| *time) {
                container.sort_unstable_by_key(|(_, time, _)| *time);
            }
            self.runs.push(Run { updates: std::mem::take(container), start: 0 });
            return;
        }
        // Each run of one time joins its bin's last container.
        let mut updates = container.drain(..);
        for (time, len) in runs {
            let bin = self.bins.entry(time).or_default();
            match bin.last_mut() {
                Some(last) => last.extend(updates.by_ref().take(len)),
                None => bin.push(updates.by_ref().take(len).collect()),
            }
        }
    }
}

impl<D: Ord + SortPrefix + Default, S: SealSized<D>> Extract for Binned<D, S> {
    type Time = Time;
    type Output = S::Output;

    fn extract<'a>(
        &'a mut self,
        upper: AntichainRef<'_, Time>,
    ) -> (Option<S::Output>, AntichainRef<'a, Time>) {
        let later = match upper.first() {
            Some(upper) => self.bins.split_off(upper),
            None => BTreeMap::new(),
        };
        let mut due: Containers<D> =
            std::mem::replace(&mut self.bins, later).into_values().flatten().collect();
        self.runs.retain_mut(|run| {
            let rest = &mut run.updates[run.start..];
            let ends = match upper.first() {
                Some(upper) => rest.partition_point(|(_, time, _)| time < upper),
                None => rest.len(),
            };
            if run.start == 0 && ends == rest.len() {
                due.push(std::mem::take(&mut run.updates));
                return false;
            }
            if ends > 0 {
                due.push(rest[..ends].iter_mut().map(std::mem::take).collect());
                run.start += ends;
            }
            run.start < run.updates.len()
        });
        let first_binned = self.bins.keys().next().copied();
        let first_in_runs = self.runs.iter().map(|run| run.updates[run.start].1).min();
        self.frontier = first_binned.into_iter().chain(first_in_runs).min().into_iter().collect();
        // One sort of what is due: cheaper than the chunked merge ladder of differential's
        // batcher, which merges each update about log(chunks) times. Consolidating here also
        // cancels each kept row's pair of updates on the loop before it takes a place.
        let mut updates = sorted(due);
        // Sorted: equal updates are neighbours, and need no second sort to meet.
        updates.dedup_by(|next, kept| {
            let equal = next.0 == kept.0 && next.1 == kept.1;
            if equal {
                kept.2 += next.2;
            }
            equal
        });
        updates.retain(|update| update.2 != 0);
        let batch = if updates.is_empty() { None } else { S::seal_sized(updates) };
        (batch, self.frontier.borrow())
    }
}

/// A batch builder that makes room for all of a batch's updates before it takes them, so each
/// of its containers is allocated once: differential's own sealing sizes containers by their
/// number of items, which leaves a container of bytes
/// ([`ByteRows`](crate::repr::ByteRows)) growing by doubling, each time into fresh memory
/// the kernel must fault in.
pub(super) trait SealSized<D> {
    /// The batch.
    type Output;
    /// Build the batch of `updates`, sorted and consolidated.
    fn seal_sized(updates: Vec<(D, Time, i64)>) -> Option<Self::Output>;
}

impl<L, K, V> SealSized<(K, V)> for OrdValBuilder<L, Vec<((K, V), Time, i64)>>
where
    L: Layout<KeyContainer: RoomFor<K>, ValContainer: RoomFor<V>>,
    K: PartialEq,
    V: PartialEq,
    Self: Builder<Input = Vec<((K, V), Time, i64)>, Output = OrdValBatch<L>>,
{
    type Output = OrdValBatch<L>;

    fn seal_sized(mut updates: Vec<((K, V), Time, i64)>) -> Option<OrdValBatch<L>> {
        let (mut keys, mut vals, mut key_bytes, mut val_bytes) = (0, 0, 0, 0);
        let mut previous: Option<&(K, V)> = None;
        for (data, _, _) in &updates {
            let new_key = previous.is_none_or(|(key, _)| *key != data.0);
            if new_key {
                keys += 1;
                key_bytes += L::KeyContainer::room_for(&data.0);
            }
            if new_key || previous.is_some_and(|(_, val)| *val != data.1) {
                vals += 1;
                val_bytes += L::ValContainer::room_for(&data.1);
            }
            previous = Some(data);
        }
        let mut builder = Self::with_capacity(keys, vals, updates.len());
        builder.result.keys.reserve_room(key_bytes);
        builder.result.vals.vals.reserve_room(val_bytes);
        builder.push(&mut updates);
        builder.done()
    }
}

/// A batch container whose items may need room beyond their count: bytes, for
/// [`ByteRows`](crate::repr::ByteRows).
pub(super) trait RoomFor<T> {
    /// The room `item` takes beyond what a container sized by count gives it.
    fn room_for(item: &T) -> usize;
    /// Make room for `room` in all.
    fn reserve_room(&mut self, room: usize);
}

/// A vector sized by count holds its items.
impl<T> RoomFor<T> for Vec<T> {
    fn room_for(_item: &T) -> usize {
        0
    }

    fn reserve_room(&mut self, _room: usize) {}
}

/// Data whose order starts with a `u64`: a radix sort by it leaves only runs of equal
/// prefixes to compare.
pub(super) trait SortPrefix {
    /// Whether prefixes are spread evenly over all `u64`s (hashes): then their top bits
    /// separate a batch about as well as all 64 do, in fewer passes of the radix sort.
    const EVEN: bool;
    /// How many leading bytes of its order `self` shares with `other` (0 if not bytes).
    fn shared(&self, other: &Self) -> usize;
    /// The eight bytes of its order after the first `skip`, as a `u64`. Among data that all
    /// share their first `skip` bytes, `a < b` implies `a.sort_prefix(skip) <=
    /// b.sort_prefix(skip)`.
    fn sort_prefix(&self, skip: usize) -> u64;
}

/// Keyed by a hash.
impl<T> SortPrefix for (u64, T) {
    const EVEN: bool = true;

    fn shared(&self, _other: &Self) -> usize {
        0
    }

    fn sort_prefix(&self, _skip: usize) -> u64 {
        self.0
    }
}

/// Keyed by bytes, compared byte by byte: eight of them, big-endian, padded with zeros.
impl SortPrefix for (EncodedRow, EncodedRow) {
    const EVEN: bool = false;

    fn shared(&self, other: &Self) -> usize {
        self.0.iter().zip(&other.0).take_while(|(a, b)| a == b).count()
    }

    fn sort_prefix(&self, skip: usize) -> u64 {
        let mut prefix = [0; 8];
        let bytes = &self.0[skip.min(self.0.len())..];
        let len = bytes.len().min(8);
        prefix[..len].copy_from_slice(&bytes[..len]);
        u64::from_be_bytes(prefix)
    }
}

/// The updates of `containers`, sorted by data and time: by the data's prefix with a radix
/// sort, which moves each update a few times instead of comparing it about log(n) times, then
/// each run of equal prefixes (most are one update long) by comparison. The prefix starts after
/// the bytes all the data share (an encoded key's type tag, the high bytes of small integers),
/// which would otherwise leave a few long runs.
fn sorted<D: Ord + SortPrefix + Default>(mut containers: Containers<D>) -> Vec<(D, Time, i64)> {
    let mut skip = usize::MAX;
    let mut all = containers.iter().flatten();
    if let Some((first, _, _)) = all.next() {
        for (data, _, _) in all {
            skip = skip.min(first.shared(data));
            if skip == 0 {
                break;
            }
        }
    }
    let len: usize = containers.iter().map(Vec::len).sum();
    let by_data = |a: &(D, Time, i64), b: &(D, Time, i64)| (&a.0, a.1).cmp(&(&b.0, b.1));
    if D::EVEN {
        let mut updates = match containers.len() {
            1 => containers.pop().unwrap_or_default(),
            _ => {
                let mut updates = Vec::with_capacity(len);
                for mut container in containers {
                    updates.append(&mut container);
                }
                updates
            }
        };
        // The top 16 bits of even prefixes leave runs of about one update up to 65,536 of
        // them, and of about 16 up to a million, in two passes instead of eight: each pass
        // moves every update through memory, which costs more than sorting short runs by
        // comparison. The top 32 bits, four passes, beyond.
        let shift = if len <= 1 << 20 { 48 } else { 32 };
        let top = |data: &D| data.sort_prefix(skip) >> shift;
        if shift == 48 {
            radsort::sort_by_key(&mut updates, |(data, _, _)| top(data) as u16);
        } else {
            radsort::sort_by_key(&mut updates, |(data, _, _)| top(data) as u32);
        }
        for run in updates.chunk_by_mut(|a, b| top(&a.0) == top(&b.0)) {
            if run.len() > 1 {
                run.sort_unstable_by(by_data);
            }
        }
        return updates;
    }
    // A byte key's prefix lies behind a pointer, which each pass of the radix sort would follow
    // again for every update: read each once, into the prefix and the update's place (the
    // container's index in the high half, the update's in the low half), sort those (the radix
    // sort skips the bytes no key varies in), and move each update once, into one vector.
    debug_assert!(u32::try_from(containers.len()).is_ok());
    debug_assert!(containers.iter().all(|container| u32::try_from(container.len()).is_ok()));
    let mut order: Vec<(u64, u64)> = Vec::with_capacity(len);
    for (at, container) in containers.iter().enumerate() {
        let at = (at as u64) << 32;
        order.extend(
            container
                .iter()
                .enumerate()
                .map(|(within, (data, _, _))| (data.sort_prefix(skip), at | within as u64)),
        );
    }
    radsort::sort_by_key(&mut order, |(prefix, _)| *prefix);
    let mut updates = Vec::with_capacity(len);
    updates.extend(
        order.iter().map(|(_, place)| {
            std::mem::take(&mut containers[(place >> 32) as usize][*place as u32 as usize])
        }),
    );
    let mut start = 0;
    for run in order.chunk_by(|a, b| a.0 == b.0) {
        if run.len() > 1 {
            updates[start..start + run.len()].sort_unstable_by(by_data);
        }
        start += run.len();
    }
    updates
}

#[cfg(test)]
mod tests {
    use differential_dataflow::trace::implementations::OffsetList;
    use differential_dataflow::trace::implementations::ord_neu::OrdValBuilder;
    use differential_dataflow::trace::{Cursor, Navigable};

    use proptest::prelude::*;

    use super::*;

    type Update = ((u64, u64), Time, i64);
    type Layout = (Vec<u64>, Vec<u64>, Vec<Time>, Vec<i64>, OffsetList);
    type Builder = OrdValBuilder<Layout, Vec<Update>>;

    fn contents(batch: &OrdValBatch<Layout>) -> Vec<Update> {
        let mut cursor = batch.cursor();
        let mut updates = Vec::new();
        while cursor.key_valid(batch) {
            while cursor.val_valid(batch) {
                let (key, val) = (*cursor.key(batch), *cursor.val(batch));
                cursor.map_times(batch, |time, diff| updates.push(((key, val), *time, *diff)));
                cursor.step_val(batch);
            }
            cursor.step_key(batch);
        }
        updates
    }

    /// `updates` in containers of seven, as a batcher receives them in messages.
    fn in_containers<T: Clone>(updates: &[T]) -> Vec<Vec<T>> {
        updates.chunks(7).map(<[T]>::to_vec).collect()
    }

    proptest::proptest! {
        #[test]
        fn sorts_as_comparing_would(
            // Hashes that differ only in their low bits, or in their top bits, or anywhere.
            hashed in proptest::collection::vec(
                ((prop_oneof![0u64..4, (0u64..4).prop_map(|h| h << 47), any::<u64>()], 0u64..4), 0u64..3, -1i64..2),
                0..200,
            ),
            bytes in proptest::collection::vec(
                ((proptest::collection::vec(0u8..3, 0..10), proptest::collection::vec(0u8..3, 0..3)), 0u64..3, -1i64..2),
                0..200,
            ),
        ) {
            // Updates of equal data and time may come in any order: consolidation adds them.
            let mut expected = hashed.clone();
            expected.sort();
            let order = |updates: &[((u64, u64), Time, i64)]| updates.iter().map(|(d, t, _)| (*d, *t)).collect::<Vec<_>>();
            for containers in [vec![hashed.clone()], in_containers(&hashed)] {
                proptest::prop_assert_eq!(order(&sorted(containers)), order(&expected));
            }
            let order = |updates: &[((EncodedRow, EncodedRow), Time, i64)]| {
                updates.iter().map(|(d, t, _)| (d.clone(), *t)).collect::<Vec<_>>()
            };
            // Also with keys that all share their first bytes, as encoded integers of one type do.
            let shared: Vec<_> = bytes
                .iter()
                .map(|((key, value), time, diff)| (([&[5, 0, 0, 0, 0, 0, 0][..], key].concat(), value.clone()), *time, *diff))
                .collect();
            for updates in [bytes, shared] {
                let mut expected = updates.clone();
                expected.sort();
                for containers in [vec![updates.clone()], in_containers(&updates)] {
                    proptest::prop_assert_eq!(order(&sorted(containers)), order(&expected));
                }
            }
        }
    }

    #[test]
    fn sorts_many_hashes_as_comparing_would() {
        // Beyond 2^20 updates the radix sort takes the top 32 bits of a hash, not 16.
        let updates: Vec<((u64, u64), Time, i64)> = (0..(1u64 << 20) + 4_096)
            // Four hashes at a time share their top 32 bits and differ below them.
            .map(|i| {
                (((i / 4).wrapping_mul(0x9e37_79b9_7f4a_7c15) & !0xffff_ffff | (3 - i % 4), i % 3), i % 2, 1)
            })
            .collect();
        let mut expected = updates.clone();
        expected.sort();
        assert_eq!(sorted(in_containers(&updates)), expected);
        assert_eq!(sorted(vec![updates]), expected);
    }

    #[test]
    fn bins_long_runs_of_one_time_and_releases_them_when_due() {
        let mut batcher = Binned::<(u64, u64), Builder>::new(None, 0);
        // Two runs of 32 updates: long enough to be binned by time.
        let mut updates: Vec<Update> = (0..64).map(|i| ((i % 32, 0), 2 + i / 32, 1)).collect();
        batcher.insert(&mut updates);
        assert!(updates.is_empty());
        let (batch, frontier) = batcher.extract(AntichainRef::new(&[3]));
        assert_eq!(frontier.to_vec(), vec![3]);
        let expected: Vec<Update> = (0..32).map(|key| ((key, 0), 2, 1)).collect();
        assert_eq!(contents(&batch.expect("the run at 2 is due")), expected);
        let (batch, frontier) = batcher.extract(AntichainRef::new(&[]));
        assert!(frontier.is_empty());
        assert_eq!(contents(&batch.expect("the run at 3 is due")).len(), 32);
    }

    #[test]
    fn releases_a_run_and_a_bin_due_together() {
        let mut batcher = Binned::<(u64, u64), Builder>::new(None, 0);
        // Two times in two updates: a run. Then one time: a bin.
        let mut scattered = vec![((2, 2), 2, 1), ((1, 1), 1, 1)];
        batcher.insert(&mut scattered);
        let mut one_time = vec![((3, 3), 1, 1)];
        batcher.insert(&mut one_time);
        let (batch, frontier) = batcher.extract(AntichainRef::new(&[3]));
        assert!(frontier.is_empty());
        assert_eq!(
            contents(&batch.expect("everything is due")),
            vec![((1, 1), 1, 1), ((2, 2), 2, 1), ((3, 3), 1, 1)]
        );
    }

    #[test]
    fn releases_what_is_due_and_keeps_the_rest_by_time() {
        let mut batcher = Binned::<(u64, u64), Builder>::new(None, 0);
        let mut updates = vec![
            ((1, 1), 5, 1),
            ((1, 1), 1, 1),
            ((2, 0), 1, 1),
            ((1, 1), 1, 1),
            ((3, 3), 9, -1),
            ((4, 4), 9, 1),
            ((4, 4), 9, -1),
        ];
        batcher.insert(&mut updates);
        assert!(updates.is_empty());
        // A message of one time joins its bin as it is.
        let mut more = vec![((2, 0), 1, 1), ((0, 7), 1, 1)];
        batcher.insert(&mut more);
        assert!(more.is_empty());

        let (batch, frontier) = batcher.extract(AntichainRef::new(&[5]));
        assert_eq!(frontier.to_vec(), vec![5]);
        assert_eq!(
            contents(&batch.expect("updates at 1 are due")),
            vec![((0, 7), 1, 1), ((1, 1), 1, 2), ((2, 0), 1, 2)]
        );

        let (batch, frontier) = batcher.extract(AntichainRef::new(&[6]));
        assert_eq!(frontier.to_vec(), vec![9]);
        assert_eq!(contents(&batch.expect("the update at 5 is due")), vec![((1, 1), 5, 1)]);

        let (batch, frontier) = batcher.extract(AntichainRef::new(&[]));
        assert!(frontier.is_empty());
        assert_eq!(contents(&batch.expect("everything is due")), vec![((3, 3), 9, -1)], "(4, 4) cancels");

        let (batch, frontier) = batcher.extract(AntichainRef::new(&[]));
        assert!(batch.is_none() && frontier.is_empty());
    }
}
