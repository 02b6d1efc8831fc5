//! The command line, the log format, signals, pid files, configuration checking and reload:
//! what an operator sees of nats-server, seen from outside our binary.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{free_port, temp_dir, Raw, TestServer, WAIT};

fn gnatsd(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gnatsd"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run gnatsd")
}

#[test]
fn version_help_and_bad_words() {
    let out = gnatsd(&["--version"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "nats-server: v2.9.10\n"
    );
    assert!(out.status.success());
    let out = gnatsd(&["-h"]);
    assert!(out.status.success());
    let usage = String::from_utf8_lossy(&out.stdout);
    assert!(usage.starts_with("\nUsage: nats-server [options]\n"));
    assert_eq!(usage.len(), 3477);
    let out = gnatsd(&["--bogus"]);
    assert!(
        out.status.success(),
        "unknown flags exit 0 like Go's flag package"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("flag provided but not defined: -bogus"));
    let out = gnatsd(&["foo"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "nats-server: unrecognized command: \"foo\"\n"
    );
    let out = gnatsd(&["--routes", "nats://127.0.0.1:4248"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("solicited routes require cluster capabilities"));
}

#[test]
fn log_lines_have_nats_server_format() {
    let server = TestServer::start(&[]);
    let lines = server.log_lines();
    let first = &lines[0];
    let pid = server.pid().to_string();
    assert!(first.starts_with(&format!("[{pid}] ")), "{first}");
    // [pid] yyyy/mm/dd hh:mm:ss.uuuuuu [INF] Starting nats-server
    let rest = &first[pid.len() + 3..];
    let (date, rest) = rest.split_at(26);
    assert_eq!(rest, " [INF] Starting nats-server", "{first}");
    let shape: String = date
        .chars()
        .map(|c| if c.is_ascii_digit() { '9' } else { c })
        .collect();
    assert_eq!(shape, "9999/99/99 99:99:99.999999");
    for expected in [
        "[INF]   Version:  2.9.10",
        "[INF]   Git:      [not set]",
        "[INF]   Name:     N",
        "[INF]   ID:       N",
        "[INF] Listening for client connections on 127.0.0.1:",
        "[INF] Server is ready",
    ] {
        assert!(
            lines.iter().any(|l| l.contains(expected)),
            "missing {expected:?} in {lines:?}"
        );
    }
}

#[test]
fn logtime_false_drops_the_timestamp() {
    let server = TestServer::start(&["-T=false"]);
    assert_eq!(
        server.log_lines()[0],
        format!("[{}] [INF] Starting nats-server", server.pid())
    );
}

#[test]
fn debug_and_trace_lines() {
    let server = TestServer::start(&["-DV", "--user", "u", "--pass", "secret"]);
    let mut c = Raw::connect(server.port);
    c.send(b"CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"secret\"}\r\nSUB foo 1\r\nPUB foo 2\r\nhi\r\nPING\r\n");
    c.expect("MSG foo 1 2\r\nhi\r\nPONG\r\n");
    drop(c);
    assert!(server.wait_log("[DBG] 127.0.0.1:", WAIT));
    assert!(server.wait_log(" - cid:4 - Client connection created", WAIT));
    assert!(server.wait_log("[TRC] 127.0.0.1:", WAIT));
    assert!(server.wait_log("<<- [SUB foo 1]", WAIT));
    assert!(server.wait_log("<<- [PUB foo 2]", WAIT));
    assert!(server.wait_log("<<- MSG_PAYLOAD: [\"hi\"]", WAIT));
    assert!(server.wait_log("->> [MSG foo 1 2]", WAIT));
    assert!(server.wait_log("\"pass\":\"[REDACTED]\"", WAIT));
    assert!(server.wait_log("Client connection closed: Client Closed", WAIT));
    assert!(
        !server.log_lines().iter().any(|l| l.contains("secret")),
        "password leaked into the log"
    );
}

#[test]
fn sigint_exits_zero_and_sigterm_exits_one() {
    let mut server = TestServer::start(&[]);
    assert_eq!(server.signal_and_wait("INT"), Some(0));
    assert!(server.wait_log("Initiating Shutdown...", WAIT));
    assert!(server.wait_log("Server Exiting..", WAIT));
    let mut server = TestServer::start(&[]);
    assert_eq!(server.signal_and_wait("TERM"), Some(1));
}

/// The running server's `GLIBC_TUNABLES`, read from its environment in /proc.
fn tunables_of(server: &TestServer) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{}/environ", server.pid())).expect("environ");
    environ
        .split(|b| *b == 0)
        .filter_map(|entry| entry.strip_prefix(b"GLIBC_TUNABLES="))
        .map(|value| String::from_utf8_lossy(value).into_owned())
        .next()
}

#[test]
fn on_amd_cpus_the_server_keeps_glibc_memcpy_off_rep_movsb_unless_told_otherwise() {
    let amd = std::fs::read_to_string("/proc/cpuinfo")
        .expect("cpuinfo")
        .lines()
        .any(|line| line.starts_with("vendor_id") && line.ends_with("AuthenticAMD"));
    // Same process (the pid we spawned), run again with the setting, and serving.
    let server = TestServer::start(&[]);
    Raw::connect(server.port).ping();
    let expected = match std::env::var("GLIBC_TUNABLES") {
        Ok(ours) => Some(ours),
        Err(_) if amd => Some(gnatsd::copy_tuning::SETTING.to_string()),
        Err(_) => None,
    };
    assert_eq!(tunables_of(&server), expected);
    let name = std::fs::read_to_string(format!("/proc/{}/comm", server.pid())).expect("comm");
    assert_eq!(name.trim_end(), "gnatsd", "the process keeps its name");
    // An operator's own value, even an empty one, is left alone.
    for own in ["", "glibc.malloc.arena_max=2"] {
        let server = TestServer::with_config_env("", &[], &[("GLIBC_TUNABLES", own)]);
        Raw::connect(server.port).ping();
        assert_eq!(tunables_of(&server).as_deref(), Some(own));
    }
}

#[test]
fn seed_command_lines_start_the_server() {
    // `gnatsd -p 4222 -cluster nats://localhost:4248 -D`, on free ports.
    let (p, c) = (free_port().to_string(), free_port());
    let server = TestServer::start(&["-p", &p, "-cluster", &format!("nats://localhost:{c}"), "-D"]);
    assert_eq!(server.port.to_string(), p);
    // `gnatsd -config ./seed.conf -D` with the seed's file (ports made free).
    let (client, http, cluster) = (free_port(), free_port(), free_port());
    let conf = format!("# Cluster Seed Node\n\nlisten: 127.0.0.1:{client}\nhttp: {http}\n\ncluster {{\n  listen: 127.0.0.1:{cluster}\n}}\n");
    let server = TestServer::with_config_as_is(&conf, &["-D"]);
    assert_eq!(server.port, client);
    assert!(server.wait_log("Using configuration file:", WAIT));
    // `gnatsd -c /tmp/cluster.conf -p 7222 -D -V`: the flag overrides the file's port.
    let flag_port = free_port();
    let conf = format!("listen: 127.0.0.1:{}\ncluster {{\n  listen: 127.0.0.1:{}\n  routes = [\n    nats-route://127.0.0.1:{}\n  ]\n}}\n", free_port(), free_port(), cluster);
    let server = TestServer::with_config_as_is(&conf, &["-p", &flag_port.to_string(), "-D", "-V"]);
    assert_eq!(server.port, flag_port);
}

#[test]
fn pid_file_and_log_file_with_reopen() {
    let dir = temp_dir("files");
    let pid_path = dir.join("gnatsd.pid");
    let log_path = dir.join("gnatsd.log");
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gnatsd"))
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-P"])
        .arg(&pid_path)
        .arg("-l")
        .arg(&log_path)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + WAIT;
    let ready = |p: &std::path::Path| {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .contains("Server is ready")
    };
    while !ready(&log_path) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(ready(&log_path), "log file written");
    assert_eq!(
        std::fs::read_to_string(&pid_path).expect("pid file"),
        child.id().to_string()
    );
    // Rotate: move the file away, SIGUSR1, the server writes a new one.
    let rotated = dir.join("gnatsd.log.1");
    std::fs::rename(&log_path, &rotated).expect("rotate");
    let _ = Command::new("kill")
        .args(["-USR1", &child.id().to_string()])
        .status();
    while !std::fs::read_to_string(&log_path)
        .unwrap_or_default()
        .contains("File log re-opened")
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(std::fs::read_to_string(&log_path)
        .unwrap_or_default()
        .contains("File log re-opened"));
    let _ = child.kill();
    let _ = child.wait();
}

/// Writes `conf` to `<dir>/<name>` and runs `gnatsd <flags> -c <that file>`: its exit code,
/// its standard error, and the file's path.
fn run_with_conf(
    dir: &std::path::Path,
    name: &str,
    conf: &str,
    flags: &[&str],
) -> (Option<i32>, String, String) {
    let path = dir.join(name);
    std::fs::write(&path, conf).expect("write");
    let path = path.to_str().expect("utf8").to_string();
    let out = gnatsd(&[flags, &["-c", &path]].concat());
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), stderr, path)
}

