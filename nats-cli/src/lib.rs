//! What `nats-pub` and `nats-sub` share: a small NATS client built directly on the
//! [`nats_proto`] codecs (no NATS client library).
//!
//! * [`url`]: server URLs as users write them (`nats://user:pass@host:port`, `host:port`,
//!   comma-separated lists).
//! * [`pool`]: the servers a client may use — the ones it was given plus the `connect_urls` a
//!   cluster announces in `INFO`.
//! * [`conn`]: one connection and its handshake (`INFO` → `CONNECT` + `PING` → `PONG`).
//! * [`client`]: a connection that answers server `PING`s, learns cluster URLs, detects a dead
//!   server and reconnects to another one with [`backoff`].
//! * [`duration`]: `2m` / `500ms` style durations for flags and messages.
//! * [`tls`]: `tls://` URLs, servers that require TLS, and the certificate flags.
//! * [`creds`]: `--nkey` and `--creds`, which sign the server's nonce.
//! * [`args`]: the `-s`, TLS and credential flags both tools take, and [`diag!`] for their
//!   stderr lines.
//!
//! Every error a user can see is an [`Error`] whose text starts with `nats: `, the prefix the
//! Go tools print, so scripts written against them keep matching.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
pub mod args;
pub mod backoff;
pub mod client;
pub mod conn;
pub mod creds;
pub mod duration;
mod error;
pub mod pool;
/// Test helpers (behind the `testkit` feature): they may fail loudly, like tests.
#[cfg(feature = "testkit")]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub mod testkit;
pub mod tls;
pub mod url;

pub use client::{Client, ClientOptions, Event};
pub use creds::Credentials;
pub use error::Error;
pub use pool::ServerPool;
pub use url::{Auth, ServerUrl};

/// The server list used when the user gives none (nats.go's `DefaultURL`).
pub const DEFAULT_URL: &str = "nats://127.0.0.1:4222";
