//! Unit tests of the subject index.

use super::*;
use std::thread;

/// A stand-in for a subscription handle; the id makes assertions readable.
#[derive(Debug)]
struct Sub(u32);

fn sub(id: u32) -> Arc<Sub> {
    Arc::new(Sub(id))
}

fn ids(subs: &[Arc<Sub>]) -> Vec<u32> {
    subs.iter().map(|s| s.0).collect()
}

fn sorted(mut v: Vec<u32>) -> Vec<u32> {
    v.sort_unstable();
    v
}

/// Plain ids of a match, sorted.
fn plain(sl: &Sublist<Sub>, subject: &str) -> Vec<u32> {
    sorted(ids(&sl.matches(subject.as_bytes()).plain))
}

/// Queue groups of a match as (name, sorted member ids), sorted by name.
fn groups(sl: &Sublist<Sub>, subject: &str) -> Vec<(String, Vec<u32>)> {
    let r = sl.matches(subject.as_bytes());
    let mut out: Vec<_> = r
        .queues
        .iter()
        .map(|g| {
            (
                String::from_utf8_lossy(&g.name).into_owned(),
                sorted(ids(&g.members)),
            )
        })
        .collect();
    out.sort();
    out
}

fn add(sl: &Sublist<Sub>, subject: &str, s: &Arc<Sub>) {
    assert_eq!(
        sl.insert(subject.as_bytes(), None, 1, Arc::clone(s)),
        Ok(())
    );
}

fn add_q(sl: &Sublist<Sub>, subject: &str, q: &str, weight: u32, s: &Arc<Sub>) {
    let r = sl.insert(
        subject.as_bytes(),
        Some(q.as_bytes()),
        weight,
        Arc::clone(s),
    );
    assert_eq!(r, Ok(()));
}

#[test]
fn sublist_is_send_and_sync() {
    fn check<S: Send + Sync>() {}
    check::<Sublist<Sub>>();
    check::<Arc<SubResult<Sub>>>();
}

#[test]
fn insert_and_remove_count() {
    let sl = Sublist::new();
    let (a, b, c) = (sub(1), sub(2), sub(3));
    add(&sl, "foo", &a);
    add(&sl, "bar", &b);
    add(&sl, "foo.bar", &c);
    add_q(&sl, "foo", "q", 1, &c);
    assert_eq!(sl.count(), 4);
    assert!(sl.remove(b"foo", None, &a));
    assert_eq!(sl.count(), 3);
    assert!(sl.remove(b"foo", Some(b"q"), &c));
    assert!(sl.remove(b"bar", None, &b));
    assert!(sl.remove(b"foo.bar", None, &c));
    assert_eq!(sl.count(), 0);
    assert_eq!(sl.node_count(), 0);
}

#[test]
fn literal_match() {
    let sl = Sublist::new();
    add(&sl, "foo.bar", &sub(1));
    add(&sl, "foo", &sub(2));
    assert_eq!(plain(&sl, "foo.bar"), [1]);
    assert_eq!(plain(&sl, "foo"), [2]);
    // A two-token publish does not reach a one-token filter, nor the reverse.
    assert!(plain(&sl, "foo.bar.baz").is_empty());
    assert!(plain(&sl, "foo.baz").is_empty());
    assert!(plain(&sl, "bar").is_empty());
    // Case-sensitive.
    assert!(plain(&sl, "FOO").is_empty());
}

#[test]
fn partial_wildcard_at_every_position() {
    let sl = Sublist::new();
    add(&sl, "*.bar.baz", &sub(1));
    add(&sl, "foo.*.baz", &sub(2));
    add(&sl, "foo.bar.*", &sub(3));
    add(&sl, "*", &sub(4));
    add(&sl, "*.*.*", &sub(5));
    assert_eq!(plain(&sl, "foo.bar.baz"), [1, 2, 3, 5]);
    assert_eq!(plain(&sl, "x.bar.baz"), [1, 5]);
    assert_eq!(plain(&sl, "foo.x.baz"), [2, 5]);
    assert_eq!(plain(&sl, "foo.bar.x"), [3, 5]);
    assert_eq!(plain(&sl, "foo"), [4]);
    assert!(plain(&sl, "foo.bar").is_empty());
    assert!(plain(&sl, "foo.bar.baz.qux").is_empty());
}

