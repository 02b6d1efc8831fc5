//! Clustering: route connections speaking the nats-server 2.x route protocol, interest
//! propagation, gossip, and the dial loops that make a full mesh form by itself.
//!
//! * A route is a connection like a client's (a [`ClientShared`] of kind `Router` with its own,
//!   larger outbound buffer), so delivery treats remote interest as subscriptions of the route.
//! * Local interest is reference counted per (subject, queue); `RS+`/`RS-` go to every route
//!   when a plain count goes 0↔1 and on every change of a queue count (the weight). A route that
//!   registers gets the whole table. The table and the route registry share one lock, so a
//!   snapshot and the updates after it are never out of order.
//! * Duplicate routes (both ends dialled) are resolved the same way on both ends: the connection
//!   dialled by the server with the smaller id is kept, so both keep the same one.
//! * A new peer's INFO is forwarded (with its `ip`) to the other routes; servers that receive
//!   such an INFO dial the announced server unless they already have a route to it.
//!
//! Lock order: `Cluster::state` may be held while appending to a route's outbound buffer (so an
//! interest snapshot and the updates after it go out in order); it is never held while taking
//! a connection's `subs` map or the sublist (see the crate documentation).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use nats_proto::route::{Interest, RouteCodec, RouteOp};
use nats_proto::{Close, ProtoError, RouteConnectInfo, ServerInfo};
use rand::Rng;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_util::codec::Decoder;
use tracing::{debug, error, info, trace, warn};

use crate::auth::ClientPermissions;
use crate::conn::outbound::{run_writer, Deadline, WriterEnd};
use crate::conn::{ClientShared, CloseReason, Kind, Subscription};
use crate::deliver::{Fanout, Msg, Origin};
use crate::listen::{bind_or_log, next_connection};
use crate::server::{Server, GO_VERSION, VERSION};

mod connection;
mod dial;
mod url;

use connection::run;
use dial::{dial_explicit, dial_implicit, End};
pub use url::RouteUrl;

/// Delay between dial attempts of a route.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// A registered route.
struct Registered {
    shared: Arc<ClientShared>,
    info: ServerInfo,
    /// We dialled it.
    solicited: bool,
    /// We dialled it from a configured route URL (not one learned by gossip).
    configured: bool,
}

/// A registered route as monitoring sees it (`/routez`, `/metrics`, `/healthz?cluster=1`).
pub struct RouteView {
    /// The connection (counters, subscriptions, addresses).
    pub shared: Arc<ClientShared>,
    /// The peer's server id.
    pub remote_id: String,
    /// We dialled it.
    pub did_solicit: bool,
    /// We dialled it from a configured route URL.
    pub configured: bool,
    /// The cluster port the peer announced in its INFO.
    pub remote_port: u16,
}

/// What local interest is counted by: account, subject and queue group.
type InterestKey = (Bytes, Bytes, Option<Bytes>);

#[derive(Default)]
struct State {
    routes: HashMap<String, Registered>,
    /// Local interest: (account, subject, queue) → number of local subscriptions.
    interest: HashMap<InterestKey, u32>,
    /// Client URLs of peers, reference counted, in arrival order.
    peer_urls: Vec<(String, u32)>,
    /// Websocket URLs of peers, the same way.
    peer_ws_urls: Vec<(String, u32)>,
    /// Peers with an implicit dial in progress.
    dialing: HashSet<String>,
}

/// The cluster side of a server.
pub struct Cluster {
    name: RwLock<String>,
    dynamic: AtomicBool,
    /// The bound cluster address.
    pub listen: SocketAddr,
    advertise: Option<String>,
    auth: Option<(String, String)>,
    auth_timeout: Duration,
    no_advertise: bool,
    connect_retries: u32,
    configured: Vec<RouteUrl>,
    /// Route TLS (`cluster { tls {} }`): both sides handshake before anything else.
    tls: Option<Arc<crate::tls::RouteTls>>,
    /// `cluster { permissions }`: publish rules are `import`, subscribe rules `export`.
    permissions: Option<Arc<ClientPermissions>>,
    state: Mutex<State>,
    changed: Notify,
}

