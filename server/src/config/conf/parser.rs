//! A single-pass lexer/parser for the NATS configuration language, following the behaviour of
//! nats-server 2.9's `conf` package (a state-machine lexer feeding a parser). Here the two
//! are fused into a recursive-descent parser over characters, which keeps exact positions
//! cheaply. Where the Go lexer errors on an odd digit-led token (`1.5s`, `2019-01-01`), this
//! parser falls back to a plain string instead, as newer nats-server releases do; anything
//! nats-server 2.9 accepts is read the same way.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::{ConfigError, ErrorKind};
use super::value::{Document, Entry, Map, Pos, Spanned, Value};

/// Deepest allowed nesting of maps and arrays; recursion is bounded so hostile input cannot
/// overflow the stack.
const MAX_NESTING: usize = 100;

/// Deepest allowed chain of includes and environment-variable expansions; this also stops
/// include cycles and self-referencing environment variables.
const MAX_INCLUDE_DEPTH: usize = 16;

/// How environment variables are looked up (injectable so tests need not touch the process
/// environment).
pub(crate) type EnvLookup<'e> = &'e dyn Fn(&str) -> Option<String>;

/// The process environment, the lookup nats-server uses.
pub(crate) fn process_env(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

/// Reads and parses a file.
pub(crate) fn parse_path(path: &Path, env: EnvLookup<'_>) -> Result<Document, ConfigError> {
    let bytes = std::fs::read(path).map_err(|e| {
        ConfigError::new(
            path,
            0,
            0,
            format!("open {}: {}", path.display(), io_reason(&e)),
            ErrorKind::Io,
        )
    })?;
    parse_text(&String::from_utf8_lossy(&bytes), path, env)
}

/// Parses text that is said to come from `file` (for messages and include resolution).
pub(crate) fn parse_text(
    text: &str,
    file: &Path,
    env: EnvLookup<'_>,
) -> Result<Document, ConfigError> {
    let file = Arc::new(file.to_path_buf());
    let map = Parser::new(text, file.clone(), 0, 0, env).parse_document()?;
    Ok(Document {
        root: Spanned::new(Value::Map(map), Pos::new(1, 1), file),
    })
}

/// Go-like wording for I/O errors (`no such file or directory`), since nats-server prints the
/// OS error text and scripts may match on it.
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => {
            let text = e.to_string();
            let text = match text.find(" (os error") {
                Some(idx) => text[..idx].to_string(),
                None => text,
            };
            let mut chars = text.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => text,
            }
        }
    }
}

/// Whether a key/value pair sits at the top level or inside a `{ }` block; a few rules
/// (new lines after `:`, EOF handling, error wording) differ between the two.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Top,
    Block,
}

/// Characters that end an unquoted value (and a number).
fn ends_value(c: Option<char>) -> bool {
    matches!(
        c,
        None | Some('\n' | '\r' | ';' | ',' | ']' | '}' | ' ' | '\t')
    )
}

