//! JSON the way nats-server's Go `encoding/json` writes and reads it.
//!
//! Writing: Go escapes `<`, `>`, `&`, U+2028 and U+2029 as `\uXXXX`, and control bytes other
//! than `\n`, `\r`, `\t` as `\u00XX`; serde_json does neither, so [`GoFormatter`] adds it.
//! Reading: Go's decoder takes what serde_json refuses (keys matched case-insensitively, a
//! repeated key decoded again with the last winning, invalid UTF-8 and lone surrogates in
//! strings taken as U+FFFD, unknown members skipped by syntax alone however deep or large their
//! numbers, `null` as "leave it"). Clients lean on that, so [`from_go_object`] and
//! [`merge_go_object`] decode with Go's rules: [`scan`] is Go's syntax check, [`decode`] a
//! serde deserializer that fills a type as Go fills a struct.

mod decode;
mod scan;

use std::io;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::ser::{CharEscape, CompactFormatter, Formatter};

use decode::{Entry, Value};

/// A serde_json formatter that escapes strings as Go's `encoding/json` does.
pub(crate) struct GoFormatter<F = CompactFormatter>(pub F);

impl<F: Formatter> Formatter for GoFormatter<F> {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut rest = fragment;
        while let Some(at) = rest.find(['<', '>', '&', '\u{2028}', '\u{2029}']) {
            writer.write_all(&rest.as_bytes()[..at])?;
            let ch = rest[at..].chars().next().unwrap_or('<');
            write!(writer, "\\u{:04x}", ch as u32)?;
            rest = &rest[at + ch.len_utf8()..];
        }
        writer.write_all(rest.as_bytes())
    }

    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        escape: CharEscape,
    ) -> io::Result<()> {
        let text: &[u8] = match escape {
            CharEscape::Quote => b"\\\"",
            CharEscape::ReverseSolidus => b"\\\\",
            CharEscape::LineFeed => b"\\n",
            CharEscape::CarriageReturn => b"\\r",
            CharEscape::Tab => b"\\t",
            CharEscape::Backspace => b"\\u0008",
            CharEscape::FormFeed => b"\\u000c",
            CharEscape::AsciiControl(byte) => return write!(writer, "\\u{:04x}", byte),
            // Solidus is never escaped by serde_json's writer, nor by Go.
            _ => b"/",
        };
        writer.write_all(text)
    }

    // Delegate the structural pieces so a pretty formatter can be wrapped too.
    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn end_object_key<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_key(w)
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

/// Serialises `value` as compact JSON with Go's escaping.
pub(crate) fn to_go_json<T: Serialize>(value: &T, out: &mut Vec<u8>) {
    let mut ser = serde_json::Serializer::with_formatter(out, GoFormatter(CompactFormatter));
    // Our info types hold only strings, numbers, bools and lists: serialising cannot fail.
    if let Err(err) = value.serialize(&mut ser) {
        debug_assert!(false, "serialising protocol JSON failed: {err}");
    }
}

/// Decodes a JSON document into `T` as Go's `json.Unmarshal` fills a struct (see
/// [`decode`]): the whole document checked first, keys folded, unknown members skipped by
/// syntax alone, `null` members ignored, invalid text in strings replaced, trailing garbage and
/// type mismatches refused. The error is Go's text.
pub(crate) fn from_go_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    decode_over(&[], bytes)
}

/// Decodes a JSON document over `earlier`, as Go's decoder fills a struct that already holds
/// values: members present replace (a `null` one leaves the earlier value), members absent
/// keep it. `earlier` goes first as JSON, so both are decoded by the same rules.
pub(crate) fn merge_go_object<T: Serialize + DeserializeOwned>(
    earlier: &T,
    bytes: &[u8],
) -> Result<T, String> {
    let mut first = Vec::with_capacity(256);
    to_go_json(earlier, &mut first);
    decode_over(&first, bytes)
}

/// Checks `bytes` and decodes it into `T`, after `earlier` (one JSON document of our own, or
/// nothing) when given.
fn decode_over<T: DeserializeOwned>(earlier: &[u8], bytes: &[u8]) -> Result<T, String> {
    scan::check_valid(bytes)?;
    let given = Entry::new(scan::top_value(bytes));
    let both;
    let spans: &[Entry<'_>] = if earlier.is_empty() {
        std::slice::from_ref(&given)
    } else {
        both = [Entry::new(scan::top_value(earlier)), given];
        &both
    };
    T::deserialize(Value::top(spans)).map_err(|err| err.0)
}

#[cfg(test)]
mod tests {
    //! Each rule of Go's decoder that serde_json does not share, with what nats-server 2.9.10
    //! (Go 1.19) answers for it: measured, and repeated against both servers in
    //! `server/tests/protocol.rs`.

