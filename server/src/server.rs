//! The server: shared state, the client listener, start-up, reload and shutdown.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::SystemTime;

use nats_proto::ServerInfo;
use rand::Rng;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use crate::account::Accounts;
use crate::auth::Auth;
use crate::client::serve;
use crate::conn::{ClientShared, Kind, Subscription};
use crate::listen::{bind_clients, next_connection};
use crate::options::Options;
use crate::route::Cluster;
use crate::stats::Stats;
use crate::sublist::InvalidSubject;

/// The nats-server version whose behaviour we implement (INFO `version`, `-v`).
pub const VERSION: &str = "2.9.10";
/// The `go` field of INFO, which clients expect to be present.
pub const GO_VERSION: &str = "go1.19.8";

/// A running server.
pub struct Server {
    /// Server id (`N…`, 56 characters like an nkey).
    pub id: String,
    /// Server name (the id unless configured).
    pub name: String,
    options: RwLock<Arc<Options>>,
    auth: RwLock<Arc<Auth>>,
    /// The websocket clients' authentication settings, when a websocket listener exists.
    ws_auth: RwLock<Option<Arc<Auth>>>,
    /// The websocket listener's address, when configured.
    websocket_addr: Option<SocketAddr>,
    /// The accounts, each with its own subject index.
    pub accounts: Accounts,
    clients: Mutex<HashMap<u64, Arc<ClientShared>>>,
    next_cid: AtomicU64,
    /// Traffic counters.
    pub stats: Stats,
    shutdown: CancellationToken,
    client_addr: SocketAddr,
    /// When the server started.
    pub start_time: SystemTime,
    /// The cluster side, when clustering is configured.
    pub cluster: OnceLock<Arc<Cluster>>,
    /// Bumped whenever the client connect URLs change (routes come and go).
    urls_generation: AtomicU64,
    /// A route has been registered at least once: client INFOs carry `connect_urls` from now on.
    had_route: AtomicBool,
    /// Lame duck mode: no new clients, INFOs say `ldm`.
    lame_duck: AtomicBool,
    /// Gives freed memory back to the system after bursts of closed connections.
    trimmer: crate::memory::Trimmer,
    /// Stops the client listener (lame duck mode).
    stop_accepting: CancellationToken,
    /// Hears of closed connections and reloads (monitoring, when configured).
    observer: Option<Arc<dyn Observer>>,
    /// Every task the server spawns (listeners, connections, writers, dial loops), so that
    /// shutdown can wait for them instead of sleeping.
    tasks: TaskTracker,
}

/// A random server id in nats-server's form: `N` and 55 base32 characters.
fn new_server_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut rng = rand::rng();
    std::iter::once('N')
        .chain((0..55).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char))
        .collect()
}

/// Told what happens to connections and to the configuration, by a server that does not
/// depend on who listens (monitoring implements it).
pub trait Observer: Send + Sync {
    /// A client connection closed; its subscriptions are still there to be looked at.
    fn connection_closed(&self, conn: &ClientShared);
    /// The configuration was reloaded.
    fn config_reloaded(&self);
}

/// Who a server is: its id and name, chosen and announced before anything listens.
pub struct Identity {
    /// Server id.
    pub id: String,
    /// Server name.
    pub name: String,
}

impl Server {
    /// Chooses the server's id and logs the start-up banner (version, name, id, warnings), the
    /// first lines nats-server prints.
    pub fn announce(options: &Options) -> Identity {
        let id = new_server_id();
        let name = options.server_name.clone().unwrap_or_else(|| id.clone());
        info!("Starting nats-server");
        info!("  Version:  {VERSION}");
        info!("  Git:      [not set]");
        if let Some(cluster) = &options.cluster.name {
            info!("  Cluster:  {cluster}");
        }
        info!("  Name:     {name}");
        info!("  ID:       {id}");
        for warning in &options.warnings {
            warn!("{warning}");
        }
        if has_plain_passwords(options) {
            warn!("Plaintext passwords detected, use nkeys or bcrypt");
        }
        if let Some(file) = &options.config_file {
            info!("Using configuration file: {}", file.display());
        }
        crate::operator::announce(options);
        Identity { id, name }
    }

