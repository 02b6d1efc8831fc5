//! Incremental framing shared by the three decoders (client ops, server ops, route ops).
//!
//! All NATS protocol lines look alike: a case-insensitive verb, blank-separated arguments,
//! a `\n` (optionally preceded by `\r`), and for message verbs a payload of announced size
//! followed by exactly `\r\n`. [`Framer`] does that part once, as a small state machine that
//! never rescans: it remembers the verb it recognised and how far it searched for the line end,
//! and once the control line is parsed it only waits for the announced number of bytes.
//! A [`Grammar`] supplies the verbs and turns argument ranges into ops.

use std::ops::Range;

use bytes::{Buf, Bytes, BytesMut};

use crate::error::ProtoError;

/// Size limits a decoder enforces before buffering what an untrusted peer announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest argument list of a control line in bytes (nats-server `max_control_line`),
    /// measured after the verb and its blanks, without the line end.
    pub max_control_line: usize,
    /// Largest announced payload in bytes (headers included), checked before the payload is
    /// read (nats-server `max_payload`).
    pub max_payload: usize,
}

impl Limits {
    /// nats-server's default `max_control_line`.
    pub const DEFAULT_MAX_CONTROL_LINE: usize = 4096;
    /// nats-server's default `max_payload` (1 MiB).
    pub const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024;
}

impl Limits {
    /// What another server may send: INFO lines of a large cluster can be long (1 MiB), and
    /// a payload may be as large as the largest `max_payload` a server allows (64 MiB).
    pub const PEER: Limits = Limits {
        max_control_line: 1024 * 1024,
        max_payload: 64 * 1024 * 1024,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_control_line: Self::DEFAULT_MAX_CONTROL_LINE,
            max_payload: Self::DEFAULT_MAX_PAYLOAD,
        }
    }
}

/// What must follow a verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Follow {
    /// At least one space or tab, then arguments (`PUB`, `SUB`, `-ERR`, `RS+`…).
    Blank,
    /// Arguments, with or without blanks before them (`CONNECT{…}` is fine).
    Any,
    /// Nothing that matters: every byte up to `\n` is ignored (`PING`, `PONG`, `+OK`).
    IgnoreLine,
}

/// One verb of a grammar.
pub(crate) struct Verb<K> {
    pub text: &'static [u8],
    pub follow: Follow,
    pub kind: K,
}

/// A complete control line, parsed.
pub(crate) enum Line<S> {
    /// The op is complete without a payload.
    Done(S),
    /// A payload of this many bytes, then CR LF, follow the line.
    Payload(S, usize),
}

/// The verbs of one protocol direction and how their arguments become ops.
pub(crate) trait Grammar {
    /// Which verb was recognised.
    type Kind: Copy + 'static;
    /// A parsed control line: argument ranges relative to the first argument byte.
    type Shape;
    /// The decoded op.
    type Op;

    /// The verbs, most frequent first.
    fn verbs(&self) -> &'static [Verb<Self::Kind>];

    /// A chance to reject an op by its first byte (pending authentication).
    fn check_first_byte(&self, _byte: u8) -> Result<(), ProtoError> {
        Ok(())
    }

    /// The op of a verb whose line is ignored.
    fn bare(&self, kind: Self::Kind) -> Self::Op;

    /// Parses the argument bytes of a complete control line (no CR LF).
    fn parse_line(&self, kind: Self::Kind, args: &[u8]) -> Result<Line<Self::Shape>, ProtoError>;

