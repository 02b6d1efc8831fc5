//! Counters the message path writes and monitoring reads: the server's traffic totals
//! ([`Stats`]) and each connection's ([`ConnStats`]), plus the clock they are stamped with.
//! Readers add their per-batch counts to the atomics once per read, never per message, so the
//! message path takes no lock for statistics; and it never reaches the monitoring code.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch (0 for times before it).
pub fn unix_nanos(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// The current time in nanoseconds since the Unix epoch.
pub fn now_nanos() -> i64 {
    unix_nanos(SystemTime::now())
}

/// Server-wide traffic counters, added to once per read batch.
#[derive(Default)]
pub struct Stats {
    /// Messages received from clients.
    pub in_msgs: AtomicU64,
    /// Payload bytes received from clients.
    pub in_bytes: AtomicU64,
    /// Messages delivered.
    pub out_msgs: AtomicU64,
    /// Payload bytes delivered.
    pub out_bytes: AtomicU64,
    /// Connections closed as slow consumers.
    pub slow_consumers: AtomicU64,
    /// Connections accepted since start.
    pub total_connections: AtomicU64,
}

impl Stats {
    /// Counts a slow consumer.
    pub fn count_slow_consumer(&self) {
        self.slow_consumers.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds one read batch's traffic.
    pub fn count_traffic(&self, in_msgs: u64, in_bytes: u64, out_msgs: u64, out_bytes: u64) {
        self.in_msgs.fetch_add(in_msgs, Ordering::Relaxed);
        self.in_bytes.fetch_add(in_bytes, Ordering::Relaxed);
        self.out_msgs.fetch_add(out_msgs, Ordering::Relaxed);
        self.out_bytes.fetch_add(out_bytes, Ordering::Relaxed);
    }
}

/// What a client said about itself in CONNECT, and who it authenticated as.
#[derive(Debug, Clone, Default)]
pub struct ConnMeta {
    /// CONNECT `name`.
    pub name: String,
    /// CONNECT `lang`.
    pub lang: String,
    /// CONNECT `version`.
    pub version: String,
    /// The authorized user (`/connz?auth=1`).
    pub user: String,
    /// The account's name (empty before CONNECT: the global account).
    pub account: String,
    /// Operator mode: the user JWT the client logged in with.
    pub jwt: Option<std::sync::Arc<JwtMeta>>,
}

/// What `/connz?auth=1` shows of a JWT login (operator mode).
#[derive(Debug, Clone, Default)]
pub struct JwtMeta {
    /// The user JWT as presented.
    pub jwt: String,
    /// The key that signed it (the account or one of its signing keys).
    pub issuer_key: String,
    /// The JWT's `name`.
    pub name_tag: String,
}

/// Monitoring counters of one connection (client or route).
#[derive(Debug, Default)]
pub struct ConnStats {
    in_msgs: AtomicU64,
    in_bytes: AtomicU64,
    /// Unix nanoseconds of the last inbound message, subscription or CONNECT (0: none yet).
    last_activity: AtomicI64,
    /// Last measured round-trip time in nanoseconds (0: not measured yet).
    rtt: AtomicU64,
    meta: Mutex<ConnMeta>,
}

impl ConnStats {
    /// Adds one read batch's inbound messages and payload bytes, and marks activity.
    pub fn add_in(&self, msgs: u64, bytes: u64) {
        if msgs > 0 {
            self.in_msgs.fetch_add(msgs, Ordering::Relaxed);
            self.in_bytes.fetch_add(bytes, Ordering::Relaxed);
            self.touch();
        }
    }

    /// Marks activity now (a subscription, a CONNECT).
    pub fn touch(&self) {
        self.last_activity.store(now_nanos(), Ordering::Relaxed);
    }

    /// Inbound messages and payload bytes so far.
    pub fn inbound(&self) -> (u64, u64) {
        (
            self.in_msgs.load(Ordering::Relaxed),
            self.in_bytes.load(Ordering::Relaxed),
        )
    }

    /// Unix nanoseconds of the last inbound activity (0: none).
    pub fn last_activity(&self) -> i64 {
        self.last_activity.load(Ordering::Relaxed)
    }

    /// Records a measured round-trip time.
    pub fn set_rtt(&self, rtt: Duration) {
        let nanos = u64::try_from(rtt.as_nanos()).unwrap_or(u64::MAX).max(1);
        self.rtt.store(nanos, Ordering::Relaxed);
    }

    /// The last measured round-trip time (zero before the first measurement).
    pub fn rtt(&self) -> Duration {
        Duration::from_nanos(self.rtt.load(Ordering::Relaxed))
    }

    /// Stores what CONNECT said (not on the message path).
    pub fn set_meta(&self, meta: ConnMeta) {
        *self.meta.lock().unwrap_or_else(|e| e.into_inner()) = meta;
    }

    /// A copy of what CONNECT said.
    pub fn meta(&self) -> ConnMeta {
        self.meta.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Go's `time.Time` JSON form (RFC 3339 with nanoseconds, trailing zeros trimmed), in UTC.
pub fn rfc3339_nanos(nanos: i64) -> String {
    let secs = nanos.div_euclid(1_000_000_000);
    let frac = nanos.rem_euclid(1_000_000_000) as u32;
    let Some(dt) = chrono::DateTime::from_timestamp(secs, frac) else {
        return "0001-01-01T00:00:00Z".into();
    };
    let mut out = dt.format("%Y-%m-%dT%H:%M:%S").to_string();
    if frac != 0 {
        let digits = format!("{frac:09}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbound_counts_add_up_per_batch() {
        let s = ConnStats::default();
        assert_eq!(s.last_activity(), 0);
        s.add_in(3, 15);
        s.add_in(0, 0);
        s.add_in(2, 10);
        assert_eq!(s.inbound(), (5, 25));
        assert!(s.last_activity() > 0);
    }
}
