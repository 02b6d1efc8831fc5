//! WebSocket framing (RFC 6455) as NATS carries it: the client protocol's bytes travel as the
//! payload of binary (or text) messages, split into frames anywhere.
//!
//! [`FrameDecoder`] reads frames from a buffer the server filled from its socket: it unmasks
//! payload in place and hands out slices of that buffer (no copy), in pieces as large as the
//! caller has room for, and reports control frames whole. [`put_header`] and
//! [`close_payload`] build what the server sends. A decoding error is a protocol error: its
//! text is what nats-server puts in its close frame, and the connection ends.
//!
//! A frame's announced length is never used to reserve memory: its payload is handed out as
//! it arrives, so a frame of any length costs only the read buffer.

use bytes::{Buf, Bytes, BytesMut};

/// A frame's opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Opcode {
    /// The next frame of a fragmented message.
    Continuation = 0,
    /// A text message (NATS clients in browsers may send text).
    Text = 1,
    /// A binary message.
    Binary = 2,
    /// Closes the connection.
    Close = 8,
    /// Asks for a pong.
    Ping = 9,
    /// Answers a ping.
    Pong = 10,
}

/// The first-byte bit of a message's last frame.
const FINAL: u8 = 0x80;
/// RSV1: the message is compressed (permessage-deflate, RFC 7692).
const RSV1: u8 = 0x40;
/// The second-byte bit of a masked frame.
const MASKED: u8 = 0x80;
/// Control frames carry at most this much payload.
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// Close status codes (RFC 6455 section 7.4.1) the server uses.
pub mod status {
    /// The connection did what it was for.
    pub const NORMAL: u16 = 1000;
    /// The server is going away.
    pub const GOING_AWAY: u16 = 1001;
    /// The peer broke the protocol.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// No status in the peer's close frame.
    pub const NO_STATUS: u16 = 1005;
    /// Closed without a close frame (read or write errors).
    pub const ABNORMAL: u16 = 1006;
    /// Payload data that was not what it should be (a close body that is not UTF-8).
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// A policy (authentication, limits) was violated.
    pub const POLICY_VIOLATION: u16 = 1008;
    /// A message was too big.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// The server failed.
    pub const INTERNAL_ERROR: u16 = 1011;
    /// The TLS handshake failed.
    pub const TLS_HANDSHAKE: u16 = 1015;
}

/// What the decoder found next.
#[derive(Debug, PartialEq, Eq)]
pub enum WsEvent {
    /// Payload bytes of a data message, unmasked. `compressed`: the message is
    /// permessage-deflate compressed; `end`: these are the message's last bytes.
    Data {
        /// The bytes.
        bytes: BytesMut,
        /// The message these bytes belong to is compressed.
        compressed: bool,
        /// The message ends with these bytes.
        end: bool,
    },
    /// A ping with its payload (the pong echoes it).
    Ping(Bytes),
    /// A pong.
    Pong,
    /// A close frame: its status (`NO_STATUS` without one) and body.
    Close {
        /// The status code.
        status: u16,
        /// The reason text.
        body: Bytes,
    },
}

/// A frame that breaks the protocol; the text is nats-server's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsError(pub String);

impl std::fmt::Display for WsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WsError {}

/// Reads the frames a client sends.
#[derive(Debug)]
pub struct FrameDecoder {
    /// Frames must be masked (clients' frames are, unless the client asked otherwise).
    mask_required: bool,
    /// Payload bytes of the current data frame still to come.
    remaining: u64,
    /// Inside a data frame's payload.
    in_payload: bool,
    /// The current frame's masking key, and where in it the next byte is.
    mask: Option<[u8; 4]>,
    mask_pos: usize,
    /// A data message started and its final frame has not ended yet.
    in_message: bool,
    /// The current frame is its message's last.
    final_frame: bool,
    /// The current message is compressed.
    compressed: bool,
}

impl FrameDecoder {
    /// A decoder; `mask_required` refuses unmasked frames, as a server must.
    pub fn new(mask_required: bool) -> FrameDecoder {
        FrameDecoder {
            mask_required,
            remaining: 0,
            in_payload: false,
            mask: None,
            mask_pos: 0,
            in_message: false,
            final_frame: false,
            compressed: false,
        }
    }

