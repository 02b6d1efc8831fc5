//! What a client certificate says about who the client is, for `tls { verify_and_map: true }`.
//!
//! nats-server 2.9.10 tries, in this order, the names of the verified leaf certificate as user
//! names (`auth.go`, `checkClientTLSCertSubject`):
//!
//! 1. each SAN e-mail address, then each SAN DNS name, then each SAN URI, looked up literally
//!    (case-sensitive, no wildcard rules);
//! 2. the subject as a distinguished name ([`Dn`]): equal RDN by RDN to a user name that parses
//!    as a DN (attribute types without case, values exactly), else the same RDNs in any order.
//!    Only when every attribute of the subject is one of CN, SERIALNUMBER, C, L, ST, STREET, O,
//!    OU, POSTALCODE or DC, with a string value;
//! 3. when the subject has DC attributes, the Go rendering of the subject (below) with
//!    `,DC=…` for each DC in certificate order appended, looked up literally;
//! 4. the Go rendering of the subject alone, looked up literally.
//!
//! The "Go rendering" is `pkix.Name.ToRDNSequence().String()`: the standard attributes only
//! (CN, SERIALNUMBER, C, L, ST, STREET, O, OU, POSTALCODE; DC, e-mail and the rest dropped),
//! regrouped by type in a fixed order and printed most specific first:
//! `SERIALNUMBER=…,CN=…,OU=…,O=…,POSTALCODE=…,STREET=…,L=…,ST=…,C=…`, several values of one
//! type joined with `+` (`OU=a+OU=b`), only the last CN kept, and `,+"\<>;` escaped with a
//! backslash (a space only first or last, `#` only first).
//!
//! A certificate with no e-mail address, no URI and an empty subject maps to nobody, even with
//! DNS names (nats-server's rule). A leaf module: parsing only, the user lookup is in `auth`.

use x509_parser::asn1_rs::Tag;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// One attribute of a distinguished name: its type (`CN`, `O`, …) and value.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Attribute {
    kind: String,
    value: String,
}

impl Attribute {
    /// RFC 4517 distinguishedNameMatch for one attribute, as nats-server applies it: the type
    /// without case, the value exactly.
    fn matches(&self, other: &Attribute) -> bool {
        self.kind.eq_ignore_ascii_case(&other.kind) && self.value == other.value
    }
}

/// A relative distinguished name: one or more attributes (`CN=a+UID=b`), order not significant.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rdn(Vec<Attribute>);

impl Rdn {
    fn contains_all(&self, attrs: &[Attribute]) -> bool {
        attrs
            .iter()
            .all(|a| self.0.iter().any(|mine| mine.matches(a)))
    }

    fn matches(&self, other: &Rdn) -> bool {
        self.0.len() == other.0.len() && self.contains_all(&other.0) && other.contains_all(&self.0)
    }
}

/// A distinguished name, most specific RDN first (`CN=bob,O=Acme,C=US`): a user name parsed
/// with [`Dn::parse`], or a certificate subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dn(Vec<Rdn>);

impl Dn {
    /// Parses an RFC 4514 string the way nats-server's bundled LDAP parser does: `,` between
    /// RDNs, `+` between the attributes of one, `\` escaping a special character or two hex
    /// digits, unescaped spaces around types and values dropped. `None` for what that parser
    /// refuses (a value without a type, a BER `#…` value, a bad escape): such a user name is
    /// never compared as a DN.
    pub fn parse(text: &str) -> Option<Dn> {
        let bytes = text.as_bytes();
        let mut rdns = Vec::new();
        let mut rdn = Vec::new();
        let mut kind = String::new();
        let mut buffer: Vec<u8> = Vec::new();
        // Unescaped spaces at the end of `buffer`, dropped when the buffer is taken.
        let mut trailing = 0usize;
        let take = |buffer: &mut Vec<u8>, trailing: &mut usize| {
            let keep = buffer.len() - *trailing;
            let s = String::from_utf8_lossy(&buffer[..keep]).into_owned();
            buffer.clear();
            *trailing = 0;
            s
        };
        let mut i = 0;
        while i < bytes.len() {
            let c = bytes[i];
            match c {
                b'\\' => {
                    trailing = 0;
                    let next = *bytes.get(i + 1)?;
                    if b" \"#+,;<=>\\".contains(&next) {
                        buffer.push(next);
                        i += 1;
                    } else {
                        let hex = bytes.get(i + 1..i + 3)?;
                        let hex = std::str::from_utf8(hex).ok()?;
                        buffer.push(u8::from_str_radix(hex, 16).ok()?);
                        i += 2;
                    }
                }
                b'=' => {
                    kind = take(&mut buffer, &mut trailing);
                    if bytes.get(i + 1) == Some(&b'#') {
                        return None;
                    }
                }
                b',' | b'+' => {
                    if kind.is_empty() {
                        return None;
                    }
                    let value = take(&mut buffer, &mut trailing);
                    rdn.push(Attribute {
                        kind: std::mem::take(&mut kind),
                        value,
                    });
                    if c == b',' {
                        rdns.push(Rdn(std::mem::take(&mut rdn)));
                    }
                }
                b' ' if buffer.is_empty() => {}
                _ => {
                    if c == b' ' {
                        trailing += 1;
                    } else {
                        trailing = 0;
                    }
                    buffer.push(c);
                }
            }
            i += 1;
        }
        if !buffer.is_empty() {
            if kind.is_empty() {
                return None;
            }
            let value = take(&mut buffer, &mut trailing);
            rdn.push(Attribute { kind, value });
            rdns.push(Rdn(rdn));
        }
        Some(Dn(rdns))
    }