    /// Builds the op, cutting its fields out of the buffer with `cut` (in ascending order).
    fn build(&self, shape: Self::Shape, cut: &mut Cutter<'_>) -> Self::Op;
}

enum State<K, S> {
    /// Before the first byte of an op.
    Start,
    /// Verb recognised and consumed; looking for the line end from `scanned` on.
    Args { kind: K, scanned: usize },
    /// Verb recognised; discarding bytes up to the line end.
    Skip { kind: K },
    /// Control line parsed; waiting for `need` bytes (line, payload, CR LF).
    Payload {
        shape: S,
        payload: Range<usize>,
        need: usize,
    },
}

/// The incremental decoder behind every codec of this crate.
pub(crate) struct Framer<G: Grammar> {
    pub grammar: G,
    pub limits: Limits,
    state: State<G::Kind, G::Shape>,
}

impl<G: Grammar> Framer<G> {
    pub fn new(grammar: G, limits: Limits) -> Self {
        Framer {
            grammar,
            limits,
            state: State::Start,
        }
    }

    /// Decodes the next op from the front of `src`, consuming exactly its bytes.
    #[inline]
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<G::Op>, ProtoError> {
        loop {
            match &mut self.state {
                State::Start => {
                    let Some(&first) = src.first() else {
                        return Ok(None);
                    };
                    self.grammar.check_first_byte(first)?;
                    let Some((verb, consumed)) = match_verb(self.grammar.verbs(), src)? else {
                        return Ok(None);
                    };
                    src.advance(consumed);
                    self.state = match verb.follow {
                        Follow::IgnoreLine => State::Skip { kind: verb.kind },
                        Follow::Blank | Follow::Any => State::Args {
                            kind: verb.kind,
                            scanned: 0,
                        },
                    };
                }
                State::Skip { kind } => match memchr::memchr(b'\n', src) {
                    None => {
                        // Junk after PING/PONG/+OK is unbounded in nats-server, so drop it as
                        // it comes instead of buffering it.
                        src.clear();
                        return Ok(None);
                    }
                    Some(nl) => {
                        let kind = *kind;
                        src.advance(nl + 1);
                        self.state = State::Start;
                        return Ok(Some(self.grammar.bare(kind)));
                    }
                },
                State::Args { kind, scanned } => {
                    if *scanned == 0 {
                        // Blanks between the verb and the first argument are not arguments.
                        let blanks = src.iter().take_while(|b| is_blank(**b)).count();
                        src.advance(blanks);
                        if src.is_empty() {
                            return Ok(None);
                        }
                    }
                    let Some(found) = memchr::memchr(b'\n', &src[*scanned..]) else {
                        *scanned = src.len();
                        let len = src.len() - usize::from(src.last() == Some(&b'\r'));
                        if len > self.limits.max_control_line {
                            return Err(ProtoError::MaxControlLine {
                                len,
                                max: self.limits.max_control_line,
                            });
                        }
                        return Ok(None);
                    };
                    let nl = *scanned + found;
                    let kind = *kind;
                    let end = if nl > 0 && src[nl - 1] == b'\r' {
                        nl - 1
                    } else {
                        nl
                    };
                    if end > self.limits.max_control_line {
                        return Err(ProtoError::MaxControlLine {
                            len: end,
                            max: self.limits.max_control_line,
                        });
                    }
                    match self.grammar.parse_line(kind, &src[..end])? {
                        Line::Done(shape) => {
                            self.state = State::Start;
                            return Ok(Some(self.cut(src, shape, 0..0, nl + 1)));
                        }
                        Line::Payload(shape, size) => {
                            if size > self.limits.max_payload {
                                return Err(ProtoError::MaxPayload {
                                    size,
                                    max: self.limits.max_payload,
                                });
                            }
                            let start = nl + 1;
                            let need = start + size + 2;
                            if src.len() >= need {
                                // The common case: the whole message is already here.
                                self.state = State::Start;
                                if &src[need - 2..need] != b"\r\n" {
                                    return Err(ProtoError::unknown(&src[need - 2..]));
                                }
                                return Ok(Some(self.cut(src, shape, start..start + size, need)));
                            }
                            self.state = State::Payload {
                                shape,
                                payload: start..start + size,
                                need,
                            };
                        }
                    }
                }
                State::Payload { need, .. } => {
                    let need = *need;
                    if src.len() < need {
                        // The byte after the payload must be CR: fail as soon as it is not,
                        // as nats-server does, rather than waiting for one more byte.
                        if src.len() == need - 1 && src[need - 2] != b'\r' {
                            return Err(ProtoError::unknown(&src[need - 2..]));
                        }
                        src.reserve(need - src.len());
                        return Ok(None);
                    }
                    if &src[need - 2..need] != b"\r\n" {
                        return Err(ProtoError::unknown(&src[need - 2..]));
                    }
                    let State::Payload { shape, payload, .. } =
                        std::mem::replace(&mut self.state, State::Start)
                    else {
                        unreachable!("matched State::Payload above");
                    };
                    return Ok(Some(self.cut(src, shape, payload, need)));
                }
            }
        }
    }

