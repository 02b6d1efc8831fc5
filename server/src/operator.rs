//! Operator mode: trusted operators vouch for accounts, accounts vouch for users, and clients
//! log in with a user JWT (plus a signature of their INFO nonce), as in nats-server.
//!
//! Two halves. [`configure`] runs when the configuration is read and applies nats-server's
//! start-up rules (a resolver is required, no users or accounts configured directly, the
//! system account must resolve), and turns the valid preloaded account JWTs into ordinary
//! [`AccountConfig`]s named by their public keys, so accounts, stream imports, routes and
//! monitoring work as for configured accounts. [`Trust`] is what authentication consults at
//! every CONNECT: the accounts' signing keys, revocations, limits and default permissions.
//!
//! Only the memory resolver (`resolver: MEMORY` with `resolver_preload`) exists here: the
//! set of accounts is fixed at start-up.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use nats_proto::ConnectInfo;
use tracing::{debug, info, warn};

use crate::auth::ClientPermissions;
use crate::jwt::{self, AccountClaims, OperatorClaims, UserPermissionLimits};
use crate::options::{
    AccountConfig, Export, Options, Permissions, ResponsePermission, ServiceImportConfig,
    StreamImportConfig, SubjectRules,
};

/// The server version operators' `assert_server_version` is compared with.
const SERVER_VERSION: (u64, u64, u64) = (2, 9, 10);

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The keys that may sign account JWTs: each operator's own key (unless it uses signing keys
/// only) and its signing keys.
fn trusted_keys(operators: &[OperatorClaims]) -> Vec<String> {
    let mut keys = Vec::new();
    for op in operators {
        if !op.nats.strict_signing_key_usage {
            keys.push(op.subject.clone());
        }
        keys.extend(op.nats.signing_keys.iter().cloned());
    }
    keys
}

/// The operators of `options`, decoded (they were checked when the file was read).
fn operators(options: &Options) -> Vec<OperatorClaims> {
    options
        .operators
        .iter()
        .filter_map(|j| jwt::decode_operator(j).ok())
        .collect()
}

/// Why an account of the resolver cannot be used: nats-server's texts (`account missing`,
/// `account validation failed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unusable {
    Missing,
    Invalid,
}

impl Unusable {
    fn text(self) -> &'static str {
        match self {
            Unusable::Missing => "account missing",
            Unusable::Invalid => "account validation failed",
        }
    }
}

/// The account JWT the resolver holds for `key`, if it is usable: it decodes, is about `key`
/// and is signed by a trusted key.
fn resolve(options: &Options, trusted: &[String], key: &str) -> Result<AccountClaims, Unusable> {
    if !jwt::is_account_key(key) {
        return Err(Unusable::Missing);
    }
    let token = options.resolver_preload.get(key).ok_or(Unusable::Missing)?;
    let claims = jwt::decode_account(token).map_err(|_| Unusable::Invalid)?;
    if claims.subject != key || !trusted.contains(&claims.issuer) || !within_limits(&claims) {
        return Err(Unusable::Invalid);
    }
    Ok(claims)
}

/// The operator's limits on the account's own claims, as nats-io/jwt validates them: no
/// more imports or exports than allowed, and no wildcard exports unless allowed (`-1`: no
/// limit). An account that breaks them does not validate, so its users cannot log in.
fn within_limits(claims: &AccountClaims) -> bool {
    let (nats, limits) = (&claims.nats, &claims.nats.limits);
    let over = |limit: i64, n: usize| limit >= 0 && i64::try_from(n).map_or(true, |n| n > limit);
    if over(limits.imports, nats.imports.len()) {
        return false;
    }
    if limits.exports >= 0 {
        let wildcard = nats
            .exports
            .iter()
            .any(|e| nats_proto::subject::has_wildcard(e.subject.as_bytes()));
        if over(limits.exports, nats.exports.len()) || (!limits.wildcards && wildcard) {
            return false;
        }
    }
    true
}

