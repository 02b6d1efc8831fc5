//! WebSocket clients end to end, each case against every server binary:
//!
//! - a real browser (headless Chromium) whose page speaks the NATS protocol itself over
//!   `new WebSocket("ws://...")`: it receives its own messages and a TCP client's (one of them
//!   several KB, so the server splits it into frames), publishes across a route to a TCP
//!   subscriber on another server, and does the same over a `compression: true` listener,
//!   where Chromium negotiates permessage-deflate;
//! - async-nats over `ws://` (publish/subscribe, request/reply both ways between websocket and
//!   TCP clients, headers), with `compression: true`, over `wss://` with a throwaway CA, and
//!   reconnecting after the server restarts on the same websocket port;
//!
//! The handshake and the frames byte by byte are `websocket.rs`'s.
//!
//! Every case runs against our server and the reference nats-server (`common::binaries`).
//!
//! Chromium (`/usr/bin/chromium`, Debian's package) missing: the browser cases print a
//! SKIPPED line, or fail when `BROWSER_REQUIRED=1`. The reference server missing: the cases
//! skip (or fail with `NATS_SERVER_REQUIRED=1`) as the rest of the suite does.
//!
//! How the browser is read back: `chromium --headless --dump-dom URL` prints the DOM once the
//! page's load event has fired. `--virtual-time-budget` does not help here: it does not wait
//! for websocket traffic, and while a fetch is pending it freezes the page's tasks (the
//! websocket's `onmessage` included). Instead the page holds its load event open with an
//! `<img src="/hold">` that the test's HTTP server answers only once the page has POSTed its
//! result to `/result` (or after [`HOLD_MAX`]); then Chromium dumps the DOM the page wrote.
//! `--timeout` bounds it inside Chromium, and the test kills Chromium's process group after
//! [`BROWSER_WAIT`].

#[path = "common/cluster.rs"]
mod cluster_util;
mod common;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use common::{read_chunk, temp_dir, Raw, TestServer, WAIT};
use futures::StreamExt;

// ----------------------------------------------------------------------------------------
// Which binaries, and the websocket listener

/// A plain (`ws://`) websocket block on an ephemeral port, with `extra` lines inside.
fn ws_block(extra: &str) -> String {
    format!("websocket {{\n  host: 127.0.0.1\n  port: -1\n  no_tls: true\n{extra}}}\n")
}

/// The websocket port `server` logged (`Listening for websocket clients on ws://h:p`).
fn ws_port(server: &TestServer) -> u16 {
    server.logged_port("Listening for websocket clients on ")
}

/// A server of `binary` with `conf`, and its websocket port.
fn ws_server(binary: &str, conf: &str) -> (TestServer, u16) {
    let server = TestServer::binary_with_config(binary, conf, &[]);
    let port = ws_port(&server);
    (server, port)
}

