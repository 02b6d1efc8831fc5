//! WebSocket clients over raw sockets, each case run against our server and nats-server
//! 2.9.10 with the same configuration and bytes: the `websocket {}` block's start-up rules,
//! the upgrade and its refusals, frames split anywhere, fragmented messages with control
//! frames between the fragments, close frames and their statuses, permessage-deflate, the
//! block's own authentication, monitoring, and messages crossing routes.

#[path = "common/cluster.rs"]
mod cluster_util;
mod common;
#[path = "common/ws.rs"]
mod ws;

use std::time::Duration;

use cluster_util::{ClusterNode, ServerKind};
use common::{
    assert_config_refused, binaries, free_ports, get_json, poll_until, Raw, TestServer, WAIT,
};
use ws::WsRaw;

const PLAIN: &str = "websocket { host: 127.0.0.1, port: -1, no_tls: true }\n";
const COMPRESSED: &str =
    "websocket { host: 127.0.0.1, port: -1, no_tls: true, compression: true }\n";

/// A server of `binary` with `conf`, and its websocket port.
fn ws_server(binary: &str, conf: &str) -> (TestServer, u16) {
    let server = TestServer::binary_with_config(binary, conf, &["-DV"]);
    let port = server.logged_port("Listening for websocket clients on ");
    (server, port)
}

