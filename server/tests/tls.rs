//! TLS end to end: client TLS (async-nats over TLS, client-certificate verification, plaintext
//! clients refused, the handshake timeout), route TLS (a 3-server cluster, an untrusted peer,
//! a mixed cluster with nats-server 2.9.10), and configuration errors worded like
//! nats-server's. Certificates are generated per test with `rcgen` (a throwaway CA, server and
//! client certificates, and a second CA whose certificates must be refused).
//!
//! Tests that need `/usr/sbin/nats-server` skip with a message when it is missing, unless
//! `NATS_SERVER_REQUIRED=1`.

#[path = "common/cluster.rs"]
mod cluster_util;
mod common;

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cluster_util::{
    check_pubsub_everywhere, free_port, real_server_available, ClusterNode, ServerKind,
    REAL_NATS_SERVER, ROUTE_WAIT,
};
use common::{temp_dir, Raw, TestServer, WAIT};
use futures::StreamExt;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use tokio::io::{AsyncBufReadExt, BufReader};

// ----------------------------------------------------------------------------------------
// Certificates

/// A throwaway PKI in a temporary directory (removed on drop).
struct Pki {
    dir: PathBuf,
    /// The CA every good certificate chains to.
    ca: PathBuf,
    /// Server certificate for `localhost` and `127.0.0.1`, usable as client certificate too
    /// (routes present it both ways).
    server_cert: PathBuf,
    server_key: PathBuf,
    /// Client-only certificate.
    client_cert: PathBuf,
    client_key: PathBuf,
    /// A second, unrelated CA and a certificate it signed (same names, both usages).
    rogue_ca: PathBuf,
    rogue_cert: PathBuf,
    rogue_key: PathBuf,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("CA")
}

/// A leaf certificate signed by `issuer`: `(certificate PEM, key PEM)`.
fn leaf(
    issuer: &CertifiedIssuer<'static, KeyPair>,
    name: &str,
    usages: &[ExtendedKeyUsagePurpose],
) -> (String, String) {
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    params
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = usages.to_vec();
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, issuer).expect("sign");
    (cert.pem(), key.serialize_pem())
}

impl Pki {
    fn new() -> Pki {
        use ExtendedKeyUsagePurpose::{ClientAuth, ServerAuth};
        let dir = temp_dir("pki");
        let write = |name: &str, pem: &str| {
            let path = dir.join(name);
            std::fs::write(&path, pem).expect("write PEM");
            path
        };
        let good = ca("gnatsd test CA");
        let (server_pem, server_key) = leaf(&good, "server", &[ServerAuth, ClientAuth]);
        let (client_pem, client_key) = leaf(&good, "client", &[ClientAuth]);
        let rogue = ca("rogue CA");
        let (rogue_pem, rogue_key) = leaf(&rogue, "rogue", &[ServerAuth, ClientAuth]);
        Pki {
            ca: write("ca.pem", &good.pem()),
            server_cert: write("server.pem", &server_pem),
            server_key: write("server-key.pem", &server_key),
            client_cert: write("client.pem", &client_pem),
            client_key: write("client-key.pem", &client_key),
            rogue_ca: write("rogue-ca.pem", &rogue.pem()),
            rogue_cert: write("rogue.pem", &rogue_pem),
            rogue_key: write("rogue-key.pem", &rogue_key),
            dir,
        }
    }
}

impl Pki {
    /// The body of a `tls {}` block with the server certificate and key, then `extra`.
    fn server_block(&self, extra: &str) -> String {
        tls_block(&self.server_cert, &self.server_key, None, extra)
    }

