//! Runs the same load against our `gnatsd` and against nats-server, interleaved (A B A B) over
//! several rounds with a fresh server per run, and prints msgs/s, MB/s, server CPU per message,
//! peak RSS, idle RSS and request/reply latency side by side, with ratios and their geometric
//! mean, as a Markdown report.
//!
//! `cargo run --release -p bench --bin compare -- [--reference /usr/sbin/nats-server]
//! [--gnatsd target/release/gnatsd] [--messages 1000000] [--rounds 3] [--self-check]
//! [--clients raw|go] [--natsload target/natsload]`
//!
//! `--self-check` runs nats-server against itself instead, to measure run-to-run noise;
//! `--scenarios-only` skips the raw mode's idle RSS, latency and probes (for profiling);
//! `--only <text>` keeps the scenarios whose name contains the text (`=text`: is the text;
//! `--only TLS`: the TLS
//! scenarios, run against servers started with `--tls` and a certificate generated for the
//! run; `--only ws`: the websocket scenarios, run against servers started with `-c` and a
//! config holding a `websocket {}` block).
//!
//! `--clients go` swaps the raw-protocol load for real clients: the `natsload` program
//! (`bench/go/natsload`, nats.go 1.22, built by `bench/run.sh`) runs publish-only, 1->1,
//! fan-out, fan-in, queue group, routed and request/reply at 16 B, 128 B, 1 KB and 16 KB,
//! and the same table is printed.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bench::load::{self, Scenario, Tls, TlsFiles};
use bench::natsload::{self, Job};
use bench::probes;
use indicatif::{ProgressBar, ProgressStyle};

/// Which load drives the servers.
#[derive(Clone, Copy, PartialEq)]
enum Clients {
    /// [`load`]: protocol bytes written and read directly.
    Raw,
    /// [`natsload`]: nats.go publishers and subscribers.
    Go,
}

struct Args {
    reference: String,
    gnatsd: String,
    messages: usize,
    rounds: usize,
    self_check: bool,
    only: Option<String>,
    clients: Clients,
    natsload: PathBuf,
    /// Run the raw mode's idle RSS, latency and probes after the scenarios.
    extras: bool,
    /// Which of them (`--probes idle,latency,connection,storm,cutoff,tls`); all when absent.
    probes: Option<String>,
}

impl Args {
    /// Whether the extra measurement `name` is to run.
    fn probe(&self, name: &str) -> bool {
        self.probes
            .as_deref()
            .is_none_or(|list| list.split(',').any(|p| p == name))
    }
}

/// The extra measurements `--probes` can pick.
const PROBES: [&str; 6] = ["idle", "latency", "connection", "storm", "cutoff", "tls"];

