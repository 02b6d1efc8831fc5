//! Route URLs as written in `routes` and `-routes`.

/// A route URL: `nats-route://[user:pass@]host:port` (the scheme is not checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteUrl {
    /// As written, for logs.
    pub text: String,
    /// `host:port`.
    pub host_port: String,
    /// Credentials from the URL.
    pub user: Option<(String, String)>,
}

impl RouteUrl {
    /// Parses a route URL.
    pub fn parse(text: &str) -> Option<RouteUrl> {
        let rest = text.split_once("://").map_or(text, |(_, r)| r);
        let rest = rest.trim_end_matches('/');
        let (auth, host_port) = match rest.rsplit_once('@') {
            Some((a, hp)) => (Some(a), hp),
            None => (None, rest),
        };
        if !host_port.contains(':') {
            return None;
        }
        let user = auth.map(|a| match a.split_once(':') {
            Some((u, p)) => (u.to_string(), p.to_string()),
            None => (a.to_string(), String::new()),
        });
        Some(RouteUrl {
            text: text.to_string(),
            host_port: host_port.to_string(),
            user,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_urls_with_and_without_credentials() {
        let url = RouteUrl::parse("nats-route://ruser:T0pS3cr3t@otherhost:7246").expect("url");
        assert_eq!(url.host_port, "otherhost:7246");
        assert_eq!(url.user, Some(("ruser".into(), "T0pS3cr3t".into())));
        let url = RouteUrl::parse("nats://127.0.0.1:4248/").expect("url");
        assert_eq!(url.host_port, "127.0.0.1:4248");
        assert_eq!(url.user, None);
        assert_eq!(RouteUrl::parse("nats://nohost"), None);
    }
}
