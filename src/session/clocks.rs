//! Source clocks: one event-time clock per scripted source.
//!
//! In: the times of the rows a data statement brings, and the reads and `ADVANCE TO`s that
//! seal times. Out: whether each row is on time, and each source's *frontier*, the dataflow
//! time its input stands at. Guarantees: a clock belongs to one source and moves only through
//! that source's rows, a read of it, or `ADVANCE TO`; a frontier never moves back; a row is
//! late only when its time is older than the newest time its source has seen minus its
//! `LATENESS`, or older than a time a read has sealed (equal times are on time). Live
//! generators keep no clock here: their rows carry wall-clock times, a timeline of their own.

use std::collections::BTreeMap;

use crate::plan::ObjectId;
use crate::repr::Time;

/// One scripted source's clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Clock {
    /// The newest event time the source has seen.
    pub newest: Option<Time>,
    /// Every time before this one has been read (or passed by `ADVANCE TO`), so no row may
    /// arrive before it any more.
    pub sealed: Time,
    /// How far behind `newest` a row may still arrive.
    pub lateness: Time,
}

/// Why a row is late.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Late {
    /// Older than `newest − LATENESS`.
    BehindNewest {
        /// The newest time the source has seen.
        newest: Time,
    },
    /// Older than a time a read or `ADVANCE TO` has sealed.
    Sealed,
}

impl Clock {
    /// Rows older than this are late; the source's dataflow input stands at this time.
    pub fn frontier(&self) -> Time {
        self.sealed.max(self.newest.map_or(0, |newest| newest.saturating_sub(self.lateness)))
    }

    /// The time a read of this source alone happens at: just past everything it has seen.
    pub fn read_time(&self) -> Time {
        self.sealed.max(self.newest.map_or(0, |newest| newest.saturating_add(1)))
    }

    /// This clock once it has seen rows up to `newest`.
    pub fn after(self, newest: Time) -> Clock {
        Clock { newest: Some(self.newest.map_or(newest, |n| n.max(newest))), ..self }
    }

    /// Whether a row at `time` would be late, and why.
    pub fn lateness_of(&self, time: Time) -> Option<Late> {
        if time >= self.frontier() {
            return None;
        }
        match self.newest {
            Some(newest) if time < newest.saturating_sub(self.lateness) => {
                Some(Late::BehindNewest { newest })
            }
            _ => Some(Late::Sealed),
        }
    }
}

/// Every scripted source's clock.
#[derive(Debug, Default)]
pub(super) struct Clocks {
    by_source: BTreeMap<ObjectId, Clock>,
}

impl Clocks {
    /// Start a clock for a new source: it has seen nothing and nothing is sealed.
    pub fn start(&mut self, source: ObjectId, lateness: Time) {
        self.by_source.insert(source, Clock { newest: None, sealed: 0, lateness });
    }

    /// Forget a dropped source's clock.
    pub fn remove(&mut self, source: ObjectId) {
        self.by_source.remove(&source);
    }

    /// The clock of a scripted source (`None` for a live generator or an unknown id).
    pub fn get(&self, source: ObjectId) -> Option<Clock> {
        self.by_source.get(&source).copied()
    }

    /// Note that a statement brought rows up to `newest` into `source`.
    pub fn saw(&mut self, source: ObjectId, newest: Time) {
        if let Some(clock) = self.by_source.get_mut(&source) {
            *clock = clock.after(newest);
        }
    }

    /// Seal `sources` for a read: move each to the newest time seen among them + 1, so the
    /// read sees everything inserted into any of them. Returns the read time and the new
    /// frontiers, or `None` if none of them is a scripted source.
    pub fn seal(&mut self, sources: &[ObjectId]) -> Option<(Time, Vec<(ObjectId, Time)>)> {
        let time = sources.iter().filter_map(|id| self.by_source.get(id)).map(Clock::read_time).max()?;
        Some((time, self.seal_at(sources, time)))
    }

    /// `ADVANCE TO time`: seal every scripted source up to `time`; return the new frontiers.
    pub fn advance_all(&mut self, time: Time) -> Vec<(ObjectId, Time)> {
        let sources: Vec<ObjectId> = self.by_source.keys().copied().collect();
        self.seal_at(&sources, time)
    }

    fn seal_at(&mut self, sources: &[ObjectId], time: Time) -> Vec<(ObjectId, Time)> {
        sources
            .iter()
            .filter_map(|id| {
                let clock = self.by_source.get_mut(id)?;
                clock.sealed = clock.sealed.max(time);
                Some((*id, clock.frontier()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: ObjectId = ObjectId(1);
    const B: ObjectId = ObjectId(2);

    #[test]
    fn equal_times_are_on_time() {
        let mut clocks = Clocks::default();
        clocks.start(A, 0);
        clocks.saw(A, 100);
        let clock = clocks.get(A).unwrap();
        assert_eq!(clock.lateness_of(100), None);
        assert_eq!(clock.lateness_of(99), Some(Late::BehindNewest { newest: 100 }));
    }

    #[test]
    fn lateness_lets_older_rows_in() {
        let mut clocks = Clocks::default();
        clocks.start(A, 10);
        clocks.saw(A, 100);
        let clock = clocks.get(A).unwrap();
        assert_eq!(clock.frontier(), 90);
        assert_eq!(clock.lateness_of(90), None);
        assert_eq!(clock.lateness_of(89), Some(Late::BehindNewest { newest: 100 }));
    }

    #[test]
    fn a_read_seals_only_the_sources_it_reads() {
        let mut clocks = Clocks::default();
        clocks.start(A, 0);
        clocks.start(B, 0);
        clocks.saw(A, 1_000_000);
        clocks.saw(B, 5);
        assert_eq!(clocks.seal(&[B]), Some((6, vec![(B, 6)])));
        assert_eq!(clocks.get(A).unwrap().frontier(), 1_000_000);
        assert_eq!(clocks.get(B).unwrap().lateness_of(6), None);
        assert_eq!(clocks.get(B).unwrap().lateness_of(5), Some(Late::Sealed));
    }

    #[test]
    fn a_read_of_two_sources_aligns_them() {
        let mut clocks = Clocks::default();
        clocks.start(A, 0);
        clocks.start(B, 0);
        clocks.saw(A, 50);
        assert_eq!(clocks.seal(&[A, B]), Some((51, vec![(A, 51), (B, 51)])));
        // A new source has no frontier of its own; a read of nothing but generators seals none.
        clocks.start(ObjectId(3), 0);
        assert_eq!(clocks.get(ObjectId(3)).unwrap().frontier(), 0);
        assert_eq!(clocks.seal(&[ObjectId(9)]), None);
    }

    #[test]
    fn frontiers_never_move_back() {
        let mut clocks = Clocks::default();
        clocks.start(A, 0);
        clocks.advance_all(500);
        clocks.saw(A, 10);
        assert_eq!(clocks.get(A).unwrap().frontier(), 500);
        assert_eq!(clocks.seal(&[A]), Some((500, vec![(A, 500)])));
    }
}
