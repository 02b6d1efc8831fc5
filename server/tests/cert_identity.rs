//! `tls { verify_and_map: true }`: a client's certificate picks its user. Each case runs
//! against our server and, when it is installed, nats-server 2.9.10 with the same
//! configuration, and the bytes each server sends back must be the same.
//!
//! The certificates (a CA, the server's, and one client certificate per identity) are made
//! per test with `rcgen`. The client is a raw one: plaintext INFO, the TLS handshake with
//! the client certificate (tokio-rustls), then protocol lines, so every byte is compared.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{binaries, get_json, temp_dir, TestServer, WAIT};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

// ----------------------------------------------------------------------------------------
// Certificates

/// A client certificate and its key, in memory.
struct ClientCert {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

/// The test CA, the server's certificate files, and the CA's PEM for the client side.
struct Pki {
    dir: PathBuf,
    issuer: CertifiedIssuer<'static, KeyPair>,
    ca_pem: String,
}

impl Pki {
    fn new() -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "cert identity test CA");
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let issuer =
            CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("CA");
        let dir = temp_dir("certmap");
        let ca_pem = issuer.pem();
        std::fs::write(dir.join("ca.pem"), &ca_pem).expect("write CA");
        let mut server = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
        server.distinguished_name = DistinguishedName::new();
        server.distinguished_name.push(DnType::CommonName, "server");
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().expect("server key");
        let cert = server.signed_by(&key, &issuer).expect("server cert");
        std::fs::write(dir.join("server.pem"), cert.pem()).expect("write cert");
        std::fs::write(dir.join("server-key.pem"), key.serialize_pem()).expect("write key");
        Pki {
            dir,
            issuer,
            ca_pem,
        }
    }

    /// A client certificate with this subject (in this order) and these SANs.
    fn client(&self, subject: &[(DnType, &str)], sans: Vec<SanType>) -> ClientCert {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        for (kind, value) in subject {
            params.distinguished_name.push(kind.clone(), *value);
        }
        params.subject_alt_names = sans;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().expect("client key");
        let cert = params.signed_by(&key, &self.issuer).expect("client cert");
        ClientCert {
            chain: vec![cert.der().clone()],
            key: PrivateKeyDer::from_pem_slice(key.serialize_pem().as_bytes()).expect("key"),
        }
    }

    /// The `tls {}` section: our certificate, the CA, `verify_and_map`.
    fn tls_section(&self) -> String {
        let file = |name: &str| self.dir.join(name).display().to_string();
        format!(
            "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  ca_file: \"{}\"\n  verify_and_map: true\n  timeout: 5\n}}\n",
            file("server.pem"),
            file("server-key.pem"),
            file("ca.pem"),
        )
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn email(s: &str) -> SanType {
    SanType::Rfc822Name(s.try_into().expect("IA5"))
}

fn dns(s: &str) -> SanType {
    SanType::DnsName(s.try_into().expect("IA5"))
}

fn uri(s: &str) -> SanType {
    SanType::URI(s.try_into().expect("IA5"))
}

/// The subject attribute `emailAddress` (PKCS #9), which nats-server's DN code does not know.
fn email_attribute() -> DnType {
    DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1])
}

// ----------------------------------------------------------------------------------------
// A raw TLS client

/// A client connection after the TLS handshake.
struct TlsConn {
    stream: tokio_rustls::client::TlsStream<TcpStream>,
}

