//! Our server in one cluster with the reference nats-server 2.9.10 (`/usr/sbin/nats-server`):
//! nats-server as the seed with two of ours, and ours as the seed with two nats-servers.
//! In both arrangements the mesh completes through gossip in both directions, a subscriber on
//! every server gets exactly one copy of a message published on any server, and a queue
//! group spread over all three gets each message exactly once. An all-nats-server cluster
//! runs the same checks as a baseline for the harness itself. The async INFOs a client gets
//! as the cluster changes (lame duck, shutdown, a server joining) are compared with the same
//! steps on nats-server.
//!
//! Without `/usr/sbin/nats-server` these tests are skipped with a message on stderr, unless
//! `NATS_SERVER_REQUIRED=1` makes that a failure.

#[path = "common/cluster.rs"]
mod cluster_util;
mod common;

use cluster_util::*;
use ServerKind::{Ours, Real};

/// Unless `test` is skipped for want of nats-server: a seeded trio of `kinds` named
/// `cluster`, subscriptions everywhere, then a queue group over the three servers.
fn pubsub_and_queue_across(test: &str, kinds: [ServerKind; 3], cluster: &str) {
    if !real_server_available(test) {
        return;
    }
    let [a, b, c] = seeded_trio(kinds, Some(cluster));
    check_pubsub_everywhere(&[&a, &b, &c], "mixed.everywhere");
    check_queue_group(&[&a, &b, &c], 2, 3000);
}

#[test]
fn nats_server_seed_with_two_of_ours() {
    pubsub_and_queue_across(
        "nats_server_seed_with_two_of_ours",
        [Real, Ours, Ours],
        "mixA",
    );
}

#[test]
fn our_seed_with_two_nats_servers() {
    pubsub_and_queue_across("our_seed_with_two_nats_servers", [Ours, Real, Real], "mixB");
}

/// The same checks on three nats-servers: if this fails, the harness or the machine is at
/// fault, not our server.
#[test]
fn baseline_three_nats_servers_pass_the_same_checks() {
    pubsub_and_queue_across(
        "baseline_three_nats_servers_pass_the_same_checks",
        [Real, Real, Real],
        "baseline",
    );
}

/// Ours and nats-server listing each other, started together: both dial, and the two must
/// settle on one route between them (each side keeping a different duplicate would make the
/// route flap) and exchange messages.
#[test]
fn ours_and_nats_server_dialling_each_other_settle_on_one_route() {
    if !real_server_available("ours_and_nats_server_dialling_each_other_settle_on_one_route") {
        return;
    }
    let [pa, pb] = free_ports::<2>();
    let [ca, cb] = free_ports::<2>();
    let nodes = start_together(
        &[
            (Ours, pa, ca, listen_style_conf(pa, ca, "both", &[cb])),
            (Real, pb, cb, listen_style_conf(pb, cb, "both", &[ca])),
        ],
        1,
    );
    wait_mesh_settled(&nodes, &[ca, cb]);
    assert_mesh_stays(&nodes, &[ca, cb], std::time::Duration::from_secs(3));
    let refs: Vec<&ClusterNode> = nodes.iter().collect();
    check_pubsub_everywhere(&refs, "both.ways");
}

/// The JSON of an `INFO {…} \r\n` line.
fn info_of(line: &str) -> serde_json::Value {
    let json = line
        .trim_end()
        .strip_prefix("INFO ")
        .unwrap_or_else(|| panic!("not an INFO line: {line:?}"));
    serde_json::from_str(json).unwrap_or_else(|e| panic!("INFO JSON {json:?}: {e}"))
}

/// `kill -<signal> <pid>`.
fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{signal} {pid}");
}

/// Server A (`kind`) routed to a nats-server B, with a protocol-1 client on A past its first
/// PING (so it gets async INFOs), and a second such client.
fn routed_pair_with_clients(
    kind: ServerKind,
    a_conf: &str,
) -> (ClusterNode, ClusterNode, common::Raw, common::Raw) {
    let [pa, pb, ca, cb] = free_ports::<4>();
    let b_conf =
        format!("listen: 127.0.0.1:{pb}\ncluster {{ name: ldm, listen: 127.0.0.1:{cb} }}\n");
    let a_conf = format!(
        "listen: 127.0.0.1:{pa}\ncluster {{ name: ldm, listen: 127.0.0.1:{ca}, routes: [nats-route://127.0.0.1:{cb}] }}\n{a_conf}"
    );
    let nodes = start_together(&[(Real, pb, cb, b_conf), (kind, pa, ca, a_conf)], 1);
    let [b, a]: [ClusterNode; 2] = nodes.try_into().unwrap_or_else(|_| panic!("two nodes"));
    let connect = r#"{"verbose":false,"protocol":1}"#;
    let mut first = common::Raw::connect_with(pa, connect);
    first.ping();
    let mut second = common::Raw::connect_with(pa, connect);
    second.ping();
    // The route formed before the clients came: nothing else is on its way to them.
    for c in [&mut first, &mut second] {
        let (early, _) = c.read_for(QUIET);
        assert_eq!(
            String::from_utf8_lossy(&early),
            "",
            "{kind:?}: before any signal"
        );
    }
    (a, b, first, second)
}

