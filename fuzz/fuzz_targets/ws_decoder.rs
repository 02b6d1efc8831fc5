//! The websocket frame decoder (`nats_proto::ws::FrameDecoder`, what the server reads from a
//! websocket client) on arbitrary bytes: it must never panic, never hand out more payload
//! than the room it was given, and always make progress, however the bytes are split.
//!
//! Input layout: byte 0 chooses where the rest is split into two reads (proportionally);
//! byte 1 bit 0 requires masking, bits 1-7 give the room per data piece (1..=128). The rest
//! is the wire.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use nats_proto::ws::{FrameDecoder, WsEvent};

fuzz_target!(|data: &[u8]| {
    let [split, mode, wire @ ..] = data else {
        return;
    };
    let split = wire.len() * usize::from(*split) / 255;
    let room = usize::from(mode >> 1) + 1;
    let mut decoder = FrameDecoder::new(mode & 1 != 0);
    let mut buf = BytesMut::new();
    for part in [&wire[..split], &wire[split..]] {
        buf.extend_from_slice(part);
        // Each event consumes input (a header or payload), so this is bounded by the input.
        for _ in 0..=wire.len() + 1 {
            let before = buf.len();
            match decoder.decode(&mut buf, room) {
                Ok(Some(WsEvent::Data { bytes, .. })) => {
                    assert!(bytes.len() <= room);
                    assert!(buf.len() < before || bytes.is_empty());
                }
                Ok(Some(WsEvent::Ping(p))) => assert!(p.len() <= 125),
                Ok(Some(WsEvent::Close { body, .. })) => {
                    assert!(std::str::from_utf8(&body).is_ok());
                }
                Ok(Some(WsEvent::Pong)) => {}
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
