//! Unit tests for the configuration language: every syntax form, error positions and texts,
//! variables, includes, the serde layer and a no-panic sweep over random input.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::Deserialize;

use super::*;

// ----- helpers -----

fn no_env(_: &str) -> Option<String> {
    None
}

fn parse(text: &str) -> Document {
    parse_str_with_env(text, Path::new("test.conf"), &no_env)
        .unwrap_or_else(|e| panic!("parse failed: {e}\n--- input ---\n{text}"))
}

fn parse_err(text: &str) -> ConfigError {
    match parse_str_with_env(text, Path::new("test.conf"), &no_env) {
        Ok(doc) => panic!("expected an error for {text:?}, got {doc:?}"),
        Err(e) => e,
    }
}

/// Follows a path of keys through nested maps.
fn at<'a>(doc: &'a Document, path: &[&str]) -> &'a Spanned {
    let mut cur = &doc.root;
    for key in path {
        let map = cur
            .as_map()
            .unwrap_or_else(|| panic!("{key}: parent is not a map: {cur:?}"));
        cur = map
            .get(key)
            .unwrap_or_else(|| panic!("missing key {key} in {map:?}"));
    }
    cur
}

fn val<'a>(doc: &'a Document, path: &[&str]) -> &'a Value {
    &at(doc, path).value
}

fn s(text: &str) -> Value {
    Value::String(text.to_string())
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .unwrap_or_else(|| panic!("not a string: {i:?}"))
                    .to_string()
            })
            .collect(),
        other => panic!("not an array: {other:?}"),
    }
}

/// A scratch directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "gnatsd-conf-{tag}-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.0.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ----- separators, keys, positions -----

#[test]
fn key_value_separators() {
    let doc = parse("a: 1\nb = 2\nc 3\nd:4\ne=5\n\"f g\": 6\n'h' 7\ni\t=\t8\nj :  9\n");
    for (k, n) in [
        ("a", 1),
        ("b", 2),
        ("c", 3),
        ("d", 4),
        ("e", 5),
        ("f g", 6),
        ("h", 7),
        ("i", 8),
        ("j", 9),
    ] {
        assert_eq!(val(&doc, &[k]), &Value::Int(n), "key {k}");
    }
    assert_eq!(doc.map().len(), 9);
}

#[test]
fn positions_of_keys_and_values() {
    let doc = parse("a: 1\n  bb = \"x\"\nm {\n\tk: [1, 2]\n}\n");
    let e = doc.map().entry("bb").unwrap();
    assert_eq!(e.key_pos, Pos::new(2, 3));
    assert_eq!(e.value.pos, Pos::new(2, 8));
    assert_eq!(e.key_file.as_path(), Path::new("test.conf"));
    assert_eq!(at(&doc, &["m"]).pos, Pos::new(3, 3));
    let k = at(&doc, &["m", "k"]);
    assert_eq!(k.pos, Pos::new(4, 5));
    let items = k.as_array().unwrap();
    assert_eq!(items[0].pos, Pos::new(4, 6));
    assert_eq!(items[1].pos, Pos::new(4, 9));
    assert_eq!(doc.root.pos, Pos::new(1, 1));
    assert_eq!(doc.file(), Path::new("test.conf"));
}

#[test]
fn columns_count_characters() {
    let doc = parse("é: \"ü\", x: 1\n");
    assert_eq!(doc.map().entry("x").unwrap().key_pos, Pos::new(1, 9));
    assert_eq!(val(&doc, &["é"]), &s("ü"));
}

#[test]
fn semicolons_and_commas_separate_top_level_pairs() {
    let doc = parse("a: 1; b: 2, c: three;\n");
    assert_eq!(val(&doc, &["a"]), &Value::Int(1));
    assert_eq!(val(&doc, &["b"]), &Value::Int(2));
    assert_eq!(val(&doc, &["c"]), &s("three"));
}

#[test]
fn key_and_value_may_be_split_across_lines_without_separator() {
    let doc = parse("port\n\n4222\n");
    assert_eq!(val(&doc, &["port"]), &Value::Int(4222));
}

#[test]
fn crlf_line_endings() {
    let doc = parse("a: 1\r\nb: \"x\"\r\nm {\r\n  c: 2\r\n}\r\nl: [\r\n 1\r\n 2\r\n]\r\n");
    assert_eq!(val(&doc, &["a"]), &Value::Int(1));
    assert_eq!(val(&doc, &["b"]), &s("x"));
    assert_eq!(val(&doc, &["m", "c"]), &Value::Int(2));
    assert_eq!(strings_or_ints(val(&doc, &["l"])), vec![1, 2]);
    assert_eq!(doc.map().entry("b").unwrap().key_pos, Pos::new(2, 1));
}

fn strings_or_ints(v: &Value) -> Vec<i64> {
    match v {
        Value::Array(items) => items.iter().map(|i| i.as_int().unwrap()).collect(),
        other => panic!("not an array: {other:?}"),
    }
}

#[test]
fn byte_order_mark_is_ignored() {
    let doc = parse("\u{feff}port: 1\n");
    assert_eq!(val(&doc, &["port"]), &Value::Int(1));
}

#[test]
fn empty_and_comment_only_documents() {
    assert!(parse("").map().is_empty());
    assert!(parse("   \n\t\n").map().is_empty());
    assert!(parse("# only\n// comments\n").map().is_empty());
}

#[test]
fn lone_key_at_end_of_file_is_ignored_and_empty_value_is_empty_string() {
    let doc = parse("a: 1\nlonely");
    assert_eq!(doc.map().len(), 1);
    let doc = parse("a:");
    assert_eq!(val(&doc, &["a"]), &s(""));
}

#[test]
fn optional_outer_braces() {
    let doc = parse("{\n  port: 4222\n  host: x\n}\n");
    assert_eq!(val(&doc, &["port"]), &Value::Int(4222));
    assert_eq!(val(&doc, &["host"]), &s("x"));
    let doc = parse("{ port: 4222 }");
    assert_eq!(val(&doc, &["port"]), &Value::Int(4222));
    let doc = parse("# c\n{ a: 1, b: { c: 2 } }\n");
    assert_eq!(val(&doc, &["b", "c"]), &Value::Int(2));
}

// ----- comments -----

