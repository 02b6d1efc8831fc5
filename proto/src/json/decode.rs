//! A serde [`Deserializer`](de::Deserializer) that fills a type the way Go's `encoding/json`
//! fills a struct, over text that passed [`check_valid`](super::scan::check_valid).
//!
//! Go's rules, each of which a client can lean on (nats-server decodes `CONNECT` with them):
//! * object keys match struct fields exactly, else case-insensitively, where `ſ` (U+017F)
//!   folds to `s` and `K` (U+212A) to `k`;
//! * members no field wants are skipped by syntax alone: whatever they hold (`1e999`, 9999
//!   levels of arrays) is never decoded;
//! * a field given twice is decoded twice, the later over the earlier: the last value wins,
//!   but every value must fit the field's type, and two objects for a struct field merge;
//! * `null` leaves a bool, number, string or struct as it was, and empties an `Option`, a
//!   list or a map;
//! * strings are decoded leniently: each byte that is not valid UTF-8, and each `\u` surrogate
//!   escape that is not half of a pair, becomes U+FFFD;
//! * integers take `-?[0-9]+` only (`-0` is 0; `1.0` and `1e2` are refused) within the
//!   field's range; floats refuse what overflows.
//!
//! A value is decoded from all its occurrences ([`Entry`]s in input order), which is how a
//! second `CONNECT` is decoded over the first too: the first one's JSON comes first. Errors are
//! Go's texts (`json: cannot unmarshal string into Go struct field ClientOpts.verbose of type
//! bool`), with the serde names of our types standing for Go's struct names.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};

use super::scan::{Elements, Members};

/// How deeply a decoded type may nest (a struct field holding a list holding a struct…). Ours
/// nest three levels; the limit stops a self-similar type (`serde_json::Value`) from recursing
/// as deep as the input may (10000 levels) on a worker thread's stack.
const MAX_TYPE_DEPTH: usize = 128;

/// A decoding failure, in Go's words.
#[derive(Debug)]
pub(super) struct Error(pub(super) String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

/// One occurrence of a value: the member's JSON text, and which field of the struct being
/// decoded it is for (0 where there is no struct).
#[derive(Clone, Copy)]
pub(super) struct Entry<'a> {
    field: usize,
    text: &'a [u8],
}

impl<'a> Entry<'a> {
    /// An occurrence outside any struct: a whole document, or an array element.
    pub(super) fn new(text: &'a [u8]) -> Self {
        Entry { field: 0, text }
    }
}

/// The field path of a value, innermost last (Go's `errorContext.FieldStack`).
struct Path<'s> {
    field: &'static str,
    parent: Option<&'s Path<'s>>,
}

impl Path<'_> {
    fn write(&self, out: &mut String) {
        if let Some(parent) = self.parent {
            parent.write(out);
            out.push('.');
        }
        out.push_str(self.field);
    }
}

/// Where a value sits, for error texts: the innermost struct's name and the path to the field.
#[derive(Clone, Copy)]
struct Ctx<'s> {
    strukt: &'static str,
    path: Option<&'s Path<'s>>,
}

/// The Go type named in a type error.
#[derive(Clone, Copy)]
enum GoType {
    Plain(&'static str),
    /// One of the server's structs: Go names it with its package.
    Struct(&'static str),
}

impl fmt::Display for GoType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GoType::Plain(name) => f.write_str(name),
            GoType::Struct(name) => write!(f, "server.{name}"),
        }
    }
}

/// A value to decode: every occurrence of it, in input order (never empty).
pub(super) struct Value<'a, 's> {
    spans: &'s [Entry<'a>],
    ctx: Ctx<'s>,
    depth: usize,
}

