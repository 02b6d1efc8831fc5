//! The nats-server 2.x route protocol: what two servers of one cluster say to each other.
//!
//! Interest travels as `RS+`/`RS-` per account, subject and optional queue (with a weight, the
//! number of queue members behind the route); messages as `RMSG`/`HMSG` carrying the account,
//! the reply and the queue groups the sender picked a member of on the receiver. `LS+`, `LS-`
//! and `LMSG` (leafnode origin) are decoded so a real nats-server peer never breaks us.
//! [`RouteCodec`] decodes and encodes [`RouteOp`]s; both ends of a route use it.

use std::ops::Range;

use bytes::{BufMut, Bytes, BytesMut};

use crate::client::{unquoted_range, write_err};
use crate::error::ProtoError;
use crate::frame::{message_accessors, message_traits, FrameBuilder, Span};
use crate::framing::{
    arg_error, is_blank, size_arg, Args, Follow, Framer, Grammar, Limits, Line, Verb,
};
use crate::framing::{codec_traits, Cutter};
use crate::{RouteConnectInfo, RouteInfo, Size};

/// Interest in a subject, announced by `RS+`/`RS-` (and `LS+`/`LS-`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interest {
    /// Account name (`$G` without accounts).
    pub account: Bytes,
    /// Subject or wildcard filter.
    pub subject: Bytes,
    /// Queue group, for queue interest.
    pub queue: Option<Bytes>,
    /// Number of queue members behind the route; only meaningful in `RS+`/`LS+` with a queue
    /// (0 everywhere else).
    pub weight: u32,
}

/// A message forwarded over a route: `RMSG`, `HMSG` (with headers) or `LMSG` (with origin).
/// One handle on its frame, fields by offset (see [`crate::frame`]).
#[derive(Clone)]
pub struct RoutedMsg {
    frame: Bytes,
    origin: Span,
    account: Span,
    subject: Span,
    reply: Span,
    queues: Span,
    payload: Span,
    header_size: Option<Size>,
    total_size: Size,
}

impl RoutedMsg {
    /// A routed message built from parts (copied into one new frame). `queues` is a
    /// blank-separated list of queue group names (empty: none); `origin` makes it an `LMSG`.
    pub fn new(
        origin: Option<&[u8]>,
        account: &[u8],
        subject: &[u8],
        reply: Option<&[u8]>,
        queues: &[u8],
        header_size: Option<Size>,
        payload: &[u8],
    ) -> RoutedMsg {
        let mut b = FrameBuilder::with_capacity(account.len() + subject.len() + payload.len() + 32);
        RoutedMsg {
            origin: b.push_opt(origin),
            account: b.push(account),
            subject: b.push(subject),
            reply: b.push_opt(reply),
            queues: b.push(queues),
            payload: b.push(payload),
            frame: Bytes::new(),
            header_size,
            total_size: Size::new(payload.len() as u32),
        }
        .finish(b)
    }

    fn finish(mut self, b: FrameBuilder) -> RoutedMsg {
        self.frame = b.finish();
        self
    }

    /// Origin cluster of a leafnode message (`LMSG` only).
    pub fn origin(&self) -> Option<&[u8]> {
        self.origin.get_opt(&self.frame)
    }

    /// Account name.
    #[inline]
    pub fn account(&self) -> &[u8] {
        self.account.get(&self.frame)
    }

    /// Queue groups the receiver must deliver to, blank-separated as on the wire (empty: none).
    #[inline]
    pub fn queue_list(&self) -> &[u8] {
        self.queues.get(&self.frame)
    }

    /// The queue group names, in order.
    pub fn queues(&self) -> impl Iterator<Item = &[u8]> {
        self.queue_list()
            .split(|b| is_blank(*b))
            .filter(|q| !q.is_empty())
    }

    /// The control line this message is sent with.
    pub fn line(&self) -> RoutedLine<'_> {
        RoutedLine {
            origin: self.origin(),
            account: self.account(),
            subject: self.subject(),
            reply: self.reply(),
            queues: self.queue_list(),
            header_size: self.header_size,
            total_size: self.total_size,
        }
    }

    message_accessors!();
}

message_traits!(RoutedMsg {
    origin,
    account,
    subject,
    reply,
    queue_list,
    header_size,
    total_size,
    payload
});

