//! Go's JSON syntax check (`encoding/json.checkValid`), and walking over text it accepted.
//!
//! Go checks the whole document before it decodes any of it: a syntax error anywhere fails the
//! decode, even inside a member no struct field wants, and so does nesting deeper than
//! [`MAX_DEPTH`] arrays and objects. [`check_valid`] is Go's scanner transcribed state for
//! state, with its error texts (nats-server logs them), on an explicit stack: no recursion, so
//! deep input costs memory in proportion to its length and never the thread's stack.
//!
//! Once a document passed, the decoder walks it with [`value_end`], [`Members`] and
//! [`Elements`], which can then skip a value of any size by syntax alone. They still never
//! index out of bounds, so a bug here ends a decode early instead of panicking on client input.

use memchr::memchr2;

/// Go's `maxNestingDepth`: arrays and objects may nest this deep, one more is an error.
pub(super) const MAX_DEPTH: usize = 10_000;

/// What an open array or object expects next (Go's `parseObjectKey` and friends).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Open {
    ObjectKey,
    ObjectValue,
    ArrayValue,
}

/// Go's scanner states (`stateBeginValue` and friends), one variant per function.
#[derive(Clone, Copy)]
enum Step {
    BeginValue,
    BeginValueOrEmpty,
    BeginStringOrEmpty,
    BeginString,
    EndValue,
    EndTop,
    InString,
    InStringEsc,
    /// Inside `\u`, this many hex digits read.
    InStringEscU(u8),
    Neg,
    One,
    Zero,
    Dot,
    Dot0,
    E,
    ESign,
    E0,
    /// Inside `true`, `false` or `null`, this many bytes of the word read.
    Literal(&'static [u8], usize),
}

struct Scanner {
    step: Step,
    open: Vec<Open>,
    end_top: bool,
}

/// Checks `input` as Go's `json.Unmarshal` does before decoding: one JSON value, surrounded by
/// nothing but spaces, tabs, CRs and LFs, nested at most [`MAX_DEPTH`] deep. The error is Go's
/// text (`invalid character 'x' after top-level value`, `unexpected end of JSON input`, …).
pub(super) fn check_valid(input: &[u8]) -> Result<(), String> {
    let mut scanner = Scanner {
        step: Step::BeginValue,
        open: Vec::new(),
        end_top: false,
    };
    for &c in input {
        scanner.step(c)?;
    }
    // Go's `eof`: a space ends a number that ends the input, and a trailing half value fails
    // with what that space means to it, or else as an unexpected end.
    if scanner.end_top {
        return Ok(());
    }
    let ended = scanner.step(b' ');
    if scanner.end_top {
        return Ok(());
    }
    ended?;
    Err("unexpected end of JSON input".into())
}

impl Scanner {
    fn step(&mut self, c: u8) -> Result<(), String> {
        match self.step {
            Step::BeginValue => self.begin_value(c),
            Step::BeginValueOrEmpty => {
                if is_space(c) {
                    Ok(())
                } else if c == b']' {
                    self.end_value(c)
                } else {
                    self.begin_value(c)
                }
            }
            Step::BeginStringOrEmpty => {
                if is_space(c) {
                    Ok(())
                } else if c == b'}' {
                    if let Some(top) = self.open.last_mut() {
                        *top = Open::ObjectValue;
                    }
                    self.end_value(c)
                } else {
                    self.begin_string(c)
                }
            }
            Step::BeginString => self.begin_string(c),
            Step::EndValue => self.end_value(c),
            Step::EndTop => end_top(c),
            Step::InString => match c {
                b'"' => self.next(Step::EndValue),
                b'\\' => self.next(Step::InStringEsc),
                0..=0x1f => Err(error(c, "in string literal")),
                _ => Ok(()),
            },
            Step::InStringEsc => match c {
                b'b' | b'f' | b'n' | b'r' | b't' | b'\\' | b'/' | b'"' => self.next(Step::InString),
                b'u' => self.next(Step::InStringEscU(0)),
                _ => Err(error(c, "in string escape code")),
            },
            Step::InStringEscU(read) => {
                if !c.is_ascii_hexdigit() {
                    return Err(error(c, "in \\u hexadecimal character escape"));
                }
                self.next(if read == 3 {
                    Step::InString
                } else {
                    Step::InStringEscU(read + 1)
                })
            }
            Step::Neg => match c {
                b'0' => self.next(Step::Zero),
                b'1'..=b'9' => self.next(Step::One),
                _ => Err(error(c, "in numeric literal")),
            },
            Step::One if c.is_ascii_digit() => Ok(()),
            Step::One | Step::Zero => match c {
                b'.' => self.next(Step::Dot),
                b'e' | b'E' => self.next(Step::E),
                _ => self.end_value(c),
            },
            Step::Dot if c.is_ascii_digit() => self.next(Step::Dot0),
            Step::Dot => Err(error(c, "after decimal point in numeric literal")),
            Step::Dot0 => match c {
                b'0'..=b'9' => Ok(()),
                b'e' | b'E' => self.next(Step::E),
                _ => self.end_value(c),
            },
            Step::E if c == b'+' || c == b'-' => self.next(Step::ESign),
            Step::E | Step::ESign if c.is_ascii_digit() => self.next(Step::E0),
            Step::E | Step::ESign => Err(error(c, "in exponent of numeric literal")),
            Step::E0 if c.is_ascii_digit() => Ok(()),
            Step::E0 => self.end_value(c),
            Step::Literal(word, read) => {
                let expected = word.get(read).copied().unwrap_or(b' ');
                if c != expected {
                    let word_text = std::str::from_utf8(word).unwrap_or("literal");
                    return Err(error(
                        c,
                        &format!(
                            "in literal {word_text} (expecting {})",
                            quote_char(expected)
                        ),
                    ));
                }
                self.next(if read + 1 == word.len() {
                    Step::EndValue
                } else {
                    Step::Literal(word, read + 1)
                })
            }
        }
    }

