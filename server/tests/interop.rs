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
