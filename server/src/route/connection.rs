//! One route connection: the handshake (CONNECT first on accepted routes, INFO both ways),
//! registration, interest (`RS+`/`RS-`), routed messages, pings, gossip, and its cleanup.

use super::*;
use crate::account::Account;
use crate::conn::reader::{read_loop, Connection, Pinger, ReadSize, Tick, Timers};

/// The reader side of one route connection.
struct Route {
    server: Arc<Server>,
    cluster: Arc<Cluster>,
    shared: Arc<ClientShared>,
    codec: RouteCodec,
    fanout: Fanout,
    dialed: Option<RouteUrl>,
    peer_id: Option<String>,
    /// The id this connection is registered under, once registered.
    registered_id: Option<String>,
    self_route: bool,
    timers: Timers,
    /// The account of the last routed message or interest (see [`Route::account`]).
    last_account: Option<Arc<Account>>,
    /// An accepted route has not sent its CONNECT yet: nothing else is acted on before it.
    awaiting_connect: bool,
}

/// Runs one route connection to the end.
pub(super) async fn run<S>(
    server: Arc<Server>,
    cluster: Arc<Cluster>,
    stream: S,
    peer: SocketAddr,
    rid: u64,
    dialed: Option<RouteUrl>,
) -> End
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    // A route buffers at most `max_pending` bytes, like a client: past half of it the
    // publishers sending to it are held back a little (see `deliver`), and a peer that stops
    // reading is closed as a slow consumer at the bound (its queued messages are lost, a
    // dialled route is dialled again) instead of growing without bound.
    let options = server.options();
    let shared = server.new_connection(rid, Kind::Router, peer);
    let write_deadline = options.write_deadline;
    let deadline = Deadline::Progress(write_deadline);
    info!("{}Route connection created", shared.prefix);
    let (mut rd, wr) = tokio::io::split(stream);
    let mut hello = BytesMut::new();
    if let Some(url) = &dialed {
        let (user, pass) = url
            .user
            .clone()
            .or_else(|| cluster.auth.clone())
            .unwrap_or_default();
        let connect = RouteConnectInfo {
            echo: true,
            verbose: false,
            pedantic: false,
            user,
            pass,
            tls_required: cluster.tls.is_some(),
            headers: !server.options().no_header_support,
            name: server.id.clone(),
            cluster: cluster.name(),
            cluster_dynamic: cluster.dynamic.load(Ordering::Relaxed),
            ..RouteConnectInfo::default()
        };
        RouteOp::Connect(Box::new(connect)).encode(&mut hello);
    }
    cluster.route_info(&server).encode(&mut hello);
    shared.out.send(&hello);
    if dialed.is_some() {
        debug!("{}Route connect msg sent", shared.prefix);
    }
    let writer = {
        let shared = shared.clone();
        server.spawn(async move {
            match run_writer(&shared.out, wr, deadline, false).await {
                WriterEnd::Closed => {}
                WriterEnd::Error => shared.close(CloseReason::WriteError, true),
                WriterEnd::Deadline => {
                    info!(
                        "{}Slow Consumer Detected: WriteDeadline of {:?} exceeded",
                        shared.prefix, write_deadline
                    );
                    shared.close(CloseReason::SlowConsumerWriteDeadline, true)
                }
            }
        })
    };
    let now = tokio::time::Instant::now();
    let first_ping = Duration::from_millis(1000 + rand::rng().random_range(0..200u64));
    let auth_deadline =
        (dialed.is_none() && cluster.auth.is_some()).then(|| now + cluster.auth_timeout);
    let mut route = Route {
        server: server.clone(),
        cluster: cluster.clone(),
        shared: shared.clone(),
        codec: RouteCodec::default(),
        fanout: Fanout::default(),
        awaiting_connect: dialed.is_none(),
        dialed,
        peer_id: None,
        registered_id: None,
        self_route: false,
        last_account: None,
        timers: Timers {
            pinger: Pinger::new(first_ping, options.ping_interval, options.ping_max),
            auth_deadline,
        },
    };
    let reason = read_loop(&mut route, &shared, &mut rd, ReadSize::Fixed(64 * 1024)).await;
    shared.close(reason, false);
    let (self_route, peer_id) = (route.self_route, route.peer_id.take());
    // Forgets the peer's interest and the registration (see `Drop for Route`).
    drop(route);
    let _ = writer.await;
    let reason = shared.close_reason().unwrap_or(reason);
    if self_route {
        return End::SelfRoute;
    }
    info!("{}Router connection closed: {reason}", shared.prefix);
    End::Closed(peer_id)
}