    fn next(&mut self, step: Step) -> Result<(), String> {
        self.step = step;
        Ok(())
    }

    fn begin_value(&mut self, c: u8) -> Result<(), String> {
        match c {
            _ if is_space(c) => Ok(()),
            b'{' => {
                self.step = Step::BeginStringOrEmpty;
                self.push(c, Open::ObjectKey)
            }
            b'[' => {
                self.step = Step::BeginValueOrEmpty;
                self.push(c, Open::ArrayValue)
            }
            b'"' => self.next(Step::InString),
            b'-' => self.next(Step::Neg),
            b'0' => self.next(Step::Zero),
            b'1'..=b'9' => self.next(Step::One),
            // The first byte is read here; the literal state checks the rest.
            b't' => self.next(Step::Literal(b"true", 1)),
            b'f' => self.next(Step::Literal(b"false", 1)),
            b'n' => self.next(Step::Literal(b"null", 1)),
            _ => Err(error(c, "looking for beginning of value")),
        }
    }

    fn begin_string(&mut self, c: u8) -> Result<(), String> {
        match c {
            _ if is_space(c) => Ok(()),
            b'"' => self.next(Step::InString),
            _ => Err(error(c, "looking for beginning of object key string")),
        }
    }

    fn push(&mut self, c: u8, open: Open) -> Result<(), String> {
        if self.open.len() >= MAX_DEPTH {
            return Err(error(c, "exceeded max depth"));
        }
        self.open.push(open);
        Ok(())
    }

    fn pop(&mut self) {
        self.open.pop();
        if self.open.is_empty() {
            self.step = Step::EndTop;
            self.end_top = true;
        } else {
            self.step = Step::EndValue;
        }
    }

