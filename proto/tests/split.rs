//! Every valid input decodes to the same ops however the bytes are split across reads: at every
//! byte position, and one byte at a time (nats-server's parser tests feed it the same way).

mod common;

use bytes::BytesMut;
use common::{assert_split_invariant, decode_whole};
use nats_proto::client::{ClientCodec, ClientOp, ServerCodec};
use nats_proto::route::{RouteCodec, RouteOp};
use nats_proto::Limits;
use tokio_util::codec::Decoder;

fn server_codec() -> ServerCodec {
    let mut codec = ServerCodec::new(Limits::default());
    codec.set_headers(true);
    codec
}

/// Client ops, one per entry, including every lexical form of docs/protocol.md §1.2.
const CLIENT_INPUTS: &[&str] = &[
    "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true}\r\n",
    "CONNECT{\"verbose\":false}\r\n",
    "connect {}\n",
    "PUB foo 5\r\nhello\r\n",
    "pub foo 5\r\nhello\r\n",
    "pUb\tfoo\t \treply  5 \r\nhello\r\n",
    "PUB foo 005\r\nhello\r\n",
    "PUB foo 0\r\n\r\n",
    "PUB foo 4\nab\r\n\r\n",
    "HPUB foo 18 23\r\nNATS/1.0\r\nA: B\r\n\r\nhello\r\n",
    "hpub foo bar 12 12\r\nNATS/1.0\r\n\r\n\r\n",
    "SUB foo 1\r\n",
    "sub foo.* q 2\r\n",
    "SUB\tfoo.>\t\t3 \r\n",
    "UNSUB 1\r\n",
    "unsub 1 10\n",
    "UNSUB 1 x\r\n",
    "PING\r\n",
    "ping\n",
    "PINGX\r\n",
    "PING\rPING\r\n",
    "PONG\r\n",
    "pong whatever\r\n",
    "+OK\r\n",
    "+ok\n",
    "-ERR 'bad'\r\n",
    "INFO {\"server_id\":\"x\"}\r\n",
];

const SERVER_INPUTS: &[&str] = &[
    "INFO {\"server_id\":\"NX\",\"server_name\":\"NX\",\"version\":\"2.9.10\",\"proto\":1,\"go\":\"go1.19.8\",\"host\":\"0.0.0.0\",\"port\":4222,\"headers\":true,\"max_payload\":1048576,\"client_id\":4,\"client_ip\":\"127.0.0.1\"} \r\n",
    "MSG foo 1 5\r\nhello\r\n",
    "MSG foo 1 reply 005\r\nhello\r\n",
    "msg foo 1 0\r\n\r\n",
    "HMSG foo 9 r 18 23\r\nNATS/1.0\r\nA: B\r\n\r\nhello\r\n",
    "HMSG _INBOX.x 2 16 16\r\nNATS/1.0 503\r\n\r\n\r\n",
    "PING\r\n",
    "PONG\r\n",
    "+OK\r\n",
    "-ERR 'Authorization Violation'\r\n",
];

const ROUTE_INPUTS: &[&str] = &[
    "CONNECT {\"echo\":true,\"verbose\":false,\"pedantic\":false,\"tls_required\":false,\"headers\":true,\"name\":\"NC\",\"cluster\":\"CL\",\"lnoc\":true}\r\n",
    "INFO {\"server_id\":\"NC\",\"server_name\":\"A\",\"version\":\"2.9.10\",\"proto\":2,\"go\":\"go1.19.8\",\"host\":\"127.0.0.1\",\"port\":16222,\"headers\":true,\"max_payload\":1048576,\"nonce\":\"abc\",\"cluster\":\"CL\",\"lnoc\":true} \r\n",
    "INFO {\"server_id\":\"NE\",\"ip\":\"nats-route://127.0.0.1:16226/\"}\r\n",
    "RS+ $G foo\r\n",
    "RS+ $G foo q1 2\r\n",
    "rs- $G foo\r\n",
    "RS- $G foo q1\r\n",
    "LS+ HUB $G foo\r\n",
    "LS+ HUB $G foo q 3\r\n",
    "LS- $G foo q\r\n",
    "RMSG $G foo 5\r\nhello\r\n",
    "RMSG $G foo reply 5\r\nhello\r\n",
    "RMSG $G baz + reply.x grp 5\r\nhello\r\n",
    "RMSG $G baz | g1 g2 2\r\nhi\r\n",
    "HMSG $G a.b | g1 g2 18 19\r\nNATS/1.0\r\nA: B\r\n\r\nx\r\n",
    "LMSG HUB $G foo + r q 0 5\r\nhello\r\n",
    "RMSG $SYS $SYS.SERVER.NC.STATSZ 2\r\n{}\r\n",
    "PING\r\n",
    "PONG\r\n",
    "+OK\r\n",
    "-ERR 'Duplicate Route'\r\n",
];

#[test]
fn client_ops_survive_every_split() {
    for input in CLIENT_INPUTS {
        let out = decode_whole(server_codec(), input.as_bytes());
        assert!(
            out.error.is_none() && out.ops.len() == 1,
            "{input:?} did not decode to one op: {:?} {:?}",
            out.ops,
            out.error
        );
        assert_split_invariant(server_codec, input.as_bytes());
    }
    // All of them back to back, as one stream.
    let stream: String = CLIENT_INPUTS.concat();
    let out = decode_whole(server_codec(), stream.as_bytes());
    assert_eq!(out.ops.len(), CLIENT_INPUTS.len(), "{:?}", out.error);
    assert_split_invariant(server_codec, stream.as_bytes());
}

