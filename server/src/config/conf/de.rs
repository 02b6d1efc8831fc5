//! A serde `Deserializer` over the value tree, so option structs can be declared with
//! `#[derive(Deserialize)]` while errors still point into the config file.
//!
//! Rules (chosen to behave like nats-server's hand-written option processing):
//! * map keys reach serde lower-cased, since nats-server matches option names
//!   case-insensitively; when one name appears in several spellings the last one wins;
//! * keys that were only used as `$variables` are skipped when the target struct has no such
//!   field (nats-server ignores them; unreferenced unknown keys are still reported);
//! * `unknown field` errors read `unknown field "<key as written>"` and point at the key; other
//!   errors point at the value being deserialized, or at the map for missing fields.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    Unexpected, VariantAccess, Visitor,
};

use super::error::{ConfigError, ErrorKind};
use super::value::{Document, Entry, Map, Pos, Spanned, Value};

/// The serde error type used inside the deserializer: a message plus, once known, where it
/// happened. The innermost value that sees an unlocated error stamps its own position on it.
#[derive(Debug)]
pub(crate) struct DeError {
    message: String,
    loc: Option<(Arc<PathBuf>, Pos)>,
    unknown_field: bool,
}

impl DeError {
    fn or_at(mut self, file: &Arc<PathBuf>, pos: Pos) -> DeError {
        if self.loc.is_none() {
            self.loc = Some((file.clone(), pos));
        }
        self
    }

    fn into_config_error(self, fallback: &Spanned) -> ConfigError {
        let (file, pos) = self
            .loc
            .unwrap_or_else(|| (fallback.file.clone(), fallback.pos));
        ConfigError::new(
            file.as_ref().clone(),
            pos.line,
            pos.col,
            self.message,
            ErrorKind::Value,
        )
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> DeError {
        DeError {
            message: msg.to_string(),
            loc: None,
            unknown_field: false,
        }
    }

    fn unknown_field(field: &str, _expected: &'static [&'static str]) -> DeError {
        // The key as written replaces `field` (which is lower-cased) once the map knows it.
        DeError {
            message: format!("unknown field \"{field}\""),
            loc: None,
            unknown_field: true,
        }
    }
}

/// Deserializes a whole document (the top-level map) into `T`.
pub fn from_document<T: DeserializeOwned>(doc: &Document) -> Result<T, ConfigError> {
    from_spanned(&doc.root)
}

/// Deserializes one value (e.g. a single block) into `T`.
pub fn from_spanned<T: DeserializeOwned>(v: &Spanned) -> Result<T, ConfigError> {
    T::deserialize(ValueDeserializer::new(v)).map_err(|e| e.into_config_error(v))
}

/// A serde `Deserializer` for one [`Spanned`] value.
#[derive(Clone, Copy)]
pub(crate) struct ValueDeserializer<'de> {
    v: &'de Spanned,
}

impl<'de> ValueDeserializer<'de> {
    /// Wraps a value for deserialization.
    pub(crate) fn new(v: &'de Spanned) -> ValueDeserializer<'de> {
        ValueDeserializer { v }
    }

    fn unexpected(&self) -> Unexpected<'de> {
        match &self.v.value {
            Value::Bool(b) => Unexpected::Bool(*b),
            Value::Int(i) => Unexpected::Signed(*i),
            Value::Float(f) => Unexpected::Float(*f),
            Value::String(s) => Unexpected::Str(s),
            Value::Date(_) => Unexpected::Other("date"),
            Value::Array(_) => Unexpected::Seq,
            Value::Map(_) => Unexpected::Map,
        }
    }

    fn invalid_type<V: Visitor<'de>>(&self, visitor: &V) -> DeError {
        de::Error::invalid_type(self.unexpected(), visitor)
    }
}

/// Deserializes `v` and, if the error is not located yet, locates it at `v`.
fn deserialize_at<'de, S: DeserializeSeed<'de>>(
    seed: S,
    v: &'de Spanned,
) -> Result<S::Value, DeError> {
    seed.deserialize(ValueDeserializer::new(v))
        .map_err(|e| e.or_at(&v.file, v.pos))
}

fn visit_array<'de, V: Visitor<'de>>(
    items: &'de [Spanned],
    visitor: V,
) -> Result<V::Value, DeError> {
    let mut seq = SeqDeserializer {
        iter: items.iter(),
        taken: 0,
    };
    let value = visitor.visit_seq(&mut seq)?;
    let left = seq.iter.len();
    if left > 0 {
        return Err(de::Error::invalid_length(
            items.len(),
            &format!("{} elements", seq.taken).as_str(),
        ));
    }
    Ok(value)
}