    /// Builds the op of a complete frame of `len` bytes and consumes the frame.
    #[inline]
    fn cut(&self, src: &mut BytesMut, shape: G::Shape, payload: Range<usize>, len: usize) -> G::Op {
        let mut cut = Cutter {
            src,
            at: 0,
            len,
            payload,
        };
        let op = self.grammar.build(shape, &mut cut);
        let at = cut.at;
        src.advance(len - at);
        op
    }
}

/// Hands out the fields of one frame as [`Bytes`] split off the read buffer, in ascending
/// order. Splitting fields off directly (rather than freezing the frame and slicing it) costs
/// one reference-count increment per field and none for the frame; message ops take the whole
/// frame as their only field (see `crate::frame`).
pub(crate) struct Cutter<'a> {
    src: &'a mut BytesMut,
    /// Frame offset the buffer's front corresponds to.
    at: usize,
    /// Frame length (control line, payload and its CR LF).
    len: usize,
    /// Payload offsets in the frame.
    pub payload: Range<usize>,
}

impl Cutter<'_> {
    /// The bytes of `range` (frame offsets), which must not start before the previous take.
    #[inline]
    pub fn take(&mut self, range: Range<usize>) -> Bytes {
        if range.is_empty() {
            return Bytes::new();
        }
        debug_assert!(range.start >= self.at, "fields must be taken in order");
        self.src.advance(range.start.saturating_sub(self.at));
        self.at = range.end;
        self.src.split_to(range.len()).freeze()
    }

    /// The whole frame as one handle; the only take for message ops.
    #[inline]
    pub fn frame(&mut self) -> Bytes {
        self.take(0..self.len)
    }
}

/// Recognises the verb at the front of `src`: `Ok(None)` if more bytes are needed, otherwise
/// the verb and how many bytes it takes (including the one mandatory blank of `Follow::Blank`).
#[inline]
fn match_verb<K>(
    verbs: &'static [Verb<K>],
    src: &[u8],
) -> Result<Option<(&'static Verb<K>, usize)>, ProtoError> {
    let mut need_more = false;
    for verb in verbs {
        let text = verb.text;
        let n = text.len().min(src.len());
        if !src[..n].eq_ignore_ascii_case(&text[..n]) {
            continue;
        }
        if src.len() < text.len() {
            need_more = true;
            continue;
        }
        match verb.follow {
            Follow::Blank => match src.get(text.len()) {
                None => need_more = true,
                Some(&b) if is_blank(b) => return Ok(Some((verb, text.len() + 1))),
                Some(_) => {}
            },
            Follow::Any | Follow::IgnoreLine => return Ok(Some((verb, text.len()))),
        }
    }
    if need_more {
        Ok(None)
    } else {
        Err(ProtoError::unknown(src))
    }
}

/// Space and tab separate arguments.
#[inline]
pub(crate) fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Argument ranges of one control line, found in one pass without allocating: the first
/// [`Args::FIRST`] arguments, the last two, and the count.
pub(crate) struct Args {
    first: [(u32, u32); Args::FIRST],
    last: [(u32, u32); 2],
    count: usize,
}

impl Args {
    /// How many leading arguments are kept (LMSG with a reply has six before its queues).
    pub const FIRST: usize = 6;

