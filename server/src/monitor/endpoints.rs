//! The endpoint documents: what each one reads from the server and how it filters, sorts and
//! pages, following nats-server 2.9.10 (`server/monitor.go`, `monitor_sort_opts.go`).

use std::cmp::Reverse;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use hyper::StatusCode;
use nats_proto::subject;

use super::format::{between, go_rtt, now_nanos, rfc3339_nanos, unix_nanos, uptime as go_uptime};
use super::json::{
    AccountExport, AccountImport, AccountInfo, Accountz, ClusterVarz, ConnInfo, Connz, Health,
    RouteInfo, Routez, SubDetail, SublistStats, Subsz, Varz, WebsocketVarz,
};
use super::{bad_request, pretty, sub_details, Failure, Monitor, Query, Reply};
use crate::conn::ClientShared;
use crate::options::GLOBAL_ACCOUNT;
use crate::server::{Server, GO_VERSION, VERSION};

/// nats-server's default page size of `/connz` and `/subsz`.
pub const DEFAULT_LIST_SIZE: usize = 1024;

/// A connection's `ConnInfo` plus the raw times it is sorted by.
pub struct Row {
    /// The rendered connection.
    pub info: ConnInfo,
    /// Unix nanoseconds of the start.
    pub start: i64,
    /// Unix nanoseconds of the last activity.
    pub last: i64,
    /// Unix nanoseconds of the stop (closed connections).
    pub stop: Option<i64>,
    /// The authorized user.
    pub user: String,
    /// The connection's account.
    pub account: String,
    /// Operator mode: the user JWT of the login.
    pub jwt: Option<std::sync::Arc<crate::stats::JwtMeta>>,
}

/// When a connection was last active: its last inbound activity or delivery, or its start.
fn last_activity(c: &ClientShared, start: i64) -> i64 {
    c.stats
        .last_activity()
        .max(c.out.last_delivery())
        .max(start)
}

/// `/varz` `websocket`, as nats-server fills it from the block (the real port for `-1`).
fn websocket_varz(server: &Server, options: &crate::options::Options) -> WebsocketVarz {
    let Some(ws) = &options.websocket else {
        return WebsocketVarz::default();
    };
    WebsocketVarz {
        host: ws.host.clone(),
        port: server.websocket_addr().map_or(0, |a| a.port()),
        advertise: ws.advertise.clone().unwrap_or_default(),
        no_auth_user: ws.no_auth_user.clone().unwrap_or_default(),
        jwt_cookie: ws.jwt_cookie.clone().unwrap_or_default(),
        handshake_timeout: ws.handshake_timeout.map_or(0, nanos),
        auth_timeout: ws.auth_timeout.map_or(0.0, |t| t.as_secs_f64()),
        no_tls: ws.no_tls,
        tls_map: ws.tls.as_ref().is_some_and(|t| t.map),
        same_origin: ws.same_origin,
        allowed_origins: ws.allowed_origins.clone(),
        compression: ws.compression,
    }
}

/// The `/connz` entry of a connection, as of `now` (Unix nanoseconds).
pub fn conn_row(c: &ClientShared, now: i64) -> Row {
    let start = unix_nanos(c.start);
    let last = last_activity(c, start);
    let (in_msgs, in_bytes) = c.stats.inbound();
    let (out_msgs, out_bytes) = c.out.delivered();
    let meta = c.stats.meta();
    Row {
        info: ConnInfo {
            cid: c.cid,
            kind: "Client",
            conn_type: if c.websocket { "websocket" } else { "nats" },
            ip: c.peer.ip().to_string(),
            port: c.peer.port(),
            start: rfc3339_nanos(start),
            last_activity: rfc3339_nanos(last),
            rtt: go_rtt(c.stats.rtt()),
            uptime: go_uptime(between(start, now)),
            idle: go_uptime(between(last, now)),
            pending_bytes: c.out.pending(),
            in_msgs,
            out_msgs,
            in_bytes,
            out_bytes,
            subscriptions: c.subscription_count(),
            name: meta.name,
            lang: meta.lang,
            version: meta.version,
            ..ConnInfo::default()
        },
        start,
        last,
        stop: None,
        user: meta.user,
        account: if meta.account.is_empty() {
            GLOBAL_ACCOUNT.to_string()
        } else {
            meta.account
        },
        jwt: meta.jwt,
    }
}