    /// A whole `tls {}` section with the server certificate and key, the CA when `with_ca`,
    /// then `extra`.
    fn tls_section(&self, with_ca: bool, extra: &str) -> String {
        let ca = with_ca.then_some(self.ca.as_path());
        format!(
            "tls {{\n  {}}}\n",
            tls_block(&self.server_cert, &self.server_key, ca, extra)
        )
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn path(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// A `tls {}` block body.
fn tls_block(cert: &Path, key: &Path, ca: Option<&Path>, extra: &str) -> String {
    let mut block = format!(
        "cert_file: \"{}\"\n  key_file: \"{}\"\n",
        cert.display(),
        key.display()
    );
    if let Some(ca) = ca {
        block.push_str(&format!("  ca_file: \"{}\"\n", ca.display()));
    }
    block.push_str(extra);
    block
}

// ----------------------------------------------------------------------------------------
// Client helpers

async fn tls_client(
    port: u16,
    pki: &Pki,
    cert: Option<(&Path, &Path)>,
) -> Result<async_nats::Client, String> {
    let mut options = async_nats::ConnectOptions::new()
        .add_root_certificates(pki.ca.clone())
        .require_tls(true)
        .connection_timeout(Duration::from_secs(5));
    if let Some((cert, key)) = cert {
        options = options.add_client_certificate(cert.to_path_buf(), key.to_path_buf());
    }
    match tokio::time::timeout(WAIT, options.connect(format!("tls://127.0.0.1:{port}"))).await {
        Ok(Ok(client)) => {
            // The handshake may finish before the server checks our certificate (TLS 1.3):
            // only a round trip proves the connection was accepted.
            match tokio::time::timeout(WAIT, client.flush()).await {
                Ok(Ok(())) => Ok(client),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("flush timed out".into()),
            }
        }
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("connect timed out".into()),
    }
}

async fn next_msg(sub: &mut async_nats::Subscriber) -> async_nats::Message {
    tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("message in time")
        .expect("subscription open")
}

fn parse_info(line: &str) -> serde_json::Value {
    let json = line
        .trim_end()
        .strip_prefix("INFO ")
        .expect("INFO line")
        .trim();
    serde_json::from_str(json).expect("INFO JSON")
}

/// Connects in plaintext, reads INFO, sends a plaintext CONNECT and PING, and returns the
/// INFO and what came back before the server closed (or `WAIT` passed).
fn plaintext_attempt(port: u16) -> (serde_json::Value, String, bool) {
    let mut raw = Raw::connect(port);
    let info = parse_info(&raw.info);
    raw.send(b"CONNECT {\"verbose\":false}\r\nPING\r\n");
    let (rest, closed) = raw.read_until_closed();
    (info, rest, closed)
}

/// Runs a server binary that is expected to exit at once; returns (code, stderr).
fn run_to_exit(binary: &str, args: &[String]) -> (Option<i32>, String) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    common::run_to_exit(binary, &args)
}

fn tls_flags(pki: &Pki) -> Vec<String> {
    vec![
        "--tls".into(),
        "--tlscert".into(),
        path(&pki.server_cert),
        "--tlskey".into(),
        path(&pki.server_key),
    ]
}

// ----------------------------------------------------------------------------------------
// Client TLS

#[tokio::test]
async fn async_nats_pub_sub_over_tls() {
    let pki = Pki::new();
    let flags = tls_flags(&pki);
    let args: Vec<&str> = flags.iter().map(String::as_str).collect();
    let server = TestServer::start(&[&args[..], &["-D"]].concat());
    assert!(server.wait_log("TLS required for client connections", WAIT));

    let sub_client = tls_client(server.port, &pki, None)
        .await
        .expect("subscriber");
    let pub_client = tls_client(server.port, &pki, None)
        .await
        .expect("publisher");
    let mut sub = sub_client.subscribe("tls.>").await.expect("subscribe");
    // async-nats' flush only empties its own buffer; a request nobody answers is a round trip
    // through the server, so the SUB before it has been processed when it returns.
    let sync = tokio::time::timeout(WAIT, sub_client.request("sync.nobody", "".into())).await;
    assert!(matches!(sync, Ok(Err(_))), "no responders expected");

    pub_client
        .publish("tls.hello", "world".into())
        .await
        .expect("publish");
    let msg = next_msg(&mut sub).await;
    assert_eq!(
        (msg.subject.as_str(), &msg.payload[..]),
        ("tls.hello", &b"world"[..])
    );

    // Many small messages and one larger than a TLS record: batching and record splitting
    // must lose nothing and keep the order.
    let big = vec![b'x'; 300 * 1024];
    for i in 0..2000u32 {
        pub_client
            .publish("tls.many", i.to_string().into())
            .await
            .expect("publish");
    }
    pub_client
        .publish("tls.big", big.clone().into())
        .await
        .expect("publish big");
    pub_client.flush().await.expect("flush");
    for i in 0..2000u32 {
        let msg = next_msg(&mut sub).await;
        assert_eq!(msg.payload, i.to_string().as_bytes(), "message {i}");
    }
    let msg = next_msg(&mut sub).await;
    assert_eq!(msg.subject.as_str(), "tls.big");
    assert_eq!(msg.payload.len(), big.len());
    assert!(server.wait_log("TLS handshake complete", WAIT));
}

#[tokio::test]
async fn client_certificates_are_verified() {
    let pki = Pki::new();
    let conf = pki.tls_section(true, "  verify: true\n");
    let server = TestServer::with_config(&conf, &["-D"]);
    let raw = Raw::connect(server.port);
    let info = parse_info(&raw.info);
    assert_eq!(info["tls_required"], true, "{info}");
    assert_eq!(info["tls_verify"], true, "{info}");
    drop(raw);

    let good = tls_client(
        server.port,
        &pki,
        Some((pki.client_cert.as_path(), pki.client_key.as_path())),
    )
    .await
    .expect("a client certificate from the CA is accepted");
    let mut sub = good.subscribe("verified").await.expect("subscribe");
    good.publish("verified", "ok".into())
        .await
        .expect("publish");
    assert_eq!(&next_msg(&mut sub).await.payload[..], b"ok");

    let missing = tls_client(server.port, &pki, None).await;
    assert!(missing.is_err(), "a client without certificate is refused");
    assert!(
        server.wait_log(
            "TLS handshake error: tls: client didn't provide a certificate",
            WAIT
        ),
        "{:?}",
        server.log_lines()
    );

    let wrong = tls_client(
        server.port,
        &pki,
        Some((pki.rogue_cert.as_path(), pki.rogue_key.as_path())),
    )
    .await;
    assert!(wrong.is_err(), "a certificate from another CA is refused");
    assert!(
        server.wait_log("certificate signed by unknown authority", WAIT),
        "{:?}",
        server.log_lines()
    );
    assert!(server.wait_log("Client connection closed: TLS Handshake Failure", WAIT));
}

/// `allow_non_tls` beside `tls {}`: INFO offers TLS (`tls_available`) without requiring it,
/// a plaintext client and a TLS client (async-nats) both get in, and messages cross between
/// them. Ours and nats-server alike.
#[tokio::test]
async fn allow_non_tls_takes_plaintext_and_tls_clients() {
    let pki = Pki::new();
    let conf = format!("{}allow_non_tls: true\n", pki.tls_section(false, ""));
    let mut binaries = vec![common::OURS];
    if real_server_available("allow_non_tls_takes_plaintext_and_tls_clients") {
        binaries.push(REAL_NATS_SERVER);
    }
    for binary in binaries {
        let file = common::TempFile::new("nontls", "t.conf", &conf);
        let (code, out) = run_to_exit(binary, &["-c".into(), file.arg(), "-t".into()]);
        assert_eq!(code, Some(0), "{binary}: {out}");
        let server = TestServer::binary_with_config(binary, &conf, &[]);
        let mut plain = Raw::connect_with(server.port, "{\"verbose\":false}");
        let info = parse_info(&plain.info);
        assert_eq!(info["tls_available"], true, "{binary}: {info}");
        assert!(info.get("tls_required").is_none(), "{binary}: {info}");
        plain.send(b"SUB mixed 1\r\n");
        assert_eq!(plain.ping(), "PONG\r\n", "{binary}");
        let secure = tls_client(server.port, &pki, None)
            .await
            .unwrap_or_else(|e| panic!("{binary}: a TLS client gets in: {e}"));
        secure
            .publish("mixed", "over tls".into())
            .await
            .expect("publish");
        secure.flush().await.expect("flush");
        plain.expect("MSG mixed 1 8\r\nover tls\r\n");
    }
}

#[test]
fn plaintext_client_is_refused_like_nats_server() {
    let pki = Pki::new();
    let flags = tls_flags(&pki);
    let args: Vec<&str> = flags.iter().map(String::as_str).collect();
    let server = TestServer::start(&[&args[..], &["-D"]].concat());
    let (info, rest, closed) = plaintext_attempt(server.port);
    assert_eq!(info["tls_required"], true, "{info}");
    assert!(info.get("tls_verify").is_none(), "{info}");
    assert!(closed, "the server closes the connection");
    assert_eq!(rest, "", "nothing but INFO reaches a plaintext client");
    assert!(server.wait_log(
        "TLS handshake error: tls: first record does not look like a TLS handshake",
        WAIT
    ));
    assert!(server.wait_log("Client connection closed: TLS Handshake Failure", WAIT));

    if !real_server_available("plaintext_client_is_refused_like_nats_server") {
        return;
    }
    let real = TestServer::binary_start(REAL_NATS_SERVER, &args);
    let (real_info, real_rest, real_closed) = plaintext_attempt(real.port);
    drop(real);
    assert_eq!(real_info["tls_required"], true);
    assert_eq!(
        (rest, closed),
        (real_rest, real_closed),
        "same as nats-server"
    );
}

#[test]
fn handshake_timeout_closes_without_a_byte() {
    let pki = Pki::new();
    let conf = pki.tls_section(false, "  timeout: 0.5\n");
    let server = TestServer::with_config(&conf, &[]);
    let mut raw = Raw::connect(server.port);
    let started = Instant::now();
    let (rest, closed) = raw.read_for(Duration::from_secs(5));
    assert!(closed, "closed after the handshake timeout");
    assert!(
        rest.is_empty(),
        "nothing sent: {:?}",
        String::from_utf8_lossy(&rest)
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(400),
        "closed after {waited:?}"
    );
    assert!(server.wait_log("TLS handshake timeout", WAIT));
}

#[test]
fn max_connections_error_is_sent_before_tls() {
    let pki = Pki::new();
    let conf = format!(
        "max_connections: 1\n{}",
        pki.tls_section(false, "  timeout: 5\n")
    );
    let server = TestServer::with_config(&conf, &[]);
    let _first = Raw::connect(server.port);
    let mut second = Raw::connect(server.port);
    second.expect_closed_with("-ERR 'maximum connections exceeded'\r\n");
}

#[test]
fn configuration_errors_match_nats_server() {
    let pki = Pki::new();
    let dir = temp_dir("tls-conf");
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "unknown",
            format!(
                "tls {{\n  {}  x: 1\n}}\n",
                pki.server_block("")
            ),
            "error parsing tls config, unknown field [\"x\"]",
        ),
        (
            "nokey",
            format!("tls {{\n  cert_file: \"{}\"\n}}\n", pki.server_cert.display()),
            "missing 'key_file' in TLS configuration",
        ),
        (
            "nocert",
            format!("tls {{\n  key_file: \"{}\"\n}}\n", pki.server_key.display()),
            "missing 'cert_file' in TLS configuration",
        ),
        (
            "missing",
            "tls {\n  cert_file: \"/nonexistent/c.pem\"\n  key_file: \"/nonexistent/k.pem\"\n}\n"
                .to_string(),
            "error parsing X509 certificate/key pair: open /nonexistent/c.pem: no such file or directory",
        ),
        (
            "verify",
            format!(
                "tls {{\n  {}  verify: \"yes\"\n}}\n",
                pki.server_block("")
            ),
            "error parsing tls config, expected 'verify' to be a boolean",
        ),
        (
            "timeout",
            format!(
                "tls {{\n  {}  timeout: \"abc\"\n}}\n",
                pki.server_block("")
            ),
            "error parsing tls config, 'timeout' time: invalid duration \"abc\"",
        ),
        (
            "cluster-unknown",
            format!(
                "cluster {{\n  port: -1\n  tls {{\n  {}  nope: true\n  }}\n}}\n",
                pki.server_block("")
            ),
            "error parsing tls config, unknown field [\"nope\"]",
        ),
    ];
    let real = Path::new(REAL_NATS_SERVER).exists();
    for (name, text, expected) in cases {
        let file = dir.join(format!("{name}.conf"));
        std::fs::write(&file, text).expect("write conf");
        let args = vec!["-t".to_string(), "-c".to_string(), path(&file)];
        let (code, stderr) = run_to_exit(env!("CARGO_BIN_EXE_gnatsd"), &args);
        assert_eq!(code, Some(1), "{name}: {stderr}");
        assert!(stderr.contains(expected), "{name}: {stderr:?}");
        if real {
            let (real_code, real_stderr) = run_to_exit(REAL_NATS_SERVER, &args);
            assert_eq!(real_code, Some(1), "{name}: nats-server {real_stderr}");
            assert!(
                real_stderr.contains(expected),
                "{name}: nats-server says {real_stderr:?}"
            );
        }
    }
    let valid = dir.join("valid.conf");
    std::fs::write(
        &valid,
        pki.tls_section(
            true,
            "  verify: true\n  timeout: \"3s\"\n  cipher_suites: [\"TLS_AES_128_GCM_SHA256\"]\n",
        ),
    )
    .expect("write conf");
    let (code, stderr) = run_to_exit(
        env!("CARGO_BIN_EXE_gnatsd"),
        &["-t".to_string(), "-c".to_string(), path(&valid)],
    );
    assert_eq!(code, Some(0), "{stderr}");