    /// The same RDNs in the same order.
    pub fn equals(&self, other: &Dn) -> bool {
        self.0.len() == other.0.len() && self.0.iter().zip(&other.0).all(|(a, b)| a.matches(b))
    }

    /// The same RDNs in any order (nats-server's second chance for a reordered DN).
    pub fn same_rdns(&self, other: &Dn) -> bool {
        self.0.len() == other.0.len()
            && self
                .0
                .iter()
                .all(|mine| other.0.iter().any(|theirs| mine.matches(theirs)))
    }
}

/// The names of a client certificate nats-server tries as user names, in its order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertIdentity {
    /// SAN e-mail addresses (rfc822Name).
    pub emails: Vec<String>,
    /// SAN DNS names.
    pub dns_names: Vec<String>,
    /// SAN URIs.
    pub uris: Vec<String>,
    /// The subject as a DN, when all its attributes are ones nats-server's DN code knows.
    pub subject: Option<Dn>,
    /// The subject with its DC attributes (`CN=…,O=…,DC=…`), when it has any.
    pub subject_with_dcs: Option<String>,
    /// The subject as Go prints it (`CN=…,OU=…,O=…,L=…,ST=…,C=…`).
    pub subject_string: String,
    /// Whether the subject has anything in it: without it, an e-mail address or a URI, the
    /// certificate maps to nobody.
    pub has_subject: bool,
}

const OID_CN: &str = "2.5.4.3";
const OID_SERIAL: &str = "2.5.4.5";
const OID_C: &str = "2.5.4.6";
const OID_L: &str = "2.5.4.7";
const OID_ST: &str = "2.5.4.8";
const OID_STREET: &str = "2.5.4.9";
const OID_O: &str = "2.5.4.10";
const OID_OU: &str = "2.5.4.11";
const OID_POSTALCODE: &str = "2.5.4.17";
const OID_DC: &str = "0.9.2342.19200300.100.1.25";

/// The short name nats-server's DN code gives an attribute type.
fn dn_type_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        OID_CN => "CN",
        OID_SERIAL => "SERIALNUMBER",
        OID_C => "C",
        OID_L => "L",
        OID_ST => "ST",
        OID_STREET => "STREET",
        OID_O => "O",
        OID_OU => "OU",
        OID_POSTALCODE => "POSTALCODE",
        OID_DC => "DC",
        _ => return None,
    })
}

/// An attribute value as Go's ASN.1 decoder makes it a string: the string types it knows
/// (UTF-8, Printable, IA5, Numeric, T61 as raw bytes, BMP as UTF-16); `None` for others.
fn string_value(tag: Tag, data: &[u8]) -> Option<String> {
    match tag {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::NumericString => {
            std::str::from_utf8(data).ok().map(str::to_string)
        }
        Tag::T61String => Some(String::from_utf8_lossy(data).into_owned()),
        Tag::BmpString => {
            if data.len() % 2 != 0 {
                return None;
            }
            let units = data
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]));
            char::decode_utf16(units)
                .collect::<Result<String, _>>()
                .ok()
        }
        _ => None,
    }
}

/// Escapes one value the way Go's `RDNSequence.String` does.
fn go_escape(value: &str, out: &mut String) {
    let last = value.len().saturating_sub(1);
    for (k, c) in value.char_indices() {
        let escape = match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => true,
            ' ' => k == 0 || k == last,
            '#' => k == 0,
            _ => false,
        };
        if escape {
            out.push('\\');
        }
        out.push(c);
    }
}