/// `/varz`.
pub fn varz(server: &Server, monitor: &Monitor) -> Varz {
    let options = server.options();
    let now = now_nanos();
    let start = unix_nanos(server.start_time);
    let cluster = server.cluster.get();
    let stats = &server.stats;
    let cluster_varz = match cluster {
        Some(c) => ClusterVarz {
            name: c.name(),
            addr: if options.cluster.host.is_empty() {
                c.listen.ip().to_string()
            } else {
                options.cluster.host.clone()
            },
            cluster_port: usize::from(c.listen.port()),
            auth_timeout: options
                .cluster
                .auth_timeout
                .unwrap_or(Duration::from_secs(2))
                .as_secs_f64(),
            urls: c
                .configured_routes()
                .iter()
                .map(|u| u.host_port.clone())
                .collect(),
            tls_timeout: options
                .cluster
                .tls
                .as_ref()
                .map_or(2.0, |t| t.timeout.as_secs_f64()),
            tls_required: options.cluster.tls.is_some(),
            tls_verify: options.cluster.tls.is_some(),
        },
        None => ClusterVarz::default(),
    };
    let routes = cluster.map_or(0, |c| c.num_routes());
    Varz {
        server_id: server.id.clone(),
        server_name: server.name.clone(),
        version: VERSION.into(),
        proto: 1,
        go: GO_VERSION.into(),
        host: options.host.clone(),
        port: server.client_addr().port(),
        auth_required: server.auth().advertised(),
        tls_required: options.tls.is_some() && !options.allow_non_tls,
        tls_verify: options.tls.as_ref().is_some_and(|t| t.verify),
        connect_urls: server.client_connect_urls(),
        max_connections: options.max_connections,
        max_subscriptions: options.max_subscriptions,
        ping_interval: nanos(options.ping_interval),
        ping_max: options.ping_max,
        http_host: super::http_host(&options),
        http_port: options.http_port,
        https_port: options.https_port,
        auth_timeout: options.auth_timeout().as_secs_f64(),
        max_control_line: options.max_control_line,
        max_payload: options.max_payload,
        max_pending: options.max_pending,
        cluster: cluster_varz,
        websocket: websocket_varz(server, &options),
        tls_timeout: options
            .tls
            .as_ref()
            .map_or(2.0, |t| t.timeout.as_secs_f64()),
        write_deadline: nanos(options.write_deadline),
        start: rfc3339_nanos(start),
        now: rfc3339_nanos(now),
        uptime: go_uptime(between(start, now)),
        mem: monitor.usage.rss_bytes(),
        cores: cores(),
        gomaxprocs: cores(),
        cpu: monitor.usage.cpu_percent(monitor.started),
        connections: server.num_clients(),
        total_connections: stats.total_connections.load(Ordering::Relaxed),
        routes,
        remotes: routes,
        in_msgs: stats.in_msgs.load(Ordering::Relaxed),
        out_msgs: stats.out_msgs.load(Ordering::Relaxed),
        in_bytes: stats.in_bytes.load(Ordering::Relaxed),
        out_bytes: stats.out_bytes.load(Ordering::Relaxed),
        slow_consumers: stats.slow_consumers.load(Ordering::Relaxed),
        subscriptions: server.accounts.subscription_count() as u64,
        http_req_stats: monitor.request_counts(),
        config_load_time: rfc3339_nanos(monitor.config_load_time.load(Ordering::Relaxed)),
        trusted_operators_jwt: options.operators.clone(),
        trusted_operators_claim: options
            .operators
            .iter()
            .filter_map(|j| crate::jwt::decode_operator(j).ok())
            .collect(),
        system_account: match &options.system_account {
            Some(name) => name.clone(),
            None if options.no_system_account => String::new(),
            None => crate::options::SYSTEM_ACCOUNT.into(),
        },
        ..Varz::default()
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Usable CPU cores (Go's `runtime.NumCPU`, which honours the affinity mask).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `/connz` sort orders (nats-server's `SortOpt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sort {
    Cid,
    Subs,
    Pending,
    OutMsgs,
    InMsgs,
    OutBytes,
    InBytes,
    Last,
    Idle,
    Uptime,
    Stop,
    Reason,
}

impl Sort {
    fn parse(s: &str) -> Option<Sort> {
        Some(match s {
            "" | "cid" | "start" => Sort::Cid,
            "subs" => Sort::Subs,
            "pending" => Sort::Pending,
            "msgs_to" => Sort::OutMsgs,
            "msgs_from" => Sort::InMsgs,
            "bytes_to" => Sort::OutBytes,
            "bytes_from" => Sort::InBytes,
            "last" => Sort::Last,
            "idle" => Sort::Idle,
            "uptime" => Sort::Uptime,
            "stop" => Sort::Stop,
            "reason" => Sort::Reason,
            _ => return None,
        })
    }
}

/// `/connz` connection state filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    Closed,
    All,
}

fn parse_state(q: &Query) -> Result<State, Failure> {
    match q.get("state").to_ascii_lowercase().as_str() {
        "" | "open" => Ok(State::Open),
        "closed" => Ok(State::Closed),
        "any" | "all" => Ok(State::All),
        other => Err(bad_request(format!("Error decoding state for {other}"))),
    }
}

/// `/connz`: client connections, open or recently closed, filtered, sorted and paged.
pub fn connz(server: &Server, monitor: &Monitor, q: &Query) -> Result<Connz, Failure> {
    let sort_text = q.get("sort");
    let auth = q.bool("auth")?;
    let (subs, subs_detail) = q.subs()?;
    let offset = q.int("offset")?;
    let limit = q.int("limit")?;
    let cid = q.uint("cid")?;
    let state = parse_state(q)?;
    let user = q.get("user");
    let account = q.get("acc");
    let mqtt_client = q.get("mqtt_client");

    let sort = Sort::parse(sort_text)
        .ok_or_else(|| bad_request(format!("invalid sorting option: {sort_text}")))?;
    let offset = usize::try_from(offset).unwrap_or(0);
    let mut limit = usize::try_from(limit)
        .ok()
        .filter(|l| *l > 0)
        .unwrap_or(DEFAULT_LIST_SIZE);
    if sort == Sort::Stop && state != State::Closed {
        return Err(bad_request(
            "sort by stop only valid on closed connections".into(),
        ));
    }
    if sort == Sort::Reason && state != State::Closed {
        return Err(bad_request(
            "sort by reason only valid on closed connections".into(),
        ));
    }
    if cid > 0 {
        limit = 1;
    }
    let now = now_nanos();
    let mut connz = Connz {
        server_id: server.id.clone(),
        now: rfc3339_nanos(now),
        offset,
        limit,
        ..Connz::default()
    };

    let open = if state == State::Closed {
        Vec::new()
    } else {
        server.client_list()
    };
    let closed = if state == State::Open {
        Vec::new()
    } else {
        monitor.closed.snapshot()
    };
    connz.total = open.len() + closed.len();

    let mut rows: Vec<Row> = Vec::new();
    // Like nats-server, a `cid` lookup searches the closed connections when they are asked
    // for (`closed` or `all`), the open ones otherwise.
    let (open, closed): (Vec<_>, Vec<_>) = if cid > 0 {
        if state == State::Open {
            (open.into_iter().filter(|c| c.cid == cid).collect(), closed)
        } else {
            (
                Vec::new(),
                closed
                    .into_iter()
                    .filter(|c| c.info.cid == cid)
                    .take(1)
                    .collect(),
            )
        }
    } else {
        (open, closed)
    };
    for c in open {
        let mut row = conn_row(&c, now);
        if (!user.is_empty() && row.user != user)
            || (!account.is_empty() && row.account != account)
            || !mqtt_client.is_empty()
        {
            continue;
        }
        if subs_detail {
            row.info.subscriptions_list_detail = sub_details(&c, false);
        } else if subs {
            row.info.subscriptions_list = sub_details(&c, false)
                .into_iter()
                .map(|d| d.subject)
                .collect();
        }
        rows.push(row);
    }
    for cc in closed {
        if (!user.is_empty() && cc.user != user)
            || (!account.is_empty() && cc.account != account)
            || !mqtt_client.is_empty()
        {
            continue;
        }
        let mut info = cc.info;
        if subs_detail {
            info.subscriptions_list_detail = cc.subs;
        } else if subs {
            info.subscriptions_list = cc.subs.into_iter().map(|d| d.subject).collect();
        }
        rows.push(Row {
            info,
            start: cc.start,
            last: cc.last,
            stop: Some(cc.stop),
            user: cc.user,
            account: cc.account,
            jwt: cc.jwt,
        });
    }
    if auth {
        // As nats-server: the account only when it is not the global one.
        for row in &mut rows {
            row.info.authorized_user = row.user.clone();
            if row.account != GLOBAL_ACCOUNT {
                row.info.account = row.account.clone();
            }
            if let Some(jwt) = &row.jwt {
                row.info.jwt = jwt.jwt.clone();
                row.info.issuer_key = jwt.issuer_key.clone();
                row.info.name_tag = jwt.name_tag.clone();
            }
        }
    }
    sort_rows(&mut rows, sort, now);

    let from = offset.min(rows.len());
    let to = offset.saturating_add(limit).min(rows.len());
    connz.connections = rows
        .into_iter()
        .skip(from)
        .take(to - from)
        .map(|r| r.info)
        .collect();
    connz.num_connections = connz.connections.len();
    Ok(connz)
}

/// Sorts like nats-server: `cid` ascending; counters, last activity and stop time descending;
/// uptime ascending; reason alphabetically. `idle` is, as in nats-server 2.9, the span from
/// start to last activity, descending. Ties keep cid order.
fn sort_rows(rows: &mut [Row], sort: Sort, now: i64) {
    rows.sort_by_key(|r| r.info.cid);
    match sort {
        Sort::Cid => {}
        Sort::Subs => rows.sort_by_key(|r| Reverse(r.info.subscriptions)),
        Sort::Pending => rows.sort_by_key(|r| Reverse(r.info.pending_bytes)),
        Sort::OutMsgs => rows.sort_by_key(|r| Reverse(r.info.out_msgs)),
        Sort::InMsgs => rows.sort_by_key(|r| Reverse(r.info.in_msgs)),
        Sort::OutBytes => rows.sort_by_key(|r| Reverse(r.info.out_bytes)),
        Sort::InBytes => rows.sort_by_key(|r| Reverse(r.info.in_bytes)),
        Sort::Last => rows.sort_by_key(|r| Reverse(r.last)),
        Sort::Idle => rows.sort_by_key(|r| Reverse(r.last - r.start)),
        Sort::Uptime => rows.sort_by_key(|r| r.stop.unwrap_or(now) - r.start),
        Sort::Stop => rows.sort_by_key(|r| Reverse(r.stop)),
        Sort::Reason => rows.sort_by(|a, b| a.info.reason.cmp(&b.info.reason)),
    }
}

/// `/routez`: the registered routes, by rid.
pub fn routez(server: &Server, q: &Query) -> Result<Routez, Failure> {
    let (subs, subs_detail) = q.subs()?;
    let now = now_nanos();
    let views = server
        .cluster
        .get()
        .map(|c| c.route_views())
        .unwrap_or_default();
    let mut routes: Vec<RouteInfo> = views
        .into_iter()
        .map(|v| {
            let r = &v.shared;
            let start = unix_nanos(r.start);
            let last = last_activity(r, start);
            let (in_msgs, in_bytes) = r.stats.inbound();
            let (out_msgs, out_bytes) = r.out.delivered();
            let mut info = RouteInfo {
                rid: r.cid,
                remote_id: v.remote_id,
                did_solicit: v.did_solicit,
                is_configured: v.configured,
                ip: r.peer.ip().to_string(),
                port: r.peer.port(),
                start: rfc3339_nanos(start),
                last_activity: rfc3339_nanos(last),
                rtt: go_rtt(r.stats.rtt()),
                uptime: go_uptime(between(start, now)),
                idle: go_uptime(between(last, now)),
                pending_size: r.out.pending(),
                in_msgs,
                out_msgs,
                in_bytes,
                out_bytes,
                subscriptions: r.subscription_count(),
                ..RouteInfo::default()
            };
            if subs || subs_detail {
                // Remote interest is keyed `account subject[ queue]`, as nats-server shows it.
                let details: Vec<SubDetail> = sub_details(r, false);
                if subs_detail {
                    info.subscriptions_list_detail = details;
                } else {
                    info.subscriptions_list = details.into_iter().map(|d| d.subject).collect();
                }
            }
            info
        })
        .collect();
    routes.sort_by_key(|r| r.rid);
    Ok(Routez {
        server_id: server.id.clone(),
        now: rfc3339_nanos(now),
        num_routes: routes.len(),
        routes,
    })
}

/// `/subsz` (and `/subscriptionsz`): the subject index statistics, and with `subs=1` the
/// local client subscriptions (optionally only those a literal `test` subject would reach),
/// paged. Returns the JSON text: without a list, nats-server prints only the statistics.
pub fn subsz(server: &Server, q: &Query) -> Result<String, Failure> {
    let subs = q.bool("subs")?;
    let offset = usize::try_from(q.int("offset")?).unwrap_or(0);
    let limit = usize::try_from(q.int("limit")?)
        .ok()
        .filter(|l| *l > 0)
        .unwrap_or(DEFAULT_LIST_SIZE);
    let test = q.get("test");
    let account = q.get("acc");
    if !test.is_empty() && !subject::is_valid_literal_subject(test.as_bytes()) {
        return Err(bad_request(format!(
            "invalid test subject, must be valid publish subject: {test}"
        )));
    }
    let stats = match account {
        "" => SublistStats(server.accounts.sublist_stats()),
        name => server
            .accounts
            .get(name.as_bytes())
            .map(|a| SublistStats(a.sublist.stats()))
            .unwrap_or_default(),
    };
    let mut list: Vec<SubDetail> = Vec::new();
    if subs {
        let mut clients = server.client_list();
        clients.sort_by_key(|c| c.cid);
        for c in clients {
            for d in sub_details(&c, true) {
                let in_account = account.is_empty() || d.account == account;
                if in_account
                    && (test.is_empty() || subject::matches(d.subject.as_bytes(), test.as_bytes()))
                {
                    list.push(d);
                }
            }
        }
    }
    let from = offset.min(list.len());
    let to = offset.saturating_add(limit).min(list.len());
    let page: Vec<SubDetail> = list.into_iter().skip(from).take(to - from).collect();
    if page.is_empty() {
        return Ok(pretty(&stats));
    }
    Ok(pretty(&Subsz {
        server_id: server.id.clone(),
        now: rfc3339_nanos(now_nanos()),
        stats,
        // nats-server reports the size of the returned page here.
        total: page.len(),
        offset,
        limit,
        subscriptions_list: page,
    }))
}

/// `/healthz`: `{"status":"ok"}`; with `cluster=1` also a readiness check that fails (503)
/// until every configured route is connected.
pub async fn healthz(server: &Arc<Server>, q: &Query) -> Result<Reply, Failure> {
    // nats-server's JetStream switches are accepted (and validated) but have nothing to check.
    q.bool("js-enabled")?;
    q.bool("js-enabled-only")?;
    q.bool("js-server-only")?;
    let cluster = q.bool("cluster")?;
    let mut health = Health {
        status: "ok",
        error: String::new(),
    };
    if cluster {
        if let Err(error) = cluster_ready(server).await {
            health = Health {
                status: "unavailable",
                error,
            };
        }
    }
    let json = serde_json::to_string(&health).unwrap_or_default();
    if health.error.is_empty() {
        Ok(Reply::Json(json))
    } else {
        tracing::warn!("Healthcheck failed: {:?}", health.error);
        Ok(Reply::Status(StatusCode::SERVICE_UNAVAILABLE, json))
    }
}

/// Every configured route URL is either this server itself or connected: a registered route
/// was dialled to one of its addresses, or came from one (the peer's address with its
/// advertised cluster port).
async fn cluster_ready(server: &Server) -> Result<(), String> {
    let Some(cluster) = server.cluster.get() else {
        // The cluster listener starts right after the client one: until then no configured
        // route can be connected.
        let routes = server.options().cluster.routes.clone();
        if server.options().cluster.port == 0 || routes.is_empty() {
            return Ok(());
        }
        let missing: Vec<String> = routes
            .iter()
            .filter_map(|r| crate::route::RouteUrl::parse(r))
            .map(|u| u.host_port)
            .collect();
        return Err(format!(
            "{} of {} configured routes not connected: {}",
            missing.len(),
            routes.len(),
            missing.join(", ")
        ));
    };
    let views = cluster.route_views();
    let mut missing = Vec::new();
    for url in cluster.configured_routes() {
        let addrs: Vec<std::net::SocketAddr> =
            match tokio::net::lookup_host(url.host_port.as_str()).await {
                Ok(a) => a.collect(),
                Err(_) => Vec::new(),
            };
        let others: Vec<_> = addrs
            .iter()
            .filter(|a| !cluster.is_own_route_address(**a))
            .collect();
        if !addrs.is_empty() && others.is_empty() {
            continue; // a route to ourselves
        }
        let connected = !others.is_empty()
            && others.iter().all(|a| {
                views.iter().any(|v| {
                    v.shared.peer == **a
                        || std::net::SocketAddr::new(v.shared.peer.ip(), v.remote_port) == **a
                })
            });
        if !connected {
            missing.push(url.host_port.clone());
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{} of {} configured routes not connected: {}",
        missing.len(),
        cluster.configured_routes().len(),
        missing.join(", ")
    ))
}

/// The index page: links to every endpoint (relative, so it works behind a path prefix).
pub fn index_page() -> String {
    let links = [
        ("varz", "General"),
        ("connz", "Connections"),
        ("subsz", "Subscriptions"),
        ("routez", "Routes"),
        ("healthz", "Health Probe"),
        ("metrics", "Prometheus Metrics"),
    ];
    let mut html = String::from(
        "<html lang=\"en\">\n\t<head>\n\t<title>gnatsd monitoring</title>\n\t</head>\n\t<body>\n",
    );
    html.push_str(&format!(
        "\t<a href=https://github.com/nats-io/nats-server class='version'>v{VERSION}</a>\n\t<br/>\n"
    ));
    for (path, title) in links {
        html.push_str(&format!("\t<a href=./{path}>{title}</a><br/>\n"));
    }
    html.push_str("  </body>\n</html>");
    html
}

/// `/accountz`: every account's name, or with `acc=NAME` its detail (connections,
/// subscriptions, exports, imports, index statistics) with nats-server's keys; an unknown
/// name is a 400 with nats-server's text.
pub fn accountz(server: &Server, q: &Query) -> Result<Accountz, Failure> {
    let options = server.options();
    let system_account = match &options.system_account {
        Some(name) => name.clone(),
        None if options.no_system_account => String::new(),
        None => crate::options::SYSTEM_ACCOUNT.into(),
    };
    let mut reply = Accountz {
        server_id: server.id.clone(),
        now: rfc3339_nanos(now_nanos()),
        system_account,
        ..Accountz::default()
    };
    let name = q.get("acc");
    if name.is_empty() {
        let mut names: Vec<String> = server
            .accounts
            .all()
            .map(|a| a.name_str().to_string())
            .collect();
        names.sort();
        reply.accounts = Some(names);
        return Ok(reply);
    }
    let Some(account) = server.accounts.get(name.as_bytes()) else {
        return Err(bad_request(format!("Account {name} does not exist")));
    };
    let (exports, imports) = match options.accounts.iter().find(|a| a.name == name) {
        None => (Vec::new(), Vec::new()),
        Some(config) => (
            config.exports.iter().map(account_export).collect(),
            config
                .imports
                .iter()
                .map(account_import)
                .chain(config.service_imports.iter().map(service_import))
                .collect(),
        ),
    };
    let client_connections = server
        .client_list()
        .iter()
        .filter(|c| {
            let meta = c.stats.meta();
            meta.account == name || (meta.account.is_empty() && name == GLOBAL_ACCOUNT)
        })
        .count();
    reply.account_detail = Some(AccountInfo {
        account_name: name.to_string(),
        update_time: rfc3339_nanos(unix_nanos(server.start_time)),
        is_system: name == reply.system_account,
        complete: true,
        client_connections,
        subscriptions: account.sublist.count(),
        exports,
        imports,
        sublist_stats: SublistStats(account.sublist.stats()),
        ..AccountInfo::default()
    });
    Ok(reply)
}

fn account_export(e: &crate::options::Export) -> AccountExport {
    AccountExport {
        subject: e.subject.clone(),
        kind: if e.service { "service" } else { "stream" },
        response_type: e.response_type.clone().unwrap_or_default(),
        approved_accounts: e.accounts.clone().unwrap_or_default(),
    }
}

/// A service import as nats-server lists it: `subject` is the importer's, `to` the
/// exporter's.
fn service_import(i: &crate::options::ServiceImportConfig) -> AccountImport {
    AccountImport {
        subject: i.local.clone(),
        account: i.account.clone(),
        to: i.subject.clone(),
        kind: "service",
        share: i.share,
        ..AccountImport::default()
    }
}

/// A stream import with the subject it arrives under (`local_subject`, as nats-server).
fn account_import(i: &crate::options::StreamImportConfig) -> AccountImport {
    AccountImport {
        subject: i.subject.clone(),
        account: i.account.clone(),
        local_subject: match (&i.prefix, &i.to) {
            (Some(p), _) => format!("{p}.{}", i.subject),
            (None, Some(to)) => to.clone(),
            (None, None) => i.subject.clone(),
        },
        kind: "stream",
        ..AccountImport::default()
    }
}
