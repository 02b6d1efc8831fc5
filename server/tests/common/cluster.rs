//! Cluster test harness: start our `gnatsd` or the reference nats-server 2.9.10 with route
//! options on fixed free ports, observe routes from outside (a client INFO's `connect_urls`,
//! log lines, route sockets in /proc), exchange messages with bounded raw-protocol clients,
//! and impersonate a route peer. Every wait polls with a deadline.
//!
//! Declared from a test file as `#[path = "common/cluster.rs"] mod cluster_util;`, next to
//! `mod common;`.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{dial, read_chunk, temp_dir, Raw, WAIT};
pub use crate::common::{free_port, free_ports, poll_until, unique};

/// The reference server (Debian package `nats-server`).
pub const REAL_NATS_SERVER: &str = "/usr/sbin/nats-server";
/// How long routes may take to form (explicit routes are re-dialled every second).
pub const ROUTE_WAIT: Duration = Duration::from_secs(20);
/// How long to keep reading after the expected messages, to catch extra copies.
pub const QUIET: Duration = Duration::from_millis(300);
/// Subjects starting with this are synchronisation probes; readers drop them.
pub const SYNC_PREFIX: &str = "_SYNC.";

// ----------------------------------------------------------------------------------------
// Which server, and when the reference server is missing

/// Which binary a node runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerKind {
    /// Our `gnatsd`.
    Ours,
    /// `/usr/sbin/nats-server` 2.9.10.
    Real,
}

impl ServerKind {
    pub fn binary(self) -> &'static str {
        match self {
            ServerKind::Ours => env!("CARGO_BIN_EXE_gnatsd"),
            ServerKind::Real => REAL_NATS_SERVER,
        }
    }
}

/// Whether the reference nats-server is installed. When it is not: prints why `test` is
/// skipped and returns false, or fails if `NATS_SERVER_REQUIRED=1`.
pub fn real_server_available(test: &str) -> bool {
    if Path::new(REAL_NATS_SERVER).exists() {
        return true;
    }
    if std::env::var("NATS_SERVER_REQUIRED").as_deref() == Ok("1") {
        panic!("{test}: {REAL_NATS_SERVER} is missing and NATS_SERVER_REQUIRED=1");
    }
    eprintln!(
        "SKIPPED: {test}: {REAL_NATS_SERVER} not found (apt-get install nats-server); \
         set NATS_SERVER_REQUIRED=1 to make this a failure"
    );
    false
}

/// The server the cluster tests exercise: ours, unless `CLUSTER_TESTS_SERVER=nats-server`
/// asks for the reference server (to tell a harness fault from a server fault).
pub fn kind_under_test() -> ServerKind {
    match std::env::var("CLUSTER_TESTS_SERVER").as_deref() {
        Ok("nats-server") | Ok("real") => {
            assert!(
                Path::new(REAL_NATS_SERVER).exists(),
                "CLUSTER_TESTS_SERVER=nats-server but {REAL_NATS_SERVER} is missing"
            );
            ServerKind::Real
        }
        _ => ServerKind::Ours,
    }
}

// ----------------------------------------------------------------------------------------
// Ports and small utilities

/// Runs a future to completion on a fresh single-threaded runtime.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(future)
}

// ----------------------------------------------------------------------------------------
// Configuration text

/// A config file in the style of the clustering docs' Docker examples: `port`, and a
/// `cluster {}` block with `host`, `port`, a name and `routes`.
pub fn docker_style_conf(
    label: &str,
    client: u16,
    cluster: u16,
    name: &str,
    routes: &[u16],
) -> String {
    let mut conf = format!(
        "# Cluster Server {label}\n\nport: {client}\n\ncluster {{\n  name: {name}\n  host: '127.0.0.1'\n  port: {cluster}\n"
    );
    if !routes.is_empty() {
        conf.push_str(&format!(
            "\n  routes = [\n    {}\n  ]\n",
            route_urls(routes, "nats-route", "\n    ")
        ));
    }
    conf.push_str("}\n");
    conf
}

/// A config file with `listen` forms: `cluster { name: X, listen: 127.0.0.1:<p>, routes = [...] }`.
pub fn listen_style_conf(client: u16, cluster: u16, name: &str, routes: &[u16]) -> String {
    format!(
        "listen: 127.0.0.1:{client}\ncluster {{\n  name: {name}\n  listen: 127.0.0.1:{cluster}\n  routes = [\n    {}\n  ]\n}}\n",
        route_urls(routes, "nats-route", "\n    ")
    )
}

/// `<scheme>://127.0.0.1:<port>` for each of `ports`, joined by `separator`: the route lists
/// of flags and config files.
pub fn route_urls(ports: &[u16], scheme: &str, separator: &str) -> String {
    let urls: Vec<String> = ports
        .iter()
        .map(|p| format!("{scheme}://127.0.0.1:{p}"))
        .collect();
    urls.join(separator)
}

// ----------------------------------------------------------------------------------------
// Server processes