#[test]
fn comments_everywhere() {
    let doc = parse(concat!(
        "# top comment\n",
        "// another\n",
        "a: 1 # trailing\n",
        "b: 2 // trailing\n",
        "c: foo#bar\n",
        "d: foo // x\n",
        "e: foo # x\n",
        "f: \"q\"# x\n",
        "g { # c\n",
        "  h: 1 // c\n",
        "  # c\n",
        "  i: 2k# c\n",
        "}\n",
        "j [ # c\n",
        "  1 # c\n",
        "  // c\n",
        "  2\n",
        "]\n",
        "k: 1.5# c\n",
        "l: 2k// c\n",
        "n: 4222#x\n",
    ));
    assert_eq!(val(&doc, &["a"]), &Value::Int(1));
    assert_eq!(val(&doc, &["b"]), &Value::Int(2));
    assert_eq!(val(&doc, &["c"]), &s("foo#bar"));
    assert_eq!(val(&doc, &["d"]), &s("foo"));
    assert_eq!(val(&doc, &["e"]), &s("foo"));
    assert_eq!(val(&doc, &["f"]), &s("q"));
    assert_eq!(val(&doc, &["g", "h"]), &Value::Int(1));
    assert_eq!(val(&doc, &["g", "i"]), &Value::Int(2000));
    assert_eq!(strings_or_ints(val(&doc, &["j"])), vec![1, 2]);
    assert_eq!(val(&doc, &["k"]), &Value::Float(1.5));
    assert_eq!(val(&doc, &["l"]), &Value::Int(2000));
    // Right after plain digits `#` does not start a comment (nats-server reads a string).
    assert_eq!(val(&doc, &["n"]), &s("4222#x"));
    assert_eq!(doc.map().len(), 11);
}

// ----- strings -----

#[test]
fn string_forms() {
    let doc = parse(concat!(
        "dq: \"a b\\t\\n\\r\\\"\\\\\\x41\"\n",
        "sq: 'raw \\n $x \"q\" # not a comment'\n",
        "un: hello-world\n",
        "url: nats-route://user:pw@127.0.0.1:4246\n",
        "hp: localhost:4222\n",
        "ip: 127.0.0.1\n",
        "ipp: 127.0.0.1:4222\n",
        "any: 0.0.0.0:4222\n",
        "dots: 1.2.3.4\n",
        "cidr: 10.0.0.0/8\n",
        "path: /var/run/nats.pid\n",
        "utf: \"\\xc3\\xa9\"\n",
        "empty: \"\"\n",
        "multi: \"a\nb\"\n",
        "quoted_true: \"true\"\n",
        "dollar: \"$nope\"\n",
        "uesc: a\\tb\n",
    ));
    assert_eq!(val(&doc, &["dq"]), &s("a b\t\n\r\"\\A"));
    assert_eq!(val(&doc, &["sq"]), &s("raw \\n $x \"q\" # not a comment"));
    assert_eq!(val(&doc, &["un"]), &s("hello-world"));
    assert_eq!(
        val(&doc, &["url"]),
        &s("nats-route://user:pw@127.0.0.1:4246")
    );
    assert_eq!(val(&doc, &["hp"]), &s("localhost:4222"));
    assert_eq!(val(&doc, &["ip"]), &s("127.0.0.1"));
    assert_eq!(val(&doc, &["ipp"]), &s("127.0.0.1:4222"));
    assert_eq!(val(&doc, &["any"]), &s("0.0.0.0:4222"));
    assert_eq!(val(&doc, &["dots"]), &s("1.2.3.4"));
    assert_eq!(val(&doc, &["cidr"]), &s("10.0.0.0/8"));
    assert_eq!(val(&doc, &["path"]), &s("/var/run/nats.pid"));
    assert_eq!(val(&doc, &["utf"]), &s("é"));
    assert_eq!(val(&doc, &["empty"]), &s(""));
    assert_eq!(val(&doc, &["multi"]), &s("a\nb"));
    assert_eq!(val(&doc, &["quoted_true"]), &s("true"));
    assert_eq!(val(&doc, &["dollar"]), &s("$nope"));
    assert_eq!(val(&doc, &["uesc"]), &s("a\tb"));
}

#[test]
fn block_strings() {
    let doc = parse("blk (\nline one\n  line (two) )\n)\nafter: 1\n");
    assert_eq!(val(&doc, &["blk"]), &s("\nline one\n  line (two) )\n"));
    assert_eq!(val(&doc, &["after"]), &Value::Int(1));
    // A `)` that is indented or followed by text does not close the block.
    let doc = parse("b: (\n )\n) x\n)");
    assert_eq!(val(&doc, &["b"]), &s("\n )\n) x\n"));
    let doc = parse("m {\n  b = (\nx\n)\n}\n");
    assert_eq!(val(&doc, &["m", "b"]), &s("\nx\n"));
}

#[test]
fn bad_escape_is_an_error_with_position() {
    let e = parse_err("a: \"foo\\q\"");
    assert_eq!(
        e.to_string(),
        "Parse error on line 1: 'Invalid escape character 'q'. Only the following escape characters \
         are allowed: \\xXX, \\t, \\n, \\r, \\\", \\\\.' (test.conf:1:8)"
    );
    assert_eq!(e.kind, ErrorKind::Syntax);
    assert_eq!(
        e.nats_text(),
        "Parse error on line 1: 'Invalid escape character 'q'. Only the following escape \
         characters are allowed: \\xXX, \\t, \\n, \\r, \\\", \\\\.'"
    );
    let e = parse_err("a: \"\\xZZ\"");
    assert_eq!(
        e.message,
        "Expected two hexadecimal digits after '\\x', but got 'ZZ'"
    );
    let e = parse_err("a: \"\\x4\nb\"");
    assert_eq!(
        e.message,
        "Expected two hexadecimal digits after '\\x', but hit end of line"
    );
    // Unquoted values process escapes too (as in nats-server).
    let e = parse_err("path: C:\\Users\\x");
    assert_eq!((e.line, e.col), (1, 10));
    assert!(e.message.starts_with("Invalid escape character 'U'."));
}

#[test]
fn unquoted_string_ends_at_single_quote() {
    // nats-server's lexer ends an unquoted string at `'` and drops the quote.
    let doc = parse("a: foo'\n");
    assert_eq!(val(&doc, &["a"]), &s("foo"));
}

// ----- booleans -----

#[test]
fn booleans() {
    let doc = parse(
        "a: true, b: TRUE, c: yes, d: On, e: false, f: NO, g: off, h: \"true\", i: 'yes', \
         j: truex, k: Yes",
    );
    for (k, b) in [
        ("a", true),
        ("b", true),
        ("c", true),
        ("d", true),
        ("e", false),
        ("f", false),
        ("g", false),
        ("k", true),
    ] {
        assert_eq!(val(&doc, &[k]), &Value::Bool(b), "key {k}");
    }
    assert_eq!(val(&doc, &["h"]), &s("true"));
    assert_eq!(val(&doc, &["i"]), &s("yes"));
    assert_eq!(val(&doc, &["j"]), &s("truex"));
}

// ----- numbers -----

#[test]
fn integers_and_floats() {
    let doc = parse("i: 42\nn: -42\nz: 0\nf: 1.5\nnf: -0.25\nmax: 9223372036854775807\n");
    assert_eq!(val(&doc, &["i"]), &Value::Int(42));
    assert_eq!(val(&doc, &["n"]), &Value::Int(-42));
    assert_eq!(val(&doc, &["z"]), &Value::Int(0));
    assert_eq!(val(&doc, &["f"]), &Value::Float(1.5));
    assert_eq!(val(&doc, &["nf"]), &Value::Float(-0.25));
    assert_eq!(val(&doc, &["max"]), &Value::Int(i64::MAX));
}

