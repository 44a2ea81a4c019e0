//! `Retain`: a retention rule as a self-compacting reduce.
//!
//! ```text
//!  rows ─ key ─ thin ─┬──────────────────────────────┐
//!                     │                              ▼
//!                     └─▶ concat ◀─ negate ─ retractions (Variable, step = DELAY)
//!                           │                        ▲
//!               arrange ("retain input")             │
//!                           │                        │
//!                      reduce: best n per key ───────┴─ set(keyed − kept)
//!                           │
//!                         kept rows ─▶ the view
//! ```
//!
//! Each row is keyed by the rule's key and valued by its ranking datum (complemented when
//! lower is better, so "best" is always "greatest") followed by the row (in memory, only the
//! columns that are neither key nor rank: see `render::ranked`); ties therefore break on the
//! whole row, greatest first. The reduce keeps the `limit` greatest values per key.
//! Everything it does not keep is fed back through a `Variable` whose step is the DELAY
//! and subtracted from its own input, so its input arrangement holds only the kept rows plus
//! those retired less than DELAY ago.
//!
//! Invariants: the input is append-only (the binder refuses anything else), so retracting a
//! row the reduce did not keep never changes what it keeps, and the loop converges. Every
//! decrease of the reduce's input is such a retraction: a row retired at `t` was beaten by
//! `limit` rows then, each of which leaves only once beaten by `limit` better ones, so it is
//! never kept again. A key whose input only lost rows is therefore not evaluated at all.
//!
//! Before the loop, each time's rows are thinned per worker to their best `limit` per key: a
//! row beaten by `limit` rows of its own time can never be kept, so it never enters the state
//! at all. Ticks that thinning barely shrinks pass untouched ([`ThinningPolicy`]): the reduce
//! keeps the same rows either way.
//!
//! Known limitation: thinning waits for a tick to complete before passing its rows on, so it
//! holds the best rows of each open tick on this worker (at most keys × n per tick), or all of
//! them for a tick it passes.

use std::num::NonZeroU64;

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::rc::Rc;

use columnar::Columnar;
use differential_dataflow::AsCollection;
use differential_dataflow::columnar::updates::UpdatesTyped;
use timely::dataflow::Scope;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::Operator;

use differential_dataflow::VecCollection;
use differential_dataflow::operators::arrange::arrangement::arrange_core;
use differential_dataflow::operators::arrange::{Arranged, TraceAgent};
use differential_dataflow::trace::implementations::ord_neu::OrdValBuilder;
use timely::dataflow::ProbeHandle;
use timely::dataflow::operators::Probe;

use super::arrange::{HashedLayout, HashedSpine, RowSpine, RowTrace, arrange, arrange_readable, updates_of};
use super::binned::Binned;
use super::feedback::fed_back;
use super::in_order::{PriorOutput, reduce_in_order};
use super::not_kept::{count_kept, not_kept};
use super::ranked::{Ranking, Scratch};
use super::{Context, KeyedRows, Rows};
use crate::plan::RetainRule;
use crate::plan::arrangements::ArrangementName;
use crate::render::arrangement::{KeptRows, RowsArrangement, Spillable};
use crate::render::columnar::{CoalescingBuilder, RowUpdate};
use crate::repr::{EncodedRow, Time, row};
use crate::storage::spill::ArrangementSpill;
use crate::storage::spill::tagged::next_tag;

/// Rows keyed by a hash of their rule key, valued by the key, rank and row (see
/// [`reduce_in_memory`]).
pub(super) type HashedRows<'scope> = VecCollection<'scope, Time, (u64, EncodedRow), i64>;
/// Vector arrangements of [`HashedRows`]: keys in a vector, values in one byte slice per batch.
pub(super) type HashedUpdate = ((u64, EncodedRow), Time, i64);
type HashedBuilder = OrdValBuilder<HashedLayout, Vec<HashedUpdate>>;
type HashedBatcher = Binned<(u64, EncodedRow), HashedBuilder>;

/// Updates of one time waiting for the time to complete, with the capability to send them.
type Pending = BTreeMap<Time, (Capability<Time>, TickBest)>;

