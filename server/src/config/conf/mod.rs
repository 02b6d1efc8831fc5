//! The NATS configuration language, as read by nats-server 2.9 (`conf/lex.go` and
//! `conf/parse.go`), turned into a tree of positioned values.
//!
//! The format is a relaxed JSON/HCL mix: the top level is an implicit map; keys and values are
//! separated by `:`, `=` or whitespace; values end at a new line, `;` or `,`; comments start
//! with `#` or `//`; maps use `{ }` and arrays `[ ]`; strings may be quoted, unquoted or
//! `( ... )` blocks; integers accept size suffixes (`1MB`, `2k`); `$NAME` refers to a key of
//! an enclosing map or to an environment variable; `include <path>` splices in another file.
//!
//! Parsing ([`parse_file`], [`parse_str`]) yields a [`Document`] whose every value knows its
//! file, line and column. [`from_document`] / [`from_spanned`] then deserialize the tree into
//! typed option structs with serde, keeping those positions in errors
//! (`file:line:col: message`, nats-server's format).

mod de;
mod duration;
mod error;
mod lex;
mod parser;
mod value;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use de::{from_document, from_spanned};
pub use duration::parse_duration;
pub use error::{ConfigError, ErrorKind};
pub use value::{Document, Entry, Map, Pos, Spanned, Value};

/// Reads and parses a configuration file; includes are resolved relative to its directory and
/// `$NAME` falls back to the process environment.
pub fn parse_file(path: &Path) -> Result<Document, ConfigError> {
    parser::parse_path(path, &parser::process_env)
}

/// Parses configuration text; `file` names it in messages and anchors relative includes.
pub fn parse_str(text: &str, file: &Path) -> Result<Document, ConfigError> {
    parser::parse_text(text, file, &parser::process_env)
}

/// Like [`parse_str`], but `$NAME` falls back to `env` instead of the process environment, so
/// tests (and embedders) can supply variables without mutating global state.
pub fn parse_str_with_env(
    text: &str,
    file: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Document, ConfigError> {
    parser::parse_text(text, file, env)
}

/// Like [`parse_file`], but `$NAME` falls back to `env` instead of the process environment.
pub fn parse_file_with_env(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Document, ConfigError> {
    parser::parse_path(path, env)
}
