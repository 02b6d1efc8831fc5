//! The lexemes of the NATS configuration language, recognised with `nom` parsers over `&str`.
//!
//! Each function here is a `nom` parser. An ordinary `nom::Err::Error` means "this lexeme is
//! not here" and lets `alt` try the next one; a `nom::Err::Failure` is a real syntax (or range)
//! error whose [`LexError::at`] is the remaining input where nats-server would report it. The
//! structural parser (`parser.rs`) turns that remaining input back into a line and column.
//!
//! The messages are nats-server 2.9's, word for word, since users and scripts match on them.

use nom::branch::alt;
use nom::bytes::complete::{
    tag, take, take_till, take_till1, take_while, take_while1, take_while_m_n,
};
use nom::character::complete::{anychar, char, digit1, one_of, satisfy};
use nom::combinator::{consumed, eof, map, map_opt, not, opt, peek, recognize, value};
use nom::error::{ErrorKind as NomKind, ParseError};
use nom::multi::{fold_many0, many0_count};
use nom::sequence::{delimited, preceded, terminated};
use nom::{IResult, Parser};

use super::value::Value;

/// What went wrong in a lexeme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Problem {
    /// A `nom` combinator did not match: callers try something else.
    NoMatch,
    /// A syntax error with nats-server's message (reported as [`super::ErrorKind::Syntax`]).
    Syntax(String),
    /// A number that does not fit (reported as [`super::ErrorKind::Parse`], like nats-server's
    /// parse stage does).
    Range(String),
}

/// The error type of every lexeme: where the problem is and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LexError<'a> {
    /// The remaining input at the error, always a suffix of the text being parsed, so its
    /// length locates the error.
    pub(crate) at: &'a str,
    /// What went wrong.
    pub(crate) problem: Problem,
}

impl<'a> ParseError<&'a str> for LexError<'a> {
    fn from_error_kind(input: &'a str, _kind: NomKind) -> Self {
        LexError {
            at: input,
            problem: Problem::NoMatch,
        }
    }

    /// Keeps the innermost error: it carries the most precise location.
    fn append(_input: &'a str, _kind: NomKind, other: Self) -> Self {
        other
    }
}

/// The result of a lexeme parser.
pub(crate) type LResult<'a, T> = IResult<&'a str, T, LexError<'a>>;

/// Whether a key sits at the top level or inside a `{ }` block; a few rules (EOF handling,
/// error wording) differ between the two.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// A key of the implicit top-level map.
    Top,
    /// A key inside `{ }`.
    Block,
}

/// The characters that end an unquoted value or a number (besides the end of input).
const VALUE_END: &str = "\n\r;,]} \t";

/// Go's `%v` of a rune in error messages, which spells a new line as `\n` (and the end of
/// input as nothing).
pub(crate) fn show(c: Option<char>) -> String {
    match c {
        Some('\n') => "\\n".to_string(),
        Some(c) => c.to_string(),
        None => String::new(),
    }
}

/// A hard syntax error at `at`.
fn fail<'a, T>(at: &'a str, message: impl Into<String>) -> LResult<'a, T> {
    Err(nom::Err::Failure(LexError {
        at,
        problem: Problem::Syntax(message.into()),
    }))
}

/// A hard "number out of range" error at `at`.
fn out_of_range<'a, T>(at: &'a str, message: String) -> LResult<'a, T> {
    Err(nom::Err::Failure(LexError {
        at,
        problem: Problem::Range(message),
    }))
}

/// Runs `parser`; where it does not match, fails hard with `message` at that point. Used for
/// closing quotes and brackets, which can only be missing because the input ended.
fn or_fail<'a, O>(
    mut parser: impl Parser<&'a str, Output = O, Error = LexError<'a>>,
    message: &'static str,
) -> impl FnMut(&'a str) -> LResult<'a, O> {
    move |i| match parser.parse(i) {
        Err(nom::Err::Error(_)) => fail(i, message),
        other => other,
    }
}

// ----- filler: blanks, whitespace, comments -----

/// The characters that end a line (and so a comment); a lone `\r` counts too.
fn is_line_end(c: char) -> bool {
    c == '\n' || c == '\r'
}

/// Spaces and tabs only: at the top level a value may not start on the next line.
pub(crate) fn blanks(i: &str) -> LResult<'_, &str> {
    take_while(|c| c == ' ' || c == '\t').parse(i)
}

