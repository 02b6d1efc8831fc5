//! Clustering, seen from outside our server: the walkthrough and the Docker examples of the
//! clustering docs (flags and config files), full-mesh formation with gossip, one-hop
//! delivery with exactly one copy per subscriber, queue groups spread over servers,
//! interest propagation (subscribe, unsubscribe, re-sent after a route comes back), a
//! server killed and restarted, five servers started together, and the exact route
//! protocol bytes (`RS+`, `RS-`, `RMSG`) as seen by an impersonated route peer.
//!
//! Routes are observed through a client INFO's `connect_urls` (own URL + one per routed
//! peer), log lines and /proc sockets; every wait polls with a deadline.
//! `CLUSTER_TESTS_SERVER=nats-server cargo test -p gnatsd --test cluster` runs every test
//! here against the reference nats-server 2.9.10: they pass there, so a failure against
//! `gnatsd` points at the server, not at the tests.

#[path = "common/cluster.rs"]
mod cluster_util;
mod common;

use std::time::{Duration, Instant};

use cluster_util::*;
use common::{Raw, WAIT};
use futures::StreamExt;

// ----------------------------------------------------------------------------------------
// The documented set-ups

/// The docs' walkthrough, with flags and no cluster name (so names are dynamic): a seed
/// with `-cluster`, two more servers with `-routes` to it; gossip completes the mesh.
#[test]
fn seed_walkthrough_with_flags_forms_a_full_mesh() {
    let kind = kind_under_test();
    let [pa, pb, pc, ca, cb, cc] = free_ports::<6>();
    // gnatsd -p 4222 -cluster nats://localhost:4248 -D
    let a = ClusterNode::launch(kind, pa, ca, &[], None, &[]).ready();
    // gnatsd -p 5222 -cluster nats://localhost:5248 -routes nats://localhost:4248 -D
    let b = ClusterNode::launch(kind, pb, cb, &[ca], None, &[]).ready();
    // gnatsd -p 6222 -cluster nats://localhost:6248 -routes nats://localhost:4248 -D
    let c = ClusterNode::launch(kind, pc, cc, &[ca], None, &[]).ready();
    for node in [&a, &b, &c] {
        node.wait_routes(2);
    }

    // Each server registered the other two, as in the docs' logs.
    let ids = [a.server_id(), b.server_id(), c.server_id()];
    for (i, node) in [&a, &b, &c].into_iter().enumerate() {
        for (j, id) in ids.iter().enumerate() {
            if i != j {
                let line = format!("Registering remote route \"{id}\"");
                assert!(
                    node.wait_log(&line, WAIT),
                    "{} should log {line}",
                    node.label
                );
            }
        }
        assert!(node.count_log("Route connection created") >= 2);
    }

    // Subscribe on A with a real client, publish on C: exactly one copy arrives.
    block_on(async {
        let on_a = async_nats::connect(a.url()).await.expect("connect to A");
        let on_c = async_nats::connect(c.url()).await.expect("connect to C");
        let mut hello = on_a.subscribe("hello").await.expect("subscribe on A");
        let mut probe = on_a.subscribe("_SYNC.walk").await.expect("subscribe on A");
        on_a.flush().await.expect("flush A");
        let deadline = Instant::now() + ROUTE_WAIT;
        loop {
            on_c.publish("_SYNC.walk", "probe".into())
                .await
                .expect("pub");
            on_c.flush().await.expect("flush C");
            let got = tokio::time::timeout(Duration::from_millis(100), probe.next()).await;
            if got.is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "A's interest never reached C");
        }
        on_c.publish("hello", "world".into()).await.expect("pub");
        on_c.flush().await.expect("flush C");
        let msg = tokio::time::timeout(WAIT, hello.next())
            .await
            .expect("the message published on C reaches A")
            .expect("subscription open");
        assert_eq!(msg.payload, "world");
        assert!(
            tokio::time::timeout(QUIET, hello.next()).await.is_err(),
            "exactly one copy"
        );
    });

    check_pubsub_everywhere(&[&a, &b, &c], "everywhere");
}

