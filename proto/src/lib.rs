//! The two NATS wire protocols as pure code: no sockets, no runtime.
//!
//! * [`client`]: the client protocol (`CONNECT`, `PUB`, `HPUB`, `SUB`, `UNSUB`, `MSG`, `HMSG`,
//!   `INFO`, `PING`, `PONG`, `+OK`, `-ERR`) in both directions.
//! * [`route`]: the nats-server 2.x cluster protocol (`RS+`, `RS-`, `RMSG`, `HMSG`, `LS+`,
//!   `LS-`, `LMSG`, `INFO`, `CONNECT`, `PING`, `PONG`, `-ERR`).
//! * [`ws`]: the WebSocket frames that carry the client protocol for websocket clients.
//!
//! Decoders implement [`tokio_util::codec::Decoder`] and hand out subjects, replies, sids and
//! payloads as [`bytes::Bytes`] slices of the read buffer, so decoding a message copies and
//! allocates nothing. Incomplete input is `Ok(None)`; the decoder remembers how far it scanned.
//! Errors are [`ProtoError`]s, each of which says how the server must react ([`Close`]).
//!
//! Everything here parses untrusted bytes: `unwrap`, `expect` and `panic!` are refused outside
//! tests.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod client;
pub mod error;
mod frame;
mod framing;
pub mod headers;
pub mod info;
mod json;
pub mod route;
mod size;
pub mod subject;
pub mod ws;

pub use error::{Close, ProtoError};
pub use framing::Limits;
pub use info::{ConnectInfo, RouteConnectInfo, RouteInfo, ServerInfo, SubjectPermission};
pub use size::Size;
