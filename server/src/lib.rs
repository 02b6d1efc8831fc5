//! The `gnatsd` server as a library: the binary in `main.rs` is a thin shell around it, and
//! tests and benches can start a server in-process.
//!
//! Nothing read from a file, a flag or the network may panic the server: `unwrap`, `expect`
//! and `panic!` are refused outside tests.
//!
//! # Layout
//!
//! Leaves, which import nothing above them: [`options`], [`stats`] (counters the message path
//! writes), [`conn`] (the connection model shared by clients and routes, with its outbound
//! buffer, its writer and the one reader loop both use), [`auth`], [`jwt`] (decoding and
//! verifying NATS JWTs), [`operator`] (operator mode's trust: accounts of the resolver, user
//! JWT checks), [`sublist`], [`account`]
//! (each account's subject index and imports), [`import`] (stream imports as shadow
//! subscriptions in the exporter), [`service`] (service imports and their response
//! mappings), [`mapping`] (how imports rename subjects), [`deliver`] (fan-out, reaching the
//! server only through its [`deliver::Hub`] trait), [`listen`], [`tls`] (certificates,
//! acceptors, handshakes) and [`config`] (with the conf language in [`config::conf`]). Above them, the core [`server`] ↔ [`client`] ↔ [`route`] (the only import
//! cycle); [`monitor`] reads the core and hears of closed connections through
//! [`server::Observer`], so the core never reaches it; [`launch`] puts them together.
//!
//! # Lock order
//!
//! All locks are `std::sync` ones, held briefly and never across an `.await`. Only one pair is
//! ever held at once: the cluster state (`route::Cluster`) and then a route's outbound buffer
//! (interest updates and snapshots are queued under the cluster lock, so they reach each route
//! in order). Within the subject index, its trie lock comes before its cache lock (see
//! [`sublist`]). Every other lock (a connection's subscription map, its reply permissions, its
//! outbound buffer elsewhere, the server's client table, the closed-connection ring) is taken
//! alone.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod account;
pub mod auth;
pub mod client;
pub mod config;
pub mod conn;
pub mod copy_tuning;
pub mod deliver;
pub mod fault;
#[cfg(test)]
mod heap;
pub mod import;
pub mod jwt;
pub mod launch;
pub mod listen;
pub mod log;
pub mod mapping;
pub mod memory;
pub mod monitor;
pub mod operator;
pub mod options;
pub mod route;
pub mod server;
pub mod service;
pub mod stats;
pub mod sublist;
pub mod tls;
pub mod websocket;
