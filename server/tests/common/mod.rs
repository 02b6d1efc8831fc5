//! Test helpers: start the real `gnatsd` binary on a free port, wait until it is ready, and
//! talk to it over raw TCP. Every wait is bounded.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Default bound for waiting on the server or a reply.
pub const WAIT: Duration = Duration::from_secs(10);

/// Our server binary.
pub const OURS: &str = env!("CARGO_BIN_EXE_gnatsd");
/// The reference server (Debian's nats-server 2.9.10).
pub const REFERENCE: &str = "/usr/sbin/nats-server";

/// Whether the reference nats-server is installed. When it is not: prints why `test` skips
/// its comparison and returns false, or fails if `NATS_SERVER_REQUIRED=1`.
pub fn reference_available(test: &str) -> bool {
    if std::path::Path::new(REFERENCE).exists() {
        return true;
    }
    assert!(
        std::env::var("NATS_SERVER_REQUIRED").as_deref() != Ok("1"),
        "{test}: {REFERENCE} is missing and NATS_SERVER_REQUIRED=1"
    );
    eprintln!("SKIPPED: the nats-server comparison in {test}: {REFERENCE} not found (apt-get install nats-server)");
    false
}

/// The binaries a comparison test runs the same case against: ours, and the reference when
/// it is installed.
pub fn binaries(test: &str) -> Vec<&'static str> {
    let mut all = vec![OURS];
    if reference_available(test) {
        all.push(REFERENCE);
    }
    all
}

/// Asserts that `binary` refuses to start with the configuration `conf`: exit status 1 and
/// `text` in what it printed (the same text from ours and from nats-server).
pub fn assert_config_refused(binary: &str, conf: &str, text: &str) {
    let file = TempFile::new("refused", "bad.conf", conf);
    let (code, out) = run_to_exit(binary, &["-c", &file.arg(), "-p", "-1"]);
    assert_eq!(code, Some(1), "{binary} {conf}: {out}");
    assert!(
        out.contains(text),
        "{binary} {conf}: wanted {text:?} in {out}"
    );
}

/// Asserts that an async-nats client with `good` options gets through a flush on `url`,
/// and one with `bad` options is refused as an authorization violation.
pub async fn assert_login(
    url: &str,
    good: async_nats::ConnectOptions,
    bad: async_nats::ConnectOptions,
) {
    let client = good.connect(url).await.expect("good credentials connect");
    client.flush().await.expect("flush");
    let err = bad.connect(url).await.expect_err("bad credentials refused");
    assert_eq!(
        err.kind(),
        async_nats::ConnectErrorKind::AuthorizationViolation
    );
}

