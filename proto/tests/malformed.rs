//! Malformed input: each row gets exactly the reaction nats-server 2.9.10 shows
//! (docs/protocol.md §1.2, §1.5, §1.6, §1.9): which `-ERR` before closing, or a silent close.
//! Every row is also fed split at every byte, and must fail the same way.

mod common;

use common::{assert_split_invariant, decode_whole};
use nats_proto::client::{ClientOp, ServerCodec};
use nats_proto::error::text;
use nats_proto::route::RouteCodec;
use nats_proto::{Close, Limits, ProtoError};

const UNKNOWN: Close = Close::WithErr(text::UNKNOWN_PROTOCOL_OPERATION);
const SILENT: Close = Close::Silently;

fn codec(headers: bool) -> ServerCodec {
    let mut codec = ServerCodec::new(Limits::default());
    codec.set_headers(headers);
    codec
}

fn close_of(out: &common::Outcome<ClientOp>) -> Option<Close> {
    out.error.as_ref().map(ProtoError::close)
}

#[test]
fn client_protocol_errors() {
    let table: &[(&str, Close)] = &[
        ("FOO\r\n", UNKNOWN),
        (" PUB foo 1\r\nx\r\n", UNKNOWN),
        ("\r\n", UNKNOWN),
        ("PUB\r\n", UNKNOWN),
        ("UNSUB\r\n", UNKNOWN),
        ("PUBX foo 1\r\nx\r\n", UNKNOWN),
        ("PIX\r\n", UNKNOWN),
        ("-ERR\r\n", UNKNOWN),
        ("MSG foo 1 1\r\na\r\n", UNKNOWN),
        ("HMSG foo 1 0 1\r\na\r\n", UNKNOWN),
        ("RS+ $G foo\r\n", UNKNOWN),
        ("RMSG $G foo 1\r\na\r\n", UNKNOWN),
        ("LS+ x $G foo\r\n", UNKNOWN),
        ("PUB foo 5\r\nhelloXX", UNKNOWN),
        ("PUB foo 5\r\nhello\n", UNKNOWN),
        ("PUB foo 1\r\nab\r\n", UNKNOWN),
        ("PUB foo\r\n", SILENT),
        ("PUB foo bar baz 1\r\n", SILENT),
        ("PUB foo -1\r\n", SILENT),
        ("PUB foo 1234567890\r\n", SILENT),
        ("PUB foo abc\r\n", SILENT),
        ("PUB foo bar\r\n", SILENT),
        ("SUB foo\r\n", SILENT),
        ("SUB a b c d\r\n", SILENT),
        ("UNSUB 1 2 3\r\n", SILENT),
        ("CONNECT\r\n", SILENT),
        ("CONNECT {\"verbose\":\"false\"}\r\n", SILENT),
        ("CONNECT {\"verbose\":false} x\r\n", SILENT),
        ("CONNECTX\r\n", SILENT),
        ("INFO x\r\n", SILENT),
        ("HPUB foo 1 2\r\nab\r\n", SILENT),
        (
            "PUB foo 1048577\r\n",
            Close::WithErr(text::MAXIMUM_PAYLOAD_VIOLATION),
        ),
    ];
    for (input, expected) in table {
        let out = decode_whole(codec(false), input.as_bytes());
        assert_eq!(
            close_of(&out),
            Some(*expected),
            "{input:?} gave ops {:?}",
            out.ops
        );
        assert_split_invariant(|| codec(false), input.as_bytes());
    }
}

#[test]
fn header_errors_with_headers_negotiated() {
    for input in [
        "HPUB foo 3 2\r\n",
        "HPUB foo 1\r\n",
        "HPUB foo x 2\r\n",
        "HPUB foo 1 x\r\n",
    ] {
        let out = decode_whole(codec(true), input.as_bytes());
        assert_eq!(close_of(&out), Some(SILENT), "{input:?}");
    }
    // The payload limit applies to the total size of HPUB.
    let out = decode_whole(codec(true), b"HPUB foo 10 1048577\r\n");
    assert!(matches!(
        out.error,
        Some(ProtoError::MaxPayload {
            size: 1048577,
            max: 1048576
        })
    ));
}

#[test]
fn payload_limit_is_checked_before_the_payload_arrives() {
    let out = decode_whole(codec(false), b"PUB foo 999999999\r\n");
    assert!(matches!(out.error, Some(ProtoError::MaxPayload { .. })));
    // Exactly the limit is fine.
    let exact = format!("PUB foo {}\r\n{}\r\n", 1024 * 1024, "x".repeat(1024 * 1024));
    let out = decode_whole(codec(false), exact.as_bytes());
    assert_eq!((out.ops.len(), out.error.is_none()), (1, true));
}

