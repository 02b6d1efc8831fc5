//! The subject index: which subscriptions does a published subject reach?
//!
//! A [`Sublist`] is a trie with one level per subject token. Every node has literal children
//! (keyed by the token bytes: a short vector while there are few, a hash map beyond) plus at
//! most one `*` child and one `>` child, and holds the entries whose filter ends there: plain
//! subscriptions in one set, queue subscriptions in one set per queue name. It plays the role
//! of nats-server's `sublist.go`, with the same observable behaviour (match order, grouping of
//! queue members by name, weighted remote queue entries, a bounded result cache and a
//! generation counter for per-connection caches).
//!
//! # Memory
//!
//! A server on a big cluster holds hundreds of thousands of entries, local and remote, and
//! most of a trie is leaves: nodes with one entry and at most a child or two. So a node is
//! kept to 48 bytes (rare parts boxed), a level of few children is a vector of exactly
//! those children, tokens up to 22 bytes are stored inline, and an entry set makes room for
//! one entry at first: `bench.<i>.x` costs about 300 bytes of index per subscription.
//!
//! # Hot path
//!
//! [`Sublist::matches`] first looks the subject up in a bounded result cache; a hit clones one
//! `Arc` and allocates nothing. On a miss it walks the trie under a shared read lock with the
//! tokens taken from a borrowing `split` iterator, builds one [`SubResult`], and stores it in the
//! cache. Inserts and removes patch or evict the affected cache entries while they still hold the
//! trie's write lock, so a cached result always holds exactly the entries a fresh walk would
//! find. (A patched result has the new entry appended at the end, as in nats-server, so its
//! order can differ from a fresh walk's; only the order of whole levels is observable anyway.)
//!
//! # Lock order
//!
//! Two `std::sync::RwLock`s: `trie` and `cache`. Whoever holds both took `trie` first:
//!
//! * writers (`insert`, `remove`): `trie` (write), then `cache` (write), then release both;
//! * a cache hit: `cache` (read) only;
//! * a cache miss: `trie` (read) to build the result, released, *then* `cache` (write) to store
//!   it, never both at once. The store is skipped if the generation moved in between (see
//!   [`Sublist::matches`] for why that keeps the cache coherent);
//! * `stats`: `trie` (read), released, then `cache` (read).
//!
//! No lock is held across anything slow: there is no I/O or `.await` in this module. Poisoned
//! locks are recovered rather than propagated: no code here panics on any input while holding
//! a guard, so the data behind a poisoned lock is still consistent.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;

mod result;

use nats_proto::subject::{has_wildcard, is_valid_subject, matches as filter_matches, SEPARATOR};
pub use result::{QueueGroup, SubResult, SublistStats};

/// The result-cache bound used by [`Sublist::new`]: nats-server's `slCacheMax`.
pub const DEFAULT_CACHE_SIZE: usize = 1024;

/// The largest weight a queue entry can carry; larger weights are clamped to it.
///
/// A weighted entry is repeated `weight` times in every match result, and the weight of a remote
/// queue entry comes from a peer's `RS+` line, so it must not be able to pick the size of an
/// allocation freely. 4096 members per group per server is far above any real deployment; above
/// it the only effect is a slightly less even spread across servers.
pub const MAX_QUEUE_WEIGHT: u32 = 4096;

/// Below this many entries a node's entry set is searched linearly; above it a pointer index
/// keeps removal O(1) (a subject with thousands of subscribers, e.g. a fan-out topic).
const INDEX_THRESHOLD: usize = 32;

/// A subject (or queue name) that cannot be subscribed to: empty, an empty token (`foo..bar`,
/// `.foo`, `foo.`), `>` not as the last token, or whitespace inside a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidSubject;

impl fmt::Display for InvalidSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid subject")
    }
}

impl std::error::Error for InvalidSubject {}

/// The result cache: published subject -> shared result.
type Cache<T> = HashMap<Box<[u8]>, Arc<SubResult<T>>>;

/// The subject index shared by all connections (and routes) of one account.
///
/// Entries are `Arc<T>`; an entry is identified by its subject, its queue name and the `Arc`'s
/// pointer (`Arc::ptr_eq`), so the same handle may be inserted under several subjects.
pub struct Sublist<T> {
    /// The trie and the counters that change with it.
    trie: RwLock<Trie<T>>,
    /// Published subject -> result. Kept coherent by writers (see the module doc).
    cache: RwLock<Cache<T>>,
    /// The cache bound; 0 disables caching.
    cache_max: usize,
    /// Bumped by every insert and remove, while the writer still holds the cache lock.
    generation: AtomicU64,
    /// Every call to `matches`.
    num_matches: AtomicU64,
    /// Calls to `matches` not served from the cache. Counting misses instead of hits keeps the
    /// hit path at a single atomic increment.
    num_misses: AtomicU64,
    /// The shared empty result, so subjects nobody listens to cost no allocation.
    empty: Arc<SubResult<T>>,
}