#[test]
fn size_suffixes() {
    const K: i64 = 1024;
    let cases: &[(&str, i64)] = &[
        ("2k", 2000),
        ("2K", 2000),
        ("2kb", 2 * K),
        ("2KB", 2 * K),
        ("2ki", 2 * K),
        ("2Ki", 2 * K),
        ("2kib", 2 * K),
        ("2KiB", 2 * K),
        ("1M", 1_000_000),
        ("2m", 2_000_000),
        ("1MB", K * K),
        ("1mb", K * K),
        ("1Mi", K * K),
        ("1MiB", K * K),
        ("10MB", 10 * K * K),
        ("1g", 1_000_000_000),
        ("1G", 1_000_000_000),
        ("1GB", K * K * K),
        ("1Gi", 1_073_741_824),
        ("1gib", K * K * K),
        ("1t", 1_000_000_000_000),
        ("1TB", K.pow(4)),
        ("1ti", K.pow(4)),
        ("1TiB", K.pow(4)),
        ("1p", 1_000_000_000_000_000),
        ("1pb", K.pow(5)),
        ("1Pi", K.pow(5)),
        ("1pib", K.pow(5)),
        ("1e", 1_000_000_000_000_000_000),
        ("1EB", K.pow(6)),
        ("1ei", K.pow(6)),
        ("1EiB", K.pow(6)),
        ("-1k", -1000),
        ("512KB", 524_288),
    ];
    for (text, want) in cases {
        let doc = parse(&format!("v: {text}\n"));
        assert_eq!(val(&doc, &["v"]), &Value::Int(*want), "{text}");
        // The same inside a block and an array, where `}` / `]` end the number.
        let doc = parse(&format!("m {{ v: {text}}}\na: [{text}]\n"));
        assert_eq!(val(&doc, &["m", "v"]), &Value::Int(*want), "{text} in map");
        assert_eq!(
            strings_or_ints(val(&doc, &["a"])),
            vec![*want],
            "{text} in array"
        );
    }
}

#[test]
fn digit_led_tokens_that_are_strings() {
    for text in [
        "10s",
        "10X",
        "500ms",
        "1m30s",
        "1.5s",
        "1e5",
        "2kbb",
        "1Ghz",
        "2019-01-01",
        "1.",
        "4e2abc",
        "-1s",
        "12-34",
        "1.2.3.4x",
    ] {
        let doc = parse(&format!("v: {text}\n"));
        assert_eq!(val(&doc, &["v"]), &s(text), "{text}");
    }
}

