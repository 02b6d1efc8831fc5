//! Client authentication and per-user permissions.
//!
//! Checked in nats-server's order: nkeys, the users list (by name, then password; with
//! `tls { verify_and_map }` by the client certificate's names instead, see
//! [`Auth::map_certificate`]), the token, the single user. Passwords and tokens of the form `$2a$NN$…` (`a`, `b`, `x` or `y`) are bcrypt
//! hashes; anything else, even starting with `$2`, is compared as plain text, as nats-server
//! does. A bcrypt check costs tens to hundreds of milliseconds of CPU, so it runs on tokio's
//! blocking pool, a bounded number at a time, never on the workers that serve connections.
//! Permissions are compiled once per user into allow/deny subject lists; publish decisions
//! are cached per connection by the caller.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use tokio::sync::Semaphore;
use tracing::{debug, warn};

use nats_proto::subject;
use nats_proto::ConnectInfo;

use crate::options::{Authorization, Options, Permissions, ResponsePermission};
use crate::tls::identity::{CertIdentity, Dn};

/// A subscribe entry: a subject filter with an optional queue group (`"foo.* q1"`).
#[derive(Debug, Clone)]
struct SubRule {
    subject: Vec<u8>,
    queue: Option<Vec<u8>>,
}

impl SubRule {
    fn parse(text: &str) -> SubRule {
        let mut parts = text.split_whitespace();
        let subject = parts.next().unwrap_or("").as_bytes().to_vec();
        let queue = parts.next().map(|q| q.as_bytes().to_vec());
        SubRule { subject, queue }
    }
}

/// The entries of one subscribe list that match a SUB's subject, split as nats-server's
/// sublist splits them: plain entries and queue-qualified ones.
struct Matched<'a> {
    plain: bool,
    queues: Vec<&'a [u8]>,
}

impl Matched<'_> {
    /// Whether `queue` is one of the matched queue entries (a queue entry may be a wildcard
    /// pattern over queue names, tokenised on `.`).
    fn queue_matches(&self, queue: &[u8]) -> bool {
        self.queues
            .iter()
            .any(|q| *q == queue || (subject::has_wildcard(q) && covers(q, queue)))
    }
}

/// Matches a SUB's subject against entries the way nats-server's sublist does: the SUB's
/// tokens are taken literally, so `*` in an entry matches a `>` or `*` token of the SUB.
fn matched<'a>(rules: &'a [SubRule], subj: &[u8]) -> Matched<'a> {
    let mut m = Matched {
        plain: false,
        queues: Vec::new(),
    };
    for r in rules.iter().filter(|r| subject::matches(&r.subject, subj)) {
        match &r.queue {
            None => m.plain = true,
            Some(q) => m.queues.push(q),
        }
    }
    m
}

/// Publish allow/deny lists. Entries are whole subjects (no queue part), as in nats-server.
#[derive(Debug, Clone, Default)]
struct PublishRules {
    /// `None`: everything not denied. `Some(empty)`: nothing (only replies under
    /// `allow_responses`).
    allow: Option<Vec<Vec<u8>>>,
    deny: Vec<Vec<u8>>,
}

/// Subscribe allow/deny lists.
#[derive(Debug, Clone, Default)]
struct SubscribeRules {
    /// `None` (or an empty list in the config): everything not denied.
    allow: Option<Vec<SubRule>>,
    deny: Vec<SubRule>,
}

/// What one authenticated user may do.
#[derive(Debug, Clone, Default)]
pub struct ClientPermissions {
    publish: Option<PublishRules>,
    subscribe: Option<SubscribeRules>,
    /// Reply subjects of received requests become publishable (`allow_responses`).
    pub allow_responses: Option<ResponsePermission>,
}

impl ClientPermissions {
    /// Compiles configured permissions with nats-server's rules: `allow_responses` without
    /// a publish allow list turns the blanket publish allow off (only replies may be
    /// published); an empty subscribe allow list allows everything.
    pub fn compile(p: &Permissions) -> ClientPermissions {
        let subjects = |list: &[String]| list.iter().map(|s| s.as_bytes().to_vec()).collect();
        let mut publish = p.publish.as_ref().map(|r| PublishRules {
            allow: (!r.allow.is_empty()).then(|| subjects(&r.allow)),
            deny: subjects(&r.deny),
        });
        if p.allow_responses.is_some() {
            let rules = publish.get_or_insert_with(PublishRules::default);
            rules.allow.get_or_insert_with(Vec::new);
        }
        ClientPermissions {
            publish,
            subscribe: p.subscribe.as_ref().map(|r| SubscribeRules {
                allow: (!r.allow.is_empty())
                    .then(|| r.allow.iter().map(|s| SubRule::parse(s)).collect()),
                deny: r.deny.iter().map(|s| SubRule::parse(s)).collect(),
            }),
            allow_responses: p.allow_responses,
        }
    }