#[test]
fn full_wildcard() {
    let sl = Sublist::new();
    add(&sl, "foo.>", &sub(1));
    add(&sl, ">", &sub(2));
    add(&sl, "foo.bar.>", &sub(3));
    assert_eq!(plain(&sl, "foo.bar"), [1, 2]);
    assert_eq!(plain(&sl, "foo.bar.baz"), [1, 2, 3]);
    // `foo.>` needs at least one more token.
    assert_eq!(plain(&sl, "foo"), [2]);
    assert_eq!(plain(&sl, "anything"), [2]);
    assert_eq!(plain(&sl, "a.b.c.d.e.f"), [2]);
}

#[test]
fn both_wildcards() {
    let sl = Sublist::new();
    add(&sl, "*.>", &sub(1));
    add(&sl, "foo.*.>", &sub(2));
    add(&sl, "*.bar.>", &sub(3));
    add(&sl, "foo.*.baz", &sub(4));
    assert_eq!(plain(&sl, "foo.bar.baz"), [1, 2, 3, 4]);
    assert_eq!(plain(&sl, "foo.bar"), [1]);
    assert!(plain(&sl, "foo").is_empty());
    assert_eq!(plain(&sl, "x.bar.y.z"), [1, 3]);
}

#[test]
fn match_order_follows_nats_server() {
    let sl = Sublist::new();
    add(&sl, "foo.*", &sub(1));
    add(&sl, "foo.bar", &sub(2));
    add(&sl, ">", &sub(3));
    // docs/protocol.md §1.10: publish `foo.*` -> sid 3 then sid 1.
    assert_eq!(ids(&sl.matches(b"foo.*").plain), [3, 1]);
    // `>` at the first level, then the last literal node, then the last `*` node.
    assert_eq!(ids(&sl.matches(b"foo.bar").plain), [3, 2, 1]);
    add(&sl, "foo.>", &sub(4));
    add(&sl, "*.bar", &sub(5));
    // A cached result is patched by appending, as nats-server's cache does.
    assert_eq!(ids(&sl.matches(b"foo.bar").plain), [3, 2, 1, 4, 5]);
    // A fresh walk: level 0: `>`(3); recurse `*` -> level 1 (literal bar: 5); literal foo -> level 1:
    // `>`(4); then literal bar (2), then `*` (1).
    assert_eq!(ids(&sl.match_uncached(b"foo.bar").plain), [3, 5, 4, 2, 1]);
    assert_eq!(ids(&sl.matches(b"foo.baz").plain), [3, 4, 1]);
}

#[test]
fn published_wildcard_tokens_are_literal() {
    let sl = Sublist::new();
    add(&sl, "foo.*", &sub(1));
    add(&sl, "foo.bar", &sub(2));
    add(&sl, "foo.>", &sub(3));
    add(&sl, ">", &sub(4));
    assert_eq!(plain(&sl, "foo.*"), [1, 3, 4]);
    assert_eq!(plain(&sl, "foo.>"), [1, 3, 4]);
    assert_eq!(plain(&sl, "*"), [4]);
    assert_eq!(plain(&sl, ">"), [4]);
    assert_eq!(plain(&sl, "*.*"), [4]);
}

#[test]
fn odd_characters_are_literal() {
    let sl = Sublist::new();
    add(&sl, "foo.bar-baz", &sub(1));
    add(&sl, "foo.b*r", &sub(2));
    add(&sl, "foo.*-", &sub(3));
    add(&sl, "foo.>-", &sub(4));
    add(&sl, "ünïcödé.日本", &sub(5));
    add(&sl, "ünïcödé.*", &sub(6));
    assert_eq!(plain(&sl, "foo.bar-baz"), [1]);
    assert!(plain(&sl, "foo.bar").is_empty());
    assert!(plain(&sl, "foo.bxr").is_empty());
    assert_eq!(plain(&sl, "foo.b*r"), [2]);
    assert_eq!(plain(&sl, "foo.*-"), [3]);
    assert_eq!(plain(&sl, "foo.>-"), [4]);
    assert_eq!(plain(&sl, "ünïcödé.日本"), [5, 6]);
    assert_eq!(plain(&sl, "ünïcödé.x"), [6]);
    // Removing an unrelated literal leaves wildcard-looking literals alone.
    assert!(!sl.remove(b"foo.bar", None, &sub(9)));
    assert_eq!(sl.count(), 6);
}

