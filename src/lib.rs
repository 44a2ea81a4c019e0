//! Ebb: streaming queries whose input never stops but whose state must.
//!
//! ```text
//! text ─ sql ─▶ Statement ─ plan::bind ─▶ Plan ─ render ─▶ timely/differential dataflow (engine)
//!                                   └──▶ QueryPlan ─ peek ─▶ rows
//! ```
//!
//! | module | in | out |
//! |---|---|---|
//! | [`sql`] | text | statements (wrapped sqlparser + Ebb's clauses) |
//! | [`plan`] | statements, catalog | plans, query plans, EXPLAIN text |
//! | [`render`] | a plan | a dataflow and its arrangements |
//! | [`engine`] | commands | timely workers running the dataflows |
//! | [`peek`] | gathered rows, a query plan | result rows |
//! | [`session`] | text | outputs; the pipeline in one place |
//! | [`format`] | outputs | table, CSV or JSON text |
//! | [`storage`] | bytes of spilled chunks | chunk stores, the tiered spill policy, the on-disk format |
//! | [`repr`] | values | the row type, its byte encoding, `Time` and `Diff` |
//!
//! Layers depend one way: `repr` ← `storage` ← `render` ← `engine` ← `session`; `sql` and
//! `plan` are the data `render`, `engine` and `session` read (each module's uses are listed in
//! `docs/architecture.md`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod engine;
pub mod error;
pub mod format;
pub mod generator;
pub mod peek;
pub mod plan;
pub mod render;
pub mod repr;
pub mod session;
pub mod sql;
pub mod storage;

pub use error::{Error, Result};
pub use session::{CopyProgress, Output, Session, SessionOptions};