/// One server of a test cluster; killed on drop. Prints its log tail when a test fails.
pub struct ClusterNode {
    pub kind: ServerKind,
    pub client_port: u16,
    pub cluster_port: u16,
    /// Short name for failure output.
    pub label: String,
    args: Vec<String>,
    dir: PathBuf,
    child: Option<Child>,
    logs: Arc<Mutex<Vec<String>>>,
}

impl ClusterNode {
    /// Starts `-a 127.0.0.1 -p <client> -cluster nats://127.0.0.1:<cluster> [-routes ...]
    /// [--cluster_name <name>] -D <extra>` without waiting (see [`ClusterNode::ready`]), so
    /// that several servers can start together.
    pub fn launch(
        kind: ServerKind,
        client_port: u16,
        cluster_port: u16,
        routes: &[u16],
        name: Option<&str>,
        extra: &[&str],
    ) -> ClusterNode {
        let mut args: Vec<String> = vec![
            "-a".into(),
            "127.0.0.1".into(),
            "-p".into(),
            client_port.to_string(),
            "-cluster".into(),
            format!("nats://127.0.0.1:{cluster_port}"),
        ];
        if !routes.is_empty() {
            args.push("-routes".into());
            args.push(route_urls(routes, "nats", ","));
        }
        if let Some(name) = name {
            args.push("--cluster_name".into());
            args.push(name.into());
        }
        args.push("-D".into());
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::spawn_new(kind, client_port, cluster_port, temp_dir("cluster"), args)
    }