/// The cleanup of a route connection lives here, so it runs however the connection's task
/// ends, a panic included.
impl Drop for Route {
    fn drop(&mut self) {
        if self.shared.close_reason().is_none() {
            // Only a task that unwound gets here without a reason.
            error!("{}Route task ended unexpectedly", self.shared.prefix);
            self.shared.close(CloseReason::InternalError, true);
        }
        self.cleanup();
    }
}

impl Route {
    fn authorization_violation(&mut self) -> CloseReason {
        error!("{}authentication error", self.shared.prefix);
        self.send_err("Authorization Violation");
        CloseReason::AuthenticationFailure
    }

    fn protocol_error(&mut self, err: ProtoError) -> CloseReason {
        error!("{}{}", self.shared.prefix, err);
        if let Close::WithErr(text) = err.close() {
            self.send_err(text);
        }
        match err {
            ProtoError::Io(_) => CloseReason::ReadError,
            _ => CloseReason::ProtocolViolation,
        }
    }

    fn handle(&mut self, op: RouteOp) -> Result<(), CloseReason> {
        match op {
            RouteOp::Msg(m) => {
                if crate::log::trace_enabled() {
                    let mut line = BytesMut::new();
                    m.line().write(&mut line);
                    trace!(
                        "{}<<- [{}]",
                        self.shared.prefix,
                        String::from_utf8_lossy(&line[..line.len() - 2])
                    );
                }
                if m.origin().is_some() {
                    return Ok(());
                }
                // We never asked for messages outside `import`; a peer sending them anyway is
                // not believed (nats-server delivers them).
                if !self.cluster.imports(m.subject()) {
                    return Ok(());
                }
                // Taken out and put back, so the per-message path moves the handle instead of
                // counting references.
                let Some(account) = self.take_account(m.account()) else {
                    return Ok(());
                };
                crate::fault::panic_point(m.subject());
                self.fanout.count_in(m.payload().len());
                let msg = Msg {
                    subject: m.subject(),
                    reply: m.reply(),
                    header_size: m.header_size(),
                    total_size: m.total_size(),
                    payload: m.payload(),
                };
                let origin = Origin::Route {
                    queues: m.queue_list(),
                };
                self.fanout.deliver(&*self.server, &account, msg, origin);
                self.last_account = Some(account);
            }
            RouteOp::Sub(i) => {
                self.trace_interest("RS+", &i, true);
                self.remote_sub(i);
            }
            RouteOp::Unsub(i) => {
                self.trace_interest("RS-", &i, false);
                self.remote_unsub(&i);
            }
            RouteOp::LeafSub { .. } | RouteOp::LeafUnsub(_) => {}
            RouteOp::Ping => {
                if crate::log::trace_enabled() {
                    trace!("{}<<- [PING]", self.shared.prefix);
                }
                self.send(b"PONG\r\n");
            }
            RouteOp::Pong => {
                if let Some(rtt) = self.timers.pinger.pong() {
                    self.shared.stats.set_rtt(rtt);
                }
            }
            RouteOp::Ok => {}
            RouteOp::Err(text) => {
                error!(
                    "{}Router Error '{}'",
                    self.shared.prefix,
                    String::from_utf8_lossy(&text)
                );
                return Err(CloseReason::ProtocolViolation);
            }
            // The CONNECT of an accepted route is taken by `process`; a dialled route's peer
            // does not send one, and a repeated one changes nothing.
            RouteOp::Connect(_) => {}
            RouteOp::Info(info) => self.process_info(*info)?,
        }
        Ok(())
    }

