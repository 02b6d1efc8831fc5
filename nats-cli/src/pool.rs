//! The servers a client may connect to.
//!
//! It starts with the URLs the user gave, in their order (so `-s A,B` really starts on A), and
//! grows with the `connect_urls` a clustered server announces in `INFO` — at connect time and
//! in the asynchronous `INFO`s sent when routes come and go. That is what makes the tools
//! "cluster-aware": given one server of a cluster, a subscriber survives the loss of that
//! server by moving to a peer it was told about.

use crate::url::{Auth, ServerUrl};

#[derive(Debug, Clone)]
struct Entry {
    url: ServerUrl,
    /// Learned from `INFO` rather than given by the user; such entries are dropped again when
    /// the cluster stops announcing them (a peer that left), given ones never are.
    implicit: bool,
}

/// An ordered, duplicate-free list of servers.
#[derive(Debug, Clone)]
pub struct ServerPool {
    entries: Vec<Entry>,
}

impl ServerPool {
    /// A pool of the given servers, in order, without duplicates.
    pub fn new(urls: Vec<ServerUrl>) -> ServerPool {
        let mut pool = ServerPool {
            entries: Vec::with_capacity(urls.len()),
        };
        for url in urls {
            if !pool.contains(&url) {
                pool.entries.push(Entry {
                    url,
                    implicit: false,
                });
            }
        }
        pool
    }

    /// The servers, in pool order.
    pub fn urls(&self) -> impl Iterator<Item = &ServerUrl> {
        self.entries.iter().map(|e| &e.url)
    }

    /// Number of servers.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn contains(&self, url: &ServerUrl) -> bool {
        self.entries.iter().any(|e| e.url.same_server(url))
    }

    /// Takes in the `connect_urls` of an `INFO` received from `current`.
    ///
    /// New servers are appended. They inherit `current`'s credentials: a cluster shares its
    /// client authorization, and the announced `host:port` strings carry none. Learned servers
    /// the list no longer names are removed (the peer left the cluster), except `current`.
    /// An empty list changes nothing: standalone servers send none, and nats-server keeps its
    /// own URLs in the list after losing every route. Unparsable entries are skipped.
    /// Returns the servers added.
    pub fn learn(&mut self, connect_urls: &[String], current: &ServerUrl) -> Vec<ServerUrl> {
        if connect_urls.is_empty() {
            return Vec::new();
        }
        let announced: Vec<ServerUrl> = connect_urls
            .iter()
            .filter_map(|text| ServerUrl::parse(text).ok())
            .map(|mut url| {
                if url.auth == Auth::None {
                    url.auth = current.auth.clone();
                }
                // A cluster reached over `tls://` is one whose members need TLS too.
                url.tls |= current.tls;
                url
            })
            .collect();
        self.entries.retain(|e| {
            !e.implicit
                || e.url.same_server(current)
                || announced.iter().any(|a| a.same_server(&e.url))
        });
        let mut added = Vec::new();
        for url in announced {
            if !self.contains(&url) {
                added.push(url.clone());
                self.entries.push(Entry {
                    url,
                    implicit: true,
                });
            }
        }
        added
    }

    /// The order in which to try servers after losing `current`: round-robin from the entry
    /// after it, wrapping around, `current` itself last (it just failed, but may come back).
    pub fn after(&self, current: &ServerUrl) -> Vec<ServerUrl> {
        let start = self
            .entries
            .iter()
            .position(|e| e.url.same_server(current))
            .map_or(0, |i| i + 1);
        (0..self.entries.len())
            .map(|k| self.entries[(start + k) % self.entries.len()].url.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> ServerUrl {
        ServerUrl::parse(text).expect(text)
    }

    fn shown(urls: &[ServerUrl]) -> Vec<String> {
        urls.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn keeps_user_order_without_duplicates() {
        let pool = ServerPool::new(vec![url("a:1"), url("b:2"), url("nats://A:1")]);
        let all: Vec<ServerUrl> = pool.urls().cloned().collect();
        assert_eq!(shown(&all), ["nats://a:1", "nats://b:2"]);
    }

    #[test]
    fn learns_and_forgets_cluster_urls() {
        let current = url("nats://u:p@a:1");
        let mut pool = ServerPool::new(vec![current.clone()]);
        let added = pool.learn(
            &["a:1".into(), "b:2".into(), "[::1]:3".into(), "bad:x".into()],
            &current,
        );
        assert_eq!(shown(&added), ["nats://b:2", "nats://[::1]:3"]);
        assert_eq!(
            added[0].auth, current.auth,
            "learned servers use the cluster's credentials"
        );
        // b left the cluster: forgotten. The given server a stays even when not announced.
        pool.learn(&["[::1]:3".into()], &current);
        let all: Vec<ServerUrl> = pool.urls().cloned().collect();
        assert_eq!(shown(&all), ["nats://a:1", "nats://[::1]:3"]);
        // An INFO without connect_urls changes nothing.
        assert!(pool.learn(&[], &current).is_empty());
        assert_eq!(pool.len(), 2);
    }

    #[test]
    fn reconnect_order_is_round_robin_with_current_last() {
        let pool = ServerPool::new(vec![url("a:1"), url("b:2"), url("c:3")]);
        assert_eq!(
            shown(&pool.after(&url("b:2"))),
            ["nats://c:3", "nats://a:1", "nats://b:2"]
        );
        assert_eq!(
            shown(&pool.after(&url("z:9"))),
            ["nats://a:1", "nats://b:2", "nats://c:3"]
        );
    }
}
