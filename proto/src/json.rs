//! JSON the way nats-server's Go `encoding/json` writes and reads it.
//!
//! Writing: Go escapes `<`, `>`, `&`, U+2028 and U+2029 as `\uXXXX`, and control bytes other
//! than `\n`, `\r`, `\t` as `\u00XX`; serde_json does neither, so [`GoFormatter`] adds it.
//! Reading: Go matches object keys to struct fields case-insensitively (`{"VERBOSE":false}`
//! works) and treats `null` as "leave the default"; [`from_go_object`] gives serde the same.

use std::io;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::ser::{CharEscape, CompactFormatter, Formatter};

/// A serde_json formatter that escapes strings as Go's `encoding/json` does.
pub(crate) struct GoFormatter<F = CompactFormatter>(pub F);

impl<F: Formatter> Formatter for GoFormatter<F> {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut rest = fragment;
        while let Some(at) = rest.find(['<', '>', '&', '\u{2028}', '\u{2029}']) {
            writer.write_all(&rest.as_bytes()[..at])?;
            let ch = rest[at..].chars().next().unwrap_or('<');
            write!(writer, "\\u{:04x}", ch as u32)?;
            rest = &rest[at + ch.len_utf8()..];
        }
        writer.write_all(rest.as_bytes())
    }

    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        escape: CharEscape,
    ) -> io::Result<()> {
        let text: &[u8] = match escape {
            CharEscape::Quote => b"\\\"",
            CharEscape::ReverseSolidus => b"\\\\",
            CharEscape::LineFeed => b"\\n",
            CharEscape::CarriageReturn => b"\\r",
            CharEscape::Tab => b"\\t",
            CharEscape::Backspace => b"\\u0008",
            CharEscape::FormFeed => b"\\u000c",
            CharEscape::AsciiControl(byte) => return write!(writer, "\\u{:04x}", byte),
            // Solidus is never escaped by serde_json's writer, nor by Go.
            _ => b"/",
        };
        writer.write_all(text)
    }

    // Delegate the structural pieces so a pretty formatter can be wrapped too.
    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn end_object_key<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_key(w)
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

/// Serialises `value` as compact JSON with Go's escaping.
pub(crate) fn to_go_json<T: Serialize>(value: &T, out: &mut Vec<u8>) {
    let mut ser = serde_json::Serializer::with_formatter(out, GoFormatter(CompactFormatter));
    // Our info types hold only strings, numbers, bools and lists: serialising cannot fail.
    if let Err(err) = value.serialize(&mut ser) {
        debug_assert!(false, "serialising protocol JSON failed: {err}");
    }
}

/// Decodes a JSON object into `T` as Go does: keys matched case-insensitively (all our field
/// names are lower case), `null` members ignored, unknown members ignored, trailing garbage and
/// type mismatches rejected.
pub(crate) fn from_go_object<T: DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    match value {
        serde_json::Value::Null => Ok(T::default()),
        serde_json::Value::Object(map) => {
            let folded: serde_json::Map<String, serde_json::Value> = map
                .into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect();
            serde_json::from_value(serde_json::Value::Object(folded)).map_err(|e| e.to_string())
        }
        other => Err(format!(
            "json: cannot unmarshal {} into Go value",
            kind(&other)
        )),
    }
}

/// Decodes a JSON object over `earlier`, as Go's decoder fills a struct that already holds
/// values: members present replace, members absent keep their earlier value.
pub(crate) fn merge_go_object<T: Serialize + DeserializeOwned + Default>(
    earlier: &T,
    bytes: &[u8],
) -> Result<T, String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let update = match value {
        serde_json::Value::Null => serde_json::Map::new(),
        serde_json::Value::Object(map) => map,
        other => {
            return Err(format!(
                "json: cannot unmarshal {} into Go value",
                kind(&other)
            ))
        }
    };
    let mut merged = match serde_json::to_value(earlier).map_err(|e| e.to_string())? {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    for (k, v) in update {
        if !v.is_null() {
            merged.insert(k.to_ascii_lowercase(), v);
        }
    }
    serde_json::from_value(serde_json::Value::Object(merged)).map_err(|e| e.to_string())
}

fn kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Array(_) => "array",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::Bool(_) => "bool",
        _ => "value",
    }
}
