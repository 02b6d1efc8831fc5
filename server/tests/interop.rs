//! Our server in one cluster with the reference nats-server 2.9.10 (`/usr/sbin/nats-server`):
//! nats-server as the seed with two of ours, and ours as the seed with two nats-servers.
//! In both arrangements the mesh completes through gossip in both directions, a subscriber on
//! every server gets exactly one copy of a message published on any server, and a queue
//! group spread over all three gets each message exactly once. An all-nats-server cluster
//! runs the same checks as a baseline for the harness itself.
//!
//! Without `/usr/sbin/nats-server` these tests are skipped with a message on stderr, unless
//! `NATS_SERVER_REQUIRED=1` makes that a failure.

#[path = "common/cluster.rs"]
mod cluster_util;
mod common;

use cluster_util::*;
use ServerKind::{Ours, Real};

/// Subscriptions everywhere, then a queue group over the three servers.
fn pubsub_and_queue_across(nodes: &[ClusterNode; 3]) {
    let [a, b, c] = nodes;
    check_pubsub_everywhere(&[a, b, c], "mixed.everywhere");
    check_queue_group(&[a, b, c], 2, 3000);
}

#[test]
fn nats_server_seed_with_two_of_ours() {
    if !real_server_available("nats_server_seed_with_two_of_ours") {
        return;
    }
    let nodes = seeded_trio([Real, Ours, Ours], Some("mixA"));
    pubsub_and_queue_across(&nodes);
}

#[test]
fn our_seed_with_two_nats_servers() {
    if !real_server_available("our_seed_with_two_nats_servers") {
        return;
    }
    let nodes = seeded_trio([Ours, Real, Real], Some("mixB"));
    pubsub_and_queue_across(&nodes);
}

/// The same checks on three nats-servers: if this fails, the harness or the machine is at
/// fault, not our server.
#[test]
fn baseline_three_nats_servers_pass_the_same_checks() {
    if !real_server_available("baseline_three_nats_servers_pass_the_same_checks") {
        return;
    }
    let nodes = seeded_trio([Real, Real, Real], Some("baseline"));
    pubsub_and_queue_across(&nodes);
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
    let mut nodes = vec![
        ClusterNode::launch_with_config(
            Ours,
            pa,
            ca,
            &listen_style_conf(pa, ca, "both", &[cb]),
            &[],
        ),
        ClusterNode::launch_with_config(
            Real,
            pb,
            cb,
            &listen_style_conf(pb, cb, "both", &[ca]),
            &[],
        ),
    ];
    for node in &mut nodes {
        node.wait_ready();
    }
    for node in &nodes {
        node.wait_routes(1);
    }
    wait_mesh_settled(&nodes, &[ca, cb]);
    assert_mesh_stays(&nodes, &[ca, cb], std::time::Duration::from_secs(3));
    let refs: Vec<&ClusterNode> = nodes.iter().collect();
    check_pubsub_everywhere(&refs, "both.ways");
}
