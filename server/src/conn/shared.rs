//! The part of a connection that other connections touch: its outbound buffer, its
//! subscriptions, its closing state and its counters, plus the reply permissions a
//! `allow_responses` user collects as requests reach it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::outbound::Outbound;
use super::subscription::SubsBySid;
use super::{CloseReason, Kind, Subscription};
use crate::options::ResponsePermission;

/// Reply subjects a client may publish to (`allow_responses`): one grant per request it
/// received, used up after `max` replies or `expires`. Bounded like nats-server's: past
/// [`REPLY_PERMITS_PRUNE`] grants, spent and expired ones are dropped; the next prune waits
/// until the map has doubled (so a map of live grants is not rescanned on every request);
/// past [`REPLY_PERMITS_MAX`] live grants the oldest quarter is forgotten.
struct ResponsePermits {
    permission: ResponsePermission,
    /// Reply subject → (replies sent, when granted, grant number).
    granted: HashMap<Vec<u8>, (usize, Instant, u64)>,
    /// Grant numbers in order, to find the oldest ones.
    next_grant: u64,
    prune_at: usize,
}

/// Grants kept before the first prune (nats-server's `replyPermLimit`).
const REPLY_PERMITS_PRUNE: usize = 4096;
/// Most grants a client holds at once.
const REPLY_PERMITS_MAX: usize = 64 * 1024;

impl ResponsePermits {
    fn new(permission: ResponsePermission) -> ResponsePermits {
        ResponsePermits {
            permission,
            granted: HashMap::new(),
            next_grant: 0,
            prune_at: REPLY_PERMITS_PRUNE,
        }
    }

    fn expired(&self, granted: Instant, now: Instant) -> bool {
        self.permission
            .expires
            .is_some_and(|ttl| now.saturating_duration_since(granted) > ttl)
    }

    fn grant(&mut self, reply: &[u8]) {
        let n = self.next_grant;
        self.next_grant += 1;
        self.granted.insert(reply.to_vec(), (0, Instant::now(), n));
        if self.granted.len() > self.prune_at {
            self.prune();
        }
    }

    fn prune(&mut self) {
        let now = Instant::now();
        let max = self.permission.max;
        let ttl = self.permission.expires;
        self.granted.retain(|_, (used, at, _)| {
            *used < max && ttl.is_none_or(|t| now.saturating_duration_since(*at) <= t)
        });
        if self.granted.len() > REPLY_PERMITS_MAX {
            // Keep the newest three quarters.
            let mut order: Vec<u64> = self.granted.values().map(|(_, _, n)| *n).collect();
            let cut = order.len() - REPLY_PERMITS_MAX * 3 / 4;
            let (_, oldest_kept, _) = order.select_nth_unstable(cut);
            let oldest_kept = *oldest_kept;
            self.granted.retain(|_, (_, _, n)| *n >= oldest_kept);
        }
        self.prune_at = (self.granted.len() * 2).clamp(REPLY_PERMITS_PRUNE, REPLY_PERMITS_MAX);
    }

    /// Uses one reply to `subject`, if granted and not spent or expired.
    fn take(&mut self, subject: &[u8]) -> bool {
        let now = Instant::now();
        let Some(&(used, at, _)) = self.granted.get(subject) else {
            return false;
        };
        let ok = used < self.permission.max && !self.expired(at, now);
        if !ok || used + 1 >= self.permission.max {
            self.granted.remove(subject);
        } else if let Some(entry) = self.granted.get_mut(subject) {
            entry.0 = used + 1;
        }
        ok
    }
}

/// The parts of a connection other connections touch: its outbound buffer, its subscriptions
/// and its closing state.
pub struct ClientShared {
    /// Connection id (`cid`, or `rid` for routes: one counter).
    pub cid: u64,
    /// Client or route.
    pub kind: Kind,
    /// A client that came through the websocket listener.
    pub websocket: bool,
    /// Outbound buffer drained by the connection's writer.
    pub out: Outbound,
    /// Log prefix (`ip:port - cid:N - `).
    pub prefix: String,
    /// The peer negotiated headers: deliver HMSG as is.
    pub(crate) headers: AtomicBool,
    /// A protocol-1 client whose first PING was answered: it gets async INFO updates.
    pub(crate) async_info: AtomicBool,
    /// The payload limit an account or user JWT set below the server's (0: the server's),
    /// which every INFO to this client states, async ones included, as nats-server's do.
    pub(crate) lowered_payload: AtomicUsize,
    /// Reply subjects this client may publish to (`allow_responses`), with uses left and expiry.
    responses: Mutex<Option<ResponsePermits>>,
    /// Set once `responses` is configured, so deliveries to everyone else skip its lock.
    grants_responses: AtomicBool,
    /// Subscriptions by sid (for routes: by `account subject[ queue]`).
    pub(crate) subs: Mutex<SubsBySid>,
    /// Cancelled when the connection closes (a child of the server's shutdown token).
    closing: CancellationToken,
    /// Why it closed; the first reason wins.
    reason: Mutex<Option<CloseReason>>,
    /// When the connection was accepted.
    pub start: std::time::SystemTime,
    /// The peer's address.
    pub peer: SocketAddr,
    /// Monitoring counters: inbound traffic (added once per read batch), activity, RTT and
    /// what CONNECT said.
    pub stats: crate::stats::ConnStats,
}

