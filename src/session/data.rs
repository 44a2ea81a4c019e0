//! Rows in: `INSERT`, `COPY` and [`Session::insert`]. Every row is checked against its
//! source's clock before anything is sent, so a late row fails its statement whole; the
//! rows are then handed to the engine, which deals them to the workers.

use super::clocks::{self, Late};
use super::csv_input::{read_csv, read_csv_share};
use super::{CopyProgress, Output, Session};
use crate::engine::{Command, CopyShare, Reply, ShareRead, Staged};
use crate::error::{Error, Result, Span};
use crate::plan::catalog::Object;
use crate::plan::{SourceDesc, bind};
use crate::repr::{Datum, Time, row};
use crate::sql::ast;

/// How many rows of one insert are encoded and sent to the workers at a time.
const INSERT_CHUNK_ROWS: usize = 8192;

impl Session {
    /// `COPY source FROM 'file'`: read the whole file, then insert it as one statement. On
    /// several processes, the workers read a file every process can see themselves, each
    /// typing its share (see [`Session::copy_shared`]); otherwise process 0 reads it.
    pub(super) fn copy(&mut self, copy: &ast::Copy, span: Span) -> Result<Output> {
        let source = self.source_named(&copy.source)?.clone();
        if self.engine.spans_processes()
            && let Some(count) = self.copy_shared(&source, copy)?
        {
            return Ok(Output::Status(format!("COPY {count}")));
        }
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

    /// `COPY` by the workers: each reads the file and types its share of the records; if every
    /// worker read the same file, every row parsed and none is late, the shares are inserted
    /// as one statement and the row count returned. Otherwise every share is dropped and `None`
    /// returned: the file is then read here (which finds the error to report, first in file
    /// order, exactly as on one process).
    fn copy_shared(&mut self, source: &SourceDesc, copy: &ast::Copy) -> Result<Option<usize>> {
        let path = self.base_dir.join(&copy.path.value);
        // A regular file only: workers reading a pipe would take its rows from each other.
        let Ok(path) = std::fs::canonicalize(&path) else { return Ok(None) };
        let (Some(clock), true) = (self.clocks.get(source.id), path.is_file()) else { return Ok(None) };
        let share =
            CopyShare { source: source.clone(), path, header: copy.header, delimiter: copy.delimiter };
        let replies = self.engine.broadcast(Command::StageCopy(share))?;
        let mut count = 0;
        let mut times: Option<(Time, Time)> = None;
        let mut fingerprints = Vec::new();
        for reply in replies {
            match reply {
                Reply::Staged(Staged::Rows { rows, times: share_times, fingerprint }) => {
                    count += rows;
                    fingerprints.push(fingerprint);
                    if let Some((earliest, latest)) = share_times {
                        times =
                            Some(times.map_or((earliest, latest), |(e, l)| (e.min(earliest), l.max(latest))));
                    }
                }
                _ => fingerprints.clear(),
            }
        }
        let same_file = !fingerprints.is_empty() && fingerprints.iter().all(|f| *f == fingerprints[0]);
        // Lateness is a threshold: the share's earliest row is late if any row is.
        let on_time = times.is_none_or(|(earliest, _)| clock.lateness_of(earliest).is_none());
        if !same_file || !on_time {
            self.engine.broadcast(Command::DiscardStaged)?;
            return Ok(None);
        }
        let Some((_, newest)) = times else {
            self.engine.broadcast(Command::DiscardStaged)?;
            return Ok(Some(0));
        };
        let time = clock.frontier();
        let advance_to = clock.after(newest).frontier();
        self.engine.broadcast(Command::InsertStaged { source: source.id, time, advance_to })?;
        self.clocks.saw(source.id, newest);
        Ok(Some(count))
    }

    /// Insert rows into a source through the public API, with the same checks as `INSERT`.
    /// `source` is the name as stored: an unquoted name's lower case (see `sql::name_of`).
    pub fn insert(&mut self, source: &str, rows: Vec<Vec<Datum>>) -> Result<()> {
        let source = match self.catalog.get(source) {
            Some(Object::Source(s)) if s.kind.accepts_rows() => s.clone(),
            _ => return Err(Error::bind(format!("source \"{source}\" not found"))),
        };
        // The same coercions as INSERT's values (a BIGINT into a DOUBLE column).
        let mut rows = rows;
        for (i, row) in rows.iter_mut().enumerate() {
            if row.len() != source.columns.len() {
                return Err(Error::data(format!(
                    "row {} has {} values, but source \"{}\" has {} columns",
                    i + 1,
                    row.len(),
                    source.name,
                    source.columns.len()
                )));
            }
            for (datum, column) in row.iter_mut().zip(&source.columns) {
                bind::coerce_in_place(datum, column).map_err(|e| e.with_note(format!("in row {}", i + 1)))?;
            }
        }
        self.insert_rows_checked(&source, rows, |i| format!("row {}", i + 1), |_| Span::empty())?;
        self.spill_error().map_or(Ok(()), Err)
    }

    /// The source `ident` names, if statements may insert into it.
    pub(super) fn source_named(&self, ident: &sqlparser::ast::Ident) -> Result<&SourceDesc> {
        match self.catalog.resolve(ident, "source")? {
            Object::Source(s) if !s.kind.accepts_rows() => Err(Error::bind(format!(
                "source \"{}\" is fed by {}; it takes no other rows",
                s.name,
                s.kind.fed_by()
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
        // Encoded and sent a chunk at a time, so the workers can take in one chunk while the
        // next is encoded; only the last one moves the source's frontier.
        let mut chunks = rows.chunks(INSERT_CHUNK_ROWS).peekable();
        while let Some(chunk) = chunks.next() {
            let frontier = if chunks.peek().is_some() { time } else { advance_to };
            self.engine.insert(source.id, chunk, time, frontier)?;
        }
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

/// A worker's share of a `COPY` (the engine's [`crate::engine::ShareReader`]): record `i` of
/// the file is worker `i % shares`'s. The file must be the same for every worker: each
/// reports its size and CRC-32.
pub(crate) fn read_share(share: &CopyShare, index: usize, shares: usize) -> ShareRead {
    let Some(fingerprint) = fingerprint(&share.path) else { return ShareRead::Unreadable };
    let mine = |record: usize| record % shares.max(1) == index;
    let Ok(rows) =
        read_csv_share(&share.path, &share.source, share.header, share.delimiter, &mut |_| {}, &mine)
    else {
        return ShareRead::Invalid;
    };
    let mut times: Option<(Time, Time)> = None;
    let mut encoded = Vec::with_capacity(rows.len());
    for (_, row) in rows {
        let time = match row[share.source.time_column] {
            Datum::Int(t) if t >= 0 => t as Time,
            _ => return ShareRead::Invalid,
        };
        times = Some(times.map_or((time, time), |(e, l)| (e.min(time), l.max(time))));
        encoded.push(row::encode(&row));
    }
    ShareRead::Rows { rows: encoded, times, fingerprint }
}

/// A regular file's size and CRC-32, if this process can read it.
fn fingerprint(path: &std::path::Path) -> Option<(u64, u32)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut hasher = crc32fast::Hasher::new();
    let mut buffer = vec![0; 1 << 20];
    let mut size = 0;
    loop {
        let read = file.read(&mut buffer).ok()?;
        if read == 0 {
            return Some((size, hasher.finalize()));
        }
        hasher.update(&buffer[..read]);
        size += read as u64;
    }
}