#[test]
fn server_ops_survive_every_split() {
    for input in SERVER_INPUTS {
        let out = decode_whole(ClientCodec::default(), input.as_bytes());
        assert_eq!(out.ops.len(), 1, "{input:?}: {:?}", out.error);
        assert_split_invariant(ClientCodec::default, input.as_bytes());
    }
    let stream: String = SERVER_INPUTS.concat();
    assert_split_invariant(ClientCodec::default, stream.as_bytes());
}

#[test]
fn route_ops_survive_every_split() {
    for input in ROUTE_INPUTS {
        let out = decode_whole(RouteCodec::default(), input.as_bytes());
        assert_eq!(out.ops.len(), 1, "{input:?}: {:?}", out.error);
        assert_split_invariant(RouteCodec::default, input.as_bytes());
    }
    let stream: String = ROUTE_INPUTS.concat();
    let out = decode_whole(RouteCodec::default(), stream.as_bytes());
    assert_eq!(out.ops.len(), ROUTE_INPUTS.len());
    assert_split_invariant(RouteCodec::default, stream.as_bytes());
}

#[test]
fn lexical_rules_of_the_client_parser() {
    let ops = |s: &str| decode_whole(server_codec(), s.as_bytes()).ops;
    // Junk after PING/PONG/+OK is ignored up to the newline: exactly one PING each.
    assert_eq!(ops("PING foo\r\n"), [ClientOp::Ping]);
    assert_eq!(ops("PINGX\r\n"), [ClientOp::Ping]);
    assert_eq!(ops("PING\rPING\r\n"), [ClientOp::Ping]);
    // Leading and trailing blanks around arguments are fine; tabs separate too.
    let ClientOp::Pub(p) = &ops("PUB foo  \t 2\t \r\nhi\r\n")[0] else {
        panic!("not a PUB")
    };
    assert_eq!(
        (p.subject(), p.payload(), p.reply().is_none()),
        (&b"foo"[..], &b"hi"[..], true)
    );
    // The payload may contain CR LF.
    let ClientOp::Pub(p) = &ops("PUB foo 4\r\n\r\n\r\n\r\n")[0] else {
        panic!("not a PUB")
    };
    assert_eq!(p.payload(), b"\r\n\r\n");
}

#[test]
fn junk_after_ping_is_dropped_as_it_arrives() {
    let mut codec = server_codec();
    let mut buf = BytesMut::from(&b"PING"[..]);
    assert!(codec.decode(&mut buf).expect("valid").is_none());
    for _ in 0..100 {
        buf.extend_from_slice(&[b'x'; 1000]);
        assert!(codec.decode(&mut buf).expect("valid").is_none());
        assert!(buf.is_empty(), "junk must not be buffered");
    }
    buf.extend_from_slice(b"\r\nPONG\r\n");
    assert_eq!(codec.decode(&mut buf).expect("valid"), Some(ClientOp::Ping));
    assert_eq!(codec.decode(&mut buf).expect("valid"), Some(ClientOp::Pong));
}

#[test]
fn a_large_payload_in_single_bytes_is_buffered_once() {
    const SIZE: usize = 1024 * 1024;
    let mut codec = server_codec();
    let mut buf = BytesMut::from(format!("PUB big {SIZE}\r\n").as_bytes());
    assert!(codec.decode(&mut buf).expect("valid").is_none());
    // The decoder knows the frame size from the header and reserves it once.
    assert!(buf.capacity() >= SIZE + 2);
    for i in 0..SIZE {
        buf.extend_from_slice(&[(i % 251) as u8]);
        assert!(codec.decode(&mut buf).expect("valid").is_none());
    }
    buf.extend_from_slice(b"\r\n");
    let Some(ClientOp::Pub(p)) = codec.decode(&mut buf).expect("valid") else {
        panic!("no PUB")
    };
    assert_eq!(p.payload().len(), SIZE);
    assert!(p
        .payload()
        .iter()
        .enumerate()
        .all(|(i, b)| *b == (i % 251) as u8));
    assert!(buf.is_empty());
}

#[test]
fn payload_slices_point_into_the_read_buffer() {
    let mut codec = server_codec();
    let mut buf = BytesMut::from(&b"PUB foo.bar reply 5\r\nhello\r\n"[..]);
    let start = buf.as_ptr() as usize;
    let end = start + buf.len();
    let Some(ClientOp::Pub(p)) = codec.decode(&mut buf).expect("valid") else {
        panic!("no PUB")
    };
    let payload = p.payload_bytes();
    for part in [
        p.subject(),
        p.reply().expect("reply"),
        p.payload(),
        &payload[..],
    ] {
        let at = part.as_ptr() as usize;
        assert!(
            at >= start && at + part.len() <= end,
            "copied instead of sliced"
        );
    }
}

#[test]
fn route_ops_decode_as_expected() {
    let out = decode_whole(RouteCodec::default(), b"RS+ $G foo q1 2\r\n");
    let [RouteOp::Sub(i)] = &out.ops[..] else {
        panic!("{:?}", out.ops)
    };
    assert_eq!(
        (&i.subject[..], i.queue.as_deref(), i.weight),
        (&b"foo"[..], Some(&b"q1"[..]), 2)
    );
}