/// nats-server's `ParseServerVersion`: `major.minor.update`, empty meaning no requirement.
fn parse_version(v: &str) -> Result<(u64, u64, u64), String> {
    if v.is_empty() {
        return Ok((0, 0, 0));
    }
    let v = v.strip_prefix('v').unwrap_or(v);
    let parts: Vec<&str> = v.split('.').collect();
    let [major, minor, update] = parts.as_slice() else {
        return Err("invalid version string".into());
    };
    let num = |s: &str| s.parse::<u64>().map_err(|e| e.to_string());
    Ok((num(major)?, num(minor)?, num(update)?))
}

/// Applies operator mode's start-up rules to options read from a file, with nats-server's
/// texts, and adds the usable preloaded accounts to `o.accounts` (named by public key, their
/// stream exports and imports mapped). Service exports and imports, mappings and private
/// (token) exports in account JWTs are refused, naming the account: accepting and ignoring
/// them would hide the traffic they route.
pub fn configure(o: &mut Options) -> Result<(), String> {
    if o.operators.is_empty() {
        if o.resolver.is_some() || !o.resolver_preload.is_empty() {
            o.warnings
                .push("resolver and resolver_preload have no effect without an operator".into());
        }
        return Ok(());
    }
    let ops = operators(o);
    if o.resolver.is_none() {
        return Err("operators require an account resolver to be configured".into());
    }
    if !o.accounts.is_empty() {
        return Err("operators do not allow Accounts to be configured directly".into());
    }
    if !o.authorization.users.is_empty() {
        return Err("operators do not allow users to be configured directly".into());
    }
    match &o.system_account {
        Some(sys) => {
            let named: Vec<&str> = ops
                .iter()
                .map(|op| op.nats.system_account.as_str())
                .filter(|s| !s.is_empty())
                .collect();
            if !named.is_empty() && !named.contains(&sys.as_str()) {
                return Err("system_account in config and operator JWT must be identical".into());
            }
        }
        None => {
            if let [op] = ops.as_slice() {
                if !op.nats.system_account.is_empty() {
                    o.system_account = Some(op.nats.system_account.clone());
                }
            }
        }
    }
    for op in &ops {
        let (major, minor, update) =
            parse_version(&op.nats.assert_server_version).map_err(|e| {
                format!(
                    "operator {} expects version {} got error instead: {e}",
                    op.subject, op.nats.assert_server_version
                )
            })?;
        let (smaj, smin, supd) = SERVER_VERSION;
        let too_new = if major != smaj {
            major > smaj
        } else if minor != smin {
            minor > smin
        } else {
            update > supd
        };
        if too_new {
            return Err(format!(
                "operator {} expects version {} > server version {smaj}.{smin}.{supd}",
                op.subject, op.nats.assert_server_version
            ));
        }
    }
    let trusted = trusted_keys(&ops);
    if let Some(bad) = trusted.iter().find(|k| !jwt::is_operator_key(k)) {
        return Err(format!(
            "trusted Keys {bad:?} are required to be a valid public operator nkey"
        ));
    }
    let now = now();
    let mut usable = Vec::new();
    for key in o.resolver_preload.keys() {
        let Ok(claims) = resolve(o, &trusted, key) else {
            // nats-server finds out when a user of it logs in: refused then.
            continue;
        };
        usable.push(claims);
    }
    if let Some(sys) = &o.system_account {
        match resolve(o, &trusted, sys) {
            Ok(claims) if claims.time_check(now).is_err() => {
                return Err(format!(
                    "error resolving system account: {}",
                    Unusable::Invalid.text()
                ));
            }
            Ok(_) => {}
            Err(why) => return Err(format!("error resolving system account: {}", why.text())),
        }
    }
    let keys: Vec<&str> = usable.iter().map(|c| c.subject.as_str()).collect();
    let mut accounts = Vec::new();
    for claims in &usable {
        accounts.push(account_config(claims, &usable, &keys)?);
    }
    o.accounts = accounts;
    Ok(())
}

