//! A pass over an Avro binary body, guided by the writer's schema, that
//! runs before apache-avro decodes it.
//!
//! apache-avro bounds each string, bytes and block length by its global
//! `max_allocation_bytes`, but it reserves room for a whole array or map
//! block before reading its items: a 6-byte record announcing a block of
//! 8 million items makes it allocate 8 million `Value`s (hundreds of MB).
//! This pass refuses any length or block count larger than the bytes left
//! in the record (every item of our schemas takes at least one byte), so
//! decoding allocates in proportion to the record's size. It also bounds
//! nesting, and reads nothing past the end.

use std::collections::HashMap;

use apache_avro::Schema;

/// Deepest nesting of schema types walked (records, arrays, maps, unions).
const MAX_DEPTH: usize = 64;

/// The pass for one writer schema, with its named types collected once:
/// build it with the codec, not per record.
pub struct Preflight<'s> {
    schema: &'s Schema,
    names: HashMap<String, &'s Schema>,
}

impl<'s> Preflight<'s> {
    pub fn new(schema: &'s Schema) -> Self {
        let mut names = HashMap::new();
        collect_names(schema, &mut names);
        Self { schema, names }
    }

    /// Checks that `body` can be decoded with the schema without any length
    /// or count exceeding what remains. The error says what and where.
    pub fn check(&self, body: &[u8]) -> Result<(), String> {
        let mut walker = Walker {
            names: &self.names,
            rest: body,
            len: body.len(),
        };
        walker.walk(self.schema, 0)
    }
}

/// [`Preflight::check`] for a one-off schema.
pub fn check(schema: &Schema, body: &[u8]) -> Result<(), String> {
    Preflight::new(schema).check(body)
}

fn collect_names<'s>(schema: &'s Schema, names: &mut HashMap<String, &'s Schema>) {
    match schema {
        Schema::Record(r) => {
            names.insert(r.name.fullname(None), schema);
            for f in &r.fields {
                collect_names(&f.schema, names);
            }
        }
        Schema::Enum(e) => {
            names.insert(e.name.fullname(None), schema);
        }
        Schema::Fixed(f) => {
            names.insert(f.name.fullname(None), schema);
        }
        Schema::Array(a) => collect_names(&a.items, names),
        Schema::Map(m) => collect_names(&m.types, names),
        Schema::Union(u) => {
            for v in u.variants() {
                collect_names(v, names);
            }
        }
        _ => {}
    }
}

struct Walker<'s, 'b> {
    names: &'s HashMap<String, &'s Schema>,
    rest: &'b [u8],
    len: usize,
}