    /// Whether publishing to the literal `subj` is allowed (reply permissions aside).
    pub fn can_publish(&self, subj: &[u8]) -> bool {
        let Some(rules) = &self.publish else {
            return true;
        };
        let allowed = match &rules.allow {
            None => true,
            Some(allow) => allow.iter().any(|r| subject::matches(r, subj)),
        };
        allowed && !rules.deny.iter().any(|r| subject::matches(r, subj))
    }

    /// Whether subscribing to `subj` (a filter) with `queue` is allowed, decided as
    /// nats-server decides it: among the entries matching the subject, queue-qualified ones
    /// decide for a queue subscription when there are any (`"foo qa"` admits queue `qa`
    /// only, even next to a plain `"foo"`; a denied `"foo q2"` refuses queue `q2` only), and
    /// plain entries decide otherwise.
    pub fn can_subscribe(&self, subj: &[u8], queue: Option<&[u8]>) -> bool {
        if queue == Some(b"_sys_".as_slice()) {
            return false;
        }
        let Some(rules) = &self.subscribe else {
            return true;
        };
        let mut allowed = true;
        if let Some(allow) = &rules.allow {
            let m = matched(allow, subj);
            allowed = m.plain;
            if let Some(q) = queue.filter(|_| !m.queues.is_empty()) {
                allowed = m.queue_matches(q);
            }
        }
        if allowed && !rules.deny.is_empty() {
            let m = matched(&rules.deny, subj);
            allowed = !m.plain;
            if let Some(q) = queue.filter(|_| !m.queues.is_empty()) {
                allowed = !m.queue_matches(q);
            }
        }
        allowed
    }

    /// Whether a subscription on `filter` may receive subjects a plain deny entry covers, so
    /// that each delivered subject must be checked with [`Self::deny_delivery`]. Queue-
    /// qualified deny entries are decided at SUB time only, as in nats-server.
    pub fn needs_delivery_check(&self, filter: &[u8]) -> bool {
        subject::has_wildcard(filter)
            && self
                .subscribe
                .as_ref()
                .is_some_and(|r| r.deny.iter().any(|d| d.queue.is_none()))
    }

    /// Whether a message on the literal `subj` must not be delivered to this user: a plain
    /// deny entry matches it.
    pub fn deny_delivery(&self, subj: &[u8]) -> bool {
        self.subscribe.as_ref().is_some_and(|r| {
            r.deny
                .iter()
                .any(|d| d.queue.is_none() && subject::matches(&d.subject, subj))
        })
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
    /// The account the user is in (`None`: the global account).
    pub account: Option<String>,
    /// Operator mode: what the user JWT said (limits, expiry, who signed it).
    pub jwt: Option<Box<crate::operator::JwtLogin>>,
}

impl From<crate::operator::JwtLogin> for Authenticated {
    fn from(login: crate::operator::JwtLogin) -> Authenticated {
        Authenticated {
            user: Some(login.user.clone()),
            permissions: login.permissions.clone(),
            account: Some(login.account.clone()),
            jwt: Some(Box::new(login)),
        }
    }
}

struct UserEntry {
    password: String,
    permissions: Option<Arc<ClientPermissions>>,
    /// The user's account (None: the global account).
    account: Option<String>,
    /// `allowed_connection_types` admits this listener's clients (`STANDARD` or
    /// `WEBSOCKET`, or no list).
    type_allowed: bool,
}

/// Who a client without credentials is, when the server requires authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Anonymous {
    /// Refused (the default).
    Refused,
    /// This user (`no_auth_user`).
    User(String),
    /// A client of the global account with no name: nats-server's rule when the only
    /// configured account is the system account (its users must log in, others need not).
    Global,
}

