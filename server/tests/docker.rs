//! The seed's Docker examples on a real Docker engine: build the FROM-scratch image with
//! `docker/build.sh`, bring up example 1 and example 2 with their compose files, and check the
//! mesh, the seed's `nats-sub`/`nats-pub` lines through the published ports, a network
//! partition and a container restart.
//!
//! Everything created (image, compose projects with their containers and networks) is named
//! after this test run and removed at the end, also when an assertion fails. Without a Docker
//! engine the test says so and passes, unless `DOCKER_REQUIRED=1` (set by `.ci/run`).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("run command")
}

/// Runs `docker <args>` and asserts it succeeded, showing its standard error when not.
fn docker_ok(args: &[&str]) {
    let out = run(Command::new("docker").args(args));
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn docker_available() -> bool {
    Command::new("docker")
        .arg("info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Removes the image and every compose project of this run when dropped.
struct Cleanup {
    image: String,
    projects: Vec<(String, PathBuf)>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for (project, dir) in &self.projects {
            let _ = run(Command::new("docker-compose").current_dir(dir).args([
                "-p",
                project,
                "down",
                "-v",
                "--remove-orphans",
                "-t",
                "1",
            ]));
        }
        let _ = run(Command::new("docker").args(["rmi", "-f", &self.image]));
    }
}

impl Cleanup {
    /// `docker/example<n>` as a compose project of this run on free host ports, registered
    /// for removal.
    fn example(&mut self, n: u8) -> Example {
        let ex = Example {
            project: format!("gnatsdtest{}ex{n}", std::process::id()),
            dir: repo().join(format!("docker/example{n}")),
            image: self.image.clone(),
            ports: [free_port(), free_port(), free_port()],
        };
        self.projects.push((ex.project.clone(), ex.dir.clone()));
        ex
    }
}

/// One compose project: an example's three servers on their own network with host ports.
struct Example {
    project: String,
    dir: PathBuf,
    image: String,
    ports: [u16; 3],
}

impl Example {
    fn compose(&self, args: &[&str]) -> Output {
        run(Command::new("docker-compose")
            .current_dir(&self.dir)
            .env("GNATSD_IMAGE", &self.image)
            .env("A_PORT", self.ports[0].to_string())
            .env("B_PORT", self.ports[1].to_string())
            .env("C_PORT", self.ports[2].to_string())
            .env("ADVERTISE_HOST", "127.0.0.1")
            .args(["-p", &self.project])
            .args(args))
    }

    fn up(&self, services: &[&str]) {
        let mut args = vec!["up", "-d", "--no-recreate"];
        args.extend_from_slice(services);
        let out = self.compose(&args);
        assert!(
            out.status.success(),
            "compose up: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn container(&self, service: &str) -> String {
        format!("{}_{service}_1", self.project)
    }

    fn network(&self) -> String {
        format!("{}_default", self.project)
    }

    fn logs(&self) -> String {
        String::from_utf8_lossy(&self.compose(&["logs", "--no-color"]).stdout).into_owned()
    }
}

/// The `connect_urls` a new client of `port` is given (own URL first, then one per peer).
fn connect_urls(port: u16) -> Option<Vec<String>> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let mut line = String::new();
    BufReader::new(&mut s).read_line(&mut line).ok()?;
    let json = line.strip_prefix("INFO ")?.trim_end();
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    Some(
        v["connect_urls"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|u| u.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default(),
    )
}

/// Polls until every server hands out three connect URLs (itself and two routed peers).
fn wait_mesh(ex: &Example, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let counts: Vec<usize> = ex
            .ports
            .iter()
            .map(|p| connect_urls(*p).map_or(0, |u| u.len()))
            .collect();
        if counts.iter().all(|c| *c == 3) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no full mesh: {counts:?}\n{}",
            ex.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A raw subscriber through a published port.
struct Sub(TcpStream);

impl Sub {
    fn new(port: u16, subject: &str) -> Sub {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut s = loop {
            match TcpStream::connect(("127.0.0.1", port)) {
                Ok(s) => break s,
                Err(e) => {
                    assert!(Instant::now() < deadline, "connect {port}: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        };
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        s.write_all(
            format!("CONNECT {{\"verbose\":false}}\r\nSUB {subject} 1\r\nPING\r\n").as_bytes(),
        )
        .expect("subscribe");
        let mut sub = Sub(s);
        let got = sub.read_for(Duration::from_secs(5), |t| t.contains("PONG\r\n"));
        assert!(got.contains("PONG"), "no PONG: {got:?}");
        sub
    }

    fn read_for(&mut self, window: Duration, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + window;
        let mut text = String::new();
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline && !done(&text) {
            if let Ok(n) = self.0.read(&mut buf) {
                if n == 0 {
                    break;
                }
                text.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        }
        text
    }

    /// The payloads of `MSG` lines received within `window`.
    fn messages(&mut self, window: Duration) -> Vec<String> {
        let text = self.read_for(window, |_| false);
        let mut out = Vec::new();
        let mut lines = text.split("\r\n");
        while let Some(line) = lines.next() {
            if line.starts_with("MSG ") {
                out.push(lines.next().unwrap_or("").to_string());
            }
        }
        out
    }
}

fn publish(port: u16, subject: &str, payload: &str) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect publisher");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(
        format!(
            "CONNECT {{\"verbose\":false}}\r\nPUB {subject} {}\r\n{payload}\r\nPING\r\n",
            payload.len()
        )
        .as_bytes(),
    )
    .expect("publish");
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = String::new();
    while Instant::now() < deadline && !seen.contains("PONG") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
}

/// Publishes on `pub_port` until the subscriber sees one message (interest crosses routes
/// asynchronously), returning how many probes it took.
fn publish_until_received(pub_port: u16, sub: &mut Sub, subject: &str) -> usize {
    for attempt in 1..=50 {
        publish(pub_port, subject, "probe");
        if !sub.messages(Duration::from_millis(200)).is_empty() {
            // Drain probes still in flight.
            let _ = sub.messages(Duration::from_millis(300));
            return attempt;
        }
    }
    panic!("no message on {subject} crossed the cluster");
}

fn tool(name: &str) -> PathBuf {
    let host = String::from_utf8_lossy(&run(Command::new("rustc").arg("-vV")).stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(String::from))
        .expect("host triple");
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo().join("target"));
    target.join(host).join("docker").join(name)
}

/// The seed's check from the host: `nats-sub` on A prints the two seed lines once `nats-pub`
/// on C published `world`.
fn seed_check(a: u16, c: u16) {
    let mut sub: Child = Command::new(tool("nats-sub"))
        .args(["-s", &format!("nats://127.0.0.1:{a}"), "-n", "1", "hello"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nats-sub");
    let mut out = BufReader::new(sub.stdout.take().expect("stdout"));
    let mut first = String::new();
    out.read_line(&mut first).expect("listening line");
    assert_eq!(first, "Listening on [hello]\n");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let publ = run(Command::new(tool("nats-pub")).args([
            "-s",
            &format!("nats://127.0.0.1:{c}"),
            "hello",
            "world",
        ]));
        assert!(
            publ.status.success(),
            "{}",
            String::from_utf8_lossy(&publ.stderr)
        );
        std::thread::sleep(Duration::from_millis(300));
        if let Ok(Some(_)) = sub.try_wait() {
            break;
        }
        if Instant::now() > deadline {
            let _ = sub.kill();
            panic!("nats-sub never received");
        }
    }
    let mut rest = String::new();
    out.read_to_string(&mut rest).expect("rest of output");
    assert_eq!(rest, "[#1] Received on [hello] : 'world'\n");
}

#[test]
fn seed_docker_examples_on_a_real_engine() {
    if !docker_available() {
        if std::env::var("DOCKER_REQUIRED").as_deref() == Ok("1") {
            panic!("DOCKER_REQUIRED=1 but no Docker engine answers");
        }
        eprintln!(
            "SKIPPED: no Docker engine answers `docker info` (set DOCKER_REQUIRED=1 to fail)"
        );
        return;
    }
    let tag = format!("gnatsd-rs-test:{}", std::process::id());
    let mut cleanup = Cleanup {
        image: tag.clone(),
        projects: Vec::new(),
    };
    let built = run(Command::new(repo().join("docker/build.sh")).arg(&tag));
    assert!(
        built.status.success(),
        "docker/build.sh failed: {}",
        String::from_utf8_lossy(&built.stderr)
    );

    // Example 1: every server lists the other two.
    let ex1 = cleanup.example(1);
    ex1.up(&[]);
    wait_mesh(&ex1, Duration::from_secs(30));
    seed_check(ex1.ports[0], ex1.ports[2]);

    // Partition: cut C off, publish on A, reconnect C.
    let [a, _, c] = ex1.ports;
    let mut on_a = Sub::new(a, "part");
    publish_until_received(c, &mut on_a, "part");
    docker_ok(&[
        "network",
        "disconnect",
        &ex1.network(),
        &ex1.container("nats-c"),
    ]);
    publish(a, "part", "during");
    assert_eq!(on_a.messages(Duration::from_millis(500)), ["during"]);
    docker_ok(&[
        "network",
        "connect",
        &ex1.network(),
        &ex1.container("nats-c"),
    ]);
    wait_mesh(&ex1, Duration::from_secs(10));
    let mut on_c = Sub::new(c, "part");
    publish_until_received(a, &mut on_c, "part");
    let _ = on_a.messages(Duration::from_millis(300));
    publish(a, "part", "after");
    assert_eq!(
        on_c.messages(Duration::from_secs(1)),
        ["after"],
        "C receives again, once"
    );
    assert_eq!(
        on_a.messages(Duration::from_millis(500)),
        ["after"],
        "A not twice"
    );

    // Stop and start B: it rejoins and its new subscribers receive.
    docker_ok(&["stop", "-t", "1", &ex1.container("nats-b")]);
    docker_ok(&["start", &ex1.container("nats-b")]);
    wait_mesh(&ex1, Duration::from_secs(30));
    let mut on_b = Sub::new(ex1.ports[1], "again");
    publish_until_received(a, &mut on_b, "again");
    ex1.compose(&["down", "-v", "-t", "1"]);

    // Example 2: A, then B (routes to A), then C (routes to A and B).
    let ex2 = cleanup.example(2);
    ex2.up(&["nats-a"]);
    let _ = Sub::new(ex2.ports[0], "ready");
    ex2.up(&["nats-b"]);
    let _ = Sub::new(ex2.ports[1], "ready");
    ex2.up(&["nats-c"]);
    wait_mesh(&ex2, Duration::from_secs(30));
    seed_check(ex2.ports[0], ex2.ports[2]);
    drop(cleanup);
}
