//! Runs the same load against our `gnatsd` and against nats-server, interleaved (A B A B) with a
//! fresh server per run, and prints msgs/s, server CPU per message and peak RSS side by side.
//!
//! `cargo run --release -p bench --bin compare -- [--reference /usr/sbin/nats-server]
//! [--gnatsd target/release/gnatsd] [--messages 1000000] [--rounds 3]`

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bench::load::{self, Scenario};

struct Args {
    reference: String,
    gnatsd: String,
    messages: usize,
    rounds: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        reference: "/usr/sbin/nats-server".into(),
        gnatsd: "target/release/gnatsd".into(),
        messages: 1_000_000,
        rounds: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_default();
        match flag.as_str() {
            "--reference" => args.reference = value,
            "--gnatsd" => args.gnatsd = value,
            "--messages" => args.messages = value.parse().unwrap_or(args.messages),
            "--rounds" => args.rounds = value.parse().unwrap_or(args.rounds),
            other => {
                eprintln!("unknown flag {other}");
                std::process::exit(2);
            }
        }
    }
    args
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(14222)
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(binary: &str, port: u16, cluster: &[&str]) -> Option<Running> {
    let child = Command::new(binary)
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .args(cluster)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let running = Running(child);
    load::wait_ready(port, Duration::from_secs(10)).then_some(running)
}

#[derive(Default, Clone, Copy)]
struct Sample {
    msgs_per_sec: f64,
    cpu_ns_per_msg: f64,
    peak_rss_kib: u64,
}

fn measure(binary: &str, scenario: Scenario, routed: bool) -> Option<Sample> {
    if routed {
        return measure_routed(binary, scenario);
    }
    let port = free_port();
    let server = start(binary, port, &[])?;
    let pid = server.0.id();
    let cpu_before = load::cpu_time(pid)?;
    let outcome = load::run(port, scenario).ok()?;
    let cpu = load::cpu_time(pid)?.saturating_sub(cpu_before);
    Some(Sample {
        msgs_per_sec: outcome.msgs_per_sec,
        cpu_ns_per_msg: cpu.as_nanos() as f64 / scenario.messages as f64,
        peak_rss_kib: load::peak_rss_kib(pid).unwrap_or(0),
    })
}

/// Two servers routed together: subscribers on A, the publisher on B. CPU is both servers'.
fn measure_routed(binary: &str, scenario: Scenario) -> Option<Sample> {
    let (pa, pb, ca, cb) = (free_port(), free_port(), free_port(), free_port());
    let ca_url = format!("nats://127.0.0.1:{ca}");
    let cb_url = format!("nats://127.0.0.1:{cb}");
    let a = start(
        binary,
        pa,
        &["--cluster_name", "bench", "-cluster", &ca_url],
    )?;
    let b = start(
        binary,
        pb,
        &[
            "--cluster_name",
            "bench",
            "-cluster",
            &cb_url,
            "-routes",
            &ca_url,
        ],
    )?;
    let pids = [a.0.id(), b.0.id()];
    let cpu = |pids: &[u32]| {
        pids.iter()
            .filter_map(|p| load::cpu_time(*p))
            .sum::<Duration>()
    };
    let before = cpu(&pids);
    let outcome = load::run_between(pb, pa, scenario).ok()?;
    let used = cpu(&pids).saturating_sub(before);
    Some(Sample {
        msgs_per_sec: outcome.msgs_per_sec,
        cpu_ns_per_msg: used.as_nanos() as f64 / scenario.messages as f64,
        peak_rss_kib: pids
            .iter()
            .filter_map(|p| load::peak_rss_kib(*p))
            .max()
            .unwrap_or(0),
    })
}

fn best(samples: &[Sample]) -> Sample {
    let mut s = samples.to_vec();
    s.sort_by(|a, b| a.msgs_per_sec.total_cmp(&b.msgs_per_sec));
    // The median run: robust against one unlucky run on a shared machine.
    s.get(s.len() / 2).copied().unwrap_or_default()
}

fn main() {
    let args = parse_args();
    let s = |name, payload, subscribers, messages| Scenario {
        name,
        payload,
        subscribers,
        messages,
    };
    let m = args.messages;
    let scenarios = [
        (s("pub 128B, no subscribers", 128, 0, m), false),
        (s("pub/sub 128B 1->1", 128, 1, m), false),
        (s("pub/sub 128B 1->4", 128, 4, m / 2), false),
        (s("routed B->A 128B 1->1", 128, 1, m), true),
        (s("routed B->A 1KB 1->1", 1024, 1, m / 2), true),
    ];
    println!("| scenario | gnatsd msgs/s | nats-server msgs/s | ratio | gnatsd CPU ns/msg | nats-server CPU ns/msg | gnatsd peak RSS | nats-server peak RSS |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut ratios = Vec::new();
    for (scenario, routed) in scenarios {
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..args.rounds {
            match measure(&args.gnatsd, scenario, routed) {
                Some(s) => ours.push(s),
                None => eprintln!("{}: gnatsd run failed", scenario.name),
            }
            match measure(&args.reference, scenario, routed) {
                Some(s) => theirs.push(s),
                None => eprintln!("{}: nats-server run failed", scenario.name),
            }
        }
        let (a, b) = (best(&ours), best(&theirs));
        let ratio = if b.msgs_per_sec > 0.0 {
            a.msgs_per_sec / b.msgs_per_sec
        } else {
            0.0
        };
        ratios.push(ratio);
        println!(
            "| {} | {:.0} | {:.0} | {:.2}x | {:.0} | {:.0} | {} KiB | {} KiB |",
            scenario.name,
            a.msgs_per_sec,
            b.msgs_per_sec,
            ratio,
            a.cpu_ns_per_msg,
            b.cpu_ns_per_msg,
            a.peak_rss_kib,
            b.peak_rss_kib
        );
    }
    let geo = ratios
        .iter()
        .filter(|r| **r > 0.0)
        .map(|r| r.ln())
        .sum::<f64>()
        / ratios.len().max(1) as f64;
    println!("\ngeometric mean of msgs/s ratios: {:.2}x", geo.exp());
}
