//! NATS JWTs (operator mode): decoding, the ed25519 signature check and the claims of
//! operators, accounts and users, as the nats-io/jwt v2 library lays them out.
//!
//! Pure code: no files, no sockets, no clock (callers pass `now`). A JWT is three unpadded
//! base64url parts `header.claims.signature`; the header says `{"typ":"JWT","alg":"ed25519-nkey"}`
//! (or the older `ed25519`), the signature is the issuer's (`iss`, an nkey public key) over
//! `header.claims` as written. Claims are read leniently (unknown fields are ignored, missing
//! ones are zero), as Go's JSON decoder reads them, so JWTs from `nsc` and newer tools decode.

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Why a JWT was not accepted. The texts follow nats-io/jwt's where nats-server shows them
/// (`expected 3 chunks`, `not operator claim`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtError {
    /// Not three base64url parts with JSON in them, or claims that do not decode.
    Malformed(String),
    /// The signature is not the issuer's over the header and claims.
    Signature,
    /// The claims are of another kind than the one asked for (`operator`, `account`, `user`).
    WrongKind(&'static str),
    /// The issuer is not the kind of key that may issue this kind of claim.
    WrongIssuer,
}

impl std::fmt::Display for JwtError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwtError::Malformed(why) => f.write_str(why),
            JwtError::Signature => f.write_str("claim failed V2 signature verification"),
            JwtError::WrongKind(kind) => write!(f, "not {kind} claim"),
            JwtError::WrongIssuer => f.write_str("unable to validate expected prefixes"),
        }
    }
}

impl std::error::Error for JwtError {}

/// The fields every claim has (nats-io/jwt's `ClaimsData`), and the kind-specific `nats` part.
/// Serialised in the Go library's field order, so `/varz` shows an operator as nats-server does.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Claims<N> {
    /// Audience.
    #[serde(rename = "aud", skip_serializing_if = "String::is_empty")]
    pub audience: String,
    /// Expiry, unix seconds (0: never).
    #[serde(rename = "exp", skip_serializing_if = "is_zero")]
    pub expires: i64,
    /// The JWT's id.
    #[serde(rename = "jti", skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Issued at, unix seconds (revocations compare with it).
    #[serde(rename = "iat", skip_serializing_if = "is_zero")]
    pub issued_at: i64,
    /// The issuer's public nkey: the key that signed the JWT.
    #[serde(rename = "iss", skip_serializing_if = "String::is_empty")]
    pub issuer: String,
    /// A human-readable name (`name_tag` in `/connz`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Not valid before, unix seconds (0: no bound).
    #[serde(rename = "nbf", skip_serializing_if = "is_zero")]
    pub not_before: i64,
    /// The subject's public nkey: who the JWT is about.
    #[serde(rename = "sub", skip_serializing_if = "String::is_empty")]
    pub subject: String,
    /// The kind-specific part.
    pub nats: N,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

fn is_false(v: &bool) -> bool {
    !*v
}

impl<N> Claims<N> {
    /// nats-io/jwt's time checks at `now` (unix seconds): `claim is expired`, `claim is not
    /// yet valid`.
    pub fn time_check(&self, now: i64) -> Result<(), &'static str> {
        if self.expires > 0 && now > self.expires {
            return Err("claim is expired");
        }
        if self.not_before > 0 && self.not_before > now {
            return Err("claim is not yet valid");
        }
        Ok(())
    }
}

/// An operator's `nats` part.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Operator {
    /// Keys besides the operator's own that may sign account JWTs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signing_keys: Vec<String>,
    /// Where nats-server would fetch account JWTs (the URL resolver; not supported here).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub account_server_url: String,
    /// URLs of the operator's servers (informational).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub operator_service_urls: Vec<String>,
    /// The system account's public key, when the operator names one.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub system_account: String,
    /// The least server version this operator expects.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub assert_server_version: String,
    /// Only signing keys, never the operator's own key, may sign accounts.
    #[serde(skip_serializing_if = "is_false")]
    pub strict_signing_key_usage: bool,
    /// Tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// `operator`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The claim format's version (2).
    pub version: i64,
}

