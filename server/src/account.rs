//! Accounts: every connection belongs to one, and each account has its own subject space
//! (its own subject index), so no message crosses accounts except through a stream import.
//!
//! Clients of `authorization {}` and clients without credentials are in the global account
//! `$G`; users listed under `accounts { NAME { users } }` are in `NAME`. Routes carry the
//! account name in every `RS+`/`RS-`/`RMSG`, so each account's interest and traffic stay
//! apart across the cluster too.
//!
//! A leaf: it knows the subject index and the connection model, never the server.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use nats_proto::subject;

use crate::conn::Subscription;
use crate::options::Options;
use crate::sublist::{Sublist, SublistStats};

/// The global account's name: clients without an account of their own are in it.
pub const GLOBAL: &str = crate::options::GLOBAL_ACCOUNT;
/// The default system account's name.
pub const SYSTEM: &str = crate::options::SYSTEM_ACCOUNT;

/// One account: its name and its subject index.
pub struct Account {
    /// The account's name as it goes on routes.
    pub name: Bytes,
    /// The account's subject index: its clients' subscriptions and its routes' interest.
    pub sublist: Arc<Sublist<Subscription>>,
    /// Other accounts' imports of this account's streams: what is published here on a
    /// matching subject is delivered in them too. Set once, when all accounts exist.
    imported_by: OnceLock<Vec<StreamImport>>,
    /// Client connections holding an [`AccountSlot`] (operator mode's connection limit).
    clients: AtomicUsize,
}

/// A client's place among its account's limited connections; dropping it frees the place.
pub struct AccountSlot(Arc<Account>);

impl Drop for AccountSlot {
    fn drop(&mut self) {
        self.0.clients.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A stream another account imports from this one.
pub struct StreamImport {
    /// The exported subjects the importer takes (the import's subject, within the export).
    pub subject: Bytes,
    /// The importing account.
    pub into: Arc<Account>,
    /// How a subject is named in the importer.
    pub rename: Rename,
}

/// How an imported stream's subjects are named in the importing account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rename {
    /// As in the exporter.
    Keep,
    /// `prefix.` + the subject.
    Prefix(Bytes),
    /// One literal subject (`to:` on a literal import).
    To(Bytes),
}

impl Rename {
    /// Writes the importer's name of `subject` into `out` (cleared first).
    pub fn apply(&self, subject: &[u8], out: &mut Vec<u8>) {
        out.clear();
        match self {
            Rename::Keep => out.extend_from_slice(subject),
            Rename::Prefix(p) => {
                out.extend_from_slice(p);
                out.push(b'.');
                out.extend_from_slice(subject);
            }
            Rename::To(to) => out.extend_from_slice(to),
        }
    }
}

impl Account {
    /// An account named `name`, with no subscriptions and no imports of its streams yet.
    pub fn new(name: &str) -> Arc<Account> {
        Arc::new(Account {
            name: Bytes::copy_from_slice(name.as_bytes()),
            sublist: Arc::new(Sublist::new()),
            imported_by: OnceLock::new(),
            clients: AtomicUsize::new(0),
        })
    }

    /// Takes one of at most `max` client places of this account (an account JWT's `conn`
    /// limit); `None` when all are taken.
    pub fn try_add_client(self: &Arc<Self>, max: usize) -> Option<AccountSlot> {
        self.clients
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| AccountSlot(self.clone()))
    }

    /// The name as text.
    pub fn name_str(&self) -> &str {
        std::str::from_utf8(&self.name).unwrap_or(GLOBAL)
    }

    /// What a subscription in this account records of it: the name and the index.
    pub fn for_subscription(&self) -> (Bytes, Arc<Sublist<Subscription>>) {
        (self.name.clone(), self.sublist.clone())
    }

    /// The imports of this account's streams whose subjects take `subject`.
    #[inline]
    pub fn stream_imports_of<'a>(
        &'a self,
        subject: &'a [u8],
    ) -> impl Iterator<Item = &'a StreamImport> + 'a {
        self.imported_by
            .get()
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .filter(move |i| subject::matches(&i.subject, subject))
    }

    /// All imports of this account's streams.
    pub fn stream_imports(&self) -> &[StreamImport] {
        self.imported_by.get().map_or(&[][..], Vec::as_slice)
    }

    /// Records the imports of this account's streams (once; later calls change nothing).
    pub fn set_stream_imports(&self, imports: Vec<StreamImport>) {
        let _ = self.imported_by.set(imports);
    }
}

/// Every account of the server, by name. Built at start-up from the configuration; a route
/// naming an account we do not have is ignored, not given a new account.
pub struct Accounts {
    by_name: HashMap<Bytes, Arc<Account>>,
    global: Arc<Account>,
}

