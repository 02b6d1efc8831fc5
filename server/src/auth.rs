//! Client authentication and per-user permissions.
//!
//! Checked in nats-server's order: the users list (by name, then password), the token, the
//! single user. Passwords and tokens starting with `$2` are bcrypt hashes. Permissions are
//! compiled once per user into allow/deny subject lists; publish decisions are cached per
//! connection by the caller.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use nats_proto::subject;
use nats_proto::ConnectInfo;

use crate::options::{Authorization, Permissions, SubjectRules};

/// A subject filter with an optional queue restriction (`"foo.* q1"` in subscribe allow lists).
#[derive(Debug, Clone)]
struct Rule {
    subject: Vec<u8>,
    queue: Option<Vec<u8>>,
}

impl Rule {
    fn parse(text: &str) -> Rule {
        let mut parts = text.split_whitespace();
        let subject = parts.next().unwrap_or("").as_bytes().to_vec();
        let queue = parts.next().map(|q| q.as_bytes().to_vec());
        Rule { subject, queue }
    }
}

/// Allow/deny lists of one direction, compiled.
#[derive(Debug, Clone, Default)]
struct Rules {
    allow: Option<Vec<Rule>>,
    deny: Vec<Rule>,
}

impl Rules {
    fn compile(rules: &SubjectRules) -> Rules {
        Rules {
            allow: (!rules.allow.is_empty())
                .then(|| rules.allow.iter().map(|r| Rule::parse(r)).collect()),
            deny: rules.deny.iter().map(|r| Rule::parse(r)).collect(),
        }
    }
}

/// What one authenticated user may do.
#[derive(Debug, Clone, Default)]
pub struct ClientPermissions {
    publish: Option<Rules>,
    subscribe: Option<Rules>,
    /// Reply subjects of received requests become publishable (`allow_responses`).
    pub allow_responses: Option<(usize, Duration)>,
}

impl ClientPermissions {
    fn compile(p: &Permissions) -> ClientPermissions {
        ClientPermissions {
            publish: p.publish.as_ref().map(Rules::compile),
            subscribe: p.subscribe.as_ref().map(Rules::compile),
            allow_responses: p.allow_responses.map(|r| (r.max, r.expires)),
        }
    }

    /// Whether publishing to the literal `subj` is allowed.
    pub fn can_publish(&self, subj: &[u8]) -> bool {
        let Some(rules) = &self.publish else {
            return true;
        };
        let allowed = match &rules.allow {
            None => true,
            Some(allow) => allow.iter().any(|r| subject::matches(&r.subject, subj)),
        };
        allowed
            && !rules
                .deny
                .iter()
                .any(|r| subject::matches(&r.subject, subj))
    }

    /// Whether subscribing to `subj` (a filter) with `queue` is allowed. A filter is allowed
    /// when an allow entry covers it; a deny entry refuses it only when it covers the filter
    /// completely (overlapping wildcards are filtered per message, see [`Self::deny_delivery`]).
    pub fn can_subscribe(&self, subj: &[u8], queue: Option<&[u8]>) -> bool {
        let Some(rules) = &self.subscribe else {
            return true;
        };
        let allows = |r: &Rule| {
            covers(&r.subject, subj)
                && match (&r.queue, queue) {
                    (None, _) => true,
                    (Some(rq), Some(q)) => subject::matches(rq, q) || rq == q,
                    (Some(_), None) => false,
                }
        };
        let allowed = match &rules.allow {
            None => true,
            Some(allow) => allow.iter().any(allows),
        };
        allowed
            && !rules
                .deny
                .iter()
                .any(|r| r.queue.is_none() && covers(&r.subject, subj))
    }

    /// Whether a subscription on `filter` may overlap deny entries, so that each delivered
    /// subject must be checked with [`Self::deny_delivery`].
    pub fn needs_delivery_check(&self, filter: &[u8]) -> bool {
        self.subscribe.as_ref().is_some_and(|r| {
            r.deny
                .iter()
                .any(|d| subject::has_wildcard(filter) || subject::matches(&d.subject, filter))
        })
    }

    /// Whether a message on the literal `subj` must not be delivered to this user.
    pub fn deny_delivery(&self, subj: &[u8]) -> bool {
        self.subscribe
            .as_ref()
            .is_some_and(|r| r.deny.iter().any(|d| subject::matches(&d.subject, subj)))
    }
}