/// Allow and deny lists of one direction.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct Permission {
    /// Subjects allowed (empty: everything not denied).
    pub allow: Vec<String>,
    /// Subjects denied.
    pub deny: Vec<String>,
}

impl Permission {
    /// Whether neither list has an entry.
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty()
    }
}

/// `resp`: replies to received requests may be published, `max` of them within `ttl`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct ResponsePermission {
    /// Replies per request (0: the default, 1).
    pub max: i64,
    /// How long, in nanoseconds (Go's `time.Duration`; 0: the default).
    pub ttl: i64,
}

/// Publish, subscribe and reply permissions (a user's, or an account's defaults).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct Permissions {
    /// Publish lists.
    #[serde(rename = "pub")]
    pub publish: Permission,
    /// Subscribe lists.
    #[serde(rename = "sub")]
    pub subscribe: Permission,
    /// Reply permission.
    pub resp: Option<ResponsePermission>,
}

impl Permissions {
    /// Whether nothing is restricted.
    pub fn is_empty(&self) -> bool {
        self.publish.is_empty() && self.subscribe.is_empty() && self.resp.is_none()
    }
}

/// A time window in which a user may connect (`HH:MM:SS` each).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct TimeRange {
    /// Start of the window.
    pub start: String,
    /// End of the window.
    pub end: String,
}

/// What a user may do and how much: permissions plus limits (nats-io/jwt's
/// `UserPermissionLimits`, also the template of a scoped signing key).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct UserPermissionLimits {
    /// Publish lists.
    #[serde(rename = "pub")]
    pub publish: Permission,
    /// Subscribe lists.
    #[serde(rename = "sub")]
    pub subscribe: Permission,
    /// Reply permission.
    pub resp: Option<ResponsePermission>,
    /// Source networks (CIDR) the user may connect from (empty: any).
    pub src: Vec<String>,
    /// Time windows the user may connect in (empty: any time).
    pub times: Vec<TimeRange>,
    /// The time zone of `times`.
    pub times_location: String,
    /// Most subscriptions per connection (-1: unlimited).
    pub subs: i64,
    /// Most bytes (-1: unlimited; not enforced for core NATS, as in nats-server).
    pub data: i64,
    /// Largest payload (-1: unlimited).
    pub payload: i64,
    /// No nonce signature needed: the JWT alone logs in.
    pub bearer_token: bool,
    /// Connection types the user may use (empty: all).
    pub allowed_connection_types: Vec<String>,
}

impl UserPermissionLimits {
    /// The permissions part.
    pub fn permissions(&self) -> Permissions {
        Permissions {
            publish: self.publish.clone(),
            subscribe: self.subscribe.clone(),
            resp: self.resp.clone(),
        }
    }

    /// Whether nothing at all is set (nats-io/jwt's rule for users of scoped signing keys:
    /// their permissions and limits come from the scope's template).
    pub fn is_empty(&self) -> bool {
        *self == UserPermissionLimits::default()
    }
}

/// A user's `nats` part.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct User {
    /// Permissions and limits.
    #[serde(flatten)]
    pub limits: UserPermissionLimits,
    /// The account the issuer (a signing key) signs for.
    pub issuer_account: String,
    /// Tags.
    pub tags: Vec<String>,
    /// `user`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The claim format's version (2).
    pub version: i64,
}

/// A scoped signing key: users it signs get the template's permissions and limits.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct UserScope {
    /// `user_scope`.
    pub kind: String,
    /// The signing key.
    pub key: String,
    /// A role name.
    pub role: String,
    /// What users of this key get.
    pub template: UserPermissionLimits,
}

/// One entry of an account's `signing_keys`: a plain key or a scoped one.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SigningKey {
    /// A key that signs users with their own permissions.
    Plain(String),
    /// A key whose users get its template.
    Scoped(Box<UserScope>),
}

