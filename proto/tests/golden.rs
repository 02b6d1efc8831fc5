//! Golden bytes for every op of both protocols, in both directions: each op encodes to exactly
//! the bytes nats-server 2.9.10 puts on the wire (docs/protocol.md §1, §2), and those bytes
//! decode back to the op.

mod common;

use bytes::{Bytes, BytesMut};
use common::assert_decodes;
use nats_proto::client::{ClientCodec, ClientOp, Message, Publish, ServerCodec, ServerOp};
use nats_proto::route::{Interest, RouteCodec, RouteOp, RoutedMsg};
use nats_proto::{ConnectInfo, Limits, RouteConnectInfo, ServerInfo, Size};

fn b(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

fn size(s: &str) -> Size {
    Size::parse(s.as_bytes()).expect("valid size token")
}

fn headers_on() -> ServerCodec {
    let mut codec = ServerCodec::new(Limits::default());
    codec.set_headers(true);
    codec
}

/// Client → server: encoded by a client, decoded by the server.
fn client_golden(op: ClientOp, wire: &str) {
    let mut dst = BytesMut::new();
    op.encode(&mut dst);
    assert_eq!(String::from_utf8_lossy(&dst), wire, "encoding {op:?}");
    assert_decodes(headers_on(), wire.as_bytes(), &[op]);
}

/// Server → client: encoded by the server, decoded by a client.
fn server_golden(op: ServerOp, wire: &str) {
    let mut dst = BytesMut::new();
    op.encode(&mut dst);
    assert_eq!(String::from_utf8_lossy(&dst), wire, "encoding {op:?}");
    assert_decodes(ClientCodec::default(), wire.as_bytes(), &[op]);
}

/// Route, either direction.
fn route_golden(op: RouteOp, wire: &str) {
    let mut dst = BytesMut::new();
    op.encode(&mut dst);
    assert_eq!(String::from_utf8_lossy(&dst), wire, "encoding {op:?}");
    assert_decodes(RouteCodec::default(), wire.as_bytes(), &[op]);
}

fn publish(
    subject: &'static str,
    reply: Option<&'static str>,
    hdr: Option<&str>,
    total: &str,
    payload: &'static str,
) -> Publish {
    Publish::new(
        subject.as_bytes(),
        reply.map(str::as_bytes),
        hdr.map(size),
        payload.as_bytes(),
    )
    .with_total_size(size(total))
}

#[test]
fn client_connect() {
    let info = ConnectInfo {
        verbose: false,
        pedantic: false,
        name: "NATS Sample Publisher".into(),
        lang: "rust".into(),
        version: "0.1.0".into(),
        protocol: 1,
        headers: true,
        no_responders: true,
        user: "u".into(),
        pass: "p".into(),
        ..ConnectInfo::default()
    };
    client_golden(
        ClientOp::Connect(Box::new(info)),
        "CONNECT {\"echo\":true,\"verbose\":false,\"pedantic\":false,\"tls_required\":false,\"user\":\"u\",\"pass\":\"p\",\"name\":\"NATS Sample Publisher\",\"lang\":\"rust\",\"version\":\"0.1.0\",\"protocol\":1,\"headers\":true,\"no_responders\":true}\r\n",
    );
}

#[test]
fn client_pub_and_hpub() {
    client_golden(
        ClientOp::Pub(publish("foo", None, None, "5", "hello")),
        "PUB foo 5\r\nhello\r\n",
    );
    client_golden(
        ClientOp::Pub(publish("foo", Some("_INBOX.1"), None, "5", "hello")),
        "PUB foo _INBOX.1 5\r\nhello\r\n",
    );
    client_golden(
        ClientOp::Pub(publish("foo", None, None, "0", "")),
        "PUB foo 0\r\n\r\n",
    );
    client_golden(
        ClientOp::Pub(publish("foo", None, None, "005", "he\r\nl")),
        "PUB foo 005\r\nhe\r\nl\r\n",
    );
    client_golden(
        ClientOp::Pub(publish(
            "foo",
            None,
            Some("18"),
            "23",
            "NATS/1.0\r\nA: B\r\n\r\nhello",
        )),
        "HPUB foo 18 23\r\nNATS/1.0\r\nA: B\r\n\r\nhello\r\n",
    );
    client_golden(
        ClientOp::Pub(publish(
            "foo",
            Some("r"),
            Some("18"),
            "23",
            "NATS/1.0\r\nA: B\r\n\r\nhello",
        )),
        "HPUB foo r 18 23\r\nNATS/1.0\r\nA: B\r\n\r\nhello\r\n",
    );
}

#[test]
fn client_sub_unsub_and_the_rest() {
    client_golden(
        ClientOp::Sub {
            subject: b("foo.*"),
            queue: None,
            sid: b("1"),
        },
        "SUB foo.* 1\r\n",
    );
    client_golden(
        ClientOp::Sub {
            subject: b("foo"),
            queue: Some(b("q")),
            sid: b("22"),
        },
        "SUB foo q 22\r\n",
    );
    client_golden(
        ClientOp::Unsub {
            sid: b("1"),
            max: None,
        },
        "UNSUB 1\r\n",
    );
    client_golden(
        ClientOp::Unsub {
            sid: b("1"),
            max: Some(5),
        },
        "UNSUB 1 5\r\n",
    );
    client_golden(ClientOp::Ping, "PING\r\n");
    client_golden(ClientOp::Pong, "PONG\r\n");
    client_golden(ClientOp::Ok, "+OK\r\n");
    client_golden(ClientOp::Err(b("oops")), "-ERR 'oops'\r\n");
    client_golden(ClientOp::Info(b("{\"a\":1}")), "INFO {\"a\":1}\r\n");
}

#[test]
fn server_info_matches_nats_server_bytes() {
    // docs/protocol.md §1.3, the 2-node cluster example.
    let info = ServerInfo {
        server_id: "NDEXAMPLE".into(),
        server_name: "X".into(),
        version: "2.9.10".into(),
        proto: 1,
        go: "go1.19.8".into(),
        host: "127.0.0.1".into(),
        port: 15301,
        headers: true,
        max_payload: 1048576,
        client_id: 6,
        client_ip: "127.0.0.1".into(),
        cluster: "Z".into(),
        connect_urls: vec!["127.0.0.1:15301".into(), "127.0.0.1:15302".into()],
        ..ServerInfo::default()
    };
    server_golden(
        ServerOp::Info(Box::new(info.clone())),
        "INFO {\"server_id\":\"NDEXAMPLE\",\"server_name\":\"X\",\"version\":\"2.9.10\",\"proto\":1,\"go\":\"go1.19.8\",\"host\":\"127.0.0.1\",\"port\":15301,\"headers\":true,\"max_payload\":1048576,\"client_id\":6,\"client_ip\":\"127.0.0.1\",\"cluster\":\"Z\",\"connect_urls\":[\"127.0.0.1:15301\",\"127.0.0.1:15302\"]} \r\n",
    );
    // With auth required, the key sits between headers and max_payload.
    let auth = ServerInfo {
        auth_required: true,
        cluster: String::new(),
        connect_urls: Vec::new(),
        ..info
    };
    let json = String::from_utf8(auth.to_json()).expect("utf8");
    assert!(
        json.contains("\"headers\":true,\"auth_required\":true,\"max_payload\":1048576,"),
        "{json}"
    );
}

#[test]
fn server_msg_hmsg_and_the_rest() {
    let msg = |subject: &str,
               sid: &str,
               reply: Option<&'static str>,
               hdr: Option<&str>,
               total: &str,
               payload: &str| {
        Message::new(
            subject.as_bytes(),
            sid.as_bytes(),
            reply.map(str::as_bytes),
            hdr.map(size),
            payload.as_bytes(),
        )
        .with_total_size(size(total))
    };
    server_golden(
        ServerOp::Msg(msg("foo", "1", None, None, "5", "hello")),
        "MSG foo 1 5\r\nhello\r\n",
    );
    server_golden(
        ServerOp::Msg(msg("foo", "1", None, None, "005", "hello")),
        "MSG foo 1 005\r\nhello\r\n",
    );
    server_golden(
        ServerOp::Msg(msg("foo", "1", Some("bar"), None, "2", "hi")),
        "MSG foo 1 bar 2\r\nhi\r\n",
    );
    server_golden(
        ServerOp::Msg(msg(
            "foo",
            "9",
            Some("r"),
            Some("18"),
            "23",
            "NATS/1.0\r\nA: B\r\n\r\nhello",
        )),
        "HMSG foo 9 r 18 23\r\nNATS/1.0\r\nA: B\r\n\r\nhello\r\n",
    );
    // The no-responders status message, exactly as nats-server sends it.
    server_golden(
        ServerOp::Msg(msg(
            "_INBOX.x",
            "2",
            None,
            Some("16"),
            "16",
            "NATS/1.0 503\r\n\r\n",
        )),
        "HMSG _INBOX.x 2 16 16\r\nNATS/1.0 503\r\n\r\n\r\n",
    );
    server_golden(ServerOp::Ping, "PING\r\n");
    server_golden(ServerOp::Pong, "PONG\r\n");
    server_golden(ServerOp::Ok, "+OK\r\n");
    server_golden(
        ServerOp::Err(b("Unknown Protocol Operation")),
        "-ERR 'Unknown Protocol Operation'\r\n",
    );
    server_golden(
        ServerOp::Err(b("Permissions Violation for Publish to \"foo.bar\"")),
        "-ERR 'Permissions Violation for Publish to \"foo.bar\"'\r\n",
    );
}

fn route_info() -> ServerInfo {
    ServerInfo {
        server_id: "NC57".into(),
        server_name: "A".into(),
        version: "2.9.10".into(),
        proto: 2,
        go: "go1.19.8".into(),
        host: "127.0.0.1".into(),
        port: 16222,
        headers: true,
        max_payload: 1048576,
        nonce: "-NHUEvkdBto4Zj8".into(),
        cluster: "CL".into(),
        connect_urls: vec!["192.0.2.2:15222".into(), "[fd00::2]:15222".into()],
        lnoc: true,
        ..ServerInfo::default()
    }
}

#[test]
fn route_info_and_connect() {
    route_golden(
        RouteOp::Info(Box::new(route_info())),
        "INFO {\"server_id\":\"NC57\",\"server_name\":\"A\",\"version\":\"2.9.10\",\"proto\":2,\"go\":\"go1.19.8\",\"host\":\"127.0.0.1\",\"port\":16222,\"headers\":true,\"max_payload\":1048576,\"nonce\":\"-NHUEvkdBto4Zj8\",\"cluster\":\"CL\",\"connect_urls\":[\"192.0.2.2:15222\",\"[fd00::2]:15222\"],\"lnoc\":true} \r\n",
    );
    // The gossip form: nonce cleared, ip set, no space before CR LF.
    let gossip = ServerInfo {
        nonce: String::new(),
        ip: "nats-route://127.0.0.1:16226/".into(),
        connect_urls: vec!["127.0.0.1:15226".into()],
        ..route_info()
    };
    let mut dst = BytesMut::new();
    gossip.encode_forwarded(&mut dst);
    let wire = "INFO {\"server_id\":\"NC57\",\"server_name\":\"A\",\"version\":\"2.9.10\",\"proto\":2,\"go\":\"go1.19.8\",\"host\":\"127.0.0.1\",\"port\":16222,\"headers\":true,\"max_payload\":1048576,\"ip\":\"nats-route://127.0.0.1:16226/\",\"cluster\":\"CL\",\"connect_urls\":[\"127.0.0.1:15226\"],\"lnoc\":true}\r\n";
    assert_eq!(String::from_utf8_lossy(&dst), wire);
    assert_decodes(
        RouteCodec::default(),
        wire.as_bytes(),
        &[RouteOp::Info(Box::new(gossip))],
    );

    let connect = RouteConnectInfo {
        user: "ruser".into(),
        pass: "pw".into(),
        headers: true,
        name: "NCGBJ4".into(),
        cluster: "C2".into(),
        lnoc: true,
        ..RouteConnectInfo::default()
    };
    route_golden(
        RouteOp::Connect(Box::new(connect)),
        "CONNECT {\"echo\":true,\"verbose\":false,\"pedantic\":false,\"user\":\"ruser\",\"pass\":\"pw\",\"tls_required\":false,\"headers\":true,\"name\":\"NCGBJ4\",\"cluster\":\"C2\",\"lnoc\":true}\r\n",
    );
}

fn interest(subject: &'static str, queue: Option<&'static str>, weight: u32) -> Interest {
    Interest {
        account: b("$G"),
        subject: b(subject),
        queue: queue.map(b),
        weight,
    }
}

#[test]
fn route_interest() {
    route_golden(RouteOp::Sub(interest("foo", None, 0)), "RS+ $G foo\r\n");
    route_golden(
        RouteOp::Sub(interest("foo", Some("q1"), 2)),
        "RS+ $G foo q1 2\r\n",
    );
    route_golden(RouteOp::Unsub(interest("foo", None, 0)), "RS- $G foo\r\n");
    route_golden(
        RouteOp::Unsub(interest("bar.*", Some("qq"), 0)),
        "RS- $G bar.* qq\r\n",
    );
    route_golden(
        RouteOp::LeafSub {
            origin: b("HUB"),
            interest: interest("foo", None, 0),
        },
        "LS+ HUB $G foo\r\n",
    );
    route_golden(
        RouteOp::LeafSub {
            origin: b("HUB"),
            interest: interest("foo", Some("q"), 3),
        },
        "LS+ HUB $G foo q 3\r\n",
    );
    route_golden(
        RouteOp::LeafUnsub(interest("foo", Some("q"), 0)),
        "LS- $G foo q\r\n",
    );
}

fn routed(
    origin: Option<&'static str>,
    subject: &'static str,
    reply: Option<&'static str>,
    queues: &'static str,
    hdr: Option<&str>,
    total: &str,
    payload: &'static str,
) -> RouteOp {
    RouteOp::Msg(
        RoutedMsg::new(
            origin.map(str::as_bytes),
            b"$G",
            subject.as_bytes(),
            reply.map(str::as_bytes),
            queues.as_bytes(),
            hdr.map(size),
            payload.as_bytes(),
        )
        .with_total_size(size(total)),
    )
}

#[test]
fn route_messages() {
    route_golden(
        routed(None, "foo", None, "", None, "5", "hello"),
        "RMSG $G foo 5\r\nhello\r\n",
    );
    route_golden(
        routed(None, "foo", Some("r"), "", None, "5", "hello"),
        "RMSG $G foo r 5\r\nhello\r\n",
    );
    route_golden(
        routed(None, "baz", Some("reply.x"), "grp", None, "5", "hello"),
        "RMSG $G baz + reply.x grp 5\r\nhello\r\n",
    );
    route_golden(
        routed(None, "baz", None, "grp", None, "2", "hi"),
        "RMSG $G baz | grp 2\r\nhi\r\n",
    );
    route_golden(
        routed(None, "a.b", None, "g1 g2", None, "1", "x"),
        "RMSG $G a.b | g1 g2 1\r\nx\r\n",
    );
    route_golden(
        routed(None, "a.b", Some("r"), "g1 g2", None, "1", "x"),
        "RMSG $G a.b + r g1 g2 1\r\nx\r\n",
    );
    route_golden(
        routed(
            None,
            "a.b",
            None,
            "g1 g2",
            Some("18"),
            "19",
            "NATS/1.0\r\nA: B\r\n\r\nx",
        ),
        "HMSG $G a.b | g1 g2 18 19\r\nNATS/1.0\r\nA: B\r\n\r\nx\r\n",
    );
    route_golden(
        routed(
            None,
            "foo",
            Some("r"),
            "",
            Some("18"),
            "23",
            "NATS/1.0\r\nA: B\r\n\r\nhello",
        ),
        "HMSG $G foo r 18 23\r\nNATS/1.0\r\nA: B\r\n\r\nhello\r\n",
    );
    route_golden(
        routed(Some("HUB"), "foo", Some("r"), "q", Some("0"), "5", "hello"),
        "LMSG HUB $G foo + r q 0 5\r\nhello\r\n",
    );
    route_golden(
        routed(Some("HUB"), "foo", None, "", Some("0"), "2", "hi"),
        "LMSG HUB $G foo 0 2\r\nhi\r\n",
    );
    route_golden(RouteOp::Ping, "PING\r\n");
    route_golden(RouteOp::Pong, "PONG\r\n");
    route_golden(RouteOp::Ok, "+OK\r\n");
    route_golden(
        RouteOp::Err(b("Duplicate Route")),
        "-ERR 'Duplicate Route'\r\n",
    );
}

#[test]
fn routed_queue_names_iterate_in_order() {
    let out = common::decode_whole(
        RouteCodec::default(),
        b"RMSG $G a.b + r g1 \t g2  1\r\nx\r\n",
    );
    let Some(RouteOp::Msg(m)) = out.ops.first() else {
        panic!("no message: {:?}", out.error)
    };
    let names: Vec<&[u8]> = m.queues().collect();
    assert_eq!(names, [&b"g1"[..], &b"g2"[..]]);
    assert_eq!(m.reply(), Some(&b"r"[..]));
}
