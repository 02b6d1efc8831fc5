//! End to end through real servers on loopback, raw protocol on both sides (see
//! `bench::load`): publish only at 0 B, 128 B, 1 KB and 16 KB; 1→1, 1→4 fan-out, 4→1 fan-in
//! and a queue group of 4 at 128 B; request/reply round trips; and two routed servers
//! (publisher on B, subscriber on A) at 128 B and 1 KB. The servers run in-process on their
//! own runtime threads; criterion times the publishing and delivery only.

use std::time::Duration;

use bench::load::{self, Scenario};
use bench::local_options;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gnatsd::options::{ClusterOptions, Options};

/// Starts a server with `options` on its own runtime; returns (client port, cluster port).
fn start(options: Options) -> (u16, u16) {
    bench::start_server(options).expect("server started")
}

fn clustered(routes: Vec<String>) -> Options {
    Options {
        cluster: ClusterOptions {
            name: Some("bench".into()),
            host: "127.0.0.1".into(),
            port: -1,
            routes,
            ..ClusterOptions::default()
        },
        ..local_options()
    }
}

fn bench_scenarios(
    c: &mut Criterion,
    group: &str,
    pub_port: u16,
    sub_port: u16,
    scenarios: &[Scenario],
) {
    let mut g = c.benchmark_group(group);
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    for scenario in scenarios {
        g.throughput(Throughput::Elements(scenario.messages as u64));
        g.bench_function(scenario.name, |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        load::run_between(pub_port, sub_port, *scenario, None)
                            .expect("load run")
                            .elapsed
                    })
                    .sum()
            })
        });
    }
    g.finish();
}

fn single_server(c: &mut Criterion) {
    let (port, _) = start(local_options());
    bench_scenarios(
        c,
        "e2e",
        port,
        port,
        &[
            Scenario::new("pub_0b", 0, 1, 0, 200_000),
            Scenario::new("pub_128b", 128, 1, 0, 200_000),
            Scenario::new("pub_1kb", 1024, 1, 0, 100_000),
            Scenario::new("pub_16kb", 16 * 1024, 1, 0, 10_000),
            Scenario::new("pubsub_128b_1to1", 128, 1, 1, 100_000),
            Scenario::new("pubsub_128b_1to4", 128, 1, 4, 50_000),
            Scenario::new("pubsub_128b_4to1", 128, 4, 1, 100_000),
            Scenario::new("queue_128b_group_of_4", 128, 1, 4, 100_000).queue_group(),
        ],
    );
    let mut g = c.benchmark_group("e2e");
    g.sample_size(10);
    g.throughput(Throughput::Elements(1));
    g.bench_function("request_reply_128b", |b| {
        b.iter_custom(|iters| {
            load::request_reply(port, 128, iters as usize, None)
                .expect("request/reply")
                .iter()
                .sum()
        })
    });
    g.finish();
}

fn routed(c: &mut Criterion) {
    let (a, cluster_a) = start(clustered(Vec::new()));
    let (b, _) = start(clustered(vec![format!(
        "nats-route://127.0.0.1:{cluster_a}"
    )]));
    bench_scenarios(
        c,
        "e2e_routed",
        b,
        a,
        &[
            Scenario::new("b_to_a_128b", 128, 1, 1, 100_000),
            Scenario::new("b_to_a_1kb", 1024, 1, 1, 50_000),
        ],
    );
}

criterion_group!(benches, single_server, routed);
criterion_main!(benches);
