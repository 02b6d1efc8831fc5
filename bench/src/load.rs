//! A raw-protocol load generator: publishers and subscribers on loopback writing and reading
//! NATS protocol bytes directly, so the numbers measure the server, not a client library.
//! Used by the `compare` binary and the end-to-end criterion bench.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One load scenario.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// Name shown in reports.
    pub name: &'static str,
    /// Payload size in bytes.
    pub payload: usize,
    /// Publishing connections (the messages are split between them).
    pub publishers: usize,
    /// Subscribers on the subject (0: publish only).
    pub subscribers: usize,
    /// Subscribers form one queue group (each message goes to one of them).
    pub queue: bool,
    /// Messages published in total.
    pub messages: usize,
}

impl Scenario {
    /// `publishers` → `subscribers` plain fan-out.
    pub fn new(
        name: &'static str,
        payload: usize,
        publishers: usize,
        subscribers: usize,
        messages: usize,
    ) -> Scenario {
        Scenario {
            name,
            payload,
            publishers,
            subscribers,
            queue: false,
            messages,
        }
    }

    /// The subscribers form one queue group.
    pub fn queue_group(self) -> Scenario {
        Scenario {
            queue: true,
            ..self
        }
    }
}

/// The outcome of one run.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    /// Wall time from the first published byte to the last expected byte received.
    pub elapsed: Duration,
    /// Messages published per second.
    pub msgs_per_sec: f64,
}

const CONNECT: &[u8] = b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\n";
const SUBJECT: &str = "bench.subject";

fn connect(port: u16) -> std::io::Result<TcpStream> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.write_all(CONNECT)?;
    Ok(s)
}

/// Sends PING and reads until PONG (skipping INFO and anything else before it).
fn sync(s: &mut TcpStream) -> std::io::Result<()> {
    s.write_all(b"PING\r\n")?;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buf[..n]);
        if seen.windows(6).any(|w| w == b"PONG\r\n") {
            return Ok(());
        }
    }
    Err(std::io::Error::other("no PONG"))
}