#[test]
fn dates() {
    let doc = parse("d: 2019-01-01T00:00:00Z\ne: [2020-02-29T12:34:56Z]\n");
    assert_eq!(
        val(&doc, &["d"]),
        &Value::Date("2019-01-01T00:00:00Z".into())
    );
    let e = val(&doc, &["e"]).clone();
    match e {
        Value::Array(items) => {
            assert_eq!(items[0].value, Value::Date("2020-02-29T12:34:56Z".into()))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn integer_out_of_range() {
    let e = parse_err("a: 9223372036854775808\n");
    assert_eq!(
        e.to_string(),
        "test.conf:1:3: integer '9223372036854775808' is out of the range"
    );
    assert_eq!(e.kind, ErrorKind::Parse);
    assert_eq!(
        e.nats_text(),
        "integer '9223372036854775808' is out of the range"
    );
    let e = parse_err("a: 8EB\n");
    assert_eq!(e.message, "integer '8EB' is out of the range");
}

#[test]
fn number_errors() {
    let e = parse_err("a: .5\n");
    assert_eq!(
        e.to_string(),
        "Parse error on line 1: 'Floats must start with a digit' (test.conf:1:3)"
    );
    let e = parse_err("a: -x\n");
    assert_eq!(
        e.to_string(),
        "Parse error on line 1: 'Expected a digit but got 'x'.' (test.conf:1:4)"
    );
    let e = parse_err("a: -.5\n");
    assert_eq!(e.message, "Floats must start with a digit, not '.'.");
}

// ----- arrays -----

#[test]
fn arrays() {
    let doc = parse(concat!(
        "a: [1, 2, 3]\n",
        "b: [\n  one\n  two,\n  \"three\",\n]\n",
        "c: []\n",
        "d: [[1, 2], [3]]\n",
        "e: [ { x: 1 }, { y: 2 } ]\n",
        "f: [1,2]\n",
        "h [ 'q', true, 1.5, -2 ]\n",
    ));
    assert_eq!(strings_or_ints(val(&doc, &["a"])), vec![1, 2, 3]);
    assert_eq!(strings(val(&doc, &["b"])), vec!["one", "two", "three"]);
    assert_eq!(val(&doc, &["c"]), &Value::Array(vec![]));
    let d = at(&doc, &["d"]).as_array().unwrap();
    assert_eq!(strings_or_ints(&d[0].value), vec![1, 2]);
    assert_eq!(strings_or_ints(&d[1].value), vec![3]);
    let e = at(&doc, &["e"]).as_array().unwrap();
    assert_eq!(
        e[0].as_map().unwrap().get("x").unwrap().value,
        Value::Int(1)
    );
    assert_eq!(
        e[1].as_map().unwrap().get("y").unwrap().value,
        Value::Int(2)
    );
    assert_eq!(strings_or_ints(val(&doc, &["f"])), vec![1, 2]);
    // `;` ends an unquoted string but is not an array separator.
    assert!(parse_err("x = [a;b]")
        .message
        .contains("array value terminator"));
    assert_eq!(
        strings(&parse("x = [a,b]").get("x").unwrap().value),
        vec!["a", "b"]
    );
    let h = at(&doc, &["h"]).as_array().unwrap();
    let hv: Vec<&Value> = h.iter().map(|x| &x.value).collect();
    assert_eq!(
        hv,
        vec![
            &s("q"),
            &Value::Bool(true),
            &Value::Float(1.5),
            &Value::Int(-2)
        ]
    );
}

#[test]
fn array_errors() {
    let e = parse_err("a: [,1]");
    assert_eq!(
        e.to_string(),
        "Parse error on line 1: 'Unexpected array value terminator ','.' (test.conf:1:4)"
    );
    let e = parse_err("a: [1 2]");
    assert_eq!(
        e.to_string(),
        "Parse error on line 1: 'Expected an array value terminator \",\" or an array terminator \"]\", \
         but got '2' instead.' (test.conf:1:6)"
    );
    let e = parse_err("a: [1,\n2");
    assert_eq!(
        e.to_string(),
        "Parse error on line 2: 'Unexpected EOF processing array.' (test.conf:2:2)"
    );
    let e = parse_err("a: [1,,2]");
    assert_eq!(e.message, "Unexpected array value terminator ','.");
}

// ----- maps -----

#[test]
fn maps() {
    let doc = parse(concat!(
        "m1 { a: 1, b = 2; c 3 }\n",
        "m2: { x: y }\n",
        "m3 = {\n  nested {\n    deep: true\n  }\n}\n",
        "m4\n{\n  k: v\n}\n",
        "empty {}\n",
        "m5{ a: 1 }\n",
        "m6 {\n  a: 1,\n  b: 2;\n  c: 3\n\n  d:\n    4\n}\n",
    ));
    assert_eq!(val(&doc, &["m1", "a"]), &Value::Int(1));
    assert_eq!(val(&doc, &["m1", "b"]), &Value::Int(2));
    assert_eq!(val(&doc, &["m1", "c"]), &Value::Int(3));
    assert_eq!(val(&doc, &["m2", "x"]), &s("y"));
    assert_eq!(val(&doc, &["m3", "nested", "deep"]), &Value::Bool(true));
    assert_eq!(val(&doc, &["m4", "k"]), &s("v"));
    assert_eq!(val(&doc, &["empty"]), &Value::Map(Map::new()));
    assert_eq!(val(&doc, &["m5", "a"]), &Value::Int(1));
    assert_eq!(val(&doc, &["m6", "d"]), &Value::Int(4));
    assert_eq!(at(&doc, &["m6"]).as_map().unwrap().len(), 4);
}

#[test]
fn map_errors() {
    let e = parse_err("m { a: 1 b: 2 }");
    assert_eq!(
        e.to_string(),
        "Parse error on line 1: 'Expected a map value terminator \",\" or a map terminator \"}\", \
         but got 'b' instead.' (test.conf:1:9)"
    );
    let e = parse_err("cluster {\n  port: 1\n");
    assert_eq!(
        e.to_string(),
        "Parse error on line 3: 'Unexpected EOF processing map.' (test.conf:3:1)"
    );
    let e = parse_err("m { ] }");
    assert_eq!(e.message, "Unexpected array end ']' processing map.");
    let e = parse_err("m { : 1 }");
    assert_eq!(e.message, "Unexpected key separator ':'.");
    let e = parse_err("m { a: , }");
    assert_eq!(e.message, "Unexpected map value terminator \",\".");
    let e = parse_err("m { a }");
    assert_eq!(
        e.message,
        "Expected a value for key 'a', but got '}' instead."
    );
    let e = parse_err("m { \"a: 1 }");
    assert_eq!(
        e.message,
        "Unexpected EOF processing double quoted map key."
    );
}

#[test]
fn duplicate_keys_last_wins() {
    let doc = parse("a: 1\nb: 2\na: 3\nm { x: 1, x: 2 }\n");
    assert_eq!(val(&doc, &["a"]), &Value::Int(3));
    assert_eq!(doc.map().len(), 3);
    let a = doc.map().entry("a").unwrap();
    assert_eq!(a.key_pos, Pos::new(3, 1));
    let keys: Vec<&str> = doc.map().iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, vec!["a", "b", "m"]);
    assert_eq!(val(&doc, &["m", "x"]), &Value::Int(2));
    // Keys are case-sensitive at this layer.
    let doc = parse("Port: 1\nport: 2\n");
    assert_eq!(doc.map().len(), 2);
    assert_eq!(
        doc.map().get_ignore_case("PORT").unwrap().value,
        Value::Int(2)
    );
}

// ----- top-level syntax errors and their positions -----

#[test]
fn two_pairs_on_one_line() {
    let e = parse_err("port: 4222 host: x");
    assert_eq!(
        e.to_string(),
        "Parse error on line 1: 'Expected a top-level value to end with a new line, comment or EOF, \
         but got 'h' instead.' (test.conf:1:11)"
    );
    assert_eq!(
        e.nats_text(),
        "Parse error on line 1: 'Expected a top-level value to end with a new line, comment or \
         EOF, but got 'h' instead.'"
    );
}

#[test]
fn unterminated_strings() {
    let e = parse_err("a: 1\nb: \"abc\nc: 2\n");
    assert_eq!(
        e.to_string(),
        "Parse error on line 4: 'Unexpected EOF.' (test.conf:4:1)"
    );
    let e = parse_err("a: 'abc");
    assert_eq!(
        e.to_string(),
        "Parse error on line 1: 'Unexpected EOF.' (test.conf:1:7)"
    );
    let e = parse_err("a: (\nfoo\n");
    assert_eq!(
        e.to_string(),
        "Parse error on line 3: 'Unexpected EOF processing block.' (test.conf:3:1)"
    );
    let e = parse_err("\"key");
    assert_eq!(e.message, "Unexpected EOF.");
}

#[test]
fn other_syntax_errors() {
    let e = parse_err("a:\n1\n");
    assert_eq!(
        e.to_string(),
        "Parse error on line 1: 'Expected value but found new line' (test.conf:1:2)"
    );
    let e = parse_err(": 1");
    assert_eq!(
        e.to_string(),
        "Parse error on line 1: 'Unexpected key separator ':'' (test.conf:1:0)"
    );
    let e = parse_err("a: 1 ]");
    assert_eq!(e.col, 6);
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let text = format!("a: {}", "[".repeat(5000));
    let e = parse_err(&text);
    assert!(e.message.contains("nested too deeply"), "{e}");
    let text = "a {".repeat(5000);
    let e = parse_err(&text);
    assert!(e.message.contains("nested too deeply"), "{e}");
    // Up to the limit is fine.
    let text = format!("a: {}1{}", "[".repeat(90), "]".repeat(90));
    parse(&text);
}

// ----- variables -----

#[test]
fn variables_in_scope_order() {
    let doc = parse(concat!(
        "PORT_VAR: 4222\n",
        "TOP = top\n",
        "port: $PORT_VAR\n",
        "inner {\n",
        "  PORT_VAR: 5\n",
        "  p: $PORT_VAR\n",
        "  q: $TOP\n",
        "  arr: [$PORT_VAR, { r: $TOP }]\n",
        "}\n",
        "base { a: 1 }\n",
        "copy: $base\n",
    ));
    assert_eq!(val(&doc, &["port"]), &Value::Int(4222));
    assert_eq!(val(&doc, &["inner", "p"]), &Value::Int(5));
    assert_eq!(val(&doc, &["inner", "q"]), &s("top"));
    let arr = at(&doc, &["inner", "arr"]).as_array().unwrap();
    assert_eq!(arr[0].value, Value::Int(5));
    assert_eq!(arr[1].as_map().unwrap().get("r").unwrap().value, s("top"));
    assert_eq!(val(&doc, &["copy", "a"]), &Value::Int(1));
    // The value of a reference is positioned where the reference is written.
    assert_eq!(at(&doc, &["port"]).pos, Pos::new(3, 7));
    // Referenced keys are flagged; the others are not.
    let m = doc.map();
    assert!(m.entry("PORT_VAR").unwrap().referenced);
    assert!(m.entry("TOP").unwrap().referenced);
    assert!(m.entry("base").unwrap().referenced);
    assert!(!m.entry("port").unwrap().referenced);
    assert!(!m.entry("copy").unwrap().referenced);
    let inner = at(&doc, &["inner"]).as_map().unwrap();
    assert!(inner.entry("PORT_VAR").unwrap().referenced);
}

#[test]
fn missing_variable_exact_text() {
    let e = parse_err("a: $nope");
    assert_eq!(
        e.to_string(),
        "test.conf:1:3: variable reference for 'nope' on line 1 can not be found"
    );
    assert_eq!(
        e.nats_text(),
        "variable reference for 'nope' on line 1 can not be found"
    );
    // Defined later is not defined yet.
    let e = parse_err("x: 1\na: $later\nlater: 2\n");
    assert_eq!(
        e.message,
        "variable reference for 'later' on line 2 can not be found"
    );
    // Lookup is case-sensitive.
    let e = parse_err("V: 1\na: $v");
    assert!(e.message.contains("'v'"));
}

#[test]
fn bcrypt_hash_is_literal() {
    let hash = "$2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG";
    let doc = parse(&format!("authorization {{ user: u, password: {hash} }}\n"));
    assert_eq!(val(&doc, &["authorization", "password"]), &s(hash));
}

#[test]
fn environment_variables() {
    let env = |name: &str| -> Option<String> {
        match name {
            "E_PORT" => Some("4222".into()),
            "E_LIST" => Some("[1, 2]".into()),
            "E_STR" => Some("hello".into()),
            "E_BAD" => Some("hello world".into()),
            "E_SELF" => Some("$E_SELF".into()),
            "E_QUOTED" => Some("\"a b\"".into()),
            _ => None,
        }
    };
    let parse_env = |text: &str| parse_str_with_env(text, Path::new("env.conf"), &env);
    let doc = parse_env("p: $E_PORT\nl: $E_LIST\ns: $E_STR\nq: $E_QUOTED\n").unwrap();
    assert_eq!(val(&doc, &["p"]), &Value::Int(4222));
    assert_eq!(strings_or_ints(val(&doc, &["l"])), vec![1, 2]);
    assert_eq!(val(&doc, &["s"]), &s("hello"));
    assert_eq!(val(&doc, &["q"]), &s("a b"));
    // Values from the environment are positioned at the reference.
    let l = at(&doc, &["l"]);
    assert_eq!(l.pos, Pos::new(2, 4));
    assert_eq!(l.as_array().unwrap()[1].pos, Pos::new(2, 4));
    assert_eq!(l.file.as_path(), Path::new("env.conf"));
    // A map variable shadows the environment.
    let doc = parse_env("E_PORT: 1\np: $E_PORT\n").unwrap();
    assert_eq!(val(&doc, &["p"]), &Value::Int(1));

    let e = parse_env("x: 1\nb: $E_BAD").unwrap_err();
    assert_eq!(
        e.message,
        "variable reference for 'E_BAD' on line 2 could not be parsed: Parse error on line 1: \
         'Expected a top-level value to end with a new line, comment or EOF, but got 'w' \
         instead.'"
    );
    let e = parse_env("b: $E_SELF").unwrap_err();
    assert!(
        e.message.starts_with("variable reference for 'E_SELF'"),
        "{e}"
    );
}

#[test]
fn process_environment_is_consulted() {
    let name = format!("GNATSD_CONF_TEST_PORT_{}", std::process::id());
    std::env::set_var(&name, "4333");
    let doc = parse_str(&format!("port: ${name}\n"), Path::new("p.conf")).unwrap();
    std::env::remove_var(&name);
    assert_eq!(val(&doc, &["port"]), &Value::Int(4333));
}

// ----- includes -----

#[test]
fn include_relative_to_including_file() {
    let dir = TempDir::new("inc");
    let main = dir.write(
        "main.conf",
        "port: 1\ninclude inc/a.conf\nblock {\n  include 'inc/b.conf'\n  own: 2\n}\n\
         INCLUDE \"inc/d.conf\" # comment\n",
    );
    let a = dir.write("inc/a.conf", "host: 127.0.0.1\ninclude c.conf\n");
    dir.write("inc/c.conf", "debug: true\n");
    dir.write("inc/b.conf", "user: alice\nport: 9\n");
    dir.write("inc/d.conf", "d: 4\n");
    let doc = parse_file_with_env(&main, &no_env).unwrap();
    assert_eq!(val(&doc, &["port"]), &Value::Int(1));
    assert_eq!(val(&doc, &["host"]), &s("127.0.0.1"));
    assert_eq!(val(&doc, &["debug"]), &Value::Bool(true));
    assert_eq!(val(&doc, &["block", "user"]), &s("alice"));
    assert_eq!(val(&doc, &["block", "port"]), &Value::Int(9));
    assert_eq!(val(&doc, &["block", "own"]), &Value::Int(2));
    assert_eq!(val(&doc, &["d"]), &Value::Int(4));
    // Included values and keys remember their own file and position.
    let host = doc.map().entry("host").unwrap();
    assert_eq!(host.key_file.as_path(), a.as_path());
    assert_eq!(host.value.file.as_path(), a.as_path());
    assert_eq!(host.value.pos, Pos::new(1, 7));
    assert_eq!(at(&doc, &["port"]).file.as_path(), main.as_path());
}

#[test]
fn include_variables() {
    let dir = TempDir::new("incvar");
    // The included file does not see the includer's variables...
    let main = dir.write("main.conf", "V: 1\ninclude x.conf\n");
    dir.write("x.conf", "a: $V\n");
    let e = parse_file_with_env(&main, &no_env).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}:2:1: error parsing include file 'x.conf', variable reference for 'V' on line 1 \
             can not be found",
            main.display()
        )
    );
    assert_eq!(
        e.nats_text(),
        "error parsing include file 'x.conf', variable reference for 'V' on line 1 can not be \
         found"
    );
    // ...but the includer sees what the include defined, and the environment works inside.
    let main = dir.write("main2.conf", "include y.conf\nb: $IV\n");
    dir.write("y.conf", "IV: 7\nfrom_env: $INC_ENV\n");
    let env = |n: &str| (n == "INC_ENV").then(|| "yes".to_string());
    let doc = parse_file_with_env(&main, &env).unwrap();
    assert_eq!(val(&doc, &["b"]), &Value::Int(7));
    assert!(doc.map().entry("IV").unwrap().referenced);
    assert_eq!(val(&doc, &["from_env"]), &Value::Bool(true));
}

