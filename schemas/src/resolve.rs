//! Avro schema resolution of a decoded value: writer schema → reader schema,
//! as the Avro specification defines it ("Schema Resolution").
//!
//! apache-avro has `Value::resolve`, but it picks a union branch by the
//! *shape* of the value, not by the writer's branch: two event kinds with the
//! same fields (`FriendAdded` / `FriendDeleted`, `BlockAdded` /
//! `BlockRemoved`) would come out as the first of the pair (a known upstream
//! limitation, apache/avro-rs#365). Here a union branch is chosen by the
//! writer branch's full name, as the specification says. Leaves (primitives,
//! logical types) are still resolved by apache-avro, which handles promotions.

use std::collections::HashMap;

use apache_avro::schema::{Name, ResolvedSchema, Schema, SchemaKind};
use apache_avro::types::Value;
use serde_json::Value as Json;

/// Why a value written with one schema cannot be read with another.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct ResolveError {
    pub path: String,
    pub reason: String,
}

/// A writer/reader pair with their named types indexed, ready to resolve values.
pub struct Resolver<'a> {
    writer: &'a Schema,
    reader: &'a Schema,
    writer_names: HashMap<Name, &'a Schema>,
    reader_names: HashMap<Name, &'a Schema>,
}

impl<'a> Resolver<'a> {
    pub fn new(writer: &'a Schema, reader: &'a Schema) -> Result<Self, apache_avro::Error> {
        Ok(Self {
            writer,
            reader,
            writer_names: ResolvedSchema::try_from(writer)?.get_names().clone(),
            reader_names: ResolvedSchema::try_from(reader)?.get_names().clone(),
        })
    }

    /// Resolves `value`, decoded with the writer schema, into the reader schema.
    pub fn resolve(&self, value: Value) -> Result<Value, ResolveError> {
        self.walk(value, self.writer, self.reader, &mut String::from("$"))
    }

    fn walk(
        &self,
        value: Value,
        writer: &Schema,
        reader: &Schema,
        path: &mut String,
    ) -> Result<Value, ResolveError> {
        let writer = deref(writer, &self.writer_names, path)?;
        let reader = deref(reader, &self.reader_names, path)?;
        match (writer, reader) {
            (Schema::Union(w), _) => {
                let Value::Union(index, inner) = value else {
                    return Err(err(path, "writer schema is a union but the value is not"));
                };
                let branch = w.variants().get(index as usize).ok_or_else(|| {
                    err(
                        path,
                        format!("union branch #{index} is not in the writer schema"),
                    )
                })?;
                self.walk(*inner, branch, reader, path)
            }
            (_, Schema::Union(r)) => {
                let wanted = identity(writer);
                for (i, branch) in r.variants().iter().enumerate() {
                    let candidate = deref(branch, &self.reader_names, path)?;
                    if branch_matches(writer, candidate) {
                        let inner = self.walk(value, writer, branch, path)?;
                        return Ok(Value::Union(i as u32, Box::new(inner)));
                    }
                }
                Err(err(
                    path,
                    format!("the reader's union has no branch for the writer's `{wanted}`"),
                ))
            }
            (Schema::Record(w), Schema::Record(r)) => {
                if !same_name(&w.name, &r.name, r.aliases.as_deref()) {
                    return Err(err(
                        path,
                        format!(
                            "record `{}` cannot be read as `{}`",
                            w.name.fullname(None),
                            r.name.fullname(None)
                        ),
                    ));
                }
                let Value::Record(fields) = value else {
                    return Err(err(path, "writer schema is a record but the value is not"));
                };
                // Writer fields by name; fields the reader does not know are dropped.
                let mut by_name: HashMap<String, (Value, &Schema)> = HashMap::new();
                for (name, v) in fields {
                    if let Some(&at) = w.lookup.get(&name) {
                        by_name.insert(name, (v, &w.fields[at].schema));
                    }
                }
                let mut out = Vec::with_capacity(r.fields.len());
                for field in &r.fields {
                    let found = std::iter::once(&field.name)
                        .chain(field.aliases.iter().flatten())
                        .find_map(|n| by_name.remove(n));
                    let len = path.len();
                    path.push('.');
                    path.push_str(&field.name);
                    let v = match (found, &field.default) {
                        (Some((v, ws)), _) => self.walk(v, ws, &field.schema, path)?,
                        (None, Some(default)) => {
                            self.default_value(default, &field.schema, path)?
                        }
                        (None, None) => return Err(err(
                            path,
                            "the reader's field has no default and the writer has no such field",
                        )),
                    };
                    path.truncate(len);
                    out.push((field.name.clone(), v));
                }
                Ok(Value::Record(out))
            }
            (Schema::Enum(w), Schema::Enum(r)) => {
                if !same_name(&w.name, &r.name, r.aliases.as_deref()) {
                    return Err(err(
                        path,
                        format!(
                            "enum `{}` cannot be read as `{}`",
                            w.name.fullname(None),
                            r.name.fullname(None)
                        ),
                    ));
                }
                let Value::Enum(_, symbol) = value else {
                    return Err(err(path, "writer schema is an enum but the value is not"));
                };
                let symbol = if r.symbols.contains(&symbol) {
                    symbol
                } else if let Some(default) = &r.default {
                    default.clone()
                } else {
                    return Err(err(
                        path,
                        format!(
                            "symbol `{symbol}` is not in the reader's enum `{}`, which has no default",
                            r.name.fullname(None)
                        ),
                    ));
                };
                let index = r
                    .symbols
                    .iter()
                    .position(|s| *s == symbol)
                    .expect("checked above");
                Ok(Value::Enum(index as u32, symbol))
            }
            (Schema::Array(w), Schema::Array(r)) => {
                let Value::Array(items) = value else {
                    return Err(err(path, "writer schema is an array but the value is not"));
                };
                path.push_str("[]");
                let out = items
                    .into_iter()
                    .map(|v| self.walk(v, &w.items, &r.items, path))
                    .collect::<Result<_, _>>()?;
                path.truncate(path.len() - 2);
                Ok(Value::Array(out))
            }
            (Schema::Map(w), Schema::Map(r)) => {
                let Value::Map(items) = value else {
                    return Err(err(path, "writer schema is a map but the value is not"));
                };
                let out = items
                    .into_iter()
                    .map(|(k, v)| Ok((k, self.walk(v, &w.types, &r.types, path)?)))
                    .collect::<Result<_, ResolveError>>()?;
                Ok(Value::Map(out))
            }
            (_, _)
                if SchemaKind::from(writer).is_named() || SchemaKind::from(reader).is_named() =>
            {
                if identity(writer) != identity(reader) {
                    return Err(err(
                        path,
                        format!(
                            "`{}` cannot be read as `{}`",
                            identity(writer),
                            identity(reader)
                        ),
                    ));
                }
                Ok(value)
            }
            // Primitives and logical types: apache-avro applies the promotions.
            (_, _) => value.resolve(reader).map_err(|e| err(path, e.to_string())),
        }
    }