impl Cluster {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cluster name.
    pub fn name(&self) -> String {
        self.name.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Number of registered routes.
    pub fn num_routes(&self) -> usize {
        self.lock().routes.len()
    }

    /// Whether client INFOs carry peer URLs.
    pub fn advertises(&self) -> bool {
        !self.no_advertise
    }

    /// The registered routes, for monitoring.
    pub fn route_views(&self) -> Vec<RouteView> {
        self.lock()
            .routes
            .iter()
            .map(|(id, r)| RouteView {
                shared: r.shared.clone(),
                remote_id: id.clone(),
                did_solicit: r.solicited,
                configured: r.configured,
                remote_port: r.info.port,
            })
            .collect()
    }

    /// The explicitly configured route URLs.
    pub fn configured_routes(&self) -> &[RouteUrl] {
        &self.configured
    }

    /// Whether `addr` is this server's own cluster address (a configured route to ourselves).
    pub fn is_own_route_address(&self, addr: SocketAddr) -> bool {
        self.is_own_address(addr)
    }

    /// Peer client URLs, in arrival order.
    pub fn peer_urls(&self) -> Vec<String> {
        self.lock()
            .peer_urls
            .iter()
            .map(|(u, _)| u.clone())
            .collect()
    }

    /// Peer websocket URLs, in arrival order.
    pub fn peer_ws_urls(&self) -> Vec<String> {
        self.lock()
            .peer_ws_urls
            .iter()
            .map(|(u, _)| u.clone())
            .collect()
    }

    /// Whether `addr` is this server's own cluster address (so a route to it is a route to
    /// ourselves).
    fn is_own_address(&self, addr: SocketAddr) -> bool {
        if addr.port() != self.listen.port() {
            return false;
        }
        if !self.listen.ip().is_unspecified() {
            return addr.ip() == self.listen.ip();
        }
        addr.ip().is_loopback()
            || if_addrs::get_if_addrs()
                .unwrap_or_default()
                .iter()
                .any(|i| i.ip() == addr.ip())
    }

    /// The id of a registered peer whose cluster address is `addr`, if any.
    fn routed_to(&self, addr: SocketAddr) -> Option<String> {
        self.lock().routes.iter().find_map(|(id, r)| {
            let host_ip = r.info.host.parse::<std::net::IpAddr>().ok();
            let same_ip = r.shared.peer.ip() == addr.ip() || host_ip == Some(addr.ip());
            (r.info.port == addr.port() && same_ip).then(|| id.clone())
        })
    }

    fn is_connected(&self, id: &str) -> bool {
        self.lock().routes.contains_key(id)
    }

    /// The INFO this server sends on routes.
    fn route_info(&self, server: &Server) -> ServerInfo {
        let options = server.options();
        let (host, port) = match &self.advertise {
            Some(adv) => match adv.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), p.parse().unwrap_or(self.listen.port())),
                None => (adv.clone(), self.listen.port()),
            },
            None => (self.listen.ip().to_string(), self.listen.port()),
        };
        let nonce = crate::auth::nonce();
        ServerInfo {
            server_id: server.id.clone(),
            server_name: server.name.clone(),
            version: VERSION.into(),
            proto: 2,
            go: GO_VERSION.into(),
            host,
            port,
            headers: !options.no_header_support,
            auth_required: self.auth.is_some(),
            tls_required: self.tls.is_some(),
            tls_verify: self.tls.is_some(),
            max_payload: options.max_payload as i64,
            ip: self
                .advertise
                .as_ref()
                .map(|a| format!("nats-route://{a}/"))
                .unwrap_or_default(),
            nonce,
            cluster: self.name(),
            cluster_dynamic: self.dynamic.load(Ordering::Relaxed),
            connect_urls: if self.no_advertise {
                Vec::new()
            } else {
                server.own_client_urls()
            },
            ws_connect_urls: if self.no_advertise {
                Vec::new()
            } else {
                server.own_websocket_urls()
            },
            ..ServerInfo::default()
        }
    }

    /// Sends our INFO with `ldm: true` to every route, so peers stop handing out our URL.
    pub fn announce_lame_duck(&self, server: &Server) {
        let mut line = BytesMut::new();
        ServerInfo {
            ldm: true,
            ..self.route_info(server)
        }
        .encode(&mut line);
        for r in self.lock().routes.values() {
            r.shared.out.send(&line);
        }
    }

    /// Removes a peer's client and websocket URLs (it entered lame duck mode) and reports
    /// whether any went.
    fn forget_peer_urls(&self, urls: &[String], ws_urls: &[String]) -> bool {
        let mut st = self.lock();
        let before = st.peer_urls.len() + st.peer_ws_urls.len();
        st.peer_urls.retain(|(u, _)| !urls.contains(u));
        st.peer_ws_urls.retain(|(u, _)| !ws_urls.contains(u));
        before != st.peer_urls.len() + st.peer_ws_urls.len()
    }

    /// Whether the routes may hear of interest in `subject` and send us its messages
    /// (`import`).
    fn imports(&self, subject: &[u8]) -> bool {
        self.permissions
            .as_ref()
            .is_none_or(|p| p.can_publish(subject))
    }

    /// Books a change of local interest and tells every route when it matters. Interest
    /// outside `import` is not booked at all, so no route ever hears of it.
    pub fn local_interest(
        &self,
        account: &Bytes,
        subject: &Bytes,
        queue: Option<&Bytes>,
        delta: i32,
    ) {
        if !self.imports(subject) {
            return;
        }
        let mut st = self.lock();
        let key = (account.clone(), subject.clone(), queue.cloned());
        let count = st.interest.entry(key.clone()).or_insert(0);
        let before = *count;
        *count = count.saturating_add_signed(delta);
        let after = *count;
        if after == 0 {
            st.interest.remove(&key);
        }
        let mut line = BytesMut::new();
        match queue {
            None if before == 0 && after > 0 => rs_plus(&mut line, account, subject, None),
            None if before > 0 && after == 0 => rs_minus(&mut line, account, subject, None),
            Some(q) if after > 0 && after != before => {
                rs_plus(&mut line, account, subject, Some((q, after)))
            }
            Some(q) if after == 0 && before > 0 => rs_minus(&mut line, account, subject, Some(q)),
            _ => return,
        }
        for r in st.routes.values() {
            if crate::log::trace_enabled() {
                trace!(
                    "{}->> [{}]",
                    r.shared.prefix,
                    String::from_utf8_lossy(&line[..line.len() - 2])
                );
            }
            r.shared.out.send(&line);
        }
    }
}

