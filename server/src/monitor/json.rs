//! The JSON documents of the monitoring endpoints, with nats-server 2.9.10's keys in its order,
//! its value types and its units (`omitempty` fields are skipped the same way).

use std::collections::BTreeMap;

use serde::Serialize;

use super::format::go_float;

fn is_false(v: &bool) -> bool {
    !*v
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

fn is_zero_usize(v: &usize) -> bool {
    *v == 0
}

/// An object nats-server prints as `{}` here (gateways, leaf nodes, MQTT, websocket,
/// JetStream: not supported).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Empty {}

/// `/varz` `websocket`: the listener's settings, empty when there is none.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WebsocketVarz {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub host: String,
    #[serde(skip_serializing_if = "is_zero_u16")]
    pub port: u16,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub advertise: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub no_auth_user: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub jwt_cookie: String,
    /// Nanoseconds.
    #[serde(skip_serializing_if = "is_zero")]
    pub handshake_timeout: u64,
    /// Seconds.
    #[serde(skip_serializing_if = "is_zero_f64")]
    pub auth_timeout: f64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_tls: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tls_map: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub same_origin: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_origins: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub compression: bool,
}

fn is_zero_u16(v: &u16) -> bool {
    *v == 0
}

/// `/varz` `cluster`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClusterVarz {
    /// Cluster name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Cluster listen host.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub addr: String,
    /// Cluster listen port.
    #[serde(skip_serializing_if = "is_zero_usize")]
    pub cluster_port: usize,
    /// Route authentication timeout, seconds.
    #[serde(serialize_with = "go_float", skip_serializing_if = "is_zero_f64")]
    pub auth_timeout: f64,
    /// Configured route URLs (`host:port`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// TLS handshake timeout, seconds.
    #[serde(serialize_with = "go_float", skip_serializing_if = "is_zero_f64")]
    pub tls_timeout: f64,
    /// Routes require TLS.
    #[serde(skip_serializing_if = "is_false")]
    pub tls_required: bool,
    /// Routes verify certificates.
    #[serde(skip_serializing_if = "is_false")]
    pub tls_verify: bool,
}

fn is_zero_f64(v: &f64) -> bool {
    *v == 0.0
}

/// `/varz`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Varz {
    pub server_id: String,
    pub server_name: String,
    pub version: String,
    pub proto: i32,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub git_commit: String,
    pub go: String,
    pub host: String,
    pub port: u16,
    #[serde(skip_serializing_if = "is_false")]
    pub auth_required: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub tls_required: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub tls_verify: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ip: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub connect_urls: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ws_connect_urls: Vec<String>,
    pub max_connections: usize,
    #[serde(skip_serializing_if = "is_zero_usize")]
    pub max_subscriptions: usize,
    /// Nanoseconds.
    pub ping_interval: u64,
    pub ping_max: u32,
    pub http_host: String,
    pub http_port: i32,
    pub http_base_path: String,
    pub https_port: i32,
    /// Seconds.
    #[serde(serialize_with = "go_float")]
    pub auth_timeout: f64,
    pub max_control_line: usize,
    pub max_payload: usize,
    pub max_pending: usize,
    pub cluster: ClusterVarz,
    pub gateway: Empty,
    pub leaf: Empty,
    pub mqtt: Empty,
    pub websocket: WebsocketVarz,
    pub jetstream: Empty,
    /// Seconds.
    #[serde(serialize_with = "go_float")]
    pub tls_timeout: f64,
    /// Nanoseconds.
    pub write_deadline: u64,
    pub start: String,
    pub now: String,
    pub uptime: String,
    pub mem: i64,
    pub cores: usize,
    pub gomaxprocs: usize,
    #[serde(serialize_with = "go_float")]
    pub cpu: f64,
    pub connections: usize,
    pub total_connections: u64,
    pub routes: usize,
    pub remotes: usize,
    pub leafnodes: usize,
    pub in_msgs: u64,
    pub out_msgs: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
    pub slow_consumers: u64,
    pub subscriptions: u64,
    pub http_req_stats: BTreeMap<String, u64>,
    pub config_load_time: String,
    /// Operator mode: the trusted operators' JWTs as configured.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trusted_operators_jwt: Vec<String>,
    /// Operator mode: the same operators decoded.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trusted_operators_claim: Vec<crate::jwt::OperatorClaims>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub system_account: String,
}

