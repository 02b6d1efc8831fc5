//! A websocket connection as a byte stream: [`WsStream`] reads the client's frames and hands
//! their payload on (unmasked, inflated when compressed), and frames what the server writes,
//! so the client code above it is the same as for TCP and TLS.
//!
//! Reads and writes reach the stream through `tokio::io::split`, which never runs both at
//! once, so the read side can append control frames (a pong, the answer to a close) to the
//! write side's buffer directly: that buffer only ever holds whole frames, so they land
//! between frames. The read side then wakes the connection's writer, which flushes.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Buf, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use nats_proto::ws::{self, FrameDecoder, Opcode, WsEvent};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tracing::error;

use crate::conn::{ClientShared, CloseReason};

/// How much is read from the socket at a time.
const READ_CHUNK: usize = 32 * 1024;
/// Frames for browsers are cut to this size (nats-server found they cope better).
const BROWSER_FRAME: usize = 4096;
/// Writes this small are not worth compressing.
const COMPRESS_THRESHOLD: usize = 64;
/// What ends every compressed message on the wire (RFC 7692 7.2.2), followed by an empty
/// final block so that the inflater reports the message's end.
const INFLATE_TAIL: [u8; 9] = [0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff];
/// The most of one write that is framed at once (one message, compressed or not).
const MAX_FRAMED: usize = 64 * 1024;
/// A write buffer grown past this is not kept once drained.
const KEEP_MAX: usize = 256 * 1024;

/// What the upgrade settled for this connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct Negotiated {
    /// permessage-deflate in both directions.
    pub compress: bool,
    /// The client asked to send unmasked frames (`Nats-No-Masking: true`).
    pub no_masking: bool,
    /// A browser (its `User-Agent` starts with `Mozilla/`): frames are cut to 4 KiB.
    pub browser: bool,
    /// Safari: compressed messages are not fragmented.
    pub no_compressed_fragments: bool,
}

/// The connection's inflater and the compressed bytes it has not taken yet.
struct Inflater {
    z: Decompress,
    input: BytesMut,
    /// The current message's last compressed bytes are in `input`.
    ending: bool,
    /// How much of [`INFLATE_TAIL`] went in after them.
    tail: usize,
}

impl Inflater {
    /// Inflates into `out` as much as fits; returns how many bytes were written.
    fn inflate(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let mut written = 0;
        while written < out.len() {
            let input: &[u8] = if !self.input.is_empty() {
                &self.input
            } else if self.ending {
                &INFLATE_TAIL[self.tail..]
            } else {
                break;
            };
            let (before_in, before_out) = (self.z.total_in(), self.z.total_out());
            let status = self
                .z
                .decompress(input, &mut out[written..], FlushDecompress::None)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let used = (self.z.total_in() - before_in) as usize;
            let made = (self.z.total_out() - before_out) as usize;
            written += made;
            if !self.input.is_empty() {
                self.input.advance(used);
            } else {
                self.tail += used;
            }
            if status == Status::StreamEnd {
                // The message is whole; what follows its end (our tail) is dropped.
                self.z.reset(false);
                self.input.clear();
                self.ending = false;
                self.tail = 0;
                continue;
            }
            if used == 0 && made == 0 {
                if self.ending && self.input.is_empty() && self.tail == INFLATE_TAIL.len() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "compressed message does not end",
                    ));
                }
                break;
            }
        }
        Ok(written)
    }

    fn has_work(&self) -> bool {
        !self.input.is_empty() || self.ending
    }
}

/// A websocket client connection over `S` (TCP, or TLS for `wss://`).
pub struct WsStream<S> {
    inner: S,
    /// Bytes read from the socket, not yet decoded.
    raw: BytesMut,
    decoder: FrameDecoder,
    inflater: Option<Inflater>,
    /// No more data: the client sent a close frame, or its frames broke the protocol.
    read_done: bool,
    /// A protocol error to report once the data before it has been handed on.
    read_error: Option<io::Error>,
    /// Whole frames waiting to be written.
    wbuf: BytesMut,
    deflater: Option<Compress>,
    /// Compressed output of one write (reused).
    zbuf: Vec<u8>,
    negotiated: Negotiated,
    /// A close frame is in `wbuf` or was written: nothing is framed after it.
    close_sent: bool,
    /// The connection's shared half, once it has one: its writer is woken for control frames,
    /// and its close reason picks the close frame's status.
    owner: Option<Arc<ClientShared>>,
}

