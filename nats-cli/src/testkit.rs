//! Helpers for the tools' integration tests (feature `testkit`): start our `gnatsd`, the real
//! `nats-server`, or a scripted fake server; run `nats-pub`/`nats-sub` and watch their output
//! lines; talk raw protocol to check what went over the wire.
//!
//! Every wait is bounded ([`WAIT`] unless told otherwise) and every process is killed on drop,
//! so a failing test fails instead of hanging or leaking servers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nkeys::KeyPair;

use crate::args::ConnectArgs;
use crate::creds::test_jwt;
use crate::tls::test_pki::Pki;

/// Default bound for every wait.
pub const WAIT: Duration = Duration::from_secs(10);
/// Bound for building a missing binary (a cold debug build of the server on a busy machine).
pub const BUILD_WAIT: Duration = Duration::from_secs(600);
/// Where the interoperability tests expect nats-server 2.9.10 (Debian's package).
pub const NATS_SERVER: &str = "/usr/sbin/nats-server";

/// Polls `done` every 10 ms until it is true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A port that was free a moment ago (bind `127.0.0.1:0`, read the port, release it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}

/// A fresh, empty directory `<temp>/<prefix>-<pid>-<n>` (the caller removes it).
pub fn temp_dir(prefix: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("{prefix}-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// Whether something accepts connections on `127.0.0.1:port`.
pub fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

/// The workspace's binaries, found next to the binary under test.
#[derive(Debug, Clone)]
pub struct Bins {
    dir: PathBuf,
}

impl Bins {
    /// `tool` is `env!("CARGO_BIN_EXE_<name>")` of the test's own crate; its directory is the
    /// target directory's profile folder (`target/debug`), where the other binaries live.
    pub fn new(tool: &str) -> Bins {
        let dir = Path::new(tool)
            .parent()
            .expect("binary path has a directory")
            .to_path_buf();
        Bins { dir }
    }

    /// The binary `bin` of workspace package `package`. Cargo only builds a test crate's own
    /// binaries, so when it is missing this runs `cargo build -p <package>` once (bounded by
    /// [`BUILD_WAIT`]) into the same target directory.
    pub fn get(&self, package: &str, bin: &str) -> PathBuf {
        static BUILD: Mutex<()> = Mutex::new(());
        let path = self.dir.join(bin);
        let _one_build_at_a_time = BUILD.lock().unwrap_or_else(|e| e.into_inner());
        if path.exists() {
            return path;
        }
        let target_dir = self.dir.parent().expect("profile dir inside target dir");
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("nats-cli lives in the workspace");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        eprintln!("testkit: {bin} not built yet; running cargo build -p {package}");
        let mut child = Command::new(cargo)
            .args(["build", "-p", package, "--bin", bin, "--target-dir"])
            .arg(target_dir)
            .arg("--manifest-path")
            .arg(workspace.join("Cargo.toml"))
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn cargo build");
        let deadline = Instant::now() + BUILD_WAIT;
        loop {
            match child.try_wait().expect("wait for cargo") {
                Some(status) => {
                    assert!(
                        status.success(),
                        "cargo build -p {package} failed: {status}"
                    );
                    break;
                }
                None if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("cargo build -p {package} took longer than {BUILD_WAIT:?}");
                }
                None => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        assert!(path.exists(), "{} missing after building", path.display());
        path
    }
}

/// Lines read from a child's pipe by a background thread.
#[derive(Clone, Default)]
struct Lines {
    lines: Arc<Mutex<Vec<String>>>,
    closed: Arc<AtomicBool>,
}

impl Lines {
    fn collect(pipe: impl Read + Send + 'static) -> Lines {
        let lines = Lines::default();
        let sink = lines.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&line);
                        let text = text.strip_suffix('\n').unwrap_or(&text);
                        sink.lines
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(text.to_string());
                    }
                }
            }
            sink.closed.store(true, Ordering::SeqCst);
        });
        lines
    }

    fn snapshot(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn wait(&self, needle: &str, timeout: Duration) -> bool {
        wait_until(timeout, || {
            self.snapshot().iter().any(|l| l.contains(needle))
        })
    }

    fn wait_closed(&self, timeout: Duration) -> bool {
        wait_until(timeout, || self.closed.load(Ordering::SeqCst))
    }
}

/// A running child process whose stdout and stderr are collected line by line.
pub struct Proc {
    child: Child,
    stdout: Lines,
    stderr: Lines,
    name: String,
}

impl Proc {
    /// Starts `program args` with stdin closed.
    pub fn spawn(program: &Path, args: &[&str]) -> Proc {
        Proc::spawn_with_stdin(program, args, None)
    }

