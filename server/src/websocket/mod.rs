//! WebSocket clients (`websocket {}`): a listener of its own (`ws://`, or `wss://` with its
//! TLS), the HTTP upgrade ([`handshake`]), and then the ordinary client code over a
//! [`stream::WsStream`], which carries the NATS protocol in binary frames. Everything past the
//! upgrade (authentication, accounts, permissions, slow consumers, routes, monitoring) is the
//! client code's, so websocket clients cannot drift from TCP ones.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, error, info, warn};

use crate::listen::{bind_or_log, next_connection};
use crate::options::WebsocketOptions;
use crate::server::Server;

pub mod handshake;
pub mod stream;

pub use stream::WsStream;

/// How long the TLS handshake and the upgrade request may take when `handshake_timeout` is
/// not set. nats-server then waits without a limit; a bound keeps a silent peer from holding
/// a socket forever.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// An origin (`scheme://host[:port]`) as the origin checks compare it: the host in lower
/// case, the port filled in from the scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `http` or `https`, lower-cased.
    pub scheme: String,
    /// The host, lower-cased.
    pub host: String,
    /// The port, `80`/`443` when absent.
    pub port: String,
}

impl Origin {
    /// Parses an origin as Go's `url.ParseRequestURI` reads one: an absolute URL with a
    /// scheme and a host; anything else is an error with Go's wording.
    pub fn parse(text: &str) -> Result<Origin, String> {
        if let Some(i) = text.find('%') {
            let escape = text.get(i..i + 3).unwrap_or(&text[i..]);
            let valid = escape.len() == 3 && escape[1..].bytes().all(|b| b.is_ascii_hexdigit());
            if !valid {
                return Err(format!("parse {text:?}: invalid URL escape {escape:?}"));
            }
        }
        let (scheme, rest) = text
            .split_once("://")
            .filter(|(s, _)| !s.is_empty())
            .ok_or_else(|| format!("parse {text:?}: invalid URI for request"))?;
        let scheme = scheme.to_ascii_lowercase();
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let authority = authority.rsplit('@').next().unwrap_or_default();
        let (host, port) = host_and_port(authority, scheme == "https");
        Ok(Origin { scheme, host, port })
    }
}