#[test]
fn control_line_limit_is_on_the_argument_bytes() {
    // `SUB ` + 4096 argument bytes is accepted; 4097 is not.
    let sid = |n: usize| format!("SUB foo {}\r\n", "1".repeat(n - 4));
    let out = decode_whole(codec(false), sid(4096).as_bytes());
    assert!(out.error.is_none(), "{:?}", out.error);
    let out = decode_whole(codec(false), sid(4097).as_bytes());
    assert_eq!(
        close_of(&out),
        Some(Close::WithErr(text::MAXIMUM_CONTROL_LINE_EXCEEDED))
    );
    // Blanks after the verb do not count.
    let padded = format!("SUB    foo {}\r\n", "1".repeat(4092));
    assert!(decode_whole(codec(false), padded.as_bytes())
        .error
        .is_none());
    // A never-ending line is cut off before the newline ever comes.
    let endless = format!("PUB {}", "a".repeat(5000));
    let out = decode_whole(codec(false), endless.as_bytes());
    assert!(matches!(out.error, Some(ProtoError::MaxControlLine { .. })));
    // CONNECT is subject to it too.
    let big = format!("CONNECT {{\"name\":\"{}\"}}\r\n", "n".repeat(5000));
    assert!(matches!(
        decode_whole(codec(false), big.as_bytes()).error,
        Some(ProtoError::MaxControlLine { .. })
    ));
    // A smaller configured limit applies.
    let small = ServerCodec::new(Limits {
        max_control_line: 8,
        ..Limits::default()
    });
    assert!(matches!(
        decode_whole(small, b"SUB foo.bar 1\r\n").error,
        Some(ProtoError::MaxControlLine { .. })
    ));
}

#[test]
fn only_connect_is_accepted_while_authentication_is_pending() {
    let pending = || {
        let mut codec = codec(false);
        codec.set_auth_pending(true);
        codec
    };
    for input in ["PING\r\n", "SUB foo 1\r\n", "XYZ\r\n", "PUB foo 1\r\na\r\n"] {
        let out = decode_whole(pending(), input.as_bytes());
        assert_eq!(
            close_of(&out),
            Some(Close::WithErr(text::AUTHORIZATION_VIOLATION)),
            "{input:?}"
        );
    }
    let out = decode_whole(pending(), b"connect {\"user\":\"a\"}\r\n");
    assert!(matches!(&out.ops[..], [ClientOp::Connect(c)] if c.user == "a"));
}

#[test]
fn route_protocol_errors() {
    let table: &[(&str, Close)] = &[
        ("SUB foo 1\r\n", UNKNOWN),
        ("PUB foo 1\r\na\r\n", UNKNOWN),
        ("MSG foo 1 1\r\na\r\n", UNKNOWN),
        ("RS+X $G foo\r\n", UNKNOWN),
        ("RMSG $G foo 1\r\nab\r\n", UNKNOWN),
        ("RS+ $G\r\n", SILENT),
        ("RS+ $G foo q\r\n", SILENT),
        ("RS+ $G foo q x\r\n", SILENT),
        ("RS- $G\r\n", SILENT),
        ("RS- $G foo q x\r\n", SILENT),
        ("RMSG $G\r\n", SILENT),
        ("RMSG $G foo x q 5\r\n", SILENT),
        ("RMSG $G foo bar\r\n", SILENT),
        ("HMSG $G foo 3 2\r\n", SILENT),
        ("LMSG HUB $G foo 5\r\n", SILENT),
        ("CONNECT [\r\n", SILENT),
        ("INFO {\"port\":\"x\"}\r\n", SILENT),
    ];
    for (input, expected) in table {
        let out = decode_whole(RouteCodec::default(), input.as_bytes());
        assert_eq!(
            out.error.as_ref().map(ProtoError::close),
            Some(*expected),
            "{input:?} gave {:?}",
            out.ops
        );
        assert_split_invariant(RouteCodec::default, input.as_bytes());
    }
}

#[test]
fn errors_carry_nats_server_log_text() {
    let out = decode_whole(codec(false), b"PUB foo\r\n");
    assert_eq!(
        out.error.map(|e| e.to_string()).as_deref(),
        Some("processPub Parse Error: \"foo\"")
    );
    let out = decode_whole(codec(false), b"SUB foo\r\n");
    assert_eq!(
        out.error.map(|e| e.to_string()).as_deref(),
        Some("processSub Parse Error: \"foo\"")
    );
    let out = decode_whole(codec(false), b"PUB foo 1048577\r\n");
    assert_eq!(
        out.error.map(|e| e.to_string()).as_deref(),
        Some("maximum payload exceeded: 1048577 vs 1048576")
    );
    let out = decode_whole(codec(false), b"HPUB foo 1 1\r\n");
    assert_eq!(
        out.error.map(|e| e.to_string()).as_deref(),
        Some("message headers not supported")
    );
}
