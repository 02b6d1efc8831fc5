//! One client connection: handshake, authentication, the reader loop, pings, and the fan-out
//! of the messages it publishes.
//!
//! The connection task owns the read half, the decoder and all per-connection state; a second
//! task drains the connection's outbound buffer ([`crate::conn::outbound`]) into the write
//! half. Delivering a message means appending `MSG` lines to each subscriber's outbound buffer
//! (a brief lock on that buffer only) and waking each touched writer once per read batch.
//! Every lock here is taken alone (see the lock order in the crate documentation).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use nats_proto::client::{write_msg_line, ClientOp, Publish, ServerCodec};
use nats_proto::error::text;
use nats_proto::headers::NO_RESPONDERS;
use nats_proto::{subject, Close, ConnectInfo, Limits, ProtoError, Size};
use rand::Rng;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_util::codec::Decoder;
use tracing::{debug, error, info, trace};

use crate::account::Account;
use crate::auth::{Authenticated, ClientPermissions};
use crate::conn::outbound::{run_writer, Deadline, WriterEnd};
use crate::conn::reader::{read_loop, Connection, Pinger, ReadSize, Tick, Timers};
use crate::conn::{ClientShared, CloseReason, Kind, Subscription};
use crate::deliver::{Fanout, Msg, Origin};
use crate::server::Server;

/// Per-connection cache of publish permission decisions.
const PUB_CACHE_MAX: usize = 128;
/// First read buffer size; it doubles on full reads up to `READ_MAX`.
const READ_MIN: usize = 512;
const READ_MAX: usize = 64 * 1024;

/// The connection task's own state.
struct Client {
    server: Arc<Server>,
    shared: Arc<ClientShared>,
    /// Undoes the connection's registration when the task ends, however it ends.
    _registration: Registration,
    codec: ServerCodec,
    prefix: String,
    verbose: bool,
    pedantic: bool,
    echo: bool,
    headers: bool,
    no_responders: bool,
    connected: bool,
    perms: Option<Arc<ClientPermissions>>,
    /// The account the client is in: `$G` until a CONNECT puts it in another.
    account: Arc<Account>,
    /// The nonce of the INFO this client got, for an nkey user to sign.
    nonce: Option<String>,
    /// The names of the client's certificate, read after the handshake when
    /// `verify_and_map` picks users by certificate.
    cert: Option<Box<crate::tls::CertIdentity>>,
    /// A websocket client's user JWT from the configured cookie, used when CONNECT has none.
    cookie_jwt: Option<String>,
    /// Most subscriptions of this connection (`None`: unlimited): `max_subscriptions`, or
    /// less under a user or account JWT's limit.
    max_subs: Option<usize>,
    /// The authentication deadline now is the user JWT's expiry.
    expiring: bool,
    /// The connection's place under its account's connection limit (operator mode).
    _account_slot: Option<crate::account::AccountSlot>,
    /// Authentication has placed the client (its account is settled).
    logged_in: bool,
    /// No op yet, authentication is required but clients without credentials are let in:
    /// a first op other than CONNECT logs the client in as that (`no_auth_user`) first.
    anonymous_first_op: bool,
    pub_cache: HashMap<Bytes, bool>,
    fanout: Fanout,
    protocol: i64,
    /// The client-URL generation of the last INFO this client got.
    info_gen: u64,
    timers: Timers,
    /// Inbound messages or subscriptions since the last ping tick (delays the next PING).
    active: bool,
    last_delivered: u64,
}

/// Runs one plaintext client connection to the end.
pub async fn serve<S>(server: Arc<Server>, mut stream: S, peer: SocketAddr, cid: u64)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    if let Some(admitted) = admit(&server, &mut stream, peer, cid).await {
        run(server, admitted, stream).await;
    }
}

/// Runs one client connection of a TLS server: plaintext `INFO`, the TLS handshake within
/// the timeout, then the ordinary client code over the TLS stream.
pub async fn serve_tls(
    server: Arc<Server>,
    tls: Arc<crate::tls::ClientTls>,
    mut tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    cid: u64,
) {
    let Some(mut admitted) = admit(&server, &mut tcp, peer, cid).await else {
        return;
    };
    let prefix = admitted.prefix().to_string();
    if server.options().allow_non_tls && !starts_tls(&tcp, tls.timeout).await {
        run(server, admitted, tcp).await;
        return;
    }
    debug!("{prefix}Starting TLS client connection handshake");
    let local = tcp.local_addr().ok();
    match tokio::time::timeout(tls.timeout, crate::tls::accept(&tls.acceptor, tcp)).await {
        Ok(Ok(stream)) => {
            crate::tls::log_established(&prefix, stream.get_ref().1);
            if tls.map {
                admitted.cert =
                    crate::tls::peer_identity(&prefix, stream.get_ref().1).map(Box::new);
            }
            run(server, admitted, stream).await;
        }
        Ok(Err(e)) => {
            error!("{prefix}TLS handshake error: {e}");
            admitted.abandon(CloseReason::TlsHandshakeFailure);
        }
        Err(_) => {
            error!(
                "{prefix}TLS handshake error: {}",
                crate::tls::timeout_text(local, peer)
            );
            admitted.abandon(CloseReason::TlsHandshakeFailure);
            // nats-server then tries to send this -ERR on the dead connection; only its log
            // line is left of it.
            error!("{prefix}TLS handshake timeout");
        }
    }
}