impl SigningKey {
    /// The public key.
    pub fn key(&self) -> &str {
        match self {
            SigningKey::Plain(k) => k,
            SigningKey::Scoped(s) => &s.key,
        }
    }
}

/// An account's limits (`-1`: unlimited; `0` is a limit of zero, as in nats-server).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AccountLimits {
    /// Most subscriptions per connection.
    pub subs: i64,
    /// Most bytes (not enforced for core NATS).
    pub data: i64,
    /// Largest payload.
    pub payload: i64,
    /// Most imports.
    pub imports: i64,
    /// Most exports.
    pub exports: i64,
    /// Whether exports may have wildcards.
    pub wildcards: bool,
    /// Users may not log in with bearer tokens.
    pub disallow_bearer: bool,
    /// Most client connections at once.
    pub conn: i64,
    /// Most leaf node connections.
    pub leaf: i64,
}

impl Default for AccountLimits {
    /// What Go decodes from an absent `limits`: every number zero.
    fn default() -> Self {
        AccountLimits {
            subs: 0,
            data: 0,
            payload: 0,
            imports: 0,
            exports: 0,
            wildcards: false,
            disallow_bearer: false,
            conn: 0,
            leaf: 0,
        }
    }
}

/// An export of an account JWT.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Export {
    /// A name.
    pub name: String,
    /// The exported subjects.
    pub subject: String,
    /// `stream` or `service`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Importers need an activation token (a private export).
    pub token_req: bool,
    /// Revoked activations.
    pub revocations: HashMap<String, i64>,
    /// A service's response type.
    pub response_type: String,
    /// A service's response threshold in nanoseconds (0: the default).
    pub response_threshold: i64,
    /// The position of a token that must be the importer's public key.
    pub account_token_position: u32,
}

/// An import of an account JWT.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Import {
    /// A name.
    pub name: String,
    /// The subjects imported (as exported).
    pub subject: String,
    /// The exporting account's public key.
    pub account: String,
    /// An activation token (for private exports).
    pub token: String,
    /// For streams, a prefix (deprecated `to`); for services the local subject.
    pub to: String,
    /// The local name of the subjects.
    pub local_subject: String,
    /// A service import that shares who the requester is.
    pub share: bool,
    /// `stream` or `service`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// An account's `nats` part.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Account {
    /// What it takes from other accounts.
    pub imports: Vec<Import>,
    /// What others may take from it.
    pub exports: Vec<Export>,
    /// Limits.
    pub limits: AccountLimits,
    /// Keys besides the account's own that may sign its users.
    pub signing_keys: Vec<SigningKey>,
    /// Revoked users: public key (or `*`) → unix time; JWTs issued at or before it are
    /// refused.
    pub revocations: HashMap<String, i64>,
    /// Permissions of users whose JWT has none.
    pub default_permissions: Permissions,
    /// Subject mappings (not supported here; refused when present).
    pub mappings: serde_json::Map<String, serde_json::Value>,
    /// Tags.
    pub tags: Vec<String>,
    /// `account`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The claim format's version (2).
    pub version: i64,
}

impl Account {
    /// Whether a user JWT of `subject` issued at `issued_at` is revoked: a revocation of that
    /// key or of every key (`*`) at or after the time it was issued.
    pub fn is_revoked(&self, subject: &str, issued_at: i64) -> bool {
        [subject, "*"].iter().any(|k| {
            self.revocations
                .get(*k)
                .is_some_and(|&revoked| revoked >= issued_at)
        })
    }
}

/// A decoded, signature-checked operator JWT.
pub type OperatorClaims = Claims<Operator>;
/// A decoded, signature-checked account JWT.
pub type AccountClaims = Claims<Account>;
/// A decoded, signature-checked user JWT.
pub type UserClaims = Claims<User>;

/// The nkey prefix letters (first character of a public key).
const OPERATOR_PREFIX: char = 'O';
const ACCOUNT_PREFIX: char = 'A';

