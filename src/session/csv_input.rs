//! Reading a CSV file for `COPY`.
//!
//! In: a file, the source's columns and the `COPY` options. Out: typed rows, each with the
//! file line it starts on. Guarantees: every value parses as its column's type, or the whole
//! read fails with the file, line and column; with `HEADER true` the header must name every
//! column once and nothing else, and fields are mapped to columns by those names (in any
//! order); a UTF-8 byte-order mark is skipped; a line longer than [`MAX_LINE_BYTES`] fails
//! the read instead of filling memory; a quoted field that never closes is named as such.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use super::CopyProgress;
use crate::error::{Error, Result};
use crate::plan::SourceDesc;
use crate::repr::{DataType, Datum};

/// A `COPY` reports its progress every this many lines, and once when it has read the file.
const PROGRESS_EVERY_LINES: u64 = 16_384;

/// The longest line a `COPY` reads (a file without line breaks, such as `/dev/zero`, would
/// otherwise be read into memory whole).
pub const MAX_LINE_BYTES: u64 = 64 << 20;

const BYTE_ORDER_MARK: &[u8] = b"\xEF\xBB\xBF";

/// Read a CSV file into typed rows, each with its file line. An empty unquoted field is NULL.
pub(super) fn read_csv(
    path: &Path,
    source: &SourceDesc,
    header: bool,
    delimiter: u8,
    progress: &mut dyn FnMut(&CopyProgress),
) -> Result<Vec<(u64, Vec<Datum>)>> {
    read_csv_share(path, source, header, delimiter, progress, &|_| true)
}

/// [`read_csv`], typing only the records (numbered from 0, after any header) that `mine`
/// takes: every record is still read, so the file's structure is checked whole, but only
/// those are parsed into values and returned.
pub(super) fn read_csv_share(
    path: &Path,
    source: &SourceDesc,
    header: bool,
    delimiter: u8,
    progress: &mut dyn FnMut(&CopyProgress),
    mine: &dyn Fn(usize) -> bool,
) -> Result<Vec<(u64, Vec<Datum>)>> {
    let open = || File::open(path).map_err(|e| Error::io(format!("cannot open \"{}\": {e}", path.display())));
    let file = open()?;
    let metadata = file.metadata().ok();
    let total_bytes = metadata.as_ref().map_or(0, |m| m.len());
    // Only a regular file can be opened again to look for an open quote: a FIFO's writer has
    // gone by then, and opening it again would wait for another one forever.
    let reopens = metadata.is_some_and(|m| m.is_file());
    let mut report =
        |read_bytes| progress(&CopyProgress { path: path.to_path_buf(), read_bytes, total_bytes });
    let (input, skipped) = without_byte_order_mark(file)
        .map_err(|e| Error::io(format!("cannot read \"{}\": {e}", path.display())))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(header)
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(LineLimit::new(input));
    let at = |line: u64, column: Option<usize>| match column {
        Some(column) => format!("{}:{line}:{column}", path.display()),
        None => format!("{}:{line}", path.display()),
    };
    let malformed = |e: csv::Error, line: u64| match e.kind() {
        csv::ErrorKind::Io(io) => Error::data(format!("{}: {io}", at(line, None))),
        _ => Error::data(format!("{}: malformed CSV: {e}", at(line, None))),
    };
    let fields = if header {
        let names = reader.headers().map_err(|e| malformed(e, 1))?.clone();
        map_header(&names, source).map_err(|message| Error::data(format!("{}: {message}", at(1, None))))?
    } else {
        (0..source.columns.len()).collect()
    };
    let width =
        if header { reader.headers().map_err(|e| malformed(e, 1))?.len() } else { source.columns.len() };
    let unterminated = |start_byte: u64, line: u64| -> Option<Error> {
        if !reopens {
            return None;
        }
        let mut file = open().ok()?;
        file.seek(SeekFrom::Start(start_byte + skipped)).ok()?;
        ends_inside_quotes(file, delimiter).then(|| {
            Error::data(format!("{}: a quoted field that starts on this line is never closed: it runs to the end of the file", at(line, None)))
                .with_hint("close the field with a double quote (\"); a double quote inside a field is written twice (\"\")")
        })
    };
    // The csv crate places a record before the line breaks it skips (the `\n` of a CRLF,
    // blank lines), so lines are counted here, from the bytes read.
    let read =
        |reader: &mut csv::Reader<LineLimit<Box<dyn Read>>>, record: &mut csv::StringRecord| match reader
            .read_record(record)
        {
            Ok(more) => Ok(more.then(|| {
                let start = record.position().map_or(0, |p| p.byte());
                (reader.get_mut().line_at(start), start)
            })),
            Err(e) => {
                let line = e.position().map_or(1, |p| reader.get_mut().line_at(p.byte()));
                Err(malformed(e, line))
            }
        };
    let mut rows = Vec::new();
    let (mut record, mut following) = (csv::StringRecord::new(), csv::StringRecord::new());
    let mut current = read(&mut reader, &mut record)?;
    let mut index = 0;
    while let Some((line, start_byte)) = current {
        let next = read(&mut reader, &mut following)?;
        if next.is_none()
            && let Some(e) = unterminated(start_byte, line)
        {
            return Err(e);
        }
        if line % PROGRESS_EVERY_LINES == 0 {
            report(start_byte);
        }
        if mine(index) {
            let looks_like_header = index == 0 && !header && names_the_columns(&record, source);
            let parsed = parse_record(&record, source, &fields, width, |column| at(line, column));
            match parsed {
                Ok(row) => rows.push((line, row)),
                Err(e) if looks_like_header => {
                    return Err(e.with_hint("the first line names the columns: add WITH (HEADER true)"));
                }
                Err(e) => return Err(e),
            }
        }
        index += 1;
        std::mem::swap(&mut record, &mut following);
        current = next;
    }
    report(total_bytes);
    Ok(rows)
}