/// With `allow_non_tls`: whether the client's first byte opens a TLS handshake (a TLS record
/// of type handshake, 0x16), looked at without taking it off the socket. A client that sends
/// nothing within the TLS timeout, or closes, goes on in plaintext, as with nats-server.
async fn starts_tls(tcp: &tokio::net::TcpStream, timeout: Duration) -> bool {
    let mut first = [0u8; 1];
    matches!(
        tokio::time::timeout(timeout, tcp.peek(&mut first)).await,
        Ok(Ok(1)) if first[0] == 0x16
    )
}

/// What the websocket upgrade learnt about a client.
pub struct WsClient {
    /// The client's address as a proxy forwarded it (`X-Forwarded-For`).
    pub client_ip: Option<std::net::IpAddr>,
    /// The user JWT in the `jwt_cookie` cookie.
    pub cookie_jwt: Option<String>,
    /// The client certificate's names (`wss://` with `verify_and_map`).
    pub cert: Option<Box<crate::tls::CertIdentity>>,
}

/// Runs one websocket client connection (upgraded already): its `INFO` and everything after
/// go in frames; the client code is the same as for TCP.
pub async fn serve_websocket<S>(
    server: Arc<Server>,
    mut ws: crate::websocket::WsStream<S>,
    peer: SocketAddr,
    client: WsClient,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let cid = server.next_id();
    let shared = Arc::new(ClientShared::new_websocket(
        server.shutdown_token(),
        cid,
        peer,
        server.options().max_pending,
        client.client_ip,
    ));
    let Some(mut admitted) = admit_shared(&server, &mut ws, shared.clone()).await else {
        return;
    };
    ws.set_owner(shared);
    admitted.cert = client.cert;
    admitted.cookie_jwt = client.cookie_jwt;
    run(server, admitted, ws).await;
}

/// A client connection that got its `INFO` and counts against `max_connections`, before its
/// reader and writer start. A TLS server does the handshake at this point, so that `INFO` (and
/// a `maximum connections exceeded` error) go out in plaintext, as nats-server sends them.
pub struct Admitted {
    registration: Registration,
    /// The client-URL generation of the `INFO` sent.
    info_gen: u64,
    /// The nonce that INFO carried, if nkey users exist.
    nonce: Option<String>,
    /// The client certificate's names (`verify_and_map`), set after the TLS handshake.
    cert: Option<Box<crate::tls::CertIdentity>>,
    /// A websocket client's JWT cookie.
    cookie_jwt: Option<String>,
}

impl Admitted {
    /// The connection's log prefix.
    pub fn prefix(&self) -> &str {
        &self.registration.shared.prefix
    }

    /// Gives the connection up before it ran (a failed TLS handshake). It is still listed
    /// among closed connections like any other (nats-server does the same).
    pub fn abandon(self, reason: CloseReason) {
        self.registration.shared.close(reason, true);
        debug!(
            "{}Client connection closed: {reason}",
            self.registration.shared.prefix
        );
    }
}

/// A client connection's place in the server: its subscriptions in the subject index (and
/// the routes' interest), its entry in the client table. Dropping it undoes all of that and
/// records the connection as closed, so the cleanup runs however the connection's task ends,
/// a panic included.
struct Registration {
    server: Arc<Server>,
    shared: Arc<ClientShared>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let (server, shared) = (&self.server, &self.shared);
        if shared.close_reason().is_none() {
            // Only a task that unwound gets here without a reason.
            error!("{}Connection task ended unexpectedly", shared.prefix);
            shared.close(CloseReason::InternalError, true);
        }
        // Monitoring sees the connection with the subscriptions it had.
        if let Some(observer) = server.observer() {
            observer.connection_closed(shared);
        }
        for sub in shared.take_subscriptions() {
            server.remove_from_index(&sub);
        }
        server.unregister(shared);
        let account = shared.stats.meta().account;
        if let Some(account) = server.accounts.get(account.as_bytes()) {
            account
                .closed_traffic()
                .add(shared.stats.inbound(), shared.out.delivered());
        }
    }
}