/// Docker example 1: A, B and C each list the other two in `cluster { routes = [...] }`.
#[test]
fn docker_example_1_servers_listing_each_other() {
    let kind = kind_under_test();
    let [pa, pb, pc, ca, cb, cc] = free_ports::<6>();
    let nodes = start_together(
        &[
            (
                kind,
                pa,
                ca,
                docker_style_conf("A", pa, ca, "dock1", &[cb, cc]),
            ),
            (
                kind,
                pb,
                cb,
                docker_style_conf("B", pb, cb, "dock1", &[ca, cc]),
            ),
            (
                kind,
                pc,
                cc,
                docker_style_conf("C", pc, cc, "dock1", &[ca, cb]),
            ),
        ],
        2,
    );
    // Every pair dials both ways; the duplicates must resolve to one route per pair.
    wait_mesh_settled(&nodes, &[ca, cb, cc]);
    let refs: Vec<&ClusterNode> = nodes.iter().collect();
    check_pubsub_everywhere(&refs, "docker.one");
}

/// Docker example 2, started one by one: A has no routes, B routes to A, C routes to A and B.
#[test]
fn docker_example_2_servers_added_one_by_one() {
    let kind = kind_under_test();
    let [pa, pb, pc, ca, cb, cc] = free_ports::<6>();
    let node = |label: &str, client: u16, cluster: u16, routes: &[u16]| {
        let conf = docker_style_conf(label, client, cluster, "dock2", routes);
        ClusterNode::launch_with_config(kind, client, cluster, &conf, &[]).ready()
    };
    let a = node("A", pa, ca, &[]);
    let b = node("B", pb, cb, &[ca]);
    b.wait_routes(1);
    a.wait_routes(1);
    let c = node("C", pc, cc, &[ca, cb]);
    for node in [&a, &b, &c] {
        node.wait_routes(2);
    }
    // Sub on A, pub on C, as the docs' nats-sub / nats-pub lines.
    let mut on_a = raw_sub(pa, "hello");
    sync_interest(&mut on_a, &[pc]);
    let _on_c = Raw::synced(pc, r#"{"verbose":false}"#, b"PUB hello 5\r\nworld\r\n");
    expect_exactly_one(&mut on_a, "hello", "world");
    check_pubsub_everywhere(&[&a, &b, &c], "docker.two");
}

// ----------------------------------------------------------------------------------------
// Delivery

/// A queue group with two members on each of three servers: 3,000 messages published
/// round-robin on the servers are each received exactly once, spread over the members.
#[test]
fn queue_group_over_three_servers_gets_each_message_once() {
    let kind = kind_under_test();
    let [a, b, c] = seeded_trio([kind; 3], Some("queue"));
    check_queue_group(&[&a, &b, &c], 2, 3000);
}

/// After UNSUB on A, a message published on C reaches nobody on A, and C no longer sends it
/// to A at all (A's protocol trace shows no RMSG for the subject).
#[test]
fn unsubscribe_on_one_server_stops_delivery_from_the_others() {
    let kind = kind_under_test();
    let [pa, pb, pc, ca, cb, cc] = free_ports::<6>();
    let a = ClusterNode::launch(kind, pa, ca, &[], Some("unsub"), &["-V"]).ready();
    let b = ClusterNode::launch(kind, pb, cb, &[ca], Some("unsub"), &[]).ready();
    let c = ClusterNode::launch(kind, pc, cc, &[ca], Some("unsub"), &[]).ready();
    for node in [&a, &b, &c] {
        node.wait_routes(2);
    }
    let mut on_a = Client::connect(pa);
    let sid = on_a.sub("news");
    sync_interest(&mut on_a, &[pb, pc]);
    publish_once(pc, "news", "one");
    expect_exactly_one(&mut on_a, "news", "one");
    assert!(
        a.wait_log("RMSG $G news ", WAIT),
        "A traces the routed message (-V)"
    );

    on_a.unsub(sid);
    on_a.flush();
    // A fresh probe subscription made after the UNSUB arrives at C after the RS-.
    sync_interest(&mut on_a, &[pb, pc]);
    publish_once(pc, "news", "two");
    publish_once(pb, "news", "three");
    // Anything C or B sent A for "news" would have arrived before these later probes.
    let probe = sync_interest(&mut on_a, &[pb, pc]);
    assert!(a.wait_log(&format!("RMSG $G {probe} "), WAIT));
    expect_nothing(&mut on_a, "news", QUIET);
    assert_eq!(
        a.count_log("RMSG $G news "),
        1,
        "after the unsubscribe nothing for \"news\" is routed to A"
    );
}

/// A's subscription is announced again when its route to C comes back: kill C, restart it
/// on the same ports, and messages published on C reach A's old subscriber exactly once.
#[test]
fn interest_is_resent_when_a_route_reconnects() {
    let kind = kind_under_test();
    let [a, b, mut c] = seeded_trio([kind; 3], Some("resend"));
    let mut on_a = raw_sub(a.client_port, "alerts");
    sync_interest(&mut on_a, &[b.client_port, c.client_port]);
    publish_once(c.client_port, "alerts", "before");
    expect_exactly_one(&mut on_a, "alerts", "before");

    c.kill();
    a.wait_routes(1);
    b.wait_routes(1);
    c.restart();
    for node in [&a, &b, &c] {
        node.wait_routes(2);
    }
    probe_until_delivered(c.client_port, "alerts", &mut [&mut on_a]);
    publish_once(c.client_port, "alerts", "after");
    expect_exactly_one(&mut on_a, "alerts", "after");
    // B's route was never interrupted: still exactly one copy from there.
    publish_once(b.client_port, "alerts", "from-b");
    expect_exactly_one(&mut on_a, "alerts", "from-b");
}

/// Kill B: A and C keep exchanging messages. Restart B on the same ports: the mesh is whole
/// again, old subscribers get B's messages and B's new subscribers receive.
#[test]
fn killed_server_leaves_the_rest_working_and_rejoins_on_restart() {
    let kind = kind_under_test();
    let [a, mut b, c] = seeded_trio([kind; 3], Some("kill"));
    let (pa, pc) = (a.client_port, c.client_port);
    let mut on_a = raw_sub(pa, "work");
    let mut on_c = raw_sub(pc, "work");
    sync_interest(&mut on_a, &[pc]);
    sync_interest(&mut on_c, &[pa]);

    b.kill();
    a.wait_routes(1);
    c.wait_routes(1);
    publish_once(pa, "work", "a1");
    publish_once(pc, "work", "c1");
    let both = ["a1".to_string(), "c1".to_string()];
    expect_payloads(&mut on_a, "work", &both, "B down, on A");
    expect_payloads(&mut on_c, "work", &both, "B down, on C");

    b.restart();
    for node in [&a, &b, &c] {
        node.wait_routes(2);
    }
    probe_until_delivered(b.client_port, "work", &mut [&mut on_a, &mut on_c]);
    publish_once(b.client_port, "work", "b1");
    expect_exactly_one(&mut on_a, "work", "b1");
    expect_exactly_one(&mut on_c, "work", "b1");
    check_pubsub_everywhere(&[&a, &b, &c], "rejoined");
}

/// Five servers whose config files list the other four, started together: one full mesh
/// (four routes each, one socket per pair, duplicates resolved), no reconnect storm.
#[test]
fn five_servers_started_together_form_one_full_mesh() {
    let kind = kind_under_test();
    let clients = free_ports::<5>();
    let clusters = free_ports::<5>();
    let specs: Vec<(ServerKind, u16, u16, String)> = clients
        .iter()
        .zip(&clusters)
        .map(|(&p, &cp)| {
            let others: Vec<u16> = clusters.iter().copied().filter(|&c| c != cp).collect();
            (kind, p, cp, listen_style_conf(p, cp, "mesh5", &others))
        })
        .collect();
    let nodes = start_together(&specs, 4);
    // Both ends of a pair may dial each other at first; one connection per pair must remain.
    wait_mesh_settled(&nodes, &clusters);
    // Each pair typically dials both ways (8 per server); nats-server itself occasionally
    // needs one more round after both ends dropped a duplicate (9). A storm is far more.
    for node in &nodes {
        let created = node.count_log("Route connection created");
        assert!(
            (4..=12).contains(&created),
            "{}: {created} route connections created; expected about two per peer, not a \
             reconnect storm",
            node.label
        );
    }
    let refs: Vec<&ClusterNode> = nodes.iter().collect();
    check_pubsub_everywhere(&refs, "mesh.five");
}

/// Configs commonly list every member, the server itself included: the route to itself is
/// dropped and not retried, and the real route stays single.
#[test]
fn a_route_to_itself_is_dropped_and_not_retried() {
    let kind = kind_under_test();
    let [pa, pb, ca, cb] = free_ports::<4>();
    let node = |client: u16, cluster: u16| {
        let conf = listen_style_conf(client, cluster, "self", &[ca, cb]);
        ClusterNode::launch_with_config(kind, client, cluster, &conf, &[]).ready()
    };
    let a = node(pa, ca);
    let b = node(pb, cb);
    a.wait_routes(1);
    b.wait_routes(1);
    let nodes = [a, b];
    let clusters = [ca, cb];
    // A first dial to a peer not yet listening is retried after a second; once settled,
    // nothing more: a retried self route would show up as new route connections.
    wait_mesh_settled(&nodes, &clusters);
    let created: Vec<usize> = nodes
        .iter()
        .map(|n| n.count_log("Route connection created"))
        .collect();
    assert_mesh_stays(&nodes, &clusters, Duration::from_millis(1200));
    let later: Vec<usize> = nodes
        .iter()
        .map(|n| n.count_log("Route connection created"))
        .collect();
    assert_eq!(
        created, later,
        "no new route connections once the mesh settled"
    );
    assert!(
        later.iter().all(|&n| n <= 4),
        "self route once (both ends) plus at most one per direction to the peer: {later:?}"
    );
    let [a, b] = &nodes;
    check_pubsub_everywhere(&[a, b], "self.route");
}

// ----------------------------------------------------------------------------------------
// The route protocol, byte for byte, against an impersonated peer

/// A server for impersonation tests, with its fake peer registered.
fn server_with_fake_peer(cluster: &str) -> (ClusterNode, FakePeer) {
    let [p, cp, fake_client] = free_ports::<3>();
    let node = ClusterNode::launch(kind_under_test(), p, cp, &[], Some(cluster), &[]).ready();
    let peer = FakePeer::connect(cp, cluster, fake_client);
    node.wait_routes(1);
    (node, peer)
}

/// Local subscriptions become `RS+`/`RS-` on the route: plain interest per subject, queue
/// interest with its member count, removals on UNSUB and on disconnect.
#[test]
fn fake_peer_sees_local_interest_as_rs_plus_and_rs_minus() {
    let (node, mut peer) = server_with_fake_peer("fakecl");
    assert!(
        peer.server_info.contains("\"cluster\":\"fakecl\""),
        "{}",
        peer.server_info
    );
    let mut client = Raw::connect_with(node.client_port, r#"{"verbose":false}"#);
    client.send(
        b"SUB foo 1\r\nSUB foo q1 2\r\nSUB foo q1 3\r\nSUB bar.* qq 4\r\nUNSUB 3\r\nUNSUB 1\r\n",
    );
    client.ping();
    for expected in [
        "RS+ $G foo\r\n",
        "RS+ $G foo q1 1\r\n",
        "RS+ $G foo q1 2\r\n",
        "RS+ $G bar.* qq 1\r\n",
        "RS+ $G foo q1 1\r\n",
        "RS- $G foo\r\n",
    ] {
        peer.expect_op(expected);
    }
    drop(client);
    let mut closing = vec![
        peer.next_op(WAIT).expect("first RS- on disconnect"),
        peer.next_op(WAIT).expect("second RS- on disconnect"),
    ];
    closing.sort();
    assert_eq!(closing, ["RS- $G bar.* qq\r\n", "RS- $G foo q1\r\n"]);
    peer.expect_silence();
}

/// Messages published by local clients go to the peer as one `RMSG` with the reply and the
/// queue names it was chosen for; an `RS-` from the peer stops the flow.
#[test]
fn fake_peer_receives_rmsg_with_reply_and_queue_names() {
    let (node, mut peer) = server_with_fake_peer("fakecl");
    peer.send("RS+ $G baz\r\nRS+ $G baz grp 3\r\n");
    peer.sync();
    let mut client = Raw::synced(
        node.client_port,
        r#"{"verbose":false}"#,
        b"PUB baz reply.x 5\r\nhello\r\nPUB baz 2\r\nhi\r\n",
    );
    peer.expect_op("RMSG $G baz + reply.x grp 5\r\nhello\r\n");
    peer.expect_op("RMSG $G baz | grp 2\r\nhi\r\n");
    peer.expect_silence();

    // Several matching remote entries: one RMSG listing every chosen queue.
    peer.send(
        "RS+ $G a.*\r\nRS+ $G a.b\r\nRS+ $G a.> g1 2\r\nRS+ $G a.b g2 1\r\nRS+ $G marker\r\n",
    );
    peer.sync();
    client.send(b"PUB a.b 1\r\nx\r\nPUB a.b r 1\r\ny\r\nPUB marker 1\r\nm\r\n");
    client.ping();
    let first = peer.next_op(WAIT).expect("RMSG for PUB a.b");
    assert_eq!(sorted_queues(&first), "RMSG $G a.b | g1 g2 1\r\nx\r\n");
    let second = peer.next_op(WAIT).expect("RMSG for PUB a.b r");
    assert_eq!(sorted_queues(&second), "RMSG $G a.b + r g1 g2 1\r\ny\r\n");
    peer.expect_op("RMSG $G marker 1\r\nm\r\n");
    peer.expect_silence();

    // The peer withdraws interest: nothing more for that subject.
    peer.send("RS- $G marker\r\n");
    peer.sync();
    client.send(b"PUB marker 1\r\nm\r\nPUB baz 1\r\nz\r\n");
    client.ping();
    peer.expect_op("RMSG $G baz | grp 1\r\nz\r\n");
    peer.expect_silence();
}

/// An `RMSG` from a route is delivered to local subscribers only (one hop, never to another
/// route); queue members get it only when their group is listed, one member per group.
#[test]
fn rmsg_from_a_route_reaches_local_clients_only() {
    let (node, mut sender) = server_with_fake_peer("fakecl");
    let mut other = FakePeer::connect(node.cluster_port, "fakecl", free_port());
    node.wait_routes(2);
    other.send("RS+ $G foo\r\n");
    other.sync();

    let port = node.client_port;
    let mut q1 = Client::connect(port);
    q1.qsub("foo", "q1");
    let mut q2 = Client::connect(port);
    q2.qsub("foo", "q1");
    let mut everyone = [raw_sub(port, "foo"), q1, q2];
    for client in &mut everyone {
        client.sub("marker");
        client.flush();
    }

    sender.send("RMSG $G foo 5\r\nplain\r\n");
    sender.send("RMSG $G foo | q1 6\r\nqueued\r\n");
    sender.send("RMSG $G foo | nope 4\r\nnope\r\n");
    sender.send("RMSG $G marker 3\r\nend\r\n");
    sender.sync();
    // Everything the server delivered from `sender` came before "end".
    let mut got: Vec<Vec<String>> = Vec::new();
    for client in &mut everyone {
        let mut payloads = Vec::new();
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = client.next_msg(left).expect("the marker arrives");
            if msg.subject == "marker" {
                break;
            }
            payloads.push(msg.payload);
        }
        got.push(payloads);
    }
    assert_eq!(
        got[0],
        ["plain", "queued", "nope"],
        "plain subscribers get every routed message"
    );
    let mut queued: Vec<String> = got[1].iter().chain(&got[2]).cloned().collect();
    queued.sort();
    assert_eq!(
        queued,
        ["queued"],
        "one q1 member gets the message listing q1, none gets the others"
    );
    // Nothing was forwarded to the other route: the first thing it gets is a local publish.
    publish_once(port, "foo", "local");
    assert_eq!(
        other.next_message_op(WAIT).as_deref(),
        Some("RMSG $G foo 5\r\nlocal\r\n"),
        "one hop: routed messages are not forwarded to other routes"
    );
    other.expect_no_message_ops();
}

/// A real nats-server keeps the route connection it registered first when both ends dial.
/// Against such a peer (it advertises `lnoc`) we must keep that same connection, not the one
/// our own deterministic rule would pick, or the two ends would each drop the other's choice
/// and the route would flap. The fake peer's id sorts before ours, so our rule alone would
/// keep the connection it dialled.
#[test]
fn with_a_nats_server_peer_the_first_registered_duplicate_is_kept() {
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").expect("fake route listener");
    let fake_port = listener.local_addr().expect("addr").port();
    let [cp] = free_ports::<1>();
    let ours = common::TestServer::start(&[
        "-D",
        "--cluster_name",
        "dup",
        "-cluster",
        &format!("nats://127.0.0.1:{cp}"),
        "-routes",
        &format!("nats://127.0.0.1:{fake_port}"),
    ]);
    let id = "NAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let info = format!(
        "INFO {{\"server_id\":\"{id}\",\"server_name\":\"fake\",\"version\":\"2.9.10\",\"proto\":2,\"host\":\"127.0.0.1\",\"port\":{fake_port},\"headers\":true,\"max_payload\":1048576,\"cluster\":\"dup\",\"lnoc\":true}} \r\n"
    );
    // Connection 1: we dialled the fake peer; it answers with its INFO and gets registered.
    let (mut first, _) = listener.accept().expect("our dial");
    first.write_all(info.as_bytes()).expect("info");
    assert!(ours.wait_log("Registering remote route", common::WAIT));
    // Connection 2: the fake peer dials us too.
    let mut second = TcpStream::connect(("127.0.0.1", cp)).expect("dial ours");
    let connect = format!(
        "CONNECT {{\"echo\":true,\"verbose\":false,\"pedantic\":false,\"tls_required\":false,\"headers\":true,\"name\":\"{id}\",\"cluster\":\"dup\",\"lnoc\":true}}\r\n"
    );
    second.write_all(connect.as_bytes()).expect("connect");
    second.write_all(info.as_bytes()).expect("info");
    let closed = |s: &mut TcpStream, window: Duration| {
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let deadline = std::time::Instant::now() + window;
        let mut buf = [0u8; 4096];
        while std::time::Instant::now() < deadline {
            if common::read_chunk(s, &mut buf).is_err() {
                return true;
            }
        }
        false
    };
    assert!(
        closed(&mut second, Duration::from_secs(5)),
        "the second connection is the duplicate"
    );
    assert!(
        !closed(&mut first, Duration::from_secs(2)),
        "the first registered connection stays"
    );
}

