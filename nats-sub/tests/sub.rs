//! `nats-sub` end to end: against our `gnatsd` (single servers, two servers for failover, a
//! 3-node cluster once routes exist), a scripted server announcing `connect_urls`, and the
//! real nats-server 2.9.10. `nats-pub` publishes; both tools are the binaries users run.

mod common;

use std::time::Duration;

use common::{bins, nats_sub, publish, subscriber};
use nats_cli::testkit::{
    assert_help_and_version, free_port, run, strs, wait_for_route_interest, wait_until, Bins,
    FakeServer, Proc, Server, WAIT,
};

#[test]
fn seed_scenario_on_one_gnatsd() {
    let server = Server::gnatsd(&bins(), &[]);
    let mut sub = subscriber(&["-s", &server.url(), "hello"]);
    publish(&["-s", &server.url(), "hello", "world"]);
    assert_eq!(
        sub.stdout_until("[#1]"),
        ["Listening on [hello]", "[#1] Received on [hello] : 'world'"]
    );
    assert!(sub.stderr().is_empty(), "{}", sub.describe());
}

/// The docs' scenario verbatim: three servers routed to each other, subscriber on A,
/// publisher on C.
#[test]
fn seed_scenario_on_a_three_node_gnatsd_cluster() {
    let [a, _b, c] = gnatsd_cluster(&bins());
    seed_scenario_across_routes(&a, &c);
}

/// Three of our gnatsds routed to each other: `--cluster`, and `--routes` to the first one.
fn gnatsd_cluster(bins: &Bins) -> [Server; 3] {
    let seed = format!("nats://127.0.0.1:{}", free_port());
    let a = Server::gnatsd(bins, &["--cluster", &seed]);
    let mut others = (0..2).map(|_| {
        let own = format!("nats://127.0.0.1:{}", free_port());
        Server::gnatsd(bins, &["--cluster", &own, "--routes", &seed])
    });
    let (b, c) = (others.next().expect("b"), others.next().expect("c"));
    [a, b, c]
}

/// The docs' scenario on a formed cluster: subscriber on `a`, publisher on `c`, and the
/// message crosses the route.
fn seed_scenario_across_routes(a: &Server, c: &Server) {
    let mut sub = subscriber(&["-s", &a.url(), "hello"]);
    assert!(wait_for_route_interest(a.port, c.port), "no route A→C");
    publish(&["-s", &c.url(), "hello", "world"]);
    assert_eq!(
        sub.stdout_until("[#1]"),
        ["Listening on [hello]", "[#1] Received on [hello] : 'world'"]
    );
}

#[test]
fn count_exits_after_n_messages_and_wildcards_show_the_real_subject() {
    let server = Server::gnatsd(&bins(), &[]);
    let mut sub = subscriber(&["-s", &server.url(), "-n", "2", "greet.*"]);
    publish(&["-s", &server.url(), "greet.en", "hello"]);
    publish(&["-s", &server.url(), "greet.fr", "bonjour"]);
    let status = sub.wait_exit(WAIT);
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{}", sub.describe());
    assert_eq!(
        sub.stdout(),
        [
            "Listening on [greet.*]",
            "[#1] Received on [greet.en] : 'hello'",
            "[#2] Received on [greet.fr] : 'bonjour'",
        ]
    );
}

#[test]
fn queue_group_members_share_the_messages() {
    let server = Server::gnatsd(&bins(), &[]);
    let url = server.url();
    let one = subscriber(&["-s", &url, "-q", "workers", "jobs"]);
    let two = subscriber(&["-s", &url, "-q", "workers", "jobs"]);
    assert_eq!(
        one.stdout()[0],
        "Listening on [jobs], queue group [workers]"
    );
    publish(&["-s", &url, "-n", "20", "jobs", "task"]);
    let received = |p: &Proc| {
        p.stdout()
            .iter()
            .filter(|l| l.contains("Received on [jobs] : 'task'"))
            .count()
    };
    assert!(
        wait_until(WAIT, || received(&one) + received(&two) == 20),
        "{} / {}",
        one.describe(),
        two.describe()
    );
    // Exactly once each: nothing more arrives.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(received(&one) + received(&two), 20);
}