/// One op of the route protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteOp {
    /// `INFO {json}`: the peer's identity, or a gossiped third server's.
    Info(Box<RouteInfo>),
    /// `CONNECT {json}`: sent by the dialing side only.
    Connect(Box<RouteConnectInfo>),
    /// `RS+ <account> <subject> [<queue> <weight>]`.
    Sub(Interest),
    /// `RS- <account> <subject> [<queue>]`.
    Unsub(Interest),
    /// `LS+ <origin> <account> <subject> [<queue> <weight>]`.
    LeafSub {
        /// Origin cluster of the leafnode interest.
        origin: Bytes,
        /// The interest itself.
        interest: Interest,
    },
    /// `LS- <account> <subject> [<queue>]`.
    LeafUnsub(Interest),
    /// `RMSG`, `HMSG` or `LMSG`.
    Msg(RoutedMsg),
    /// `PING`.
    Ping,
    /// `PONG`.
    Pong,
    /// `+OK`.
    Ok,
    /// `-ERR '<text>'`: the text without quotes.
    Err(Bytes),
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Rmsg,
    Hmsg,
    Lmsg,
    RsPlus,
    RsMinus,
    LsPlus,
    LsMinus,
    Info,
    Connect,
    Ping,
    Pong,
    Ok,
    Err,
}

const VERBS: &[Verb<Kind>] = &[
    Verb {
        text: b"RMSG",
        follow: Follow::Blank,
        kind: Kind::Rmsg,
    },
    Verb {
        text: b"HMSG",
        follow: Follow::Blank,
        kind: Kind::Hmsg,
    },
    Verb {
        text: b"RS+",
        follow: Follow::Blank,
        kind: Kind::RsPlus,
    },
    Verb {
        text: b"RS-",
        follow: Follow::Blank,
        kind: Kind::RsMinus,
    },
    Verb {
        text: b"PING",
        follow: Follow::IgnoreLine,
        kind: Kind::Ping,
    },
    Verb {
        text: b"PONG",
        follow: Follow::IgnoreLine,
        kind: Kind::Pong,
    },
    Verb {
        text: b"LMSG",
        follow: Follow::Blank,
        kind: Kind::Lmsg,
    },
    Verb {
        text: b"LS+",
        follow: Follow::Blank,
        kind: Kind::LsPlus,
    },
    Verb {
        text: b"LS-",
        follow: Follow::Blank,
        kind: Kind::LsMinus,
    },
    Verb {
        text: b"INFO",
        follow: Follow::Any,
        kind: Kind::Info,
    },
    Verb {
        text: b"CONNECT",
        follow: Follow::Any,
        kind: Kind::Connect,
    },
    Verb {
        text: b"+OK",
        follow: Follow::IgnoreLine,
        kind: Kind::Ok,
    },
    Verb {
        text: b"-ERR",
        follow: Follow::Blank,
        kind: Kind::Err,
    },
];

type R = Range<usize>;

struct InterestShape {
    origin: Option<R>,
    account: R,
    subject: R,
    queue: Option<R>,
    weight: u32,
}

enum Shape {
    Msg {
        origin: Option<R>,
        account: R,
        subject: R,
        reply: Option<R>,
        queues: R,
        header_size: Option<Size>,
        total_size: Size,
    },
    Sub(InterestShape),
    Unsub(InterestShape),
    LeafSub(InterestShape),
    LeafUnsub(InterestShape),
    Info(Box<RouteInfo>),
    Connect(Box<RouteConnectInfo>),
    Err(R),
}

struct RouteOps;

fn parse_msg(line: &[u8], origin: bool, headers: bool) -> Result<Line<Shape>, ProtoError> {
    let what = if headers {
        "processRoutedHeaderMsgArgs"
    } else {
        "processRoutedMsgArgs"
    };
    let args = Args::split(line);
    let base = usize::from(origin) + 2;
    let sizes = 1 + usize::from(headers);
    if args.len() < base + sizes {
        return Err(arg_error(what, line));
    }
    let (reply, queues) = match args.len() - base - sizes {
        0 => (None, 0..0),
        1 => (Some(args.at(base)), 0..0),
        _ => match &line[args.at(base)] {
            b"+" => (Some(args.at(base + 1)), args.span(line, base + 2, sizes)),
            b"|" => (None, args.span(line, base + 1, sizes)),
            _ => {
                return Err(ProtoError::Arguments(format!(
                    "{what} Bad or Missing Reply Indicator: {:?}",
                    String::from_utf8_lossy(&line[args.at(base)])
                )))
            }
        },
    };
    let header_size = if headers {
        Some(size_arg(line, args.back(2), what)?)
    } else {
        None
    };
    let total_size = size_arg(line, args.back(1), what)?;
    if header_size.is_some_and(|h| h.get() > total_size.get()) {
        return Err(arg_error(what, line));
    }
    Ok(Line::Payload(
        Shape::Msg {
            origin: origin.then(|| args.at(0)),
            account: args.at(base - 2),
            subject: args.at(base - 1),
            reply,
            queues,
            header_size,
            total_size,
        },
        total_size.get(),
    ))
}

