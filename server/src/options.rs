//! The server's typed options: what the configuration file and the command line both produce.
//!
//! Defaults are nats-server 2.9.10's. The file layer (`config`) and the flag layer (`cli`) fill
//! an [`Options`]; flags are applied after the file so they win.

use std::path::PathBuf;
use std::time::Duration;

/// One user of a `users` list, with optional permissions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct User {
    /// User name.
    pub username: String,
    /// Password, plain or a bcrypt hash (`$2a$…`).
    pub password: String,
    /// What this user may publish and subscribe to (None: everything).
    pub permissions: Option<Permissions>,
    /// Connection types the user may connect with (`allowed_connection_types`, upper-case;
    /// None: all). This server only has plain NATS clients (`STANDARD`).
    pub allowed_connection_types: Option<Vec<String>>,
    /// The account the user is in (`accounts { NAME { users } }`; None: the global account).
    pub account: Option<String>,
    /// An nkey user's public key (`U…`): it logs in by signing the INFO nonce, without a
    /// name or password.
    pub nkey: Option<String>,
}

/// The global account's name: clients without an account of their own are in it.
pub const GLOBAL_ACCOUNT: &str = "$G";
/// The default system account's name.
pub const SYSTEM_ACCOUNT: &str = "$SYS";

/// One account of `accounts {}`: its name, what it exports and what it imports. Its users
/// are in [`Authorization::users`], naming it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountConfig {
    /// The account's name.
    pub name: String,
    /// What other accounts may import from it.
    pub exports: Vec<Export>,
    /// The streams it takes from other accounts.
    pub imports: Vec<StreamImportConfig>,
    /// The services it sends requests to in other accounts.
    pub service_imports: Vec<ServiceImportConfig>,
    /// Its `limits {}` (None each: unlimited).
    pub limits: AccountLimits,
}

/// An account's `limits {}`: connections of the account at once, and per connection
/// subscriptions and the largest payload (nats-server applies the account's subscription
/// and payload limits to each of its connections).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccountLimits {
    /// `max_connections`.
    pub max_connections: Option<usize>,
    /// `max_subscriptions`.
    pub max_subscriptions: Option<usize>,
    /// `max_payload`.
    pub max_payload: Option<usize>,
}

/// An export: a stream (messages flow to importers) or a service (requests flow to it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Export {
    /// The exported subjects.
    pub subject: String,
    /// A service export (requests), not a stream.
    pub service: bool,
    /// The accounts allowed to import it (None: every account, a public export).
    pub accounts: Option<Vec<String>>,
    /// A service's `response_type` as nats-server's monitoring names it (`Singleton`,
    /// `Streamed`, `Chunked`); None for streams.
    pub response_type: Option<String>,
    /// A service's `response_threshold`: how long a response mapping waits for (the next
    /// part of) a response before it is dropped (None: nats-server's two minutes).
    pub response_threshold: Option<std::time::Duration>,
}

/// A service import: `{service: {account, subject}, to}`. Requests published in the
/// importer on `to` (or `subject`) go to the exporter on `subject`, and the responses come
/// back to the requester's reply subject.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceImportConfig {
    /// The exporting account.
    pub account: String,
    /// The subject the exporter's service listens on.
    pub subject: String,
    /// The subject requests are published on in the importer (`to`; default `subject`).
    pub local: String,
    /// `share: true`: the exporter learns who the requester is (`Nats-Request-Info`).
    pub share: bool,
}

/// A stream import: `{stream: {account, subject}, prefix}` or `to`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamImportConfig {
    /// The exporting account.
    pub account: String,
    /// The subjects taken, within the export.
    pub subject: String,
    /// Subjects arrive as `prefix.subject`.
    pub prefix: Option<String>,
    /// A literal subject arrives under this name instead.
    pub to: Option<String>,
}

/// An account resolver of operator mode. Only the memory resolver exists here: the URL and
/// directory (`full`/`cache`) resolvers are refused when the configuration is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolver {
    /// `resolver: MEMORY`: the accounts of `resolver_preload`, fixed at start-up.
    Memory,
}

/// Allow and deny lists for one direction (publish or subscribe).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SubjectRules {
    /// Subjects allowed (empty: everything not denied). Subscribe entries may be
    /// `"subject queue"` to restrict queue groups.
    pub allow: Vec<String>,
    /// Subjects denied; deny wins over allow.
    pub deny: Vec<String>,
}

