//! The NATS client protocol, both directions.
//!
//! * [`ServerCodec`] is what a server runs on a client connection: it decodes [`ClientOp`]s
//!   and encodes [`ServerOp`]s.
//! * [`ClientCodec`] is what a client runs: it decodes [`ServerOp`]s and encodes
//!   [`ClientOp`]s.
//!
//! Subjects, replies, queue names, sids and payloads are [`Bytes`] slices of the read buffer.

mod client_ops;
mod encode;
mod server_ops;

use bytes::Bytes;

pub use client_ops::ServerCodec;
pub use encode::{write_err, write_msg_line};
pub use server_ops::ClientCodec;

use crate::{ConnectInfo, ServerInfo, Size};

/// A `PUB` or `HPUB` from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// Subject published to (not validated by the decoder).
    pub subject: Bytes,
    /// Reply subject, if any.
    pub reply: Option<Bytes>,
    /// Size of the header block (`HPUB` only).
    pub header_size: Option<Size>,
    /// Size of the payload including headers, verbatim from the wire.
    pub total_size: Size,
    /// Header block followed by the body: `total_size` bytes.
    pub payload: Bytes,
}

impl Publish {
    /// The header block (empty for `PUB`).
    pub fn headers(&self) -> &[u8] {
        &self.payload[..self.header_size.map_or(0, Size::get)]
    }

    /// The message body without headers.
    pub fn body(&self) -> &[u8] {
        &self.payload[self.header_size.map_or(0, Size::get)..]
    }
}

/// An op a client sends to a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientOp {
    /// `CONNECT {json}`: options and credentials.
    Connect(Box<ConnectInfo>),
    /// `PUB` or `HPUB`.
    Pub(Publish),
    /// `SUB <subject> [queue] <sid>`.
    Sub {
        /// Subject or wildcard filter.
        subject: Bytes,
        /// Queue group.
        queue: Option<Bytes>,
        /// Client-chosen subscription id.
        sid: Bytes,
    },
    /// `UNSUB <sid> [max]`.
    Unsub {
        /// The subscription id.
        sid: Bytes,
        /// Deliver this many messages in total, then remove. `None` when absent or not a
        /// number (both mean: remove now, as in nats-server).
        max: Option<u32>,
    },
    /// `PING`.
    Ping,
    /// `PONG`.
    Pong,
    /// `+OK` (ignored by servers).
    Ok,
    /// `-ERR <text>`: the client reports an error; its text without the quotes.
    Err(Bytes),
    /// `INFO {json}` sent by a client: valid JSON, otherwise ignored.
    Info(Bytes),
}

/// A `MSG` or `HMSG` delivered to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Subject the message was published to.
    pub subject: Bytes,
    /// The subscription id it matched.
    pub sid: Bytes,
    /// Reply subject, if any.
    pub reply: Option<Bytes>,
    /// Size of the header block (`HMSG` only).
    pub header_size: Option<Size>,
    /// Size of the payload including headers.
    pub total_size: Size,
    /// Header block followed by the body.
    pub payload: Bytes,
}

impl Message {
    /// The header block (empty for `MSG`).
    pub fn headers(&self) -> &[u8] {
        &self.payload[..self.header_size.map_or(0, Size::get)]
    }

    /// The message body without headers.
    pub fn body(&self) -> &[u8] {
        &self.payload[self.header_size.map_or(0, Size::get)..]
    }
}

/// An op a server sends to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerOp {
    /// `INFO {json} `.
    Info(Box<ServerInfo>),
    /// `MSG` or `HMSG`.
    Msg(Message),
    /// `PING`.
    Ping,
    /// `PONG`.
    Pong,
    /// `+OK`.
    Ok,
    /// `-ERR '<text>'`: the text without the quotes.
    Err(Bytes),
}

/// The text of an `-ERR` line without surrounding blanks and single quotes.
pub(crate) fn unquote(text: &[u8]) -> &[u8] {
    let text = text.trim_ascii();
    text.strip_prefix(b"'")
        .and_then(|t| t.strip_suffix(b"'"))
        .unwrap_or(text)
}