impl<T: Send + Sync> Default for Sublist<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Send + Sync> Sublist<T> {
    /// An empty index with the default cache bound ([`DEFAULT_CACHE_SIZE`]).
    pub fn new() -> Self {
        Self::with_cache_size(DEFAULT_CACHE_SIZE)
    }

    /// An empty index whose result cache holds at most `max` subjects; `0` disables the cache
    /// (useful where interest changes far more often than it is matched).
    pub fn with_cache_size(max: usize) -> Self {
        Sublist {
            trie: RwLock::new(Trie {
                root: Level::default(),
                count: 0,
                inserts: 0,
                removes: 0,
            }),
            cache: RwLock::new(HashMap::new()),
            cache_max: max,
            generation: AtomicU64::new(0),
            num_matches: AtomicU64::new(0),
            num_misses: AtomicU64::new(0),
            empty: Arc::new(SubResult::default()),
        }
    }

    /// Adds `sub` under the filter `subject` (wildcards allowed), in queue group `queue` if
    /// given. `weight` is how many members a queue entry stands for (remote route entries carry
    /// the member count of the other server); 0 counts as 1, values above
    /// [`MAX_QUEUE_WEIGHT`] are clamped, and it is ignored for plain entries.
    ///
    /// Inserting an entry that is already there (same subject, queue and `Arc`) does not add a
    /// second copy: it updates the weight, which is how re-sent `RS+` lines change weights.
    pub fn insert(
        &self,
        subject: &[u8],
        queue: Option<&[u8]>,
        weight: u32,
        sub: Arc<T>,
    ) -> Result<(), InvalidSubject> {
        if !is_valid_subject(subject) || queue.is_some_and(|q| q.is_empty()) {
            return Err(InvalidSubject);
        }
        let weight = if queue.is_some() {
            weight.clamp(1, MAX_QUEUE_WEIGHT)
        } else {
            1
        };

        let mut trie = write(&self.trie);
        let node = trie.root.node_or_insert(subject);
        let (outcome, queue_name) = match queue {
            None => (node.plain.upsert(&sub, 1), None),
            Some(name) => {
                let group = node.queue_or_insert(name);
                // The trie's copy of the name, so cached results share its allocation.
                (group.members.upsert(&sub, weight), Some(group.name.clone()))
            }
        };
        trie.inserts += 1;
        if outcome == Upsert::Added {
            trie.count += 1;
        }

        let mut cache = write(&self.cache);
        match outcome {
            Upsert::Added => patch_added(&mut cache, subject, queue_name.as_ref(), &sub, weight),
            // The old weight's copies would have to be found and trimmed in every result;
            // weight changes are rare, so evicting is simpler.
            Upsert::Reweighted => evict_matching(&mut cache, subject),
            Upsert::Unchanged => {}
        }
        self.generation.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// Removes the entry `sub` stored under `subject` and `queue`; returns whether it was
    /// there. Trie nodes left without entries or children are freed.
    pub fn remove(&self, subject: &[u8], queue: Option<&[u8]>, sub: &Arc<T>) -> bool {
        if !is_valid_subject(subject) || queue.is_some_and(|q| q.is_empty()) {
            return false;
        }
        let mut trie = write(&self.trie);
        if !trie.root.remove_entry(subject, queue, sub) {
            return false;
        }
        trie.removes += 1;
        trie.count = trie.count.saturating_sub(1);

        let mut cache = write(&self.cache);
        // Evict rather than patch, as nats-server does: a result may hold the entry several
        // times (weights) and the next match rebuilds it from the trie anyway.
        evict_matching(&mut cache, subject);
        self.generation.fetch_add(1, Ordering::Release);
        true
    }

    /// Everything the literal, published `subject` reaches.
    ///
    /// Wildcard tokens in a published subject (non-pedantic clients may send them) are treated
    /// as literal tokens, like nats-server: publishing `foo.*` reaches the filters `foo.*`,
    /// `foo.>` and `>`, but not `foo.bar`. A subject with an empty token (`foo..bar`, `.foo`,
    /// `foo.`, or the empty subject) reaches nothing.
    pub fn matches(&self, subject: &[u8]) -> Arc<SubResult<T>> {
        self.num_matches.fetch_add(1, Ordering::Relaxed);
        if self.cache_max > 0 {
            if let Some(hit) = read(&self.cache).get(subject) {
                return Arc::clone(hit);
            }
        }
        self.num_misses.fetch_add(1, Ordering::Relaxed);
        if has_empty_token(subject) {
            return Arc::clone(&self.empty);
        }

        // Read the generation *before* the trie. Writers bump it after changing the trie and
        // while holding the cache lock, after fixing up the cache. So if it is unchanged when
        // we hold the cache lock below, every write we missed in the trie has not touched the
        // cache yet and will fix up (or evict) the entry we store; if it changed, a write may
        // have come and gone without seeing our entry, and we do not store.
        let seen = self.generation.load(Ordering::Acquire);
        let mut built = SubResult::default();
        {
            let trie = read(&self.trie);
            match_subject(&trie.root, tokens(subject), &mut built);
        }
        let result = if built.is_empty() {
            Arc::clone(&self.empty)
        } else {
            Arc::new(built)
        };

        if self.cache_max > 0 {
            let mut cache = write(&self.cache);
            if self.generation.load(Ordering::Acquire) == seen {
                cache.insert(Box::from(subject), Arc::clone(&result));
                if cache.len() > self.cache_max {
                    // Sweep well below the bound, as nats-server does (1024 -> 256), so the
                    // sweep's cost is paid once per many misses rather than on every one.
                    sweep(&mut cache, self.cache_max / 4);
                }
            }
        }
        result
    }

    /// A counter bumped by every insert and remove. A per-connection cache of match results
    /// stays valid while this value is unchanged.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The number of entries stored.
    pub fn count(&self) -> usize {
        read(&self.trie).count
    }

    /// The counters behind `/subsz`.
    pub fn stats(&self) -> SublistStats {
        let (count, inserts, removes) = {
            let trie = read(&self.trie);
            (trie.count, trie.inserts, trie.removes)
        };
        let matches = self.num_matches.load(Ordering::Relaxed);
        let misses = self.num_misses.load(Ordering::Relaxed);
        let (num_cache, max_fanout, total_fanout) = {
            let cache = read(&self.cache);
            let mut max = 0usize;
            let mut total = 0usize;
            for result in cache.values() {
                let fanout = result.plain.len() + result.queues.len();
                max = max.max(fanout);
                total += fanout;
            }
            (cache.len(), max, total)
        };
        SublistStats {
            num_subscriptions: count as u64,
            num_cache: num_cache as u64,
            num_inserts: inserts,
            num_removes: removes,
            num_matches: matches,
            // The two counters are read separately, so misses may briefly exceed matches.
            cache_hit_rate: if matches == 0 {
                0.0
            } else {
                matches.saturating_sub(misses) as f64 / matches as f64
            },
            max_fanout: max_fanout as u64,
            avg_fanout: if num_cache == 0 {
                0.0
            } else {
                total_fanout as f64 / num_cache as f64
            },
        }
    }

    /// The number of trie nodes, to check that removal frees what insertion built.
    #[cfg(test)]
    fn node_count(&self) -> usize {
        read(&self.trie).root.node_count()
    }

    /// A match straight from the trie, bypassing the cache, to check cache coherence.
    #[cfg(test)]
    fn match_uncached(&self, subject: &[u8]) -> SubResult<T> {
        let mut out = SubResult::default();
        if !has_empty_token(subject) {
            match_subject(&read(&self.trie).root, tokens(subject), &mut out);
        }
        out
    }
}

/// The tokens of a subject, borrowed (no allocation). Unlike `nats_proto::subject::tokens` the
/// iterator is `Clone`, which the trie walk needs to branch into the `*` child.
fn tokens(subject: &[u8]) -> impl Iterator<Item = &[u8]> + Clone {
    subject.split(|b| *b == SEPARATOR)
}

/// Takes a read lock, recovering from poisoning (see the module doc).
fn read<G>(lock: &RwLock<G>) -> RwLockReadGuard<'_, G> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

/// Takes a write lock, recovering from poisoning (see the module doc).
fn write<G>(lock: &RwLock<G>) -> RwLockWriteGuard<'_, G> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

/// Whether a published subject has an empty token (and so can match nothing). A plain scan for
/// `.` positions: no allocation, no tokenising.
fn has_empty_token(subject: &[u8]) -> bool {
    if matches!(subject.first(), None | Some(b'.')) || subject.last() == Some(&b'.') {
        return true;
    }
    memchr::memchr_iter(b'.', subject).any(|i| subject.get(i + 1) == Some(&b'.'))
}

/// Appends `sub` to a queue group's member list `weight` times.
fn push_weighted<T>(members: &mut Vec<Arc<T>>, sub: &Arc<T>, weight: u32) {
    for _ in 0..weight {
        members.push(Arc::clone(sub));
    }
}

/// Adds a new entry to every cached result whose subject its filter matches.
fn patch_added<T>(
    cache: &mut Cache<T>,
    filter: &[u8],
    queue: Option<&Bytes>,
    sub: &Arc<T>,
    weight: u32,
) {
    if has_wildcard(filter) {
        for (subject, result) in cache.iter_mut() {
            if filter_matches(filter, subject) {
                *result = Arc::new(result.with_entry(queue, sub, weight));
            }
        }
    } else if let Some(result) = cache.get_mut(filter) {
        // A literal filter matches exactly one published subject: itself.
        *result = Arc::new(result.with_entry(queue, sub, weight));
    }
}

/// Drops every cached result whose subject `filter` matches.
fn evict_matching<T>(cache: &mut Cache<T>, filter: &[u8]) {
    if has_wildcard(filter) {
        cache.retain(|subject, _| !filter_matches(filter, subject));
    } else {
        cache.remove(filter);
    }
}

/// Shrinks the cache to `target` entries, dropping whichever come first in the map's (seeded,
/// effectively random) iteration order.
fn sweep<T>(cache: &mut Cache<T>, target: usize) {
    let mut excess = cache.len().saturating_sub(target);
    cache.retain(|_, _| {
        if excess == 0 {
            true
        } else {
            excess -= 1;
            false
        }
    });
}

/// The walk of a published subject through the trie, in nats-server's order: at each level the
/// `>` node's entries first, then the `*` branch (fully, with the remaining tokens), then on
/// along the literal token; at the end of a branch, its last literal node's entries, then its
/// last `*` node's. Published tokens are only ever looked up as literals, so a published `*`
/// reaches `*` filters through the wildcard branch, never a literal `*`-named node (there is
/// none).
///
/// nats-server recurses into the `*` branch; here the suspended branches go on an explicit
/// stack instead, so a subject with thousands of tokens (and a matching `*.*.*...` filter)
/// cannot overflow a worker thread's stack. The stack only allocates when a `*` branch is
/// taken.
fn match_subject<'a, 's, T, I>(root: &'a Level<T>, toks: I, out: &mut SubResult<T>)
where
    I: Iterator<Item = &'s [u8]> + Clone,
{
    let mut suspended: Vec<Branch<'a, T, I>> = Vec::new();
    let mut branch = Branch {
        level: Some(root),
        toks,
        literal: None,
        partial: None,
    };
    loop {
        let finished = match branch.toks.next() {
            Some(tok) => match branch.level {
                // Tokens left but no level to match them: this branch reaches nothing more.
                None => true,
                Some(level) => {
                    if let Some(full) = level.fwc.as_deref() {
                        out.add_node(full);
                    }
                    branch.partial = level.pwc.as_deref();
                    branch.literal = level.literal.get(tok);
                    branch.level = branch.literal.and_then(|n| n.next.as_deref());
                    if let Some(next) = branch.partial.and_then(|p| p.next.as_deref()) {
                        // Walk the `*` branch to its end before going on with this one.
                        let child = Branch {
                            level: Some(next),
                            toks: branch.toks.clone(),
                            literal: None,
                            partial: None,
                        };
                        suspended.push(std::mem::replace(&mut branch, child));
                    }
                    false
                }
            },
            None => {
                if let Some(node) = branch.literal {
                    out.add_node(node);
                }
                if let Some(node) = branch.partial {
                    out.add_node(node);
                }
                true
            }
        };
        if finished {
            match suspended.pop() {
                Some(parent) => branch = parent,
                None => return,
            }
        }
    }
}

/// One branch of the trie walk: where it is, what is left of the subject, and the nodes its
/// last step reached (the literal one and the `*` one), whose entries it adds at its end.
struct Branch<'a, T, I> {
    level: Option<&'a Level<T>>,
    toks: I,
    literal: Option<&'a Node<T>>,
    partial: Option<&'a Node<T>>,
}

/// The trie plus the counters its writers maintain (all under the same lock).
struct Trie<T> {
    root: Level<T>,
    count: usize,
    inserts: u64,
    removes: u64,
}

/// The children of one node (or of the root): one per distinct token at this depth.
struct Level<T> {
    /// Literal tokens (anything but a whole-token `*` or `>`).
    literal: Children<T>,
    /// The `*` child.
    pwc: Option<Box<Node<T>>>,
    /// The `>` child (always a leaf: `>` must be the last token).
    fwc: Option<Box<Node<T>>>,
}

impl<T> Default for Level<T> {
    fn default() -> Self {
        Level {
            literal: Children::Few(Vec::new()),
            pwc: None,
            fwc: None,
        }
    }
}

/// Above this many literal children a level keeps them in a hash map; up to it, in a vector
/// searched linearly (most levels have one child: the rest of one subject).
const FEW_CHILDREN: usize = 8;

/// The literal children of a level, by token.
///
/// Most levels of a real subject space have one or two children (`bench.<i>.x` has a level
/// per subscription below `bench.<i>`, each with the single child `x`), and an empty hash
/// map grows to four or more slots on its first insert: a short vector of exactly the
/// children there are is a fraction of that, and no slower to search at this size.
enum Children<T> {
    /// At most [`FEW_CHILDREN`], in insertion order (swapped on removal).
    Few(Vec<(Token, Node<T>)>),
    /// More than that (boxed, so a level of few children stays small).
    // Boxed for the size of the enum, not for the heap (which is what the lint assumes).
    #[allow(clippy::box_collection)]
    Many(Box<HashMap<Token, Node<T>>>),
}

impl<T> Children<T> {
    fn len(&self) -> usize {
        match self {
            Children::Few(v) => v.len(),
            Children::Many(m) => m.len(),
        }
    }