impl Accounts {
    /// The accounts of `options`: the global one, the configured ones, the system account
    /// (`$SYS` unless configured or turned off), and the configured stream imports. The
    /// configuration was checked when it was read (every import names an exporter that
    /// exports it to the importer), so nothing here can fail.
    pub fn from_options(options: &Options) -> Accounts {
        let mut all: Vec<Arc<Account>> = options
            .accounts
            .iter()
            .map(|a| Account::new(&a.name))
            .collect();
        if !options.no_system_account
            && options.system_account.is_none()
            && !options.accounts.iter().any(|a| a.name == SYSTEM)
        {
            all.push(Account::new(SYSTEM));
        }
        let accounts = Accounts::new(all);
        for exporter in accounts.all() {
            let imports = options
                .accounts
                .iter()
                .flat_map(|importer| importer.imports.iter().map(move |i| (importer, i)))
                .filter(|(_, i)| i.account.as_bytes() == &exporter.name[..])
                .filter_map(|(importer, i)| {
                    let into = accounts.get(importer.name.as_bytes())?.clone();
                    let rename = match (&i.prefix, &i.to) {
                        (Some(p), _) => Rename::Prefix(Bytes::copy_from_slice(p.as_bytes())),
                        (None, Some(to)) => Rename::To(Bytes::copy_from_slice(to.as_bytes())),
                        (None, None) => Rename::Keep,
                    };
                    Some(StreamImport {
                        subject: Bytes::copy_from_slice(i.subject.as_bytes()),
                        into,
                        rename,
                    })
                })
                .collect();
            exporter.set_stream_imports(imports);
        }
        accounts
    }

    /// The global account plus `accounts`.
    pub fn new(accounts: impl IntoIterator<Item = Arc<Account>>) -> Accounts {
        let global = Account::new(GLOBAL);
        let mut by_name: HashMap<Bytes, Arc<Account>> =
            accounts.into_iter().map(|a| (a.name.clone(), a)).collect();
        let global = by_name.entry(global.name.clone()).or_insert(global).clone();
        Accounts { by_name, global }
    }

    /// The global account `$G`.
    pub fn global(&self) -> &Arc<Account> {
        &self.global
    }

    /// The account named `name`, if the server has it.
    pub fn get(&self, name: &[u8]) -> Option<&Arc<Account>> {
        self.by_name.get(name)
    }

    /// Every account, in no particular order.
    pub fn all(&self) -> impl Iterator<Item = &Arc<Account>> {
        self.by_name.values()
    }

    /// Subscriptions in every account's index (local and remote interest).
    pub fn subscription_count(&self) -> usize {
        self.all().map(|a| a.sublist.count()).sum()
    }

    /// The statistics of every account's index added up, as nats-server's `/subsz` shows
    /// them: counts summed, the hit rate and average fan-out weighted by matches and cached
    /// results, the largest fan-out of all.
    pub fn sublist_stats(&self) -> SublistStats {
        let mut total = SublistStats::default();
        let (mut hits, mut fanout) = (0.0, 0.0);
        for s in self.all().map(|a| a.sublist.stats()) {
            total.num_subscriptions += s.num_subscriptions;
            total.num_cache += s.num_cache;
            total.num_inserts += s.num_inserts;
            total.num_removes += s.num_removes;
            total.num_matches += s.num_matches;
            total.max_fanout = total.max_fanout.max(s.max_fanout);
            hits += s.cache_hit_rate * s.num_matches as f64;
            fanout += s.avg_fanout * s.num_cache as f64;
        }
        if total.num_matches > 0 {
            total.cache_hit_rate = hits / total.num_matches as f64;
        }
        if total.num_cache > 0 {
            total.avg_fanout = fanout / total.num_cache as f64;
        }
        total
    }

    /// The number of accounts.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Never true: the global account always exists.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_name_imported_subjects_in_the_importer() {
        let mut out = Vec::new();
        Rename::Keep.apply(b"a.b", &mut out);
        assert_eq!(out, b"a.b");
        Rename::Prefix(Bytes::from_static(b"p")).apply(b"a.b", &mut out);
        assert_eq!(out, b"p.a.b");
        Rename::To(Bytes::from_static(b"local")).apply(b"a.b", &mut out);
        assert_eq!(out, b"local");
    }

    #[test]
    fn the_global_account_always_exists_and_imports_filter_by_subject() {
        let a = Account::new("A");
        let b = Account::new("B");
        let accounts = Accounts::new([a.clone(), b.clone()]);
        assert_eq!(accounts.global().name_str(), GLOBAL);
        assert_eq!(accounts.len(), 3);
        assert!(accounts.get(b"A").is_some() && accounts.get(b"C").is_none());
        a.set_stream_imports(vec![StreamImport {
            subject: Bytes::from_static(b"a.>"),
            into: b.clone(),
            rename: Rename::Keep,
        }]);
        assert_eq!(a.stream_imports_of(b"a.x").count(), 1);
        assert_eq!(a.stream_imports_of(b"b.x").count(), 0);
        assert_eq!(b.stream_imports_of(b"a.x").count(), 0);
    }
}