/// Any whitespace, new lines included (between a key and its separator or value).
pub(crate) fn whitespace(i: &str) -> LResult<'_, &str> {
    take_while(char::is_whitespace).parse(i)
}

/// A `#` or `//` comment up to, not including, the end of the line.
fn comment(i: &str) -> LResult<'_, &str> {
    recognize((alt((tag("#"), tag("//"))), take_till(is_line_end))).parse(i)
}

/// Whitespace (new lines included) and comments, between values of maps and arrays.
pub(crate) fn filler(i: &str) -> LResult<'_, &str> {
    recognize(many0_count(alt((
        take_while1(char::is_whitespace),
        comment,
    ))))
    .parse(i)
}

/// Like [`filler`], but also skips `{` and `}`: nats-server 2.9 does so where a top-level key
/// may start, which is how an optional outer `{ ... }` around a whole file works.
pub(crate) fn top_filler(i: &str) -> LResult<'_, &str> {
    recognize(many0_count(alt((
        take_while1(char::is_whitespace),
        comment,
        recognize(one_of("{}")),
    ))))
    .parse(i)
}

/// What may follow a value: blanks and an optional comment, then the next character, which
/// is returned but not consumed (the caller decides whether it is a valid terminator and
/// reports an error located at it otherwise). `None` is the end of input.
pub(crate) fn trailer(i: &str) -> LResult<'_, Option<char>> {
    preceded((blanks, opt(comment)), peek(opt(anychar))).parse(i)
}

// ----- keys and include directives -----

/// A map key as written.
pub(crate) struct Key<'a> {
    /// The key without quotes.
    pub(crate) text: &'a str,
    /// Whether it was quoted (a quoted `"include"` is an ordinary key).
    pub(crate) quoted: bool,
}

/// A key: quoted with `"` or `'` (raw, no escapes) or a run of characters up to whitespace,
/// `:`, `=` or `{`. A key may not start with a separator.
pub(crate) fn key<'a>(level: Level) -> impl FnMut(&'a str) -> LResult<'a, Key<'a>> {
    move |i| {
        if let Ok((_, sep)) = peek(one_of::<_, _, LexError<'a>>(":=")).parse(i) {
            let dot = if level == Level::Block { "." } else { "" };
            return fail(i, format!("Unexpected key separator '{sep}'{dot}"));
        }
        alt((quoted_key(level), bare_key(level))).parse(i)
    }
}

fn quoted_key<'a>(level: Level) -> impl FnMut(&'a str) -> LResult<'a, Key<'a>> {
    move |i| {
        let (i, quote) = one_of("\"'").parse(i)?;
        let eof = match (level, quote) {
            (Level::Top, _) => "Unexpected EOF.",
            (Level::Block, '"') => "Unexpected EOF processing double quoted map key.",
            (Level::Block, _) => "Unexpected EOF processing quoted map key.",
        };
        let (i, text) =
            terminated(take_till(move |c| c == quote), or_fail(char(quote), eof)).parse(i)?;
        Ok((i, Key { text, quoted: true }))
    }
}

fn bare_key<'a>(level: Level) -> impl FnMut(&'a str) -> LResult<'a, Key<'a>> {
    move |i| {
        // The first character belongs to the key whatever it is (nats-server does the same),
        // so a key is never empty.
        let (rest, text) = recognize((
            anychar,
            take_till(|c: char| c.is_whitespace() || matches!(c, ':' | '=' | '{')),
        ))
        .parse(i)?;
        if level == Level::Block && rest.is_empty() {
            return fail(rest, "Unexpected EOF processing map key.");
        }
        Ok((
            rest,
            Key {
                text,
                quoted: false,
            },
        ))
    }
}

/// The path of an `include` directive (after the keyword and blanks): quoted, or a bare run
/// up to a blank, new line, `;` or `}`. Things that look like other values are refused.
pub(crate) fn include_path(i: &str) -> LResult<'_, &str> {
    alt((quoted_include, misplaced_include, bare_include)).parse(i)
}

