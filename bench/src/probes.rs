//! Measurements of one server that are not a load: its memory per idle connection, how much
//! memory it gives back after a storm of connections closes, and how a publisher fares while
//! a subscriber that reads nothing is cut off as a slow consumer. Raw TCP on loopback, every
//! loop bounded in count and time.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::load;

const CONNECT: &[u8] = b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\n";
/// Longest any single step waits for the server.
const STEP: Duration = Duration::from_secs(10);

/// Opens a client connection that has subscribed to `subject` and had its PING answered.
fn subscriber(port: u16, subject: &str) -> std::io::Result<TcpStream> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(STEP))?;
    s.set_nodelay(true)?;
    s.write_all(CONNECT)?;
    s.write_all(format!("SUB {subject} 1\r\nPING\r\n").as_bytes())?;
    load::read_until_pong(&mut s)?;
    Ok(s)
}

/// Resident memory per idle client connection, in bytes: `count` clients, each connected
/// with one subscription and its PING answered, against the server process `pid`'s RSS
/// before they came.
pub fn idle_per_connection(pid: u32, port: u16, count: usize) -> std::io::Result<f64> {
    let before = load::rss_kib(pid).ok_or_else(|| std::io::Error::other("no RSS"))?;
    let mut conns = Vec::with_capacity(count);
    for i in 0..count {
        conns.push(subscriber(port, &format!("idle.{i}"))?);
    }
    // Let the server settle (its writers go idle, buffers are let go of).
    std::thread::sleep(Duration::from_millis(500));
    let after = load::rss_kib(pid).ok_or_else(|| std::io::Error::other("no RSS"))?;
    drop(conns);
    Ok(after.saturating_sub(before) as f64 * 1024.0 / count as f64)
}

/// Memory around a storm of connections.
#[derive(Debug, Clone, Copy)]
pub struct Storm {
    /// RSS before the storm, KiB.
    pub idle_kib: u64,
    /// RSS with every connection open, KiB.
    pub peak_kib: u64,
    /// RSS 10 s after they all closed, KiB.
    pub after_kib: u64,
    /// How long after the close RSS first came within twice `idle_kib` (none in 10 s: None).
    pub back_within_2x: Option<Duration>,
}

/// Opens `count` subscribed client connections to the server `pid` on `port`, publishes one
/// message each of them receives, closes them all and follows the server's RSS for 10 s.
pub fn storm(pid: u32, port: u16, count: usize) -> std::io::Result<Storm> {
    let idle_kib = load::rss_kib(pid).ok_or_else(|| std::io::Error::other("no RSS"))?;
    let mut conns = Vec::with_capacity(count);
    for _ in 0..count {
        conns.push(subscriber(port, "storm")?);
    }
    let mut publisher = subscriber(port, "storm.none")?;
    publisher.write_all(b"PUB storm 1024\r\n")?;
    publisher.write_all(&[b'x'; 1024])?;
    publisher.write_all(b"\r\nPING\r\n")?;
    load::read_until_pong(&mut publisher)?;
    let peak_kib = load::rss_kib(pid).ok_or_else(|| std::io::Error::other("no RSS"))?;
    drop(conns);
    drop(publisher);
    let closed = Instant::now();
    let mut back_within_2x = None;
    let mut after_kib = peak_kib;
    while closed.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
        after_kib = load::rss_kib(pid).ok_or_else(|| std::io::Error::other("no RSS"))?;
        if back_within_2x.is_none() && after_kib <= 2 * idle_kib {
            back_within_2x = Some(closed.elapsed());
        }
    }
    Ok(Storm {
        idle_kib,
        peak_kib,
        after_kib,
        back_within_2x,
    })
}

/// A publisher's rate with and without a subscriber that reads nothing.
#[derive(Debug, Clone, Copy)]
pub struct CutOff {
    /// Messages per second with no subscriber.
    pub unloaded: f64,
    /// Messages per second from the stuck subscriber's arrival until the server counted it
    /// as a slow consumer.
    pub during: f64,
    /// How long the server took to cut it off (None: not within the limit).
    pub cut_after: Option<Duration>,
}

/// Publishes `size`-byte messages as fast as the server on `port` takes them: first for one
/// second with no subscriber, then with one subscriber that never reads, until the server's
/// `/varz` (on `monitor_port`, asked every [`VARZ_EVERY`]) counts a slow consumer or `limit`
/// passes. (The subscriber's socket cannot tell: the server's FIN waits behind the bytes the
/// subscriber never read.)
pub fn publisher_while_cut_off(
    port: u16,
    monitor_port: u16,
    size: usize,
    limit: Duration,
) -> std::io::Result<CutOff> {
    let mut publisher = subscriber(port, "cutoff.none")?;
    let per_batch = (64 * 1024 / (size + 32)).max(1);
    let batch = crate::pub_frames("cutoff.subject", size, per_batch);
    let per_batch = per_batch as u64;
    let unloaded = publish_for(
        &mut publisher,
        &batch,
        per_batch,
        Duration::from_secs(1),
        || false,
    )?;
    let stuck = subscriber(port, "cutoff.subject")?;
    let start = Instant::now();
    let mut cut_after = None;
    let mut next_look = start;
    let during = publish_for(&mut publisher, &batch, per_batch, limit, || {
        if Instant::now() < next_look {
            return false;
        }
        next_look = Instant::now() + VARZ_EVERY;
        let cut = slow_consumers(monitor_port).is_some_and(|n| n > 0);
        if cut {
            cut_after = Some(start.elapsed());
        }
        cut
    })?;
    drop(stuck);
    Ok(CutOff {
        unloaded,
        during,
        cut_after,
    })
}

/// How often the cut-off probe asks the server whether it has cut the subscriber off.
const VARZ_EVERY: Duration = Duration::from_millis(10);

/// Writes `batch` (holding `per_batch` messages) over and over for at most `limit` or until
/// `done` says so, then waits for the PONG that proves the server read it all; returns the
/// messages per second.
fn publish_for(
    s: &mut TcpStream,
    batch: &[u8],
    per_batch: u64,
    limit: Duration,
    mut done: impl FnMut() -> bool,
) -> std::io::Result<f64> {
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed() < limit && !done() {
        s.write_all(batch)?;
        sent += per_batch;
    }
    s.write_all(b"PING\r\n")?;
    load::read_until_pong(s)?;
    Ok(sent as f64 / start.elapsed().as_secs_f64())
}

/// The server's `slow_consumers` counter from `/varz`.
fn slow_consumers(monitor_port: u16) -> Option<u64> {
    let mut s = TcpStream::connect(("127.0.0.1", monitor_port)).ok()?;
    s.set_read_timeout(Some(STEP)).ok()?;
    s.write_all(b"GET /varz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .ok()?;
    let mut body = String::new();
    s.take(1 << 20).read_to_string(&mut body).ok()?;
    let at = body.find("\"slow_consumers\":")? + "\"slow_consumers\":".len();
    let digits: String = body[at..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}
