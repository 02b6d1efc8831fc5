//! The HTTP monitoring port: nats-server's `/varz`, `/connz`, `/routez`, `/subsz`, `/healthz`
//! and index page, with the same JSON keys, order, types and error answers, plus a Prometheus
//! `/metrics` and a cluster readiness check (`/healthz?cluster=1`).
//!
//! The HTTP protocol is hyper's; this module only routes a request to an endpoint, reads the
//! server's state (counters are atomics the readers add to once per read batch) and renders it.
//! Endpoints take only brief `std` locks (the client table, a connection's subscription map,
//! the route registry) and never hold one across an `.await`.

pub mod endpoints;
pub mod format;
pub mod https;
pub mod json;
pub mod metrics;
pub mod stats;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tracing::{debug, error, info};

use crate::conn::ClientShared;
use crate::listen::{join_host_port, next_connection};
use crate::options::Options;
use crate::server::{Observer, Server};

/// Longest a monitoring client may take to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Monitoring's own state: closed connections, request counts, process usage. It exists
/// only when a monitoring port is configured, and hears of closed connections as the
/// server's [`Observer`].
pub struct Monitor {
    /// Recently closed client connections (`/connz?state=closed`).
    pub closed: stats::ClosedRing,
    requests: Mutex<BTreeMap<String, u64>>,
    usage: stats::ProcessUsage,
    config_load_time: AtomicI64,
    started: Instant,
    addr: OnceLock<SocketAddr>,
}

impl Default for Monitor {
    fn default() -> Monitor {
        Monitor {
            closed: stats::ClosedRing::default(),
            requests: Mutex::new(BTreeMap::new()),
            usage: stats::ProcessUsage::default(),
            config_load_time: AtomicI64::new(format::now_nanos()),
            started: Instant::now(),
            addr: OnceLock::new(),
        }
    }
}

impl Observer for Monitor {
    fn connection_closed(&self, conn: &ClientShared) {
        self.record_closed(conn, sub_details(conn, false));
    }

    fn config_reloaded(&self) {
        self.config_loaded();
    }
}

impl Monitor {
    /// The bound monitoring address, once listening.
    pub fn addr(&self) -> Option<SocketAddr> {
        self.addr.get().copied()
    }

    /// Notes a configuration (re)load for `/varz` `config_load_time`.
    pub fn config_loaded(&self) {
        self.config_load_time
            .store(format::now_nanos(), Ordering::Relaxed);
    }

    /// Remembers a client connection that just closed, for `/connz?state=closed`. `subs` are
    /// its subscriptions as they were before the connection dropped them.
    pub fn record_closed(&self, client: &ClientShared, subs: Vec<json::SubDetail>) {
        let stop = format::unix_nanos(SystemTime::now());
        let row = endpoints::conn_row(client, stop);
        let mut info = row.info;
        info.stop = Some(format::rfc3339_nanos(stop));
        info.reason = client
            .close_reason()
            .map(|r| r.to_string())
            .unwrap_or_default();
        info.subscriptions = subs.len();
        self.closed.push(stats::Closed {
            info,
            subs,
            user: client.stats.meta().user,
            account: row.account,
            jwt: row.jwt,
            start: row.start,
            last: row.last,
            stop,
        });
    }

    fn count_request(&self, path: &str) {
        *self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(path.to_string())
            .or_insert(0) += 1;
    }

