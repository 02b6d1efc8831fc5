//! The operator-mode keys: `operator` (a JWT file or an inline JWT), `resolver` and
//! `resolver_preload`. Each value is checked while it is read, so a bad one is reported at
//! its `file:line:col` with nats-server's text; the rules between keys are in
//! [`crate::operator::configure`].

use std::collections::BTreeMap;

use serde::de::{Error, IgnoredAny};
use serde::Deserialize;

use crate::jwt;
use crate::options::Resolver;

/// A value that is a string, or something else (refused with the type nats-server names).
// The contents of the refused variants are never read.
#[allow(dead_code)]
#[derive(Deserialize)]
#[serde(untagged)]
enum Text {
    One(String),
    List(Vec<IgnoredAny>),
    Other(IgnoredAny),
}

/// The JWT in a file's text: the first line that looks like one (files written by `nsc`
/// decorate it with `-----BEGIN …-----` lines), or the whole text trimmed.
fn undecorate(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .find(|l| l.starts_with("eyJ"))
        .unwrap_or_else(|| text.trim())
}

/// Go's wording of the common file errors (`open X: no such file or directory`).
fn open_error(path: &str, e: &std::io::Error) -> String {
    let why = match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    };
    format!("open {path}: {why}")
}

/// `operator: <path or JWT>`: the operator JWT, read from the file (or taken inline when no
/// such file exists and it looks like a JWT) and checked to be an operator's, signed by it.
/// A list is refused as nats-server 2.9.10 refuses it.
pub(super) fn operator_jwt<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    let value = match Text::deserialize(d)? {
        Text::One(v) => v,
        Text::List(_) => {
            return Err(D::Error::custom(
                "error parsing operators: unsupported type []interface {}",
            ))
        }
        Text::Other(_) => {
            return Err(D::Error::custom(
                "error parsing operators: unsupported type",
            ))
        }
    };
    let token = match std::fs::read_to_string(&value) {
        Ok(text) => undecorate(&text).to_string(),
        Err(_) if value.starts_with("eyJ") => value.clone(),
        Err(e) => {
            return Err(D::Error::custom(format!(
                "error parsing operator JWT: {}",
                open_error(&value, &e)
            )))
        }
    };
    jwt::decode_operator(&token)
        .map_err(|e| D::Error::custom(format!("error parsing operator JWT: {e}")))?;
    Ok(Some(token))
}

#[allow(dead_code)]
#[derive(Deserialize)]
#[serde(untagged)]
enum ResolverValue {
    Text(String),
    Map(BTreeMap<String, IgnoredAny>),
    Other(IgnoredAny),
}

/// `resolver: MEMORY` (nats-server matches `MEM` or `MEMORY` anywhere, in any case). A URL
/// resolver or a directory resolver (a map) is refused as not supported (fail closed); any
/// other text gets nats-server's error.
pub(super) fn resolver<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Resolver>, D::Error> {
    const BAD: &str = "error parsing account resolver, should be MEM or  URL(\"url\") or a map containing dir and type state=[FULL|CACHE])";
    match ResolverValue::deserialize(d)? {
        ResolverValue::Text(t) => {
            let upper = t.to_ascii_uppercase();
            if upper.contains("MEM") {
                Ok(Some(Resolver::Memory))
            } else if upper.contains("URL") {
                Err(D::Error::custom(
                    "resolver URL is not supported by this server yet",
                ))
            } else {
                Err(D::Error::custom(BAD))
            }
        }
        ResolverValue::Map(_) => Err(D::Error::custom(
            "resolver with a directory (full or cache) is not supported by this server yet",
        )),
        ResolverValue::Other(_) => Err(D::Error::custom(BAD)),
    }
}

/// One preloaded account JWT, checked to decode as an account's signed by an operator key
/// (whether that operator is trusted is decided at start-up, as in nats-server).
struct PreloadJwt(String);

impl<'de> Deserialize<'de> for PreloadJwt {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Text::One(token) = Text::deserialize(d)? else {
            return Err(D::Error::custom("preload map value should be a string JWT"));
        };
        jwt::decode_account(&token).map_err(|_| D::Error::custom("invalid account JWT"))?;
        Ok(PreloadJwt(token))
    }
}

/// `resolver_preload { <account public key>: <account JWT> }`.
pub(super) fn preload<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    let map = BTreeMap::<String, PreloadJwt>::deserialize(d)?;
    Ok(Some(map.into_iter().map(|(k, v)| (k, v.0)).collect()))
}