/// Registers a new connection and writes its `INFO` straight to the socket. `None` when the
/// connection is already over (`max_connections` reached: `INFO` and `-ERR` were sent; or the
/// write failed).
pub async fn admit<S>(
    server: &Arc<Server>,
    stream: &mut S,
    peer: SocketAddr,
    cid: u64,
) -> Option<Admitted>
where
    S: AsyncWrite + Unpin,
{
    admit_shared(
        server,
        stream,
        server.new_connection(cid, Kind::Client, peer),
    )
    .await
}

/// [`admit`] for a connection whose shared half the caller made (a websocket client's).
async fn admit_shared<S>(
    server: &Arc<Server>,
    stream: &mut S,
    shared: Arc<ClientShared>,
) -> Option<Admitted>
where
    S: AsyncWrite + Unpin,
{
    let options = server.options();
    let prefix = shared.prefix.clone();
    let info_gen = server.client_urls_generation();
    let nonce = server
        .auth_for(&shared)
        .needs_nonce()
        .then(crate::auth::nonce);
    let mut hello = server.client_info(&shared, nonce.as_deref());
    let registered = server.register(shared.clone());
    if !registered {
        hello.extend_from_slice(
            format!("-ERR '{}'\r\n", text::MAXIMUM_CONNECTIONS_EXCEEDED).as_bytes(),
        );
    }
    let written = tokio::time::timeout(options.write_deadline, async {
        stream.write_all(&hello).await?;
        stream.flush().await
    })
    .await;
    if !registered {
        shared.close(CloseReason::MaxConnectionsExceeded, false);
        info!("{prefix}Maximum Connections Exceeded");
        let _ = tokio::time::timeout(options.write_deadline, stream.shutdown()).await;
        return None;
    }
    let registration = Registration {
        server: server.clone(),
        shared: shared.clone(),
    };
    if !matches!(written, Ok(Ok(()))) {
        shared.close(CloseReason::WriteError, true);
        return None;
    }
    debug!("{prefix}Client connection created");
    Some(Admitted {
        registration,
        info_gen,
        nonce,
        cert: None,
        cookie_jwt: None,
    })
}

/// Runs an admitted client connection to the end over `stream` (TCP, or TLS after the
/// handshake): the same reader, writer and delivery code either way.
pub async fn run<S>(server: Arc<Server>, admitted: Admitted, stream: S)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let Admitted {
        registration,
        info_gen,
        nonce,
        cert,
        cookie_jwt,
    } = admitted;
    let shared = registration.shared.clone();
    let options = server.options();
    let prefix = shared.prefix.clone();
    let (mut rd, wr) = tokio::io::split(stream);

    let writer = {
        let shared = shared.clone();
        let server = server.clone();
        let deadline = options.write_deadline;
        server.clone().spawn(async move {
            // A websocket stream may hold control frames (pongs) that only a flush sends.
            let idle_flush = shared.websocket;
            match run_writer(&shared.out, wr, Deadline::Batch(deadline), idle_flush).await {
                WriterEnd::Closed => {}
                WriterEnd::Error => shared.close(CloseReason::WriteError, true),
                WriterEnd::Deadline => {
                    server.stats.count_slow_consumer();
                    info!(
                        "{}Slow Consumer Detected: WriteDeadline of {:?} exceeded",
                        shared.prefix, deadline
                    );
                    shared.close(CloseReason::SlowConsumerWriteDeadline, true);
                }
            }
        })
    };

    let auth = server.auth_for(&shared);
    let auth_required = auth.required();
    let mut codec = ServerCodec::new(Limits {
        max_control_line: options.max_control_line,
        max_payload: options.max_payload,
    });
    // Only CONNECT may come first, unless clients without credentials are let in anyway.
    codec.set_auth_pending(auth_required && !auth.admits_anonymous());
    let now = tokio::time::Instant::now();
    let mut client = Client {
        server: server.clone(),
        shared: shared.clone(),
        _registration: registration,
        codec,
        prefix,
        verbose: true,
        pedantic: true,
        echo: true,
        headers: false,
        no_responders: false,
        connected: false,
        perms: None,
        account: server.accounts.global().clone(),
        nonce,
        cert,
        cookie_jwt,
        max_subs: (options.max_subscriptions > 0).then_some(options.max_subscriptions),
        expiring: false,
        _account_slot: None,
        logged_in: false,
        anonymous_first_op: auth_required && auth.admits_anonymous(),
        pub_cache: HashMap::new(),
        fanout: Fanout::default(),
        protocol: 0,
        info_gen,
        timers: Timers {
            pinger: Pinger::new(
                options.ping_interval,
                options.ping_interval,
                options.ping_max,
            ),
            auth_deadline: auth_required.then(|| now + server.auth_timeout_for(&shared)),
        },
        active: false,
        last_delivered: 0,
    };
    let size = ReadSize::Adaptive {
        min: READ_MIN,
        max: READ_MAX,
    };
    let reason = read_loop(&mut client, &shared, &mut rd, size).await;
    shared.close(reason, false);
    let prefix = std::mem::take(&mut client.prefix);
    // Unregisters: subscriptions, interest on the routes, the client table.
    drop(client);
    let _ = writer.await;
    debug!(
        "{prefix}Client connection closed: {}",
        shared.close_reason().unwrap_or(reason)
    );
}

