//! Shared pieces of the benchmarks: wire buffers holding many copies of one op, an
//! in-process server on its own runtime, and the two loads used to compare servers: the
//! raw-protocol generator and the real-client one (nats.go, run as a separate program), and
//! the probes of one server that are not a load (memory per connection, after a storm, a
//! publisher while a subscriber is cut off).

pub mod alloc_check;
pub mod load;
pub mod natsload;
pub mod probes;

use std::time::Duration;

use bytes::{BufMut, BytesMut};
use gnatsd::options::Options;

/// A buffer of `count` frames `PUB <subject> <size>\r\n<payload>\r\n`.
pub fn pub_frames(subject: &str, payload_len: usize, count: usize) -> BytesMut {
    frames("PUB ", subject, payload_len, count)
}

/// A buffer of `count` frames `RMSG $G <subject> <size>\r\n<payload>\r\n`.
pub fn rmsg_frames(subject: &str, payload_len: usize, count: usize) -> BytesMut {
    frames("RMSG $G ", subject, payload_len, count)
}

/// A buffer of `count` frames `<verb><subject> <size>\r\n<payload>\r\n`, `verb` ending in a
/// space.
fn frames(verb: &str, subject: &str, payload_len: usize, count: usize) -> BytesMut {
    let payload = vec![b'x'; payload_len];
    let mut buf = BytesMut::with_capacity(count * (payload_len + subject.len() + verb.len() + 12));
    for _ in 0..count {
        buf.put_slice(format!("{verb}{subject} {payload_len}\r\n").as_bytes());
        buf.put_slice(&payload);
        buf.put_slice(b"\r\n");
    }
    buf
}

/// Server options listening on an ephemeral loopback port.
pub fn local_options() -> Options {
    Options {
        host: "127.0.0.1".into(),
        port: -1,
        ..Options::default()
    }
}

/// Starts a server with `options` on its own two-worker runtime thread, which keeps it
/// running for the rest of the process. Returns (client port, cluster port or 0 without a
/// cluster) once it answers PING, or `None` when it did not within 10 seconds.
pub fn start_server(options: Options) -> Option<(u16, u16)> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async move {
            match gnatsd::launch::start(options).await {
                Ok(server) => {
                    let cluster = server.cluster.get().map_or(0, |c| c.listen.port());
                    let _ = tx.send((server.client_addr().port(), cluster));
                    std::future::pending::<()>().await;
                }
                Err(e) => eprintln!("server failed to start: {e}"),
            }
        });
    });
    let timeout = Duration::from_secs(10);
    let ports = rx.recv_timeout(timeout).ok()?;
    load::wait_ready(ports.0, timeout, None).then_some(ports)
}
