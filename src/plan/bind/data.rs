//! Data statements: `INSERT`'s values coerced to the source's columns, and `ADVANCE TO`'s
//! time bounded.

use super::*;

/// The time of `ADVANCE TO n`: at most [`MAX_TIME`].
pub fn bind_advance_to(advance: &ast::AdvanceTo) -> Result<u64> {
    at_most("ADVANCE TO", &advance.time, MAX_TIME)
        .map_err(|e| e.with_hint("event time is a BIGINT, so no row can be later than 9223372036854775807"))
}

/// Bind `INSERT` values: one typed row per VALUES tuple, in the source's column order.
pub fn bind_insert(source: &SourceDesc, stmt: &ast::Insert) -> Result<Vec<Vec<Datum>>> {
    let positions: Vec<usize> = if stmt.columns.is_empty() {
        (0..source.columns.len()).collect()
    } else {
        let mut positions = Vec::new();
        for ident in &stmt.columns {
            let name = name_of(ident);
            let Some(p) = source.columns.iter().position(|c| c.name == name) else {
                return Err(Error::bind(format!("column \"{name}\" not found in \"{}\"", source.name))
                    .with_span(ident.span));
            };
            if positions.contains(&p) {
                return Err(Error::bind(format!("column \"{name}\" is named twice")).with_span(ident.span));
            }
            positions.push(p);
        }
        positions
    };
    let mut rows = Vec::with_capacity(stmt.rows.len());
    for values in &stmt.rows {
        if values.len() != positions.len() {
            let span = match (values.first(), values.last()) {
                (Some(first), Some(last)) => first.span().union(&last.span()),
                _ => Span::empty(),
            };
            return Err(Error::bind(format!("expected {} values, found {}", positions.len(), values.len()))
                .with_span(span));
        }
        let mut row = vec![Datum::Null; source.columns.len()];
        for (value, &p) in values.iter().zip(&positions) {
            let (e, t) = bind_expr(value, &Scope::default(), None).map_err(|e| {
                if e.kind() == Some(ErrorKind::UnknownColumn) {
                    Error::bind("VALUES must be constants").with_span(value.span())
                } else {
                    e
                }
            })?;
            let column = &source.columns[p];
            row[p] = coerce(e.eval(&[]), t, column).map_err(|e| e.with_span(value.span()))?;
        }
        rows.push(row);
    }
    Ok(rows)
}

/// Fit `datum`, a row's value, into `column` in place, as [`coerce`] does: a value already of
/// the column's type (most of them) is left where it is.
pub fn coerce_in_place(datum: &mut Datum, column: &Column) -> Result<()> {
    let from = datum.data_type();
    if from != Some(column.data_type) {
        *datum = coerce(std::mem::replace(datum, Datum::Null), from, column)?;
    }
    Ok(())
}

/// Fit a value of type `from` into `column`: integers widen to doubles; nothing else converts.
fn coerce(datum: Datum, from: Type, column: &Column) -> Result<Datum> {
    match (datum, from, column.data_type) {
        (Datum::Null, _, _) => Ok(Datum::Null),
        (Datum::Int(i), _, DataType::Double) => Ok(Datum::Double(i as f64)),
        (d, Some(t), want) if t == want => Ok(d),
        (d, _, want) => Err(Error::data(format!(
            "value {d} has type {}, but column \"{}\" is {want}",
            type_name(from),
            column.name
        ))),
    }
}