fn parse_args() -> Args {
    let mut args = Args {
        reference: "/usr/sbin/nats-server".into(),
        gnatsd: "target/release/gnatsd".into(),
        messages: 1_000_000,
        rounds: 3,
        self_check: false,
        only: None,
        clients: Clients::Raw,
        natsload: "target/natsload".into(),
        extras: true,
        probes: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--self-check" => args.self_check = true,
            "--scenarios-only" => args.extras = false,
            "--reference" | "--gnatsd" | "--messages" | "--rounds" | "--only" | "--clients"
            | "--natsload" | "--probes" => {
                let value = it.next().unwrap_or_default();
                match flag.as_str() {
                    "--only" => args.only = Some(value),
                    "--probes" => {
                        if let Some(bad) = value.split(',').find(|p| !PROBES.contains(p)) {
                            eprintln!("--probes {bad}: one of {}", PROBES.join(","));
                            std::process::exit(2);
                        }
                        args.probes = Some(value)
                    }
                    "--natsload" => args.natsload = value.into(),
                    "--clients" => {
                        args.clients = match value.as_str() {
                            "raw" => Clients::Raw,
                            "go" => Clients::Go,
                            other => {
                                eprintln!("--clients {other}: raw or go");
                                std::process::exit(2);
                            }
                        }
                    }
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

/// One run's measurements of the servers under load.
#[derive(Default, Clone, Copy)]
struct Sample {
    msgs_per_sec: f64,
    cpu_ns_per_msg: f64,
    peak_rss_kib: u64,
    /// Expected messages the subscribers never got (a slow consumer); real clients only,
    /// the raw load fails such a run instead.
    lost: u64,
    /// Round-trip p50, p90 and p99 (request/reply rows of the real-client load).
    latency: [Duration; 3],
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

/// The servers of one run (killed on drop) and where the load connects.
struct Servers {
    running: Vec<Running>,
    /// Where subscribers connect: server A's client port, or its websocket port.
    sub_port: u16,
    /// Where publishers connect: server B's client port when routed, else A's.
    pub_port: u16,
}

/// Starts fresh servers of `binary` laid out as `layout`; `accounts` is the scenario's
/// account count ([`Layout::Accounts`]), `tls` the certificate for [`Layout::Tls`].
fn start_layout(
    binary: &str,
    layout: Layout,
    accounts: usize,
    tls: Option<&TlsFiles>,
) -> Option<Servers> {
    let (pa, pb) = (free_port(), free_port());
    let single = |running| {
        Some(Servers {
            running: vec![running],
            sub_port: pa,
            pub_port: pa,
        })
    };
    match layout {
        Layout::Single => single(start(binary, pa, &[], None)?),
        Layout::Accounts => {
            let dir = std::env::temp_dir().join(format!("compare-accounts-{}", std::process::id()));
            std::fs::create_dir_all(&dir).ok()?;
            let conf = dir.join("accounts.conf");
            std::fs::write(&conf, load::accounts_config(accounts)).ok()?;
            single(start(binary, pa, &["-c", &conf.to_string_lossy()], None)?)
        }
        Layout::Websocket => {
            // The websocket port, chosen here and put in the config, so both servers listen
            // where the subscribers will connect.
            let ws = free_port();
            let dir =
                std::env::temp_dir().join(format!("compare-websocket-{}", std::process::id()));
            std::fs::create_dir_all(&dir).ok()?;
            let conf = dir.join("websocket.conf");
            std::fs::write(&conf, load::websocket_config(ws)).ok()?;
            let server = start(binary, pa, &["-c", &conf.to_string_lossy()], None)?;
            // The client port answering does not mean the websocket listener is up yet.
            let server =
                load::wait_ready_websocket(ws, Duration::from_secs(10)).then_some(server)?;
            Some(Servers {
                running: vec![server],
                sub_port: ws,
                pub_port: pa,
            })
        }
        Layout::Tls => {
            let files = tls?;
            let args = files.server_args();
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            single(start(binary, pa, &args, Some(&files.tls))?)
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
            Some(Servers {
                running: vec![a, b],
                sub_port: pa,
                pub_port: pb,
            })
        }
    }
}

/// Runs `load` (which fills in msgs/s, losses and latency) against `servers`, and adds the
/// servers' CPU time per message (of `messages` published) and their largest peak RSS.
fn observe(
    servers: &Servers,
    messages: usize,
    load: impl FnOnce() -> Option<Sample>,
) -> Option<Sample> {
    let pids: Vec<u32> = servers.running.iter().map(|s| s.0.id()).collect();
    let cpu = |pids: &[u32]| {
        pids.iter()
            .filter_map(|p| load::cpu_time(*p))
            .sum::<Duration>()
    };
    let before = cpu(&pids);
    let sample = load()?;
    let used = cpu(&pids).saturating_sub(before);
    Some(Sample {
        cpu_ns_per_msg: used.as_nanos() as f64 / messages.max(1) as f64,
        peak_rss_kib: pids
            .iter()
            .filter_map(|p| load::peak_rss_kib(*p))
            .max()
            .unwrap_or(0),
        ..sample
    })
}

/// One raw-protocol run of `scenario` on fresh servers; `tls` holds the certificate for
/// [`Layout::Tls`].
fn measure_raw(
    binary: &str,
    scenario: Scenario,
    layout: Layout,
    tls: Option<&TlsFiles>,
) -> Option<Sample> {
    let servers = start_layout(binary, layout, scenario.accounts, tls)?;
    let (sub, publish) = (servers.sub_port, servers.pub_port);
    observe(&servers, scenario.messages, || {
        match layout {
            Layout::Websocket => load::run_websocket(publish, sub, scenario),
            Layout::Tls => load::run(sub, scenario, Some(&tls?.tls)),
            Layout::Single | Layout::Accounts | Layout::Routed => {
                load::run_between(publish, sub, scenario, None)
            }
        }
        .inspect_err(|e| eprintln!("{}: {binary}: {e}", scenario.name))
        .ok()
        .map(|outcome| Sample {
            msgs_per_sec: outcome.msgs_per_sec,
            ..Sample::default()
        })
    })
}

/// A row of the real-client load.
struct GoRow {
    name: String,
    payload: usize,
    job: Job,
    routed: bool,
}

/// One `natsload` run (the program at `program`) of `row` on fresh servers.
fn measure_go(binary: &str, program: &std::path::Path, row: &GoRow) -> Option<Sample> {
    let layout = if row.routed {
        Layout::Routed
    } else {
        Layout::Single
    };
    let servers = start_layout(binary, layout, 0, None)?;
    observe(&servers, row.job.messages(), || {
        let report = natsload::run(
            program,
            servers.sub_port,
            servers.pub_port,
            row.payload,
            row.job,
        )
        .inspect_err(|e| eprintln!("{}: {binary}: {e}", row.name))
        .ok()?;
        if report.lost() > 0 {
            eprintln!(
                "{}: {binary}: {} of {} messages lost: {}",
                row.name,
                report.lost(),
                report.expected,
                report.errors.join("; ")
            );
        }
        Some(Sample {
            msgs_per_sec: report.msgs_per_sec,
            lost: report.lost(),
            latency: report.latency(),
            ..Sample::default()
        })
    })
}

fn idle_rss(binary: &str) -> Option<u64> {
    let port = free_port();
    let server = start(binary, port, &[], None)?;
    std::thread::sleep(Duration::from_millis(500));
    load::rss_kib(server.0.id())
}

fn latency(binary: &str, count: usize) -> Option<[Duration; 3]> {
    let port = free_port();
    let _server = start(binary, port, &[], None)?;
    let sorted = load::request_reply(port, 128, count, None).ok()?;
    Some([50.0, 90.0, 99.0].map(|p| load::percentile(&sorted, p)))
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

/// Idle clients measured for the memory per connection.
const IDLE_CLIENTS: usize = 1_000;
/// Connections in the storm whose memory must come back after they close.
const STORM_CLIENTS: usize = 5_000;

/// Resident bytes per idle client connection with one subscription (see [`probes`]).
fn per_connection(binary: &str) -> Option<f64> {
    let port = free_port();
    let server = start(binary, port, &[], None)?;
    probes::idle_per_connection(server.0.id(), port, IDLE_CLIENTS).ok()
}

/// RSS around a storm of [`STORM_CLIENTS`] connections (see [`probes::storm`]).
fn storm(binary: &str) -> Option<probes::Storm> {
    let port = free_port();
    let server = start(binary, port, &[], None)?;
    std::thread::sleep(Duration::from_millis(500));
    probes::storm(server.0.id(), port, STORM_CLIENTS).ok()
}

/// A publisher of 1 KB messages while a subscriber that reads nothing is cut off (see
/// [`probes::publisher_while_cut_off`]); long enough for nats-server's 10 s write deadline.
fn cut_off(binary: &str) -> Option<probes::CutOff> {
    let (port, monitor) = (free_port(), free_port());
    let _server = start(binary, port, &["-m", &monitor.to_string()], None)?;
    probes::publisher_while_cut_off(port, monitor, 1024, Duration::from_secs(15)).ok()
}

/// Requests in the request/reply latency measurements.
const LATENCY_REQUESTS: usize = 20_000;

/// The two sides of a report: their names in the table and their server binaries.
struct Sides<'a> {
    ours: &'a str,
    theirs: &'a str,
    ours_binary: &'a str,
    theirs_binary: &'a str,
}

impl<'a> Sides<'a> {
    fn new(args: &'a Args) -> Sides<'a> {
        let (ours, theirs) = if args.self_check {
            ("nats-server (A)", "nats-server (B)")
        } else {
            ("gnatsd", "nats-server")
        };
        Sides {
            ours,
            theirs,
            ours_binary: &args.gnatsd,
            theirs_binary: &args.reference,
        }
    }
}

/// A row's median runs on both sides, and the most messages either lost in one run.
struct Compared {
    name: String,
    payload: usize,
    ours: Sample,
    theirs: Sample,
    lost: (u64, u64),
}

/// Measures every row `rounds` times on each side, alternating (ours, theirs, ours, …);
/// `measure(binary, row)` is one run on fresh servers.
fn compare<R>(
    rows: &[R],
    name: impl Fn(&R) -> (&str, usize),
    measure: impl Fn(&str, &R) -> Option<Sample>,
    rounds: usize,
    sides: &Sides,
    bar: &ProgressBar,
) -> Vec<Compared> {
    let mut compared = Vec::new();
    for row in rows {
        let (row_name, payload) = name(row);
        let mut runs = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            for (side, binary, samples) in [
                (sides.ours, sides.ours_binary, &mut runs.0),
                (sides.theirs, sides.theirs_binary, &mut runs.1),
            ] {
                bar.set_message(format!("{row_name} ({side})"));
                match measure(binary, row) {
                    Some(s) => samples.push(s),
                    None => bar.println(format!("{row_name}: {side} run failed")),
                }
                bar.inc(1);
            }
        }
        let most_lost = |s: &[Sample]| s.iter().map(|s| s.lost).max().unwrap_or(0);
        compared.push(Compared {
            name: row_name.to_string(),
            payload,
            ours: median(&runs.0),
            theirs: median(&runs.1),
            lost: (most_lost(&runs.0), most_lost(&runs.1)),
        });
    }
    compared
}

/// `measure` run on our server and then on the reference, when the probe `name` is wanted.
fn both<T>(args: &Args, name: &str, measure: impl Fn(&str) -> Option<T>) -> (Option<T>, Option<T>) {
    if args.probe(name) {
        (measure(&args.gnatsd), measure(&args.reference))
    } else {
        (None, None)
    }
}

/// `a / b`, or 0 when `b` is not positive (a side whose runs all failed).
fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

/// Prints the Markdown table of `rows` and the geometric means of their ratios.
fn print_table(sides: &Sides, rows: &[Compared]) {
    if rows.is_empty() {
        return;
    }
    let (ours, theirs) = (sides.ours, sides.theirs);
    println!("| scenario | {ours} msgs/s | {theirs} msgs/s | ratio | {ours} MB/s | {theirs} MB/s | {ours} CPU ns/msg | {theirs} CPU ns/msg | CPU ratio | {ours} peak RSS KiB | {theirs} peak RSS KiB |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut ratios = Vec::new();
    let mut cpu_ratios = Vec::new();
    for row in rows {
        let (a, b) = (&row.ours, &row.theirs);
        let r = ratio(a.msgs_per_sec, b.msgs_per_sec);
        let cpu = ratio(a.cpu_ns_per_msg, b.cpu_ns_per_msg);
        // A run that lost messages stopped early: its rates compare nothing.
        if row.lost == (0, 0) {
            ratios.push(r);
            cpu_ratios.push(cpu);
        }
        let mb = |s: &Sample| s.msgs_per_sec * row.payload as f64 / 1e6;
        let rate = |s: &Sample, lost: u64| {
            let mark = if lost > 0 { " (lost)" } else { "" };
            format!("{:.0}{mark}", s.msgs_per_sec)
        };
        println!(
            "| {} | {} | {} | **{:.2}x** | {:.1} | {:.1} | {:.0} | {:.0} | {:.2}x | {} | {} |",
            row.name,
            rate(a, row.lost.0),
            rate(b, row.lost.1),
            r,
            mb(a),
            mb(b),
            a.cpu_ns_per_msg,
            b.cpu_ns_per_msg,
            cpu,
            a.peak_rss_kib,
            b.peak_rss_kib
        );
    }
    let geo = |r: &[f64]| {
        (r.iter().filter(|x| **x > 0.0).map(|x| x.ln()).sum::<f64>() / r.len().max(1) as f64).exp()
    };
    println!();
    let lossy = rows.len() - ratios.len();
    let left_out = if lossy > 0 {
        format!(" ({lossy} rows with lost messages left out)")
    } else {
        String::new()
    };
    println!(
        "- geometric mean of msgs/s ratios: **{:.2}x**; lowest: {:.2}x{left_out}",
        geo(&ratios),
        ratios.iter().copied().fold(f64::MAX, f64::min)
    );
    println!(
        "- geometric mean of CPU-per-message ratios: {:.2}x",
        geo(&cpu_ratios)
    );
}

/// A summary line of round-trip percentiles on both sides.
fn latency_line(what: &str, sides: &Sides, a: [Duration; 3], b: [Duration; 3]) -> String {
    let us = |d: [Duration; 3]| d.map(|d| d.as_secs_f64() * 1e6);
    let (a, b) = (us(a), us(b));
    format!(
        "- {what} (µs): {} p50 {:.0} / p90 {:.0} / p99 {:.0}; {} p50 {:.0} / p90 {:.0} / p99 {:.0}",
        sides.ours, a[0], a[1], a[2], sides.theirs, b[0], b[1], b[2]
    )
}

fn progress(len: usize) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Whether `--only` keeps the scenario called `name`.
/// Whether `--only` keeps the scenario `name`: its name contains the text, or, for `=text`,
/// is the text.
fn wanted(args: &Args, name: &str) -> bool {
    args.only
        .as_ref()
        .is_none_or(|o| match o.strip_prefix('=') {
            Some(exact) => name == exact,
            None => name.contains(o.as_str()),
        })
}

/// The raw-protocol comparison (see [`load`]).
fn raw(args: &Args, sides: &Sides) {
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
            Scenario::new("1->1 1 KB", 1024, 1, 1, m / 2),
            Layout::Single,
        ),
        (
            Scenario::new("1->1 16 KB", 16 * 1024, 1, 1, m / 20),
            Layout::Single,
        ),
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
        .filter(|(s, _)| wanted(args, s.name))
        .collect();
    // Certificates only when a TLS scenario runs; removed when `tls` drops at the end.
    let tls = scenarios
        .iter()
        .any(|(_, layout)| matches!(layout, Layout::Tls))
        .then(|| TlsFiles::generate().expect("generate TLS certificates"));
    let bar = progress(scenarios.len() * args.rounds * 2 + 10);
    let rows = compare(
        &scenarios,
        |(s, _)| (s.name, s.payload),
        |binary, (s, layout)| measure_raw(binary, *s, *layout, tls.as_ref()),
        args.rounds,
        sides,
        &bar,
    );
    if !args.extras {
        bar.finish_and_clear();
        print_table(sides, &rows);
        return;
    }
    bar.set_message("idle RSS");
    let idle = both(args, "idle", idle_rss);
    bar.inc(2);
    bar.set_message("request/reply latency");
    let lat = both(args, "latency", |b| latency(b, LATENCY_REQUESTS));
    bar.inc(2);
    bar.set_message("memory per connection, connection storm, slow consumer cut-off");
    let conn = both(args, "connection", per_connection);
    let storms = both(args, "storm", storm);
    let cuts = both(args, "cutoff", cut_off);
    bar.inc(6);
    let suites = tls.as_ref().filter(|_| args.probe("tls")).map(|files| {
        bar.set_message("TLS cipher suites");
        (
            tls_suite(&args.gnatsd, files),
            tls_suite(&args.reference, files),
        )
    });
    bar.finish_and_clear();

    print_table(sides, &rows);
    let (ours, theirs) = (sides.ours, sides.theirs);
    if let (Some(a), Some(b)) = idle {
        println!(
            "- idle RSS: {ours} {a} KiB, {theirs} {b} KiB ({:.2}x)",
            a as f64 / b.max(1) as f64
        );
    }
    if let (Some(a), Some(b)) = lat {
        let what =
            format!("request/reply round trip, 128 B, {LATENCY_REQUESTS} sequential requests");
        println!("{}", latency_line(&what, sides, a, b));
    }
    if let (Some(a), Some(b)) = conn {
        println!(
            "- memory per idle connection ({IDLE_CLIENTS} clients, one SUB each): {ours} {a:.0} B, {theirs} {b:.0} B ({:.2}x)",
            a / b.max(1.0)
        );
    }
    if let (Some(a), Some(b)) = storms {
        let line = |s: probes::Storm| {
            let back = s.back_within_2x.map_or("not within 10 s".to_string(), |d| {
                format!("back within 2x idle after {:.1} s", d.as_secs_f64())
            });
            format!(
                "idle {} KiB, {} KiB open, {} KiB 10 s after the close, {back}",
                s.idle_kib, s.peak_kib, s.after_kib
            )
        };
        println!(
            "- a storm of {STORM_CLIENTS} connections opening and closing: {ours} {}; {theirs} {}",
            line(a),
            line(b)
        );
    }
    if let (Some(a), Some(b)) = cuts {
        let line = |c: probes::CutOff| {
            let cut = c.cut_after.map_or("not cut off in 15 s".to_string(), |d| {
                format!("cut off after {:.2} s", d.as_secs_f64())
            });
            format!(
                "{:.0}% of its unloaded {:.0} msgs/s until the subscriber was {cut}",
                100.0 * c.during / c.unloaded.max(1.0),
                c.unloaded
            )
        };
        println!(
            "- a 1 KB publisher while a subscriber that reads nothing is cut off as a slow consumer: {ours} {}; {theirs} {}",
            line(a),
            line(b)
        );
    }
    if let Some((a, b)) = suites {
        let name = |s: Option<String>| s.unwrap_or_else(|| "unknown (handshake failed)".into());
        println!(
            "- TLS cipher suite negotiated: {ours} {}, {theirs} {}",
            name(a),
            name(b)
        );
    }
}

/// The real-client comparison (see [`natsload`]): every scenario at 16 B, 128 B, 1 KB and
/// 16 KB, with fewer messages for the larger payloads so a run takes a few seconds.
fn real_clients(args: &Args, sides: &Sides) {
    if !args.natsload.is_file() {
        eprintln!(
            "{}: not found; build it with `GO111MODULE=off GOPATH=/usr/share/gocode go build -o target/natsload ./bench/go/natsload` (bench/run.sh does)",
            args.natsload.display()
        );
        std::process::exit(2);
    }
    let m = args.messages;
    let sizes = [
        (16, "16 B", m),
        (128, "128 B", m),
        (1024, "1 KB", m / 2),
        (16 * 1024, "16 KB", m / 10),
    ];
    // (name, publishers, subscribers, queue group, routed, messages divided by): the
    // fan-out publishes a quarter, so its subscribers get as many messages as one gets in
    // 1->1.
    let kinds = [
        ("pub only", 1, 0, false, false, 1),
        ("1->1", 1, 1, false, false, 1),
        ("1->4 fan-out", 1, 4, false, false, 4),
        ("4->1 fan-in", 4, 1, false, false, 1),
        ("queue group of 4,", 1, 4, true, false, 1),
        ("routed B->A", 1, 1, false, true, 1),
    ];
    let mut rows = Vec::new();
    for (kind, publishers, subscribers, queue, routed, divide) in kinds {
        for (payload, size, messages) in sizes {
            rows.push(GoRow {
                name: format!("{kind} {size}"),
                payload,
                job: Job::PubSub {
                    publishers,
                    subscribers,
                    queue,
                    messages: (messages / divide).max(1),
                },
                routed,
            });
        }
    }
    for (payload, size, _) in sizes {
        rows.push(GoRow {
            name: format!("request/reply {size}"),
            payload,
            job: Job::RequestReply {
                requests: LATENCY_REQUESTS,
            },
            routed: false,
        });
    }
    rows.retain(|r| wanted(args, &r.name));
    let bar = progress(rows.len() * args.rounds * 2);
    let compared = compare(
        &rows,
        |r| (r.name.as_str(), r.payload),
        |binary, r| measure_go(binary, &args.natsload, r),
        args.rounds,
        sides,
        &bar,
    );
    bar.finish_and_clear();

    print_table(sides, &compared);
    for (row, c) in rows.iter().zip(&compared) {
        if let Job::RequestReply { requests } = row.job {
            let what = format!("{}: round trip, {requests} sequential requests", row.name);
            println!(
                "{}",
                latency_line(&what, sides, c.ours.latency, c.theirs.latency)
            );
        }
    }
    for c in compared.iter().filter(|c| c.lost != (0, 0)) {
        println!(
            "- {}: messages lost (slow consumer), most in one run: {} {}, {} {}",
            c.name, sides.ours, c.lost.0, sides.theirs, c.lost.1
        );
    }
}

fn main() {
    let args = parse_args();
    let sides = Sides::new(&args);
    match args.clients {
        Clients::Raw => raw(&args, &sides),
        Clients::Go => real_clients(&args, &sides),
    }
}
