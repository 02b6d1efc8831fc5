//! Service imports: a request published in the importing account on the import's subject is
//! delivered in the exporting account on the export's subject, with a reply subject of the
//! exporter's own (`_R_.<prefix>.<token>`) that maps back to the requester's reply subject,
//! so the response crosses back into the requester's account.
//!
//! A response mapping lasts for one response (`Singleton`, the default), or for as many as
//! come until an empty message ends the stream (`Stream`, `Chunked`); either way it is dropped
//! when nothing arrives within the export's response threshold, or at once when the request
//! reached no one. The exporter's `_R_.<prefix>.>` is booked as route interest, so a
//! responder on another server reaches the server that holds the mapping.
//!
//! A leaf: it knows accounts by handle and subjects as bytes, never the server.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::Rng;

use crate::account::Account;
use crate::mapping::Mapping;

/// How long a response mapping waits for a response (or its next part) unless the export
/// says otherwise: nats-server's default response threshold.
pub const DEFAULT_RESPONSE_THRESHOLD: Duration = Duration::from_secs(120);

/// The header that tells a service which account a request came from; set by the server on
/// every request that crosses a service import (a client's own copy is replaced, so it
/// cannot claim another account).
pub const REQUEST_INFO_HEADER: &[u8] = b"Nats-Request-Info";

/// How many responses a request through a service import may get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseType {
    /// One response.
    Singleton,
    /// Any number, until an empty message or the threshold.
    Stream,
    /// Any number, until an empty message or the threshold (as `Stream`).
    Chunked,
}

impl ResponseType {
    /// The type as `/accountz` names it (`Singleton`, `Streamed`, `Chunked`); `Singleton`
    /// for anything else.
    pub fn from_name(name: Option<&str>) -> ResponseType {
        match name {
            Some("Streamed") => ResponseType::Stream,
            Some("Chunked") => ResponseType::Chunked,
            _ => ResponseType::Singleton,
        }
    }
}

/// One service import, held by the importing account.
pub struct ServiceImport {
    /// The subject requests are published on in the importer (may hold wildcards).
    pub local: Bytes,
    /// The exporter's subject the requests go to.
    pub subject: Bytes,
    /// The exporting account.
    pub exporter: Arc<Account>,
    /// How a published subject becomes the exporter's subject.
    pub mapping: Mapping,
    /// How many responses a request may get (the export's `response_type`).
    pub response_type: ResponseType,
    /// How long a response mapping waits (the export's `response_threshold`).
    pub threshold: Duration,
    /// `share: true`: the service learns who the requester is, not just its account.
    pub share: bool,
}

impl ServiceImport {
    /// Writes the exporter's subject for a request published on `published` into `out`.
    pub fn map_subject(&self, published: &[u8], out: &mut Vec<u8>) {
        self.mapping.apply(published, out);
    }
}

/// Where responses to one request go.
#[derive(Clone)]
pub struct ResponseRoute {
    /// The requester's account.
    pub into: Arc<Account>,
    /// The requester's reply subject.
    pub reply: Bytes,
    /// One response or many.
    pub response_type: ResponseType,
}

struct Pending {
    route: ResponseRoute,
    threshold: Duration,
    expires: Instant,
}

/// The response mappings of one exporting account: reply subjects it handed out, by subject.
pub struct Responses {
    /// `_R_.<six random characters>.`: this server's reply prefix for the account.
    prefix: Bytes,
    pending: Mutex<HashMap<Bytes, Pending>>,
}

/// The characters of reply tokens (nats-server's base 62).
const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn random_token(out: &mut Vec<u8>, len: usize) {
    let mut rng = rand::rng();
    out.extend((0..len).map(|_| DIGITS[rng.random_range(0..DIGITS.len())]));
}

impl Default for Responses {
    fn default() -> Self {
        Responses::new()
    }
}

impl Responses {
    /// An empty map with a fresh random prefix.
    pub fn new() -> Responses {
        let mut prefix = b"_R_.".to_vec();
        random_token(&mut prefix, 6);
        prefix.push(b'.');
        Responses {
            prefix: prefix.into(),
            pending: Mutex::new(HashMap::new()),
        }
    }

    /// The wildcard that covers every reply subject this map hands out (`_R_.<prefix>.>`),
    /// booked as the account's route interest.
    pub fn wildcard(&self) -> Bytes {
        let mut w = self.prefix.to_vec();
        w.push(b'>');
        w.into()
    }