    use super::*;
    use crate::{ConnectInfo, ServerInfo, SubjectPermission};

    fn connect(json: &[u8]) -> Result<ConnectInfo, String> {
        from_go_object(json)
    }

    fn name(json: &[u8]) -> String {
        connect(json).expect("accepted").name
    }

    #[test]
    fn invalid_utf8_in_a_string_is_replaced_byte_by_byte() {
        assert_eq!(name(b"{\"name\":\"caf\xe9\"}"), "caf\u{fffd}");
        // A sequence cut short: one U+FFFD per byte, as Go (from_utf8_lossy would put one).
        assert_eq!(name(b"{\"name\":\"a\xe2\x82b\"}"), "a\u{fffd}\u{fffd}b");
        // An encoded surrogate and an overlong slash are not UTF-8 either.
        assert_eq!(name(b"{\"name\":\"\xed\xa0\x80\"}"), "\u{fffd}".repeat(3));
        assert_eq!(name(b"{\"name\":\"\xc0\xaf\"}"), "\u{fffd}".repeat(2));
        // Mixed with escapes, on both sides of them.
        assert_eq!(name(b"{\"name\":\"\xff\\n\xfe\"}"), "\u{fffd}\n\u{fffd}");
        // In a key (which then matches no field) and in an unknown member.
        let info = connect(b"{\"n\xffame\":\"z\",\"zz\":\"\xff\",\"verbose\":false}").expect("ok");
        assert_eq!(info.name, "");
        assert!(!info.verbose);
        // DEL and escaped NUL are ordinary characters; raw control bytes are not.
        assert_eq!(name(b"{\"name\":\"a\x7f\\u0000\"}"), "a\u{7f}\u{0}");
        assert_eq!(
            connect(b"{\"name\":\"a\x01\"}").unwrap_err(),
            r"invalid character '\x01' in string literal"
        );
    }