/// Our interest in `subject` (and `queue`, with its weight) in `account`, as `RS+`.
fn rs_plus(dst: &mut BytesMut, account: &Bytes, subject: &Bytes, queue: Option<(&Bytes, u32)>) {
    RouteOp::Sub(Interest {
        account: account.clone(),
        subject: subject.clone(),
        queue: queue.map(|(q, _)| q.clone()),
        weight: queue.map_or(0, |(_, w)| w),
    })
    .encode(dst);
}

/// The end of our interest in `subject` (and `queue`) in `account`, as `RS-`.
fn rs_minus(dst: &mut BytesMut, account: &Bytes, subject: &Bytes, queue: Option<&Bytes>) {
    RouteOp::Unsub(Interest {
        account: account.clone(),
        subject: subject.clone(),
        queue: queue.cloned(),
        weight: 0,
    })
    .encode(dst);
}

/// A random 22-character cluster name, like nats-server's NUID.
fn dynamic_name() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    (0..22)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Binds the cluster port and starts accepting and dialling routes. Called once the client
/// side is ready.
pub async fn start(server: &Arc<Server>) -> std::io::Result<Option<Arc<Cluster>>> {
    let options = server.options();
    let c = &options.cluster;
    if c.port == 0 {
        return Ok(None);
    }
    let (name, dynamic) = match &c.name {
        Some(n) => (n.clone(), false),
        None => (dynamic_name(), true),
    };
    let port = if c.port == -1 { 0 } else { c.port };
    let host = if c.host.is_empty() {
        "0.0.0.0"
    } else {
        &c.host
    };
    let tls = crate::tls::loaded(c.tls.as_ref().map(crate::tls::RouteTls::new))?;
    // nats-server words this one differently from the client listener's.
    let bound = bind_or_log(host, port, |e| {
        format!("Error listening on router port: {port} - {e}")
    })
    .await?;
    let (listener, listen) = (bound.listener, bound.addr);
    let configured = c
        .routes
        .iter()
        .filter_map(|r| {
            let parsed = RouteUrl::parse(r);
            if parsed.is_none() {
                warn!("Ignoring invalid route URL {r:?}");
            }
            parsed
        })
        .collect::<Vec<_>>();
    let cluster = Arc::new(Cluster {
        name: RwLock::new(name.clone()),
        dynamic: AtomicBool::new(dynamic),
        listen,
        advertise: c.advertise.clone(),
        auth: c
            .user
            .clone()
            .map(|u| (u, c.password.clone().unwrap_or_default())),
        auth_timeout: c.auth_timeout.unwrap_or(Duration::from_secs(2)),
        no_advertise: c.no_advertise,
        connect_retries: c.connect_retries,
        configured: configured.clone(),
        tls,
        permissions: c
            .permissions
            .as_ref()
            .map(|p| Arc::new(ClientPermissions::compile(p))),
        state: Mutex::new(State::default()),
        changed: Notify::new(),
    });
    info!("Cluster name is {name}");
    if dynamic {
        warn!("Cluster name was dynamically generated, consider setting one");
    }
    info!("Listening for route connections on {listen}");
    server.spawn(accept_loop(server.clone(), cluster.clone(), listener));
    for url in configured {
        server.spawn(dial_explicit(server.clone(), cluster.clone(), url));
    }
    Ok(Some(cluster))
}

async fn accept_loop(server: Arc<Server>, cluster: Arc<Cluster>, listener: TcpListener) {
    let stop = server.shutdown_token().clone();
    while let Some((stream, peer)) = next_connection(&listener, &stop, "route").await {
        let rid = server.next_id();
        let (task_server, cluster) = (server.clone(), cluster.clone());
        server.spawn(async move {
            let server = task_server;
            let tls = cluster.tls.clone();
            let accepted = crate::tls::accept_route(tls.as_deref(), stream, peer, rid);
            if let Some(stream) = accepted.await {
                run(server, cluster, stream, peer, rid, None).await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interest_lines_are_nats_server_route_protocol() {
        let mut line = BytesMut::new();
        let subject = Bytes::from_static(b"foo.>");
        let queue = Bytes::from_static(b"workers");
        let (global, other) = (Bytes::from_static(b"$G"), Bytes::from_static(b"ACC"));
        rs_plus(&mut line, &global, &subject, None);
        rs_plus(&mut line, &global, &subject, Some((&queue, 3)));
        rs_minus(&mut line, &other, &subject, Some(&queue));
        rs_minus(&mut line, &other, &subject, None);
        assert_eq!(
            &line[..],
            b"RS+ $G foo.>\r\nRS+ $G foo.> workers 3\r\nRS- ACC foo.> workers\r\nRS- ACC foo.>\r\n"
        );
    }
}