/// Per-user permissions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Permissions {
    /// Publish rules (None: unrestricted).
    pub publish: Option<SubjectRules>,
    /// Subscribe rules (None: unrestricted).
    pub subscribe: Option<SubjectRules>,
    /// Allow publishing to reply subjects of requests this user received (`allow_responses`).
    pub allow_responses: Option<ResponsePermission>,
}

/// `allow_responses`: how many replies, for how long.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResponsePermission {
    /// Replies allowed per request (nats-server default 1; `usize::MAX`: unlimited).
    pub max: usize,
    /// How long a reply subject stays allowed (nats-server default 2 minutes; None: forever).
    pub expires: Option<Duration>,
}

impl ResponsePermission {
    /// nats-server's default lifetime of a reply permission.
    pub const DEFAULT_EXPIRES: Duration = Duration::from_secs(120);
}

impl Default for ResponsePermission {
    fn default() -> Self {
        ResponsePermission {
            max: 1,
            expires: Some(ResponsePermission::DEFAULT_EXPIRES),
        }
    }
}

/// Client authentication settings (`authorization {}` and `--user/--pass/--auth`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Authorization {
    /// Single user name.
    pub user: Option<String>,
    /// Single user password (plain or bcrypt).
    pub password: Option<String>,
    /// Token (plain or bcrypt).
    pub token: Option<String>,
    /// Users list.
    pub users: Vec<User>,
    /// Permissions for users without their own.
    pub default_permissions: Option<Permissions>,
    /// Time allowed to authenticate.
    pub timeout: Option<Duration>,
    /// The user a client without credentials logs in as (`no_auth_user`).
    pub no_auth_user: Option<String>,
}

impl Authorization {
    /// Whether clients must present credentials.
    pub fn required(&self) -> bool {
        self.user.is_some() || self.token.is_some() || !self.users.is_empty()
    }
}

/// TLS settings of one listener: the top-level `tls {}` (clients) and `cluster { tls {} }`
/// (routes), or the `--tls*` flags.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsOptions {
    /// PEM certificate chain this server presents.
    pub cert_file: PathBuf,
    /// PEM private key of that certificate.
    pub key_file: PathBuf,
    /// PEM CA certificates peers' certificates must chain to (None: the system's roots).
    pub ca_file: Option<PathBuf>,
    /// Require and verify client certificates (always on for routes, as in nats-server).
    pub verify: bool,
    /// `verify_and_map` (clients only): the client certificate's names pick the user, as
    /// nats-server maps them (see `tls::identity`). Implies `verify`.
    pub map: bool,
    /// When dialling (routes): do not verify the server's certificate.
    pub insecure: bool,
    /// Longest a TLS handshake may take (`timeout`, default 2 s).
    pub timeout: Duration,
}

impl TlsOptions {
    /// nats-server's default TLS handshake timeout.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

    /// Settings for `cert_file`/`key_file` with every other key at its default.
    pub fn new(cert_file: PathBuf, key_file: PathBuf) -> TlsOptions {
        TlsOptions {
            cert_file,
            key_file,
            ca_file: None,
            verify: false,
            map: false,
            insecure: false,
            timeout: TlsOptions::DEFAULT_TIMEOUT,
        }
    }
}

/// Cluster settings (`cluster {}` and the cluster flags); used by the clustering issue.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterOptions {
    /// Cluster name (None: generated).
    pub name: Option<String>,
    /// Listen host.
    pub host: String,
    /// Listen port (0: clustering off; -1: random).
    pub port: i32,
    /// Route URLs to dial.
    pub routes: Vec<String>,
    /// Cluster authorization user.
    pub user: Option<String>,
    /// Cluster authorization password.
    pub password: Option<String>,
    /// Cluster authorization timeout.
    pub auth_timeout: Option<Duration>,
    /// Do not advertise client URLs to clients.
    pub no_advertise: bool,
    /// Address advertised to other servers.
    pub advertise: Option<String>,
    /// Retries for implicit routes.
    pub connect_retries: u32,
    /// Route TLS (`cluster { tls {} }`).
    pub tls: Option<TlsOptions>,
    /// Route permissions: `publish` is `import` (interest we send, messages we take),
    /// `subscribe` is `export` (interest we accept, messages we send).
    pub permissions: Option<Permissions>,
}

