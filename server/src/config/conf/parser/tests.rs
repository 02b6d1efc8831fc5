//! Parser behaviour the module-wide tests (`conf/tests.rs`) do not pin down: the rarer
//! error texts and positions, the position bookkeeping, hostile input.

use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

/// The error for `text`, as `line:col: message`, or the parsed map's debug text.
fn outcome(text: &str) -> String {
    match parse_text(text, Path::new("t.conf"), &no_env) {
        Ok(doc) => format!("ok {:?}", doc.root.value),
        Err(e) => format!("{}:{}: {}", e.line, e.col, e.message),
    }
}

#[test]
fn key_errors() {
    for (text, want) in [
        ("m { abc", "1:8: Unexpected EOF processing map key."),
        ("m { 'abc", "1:9: Unexpected EOF processing quoted map key."),
        (
            "m { \"abc",
            "1:9: Unexpected EOF processing double quoted map key.",
        ),
        ("= 1", "1:1: Unexpected key separator '='"),
        ("m { = 1 }", "1:5: Unexpected key separator '='."),
        ("'k", "1:3: Unexpected EOF."),
    ] {
        assert_eq!(outcome(text), want, "{text:?}");
    }
}

#[test]
fn include_value_errors() {
    for (text, want) in [
        (
            "include {x}",
            "1:9: Expected include value but found start of a map",
        ),
        (
            "include (x",
            "1:9: Expected include value but found start of a block",
        ),
        (
            "include \\x",
            "1:9: Expected include value but found escape sequence",
        ),
        (
            "include -1",
            "1:9: Expected include value but found start of a number",
        ),
        (
            "include\nx",
            "1:8: Expected include value but found new line",
        ),
        ("include ", "1:9: Expected include value but found EOF"),
        ("include 'x", "1:11: Unexpected EOF in quoted include"),
        ("include \"x", "1:11: Unexpected EOF in quoted include"),
    ] {
        assert_eq!(outcome(text), want, "{text:?}");
    }
    // Without anything after it, `include` is a lone key and ignored.
    assert_eq!(outcome("include"), "ok Map(Map { entries: [] })");
}

#[test]
fn value_errors() {
    let huge = format!("a: 1{}.5", "0".repeat(330));
    let huge_text = format!("1:4: float '{}' is out of the range", &huge[3..]);
    for (text, want) in [
        ("a: -", "1:5: Expected a digit but got ''."),
        ("a: -\n", "1:5: Expected a digit but got '\\n'."),
        (
            "a: \"\\x",
            "1:7: Expected two hexadecimal digits after '\\x', but hit end of line",
        ),
        (
            "a: x\\xZ",
            "1:7: Expected two hexadecimal digits after '\\x', but hit end of line",
        ),
        ("a: foo\\", "1:8: Unexpected EOF."),
        (
            "a: \"\\\n\"",
            "1:6: Invalid escape character '\\n'. Only the following escape characters \
             are allowed: \\xXX, \\t, \\n, \\r, \\\", \\\\.",
        ),
        (
            "a: 9223372036854775807k",
            "1:4: integer '9223372036854775807k' is out of the range",
        ),
        (
            "a: -9223372036854775809",
            "1:4: integer '-9223372036854775809' is out of the range",
        ),
        (&huge, &huge_text),
        ("a: [\n", "2:1: Unexpected EOF processing array."),
        (
            "a: [1,\n  2\n  ,]",
            "3:3: Unexpected array value terminator ','.",
        ),
        (
            "a: 'x' y",
            "1:8: Expected a top-level value to end with a new line, comment or EOF, but \
             got 'y' instead.",
        ),
    ] {
        assert_eq!(outcome(text), want, "{text:?}");
    }
    let doc = parse_text("a: -9223372036854775808", Path::new("t"), &no_env);
    assert_eq!(
        doc.ok().and_then(|d| d.get("a").and_then(Spanned::as_int)),
        Some(i64::MIN)
    );
}

