//! The `gnatsd` server as a library: the binary in `main.rs` is a thin shell around it, and
//! tests and benches can start a server in-process.

pub mod auth;
pub mod cli;
pub mod client;
pub mod conf;
pub mod config;
pub mod deliver;
pub mod log;
pub mod monitor;
pub mod options;
pub mod outbound;
pub mod route;
pub mod server;
pub mod sublist;
pub mod tls;
