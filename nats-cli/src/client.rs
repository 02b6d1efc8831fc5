//! A client connection that survives its server: the part of a NATS client the tools need.
//!
//! On top of a [`Connection`] it answers the server's `PING`s, pings the server itself so a
//! silently dead peer is noticed (nats.go: every 2 minutes, stale after 2 unanswered), keeps
//! the [`ServerPool`] up to date from `INFO` `connect_urls`, and after a disconnect tries the
//! pool round-robin with [`Backoff`] until a bounded time has passed. Re-subscribing after a
//! reconnect is the caller's job: only it knows its subscriptions.

use std::collections::VecDeque;
use std::time::Duration;

use nats_proto::client::{ClientOp, Message, ServerOp};
use nats_proto::ServerInfo;
use tokio::time::{Instant, Interval, MissedTickBehavior};

use crate::backoff::Backoff;
use crate::conn::{err_text, ConnectOptions, Connection};
use crate::creds::Credentials;
use crate::tls::TlsSetup;
use crate::{Error, ServerPool, ServerUrl};

/// How long the tools wait for the server to confirm what they sent ([`Client::flush`]); ten
/// seconds, like nats.go's `Flush`.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// How the client behaves.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Client name sent in `CONNECT`.
    pub name: String,
    /// Client version sent in `CONNECT`.
    pub version: String,
    /// Bound on each connection attempt (TCP plus handshake); nats.go's default is 2 s.
    pub connect_timeout: Duration,
    /// How often we ping the server to detect a dead connection.
    pub ping_interval: Duration,
    /// Unanswered pings after which the connection counts as stale.
    pub max_pings_out: u32,
    /// TLS files (`--tlscert`, `--tlskey`, `--tlscacert`); empty: TLS only for `tls://` URLs
    /// and servers that require it, verified with the system's CA certificates.
    pub tls: TlsSetup,
    /// `--nkey`/`--creds`, used on every connect and reconnect; `None`: only what the URL
    /// carries.
    pub credentials: Option<Credentials>,
}

impl ClientOptions {
    /// nats.go's defaults with the given name and version.
    pub fn new(name: &str, version: &str) -> ClientOptions {
        ClientOptions {
            name: name.to_string(),
            version: version.to_string(),
            connect_timeout: Duration::from_secs(2),
            ping_interval: Duration::from_secs(120),
            max_pings_out: 2,
            tls: TlsSetup::default(),
            credentials: None,
        }
    }

    fn connect_options(&self, timeout: Duration) -> ConnectOptions {
        ConnectOptions {
            name: self.name.clone(),
            version: self.version.clone(),
            timeout,
            tls: self.tls.clone(),
            credentials: self.credentials.clone(),
        }
    }
}

/// What happened on the connection, as far as the caller cares.
#[derive(Debug)]
pub enum Event {
    /// A message for one of our subscriptions.
    Msg(Message),
    /// The server sent `-ERR` (text without quotes). It may close the connection next, in
    /// which case [`Event::Disconnected`] follows with this text as the reason.
    ServerError(String),
    /// The server announced lame-duck mode: it will close its clients soon.
    LameDuck,
    /// The connection is gone; carries the reason (`EOF`, a socket error, a server `-ERR`).
    Disconnected(String),
}

/// A connected client. See the module docs.
pub struct Client {
    pool: ServerPool,
    options: ClientOptions,
    conn: Connection,
    /// Messages that arrived while we waited for a `PONG` in [`Client::flush`].
    pending: VecDeque<Message>,
    /// Our `PING`s the server has not answered yet.
    pings_out: u32,
    ping_timer: Interval,
    /// The `-ERR` text if it was the last thing the server sent: the reason it then closed.
    last_server_error: Option<String>,
}

impl Client {
    /// Connects to the first server of the pool that accepts us, trying each once in order.
    ///
    /// Fails with the most telling reason: a server's refusal (`nats: Authorization
    /// Violation`) if there was one, else `nats: no servers available for connection`.
    pub async fn connect(pool: ServerPool, options: ClientOptions) -> Result<Client, Error> {
        let mut reason = None;
        let candidates: Vec<ServerUrl> = pool.urls().cloned().collect();
        for url in candidates {
            let connect = options.connect_options(options.connect_timeout);
            match Connection::connect(&url, &connect).await {
                Ok(conn) => return Ok(Client::with_connection(pool, options, conn)),
                Err(err) if !err.is_unreachable() => reason = Some(err),
                Err(_) => {}
            }
        }
        Err(reason.unwrap_or(Error::NoServers))
    }

    fn with_connection(pool: ServerPool, options: ClientOptions, conn: Connection) -> Client {
        let ping_timer = ping_timer(options.ping_interval);
        let mut client = Client {
            pool,
            options,
            conn,
            pending: VecDeque::new(),
            pings_out: 0,
            ping_timer,
            last_server_error: None,
        };
        client.learn_from_info();
        client
    }

    /// The server's latest `INFO`.
    pub fn info(&self) -> &ServerInfo {
        self.conn.info()
    }

    /// The server we are (or were last) connected to.
    pub fn url(&self) -> &ServerUrl {
        self.conn.url()
    }

    /// The servers we know of, given and learned.
    pub fn pool(&self) -> &ServerPool {
        &self.pool
    }

    fn learn_from_info(&mut self) {
        let urls = self.conn.info().connect_urls.clone();
        let current = self.conn.url().clone();
        self.pool.learn(&urls, &current);
    }

    /// Queues an op without flushing.
    pub async fn feed(&mut self, op: ClientOp) -> Result<(), Error> {
        self.conn.feed(op).await
    }

