//! The HTTP monitoring port, seen from outside: servers started with known traffic (clients,
//! subscriptions, messages of known size, closed connections with known reasons, a slow
//! consumer, a three-server cluster), and the numbers `/varz`, `/connz`, `/routez`, `/subsz`,
//! `/healthz` and `/metrics` report for them, `/connz` sorting and paging, the error answers,
//! and the key sets compared with the real nats-server when it is installed.
//!
//! Requests are plain HTTP/1.0 over a `TcpStream`; every wait polls with a deadline.

mod common;
#[path = "common/ws.rs"]
mod ws;

use std::collections::{BTreeSet, HashMap};

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{free_port, get_json, http_get, poll_until, Raw, TestServer, WAIT};
use serde_json::Value;

// ----------------------------------------------------------------------------------------
// Helpers

/// The monitoring port from the `Starting http monitor on 127.0.0.1:<port>` log line.
fn http_port_of(server: &TestServer) -> u16 {
    server.logged_port("Starting http monitor on ")
}

/// Starts a server with a random monitoring port; returns it and that port.
fn start_monitored(args: &[&str]) -> (TestServer, u16) {
    let mut all = vec!["-m", "-1"];
    all.extend_from_slice(args);
    let server = TestServer::start(&all);
    let port = http_port_of(&server);
    (server, port)
}

/// A raw client that sent CONNECT (not verbose) with a name, and got PONG for it.
fn client(port: u16, name: &str) -> Raw {
    let mut raw = Raw::connect_with(
        port,
        &format!(r#"{{"verbose":false,"name":"{name}","lang":"rust","version":"9.9.9"}}"#),
    );
    raw.ping();
    raw
}

/// Publishes `count` messages of `size` bytes to `subject`, then waits for the PONG.
fn publish(raw: &mut Raw, subject: &str, count: usize, size: usize) {
    let payload = "x".repeat(size);
    let mut batch = String::new();
    for _ in 0..count {
        batch.push_str(&format!("PUB {subject} {size}\r\n{payload}\r\n"));
    }
    raw.send(batch.as_bytes());
    raw.ping();
}

/// The JSON array at `key` of `v` (`connections`, `routes`, `subscriptions_list`, ...);
/// panics, showing `v`, when there is none.
fn array_at<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v[key]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("no {key:?} list in {v}"))
}

/// The `/connz` entry whose CONNECT name is `name`.
fn conn_named<'a>(connz: &'a Value, name: &str) -> &'a Value {
    array_at(connz, "connections")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no connection named {name} in {connz}"))
}

/// The cids of a `/connz` answer, in order.
fn cids(connz: &Value) -> Vec<u64> {
    array_at(connz, "connections")
        .iter()
        .map(|c| c["cid"].as_u64().expect("cid"))
        .collect()
}

/// The keys of a pretty-printed JSON object at `indent` spaces, in order, from the first
/// object found at that depth (the top level at 2; a list entry's keys at 6).
fn keys_at(pretty: &str, indent: usize) -> Vec<String> {
    let prefix = format!("{}\"", " ".repeat(indent));
    let close = format!("{}}}", " ".repeat(indent - 2));
    let mut keys = Vec::new();
    let mut started = false;
    for line in pretty.lines() {
        if let Some(rest) = line.strip_prefix(&prefix) {
            if let Some((key, _)) = rest.split_once("\":") {
                keys.push(key.to_string());
                started = true;
                continue;
            }
        }
        if started && (line == close || line.starts_with(&format!("{close},"))) {
            break;
        }
    }
    keys
}

/// Parses `/metrics` with a Prometheus text parser; samples by name and labels.
fn metrics(port: u16) -> prometheus_parse::Scrape {
    let reply = http_get(port, "/metrics");
    assert_eq!(reply.status, 200);
    assert!(reply.content_type.starts_with("text/plain; version=0.0.4"));
    let lines = reply.body.lines().map(|l| Ok(l.to_string()));
    prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text")
}

/// The value of the sample `name` whose labels include `labels`.
fn sample(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let s = scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .unwrap_or_else(|| panic!("no sample {name} {labels:?}"));
    match s.value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => v,
        _ => panic!("{name} is not a plain value"),
    }
}

// ----------------------------------------------------------------------------------------
// Start-up and configuration

/// `-m -1` picks a random port, logged (with the real port) before the client listener line;
/// `/varz` keeps reporting the configured `-1` like nats-server.
#[test]
fn random_monitor_port_is_logged_before_the_client_listener() {
    let (server, port) = start_monitored(&[]);
    let logs = server.log_lines();
    let monitor = logs
        .iter()
        .position(|l| l.contains("[INF] Starting http monitor on 127.0.0.1:"))
        .expect("monitor line");
    let clients = logs
        .iter()
        .position(|l| l.contains("Listening for client connections on"))
        .expect("listen line");
    assert!(monitor < clients, "{logs:?}");
    assert!(
        !logs.iter().any(|l| l.contains("not supported")),
        "{logs:?}"
    );
    let varz = get_json(port, "/varz");
    assert_eq!(varz["http_port"], -1);
    assert_eq!(varz["http_host"], "127.0.0.1");
}