/// A payload of `len` ASCII letters (a..z repeated): big enough that the server splits it
/// over several frames for a browser (it caps frames to browsers at 4096 bytes).
fn letters(len: usize) -> String {
    (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect()
}

// ----------------------------------------------------------------------------------------
// The browser: an HTTP server for its page, and Chromium

/// Debian's Chromium launcher.
const CHROMIUM: &str = "/usr/bin/chromium";
/// The longest a Chromium run may take before the test kills it.
const BROWSER_WAIT: Duration = Duration::from_secs(60);
/// The longest the page server holds the page's load event open (`/hold`) without a result.
const HOLD_MAX: Duration = Duration::from_secs(40);
/// The page gives up and reports what it has after this long (milliseconds).
const PAGE_TIMEOUT_MS: u64 = 30_000;

/// Whether Chromium is installed. When it is not: prints why `test` skips and returns false,
/// or fails if `BROWSER_REQUIRED=1`.
fn browser_available(test: &str) -> bool {
    if Path::new(CHROMIUM).exists() {
        return true;
    }
    assert!(
        std::env::var("BROWSER_REQUIRED").as_deref() != Ok("1"),
        "{test}: {CHROMIUM} is missing and BROWSER_REQUIRED=1"
    );
    eprintln!("SKIPPED: {test}: {CHROMIUM} not found (apt-get install chromium)");
    false
}

/// The page's JavaScript (no libraries). It reads `CONFIG` (set before it): `url` (the
/// websocket), `subject` (subscribed as sid 1 when not null), `publish` (`[subject, payload]`
/// pairs), `expect` (how many MSGs to wait for) and `timeout_ms`. It speaks NATS itself:
/// INFO, then `CONNECT`, `SUB`, `PING`; at the first PONG its PUBs and a PING; at the second
/// PONG it POSTs `/ready` (the test may publish now); once `expect` MSGs arrived, one more
/// PING, and at its PONG it writes every MSG as `subject sid payload` lines into
/// `<pre id="out">`, `done` into `<p id="status">` (or what went wrong), the negotiated
/// extensions into `<p id="extensions">`, and POSTs the same to `/result`.
const PAGE_SCRIPT: &str = r#"
"use strict";
const statusEl = document.getElementById("status");
const outEl = document.getElementById("out");
const extEl = document.getElementById("extensions");
const enc = new TextEncoder();
const dec = new TextDecoder();
const received = [];
let pending = new Uint8Array(0);
let pongs = 0;
let closingPing = false;
let finished = false;
let phase = "connecting";

function post(path, body) {
  return fetch(path, { method: "POST", body: body });
}

function finish(state) {
  if (finished) return;
  finished = true;
  outEl.textContent = received.join("\n");
  statusEl.textContent = state;
  post("/result", state + "\n" + extEl.textContent + "\n" + outEl.textContent);
  if (state === "done") ws.close(1000, "done");
}

setTimeout(() => finish("page timeout while " + phase), CONFIG.timeout_ms);

const ws = new WebSocket(CONFIG.url);
ws.binaryType = "arraybuffer";

function send(text) {
  ws.send(enc.encode(text));
}

function crlf(buf) {
  for (let i = 0; i + 1 < buf.length; i++) {
    if (buf[i] === 13 && buf[i + 1] === 10) return i;
  }
  return -1;
}

function maybeDone() {
  if (pongs >= 2 && received.length >= CONFIG.expect && !closingPing) {
    // One more round trip: anything extra the server sent before it shows up too.
    closingPing = true;
    phase = "final PING";
    send("PING\r\n");
  }
}

function handle(verb, line) {
  if (verb === "INFO") {
    phase = "subscribing";
    let ops = 'CONNECT {"verbose":false,"pedantic":false,"protocol":1}\r\n';
    if (CONFIG.subject !== null) ops += "SUB " + CONFIG.subject + " 1\r\n";
    send(ops + "PING\r\n");
  } else if (verb === "PONG") {
    pongs += 1;
    if (pongs === 1) {
      phase = "publishing";
      let ops = "";
      for (const [subject, payload] of CONFIG.publish) {
        ops += "PUB " + subject + " " + enc.encode(payload).length + "\r\n" + payload + "\r\n";
      }
      send(ops + "PING\r\n");
    } else if (pongs === 2) {
      phase = "waiting for messages";
      post("/ready", "ready");
      maybeDone();
    } else if (closingPing) {
      finish("done");
    }
  } else if (verb === "PING") {
    send("PONG\r\n");
  } else if (verb === "MSG") {
    maybeDone();
  } else if (verb === "-ERR") {
    finish("server error: " + line);
  }
}

ws.onopen = () => {
  extEl.textContent = ws.extensions;
};
ws.onerror = () => finish("websocket error while " + phase);
ws.onclose = (ev) => finish("websocket closed while " + phase + ": " + ev.code + " " + ev.reason);
ws.onmessage = (ev) => {
  const chunk = new Uint8Array(ev.data);
  const joined = new Uint8Array(pending.length + chunk.length);
  joined.set(pending);
  joined.set(chunk, pending.length);
  pending = joined;
  for (;;) {
    const eol = crlf(pending);
    if (eol < 0) return;
    const line = dec.decode(pending.subarray(0, eol));
    const words = line.split(" ");
    let used = eol + 2;
    if (words[0] === "MSG") {
      const size = parseInt(words[words.length - 1], 10);
      if (pending.length < used + size + 2) return;
      const payload = dec.decode(pending.subarray(used, used + size));
      used += size + 2;
      received.push(words[1] + " " + words[2] + " " + payload);
    }
    pending = pending.slice(used);
    handle(words[0], line);
  }
};
"#;

/// What the page is told to do (see [`PAGE_SCRIPT`]).
struct PagePlan<'a> {
    ws_port: u16,
    subject: Option<&'a str>,
    publish: Vec<(String, String)>,
    expect: usize,
}