#[test]
fn error_columns_count_characters_and_carriage_returns() {
    assert_eq!(
        outcome("é: [1, ü 2]"),
        "1:10: Expected an array value terminator \",\" or an array terminator \"]\", but got \
         '2' instead."
    );
    assert_eq!(
        outcome("x {\n  é: \"ü\" y\n}"),
        "2:10: Expected a map value terminator \",\" or a map terminator \"}\", but got 'y' \
         instead."
    );
    // `\r` is an ordinary character for columns; only `\n` starts a line.
    assert_eq!(
        outcome("a: 1\r\nb: [1 x]"),
        "2:7: Expected an array value terminator \",\" or an array terminator \"]\", but got \
         'x' instead."
    );
    assert_eq!(
        outcome("a: \"x\ry\" z"),
        "1:10: Expected a top-level value to end with a new line, comment or EOF, but got \
         'z' instead."
    );
}

#[test]
fn lesser_forms() {
    let ok = |text: &str| parse_text(text, Path::new("t.conf"), &no_env);
    // Any Unicode whitespace separates a key from its value.
    let doc = ok("a\u{a0}1").ok();
    assert_eq!(
        doc.and_then(|d| d.get("a").and_then(Spanned::as_int)),
        Some(1)
    );
    // A block string may be an array element.
    let doc = ok("a: [(\nx\n)\n]").ok();
    let first = doc
        .as_ref()
        .and_then(|d| d.get("a"))
        .and_then(Spanned::as_array)
        .and_then(|a| a.first())
        .and_then(Spanned::as_str)
        .map(str::to_string);
    assert_eq!(first.as_deref(), Some("\nx\n"));
    // After a date, an address or a float a comment may follow directly.
    for (text, want) in [
        (
            "a: 2019-01-01T00:00:00Z#c",
            Value::Date("2019-01-01T00:00:00Z".into()),
        ),
        ("a: 1.5.6:7-8 #c", Value::String("1.5.6:7-8".into())),
        ("a: 1.5//c", Value::Float(1.5)),
        ("a: 1e400", Value::String("1e400".into())),
    ] {
        let got = ok(text)
            .ok()
            .and_then(|d| d.get("a").map(|v| v.value.clone()));
        assert_eq!(got, Some(want), "{text:?}");
    }
}

/// Line and column of byte `offset`, the slow obvious way.
fn naive_pos(text: &str, offset: usize) -> Pos {
    let before = &text[..offset];
    let line = 1 + before.matches('\n').count() as u32;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Pos::new(line, 1 + before[line_start..].chars().count() as u32)
}

#[test]
fn positions_agree_with_a_naive_count_in_any_order() {
    let text = "ab\néü\r\n\n  x: \"1\n2\"\t€\n\n\n#é\nlast";
    let lines = Lines::new(text);
    let offsets: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain([text.len()])
        .collect();
    // Forwards, backwards and jumping about (the cache must restart when going back).
    let mut order = offsets.clone();
    order.extend(offsets.iter().rev());
    order.extend(offsets.iter().step_by(3));
    order.extend(offsets.iter().rev().step_by(2));
    for offset in order {
        assert_eq!(
            lines.pos(&text[offset..]),
            naive_pos(text, offset),
            "offset {offset}"
        );
    }
}