    fn trace_interest(&self, verb: &str, i: &Interest, plus: bool) {
        if crate::log::trace_enabled() {
            let queue = match (&i.queue, plus) {
                (Some(q), true) => format!(" {} {}", String::from_utf8_lossy(q), i.weight),
                (Some(q), false) => format!(" {}", String::from_utf8_lossy(q)),
                (None, _) => String::new(),
            };
            trace!(
                "{}<<- [{verb} {} {}{queue}]",
                self.shared.prefix,
                String::from_utf8_lossy(&i.account),
                String::from_utf8_lossy(&i.subject)
            );
        }
    }

    async fn process_connect(&mut self, c: &RouteConnectInfo) -> Result<(), CloseReason> {
        if !c.lang.is_empty() {
            self.send_err("attempted to connect to route port");
            return Err(CloseReason::ProtocolViolation);
        }
        if !c.gateway.is_empty() {
            self.send_err(&format!(
                "Rejecting connection from gateway {:?} on the Route port",
                c.gateway
            ));
            return Err(CloseReason::ProtocolViolation);
        }
        self.timers.auth_deadline = None;
        if let Some((user, pass)) = self.cluster.auth.clone() {
            let authorized = c.user == user
                && {
                    let closing = self.shared.closing().clone();
                    tokio::select! {
                        ok = crate::auth::password_matches(&pass, &c.pass) => ok,
                        _ = closing.cancelled() => {
                            return Err(self.shared.close_reason().unwrap_or(CloseReason::ServerShutdown));
                        }
                    }
                };
            if !authorized {
                return Err(self.authorization_violation());
            }
        }
        self.awaiting_connect = false;
        self.check_cluster_name(&c.cluster, c.cluster_dynamic, true)
    }

    /// nats-server's cluster name rules: a dynamic name yields to a configured one (or to a
    /// higher dynamic one); two different configured names do not mix.
    fn check_cluster_name(
        &mut self,
        theirs: &str,
        their_dynamic: bool,
        reject: bool,
    ) -> Result<(), CloseReason> {
        let ours = self.cluster.name();
        if theirs.is_empty() || theirs == ours {
            return Ok(());
        }
        let our_dynamic = self.cluster.dynamic.load(Ordering::Relaxed);
        if our_dynamic && (!their_dynamic || theirs > ours.as_str()) {
            *self.cluster.name.write().unwrap_or_else(|e| e.into_inner()) = theirs.to_string();
            self.cluster.dynamic.store(their_dynamic, Ordering::Relaxed);
            info!("Cluster name updated to {theirs}");
            return Ok(());
        }
        if our_dynamic || their_dynamic {
            // The other side adopts ours.
            return Ok(());
        }
        if reject {
            self.send_err(&format!(
                "Rejecting connection, cluster name {theirs:?} does not match {ours:?}"
            ));
        }
        error!(
            "{}Rejecting connection, cluster name {theirs:?} does not match {ours:?}",
            self.shared.prefix
        );
        Err(CloseReason::ProtocolViolation)
    }

    fn process_info(&mut self, info: ServerInfo) -> Result<(), CloseReason> {
        if self.peer_id.is_none() {
            return self.handshake(info);
        }
        if Some(&info.server_id) == self.peer_id.as_ref() {
            // An update from the peer itself: in lame duck mode its URLs stop being ours to give.
            if info.ldm
                && self
                    .cluster
                    .forget_peer_urls(&info.connect_urls, &info.ws_connect_urls)
            {
                self.server.client_urls_changed();
            }
            return Ok(());
        }
        self.gossiped(info);
        Ok(())
    }