/// Whether every subject `filter` matches is also matched by `pattern`.
fn covers(pattern: &[u8], filter: &[u8]) -> bool {
    let mut p = subject::tokens(pattern);
    let mut f = subject::tokens(filter);
    loop {
        match (p.next(), f.next()) {
            (Some(b">"), Some(_)) => return true,
            (Some(pt), Some(ft)) => {
                if pt == b"*" {
                    if ft == b">" {
                        return false;
                    }
                } else if pt != ft {
                    return false;
                }
            }
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// The outcome of a successful authentication.
#[derive(Debug, Clone, Default)]
pub struct Authenticated {
    /// The user name, for logs and `/connz`.
    pub user: Option<String>,
    /// Restrictions, if the user has any.
    pub permissions: Option<Arc<ClientPermissions>>,
}

struct UserEntry {
    password: String,
    permissions: Option<Arc<ClientPermissions>>,
}

/// The server's compiled authentication settings.
pub struct Auth {
    users: HashMap<String, UserEntry>,
    token: Option<String>,
    single: Option<(String, String)>,
    required: bool,
}

impl Auth {
    /// Compiles the `authorization` options.
    pub fn new(a: &Authorization) -> Auth {
        let default = a
            .default_permissions
            .as_ref()
            .map(|p| Arc::new(ClientPermissions::compile(p)));
        Auth {
            users: a
                .users
                .iter()
                .map(|u| {
                    let permissions = u
                        .permissions
                        .as_ref()
                        .map(|p| Arc::new(ClientPermissions::compile(p)))
                        .or_else(|| default.clone());
                    (
                        u.username.clone(),
                        UserEntry {
                            password: u.password.clone(),
                            permissions,
                        },
                    )
                })
                .collect(),
            token: a.token.clone(),
            single: a
                .user
                .clone()
                .map(|u| (u, a.password.clone().unwrap_or_default())),
            required: a.required(),
        }
    }

    /// Whether clients must authenticate.
    pub fn required(&self) -> bool {
        self.required
    }

    /// Whether a users list is configured (changes the wording of the failure log line).
    pub fn has_users(&self) -> bool {
        !self.users.is_empty()
    }

    /// Checks a CONNECT's credentials; `None` means authorization violation.
    pub fn check(&self, c: &ConnectInfo) -> Option<Authenticated> {
        if !self.required {
            return Some(Authenticated::default());
        }
        if !self.users.is_empty() {
            let user = self.users.get(&c.user)?;
            return password_matches(&user.password, &c.pass).then(|| Authenticated {
                user: Some(c.user.clone()),
                permissions: user.permissions.clone(),
            });
        }
        if let Some(token) = &self.token {
            return password_matches(token, &c.auth_token).then(Authenticated::default);
        }
        if let Some((user, pass)) = &self.single {
            return (user == &c.user && password_matches(pass, &c.pass)).then(|| Authenticated {
                user: Some(user.clone()),
                permissions: None,
            });
        }
        None
    }
}

/// Compares a presented secret with a configured one, plain or bcrypt.
fn password_matches(configured: &str, presented: &str) -> bool {
    if configured.starts_with("$2") {
        bcrypt::verify(presented, configured).unwrap_or(false)
    } else {
        // Length first, then every byte, so timing does not reveal the matching prefix.
        configured.len() == presented.len()
            && configured
                .bytes()
                .zip(presented.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perms(publish: SubjectRules, subscribe: SubjectRules) -> ClientPermissions {
        ClientPermissions::compile(&Permissions {
            publish: Some(publish),
            subscribe: Some(subscribe),
            allow_responses: None,
        })
    }

    fn rules(allow: &[&str], deny: &[&str]) -> SubjectRules {
        SubjectRules {
            allow: allow.iter().map(|s| s.to_string()).collect(),
            deny: deny.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn publish_allow_and_deny() {
        let p = perms(rules(&["foo.*", "bar"], &["foo.secret"]), rules(&[], &[]));
        assert!(p.can_publish(b"foo.x"));
        assert!(p.can_publish(b"bar"));
        assert!(!p.can_publish(b"foo.secret"));
        assert!(!p.can_publish(b"baz"));
    }

    #[test]
    fn subscribe_rules_with_queues_and_overlapping_denies() {
        let p = perms(rules(&[], &[]), rules(&["foo.>", "bar q1"], &["foo.baz"]));
        assert!(p.can_subscribe(b"foo.bar", None));
        assert!(p.can_subscribe(b"foo.*", None));
        assert!(!p.can_subscribe(b"foo.baz", None));
        assert!(p.can_subscribe(b"bar", Some(b"q1")));
        assert!(!p.can_subscribe(b"bar", Some(b"q2")));
        assert!(!p.can_subscribe(b"bar", None));
        assert!(!p.can_subscribe(b"zzz", None));
        assert!(p.needs_delivery_check(b"foo.*"));
        assert!(p.deny_delivery(b"foo.baz"));
        assert!(!p.deny_delivery(b"foo.bar"));
    }

    #[test]
    fn credentials_plain_and_bcrypt() {
        let hash = bcrypt::hash("s3cret", 4).expect("hash");
        let auth = Auth::new(&Authorization {
            user: Some("a".into()),
            password: Some(hash),
            ..Authorization::default()
        });
        let mut c = ConnectInfo {
            user: "a".into(),
            pass: "s3cret".into(),
            ..ConnectInfo::default()
        };
        assert!(auth.check(&c).is_some());
        c.pass = "wrong".into();
        assert!(auth.check(&c).is_none());
        let auth = Auth::new(&Authorization {
            token: Some("tok".into()),
            ..Authorization::default()
        });
        c.auth_token = "tok".into();
        assert!(auth.check(&c).is_some());
        c.auth_token = "tok2".into();
        assert!(auth.check(&c).is_none());
    }
}