/// Cluster authorization from the `-cluster nats://user:pass@…` URL, and the handshake's
/// refusals with nats-server's `-ERR` texts: bad route credentials, another cluster's name, and
/// a client that dialled the route port.
#[test]
fn cluster_authorization_and_handshake_refusals() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpStream;
    let [ca, cb] = free_ports::<2>();
    let a = common::TestServer::start(&[
        "--cluster_name",
        "auth",
        "-cluster",
        &format!("nats://ruser:rpass@127.0.0.1:{ca}"),
    ]);
    let b = common::TestServer::start(&[
        "--cluster_name",
        "auth",
        "-cluster",
        &format!("nats://ruser:rpass@127.0.0.1:{cb}"),
        "-routes",
        &format!("nats://ruser:rpass@127.0.0.1:{ca}"),
    ]);
    wait_routes(a.port, 1);
    wait_routes(b.port, 1);

    let refused = |connect: &str| -> (String, String) {
        let mut s = TcpStream::connect(("127.0.0.1", ca)).expect("dial route port");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut info = String::new();
        BufReader::new(s.try_clone().expect("clone"))
            .read_line(&mut info)
            .expect("route INFO");
        s.write_all(connect.as_bytes()).expect("connect");
        let mut rest = String::new();
        let _ = s.read_to_string(&mut rest);
        (info, rest)
    };
    let (info, got) = refused(
        "CONNECT {\"echo\":true,\"verbose\":false,\"pedantic\":false,\"user\":\"ruser\",\"pass\":\"wrong\",\"tls_required\":false,\"headers\":true,\"name\":\"NFAKE\",\"cluster\":\"auth\"}\r\n",
    );
    assert!(info.contains("\"auth_required\":true"), "{info}");
    assert!(
        got.contains("-ERR 'Authorization Violation'\r\n"),
        "{got:?}"
    );
    let (_, got) = refused(
        "CONNECT {\"echo\":true,\"verbose\":false,\"pedantic\":false,\"user\":\"ruser\",\"pass\":\"rpass\",\"tls_required\":false,\"headers\":true,\"name\":\"NFAKE\",\"cluster\":\"other\"}\r\n",
    );
    assert!(
        got.contains(
            "-ERR 'Rejecting connection, cluster name \"other\" does not match \"auth\"'\r\n"
        ),
        "{got:?}"
    );
    let (_, got) = refused("CONNECT {\"lang\":\"go\",\"verbose\":false}\r\n");
    assert!(
        got.contains("-ERR 'attempted to connect to route port'\r\n"),
        "{got:?}"
    );
    // The authorised route is untouched.
    wait_routes(a.port, 1);
}

