//! `SET name = value` and `SHOW name`: the session's settings (`memory_budget`,
//! `spill_dir`). A setting shown is written so that `SET` reads it back.

use super::{Output, Session};
use crate::engine::Command;
use crate::error::{Error, Result};
use crate::render::KeyRoute;
use crate::repr::Datum;
use crate::sql::ast;
use crate::storage::spill;

/// The settings, in `SHOW ALL` order, with what each is.
const SETTINGS: [(&str, &str); 2] = [
    ("memory_budget", "bytes the spillable arrangements keep in memory before spilling"),
    ("spill_dir", "where spilled chunks are written"),
];

impl Session {
    /// Let the columnar arrangements hold `bytes` in memory before their chunks spill (`None`:
    /// spill nothing new). Chunks already spilled stay where they are. View outputs and source
    /// histories made while a budget is set are columnar and spill; those made without one are
    /// vector arrangements, faster to build, that stay in memory.
    pub fn set_memory_budget(&mut self, bytes: Option<u64>) -> Result<()> {
        self.engine.broadcast(Command::SetMemoryBudget { bytes })?;
        self.settings.memory_budget = bytes;
        if bytes.is_some() {
            // Views without rows yet are rebuilt to spill, and arrange their keys otherwise.
            self.engine.forget_routes(KeyRoute::depends_on_the_budget);
        }
        Ok(())
    }

    /// `SET name = value`.
    pub(super) fn set(&mut self, set: &ast::Set) -> Result<Output> {
        let text = set.value.value.to_string();
        match set.name.value.to_lowercase().as_str() {
            "memory_budget" => {
                let bytes = match &set.value.value {
                    ast::SetValue::Number(n) => Some(*n),
                    ast::SetValue::Text(t) if ["unlimited", "none"].contains(&t.to_lowercase().as_str()) => {
                        None
                    }
                    ast::SetValue::Text(t) => Some(spill::parse_size(t).ok_or_else(|| {
                        Error::bind(format!("invalid memory budget {text}"))
                            .with_span(set.value.span)
                            .with_hint(
                                "a size such as '256MB', '64kB' or 0 (spill everything), or 'unlimited'",
                            )
                    })?),
                };
                self.set_memory_budget(bytes)?;
                Ok(Output::Status("SET".into()))
            }
            "spill_dir" => {
                let ast::SetValue::Text(dir) = &set.value.value else {
                    return Err(Error::bind("spill_dir is a path, written as a string")
                        .with_span(set.value.span)
                        .with_hint("SET spill_dir = '/var/tmp/ebb'"));
                };
                let dir = self.base_dir.join(dir);
                self.spill.set_dir(dir.clone()).map_err(|e| Error::io(e).with_span(set.value.span))?;
                self.settings.spill_dir = Some(dir);
                Ok(Output::Status("SET".into()))
            }
            other => Err(Error::bind(format!("unknown setting \"{other}\""))
                .with_span(set.name.span)
                .with_hint("the settings are memory_budget and spill_dir")),
        }
    }

    /// The current value of setting `name` (lower case), as `SHOW` prints it.
    pub(super) fn setting(&self, name: &str) -> Option<String> {
        match name {
            "memory_budget" => Some(self.settings.memory_budget.map_or("unlimited".to_string(), format_size)),
            "spill_dir" => Some(match self.spill.dir_in_use().or_else(|| self.settings.spill_dir.clone()) {
                Some(dir) => dir.display().to_string(),
                None => "(a temporary directory, made on first spill)".to_string(),
            }),
            _ => None,
        }
    }

    /// `SHOW name`: one row, one column named after the setting.
    pub(super) fn show_setting(&self, name: &sqlparser::ast::Ident) -> Result<Output> {
        let key = name.value.to_lowercase();
        let Some(value) = self.setting(&key) else {
            return Err(Error::bind(format!("unknown setting \"{}\"", name.value))
                .with_span(name.span)
                .with_hint("the settings are memory_budget and spill_dir; SHOW ALL lists them"));
        };
        Ok(Output::Rows { columns: vec![key], rows: vec![vec![Datum::Text(value)]] })
    }

    /// `SHOW ALL`: every setting, its value, and what it is.
    pub(super) fn show_all(&self) -> Output {
        let rows = SETTINGS
            .iter()
            .map(|(name, description)| {
                let value = self.setting(name).unwrap_or_default();
                vec![Datum::Text(name.to_string()), Datum::Text(value), Datum::Text(description.to_string())]
            })
            .collect();
        Output::Rows { columns: vec!["name".into(), "setting".into(), "description".into()], rows }
    }
}

/// A byte size as `SET memory_budget` reads it back: in the largest unit that divides it
/// (`64MB`, `1536kB`, `100B`; `0` alone).
fn format_size(bytes: u64) -> String {
    if bytes == 0 {
        return "0".to_string();
    }
    [("TB", 40), ("GB", 30), ("MB", 20), ("kB", 10)]
        .into_iter()
        .find(|(_, shift)| bytes.trailing_zeros() >= *shift)
        .map_or(format!("{bytes}B"), |(unit, shift)| format!("{}{unit}", bytes >> shift))
}
