//! Fail closed: what an attacker (or a careless config) tries against the server, and what it
//! must get. A route peer that skips `CONNECT`, configuration the server does not implement,
//! a flood of bcrypt logins, permission entries with queue groups, reply-only publishers,
//! absurd durations. Where nats-server 2.9.10 decides the same case, the case is run against
//! it too (when it is installed), so the expected answer is measured, not assumed.

#[path = "common/cluster.rs"]
mod cluster_util;
mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use cluster_util::{free_port, FakePeer};
use common::{binaries, run_to_exit, Raw, TempFile, TestServer, OURS, REFERENCE, WAIT};

/// `CONNECT` for a raw client that wants no `+OK`s.
const QUIET: &str = r#"{"verbose":false,"pedantic":false}"#;

// ----------------------------------------------------------------------------------------
// Routes: CONNECT first

/// Starts `binary` with `conf` and waits until it also listens for routes.
fn clustered(binary: &str, conf: &str) -> TestServer {
    let server = TestServer::binary_with_config(binary, conf, &[]);
    assert!(
        server.wait_log("Listening for route connections on", WAIT),
        "{binary}: {:?}",
        server.log_lines()
    );
    server
}

/// A config with clustering on a known port and, optionally, route credentials.
fn cluster_conf(cluster_port: u16, auth: bool) -> String {
    let auth = if auth {
        "authorization { user: ruser, password: rpass }"
    } else {
        ""
    };
    format!("cluster {{ listen: 127.0.0.1:{cluster_port}\n name: sec\n {auth} }}\n")
}

/// Dials the cluster port, reads the server's INFO, sends `first`, and returns everything
/// the server sent after its INFO and whether it closed the connection.
fn route_answer(cluster_port: u16, first: &str) -> (String, bool) {
    let mut raw = Raw::dial(cluster_port, Duration::from_millis(50));
    let info = raw.read_line(WAIT).expect("route INFO");
    assert!(info.starts_with("INFO {"), "{info:?}");
    raw.send(first.as_bytes());
    let (bytes, closed) = raw.read_for(Duration::from_millis(1500));
    (String::from_utf8_lossy(&bytes).into_owned(), closed)
}

/// Everything an accepted route might send before introducing itself.
const BEFORE_CONNECT: &[&str] = &[
    "RS+ $G >\r\n",
    "RMSG $G foo 5\r\nhello\r\n",
    "PING\r\n",
    "PUB foo 5\r\nhello\r\n",
    "SUB foo 1\r\n",
    "FOO\r\n",
    "INFO {\"server_id\":\"NFAKEPEER\",\"cluster\":\"sec\",\"port\":4248}\r\nRS+ $G >\r\n",
];

#[test]
fn a_route_peer_must_connect_before_anything_else_with_cluster_credentials() {
    for binary in binaries("route_gate_with_auth") {
        let cluster_port = free_port();
        let _server = clustered(binary, &cluster_conf(cluster_port, true));
        for first in BEFORE_CONNECT {
            let (answer, closed) = route_answer(cluster_port, first);
            assert_eq!(
                answer, "-ERR 'Authorization Violation'\r\n",
                "{binary}: answer to {first:?}"
            );
            assert!(closed, "{binary}: still open after {first:?}");
        }
    }
}

#[test]
fn a_route_peer_must_connect_before_anything_else_without_cluster_credentials() {
    // nats-server without route credentials lets such a peer act as a route (and so skip
    // the cluster permissions, which come with CONNECT); this server refuses it.
    let cluster_port = free_port();
    let server = clustered(
        OURS,
        &format!("debug: true\n{}", cluster_conf(cluster_port, false)),
    );
    for first in BEFORE_CONNECT {
        let (answer, closed) = route_answer(cluster_port, first);
        assert_eq!(answer, "-ERR 'Authorization Violation'\r\n", "{first:?}");
        assert!(closed, "still open after {first:?}");
    }
    // Nothing of theirs stuck: a client publishing sees no interest from those peers.
    let _client = Raw::synced(server.port, QUIET, b"PUB foo 5\r\nhello\r\n");
    assert!(server.wait_log("Router connection closed: Authentication Failure", WAIT));
    let routes = server
        .log_lines()
        .iter()
        .filter(|l| l.contains("Registering remote route"))
        .count();
    assert_eq!(routes, 0, "a peer without CONNECT was registered");
}

