//! Printing outputs as an aligned table, CSV or JSON.
//!
//! In: [`Output`]s, one at a time, in order. Out: text for a terminal or a pipe. Guarantees:
//! - CSV follows the batch contract: a header line of column names, then rows, result sets
//!   separated by one empty line, and nothing else. Every line ends with CRLF (RFC 4180), the
//!   separating empty line too. Fields are quoted as RFC 4180 requires (a comma, a quote, CR or
//!   LF inside), booleans are `true`/`false`. NULL is an empty field, unquoted; the empty string
//!   is `""`, quoted. One exception keeps the separator unambiguous: in a result set of one
//!   column, a NULL would make an empty line, so it is written `""` as well.
//! - JSON prints each result set as one line holding one JSON document: an array with an
//!   object per row, its keys in column order and unique (a repeated column name gets `_2`,
//!   `_3`, ...). NULL is `null`, a non-finite double too.
//! - Only outputs with rows are printed in CSV and JSON; EXPLAIN counts as rows there (one
//!   column `plan`, one row per line). Status lines (`INSERT 2`) are printed in tables only.
//! - Tables show NULL as the printer's null text (`NULL` unless set), and may be expanded: one
//!   block of `column | value` lines per row, for rows too wide for a terminal.

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use crate::repr::Datum;
use crate::session::Output;

/// An output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Aligned tables, status lines, EXPLAIN text as is.
    Table,
    /// CSV result sets only.
    Csv,
    /// One JSON array per result set.
    Json,
}

/// The line ending of CSV output (RFC 4180).
const CRLF: &str = "\r\n";

/// Writes outputs in one format, keeping track of the separators between result sets.
pub struct Printer {
    format: Format,
    printed_rows: bool,
    null: String,
    expanded: bool,
}

impl Printer {
    /// A printer for `format`.
    pub fn new(format: Format) -> Self {
        Printer { format, printed_rows: false, null: "NULL".to_string(), expanded: false }
    }

    /// The format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Show NULL as `text` in tables (psql's `\pset null`).
    pub fn set_null(&mut self, text: &str) {
        self.null = text.to_string();
    }

    /// How NULL shows in tables.
    pub fn null(&self) -> &str {
        &self.null
    }

    /// Print tables expanded, one block per row (psql's `\x`).
    pub fn set_expanded(&mut self, expanded: bool) {
        self.expanded = expanded;
    }

    /// Whether tables are expanded.
    pub fn expanded(&self) -> bool {
        self.expanded
    }

    /// The text for `output` (possibly empty).
    pub fn render(&mut self, output: &Output) -> String {
        let (columns, rows) = match output {
            Output::Rows { columns, rows } => (columns.clone(), rows.clone()),
            Output::Text(text) => {
                if self.format == Format::Table {
                    return text.clone();
                }
                (vec!["plan".to_string()], text.lines().map(|l| vec![Datum::Text(l.to_string())]).collect())
            }
            Output::Status(status) => {
                return if self.format == Format::Table { format!("{status}\n") } else { String::new() };
            }
        };
        match self.format {
            Format::Table if self.expanded => expanded(&columns, &rows, &self.null),
            Format::Table => table(&columns, &rows, &self.null),
            Format::Csv => {
                let separator = if self.printed_rows { CRLF } else { "" };
                self.printed_rows = true;
                format!("{separator}{}", csv_text(&columns, &rows))
            }
            Format::Json => json_text(&columns, &rows),
        }
    }
}

fn shown(datum: &Datum, null: &str) -> String {
    if datum.is_null() { null.to_string() } else { datum.to_string() }
}

fn row_count(count: usize) -> String {
    format!("({count} row{})\n", if count == 1 { "" } else { "s" })
}

fn table(columns: &[String], rows: &[Vec<Datum>], null: &str) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(columns);
    for row in rows {
        table.add_row(row.iter().map(|d| shown(d, null)));
    }
    format!("{table}\n{}", row_count(rows.len()))
}

