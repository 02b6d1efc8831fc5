//! End to end through a real server on loopback: one publisher to one and to four
//! subscribers, 128 B payloads, raw protocol on both sides (see `bench::load`). The server runs
//! in-process on its own runtime threads; criterion times the publishing and delivery only.

use std::time::Duration;

use bench::load::{self, Scenario};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gnatsd::options::Options;
use gnatsd::server::Server;

/// Starts a server on a random loopback port and returns the port; the runtime keeps running
/// for the rest of the process.
fn start_server() -> u16 {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async move {
            let options = Options {
                host: "127.0.0.1".into(),
                port: -1,
                ..Options::default()
            };
            match Server::start(options).await {
                Ok(server) => {
                    let _ = tx.send(server.client_addr().port());
                    std::future::pending::<()>().await;
                }
                Err(e) => eprintln!("server failed to start: {e}"),
            }
        });
    });
    let port = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("server started");
    assert!(load::wait_ready(port, Duration::from_secs(10)));
    port
}

fn pubsub(c: &mut Criterion) {
    let port = start_server();
    let mut group = c.benchmark_group("e2e");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    for (name, subscribers) in [("pubsub_128b_1to1", 1), ("pubsub_128b_1to4", 4)] {
        let scenario = Scenario {
            name,
            payload: 128,
            subscribers,
            messages: 100_000,
        };
        group.throughput(Throughput::Elements(scenario.messages as u64));
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += load::run(port, scenario).expect("load run").elapsed;
                }
                total
            })
        });
    }
    group.finish();
}

criterion_group!(benches, pubsub);
criterion_main!(benches);