    /// Binds the client listener, starts the cluster side and starts accepting clients.
    /// `observer` (monitoring) hears of every connection from the first one on.
    pub async fn start(
        identity: Identity,
        options: Options,
        observer: Option<Arc<dyn Observer>>,
    ) -> std::io::Result<Arc<Server>> {
        let Identity { id, name } = identity;
        // Loaded before listening so a certificate problem stops the start like nats-server.
        let client_tls = crate::tls::loaded(options.tls.as_ref().map(crate::tls::ClientTls::new))?;
        // nats-server starts its websocket listener before the client one.
        let websocket = match &options.websocket {
            Some(ws) => Some(Arc::new(crate::websocket::Listener::bind(ws).await?)),
            None => None,
        };
        let bound = bind_clients(&options.host, options.port).await?;
        let (listener, client_addr) = (bound.listener, bound.addr);
        info!("Listening for client connections on {client_addr}");
        if client_tls.is_some() {
            info!("TLS required for client connections");
        }
        let first_cid = if options.no_system_account { 1 } else { 4 };
        let shutdown = CancellationToken::new();
        let accounts = Accounts::from_options(&options);
        let server = Arc::new(Server {
            id,
            name,
            auth: RwLock::new(Arc::new(Auth::from_options(&options))),
            ws_auth: RwLock::new(Auth::for_websocket(&options).map(Arc::new)),
            websocket_addr: websocket.as_ref().map(|w| w.addr),
            options: RwLock::new(Arc::new(options)),
            accounts,
            clients: Mutex::new(HashMap::new()),
            next_cid: AtomicU64::new(first_cid),
            stats: Stats::default(),
            shutdown: shutdown.clone(),
            client_addr,
            start_time: SystemTime::now(),
            cluster: OnceLock::new(),
            urls_generation: AtomicU64::new(0),
            had_route: AtomicBool::new(false),
            lame_duck: AtomicBool::new(false),
            trimmer: crate::memory::Trimmer::default(),
            // A child of the shutdown: lame duck mode stops accepting early, shutdown always.
            stop_accepting: shutdown.child_token(),
            observer,
            tasks: TaskTracker::new(),
        });
        server.write_files();
        info!("Server is ready");
        // The cluster side exists before the first client is accepted (connections wait in
        // the listen backlog meanwhile), so every subscription is booked as route interest.
        if let Some(cluster) = crate::route::start(&server).await? {
            for exporter in server.accounts.all() {
                // Responses to requests this server mapped into an exporter come back here,
                // wherever the responder is.
                if let Some(responses) = exporter.responses() {
                    cluster.local_interest(&exporter.name, &responses.wildcard(), None, 1);
                }
            }
            let _ = server.cluster.set(cluster);
        }
        if let Some(every) = server.accounts.response_sweep_interval() {
            server.spawn(sweep_responses(server.clone(), every));
        }
        server.spawn({
            let server = server.clone();
            async move { server.trimmer.run(server.shutdown.clone()).await }
        });
        server.spawn(accept_loop(server.clone(), listener, client_tls));
        if let Some(websocket) = websocket {
            server.spawn(websocket.accept_loop(server.clone()));
        }
        Ok(server)
    }

    /// Who hears of closed connections and reloads, if anyone.
    pub fn observer(&self) -> Option<&Arc<dyn Observer>> {
        self.observer.as_ref()
    }

    /// Spawns a task the server tracks: shutdown waits for it (see [`Server::wait_tasks`]).
    pub fn spawn<F>(&self, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tasks.spawn(task)
    }

    /// After [`Server::shutdown`]: waits until every tracked task has finished (connections
    /// flushed and closed, listeners dropped), for at most `limit`. False when some task was
    /// still running at the limit.
    pub async fn wait_tasks(&self, limit: std::time::Duration) -> bool {
        self.tasks.close();
        tokio::time::timeout(limit, self.tasks.wait()).await.is_ok()
    }

    /// The shared half of a new connection: closed with the server, buffering at most
    /// `max_pending` bytes.
    pub fn new_connection(&self, id: u64, kind: Kind, peer: SocketAddr) -> Arc<ClientShared> {
        Arc::new(ClientShared::new(
            &self.shutdown,
            id,
            kind,
            peer,
            self.options().max_pending,
        ))
    }

    /// The next connection id (clients and routes share the counter, as in nats-server).
    pub fn next_id(&self) -> u64 {
        self.next_cid.fetch_add(1, Ordering::Relaxed)
    }

    /// This server's own client URLs (`host:port`): the advertised address, or the listen
    /// address, or every non-loopback interface address when listening on all interfaces.
    pub fn own_client_urls(&self) -> Vec<String> {
        let options = self.options();
        crate::listen::reachable_urls(options.client_advertise.as_deref(), self.client_addr)
    }