    #[inline]
    pub fn split(line: &[u8]) -> Args {
        let mut args = Args {
            first: [(0, 0); Self::FIRST],
            last: [(0, 0); 2],
            count: 0,
        };
        let mut i = 0;
        let len = line.len();
        while i < len {
            while i < len && is_blank(line[i]) {
                i += 1;
            }
            if i == len {
                break;
            }
            let start = i;
            while i < len && !is_blank(line[i]) {
                i += 1;
            }
            let range = (start as u32, i as u32);
            if args.count < Self::FIRST {
                args.first[args.count] = range;
            }
            args.last[0] = args.last[1];
            args.last[1] = range;
            args.count += 1;
        }
        args
    }

    /// Number of arguments.
    #[inline]
    pub fn len(&self) -> usize {
        self.count
    }

    /// The `i`-th argument (`i < FIRST`).
    #[inline]
    pub fn at(&self, i: usize) -> Range<usize> {
        let (s, e) = self.first[i];
        s as usize..e as usize
    }

    /// The `n`-th argument from the end (`n` is 1 or 2).
    #[inline]
    pub fn back(&self, n: usize) -> Range<usize> {
        let (s, e) = self.last[2 - n];
        s as usize..e as usize
    }

    /// The raw bytes from the start of argument `first` to the end of the argument that comes
    /// `before_end` arguments before the end (queue name lists in route messages).
    #[inline]
    pub fn span(&self, line: &[u8], first: usize, before_end: usize) -> Range<usize> {
        let start = self.at(first).start;
        let mut end = self.back(before_end).start;
        while end > start && is_blank(line[end - 1]) {
            end -= 1;
        }
        start..end
    }
}

/// Parses a size argument, or reports nats-server's log text for a bad one.
#[inline(always)]
pub(crate) fn size_arg(
    line: &[u8],
    range: Range<usize>,
    what: &str,
) -> Result<crate::Size, ProtoError> {
    crate::Size::parse(&line[range]).ok_or_else(|| {
        ProtoError::Arguments(format!("{what}: {:?}", String::from_utf8_lossy(line)))
    })
}

/// nats-server's log text for a wrong argument count.
#[cold]
pub(crate) fn arg_error(what: &str, line: &[u8]) -> ProtoError {
    ProtoError::Arguments(format!(
        "{what} Parse Error: {:?}",
        String::from_utf8_lossy(line)
    ))
}

/// The `tokio_util` traits of a codec whose decoding is its `framer` and whose encoding is
/// the op's own `encode`: `Decoder` for the ops it reads, `Encoder` for the ops it writes
/// (owned or borrowed), and `Default` with the given limits. One definition for the three
/// codecs, so they cannot differ.
macro_rules! codec_traits {
    ($codec:ident, decodes $item:ty, encodes $op:ty, default limits $limits:expr) => {
        impl Default for $codec {
            fn default() -> Self {
                $codec::new($limits)
            }
        }

        impl tokio_util::codec::Decoder for $codec {
            type Item = $item;
            type Error = $crate::error::ProtoError;

            #[inline]
            fn decode(
                &mut self,
                src: &mut bytes::BytesMut,
            ) -> Result<Option<$item>, $crate::error::ProtoError> {
                self.framer.decode(src)
            }
        }

        impl tokio_util::codec::Encoder<$op> for $codec {
            type Error = $crate::error::ProtoError;

            fn encode(
                &mut self,
                op: $op,
                dst: &mut bytes::BytesMut,
            ) -> Result<(), $crate::error::ProtoError> {
                op.encode(dst);
                Ok(())
            }
        }

        impl tokio_util::codec::Encoder<&$op> for $codec {
            type Error = $crate::error::ProtoError;

            fn encode(
                &mut self,
                op: &$op,
                dst: &mut bytes::BytesMut,
            ) -> Result<(), $crate::error::ProtoError> {
                op.encode(dst);
                Ok(())
            }
        }
    };
}
pub(crate) use codec_traits;