/// For each column of `source`, the header field that names it. Names match exactly, or else
/// ignoring case; every column must be named once, and nothing else.
fn map_header(names: &csv::StringRecord, source: &SourceDesc) -> std::result::Result<Vec<usize>, String> {
    let names: Vec<&str> = names.iter().map(str::trim).collect();
    let column_of = |name: &str| {
        source
            .columns
            .iter()
            .position(|c| c.name == name)
            .or_else(|| source.columns.iter().position(|c| c.name.eq_ignore_ascii_case(name)))
    };
    let mut fields = vec![None; source.columns.len()];
    let mut unknown = Vec::new();
    for (field, name) in names.iter().enumerate() {
        match column_of(name) {
            Some(column) if fields[column].is_some() => {
                return Err(format!("the header names column \"{}\" twice", source.columns[column].name));
            }
            Some(column) => fields[column] = Some(field),
            None => unknown.push(format!("\"{name}\"")),
        }
    }
    let quoted = |names: Vec<String>| names.join(", ");
    let columns = source.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ");
    if !unknown.is_empty() {
        return Err(format!(
            "the header names {} that source \"{}\" does not have (its columns are {columns})",
            plural(unknown.len(), "a column", "columns", quoted(unknown)),
            source.name
        ));
    }
    let missing: Vec<String> = source
        .columns
        .iter()
        .zip(&fields)
        .filter(|(_, field)| field.is_none())
        .map(|(c, _)| format!("\"{}\"", c.name))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "the header lacks {} of source \"{}\"",
            plural(missing.len(), "column", "columns", quoted(missing)),
            source.name
        ));
    }
    Ok(fields.into_iter().flatten().collect())
}

fn plural(n: usize, one: &str, many: &str, list: String) -> String {
    if n == 1 { format!("{one} {list}") } else { format!("{many} {list}") }
}

/// Whether a record's fields are the source's column names (in any order): a header read as
/// data.
fn names_the_columns(record: &csv::StringRecord, source: &SourceDesc) -> bool {
    record.len() == source.columns.len()
        && record.iter().all(|field| source.columns.iter().any(|c| c.name.eq_ignore_ascii_case(field.trim())))
}

/// One record as a row of `source`: field `fields[i]` is column `i`. `at` names a column's
/// position (1-based, in characters) on the record's line, or the line alone.
fn parse_record(
    record: &csv::StringRecord,
    source: &SourceDesc,
    fields: &[usize],
    width: usize,
    at: impl Fn(Option<usize>) -> String,
) -> Result<Vec<Datum>> {
    if record.len() != width {
        return Err(Error::data(format!("{}: expected {width} fields, found {}", at(Some(1)), record.len())));
    }
    // Where each field starts on the line, for error positions.
    let mut starts = Vec::with_capacity(record.len());
    let mut column = 1;
    for field in record.iter() {
        starts.push(column);
        column += field.chars().count() + 1;
    }
    let mut row = Vec::with_capacity(source.columns.len());
    for (col, &field_index) in source.columns.iter().zip(fields) {
        let field = &record[field_index];
        let datum = if field.is_empty() {
            Datum::Null
        } else {
            let parsed = match col.data_type {
                DataType::BigInt => field.trim().parse().ok().map(Datum::Int),
                DataType::Double => field.trim().parse().ok().map(Datum::Double),
                DataType::Text => Some(Datum::Text(field.to_string())),
                DataType::Boolean => match field.trim().to_ascii_lowercase().as_str() {
                    "true" | "t" => Some(Datum::Bool(true)),
                    "false" | "f" => Some(Datum::Bool(false)),
                    _ => None,
                },
            };
            parsed.ok_or_else(|| {
                Error::data(format!(
                    "{}: cannot read \"{field}\" as {} for column \"{}\"",
                    at(Some(starts[field_index])),
                    col.data_type,
                    col.name
                ))
            })?
        };
        row.push(datum);
    }
    Ok(row)
}

