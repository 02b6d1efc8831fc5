//! Shared pieces of the benchmarks: wire buffers holding many copies of one op, and the
//! raw-protocol load generator used to compare servers.

pub mod load;

use bytes::{BufMut, BytesMut};

/// A buffer of `count` frames `PUB <subject> <size>\r\n<payload>\r\n`.
pub fn pub_frames(subject: &str, payload_len: usize, count: usize) -> BytesMut {
    let payload = vec![b'x'; payload_len];
    let mut buf = BytesMut::with_capacity(count * (payload_len + subject.len() + 16));
    for _ in 0..count {
        buf.put_slice(format!("PUB {subject} {payload_len}\r\n").as_bytes());
        buf.put_slice(&payload);
        buf.put_slice(b"\r\n");
    }
    buf
}

/// A buffer of `count` frames `RMSG $G <subject> <size>\r\n<payload>\r\n`.
pub fn rmsg_frames(subject: &str, payload_len: usize, count: usize) -> BytesMut {
    let payload = vec![b'x'; payload_len];
    let mut buf = BytesMut::with_capacity(count * (payload_len + subject.len() + 20));
    for _ in 0..count {
        buf.put_slice(format!("RMSG $G {subject} {payload_len}\r\n").as_bytes());
        buf.put_slice(&payload);
        buf.put_slice(b"\r\n");
    }
    buf
}