impl Client {
    fn protocol_error(&mut self, err: ProtoError) -> CloseReason {
        let reason = match &err {
            ProtoError::UnknownOperation(_) => CloseReason::ProtocolViolation,
            ProtoError::AuthorizationViolation => CloseReason::AuthenticationFailure,
            ProtoError::MaxControlLine { .. } => CloseReason::MaxControlLineExceeded,
            ProtoError::MaxPayload { .. } => CloseReason::MaxPayloadExceeded,
            ProtoError::Io(_) => CloseReason::ReadError,
            _ => CloseReason::ProtocolViolation,
        };
        error!("{}{}", self.prefix, err);
        if let Close::WithErr(text) = err.close() {
            self.send_err(text);
        }
        reason
    }

    fn handle(&mut self, op: ClientOp) -> Result<(), CloseReason> {
        match op {
            ClientOp::Pub(p) => {
                self.active = true;
                self.process_pub(&p);
            }
            ClientOp::Sub {
                subject,
                queue,
                sid,
            } => {
                self.active = true;
                self.process_sub(subject, queue, sid);
            }
            ClientOp::Unsub { sid, max } => self.process_unsub(&sid, max),
            ClientOp::Ping => {
                if crate::log::trace_enabled() {
                    trace!("{}<<- [PING]", self.prefix);
                    trace!("{}->> [PONG]", self.prefix);
                }
                self.send(b"PONG\r\n");
                if self.protocol >= 1 && !self.shared.async_info.load(Ordering::Relaxed) {
                    // From now on cluster changes reach this client as async INFOs; one that
                    // happened since its INFO follows the PONG.
                    self.shared.async_info.store(true, Ordering::Relaxed);
                    // As nats-server: also when an account or user JWT lowered the payload
                    // limit, so the client learns it.
                    if self.server.client_urls_generation() != self.info_gen
                        || self.shared.lowered_payload.load(Ordering::Relaxed) != 0
                    {
                        let info = self.server.client_info(&self.shared, None);
                        self.send(&info);
                    }
                }
            }
            ClientOp::Pong => {
                if crate::log::trace_enabled() {
                    trace!("{}<<- [PONG]", self.prefix);
                }
                if let Some(rtt) = self.timers.pinger.pong() {
                    self.shared.stats.set_rtt(rtt);
                }
            }
            // `process` hands CONNECT to the read loop before it gets here.
            ClientOp::Connect(_) => {}
            ClientOp::Ok | ClientOp::Info(_) => {}
            ClientOp::Err(text) => {
                error!(
                    "{}Client Error '{}'",
                    self.prefix,
                    String::from_utf8_lossy(&text)
                );
                return Err(CloseReason::ProtocolViolation);
            }
        }
        Ok(())
    }