    /// Where websocket clients reach this server (`host:port`), if it listens for them.
    pub fn own_websocket_urls(&self) -> Vec<String> {
        match (&self.options().websocket, self.websocket_addr) {
            (Some(ws), Some(addr)) => crate::listen::reachable_urls(ws.advertise.as_deref(), addr),
            _ => Vec::new(),
        }
    }

    /// The websocket listener's address, if one is configured.
    pub fn websocket_addr(&self) -> Option<SocketAddr> {
        self.websocket_addr
    }

    /// The `connect_urls` of a websocket client: our websocket URLs, then every peer's
    /// (only once clustered), as nats-server gives them.
    pub fn websocket_connect_urls(&self) -> Vec<String> {
        self.clustered_urls(|| self.own_websocket_urls(), Cluster::peer_ws_urls)
    }

    /// Cancelled when the listeners stop accepting (lame duck mode, shutdown).
    pub fn accept_stop_token(&self) -> CancellationToken {
        self.stop_accepting.clone()
    }

    /// The client `connect_urls`: our own, then every peer's (only once clustered).
    pub fn client_connect_urls(&self) -> Vec<String> {
        self.clustered_urls(|| self.own_client_urls(), Cluster::peer_urls)
    }

    /// `own` URLs then the peers' (each once), when clustered and a route has been up;
    /// otherwise none (a lone server gives clients no `connect_urls`).
    fn clustered_urls(
        &self,
        own: impl FnOnce() -> Vec<String>,
        peers: fn(&Cluster) -> Vec<String>,
    ) -> Vec<String> {
        let Some(cluster) = self.cluster.get() else {
            return Vec::new();
        };
        if !self.had_route.load(Ordering::Relaxed) {
            return Vec::new();
        }
        let mut urls = own();
        if cluster.advertises() {
            for url in peers(cluster) {
                if !urls.contains(&url) {
                    urls.push(url);
                }
            }
        }
        urls
    }

    /// The generation of the client URL set.
    pub fn client_urls_generation(&self) -> u64 {
        self.urls_generation.load(Ordering::Relaxed)
    }

