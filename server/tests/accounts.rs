//! Accounts: each has its own subject space; streams cross only through an export and a
//! matching import; users of an account log in to it; `no_auth_user` and the system-account
//! rule let clients without credentials in. Each scenario runs against our server and, when
//! it is installed, nats-server 2.9.10 with the same configuration and bytes.

#[path = "common/cluster.rs"]
mod cluster_util;
mod common;

use std::time::{Duration, Instant};

use cluster_util::{start_together, ServerKind};
use common::*;

/// Two accounts with a user each, A exporting `pub.>` publicly and `priv.>` to C only; B
/// importing `pub.>` as is, `pub.*` under the prefix `from_a`, and `pub.one` renamed `one`.
const TWO_ACCOUNTS: &str = r#"
accounts {
  A {
    users: [ {user: a, password: a} ]
    exports: [
      {stream: "pub.>"}
      {stream: "priv.>", accounts: [C]}
    ]
  }
  B {
    users: [ {user: b, password: b} ]
    imports: [
      {stream: {account: A, subject: "pub.>"}}
      {stream: {account: A, subject: "pub.*"}, prefix: from_a}
      {stream: {account: A, subject: "pub.one"}, to: one}
    ]
  }
  C {
    users: [ {user: c, password: c} ]
    imports: [ {stream: {account: A, subject: "priv.>"}} ]
  }
}
"#;

