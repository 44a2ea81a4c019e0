//! Storage glue: how Ebb's rows sit in differential's columnar arrangements, and how those
//! arrangements spill under a memory budget.

pub mod columnar;
pub mod spill;