    /// Starts `program args`, writing `stdin` (then closing it) if given.
    pub fn spawn_with_stdin(program: &Path, args: &[&str], stdin: Option<&[u8]>) -> Proc {
        let mut child = Command::new(program)
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", program.display()));
        if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
            let bytes = bytes.to_vec();
            std::thread::spawn(move || {
                let _ = pipe.write_all(&bytes);
            });
        }
        let stdout = Lines::collect(child.stdout.take().expect("stdout piped"));
        let stderr = Lines::collect(child.stderr.take().expect("stderr piped"));
        Proc {
            child,
            stdout,
            stderr,
            name: program
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        }
    }

    /// Waits until a stdout line contains `needle`.
    pub fn wait_stdout(&self, needle: &str, timeout: Duration) -> bool {
        self.stdout.wait(needle, timeout)
    }

    /// Waits until a stderr line contains `needle`.
    pub fn wait_stderr(&self, needle: &str, timeout: Duration) -> bool {
        self.stderr.wait(needle, timeout)
    }

    /// Stdout lines so far (without line ends).
    pub fn stdout(&self) -> Vec<String> {
        self.stdout.snapshot()
    }

    /// Waits (asserting it happens within [`WAIT`]) until a stdout line contains `needle`,
    /// then kills the process and returns all of its stdout: what a subscriber printed up to
    /// the message the test waits for, to compare as a whole.
    pub fn stdout_until(&mut self, needle: &str) -> Vec<String> {
        assert!(
            self.wait_stdout(needle, WAIT),
            "no {needle:?}: {}",
            self.describe()
        );
        self.kill();
        self.stdout()
    }

    /// Stderr lines so far.
    pub fn stderr(&self) -> Vec<String> {
        self.stderr.snapshot()
    }

    /// Waits for the process to exit by itself, then for its output to be read completely.
    /// `None` if it did not exit in time (it is killed then).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.stdout.wait_closed(WAIT);
                    self.stderr.wait_closed(WAIT);
                    return Some(status);
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                _ => {
                    self.kill();
                    return None;
                }
            }
        }
    }

    /// Kills the process and waits until its output is read completely.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stdout.wait_closed(WAIT);
        self.stderr.wait_closed(WAIT);
    }

    /// Everything for an assertion message.
    pub fn describe(&self) -> String {
        format!(
            "{}: stdout {:?}, stderr {:?}",
            self.name,
            self.stdout(),
            self.stderr()
        )
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A finished one-shot run.
#[derive(Debug)]
pub struct Finished {
    /// Exit status; `None` if it had to be killed after the timeout.
    pub status: Option<ExitStatus>,
    /// Stdout lines.
    pub stdout: Vec<String>,
    /// Stderr lines.
    pub stderr: Vec<String>,
}

impl Finished {
    /// The exit code, if it exited normally.
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }
}

/// Runs `program args` to completion (bounded by `timeout`), feeding `stdin` if given.
pub fn run(program: &Path, args: &[&str], stdin: Option<&[u8]>, timeout: Duration) -> Finished {
    let mut proc = Proc::spawn_with_stdin(program, args, stdin);
    let status = proc.wait_exit(timeout);
    Finished {
        status,
        stdout: proc.stdout(),
        stderr: proc.stderr(),
    }
}

/// Borrows owned arguments (built with `format!` or from [`Pki`] paths) as the `&[&str]`
/// the runners take.
pub fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// Starts `nats-sub <args>` (the binary at `nats_sub`) and waits until it says
/// `Listening on [` (on stdout, or on stderr with `--raw`): from then on its subscription is
/// in place and published messages reach it.
pub fn subscriber(nats_sub: &Path, args: &[&str]) -> Proc {
    let sub = Proc::spawn(nats_sub, args);
    assert!(
        wait_until(WAIT, || sub
            .stdout()
            .iter()
            .chain(sub.stderr().iter())
            .any(|l| l.starts_with("Listening on ["))),
        "subscriber not listening: {}",
        sub.describe()
    );
    sub
}