/// The server's compiled authentication settings.
pub struct Auth {
    users: HashMap<String, UserEntry>,
    /// NKey users by public key: they sign the nonce of their INFO.
    nkeys: HashMap<String, UserEntry>,
    token: Option<String>,
    single: Option<(String, String)>,
    required: bool,
    anonymous: Anonymous,
    /// `tls { verify_and_map }`: users are found by their client certificate.
    tls_map: bool,
    /// The user names that parse as distinguished names, in configuration order, for
    /// matching a certificate's subject.
    dn_users: Vec<(String, Dn)>,
    /// Operator mode: clients log in with user JWTs of these accounts only.
    trust: Option<crate::operator::Trust>,
    /// The connection type these settings are for (`STANDARD`, `WEBSOCKET`), as
    /// `allowed_connection_types` names it.
    connection_type: &'static str,
}

impl Auth {
    /// Compiles the authentication settings of `options` (`authorization`, the users of
    /// `accounts`, `no_auth_user`).
    pub fn from_options(options: &Options) -> Auth {
        Auth::from_options_for(options, "STANDARD")
    }

    /// The settings for websocket clients, when a websocket listener is configured: the
    /// top-level ones, except that the block's own user, token or `no_auth_user` replace
    /// the top-level single user, token and `no_auth_user` (nats-server's override), and its
    /// `tls { verify_and_map }` decides certificate mapping.
    pub fn for_websocket(options: &Options) -> Option<Auth> {
        let ws = options.websocket.as_ref()?;
        let mut o = options.clone();
        if ws.overrides_auth() {
            o.authorization.user = ws.user.clone();
            o.authorization.password = ws.password.clone();
            o.authorization.token = ws.token.clone();
            o.authorization.no_auth_user = ws.no_auth_user.clone();
        }
        o.tls = ws.tls.clone();
        Some(Auth::from_options_for(&o, "WEBSOCKET"))
    }

