//! Server URLs as the Go tools accept them.
//!
//! `scheme://[user[:pass]@]host[:port]`, where a user without a password is a token
//! (`nats://s3cr3t@host`), the scheme is `nats` or `tls` (TLS required) and may be left out
//! (`host:port` means `nats://host:port`),
//! the port defaults to 4222 and IPv6 hosts are bracketed (`[::1]:4222`). A server list is
//! such URLs separated by commas, blanks allowed. Userinfo is percent-decoded, as Go's
//! `url.Parse` does, so passwords with `@` or `:` can be written `%40`, `%3A`.
//!
//! A hand parser rather than the `url` crate: the grammar is this small, and the crate would
//! pull in IDNA tables the tools never need.

use std::fmt;

use crate::Error;

/// The port a URL without one gets (the NATS client port).
pub const DEFAULT_PORT: u16 = 4222;

/// Credentials carried by a URL, sent in `CONNECT`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Auth {
    /// No userinfo.
    #[default]
    None,
    /// `user:pass@`: sent as `user` and `pass`.
    UserPass {
        /// User name.
        user: String,
        /// Password.
        pass: String,
    },
    /// `token@`: sent as `auth_token`.
    Token(String),
}

/// One server to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    /// Host name or IP address; IPv6 without brackets.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Credentials from the userinfo part.
    pub auth: Auth,
    /// `tls://`: the connection must be secured with TLS.
    pub tls: bool,
}

impl ServerUrl {
    /// Parses one URL (see the module docs for the accepted forms).
    pub fn parse(text: &str) -> Result<ServerUrl, Error> {
        let original = text;
        let bad = |reason: &str| Error::BadUrl {
            url: original.to_string(),
            reason: reason.to_string(),
        };
        let text = text.trim();
        if text.is_empty() {
            return Err(bad("empty URL"));
        }
        let mut tls = false;
        let rest = match text.find("://") {
            Some(at) => {
                let scheme = &text[..at];
                if scheme.is_empty()
                    || !scheme
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
                {
                    return Err(bad("malformed scheme"));
                }
                if scheme.eq_ignore_ascii_case("tls") {
                    tls = true;
                } else if !scheme.eq_ignore_ascii_case("nats") {
                    return Err(Error::UnsupportedScheme(scheme.to_string()));
                }
                &text[at + 3..]
            }
            None => text,
        };
        // The authority ends where a path, query or fragment starts; the tools ignore those,
        // as the Go client does.
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        let auth = match userinfo {
            None | Some("") => Auth::None,
            Some(info) => match info.split_once(':') {
                Some((user, pass)) => Auth::UserPass {
                    user: percent_decode(user).ok_or_else(|| bad("bad escape in user name"))?,
                    pass: percent_decode(pass).ok_or_else(|| bad("bad escape in password"))?,
                },
                None => {
                    Auth::Token(percent_decode(info).ok_or_else(|| bad("bad escape in token"))?)
                }
            },
        };
        let (host, port) = split_host_port(hostport).map_err(|reason| bad(&reason))?;
        Ok(ServerUrl {
            host,
            port,
            auth,
            tls,
        })
    }

    /// `host:port`, the host bracketed if it is an IPv6 address: the form servers use in
    /// `connect_urls`, and the key that identifies a server in the pool.
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Whether both name the same server (host compared case-insensitively, credentials
    /// ignored).
    pub fn same_server(&self, other: &ServerUrl) -> bool {
        self.port == other.port && self.host.eq_ignore_ascii_case(&other.host)
    }
}

/// `nats://host:port` (or `tls://`), without credentials so that notices never print a
/// password.
impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "tls" } else { "nats" };
        write!(f, "{scheme}://{}", self.host_port())
    }
}

/// Parses a comma-separated server list; blanks around entries and empty entries are ignored.
pub fn parse_server_list(text: &str) -> Result<Vec<ServerUrl>, Error> {
    let urls = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(ServerUrl::parse)
        .collect::<Result<Vec<_>, _>>()?;
    if urls.is_empty() {
        return Err(Error::BadUrl {
            url: text.to_string(),
            reason: "no server given".into(),
        });
    }
    Ok(urls)
}

