//! Ebb: streaming queries whose input never stops but whose state must.
pub mod error;
pub mod repr;
pub mod sql;

pub use error::{Error, Result};