    /// The first INFO from the peer: identity checks, then registration.
    fn handshake(&mut self, info: ServerInfo) -> Result<(), CloseReason> {
        if info.server_id == self.server.id {
            self.self_route = true;
            return Err(CloseReason::ProtocolViolation);
        }
        if self.dialed.is_some() {
            self.check_cluster_name(&info.cluster, info.cluster_dynamic, false)?;
        }
        if self.dialed.is_none()
            && !info.server_name.is_empty()
            && info.server_name == self.server.name
        {
            error!(
                "{}Remote server has a duplicate name: {:?}",
                self.shared.prefix, info.server_name
            );
            return Err(CloseReason::ProtocolViolation);
        }
        self.shared.headers.store(info.headers, Ordering::Relaxed);
        self.peer_id = Some(info.server_id.clone());
        debug!(
            "{}Registering remote route {:?}",
            self.shared.prefix, info.server_id
        );
        match self.register(info) {
            Some(replaced) => {
                self.registered_id = self.peer_id.clone();
                debug!("{}Sent local subscriptions to route", self.shared.prefix);
                if let Some(old) = replaced {
                    old.close(CloseReason::DuplicateRoute, false);
                }
                self.server.client_urls_changed();
                Ok(())
            }
            None => {
                debug!(
                    "{}Detected duplicate remote route {:?}",
                    self.shared.prefix,
                    self.peer_id.as_deref().unwrap_or("")
                );
                Err(CloseReason::DuplicateRoute)
            }
        }
    }

    /// Registers this route; `None` when a kept duplicate exists, `Some(replaced)` otherwise.
    fn register(&mut self, info: ServerInfo) -> Option<Option<Arc<ClientShared>>> {
        let cluster = self.cluster.clone();
        let mut st = cluster.lock();
        let id = info.server_id.clone();
        let solicited = self.dialed.is_some();
        let configured = self.dialed.as_ref().is_some_and(|d| {
            cluster
                .configured
                .iter()
                .any(|c| c.host_port == d.host_port)
        });
        let mut replaced = None;
        if let Some(existing) = st.routes.get(&id) {
            // Keep the connection dialled by the smaller server id; both ends agree on it.
            let dialer = |s: bool| {
                if s {
                    self.server.id.as_str()
                } else {
                    id.as_str()
                }
            };
            // A real nats-server peer (it advertises `lnoc`, we do not) keeps whichever
            // connection it registered first; do the same with it, or each side could keep a
            // different one and the pair would flap.
            let nats_server_peer = info.lnoc || existing.info.lnoc;
            let keep_new = !nats_server_peer && dialer(solicited) < dialer(existing.solicited);
            if !keep_new {
                return None;
            }
            replaced = Some(existing.shared.clone());
        }
        let remote_ip = self.shared.peer.ip();
        // The new peer's INFO goes to every other route (gossip), so they dial it.
        let mut gossip = info.clone();
        gossip.nonce.clear();
        if gossip.ip.is_empty() {
            gossip.ip = format!("nats-route://{}/", SocketAddr::new(remote_ip, info.port));
        }
        let mut forwarded = BytesMut::new();
        gossip.encode_forwarded(&mut forwarded);
        for (other_id, r) in st.routes.iter() {
            if other_id != &id {
                r.shared.out.send(&forwarded);
            }
        }
        // The whole local interest table, in one write.
        let mut snapshot = BytesMut::new();
        for ((account, subject, queue), count) in st.interest.iter() {
            match queue {
                None => rs_plus(&mut snapshot, account, subject, None),
                Some(q) => rs_plus(&mut snapshot, account, subject, Some((q, *count))),
            }
        }
        if !snapshot.is_empty() {
            self.shared.out.send(&snapshot);
        }
        if replaced.is_none() && !cluster.no_advertise {
            count_urls_in(&mut st.peer_urls, &info.connect_urls);
            count_urls_in(&mut st.peer_ws_urls, &info.ws_connect_urls);
        }
        st.routes.insert(
            id,
            Registered {
                shared: self.shared.clone(),
                info,
                solicited,
                configured,
            },
        );
        drop(st);
        cluster.changed.notify_waiters();
        Some(replaced)
    }