    fn request_counts(&self) -> BTreeMap<String, u64> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// A connection's subscriptions as `subscriptions_list_detail` entries, by sid; with their
/// account only where nats-server shows it (`/subsz`).
pub fn sub_details(client: &ClientShared, with_account: bool) -> Vec<json::SubDetail> {
    let subs = client.subs.lock().unwrap_or_else(|e| e.into_inner());
    let mut out: Vec<json::SubDetail> = subs
        .values()
        .map(|s| json::SubDetail {
            account: if with_account {
                String::from_utf8_lossy(&s.account).into_owned()
            } else {
                String::new()
            },
            subject: String::from_utf8_lossy(&s.subject).into_owned(),
            qgroup: s
                .queue
                .as_ref()
                .map(|q| String::from_utf8_lossy(q).into_owned())
                .unwrap_or_default(),
            sid: String::from_utf8_lossy(&s.sid).into_owned(),
            msgs: s.delivered.load(Ordering::Relaxed),
            max: s.max(),
            cid: client.cid,
        })
        .collect();
    drop(subs);
    out.sort_by(|a, b| (a.sid.len(), &a.sid).cmp(&(b.sid.len(), &b.sid)));
    out
}

/// The monitoring host in force: `http_host`, else the client listen host.
pub fn http_host(options: &Options) -> String {
    if options.http_host.is_empty() {
        options.host.clone()
    } else {
        options.http_host.clone()
    }
}

/// Binds the monitoring port when one is configured (`-1`: a random port) and logs
/// `Starting http monitor on host:port` with the real port. Called before the client listener
/// is bound, as nats-server does.
async fn bind_http(options: &Options) -> std::io::Result<Option<TcpListener>> {
    if options.http_port == 0 {
        return Ok(None);
    }
    let host = http_host(options);
    let bind_host = host.trim_start_matches('[').trim_end_matches(']');
    let bound = crate::listen::bind_or_log(bind_host, options.http_port, |e| {
        format!("Can't start monitoring: can't listen to the monitor port: {e}")
    })
    .await?;
    info!(
        "Starting http monitor on {}",
        join_host_port(bind_host, bound.addr.port())
    );
    Ok(Some(bound.listener))
}

/// The monitoring listeners, bound before the client listener (as nats-server does), and the
/// state they serve.
pub struct Monitoring {
    http: Option<TcpListener>,
    https: Option<https::HttpsListener>,
    state: Arc<Monitor>,
}

/// Binds the HTTP and HTTPS monitoring ports that are configured; `None` when there are none.
pub async fn bind(options: &Options) -> std::io::Result<Option<Monitoring>> {
    let http = bind_http(options).await?;
    if options.https_port != 0 && options.tls.is_none() {
        error!(target: "fatal", "Can't start monitoring: TLS cert and key required for HTTPS");
        return Err(std::io::Error::other("TLS cert and key required for HTTPS"));
    }
    let https = https::bind_https(options).await?;
    if http.is_none() && https.is_none() {
        return Ok(None);
    }
    Ok(Some(Monitoring {
        http,
        https,
        state: Arc::new(Monitor::default()),
    }))
}

impl Monitoring {
    /// The state, as the server's observer of closed connections and reloads.
    pub fn observer(&self) -> Arc<dyn Observer> {
        self.state.clone()
    }