/// What a rule keeps: the kept updates its reduce outputs (which the loop, the dropped count and
/// the rows downstream use) and, in memory, the arrangement it maintains them in.
pub(super) enum Kept<'scope> {
    /// Keyed by the hash of the rule's key, valued by key ++ rank ++ the rest of the row
    /// ([`reduce_in_memory`]), which `ranking` puts back together.
    InMemory { arranged: Arranged<'scope, TraceAgent<HashedSpine>>, ranking: Box<Ranking> },
    /// Keyed by the rule's key, valued by rank ++ row, from an arrangement that can spill.
    Columnar { updates: KeyedRows<'scope>, descending: bool },
}

impl<'scope> Kept<'scope> {
    /// The kept rows.
    pub(super) fn rows(self) -> Rows<'scope> {
        match self {
            Kept::InMemory { arranged, ranking } => {
                arranged.as_collection(move |_hash, value| ranking.row(value))
            }
            Kept::Columnar { updates, descending } => updates.map(move |(_key, mut value)| {
                value.drain(..value.len() - row::after_rank(&value, descending).len());
                value
            }),
        }
    }

    /// The kept rows arranged for reads, followed by `probe`: in memory, the reduce's output
    /// arrangement itself; columnar, arranged whole as any view's rows are, since the reduce
    /// reads its output through a cursor, which keeps the chunks it reads decoded, and reads
    /// of a view under a budget must not.
    pub(super) fn readable(self, probe: &ProbeHandle<Time>) -> RowsArrangement {
        match self {
            Kept::InMemory { arranged, ranking } => {
                arranged.stream.probe_with(probe);
                RowsArrangement::Kept(KeptRows::new(arranged.trace, *ranking))
            }
            columnar @ Kept::Columnar { .. } => arrange_readable(columnar.rows(), "Output", true, probe),
        }
    }
}

/// Key and thin `rows`, then reduce them to the best `limit` per key, with the loop that
/// retracts the rest from the reduce's input (unless `feedback` is off). The view's rows are
/// [`Kept::rows`]; a rule at the root of a view is read through [`Kept::readable`].
pub(super) fn kept<'scope>(
    scope: Scope<'scope, Time>,
    rows: Rows<'scope>,
    rule: &RetainRule,
    delay: NonZeroU64,
    feedback: bool,
    ctx: &mut Context<'scope>,
) -> Kept<'scope> {
    let limit = rule.limit;
    let descending = rule.descending;
    // Rows the rule has dropped, thinned or retracted: every input row counts once in, every
    // kept row once out, so the sum over workers does not depend on how rows were spread.
    let dropped = Rc::new(Cell::new(0));
    ctx.dropped.push((ArrangementName::RetainInput, dropped.clone()));
    // Columnar state reads each row as the tail of its value: only state in memory is packed.
    let ranking = Ranking::of(rule, !ctx.spilling);
    let key_datums = ranking.key_datums();
    let hashed = key_and_thin(rows, ranking.clone(), limit as i64, dropped.clone());

    if ctx.spilling {
        let keyed = hashed.map(move |(_hash, mut ranked)| {
            let value = ranked.split_off(row::prefix_len(&ranked, key_datums));
            (ranked, value)
        });
        let (live, feedback) = fed_back(scope, keyed, feedback, delay.get());
        let updates = updates_of(reduce_columnar(live, limit, ctx))
            .inspect(move |(_, _, diff)| dropped.set(dropped.get() - diff));
        if let Some(feedback) = feedback {
            feedback.keep_only(updates.clone());
        }
        return Kept::Columnar { updates, descending };
    }
    let (live, feedback) = fed_back(scope, hashed.clone(), feedback, delay.get());
    let arranged = reduce_in_memory(live, limit, key_datums, ctx);
    match feedback {
        Some(feedback) => feedback.retract(not_kept(hashed, &arranged, dropped)),
        None => count_kept(&arranged, dropped),
    }
    Kept::InMemory { arranged, ranking: Box::new(ranking) }
}

/// The reduce over columnar arrangements, whose chunks go through the spill hook: its output
/// arrangement of kept rows, keyed.
fn reduce_columnar<'scope>(
    reduce_input: KeyedRows<'scope>,
    limit: u64,
    ctx: &mut Context<'scope>,
) -> Arranged<'scope, RowTrace> {
    let (arranged, input_state) = arrange(reduce_input, "RetainInput");
    ctx.state.push((ArrangementName::RetainInput, Box::new(input_state)));
    let output_tag = ArrangementSpill::new();
    next_tag(&output_tag);
    let kept = reduce_in_order::<RowTrace, CoalescingBuilder, RowSpine, _, _, _, _>(
        arranged,
        "Retain",
        PriorOutput::Recompute,
        move |_key, input, output| {
            keep_best(input, limit, |value, count| {
                output.push((<EncodedRow as Columnar>::into_owned(*value), count))
            })
        },
        // A key that only lost rows keeps what it kept (see the module's invariants).
        |_, _, _| true,
        |chunk, key, updates| {
            let mut trie = UpdatesTyped::<RowUpdate>::default();
            for (value, time, diff) in updates.drain(..) {
                <UpdatesTyped<RowUpdate> as columnar::Push<_>>::push(&mut trie, (key, &value, &time, &diff));
            }
            *chunk.updates_mut() = trie.consolidate();
        },
    );
    ctx.state.push((ArrangementName::RetainOutput, Box::new(Spillable::new(kept.trace.clone(), output_tag))));
    kept
}