/// The HTML page for `plan`.
fn page_html(plan: &PagePlan) -> String {
    let config = serde_json::json!({
        "url": format!("ws://127.0.0.1:{}", plan.ws_port),
        "subject": plan.subject,
        "publish": plan.publish,
        "expect": plan.expect,
        "timeout_ms": PAGE_TIMEOUT_MS,
    });
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>NATS over WebSocket</title></head>\n\
         <body>\n<p id=\"status\">running</p>\n<p id=\"extensions\"></p>\n<pre id=\"out\"></pre>\n\
         <script>\nconst CONFIG = {config};\n{PAGE_SCRIPT}</script>\n\
         <img src=\"/hold\" alt=\"\">\n</body></html>\n"
    )
}

/// What the page has reported to the page server so far.
#[derive(Default)]
struct PageState {
    /// The page POSTed `/ready`: its subscription is in place, its own PUBs went out.
    ready: bool,
    /// The body the page POSTed to `/result`.
    result: Option<String>,
    /// The server is shutting down: holds end.
    stopped: bool,
}

struct PageShared {
    html: String,
    state: Mutex<PageState>,
    changed: Condvar,
}

impl PageShared {
    /// Waits (bounded by `timeout`) until `done(state)`; returns whether it became true.
    fn wait_for(&self, timeout: Duration, done: impl Fn(&PageState) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock().expect("page state");
        loop {
            if done(&state) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self
                .changed
                .wait_timeout(state, left)
                .expect("page state")
                .0;
        }
    }

    fn update(&self, change: impl FnOnce(&mut PageState)) {
        change(&mut self.state.lock().expect("page state"));
        self.changed.notify_all();
    }
}

/// A tiny HTTP server on 127.0.0.1:<ephemeral> for one page: `GET /` is the page,
/// `GET /hold` answers (204) only once the page POSTed `/result` (bounded by [`HOLD_MAX`]),
/// `POST /ready` and `POST /result` record what the page reports, anything else is 404.
/// Stops on drop.
struct PageServer {
    port: u16,
    shared: Arc<PageShared>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl PageServer {
    fn start(html: String) -> PageServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind page server");
        let port = listener.local_addr().expect("page server address").port();
        listener
            .set_nonblocking(true)
            .expect("nonblocking page server");
        let shared = Arc::new(PageShared {
            html,
            state: Mutex::new(PageState::default()),
            changed: Condvar::new(),
        });
        let accept = {
            let shared = shared.clone();
            std::thread::spawn(move || {
                // A page load makes a handful of requests; stop accepting after many more.
                let mut served = 0;
                while served < 64 && !shared.state.lock().expect("page state").stopped {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            served += 1;
                            let shared = shared.clone();
                            std::thread::spawn(move || serve_page_request(stream, &shared));
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(10));
                        }
                        Err(_) => break,
                    }
                }
            })
        };
        PageServer {
            port,
            shared,
            accept: Some(accept),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Waits until the page is ready (or already reported a result, say an error).
    fn wait_ready(&self, timeout: Duration) -> bool {
        self.shared
            .wait_for(timeout, |s| s.ready || s.result.is_some())
    }

    fn is_ready(&self) -> bool {
        self.shared.state.lock().expect("page state").ready
    }

    /// What the page POSTed to `/result`, if it did.
    fn result(&self) -> Option<String> {
        self.shared.state.lock().expect("page state").result.clone()
    }
}

