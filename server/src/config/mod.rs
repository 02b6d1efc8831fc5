//! The configuration file: the NATS conf language (or TOML with the same keys) mapped onto
//! [`Options`].
//!
//! The conf language is parsed by [`conf`] into a value tree that remembers positions;
//! the typed structs here are deserialised from it with serde, so a misspelt key or a value of
//! the wrong type is reported as `file:line:col: message`, as nats-server does. Keys are
//! matched case-insensitively (the tree hands them over lower-cased).

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

mod accounts;
pub mod cli;
pub mod conf;
mod operator;
mod tls;
mod websocket;

use tls::{ClusterTlsBlock, TlsBlock};

use crate::options::{Authorization, Options, Permissions, ResponsePermission, SubjectRules, User};

/// Loads `path` (conf language, or TOML when the name ends in `.toml`) into options.
pub fn load(path: &Path) -> Result<Options, String> {
    let file: FileConfig = if path.extension().is_some_and(|e| e == "toml") {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("error opening config file: {e}"))?;
        toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.message()))?
    } else {
        let doc = conf::parse_file(path).map_err(|e| e.to_string())?;
        let file: FileConfig = conf::from_document(&doc).map_err(|e| e.to_string())?;
        let mut options = Options::default();
        file.apply(&mut options)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        options.config_warnings = seconds_warnings(&doc);
        return Ok(options);
    };
    let mut options = Options::default();
    file.apply(&mut options)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(options)
}

/// nats-server's warning for a duration key given as a bare number of seconds (still taken,
/// as seconds), positioned at the key.
fn seconds_warnings(doc: &conf::Document) -> Vec<String> {
    doc.map()
        .iter()
        .filter(|e| matches!(e.key.as_str(), "ping_interval" | "write_deadline"))
        .filter(|e| e.value.as_int().is_some())
        .map(|e| {
            // nats-server counts columns from the last newline: on the first line, where
            // there is none, they come out one less (`1:0` for a key at the very start).
            let (line, col) = (e.key_pos.line, e.key_pos.col);
            let col = if line == 1 {
                col.saturating_sub(1)
            } else {
                col
            };
            format!(
                "{}:{line}:{col}: invalid use of field {:?}: {} should be converted to a duration",
                e.key_file.display(),
                e.key,
                e.key
            )
        })
        .collect()
}

/// A port, or `host:port`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Listen {
    Port(i64),
    HostPort(String),
}

impl Listen {
    /// Sets `port`, and `host` when the value names one.
    fn set(&self, host: &mut String, port: &mut i32) -> Result<(), String> {
        let (h, p) = self.split()?;
        if let Some(h) = h {
            *host = h;
        }
        *port = p;
        Ok(())
    }

    fn split(&self) -> Result<(Option<String>, i32), String> {
        match self {
            Listen::Port(p) => Ok((None, port(*p)?)),
            Listen::HostPort(s) => {
                let (host, p) = s
                    .rsplit_once(':')
                    .ok_or_else(|| format!("could not parse address string {s:?}"))?;
                let p: i64 = p
                    .parse()
                    .map_err(|_| format!("could not parse port {p:?}"))?;
                let host = host.trim_start_matches('[').trim_end_matches(']');
                Ok(((!host.is_empty()).then(|| host.to_string()), port(p)?))
            }
        }
    }
}

/// A port as nats-server reads one: any number is taken (`-1`: random, `0`: the default), and
/// one no socket can have (`70000`, `-5`) fails when the listener binds, with Go's
/// `invalid port`, so `-t` passes on it as on nats-server. Past 32 bits it is refused here.
fn port(p: i64) -> Result<i32, String> {
    i32::try_from(p).map_err(|_| format!("invalid port {p}"))
}

/// Go's largest duration (`time.Duration` is int64 nanoseconds, about 292 years). Nothing
/// longer is accepted, so no deadline computed from an option can overflow.
const GO_MAX_DURATION: Duration = Duration::from_nanos(i64::MAX as u64);

/// A duration option: a Go duration string (`"2s"`, `"500ms"`) or a number of seconds.
/// Converted while the file is read, so a malformed, negative or out-of-range value is
/// reported at its `file:line:col`.
#[derive(Debug, Clone, Copy)]
struct ConfDuration(Duration);

/// A duration as written, before it is checked.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawDuration {
    Seconds(f64),
    Text(String),
}

