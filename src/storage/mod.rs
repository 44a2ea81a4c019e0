//! Storage: where the bytes of spilled chunks live under a memory budget (stores, the tiered
//! policy, the on-disk format). It deals in bytes and chunks only; how rows sit in
//! arrangements is `render::arrangement` and `render::columnar`.

pub mod spill;
