//! One connection to one server: TCP, the handshake, and typed ops in both directions.
//!
//! The handshake is what nats.go does and what nats-server expects from a client
//! (docs/protocol.md §1.1, §1.4): read the server's `INFO`, send `CONNECT {json}` and `PING`
//! together, and treat the first `PONG` as "connected". A server refuses a client by sending
//! `-ERR` instead of that `PONG` (`-ERR 'Authorization Violation'`), so the `-ERR` text is the
//! reason the connection failed. TLS, when used, starts right after the plaintext `INFO` (see
//! [`crate::tls`]).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use nats_proto::client::{ClientCodec, ClientOp, ServerOp};
use nats_proto::{ConnectInfo, ServerInfo};
use tokio::net::TcpStream;
use tokio_util::codec::{Framed, FramedParts};

use crate::creds::Credentials;
use crate::tls::{TlsSetup, Transport};
use crate::url::{Auth, ServerUrl};
use crate::Error;

/// How a connection introduces itself.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Client name shown by the server (`/connz`, logs): `NATS Sample Subscriber`, …
    pub name: String,
    /// Client version sent in `CONNECT`.
    pub version: String,
    /// Bound on TCP connect plus handshake.
    pub timeout: Duration,
    /// TLS files and configuration, for `tls://` URLs and servers that require TLS.
    pub tls: TlsSetup,
    /// `--nkey`/`--creds`: what signs the server's nonce in `CONNECT`.
    pub credentials: Option<Credentials>,
}

/// An established connection: the handshake completed with a `PONG`.
pub struct Connection {
    framed: Framed<Transport, ClientCodec>,
    info: ServerInfo,
    url: ServerUrl,
}

impl Connection {
    /// Connects to `url` and completes the handshake within `options.timeout`.
    pub async fn connect(url: &ServerUrl, options: &ConnectOptions) -> Result<Connection, Error> {
        match tokio::time::timeout(options.timeout, Self::handshake(url, options)).await {
            Ok(result) => result,
            Err(_) => Err(Error::ConnectTimeout),
        }
    }

    async fn handshake(url: &ServerUrl, options: &ConnectOptions) -> Result<Connection, Error> {
        let stream = TcpStream::connect((url.host.as_str(), url.port)).await?;
        // Control lines are tiny and a flush waits for the PONG: don't let Nagle hold them.
        stream.set_nodelay(true)?;
        let mut framed = Framed::new(
            tokio_util::either::Either::Left(stream),
            ClientCodec::default(),
        );
        let info = match framed.next().await {
            Some(Ok(ServerOp::Info(info))) => *info,
            Some(Ok(_)) => return Err(Error::NoInfo),
            // Whatever answered does not speak NATS (an HTTP port, say).
            Some(Err(nats_proto::ProtoError::Io(err))) => return Err(Error::Io(err)),
            Some(Err(_)) => return Err(Error::NoInfo),
            None => return Err(Error::ConnectionClosed),
        };
        // nats.go's rules: TLS asked for but not offered is an error; TLS required by the
        // server is used even when not asked for.
        let wanted = url.tls || options.tls.wanted();
        if wanted && !info.tls_required && !info.tls_available {
            return Err(Error::SecureConnectionWanted);
        }
        if wanted || info.tls_required {
            framed = secure(framed, url, &options.tls).await?;
        }
        let connect = connect_info(url, &info, options)?;
        framed.feed(ClientOp::Connect(Box::new(connect))).await?;
        framed.send(ClientOp::Ping).await?;
        let mut conn = Connection {
            framed,
            info,
            url: url.clone(),
        };
        loop {
            match conn.next_op().await {
                Some(Ok(ServerOp::Pong)) => return Ok(conn),
                Some(Ok(ServerOp::Err(text))) => return Err(Error::Server(err_text(&text))),
                Some(Ok(ServerOp::Ping)) => conn.send(ClientOp::Pong).await?,
                Some(Ok(ServerOp::Info(info))) => conn.info = *info,
                Some(Ok(ServerOp::Ok | ServerOp::Msg(_))) => {}
                Some(Err(Error::Io(err))) => {
                    return Err(match crate::tls::tls_failure(&err) {
                        Some(reason) => Error::Tls(reason),
                        None => Error::Io(err),
                    })
                }
                Some(Err(err)) => return Err(err),
                None => return Err(Error::ConnectionClosed),
            }
        }
    }

    /// The server's latest `INFO`.
    pub fn info(&self) -> &ServerInfo {
        &self.info
    }

    /// Replaces the stored `INFO` (asynchronous `INFO` updates).
    pub fn set_info(&mut self, info: ServerInfo) {
        self.info = info;
    }