#[test]
fn config_check_and_errors_name_file_line_and_column() {
    let dir = temp_dir("check");
    let (code, err, good) = run_with_conf(
        &dir,
        "good.conf",
        "port: 4222\nmax_payload: 512KB\n",
        &["-t"],
    );
    assert_eq!(code, Some(0));
    assert_eq!(
        err,
        format!("nats-server: configuration file {good} is valid\n")
    );
    let (code, err, bad) = run_with_conf(&dir, "bad.conf", "port: 4222\n\nbogus_key: 1\n", &[]);
    assert_eq!(code, Some(1));
    assert_eq!(
        err,
        format!("nats-server: {bad}:3:1: unknown field \"bogus_key\"\n")
    );
    let (code, err, path) = run_with_conf(
        &dir,
        "typed.conf",
        "port: 4222\nmax_payload: \"big\"\n",
        &[],
    );
    assert_eq!(code, Some(1));
    assert!(err.starts_with(&format!("nats-server: {path}:2:")), "{err}");
    // A syntax error in nats-server's words, our location after them.
    let (code, err, path) = run_with_conf(&dir, "broken.conf", "port: 4222 host: x\n", &[]);
    assert_eq!(code, Some(1));
    assert!(
        err.starts_with("nats-server: Parse error on line 1: 'Expected a top-level value")
            && err.trim_end().ends_with(&format!("({path}:1:11)")),
        "{err}"
    );
    let out = gnatsd(&["-t"]);
    assert_eq!(out.status.code(), Some(1));
}