    /// An INFO about a third server: dial it unless we already can reach it.
    fn gossiped(&mut self, info: ServerInfo) {
        let id = info.server_id.clone();
        if id == self.server.id || info.ip.is_empty() {
            return;
        }
        let Some(url) = RouteUrl::parse(&info.ip) else {
            return;
        };
        if self
            .cluster
            .configured
            .iter()
            .any(|c| c.host_port == url.host_port)
        {
            return;
        }
        {
            let mut st = self.cluster.lock();
            if st.routes.contains_key(&id) || !st.dialing.insert(id.clone()) {
                return;
            }
        }
        let url = RouteUrl {
            user: self.cluster.auth.clone(),
            ..url
        };
        self.server.spawn(dial_implicit(
            self.server.clone(),
            self.cluster.clone(),
            id,
            url,
        ));
    }

    fn remote_sub(&mut self, i: Interest) {
        let Some(account) = self.account(&i.account) else {
            debug!(
                "{}Unknown account {:?} for remote subscription on {:?}",
                self.shared.prefix,
                String::from_utf8_lossy(&i.account),
                String::from_utf8_lossy(&i.subject)
            );
            return;
        };
        let permissions = self.cluster.permissions.clone();
        if let Some(p) = &permissions {
            // As nats-server: `export` decides on the subject alone, and a refused RS+ is
            // dropped silently.
            if !p.can_subscribe(&i.subject, None) {
                debug!(
                    "{}Can not export {:?}, ignoring remote subscription request",
                    self.shared.prefix,
                    String::from_utf8_lossy(&i.subject)
                );
                return;
            }
        }
        let key = interest_key(&i);
        let existing = self
            .shared
            .subs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned();
        match existing {
            Some(sub) => {
                if sub.queue.is_some() {
                    // A repeated RS+ for a queue carries the new weight.
                    let _ = sub.index.insert(
                        &sub.subject,
                        sub.queue.as_deref(),
                        i.weight.max(1),
                        sub.clone(),
                    );
                }
            }
            None => {
                // Subject and queue are slices of the key, a copy made for it: one small
                // allocation for all three, and none of them pins the read buffer the
                // interest came in (which a slice of `i` would, for as long as it lasts).
                let subject_at = i.account.len() + 1;
                let subject = key.slice(subject_at..subject_at + i.subject.len());
                let queue = i.queue.as_ref().map(|q| key.slice(key.len() - q.len()..));
                let mut sub = Subscription::new(
                    self.shared.clone(),
                    account.for_subscription(),
                    subject,
                    queue,
                    key.clone(),
                );
                // A wildcard interest overlapping an `export` deny entry gets every message
                // checked against the deny list on its way to the route.
                sub.deny_check = permissions.filter(|p| p.needs_delivery_check(&sub.subject));
                let sub = Arc::new(sub);
                if sub
                    .index
                    .insert(
                        &sub.subject,
                        sub.queue.as_deref(),
                        i.weight.max(1),
                        sub.clone(),
                    )
                    .is_err()
                {
                    self.send_err("Invalid Subscription");
                    return;
                }
                sub.remember();
            }
        }
    }

    fn remote_unsub(&mut self, i: &Interest) {
        let key = interest_key(i);
        let removed = self
            .shared
            .subs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        if let Some(sub) = removed {
            sub.index.remove(&sub.subject, sub.queue.as_deref(), &sub);
        }
    }

    /// The account a peer names, if we have it; the last one found is kept, since a route's
    /// traffic mostly stays in one account for a while.
    fn account(&mut self, name: &[u8]) -> Option<Arc<Account>> {
        let found = self.take_account(name)?;
        self.last_account = Some(found.clone());
        Some(found)
    }

