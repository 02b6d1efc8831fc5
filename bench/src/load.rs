//! A raw-protocol load generator: one publisher and N subscribers on loopback, writing and
//! reading NATS protocol bytes directly so the numbers measure the server, not a client
//! library. Used by the `compare` binary and the end-to-end criterion bench.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// One load scenario.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// Name shown in reports.
    pub name: &'static str,
    /// Payload size in bytes.
    pub payload: usize,
    /// Number of subscribers on the subject (0: publish only).
    pub subscribers: usize,
    /// Messages published.
    pub messages: usize,
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

/// Waits until `port` accepts connections (bounded).
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

/// Runs `scenario` with the publisher on `pub_port` and the subscribers on `sub_port` (two
/// routed servers when they differ).
pub fn run_between(pub_port: u16, sub_port: u16, scenario: Scenario) -> std::io::Result<Outcome> {
    let subject = "bench.subject";
    let payload = vec![b'x'; scenario.payload];
    let mut frame = format!("PUB {subject} {}\r\n", scenario.payload).into_bytes();
    frame.extend_from_slice(&payload);
    frame.extend_from_slice(b"\r\n");
    let msg_len = format!("MSG {subject} 1 {}\r\n", scenario.payload).len() + scenario.payload + 2;
    let expected = msg_len * scenario.messages;

    let mut subs = Vec::new();
    for _ in 0..scenario.subscribers {
        let mut s = connect(sub_port)?;
        s.write_all(format!("SUB {subject} 1\r\n").as_bytes())?;
        sync(&mut s)?;
        subs.push(s);
    }
    let mut publisher = connect(pub_port)?;
    sync(&mut publisher)?;
    if pub_port != sub_port {
        for s in subs.iter_mut() {
            wait_for_route_interest(s, &mut publisher)?;
        }
    }

    let start = Instant::now();
    let readers: Vec<_> = subs
        .into_iter()
        .map(|mut s| {
            std::thread::spawn(move || -> std::io::Result<usize> {
                let mut buf = vec![0u8; 256 * 1024];
                let mut got = 0usize;
                while got < expected {
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
    // Write in ~64 KiB batches, as a busy client library would.
    let per_batch = (64 * 1024 / frame.len()).max(1);
    let mut batch = Vec::with_capacity(per_batch * frame.len());
    let mut sent = 0;
    while sent < scenario.messages {
        batch.clear();
        let n = per_batch.min(scenario.messages - sent);
        for _ in 0..n {
            batch.extend_from_slice(&frame);
        }
        publisher.write_all(&batch)?;
        sent += n;
    }
    sync(&mut publisher)?;
    for r in readers {
        let got = r
            .join()
            .map_err(|_| std::io::Error::other("reader panicked"))??;
        if got < expected {
            return Err(std::io::Error::other(format!(
                "subscriber got {got} of {expected} bytes"
            )));
        }
    }
    let elapsed = start.elapsed();
    Ok(Outcome {
        elapsed,
        msgs_per_sec: scenario.messages as f64 / elapsed.as_secs_f64(),
    })
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

/// Peak resident set size (`VmHWM`) in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