impl<'a, 's> Value<'a, 's> {
    /// The documents in `spans`, decoded one over the other into a top-level value.
    pub(super) fn top(spans: &'s [Entry<'a>]) -> Self {
        Value {
            spans,
            ctx: Ctx {
                strukt: "",
                path: None,
            },
            depth: 0,
        }
    }

    fn non_null(&self) -> impl Iterator<Item = &'a [u8]> + 's {
        self.spans
            .iter()
            .map(|entry| entry.text)
            .filter(|text| !is_null(text))
    }

    /// Checks that every occurrence that is not `null` starts as `accepts` says (Go
    /// type-checks each, the last one only wins), and returns the last.
    fn last_non_null(
        &self,
        accepts: impl Fn(u8) -> bool,
        ty: GoType,
    ) -> Result<Option<&'a [u8]>, Error> {
        let mut last = None;
        for text in self.non_null() {
            if !text.first().is_some_and(|&c| accepts(c)) {
                return Err(self.mismatch(kind(text), ty));
            }
            last = Some(text);
        }
        Ok(last)
    }

    /// The occurrences after the last `null`, which resets an `Option`, a list or a map.
    fn since_last_null(&self) -> &'s [Entry<'a>] {
        match self.spans.iter().rposition(|entry| is_null(entry.text)) {
            Some(at) => self.spans.get(at + 1..).unwrap_or_default(),
            None => self.spans,
        }
    }

    /// Go's `UnmarshalTypeError` text.
    fn mismatch(&self, what: &str, ty: GoType) -> Error {
        let mut text = format!("json: cannot unmarshal {what} into Go ");
        match self.ctx.path {
            Some(path) => {
                let _ = write!(text, "struct field {}.", self.ctx.strukt);
                path.write(&mut text);
            }
            None => text.push_str("value"),
        }
        let _ = write!(text, " of type {ty}");
        Error(text)
    }

    fn nest(&self) -> Result<(), Error> {
        if self.depth >= MAX_TYPE_DEPTH {
            return Err(Error("json: exceeded max depth".into()));
        }
        Ok(())
    }

    /// The last number given, read by `parse` (`None`: out of the type's range); a value
    /// that is not a number, or does not fit, is Go's type mismatch.
    fn last_number<T: Default>(
        &self,
        ty: &'static str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<T, Error> {
        let mut value = T::default();
        for text in self.non_null() {
            if !is_number(text) {
                return Err(self.mismatch(kind(text), GoType::Plain(ty)));
            }
            value = std::str::from_utf8(text)
                .ok()
                .and_then(&parse)
                .ok_or_else(|| self.mismatch(&number(text), GoType::Plain(ty)))?;
        }
        Ok(value)
    }

    /// The last integer given, as Go's `strconv.ParseInt` reads it, within `min..=max`.
    fn signed(&self, min: i64, max: i64, ty: &'static str) -> Result<i64, Error> {
        self.last_number(ty, |digits| {
            digits
                .parse::<i64>()
                .ok()
                .filter(|n| (min..=max).contains(n))
        })
    }

    /// The last unsigned integer given, as `strconv.ParseUint` reads it (no sign at all).
    fn unsigned(&self, max: u64, ty: &'static str) -> Result<u64, Error> {
        self.last_number(ty, |digits| {
            (!digits.starts_with('-'))
                .then(|| digits.parse::<u64>().ok())
                .flatten()
                .filter(|n| *n <= max)
        })
    }

    /// The last float given; one that overflows `f64` (or `f32` when `narrow`) is refused.
    fn float(&self, narrow: bool, ty: &'static str) -> Result<f64, Error> {
        self.last_number(ty, |digits| {
            let parsed = if narrow {
                digits.parse::<f32>().map(f64::from).ok()
            } else {
                digits.parse::<f64>().ok()
            };
            parsed.filter(|n| n.is_finite())
        })
    }
}

macro_rules! signed {
    ($($method:ident: $t:ty, $go:literal;)*) => {
        $(
            fn $method<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
                visitor.visit_i64(self.signed(<$t>::MIN as i64, <$t>::MAX as i64, $go)?)
            }
        )*
    };
}

macro_rules! unsigned {
    ($($method:ident: $t:ty, $go:literal;)*) => {
        $(
            fn $method<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
                visitor.visit_u64(self.unsigned(<$t>::MAX as u64, $go)?)
            }
        )*
    };
}

