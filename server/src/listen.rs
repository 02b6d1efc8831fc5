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

/// A bound listener and the address it is known by in logs and INFOs: the requested host with
/// the port actually bound (a listener asked for `0.0.0.0` is a dual-stack `[::]` socket, but
/// shown as `0.0.0.0`, as nats-server shows it).
pub struct Bound {
    /// The listening socket.
    pub listener: TcpListener,
    /// The requested address with the real port.
    pub addr: SocketAddr,
}

/// [`bind`] `host:port` (`port` -1: a random one), and on failure the fatal log line
/// nats-server prints: `fatal` gets Go's error text (`listen tcp 0.0.0.0:4222: bind: address
/// already in use`, `listen tcp: address 70000: invalid port`) and words the line as that
/// listener does.
pub async fn bind_or_log<F>(host: &str, port: i32, fatal: F) -> io::Result<Bound>
where
    F: FnOnce(&str) -> String,
{
    let port = if port == -1 { 0 } else { port };
    let hp = join_host_port(host, port);
    let bound = match u16::try_from(port) {
        Ok(port) => bind((host.trim_start_matches('[').trim_end_matches(']'), port))
            .await
            .map_err(|e| (format!("listen tcp {hp}: {}", go_error_text(&e)), e)),
        Err(_) => {
            let text = format!("listen tcp: address {port}: invalid port");
            Err((
                text.clone(),
                io::Error::new(io::ErrorKind::InvalidInput, text),
            ))
        }
    };
    bound.map_err(|(text, e)| {
        error!(target: "fatal", "{}", fatal(&text));
        e
    })
}

/// `host:port`, with brackets around an IPv6 host (Go's `net.JoinHostPort`).
pub fn join_host_port(host: &str, port: impl std::fmt::Display) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// An OS error as Go's `net` package words it: `bind: address already in use`.
fn go_error_text(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => {
            let text = io::Error::from_raw_os_error(code).to_string();
            let text = text
                .strip_suffix(&format!(" (os error {code})"))
                .unwrap_or(&text);
            let mut chars = text.chars();
            let lower: String = match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => String::new(),
            };
            format!("bind: {lower}")
        }
        None => e.to_string(),
    }
}

/// Binds the client listener, logging nats-server's fatal line
/// `Error listening on port: 0.0.0.0:4222, "<Go error>"` when that fails.
pub async fn bind_clients(host: &str, port: i32) -> io::Result<Bound> {
    let hp = join_host_port(host, port);
    bind_or_log(host, port, |e| {
        format!("Error listening on port: {hp}, {e:?}")
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
                // An IPv4 peer of a dual-stack listener is `::ffff:a.b.c.d`; logs, /connz and
                // INFO show it as `a.b.c.d`, as nats-server does.
                let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
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
/// `TcpListener::bind`), with the backlog of [`backlog`]; a wildcard address listens on IPv4
/// and IPv6 alike, as Go's `net.Listen` does.
pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<Bound> {
    let mut last = None;
    for addr in lookup_host(addr).await? {
        match bind_addr(addr) {
            Ok(listener) => {
                let port = listener.local_addr()?.port();
                let addr = SocketAddr::new(addr.ip(), port);
                return Ok(Bound { listener, addr });
            }
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
    if addr.ip().is_unspecified() {
        // Go listens on every IPv4 and IPv6 address for `0.0.0.0` or `::` where the system has
        // IPv6; without it, the IPv4 wildcard alone.
        let any = SocketAddr::new(std::net::Ipv6Addr::UNSPECIFIED.into(), addr.port());
        match dual_stack(any) {
            Ok(listener) => return Ok(listener),
            Err(e) if addr.is_ipv6() || e.kind() == io::ErrorKind::AddrInUse => return Err(e),
            Err(_) => {}
        }
    }
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog())
}

/// An IPv6 wildcard listener that takes IPv4 connections too (`IPV6_V6ONLY` off, whatever
/// the system default), with the same options as every other listener.
fn dual_stack(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_only_v6(false)?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(backlog()).unwrap_or(i32::MAX))?;
    TcpListener::from_std(socket.into())
}