/// The file without a leading UTF-8 byte-order mark, and how many bytes were skipped.
fn without_byte_order_mark(mut file: File) -> io::Result<(Box<dyn Read>, u64)> {
    let mut prefix = Vec::with_capacity(BYTE_ORDER_MARK.len());
    (&mut file).take(BYTE_ORDER_MARK.len() as u64).read_to_end(&mut prefix)?;
    if prefix == BYTE_ORDER_MARK {
        Ok((Box::new(file), BYTE_ORDER_MARK.len() as u64))
    } else {
        Ok((Box::new(io::Cursor::new(prefix).chain(file)), 0))
    }
}

/// Whether CSV text ends inside a quoted field (RFC 4180: a field that starts with a quote
/// runs to the next quote not doubled).
fn ends_inside_quotes(input: impl Read, delimiter: u8) -> bool {
    #[derive(PartialEq)]
    enum State {
        FieldStart,
        Unquoted,
        Quoted,
        QuoteInQuoted,
    }
    let mut state = State::FieldStart;
    for byte in io::BufReader::new(input).bytes() {
        let Ok(byte) = byte else { return false };
        state = match (state, byte) {
            (State::FieldStart, b'"') => State::Quoted,
            (State::Quoted, b'"') => State::QuoteInQuoted,
            (State::Quoted, _) => State::Quoted,
            (State::QuoteInQuoted, b'"') => State::Quoted,
            (_, b) if b == delimiter || b == b'\n' || b == b'\r' => State::FieldStart,
            _ => State::Unquoted,
        };
    }
    state == State::Quoted
}

/// Counts lines as bytes are read, noting where each line with content starts (for
/// [`LineLimit::line_at`]), and fails a read once a line grows past [`MAX_LINE_BYTES`].
struct LineLimit<R> {
    inner: R,
    /// Bytes read so far.
    offset: u64,
    /// The line being read (1-based).
    line: u64,
    /// Bytes of it read so far.
    line_bytes: u64,
    /// Whether nothing but `\r` has been read of the line yet.
    at_line_start: bool,
    /// (offset, line) of the first content byte of each line read and not yet asked about.
    content_starts: VecDeque<(u64, u64)>,
}

impl<R> LineLimit<R> {
    fn new(inner: R) -> Self {
        LineLimit {
            inner,
            offset: 0,
            line: 1,
            line_bytes: 0,
            at_line_start: true,
            content_starts: VecDeque::new(),
        }
    }

    /// The line of the first content at or after byte `offset`: where a record starting at
    /// `offset` really starts. Asked in increasing order of `offset`.
    fn line_at(&mut self, offset: u64) -> u64 {
        while self.content_starts.front().is_some_and(|&(start, _)| start < offset) {
            self.content_starts.pop_front();
        }
        self.content_starts.front().map_or(self.line, |&(_, line)| line)
    }
}

impl<R: Read> Read for LineLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &byte in &buf[..n] {
            match byte {
                b'\n' => {
                    self.line += 1;
                    self.line_bytes = 0;
                    self.at_line_start = true;
                }
                b'\r' if self.at_line_start => {}
                _ => {
                    if self.at_line_start {
                        self.content_starts.push_back((self.offset, self.line));
                        self.at_line_start = false;
                    }
                    self.line_bytes += 1;
                }
            }
            self.offset += 1;
            if self.line_bytes > MAX_LINE_BYTES {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "line {} is longer than {} MiB; is this a CSV file?",
                        self.line,
                        MAX_LINE_BYTES >> 20
                    ),
                ));
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_left_open_are_found() {
        let open = |text: &str| ends_inside_quotes(text.as_bytes(), b',');
        assert!(open("1,\"abc,3\n4,5,6\n"));
        assert!(open("\"a\"\"b"));
        assert!(!open("1,\"a,b\",3\n"));
        assert!(!open("1,\"a\"\"b\",3\n"));
        assert!(!open("1,a\"b,3\n"), "a quote inside an unquoted field is a character");
    }

    #[test]
    fn a_line_without_end_fails_once_past_the_limit() {
        let mut reader = LineLimit::new(io::repeat(0));
        let mut sink = vec![0u8; 1 << 20];
        let error = loop {
            if let Err(e) = reader.read(&mut sink) {
                break e;
            }
        };
        assert!(error.to_string().contains("line 1 is longer than 64 MiB"), "{error}");
    }
}