    fn end_value(&mut self, c: u8) -> Result<(), String> {
        let Some(top) = self.open.last_mut() else {
            // The top-level value ended before this byte.
            self.step = Step::EndTop;
            self.end_top = true;
            return end_top(c);
        };
        if is_space(c) {
            self.step = Step::EndValue;
            return Ok(());
        }
        match (*top, c) {
            (Open::ObjectKey, b':') => {
                *top = Open::ObjectValue;
                self.next(Step::BeginValue)
            }
            (Open::ObjectKey, _) => Err(error(c, "after object key")),
            (Open::ObjectValue, b',') => {
                *top = Open::ObjectKey;
                self.next(Step::BeginString)
            }
            (Open::ObjectValue, b'}') | (Open::ArrayValue, b']') => {
                self.pop();
                Ok(())
            }
            (Open::ObjectValue, _) => Err(error(c, "after object key:value pair")),
            (Open::ArrayValue, b',') => self.next(Step::BeginValue),
            (Open::ArrayValue, _) => Err(error(c, "after array element")),
        }
    }
}

fn end_top(c: u8) -> Result<(), String> {
    if is_space(c) {
        Ok(())
    } else {
        Err(error(c, "after top-level value"))
    }
}

/// JSON's four whitespace bytes, the only ones Go skips.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// Go's `SyntaxError` text for byte `c`.
fn error(c: u8, context: &str) -> String {
    format!("invalid character {} {context}", quote_char(c))
}

/// Go's `quoteChar`: the byte as a character in single quotes, escaped the way
/// `strconv.Quote` escapes it (a byte of 0x80 and above stands for the Latin-1 character).
fn quote_char(c: u8) -> String {
    match c {
        b'\'' => r"'\''".into(),
        b'"' => "'\"'".into(),
        b'\\' => r"'\\'".into(),
        0x07 => r"'\a'".into(),
        0x08 => r"'\b'".into(),
        0x0c => r"'\f'".into(),
        b'\n' => r"'\n'".into(),
        b'\r' => r"'\r'".into(),
        b'\t' => r"'\t'".into(),
        0x0b => r"'\v'".into(),
        0x20..=0x7e => format!("'{}'", c as char),
        0x00..=0x7f => format!(r"'\x{c:02x}'"),
        // Go's strconv.IsPrint: C1 controls, the no-break space and the soft hyphen are not.
        0x80..=0xa0 | 0xad => format!(r"'\u{c:04x}'"),
        _ => format!("'{}'", char::from(c)),
    }
}

/// Skips JSON whitespace from `at`.
pub(super) fn skip_space(text: &[u8], mut at: usize) -> usize {
    while text.get(at).is_some_and(|&c| is_space(c)) {
        at += 1;
    }
    at
}

/// Where the value that starts at `at` ends (one past its last byte), in text that passed
/// [`check_valid`].
pub(super) fn value_end(text: &[u8], at: usize) -> usize {
    match text.get(at) {
        Some(b'"') => string_end(text, at),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut i = at;
            while let Some(&c) = text.get(i) {
                match c {
                    b'"' => {
                        i = string_end(text, i);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            return i + 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            text.len()
        }
        // A number or a literal runs up to the byte that ends it.
        Some(_) => {
            let mut i = at;
            while text
                .get(i)
                .is_some_and(|&c| !is_space(c) && !matches!(c, b',' | b']' | b'}'))
            {
                i += 1;
            }
            i
        }
        None => text.len(),
    }
}

/// One past the closing quote of the string whose opening quote is at `at`.
fn string_end(text: &[u8], at: usize) -> usize {
    let mut i = at + 1;
    while let Some(found) = text.get(i..).and_then(|rest| memchr2(b'"', b'\\', rest)) {
        let pos = i + found;
        if text.get(pos) == Some(&b'"') {
            return pos + 1;
        }
        // A backslash and the byte it escapes (a `\u` escape's hex digits need no care).
        i = pos + 2;
    }
    text.len()
}

/// The one value in a document that passed [`check_valid`], without the whitespace around it.
pub(super) fn top_value(text: &[u8]) -> &[u8] {
    let start = skip_space(text, 0);
    let end = value_end(text, start);
    text.get(start..end).unwrap_or_default()
}

/// The members of an object (`{…}`, from a checked document) in order: each key with its
/// quotes, and its value.
pub(super) struct Members<'a> {
    text: &'a [u8],
    at: usize,
}

impl<'a> Members<'a> {
    /// The members of `object`, which must start with `{`.
    pub(super) fn new(object: &'a [u8]) -> Self {
        Members {
            text: object,
            at: 1,
        }
    }
}

impl<'a> Iterator for Members<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let key_start = skip_space(self.text, self.at);
        if self.text.get(key_start) != Some(&b'"') {
            return None;
        }
        let key_end = string_end(self.text, key_start);
        // Past the colon.
        let value_start = skip_space(self.text, skip_space(self.text, key_end) + 1);
        let value_end = value_end(self.text, value_start);
        self.at = skip_comma(self.text, value_end);
        Some((
            self.text.get(key_start..key_end)?,
            self.text.get(value_start..value_end)?,
        ))
    }
}

/// The elements of an array (`[…]`, from a checked document) in order.
pub(super) struct Elements<'a> {
    text: &'a [u8],
    at: usize,
}

impl<'a> Elements<'a> {
    /// The elements of `array`, which must start with `[`; an empty list for `null`.
    pub(super) fn new(array: &'a [u8]) -> Self {
        Elements {
            text: array,
            at: if array.first() == Some(&b'[') {
                1
            } else {
                array.len()
            },
        }
    }
}

impl<'a> Iterator for Elements<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<Self::Item> {
        let start = skip_space(self.text, self.at);
        if matches!(self.text.get(start), None | Some(b']')) {
            return None;
        }
        let end = value_end(self.text, start);
        self.at = skip_comma(self.text, end);
        self.text.get(start..end)
    }
}

/// Past the whitespace and the comma (if any) that follow a value.
fn skip_comma(text: &[u8], at: usize) -> usize {
    let at = skip_space(text, at);
    if text.get(at) == Some(&b',') {
        at + 1
    } else {
        at
    }
}
