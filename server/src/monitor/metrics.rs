//! `/metrics`: the server's counters in the Prometheus text exposition format (version 0.0.4),
//! so a Prometheus server can scrape gnatsd without an exporter sidecar.
//!
//! Server-wide series are unlabelled; per-route series carry `rid` and `remote_id`. Every series
//! is prefixed `gnatsd_`; counters end in `_total`.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use super::format::unix_nanos;
use super::Monitor;
use crate::server::{Server, VERSION};

/// One metric family being written.
struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn header(out: &mut String, name: &str, kind: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }
}

/// Escapes a label value: backslash, double quote and newline.
fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Writes a family with a single unlabelled sample.
fn single(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    Family::header(out, name, kind, help);
    Family { out }.sample(name, &[], value);
}

/// A per-route metric family: name, type, help, and how to read it from a route.
type RouteSeries = (
    &'static str,
    &'static str,
    &'static str,
    fn(&crate::route::RouteView) -> u64,
);

/// Renders every metric.
pub fn render(server: &Server, monitor: &Monitor) -> String {
    let mut out = String::with_capacity(4096);
    let stats = &server.stats;
    let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);

    Family::header(
        &mut out,
        "gnatsd_info",
        "gauge",
        "Server identity (always 1).",
    );
    Family { out: &mut out }.sample(
        "gnatsd_info",
        &[
            ("server_id", &server.id),
            ("server_name", &server.name),
            ("version", VERSION),
        ],
        1,
    );
    let uptime = (unix_nanos(std::time::SystemTime::now()) - unix_nanos(server.start_time)).max(0)
        as f64
        / 1e9;
    single(
        &mut out,
        "gnatsd_uptime_seconds",
        "gauge",
        "Seconds since the server started.",
        uptime,
    );
    single(
        &mut out,
        "gnatsd_connections",
        "gauge",
        "Client connections currently open.",
        server.num_clients(),
    );
    single(
        &mut out,
        "gnatsd_connections_total",
        "counter",
        "Client connections accepted since start.",
        load(&stats.total_connections),
    );
    single(
        &mut out,
        "gnatsd_subscriptions",
        "gauge",
        "Subscriptions in the subject index (local and remote interest).",
        server.accounts.subscription_count(),
    );
    single(
        &mut out,
        "gnatsd_in_msgs_total",
        "counter",
        "Messages received from clients and routes.",
        load(&stats.in_msgs),
    );
    single(
        &mut out,
        "gnatsd_out_msgs_total",
        "counter",
        "Messages delivered to clients and routes.",
        load(&stats.out_msgs),
    );
    single(
        &mut out,
        "gnatsd_in_bytes_total",
        "counter",
        "Payload bytes received from clients and routes.",
        load(&stats.in_bytes),
    );
    single(
        &mut out,
        "gnatsd_out_bytes_total",
        "counter",
        "Payload bytes delivered to clients and routes.",
        load(&stats.out_bytes),
    );
    single(
        &mut out,
        "gnatsd_slow_consumers_total",
        "counter",
        "Connections closed as slow consumers.",
        load(&stats.slow_consumers),
    );
    single(
        &mut out,
        "gnatsd_mem_bytes",
        "gauge",
        "Resident memory of the server process.",
        monitor.usage.rss_bytes(),
    );

    write_accounts(&mut out, server);

    let mut views = server
        .cluster
        .get()
        .map(|c| c.route_views())
        .unwrap_or_default();
    views.sort_by_key(|v| v.shared.cid);
    single(
        &mut out,
        "gnatsd_routes",
        "gauge",
        "Routes to other cluster members currently connected.",
        views.len(),
    );
    let per_route: [RouteSeries; 6] = [
        (
            "gnatsd_route_in_msgs_total",
            "counter",
            "Messages received on a route.",
            |v| v.shared.stats.inbound().0,
        ),
        (
            "gnatsd_route_out_msgs_total",
            "counter",
            "Messages sent on a route.",
            |v| v.shared.out.delivered().0,
        ),
        (
            "gnatsd_route_in_bytes_total",
            "counter",
            "Payload bytes received on a route.",
            |v| v.shared.stats.inbound().1,
        ),
        (
            "gnatsd_route_out_bytes_total",
            "counter",
            "Payload bytes sent on a route.",
            |v| v.shared.out.delivered().1,
        ),
        (
            "gnatsd_route_pending_bytes",
            "gauge",
            "Bytes queued for a route and not yet written.",
            |v| v.shared.out.pending() as u64,
        ),
        (
            "gnatsd_route_subscriptions",
            "gauge",
            "Remote interest registered from a route.",
            |v| v.shared.subscription_count() as u64,
        ),
    ];
    for (name, kind, help, value) in per_route {
        Family::header(&mut out, name, kind, help);
        let mut family = Family { out: &mut out };
        for v in &views {
            let rid = v.shared.cid.to_string();
            family.sample(
                name,
                &[("rid", &rid), ("remote_id", &v.remote_id)],
                value(v),
            );
        }
    }
    out
}