/// Asserts that a tool's parser fills its [`ConnectArgs`] from the TLS flags: `parse` gets
/// an argv of `--tlscert c.pem --tlskey k.pem --tlscacert ca.pem` followed by `positional`
/// (the tool's required arguments) and returns the `ConnectArgs` the tool parsed.
pub fn assert_parses_tls_flags(positional: &[&str], parse: impl FnOnce(&[&str]) -> ConnectArgs) {
    let mut argv = vec![
        "tool",
        "--tlscert",
        "c.pem",
        "--tlskey",
        "k.pem",
        "--tlscacert",
        "ca.pem",
    ];
    argv.extend_from_slice(positional);
    let connect = parse(&argv);
    assert_eq!(connect.tlscert, Some(PathBuf::from("c.pem")));
    assert_eq!(connect.tlskey, Some(PathBuf::from("k.pem")));
    assert_eq!(connect.tlscacert, Some(PathBuf::from("ca.pem")));
}

/// Asserts that `program <help_flag>` succeeds and its help mentions every one of `flags`,
/// and that `program --version` prints exactly the line `version`.
pub fn assert_help_and_version(program: &Path, help_flag: &str, flags: &[&str], version: &str) {
    let help = run(program, &[help_flag], None, WAIT);
    assert_eq!(help.code(), Some(0));
    let text = help.stdout.join("\n");
    for flag in flags {
        assert!(text.contains(flag), "{flag} in {text}");
    }
    let shown = run(program, &["--version"], None, WAIT);
    assert_eq!(shown.stdout, [version]);
}

/// A server the test started, listening on `127.0.0.1` and killed on drop: our `gnatsd`
/// ([`Server::gnatsd`]) or the real nats-server ([`Server::nats_server_or_skip`]).
pub struct Server {
    proc: Proc,
    /// The client port it listens on.
    pub port: u16,
}

impl Server {
    /// Starts `gnatsd -a 127.0.0.1 -p -1 <args>` (a random port) and waits until it logs
    /// `Server is ready`.
    pub fn gnatsd(bins: &Bins, args: &[&str]) -> Server {
        let program = bins.get("gnatsd", "gnatsd");
        let mut all = vec!["-a", "127.0.0.1", "-p", "-1"];
        all.extend_from_slice(args);
        let proc = Proc::spawn(&program, &all);
        let needle = "Listening for client connections on 127.0.0.1:";
        assert!(
            proc.wait_stderr(needle, WAIT),
            "gnatsd did not start: {}",
            proc.describe()
        );
        let port = proc
            .stderr()
            .iter()
            .find_map(|l| l.split(needle).nth(1).and_then(|p| p.trim().parse().ok()))
            .expect("port in the listening line");
        assert!(
            proc.wait_stderr("Server is ready", WAIT),
            "gnatsd not ready: {}",
            proc.describe()
        );
        Server { proc, port }
    }

    /// Starts the real nats-server as `nats-server -a 127.0.0.1 -p <free port>`, or returns
    /// `None` after printing why the test is skipped when [`NATS_SERVER`] is not installed —
    /// unless `NATS_SERVER_REQUIRED=1`, then it panics.
    pub fn nats_server_or_skip(test: &str) -> Option<Server> {
        Server::nats_server_with_or_skip(test, &[])
    }

    /// Like [`Server::nats_server_or_skip`] with extra flags (`--user`, `--pass`, …).
    pub fn nats_server_with_or_skip(test: &str, args: &[&str]) -> Option<Server> {
        if !Path::new(NATS_SERVER).exists() {
            let required = std::env::var("NATS_SERVER_REQUIRED").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "{test}: {NATS_SERVER} is missing and NATS_SERVER_REQUIRED=1"
            );
            eprintln!("SKIPPED: {test}: {NATS_SERVER} is not installed (.ci/run installs it)");
            return None;
        }
        // A free port can be taken by someone else before the server binds it: retry a few
        // times with fresh ports.
        for _ in 0..3 {
            let port = free_port();
            let port_text = port.to_string();
            let mut all = vec!["-a", "127.0.0.1", "-p", &port_text];
            all.extend_from_slice(args);
            let mut proc = Proc::spawn(Path::new(NATS_SERVER), &all);
            if wait_until(WAIT, || port_open(port)) {
                return Some(Server { proc, port });
            }
            proc.kill();
        }
        panic!("{test}: nats-server did not start");
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// `tls://127.0.0.1:<port>`, for a server with TLS enabled.
    pub fn tls_url(&self) -> String {
        format!("tls://127.0.0.1:{}", self.port)
    }

    /// Kills the server now (SIGKILL: its clients see the connection drop).
    pub fn kill(&mut self) {
        self.proc.kill();
    }

    /// The server's log lines so far.
    pub fn logs(&self) -> Vec<String> {
        self.proc.stderr()
    }
}