/// The reduce over vector arrangements, for sessions without a memory budget: differential
/// builds, merges and seeks these faster than columnar chunks (see `docs/benchmarks.md`).
///
/// Each update is keyed by a hash of the rule's key, and valued by the key's bytes, then the
/// ranking datum and the rest of the row ([`Ranking`]): integer keys make sorting, merging and
/// seeking cheap, and the values of one batch share one allocation. Keys whose hashes collide share a group, which
/// holds each key's values contiguously (the key encoding is prefix-free), so the reduce
/// keeps the best `limit` of each key within it.
fn reduce_in_memory<'scope>(
    input: HashedRows<'scope>,
    limit: u64,
    key_datums: usize,
    ctx: &mut Context<'scope>,
) -> Arranged<'scope, TraceAgent<HashedSpine>> {
    // Each key goes to the worker its hash names, modulo the workers (timely's exchange takes the
    // value modulo the workers): where `KeyRoute` deals a source's rows, so that they stay there.
    let arranged = arrange_core::<_, _, HashedBatcher, HashedSpine>(
        input.inner,
        Exchange::new(exchange_hash),
        "RetainInput",
        HashedBatcher::new,
    );
    ctx.state.push((ArrangementName::RetainInput, Box::new(arranged.trace.clone())));
    let kept = reduce_in_order::<TraceAgent<HashedSpine>, HashedBuilder, HashedSpine, _, _, _, _>(
        arranged,
        "Retain",
        PriorOutput::Recompute,
        move |_hash, input, output| {
            keep_best_per_key(input, limit, key_datums, |value, count| output.push((value.to_vec(), count)))
        },
        // A key that only lost rows keeps what it kept (see the module's invariants).
        |_, _, _| true,
        |updates, hash: &u64, changes| {
            updates.clear();
            updates.extend(changes.drain(..).map(|(value, time, diff)| ((*hash, value), time, diff)));
        },
    );
    ctx.state.push((ArrangementName::RetainOutput, Box::new(kept.trace.clone())));
    kept
}

/// What a rule's hashed update is exchanged by, into its reduce and [`not_kept`] alike: the
/// hash of its key.
pub(super) fn exchange_hash(((hash, _), _, _): &HashedUpdate) -> u64 {
    *hash
}

/// Hand `keep` the `limit` greatest values of each key in `input`, whose values (sorted
/// ascending) each start with their key, `key_datums` datums long; in ascending order.
fn keep_best_per_key(
    input: &[(&[u8], i64)],
    limit: u64,
    key_datums: usize,
    mut keep: impl FnMut(&[u8], i64),
) {
    fn key_of(value: &[u8], key_datums: usize) -> &[u8] {
        &value[..row::prefix_len(value, key_datums)]
    }
    // Each key's values are a run.
    let mut start = 0;
    while start < input.len() {
        let key = key_of(input[start].0, key_datums);
        // The key encoding is prefix-free: a value is of this key when it starts with it. Most
        // groups hold one key, which their last value then shows.
        let end = if row::starts_with(input[input.len() - 1].0, key) {
            input.len()
        } else {
            input[start..]
                .iter()
                .position(|(value, _)| !row::starts_with(value, key))
                .map_or(input.len(), |at| start + at)
        };
        keep_best(&input[start..end], limit, |value, count| keep(value, count));
        start = end;
    }
}

/// Hand `keep` the `limit` greatest values of a key's `input` (sorted ascending), with their
/// multiplicities, in ascending order: the order a reduce keeps its output in, so it need not
/// sort it (`in_order`).
fn keep_best<V>(input: &[(V, i64)], limit: u64, mut keep: impl FnMut(&V, i64)) {
    // Down from the greatest, find the least value kept and how much of it: only that one can
    // be kept in part.
    let mut remaining = limit as i64;
    let mut least = None;
    for (at, (_, count)) in input.iter().enumerate().rev() {
        if remaining == 0 {
            break;
        }
        if *count > 0 {
            let take = (*count).min(remaining);
            least = Some((at, take));
            remaining -= take;
        }
    }
    let Some((least, take)) = least else { return };
    keep(&input[least].0, take);
    for (value, count) in &input[least + 1..] {
        if *count > 0 {
            keep(value, *count);
        }
    }
}

