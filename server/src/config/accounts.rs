//! The `accounts {}` block: each account's users, exports and imports, and the rules
//! nats-server applies to them when the file is read (reserved names, duplicate users,
//! imports of accounts that do not exist or do not export what is imported, cycles).
//! Parts of an account this server does not implement yet are refused, naming the key.

use std::collections::BTreeMap;

use nats_proto::subject;
use serde::Deserialize;

use std::time::Duration;

use super::{
    refuse_account_jetstream, refuse_account_mappings, refuse_account_nkey, refuse_latency,
    user_list, PermissionsBlock, UserEntry,
};
use crate::mapping::Mapping;
use crate::options::{
    AccountConfig, AccountLimits, Export, Options, ServiceImportConfig, StreamImportConfig, User,
};

/// The `accounts` value: a map of account blocks, or (nats-server's short form) a list of
/// names, accounts with no users, exports or imports.
#[derive(Debug)]
pub(super) struct AccountsValue(pub(super) BTreeMap<String, AccountBlock>);

impl<'de> Deserialize<'de> for AccountsValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = AccountsValue;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map of accounts or a list of account names")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                BTreeMap::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(AccountsValue)
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut accounts = BTreeMap::new();
                while let Some(name) = seq.next_element::<String>()? {
                    if is_reserved(&name) {
                        return Err(serde::de::Error::custom(format!(
                            "{name:?} is a Reserved Account"
                        )));
                    }
                    if accounts
                        .insert(name.clone(), AccountBlock::default())
                        .is_some()
                    {
                        return Err(serde::de::Error::custom(format!(
                            "Duplicate Account Entry: {name}"
                        )));
                    }
                }
                Ok(AccountsValue(accounts))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// One account as written in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AccountBlock {
    #[serde(default, deserialize_with = "user_list")]
    users: Option<Vec<UserEntry>>,
    #[serde(default)]
    exports: Vec<ExportEntry>,
    #[serde(default)]
    imports: Vec<ImportEntry>,
    #[serde(alias = "default_permission")]
    default_permissions: Option<PermissionsBlock>,
    // Never read: reading them fails.
    #[allow(dead_code)]
    #[serde(default, deserialize_with = "refuse_account_nkey")]
    nkey: Option<()>,
    #[allow(dead_code)]
    #[serde(default, deserialize_with = "refuse_account_jetstream")]
    jetstream: Option<()>,
    #[allow(dead_code)]
    #[serde(alias = "maps", default, deserialize_with = "refuse_account_mappings")]
    mappings: Option<()>,
    limits: Option<LimitsBlock>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportEntry {
    stream: Option<String>,
    service: Option<String>,
    accounts: Option<Vec<String>>,
    response_type: Option<String>,
    #[serde(alias = "threshold", default, deserialize_with = "response_threshold")]
    response_threshold: Option<Duration>,
    #[allow(dead_code)]
    #[serde(default, deserialize_with = "refuse_latency")]
    latency: Option<()>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportEntry {
    stream: Option<ImportSource>,
    service: Option<ImportSource>,
    prefix: Option<String>,
    to: Option<String>,
    #[serde(default)]
    share: bool,
}

/// An account's `limits {}` as nats-server reads it: a negative value is no limit.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsBlock {
    #[serde(alias = "max_conn")]
    max_connections: Option<i64>,
    #[serde(alias = "max_subs")]
    max_subscriptions: Option<i64>,
    #[serde(alias = "max_pay")]
    max_payload: Option<i64>,
    // Leaf nodes are refused where they are configured; their limit changes nothing.
    #[allow(dead_code)]
    #[serde(alias = "max_leafs")]
    max_leafnodes: Option<i64>,
}

impl LimitsBlock {
    fn into_limits(self) -> AccountLimits {
        let limit = |v: Option<i64>| v.and_then(|v| usize::try_from(v).ok());
        AccountLimits {
            max_connections: limit(self.max_connections),
            max_subscriptions: limit(self.max_subscriptions),
            max_payload: limit(self.max_payload),
        }
    }
}

/// An import: a stream or a service.
enum Import {
    Stream(StreamImportConfig),
    Service(ServiceImportConfig),
}

