//! Subject mappings of imports: how a subject of one account is named in another. A stream
//! import's `to` and a service import's local subject map positionally: the wildcards of
//! the source subject, in order, fill the wildcards of the destination (`a.*` → `b.*` names
//! `a.x` as `b.x`; `a.>` → `b.>` names `a.x.y` as `b.x.y`), as nats-server's transforms do
//! for these forms.
//!
//! A leaf: subjects as bytes, nothing else.

use bytes::Bytes;
use nats_proto::subject::{self, FULL_WILDCARD, PARTIAL_WILDCARD};

/// How a subject becomes another subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapping {
    /// Always this literal subject.
    Fixed(Bytes),
    /// The subject itself.
    Same,
    /// The destination's tokens, its wildcards filled in order with the tokens the source's
    /// wildcards matched.
    Wildcards(Vec<Part>),
}

/// One token of a mapped subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// This token as written.
    Literal(Bytes),
    /// The mapped subject's token at this position.
    Token(usize),
    /// The mapped subject from this token on.
    Tail(usize),
}

impl Mapping {
    /// The mapping of subjects matching `source` onto `destination`. A literal destination
    /// is fixed; wildcards must pair up (each `*` of the source with a `*` of the
    /// destination, in order, and `>` with `>`), otherwise the error says why in
    /// nats-server's words.
    pub fn new(source: &[u8], destination: &[u8]) -> Result<Mapping, String> {
        if !subject::has_wildcard(source) {
            if subject::has_wildcard(destination) {
                return Err("invalid subject".into());
            }
            return Ok(Mapping::Fixed(Bytes::copy_from_slice(destination)));
        }
        if source == destination {
            return Ok(Mapping::Same);
        }
        let wildcards: Vec<(usize, &[u8])> = subject::tokens(source)
            .enumerate()
            .filter(|(_, t)| *t == PARTIAL_WILDCARD || *t == FULL_WILDCARD)
            .collect();
        let mut next = wildcards.iter();
        let mut parts = Vec::new();
        for token in subject::tokens(destination) {
            if token != PARTIAL_WILDCARD && token != FULL_WILDCARD {
                parts.push(Part::Literal(Bytes::copy_from_slice(token)));
                continue;
            }
            match next.next() {
                Some((position, kind)) if *kind == token => parts.push(if token == FULL_WILDCARD {
                    Part::Tail(*position)
                } else {
                    Part::Token(*position)
                }),
                _ => return Err("invalid subject".into()),
            }
        }
        if next.next().is_some() {
            return Err(format!(
                "invalid mapping destination: not using all of the token wildcard(s) in {}",
                numbered(destination)
            ));
        }
        Ok(Mapping::Wildcards(parts))
    }

    /// How a stream import names the exporter's `subject` in the importer (`to`), or
    /// nats-server's reason for refusing the pair. A literal subject may take any literal
    /// name; a wildcard one maps positionally.
    pub fn stream_import(subject: &str, to: &str) -> Result<Mapping, String> {
        Mapping::new(subject.as_bytes(), to.as_bytes()).map_err(|why| {
            format!("failed to create mapping transform for stream import subject {subject:?} to {to:?}: {why}")
        })
    }

    /// How a request published on `local` in the importer names the exporter's `subject`,
    /// or nats-server's reason for refusing the pair: a literal export subject takes every
    /// request; otherwise the wildcards must pair up (checked from the exporter's side, as
    /// nats-server words it).
    pub fn service_import(local: &str, subject: &str) -> Result<Mapping, String> {
        if !nats_proto::subject::has_wildcard(subject.as_bytes()) {
            return Ok(Mapping::Fixed(Bytes::copy_from_slice(subject.as_bytes())));
        }
        let refused = |why: String| {
            format!("failed to create mapping transform for service import subject {local:?} to {subject:?}: {why}")
        };
        Mapping::new(subject.as_bytes(), local.as_bytes()).map_err(refused)?;
        Mapping::new(local.as_bytes(), subject.as_bytes()).map_err(refused)
    }

    /// Writes what `subject` maps to into `out` (cleared first).
    pub fn apply(&self, subject: &[u8], out: &mut Vec<u8>) {
        out.clear();
        match self {
            Mapping::Fixed(to) => out.extend_from_slice(to),
            Mapping::Same => out.extend_from_slice(subject),
            Mapping::Wildcards(parts) => {
                let tokens = Tokens::of(subject);
                for (i, part) in parts.iter().enumerate() {
                    if i > 0 {
                        out.push(subject::SEPARATOR);
                    }
                    match part {
                        Part::Literal(t) => out.extend_from_slice(t),
                        Part::Token(n) => out.extend_from_slice(tokens.token(*n)),
                        Part::Tail(n) => out.extend_from_slice(tokens.tail(*n)),
                    }
                }
            }
        }
    }
}