#[test]
fn raw_prints_payloads_only_on_stdout() {
    let server = Server::gnatsd(&bins(), &[]);
    let mut sub = subscriber(&["-s", &server.url(), "--raw", "-n", "2", "data"]);
    publish(&["-s", &server.url(), "data", "line one"]);
    publish(&["-s", &server.url(), "data", "{\"k\":1}"]);
    assert_eq!(sub.wait_exit(WAIT).and_then(|s| s.code()), Some(0));
    assert_eq!(sub.stdout(), ["line one", "{\"k\":1}"]);
    assert_eq!(sub.stderr(), ["Listening on [data]"]);
}

#[test]
fn timestamps_prefix_received_lines() {
    let server = Server::gnatsd(&bins(), &[]);
    let mut sub = subscriber(&["-s", &server.url(), "-t", "-n", "1", "hello"]);
    publish(&["-s", &server.url(), "hello", "world"]);
    assert_eq!(sub.wait_exit(WAIT).and_then(|s| s.code()), Some(0));
    let lines = sub.stdout();
    assert_eq!(lines[0], "Listening on [hello]");
    // `2026/11/26 07:06:25 [#1] ...`: 20 characters of date and time, then the usual line.
    let (stamp, rest) = lines[1].split_at(20);
    assert_eq!(rest, "[#1] Received on [hello] : 'world'");
    let shape: String = stamp
        .chars()
        .map(|c| if c.is_ascii_digit() { '9' } else { c })
        .collect();
    assert_eq!(shape, "9999/99/99 99:99:99 ");
}

#[test]
fn headers_are_printed_under_the_message() {
    let server = Server::gnatsd(&bins(), &[]);
    let mut sub = subscriber(&["-s", &server.url(), "--headers", "-n", "2", "h"]);
    publish(&[
        "-s",
        &server.url(),
        "-H",
        "Trace-Id: abc",
        "-H",
        "X:1",
        "h",
        "body",
    ]);
    publish(&["-s", &server.url(), "h", "plain"]);
    assert_eq!(sub.wait_exit(WAIT).and_then(|s| s.code()), Some(0));
    assert_eq!(
        sub.stdout(),
        [
            "Listening on [h]",
            "[#1] Received on [h] : 'body'",
            "  Trace-Id: abc",
            "  X: 1",
            "[#2] Received on [h] : 'plain'",
        ]
    );
}

#[test]
fn reconnects_to_the_next_server_and_keeps_counting() {
    let bins = bins();
    let mut a = Server::gnatsd(&bins, &[]);
    let b = Server::gnatsd(&bins, &[]);
    let servers = format!("{}, {}", a.url(), b.url());
    let sub = subscriber(&["-s", &servers, "--max-reconnect-time", "10s", "hello"]);
    publish(&["-s", &a.url(), "hello", "first"]);
    assert!(sub.wait_stdout("[#1]", WAIT), "{}", sub.describe());

    a.kill();
    let reconnected = format!("Reconnected [{}]", b.url());
    assert!(sub.wait_stderr(&reconnected, WAIT), "{}", sub.describe());
    publish(&["-s", &b.url(), "hello", "second"]);
    assert!(sub.wait_stdout("[#2]", WAIT), "{}", sub.describe());

    assert_eq!(
        sub.stdout(),
        [
            "Listening on [hello]",
            "[#1] Received on [hello] : 'first'",
            "[#2] Received on [hello] : 'second'",
        ]
    );
    let stderr = sub.stderr();
    assert_eq!(stderr.len(), 2, "{stderr:?}");
    assert!(
        stderr[0].starts_with("Disconnected due to: ")
            && stderr[0].ends_with(", will attempt reconnects for 10s"),
        "{stderr:?}"
    );
    assert_eq!(stderr[1], reconnected);
}