impl ClientShared {
    /// A new connection's shared part.
    pub(crate) fn new(
        parent: &CancellationToken,
        cid: u64,
        kind: Kind,
        peer: SocketAddr,
        max_pending: usize,
    ) -> ClientShared {
        let prefix = match kind {
            Kind::Client => format!("{peer} - cid:{cid} - "),
            Kind::Router => format!("{peer} - rid:{cid} - "),
        };
        ClientShared {
            cid,
            kind,
            websocket: false,
            out: Outbound::new(max_pending),
            prefix,
            headers: AtomicBool::new(false),
            async_info: AtomicBool::new(false),
            lowered_payload: AtomicUsize::new(0),
            responses: Mutex::new(None),
            grants_responses: AtomicBool::new(false),
            subs: Mutex::new(SubsBySid::default()),
            closing: parent.child_token(),
            reason: Mutex::new(None),
            start: std::time::SystemTime::now(),
            peer,
            stats: crate::stats::ConnStats::default(),
        }
    }

    /// A websocket client's shared part: its log prefix says `wid:` and, behind a proxy
    /// that forwarded the client's address, starts with that address (as nats-server's).
    pub(crate) fn new_websocket(
        parent: &CancellationToken,
        cid: u64,
        peer: SocketAddr,
        max_pending: usize,
        client_ip: Option<std::net::IpAddr>,
    ) -> ClientShared {
        let prefix = match client_ip {
            Some(std::net::IpAddr::V6(ip)) => format!("[{ip}]/{peer} - wid:{cid} - "),
            Some(ip) => format!("{ip}/{peer} - wid:{cid} - "),
            None => format!("{peer} - wid:{cid} - "),
        };
        ClientShared {
            websocket: true,
            prefix,
            ..ClientShared::new(parent, cid, Kind::Client, peer, max_pending)
        }
    }

    /// Cancelled when the connection closes.
    pub(crate) fn closing(&self) -> &CancellationToken {
        &self.closing
    }

    /// Closes the connection for `reason` (the first reason wins). With `abort`, queued output
    /// is dropped instead of flushed.
    pub fn close(&self, reason: CloseReason, abort: bool) {
        {
            let mut r = self.reason.lock().unwrap_or_else(|e| e.into_inner());
            if r.is_none() {
                *r = Some(reason);
            }
        }
        self.out.close(abort);
        self.closing.cancel();
    }

    /// The close reason, once closed.
    pub fn close_reason(&self) -> Option<CloseReason> {
        *self.reason.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Removes and returns every subscription of the connection (it is closing).
    pub(crate) fn take_subscriptions(&self) -> Vec<Arc<Subscription>> {
        self.subs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .collect()
    }

    /// Number of subscriptions.
    pub fn subscription_count(&self) -> usize {
        self.subs.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub(crate) fn note_response(&self, reply: &[u8]) {
        // Called for every delivered message with a reply: most clients have no
        // `allow_responses`, and must not pay a lock for it.
        if !self.grants_responses.load(Ordering::Relaxed) {
            return;
        }
        let mut r = self.responses.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(permits) = r.as_mut() {
            permits.grant(reply);
        }
    }

    /// Starts granting reply permissions (`allow_responses`, at CONNECT).
    pub(crate) fn grant_responses(&self, permission: ResponsePermission) {
        *self.responses.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(ResponsePermits::new(permission));
        self.grants_responses.store(true, Ordering::Relaxed);
    }

    /// Consumes one use of a response permission for `subject`, if there is one.
    pub(crate) fn take_response(&self, subject: &[u8]) -> bool {
        let mut r = self.responses.lock().unwrap_or_else(|e| e.into_inner());
        r.as_mut().is_some_and(|permits| permits.take(subject))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn permits(max: usize, expires: Option<Duration>) -> ResponsePermits {
        ResponsePermits::new(ResponsePermission { max, expires })
    }

    #[test]
    fn a_reply_grant_is_used_up_after_max_replies() {
        let mut p = permits(2, None);
        p.grant(b"inbox.1");
        assert!(p.take(b"inbox.1"));
        assert!(p.take(b"inbox.1"));
        assert!(!p.take(b"inbox.1"));
        assert!(!p.take(b"inbox.2"), "never granted");
        assert!(p.granted.is_empty(), "a spent grant is forgotten");
    }

    #[test]
    fn a_reply_grant_expires() {
        let mut p = permits(1, Some(Duration::from_millis(1)));
        p.grant(b"inbox.1");
        std::thread::sleep(Duration::from_millis(5));
        assert!(!p.take(b"inbox.1"));
    }

    #[test]
    fn reply_grants_are_pruned_and_capped_oldest_first() {
        // Spent or expired grants go at the first prune.
        let mut p = permits(1, Some(Duration::from_millis(300)));
        for i in 0..REPLY_PERMITS_PRUNE {
            p.grant(format!("old.{i}").as_bytes());
        }
        std::thread::sleep(Duration::from_millis(400));
        p.grant(b"new");
        assert_eq!(p.granted.len(), 1);
        assert!(p.take(b"new"));
        // Live grants are kept up to the cap, then the oldest quarter goes.
        let mut p = permits(usize::MAX, None);
        for i in 0..=REPLY_PERMITS_MAX {
            p.grant(format!("r.{i}").as_bytes());
        }
        assert!(p.granted.len() <= REPLY_PERMITS_MAX);
        assert!(p.granted.len() >= REPLY_PERMITS_MAX / 2);
        assert!(!p.take(b"r.0"), "the oldest grant should have been dropped");
        assert!(p.take(format!("r.{REPLY_PERMITS_MAX}").as_bytes()));
    }
}
