//! Decoding what servers send: the client side of a client connection.

use std::ops::Range;

use super::{unquoted_range, ClientOp, Message, ServerOp};
use crate::error::ProtoError;
use crate::frame::Span;
use crate::framing::{arg_error, size_arg, Args, Follow, Framer, Grammar, Limits, Line, Verb};
use crate::framing::{codec_traits, Cutter};
use crate::{ServerInfo, Size};

#[derive(Debug, Clone, Copy)]
enum Kind {
    Msg,
    Hmsg,
    Info,
    Ping,
    Pong,
    Ok,
    Err,
}

const VERBS: &[Verb<Kind>] = &[
    Verb {
        text: b"MSG",
        follow: Follow::Blank,
        kind: Kind::Msg,
    },
    Verb {
        text: b"HMSG",
        follow: Follow::Blank,
        kind: Kind::Hmsg,
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
        text: b"+OK",
        follow: Follow::IgnoreLine,
        kind: Kind::Ok,
    },
    Verb {
        text: b"INFO",
        follow: Follow::Any,
        kind: Kind::Info,
    },
    Verb {
        text: b"-ERR",
        follow: Follow::Blank,
        kind: Kind::Err,
    },
];

type R = Range<usize>;

enum Shape {
    Msg {
        subject: R,
        sid: R,
        reply: Option<R>,
        header_size: Option<Size>,
        total_size: Size,
    },
    Info(Box<ServerInfo>),
    Err(R),
}

struct ServerOps;

impl Grammar for ServerOps {
    type Kind = Kind;
    type Shape = Shape;
    type Op = ServerOp;

    fn verbs(&self) -> &'static [Verb<Kind>] {
        VERBS
    }

    fn bare(&self, kind: Kind) -> ServerOp {
        match kind {
            Kind::Ping => ServerOp::Ping,
            Kind::Pong => ServerOp::Pong,
            _ => ServerOp::Ok,
        }
    }

    #[inline]
    fn parse_line(&self, kind: Kind, line: &[u8]) -> Result<Line<Shape>, ProtoError> {
        match kind {
            Kind::Msg | Kind::Hmsg => {
                let args = Args::split(line);
                let sizes = if matches!(kind, Kind::Hmsg) { 2 } else { 1 };
                let reply = match args.len() - sizes.min(args.len()) {
                    2 => None,
                    3 => Some(args.at(2)),
                    _ => return Err(arg_error("processMsgArgs", line)),
                };
                let header_size = if sizes == 2 {
                    Some(size_arg(
                        line,
                        args.back(2),
                        "processMsgArgs Bad Header Size",
                    )?)
                } else {
                    None
                };
                let total_size = size_arg(line, args.back(1), "processMsgArgs Bad Size")?;
                if header_size.is_some_and(|h| h.get() > total_size.get()) {
                    return Err(arg_error("processMsgArgs", line));
                }
                Ok(Line::Payload(
                    Shape::Msg {
                        subject: args.at(0),
                        sid: args.at(1),
                        reply,
                        header_size,
                        total_size,
                    },
                    total_size.get(),
                ))
            }
            Kind::Info => Ok(Line::Done(Shape::Info(Box::new(ServerInfo::from_json(
                line,
            )?)))),
            Kind::Err => Ok(Line::Done(Shape::Err(unquoted_range(line)))),
            // The framer never parses the line of an ignored-line verb.
            Kind::Ping | Kind::Pong | Kind::Ok => Err(ProtoError::unknown(line)),
        }
    }

    #[inline]
    fn build(&self, shape: Shape, cut: &mut Cutter<'_>) -> ServerOp {
        match shape {
            Shape::Msg {
                subject,
                sid,
                reply,
                header_size,
                total_size,
            } => {
                let payload = Span::of(cut.payload.clone());
                ServerOp::Msg(Message::from_frame(
                    cut.frame(),
                    Span::of(subject),
                    Span::of(sid),
                    Span::of_opt(reply),
                    payload,
                    header_size,
                    total_size,
                ))
            }
            Shape::Info(info) => ServerOp::Info(info),
            Shape::Err(text) => ServerOp::Err(cut.take(text)),
        }
    }
}

/// The codec a client runs: decodes [`ServerOp`]s, encodes [`ClientOp`]s.
pub struct ClientCodec {
    framer: Framer<ServerOps>,
}

impl ClientCodec {
    /// Limits for what a server sends: INFO lines of a large cluster can be long, and the
    /// payload limit is the largest `max_payload` a server may be configured with (64 MiB).
    pub const DEFAULT_LIMITS: Limits = Limits::PEER;

    /// A codec with the given limits.
    pub fn new(limits: Limits) -> ClientCodec {
        ClientCodec {
            framer: Framer::new(ServerOps, limits),
        }
    }
}

codec_traits!(ClientCodec, decodes ServerOp, encodes ClientOp, default limits Self::DEFAULT_LIMITS);
