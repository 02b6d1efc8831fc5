//! The parser of the NATS configuration language, following the behaviour of nats-server
//! 2.9's `conf` package (a state-machine lexer feeding a parser).
//!
//! The lexemes (comments, keys, strings, numbers, terminators, ...) are `nom` parsers in
//! [`super::lex`]; this module is the structure around them: the implicit top-level map,
//! `{ }` blocks, `[ ]` arrays, `include` directives and `$NAME` references, with a bounded
//! recursive descent so hostile input cannot overflow the stack.
//!
//! The parser only keeps the remaining input; a position is the length already consumed,
//! turned into a line and a column (in characters) when a value or an error needs one.
//!
//! Where the Go lexer errors on an odd digit-led token (`1.5s`, `2019-01-01`), this parser
//! falls back to a plain string instead, as newer nats-server releases do; anything
//! nats-server 2.9 accepts is read the same way.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nom::character::complete::{anychar, char, one_of};
use nom::combinator::opt;
use nom::sequence::preceded;

use super::error::{ConfigError, ErrorKind};
use super::lex::{self, Level, LexError, Problem, Scalar};
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

/// Turns byte offsets into 1-based lines and character columns. Positions are mostly asked
/// for in increasing order, so it remembers the last answer and counts on from there instead
/// of rescanning the text from the start each time.
struct Lines<'a> {
    text: &'a str,
    /// The last offset converted and its position.
    last: Cell<(usize, Pos)>,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Lines<'a> {
        Lines {
            text,
            last: Cell::new((0, Pos::new(1, 1))),
        }
    }

    /// The position of the start of `rest`, a suffix of the text.
    fn pos(&self, rest: &str) -> Pos {
        let offset = self.text.len().saturating_sub(rest.len());
        let (mut from, mut pos) = self.last.get();
        if offset < from {
            (from, pos) = (0, Pos::new(1, 1));
        }
        // `rest` is a suffix of the text, so `offset` is a character boundary; should it
        // not be, the last known position is the harmless answer.
        let Some(span) = self.text.get(from..offset) else {
            return pos;
        };
        let count = |s: &str| u32::try_from(s.chars().count()).unwrap_or(u32::MAX);
        match span.rfind('\n') {
            Some(last_newline) => {
                let newlines = span.bytes().filter(|&b| b == b'\n').count();
                pos.line = pos
                    .line
                    .saturating_add(u32::try_from(newlines).unwrap_or(u32::MAX));
                pos.col = count(span.get(last_newline + 1..).unwrap_or("")).saturating_add(1);
            }
            None => pos.col = pos.col.saturating_add(count(span)),
        }
        self.last.set((offset, pos));
        pos
    }
}

/// The parser of one text (a file, an included file or an environment variable's value).
struct Parser<'a, 'e> {
    /// The input not parsed yet: a suffix of `lines.text`.
    rest: &'a str,
    lines: Lines<'a>,
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

impl<'a, 'e> Parser<'a, 'e> {
    fn new(
        text: &'a str,
        file: Arc<PathBuf>,
        include_depth: usize,
        nesting: usize,
        env: EnvLookup<'e>,
    ) -> Parser<'a, 'e> {
        // A UTF-8 byte order mark is not part of the configuration.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let dir = match file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Parser {
            rest: text,
            lines: Lines::new(text),
            file,
            dir,
            scopes: Vec::new(),
            nesting,
            include_depth,
            env,
        }
    }

    // ----- input -----

    /// The next character, to choose what to parse.
    fn peek(&self) -> Option<char> {
        self.rest.chars().next()
    }

    /// Where the remaining input starts.
    fn pos(&self) -> Pos {
        self.lines.pos(self.rest)
    }

    /// Runs a lexeme on the remaining input, consuming what it matched; its errors become
    /// [`ConfigError`]s located where the lexeme put them.
    fn lex<T>(
        &mut self,
        mut lexeme: impl nom::Parser<&'a str, Output = T, Error = LexError<'a>>,
    ) -> Result<T, ConfigError> {
        match lexeme.parse(self.rest) {
            Ok((rest, out)) => {
                self.rest = rest;
                Ok(out)
            }
            Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(self.lex_error(e)),
            // Only `complete` parsers are used, which never ask for more input.
            Err(nom::Err::Incomplete(_)) => Err(self.syntax(self.pos(), "Unexpected EOF.")),
        }
    }

