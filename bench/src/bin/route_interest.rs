//! Measures what remote interest costs a server, ours against nats-server in one run:
//!
//! * **snapshot**: server A holds `N` subscriptions (`bench.<i>.x`, sent by raw clients, each
//!   batch confirmed by PING/PONG); server B starts with a route to A. Reported: the time from
//!   starting B until B's `/subsz` counts all `N` remote subscriptions, and B's RSS then.
//! * **flood**: a fake route peer (raw TCP speaking the route protocol) sends `M` lines
//!   `RS+ $G flood.<i>.x` to one server; reported: the server's RSS growth per remote
//!   subscription, and how long it took to take them.
//!
//! `cargo run --release -p bench --bin route_interest -- [--gnatsd target/release/gnatsd]
//! [--reference /usr/sbin/nats-server] [--subs 100000,500000] [--flood 1000000] [--rounds 3]`
//!
//! Each figure is the median of `--rounds` runs, ours and nats-server interleaved, a fresh
//! server (pair) per run. Every wait is bounded; a run that times out is reported as failed.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bench::load;

struct Args {
    gnatsd: String,
    reference: String,
    subs: Vec<usize>,
    flood: usize,
    rounds: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        gnatsd: "target/release/gnatsd".into(),
        reference: "/usr/sbin/nats-server".into(),
        subs: vec![100_000, 500_000],
        flood: 1_000_000,
        rounds: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_default();
        match flag.as_str() {
            "--gnatsd" => args.gnatsd = value,
            "--reference" => args.reference = value,
            "--subs" => {
                args.subs = value
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .filter_map(|s| s.parse().ok())
                    .collect()
            }
            "--flood" => args.flood = value.parse().unwrap_or(args.flood),
            "--rounds" => args.rounds = value.parse().unwrap_or(args.rounds).max(1),
            other => {
                eprintln!("unknown flag {other}");
                std::process::exit(2);
            }
        }
    }
    args
}

const WAIT: Duration = Duration::from_secs(60);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(14222)
}