    /// Serves monitoring requests until the server shuts down.
    pub fn serve(self, server: &Arc<Server>) {
        if let Some(listener) = self.http {
            if let Ok(addr) = listener.local_addr() {
                let _ = self.state.addr.set(addr);
            }
            server.spawn(accept_loop(server.clone(), self.state.clone(), listener));
        }
        if let Some(listener) = self.https {
            https::spawn_https(server.clone(), self.state, listener);
        }
    }
}

async fn accept_loop(server: Arc<Server>, monitor: Arc<Monitor>, listener: TcpListener) {
    let stop = server.shutdown_token().clone();
    while let Some((stream, _)) = next_connection(&listener, &stop, "monitoring").await {
        server.spawn(serve_connection(server.clone(), monitor.clone(), stream));
    }
}

/// Serves monitoring requests on one accepted connection (plain TCP here; an HTTPS listener
/// can hand its TLS streams to the same function) until it closes or the server shuts down.
pub async fn serve_connection<S>(server: Arc<Server>, monitor: Arc<Monitor>, stream: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let shutdown = server.shutdown_token().clone();
    let service = service_fn(move |req| {
        let (server, monitor) = (server.clone(), monitor.clone());
        async move { Ok::<_, Infallible>(handle(&server, &monitor, req).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                debug!("Monitoring connection error: {e}");
            }
        }
        _ = shutdown.cancelled() => {}
    }
}

/// What an endpoint answers.
pub enum Reply {
    /// A JSON document (already serialized; `?callback=` wraps it as JSONP).
    Json(String),
    /// Any other body with its content type.
    Other(&'static str, String),
    /// A status with a JSON body (`/healthz` failures).
    Status(StatusCode, String),
}

/// A bad request or a missing page: status and plain-text message.
pub type Failure = (StatusCode, String);

/// Decoded query parameters (the first value of each, like Go's `Query().Get`).
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses a URL query string.
    pub fn parse(query: Option<&str>) -> Query {
        Query {
            pairs: query
                .map(|q| {
                    form_urlencoded::parse(q.as_bytes())
                        .map(|(k, v)| (k.into_owned(), v.into_owned()))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// The first value of `key` ("" when absent).
    pub fn get(&self, key: &str) -> &str {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }

    /// A Go `ParseBool` parameter (false when absent).
    pub fn bool(&self, key: &str) -> Result<bool, Failure> {
        match self.get(key) {
            "" => Ok(false),
            v => format::parse_bool(key, v).map_err(bad_request),
        }
    }

    /// A Go `Atoi` parameter (0 when absent).
    pub fn int(&self, key: &str) -> Result<i64, Failure> {
        match self.get(key) {
            "" => Ok(0),
            v => format::parse_int(key, v).map_err(bad_request),
        }
    }

    /// A Go `ParseUint` parameter (0 when absent).
    pub fn uint(&self, key: &str) -> Result<u64, Failure> {
        match self.get(key) {
            "" => Ok(0),
            v => format::parse_uint(key, v).map_err(bad_request),
        }
    }

    /// `subs`: a boolean, or `detail`. Returns (list, detailed list).
    pub fn subs(&self) -> Result<(bool, bool), Failure> {
        if self.get("subs").eq_ignore_ascii_case("detail") {
            return Ok((false, true));
        }
        Ok((self.bool("subs")?, false))
    }
}

/// A 400 answer with `message`.
pub fn bad_request(message: String) -> Failure {
    (StatusCode::BAD_REQUEST, message)
}

/// Pretty-prints with two spaces like Go's `json.MarshalIndent(v, "", "  ")`, escaping HTML
/// characters as Go does.
pub fn pretty<T: serde::Serialize>(value: &T) -> String {
    let json = serde_json::to_string_pretty(value).unwrap_or_else(|_| "{}".into());
    format::go_escape_html(json)
}

/// Routes one request.
async fn handle(
    server: &Arc<Server>,
    monitor: &Monitor,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let query = Query::parse(req.uri().query());
    // Counted before answering, so `/varz` includes the request asking for it (as nats-server).
    const KNOWN: [&str; 9] = [
        "/",
        "/varz",
        "/connz",
        "/routez",
        "/accountz",
        "/subsz",
        "/subscriptionsz",
        "/healthz",
        "/metrics",
    ];
    if KNOWN.contains(&path.as_str()) {
        let counted = if path == "/subscriptionsz" {
            "/subsz"
        } else {
            &path
        };
        monitor.count_request(counted);
    }
    let reply = match path.as_str() {
        "/" => Ok(Reply::Other(
            "text/html; charset=utf-8",
            endpoints::index_page(),
        )),
        "/varz" => Ok(Reply::Json(pretty(&endpoints::varz(server, monitor)))),
        "/connz" => endpoints::connz(server, monitor, &query).map(|c| Reply::Json(pretty(&c))),
        "/routez" => endpoints::routez(server, &query).map(|r| Reply::Json(pretty(&r))),
        "/accountz" => endpoints::accountz(server, &query).map(|a| Reply::Json(pretty(&a))),
        "/subsz" | "/subscriptionsz" => endpoints::subsz(server, &query).map(Reply::Json),
        "/healthz" => endpoints::healthz(server, &query).await,
        "/metrics" => Ok(Reply::Other(
            "text/plain; version=0.0.4; charset=utf-8",
            metrics::render(server, monitor),
        )),
        _ => Err((StatusCode::NOT_FOUND, "404 page not found\n".to_string())),
    };
    let (status, content_type, body) = match reply {
        Ok(Reply::Json(json)) => match query.get("callback") {
            "" => (StatusCode::OK, "application/json", json),
            cb => (
                StatusCode::OK,
                "application/javascript",
                format!("{cb}({json})"),
            ),
        },
        Ok(Reply::Other(content_type, body)) => (StatusCode::OK, content_type, body),
        Ok(Reply::Status(status, json)) => (status, "application/json", json),
        Err((status, message)) => (status, "text/plain; charset=utf-8", message),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if status == StatusCode::NOT_FOUND {
        response.headers_mut().insert(
            "x-content-type-options",
            HeaderValue::from_static("nosniff"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_connection_is_remembered_with_its_subscriptions_and_reason() {
        let monitor = Monitor::default();
        let token = tokio_util::sync::CancellationToken::new();
        let peer = SocketAddr::from(([127, 0, 0, 1], 4000));
        let conn = Arc::new(ClientShared::new(
            &token,
            7,
            crate::conn::Kind::Client,
            peer,
            1024,
        ));
        let sub = Arc::new(crate::conn::Subscription::new(
            conn.clone(),
            crate::account::Account::new("A").for_subscription(),
            Bytes::from_static(b"foo.>"),
            None,
            Bytes::from_static(b"1"),
        ));
        conn.subs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(sub);
        conn.close(crate::conn::CloseReason::ClientClosed, true);
        monitor.connection_closed(&conn);
        let closed = monitor.closed.snapshot();
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].info.cid, 7);
        assert_eq!(closed[0].info.reason, "Client Closed");
        assert_eq!(closed[0].subs.len(), 1);
        assert_eq!(closed[0].subs[0].subject, "foo.>");
    }

    #[test]
    fn query_takes_the_first_value_and_decodes() {
        let q = Query::parse(Some("subs=detail&limit=2&limit=3&test=a%2Eb&x=+1"));
        assert_eq!(q.subs(), Ok((false, true)));
        assert_eq!(q.int("limit"), Ok(2));
        assert_eq!(q.get("test"), "a.b");
        assert_eq!(q.get("x"), " 1");
        assert_eq!(q.get("missing"), "");
        let bad = Query::parse(Some("subs=maybe"));
        assert_eq!(bad.subs().unwrap_err().0, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn host_port_joins_like_go() {
        assert_eq!(join_host_port("0.0.0.0", 8222), "0.0.0.0:8222");
        assert_eq!(join_host_port("::1", 8222), "[::1]:8222");
    }
}
