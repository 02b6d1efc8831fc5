//! The JSON bodies of `INFO` and `CONNECT`, shaped like nats-server 2.9.10's.
//!
//! Field order is the order of nats-server's Go structs and empty optional fields are left out
//! exactly where Go's `omitempty` leaves them out, so our `INFO` lines match the real server's
//! byte for byte. Decoding accepts what Go accepts (see [`crate::json`]); each type's serde
//! name is its Go struct's name, which Go's decoding errors (and so our logs) show.

use bytes::{BufMut, BytesMut};
use serde::{Deserialize, Serialize};

use crate::error::ProtoError;
use crate::json;

fn is_false(b: &bool) -> bool {
    !*b
}

fn yes() -> bool {
    true
}

/// Allow and deny lists of a route's import/export permissions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SubjectPermission {
    /// Subjects allowed (empty: everything not denied).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// Subjects denied; deny wins over allow.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
}

/// The body of an `INFO` line, to clients and to routes alike (nats-server uses one struct for
/// both; route-only fields such as `ip`, `nonce` or `lnoc` stay out of client INFOs by being
/// empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename = "Info")]
pub struct ServerInfo {
    /// The server's unique id (an `N…` nkey in nats-server).
    pub server_id: String,
    /// The configured server name, or the id.
    pub server_name: String,
    /// The nats-server version we implement.
    pub version: String,
    /// `1` to clients, `2` on routes.
    pub proto: i32,
    /// Build commit; left out when unknown.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub git_commit: String,
    /// Go toolchain of the build, as clients expect the key.
    pub go: String,
    /// Listen (or advertised) host.
    pub host: String,
    /// Listen (or advertised) port.
    pub port: u16,
    /// Whether HPUB/HMSG are supported.
    pub headers: bool,
    /// Whether credentials are required.
    #[serde(skip_serializing_if = "is_false")]
    pub auth_required: bool,
    /// Whether TLS is required.
    #[serde(skip_serializing_if = "is_false")]
    pub tls_required: bool,
    /// Whether client certificates are verified.
    #[serde(skip_serializing_if = "is_false")]
    pub tls_verify: bool,
    /// Whether TLS is offered but optional.
    #[serde(skip_serializing_if = "is_false")]
    pub tls_available: bool,
    /// Largest payload the server accepts.
    pub max_payload: i64,
    /// Whether JetStream is enabled.
    #[serde(skip_serializing_if = "is_false")]
    pub jetstream: bool,
    /// A route's dialable URL (`nats-route://host:port/`), set in gossiped INFOs.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ip: String,
    /// The connection id of the client the INFO is sent to.
    #[serde(skip_serializing_if = "is_zero")]
    pub client_id: u64,
    /// The client's IP as the server sees it.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub client_ip: String,
    /// Random nonce for nkey authentication (and in a route's first INFO).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub nonce: String,
    /// Cluster name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    /// Whether the cluster name was generated rather than configured.
    #[serde(skip_serializing_if = "is_false")]
    pub cluster_dynamic: bool,
    /// JetStream domain.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub domain: String,
    /// Client URLs of the cluster (`host:port`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub connect_urls: Vec<String>,
    /// Websocket client URLs of the cluster.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ws_connect_urls: Vec<String>,
    /// Set when the server enters lame duck mode.
    #[serde(skip_serializing_if = "is_false")]
    pub ldm: bool,
    /// Route import permissions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub import: Option<SubjectPermission>,
    /// Route export permissions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export: Option<SubjectPermission>,
    /// Leafnode-origin-cluster support: the peer may send `LS+`/`LMSG`.
    #[serde(skip_serializing_if = "is_false")]
    pub lnoc: bool,
}

/// Route INFO is the same structure as client INFO in nats-server 2.x.
pub type RouteInfo = ServerInfo;

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl ServerInfo {
    /// The JSON body as nats-server writes it (compact, Go escaping, Go field order).
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        json::to_go_json(self, &mut out);
        out
    }

    /// Writes `INFO {json} \r\n`: the form sent to clients and on route handshakes (note the
    /// space before CR LF).
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.put_slice(b"INFO ");
        dst.put_slice(&self.to_json());
        dst.put_slice(b" \r\n");
    }

    /// Writes `INFO {json}\r\n`: the form nats-server uses when it forwards a peer's INFO to
    /// its other routes (gossip), without the space.
    pub fn encode_forwarded(&self, dst: &mut BytesMut) {
        dst.put_slice(b"INFO ");
        dst.put_slice(&self.to_json());
        dst.put_slice(b"\r\n");
    }

    /// Decodes an INFO body as Go would (keys case-insensitive, unknown keys ignored).
    pub fn from_json(bytes: &[u8]) -> Result<ServerInfo, ProtoError> {
        json::from_go_object(bytes).map_err(ProtoError::Json)
    }
}