    /// The value of a reader field's JSON default, in the field's schema.
    fn default_value(
        &self,
        default: &Json,
        schema: &Schema,
        path: &mut String,
    ) -> Result<Value, ResolveError> {
        let schema = deref(schema, &self.reader_names, path)?;
        let bad = |path: &str| {
            err(
                path,
                format!("default {default} does not fit the field's type"),
            )
        };
        Ok(match schema {
            // A union's default is of its first branch.
            Schema::Union(u) => {
                let first = u.variants().first().ok_or_else(|| bad(path))?;
                Value::Union(0, Box::new(self.default_value(default, first, path)?))
            }
            Schema::Null if default.is_null() => Value::Null,
            Schema::Boolean => Value::Boolean(default.as_bool().ok_or_else(|| bad(path))?),
            Schema::Int => Value::Int(
                default
                    .as_i64()
                    .and_then(|v| i32::try_from(v).ok())
                    .ok_or_else(|| bad(path))?,
            ),
            Schema::Long => Value::Long(default.as_i64().ok_or_else(|| bad(path))?),
            Schema::TimestampMillis => {
                Value::TimestampMillis(default.as_i64().ok_or_else(|| bad(path))?)
            }
            Schema::Float => Value::Float(default.as_f64().ok_or_else(|| bad(path))? as f32),
            Schema::Double => Value::Double(default.as_f64().ok_or_else(|| bad(path))?),
            Schema::String => Value::String(default.as_str().ok_or_else(|| bad(path))?.to_owned()),
            Schema::Uuid => Value::Uuid(
                default
                    .as_str()
                    .and_then(|s| uuid::Uuid::parse_str(s).ok())
                    .ok_or_else(|| bad(path))?,
            ),
            // Avro writes byte defaults as a string of code points 0-255.
            Schema::Bytes => Value::Bytes(
                default
                    .as_str()
                    .ok_or_else(|| bad(path))?
                    .chars()
                    .map(|c| u8::try_from(u32::from(c)).map_err(|_| bad(path)))
                    .collect::<Result<_, _>>()?,
            ),
            Schema::Enum(e) => {
                let symbol = default.as_str().ok_or_else(|| bad(path))?;
                let index = e
                    .symbols
                    .iter()
                    .position(|s| s == symbol)
                    .ok_or_else(|| bad(path))?;
                Value::Enum(index as u32, symbol.to_owned())
            }
            Schema::Array(a) => Value::Array(
                default
                    .as_array()
                    .ok_or_else(|| bad(path))?
                    .iter()
                    .map(|d| self.default_value(d, &a.items, path))
                    .collect::<Result<_, _>>()?,
            ),
            Schema::Map(m) => Value::Map(
                default
                    .as_object()
                    .ok_or_else(|| bad(path))?
                    .iter()
                    .map(|(k, d)| Ok((k.clone(), self.default_value(d, &m.types, path)?)))
                    .collect::<Result<_, ResolveError>>()?,
            ),
            Schema::Record(r) => {
                let object = default.as_object().ok_or_else(|| bad(path))?;
                let mut out = Vec::with_capacity(r.fields.len());
                for field in &r.fields {
                    let d = object
                        .get(&field.name)
                        .or(field.default.as_ref())
                        .ok_or_else(|| bad(path))?;
                    out.push((
                        field.name.clone(),
                        self.default_value(d, &field.schema, path)?,
                    ));
                }
                Value::Record(out)
            }
            _ => return Err(bad(path)),
        })
    }
}