    /// Whether `subject` is one of this map's reply subjects (by its prefix).
    #[inline]
    pub fn covers(&self, subject: &[u8]) -> bool {
        subject.len() > self.prefix.len() && subject.starts_with(&self.prefix)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Bytes, Pending>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands out a new reply subject whose responses go to `route`, for `threshold`.
    pub fn open(&self, route: ResponseRoute, threshold: Duration) -> Bytes {
        let mut subject = self.prefix.to_vec();
        random_token(&mut subject, 6);
        let subject = Bytes::from(subject);
        let expires = Instant::now() + threshold;
        self.lock().insert(
            subject.clone(),
            Pending {
                route,
                threshold,
                expires,
            },
        );
        subject
    }

    /// Where a response on `subject` goes, if the mapping is still there; a singleton's
    /// mapping is used up (so two responders racing deliver one response).
    pub fn claim(&self, subject: &[u8]) -> Option<ResponseRoute> {
        let mut pending = self.lock();
        let route = pending.get(subject)?.route.clone();
        if route.response_type == ResponseType::Singleton {
            pending.remove(subject);
        }
        Some(route)
    }

    /// A response went through on a mapping that stays: it waits a threshold again.
    pub fn extend(&self, subject: &[u8]) {
        if let Some(p) = self.lock().get_mut(subject) {
            p.expires = Instant::now() + p.threshold;
        }
    }

    /// Drops the mapping of `subject` (answered, ended, or undeliverable).
    pub fn close(&self, subject: &[u8]) {
        self.lock().remove(subject);
    }

    /// Drops every mapping that waited past its threshold by `now`; returns how many.
    pub fn sweep(&self, now: Instant) -> usize {
        let mut pending = self.lock();
        let before = pending.len();
        pending.retain(|_, p| p.expires > now);
        before - pending.len()
    }

    /// Mappings waiting for a response.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no mapping waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a service learns of a requester in `Nats-Request-Info`: its account and RTT, and
/// with a sharing import (`share: true`) who it is, as nats-server's `ClientInfo` JSON
/// (same keys, same order, empty ones left out).
#[derive(serde::Serialize, Default)]
pub struct RequestInfo<'a> {
    /// When the connection started (RFC 3339, UTC); sharing only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// The client's address; sharing only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The connection id; sharing only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// The requester's account.
    pub acc: &'a str,
    /// The authorized user.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub user: &'a str,
    /// CONNECT `name`.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub name: &'a str,
    /// CONNECT `lang`.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub lang: &'a str,
    /// CONNECT `version`.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub ver: &'a str,
    /// The connection's RTT in nanoseconds.
    pub rtt: u64,
    /// This server's name; sharing only.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub server: &'a str,
    /// This server's cluster; sharing only.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub cluster: &'a str,
    /// The user JWT; sharing only.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub jwt: &'a str,
    /// The key that signed the user JWT; sharing only.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub issuer_key: &'a str,
    /// The user JWT's name; sharing only.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub name_tag: &'a str,
    /// `Client`; sharing only.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub kind: &'a str,
    /// `nats`; sharing only.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub client_type: &'a str,
}

/// Writes `payload` (headers of `header_size` bytes, then the body) into `out` with the
/// `Nats-Request-Info` header set to `info` (any copy of that header the publisher sent is
/// dropped); returns the new header size.
pub fn with_request_info(
    header_size: Option<usize>,
    payload: &[u8],
    info: &RequestInfo<'_>,
    out: &mut Vec<u8>,
) -> usize {
    const HEADER_LINE: &[u8] = b"NATS/1.0\r\n";
    out.clear();
    let (headers, body) = match header_size {
        Some(h) if h >= 4 && h <= payload.len() => payload.split_at(h),
        _ => (&[][..], payload),
    };
    // The publisher's headers without the final blank line, and without its own copy.
    let kept = headers.strip_suffix(b"\r\n").unwrap_or(headers);
    if kept.len() < HEADER_LINE.len() {
        out.extend_from_slice(HEADER_LINE);
    } else {
        let mut lines = kept.split_inclusive(|b| *b == b'\n');
        if let Some(first) = lines.next() {
            out.extend_from_slice(first);
        }
        for line in lines {
            let is_ours = line.len() > REQUEST_INFO_HEADER.len()
                && line[..REQUEST_INFO_HEADER.len()].eq_ignore_ascii_case(REQUEST_INFO_HEADER)
                && line[REQUEST_INFO_HEADER.len()] == b':';
            if !is_ours {
                out.extend_from_slice(line);
            }
        }
    }
    out.extend_from_slice(REQUEST_INFO_HEADER);
    out.extend_from_slice(b": ");
    if serde_json::to_writer(&mut *out, info).is_err() {
        out.extend_from_slice(b"{}");
    }
    out.extend_from_slice(b"\r\n\r\n");
    let header_size = out.len();
    out.extend_from_slice(body);
    header_size
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_subjects_live_until_closed_or_past_the_threshold() {
        let responses = Responses::new();
        let route = ResponseRoute {
            into: Account::new("B"),
            reply: Bytes::from_static(b"inbox.1"),
            response_type: ResponseType::Stream,
        };
        let short = responses.open(route.clone(), Duration::from_millis(10));
        let long = responses.open(route, Duration::from_secs(60));
        assert_ne!(short, long);
        for s in [&short, &long] {
            assert!(responses.covers(s), "{s:?}");
            assert_eq!(s.len(), 4 + 6 + 1 + 6);
        }
        assert!(!responses.covers(b"_R_.other.x"));
        assert_eq!(
            responses.claim(&short).map(|r| r.reply),
            Some(Bytes::from_static(b"inbox.1"))
        );
        assert_eq!(responses.sweep(Instant::now() + Duration::from_secs(1)), 1);
        assert!(responses.claim(&short).is_none());
        responses.close(&long);
        assert!(responses.is_empty());
        assert!(responses.wildcard().ends_with(b".>"));
    }

    #[test]
    fn requests_carry_the_requesters_account_and_no_forged_copy() {
        let mut out = Vec::new();
        let info = |rtt| RequestInfo {
            acc: "B",
            rtt,
            ..RequestInfo::default()
        };
        let h = with_request_info(None, b"hi", &info(469_481), &mut out);
        assert_eq!(
            &out[..],
            b"NATS/1.0\r\nNats-Request-Info: {\"acc\":\"B\",\"rtt\":469481}\r\n\r\nhi"
        );
        assert_eq!(h, out.len() - 2);
        let forged = b"NATS/1.0\r\nX: 1\r\nNats-Request-Info: {\"acc\":\"SYS\"}\r\n\r\nbody";
        let h = with_request_info(Some(forged.len() - 4), forged, &info(0), &mut out);
        assert_eq!(
            &out[..],
            b"NATS/1.0\r\nX: 1\r\nNats-Request-Info: {\"acc\":\"B\",\"rtt\":0}\r\n\r\nbody"
        );
        assert_eq!(&out[h..], b"body");
    }
}