/// Runs a server binary to completion with `args` (bounded by `WAIT`); returns its exit code
/// and standard error.
pub fn run_to_exit(binary: &str, args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(binary)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn server");
    // Read standard error as it comes, so a chatty server never blocks on a full pipe.
    let mut pipe = child.stderr.take().expect("stderr piped");
    let reader = std::thread::spawn(move || {
        let mut stderr = String::new();
        let _ = pipe.read_to_string(&mut stderr);
        stderr
    });
    let deadline = Instant::now() + WAIT;
    let code = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status.code();
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = reader.join().unwrap_or_default();
            panic!("{binary} {args:?} did not exit within {WAIT:?}: {stderr}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stderr = reader.join().unwrap_or_default();
    (code, stderr)
}

/// A port that was free a moment ago, never handed out twice by this process. Taken from
/// 20000..32000 (below Linux's ephemeral range), so outgoing connections, which get
/// ephemeral ports, cannot grab it while a server is down for a restart.
pub fn free_port() -> u16 {
    const LOW: u16 = 20_000;
    const HIGH: u16 = 32_000;
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let _ = NEXT.compare_exchange(
        0,
        LOW + (std::process::id() % 400) as u16 * 30,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..(HIGH - LOW) {
        let mut port = NEXT.fetch_add(1, Ordering::SeqCst);
        if port >= HIGH {
            port = LOW + port % (HIGH - LOW);
            NEXT.store(port + 1, Ordering::SeqCst);
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {LOW}..{HIGH}");
}

/// `n` free ports.
pub fn free_ports<const N: usize>() -> [u16; N] {
    std::array::from_fn(|_| free_port())
}

/// A number unique in this process (for subjects, ids).
pub fn unique() -> usize {
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Polls `check` every 20 ms until it returns true; false after `timeout`.
pub fn poll_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One read from a stream that has a read timeout: `Ok(n)` bytes (0 when the timeout passed
/// with nothing to read), `Err(why)` once the peer closed the connection or the read failed.
/// Every bounded read loop of the kit goes through it, so they all treat a timeout alike.
pub fn read_chunk(stream: &mut impl Read, buf: &mut [u8]) -> Result<usize, String> {
    match stream.read(buf) {
        Ok(0) => Err("connection closed".to_string()),
        Ok(n) => Ok(n),
        Err(e)
            if e.kind() == std::io::ErrorKind::WouldBlock
                || e.kind() == std::io::ErrorKind::TimedOut =>
        {
            Ok(0)
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Connects to `127.0.0.1:<port>` with `read_timeout` on reads, so every read is bounded.
pub fn dial(port: u16, read_timeout: Duration) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port))
        .unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"));
    stream
        .set_read_timeout(Some(read_timeout))
        .expect("read timeout");
    stream
}

/// A file named `name` holding `text` in a fresh temporary directory; the directory is removed
/// on drop. For configuration files a test hands to a server by path.
pub struct TempFile {
    dir: PathBuf,
    /// The file.
    pub path: PathBuf,
}

impl TempFile {
    /// Writes `text` to `<fresh dir>/<name>`.
    pub fn new(tag: &str, name: &str, text: &str) -> TempFile {
        let dir = temp_dir(tag);
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write temporary file");
        TempFile { dir, path }
    }

    /// The path as a command-line argument.
    pub fn arg(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A `gnatsd` process; killed on drop.
pub struct TestServer {
    child: Child,
    /// Client port.
    pub port: u16,
    /// Every log line the server printed so far.
    pub logs: Arc<Mutex<Vec<String>>>,
    /// Temporary directory holding generated files.
    pub dir: PathBuf,
}

/// A fresh temporary directory.
pub fn temp_dir(tag: &str) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("gnatsd-test-{}-{tag}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

impl TestServer {
    /// Starts `gnatsd -a 127.0.0.1 -p -1 <args>` and waits for it to be ready.
    pub fn start(args: &[&str]) -> TestServer {
        Self::start_in(temp_dir("srv"), args)
    }

    /// Like [`TestServer::start`], but runs `binary` (ours, or [`REFERENCE`]).
    pub fn binary_start(binary: &str, args: &[&str]) -> TestServer {
        Self::launch(binary, temp_dir("srv"), args, true, &[])
    }

    /// Writes `conf` to a file and starts the server with `-c <file>` plus `args`.
    pub fn with_config(conf: &str, args: &[&str]) -> TestServer {
        Self::config_in(conf, args, true)
    }

    /// Like [`TestServer::with_config`], without the default `-a 127.0.0.1 -p -1` flags, for
    /// configurations that set their own listen address.
    pub fn with_config_as_is(conf: &str, args: &[&str]) -> TestServer {
        Self::config_in(conf, args, false)
    }

    /// Like [`TestServer::with_config`], with extra environment variables.
    pub fn with_config_env(conf: &str, args: &[&str], env: &[(&str, &str)]) -> TestServer {
        Self::config_with(OURS, conf, args, true, env)
    }

    /// Like [`TestServer::with_config`], but runs `binary` (ours, or [`REFERENCE`], the real
    /// nats-server: both print the log lines the launcher waits for).
    pub fn binary_with_config(binary: &str, conf: &str, args: &[&str]) -> TestServer {
        Self::config_with(binary, conf, args, true, &[])
    }

    fn config_in(conf: &str, args: &[&str], defaults: bool) -> TestServer {
        Self::config_with(OURS, conf, args, defaults, &[])
    }

    fn config_with(
        binary: &str,
        conf: &str,
        args: &[&str],
        defaults: bool,
        env: &[(&str, &str)],
    ) -> TestServer {
        let dir = temp_dir("conf");
        let path = dir.join("server.conf");
        std::fs::write(&path, conf).expect("write config");
        let path = path.to_string_lossy().into_owned();
        let mut all = vec!["-c", &path];
        all.extend_from_slice(args);
        Self::launch(binary, dir, &all, defaults, env)
    }

    fn start_in(dir: PathBuf, args: &[&str]) -> TestServer {
        Self::launch(OURS, dir, args, true, &[])
    }

    fn launch(
        binary: &str,
        dir: PathBuf,
        args: &[&str],
        defaults: bool,
        env: &[(&str, &str)],
    ) -> TestServer {
        let mut cmd = Command::new(binary);
        if defaults {
            cmd.args(["-a", "127.0.0.1", "-p", "-1"]);
        }
        cmd.args(args);
        cmd.envs(env.iter().copied());
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn gnatsd");
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let logs = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Some(rest) = line.split("Listening for client connections on ").nth(1) {
                        if let Some(port) = rest
                            .rsplit(':')
                            .next()
                            .and_then(|p| p.trim().parse::<u16>().ok())
                        {
                            let _ = tx.send(port);
                        }
                    }
                    logs.lock().expect("logs").push(line);
                }
            });
        }
        let port = match rx.recv_timeout(WAIT) {
            Ok(port) => port,
            Err(_) => {
                let _ = child.kill();
                panic!("server did not start: {:?}", logs.lock().expect("logs"));
            }
        };
        let server = TestServer {
            child,
            port,
            logs,
            dir,
        };
        assert!(server.wait_log("Server is ready", WAIT), "not ready");
        server
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until a log line contains `needle`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self
                .logs
                .lock()
                .expect("logs")
                .iter()
                .any(|l| l.contains(needle))
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// The port in the log line `<prefix><host>:<port>` (waits for the line, bounded), e.g.
    /// `Listening for route connections on ` or `Starting http monitor on `.
    pub fn logged_port(&self, prefix: &str) -> u16 {
        assert!(
            self.wait_log(prefix, WAIT),
            "no {prefix:?} line: {:?}",
            self.log_lines()
        );
        self.log_lines()
            .iter()
            .find_map(|l| {
                l.split(prefix)
                    .nth(1)
                    .and_then(|rest| rest.trim().rsplit(':').next())
                    .and_then(|p| p.parse().ok())
            })
            .unwrap_or_else(|| panic!("no port after {prefix:?} in {:?}", self.log_lines()))
    }

    /// A copy of the log lines so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.logs.lock().expect("logs").clone()
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Replaces the server's configuration file (started with a `with_config*` launcher)
    /// with `conf` and sends SIGHUP, so the server reloads it.
    pub fn reload_with(&self, conf: &str) {
        std::fs::write(self.dir.join("server.conf"), conf).expect("rewrite config");
        let status = Command::new("kill")
            .args(["-HUP", &self.pid().to_string()])
            .status()
            .expect("kill -HUP");
        assert!(status.success(), "kill -HUP failed");
    }

    /// Sends `signal` and polls (bounded) for the exit: the exit code, `None` when the
    /// process is still running at the bound or died of a signal.
    pub fn signal_and_wait(&mut self, signal: &str) -> Option<i32> {
        let _ = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status();
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    }

    /// Resident set size in KiB, from /proc.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A raw protocol connection with bounded reads.
pub struct Raw {
    pub stream: TcpStream,
    /// The INFO line the server sent on connect.
    pub info: String,
}

impl Raw {
    /// Connects without reading anything (`info` stays empty), each read bounded by
    /// `read_timeout`: for ports that do not greet with a client INFO, such as a route port.
    pub fn dial(port: u16, read_timeout: Duration) -> Raw {
        Raw {
            stream: dial(port, read_timeout),
            info: String::new(),
        }
    }

    /// Connects and reads the INFO line.
    pub fn connect(port: u16) -> Raw {
        let mut raw = Raw::dial(port, Duration::from_millis(200));
        let line = raw.read_line(WAIT).expect("INFO line");
        assert!(
            line.starts_with("INFO {") && line.ends_with("} \r\n"),
            "{line:?}"
        );
        raw.info = line;
        raw
    }

    /// Connects, reads INFO and sends `CONNECT {json}` (no PING).
    pub fn connect_with(port: u16, connect_json: &str) -> Raw {
        let mut raw = Raw::connect(port);
        raw.send(format!("CONNECT {connect_json}\r\n").as_bytes());
        raw
    }

    /// Connects with `CONNECT {json}`, sends `ops` (subscriptions, say) and waits for the PONG
    /// of a following PING, so the server has processed them before the test goes on.
    pub fn synced(port: u16, connect_json: &str, ops: &[u8]) -> Raw {
        let mut raw = Raw::connect_with(port, connect_json);
        raw.send(ops);
        raw.ping();
        raw
    }

    /// Writes bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Reads one line (up to and including `\n`).
    pub fn read_line(&mut self, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while Instant::now() < deadline {
            match read_chunk(&mut self.stream, &mut byte) {
                Ok(0) => {}
                Ok(_) => {
                    line.push(byte[0]);
                    if byte[0] == b'\n' {
                        return Some(String::from_utf8_lossy(&line).into_owned());
                    }
                }
                Err(_) => return None,
            }
        }
        None
    }

    /// Reads until `expected.len()` bytes arrived (or the timeout), and returns them.
    pub fn read_exact_for(&mut self, len: usize, timeout: Duration) -> Vec<u8> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while out.len() < len && Instant::now() < deadline {
            let want = (len - out.len()).min(buf.len());
            match read_chunk(&mut self.stream, &mut buf[..want]) {
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
        out
    }

    /// Asserts that exactly `expected` arrives next.
    pub fn expect(&mut self, expected: &str) {
        let got = self.read_exact_for(expected.len(), WAIT);
        assert_eq!(String::from_utf8_lossy(&got), expected);
    }

    /// Everything that arrives within `window` (stops early when the server closes).
    pub fn read_for(&mut self, window: Duration) -> (Vec<u8>, bool) {
        let deadline = Instant::now() + window;
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            match read_chunk(&mut self.stream, &mut buf) {
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(_) => return (out, true),
            }
        }
        (out, false)
    }

    /// Reads until the server closes the connection (bounded); returns what arrived.
    pub fn read_until_closed(&mut self) -> (String, bool) {
        let (bytes, closed) = self.read_for(WAIT);
        (String::from_utf8_lossy(&bytes).into_owned(), closed)
    }

    /// Asserts that exactly `expected` arrives and then the server closes the connection
    /// (bounded by `WAIT`).
    pub fn expect_closed_with(&mut self, expected: &str) {
        let (got, closed) = self.read_until_closed();
        assert_eq!(got, expected, "before the close");
        assert!(
            closed,
            "the server should close the connection after {got:?}"
        );
    }

    /// Sends PING and reads everything up to and including the PONG.
    pub fn ping(&mut self) -> String {
        self.send(b"PING\r\n");
        let mut all = String::new();
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            match self.read_line(WAIT) {
                Some(line) => {
                    all.push_str(&line);
                    if line == "PONG\r\n" {
                        return all;
                    }
                }
                None => break,
            }
        }
        panic!("no PONG; got {all:?}");
    }
}

/// An HTTP answer.
pub struct HttpReply {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

/// `GET path` with HTTP/1.0 (the server closes after answering); bounded by `WAIT`.
pub fn http_get(port: u16, path: &str) -> HttpReply {
    let mut stream = dial(port, Duration::from_millis(200));
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .expect("send request");
    let deadline = Instant::now() + WAIT;
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    while Instant::now() < deadline {
        match read_chunk(&mut stream, &mut buf) {
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP header end in {text:?}"));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {head:?}"));
    let content_type = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    HttpReply {
        status,
        content_type,
        body: body.to_string(),
    }
}

/// `GET path`, asserting 200 and a JSON body.
pub fn get_json(port: u16, path: &str) -> serde_json::Value {
    let reply = http_get(port, path);
    assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    assert_eq!(reply.content_type, "application/json", "{path}");
    serde_json::from_str(&reply.body).unwrap_or_else(|e| panic!("{path}: {e}: {}", reply.body))
}
