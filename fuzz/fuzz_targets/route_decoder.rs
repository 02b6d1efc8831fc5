//! The route protocol decoder (`RouteCodec`, both ends of a cluster route) on arbitrary bytes:
//! it must never panic, whatever the bytes and however they are split across reads.
//!
//! Input layout: byte 0 chooses where the rest is split into two reads (proportionally);
//! byte 1 bit 0 selects tiny limits so the control-line and payload limits are hit. The rest
//! is the wire. Each decoded op is touched through its accessors and encoded again.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use nats_proto::route::{RouteCodec, RouteOp};
use nats_proto::Limits;
use tokio_util::codec::Decoder;

const TINY: Limits = Limits {
    max_control_line: 32,
    max_payload: 16,
};

fuzz_target!(|data: &[u8]| {
    let [split, mode, wire @ ..] = data else {
        return;
    };
    let split = wire.len() * usize::from(*split) / 255;
    let limits = if mode & 1 != 0 {
        TINY
    } else {
        RouteCodec::DEFAULT_LIMITS
    };
    let mut codec = RouteCodec::new(limits);
    let mut buf = BytesMut::new();
    let mut out = BytesMut::new();
    for part in [&wire[..split], &wire[split..]] {
        buf.extend_from_slice(part);
        loop {
            let before = buf.len();
            let op = match codec.decode(&mut buf) {
                Ok(Some(op)) => op,
                Ok(None) => break,
                Err(_) => return,
            };
            assert!(buf.len() < before, "an op was decoded from no bytes");
            match &op {
                RouteOp::Info(info) => {
                    let _ = info.to_json();
                }
                RouteOp::Connect(info) => {
                    let _ = info.to_json();
                }
                RouteOp::Msg(m) => {
                    let _ = (m.origin(), m.account(), m.subject(), m.reply());
                    let _ = (m.queue_list(), m.queues().count());
                    let _ = (m.header_size(), m.total_size(), m.payload_bytes());
                    let _ = (m.headers(), m.body());
                }
                _ => {}
            }
            out.clear();
            op.encode(&mut out);
        }
    }
});