    /// The connection type these settings are for, as `allowed_connection_types` names it.
    pub fn connection_type(&self) -> &'static str {
        self.connection_type
    }

    fn from_options_for(options: &Options, connection_type: &'static str) -> Auth {
        let mut auth = Auth::new_for(&options.authorization, connection_type);
        auth.anonymous = match &options.authorization.no_auth_user {
            Some(user) => Anonymous::User(user.clone()),
            None if only_system_account(options) => Anonymous::Global,
            None => Anonymous::Refused,
        };
        auth.tls_map = options.tls.as_ref().is_some_and(|t| t.map);
        auth.trust = crate::operator::Trust::from_options(options);
        if auth.trust.is_some() {
            // Only user JWTs log in: no anonymous clients, whatever else is configured.
            auth.required = true;
            auth.anonymous = Anonymous::Refused;
        }
        auth
    }

    /// Operator mode's trust, when the server runs in operator mode.
    pub fn trust(&self) -> Option<&crate::operator::Trust> {
        self.trust.as_ref()
    }

    /// Compiles the `authorization` options (for plain NATS clients).
    pub fn new(a: &Authorization) -> Auth {
        Auth::new_for(a, "STANDARD")
    }

    fn new_for(a: &Authorization, connection_type: &'static str) -> Auth {
        let default = a
            .default_permissions
            .as_ref()
            .map(|p| Arc::new(ClientPermissions::compile(p)));
        let entry = |u: &crate::options::User| {
            // `authorization`'s default permissions are for its own users; an
            // account's defaults were applied to its users when the file was read.
            let permissions = u
                .permissions
                .as_ref()
                .map(|p| Arc::new(ClientPermissions::compile(p)))
                .or_else(|| default.clone().filter(|_| u.account.is_none()));
            UserEntry {
                password: u.password.clone(),
                permissions,
                account: u.account.clone(),
                type_allowed: u
                    .allowed_connection_types
                    .as_ref()
                    .is_none_or(|types| types.iter().any(|t| t == connection_type)),
            }
        };
        Auth {
            users: a
                .users
                .iter()
                .filter(|u| u.nkey.is_none())
                .map(|u| (u.username.clone(), entry(u)))
                .collect(),
            nkeys: a
                .users
                .iter()
                .filter_map(|u| Some((u.nkey.clone()?, entry(u))))
                .collect(),
            token: a.token.clone(),
            single: a
                .user
                .clone()
                .map(|u| (u, a.password.clone().unwrap_or_default())),
            required: a.required(),
            anonymous: Anonymous::Refused,
            tls_map: false,
            dn_users: a
                .users
                .iter()
                .filter(|u| u.nkey.is_none())
                .filter_map(|u| Some((u.username.clone(), Dn::parse(&u.username)?)))
                .collect(),
            trust: None,
            connection_type,
        }
    }

    /// Whether clients log in by their certificate: `verify_and_map` with a users list (without
    /// users nats-server goes on to the token or single user instead).
    pub fn maps_certificates(&self) -> bool {
        self.tls_map && !self.users.is_empty()
    }

    /// The configured user a client certificate maps to, tried in nats-server's order (see
    /// [`crate::tls::identity`]): SAN e-mail addresses, DNS names and URIs by name, the
    /// subject as a distinguished name (equal, then the same RDNs reordered), the subject
    /// string with its DCs, the subject string. Users whose `allowed_connection_types` leave
    /// out plain clients are passed over. With `prefix`, each step is logged at debug level
    /// with nats-server's wording.
    pub fn map_certificate(
        &self,
        cert: Option<&CertIdentity>,
        prefix: Option<&str>,
    ) -> Option<&str> {
        let log = |line: std::fmt::Arguments<'_>| {
            if let Some(prefix) = prefix {
                debug!("{prefix}{line}");
            }
        };
        let Some(cert) = cert else {
            log(format_args!(
                "User required in cert, no peer certificates found"
            ));
            return None;
        };
        if cert.emails.is_empty() && !cert.has_subject && cert.uris.is_empty() {
            log(format_args!("User required in cert, none found"));
            return None;
        }
        let by_name = |name: &str| {
            let (name, user) = self.users.get_key_value(name)?;
            user.type_allowed.then_some(name.as_str())
        };
        let sans = [
            (&cert.emails, "email"),
            (&cert.dns_names, "SAN"),
            (&cert.uris, "URI"),
        ];
        for (names, what) in sans {
            if let Some(found) = names.iter().find_map(|n| by_name(n)) {
                log(format_args!(
                    "Using {what} found in cert for auth [{found:?}]"
                ));
                return Some(found);
            }
        }
        if let Some(subject) = &cert.subject {
            let allowed = || {
                self.dn_users
                    .iter()
                    .filter(|(name, _)| by_name(name).is_some())
            };
            let found = allowed()
                .find(|(_, dn)| dn.equals(subject))
                .or_else(|| allowed().find(|(_, dn)| dn.same_rdns(subject)));
            if let Some((name, _)) = found {
                log(format_args!(
                    "Using DistinguishedNameMatch for auth [{name:?}]"
                ));
                return Some(name);
            }
            log(format_args!(
                "DistinguishedNameMatch could not be used for auth [{:?}]",
                cert.subject_string
            ));
        }
        if let Some(with_dcs) = &cert.subject_with_dcs {
            if let Some(found) = by_name(with_dcs) {
                log(format_args!("Using RDNSequence for auth [{found:?}]"));
                return Some(found);
            }
            log(format_args!(
                "RDNSequence could not be used for auth [{with_dcs:?}]"
            ));
        }
        if let Some(found) = by_name(&cert.subject_string) {
            log(format_args!(
                "Using certificate subject for auth [{found:?}]"
            ));
            return Some(found);
        }
        log(format_args!(
            "User in cert [{:?}], not found",
            cert.subject_string
        ));
        None
    }

    /// Whether the INFO tells clients to authenticate: not when a client without
    /// credentials is let in anyway (`no_auth_user`), as nats-server says.
    pub fn advertised(&self) -> bool {
        self.required && self.anonymous == Anonymous::Refused
    }

    /// Whether clients must authenticate.
    pub fn required(&self) -> bool {
        self.required
    }

    /// Whether a users list is configured (changes the wording of the failure log line).
    pub fn has_users(&self) -> bool {
        !self.users.is_empty()
    }

    /// Whether a client without credentials is let in (`no_auth_user`, or nats-server's
    /// only-system-account rule); then it may even start with another op than CONNECT.
    pub fn admits_anonymous(&self) -> bool {
        self.anonymous != Anonymous::Refused
    }

    /// Who a client without credentials is, if it is let in at all.
    pub fn anonymous_login(&self) -> Option<Authenticated> {
        match &self.anonymous {
            Anonymous::Refused => None,
            Anonymous::Global => Some(Authenticated::default()),
            Anonymous::User(name) => {
                let user = self.users.get(name)?;
                user.type_allowed.then(|| user.authenticated(name))
            }
        }
    }

    /// Whether clients get a nonce in their INFO to sign (nkey users exist, or operator
    /// mode).
    pub fn needs_nonce(&self) -> bool {
        !self.nkeys.is_empty() || self.trust.is_some()
    }

    /// Checks a CONNECT's credentials against the `nonce` its INFO carried (if any); `None`
    /// means authorization violation. A bcrypt comparison waits for the blocking pool (see
    /// [`password_matches`]).
    pub async fn check(&self, c: &ConnectInfo, nonce: Option<&[u8]>) -> Option<Authenticated> {
        self.check_tls(c, nonce, None, None).await
    }

    /// [`Auth::check`] for a client that may have presented a certificate: with
    /// `verify_and_map`, `cert` picks the user (see [`Auth::map_certificate`], which logs
    /// with `prefix`), and that user's password, if it has one, must still be in CONNECT, as
    /// nats-server wants it. A user name in CONNECT is ignored then (with nats-server's
    /// warning); `no_auth_user` does not apply.
    pub async fn check_tls(
        &self,
        c: &ConnectInfo,
        nonce: Option<&[u8]>,
        cert: Option<&CertIdentity>,
        prefix: Option<&str>,
    ) -> Option<Authenticated> {
        if !self.required {
            return Some(Authenticated::default());
        }
        let anonymous = c.user.is_empty()
            && c.pass.is_empty()
            && c.auth_token.is_empty()
            && c.nkey.is_empty()
            && c.jwt.is_empty();
        if anonymous && self.admits_anonymous() && !self.maps_certificates() {
            return self.anonymous_login();
        }
        // As nats-server: an nkey, when nkey users exist, decides alone.
        if !self.nkeys.is_empty() && !c.nkey.is_empty() {
            let user = self.nkeys.get(&c.nkey)?;
            if !user.type_allowed || !signed_nonce(&c.nkey, &c.sig, nonce?) {
                return None;
            }
            return Some(user.authenticated(&c.nkey));
        }
        if self.maps_certificates() {
            let name = self.map_certificate(cert, prefix)?;
            let user = self.users.get(name)?;
            if !c.user.is_empty() {
                warn!(
                    "User {:?} found in connect proto, but user required from cert",
                    c.user
                );
            }
            return password_matches(&user.password, &c.pass)
                .await
                .then(|| user.authenticated(name));
        }
        if !self.users.is_empty() {
            let user = self.users.get(&c.user)?;
            if !user.type_allowed {
                return None;
            }
            return password_matches(&user.password, &c.pass)
                .await
                .then(|| user.authenticated(&c.user));
        }
        if let Some(token) = &self.token {
            return password_matches(token, &c.auth_token)
                .await
                .then(Authenticated::default);
        }
        if let Some((user, pass)) = &self.single {
            if user != &c.user {
                return None;
            }
            return password_matches(pass, &c.pass)
                .await
                .then(|| Authenticated {
                    user: Some(user.clone()),
                    ..Authenticated::default()
                });
        }
        None
    }
}

