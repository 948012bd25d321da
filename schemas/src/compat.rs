//! The evolution check every schema change must pass against every released
//! version (see `docs/schemas.md`, "Evolution").
//!
//! Two parts:
//! - **Avro resolution**, by apache-avro's `SchemaCompatibility`: backward (the
//!   new schema reads what the old one wrote) and forward (the old schema reads
//!   what the new one writes). One documented exception to forward: branches
//!   appended to a union (new event kinds, new message elements) are unknown
//!   to old readers, which skip them; so the forward check runs on the new
//!   schema with its appended branches taken out. Likewise symbols appended to
//!   an enum that has a default: old readers map them to the default.
//! - **Our stricter rules**, which Avro resolution alone allows but stock
//!   consumers do not survive: no field is removed or renamed (a rename with a
//!   default "resolves", silently losing the data), and union branches and
//!   enum symbols keep their positions (Spark's `from_avro` maps a union to
//!   columns `member0..memberN` by position, and readers that skip resolution
//!   decode by index).

use std::collections::HashMap;

use apache_avro::schema::{Name, ResolvedSchema, Schema, UnionSchema};
use apache_avro::schema_compatibility::SchemaCompatibility;

use crate::resolve::identity;

/// One way in which a new schema breaks a released one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Incompatibility {
    #[error("backward: the new schema cannot read records written with the old one: {0}")]
    Backward(String),
    #[error("forward: the old schema cannot read records written with the new one: {0}")]
    Forward(String),
    #[error("{path}: field `{field}` of the released schema is gone (fields are never removed or renamed)")]
    FieldRemoved { path: String, field: String },
    #[error("{path}: the released union {old:?} must stay, in order, at the start of {new:?} (new branches are appended)")]
    UnionReordered {
        path: String,
        old: Vec<String>,
        new: Vec<String>,
    },
    #[error("{path}: the released symbols {old:?} must stay, in order, at the start of {new:?} (new symbols are appended)")]
    EnumReordered {
        path: String,
        old: Vec<String>,
        new: Vec<String>,
    },
    #[error("{path}: `{old}` became `{new}` (a type is never replaced)")]
    TypeChanged {
        path: String,
        old: String,
        new: String,
    },
    #[error("a schema does not resolve its named types: {0}")]
    Unresolvable(String),
}

/// Checks that `new` may replace the released schema `old`. Every problem is reported.
pub fn check(old: &Schema, new: &Schema) -> Result<(), Vec<Incompatibility>> {
    let mut found = Vec::new();
    match (names(old), names(new)) {
        (Ok(old_names), Ok(new_names)) => {
            Rules {
                old_names: &old_names,
                new_names: &new_names,
                found: &mut found,
            }
            .walk(old, new, "$");
            // The whole schemas too, in case a problem lies outside any record.
            let has = |f: &[Incompatibility], backward: bool| {
                f.iter().any(|p| match p {
                    Incompatibility::Backward(_) => backward,
                    Incompatibility::Forward(_) => !backward,
                    _ => false,
                })
            };
            if !has(&found, true) {
                if let Err(e) = SchemaCompatibility::can_read(old, new) {
                    found.push(Incompatibility::Backward(format!("$: {}", chain(&e))));
                }
            }
            if !has(&found, false) {
                let trimmed = without_appended(new, old, &old_names);
                if let Err(e) = SchemaCompatibility::can_read(&trimmed, old) {
                    found.push(Incompatibility::Forward(format!("$: {}", chain(&e))));
                }
            }
        }
        (Err(e), _) | (_, Err(e)) => found.push(Incompatibility::Unresolvable(e.to_string())),
    }
    if found.is_empty() {
        Ok(())
    } else {
        Err(found)
    }
}

/// An apache-avro compatibility error with its causes.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

type Names<'a> = HashMap<Name, &'a Schema>;

fn names(schema: &Schema) -> Result<Names<'_>, apache_avro::Error> {
    Ok(ResolvedSchema::try_from(schema)?.get_names().clone())
}

fn deref<'s>(schema: &'s Schema, names: &Names<'s>) -> &'s Schema {
    match schema {
        Schema::Ref { name } => names.get(name).copied().unwrap_or(schema),
        other => other,
    }
}

