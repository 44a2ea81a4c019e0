//! Storage glue: how Ebb's rows sit in differential's columnar arrangements.
//!
//! Spilling arrangements to disk under a memory budget is not built yet; this module holds
//! the pieces of the columnar trace that Ebb configures itself.

pub mod columnar;