#[test]
fn invalid_subjects_are_rejected() {
    let sl = Sublist::new();
    for bad in [
        "",
        ".",
        "foo..bar",
        "foo.bar..baz",
        ".foo",
        "foo.",
        "foo.>.bar",
        ">.bar",
        "foo bar",
        "foo.\tbar",
    ] {
        assert_eq!(
            sl.insert(bad.as_bytes(), None, 1, sub(1)),
            Err(InvalidSubject),
            "{bad:?}"
        );
        assert!(!sl.remove(bad.as_bytes(), None, &sub(1)), "{bad:?}");
    }
    // An empty queue name is not a queue.
    assert_eq!(sl.insert(b"foo", Some(b""), 1, sub(1)), Err(InvalidSubject));
    assert_eq!(sl.count(), 0);
    assert_eq!(sl.node_count(), 0);
    assert_eq!(sl.generation(), 0);
    assert_eq!(InvalidSubject.to_string(), "invalid subject");
}

#[test]
fn remove_unknown_or_twice_returns_false() {
    let sl = Sublist::new();
    let (a, b) = (sub(1), sub(2));
    add(&sl, "foo.bar", &a);
    add_q(&sl, "foo.bar", "q", 1, &a);
    assert!(!sl.remove(b"foo.bar", None, &b), "other handle");
    assert!(!sl.remove(b"foo.baz", None, &a), "other subject");
    assert!(!sl.remove(b"foo", None, &a), "prefix");
    assert!(!sl.remove(b"foo.bar.baz", None, &a), "longer");
    assert!(!sl.remove(b"foo.*", None, &a), "wildcard");
    assert!(!sl.remove(b"foo.bar", Some(b"r"), &a), "other queue");
    assert!(sl.remove(b"foo.bar", None, &a));
    assert!(!sl.remove(b"foo.bar", None, &a), "twice");
    assert!(sl.remove(b"foo.bar", Some(b"q"), &a));
    assert!(!sl.remove(b"foo.bar", Some(b"q"), &a), "twice");
    assert_eq!(sl.count(), 0);
    assert_eq!(sl.stats().num_removes, 2);
}

#[test]
fn remove_cleans_up_nodes() {
    let sl = Sublist::new();
    let s = sub(1);
    add(&sl, "a.b.c.d.e.f", &s);
    assert_eq!(sl.node_count(), 6);
    assert!(sl.remove(b"a.b.c.d.e.f", None, &s));
    assert_eq!(sl.node_count(), 0);

    add(&sl, "a.b.*.d.e.>", &s);
    assert_eq!(sl.node_count(), 6);
    assert!(sl.remove(b"a.b.*.d.e.>", None, &s));
    assert_eq!(sl.node_count(), 0);

    // Shared prefixes survive until their last user goes, in any order.
    let t = sub(2);
    add(&sl, "a.b", &s);
    add(&sl, "a.b.c.d", &t);
    add_q(&sl, "a.*.c", "q", 3, &t);
    assert_eq!(sl.node_count(), 6);
    assert!(sl.remove(b"a.b", None, &s));
    assert_eq!(sl.node_count(), 6, "a.b still leads to a.b.c.d");
    assert!(sl.remove(b"a.b.c.d", None, &t));
    assert_eq!(sl.node_count(), 3, "only a.*.c is left");
    assert_eq!(groups(&sl, "a.x.c"), [("q".to_string(), vec![2, 2, 2])]);
    assert!(sl.remove(b"a.*.c", Some(b"q"), &t));
    assert_eq!(sl.node_count(), 0);

    // A node that keeps entries after its subtree is pruned still matches.
    add(&sl, "x", &s);
    add(&sl, "x.y.z", &t);
    assert!(sl.remove(b"x.y.z", None, &t));
    assert_eq!(sl.node_count(), 1);
    assert_eq!(plain(&sl, "x"), [1]);
    assert!(plain(&sl, "x.y.z").is_empty());
    assert!(sl.remove(b"x", None, &s));
    assert_eq!(sl.node_count(), 0);
}

#[test]
fn basic_queue_results() {
    let sl = Sublist::new();
    let (p, q1, q2, q3, q4) = (sub(1), sub(2), sub(3), sub(4), sub(5));
    add_q(&sl, "foo", "bar", 1, &q1);
    assert_eq!(groups(&sl, "foo"), [("bar".to_string(), vec![2])]);
    add_q(&sl, "foo", "baz", 1, &q2);
    add(&sl, "foo", &p);
    add_q(&sl, "foo", "bar", 1, &q3);
    add_q(&sl, "foo", "baz", 1, &q4);
    assert_eq!(plain(&sl, "foo"), [1]);
    assert_eq!(
        groups(&sl, "foo"),
        [
            ("bar".to_string(), vec![2, 4]),
            ("baz".to_string(), vec![3, 5])
        ]
    );
    assert!(sl.remove(b"foo", None, &p));
    assert!(sl.remove(b"foo", Some(b"bar"), &q1));
    assert!(plain(&sl, "foo").is_empty());
    assert_eq!(
        groups(&sl, "foo"),
        [
            ("bar".to_string(), vec![4]),
            ("baz".to_string(), vec![3, 5])
        ]
    );
    assert!(sl.remove(b"foo", Some(b"bar"), &q3));
    assert_eq!(groups(&sl, "foo"), [("baz".to_string(), vec![3, 5])]);
    assert!(sl.remove(b"foo", Some(b"baz"), &q2));
    assert!(sl.remove(b"foo", Some(b"baz"), &q4));
    assert!(sl.matches(b"foo").is_empty());
    assert_eq!(sl.node_count(), 0);
}