/// `new` without the union branches that `old` lacks, and without the symbols
/// that `old` lacks in enums where `old` has a default: what an old reader sees
/// of the new schema once it skips the kinds it does not know.
fn without_appended(new: &Schema, old: &Schema, old_names: &Names<'_>) -> Schema {
    // Named types are trimmed where they are defined; a reference stays a reference.
    let old = deref(old, old_names);
    match (new, old) {
        (Schema::Union(n), Schema::Union(o)) => {
            let kept = n
                .variants()
                .iter()
                .filter_map(|branch| {
                    let id = identity(branch);
                    o.variants()
                        .iter()
                        .find(|ob| identity(ob) == id)
                        .map(|ob| without_appended(branch, ob, old_names))
                })
                .collect();
            match UnionSchema::new(kept) {
                Ok(u) => Schema::Union(u),
                Err(_) => new.clone(),
            }
        }
        (Schema::Record(n), Schema::Record(o)) => {
            let mut record = n.clone();
            for field in &mut record.fields {
                if let Some(&at) = o.lookup.get(&field.name) {
                    field.schema = without_appended(&field.schema, &o.fields[at].schema, old_names);
                }
            }
            Schema::Record(record)
        }
        (Schema::Enum(n), Schema::Enum(o)) if o.default.is_some() => {
            let mut e = n.clone();
            e.symbols.retain(|s| o.symbols.contains(s));
            Schema::Enum(e)
        }
        (Schema::Array(n), Schema::Array(o)) => {
            let mut a = n.clone();
            a.items = Box::new(without_appended(&n.items, &o.items, old_names));
            Schema::Array(a)
        }
        (Schema::Map(n), Schema::Map(o)) => {
            let mut m = n.clone();
            m.types = Box::new(without_appended(&n.types, &o.types, old_names));
            Schema::Map(m)
        }
        _ => new.clone(),
    }
}

struct Rules<'a, 'o, 'n> {
    old_names: &'a Names<'o>,
    new_names: &'a Names<'n>,
    found: &'a mut Vec<Incompatibility>,
}

impl Rules<'_, '_, '_> {
    fn walk(&mut self, old: &Schema, new: &Schema, path: &str) {
        // Each named type is checked where the released schema defines it.
        if matches!(old, Schema::Ref { .. }) {
            return;
        }
        let new = deref(new, self.new_names);
        if identity(old) != identity(new) {
            self.found.push(Incompatibility::TypeChanged {
                path: path.to_owned(),
                old: identity(old),
                new: identity(new),
            });
            return;
        }
        match (old, new) {
            (Schema::Record(o), Schema::Record(n)) => {
                let before = self.found.len();
                for field in &o.fields {
                    let at = format!("{path}.{}", field.name);
                    match n.lookup.get(&field.name) {
                        Some(&i) => self.walk(&field.schema, &n.fields[i].schema, &at),
                        None => self.found.push(Incompatibility::FieldRemoved {
                            path: path.to_owned(),
                            field: field.name.clone(),
                        }),
                    }
                }
                // Resolution, reported at the innermost record that fails.
                let inner = &self.found[before..];
                let name = identity(old);
                if !inner
                    .iter()
                    .any(|p| matches!(p, Incompatibility::Backward(_)))
                {
                    if let Err(e) = SchemaCompatibility::can_read(old, new) {
                        self.found.push(Incompatibility::Backward(format!(
                            "{path} ({name}): {}",
                            chain(&e)
                        )));
                    }
                }
                let inner = &self.found[before..];
                if !inner
                    .iter()
                    .any(|p| matches!(p, Incompatibility::Forward(_)))
                {
                    let trimmed = without_appended(new, old, self.old_names);
                    if let Err(e) = SchemaCompatibility::can_read(&trimmed, old) {
                        self.found.push(Incompatibility::Forward(format!(
                            "{path} ({name}): {}",
                            chain(&e)
                        )));
                    }
                }
            }
            (Schema::Union(o), Schema::Union(n)) => {
                let old_ids: Vec<String> = o.variants().iter().map(identity).collect();
                let new_ids: Vec<String> = n.variants().iter().map(identity).collect();
                if !new_ids.starts_with(&old_ids) {
                    self.found.push(Incompatibility::UnionReordered {
                        path: path.to_owned(),
                        old: old_ids,
                        new: new_ids,
                    });
                    return;
                }
                for (ob, nb) in o.variants().iter().zip(n.variants()) {
                    let at = format!("{path}[{}]", identity(ob));
                    self.walk(ob, nb, &at);
                }
            }
            (Schema::Enum(o), Schema::Enum(n)) if !n.symbols.starts_with(&o.symbols) => {
                self.found.push(Incompatibility::EnumReordered {
                    path: path.to_owned(),
                    old: o.symbols.clone(),
                    new: n.symbols.clone(),
                });
            }
            (Schema::Array(o), Schema::Array(n)) => {
                self.walk(&o.items, &n.items, &format!("{path}[]"))
            }
            (Schema::Map(o), Schema::Map(n)) => {
                self.walk(&o.types, &n.types, &format!("{path}{{}}"))
            }
            _ => {}
        }
    }
}