#[test]
fn include_errors() {
    let dir = TempDir::new("incerr");
    let main = dir.write("main.conf", "a: 1\n  include nope.conf\n");
    let e = parse_file_with_env(&main, &no_env).unwrap_err();
    let missing = dir.0.join("nope.conf");
    assert_eq!(
        e.message,
        format!(
            "error parsing include file 'nope.conf', open {}: no such file or directory",
            missing.display()
        )
    );
    assert_eq!((e.line, e.col), (2, 3));
    assert_eq!(e.kind, ErrorKind::Parse);

    // A syntax error inside the included file is reported nats-server style.
    let main = dir.write("main2.conf", "include bad.conf\n");
    dir.write("bad.conf", "\nport: 1 host: 2\n");
    let e = parse_file_with_env(&main, &no_env).unwrap_err();
    assert_eq!(
        e.message,
        "error parsing include file 'bad.conf', Parse error on line 2: 'Expected a top-level \
         value to end with a new line, comment or EOF, but got 'h' instead.'"
    );

    // An include cycle stops instead of recursing forever.
    let main = dir.write("self.conf", "include self.conf\n");
    let e = parse_file_with_env(&main, &no_env).unwrap_err();
    assert!(e.message.contains("include cycle"), "{e}");

    let e = parse_err("include [x]");
    assert_eq!(
        e.to_string(),
        "Parse error on line 1: 'Expected include value but found start of an array' (test.conf:1:8)"
    );
    let e = parse_err("include 5.conf");
    assert_eq!(
        e.message,
        "Expected include value but found start of a number"
    );
}