    #[inline]
    fn get(&self, tok: &[u8]) -> Option<&Node<T>> {
        match self {
            Children::Few(v) => v.iter().find(|(k, _)| k.bytes() == tok).map(|(_, n)| n),
            Children::Many(m) => m.get(tok),
        }
    }

    fn get_mut(&mut self, tok: &[u8]) -> Option<&mut Node<T>> {
        match self {
            Children::Few(v) => v.iter_mut().find(|(k, _)| k.bytes() == tok).map(|(_, n)| n),
            Children::Many(m) => m.get_mut(tok),
        }
    }

    fn get_or_insert(&mut self, tok: &[u8]) -> &mut Node<T> {
        if let Children::Few(v) = self {
            if v.len() == FEW_CHILDREN && !v.iter().any(|(k, _)| k.bytes() == tok) {
                let mut map = HashMap::with_capacity(FEW_CHILDREN * 2);
                map.extend(v.drain(..));
                *self = Children::Many(Box::new(map));
            }
        }
        match self {
            Children::Few(v) => {
                let at = match v.iter().position(|(k, _)| k.bytes() == tok) {
                    Some(at) => at,
                    None => {
                        // Exactly one more: a vector's own growth would double it.
                        v.reserve_exact(1);
                        v.push((Token::new(tok), Node::default()));
                        v.len() - 1
                    }
                };
                &mut v[at].1
            }
            Children::Many(m) => m.entry(Token::new(tok)).or_default(),
        }
    }

