//! The `websocket {}` block: read as nats-server 2.9.10 reads it (its keys and their aliases),
//! then checked with nats-server's start-up rules (TLS unless `no_tls`, origins that parse,
//! `no_auth_user` among the users, no single user or token beside a users list, a JWT cookie
//! only in operator mode).

use serde::Deserialize;

use super::tls::TlsBlock;
use super::{unsupported_warning, ConfDuration, Listen, OneOrMany};
use crate::options::{Options, WebsocketOptions};

/// The block as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WebsocketBlock {
    listen: Option<Listen>,
    port: Option<i64>,
    #[serde(alias = "net")]
    host: Option<String>,
    advertise: Option<String>,
    no_tls: Option<bool>,
    tls: Option<TlsBlock>,
    same_origin: Option<bool>,
    #[serde(
        alias = "allowed_origin",
        alias = "allow_origins",
        alias = "allow_origin",
        alias = "origins",
        alias = "origin"
    )]
    allowed_origins: Option<OneOrMany>,
    #[serde(default, deserialize_with = "handshake_timeout")]
    handshake_timeout: Option<std::time::Duration>,
    #[serde(alias = "compress")]
    compression: Option<bool>,
    #[serde(alias = "authentication")]
    authorization: Option<WebsocketAuth>,
    jwt_cookie: Option<String>,
    no_auth_user: Option<String>,
}

/// The block's own `authorization {}`: one user or a token, and a timeout.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebsocketAuth {
    #[serde(alias = "username")]
    user: Option<String>,
    #[serde(alias = "pass")]
    password: Option<String>,
    token: Option<String>,
    timeout: Option<ConfDuration>,
}

/// `handshake_timeout`: whole seconds, or a duration string; nats-server refuses a float.
fn handshake_timeout<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<std::time::Duration>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(i64),
        Text(String),
        Other(serde::de::IgnoredAny),
    }
    match Raw::deserialize(d)? {
        Raw::Seconds(s) => Ok(Some(std::time::Duration::from_secs(
            s.max(0).unsigned_abs(),
        ))),
        Raw::Text(t) => super::conf::parse_duration(&t)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("time: invalid duration {t:?}"))),
        Raw::Other(_) => Err(serde::de::Error::custom(
            "error parsing handshake timeout: unsupported type float64",
        )),
    }
}

impl WebsocketBlock {
    /// Puts the block into `o.websocket`; the cross-checks with the rest of the file run in
    /// [`check`], once everything else is read.
    pub(super) fn apply(self, o: &mut Options) -> Result<(), String> {
        let mut ws = WebsocketOptions {
            host: "0.0.0.0".into(),
            ..WebsocketOptions::default()
        };
        if let Some(listen) = &self.listen {
            listen.set(&mut ws.host, &mut ws.port)?;
        }
        if let Some(p) = self.port {
            ws.port = super::port(p)?;
        }
        if let Some(host) = self.host {
            ws.host = host;
        }
        ws.advertise = self.advertise;
        ws.no_tls = self.no_tls.unwrap_or(false);
        if let Some(tls) = self.tls {
            o.warnings
                .extend(tls.1.iter().map(|k| unsupported_warning(k)));
            ws.tls = Some(tls.0);
        }
        ws.same_origin = self.same_origin.unwrap_or(false);
        ws.allowed_origins = self
            .allowed_origins
            .map(OneOrMany::into_vec)
            .unwrap_or_default();
        ws.handshake_timeout = self.handshake_timeout.filter(|d| !d.is_zero());
        ws.compression = self.compression.unwrap_or(false);
        if let Some(auth) = self.authorization {
            ws.user = auth.user;
            ws.password = auth.password;
            ws.token = auth.token;
            ws.auth_timeout = auth.timeout.map(|t| t.0).filter(|t| !t.is_zero());
        }
        ws.jwt_cookie = self.jwt_cookie;
        ws.no_auth_user = self.no_auth_user;
        // As in nats-server, a block without a port configures nothing.
        if ws.port != 0 {
            o.websocket = Some(ws);
        }
        Ok(())
    }
}

/// nats-server's start-up rules for a configured websocket listener.
pub(super) fn check(o: &Options) -> Result<(), String> {
    let Some(ws) = &o.websocket else {
        return Ok(());
    };
    if ws.tls.is_none() && !ws.no_tls {
        return Err("websocket requires TLS configuration".into());
    }
    for origin in &ws.allowed_origins {
        crate::websocket::Origin::parse(origin)
            .map_err(|e| format!("unable to parse allowed origin: {e}"))?;
    }
    if let Some(user) = &ws.no_auth_user {
        if o.authorization.users.is_empty() {
            return Err(format!(
                "no_auth_user: {user:?} present, but users are not defined"
            ));
        }
        if !o.authorization.users.iter().any(|u| &u.username == user) {
            return Err(format!(
                "no_auth_user: {user:?} not present as user in authorization block or account configuration"
            ));
        }
    }
    if !o.authorization.users.is_empty() {
        if ws.user.is_some() {
            return Err(
                "websocket authentication username not compatible with presence of users/nkeys"
                    .into(),
            );
        }
        if ws.token.is_some() {
            return Err(
                "websocket authentication token not compatible with presence of users/nkeys".into(),
            );
        }
    }
    if let Some(cookie) = &ws.jwt_cookie {
        if o.operators.is_empty() {
            return Err(format!(
                "trusted operators or trusted keys configuration is required for JWT authentication via cookie {cookie:?}"
            ));
        }
    }
    Ok(())
}