impl<S> WsStream<S> {
    /// The stream of a client whose upgrade settled `negotiated` (a request with bytes after
    /// it was refused, so nothing has been read past the upgrade).
    pub fn new(inner: S, negotiated: Negotiated) -> WsStream<S> {
        WsStream {
            inner,
            raw: BytesMut::with_capacity(READ_CHUNK),
            decoder: FrameDecoder::new(!negotiated.no_masking),
            inflater: negotiated.compress.then(|| Inflater {
                z: Decompress::new(false),
                input: BytesMut::new(),
                ending: false,
                tail: 0,
            }),
            read_done: false,
            read_error: None,
            wbuf: BytesMut::new(),
            deflater: negotiated
                .compress
                .then(|| Compress::new(Compression::fast(), false)),
            zbuf: Vec::new(),
            negotiated,
            close_sent: false,
            owner: None,
        }
    }

    /// Ties the stream to its connection (after admission): control frames wake its writer.
    pub fn set_owner(&mut self, owner: Arc<ClientShared>) {
        self.owner = Some(owner);
    }

    /// Queues a control frame and wakes the writer to send it.
    fn queue_control(&mut self, opcode: Opcode, payload: &[u8]) {
        if self.close_sent {
            return;
        }
        self.wbuf
            .extend_from_slice(&ws::control_frame(opcode, payload));
        if opcode == Opcode::Close {
            self.close_sent = true;
        }
        if let Some(owner) = &self.owner {
            owner.out.wake();
        }
    }

    /// The client's frames broke the protocol: a close frame says why (status 1002), the
    /// read ends with an error once the data before it is handed on, and the reason is
    /// logged as nats-server logs it.
    fn protocol_error(&mut self, text: &str) {
        let prefix = self.owner.as_ref().map_or("", |o| o.prefix.as_str());
        error!("{prefix}read error: {text}");
        self.queue_control(
            Opcode::Close,
            &ws::close_payload(ws::status::PROTOCOL_ERROR, text),
        );
        self.read_error = Some(io::Error::new(io::ErrorKind::InvalidData, text.to_string()));
    }

    /// Queues the close frame for the way the connection ended (nats-server's statuses);
    /// none after a read or write error, whose peer is gone.
    fn queue_close_for(&mut self, reason: Option<CloseReason>) {
        let reason = reason.unwrap_or(CloseReason::ServerShutdown);
        if matches!(reason, CloseReason::ReadError | CloseReason::WriteError) {
            return;
        }
        let payload = ws::close_payload(close_status(reason), &reason.to_string());
        self.queue_control(Opcode::Close, &payload);
    }

    /// Frames `data` (compressed when negotiated and worth it) into the write buffer.
    fn frame(&mut self, data: &[u8]) -> io::Result<()> {
        if self.close_sent {
            return Ok(());
        }
        let browser = self.negotiated.browser;
        if let Some(z) = self
            .deflater
            .as_mut()
            .filter(|_| data.len() > COMPRESS_THRESHOLD)
        {
            deflate(z, data, &mut self.zbuf)?;
            let body = &self.zbuf[..];
            let fragment = browser && !self.negotiated.no_compressed_fragments;
            if fragment && body.len() > BROWSER_FRAME {
                let mut chunks = body.chunks(BROWSER_FRAME).peekable();
                let mut first = true;
                while let Some(chunk) = chunks.next() {
                    let last = chunks.peek().is_none();
                    put_frame(&mut self.wbuf, first, last, first, chunk);
                    first = false;
                }
            } else {
                put_frame(&mut self.wbuf, true, true, true, body);
            }
            return Ok(());
        }
        if browser {
            for chunk in data.chunks(BROWSER_FRAME) {
                put_frame(&mut self.wbuf, true, true, false, chunk);
            }
        } else {
            put_frame(&mut self.wbuf, true, true, false, data);
        }
        Ok(())
    }
}

