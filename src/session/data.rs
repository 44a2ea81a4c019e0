//! Rows in: `INSERT`, `COPY` and [`Session::insert`]. Every row is checked against its
//! source's clock before anything is sent, so a late row fails its statement whole; the
//! rows are then handed to the engine, which deals them to the workers.

use super::clocks::{self, Late};
use super::csv_input::read_csv;
use super::{CopyProgress, Output, Session};
use crate::error::{Error, Result, Span};
use crate::plan::catalog::Object;
use crate::plan::{SourceDesc, bind};
use crate::repr::{Datum, Time, row};
use crate::sql::ast;

impl Session {
    /// `COPY source FROM 'file'`: read the whole file, then insert it as one statement.
    pub(super) fn copy(&mut self, copy: &ast::Copy, span: Span) -> Result<Output> {
        let source = self.source_named(&copy.source)?.clone();
        let path = self.base_dir.join(&copy.path.value);
        let progress: &mut dyn FnMut(&CopyProgress) = match self.progress.as_mut() {
            Some(progress) => progress.as_mut(),
            None => &mut |_| {},
        };
        let rows = read_csv(&path, &source, copy.header, copy.delimiter, progress)
            .map_err(|e| e.with_span(copy.path.span))?;
        let lines = rows.iter().map(|(line, _)| *line).collect::<Vec<_>>();
        let count = rows.len();
        let display = path.display().to_string();
        self.insert_rows_checked(
            &source,
            rows.into_iter().map(|(_, r)| r).collect(),
            |i| format!("{display}:{}", lines[i]),
            |_| span,
        )?;
        Ok(Output::Status(format!("COPY {count}")))
    }

    /// Insert rows into a source through the public API, with the same checks as `INSERT`.
    /// `source` is the name as stored: an unquoted name's lower case (see `sql::name_of`).
    pub fn insert(&mut self, source: &str, rows: Vec<Vec<Datum>>) -> Result<()> {
        let source = match self.catalog.get(source) {
            Some(Object::Source(s)) if s.generator.is_none() => s.clone(),
            _ => return Err(Error::bind(format!("source \"{source}\" not found"))),
        };
        // The same coercions as INSERT's values (a BIGINT into a DOUBLE column).
        let rows = rows
            .into_iter()
            .enumerate()
            .map(|(i, row)| {
                if row.len() != source.columns.len() {
                    return Err(Error::data(format!(
                        "row {} has {} values, but source \"{}\" has {} columns",
                        i + 1,
                        row.len(),
                        source.name,
                        source.columns.len()
                    )));
                }
                row.into_iter()
                    .zip(&source.columns)
                    .map(|(datum, column)| {
                        let from = datum.data_type();
                        bind::coerce(datum, from, column)
                    })
                    .collect::<Result<Vec<Datum>>>()
                    .map_err(|e| e.with_note(format!("in row {}", i + 1)))
            })
            .collect::<Result<Vec<_>>>()?;
        self.insert_rows_checked(&source, rows, |i| format!("row {}", i + 1), |_| Span::empty())?;
        self.spill_error().map_or(Ok(()), Err)
    }

    /// The source `ident` names, if statements may insert into it.
    pub(super) fn source_named(&self, ident: &sqlparser::ast::Ident) -> Result<&SourceDesc> {
        match self.catalog.resolve(ident, "source")? {
            Object::Source(s) if s.generator.is_some() => Err(Error::bind(format!(
                "source \"{}\" is fed by a live generator; it takes no other rows",
                s.name
            ))
            .with_span(ident.span)),
            Object::Source(s) => Ok(s),
            Object::View(v) => Err(Error::bind(format!("\"{}\" is a view; only sources take rows", v.name))
                .with_span(ident.span)),
        }
    }

    /// Check every row's time against the source's clock, then send the rows. `describe`
    /// names row `i` for error messages and `locate` gives the text to point at.
    pub(super) fn insert_rows_checked(
        &mut self,
        source: &SourceDesc,
        rows: Vec<Vec<Datum>>,
        describe: impl Fn(usize) -> String,
        locate: impl Fn(usize) -> Span,
    ) -> Result<()> {
        let Some(clock) = self.clocks.get(source.id) else {
            return Err(Error::bind(format!("source \"{}\" takes no rows from statements", source.name)));
        };
        let mut newest = None;
        for (i, row) in rows.iter().enumerate() {
            let time = match &row[source.time_column] {
                Datum::Int(t) if *t >= 0 => *t as u64,
                other => {
                    return Err(Error::data(format!(
                        "{} has time {other}; the TIME column \"{}\" must be a non-negative BIGINT",
                        describe(i),
                        source.columns[source.time_column].name
                    ))
                    .with_span(locate(i)));
                }
            };
            if let Some(late) = clock.lateness_of(time) {
                return Err(
                    late_row_error(source, &clock, late, time, &describe(i), row).with_span(locate(i))
                );
            }
            newest = Some(newest.map_or(time, |n: u64| n.max(time)));
        }
        let Some(newest) = newest else { return Ok(()) };
        // Every row enters at the frontier before the statement: no later than any row's time.
        let time = clock.frontier();
        let advance_to = clock.after(newest).frontier();
        let rows = rows.iter().map(row::encode).collect();
        self.engine.insert(source.id, rows, time, advance_to)?;
        self.clocks.saw(source.id, newest);
        Ok(())
    }
}

/// A late row's error: the row, its time, the source's frontier, and why the frontier is
/// there (a read sealed it, or the newest time seen is too far ahead).
fn late_row_error(
    source: &SourceDesc,
    clock: &clocks::Clock,
    late: Late,
    time: Time,
    row_name: &str,
    row: &[Datum],
) -> Error {
    let error = Error::data(format!(
        "{row_name} ({}) is late: its time {time} is older than the frontier {} of source \"{}\"",
        row.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "),
        clock.frontier(),
        source.name
    ))
    .with_note("nothing of this statement was applied");
    match late {
        Late::Sealed => error
            .with_note(format!(
                "a read of \"{}\" (SELECT, SHOW STATS, SUBSCRIBE, a new view over it) or ADVANCE TO sealed the times before {}",
                source.name,
                clock.frontier()
            ))
            .with_hint("insert a source's rows before reading what they change; LATENESS does not reopen sealed times"),
        Late::BehindNewest { newest } if source.lateness > 0 => error
            .with_note(format!("the newest time source \"{}\" has seen is {newest}", source.name))
            .with_hint("rows must arrive within the source's LATENESS of the newest time seen"),
        Late::BehindNewest { newest } => error
            .with_note(format!("the newest time source \"{}\" has seen is {newest}", source.name))
            .with_hint("rows of a source must arrive in time order (equal times are on time); declare the source with TIME ts LATENESS n to accept rows up to n older than the newest"),
    }
}