fn login(user: &str) -> String {
    format!(r#"{{"verbose":false,"user":"{user}","pass":"{user}"}}"#)
}

/// Asserts that `wanted` is among what `raw` receives within a short window.
fn expect_among(raw: &mut Raw, wanted: &str, context: &str) {
    let got = received(raw);
    assert!(got.contains(wanted), "{context}: {wanted:?} not in {got:?}");
}

/// Asserts that nothing but PINGs reaches `raw` within a short window.
fn expect_quiet(raw: &mut Raw, context: &str) {
    assert_eq!(received(raw), "", "{context}");
}

/// Logs in as `user`, publishes `ops` and waits until the server has handled them.
fn publish_as(port: u16, user: &str, ops: &[u8]) {
    Raw::synced(port, &login(user), ops);
}

/// What arrives within a short window, PINGs aside, as text.
fn received(raw: &mut Raw) -> String {
    let (bytes, _) = raw.read_for(Duration::from_millis(300));
    String::from_utf8_lossy(&bytes).replace("PING\r\n", "")
}

#[test]
fn a_message_stays_in_its_account_unless_exported_and_imported() {
    for binary in binaries("a_message_stays_in_its_account_unless_exported_and_imported") {
        let server = TestServer::binary_with_config(binary, TWO_ACCOUNTS, &[]);
        let subs =
            b"SUB pub.> 1\r\nSUB from_a.pub.* 2\r\nSUB one 3\r\nSUB priv.> 4\r\nSUB local 5\r\n";
        let mut in_a = Raw::synced(server.port, &login("a"), subs);
        let mut in_b = Raw::synced(server.port, &login("b"), subs);
        let mut in_c = Raw::synced(server.port, &login("c"), subs);
        publish_as(
            server.port,
            "a",
            b"PUB pub.one 2\r\nhi\r\nPUB priv.x 1\r\ns\r\nPUB local 1\r\nl\r\n",
        );
        // A gets its own messages on its own subjects.
        assert_eq!(
            received(&mut in_a),
            "MSG pub.one 1 2\r\nhi\r\nMSG priv.x 4 1\r\ns\r\nMSG local 5 1\r\nl\r\n",
            "{binary}"
        );
        // B: the public stream as is, with the prefix, and the renamed literal; nothing of
        // the export B may not import, nothing published on A's other subjects.
        let b = received(&mut in_b);
        let mut lines: Vec<&str> = b.split_inclusive("\r\n").collect();
        lines.sort();
        let mut expected = vec![
            "MSG pub.one 1 2\r\n",
            "MSG from_a.pub.one 2 2\r\n",
            "MSG one 3 2\r\n",
            "hi\r\n",
            "hi\r\n",
            "hi\r\n",
        ];
        expected.sort();
        assert_eq!(lines, expected, "{binary}: {b:?}");
        // C imports only the export restricted to it.
        assert_eq!(received(&mut in_c), "MSG priv.x 4 1\r\ns\r\n", "{binary}");
        // Messages published in B never reach A.
        publish_as(
            server.port,
            "b",
            b"PUB pub.one 1\r\nb\r\nPUB local 1\r\nb\r\n",
        );
        assert_eq!(received(&mut in_a), "", "{binary}");
        assert!(
            received(&mut in_b).contains("MSG local 5 1\r\nb\r\n"),
            "{binary}"
        );
    }
}

#[test]
fn a_wildcard_stream_import_renamed_with_to_maps_token_by_token() {
    let conf = "accounts {\n  A { users: [{user: a, password: a}], exports: [{stream: \"a.>\"}] }\n  B { users: [{user: b, password: b}], imports: [\n    {stream: {account: A, subject: \"a.*\"}, to: \"b.*\"}\n    {stream: {account: A, subject: \"a.x.>\"}, to: \"y.>\"}\n  ] }\n}\n";
    for binary in binaries("a_wildcard_stream_import_renamed_with_to") {
        let server = TestServer::binary_with_config(binary, conf, &[]);
        let mut in_b = Raw::synced(server.port, &login("b"), b"SUB > 1\r\n");
        publish_as(
            server.port,
            "a",
            b"PUB a.q 1\r\n1\r\nPUB a.x.r.s 1\r\n2\r\nPUB a.q.t 1\r\n3\r\n",
        );
        assert_eq!(
            received(&mut in_b),
            "MSG b.q 1 1\r\n1\r\nMSG y.r.s 1 1\r\n2\r\n",
            "{binary}"
        );
    }
}

#[test]
fn imports_do_not_chain_and_auto_unsubscribe_limits_only_the_own_account() {
    let conf = "accounts {\n  A { users: [{user: a, password: a}], exports: [{stream: \"a.>\"}] }\n  B { users: [{user: b, password: b}], imports: [{stream: {account: A, subject: \"a.>\"}}], exports: [{stream: \"a.>\"}] }\n  C { users: [{user: c, password: c}], imports: [{stream: {account: B, subject: \"a.>\"}, prefix: c}] }\n}\n";
    for binary in binaries("imports_do_not_chain") {
        let server = TestServer::binary_with_config(binary, conf, &[]);
        let mut in_b = Raw::synced(server.port, &login("b"), b"SUB a.> 1\r\nUNSUB 1 2\r\n");
        // As nats-server: the limit counts B's own messages, not the imported ones.
        let mut in_c = Raw::synced(server.port, &login("c"), b"SUB c.a.> 1\r\n");
        publish_as(
            server.port,
            "a",
            b"PUB a.x 1\r\n1\r\nPUB a.y 1\r\n2\r\nPUB a.z 1\r\n3\r\n",
        );
        assert_eq!(
            received(&mut in_b),
            "MSG a.x 1 1\r\n1\r\nMSG a.y 1 1\r\n2\r\nMSG a.z 1 1\r\n3\r\n",
            "{binary}: imported messages pass the limit"
        );
        assert_eq!(
            received(&mut in_c),
            "",
            "{binary}: as nats-server, A's stream does not flow on through B to C"
        );
        publish_as(
            server.port,
            "b",
            b"PUB a.b 1\r\n4\r\nPUB a.b 1\r\n5\r\nPUB a.b 1\r\n6\r\n",
        );
        assert_eq!(
            received(&mut in_b),
            "MSG a.b 1 1\r\n4\r\nMSG a.b 1 1\r\n5\r\n",
            "{binary}: B's own messages reach the limit"
        );
        publish_as(server.port, "a", b"PUB a.x 1\r\n7\r\n");
        assert_eq!(received(&mut in_b), "", "{binary}: gone with its shadows");
    }
}

#[test]
fn account_limits_cap_connections_subscriptions_and_payloads_as_nats_server_does() {
    let conf = "accounts { A { users: [{user: a, password: a}, {user: b, password: b}], limits: { max_connections: 1, max_subscriptions: 2, max_payload: 8 } } }\n";
    for binary in binaries("account_limits_cap_connections") {
        let server = TestServer::binary_with_config(binary, conf, &[]);
        let mut first = Raw::synced(server.port, &login("a"), b"");
        // A second connection of the account, by another of its users, is one too many.
        let mut second = Raw::connect_with(server.port, &login("b"));
        second.send(b"PING\r\n");
        second.expect_closed_with("-ERR 'maximum account active connections exceeded'\r\n");
        first.send(b"SUB x 1\r\nSUB y 2\r\nSUB z 3\r\n");
        assert_eq!(
            first.ping(),
            "-ERR 'maximum subscriptions exceeded'\r\nPONG\r\n",
            "{binary}"
        );
        first.send(b"PUB x 8\r\n12345678\r\n");
        assert_eq!(
            first.ping(),
            "MSG x 1 8\r\n12345678\r\nPONG\r\n",
            "{binary}"
        );
        first.send(b"PUB x 9\r\n123456789\r\n");
        first.expect_closed_with("-ERR 'Maximum Payload Violation'\r\n");
        // The place is free again once the first connection is gone.
        drop(first);
        assert!(
            poll_until(WAIT, || {
                let mut again = Raw::connect_with(server.port, &login("b"));
                again.send(b"PING\r\n");
                again.read_line(WAIT).as_deref() == Some("PONG\r\n")
            }),
            "{binary}"
        );
    }
}

#[test]
fn a_client_learns_its_accounts_lower_payload_limit_after_its_first_pong() {
    let conf = "accounts { A { users: [{user: a, password: a}], limits: { max_payload: 8 } } }\n";
    for binary in binaries("a_client_learns_its_accounts_lower_payload_limit") {
        let server = TestServer::binary_with_config(binary, conf, &[]);
        let mut client = Raw::connect_with(
            server.port,
            r#"{"verbose":false,"protocol":1,"user":"a","pass":"a"}"#,
        );
        client.send(b"PING\r\n");
        assert_eq!(
            client.read_line(WAIT).as_deref(),
            Some("PONG\r\n"),
            "{binary}"
        );
        let info = client.read_line(WAIT).unwrap_or_default();
        let json: serde_json::Value =
            serde_json::from_str(info.trim_start_matches("INFO ").trim()).expect("INFO json");
        assert_eq!(json["max_payload"], 8, "{binary}: {info}");
        // Only after the first PONG.
        client.send(b"PING\r\n");
        assert_eq!(
            client.read_line(WAIT).as_deref(),
            Some("PONG\r\n"),
            "{binary}"
        );
    }
}

#[test]
fn a_subscription_limit_of_zero_closes_the_client_at_log_in() {
    let conf =
        "accounts { A { users: [{user: a, password: a}], limits: { max_subscriptions: 0 } } }\n";
    for binary in binaries("a_subscription_limit_of_zero") {
        let server = TestServer::binary_with_config(binary, conf, &[]);
        // CONNECT and PING in one write, as clients send them (a PING still unread when
        // the server closes would turn the close into a reset that can eat the -ERR).
        let mut client = Raw::connect(server.port);
        client.send(format!("CONNECT {}\r\nPING\r\n", login("a")).as_bytes());
        let (got, closed) = client.read_until_closed();
        // nats-server may answer the PING before or after the -ERR (it closes from another
        // goroutine).
        assert!(
            closed
                && got.replacen("PONG\r\n", "", 1) == "-ERR 'maximum subscriptions exceeded'\r\n",
            "{binary}: {got:?} closed {closed}"
        );
    }
}

#[test]
fn the_global_account_is_apart_from_named_accounts() {
    let conf = format!("authorization {{ users: [ {{user: g, password: g}} ] }}\n{TWO_ACCOUNTS}");
    for binary in binaries("the_global_account_is_apart_from_named_accounts") {
        let server = TestServer::binary_with_config(binary, &conf, &[]);
        let mut global = Raw::synced(server.port, &login("g"), b"SUB > 1\r\n");
        let mut in_a = Raw::synced(server.port, &login("a"), b"SUB > 1\r\n");
        publish_as(server.port, "a", b"PUB pub.x 1\r\na\r\n");
        assert_eq!(received(&mut global), "", "{binary}");
        assert_eq!(received(&mut in_a), "MSG pub.x 1 1\r\na\r\n", "{binary}");
        publish_as(server.port, "g", b"PUB pub.x 1\r\ng\r\n");
        assert_eq!(received(&mut in_a), "", "{binary}");
        assert_eq!(received(&mut global), "MSG pub.x 1 1\r\ng\r\n", "{binary}");
    }
}

#[test]
fn no_auth_user_logs_clients_without_credentials_in_as_that_user() {
    let conf = format!("{TWO_ACCOUNTS}\nno_auth_user: b\n");
    for binary in binaries("no_auth_user_logs_clients_without_credentials_in_as_that_user") {
        let server = TestServer::binary_with_config(binary, &conf, &[]);
        let mut anonymous = Raw::connect(server.port);
        assert!(
            !anonymous.info.contains("\"auth_required\":true"),
            "{binary}: {}",
            anonymous.info
        );
        anonymous.send(b"CONNECT {\"verbose\":false}\r\nSUB pub.> 1\r\n");
        anonymous.ping();
        publish_as(server.port, "a", b"PUB pub.x 1\r\nx\r\n");
        // In B: the import delivers A's public stream.
        assert_eq!(
            received(&mut anonymous),
            "MSG pub.x 1 1\r\nx\r\n",
            "{binary}"
        );
        // As nats-server: where clients without credentials are let in, they may even start
        // without a CONNECT (a telnet session), as the no_auth_user.
        let mut telnet = Raw::connect(server.port);
        telnet.send(b"SUB pub.> 1\r\n");
        telnet.ping();
        publish_as(server.port, "a", b"PUB pub.y 1\r\ny\r\n");
        assert_eq!(received(&mut telnet), "MSG pub.y 1 1\r\ny\r\n", "{binary}");
        // Wrong credentials are still refused.
        let mut wrong =
            Raw::connect_with(server.port, r#"{"verbose":false,"user":"a","pass":"nope"}"#);
        wrong.send(b"PING\r\n");
        wrong.expect_closed_with("-ERR 'Authorization Violation'\r\n");
    }
}

/// The accounts are built at start-up: a reload that changes them is refused as a whole, so
/// no user ends up pointing at an account that does not exist (or in the global one).
#[test]
fn a_reload_that_changes_accounts_is_refused_and_changes_nothing() {
    let server = TestServer::with_config(TWO_ACCOUNTS, &[]);
    let mut in_b = Raw::synced(server.port, &login("b"), b"SUB pub.> 1\r\n");
    // A new account D with a user of its own.
    let more = TWO_ACCOUNTS.replace("  C {", "  D { users: [ {user: d, password: d} ] }\n  C {");
    assert_ne!(more, TWO_ACCOUNTS);
    server.reload_with(&more);
    assert!(
        server.wait_log("changing accounts requires a restart", WAIT),
        "{:?}",
        server.log_lines()
    );
    assert!(!server
        .log_lines()
        .iter()
        .any(|l| l.contains("Reloaded server configuration")));
    // The new user was not taken on; the old accounts still work as before.
    let mut d = Raw::connect_with(server.port, &login("d"));
    d.send(b"PING\r\n");
    d.expect_closed_with("-ERR 'Authorization Violation'\r\n");
    publish_as(server.port, "a", b"PUB pub.z 1\r\nz\r\n");
    expect_among(&mut in_b, "MSG pub.z 1 1\r\nz", "after the refused reload");
}

#[test]
fn users_of_an_account_have_its_default_permissions() {
    let conf = r#"
accounts {
  A {
    default_permissions: { publish: "allowed.>" }
    users: [ {user: a, password: a}, {user: free, password: free, permissions: {publish: ">"}} ]
  }
}
"#;
    for binary in binaries("users_of_an_account_have_its_default_permissions") {
        let server = TestServer::binary_with_config(binary, conf, &[]);
        let mut a = Raw::synced(server.port, &login("a"), b"");
        a.send(b"PUB denied 1\r\nx\r\n");
        assert_eq!(
            a.ping(),
            "-ERR 'Permissions Violation for Publish to \"denied\"'\r\nPONG\r\n",
            "{binary}"
        );
        let mut free = Raw::synced(server.port, &login("free"), b"");
        free.send(b"PUB denied 1\r\nx\r\n");
        assert_eq!(free.ping(), "PONG\r\n", "{binary}");
    }
}

#[test]
fn imports_nats_server_refuses_are_refused_with_its_words() {
    let cases = [
        (
            "accounts { A { exports: [ {stream: \"a.>\", accounts: [C]} ] }\n B { imports: [ {stream: {account: A, subject: \"a.>\"}} ] }\n C {} }\n",
            "Error adding stream import \"a.>\": stream import not authorized",
        ),
        (
            "accounts { B { imports: [ {stream: {account: Z, subject: \"a.>\"}} ] } }\n",
            "\"Z\" account not defined for stream import",
        ),
        (
            "accounts { A { exports: [ {stream: \"a.b\"} ] }\n B { imports: [ {stream: {account: A, subject: \"a.>\"}} ] } }\n",
            "Error adding stream import \"a.>\": stream import not authorized",
        ),
        (
            "accounts { A { users: [ {user: x, password: x} ] }\n B { users: [ {user: x, password: y} ] } }\n",
            "Duplicate user \"x\" detected",
        ),
        (
            "accounts { A { users: [ {user: x, password: x} ] } }\nno_auth_user: nobody\n",
            "no_auth_user: \"nobody\" not present as user in authorization block or account configuration",
        ),
        ("accounts { \"$G\" {} }\n", "\"$G\" is a Reserved Account"),
        ("accounts: [A, \"$G\"]\n", "\"$G\" is a Reserved Account"),
        ("accounts: [A, B, A]\n", "Duplicate Account Entry: A"),
        (
            "accounts { A { exports: [ {stream: \"a.>\"} ] }\n B { imports: [ {stream: {account: A, subject: \"a.>\"}}, {stream: {account: A, subject: \"a.>\"}, prefix: p} ] } }\n",
            "Error adding stream import \"a.>\": stream import already exists",
        ),
        (
            "accounts { A {} }\nsystem_account: NOPE\n",
            "error resolving system account",
        ),
        (
            "accounts { B { imports: [ {service: {account: Z, subject: \"q\"}} ] } }\n",
            "\"Z\" account not defined for service import",
        ),
        (
            "accounts { A { exports: [ {service: \"svc.a\"} ] }\n B { imports: [ {service: {account: A, subject: \"svc.b\"}} ] } }\n",
            "Error adding service import \"svc.b\": service import not authorized",
        ),
        (
            "accounts { A { exports: [ {service: \"svc.a\", accounts: [C]} ] }\n B { imports: [ {service: {account: A, subject: \"svc.a\"}} ] }\n C {} }\n",
            "Error adding service import \"svc.a\": service import not authorized",
        ),
        (
            "accounts { A { exports: [ {stream: \"svc.a\"} ] }\n B { imports: [ {service: {account: A, subject: \"svc.a\"}} ] } }\n",
            "Error adding service import \"svc.a\": service import not authorized",
        ),
        (
            "accounts { A { exports: [ {service: \"svc.a\"} ] }\n B { imports: [ {service: {account: A, subject: \"svc.a\"}}, {service: {account: A, subject: \"svc.a\"}} ] } }\n",
            "Duplicate service import subject \"svc.a\", previously used in import for account \"A\", subject \"svc.a\"",
        ),
        (
            "accounts { A { exports: [ {service: \"svc.>\"} ], imports: [ {service: {account: B, subject: \"x.a\"}, to: \"svc.a\"} ] }\n B { exports: [ {service: \"x.>\"} ], imports: [ {service: {account: A, subject: \"svc.a\"}, to: \"x.a\"} ] } }\n",
            "import forms a cycle",
        ),
        (
            "accounts { A { exports: [ {service: \"svc.*\"} ] }\n B { imports: [ {service: {account: A, subject: \"svc.*\"}, to: \"loc.>\"} ] } }\n",
            "Error adding service import \"svc.*\": failed to create mapping transform for service import subject \"loc.>\" to \"svc.*\": invalid subject",
        ),
        (
            "accounts { A { exports: [ {service: \"svc.a\", response_threshold: \"1x\"} ] } }\n",
            "Expected response threshold to be a parseable time duration, got \"1x\"",
        ),
        (
            "accounts { A { exports: [ {stream: \"a.>\"} ] }\n B { imports: [ {stream: {account: A, subject: \"a.*\"}, to: \"b.>\"} ] } }\n",
            "Error adding stream import \"a.*\": failed to create mapping transform for stream import subject \"a.*\" to \"b.>\": invalid subject",
        ),
        (
            "accounts { A { exports: [ {stream: \"a.>\"} ] }\n B { imports: [ {stream: {account: A, subject: \"a.*.*\"}, to: \"b.*\"} ] } }\n",
            "Error adding stream import \"a.*.*\": failed to create mapping transform for stream import subject \"a.*.*\" to \"b.*\": invalid mapping destination: not using all of the token wildcard(s) in b.$1",
        ),
        (
            "accounts { A { exports: [ {stream: \"a.>\"} ] }\n B { imports: [ {stream: {account: A, subject: \"a.*\"}, to: one} ] } }\n",
            "invalid mapping destination: not using all of the token wildcard(s) in one",
        ),
        (
            "accounts { A { exports: [ {service: \"a.>\"} ] }\n B { imports: [ {service: {account: A, subject: \"a.*\"}, to: one} ] } }\n",
            "Error adding service import \"a.*\": failed to create mapping transform for service import subject \"one\" to \"a.*\": invalid mapping destination: not using all of the token wildcard(s) in one",
        ),
        (
            "accounts { A { exports: [ {service: \"svc.a\", accounts: [Q]} ] } }\n",
            "\"Q\" account not defined for service export",
        ),
    ];
    for (conf, text) in cases {
        for binary in binaries("imports_nats_server_refuses_are_refused_with_its_words") {
            assert_config_refused(binary, conf, text);
        }
    }
    // nats-server refuses a response threshold on a stream export only when it happens to
    // read `stream` first (Go's map order: it started 4 times in 20); ours always refuses.
    assert_config_refused(
        OURS,
        "accounts { A { exports: [ {stream: \"svc.a\", response_threshold: \"1s\"} ] } }\n",
        "Detected response directive on non-service",
    );
}

#[test]
fn a_configuration_with_only_a_system_account_lets_anonymous_clients_into_the_global_one() {
    let conf = "accounts { SYS { users: [ {user: sys, password: sys} ] } }\nsystem_account: SYS\n";
    for binary in binaries("a_configuration_with_only_a_system_account") {
        let server = TestServer::binary_with_config(binary, conf, &[]);
        let mut anonymous = Raw::synced(server.port, r#"{"verbose":false}"#, b"SUB x 1\r\n");
        let mut other = Raw::synced(server.port, r#"{"verbose":false}"#, b"PUB x 1\r\nx\r\n");
        other.ping();
        assert_eq!(received(&mut anonymous), "MSG x 1 1\r\nx\r\n", "{binary}");
        let mut sys = Raw::synced(server.port, &login("sys"), b"SUB x 1\r\n");
        other.send(b"PUB x 1\r\ny\r\n");
        other.ping();
        assert_eq!(
            received(&mut sys),
            "",
            "{binary}: the system account is apart"
        );
    }
}

// ----------------------------------------------------------------------------------------
// Accounts across a cluster

/// A cluster of servers of `kinds`, each with `accounts`, the others routed to the first
/// (the seed); returns the nodes and their client ports.
fn cluster_of<const N: usize>(
    kinds: [ServerKind; N],
    accounts: &str,
) -> (Vec<cluster_util::ClusterNode>, [u16; N]) {
    let clients = free_ports::<N>();
    let clusters = free_ports::<N>();
    let specs: Vec<_> = (0..N)
        .map(|i| {
            let routes = if i == 0 { &[][..] } else { &clusters[..1] };
            let urls = cluster_util::route_urls(routes, "nats-route", ", ");
            let conf = format!(
                "cluster {{\n  name: acc\n  listen: 127.0.0.1:{}\n  routes: [{urls}]\n}}\n{accounts}",
                clusters[i]
            );
            (kinds[i], clients[i], clusters[i], conf)
        })
        .collect();
    (start_together(&specs, N - 1), clients)
}

/// Runs `scenario` in every arrangement mixed with nats-server: its seed with two of ours,
/// our seed with two of its, and three of its (when it is installed).
fn with_nats_server(test: &str, scenario: fn([ServerKind; 3])) {
    use ServerKind::{Ours, Real};
    if cluster_util::real_server_available(test) {
        for kinds in [[Real, Ours, Ours], [Ours, Real, Real], [Real; 3]] {
            scenario(kinds);
        }
    }
}

/// Publishes `subject` in the account of `user` on `port` until `receiver` gets a message
/// (interest crosses routes a moment after the SUB), bounded; returns what arrived.
fn publish_until_received(port: u16, user: &str, subject: &str, receiver: &mut Raw) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        publish_as(port, user, format!("PUB {subject} 1\r\nx\r\n").as_bytes());
        let got = received(receiver);
        if !got.is_empty() {
            return got;
        }
    }
    String::new()
}

/// Isolation and imports across three servers of `kinds` (the first the seed): B's
/// subscriber on the third server gets A's public stream published on the second, under
/// every name B imports it as; the global account and C see nothing of it.
fn accounts_across(kinds: [ServerKind; 3]) {
    let (nodes, [pa, pb, pc]) = cluster_of(kinds, TWO_ACCOUNTS);
    let subs = b"SUB pub.> 1\r\nSUB from_a.pub.* 2\r\nSUB one 3\r\n";
    let mut in_b = Raw::synced(pc, &login("b"), subs);
    let mut in_c = Raw::synced(pc, &login("c"), b"SUB pub.> 1\r\nSUB > 2\r\n");
    let mut in_a_elsewhere = Raw::synced(pa, &login("a"), b"SUB pub.> 1\r\n");
    let got = publish_until_received(pb, "a", "pub.one", &mut in_b);
    assert!(
        got.contains("MSG pub.one 1 1\r\nx\r\n"),
        "{kinds:?}: {got:?}"
    );
    // The other names arrive with the same message (or with the next one, if the first
    // went out before the other imports' interest had crossed).
    publish_as(pb, "a", b"PUB pub.one 1\r\ny\r\n");
    let next = received(&mut in_b);
    for name in [
        "MSG pub.one 1 1\r\ny",
        "MSG from_a.pub.one 2 1\r\ny",
        "MSG one 3 1\r\ny",
    ] {
        assert!(next.contains(name), "{kinds:?}: {name:?} in {next:?}");
    }
    let context = format!("{kinds:?}");
    expect_among(&mut in_a_elsewhere, "MSG pub.one 1 1\r\ny", &context);
    // C imports nothing of pub.>.
    expect_quiet(&mut in_c, &context);
    // A message in B's own pub.one, on another server, never reaches A.
    publish_as(pb, "b", b"PUB pub.one 1\r\nb\r\n");
    expect_among(&mut in_b, "MSG pub.one 1 1\r\nb", &context);
    expect_quiet(&mut in_a_elsewhere, &context);
    drop(nodes);
}

#[test]
fn accounts_stay_apart_across_a_cluster_of_ours() {
    accounts_across([ServerKind::Ours; 3]);
}

#[test]
fn accounts_stay_apart_in_clusters_mixed_with_nats_server() {
    with_nats_server("accounts_stay_apart_in_clusters_mixed", accounts_across);
}

/// B's queue group on `pub.q` has a member on each of two servers of `kinds`: each message A
/// publishes on the first reaches exactly one member in the cluster (nats-server serves an
/// importer's queue group where the message was published; the other server leaves it alone).
fn importer_queue_group_across(kinds: [ServerKind; 2]) {
    let (nodes, [pa, pb]) = cluster_of(kinds, TWO_ACCOUNTS);
    let context = format!("{kinds:?}");
    let group = b"SUB pub.q workers 1\r\n";
    let mut here = Raw::synced(pa, &login("b"), group);
    let mut there = Raw::synced(pb, &login("b"), group);
    // Once A's messages flow to the second server and its member's interest is known on the
    // first, the count is what it will stay.
    let mut probe = Raw::synced(pb, &login("b"), b"SUB pub.probe 1\r\n");
    let got = publish_until_received(pa, "a", "pub.probe", &mut probe);
    assert!(
        !got.is_empty(),
        "{context}: A's stream never reached the second server"
    );
    std::thread::sleep(Duration::from_millis(300));
    let total = 40;
    let mut ops = Vec::new();
    for i in 0..total {
        ops.extend_from_slice(format!("PUB pub.q 2\r\n{:02}\r\n", i).as_bytes());
    }
    publish_as(pa, "a", &ops);
    let count = |raw: &mut Raw| received(raw).matches("MSG pub.q 1 2").count();
    let (a, b) = (count(&mut here), count(&mut there));
    assert_eq!(a + b, total, "{context}: {a} here + {b} there");
    drop(nodes);
}

#[test]
fn an_importers_queue_group_gets_each_message_once_across_our_servers() {
    importer_queue_group_across([ServerKind::Ours; 2]);
}

#[test]
fn an_importers_queue_group_gets_each_message_once_with_nats_server() {
    if cluster_util::real_server_available("an_importers_queue_group_gets_each_message_once") {
        importer_queue_group_across([ServerKind::Real, ServerKind::Real]);
        importer_queue_group_across([ServerKind::Real, ServerKind::Ours]);
        importer_queue_group_across([ServerKind::Ours, ServerKind::Real]);
    }
}

// ----------------------------------------------------------------------------------------
// Monitoring

/// The account's stream imports in an `/accountz?acc=` answer, as `(subject, account,
/// local_subject)` (nats-server adds its own system-account service imports to every
/// account; those are left out).
fn stream_imports(detail: &serde_json::Value) -> Vec<(String, String, String)> {
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let mut out: Vec<_> = detail["imports"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|i| i["type"] == "stream")
        .map(|i| {
            (
                text(&i["subject"]),
                text(&i["account"]),
                text(&i["local_subject"]),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn accountz_and_connz_show_accounts_as_nats_server_does() {
    let conf = format!("http: \"127.0.0.1:-1\"\n{TWO_ACCOUNTS}");
    for binary in binaries("accountz_and_connz_show_accounts_as_nats_server_does") {
        let server = TestServer::binary_with_config(binary, &conf, &[]);
        let http = server.logged_port("Starting http monitor on ");
        let _a = Raw::synced(server.port, &login("a"), b"SUB x 1\r\n");
        let _b = Raw::synced(server.port, &login("b"), b"SUB y 1\r\nSUB z 2\r\n");
        let list = get_json(http, "/accountz");
        let mut names: Vec<&str> = list["accounts"]
            .as_array()
            .expect("accounts")
            .iter()
            .filter_map(|n| n.as_str())
            .collect();
        names.sort();
        assert_eq!(names, ["$G", "$SYS", "A", "B", "C"], "{binary}");
        assert_eq!(list["system_account"], "$SYS", "{binary}");
        let b = get_json(http, "/accountz?acc=B");
        let detail = &b["account_detail"];
        assert_eq!(detail["account_name"], "B", "{binary}");
        assert_eq!(detail["client_connections"], 1, "{binary}");
        assert_eq!(
            stream_imports(detail),
            [
                (
                    "pub.*".to_string(),
                    "A".to_string(),
                    "from_a.pub.*".to_string()
                ),
                ("pub.>".into(), "A".into(), "pub.>".into()),
                ("pub.one".into(), "A".into(), "one".into()),
            ],
            "{binary}: {b}"
        );
        let a = get_json(http, "/accountz?acc=A");
        let exports = a["account_detail"]["exports"]
            .as_array()
            .expect("exports")
            .clone();
        assert!(
            exports.iter().any(|e| e["subject"] == "priv.>"
                && e["type"] == "stream"
                && e["approved_accounts"] == serde_json::json!(["C"])),
            "{binary}: {a}"
        );
        let missing = http_get(http, "/accountz?acc=NOPE");
        assert_eq!(
            (missing.status, missing.body.trim()),
            (400, "Account NOPE does not exist"),
            "{binary}"
        );
        // `/connz?auth=1` names the account (not the global one); `acc=` filters by it.
        let connz = get_json(http, "/connz?auth=1&acc=A");
        let conns = connz["connections"].as_array().expect("connections");
        assert_eq!(conns.len(), 1, "{binary}: {connz}");
        assert_eq!(conns[0]["account"], "A", "{binary}");
        assert_eq!(conns[0]["authorized_user"], "a", "{binary}");
        // The account's own index: B's two SUBs (nats-server adds internal ones of its own).
        let subsz = get_json(http, "/subsz?acc=B");
        assert_eq!(
            subsz["num_subscriptions"], detail["subscriptions"],
            "{binary}: {subsz}"
        );
    }
}

// ----------------------------------------------------------------------------------------
// Service imports

/// A exports the services `svc.>` (one response each) and `feed` (a stream of responses,
/// dropped after 300 ms without one); B imports `svc.req` under the name `local.req`,
/// `svc.x.>` as is, `svc.w.*` as `loc.*`, and `feed`; C imports nothing.
const SERVICES: &str = r#"
accounts {
  A {
    users: [ {user: a, password: a} ]
    exports: [
      {service: "svc.>"}
      {service: "feed", response_type: stream, response_threshold: "300ms"}
    ]
  }
  B {
    users: [ {user: b, password: b} ]
    imports: [
      {service: {account: A, subject: "svc.req"}, to: "local.req"}
      {service: {account: A, subject: "svc.x.>"}}
      {service: {account: A, subject: "svc.w.*"}, to: "loc.*"}
      {service: {account: A, subject: "feed"}}
    ]
  }
  C {
    users: [ {user: c, password: c} ]
  }
}
"#;

/// `login` for a client that takes headers (and so sees `Nats-Request-Info`).
fn login_with_headers(user: &str) -> String {
    format!(r#"{{"verbose":false,"headers":true,"user":"{user}","pass":"{user}"}}"#)
}

/// One request as the service sees it.
#[derive(Debug)]
struct Request {
    subject: String,
    reply: Option<String>,
    headers: String,
    body: String,
}

/// Reads the next request arriving at `service` (an `HMSG` with the server's
/// `Nats-Request-Info` header), bounded.
fn next_request(service: &mut Raw, context: &str) -> Request {
    let line = service
        .read_line(WAIT)
        .unwrap_or_else(|| panic!("{context}: no request"));
    let fields: Vec<&str> = line.trim_end().split(' ').collect();
    assert_eq!(fields[0], "HMSG", "{context}: {line:?}");
    let (reply, sizes) = match fields.len() {
        5 => (None, &fields[3..]),
        6 => (Some(fields[3].to_string()), &fields[4..]),
        _ => panic!("{context}: {line:?}"),
    };
    let header_size: usize = sizes[0].parse().expect("header size");
    let total: usize = sizes[1].parse().expect("total size");
    let block = service.read_exact_for(total + 2, WAIT);
    assert_eq!(block.len(), total + 2, "{context}: {line:?}");
    Request {
        subject: fields[1].to_string(),
        reply,
        headers: String::from_utf8_lossy(&block[..header_size]).into_owned(),
        body: String::from_utf8_lossy(&block[header_size..total]).into_owned(),
    }
}

/// Asserts that `headers` are the server's request info for account `account` (any RTT)
/// and nothing else but `other` lines.
fn assert_request_info(headers: &str, account: &str, other: &[&str], context: &str) {
    let lines: Vec<&str> = headers.split("\r\n").collect();
    assert_eq!(lines[0], "NATS/1.0", "{context}: {headers:?}");
    let info = format!("Nats-Request-Info: {{\"acc\":\"{account}\",\"rtt\":");
    let rest: Vec<&str> = lines[1..]
        .iter()
        .copied()
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(rest.len(), other.len() + 1, "{context}: {headers:?}");
    assert!(
        rest.iter()
            .any(|l| l.starts_with(&info) && l.ends_with('}')),
        "{context}: {headers:?}"
    );
    for line in other {
        assert!(rest.contains(line), "{context}: {line:?} in {headers:?}");
    }
    assert!(headers.ends_with("\r\n\r\n"), "{context}: {headers:?}");
}

#[test]
fn a_request_through_a_service_import_gets_one_response_back() {
    for binary in binaries("a_request_through_a_service_import_gets_one_response_back") {
        let server = TestServer::binary_with_config(binary, SERVICES, &[]);
        let mut service = Raw::synced(server.port, &login_with_headers("a"), b"SUB svc.> 1\r\n");
        let mut requester = Raw::synced(server.port, &login("b"), b"SUB inbox.> 9\r\n");
        requester.send(b"PUB local.req inbox.1 2\r\nhi\r\n");
        let request = next_request(&mut service, binary);
        assert_eq!(
            (request.subject.as_str(), request.body.as_str()),
            ("svc.req", "hi"),
            "{binary}"
        );
        assert_request_info(&request.headers, "B", &[], binary);
        // The reply subject is the exporter's own: `_R_.` and two random tokens of six.
        let reply = request.reply.expect("a reply subject");
        let tokens: Vec<&str> = reply.split('.').collect();
        assert!(
            tokens.len() == 3 && tokens[0] == "_R_" && tokens[1].len() == 6 && tokens[2].len() == 6,
            "{binary}: {reply}"
        );
        // One response goes back, on the requester's reply subject; a second is dropped.
        service.send(format!("PUB {reply} 2\r\nok\r\nPUB {reply} 3\r\nok2\r\n").as_bytes());
        service.ping();
        assert_eq!(
            received(&mut requester),
            "MSG inbox.1 9 2\r\nok\r\n",
            "{binary}"
        );
        // A wildcard import under its own name, and one mapped token by token.
        requester.send(b"PUB svc.x.y.z inbox.2 1\r\nx\r\nPUB loc.q inbox.3 1\r\nw\r\n");
        let x = next_request(&mut service, binary);
        let w = next_request(&mut service, binary);
        assert_eq!(
            (x.subject.as_str(), x.body.as_str()),
            ("svc.x.y.z", "x"),
            "{binary}"
        );
        assert_eq!(
            (w.subject.as_str(), w.body.as_str()),
            ("svc.w.q", "w"),
            "{binary}"
        );
        assert!(x.reply.is_some() && w.reply.is_some(), "{binary}");
    }
}

#[test]
fn a_streamed_service_responds_until_an_empty_message_or_its_threshold() {
    for binary in binaries("a_streamed_service_responds_until_an_empty_message") {
        let server = TestServer::binary_with_config(binary, SERVICES, &[]);
        let mut service = Raw::synced(server.port, &login_with_headers("a"), b"SUB feed 1\r\n");
        let mut requester = Raw::synced(server.port, &login("b"), b"SUB inbox.> 9\r\n");
        requester.send(b"PUB feed inbox.1 2\r\nhi\r\n");
        let reply = next_request(&mut service, binary).reply.expect("reply");
        service.send(
            format!("PUB {reply} 2\r\nr1\r\nPUB {reply} 2\r\nr2\r\nPUB {reply} 0\r\n\r\nPUB {reply} 2\r\nr3\r\n")
                .as_bytes(),
        );
        service.ping();
        assert_eq!(
            received(&mut requester),
            "MSG inbox.1 9 2\r\nr1\r\nMSG inbox.1 9 2\r\nr2\r\nMSG inbox.1 9 0\r\n\r\n",
            "{binary}: the empty message ends the stream"
        );
        // A stream left waiting past its threshold (300 ms) is dropped.
        requester.send(b"PUB feed inbox.2 2\r\nhi\r\n");
        let reply = next_request(&mut service, binary).reply.expect("reply");
        service.send(format!("PUB {reply} 2\r\nr1\r\n").as_bytes());
        service.ping();
        assert_eq!(
            received(&mut requester),
            "MSG inbox.2 9 2\r\nr1\r\n",
            "{binary}"
        );
        std::thread::sleep(Duration::from_millis(1200));
        service.send(format!("PUB {reply} 4\r\nlate\r\n").as_bytes());
        service.ping();
        assert_eq!(received(&mut requester), "", "{binary}: past the threshold");
    }
}

#[test]
fn service_imports_cross_only_as_configured_and_name_the_requester_truthfully() {
    for binary in binaries("service_imports_cross_only_as_configured") {
        let server = TestServer::binary_with_config(binary, SERVICES, &[]);
        let mut service = Raw::synced(
            server.port,
            &login_with_headers("a"),
            b"SUB svc.> 1\r\nSUB local.req 2\r\n",
        );
        let mut in_b = Raw::synced(
            server.port,
            &login("b"),
            b"SUB svc.> 1\r\nSUB local.req 2\r\n",
        );
        // B's own subscriber sees its request too; the exporter's subject in B is B's own.
        let mut requester = Raw::synced(server.port, &login_with_headers("b"), b"");
        requester.send(
            b"HPUB local.req 44 46\r\nNATS/1.0\r\nNats-Request-Info: {\"acc\":\"A\"}\r\n\r\nhi\r\nPUB svc.req 3\r\nown\r\n",
        );
        requester.ping();
        let request = next_request(&mut service, binary);
        assert_eq!(
            (request.subject.as_str(), request.reply.as_deref()),
            ("svc.req", None),
            "{binary}"
        );
        // The requester's own copy of the header is replaced by the server's.
        assert_request_info(&request.headers, "B", &[], binary);
        let in_b_got = received(&mut in_b);
        assert!(
            in_b_got.contains("MSG local.req 2 2\r\nhi\r\n")
                && in_b_got.contains("MSG svc.req 1 3\r\nown\r\n"),
            "{binary}: {in_b_got:?}"
        );
        assert_eq!(
            received(&mut service),
            "",
            "{binary}: B's svc.req stays in B"
        );
        // A's local.req and C's requests reach no one in the other accounts.
        publish_as(server.port, "a", b"PUB local.req 1\r\na\r\n");
        publish_as(
            server.port,
            "c",
            b"PUB local.req 1\r\nc\r\nPUB svc.req 1\r\nc\r\n",
        );
        assert_eq!(received(&mut in_b), "", "{binary}");
        let seen = received(&mut service);
        assert_eq!(seen, "MSG local.req 2 1\r\na\r\n", "{binary}");
        // Other headers the requester sent stay.
        requester.send(b"HPUB local.req 21 23\r\nNATS/1.0\r\nX-Id: 7\r\n\r\nhi\r\n");
        let request = next_request(&mut service, binary);
        assert_request_info(&request.headers, "B", &["X-Id: 7"], binary);
        assert_eq!(request.body, "hi", "{binary}");
    }
}

/// A request from B on the third server reaches A's service on the second through the
/// seed's routes, and the response finds its way back to the requester.
fn services_across(kinds: [ServerKind; 3]) {
    let (nodes, [_, pb, pc]) = cluster_of(kinds, SERVICES);
    let context = format!("{kinds:?}");
    let mut service = Raw::synced(pb, &login_with_headers("a"), b"SUB svc.> 1\r\n");
    let mut requester = Raw::synced(pc, &login("b"), b"SUB inbox.> 9\r\n");
    // The service's interest crosses the routes a moment after its SUB.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut reached = false;
    while !reached && Instant::now() < deadline {
        requester.send(b"PUB local.req inbox.0 1\r\n0\r\n");
        reached = received(&mut service).contains("HMSG svc.req 1 _R_.");
    }
    assert!(reached, "{context}: no request reached the service");
    requester.send(b"PUB local.req inbox.1 2\r\nhi\r\n");
    let request = next_request(&mut service, &context);
    assert_eq!(
        (request.subject.as_str(), request.body.as_str()),
        ("svc.req", "hi"),
        "{context}"
    );
    assert_request_info(&request.headers, "B", &[], &context);
    let reply = request.reply.expect("reply subject");
    service.send(format!("PUB {reply} 2\r\nok\r\n").as_bytes());
    service.ping();
    let got = received(&mut requester);
    assert!(
        got.ends_with("MSG inbox.1 9 2\r\nok\r\n"),
        "{context}: {got:?}"
    );
    // B's account on the first server sees none of it; C on the third imports nothing.
    let mut in_c = Raw::synced(pc, &login("c"), b"SUB > 1\r\n");
    requester.send(b"PUB local.req inbox.2 1\r\nx\r\n");
    let _ = next_request(&mut service, &context);
    expect_quiet(&mut in_c, &context);
    drop(nodes);
}

#[test]
fn service_imports_work_across_a_cluster_of_ours() {
    services_across([ServerKind::Ours; 3]);
}

#[test]
fn service_imports_work_in_clusters_mixed_with_nats_server() {
    with_nats_server("service_imports_work_in_clusters_mixed", services_across);
    if cluster_util::real_server_available("service_imports_work_in_clusters_mixed") {
        // The requester on nats-server and the service on ours, and the other way round.
        services_across([ServerKind::Ours, ServerKind::Ours, ServerKind::Real]);
        services_across([ServerKind::Real, ServerKind::Real, ServerKind::Ours]);
    }
}

#[test]
fn accounts_may_be_listed_by_name_only() {
    for binary in binaries("accounts_may_be_listed_by_name_only") {
        let server = TestServer::binary_with_config(
            binary,
            "http: \"127.0.0.1:-1\"\naccounts: [A, B]\n",
            &[],
        );
        let http = server.logged_port("Starting http monitor on ");
        let list = get_json(http, "/accountz");
        let mut names: Vec<&str> = list["accounts"]
            .as_array()
            .expect("accounts")
            .iter()
            .filter_map(|n| n.as_str())
            .collect();
        names.sort();
        assert_eq!(names, ["$G", "$SYS", "A", "B"], "{binary}");
    }
}

#[test]
fn a_sharing_service_import_tells_the_service_who_the_requester_is() {
    let conf = "server_name: srv1\naccounts {\n  A { users: [{user: a, password: a}], exports: [{service: \"svc.>\"}] }\n  B { users: [{user: b, password: b}], imports: [{service: {account: A, subject: \"svc.req\"}, share: true}] }\n}\n";
    let mut seen = Vec::new();
    for binary in binaries("a_sharing_service_import") {
        let server = TestServer::binary_with_config(binary, conf, &[]);
        let mut service = Raw::synced(server.port, &login_with_headers("a"), b"SUB svc.> 1\r\n");
        let mut requester = Raw::synced(
            server.port,
            r#"{"verbose":false,"user":"b","pass":"b","name":"my-app","lang":"rust","version":"1.2.3"}"#,
            b"",
        );
        requester.send(b"PUB svc.req inbox 2\r\nhi\r\n");
        let request = next_request(&mut service, binary);
        let json = request
            .headers
            .lines()
            .find_map(|l| l.strip_prefix("Nats-Request-Info: "))
            .unwrap_or_else(|| panic!("{binary}: {:?}", request.headers));
        let mut info: serde_json::Value = serde_json::from_str(json).expect("json");
        // Times and ids differ from run to run; their form does not.
        assert!(
            info["start"].as_str().is_some_and(|s| s.ends_with('Z')),
            "{binary}: {json}"
        );
        assert!(
            info["rtt"].is_u64() && info["id"].is_u64(),
            "{binary}: {json}"
        );
        let keys: Vec<String> = info.as_object().expect("object").keys().cloned().collect();
        for k in ["start", "rtt", "id"] {
            info[k] = serde_json::Value::Null;
        }
        seen.push((info, keys));
    }
    let (ours, ours_keys) = &seen[0];
    assert_eq!(ours["acc"], "B");
    assert_eq!(ours["user"], "b");
    assert_eq!(ours["name"], "my-app");
    assert_eq!(ours["server"], "srv1");
    assert_eq!(ours["host"], "127.0.0.1");
    assert_eq!(ours["kind"], "Client");
    if let Some((reference, reference_keys)) = seen.get(1) {
        assert_eq!(ours, reference, "the requester as nats-server describes it");
        assert_eq!(ours_keys, reference_keys);
    }
}

#[test]
fn accountz_lists_service_imports_and_exports_as_nats_server_does() {
    let conf = format!("http: \"127.0.0.1:-1\"\n{SERVICES}");
    for binary in binaries("accountz_lists_service_imports_and_exports") {
        let server = TestServer::binary_with_config(binary, &conf, &[]);
        let http = server.logged_port("Starting http monitor on ");
        let b = get_json(http, "/accountz?acc=B");
        // nats-server's own system-account imports aside.
        let mut imports: Vec<String> = b["account_detail"]["imports"]
            .as_array()
            .expect("imports")
            .iter()
            .filter(|i| i["account"] == "A")
            .map(|i| i.to_string())
            .collect();
        imports.sort();
        let expected = [
            r#"{"account":"A","invalid":false,"share":false,"subject":"feed","to":"feed","tracking":false,"type":"service"}"#,
            r#"{"account":"A","invalid":false,"share":false,"subject":"loc.*","to":"svc.w.*","tracking":false,"type":"service"}"#,
            r#"{"account":"A","invalid":false,"share":false,"subject":"local.req","to":"svc.req","tracking":false,"type":"service"}"#,
            r#"{"account":"A","invalid":false,"share":false,"subject":"svc.x.>","to":"svc.x.>","tracking":false,"type":"service"}"#,
        ];
        assert_eq!(imports, expected, "{binary}");
        let a = get_json(http, "/accountz?acc=A");
        let mut exports: Vec<String> = a["account_detail"]["exports"]
            .as_array()
            .expect("exports")
            .iter()
            .map(|e| e.to_string())
            .collect();
        exports.sort();
        assert_eq!(
            exports,
            [
                r#"{"response_type":"Singleton","subject":"svc.>","type":"service"}"#,
                r#"{"response_type":"Streamed","subject":"feed","type":"service"}"#,
            ],
            "{binary}"
        );
    }
}
