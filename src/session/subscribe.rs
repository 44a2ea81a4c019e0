//! `SUBSCRIBE`: a view's rows, then its changes as `(time, diff, row)`, read again every
//! [`SUBSCRIBE_POLL`] until the duration passes or the session is interrupted.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use super::{Output, Session};
use crate::error::{Error, Result};
use crate::plan::catalog::Object;
use crate::repr::Datum;
use crate::sql::ast;

/// How often `SUBSCRIBE` reads its view.
pub const SUBSCRIBE_POLL: std::time::Duration = std::time::Duration::from_millis(100);

impl Session {
    /// `SUBSCRIBE`: hand `on_output` the view's rows as of now (each with diff 1), then, every
    /// [`SUBSCRIBE_POLL`], the changes since the previous read as `(time, diff, row)`, until the
    /// duration passes or the interrupt flag is set. Each read is a read: it moves every
    /// source's frontier first.
    pub(super) fn subscribe(
        &mut self,
        subscribe: &ast::Subscribe,
        on_output: &mut impl FnMut(Output),
    ) -> Result<()> {
        let view = match self.catalog.resolve(&subscribe.view, "view")? {
            Object::View(view) => view.clone(),
            Object::Source(source) => {
                return Err(Error::bind(format!("\"{}\" is a source; SUBSCRIBE reads views", source.name))
                    .with_span(subscribe.view.span));
            }
        };
        let mut columns = vec!["time".to_string(), "diff".to_string()];
        columns.extend(view.plan.column_names());
        let started = std::time::Instant::now();
        let deadline = subscribe.for_millis.as_ref().map(|m| std::time::Duration::from_millis(m.value));
        let mut previous: BTreeMap<Vec<Datum>, i64> = BTreeMap::new();
        let mut first = true;
        loop {
            let (time, rows) = self.read(view.id)?;
            let mut current: BTreeMap<Vec<Datum>, i64> = BTreeMap::new();
            for row in rows {
                *current.entry(row).or_default() += 1;
            }
            let mut changes = Vec::new();
            for (row, count) in &current {
                let diff = count - previous.get(row).copied().unwrap_or(0);
                if diff != 0 {
                    changes.push((row.clone(), diff));
                }
            }
            for (row, count) in &previous {
                if !current.contains_key(row) {
                    changes.push((row.clone(), -count));
                }
            }
            if first || !changes.is_empty() {
                let rows = changes
                    .into_iter()
                    .map(|(row, diff)| {
                        let mut out = vec![Datum::Int(time.saturating_sub(1) as i64), Datum::Int(diff)];
                        out.extend(row);
                        out
                    })
                    .collect();
                on_output(Output::Rows { columns: columns.clone(), rows });
            }
            first = false;
            previous = current;
            if deadline.is_some_and(|d| started.elapsed() >= d)
                || self.interrupt.swap(false, Ordering::SeqCst)
            {
                return Ok(());
            }
            let pause =
                deadline.map_or(SUBSCRIBE_POLL, |d| d.saturating_sub(started.elapsed()).min(SUBSCRIBE_POLL));
            std::thread::sleep(pause);
        }
    }
}
