//! The catalog: the sources and views that exist, their columns, and who depends on whom.
//!
//! Names are shared by sources and views and compared exactly: the binder and the session
//! hand in the name an identifier stands for ([`crate::sql::name_of`]: unquoted folds to lower
//! case, quoted keeps its case), so `Plain` and `"plain"` find `plain` but `"Plain"` does not. The
//! catalog is only changed after a statement has bound and the engine has accepted it.

use std::collections::BTreeMap;

use super::Plan;
use crate::error::{Error, Result};
use crate::repr::Column;

/// Identifies a source or a view for the lifetime of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct ObjectId(pub u64);

/// A source: an append-only input with an event-time column.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SourceDesc {
    /// Its id.
    pub id: ObjectId,
    /// Its name.
    pub name: String,
    /// Its columns.
    pub columns: Vec<Column>,
    /// The position of the BIGINT column that carries event time.
    pub time_column: usize,
    /// How far behind the newest time seen a row may still arrive.
    pub lateness: u64,
    /// Where its rows come from, and so who moves its frontier and whether it keeps history.
    pub kind: super::SourceKind,
}

/// A view: a named dataflow plan.
#[derive(Clone, Debug, PartialEq)]
pub struct ViewDesc {
    /// Its id.
    pub id: ObjectId,
    /// Its name.
    pub name: String,
    /// Its plan.
    pub plan: Plan,
    /// The sources and views it names.
    pub reads: Vec<ObjectId>,
    /// The statement that created it, for `SHOW VIEWS`.
    pub sql: String,
}

/// A catalog entry.
#[derive(Clone, Debug, PartialEq)]
pub enum Object {
    /// A source.
    Source(SourceDesc),
    /// A view.
    View(ViewDesc),
}

impl Object {
    /// The object's name.
    pub fn name(&self) -> &str {
        match self {
            Object::Source(s) => &s.name,
            Object::View(v) => &v.name,
        }
    }

    /// The object's id.
    pub fn id(&self) -> ObjectId {
        match self {
            Object::Source(s) => s.id,
            Object::View(v) => v.id,
        }
    }

    /// The object's columns.
    pub fn columns(&self) -> &[Column] {
        match self {
            Object::Source(s) => &s.columns,
            Object::View(v) => &v.plan.columns,
        }
    }
}

/// All sources and views.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    objects: BTreeMap<ObjectId, Object>,
    next_id: u64,
}

impl Catalog {
    /// A fresh id, never handed out before.
    pub fn allocate_id(&mut self) -> ObjectId {
        self.next_id += 1;
        ObjectId(self.next_id)
    }

    /// Look an object up by its name, exactly (see the module docs).
    pub fn get(&self, name: &str) -> Option<&Object> {
        self.objects.values().find(|o| o.name() == name)
    }

    /// The object named as `ident` names it, or [`Catalog::not_found`].
    pub fn resolve(&self, ident: &sqlparser::ast::Ident, what: &str) -> Result<&Object> {
        self.get(&crate::sql::name_of(ident)).ok_or_else(|| self.not_found(ident, what))
    }

    /// The bind error for `ident` naming no object ("source or view \"x\" not found", where
    /// `what` is "source or view"), at `ident`, with a hint when only the case differs.
    pub fn not_found(&self, ident: &sqlparser::ast::Ident, what: &str) -> Error {
        let name = crate::sql::name_of(ident);
        let error = Error::bind(format!("{what} \"{name}\" not found")).with_span(ident.span);
        match self.objects.values().find(|o| o.name().to_lowercase() == name.to_lowercase()) {
            Some(other) => error.with_hint(format!(
                "there is \"{}\": a quoted name keeps its case, an unquoted one is read in lower case",
                other.name()
            )),
            None => error,
        }
    }

    /// Look an object up by id.
    pub fn by_id(&self, id: ObjectId) -> Option<&Object> {
        self.objects.get(&id)
    }

    /// The source with this id.
    pub fn source(&self, id: ObjectId) -> Result<&SourceDesc> {
        match self.objects.get(&id) {
            Some(Object::Source(s)) => Ok(s),
            _ => Err(Error::engine(format!("no source with id {}", id.0))),
        }
    }

    /// Every source, in creation order.
    pub fn sources(&self) -> impl Iterator<Item = &SourceDesc> {
        self.objects.values().filter_map(|o| match o {
            Object::Source(s) => Some(s),
            Object::View(_) => None,
        })
    }

    /// Every view, in creation order.
    pub fn views(&self) -> impl Iterator<Item = &ViewDesc> {
        self.objects.values().filter_map(|o| match o {
            Object::View(v) => Some(v),
            Object::Source(_) => None,
        })
    }

    /// The sources `id` reads, directly or through views (itself, for a source), each once.
    pub fn sources_under(&self, id: ObjectId) -> Vec<ObjectId> {
        let mut out = Vec::new();
        let mut pending = vec![id];
        while let Some(id) = pending.pop() {
            match self.objects.get(&id) {
                Some(Object::Source(_)) if !out.contains(&id) => out.push(id),
                Some(Object::View(view)) => pending.extend(view.reads.iter().copied()),
                Some(Object::Source(_)) | None => {}
            }
        }
        out.sort();
        out
    }

    /// The live generator source `id` reads, directly or through views, if any: such an
    /// object lives on the wall clock's timeline, not on the scripted sources' clocks.
    pub fn live_source_under(&self, id: ObjectId) -> Option<&SourceDesc> {
        self.sources_under(id)
            .into_iter()
            .filter_map(|id| self.source(id).ok())
            .find(|source| source.kind.timeline() == super::Timeline::WallClock)
    }

    /// A scripted (not generated) source `id` reads, directly or through views, if any.
    pub fn scripted_source_under(&self, id: ObjectId) -> Option<&SourceDesc> {
        self.sources_under(id)
            .into_iter()
            .filter_map(|id| self.source(id).ok())
            .find(|source| source.kind.timeline() == super::Timeline::SessionClock)
    }

    /// Add an object; its name must be free (checked by the binder).
    pub fn insert(&mut self, object: Object) {
        self.objects.insert(object.id(), object);
    }

    /// Remove an object.
    pub fn remove(&mut self, id: ObjectId) -> Option<Object> {
        self.objects.remove(&id)
    }

    /// The views that read `id` directly.
    pub fn dependents(&self, id: ObjectId) -> Vec<&ViewDesc> {
        self.views().filter(|v| v.reads.contains(&id)).collect()
    }
}