    /// The next event from `src`, taking at most `room` payload bytes of a data frame
    /// (`room` > 0). `Ok(None)`: more input is needed; nothing was consumed that is not
    /// accounted for.
    pub fn decode(&mut self, src: &mut BytesMut, room: usize) -> Result<Option<WsEvent>, WsError> {
        if self.in_payload {
            return Ok(self.payload(src, room));
        }
        if src.len() < 2 {
            return Ok(None);
        }
        let (b0, b1) = (src[0], src[1]);
        let opcode = b0 & 0x0F;
        let final_frame = b0 & FINAL != 0;
        let compressed = b0 & RSV1 != 0;
        let masked = b1 & MASKED != 0;
        if self.mask_required && !masked {
            return Err(WsError("mask bit missing".into()));
        }
        let short_len = b1 & 0x7F;
        let control = opcode >= Opcode::Close as u8;
        match opcode {
            8..=10 => {
                if usize::from(short_len) > MAX_CONTROL_PAYLOAD {
                    return Err(WsError(format!(
                        "control frame length bigger than maximum allowed of {MAX_CONTROL_PAYLOAD} bytes"
                    )));
                }
                if !final_frame {
                    return Err(WsError("control frame does not have final bit set".into()));
                }
            }
            1 | 2 => {
                if self.in_message {
                    return Err(WsError(
                        "new message started before final frame for previous message was received"
                            .into(),
                    ));
                }
            }
            0 => {
                if !self.in_message || compressed {
                    return Err(WsError("invalid continuation frame".into()));
                }
            }
            other => return Err(WsError(format!("unknown opcode {other}"))),
        }
        let ext = match short_len {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let key_len = if masked { 4 } else { 0 };
        let head = 2 + ext + key_len;
        if src.len() < head {
            return Ok(None);
        }
        let len = match ext {
            2 => u64::from(u16::from_be_bytes([src[2], src[3]])),
            8 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&src[2..10]);
                u64::from_be_bytes(b)
            }
            _ => u64::from(short_len),
        };
        let mask = masked.then(|| {
            let k = &src[2 + ext..head];
            [k[0], k[1], k[2], k[3]]
        });
        if control {
            // Control frames are short (checked above) and handled whole.
            let len = len as usize;
            if src.len() < head + len {
                return Ok(None);
            }
            src.advance(head);
            let mut payload = src.split_to(len);
            if let Some(key) = mask {
                unmask(&mut payload, key, 0);
            }
            let payload = payload.freeze();
            return Ok(Some(match opcode {
                8 => close_event(payload),
                9 => WsEvent::Ping(payload),
                _ => WsEvent::Pong,
            }));
        }
        src.advance(head);
        if opcode != 0 {
            self.compressed = compressed;
        }
        self.in_message = !final_frame;
        self.final_frame = final_frame;
        self.mask = mask;
        self.mask_pos = 0;
        self.remaining = len;
        self.in_payload = true;
        Ok(self.payload(src, room).or_else(|| {
            // An empty frame still ends its message (a compressed one needs to know).
            (len == 0).then(|| self.finish_payload(BytesMut::new()))
        }))
    }

    fn payload(&mut self, src: &mut BytesMut, room: usize) -> Option<WsEvent> {
        if self.remaining == 0 {
            return None;
        }
        if src.is_empty() {
            return None;
        }
        let n = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(src.len())
            .min(room.max(1));
        let mut bytes = src.split_to(n);
        if let Some(key) = self.mask {
            self.mask_pos = unmask(&mut bytes, key, self.mask_pos);
        }
        self.remaining -= n as u64;
        if self.remaining > 0 {
            return Some(WsEvent::Data {
                bytes,
                compressed: self.compressed,
                end: false,
            });
        }
        Some(self.finish_payload(bytes))
    }

    fn finish_payload(&mut self, bytes: BytesMut) -> WsEvent {
        self.in_payload = false;
        WsEvent::Data {
            bytes,
            compressed: self.compressed,
            end: self.final_frame,
        }
    }
}

/// A close frame's payload as an event: a 2-byte status, then a body that must be UTF-8.
fn close_event(payload: Bytes) -> WsEvent {
    if payload.len() < 2 {
        return WsEvent::Close {
            status: status::NO_STATUS,
            body: Bytes::new(),
        };
    }
    let status = u16::from_be_bytes([payload[0], payload[1]]);
    let body = payload.slice(2..);
    if std::str::from_utf8(&body).is_err() {
        return WsEvent::Close {
            status: status::INVALID_PAYLOAD,
            body: Bytes::from_static(b"invalid utf8 body in close frame"),
        };
    }
    WsEvent::Close { status, body }
}