#[test]
fn key_and_value_positions_over_many_lines() {
    // Keys after varied filler: comments, CRLF, multi-line strings, wide characters.
    let mut text = String::new();
    let mut expected = Vec::new();
    for n in 0..300 {
        match n % 5 {
            0 => text.push_str("# comment é\n"),
            1 => text.push_str("\r\n"),
            2 => text.push_str("  // ü €\n"),
            _ => {}
        }
        text.push_str(&" ".repeat(n % 4));
        let key_offset = text.len();
        text.push_str(&format!("k{n}"));
        text.push_str(if n % 2 == 0 { ": " } else { " = " });
        let value_offset = text.len();
        text.push_str(match n % 3 {
            0 => "\"multi\nline é\"\n",
            1 => "[1, 'ü',\n 2]\n",
            _ => "v€\n",
        });
        expected.push((format!("k{n}"), key_offset, value_offset));
    }
    let doc = match parse_text(&text, Path::new("t.conf"), &no_env) {
        Ok(doc) => doc,
        Err(e) => panic!("{e}"),
    };
    for (key, key_offset, value_offset) in expected {
        let Some(entry) = doc.map().entry(&key) else {
            panic!("missing {key}");
        };
        assert_eq!(entry.key_pos, naive_pos(&text, key_offset), "key {key}");
        assert_eq!(
            entry.value.pos,
            naive_pos(&text, value_offset),
            "value of {key}"
        );
    }
}

#[test]
fn hostile_nesting_is_refused_without_overflowing_the_stack() {
    let deep = "Maps and arrays are nested too deeply (the limit is 100).";
    for (text, col) in [
        (format!("a: {}", "[".repeat(100_000)), 104),
        // Inside a map `{` is first read as a one-character key, then as its value.
        (format!("a: {}", "{".repeat(100_000)), 4 + 2 * 100),
        (format!("a: {}", "[{a: ".repeat(50_000)), 4 + 50 * 5),
        ("a {".repeat(100_000), 100 * 3 + 3),
    ] {
        assert_eq!(outcome(&text), format!("1:{col}: {deep}"));
    }
    // At the top level `{` and `}` are skipped, not nested, and a run of `[` is a lone
    // key (no value follows), which is ignored.
    for text in [
        "{".repeat(100_000),
        "}".repeat(100_000),
        "[".repeat(100_000),
    ] {
        assert_eq!(outcome(&text), "ok Map(Map { entries: [] })");
    }
    // The limit also holds through environment variables.
    let env = |_: &str| Some("[".repeat(100_000));
    let e = parse_text("a: $DEEP", Path::new("t.conf"), &env).err();
    assert!(e.is_some_and(|e| e.message.contains(deep)));
}

/// A tiny deterministic PRNG, so the sweep needs no extra crates.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn mutated_configs_fail_inside_the_text() {
    // Random edits of a real configuration either parse or fail at a position that exists
    // in the text (line within it, column within that line plus one).
    let base = "port: 4222\nhost: \"0.0.0.0\"\ncluster {\n  name: c1 # x\n  routes = [\n    \
                nats://a:1\n    'b'\n  ]\n  size: 1MB\n}\nblk (\nz\n)\nd: 2019-01-01T00:00:00Z\n";
    let alphabet: Vec<char> = " \n\t{}[]():=,;#/\"'\\$x1.-kBé".chars().collect();
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..3000 {
        let mut chars: Vec<char> = base.chars().collect();
        for _ in 0..1 + xorshift(&mut state) % 4 {
            let at = (xorshift(&mut state) as usize) % (chars.len() + 1);
            let c = alphabet[(xorshift(&mut state) as usize) % alphabet.len()];
            match xorshift(&mut state) % 3 {
                0 if at < chars.len() => chars[at] = c,
                1 if at < chars.len() => {
                    chars.remove(at);
                }
                _ => chars.insert(at, c),
            }
        }
        let text: String = chars.into_iter().collect();
        let Err(e) = parse_text(&text, Path::new("/nonexistent/t.conf"), &no_env) else {
            continue;
        };
        if e.kind == ErrorKind::Syntax {
            let lines: Vec<&str> = text.split('\n').collect();
            let line = lines.get(e.line as usize - 1);
            let width = line.map_or(0, |l| l.chars().count() as u32);
            assert!(
                line.is_some() && e.col >= 1 && e.col <= width + 1,
                "{e} in {text:?}"
            );
        }
    }
}
