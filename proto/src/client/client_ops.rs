//! Decoding what clients send: the server side of a client connection.

use std::ops::Range;

use super::{unquoted_range, ClientOp, Publish, ServerOp};
use crate::error::ProtoError;
use crate::frame::Span;
use crate::framing::{arg_error, size_arg, Args, Follow, Framer, Grammar, Limits, Line, Verb};
use crate::framing::{codec_traits, Cutter};
use crate::{ConnectInfo, Size};

#[derive(Debug, Clone, Copy)]
enum Kind {
    Pub,
    Hpub,
    Sub,
    Unsub,
    Connect,
    Info,
    Ping,
    Pong,
    Ok,
    Err,
}

/// Most frequent first: the verb table is scanned in order.
const VERBS: &[Verb<Kind>] = &[
    Verb {
        text: b"PUB",
        follow: Follow::Blank,
        kind: Kind::Pub,
    },
    Verb {
        text: b"HPUB",
        follow: Follow::Blank,
        kind: Kind::Hpub,
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
        text: b"SUB",
        follow: Follow::Blank,
        kind: Kind::Sub,
    },
    Verb {
        text: b"UNSUB",
        follow: Follow::Blank,
        kind: Kind::Unsub,
    },
    Verb {
        text: b"CONNECT",
        follow: Follow::Any,
        kind: Kind::Connect,
    },
    Verb {
        text: b"INFO",
        follow: Follow::Any,
        kind: Kind::Info,
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

enum Shape {
    Pub {
        subject: R,
        reply: Option<R>,
        header_size: Option<Size>,
        total_size: Size,
    },
    Sub {
        subject: R,
        queue: Option<R>,
        sid: R,
    },
    Unsub {
        sid: R,
        max: Option<u32>,
    },
    Connect(Box<ConnectInfo>),
    Info(R),
    Err(R),
}

/// The client→server grammar, with the per-connection switches nats-server consults.
struct ClientOps {
    headers: bool,
    auth_pending: bool,
    /// The CONNECT already handled: a later one is decoded over it.
    earlier_connect: Option<Box<ConnectInfo>>,
}

impl Grammar for ClientOps {
    type Kind = Kind;
    type Shape = Shape;
    type Op = ClientOp;

    fn verbs(&self) -> &'static [Verb<Kind>] {
        VERBS
    }

    #[inline]
    fn check_first_byte(&self, byte: u8) -> Result<(), ProtoError> {
        // nats-server rejects an unauthenticated connection on the first byte of an op that
        // cannot be CONNECT.
        if self.auth_pending && byte != b'C' && byte != b'c' {
            return Err(ProtoError::AuthorizationViolation);
        }
        Ok(())
    }

    fn bare(&self, kind: Kind) -> ClientOp {
        match kind {
            Kind::Ping => ClientOp::Ping,
            Kind::Pong => ClientOp::Pong,
            _ => ClientOp::Ok,
        }
    }

    #[inline]
    fn parse_line(&self, kind: Kind, line: &[u8]) -> Result<Line<Shape>, ProtoError> {
        match kind {
            Kind::Pub => {
                let args = Args::split(line);
                let (subject, reply) = match args.len() {
                    2 => (args.at(0), None),
                    3 => (args.at(0), Some(args.at(1))),
                    _ => return Err(arg_error("processPub", line)),
                };
                let total_size = size_arg(line, args.back(1), "processPub Bad or Missing Size")?;
                Ok(Line::Payload(
                    Shape::Pub {
                        subject,
                        reply,
                        header_size: None,
                        total_size,
                    },
                    total_size.get(),
                ))
            }
            Kind::Hpub => {
                if !self.headers {
                    return Err(ProtoError::HeadersNotSupported);
                }
                let args = Args::split(line);
                let (subject, reply) = match args.len() {
                    3 => (args.at(0), None),
                    4 => (args.at(0), Some(args.at(1))),
                    _ => return Err(arg_error("processHeaderPub", line)),
                };
                let header_size = size_arg(
                    line,
                    args.back(2),
                    "processHeaderPub Bad or Missing Header Size",
                )?;
                let total_size = size_arg(
                    line,
                    args.back(1),
                    "processHeaderPub Bad or Missing Total Size",
                )?;
                if header_size.get() > total_size.get() {
                    return Err(ProtoError::Arguments(format!(
                        "processHeaderPub Header Size larger then TotalSize: {:?}",
                        String::from_utf8_lossy(line)
                    )));
                }
                Ok(Line::Payload(
                    Shape::Pub {
                        subject,
                        reply,
                        header_size: Some(header_size),
                        total_size,
                    },
                    total_size.get(),
                ))
            }
            Kind::Sub => {
                let args = Args::split(line);
                let shape = match args.len() {
                    2 => Shape::Sub {
                        subject: args.at(0),
                        queue: None,
                        sid: args.at(1),
                    },
                    3 => Shape::Sub {
                        subject: args.at(0),
                        queue: Some(args.at(1)),
                        sid: args.at(2),
                    },
                    _ => return Err(arg_error("processSub", line)),
                };
                Ok(Line::Done(shape))
            }
            Kind::Unsub => {
                let args = Args::split(line);
                let max = match args.len() {
                    1 => None,
                    2 => Size::parse(&line[args.at(1)]).map(|s| s.get() as u32),
                    _ => return Err(arg_error("processUnsub", line)),
                };
                Ok(Line::Done(Shape::Unsub {
                    sid: args.at(0),
                    max,
                }))
            }
            Kind::Connect => Ok(Line::Done(Shape::Connect(Box::new(
                match &self.earlier_connect {
                    Some(earlier) => ConnectInfo::from_json_over(line, earlier)?,
                    None => ConnectInfo::from_json(line)?,
                },
            )))),
            Kind::Info => {
                serde_json::from_slice::<serde::de::IgnoredAny>(line)
                    .map_err(|e| ProtoError::Json(e.to_string()))?;
                Ok(Line::Done(Shape::Info(0..line.len())))
            }
            Kind::Err => Ok(Line::Done(Shape::Err(unquoted_range(line)))),
            // The framer never parses the line of an ignored-line verb.
            Kind::Ping | Kind::Pong | Kind::Ok => Err(ProtoError::unknown(line)),
        }
    }

    #[inline]
    fn build(&self, shape: Shape, cut: &mut Cutter<'_>) -> ClientOp {
        match shape {
            Shape::Pub {
                subject,
                reply,
                header_size,
                total_size,
            } => {
                let payload = Span::of(cut.payload.clone());
                ClientOp::Pub(Publish::from_frame(
                    cut.frame(),
                    Span::of(subject),
                    Span::of_opt(reply),
                    payload,
                    header_size,
                    total_size,
                ))
            }
            Shape::Sub {
                subject,
                queue,
                sid,
            } => ClientOp::Sub {
                subject: cut.take(subject),
                queue: queue.map(|q| cut.take(q)),
                sid: cut.take(sid),
            },
            Shape::Unsub { sid, max } => ClientOp::Unsub {
                sid: cut.take(sid),
                max,
            },
            Shape::Connect(info) => ClientOp::Connect(info),
            Shape::Info(json) => ClientOp::Info(cut.take(json)),
            Shape::Err(text) => ClientOp::Err(cut.take(text)),
        }
    }
}

/// The codec a server runs on a client connection: decodes [`ClientOp`]s, encodes
/// [`ServerOp`]s.
///
/// Two switches follow the connection's state, as in nats-server: headers are refused until
/// a `CONNECT` negotiated them ([`ServerCodec::set_headers`]), and while authentication is
/// pending any op but `CONNECT` is an authorization violation
/// ([`ServerCodec::set_auth_pending`]).
pub struct ServerCodec {
    framer: Framer<ClientOps>,
}

impl ServerCodec {
    /// A codec with the given limits, headers not yet negotiated, no authentication pending.
    pub fn new(limits: Limits) -> ServerCodec {
        ServerCodec {
            framer: Framer::new(
                ClientOps {
                    headers: false,
                    auth_pending: false,
                    earlier_connect: None,
                },
                limits,
            ),
        }
    }

    /// Allows or refuses `HPUB` (set from the client's `CONNECT`).
    pub fn set_headers(&mut self, headers: bool) {
        self.framer.grammar.headers = headers;
    }

    /// Remembers a handled CONNECT: a later one keeps the options it leaves out, as in
    /// nats-server.
    pub fn set_earlier_connect(&mut self, connect: &ConnectInfo) {
        self.framer.grammar.earlier_connect = Some(Box::new(connect.clone()));
    }

    /// While set, the next op must be `CONNECT`.
    pub fn set_auth_pending(&mut self, pending: bool) {
        self.framer.grammar.auth_pending = pending;
    }

    /// Changes the limits (configuration reload); applies from the next control line.
    pub fn set_limits(&mut self, limits: Limits) {
        self.framer.limits = limits;
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.framer.limits
    }
}

codec_traits!(ServerCodec, decodes ClientOp, encodes ServerOp, default limits Limits::default());
