//! Printing outputs as an aligned table, CSV or JSON.
//!
//! CSV follows the batch contract: a header line of column names, then rows (RFC 4180
//! quoting, NULL as an empty field, booleans as `true`/`false`), result sets separated by one
//! empty line, and nothing else. JSON prints each result set as one line: an array of
//! objects. Only outputs with rows are printed in CSV and JSON; EXPLAIN counts as rows there
//! (one column `plan`, one row per line).

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

/// Writes outputs in one format, keeping track of the separators between result sets.
pub struct Printer {
    format: Format,
    printed_rows: bool,
}

impl Printer {
    /// A printer for `format`.
    pub fn new(format: Format) -> Self {
        Printer { format, printed_rows: false }
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
            Format::Table => table(&columns, &rows),
            Format::Csv => {
                let separator = if self.printed_rows { "\n" } else { "" };
                self.printed_rows = true;
                format!("{separator}{}", csv_text(&columns, &rows))
            }
            Format::Json => json_text(&columns, &rows),
        }
    }
}

fn table(columns: &[String], rows: &[Vec<Datum>]) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(columns);
    for row in rows {
        table.add_row(row.iter().map(|d| d.to_string()));
    }
    let count = rows.len();
    format!("{table}\n({count} row{})\n", if count == 1 { "" } else { "s" })
}

fn csv_text(columns: &[String], rows: &[Vec<Datum>]) -> String {
    let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = writer.write_record(columns);
    for row in rows {
        let _ =
            writer.write_record(row.iter().map(|d| if d.is_null() { String::new() } else { d.to_string() }));
    }
    let bytes = writer.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

fn json_text(columns: &[String], rows: &[Vec<Datum>]) -> String {
    let array: Vec<serde_json::Value> = rows
        .iter()
        .map(|row| {
            let object = columns
                .iter()
                .zip(row)
                .map(|(c, d)| {
                    let value = match d {
                        Datum::Null => serde_json::Value::Null,
                        Datum::Bool(b) => serde_json::Value::Bool(*b),
                        Datum::Int(i) => serde_json::Value::from(*i),
                        Datum::Double(f) => serde_json::Number::from_f64(*f)
                            .map_or(serde_json::Value::Null, serde_json::Value::Number),
                        Datum::Text(s) => serde_json::Value::String(s.clone()),
                    };
                    (c.clone(), value)
                })
                .collect();
            serde_json::Value::Object(object)
        })
        .collect();
    format!("{}\n", serde_json::Value::Array(array))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_separates() {
        let mut printer = Printer::new(Format::Csv);
        let rows = Output::Rows {
            columns: vec!["a".into(), "b".into()],
            rows: vec![
                vec![Datum::Text("x,\"y\"".into()), Datum::Null],
                vec![Datum::Bool(true), Datum::Double(1.5)],
            ],
        };
        assert_eq!(printer.render(&Output::Status("INSERT 1".into())), "");
        assert_eq!(printer.render(&rows), "a,b\r\n\"x,\"\"y\"\"\",\r\ntrue,1.5\r\n");
        assert!(printer.render(&rows).starts_with("\na,b"));
    }
}