/// The unquoted words that are booleans.
fn bool_word(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" => Some(true),
        "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// The multiplier for an integer size suffix (already known to start with k/m/g/t/p/e).
fn suffix_multiplier(suffix: &str) -> Option<i64> {
    let lower = suffix.to_ascii_lowercase();
    let (unit, rest) = lower.split_at(1);
    let power: u32 = match unit {
        "k" => 1,
        "m" => 2,
        "g" => 3,
        "t" => 4,
        "p" => 5,
        "e" => 6,
        _ => return None,
    };
    let base: i64 = match rest {
        "" => 1000,
        "b" | "i" | "ib" => 1024,
        _ => return None,
    };
    base.checked_pow(power)
}

/// Go's `%v` of a rune in error messages, which spells a new line as `\n`.
fn show(c: Option<char>) -> String {
    match c {
        Some('\n') => "\\n".to_string(),
        Some(c) => c.to_string(),
        None => String::new(),
    }
}

fn push_char(buf: &mut Vec<u8>, c: char) {
    let mut tmp = [0u8; 4];
    buf.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
}

/// `\xHH` escapes can produce arbitrary bytes; invalid UTF-8 is replaced rather than refused.
fn bytes_to_string(buf: Vec<u8>) -> String {
    match String::from_utf8(buf) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// Moves every position inside `v` to `pos` in `file`; used for values parsed out of an
/// environment variable, whose own positions refer to text that exists nowhere.
fn restamp(v: &mut Spanned, pos: Pos, file: &Arc<PathBuf>) {
    v.pos = pos;
    v.file = file.clone();
    match &mut v.value {
        Value::Array(items) => {
            for item in items {
                restamp(item, pos, file);
            }
        }
        Value::Map(map) => {
            let entries = std::mem::take(map).into_entries();
            for mut e in entries {
                e.key_pos = pos;
                e.key_file = file.clone();
                restamp(&mut e.value, pos, file);
                map.insert(e);
            }
        }
        _ => {}
    }
}

struct Parser<'e> {
    chars: Vec<char>,
    i: usize,
    line: u32,
    col: u32,
    file: Arc<PathBuf>,
    /// Directory includes are resolved against.
    dir: PathBuf,
    /// The maps being built, innermost last: variable lookup walks them outward.
    scopes: Vec<Map>,
    /// Current map/array nesting, carried into includes so the limit is global.
    nesting: usize,
    include_depth: usize,
    env: EnvLookup<'e>,
}

impl<'e> Parser<'e> {
    fn new(
        text: &str,
        file: Arc<PathBuf>,
        include_depth: usize,
        nesting: usize,
        env: EnvLookup<'e>,
    ) -> Parser<'e> {
        // A UTF-8 byte order mark is not part of the configuration.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let dir = match file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Parser {
            chars: text.chars().collect(),
            i: 0,
            line: 1,
            col: 1,
            file,
            dir,
            scopes: Vec::new(),
            nesting,
            include_depth,
            env,
        }
    }

    // ----- cursor -----

    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.i + n).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i += 1;
        if c == '\n' {
            self.line = self.line.saturating_add(1);
            self.col = 1;
        } else {
            self.col = self.col.saturating_add(1);
        }
        Some(c)
    }

    fn pos(&self) -> Pos {
        Pos::new(self.line, self.col)
    }

    fn at_comment(&self) -> bool {
        match self.peek() {
            Some('#') => true,
            Some('/') => self.peek_at(1) == Some('/'),
            _ => false,
        }
    }

    /// Skips a comment up to (not including) the end of the line.
    fn skip_comment(&mut self) {
        while !matches!(self.peek(), None | Some('\n' | '\r')) {
            self.bump();
        }
    }

    /// Skips spaces and tabs only: a value may not start on the next line at the top level.
    fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.bump();
        }
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    /// Skips whitespace (new lines included) and comments.
    fn skip_filler(&mut self) {
        loop {
            if self.peek().is_some_and(char::is_whitespace) {
                self.bump();
            } else if self.at_comment() {
                self.skip_comment();
            } else {
                return;
            }
        }
    }

    // ----- errors -----

    fn err(&self, pos: Pos, kind: ErrorKind, message: impl Into<String>) -> ConfigError {
        ConfigError::new(self.file.as_ref().clone(), pos.line, pos.col, message, kind)
    }

    fn syntax(&self, pos: Pos, message: impl Into<String>) -> ConfigError {
        self.err(pos, ErrorKind::Syntax, message)
    }

    fn enter(&mut self, pos: Pos) -> Result<(), ConfigError> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(self.syntax(
                pos,
                format!("Maps and arrays are nested too deeply (the limit is {MAX_NESTING})."),
            ));
        }
        Ok(())
    }

    // ----- structure -----

    /// Parses the whole input as the implicit top-level map.
    fn parse_document(mut self) -> Result<Map, ConfigError> {
        self.scopes.push(Map::new());
        loop {
            // Where a key may start. nats-server 2.9 simply skips `{` here and accepts `}`,
            // which is how an optional outer `{ ... }` around the whole file works.
            loop {
                self.skip_filler();
                if matches!(self.peek(), Some('{' | '}')) {
                    self.bump();
                } else {
                    break;
                }
            }
            if self.peek().is_none() {
                break;
            }
            self.parse_pair(Level::Top)?;
            self.top_value_end()?;
        }
        Ok(self.scopes.pop().unwrap_or_default())
    }

    /// After a top-level value only blanks, a comment, or a terminator may follow.
    fn top_value_end(&mut self) -> Result<(), ConfigError> {
        loop {
            match self.peek() {
                Some(' ' | '\t') => {
                    self.bump();
                }
                None => return Ok(()),
                Some('\n' | '\r' | ';' | ',' | '}') => {
                    self.bump();
                    return Ok(());
                }
                _ if self.at_comment() => {
                    self.skip_comment();
                    return Ok(());
                }
                c => {
                    return Err(self.syntax(
                        self.pos(),
                        format!(
                            "Expected a top-level value to end with a new line, comment or EOF, \
                             but got '{}' instead.",
                            show(c)
                        ),
                    ))
                }
            }
        }
    }

    /// The body of a `{ ... }` block; the opening brace is already consumed.
    fn parse_block(&mut self) -> Result<(), ConfigError> {
        loop {
            self.skip_filler();
            match self.peek() {
                None => return Err(self.syntax(self.pos(), "Unexpected EOF processing map.")),
                Some('}') => {
                    self.bump();
                    return Ok(());
                }
                Some(']') => {
                    return Err(self.syntax(self.pos(), "Unexpected array end ']' processing map."))
                }
                _ => {}
            }
            self.parse_pair(Level::Block)?;
            loop {
                match self.peek() {
                    Some(' ' | '\t') => {
                        self.bump();
                    }
                    Some(';' | ',' | '\n' | '\r') => {
                        self.bump();
                        break;
                    }
                    Some('}') => {
                        self.bump();
                        return Ok(());
                    }
                    None => return Err(self.syntax(self.pos(), "Unexpected EOF processing map.")),
                    _ if self.at_comment() => self.skip_comment(),
                    c => {
                        return Err(self.syntax(
                            self.pos(),
                            format!(
                                "Expected a map value terminator ',' or a map terminator '}}', \
                                 but got '{}' instead.",
                                show(c)
                            ),
                        ))
                    }
                }
            }
        }
    }

    /// The elements of a `[ ... ]` array; the opening bracket is already consumed.
    fn parse_array(&mut self) -> Result<Vec<Spanned>, ConfigError> {
        let mut items = Vec::new();
        loop {
            self.skip_filler();
            match self.peek() {
                None => return Err(self.syntax(self.pos(), "Unexpected EOF processing array.")),
                Some(',') => {
                    return Err(self.syntax(self.pos(), "Unexpected array value terminator ','."))
                }
                Some(']') => {
                    self.bump();
                    return Ok(items);
                }
                _ => {}
            }
            items.push(self.parse_value()?);
            loop {
                match self.peek() {
                    Some(' ' | '\t') => {
                        self.bump();
                    }
                    Some(',' | '\n' | '\r') => {
                        self.bump();
                        break;
                    }
                    Some(']') => {
                        self.bump();
                        return Ok(items);
                    }
                    None => return Err(self.syntax(self.pos(), "Unexpected EOF processing array.")),
                    _ if self.at_comment() => self.skip_comment(),
                    c => {
                        return Err(self.syntax(
                            self.pos(),
                            format!(
                                "Expected an array value terminator ',' or an array terminator \
                                 ']', but got '{}' instead.",
                                show(c)
                            ),
                        ))
                    }
                }
            }
        }
    }

    /// One `key [sep] value` pair (or an `include`), stored into the innermost map.
    fn parse_pair(&mut self, level: Level) -> Result<(), ConfigError> {
        let key_pos = self.pos();
        let (key, quoted) = self.parse_key(level)?;
        if !quoted
            && key.eq_ignore_ascii_case("include")
            && self.peek().is_some_and(char::is_whitespace)
        {
            return self.parse_include(key_pos);
        }
        // Between a key and its separator or value any whitespace may appear, new lines too.
        self.skip_whitespace();
        let has_sep = matches!(self.peek(), Some(':' | '='));
        if has_sep {
            self.bump();
        }
        match level {
            Level::Top => {
                if !has_sep && self.peek().is_none() {
                    // A lone key at the very end of the file has no value; nats-server
                    // ignores it, and so do we.
                    return Ok(());
                }
                self.skip_blanks();
                if matches!(self.peek(), Some('\n' | '\r')) {
                    return Err(self.syntax(self.pos(), "Expected value but found new line"));
                }
            }
            Level::Block => {
                self.skip_whitespace();
                match self.peek() {
                    Some(',') => {
                        return Err(self.syntax(self.pos(), "Unexpected map value terminator ','."))
                    }
                    Some('}') => {
                        return Err(self.syntax(
                            self.pos(),
                            format!("Expected a value for key '{key}', but got '}}' instead."),
                        ))
                    }
                    None => return Err(self.syntax(self.pos(), "Unexpected EOF processing map.")),
                    _ => {}
                }
            }
        }
        let value = self.parse_value()?;
        let entry = Entry {
            key,
            key_pos,
            key_file: self.file.clone(),
            value,
            referenced: false,
        };
        if let Some(scope) = self.scopes.last_mut() {
            scope.insert(entry);
        }
        Ok(())
    }

    /// A key: quoted with `"` or `'` (raw, no escapes) or a run of characters up to
    /// whitespace, `:`, `=` or `{`. Returns the key and whether it was quoted.
    fn parse_key(&mut self, level: Level) -> Result<(String, bool), ConfigError> {
        match self.peek() {
            Some(c @ (':' | '=')) => {
                let dot = if level == Level::Block { "." } else { "" };
                Err(self.syntax(self.pos(), format!("Unexpected key separator '{c}'{dot}")))
            }
            Some(q @ ('"' | '\'')) => {
                self.bump();
                let mut key = String::new();
                loop {
                    match self.bump() {
                        Some(c) if c == q => return Ok((key, true)),
                        Some(c) => key.push(c),
                        None => {
                            let msg = match (level, q) {
                                (Level::Top, _) => "Unexpected EOF.",
                                (Level::Block, '"') => {
                                    "Unexpected EOF processing double quoted map key."
                                }
                                (Level::Block, _) => "Unexpected EOF processing quoted map key.",
                            };
                            return Err(self.syntax(self.pos(), msg));
                        }
                    }
                }
            }
            _ => {
                let mut key = String::new();
                // The first character belongs to the key whatever it is (nats-server does the
                // same), so a key can never be empty.
                if let Some(c) = self.bump() {
                    key.push(c);
                }
                loop {
                    match self.peek() {
                        None if level == Level::Block => {
                            return Err(
                                self.syntax(self.pos(), "Unexpected EOF processing map key.")
                            )
                        }
                        None => break,
                        Some(c) if c.is_whitespace() || matches!(c, ':' | '=' | '{') => break,
                        Some(c) => {
                            key.push(c);
                            self.bump();
                        }
                    }
                }
                Ok((key, false))
            }
        }
    }

    /// `include <path>`: parses the named file on its own and merges its keys into the
    /// innermost map. The keyword is already consumed.
    fn parse_include(&mut self, key_pos: Pos) -> Result<(), ConfigError> {
        self.skip_blanks();
        let here = self.pos();
        let found = |what: &str| format!("Expected include value but found {what}");
        let path = match self.peek() {
            Some(q @ ('"' | '\'')) => {
                self.bump();
                let mut path = String::new();
                loop {
                    match self.bump() {
                        Some(c) if c == q => break,
                        Some(c) => path.push(c),
                        None => {
                            return Err(self.syntax(self.pos(), "Unexpected EOF in quoted include"))
                        }
                    }
                }
                path
            }
            Some('[') => return Err(self.syntax(here, found("start of an array"))),
            Some('{') => return Err(self.syntax(here, found("start of a map"))),
            Some('(') => return Err(self.syntax(here, found("start of a block"))),
            Some(c) if c.is_ascii_digit() || c == '-' => {
                return Err(self.syntax(here, found("start of a number")))
            }
            Some('\\') => return Err(self.syntax(here, found("escape sequence"))),
            Some('\n' | '\r') => return Err(self.syntax(here, found("new line"))),
            None => return Err(self.syntax(here, found("EOF"))),
            Some(_) => {
                let mut path = String::new();
                loop {
                    match self.peek() {
                        None | Some('\n' | '\r' | ';' | '}' | ' ' | '\t') => break,
                        Some('\'') => {
                            // nats-server ends an unquoted path at a single quote and drops it.
                            self.bump();
                            break;
                        }
                        Some(c) => {
                            path.push(c);
                            self.bump();
                        }
                    }
                }
                path
            }
        };
        self.include_file(&path, key_pos)
    }

    fn include_file(&mut self, path: &str, pos: Pos) -> Result<(), ConfigError> {
        let fail = |reason: String| format!("error parsing include file '{path}', {reason}");
        if self.include_depth >= MAX_INCLUDE_DEPTH {
            return Err(self.err(
                pos,
                ErrorKind::Parse,
                fail(format!(
                    "includes are nested more than {MAX_INCLUDE_DEPTH} deep (include cycle?)"
                )),
            ));
        }
        // Relative to the directory of the including file. (nats-server also prefixes
        // absolute paths with that directory; we honour an absolute path as written.)
        let full = self.dir.join(path);
        let bytes = match std::fs::read(&full) {
            Ok(bytes) => bytes,
            Err(e) => {
                let reason = format!("open {}: {}", full.display(), io_reason(&e));
                return Err(self.err(pos, ErrorKind::Parse, fail(reason)));
            }
        };
        let text = String::from_utf8_lossy(&bytes);
        // The included file starts with fresh scopes: it sees only the environment, not the
        // variables of the file including it.
        let sub = Parser::new(
            &text,
            Arc::new(full),
            self.include_depth + 1,
            self.nesting,
            self.env,
        );
        let map = sub
            .parse_document()
            .map_err(|e| self.err(pos, ErrorKind::Parse, fail(e.nats_text())))?;
        if let Some(scope) = self.scopes.last_mut() {
            for entry in map.into_entries() {
                scope.insert(entry);
            }
        }
        Ok(())
    }

    // ----- values -----

    /// Any value, starting after optional blanks.
    fn parse_value(&mut self) -> Result<Spanned, ConfigError> {
        self.skip_blanks();
        let pos = self.pos();
        let value = match self.peek() {
            Some('[') => {
                self.bump();
                self.enter(pos)?;
                let items = self.parse_array()?;
                self.nesting -= 1;
                Value::Array(items)
            }
            Some('{') => {
                self.bump();
                self.enter(pos)?;
                self.scopes.push(Map::new());
                let result = self.parse_block();
                let map = self.scopes.pop().unwrap_or_default();
                result?;
                self.nesting -= 1;
                Value::Map(map)
            }
            Some('"') => self.parse_double_quoted()?,
            Some('\'') => self.parse_single_quoted()?,
            Some('(') => self.parse_block_string()?,
            Some(c) if c.is_ascii_digit() || c == '-' => return self.parse_number(pos),
            Some('.') => return Err(self.syntax(pos, "Floats must start with a digit")),
            Some('\n' | '\r') => return Err(self.syntax(pos, "Expected value but found new line")),
            _ => return self.parse_unquoted(pos, Vec::new()),
        };
        Ok(Spanned::new(value, pos, self.file.clone()))
    }

    fn parse_double_quoted(&mut self) -> Result<Value, ConfigError> {
        self.bump();
        let mut buf = Vec::new();
        loop {
            match self.bump() {
                None => return Err(self.syntax(self.pos(), "Unexpected EOF.")),
                Some('"') => return Ok(Value::String(bytes_to_string(buf))),
                Some('\\') => self.parse_escape(&mut buf)?,
                Some(c) => push_char(&mut buf, c),
            }
        }
    }

    fn parse_single_quoted(&mut self) -> Result<Value, ConfigError> {
        self.bump();
        let mut s = String::new();
        loop {
            match self.bump() {
                None => return Err(self.syntax(self.pos(), "Unexpected EOF.")),
                Some('\'') => return Ok(Value::String(s)),
                Some(c) => s.push(c),
            }
        }
    }

    /// `( ... )`: everything after `(` up to a `)` that stands alone at the start of a line;
    /// the new line before that `)` is part of the string (as in nats-server).
    fn parse_block_string(&mut self) -> Result<Value, ConfigError> {
        self.bump();
        let start = self.i;
        loop {
            match self.peek() {
                None => return Err(self.syntax(self.pos(), "Unexpected EOF processing block.")),
                Some(')')
                    if self.i > start
                        && self.chars.get(self.i - 1) == Some(&'\n')
                        && matches!(self.peek_at(1), None | Some('\n' | '\r')) =>
                {
                    let s: String = self.chars[start..self.i].iter().collect();
                    self.bump();
                    return Ok(Value::String(s));
                }
                Some(_) => {
                    self.bump();
                }
            }
        }
    }

    /// One escape sequence after a consumed backslash (double-quoted and unquoted strings).
    fn parse_escape(&mut self, buf: &mut Vec<u8>) -> Result<(), ConfigError> {
        let pos = self.pos();
        match self.bump() {
            Some('t') => buf.push(b'\t'),
            Some('n') => buf.push(b'\n'),
            Some('r') => buf.push(b'\r'),
            Some('"') => buf.push(b'"'),
            Some('\\') => buf.push(b'\\'),
            Some('x') => {
                let hex_pos = self.pos();
                let hi = self.bump();
                let lo = self.bump();
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(self.syntax(
                        hex_pos,
                        "Expected two hexadecimal digits after '\\x', but hit end of line",
                    ));
                };
                if matches!(hi, '\n' | '\r') || matches!(lo, '\n' | '\r') {
                    return Err(self.syntax(
                        hex_pos,
                        "Expected two hexadecimal digits after '\\x', but hit end of line",
                    ));
                }
                match (hi.to_digit(16), lo.to_digit(16)) {
                    // Two hex digits are at most 0xff, so the narrowing cannot lose bits.
                    (Some(h), Some(l)) => buf.push((h * 16 + l) as u8),
                    _ => {
                        return Err(self.syntax(
                            hex_pos,
                            format!(
                                "Expected two hexadecimal digits after '\\x', but got '{hi}{lo}'"
                            ),
                        ))
                    }
                }
            }
            None => return Err(self.syntax(pos, "Unexpected EOF.")),
            Some(c) => {
                return Err(self.syntax(
                    pos,
                    format!(
                        "Invalid escape character '{}'. Only the following escape characters \
                         are allowed: \\xXX, \\t, \\n, \\r, \\\", \\\\.",
                        show(Some(c))
                    ),
                ))
            }
        }
        Ok(())
    }

    /// An unquoted value: runs to whitespace, new line, `;`, `,`, `]` or `}`. `prefix` holds
    /// characters already consumed (a digit-led token that turned out not to be a number).
    /// Unquoted words may be booleans or `$variable` references.
    fn parse_unquoted(&mut self, pos: Pos, prefix: Vec<u8>) -> Result<Spanned, ConfigError> {
        let mut buf = prefix;
        let mut escaped = false;
        loop {
            match self.peek() {
                None => break,
                c if ends_value(c) => break,
                Some('\'') => {
                    // nats-server ends an unquoted string at a single quote and drops it.
                    self.bump();
                    break;
                }
                Some('\\') => {
                    self.bump();
                    escaped = true;
                    self.parse_escape(&mut buf)?;
                }
                Some(c) => {
                    push_char(&mut buf, c);
                    self.bump();
                }
            }
        }
        let s = bytes_to_string(buf);
        if !escaped {
            if let Some(b) = bool_word(&s) {
                return Ok(Spanned::new(Value::Bool(b), pos, self.file.clone()));
            }
            if let Some(name) = s.strip_prefix('$') {
                return self.resolve_variable(name, pos);
            }
        }
        Ok(Spanned::new(Value::String(s), pos, self.file.clone()))
    }

    /// True if the value may end here: a terminator or a comment start.
    fn at_value_end(&self) -> bool {
        ends_value(self.peek()) || self.at_comment()
    }

    fn eat_digits(&mut self) -> usize {
        let mut n = 0;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
            n += 1;
        }
        n
    }

    fn token_from(&self, start: usize) -> String {
        self.chars[start..self.i].iter().collect()
    }

    /// A value starting with a digit or `-`: integer (with optional size suffix), float,
    /// date-time, IP-like string (`127.0.0.1:4222`), or a string (`10s`).
    fn parse_number(&mut self, pos: Pos) -> Result<Spanned, ConfigError> {
        let start = self.i;
        let negative = self.peek() == Some('-');
        if negative {
            self.bump();
            match self.peek() {
                Some(c) if c.is_ascii_digit() => {}
                Some('.') => {
                    return Err(self.syntax(self.pos(), "Floats must start with a digit, not '.'."))
                }
                c => {
                    return Err(self.syntax(
                        self.pos(),
                        format!("Expected a digit but got '{}'.", show(c)),
                    ))
                }
            }
        }
        let digits = self.eat_digits();
        let value = match self.peek() {
            c if ends_value(c) => Some(self.integer(start, pos, 1)?),
            Some('-') if !negative && digits == 4 => self.date_after_year(start),
            Some('.') if self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) => {
                self.bump();
                self.eat_digits();
                if self.peek() == Some('.') {
                    // A second dot: an address such as 10.0.0.1 or 127.0.0.1:4222.
                    while self
                        .peek()
                        .is_some_and(|c| c.is_ascii_digit() || matches!(c, '.' | ':' | '-'))
                    {
                        self.bump();
                    }
                    self.at_value_end()
                        .then(|| Value::String(self.token_from(start)))
                } else if self.at_value_end() {
                    let text = self.token_from(start);
                    match text.parse::<f64>() {
                        Ok(f) if f.is_finite() => Some(Value::Float(f)),
                        _ => {
                            return Err(self.err(
                                pos,
                                ErrorKind::Parse,
                                format!("float '{text}' is out of the range"),
                            ))
                        }
                    }
                } else {
                    None
                }
            }
            Some('k' | 'K' | 'm' | 'M' | 'g' | 'G' | 't' | 'T' | 'p' | 'P' | 'e' | 'E') => {
                let digits_end = self.i;
                self.bump();
                while matches!(self.peek(), Some('b' | 'B' | 'i' | 'I')) {
                    self.bump();
                }
                if self.at_value_end() {
                    let suffix: String = self.chars[digits_end..self.i].iter().collect();
                    match suffix_multiplier(&suffix) {
                        Some(mult) => Some(self.integer_with(start, digits_end, pos, mult)?),
                        None => None,
                    }
                } else {
                    None
                }
            }
            _ => None,
        };
        match value {
            Some(v) => Ok(Spanned::new(v, pos, self.file.clone())),
            None => {
                // Not a number after all (`10s`, `1.5x`, `2019-01-01`): the whole token is an
                // unquoted string.
                let mut prefix = Vec::new();
                for &c in &self.chars[start..self.i] {
                    push_char(&mut prefix, c);
                }
                self.parse_unquoted(pos, prefix)
            }
        }
    }

    fn integer(&self, start: usize, pos: Pos, mult: i64) -> Result<Value, ConfigError> {
        self.integer_with(start, self.i, pos, mult)
    }

    /// The integer written in `chars[start..digits_end]`, times `mult`.
    fn integer_with(
        &self,
        start: usize,
        digits_end: usize,
        pos: Pos,
        mult: i64,
    ) -> Result<Value, ConfigError> {
        let digits: String = self.chars[start..digits_end].iter().collect();
        digits
            .parse::<i64>()
            .ok()
            .and_then(|n| n.checked_mul(mult))
            .map(Value::Int)
            .ok_or_else(|| {
                self.err(
                    pos,
                    ErrorKind::Parse,
                    format!("integer '{}' is out of the range", self.token_from(start)),
                )
            })
    }

    /// After four digits and a `-`: a full Zulu date-time `YYYY-MM-DDTHH:MM:SSZ`, or `None`
    /// (nothing consumed) so the caller reads the token as a string.
    fn date_after_year(&mut self, start: usize) -> Option<Value> {
        const SHAPE: &[u8] = b"-00-00T00:00:00Z";
        let matches = SHAPE.iter().enumerate().all(|(n, &want)| {
            let got = self.peek_at(n);
            if want == b'0' {
                got.is_some_and(|c| c.is_ascii_digit())
            } else {
                got == Some(char::from(want))
            }
        });
        if !matches {
            return None;
        }
        let end = self.i + SHAPE.len();
        let after = self.chars.get(end).copied();
        let comment =
            after == Some('#') || (after == Some('/') && self.chars.get(end + 1) == Some(&'/'));
        if !(ends_value(after) || comment) {
            return None;
        }
        for _ in 0..SHAPE.len() {
            self.bump();
        }
        Some(Value::Date(self.token_from(start)))
    }

    /// `$NAME`: the innermost enclosing map's `NAME` outward, then the environment.
    fn resolve_variable(&mut self, name: &str, pos: Pos) -> Result<Spanned, ConfigError> {
        // An unquoted bcrypt hash ($2a$...) looks like a reference but is a literal.
        if name.starts_with("2a$") {
            return Ok(Spanned::new(
                Value::String(format!("${name}")),
                pos,
                self.file.clone(),
            ));
        }
        for scope in self.scopes.iter_mut().rev() {
            if let Some(entry) = scope.entry_mut(name) {
                entry.referenced = true;
                let mut value = entry.value.clone();
                value.pos = pos;
                value.file = self.file.clone();
                return Ok(value);
            }
        }
        if let Some(text) = (self.env)(name) {
            let could_not = |reason: String| {
                format!(
                    "variable reference for '{name}' on line {} could not be parsed: {reason}",
                    pos.line
                )
            };
            if self.include_depth >= MAX_INCLUDE_DEPTH {
                return Err(self.err(
                    pos,
                    ErrorKind::Parse,
                    could_not("environment variables refer to each other too deeply".into()),
                ));
            }
            // Like nats-server, parse the variable's text as the value of a throwaway key, so
            // PORT=4222 yields an integer and LIST=[1,2] an array.
            let text = format!("pk={text}");
            let sub = Parser::new(
                &text,
                self.file.clone(),
                self.include_depth + 1,
                self.nesting,
                self.env,
            );
            let mut map = sub
                .parse_document()
                .map_err(|e| self.err(pos, ErrorKind::Parse, could_not(e.nats_text())))?;
            if let Some(entry) = map.remove("pk") {
                let mut value = entry.value;
                restamp(&mut value, pos, &self.file);
                return Ok(value);
            }
        }
        Err(self.err(
            pos,
            ErrorKind::Parse,
            format!(
                "variable reference for '{name}' on line {} can not be found",
                pos.line
            ),
        ))
    }
}