/// Waits until `port` accepts connections and answers PING (bounded).
pub fn wait_ready(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            if s.write_all(b"PING\r\n").is_ok() && sync(&mut s).is_ok() {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Runs `scenario` against the server on `port`.
pub fn run(port: u16, scenario: Scenario) -> std::io::Result<Outcome> {
    run_between(port, port, scenario)
}

/// Runs `scenario` with the publishers on `pub_port` and the subscribers on `sub_port` (two
/// routed servers when they differ).
pub fn run_between(pub_port: u16, sub_port: u16, scenario: Scenario) -> std::io::Result<Outcome> {
    let mut frame = format!("PUB {SUBJECT} {}\r\n", scenario.payload).into_bytes();
    frame.extend_from_slice(&vec![b'x'; scenario.payload]);
    frame.extend_from_slice(b"\r\n");
    let msg_len = format!("MSG {SUBJECT} 1 {}\r\n", scenario.payload).len() + scenario.payload + 2;
    // Every plain subscriber gets every message; a queue group shares them.
    let per_sub = msg_len * scenario.messages;
    let group_total = Arc::new(AtomicUsize::new(0));

    let mut subs = Vec::new();
    for _ in 0..scenario.subscribers {
        let mut s = connect(sub_port)?;
        let queue = if scenario.queue { "workers " } else { "" };
        s.write_all(format!("SUB {SUBJECT} {queue}1\r\n").as_bytes())?;
        sync(&mut s)?;
        subs.push(s);
    }
    let mut publishers = Vec::new();
    for _ in 0..scenario.publishers.max(1) {
        let mut p = connect(pub_port)?;
        sync(&mut p)?;
        publishers.push(p);
    }
    if pub_port != sub_port {
        for s in subs.iter_mut() {
            wait_for_route_interest(s, &mut publishers[0])?;
        }
    }

    let start = Instant::now();
    let readers: Vec<_> = subs
        .into_iter()
        .map(|mut s| {
            let (queue, total) = (scenario.queue, group_total.clone());
            let expected_group = per_sub;
            std::thread::spawn(move || -> std::io::Result<usize> {
                let mut buf = vec![0u8; 256 * 1024];
                let mut got = 0usize;
                let deadline = Instant::now() + Duration::from_secs(120);
                if queue {
                    // Stop when the group as a whole has everything.
                    s.set_read_timeout(Some(Duration::from_millis(20)))?;
                    while total.load(Ordering::Relaxed) < expected_group
                        && Instant::now() < deadline
                    {
                        match s.read(&mut buf) {
                            Ok(0) => break,
                            Ok(n) => {
                                got += n;
                                total.fetch_add(n, Ordering::Relaxed);
                            }
                            Err(e)
                                if matches!(
                                    e.kind(),
                                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                                ) => {}
                            Err(e) => return Err(e),
                        }
                    }
                    return Ok(got);
                }
                while got < per_sub && Instant::now() < deadline {
                    let n = s.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    got += n;
                }
                Ok(got)
            })
        })
        .collect();

    let writers: Vec<_> = publishers
        .into_iter()
        .enumerate()
        .map(|(i, mut p)| {
            let frame = frame.clone();
            let count = scenario.messages / scenario.publishers.max(1)
                + usize::from(i < scenario.messages % scenario.publishers.max(1));
            std::thread::spawn(move || -> std::io::Result<()> {
                // Write in ~64 KiB batches, as a busy client library would.
                let per_batch = (64 * 1024 / frame.len()).max(1);
                let mut batch = Vec::with_capacity(per_batch * frame.len());
                let mut sent = 0;
                while sent < count {
                    batch.clear();
                    let n = per_batch.min(count - sent);
                    for _ in 0..n {
                        batch.extend_from_slice(&frame);
                    }
                    p.write_all(&batch)?;
                    sent += n;
                }
                sync(&mut p)
            })
        })
        .collect();
    for w in writers {
        w.join()
            .map_err(|_| std::io::Error::other("publisher panicked"))??;
    }
    let mut received = 0;
    for r in readers {
        received += r
            .join()
            .map_err(|_| std::io::Error::other("reader panicked"))??;
    }
    let expected = if scenario.queue {
        per_sub
    } else {
        per_sub * scenario.subscribers
    };
    if received < expected {
        return Err(std::io::Error::other(format!(
            "subscribers got {received} of {expected} bytes"
        )));
    }
    let elapsed = start.elapsed();
    Ok(Outcome {
        elapsed,
        msgs_per_sec: scenario.messages as f64 / elapsed.as_secs_f64(),
    })
}

/// Request/reply round trips: a responder answers every request; one requester sends
/// `count` requests one after another. Returns the sorted round-trip times.
pub fn request_reply(port: u16, payload: usize, count: usize) -> std::io::Result<Vec<Duration>> {
    let mut responder = connect(port)?;
    responder.write_all(b"SUB bench.req 1\r\n")?;
    sync(&mut responder)?;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let answer = {
        let stop = stop.clone();
        let body = vec![b'r'; payload];
        std::thread::spawn(move || -> std::io::Result<()> {
            responder.set_read_timeout(Some(Duration::from_millis(50)))?;
            let mut pending = Vec::new();
            let mut buf = [0u8; 64 * 1024];
            while !stop.load(Ordering::Relaxed) {
                match responder.read(&mut buf) {
                    Ok(0) => return Ok(()),
                    Ok(n) => pending.extend_from_slice(&buf[..n]),
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        continue
                    }
                    Err(e) => return Err(e),
                }
                // MSG bench.req 1 <reply> <size>\r\n<payload>\r\n
                let mut out = Vec::new();
                while let Some(nl) = pending.iter().position(|b| *b == b'\n') {
                    let line = String::from_utf8_lossy(&pending[..nl])
                        .trim_end()
                        .to_string();
                    let parts: Vec<&str> = line.split(' ').collect();
                    if parts.first() != Some(&"MSG") {
                        pending.drain(..=nl);
                        continue;
                    }
                    let size: usize = parts.last().and_then(|s| s.parse().ok()).unwrap_or(0);
                    if pending.len() < nl + 1 + size + 2 {
                        break;
                    }
                    if parts.len() == 5 {
                        out.extend_from_slice(
                            format!("PUB {} {}\r\n", parts[3], body.len()).as_bytes(),
                        );
                        out.extend_from_slice(&body);
                        out.extend_from_slice(b"\r\n");
                    }
                    pending.drain(..nl + 1 + size + 2);
                }
                if !out.is_empty() {
                    responder.write_all(&out)?;
                }
            }
            Ok(())
        })
    };
    let mut requester = connect(port)?;
    requester.write_all(b"SUB bench.inbox 1\r\n")?;
    sync(&mut requester)?;
    let mut request = format!("PUB bench.req bench.inbox {payload}\r\n").into_bytes();
    request.extend_from_slice(&vec![b'q'; payload]);
    request.extend_from_slice(b"\r\n");
    let reply_len = format!("MSG bench.inbox 1 {payload}\r\n").len() + payload + 2;
    let mut times = Vec::with_capacity(count);
    let mut buf = vec![0u8; 64 * 1024];
    for _ in 0..count {
        let t = Instant::now();
        requester.write_all(&request)?;
        let mut got = 0;
        while got < reply_len {
            let n = requester.read(&mut buf)?;
            if n == 0 {
                return Err(std::io::Error::other("requester closed"));
            }
            got += n;
        }
        times.push(t.elapsed());
    }
    stop.store(true, Ordering::Relaxed);
    answer
        .join()
        .map_err(|_| std::io::Error::other("responder panicked"))??;
    times.sort_unstable();
    Ok(times)
}

/// The `p`-th percentile (0–100) of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Across a route, interest arrives asynchronously: subscribe to a probe subject after the
/// bench subject (interest travels in order) and publish probes until one gets through.
fn wait_for_route_interest(sub: &mut TcpStream, publisher: &mut TcpStream) -> std::io::Result<()> {
    sub.write_all(b"SUB bench.probe 2\r\n")?;
    sync(sub)?;
    sub.set_read_timeout(Some(Duration::from_millis(50)))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        publisher.write_all(b"PUB bench.probe 0\r\n\r\n")?;
        if let Ok(n) = sub.read(&mut buf) {
            seen.extend_from_slice(&buf[..n]);
            if seen.windows(15).any(|w| w == b"MSG bench.probe") {
                break;
            }
        }
    }
    // Stop probing, then drain the probes still in flight.
    sub.write_all(b"UNSUB 2\r\n")?;
    sync(publisher)?;
    sync(sub)?;
    sub.set_read_timeout(Some(Duration::from_millis(100)))?;
    while sub.read(&mut buf).map(|n| n > 0).unwrap_or(false) {}
    sub.set_read_timeout(Some(Duration::from_secs(30)))?;
    if seen.windows(15).any(|w| w == b"MSG bench.probe") {
        Ok(())
    } else {
        Err(std::io::Error::other("interest never crossed the route"))
    }
}

/// CPU time (user + system) a process has used so far, from `/proc/<pid>/stat`.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // Clock ticks are 100 Hz on Linux.
    Some(Duration::from_millis((utime + stime) * 10))
}

fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Peak resident set size (`VmHWM`) in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM:")
}

/// Current resident set size (`VmRSS`) in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}