#[test]
fn queue_groups_form_by_name_across_filters() {
    let sl = Sublist::new();
    add_q(&sl, "foo.*", "q1", 1, &sub(1));
    add_q(&sl, "foo.>", "q1", 1, &sub(2));
    add_q(&sl, "foo.bar", "q2", 1, &sub(3));
    add_q(&sl, ">", "q2", 1, &sub(4));
    add(&sl, "foo.bar", &sub(5));
    assert_eq!(plain(&sl, "foo.bar"), [5]);
    assert_eq!(
        groups(&sl, "foo.bar"),
        [
            ("q1".to_string(), vec![1, 2]),
            ("q2".to_string(), vec![3, 4])
        ]
    );
    assert_eq!(
        groups(&sl, "foo.baz"),
        [("q1".to_string(), vec![1, 2]), ("q2".to_string(), vec![4])]
    );
    // Members come in walk order: `>`, then `foo.>`, then the literal, then `foo.*`.
    let r = sl.matches(b"foo.bar");
    let order: Vec<(&[u8], Vec<u32>)> = r
        .queues
        .iter()
        .map(|g| (&g.name[..], ids(&g.members)))
        .collect();
    assert_eq!(order, [(&b"q2"[..], vec![4, 3]), (&b"q1"[..], vec![2, 1])]);
}

#[test]
fn weights_expand_members() {
    let sl = Sublist::new();
    let (local, route) = (sub(1), sub(2));
    add_q(&sl, "foo", "q", 1, &local);
    add_q(&sl, "foo", "q", 3, &route);
    assert_eq!(groups(&sl, "foo"), [("q".to_string(), vec![1, 2, 2, 2])]);
    // Re-inserting updates the weight (RS+ re-send); the count does not change and the
    // cached result is refreshed.
    add_q(&sl, "foo", "q", 5, &route);
    assert_eq!(sl.count(), 2);
    assert_eq!(
        groups(&sl, "foo"),
        [("q".to_string(), vec![1, 2, 2, 2, 2, 2])]
    );
    add_q(&sl, "foo", "q", 0, &route);
    assert_eq!(groups(&sl, "foo"), [("q".to_string(), vec![1, 2])]);
    // Weights are ignored for plain entries.
    add(&sl, "foo", &local);
    assert!(sl.insert(b"foo", None, 7, Arc::clone(&route)).is_ok());
    assert_eq!(plain(&sl, "foo"), [1, 2]);
    // Absurd weights are clamped.
    let huge = sub(3);
    add_q(&sl, "bar", "q", u32::MAX, &huge);
    let r = sl.matches(b"bar");
    assert_eq!(r.queues[0].members.len(), MAX_QUEUE_WEIGHT as usize);
    // Re-inserting an identical plain entry is a no-op.
    let before = sl.count();
    add(&sl, "foo", &local);
    assert_eq!(sl.count(), before);
    assert_eq!(plain(&sl, "foo"), [1, 2]);
}

#[test]
fn cache_is_patched_on_insert() {
    let sl = Sublist::new();
    add(&sl, "foo.bar", &sub(1));
    assert_eq!(plain(&sl, "foo.bar"), [1]);
    assert_eq!(plain(&sl, "foo.baz"), Vec::<u32>::new());
    assert_eq!(sl.stats().num_cache, 2);
    add(&sl, "foo.*", &sub(2));
    assert_eq!(plain(&sl, "foo.bar"), [1, 2]);
    assert_eq!(plain(&sl, "foo.baz"), [2]);
    add(&sl, "foo.>", &sub(3));
    add(&sl, ">", &sub(4));
    add(&sl, "foo.bar", &sub(5));
    add(&sl, "bar.*", &sub(6));
    assert_eq!(plain(&sl, "foo.bar"), [1, 2, 3, 4, 5]);
    assert_eq!(plain(&sl, "foo.baz"), [2, 3, 4]);
    add_q(&sl, "*.bar", "q", 2, &sub(7));
    assert_eq!(groups(&sl, "foo.bar"), [("q".to_string(), vec![7, 7])]);
    assert!(groups(&sl, "foo.baz").is_empty());
    // Everything above after the first two matches came from patched cache entries.
    assert_eq!(sl.stats().num_cache, 2);
    let s = sl.stats();
    assert!(s.cache_hit_rate > 0.5, "{s:?}");
}