/// Logs what nats-server logs at start-up in operator mode: each trusted operator, a
/// warning without a system account, and preloaded accounts that are expired or not yet
/// valid (they exist, but their users are refused).
pub fn announce(options: &Options) {
    if options.operators.is_empty() {
        return;
    }
    info!("Trusted Operators");
    for op in operators(options) {
        info!("  System  : {:?}", op.audience);
        info!("  Operator: {:?}", op.name);
        info!("  Issued  : {}", go_time(op.issued_at));
        match op.expires {
            0 => info!("  Expires : Never"),
            t => info!("  Expires : {}", go_time(t)),
        }
    }
    if options.system_account.is_none() {
        warn!("Trusted Operators should utilize a System Account");
    }
    let now = now();
    for (key, token) in &options.resolver_preload {
        let Ok(claims) = jwt::decode_account(token) else {
            continue;
        };
        if let Err(issue) = claims.time_check(now) {
            warn!("Account [{key}] has validation issues:");
            warn!("  - {issue}");
        }
    }
}

/// Unix seconds as Go prints a `time.Time` in the local zone (`2006-01-02 15:04:05 -0700 MST`).
fn go_time(secs: i64) -> String {
    use chrono::TimeZone;
    match chrono::Local.timestamp_opt(secs, 0) {
        chrono::LocalResult::Single(t) if t.offset().local_minus_utc() == 0 => {
            t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string()
        }
        chrono::LocalResult::Single(t) => t.format("%Y-%m-%d %H:%M:%S %z").to_string(),
        _ => secs.to_string(),
    }
}

/// An account JWT as an [`AccountConfig`]: its stream exports (public: JWT exports have no
/// account list) and those stream imports whose exporter is usable and exports them (others
/// are left out, as nats-server leaves them out).
fn account_config(
    claims: &AccountClaims,
    all: &[AccountClaims],
    keys: &[&str],
) -> Result<AccountConfig, String> {
    let name = &claims.subject;
    let unsupported = |what: &str| {
        format!("account {name}: {what} in account JWTs are not supported by this server yet")
    };
    if !claims.nats.mappings.is_empty() {
        return Err(unsupported("mappings"));
    }
    let mut exports = Vec::new();
    for e in &claims.nats.exports {
        let service = match e.kind.as_str() {
            "service" => true,
            "stream" => false,
            other => return Err(format!("account {name}: unknown export type {other:?}")),
        };
        if e.token_req || e.account_token_position > 0 {
            return Err(unsupported("private exports (activation tokens)"));
        }
        let response_type = service.then(|| match e.response_type.as_str() {
            "Stream" => "Streamed".to_string(),
            "Chunked" => "Chunked".to_string(),
            _ => "Singleton".to_string(),
        });
        exports.push(Export {
            subject: e.subject.clone(),
            service,
            accounts: None,
            response_type,
            response_threshold: (service && e.response_threshold > 0)
                .then(|| std::time::Duration::from_nanos(e.response_threshold.unsigned_abs())),
        });
    }
    let mut imports = Vec::new();
    let mut service_imports = Vec::new();
    for i in &claims.nats.imports {
        let service = match i.kind.as_str() {
            "service" => true,
            "stream" => false,
            other => return Err(format!("account {name}: unknown import type {other:?}")),
        };
        if !i.token.is_empty() {
            return Err(unsupported("imports with activation tokens"));
        }
        // A service import's local subject (`local_subject`, else the subject itself) and the
        // exporter's subject (the subject, or the old `to` when there is no local subject),
        // as nats-server reads them.
        let (local, subject) = match (service, i.local_subject.is_empty(), i.to.is_empty()) {
            (true, false, _) => (i.local_subject.clone(), i.subject.clone()),
            (true, true, false) => (i.subject.clone(), i.to.clone()),
            _ => (i.subject.clone(), i.subject.clone()),
        };
        let kind = if service { "service" } else { "stream" };
        let exported = all
            .iter()
            .find(|a| a.subject == i.account)
            .is_some_and(|a| {
                a.nats.exports.iter().any(|e| {
                    e.kind == kind
                        && nats_proto::subject::is_subset(subject.as_bytes(), e.subject.as_bytes())
                })
            });
        if !keys.contains(&i.account.as_str()) || !exported {
            debug!(
                "Can't add {kind} import of {:?} from account [{}] to account [{name}]",
                i.subject, i.account
            );
            continue;
        }
        if service {
            if crate::mapping::Mapping::service_import(&local, &subject).is_err() {
                debug!(
                    "Error adding service import to account [{name}]: {:?} to {:?}",
                    local, subject
                );
                continue;
            }
            service_imports.push(ServiceImportConfig {
                account: i.account.clone(),
                subject,
                local,
                share: i.share,
            });
            continue;
        }
        let (prefix, to) = match (i.local_subject.is_empty(), i.to.is_empty()) {
            (false, _) => (None, Some(i.local_subject.clone())),
            (true, false) => (Some(i.to.trim_end_matches('.').to_string()), None),
            (true, true) => (None, None),
        };
        imports.push(StreamImportConfig {
            account: i.account.clone(),
            subject: i.subject.clone(),
            prefix,
            to,
        });
    }
    Ok(AccountConfig {
        name: name.clone(),
        exports,
        imports,
        service_imports,
        limits: Default::default(),
    })
}