impl TlsConn {
    /// Connects, reads the plaintext INFO and does the handshake, presenting `cert`.
    async fn open(port: u16, pki: &Pki, cert: Option<&ClientCert>) -> Result<TlsConn, String> {
        let mut roots = rustls::RootCertStore::empty();
        for ca in CertificateDer::pem_slice_iter(pki.ca_pem.as_bytes()) {
            roots.add(ca.expect("CA")).expect("add CA");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots);
        let config = match cert {
            Some(c) => builder
                .with_client_auth_cert(c.chain.clone(), c.key.clone_key())
                .expect("client config"),
            None => builder.with_no_client_auth(),
        };
        let mut tcp = TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| e.to_string())?;
        let mut info = Vec::new();
        let mut byte = [0u8; 1];
        while !info.ends_with(b"\r\n") {
            match tokio::time::timeout(WAIT, tcp.read(&mut byte)).await {
                Ok(Ok(1)) => info.push(byte[0]),
                other => return Err(format!("no INFO: {other:?}")),
            }
        }
        assert!(info.starts_with(b"INFO {"), "{info:?}");
        let name = ServerName::try_from("localhost").expect("name");
        let handshake = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp);
        match tokio::time::timeout(WAIT, handshake).await {
            Ok(Ok(stream)) => Ok(TlsConn { stream }),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("handshake timed out".into()),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        // A refused client may find the connection gone: what it reads next tells.
        let _ = self.stream.write_all(bytes).await;
        let _ = self.stream.flush().await;
    }

    /// Reads until `needle` arrived, the server closed, or `window` passed: what arrived and
    /// whether the connection is closed.
    async fn read_until(&mut self, needle: &str, window: Duration) -> (String, bool) {
        let deadline = Instant::now() + window;
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            if !needle.is_empty() && String::from_utf8_lossy(&got).contains(needle) {
                return (String::from_utf8_lossy(&got).into_owned(), false);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return (String::from_utf8_lossy(&got).into_owned(), false);
            }
            match tokio::time::timeout(left, self.stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => {
                    return (String::from_utf8_lossy(&got).into_owned(), true)
                }
                Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
        }
    }

    /// Sends `CONNECT {json}`, `ops` and a PING; returns what came back up to the PONG (or
    /// up to the close).
    async fn login(&mut self, connect_json: &str, ops: &str) -> (String, bool) {
        self.send(format!("CONNECT {connect_json}\r\n{ops}PING\r\n").as_bytes())
            .await;
        self.read_until("PONG\r\n", WAIT).await
    }
}

/// Connects with `cert`, logs in with `connect_json` and sends `ops`: what the server
/// answered and whether it closed the connection (a failed handshake counts as closed with
/// nothing sent).
async fn attempt(
    port: u16,
    pki: &Pki,
    cert: Option<&ClientCert>,
    connect_json: &str,
    ops: &str,
) -> (String, bool) {
    match TlsConn::open(port, pki, cert).await {
        Ok(mut conn) => conn.login(connect_json, ops).await,
        Err(_) => (String::new(), true),
    }
}

// ----------------------------------------------------------------------------------------
// The configuration and the identities

/// Users named by e-mail address, DNS name, URI and DN, in two accounts and the global one.
const USERS: &str = r#"
authorization {
  users = [
    {user: "CN=carol,OU=Eng,O=Acme,C=US", permissions: {publish: {deny: ["secret.>"]}}}
    {user: "CN=hank,C=US"}
    {user: "CN=gina"}
    {user: "CN=pat", password: "pw"}
    {user: "bob.example.com"}
  ]
}
accounts {
  A {
    users = [
      {user: "alice@example.com", permissions: {publish: {deny: ["secret.>"]}, subscribe: {deny: ["secret.>"]}}}
      {user: "spiffe://example.org/erin"}
    ]
  }
  B {
    users = [ {user: "dave.example.com"} ]
  }
}
"#;

/// One client certificate per way of mapping, and some that map to nobody.
struct Identities {
    alice: ClientCert,
    bob: ClientCert,
    dave: ClientCert,
    erin: ClientCert,
    carol: ClientCert,
    hank: ClientCert,
    gina: ClientCert,
    pat: ClientCert,
    mallory: ClientCert,
    nameless: ClientCert,
}

