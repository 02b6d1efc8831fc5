//! A raw websocket client for tests: the upgrade request written by hand, masked frames
//! out, frames in (inflated when compressed), every read bounded.
//!
//! Declared from a test file as `#[path = "common/ws.rs"] mod ws;`, next to `mod common;`.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::common::{dial, WAIT};

/// The RFC 6455 sample key and the accept value it must get.
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// The upgrade request for `port` with `extra` header lines (each ending in `\r\n`).
pub fn request(port: u16, extra: &str) -> String {
    format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// A frame the server sent: its first byte and its payload (inflated if RSV1 was set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub b0: u8,
    pub payload: Vec<u8>,
}

impl Frame {
    /// The opcode.
    pub fn opcode(&self) -> u8 {
        self.b0 & 0x0F
    }

    /// A close frame's status.
    pub fn close_status(&self) -> u16 {
        u16::from_be_bytes([self.payload[0], self.payload[1]])
    }

    /// A close frame's text.
    pub fn close_text(&self) -> String {
        String::from_utf8_lossy(&self.payload[2..]).into_owned()
    }
}

/// An upgraded connection.
pub struct WsRaw {
    pub stream: TcpStream,
    /// The server's answer to the upgrade (status line and headers).
    pub response: String,
    buf: Vec<u8>,
}

impl WsRaw {
    /// Sends `request` as is and reads the answer's head; the connection is returned even
    /// when the upgrade was refused (then `response` holds the refusal).
    pub fn open_with(port: u16, request: &str) -> WsRaw {
        let mut stream = dial(port, Duration::from_millis(200));
        stream.write_all(request.as_bytes()).expect("send upgrade");
        let mut ws = WsRaw {
            stream,
            response: String::new(),
            buf: Vec::new(),
        };
        let deadline = Instant::now() + WAIT;
        let end = loop {
            if let Some(i) = ws.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            assert!(Instant::now() < deadline, "no upgrade answer");
            if !ws.fill() {
                break ws.buf.len();
            }
        };
        ws.response = String::from_utf8_lossy(&ws.buf[..end]).into_owned();
        ws.buf.drain(..end);
        ws
    }

    /// Upgrades with `extra` headers and asserts the upgrade succeeded.
    pub fn open(port: u16, extra: &str) -> WsRaw {
        let ws = Self::open_with(port, &request(port, extra));
        assert!(
            ws.response
                .starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
            "{}",
            ws.response
        );
        ws
    }

    /// Reads more bytes (false at EOF); a read timeout is not EOF.
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 65536];
        match self.stream.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                true
            }
            Err(_) => false,
        }
    }

    /// Sends a masked frame with first byte `b0`.
    pub fn send_frame(&mut self, b0: u8, payload: &[u8]) {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        self.stream
            .write_all(&masked(b0, payload, key))
            .expect("send frame");
    }

    /// Sends raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// Sends NATS protocol bytes in one binary frame.
    pub fn send(&mut self, nats: &[u8]) {
        self.send_frame(0x82, nats);
    }

    /// The next frame, waiting at most `timeout`; `None` at EOF or timeout.
    pub fn frame(&mut self, timeout: Duration) -> Option<Frame> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((frame, used)) = parse(&self.buf) {
                self.buf.drain(..used);
                return Some(frame);
            }
            if Instant::now() >= deadline || !self.fill() {
                return None;
            }
        }
    }

    /// The NATS bytes of data frames until `want` has been seen (or `timeout`).
    pub fn read_until(&mut self, want: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let mut text = String::new();
        while !text.contains(want) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.frame(left) {
                Some(f) if f.opcode() <= 2 => text.push_str(&String::from_utf8_lossy(&f.payload)),
                Some(_) => {}
                None => break,
            }
        }
        text
    }

    /// Every frame until the server closes the connection (bounded by `WAIT`).
    pub fn frames_until_closed(&mut self) -> Vec<Frame> {
        let deadline = Instant::now() + WAIT;
        let mut frames = Vec::new();
        while Instant::now() < deadline {
            match self.frame(Duration::from_millis(200)) {
                Some(f) => frames.push(f),
                None => {
                    // EOF, or nothing for a while: a closed socket reads 0.
                    let mut probe = [0u8; 1];
                    match self.stream.read(&mut probe) {
                        Ok(0) => break,
                        Ok(_) => self.buf.push(probe[0]),
                        Err(e)
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                            ) => {}
                        Err(_) => break,
                    }
                }
            }
        }
        frames
    }
}

/// A client frame masked with `key`.
pub fn masked(b0: u8, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    nats_proto::ws::client_frame(b0, payload, key)
}

/// `data` compressed as a browser compresses a message (raw deflate, sync flush, the
/// trailing `00 00 ff ff` removed).
pub fn deflate(data: &[u8]) -> Vec<u8> {
    let mut z = flate2::Compress::new(flate2::Compression::default(), false);
    let mut out = Vec::with_capacity(data.len() + 1024);
    // A sync flush may take more than one call to finish; it is done when a call leaves
    // output room unused.
    for _ in 0..100 {
        let done = z.total_in() as usize;
        z.compress_vec(&data[done..], &mut out, flate2::FlushCompress::Sync)
            .expect("deflate");
        if z.total_in() as usize == data.len() && out.len() < out.capacity() {
            break;
        }
        out.reserve(1024);
    }
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]), "a finished sync flush");
    out.truncate(out.len() - 4);
    out
}

/// Inflates one permessage-deflate message.
pub fn inflate(data: &[u8]) -> Vec<u8> {
    let mut z = flate2::Decompress::new(false);
    let mut input = data.to_vec();
    input.extend_from_slice(&[0x00, 0x00, 0xff, 0xff]);
    let mut out = Vec::with_capacity(1 << 22);
    z.decompress_vec(&input, &mut out, flate2::FlushDecompress::Sync)
        .expect("inflate");
    out
}

/// One unmasked server frame at the start of `buf`, and its length.
fn parse(buf: &[u8]) -> Option<(Frame, usize)> {
    if buf.len() < 2 {
        return None;
    }
    assert_eq!(buf[1] & 0x80, 0, "server frames are not masked");
    let (len, head) = match buf[1] & 0x7F {
        126 => (u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?]) as usize, 4),
        127 => {
            let b: [u8; 8] = buf.get(2..10)?.try_into().ok()?;
            (u64::from_be_bytes(b) as usize, 10)
        }
        n => (n as usize, 2),
    };
    let payload = buf.get(head..head + len)?;
    let payload = if buf[0] & 0x40 != 0 {
        inflate(payload)
    } else {
        payload.to_vec()
    };
    Some((
        Frame {
            b0: buf[0],
            payload,
        },
        head + len,
    ))
}