    /// [`Route::account`] without keeping it: the caller puts it back in `last_account`.
    fn take_account(&mut self, name: &[u8]) -> Option<Arc<Account>> {
        match self.last_account.take() {
            Some(last) if &last.name[..] == name => Some(last),
            _ => self.server.accounts.get(name).cloned(),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        let shared = self.shared.clone();
        self.fanout.send(&shared, bytes);
    }

    fn send_err(&mut self, text: &str) {
        self.send(format!("-ERR '{text}'\r\n").as_bytes());
    }

    fn flush(&mut self) {
        self.fanout.end_batch(&self.server.stats, &self.shared);
    }

    /// Forgets everything learned from this route, and the route itself if it was registered.
    fn cleanup(&mut self) {
        let subs = self.shared.take_subscriptions();
        for sub in subs {
            sub.index.remove(&sub.subject, sub.queue.as_deref(), &sub);
        }
        self.fanout.clear();
        let Some(id) = self.registered_id.take() else {
            return;
        };
        let cluster = self.cluster.clone();
        let mut st = cluster.lock();
        let ours = st
            .routes
            .get(&id)
            .is_some_and(|r| Arc::ptr_eq(&r.shared, &self.shared));
        if ours {
            if let Some(r) = st.routes.remove(&id) {
                if !cluster.no_advertise {
                    count_urls_out(&mut st.peer_urls, &r.info.connect_urls);
                    count_urls_out(&mut st.peer_ws_urls, &r.info.ws_connect_urls);
                }
            }
        }
        drop(st);
        cluster.changed.notify_waiters();
        if ours {
            self.server.client_urls_changed();
        }
    }
}

impl Connection for Route {
    type Connect = Box<RouteConnectInfo>;

    fn timers(&mut self) -> &mut Timers {
        &mut self.timers
    }

    fn process(
        &mut self,
        buf: &mut BytesMut,
    ) -> Result<Option<Box<RouteConnectInfo>>, CloseReason> {
        loop {
            match self.codec.decode(buf) {
                Ok(Some(RouteOp::Connect(connect))) if self.awaiting_connect => {
                    return Ok(Some(connect))
                }
                Ok(Some(_)) | Err(_) if self.awaiting_connect => {
                    return Err(self.authorization_violation());
                }
                Ok(Some(op)) => self.handle(op)?,
                Ok(None) => return Ok(None),
                Err(err) => return Err(self.protocol_error(err)),
            }
        }
    }

    async fn connect(&mut self, connect: Box<RouteConnectInfo>) -> Result<(), CloseReason> {
        self.process_connect(&connect).await
    }

    fn ping_tick(&mut self) -> Result<(), CloseReason> {
        self.shared.out.shrink_if_idle();
        // Routes are pinged whatever their traffic, as nats-server does.
        match self.timers.pinger.tick(false) {
            Tick::Stale => {
                self.send_err("Stale Connection");
                Err(CloseReason::StaleConnection)
            }
            _ => {
                debug!("{}Router Ping Timer", self.shared.prefix);
                self.send(b"PING\r\n");
                Ok(())
            }
        }
    }

    fn auth_timeout(&mut self) -> CloseReason {
        self.send_err("Authentication Timeout");
        CloseReason::AuthenticationTimeout
    }

    fn end_batch(&mut self) {
        self.flush();
    }

    async fn after_batch(&mut self) {
        if let Some(slow) = self.fanout.take_stall() {
            // A local subscriber that falls behind holds the route back a little, as it holds
            // a local publisher back: the route's sender then slows down through TCP instead
            // of the subscriber being cut off for what one burst brought.
            slow.out.wait_drained(crate::conn::outbound::STALL).await;
        }
    }
}

/// The key remote interest is stored under: `account subject` or `account subject queue`
/// (the RS- arguments), copied out of the read buffer.
fn interest_key(i: &Interest) -> Bytes {
    let queue = i.queue.as_ref().map_or(0, |q| q.len());
    let mut key = BytesMut::with_capacity(i.account.len() + i.subject.len() + 2 + queue);
    i.write_key(&mut key);
    key.freeze()
}

/// Counts a peer's URLs into a reference-counted list (a URL two peers give stays once).
fn count_urls_in(list: &mut Vec<(String, u32)>, urls: &[String]) {
    for url in urls {
        match list.iter_mut().find(|(u, _)| u == url) {
            Some((_, n)) => *n += 1,
            None => list.push((url.clone(), 1)),
        }
    }
}

/// Counts a gone peer's URLs out of a list made by [`count_urls_in`].
fn count_urls_out(list: &mut Vec<(String, u32)>, urls: &[String]) {
    for url in urls {
        if let Some(pos) = list.iter().position(|(u, _)| u == url) {
            list[pos].1 -= 1;
            if list[pos].1 == 0 {
                list.remove(pos);
            }
        }
    }
}
