//! A subscription as the subject index stores it: a client's `SUB`, or a route's interest.

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

    /// Records the subscription in its connection's map, under its `sid` (a route keys
    /// its peer's interest by subject and queue): what `UNSUB` and the cleanup find.
    pub(crate) fn remember(self: &Arc<Self>, key: Bytes) {
        self.client
            .subs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, self.clone());
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