/// `host[:port]` split as nats-server splits it: the host lower-cased, the port `443` (TLS)
/// or `80` when missing.
pub fn host_and_port(host_port: &str, tls: bool) -> (String, String) {
    let default = if tls { "443" } else { "80" };
    let (host, port) = match host_port.rsplit_once(':') {
        // `[::1]:80`, `host:80`; a bare IPv6 address has more colons and no brackets.
        Some((h, p)) if !h.contains(':') || h.ends_with(']') => (h, p.to_string()),
        _ => (host_port, default.to_string()),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (host.to_ascii_lowercase(), port)
}

/// The listener's origin rules.
#[derive(Debug, Default)]
pub struct Origins {
    /// `same_origin`: the origin must be the request's own host and port.
    pub same_origin: bool,
    /// `allowed_origins`, parsed (empty: any).
    pub allowed: Vec<Origin>,
}

impl Origins {
    /// The rules of `same_origin` and `allowed_origins`. An origin that does not parse was
    /// refused with the configuration (nats-server logs it and leaves it out, which can
    /// leave the list empty and admit every origin).
    pub fn new(same_origin: bool, allowed: &[String]) -> Origins {
        let allowed = allowed
            .iter()
            .filter_map(|o| Origin::parse(o).ok())
            .collect();
        Origins {
            same_origin,
            allowed,
        }
    }
}

/// A bound websocket listener and what its connections need.
pub struct Listener {
    tcp: TcpListener,
    /// The listen address (its port is the real one for `port: -1`).
    pub addr: SocketAddr,
    tls: Option<Arc<crate::tls::ClientTls>>,
    origins: Origins,
    options: WebsocketOptions,
}

impl Listener {
    /// Binds the listener and logs it as nats-server does; a bad certificate or a port in
    /// use stops the start.
    pub async fn bind(options: &WebsocketOptions) -> std::io::Result<Listener> {
        let tls = crate::tls::loaded(options.tls.as_ref().map(crate::tls::ClientTls::new))?;
        let bound = bind_or_log(&options.host, options.port, |e| {
            format!("Unable to listen for websocket connections: {e}")
        })
        .await?;
        let (tcp, addr) = (bound.listener, bound.addr);
        let scheme = if tls.is_some() { "wss" } else { "ws" };
        info!(
            "Listening for websocket clients on {scheme}://{}:{}",
            options.host,
            addr.port()
        );
        if tls.is_none() {
            warn!("Websocket not configured with TLS. DO NOT USE IN PRODUCTION!");
        }
        Ok(Listener {
            tcp,
            addr,
            tls,
            origins: Origins::new(options.same_origin, &options.allowed_origins),
            options: options.clone(),
        })
    }

    /// Whether the listener is `wss://`.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Accepts websocket clients until the server stops accepting.
    pub async fn accept_loop(self: Arc<Self>, server: Arc<Server>) {
        let stop = server.accept_stop_token();
        while let Some((tcp, peer)) = next_connection(&self.tcp, &stop, "websocket").await {
            server.spawn(serve(server.clone(), self.clone(), tcp, peer));
        }
    }
}

/// One websocket connection: TLS for `wss://`, the upgrade, then the client code.
async fn serve(server: Arc<Server>, listener: Arc<Listener>, tcp: TcpStream, peer: SocketAddr) {
    let limit = listener
        .options
        .handshake_timeout
        .unwrap_or(DEFAULT_HANDSHAKE_TIMEOUT);
    let deadline = tokio::time::Instant::now() + limit;
    let Some(tls) = listener.tls.clone() else {
        upgrade(server, listener, tcp, peer, None, deadline).await;
        return;
    };
    match tokio::time::timeout_at(deadline, crate::tls::accept(&tls.acceptor, tcp)).await {
        Ok(Ok(stream)) => {
            let cert = tls
                .map
                .then(|| crate::tls::peer_identity(&format!("{peer} - "), stream.get_ref().1))
                .flatten();
            upgrade(server, listener, stream, peer, cert, deadline).await;
        }
        Ok(Err(e)) => debug!("{peer} - websocket TLS handshake error: {e}"),
        Err(_) => debug!("{peer} - websocket TLS handshake error: i/o timeout"),
    }
}

/// Reads and answers the upgrade request on `stream`, then runs the client.
async fn upgrade<S>(
    server: Arc<Server>,
    listener: Arc<Listener>,
    mut stream: S,
    peer: SocketAddr,
    cert: Option<crate::tls::CertIdentity>,
    deadline: tokio::time::Instant,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let mut buf = BytesMut::with_capacity(4096);
    let end = loop {
        if let Some(end) = handshake::head_end(&buf) {
            break end;
        }
        if buf.len() >= handshake::MAX_REQUEST {
            let refused = handshake::Refused {
                status: 431,
                reason: "request header too large".into(),
            };
            refuse(&mut stream, peer, &refused, deadline).await;
            return;
        }
        match tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            // Gone, or silent past the deadline: nothing to answer.
            _ => return,
        }
    };
    let options = &listener.options;
    let settings = handshake::Settings {
        compression: options.compression,
        origins: &listener.origins,
        tls: listener.is_tls(),
        jwt_cookie: options.jwt_cookie.as_deref(),
    };
    let accepted = match handshake::upgrade(&buf[..end], buf.len() > end, &settings) {
        Ok(accepted) => accepted,
        Err(refused) => {
            refuse(&mut stream, peer, &refused, deadline).await;
            return;
        }
    };
    let written = tokio::time::timeout_at(deadline, async {
        stream.write_all(&accepted.response).await?;
        stream.flush().await
    })
    .await;
    if !matches!(written, Ok(Ok(()))) {
        return;
    }
    let ws = WsStream::new(stream, accepted.negotiated);
    let client = crate::client::WsClient {
        client_ip: accepted.client_ip,
        cookie_jwt: accepted.cookie_jwt,
        cert: cert.map(Box::new),
    };
    crate::client::serve_websocket(server, ws, peer, client).await;
}

/// Answers a refused upgrade as Go's HTTP server does and logs nats-server's line.
async fn refuse<S: AsyncWrite + Unpin>(
    stream: &mut S,
    peer: SocketAddr,
    refused: &handshake::Refused,
    deadline: tokio::time::Instant,
) {
    error!("{peer} - websocket handshake error: {}", refused.reason);
    let date = chrono::Utc::now()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    let _ = tokio::time::timeout_at(deadline, async {
        stream.write_all(&refused.response(&date)).await?;
        stream.shutdown().await
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_parse_as_go_reads_them() {
        let o = Origin::parse("HTTPS://Example.COM/path").expect("origin");
        assert_eq!(
            (o.scheme.as_str(), o.host.as_str(), o.port.as_str()),
            ("https", "example.com", "443")
        );
        let o = Origin::parse("https://example.com").expect("origin");
        assert_eq!(o.port, "443");
        let o = Origin::parse("http://[::1]:8080").expect("origin");
        assert_eq!((o.host.as_str(), o.port.as_str()), ("::1", "8080"));
        assert_eq!(
            Origin::parse("%zz").expect_err("bad escape"),
            "parse \"%zz\": invalid URL escape \"%zz\""
        );
        assert!(Origin::parse("example.com").is_err());
    }
}