#[test]
fn cache_is_evicted_on_remove() {
    let sl = Sublist::new();
    let (a, b, c) = (sub(1), sub(2), sub(3));
    add(&sl, "a.b.c.d", &a);
    add(&sl, "a.b.*.d", &b);
    add_q(&sl, "a.b.>", "q", 1, &c);
    assert_eq!(plain(&sl, "a.b.c.d"), [1, 2]);
    assert_eq!(groups(&sl, "a.b.c.d"), [("q".to_string(), vec![3])]);
    assert!(sl.remove(b"a.b.*.d", None, &b));
    assert_eq!(plain(&sl, "a.b.c.d"), [1]);
    assert!(sl.remove(b"a.b.>", Some(b"q"), &c));
    assert!(groups(&sl, "a.b.c.d").is_empty());
    assert!(sl.remove(b"a.b.c.d", None, &a));
    assert_eq!(sl.stats().num_cache, 0, "every removal evicted the entry");
    assert!(sl.matches(b"a.b.c.d").is_empty());
}

#[test]
fn cache_stays_bounded() {
    let sl = Sublist::new();
    add(&sl, "foo.*", &sub(1));
    for i in 0..5000 {
        let subject = format!("foo.{i}");
        assert_eq!(plain(&sl, &subject), [1]);
        assert!(sl.stats().num_cache <= DEFAULT_CACHE_SIZE as u64);
    }
    let small = Sublist::<Sub>::with_cache_size(8);
    for i in 0..100 {
        small.matches(format!("x.{i}").as_bytes());
        assert!(small.stats().num_cache <= 8);
    }
}

#[test]
fn cache_can_be_disabled() {
    let sl = Sublist::with_cache_size(0);
    add(&sl, "foo.*", &sub(1));
    assert_eq!(plain(&sl, "foo.bar"), [1]);
    assert_eq!(plain(&sl, "foo.bar"), [1]);
    add(&sl, "foo.bar", &sub(2));
    assert_eq!(plain(&sl, "foo.bar"), [1, 2]);
    let s = sl.stats();
    assert_eq!(s.num_cache, 0);
    assert_eq!(s.cache_hit_rate, 0.0);
    assert_eq!(s.num_matches, 3);
}

#[test]
fn empty_tokens_match_nothing() {
    let sl = Sublist::new();
    add(&sl, ">", &sub(1));
    add(&sl, "*.*", &sub(2));
    add(&sl, "foo.*.bar", &sub(3));
    for bad in [
        "", ".", "..", "foo..bar", ".foo", "foo.", "foo.bar.", "a..", "..",
    ] {
        assert!(sl.matches(bad.as_bytes()).is_empty(), "{bad:?}");
    }
    assert_eq!(sl.stats().num_cache, 0, "invalid subjects are not cached");
    // Empty results share one allocation (`>` above matches every valid subject, so use
    // a fresh index).
    let other = Sublist::<Sub>::new();
    assert!(Arc::ptr_eq(
        &other.matches(b"a..b"),
        &other.matches(b"x.y.z")
    ));
}

#[test]
fn generation_bumps_on_every_change() {
    let sl = Sublist::new();
    let s = sub(1);
    let g0 = sl.generation();
    add(&sl, "foo", &s);
    let g1 = sl.generation();
    assert!(g1 > g0);
    sl.matches(b"foo");
    assert_eq!(sl.generation(), g1, "matching changes nothing");
    assert!(!sl.remove(b"bar", None, &s));
    assert_eq!(sl.generation(), g1, "a failed remove changes nothing");
    add_q(&sl, "foo", "q", 2, &s);
    let g2 = sl.generation();
    assert!(g2 > g1);
    assert!(sl.remove(b"foo", None, &s));
    assert!(sl.generation() > g2);
}