impl RawDuration {
    /// Whether it is written as a negative amount (`-1`, `"-1s"`).
    fn is_negative(&self) -> bool {
        match self {
            RawDuration::Seconds(s) => *s < 0.0,
            RawDuration::Text(t) => t.starts_with('-') && conf::parse_duration(&t[1..]).is_some(),
        }
    }

    fn get(&self) -> Result<Duration, String> {
        match self {
            RawDuration::Seconds(s) if *s >= 0.0 => match Duration::try_from_secs_f64(*s) {
                Ok(d) if d <= GO_MAX_DURATION => Ok(d),
                _ => Err(format!("duration of {s} seconds is out of range")),
            },
            RawDuration::Seconds(s) => Err(format!("invalid duration {s}")),
            RawDuration::Text(t) => {
                conf::parse_duration(t).ok_or_else(|| format!("time: invalid duration {t:?}"))
            }
        }
    }
}

impl<'de> Deserialize<'de> for ConfDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        RawDuration::deserialize(d)?
            .get()
            .map(ConfDuration)
            .map_err(serde::de::Error::custom)
    }
}

fn size(v: i64, what: &str) -> Result<usize, String> {
    usize::try_from(v).map_err(|_| format!("invalid {what}: {v}"))
}

/// One string or a list of them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesMap {
    allow: Option<OneOrMany>,
    deny: Option<OneOrMany>,
}

/// `publish: "x"`, `publish: [..]` (allow list) or `publish: {allow, deny}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RulesValue {
    One(String),
    Many(Vec<String>),
    Map(RulesMap),
}