impl CertIdentity {
    /// Reads the names of a DER certificate (the verified leaf of a client).
    pub fn from_der(der: &[u8]) -> Result<CertIdentity, String> {
        let (_, cert) = X509Certificate::from_der(der)
            .map_err(|e| format!("x509: malformed certificate: {e}"))?;
        let mut id = CertIdentity::default();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::RFC822Name(s) => id.emails.push(s.to_string()),
                    GeneralName::DNSName(s) => id.dns_names.push(s.to_string()),
                    GeneralName::URI(s) => id.uris.push(s.to_string()),
                    _ => {}
                }
            }
        }

        // The subject RDN by RDN, in certificate order (least specific first).
        let mut raw: Vec<Vec<(String, Option<String>)>> = Vec::new();
        for rdn in cert.subject().iter() {
            let attrs: Vec<_> = rdn
                .iter()
                .map(|atv| {
                    let value = atv.attr_value();
                    (
                        atv.attr_type().to_id_string(),
                        string_value(value.tag(), value.data),
                    )
                })
                .collect();
            if !attrs.is_empty() {
                raw.push(attrs);
            }
        }

        // The DN for distinguishedNameMatch: most specific RDN first, the attributes of each
        // RDN in reverse too (as nats-server builds it).
        let mut dn = Some(Vec::new());
        for attrs in raw.iter().rev() {
            let rdn = attrs
                .iter()
                .rev()
                .map(|(oid, value)| {
                    Some(Attribute {
                        kind: dn_type_name(oid)?.to_string(),
                        value: value.clone()?,
                    })
                })
                .collect::<Option<Vec<_>>>();
            match (rdn, dn.as_mut()) {
                (Some(rdn), Some(dn)) => dn.push(Rdn(rdn)),
                _ => dn = None,
            }
        }
        id.subject = dn.map(Dn);

        // Go's pkix.Name: the standard attributes with string values, grouped by type.
        let mut groups: [Vec<String>; 7] = Default::default();
        let (mut cn, mut serial) = (String::new(), String::new());
        let mut non_standard = false;
        let mut dcs = Vec::new();
        for (oid, value) in raw.iter().flatten() {
            let slot = match oid.as_str() {
                OID_C => Some(0),
                OID_ST => Some(1),
                OID_L => Some(2),
                OID_STREET => Some(3),
                OID_POSTALCODE => Some(4),
                OID_O => Some(5),
                OID_OU => Some(6),
                OID_CN | OID_SERIAL => None,
                _ => {
                    non_standard = true;
                    if let (OID_DC, Some(v)) = (oid.as_str(), value) {
                        dcs.push(format!("DC={v}"));
                    }
                    continue;
                }
            };
            let Some(value) = value else {
                continue;
            };
            match (slot, oid.as_str()) {
                (Some(i), _) => groups[i].push(value.clone()),
                (None, OID_CN) => cn = value.clone(),
                _ => serial = value.clone(),
            }
        }
        const NAMES: [&str; 7] = ["C", "ST", "L", "STREET", "POSTALCODE", "O", "OU"];
        let mut sequence: Vec<Vec<(&str, &str)>> = Vec::new();
        for (name, values) in NAMES.iter().zip(&groups) {
            if !values.is_empty() {
                sequence.push(values.iter().map(|v| (*name, v.as_str())).collect());
            }
        }
        if !cn.is_empty() {
            sequence.push(vec![("CN", cn.as_str())]);
        }
        if !serial.is_empty() {
            sequence.push(vec![("SERIALNUMBER", serial.as_str())]);
        }
        let mut text = String::new();
        for (i, rdn) in sequence.iter().rev().enumerate() {
            if i > 0 {
                text.push(',');
            }
            for (j, (name, value)) in rdn.iter().enumerate() {
                if j > 0 {
                    text.push('+');
                }
                text.push_str(name);
                text.push('=');
                go_escape(value, &mut text);
            }
        }
        id.has_subject = !text.is_empty() || non_standard;
        if !dcs.is_empty() {
            id.subject_with_dcs = Some(format!("{text},{}", dcs.join(",")));
        }
        id.subject_string = text;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dn(text: &str) -> Dn {
        Dn::parse(text).unwrap_or_else(|| panic!("{text:?} parses"))
    }

    #[test]
    fn distinguished_names_parse_like_nats_server() {
        assert_eq!(
            dn("CN=bob, O=Acme ,C=US"),
            dn("CN=bob,O=Acme,C=US"),
            "spaces around types and values are dropped"
        );
        assert!(dn("cn=bob,o=Acme").equals(&dn("CN=bob,O=Acme")));
        assert!(!dn("CN=Bob,O=Acme").equals(&dn("CN=bob,O=Acme")));
        assert!(dn("CN=a\\,b,O=x").equals(&dn("CN=a\\2cb,O=x")));
        assert!(dn("CN=a+UID=1,O=x").equals(&dn("UID=1+CN=a,O=x")));
        assert!(!dn("CN=a,O=x").equals(&dn("O=x,CN=a")));
        assert!(dn("CN=a,O=x").same_rdns(&dn("O=x,CN=a")));
        assert!(!dn("CN=a,O=x").same_rdns(&dn("O=x,CN=a,C=US")));
        assert_eq!(Dn::parse("alice"), None);
        assert_eq!(Dn::parse("a@b.c"), None);
        assert_eq!(Dn::parse("CN=#01"), None);
        assert_eq!(Dn::parse("CN=a\\"), None);
        assert_eq!(Dn::parse("CN=a\\zz"), None);
        assert_eq!(Dn::parse(""), Some(Dn(Vec::new())));
    }

    #[test]
    fn values_are_escaped_like_go() {
        let mut out = String::new();
        go_escape(" a,b+c#d ", &mut out);
        assert_eq!(out, "\\ a\\,b\\+c#d\\ ");
        out.clear();
        go_escape("#x", &mut out);
        assert_eq!(out, "\\#x");
    }

    fn certificate(dn: &[(rcgen::DnType, &str)], sans: Vec<rcgen::SanType>) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        for (kind, value) in dn {
            params.distinguished_name.push(kind.clone(), *value);
        }
        params.subject_alt_names = sans;
        let key = rcgen::KeyPair::generate().expect("key");
        params
            .self_signed(&key)
            .expect("certificate")
            .der()
            .to_vec()
    }

    #[test]
    fn a_subject_is_rendered_like_go_and_read_as_a_dn() {
        use rcgen::DnType::*;
        let dc = CustomDnType(vec![0, 9, 2342, 19200300, 100, 1, 25]);
        let email = CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]);
        // Certificate order CN first: Go regroups, the DN keeps it (reversed).
        let der = certificate(
            &[
                (CommonName, "carol"),
                (OrganizationName, "Acme, Inc"),
                (CountryName, "US"),
                (OrganizationalUnitName, "Eng"),
                (dc.clone(), "example"),
            ],
            vec![
                rcgen::SanType::Rfc822Name("c@example.com".try_into().expect("ia5")),
                rcgen::SanType::DnsName("carol.example.com".try_into().expect("ia5")),
                rcgen::SanType::URI("spiffe://example/carol".try_into().expect("ia5")),
            ],
        );
        let id = CertIdentity::from_der(&der).expect("parses");
        assert_eq!(id.emails, ["c@example.com"]);
        assert_eq!(id.dns_names, ["carol.example.com"]);
        assert_eq!(id.uris, ["spiffe://example/carol"]);
        assert_eq!(id.subject_string, "CN=carol,OU=Eng,O=Acme\\, Inc,C=US");
        assert_eq!(
            id.subject_with_dcs.as_deref(),
            Some("CN=carol,OU=Eng,O=Acme\\, Inc,C=US,DC=example")
        );
        assert!(id.has_subject);
        let subject = id.subject.expect("a DN");
        assert!(subject.equals(&dn("DC=example,OU=Eng,C=US,O=Acme\\, Inc,CN=carol")));
        assert!(subject.same_rdns(&dn("CN=carol,OU=Eng,O=Acme\\, Inc,C=US,DC=example")));

        // An attribute nats-server's DN code does not know: no DN, the Go rendering drops it.
        let der = certificate(&[(CommonName, "gina"), (email, "g@example.com")], vec![]);
        let id = CertIdentity::from_der(&der).expect("parses");
        assert_eq!(id.subject, None);
        assert_eq!(id.subject_string, "CN=gina");

        // No subject at all: nothing but the SANs (and nats-server then ignores DNS names).
        let der = certificate(
            &[],
            vec![rcgen::SanType::DnsName(
                "x.example".try_into().expect("ia5"),
            )],
        );
        let id = CertIdentity::from_der(&der).expect("parses");
        assert!(!id.has_subject);
        assert_eq!(id.subject_string, "");
    }
}