    #[test]
    fn unpaired_surrogate_escapes_are_replaced() {
        let cases: [(&[u8], &str); 9] = [
            (br#"{"name":"\ud800"}"#, "\u{fffd}"),
            (br#"{"name":"a\ud800b"}"#, "a\u{fffd}b"),
            (br#"{"name":"\udc00"}"#, "\u{fffd}"),
            // A high surrogate followed by something else: the next escape stands alone.
            (br#"{"name":"\ud800\u0041"}"#, "\u{fffd}A"),
            (br#"{"name":"\ud800\ud800\udc00"}"#, "\u{fffd}\u{10000}"),
            (br#"{"name":"\udc00\ud800"}"#, "\u{fffd}\u{fffd}"),
            (br#"{"name":"\ud800\n"}"#, "\u{fffd}\n"),
            (br#"{"name":"\uD83D\uDE00\u00e9"}"#, "\u{1f600}\u{e9}"),
            (br#"{"name":"a\/b\"\\"}"#, "a/b\"\\"),
        ];
        for (json, want) in cases {
            assert_eq!(name(json), want, "{}", String::from_utf8_lossy(json));
        }
    }

    #[test]
    fn unknown_members_are_skipped_by_syntax_alone() {
        let deep = |n: usize| {
            let mut json = b"{\"verbose\":false,\"foo\":".to_vec();
            json.extend(std::iter::repeat_n(b'[', n - 1));
            json.extend(std::iter::repeat_n(b']', n - 1));
            json.push(b'}');
            json
        };
        for json in [
            &br#"{"verbose":false,"foo":1e999}"#[..],
            br#"{"verbose":false,"foo":-123456789012345678901234567890.5e-999}"#,
            br#"{"verbose":false,"foo":{"a":1,"a":"x","A":[null]}}"#,
            br#"{"":1,"verbose":false}"#,
            &deep(129),
            &deep(MAX_DEPTH_FOR_TESTS),
        ] {
            let info = connect(json).unwrap_or_else(|e| panic!("{e}"));
            assert!(!info.verbose);
        }
        // Syntax still counts, there too.
        assert_eq!(
            connect(br#"{"foo":[1,]}"#).unwrap_err(),
            "invalid character ']' looking for beginning of value"
        );
        assert_eq!(
            connect(&deep(MAX_DEPTH_FOR_TESTS + 1)).unwrap_err(),
            "invalid character '[' exceeded max depth"
        );
    }

    /// Go's `maxNestingDepth`, counting the top-level object.
    const MAX_DEPTH_FOR_TESTS: usize = scan::MAX_DEPTH;

    #[test]
    fn numbers_of_our_fields_are_read_as_go_reads_them() {
        assert_eq!(connect(br#"{"protocol":-0}"#).expect("ok").protocol, 0);
        assert_eq!(
            connect(br#"{"protocol":1099511627776}"#)
                .expect("ok")
                .protocol,
            1 << 40
        );
        for (value, what) in [
            ("1.0", "number 1.0"),
            ("1e0", "number 1e0"),
            ("1e999", "number 1e999"),
            ("9223372036854775808", "number 9223372036854775808"),
            ("\"1\"", "string"),
            ("true", "bool"),
        ] {
            assert_eq!(
                connect(format!(r#"{{"protocol":{value}}}"#).as_bytes()).unwrap_err(),
                format!(
                    "json: cannot unmarshal {what} into Go struct field ClientOpts.protocol of type int"
                )
            );
        }
        assert_eq!(
            connect(br#"{"verbose":1e999}"#).unwrap_err(),
            "json: cannot unmarshal number into Go struct field ClientOpts.verbose of type bool"
        );
        // An unsigned field takes no sign at all, not even `-0`.
        let port: Result<ServerInfo, String> = from_go_object(br#"{"port":-0}"#);
        assert_eq!(
            port.unwrap_err(),
            "json: cannot unmarshal number -0 into Go struct field Info.port of type uint16"
        );
    }

    #[test]
    fn a_repeated_key_is_decoded_each_time_and_the_last_wins() {
        assert!(
            !connect(br#"{"verbose":true,"verbose":false}"#)
                .expect("ok")
                .verbose
        );
        // Whatever the case of each spelling, in input order.
        assert!(
            !connect(br#"{"verbose":true,"Verbose":false}"#)
                .expect("ok")
                .verbose
        );
        assert!(
            connect(br#"{"Verbose":false,"verbose":true}"#)
                .expect("ok")
                .verbose
        );
        assert_eq!(name(br#"{"name":"a","NAME":"b"}"#), "b");
        assert_eq!(
            connect(br#"{"protocol":5,"protocol":1}"#)
                .expect("ok")
                .protocol,
            1
        );
        // A null leaves the earlier value.
        assert!(
            !connect(br#"{"verbose":false,"verbose":null}"#)
                .expect("ok")
                .verbose
        );
        assert_eq!(name(br#"{"name":null,"name":"q","name":null}"#), "q");
        // Every occurrence must fit the field, the one that loses too.
        for json in [
            &br#"{"verbose":"x","verbose":false}"#[..],
            br#"{"verbose":false,"verbose":"x"}"#,
        ] {
            assert_eq!(
                connect(json).unwrap_err(),
                "json: cannot unmarshal string into Go struct field ClientOpts.verbose of type bool"
            );
        }
    }

    #[test]
    fn keys_fold_as_go_folds_them() {
        assert!(!connect(br#"{"VERBOSE":false}"#).expect("ok").verbose);
        assert!(!connect(br#"{"verb\u006fse":false}"#).expect("ok").verbose);
        // U+017F folds to s, the Kelvin sign to k (Go's equalFoldRight).
        assert!(
            !connect("{\"verbo\u{17f}e\":false}".as_bytes())
                .expect("ok")
                .verbose
        );
        assert_eq!(
            connect("{\"n\u{212a}ey\":5}".as_bytes()).unwrap_err(),
            "json: cannot unmarshal number into Go struct field ClientOpts.nkey of type string"
        );
        // No other folding: these are unknown keys.
        let info = connect("{\"v\u{e9}rbose\":false,\"verbose_\":false,\"verbos\":1}".as_bytes())
            .expect("ok");
        assert!(info.verbose);
    }

    #[test]
    fn nested_structs_follow_the_same_rules() {
        let info = connect(br#"{"import":{"Allow":["a","\ud800"],"deny":null}}"#).expect("ok");
        assert_eq!(
            info.import,
            Some(SubjectPermission {
                allow: vec!["a".into(), "\u{fffd}".into()],
                deny: vec![],
            })
        );
        assert_eq!(connect(br#"{"import":null}"#).expect("ok").import, None);
        // A later null resets an Option; a later object merges into the struct.
        assert_eq!(
            connect(br#"{"import":{"allow":["a"]},"import":null}"#)
                .expect("ok")
                .import,
            None
        );
        let merged = connect(br#"{"export":{"allow":["a"]},"export":{"deny":["b"]}}"#).expect("ok");
        assert_eq!(
            merged.export,
            Some(SubjectPermission {
                allow: vec!["a".into()],
                deny: vec!["b".into()],
            })
        );
        assert_eq!(
            connect(br#"{"import":5}"#).unwrap_err(),
            "json: cannot unmarshal number into Go struct field ClientOpts.import of type server.SubjectPermission"
        );
        assert_eq!(
            connect(br#"{"import":{"allow":["a"],"Allow":5}}"#).unwrap_err(),
            "json: cannot unmarshal number into Go struct field SubjectPermission.import.allow of type []string"
        );
        assert_eq!(
            connect(br#"{"import":{"allow":[1]}}"#).unwrap_err(),
            "json: cannot unmarshal number into Go struct field SubjectPermission.import.allow of type string"
        );
    }

    #[test]
    fn syntax_and_top_level_errors_are_go_s() {
        for (json, err) in [
            (&b""[..], "unexpected end of JSON input"),
            (b"   ", "unexpected end of JSON input"),
            (b"{\"verbose\":false", "unexpected end of JSON input"),
            (
                b"{\"verbose\":false} x",
                "invalid character 'x' after top-level value",
            ),
            (
                b"{\"verbose\":tru}",
                "invalid character '}' in literal true (expecting 'e')",
            ),
            (
                b"{\"name\":\"\\u12\"}",
                r#"invalid character '"' in \u hexadecimal character escape"#,
            ),
            (
                b"{\"name\":\"\\x\"}",
                "invalid character 'x' in string escape code",
            ),
            (
                b"{\"verbose\" false}",
                "invalid character 'f' after object key",
            ),
            (
                b"{\"a\":1 \"b\":2}",
                "invalid character '\"' after object key:value pair",
            ),
            (
                b"{\"a\":01}",
                "invalid character '1' after object key:value pair",
            ),
            (
                b"{\xe9:1}",
                "invalid character '\u{e9}' looking for beginning of object key string",
            ),
            (
                b"[]",
                "json: cannot unmarshal array into Go value of type server.ClientOpts",
            ),
            (
                b"\"x\"",
                "json: cannot unmarshal string into Go value of type server.ClientOpts",
            ),
            (
                b"5",
                "json: cannot unmarshal number into Go value of type server.ClientOpts",
            ),
        ] {
            assert_eq!(
                connect(json).unwrap_err(),
                err,
                "{}",
                String::from_utf8_lossy(json)
            );
        }
        // null is no value at all: the defaults stay; trailing whitespace is fine.
        assert_eq!(connect(b" null ").expect("ok"), ConnectInfo::default());
        assert!(
            !connect(b"\t{\"verbose\" :\tfalse }\r\n")
                .expect("ok")
                .verbose
        );
    }

    #[test]
    fn a_later_document_decodes_over_an_earlier_one() {
        let earlier =
            connect(br#"{"verbose":false,"name":"a","import":{"allow":["x"]}}"#).expect("ok");
        let over = |json: &[u8]| merge_go_object(&earlier, json);
        assert_eq!(over(b"null").expect("ok"), earlier);
        assert_eq!(
            over(br#"{"name":null,"verbose":null}"#).expect("ok"),
            earlier
        );
        let later = over(b"{\"VERBOSE\":true,\"name\":\"\xe9\"}").expect("ok");
        assert!(later.verbose);
        assert_eq!(later.name, "\u{fffd}");
        // The struct behind an Option is decoded into, not replaced; null resets it.
        let later = over(br#"{"import":{"deny":["y"]}}"#).expect("ok");
        assert_eq!(
            later.import,
            Some(SubjectPermission {
                allow: vec!["x".into()],
                deny: vec!["y".into()],
            })
        );
        assert_eq!(over(br#"{"import":null}"#).expect("ok").import, None);
        assert!(over(br#"{"verbose":"x"}"#).is_err());
        assert!(over(b"[]").is_err());
    }

    #[test]
    fn route_info_still_decodes() {
        let info: ServerInfo = from_go_object(
            br#"{"server_id":"N1","port":4248,"connect_urls":["a:1"],"import":{"allow":["x"]},"unknown":{"x":[1e999]}}"#,
        )
        .expect("ok");
        assert_eq!(info.server_id, "N1");
        assert_eq!(info.port, 4248);
        assert_eq!(info.connect_urls, ["a:1"]);
        assert_eq!(info.import.expect("import").allow, ["x"]);
        // A null list is an empty one, even after a value.
        let info: ServerInfo =
            from_go_object(br#"{"connect_urls":["a:1"],"connect_urls":null}"#).expect("ok");
        assert!(info.connect_urls.is_empty());
    }

    #[test]
    fn go_quotes_bytes_in_syntax_errors_as_strconv_does() {
        for (byte, quoted) in [
            (b'x', "'x'"),
            (b'\'', r"'\''"),
            (b'\\', r"'\\'"),
            (0x0b, r"'\v'"),
            (0x08, r"'\b'"),
            (0x01, r"'\x01'"),
            (0x7f, r"'\x7f'"),
            (0x85, r"'\u0085'"),
            (0xa0, r"'\u00a0'"),
            (0xe9, "'\u{e9}'"),
        ] {
            let mut json = b"{".to_vec();
            json.push(byte);
            assert_eq!(
                connect(&json).unwrap_err(),
                format!("invalid character {quoted} looking for beginning of object key string")
            );
        }
    }
}