    for (args, expected) in [
        (
            vec!["--tls".to_string()],
            "TLS Server certificate must be present and valid",
        ),
        (
            vec!["--tlscert".to_string(), path(&pki.server_cert)],
            "TLS Server private key must be present and valid",
        ),
        (
            vec![
                "--tlsverify".to_string(),
                "--tlscacert".to_string(),
                path(&pki.ca),
            ],
            "TLS Server certificate must be present and valid",
        ),
    ] {
        let (code, stderr) = run_to_exit(env!("CARGO_BIN_EXE_gnatsd"), &args);
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// ----------------------------------------------------------------------------------------
// Route TLS

/// A config with cluster TLS, for `ClusterNode::launch_with_config` (which adds `-a`/`-p`).
fn route_conf(
    name: &str,
    cluster_port: u16,
    routes: &[u16],
    cert: &Path,
    key: &Path,
    ca: &Path,
) -> String {
    let routes: Vec<String> = routes
        .iter()
        .map(|p| format!("    nats-route://127.0.0.1:{p}"))
        .collect();
    format!(
        "server_name: {name}\ncluster {{\n  name: TLSC\n  listen: 127.0.0.1:{cluster_port}\n  routes = [\n{}\n  ]\n  tls {{\n    {}  }}\n}}\n",
        routes.join("\n"),
        tls_block(cert, key, Some(ca), "    timeout: 2\n")
    )
}

fn good_route_node(
    kind: ServerKind,
    pki: &Pki,
    name: &str,
    cluster: u16,
    routes: &[u16],
) -> ClusterNode {
    let conf = route_conf(
        name,
        cluster,
        routes,
        &pki.server_cert,
        &pki.server_key,
        &pki.ca,
    );
    ClusterNode::launch_with_config(kind, free_port(), cluster, &conf, &[]).ready()
}

#[test]
fn three_servers_route_over_tls() {
    let pki = Pki::new();
    let [ca, cb, cc] = cluster_util::free_ports::<3>();
    let a = good_route_node(ServerKind::Ours, &pki, "A", ca, &[]);
    let b = good_route_node(ServerKind::Ours, &pki, "B", cb, &[ca]);
    let c = good_route_node(ServerKind::Ours, &pki, "C", cc, &[ca]);
    for node in [&a, &b, &c] {
        node.wait_routes(2);
    }
    assert!(a.wait_log("Starting TLS route server handshake", WAIT));
    assert!(b.wait_log("Starting TLS route client handshake", WAIT));
    assert!(b.wait_log("TLS handshake complete", WAIT));

    // Pub on C, sub on A (and every other combination).
    let mut sub = cluster_util::raw_sub(a.client_port, "tls.routed");
    cluster_util::sync_interest(&mut sub, &[c.client_port]);
    let mut publisher = cluster_util::Client::connect(c.client_port);
    publisher.publish("tls.routed", "from-C");
    publisher.flush();
    cluster_util::expect_exactly_one(&mut sub, "tls.routed", "from-C");
    check_pubsub_everywhere(&[&a, &b, &c], "tls.everywhere");
}

#[test]
fn route_info_is_sent_only_after_the_handshake() {
    let pki = Pki::new();
    let cluster = free_port();
    let node = good_route_node(ServerKind::Ours, &pki, "A", cluster, &[]);
    // Plaintext on the route port: no INFO, closed after the handshake timeout.
    let mut plain = TcpStream::connect(("127.0.0.1", cluster)).expect("connect");
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut buf = [0u8; 64];
    assert!(matches!(plain.read(&mut buf), Ok(0) | Err(_)));
    assert!(node.wait_log("TLS route handshake error", WAIT));

    // Over TLS with a client certificate: the route INFO says TLS is required and verified.
    let info = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(route_info_over_tls(cluster, &pki));
    assert_eq!(info["tls_required"], true, "{info}");
    assert_eq!(info["tls_verify"], true, "{info}");
    assert_eq!(info["proto"], 2, "{info}");
}

/// A rustls client trusting the test CA, presenting the server certificate when `with_cert`.
async fn tls_connect(
    port: u16,
    pki: &Pki,
    with_cert: bool,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&pki.ca).expect("CA") {
        roots.add(cert.expect("CA cert")).expect("add CA");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    let config = if with_cert {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&pki.server_cert)
            .expect("cert")
            .collect::<Result<_, _>>()
            .expect("cert chain");
        let key = PrivateKeyDer::from_pem_file(&pki.server_key).expect("key");
        builder
            .with_client_auth_cert(chain, key)
            .expect("client config")
    } else {
        builder.with_no_client_auth()
    };
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let name = ServerName::try_from("127.0.0.1").expect("name");
    tokio::time::timeout(
        WAIT,
        tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await
    .expect("handshake in time")
    .expect("handshake")
}

async fn route_info_over_tls(port: u16, pki: &Pki) -> serde_json::Value {
    let tls = tls_connect(port, pki, true).await;
    let mut line = String::new();
    tokio::time::timeout(WAIT, BufReader::new(tls).read_line(&mut line))
        .await
        .expect("INFO in time")
        .expect("read INFO");
    parse_info(&line)
}

#[test]
fn untrusted_route_peer_is_refused() {
    let pki = Pki::new();
    let [ca, cr] = cluster_util::free_ports::<2>();
    let a = good_route_node(ServerKind::Ours, &pki, "A", ca, &[]);
    // Its certificate comes from another CA (and it trusts only that one).
    let conf = route_conf(
        "R",
        cr,
        &[ca],
        &pki.rogue_cert,
        &pki.rogue_key,
        &pki.rogue_ca,
    );
    let rogue =
        ClusterNode::launch_with_config(ServerKind::Ours, free_port(), cr, &conf, &[]).ready();
    assert!(
        rogue.wait_log("TLS route handshake error", ROUTE_WAIT),
        "the dialler rejects the acceptor's certificate"
    );
    assert!(rogue.wait_log("certificate signed by unknown authority", WAIT));
    assert!(a.wait_log("TLS route handshake error", WAIT));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(a.routes(), 0, "no route to a peer outside the CA");
    assert_eq!(rogue.routes(), 0);
}

#[test]
fn mixed_cluster_with_nats_server_over_tls() {
    if !real_server_available("mixed_cluster_with_nats_server_over_tls") {
        return;
    }
    let pki = Pki::new();
    // Once with ours dialling (our TLS client against Go's TLS server), once with
    // nats-server dialling (its TLS client against ours). One side dials in each pair, so
    // the check is about TLS, not about resolving duplicate routes.
    for (dialler, seed) in [
        (ServerKind::Ours, ServerKind::Real),
        (ServerKind::Real, ServerKind::Ours),
    ] {
        let [c_seed, c_dialler] = cluster_util::free_ports::<2>();
        let seed = good_route_node(seed, &pki, "SEED", c_seed, &[]);
        let dialler = good_route_node(dialler, &pki, "DIALLER", c_dialler, &[c_seed]);
        seed.wait_routes(1);
        dialler.wait_routes(1);
        check_pubsub_everywhere(&[&seed, &dialler], "tls.mixed");

        let mut sub = cluster_util::raw_sub(seed.client_port, "tls.batch");
        cluster_util::sync_interest(&mut sub, &[dialler.client_port]);
        let mut publisher = cluster_util::Client::connect(dialler.client_port);
        for i in 0..100 {
            publisher.publish("tls.batch", &format!("m{i}"));
        }
        publisher.flush();
        let expected: Vec<String> = (0..100).map(|i| format!("m{i}")).collect();
        let context = format!("{:?} dialling {:?}", dialler.kind, seed.kind);
        cluster_util::expect_payloads(&mut sub, "tls.batch", &expected, &context);
        let ours = if dialler.kind == ServerKind::Ours {
            &dialler
        } else {
            &seed
        };
        assert!(ours.wait_log("TLS handshake complete", WAIT), "{context}");
    }
}

// ----------------------------------------------------------------------------------------
// HTTPS monitoring

#[tokio::test]
async fn monitoring_over_https() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let pki = Pki::new();
    // Client certificates are required for NATS clients but not for HTTPS monitoring
    // (nats-server clears client auth on its HTTPS listener).
    let conf = format!(
        "https: \"127.0.0.1:-1\"\n{}",
        pki.tls_section(true, "  verify: true\n")
    );
    let server = TestServer::with_config(&conf, &[]);
    let port = server.logged_port("Starting https monitor on ");

    let mut tls = tls_connect(port, &pki, false).await;
    tls.write_all(b"GET /varz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("request");
    let mut response = Vec::new();
    tokio::time::timeout(WAIT, tls.read_to_end(&mut response))
        .await
        .expect("response in time")
        .expect("response");
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    let body = &response[response.find("\r\n\r\n").expect("headers end") + 4..];
    let varz: serde_json::Value = serde_json::from_str(body).expect("varz JSON");
    // The configured value, as nats-server reports it (-1 for a random port).
    assert_eq!(varz["https_port"], -1, "{varz}");
    assert_eq!(varz["tls_required"], true, "{varz}");

    // Plain HTTP on the HTTPS port gets Go's answer.
    let mut plain = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    std::io::Write::write_all(&mut plain, b"GET /varz HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("request");
    plain.set_read_timeout(Some(WAIT)).expect("timeout");
    let mut answer = String::new();
    let _ = plain.read_to_string(&mut answer);
    assert_eq!(
        answer,
        "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
    );
}

#[test]
fn https_monitoring_needs_tls() {
    let (code, stderr) = run_to_exit(
        env!("CARGO_BIN_EXE_gnatsd"),
        &[
            "-a".into(),
            "127.0.0.1".into(),
            "-p".into(),
            "-1".into(),
            "-ms".into(),
            "-1".into(),
        ],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("Can't start monitoring: TLS cert and key required for HTTPS"),
        "{stderr}"
    );
}