/// Whether `sig` (base64, URL alphabet unpadded or standard, as nats-server accepts) is
/// `nkey`'s ed25519 signature of `nonce`.
pub(crate) fn signed_nonce(nkey: &str, sig: &str, nonce: &[u8]) -> bool {
    if sig.is_empty() {
        return false;
    }
    let decoded = data_encoding::BASE64URL_NOPAD
        .decode(sig.as_bytes())
        .or_else(|_| data_encoding::BASE64.decode(sig.as_bytes()));
    let Ok(sig) = decoded else {
        return false;
    };
    nkeys::KeyPair::from_public_key(nkey).is_ok_and(|key| key.verify(nonce, &sig).is_ok())
}

/// A fresh nonce for an INFO: 11 random bytes as unpadded URL-safe base64 (15 characters),
/// as nats-server makes them. Clients with an nkey sign it; routes get one too.
pub fn nonce() -> String {
    let bytes: [u8; 11] = rand::random();
    data_encoding::BASE64URL_NOPAD.encode(&bytes)
}

impl UserEntry {
    /// The outcome of logging in as this user, named `name`.
    fn authenticated(&self, name: &str) -> Authenticated {
        Authenticated {
            user: Some(name.to_string()),
            permissions: self.permissions.clone(),
            account: self.account.clone(),
            jwt: None,
        }
    }
}