#[test]
fn missing_main_file() {
    let dir = TempDir::new("missing");
    let path = dir.0.join("none.conf");
    let e = parse_file(&path).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Io);
    assert_eq!(
        e.to_string(),
        format!("open {}: no such file or directory", path.display())
    );
    assert_eq!(e.nats_text(), e.to_string());
}

#[test]
fn key_named_include_with_separator_is_a_normal_key() {
    let doc = parse("include: yes\n");
    assert_eq!(val(&doc, &["include"]), &Value::Bool(true));
}

// ----- the reference example (docs/protocol.md §3.2) -----

const REFERENCE_CONF: &str = r#"port = 14240
host 127.0.0.1
server_name: srv1
http: "127.0.0.1:18240"
max_payload: 512KB          # 524288
max_pending = 10MB          # 10485760
max_control_line: 2k        # 2000
ping_interval: "2m"
write_deadline: "5s"
debug: yes
logtime: false
include ./inc/auth.conf     # authorization { user: $USERNAME, password: "p@ss", timeout: 3 }
cluster {
  name: "my-cluster"
  listen: 127.0.0.1:16240
  routes = [
    nats-route://127.0.0.1:16241
    nats-route://user:pw@127.0.0.1:16242
  ]
  no_advertise: true
  connect_retries: 5
}
"#;

#[test]
fn reference_example_config() {
    let dir = TempDir::new("reference");
    let main = dir.write("full.conf", REFERENCE_CONF);
    dir.write(
        "inc/auth.conf",
        "authorization { user: $USERNAME, password: \"p@ss\", timeout: 3 }\n",
    );
    let env = |n: &str| (n == "USERNAME").then(|| "derek".to_string());
    let doc = parse_file_with_env(&main, &env).unwrap();

    assert_eq!(val(&doc, &["port"]), &Value::Int(14240));
    assert_eq!(val(&doc, &["host"]), &s("127.0.0.1"));
    assert_eq!(val(&doc, &["server_name"]), &s("srv1"));
    assert_eq!(val(&doc, &["http"]), &s("127.0.0.1:18240"));
    assert_eq!(val(&doc, &["max_payload"]), &Value::Int(524_288));
    assert_eq!(val(&doc, &["max_pending"]), &Value::Int(10_485_760));
    assert_eq!(val(&doc, &["max_control_line"]), &Value::Int(2000));
    assert_eq!(val(&doc, &["ping_interval"]), &s("2m"));
    assert_eq!(val(&doc, &["write_deadline"]), &s("5s"));
    assert_eq!(val(&doc, &["debug"]), &Value::Bool(true));
    assert_eq!(val(&doc, &["logtime"]), &Value::Bool(false));
    assert_eq!(val(&doc, &["authorization", "user"]), &s("derek"));
    assert_eq!(val(&doc, &["authorization", "password"]), &s("p@ss"));
    assert_eq!(val(&doc, &["authorization", "timeout"]), &Value::Int(3));
    assert_eq!(val(&doc, &["cluster", "name"]), &s("my-cluster"));
    assert_eq!(val(&doc, &["cluster", "listen"]), &s("127.0.0.1:16240"));
    assert_eq!(
        strings(val(&doc, &["cluster", "routes"])),
        vec![
            "nats-route://127.0.0.1:16241",
            "nats-route://user:pw@127.0.0.1:16242"
        ]
    );
    assert_eq!(val(&doc, &["cluster", "no_advertise"]), &Value::Bool(true));
    assert_eq!(val(&doc, &["cluster", "connect_retries"]), &Value::Int(5));
    let keys: Vec<&str> = doc.map().iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        vec![
            "port",
            "host",
            "server_name",
            "http",
            "max_payload",
            "max_pending",
            "max_control_line",
            "ping_interval",
            "write_deadline",
            "debug",
            "logtime",
            "authorization",
            "cluster"
        ]
    );
    // The included block points into the included file.
    let auth = doc.map().entry("authorization").unwrap();
    assert_eq!(
        auth.key_file.as_path(),
        dir.0.join("./inc/auth.conf").as_path()
    );
    assert_eq!(auth.key_pos, Pos::new(1, 1));

    // And it deserializes into typed options.
    let opts: RefOpts = from_document(&doc).unwrap();
    assert_eq!(opts.port, 14240);
    assert_eq!(opts.max_payload, 524_288);
    assert_eq!(opts.authorization.user, "derek");
    assert_eq!(opts.authorization.timeout, 3.0);
    assert_eq!(opts.cluster.routes.len(), 2);
    assert_eq!(
        parse_duration(&opts.ping_interval),
        Some(Duration::from_secs(120))
    );
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RefOpts {
    port: i32,
    #[serde(alias = "net")]
    host: String,
    server_name: String,
    http: String,
    max_payload: i64,
    max_pending: i64,
    max_control_line: i32,
    ping_interval: String,
    write_deadline: String,
    debug: bool,
    logtime: bool,
    authorization: RefAuth,
    cluster: RefCluster,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RefAuth {
    #[serde(alias = "username")]
    user: String,
    #[serde(alias = "pass")]
    password: String,
    timeout: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RefCluster {
    name: String,
    listen: String,
    routes: Vec<String>,
    no_advertise: bool,
    connect_retries: u32,
}

// ----- serde -----

#[derive(Debug, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
struct Opts {
    port: Option<u16>,
    #[serde(alias = "net")]
    host: Option<String>,
    debug: Option<bool>,
    max_payload: Option<i64>,
    timeout: Option<f64>,
    cluster: Option<Cluster>,
    tags: Option<Vec<String>>,
    mode: Option<Mode>,
    #[serde(default, deserialize_with = "de_duration")]
    ping_interval: Option<Duration>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Cluster {
    name: Option<String>,
    routes: Option<Vec<String>>,
    no_advertise: Option<bool>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Mode {
    Fast,
    Slow,
}

fn de_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text)
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("invalid duration {text:?}")))
}

fn opts(text: &str) -> Result<Opts, ConfigError> {
    from_document(&parse(text))
}

