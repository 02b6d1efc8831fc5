//! Writing client-protocol lines into a `BytesMut`.
//!
//! The `write_*` functions write only control lines, so a server can put the payload next to
//! them by reference; the `encode` methods write whole ops.

use bytes::{BufMut, BytesMut};

use super::{ClientOp, Publish, ServerOp};
use crate::Size;

/// Writes `MSG <subject> <sid> [reply] <size>\r\n`, or the `HMSG` form when `header_size` is
/// set. The payload and its CR LF are the caller's.
#[inline]
pub fn write_msg_line(
    dst: &mut BytesMut,
    subject: &[u8],
    sid: &[u8],
    reply: Option<&[u8]>,
    header_size: Option<Size>,
    total_size: Size,
) {
    dst.put_slice(if header_size.is_some() {
        b"HMSG "
    } else {
        b"MSG "
    });
    dst.put_slice(subject);
    dst.put_u8(b' ');
    dst.put_slice(sid);
    dst.put_u8(b' ');
    if let Some(reply) = reply {
        dst.put_slice(reply);
        dst.put_u8(b' ');
    }
    if let Some(header_size) = header_size {
        header_size.write(dst);
        dst.put_u8(b' ');
    }
    total_size.write(dst);
    dst.put_slice(b"\r\n");
}

/// Writes `-ERR '<text>'\r\n`.
pub fn write_err(dst: &mut BytesMut, text: &[u8]) {
    dst.put_slice(b"-ERR '");
    dst.put_slice(text);
    dst.put_slice(b"'\r\n");
}

fn write_pub(dst: &mut BytesMut, msg: &Publish) {
    dst.put_slice(if msg.header_size().is_some() {
        b"HPUB "
    } else {
        b"PUB "
    });
    dst.put_slice(msg.subject());
    dst.put_u8(b' ');
    if let Some(reply) = msg.reply() {
        dst.put_slice(reply);
        dst.put_u8(b' ');
    }
    if let Some(header_size) = msg.header_size() {
        header_size.write(dst);
        dst.put_u8(b' ');
    }
    msg.total_size().write(dst);
    dst.put_slice(b"\r\n");
    dst.put_slice(msg.payload());
    dst.put_slice(b"\r\n");
}

impl ClientOp {
    /// Writes the op as a client sends it.
    pub fn encode(&self, dst: &mut BytesMut) {
        match self {
            ClientOp::Connect(info) => {
                dst.put_slice(b"CONNECT ");
                dst.put_slice(&info.to_json());
                dst.put_slice(b"\r\n");
            }
            ClientOp::Pub(msg) => write_pub(dst, msg),
            ClientOp::Sub {
                subject,
                queue,
                sid,
            } => {
                dst.put_slice(b"SUB ");
                dst.put_slice(subject);
                dst.put_u8(b' ');
                if let Some(queue) = queue {
                    dst.put_slice(queue);
                    dst.put_u8(b' ');
                }
                dst.put_slice(sid);
                dst.put_slice(b"\r\n");
            }
            ClientOp::Unsub { sid, max } => {
                dst.put_slice(b"UNSUB ");
                dst.put_slice(sid);
                if let Some(max) = max {
                    dst.put_u8(b' ');
                    Size::new(*max).write(dst);
                }
                dst.put_slice(b"\r\n");
            }
            ClientOp::Ping => dst.put_slice(b"PING\r\n"),
            ClientOp::Pong => dst.put_slice(b"PONG\r\n"),
            ClientOp::Ok => dst.put_slice(b"+OK\r\n"),
            ClientOp::Err(text) => write_err(dst, text),
            ClientOp::Info(json) => {
                dst.put_slice(b"INFO ");
                dst.put_slice(json);
                dst.put_slice(b"\r\n");
            }
        }
    }
}

impl ServerOp {
    /// Writes the op as a server sends it.
    pub fn encode(&self, dst: &mut BytesMut) {
        match self {
            ServerOp::Info(info) => info.encode(dst),
            ServerOp::Msg(msg) => {
                write_msg_line(
                    dst,
                    msg.subject(),
                    msg.sid(),
                    msg.reply(),
                    msg.header_size(),
                    msg.total_size(),
                );
                dst.put_slice(msg.payload());
                dst.put_slice(b"\r\n");
            }
            ServerOp::Ping => dst.put_slice(b"PING\r\n"),
            ServerOp::Pong => dst.put_slice(b"PONG\r\n"),
            ServerOp::Ok => dst.put_slice(b"+OK\r\n"),
            ServerOp::Err(text) => write_err(dst, text),
        }
    }
}