#[test]
fn stats_counters() {
    let sl = Sublist::new();
    let (a, b) = (sub(1), sub(2));
    add(&sl, "foo", &a);
    add(&sl, "foo", &b);
    add_q(&sl, "foo", "q", 1, &a);
    add(&sl, "bar", &a);
    assert!(sl.remove(b"bar", None, &a));
    sl.matches(b"foo"); // miss
    sl.matches(b"foo"); // hit
    sl.matches(b"foo"); // hit
    sl.matches(b"baz"); // miss, cached empty
    let s = sl.stats();
    assert_eq!(s.num_subscriptions, 3);
    assert_eq!(s.num_inserts, 4);
    assert_eq!(s.num_removes, 1);
    assert_eq!(s.num_matches, 4);
    assert_eq!(s.num_cache, 2);
    assert!((s.cache_hit_rate - 0.5).abs() < 1e-9, "{s:?}");
    // foo: 2 plain + 1 group = 3; baz: 0.
    assert_eq!(s.max_fanout, 3);
    assert!((s.avg_fanout - 1.5).abs() < 1e-9, "{s:?}");
    assert_eq!(Sublist::<Sub>::default().stats(), SublistStats::default());
}

#[test]
fn large_nodes_use_the_index() {
    let sl = Sublist::new();
    let subs: Vec<_> = (0..200).map(sub).collect();
    for s in &subs {
        add(&sl, "fan.out", s);
        add_q(&sl, "fan.out", "q", 1, s);
    }
    assert_eq!(sl.count(), 400);
    assert_eq!(plain(&sl, "fan.out").len(), 200);
    // Remove every other one, then the rest in reverse, checking as we go.
    for s in subs.iter().step_by(2) {
        assert!(sl.remove(b"fan.out", None, s));
        assert!(!sl.remove(b"fan.out", None, s));
    }
    let expected: Vec<u32> = (1..200).step_by(2).collect();
    assert_eq!(plain(&sl, "fan.out"), expected);
    for s in subs.iter().rev() {
        assert!(sl.remove(b"fan.out", Some(b"q"), s));
    }
    for s in subs.iter().skip(1).step_by(2) {
        assert!(sl.remove(b"fan.out", None, s));
    }
    assert_eq!(sl.count(), 0);
    assert_eq!(sl.node_count(), 0);
    assert!(sl.matches(b"fan.out").is_empty());
}

#[test]
fn same_handle_under_many_subjects() {
    let sl = Sublist::new();
    let route = sub(1);
    add(&sl, "a", &route);
    add(&sl, "b", &route);
    add_q(&sl, "a", "q", 2, &route);
    assert_eq!(sl.count(), 3);
    assert!(sl.remove(b"a", None, &route));
    assert_eq!(plain(&sl, "b"), [1]);
    assert_eq!(groups(&sl, "a"), [("q".to_string(), vec![1, 1])]);
}

#[test]
fn deep_subjects_do_not_overflow_the_stack() {
    let sl = Sublist::new();
    let s = sub(1);
    // Far deeper than a default 4 KiB control line allows, to show nothing recurses.
    let literal = vec!["t"; 20_000].join(".");
    let wild = vec!["*"; 20_000].join(".");
    add(&sl, &literal, &s);
    add(&sl, &wild, &s);
    assert_eq!(plain(&sl, &literal), [1, 1]);
    assert!(sl.remove(literal.as_bytes(), None, &s));
    assert_eq!(sl.node_count(), 20_000);
    // Dropping a deep trie is iterative too.
    drop(sl);
}

