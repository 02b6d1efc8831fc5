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
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use nats_proto::subject;

use crate::conn::Subscription;
use crate::import::{Rename, StreamImport};
use crate::mapping::Mapping;
use crate::options::{AccountConfig, Options, ServiceImportConfig};
use crate::service::{ResponseType, Responses, ServiceImport, DEFAULT_RESPONSE_THRESHOLD};
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
    /// The streams this account takes from others: its clients' subscriptions on their
    /// subjects get shadows in the exporters. Set once, when all accounts exist.
    stream_imports: OnceLock<Vec<StreamImport>>,
    /// The services this account imports from others: requests published here on their
    /// subjects go to the exporters. Set once, when all accounts exist.
    service_imports: OnceLock<Vec<ServiceImport>>,
    /// The reply subjects handed out for requests to this account's services (set when it
    /// exports a service).
    responses: OnceLock<Responses>,
    /// Traffic of the account's client connections that have closed (what open ones did
    /// is read from them), for per-account monitoring without a per-message counter.
    closed: Traffic,
    /// Client connections holding an [`AccountSlot`] (the account's connection limit).
    clients: AtomicUsize,
    /// The account's `limits {}` from the configuration (set once at start-up).
    limits: OnceLock<crate::options::AccountLimits>,
}

/// A client's place among its account's limited connections; dropping it frees the place.
pub struct AccountSlot(Arc<Account>);