/// Whether `key` is a valid public nkey of the kind whose encoded form starts with `prefix`.
pub fn is_public_key(key: &str, prefix: char) -> bool {
    key.starts_with(prefix) && nkeys::KeyPair::from_public_key(key).is_ok()
}

/// Whether `key` is a valid public account nkey.
pub fn is_account_key(key: &str) -> bool {
    is_public_key(key, ACCOUNT_PREFIX)
}

/// Whether `key` is a valid public operator nkey.
pub fn is_operator_key(key: &str) -> bool {
    is_public_key(key, OPERATOR_PREFIX)
}

/// Decodes an operator JWT (issued by an operator key).
pub fn decode_operator(token: &str) -> Result<OperatorClaims, JwtError> {
    decode(token, "operator", OPERATOR_PREFIX)
}

/// Decodes an account JWT (issued by an operator key).
pub fn decode_account(token: &str) -> Result<AccountClaims, JwtError> {
    decode(token, "account", OPERATOR_PREFIX)
}

/// Decodes a user JWT (issued by an account key).
pub fn decode_user(token: &str) -> Result<UserClaims, JwtError> {
    decode(token, "user", ACCOUNT_PREFIX)
}

fn b64(part: &str) -> Result<Vec<u8>, JwtError> {
    data_encoding::BASE64URL_NOPAD
        .decode(part.as_bytes())
        .map_err(|e| JwtError::Malformed(format!("illegal base64 data: {e}")))
}

#[derive(Deserialize)]
struct Header {
    #[serde(default)]
    typ: String,
    #[serde(default)]
    alg: String,
}

/// Only the kind and version, to pick the decoder.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Kind {
    #[serde(rename = "type")]
    v1_kind: String,
    nats: KindFields,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct KindFields {
    #[serde(rename = "type")]
    kind: String,
    version: i64,
}

/// Decodes a JWT of `kind` issued by a key starting with `issuer_prefix`, checking header,
/// signature and kind.
fn decode<N: DeserializeOwned + Default>(
    token: &str,
    kind: &'static str,
    issuer_prefix: char,
) -> Result<Claims<N>, JwtError> {
    let token = token.trim();
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = parts.as_slice() else {
        return Err(JwtError::Malformed("expected 3 chunks".into()));
    };
    let header: Header = serde_json::from_slice(&b64(header)?)
        .map_err(|e| JwtError::Malformed(format!("invalid header: {e}")))?;
    if !header.typ.eq_ignore_ascii_case("JWT") {
        return Err(JwtError::Malformed(format!(
            "not supported type {:?}",
            header.typ
        )));
    }
    let alg = header.alg.to_ascii_lowercase();
    if alg != "ed25519" && alg != "ed25519-nkey" {
        return Err(JwtError::Malformed(format!(
            "unexpected {:?} algorithm",
            header.alg
        )));
    }
    let body = b64(payload)?;
    let which: Kind = serde_json::from_slice(&body)
        .map_err(|e| JwtError::Malformed(format!("invalid claims: {e}")))?;
    if !which.v1_kind.is_empty() || which.nats.version < 2 {
        return Err(JwtError::Malformed(
            "JWT version 1 is not supported by this server".into(),
        ));
    }
    if which.nats.version > 2 {
        return Err(JwtError::Malformed(
            "JWT was generated by a newer version ".into(),
        ));
    }
    let claims: Claims<N> = serde_json::from_slice(&body)
        .map_err(|e| JwtError::Malformed(format!("invalid claims: {e}")))?;
    let sig = b64(signature)?;
    let signed = &token[..header_and_payload_len(token)];
    let verified = nkeys::KeyPair::from_public_key(&claims.issuer)
        .is_ok_and(|key| key.verify(signed.as_bytes(), &sig).is_ok());
    if !verified {
        return Err(JwtError::Signature);
    }
    if which.nats.kind != kind {
        return Err(JwtError::WrongKind(kind));
    }
    if !is_public_key(&claims.issuer, issuer_prefix) {
        return Err(JwtError::WrongIssuer);
    }
    Ok(claims)
}

