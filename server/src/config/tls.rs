//! The `tls {}` block (top level and in `cluster {}`), read key by key so errors carry
//! nats-server's wording at the offending key or value.

use std::time::Duration;

use serde::Deserialize;

use super::conf;
use super::RawDuration;
use crate::options::TlsOptions;

/// The keys nats-server 2.9.10 accepts in a `tls {}` block.
const TLS_KEYS: &[&str] = &[
    "cert_file",
    "key_file",
    "ca_file",
    "verify",
    "verify_and_map",
    "verify_cert_and_check_known_urls",
    "cipher_suites",
    "curve_preferences",
    "insecure",
    "pinned_certs",
    "timeout",
    "connection_rate_limit",
];

/// A `tls {}` block (top level or in `cluster {}`). Read by hand rather than derived so that
/// errors carry nats-server's wording (`error parsing tls config, unknown field ["x"]`) at
/// the offending key or value; the certificate files are loaded here too, as nats-server
/// does while parsing, so `-t` catches a bad certificate.
#[derive(Debug)]
pub(super) struct TlsBlock(pub(super) TlsOptions, pub(super) Vec<&'static str>);

impl<'de> Deserialize<'de> for TlsBlock {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_struct("tls", TLS_KEYS, TlsVisitor { cluster: false })
    }
}

/// The `tls {}` block of `cluster {}`: the same keys, but `verify_and_map` would map a
/// route's certificate to the cluster's `authorization` user, which is not implemented, so
/// it is refused at its value (the client block accepts it).
#[derive(Debug)]
pub(super) struct ClusterTlsBlock(pub(super) TlsBlock);

impl<'de> Deserialize<'de> for ClusterTlsBlock {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_struct("tls", TLS_KEYS, TlsVisitor { cluster: true })
            .map(ClusterTlsBlock)
    }
}

/// A key of a `tls {}` block. Unknown keys fail while the key is read, so the error points
/// at the key.
struct TlsKey(String);

impl<'de> Deserialize<'de> for TlsKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let key = String::deserialize(d)?;
        if TLS_KEYS.contains(&key.as_str()) {
            Ok(TlsKey(key))
        } else {
            Err(serde::de::Error::custom(format!(
                "error parsing tls config, unknown field [{key:?}]"
            )))
        }
    }
}

/// Any value of a `tls {}` key; [`TlsFields::set`] checks its type.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum TlsValue {
    Bool(bool),
    Number(f64),
    Text(String),
    List(Vec<String>),
    Other(serde::de::IgnoredAny),
}

/// The `tls {}` keys read so far.
#[derive(Debug, Default)]
struct TlsFields {
    cert_file: Option<String>,
    key_file: Option<String>,
    ca_file: Option<String>,
    verify: bool,
    map: bool,
    insecure: bool,
    timeout: Option<Duration>,
    /// The block is `cluster { tls {} }` (see [`ClusterTlsBlock`]).
    cluster: bool,
    /// Keys accepted without effect (warned about at start-up).
    ignored: Vec<&'static str>,
}

