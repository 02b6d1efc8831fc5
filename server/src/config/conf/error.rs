//! The single error type of the configuration layer. It always knows the file and, when it
//! comes from the text, the 1-based line and column, so the server can print
//! `file:line:col: message` like nats-server (and syntax errors in nats-server's words,
//! `Parse error on line N: '...'`, followed by the location).

use std::fmt;
use std::path::PathBuf;

/// Which stage produced a [`ConfigError`]; this decides how nats-server itself would have
/// worded the error (see [`ConfigError::nats_text`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The file could not be read (line and column are 0).
    Io,
    /// A lexical/syntax error (nats-server: `Parse error on line N: '...'`).
    Syntax,
    /// A parse-stage error that nats-server prints bare: unknown variable, integer out of
    /// range, failed include.
    Parse,
    /// An error found while interpreting values (types, unknown fields, option checks).
    Value,
}

/// A configuration error with its location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the error is in (the included file for errors inside includes' values).
    pub file: PathBuf,
    /// 1-based line; 0 when the error has no position (e.g. unreadable file).
    pub line: u32,
    /// 1-based column (characters); 0 when the error has no position.
    pub col: u32,
    /// The message without location, e.g. `unknown field "X"`.
    pub message: String,
    /// The stage that produced the error.
    pub kind: ErrorKind,
}

impl ConfigError {
    /// Builds an error at `file:line:col`.
    pub fn new(
        file: impl Into<PathBuf>,
        line: u32,
        col: u32,
        message: impl Into<String>,
        kind: ErrorKind,
    ) -> ConfigError {
        ConfigError {
            file: file.into(),
            line,
            col,
            message: message.into(),
            kind,
        }
    }

    /// The text nats-server 2.9 prints (after `nats-server: `) for the same problem: syntax
    /// errors read `Parse error on line N: '<message>'`, variable/include/IO errors are bare,
    /// and value errors carry `file:line:col: `.
    pub fn nats_text(&self) -> String {
        match self.kind {
            ErrorKind::Syntax => format!("Parse error on line {}: '{}'", self.line, self.message),
            ErrorKind::Io | ErrorKind::Parse => self.message.clone(),
            ErrorKind::Value => format!("{}: {}", self.location(), self.message),
        }
    }
}

impl ConfigError {
    /// `file:line:col` with the column counted as nats-server counts it: characters since the
    /// previous newline, which makes the first line's columns 0-based (`1:0`) and the others'
    /// 1-based.
    fn location(&self) -> String {
        let col = if self.line == 1 {
            self.col.saturating_sub(1)
        } else {
            self.col
        };
        format!("{}:{}:{col}", self.file.display(), self.line)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            // No position: the message already names the file (e.g. `open x: ...`).
            return f.write_str(&self.message);
        }
        match self.kind {
            // nats-server's words first, which tools match on; our location after them.
            ErrorKind::Syntax => write!(f, "{} ({})", self.nats_text(), self.location()),
            _ => write!(f, "{}: {}", self.location(), self.message),
        }
    }
}

impl std::error::Error for ConfigError {}
