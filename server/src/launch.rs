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

    /// Under tokio's paused clock, time passes only while every task waits on a timer: a
    /// shutdown that took any virtual time would be sleeping somewhere instead of ending
    /// its tasks.
    #[tokio::test(start_paused = true)]
    async fn shutdown_ends_every_task_without_waiting_on_a_timer() {
        let server = start(Options {
            host: "127.0.0.1".into(),
            port: -1,
            http_host: "127.0.0.1".into(),
            http_port: -1,
            cluster: crate::options::ClusterOptions {
                host: "127.0.0.1".into(),
                port: -1,
                ..Default::default()
            },
            ..Options::default()
        })
        .await
        .expect("server");
        let mut client = tokio::net::TcpStream::connect(server.client_addr())
            .await
            .expect("connect");
        let mut info = [0u8; 4];
        tokio::io::AsyncReadExt::read_exact(&mut client, &mut info)
            .await
            .expect("INFO");
        assert_eq!(&info, b"INFO");
        let start = tokio::time::Instant::now();
        server.shutdown();
        assert!(server.wait_tasks(std::time::Duration::from_secs(10)).await);
        assert_eq!(start.elapsed(), std::time::Duration::ZERO);
    }
}