impl<'de> de::Deserializer<'de> for ValueDeserializer<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.v.value {
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Int(i) => visitor.visit_i64(*i),
            Value::Float(f) => visitor.visit_f64(*f),
            Value::String(s) | Value::Date(s) => visitor.visit_borrowed_str(s),
            Value::Array(items) => visit_array(items, visitor),
            Value::Map(m) => visitor.visit_map(MapDeserializer::new(m, None)),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        // The language has no null: a present key is always `Some`.
        visitor.visit_some(self)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        Err(self.invalid_type(&visitor))
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        Err(self.invalid_type(&visitor))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.v.value {
            Value::Array(items) => visit_array(items, visitor),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.v.value {
            Value::Map(m) => visitor.visit_map(MapDeserializer::new(m, None)),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match &self.v.value {
            Value::Map(m) => visitor.visit_map(MapDeserializer::new(m, Some(fields))),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match &self.v.value {
            // A unit variant written as a string.
            Value::String(s) => visitor.visit_enum(de::value::BorrowedStrDeserializer::new(s)),
            // `{ variant: value }` for variants carrying data.
            Value::Map(m) if m.len() == 1 => match m.entries().first() {
                Some(entry) => visitor.visit_enum(EnumDeserializer { entry }),
                None => Err(self.invalid_type(&visitor)),
            },
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf identifier
    }
}

struct SeqDeserializer<'de> {
    iter: std::slice::Iter<'de, Spanned>,
    taken: usize,
}

impl<'de> SeqAccess<'de> for SeqDeserializer<'de> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        match self.iter.next() {
            Some(v) => {
                self.taken += 1;
                deserialize_at(seed, v).map(Some)
            }
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct MapDeserializer<'de> {
    entries: Vec<&'de Entry>,
    next: usize,
    /// The entry whose key was handed out last, for its value.
    value: Option<&'de Entry>,
}

impl<'de> MapDeserializer<'de> {
    /// Selects the entries serde will see: the last of several spellings of one name, and,
    /// for structs, not the `$variable`-only keys the struct does not know.
    fn new(map: &'de Map, fields: Option<&[&str]>) -> MapDeserializer<'de> {
        let all = map.entries();
        let mut last: HashMap<String, usize> = HashMap::with_capacity(all.len());
        for (idx, e) in all.iter().enumerate() {
            last.insert(e.key.to_lowercase(), idx);
        }
        let entries = all
            .iter()
            .enumerate()
            .filter(|(idx, e)| {
                let lower = e.key.to_lowercase();
                if last.get(&lower) != Some(idx) {
                    return false;
                }
                match fields {
                    Some(fields) if e.referenced => fields.iter().any(|f| *f == lower),
                    _ => true,
                }
            })
            .map(|(_, e)| e)
            .collect();
        MapDeserializer {
            entries,
            next: 0,
            value: None,
        }
    }
}

impl<'de> MapAccess<'de> for MapDeserializer<'de> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some(entry) = self.entries.get(self.next).copied() else {
            return Ok(None);
        };
        self.next += 1;
        self.value = Some(entry);
        seed.deserialize(KeyDeserializer::new(entry))
            .map(Some)
            .map_err(|mut e| {
                if e.unknown_field {
                    e.message = format!("unknown field \"{}\"", entry.key);
                }
                // Key problems belong to the key, never to a surrounding value.
                e.loc = Some((entry.key_file.clone(), entry.key_pos));
                e
            })
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        match self.value.take() {
            // A scalar of the wrong type or value is reported at its key, as nats-server
            // reports it; a block or list at the innermost value inside it.
            Some(entry) if !matches!(entry.value.value, Value::Map(_) | Value::Array(_)) => seed
                .deserialize(ValueDeserializer::new(&entry.value))
                .map_err(|e| e.or_at(&entry.key_file, entry.key_pos)),
            Some(entry) => deserialize_at(seed, &entry.value),
            None => Err(de::Error::custom("map value requested before its key")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len() - self.next)
    }
}

/// Presents a map key to serde: lower-cased as a struct field (keys are case-insensitive,
/// as in nats-server), as written where a string is wanted (account names keep their case).
struct KeyDeserializer {
    key: String,
    written: String,
}

impl KeyDeserializer {
    fn new(entry: &Entry) -> KeyDeserializer {
        KeyDeserializer {
            key: entry.key.to_lowercase(),
            written: entry.key.clone(),
        }
    }
}

impl<'de> de::Deserializer<'de> for KeyDeserializer {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_string(self.key)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_string(self.written)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_string(self.written)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let key: de::value::StringDeserializer<DeError> = self.key.into_deserializer();
        visitor.visit_enum(key)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct
        identifier ignored_any
    }
}

/// `{ variant: value }` as an externally tagged enum.
struct EnumDeserializer<'de> {
    entry: &'de Entry,
}

impl<'de> EnumAccess<'de> for EnumDeserializer<'de> {
    type Error = DeError;
    type Variant = ValueDeserializer<'de>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self::Variant), DeError> {
        let entry = self.entry;
        let variant = seed
            .deserialize(KeyDeserializer::new(entry))
            .map_err(|e| e.or_at(&entry.key_file, entry.key_pos))?;
        Ok((variant, ValueDeserializer::new(&entry.value)))
    }
}

impl<'de> VariantAccess<'de> for ValueDeserializer<'de> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        Err(de::Error::invalid_type(
            self.unexpected(),
            &"a unit variant",
        ))
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DeError> {
        deserialize_at(seed, self.v)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_seq(self, visitor)
            .map_err(|e| e.or_at(&self.v.file, self.v.pos))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_struct(self, "", fields, visitor)
            .map_err(|e| e.or_at(&self.v.file, self.v.pos))
    }
}