/// JWT permissions as configured ones (nats-server's `buildPermissionsFromJwt`): `None` when
/// nothing is restricted; reply permissions with zero `max`/`ttl` take the defaults.
pub fn permissions(p: &jwt::Permissions) -> Option<Permissions> {
    if p.is_empty() {
        return None;
    }
    let rules = |r: &jwt::Permission| {
        (!r.is_empty()).then(|| SubjectRules {
            allow: r.allow.clone(),
            deny: r.deny.clone(),
        })
    };
    Some(Permissions {
        publish: rules(&p.publish),
        subscribe: rules(&p.subscribe),
        allow_responses: p.resp.as_ref().map(|r| ResponsePermission {
            max: match r.max {
                0 => 1,
                n if n < 0 => usize::MAX,
                n => usize::try_from(n).unwrap_or(usize::MAX),
            },
            expires: match r.ttl {
                0 => Some(ResponsePermission::DEFAULT_EXPIRES),
                n if n < 0 => None,
                n => Some(Duration::from_nanos(n.unsigned_abs())),
            },
        }),
    })
}

/// A limit of a JWT (`-1`, or any negative number: none).
fn limit(v: i64) -> Option<usize> {
    usize::try_from(v).ok()
}

/// The smaller of two optional limits (`None`: unlimited).
pub fn min_limit(a: Option<usize>, b: Option<usize>) -> Option<usize> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// One account the resolver vouches for, as logins need it.
struct TrustedAccount {
    claims: AccountClaims,
    /// Keys that may sign its users (its own key included); a scoped key's template.
    signers: HashMap<String, Option<UserPermissionLimits>>,
    /// Permissions of users whose JWT has none.
    default_permissions: Option<Arc<ClientPermissions>>,
}

/// A successful JWT login.
#[derive(Debug, Clone)]
pub struct JwtLogin {
    /// The user's public key (`sub`).
    pub user: String,
    /// The account's public key: the name of the connection's account.
    pub account: String,
    /// The key that signed the user JWT (the account or one of its signing keys).
    pub issuer: String,
    /// The JWT's `name`.
    pub name_tag: String,
    /// What the user may do.
    pub permissions: Option<Arc<ClientPermissions>>,
    /// When the JWT expires (unix seconds), if it does.
    pub expires: Option<i64>,
    /// Most connections the account may have at once.
    pub account_connections: Option<usize>,
    /// Most subscriptions per connection (user and account limits together).
    pub max_subscriptions: Option<usize>,
    /// Largest payload (user and account limits together).
    pub max_payload: Option<usize>,
}

/// What operator-mode authentication trusts: the usable accounts of the resolver.
pub struct Trust {
    accounts: HashMap<String, TrustedAccount>,
}

