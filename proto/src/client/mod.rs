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

use crate::frame::{message_accessors, message_traits, FrameBuilder, Span};

pub use client_ops::ServerCodec;
pub use encode::{write_err, write_msg_line};
pub use server_ops::ClientCodec;

use crate::{ConnectInfo, ServerInfo, Size};

/// A `PUB` or `HPUB` from a client: one handle on its frame, fields by offset (see
/// [`crate::frame`] for why).
#[derive(Clone)]
pub struct Publish {
    frame: Bytes,
    subject: Span,
    reply: Span,
    payload: Span,
    header_size: Option<Size>,
    total_size: Size,
}

impl Publish {
    /// A publish built from parts (copies them into one new frame). `payload` is the header
    /// block followed by the body; `header_size` is set for `HPUB`.
    pub fn new(
        subject: &[u8],
        reply: Option<&[u8]>,
        header_size: Option<Size>,
        payload: &[u8],
    ) -> Publish {
        let mut b = FrameBuilder::with_capacity(subject.len() + payload.len() + 16);
        let subject = b.push(subject);
        let reply = b.push_opt(reply);
        let payload_span = b.push(payload);
        Publish {
            frame: b.finish(),
            subject,
            reply,
            payload: payload_span,
            header_size,
            total_size: Size::new(payload.len() as u32),
        }
    }

    pub(crate) fn from_frame(
        frame: Bytes,
        subject: Span,
        reply: Span,
        payload: Span,
        header_size: Option<Size>,
        total_size: Size,
    ) -> Publish {
        Publish {
            frame,
            subject,
            reply,
            payload,
            header_size,
            total_size,
        }
    }

    message_accessors!();
}

message_traits!(Publish {
    subject,
    reply,
    header_size,
    total_size,
    payload
});

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

/// A `MSG` or `HMSG` delivered to a client: one handle on its frame, fields by offset.
#[derive(Clone)]
pub struct Message {
    frame: Bytes,
    subject: Span,
    sid: Span,
    reply: Span,
    payload: Span,
    header_size: Option<Size>,
    total_size: Size,
}

impl Message {
    /// A message built from parts (copied into one new frame).
    pub fn new(
        subject: &[u8],
        sid: &[u8],
        reply: Option<&[u8]>,
        header_size: Option<Size>,
        payload: &[u8],
    ) -> Message {
        let mut b = FrameBuilder::with_capacity(subject.len() + sid.len() + payload.len() + 16);
        let subject = b.push(subject);
        let sid = b.push(sid);
        let reply = b.push_opt(reply);
        let payload_span = b.push(payload);
        Message {
            frame: b.finish(),
            subject,
            sid,
            reply,
            payload: payload_span,
            header_size,
            total_size: Size::new(payload.len() as u32),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_frame(
        frame: Bytes,
        subject: Span,
        sid: Span,
        reply: Span,
        payload: Span,
        header_size: Option<Size>,
        total_size: Size,
    ) -> Message {
        Message {
            frame,
            subject,
            sid,
            reply,
            payload,
            header_size,
            total_size,
        }
    }

    /// The subscription id it matched.
    pub fn sid(&self) -> &[u8] {
        self.sid.get(&self.frame)
    }

    message_accessors!();
}

message_traits!(Message {
    subject,
    sid,
    reply,
    header_size,
    total_size,
    payload
});

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
/// Where the text of an `-ERR` line lies in `line`, quotes and blanks trimmed (see
/// [`unquote`]).
pub(crate) fn unquoted_range(line: &[u8]) -> std::ops::Range<usize> {
    let text = unquote(line);
    let start = text.as_ptr() as usize - line.as_ptr() as usize;
    start..start + text.len()
}

pub(crate) fn unquote(text: &[u8]) -> &[u8] {
    let text = text.trim_ascii();
    text.strip_prefix(b"'")
        .and_then(|t| t.strip_suffix(b"'"))
        .unwrap_or(text)
}