impl Drop for AccountSlot {
    fn drop(&mut self) {
        self.0.clients.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Messages and payload bytes in both directions.
#[derive(Default)]
pub struct Traffic {
    in_msgs: AtomicU64,
    in_bytes: AtomicU64,
    out_msgs: AtomicU64,
    out_bytes: AtomicU64,
}

impl Traffic {
    /// Adds one connection's totals: `(messages, bytes)` received and delivered.
    pub fn add(&self, (in_msgs, in_bytes): (u64, u64), (out_msgs, out_bytes): (u64, u64)) {
        self.in_msgs.fetch_add(in_msgs, Ordering::Relaxed);
        self.in_bytes.fetch_add(in_bytes, Ordering::Relaxed);
        self.out_msgs.fetch_add(out_msgs, Ordering::Relaxed);
        self.out_bytes.fetch_add(out_bytes, Ordering::Relaxed);
    }

    /// `[in messages, in bytes, out messages, out bytes]`.
    pub fn totals(&self) -> [u64; 4] {
        [
            self.in_msgs.load(Ordering::Relaxed),
            self.in_bytes.load(Ordering::Relaxed),
            self.out_msgs.load(Ordering::Relaxed),
            self.out_bytes.load(Ordering::Relaxed),
        ]
    }
}

impl Account {
    /// An account named `name`, with no subscriptions and no imports of its streams yet.
    pub fn new(name: &str) -> Arc<Account> {
        Arc::new(Account {
            name: Bytes::copy_from_slice(name.as_bytes()),
            sublist: Arc::new(Sublist::new()),
            stream_imports: OnceLock::new(),
            service_imports: OnceLock::new(),
            responses: OnceLock::new(),
            closed: Traffic::default(),
            clients: AtomicUsize::new(0),
            limits: OnceLock::new(),
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

    /// The account's configured limits (none unless `limits {}` set some).
    pub fn limits(&self) -> crate::options::AccountLimits {
        self.limits.get().copied().unwrap_or_default()
    }

    /// The name as text.
    pub fn name_str(&self) -> &str {
        std::str::from_utf8(&self.name).unwrap_or(GLOBAL)
    }

    /// What a subscription in this account records of it: the name and the index.
    pub fn for_subscription(&self) -> (Bytes, Arc<Sublist<Subscription>>) {
        (self.name.clone(), self.sublist.clone())
    }

    /// The streams this account imports.
    #[inline]
    pub fn stream_imports(&self) -> &[StreamImport] {
        self.stream_imports.get().map_or(&[][..], Vec::as_slice)
    }

    /// Records the streams this account imports (once; later calls change nothing).
    pub fn set_stream_imports(&self, imports: Vec<StreamImport>) {
        let _ = self.stream_imports.set(imports);
    }

    /// The services this account imports.
    #[inline]
    pub fn service_imports(&self) -> &[ServiceImport] {
        self.service_imports.get().map_or(&[][..], Vec::as_slice)
    }

    /// Records the services this account imports (once; later calls change nothing).
    pub fn set_service_imports(&self, imports: Vec<ServiceImport>) {
        let _ = self.service_imports.set(imports);
    }

    /// The response mappings of this account's services, if it exports any.
    #[inline]
    pub fn responses(&self) -> Option<&Responses> {
        self.responses.get()
    }

    /// What the account's closed client connections received and were delivered.
    pub fn closed_traffic(&self) -> &Traffic {
        &self.closed
    }

    /// Makes this account a service exporter: it hands out reply subjects from now on.
    pub fn export_services(&self) {
        let _ = self.responses.set(Responses::new());
    }
}

/// The service import `i` as delivery uses it: the exporter's handle, the subject mapping,
/// and the response type and threshold of the export it falls under (checked when the
/// configuration was read, so a missing piece only means the import is left out).
fn service_import(
    accounts: &Accounts,
    options: &Options,
    i: &ServiceImportConfig,
) -> Option<ServiceImport> {
    let exporter = accounts.get(i.account.as_bytes())?.clone();
    let config: &AccountConfig = options.accounts.iter().find(|a| a.name == i.account)?;
    let services = || config.exports.iter().filter(|e| e.service);
    let export = services().find(|e| e.subject == i.subject).or_else(|| {
        services().find(|e| subject::is_subset(i.subject.as_bytes(), e.subject.as_bytes()))
    })?;
    Some(ServiceImport {
        local: Bytes::copy_from_slice(i.local.as_bytes()),
        subject: Bytes::copy_from_slice(i.subject.as_bytes()),
        exporter,
        mapping: Mapping::service_import(&i.local, &i.subject).ok()?,
        response_type: ResponseType::from_name(export.response_type.as_deref()),
        threshold: export
            .response_threshold
            .unwrap_or(DEFAULT_RESPONSE_THRESHOLD),
        share: i.share,
    })
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
        for importer in &options.accounts {
            let Some(account) = accounts.get(importer.name.as_bytes()) else {
                continue;
            };
            let _ = account.limits.set(importer.limits);
            let imports = importer
                .imports
                .iter()
                .filter_map(|i| {
                    let from = accounts.get(i.account.as_bytes())?.clone();
                    let rename = match (&i.prefix, &i.to) {
                        (Some(p), _) => Rename::Prefix(Bytes::copy_from_slice(p.as_bytes())),
                        (None, Some(to)) => {
                            Rename::To(Mapping::stream_import(&i.subject, to).ok()?)
                        }
                        (None, None) => Rename::Keep,
                    };
                    Some(StreamImport::new(from, &i.subject, rename))
                })
                .collect();
            account.set_stream_imports(imports);
        }
        for config in &options.accounts {
            if config.exports.iter().any(|e| e.service) {
                if let Some(exporter) = accounts.get(config.name.as_bytes()) {
                    exporter.export_services();
                }
            }
        }
        for importer in &options.accounts {
            let Some(account) = accounts.get(importer.name.as_bytes()) else {
                continue;
            };
            let imports = importer
                .service_imports
                .iter()
                .filter_map(|i| service_import(&accounts, options, i))
                .collect();
            account.set_service_imports(imports);
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

    /// How often expired response mappings should be dropped: half the shortest response
    /// threshold of an imported service (within 10 ms and 30 s), so a mapping lives at most
    /// about one and a half thresholds; None when no service is imported.
    pub fn response_sweep_interval(&self) -> Option<std::time::Duration> {
        let shortest = self
            .all()
            .flat_map(|a| a.service_imports())
            .map(|i| i.threshold)
            .min()?;
        Some((shortest / 2).clamp(
            std::time::Duration::from_millis(10),
            std::time::Duration::from_secs(30),
        ))
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
    fn the_global_account_always_exists_and_imports_filter_by_subject() {
        let a = Account::new("A");
        let b = Account::new("B");
        let accounts = Accounts::new([a.clone(), b.clone()]);
        assert_eq!(accounts.global().name_str(), GLOBAL);
        assert_eq!(accounts.len(), 3);
        assert!(accounts.get(b"A").is_some() && accounts.get(b"C").is_none());
        b.set_stream_imports(vec![StreamImport::new(a.clone(), "a.>", Rename::Keep)]);
        assert_eq!(b.stream_imports().len(), 1);
        assert!(a.stream_imports().is_empty());
    }
}
