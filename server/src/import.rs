//! Stream imports, as nats-server implements them: a subscription in the importing account
//! whose subject overlaps an import gets a *shadow* subscription in the exporter, on the
//! exporter's name for those subjects and in the same queue group. What the exporter
//! publishes then reaches the importer's subscriber through the exporter's own index (no
//! per-message look-up of imports), under the importer's name for the subject, and the
//! shadow's interest goes to the routes as the exporter's, so a queue group of the importer
//! gets each message once in the whole cluster, mixed with nats-servers or not.
//!
//! A leaf: subjects, mappings and account handles.

use std::sync::Arc;

use bytes::Bytes;
use nats_proto::subject;

use crate::account::Account;
use crate::mapping::Mapping;

/// A stream this account takes from another.
pub struct StreamImport {
    /// The exporting account.
    pub from: Arc<Account>,
    /// The exporter's subjects taken (the import's subject, within the export).
    pub subject: Bytes,
    /// The same subjects as the importer names them.
    pub local: Bytes,
    /// How an exporter's subject is named in the importer.
    pub rename: Rename,
    /// How an importer's subject within `local` is named in the exporter.
    reverse: Reverse,
}

/// How an imported stream's subjects are named in the importing account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rename {
    /// As in the exporter.
    Keep,
    /// `prefix.` + the subject.
    Prefix(Bytes),
    /// `to:`: a literal name, or the subject mapped positionally (`a.*` → `b.*`).
    To(Mapping),
}

impl Rename {
    /// Writes the importer's name of `subject` into `out` (cleared first).
    pub fn apply(&self, subject: &[u8], out: &mut Vec<u8>) {
        out.clear();
        match self {
            Rename::Keep => out.extend_from_slice(subject),
            Rename::Prefix(p) => {
                out.extend_from_slice(p);
                out.push(b'.');
                out.extend_from_slice(subject);
            }
            Rename::To(mapping) => mapping.apply(subject, out),
        }
    }
}

/// The way back from the importer's names to the exporter's.
enum Reverse {
    /// Strip this many leading bytes (`prefix.`).
    Strip(usize),
    /// Map (the same subject, a fixed one, or positionally).
    Map(Mapping),
}

impl StreamImport {
    /// The import of `subject` from `from`, named in the importer by `rename`.
    pub fn new(from: Arc<Account>, subject: &str, rename: Rename) -> StreamImport {
        let mut local = Vec::new();
        rename.apply(subject.as_bytes(), &mut local);
        let reverse = match &rename {
            Rename::Keep | Rename::To(Mapping::Same) => Reverse::Map(Mapping::Same),
            Rename::Prefix(p) => Reverse::Strip(p.len() + 1),
            Rename::To(Mapping::Fixed(_)) => {
                Reverse::Map(Mapping::Fixed(Bytes::copy_from_slice(subject.as_bytes())))
            }
            Rename::To(Mapping::Wildcards(_)) => {
                Reverse::Map(Mapping::new(&local, subject.as_bytes()).unwrap_or(Mapping::Same))
            }
        };
        StreamImport {
            from,
            subject: Bytes::copy_from_slice(subject.as_bytes()),
            local: local.into(),
            rename,
            reverse,
        }
    }

    /// The exporter's subject filter of a shadow for an importer's subscription on
    /// `filter`, if the filter takes any of the import: the filter itself under the
    /// exporter's name when it lies within the import, the whole import otherwise.
    pub fn shadow_subject(&self, filter: &[u8]) -> Option<Bytes> {
        if !subject::collide(filter, &self.local) {
            return None;
        }
        if !subject::is_subset(filter, &self.local) {
            return Some(self.subject.clone());
        }
        Some(match &self.reverse {
            Reverse::Strip(n) => Bytes::copy_from_slice(filter.get(*n..).unwrap_or_default()),
            Reverse::Map(mapping) => {
                let mut out = Vec::new();
                mapping.apply(filter, &mut out);
                out.into()
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn import(subject: &str, rename: Rename) -> StreamImport {
        StreamImport::new(Account::new("A"), subject, rename)
    }

    #[test]
    fn renames_name_imported_subjects_in_the_importer() {
        let mut out = Vec::new();
        Rename::Keep.apply(b"a.b", &mut out);
        assert_eq!(out, b"a.b");
        Rename::Prefix(Bytes::from_static(b"p")).apply(b"a.b", &mut out);
        assert_eq!(out, b"p.a.b");
        Rename::To(Mapping::Fixed(Bytes::from_static(b"local"))).apply(b"a.b", &mut out);
        assert_eq!(out, b"local");
        let wildcards = Mapping::stream_import("a.*", "b.*").expect("pairs");
        Rename::To(wildcards).apply(b"a.x", &mut out);
        assert_eq!(out, b"b.x");
    }

    #[test]
    fn importer_filters_shadow_the_exporters_subjects() {
        let shadow = |i: &StreamImport, f: &str| {
            i.shadow_subject(f.as_bytes())
                .map(|b| String::from_utf8_lossy(&b).into_owned())
        };
        let keep = import("pub.>", Rename::Keep);
        assert_eq!(shadow(&keep, "pub.x").as_deref(), Some("pub.x"));
        assert_eq!(shadow(&keep, ">").as_deref(), Some("pub.>"));
        assert_eq!(shadow(&keep, "other"), None);
        let prefixed = import("pub.*", Rename::Prefix(Bytes::from_static(b"from_a")));
        assert_eq!(&prefixed.local[..], b"from_a.pub.*");
        assert_eq!(
            shadow(&prefixed, "from_a.pub.one").as_deref(),
            Some("pub.one")
        );
        assert_eq!(shadow(&prefixed, "from_a.>").as_deref(), Some("pub.*"));
        assert_eq!(shadow(&prefixed, "pub.one"), None);
        let fixed = import(
            "pub.one",
            Rename::To(Mapping::Fixed(Bytes::from_static(b"one"))),
        );
        assert_eq!(shadow(&fixed, "one").as_deref(), Some("pub.one"));
        assert_eq!(shadow(&fixed, "*").as_deref(), Some("pub.one"));
        let mapped = import(
            "a.*",
            Rename::To(Mapping::stream_import("a.*", "b.*").expect("pairs")),
        );
        assert_eq!(shadow(&mapped, "b.q").as_deref(), Some("a.q"));
        assert_eq!(shadow(&mapped, "b.*").as_deref(), Some("a.*"));
        assert_eq!(shadow(&mapped, "c.q"), None);
    }
}
