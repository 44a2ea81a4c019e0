//! A reduce that walks each key's new updates in time order: differential's reduce operator
//! with a [`ReduceTactic`] for Ebb's totally ordered time.
//!
//! In: an arrangement, and a reduce's logic (a key's accumulated input to its output, as for
//! differential's `reduce_abelian`). Out: the arrangement of the output, exactly what
//! `reduce_abelian` builds: at each time a key's input changes, the difference between the
//! logic's output at that time and the output so far.
//!
//! Why: differential's own tactic serves any lattice of times. For each key it loads the
//! input and output histories with their times and, at each time it evaluates, assembles the
//! input and the output at that time from the whole history again, sorting it each time. A
//! rule's keys change several times per round and, with feedback, carry their retracted
//! updates until the trace compacts them, so that replay was the largest cost of the rules.
//! With times totally ordered, every time before the interval being retired is in the past
//! of every time in it: each key's input and output are summed once, as of the interval's
//! lower bound, and the key's new updates are then applied in time order, one time at a time.
//!
//! The output as of the interval's lower bound is either read from the output's batches or,
//! where the logic is cheap, recomputed from the input as of then ([`PriorOutput`]): the
//! output at every time is the logic's output of the input at that time, so both give the
//! same, and recomputing saves seeking every changed key in the output's batches and copying
//! out the values found there.
//!
//! A caller may also say what a key's output does when the key's input only lost values
//! (`decreases`): with feedback, that is what every retraction landing on a key that got no
//! new rows looks like, and the key's history is then not read at all.
//!
//! Invariants: an output can change only at a time its input changed (times are totally
//! ordered, so no join of two times is a new time), hence the tactic never holds a time for
//! later and returns an empty frontier. Each key's output updates are handed to the builder
//! sorted by value, then time, and keys in order.
//!
//! Assumes, of the batch layouts it serves: a batch holds each value of a key once, in order,
//! and a value's borrowed and owned forms sort alike (so one batch's sums need no sort).

use std::marker::PhantomData;

use differential_dataflow::operators::arrange::{Arranged, TraceAgent};
use differential_dataflow::operators::reduce::{ReduceTactic, reduce_with_tactic};
use differential_dataflow::trace::cursor::cursor_list;
use differential_dataflow::trace::implementations::containers::BatchContainer;
use differential_dataflow::trace::{
    BatchCursor, BatchVal, BatchValOwn, Builder, Cursor, Description, Navigable, Span, Trace, TraceReader,
};
use itertools::{EitherOrBoth, Itertools};
use timely::progress::Antichain;

use crate::repr::{Diff, Time};