/// A server process, killed on drop.
struct Running {
    child: Child,
    port: u16,
    http: u16,
    cluster: u16,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// Spawns `binary` with a client port, a monitoring port and a cluster listener (and a route
/// to `route` if given); does not wait for it.
fn spawn(binary: &str, route: Option<u16>) -> std::io::Result<Running> {
    let (port, http, cluster) = (free_port(), free_port(), free_port());
    let mut cmd = Command::new(binary);
    cmd.args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .args(["-m", &http.to_string()])
        .args(["--cluster_name", "bench"])
        .args(["-cluster", &format!("nats://127.0.0.1:{cluster}")]);
    if let Some(r) = route {
        cmd.args(["-routes", &format!("nats://127.0.0.1:{r}")]);
    }
    // ROUTE_INTEREST_LOGS=1 shows the servers' logs (with -D), to see why a run failed.
    let logs = std::env::var_os("ROUTE_INTEREST_LOGS").is_some();
    if logs {
        cmd.arg("-D");
    }
    let log = || {
        if logs {
            Stdio::inherit()
        } else {
            Stdio::null()
        }
    };
    let child = cmd
        .stdin(Stdio::null())
        .stdout(log())
        .stderr(log())
        .spawn()?;
    Ok(Running {
        child,
        port,
        http,
        cluster,
    })
}

fn start(binary: &str, route: Option<u16>) -> std::io::Result<Running> {
    let running = spawn(binary, route)?;
    if load::wait_ready(running.port, Duration::from_secs(10), None) {
        Ok(running)
    } else {
        Err(std::io::Error::other(format!("{binary} did not start")))
    }
}

/// `num_subscriptions` from the server's `/subsz` (one short HTTP/1.0 request).
fn num_subscriptions(http: u16) -> Option<u64> {
    let mut s = TcpStream::connect(("127.0.0.1", http)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET /subsz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .ok()?;
    let mut body = Vec::new();
    s.take(1 << 20).read_to_end(&mut body).ok()?;
    let text = String::from_utf8_lossy(&body);
    let at = text.find("\"num_subscriptions\"")? + "\"num_subscriptions\"".len();
    let digits: String = text[at..]
        .chars()
        .skip_while(|c| *c == ':' || c.is_whitespace())
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Polls `/subsz` until it counts at least `n` (bounded by [`WAIT`]).
fn wait_subscriptions(http: u16, n: u64) -> std::io::Result<()> {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if num_subscriptions(http).is_some_and(|c| c >= n) {
            return Ok(());
        }
        std::thread::sleep(poll_interval());
    }
    Err(std::io::Error::other(format!(
        "fewer than {n} subscriptions after {WAIT:?}"
    )))
}

/// Reads `s` until `PONG\r\n` arrives (bounded), answering nothing.
fn await_pong(s: &mut TcpStream) -> std::io::Result<()> {
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    while Instant::now() < deadline {
        let n = match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
            Err(e) => return Err(e),
        };
        seen.extend_from_slice(&buf[..n]);
        if seen.windows(6).any(|w| w == b"PONG\r\n") {
            return Ok(());
        }
        // Only a PONG split across reads needs the tail.
        let keep = seen.len().saturating_sub(5);
        seen.drain(..keep);
    }
    Err(std::io::Error::other("no PONG"))
}

/// Puts `n` subscriptions `bench.<i>.x` on the server at `port`, over four clients; returns
/// the clients (closing them would take the subscriptions away) once every one has PONGed.
fn subscribe(port: u16, n: usize) -> std::io::Result<Vec<TcpStream>> {
    let clients = 4.min(n.max(1));
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            std::thread::spawn(move || -> std::io::Result<TcpStream> {
                let mut s = TcpStream::connect(("127.0.0.1", port))?;
                s.set_read_timeout(Some(Duration::from_millis(200)))?;
                let mut out = Vec::with_capacity(1 << 20);
                out.extend_from_slice(b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\n");
                for i in (c..n).step_by(clients) {
                    writeln!(out, "SUB bench.{i}.x {i}\r").map_err(std::io::Error::other)?;
                    if out.len() > 1 << 20 {
                        s.write_all(&out)?;
                        out.clear();
                    }
                }
                out.extend_from_slice(b"PING\r\n");
                s.write_all(&out)?;
                await_pong(&mut s)?;
                Ok(s)
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| {
            h.join()
                .map_err(|_| std::io::Error::other("subscriber panicked"))?
        })
        .collect()
}

/// One snapshot run: (seconds until B knew all `n`, B's RSS then in KiB, B's peak in KiB).
fn snapshot(binary: &str, n: usize) -> std::io::Result<(f64, u64, u64)> {
    let a = start(binary, None)?;
    let _clients = subscribe(a.port, n)?;
    wait_subscriptions(a.http, n as u64)?;
    let began = Instant::now();
    let b = spawn(binary, Some(a.cluster))?;
    wait_subscriptions(b.http, n as u64)?;
    let took = began.elapsed().as_secs_f64();
    // Let the last batch's buffers settle before reading the resident size.
    std::thread::sleep(Duration::from_millis(500));
    let rss = load::rss_kib(b.pid()).unwrap_or(0);
    let peak = load::peak_rss_kib(b.pid()).unwrap_or(0);
    Ok((took, rss, peak))
}

/// A fake route peer on `cluster_port`: introduced with CONNECT and INFO as a nats-server
/// 2.9 member of cluster `bench`. A thread drains what the server sends, answers its PINGs
/// and counts its PONGs. Writes take the lock: a PONG written between two pieces of one
/// large write would cut an `RS+` line in two.
struct FakeRoute {
    wire: Arc<Mutex<TcpStream>>,
    pongs: Arc<AtomicUsize>,
}

impl FakeRoute {
    fn connect(cluster_port: u16) -> std::io::Result<FakeRoute> {
        let mut wire = TcpStream::connect(("127.0.0.1", cluster_port))?;
        let id = format!("NFLOOD{}", std::process::id());
        let port = free_port();
        write!(
            wire,
            "CONNECT {{\"echo\":true,\"verbose\":false,\"pedantic\":false,\"tls_required\":false,\
             \"headers\":true,\"name\":\"{id}\",\"cluster\":\"bench\"}}\r\n\
             INFO {{\"server_id\":\"{id}\",\"server_name\":\"flood\",\"version\":\"2.9.10\",\
             \"proto\":2,\"host\":\"127.0.0.1\",\"port\":{port},\"headers\":true,\
             \"max_payload\":1048576,\"cluster\":\"bench\"}}\r\n"
        )?;
        let pongs = Arc::new(AtomicUsize::new(0));
        let mut rd = wire.try_clone()?;
        let wire = Arc::new(Mutex::new(wire));
        let answer = wire.clone();
        let counted = pongs.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 16 * 1024];
            let mut tail: Vec<u8> = Vec::new();
            while let Ok(n) = rd.read(&mut buf) {
                if n == 0 {
                    break;
                }
                tail.extend_from_slice(&buf[..n]);
                let mut at = 0;
                while let Some(pos) = tail[at..].windows(2).position(|w| w == b"\r\n") {
                    let line = &tail[at..at + pos];
                    if line == b"PING" {
                        if let Ok(mut w) = answer.lock() {
                            let _ = w.write_all(b"PONG\r\n");
                        }
                    } else if line == b"PONG" {
                        counted.fetch_add(1, Ordering::SeqCst);
                    }
                    at += pos + 2;
                }
                tail.drain(..at);
            }
        });
        Ok(FakeRoute { wire, pongs })
    }

