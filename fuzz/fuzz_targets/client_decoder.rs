//! The client protocol decoders on arbitrary bytes: `ServerCodec` (what the server runs on
//! every client connection, so it parses untrusted input) and `ClientCodec` (what our CLI
//! tools run against a server). Neither may panic, whatever the bytes and however they are
//! split across reads.
//!
//! Input layout: byte 0 chooses where the rest is split into two reads (proportionally, so
//! any split point of any length can be reached); byte 1 holds mode bits: bit 0 starts the
//! server codec with headers negotiated, bit 1 with authentication pending, bit 2 uses tiny
//! limits so the control-line and payload limits are hit. The rest is the wire.
//!
//! Each decoded op is also touched through its accessors and encoded again, and a `CONNECT`
//! switches the codec's state as the server does (headers from the CONNECT, authentication
//! no longer pending).

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use nats_proto::client::{ClientCodec, ClientOp, ServerCodec, ServerOp};
use nats_proto::Limits;
use tokio_util::codec::Decoder;

const TINY: Limits = Limits {
    max_control_line: 32,
    max_payload: 16,
};

/// Decodes `wire` as two reads split at `split`, calling `seen` for each op, until the codec
/// needs more bytes or fails (a server closes the connection on any error).
fn decode_split<D: Decoder>(
    codec: &mut D,
    wire: &[u8],
    split: usize,
    mut seen: impl FnMut(&mut D, D::Item),
) {
    let mut buf = BytesMut::new();
    for part in [&wire[..split], &wire[split..]] {
        buf.extend_from_slice(part);
        loop {
            let before = buf.len();
            match codec.decode(&mut buf) {
                Ok(Some(op)) => {
                    assert!(buf.len() < before, "an op was decoded from no bytes");
                    seen(codec, op);
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [split, mode, wire @ ..] = data else {
        return;
    };
    let split = wire.len() * usize::from(*split) / 255;
    let tiny = mode & 4 != 0;

    let mut server = ServerCodec::new(if tiny { TINY } else { Limits::default() });
    server.set_headers(mode & 1 != 0);
    server.set_auth_pending(mode & 2 != 0);
    let mut out = BytesMut::new();
    decode_split(&mut server, wire, split, |codec, op| {
        match &op {
            ClientOp::Connect(info) => {
                codec.set_headers(info.headers);
                codec.set_auth_pending(false);
                let _ = info.to_json();
            }
            ClientOp::Pub(p) => {
                let _ = (p.subject(), p.reply(), p.header_size(), p.total_size());
                let _ = (p.headers(), p.body(), p.payload_bytes());
            }
            _ => {}
        }
        out.clear();
        op.encode(&mut out);
    });

    let mut client = ClientCodec::new(if tiny { TINY } else { ClientCodec::DEFAULT_LIMITS });
    decode_split(&mut client, wire, split, |_, op| {
        match &op {
            ServerOp::Info(info) => {
                let _ = info.to_json();
            }
            ServerOp::Msg(m) => {
                let _ = (m.subject(), m.sid(), m.reply(), m.header_size(), m.total_size());
                let _ = (m.headers(), m.body(), m.payload_bytes());
            }
            _ => {}
        }
        out.clear();
        op.encode(&mut out);
    });
});