/// `http: host:port`, `http_port` and `monitor_port` in a configuration file.
#[test]
fn config_file_forms_of_the_monitor_port() {
    for key in [
        "http: \"127.0.0.1:{P}\"",
        "http_port: {P}",
        "monitor_port: {P}",
    ] {
        let port = free_port();
        let conf = key.replace("{P}", &port.to_string());
        let server = TestServer::with_config(&conf, &[]);
        assert!(
            server.wait_log(&format!("Starting http monitor on 127.0.0.1:{port}"), WAIT),
            "{conf}: {:?}",
            server.log_lines()
        );
        assert_eq!(get_json(port, "/varz")["http_port"], port, "{conf}");
    }
}

// ----------------------------------------------------------------------------------------
// Exact counters

/// Three clients, four subscriptions, ten 100-byte messages each matching two subscriptions
/// of both subscribers: every counter of `/varz`, `/connz` and `/metrics` is exact.
#[test]
fn varz_connz_and_metrics_count_known_traffic() {
    let (server, http) = start_monitored(&[]);
    let mut subs = [client(server.port, "sub1"), client(server.port, "sub2")];
    for s in &mut subs {
        s.send(b"SUB t.a 1\r\nSUB t.> 2\r\n");
        s.ping();
    }
    let mut publisher = client(server.port, "pub");
    publish(&mut publisher, "t.a", 10, 100);

    assert!(
        poll_until(WAIT, || get_json(http, "/varz")["out_msgs"] == 40),
        "{}",
        get_json(http, "/varz")
    );
    let varz = get_json(http, "/varz");
    for (key, want) in [
        ("connections", 3),
        ("total_connections", 3),
        ("subscriptions", 4),
        ("in_msgs", 10),
        ("in_bytes", 1000),
        ("out_msgs", 40),
        ("out_bytes", 4000),
        ("slow_consumers", 0),
        ("routes", 0),
        ("ping_interval", 120_000_000_000),
        ("write_deadline", 10_000_000_000),
        ("max_payload", 1_048_576),
        ("port", i64::from(server.port)),
    ] {
        assert_eq!(varz[key], want, "varz {key}: {varz}");
    }
    assert_eq!(varz["version"], "2.9.10");
    assert_eq!(varz["auth_timeout"], 2);
    assert!(varz["mem"].as_i64().unwrap_or(0) > 0);
    assert!(varz["cores"].as_u64().unwrap_or(0) >= 1);
    assert_eq!(varz["cluster"], serde_json::json!({}));
    assert!(varz["http_req_stats"]["/varz"].as_u64().unwrap_or(0) >= 1);

    let connz = get_json(http, "/connz");
    assert_eq!(connz["num_connections"], 3);
    assert_eq!(connz["total"], 3);
    assert_eq!(connz["limit"], 1024);
    let p = conn_named(&connz, "pub");
    assert_eq!(
        (&p["in_msgs"], &p["in_bytes"], &p["out_msgs"]),
        (&Value::from(10), &Value::from(1000), &Value::from(0))
    );
    assert_eq!(p["lang"], "rust");
    assert_eq!(p["version"], "9.9.9");
    assert_eq!(p["kind"], "Client");
    assert_eq!(p["type"], "nats");
    assert_eq!(p["ip"], "127.0.0.1");
    for name in ["sub1", "sub2"] {
        let s = conn_named(&connz, name);
        assert_eq!(s["out_msgs"], 20, "{s}");
        assert_eq!(s["out_bytes"], 2000, "{s}");
        assert_eq!(s["in_msgs"], 0, "{s}");
        assert_eq!(s["subscriptions"], 2, "{s}");
        assert_eq!(s["pending_bytes"], 0, "{s}");
    }
    // The per-connection counters add up to the server's.
    let total = |key: &str| -> u64 {
        array_at(&connz, "connections")
            .iter()
            .map(|c| c[key].as_u64().unwrap_or(0))
            .sum()
    };
    for key in ["in_msgs", "in_bytes", "out_msgs", "out_bytes"] {
        assert_eq!(Some(total(key)), varz[key].as_u64(), "{key}");
    }

    let scrape = metrics(http);
    for (name, want) in [
        ("gnatsd_connections", 3.0),
        ("gnatsd_connections_total", 3.0),
        ("gnatsd_subscriptions", 4.0),
        ("gnatsd_in_msgs_total", 10.0),
        ("gnatsd_in_bytes_total", 1000.0),
        ("gnatsd_out_msgs_total", 40.0),
        ("gnatsd_out_bytes_total", 4000.0),
        ("gnatsd_slow_consumers_total", 0.0),
        ("gnatsd_routes", 0.0),
    ] {
        assert_eq!(sample(&scrape, name, &[]), want, "{name}");
    }
    assert!(sample(&scrape, "gnatsd_uptime_seconds", &[]) >= 0.0);
    assert_eq!(
        sample(&scrape, "gnatsd_info", &[("version", "2.9.10")]),
        1.0
    );
}

/// The first RTT estimate is taken at CONNECT; `uptime`/`idle`/`rtt` use Go's formats.
#[test]
fn connz_times_use_go_formats() {
    let (server, http) = start_monitored(&[]);
    let _c = client(server.port, "timer");
    let connz = get_json(http, "/connz");
    let c = conn_named(&connz, "timer");
    let rtt = c["rtt"].as_str().expect("rtt");
    assert!(
        rtt.ends_with("µs") || rtt.ends_with("ms") || rtt.ends_with("ns"),
        "{rtt}"
    );
    assert_eq!(c["uptime"], "0s");
    assert_eq!(c["idle"], "0s");
    for key in ["start", "last_activity"] {
        let t = c[key].as_str().expect("time");
        assert!(t.ends_with('Z') && t.contains('T'), "{key}: {t}");
    }
    let now = connz["now"].as_str().expect("now");
    assert!(now.starts_with("20") && now.ends_with('Z'), "{now}");
}

