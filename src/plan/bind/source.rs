//! `CREATE SOURCE` and `CREATE SOURCE … FROM GENERATOR`: a [`SourceDesc`] out, its columns,
//! TIME column, LATENESS and history checked.

use super::*;
use crate::plan::SourceKind;

/// A bound `CREATE SOURCE`.
pub fn bind_create_source(catalog: &Catalog, stmt: &ast::CreateSource, id: ObjectId) -> Result<SourceDesc> {
    let name = name_of(&stmt.name);
    if catalog.get(&name).is_some() {
        return Err(Error::bind(format!("\"{name}\" already exists")).with_span(stmt.name.span));
    }
    let mut columns: Vec<Column> = Vec::new();
    for def in &stmt.columns {
        let column = name_of(&def.name);
        if columns.iter().any(|c| c.name == column) {
            return Err(
                Error::bind(format!("column \"{column}\" is declared twice")).with_span(def.name.span)
            );
        }
        columns.push(Column::new(column, def.data_type));
    }
    let time_name = name_of(&stmt.time_column);
    let Some(time_column) = columns.iter().position(|c| c.name == time_name) else {
        return Err(Error::bind(format!("TIME column \"{time_name}\" is not a column of \"{name}\""))
            .with_span(stmt.time_column.span));
    };
    if columns[time_column].data_type != DataType::BigInt {
        return Err(Error::bind(format!(
            "TIME column \"{time_name}\" must be BIGINT, not {}",
            columns[time_column].data_type
        ))
        .with_span(stmt.time_column.span));
    }
    Ok(SourceDesc {
        id,
        name,
        columns,
        time_column,
        lateness: match &stmt.lateness {
            Some(lateness) => at_most("LATENESS", lateness, MAX_TIME)?,
            None => 0,
        },
        kind: SourceKind::Scripted { keep_history: matches!(stmt.history, ast::History::KeepAll) },
    })
}

/// A bound `CREATE SOURCE ... FROM GENERATOR`: its columns come from the generator, TIME is
/// `ts`, and it keeps no history.
pub fn bind_create_generated(
    catalog: &Catalog,
    stmt: &ast::CreateGenerated,
    id: ObjectId,
) -> Result<SourceDesc> {
    let name = name_of(&stmt.name);
    if catalog.get(&name).is_some() {
        return Err(Error::bind(format!("\"{name}\" already exists")).with_span(stmt.name.span));
    }
    let options: Vec<(String, u64, Span)> =
        stmt.options.iter().map(|(k, v)| (k.value.clone(), v.value, k.span.union(&v.span))).collect();
    let generator = crate::generator::Generator::new(&stmt.generator.value, stmt.generator.span, &options)?;
    let columns = generator.columns();
    Ok(SourceDesc {
        id,
        name,
        time_column: columns.len() - 1,
        columns,
        lateness: 0,
        kind: SourceKind::Generated(generator),
    })
}