fn parse_sub(line: &[u8], origin: bool) -> Result<InterestShape, ProtoError> {
    let args = Args::split(line);
    let off = usize::from(origin);
    let (queue, weight) = match args.len() - off.min(args.len()) {
        2 => (None, 0),
        4 => {
            let weight = size_arg(line, args.at(off + 3), "processRemoteSub Bad Queue Weight")?;
            (Some(args.at(off + 2)), weight.get() as u32)
        }
        _ => return Err(arg_error("processRemoteSub", line)),
    };
    Ok(InterestShape {
        origin: origin.then(|| args.at(0)),
        account: args.at(off),
        subject: args.at(off + 1),
        queue,
        weight,
    })
}

fn parse_unsub(line: &[u8]) -> Result<InterestShape, ProtoError> {
    let args = Args::split(line);
    let queue = match args.len() {
        2 => None,
        3 => Some(args.at(2)),
        _ => return Err(arg_error("processRemoteUnsub", line)),
    };
    Ok(InterestShape {
        origin: None,
        account: args.at(0),
        subject: args.at(1),
        queue,
        weight: 0,
    })
}

fn interest(shape: InterestShape, cut: &mut Cutter<'_>) -> Interest {
    Interest {
        account: cut.take(shape.account),
        subject: cut.take(shape.subject),
        queue: shape.queue.map(|q| cut.take(q)),
        weight: shape.weight,
    }
}

impl Grammar for RouteOps {
    type Kind = Kind;
    type Shape = Shape;
    type Op = RouteOp;

    fn verbs(&self) -> &'static [Verb<Kind>] {
        VERBS
    }

    fn bare(&self, kind: Kind) -> RouteOp {
        match kind {
            Kind::Ping => RouteOp::Ping,
            Kind::Pong => RouteOp::Pong,
            _ => RouteOp::Ok,
        }
    }

    #[inline]
    fn parse_line(&self, kind: Kind, line: &[u8]) -> Result<Line<Shape>, ProtoError> {
        Ok(match kind {
            Kind::Rmsg => return parse_msg(line, false, false),
            Kind::Hmsg => return parse_msg(line, false, true),
            Kind::Lmsg => return parse_msg(line, true, true),
            Kind::RsPlus => Line::Done(Shape::Sub(parse_sub(line, false)?)),
            Kind::LsPlus => Line::Done(Shape::LeafSub(parse_sub(line, true)?)),
            Kind::RsMinus => Line::Done(Shape::Unsub(parse_unsub(line)?)),
            Kind::LsMinus => Line::Done(Shape::LeafUnsub(parse_unsub(line)?)),
            Kind::Info => Line::Done(Shape::Info(Box::new(RouteInfo::from_json(line)?))),
            Kind::Connect => {
                Line::Done(Shape::Connect(Box::new(RouteConnectInfo::from_json(line)?)))
            }
            Kind::Err => Line::Done(Shape::Err(unquoted_range(line))),
            // The framer never parses the line of an ignored-line verb.
            Kind::Ping | Kind::Pong | Kind::Ok => return Err(ProtoError::unknown(line)),
        })
    }

    #[inline]
    fn build(&self, shape: Shape, cut: &mut Cutter<'_>) -> RouteOp {
        match shape {
            Shape::Msg {
                origin,
                account,
                subject,
                reply,
                queues,
                header_size,
                total_size,
            } => {
                let payload = Span::of(cut.payload.clone());
                RouteOp::Msg(RoutedMsg {
                    frame: cut.frame(),
                    origin: Span::of_opt(origin),
                    account: Span::of(account),
                    subject: Span::of(subject),
                    reply: Span::of_opt(reply),
                    queues: Span::of(queues),
                    payload,
                    header_size,
                    total_size,
                })
            }
            Shape::Sub(s) => RouteOp::Sub(interest(s, cut)),
            Shape::Unsub(s) => RouteOp::Unsub(interest(s, cut)),
            Shape::LeafSub(s) => RouteOp::LeafSub {
                origin: cut.take(s.origin.clone().unwrap_or(0..0)),
                interest: interest(s, cut),
            },
            Shape::LeafUnsub(s) => RouteOp::LeafUnsub(interest(s, cut)),
            Shape::Info(info) => RouteOp::Info(info),
            Shape::Connect(info) => RouteOp::Connect(info),
            Shape::Err(text) => RouteOp::Err(cut.take(text)),
        }
    }
}

/// The control line of a routed message: `RMSG` (no headers), `HMSG` (with `header_size`)
/// or `LMSG` (with `origin`), with the `+ reply queues` / `| queues` forms when `queues`
/// (blank-separated names) is not empty. Built by the sender, written with
/// [`RoutedLine::write`]; payload and CR LF are the caller's.
#[derive(Debug, Clone, Copy)]
pub struct RoutedLine<'a> {
    /// The origin cluster (`LMSG` only).
    pub origin: Option<&'a [u8]>,
    /// The account the message belongs to.
    pub account: &'a [u8],
    /// The subject.
    pub subject: &'a [u8],
    /// The reply subject, if any.
    pub reply: Option<&'a [u8]>,
    /// Queue groups the receiver must deliver to, blank-separated (empty: none).
    pub queues: &'a [u8],
    /// The header block size (`HMSG`, `LMSG`).
    pub header_size: Option<Size>,
    /// The payload size including headers.
    pub total_size: Size,
}