    fn remove(&mut self, tok: &[u8]) {
        match self {
            Children::Few(v) => {
                if let Some(at) = v.iter().position(|(k, _)| k.bytes() == tok) {
                    v.swap_remove(at);
                }
            }
            Children::Many(m) => {
                m.remove(tok);
                // Back to a vector well below the switch point, so a level hovering around
                // it does not convert on every other call.
                if m.len() <= FEW_CHILDREN / 2 {
                    let mut few = Vec::with_capacity(m.len());
                    few.extend(m.drain());
                    *self = Children::Few(few);
                }
            }
        }
    }

    #[cfg(test)]
    fn values(&self) -> impl Iterator<Item = &Node<T>> {
        let (few, many) = match self {
            Children::Few(v) => (Some(v), None),
            Children::Many(m) => (None, Some(m)),
        };
        few.into_iter()
            .flat_map(|v| v.iter().map(|(_, n)| n))
            .chain(many.into_iter().flat_map(|m| m.values()))
    }

    fn values_mut(&mut self) -> impl Iterator<Item = &mut Node<T>> {
        let (few, many) = match self {
            Children::Few(v) => (Some(v), None),
            Children::Many(m) => (None, Some(m)),
        };
        few.into_iter()
            .flat_map(|v| v.iter_mut().map(|(_, n)| n))
            .chain(many.into_iter().flat_map(|m| m.values_mut()))
    }
}

/// The longest token a [`Token`] holds without an allocation of its own.
const INLINE_TOKEN: usize = 22;

/// A subject token as a trie key: short ones (almost all) inline, in the same 24 bytes a
/// boxed slice and its tag take, so a new node costs no separate allocation for its key.
#[derive(Clone)]
enum Token {
    Inline { len: u8, bytes: [u8; INLINE_TOKEN] },
    Heap(Box<[u8]>),
}

impl Token {
    fn new(tok: &[u8]) -> Token {
        if tok.len() <= INLINE_TOKEN {
            let mut bytes = [0u8; INLINE_TOKEN];
            bytes[..tok.len()].copy_from_slice(tok);
            Token::Inline {
                len: tok.len() as u8,
                bytes,
            }
        } else {
            Token::Heap(Box::from(tok))
        }
    }