    fn send(&self, bytes: &[u8]) -> std::io::Result<()> {
        self.wire
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .write_all(bytes)
    }

    /// Sends PING and waits (bounded) for its PONG: everything sent before was processed.
    fn sync(&mut self) -> std::io::Result<()> {
        let before = self.pongs.load(Ordering::SeqCst);
        self.send(b"PING\r\n")?;
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if self.pongs.load(Ordering::SeqCst) > before {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Err(std::io::Error::other("no PONG on the route"))
    }
}

/// One flood run: (RSS growth per remote subscription in bytes, seconds to take them).
fn flood(binary: &str, n: usize) -> std::io::Result<(f64, f64)> {
    let server = start(binary, None)?;
    let mut peer = FakeRoute::connect(server.cluster)?;
    peer.sync()?;
    // The route registered and its first buffers exist: what comes next is interest only.
    std::thread::sleep(Duration::from_millis(300));
    let before = load::rss_kib(server.pid()).unwrap_or(0);
    let began = Instant::now();
    let mut out = Vec::with_capacity(1 << 20);
    for i in 0..n {
        writeln!(out, "RS+ $G flood.{i}.x\r").map_err(std::io::Error::other)?;
        if out.len() > 1 << 20 {
            peer.send(&out)?;
            out.clear();
        }
    }
    peer.send(&out)?;
    peer.sync()?;
    wait_subscriptions(server.http, n as u64)?;
    let took = began.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(500));
    let after = load::rss_kib(server.pid()).unwrap_or(0);
    Ok((
        after.saturating_sub(before) as f64 * 1024.0 / n as f64,
        took,
    ))
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args = parse_args();
    let servers = [("gnatsd", &args.gnatsd), ("nats-server", &args.reference)];
    println!(
        "# Remote interest: {} vs {} ({} rounds, median)\n",
        args.gnatsd, args.reference, args.rounds
    );
    println!("| scenario | server | time (s) | RSS (MB) | peak RSS (MB) |");
    println!("|---|---|---|---|---|");
    for &n in &args.subs {
        // Interleaved (ours, theirs, ours, ...), so a noisy moment hits both.
        let mut runs = [Vec::new(), Vec::new()];
        for _ in 0..args.rounds {
            for (k, (name, binary)) in servers.iter().enumerate() {
                match snapshot(binary, n) {
                    Ok(r) => runs[k].push(r),
                    Err(e) => eprintln!("snapshot {n} on {name}: {e}"),
                }
            }
        }
        let mb = |kib: u64| kib as f64 / 1024.0;
        for (k, (name, _)) in servers.iter().enumerate() {
            println!(
                "| snapshot {n} | {name} | {:.3} | {:.0} | {:.0} |",
                median(runs[k].iter().map(|r| r.0).collect()),
                median(runs[k].iter().map(|r| mb(r.1)).collect()),
                median(runs[k].iter().map(|r| mb(r.2)).collect()),
            );
        }
    }
    if args.flood > 0 {
        println!("\n| scenario | server | bytes per remote sub | time (s) |");
        println!("|---|---|---|---|");
        let mut runs = [Vec::new(), Vec::new()];
        for _ in 0..args.rounds {
            for (k, (name, binary)) in servers.iter().enumerate() {
                match flood(binary, args.flood) {
                    Ok(r) => runs[k].push(r),
                    Err(e) => eprintln!("flood on {name}: {e}"),
                }
            }
        }
        for (k, (name, _)) in servers.iter().enumerate() {
            println!(
                "| RS+ flood {} | {name} | {:.0} | {:.3} |",
                args.flood,
                median(runs[k].iter().map(|r| r.0).collect()),
                median(runs[k].iter().map(|r| r.1).collect()),
            );
        }
    }
}

/// How often `/subsz` is polled: `ROUTE_INTEREST_POLL_MS`, 10 ms by default (a request
/// costs the polled server some time too, so not too often).
fn poll_interval() -> Duration {
    let ms = std::env::var("ROUTE_INTEREST_POLL_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    Duration::from_millis(ms)
}
