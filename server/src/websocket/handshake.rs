//! The HTTP upgrade that opens a websocket connection (RFC 6455 section 4.2), checked as
//! nats-server checks it: method, `Host`, `Upgrade`, `Connection`, the key, the version, the
//! origin; then compression, masking, the browser and the client's address behind a proxy.
//! Refusals are answered as Go's `http.Error` answers (nats-server's handler uses it) and
//! logged with nats-server's reason.

use std::net::IpAddr;

use super::stream::Negotiated;
use super::{Origin, Origins};

/// The most a request head may take; a longer one is refused.
pub const MAX_REQUEST: usize = 64 * 1024;

/// An accepted upgrade: the response to send and what it settled.
#[derive(Debug)]
pub struct Accepted {
    /// The `101 Switching Protocols` response.
    pub response: Vec<u8>,
    /// What the connection does from now on.
    pub negotiated: Negotiated,
    /// The client's address as a proxy forwarded it (`X-Forwarded-For`), if it is an IP.
    pub client_ip: Option<IpAddr>,
    /// The user JWT in the configured cookie, if any.
    pub cookie_jwt: Option<String>,
}

/// A refused upgrade: the HTTP status and nats-server's reason (for the log).
#[derive(Debug, PartialEq, Eq)]
pub struct Refused {
    /// The status code.
    pub status: u16,
    /// Why, in nats-server's words.
    pub reason: String,
}

impl Refused {
    fn new(status: u16, reason: impl Into<String>) -> Refused {
        Refused {
            status,
            reason: reason.into(),
        }
    }

    /// The response Go's `http.Error` writes for this status, with the
    /// `Sec-Websocket-Version` header nats-server adds.
    pub fn response(&self, date: &str) -> Vec<u8> {
        let text = status_text(self.status);
        let body = format!("{text}\n");
        format!(
            "HTTP/1.1 {} {text}\r\nContent-Type: text/plain; charset=utf-8\r\nSec-Websocket-Version: 13\r\nX-Content-Type-Options: nosniff\r\nDate: {date}\r\nContent-Length: {}\r\n\r\n{body}",
            self.status,
            body.len()
        )
        .into_bytes()
    }
}

fn status_text(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        403 => "Forbidden",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Internal Server Error",
    }
}

/// What the listener's configuration decides about an upgrade.
pub struct Settings<'a> {
    /// permessage-deflate is offered to clients that ask.
    pub compression: bool,
    /// The origin checks.
    pub origins: &'a Origins,
    /// The listener is `wss://` (the default port of the request's `Host` is then 443).
    pub tls: bool,
    /// The cookie that may carry a user JWT.
    pub jwt_cookie: Option<&'a str>,
}

/// Where a request head ends in `buf` (the index after its blank line), if it is complete.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    memchr::memmem::find(buf, b"\r\n\r\n").map(|i| i + 4)
}

/// Checks the request head `head` (ending with its blank line); `extra` says bytes came
/// after it before the server answered, which nats-server refuses.
pub fn upgrade(head: &[u8], extra: bool, settings: &Settings<'_>) -> Result<Accepted, Refused> {
    let mut headers = [httparse::EMPTY_HEADER; 100];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) | Err(_) => return Err(Refused::new(400, "bad request")),
    }
    let headers = req.headers;
    let values = |name: &'static str| {
        headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).into_owned())
    };
    let first = |name: &'static str| values(name).next().unwrap_or_default();
    let contains = |name: &'static str, token: &str| {
        values(name).any(|v| {
            v.split(',')
                .any(|t| t.trim_matches([' ', '\t']).eq_ignore_ascii_case(token))
        })
    };
    if req.method != Some("GET") {
        return Err(Refused::new(405, "request method must be GET"));
    }
    let host = first("Host");
    if host.is_empty() {
        return Err(Refused::new(400, "'Host' missing in request"));
    }
    if !contains("Upgrade", "websocket") {
        return Err(Refused::new(400, "invalid value for header 'Upgrade'"));
    }
    if !contains("Connection", "Upgrade") {
        return Err(Refused::new(400, "invalid value for header 'Connection'"));
    }
    let key = first("Sec-Websocket-Key");
    if key.is_empty() {
        return Err(Refused::new(400, "key missing"));
    }
    if !contains("Sec-Websocket-Version", "13") {
        return Err(Refused::new(400, "invalid version"));
    }
    let mut origin = first("Origin");
    if origin.is_empty() {
        origin = first("Sec-Websocket-Origin");
    }
    settings
        .origins
        .check(&origin, &host, settings.tls)
        .map_err(|e| Refused::new(403, format!("origin not allowed: {e}")))?;
    let compress = settings.compression && offers_deflate(values("Sec-Websocket-Extensions"));
    let no_masking = first("Nats-No-Masking") == "true";
    if extra {
        return Err(Refused::new(
            400,
            "client sent data before handshake is complete",
        ));
    }
    let mut response = Vec::with_capacity(256);
    response.extend_from_slice(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ",
    );
    response.extend_from_slice(accept_key(&key).as_bytes());
    response.extend_from_slice(b"\r\n");
    if compress {
        response.extend_from_slice(
            b"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n",
        );
    }
    if no_masking {
        response.extend_from_slice(b"Nats-No-Masking: true\r\n");
    }
    response.extend_from_slice(b"\r\n");
    let agent = first("User-Agent");
    let browser = agent.starts_with("Mozilla/");
    let negotiated = Negotiated {
        compress,
        no_masking,
        browser,
        no_compressed_fragments: browser
            && compress
            && agent.contains("Version/")
            && agent.contains("Safari/"),
    };
    let client_ip = values("X-Forwarded-For")
        .next()
        .and_then(|v| v.trim().parse().ok());
    let cookie_jwt = settings
        .jwt_cookie
        .and_then(|name| cookie(values("Cookie"), name));
    Ok(Accepted {
        response,
        negotiated,
        client_ip,
        cookie_jwt,
    })
}