/// The websocket listener (`websocket {}`): where it listens, its TLS, which origins it
/// admits, and the authentication that overrides the top-level one for its clients.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WebsocketOptions {
    /// Listen host (default `0.0.0.0`).
    pub host: String,
    /// Listen port (-1: random).
    pub port: i32,
    /// `host[:port]` advertised to websocket clients of the cluster.
    pub advertise: Option<String>,
    /// Plain `ws://` allowed (without it, `tls {}` is required).
    pub no_tls: bool,
    /// `wss://`: the TLS of the listener.
    pub tls: Option<TlsOptions>,
    /// Negotiate permessage-deflate with clients that offer it.
    pub compression: bool,
    /// Refuse an `Origin` other than the request's `Host`.
    pub same_origin: bool,
    /// The origins admitted (`scheme://host[:port]`); empty: any.
    pub allowed_origins: Vec<String>,
    /// Longest the TLS and HTTP upgrade may take.
    pub handshake_timeout: Option<Duration>,
    /// The user a websocket client without credentials logs in as.
    pub no_auth_user: Option<String>,
    /// The single user of websocket clients (`authorization { user, password }`).
    pub user: Option<String>,
    /// Its password.
    pub password: Option<String>,
    /// The token of websocket clients.
    pub token: Option<String>,
    /// The CONNECT deadline of websocket clients (default: the top-level one).
    pub auth_timeout: Option<Duration>,
    /// The cookie a user JWT may come in (operator mode).
    pub jwt_cookie: Option<String>,
}

impl WebsocketOptions {
    /// Whether the block sets its own authentication, which then replaces the top-level
    /// single user, token and `no_auth_user` for websocket clients (nats-server's override).
    pub fn overrides_auth(&self) -> bool {
        self.user.is_some() || self.token.is_some() || self.no_auth_user.is_some()
    }
}

