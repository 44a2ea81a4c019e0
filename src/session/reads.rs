//! Reads: a read first seals the sources it reads at the newest time seen among them + 1
//! (see [`super::clocks`]), then gathers every worker's share at that time.

use std::collections::BTreeMap;

use super::Session;
use crate::engine::{Command, Reply};
use crate::error::{Error, Result};
use crate::plan::catalog::Object;
use crate::plan::{ObjectId, Timeline};
use crate::repr::{Datum, Time, row};

impl Session {
    /// Seal every source as a read of everything would, and return once every view has
    /// caught up with it: what was inserted before is then fully processed.
    pub fn sync(&mut self) -> Result<()> {
        self.seal_everything()?;
        self.engine.broadcast(Command::Sync)?;
        self.spill_error().map_or(Ok(()), Err)
    }

    /// Seal `sources` for a read of them: move each to the newest time seen among them + 1.
    /// Returns the read's time (0 when none of them is a scripted source).
    pub(super) fn seal(&mut self, sources: &[ObjectId]) -> Result<Time> {
        let Some((time, frontiers)) = self.clocks.seal(sources) else { return Ok(0) };
        self.engine.broadcast(Command::Advance { frontiers })?;
        Ok(time)
    }

    /// The time a read of `id` happens at, once the sources under it are sealed for it: the
    /// wall clock for an object over live generators (their timeline), else just past the
    /// newest time seen among its sources.
    pub(super) fn seal_for_read(&mut self, id: ObjectId) -> Result<Time> {
        let sources = self.catalog.sources_under(id);
        let live = sources
            .iter()
            .any(|s| self.catalog.source(*s).is_ok_and(|s| s.kind.timeline() == Timeline::WallClock));
        if live {
            return Ok(crate::generator::now_ms());
        }
        self.seal(&sources)
    }

    /// Seal the sources under every view and source as a read of each would: for reads of
    /// everything at once (`SHOW STATS`, [`Session::sync`]).
    pub(super) fn seal_everything(&mut self) -> Result<()> {
        let objects: Vec<ObjectId> =
            self.catalog.views().map(|v| v.id).chain(self.catalog.sources().map(|s| s.id)).collect();
        let mut frontiers = BTreeMap::new();
        for id in objects {
            if let Some((_, moved)) = self.clocks.seal(&self.catalog.sources_under(id)) {
                frontiers.extend(moved);
            }
        }
        self.engine.broadcast(Command::Advance { frontiers: frontiers.into_iter().collect() })?;
        Ok(())
    }

    /// Every row of `id`, as of a read that first seals the sources under it past all their
    /// input, and the time the read happened at.
    pub(super) fn read(&mut self, id: ObjectId) -> Result<(Time, Vec<Vec<Datum>>)> {
        if let Some(Object::Source(source)) = self.catalog.by_id(id)
            && !source.kind.keeps_history()
        {
            return Err(Error::bind(format!(
                "source \"{}\" keeps no history (KEEP NONE), so it cannot be read",
                source.name
            ))
            .with_hint("read a view over it instead"));
        }
        // A view over a live generator compacts behind the wall clock; a worker that has
        // already compacted past the read time says so, and the read is asked again, later.
        for _attempt in 0..100 {
            let time = self.seal_for_read(id)?;
            let replies = self.engine.broadcast(Command::Peek { id, time })?;
            if replies.iter().any(|r| matches!(r, Reply::TooOld)) {
                std::thread::sleep(std::time::Duration::from_millis(10));
                continue;
            }
            let mut rows = Vec::new();
            for reply in replies {
                if let Reply::Rows(share) = reply {
                    for (encoded, count) in share {
                        let decoded = row::decode(&encoded);
                        for _ in 0..count.max(0) {
                            rows.push(decoded.clone());
                        }
                    }
                }
            }
            return Ok((time, rows));
        }
        Err(Error::engine("the view moved on faster than it could be read; try again"))
    }
}