impl Trust {
    /// The trust of `options`, or `None` outside operator mode. Accounts that are not usable
    /// (not signed by a trusted key, not about the key they are stored under) are left out:
    /// their users are refused.
    pub fn from_options(options: &Options) -> Option<Trust> {
        if options.operators.is_empty() {
            return None;
        }
        let trusted = trusted_keys(&operators(options));
        let accounts = options
            .resolver_preload
            .keys()
            .filter_map(|key| {
                let claims = resolve(options, &trusted, key).ok()?;
                let mut signers: HashMap<String, Option<UserPermissionLimits>> = claims
                    .nats
                    .signing_keys
                    .iter()
                    .map(|k| match k {
                        jwt::SigningKey::Plain(k) => (k.clone(), None),
                        jwt::SigningKey::Scoped(s) => (s.key.clone(), Some(s.template.clone())),
                    })
                    .collect();
                signers.insert(claims.subject.clone(), None);
                let default_permissions = permissions(&claims.nats.default_permissions)
                    .map(|p| Arc::new(ClientPermissions::compile(&p)));
                Some((
                    key.clone(),
                    TrustedAccount {
                        claims,
                        signers,
                        default_permissions,
                    },
                ))
            })
            .collect();
        Some(Trust { accounts })
    }

    /// Checks a CONNECT's user JWT and nonce signature at `now` (unix seconds), in
    /// nats-server's order. `Err` says why (for the debug log); the client gets an
    /// authorization violation either way.
    pub fn check(
        &self,
        c: &ConnectInfo,
        nonce: Option<&[u8]>,
        peer: IpAddr,
        now: i64,
        connection_type: &str,
    ) -> Result<JwtLogin, String> {
        if c.jwt.is_empty() {
            return Err("Authentication requires a user JWT".into());
        }
        let user = jwt::decode_user(&c.jwt).map_err(|e| format!("User JWT not valid: {e}"))?;
        user.time_check(now)
            .map_err(|e| format!("User JWT no longer valid: {e}"))?;
        let u = &user.nats.limits;
        if !u.allowed_connection_types.is_empty()
            && !u
                .allowed_connection_types
                .iter()
                .any(|t| t.eq_ignore_ascii_case(connection_type))
        {
            return Err("Connection type not allowed".into());
        }
        let account_key = if user.nats.issuer_account.is_empty() {
            &user.issuer
        } else {
            &user.nats.issuer_account
        };
        let account = self
            .accounts
            .get(account_key)
            .ok_or_else(|| format!("Account JWT lookup error: account {account_key} unknown"))?;
        let Some(scope) = account.signers.get(&user.issuer) else {
            return Err("User JWT issuer is not known".into());
        };
        // A scoped key's users carry no permissions or limits of their own: the template's.
        let expanded;
        let granted = match scope {
            Some(template) => {
                if !u.is_empty() {
                    return Err(
                        "User JWT is not valid: scoped users require no permissions or limits set"
                            .into(),
                    );
                }
                expanded = expand_templates(template, &user, &account.claims)
                    .map_err(|_| "User JWT generated invalid permissions".to_string())?;
                &expanded
            }
            None => u,
        };
        if account.claims.time_check(now).is_err() {
            return Err("Account JWT has expired".into());
        }
        if u.bearer_token && account.claims.nats.limits.disallow_bearer {
            return Err("Account does not allow bearer token".into());
        }
        if !u.bearer_token {
            if c.sig.is_empty() {
                return Err("Signature missing".into());
            }
            if !crate::auth::signed_nonce(&user.subject, &c.sig, nonce.unwrap_or_default()) {
                return Err("Signature not verified".into());
            }
        }
        if account
            .claims
            .nats
            .is_revoked(&user.subject, user.issued_at)
        {
            return Err("User authentication revoked".into());
        }
        if !jwt::source_allowed(&granted.src, peer) {
            return Err(format!("Bad src Ip {peer}"));
        }
        let window_end = connect_window(&granted.times, &granted.times_location, now)?;
        let permissions = match permissions(&granted.permissions()) {
            Some(p) => Some(Arc::new(ClientPermissions::compile(&p))),
            None => account.default_permissions.clone(),
        };
        let limits = &account.claims.nats.limits;
        Ok(JwtLogin {
            user: user.subject.clone(),
            account: account.claims.subject.clone(),
            issuer: user.issuer.clone(),
            name_tag: user.name.clone(),
            permissions,
            expires: min_end((user.expires > 0).then_some(user.expires), window_end),
            account_connections: limit(limits.conn),
            max_subscriptions: min_limit(limit(granted.subs), limit(limits.subs)),
            max_payload: min_limit(limit(granted.payload), limit(limits.payload)),
        })
    }
}