/// Cluster awareness without a cluster: a scripted server announces a peer in
/// `connect_urls`; when it goes away, the subscriber moves to that peer, which it was never
/// given on the command line.
#[test]
fn fails_over_to_a_server_learned_from_connect_urls() {
    let peer = Server::gnatsd(&bins(), &[]);
    let info = format!(
        r#"{{"server_id":"FAKE","server_name":"fake","version":"2.9.10","proto":1,"go":"go1.19.8","host":"127.0.0.1","port":1,"headers":true,"max_payload":1048576,"client_id":1,"client_ip":"127.0.0.1","connect_urls":["127.0.0.1:{}"]}}"#,
        peer.port
    );
    let fake = FakeServer::start(&info);
    let sub = subscriber(&["-s", &fake.url(), "--max-reconnect-time", "10s", "hello"]);
    assert!(fake.received().contains("SUB hello"), "{}", fake.received());

    fake.shut_down();
    let reconnected = format!("Reconnected [nats://127.0.0.1:{}]", peer.port);
    assert!(sub.wait_stderr(&reconnected, WAIT), "{}", sub.describe());
    publish(&["-s", &peer.url(), "hello", "moved"]);
    assert!(
        sub.wait_stdout("[#1] Received on [hello] : 'moved'", WAIT),
        "{}",
        sub.describe()
    );
}

#[test]
fn gives_up_after_the_reconnect_time() {
    let mut server = Server::gnatsd(&bins(), &[]);
    let mut sub = subscriber(&[
        "-s",
        &server.url(),
        "--max-reconnect-time",
        "500ms",
        "hello",
    ]);
    server.kill();
    let status = sub.wait_exit(WAIT);
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{}", sub.describe());
    let stderr = sub.stderr();
    assert_eq!(
        stderr.last().map(String::as_str),
        Some("nats: gave up reconnecting after 500ms: no servers available for connection"),
        "{stderr:?}"
    );
    assert!(
        stderr[0].contains("will attempt reconnects for 500ms"),
        "{stderr:?}"
    );
}

#[test]
fn failures_exit_non_zero_with_one_line() {
    let server = Server::gnatsd(&bins(), &["--user", "derek", "--pass", "s3cr3t"]);
    let closed = format!("nats://127.0.0.1:{}", free_port());
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["-s".into(), closed.clone(), "hello".into()],
            "nats: no servers available for connection",
        ),
        (
            vec!["-s".into(), server.url(), "hello".into()],
            "nats: Authorization Violation",
        ),
        (
            vec!["-s".into(), "nats://host:port".into(), "hello".into()],
            "nats: invalid server URL \"nats://host:port\": invalid port \"port\"",
        ),
        (
            vec!["-s".into(), server.url(), "foo..bar".into()],
            "nats: invalid subject \"foo..bar\"",
        ),
    ];
    for (args, expected) in cases {
        let args = strs(&args);
        let done = run(&nats_sub(), &args, None, WAIT);
        assert_eq!(done.code(), Some(1), "{args:?}: {done:?}");
        assert_eq!(done.stderr, [expected], "{args:?}");
        assert!(done.stdout.is_empty(), "{args:?}: {done:?}");
    }
}

#[test]
fn credentials_and_tokens_come_from_the_url() {
    let bins = bins();
    let users = Server::gnatsd(&bins, &["--user", "derek", "--pass", "s3cr3t"]);
    let token = Server::gnatsd(&bins, &["--auth", "t0k3n"]);
    for url in [
        format!("nats://derek:s3cr3t@127.0.0.1:{}", users.port),
        format!("nats://t0k3n@127.0.0.1:{}", token.port),
    ] {
        let mut sub = subscriber(&["-s", &url, "-n", "1", "secure"]);
        publish(&["-s", &url, "secure", "ok"]);
        assert_eq!(
            sub.wait_exit(WAIT).and_then(|s| s.code()),
            Some(0),
            "{url}: {}",
            sub.describe()
        );
    }
}

#[test]
fn help_and_version() {
    assert_help_and_version(
        &nats_sub(),
        "-h",
        &[
            "--server",
            "--queue",
            "--timestamp",
            "--count",
            "--raw",
            "--headers",
            "--nkey",
            "--creds",
        ],
        &format!("nats-sub {}", env!("CARGO_PKG_VERSION")),
    );
}