    #[inline]
    fn bytes(&self) -> &[u8] {
        match self {
            Token::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Token::Heap(b) => b,
        }
    }
}

impl std::borrow::Borrow<[u8]> for Token {
    fn borrow(&self) -> &[u8] {
        self.bytes()
    }
}

// Hashed and compared as the bytes it borrows as, so maps find it by `&[u8]`.
impl std::hash::Hash for Token {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.bytes().hash(state);
    }
}

impl PartialEq for Token {
    fn eq(&self, other: &Token) -> bool {
        self.bytes() == other.bytes()
    }
}

impl Eq for Token {}

impl<T> Drop for Level<T> {
    /// Tears deep tries down iteratively: the default drop would recurse once per token of the
    /// longest subject, which a client controls.
    fn drop(&mut self) {
        let mut pending = Vec::new();
        self.detach_children(&mut pending);
        while let Some(mut level) = pending.pop() {
            level.detach_children(&mut pending);
            // `level` has no grandchildren left, so dropping it here recurses one level only.
        }
    }
}

impl<T> Level<T> {
    /// Moves the next levels of all child nodes into `out` (see `Drop`).
    fn detach_children(&mut self, out: &mut Vec<Level<T>>) {
        let wildcards = self
            .pwc
            .iter_mut()
            .chain(self.fwc.iter_mut())
            .map(|n| &mut **n);
        for node in self.literal.values_mut().chain(wildcards) {
            if let Some(next) = node.next.take() {
                out.push(*next);
            }
        }
    }

