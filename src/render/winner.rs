//! `Winner`: `RETAIN WINNER PER k BY e CLOSE AT c [FORGET AFTER f]` over a join of a closing
//! input (auctions) and a candidate input (bids).
//!
//! ```text
//!  candidates ─ key ─ concat ◀─ negate ─ retractions (Variable, step DELAY) ◀────────────────┐
//!                       │                                                                    │
//!                 arrange ("winner candidates") ─┐                                           │
//!  closing ─ key ─ arrange ("winner closing") ───┴ join ─ filter ─ best per key ─▶ the view   │
//!                       │                                   (arranged "winner input/output")  │
//!                       └ at close time ─ distinct ("winner closed") ─┐                       │
//!                                                   unneeded = closed keys' candidates − their winners'
//!                                                                     set(landed + unneeded) ─┘
//! ```
//!
//! The rule is the best joined row per join key (TOP 1, ties broken by the whole row). A key
//! closes when the dataflow frontier passes the close time of its closing row: every closing
//! row is re-emitted at its close time into the "closed" keys. From then on the only candidate
//! the key still needs is its winner's, so the candidates of closed keys other than their
//! winners' are `unneeded`, and the feedback retracts them DELAY later (what goes around the
//! loop is the retractions landed so far plus `unneeded`, see `feedback.rs`). With `FORGET AFTER f`, a key is also forgotten at close + f: its
//! closing row and its winner are retracted too, which removes the winner from the view.
//!
//! Invariants: both inputs are append-only (checked by the binder). `unneeded` is computed from
//! the inputs *after* retraction, and retracting a row that is not needed changes neither the
//! winners nor which keys are closed, so the loop is at a fixed point once the retractions
//! land. Only candidates older than their key's close time compete (the binder adds that
//! condition), so a closed key's winner is final.
//!
//! Known limitations: a candidate whose key never gets a closing row is held forever, and so
//! is one that arrives after its key was forgotten (it looks the same). A key with several
//! closing rows closes at the earliest of their close times.

use differential_dataflow::AsCollection;
use differential_dataflow::trace::implementations::{ValBuilder, ValSpine};
use timely::dataflow::Scope;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;

use super::KeyedRows;
use super::feedback::fed_back;
use super::join::{self, RowsByKey};
use super::{Context, Rows};
use crate::plan::arrangements::{ArrangementName, KeysPart};
use crate::plan::{ScalarExpr, Side, WinnerPlan};
use crate::repr::{Datum, EncodedRow, Time, row};

pub(super) fn render<'scope>(
    scope: Scope<'scope, Time>,
    left: Rows<'scope>,
    right: Rows<'scope>,
    plan: &WinnerPlan,
    ctx: &mut Context<'scope>,
) -> Rows<'scope> {
    let join = &plan.join;
    let (closing, candidates, closing_key, candidate_key, closing_plan, candidate_plan) = match plan.closing {
        Side::Left => (left, right, &join.left_key, &join.right_key, &join.left, &join.right),
        Side::Right => (right, left, &join.right_key, &join.left_key, &join.right, &join.left),
    };
    let (closing_width, candidate_width) = (closing_plan.columns.len(), candidate_plan.columns.len());
    let closing_keyed = join::key_rows(closing, closing_key);
    let candidate_keyed = join::key_rows(candidates, candidate_key);

    let step = plan.delay.get();
    let feedback = plan.feedback;
    let (closing_live, closing_feedback) =
        fed_back(scope, closing_keyed, feedback && plan.forget_after.is_some(), step);
    let (candidate_live, candidate_feedback) = fed_back(scope, candidate_keyed, feedback, step);

    let closing_name = ArrangementName::WinnerClosing { input: closing_plan.label() };
    let candidates_name = ArrangementName::WinnerCandidates { input: candidate_plan.label() };
    let closing_arranged = join::arrange(closing_live.clone(), closing_name, ctx);
    let candidate_arranged = join::arrange(candidate_live, candidates_name, ctx);
    let joined = match plan.closing {
        Side::Left => join::joined(closing_arranged.clone(), candidate_arranged.clone()),
        Side::Right => join::joined(candidate_arranged.clone(), closing_arranged.clone()),
    };
    let valid = match &plan.predicate {
        Some(predicate) => super::filter::render(joined, predicate.clone()),
        None => joined,
    };

    let winners = best_per_key(valid, &join.left_key, &plan.rank, plan.descending, ctx);
    let descending = plan.descending;
    let winner_rows =
        winners.clone().map(move |(_key, ranked)| row::after_rank(&ranked, descending).to_vec());

    if let Some(candidate_feedback) = candidate_feedback {
        let closed = distinct_keys(
            at_close(closing_live.clone(), plan.close_at.clone(), 0),
            ArrangementName::WinnerClosed,
            ctx,
        );
        let closing_first = plan.closing == Side::Left;
        let winner_candidates = join::arrange(
            winners.map(move |(key, ranked)| {
                let joined = row::after_rank(&ranked, descending);
                // The joined row is the closing row then the candidate, or the other way round.
                let candidate = if closing_first {
                    &joined[row::prefix_len(joined, closing_width)..]
                } else {
                    &joined[..row::prefix_len(joined, candidate_width)]
                };
                (key, candidate.to_vec())
            }),
            ArrangementName::WinnerKeptCandidates,
            ctx,
        );
        // Closed keys' candidates, except their winners'.
        let mut unneeded = semijoin(candidate_arranged, closed.clone())
            .concat(semijoin(winner_candidates.clone(), closed).negate());
        if let (Some(forget_after), Some(closing_feedback)) = (plan.forget_after, closing_feedback) {
            let forgotten = distinct_keys(
                at_close(closing_live, plan.close_at.clone(), forget_after),
                ArrangementName::WinnerForgotten,
                ctx,
            );
            unneeded = unneeded.concat(semijoin(winner_candidates, forgotten.clone()));
            closing_feedback.retract_unneeded(semijoin(closing_arranged, forgotten));
        }
        candidate_feedback.retract_unneeded(unneeded);
    }
    winner_rows
}