/// The hash a rule's key is arranged by, in memory, from the key's bytes as its row encodes them.
/// Every worker and process runs the same binary, so a fixed seed hashes a key alike on each of
/// them, and on the session, which deals rows by it ([`super::KeyRoute`]).
pub(super) fn key_hash(key: &[u8]) -> u64 {
    foldhash::fast::FixedState::with_seed(0x5eed).hash_one(key)
}

/// Key each row by a hash of the rule's key and value it as `ranking` does (key, rank, row);
/// then, per worker and tick, pass on only each key's `limit` greatest values of that tick.
/// Every row's diff is added to `arrived`.
fn key_and_thin<'scope>(
    rows: Rows<'scope>,
    ranking: Ranking,
    limit: i64,
    arrived: Rc<Cell<i64>>,
) -> HashedRows<'scope> {
    rows.inner
        .unary_frontier(Pipeline, "RetainKeyThin", move |_capability, _info| {
            let mut pending = Pending::new();
            let (mut scratch, mut ranked) = (Scratch::default(), Vec::new());
            // Ticks of a steady input touch about as many keys each: size each tick's table as
            // the last one ended, rather than growing it from empty.
            let mut keys_last_tick = 0;
            let mut policy = ThinningPolicy::default();
            move |(input, frontier), output| {
                input.for_each(|capability, data| {
                    // A tick's rows come in runs of one time: find the tick once per run.
                    for run in data.chunk_by(|(_, a, _), (_, b, _)| a == b) {
                        let time = run[0].1;
                        let (_, tick) = pending.entry(time).or_insert_with(|| {
                            let thin = policy.thin_next();
                            (capability.delayed(&time, 0), TickBest::new(thin, keys_last_tick))
                        });
                        arrived.set(arrived.get() + run.iter().map(|(_, _, diff)| diff).sum::<i64>());
                        for (encoded, _, diff) in run {
                            ranked.clear();
                            let key_len = ranking.write(encoded, &mut scratch, &mut ranked);
                            tick.offer(key_hash(&ranked[..key_len]), key_len, &ranked, *diff, limit);
                        }
                    }
                    data.clear();
                });
                while let Some(entry) = pending.first_entry() {
                    if frontier.less_equal(entry.key()) {
                        break;
                    }
                    let (time, (capability, best)) = entry.remove_entry();
                    if best.thin {
                        keys_last_tick = best.per_hash.len();
                        policy.measured(&best);
                    }
                    let mut session = output.session(&capability);
                    for (hashed, diff) in best.into_updates() {
                        session.give((hashed, time, diff));
                    }
                }
            }
        })
        .as_collection()
}

/// Which ticks to thin. Thinning costs a table entry per key and drops only the rows beyond a
/// key's limit in one tick: when most keys get fewer (many keys, or short ticks), it drops
/// almost nothing, and a row it does not drop costs the rest of the dataflow no less. A
/// thinned tick that dropped under one row in sixteen lets the ticks after it pass untouched,
/// and every sixteenth of those is thinned again to see whether that still holds.
#[derive(Debug)]
struct ThinningPolicy {
    worth_it: bool,
    passed_since_measured: u32,
}

impl Default for ThinningPolicy {
    fn default() -> ThinningPolicy {
        ThinningPolicy { worth_it: true, passed_since_measured: 0 }
    }
}

impl ThinningPolicy {
    const MEASURE_EVERY: u32 = 16;

    /// Whether to thin the tick about to start.
    fn thin_next(&mut self) -> bool {
        if self.worth_it {
            return true;
        }
        self.passed_since_measured += 1;
        if self.passed_since_measured < Self::MEASURE_EVERY {
            return false;
        }
        self.passed_since_measured = 0;
        true
    }

    /// Learn from a thinned tick that completed.
    fn measured(&mut self, tick: &TickBest) {
        if tick.offered > 0 {
            let kept: usize = tick.per_hash.values().map(Vec::len).sum();
            self.worth_it = (tick.offered - kept) * 16 >= tick.offered;
        }
    }
}

