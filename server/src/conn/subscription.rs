//! A subscription as the subject index stores it: a client's `SUB`, or a route's interest.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use super::ClientShared;
use crate::auth::ClientPermissions;
use crate::import::Rename;
use crate::sublist::Sublist;

/// A subscription as the subject index stores it.
pub struct Subscription {
    /// The subscribing connection.
    pub client: Arc<ClientShared>,
    /// The name of the account whose subject space it is in.
    pub account: Bytes,
    /// That account's subject index, where it is (or was) inserted.
    pub(crate) index: Arc<Sublist<Subscription>>,
    /// Subject filter.
    pub subject: Bytes,
    /// Queue group.
    pub queue: Option<Bytes>,
    /// The client's subscription id, as sent (rendered into every MSG line).
    pub sid: Bytes,
    /// Messages delivered so far.
    pub delivered: AtomicU64,
    /// Auto-unsubscribe limit (0: none).
    pub(crate) max: AtomicU64,
    /// Set when the subscriber's permissions deny some subjects this filter matches.
    pub(crate) deny_check: Option<Arc<ClientPermissions>>,
    /// Set on a shadow (an importer's subscription standing in an exporter's index, see
    /// [`crate::import`]): how the exporter's subject is named for the importer. A shadow
    /// counts its own deliveries: as in nats-server, an auto-unsubscribe limit applies to
    /// the messages of the importer's own account only.
    pub(crate) rename: Option<Box<Rename>>,
    /// A client's subscription's shadows in the exporters it imports from (set once, when
    /// it is added; removed with it).
    pub(crate) shadows: OnceLock<Box<[Arc<Subscription>]>>,
}

impl Subscription {
    /// A subscription of `client` in the account named `account`, whose index is `index`.
    pub(crate) fn new(
        client: Arc<ClientShared>,
        (account, index): (Bytes, Arc<Sublist<Subscription>>),
        subject: Bytes,
        queue: Option<Bytes>,
        sid: Bytes,
    ) -> Subscription {
        Subscription {
            client,
            account,
            index,
            subject,
            queue,
            sid,
            delivered: AtomicU64::new(0),
            max: AtomicU64::new(0),
            deny_check: None,
            rename: None,
            shadows: OnceLock::new(),
        }
    }

    /// A shadow of `primary` in an exporter's index (`account`, `index`), on the exporter's
    /// `subject`, renamed by `rename` on delivery.
    pub(crate) fn shadow(
        primary: &Arc<Subscription>,
        account: (Bytes, Arc<Sublist<Subscription>>),
        subject: Bytes,
        rename: Rename,
    ) -> Subscription {
        let mut shadow = Subscription::new(
            primary.client.clone(),
            account,
            subject,
            primary.queue.clone(),
            primary.sid.clone(),
        );
        shadow.deny_check = primary.deny_check.clone();
        shadow.rename = Some(Box::new(rename));
        shadow
    }

    /// The auto-unsubscribe limit (0: none).
    pub(crate) fn max(&self) -> u64 {
        self.max.load(Ordering::Relaxed)
    }

    /// Records the subscription in its connection's map, under its `sid` (a route's sid
    /// is `account subject[ queue]`, what its peer's `RS-` names): what `UNSUB` and the
    /// cleanup find.
    pub(crate) fn remember(self: &Arc<Self>) {
        self.client
            .subs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(self.clone());
    }

    /// Removes the subscription from its connection's map (if it is still the one there).
    pub(crate) fn forget(&self) {
        let mut subs = self.client.subs.lock().unwrap_or_else(|e| e.into_inner());
        if subs
            .get(&self.sid)
            .is_some_and(|s| std::ptr::eq(Arc::as_ptr(s), self))
        {
            subs.remove(&self.sid);
        }
    }
}

/// A connection's subscriptions by sid.
///
/// A set of the subscriptions themselves, looked up by the sid each one holds, rather than a
/// map from a copy of the sid: the copy would cost a 32-byte `Bytes` per entry (some 70 bytes
/// with the table's slack) to say what the entry already says. A route holds one entry per
/// remote subscription, hundreds of thousands on a big cluster.
#[derive(Default)]
pub(crate) struct SubsBySid(HashSet<BySid>);

/// A subscription hashed and compared by its sid.
pub(crate) struct BySid(Arc<Subscription>);

impl Borrow<[u8]> for BySid {
    fn borrow(&self) -> &[u8] {
        &self.0.sid
    }
}

// Hashed exactly as the `[u8]` it borrows as, so lookups by `&[u8]` find it.
impl Hash for BySid {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.sid[..].hash(state);
    }
}

impl PartialEq for BySid {
    fn eq(&self, other: &Self) -> bool {
        self.0.sid == other.0.sid
    }
}

impl Eq for BySid {}

impl SubsBySid {
    /// The subscription with this sid.
    pub(crate) fn get(&self, sid: &[u8]) -> Option<&Arc<Subscription>> {
        self.0.get(sid).map(|s| &s.0)
    }

    /// Whether a subscription has this sid.
    pub(crate) fn contains_key(&self, sid: &[u8]) -> bool {
        self.0.contains(sid)
    }

    /// Adds `sub` under its sid, replacing (and returning) any other one with that sid.
    pub(crate) fn insert(&mut self, sub: Arc<Subscription>) -> Option<Arc<Subscription>> {
        self.0.replace(BySid(sub)).map(|s| s.0)
    }

    /// Removes and returns the subscription with this sid.
    pub(crate) fn remove(&mut self, sid: &[u8]) -> Option<Arc<Subscription>> {
        self.0.take(sid).map(|s| s.0)
    }

    /// Every subscription, in no particular order.
    pub(crate) fn values(&self) -> Values<'_> {
        Values(self.0.iter())
    }

    /// How many there are.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Removes every subscription, handing them out.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = Arc<Subscription>> + '_ {
        self.0.drain().map(|s| s.0)
    }
}

/// The subscriptions of a [`SubsBySid`] (a named type without drop glue, so a borrow of the
/// set can end in the expression that iterates it, as with a map's `values()`).
pub(crate) struct Values<'a>(std::collections::hash_set::Iter<'a, BySid>);

impl<'a> Iterator for Values<'a> {
    type Item = &'a Arc<Subscription>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|s| &s.0)
    }
}
