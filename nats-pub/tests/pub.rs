//! `nats-pub` end to end: what it prints, and what reaches a raw-protocol subscriber on our
//! `gnatsd` and on the real nats-server 2.9.10.

use std::path::PathBuf;

use nats_cli::testkit::{
    assert_help_and_version, free_port, run, Bins, Finished, RawClient, Server, WAIT,
};

fn bins() -> Bins {
    Bins::new(env!("CARGO_BIN_EXE_nats-pub"))
}

fn nats_pub() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_nats-pub"))
}

fn publish(args: &[&str], stdin: Option<&[u8]>) -> Finished {
    run(&nats_pub(), args, stdin, WAIT)
}

/// A raw subscriber that understands headers.
fn raw_subscriber(port: u16, subject: &str) -> RawClient {
    let mut raw = RawClient::connect(port, r#"{"verbose":false,"protocol":1,"headers":true}"#);
    raw.subscribe(subject, "9");
    raw
}

fn assert_arrives(raw: &mut RawClient, expected: &[u8]) {
    assert!(
        raw.wait_for(expected, WAIT),
        "expected {:?}, {raw:?}",
        String::from_utf8_lossy(expected)
    );
}

#[test]
fn publishes_flushes_and_confirms() {
    let server = Server::gnatsd(&bins(), &[]);
    let mut raw = raw_subscriber(server.port, "hello");
    let done = publish(&["-s", &server.url(), "hello", "world"], None);
    assert_eq!(done.code(), Some(0), "{done:?}");
    assert_eq!(done.stdout, ["Published [hello] : 'world'"]);
    assert!(done.stderr.is_empty(), "{done:?}");
    assert_arrives(&mut raw, b"MSG hello 9 5\r\nworld\r\n");
}

#[test]
fn reply_and_headers_go_out_as_hpub() {
    let server = Server::gnatsd(&bins(), &[]);
    let mut raw = raw_subscriber(server.port, "req");
    let done = publish(
        &[
            "-s",
            &server.url(),
            "-r",
            "inbox.1",
            "-H",
            "Trace-Id:abc",
            "--header",
            "X: y z",
            "req",
            "body",
        ],
        None,
    );
    assert_eq!(done.code(), Some(0), "{done:?}");
    let block = "NATS/1.0\r\nTrace-Id: abc\r\nX: y z\r\n\r\n";
    let expected = format!(
        "HMSG req 9 inbox.1 {} {}\r\n{block}body\r\n",
        block.len(),
        block.len() + 4
    );
    assert_arrives(&mut raw, expected.as_bytes());
}

#[test]
fn message_from_stdin_verbatim() {
    let server = Server::gnatsd(&bins(), &[]);
    let mut raw = raw_subscriber(server.port, "in");
    let done = publish(&["-s", &server.url(), "in"], Some(b"from\nstdin\n"));
    assert_eq!(done.code(), Some(0), "{done:?}");
    assert_arrives(&mut raw, b"MSG in 9 11\r\nfrom\nstdin\n\r\n");
    assert_eq!(done.stdout, ["Published [in] : 'from", "stdin", "'"]);
}

#[test]
fn count_publishes_n_times() {
    let server = Server::gnatsd(&bins(), &[]);
    let mut raw = raw_subscriber(server.port, "many");
    let done = publish(&["-s", &server.url(), "-n", "3", "many", "x"], None);
    assert_eq!(done.code(), Some(0), "{done:?}");
    assert_eq!(done.stdout, ["Published [many] : 'x'"; 3]);
    assert_arrives(&mut raw, &b"MSG many 9 1\r\nx\r\n".repeat(3));
}

#[test]
fn server_list_skips_dead_servers_and_urls_carry_credentials() {
    let server = Server::gnatsd(&bins(), &["--user", "derek", "--pass", "s3cr3t"]);
    let mut raw = RawClient::connect(
        server.port,
        r#"{"verbose":false,"user":"derek","pass":"s3cr3t"}"#,
    );
    raw.subscribe("auth", "9");
    let servers = format!(
        "127.0.0.1:{} , nats://derek:s3cr3t@127.0.0.1:{}",
        free_port(),
        server.port
    );
    let done = publish(&["-s", &servers, "auth", "ok"], None);
    assert_eq!(done.code(), Some(0), "{done:?}");
    assert_arrives(&mut raw, b"MSG auth 9 2\r\nok\r\n");
}

#[test]
fn failures_exit_non_zero_with_one_line() {
    let server = Server::gnatsd(&bins(), &["--auth", "t0k3n"]);
    let closed = format!("nats://127.0.0.1:{}", free_port());
    let wrong_token = format!("nats://wrong@127.0.0.1:{}", server.port);
    let good = format!("nats://t0k3n@127.0.0.1:{}", server.port);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["-s", &closed, "hello", "x"],
            "nats: no servers available for connection",
        ),
        (
            vec!["-s", &wrong_token, "hello", "x"],
            "nats: Authorization Violation",
        ),
        (
            vec!["-s", "nats://[::1:4222", "hello", "x"],
            "nats: invalid server URL \"nats://[::1:4222\": missing ']' after IPv6 address",
        ),
        (
            vec!["-s", "ws://127.0.0.1:4222", "hello", "x"],
            "nats: unsupported URL scheme \"ws\" (only nats:// and tls:// are supported)",
        ),
        (
            vec!["-s", &good, "foo.*", "x"],
            "nats: invalid subject \"foo.*\"",
        ),
        (
            vec!["-s", &good, "-r", "a b", "foo", "x"],
            "nats: invalid reply subject \"a b\"",
        ),
        (
            vec!["-s", &good, "-H", "nocolon", "foo", "x"],
            "nats: invalid header \"nocolon\" (expected key:value)",
        ),
    ];
    for (args, expected) in cases {
        let done = publish(&args, None);
        assert_eq!(done.code(), Some(1), "{args:?}: {done:?}");
        assert_eq!(done.stderr, [expected], "{args:?}");
        assert!(done.stdout.is_empty(), "{args:?}: {done:?}");
    }
}

