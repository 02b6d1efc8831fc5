//! Runs the same load against our `gnatsd` and against nats-server, interleaved (A B A B) over
//! several rounds with a fresh server per run, and prints msgs/s, MB/s, server CPU per message,
//! peak RSS, idle RSS and request/reply latency side by side, with ratios and their geometric
//! mean, as a Markdown report.
//!
//! `cargo run --release -p bench --bin compare -- [--reference /usr/sbin/nats-server]
//! [--gnatsd target/release/gnatsd] [--messages 1000000] [--rounds 3] [--self-check]`
//!
//! `--self-check` runs nats-server against itself instead, to measure run-to-run noise;
//! `--only <text>` keeps the scenarios whose name contains the text (`--only TLS`: the TLS
//! scenarios, run against servers started with `--tls` and a certificate generated for the
//! run; `--only ws`: the websocket scenarios, run against servers started with `-c` and a
//! config holding a `websocket {}` block).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bench::load::{self, Scenario, Tls, TlsFiles};
use indicatif::{ProgressBar, ProgressStyle};

struct Args {
    reference: String,
    gnatsd: String,
    messages: usize,
    rounds: usize,
    self_check: bool,
    only: Option<String>,
}

fn parse_args() -> Args {
    let mut args = Args {
        reference: "/usr/sbin/nats-server".into(),
        gnatsd: "target/release/gnatsd".into(),
        messages: 1_000_000,
        rounds: 3,
        self_check: false,
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--self-check" => args.self_check = true,
            "--reference" | "--gnatsd" | "--messages" | "--rounds" | "--only" => {
                let value = it.next().unwrap_or_default();
                match flag.as_str() {
                    "--only" => args.only = Some(value),
                    "--reference" => args.reference = value,
                    "--gnatsd" => args.gnatsd = value,
                    "--messages" => args.messages = value.parse().unwrap_or(args.messages),
                    _ => args.rounds = value.parse().unwrap_or(args.rounds),
                }
            }
            other => {
                eprintln!("unknown flag {other}");
                std::process::exit(2);
            }
        }
    }
    if args.self_check {
        args.gnatsd = args.reference.clone();
    }
    args
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(14222)
}

/// A server process, killed on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `binary` on `port` and waits until it answers (over TLS with `tls`: a server
/// requiring TLS never answers a plaintext PING).
fn start(binary: &str, port: u16, extra: &[&str], tls: Option<&Tls>) -> Option<Running> {
    let child = Command::new(binary)
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let running = Running(child);
    load::wait_ready(port, Duration::from_secs(10), tls).then_some(running)
}

#[derive(Default, Clone, Copy)]
struct Sample {
    msgs_per_sec: f64,
    cpu_ns_per_msg: f64,
    peak_rss_kib: u64,
}

/// How a scenario is laid out over servers.
#[derive(Clone, Copy)]
enum Layout {
    Single,
    /// Subscribers on A, publishers on B, A and B routed.
    Routed,
    /// One server requiring TLS from clients; every connection is TLS.
    Tls,
    /// One server with the scenario's accounts (see `load::accounts_config`).
    Accounts,
    /// One server with a plaintext websocket listener (see `load::websocket_config`):
    /// publishers on the client port, subscribers websocket clients.
    Websocket,
}

