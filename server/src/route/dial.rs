//! Dialling routes: explicit ones (configured, re-dialled forever, every address a name
//! resolves to) and implicit ones (announced by gossip, dialled once plus `connect_retries`).

use super::*;

/// How a route connection ended, for the dial loop.
pub(super) enum End {
    /// It reached ourselves: stop dialling this URL.
    SelfRoute,
    /// It ended; the peer id, if the handshake got that far.
    Closed(Option<String>),
}

/// Keeps an explicitly configured route connected, forever. The host name is resolved again
/// and again, and every address it resolves to gets its own dial loop, so a name that stands
/// for several servers (a headless service) still yields a full mesh; our own address is
/// skipped quietly.
pub(super) async fn dial_explicit(server: Arc<Server>, cluster: Arc<Cluster>, url: RouteUrl) {
    let mut loops: HashMap<SocketAddr, tokio::task::JoinHandle<bool>> = HashMap::new();
    let mut selves: HashSet<SocketAddr> = HashSet::new();
    let mut failures: u64 = 0;
    loop {
        if server.shutdown_token().is_cancelled() {
            return;
        }
        match tokio::net::lookup_host(&url.host_port).await {
            Ok(addrs) => {
                failures = 0;
                for addr in addrs {
                    if selves.contains(&addr) || cluster.is_own_address(addr) {
                        continue;
                    }
                    if let Some(task) = loops.get(&addr) {
                        if !task.is_finished() {
                            continue;
                        }
                    }
                    if let Some(task) = loops.remove(&addr) {
                        if task.await.unwrap_or(false) {
                            selves.insert(addr);
                            continue;
                        }
                    }
                    let task = server.spawn(dial_address(
                        server.clone(),
                        cluster.clone(),
                        url.clone(),
                        addr,
                    ));
                    loops.insert(addr, task);
                }
            }
            Err(e) => {
                failures += 1;
                if failures == 1 || failures % 3600 == 0 {
                    error!(
                        "Error trying to connect to route (attempt {failures}): lookup {}: {e}",
                        url.host_port
                    );
                }
            }
        }
        // Re-resolve now and then: containers come and go behind one name.
        let jitter = rand::rng().random_range(0..500u64);
        sleep_or_shutdown(&server, RECONNECT_DELAY * 2 + Duration::from_millis(jitter)).await;
    }
}

/// Keeps one resolved address of an explicit route connected. Returns true when the address
/// turned out to be this server.
async fn dial_address(
    server: Arc<Server>,
    cluster: Arc<Cluster>,
    url: RouteUrl,
    addr: SocketAddr,
) -> bool {
    let mut attempt: u64 = 0;
    let mut ever_connected = false;
    loop {
        if server.shutdown_token().is_cancelled() {
            return false;
        }
        // Already routed to whoever listens there (it dialled us first): dialling again would
        // only make a duplicate to resolve. Wait until that route goes.
        if let Some(id) = cluster.routed_to(addr) {
            wait_disconnected(&server, &cluster, &id).await;
            continue;
        }
        debug!("Trying to connect to route on {} ({addr})", url.host_port);
        let jitter = Duration::from_millis(rand::rng().random_range(0..100u64));
        match dial_once(&server, &cluster, &url, addr).await {
            Dialled::Ran(End::SelfRoute) => {
                debug!("Detected route to self, ignoring {:?}", url.text);
                return true;
            }
            Dialled::Ran(End::Closed(peer)) => {
                attempt = 0;
                ever_connected = true;
                if let Some(id) = peer {
                    wait_disconnected(&server, &cluster, &id).await;
                }
            }
            Dialled::Unsecured => {
                attempt = 0;
                ever_connected = true;
            }
            Dialled::Failed(e) => {
                attempt += 1;
                // nats-server reports the first failure, then only every 3600th until connected
                // once; after a disconnect every attempt is reported.
                if ever_connected || attempt == 1 || attempt % 3600 == 0 {
                    error!("Error trying to connect to route (attempt {attempt}): dial tcp {addr}: {e}");
                }
            }
        }
        sleep_or_shutdown(&server, RECONNECT_DELAY + jitter).await;
    }
}

/// How one dial went.
enum Dialled {
    /// The TCP connect failed.
    Failed(std::io::Error),
    /// Connected, but the TLS handshake failed (already logged).
    Unsecured,
    /// The route ran to its end.
    Ran(End),
}

/// One dial: connects to `to`, secures the connection when routes use TLS, and runs the route
/// to its end. Explicit and implicit routes both dial through here.
async fn dial_once<A: tokio::net::ToSocketAddrs>(
    server: &Arc<Server>,
    cluster: &Arc<Cluster>,
    url: &RouteUrl,
    to: A,
) -> Dialled {
    let stream = match TcpStream::connect(to).await {
        Ok(stream) => stream,
        Err(e) => return Dialled::Failed(e),
    };
    let _ = stream.set_nodelay(true);
    let peer = stream
        .peer_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let rid = server.next_id();
    let host = crate::tls::host_of(&url.host_port);
    let secured = crate::tls::connect_route(cluster.tls.as_deref(), stream, host, peer, rid);
    let Some(stream) = secured.await else {
        return Dialled::Unsecured;
    };
    let end = run(
        server.clone(),
        cluster.clone(),
        stream,
        peer,
        rid,
        Some(url.clone()),
    )
    .await;
    Dialled::Ran(end)
}

/// Waits while a route to `id` exists (possibly the other connection of a duplicate pair).
async fn wait_disconnected(server: &Server, cluster: &Cluster, id: &str) {
    loop {
        let changed = cluster.changed.notified();
        if !cluster.is_connected(id) {
            return;
        }
        debug!("Not attempting reconnect for solicited route, already connected to {id:?}");
        tokio::select! {
            _ = changed => {}
            _ = server.shutdown_token().cancelled() => return,
        }
    }
}

async fn sleep_or_shutdown(server: &Server, d: Duration) {
    tokio::select! {
        _ = tokio::time::sleep(d) => {}
        _ = server.shutdown_token().cancelled() => {}
    }
}

/// Dials a server announced by gossip: once plus `connect_retries`, and again the same way if
/// the route drops while we are not connected to that server some other way.
pub(super) async fn dial_implicit(
    server: Arc<Server>,
    cluster: Arc<Cluster>,
    id: String,
    url: RouteUrl,
) {
    'outer: loop {
        for attempt in 0..=cluster.connect_retries {
            if server.shutdown_token().is_cancelled() || cluster.is_connected(&id) {
                break 'outer;
            }
            if attempt > 0 {
                sleep_or_shutdown(&server, RECONNECT_DELAY).await;
            }
            debug!(
                "Trying to connect to route on {} ({})",
                url.host_port, url.host_port
            );
            match dial_once(&server, &cluster, &url, url.host_port.as_str()).await {
                Dialled::Ran(End::SelfRoute) => break 'outer,
                Dialled::Ran(End::Closed(_)) => {
                    let jitter = rand::rng().random_range(0..100u64);
                    sleep_or_shutdown(&server, Duration::from_millis(jitter)).await;
                    continue 'outer;
                }
                Dialled::Unsecured => {}
                Dialled::Failed(e) => error!(
                    "Error trying to connect to route (attempt {}): dial tcp {}: {e}",
                    attempt + 1,
                    url.host_port
                ),
            }
        }
        break;
    }
    cluster.lock().dialing.remove(&id);
}