#[test]
fn oversized_payload_is_refused_before_sending() {
    let dir = std::env::temp_dir().join(format!("nats-pub-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let conf = dir.join("small.conf");
    std::fs::write(&conf, "max_payload: 8\n").expect("write conf");
    let server = Server::gnatsd(&bins(), &["-c", &conf.to_string_lossy()]);
    let done = publish(&["-s", &server.url(), "big", "0123456789"], None);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(done.code(), Some(1), "{done:?}");
    assert_eq!(
        done.stderr,
        ["nats: maximum payload exceeded (10 bytes, server allows 8)"]
    );
}

#[test]
fn help_and_version() {
    assert_help_and_version(
        &nats_pub(),
        "--help",
        &[
            "--server",
            "--reply",
            "--header",
            "--count",
            "--nkey",
            "--creds",
            "<SUBJECT>",
            "[MESSAGE]",
        ],
        &format!("nats-pub {}", env!("CARGO_PKG_VERSION")),
    );
    let usage = publish(&[], None);
    assert_ne!(usage.code(), Some(0), "a subject is required");
}

#[test]
fn publishes_to_real_nats_server() {
    let Some(server) = Server::nats_server_or_skip("publishes_to_real_nats_server") else {
        return;
    };
    let mut raw = raw_subscriber(server.port, "hello");
    let done = publish(&["-s", &server.url(), "hello", "world"], None);
    assert_eq!(done.code(), Some(0), "{done:?}");
    assert_eq!(done.stdout, ["Published [hello] : 'world'"]);
    assert_arrives(&mut raw, b"MSG hello 9 5\r\nworld\r\n");

    let done = publish(
        &["-s", &server.url(), "-H", "A:B", "-r", "r", "hello", "hi"],
        None,
    );
    assert_eq!(done.code(), Some(0), "{done:?}");
    assert_arrives(
        &mut raw,
        b"HMSG hello 9 r 18 20\r\nNATS/1.0\r\nA: B\r\n\r\nhi\r\n",
    );
}

#[test]
fn authorization_violation_from_real_nats_server() {
    let Some(server) = Server::nats_server_with_or_skip(
        "authorization_violation_from_real_nats_server",
        &["--user", "u", "--pass", "p"],
    ) else {
        return;
    };
    let done = publish(&["-s", &server.url(), "hello", "x"], None);
    assert_eq!(done.code(), Some(1), "{done:?}");
    assert_eq!(done.stderr, ["nats: Authorization Violation"]);
    let url = format!("nats://u:p@127.0.0.1:{}", server.port);
    let done = publish(&["-s", &url, "hello", "x"], None);
    assert_eq!(done.code(), Some(0), "{done:?}");
}