/// The body of a client's `CONNECT`. Absent fields take nats-server's defaults: `verbose`,
/// `pedantic` and `echo` are true, everything else empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename = "ClientOpts")]
pub struct ConnectInfo {
    /// Deliver this connection's own publishes to its own subscriptions.
    pub echo: bool,
    /// Acknowledge every op with `+OK`.
    pub verbose: bool,
    /// Check publish subjects strictly.
    pub pedantic: bool,
    /// Informational: the client wants TLS.
    pub tls_required: bool,
    /// Public nkey.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub nkey: String,
    /// User JWT.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub jwt: String,
    /// Signature of the INFO nonce.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sig: String,
    /// Token authentication.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub auth_token: String,
    /// User name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// Password (plain, or compared with a bcrypt hash).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pass: String,
    /// Client name, shown in logs and `/connz`.
    pub name: String,
    /// Client language; a non-empty one on the route port marks a misdirected client.
    pub lang: String,
    /// Client version.
    pub version: String,
    /// 0 (original) or 1 (understands async INFO). A Go `int`: any 64-bit value decodes, and
    /// one out of range is refused after decoding, with `-ERR`.
    pub protocol: i64,
    /// Account to bind to (rejected outside operator mode).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub account: String,
    /// Ask for a new account (rejected outside operator mode).
    #[serde(skip_serializing_if = "is_false")]
    pub new_account: bool,
    /// The client understands HPUB/HMSG.
    #[serde(skip_serializing_if = "is_false")]
    pub headers: bool,
    /// The client wants 503 status messages for requests nobody listens to.
    #[serde(skip_serializing_if = "is_false")]
    pub no_responders: bool,
    /// Import permissions, which only leafnodes send (nats-server's `ClientOpts` has them for
    /// those). Decoded so that a malformed one is refused as nats-server refuses it; a
    /// client's permissions come from the configuration, never from here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub import: Option<SubjectPermission>,
    /// Export permissions, like `import`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export: Option<SubjectPermission>,
}

impl Default for ConnectInfo {
    fn default() -> Self {
        ConnectInfo {
            echo: true,
            verbose: true,
            pedantic: true,
            tls_required: false,
            nkey: String::new(),
            jwt: String::new(),
            sig: String::new(),
            auth_token: String::new(),
            user: String::new(),
            pass: String::new(),
            name: String::new(),
            lang: String::new(),
            version: String::new(),
            protocol: 0,
            account: String::new(),
            new_account: false,
            headers: false,
            no_responders: false,
            import: None,
            export: None,
        }
    }
}

impl ConnectInfo {
    /// Decodes a CONNECT body as nats-server does (see the type's defaults).
    pub fn from_json(bytes: &[u8]) -> Result<ConnectInfo, ProtoError> {
        json::from_go_object(bytes).map_err(ProtoError::Json)
    }

    /// Decodes a later CONNECT body over `earlier`: members it leaves out keep their earlier
    /// values, as nats-server's decoder fills the connection's existing options.
    pub fn from_json_over(bytes: &[u8], earlier: &ConnectInfo) -> Result<ConnectInfo, ProtoError> {
        json::merge_go_object(earlier, bytes).map_err(ProtoError::Json)
    }

    /// The JSON body (Go field order).
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        json::to_go_json(self, &mut out);
        out
    }
}

/// The body of the `CONNECT` a server sends when it dials a route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename = "connectInfo")]
pub struct RouteConnectInfo {
    /// Always true between servers.
    #[serde(default = "yes")]
    pub echo: bool,
    /// Always false between servers.
    pub verbose: bool,
    /// Always false between servers.
    pub pedantic: bool,
    /// Cluster user from the route URL.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// Cluster password from the route URL.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pass: String,
    /// Whether the route runs over TLS.
    pub tls_required: bool,
    /// Whether the dialer supports HMSG.
    pub headers: bool,
    /// The dialer's server id.
    pub name: String,
    /// The dialer's cluster name.
    pub cluster: String,
    /// Whether that cluster name was generated.
    #[serde(skip_serializing_if = "is_false")]
    pub cluster_dynamic: bool,
    /// Leafnode-origin-cluster support.
    #[serde(skip_serializing_if = "is_false")]
    pub lnoc: bool,
    /// Set by gateways; a route acceptor rejects it.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub gateway: String,
    /// Set by clients, never by servers: a client dialled the cluster port by mistake.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub lang: String,
}

impl Default for RouteConnectInfo {
    fn default() -> Self {
        RouteConnectInfo {
            echo: true,
            verbose: false,
            pedantic: false,
            user: String::new(),
            pass: String::new(),
            tls_required: false,
            headers: false,
            name: String::new(),
            cluster: String::new(),
            cluster_dynamic: false,
            lnoc: false,
            gateway: String::new(),
            lang: String::new(),
        }
    }
}

impl RouteConnectInfo {
    /// Decodes a route CONNECT body as nats-server does.
    pub fn from_json(bytes: &[u8]) -> Result<RouteConnectInfo, ProtoError> {
        json::from_go_object(bytes).map_err(ProtoError::Json)
    }

    /// The JSON body (Go field order).
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        json::to_go_json(self, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_defaults_are_true_for_verbose_pedantic_echo() {
        let info = ConnectInfo::from_json(b"{}").expect("valid");
        assert!(info.verbose && info.pedantic && info.echo);
        let info = ConnectInfo::from_json(br#"{"verbose":false}"#).expect("valid");
        assert!(!info.verbose && info.pedantic);
    }

    #[test]
    fn connect_keys_match_case_insensitively_and_null_keeps_default() {
        let info = ConnectInfo::from_json(br#"{"VERBOSE":false,"Echo":null}"#).expect("valid");
        assert!(!info.verbose);
        assert!(info.echo);
    }

    #[test]
    fn connect_rejects_type_mismatch_and_trailing_garbage() {
        assert!(ConnectInfo::from_json(br#"{"verbose":"false"}"#).is_err());
        assert!(ConnectInfo::from_json(br#"{"verbose":false} x"#).is_err());
        assert!(ConnectInfo::from_json(b"").is_err());
        assert!(ConnectInfo::from_json(b"[]").is_err());
    }

    #[test]
    fn go_escaping_of_html_characters() {
        let info = ServerInfo {
            server_name: "a<b>&c\u{2028}".into(),
            ..ServerInfo::default()
        };
        let json = String::from_utf8(info.to_json()).expect("utf8");
        assert!(
            json.contains(r#""server_name":"a\u003cb\u003e\u0026c\u2028""#),
            "{json}"
        );
    }
}