fn quoted_include(i: &str) -> LResult<'_, &str> {
    let (i, quote) = one_of("\"'").parse(i)?;
    terminated(
        take_till(move |c| c == quote),
        or_fail(char(quote), "Unexpected EOF in quoted include"),
    )
    .parse(i)
}

/// Fails with nats-server's message when the include value starts like something that cannot
/// be a path.
fn misplaced_include(i: &str) -> LResult<'_, &str> {
    let (_, what) = peek(alt((
        value("start of an array", char('[')),
        value("start of a map", char('{')),
        value("start of a block", char('(')),
        value(
            "start of a number",
            satisfy(|c| c.is_ascii_digit() || c == '-'),
        ),
        value("escape sequence", char('\\')),
        value("new line", one_of("\n\r")),
        value("EOF", eof),
    )))
    .parse(i)?;
    fail(i, format!("Expected include value but found {what}"))
}

fn bare_include(i: &str) -> LResult<'_, &str> {
    // nats-server ends an unquoted path at a single quote and drops the quote.
    terminated(
        take_till(|c| matches!(c, '\n' | '\r' | ';' | '}' | ' ' | '\t' | '\'')),
        opt(char('\'')),
    )
    .parse(i)
}

// ----- scalar values -----

/// A value that is not a map or an array.
#[derive(Debug)]
pub(crate) enum Scalar {
    /// A finished value.
    Value(Value),
    /// An unquoted `$NAME`, to be resolved by the parser (which knows the scopes).
    Variable(String),
}

/// Any value other than a map or an array; the value may not start with a new line.
pub(crate) fn scalar(i: &str) -> LResult<'_, Scalar> {
    let string = |s| Scalar::Value(Value::String(s));
    alt((
        map(double_quoted, string),
        map(single_quoted, string),
        map(block_string, string),
        map(date, Scalar::Value),
        map(number, Scalar::Value),
        misplaced_value,
        unquoted,
    ))
    .parse(i)
}

/// Fails with nats-server's message for values that start with `.` or a new line.
fn misplaced_value(i: &str) -> LResult<'_, Scalar> {
    let (_, message) = peek(alt((
        value("Floats must start with a digit", char('.')),
        value("Expected value but found new line", one_of("\n\r")),
    )))
    .parse(i)?;
    fail(i, message)
}

/// A piece of a string that may contain escapes.
enum Chunk<'a> {
    Text(&'a str),
    Byte(u8),
}

/// Text up to a character for which `ends` holds, with backslash escapes processed. Yields
/// the bytes (`\xHH` can produce any byte) and whether any escape was seen.
fn escaped_text<'a>(
    ends: fn(char) -> bool,
) -> impl Parser<&'a str, Output = (Vec<u8>, bool), Error = LexError<'a>> {
    fold_many0(
        alt((
            map(take_till1(move |c| c == '\\' || ends(c)), Chunk::Text),
            map(escape, Chunk::Byte),
        )),
        || (Vec::new(), false),
        |(mut bytes, escaped), chunk| match chunk {
            Chunk::Text(text) => {
                bytes.extend_from_slice(text.as_bytes());
                (bytes, escaped)
            }
            Chunk::Byte(b) => {
                bytes.push(b);
                (bytes, true)
            }
        },
    )
}

/// `\xHH` escapes can produce arbitrary bytes; invalid UTF-8 is replaced rather than refused.
fn bytes_to_string(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// One escape sequence, backslash included, as the byte it stands for.
fn escape(i: &str) -> LResult<'_, u8> {
    preceded(
        char('\\'),
        alt((
            value(b'\t', char('t')),
            value(b'\n', char('n')),
            value(b'\r', char('r')),
            value(b'"', char('"')),
            value(b'\\', char('\\')),
            preceded(char('x'), hex_byte),
            bad_escape,
        )),
    )
    .parse(i)
}