impl TlsFields {
    fn set(&mut self, key: &str, value: TlsValue) -> Result<(), String> {
        let wrong = |what: &str| format!("error parsing tls config, expected '{key}' to be {what}");
        let file = |v: TlsValue| match v {
            TlsValue::Text(s) => Ok(s),
            _ => Err(wrong("filename")),
        };
        let flag = |v: TlsValue| match v {
            TlsValue::Bool(b) => Ok(b),
            _ => Err(wrong("a boolean")),
        };
        let unsupported = || format!("tls: '{key}' is not supported by this server yet");
        match key {
            "cert_file" => self.cert_file = Some(file(value)?),
            "key_file" => self.key_file = Some(file(value)?),
            "ca_file" => self.ca_file = Some(file(value)?),
            "verify" => self.verify = flag(value)?,
            "insecure" => self.insecure = flag(value)?,
            // As nats-server: `true` also turns `verify` on, `false` leaves `verify` alone.
            "verify_and_map" => {
                let map = flag(value)?;
                if map && self.cluster {
                    // Route certificates mapped to the cluster user: not implemented, and
                    // accepting it would admit routes nats-server refuses.
                    return Err(unsupported());
                }
                self.verify |= map;
                self.map = map;
            }
            // Checking route certificates against the known route URLs changes which routes
            // may connect; refusing it beats accepting routes nats-server would reject.
            "verify_cert_and_check_known_urls" => {
                if flag(value)? {
                    return Err(if self.cluster {
                        unsupported()
                    } else {
                        format!("{key} not supported in this context")
                    });
                }
            }
            "pinned_certs" => match value {
                TlsValue::List(pins) if pins.is_empty() => {}
                TlsValue::List(_) => return Err(unsupported()),
                _ => return Err(wrong("an array")),
            },
            // rustls offers only modern suites and curves and picks among them itself, so
            // these lists are checked like nats-server does and otherwise not used.
            "cipher_suites" | "curve_preferences" => match value {
                TlsValue::List(list) if list.is_empty() => {
                    return Err(format!("error parsing tls config, '{key}' cannot be empty"))
                }
                TlsValue::List(_) => {}
                _ => return Err(wrong("an array")),
            },
            "timeout" => {
                self.timeout = Some(match value {
                    TlsValue::Number(secs) if secs >= 0.0 => RawDuration::Seconds(secs)
                        .get()
                        .map_err(|e| format!("error parsing tls config, 'timeout' {e}"))?,
                    TlsValue::Text(t) => conf::parse_duration(&t).ok_or_else(|| {
                        format!("error parsing tls config, 'timeout' time: invalid duration {t:?}")
                    })?,
                    _ => return Err(wrong("a number or a duration")),
                })
            }
            // Not enforced (no accept rate limiting yet): it limits how fast clients may
            // connect, not who may, so it is only warned about.
            "connection_rate_limit" => match value {
                TlsValue::Number(_) => self.ignored.push("tls connection_rate_limit"),
                _ => return Err(wrong("a number")),
            },
            other => {
                return Err(format!(
                    "error parsing tls config, unknown field [{other:?}]"
                ))
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<TlsBlock, String> {
        let cert_file = self
            .cert_file
            .ok_or("missing 'cert_file' in TLS configuration")?;
        let key_file = self
            .key_file
            .ok_or("missing 'key_file' in TLS configuration")?;
        let tls = TlsOptions {
            ca_file: self.ca_file.map(Into::into),
            verify: self.verify,
            map: self.map,
            insecure: self.insecure,
            timeout: self.timeout.unwrap_or(TlsOptions::DEFAULT_TIMEOUT),
            ..TlsOptions::new(cert_file.into(), key_file.into())
        };
        crate::tls::check(&tls)?;
        Ok(TlsBlock(tls, self.ignored))
    }
}

/// Reads one value into [`TlsFields`]; a wrong type is reported at the value.
struct TlsEntry<'a> {
    key: &'a str,
    fields: &'a mut TlsFields,
}

impl<'de> serde::de::DeserializeSeed<'de> for TlsEntry<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let value = TlsValue::deserialize(d)?;
        self.fields
            .set(self.key, value)
            .map_err(serde::de::Error::custom)
    }
}

struct TlsVisitor {
    cluster: bool,
}

impl<'de> serde::de::Visitor<'de> for TlsVisitor {
    type Value = TlsBlock;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a map of TLS settings")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<TlsBlock, A::Error> {
        let mut fields = TlsFields {
            cluster: self.cluster,
            ..TlsFields::default()
        };
        while let Some(TlsKey(key)) = map.next_key()? {
            map.next_value_seed(TlsEntry {
                key: &key,
                fields: &mut fields,
            })?;
        }
        fields.finish().map_err(serde::de::Error::custom)
    }
}