/// XORs `buf` with `key`, starting at `pos` in the key; returns the position after it.
fn unmask(buf: &mut [u8], key: [u8; 4], pos: usize) -> usize {
    // The key rotated to start at `pos`, eight bytes at a time.
    let mut wide = [0u8; 8];
    for (i, b) in wide.iter_mut().enumerate() {
        *b = key[(pos + i) & 3];
    }
    let wide = u64::from_ne_bytes(wide);
    let len = buf.len();
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    let rest = chunks.into_remainder();
    let start = pos + (len - rest.len());
    for (i, b) in rest.iter_mut().enumerate() {
        *b ^= key[(start + i) & 3];
    }
    (pos + len) & 3
}

/// The most bytes a server frame header takes (unmasked, 64-bit length).
pub const MAX_HEADER: usize = 10;

/// Writes the header of an unmasked frame (the server never masks) of `len` payload bytes
/// into `dst`; returns its length. `first`: the opcode is written (a continuation frame has
/// none); `compressed` sets RSV1 (only on a message's first frame).
pub fn put_header(
    dst: &mut [u8; MAX_HEADER],
    opcode: Opcode,
    first: bool,
    last: bool,
    compressed: bool,
    len: usize,
) -> usize {
    let mut b0 = if first { opcode as u8 } else { 0 };
    if last {
        b0 |= FINAL;
    }
    if compressed {
        b0 |= RSV1;
    }
    dst[0] = b0;
    if len <= 125 {
        dst[1] = len as u8;
        2
    } else if len < 65536 {
        dst[1] = 126;
        dst[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        4
    } else {
        dst[1] = 127;
        dst[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    }
}

/// A close frame's payload: `status`, then `body`, cut to fit a control frame with `...`
/// at the end, as nats-server cuts it.
pub fn close_payload(status: u16, body: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAX_CONTROL_PAYLOAD);
    out.extend_from_slice(&status.to_be_bytes());
    if body.len() > MAX_CONTROL_PAYLOAD - 2 {
        let mut cut = MAX_CONTROL_PAYLOAD - 5;
        while !body.is_char_boundary(cut) {
            cut -= 1;
        }
        out.extend_from_slice(&body.as_bytes()[..cut]);
        out.extend_from_slice(b"...");
    } else {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

/// A whole control frame (close, ping or pong) as the server sends it.
pub fn control_frame(opcode: Opcode, payload: &[u8]) -> Vec<u8> {
    let mut head = [0u8; MAX_HEADER];
    let payload = &payload[..payload.len().min(MAX_CONTROL_PAYLOAD)];
    let n = put_header(&mut head, opcode, true, true, false, payload.len());
    let mut out = Vec::with_capacity(n + payload.len());
    out.extend_from_slice(&head[..n]);
    out.extend_from_slice(payload);
    out
}

/// A whole frame as a client sends it: first byte `b0` (FIN, RSV1 and opcode bits), the
/// payload masked with `key`. For clients and for the tests that play one.
pub fn client_frame(b0: u8, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + MAX_HEADER + 4);
    out.push(b0);
    match payload.len() {
        n if n <= 125 => out.push(MASKED | n as u8),
        n if n < 65536 => {
            out.push(MASKED | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(MASKED | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i & 3]));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(b0: u8, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
        client_frame(b0, payload, key)
    }

    /// Decodes all of `input` fed in pieces of `step` bytes with `room` per data event,
    /// returning the data bytes of each message and the control events.
    fn decode_all(input: &[u8], step: usize, room: usize) -> (Vec<Vec<u8>>, Vec<WsEvent>) {
        let mut d = FrameDecoder::new(true);
        let mut buf = BytesMut::new();
        let (mut messages, mut current, mut controls) = (Vec::new(), Vec::new(), Vec::new());
        for piece in input.chunks(step) {
            buf.extend_from_slice(piece);
            while let Some(ev) = d.decode(&mut buf, room).expect("valid frames") {
                match ev {
                    WsEvent::Data { bytes, end, .. } => {
                        current.extend_from_slice(&bytes);
                        if end {
                            messages.push(std::mem::take(&mut current));
                        }
                    }
                    other => controls.push(other),
                }
            }
        }
        assert!(buf.is_empty());
        (messages, controls)
    }

    #[test]
    fn messages_split_at_every_byte_and_fragmented_decode_the_same() {
        let key = [0x11, 0x22, 0x33, 0x44];
        let long: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        let mut input = frame(0x82, b"PUB a 2\r\nhi\r\n", key);
        // A fragmented message with a ping between its fragments.
        input.extend(frame(0x02, b"PING", key));
        input.extend(frame(0x89, b"hey", key));
        input.extend(frame(0x80, b"\r\n", key));
        input.extend(frame(0x82, &long, key));
        input.extend(frame(0x81, b"", key));
        for step in [1, 2, 3, 7, 64, 1 << 20] {
            for room in [1, 5, 4096] {
                let (messages, controls) = decode_all(&input, step, room);
                assert_eq!(
                    messages,
                    vec![
                        b"PUB a 2\r\nhi\r\n".to_vec(),
                        b"PING\r\n".to_vec(),
                        long.clone(),
                        Vec::new()
                    ],
                    "step {step} room {room}"
                );
                assert_eq!(controls, vec![WsEvent::Ping(Bytes::from_static(b"hey"))]);
            }
        }
    }

    #[test]
    fn protocol_errors_have_nats_servers_texts() {
        let key = [1, 2, 3, 4];
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![0x82, 0x02, b'h', b'i'], "mask bit missing"),
            (
                frame(0x89, &[0u8; 126], key),
                "control frame length bigger than maximum allowed of 125 bytes",
            ),
            (
                frame(0x09, b"", key),
                "control frame does not have final bit set",
            ),
            (frame(0x80, b"x", key), "invalid continuation frame"),
            (frame(0x83, b"x", key), "unknown opcode 3"),
            (
                [frame(0x02, b"a", key), frame(0x82, b"b", key)].concat(),
                "new message started before final frame for previous message was received",
            ),
            (
                [frame(0x42, b"a", key), frame(0xC0, b"b", key)].concat(),
                "invalid continuation frame",
            ),
        ];
        for (input, text) in cases {
            let mut d = FrameDecoder::new(true);
            let mut buf = BytesMut::from(&input[..]);
            let err = loop {
                match d.decode(&mut buf, 1024) {
                    Ok(Some(_)) => continue,
                    Ok(None) => panic!("no error for {input:?}"),
                    Err(e) => break e,
                }
            };
            assert_eq!(err.0, text);
        }
    }

    #[test]
    fn close_frames_carry_status_and_a_utf8_body() {
        let key = [9, 8, 7, 6];
        let mut buf = BytesMut::from(&frame(0x88, b"\x03\xe8bye", key)[..]);
        let mut d = FrameDecoder::new(true);
        assert_eq!(
            d.decode(&mut buf, 10).expect("ok"),
            Some(WsEvent::Close {
                status: 1000,
                body: Bytes::from_static(b"bye")
            })
        );
        let mut buf = BytesMut::from(&frame(0x88, b"", key)[..]);
        assert!(matches!(
            d.decode(&mut buf, 10),
            Ok(Some(WsEvent::Close { status: 1005, .. }))
        ));
        let mut buf = BytesMut::from(&frame(0x88, b"\x03\xe8\xff", key)[..]);
        assert!(matches!(
            d.decode(&mut buf, 10),
            Ok(Some(WsEvent::Close { status: 1007, .. }))
        ));
    }

    #[test]
    fn headers_and_close_payloads_are_encoded_as_nats_server_does() {
        let mut h = [0u8; MAX_HEADER];
        assert_eq!(put_header(&mut h, Opcode::Binary, true, true, false, 5), 2);
        assert_eq!(&h[..2], &[0x82, 5]);
        assert_eq!(
            put_header(&mut h, Opcode::Binary, true, false, true, 300),
            4
        );
        assert_eq!(&h[..4], &[0x42, 126, 1, 44]);
        assert_eq!(
            put_header(&mut h, Opcode::Binary, false, true, false, 70_000),
            10
        );
        assert_eq!(&h[..10], &[0x80, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
        let long = "x".repeat(200);
        let p = close_payload(1002, &long);
        assert_eq!(p.len(), 125);
        assert!(p.ends_with(b"xx..."));
        assert_eq!(close_payload(1000, "Client Closed")[..2], [0x03, 0xe8]);
        assert_eq!(
            control_frame(Opcode::Pong, b"hi"),
            vec![0x8A, 2, b'h', b'i']
        );
    }
}