/// A fresh [`Pki`] and a gnatsd with TLS on, serving its server certificate; with `verify`
/// the server also requires client certificates signed by its CA (see
/// [`Pki::server_flags`]). Most TLS tests start here.
pub fn tls_gnatsd(bins: &Bins, verify: bool) -> (Pki, Server) {
    let pki = Pki::new();
    let server = Server::gnatsd(bins, &strs(&pki.server_flags(verify)));
    (pki, server)
}

/// Files for nkey and JWT logins, in a temporary directory removed on drop: user seed files,
/// creds files and the server configs that accept them.
pub struct AuthFiles {
    dir: PathBuf,
}

/// A user nkey made for a test.
pub struct NkeyUser {
    /// Its public key (`U…`), for the server's config.
    pub public: String,
    /// The file holding its seed, for `--nkey`.
    pub seed_file: String,
}

/// An operator-mode setup for nats-server: operator, system account and one account, all
/// preloaded into a memory resolver, and a user of that account.
pub struct OperatorSetup {
    /// The server config (`nats-server -c`).
    pub config: String,
    /// The user's creds file (JWT and seed), for `--creds`.
    pub creds: String,
    /// A creds file with the user's JWT but another user's seed: its signature is wrong.
    pub wrong_seed_creds: String,
}

impl AuthFiles {
    /// An empty directory for the files.
    #[allow(clippy::new_without_default)]
    pub fn new() -> AuthFiles {
        AuthFiles {
            dir: temp_dir("nats-cli-auth"),
        }
    }

    /// Writes `text` to `name` in the directory; returns the path as an argument.
    pub fn write(&self, name: &str, text: &str) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, text).expect("write auth file");
        path.to_string_lossy().into_owned()
    }

    /// A fresh user nkey whose seed is written to `<name>.nk` (with a comment line before
    /// it, as the tools tolerate).
    pub fn nkey_user(&self, name: &str) -> NkeyUser {
        let key = KeyPair::new_user();
        let seed = key.seed().expect("seed");
        NkeyUser {
            public: key.public_key(),
            seed_file: self.write(&format!("{name}.nk"), &format!("# {name}\n{seed}\n")),
        }
    }

    /// A server config (`-c`, for gnatsd and nats-server alike) whose only users are these
    /// nkeys: `authorization { users: [ {nkey: U…} ] }`.
    pub fn nkey_config(&self, users: &[&NkeyUser]) -> String {
        let entries: Vec<String> = users
            .iter()
            .map(|u| format!("    {{nkey: {}}}\n", u.public))
            .collect();
        let config = format!(
            "authorization {{\n  users: [\n{}  ]\n}}\n",
            entries.concat()
        );
        self.write("nkeys.conf", &config)
    }

    /// The JWT chain for nats-server's operator mode and a user's creds files.
    pub fn operator_setup(&self) -> OperatorSetup {
        let operator = KeyPair::new_operator();
        let op_jwt = test_jwt::encode(
            &operator,
            &operator.public_key(),
            "test-operator",
            test_jwt::OPERATOR,
        );
        let account_jwt = |key: &KeyPair, name: &str| {
            test_jwt::encode(&operator, &key.public_key(), name, test_jwt::ACCOUNT)
        };
        let system = KeyPair::new_account();
        let account = KeyPair::new_account();
        let user = KeyPair::new_user();
        let user_jwt = test_jwt::encode(&account, &user.public_key(), "test-user", test_jwt::USER);
        let config = format!(
            "operator: \"{}\"\nresolver: MEMORY\nsystem_account: {sys}\n\
             resolver_preload: {{\n  {sys}: \"{}\"\n  {acc}: \"{}\"\n}}\n",
            self.write("operator.jwt", &op_jwt),
            account_jwt(&system, "SYS"),
            account_jwt(&account, "A"),
            sys = system.public_key(),
            acc = account.public_key(),
        );
        let creds = |seed: &str| test_jwt::creds_file(&user_jwt, seed);
        OperatorSetup {
            config: self.write("operator.conf", &config),
            creds: self.write("user.creds", &creds(&user.seed().expect("seed"))),
            wrong_seed_creds: self.write(
                "wrong.creds",
                &creds(&KeyPair::new_user().seed().expect("seed")),
            ),
        }
    }
}