impl RoutedLine<'_> {
    /// Appends the control line, CR LF included.
    #[inline]
    pub fn write(&self, dst: &mut BytesMut) {
        match self.origin {
            Some(origin) => {
                dst.put_slice(b"LMSG ");
                dst.put_slice(origin);
                dst.put_u8(b' ');
            }
            None if self.header_size.is_some() => dst.put_slice(b"HMSG "),
            None => dst.put_slice(b"RMSG "),
        }
        dst.put_slice(self.account);
        dst.put_u8(b' ');
        dst.put_slice(self.subject);
        dst.put_u8(b' ');
        match (self.reply, self.queues.is_empty()) {
            (Some(reply), true) => {
                dst.put_slice(reply);
                dst.put_u8(b' ');
            }
            (Some(reply), false) => {
                dst.put_slice(b"+ ");
                dst.put_slice(reply);
                dst.put_u8(b' ');
                dst.put_slice(self.queues);
                dst.put_u8(b' ');
            }
            (None, false) => {
                dst.put_slice(b"| ");
                dst.put_slice(self.queues);
                dst.put_u8(b' ');
            }
            (None, true) => {}
        }
        if let Some(header_size) = self.header_size.or(self.origin.map(|_| Size::new(0))) {
            header_size.write(dst);
            dst.put_u8(b' ');
        }
        self.total_size.write(dst);
        dst.put_slice(b"\r\n");
    }
}

fn write_interest(
    dst: &mut BytesMut,
    verb: &[u8],
    origin: Option<&[u8]>,
    i: &Interest,
    plus: bool,
) {
    dst.put_slice(verb);
    if let Some(origin) = origin {
        dst.put_slice(origin);
        dst.put_u8(b' ');
    }
    i.write_key(dst);
    if plus && i.queue.is_some() {
        dst.put_u8(b' ');
        Size::new(i.weight).write(dst);
    }
    dst.put_slice(b"\r\n");
}

impl Interest {
    /// Appends what names this interest, as `RS-` carries it: `account subject[ queue]`.
    /// A receiver keeps remote interest under this key, so a later `RS-` finds it.
    pub fn write_key(&self, dst: &mut BytesMut) {
        dst.put_slice(&self.account);
        dst.put_u8(b' ');
        dst.put_slice(&self.subject);
        if let Some(queue) = &self.queue {
            dst.put_u8(b' ');
            dst.put_slice(queue);
        }
    }
}

impl RouteOp {
    /// Writes the op as it goes on a route.
    pub fn encode(&self, dst: &mut BytesMut) {
        match self {
            RouteOp::Info(info) => info.encode(dst),
            RouteOp::Connect(info) => {
                dst.put_slice(b"CONNECT ");
                dst.put_slice(&info.to_json());
                dst.put_slice(b"\r\n");
            }
            RouteOp::Sub(i) => write_interest(dst, b"RS+ ", None, i, true),
            RouteOp::Unsub(i) => write_interest(dst, b"RS- ", None, i, false),
            RouteOp::LeafSub { origin, interest } => {
                write_interest(dst, b"LS+ ", Some(origin), interest, true)
            }
            RouteOp::LeafUnsub(i) => write_interest(dst, b"LS- ", None, i, false),
            RouteOp::Msg(m) => {
                m.line().write(dst);
                dst.put_slice(m.payload());
                dst.put_slice(b"\r\n");
            }
            RouteOp::Ping => dst.put_slice(b"PING\r\n"),
            RouteOp::Pong => dst.put_slice(b"PONG\r\n"),
            RouteOp::Ok => dst.put_slice(b"+OK\r\n"),
            RouteOp::Err(text) => write_err(dst, text),
        }
    }
}

/// The codec both ends of a route run: decodes and encodes [`RouteOp`]s.
pub struct RouteCodec {
    framer: Framer<RouteOps>,
}

impl RouteCodec {
    /// nats-server applies no control-line limit to routes; ours is a memory bound only, large
    /// enough for the INFO of a big cluster. The payload bound is the largest `max_payload`.
    pub const DEFAULT_LIMITS: Limits = Limits::PEER;

    /// A codec with the given limits.
    pub fn new(limits: Limits) -> RouteCodec {
        RouteCodec {
            framer: Framer::new(RouteOps, limits),
        }
    }
}

codec_traits!(RouteCodec, decodes RouteOp, encodes RouteOp, default limits Self::DEFAULT_LIMITS);