/// Appends one binary frame (or a continuation of one) carrying `body`.
fn put_frame(dst: &mut BytesMut, first: bool, last: bool, compressed: bool, body: &[u8]) {
    let mut head = [0u8; ws::MAX_HEADER];
    let n = ws::put_header(
        &mut head,
        Opcode::Binary,
        first,
        last,
        compressed,
        body.len(),
    );
    dst.reserve(n + body.len());
    dst.extend_from_slice(&head[..n]);
    dst.extend_from_slice(body);
}

/// Compresses `data` as one permessage-deflate message into `out` (without the trailing
/// `00 00 ff ff`), starting afresh: the server takes no context over (as nats-server
/// negotiates).
fn deflate(z: &mut Compress, data: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    z.reset();
    out.clear();
    out.reserve(data.len() / 2 + 64);
    let mut consumed = 0;
    loop {
        let before = z.total_in();
        z.compress_vec(&data[consumed..], out, FlushCompress::Sync)
            .map_err(io::Error::other)?;
        consumed += (z.total_in() - before) as usize;
        if consumed == data.len() && out.len() < out.capacity() {
            break;
        }
        out.reserve(out.capacity().max(64));
    }
    if out.ends_with(&[0x00, 0x00, 0xff, 0xff]) {
        out.truncate(out.len() - 4);
    }
    Ok(())
}

/// The close status nats-server sends for each way a connection ends.
pub fn close_status(reason: CloseReason) -> u16 {
    use ws::status;
    match reason {
        CloseReason::ClientClosed => status::NORMAL,
        CloseReason::AuthenticationTimeout
        | CloseReason::AuthenticationFailure
        | CloseReason::SlowConsumerPendingBytes
        | CloseReason::SlowConsumerWriteDeadline
        | CloseReason::MaxAccountConnectionsExceeded
        | CloseReason::MaxConnectionsExceeded
        | CloseReason::MaxControlLineExceeded
        | CloseReason::MaxSubscriptionsExceeded
        | CloseReason::AuthenticationExpired => status::POLICY_VIOLATION,
        CloseReason::TlsHandshakeFailure => status::TLS_HANDSHAKE,
        CloseReason::ProtocolViolation | CloseReason::BadClientProtocolVersion => {
            status::PROTOCOL_ERROR
        }
        CloseReason::MaxPayloadExceeded => status::MESSAGE_TOO_BIG,
        CloseReason::ServerShutdown => status::GOING_AWAY,
        CloseReason::WriteError | CloseReason::ReadError | CloseReason::StaleConnection => {
            status::ABNORMAL
        }
        CloseReason::DuplicateRoute | CloseReason::InternalError => status::INTERNAL_ERROR,
    }
}

