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

use std::fmt;

use bytes::Bytes;

use crate::frame::{FrameBuilder, Span};

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

    /// Like [`Publish::new`], keeping a size token as written (e.g. `005`).
    pub fn with_total_size(mut self, total_size: Size) -> Publish {
        self.total_size = total_size;
        self
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

    /// Subject published to (not validated by the decoder).
    #[inline]
    pub fn subject(&self) -> &[u8] {
        self.subject.get(&self.frame)
    }

    /// Reply subject, if any.
    #[inline]
    pub fn reply(&self) -> Option<&[u8]> {
        self.reply.get_opt(&self.frame)
    }

    /// Size of the header block (`HPUB` only).
    #[inline]
    pub fn header_size(&self) -> Option<Size> {
        self.header_size
    }

    /// Size of the payload including headers, verbatim from the wire.
    #[inline]
    pub fn total_size(&self) -> Size {
        self.total_size
    }

    /// Header block followed by the body: `total_size` bytes.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        self.payload.get(&self.frame)
    }

    /// The payload as its own handle on the read buffer (zero-copy).
    #[inline]
    pub fn payload_bytes(&self) -> Bytes {
        self.payload.bytes(&self.frame)
    }

    /// The header block (empty for `PUB`).
    pub fn headers(&self) -> &[u8] {
        &self.payload()[..self.header_size.map_or(0, Size::get)]
    }

    /// The message body without headers.
    pub fn body(&self) -> &[u8] {
        &self.payload()[self.header_size.map_or(0, Size::get)..]
    }
}

impl PartialEq for Publish {
    fn eq(&self, other: &Publish) -> bool {
        self.subject() == other.subject()
            && self.reply() == other.reply()
            && self.header_size == other.header_size
            && self.total_size == other.total_size
            && self.payload() == other.payload()
    }
}

impl Eq for Publish {}

impl fmt::Debug for Publish {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publish")
            .field("subject", &Bytes::copy_from_slice(self.subject()))
            .field("reply", &self.reply().map(Bytes::copy_from_slice))
            .field("header_size", &self.header_size)
            .field("total_size", &self.total_size)
            .field("payload", &Bytes::copy_from_slice(self.payload()))
            .finish()
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

    /// Keeps a size token as written (e.g. `005`).
    pub fn with_total_size(mut self, total_size: Size) -> Message {
        self.total_size = total_size;
        self
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

    /// Subject the message was published to.
    pub fn subject(&self) -> &[u8] {
        self.subject.get(&self.frame)
    }

    /// The subscription id it matched.
    pub fn sid(&self) -> &[u8] {
        self.sid.get(&self.frame)
    }

    /// Reply subject, if any.
    pub fn reply(&self) -> Option<&[u8]> {
        self.reply.get_opt(&self.frame)
    }

    /// Size of the header block (`HMSG` only).
    pub fn header_size(&self) -> Option<Size> {
        self.header_size
    }

    /// Size of the payload including headers.
    pub fn total_size(&self) -> Size {
        self.total_size
    }

    /// Header block followed by the body.
    pub fn payload(&self) -> &[u8] {
        self.payload.get(&self.frame)
    }

    /// The payload as its own handle (zero-copy).
    pub fn payload_bytes(&self) -> Bytes {
        self.payload.bytes(&self.frame)
    }

    /// The header block (empty for `MSG`).
    pub fn headers(&self) -> &[u8] {
        &self.payload()[..self.header_size.map_or(0, Size::get)]
    }

    /// The message body without headers.
    pub fn body(&self) -> &[u8] {
        &self.payload()[self.header_size.map_or(0, Size::get)..]
    }
}

impl PartialEq for Message {
    fn eq(&self, other: &Message) -> bool {
        self.subject() == other.subject()
            && self.sid() == other.sid()
            && self.reply() == other.reply()
            && self.header_size == other.header_size
            && self.total_size == other.total_size
            && self.payload() == other.payload()
    }
}

impl Eq for Message {}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("subject", &Bytes::copy_from_slice(self.subject()))
            .field("sid", &Bytes::copy_from_slice(self.sid()))
            .field("reply", &self.reply().map(Bytes::copy_from_slice))
            .field("header_size", &self.header_size)
            .field("total_size", &self.total_size)
            .field("payload", &Bytes::copy_from_slice(self.payload()))
            .finish()
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