impl Drop for PageServer {
    fn drop(&mut self) {
        self.shared.update(|s| s.stopped = true);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// Reads one HTTP request (bounded: 5 s, 1 MiB): `(method, path, body)`.
fn read_http_request(stream: &mut TcpStream) -> Option<(String, String, Vec<u8>)> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        if Instant::now() >= deadline || buf.len() > 1 << 20 {
            return None;
        }
        let n = read_chunk(stream, &mut chunk).ok()?;
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut request_line = head.lines().next()?.split_whitespace();
    let method = request_line.next()?.to_string();
    let path = request_line.next()?.to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let body_start = head_end + 4;
    while buf.len() < body_start + length {
        if Instant::now() >= deadline || length > 1 << 20 {
            return None;
        }
        let n = read_chunk(stream, &mut chunk).ok()?;
        buf.extend_from_slice(&chunk[..n]);
    }
    Some((method, path, buf[body_start..body_start + length].to_vec()))
}

fn serve_page_request(mut stream: TcpStream, shared: &PageShared) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let Some((method, path, body)) = read_http_request(&mut stream) else {
        return;
    };
    let (status, content) = match (method.as_str(), path.as_str()) {
        ("GET", "/") => ("200 OK", shared.html.as_str()),
        ("GET", "/hold") => {
            shared.wait_for(HOLD_MAX, |s| s.result.is_some() || s.stopped);
            ("204 No Content", "")
        }
        ("POST", "/ready") => {
            shared.update(|s| s.ready = true);
            ("204 No Content", "")
        }
        ("POST", "/result") => {
            let result = String::from_utf8_lossy(&body).into_owned();
            shared.update(|s| s.result = Some(result));
            ("204 No Content", "")
        }
        _ => ("404 Not Found", ""),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        content.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(content.as_bytes());
}

/// Runs `chromium --headless ... --dump-dom url` (bounded by [`BROWSER_WAIT`]; on the bound
/// its whole process group is killed) and returns the DOM it printed.
///
/// The flags: `--headless` (no display here), `--no-sandbox` (we run as root, where the
/// sandbox refuses to start), `--disable-gpu`, `--disable-dev-shm-usage` (containers' small
/// /dev/shm), a fresh `--user-data-dir` (no shared profile, no lock with another run),
/// `--no-first-run`, `--no-default-browser-check`, `--disable-extensions`,
/// `--disable-background-networking`, `--disable-component-update`, `--disable-sync` (no
/// traffic but ours), `--password-store=basic` (no keyring over D-Bus), and `--timeout`,
/// which makes Chromium stop loading and dump the DOM it has after that long.
fn dump_dom(url: &str) -> String {
    let profile = temp_dir("chromium-profile");
    let profile_arg = format!("--user-data-dir={}", profile.display());
    let timeout_arg = format!("--timeout={}", (BROWSER_WAIT / 2).as_millis());
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--password-store=basic",
            &profile_arg,
            &timeout_arg,
            "--dump-dom",
            url,
        ])
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn chromium");
    let group = child.id();
    use std::io::Read;
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = pipe.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("chromium stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("chromium stderr")));
    let deadline = Instant::now() + BROWSER_WAIT;
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Chromium's helper processes share its process group; end them all either way.
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{group}")])
        .stderr(Stdio::null())
        .status();
    let _ = child.wait();
    let dom = stdout.join().unwrap_or_default();
    let log = stderr.join().unwrap_or_default();
    let _ = std::fs::remove_dir_all(&profile);
    let tail: String = log
        .lines()
        .filter(|l| !l.contains("dbus"))
        .rev()
        .take(20)
        .collect::<Vec<_>>()
        .join("\n");
    match status {
        None => panic!(
            "chromium did not finish within {BROWSER_WAIT:?} on {url}; its log ends with:\n{tail}"
        ),
        Some(s) if !s.success() || dom.is_empty() => {
            panic!("chromium exited {s} with DOM {dom:?} on {url}; its log ends with:\n{tail}")
        }
        Some(_) => dom,
    }
}

/// What the page wrote into its DOM.
#[derive(Debug)]
struct PageOutcome {
    status: String,
    extensions: String,
    /// One `subject sid payload` line per MSG, in arrival order.
    messages: Vec<String>,
}