impl<'a> de::Deserializer<'a> for Value<'a, '_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        // Go's `interface{}`: whatever the last occurrence is, decoded afresh.
        let Some(last) = self.spans.last() else {
            return visitor.visit_unit();
        };
        match last.text.first() {
            None | Some(b'n') => visitor.visit_unit(),
            Some(b't') => visitor.visit_bool(true),
            Some(b'f') => visitor.visit_bool(false),
            Some(b'"') => visit_text(unquote(last.text), visitor),
            Some(b'[') => {
                self.nest()?;
                visitor.visit_seq(Items {
                    elements: Elements::new(last.text),
                    ctx: self.ctx,
                    depth: self.depth + 1,
                })
            }
            Some(b'{') => {
                self.nest()?;
                visitor.visit_map(Pairs::new(std::slice::from_ref(last), self))
            }
            Some(_) => {
                let digits = std::str::from_utf8(last.text).unwrap_or("x");
                if let Ok(n) = digits.parse::<i64>() {
                    visitor.visit_i64(n)
                } else if let Ok(n) = digits.parse::<u64>() {
                    visitor.visit_u64(n)
                } else {
                    match digits.parse::<f64>() {
                        Ok(n) if n.is_finite() => visitor.visit_f64(n),
                        _ => Err(self.mismatch(&number(last.text), GoType::Plain("float64"))),
                    }
                }
            }
        }
    }

    fn deserialize_bool<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        let last = self.last_non_null(|c| c == b't' || c == b'f', GoType::Plain("bool"))?;
        visitor.visit_bool(last.is_some_and(|text| text.first() == Some(&b't')))
    }

    // Go's `int` is 64 bits: our fields for Go `int`s are `i64`.
    signed! {
        deserialize_i8: i8, "int8";
        deserialize_i16: i16, "int16";
        deserialize_i32: i32, "int32";
        deserialize_i64: i64, "int";
        deserialize_i128: i64, "int64";
    }

    unsigned! {
        deserialize_u8: u8, "uint8";
        deserialize_u16: u16, "uint16";
        deserialize_u32: u32, "uint32";
        deserialize_u64: u64, "uint64";
        deserialize_u128: u64, "uint64";
    }

    fn deserialize_f32<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_f64(self.float(true, "float32")?)
    }

    fn deserialize_f64<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_f64(self.float(false, "float64")?)
    }

    fn deserialize_str<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.last_non_null(|c| c == b'"', GoType::Plain("string"))? {
            Some(text) => visit_text(unquote(text), visitor),
            None => visitor.visit_borrowed_str(""),
        }
    }

    fn deserialize_string<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_char<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        // Go's pointer: `null` makes it nil, a value after that decodes into a new one.
        let rest = self.since_last_null();
        if rest.is_empty() {
            visitor.visit_none()
        } else {
            visitor.visit_some(Value {
                spans: rest,
                ctx: self.ctx,
                depth: self.depth,
            })
        }
    }

    fn deserialize_unit<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        self.nest()?;
        self.last_non_null(|c| c == b'[', GoType::Plain(slice_name::<V::Value>()))?;
        // Go's slice: each array replaces the last, `null` empties it.
        let last = self.spans.last().map_or(&b"null"[..], |entry| entry.text);
        visitor.visit_seq(Items {
            elements: Elements::new(last),
            ctx: self.ctx,
            depth: self.depth + 1,
        })
    }

    fn deserialize_tuple<V: Visitor<'a>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        self.nest()?;
        self.last_non_null(|c| c == b'{', GoType::Plain("map"))?;
        // Go's map: objects add to it, `null` empties it.
        let rest = self.since_last_null();
        visitor.visit_map(Pairs::new(rest, self))
    }

    fn deserialize_struct<V: Visitor<'a>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.nest()?;
        self.last_non_null(|c| c == b'{', GoType::Struct(name))?;
        // Every member for a field of ours, grouped by field in input order (the sort is
        // stable); a struct is never reset, so all its objects count.
        let mut entries = Vec::new();
        for object in self.non_null() {
            for (key, text) in Members::new(object) {
                if let Some(field) = field_index(fields, &unquote(key)) {
                    entries.push(Entry { field, text });
                }
            }
        }
        entries.sort_by_key(|entry| entry.field);
        visitor.visit_map(Fields {
            entries: &entries,
            next: 0,
            group: &[],
            name: "",
            fields,
            strukt: name,
            path: self.ctx.path,
            depth: self.depth + 1,
        })
    }

    fn deserialize_enum<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        // Go has no enums; a unit variant named by a string is the nearest thing.
        match self.last_non_null(|c| c == b'"', GoType::Plain("string"))? {
            Some(text) => visitor.visit_enum(unquote(text).into_deserializer()),
            None => Err(self.mismatch("null", GoType::Plain("string"))),
        }
    }

    fn deserialize_identifier<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        // The document is known to be well formed: nothing to look at.
        visitor.visit_unit()
    }
}

fn visit_text<'a, V: Visitor<'a>>(text: Cow<'a, str>, visitor: V) -> Result<V::Value, Error> {
    match text {
        Cow::Borrowed(text) => visitor.visit_borrowed_str(text),
        Cow::Owned(text) => visitor.visit_string(text),
    }
}

/// The elements of one array, each decoded on its own.
struct Items<'a, 's> {
    elements: Elements<'a>,
    ctx: Ctx<'s>,
    depth: usize,
}