/// The character after a backslash is not a known escape (or there is none).
fn bad_escape(i: &str) -> LResult<'_, u8> {
    match opt(anychar).parse(i)? {
        (_, Some(c)) => fail(
            i,
            format!(
                "Invalid escape character '{}'. Only the following escape characters are \
                 allowed: \\xXX, \\t, \\n, \\r, \\\", \\\\.",
                show(Some(c))
            ),
        ),
        (_, None) => fail(i, "Unexpected EOF."),
    }
}

/// The two hexadecimal digits after `\x`.
fn hex_byte(i: &str) -> LResult<'_, u8> {
    const EOL: &str = "Expected two hexadecimal digits after '\\x', but hit end of line";
    let Ok((rest, pair)) = take::<_, _, LexError<'_>>(2usize).parse(i) else {
        return fail(i, EOL);
    };
    if pair.contains(is_line_end) {
        return fail(i, EOL);
    }
    // `from_str_radix` alone would also take a sign (`+f`); only two hex digits will do.
    match u8::from_str_radix(pair, 16) {
        Ok(b) if pair.bytes().all(|c| c.is_ascii_hexdigit()) => Ok((rest, b)),
        _ => fail(
            i,
            format!("Expected two hexadecimal digits after '\\x', but got '{pair}'"),
        ),
    }
}

/// `"..."`: escapes processed, new lines allowed.
fn double_quoted(i: &str) -> LResult<'_, String> {
    map(
        delimited(
            char('"'),
            escaped_text(|c| c == '"'),
            or_fail(char('"'), "Unexpected EOF."),
        ),
        |(bytes, _)| bytes_to_string(bytes),
    )
    .parse(i)
}

/// `'...'`: raw, no escapes.
fn single_quoted(i: &str) -> LResult<'_, String> {
    map(
        delimited(
            char('\''),
            take_till(|c| c == '\''),
            or_fail(char('\''), "Unexpected EOF."),
        ),
        str::to_string,
    )
    .parse(i)
}

/// The end of a `( ... )` block: a new line, then `)` alone at the start of a line.
fn block_end(i: &str) -> LResult<'_, &str> {
    recognize((tag("\n)"), peek(alt((eof, recognize(one_of("\n\r"))))))).parse(i)
}

/// `( ... )`: everything after `(` up to a `)` that stands alone at the start of a line; the
/// new line before that `)` is part of the string (as in nats-server).
fn block_string(i: &str) -> LResult<'_, String> {
    let (i, _) = char('(').parse(i)?;
    // Runs of text and single new lines, checking for the end at every new line.
    let (i, body) = recognize(many0_count(preceded(
        not(block_end),
        alt((take_till1(|c| c == '\n'), tag("\n"))),
    )))
    .parse(i)?;
    let (i, _) = or_fail(block_end, "Unexpected EOF processing block.").parse(i)?;
    Ok((i, format!("{body}\n")))
}

/// The end of a number that may not be followed by a comment (a plain integer: `4222#x` is a
/// string in nats-server).
fn strict_end(i: &str) -> LResult<'_, ()> {
    value((), alt((eof, recognize(one_of(VALUE_END))))).parse(i)
}

/// The end of a value: a terminator, the end of input or a comment.
fn value_end(i: &str) -> LResult<'_, ()> {
    alt((strict_end, value((), alt((tag("#"), tag("//")))))).parse(i)
}

/// A Zulu date-time `YYYY-MM-DDTHH:MM:SSZ`, kept as written.
fn date(i: &str) -> LResult<'_, Value> {
    let digits = |n| take_while_m_n(n, n, |c: char| c.is_ascii_digit());
    map(
        terminated(
            recognize((
                digits(4),
                char('-'),
                digits(2),
                char('-'),
                digits(2),
                char('T'),
                digits(2),
                char(':'),
                digits(2),
                char(':'),
                digits(2),
                char('Z'),
            )),
            peek(value_end),
        ),
        |text: &str| Value::Date(text.to_string()),
    )
    .parse(i)
}

/// What follows the integer part of a number.
#[derive(Clone, Copy)]
enum Tail {
    /// Nothing: an integer, times the given size-suffix multiplier.
    Times(i64),
    /// A fraction: a float.
    Fraction,
    /// Several dots (`10.0.0.1`, `127.0.0.1:4222`): a string.
    Address,
}