    async fn process_connect(&mut self, mut c: ConnectInfo) -> Result<(), CloseReason> {
        if crate::log::trace_enabled() {
            let mut shown = c.clone();
            if !shown.pass.is_empty() {
                shown.pass = "[REDACTED]".into();
            }
            if !shown.auth_token.is_empty() {
                shown.auth_token = "[REDACTED]".into();
            }
            trace!(
                "{}<<- [CONNECT {}]",
                self.prefix,
                String::from_utf8_lossy(&shown.to_json())
            );
        }
        self.timers.auth_deadline = None;
        // A later CONNECT is read over this one, as Go's decoder fills the same struct.
        self.codec.set_earlier_connect(&c);
        if c.jwt.is_empty() {
            if let Some(jwt) = &self.cookie_jwt {
                c.jwt = jwt.clone();
            }
        }
        let auth = self.server.auth_for(&self.shared);
        let nonce = self.nonce.as_ref().map(String::as_bytes);
        let cert = self.cert.as_deref();
        let checked = if let Some(trust) = auth.trust() {
            let now = crate::operator::now();
            match trust.check(
                &c,
                nonce,
                self.shared.peer.ip(),
                now,
                auth.connection_type(),
            ) {
                Ok(login) => Some(Authenticated::from(login)),
                Err(why) => {
                    debug!("{}{why}", self.prefix);
                    None
                }
            }
        } else {
            tokio::select! {
                checked = auth.check_tls(&c, nonce, cert, Some(&self.prefix)) => checked,
                _ = self.shared.closing().cancelled() => {
                    return Err(self.shared.close_reason().unwrap_or(CloseReason::ServerShutdown));
                }
            }
        };
        let Some(authenticated) = checked else {
            self.send_err(text::AUTHORIZATION_VIOLATION);
            if auth.has_users() {
                // As nats-server: a certificate that mapped to a user (whose password was
                // wrong) names that user, otherwise the name CONNECT gave.
                let user = match auth.maps_certificates() {
                    true => auth
                        .map_certificate(self.cert.as_deref(), None)
                        .unwrap_or(&c.user),
                    false => &c.user,
                };
                error!("{}authentication error - User {user:?}", self.prefix);
            } else {
                error!("{}authentication error", self.prefix);
            }
            return Err(CloseReason::AuthenticationFailure);
        };
        if !c.account.is_empty() || c.new_account {
            self.send_err(text::AUTHORIZATION_VIOLATION);
            return Err(CloseReason::AuthenticationFailure);
        }
        if !(0..=1).contains(&c.protocol) {
            // nats-server logs the refusal as an error, where other CONNECT refusals are quiet.
            error!("{}{}", self.prefix, text::INVALID_CLIENT_PROTOCOL);
            self.send_err(text::INVALID_CLIENT_PROTOCOL);
            return Err(CloseReason::BadClientProtocolVersion);
        }
        let server_headers = !self.server.options().no_header_support;
        let headers = c.headers && server_headers;
        if c.no_responders && !headers {
            self.send_err(text::NO_RESPONDERS_REQUIRES_HEADERS);
            return Err(CloseReason::ProtocolViolation);
        }
        self.verbose = c.verbose;
        self.pedantic = c.pedantic;
        self.echo = c.echo;
        self.headers = headers;
        self.no_responders = c.no_responders;
        self.protocol = c.protocol;
        self.shared.headers.store(headers, Ordering::Relaxed);
        self.codec.set_headers(headers);
        self.codec.set_auth_pending(false);
        self.log_in(&authenticated)?;
        if let Some(login) = &authenticated.jwt {
            self.apply_jwt_limits(login);
        }
        if self.max_subs == Some(0) {
            // As nats-server: a client that may hold no subscription at all is told so and
            // closed at once.
            self.send_err(text::MAXIMUM_SUBSCRIPTIONS_EXCEEDED);
            return Err(CloseReason::MaxSubscriptionsExceeded);
        }
        let descriptor = [
            (!c.version.is_empty()).then(|| format!("v{}", c.version)),
            (!c.lang.is_empty()).then(|| c.lang.clone()),
            (!c.name.is_empty()).then(|| c.name.clone()),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(":");
        if !descriptor.is_empty() && !self.connected {
            self.prefix = format!("{}{:?} - ", self.shared.prefix, descriptor);
        }
        // What `/connz` shows. Unlike nats-server, a token is not shown in clear.
        let user = match &authenticated.user {
            Some(u) => u.clone(),
            None if !c.user.is_empty() => c.user.clone(),
            None if !c.auth_token.is_empty() => "[REDACTED]".into(),
            None => String::new(),
        };
        self.shared.stats.set_meta(crate::stats::ConnMeta {
            name: c.name.clone(),
            lang: c.lang.clone(),
            version: c.version.clone(),
            user,
            account: self.account.name_str().to_string(),
            jwt: authenticated.jwt.as_ref().map(|login| {
                Arc::new(crate::stats::JwtMeta {
                    jwt: c.jwt.clone(),
                    issuer_key: login.issuer.clone(),
                    name_tag: login.name_tag.clone(),
                })
            }),
        });
        self.shared.stats.touch();
        if !self.connected {
            self.connected = true;
            // Like nats-server, the first RTT estimate is INFO (sent on accept) to CONNECT.
            if let Ok(rtt) = self.shared.start.elapsed() {
                self.shared.stats.set_rtt(rtt);
            }
            // nats-server measures the RTT with a PING about 2 s after CONNECT (sooner if the
            // ping interval is shorter), plus up to 20 % so clients do not all ping at once.
            let first = self
                .server
                .options()
                .ping_interval
                .min(Duration::from_secs(2));
            let jitter = rand::rng().random_range(0..=first.as_millis() as u64 / 5);
            self.timers
                .pinger
                .probe_in(first + Duration::from_millis(jitter));
        }
        self.ok();
        Ok(())
    }

    /// Takes on what authentication decided: permissions, reply grants, and at the first
    /// log-in the user's account.
    fn log_in(&mut self, authenticated: &Authenticated) -> Result<(), CloseReason> {
        self.perms = authenticated.permissions.clone();
        if !self.logged_in {
            self.logged_in = true;
            // Nothing is subscribed before the first log-in (authentication refuses every
            // op before it), so switching the account here moves no subscription.
            if let Some(name) = authenticated.account.as_deref() {
                let Some(account) = self.server.accounts.get(name.as_bytes()).cloned() else {
                    // Never in the global account instead of the user's own.
                    self.send_err(text::AUTHORIZATION_VIOLATION);
                    error!(
                        "{}authentication error - account {name:?} not found",
                        self.prefix
                    );
                    return Err(CloseReason::AuthenticationFailure);
                };
                let limits = account.limits();
                let jwt_connections = authenticated
                    .jwt
                    .as_ref()
                    .and_then(|j| j.account_connections);
                if let Some(max) = jwt_connections.or(limits.max_connections) {
                    let Some(slot) = account.try_add_client(max) else {
                        let text = "maximum account active connections exceeded";
                        self.send_err(text);
                        error!("{}{text}", self.prefix);
                        return Err(CloseReason::MaxAccountConnectionsExceeded);
                    };
                    self._account_slot = Some(slot);
                }
                if limits.max_subscriptions.is_some() || limits.max_payload.is_some() {
                    self.apply_limits(limits.max_subscriptions, limits.max_payload);
                }
                self.account = account;
            }
        }
        self.pub_cache.clear();
        if let Some(permission) = self.perms.as_ref().and_then(|p| p.allow_responses) {
            self.shared.grant_responses(permission);
        }
        Ok(())
    }

    /// Takes on a user JWT's limits: fewer subscriptions, a smaller payload (as nats-server,
    /// the smallest of the user's, the account's and the server's), and the close at expiry.
    fn apply_jwt_limits(&mut self, login: &crate::operator::JwtLogin) {
        self.apply_limits(login.max_subscriptions, login.max_payload);
        if let Some(expires) = login.expires {
            // To the instant, not the whole second: `exp` is a Unix second, and rounding the
            // time left up would let the client outlive its JWT by up to a second.
            let at = u64::try_from(expires)
                .ok()
                .and_then(|secs| std::time::UNIX_EPOCH.checked_add(Duration::from_secs(secs)));
            let left = at.map_or(Duration::ZERO, |at| {
                at.duration_since(std::time::SystemTime::now())
                    .unwrap_or(Duration::ZERO)
            });
            // An expiry too far away for the clock to hold is no deadline at all.
            self.timers.auth_deadline = tokio::time::Instant::now().checked_add(left);
            self.expiring = true;
        }
    }

    /// Lowers this connection's subscription and payload limits to `subs` and `payload`
    /// (an account's or a user JWT's), never above the server's.
    fn apply_limits(&mut self, subs: Option<usize>, payload: Option<usize>) {
        let options = self.server.options();
        let server_subs = (options.max_subscriptions > 0).then_some(options.max_subscriptions);
        self.max_subs = crate::operator::min_limit(subs, server_subs);
        let max_payload = crate::operator::min_limit(payload, Some(options.max_payload))
            .unwrap_or(options.max_payload);
        let lowered = if max_payload != options.max_payload {
            max_payload
        } else {
            0
        };
        self.shared
            .lowered_payload
            .store(lowered, Ordering::Relaxed);
        self.codec.set_limits(Limits {
            max_control_line: options.max_control_line,
            max_payload,
        });
    }

    /// The first op of a client that sent no CONNECT, where clients without credentials
    /// are let in: as nats-server, it is logged in as the `no_auth_user` first.
    fn log_in_anonymously(&mut self) -> Result<(), CloseReason> {
        self.anonymous_first_op = false;
        let Some(authenticated) = self.server.auth_for(&self.shared).anonymous_login() else {
            self.send_err(text::AUTHORIZATION_VIOLATION);
            error!("{}authentication error", self.prefix);
            return Err(CloseReason::AuthenticationFailure);
        };
        self.timers.auth_deadline = None;
        self.log_in(&authenticated)?;
        self.shared.stats.set_meta(crate::stats::ConnMeta {
            user: authenticated.user.clone().unwrap_or_default(),
            account: self.account.name_str().to_string(),
            ..crate::stats::ConnMeta::default()
        });
        Ok(())
    }

    fn process_pub(&mut self, p: &Publish) {
        let subject = p.subject();
        crate::fault::panic_point(subject);
        let size = p.payload().len();
        self.fanout.count_in(size);
        if crate::log::trace_enabled() {
            self.trace_pub(p);
        }
        if let Some(reply) = p.reply() {
            if reply.starts_with(b"_R_.")
                || reply.starts_with(b"$JS.ACK.")
                || reply.starts_with(b"_GR_.")
            {
                self.send_err(&format!(
                    "Permissions Violation for Publish with Reply of {:?}",
                    String::from_utf8_lossy(reply)
                ));
                return;
            }
        }
        if subject.starts_with(b"_GR_.") || !self.can_publish(subject) {
            self.send_err(&format!(
                "Permissions Violation for Publish to {:?}",
                String::from_utf8_lossy(subject)
            ));
            error!(
                "{}Publish Violation - Subject {:?}",
                self.prefix,
                String::from_utf8_lossy(subject)
            );
            return;
        }
        if self.pedantic && !subject::is_valid_literal_subject(subject) {
            self.send_err(text::INVALID_PUBLISH_SUBJECT);
        }
        self.ok();
        let msg = Msg {
            subject,
            reply: p.reply(),
            // An empty header block is no header: nats-server delivers `HPUB s 0 n` as a MSG.
            header_size: p.header_size().filter(|h| h.get() > 0),
            total_size: p.total_size(),
            payload: p.payload(),
        };
        let origin = Origin::Client {
            publisher: &self.shared,
            echo: self.echo,
        };
        let delivered = self
            .fanout
            .deliver(&*self.server, &self.account, msg, origin);
        if delivered == 0 && self.no_responders {
            if let Some(reply) = p.reply() {
                self.send_no_responders(reply);
            }
        }
    }

    fn trace_pub(&self, p: &Publish) {
        let mut line = String::new();
        line.push_str(&String::from_utf8_lossy(p.subject()));
        if let Some(reply) = p.reply() {
            line.push(' ');
            line.push_str(&String::from_utf8_lossy(reply));
        }
        if let Some(h) = p.header_size() {
            line.push_str(&format!(" {}", h.get()));
        }
        line.push_str(&format!(" {}", p.payload().len()));
        let verb = if p.header_size().is_some() {
            "HPUB"
        } else {
            "PUB"
        };
        trace!("{}<<- [{verb} {line}]", self.prefix);
        trace!(
            "{}<<- MSG_PAYLOAD: [{:?}]",
            self.prefix,
            String::from_utf8_lossy(p.payload())
        );
    }

    fn can_publish(&mut self, subject: &[u8]) -> bool {
        let Some(perms) = &self.perms else {
            return true;
        };
        if let Some(allowed) = self.pub_cache.get(subject) {
            if *allowed {
                return true;
            }
        } else {
            let allowed = perms.can_publish(subject);
            if self.pub_cache.len() >= PUB_CACHE_MAX {
                self.pub_cache.clear();
            }
            self.pub_cache
                .insert(Bytes::copy_from_slice(subject), allowed);
            if allowed {
                return true;
            }
        }
        self.shared.take_response(subject)
    }

    /// The 503 status to the publisher's own subscription on the reply subject.
    fn send_no_responders(&mut self, reply: &[u8]) {
        let sid = {
            let subs = self.shared.subs.lock().unwrap_or_else(|e| e.into_inner());
            subs.values()
                .find(|s| s.queue.is_none() && subject::matches(&s.subject, reply))
                .map(|s| s.sid.clone())
        };
        let Some(sid) = sid else {
            return;
        };
        let size = Size::new(NO_RESPONDERS.len() as u32);
        let mut line = BytesMut::with_capacity(reply.len() + sid.len() + 48);
        write_msg_line(&mut line, reply, &sid, None, Some(size), size);
        line.put_slice(NO_RESPONDERS);
        line.put_slice(b"\r\n");
        self.send(&line);
    }

    fn process_sub(&mut self, subject: Bytes, queue: Option<Bytes>, sid: Bytes) {
        if crate::log::trace_enabled() {
            let q = queue
                .as_ref()
                .map(|q| format!("{} ", String::from_utf8_lossy(q)))
                .unwrap_or_default();
            trace!(
                "{}<<- [SUB {} {q}{}]",
                self.prefix,
                String::from_utf8_lossy(&subject),
                String::from_utf8_lossy(&sid)
            );
        }
        if let Some(perms) = &self.perms {
            if !perms.can_subscribe(&subject, queue.as_deref()) {
                let s = String::from_utf8_lossy(&subject);
                let err = match &queue {
                    Some(q) => format!(
                        "Permissions Violation for Subscription to {s:?} using queue {:?}",
                        String::from_utf8_lossy(q)
                    ),
                    None => format!("Permissions Violation for Subscription to {s:?}"),
                };
                self.send_err(&err);
                error!(
                    "{}Subscription Violation - Subject {s:?}, SID {}",
                    self.prefix,
                    String::from_utf8_lossy(&sid)
                );
                return;
            }
        }
        let max_subs = self.max_subs;
        {
            let subs = self.shared.subs.lock().unwrap_or_else(|e| e.into_inner());
            if max_subs.is_some_and(|max| subs.len() >= max) {
                drop(subs);
                self.send_err(text::MAXIMUM_SUBSCRIPTIONS_EXCEEDED);
                return;
            }
            if subs.contains_key(&sid) {
                drop(subs);
                self.ok();
                return;
            }
        }
        let deny_check = self
            .perms
            .as_ref()
            .filter(|p| p.needs_delivery_check(&subject))
            .cloned();
        let mut sub = Subscription::new(
            self.shared.clone(),
            self.account.for_subscription(),
            subject,
            queue,
            sid,
        );
        sub.deny_check = deny_check;
        let sub = Arc::new(sub);
        if self.server.add_subscription(&sub).is_err() {
            self.send_err(text::INVALID_SUBJECT);
            return;
        }
        sub.remember();
        self.shared.stats.touch();
        self.ok();
    }

    fn process_unsub(&mut self, sid: &Bytes, max: Option<u32>) {
        if crate::log::trace_enabled() {
            let m = max.map(|m| format!(" {m}")).unwrap_or_default();
            trace!(
                "{}<<- [UNSUB {}{m}]",
                self.prefix,
                String::from_utf8_lossy(sid)
            );
        }
        let sub = self
            .shared
            .subs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(sid)
            .cloned();
        if let Some(sub) = sub {
            let delivered = sub.delivered.load(Ordering::Relaxed);
            match max {
                Some(max) if u64::from(max) > delivered => {
                    sub.max.store(u64::from(max), Ordering::Relaxed);
                }
                _ => self.server.remove_subscription(&sub),
            }
        }
        self.ok();
    }

    fn ok(&mut self) {
        if self.verbose {
            if crate::log::trace_enabled() {
                trace!("{}->> [OK]", self.prefix);
            }
            self.send(b"+OK\r\n");
        }
    }

    fn send_err(&mut self, text: &str) {
        if crate::log::trace_enabled() {
            trace!("{}->> [-ERR {text}]", self.prefix);
        }
        self.send(format!("-ERR '{text}'\r\n").as_bytes());
    }

    /// Queues protocol bytes for this connection (woken with the batch).
    fn send(&mut self, bytes: &[u8]) {
        let shared = self.shared.clone();
        self.fanout.send(&shared, bytes);
    }

    /// End of a read batch: wake each touched writer once, add counters to the server's.
    fn flush_batch(&mut self) {
        self.fanout.end_batch(&self.server.stats, &self.shared);
    }
}

impl Connection for Client {
    type Connect = Box<ConnectInfo>;

