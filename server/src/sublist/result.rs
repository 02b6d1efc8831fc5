//! What a match yields: the plain subscriptions a subject reaches and its queue groups, and
//! the statistics `/subsz` reports.

use std::sync::Arc;

use bytes::Bytes;

use super::{push_weighted, Node};

/// Everything a published subject reaches: the plain subscriptions and, per queue name, the
/// members of that queue group (from every matching filter, so `foo.*` and `foo.>` members of
/// the same queue name form one group).
///
/// Results are shared (`Arc`) between the cache and every publisher that matched the subject,
/// so they are never mutated after being built.
#[derive(Debug)]
pub struct SubResult<T> {
    /// The plain (non-queue) subscriptions, in nats-server's match order (see the module doc).
    pub plain: Vec<Arc<T>>,
    /// One entry per queue name; deliver to exactly one member of each.
    pub queues: Vec<QueueGroup<T>>,
}

impl<T> SubResult<T> {
    /// Whether nothing at all matched (no plain subscription and no queue group).
    pub fn is_empty(&self) -> bool {
        self.plain.is_empty() && self.queues.is_empty()
    }

    /// The group named `name`, appended empty if it is not there yet.
    pub(super) fn group_mut(&mut self, name: &Bytes) -> &mut QueueGroup<T> {
        let index = match self.queues.iter().position(|g| g.name == *name) {
            Some(index) => index,
            None => {
                self.queues.push(QueueGroup {
                    name: name.clone(),
                    members: Vec::new(),
                });
                self.queues.len() - 1
            }
        };
        &mut self.queues[index]
    }

    /// Appends every entry stored at `node` (the per-node step of the trie walk).
    pub(super) fn add_node(&mut self, node: &Node<T>) {
        self.plain
            .extend(node.plain.items.iter().map(|e| Arc::clone(&e.sub)));
        for queue in node.queues() {
            let group = self.group_mut(&queue.name);
            for entry in &queue.members.items {
                push_weighted(&mut group.members, &entry.sub, entry.weight);
            }
        }
    }

    /// A copy of this result with one more entry, for patching cached results on insert.
    pub(super) fn with_entry(&self, queue: Option<&Bytes>, sub: &Arc<T>, weight: u32) -> Self {
        let mut patched = self.clone();
        match queue {
            None => patched.plain.push(Arc::clone(sub)),
            Some(name) => push_weighted(&mut patched.group_mut(name).members, sub, weight),
        }
        patched
    }
}

impl<T> Default for SubResult<T> {
    fn default() -> Self {
        SubResult {
            plain: Vec::new(),
            queues: Vec::new(),
        }
    }
}

// Written by hand: a derive would demand `T: Clone`, but only the `Arc`s are cloned.
impl<T> Clone for SubResult<T> {
    fn clone(&self) -> Self {
        SubResult {
            plain: self.plain.clone(),
            queues: self.queues.clone(),
        }
    }
}

/// The members of one queue group that a subject reaches. An entry with weight `w` (a remote
/// route entry standing for `w` members on another server) appears `w` times, so picking a
/// uniformly random index spreads messages in proportion to real member counts.
#[derive(Debug)]
pub struct QueueGroup<T> {
    /// The queue name, shared with the trie (cloning it bumps a reference count).
    pub name: Bytes,
    /// The members, each repeated by its weight.
    pub members: Vec<Arc<T>>,
}

impl<T> Clone for QueueGroup<T> {
    fn clone(&self) -> Self {
        QueueGroup {
            name: self.name.clone(),
            members: self.members.clone(),
        }
    }
}

/// The numbers nats-server reports under `/subsz` (field names match its JSON).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SublistStats {
    /// Entries currently stored.
    pub num_subscriptions: u64,
    /// Results currently cached.
    pub num_cache: u64,
    /// Inserts performed since creation.
    pub num_inserts: u64,
    /// Successful removes performed since creation.
    pub num_removes: u64,
    /// Matches performed since creation.
    pub num_matches: u64,
    /// Fraction of matches served from the cache.
    pub cache_hit_rate: f64,
    /// Largest fan-out (plain subscriptions + queue groups) among cached results.
    pub max_fanout: u64,
    /// Average fan-out among cached results.
    pub avg_fanout: f64,
}