impl<S: AsyncWrite + Unpin> WsStream<S> {
    /// Writes out the framed bytes waiting.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.wbuf.is_empty() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.wbuf))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.wbuf.advance(n);
        }
        if self.wbuf.capacity() > KEEP_MAX {
            self.wbuf = BytesMut::new();
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WsStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let start = buf.filled().len();
        loop {
            let got = buf.filled().len() > start;
            if let Some(e) = this.read_error.take() {
                if got {
                    this.read_error = Some(e);
                    return Poll::Ready(Ok(()));
                }
                return Poll::Ready(Err(e));
            }
            if this.read_done || buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            if let Some(inflater) = this.inflater.as_mut().filter(|i| i.has_work()) {
                let n = match inflater.inflate(buf.initialize_unfilled()) {
                    Ok(n) => n,
                    Err(e) => {
                        let prefix = this.owner.as_ref().map_or("", |o| o.prefix.as_str());
                        error!("{prefix}read error: {e}");
                        return Poll::Ready(Err(e));
                    }
                };
                buf.advance(n);
                if buf.remaining() == 0 {
                    return Poll::Ready(Ok(()));
                }
                // Room is left: the inflater wants more of the message, or it is done.
            }
            match this.decoder.decode(&mut this.raw, buf.remaining()) {
                Ok(Some(WsEvent::Data {
                    bytes,
                    compressed,
                    end,
                })) => match this.inflater.as_mut().filter(|_| compressed) {
                    Some(inflater) => {
                        if inflater.input.is_empty() {
                            inflater.input = bytes;
                        } else {
                            inflater.input.extend_from_slice(&bytes);
                        }
                        inflater.ending = end;
                    }
                    None if compressed => {
                        this.protocol_error("compressed frame without compression negotiated")
                    }
                    None => buf.put_slice(&bytes),
                },
                Ok(Some(WsEvent::Ping(payload))) => this.queue_control(Opcode::Pong, &payload),
                Ok(Some(WsEvent::Pong)) => {}
                Ok(Some(WsEvent::Close { status, body })) => {
                    let body = String::from_utf8_lossy(&body).into_owned();
                    this.queue_control(Opcode::Close, &ws::close_payload(status, &body));
                    this.read_done = true;
                }
                Ok(None) => {
                    // What was handed on must be returned now: a `Pending` after filling
                    // `buf` would lose it.
                    if buf.filled().len() > start {
                        return Poll::Ready(Ok(()));
                    }
                    this.raw.reserve(READ_CHUNK);
                    let n = ready!(tokio_util::io::poll_read_buf(
                        Pin::new(&mut this.inner),
                        cx,
                        &mut this.raw
                    ))?;
                    if n == 0 {
                        return Poll::Ready(Ok(()));
                    }
                }
                Err(e) => this.protocol_error(&e.0),
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WsStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // The backlog goes out before more is framed, and at most `MAX_FRAMED` is taken at
        // a time: the framed copy stays small whatever the batch (memory tracks what is
        // pending, not twice that).
        ready!(this.poll_drain(cx))?;
        let data = &data[..data.len().min(MAX_FRAMED)];
        this.frame(data)?;
        if let Poll::Ready(Err(e)) = this.poll_drain(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.close_sent {
            let reason = this.owner.as_ref().and_then(|o| o.close_reason());
            this.queue_close_for(reason);
        }
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A masked client frame.
    fn client_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
        ws::client_frame(b0, payload, [0xA1, 0xB2, 0xC3, 0xD4])
    }

    /// `data` compressed as a client compresses a message (raw deflate, sync flush, the
    /// last four bytes taken off).
    fn client_deflate(data: &[u8]) -> Vec<u8> {
        let mut z = Compress::new(Compression::default(), false);
        let mut out = Vec::new();
        deflate(&mut z, data, &mut out).expect("deflate");
        out
    }

    #[tokio::test]
    async fn compressed_messages_inflate_in_any_piece_size() {
        let text: Vec<u8> = b"PUB hello 11\r\nhello world\r\n".repeat(2000);
        let body = client_deflate(&text);
        // The message in three fragments, then a plain one.
        let third = body.len() / 3;
        let mut wire = client_frame(0x42, &body[..third]);
        wire.extend(client_frame(0x00, &body[third..2 * third]));
        wire.extend(client_frame(0x80, &body[2 * third..]));
        wire.extend(client_frame(0x82, b"PING\r\n"));
        wire.extend(client_frame(0xC2, &client_deflate(b"PONG\r\n")));
        let negotiated = Negotiated {
            compress: true,
            ..Negotiated::default()
        };
        let (mut peer, ours) = tokio::io::duplex(777);
        let writer = tokio::spawn(async move {
            peer.write_all(&wire).await.expect("write");
            peer.shutdown().await.expect("shutdown");
            peer
        });
        let mut ws = WsStream::new(ours, negotiated);
        let mut got = Vec::new();
        let mut chunk = [0u8; 1000];
        loop {
            let n = ws.read(&mut chunk).await.expect("read");
            if n == 0 {
                break;
            }
            got.extend_from_slice(&chunk[..n]);
        }
        let mut want = text.clone();
        want.extend_from_slice(b"PING\r\nPONG\r\n");
        assert_eq!(got, want);
        drop(writer.await);
    }

    /// The first fragment alone inflates to a few bytes and then the read has to wait for
    /// the socket: those bytes must be handed on, not dropped with a `Pending`.
    #[tokio::test(start_paused = true)]
    async fn a_compressed_message_whose_fragments_arrive_apart_inflates_whole() {
        let text: Vec<u8> = b"CONNECT {}\r\nPUB z 9000\r\n"
            .iter()
            .copied()
            .chain(b"hello compression ".repeat(500))
            .collect();
        let body = client_deflate(&text);
        let (a, b) = body.split_at(body.len() / 2);
        let (first, second) = (client_frame(0x42, a), client_frame(0x80, b));
        let (mut peer, ours) = tokio::io::duplex(1 << 16);
        let writer = tokio::spawn(async move {
            peer.write_all(&first).await.expect("write");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            peer.write_all(&second).await.expect("write");
            peer.shutdown().await.expect("shutdown");
            peer
        });
        let negotiated = Negotiated {
            compress: true,
            ..Negotiated::default()
        };
        let mut ws = WsStream::new(ours, negotiated);
        let mut got = Vec::new();
        ws.read_to_end(&mut got).await.expect("read");
        assert!(got == text, "{} bytes of {}", got.len(), text.len());
        drop(writer.await);
    }

    #[tokio::test]
    async fn writes_are_framed_and_compressed_writes_inflate_back() {
        for compress in [false, true] {
            let negotiated = Negotiated {
                compress,
                browser: true,
                ..Negotiated::default()
            };
            let (ours, mut peer) = tokio::io::duplex(1 << 20);
            let mut ws = WsStream::new(ours, negotiated);
            let data = b"MSG a 1 5\r\nhello\r\n".repeat(1000);
            ws.write_all(&data).await.expect("write");
            ws.flush().await.expect("flush");
            ws.shutdown().await.expect("shutdown");
            drop(ws);
            let mut wire = Vec::new();
            peer.read_to_end(&mut wire).await.expect("read");
            // Decode as a client would: frames unmasked, fragments joined, inflated.
            let mut d = FrameDecoder::new(false);
            let mut buf = BytesMut::from(&wire[..]);
            let mut message = Vec::new();
            let mut messages = Vec::new();
            let mut closes = Vec::new();
            let mut compressed_seen = false;
            while let Some(ev) = d.decode(&mut buf, usize::MAX).expect("valid") {
                match ev {
                    WsEvent::Data {
                        bytes,
                        compressed,
                        end,
                    } => {
                        compressed_seen |= compressed;
                        message.extend_from_slice(&bytes);
                        if end {
                            messages.push(std::mem::take(&mut message));
                        }
                    }
                    WsEvent::Close { status, body } => closes.push((status, body)),
                    other => panic!("unexpected {other:?}"),
                }
            }
            let mut plain = Vec::new();
            for m in &messages {
                if compress {
                    let mut inflater = Inflater {
                        z: Decompress::new(false),
                        input: BytesMut::from(&m[..]),
                        ending: true,
                        tail: 0,
                    };
                    let mut out = vec![0u8; 1 << 20];
                    let n = inflater.inflate(&mut out).expect("inflate");
                    plain.extend_from_slice(&out[..n]);
                } else {
                    assert!(m.len() <= BROWSER_FRAME, "browser frames are cut");
                    plain.extend_from_slice(m);
                }
            }
            assert_eq!(plain, data, "compress {compress}");
            assert_eq!(compressed_seen, compress);
            // Without an owner the close says the server went away.
            assert_eq!(closes.len(), 1);
            assert_eq!(closes[0].0, ws::status::GOING_AWAY);
        }
    }
}