/// Differential's reduce with the tactic that walks times in order: reduce `arranged` by
/// `logic`, which sees a key's accumulated input (values in order, with their non-zero counts)
/// and pushes its output values (and counts) at that time. Each key's output changes go
/// through `push` into the builder `Bu`, as for `reduce_abelian`.
///
/// `decreases` is asked first about a key whose every new update in an interval is a
/// decrease, with those updates in time order: it either pushes the output changes they
/// cause and returns true, or pushes nothing and returns false to have the key evaluated as
/// any other. A rule's own feedback only ever takes away rows it no longer needs, so the rule
/// can often say what that does without reading the key's history: that is the point.
///
/// Callers name `Tr1` (the input trace): inferring it from `arranged` comes too late for the
/// compiler to resolve the key type in the bounds.
pub(super) fn reduce_in_order<'scope, Tr1, Bu, Tr2, KC, L, D, P>(
    arranged: Arranged<'scope, Tr1>,
    name: &str,
    prior: PriorOutput,
    logic: L,
    decreases: D,
    push: P,
) -> Arranged<'scope, TraceAgent<Tr2>>
where
    Tr1: TraceReader<Time = Time, Batch: Navigable> + 'static,
    Tr2: Trace<Time = Time, Batch: Navigable> + 'static,
    KC: BatchContainer,
    BatchCursor<Tr1>: Cursor<Time = Time, Diff = Diff, KeyContainer = KC>,
    for<'a> BatchCursor<Tr1>: Cursor<Key<'a> = KC::ReadItem<'a>>,
    for<'a> BatchCursor<Tr2>: Cursor<Key<'a> = KC::ReadItem<'a>, Time = Time, Diff = Diff>,
    Bu: Builder<Time = Time, Output: Into<Tr2::Batch>, Input: Default> + 'static,
    L: FnMut(KC::ReadItem<'_>, &[(BatchVal<'_, Tr1>, Diff)], &mut Vec<(BatchValOwn<Tr2>, Diff)>) + 'static,
    D: for<'a> FnMut(
            KC::ReadItem<'a>,
            &[(Time, BatchVal<'a, Tr1>, Diff)],
            &mut Vec<(BatchValOwn<Tr2>, Time, Diff)>,
        ) -> bool
        + 'static,
    P: FnMut(&mut Bu::Input, KC::ReadItem<'_>, &mut Vec<(BatchValOwn<Tr2>, Time, Diff)>) + 'static,
{
    reduce_with_tactic(
        arranged,
        name,
        InOrder::<_, _, Bu, _, _, _> { logic, decreases, push, prior, batches: PhantomData },
    )
}

/// Where a changed key's output as of the interval's lower bound comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PriorOutput {
    /// The output's batches: for logic that costs more than seeking the key in them.
    Read,
    /// The logic, run on the key's input as of then: for logic that costs less than that
    /// seek, such as keeping a key's best few values.
    Recompute,
}

/// The tactic of [`reduce_in_order`].
struct InOrder<B1, B2, Bu, L, D, P> {
    logic: L,
    decreases: D,
    push: P,
    prior: PriorOutput,
    batches: PhantomData<(B1, B2, Bu)>,
}

type Key<'a, B> = <<B as Navigable>::Cursor as Cursor>::Key<'a>;
type Val<'a, B> = <<B as Navigable>::Cursor as Cursor>::Val<'a>;
type ValOwn<B> = <<B as Navigable>::Cursor as Cursor>::ValOwn;

impl<B1, B2, Bu, L, D, P> ReduceTactic<Time, B1, B2> for InOrder<B1, B2, Bu, L, D, P>
where
    B1: Navigable<Cursor: Cursor<Time = Time, Diff = Diff>>,
    B2: Navigable,
    for<'a> B2::Cursor: Cursor<Key<'a> = Key<'a, B1>, Time = Time, Diff = Diff>,
    Bu: Builder<Time = Time, Output: Into<B2>, Input: Default>,
    L: FnMut(Key<'_, B1>, &[(Val<'_, B1>, Diff)], &mut Vec<(ValOwn<B2>, Diff)>),
    D: for<'a> FnMut(Key<'a, B1>, &[(Time, Val<'a, B1>, Diff)], &mut Vec<(ValOwn<B2>, Time, Diff)>) -> bool,
    P: FnMut(&mut Bu::Input, Key<'_, B1>, &mut Vec<(ValOwn<B2>, Time, Diff)>),
{
    fn retire(
        &mut self,
        source_batches: Vec<B1>,
        output_batches: Vec<B2>,
        input_batches: Vec<B1>,
        lower: &Antichain<Time>,
        upper: &Antichain<Time>,
        held: &Antichain<Time>,
    ) -> (Option<Span<Time, B2>>, Antichain<Time>) {
        // Without a time held in the interval, no output could be sent: nothing changed. Every
        // other interval ships a batch, even an empty one, which `join::reduce_bytes_setting_aside`
        // relies on to send what it set aside.
        if !held.elements().iter().any(|time| !upper.less_equal(time)) {
            return (None, held.clone());
        }
        let mut sources: Vec<B1::Cursor> = source_batches.iter().map(Navigable::cursor).collect();
        // Only read when the prior output is: recomputing it needs no cursors over the output.
        let mut outputs: Vec<B2::Cursor> = match self.prior {
            PriorOutput::Read => output_batches.iter().map(Navigable::cursor).collect(),
            PriorOutput::Recompute => Vec::new(),
        };
        let (mut changed, changed_storage) = cursor_list(input_batches);

        let mut builder = Bu::default();
        let mut chunk = Bu::Input::default();
        let mut input: Vec<(Val<'_, B1>, Diff)> = Vec::new();
        let mut changes: Vec<(Time, Val<'_, B1>, Diff)> = Vec::new();
        let mut output: Vec<(ValOwn<B2>, Diff)> = Vec::new();
        let mut next_output: Vec<(ValOwn<B2>, Diff)> = Vec::new();
        let mut output_changes: Vec<(ValOwn<B2>, Time, Diff)> = Vec::new();

        while let Some(key) = changed.get_key(&changed_storage) {
            changes.clear();
            while let Some(value) = changed.get_val(&changed_storage) {
                changed.map_times(&changed_storage, |time, diff| {
                    changes.push((
                        <B1::Cursor as Cursor>::owned_time(time),
                        value,
                        <B1::Cursor as Cursor>::owned_diff(diff),
                    ))
                });
                changed.step_val(&changed_storage);
            }
            changes.sort_by_key(|(time, _, _)| *time);

            // A key whose input only lost values may need neither its history nor the logic.
            let shortcut = changes.iter().all(|(_, _, diff)| *diff < 0)
                && (self.decreases)(key, &changes, &mut output_changes);
            if !shortcut {
                input.clear();
                sum_key(&mut sources, &source_batches, key, &mut input, |value| value);
                output.clear();
                match self.prior {
                    PriorOutput::Read => sum_key(
                        &mut outputs,
                        &output_batches,
                        key,
                        &mut output,
                        <B2::Cursor as Cursor>::owned_val,
                    ),
                    PriorOutput::Recompute if !input.is_empty() => {
                        (self.logic)(key, &input, &mut output);
                        consolidate_mostly_sorted(&mut output);
                    }
                    PriorOutput::Recompute => {}
                }
                for at_time in changes.chunk_by(|a, b| a.0 == b.0) {
                    let time = at_time[0].0;
                    input.extend(at_time.iter().map(|(_, value, diff)| (*value, *diff)));
                    consolidate_mostly_sorted(&mut input);
                    next_output.clear();
                    if !input.is_empty() {
                        (self.logic)(key, &input, &mut next_output);
                        consolidate_mostly_sorted(&mut next_output);
                    }
                    difference(&mut output, &next_output, time, &mut output_changes);
                    std::mem::swap(&mut output, &mut next_output);
                }
            }

            if !output_changes.is_empty() {
                // Stable: each value's changes stay in time order.
                output_changes.sort_by(|a, b| a.0.cmp(&b.0));
                (self.push)(&mut chunk, key, &mut output_changes);
                output_changes.clear();
                builder.push(&mut chunk);
            }
            changed.step_key(&changed_storage);
        }

        let description = Description::new(lower.clone(), upper.clone(), Antichain::from_elem(0));
        (Some(Span::new(description, builder.done().map(Into::into))), Antichain::new())
    }
}

/// Push onto `sums` (as `value_of` makes them) the values of `key` in `batches` (all in the
/// past of the interval being retired) with their counts summed over all times, leaving out
/// those that sum to zero; consolidated.
fn sum_key<'a, C: Cursor<Diff = Diff>, V: Ord>(
    cursors: &mut [C],
    batches: &'a [C::Storage],
    key: C::Key<'a>,
    sums: &mut Vec<(V, Diff)>,
    value_of: impl Fn(C::Val<'a>) -> V,
) {
    let mut holding = 0;
    for (cursor, batch) in cursors.iter_mut().zip(batches) {
        cursor.seek_key(batch, key);
        if cursor.get_key(batch) != Some(key) {
            continue;
        }
        holding += 1;
        while let Some(value) = cursor.get_val(batch) {
            let mut count = 0;
            cursor.map_times(batch, |_, diff| count += C::owned_diff(diff));
            if count != 0 {
                sums.push((value_of(value), count));
            }
            cursor.step_val(batch);
        }
    }
    // One batch holds each of a key's values once, in order: only values from several
    // batches need sorting and adding up.
    if holding > 1 {
        consolidate_mostly_sorted(sums);
    }
}

/// Sort `updates` by value, adding up the counts of equal values and leaving out those that
/// sum to zero, as differential's `consolidate` does; but first check whether they already
/// are, which is the common case here and costs a comparison per neighbour and a look at
/// each count instead of a sort and a pass to add up. A key's input sums its batches oldest
/// first, and a row its key gains is mostly its newest (greatest under `LATEST`); a rule's
/// logic mostly pushes its output in order.
fn consolidate_mostly_sorted<V: Ord>(updates: &mut Vec<(V, Diff)>) {
    let consolidated =
        updates.windows(2).all(|pair| pair[0].0 < pair[1].0) && updates.iter().all(|(_, count)| *count != 0);
    if !consolidated {
        differential_dataflow::consolidation::consolidate(updates);
    }
}

/// Push onto `changes`, at `time`, what turns `before` into `after` (both consolidated, so
/// sorted by value), taking the values that leave out of `before`.
fn difference<V: Ord + Clone>(
    before: &mut Vec<(V, Diff)>,
    after: &[(V, Diff)],
    time: Time,
    changes: &mut Vec<(V, Time, Diff)>,
) {
    for pair in before.drain(..).merge_join_by(after, |(old, _), (new, _)| old.cmp(new)) {
        match pair {
            EitherOrBoth::Left((value, count)) => changes.push((value, time, -count)),
            EitherOrBoth::Right((value, count)) => changes.push((value.clone(), time, *count)),
            EitherOrBoth::Both((_, old), (value, new)) if old != *new => {
                changes.push((value.clone(), time, new - old))
            }
            EitherOrBoth::Both(..) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use differential_dataflow::consolidation::consolidate_updates;
    use differential_dataflow::input::InputSession;
    use differential_dataflow::operators::arrange::TraceAgent;
    use differential_dataflow::trace::implementations::{ValBuilder, ValSpine};
    use proptest::prelude::*;

    use super::{PriorOutput, difference, reduce_in_order};
    use crate::repr::{Diff, Time};

    type Spine = ValSpine<u8, u8, Time, Diff>;
    type Update = ((u8, u8), Time, Diff);

    /// Each key's two greatest values with a positive count, each once, and the number of
    /// values it holds (as a value of its own, `100 +` it).
    /// With `mirrored`, the input itself: then an input's decreases are its output's, which
    /// is what the tested reduce is told.
    fn logic(mirrored: bool, input: &[(&u8, Diff)], output: &mut Vec<(u8, Diff)>) {
        if mirrored {
            output.extend(input.iter().map(|(value, count)| (**value, *count)));
            return;
        }
        let present: Vec<u8> =
            input.iter().filter(|(_, count)| *count > 0).map(|(value, _)| **value).collect();
        output.extend(present.iter().rev().take(2).map(|value| (*value, 1)));
        output.push((100 + input.len() as u8, 1));
    }

    fn keyed(updates: &mut Vec<Update>, key: &u8, changes: &mut Vec<(u8, Time, Diff)>) {
        updates.clear();
        updates.extend(changes.drain(..).map(|(value, time, diff)| ((*key, value), time, diff)));
    }

    /// The output updates of both reduces over `rounds` of `(key, value, diff)`, round `r` at
    /// time `r`, consolidated; ours finds a key's prior output as `prior` says.
    fn both(
        rounds: Vec<Vec<(u8, u8, Diff)>>,
        mirrored: bool,
        prior: PriorOutput,
    ) -> (Vec<Update>, Vec<Update>) {
        let results = (Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(Vec::new())));
        let (theirs, ours) = (results.0.clone(), results.1.clone());
        timely::execute_directly(move |worker| {
            let mut input = InputSession::<Time, (u8, u8), Diff>::new();
            let probe = worker.dataflow(|scope| {
                let arranged = input.to_collection(scope).arrange_by_key();
                let reference = arranged
                    .clone()
                    .reduce_abelian::<_, ValBuilder<_, _, _, _>, Spine, _, _>(
                        "Reference",
                        move |_key, input, output| logic(mirrored, input, output),
                        keyed,
                    )
                    .as_collection(|key: &u8, value: &u8| (*key, *value));
                let tested = reduce_in_order::<TraceAgent<Spine>, ValBuilder<_, _, _, _>, Spine, _, _, _, _>(
                    arranged,
                    "InOrder",
                    prior,
                    move |_key, input, output| logic(mirrored, input, output),
                    move |_key, decreases, changes| {
                        if mirrored {
                            changes
                                .extend(decreases.iter().map(|(time, value, diff)| (**value, *time, *diff)));
                        }
                        mirrored
                    },
                    keyed,
                )
                .as_collection(|key: &u8, value: &u8| (*key, *value));
                reference.inspect(move |update| theirs.lock().expect("one thread").push(*update));
                tested.inspect(move |update| ours.lock().expect("one thread").push(*update)).probe().0
            });
            for (round, updates) in rounds.into_iter().enumerate() {
                input.advance_to(round as Time);
                for (key, value, diff) in updates {
                    input.update((key, value), diff);
                }
                input.flush();
                // Now and then let several rounds reach the reduce in one batch.
                if round % 3 != 1 {
                    while probe.less_than(input.time()) {
                        worker.step();
                    }
                }
            }
        });
        let take =
            |result: &Arc<Mutex<Vec<Update>>>| std::mem::take(&mut *result.lock().expect("one thread"));
        let (mut theirs, mut ours) = (take(&results.0), take(&results.1));
        consolidate_updates(&mut theirs);
        consolidate_updates(&mut ours);
        (theirs, ours)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn outputs_what_differentials_reduce_outputs(
            rounds in prop::collection::vec(
                prop::collection::vec((0u8..4, 0u8..6, prop::sample::select(vec![-1i64, 1, 2])), 0..8),
                1..10,
            ),
            mirrored: bool,
            recompute: bool,
        ) {
            let prior = if recompute { PriorOutput::Recompute } else { PriorOutput::Read };
            let (theirs, ours) = both(rounds, mirrored, prior);
            prop_assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn difference_retracts_the_old_and_adds_the_new() {
        let mut before = vec![(1, 1), (3, 2), (5, 1)];
        let after = [(2, 1), (3, 1), (5, 1)];
        let mut changes = Vec::new();
        difference(&mut before, &after, 7, &mut changes);
        assert_eq!(changes, vec![(1, 7, -1), (2, 7, 1), (3, 7, -1)]);
    }
}