    /// How many child nodes this level has.
    fn num_children(&self) -> usize {
        self.literal.len() + usize::from(self.pwc.is_some()) + usize::from(self.fwc.is_some())
    }

    /// The child for a filter token (`*` and `>` are the wildcard children).
    fn child(&self, tok: &[u8]) -> Option<&Node<T>> {
        match tok {
            [b'*'] => self.pwc.as_deref(),
            [b'>'] => self.fwc.as_deref(),
            _ => self.literal.get(tok),
        }
    }

    /// The child for a filter token, mutably.
    fn child_mut(&mut self, tok: &[u8]) -> Option<&mut Node<T>> {
        match tok {
            [b'*'] => self.pwc.as_deref_mut(),
            [b'>'] => self.fwc.as_deref_mut(),
            _ => self.literal.get_mut(tok),
        }
    }

    /// The child for a filter token, created if missing.
    fn child_or_insert(&mut self, tok: &[u8]) -> &mut Node<T> {
        match tok {
            [b'*'] => self.pwc.get_or_insert_with(Box::default),
            [b'>'] => self.fwc.get_or_insert_with(Box::default),
            // Inserts are rare next to matches; one small key allocation per token is fine.
            _ => self.literal.get_or_insert(tok),
        }
    }

    /// Unlinks the child for a filter token (and everything below it).
    fn remove_child(&mut self, tok: &[u8]) {
        match tok {
            [b'*'] => self.pwc = None,
            [b'>'] => self.fwc = None,
            _ => {
                self.literal.remove(tok);
            }
        }
    }