/// `destination` with its `*` tokens numbered `$1`, `$2`, … as nats-server shows it.
fn numbered(destination: &[u8]) -> String {
    let mut n = 0;
    let tokens: Vec<String> = subject::tokens(destination)
        .map(|t| {
            if t == PARTIAL_WILDCARD {
                n += 1;
                format!("${n}")
            } else {
                String::from_utf8_lossy(t).into_owned()
            }
        })
        .collect();
    tokens.join(".")
}

/// Where each token of a subject starts and ends, without allocating (up to 32 tokens;
/// subjects with more do not match mappings with wildcards further out).
struct Tokens<'a> {
    subject: &'a [u8],
    bounds: [(usize, usize); 32],
    len: usize,
}

impl<'a> Tokens<'a> {
    fn of(subject: &'a [u8]) -> Tokens<'a> {
        let mut t = Tokens {
            subject,
            bounds: [(0, 0); 32],
            len: 0,
        };
        let mut start = 0;
        let ends = subject
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == subject::SEPARATOR)
            .map(|(i, _)| i)
            .chain([subject.len()]);
        for end in ends {
            if t.len < t.bounds.len() {
                t.bounds[t.len] = (start, end);
                t.len += 1;
            }
            start = end + 1;
        }
        t
    }

    /// Token `n` (empty past the end).
    fn token(&self, n: usize) -> &'a [u8] {
        match self.bounds[..self.len].get(n) {
            Some((s, e)) => &self.subject[*s..*e],
            None => &[],
        }
    }

    /// The subject from token `n` on (empty past the end).
    fn tail(&self, n: usize) -> &'a [u8] {
        match self.bounds[..self.len].get(n) {
            Some((s, _)) => &self.subject[*s..],
            None => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapped(source: &str, destination: &str, subject: &str) -> Result<String, String> {
        let mapping = Mapping::new(source.as_bytes(), destination.as_bytes())?;
        let mut out = Vec::new();
        mapping.apply(subject.as_bytes(), &mut out);
        Ok(String::from_utf8(out).expect("utf-8"))
    }

    #[test]
    fn subjects_map_positionally_onto_the_destination() {
        assert_eq!(
            mapped("local.req", "svc.req", "local.req").as_deref(),
            Ok("svc.req")
        );
        assert_eq!(
            mapped("svc.>", "svc.>", "svc.a.b").as_deref(),
            Ok("svc.a.b")
        );
        assert_eq!(mapped("loc.*", "svc.*", "loc.x").as_deref(), Ok("svc.x"));
        assert_eq!(
            mapped("loc.*.q.>", "svc.*.>", "loc.x.q.y.z").as_deref(),
            Ok("svc.x.y.z")
        );
        assert_eq!(mapped("x.>", "y.>", "x.r.s").as_deref(), Ok("y.r.s"));
        assert_eq!(mapped("a.b", "one", "a.b").as_deref(), Ok("one"));
    }

    #[test]
    fn imports_map_as_nats_server_maps_them() {
        let mut out = Vec::new();
        let service = Mapping::service_import("loc.*", "svc.*").expect("pairs");
        service.apply(b"loc.x", &mut out);
        assert_eq!(out, b"svc.x");
        // A literal export subject takes requests on any local subject.
        let service = Mapping::service_import("loc.*", "svc.req").expect("literal");
        service.apply(b"loc.x", &mut out);
        assert_eq!(out, b"svc.req");
        assert_eq!(
            Mapping::service_import("one", "a.*"),
            Err("failed to create mapping transform for service import subject \"one\" to \"a.*\": invalid mapping destination: not using all of the token wildcard(s) in one".into())
        );
        assert_eq!(
            Mapping::stream_import("a.*", "one"),
            Err("failed to create mapping transform for stream import subject \"a.*\" to \"one\": invalid mapping destination: not using all of the token wildcard(s) in one".into())
        );
        assert!(Mapping::stream_import("a.b", "one").is_ok());
    }

    #[test]
    fn wildcards_that_do_not_pair_up_are_refused_in_nats_servers_words() {
        assert_eq!(mapped("a.*", "b.>", "a.x"), Err("invalid subject".into()));
        assert_eq!(mapped("a.*", "b.*.*", "a.x"), Err("invalid subject".into()));
        assert_eq!(
            mapped("a.*.*", "b.*", "a.x.y"),
            Err(
                "invalid mapping destination: not using all of the token wildcard(s) in b.$1"
                    .into()
            )
        );
    }
}
