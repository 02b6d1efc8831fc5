//! What monitoring keeps for itself: the ring of recently closed connections
//! ([`ClosedRing`]) and process usage from `/proc` ([`ProcessUsage`]). The counters the
//! message path writes live in [`crate::stats`].

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::json::ConnInfo;

/// How many closed connections `/connz?state=closed` remembers (nats-server's default).
pub const MAX_CLOSED: usize = 10_000;

/// A closed connection as `/connz` shows it, with what is only shown on request.
#[derive(Debug, Clone)]
pub struct Closed {
    /// The connection as it was when it closed (with `stop` and `reason`).
    pub info: ConnInfo,
    /// Its subscriptions when it closed.
    pub subs: Vec<super::json::SubDetail>,
    /// The authorized user.
    pub user: String,
    /// The connection's account.
    pub account: String,
    /// Operator mode: the user JWT it logged in with.
    pub jwt: Option<std::sync::Arc<crate::stats::JwtMeta>>,
    /// Start, last activity and stop in Unix nanoseconds, for sorting.
    pub start: i64,
    /// See `start`.
    pub last: i64,
    /// See `start`.
    pub stop: i64,
}

/// The most recent closed client connections, oldest first, bounded by [`MAX_CLOSED`].
#[derive(Default)]
pub struct ClosedRing {
    ring: Mutex<VecDeque<Closed>>,
}

impl ClosedRing {
    /// Remembers a closed connection, forgetting the oldest one when full.
    pub fn push(&self, closed: Closed) {
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        if ring.len() >= MAX_CLOSED {
            ring.pop_front();
        }
        ring.push_back(closed);
    }

    /// A copy of the remembered connections, oldest first.
    pub fn snapshot(&self) -> Vec<Closed> {
        self.ring
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}

/// Resident memory and CPU use of this process, from `/proc/self`.
#[derive(Default)]
pub struct ProcessUsage {
    /// The previous CPU sample: when, total CPU seconds by then, and the percent it gave.
    last: Mutex<Option<(Instant, f64, f64)>>,
}

/// Clock ticks per second of `/proc/self/stat` (USER_HZ, 100 on every Linux in use).
const TICKS_PER_SECOND: f64 = 100.0;
/// Shortest window a CPU percentage is measured over; more frequent requests get the last one.
const CPU_WINDOW: Duration = Duration::from_millis(500);

impl ProcessUsage {
    /// Resident set size in bytes (0 when unknown).
    pub fn rss_bytes(&self) -> i64 {
        let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
            return 0;
        };
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<i64>().ok())
            .map_or(0, |kb| kb * 1024)
    }

    /// CPU use in percent of one core, with one decimal like nats-server's: over the time
    /// since the previous sample (at least [`CPU_WINDOW`]), or over the process lifetime the
    /// first time.
    pub fn cpu_percent(&self, process_start: Instant) -> f64 {
        let Some(cpu_secs) = cpu_seconds() else {
            return 0.0;
        };
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let (since, before) = match *last {
            Some((at, _, value)) if now.duration_since(at) < CPU_WINDOW => return value,
            Some((at, before, _)) => (at, before),
            None => (process_start, 0.0),
        };
        let value = percent(cpu_secs - before, now.duration_since(since));
        *last = Some((now, cpu_secs, value));
        value
    }
}

fn percent(cpu: f64, wall: Duration) -> f64 {
    let wall = wall.as_secs_f64();
    if wall <= 0.0 || cpu <= 0.0 {
        return 0.0;
    }
    (cpu / wall * 1000.0).round() / 10.0
}

/// User plus system CPU seconds of this process.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may contain spaces; the fields after it start with the state (field 3).
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SECOND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_ring_is_bounded() {
        let ring = ClosedRing::default();
        for cid in 0..(MAX_CLOSED as u64 + 5) {
            ring.push(Closed {
                info: ConnInfo {
                    cid,
                    ..ConnInfo::default()
                },
                subs: Vec::new(),
                user: String::new(),
                account: String::new(),
                jwt: None,
                start: 0,
                last: 0,
                stop: 0,
            });
        }
        let snap = ring.snapshot();
        assert_eq!(snap.len(), MAX_CLOSED);
        assert_eq!(snap[0].info.cid, 5);
    }

    #[test]
    fn process_usage_reads_proc() {
        let usage = ProcessUsage::default();
        assert!(usage.rss_bytes() > 0);
        assert!(cpu_seconds().is_some());
        assert!(usage.cpu_percent(Instant::now()) >= 0.0);
    }
}
