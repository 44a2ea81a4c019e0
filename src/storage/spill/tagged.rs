//! Whose chunks are being paged: a trace and a batcher that wear an arrangement's tag.
//!
//! Differential's spill hook is per worker and knows nothing of arrangements. [`TaggedSpine`]
//! and [`TaggedBatcher`] delegate every call to the trace or batcher they wrap, with the
//! arrangement's [`ArrangementSpill`] set as the current tag while the call runs, so that the
//! chunks its merges and seals page out are counted as its own. A chunk paged outside any tag
//! (a reduce builds its output batch before handing it to the output trace) is claimed by the
//! next [`Trace::insert`] of a tagged trace on the worker, which is that very batch's.
//!
//! The tag is handed over at construction through a thread-local ([`next_tag`]), because
//! differential constructs traces and batchers itself, inside the operator it is building.

use std::cell::RefCell;
use std::rc::Rc;

use differential_dataflow::batcher::{Batcher, Extract};
use differential_dataflow::logging::Logger;
use differential_dataflow::trace::{ExertionLogic, Span, Trace, TraceReader};
use timely::progress::frontier::AntichainRef;

use super::tiered::{ArrangementSpill, claim, with_tag};

thread_local! {
    static NEXT: RefCell<Option<Rc<ArrangementSpill>>> = const { RefCell::new(None) };
}

/// The tag the next [`TaggedSpine`] or [`TaggedBatcher`] built on this thread takes. Call it
/// right before building the operator.
pub fn next_tag(tag: &Rc<ArrangementSpill>) {
    NEXT.with(|n| *n.borrow_mut() = Some(tag.clone()));
}

fn take_tag() -> Rc<ArrangementSpill> {
    NEXT.with(|n| n.borrow().clone()).unwrap_or_default()
}

/// A trace whose calls run under its arrangement's tag.
pub struct TaggedSpine<Tr> {
    inner: Tr,
    tag: Rc<ArrangementSpill>,
}

impl<Tr: TraceReader> TraceReader for TaggedSpine<Tr> {
    type Time = Tr::Time;
    type Batch = Tr::Batch;

    fn spans_through(
        &mut self,
        upper: AntichainRef<Self::Time>,
    ) -> Option<Vec<Span<Self::Time, Self::Batch>>> {
        self.inner.spans_through(upper)
    }

    fn set_logical_compaction(&mut self, frontier: AntichainRef<Self::Time>) {
        let inner = &mut self.inner;
        with_tag(&self.tag, || inner.set_logical_compaction(frontier))
    }

    fn get_logical_compaction(&mut self) -> AntichainRef<'_, Self::Time> {
        self.inner.get_logical_compaction()
    }

    fn set_physical_compaction(&mut self, frontier: AntichainRef<'_, Self::Time>) {
        let inner = &mut self.inner;
        with_tag(&self.tag, || inner.set_physical_compaction(frontier))
    }

    fn get_physical_compaction(&mut self) -> AntichainRef<'_, Self::Time> {
        self.inner.get_physical_compaction()
    }

    fn map_spans<F: FnMut(&Span<Self::Time, Self::Batch>)>(&self, f: F) {
        self.inner.map_spans(f)
    }
}

impl<Tr: Trace> Trace for TaggedSpine<Tr> {
    fn new(
        info: timely::dataflow::operators::generic::OperatorInfo,
        logging: Option<Logger>,
        activator: Option<timely::scheduling::activate::Activator>,
    ) -> Self {
        TaggedSpine { inner: Tr::new(info, logging, activator), tag: take_tag() }
    }

    fn exert(&mut self) {
        let inner = &mut self.inner;
        with_tag(&self.tag, || inner.exert())
    }

    fn set_exert_logic(&mut self, logic: ExertionLogic) {
        self.inner.set_exert_logic(logic)
    }

    fn insert(&mut self, span: Span<Self::Time, Self::Batch>) {
        claim(&self.tag);
        let inner = &mut self.inner;
        with_tag(&self.tag, || inner.insert(span))
    }

    fn close(&mut self) {
        let inner = &mut self.inner;
        with_tag(&self.tag, || inner.close())
    }
}

/// A batcher whose calls run under its arrangement's tag.
pub struct TaggedBatcher<Ba> {
    inner: Ba,
    tag: Rc<ArrangementSpill>,
}

impl<Ba> TaggedBatcher<Ba> {
    /// A constructor for `arrange_core`, wrapping `new`.
    pub fn wrap(new: impl FnOnce(Option<Logger>, usize) -> Ba) -> impl FnOnce(Option<Logger>, usize) -> Self {
        move |logger, operator| TaggedBatcher { inner: new(logger, operator), tag: take_tag() }
    }
}

impl<C, Ba: Batcher<C>> Batcher<C> for TaggedBatcher<Ba> {
    fn insert(&mut self, container: &mut C) {
        let inner = &mut self.inner;
        with_tag(&self.tag, || inner.insert(container))
    }
}

impl<Ba: Extract> Extract for TaggedBatcher<Ba> {
    type Time = Ba::Time;
    type Output = Ba::Output;

    fn extract<'a>(
        &'a mut self,
        upper: AntichainRef<'_, Self::Time>,
    ) -> (Option<Self::Output>, AntichainRef<'a, Self::Time>) {
        let TaggedBatcher { inner, tag } = self;
        with_tag(tag, move || inner.extract(upper))
    }
}