    /// The URL this connection was made to.
    pub fn url(&self) -> &ServerUrl {
        &self.url
    }

    /// The next op from the server; `None` when it closed the connection. `-ERR` texts come
    /// as [`ServerOp::Err`] here; converting them is the caller's business.
    pub async fn next_op(&mut self) -> Option<Result<ServerOp, Error>> {
        self.framed.next().await.map(|r| r.map_err(Error::from))
    }

    /// Queues an op without flushing (see [`Connection::send`]).
    pub async fn feed(&mut self, op: ClientOp) -> Result<(), Error> {
        self.framed.feed(op).await.map_err(Error::from)
    }

    /// Queues an op and flushes everything queued to the socket.
    pub async fn send(&mut self, op: ClientOp) -> Result<(), Error> {
        self.framed.send(op).await.map_err(Error::from)
    }
}

/// Replaces the plaintext stream under `framed` with TLS. The server sends nothing after
/// `INFO` until the handshake, so nothing read may be left over.
async fn secure(
    framed: Framed<Transport, ClientCodec>,
    url: &ServerUrl,
    tls: &TlsSetup,
) -> Result<Framed<Transport, ClientCodec>, Error> {
    let parts = framed.into_parts();
    if !parts.read_buf.is_empty() {
        return Err(Error::Protocol(
            "data after INFO before the TLS handshake".into(),
        ));
    }
    let tokio_util::either::Either::Left(tcp) = parts.io else {
        return Err(Error::Protocol("TLS already established".into()));
    };
    let stream = tls.upgrade(tcp, &url.host).await?;
    Ok(Framed::from_parts(FramedParts::new::<ClientOp>(
        tokio_util::either::Either::Right(Box::new(stream)),
        parts.codec,
    )))
}

/// The text of a server's `-ERR`, which the codec hands over as bytes.
pub(crate) fn err_text(text: &[u8]) -> String {
    String::from_utf8_lossy(text).into_owned()
}

/// The `CONNECT` body: what nats.go 1.22 sends, with our language and version.
///
/// Verbose and pedantic are off (no `+OK` per op; nats-server defaults both to on), protocol
/// 1 asks for asynchronous `INFO` updates, which carry the cluster's `connect_urls`. Headers
/// and no-responders follow the server's `headers` flag as in nats.go: asking for
/// no-responders from a server without headers would get the connection closed. With
/// credentials, the `INFO`'s nonce is signed.
fn connect_info(
    url: &ServerUrl,
    info: &ServerInfo,
    options: &ConnectOptions,
) -> Result<ConnectInfo, Error> {
    let mut connect = ConnectInfo {
        verbose: false,
        pedantic: false,
        tls_required: false,
        name: options.name.clone(),
        lang: "rust".into(),
        version: options.version.clone(),
        protocol: 1,
        echo: true,
        headers: info.headers,
        no_responders: info.headers,
        ..ConnectInfo::default()
    };
    match &url.auth {
        Auth::None => {}
        Auth::UserPass { user, pass } => {
            connect.user = user.clone();
            connect.pass = pass.clone();
        }
        Auth::Token(token) => connect.auth_token = token.clone(),
    }
    if let Some(credentials) = &options.credentials {
        credentials.sign_connect(&mut connect, &info.nonce)?;
    }
    Ok(connect)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_carries_url_credentials() {
        let options = ConnectOptions {
            name: "NATS Sample Publisher".into(),
            version: "0.1.0".into(),
            timeout: Duration::from_secs(1),
            tls: TlsSetup::default(),
            credentials: None,
        };
        let info = ServerInfo {
            headers: true,
            ..ServerInfo::default()
        };
        let connect_json = |url: &str| {
            let url = ServerUrl::parse(url).expect("url");
            let connect = connect_info(&url, &info, &options).expect("no credentials");
            String::from_utf8(connect.to_json()).expect("utf8")
        };
        let json = connect_json("nats://u:p@h:1");
        for part in [
            r#""verbose":false"#,
            r#""pedantic":false"#,
            r#""user":"u""#,
            r#""pass":"p""#,
            r#""name":"NATS Sample Publisher""#,
            r#""lang":"rust""#,
            r#""protocol":1"#,
            r#""headers":true"#,
            r#""no_responders":true"#,
        ] {
            assert!(json.contains(part), "{part} in {json}");
        }
        let json = connect_json("nats://tok@h:1");
        assert!(json.contains(r#""auth_token":"tok""#), "{json}");
        assert!(!json.contains("\"user\""), "{json}");
    }
}