/// The refusal's head without its `Date` line (the only part that changes).
fn without_date(head: &str) -> String {
    head.lines()
        .filter(|l| !l.starts_with("Date: "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_websocket_block_is_checked_as_nats_server_checks_it() {
    for binary in binaries("websocket_block_rules") {
        assert_config_refused(
            binary,
            "websocket { port: -1 }\n",
            "websocket requires TLS configuration",
        );
        assert_config_refused(
            binary,
            "websocket { port: -1, no_tls: true, foo: 1 }\n",
            "unknown field \"foo\"",
        );
        assert_config_refused(
            binary,
            "authorization { users: [{user: a, password: b}] }\nwebsocket { port: -1, no_tls: true, authorization { token: x } }\n",
            "websocket authentication token not compatible with presence of users/nkeys",
        );
        assert_config_refused(
            binary,
            "websocket { port: -1, no_tls: true, jwt_cookie: c }\n",
            "trusted operators or trusted keys configuration is required for JWT authentication via cookie \"c\"",
        );
        assert_config_refused(
            binary,
            "websocket { port: -1, no_tls: true, no_auth_user: x }\n",
            "no_auth_user: \"x\" present, but users are not defined",
        );
        assert_config_refused(
            binary,
            "websocket { port: -1, no_tls: true, handshake_timeout: 2.5 }\n",
            "error parsing handshake timeout: unsupported type float64",
        );
        assert_config_refused(
            binary,
            "websocket { port: -1, no_tls: true, allowed_origins: [\"%zz\"] }\n",
            "unable to parse allowed origin: parse \"%zz\": invalid URL escape \"%zz\"",
        );
    }
}

#[test]
fn the_upgrade_answers_and_the_info_comes_in_a_binary_frame() {
    for binary in binaries("websocket_upgrade") {
        let (server, port) = ws_server(binary, COMPRESSED);
        let lines = server.log_lines();
        let ws_line = lines
            .iter()
            .position(|l| l.contains("Listening for websocket clients on ws://127.0.0.1:"));
        let client_line = lines
            .iter()
            .position(|l| l.contains("Listening for client connections on"));
        assert!(
            ws_line < client_line && ws_line.is_some(),
            "{binary}: {lines:?}"
        );
        assert!(server.wait_log(
            "Websocket not configured with TLS. DO NOT USE IN PRODUCTION!",
            WAIT
        ));

        // No extension offered: no compression.
        let mut plain = WsRaw::open(port, "");
        assert_eq!(
            plain.response,
            format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n", ws::ACCEPT),
            "{binary}"
        );
        let info = plain.frame(WAIT).expect("INFO frame");
        assert_eq!(info.b0, 0x82, "{binary}: FIN, binary, uncompressed");
        let text = String::from_utf8_lossy(&info.payload).into_owned();
        assert!(
            text.starts_with("INFO {") && text.ends_with("\r\n"),
            "{text}"
        );
        let json: serde_json::Value =
            serde_json::from_str(text["INFO ".len()..].trim()).expect("INFO json");
        // The INFO describes the client listener, as nats-server's does.
        assert_eq!(json["port"], server.port, "{binary}");

        // Offered by the client: the answer names the extension; the INFO is compressed.
        let mut compressed = WsRaw::open(
            port,
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
        );
        assert!(compressed.response.contains("\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n"), "{binary}: {}", compressed.response);
        let info = compressed.frame(WAIT).expect("INFO frame");
        assert_eq!(info.b0, 0xC2, "{binary}: FIN, RSV1, binary");
        assert!(info.payload.starts_with(b"INFO {"));
        // Small answers are not compressed.
        compressed.send(b"CONNECT {\"verbose\":false}\r\nPING\r\n");
        let pong = compressed.frame(WAIT).expect("PONG frame");
        assert_eq!(
            (pong.b0, &pong.payload[..]),
            (0x82, &b"PONG\r\n"[..]),
            "{binary}"
        );
    }
}

#[test]
fn bad_upgrades_get_the_http_error_and_the_log_line_nats_server_gives() {
    let conf = "websocket { host: 127.0.0.1, port: -1, no_tls: true, allowed_origins: [\"http://good.example\"] }\n";
    for binary in binaries("websocket_bad_upgrades") {
        let (server, port) = ws_server(binary, conf);
        let request = ws::request(port, "");
        let cases = [
            (
                request.replacen("GET", "POST", 1),
                "HTTP/1.1 405 Method Not Allowed",
                19,
                "request method must be GET",
            ),
            (
                request.replace(&format!("Sec-WebSocket-Key: {}\r\n", ws::KEY), ""),
                "HTTP/1.1 400 Bad Request",
                12,
                "key missing",
            ),
            (
                request.replace("Version: 13", "Version: 12"),
                "HTTP/1.1 400 Bad Request",
                12,
                "invalid version",
            ),
            (
                request.replace("Upgrade: websocket", "Upgrade: h2c"),
                "HTTP/1.1 400 Bad Request",
                12,
                "invalid value for header 'Upgrade'",
            ),
            (
                ws::request(port, "Origin: http://bad.example\r\n"),
                "HTTP/1.1 403 Forbidden",
                10,
                "origin not allowed: not in the allowed list",
            ),
        ];
        for (request, status, length, reason) in cases {
            let refused = WsRaw::open_with(port, &request);
            assert_eq!(
                without_date(&refused.response),
                without_date(&format!("{status}\r\nContent-Type: text/plain; charset=utf-8\r\nSec-Websocket-Version: 13\r\nX-Content-Type-Options: nosniff\r\nDate: x\r\nContent-Length: {length}\r\n\r\n")),
                "{binary}: {reason}"
            );
            assert!(
                server.wait_log(&format!(" - websocket handshake error: {reason}"), WAIT),
                "{binary}: {reason}: {:?}",
                server.log_lines()
            );
        }
        WsRaw::open(port, "Origin: http://good.example\r\n");
        WsRaw::open(port, "");
    }
}

#[test]
fn same_origin_admits_only_the_requests_own_host() {
    let conf = "websocket { host: 127.0.0.1, port: -1, no_tls: true, same_origin: true }\n";
    for binary in binaries("websocket_same_origin") {
        let (server, port) = ws_server(binary, conf);
        WsRaw::open(port, &format!("Origin: http://127.0.0.1:{port}\r\n"));
        let other = WsRaw::open_with(
            port,
            &ws::request(port, &format!("Origin: http://127.0.0.1:{}\r\n", port + 1)),
        );
        assert!(
            other.response.starts_with("HTTP/1.1 403 Forbidden\r\n"),
            "{binary}"
        );
        assert!(server.wait_log(
            "websocket handshake error: origin not allowed: not same origin",
            WAIT
        ));
    }
}

#[test]
fn frames_split_at_every_byte_with_control_frames_between_fragments_carry_the_protocol() {
    for binary in binaries("websocket_split_frames") {
        let (_server, port) = ws_server(binary, PLAIN);
        let mut c = WsRaw::open(port, "");
        c.frame(WAIT).expect("INFO");
        let big = "y".repeat(70_000);
        let ops = format!("CONNECT {{\"verbose\":false}}\r\nSUB s 1\r\nPUB s 5\r\nhello\r\nPUB s {}\r\n{big}\r\nPING\r\n", big.len());
        let key = [1, 2, 3, 4];
        let (a, b) = ops.as_bytes().split_at(40);
        let mut wire = ws::masked(0x02, a, key); // first fragment (FIN clear)
        wire.extend(ws::masked(0x89, b"hi", key)); // ping between the fragments
        wire.extend(ws::masked(0x8A, b"", key)); // an unsolicited pong, ignored
        wire.extend(ws::masked(0x80, b, key)); // last fragment
                                               // Text frames carry the protocol too.
        wire.extend(ws::masked(0x81, b"PUB s 2\r\nok\r\nPING\r\n", key));
        c.stream.set_nodelay(true).expect("nodelay");
        // Byte by byte for the headers and the small frames, in larger pieces after.
        for (i, byte) in wire.iter().enumerate() {
            if i < 200 || i >= wire.len() - 100 {
                c.send_raw(&[*byte]);
            } else if i == 200 {
                c.send_raw(&wire[200..wire.len() - 100]);
            }
        }
        let pong = c.frame(WAIT).expect("pong frame");
        assert_eq!((pong.b0, &pong.payload[..]), (0x8A, &b"hi"[..]), "{binary}");
        let text = c.read_until("ok\r\nPONG\r\n", WAIT);
        assert_eq!(
            text,
            format!(
                "MSG s 1 5\r\nhello\r\nMSG s 1 {}\r\n{big}\r\nPONG\r\nMSG s 1 2\r\nok\r\nPONG\r\n",
                big.len()
            ),
            "{binary}"
        );
    }
}

#[test]
fn compressed_client_messages_are_inflated_and_big_answers_compressed() {
    for binary in binaries("websocket_compressed") {
        let (_server, port) = ws_server(binary, COMPRESSED);
        let mut c = WsRaw::open(port, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
        c.frame(WAIT).expect("INFO");
        let payload = "hello compression ".repeat(500);
        let ops = format!(
            "CONNECT {{\"verbose\":false}}\r\nSUB z 1\r\nPUB z {}\r\n{payload}\r\nPING\r\n",
            payload.len()
        );
        let body = ws::deflate(ops.as_bytes());
        // One compressed message in two fragments: RSV1 on the first only.
        let (a, b) = body.split_at(body.len() / 2);
        c.send_frame(0x42, a);
        c.send_frame(0x80, b);
        let msg = c.frame(WAIT).expect("MSG frame");
        assert_eq!(
            msg.b0,
            0xC2,
            "{binary}: a big batch comes compressed: {:?}",
            String::from_utf8_lossy(&msg.payload[..msg.payload.len().min(100)])
        );
        let text = String::from_utf8_lossy(&msg.payload).into_owned();
        let rest = if text.contains("PONG") {
            text
        } else {
            text + &c.read_until("PONG\r\n", WAIT)
        };
        assert_eq!(
            rest,
            format!("MSG z 1 {}\r\n{payload}\r\nPONG\r\n", payload.len()),
            "{binary}"
        );
    }
}

#[test]
fn closes_carry_nats_servers_statuses_and_reasons() {
    for binary in binaries("websocket_closes") {
        let (server, port) = ws_server(binary, PLAIN);

        // The client closes: its status and reason come back, then EOF.
        let mut c = WsRaw::open(port, "");
        c.frame(WAIT).expect("INFO");
        c.send_frame(0x88, b"\x03\xe8bye");
        let frames = c.frames_until_closed();
        assert_eq!(frames.len(), 1, "{binary}: {frames:?}");
        assert_eq!(
            (frames[0].b0, &frames[0].payload[..]),
            (0x88, &b"\x03\xe8bye"[..])
        );
        assert!(server.wait_log("Client connection closed: Client Closed", WAIT));

        // A bad NATS op: the -ERR, then a close saying "Protocol Violation" (1002).
        let mut c = WsRaw::open(port, "");
        c.frame(WAIT).expect("INFO");
        c.send(b"CONNECT {\"verbose\":false}\r\nFOO\r\n");
        let frames = c.frames_until_closed();
        assert_eq!(frames.len(), 2, "{binary}: {frames:?}");
        assert_eq!(frames[0].payload, b"-ERR 'Unknown Protocol Operation'\r\n");
        assert_eq!(frames[1].opcode(), 8);
        assert_eq!(
            (frames[1].close_status(), frames[1].close_text().as_str()),
            (1002, "Protocol Violation"),
            "{binary}"
        );

        // An unmasked frame: a read error, logged with the websocket prefix.
        let mut c = WsRaw::open(port, "");
        c.frame(WAIT).expect("INFO");
        c.send_raw(b"\x82\x0cCONNECT {}\r\n");
        let frames = c.frames_until_closed();
        // nats-server's close frame races its close of the socket; ours is always sent.
        if binary == common::OURS {
            assert_eq!(frames.len(), 1, "{frames:?}");
            assert_eq!(
                (frames[0].close_status(), frames[0].close_text().as_str()),
                (1002, "mask bit missing")
            );
        }
        assert!(
            server.wait_log("- wid:", WAIT)
                && server.wait_log("read error: mask bit missing", WAIT),
            "{binary}: {:?}",
            server.log_lines()
        );
        assert!(server.wait_log("Client connection closed: Read Error", WAIT));
    }
}

#[test]
fn the_auth_timeout_closes_with_a_policy_violation() {
    let conf = format!("authorization {{ user: a, password: b, timeout: 1 }}\n{PLAIN}");
    for binary in binaries("websocket_auth_timeout") {
        let (server, port) = ws_server(binary, &conf);
        let mut c = WsRaw::open(port, "");
        let info = c.frame(WAIT).expect("INFO");
        assert!(String::from_utf8_lossy(&info.payload).contains("\"auth_required\":true"));
        let frames = c.frames_until_closed();
        assert_eq!(frames.len(), 2, "{binary}: {frames:?}");
        assert_eq!(frames[0].payload, b"-ERR 'Authentication Timeout'\r\n");
        assert_eq!(
            (frames[1].close_status(), frames[1].close_text().as_str()),
            (1008, "Authentication Timeout"),
            "{binary}"
        );
        assert!(server.wait_log("wid:", WAIT));
    }
}

#[test]
fn the_blocks_own_authorization_applies_to_websocket_clients_only() {
    let conf =
        "websocket { host: 127.0.0.1, port: -1, no_tls: true, authorization { token: s3cr3t } }\n";
    for binary in binaries("websocket_auth_override") {
        let (server, port) = ws_server(binary, conf);
        // TCP clients need nothing.
        let mut tcp = Raw::connect_with(server.port, "{\"verbose\":false}");
        assert_eq!(tcp.ping(), "PONG\r\n");

        let mut c = WsRaw::open(port, "");
        let info = c.frame(WAIT).expect("INFO");
        assert!(
            String::from_utf8_lossy(&info.payload).contains("\"auth_required\":true"),
            "{binary}"
        );
        c.send(b"CONNECT {\"verbose\":false}\r\nPING\r\n");
        let frames = c.frames_until_closed();
        assert_eq!(
            frames[0].payload, b"-ERR 'Authorization Violation'\r\n",
            "{binary}"
        );

        let mut c = WsRaw::open(port, "");
        c.frame(WAIT).expect("INFO");
        c.send(b"CONNECT {\"verbose\":false,\"auth_token\":\"s3cr3t\"}\r\nPING\r\n");
        assert_eq!(c.read_until("PONG\r\n", WAIT), "PONG\r\n", "{binary}");
    }
}

#[test]
fn websocket_no_auth_user_logs_clients_in_as_that_user() {
    let conf = "authorization { users: [{user: a, password: a, permissions: {publish: \"a.>\"}}, {user: w, password: w, permissions: {publish: \"w.>\"}}] }\nwebsocket { host: 127.0.0.1, port: -1, no_tls: true, no_auth_user: w }\n";
    for binary in binaries("websocket_no_auth_user") {
        let (_server, port) = ws_server(binary, conf);
        let mut c = WsRaw::open(port, "");
        c.frame(WAIT).expect("INFO");
        c.send(b"CONNECT {\"verbose\":false}\r\nPUB a.x 1\r\nx\r\nPUB w.x 1\r\ny\r\nPING\r\n");
        assert_eq!(
            c.read_until("PONG\r\n", WAIT),
            "-ERR 'Permissions Violation for Publish to \"a.x\"'\r\nPONG\r\n",
            "{binary}"
        );
    }
}

#[test]
fn monitoring_shows_websocket_clients_and_the_listener() {
    let conf = "websocket { host: 127.0.0.1, port: -1, no_tls: true, compression: true, handshake_timeout: \"3s\" }\n";
    let mut sections = Vec::new();
    for binary in binaries("websocket_monitoring") {
        let server = TestServer::binary_with_config(binary, conf, &["-m", "-1"]);
        let port = server.logged_port("Listening for websocket clients on ");
        let http = server.logged_port("Starting http monitor on ");
        let mut c = WsRaw::open(port, "");
        c.frame(WAIT).expect("INFO");
        c.send(b"CONNECT {\"verbose\":false,\"name\":\"browser\"}\r\nSUB q 1\r\nPING\r\n");
        c.read_until("PONG\r\n", WAIT);
        let mut tcp = Raw::connect_with(server.port, "{\"verbose\":false}");
        tcp.ping();
        let connz = get_json(http, "/connz");
        let types: Vec<(String, String)> = connz["connections"]
            .as_array()
            .expect("connections")
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap_or_default().to_string(),
                    c["type"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        assert!(
            types.contains(&("browser".into(), "websocket".into())),
            "{binary}: {types:?}"
        );
        assert!(
            types.contains(&(String::new(), "nats".into())),
            "{binary}: {types:?}"
        );
        let mut section = get_json(http, "/varz")["websocket"].clone();
        assert_eq!(section["port"], port, "{binary}");
        section["port"] = serde_json::Value::Null;
        sections.push(section);
    }
    if sections.len() == 2 {
        assert_eq!(
            sections[0], sections[1],
            "/varz websocket: ours, then nats-server's"
        );
    }
}

/// Two servers in a cluster, each with a websocket listener on a known port.
fn ws_pair(kinds: [ServerKind; 2]) -> (Vec<ClusterNode>, [u16; 2], [u16; 2]) {
    let [c0, c1, r0, r1, w0, w1] = free_ports::<6>();
    let clients = [c0, c1];
    let routes = [r0, r1];
    let wss = [w0, w1];
    let specs: Vec<_> = (0..2)
        .map(|i| {
            let seed = if i == 0 {
                String::new()
            } else {
                format!("nats-route://127.0.0.1:{r0}")
            };
            let conf = format!(
                "cluster {{\n  name: ws\n  listen: 127.0.0.1:{}\n  routes: [{seed}]\n}}\nwebsocket {{ host: 127.0.0.1, port: {}, no_tls: true }}\n",
                routes[i], wss[i]
            );
            (kinds[i], clients[i], routes[i], conf)
        })
        .collect();
    (cluster_util::start_together(&specs, 1), clients, wss)
}

#[test]
fn websocket_messages_cross_routes_and_clients_learn_the_websocket_urls() {
    use ServerKind::{Ours, Real};
    let mut arrangements = vec![[Ours, Ours]];
    if cluster_util::real_server_available("websocket_cluster") {
        arrangements.extend([[Ours, Real], [Real, Ours]]);
    }
    for kinds in arrangements {
        let (_nodes, clients, wss) = ws_pair(kinds);
        // A websocket client of A is told of both servers' websocket URLs.
        let mut c = WsRaw::open(wss[0], "");
        let info = c.frame(WAIT).expect("INFO");
        let json: serde_json::Value =
            serde_json::from_slice(info.payload["INFO ".len()..].trim_ascii()).expect("INFO json");
        let mut urls: Vec<String> = json["connect_urls"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|u| u.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        urls.sort();
        let mut want = vec![
            format!("127.0.0.1:{}", wss[0]),
            format!("127.0.0.1:{}", wss[1]),
        ];
        want.sort();
        assert_eq!(urls, want, "{kinds:?}");

        // Published over websocket on A, received over TCP on B.
        let mut sub = Raw::synced(
            clients[1],
            "{\"verbose\":false,\"headers\":true}",
            b"SUB t.> 1\r\n",
        );
        c.send(b"CONNECT {\"verbose\":false,\"headers\":true}\r\n");
        let arrived = poll_until(Duration::from_secs(10), || {
            c.send(b"PUB t.probe 1\r\nx\r\n");
            let (got, _) = sub.read_for(Duration::from_millis(100));
            !got.is_empty()
        });
        assert!(arrived, "{kinds:?}: no interest across the route");
        sub.read_for(Duration::from_millis(300));
        c.send(b"PUB t.one 3\r\none\r\nHPUB t.two 12 15\r\nNATS/1.0\r\n\r\ntwo\r\n");
        let (got, _) = sub.read_for(Duration::from_millis(500));
        let got = String::from_utf8_lossy(&got).into_owned();
        assert!(
            got.starts_with("MSG t.one 1 3\r\none\r\n"),
            "{kinds:?}: {got:?}"
        );
        assert!(
            got.ends_with("HMSG t.two 1 12 15\r\nNATS/1.0\r\n\r\ntwo\r\n"),
            "{kinds:?}: {got:?}"
        );

        // And the other way: TCP on B to websocket on A.
        c.send(b"SUB back 9\r\nPING\r\n");
        c.read_until("PONG\r\n", WAIT);
        let delivered = poll_until(Duration::from_secs(10), || {
            let mut p = Raw::connect_with(clients[1], "{\"verbose\":false}");
            p.send(b"PUB back 2\r\nhi\r\n");
            p.ping();
            c.read_until("MSG back 9 2\r\nhi\r\n", Duration::from_millis(200))
                .contains("MSG back 9 2\r\nhi\r\n")
        });
        assert!(delivered, "{kinds:?}");
    }
}

#[test]
fn a_frame_of_any_announced_length_streams_and_max_payload_still_holds() {
    let conf = format!("max_payload: 1024\n{PLAIN}");
    for binary in binaries("websocket_big_frames") {
        let (server, port) = ws_server(binary, &conf);
        // A frame announcing 2^40 bytes: its payload is read as it comes, nothing is
        // reserved for it, and the protocol inside it works.
        let mut c = WsRaw::open(port, "");
        c.frame(WAIT).expect("INFO");
        let key = [9, 8, 7, 6];
        let mut head = vec![0x82, 0x80 | 127];
        head.extend_from_slice(&(1u64 << 40).to_be_bytes());
        head.extend_from_slice(&key);
        let ops = b"CONNECT {\"verbose\":false}\r\nPING\r\n";
        let body: Vec<u8> = ops
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ key[i & 3])
            .collect();
        c.send_raw(&head);
        c.send_raw(&body);
        assert_eq!(c.read_until("PONG\r\n", WAIT), "PONG\r\n", "{binary}");
        assert!(common::poll_until(Duration::from_secs(2), || server
            .rss_kib()
            .is_some_and(|kib| kib < 512 * 1024)));

        // A PUB over max_payload: nats-server's -ERR, then close 1009.
        let mut c = WsRaw::open(port, "");
        c.frame(WAIT).expect("INFO");
        c.send(b"CONNECT {\"verbose\":false}\r\nPUB big 2000\r\n");
        let frames = c.frames_until_closed();
        assert_eq!(frames.len(), 2, "{binary}: {frames:?}");
        assert_eq!(frames[0].payload, b"-ERR 'Maximum Payload Violation'\r\n");
        assert_eq!(
            (frames[1].close_status(), frames[1].close_text().as_str()),
            (1009, "Maximum Message Payload Exceeded"),
            "{binary}"
        );
    }
}

#[test]
fn a_silent_peer_is_dropped_at_the_handshake_timeout() {
    let conf = "websocket { host: 127.0.0.1, port: -1, no_tls: true, handshake_timeout: \"1s\" }\n";
    for binary in binaries("websocket_handshake_timeout") {
        let (_server, port) = ws_server(binary, conf);
        let mut silent = Raw::dial(port, Duration::from_millis(100));
        let start = std::time::Instant::now();
        let (_, closed) = silent.read_for(Duration::from_secs(5));
        let took = start.elapsed();
        assert!(closed, "{binary}: a peer that sends no upgrade is kept");
        assert!(
            took >= Duration::from_millis(800),
            "{binary}: closed after {took:?}"
        );
    }
}

#[test]
fn a_proxied_client_is_logged_with_its_address_and_may_send_unmasked_frames() {
    for binary in binaries("websocket_proxy_and_no_masking") {
        let (server, port) = ws_server(binary, PLAIN);
        let mut c = WsRaw::open(
            port,
            "X-Forwarded-For: 10.1.2.3\r\nNats-No-Masking: true\r\n",
        );
        assert!(
            c.response.contains("\r\nNats-No-Masking: true\r\n"),
            "{binary}: {}",
            c.response
        );
        c.frame(WAIT).expect("INFO");
        let ops = b"CONNECT {\"verbose\":false}\r\nPING\r\n";
        let mut frame = vec![0x82, ops.len() as u8];
        frame.extend_from_slice(ops);
        c.send_raw(&frame);
        assert_eq!(c.read_until("PONG\r\n", WAIT), "PONG\r\n", "{binary}");
        assert!(
            server.wait_log("10.1.2.3/127.0.0.1:", WAIT),
            "{binary}: {:?}",
            server.log_lines()
        );
    }
}