impl<'a> SeqAccess<'a> for Items<'a, '_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'a>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        let Some(text) = self.elements.next() else {
            return Ok(None);
        };
        let one = [Entry::new(text)];
        seed.deserialize(Value {
            spans: &one,
            ctx: self.ctx,
            depth: self.depth,
        })
        .map(Some)
    }
}

/// The members of a map's objects, keys exact (Go folds case for struct fields only).
struct Pairs<'a, 's> {
    objects: std::slice::Iter<'s, Entry<'a>>,
    members: Option<Members<'a>>,
    value: &'a [u8],
    ctx: Ctx<'s>,
    depth: usize,
}

impl<'a, 's> Pairs<'a, 's> {
    fn new(objects: &'s [Entry<'a>], of: Value<'a, 's>) -> Self {
        Pairs {
            objects: objects.iter(),
            members: None,
            value: b"null",
            ctx: of.ctx,
            depth: of.depth + 1,
        }
    }
}

impl<'a> MapAccess<'a> for Pairs<'a, '_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        loop {
            if let Some((key, value)) = self.members.as_mut().and_then(Iterator::next) {
                self.value = value;
                return seed.deserialize(unquote(key).into_deserializer()).map(Some);
            }
            match self.objects.next() {
                Some(object) => self.members = Some(Members::new(object.text)),
                None => return Ok(None),
            }
        }
    }

    fn next_value_seed<T: DeserializeSeed<'a>>(&mut self, seed: T) -> Result<T::Value, Error> {
        let one = [Entry::new(self.value)];
        seed.deserialize(Value {
            spans: &one,
            ctx: self.ctx,
            depth: self.depth,
        })
    }
}

/// A struct's fields, each with all its occurrences.
struct Fields<'a, 's> {
    /// Members for our fields, grouped by field.
    entries: &'s [Entry<'a>],
    /// Where the next group starts.
    next: usize,
    /// The group of the field whose key was handed out last, and its name.
    group: &'s [Entry<'a>],
    name: &'static str,
    fields: &'static [&'static str],
    strukt: &'static str,
    path: Option<&'s Path<'s>>,
    depth: usize,
}

impl<'a> MapAccess<'a> for Fields<'a, '_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        while let Some(first) = self.entries.get(self.next) {
            let rest = self.entries.get(self.next..).unwrap_or_default();
            let len = rest
                .iter()
                .position(|entry| entry.field != first.field)
                .unwrap_or(rest.len());
            let group = rest.get(..len).unwrap_or_default();
            self.next += len;
            // Only `null`s: Go leaves the field as it was (and for an `Option` or a list it
            // was the default: empty).
            if group.iter().all(|entry| is_null(entry.text)) {
                continue;
            }
            self.group = group;
            self.name = self.fields.get(first.field).copied().unwrap_or_default();
            return seed
                .deserialize(BorrowedStrDeserializer::new(self.name))
                .map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<T: DeserializeSeed<'a>>(&mut self, seed: T) -> Result<T::Value, Error> {
        let path = Path {
            field: self.name,
            parent: self.path,
        };
        seed.deserialize(Value {
            spans: self.group,
            ctx: Ctx {
                strukt: self.strukt,
                path: Some(&path),
            },
            depth: self.depth,
        })
    }
}

/// Which of `fields` an object key names, as Go picks: the exact name, else the first that
/// matches case-insensitively.
fn field_index(fields: &[&str], key: &str) -> Option<usize> {
    fields
        .iter()
        .position(|name| *name == key)
        .or_else(|| fields.iter().position(|name| go_fold_eq(name, key)))
}

/// Go's `equalFoldRight` (`encoding/json/fold.go`), for ASCII field names: ASCII letters match
/// either case, `s` also matches `ſ` (U+017F) and `k` the Kelvin sign (U+212A), everything
/// else only itself.
fn go_fold_eq(name: &str, key: &str) -> bool {
    let mut key = key.chars();
    for n in name.bytes() {
        let Some(k) = key.next() else {
            return false;
        };
        let same = if k.is_ascii() {
            let k = k as u8;
            n == k || (n.is_ascii_alphabetic() && n.eq_ignore_ascii_case(&k))
        } else {
            matches!(
                (n.to_ascii_lowercase(), k),
                (b's', '\u{17f}') | (b'k', '\u{212a}')
            )
        };
        if !same {
            return false;
        }
    }
    key.next().is_none()
}