/// An account's open connections and `[in msgs, in bytes, out msgs, out bytes]`.
type AccountRow = (u64, [u64; 4]);

/// A per-account metric family: name, type, help, and how to read it from an account.
type AccountSeries<'a> = (
    &'static str,
    &'static str,
    &'static str,
    &'a dyn Fn(&str, &AccountRow) -> u64,
);

/// Per-account series, labelled `account`: open connections, subscriptions in its index,
/// and the traffic of its client connections (open ones plus those that closed).
fn write_accounts(out: &mut String, server: &Server) {
    use std::collections::BTreeMap;
    let mut rows: BTreeMap<String, AccountRow> = server
        .accounts
        .all()
        .map(|a| (a.name_str().to_string(), (0, a.closed_traffic().totals())))
        .collect();
    for c in server.client_list() {
        let Some(row) = rows.get_mut(&c.stats.meta().account) else {
            continue;
        };
        let ((in_msgs, in_bytes), (out_msgs, out_bytes)) = (c.stats.inbound(), c.out.delivered());
        row.0 += 1;
        for (total, v) in row
            .1
            .iter_mut()
            .zip([in_msgs, in_bytes, out_msgs, out_bytes])
        {
            *total += v;
        }
    }
    let subscriptions = |name: &str| {
        server
            .accounts
            .get(name.as_bytes())
            .map_or(0, |a| a.sublist.count() as u64)
    };
    let series: [AccountSeries; 6] = [
        (
            "gnatsd_account_connections",
            "gauge",
            "Client connections of an account currently open.",
            &|_, r| r.0,
        ),
        (
            "gnatsd_account_subscriptions",
            "gauge",
            "Subscriptions in an account's subject index (local and remote interest).",
            &|name, _| subscriptions(name),
        ),
        (
            "gnatsd_account_in_msgs_total",
            "counter",
            "Messages an account's clients published.",
            &|_, r| r.1[0],
        ),
        (
            "gnatsd_account_in_bytes_total",
            "counter",
            "Payload bytes an account's clients published.",
            &|_, r| r.1[1],
        ),
        (
            "gnatsd_account_out_msgs_total",
            "counter",
            "Messages delivered to an account's clients.",
            &|_, r| r.1[2],
        ),
        (
            "gnatsd_account_out_bytes_total",
            "counter",
            "Payload bytes delivered to an account's clients.",
            &|_, r| r.1[3],
        ),
    ];
    for (name, kind, help, value) in series {
        Family::header(out, name, kind, help);
        let mut family = Family { out };
        for (account, row) in &rows {
            family.sample(name, &[("account", account)], value(account, row));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn samples_are_written_with_labels() {
        let mut out = String::new();
        Family::header(&mut out, "x_total", "counter", "An x.");
        Family { out: &mut out }.sample("x_total", &[("a", "1"), ("b", "q\"")], 7);
        assert_eq!(
            out,
            "# HELP x_total An x.\n# TYPE x_total counter\nx_total{a=\"1\",b=\"q\\\"\"} 7\n"
        );
    }
}