fn split_host_port(hostport: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(inner) = hostport.strip_prefix('[') {
        let close = inner
            .find(']')
            .ok_or_else(|| "missing ']' after IPv6 address".to_string())?;
        let host = &inner[..close];
        let after = &inner[close + 1..];
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| format!("unexpected {after:?} after IPv6 address"))?,
            ),
        };
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("invalid IPv6 address {host:?}"));
        }
        (host, port)
    } else {
        match hostport.matches(':').count() {
            0 => (hostport, None),
            1 => {
                let (h, p) = hostport.split_once(':').unwrap_or((hostport, ""));
                (h, Some(p))
            }
            _ => return Err("IPv6 addresses must be in brackets, e.g. [::1]:4222".into()),
        }
    };
    if host.is_empty() {
        return Err("missing host".into());
    }
    if host
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '[' | ']' | '@' | '%'))
    {
        return Err(format!("invalid host {host:?}"));
    }
    let port = match port {
        None | Some("") => DEFAULT_PORT,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => return Err(format!("invalid port {p:?}")),
        },
    };
    Ok((host.to_string(), port))
}

/// Decodes `%XX` escapes; `None` for a malformed escape or a result that is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> ServerUrl {
        ServerUrl::parse(text).expect(text)
    }

    #[test]
    fn plain_forms() {
        let u = url("nats://hostA:7222");
        assert_eq!(
            (u.host.as_str(), u.port, &u.auth),
            ("hostA", 7222, &Auth::None)
        );
        let u = url("localhost:5222");
        assert_eq!((u.host.as_str(), u.port), ("localhost", 5222));
        let u = url("NATS://10.0.0.1");
        assert_eq!((u.host.as_str(), u.port), ("10.0.0.1", DEFAULT_PORT));
        let u = url("nats://127.0.0.1:4222/");
        assert_eq!(u.to_string(), "nats://127.0.0.1:4222");
    }

    #[test]
    fn credentials_and_tokens() {
        let u = url("nats://derek:s3cr3t@127.0.0.1:4222");
        assert_eq!(
            u.auth,
            Auth::UserPass {
                user: "derek".into(),
                pass: "s3cr3t".into()
            }
        );
        assert_eq!(
            u.to_string(),
            "nats://127.0.0.1:4222",
            "no password in display"
        );
        let u = url("nats://mytoken@host:1");
        assert_eq!(u.auth, Auth::Token("mytoken".into()));
        let u = url("nats://a%40b:p%3Aw@host");
        assert_eq!(
            u.auth,
            Auth::UserPass {
                user: "a@b".into(),
                pass: "p:w".into()
            }
        );
        // The last '@' separates userinfo, as in Go.
        let u = url("nats://u:p@ss@host");
        assert_eq!(
            u.auth,
            Auth::UserPass {
                user: "u".into(),
                pass: "p@ss".into()
            }
        );
    }

    #[test]
    fn ipv6() {
        let u = url("nats://[::1]:4223");
        assert_eq!((u.host.as_str(), u.port), ("::1", 4223));
        assert_eq!(u.host_port(), "[::1]:4223");
        assert_eq!(u.to_string(), "nats://[::1]:4223");
        let u = url("[fd00::2]");
        assert_eq!((u.host.as_str(), u.port), ("fd00::2", DEFAULT_PORT));
        assert!(ServerUrl::parse("::1:4222").is_err());
        assert!(ServerUrl::parse("[::1").is_err());
        assert!(ServerUrl::parse("[nothost]:1").is_err());
    }

    #[test]
    fn bad_urls() {
        for bad in [
            "",
            "nats://",
            "nats://:4222",
            "nats://host:abc",
            "nats://host:70000",
            "nats://host:0",
            "nats://host:-1",
            "nats://ho st:1",
            "://host",
            "nats://u:%zz@host",
        ] {
            let err = ServerUrl::parse(bad).expect_err(bad);
            assert!(err.to_string().starts_with("nats: "), "{err}");
        }
        assert!(matches!(
            ServerUrl::parse("ws://host:4222"),
            Err(Error::UnsupportedScheme(_))
        ));
    }

    #[test]
    fn tls_scheme() {
        let u = url("tls://u:p@host:4443");
        assert!(u.tls);
        assert_eq!((u.host.as_str(), u.port), ("host", 4443));
        assert_eq!(u.to_string(), "tls://host:4443");
        assert!(!url("nats://host").tls);
        assert!(url("TLS://host").tls);
    }

    #[test]
    fn lists() {
        let list = parse_server_list("nats://a:1, b:2 ,,nats://c").expect("list");
        let shown: Vec<String> = list.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["nats://a:1", "nats://b:2", "nats://c:4222"]);
        assert!(parse_server_list(" , ").is_err());
        assert!(parse_server_list("a:1,b:x").is_err());
    }
}