impl<'s> Walker<'s, '_> {
    fn at(&self) -> usize {
        self.len - self.rest.len()
    }

    fn long(&mut self) -> Result<i64, String> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let Some((&b, rest)) = self.rest.split_first() else {
                return Err(format!(
                    "the record ends inside a number at byte {}",
                    self.at()
                ));
            };
            self.rest = rest;
            value |= u64::from(b & 0x7F) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(((value >> 1) as i64) ^ -((value & 1) as i64));
            }
        }
        Err(format!(
            "a number longer than 10 bytes at byte {}",
            self.at()
        ))
    }

    fn skip(&mut self, n: usize, what: &str) -> Result<(), String> {
        if n > self.rest.len() {
            return Err(format!(
                "{what} of {n} bytes at byte {}, but only {} bytes are left",
                self.at(),
                self.rest.len()
            ));
        }
        self.rest = &self.rest[n..];
        Ok(())
    }

    /// A length or count: not negative, and at most the bytes left.
    fn length(&mut self, what: &str) -> Result<usize, String> {
        let at = self.at();
        let n = self.long()?;
        if n < 0 {
            return Err(format!("negative {what} {n} at byte {at}"));
        }
        let left = self.rest.len();
        if n as u64 > left as u64 {
            return Err(format!(
                "{what} {n} at byte {at}, but only {left} bytes are left"
            ));
        }
        Ok(n as usize)
    }

    fn walk(&mut self, schema: &'s Schema, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!("values nested more than {MAX_DEPTH} deep"));
        }
        match schema {
            Schema::Null => Ok(()),
            Schema::Boolean => self.skip(1, "a boolean"),
            Schema::Int
            | Schema::Long
            | Schema::Date
            | Schema::TimeMillis
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => self.long().map(|_| ()),
            Schema::Float => self.skip(4, "a float"),
            Schema::Double => self.skip(8, "a double"),
            Schema::Bytes | Schema::String | Schema::Uuid | Schema::BigDecimal => {
                let n = self.length("a string length")?;
                self.skip(n, "a string")
            }
            Schema::Fixed(f) => self.skip(f.size, "a fixed"),
            Schema::Duration => self.skip(12, "a duration"),
            Schema::Decimal(d) => self.walk(&d.inner, depth + 1),
            Schema::Enum(e) => {
                let at = self.at();
                let i = self.long()?;
                if i < 0 || i as u64 >= e.symbols.len() as u64 {
                    return Err(format!("enum index {i} at byte {at} is out of range"));
                }
                Ok(())
            }
            Schema::Union(u) => {
                let at = self.at();
                let i = self.long()?;
                let variant = usize::try_from(i)
                    .ok()
                    .and_then(|i| u.variants().get(i))
                    .ok_or_else(|| format!("union index {i} at byte {at} is out of range"))?;
                self.walk(variant, depth + 1)
            }
            Schema::Record(r) => {
                for f in &r.fields {
                    self.walk(&f.schema, depth + 1)?;
                }
                Ok(())
            }
            Schema::Array(a) => self.blocks(depth, |w, d| w.walk(&a.items, d)),
            Schema::Map(m) => self.blocks(depth, |w, d| {
                let n = w.length("a map key length")?;
                w.skip(n, "a map key")?;
                w.walk(&m.types, d)
            }),
            Schema::Ref { name } => {
                let target = self
                    .names
                    .get(&name.fullname(None))
                    .copied()
                    .or_else(|| {
                        self.names
                            .values()
                            .copied()
                            .find(|s| matches!(s.name(), Some(n) if n.name == name.name))
                    })
                    .ok_or_else(|| format!("the schema names no type {}", name.name))?;
                self.walk(target, depth + 1)
            }
        }
    }

    /// Array or map blocks: a count (negative: followed by a byte size),
    /// that many items, until a count of 0.
    fn blocks(
        &mut self,
        depth: usize,
        mut item: impl FnMut(&mut Self, usize) -> Result<(), String>,
    ) -> Result<(), String> {
        loop {
            let at = self.at();
            let count = self.long()?;
            if count == 0 {
                return Ok(());
            }
            if count < 0 {
                // A negative count is followed by the block's size in bytes.
                self.length("a block size")?;
            }
            let count = count.unsigned_abs();
            let left = self.rest.len() as u64;
            if count > left {
                return Err(format!(
                    "a block of {count} items at byte {at}, but only {left} bytes are left"
                ));
            }
            for _ in 0..count {
                item(self, depth + 1)?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_block_count_is_refused_before_decoding() {
        let schema = Schema::parse_str(r#"{"type":"array","items":"long"}"#).unwrap();
        // zigzag(8_000_000) as a varint, then nothing.
        let mut body = Vec::new();
        let mut v: u64 = 16_000_000;
        while v >= 0x80 {
            body.push((v as u8) | 0x80);
            v >>= 7;
        }
        body.push(v as u8);
        let err = check(&schema, &body).unwrap_err();
        assert!(err.contains("a block of 8000000 items"), "{err}");
        // A well-formed array passes.
        let ok = apache_avro::to_avro_datum(
            &schema,
            apache_avro::types::Value::Array(vec![apache_avro::types::Value::Long(5); 3]),
        )
        .unwrap();
        check(&schema, &ok).unwrap();
    }
}