/// The text of the element `<tag id="id">` in a DOM dump, entities decoded.
fn element_text(dom: &str, tag: &str, id: &str) -> String {
    let open = format!("<{tag} id=\"{id}\">");
    let start = dom
        .find(&open)
        .unwrap_or_else(|| panic!("no {open} in the DOM:\n{dom}"))
        + open.len();
    let len = dom[start..]
        .find(&format!("</{tag}>"))
        .unwrap_or_else(|| panic!("{open} not closed in the DOM:\n{dom}"));
    dom[start..start + len]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

fn page_outcome(dom: &str) -> PageOutcome {
    let out = element_text(dom, "pre", "out");
    PageOutcome {
        status: element_text(dom, "p", "status"),
        extensions: element_text(dom, "p", "extensions"),
        messages: out
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
    }
}

/// Runs the page for `plan` in Chromium. Once the page is ready (subscribed, its own PUBs
/// done), `when_ready` runs (the test publishes from TCP, say). Returns what the page
/// wrote into its DOM; asserts it matches what it POSTed.
fn run_page(plan: &PagePlan, when_ready: impl FnOnce()) -> PageOutcome {
    let page = PageServer::start(page_html(plan));
    let url = page.url();
    let browser = std::thread::spawn(move || dump_dom(&url));
    // Wait for the page, but not for a browser that already quit (it failed to start, say).
    let deadline = Instant::now() + BROWSER_WAIT;
    while !page.wait_ready(Duration::from_millis(100))
        && !browser.is_finished()
        && Instant::now() < deadline
    {}
    if page.is_ready() {
        when_ready();
    }
    let dom = browser
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e));
    let outcome = page_outcome(&dom);
    assert!(
        page.is_ready(),
        "the page never got ready (subscribed and published): {outcome:?}"
    );
    let posted = page.result().expect("the page POSTed its result");
    let dom_says = format!(
        "{}\n{}\n{}",
        outcome.status,
        outcome.extensions,
        outcome.messages.join("\n")
    );
    assert_eq!(
        posted.trim_end(),
        dom_says.trim_end(),
        "the DOM and the POSTed result differ"
    );
    outcome
}

/// One `subject sid payload` line as the page writes it.
fn msg_line(subject: &str, sid: u32, payload: &str) -> String {
    format!("{subject} {sid} {payload}")
}

/// The browser subscribes, publishes three messages (one of several KB) and gets them back,
/// then a message a TCP client publishes. `extra` goes into the websocket block; the
/// negotiated extensions must contain `extension`.
fn browser_roundtrip(test: &str, extra: &str, extension: &str) {
    if !browser_available(test) {
        return;
    }
    for binary in common::binaries(test) {
        let (server, ws) = ws_server(binary, &ws_block(extra));
        let subject = "browser.demo";
        let big = letters(6000);
        let own = [
            "first".to_string(),
            big.clone(),
            "third: over websocket".to_string(),
        ];
        let plan = PagePlan {
            ws_port: ws,
            subject: Some(subject),
            publish: own
                .iter()
                .map(|p| (subject.to_string(), p.clone()))
                .collect(),
            expect: 4,
        };
        let outcome = run_page(&plan, || {
            Raw::synced(
                server.port,
                r#"{"verbose":false}"#,
                format!("PUB {subject} 8\r\nfrom-tcp\r\n").as_bytes(),
            );
        });
        assert_eq!(outcome.status, "done", "{binary}: {outcome:?}");
        let expected = vec![
            msg_line(subject, 1, "first"),
            msg_line(subject, 1, &big),
            msg_line(subject, 1, "third: over websocket"),
            msg_line(subject, 1, "from-tcp"),
        ];
        assert_eq!(
            outcome.messages, expected,
            "{binary}: messages the browser got"
        );
        if extension.is_empty() {
            assert_eq!(outcome.extensions, "", "{binary}: no extension negotiated");
        } else {
            assert!(
                outcome.extensions.contains(extension),
                "{binary}: wanted {extension:?} negotiated, got {:?}",
                outcome.extensions
            );
        }
    }
}

#[test]
fn browser_gets_its_own_messages_and_a_tcp_clients() {
    browser_roundtrip("browser_gets_its_own_messages_and_a_tcp_clients", "", "");
}

#[test]
fn browser_with_permessage_deflate_gets_the_same_messages() {
    browser_roundtrip(
        "browser_with_permessage_deflate_gets_the_same_messages",
        "  compression: true\n",
        "permessage-deflate",
    );
}