/// Whether an extension offer lists permessage-deflate (its parameters are not needed: the
/// server always answers with no context takeover both ways, as nats-server does).
fn offers_deflate(mut offers: impl Iterator<Item = String>) -> bool {
    offers.any(|list| {
        list.split(',').any(|ext| {
            ext.split(';').any(|p| {
                p.trim_matches([' ', '\t'])
                    .eq_ignore_ascii_case("permessage-deflate")
            })
        })
    })
}

/// The value of cookie `name` in the `Cookie` headers.
fn cookie(mut headers: impl Iterator<Item = String>, name: &str) -> Option<String> {
    headers.find_map(|h| {
        h.split(';').find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then(|| v.trim_matches('"').to_string())
        })
    })
}

/// `Sec-WebSocket-Accept` for a client's key: base64 of the SHA-1 of the key and the
/// protocol's GUID.
pub fn accept_key(key: &str) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(key.as_bytes());
    ctx.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    data_encoding::BASE64.encode(ctx.finish().as_ref())
}

impl Origins {
    /// Checks a request's `Origin` (`origin`, empty when absent) against the listener's
    /// rules; `host` is the request's `Host`.
    pub fn check(&self, origin: &str, host: &str, tls: bool) -> Result<(), String> {
        if !self.same_origin && self.allowed.is_empty() {
            return Ok(());
        }
        // A client that is not a browser may send any origin, or none (RFC 6455 1.6).
        if origin.is_empty() {
            return Ok(());
        }
        let o = Origin::parse(origin)?;
        if self.same_origin {
            let (host, port) = super::host_and_port(host, tls);
            if o.host != host || o.port != port {
                return Err("not same origin".into());
            }
        }
        if !self.allowed.is_empty()
            && !self
                .allowed
                .iter()
                .any(|a| a.host == o.host && a.scheme == o.scheme && a.port == o.port)
        {
            return Err("not in the allowed list".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(origins: &Origins) -> Settings<'_> {
        Settings {
            compression: true,
            origins,
            tls: false,
            jwt_cookie: Some("jwt"),
        }
    }

    const GOOD: &str = "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

    fn request(extra: &str) -> Vec<u8> {
        format!("{GOOD}{extra}\r\n").into_bytes()
    }

    #[test]
    fn the_accept_key_is_rfc_6455s_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn an_upgrade_negotiates_compression_masking_and_reads_the_proxy_and_cookie() {
        let origins = Origins::default();
        let head = request(
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\nNats-No-Masking: true\r\nX-Forwarded-For: 10.1.2.3\r\nCookie: a=b; jwt=eyJ0\r\nUser-Agent: Mozilla/5.0 Chrome/120\r\n",
        );
        let a = upgrade(&head, false, &settings(&origins)).expect("accepted");
        let text = String::from_utf8(a.response).expect("utf8");
        assert_eq!(
            text,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\nNats-No-Masking: true\r\n\r\n"
        );
        assert!(a.negotiated.compress && a.negotiated.no_masking && a.negotiated.browser);
        assert_eq!(a.client_ip, Some("10.1.2.3".parse().expect("ip")));
        assert_eq!(a.cookie_jwt.as_deref(), Some("eyJ0"));
    }

    #[test]
    fn bad_upgrades_are_refused_with_nats_servers_reasons() {
        let origins = Origins::default();
        let s = settings(&origins);
        let refuse = |head: &str, extra| upgrade(head.as_bytes(), extra, &s).expect_err(head);
        let post = GOOD.replacen("GET", "POST", 1) + "\r\n";
        assert_eq!(
            refuse(&post, false),
            Refused::new(405, "request method must be GET")
        );
        let no_key = GOOD.replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "") + "\r\n";
        assert_eq!(refuse(&no_key, false), Refused::new(400, "key missing"));
        let version = GOOD.replace("Version: 13", "Version: 8") + "\r\n";
        assert_eq!(
            refuse(&version, false),
            Refused::new(400, "invalid version")
        );
        let upgrade_header = GOOD.replace("Upgrade: websocket", "Upgrade: h2c") + "\r\n";
        assert_eq!(
            refuse(&upgrade_header, false).reason,
            "invalid value for header 'Upgrade'"
        );
        let early = format!("{GOOD}\r\n");
        assert_eq!(
            refuse(&early, true).reason,
            "client sent data before handshake is complete"
        );
    }

    #[test]
    fn origins_are_checked_by_scheme_host_and_port() {
        let origins = Origins::new(false, &["http://good.example".to_string()]);
        let s = settings(&origins);
        let with = |origin: &str| upgrade(&request(&format!("Origin: {origin}\r\n")), false, &s);
        assert!(with("http://good.example").is_ok());
        assert!(with("http://GOOD.example:80").is_ok());
        assert_eq!(
            with("http://evil.example").expect_err("evil").reason,
            "origin not allowed: not in the allowed list"
        );
        assert!(with("https://good.example").is_err());
        assert!(
            upgrade(&request(""), false, &s).is_ok(),
            "no origin: not a browser"
        );
        let same = Origins::new(true, &[]);
        let s = settings(&same);
        assert!(upgrade(&request("Origin: http://127.0.0.1:8080\r\n"), false, &s).is_ok());
        assert_eq!(
            upgrade(&request("Origin: http://127.0.0.1:8081\r\n"), false, &s)
                .expect_err("other port")
                .reason,
            "origin not allowed: not same origin"
        );
    }
}