/// Everything the server needs to start.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Client listen host.
    pub host: String,
    /// Client listen port (-1: random).
    pub port: i32,
    /// Server name (None: the server id).
    pub server_name: Option<String>,
    /// `host[:port]` advertised to clients.
    pub client_advertise: Option<String>,
    /// Monitoring HTTP host.
    pub http_host: String,
    /// Monitoring HTTP port (0: off, -1: random).
    pub http_port: i32,
    /// Most concurrent client connections.
    pub max_connections: usize,
    /// Most subscriptions per connection (0: unlimited).
    pub max_subscriptions: usize,
    /// Largest payload accepted.
    pub max_payload: usize,
    /// Longest control line arguments.
    pub max_control_line: usize,
    /// Most bytes queued for one client before it is a slow consumer.
    pub max_pending: usize,
    /// Interval of server PINGs.
    pub ping_interval: Duration,
    /// Unanswered PINGs before `Stale Connection`.
    pub ping_max: u32,
    /// Longest a socket write may block before the client is a slow consumer.
    pub write_deadline: Duration,
    /// Debug log lines.
    pub debug: bool,
    /// Protocol trace log lines.
    pub trace: bool,
    /// Timestamps in log lines.
    pub logtime: bool,
    /// Log to this file instead of stderr.
    pub log_file: Option<PathBuf>,
    /// Write the PID here.
    pub pid_file: Option<PathBuf>,
    /// Write `<exe>_<pid>.ports` here.
    pub ports_file_dir: Option<PathBuf>,
    /// Refuse HPUB/HMSG.
    pub no_header_support: bool,
    /// With client TLS configured, also take plaintext clients: INFO says `tls_available`
    /// instead of `tls_required`, and each client's first byte decides (nats-server's
    /// `allow_non_tls`).
    pub allow_non_tls: bool,
    /// No system account (client ids start at 1 instead of 4).
    pub no_system_account: bool,
    /// How long lame duck mode takes to close every client.
    pub lame_duck_duration: Duration,
    /// Wait before lame duck mode starts closing clients.
    pub lame_duck_grace_period: Duration,
    /// Client authentication.
    pub authorization: Authorization,
    /// `accounts {}`: the accounts besides the global one.
    pub accounts: Vec<AccountConfig>,
    /// `system_account` (None: `$SYS`, unless `no_system_account`).
    pub system_account: Option<String>,
    /// Operator mode (`operator`): the trusted operators' JWTs as read. Non-empty means
    /// clients log in with user JWTs only, and accounts come from the resolver.
    pub operators: Vec<String>,
    /// `resolver`: where account JWTs come from in operator mode.
    pub resolver: Option<Resolver>,
    /// `resolver_preload`: account public key → account JWT, for the memory resolver.
    pub resolver_preload: std::collections::BTreeMap<String, String>,
    /// Clustering.
    pub cluster: ClusterOptions,
    /// The websocket listener (`websocket {}`), if configured.
    pub websocket: Option<WebsocketOptions>,
    /// Client TLS (`tls {}`, `--tls*`); also the certificate of HTTPS monitoring.
    pub tls: Option<TlsOptions>,
    /// Monitoring HTTPS port (`https`, `https_port`, `-ms`; 0: off, -1: random).
    pub https_port: i32,
    /// The configuration file, if any (for reload and the startup line).
    pub config_file: Option<PathBuf>,
    /// Keys of the configuration that were accepted without effect, logged as warnings at
    /// start-up.
    pub warnings: Vec<String>,
    /// nats-server's own configuration warnings (`file:line:col: invalid use of field …`),
    /// printed as they are before the server starts, and errors under `-t`, as there.
    pub config_warnings: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            host: "0.0.0.0".into(),
            port: 4222,
            server_name: None,
            client_advertise: None,
            http_host: String::new(),
            http_port: 0,
            max_connections: 64 * 1024,
            max_subscriptions: 0,
            max_payload: 1024 * 1024,
            max_control_line: 4096,
            max_pending: 64 * 1024 * 1024,
            ping_interval: Duration::from_secs(120),
            ping_max: 2,
            write_deadline: Duration::from_secs(10),
            debug: false,
            trace: false,
            logtime: true,
            log_file: None,
            pid_file: None,
            ports_file_dir: None,
            no_header_support: false,
            allow_non_tls: false,
            no_system_account: false,
            lame_duck_duration: Duration::from_secs(120),
            lame_duck_grace_period: Duration::from_secs(10),
            authorization: Authorization::default(),
            accounts: Vec::new(),
            system_account: None,
            operators: Vec::new(),
            resolver: None,
            resolver_preload: std::collections::BTreeMap::new(),
            cluster: ClusterOptions::default(),
            websocket: None,
            tls: None,
            https_port: 0,
            config_file: None,
            warnings: Vec::new(),
            config_warnings: Vec::new(),
        }
    }
}

impl Options {
    /// The authentication timeout in force (nats-server default: 2 s, or the TLS timeout
    /// plus 1 s when TLS is configured, so a slow handshake leaves time to authenticate).
    pub fn auth_timeout(&self) -> Duration {
        self.authorization
            .timeout
            .unwrap_or_else(|| match &self.tls {
                Some(tls) => tls.timeout + Duration::from_secs(1),
                None => Duration::from_secs(2),
            })
    }

    /// Checks constraints between options, with nats-server's messages.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_payload > self.max_pending {
            return Err(format!(
                "max_payload ({}) cannot be higher than max_pending ({})",
                self.max_payload, self.max_pending
            ));
        }
        let auth = &self.authorization;
        if auth.token.is_some() && auth.user.is_some() {
            return Err("Cannot have a user/pass and token".into());
        }
        if !auth.users.is_empty() && auth.user.is_some() {
            return Err("Can not have a single user/pass and a users array".into());
        }
        if !auth.users.is_empty() && auth.token.is_some() {
            return Err("Can not have a token and a users array".into());
        }
        if !self.operators.is_empty() && !auth.users.is_empty() {
            return Err("operators do not allow users to be configured directly".into());
        }
        if self.lame_duck_duration < Duration::from_secs(30) {
            return Err(format!(
                "lame duck duration must be at least 30s, got {:?}",
                self.lame_duck_duration
            ));
        }
        if self.lame_duck_grace_period >= self.lame_duck_duration {
            return Err(
                "lame duck grace period must be strictly lower than lame duck duration".into(),
            );
        }
        if !self.cluster.routes.is_empty() && self.cluster.port == 0 {
            return Err("solicited routes require cluster capabilities, e.g. --cluster".into());
        }
        Ok(())
    }
}