    /// Routes came or went: bump the URL generation and send an async INFO to every
    /// protocol-1 client that has completed its first PING.
    pub fn client_urls_changed(&self) {
        // Routes closing because we are shutting down are no news to clients: an INFO listing
        // only this server would make clients that prune their pool forget the live ones.
        if self.shutdown.is_cancelled() {
            return;
        }
        self.had_route.store(true, Ordering::Relaxed);
        self.urls_generation.fetch_add(1, Ordering::Relaxed);
        let clients: Vec<Arc<ClientShared>> = self
            .clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|c| c.async_info.load(Ordering::Relaxed))
            .cloned()
            .collect();
        for c in clients {
            c.out.send(&self.client_info(&c, None));
        }
    }

    /// The address clients connect to.
    pub fn client_addr(&self) -> SocketAddr {
        self.client_addr
    }

    /// The options in force.
    pub fn options(&self) -> Arc<Options> {
        self.options
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The authentication settings in force.
    pub fn auth(&self) -> Arc<Auth> {
        self.auth.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The authentication settings for `conn`: a websocket client's are the websocket
    /// block's (its own user, token and `no_auth_user` override the top-level ones).
    pub fn auth_for(&self, conn: &ClientShared) -> Arc<Auth> {
        if conn.websocket {
            if let Some(auth) = self
                .ws_auth
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
            {
                return auth;
            }
        }
        self.auth()
    }

    /// How long `conn` may take to send its CONNECT: the websocket block's own timeout for
    /// a websocket client, when it sets one.
    pub fn auth_timeout_for(&self, conn: &ClientShared) -> std::time::Duration {
        let options = self.options();
        let ws = options.websocket.as_ref().and_then(|w| w.auth_timeout);
        match ws {
            Some(timeout) if conn.websocket => timeout,
            _ => options.auth_timeout(),
        }
    }

    /// Cancelled when the server shuts down; connections hold child tokens.
    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// The INFO line for a client connection, with the `nonce` it is to sign, if any, and the
    /// connection's own `max_payload` when an account or a user JWT lowered it.
    pub fn client_info(&self, conn: &ClientShared, nonce: Option<&str>) -> Vec<u8> {
        self.client_info_flagged(conn, nonce, false)
    }

    /// [`Server::client_info`], with `ldm` set for the one INFO that announces lame duck mode
    /// (nats-server sets it on that INFO only: later topology INFOs go without it).
    fn client_info_flagged(&self, conn: &ClientShared, nonce: Option<&str>, ldm: bool) -> Vec<u8> {
        let max_payload = match conn.lowered_payload.load(Ordering::Relaxed) {
            0 => None,
            lowered => Some(lowered),
        };
        let (cid, peer) = (conn.cid, conn.peer);
        let options = self.options();
        let (host, port) = match &options.client_advertise {
            Some(adv) => match adv.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), p.parse().unwrap_or(self.client_addr.port())),
                None => (adv.clone(), self.client_addr.port()),
            },
            None => (options.host.clone(), self.client_addr.port()),
        };
        let info = ServerInfo {
            server_id: self.id.clone(),
            server_name: self.name.clone(),
            version: VERSION.into(),
            proto: 1,
            go: GO_VERSION.into(),
            host,
            port,
            headers: !options.no_header_support,
            auth_required: self.auth_for(conn).advertised(),
            tls_required: options.tls.is_some() && !options.allow_non_tls,
            tls_available: options.tls.is_some() && options.allow_non_tls,
            tls_verify: options.tls.as_ref().is_some_and(|t| t.verify),
            max_payload: max_payload.unwrap_or(options.max_payload) as i64,
            client_id: cid,
            client_ip: peer.ip().to_string(),
            cluster: self.cluster.get().map(|c| c.name()).unwrap_or_default(),
            // A websocket client is told of the websocket URLs, as nats-server tells it.
            connect_urls: match conn.websocket {
                true => self.websocket_connect_urls(),
                false => self.client_connect_urls(),
            },
            nonce: nonce.unwrap_or_default().to_string(),
            ..ServerInfo::default()
        };
        let info = if self.lame_duck.load(Ordering::Relaxed) {
            // Point clients elsewhere: only the other servers' URLs, in every INFO from now on.
            let own = match conn.websocket {
                true => self.own_websocket_urls(),
                false => self.own_client_urls(),
            };
            ServerInfo {
                ldm,
                connect_urls: info
                    .connect_urls
                    .into_iter()
                    .filter(|u| !own.contains(u))
                    .collect(),
                ..info
            }
        } else {
            info
        };
        let mut out = bytes::BytesMut::new();
        info.encode(&mut out);
        out.to_vec()
    }

    /// Adds a connection; false when `max_connections` is reached.
    pub fn register(&self, client: Arc<ClientShared>) -> bool {
        let max = self.options().max_connections;
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if clients.len() >= max {
            return false;
        }
        clients.insert(client.cid, client);
        self.stats.total_connections.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Removes a closed connection.
    pub fn unregister(&self, client: &ClientShared) {
        self.clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&client.cid);
        self.trimmer.connection_closed();
    }

    /// The open client connections (for monitoring; a copy, so no lock is held after).
    pub fn client_list(&self) -> Vec<Arc<ClientShared>> {
        self.clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Number of client connections.
    pub fn num_clients(&self) -> usize {
        self.clients.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Inserts a client's subscription into the index and tells the routes; where its
    /// account imports streams on its subjects, shadows of it go into the exporters'
    /// indexes too (and their interest to the routes, as the exporters').
    pub fn add_subscription(&self, sub: &Arc<Subscription>) -> Result<(), InvalidSubject> {
        sub.index
            .insert(&sub.subject, sub.queue.as_deref(), 1, sub.clone())?;
        if sub.client.kind == Kind::Client {
            self.book_interest(sub, 1);
            if let Some(account) = self.accounts.get(&sub.account) {
                if !account.stream_imports().is_empty() {
                    let _ = sub.shadows.set(self.add_shadows(sub, account));
                }
            }
        }
        Ok(())
    }

    /// Adds shadows of `sub` in the exporters of the streams `account` imports that its
    /// filter takes. One level, as nats-server: a shadow gets no shadows of its own, so a
    /// stream does not flow on through an importer that exports it again.
    fn add_shadows(
        &self,
        sub: &Arc<Subscription>,
        account: &crate::account::Account,
    ) -> Box<[Arc<Subscription>]> {
        let mut shadows = Vec::new();
        for import in account.stream_imports() {
            let Some(subject) = import.shadow_subject(&sub.subject) else {
                continue;
            };
            let shadow = Arc::new(Subscription::shadow(
                sub,
                import.from.for_subscription(),
                subject,
                import.rename.clone(),
            ));
            if shadow
                .index
                .insert(&shadow.subject, shadow.queue.as_deref(), 1, shadow.clone())
                .is_ok()
            {
                self.book_interest(&shadow, 1);
                shadows.push(shadow);
            }
        }
        shadows.into_boxed_slice()
    }

    /// Tells the routes of a change in a client subscription's interest.
    fn book_interest(&self, sub: &Subscription, delta: i32) {
        if let Some(cluster) = self.cluster.get() {
            cluster.local_interest(&sub.account, &sub.subject, sub.queue.as_ref(), delta);
        }
    }

    /// Removes a subscription from the index only (its connection is closing), telling the
    /// routes when it was a client's.
    pub fn remove_from_index(&self, sub: &Arc<Subscription>) {
        let removed = sub.index.remove(&sub.subject, sub.queue.as_deref(), sub);
        if removed && sub.client.kind == Kind::Client {
            self.book_interest(sub, -1);
        }
        for shadow in sub.shadows.get().into_iter().flatten() {
            if shadow
                .index
                .remove(&shadow.subject, shadow.queue.as_deref(), shadow)
            {
                self.book_interest(shadow, -1);
            }
        }
    }

    /// Removes a subscription from the index and from its connection.
    pub fn remove_subscription(&self, sub: &Arc<Subscription>) {
        self.remove_from_index(sub);
        sub.forget();
    }

    /// Lame duck mode: stop accepting clients, tell routes and clients, then close the clients
    /// spread over `lame_duck_duration` after `lame_duck_grace_period`, and shut down.
    pub async fn enter_lame_duck(&self) {
        if self.lame_duck.swap(true, Ordering::Relaxed) {
            return;
        }
        info!("Entering lame duck mode, stop accepting new clients");
        self.stop_accepting.cancel();
        if let Some(cluster) = self.cluster.get() {
            cluster.announce_lame_duck(self);
        }
        let clients: Vec<Arc<ClientShared>> = self
            .clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        // Only clients that take async INFOs hear of it, as of any other topology change.
        for c in clients
            .iter()
            .filter(|c| c.async_info.load(Ordering::Relaxed))
        {
            c.out.send(&self.client_info_flagged(c, None, true));
        }
        let options = self.options();
        tokio::select! {
            _ = tokio::time::sleep(options.lame_duck_grace_period) => {}
            _ = self.shutdown.cancelled() => return,
        }
        info!("Closing existing clients");
        let spread = options
            .lame_duck_duration
            .saturating_sub(options.lame_duck_grace_period);
        let pause = spread / (clients.len().max(1) as u32);
        for c in clients {
            c.close(crate::conn::CloseReason::ServerShutdown, false);
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = self.shutdown.cancelled() => return,
            }
        }
    }

    /// Closes every connection and stops accepting.
    pub fn shutdown(&self) {
        info!("Initiating Shutdown...");
        self.shutdown.cancel();
        if let Some(pid) = &self.options().pid_file {
            // Only a regular file we wrote; never a device or a directory named by mistake.
            if std::fs::symlink_metadata(pid).is_ok_and(|m| m.file_type().is_file()) {
                let _ = std::fs::remove_file(pid);
            }
        }
    }

    /// Applies a reloaded configuration: logging, limits and authorization take effect at once
    /// (limits for new connections); listen addresses and clustering need a restart.
    pub fn reload(&self, new: Options) {
        let old = self.options();
        // The accounts and their imports are built once; a reload that changed them would
        // leave users pointing at accounts that do not exist. Refused as a whole.
        if new.accounts != old.accounts
            || new.system_account != old.system_account
            || new.no_system_account != old.no_system_account
        {
            error!("Failed to reload server configuration: changing accounts requires a restart");
            return;
        }
        if new.host != old.host || new.port != old.port {
            warn!("Reload: changing the client listen address requires a restart");
        }
        if new.cluster != old.cluster {
            warn!("Reload: changing the cluster configuration requires a restart");
        }
        crate::log::configure(new.debug, new.trace, new.logtime);
        if new.log_file != old.log_file {
            if let Err(e) = crate::log::set_file(new.log_file.as_deref()) {
                error!("Failed to reload server configuration: {e}");
                return;
            }
        }
        for (name, changed) in [
            ("debug", new.debug != old.debug),
            ("trace", new.trace != old.trace),
            ("logtime", new.logtime != old.logtime),
            ("max_payload", new.max_payload != old.max_payload),
            (
                "max_control_line",
                new.max_control_line != old.max_control_line,
            ),
            ("max_pending", new.max_pending != old.max_pending),
            (
                "max_connections",
                new.max_connections != old.max_connections,
            ),
            ("ping_interval", new.ping_interval != old.ping_interval),
            ("write_deadline", new.write_deadline != old.write_deadline),
            ("authorization", new.authorization != old.authorization),
        ] {
            if changed {
                info!("Reloaded: {name}");
            }
        }
        let mut keep = new;
        keep.host = old.host.clone();
        keep.port = old.port;
        keep.cluster = old.cluster.clone();
        if keep.tls != old.tls {
            // The acceptor was built at start-up; INFO must keep describing it.
            warn!("Reload: changing the TLS configuration requires a restart");
            keep.tls = old.tls.clone();
        }
        // After the TLS settings are settled: `verify_and_map` stays what the acceptor does.
        if keep.websocket != old.websocket {
            // The listener, its TLS and its origins were set up at start-up.
            warn!("Reload: changing the websocket configuration requires a restart");
            keep.websocket = old.websocket.clone();
        }
        *self.auth.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(Auth::from_options(&keep));
        *self.ws_auth.write().unwrap_or_else(|e| e.into_inner()) =
            Auth::for_websocket(&keep).map(Arc::new);
        *self.options.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keep);
        if let Some(observer) = &self.observer {
            observer.config_reloaded();
        }
        info!("Reloaded server configuration");
    }

    fn write_files(&self) {
        let options = self.options();
        if let Some(pid) = &options.pid_file {
            if let Err(e) = std::fs::write(pid, std::process::id().to_string()) {
                error!("Could not write pidfile: {e}");
            }
        }
        if let Some(dir) = &options.ports_file_dir {
            let exe = std::env::current_exe()
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "gnatsd".into());
            let path = dir.join(format!("{exe}_{}.ports", std::process::id()));
            let body = serde_json::json!({
                "nats": [format!("nats://{}", self.client_addr)],
            });
            if let Err(e) = std::fs::write(&path, body.to_string()) {
                error!("Error writing ports file ({}): {e}", path.display());
            }
        }
    }
}