/// One run of `scenario` on fresh servers; `tls` holds the certificate for [`Layout::Tls`].
fn measure(
    binary: &str,
    scenario: Scenario,
    layout: Layout,
    tls: Option<&TlsFiles>,
) -> Option<Sample> {
    let (pa, pb) = (free_port(), free_port());
    // Only used by `Layout::Websocket`: the websocket port, chosen here and put in the
    // config, so both servers listen where the subscribers will connect.
    let ws = free_port();
    let servers = match layout {
        Layout::Single => vec![start(binary, pa, &[], None)?],
        Layout::Accounts => {
            let dir = std::env::temp_dir().join(format!("compare-accounts-{}", std::process::id()));
            std::fs::create_dir_all(&dir).ok()?;
            let conf = dir.join("accounts.conf");
            std::fs::write(&conf, load::accounts_config(scenario.accounts)).ok()?;
            vec![start(binary, pa, &["-c", &conf.to_string_lossy()], None)?]
        }
        Layout::Websocket => {
            let dir =
                std::env::temp_dir().join(format!("compare-websocket-{}", std::process::id()));
            std::fs::create_dir_all(&dir).ok()?;
            let conf = dir.join("websocket.conf");
            std::fs::write(&conf, load::websocket_config(ws)).ok()?;
            let server = start(binary, pa, &["-c", &conf.to_string_lossy()], None)?;
            // The client port answering does not mean the websocket listener is up yet.
            let server =
                load::wait_ready_websocket(ws, Duration::from_secs(10)).then_some(server)?;
            vec![server]
        }
        Layout::Tls => {
            let files = tls?;
            let args = files.server_args();
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            vec![start(binary, pa, &args, Some(&files.tls))?]
        }
        Layout::Routed => {
            let (ca, cb) = (free_port(), free_port());
            let ca_url = format!("nats://127.0.0.1:{ca}");
            let cb_url = format!("nats://127.0.0.1:{cb}");
            let a = start(
                binary,
                pa,
                &["--cluster_name", "bench", "-cluster", &ca_url],
                None,
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
                None,
            )?;
            vec![a, b]
        }
    };
    let pids: Vec<u32> = servers.iter().map(|s| s.0.id()).collect();
    let cpu = |pids: &[u32]| {
        pids.iter()
            .filter_map(|p| load::cpu_time(*p))
            .sum::<Duration>()
    };
    let before = cpu(&pids);
    let outcome = match layout {
        Layout::Single | Layout::Accounts => load::run(pa, scenario, None),
        Layout::Routed => load::run_between(pb, pa, scenario, None),
        Layout::Tls => load::run(pa, scenario, Some(&tls?.tls)),
        Layout::Websocket => load::run_websocket(pa, ws, scenario),
    }
    .inspect_err(|e| eprintln!("{}: {binary}: {e}", scenario.name))
    .ok()?;
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

fn idle_rss(binary: &str) -> Option<u64> {
    let port = free_port();
    let server = start(binary, port, &[], None)?;
    std::thread::sleep(Duration::from_millis(500));
    load::rss_kib(server.0.id())
}

fn latency(binary: &str, count: usize) -> Option<Vec<Duration>> {
    let port = free_port();
    let _server = start(binary, port, &[], None)?;
    load::request_reply(port, 128, count, None).ok()
}

/// The cipher suite `binary` negotiates with the load generator's TLS client.
fn tls_suite(binary: &str, files: &TlsFiles) -> Option<String> {
    let port = free_port();
    let args = files.server_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let _server = start(binary, port, &args, Some(&files.tls))?;
    load::tls_cipher_suite(port, &files.tls).ok()
}

fn median(samples: &[Sample]) -> Sample {
    let mut s = samples.to_vec();
    s.sort_by(|a, b| a.msgs_per_sec.total_cmp(&b.msgs_per_sec));
    // The median run: robust against one unlucky run on a shared machine.
    s.get(s.len() / 2).copied().unwrap_or_default()
}

fn main() {
    let args = parse_args();
    let m = args.messages;
    let scenarios: Vec<(Scenario, Layout)> = vec![
        (Scenario::new("pub only 0 B", 0, 1, 0, m), Layout::Single),
        (
            Scenario::new("pub only 128 B", 128, 1, 0, m),
            Layout::Single,
        ),
        (
            Scenario::new("pub only 1 KB", 1024, 1, 0, m / 2),
            Layout::Single,
        ),
        (
            Scenario::new("pub only 16 KB", 16 * 1024, 1, 0, m / 20),
            Layout::Single,
        ),
        (Scenario::new("1->1 128 B", 128, 1, 1, m), Layout::Single),
        (
            Scenario::new("1->4 fan-out 128 B", 128, 1, 4, m / 2),
            Layout::Single,
        ),
        (
            Scenario::new("4->1 fan-in 128 B", 128, 4, 1, m),
            Layout::Single,
        ),
        (
            Scenario::new("queue group of 4, 128 B", 128, 1, 4, m).queue_group(),
            Layout::Single,
        ),
        (
            Scenario::new(
                "10 accounts, stream import each, 1->10 128 B",
                128,
                1,
                10,
                m / 4,
            )
            .in_accounts(10),
            Layout::Accounts,
        ),
        (
            Scenario::new("routed B->A 128 B", 128, 1, 1, m),
            Layout::Routed,
        ),
        (
            Scenario::new("routed B->A 1 KB", 1024, 1, 1, m / 2),
            Layout::Routed,
        ),
        // TLS twins of "1->1 128 B" and "pub only 1 KB" (same sizes and counts), so those
        // rows compare directly; "1->1 1 KB" adds a case where encryption dominates.
        (Scenario::new("TLS 1->1 128 B", 128, 1, 1, m), Layout::Tls),
        (
            Scenario::new("TLS 1->1 1 KB", 1024, 1, 1, m / 2),
            Layout::Tls,
        ),
        (
            Scenario::new("TLS pub only 1 KB", 1024, 1, 0, m / 2),
            Layout::Tls,
        ),
        // Websocket twins of "1->1 128 B" and "TLS 1->1 1 KB" (same sizes and counts): the
        // publisher a plain client, the subscriber an uncompressed websocket client.
        (
            Scenario::new("1->1 128 B over ws", 128, 1, 1, m),
            Layout::Websocket,
        ),
        (
            Scenario::new("1->1 1 KB over ws", 1024, 1, 1, m / 2),
            Layout::Websocket,
        ),
    ];
    let scenarios: Vec<(Scenario, Layout)> = scenarios
        .into_iter()
        .filter(|(s, _)| {
            args.only
                .as_ref()
                .is_none_or(|o| s.name.contains(o.as_str()))
        })
        .collect();
    let (ours_name, theirs_name) = if args.self_check {
        ("nats-server (A)", "nats-server (B)")
    } else {
        ("gnatsd", "nats-server")
    };
    // Certificates only when a TLS scenario runs; removed when `tls` drops at the end.
    let tls = scenarios
        .iter()
        .any(|(_, layout)| matches!(layout, Layout::Tls))
        .then(|| TlsFiles::generate().expect("generate TLS certificates"));
    let latency_count = 20_000;
    let bar = ProgressBar::new((scenarios.len() * args.rounds * 2 + 4) as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut rows = Vec::new();
    let mut ratios = Vec::new();
    let mut cpu_ratios = Vec::new();
    for (scenario, layout) in &scenarios {
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..args.rounds {
            bar.set_message(format!("{} ({ours_name})", scenario.name));
            match measure(&args.gnatsd, *scenario, *layout, tls.as_ref()) {
                Some(s) => ours.push(s),
                None => bar.println(format!("{}: {ours_name} run failed", scenario.name)),
            }
            bar.inc(1);
            bar.set_message(format!("{} ({theirs_name})", scenario.name));
            match measure(&args.reference, *scenario, *layout, tls.as_ref()) {
                Some(s) => theirs.push(s),
                None => bar.println(format!("{}: {theirs_name} run failed", scenario.name)),
            }
            bar.inc(1);
        }
        let (a, b) = (median(&ours), median(&theirs));
        let ratio = if b.msgs_per_sec > 0.0 {
            a.msgs_per_sec / b.msgs_per_sec
        } else {
            0.0
        };
        let cpu_ratio = if b.cpu_ns_per_msg > 0.0 {
            a.cpu_ns_per_msg / b.cpu_ns_per_msg
        } else {
            0.0
        };
        ratios.push(ratio);
        cpu_ratios.push(cpu_ratio);
        let mb = |s: &Sample| s.msgs_per_sec * scenario.payload as f64 / 1e6;
        rows.push(format!(
            "| {} | {:.0} | {:.0} | **{:.2}x** | {:.1} | {:.1} | {:.0} | {:.0} | {:.2}x | {} | {} |",
            scenario.name,
            a.msgs_per_sec,
            b.msgs_per_sec,
            ratio,
            mb(&a),
            mb(&b),
            a.cpu_ns_per_msg,
            b.cpu_ns_per_msg,
            cpu_ratio,
            a.peak_rss_kib,
            b.peak_rss_kib
        ));
    }
    bar.set_message("idle RSS");
    let idle = (idle_rss(&args.gnatsd), idle_rss(&args.reference));
    bar.inc(2);
    bar.set_message("request/reply latency");
    let lat = (
        latency(&args.gnatsd, latency_count),
        latency(&args.reference, latency_count),
    );
    bar.inc(2);
    let suites = tls.as_ref().map(|files| {
        bar.set_message("TLS cipher suites");
        (
            tls_suite(&args.gnatsd, files),
            tls_suite(&args.reference, files),
        )
    });
    bar.finish_and_clear();

    println!("| scenario | {ours_name} msgs/s | {theirs_name} msgs/s | ratio | {ours_name} MB/s | {theirs_name} MB/s | {ours_name} CPU ns/msg | {theirs_name} CPU ns/msg | CPU ratio | {ours_name} peak RSS KiB | {theirs_name} peak RSS KiB |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        println!("{row}");
    }
    let geo = |r: &[f64]| {
        (r.iter().filter(|x| **x > 0.0).map(|x| x.ln()).sum::<f64>() / r.len().max(1) as f64).exp()
    };
    println!();
    println!(
        "- geometric mean of msgs/s ratios: **{:.2}x**; lowest: {:.2}x",
        geo(&ratios),
        ratios.iter().copied().fold(f64::MAX, f64::min)
    );
    println!(
        "- geometric mean of CPU-per-message ratios: {:.2}x",
        geo(&cpu_ratios)
    );
    if let (Some(a), Some(b)) = idle {
        println!(
            "- idle RSS: {ours_name} {a} KiB, {theirs_name} {b} KiB ({:.2}x)",
            a as f64 / b.max(1) as f64
        );
    }
    if let (Some(a), Some(b)) = lat {
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        println!(
            "- request/reply round trip, 128 B, {latency_count} sequential requests (µs): {ours_name} p50 {:.0} / p90 {:.0} / p99 {:.0}; {theirs_name} p50 {:.0} / p90 {:.0} / p99 {:.0}",
            us(load::percentile(&a, 50.0)),
            us(load::percentile(&a, 90.0)),
            us(load::percentile(&a, 99.0)),
            us(load::percentile(&b, 50.0)),
            us(load::percentile(&b, 90.0)),
            us(load::percentile(&b, 99.0)),
        );
    }
    if let Some((a, b)) = suites {
        let name = |s: Option<String>| s.unwrap_or_else(|| "unknown (handshake failed)".into());
        println!(
            "- TLS cipher suite negotiated: {ours_name} {}, {theirs_name} {}",
            name(a),
            name(b)
        );
    }
}