#[test]
fn serde_basic_and_case_insensitive_keys() {
    let o = opts(
        "PORT: 4222\nNet: 0.0.0.0\nDebug: true\nmax_payload: 1MB\ntimeout: 2\n\
         cluster { Name: c1, routes: [a, b], NO_ADVERTISE: on }\ntags: [x]\nmode: slow\n\
         ping_interval: \"1m30s\"\n",
    )
    .unwrap();
    assert_eq!(
        o,
        Opts {
            port: Some(4222),
            host: Some("0.0.0.0".into()),
            debug: Some(true),
            max_payload: Some(1_048_576),
            timeout: Some(2.0),
            cluster: Some(Cluster {
                name: Some("c1".into()),
                routes: Some(vec!["a".into(), "b".into()]),
                no_advertise: Some(true),
            }),
            tags: Some(vec!["x".into()]),
            mode: Some(Mode::Slow),
            ping_interval: Some(Duration::from_secs(90)),
        }
    );
    assert_eq!(opts("").unwrap(), Opts::default());
}

#[test]
fn serde_same_name_in_two_spellings_last_wins() {
    let o = opts("port: 1\nPORT: 2\n").unwrap();
    assert_eq!(o.port, Some(2));
}

#[test]
fn serde_unknown_field_points_at_key() {
    let e = opts("port: 4222\nhost: x\nX: 1\n").unwrap_err();
    assert_eq!(e.to_string(), "test.conf:3:1: unknown field \"X\"");
    assert_eq!(e.kind, ErrorKind::Value);
    assert_eq!(e.nats_text(), "test.conf:3:1: unknown field \"X\"");
    let e = opts("port: 4222\n  Bogus_Key = { a: 1 }\n").unwrap_err();
    assert_eq!(e.to_string(), "test.conf:2:3: unknown field \"Bogus_Key\"");
    let e = opts("cluster {\n  name: a\n  bogus: 1\n}\n").unwrap_err();
    assert_eq!(e.to_string(), "test.conf:3:3: unknown field \"bogus\"");
}

#[test]
fn serde_type_errors_point_at_the_key_of_a_scalar() {
    // As nats-server reports them: at the key; inside a list, at the element.
    let e = opts("port: \"4222\"\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "test.conf:1:0: invalid type: string \"4222\", expected u16"
    );
    let e = opts("debug: false\nport: 70000\n").unwrap_err();
    assert_eq!((e.line, e.col), (2, 1));
    assert!(e.message.contains("70000"), "{e}");
    let e = opts("port: 1.5").unwrap_err();
    assert!(e.message.contains("invalid type: floating point"), "{e}");
    let e = opts("host: 4222").unwrap_err();
    assert_eq!(
        e.to_string(),
        "test.conf:1:0: invalid type: integer `4222`, expected a string"
    );
    let e = opts("cluster {\n  routes: [a, 5]\n}\n").unwrap_err();
    assert_eq!((e.line, e.col), (2, 15));
    let e = opts("cluster: 5").unwrap_err();
    assert_eq!((e.line, e.col), (1, 1));
    let e = opts("mode: bogus").unwrap_err();
    assert_eq!((e.line, e.col), (1, 1));
    assert!(e.message.contains("unknown variant"), "{e}");
    let e = opts("\nping_interval: 5x").unwrap_err();
    assert_eq!(e.to_string(), "test.conf:2:1: invalid duration \"5x\"");
}

#[test]
fn serde_missing_field_points_at_map() {
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        inner: Inner,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        name: String,
    }
    let e = from_document::<Outer>(&parse("x: 1\ninner {\n other: 1\n}\n")).unwrap_err();
    assert_eq!(e.to_string(), "test.conf:2:7: missing field `name`");
    let e = from_document::<Outer>(&parse("x: 1\n")).unwrap_err();
    assert_eq!(e.to_string(), "test.conf:1:0: missing field `inner`");
}

#[test]
fn serde_variables_only_used_as_variables_are_not_unknown() {
    let o = opts("MYPORT: 4222\nport: $MYPORT\n").unwrap();
    assert_eq!(o.port, Some(4222));
    // Unused: reported like nats-server does.
    let e = opts("UNUSED: 1\nport: 2\n").unwrap_err();
    assert_eq!(e.to_string(), "test.conf:1:0: unknown field \"UNUSED\"");
    // A referenced key that is also an option is still the option.
    let o = opts("debug: true\nport: 1\ncluster { no_advertise: $debug }\n").unwrap();
    assert_eq!(o.debug, Some(true));
    // Variables inside blocks are skipped too.
    let o = opts("cluster {\n  N: c9\n  name: $N\n}\n").unwrap();
    assert_eq!(o.cluster.unwrap().name.as_deref(), Some("c9"));
}

#[test]
fn serde_unknown_field_in_included_file_points_there() {
    let dir = TempDir::new("serdeinc");
    let main = dir.write("main.conf", "port: 1\ninclude extra.conf\n");
    let extra = dir.write("extra.conf", "\n\n   nonsense: 1\n");
    let doc = parse_file_with_env(&main, &no_env).unwrap();
    let e = from_document::<Opts>(&doc).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}:3:4: unknown field \"nonsense\"", extra.display())
    );
}

#[test]
fn serde_flexible_targets() {
    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(untagged)]
    enum Perm {
        One(String),
        Many(Vec<String>),
        Full {
            allow: Vec<String>,
            deny: Option<Vec<String>>,
        },
    }
    #[derive(Debug, Deserialize, PartialEq)]
    struct Loose {
        a: i8,
        b: u64,
        c: f32,
        d: char,
        e: HashMap<String, i64>,
        f: Vec<Perm>,
        g: (i32, String),
        h: String,
        i: Option<bool>,
        j: Wrapper,
        k: Tagged,
    }
    #[derive(Debug, Deserialize, PartialEq)]
    struct Wrapper(i64);
    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Tagged {
        Limit(i64),
    }
    let doc = parse(concat!(
        "A: -5\nb: 1GB\nc: 7\nd: x\ne { One: 1, TWO: 2 }\n",
        "f: [foo, [a, b], { Allow: [x], deny: [y] }]\n",
        "g: [1, two]\nh: 2019-01-01T00:00:00Z\ni: no\nj: 9\nk { Limit: 3 }\n",
        "unknown_is_ignored: { deep: [1] }\n",
    ));
    let loose: Loose = from_document(&doc).unwrap();
    assert_eq!(loose.a, -5);
    assert_eq!(loose.b, 1 << 30);
    assert_eq!(loose.c, 7.0);
    assert_eq!(loose.d, 'x');
    // Keys of a map keep their case (account names are case-sensitive, as in nats-server);
    // only struct fields match without regard to case.
    assert_eq!(loose.e.get("One"), Some(&1));
    assert_eq!(loose.e.get("TWO"), Some(&2));
    assert_eq!(
        loose.f,
        vec![
            Perm::One("foo".into()),
            Perm::Many(vec!["a".into(), "b".into()]),
            Perm::Full {
                allow: vec!["x".into()],
                deny: Some(vec!["y".into()])
            },
        ]
    );
    assert_eq!(loose.g, (1, "two".to_string()));
    assert_eq!(loose.h, "2019-01-01T00:00:00Z");
    assert_eq!(loose.i, Some(false));
    assert_eq!(loose.j, Wrapper(9));
    assert_eq!(loose.k, Tagged::Limit(3));

    // Tuples check their length; small integers check their range.
    let e = from_spanned::<(i32,)>(at(&parse("t: [1, 2]"), &["t"])).unwrap_err();
    assert!(e.message.contains("invalid length"), "{e}");
    let e = from_spanned::<i8>(at(&parse("\nt: 300"), &["t"])).unwrap_err();
    assert_eq!((e.line, e.col), (2, 4));
    // Values can be deserialized on their own.
    let v: Vec<u16> = from_spanned(at(&parse("t: [1, 2]"), &["t"])).unwrap();
    assert_eq!(v, vec![1, 2]);
}