/// An optional `-` and digits.
fn signed_digits(i: &str) -> LResult<'_, &str> {
    alt((digit1, recognize(preceded(char('-'), digits_after_minus)))).parse(i)
}

/// After a `-` a digit must follow.
fn digits_after_minus(i: &str) -> LResult<'_, &str> {
    let not_a_digit = |i| match opt(anychar).parse(i)? {
        (_, Some('.')) => fail(i, "Floats must start with a digit, not '.'."),
        (_, c) => fail(i, format!("Expected a digit but got '{}'.", show(c))),
    };
    alt((digit1, not_a_digit)).parse(i)
}

/// A size suffix (`k`, `MB`, `Gi`, `TiB`, any case) as its multiplier: powers of 1000 for a
/// bare unit, of 1024 with `b`, `i` or `ib`.
fn size_suffix(i: &str) -> LResult<'_, i64> {
    map_opt(
        (
            alt((
                value(1u32, one_of("kK")),
                value(2, one_of("mM")),
                value(3, one_of("gG")),
                value(4, one_of("tT")),
                value(5, one_of("pP")),
                value(6, one_of("eE")),
            )),
            opt(alt((
                recognize((one_of("iI"), one_of("bB"))),
                recognize(one_of("iIbB")),
            ))),
        ),
        |(power, binary)| {
            let base: i64 = if binary.is_some() { 1024 } else { 1000 };
            base.checked_pow(power)
        },
    )
    .parse(i)
}

/// A digit-led token that is a number: integer (with optional size suffix), float, or an
/// address-like string. Anything else (`10s`, `1.5x`, `2019-01-01`) does not match, and the
/// caller reads the whole token as an unquoted string instead, as newer nats-server releases
/// do (2.9's lexer refuses some of them).
fn number(input: &str) -> LResult<'_, Value> {
    let (rest, (token, (integer, tail))) = consumed((
        signed_digits,
        alt((
            value(Tail::Times(1), peek(strict_end)),
            value(
                Tail::Address,
                (
                    char('.'),
                    digit1,
                    char('.'),
                    take_while(|c: char| c.is_ascii_digit() || matches!(c, '.' | ':' | '-')),
                    peek(value_end),
                ),
            ),
            value(Tail::Fraction, (char('.'), digit1, peek(value_end))),
            map(terminated(size_suffix, peek(value_end)), Tail::Times),
        )),
    ))
    .parse(input)?;
    let number = match tail {
        Tail::Times(mult) => match integer
            .parse::<i64>()
            .ok()
            .and_then(|n| n.checked_mul(mult))
        {
            Some(n) => Value::Int(n),
            None => return out_of_range(input, format!("integer '{token}' is out of the range")),
        },
        Tail::Fraction => match token.parse::<f64>() {
            Ok(f) if f.is_finite() => Value::Float(f),
            _ => return out_of_range(input, format!("float '{token}' is out of the range")),
        },
        Tail::Address => Value::String(token.to_string()),
    };
    Ok((rest, number))
}

/// The unquoted words that are booleans.
fn bool_word(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" => Some(true),
        "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// An unquoted value: runs to whitespace, new line, `;`, `,`, `]` or `}` (possibly empty).
/// Escapes are processed; a single quote ends it and is dropped (as in nats-server). Without
/// escapes it may be a boolean or a `$variable` reference.
fn unquoted(i: &str) -> LResult<'_, Scalar> {
    let (rest, (bytes, escaped)) = terminated(
        escaped_text(|c| c == '\'' || VALUE_END.contains(c)),
        opt(char('\'')),
    )
    .parse(i)?;
    let text = bytes_to_string(bytes);
    if !escaped {
        if let Some(b) = bool_word(&text) {
            return Ok((rest, Scalar::Value(Value::Bool(b))));
        }
        // An unquoted bcrypt hash ($2a$...) looks like a reference but is a literal.
        if let Some(name) = text.strip_prefix('$').filter(|n| !n.starts_with("2a$")) {
            return Ok((rest, Scalar::Variable(name.to_string())));
        }
    }
    Ok((rest, Scalar::Value(Value::String(text))))
}