/// The same tools against the reference server prove they speak the real protocol.
#[test]
fn seed_scenario_on_real_nats_server() {
    let Some(server) = Server::nats_server_or_skip("seed_scenario_on_real_nats_server") else {
        return;
    };
    let mut sub = subscriber(&["-s", &server.url(), "hello"]);
    publish(&["-s", &server.url(), "hello", "world"]);
    publish(&["-s", &server.url(), "-H", "A:B", "hello", "with headers"]);
    assert_eq!(
        sub.stdout_until("[#2]"),
        [
            "Listening on [hello]",
            "[#1] Received on [hello] : 'world'",
            "[#2] Received on [hello] : 'with headers'",
        ]
    );
}

/// Three real nats-servers routed to each other: `--cluster` and `--routes` to the seed.
fn real_cluster(test: &str) -> Option<[Server; 3]> {
    let seed = format!("nats://127.0.0.1:{}", free_port());
    let a = Server::nats_server_with_or_skip(test, &["--cluster_name", "T", "--cluster", &seed])?;
    let mut others = Vec::new();
    for _ in 0..2 {
        let own = format!("nats://127.0.0.1:{}", free_port());
        let args = ["--cluster_name", "T", "--cluster", &own, "--routes", &seed];
        others.push(Server::nats_server_with_or_skip(test, &args)?);
    }
    let c = others.pop()?;
    let b = others.pop()?;
    Some([a, b, c])
}

/// The docs' scenario on a real nats-server cluster: the tools work across routes.
#[test]
fn seed_scenario_on_a_real_nats_server_cluster() {
    let Some([a, _b, c]) = real_cluster("seed_scenario_on_a_real_nats_server_cluster") else {
        return;
    };
    seed_scenario_across_routes(&a, &c);
}

/// Cluster awareness for real: given only A, the subscriber learns B and C from A's INFO
/// and, when A dies, carries on with one of them.
#[test]
fn fails_over_to_learned_servers_of_a_real_nats_server_cluster() {
    let test = "fails_over_to_learned_servers_of_a_real_nats_server_cluster";
    let Some([mut a, b, c]) = real_cluster(test) else {
        return;
    };
    let ports = [a.port, b.port, c.port];
    fail_over_within_cluster(ports, || a.kill());
}

/// The same on our own cluster.
#[test]
fn fails_over_to_learned_servers_of_a_three_node_gnatsd_cluster() {
    let [mut a, b, c] = gnatsd_cluster(&bins());
    let ports = [a.port, b.port, c.port];
    fail_over_within_cluster(ports, || a.kill());
}

/// Subscriber given only the first server of a formed cluster; `kill_first` stops that
/// server; the subscriber must resume on one of the others (known only from `connect_urls`)
/// and keep counting.
fn fail_over_within_cluster(ports: [u16; 3], kill_first: impl FnOnce()) {
    let url = |port: u16| format!("nats://127.0.0.1:{port}");
    let [a, b, c] = ports;
    // Routes are up once interest flows from B and from C to A; a client connecting after
    // that gets the cluster's connect_urls in its first INFO.
    assert!(wait_for_route_interest(b, a), "no route B→A");
    assert!(wait_for_route_interest(c, a), "no route C→A");
    let sub = subscriber(&["-s", &url(a), "--max-reconnect-time", "10s", "hello"]);
    publish(&["-s", &url(a), "hello", "one"]);
    assert!(sub.wait_stdout("[#1]", WAIT), "{}", sub.describe());

    kill_first();
    assert!(sub.wait_stderr("Reconnected [", WAIT), "{}", sub.describe());
    let stderr = sub.stderr();
    let now_on = stderr
        .iter()
        .find_map(|l| l.strip_prefix("Reconnected [")?.strip_suffix(']'))
        .expect("reconnect line")
        .to_string();
    assert!(
        now_on == url(b) || now_on == url(c),
        "reconnected to {now_on}, not to a learned peer: {stderr:?}"
    );
    publish(&["-s", &now_on, "hello", "two"]);
    assert!(
        sub.wait_stdout("[#2] Received on [hello] : 'two'", WAIT),
        "{}",
        sub.describe()
    );
}