/// A string literal's text as Go's `unquote` decodes it: escapes resolved, each invalid UTF-8
/// byte and each unpaired surrogate escape replaced by U+FFFD. Borrowed when nothing needs
/// changing.
pub(super) fn unquote(quoted: &[u8]) -> Cow<'_, str> {
    let inner = quoted
        .get(1..quoted.len().saturating_sub(1))
        .unwrap_or_default();
    if memchr::memchr(b'\\', inner).is_none() {
        if let Ok(text) = std::str::from_utf8(inner) {
            return Cow::Borrowed(text);
        }
    }
    let mut out = String::with_capacity(inner.len() + 3);
    let mut at = 0;
    while at < inner.len() {
        let rest = inner.get(at..).unwrap_or_default();
        if rest.first() != Some(&b'\\') {
            let run = memchr::memchr(b'\\', rest).unwrap_or(rest.len());
            push_lossy(&mut out, rest.get(..run).unwrap_or_default());
            at += run;
            continue;
        }
        let (ch, used) = match rest.get(1) {
            Some(b'u') => unicode_escape(rest),
            Some(b'b') => ('\u{8}', 2),
            Some(b'f') => ('\u{c}', 2),
            Some(b'n') => ('\n', 2),
            Some(b'r') => ('\r', 2),
            Some(b't') => ('\t', 2),
            // `\"`, `\\` and `\/`: the scanner let nothing else through.
            Some(&c) => (char::from(c), 2),
            None => ('\u{fffd}', 1),
        };
        out.push(ch);
        at += used;
    }
    Cow::Owned(out)
}

/// Appends `bytes`, each byte that does not start valid UTF-8 replaced by U+FFFD (Go replaces
/// byte by byte, where `String::from_utf8_lossy` would replace a broken sequence once).
fn push_lossy(out: &mut String, mut bytes: &[u8]) {
    loop {
        match std::str::from_utf8(bytes) {
            Ok(text) => {
                out.push_str(text);
                return;
            }
            Err(err) => {
                let (valid, rest) = bytes.split_at(err.valid_up_to());
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                out.push('\u{fffd}');
                bytes = rest.get(1..).unwrap_or_default();
            }
        }
    }
}

/// The character of the `\uXXXX` escape `text` starts with, and how many bytes it used: 12
/// for a surrogate pair, 6 otherwise (an unpaired surrogate is U+FFFD, and a second escape
/// after it is decoded on its own).
fn unicode_escape(text: &[u8]) -> (char, usize) {
    let Some(first) = hex4(text) else {
        return ('\u{fffd}', 2);
    };
    if !(0xd800..0xe000).contains(&first) {
        return (char::from_u32(first).unwrap_or('\u{fffd}'), 6);
    }
    let second = text.get(6..).and_then(hex4);
    match second {
        Some(low) if (0xd800..0xdc00).contains(&first) && (0xdc00..0xe000).contains(&low) => {
            let code = 0x10000 + ((first - 0xd800) << 10) + (low - 0xdc00);
            (char::from_u32(code).unwrap_or('\u{fffd}'), 12)
        }
        _ => ('\u{fffd}', 6),
    }
}

/// The value of the `\uXXXX` escape `text` starts with (Go's `getu4`).
fn hex4(text: &[u8]) -> Option<u32> {
    if text.get(..2) != Some(b"\\u") {
        return None;
    }
    let digits = text.get(2..6)?;
    if !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
}

/// Go's name for the list type `T`, as far as serde lets us see it (our lists are all lists of
/// strings, and the name only shows in error texts).
fn slice_name<T>() -> &'static str {
    if std::any::type_name::<T>().ends_with("Vec<alloc::string::String>") {
        "[]string"
    } else {
        "slice"
    }
}

fn is_null(text: &[u8]) -> bool {
    text.first() == Some(&b'n')
}

fn is_number(text: &[u8]) -> bool {
    text.first()
        .is_some_and(|&c| c == b'-' || c.is_ascii_digit())
}

/// The JSON kind Go names in a type error.
fn kind(text: &[u8]) -> &'static str {
    match text.first() {
        Some(b'"') => "string",
        Some(b'{') => "object",
        Some(b'[') => "array",
        Some(b't' | b'f') => "bool",
        Some(b'n') => "null",
        _ => "number",
    }
}

/// `number 1e999`, as Go names a number that does not fit.
fn number(text: &[u8]) -> String {
    format!("number {}", String::from_utf8_lossy(text))
}
