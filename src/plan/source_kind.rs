//! What kind of source a source is, and the facts that follow from its kind.
//!
//! In: a bound `CREATE SOURCE` (the binder picks the kind). Out: [`SourceKind`], which the
//! catalog keeps and the engine is told, and its facts: who moves the source's frontier
//! ([`Timeline`]), whether statements may add rows, whether it keeps a history, and what
//! EXPLAIN says feeds it. Every part of Ebb that depends on a source's kind asks these; none
//! matches on the kind itself, except the engine, which builds each kind's rows in a file of
//! its own under `engine/sources/`.

use crate::generator::Generator;

/// Where a source's rows come from.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum SourceKind {
    /// Rows come from statements (`INSERT`, `COPY`, `Session::insert`); the session's clock
    /// for the source moves its frontier.
    Scripted {
        /// Whether it keeps every row it received (`KEEP ALL`), so it can be read and views
        /// created later see its past.
        keep_history: bool,
    },
    /// Rows come from a built-in live generator, stamped with wall-clock milliseconds; nothing
    /// else can add rows.
    Generated(Generator),
}

/// Who moves a source's frontier, and so which times a read of it can happen at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timeline {
    /// The session: a clock per source that moves with the rows inserted and the reads sealed
    /// (`session/clocks.rs`).
    SessionClock,
    /// The wall clock: the workers move the frontier as time passes, and reads happen now.
    WallClock,
}

impl SourceKind {
    /// Who moves the source's frontier.
    pub fn timeline(&self) -> Timeline {
        match self {
            SourceKind::Scripted { .. } => Timeline::SessionClock,
            SourceKind::Generated(_) => Timeline::WallClock,
        }
    }

    /// Whether `INSERT` and `COPY` may add rows to the source.
    pub fn accepts_rows(&self) -> bool {
        match self {
            SourceKind::Scripted { .. } => true,
            SourceKind::Generated(_) => false,
        }
    }

    /// Whether the source keeps every row it received in an arrangement of its own.
    pub fn keeps_history(&self) -> bool {
        match self {
            SourceKind::Scripted { keep_history } => *keep_history,
            SourceKind::Generated(_) => false,
        }
    }

    /// What feeds the source, for errors: "a live generator".
    pub fn fed_by(&self) -> &'static str {
        match self {
            SourceKind::Scripted { .. } => "statements",
            SourceKind::Generated(_) => "a live generator",
        }
    }

    /// The line EXPLAIN prints under the source, if any (a source that keeps history prints
    /// its history arrangement instead).
    pub fn explain(&self) -> Option<String> {
        match self {
            SourceKind::Scripted { keep_history: true } => None,
            SourceKind::Scripted { keep_history: false } => {
                Some("no history kept (KEEP NONE): rows stream through".to_string())
            }
            SourceKind::Generated(generator) => Some(format!(
                "fed by GENERATOR {} at {} rows/s, event time in wall-clock ms; no history kept",
                format!("{:?}", generator.kind).to_lowercase(),
                generator.rate
            )),
        }
    }
}