    /// Consumes the next character (one already looked at with [`Parser::peek`] or returned
    /// by [`lex::trailer`]).
    fn bump(&mut self) -> Result<(), ConfigError> {
        self.lex(anychar).map(drop)
    }

    // ----- errors -----

    fn err(&self, pos: Pos, kind: ErrorKind, message: impl Into<String>) -> ConfigError {
        ConfigError::new(self.file.as_ref().clone(), pos.line, pos.col, message, kind)
    }

    fn syntax(&self, pos: Pos, message: impl Into<String>) -> ConfigError {
        self.err(pos, ErrorKind::Syntax, message)
    }

    /// A syntax error at the current position. Cold and out of line, so the message
    /// building does not enlarge the frames of the recursive descent.
    #[cold]
    #[inline(never)]
    fn fail_here<T>(&self, message: impl Into<String>) -> Result<T, ConfigError> {
        Err(self.syntax(self.pos(), message))
    }

    fn lex_error(&self, e: LexError<'a>) -> ConfigError {
        let pos = self.lines.pos(e.at);
        match e.problem {
            Problem::Syntax(message) => self.syntax(pos, message),
            Problem::Range(message) => self.err(pos, ErrorKind::Parse, message),
            // Not expected: the parser only runs a lexeme where one always matches (the
            // last alternative of each accepts anything), but say something sensible.
            Problem::NoMatch => self.syntax(
                pos,
                format!("Unexpected '{}'.", lex::show(e.at.chars().next())),
            ),
        }
    }