    /// The node for the (valid) filter `subject`, creating the path to it.
    fn node_or_insert(&mut self, subject: &[u8]) -> &mut Node<T> {
        let mut toks = tokens(subject);
        // `split` always yields at least one token, so the fallback is never used.
        let mut tok = toks.next().unwrap_or(subject);
        let mut level = self;
        loop {
            let node = level.child_or_insert(tok);
            match toks.next() {
                None => return node,
                Some(next_tok) => {
                    level = &mut **node.next.get_or_insert_with(Box::default);
                    tok = next_tok;
                }
            }
        }
    }

    /// The node reached by following `toks` from this level, if the whole path exists.
    fn node_mut<'s>(&mut self, mut toks: impl Iterator<Item = &'s [u8]>) -> Option<&mut Node<T>> {
        let mut tok = toks.next()?;
        let mut level = self;
        loop {
            let node = level.child_mut(tok)?;
            match toks.next() {
                None => return Some(node),
                Some(next_tok) => {
                    level = node.next.as_deref_mut()?;
                    tok = next_tok;
                }
            }
        }
    }

    /// Removes one entry and prunes the nodes that no longer lead anywhere.
    fn remove_entry(&mut self, subject: &[u8], queue: Option<&[u8]>, sub: &Arc<T>) -> bool {
        let Some(node) = self.node_mut(tokens(subject)) else {
            return false;
        };
        let removed = match queue {
            None => node.plain.remove(sub),
            Some(name) => node.remove_queue_member(name, sub),
        };
        if removed && node.is_unused() && node.next.is_none() {
            self.prune(subject);
        }
        removed
    }

    /// Frees the tail of `subject`'s path that holds no entries and has no other branches.
    ///
    /// Done in two iterative passes instead of a recursive descent so that a subject with
    /// thousands of tokens cannot exhaust the stack: first find the shallowest depth from
    /// which the rest of the path is dead weight, then unlink the node at that depth.
    fn prune(&mut self, subject: &[u8]) {
        let Some(depth) = self.prune_depth(subject) else {
            return;
        };
        let Some(tok) = tokens(subject).nth(depth) else {
            return;
        };
        if depth == 0 {
            self.remove_child(tok);
            return;
        }
        let Some(parent) = self.node_mut(tokens(subject).take(depth)) else {
            return;
        };
        if let Some(next) = parent.next.as_deref_mut() {
            next.remove_child(tok);
            if next.num_children() == 0 {
                // Keep the invariant that a node's next level is never empty.
                parent.next = None;
            }
        }
    }

    /// The depth of the first node on `subject`'s path from which every node holds no entries
    /// and has no child other than the next one on the path (or none at the end).
    fn prune_depth(&self, subject: &[u8]) -> Option<usize> {
        let mut from = None;
        let mut level = self;
        let mut toks = tokens(subject).enumerate().peekable();
        while let Some((depth, tok)) = toks.next() {
            let node = level.child(tok)?;
            let last = toks.peek().is_none();
            let children = node.next.as_deref().map_or(0, Level::num_children);
            if node.is_unused() && children == usize::from(!last) {
                from.get_or_insert(depth);
            } else {
                from = None;
            }
            if !last {
                level = node.next.as_deref()?;
            }
        }
        from
    }

    /// The number of nodes below this level (iterative, like `Drop`, for deep tries).
    #[cfg(test)]
    fn node_count(&self) -> usize {
        let mut count = 0;
        let mut pending = vec![self];
        while let Some(level) = pending.pop() {
            let wildcards = level.pwc.iter().chain(level.fwc.iter()).map(|n| &**n);
            for node in level.literal.values().chain(wildcards) {
                count += 1;
                pending.extend(node.next.as_deref());
            }
        }
        count
    }
}

/// One token position of some filter: the entries ending here and the level below.
struct Node<T> {
    next: Option<Box<Level<T>>>,
    plain: EntrySet<T>,
    /// Per queue name; few distinct names per subject in practice, so a vector searched
    /// linearly beats a map both here and when building results. Boxed, and only there
    /// when the node has queue entries: most nodes have none, and every byte of a node is
    /// paid about twice over in its parent's hash table.
    // A thin pointer in the node instead of a vector's three words.
    #[allow(clippy::box_collection)]
    queues: Option<Box<Vec<QueueEntries<T>>>>,
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Node {
            next: None,
            plain: EntrySet::default(),
            queues: None,
        }
    }
}

impl<T> Node<T> {
    /// Whether no entry ends at this node (it may still lead to deeper ones).
    fn is_unused(&self) -> bool {
        self.plain.items.is_empty() && self.queues.is_none()
    }

    /// The queue groups with entries at this node.
    fn queues(&self) -> &[QueueEntries<T>] {
        self.queues.as_deref().map_or(&[], Vec::as_slice)
    }