/// Syntax errors read as nats-server prints them (`nats-server: Parse error on line N: '...'`,
/// which tools match on; ours adds the location after it), and a value error's column on the
/// first line is counted from 0 as nats-server counts it.
#[test]
fn config_errors_in_nats_server_words() {
    if !common::reference_available("config_errors_in_nats_server_words") {
        return;
    }
    for conf in [
        "port: 4222\nfoo {\n",
        "port: 4222\nauthorization { user: \"abc }\n",
        "port = = 4\n",
        "a { b: 1 \n c: [1,2,}\n",
        "m { a: 1, b: 2 c: 3 }\n",
        "foo: 1\n",
        "  debug: 5\n",
        "port: 1\nbar: 1\n",
    ] {
        let file = common::TempFile::new("words", "t.conf", conf);
        let path = file.arg();
        let real = common::run_to_exit(common::REFERENCE, &["-c", &path, "-t"]);
        let ours = common::run_to_exit(common::OURS, &["-c", &path, "-t"]);
        assert_eq!(
            (real.0, ours.0),
            (Some(1), Some(1)),
            "{conf:?}: {real:?} {ours:?}"
        );
        let real_line = real.1.lines().next().unwrap_or_default().to_string();
        let ours_line = ours.1.lines().next().unwrap_or_default().to_string();
        if real_line.contains("Parse error on line") {
            let location = ours_line
                .strip_prefix(real_line.as_str())
                .unwrap_or_default();
            assert!(
                location.starts_with(&format!(" ({path}:")) && location.ends_with(')'),
                "{conf:?}: nats-server {real_line:?}, ours {ours_line:?}"
            );
        } else if real_line.contains("unknown field") {
            assert_eq!(ours_line, real_line, "{conf:?}");
        } else {
            // A type error: the same location, our own words for the type.
            let at = |l: &str| l.split(": ").nth(1).unwrap_or_default().to_string();
            assert_eq!(
                at(&ours_line),
                at(&real_line),
                "{conf:?}: {real_line:?} {ours_line:?}"
            );
        }
    }
}

