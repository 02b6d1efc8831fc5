//! Listening sockets bound the way Go's `net.Listen` binds them on Linux, for every listener
//! of the server (clients, routes, monitoring, websocket): `SO_REUSEADDR`, and the system's
//! maximum accept backlog (`/proc/sys/net/core/somaxconn`) instead of a fixed 128, so a burst
//! of simultaneous connects is queued by the kernel rather than dropped and retried a second
//! later; and the addresses a listener is reached at.

use std::io;
use std::net::SocketAddr;

use tokio::net::{lookup_host, TcpListener, TcpSocket, TcpStream, ToSocketAddrs};
use tokio_util::sync::CancellationToken;
use tracing::error;

/// The accept backlog when the system does not say (Go's `syscall.SOMAXCONN`).
const DEFAULT_BACKLOG: u32 = 128;

/// The accept backlog every listener asks for: the system maximum, as Go does.
pub fn backlog() -> u32 {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_BACKLOG)
}

/// [`bind`], and on failure the fatal log line nats-server prints, `fatal` built from the
/// error (the caller's wording, as each listener words it differently).
pub async fn bind_or_log<A, F>(addr: A, fatal: F) -> io::Result<TcpListener>
where
    A: ToSocketAddrs,
    F: FnOnce(&io::Error) -> String,
{
    bind(addr).await.inspect_err(|e| {
        error!(target: "fatal", "{}", fatal(e));
    })
}

/// Binds a NATS listener (`what`: `port` for clients, `router port` for routes), logging
/// nats-server's fatal line when that fails.
pub async fn bind_nats(addr: &str, what: &str) -> io::Result<TcpListener> {
    bind_or_log(addr, |e| {
        format!("Error listening on {what}: {addr}, {:?}", e.to_string())
    })
    .await
}

/// The next connection on `listener`, with `TCP_NODELAY` set; `None` once `stop` is
/// cancelled. A failed accept (out of file descriptors and the like) is logged as
/// `Error accepting <what> connection` and retried after a pause instead of spinning.
pub async fn next_connection(
    listener: &TcpListener,
    stop: &CancellationToken,
    what: &str,
) -> Option<(TcpStream, SocketAddr)> {
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return None,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                return Some((stream, peer));
            }
            Err(e) => {
                error!("Error accepting {what} connection: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

/// Binds a listener on the first address `addr` resolves to that can be bound (like
/// `TcpListener::bind`), with the backlog of [`backlog`].
pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
    let mut last = None;
    for addr in lookup_host(addr).await? {
        match bind_addr(addr) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any address",
        )
    }))
}

/// Where peers reach a listener bound to `addr` (`host:port`), as nats-server tells clients:
/// the advertised address (its port defaulting to the listener's), or the listen address, or
/// every interface address but loopback and IPv6 link-local when listening on all of them.
pub fn reachable_urls(advertise: Option<&str>, addr: SocketAddr) -> Vec<String> {
    if let Some(adv) = advertise {
        return vec![if adv.contains(':') {
            adv.to_string()
        } else {
            format!("{adv}:{}", addr.port())
        }];
    }
    let port = addr.port();
    if !addr.ip().is_unspecified() {
        return vec![addr.to_string()];
    }
    let mut urls: Vec<String> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter(|i| !i.is_loopback())
        .map(|i| i.ip())
        .filter(|ip| match ip {
            std::net::IpAddr::V4(_) => true,
            std::net::IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) != 0xfe80,
        })
        .map(|ip| SocketAddr::new(ip, port).to_string())
        .collect();
    urls.dedup();
    urls
}

fn bind_addr(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog())
}