#[test]
fn browser_publishes_across_a_route_to_a_tcp_subscriber() {
    let test = "browser_publishes_across_a_route_to_a_tcp_subscriber";
    if !browser_available(test) {
        return;
    }
    for binary in common::binaries(test) {
        let [route_a, route_b] = common::free_ports::<2>();
        let conf_a = format!(
            "cluster {{\n  name: ws\n  listen: 127.0.0.1:{route_a}\n}}\n{}",
            ws_block("")
        );
        let conf_b = format!(
            "cluster {{\n  name: ws\n  listen: 127.0.0.1:{route_b}\n  routes: [nats-route://127.0.0.1:{route_a}]\n}}\n"
        );
        let (a, ws) = ws_server(binary, &conf_a);
        let b = TestServer::binary_with_config(binary, &conf_b, &[]);
        let subject = "browser.cluster";
        let mut sub = cluster_util::raw_sub(b.port, subject);
        // B's interest has reached A once a probe published on A comes back to B.
        cluster_util::sync_interest(&mut sub, &[a.port]);
        let payloads = [
            "one".to_string(),
            letters(5000),
            "three, from the browser".to_string(),
        ];
        let plan = PagePlan {
            ws_port: ws,
            subject: None,
            publish: payloads
                .iter()
                .map(|p| (subject.to_string(), p.clone()))
                .collect(),
            expect: 0,
        };
        let outcome = run_page(&plan, || {});
        assert_eq!(outcome.status, "done", "{binary}: {outcome:?}");
        for (i, payload) in payloads.iter().enumerate() {
            let msg = sub
                .next_msg(WAIT)
                .unwrap_or_else(|| panic!("{binary}: message {i} never reached server B"));
            assert_eq!(
                (msg.subject.as_str(), msg.reply.as_deref(), &msg.payload),
                (subject, None, payload),
                "{binary}: message {i} on server B"
            );
        }
        let extra = sub.drain(cluster_util::QUIET);
        assert!(extra.is_empty(), "{binary}: extra messages on B: {extra:?}");
    }
}

// ----------------------------------------------------------------------------------------
// async-nats over websocket

/// How long one async-nats step may take.
const T: Duration = Duration::from_secs(10);

async fn next_msg(sub: &mut async_nats::Subscriber) -> async_nats::Message {
    tokio::time::timeout(T, sub.next())
        .await
        .expect("message in time")
        .expect("subscription open")
}

/// Connects async-nats to `url` (ws://, wss:// or nats://), bounded.
async fn connect(options: async_nats::ConnectOptions, url: &str) -> async_nats::Client {
    let client = tokio::time::timeout(T, options.connect(url))
        .await
        .unwrap_or_else(|_| panic!("connect to {url} timed out"))
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
    client.flush().await.expect("flush after connect");
    client
}

/// Waits until the server has processed everything `client` sent so far: a message to a
/// fresh inbox comes back over the same connection. (async-nats's `flush` only writes out
/// its buffer; it does not wait for the server, and a SUB that the server has not processed
/// yet misses messages that other connections publish meanwhile.)
async fn synced(client: &async_nats::Client) {
    let inbox = client.new_inbox();
    let mut probe = client.subscribe(inbox.clone()).await.expect("probe sub");
    client
        .publish(inbox, "sync".into())
        .await
        .expect("probe pub");
    client.flush().await.expect("flush");
    assert_eq!(next_msg(&mut probe).await.payload, "sync");
    probe.unsubscribe().await.expect("probe unsub");
}

/// Answers every request on `subject` with `answer`, in the background.
async fn respond(client: async_nats::Client, subject: &str, answer: &'static str) {
    let mut requests = client.subscribe(subject.to_string()).await.expect("sub");
    synced(&client).await;
    tokio::spawn(async move {
        while let Some(msg) = requests.next().await {
            if let Some(reply) = msg.reply {
                let _ = client.publish(reply, answer.into()).await;
            }
        }
    });
}

