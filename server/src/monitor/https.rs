//! HTTPS monitoring: the listener (`https`, `https_port`, `-ms`) and its handshakes; each
//! connection is then served by the monitoring server exactly like a plain HTTP one.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, error, info};

use crate::options::Options;
use crate::server::Server;
use crate::tls::{describe, https_acceptor, looks_like_tls};

/// The HTTPS monitoring listener: bound port and acceptor.
pub struct HttpsListener {
    listener: tokio::net::TcpListener,
    acceptor: TlsAcceptor,
}

/// Binds the HTTPS monitoring port (`https`, `https_port`, `-ms`; `-1`: random) when one is
/// configured together with `tls {}`, and logs `Starting https monitor on host:port` as
/// nats-server does. Called before the client listener is bound, like the HTTP monitor.
pub async fn bind_https(options: &Options) -> io::Result<Option<HttpsListener>> {
    let (port, Some(tls)) = (options.https_port, &options.tls) else {
        return Ok(None);
    };
    if port == 0 {
        return Ok(None);
    }
    let acceptor = https_acceptor(tls).map_err(|e| {
        error!(target: "fatal", "{e}");
        io::Error::other(e)
    })?;
    let host = crate::monitor::http_host(options);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let bound = crate::listen::bind_or_log(host, port, |e| {
        format!("Can't start monitoring: can't listen to the monitor port: {e}")
    })
    .await?;
    info!(
        "Starting https monitor on {}",
        crate::listen::join_host_port(host, bound.addr.port())
    );
    Ok(Some(HttpsListener {
        listener: bound.listener,
        acceptor,
    }))
}

/// Serves HTTPS monitoring until shutdown: each connection does the TLS handshake (no client
/// certificates, as with nats-server) and is then served by the monitoring server exactly
/// like a plain HTTP one.
pub fn spawn_https(server: Arc<Server>, monitor: Arc<super::Monitor>, https: HttpsListener) {
    server.clone().spawn(async move {
        let stop = server.shutdown_token().clone();
        let listener = &https.listener;
        while let Some((tcp, _)) =
            crate::listen::next_connection(listener, &stop, "monitoring").await
        {
            let (task_server, acceptor) = (server.clone(), https.acceptor.clone());
            let monitor = monitor.clone();
            server.spawn(async move {
                if let Some(stream) = https_handshake(&acceptor, tcp).await {
                    crate::monitor::serve_connection(task_server, monitor, stream).await;
                }
            });
        }
    });
}

/// Go's answer to plain HTTP on an HTTPS port.
const HTTP_ON_HTTPS: &[u8] =
    b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

/// How long an HTTPS client may take for its handshake.
const HTTPS_HANDSHAKE: Duration = Duration::from_secs(10);

async fn https_handshake(
    acceptor: &TlsAcceptor,
    mut tcp: TcpStream,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    use tokio::io::AsyncWriteExt;
    let mut head = [0u8; 3];
    let n = tokio::time::timeout(HTTPS_HANDSHAKE, tcp.peek(&mut head))
        .await
        .ok()?
        .ok()?;
    if n > 0 && !looks_like_tls(&head[..n]) {
        let _ = tokio::time::timeout(HTTPS_HANDSHAKE, async {
            tcp.write_all(HTTP_ON_HTTPS).await?;
            tcp.shutdown().await
        })
        .await;
        return None;
    }
    match tokio::time::timeout(HTTPS_HANDSHAKE, acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(e)) => {
            debug!("Monitoring TLS handshake error: {}", describe(&e, true));
            None
        }
        Err(_) => None,
    }
}