/// A tiny deterministic PRNG (xorshift64*), so the model test needs no extra crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Random inserts, removes and matches over a small subject space, every match checked
/// against a brute-force model: the cache must never disagree with the trie.
#[test]
fn random_operations_agree_with_a_model() {
    const FILTERS: [&str; 14] = [
        "a", "b", "a.b", "a.c", "a.*", "*.b", "*", ">", "a.>", "*.>", "a.b.c", "a.*.c", "*.*.*",
        "b.>",
    ];
    const SUBJECTS: [&str; 11] = [
        "a", "b", "c", "a.b", "a.c", "b.b", "a.b.c", "a.x.c", "b.c.d", "a.*", "*.b",
    ];
    const QUEUES: [Option<&str>; 3] = [None, Some("q1"), Some("q2")];
    let sl = Sublist::with_cache_size(6);
    let handles: Vec<_> = (0..5).map(sub).collect();
    // (filter, queue, handle index, weight)
    let mut model: Vec<(&str, Option<&str>, usize, u32)> = Vec::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20_000 {
        match rng.below(3) {
            0 => {
                let (f, q, h) = (
                    FILTERS[rng.below(FILTERS.len())],
                    QUEUES[rng.below(QUEUES.len())],
                    rng.below(handles.len()),
                );
                let w = if q.is_some() {
                    1 + rng.below(3) as u32
                } else {
                    1
                };
                let r = sl.insert(f.as_bytes(), q.map(str::as_bytes), w, handles[h].clone());
                assert!(r.is_ok());
                match model.iter_mut().find(|e| e.0 == f && e.1 == q && e.2 == h) {
                    Some(e) => e.3 = w,
                    None => model.push((f, q, h, w)),
                }
            }
            1 => {
                let (f, q, h) = if !model.is_empty() && rng.below(4) != 0 {
                    let e = model[rng.below(model.len())];
                    (e.0, e.1, e.2)
                } else {
                    (
                        FILTERS[rng.below(FILTERS.len())],
                        QUEUES[rng.below(QUEUES.len())],
                        rng.below(handles.len()),
                    )
                };
                let pos = model.iter().position(|e| e.0 == f && e.1 == q && e.2 == h);
                let removed = sl.remove(f.as_bytes(), q.map(str::as_bytes), &handles[h]);
                assert_eq!(removed, pos.is_some());
                if let Some(pos) = pos {
                    model.swap_remove(pos);
                }
            }
            _ => {
                let subject = SUBJECTS[rng.below(SUBJECTS.len())];
                let r = sl.matches(subject.as_bytes());
                let mut want_plain = Vec::new();
                let mut want_groups: Vec<(String, Vec<u32>)> = Vec::new();
                for &(f, q, h, w) in &model {
                    if !filter_matches(f.as_bytes(), subject.as_bytes()) {
                        continue;
                    }
                    let id = handles[h].0;
                    match q {
                        None => want_plain.push(id),
                        Some(q) => {
                            let index = match want_groups.iter().position(|g| g.0 == q) {
                                Some(index) => index,
                                None => {
                                    want_groups.push((q.to_string(), Vec::new()));
                                    want_groups.len() - 1
                                }
                            };
                            for _ in 0..w {
                                want_groups[index].1.push(id);
                            }
                        }
                    }
                }
                want_plain.sort_unstable();
                for g in &mut want_groups {
                    g.1.sort_unstable();
                }
                want_groups.sort();
                assert_eq!(sorted(ids(&r.plain)), want_plain, "{subject}");
                let mut got: Vec<(String, Vec<u32>)> = r
                    .queues
                    .iter()
                    .map(|g| {
                        (
                            String::from_utf8_lossy(&g.name).into_owned(),
                            sorted(ids(&g.members)),
                        )
                    })
                    .collect();
                got.sort();
                assert_eq!(got, want_groups, "{subject}");
            }
        }
        assert_eq!(sl.count(), model.len());
    }
    for (f, q, h, _) in model.drain(..) {
        assert!(sl.remove(f.as_bytes(), q.map(str::as_bytes), &handles[h]));
    }
    assert_eq!(sl.node_count(), 0);
}

#[test]
fn concurrent_smoke() {
    const WRITERS: u32 = 2;
    const READERS: u32 = 2;
    const OPS: u32 = 3000;
    let sl = Arc::new(Sublist::<Sub>::with_cache_size(64));
    let keep = sub(999);
    add(&sl, "x.>", &keep);
    let mut threads = Vec::new();
    for w in 0..WRITERS {
        let sl = Arc::clone(&sl);
        threads.push(thread::spawn(move || {
            let mut kept = Vec::new();
            for i in 0..OPS {
                let s = sub(w * OPS + i);
                let subject = match i % 3 {
                    0 => format!("x.{}.y", i % 17),
                    1 => format!("x.*.{}", i % 5),
                    _ => format!("x.{}.>", i % 7),
                };
                let queue = (i % 4 == 0).then_some(&b"workers"[..]);
                assert!(sl
                    .insert(subject.as_bytes(), queue, 2, Arc::clone(&s))
                    .is_ok());
                if i % 2 == 0 {
                    assert!(sl.remove(subject.as_bytes(), queue, &s));
                } else {
                    kept.push((subject, queue, s));
                }
            }
            kept
        }));
    }
    let mut readers = Vec::new();
    for _ in 0..READERS {
        let sl = Arc::clone(&sl);
        readers.push(thread::spawn(move || {
            for i in 0..OPS {
                let subject = format!("x.{}.{}", i % 17, i % 5);
                let r = sl.matches(subject.as_bytes());
                assert!(r.plain.iter().any(|s| s.0 == 999), "{subject}");
                for g in &r.queues {
                    assert_eq!(&g.name[..], b"workers");
                    assert_eq!(g.members.len() % 2, 0, "weight 2 doubles members");
                }
            }
        }));
    }
    let mut kept = Vec::new();
    for t in threads {
        kept.extend(t.join().expect("writer thread"));
    }
    for t in readers {
        t.join().expect("reader thread");
    }
    assert_eq!(sl.count(), kept.len() + 1);
    assert_eq!(kept.len(), (WRITERS * OPS / 2) as usize);
    // Whatever the cache holds now must equal a fresh walk of the trie.
    for a in 0..17 {
        for b in 0..5 {
            let subject = format!("x.{a}.{b}");
            let cached = sl.matches(subject.as_bytes());
            let fresh = sl.match_uncached(subject.as_bytes());
            assert_eq!(sorted(ids(&cached.plain)), sorted(ids(&fresh.plain)));
            let total =
                |r: &SubResult<Sub>| -> usize { r.queues.iter().map(|g| g.members.len()).sum() };
            assert_eq!(total(&cached), total(&fresh), "{subject}");
        }
    }
    for (subject, queue, s) in kept {
        assert!(sl.remove(subject.as_bytes(), queue, &s));
    }
    assert!(sl.remove(b"x.>", None, &keep));
    assert_eq!(sl.count(), 0);
    assert_eq!(sl.node_count(), 0);
}