/// Per key, the joined row that ranks best: `(key, rank ++ row)`, the rank complemented when
/// lower is better so that the best is always the greatest.
fn best_per_key<'scope>(
    rows: Rows<'scope>,
    key: &[ScalarExpr],
    rank: &ScalarExpr,
    descending: bool,
    ctx: &mut Context<'scope>,
) -> KeyedRows<'scope> {
    let (key, rank) = (key.to_vec(), rank.clone());
    let mut datums = Vec::new();
    let arranged = rows
        .map(move |encoded| {
            row::decode_into(&encoded, &mut datums);
            let mut key_bytes = Vec::new();
            for expr in &key {
                row::encode_datum(&expr.eval(&datums), &mut key_bytes);
            }
            let mut value = Vec::new();
            row::encode_rank(&rank.eval(&datums), descending, &mut value);
            value.extend_from_slice(&encoded);
            (key_bytes, value)
        })
        .arrange_by_key_named("WinnerInput");
    ctx.state.push((ArrangementName::WinnerInput, Box::new(arranged.trace.clone())));
    let best = arranged
        .reduce_abelian::<_, ValBuilder<_, _, _, _>, ValSpine<EncodedRow, EncodedRow, Time, i64>, _, _>(
            "Winner",
            |_key, input, output| {
                // Sorted ascending: the best is the last one still present.
                if let Some((value, _)) = input.iter().rev().find(|(_, count)| *count > 0) {
                    output.push(((*value).clone(), 1));
                }
            },
            join::keyed_changes,
        );
    ctx.state.push((ArrangementName::WinnerOutput, Box::new(best.trace.clone())));
    best.as_collection(|key: &EncodedRow, value: &EncodedRow| (key.clone(), value.clone()))
}

/// Each closing row's key, at the time `close_at + extra` (or when it arrives, if later). A
/// row whose close time is NULL never closes. Only the updates' times move: each stays in the
/// message it came in, whose capability is no later than any of them, so no capability or
/// message is made per row.
fn at_close<'scope>(closing: KeyedRows<'scope>, close_at: ScalarExpr, extra: u64) -> KeyedRows<'scope> {
    let mut datums = Vec::new();
    closing
        .inner
        .unary(Pipeline, "AtClose", move |_, _| {
            move |input, output| {
                input.for_each(|capability, data| {
                    let mut session = output.session(&capability);
                    for ((key, encoded), time, diff) in data.drain(..) {
                        row::decode_into(&encoded, &mut datums);
                        let Datum::Int(close) = close_at.eval(&datums) else { continue };
                        let when = (close.max(0) as u64).saturating_add(extra).max(time);
                        session.give(((key, encoded), when, diff));
                    }
                });
            }
        })
        .as_collection()
}

/// The distinct keys of `keyed`, each once, arranged (the two arrangements named by `name`).
fn distinct_keys<'scope>(
    keyed: KeyedRows<'scope>,
    name: fn(KeysPart) -> ArrangementName,
    ctx: &mut Context<'scope>,
) -> RowsByKey<'scope> {
    let arranged = join::arrange(keyed, name(KeysPart::ClosingRows), ctx);
    let keys = arranged
        .reduce_abelian::<_, ValBuilder<_, _, _, _>, ValSpine<EncodedRow, EncodedRow, Time, i64>, _, _>(
            "DistinctKeys",
            |_key, input, output| {
                if input.iter().any(|(_, count)| *count > 0) {
                    output.push((Vec::new(), 1));
                }
            },
            join::keyed_changes,
        );
    ctx.state.push((name(KeysPart::Keys), Box::new(keys.trace.clone())));
    keys
}

/// The rows of `rows` whose key is in `keys` (which holds each key at most once).
fn semijoin<'scope>(rows: RowsByKey<'scope>, keys: RowsByKey<'scope>) -> KeyedRows<'scope> {
    rows.join_core(keys, |key: &EncodedRow, value: &EncodedRow, _: &EncodedRow| {
        Some((key.clone(), value.clone()))
    })
}