#[test]
fn reference_example_config_is_honoured() {
    let dir = temp_dir("example");
    std::fs::create_dir_all(dir.join("inc")).expect("mkdir");
    std::fs::write(
        dir.join("inc/auth.conf"),
        "authorization { user: $USERNAME, password: \"p@ss\", timeout: 3 }\n",
    )
    .expect("write");
    let conf = "port = -1\nhost 127.0.0.1\nserver_name: srv1\nmax_payload: 512KB\nmax_pending = 10MB\nmax_control_line: 2k\nping_interval: \"2m\"\nwrite_deadline: \"5s\"\ndebug: yes\nlogtime: false\ninclude ./inc/auth.conf\n";
    let path = dir.join("full.conf");
    std::fs::write(&path, conf).expect("write");
    let mut child = Command::new(env!("CARGO_BIN_EXE_gnatsd"))
        .args(["-c", path.to_str().expect("utf8")])
        .env("USERNAME", "bob")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    use std::io::BufRead;
    let stderr = child.stderr.take().expect("stderr");
    let mut port = None;
    for line in std::io::BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
    {
        if let Some(p) = line
            .split("Listening for client connections on 127.0.0.1:")
            .nth(1)
        {
            port = p.trim().parse::<u16>().ok();
            break;
        }
    }
    let port = port.expect("port");
    let mut c = Raw::connect(port);
    assert!(c.info.contains("\"server_name\":\"srv1\""));
    assert!(c.info.contains("\"auth_required\":true"));
    assert!(c.info.contains("\"max_payload\":524288"));
    c.send(b"CONNECT {\"user\":\"bob\",\"pass\":\"p@ss\",\"verbose\":false}\r\n");
    c.ping();
    let mut bad = Raw::connect(port);
    bad.send(b"CONNECT {\"user\":\"bob\",\"pass\":\"nope\"}\r\n");
    let (got, closed) = bad.read_until_closed();
    assert_eq!(got, "-ERR 'Authorization Violation'\r\n");
    assert!(closed);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn reload_keeps_the_command_line_flags() {
    let port = free_port().to_string();
    let server = TestServer::with_config_as_is(
        "authorization { user: a, password: one }\n",
        &["-a", "127.0.0.1", "-p", &port, "-D"],
    );
    server.reload_with("authorization { user: a, password: two }\n");
    assert!(server.wait_log("Reloaded server configuration", WAIT));
    assert!(server.wait_log("Reloaded: authorization", WAIT));
    let lines = server.log_lines();
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("Reloaded: debug") || l.contains("requires a restart")),
        "{lines:?}"
    );
    // Debug lines go on after the reload.
    let before = server.log_lines().len();
    let mut client = Raw::connect(server.port);
    client.send(b"CONNECT {\"user\":\"a\",\"pass\":\"two\",\"verbose\":false}\r\n");
    client.ping();
    let debug_goes_on = common::poll_until(WAIT, || {
        server.log_lines()[before..]
            .iter()
            .any(|l| l.contains("[DBG]") && l.contains("Client connection created"))
    });
    assert!(debug_goes_on, "{:?}", server.log_lines());
}

/// What a fresh client of `port` that sends `bytes` receives until the server closes (or
/// `WAIT` passes).
fn until_closed(port: u16, bytes: &[u8]) -> String {
    let mut c = Raw::connect(port);
    c.send(bytes);
    c.read_until_closed().0
}

