//! Small helpers to build and take apart `apache_avro::types::Value` records.
//!
//! The event types convert to and from `Value` by hand rather than through
//! serde: Avro unions of records (the event kinds, the message elements) do
//! not map cleanly onto serde's enum model, and explicit conversions keep the
//! `.avsc` files, not Rust attributes, the single source of the contract.

use apache_avro::types::Value;

use crate::DecodeError;

/// Builds a record value field by field, in schema order.
#[derive(Default)]
pub(crate) struct RecordBuilder(Vec<(String, Value)>);

impl RecordBuilder {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self(Vec::with_capacity(n))
    }

    pub(crate) fn field(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.0.push((name.to_owned(), value.into()));
        self
    }

    pub(crate) fn build(self) -> Value {
        Value::Record(self.0)
    }
}

/// Reads the fields of a decoded record by name.
pub(crate) struct RecordReader {
    record: &'static str,
    fields: Vec<(String, Value)>,
}

impl RecordReader {
    pub(crate) fn new(record: &'static str, value: Value) -> Result<Self, DecodeError> {
        match value {
            Value::Record(fields) => Ok(Self { record, fields }),
            other => Err(DecodeError::Shape(format!(
                "{record}: expected a record, found {}",
                kind(&other)
            ))),
        }
    }

    fn take(&mut self, name: &str) -> Result<Value, DecodeError> {
        let at = self
            .fields
            .iter()
            .position(|(n, _)| n == name)
            .ok_or_else(|| {
                DecodeError::Shape(format!("{}: missing field `{name}`", self.record))
            })?;
        Ok(self.fields.swap_remove(at).1)
    }

    fn mismatch(&self, name: &str, want: &str, got: &Value) -> DecodeError {
        DecodeError::Shape(format!(
            "{}.{name}: expected {want}, found {}",
            self.record,
            kind(got)
        ))
    }

    pub(crate) fn string(&mut self, name: &str) -> Result<String, DecodeError> {
        match self.take(name)? {
            Value::String(s) => Ok(s),
            other => Err(self.mismatch(name, "string", &other)),
        }
    }

    pub(crate) fn long(&mut self, name: &str) -> Result<i64, DecodeError> {
        match self.take(name)? {
            Value::Long(v) => Ok(v),
            Value::Int(v) => Ok(i64::from(v)),
            other => Err(self.mismatch(name, "long", &other)),
        }
    }

    pub(crate) fn int(&mut self, name: &str) -> Result<i32, DecodeError> {
        match self.take(name)? {
            Value::Int(v) => Ok(v),
            other => Err(self.mismatch(name, "int", &other)),
        }
    }

    pub(crate) fn double(&mut self, name: &str) -> Result<f64, DecodeError> {
        match self.take(name)? {
            Value::Double(v) => Ok(v),
            Value::Float(v) => Ok(f64::from(v)),
            other => Err(self.mismatch(name, "double", &other)),
        }
    }

    pub(crate) fn boolean(&mut self, name: &str) -> Result<bool, DecodeError> {
        match self.take(name)? {
            Value::Boolean(v) => Ok(v),
            other => Err(self.mismatch(name, "boolean", &other)),
        }
    }

    pub(crate) fn timestamp_millis(&mut self, name: &str) -> Result<i64, DecodeError> {
        match self.take(name)? {
            Value::TimestampMillis(v) | Value::Long(v) => Ok(v),
            other => Err(self.mismatch(name, "timestamp-millis", &other)),
        }
    }

    pub(crate) fn uuid(&mut self, name: &str) -> Result<uuid::Uuid, DecodeError> {
        match self.take(name)? {
            Value::Uuid(v) => Ok(v),
            Value::String(s) => uuid::Uuid::parse_str(&s)
                .map_err(|e| DecodeError::Shape(format!("{}.{name}: {e}", self.record))),
            other => Err(self.mismatch(name, "uuid", &other)),
        }
    }

    /// An enum field, returned as its symbol.
    pub(crate) fn symbol(&mut self, name: &str) -> Result<String, DecodeError> {
        match self.take(name)? {
            Value::Enum(_, symbol) => Ok(symbol),
            other => Err(self.mismatch(name, "enum", &other)),
        }
    }

    pub(crate) fn record(&mut self, name: &str) -> Result<Value, DecodeError> {
        match self.take(name)? {
            v @ Value::Record(_) => Ok(v),
            other => Err(self.mismatch(name, "record", &other)),
        }
    }

    pub(crate) fn array(&mut self, name: &str) -> Result<Vec<Value>, DecodeError> {
        match self.take(name)? {
            Value::Array(items) => Ok(items),
            other => Err(self.mismatch(name, "array", &other)),
        }
    }

    /// A `["null", T]` field: `None` for null, `Some(value)` otherwise.
    pub(crate) fn optional(&mut self, name: &str) -> Result<Option<Value>, DecodeError> {
        match self.take(name)? {
            Value::Union(_, inner) => match *inner {
                Value::Null => Ok(None),
                v => Ok(Some(v)),
            },
            Value::Null => Ok(None),
            other => Err(self.mismatch(name, "union", &other)),
        }
    }

    /// A `["null", "string"]` field.
    pub(crate) fn optional_string(&mut self, name: &str) -> Result<Option<String>, DecodeError> {
        match self.optional(name)? {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.mismatch(name, "string", &other)),
        }
    }

    /// A union field: its branch's record name resolved by the caller from the value.
    pub(crate) fn union(&mut self, name: &str) -> Result<(u32, Value), DecodeError> {
        match self.take(name)? {
            Value::Union(index, inner) => Ok((index, *inner)),
            other => Err(self.mismatch(name, "union", &other)),
        }
    }
}

pub(crate) fn enum_value(symbols: &[&str], symbol: &str) -> Value {
    let index = symbols
        .iter()
        .position(|s| *s == symbol)
        .expect("enum symbol is one of the schema's symbols");
    Value::Enum(index as u32, symbol.to_owned())
}

pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Boolean(_) => "boolean",
        Value::Int(_) => "int",
        Value::Long(_) => "long",
        Value::Float(_) => "float",
        Value::Double(_) => "double",
        Value::Bytes(_) => "bytes",
        Value::String(_) => "string",
        Value::Fixed(..) => "fixed",
        Value::Enum(..) => "enum",
        Value::Union(..) => "union",
        Value::Array(_) => "array",
        Value::Map(_) => "map",
        Value::Record(_) => "record",
        _ => "logical value",
    }
}