impl Drop for AuthFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Waits until the server on port `to` knows about the subscriptions made on port `from` so
/// far. A probe subscribes on `from` after them; interest travels in order over a route, so
/// once a probe message published on `to` arrives, the earlier subscriptions have arrived at
/// `to` too. Returns false if that does not happen within [`WAIT`].
pub fn wait_for_route_interest(from: u16, to: u16) -> bool {
    let mut probe = RawClient::connect(from, r#"{"verbose":false}"#);
    probe.subscribe("testkit.probe", "1");
    let mut publisher = RawClient::connect(to, r#"{"verbose":false}"#);
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        publisher.send(b"PUB testkit.probe 1\r\nx\r\n");
        if probe.wait_for(b"MSG testkit.probe", Duration::from_millis(100)) {
            return true;
        }
    }
    false
}

/// A raw-protocol client with bounded reads, to see exactly what went over the wire.
pub struct RawClient {
    stream: TcpStream,
    received: Vec<u8>,
}

impl RawClient {
    /// Connects, reads `INFO`, sends `CONNECT <connect_json>` and `PING`, waits for `PONG`.
    pub fn connect(port: u16, connect_json: &str) -> RawClient {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect raw client");
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("read timeout");
        let mut raw = RawClient {
            stream,
            received: Vec::new(),
        };
        assert!(raw.wait_for(b"\r\n", WAIT), "no INFO");
        assert!(raw.received.starts_with(b"INFO "), "not INFO: {raw:?}");
        raw.received.clear();
        raw.send(format!("CONNECT {connect_json}\r\n").as_bytes());
        raw.ping();
        raw
    }

    /// Writes bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("raw write");
    }

    /// `SUB <subject> <sid>`, confirmed with a PING round trip.
    pub fn subscribe(&mut self, subject: &str, sid: &str) {
        self.send(format!("SUB {subject} {sid}\r\n").as_bytes());
        self.ping();
    }

    /// Sends `PING` and waits for a `PONG`, then forgets what was received so far.
    pub fn ping(&mut self) {
        self.send(b"PING\r\n");
        assert!(self.wait_for(b"PONG\r\n", WAIT), "no PONG: {self:?}");
        self.received.clear();
    }

    /// Reads until `needle` appears in everything received (or `timeout` passes).
    pub fn wait_for(&mut self, needle: &[u8], timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        loop {
            if self.received.windows(needle.len()).any(|w| w == needle) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            match self.stream.read(&mut buf) {
                Ok(0) => return false,
                Ok(n) => self.received.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return false,
            }
        }
    }

    /// Everything received since the last [`RawClient::ping`].
    pub fn received(&self) -> &[u8] {
        &self.received
    }
}

impl std::fmt::Debug for RawClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "received {:?}", String::from_utf8_lossy(&self.received))
    }
}

/// A scripted stand-in for a clustered server: sends the given `INFO` JSON, answers every
/// `PING` with `PONG`, records what clients send, and drops everything on
/// [`FakeServer::shut_down`]. Lets the tools' cluster awareness be tested against
/// `connect_urls` without a cluster.
pub struct FakeServer {
    /// The port it listens on.
    pub port: u16,
    stop: Arc<AtomicBool>,
    received: Arc<Mutex<Vec<u8>>>,
}

impl FakeServer {
    /// Listens on a random port and serves every client with `INFO <info_json> \r\n`.
    pub fn start(info_json: &str) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake server");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let received = Arc::new(Mutex::new(Vec::new()));
        let info = format!("INFO {info_json} \r\n");
        {
            let stop = stop.clone();
            let received = received.clone();
            std::thread::spawn(move || {
                // Bounded like everything else: a forgotten fake server stops by itself.
                let deadline = Instant::now() + Duration::from_secs(120);
                while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let stop = stop.clone();
                            let received = received.clone();
                            let info = info.clone();
                            std::thread::spawn(move || serve_fake(stream, &info, &stop, &received));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            });
        }
        FakeServer {
            port,
            stop,
            received,
        }
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Everything clients sent so far.
    pub fn received(&self) -> String {
        String::from_utf8_lossy(&self.received.lock().unwrap_or_else(|e| e.into_inner()))
            .into_owned()
    }

    /// Closes the listener and every client connection.
    pub fn shut_down(&self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wait until the listener is really gone, so a reconnect cannot land here again.
        wait_until(WAIT, || !port_open(self.port));
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve_fake(mut stream: TcpStream, info: &str, stop: &AtomicBool, received: &Mutex<Vec<u8>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(20)));
    if stream.write_all(info.as_bytes()).is_err() {
        return;
    }
    let mut mine = Vec::new();
    let mut answered = 0;
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(120);
    while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                mine.extend_from_slice(&buf[..n]);
                received
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(&buf[..n]);
                let pings = mine.windows(6).filter(|w| w == b"PING\r\n").count();
                while answered < pings {
                    if stream.write_all(b"PONG\r\n").is_err() {
                        return;
                    }
                    answered += 1;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}