impl Identities {
    fn new(pki: &Pki) -> Identities {
        use DnType::{CommonName, CountryName, OrganizationName, OrganizationalUnitName};
        Identities {
            // The e-mail SAN comes before the DNS SAN, which would map to bob.
            alice: pki.client(
                &[(CommonName, "alice-cn")],
                vec![dns("bob.example.com"), email("alice@example.com")],
            ),
            // An unknown e-mail address first, then the DNS name.
            bob: pki.client(
                &[(CommonName, "bob-cn")],
                vec![email("nobody@example.com"), dns("bob.example.com")],
            ),
            dave: pki.client(&[(CommonName, "dave-cn")], vec![dns("dave.example.com")]),
            erin: pki.client(
                &[(CommonName, "erin-cn")],
                vec![dns("unknown.example.com"), uri("spiffe://example.org/erin")],
            ),
            // Subject in certificate order C, O, OU, CN: the DN matches as configured.
            carol: pki.client(
                &[
                    (CountryName, "US"),
                    (OrganizationName, "Acme"),
                    (OrganizationalUnitName, "Eng"),
                    (CommonName, "carol"),
                ],
                vec![],
            ),
            // Certificate order CN, C: only the reordered DN match finds "CN=hank,C=US".
            hank: pki.client(&[(CommonName, "hank"), (CountryName, "US")], vec![]),
            // emailAddress in the subject: no DN match, Go's rendering "CN=gina" is found.
            gina: pki.client(
                &[
                    (CommonName, "gina"),
                    (email_attribute(), "gina@example.com"),
                ],
                vec![],
            ),
            pat: pki.client(&[(CommonName, "pat")], vec![]),
            mallory: pki.client(
                &[(CommonName, "mallory"), (OrganizationName, "Acme")],
                vec![email("mallory@example.com"), dns("mallory.example.com")],
            ),
            // No subject: nats-server then ignores the DNS names, even one that maps.
            nameless: pki.client(&[], vec![dns("bob.example.com")]),
        }
    }
}

const QUIET: &str = r#"{"verbose":false,"pedantic":false}"#;
const AUTH_VIOLATION: &str = "-ERR 'Authorization Violation'\r\n";

/// Starts `binary` with the mapping configuration and a monitoring port.
fn start(binary: &str, pki: &Pki) -> TestServer {
    let conf = format!("{}{USERS}", pki.tls_section());
    TestServer::binary_with_config(binary, &conf, &["-D", "-m", "-1"])
}

// ----------------------------------------------------------------------------------------
// Tests

/// One login attempt: its name, the certificate, CONNECT's JSON, the ops after it, the
/// expected reply and whether the server closes the connection.
type Case<'a> = (
    &'a str,
    Option<&'a ClientCert>,
    &'a str,
    &'a str,
    &'a str,
    bool,
);