/// Whether the system account is the only configured account (named by `system_account`,
/// or called `$SYS`): then nats-server gives the global account a user of its own and makes
/// it the `no_auth_user`, so clients without credentials get into the global account.
fn only_system_account(options: &Options) -> bool {
    match options.accounts.as_slice() {
        [only] => {
            options.system_account.as_deref() == Some(only.name.as_str())
                || only.name == crate::options::SYSTEM_ACCOUNT
        }
        _ => false,
    }
}

/// Whether a configured secret is a bcrypt hash: nats-server's rule, `$2[abxy]$NN$…`.
pub fn is_bcrypt(secret: &str) -> bool {
    let b = secret.as_bytes();
    b.len() >= 7
        && b.starts_with(b"$2")
        && matches!(b[2], b'a' | b'b' | b'x' | b'y')
        && b[3] == b'$'
        && b[4].is_ascii_digit()
        && b[5].is_ascii_digit()
        && b[6] == b'$'
}

/// How many bcrypt checks may run at once: one per core, so logins cannot take more CPU
/// than the machine has while the connection workers keep serving everyone else.
fn bcrypt_slots() -> Arc<Semaphore> {
    static SLOTS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    SLOTS
        .get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            Arc::new(Semaphore::new(cores))
        })
        .clone()
}

