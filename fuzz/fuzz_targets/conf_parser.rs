//! The NATS configuration language parser (`gnatsd::config::conf`) on arbitrary text (bytes
//! read as lossy UTF-8): it must never panic, recurse without bound or loop, whatever the
//! text. `$NAME` references that no enclosing map defines fall back to a fixed environment
//! with one variable that refers to itself, so the expansion-depth limit is exercised too.
//! `include` paths resolve relative to the (nonexistent) `fuzz.conf` in the current directory.
//!
//! There is no in-memory entry point from a document to the server's `Options`
//! (`gnatsd::config::load` reads a path), so only the parser is fuzzed; a parsed document is
//! walked through its `Debug` form and its errors through `Display`.

#![no_main]

use std::path::Path;

use gnatsd::config::conf::parse_str_with_env;
use libfuzzer_sys::fuzz_target;

fn env(name: &str) -> Option<String> {
    match name {
        "FUZZ_PORT" => Some("4222".to_string()),
        "FUZZ_LOOP" => Some("[1, $FUZZ_LOOP]".to_string()),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match parse_str_with_env(&text, Path::new("fuzz.conf"), &env) {
        Ok(doc) => {
            let _ = format!("{doc:?}");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