/// A level's children move from the short vector to a hash map past `FEW_CHILDREN` and back
/// once few are left; every subject is found, and removal frees every node, either way.
#[test]
fn levels_with_few_and_many_children() {
    let sl: Sublist<Sub> = Sublist::new();
    let n = (FEW_CHILDREN * 3) as u32;
    let subs: Vec<_> = (0..n).map(sub).collect();
    for (i, s) in subs.iter().enumerate() {
        add(&sl, &format!("a.{i}.x"), s);
        add_q(&sl, &format!("a.{i}"), "q", 1, s);
    }
    add(&sl, "a.*.x", &subs[0]);
    for i in 0..n {
        assert_eq!(plain(&sl, &format!("a.{i}.x")), sorted(vec![i, 0]));
        assert_eq!(groups(&sl, &format!("a.{i}")), [("q".to_string(), vec![i])]);
    }
    assert_eq!(plain(&sl, &format!("a.{n}.x")), [0]);
    assert!(sl.remove(b"a.*.x", None, &subs[0]));
    // Down to one child, through the way back to a vector.
    for (i, s) in subs.iter().enumerate().skip(1) {
        assert!(sl.remove(format!("a.{i}.x").as_bytes(), None, s));
        assert!(sl.remove(format!("a.{i}").as_bytes(), Some(b"q"), s));
        assert!(plain(&sl, &format!("a.{i}.x")).is_empty());
        assert_eq!(plain(&sl, "a.0.x"), [0], "after removing a.{i}.x");
    }
    assert_eq!(groups(&sl, "a.0"), [("q".to_string(), vec![0])]);
    assert_eq!(sl.node_count(), 3);
    assert!(sl.remove(b"a.0.x", None, &subs[0]));
    assert!(sl.remove(b"a.0", Some(b"q"), &subs[0]));
    assert_eq!(sl.node_count(), 0);
    assert_eq!(sl.count(), 0);
}

/// Tokens up to the inline length and past it are keys alike.
#[test]
fn short_and_long_tokens() {
    let sl: Sublist<Sub> = Sublist::new();
    let long = "l".repeat(INLINE_TOKEN + 1);
    let edge = "e".repeat(INLINE_TOKEN);
    let (a, b, c) = (sub(1), sub(2), sub(3));
    add(&sl, &format!("{long}.x"), &a);
    add(&sl, &format!("{edge}.{long}"), &b);
    add(&sl, &format!("{edge}.*"), &c);
    assert_eq!(plain(&sl, &format!("{long}.x")), [1]);
    assert_eq!(plain(&sl, &format!("{edge}.{long}")), [2, 3]);
    assert!(plain(&sl, &format!("{}.x", &long[1..])).is_empty());
    assert!(sl.remove(format!("{long}.x").as_bytes(), None, &a));
    assert!(sl.remove(format!("{edge}.{long}").as_bytes(), None, &b));
    assert!(sl.remove(format!("{edge}.*").as_bytes(), None, &c));
    assert_eq!(sl.node_count(), 0);
}

/// What one trie node costs in its parent's table, and its key: every byte here is paid
/// about twice over per subscription on a level with many children.
#[test]
fn trie_nodes_stay_small() {
    assert_eq!(std::mem::size_of::<Token>(), 24);
    assert!(std::mem::size_of::<Node<Sub>>() <= 48);
    assert!(std::mem::size_of::<Level<Sub>>() <= 40);
}