/// Compares a presented secret with a configured one, plain or bcrypt. A bcrypt check runs
/// on the blocking pool once one of the bcrypt slots (one per core) is free; the slot travels with the
/// check, so a client that hangs up while its check runs does not free it early.
pub async fn password_matches(configured: &str, presented: &str) -> bool {
    if !is_bcrypt(configured) {
        return plain_matches(configured, presented);
    }
    let Ok(slot) = bcrypt_slots().acquire_owned().await else {
        return false;
    };
    let (hash, presented) = (configured.to_string(), presented.to_string());
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        bcrypt::verify(presented, &hash).unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// Compares plain secrets: length first, then every byte, so timing does not reveal the
/// matching prefix.
fn plain_matches(configured: &str, presented: &str) -> bool {
    configured.len() == presented.len()
        && configured
            .bytes()
            .zip(presented.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::SubjectRules;

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

    /// On a runtime with one thread, a check that ran on that thread would be finished by the
    /// time the test task runs again; run off it, a bcrypt check takes far longer than a few
    /// task switches.
    #[test]
    fn a_bcrypt_check_runs_off_the_runtime_thread() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let hash = bcrypt::hash("s3cret", 10).expect("hash");
        runtime.block_on(async move {
            let check = tokio::spawn(async move { password_matches(&hash, "s3cret").await });
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
            assert!(
                !check.is_finished(),
                "the bcrypt check held the runtime thread"
            );
            assert!(check.await.expect("check task"));
        });
    }

    #[test]
    fn publish_allow_and_deny() {
        let p = perms(
            rules(&["foo.*", "bar", "baz q"], &["foo.secret"]),
            rules(&[], &[]),
        );
        assert!(p.can_publish(b"foo.x"));
        assert!(p.can_publish(b"bar"));
        assert!(!p.can_publish(b"foo.secret"));
        assert!(!p.can_publish(b"baz"), "a publish entry is a whole subject");
        assert!(!p.can_publish(b"zzz"));
    }

    #[test]
    fn allow_responses_turns_the_blanket_publish_allow_off() {
        let only_replies = ClientPermissions::compile(&Permissions {
            publish: None,
            subscribe: None,
            allow_responses: Some(ResponsePermission::default()),
        });
        assert!(!only_replies.can_publish(b"anything"));
        let with_deny = ClientPermissions::compile(&Permissions {
            publish: Some(rules(&[], &["x"])),
            subscribe: None,
            allow_responses: Some(ResponsePermission::default()),
        });
        assert!(!with_deny.can_publish(b"y"));
        let with_allow = ClientPermissions::compile(&Permissions {
            publish: Some(rules(&["y"], &[])),
            subscribe: None,
            allow_responses: Some(ResponsePermission::default()),
        });
        assert!(with_allow.can_publish(b"y"));
        assert!(!with_allow.can_publish(b"z"));
    }

    #[test]
    fn subscribe_decisions_follow_nats_server() {
        let p = perms(
            rules(&[], &[]),
            rules(
                &[
                    "plainq",
                    "plainq qa",
                    "foo.*",
                    "bar.>",
                    "wq q.*",
                    "qq.x",
                    "sec.>",
                    "lit.a",
                ],
                &["qq.x q2", "sec.> q1"],
            ),
        );
        // (subject, queue, allowed)
        let cases = [
            ("plainq", None, true),
            ("plainq", Some("qa"), true),
            // a queue entry decides for queue subscriptions
            ("plainq", Some("qb"), false),
            ("qq.x", Some("q2"), false),
            ("qq.x", Some("q1"), true),
            // a queue deny entry leaves plain subscriptions alone
            ("qq.x", None, true),
            ("sec.>", None, true),
            ("sec.>", Some("q1"), false),
            ("sec.a", Some("q1"), false),
            ("sec.a", Some("q2"), true),
            // `*` in an entry matches a literal `>` token
            ("foo.>", None, true),
            ("foo.*", None, true),
            ("foo.a.b", None, false),
            ("foo", None, false),
            ("bar.*", None, true),
            ("*", None, false),
            (">", None, false),
            ("wq", Some("q.a"), true),
            ("wq", Some("q"), false),
            ("wq", Some("q.a.b"), false),
            ("wq", None, false),
            ("lit.*", None, false),
            ("lit.a", Some("q9"), true),
            ("lit.a", Some("_sys_"), false),
        ];
        for (subject, queue, allowed) in cases {
            assert_eq!(
                p.can_subscribe(subject.as_bytes(), queue.map(str::as_bytes)),
                allowed,
                "SUB {subject} {queue:?}"
            );
        }
        // Queue deny entries never filter deliveries; plain ones do.
        assert!(!p.needs_delivery_check(b"sec.>"));
        assert!(!p.deny_delivery(b"sec.a"));
        let d = perms(rules(&[], &[]), rules(&[">"], &["sec.secret", "only.*"]));
        assert!(!d.can_subscribe(b"sec.secret", None));
        assert!(d.can_subscribe(b"sec.*", None));
        assert!(!d.can_subscribe(b"only.>", None));
        assert!(d.needs_delivery_check(b"sec.*"));
        assert!(d.deny_delivery(b"sec.secret"));
        assert!(!d.deny_delivery(b"sec.ok"));
        let q = perms(rules(&[], &[]), rules(&[], &["foo", "foo qx"]));
        assert!(q.can_subscribe(b"foo", Some(b"qy")));
        assert!(!q.can_subscribe(b"foo", Some(b"qx")));
        assert!(!q.can_subscribe(b"foo", None));
    }

    #[test]
    fn bcrypt_hashes_are_recognised_by_their_full_prefix() {
        assert!(is_bcrypt("$2a$11$abc"));
        assert!(is_bcrypt("$2y$04$"));
        assert!(!is_bcrypt("$2q$04$abc"));
        assert!(!is_bcrypt("$2a$4$abc"));
        assert!(!is_bcrypt("$2secret"));
        assert!(!is_bcrypt("$2"));
    }

    #[tokio::test]
    async fn credentials_plain_and_bcrypt() {
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
        assert!(auth.check(&c, None).await.is_some());
        c.pass = "wrong".into();
        assert!(auth.check(&c, None).await.is_none());
        let auth = Auth::new(&Authorization {
            token: Some("tok".into()),
            ..Authorization::default()
        });
        c.auth_token = "tok".into();
        assert!(auth.check(&c, None).await.is_some());
        c.auth_token = "tok2".into();
        assert!(auth.check(&c, None).await.is_none());
        // Starts with `$2` but is no bcrypt hash: a plain password, compared as written.
        let auth = Auth::new(&Authorization {
            user: Some("a".into()),
            password: Some("$2secret".into()),
            ..Authorization::default()
        });
        c.pass = "$2secret".into();
        assert!(auth.check(&c, None).await.is_some());
    }

    #[tokio::test]
    async fn an_nkey_user_logs_in_by_signing_the_nonce_it_was_given() {
        let key = nkeys::KeyPair::new_user();
        let other = nkeys::KeyPair::new_user();
        let auth = Auth::new(&Authorization {
            users: vec![crate::options::User {
                nkey: Some(key.public_key()),
                ..crate::options::User::default()
            }],
            ..Authorization::default()
        });
        assert!(auth.needs_nonce() && auth.required());
        let nonce = nonce();
        assert_eq!(nonce.len(), 15);
        let signed = |k: &nkeys::KeyPair, what: &[u8]| -> String {
            data_encoding::BASE64URL_NOPAD.encode(&k.sign(what).expect("sign"))
        };
        let mut c = ConnectInfo {
            nkey: key.public_key(),
            sig: signed(&key, nonce.as_bytes()),
            ..ConnectInfo::default()
        };
        let ok = auth.check(&c, Some(nonce.as_bytes())).await;
        assert_eq!(ok.and_then(|a| a.user), Some(key.public_key()));
        // Standard base64 is accepted too, as nats-server does.
        c.sig = data_encoding::BASE64.encode(&key.sign(nonce.as_bytes()).expect("sign"));
        assert!(auth.check(&c, Some(nonce.as_bytes())).await.is_some());
        // Another nonce, another signer, no signature, an unknown key, no nonce sent.
        let refused = [
            (key.public_key(), signed(&key, b"other nonce")),
            (key.public_key(), signed(&other, nonce.as_bytes())),
            (key.public_key(), String::new()),
            (other.public_key(), signed(&other, nonce.as_bytes())),
        ];
        for (nkey, sig) in refused {
            let c = ConnectInfo {
                nkey,
                sig,
                ..ConnectInfo::default()
            };
            assert!(auth.check(&c, Some(nonce.as_bytes())).await.is_none());
        }
        assert!(auth.check(&c, None).await.is_none());
    }

    #[tokio::test]
    async fn a_certificate_picks_its_user_and_a_user_list_only() {
        let user = |name: &str, password: &str, types: Option<&[&str]>| crate::options::User {
            username: name.into(),
            password: password.into(),
            allowed_connection_types: types.map(|t| t.iter().map(|s| s.to_string()).collect()),
            account: Some("A".into()),
            ..crate::options::User::default()
        };
        let mut auth = Auth::new(&Authorization {
            users: vec![
                user("ws@example.com", "", Some(&["WEBSOCKET"])),
                user("a@example.com", "", None),
                user("CN=pw", &bcrypt::hash("s3cret", 4).expect("hash"), None),
            ],
            ..Authorization::default()
        });
        auth.tls_map = true;
        assert!(auth.maps_certificates());
        // A user that may not connect as a plain client is passed over for the next name.
        let cert = CertIdentity {
            emails: vec!["ws@example.com".into(), "a@example.com".into()],
            has_subject: true,
            subject_string: "CN=x".into(),
            ..CertIdentity::default()
        };
        assert_eq!(
            auth.map_certificate(Some(&cert), None),
            Some("a@example.com")
        );
        let c = ConnectInfo {
            user: "someone-else".into(),
            ..ConnectInfo::default()
        };
        let ok = auth.check_tls(&c, None, Some(&cert), None).await;
        let ok = ok.expect("mapped");
        assert_eq!(
            (ok.user.as_deref(), ok.account.as_deref()),
            (Some("a@example.com"), Some("A"))
        );
        assert!(
            auth.check_tls(&c, None, None, None).await.is_none(),
            "no certificate"
        );

        // The mapped user's (bcrypt) password is still checked.
        let cert = CertIdentity {
            subject: crate::tls::identity::Dn::parse("CN=pw"),
            subject_string: "CN=pw".into(),
            has_subject: true,
            ..CertIdentity::default()
        };
        let mut c = ConnectInfo::default();
        assert!(auth.check_tls(&c, None, Some(&cert), None).await.is_none());
        c.pass = "s3cret".into();
        assert!(auth.check_tls(&c, None, Some(&cert), None).await.is_some());

        // Without a users list the mapping does not apply (the token decides).
        let mut auth = Auth::new(&Authorization {
            token: Some("t".into()),
            ..Authorization::default()
        });
        auth.tls_map = true;
        assert!(!auth.maps_certificates());
        let c = ConnectInfo {
            auth_token: "t".into(),
            ..ConnectInfo::default()
        };
        assert!(auth.check_tls(&c, None, None, None).await.is_some());
    }
}