#[test]
fn a_route_peer_with_connect_and_credentials_is_served() {
    let cluster_port = free_port();
    let server = clustered(OURS, &cluster_conf(cluster_port, true));
    let mut raw = Raw::dial(cluster_port, Duration::from_millis(50));
    raw.read_line(WAIT).expect("INFO");
    raw.send(b"CONNECT {\"user\":\"ruser\",\"pass\":\"rpass\",\"cluster\":\"sec\"}\r\nPING\r\n");
    assert_eq!(raw.read_line(WAIT).as_deref(), Some("PONG\r\n"));
    drop(server);
}

// ----------------------------------------------------------------------------------------
// Configuration the server does not implement is refused, with its position

/// Writes `conf` to a file and checks the server refuses it: exit 1, and an error that names
/// the file, line and column of the value and says `<what> is not supported by this server
/// yet`.
fn assert_refused(conf: &str, line: usize, what: &str) {
    let file = TempFile::new("refused", "refused.conf", conf);
    let path = file.arg();
    for args in [vec!["-c", &path], vec!["-t", "-c", &path]] {
        let (code, stderr) = run_to_exit(OURS, &args);
        assert_eq!(code, Some(1), "{conf:?} {args:?}: {stderr}");
        let expected = format!("{what} is not supported by this server yet");
        let located = stderr.lines().any(|l| {
            l.contains(&expected)
                && l.split("refused.conf:").nth(1).is_some_and(|rest| {
                    let mut parts = rest.split(':');
                    parts.next() == Some(&line.to_string())
                        && parts.next().is_some_and(|c| c.parse::<u32>().is_ok())
                })
        });
        assert!(
            located,
            "{conf:?}: want {expected:?} at line {line}, got {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn configuration_that_decides_who_connects_or_what_they_see_is_refused_until_implemented() {
    // (configuration, line of the refused key, what the error names). Parts of accounts not
    // implemented yet come first: the rest of `accounts {}` works (see accounts.rs).
    let cases = [
        (
            "accounts {\n  A {\n    mappings: { a: b }\n  }\n}\n",
            3,
            "account mappings",
        ),
        (
            "accounts {\n  A {\n    nkey: ABC\n  }\n}\n",
            3,
            "account nkey",
        ),
        (
            "accounts {\n  A {\n    jetstream: enabled\n  }\n}\n",
            3,
            "account jetstream",
        ),
        // Operator mode has the memory resolver only (see tests/jwt.rs).
        ("resolver: URL(http://127.0.0.1:9/)\n", 1, "resolver URL"),
        (
            "resolver {\n  type: full\n  dir: /tmp/jwt\n}\n",
            1,
            "resolver with a directory (full or cache)",
        ),
        ("leafnodes {\n  port: 7422\n}\n", 1, "leafnodes"),
        ("gateway {\n  name: A\n  port: 7222\n}\n", 1, "gateway"),
        ("mqtt {\n  port: 1883\n}\n", 1, "mqtt"),
        ("jetstream {\n  store_dir: /tmp/js\n}\n", 1, "jetstream"),
        ("jetstream: enabled\n", 1, "jetstream"),
    ];
    for (conf, line, what) in cases {
        assert_refused(conf, line, what);
    }
}

#[test]
fn metadata_only_keys_start_with_a_warning() {
    let server = TestServer::with_config("server_tags: [\"az:1\"]\n", &[]);
    assert!(
        server.wait_log(
            "server_tags is not supported by this server yet and is ignored",
            WAIT
        ),
        "{:?}",
        server.log_lines()
    );
}

#[test]
fn invalid_permission_subjects_and_duplicate_users_are_config_errors() {
    let cases = [
        (
            "authorization { users: [{user: a, password: a, permissions: {publish: {allow: [\"foo..bar\"]}}}] }\n",
            "subject \"foo..bar\" is not a valid subject",
        ),
        (
            "authorization { users: [{user: a, password: a, permissions: {subscribe: {allow: [\"foo q x\"]}}}] }\n",
            "subject \"foo q x\" is not a valid subject",
        ),
        (
            "authorization { users: [{user: a, password: a}, {user: b, password: b}, {user: a, password: c}] }\n",
            "Duplicate user \"a\" detected",
        ),
    ];
    for binary in binaries("invalid_permission_subjects") {
        for (conf, message) in cases {
            let file = TempFile::new("badperm", "bad.conf", conf);
            let (code, stderr) = run_to_exit(binary, &["-t", "-c", &file.arg()]);
            assert_eq!(code, Some(1), "{binary} {conf}: {stderr}");
            assert!(
                stderr.contains(message) && stderr.contains("bad.conf:1:"),
                "{binary} {conf}: want {message:?} at line 1, got {stderr}"
            );
        }
    }
}

// ----------------------------------------------------------------------------------------
// Durations: no value panics the server

#[test]
fn absurd_durations_are_refused_with_their_position_not_a_panic() {
    let cases = [
        ("ping_interval: 100000000000000000000.0\n", 1),
        ("ping_interval: 9223372036854775807\n", 1),
        ("write_deadline: 100000000000000000000.0\n", 1),
        ("lame_duck_duration: 100000000000000000000.0\n", 1),
        ("lame_duck_grace_period: \"100000000h\"\n", 1),
        ("authorization {\n  user: a\n  password: b\n  timeout: 100000000000000000000.0\n}\n", 4),
        (
            "cluster {\n  port: -1\n  authorization {\n    user: a\n    password: b\n    timeout: 1e300\n  }\n}\n",
            6,
        ),
        (
            "tls {\n  cert_file: c.pem\n  key_file: k.pem\n  timeout: 1e300\n}\n",
            4,
        ),
    ];
    for (conf, line) in cases {
        let file = TempFile::new("duration", "d.conf", conf);
        let (code, stderr) = run_to_exit(OURS, &["-c", &file.arg(), "-p", "-1"]);
        assert_eq!(code, Some(1), "{conf}: {stderr}");
        assert!(!stderr.contains("panicked"), "{conf}: {stderr}");
        assert!(
            stderr.contains(&format!("d.conf:{line}:")),
            "{conf}: {stderr}"
        );
    }
}

#[test]
fn the_longest_durations_go_allows_start_and_serve_clients() {
    // About 228 years, under Go's 292: every timer computed from these must not overflow.
    let server = TestServer::with_config(
        "ping_interval: \"2000000h\"\nwrite_deadline: \"2000000h\"\n\
         authorization { user: a, password: b, timeout: 7000000000 }\n",
        &[],
    );
    let mut raw = Raw::connect_with(server.port, r#"{"verbose":false,"user":"a","pass":"b"}"#);
    assert_eq!(raw.ping(), "PONG\r\n");
    let mut raw = Raw::connect(server.port);
    raw.send(b"PING\r\n");
    assert_eq!(
        raw.read_line(WAIT).as_deref(),
        Some("-ERR 'Authorization Violation'\r\n")
    );
}

// ----------------------------------------------------------------------------------------
// bcrypt logins run off the connection workers

/// `$2a$12$` (cost 12) bcrypt hash of `s3cret`.
const COST_12_HASH: &str = "$2a$12$eAblR3f0zsL8TNDNh79FRu2YJsDXtv8GUsDCPhXzIWH4zGGbGZ8P2";

/// Sixteen slow logins at once all succeed while another client keeps being served. That
/// the checks run off the runtime's threads is asserted exactly in `auth`'s unit tests.
#[test]
fn bcrypt_logins_all_succeed_while_other_clients_are_served() {
    let conf = format!(
        "authorization {{ users: [\n  {{user: slow, password: \"{COST_12_HASH}\"}}\n  {{user: fast, password: quick}}\n] }}\n"
    );
    let server = TestServer::with_config(&conf, &[]);
    let mut probe = Raw::connect_with(
        server.port,
        r#"{"verbose":false,"user":"fast","pass":"quick"}"#,
    );
    assert_eq!(probe.ping(), "PONG\r\n");
    let port = server.port;
    let logins: Vec<_> = (0..16)
        .map(|_| {
            std::thread::spawn(move || {
                let mut raw =
                    Raw::connect_with(port, r#"{"verbose":false,"user":"slow","pass":"s3cret"}"#);
                raw.send(b"PING\r\n");
                raw.read_line(Duration::from_secs(60))
            })
        })
        .collect();
    // While the logins are checked, an unrelated client is answered.
    for _ in 0..20 {
        assert_eq!(probe.ping(), "PONG\r\n");
        std::thread::sleep(Duration::from_millis(10));
    }
    for login in logins {
        let answer = login.join().expect("login thread");
        assert_eq!(answer.as_deref(), Some("PONG\r\n"), "a bcrypt login failed");
    }
}

// ----------------------------------------------------------------------------------------
// Permissions, exactly as nats-server decides them

/// A server of `binary` with one user `u`/`p` holding `permissions`, and a free user `x`/`x`.
fn permissions_server(binary: &str, permissions: &str) -> TestServer {
    let conf = format!(
        "authorization {{ users: [\n  {{user: u, password: p, permissions: {permissions}}}\n  {{user: x, password: x}}\n] }}\n"
    );
    TestServer::binary_with_config(binary, &conf, &[])
}

/// A raw client that sent `CONNECT` (quiet) with `user` and `pass`; nothing read yet.
fn connect_as(server: &TestServer, user: &str, pass: &str) -> Raw {
    Raw::connect_with(
        server.port,
        &format!(r#"{{"verbose":false,"pedantic":false,"user":"{user}","pass":"{pass}"}}"#),
    )
}

fn login(server: &TestServer, user: &str) -> Raw {
    let mut raw = connect_as(server, user, if user == "u" { "p" } else { "x" });
    assert_eq!(raw.ping(), "PONG\r\n", "{user} could not log in");
    raw
}

/// Sends `op` and returns what came back before the PONG of a following PING (a permission
/// violation's `-ERR`, or nothing).
fn answer(raw: &mut Raw, op: &str) -> String {
    raw.send(op.as_bytes());
    let all = raw.ping();
    all.strip_suffix("PONG\r\n").unwrap_or(&all).to_string()
}

#[test]
fn allow_responses_without_a_publish_block_allows_only_replies() {
    for binary in binaries("allow_responses_only_replies") {
        let server = permissions_server(binary, "{allow_responses: true}");
        let mut responder = login(&server, "u");
        assert_eq!(
            answer(&mut responder, "PUB anything 2\r\nhi\r\n"),
            "-ERR 'Permissions Violation for Publish to \"anything\"'\r\n",
            "{binary}"
        );
        assert_eq!(answer(&mut responder, "SUB req 1\r\n"), "", "{binary}");
        let mut requester = login(&server, "x");
        requester.send(b"SUB inbox.1 1\r\nPUB req inbox.1 2\r\nq?\r\n");
        requester.ping();
        assert_eq!(
            responder.read_line(WAIT).as_deref(),
            Some("MSG req 1 inbox.1 2\r\n"),
            "{binary}"
        );
        responder.read_line(WAIT);
        assert_eq!(
            answer(&mut responder, "PUB inbox.1 2\r\nok\r\n"),
            "",
            "{binary}"
        );
        assert_eq!(
            requester.read_line(WAIT).as_deref(),
            Some("MSG inbox.1 1 2\r\n"),
            "{binary}"
        );
        // One reply per request by default.
        assert_eq!(
            answer(&mut responder, "PUB inbox.1 2\r\nok\r\n"),
            "-ERR 'Permissions Violation for Publish to \"inbox.1\"'\r\n",
            "{binary}"
        );
    }
}

#[test]
fn queue_qualified_entries_decide_queue_subscriptions_only() {
    let permissions = r#"{subscribe: {allow: ["plainq", "plainq qa", "qq.x", "sec.>"], deny: ["qq.x q2", "sec.> q1"]}}"#;
    let cases = [
        ("SUB plainq 1\r\n", ""),
        ("SUB plainq qa 2\r\n", ""),
        (
            "SUB plainq qb 3\r\n",
            "-ERR 'Permissions Violation for Subscription to \"plainq\" using queue \"qb\"'\r\n",
        ),
        (
            "SUB qq.x q2 4\r\n",
            "-ERR 'Permissions Violation for Subscription to \"qq.x\" using queue \"q2\"'\r\n",
        ),
        ("SUB qq.x q1 5\r\n", ""),
        ("SUB qq.x 6\r\n", ""),
        (
            "SUB sec.a q1 7\r\n",
            "-ERR 'Permissions Violation for Subscription to \"sec.a\" using queue \"q1\"'\r\n",
        ),
        ("SUB sec.> 8\r\n", ""),
    ];
    for binary in binaries("queue_qualified_entries") {
        let server = permissions_server(binary, permissions);
        let mut user = login(&server, "u");
        for (op, expected) in cases {
            assert_eq!(answer(&mut user, op), expected, "{binary}: {op:?}");
        }
        // The queue-qualified deny entries do not filter what the plain subscriptions get.
        let mut publisher = login(&server, "x");
        publisher.send(b"PUB sec.a 1\r\n1\r\nPUB qq.x 1\r\n2\r\n");
        publisher.ping();
        let mut got = Vec::new();
        while got.len() < 3 {
            let Some(line) = user.read_line(WAIT) else {
                break;
            };
            if line.starts_with("MSG ") {
                got.push(line);
            }
        }
        got.sort();
        assert_eq!(
            got,
            ["MSG qq.x 5 1\r\n", "MSG qq.x 6 1\r\n", "MSG sec.a 8 1\r\n"],
            "{binary}"
        );
    }
}

/// Runs `check` against a server of each binary (ours, and nats-server when installed)
/// started with `conf`, one after the other.
fn on_each_server(test: &str, conf: &str, check: impl Fn(&str, &TestServer)) {
    for binary in binaries(test) {
        check(binary, &TestServer::binary_with_config(binary, conf, &[]));
    }
}

#[test]
fn a_password_that_only_looks_like_bcrypt_is_compared_as_written() {
    on_each_server(
        "fake_bcrypt_password",
        "authorization { user: a, password: \"$2secret\" }\n",
        |binary, server| {
            let mut raw = connect_as(server, "a", "$2secret");
            assert_eq!(raw.ping(), "PONG\r\n", "{binary}");
        },
    );
}

#[test]
fn a_user_limited_to_other_connection_types_cannot_log_in_over_plain_nats() {
    on_each_server(
        "allowed_connection_types",
        "authorization { users: [\n {user: w, password: w, allowed_connection_types: [\"WEBSOCKET\"]}\n {user: s, password: s, allowed_connection_types: [\"standard\"]}\n] }\n",
        |binary, server| {
            let mut ws_only = connect_as(server, "w", "w");
            ws_only.send(b"PING\r\n");
            assert_eq!(
                ws_only.read_line(WAIT).as_deref(),
                Some("-ERR 'Authorization Violation'\r\n"),
                "{binary}"
            );
            assert_eq!(connect_as(server, "s", "s").ping(), "PONG\r\n", "{binary}");
        },
    );
    let file = TempFile::new(
        "conntypes",
        "ct.conf",
        "authorization { users: [{user: w, password: w, allowed_connection_types: [\"WEBSOCKET\", \"FOO\"]}] }\n",
    );
    let (code, stderr) = run_to_exit(OURS, &["-t", "-c", &file.arg()]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("invalid connection types [\"FOO\"]"),
        "{stderr}"
    );
}

// ----------------------------------------------------------------------------------------
// Bounded state

#[test]
fn reply_permissions_are_bounded_and_the_oldest_go_first() {
    let server = permissions_server(OURS, "{allow_responses: {max: -1, expires: \"-1s\"}}");
    let mut responder = login(&server, "u");
    assert_eq!(answer(&mut responder, "SUB req 1\r\n"), "");
    let mut requester = login(&server, "x");
    requester.send(b"SUB inbox.* 1\r\n");
    requester.ping();
    // More requests than any client may hold grants for, none answered.
    const REQUESTS: usize = 70_000;
    let mut batch = String::new();
    for i in 0..REQUESTS {
        batch.push_str(&format!("PUB req inbox.{i} 0\r\n\r\n"));
        if batch.len() > 64 * 1024 {
            requester.send(batch.as_bytes());
            batch.clear();
        }
    }
    requester.send(batch.as_bytes());
    requester.ping();
    // The responder reads them all (bounded by count and time).
    let want = format!("MSG req 1 inbox.{} 0\r\n", REQUESTS - 1);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen_last = false;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    while !seen_last && Instant::now() < deadline {
        match responder.stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                let tail = buf.len().saturating_sub(want.len() + 64);
                seen_last = String::from_utf8_lossy(&buf[tail..]).contains(&want);
                if buf.len() > 1 << 20 {
                    buf.drain(..buf.len() - 4096);
                }
            }
            Err(_) => {}
        }
    }
    assert!(seen_last, "the responder did not get every request");
    assert_eq!(
        answer(&mut responder, "PUB inbox.0 2\r\nok\r\n"),
        "-ERR 'Permissions Violation for Publish to \"inbox.0\"'\r\n",
        "the oldest grant should have been dropped"
    );
    let last = format!("PUB inbox.{} 2\r\nok\r\n", REQUESTS - 1);
    assert_eq!(
        answer(&mut responder, &last),
        "",
        "the newest grant must be kept"
    );
}

// ----------------------------------------------------------------------------------------
// Cluster permissions

/// A config of ours with `cluster { permissions }` importing `imp.>` (not `imp.secret`) and
/// exporting `exp.>` (not `exp.secret`).
fn permitted_cluster_conf(cluster_port: u16) -> String {
    format!(
        "cluster {{\n  listen: 127.0.0.1:{cluster_port}\n  name: sec\n  permissions {{\n    \
         import: {{allow: [\"imp.>\"], deny: [\"imp.secret\"]}}\n    \
         export: {{allow: [\"exp.>\"], deny: [\"exp.secret\"]}}\n  }}\n}}\n"
    )
}

#[test]
fn cluster_permissions_filter_interest_and_messages_on_the_route() {
    let cluster_port = free_port();
    let server = clustered(OURS, &permitted_cluster_conf(cluster_port));
    let mut local = Raw::synced(
        server.port,
        QUIET,
        b"SUB imp.a 1\r\nSUB imp.secret 2\r\nSUB other 3\r\nSUB imp.* q 4\r\n",
    );
    let mut peer = FakePeer::connect(cluster_port, "sec", free_port());
    // Only imported interest reaches the route.
    let mut interest = Vec::new();
    while let Some(op) = peer.next_op(Duration::from_millis(300)) {
        interest.push(op);
    }
    interest.sort();
    assert_eq!(interest, ["RS+ $G imp.* q 1\r\n", "RS+ $G imp.a\r\n"]);
    // Only exported interest is taken from it; a wildcard overlapping the export deny list
    // gets the denied subject filtered.
    peer.send("RS+ $G exp.a\r\nRS+ $G exp.>\r\nRS+ $G notexp\r\nRS+ $G >\r\nRS+ $G exp.secret\r\n");
    peer.sync();
    local.send(
        b"PUB exp.a 1\r\na\r\nPUB notexp 1\r\nb\r\nPUB exp.secret 1\r\nc\r\nPUB exp.b.c 1\r\nd\r\n",
    );
    local.ping();
    assert_eq!(
        peer.next_message_op(WAIT).as_deref(),
        Some("RMSG $G exp.a 1\r\na\r\n")
    );
    assert_eq!(
        peer.next_message_op(WAIT).as_deref(),
        Some("RMSG $G exp.b.c 1\r\nd\r\n")
    );
    peer.expect_no_message_ops();
    // Messages outside `import` are not taken from the route either.
    peer.send("RMSG $G imp.secret 1\r\nx\r\nRMSG $G other 1\r\ny\r\nRMSG $G imp.a 1\r\nz\r\n");
    peer.sync();
    assert_eq!(local.read_line(WAIT).as_deref(), Some("MSG imp.a 1 1\r\n"));
    assert_eq!(local.read_line(WAIT).as_deref(), Some("z\r\n"));
    assert_eq!(local.ping(), "PONG\r\n", "nothing else may arrive");
}

/// What a raw client received, without the servers' own PINGs.
fn without_pings(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace("PING\r\n", "")
}

#[test]
fn cluster_permissions_hold_in_a_cluster_with_nats_server() {
    if !common::reference_available("cluster_permissions_with_nats_server") {
        return;
    }
    // Both arrangements: our server holds the permissions and nats-server is its peer, and
    // the other way round; the server holding them must behave the same.
    for (guarded, peer) in [(OURS, REFERENCE), (REFERENCE, OURS)] {
        let guarded_cluster = free_port();
        let a = clustered(guarded, &permitted_cluster_conf(guarded_cluster));
        let b = TestServer::binary_with_config(
            peer,
            &format!(
                "cluster {{ listen: 127.0.0.1:{}\n name: sec\n routes: [\"nats://127.0.0.1:{guarded_cluster}\"] }}\n",
                free_port()
            ),
            &[],
        );
        let mut on_a = Raw::connect_with(a.port, QUIET);
        let mut on_b = Raw::connect_with(b.port, QUIET);
        on_a.send(b"SUB imp.a 1\r\nSUB other 2\r\n");
        on_a.ping();
        on_b.send(b"SUB exp.a 1\r\nSUB notexp 2\r\nSUB exp.probe 3\r\n");
        on_b.ping();
        // Wait for the route and both servers' interest (bounded): probes allowed both ways
        // get through.
        let through = common::poll_until(Duration::from_secs(20), || {
            // A PING's answer carries whatever arrived before its PONG, probes included.
            on_b.send(b"PUB imp.a 5\r\nprobe\r\n");
            let mut to_b = on_b.ping();
            on_a.send(b"PUB exp.probe 5\r\nprobe\r\n");
            let mut to_a = on_a.ping();
            to_a.push_str(&without_pings(&on_a.read_for(Duration::from_millis(200)).0));
            to_b.push_str(&without_pings(&on_b.read_for(Duration::from_millis(200)).0));
            to_a.contains("MSG imp.a 1 5\r\nprobe\r\n")
                && to_b.contains("MSG exp.probe 3 5\r\nprobe\r\n")
        });
        assert!(through, "{guarded} with {peer}: the probes never arrived");
        // Drain probes still on their way.
        on_a.read_for(Duration::from_millis(300));
        on_b.read_for(Duration::from_millis(300));
        on_a.send(b"PUB exp.a 3\r\nyes\r\nPUB notexp 2\r\nno\r\n");
        let mut on_a_got = on_a.ping().replace("PONG\r\n", "");
        on_b.send(b"PUB other 2\r\nno\r\n");
        let mut on_b_got = on_b.ping().replace("PONG\r\n", "");
        on_b_got.push_str(&without_pings(&on_b.read_for(Duration::from_millis(500)).0));
        on_a_got.push_str(&without_pings(&on_a.read_for(Duration::from_millis(300)).0));
        assert_eq!(
            on_b_got.replace("PING\r\n", ""),
            "MSG exp.a 1 3\r\nyes\r\n",
            "{guarded} with {peer}: only exported messages reach the peer"
        );
        assert_eq!(
            on_a_got.replace("PING\r\n", ""),
            "",
            "{guarded} with {peer}: nothing outside import arrives"
        );
    }
}

/// A duration given as a bare number of seconds: nats-server takes it with a warning at the
/// key, printed before it starts, and `-t` fails on it; ours prints the same bytes.
#[test]
fn a_duration_in_seconds_is_taken_with_nats_servers_warning() {
    let conf = "ping_interval: 20\n  write_deadline: 3\n";
    let mut outputs = Vec::new();
    for binary in binaries("duration_in_seconds_warning") {
        let file = TempFile::new("seconds", "seconds.conf", conf);
        let (code, out) = run_to_exit(binary, &["-c", &file.arg(), "-t"]);
        assert_eq!(code, Some(1), "{binary}: {out}");
        // The file name differs between runs: compare what follows it.
        outputs.push(out.replace(&file.arg(), "FILE"));
        let server = TestServer::binary_with_config(binary, conf, &[]);
        assert!(
            server.wait_log(
                "invalid use of field \"ping_interval\": ping_interval should be converted to a duration",
                WAIT
            ),
            "{binary}: {:?}",
            server.log_lines()
        );
    }
    assert!(outputs[0].contains(
        "nats-server: FILE:1:0: invalid use of field \"ping_interval\": ping_interval should be converted to a duration\nFILE:2:3: invalid use of field \"write_deadline\""
    ), "{:?}", outputs[0]);
    // nats-server lists its warnings in map order, which changes from run to run.
    let lines = |out: &str| {
        let mut lines: Vec<String> = out
            .trim_start_matches("nats-server: ")
            .lines()
            .map(String::from)
            .collect();
        lines.sort();
        lines
    };
    if outputs.len() == 2 {
        assert!(outputs[1].starts_with("nats-server: "), "{:?}", outputs[1]);
        assert_eq!(
            lines(&outputs[0]),
            lines(&outputs[1]),
            "ours, then nats-server's"
        );
    }
}