fn err(path: &str, reason: impl Into<String>) -> ResolveError {
    ResolveError {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

fn deref<'s>(
    schema: &'s Schema,
    names: &HashMap<Name, &'s Schema>,
    path: &str,
) -> Result<&'s Schema, ResolveError> {
    match schema {
        Schema::Ref { name } => names
            .get(name)
            .copied()
            .ok_or_else(|| err(path, format!("unknown type `{}`", name.fullname(None)))),
        other => Ok(other),
    }
}

fn same_name(
    writer: &Name,
    reader: &Name,
    reader_aliases: Option<&[apache_avro::schema::Alias]>,
) -> bool {
    writer.fullname(None) == reader.fullname(None)
        || reader_aliases
            .into_iter()
            .flatten()
            .any(|a| a.fullname(reader.namespace.clone()) == writer.fullname(None))
}

/// How a union branch is told apart: named types by full name, others by kind.
pub(crate) fn identity(schema: &Schema) -> String {
    match schema.name() {
        Some(name) => name.fullname(None),
        None => format!("{:?}", SchemaKind::from(schema)).to_lowercase(),
    }
}

/// Whether a reader union branch can take a writer value (specification:
/// the first branch that matches, named types by name, primitives with promotion).
fn branch_matches(writer: &Schema, reader: &Schema) -> bool {
    use SchemaKind as K;
    let (w, r) = (SchemaKind::from(writer), SchemaKind::from(reader));
    if w.is_named() || r.is_named() {
        return identity(writer) == identity(reader);
    }
    w == r
        || matches!(
            (w, r),
            (K::Int, K::Long | K::Float | K::Double)
                | (K::Long, K::Float | K::Double)
                | (K::Float, K::Double)
                | (K::String, K::Bytes)
                | (K::Bytes, K::String)
        )
}

#[cfg(test)]
mod tests {
    use apache_avro::{from_avro_datum, to_avro_datum};

    use super::*;

    fn schema(json: &str) -> Schema {
        Schema::parse_str(json).unwrap()
    }

    /// The case apache-avro's own `resolve` gets wrong: two records of one shape.
    #[test]
    fn union_branch_is_chosen_by_the_writers_name_not_the_shape() {
        let writer = schema(
            r#"{"type":"record","name":"E","fields":[{"name":"e","type":[
                {"type":"record","name":"Added","fields":[{"name":"id","type":"string"}]},
                {"type":"record","name":"Deleted","fields":[{"name":"id","type":"string"}]}]}]}"#,
        );
        let reader = schema(
            r#"{"type":"record","name":"E","fields":[{"name":"e","type":[
                {"type":"record","name":"Added","fields":[{"name":"id","type":"string"}]},
                {"type":"record","name":"Deleted","fields":[{"name":"id","type":"string"},
                    {"name":"why","type":"string","default":"n/a"}]},
                {"type":"record","name":"Renamed","fields":[{"name":"id","type":"string"}]}]}]}"#,
        );
        let value = Value::Record(vec![(
            "e".into(),
            Value::Union(1, Box::new(Value::Record(vec![("id".into(), "x".into())]))),
        )]);
        let bytes = to_avro_datum(&writer, value).unwrap();
        let decoded = from_avro_datum(&writer, &mut &bytes[..], None).unwrap();
        let resolved = Resolver::new(&writer, &reader)
            .unwrap()
            .resolve(decoded)
            .unwrap();
        assert_eq!(
            resolved,
            Value::Record(vec![(
                "e".into(),
                Value::Union(
                    1,
                    Box::new(Value::Record(vec![
                        ("id".into(), "x".into()),
                        ("why".into(), "n/a".into())
                    ]))
                ),
            )])
        );
    }

    #[test]
    fn a_reader_field_without_default_missing_from_the_writer_is_refused() {
        let writer = schema(r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#);
        let reader = schema(
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"long"},{"name":"b","type":"string"}]}"#,
        );
        let value = Value::Record(vec![("a".into(), Value::Int(7))]);
        let e = Resolver::new(&writer, &reader)
            .unwrap()
            .resolve(value)
            .unwrap_err();
        assert_eq!(e.path, "$.b");
    }

    #[test]
    fn unknown_enum_symbols_take_the_readers_default() {
        let writer = schema(r#"{"type":"enum","name":"C","symbols":["A","B","NEW"]}"#);
        let reader = schema(r#"{"type":"enum","name":"C","symbols":["A","B"],"default":"A"}"#);
        let r = Resolver::new(&writer, &reader).unwrap();
        assert_eq!(
            r.resolve(Value::Enum(2, "NEW".into())).unwrap(),
            Value::Enum(0, "A".into())
        );
        assert_eq!(
            r.resolve(Value::Enum(1, "B".into())).unwrap(),
            Value::Enum(1, "B".into())
        );
    }
}