    /// Queues an op and flushes the socket.
    pub async fn send(&mut self, op: ClientOp) -> Result<(), Error> {
        self.conn.send(op).await
    }

    /// Sends `PING` and waits for its `PONG`: when it returns `Ok`, the server has processed
    /// everything sent before. A `-ERR` in between (a permission violation, an invalid
    /// subject) is returned as the error. Messages arriving meanwhile are kept for
    /// [`Client::next_event`].
    pub async fn flush(&mut self, timeout: Duration) -> Result<(), Error> {
        self.conn.send(ClientOp::Ping).await?;
        match tokio::time::timeout(timeout, self.wait_for_pong()).await {
            Ok(result) => result,
            Err(_) => Err(Error::FlushTimeout),
        }
    }

    async fn wait_for_pong(&mut self) -> Result<(), Error> {
        // PONGs come in PING order: the ones owed to our keep-alive pings come first.
        let mut owed = self.pings_out;
        loop {
            let op = match self.conn.next_op().await {
                Some(op) => op?,
                None => return Err(Error::ConnectionClosed),
            };
            match op {
                ServerOp::Pong if owed > 0 => {
                    owed -= 1;
                    self.pings_out = self.pings_out.saturating_sub(1);
                }
                ServerOp::Pong => return Ok(()),
                ServerOp::Msg(msg) => self.pending.push_back(msg),
                ServerOp::Err(text) => return Err(Error::Server(err_text(&text))),
                ServerOp::Ping => self.conn.send(ClientOp::Pong).await?,
                ServerOp::Info(info) => {
                    self.conn.set_info(*info);
                    self.learn_from_info();
                }
                ServerOp::Ok => {}
            }
        }
    }

    /// Waits for the next thing the caller should know about, answering `PING`s, taking in
    /// `INFO` updates and pinging the server in the meantime.
    pub async fn next_event(&mut self) -> Event {
        if let Some(msg) = self.pending.pop_front() {
            return Event::Msg(msg);
        }
        loop {
            tokio::select! {
                op = self.conn.next_op() => {
                    let op = match op {
                        Some(Ok(op)) => op,
                        Some(Err(err)) => return self.disconnected(Some(err)),
                        None => return self.disconnected(None),
                    };
                    if let ServerOp::Err(text) = op {
                        let text = err_text(&text);
                        self.last_server_error = Some(text.clone());
                        return Event::ServerError(text);
                    }
                    self.last_server_error = None;
                    match op {
                        ServerOp::Msg(msg) => return Event::Msg(msg),
                        ServerOp::Ping => {
                            if let Err(err) = self.conn.send(ClientOp::Pong).await {
                                return self.disconnected(Some(err));
                            }
                        }
                        ServerOp::Pong => self.pings_out = 0,
                        ServerOp::Info(info) => {
                            let lame_duck = info.ldm;
                            self.conn.set_info(*info);
                            self.learn_from_info();
                            if lame_duck {
                                return Event::LameDuck;
                            }
                        }
                        ServerOp::Ok | ServerOp::Err(_) => {}
                    }
                }
                _ = self.ping_timer.tick() => {
                    if self.pings_out >= self.options.max_pings_out {
                        return self.disconnected(Some(Error::StaleConnection));
                    }
                    self.pings_out += 1;
                    if let Err(err) = self.conn.send(ClientOp::Ping).await {
                        return self.disconnected(Some(err));
                    }
                }
            }
        }
    }

    fn disconnected(&mut self, err: Option<Error>) -> Event {
        let reason = match (self.last_server_error.take(), err) {
            // The server said why before it closed (e.g. 'Stale Connection').
            (Some(text), _) => format!("nats: {text}"),
            (None, None) => "EOF".to_string(),
            (None, Some(Error::Io(err))) => err.to_string(),
            (None, Some(err)) => err.to_string(),
        };
        Event::Disconnected(reason)
    }

    /// After a disconnect: tries the pool round-robin, starting after the lost server and
    /// ending with it, pausing with [`Backoff`] between rounds, until one accepts us or
    /// `deadline` passes. On success the new connection has no subscriptions yet.
    ///
    /// On failure returns the most telling reason an attempt failed (a server's refusal, else
    /// [`Error::NoServers`]); the caller knows how long it tried and says so
    /// ([`Error::GaveUp`]).
    pub async fn reconnect(&mut self, deadline: Instant) -> Result<(), Error> {
        let mut backoff = Backoff::new();
        let mut reason = None;
        loop {
            for url in self.pool.after(self.conn.url()) {
                let remaining = deadline.saturating_duration_since(Instant::now());
                if remaining.is_zero() {
                    break;
                }
                let connect = self
                    .options
                    .connect_options(self.options.connect_timeout.min(remaining));
                match Connection::connect(&url, &connect).await {
                    Ok(conn) => {
                        self.install(conn);
                        return Ok(());
                    }
                    Err(err) if !err.is_unreachable() => reason = Some(err),
                    Err(_) => {}
                }
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(reason.unwrap_or(Error::NoServers));
            }
            tokio::time::sleep(backoff.next_delay().min(remaining)).await;
        }
    }

    fn install(&mut self, conn: Connection) {
        self.conn = conn;
        self.pings_out = 0;
        self.ping_timer = ping_timer(self.options.ping_interval);
        self.last_server_error = None;
        self.learn_from_info();
    }
}

/// A keep-alive timer whose first tick is one period from now (tokio's fires at once).
fn ping_timer(period: Duration) -> Interval {
    let mut timer = tokio::time::interval_at(Instant::now() + period, period);
    timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
    timer
}