/// SIGINT to `a`: each client is closed and gets no INFO before the close.
fn shut_down_without_info(kind: ServerKind, a: &ClusterNode, clients: [&mut common::Raw; 2]) {
    signal(a.pid(), "INT");
    for c in clients {
        let (got, closed) = c.read_until_closed();
        assert!(closed, "{kind:?}: clients closed at shutdown");
        assert!(
            !got.contains("INFO"),
            "{kind:?}: INFO during shutdown: {got:?}"
        );
    }
}

/// Once shutdown has begun a server sends its clients no topology INFO: the routes it closes
/// are no news to them, and an INFO listing only the dying server makes clients that prune
/// their pool to `connect_urls` (nats.c) forget the live ones. Ours and nats-server alike.
#[test]
fn no_async_info_once_shutdown_has_begun() {
    if !real_server_available("no_async_info_once_shutdown_has_begun") {
        return;
    }
    for kind in [Ours, Real] {
        let (a, _b, mut first, mut second) = routed_pair_with_clients(kind, "");
        shut_down_without_info(kind, &a, [&mut first, &mut second]);
    }
}

/// Lame duck mode: one INFO with `ldm` and only the other servers' URLs; a later topology
/// change (B goes away) is announced without `ldm` again and without this server's own URL;
/// the shutdown that follows sends none. Ours and nats-server alike.
#[test]
fn lame_duck_info_points_elsewhere_once() {
    if !real_server_available("lame_duck_info_points_elsewhere_once") {
        return;
    }
    for kind in [Ours, Real] {
        let (a, mut b, mut first, mut second) = routed_pair_with_clients(
            kind,
            "lame_duck_duration: \"60s\"\nlame_duck_grace_period: \"30s\"\n",
        );
        let b_url = format!("127.0.0.1:{}", b.client_port);
        signal(a.pid(), "USR2");
        for c in [&mut first, &mut second] {
            let line = c.read_line(ROUTE_WAIT).expect("lame duck INFO");
            let info = info_of(&line);
            assert_eq!(info["ldm"], true, "{kind:?}: {line}");
            assert_eq!(
                info["connect_urls"],
                serde_json::json!([b_url]),
                "{kind:?}: {line}"
            );
        }
        b.kill();
        for c in [&mut first, &mut second] {
            let line = c.read_line(ROUTE_WAIT).expect("INFO after the route went");
            let info = info_of(&line);
            assert!(info.get("ldm").is_none(), "{kind:?}: ldm again: {line}");
            let urls = info
                .get("connect_urls")
                .cloned()
                .unwrap_or(serde_json::json!([]));
            assert_eq!(urls, serde_json::json!([]), "{kind:?}: {line}");
        }
        shut_down_without_info(kind, &a, [&mut first, &mut second]);
    }
}

/// A topology INFO states the client's own payload limit, as its first INFO did: a client
/// whose account lowered `max_payload` to 8 must not be told 1 MB when a server joins.
#[test]
fn topology_info_keeps_the_accounts_lower_payload_limit() {
    if !real_server_available("topology_info_keeps_the_accounts_lower_payload_limit") {
        return;
    }
    for kind in [Ours, Real] {
        let [pa, pb, ca, cb] = free_ports::<4>();
        let a_conf = format!(
            "listen: 127.0.0.1:{pa}\ncluster {{ name: mp, listen: 127.0.0.1:{ca} }}\n\
             accounts {{ A {{ users: [{{user: a, password: a}}], limits: {{ max_payload: 8 }} }} }}\n"
        );
        let a = start_together(&[(kind, pa, ca, a_conf)], 0);
        let mut client = common::Raw::connect_with(
            pa,
            r#"{"verbose":false,"protocol":1,"user":"a","pass":"a"}"#,
        );
        client.send(b"PING\r\n");
        assert_eq!(client.read_line(ROUTE_WAIT).as_deref(), Some("PONG\r\n"));
        let first = info_of(&client.read_line(ROUTE_WAIT).expect("INFO after the PONG"));
        assert_eq!(first["max_payload"], 8, "{kind:?}");
        let b_conf = format!(
            "listen: 127.0.0.1:{pb}\ncluster {{ name: mp, listen: 127.0.0.1:{cb}, routes: [nats-route://127.0.0.1:{ca}] }}\n"
        );
        let _b = start_together(&[(Real, pb, cb, b_conf)], 1);
        let line = client.read_line(ROUTE_WAIT).expect("topology INFO");
        let info = info_of(&line);
        assert_eq!(info["max_payload"], 8, "{kind:?}: {line}");
        let urls = info["connect_urls"].as_array().map(Vec::len);
        assert_eq!(urls, Some(2), "{kind:?}: {line}");
        drop(a);
    }
}
