//! The value tree produced by the parser: every value remembers the file and the 1-based
//! line/column where it starts, so later stages (typed options, validation) can report errors
//! the way nats-server does (`file:line:col: message`).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use super::error::{ConfigError, ErrorKind};

/// A 1-based line and column (columns count characters, not bytes) inside a config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    /// Line number, starting at 1.
    pub line: u32,
    /// Column number, starting at 1.
    pub col: u32,
}

impl Pos {
    /// Builds a position; both numbers are 1-based.
    pub fn new(line: u32, col: u32) -> Pos {
        Pos { line, col }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// A configuration value, mirroring the dynamic types the Go `conf` package produces.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `true`/`yes`/`on` or `false`/`no`/`off` (unquoted, any case).
    Bool(bool),
    /// An integer, with any size suffix (`1MB`, `2k`) already applied.
    Int(i64),
    /// A floating point number such as `1.5`.
    Float(f64),
    /// Any kind of string: quoted, unquoted, block, or IP-like tokens (`127.0.0.1:4222`).
    String(String),
    /// An ISO-8601 Zulu date-time (`2019-01-01T00:00:00Z`), kept as written.
    Date(String),
    /// An array, in source order.
    Array(Vec<Spanned>),
    /// A map (a `{ ... }` block or the top level).
    Map(Map),
}

impl Value {
    /// A short human name for the value's type, used in error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Bool(_) => "bool",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::String(_) => "string",
            Value::Date(_) => "date",
            Value::Array(_) => "array",
            Value::Map(_) => "map",
        }
    }
}

/// A value plus where it starts; `file` matters because included files keep their own name.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned {
    /// The value itself.
    pub value: Value,
    /// Where the value starts (for a variable reference: where the `$NAME` was written).
    pub pos: Pos,
    /// The file the value was read from.
    pub file: Arc<PathBuf>,
}

impl Spanned {
    /// Wraps a value with its position and file.
    pub fn new(value: Value, pos: Pos, file: Arc<PathBuf>) -> Spanned {
        Spanned { value, pos, file }
    }

    /// The string if this is a string value, so callers need not match on [`Value`].
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The integer if this is an integer value.
    pub fn as_int(&self) -> Option<i64> {
        match self.value {
            Value::Int(i) => Some(i),
            _ => None,
        }
    }

    /// The number as a float if this is an integer or float value.
    pub fn as_float(&self) -> Option<f64> {
        match self.value {
            Value::Int(i) => Some(i as f64),
            Value::Float(f) => Some(f),
            _ => None,
        }
    }

    /// The boolean if this is a boolean value.
    pub fn as_bool(&self) -> Option<bool> {
        match self.value {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The map if this is a map value.
    pub fn as_map(&self) -> Option<&Map> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The elements if this is an array value.
    pub fn as_array(&self) -> Option<&[Spanned]> {
        match &self.value {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// An error located at this value, for semantic checks done after parsing.
    pub fn error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::new(
            self.file.as_ref().clone(),
            self.pos.line,
            self.pos.col,
            message,
            ErrorKind::Value,
        )
    }
}

/// One `key: value` pair of a [`Map`].
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key as written (original case; quotes removed).
    pub key: String,
    /// Where the key starts.
    pub key_pos: Pos,
    /// The file the key was written in (differs from the map's file for included keys).
    pub key_file: Arc<PathBuf>,
    /// The value.
    pub value: Spanned,
    /// True if the entry was used through a `$NAME` reference. nats-server silently ignores
    /// such keys where an option is not known, and reports unreferenced unknown keys.
    pub referenced: bool,
}

impl Entry {
    /// An error located at this entry's key, e.g. nats-server's `unknown field "x"`.
    pub fn key_error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::new(
            self.key_file.as_ref().clone(),
            self.key_pos.line,
            self.key_pos.col,
            message,
            ErrorKind::Value,
        )
    }
}

/// An ordered map: entries keep source order; a repeated key replaces the earlier value in
/// place (last one wins, as in nats-server). Keys compare case-sensitively, like the Go parser.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Map {
    entries: Vec<Entry>,
}

impl Map {
    /// An empty map.
    pub fn new() -> Map {
        Map::default()
    }

    /// Inserts an entry; if the exact key already exists its entry is replaced in place.
    pub fn insert(&mut self, entry: Entry) {
        match self.entries.iter_mut().find(|e| e.key == entry.key) {
            Some(existing) => *existing = entry,
            None => self.entries.push(entry),
        }
    }

    /// The value for the exact key.
    pub fn get(&self, key: &str) -> Option<&Spanned> {
        self.entry(key).map(|e| &e.value)
    }

    /// The entry for the exact key.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }

    /// The value for a key compared ASCII-case-insensitively (the last match wins), the way
    /// nats-server matches option names.
    pub fn get_ignore_case(&self, key: &str) -> Option<&Spanned> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.key.eq_ignore_ascii_case(key))
            .map(|e| &e.value)
    }

    /// Mutable access to the entry for the exact key (used to mark variable references).
    pub(crate) fn entry_mut(&mut self, key: &str) -> Option<&mut Entry> {
        self.entries.iter_mut().find(|e| e.key == key)
    }

    /// Removes and returns the entry for the exact key.
    pub fn remove(&mut self, key: &str) -> Option<Entry> {
        let idx = self.entries.iter().position(|e| e.key == key)?;
        Some(self.entries.remove(idx))
    }

    /// Iterates over the entries in source order.
    pub fn iter(&self) -> std::slice::Iter<'_, Entry> {
        self.entries.iter()
    }

    /// The entries in source order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if the map has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Consumes the map, returning its entries in source order.
    pub fn into_entries(self) -> Vec<Entry> {
        self.entries
    }
}

impl<'a> IntoIterator for &'a Map {
    type Item = &'a Entry;
    type IntoIter = std::slice::Iter<'a, Entry>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

/// A parsed configuration file: the implicit top-level map.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The top-level map (always a [`Value::Map`]) positioned at 1:1 of the main file.
    pub root: Spanned,
}

impl Document {
    /// The top-level map.
    pub fn map(&self) -> &Map {
        match &self.root.value {
            Value::Map(m) => m,
            // The parser only ever builds a map root; an empty map is the harmless fallback
            // if someone constructed a Document by hand with something else.
            _ => empty_map(),
        }
    }

    /// The top-level value for the exact key.
    pub fn get(&self, key: &str) -> Option<&Spanned> {
        self.map().get(key)
    }

    /// The file the document was read from.
    pub fn file(&self) -> &std::path::Path {
        self.root.file.as_path()
    }
}

fn empty_map() -> &'static Map {
    static EMPTY: Map = Map {
        entries: Vec::new(),
    };
    &EMPTY
}