    fn timers(&mut self) -> &mut Timers {
        &mut self.timers
    }

    fn process(&mut self, buf: &mut BytesMut) -> Result<Option<Box<ConnectInfo>>, CloseReason> {
        loop {
            match self.codec.decode(buf) {
                Ok(Some(ClientOp::Connect(connect))) => {
                    self.anonymous_first_op = false;
                    return Ok(Some(connect));
                }
                Ok(Some(op)) => {
                    if self.anonymous_first_op {
                        self.log_in_anonymously()?;
                    }
                    self.handle(op)?
                }
                Ok(None) => return Ok(None),
                Err(err) => return Err(self.protocol_error(err)),
            }
        }
    }

    async fn connect(&mut self, connect: Box<ConnectInfo>) -> Result<(), CloseReason> {
        self.process_connect(*connect).await
    }

    fn ping_tick(&mut self) -> Result<(), CloseReason> {
        self.shared.out.shrink_if_idle();
        let (delivered, _) = self.shared.out.delivered();
        let active = std::mem::take(&mut self.active) || delivered != self.last_delivered;
        self.last_delivered = delivered;
        match self.timers.pinger.tick(active) {
            Tick::Delayed => debug!("{}Delaying PING due to client activity", self.prefix),
            Tick::Stale => {
                self.send_err(text::STALE_CONNECTION);
                debug!("{}Stale Client Connection - Closing", self.prefix);
                return Err(CloseReason::StaleConnection);
            }
            Tick::Ping => {
                debug!("{}Client Ping Timer", self.prefix);
                if crate::log::trace_enabled() {
                    trace!("{}->> [PING]", self.prefix);
                }
                self.send(b"PING\r\n");
            }
        }
        Ok(())
    }

    fn auth_timeout(&mut self) -> CloseReason {
        if self.expiring {
            self.send_err(text::USER_AUTHENTICATION_EXPIRED);
            debug!("{}{}", self.prefix, text::USER_AUTHENTICATION_EXPIRED);
            return CloseReason::AuthenticationExpired;
        }
        self.send_err(text::AUTHENTICATION_TIMEOUT);
        error!("{}Authentication Timeout", self.prefix);
        CloseReason::AuthenticationTimeout
    }

    fn end_batch(&mut self) {
        self.flush_batch();
    }

    async fn after_batch(&mut self) {
        if let Some(slow) = self.fanout.take_stall() {
            // Hold this publisher back a little so a slow subscriber can catch up instead of
            // being cut off (nats-server's fast producer stall).
            slow.out.wait_drained(crate::conn::outbound::STALL).await;
        }
    }
}