/// Every identity logs in (or is refused) alike on both servers, byte for byte; the mapped
/// user's permissions apply.
#[tokio::test]
async fn each_certificate_logs_in_as_its_user_like_nats_server() {
    let pki = Pki::new();
    let ids = Identities::new(&pki);
    let deny_pub = "-ERR 'Permissions Violation for Publish to \"secret.x\"'\r\nPONG\r\n";
    let pub_secret = "PUB secret.x 2\r\nhi\r\nPUB fine 2\r\nhi\r\n";
    let sub_secret = "SUB secret.> 1\r\n";
    let deny_sub = "-ERR 'Permissions Violation for Subscription to \"secret.>\"'\r\nPONG\r\n";
    let no_pass = r#"{"verbose":false,"pedantic":false,"pass":"pw"}"#;
    let other_user = r#"{"verbose":false,"pedantic":false,"user":"somebody","pass":""}"#;
    let wrong_pass = r#"{"verbose":false,"pedantic":false,"user":"CN=pat","pass":"nope"}"#;
    let cases: Vec<Case<'_>> = vec![
        (
            "email SAN",
            Some(&ids.alice),
            QUIET,
            pub_secret,
            deny_pub,
            false,
        ),
        (
            "email SAN, subscribe",
            Some(&ids.alice),
            QUIET,
            sub_secret,
            deny_sub,
            false,
        ),
        (
            "DNS SAN",
            Some(&ids.bob),
            QUIET,
            pub_secret,
            "PONG\r\n",
            false,
        ),
        ("URI SAN", Some(&ids.erin), QUIET, "", "PONG\r\n", false),
        (
            "subject DN",
            Some(&ids.carol),
            QUIET,
            pub_secret,
            deny_pub,
            false,
        ),
        (
            "reordered DN",
            Some(&ids.hank),
            QUIET,
            "",
            "PONG\r\n",
            false,
        ),
        (
            "Go's subject string",
            Some(&ids.gina),
            QUIET,
            "",
            "PONG\r\n",
            false,
        ),
        (
            "user's password missing",
            Some(&ids.pat),
            QUIET,
            "",
            AUTH_VIOLATION,
            true,
        ),
        (
            "user's password wrong",
            Some(&ids.pat),
            wrong_pass,
            "",
            AUTH_VIOLATION,
            true,
        ),
        (
            "user's password given",
            Some(&ids.pat),
            no_pass,
            "",
            "PONG\r\n",
            false,
        ),
        (
            "CONNECT user ignored",
            Some(&ids.alice),
            other_user,
            pub_secret,
            deny_pub,
            false,
        ),
        (
            "unmapped",
            Some(&ids.mallory),
            QUIET,
            "",
            AUTH_VIOLATION,
            true,
        ),
        (
            "no subject",
            Some(&ids.nameless),
            QUIET,
            "",
            AUTH_VIOLATION,
            true,
        ),
        ("no certificate", None, QUIET, "", "", true),
    ];
    for binary in binaries("each_certificate_logs_in_as_its_user_like_nats_server") {
        let server = start(binary, &pki);
        // verify_and_map implies verify: the INFO asks for a certificate, and for auth.
        let info = common::Raw::connect(server.port).info;
        let info: serde_json::Value =
            serde_json::from_str(info.trim_end().trim_start_matches("INFO ")).expect("INFO");
        for key in ["tls_required", "tls_verify", "auth_required"] {
            assert_eq!(info[key], true, "{binary}: {key} in {info}");
        }
        for (case, cert, connect, ops, expected, closed) in &cases {
            let (got, was_closed) = attempt(server.port, &pki, *cert, connect, ops).await;
            assert_eq!(
                (got.as_str(), was_closed),
                (*expected, *closed),
                "{binary}: {case}"
            );
        }
        for line in [
            "User \"somebody\" found in connect proto, but user required from cert",
            // A certificate mapping to nobody: the name CONNECT gave (none).
            "authentication error - User \"\"",
            // A mapped user whose password is wrong: the mapped name.
            "authentication error - User \"CN=pat\"",
            "Using email found in cert for auth [\"alice@example.com\"]",
            "Using SAN found in cert for auth [\"bob.example.com\"]",
            "Using URI found in cert for auth [\"spiffe://example.org/erin\"]",
            "Using DistinguishedNameMatch for auth [\"CN=carol,OU=Eng,O=Acme,C=US\"]",
            "Using DistinguishedNameMatch for auth [\"CN=hank,C=US\"]",
            "Using certificate subject for auth [\"CN=gina\"]",
            "User in cert [\"CN=mallory,O=Acme\"], not found",
            "User required in cert, none found",
        ] {
            assert!(
                server.wait_log(line, WAIT),
                "{binary}: no {line:?} in {:#?}",
                server.log_lines()
            );
        }
    }
}