#[test]
fn reload_applies_authorization_and_logging() {
    let conf = "authorization { user: a, password: one }\n";
    let server = TestServer::with_config(conf, &[]);
    server.reload_with("authorization { user: a, password: two }\ndebug: true\n");
    assert!(server.wait_log("Reloaded server configuration", WAIT));
    assert!(server.wait_log("Reloaded: debug", WAIT));
    assert_eq!(
        until_closed(
            server.port,
            b"CONNECT {\"user\":\"a\",\"pass\":\"one\"}\r\n"
        ),
        "-ERR 'Authorization Violation'\r\n"
    );
    Raw::connect_with(server.port, r#"{"user":"a","pass":"two","verbose":false}"#).ping();
}

#[test]
fn auth_required_rejects_anything_before_connect_and_times_out() {
    let server = TestServer::with_config("authorization { token: abc, timeout: 1 }\n", &[]);
    let mut c = Raw::connect(server.port);
    assert!(c.info.contains("\"auth_required\":true"));
    c.send(b"PING\r\n");
    assert_eq!(
        c.read_until_closed().0,
        "-ERR 'Authorization Violation'\r\n"
    );
    let mut idle = Raw::connect(server.port);
    let start = std::time::Instant::now();
    let (got, closed) = idle.read_until_closed();
    assert_eq!(got, "-ERR 'Authentication Timeout'\r\n");
    assert!(closed && start.elapsed() >= Duration::from_millis(900));
}

#[test]
fn users_with_permissions() {
    let conf = r#"
authorization {
  users = [
    { user: a, password: pa, permissions: { publish: { allow: ["foo.*"], deny: ["foo.secret"] }, subscribe: ["foo.>", "bar q1"] } }
    { user: b, password: pb }
  ]
}
"#;
    let server = TestServer::with_config(conf, &[]);
    let mut a = Raw::connect(server.port);
    a.send(b"CONNECT {\"user\":\"a\",\"pass\":\"pa\",\"verbose\":false}\r\n");
    a.send(b"PUB foo.secret 1\r\nx\r\nPUB zzz 1\r\nx\r\nSUB zzz 7\r\nSUB bar q2 8\r\nSUB bar q1 9\r\nSUB foo.> 10\r\nPUB foo.ok 1\r\ny\r\nPING\r\n");
    a.expect(concat!(
        "-ERR 'Permissions Violation for Publish to \"foo.secret\"'\r\n",
        "-ERR 'Permissions Violation for Publish to \"zzz\"'\r\n",
        "-ERR 'Permissions Violation for Subscription to \"zzz\"'\r\n",
        "-ERR 'Permissions Violation for Subscription to \"bar\" using queue \"q2\"'\r\n",
        "MSG foo.ok 10 1\r\ny\r\n",
        "PONG\r\n"
    ));
    let json = r#"{"user":"b","pass":"pb","verbose":false}"#;
    Raw::synced(server.port, json, b"PUB zzz 1\r\nx\r\n");
}

#[test]
fn toml_configuration_with_the_same_keys() {
    let dir = temp_dir("toml");
    let path = dir.join("server.toml");
    std::fs::write(
        &path,
        "host = \"127.0.0.1\"\nport = -1\nmax_payload = 2048\nserver_name = \"tomled\"\n",
    )
    .expect("write");
    let server = TestServer::start(&["-c", path.to_str().expect("utf8")]);
    let c = Raw::connect(server.port);
    assert!(c.info.contains("\"server_name\":\"tomled\""), "{}", c.info);
    assert!(c.info.contains("\"max_payload\":2048"), "{}", c.info);
}

#[test]
fn ports_file_lists_the_client_url() {
    let dir = temp_dir("ports");
    let server = TestServer::start(&["--ports_file_dir", dir.to_str().expect("utf8")]);
    let path = dir.join(format!("gnatsd_{}.ports", server.pid()));
    let body = std::fs::read_to_string(&path).expect("ports file");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["nats"][0], format!("nats://127.0.0.1:{}", server.port));
}

/// Logs in `svc` (subscribed to `requests`) and `cli` (subscribed to `inbox.1`), and has `cli`
/// send one request with reply subject `inbox.1`, which `svc` receives.
fn one_request(port: u16) -> (Raw, Raw) {
    let mut svc = Raw::connect(port);
    svc.send(b"CONNECT {\"user\":\"svc\",\"pass\":\"p\",\"verbose\":false}\r\nSUB requests 1\r\n");
    svc.ping();
    let mut cli = Raw::connect(port);
    cli.send(b"CONNECT {\"user\":\"cli\",\"pass\":\"p\",\"verbose\":false}\r\nSUB inbox.1 9\r\nPUB requests inbox.1 1\r\n?\r\n");
    cli.ping();
    svc.expect("MSG requests 1 inbox.1 1\r\n?\r\n");
    (svc, cli)
}

#[test]
fn allow_responses_lets_a_responder_reply_once() {
    let conf = r#"
authorization {
  users = [
    { user: svc, password: p, permissions: { subscribe: "requests", publish: { deny: ">" }, allow_responses: true } }
    { user: cli, password: p }
  ]
}
"#;
    let server = TestServer::with_config(conf, &[]);
    let (mut svc, mut cli) = one_request(server.port);
    // The first reply is allowed, a second one is not, nor is any other subject.
    svc.send(b"PUB inbox.1 2\r\nok\r\nPUB inbox.1 2\r\nno\r\nPUB other 1\r\nx\r\nPING\r\n");
    svc.expect(concat!(
        "-ERR 'Permissions Violation for Publish to \"inbox.1\"'\r\n",
        "-ERR 'Permissions Violation for Publish to \"other\"'\r\n",
        "PONG\r\n"
    ));
    cli.expect("MSG inbox.1 9 2\r\nok\r\n");
}

