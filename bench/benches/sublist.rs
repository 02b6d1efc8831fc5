//! The subject index: insert and remove, matching a literal subject with few and with 10,000
//! wildcard subscriptions, and the result cache's hit and miss paths.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use gnatsd::sublist::Sublist;

fn subjects(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("orders.{}.{}.created", i % 100, i))
        .collect()
}

fn insert_remove(c: &mut Criterion) {
    let mut group = c.benchmark_group("sublist");
    let subs = subjects(1_000);
    group.throughput(Throughput::Elements(subs.len() as u64));
    group.bench_function("insert_1k", |b| {
        b.iter_batched(
            Sublist::<u32>::new,
            |list| {
                for (i, s) in subs.iter().enumerate() {
                    let _ = list.insert(s.as_bytes(), None, 1, Arc::new(i as u32));
                }
                list
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("remove_1k", |b| {
        b.iter_batched(
            || {
                let list = Sublist::<u32>::new();
                let handles: Vec<_> = subs
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        let h = Arc::new(i as u32);
                        let _ = list.insert(s.as_bytes(), None, 1, h.clone());
                        h
                    })
                    .collect();
                (list, handles)
            },
            |(list, handles)| {
                for (s, h) in subs.iter().zip(&handles) {
                    list.remove(s.as_bytes(), None, h);
                }
                list
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn matching(c: &mut Criterion) {
    let mut group = c.benchmark_group("sublist");
    group.throughput(Throughput::Elements(1));

    // The same few filters with the result cache on (hit) and off (miss: a fresh list per
    // batch would measure setup, so the cache is disabled instead).
    for (name, list) in [
        ("match_literal_cache_hit", Sublist::<u32>::new()),
        (
            "match_literal_cache_miss",
            Sublist::<u32>::with_cache_size(0),
        ),
    ] {
        for (i, s) in [
            "orders.*.created",
            "orders.>",
            "orders.eu.created",
            "audit.>",
        ]
        .iter()
        .enumerate()
        {
            let _ = list.insert(s.as_bytes(), None, 1, Arc::new(i as u32));
        }
        group.bench_function(name, |b| b.iter(|| list.matches(b"orders.eu.created")));
    }

    // 10,000 wildcard subscriptions spread over the tree; match subjects that hit a few.
    let big = Sublist::<u32>::with_cache_size(0);
    for i in 0..10_000u32 {
        let filter = match i % 4 {
            0 => format!("svc.{}.*.req", i % 500),
            1 => format!("svc.*.{}.req", i % 500),
            2 => format!("svc.{}.>", i % 500),
            _ => format!("tenant.{i}.*"),
        };
        let _ = big.insert(filter.as_bytes(), None, 1, Arc::new(i));
    }
    group.bench_function("match_wildcard_10k", |b| {
        b.iter(|| big.matches(b"svc.42.17.req"))
    });
    group.finish();
}

criterion_group!(benches, insert_remove, matching);
criterion_main!(benches);