/// A websocket client and a TCP client on one server exchange messages: both directions,
/// request/reply both ways, and a message with headers.
async fn ws_and_tcp_clients_talk(binary: &str, conf: &str) {
    let (server, ws) = ws_server(binary, conf);
    let url = format!("ws://127.0.0.1:{ws}");
    let web = connect(async_nats::ConnectOptions::new(), &url).await;
    let tcp = connect(async_nats::ConnectOptions::new(), &server.url()).await;

    // Publish/subscribe, each way, a small and a big payload.
    let big = letters(200_000);
    let mut on_web = web.subscribe("to.web").await.expect("sub");
    let mut on_tcp = tcp.subscribe("to.tcp").await.expect("sub");
    synced(&web).await;
    synced(&tcp).await;
    tcp.publish("to.web", "hello web".into())
        .await
        .expect("pub");
    tcp.publish("to.web", big.clone().into())
        .await
        .expect("pub");
    web.publish("to.tcp", "hello tcp".into())
        .await
        .expect("pub");
    web.publish("to.tcp", big.clone().into())
        .await
        .expect("pub");
    tcp.flush().await.expect("flush");
    web.flush().await.expect("flush");
    assert_eq!(next_msg(&mut on_web).await.payload, "hello web", "{binary}");
    assert_eq!(
        next_msg(&mut on_web).await.payload,
        big.as_bytes(),
        "{binary}"
    );
    assert_eq!(next_msg(&mut on_tcp).await.payload, "hello tcp", "{binary}");
    assert_eq!(
        next_msg(&mut on_tcp).await.payload,
        big.as_bytes(),
        "{binary}"
    );

    // Request/reply: a websocket responder for a TCP requester, and the other way round.
    respond(web.clone(), "svc.web", "answered over websocket").await;
    respond(tcp.clone(), "svc.tcp", "answered over tcp").await;
    let answer = tokio::time::timeout(T, tcp.request("svc.web", "?".into()))
        .await
        .expect("request in time")
        .expect("answer");
    assert_eq!(answer.payload, "answered over websocket", "{binary}");
    let answer = tokio::time::timeout(T, web.request("svc.tcp", "?".into()))
        .await
        .expect("request in time")
        .expect("answer");
    assert_eq!(answer.payload, "answered over tcp", "{binary}");

    // Headers, each way.
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Trace-Id", "abc-123");
    headers.append("Multi", "one");
    headers.append("Multi", "two");
    tcp.publish_with_headers("to.web", headers.clone(), "with headers".into())
        .await
        .expect("hpub");
    web.publish_with_headers("to.tcp", headers, "with headers".into())
        .await
        .expect("hpub");
    tcp.flush().await.expect("flush");
    web.flush().await.expect("flush");
    for (side, sub) in [("websocket", &mut on_web), ("tcp", &mut on_tcp)] {
        let msg = next_msg(sub).await;
        assert_eq!(msg.payload, "with headers", "{binary} {side}");
        let got = msg.headers.expect("headers");
        assert_eq!(
            got.get("Trace-Id").map(|v| v.as_str()),
            Some("abc-123"),
            "{binary} {side}"
        );
        let multi: Vec<&str> = got.get_all("Multi").map(|v| v.as_str()).collect();
        assert_eq!(multi, ["one", "two"], "{binary} {side}");
    }
}

#[tokio::test]
async fn async_nats_over_websocket() {
    for binary in common::binaries("async_nats_over_websocket") {
        ws_and_tcp_clients_talk(binary, &ws_block("")).await;
    }
}

/// async-nats 0.46's websocket transport (tokio-websockets 0.10) does not offer
/// permessage-deflate, so nothing is compressed here: this proves a `compression: true`
/// listener still serves a client that did not ask for it (the browser tests cover a
/// client that does).
#[tokio::test]
async fn async_nats_over_websocket_with_compression_enabled() {
    for binary in common::binaries("async_nats_over_websocket_with_compression_enabled") {
        ws_and_tcp_clients_talk(binary, &ws_block("  compression: true\n")).await;
    }
}