impl RulesValue {
    fn into_rules(self) -> SubjectRules {
        match self {
            RulesValue::One(s) => SubjectRules {
                allow: vec![s],
                deny: Vec::new(),
            },
            RulesValue::Many(v) => SubjectRules {
                allow: v,
                deny: Vec::new(),
            },
            RulesValue::Map(m) => SubjectRules {
                allow: m.allow.map(OneOrMany::into_vec).unwrap_or_default(),
                deny: m.deny.map(OneOrMany::into_vec).unwrap_or_default(),
            },
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResponsesMap {
    #[serde(alias = "max_msgs", alias = "max_messages", alias = "max_responses")]
    max: Option<i64>,
    #[serde(alias = "expiration", alias = "ttl")]
    expires: Option<RawDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ResponsesValue {
    Flag(bool),
    Map(ResponsesMap),
}

/// Reads a publish or subscribe list and checks every entry as nats-server does: a valid
/// subject, or a valid subject and one more word (a queue group), so a typo cannot leave a
/// rule that silently matches nothing.
fn subject_rules<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SubjectRules>, D::Error> {
    let rules = RulesValue::deserialize(d)?.into_rules();
    for entry in rules.allow.iter().chain(&rules.deny) {
        check_permission_subject(entry).map_err(serde::de::Error::custom)?;
    }
    Ok(Some(rules))
}

/// nats-server's `checkPermSubjectArray` rule for one entry.
fn check_permission_subject(entry: &str) -> Result<(), String> {
    if nats_proto::subject::is_valid_subject(entry.as_bytes()) {
        return Ok(());
    }
    let words: Vec<&str> = entry.split_whitespace().collect();
    match words.as_slice() {
        [subject, _queue] if nats_proto::subject::is_valid_subject(subject.as_bytes()) => Ok(()),
        [subject, _queue] => Err(format!("subject {subject:?} is not a valid subject")),
        _ => Err(format!("subject {entry:?} is not a valid subject")),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PermissionsBlock {
    #[serde(
        alias = "pub",
        alias = "import",
        default,
        deserialize_with = "subject_rules"
    )]
    publish: Option<SubjectRules>,
    #[serde(
        alias = "sub",
        alias = "export",
        default,
        deserialize_with = "subject_rules"
    )]
    subscribe: Option<SubjectRules>,
    #[serde(alias = "publish_allow_responses")]
    allow_responses: Option<ResponsesValue>,
}

impl PermissionsBlock {
    fn into_permissions(self) -> Result<Permissions, String> {
        let allow_responses = match self.allow_responses {
            None | Some(ResponsesValue::Flag(false)) => None,
            Some(ResponsesValue::Flag(true)) => Some(ResponsePermission::default()),
            // nats-server: 0 means the default, a negative number no limit.
            Some(ResponsesValue::Map(m)) => Some(ResponsePermission {
                max: match m.max {
                    None | Some(0) => 1,
                    Some(n) if n < 0 => usize::MAX,
                    Some(n) => size(n, "allow_responses max")?,
                },
                expires: match m.expires {
                    None => Some(ResponsePermission::DEFAULT_EXPIRES),
                    Some(raw) if raw.is_negative() => None,
                    Some(raw) => match raw.get()? {
                        d if d.is_zero() => Some(ResponsePermission::DEFAULT_EXPIRES),
                        d => Some(d),
                    },
                },
            }),
        };
        Ok(Permissions {
            publish: self.publish,
            subscribe: self.subscribe,
            allow_responses,
        })
    }
}

/// Connection types nats-server knows for `allowed_connection_types`.
const CONNECTION_TYPES: &[&str] = &[
    "STANDARD",
    "WEBSOCKET",
    "LEAFNODE",
    "LEAFNODE_WS",
    "MQTT",
    "MQTT_WS",
];

/// `allowed_connection_types`, upper-cased and checked against [`CONNECTION_TYPES`].
fn connection_types<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<String>>, D::Error> {
    let types: Vec<String> = OneOrMany::deserialize(d)?
        .into_vec()
        .into_iter()
        .map(|t| t.to_ascii_uppercase())
        .collect();
    let unknown: Vec<&String> = types
        .iter()
        .filter(|t| !CONNECTION_TYPES.contains(&t.as_str()))
        .collect();
    if !unknown.is_empty() {
        let listed = unknown
            .iter()
            .map(|t| format!("{t:?}"))
            .collect::<Vec<_>>()
            .join(" ");
        return Err(serde::de::Error::custom(format!(
            "invalid connection types [{listed}]"
        )));
    }
    Ok(Some(types))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserEntry {
    #[serde(alias = "username")]
    user: Option<String>,
    #[serde(alias = "pass")]
    password: Option<String>,
    #[serde(alias = "permission", alias = "authorization")]
    permissions: Option<PermissionsBlock>,
    nkey: Option<String>,
    #[serde(
        alias = "connection_types",
        alias = "clients",
        default,
        deserialize_with = "connection_types"
    )]
    allowed_connection_types: Option<Vec<String>>,
}

/// A `users` list; a name or nkey given twice is refused, as nats-server does.
fn user_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<UserEntry>>, D::Error> {
    let users = Vec::<UserEntry>::deserialize(d)?;
    let mut seen = std::collections::HashSet::new();
    for u in &users {
        let (what, name) = match &u.nkey {
            Some(nkey) => ("nkey", nkey.as_str()),
            None => ("user", u.user.as_deref().unwrap_or_default()),
        };
        if !seen.insert((what, name)) {
            return Err(serde::de::Error::custom(format!(
                "Duplicate {what} {name:?} detected"
            )));
        }
    }
    Ok(Some(users))
}

/// Refusers for configuration the server does not implement yet: each fails while its value
/// is read, so the error names `file:line:col`. Accepting such a key and ignoring it could
/// admit clients or show them messages that nats-server would not (fail closed).
macro_rules! refuse {
    ($($name:ident => $key:literal),* $(,)?) => {$(
        fn $name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<()>, D::Error> {
            let _ = serde::de::IgnoredAny::deserialize(d)?;
            Err(serde::de::Error::custom(concat!($key, " is not supported by this server yet")))
        }
    )*};
}

refuse! {
    refuse_account_nkey => "account nkey",
    refuse_account_jetstream => "account jetstream",
    refuse_account_mappings => "account mappings",
    refuse_latency => "service latency tracking",
    refuse_trusted => "trusted",
    refuse_gateway => "gateway",
    refuse_leafnodes => "leafnodes",
    refuse_jetstream => "jetstream",
    refuse_mqtt => "mqtt",
    refuse_mappings => "mappings",
    refuse_ocsp => "ocsp",
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthBlock {
    #[serde(alias = "username")]
    user: Option<String>,
    #[serde(alias = "pass")]
    password: Option<String>,
    token: Option<String>,
    timeout: Option<ConfDuration>,
    #[serde(default, deserialize_with = "user_list")]
    users: Option<Vec<UserEntry>>,
    #[serde(alias = "permissions", alias = "default_permission")]
    default_permissions: Option<PermissionsBlock>,
}

impl AuthBlock {
    fn into_authorization(self) -> Result<Authorization, String> {
        let mut users = Vec::new();
        for entry in self.users.unwrap_or_default() {
            users.push(User::from_entry(entry)?);
        }
        Ok(Authorization {
            user: self.user,
            password: self.password,
            token: self.token,
            users,
            default_permissions: self
                .default_permissions
                .map(PermissionsBlock::into_permissions)
                .transpose()?,
            timeout: self.timeout.map(|t| t.0),
            no_auth_user: None,
        })
    }
}

impl User {
    /// A user of a `users` list (of `authorization` or of an account), with nats-server's
    /// rules for nkey users.
    fn from_entry(entry: UserEntry) -> Result<User, String> {
        match &entry.nkey {
            None if entry.user.as_deref().unwrap_or_default().is_empty() => {
                return Err("User entry requires a user".into());
            }
            None => {}
            Some(nkey) => {
                let valid = nkey.starts_with('U') && nkeys::KeyPair::from_public_key(nkey).is_ok();
                if !valid {
                    return Err("Not a valid public nkey for a user".into());
                }
                if entry.user.is_some() || entry.password.is_some() {
                    return Err("Nkey users do not take usernames or passwords".into());
                }
            }
        }
        Ok(User {
            nkey: entry.nkey,
            username: entry.user.unwrap_or_default(),
            password: entry.password.unwrap_or_default(),
            permissions: entry
                .permissions
                .map(PermissionsBlock::into_permissions)
                .transpose()?,
            allowed_connection_types: entry.allowed_connection_types,
            account: None,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClusterAuth {
    #[serde(alias = "username")]
    user: Option<String>,
    #[serde(alias = "pass")]
    password: Option<String>,
    timeout: Option<ConfDuration>,
    /// Deprecated place of the route permissions (used when `cluster.permissions` is absent).
    permissions: Option<PermissionsBlock>,
}

/// Route permissions (`import`/`export`); replies cannot be granted to routes.
fn route_permissions(block: PermissionsBlock) -> Result<Permissions, String> {
    if block.allow_responses.is_some() {
        return Err("Cluster permissions do not support dynamic responses".into());
    }
    block.into_permissions()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClusterBlock {
    name: Option<String>,
    listen: Option<Listen>,
    #[serde(alias = "net")]
    host: Option<String>,
    port: Option<i64>,
    routes: Option<Vec<String>>,
    authorization: Option<ClusterAuth>,
    permissions: Option<PermissionsBlock>,
    tls: Option<ClusterTlsBlock>,
    #[serde(alias = "advertise")]
    cluster_advertise: Option<String>,
    no_advertise: Option<bool>,
    connect_retries: Option<u32>,
}

/// Every top-level key nats-server 2.9 accepts for a core server. Keys of subsystems we do not
/// implement yet are refused while they are read (see [`refuse!`]); the few that change
/// nothing about who may connect or what they see are accepted and warned about at start-up.
// The refused fields are never read: reading them fails.
#[allow(dead_code)]
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<Listen>,
    #[serde(alias = "net")]
    host: Option<String>,
    port: Option<i64>,
    client_advertise: Option<String>,
    server_name: Option<String>,
    http: Option<Listen>,
    #[serde(alias = "monitor_port")]
    http_port: Option<i64>,
    https: Option<Listen>,
    https_port: Option<i64>,
    http_base_path: Option<String>,
    #[serde(alias = "max_conn")]
    max_connections: Option<i64>,
    #[serde(alias = "max_subs")]
    max_subscriptions: Option<i64>,
    max_payload: Option<i64>,
    max_control_line: Option<i64>,
    max_pending: Option<i64>,
    ping_interval: Option<ConfDuration>,
    ping_max: Option<i64>,
    write_deadline: Option<ConfDuration>,
    debug: Option<bool>,
    trace: Option<bool>,
    trace_verbose: Option<bool>,
    logtime: Option<bool>,
    #[serde(alias = "logfile")]
    log_file: Option<String>,
    #[serde(alias = "logfile_size_limit")]
    log_size_limit: Option<i64>,
    syslog: Option<bool>,
    remote_syslog: Option<String>,
    #[serde(alias = "pidfile")]
    pid_file: Option<String>,
    ports_file_dir: Option<String>,
    max_traced_msg_len: Option<i64>,
    no_header_support: Option<bool>,
    /// With `tls {}`: clients may also connect in plaintext (nats-server's `allow_non_tls`).
    allow_non_tls: Option<bool>,
    no_system_account: Option<bool>,
    lame_duck_duration: Option<ConfDuration>,
    lame_duck_grace_period: Option<ConfDuration>,
    authorization: Option<AuthBlock>,
    tls: Option<TlsBlock>,
    cluster: Option<ClusterBlock>,
    /// Metadata for monitoring and JetStream placement only.
    server_tags: Option<OneOrMany>,
    no_auth_user: Option<String>,
    accounts: Option<accounts::AccountsValue>,
    #[serde(alias = "system")]
    system_account: Option<String>,
    #[serde(default, deserialize_with = "refuse_gateway")]
    gateway: Option<()>,
    #[serde(alias = "leaf", default, deserialize_with = "refuse_leafnodes")]
    leafnodes: Option<()>,
    #[serde(default, deserialize_with = "refuse_jetstream")]
    jetstream: Option<()>,
    #[serde(alias = "ws")]
    websocket: Option<websocket::WebsocketBlock>,
    #[serde(default, deserialize_with = "refuse_mqtt")]
    mqtt: Option<()>,
    #[serde(
        alias = "operators",
        alias = "root",
        alias = "roots",
        alias = "root_operator",
        alias = "root_operators",
        default,
        deserialize_with = "operator::operator_jwt"
    )]
    operator: Option<String>,
    #[serde(
        alias = "account_resolver",
        alias = "accounts_resolver",
        default,
        deserialize_with = "operator::resolver"
    )]
    resolver: Option<crate::options::Resolver>,
    #[serde(default, deserialize_with = "operator::preload")]
    resolver_preload: Option<std::collections::BTreeMap<String, String>>,
    #[serde(alias = "trusted_keys", default, deserialize_with = "refuse_trusted")]
    trusted: Option<()>,
    #[serde(alias = "maps", default, deserialize_with = "refuse_mappings")]
    mappings: Option<()>,
    #[serde(default, deserialize_with = "refuse_ocsp")]
    ocsp: Option<()>,
}

impl FileConfig {
    fn apply(self, o: &mut Options) -> Result<(), String> {
        if let Some(listen) = &self.listen {
            listen.set(&mut o.host, &mut o.port)?;
        }
        if let Some(v) = self.host {
            o.host = v;
        }
        if let Some(v) = self.port {
            o.port = port(v)?;
        }
        o.client_advertise = self.client_advertise.or(o.client_advertise.take());
        o.server_name = self.server_name.or(o.server_name.take());
        if let Some(http) = &self.http {
            http.set(&mut o.http_host, &mut o.http_port)?;
        }
        if let Some(v) = self.http_port {
            o.http_port = port(v)?;
        }
        if let Some(https) = &self.https {
            https.set(&mut o.http_host, &mut o.https_port)?;
        }
        if let Some(v) = self.https_port {
            o.https_port = port(v)?;
        }
        if let Some(tls) = self.tls {
            o.warnings
                .extend(tls.1.iter().map(|k| unsupported_warning(k)));
            o.tls = Some(tls.0);
        }
        // Accepted without effect: none of these changes who may connect or what they see.
        for (key, present) in [
            ("http_base_path", self.http_base_path.is_some()),
            (
                "log_size_limit",
                self.log_size_limit.is_some_and(|v| v != 0),
            ),
            ("syslog", self.syslog == Some(true)),
            ("remote_syslog", self.remote_syslog.is_some()),
            ("max_traced_msg_len", self.max_traced_msg_len.is_some()),
            ("server_tags", self.server_tags.is_some()),
        ] {
            if present {
                o.warnings.push(unsupported_warning(key));
            }
        }
        // As nats-server: 0 is the default, a negative limit is no limit.
        match self.max_connections {
            Some(0) | None => {}
            Some(v) if v < 0 => o.max_connections = usize::MAX,
            Some(v) => o.max_connections = size(v, "max_connections")?,
        }
        if let Some(v) = self.max_subscriptions {
            o.max_subscriptions = size(v, "max_subscriptions")?;
        }
        if let Some(v) = self.max_payload {
            o.max_payload = size(v, "max_payload")?;
        }
        if let Some(v) = self.max_control_line {
            o.max_control_line = size(v, "max_control_line")?;
        }
        if let Some(v) = self.max_pending {
            o.max_pending = size(v, "max_pending")?;
        }
        // Zero means the default, as in nats-server (a zero interval would ping without end).
        if let Some(v) = self.ping_interval.filter(|v| !v.0.is_zero()) {
            o.ping_interval = v.0;
        }
        if let Some(v) = self.ping_max {
            // nats-server takes any integer: past u32 it is as good as unlimited, and zero or
            // less closes a client at the first unanswered PING.
            o.ping_max = u32::try_from(v.max(0)).unwrap_or(u32::MAX);
        }
        if let Some(v) = self.write_deadline.filter(|v| !v.0.is_zero()) {
            o.write_deadline = v.0;
        }
        o.debug = self.debug.unwrap_or(o.debug);
        o.trace = self.trace.or(self.trace_verbose).unwrap_or(o.trace);
        o.logtime = self.logtime.unwrap_or(o.logtime);
        if let Some(v) = self.log_file {
            o.log_file = Some(v.into());
        }
        if let Some(v) = self.pid_file {
            o.pid_file = Some(v.into());
        }
        if let Some(v) = self.ports_file_dir {
            o.ports_file_dir = Some(v.into());
        }
        if let Some(v) = self.lame_duck_duration {
            o.lame_duck_duration = v.0;
        }
        if let Some(v) = self.lame_duck_grace_period {
            o.lame_duck_grace_period = v.0;
        }
        o.no_header_support = self.no_header_support.unwrap_or(o.no_header_support);
        o.allow_non_tls = self.allow_non_tls.unwrap_or(o.allow_non_tls);
        o.no_system_account = self.no_system_account.unwrap_or(o.no_system_account);
        if let Some(auth) = self.authorization {
            o.authorization = auth.into_authorization()?;
        }
        if let Some(blocks) = self.accounts {
            accounts::apply(blocks.0, o)?;
        }
        o.operators.extend(self.operator);
        o.resolver = self.resolver.or(o.resolver);
        if let Some(preload) = self.resolver_preload {
            o.resolver_preload = preload;
        }
        if let Some(name) = self.system_account {
            // In operator mode the system account comes from the resolver (checked below).
            if o.operators.is_empty() && !o.accounts.iter().any(|a| a.name == name) {
                return Err("error resolving system account: account not found".into());
            }
            o.system_account = Some(name);
        }
        if let Some(user) = self.no_auth_user {
            if o.authorization.users.is_empty() {
                return Err(format!(
                    "no_auth_user: {user:?} present, but users are not defined"
                ));
            }
            if !o.authorization.users.iter().any(|u| u.username == user) {
                return Err(format!(
                    "no_auth_user: {user:?} not present as user in authorization block or account configuration"
                ));
            }
            o.authorization.no_auth_user = Some(user);
        }
        crate::operator::configure(o)?;
        accounts::check(o)?;
        if let Some(block) = self.websocket {
            block.apply(o)?;
        }
        websocket::check(o)?;
        if let Some(cluster) = self.cluster {
            let c = &mut o.cluster;
            if let Some(listen) = &cluster.listen {
                let (host, port) = listen.split()?;
                c.host = host.unwrap_or_else(|| "0.0.0.0".into());
                c.port = port;
            }
            if let Some(v) = cluster.host {
                c.host = v;
            }
            if let Some(v) = cluster.port {
                c.port = port(v)?;
            }
            if c.host.is_empty() {
                c.host = "0.0.0.0".into();
            }
            c.name = cluster.name;
            c.routes = cluster.routes.unwrap_or_default();
            let mut permissions = cluster.permissions;
            if let Some(auth) = cluster.authorization {
                c.user = auth.user;
                c.password = auth.password;
                c.auth_timeout = auth.timeout.map(|t| t.0);
                if permissions.is_none() {
                    permissions = auth.permissions;
                }
            }
            c.permissions = permissions.map(route_permissions).transpose()?;
            c.advertise = cluster.cluster_advertise;
            c.no_advertise = cluster.no_advertise.unwrap_or(false);
            c.connect_retries = cluster.connect_retries.unwrap_or(0);
            if let Some(ClusterTlsBlock(tls)) = cluster.tls {
                o.warnings.extend(
                    tls.1
                        .iter()
                        .map(|k| unsupported_warning(&format!("cluster {k}"))),
                );
                o.cluster.tls = Some(tls.0);
            }
        }
        Ok(())
    }
}

/// The start-up warning for a key that is accepted but has no effect.
fn unsupported_warning(key: &str) -> String {
    format!("{key} is not supported by this server yet and is ignored")
}