/// One tick's best values per key, on one worker (or, when not `thin`, its rows as they came).
/// A value is a key, a rank and a row; values of one key compare as their ranks and rows do.
struct TickBest {
    /// Whether this tick is thinned; if not, every update passes.
    thin: bool,
    /// The insertions offered to be thinned.
    offered: usize,
    /// Per key hash, the best values so far of the keys with that hash (more than one only on
    /// a collision), ascending, so that each key's values are a run (the key encoding is
    /// prefix-free); per key, multiplicities add up to at least the limit only as far as
    /// needed.
    per_hash: HashMap<u64, Vec<(EncodedRow, i64)>, foldhash::fast::RandomState>,
    /// Updates passed on untouched: every retraction (thinning is only sound for insertions),
    /// and every insertion of a tick not thinned.
    passed: Vec<((u64, EncodedRow), i64)>,
}

impl TickBest {
    /// A tick, thinned or not, whose table has room for `key_hashes` if thinned.
    fn new(thin: bool, key_hashes: usize) -> TickBest {
        TickBest {
            thin,
            offered: 0,
            per_hash: HashMap::with_capacity_and_hasher(
                if thin { key_hashes } else { 0 },
                Default::default(),
            ),
            passed: Vec::new(),
        }
    }

    /// Offer `value`, whose key is its first `key_len` bytes and hashes to `hash`.
    fn offer(&mut self, hash: u64, key_len: usize, value: &[u8], diff: i64, limit: i64) {
        if diff <= 0 || !self.thin {
            self.passed.push(((hash, value.to_vec()), diff));
            return;
        }
        self.offered += 1;
        let group = self.per_hash.entry(hash).or_default();
        let key = &value[..key_len];
        // Comparisons are `row::compare`'s: values are short and differ early, where
        // `memcmp`'s call costs more than the comparison.
        let one_key = group.first().is_none_or(|(first, _)| row::starts_with(first, key))
            && (group.len() < 2 || row::starts_with(&group[group.len() - 1].0, key));
        let (start, end) = if one_key {
            (0, group.len())
        } else {
            let start = group
                .partition_point(|(held, _)| row::compare(&held[..key_len.min(held.len())], key).is_lt());
            (start, start + group[start..].partition_point(|(held, _)| row::starts_with(held, key)))
        };
        // Within the key's run every value starts with the key: compare what follows it.
        let ranked = &value[key_len..];
        let held: i64 = group[start..end].iter().map(|(_, count)| count).sum();
        if held >= limit && row::compare(ranked, &group[start].0[key_len..]).is_le() {
            return;
        }
        // Under `LATEST` each row is mostly the newest of its key: try the best place first.
        let at = if start == end || row::compare(ranked, &group[end - 1].0[key_len..]).is_gt() {
            Err(end)
        } else {
            match group[start..end]
                .binary_search_by(|(held_value, _)| row::compare(&held_value[key_len..], ranked))
            {
                Ok(at) => Ok(start + at),
                Err(at) => Err(start + at),
            }
        };
        if let Err(at) = at
            && held >= limit
            && group[start].1 == diff
        {
            // The new value displaces the worst one exactly (the common case: rows of count 1
            // once a key is full): reuse its buffer instead of allocating.
            let (mut buffer, _) = group.remove(start);
            buffer.clear();
            buffer.extend_from_slice(value);
            group.insert(at - 1, (buffer, diff));
            return;
        }
        match at {
            Ok(at) => group[at].1 += diff,
            Err(at) => group.insert(at, (value.to_vec(), diff)),
        }
        let mut excess = held + diff - limit;
        while excess > 0 {
            let worst = &mut group[start].1;
            if *worst <= excess {
                excess -= *worst;
                group.remove(start);
            } else {
                *worst -= excess;
                excess = 0;
            }
        }
    }