/// `allow_responses { max: -1, expires: "-1s" }`: as in nats-server, a negative count is no
/// limit and a negative expiry none, so a responder may answer one request many times.
#[test]
fn negative_allow_responses_limits_mean_none() {
    let conf = r#"
authorization {
  users = [
    { user: svc, password: p, permissions: { subscribe: "requests", publish: { deny: ">" }, allow_responses: { max: -1, expires: "-1s" } } }
    { user: cli, password: p }
  ]
}
"#;
    for binary in common::binaries("negative_allow_responses_limits_mean_none") {
        let server = TestServer::binary_with_config(binary, conf, &[]);
        let (mut svc, mut cli) = one_request(server.port);
        svc.send(b"PUB inbox.1 1\r\na\r\nPUB inbox.1 1\r\nb\r\nPUB inbox.1 1\r\nc\r\nPUB other 1\r\nx\r\n");
        assert_eq!(
            svc.ping(),
            "-ERR 'Permissions Violation for Publish to \"other\"'\r\nPONG\r\n",
            "{binary}"
        );
        cli.expect("MSG inbox.1 9 1\r\na\r\nMSG inbox.1 9 1\r\nb\r\nMSG inbox.1 9 1\r\nc\r\n");
    }
}

#[test]
fn signal_flag_reloads_and_stops_a_running_server() {
    let mut server = TestServer::with_config("debug: false\n", &[]);
    let pid = server.pid().to_string();
    let out = gnatsd(&["--signal", &format!("reload={pid}")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(server.wait_log("Reloaded server configuration", WAIT));
    let out = gnatsd(&["-sl", &format!("quit={pid}")]);
    assert!(out.status.success());
    let deadline = std::time::Instant::now() + WAIT;
    while server.alive() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!server.alive());
    assert!(server.wait_log("Server Exiting..", WAIT));
}

#[test]
fn lame_duck_mode_stops_accepting_and_closes_clients_after_the_grace_period() {
    let mut server = TestServer::with_config(
        "lame_duck_duration: \"30s\"\nlame_duck_grace_period: \"1s\"\n",
        &[],
    );
    let mut c = Raw::connect_with(server.port, r#"{"verbose":false,"protocol":1}"#);
    c.ping();
    let _ = Command::new("kill")
        .args(["-USR2", &server.pid().to_string()])
        .status();
    let info = c.read_line(WAIT).expect("lame duck INFO");
    assert!(
        info.starts_with("INFO {") && info.ends_with(",\"ldm\":true} \r\n"),
        "{info}"
    );
    assert!(server.wait_log("Entering lame duck mode, stop accepting new clients", WAIT));
    let start = std::time::Instant::now();
    let (_, closed) = c.read_until_closed();
    assert!(closed, "client closed after the grace period");
    assert!(start.elapsed() >= Duration::from_millis(700));
    assert!(server.wait_log("Closing existing clients", WAIT));
    // No new clients: the listener is gone.
    let refused = std::net::TcpStream::connect(("127.0.0.1", server.port))
        .map(|mut s| {
            use std::io::Read;
            let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
            let mut b = [0u8; 1];
            matches!(s.read(&mut b), Ok(0) | Err(_))
        })
        .unwrap_or(true);
    assert!(refused);
    // SIGINT still ends it at once.
    assert_eq!(server.signal_and_wait("INT"), Some(0));
}

/// SIGTERM closes the client, route and monitoring sockets, then exits with status 1.
/// That the shutdown waits for its tasks rather than sleeping is asserted exactly, on a
/// paused clock, in `launch`'s unit tests.
#[test]
fn sigterm_closes_every_socket_and_exits() {
    let mut server = TestServer::with_config(
        "http: \"127.0.0.1:-1\"\ncluster { listen: \"127.0.0.1:-1\"\n name: t }\n",
        &[],
    );
    let http = server.logged_port("Starting http monitor on ");
    let mut client = Raw::connect_with(server.port, r#"{"verbose":false}"#);
    assert_eq!(client.ping(), "PONG\r\n");
    // A monitoring connection kept alive, too.
    let mut monitor = std::net::TcpStream::connect(("127.0.0.1", http)).expect("monitor");
    std::io::Write::write_all(
        &mut monitor,
        b"GET /varz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    )
    .expect("request");
    assert_eq!(server.signal_and_wait("TERM"), Some(1));
    let (_, closed) = client.read_until_closed();
    assert!(closed, "the client socket stayed open");
    let log = server.log_lines();
    let shutdown = log
        .iter()
        .position(|l| l.contains("Initiating Shutdown..."));
    let exiting = log.iter().position(|l| l.contains("Server Exiting.."));
    assert!(shutdown.is_some() && exiting > shutdown, "{log:?}");
}

#[test]
fn every_listener_queues_as_many_connects_as_the_system_allows() {
    let server = TestServer::start(&["-m", "-1", "--cluster", "nats://127.0.0.1:-1"]);
    let http = server.logged_port("Starting http monitor on ");
    let cluster = server.logged_port("Listening for route connections on ");
    let somaxconn: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .expect("somaxconn")
        .trim()
        .parse()
        .expect("number");
    for (what, port) in [
        ("client", server.port),
        ("route", cluster),
        ("monitor", http),
    ] {
        let out = Command::new("ss")
            .args(["-ltnH", &format!("sport = :{port}")])
            .output()
            .expect("run ss (iproute2)");
        let text = String::from_utf8_lossy(&out.stdout);
        // State Recv-Q Send-Q Local Peer: for a listening socket Send-Q is its backlog.
        let backlog: Option<u32> = text.split_whitespace().nth(2).and_then(|b| b.parse().ok());
        assert_eq!(backlog, Some(somaxconn), "{what} listener: {text}");
    }
}

/// Whether this machine has an IPv6 loopback to test dual-stack listeners with.
fn ipv6_loopback(test: &str) -> bool {
    let ok = std::net::TcpListener::bind("[::1]:0").is_ok();
    if !ok {
        eprintln!("SKIPPED: {test}: no IPv6 loopback (::1) on this machine");
    }
    ok
}

/// Connects to `[::1]:port` and returns the first bytes the server sends.
fn greeting_over_ipv6(port: u16) -> String {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(("::1", port))
        .unwrap_or_else(|e| panic!("connect [::1]:{port}: {e}"));
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    let mut buf = [0u8; 5];
    s.read_exact(&mut buf).expect("greeting");
    String::from_utf8_lossy(&buf).into_owned()
}

/// Listeners on the wildcard address (`0.0.0.0`, the default) take IPv6 clients too, as Go's
/// listeners do, while the log lines keep saying `0.0.0.0`: clients, routes, monitoring and
/// websocket, on ours and on nats-server. An IPv4 client is shown as `127.0.0.1`, not as an
/// IPv4-mapped IPv6 address.
#[test]
fn wildcard_listeners_take_ipv6_and_ipv4_clients() {
    if !ipv6_loopback("wildcard_listeners_take_ipv6_and_ipv4_clients") {
        return;
    }
    let conf =
        "cluster { listen: \"0.0.0.0:-1\", name: dual }\nwebsocket { port: -1, no_tls: true }\n";
    for binary in common::binaries("wildcard_listeners_take_ipv6_and_ipv4_clients") {
        let server = TestServer::binary_with_config(binary, conf, &["-a", "0.0.0.0", "-m", "-1"]);
        for prefix in [
            "Listening for client connections on 0.0.0.0:",
            "Listening for route connections on 0.0.0.0:",
            "Starting http monitor on 0.0.0.0:",
            "Listening for websocket clients on ws://0.0.0.0:",
        ] {
            assert!(server.wait_log(prefix, WAIT), "{binary}: {prefix}");
        }
        let stream = std::net::TcpStream::connect(("::1", server.port)).expect("connect [::1]");
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let mut v6 = Raw {
            stream,
            info: String::new(),
        };
        let info = v6.read_line(WAIT).expect("INFO over IPv6");
        assert!(info.contains("\"client_ip\":\"::1\""), "{binary}: {info}");
        v6.send(b"CONNECT {\"verbose\":false,\"name\":\"six\"}\r\n");
        v6.ping();
        let mut v4 = Raw::connect_with(server.port, "{\"verbose\":false,\"name\":\"four\"}");
        assert!(
            v4.info.contains("\"client_ip\":\"127.0.0.1\""),
            "{binary}: {}",
            v4.info
        );
        v4.ping();
        let http = server.logged_port("Starting http monitor on ");
        let connz = common::get_json(http, "/connz");
        let mut ips: Vec<(String, String)> = connz["connections"]
            .as_array()
            .expect("connections")
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap_or_default().into(),
                    c["ip"].as_str().unwrap_or_default().into(),
                )
            })
            .collect();
        ips.sort();
        assert_eq!(
            ips,
            [
                ("four".into(), "127.0.0.1".into()),
                ("six".into(), "::1".into())
            ],
            "{binary}"
        );
        // The route, monitoring and websocket listeners answer on ::1 as well.
        let route = server.logged_port("Listening for route connections on ");
        assert_eq!(greeting_over_ipv6(route), "INFO ", "{binary}: route port");
        let ws = server.logged_port("Listening for websocket clients on ");
        let mut s = std::net::TcpStream::connect(("::1", ws)).expect("connect ws [::1]");
        use std::io::{Read, Write};
        s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").expect("upgrade");
        s.set_read_timeout(Some(WAIT)).expect("timeout");
        let mut head = [0u8; 12];
        s.read_exact(&mut head).expect("upgrade answer");
        assert_eq!(&head, b"HTTP/1.1 101", "{binary}: websocket over IPv6");
        let mut monitor = std::net::TcpStream::connect(("::1", http)).expect("connect http [::1]");
        monitor
            .write_all(b"GET /healthz HTTP/1.0\r\n\r\n")
            .expect("GET");
        monitor.set_read_timeout(Some(WAIT)).expect("timeout");
        let mut answer = String::new();
        let _ = monitor.read_to_string(&mut answer);
        assert!(
            answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"),
            "{binary}: {answer}"
        );
    }
}

/// A port no socket can have passes `-t` and stops the start when its listener binds, with
/// nats-server's fatal line for that listener; a port in use likewise. Ours and nats-server.
#[test]
fn impossible_and_taken_ports_fail_at_listen_in_nats_server_words() {
    let taken = std::net::TcpListener::bind("0.0.0.0:0").expect("hold a port");
    let busy = taken.local_addr().expect("addr").port();
    let cases = [
        ("port: 70000\n".to_string(), "[FTL] Error listening on port: 0.0.0.0:70000, \"listen tcp: address 70000: invalid port\"".to_string()),
        ("port: -5\n".into(), "[FTL] Error listening on port: 0.0.0.0:-5, \"listen tcp: address -5: invalid port\"".into()),
        ("port: -1\ncluster { port: 70000 }\n".into(), "[FTL] Error listening on router port: 70000 - listen tcp: address 70000: invalid port".into()),
        ("port: -1\nhttp_port: 70000\n".into(), "[FTL] Can't start monitoring: can't listen to the monitor port: listen tcp: address 70000: invalid port".into()),
        ("port: -1\nwebsocket { port: 70000, no_tls: true }\n".into(), "[FTL] Unable to listen for websocket connections: listen tcp: address 70000: invalid port".into()),
        (format!("port: {busy}\n"), format!("[FTL] Error listening on port: 0.0.0.0:{busy}, \"listen tcp 0.0.0.0:{busy}: bind: address already in use\"")),
        (format!("port: -1\nhttp_port: {busy}\n"), format!("[FTL] Can't start monitoring: can't listen to the monitor port: listen tcp 0.0.0.0:{busy}: bind: address already in use")),
    ];
    for binary in common::binaries("impossible_and_taken_ports_fail_at_listen") {
        for (conf, fatal) in &cases {
            let file = common::TempFile::new("ports", "ports.conf", conf);
            let (code, out) = common::run_to_exit(binary, &["-c", &file.arg(), "-t"]);
            assert_eq!(code, Some(0), "{binary} -t {conf}: {out}");
            let (code, out) = common::run_to_exit(binary, &["-c", &file.arg()]);
            assert_eq!(code, Some(1), "{binary} {conf}: {out}");
            assert!(
                out.contains(fatal.as_str()),
                "{binary} {conf}: wanted {fatal:?} in {out}"
            );
        }
    }
    drop(taken);
}