    /// Enters a map or array starting at `pos`, refusing to go deeper than [`MAX_NESTING`].
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
            self.lex(lex::top_filler)?;
            if self.rest.is_empty() {
                break;
            }
            self.parse_pair(Level::Top)?;
            self.top_value_end()?;
        }
        Ok(self.scopes.pop().unwrap_or_default())
    }

    /// After a top-level value only blanks, a comment, or a terminator may follow.
    fn top_value_end(&mut self) -> Result<(), ConfigError> {
        match self.lex(lex::trailer)? {
            None => Ok(()),
            Some('\n' | '\r' | ';' | ',' | '}') => self.bump(),
            c => self.fail_here(format!(
                "Expected a top-level value to end with a new line, comment or EOF, but \
                 got '{}' instead.",
                lex::show(c)
            )),
        }
    }

    /// The body of a `{ ... }` block; the opening brace is already consumed.
    fn parse_block(&mut self) -> Result<(), ConfigError> {
        loop {
            self.lex(lex::filler)?;
            match self.peek() {
                None => return self.fail_here("Unexpected EOF processing map."),
                Some('}') => return self.bump(),
                Some(']') => return self.fail_here("Unexpected array end ']' processing map."),
                _ => {}
            }
            self.parse_pair(Level::Block)?;
            match self.lex(lex::trailer)? {
                Some(';' | ',' | '\n' | '\r') => self.bump()?,
                Some('}') => return self.bump(),
                None => return self.fail_here("Unexpected EOF processing map."),
                c => {
                    return self.fail_here(format!(
                        "Expected a map value terminator \",\" or a map terminator \"}}\", but \
                         got '{}' instead.",
                        lex::show(c)
                    ))
                }
            }
        }
    }

    /// The elements of a `[ ... ]` array; the opening bracket is already consumed.
    fn parse_array(&mut self) -> Result<Vec<Spanned>, ConfigError> {
        let mut items = Vec::new();
        loop {
            self.lex(lex::filler)?;
            match self.peek() {
                None => return self.fail_here("Unexpected EOF processing array."),
                Some(',') => return self.fail_here("Unexpected array value terminator ','."),
                Some(']') => {
                    self.bump()?;
                    return Ok(items);
                }
                _ => {}
            }
            items.push(self.parse_value()?);
            match self.lex(lex::trailer)? {
                Some(',' | '\n' | '\r') => self.bump()?,
                Some(']') => {
                    self.bump()?;
                    return Ok(items);
                }
                None => return self.fail_here("Unexpected EOF processing array."),
                c => {
                    return self.fail_here(format!(
                        "Expected an array value terminator \",\" or an array terminator \
                         \"]\", but got '{}' instead.",
                        lex::show(c)
                    ))
                }
            }
        }
    }

    /// One `key [sep] value` pair (or an `include`), stored into the innermost map.
    fn parse_pair(&mut self, level: Level) -> Result<(), ConfigError> {
        let key_pos = self.pos();
        let key = self.lex(lex::key(level))?;
        if !key.quoted
            && key.text.eq_ignore_ascii_case("include")
            && self.peek().is_some_and(char::is_whitespace)
        {
            return self.parse_include(key_pos);
        }
        // Between a key and its separator or value any whitespace may appear, new lines too.
        let has_sep = self
            .lex(preceded(lex::whitespace, opt(one_of(":="))))?
            .is_some();
        match level {
            Level::Top => {
                if !has_sep && self.rest.is_empty() {
                    // A lone key at the very end of the file has no value; nats-server
                    // ignores it, and so do we.
                    return Ok(());
                }
                // After a separator the value must start on the same line: the value lexer
                // itself refuses a new line ("Expected value but found new line").
            }
            Level::Block => {
                self.lex(lex::whitespace)?;
                match self.peek() {
                    Some(',') => return self.fail_here("Unexpected map value terminator \",\"."),
                    Some('}') => {
                        return self.fail_here(format!(
                            "Expected a value for key '{}', but got '}}' instead.",
                            key.text
                        ))
                    }
                    None => return self.fail_here("Unexpected EOF processing map."),
                    _ => {}
                }
            }
        }
        let value = self.parse_value()?;
        let entry = Entry {
            key: key.text.to_string(),
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

    /// The rest of an `include` directive whose keyword, at `key_pos`, is consumed. Out of
    /// line so its temporaries do not enlarge the frames of the map recursion.
    #[inline(never)]
    fn parse_include(&mut self, key_pos: Pos) -> Result<(), ConfigError> {
        let path = self.lex(preceded(lex::blanks, lex::include_path))?;
        self.include_file(path, key_pos)
    }

    /// `include <path>`: parses the named file on its own and merges its keys into the
    /// innermost map. Errors are located at the `include` keyword (`pos`).
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
        self.lex(lex::blanks)?;
        let pos = self.pos();
        let value = match self.peek() {
            Some('[') => {
                self.lex(char('['))?;
                self.enter(pos)?;
                let items = self.parse_array()?;
                self.nesting -= 1;
                Value::Array(items)
            }
            Some('{') => {
                self.lex(char('{'))?;
                self.enter(pos)?;
                self.scopes.push(Map::new());
                let result = self.parse_block();
                let map = self.scopes.pop().unwrap_or_default();
                result?;
                self.nesting -= 1;
                Value::Map(map)
            }
            _ => return self.parse_scalar(pos),
        };
        Ok(Spanned::new(value, pos, self.file.clone()))
    }

    /// A value other than a map or an array, starting at `pos`. Kept out of
    /// [`Parser::parse_value`] (never inlined) so the lexer's temporaries do not enlarge
    /// every frame of the map/array recursion.
    #[inline(never)]
    fn parse_scalar(&mut self, pos: Pos) -> Result<Spanned, ConfigError> {
        match self.lex(lex::scalar)? {
            Scalar::Value(value) => Ok(Spanned::new(value, pos, self.file.clone())),
            Scalar::Variable(name) => self.resolve_variable(&name, pos),
        }
    }

    /// `$NAME` written at `pos`: the innermost enclosing map's `NAME` outward, then the
    /// environment.
    fn resolve_variable(&mut self, name: &str, pos: Pos) -> Result<Spanned, ConfigError> {
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

#[cfg(test)]
mod tests;