/// A throwaway CA and a server certificate it signed (for `localhost` and 127.0.0.1), in a
/// temporary directory removed on drop.
struct Pki {
    dir: PathBuf,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Pki {
    fn new() -> Pki {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
            IsCa, KeyPair, KeyUsagePurpose, SanType,
        };
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "gnatsd websocket test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key"))
            .expect("CA");
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
        params
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        params.distinguished_name.push(DnType::CommonName, "server");
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &ca).expect("sign");
        let dir = temp_dir("ws-pki");
        let write = |name: &str, pem: &str| {
            let path = dir.join(name);
            std::fs::write(&path, pem).expect("write PEM");
            path
        };
        Pki {
            ca: write("ca.pem", &ca.pem()),
            cert: write("server.pem", &cert.pem()),
            key: write("server-key.pem", &key.serialize_pem()),
            dir,
        }
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn async_nats_over_secure_websocket() {
    for binary in common::binaries("async_nats_over_secure_websocket") {
        let pki = Pki::new();
        let conf = format!(
            "websocket {{\n  host: 127.0.0.1\n  port: -1\n  tls {{\n    cert_file: \"{}\"\n    key_file: \"{}\"\n  }}\n}}\n",
            pki.cert.display(),
            pki.key.display()
        );
        let server = TestServer::binary_with_config(binary, &conf, &[]);
        assert!(
            server.wait_log("Listening for websocket clients on wss://", WAIT),
            "{binary}: {:?}",
            server.log_lines()
        );
        let url = format!("wss://127.0.0.1:{}", ws_port(&server));
        let client = connect(
            async_nats::ConnectOptions::new().add_root_certificates(pki.ca.clone()),
            &url,
        )
        .await;
        let mut sub = client.subscribe("secure").await.expect("sub");
        synced(&client).await;
        let tcp = connect(async_nats::ConnectOptions::new(), &server.url()).await;
        tcp.publish("secure", "over wss".into()).await.expect("pub");
        tcp.flush().await.expect("flush");
        assert_eq!(next_msg(&mut sub).await.payload, "over wss", "{binary}");
        client
            .publish("secure", "and back".into())
            .await
            .expect("pub");
        client.flush().await.expect("flush");
        assert_eq!(next_msg(&mut sub).await.payload, "and back", "{binary}");

        // A client that does not trust the CA is refused.
        let untrusting = tokio::time::timeout(T, async_nats::ConnectOptions::new().connect(&url))
            .await
            .expect("refused in time");
        assert!(
            untrusting.is_err(),
            "{binary}: a client without the CA must not connect over wss"
        );
    }
}

#[tokio::test]
async fn async_nats_over_websocket_reconnects_after_a_restart() {
    for binary in common::binaries("async_nats_over_websocket_reconnects_after_a_restart") {
        let port = common::free_port();
        let conf = format!("websocket {{\n  host: 127.0.0.1\n  port: {port}\n  no_tls: true\n}}\n");
        let first = TestServer::binary_with_config(binary, &conf, &[]);
        assert_eq!(ws_port(&first), port, "{binary}");
        let client = connect(
            async_nats::ConnectOptions::new()
                .reconnect_delay_callback(|_| Duration::from_millis(100)),
            &format!("ws://127.0.0.1:{port}"),
        )
        .await;
        let mut sub = client.subscribe("again").await.expect("sub");
        synced(&client).await;
        drop(first);
        let second = TestServer::binary_with_config(binary, &conf, &[]);
        assert_eq!(ws_port(&second), port, "{binary}");
        // The client reconnects and re-subscribes; a TCP client on the new server publishes
        // until a message makes it through.
        let tcp = connect(async_nats::ConnectOptions::new(), &second.url()).await;
        let deadline = tokio::time::Instant::now() + T;
        loop {
            tcp.publish("again", "back".into()).await.expect("pub");
            tcp.flush().await.expect("flush");
            if let Ok(Some(msg)) =
                tokio::time::timeout(Duration::from_millis(200), sub.next()).await
            {
                assert_eq!(msg.payload, "back", "{binary}");
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{binary}: the websocket client did not get its subscription back within {T:?}"
            );
        }
        assert_eq!(
            client.connection_state(),
            async_nats::connection::State::Connected,
            "{binary}"
        );
        // And it publishes over the new connection too.
        let mut on_tcp = tcp.subscribe("from.web").await.expect("sub");
        synced(&tcp).await;
        client
            .publish("from.web", "hi again".into())
            .await
            .expect("pub");
        client.flush().await.expect("flush");
        assert_eq!(next_msg(&mut on_tcp).await.payload, "hi again", "{binary}");
    }
}
