//! The `gnatsd` server as a library: the binary in `main.rs` is a thin shell around it, and
//! tests and benches can start a server in-process.
//!
//! Nothing read from a file, a flag or the network may panic the server: `unwrap`, `expect`
//! and `panic!` are refused outside tests.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod auth;
pub mod cli;
pub mod client;
pub mod conf;
pub mod config;
pub mod deliver;
pub mod fault;
pub mod listen;
pub mod log;
pub mod monitor;
pub mod options;
pub mod outbound;
pub mod route;
pub mod server;
pub mod sublist;
pub mod tls;