    /// The entries of queue `name`, created if missing.
    fn queue_or_insert(&mut self, name: &[u8]) -> &mut QueueEntries<T> {
        let queues = self.queues.get_or_insert_with(Box::default);
        let index = match queues.iter().position(|q| q.name == name) {
            Some(index) => index,
            None => {
                queues.push(QueueEntries {
                    name: Bytes::copy_from_slice(name),
                    members: EntrySet::default(),
                });
                queues.len() - 1
            }
        };
        &mut queues[index]
    }

    /// Removes `sub` from queue `name`, dropping the queue once it is empty.
    fn remove_queue_member(&mut self, name: &[u8], sub: &Arc<T>) -> bool {
        let Some(queues) = self.queues.as_deref_mut() else {
            return false;
        };
        let Some(index) = queues.iter().position(|q| q.name == name) else {
            return false;
        };
        let removed = queues[index].members.remove(sub);
        if queues[index].members.items.is_empty() {
            queues.swap_remove(index);
            if queues.is_empty() {
                self.queues = None;
            }
        }
        removed
    }
}

/// The members of one queue group at one node.
struct QueueEntries<T> {
    name: Bytes,
    members: EntrySet<T>,
}

/// One stored entry.
struct Entry<T> {
    sub: Arc<T>,
    /// How many queue members this entry stands for (1 for plain entries).
    weight: u32,
}

/// What `EntrySet::upsert` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Upsert {
    Added,
    Reweighted,
    Unchanged,
}

/// A set of entries identified by `Arc` pointer, kept in a vector so that building results is
/// a straight copy; an index by pointer is added once the set is large enough for linear
/// search to hurt removal.
struct EntrySet<T> {
    items: Vec<Entry<T>>,
    /// Pointer -> position in `items`; present only above `INDEX_THRESHOLD` entries (boxed:
    /// most sets never have one, and the set is part of every node).
    // A thin pointer in every node instead of a map's six words.
    #[allow(clippy::box_collection)]
    index: Option<Box<HashMap<usize, usize>>>,
}

impl<T> Default for EntrySet<T> {
    fn default() -> Self {
        EntrySet {
            items: Vec::new(),
            index: None,
        }
    }
}

/// The identity of an entry: its allocation's address.
fn key_of<T>(sub: &Arc<T>) -> usize {
    Arc::as_ptr(sub) as usize
}

impl<T> EntrySet<T> {
    fn position(&self, sub: &Arc<T>) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(&key_of(sub)).copied(),
            None => self.items.iter().position(|e| Arc::ptr_eq(&e.sub, sub)),
        }
    }

    /// Adds `sub`, or updates its weight if it is already there.
    fn upsert(&mut self, sub: &Arc<T>, weight: u32) -> Upsert {
        if let Some(position) = self.position(sub) {
            let entry = &mut self.items[position];
            if entry.weight == weight {
                return Upsert::Unchanged;
            }
            entry.weight = weight;
            return Upsert::Reweighted;
        }
        if let Some(index) = &mut self.index {
            index.insert(key_of(sub), self.items.len());
        }
        if self.items.is_empty() {
            // Most sets hold one entry (a subject with one subscriber): room for exactly
            // that, not the four a first push would make room for.
            self.items.reserve_exact(1);
        }
        self.items.push(Entry {
            sub: Arc::clone(sub),
            weight,
        });
        if self.index.is_none() && self.items.len() > INDEX_THRESHOLD {
            self.index = Some(Box::new(
                self.items
                    .iter()
                    .enumerate()
                    .map(|(i, e)| (key_of(&e.sub), i))
                    .collect(),
            ));
        }
        Upsert::Added
    }

    /// Removes `sub`; order is not preserved (nats-server's order within a node is a hash
    /// map's, so nothing can depend on it).
    fn remove(&mut self, sub: &Arc<T>) -> bool {
        let Some(position) = self.position(sub) else {
            return false;
        };
        self.items.swap_remove(position);
        if let Some(index) = &mut self.index {
            index.remove(&key_of(sub));
            if let Some(moved) = self.items.get(position) {
                index.insert(key_of(&moved.sub), position);
            }
        }
        // Drop the index well below the threshold that built it, so a set hovering around
        // the threshold does not rebuild it on every other call.
        if self.items.len() < INDEX_THRESHOLD / 2 {
            self.index = None;
        }
        true
    }
}

#[cfg(test)]
mod tests;