/// Mapped users are in their own accounts: a message published by a user of account A
/// reaches A's subscribers only.
#[tokio::test]
async fn mapped_users_are_isolated_by_account() {
    let pki = Pki::new();
    let ids = Identities::new(&pki);
    for binary in binaries("mapped_users_are_isolated_by_account") {
        let server = start(binary, &pki);
        let mut subscribers = Vec::new();
        for (who, cert) in [
            ("erin (A)", &ids.erin),
            ("dave (B)", &ids.dave),
            ("carol ($G)", &ids.carol),
        ] {
            let mut conn = TlsConn::open(server.port, &pki, Some(cert))
                .await
                .expect("handshake");
            let (got, _) = conn.login(QUIET, "SUB iso 1\r\n").await;
            assert_eq!(got, "PONG\r\n", "{binary}: {who}");
            subscribers.push((who, conn));
        }
        let mut alice = TlsConn::open(server.port, &pki, Some(&ids.alice))
            .await
            .expect("handshake");
        let (got, _) = alice.login(QUIET, "PUB iso 5\r\nhello\r\n").await;
        assert_eq!(got, "PONG\r\n", "{binary}: alice publishes");
        for (who, conn) in &mut subscribers {
            let (got, _) = conn
                .read_until("hello\r\n", Duration::from_millis(500))
                .await;
            let expected = if who.ends_with("(A)") {
                "MSG iso 1 5\r\nhello\r\n"
            } else {
                ""
            };
            assert_eq!(got, expected, "{binary}: {who}");
        }
    }
}

/// `/connz?auth=1` names the mapped user and its account, as nats-server does.
#[tokio::test]
async fn connz_shows_the_mapped_user() {
    let pki = Pki::new();
    let ids = Identities::new(&pki);
    let mut seen = Vec::new();
    for binary in binaries("connz_shows_the_mapped_user") {
        let server = start(binary, &pki);
        let http = server.logged_port("Starting http monitor on ");
        let mut open = Vec::new();
        for cert in [&ids.alice, &ids.dave, &ids.carol] {
            let mut conn = TlsConn::open(server.port, &pki, Some(cert))
                .await
                .expect("handshake");
            assert_eq!(conn.login(QUIET, "").await.0, "PONG\r\n", "{binary}");
            open.push(conn);
        }
        let connz = get_json(http, "/connz?auth=1");
        let mut users: Vec<(String, String)> = connz["connections"]
            .as_array()
            .expect("connections")
            .iter()
            .map(|c| {
                (
                    c["authorized_user"].as_str().unwrap_or("").to_string(),
                    c["account"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        users.sort();
        let expected = [
            ("CN=carol,OU=Eng,O=Acme,C=US", ""),
            ("alice@example.com", "A"),
            ("dave.example.com", "B"),
        ]
        .map(|(u, a)| (u.to_string(), a.to_string()));
        assert_eq!(users, expected, "{binary}: {connz}");
        seen.push(users);
    }
    seen.dedup();
    assert_eq!(seen.len(), 1, "the same on both servers");
}

/// Where nats-server accepts `verify_and_map` and where it does not (the cluster block is
/// refused by us: mapping route certificates is not implemented).
#[test]
fn verify_and_map_configuration() {
    let pki = Pki::new();
    let tls = pki.tls_section();
    // Accepted by both, with users without passwords.
    for binary in binaries("verify_and_map_configuration") {
        let file = common::TempFile::new("certmap-ok", "ok.conf", &format!("{tls}{USERS}"));
        let (code, out) = common::run_to_exit(binary, &["-t", "-c", &file.arg()]);
        assert_eq!(code, Some(0), "{binary}: {out}");
    }
    // The client block: a boolean, as nats-server words it.
    let bad = tls.replace("verify_and_map: true", "verify_and_map: \"yes\"");
    for binary in binaries("verify_and_map_configuration") {
        common::assert_config_refused(
            binary,
            &bad,
            "error parsing tls config, expected 'verify_and_map' to be a boolean",
        );
    }
    // In cluster {}: refused by us at the key's position.
    let cluster = format!(
        "cluster {{\n  port: -1\n  {}}}\n",
        tls.replace("timeout: 5\n", "timeout: 5\n  ")
    );
    let file = common::TempFile::new("certmap-cluster", "cluster.conf", &cluster);
    let (code, out) = common::run_to_exit(common::OURS, &["-t", "-c", &file.arg()]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("cluster.conf:7:")
            && out.contains("tls: 'verify_and_map' is not supported by this server yet"),
        "{out}"
    );
}