    /// Writes `conf` and starts `-c <file> -a 127.0.0.1 -p <client> -D <extra>` without
    /// waiting (the file must set the cluster listen port `cluster_port`).
    pub fn launch_with_config(
        kind: ServerKind,
        client_port: u16,
        cluster_port: u16,
        conf: &str,
        extra: &[&str],
    ) -> ClusterNode {
        let dir = temp_dir("cluster-conf");
        let path = dir.join("server.conf");
        std::fs::write(&path, conf).expect("write config file");
        let mut args: Vec<String> = vec![
            "-c".into(),
            path.to_string_lossy().into_owned(),
            "-a".into(),
            "127.0.0.1".into(),
            "-p".into(),
            client_port.to_string(),
            "-D".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::spawn_new(kind, client_port, cluster_port, dir, args)
    }

    fn spawn_new(
        kind: ServerKind,
        client_port: u16,
        cluster_port: u16,
        dir: PathBuf,
        args: Vec<String>,
    ) -> ClusterNode {
        let mut node = ClusterNode {
            kind,
            client_port,
            cluster_port,
            label: format!("{kind:?} client {client_port} cluster {cluster_port}"),
            args,
            dir,
            child: None,
            logs: Arc::new(Mutex::new(Vec::new())),
        };
        node.spawn();
        node
    }

    fn spawn(&mut self) {
        let mut child = Command::new(self.kind.binary())
            .args(&self.args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", self.kind.binary()));
        let stderr = child.stderr.take().expect("piped stderr");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().expect("log lock").push(line);
            }
        });
        self.logs = logs;
        self.child = Some(child);
    }

    /// [`ClusterNode::wait_ready`], then the node: `ClusterNode::launch(..).ready()` starts a
    /// node and waits until it listens for clients and routes.
    pub fn ready(mut self) -> ClusterNode {
        self.wait_ready();
        self
    }

    /// Waits (bounded) until the server is ready and listens for routes.
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + WAIT;
        let listening = format!(
            "Listening for client connections on 127.0.0.1:{}",
            self.client_port
        );
        loop {
            let ready = {
                let logs = self.logs.lock().expect("log lock");
                logs.iter().any(|l| l.contains(&listening))
                    && logs.iter().any(|l| l.contains("Server is ready"))
                    && logs
                        .iter()
                        .any(|l| l.contains("Listening for route connections on"))
            };
            if ready {
                return;
            }
            if !self.alive() {
                panic!(
                    "{} exited during start-up:\n{}",
                    self.label,
                    self.log_lines().join("\n")
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "{} not listening for clients and routes within {WAIT:?}:\n{}",
                    self.label,
                    self.log_lines().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `nats://127.0.0.1:<client port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.client_port)
    }

    /// The process id (panics when stopped).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    /// Whether the process is running.
    pub fn alive(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the process if running, then starts it again with the same ports and arguments
    /// (fresh log), and waits until it is ready.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
        self.wait_ready();
    }

    /// The log lines of the current process so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.logs.lock().expect("log lock").clone()
    }

    /// How many log lines of the current process contain `needle`.
    pub fn count_log(&self, needle: &str) -> usize {
        self.logs
            .lock()
            .expect("log lock")
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Waits (bounded) until a log line contains `needle`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        poll_until(timeout, || self.count_log(needle) > 0)
    }

    /// The server's id, from its client INFO.
    pub fn server_id(&self) -> String {
        info_json(self.client_port)["server_id"]
            .as_str()
            .expect("server_id in INFO")
            .to_string()
    }

    /// Routed peers as seen in the client INFO.
    pub fn routes(&self) -> usize {
        route_count(self.client_port)
    }

    /// Waits until the server reports exactly `n` routed peers.
    pub fn wait_routes(&self, n: usize) {
        wait_routes(self.client_port, n);
    }

    /// Established route sockets of this process (see [`route_sockets`]).
    pub fn route_sockets(&self, cluster_ports: &[u16]) -> usize {
        route_sockets(self.pid(), self.cluster_port, cluster_ports)
    }
}

impl Drop for ClusterNode {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let lines = self.log_lines();
            let tail = &lines[lines.len().saturating_sub(80)..];
            eprintln!(
                "----- last {} log lines of {} -----\n{}",
                tail.len(),
                self.label,
                tail.join("\n")
            );
        }
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ----------------------------------------------------------------------------------------
// Observing routes

/// The client INFO JSON of the server on `port`.
pub fn info_json(port: u16) -> serde_json::Value {
    let raw = Raw::connect(port);
    let json = raw
        .info
        .trim_end()
        .strip_prefix("INFO ")
        .expect("INFO prefix");
    serde_json::from_str(json).expect("INFO JSON")
}

/// `connect_urls` of the server's client INFO (empty when absent).
pub fn connect_urls(port: u16) -> Vec<String> {
    info_json(port)["connect_urls"]
        .as_array()
        .map(|urls| {
            urls.iter()
                .map(|u| u.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Routed peers of the server on `port`: `connect_urls` lists the server's own client URL
/// first, then one per connected peer (every server here listens on one 127.0.0.1 URL).
pub fn route_count(port: u16) -> usize {
    connect_urls(port).len().saturating_sub(1)
}

/// Waits (up to [`ROUTE_WAIT`]) until the server on `port` reports exactly `n` routed peers.
pub fn wait_routes(port: u16, n: usize) {
    let mut last = Vec::new();
    let ok = poll_until(ROUTE_WAIT, || {
        last = connect_urls(port);
        last.len().saturating_sub(1) == n
    });
    assert!(
        ok,
        "server on port {port}: expected {n} routes within {ROUTE_WAIT:?}, connect_urls is {last:?}"
    );
}

/// Asserts the server on `port` reports `n` routed peers throughout `window`.
pub fn assert_routes_stay(port: u16, n: usize, window: Duration) {
    let deadline = Instant::now() + window;
    loop {
        let urls = connect_urls(port);
        assert_eq!(
            urls.len().saturating_sub(1),
            n,
            "server on port {port} should keep {n} routes; connect_urls is {urls:?}"
        );
        if Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Waits (up to [`ROUTE_WAIT`]) until the nodes form a full mesh that holds for 1.5 s —
/// longer than the 1 s between dials of an explicit route, so duplicate connections from
/// delayed retries have come and gone: every node reports `nodes.len() - 1` routed peers and
/// holds exactly one route socket per peer.
pub fn wait_mesh_settled(nodes: &[ClusterNode], cluster_ports: &[u16]) {
    const STABLE: Duration = Duration::from_millis(1500);
    let peers = nodes.len() - 1;
    let deadline = Instant::now() + ROUTE_WAIT;
    let mut since: Option<Instant> = None;
    loop {
        let state: Vec<(usize, usize)> = nodes
            .iter()
            .map(|n| (route_count(n.client_port), n.route_sockets(cluster_ports)))
            .collect();
        if state.iter().all(|&s| s == (peers, peers)) {
            let start = *since.get_or_insert_with(Instant::now);
            if start.elapsed() >= STABLE {
                return;
            }
        } else {
            since = None;
        }
        assert!(
            Instant::now() < deadline,
            "no stable full mesh within {ROUTE_WAIT:?}: (routes, route sockets) per node \
             {state:?}, want ({peers}, {peers}) each"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Asserts that throughout `window` every node reports `nodes.len() - 1` routed peers and
/// holds exactly that many route sockets (no duplicate comes back, nothing flaps).
pub fn assert_mesh_stays(nodes: &[ClusterNode], cluster_ports: &[u16], window: Duration) {
    let peers = nodes.len() - 1;
    let deadline = Instant::now() + window;
    loop {
        for node in nodes {
            let urls = connect_urls(node.client_port);
            assert_eq!(
                urls.len().saturating_sub(1),
                peers,
                "{} should keep {peers} routes; connect_urls is {urls:?}",
                node.label
            );
            assert_eq!(
                node.route_sockets(cluster_ports),
                peers,
                "{} should keep exactly one route socket per peer",
                node.label
            );
        }
        if Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Established TCP connections of process `pid` that are route connections: accepted on its
/// own cluster port, or dialled to one of `cluster_ports`. Read from /proc, so it counts
/// duplicate routes that `connect_urls` (a set of URLs) cannot show.
pub fn route_sockets(pid: u32, own_cluster_port: u16, cluster_ports: &[u16]) -> usize {
    let established = established_tcp();
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|target| {
            let t = target.to_string_lossy().into_owned();
            t.strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse::<u64>()
                .ok()
        })
        .filter_map(|inode| established.get(&inode))
        .filter(|(local, remote)| *local == own_cluster_port || cluster_ports.contains(remote))
        .count()
}

/// inode → (local port, remote port) of every ESTABLISHED TCP socket.
fn established_tcp() -> HashMap<u64, (u16, u16)> {
    let mut out = HashMap::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 || f[3] != "01" {
                continue;
            }
            let port = |addr: &str| {
                addr.rsplit(':')
                    .next()
                    .and_then(|p| u16::from_str_radix(p, 16).ok())
            };
            if let (Some(local), Some(remote), Ok(inode)) =
                (port(f[1]), port(f[2]), f[9].parse::<u64>())
            {
                out.insert(inode, (local, remote));
            }
        }
    }
    out
}

// ----------------------------------------------------------------------------------------
// Raw clients that parse MSG frames

/// A delivered message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Msg {
    pub subject: String,
    pub sid: String,
    pub reply: Option<String>,
    pub payload: String,
}

/// A raw-protocol client (`verbose:false`) that parses MSG frames, answers PING, and sets
/// aside synchronisation probes (subjects starting with [`SYNC_PREFIX`]).
pub struct Client {
    wire: Wire,
    pub port: u16,
    pending: VecDeque<Msg>,
    probes: Vec<(String, String)>,
    next_sid: u64,
}

impl Client {
    /// Connects, sends CONNECT and syncs with PING/PONG.
    pub fn connect(port: u16) -> Client {
        let raw = Raw::connect_with(port, r#"{"verbose":false,"pedantic":false}"#);
        raw.stream
            .set_read_timeout(Some(Duration::from_millis(20)))
            .expect("read timeout");
        let mut client = Client {
            wire: Wire::new(raw.stream, format!("client connection to port {port}")),
            port,
            pending: VecDeque::new(),
            probes: Vec::new(),
            next_sid: 1,
        };
        client.flush();
        client
    }

    /// `SUB subject sid`; returns the sid.
    pub fn sub(&mut self, subject: &str) -> u64 {
        let sid = self.next_sid;
        self.next_sid += 1;
        self.wire
            .send(format!("SUB {subject} {sid}\r\n").as_bytes());
        sid
    }

    /// `SUB subject queue sid`; returns the sid.
    pub fn qsub(&mut self, subject: &str, queue: &str) -> u64 {
        let sid = self.next_sid;
        self.next_sid += 1;
        self.wire
            .send(format!("SUB {subject} {queue} {sid}\r\n").as_bytes());
        sid
    }

    /// `UNSUB sid`.
    pub fn unsub(&mut self, sid: u64) {
        self.wire.send(format!("UNSUB {sid}\r\n").as_bytes());
    }

    /// `PUB subject <len>\r\npayload\r\n` (no flush).
    pub fn publish(&mut self, subject: &str, payload: &str) {
        self.wire
            .send(format!("PUB {subject} {}\r\n{payload}\r\n", payload.len()).as_bytes());
    }

    /// Sends PING and waits (bounded) for the PONG; messages meanwhile are kept.
    pub fn flush(&mut self) {
        let port = self.port;
        assert!(self.ping_pong(), "no PONG from port {port} within {WAIT:?}");
    }
}

impl Framed for Client {
    fn wire(&mut self) -> &mut Wire {
        &mut self.wire
    }

    fn parse_frame(&mut self, eol: usize, line: String) -> bool {
        let mut words = line.split_whitespace();
        let verb = words.next().unwrap_or_default().to_ascii_uppercase();
        match verb.as_str() {
            "MSG" => {
                let args: Vec<&str> = words.collect();
                assert!(args.len() == 3 || args.len() == 4, "bad MSG line {line:?}");
                let size: usize = args[args.len() - 1].parse().expect("MSG size");
                let end = eol + 2 + size + 2;
                if self.wire.buf.len() < end {
                    return false;
                }
                let payload =
                    String::from_utf8_lossy(&self.wire.buf[eol + 2..eol + 2 + size]).into_owned();
                let msg = Msg {
                    subject: args[0].to_string(),
                    sid: args[1].to_string(),
                    reply: (args.len() == 4).then(|| args[2].to_string()),
                    payload,
                };
                self.wire.buf.drain(..end);
                if msg.subject.starts_with(SYNC_PREFIX) {
                    self.probes.push((msg.subject, msg.payload));
                } else {
                    self.pending.push_back(msg);
                }
                return true;
            }
            "PING" => self.wire.send(b"PONG\r\n"),
            "PONG" => self.wire.pongs += 1,
            "INFO" | "+OK" => {}
            _ => panic!("unexpected from port {}: {line:?}", self.port),
        }
        self.wire.buf.drain(..eol + 2);
        true
    }
}

impl Client {
    /// The next message (not a probe), waiting up to `timeout`.
    pub fn next_msg(&mut self, timeout: Duration) -> Option<Msg> {
        pump_until(self, timeout, |c| c.pending.pop_front())
    }

    /// Every message (not a probe) arriving within `window`.
    pub fn drain(&mut self, window: Duration) -> Vec<Msg> {
        let deadline = Instant::now() + window;
        while Instant::now() < deadline {
            self.pump();
        }
        self.pending.drain(..).collect()
    }

    /// Messages already received plus whatever one short read brings.
    pub fn take_available(&mut self) -> Vec<Msg> {
        self.pump();
        self.pending.drain(..).collect()
    }

    /// Waits up to `timeout` for the probe `(subject, payload)`; forgets that probe's copies.
    fn wait_probe(&mut self, subject: &str, payload: &str, timeout: Duration) -> bool {
        let seen = pump_until(self, timeout, |c| {
            c.probes
                .iter()
                .any(|(s, p)| s == subject && p == payload)
                .then_some(())
        });
        if seen.is_some() {
            self.probes.retain(|(s, _)| s != subject);
        }
        seen.is_some()
    }
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

/// The socket side that [`Client`] and [`FakePeer`] share: a stream with a short read
/// timeout, the bytes read but not parsed yet, and the PONGs received so far.
struct Wire {
    stream: TcpStream,
    buf: Vec<u8>,
    pongs: usize,
    /// Names the connection in panics.
    label: String,
}

impl Wire {
    fn new(stream: TcpStream, label: String) -> Wire {
        Wire {
            stream,
            buf: Vec::new(),
            pongs: 0,
            label,
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        let label = &self.label;
        self.stream
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("write to {label}: {e}"));
    }

    /// One bounded read appended to the buffer; panics once the server closed the connection.
    fn fill(&mut self) {
        let mut chunk = [0u8; 16 * 1024];
        match read_chunk(&mut self.stream, &mut chunk) {
            Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            Err(why) => panic!("{}: {why}", self.label),
        }
    }
}

/// A connection read in bounded steps and parsed frame by frame ([`Client`], [`FakePeer`]):
/// implementors give their [`Wire`] and how to take one frame; reading, PING/PONG and waiting
/// are shared.
trait Framed: Sized {
    fn wire(&mut self) -> &mut Wire;

    /// Takes the frame whose first line, `line`, ends at `eol` (its CR LF not included) off
    /// the buffer; false when the frame is not complete yet.
    fn parse_frame(&mut self, eol: usize, line: String) -> bool;

    /// One bounded read (≤ 20 ms), then every complete frame parsed.
    fn pump(&mut self) {
        self.wire().fill();
        loop {
            let buf = &self.wire().buf;
            let Some(eol) = find_crlf(buf) else {
                return;
            };
            let line = String::from_utf8_lossy(&buf[..eol]).into_owned();
            if !self.parse_frame(eol, line) {
                return;
            }
        }
    }

    /// Sends PING and pumps until its PONG (bounded by [`WAIT`]): everything sent before has
    /// been processed, everything queued for us before has arrived. False when none came.
    fn ping_pong(&mut self) -> bool {
        let target = self.wire().pongs + 1;
        self.wire().send(b"PING\r\n");
        pump_until(self, WAIT, |c| (c.wire().pongs >= target).then_some(())).is_some()
    }
}

/// Pumps `conn` until `take` yields something, or `timeout` has passed (`None`): the one
/// waiting loop behind PONGs, messages, probes and route operations.
fn pump_until<C: Framed, T>(
    conn: &mut C,
    timeout: Duration,
    mut take: impl FnMut(&mut C) -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(found) = take(conn) {
            return Some(found);
        }
        if Instant::now() >= deadline {
            return None;
        }
        conn.pump();
    }
}

/// A client on `port` subscribed to `subject`, synced with PING/PONG.
pub fn raw_sub(port: u16, subject: &str) -> Client {
    let mut client = Client::connect(port);
    client.sub(subject);
    client.flush();
    client
}

/// Makes sure every server in `publishers` already knows the interest `sub` registered so
/// far: subscribes to a fresh probe subject on the same connection (routes carry RS+ in
/// order, so the probe's interest arrives after every earlier one), then publishes probes
/// on each publisher until one comes back. Returns the probe subject.
pub fn sync_interest(sub: &mut Client, publishers: &[u16]) -> String {
    let subject = format!("{SYNC_PREFIX}{}.{}", std::process::id(), unique());
    let sid = sub.sub(&subject);
    sub.flush();
    for &port in publishers {
        let mut publisher = Client::connect(port);
        let payload = format!("probe-from-{port}");
        let deadline = Instant::now() + ROUTE_WAIT;
        loop {
            publisher.publish(&subject, &payload);
            publisher.flush();
            if sub.wait_probe(&subject, &payload, Duration::from_millis(100)) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "interest registered on port {} never reached the server on port {port} \
                 (probe {subject} not delivered within {ROUTE_WAIT:?})",
                sub.port
            );
        }
    }
    sub.unsub(sid);
    sub.flush();
    subject
}

/// Asserts that `sub` receives messages on `subject` with exactly the payloads `expected`
/// (as a multiset, any order), and nothing more within [`QUIET`] afterwards. Messages on
/// other subjects are kept for later reads.
pub fn expect_payloads(sub: &mut Client, subject: &str, expected: &[String], context: &str) {
    let mut got = Vec::new();
    let mut others = Vec::new();
    let deadline = Instant::now() + WAIT;
    while got.len() < expected.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        match sub.next_msg(left) {
            Some(m) if m.subject == subject => got.push(m.payload),
            Some(m) => others.push(m),
            None => break,
        }
    }
    for m in sub.drain(QUIET) {
        if m.subject == subject {
            got.push(m.payload);
        } else {
            others.push(m);
        }
    }
    sub.pending.extend(others);
    let mut want = expected.to_vec();
    want.sort();
    got.sort();
    assert_eq!(
        got, want,
        "{context}: subscriber on port {} to {subject:?} should get each payload exactly once",
        sub.port
    );
}

/// Asserts `sub` gets exactly one copy of `payload` on `subject`, and nothing else there.
pub fn expect_exactly_one(sub: &mut Client, subject: &str, payload: &str) {
    expect_payloads(sub, subject, &[payload.to_string()], "exactly one copy");
}

/// Asserts `sub` gets no message on `subject` within `window`.
pub fn expect_nothing(sub: &mut Client, subject: &str, window: Duration) {
    let got: Vec<Msg> = sub
        .drain(window)
        .into_iter()
        .filter(|m| m.subject == subject)
        .collect();
    assert!(
        got.is_empty(),
        "subscriber on port {} should get nothing on {subject:?}, got {got:?}",
        sub.port
    );
}

/// Publishes `probe-<n>` on `subject` from the server on `publisher` until every subscriber
/// in `subs` has received one (for interest that existed before a route came back), then
/// drains the probes so that later reads see only later messages.
pub fn probe_until_delivered(publisher: u16, subject: &str, subs: &mut [&mut Client]) {
    let mut client = Client::connect(publisher);
    let mut reached = vec![false; subs.len()];
    let deadline = Instant::now() + ROUTE_WAIT;
    let mut n = 0;
    while reached.iter().any(|r| !r) {
        assert!(
            Instant::now() < deadline,
            "{subject:?} published on port {publisher} never reached subscribers {:?}",
            subs.iter()
                .zip(&reached)
                .filter(|(_, r)| !**r)
                .map(|(s, _)| s.port)
                .collect::<Vec<_>>()
        );
        client.publish(subject, &format!("probe-{n}"));
        client.flush();
        n += 1;
        let until = Instant::now() + Duration::from_millis(100);
        for (sub, reached) in subs.iter_mut().zip(reached.iter_mut()) {
            let left = until.saturating_duration_since(Instant::now());
            if let Some(m) = sub.next_msg(left) {
                assert!(m.payload.starts_with("probe-"), "unexpected {m:?}");
                *reached = true;
            }
        }
    }
    // Stragglers: after a probe round trip through the same route, every earlier probe has
    // arrived; drop them.
    for sub in subs.iter_mut() {
        sync_interest(sub, &[publisher]);
        let rest: Vec<Msg> = sub.pending.drain(..).collect();
        for m in rest {
            if !(m.subject == subject && m.payload.starts_with("probe-")) {
                sub.pending.push_back(m);
            }
        }
    }
}

// ----------------------------------------------------------------------------------------
// Scenarios shared by cluster.rs and interop.rs

/// A subscriber on every node gets exactly one copy of a message published on each node.
pub fn check_pubsub_everywhere(nodes: &[&ClusterNode], subject: &str) {
    let ports: Vec<u16> = nodes.iter().map(|n| n.client_port).collect();
    let mut subs: Vec<Client> = ports.iter().map(|&p| raw_sub(p, subject)).collect();
    for sub in &mut subs {
        sync_interest(sub, &ports);
    }
    let mut expected = Vec::new();
    for &port in &ports {
        let payload = format!("published-on-{port}");
        publish_once(port, subject, &payload);
        expected.push(payload);
    }
    for sub in &mut subs {
        expect_payloads(sub, subject, &expected, "pub/sub everywhere");
    }
}

/// `members_per_node` members of one queue group on every node; `total` messages published
/// round-robin on the nodes are each received exactly once, every member gets some, and
/// each node's messages reach members on more than one node.
pub fn check_queue_group(nodes: &[&ClusterNode], members_per_node: usize, total: usize) {
    let subject = "work.items";
    let ports: Vec<u16> = nodes.iter().map(|n| n.client_port).collect();
    let mut members: Vec<(usize, Client)> = Vec::new();
    for (i, &port) in ports.iter().enumerate() {
        for _ in 0..members_per_node {
            let mut member = Client::connect(port);
            member.qsub(subject, "workers");
            member.flush();
            members.push((i, member));
        }
    }
    for (_, member) in &mut members {
        sync_interest(member, &ports);
    }
    let mut publishers: Vec<Client> = ports.iter().map(|&p| Client::connect(p)).collect();
    for i in 0..total {
        let origin = i % ports.len();
        publishers[origin].publish(subject, &format!("{origin}:{i}"));
    }
    for publisher in &mut publishers {
        publisher.flush();
    }

    // receipts[i] = members that got message i
    let mut receipts: Vec<Vec<usize>> = vec![Vec::new(); total];
    let mut received = 0;
    let mut record = |member: usize, msgs: Vec<Msg>, received: &mut usize| {
        for m in msgs {
            let i: usize = m
                .payload
                .split(':')
                .nth(1)
                .and_then(|n| n.parse().ok())
                .expect("payload origin:index");
            receipts[i].push(member);
            *received += 1;
        }
    };
    let deadline = Instant::now() + ROUTE_WAIT;
    while received < total && Instant::now() < deadline {
        for (m, (_, member)) in members.iter_mut().enumerate() {
            record(m, member.take_available(), &mut received);
        }
    }
    let quiet_until = Instant::now() + QUIET;
    while Instant::now() < quiet_until {
        for (m, (_, member)) in members.iter_mut().enumerate() {
            record(m, member.take_available(), &mut received);
        }
    }

    let missing: Vec<usize> = (0..total).filter(|&i| receipts[i].is_empty()).collect();
    let doubled: Vec<usize> = (0..total).filter(|&i| receipts[i].len() > 1).collect();
    assert!(
        missing.is_empty() && doubled.is_empty(),
        "each of {total} queue messages exactly once: {} missing (first {:?}), {} delivered \
         more than once (first {:?})",
        missing.len(),
        &missing[..missing.len().min(10)],
        doubled.len(),
        &doubled[..doubled.len().min(10)]
    );
    let mut per_member = vec![0usize; members.len()];
    for r in &receipts {
        per_member[r[0]] += 1;
    }
    assert!(
        per_member.iter().all(|&n| n > 0),
        "every queue member gets a share: {per_member:?}"
    );
    for origin in 0..ports.len() {
        let nodes_reached: HashSet<usize> = (origin..total)
            .step_by(ports.len())
            .map(|i| members[receipts[i][0]].0)
            .collect();
        assert!(
            nodes_reached.len() > 1,
            "messages published on port {} should be spread over members on several servers, \
             reached only {nodes_reached:?}",
            ports[origin]
        );
    }
}

/// Publishes `payload` on `subject` from a fresh client of the server on `port`, and waits
/// for its PONG, so the server has taken the message before the caller goes on.
pub fn publish_once(port: u16, subject: &str, payload: &str) {
    let mut publisher = Client::connect(port);
    publisher.publish(subject, payload);
    publisher.flush();
}

/// Launches a node for each `(kind, client port, cluster port, config)` at once (servers that
/// list each other dial both ways), waits until every one is ready, then until every one
/// reports `routes` routed peers.
pub fn start_together(specs: &[(ServerKind, u16, u16, String)], routes: usize) -> Vec<ClusterNode> {
    let mut nodes: Vec<ClusterNode> = specs
        .iter()
        .map(|(kind, client, cluster, conf)| {
            ClusterNode::launch_with_config(*kind, *client, *cluster, conf, &[])
        })
        .collect();
    for node in &mut nodes {
        node.wait_ready();
    }
    for node in &nodes {
        node.wait_routes(routes);
    }
    nodes
}

/// Three servers: a seed, and two more with `-routes` to it; waits for a full mesh.
pub fn seeded_trio(kinds: [ServerKind; 3], name: Option<&str>) -> [ClusterNode; 3] {
    let [pa, pb, pc, ca, cb, cc] = free_ports::<6>();
    let a = ClusterNode::launch(kinds[0], pa, ca, &[], name, &[]).ready();
    let b = ClusterNode::launch(kinds[1], pb, cb, &[ca], name, &[]).ready();
    let c = ClusterNode::launch(kinds[2], pc, cc, &[ca], name, &[]).ready();
    for node in [&a, &b, &c] {
        node.wait_routes(2);
    }
    [a, b, c]
}

// ----------------------------------------------------------------------------------------
// An impersonated route peer

/// A fake nats-server 2.x peer on a raw route connection: sends CONNECT and INFO, answers
/// PING, and yields the route operations it receives as exact text (`RS+ $G foo\r\n`,
/// `RMSG $G foo 5\r\nhello\r\n`), dropping INFO and everything of the `$SYS` account.
pub struct FakePeer {
    wire: Wire,
    ops: VecDeque<String>,
    pub server_id: String,
    /// The first INFO line the server sent.
    pub server_info: String,
}

impl FakePeer {
    /// Dials `cluster_port` and introduces itself as a member of `cluster` whose client URL
    /// is `127.0.0.1:<client_url_port>`; returns once the server has answered a PING.
    pub fn connect(cluster_port: u16, cluster: &str, client_url_port: u16) -> FakePeer {
        let n = unique();
        let server_id = format!("NFAKE{}X{n}", std::process::id());
        let mut peer = FakePeer {
            wire: Wire::new(
                dial(cluster_port, Duration::from_millis(20)),
                "the route connection".to_string(),
            ),
            ops: VecDeque::new(),
            server_id: server_id.clone(),
            server_info: String::new(),
        };
        let route_port = free_port();
        peer.send(&format!(
            "CONNECT {{\"echo\":true,\"verbose\":false,\"pedantic\":false,\"tls_required\":false,\
             \"headers\":true,\"name\":\"{server_id}\",\"cluster\":\"{cluster}\"}}\r\n\
             INFO {{\"server_id\":\"{server_id}\",\"server_name\":\"fake{n}\",\"version\":\"2.9.10\",\
             \"proto\":2,\"host\":\"127.0.0.1\",\"port\":{route_port},\"headers\":true,\
             \"max_payload\":1048576,\"cluster\":\"{cluster}\",\
             \"connect_urls\":[\"127.0.0.1:{client_url_port}\"]}}\r\n"
        ));
        peer.sync();
        assert!(
            peer.server_info.starts_with("INFO {"),
            "the server should send its route INFO first, got {:?}",
            peer.server_info
        );
        peer
    }

    /// Writes raw protocol text.
    pub fn send(&mut self, text: &str) {
        self.wire.send(text.as_bytes());
    }

    /// Sends PING and waits (bounded) for the PONG: everything sent before has been
    /// processed, and everything the server queued for us before has arrived.
    pub fn sync(&mut self) {
        assert!(
            self.ping_pong(),
            "no PONG on the route within {WAIT:?}; got so far {:?}",
            self.ops
        );
    }
}

impl Framed for FakePeer {
    fn wire(&mut self) -> &mut Wire {
        &mut self.wire
    }

    fn parse_frame(&mut self, eol: usize, line: String) -> bool {
        let words: Vec<&str> = line.split_whitespace().collect();
        let verb = words.first().copied().unwrap_or_default();
        let mut end = eol + 2;
        if matches!(verb, "RMSG" | "HMSG" | "LMSG") {
            let size: usize = words
                .last()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("bad {verb} line {line:?}"));
            end = eol + 2 + size + 2;
            if self.wire.buf.len() < end {
                return false;
            }
        }
        let frame = String::from_utf8_lossy(&self.wire.buf[..end]).into_owned();
        self.wire.buf.drain(..end);
        let account = match verb {
            "LS+" | "LMSG" => words.get(2),
            _ => words.get(1),
        };
        match verb {
            "PING" => self.send("PONG\r\n"),
            "PONG" => self.wire.pongs += 1,
            "INFO" => {
                if self.server_info.is_empty() {
                    self.server_info = line;
                }
            }
            _ if account == Some(&"$SYS") => {}
            _ => self.ops.push_back(frame),
        }
        true
    }
}

impl FakePeer {
    /// The next route operation, waiting up to `timeout`.
    pub fn next_op(&mut self, timeout: Duration) -> Option<String> {
        pump_until(self, timeout, |p| p.ops.pop_front())
    }

    /// Asserts the next operation is exactly `expected`.
    pub fn expect_op(&mut self, expected: &str) {
        let got = self.next_op(WAIT);
        assert_eq!(
            got.as_deref(),
            Some(expected),
            "route operation from the server (then pending: {:?})",
            self.ops
        );
    }

    /// The next `RMSG`/`HMSG`, skipping interest lines (`RS+`/`RS-`), waiting up to `timeout`.
    pub fn next_message_op(&mut self, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let op = self.next_op(left)?;
            if !(op.starts_with("RS+ ") || op.starts_with("RS- ")) {
                return Some(op);
            }
        }
    }

    /// Asserts no message operation was sent (interest lines are ignored).
    pub fn expect_no_message_ops(&mut self) {
        self.sync();
        self.ops
            .retain(|op| !(op.starts_with("RS+ ") || op.starts_with("RS- ")));
        assert!(
            self.ops.is_empty(),
            "the server should have sent no message on this route, got {:?}",
            self.ops
        );
    }

    /// Asserts nothing else was sent: syncs with PING/PONG, then no operation is pending.
    pub fn expect_silence(&mut self) {
        self.sync();
        assert!(
            self.ops.is_empty(),
            "the server should have sent nothing more on this route, got {:?}",
            self.ops
        );
    }
}

/// An RMSG/HMSG frame with its queue names sorted, to compare frames whose queue order is
/// unspecified.
pub fn sorted_queues(frame: &str) -> String {
    let Some(eol) = frame.find("\r\n") else {
        return frame.to_string();
    };
    let (line, rest) = frame.split_at(eol);
    let mut words: Vec<&str> = line.split(' ').collect();
    let sizes = if words[0] == "HMSG" { 2 } else { 1 };
    let first_queue = match words.get(3).copied() {
        Some("+") => 5,
        Some("|") => 4,
        _ => return frame.to_string(),
    };
    let last = words.len() - sizes;
    if first_queue < last {
        words[first_queue..last].sort_unstable();
    }
    format!("{}{rest}", words.join(" "))
}