impl crate::deliver::Hub for Server {
    fn stats(&self) -> &Stats {
        &self.stats
    }

    fn unsubscribe(&self, sub: &Arc<Subscription>) {
        self.remove_subscription(sub);
    }

    fn names(&self) -> (&str, String) {
        let cluster = self.cluster.get().map(|c| c.name()).unwrap_or_default();
        (&self.name, cluster)
    }
}

fn has_plain_passwords(options: &Options) -> bool {
    let a = &options.authorization;
    a.password
        .as_deref()
        .is_some_and(|p| !crate::auth::is_bcrypt(p))
        || a.users.iter().any(|u| {
            // As nats-server: a user without a password logs in by certificate under
            // `verify_and_map`, so it is no plaintext password.
            let by_cert = u.password.is_empty() && options.tls.as_ref().is_some_and(|t| t.map);
            !by_cert && !crate::auth::is_bcrypt(&u.password)
        })
}

/// Drops the response mappings of service exports that waited past their threshold, every
/// `every`, until the server shuts down.
async fn sweep_responses(server: Arc<Server>, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = server.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = std::time::Instant::now();
        for responses in server.accounts.all().filter_map(|a| a.responses()) {
            responses.sweep(now);
        }
    }
}

async fn accept_loop(
    server: Arc<Server>,
    listener: TcpListener,
    tls: Option<Arc<crate::tls::ClientTls>>,
) {
    // Lame duck mode stops accepting before the shutdown, which cancels this token too.
    let stop = server.stop_accepting.clone();
    while let Some((stream, peer)) = next_connection(&listener, &stop, "client").await {
        let cid = server.next_id();
        // Both paths end in the same generic client code; TLS only adds the plaintext INFO
        // and the handshake in front of it.
        match &tls {
            Some(tls) => server.spawn(crate::client::serve_tls(
                server.clone(),
                tls.clone(),
                stream,
                peer,
                cid,
            )),
            None => server.spawn(serve(server.clone(), stream, peer, cid)),
        };
    }
}