/// `response_threshold: "10s"`: a Go duration string, as nats-server takes it.
fn response_threshold<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Other(serde::de::IgnoredAny),
    }
    let text = match Raw::deserialize(d)? {
        Raw::Text(text) => text,
        Raw::Other(_) => String::from("a value that is not a string"),
    };
    match super::conf::parse_duration(&text) {
        Some(threshold) => Ok(Some(threshold)),
        None => Err(serde::de::Error::custom(format!(
            "Expected response threshold to be a parseable time duration, got {text:?}"
        ))),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportSource {
    account: String,
    subject: String,
}

/// Account names nats-server keeps for itself.
fn is_reserved(name: &str) -> bool {
    name == crate::account::GLOBAL
}

/// Reads the `accounts` block into `o`: the accounts, and their users into the users list.
pub(super) fn apply(blocks: BTreeMap<String, AccountBlock>, o: &mut Options) -> Result<(), String> {
    let mut accounts = Vec::new();
    for (name, block) in blocks {
        if is_reserved(&name) {
            return Err(format!("{name:?} is a Reserved Account"));
        }
        let defaults = block
            .default_permissions
            .map(PermissionsBlock::into_permissions)
            .transpose()?;
        let users = block.users.unwrap_or_default();
        if !users.is_empty() {
            if o.authorization.user.is_some() {
                return Err("Can not have a single user/pass and accounts".into());
            }
            if o.authorization.token.is_some() {
                return Err("Can not have a token and accounts".into());
            }
        }
        for entry in users {
            let mut user = User::from_entry(entry)?;
            if user.permissions.is_none() {
                user.permissions = defaults.clone();
            }
            let clash = o
                .authorization
                .users
                .iter()
                .any(|u| match (&u.nkey, &user.nkey) {
                    (Some(a), Some(b)) => a == b,
                    (None, None) => u.username == user.username,
                    _ => false,
                });
            if clash {
                return Err(match &user.nkey {
                    Some(nkey) => format!("Duplicate nkey {nkey:?} detected"),
                    None => format!("Duplicate user {:?} detected", user.username),
                });
            }
            user.account = Some(name.clone());
            o.authorization.users.push(user);
        }
        let mut exports = Vec::new();
        for e in block.exports {
            exports.push(export(e)?);
        }
        let (mut imports, mut service_imports) = (Vec::new(), Vec::<ServiceImportConfig>::new());
        for i in block.imports {
            match import(i)? {
                Import::Stream(i) => imports.push(i),
                Import::Service(i) => {
                    if let Some(dup) = service_imports.iter().find(|d| d.local == i.local) {
                        return Err(format!(
                            "Duplicate service import subject {:?}, previously used in import for account {:?}, subject {:?}",
                            i.local, dup.account, dup.subject
                        ));
                    }
                    service_imports.push(i);
                }
            }
        }
        accounts.push(AccountConfig {
            name,
            exports,
            imports,
            service_imports,
            limits: block
                .limits
                .map(LimitsBlock::into_limits)
                .unwrap_or_default(),
        });
    }
    o.accounts = accounts;
    Ok(())
}

fn export(e: ExportEntry) -> Result<Export, String> {
    let (subject, service) = match (e.stream, e.service) {
        (Some(s), None) => (s, false),
        (None, Some(s)) => (s, true),
        (Some(s), Some(_)) => {
            return Err(format!("Detected service {s:?} but already saw a stream"))
        }
        (None, None) => return Err("Export Items should be a map with type entry".into()),
    };
    if !service && (e.response_type.is_some() || e.response_threshold.is_some()) {
        return Err("Detected response directive on non-service".into());
    }
    let response_type = match e.response_type.as_deref().map(str::to_ascii_lowercase) {
        None if service => Some("Singleton"),
        None => None,
        Some(rt) if rt == "singleton" => Some("Singleton"),
        Some(rt) if rt == "stream" => Some("Streamed"),
        Some(rt) if rt == "chunked" => Some("Chunked"),
        Some(_) => {
            let rt = e.response_type.unwrap_or_default();
            return Err(format!("Unknown response type: {rt:?}"));
        }
    };
    if !subject::is_valid_subject(subject.as_bytes()) {
        return Err(format!(
            "Error adding stream export {subject:?}: subject is not valid"
        ));
    }
    Ok(Export {
        subject,
        service,
        accounts: e.accounts,
        response_type: response_type.map(str::to_string),
        response_threshold: e.response_threshold,
    })
}

fn import(i: ImportEntry) -> Result<Import, String> {
    match (i.stream, i.service) {
        (Some(_), Some(_)) => Err("Detected service but already saw a stream".into()),
        (None, None) => Err("Import Items should be a map with type entry".into()),
        (Some(source), None) => {
            if i.prefix.is_some() && i.to.is_some() {
                return Err("Stream import can not have a 'prefix' and a 'to' property".into());
            }
            Ok(Import::Stream(StreamImportConfig {
                account: source.account,
                subject: source.subject,
                prefix: i.prefix,
                to: i.to,
            }))
        }
        // A `prefix` means nothing to a service import; nats-server ignores it too.
        (None, Some(source)) => Ok(Import::Service(ServiceImportConfig {
            local: i.to.unwrap_or_else(|| source.subject.clone()),
            account: source.account,
            subject: source.subject,
            share: i.share,
        })),
    }
}

/// The checks that need every account: what is imported exists and is exported to the
/// importer, prefixes and renames are usable, and no stream flows in a circle. Texts as
/// nats-server's (`Error adding stream import "…": …`).
pub(super) fn check(o: &Options) -> Result<(), String> {
    for account in &o.accounts {
        for i in &account.imports {
            let Some(exporter) = o.accounts.iter().find(|a| a.name == i.account) else {
                return Err(format!(
                    "{:?} account not defined for stream import",
                    i.account
                ));
            };
            let fail = |why: &str| format!("Error adding stream import {:?}: {why}", i.subject);
            if !subject::is_valid_subject(i.subject.as_bytes()) {
                return Err(fail("subject is not valid"));
            }
            let authorized = exporter.exports.iter().any(|e| {
                !e.service
                    && subject::is_subset(i.subject.as_bytes(), e.subject.as_bytes())
                    && e.accounts
                        .as_ref()
                        .is_none_or(|names| names.contains(&account.name))
            });
            if !authorized {
                return Err(fail("stream import not authorized"));
            }
            let same = account
                .imports
                .iter()
                .filter(|j| j.account == i.account && j.subject == i.subject)
                .count();
            if same > 1 {
                return Err(fail("stream import already exists"));
            }
            if let Some(prefix) = &i.prefix {
                if subject::has_wildcard(prefix.as_bytes()) {
                    return Err(fail("stream import prefix can not contain wildcard tokens"));
                }
            }
            if let Some(to) = &i.to {
                Mapping::stream_import(&i.subject, to).map_err(|why| fail(&why))?;
            }
        }
        for e in &account.exports {
            for name in e.accounts.iter().flatten() {
                if !o.accounts.iter().any(|a| &a.name == name) {
                    let kind = if e.service { "service" } else { "stream" };
                    return Err(format!("{name:?} account not defined for {kind} export"));
                }
            }
        }
    }
    if let Some(cycle) = import_cycle(o) {
        return Err(format!(
            "Error adding stream import {cycle:?}: import forms a cycle"
        ));
    }
    for account in &o.accounts {
        for i in &account.service_imports {
            check_service_import(o, account, i)?;
        }
    }
    if let Some(cycle) = service_import_cycle(o) {
        return Err(format!(
            "Error adding service import {cycle:?}: import forms a cycle"
        ));
    }
    Ok(())
}

/// nats-server's rules for one service import of `account`: the exporter exists and exports
/// the subject to it, the subjects are valid and their wildcards pair up.
fn check_service_import(
    o: &Options,
    account: &AccountConfig,
    i: &ServiceImportConfig,
) -> Result<(), String> {
    let Some(exporter) = o.accounts.iter().find(|a| a.name == i.account) else {
        return Err(format!(
            "{:?} account not defined for service import",
            i.account
        ));
    };
    let fail = |why: &str| format!("Error adding service import {:?}: {why}", i.subject);
    if !subject::is_valid_subject(i.subject.as_bytes())
        || !subject::is_valid_subject(i.local.as_bytes())
    {
        return Err(fail("invalid subject"));
    }
    let services = || exporter.exports.iter().filter(|e| e.service);
    let export = services().find(|e| e.subject == i.subject).or_else(|| {
        services().find(|e| subject::is_subset(i.subject.as_bytes(), e.subject.as_bytes()))
    });
    let authorized = export.is_some_and(|e| {
        e.accounts
            .as_ref()
            .is_none_or(|names| names.contains(&account.name))
    });
    if !authorized {
        return Err(fail("service import not authorized"));
    }
    Mapping::service_import(&i.local, &i.subject).map_err(|why| fail(&why))?;
    Ok(())
}

/// A service import through which a request could come back to the account it started in
/// (A's requests go to B, whose imports take them on to A), if there is one.
fn service_import_cycle(o: &Options) -> Option<String> {
    // In account `at`, a request on `subject` goes on through the imports whose local subject
    // it could be; reaching `home` again is a circle.
    fn returns(o: &Options, at: &str, subject: &str, home: &str, depth: usize) -> bool {
        if depth > o.accounts.len() {
            return false;
        }
        o.accounts
            .iter()
            .filter(|a| a.name == at)
            .flat_map(|a| &a.service_imports)
            .filter(|i| subject::collide(subject.as_bytes(), i.local.as_bytes()))
            .any(|i| i.account == home || returns(o, &i.account, &i.subject, home, depth + 1))
    }
    o.accounts.iter().find_map(|a| {
        a.service_imports
            .iter()
            .find(|i| returns(o, &i.account, &i.subject, &a.name, 0))
            .map(|i| i.subject.clone())
    })
}

/// A stream import that is part of a circle of imports (account A takes from B what B
/// takes from A, directly or through others), if there is one.
fn import_cycle(o: &Options) -> Option<String> {
    // Edges importer → exporter; a path back to the start is a circle.
    fn reaches(o: &Options, from: &str, target: &str, depth: usize) -> bool {
        if depth > o.accounts.len() {
            return false;
        }
        o.accounts
            .iter()
            .filter(|a| a.name == from)
            .flat_map(|a| &a.imports)
            .any(|i| i.account == target || reaches(o, &i.account, target, depth + 1))
    }
    o.accounts.iter().find_map(|a| {
        a.imports
            .iter()
            .find(|i| reaches(o, &i.account, &a.name, 0))
            .map(|i| i.subject.clone())
    })
}