/// Messages a route hands to a queue group are spread evenly over the local members, even
/// when the group also has a member behind that route (which a routed message may not go
/// back to): 3,000 messages to three local members, each gets its third.
#[test]
fn routed_queue_messages_are_spread_evenly_over_local_members() {
    let (node, mut peer) = server_with_fake_peer("fair");
    // The peer's member comes first in the group, as when it subscribed first.
    peer.send("RS+ $G work q 1\r\n");
    peer.sync();
    let port = node.client_port;
    let mut members: Vec<Client> = (0..3).map(|_| Client::connect(port)).collect();
    for m in &mut members {
        m.qsub("work", "q");
        m.sub("marker");
        m.flush();
    }
    const N: usize = 3000;
    let mut batch = String::new();
    for i in 0..N {
        batch.push_str(&format!(
            "RMSG $G work | q {}\r\n{i}\r\n",
            i.to_string().len()
        ));
    }
    peer.send(&batch);
    peer.send("RMSG $G marker 3\r\nend\r\n");
    peer.sync();
    let mut counts = Vec::new();
    for m in &mut members {
        let mut n = 0;
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = m.next_msg(left).expect("the marker arrives");
            if msg.subject == "marker" {
                break;
            }
            n += 1;
        }
        counts.push(n);
    }
    assert_eq!(counts.iter().sum::<usize>(), N, "{counts:?}");
    // An even share is 1,000 (standard deviation about 26); the bias this guards against
    // gave one member 1,500.
    assert!(
        counts.iter().all(|&n| (850..=1150).contains(&n)),
        "uneven: {counts:?}"
    );
}