/// The length of `header.payload` in a token known to have three parts.
fn header_and_payload_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(token.len())
}

/// Whether the IP address `ip` is within one of the CIDR blocks of `src` (a user's `src`
/// limit; empty: anywhere). A malformed block matches nothing.
pub fn source_allowed(src: &[String], ip: std::net::IpAddr) -> bool {
    if src.is_empty() {
        return true;
    }
    src.iter()
        .flat_map(|s| s.split(','))
        .any(|cidr| cidr_contains(cidr.trim(), ip))
}

fn cidr_contains(cidr: &str, ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    let Some((net, bits)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    // An IPv4 client seen as an IPv4-mapped IPv6 address compares as IPv4.
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nkeys::KeyPair;

    fn encode(issuer: &KeyPair, subject: &str, nats: &str, extra: &str) -> String {
        let b64 = |b: &[u8]| data_encoding::BASE64URL_NOPAD.encode(b);
        let header = b64(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
        let claims = format!(
            r#"{{"jti":"x","iat":100,{extra}"iss":"{}","sub":"{subject}","name":"n","nats":{nats}}}"#,
            issuer.public_key()
        );
        let signed = format!("{header}.{}", b64(claims.as_bytes()));
        let sig = issuer.sign(signed.as_bytes()).expect("sign");
        format!("{signed}.{}", b64(&sig))
    }

    const USER: &str = r#"{"type":"user","version":2,"subs":-1,"data":-1,"payload":-1,"pub":{"deny":["x"]},"resp":{"max":2,"ttl":1000000000}}"#;

    #[test]
    fn a_valid_user_jwt_decodes_with_its_permissions() {
        let account = KeyPair::new_account();
        let user = KeyPair::new_user();
        let token = encode(&account, &user.public_key(), USER, "");
        let claims = decode_user(&token).expect("valid");
        assert_eq!(claims.issuer, account.public_key());
        assert_eq!(claims.subject, user.public_key());
        assert_eq!(claims.issued_at, 100);
        assert_eq!(claims.nats.limits.publish.deny, vec!["x".to_string()]);
        assert_eq!(claims.nats.limits.subs, -1);
        assert_eq!(
            claims.nats.limits.resp,
            Some(ResponsePermission {
                max: 2,
                ttl: 1_000_000_000
            })
        );
        assert!(claims.time_check(1000).is_ok());
    }

    #[test]
    fn the_older_algorithm_name_is_accepted() {
        let account = KeyPair::new_account();
        let b64 = |b: &[u8]| data_encoding::BASE64URL_NOPAD.encode(b);
        let header = b64(br#"{"typ":"jwt","alg":"ed25519"}"#);
        let claims = format!(
            r#"{{"iss":"{}","sub":"U","nats":{USER}}}"#,
            account.public_key()
        );
        let signed = format!("{header}.{}", b64(claims.as_bytes()));
        let sig = account.sign(signed.as_bytes()).expect("sign");
        assert!(decode_user(&format!("{signed}.{}", b64(&sig))).is_ok());
        let header = b64(br#"{"typ":"JWT","alg":"HS256"}"#);
        let signed = format!("{header}.{}", b64(claims.as_bytes()));
        let sig = account.sign(signed.as_bytes()).expect("sign");
        assert!(matches!(
            decode_user(&format!("{signed}.{}", b64(&sig))),
            Err(JwtError::Malformed(_))
        ));
    }

    #[test]
    fn a_tampered_jwt_fails_its_signature() {
        let account = KeyPair::new_account();
        let token = encode(&account, "U", USER, "");
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        let other = encode(&account, "U", USER, r#""exp":5,"#);
        parts[1] = other.split('.').nth(1).expect("claims").to_string();
        assert_eq!(
            decode_user(&parts.join(".")).err(),
            Some(JwtError::Signature)
        );
        // Signed by someone else than the `iss` it names.
        let stranger = KeyPair::new_account();
        let forged = encode(&stranger, "U", USER, "");
        let forged_claims = forged.split('.').nth(1).expect("claims");
        let body = String::from_utf8(
            data_encoding::BASE64URL_NOPAD
                .decode(forged_claims.as_bytes())
                .expect("b64"),
        )
        .expect("utf8")
        .replace(&stranger.public_key(), &account.public_key());
        let mut parts: Vec<String> = forged.split('.').map(str::to_string).collect();
        parts[1] = data_encoding::BASE64URL_NOPAD.encode(body.as_bytes());
        assert_eq!(
            decode_user(&parts.join(".")).err(),
            Some(JwtError::Signature)
        );
        assert_eq!(
            decode_user("a.b").err(),
            Some(JwtError::Malformed("expected 3 chunks".into()))
        );
    }

    #[test]
    fn kinds_and_issuers_are_checked() {
        let operator = KeyPair::new_operator();
        let account = KeyPair::new_account();
        let op = encode(
            &operator,
            &operator.public_key(),
            r#"{"type":"operator","version":2,"signing_keys":["OX"]}"#,
            "",
        );
        let claims = decode_operator(&op).expect("operator");
        assert_eq!(claims.nats.signing_keys, vec!["OX".to_string()]);
        assert_eq!(
            decode_account(&op).map(|_| ()),
            Err(JwtError::WrongKind("account"))
        );
        assert_eq!(
            JwtError::WrongKind("operator").to_string(),
            "not operator claim"
        );
        // A user JWT must come from an account key, an account JWT from an operator key.
        let by_operator = encode(&operator, "U", USER, "");
        assert_eq!(
            decode_user(&by_operator).map(|_| ()),
            Err(JwtError::WrongIssuer)
        );
        let acc = r#"{"type":"account","version":2,"signing_keys":["AK",{"kind":"user_scope","key":"AS","role":"r","template":{"pub":{"allow":["a"]}}}],"revocations":{"UX":50,"*":10},"limits":{"conn":3}}"#;
        let by_account = encode(&account, &account.public_key(), acc, "");
        assert_eq!(
            decode_account(&by_account).map(|_| ()),
            Err(JwtError::WrongIssuer)
        );
        let claims =
            decode_account(&encode(&operator, &account.public_key(), acc, "")).expect("account");
        let keys: Vec<&str> = claims.nats.signing_keys.iter().map(|k| k.key()).collect();
        assert_eq!(keys, ["AK", "AS"]);
        assert_eq!(claims.nats.limits.conn, 3);
        assert_eq!(claims.nats.limits.subs, 0, "absent limits are zero");
        assert!(claims.nats.is_revoked("UX", 50));
        assert!(!claims.nats.is_revoked("UX", 51));
        assert!(claims.nats.is_revoked("UY", 10), "`*` revokes every key");
        assert!(!claims.nats.is_revoked("UY", 11));
    }

    #[test]
    fn expired_and_not_yet_valid_claims_fail_the_time_check() {
        let account = KeyPair::new_account();
        let token = encode(&account, "U", USER, r#""exp":500,"nbf":200,"#);
        let claims = decode_user(&token).expect("decodes: time is checked separately");
        assert_eq!(claims.time_check(300), Ok(()));
        assert_eq!(claims.time_check(501), Err("claim is expired"));
        assert_eq!(claims.time_check(100), Err("claim is not yet valid"));
    }

    #[test]
    fn source_networks() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("ip");
        let src = vec!["10.0.0.0/8".to_string(), "192.168.1.7/32".to_string()];
        assert!(source_allowed(&[], ip("1.2.3.4")));
        assert!(source_allowed(&src, ip("10.9.8.7")));
        assert!(source_allowed(&src, ip("192.168.1.7")));
        assert!(source_allowed(&src, ip("::ffff:10.1.1.1")));
        assert!(!source_allowed(&src, ip("127.0.0.1")));
        assert!(!source_allowed(&["bogus".to_string()], ip("127.0.0.1")));
        assert!(source_allowed(&["::/0".to_string()], ip("::1")));
    }
}