    fn into_updates(self) -> impl Iterator<Item = ((u64, EncodedRow), i64)> {
        self.per_hash
            .into_iter()
            .flat_map(|(hash, group)| group.into_iter().map(move |(value, count)| ((hash, value), count)))
            .chain(self.passed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repr::Datum;

    /// Offer `key ++ value` with the key's one-byte hash (so "a" and "c" collide).
    fn offer(tick: &mut TickBest, key: &str, value: &str, count: i64, limit: i64) {
        let bytes = row::encode(&[Datum::Text(key.into()), Datum::Text(value.into())]);
        let key_len = row::prefix_len(&bytes, 1);
        tick.offer(u64::from(key.as_bytes()[0] & 0xfd), key_len, &bytes, count, limit);
    }

    fn updates(tick: TickBest) -> Vec<(Vec<Datum>, i64)> {
        let mut updates: Vec<_> =
            tick.into_updates().map(|((_, value), count)| (row::decode(&value), count)).collect();
        updates.sort_by(|a, b| a.0.cmp(&b.0));
        updates
    }

    #[test]
    fn thinning_keeps_the_best_per_key_with_multiplicity() {
        let mut tick = TickBest::new(true, 0);
        for (key, value, count) in [("a", "1", 1), ("a", "3", 1), ("a", "2", 2), ("b", "1", 1), ("a", "0", 5)]
        {
            offer(&mut tick, key, value, count, 2);
        }
        let row = |k: &str, v: &str, count| (vec![Datum::Text(k.into()), Datum::Text(v.into())], count);
        assert_eq!(updates(tick), vec![row("a", "2", 1), row("a", "3", 1), row("b", "1", 1)]);
    }

    #[test]
    fn thinning_keeps_colliding_keys_apart() {
        let mut tick = TickBest::new(true, 0);
        for (key, value) in [("c", "9"), ("a", "1"), ("c", "1"), ("a", "5"), ("a", "3"), ("c", "4")] {
            offer(&mut tick, key, value, 1, 1);
        }
        let row = |k: &str, v: &str| (vec![Datum::Text(k.into()), Datum::Text(v.into())], 1);
        assert_eq!(updates(tick), vec![row("a", "5"), row("c", "9")]);
    }

    #[test]
    fn keys_sharing_a_hash_keep_their_own_best() {
        let encode = |key: i64, rank: i64| row::encode(&[Datum::Int(key), Datum::Int(rank)]);
        let values = [encode(1, 5), encode(1, 7), encode(1, 9), encode(2, 1), encode(2, 3)];
        let input: Vec<(&[u8], i64)> = values.iter().map(|v| (v.as_slice(), 1)).collect();
        let mut kept = Vec::new();
        keep_best_per_key(&input, 2, 1, |value, count| kept.push((row::decode(value), count)));
        kept.sort_by(|a, b| a.0.cmp(&b.0));
        let row = |key: i64, rank: i64| (vec![Datum::Int(key), Datum::Int(rank)], 1);
        assert_eq!(kept, vec![row(1, 7), row(1, 9), row(2, 1), row(2, 3)]);
    }

    #[test]
    fn the_best_are_kept_in_ascending_order_the_least_in_part() {
        let input = [(1, 1), (2, 2), (3, 0), (4, 1), (5, -1)];
        let mut kept = Vec::new();
        keep_best(&input, 2, |value, count| kept.push((*value, count)));
        assert_eq!(kept, vec![(2, 1), (4, 1)]);
    }

    #[test]
    fn thinning_passes_retractions_through() {
        let mut tick = TickBest::new(true, 0);
        offer(&mut tick, "a", "1", -1, 1);
        offer(&mut tick, "a", "2", 1, 1);
        assert_eq!(tick.into_updates().count(), 2);
    }

    #[test]
    fn a_tick_not_thinned_passes_every_row() {
        let mut tick = TickBest::new(false, 0);
        for value in ["1", "2", "3"] {
            offer(&mut tick, "a", value, 1, 1);
        }
        assert_eq!(tick.into_updates().count(), 3);
    }

    #[test]
    fn ticks_that_drop_little_are_thinned_again_only_now_and_then() {
        let tick_of = |rows: &[(&str, &str)]| {
            let mut tick = TickBest::new(true, 0);
            for (key, value) in rows {
                offer(&mut tick, key, value, 1, 1);
            }
            tick
        };
        let mut policy = ThinningPolicy::default();
        assert!(policy.thin_next());
        // Sixteen distinct keys: nothing to drop.
        let keys: Vec<String> = (0..16).map(|k| format!("k{k}")).collect();
        policy.measured(&tick_of(&keys.iter().map(|k| (k.as_str(), "1")).collect::<Vec<_>>()));
        let thinned: Vec<bool> = (0..ThinningPolicy::MEASURE_EVERY).map(|_| policy.thin_next()).collect();
        assert_eq!(thinned.iter().filter(|thin| **thin).count(), 1);
        assert!(thinned[thinned.len() - 1]);
        // One row in sixteen dropped: worth thinning every tick again.
        let mut rows: Vec<(&str, &str)> = keys[..15].iter().map(|k| (k.as_str(), "1")).collect();
        rows.push(("k0", "2"));
        policy.measured(&tick_of(&rows));
        assert!((0..3).all(|_| policy.thin_next()));
    }
}
