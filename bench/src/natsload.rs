//! The real-client load: runs `natsload` (`bench/go/natsload`, publishers and subscribers
//! made with nats.go 1.22, one connection each) against a server and reads the one JSON line
//! it prints. Where [`crate::load`] measures the server alone, this measures it under what a
//! client library does to it: its buffered writer's batches, its PINGs, one reader per
//! connection.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

/// What one `natsload` run does.
#[derive(Debug, Clone, Copy)]
pub enum Job {
    /// `publishers` share `messages` messages on one subject; `subscribers` (0: publish only)
    /// get each one, or with `queue` share them as one queue group.
    PubSub {
        publishers: usize,
        subscribers: usize,
        queue: bool,
        messages: usize,
    },
    /// One responder echoes; one requester sends `requests` requests one after another.
    RequestReply { requests: usize },
}

impl Job {
    /// Messages published in total (requests, for request/reply).
    pub fn messages(&self) -> usize {
        match *self {
            Job::PubSub { messages, .. } => messages,
            Job::RequestReply { requests } => requests,
        }
    }
}

/// What `natsload` reported.
#[derive(Debug, Clone, Deserialize)]
pub struct Report {
    /// Messages (requests) published.
    pub sent: u64,
    /// Messages the subscribers should have received together (replies, for request/reply).
    pub expected: u64,
    /// Messages they did receive: fewer than `expected` is a loss (a slow consumer).
    pub received: u64,
    /// From the first publish to the last expected message (or the last progress seen).
    pub elapsed_ns: u64,
    /// Messages (requests) published per second.
    pub msgs_per_sec: f64,
    /// Request/reply round-trip percentiles.
    #[serde(default)]
    pub p50_ns: u64,
    #[serde(default)]
    pub p90_ns: u64,
    #[serde(default)]
    pub p99_ns: u64,
    /// Errors the client library reported (slow consumer, disconnected, …).
    #[serde(default)]
    pub errors: Vec<String>,
}

impl Report {
    /// Expected messages that never arrived.
    pub fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.received)
    }

    /// Round-trip percentiles (p50, p90, p99); zero outside request/reply.
    pub fn latency(&self) -> [Duration; 3] {
        [self.p50_ns, self.p90_ns, self.p99_ns].map(Duration::from_nanos)
    }
}

/// Bound `natsload` is given for a run; it is killed if it has not exited this long after.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);
const GRACE: Duration = Duration::from_secs(30);

/// Runs `program` (the `natsload` binary) for `job` with `payload`-byte messages: the
/// subscribers (the responder) on loopback port `sub_port`, the publishers (the requester)
/// on `pub_port` (two routed servers when they differ).
pub fn run(
    program: &Path,
    sub_port: u16,
    pub_port: u16,
    payload: usize,
    job: Job,
) -> std::io::Result<Report> {
    let mut cmd = Command::new(program);
    cmd.arg(format!("-url=nats://127.0.0.1:{sub_port}"))
        .arg(format!("-pub-url=nats://127.0.0.1:{pub_port}"))
        .arg(format!("-size={payload}"))
        .arg(format!("-msgs={}", job.messages()))
        .arg(format!("-timeout={}s", RUN_TIMEOUT.as_secs()))
        .arg("-stall=10s");
    match job {
        Job::PubSub {
            publishers,
            subscribers,
            queue,
            ..
        } => {
            cmd.arg("-scenario=pubsub")
                .arg(format!("-pubs={publishers}"))
                .arg(format!("-subs={subscribers}"));
            if queue {
                cmd.arg("-queue=workers");
            }
        }
        Job::RequestReply { .. } => {
            cmd.arg("-scenario=reqrep");
        }
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| std::io::Error::other(format!("{}: {e}", program.display())))?;
    // The output is one line and a few errors at most: the pipes never fill while we wait.
    let deadline = Instant::now() + RUN_TIMEOUT + GRACE;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::other("natsload did not finish in time"));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (mut out, mut err) = (String::new(), String::new());
    if let Some(mut s) = child.stdout.take() {
        s.read_to_string(&mut out)?;
    }
    if let Some(mut s) = child.stderr.take() {
        s.read_to_string(&mut err)?;
    }
    if !status.success() {
        return Err(std::io::Error::other(format!(
            "natsload failed ({status}): {}",
            err.trim()
        )));
    }
    let line = out.lines().last().unwrap_or_default();
    serde_json::from_str(line)
        .map_err(|e| std::io::Error::other(format!("natsload printed {line:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_natsload_lines() {
        let line = r#"{"scenario":"pubsub","size":128,"sent":1000,"expected":4000,"received":3990,"elapsed_ns":2000000,"msgs_per_sec":500000.0,"errors":["natsload-sub-1: nats: slow consumer"]}"#;
        let r: Report = serde_json::from_str(line).unwrap();
        assert_eq!((r.sent, r.lost(), r.errors.len()), (1000, 10, 1));
        assert_eq!(r.latency(), [Duration::ZERO; 3]);
        let line = r#"{"scenario":"reqrep","size":16,"sent":10,"expected":10,"received":10,"elapsed_ns":1,"msgs_per_sec":1.0,"p50_ns":70000,"p90_ns":90000,"p99_ns":120000}"#;
        let r: Report = serde_json::from_str(line).unwrap();
        assert_eq!(r.latency()[2], Duration::from_micros(120));
    }
}