/// A scoped signing key's template with its `{{…}}` tokens filled in for `user` of
/// `account`, as nats-server's `processUserPermissionsTemplate` does: `name()`,
/// `subject()`, `account-name()`, `account-subject()`, and `tag(k)` / `account-tag(k)`
/// (one subject per value of the tag `k:value`, every combination when several). A subject
/// that comes out invalid is left out of an allow list and refuses the login in a deny
/// list; an allow list left empty becomes a deny of everything.
fn expand_templates(
    template: &jwt::UserPermissionLimits,
    user: &jwt::UserClaims,
    account: &AccountClaims,
) -> Result<jwt::UserPermissionLimits, ()> {
    let tag_values = |tags: &[String], key: &str| -> Vec<String> {
        let prefix = format!("{key}:");
        tags.iter()
            .filter_map(|t| t.strip_prefix(&prefix).map(str::to_string))
            .collect()
    };
    let expand = |list: &[String], strict: bool| -> Result<Vec<String>, ()> {
        let templated = |t: &str| t.starts_with("{{") && t.ends_with("}}");
        if !list.iter().any(|s| s.split('.').any(templated)) {
            return Ok(list.to_vec());
        }
        let mut out = Vec::new();
        for subject in list {
            // Each token is one choice, or several for a tag with several values.
            let mut choices: Vec<Vec<String>> = Vec::new();
            for token in subject.split('.') {
                if !templated(token) {
                    choices.push(vec![token.to_string()]);
                    continue;
                }
                let op = token[2..token.len() - 2].to_ascii_lowercase();
                let values = match op.as_str() {
                    "name()" => vec![user.name.clone()],
                    "subject()" => vec![user.subject.clone()],
                    "account-name()" => vec![account.name.clone()],
                    "account-subject()" => vec![user.nats.issuer_account.clone()],
                    _ => match (
                        op.strip_prefix("account-tag(")
                            .and_then(|o| o.strip_suffix(')')),
                        op.strip_prefix("tag(").and_then(|o| o.strip_suffix(')')),
                    ) {
                        (Some(key), _) => tag_values(&account.nats.tags, key),
                        (None, Some(key)) => tag_values(&user.nats.tags, key),
                        // An unknown macro makes the subject invalid on purpose.
                        (None, None) => vec![" ".to_string()],
                    },
                };
                // A tag without values leaves an empty token, which fails the check below.
                choices.push(if values.is_empty() {
                    vec![String::new()]
                } else {
                    values
                });
            }
            let mut subjects = vec![String::new()];
            for (i, options) in choices.iter().enumerate() {
                subjects = subjects
                    .iter()
                    .flat_map(|prefix| {
                        options.iter().map(move |o| {
                            if i == 0 {
                                o.clone()
                            } else {
                                format!("{prefix}.{o}")
                            }
                        })
                    })
                    .collect();
            }
            for s in subjects {
                if nats_proto::subject::is_valid_subject(s.as_bytes()) {
                    out.push(s);
                } else if strict {
                    return Err(());
                }
            }
        }
        Ok(out)
    };
    let mut expanded = template.clone();
    expanded.subscribe.allow = expand(&template.subscribe.allow, false)?;
    expanded.subscribe.deny = expand(&template.subscribe.deny, true)?;
    expanded.publish.allow = expand(&template.publish.allow, false)?;
    expanded.publish.deny = expand(&template.publish.deny, true)?;
    for (was, now) in [
        (&template.subscribe, &mut expanded.subscribe),
        (&template.publish, &mut expanded.publish),
    ] {
        if !was.allow.is_empty() && now.allow.is_empty() {
            now.deny.push(">".into());
        }
    }
    Ok(expanded)
}