#[test]
fn serde_into_generic_json_value() {
    let doc = parse("A: 1\nb: [true, 1.5, \"s\"]\nc { D: x }\n");
    let v: serde_json::Value = from_document(&doc).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"A": 1, "b": [true, 1.5, "s"], "c": {"D": "x"}})
    );
}

// ----- durations -----

#[test]
fn durations() {
    let ok: &[(&str, Duration)] = &[
        ("2s", Duration::from_secs(2)),
        ("500ms", Duration::from_millis(500)),
        ("1m30s", Duration::from_secs(90)),
        ("1h", Duration::from_secs(3600)),
        ("1.5s", Duration::from_millis(1500)),
        ("100us", Duration::from_micros(100)),
        ("100µs", Duration::from_micros(100)),
        ("100μs", Duration::from_micros(100)),
        ("10ns", Duration::from_nanos(10)),
        ("0", Duration::ZERO),
        ("-0", Duration::ZERO),
        ("0s", Duration::ZERO),
        ("+5s", Duration::from_secs(5)),
        (".5s", Duration::from_millis(500)),
        ("1.s", Duration::from_secs(1)),
        ("2m", Duration::from_secs(120)),
        ("1h2m3s4ms5us6ns", Duration::new(3723, 4_005_006)),
        ("0.000000001s", Duration::from_nanos(1)),
        ("2562047h", Duration::from_secs(2_562_047 * 3600)),
    ];
    for (text, want) in ok {
        assert_eq!(parse_duration(text), Some(*want), "{text}");
    }
    for bad in [
        "",
        "5",
        "s",
        "1x",
        "-1s",
        "1.5.5s",
        "9999999999h",
        "1 s",
        " 1s",
        "1sm",
        ".s",
        "+",
        "-",
        "2562048h",
    ] {
        assert_eq!(parse_duration(bad), None, "{bad:?}");
    }
}

// ----- robustness -----

/// A tiny deterministic PRNG so the sweep needs no extra crates.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn exercise(text: &str) {
    // Includes are resolved against a directory that does not exist, so the sweep never
    // reads real files; environment lookups return text that itself refers to variables.
    let env = |name: &str| match name.len() % 3 {
        0 => None,
        1 => Some(format!("${name}")),
        _ => Some("[1, {a: $x}]".to_string()),
    };
    let file = Path::new("/nonexistent-gnatsd-conf-fuzz/fuzz.conf");
    if let Ok(doc) = parse_str_with_env(text, file, &env) {
        let _ = from_document::<Opts>(&doc);
        let _ = from_document::<serde_json::Value>(&doc);
        let _ = from_document::<HashMap<String, String>>(&doc);
    }
}

#[test]
fn random_input_never_panics() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..3000 {
        let len = rng.below(120);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        exercise(&String::from_utf8_lossy(&bytes));
    }
    const PIECES: &[&str] = &[
        " ",
        "\n",
        "\r\n",
        "\t",
        "{",
        "}",
        "[",
        "]",
        "(",
        ")",
        ":",
        "=",
        ",",
        ";",
        "#",
        "//",
        "/",
        "\"",
        "'",
        "\\",
        "\\x",
        "\\q",
        "$",
        "$x",
        "$2a$",
        "a",
        "port",
        "include ",
        "include",
        "1",
        "42",
        "-",
        ".",
        "1.5",
        "2k",
        "1MB",
        "1e",
        "b",
        "i",
        "2019-01-01T00:00:00Z",
        "2019-",
        "127.0.0.1:4222",
        "true",
        "é",
        "\u{feff}",
        "\n)\n",
        "x: ",
        "m {",
        "a [",
    ];
    for _ in 0..6000 {
        let n = rng.below(40);
        let text: String = (0..n).map(|_| PIECES[rng.below(PIECES.len())]).collect();
        exercise(&text);
    }
}

#[test]
fn every_prefix_of_a_real_config_is_handled() {
    let text = format!(
        "{REFERENCE_CONF}\nblk (\nline\n)\ns: \"a\\x41\\t\"\nv: $port\nd: 2019-01-01T00:00:00Z\n"
    );
    let chars: Vec<char> = text.chars().collect();
    for end in 0..=chars.len() {
        let prefix: String = chars[..end].iter().collect();
        exercise(&prefix);
    }
}

#[test]
fn deepest_allowed_nesting_deserializes() {
    let arrays = format!("a: {}1{}\n", "[".repeat(100), "]".repeat(100));
    let maps = format!("{}x: 1{}\n", "m {".repeat(100), "}".repeat(100));
    for text in [arrays, maps] {
        let doc = parse(&text);
        let v: serde_json::Value = from_document(&doc).unwrap();
        assert!(v.is_object());
        assert!(from_document::<Opts>(&doc).is_err());
    }
    let e = parse_err(&format!("a: {}", "[".repeat(101)));
    assert_eq!(
        e.to_string(),
        "Parse error on line 1: 'Maps and arrays are nested too deeply (the limit is 100).' (test.conf:1:103)"
    );
}

#[test]
fn error_helpers_locate_values_and_keys() {
    let doc = parse("a: 1\n  b: [x]\n");
    let b = doc.map().entry("b").unwrap();
    assert_eq!(b.value.error("bad b").to_string(), "test.conf:2:6: bad b");
    assert_eq!(b.key_error("bad key").to_string(), "test.conf:2:3: bad key");
    assert_eq!(b.value.as_array().unwrap()[0].as_str(), Some("x"));
    assert_eq!(at(&doc, &["a"]).as_float(), Some(1.0));
    assert_eq!(at(&doc, &["a"]).value.type_name(), "integer");
}

#[test]
fn parse_str_resolves_includes_next_to_the_named_file() {
    let dir = TempDir::new("parsestr");
    dir.write("sub/part.conf", "x: 1\n");
    let doc = parse_str("include sub/part.conf\n", &dir.0.join("virtual.conf")).unwrap();
    assert_eq!(val(&doc, &["x"]), &Value::Int(1));
}