/// psql's expanded display: `-[ RECORD n ]-` over one `column | value` line per column.
fn expanded(columns: &[String], rows: &[Vec<Datum>], null: &str) -> String {
    let name_width = columns.iter().map(|c| c.chars().count()).max().unwrap_or(0);
    let values: Vec<Vec<String>> =
        rows.iter().map(|row| row.iter().map(|d| shown(d, null)).collect()).collect();
    let value_width =
        values.iter().flatten().flat_map(|v| v.lines()).map(|l| l.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for (i, values) in values.iter().enumerate() {
        let title = format!("-[ RECORD {} ]", i + 1);
        let rule_width = (name_width + 3 + value_width).max(title.chars().count());
        out.push_str(&format!("{title:-<rule_width$}\n"));
        for (column, value) in columns.iter().zip(values) {
            let mut lines = value.lines();
            out.push_str(&format!("{column:name_width$} | {}\n", lines.next().unwrap_or("")));
            for line in lines {
                out.push_str(&format!("{:name_width$} | {line}\n", ""));
            }
        }
    }
    out.push_str(&row_count(rows.len()));
    out
}

fn csv_text(columns: &[String], rows: &[Vec<Datum>]) -> String {
    let one_column = columns.len() == 1;
    let mut out = String::new();
    let mut line = |fields: &mut dyn Iterator<Item = String>| {
        let fields: Vec<String> = fields.collect();
        out.push_str(&fields.join(","));
        out.push_str(CRLF);
    };
    line(&mut columns.iter().map(|c| csv_field(c)));
    for row in rows {
        line(&mut row.iter().map(|d| match d {
            Datum::Null if one_column => "\"\"".to_string(),
            Datum::Null => String::new(),
            other => csv_field(&other.to_string()),
        }));
    }
    out
}

/// A non-NULL value as an RFC 4180 field: quoted when empty (to tell it from NULL) or when it
/// holds a comma, a quote, CR or LF, with quotes doubled.
fn csv_field(text: &str) -> String {
    if text.is_empty() || text.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

fn json_value(datum: &Datum) -> serde_json::Value {
    match datum {
        Datum::Null => serde_json::Value::Null,
        Datum::Bool(b) => serde_json::Value::Bool(*b),
        Datum::Int(i) => serde_json::Value::from(*i),
        Datum::Double(f) => {
            serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, serde_json::Value::Number)
        }
        Datum::Text(s) => serde_json::Value::String(s.clone()),
    }
}

/// One line: `[{"a":1,"b":"x"},...]`, each object's keys in column order. serde_json's own map
/// sorts keys (without its `preserve_order` feature), so objects are written here.
fn json_text(columns: &[String], rows: &[Vec<Datum>]) -> String {
    // A read may name two columns alike (`SELECT k, ts AS k`); a JSON parser keeps only one
    // member of a name, so a repeated name gets a suffix: `k`, `k_2`.
    let mut taken = std::collections::HashSet::new();
    let keys: Vec<String> = columns
        .iter()
        .map(|column| {
            let mut key = column.clone();
            let mut n = 1;
            while !taken.insert(key.clone()) {
                n += 1;
                key = format!("{column}_{n}");
            }
            serde_json::Value::String(key).to_string()
        })
        .collect();
    let objects: Vec<String> = rows
        .iter()
        .map(|row| {
            let members: Vec<String> =
                keys.iter().zip(row).map(|(key, datum)| format!("{key}:{}", json_value(datum))).collect();
            format!("{{{}}}", members.join(","))
        })
        .collect();
    format!("[{}]\n", objects.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(columns: &[&str], rows: Vec<Vec<Datum>>) -> Output {
        Output::Rows { columns: columns.iter().map(|c| c.to_string()).collect(), rows }
    }

    #[test]
    fn csv_quotes_and_separates_with_crlf() {
        let mut printer = Printer::new(Format::Csv);
        let rows = rows(
            &["a", "b"],
            vec![
                vec![Datum::Text("x,\"y\"".into()), Datum::Null],
                vec![Datum::Bool(true), Datum::Double(1.5)],
            ],
        );
        assert_eq!(printer.render(&Output::Status("INSERT 1".into())), "");
        assert_eq!(printer.render(&rows), "a,b\r\n\"x,\"\"y\"\"\",\r\ntrue,1.5\r\n");
        assert!(printer.render(&rows).starts_with("\r\na,b\r\n"));
    }

    #[test]
    fn csv_tells_null_from_the_empty_string() {
        let mut printer = Printer::new(Format::Csv);
        let two = rows(&["a", "b"], vec![vec![Datum::Null, Datum::Text(String::new())]]);
        assert_eq!(printer.render(&two), "a,b\r\n,\"\"\r\n");
        let mut reader = csv::ReaderBuilder::new().from_reader("a,b\r\n,\"\"\r\n".as_bytes());
        assert_eq!(reader.records().count(), 1);
        // One column: a NULL line would read as the separator, so it is quoted too.
        let mut printer = Printer::new(Format::Csv);
        let one = rows(&["a"], vec![vec![Datum::Null], vec![Datum::Text("multi\nline".into())]]);
        assert_eq!(printer.render(&one), "a\r\n\"\"\r\n\"multi\nline\"\r\n");
    }

    #[test]
    fn json_keeps_the_column_order() {
        let mut printer = Printer::new(Format::Json);
        let output = rows(
            &["z", "a", "m"],
            vec![vec![Datum::Int(1), Datum::Double(f64::NAN), Datum::Text("q\"\n".into())]],
        );
        let text = printer.render(&output);
        assert_eq!(text, "[{\"z\":1,\"a\":null,\"m\":\"q\\\"\\n\"}]\n");
        let parsed: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(parsed[0]["m"], "q\"\n");
        assert_eq!(printer.render(&rows(&["a"], Vec::new())), "[]\n");
    }

    #[test]
    fn json_keys_are_unique() {
        let mut printer = Printer::new(Format::Json);
        let output = rows(&["k", "k", "k_2"], vec![vec![Datum::Int(1), Datum::Int(2), Datum::Int(3)]]);
        let text = printer.render(&output);
        assert_eq!(text, "[{\"k\":1,\"k_2\":2,\"k_2_2\":3}]\n");
        let parsed: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(parsed[0].as_object().map(|o| o.len()), Some(3));
    }

    #[test]
    fn expanded_tables_and_null_text() {
        let mut printer = Printer::new(Format::Table);
        printer.set_expanded(true);
        printer.set_null("(null)");
        let output = rows(
            &["view", "records"],
            vec![
                vec![Datum::Text("latest3".into()), Datum::Int(15)],
                vec![Datum::Text("r".into()), Datum::Null],
            ],
        );
        assert_eq!(
            printer.render(&output),
            "-[ RECORD 1 ]----\nview    | latest3\nrecords | 15\n\
             -[ RECORD 2 ]----\nview    | r\nrecords | (null)\n(2 rows)\n"
        );
        printer.set_expanded(false);
        assert!(printer.render(&output).contains("┆ (null)  │"), "{}", printer.render(&output));
    }
}