/// The earlier of two optional instants.
fn min_end(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// A user JWT's connect windows (`times`, `HH:MM:SS` to `HH:MM:SS` in `location`) at `now`
/// (unix seconds), as nats-server's `validateTimes` reads them: `Ok(None)` without windows,
/// `Ok(Some(end))` inside one (the connection closes at its end), an error outside all. A
/// window that ends before it starts ends the next day, and counts only from its start
/// today, as in nats-server. Locations other than the local time and UTC are refused.
fn connect_window(
    times: &[jwt::TimeRange],
    location: &str,
    now: i64,
) -> Result<Option<i64>, String> {
    use chrono::{Duration, NaiveTime, Offset, TimeZone};
    if times.is_empty() {
        return Ok(None);
    }
    let offset = match location {
        "" | "Local" => chrono::Local
            .timestamp_opt(now, 0)
            .single()
            .map_or(0, |t| t.offset().fix().local_minus_utc()),
        "UTC" | "Etc/UTC" => 0,
        other => {
            return Err(format!(
                "Outside connect times: time zone {other:?} is not supported by this server yet"
            ))
        }
    };
    let Some(local) = chrono::DateTime::from_timestamp(now + i64::from(offset), 0) else {
        return Err("Outside connect times".into());
    };
    let local = local.naive_utc();
    let today = local.date();
    for range in times {
        let parse = |t: &str| NaiveTime::parse_from_str(t, "%H:%M:%S");
        let (Ok(start), Ok(end)) = (parse(&range.start), parse(&range.end)) else {
            return Err("Outside connect times".into());
        };
        let start_at = today.and_time(start);
        let end_day = if start > end {
            today + Duration::days(1)
        } else {
            today
        };
        let end_at = end_day.and_time(end);
        if start_at < local && end_at > local {
            return Ok(Some(now + (end_at - local).num_seconds()));
        }
    }
    Err("Outside connect times".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_windows_follow_nats_servers_rules() {
        let range = |start: &str, end: &str| jwt::TimeRange {
            start: start.into(),
            end: end.into(),
        };
        // 2026-12-02 12:00:00 UTC.
        let noon = 1_796_212_800;
        assert_eq!(connect_window(&[], "UTC", noon), Ok(None));
        assert_eq!(
            connect_window(&[range("11:00:00", "13:00:00")], "UTC", noon),
            Ok(Some(noon + 3600))
        );
        assert!(connect_window(&[range("13:00:00", "14:00:00")], "UTC", noon).is_err());
        // Overnight: from its start today until tomorrow's end.
        assert_eq!(
            connect_window(&[range("11:00:00", "01:00:00")], "UTC", noon),
            Ok(Some(noon + 13 * 3600))
        );
        // The second of two windows.
        assert_eq!(
            connect_window(
                &[range("01:00:00", "02:00:00"), range("11:59:00", "12:01:00")],
                "UTC",
                noon
            ),
            Ok(Some(noon + 60))
        );
        assert!(connect_window(&[range("11:00:00", "13:00:00")], "Europe/Paris", noon).is_err());
    }

    #[test]
    fn versions_parse_as_nats_server_parses_them() {
        assert_eq!(parse_version(""), Ok((0, 0, 0)));
        assert_eq!(parse_version("2.9.1"), Ok((2, 9, 1)));
        assert!(parse_version("2.9").is_err());
    }

    #[test]
    fn jwt_permissions_map_onto_configured_ones() {
        assert_eq!(permissions(&jwt::Permissions::default()), None);
        let p = permissions(&jwt::Permissions {
            publish: jwt::Permission {
                allow: vec![],
                deny: vec!["x".into()],
            },
            subscribe: jwt::Permission::default(),
            resp: Some(jwt::ResponsePermission { max: 0, ttl: 0 }),
        })
        .expect("restricted");
        assert_eq!(
            p.publish,
            Some(SubjectRules {
                allow: vec![],
                deny: vec!["x".into()]
            })
        );
        assert_eq!(p.subscribe, None);
        assert_eq!(p.allow_responses, Some(ResponsePermission::default()));
        assert_eq!(min_limit(Some(3), None), Some(3));
        assert_eq!(min_limit(Some(3), Some(2)), Some(2));
        assert_eq!(limit(-1), None);
        assert_eq!(limit(0), Some(0));
    }
}
