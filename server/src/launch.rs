//! Starting a server with everything around it: the banner, the monitoring ports (bound
//! before the client listener, as nats-server binds them), the server itself with
//! monitoring as its observer, and then the monitoring requests served. The one place that
//! knows both the server and monitoring, so neither has to know the other.

use std::sync::Arc;

use crate::monitor;
use crate::options::Options;
use crate::server::Server;

/// Starts a server for `options`; errors have been logged (as nats-server's fatal lines).
pub async fn start(options: Options) -> std::io::Result<Arc<Server>> {
    let identity = Server::announce(&options);
    let monitoring = monitor::bind(&options).await?;
    let observer = monitoring.as_ref().map(|m| m.observer());
    let server = Server::start(identity, options, observer).await?;
    if let Some(monitoring) = monitoring {
        monitoring.serve(&server);
    }
    Ok(server)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn closed_connections_are_watched_only_with_monitoring() {
        for (http_port, watched) in [(0, false), (-1, true)] {
            let server = start(Options {
                host: "127.0.0.1".into(),
                port: -1,
                http_host: "127.0.0.1".into(),
                http_port,
                ..Options::default()
            })
            .await
            .expect("server");
            assert_eq!(server.observer().is_some(), watched);
            server.shutdown();
        }
    }
}