/// One subscription in a `subscriptions_list_detail` or `/subsz` list.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SubDetail {
    /// Account (only in `/subsz`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub account: String,
    pub subject: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub qgroup: String,
    pub sid: String,
    /// Messages delivered to it.
    pub msgs: u64,
    /// Auto-unsubscribe limit.
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    pub cid: u64,
}

/// One connection in `/connz`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ConnInfo {
    pub cid: u64,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub kind: &'static str,
    #[serde(rename = "type", skip_serializing_if = "str::is_empty")]
    pub conn_type: &'static str,
    pub ip: String,
    pub port: u16,
    pub start: String,
    pub last_activity: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    pub rtt: String,
    pub uptime: String,
    pub idle: String,
    pub pending_bytes: usize,
    pub in_msgs: u64,
    pub out_msgs: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
    pub subscriptions: usize,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub lang: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub tls_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub tls_cipher_suite: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub authorized_user: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub account: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subscriptions_list: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subscriptions_list_detail: Vec<SubDetail>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub jwt: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub issuer_key: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name_tag: String,
}

/// `/connz`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Connz {
    pub server_id: String,
    pub now: String,
    pub num_connections: usize,
    pub total: usize,
    pub offset: usize,
    pub limit: usize,
    pub connections: Vec<ConnInfo>,
}

/// One route in `/routez`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RouteInfo {
    pub rid: u64,
    pub remote_id: String,
    pub did_solicit: bool,
    pub is_configured: bool,
    pub ip: String,
    pub port: u16,
    pub start: String,
    pub last_activity: String,
    pub rtt: String,
    pub uptime: String,
    pub idle: String,
    pub pending_size: usize,
    pub in_msgs: u64,
    pub out_msgs: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
    pub subscriptions: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subscriptions_list: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subscriptions_list_detail: Vec<SubDetail>,
}

/// `/routez`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Routez {
    pub server_id: String,
    pub now: String,
    pub num_routes: usize,
    pub routes: Vec<RouteInfo>,
}

/// The subject index statistics (`/subsz` without a list): the index's own figures, with
/// its fractions written the way Go writes floats.
#[derive(Debug, Clone, Default)]
pub struct SublistStats(pub crate::sublist::SublistStats);

impl Serialize for SublistStats {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        /// A fraction as Go's JSON encoder writes it.
        struct GoFloat(f64);
        impl Serialize for GoFloat {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                go_float(&self.0, s)
            }
        }
        let v = &self.0;
        let mut out = s.serialize_struct("SublistStats", 8)?;
        out.serialize_field("num_subscriptions", &v.num_subscriptions)?;
        out.serialize_field("num_cache", &v.num_cache)?;
        out.serialize_field("num_inserts", &v.num_inserts)?;
        out.serialize_field("num_removes", &v.num_removes)?;
        out.serialize_field("num_matches", &v.num_matches)?;
        out.serialize_field("cache_hit_rate", &GoFloat(v.cache_hit_rate))?;
        out.serialize_field("max_fanout", &v.max_fanout)?;
        out.serialize_field("avg_fanout", &GoFloat(v.avg_fanout))?;
        out.end()
    }
}

/// `/subsz?subs=1` with results.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Subsz {
    pub server_id: String,
    pub now: String,
    #[serde(flatten)]
    pub stats: SublistStats,
    pub total: usize,
    pub offset: usize,
    pub limit: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subscriptions_list: Vec<SubDetail>,
}

/// `/healthz`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Health {
    pub status: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
}

/// `/accountz`: the accounts' names, or with `acc=NAME` that account's detail.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Accountz {
    pub server_id: String,
    pub now: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub system_account: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accounts: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_detail: Option<AccountInfo>,
}

/// One account in `/accountz?acc=NAME`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AccountInfo {
    pub account_name: String,
    pub update_time: String,
    #[serde(skip_serializing_if = "is_false")]
    pub is_system: bool,
    pub expired: bool,
    pub complete: bool,
    pub jetstream_enabled: bool,
    pub leafnode_connections: usize,
    pub client_connections: usize,
    pub subscriptions: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exports: Vec<AccountExport>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub imports: Vec<AccountImport>,
    pub sublist_stats: SublistStats,
}

/// An export as `/accountz` lists it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AccountExport {
    pub subject: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub response_type: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub approved_accounts: Vec<String>,
}

/// An import as `/accountz` lists it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AccountImport {
    pub subject: String,
    pub account: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub local_subject: String,
    /// A service import's subject in the exporter.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub to: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub invalid: bool,
    pub share: bool,
    pub tracking: bool,
}