// ----------------------------------------------------------------------------------------
// /connz sorting, paging, filters and errors

#[test]
fn connz_sorts_pages_and_filters() {
    let (server, http) = start_monitored(&[]);
    // c1 publishes 1 message and has 4 subscriptions, c2 2 and 3, c3 3 and 2, c4 4 and 1.
    let mut clients: Vec<Raw> = (1..=4)
        .map(|i| client(server.port, &format!("c{i}")))
        .collect();
    for (i, c) in clients.iter_mut().enumerate() {
        for sid in 0..(4 - i) {
            c.send(format!("SUB s.{i}.{sid} {sid}\r\n").as_bytes());
        }
        c.send(b"UNSUB 0 9\r\n");
        c.ping();
        publish(c, "nobody", i + 1, 10 * (i + 1));
    }
    let all = get_json(http, "/connz");
    let by_name: HashMap<String, u64> = array_at(&all, "connections")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or("").to_string(),
                c["cid"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let cid = |n: usize| by_name[&format!("c{n}")];
    assert!(
        poll_until(WAIT, || get_json(http, "/varz")["in_msgs"] == 10),
        "traffic not counted"
    );

    assert_eq!(cids(&all), vec![cid(1), cid(2), cid(3), cid(4)]);
    assert_eq!(
        cids(&get_json(http, "/connz?sort=start")),
        cids(&get_json(http, "/connz?sort=cid"))
    );
    let desc = vec![cid(4), cid(3), cid(2), cid(1)];
    assert_eq!(cids(&get_json(http, "/connz?sort=msgs_from")), desc);
    assert_eq!(cids(&get_json(http, "/connz?sort=bytes_from")), desc);
    assert_eq!(
        cids(&get_json(http, "/connz?sort=subs")),
        vec![cid(1), cid(2), cid(3), cid(4)]
    );
    // Uptime ascending: the youngest first.
    assert_eq!(cids(&get_json(http, "/connz?sort=uptime")), desc);
    // Last activity descending: c4 published last.
    assert_eq!(cids(&get_json(http, "/connz?sort=last"))[0], cid(4));

    let page = get_json(http, "/connz?sort=msgs_from&offset=1&limit=2");
    assert_eq!(cids(&page), vec![cid(3), cid(2)]);
    assert_eq!(page["num_connections"], 2);
    assert_eq!(page["total"], 4);
    assert_eq!(page["offset"], 1);
    assert_eq!(page["limit"], 2);
    let beyond = get_json(http, "/connz?offset=10");
    assert_eq!(beyond["num_connections"], 0);
    assert_eq!(beyond["connections"], serde_json::json!([]));

    let one = get_json(http, &format!("/connz?cid={}", cid(2)));
    assert_eq!(cids(&one), vec![cid(2)]);
    assert_eq!(one["limit"], 1);

    // Subscriptions: plain list, and the detailed one with sid, msgs and max.
    let listed = get_json(http, &format!("/connz?cid={}&subs=1", cid(3)));
    let list: BTreeSet<&str> = array_at(&listed["connections"][0], "subscriptions_list")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(list, BTreeSet::from(["s.2.0", "s.2.1"]));
    let detailed = get_json(http, &format!("/connz?cid={}&subs=detail", cid(3)));
    let detail = &detailed["connections"][0]["subscriptions_list_detail"];
    assert_eq!(detail[0]["sid"], "0");
    assert_eq!(detail[0]["subject"], "s.2.0");
    assert_eq!(detail[0]["max"], 9);
    assert_eq!(detail[0]["msgs"], 0);
    assert_eq!(detail[0]["cid"], cid(3));
    assert!(detail[0].get("account").is_none());
    assert!(detailed["connections"][0]
        .get("subscriptions_list")
        .is_none());
    assert!(all["connections"][0].get("subscriptions_list").is_none());

    // Bad parameters: nats-server's 400 messages.
    for (path, message) in [
        ("/connz?sort=bogus", "invalid sorting option: bogus"),
        (
            "/connz?limit=x",
            "Error decoding int for 'limit': strconv.Atoi: parsing \"x\": invalid syntax",
        ),
        (
            "/connz?subs=maybe",
            "Error decoding boolean for 'subs': strconv.ParseBool: parsing \"maybe\": invalid syntax",
        ),
        (
            "/connz?cid=-1",
            "Error decoding uint64 for 'cid': strconv.ParseUint: parsing \"-1\": invalid syntax",
        ),
        ("/connz?state=gone", "Error decoding state for gone"),
        ("/connz?sort=stop", "sort by stop only valid on closed connections"),
        ("/connz?sort=reason", "sort by reason only valid on closed connections"),
        (
            "/subsz?test=foo.*",
            "invalid test subject, must be valid publish subject: foo.*",
        ),
        (
            "/routez?subs=2",
            "Error decoding boolean for 'subs': strconv.ParseBool: parsing \"2\": invalid syntax",
        ),
    ] {
        let reply = http_get(http, path);
        assert_eq!(reply.status, 400, "{path}");
        assert_eq!(reply.body, message, "{path}");
        assert_eq!(reply.content_type, "text/plain; charset=utf-8", "{path}");
    }
    let missing = http_get(http, "/nope");
    assert_eq!(
        (missing.status, missing.body.as_str()),
        (404, "404 page not found\n")
    );
    drop(clients);
}

// ----------------------------------------------------------------------------------------
// Closed connections and slow consumers

/// Connections closed for four different reasons, one of them a slow consumer, show up in
/// `/connz?state=closed` with their reason, stop time and subscriptions; the slow consumer
/// is counted in `/varz` and `/metrics`.
#[test]
fn closed_connections_keep_their_close_reason() {
    let conf = "max_payload: 4096\nmax_pending: 65536\n";
    let server = TestServer::with_config(conf, &["-m", "-1"]);
    let http = http_port_of(&server);

    let gone = client(server.port, "gone");
    drop(gone);
    let mut rude = client(server.port, "rude");
    rude.send(b"FOO BAR\r\n");
    let _ = rude.read_until_closed();
    let mut big = client(server.port, "big");
    big.send(format!("PUB x 5000\r\n{}\r\n", "y".repeat(5000)).as_bytes());
    let _ = big.read_until_closed();

    // A subscriber that stops reading while 1 KiB messages keep coming.
    let mut slow = client(server.port, "slow");
    slow.send(b"SUB flood 1\r\n");
    slow.ping();
    let mut publisher = client(server.port, "flood");
    let chunk: Vec<u8> = format!("PUB flood 1024\r\n{}\r\n", "z".repeat(1024))
        .repeat(256)
        .into_bytes();
    let became_slow = poll_until(Duration::from_secs(30), || {
        for _ in 0..8 {
            publisher.send(&chunk);
        }
        get_json(http, "/varz")["slow_consumers"] == 1
    });
    assert!(became_slow, "no slow consumer: {}", get_json(http, "/varz"));

    let ok = poll_until(WAIT, || {
        get_json(http, "/connz?state=closed")["total"].as_u64() == Some(4)
    });
    assert!(ok, "{}", get_json(http, "/connz?state=closed"));
    let closed = get_json(http, "/connz?state=closed&subs=1");
    for (name, reason) in [
        ("gone", "Client Closed"),
        ("rude", "Protocol Violation"),
        ("big", "Maximum Message Payload Exceeded"),
        ("slow", "Slow Consumer (Pending Bytes)"),
    ] {
        let c = conn_named(&closed, name);
        assert_eq!(c["reason"], reason, "{c}");
        assert!(c["stop"].as_str().is_some_and(|s| s.ends_with('Z')), "{c}");
    }
    let slow_entry = conn_named(&closed, "slow");
    assert_eq!(slow_entry["subscriptions"], 1);
    assert_eq!(
        slow_entry["subscriptions_list"],
        serde_json::json!(["flood"])
    );

    let by_reason = get_json(http, "/connz?state=closed&sort=reason");
    let reasons: Vec<&str> = array_at(&by_reason, "connections")
        .iter()
        .filter_map(|c| c["reason"].as_str())
        .collect();
    assert_eq!(
        reasons,
        vec![
            "Client Closed",
            "Maximum Message Payload Exceeded",
            "Protocol Violation",
            "Slow Consumer (Pending Bytes)"
        ]
    );
    let by_stop = get_json(http, "/connz?state=closed&sort=stop");
    assert_eq!(by_stop["connections"][0]["name"], "slow");
    assert_eq!(by_stop["connections"][3]["name"], "gone");

    // Open and closed together; the open ones have no stop time.
    let all = get_json(http, "/connz?state=all");
    assert_eq!(all["total"], 5);
    let open = conn_named(&all, "flood");
    assert!(open.get("stop").is_none() && open.get("reason").is_none());

    assert_eq!(get_json(http, "/varz")["slow_consumers"], 1);
    assert_eq!(
        sample(&metrics(http), "gnatsd_slow_consumers_total", &[]),
        1.0
    );
}

/// `auth=1` adds the authorized user; a failed login is a closed connection with its reason.
#[test]
fn connz_shows_authorized_users_and_auth_failures() {
    let (server, http) = start_monitored(&["--user", "alice", "--pass", "s3cret"]);
    let mut bad = Raw::connect_with(
        server.port,
        r#"{"verbose":false,"user":"alice","pass":"no"}"#,
    );
    let _ = bad.read_until_closed();
    let mut good = Raw::connect_with(
        server.port,
        r#"{"verbose":false,"user":"alice","pass":"s3cret","name":"ok"}"#,
    );
    good.ping();
    let plain = get_json(http, "/connz");
    assert!(conn_named(&plain, "ok").get("authorized_user").is_none());
    let with_auth = get_json(http, "/connz?auth=1");
    assert_eq!(conn_named(&with_auth, "ok")["authorized_user"], "alice");
    assert!(poll_until(WAIT, || {
        get_json(http, "/connz?state=closed")["connections"][0]["reason"]
            == "Authentication Failure"
    }));
    assert_eq!(get_json(http, "/varz")["auth_required"], true);
}

// ----------------------------------------------------------------------------------------
// /subsz, /healthz, index, JSONP

#[test]
fn subsz_reports_stats_and_lists_subscriptions() {
    let (server, http) = start_monitored(&[]);
    let mut a = client(server.port, "a");
    a.send(b"SUB foo.bar 1\r\nSUB foo.* 2\r\nSUB baz workers 3\r\n");
    a.ping();
    let mut b = client(server.port, "b");
    b.send(b"SUB foo.> 7\r\n");
    b.ping();
    publish(&mut b, "foo.bar", 2, 4);

    let stats = get_json(http, "/subsz");
    assert_eq!(stats["num_subscriptions"], 4);
    assert_eq!(stats["num_inserts"], 4);
    assert_eq!(stats["num_removes"], 0);
    assert!(stats.get("subscriptions_list").is_none());
    assert!(stats.get("server_id").is_none());
    let keys: Vec<String> = keys_at(&http_get(http, "/subsz").body, 2);
    assert_eq!(
        keys,
        [
            "num_subscriptions",
            "num_cache",
            "num_inserts",
            "num_removes",
            "num_matches",
            "cache_hit_rate",
            "max_fanout",
            "avg_fanout"
        ]
    );

    let listed = get_json(http, "/subsz?subs=1");
    assert_eq!(listed["total"], 4);
    let list = listed["subscriptions_list"].as_array().expect("list");
    assert!(list.iter().all(|s| s["account"] == "$G"));
    let queue = list.iter().find(|s| s["subject"] == "baz").expect("baz");
    assert_eq!(queue["qgroup"], "workers");
    assert_eq!(queue["sid"], "3");

    let matched = get_json(http, "/subsz?subs=1&test=foo.bar");
    let subjects: BTreeSet<&str> = array_at(&matched, "subscriptions_list")
        .iter()
        .filter_map(|s| s["subject"].as_str())
        .collect();
    assert_eq!(subjects, BTreeSet::from(["foo.bar", "foo.*", "foo.>"]));
    let foo_bar = array_at(&matched, "subscriptions_list")
        .iter()
        .find(|s| s["subject"] == "foo.bar")
        .expect("foo.bar");
    assert_eq!(foo_bar["msgs"], 2);

    let paged = get_json(http, "/subsz?subs=1&offset=1&limit=2");
    assert_eq!(paged["offset"], 1);
    assert_eq!(paged["limit"], 2);
    assert_eq!(
        paged["subscriptions_list"].as_array().map(Vec::len),
        Some(2)
    );
    // No match: only the statistics, as nats-server answers.
    let none = get_json(http, "/subsz?subs=1&test=nothing.here");
    assert!(none.get("subscriptions_list").is_none());
    // The old name of the endpoint.
    assert_eq!(get_json(http, "/subscriptionsz")["num_subscriptions"], 4);
}

#[test]
fn healthz_index_and_jsonp() {
    let (_server, http) = start_monitored(&[]);
    let health = http_get(http, "/healthz");
    assert_eq!(
        (health.status, health.body.as_str()),
        (200, r#"{"status":"ok"}"#)
    );
    // No cluster configured: ready at once.
    assert_eq!(http_get(http, "/healthz?cluster=1").status, 200);
    let index = http_get(http, "/");
    assert_eq!(index.status, 200);
    assert!(index.content_type.starts_with("text/html"));
    for link in ["varz", "connz", "routez", "subsz", "healthz", "metrics"] {
        assert!(index.body.contains(&format!("href=./{link}")), "{link}");
    }
    let jsonp = http_get(http, "/varz?callback=show");
    assert_eq!(jsonp.content_type, "application/javascript");
    assert!(jsonp.body.starts_with("show({") && jsonp.body.ends_with("})"));
    let varz = get_json(http, "/varz");
    assert!(
        varz["http_req_stats"]["/healthz"].as_u64() >= Some(2),
        "{varz}"
    );
    assert!(varz["http_req_stats"]["/"].as_u64() >= Some(1), "{varz}");
}

// ----------------------------------------------------------------------------------------
// A three-server cluster

/// One server of a test cluster: its client and monitoring ports.
struct Node {
    server: TestServer,
    http: u16,
    cluster: u16,
}

fn node(cluster: u16, seed: Option<u16>) -> Node {
    let listen = format!("nats://127.0.0.1:{cluster}");
    let routes = seed.map(|s| format!("nats://127.0.0.1:{s}"));
    let mut args = vec!["-cluster", &listen, "--cluster_name", "X"];
    if let Some(r) = &routes {
        args.extend_from_slice(&["-routes", r]);
    }
    let (server, http) = start_monitored(&args);
    Node {
        server,
        http,
        cluster,
    }
}

/// Routes with their direction, configuration, counters and remote interest; cluster
/// readiness; per-route Prometheus series.
#[test]
fn routez_reports_a_three_server_cluster() {
    let [ca, cb, cc] = [free_port(), free_port(), free_port()];
    let a = node(ca, None);
    let b = node(cb, Some(ca));
    let c = node(cc, Some(ca));
    let nodes = [&a, &b, &c];
    for n in nodes {
        let meshed = poll_until(Duration::from_secs(20), || {
            get_json(n.http, "/routez")["num_routes"] == 2
        });
        assert!(meshed, "{}", get_json(n.http, "/routez"));
    }
    let id = |n: &Node| {
        get_json(n.http, "/varz")["server_id"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let (ida, idb, idc) = (id(&a), id(&b), id(&c));

    // On b: the configured route to the seed, dialled by b.
    let routez_b = get_json(b.http, "/routez");
    let to_a = array_at(&routez_b, "routes")
        .iter()
        .find(|r| r["remote_id"] == ida.as_str())
        .expect("route to a");
    assert_eq!(to_a["did_solicit"], true);
    assert_eq!(to_a["is_configured"], true);
    assert_eq!(to_a["ip"], "127.0.0.1");
    assert_eq!(to_a["port"], ca);
    // On the seed nothing is configured: both routes came in.
    for r in array_at(&get_json(a.http, "/routez"), "routes") {
        assert_eq!(r["did_solicit"], false, "{r}");
        assert_eq!(r["is_configured"], false, "{r}");
        assert!(r["remote_id"] == idb.as_str() || r["remote_id"] == idc.as_str());
    }
    let varz_b = get_json(b.http, "/varz");
    assert_eq!(varz_b["routes"], 2);
    assert_eq!(varz_b["cluster"]["name"], "X");
    assert_eq!(varz_b["cluster"]["cluster_port"], cb);
    assert_eq!(
        varz_b["cluster"]["urls"],
        serde_json::json!([format!("127.0.0.1:{ca}")])
    );
    assert_eq!(varz_b["connect_urls"].as_array().map(Vec::len), Some(3));

    // Known traffic over the b -> a route: 7 messages of 50 bytes.
    let mut sub = client(a.server.port, "sub");
    sub.send(b"SUB r.x 1\r\n");
    sub.ping();
    let interest = poll_until(WAIT, || {
        let r = get_json(b.http, "/routez?subs=1");
        r["routes"].as_array().into_iter().flatten().any(|r| {
            r["remote_id"] == ida.as_str() && r["subscriptions_list"] == serde_json::json!(["r.x"])
        })
    });
    assert!(interest, "{}", get_json(b.http, "/routez?subs=1"));
    let detail = get_json(b.http, "/routez?subs=detail");
    let detailed = array_at(&detail, "routes")
        .iter()
        .find(|r| r["remote_id"] == ida.as_str())
        .expect("route to a");
    assert_eq!(detailed["subscriptions_list_detail"][0]["sid"], "$G r.x");
    let mut publisher = client(b.server.port, "pub");
    publish(&mut publisher, "r.x", 7, 50);
    let route_of = |n: &Node, remote: &str| -> Value {
        array_at(&get_json(n.http, "/routez"), "routes")
            .iter()
            .find(|r| r["remote_id"] == remote)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let counted = poll_until(WAIT, || {
        let out = route_of(&b, &ida);
        let inb = route_of(&a, &idb);
        out["out_msgs"] == 7
            && out["out_bytes"] == 350
            && inb["in_msgs"] == 7
            && inb["in_bytes"] == 350
    });
    assert!(counted, "{} / {}", route_of(&b, &ida), route_of(&a, &idb));
    assert_eq!(route_of(&b, &idc)["out_msgs"], 0);
    assert!(poll_until(WAIT, || {
        get_json(a.http, "/connz")["connections"][0]["out_msgs"] == 7
    }));
    // Route RTTs are measured by the route pings.
    assert!(poll_until(WAIT, || route_of(&b, &ida)["rtt"] != "0s"));

    let scrape = metrics(b.http);
    assert_eq!(sample(&scrape, "gnatsd_routes", &[]), 2.0);
    assert_eq!(
        sample(
            &scrape,
            "gnatsd_route_out_msgs_total",
            &[("remote_id", &ida)]
        ),
        7.0
    );
    assert_eq!(
        sample(
            &scrape,
            "gnatsd_route_out_bytes_total",
            &[("remote_id", &ida)]
        ),
        350.0
    );
    assert_eq!(
        sample(
            &scrape,
            "gnatsd_route_subscriptions",
            &[("remote_id", &ida)]
        ),
        1.0
    );
    for n in nodes {
        assert_eq!(http_get(n.http, "/healthz?cluster=1").status, 200);
        let _ = n.cluster;
    }
}

/// `/healthz?cluster=1` is 503 until every configured route is connected; plain `/healthz`
/// stays 200.
#[test]
fn cluster_health_waits_for_configured_routes() {
    let [seed_port, own_port] = [free_port(), free_port()];
    let waiting = node(own_port, Some(seed_port));
    let unready = http_get(waiting.http, "/healthz?cluster=1");
    assert_eq!(unready.status, 503, "{}", unready.body);
    let body: Value = serde_json::from_str(&unready.body).expect("json");
    assert_eq!(body["status"], "unavailable");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains(&format!("127.0.0.1:{seed_port}"))),
        "{body}"
    );
    assert_eq!(http_get(waiting.http, "/healthz").status, 200);

    let _seed = node(seed_port, None);
    let ready = poll_until(Duration::from_secs(20), || {
        http_get(waiting.http, "/healthz?cluster=1").status == 200
    });
    assert!(ready, "{}", get_json(waiting.http, "/routez"));
    assert_eq!(
        http_get(waiting.http, "/healthz?cluster=1").body,
        r#"{"status":"ok"}"#
    );
}

/// A configured route that points at the server itself does not hold readiness back.
#[test]
fn cluster_health_ignores_a_route_to_itself() {
    let own = free_port();
    let alone = node(own, Some(own));
    let ready = poll_until(WAIT, || {
        http_get(alone.http, "/healthz?cluster=1").status == 200
    });
    assert!(ready, "{}", http_get(alone.http, "/healthz?cluster=1").body);
}

// ----------------------------------------------------------------------------------------
// Key sets compared with the real nats-server

const NATS_SERVER: &str = common::REFERENCE;

/// A nats-server process; killed on drop.
struct RealServer {
    child: Child,
    http: u16,
    port: u16,
}

impl RealServer {
    fn start(extra: &[String]) -> RealServer {
        let (port, http) = (free_port(), free_port());
        let mut cmd = Command::new(NATS_SERVER);
        cmd.args([
            "-a",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-m",
            &http.to_string(),
        ])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        let child = cmd.spawn().expect("spawn nats-server");
        let server = RealServer { child, http, port };
        let up = poll_until(WAIT, || TcpStream::connect(("127.0.0.1", http)).is_ok());
        assert!(up, "nats-server did not start");
        server
    }
}

impl Drop for RealServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The same traffic on either server: a named client with a plain and a queue subscription
/// (with an auto-unsubscribe limit) that received a message, and a client that closed.
fn same_traffic(port: u16) -> Raw {
    let mut c = client(port, "keys");
    c.send(b"SUB k.a 1\r\nSUB k.b q 2\r\nUNSUB 2 5\r\n");
    c.ping();
    publish(&mut c, "k.a", 1, 3);
    drop(client(port, "closed"));
    c
}

/// Top-level keys (in order) of `path` on both servers.
fn compare_top(ours: u16, theirs: u16, path: &str, indent: usize) {
    let mine = keys_at(&http_get(ours, path).body, indent);
    let real = keys_at(&http_get(theirs, path).body, indent);
    assert!(!real.is_empty(), "{path}: nothing parsed");
    assert_eq!(mine, real, "{path} (indent {indent})");
}

#[test]
fn key_sets_match_nats_server() {
    if !common::reference_available("key_sets_match_nats_server") {
        return;
    }
    let real = RealServer::start(&[]);
    let (ours, http) = start_monitored(&[]);
    let _a = same_traffic(real.port);
    let _b = same_traffic(ours.port);
    let closed_known = |port: u16| {
        poll_until(WAIT, || {
            get_json(port, "/connz?state=closed")["num_connections"] == 1
        })
    };
    assert!(closed_known(real.http) && closed_known(http));

    for path in ["/varz", "/connz", "/routez", "/subsz", "/subsz?subs=1"] {
        compare_top(http, real.http, path, 2);
    }
    // ConnInfo keys, open (with every optional list) and closed.
    for path in [
        "/connz?subs=1",
        "/connz?subs=detail&auth=1",
        "/connz?state=closed",
        "/connz?state=closed&subs=detail",
    ] {
        compare_top(http, real.http, path, 2);
        compare_top(http, real.http, path, 6);
    }
    // Subscription detail keys (the queue subscription has every optional key).
    let detail = |port: u16| -> BTreeSet<String> {
        let v = get_json(port, "/connz?subs=detail");
        let c = conn_named(&v, "keys");
        array_at(c, "subscriptions_list_detail")
            .iter()
            .flat_map(|d| d.as_object().into_iter().flat_map(|o| o.keys().cloned()))
            .collect()
    };
    assert_eq!(detail(http), detail(real.http));
    let subsz_detail = |port: u16| -> BTreeSet<String> {
        get_json(port, "/subsz?subs=1&test=k.a")["subscriptions_list"][0]
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(subsz_detail(http), subsz_detail(real.http));
}

/// With accounts (an export, an import) and a websocket listener in the configuration, a TCP
/// client in one account and a websocket client in the other: `/varz` (with its websocket
/// section), `/connz` (with the account and the websocket connection), `/accountz` and an
/// account's detail answer with nats-server's keys. (Each account imports something: an
/// account with no imports of its own still lists nats-server's system service imports,
/// `$SYS.REQ.ACCOUNT.PING.CONNZ` and the like, which we do not serve.)
#[test]
fn key_sets_with_accounts_and_websocket_match_nats_server() {
    if !common::reference_available("key_sets_with_accounts_and_websocket_match_nats_server") {
        return;
    }
    let conf = "accounts {\n  A { users: [{user: a, password: a}], exports: [{stream: \"t.>\"}, {service: \"svc\"}], imports: [{stream: {account: C, subject: \"c.>\"}}] }\n  C { exports: [{stream: \"c.>\"}] }\n  B { users: [{user: b, password: b}], imports: [{stream: {account: A, subject: \"t.>\"}}, {service: {account: A, subject: svc}}] }\n}\nwebsocket { host: 127.0.0.1, port: -1, no_tls: true }\n";
    let mut running = Vec::new();
    for binary in [common::OURS, common::REFERENCE] {
        let server = TestServer::binary_with_config(binary, conf, &["-m", "-1"]);
        let http = http_port_of(&server);
        let ws_port = server.logged_port("Listening for websocket clients on ");
        let mut tcp = Raw::connect_with(
            server.port,
            r#"{"verbose":false,"name":"tcp","user":"a","pass":"a"}"#,
        );
        tcp.send(b"SUB t.x 1\r\nSUB svc q 2\r\n");
        tcp.ping();
        let mut browser = ws::WsRaw::open(ws_port, "");
        browser.frame(WAIT).expect("INFO");
        browser.send(b"CONNECT {\"verbose\":false,\"name\":\"ws\",\"user\":\"b\",\"pass\":\"b\"}\r\nSUB t.> 1\r\nPING\r\n");
        browser.read_until("PONG\r\n", WAIT);
        running.push((server, http, tcp, browser));
    }
    let (ours, real) = (running[0].1, running[1].1);
    for (path, indents) in [
        ("/varz", &[2, 4][..]),
        ("/connz?auth=1&subs=detail", &[2, 6]),
        ("/accountz", &[2]),
        ("/accountz?acc=A", &[2, 4]),
        ("/accountz?acc=B", &[2, 4]),
    ] {
        for &indent in indents {
            compare_top(ours, real, path, indent);
        }
    }
    let section_keys = |http: u16, section: &str| -> BTreeSet<String> {
        get_json(http, "/varz")[section]
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    for section in ["websocket", "cluster", "gateway", "leaf", "mqtt"] {
        assert_eq!(
            section_keys(ours, section),
            section_keys(real, section),
            "/varz {section}"
        );
    }
    // Every connection's keys, the websocket one included.
    let conn_keys = |http: u16| -> Vec<(String, BTreeSet<String>)> {
        let v = get_json(http, "/connz?auth=1&subs=detail");
        let mut all: Vec<_> = array_at(&v, "connections")
            .iter()
            .map(|c| {
                let keys = c.as_object().map(|o| o.keys().cloned().collect());
                (
                    c["name"].as_str().unwrap_or_default().to_string(),
                    keys.unwrap_or_default(),
                )
            })
            .collect();
        all.sort();
        all
    };
    assert_eq!(conn_keys(ours), conn_keys(real));
}

#[test]
fn route_info_keys_match_nats_server() {
    if !common::reference_available("route_info_keys_match_nats_server") {
        return;
    }
    // Two nats-servers and two of ours, each pair routed, each with a client subscription.
    let (rc1, rc2) = (free_port(), free_port());
    let real1 = RealServer::start(&[
        "-cluster".into(),
        format!("nats://127.0.0.1:{rc1}"),
        "--cluster_name".into(),
        "R".into(),
    ]);
    let real2 = RealServer::start(&[
        "-cluster".into(),
        format!("nats://127.0.0.1:{rc2}"),
        "-routes".into(),
        format!("nats://127.0.0.1:{rc1}"),
        "--cluster_name".into(),
        "R".into(),
    ]);
    let (oc1, oc2) = (free_port(), free_port());
    let ours1 = node(oc1, None);
    let ours2 = node(oc2, Some(oc1));
    let mut subs = Vec::new();
    for port in [real1.port, ours1.server.port] {
        let mut c = client(port, "keys");
        c.send(b"SUB k.r 1\r\nSUB k.q q 2\r\n");
        c.ping();
        subs.push(c);
    }
    for http in [real2.http, ours2.http] {
        let routed = poll_until(Duration::from_secs(20), || {
            let r = get_json(http, "/routez?subs=1");
            r["num_routes"] == 1
                && r["routes"][0]["subscriptions_list"]
                    .as_array()
                    .is_some_and(|l| l.iter().any(|s| s == "k.q"))
        });
        assert!(routed, "{}", get_json(http, "/routez?subs=1"));
    }
    for path in ["/routez", "/routez?subs=1", "/routez?subs=detail"] {
        compare_top(ours2.http, real2.http, path, 2);
        compare_top(ours2.http, real2.http, path, 6);
    }
    compare_top(ours2.http, real2.http, "/varz", 2);
    compare_top(ours2.http, real2.http, "/varz", 4);
    let detail_keys = |http: u16| -> BTreeSet<String> {
        let r = get_json(http, "/routez?subs=detail");
        array_at(&r["routes"][0], "subscriptions_list_detail")
            .iter()
            .filter(|d| d["subject"] == "k.q")
            .flat_map(|d| d.as_object().into_iter().flat_map(|o| o.keys().cloned()))
            .collect()
    };
    assert_eq!(detail_keys(ours2.http), detail_keys(real2.http));
}

/// `/metrics` per account: connections, subscriptions and the traffic of each account's
/// clients, counting a connection's traffic after it closed too.
#[test]
fn metrics_break_connections_subscriptions_and_traffic_down_by_account() {
    let server = TestServer::with_config(
        "http: \"127.0.0.1:-1\"\naccounts {\n  A { users: [{user: a, password: a}], exports: [{stream: \"t.>\"}] }\n  B { users: [{user: b, password: b}], imports: [{stream: {account: A, subject: \"t.>\"}}] }\n}\n",
        &[],
    );
    let http = server.logged_port("Starting http monitor on ");
    let login = |u: &str| format!(r#"{{"verbose":false,"user":"{u}","pass":"{u}"}}"#);
    let mut in_b = Raw::synced(server.port, &login("b"), b"SUB t.> 1\r\nSUB other 2\r\n");
    {
        // A publisher that closes before the scrape: its traffic still counts for A.
        let mut a = Raw::synced(server.port, &login("a"), b"");
        a.send(b"PUB t.1 5\r\nhello\r\nPUB t.2 5\r\nworld\r\n");
        a.ping();
    }
    let (got, _) = in_b.read_for(Duration::from_millis(300));
    assert_eq!(
        String::from_utf8_lossy(&got),
        "MSG t.1 1 5\r\nhello\r\nMSG t.2 1 5\r\nworld\r\n"
    );
    // The closed connection leaves the table a moment after its socket closes.
    poll_until(WAIT, || {
        sample(
            &metrics(http),
            "gnatsd_account_connections",
            &[("account", "A")],
        ) == 0.0
    });
    let scrape = metrics(http);
    let of = |name: &str, account: &str| sample(&scrape, name, &[("account", account)]);
    assert_eq!(of("gnatsd_account_connections", "A"), 0.0);
    assert_eq!(of("gnatsd_account_connections", "B"), 1.0);
    assert_eq!(of("gnatsd_account_subscriptions", "B"), 2.0);
    assert_eq!(of("gnatsd_account_in_msgs_total", "A"), 2.0);
    assert_eq!(of("gnatsd_account_in_bytes_total", "A"), 10.0);
    assert_eq!(of("gnatsd_account_out_msgs_total", "B"), 2.0);
    assert_eq!(of("gnatsd_account_out_bytes_total", "B"), 10.0);
    assert_eq!(of("gnatsd_account_in_msgs_total", "B"), 0.0);
    assert_eq!(of("gnatsd_account_connections", "$G"), 0.0);
}
