//! TLS for client connections, routes and HTTPS monitoring, with rustls (ring provider).
//!
//! What nats-server 2.9.10 does, and so what this module does (checked against the real
//! binary):
//!
//! * Clients: the server writes its `INFO` in plaintext first, then the client starts the TLS
//!   handshake (`client::serve_tls`). `INFO` carries `tls_required` (and `tls_verify` when client
//!   certificates are required). A client that speaks plaintext instead gets nothing more: the
//!   first record "does not look like a TLS handshake", the server logs that and closes the
//!   connection without sending a byte (no TLS alert, no `-ERR`). A client that sends nothing
//!   is closed after the handshake timeout (`tls { timeout }`, 2 s), again without a byte on
//!   the wire; the `-ERR 'Secure Connection - TLS Required'` nats-server traces at that moment
//!   never reaches the socket either, so it is only logged here too.
//! * Routes: TLS starts right after the TCP connect, before either side's `INFO`
//!   ([`accept_route`], [`connect_route`]). The dialer is the TLS client and verifies the peer
//!   against `ca_file` for the host of the route URL; the acceptor always requires and
//!   verifies a client certificate (nats-server forces that for clusters).
//! * After the handshake a connection runs the same reader, writer and delivery code as a
//!   plaintext one: only the stream type differs.
//! * HTTPS monitoring (`monitor::https`) uses [`https_acceptor`].
//! * `verify_and_map`: the names of a client's verified certificate ([`identity`]) become
//!   candidate user names; `auth` looks them up.
//!
//! A leaf: loading certificates, building acceptors and connectors, and the handshakes
//! themselves, with nothing of the server, the clients or monitoring.
//!
//! Certificates and keys are PEM files read with rustls' own `pki-types` PEM parser. Error
//! texts follow nats-server's (`error parsing X509 certificate/key pair: open x.pem: no such
//! file or directory`).

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, CommonState, DigitallySignedStruct, RootCertStore, ServerConfig};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tracing::{debug, error, info};

use crate::conn::CloseReason;
use crate::options::TlsOptions;

pub mod identity;

pub use identity::CertIdentity;

/// The crypto provider every configuration uses: ring, chosen explicitly so that nothing
/// depends on a process-wide default provider being installed. AES-128-GCM suites come
/// first: servers pick by their own order (see [`server_config`]), and like Go's that order
/// prefers the fastest suite.
fn provider() -> Arc<CryptoProvider> {
    let mut provider = rustls::crypto::ring::default_provider();
    provider
        .cipher_suites
        .sort_by_key(|s| !format!("{:?}", s.suite()).contains("AES_128"));
    Arc::new(provider)
}

/// Go's wording of a file error: `open <path>: no such file or directory`.
fn open_error(path: &Path, err: &io::Error) -> String {
    let what = match err.kind() {
        io::ErrorKind::NotFound => "no such file or directory".to_string(),
        io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => {
            // Drop Rust's " (os error N)" suffix; Go prints the bare reason.
            let text = err.to_string();
            match text.split_once(" (os error") {
                Some((reason, _)) => reason.to_lowercase(),
                None => text,
            }
        }
    };
    format!("open {}: {what}", path.display())
}

fn pem_error(path: &Path, err: rustls::pki_types::pem::Error, input: &str) -> String {
    match err {
        rustls::pki_types::pem::Error::Io(e) => open_error(path, &e),
        rustls::pki_types::pem::Error::NoItemsFound => {
            format!("tls: failed to find any PEM data in {input} input")
        }
        other => format!("tls: {other} in {input} input ({})", path.display()),
    }
}

/// Every certificate of a PEM file (a chain: leaf first).
fn load_certs(path: &Path, input: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(path, e, input))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, e, input))?;
    if certs.is_empty() {
        return Err(format!("tls: failed to find any PEM data in {input} input"));
    }
    Ok(certs)
}

/// The certificate chain and private key of `tls`.
fn load_pair(
    tls: &TlsOptions,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let pair = |e: String| format!("error parsing X509 certificate/key pair: {e}");
    let certs = load_certs(&tls.cert_file, "certificate").map_err(pair)?;
    let key = PrivateKeyDer::from_pem_file(&tls.key_file)
        .map_err(|e| pair(pem_error(&tls.key_file, e, "key")))?;
    Ok((certs, key))
}

/// The CA certificates peers must chain to: `ca_file`, or the system's roots without one
/// (Go's behaviour with a nil pool).
fn load_roots(ca_file: Option<&Path>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| match e {
                    rustls::pki_types::pem::Error::Io(e) => open_error(path, &e),
                    _ => "failed to parse root ca certificate".to_string(),
                })?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| "failed to parse root ca certificate".to_string())?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err("failed to parse root ca certificate".into());
            }
        }
        None => {
            // Unreadable system certificates are skipped, as Go's pool loader does.
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
        }
    }
    Ok(roots)
}

/// Checks that the files of `tls` load (what nats-server does while parsing its options), so
/// `-t` and start-up report a bad certificate with nats-server's message.
pub fn check(tls: &TlsOptions) -> Result<(), String> {
    load_pair(tls)?;
    if let Some(ca) = &tls.ca_file {
        load_roots(Some(ca))?;
    }
    Ok(())
}

/// A server-side configuration: our certificate, and client certificates required and
/// verified when `verify` is set.
fn server_config(tls: &TlsOptions, verify: bool) -> Result<ServerConfig, String> {
    let (certs, key) = load_pair(tls)?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = if verify {
        let roots = load_roots(tls.ca_file.as_deref())?;
        if roots.is_empty() {
            return Err(
                "no CA certificates to verify client certificates with (set ca_file)".into(),
            );
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| format!("error setting up client certificate verification: {e}"))?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("error parsing X509 certificate/key pair: {e}"))?;
    // Our suite order, not the client's (Go servers choose the same way).
    config.ignore_client_order = true;
    Ok(config)
}

/// A client-side configuration for dialling routes: our certificate as the client
/// certificate, the peer verified against `ca_file` unless `insecure`.
fn client_config(tls: &TlsOptions) -> Result<ClientConfig, String> {
    let (certs, key) = load_pair(tls)?;
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = if tls.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServerCert(provider())))
    } else {
        builder.with_root_certificates(load_roots(tls.ca_file.as_deref())?)
    };
    builder
        .with_client_auth_cert(certs, key)
        .map_err(|e| format!("error parsing X509 certificate/key pair: {e}"))
}

/// `insecure: true`: accepts any server certificate (signatures are still checked, so the
/// handshake itself stays sound).
#[derive(Debug)]
struct AnyServerCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Client TLS of a server: built once at start-up from the top-level `tls {}`.
pub struct ClientTls {
    pub(crate) acceptor: TlsAcceptor,
    pub(crate) timeout: Duration,
    /// `verify_and_map`: read the client certificate's names after the handshake.
    pub(crate) map: bool,
}

impl ClientTls {
    /// Loads the certificate (and the CA when verifying clients).
    pub fn new(tls: &TlsOptions) -> Result<ClientTls, String> {
        Ok(ClientTls {
            acceptor: TlsAcceptor::from(Arc::new(server_config(tls, tls.verify)?)),
            timeout: tls.timeout,
            map: tls.map,
        })
    }
}

/// The names of the leaf certificate a client presented (and the handshake verified), for
/// `verify_and_map`. `None` without a certificate; a certificate rustls accepted but that
/// cannot be read here maps to nobody (logged).
pub fn peer_identity(prefix: &str, conn: &CommonState) -> Option<CertIdentity> {
    let certs = conn.peer_certificates()?;
    let leaf = certs.first()?;
    if certs.len() > 1 {
        debug!("{prefix}Multiple peer certificates found, selecting first");
    }
    match CertIdentity::from_der(leaf) {
        Ok(identity) => Some(identity),
        Err(e) => {
            debug!("{prefix}User required in cert, certificate not readable: {e}");
            None
        }
    }
}

/// The acceptor for HTTPS monitoring: the client certificate and key of `tls {}`, without
/// client certificates (nats-server clears client auth for its HTTPS listener). For the
/// monitoring server to wrap the connections it accepts.
pub fn https_acceptor(tls: &TlsOptions) -> Result<TlsAcceptor, String> {
    Ok(TlsAcceptor::from(Arc::new(server_config(tls, false)?)))
}

/// Go's text for a read that hit its deadline.
pub fn timeout_text(local: Option<SocketAddr>, peer: SocketAddr) -> String {
    match local {
        Some(local) => format!("read tcp {local}->{peer}: i/o timeout"),
        None => "i/o timeout".into(),
    }
}

/// The debug lines nats-server logs after a handshake.
pub fn log_established(prefix: &str, conn: &CommonState) {
    debug!("{prefix}TLS handshake complete");
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "1.3".to_string(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "1.2".to_string(),
        Some(other) => format!("{other:?}"),
        None => "unknown".into(),
    };
    let suite = conn
        .negotiated_cipher_suite()
        .map(|s| {
            // rustls names TLS 1.3 suites `TLS13_…`; Go (and the IANA registry) `TLS_…`.
            let name = format!("{:?}", s.suite());
            match name.strip_prefix("TLS13_") {
                Some(rest) => format!("TLS_{rest}"),
                None => name,
            }
        })
        .unwrap_or_else(|| "unknown".into());
    debug!("{prefix}TLS version {version}, cipher suite {suite}");
}

/// Whether the first bytes can start a TLS handshake: a handshake (or alert) record with a
/// plausible version, the test Go's `crypto/tls` makes before "first record does not look
/// like a TLS handshake".
pub fn looks_like_tls(head: &[u8]) -> bool {
    match head {
        [] => true,
        [kind, rest @ ..] if *kind == 0x16 || *kind == 0x15 => {
            rest.len() < 2 || u16::from_be_bytes([rest[0], rest[1]]) < 0x1000
        }
        _ => false,
    }
}

/// The server side of a handshake. Plaintext is refused before rustls sees it, so that, as
/// with nats-server, nothing (not even a TLS alert) is written back; what the client sent is
/// read and dropped so that closing sends a FIN rather than a reset.
pub async fn accept(
    acceptor: &TlsAcceptor,
    tcp: TcpStream,
) -> Result<tokio_rustls::server::TlsStream<TcpStream>, String> {
    let mut head = [0u8; 3];
    let n = tcp.peek(&mut head).await.map_err(|e| e.to_string())?;
    if n == 0 {
        return Err("EOF".into());
    }
    if !looks_like_tls(&head[..n]) {
        let mut sink = [0u8; 4096];
        for _ in 0..16 {
            match tcp.try_read(&mut sink) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        return Err("tls: first record does not look like a TLS handshake".into());
    }
    acceptor.accept(tcp).await.map_err(|e| describe(&e, true))
}

/// A handshake error in nats-server's words where the cause is a common one.
pub fn describe(err: &io::Error, server_side: bool) -> String {
    if err.kind() == io::ErrorKind::UnexpectedEof {
        return "EOF".into();
    }
    let Some(tls) = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return err.to_string();
    };
    match tls {
        rustls::Error::NoCertificatesPresented => "tls: client didn't provide a certificate".into(),
        rustls::Error::InvalidCertificate(cert) => {
            let reason = match cert {
                rustls::CertificateError::UnknownIssuer => {
                    "x509: certificate signed by unknown authority".to_string()
                }
                rustls::CertificateError::Expired
                | rustls::CertificateError::ExpiredContext { .. }
                | rustls::CertificateError::NotValidYet
                | rustls::CertificateError::NotValidYetContext { .. } => {
                    "x509: certificate has expired or is not yet valid".to_string()
                }
                other => format!("x509: {other}"),
            };
            if server_side {
                format!("tls: failed to verify client certificate: {reason}")
            } else {
                format!("tls: failed to verify certificate: {reason}")
            }
        }
        rustls::Error::AlertReceived(alert) => {
            let name = format!("{alert:?}");
            // `BadCertificate` → `bad certificate`, Go's alert text.
            let mut words = String::new();
            for (i, c) in name.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    words.push(' ');
                }
                words.push(c.to_ascii_lowercase());
            }
            format!("remote error: tls: {words}")
        }
        other => format!("tls: {other}"),
    }
}

/// Route TLS of a server: the acceptor (client certificates required and verified) and the
/// connector (our certificate as client certificate, the peer verified) of `cluster { tls }`.
pub struct RouteTls {
    acceptor: TlsAcceptor,
    connector: TlsConnector,
    timeout: Duration,
}

impl RouteTls {
    /// Loads the certificate and the CA.
    pub fn new(tls: &TlsOptions) -> Result<RouteTls, String> {
        Ok(RouteTls {
            acceptor: TlsAcceptor::from(Arc::new(server_config(tls, true)?)),
            connector: TlsConnector::from(Arc::new(client_config(tls)?)),
            timeout: tls.timeout,
        })
    }
}

/// A route connection's stream: plain TCP, or TLS (either side). One type, so the dial and
/// accept paths stay single; tokio-util's `Either` forwards reads and writes to the side in use.
pub type MaybeTls = tokio_util::either::Either<TcpStream, Box<tokio_rustls::TlsStream<TcpStream>>>;

fn route_prefix(peer: SocketAddr, rid: u64) -> String {
    format!("{peer} - rid:{rid} - ")
}

/// The accepting side of a route: the TLS server handshake when cluster TLS is configured
/// (before any INFO, as nats-server does). `None`: the handshake failed and was logged.
pub async fn accept_route(
    tls: Option<&RouteTls>,
    tcp: TcpStream,
    peer: SocketAddr,
    rid: u64,
) -> Option<MaybeTls> {
    let Some(tls) = tls else {
        return Some(tokio_util::either::Either::Left(tcp));
    };
    let prefix = route_prefix(peer, rid);
    debug!("{prefix}Starting TLS route server handshake");
    let local = tcp.local_addr().ok();
    match tokio::time::timeout(tls.timeout, accept(&tls.acceptor, tcp)).await {
        Ok(Ok(stream)) => {
            log_established(&prefix, stream.get_ref().1);
            Some(tokio_util::either::Either::Right(Box::new(stream.into())))
        }
        Ok(Err(e)) => {
            route_failed(&prefix, &e);
            None
        }
        Err(_) => {
            route_failed(&prefix, &timeout_text(local, peer));
            error!("{prefix}TLS handshake timeout");
            None
        }
    }
}

/// The dialling side of a route: the TLS client handshake when cluster TLS is configured,
/// verifying the peer for `host` (the host of the route URL). `None`: it failed and was
/// logged; the dial loop tries again later.
pub async fn connect_route(
    tls: Option<&RouteTls>,
    tcp: TcpStream,
    host: &str,
    peer: SocketAddr,
    rid: u64,
) -> Option<MaybeTls> {
    let Some(tls) = tls else {
        return Some(tokio_util::either::Either::Left(tcp));
    };
    let prefix = route_prefix(peer, rid);
    debug!("{prefix}Starting TLS route client handshake");
    let name = host.trim_start_matches('[').trim_end_matches(']');
    let name = match ServerName::try_from(name.to_string()) {
        Ok(name) => name,
        Err(e) => {
            route_failed(&prefix, &format!("invalid server name {host:?}: {e}"));
            return None;
        }
    };
    let local = tcp.local_addr().ok();
    let handshake = tls.connector.connect(name, tcp);
    match tokio::time::timeout(tls.timeout, handshake).await {
        Ok(Ok(stream)) => {
            log_established(&prefix, stream.get_ref().1);
            Some(tokio_util::either::Either::Right(Box::new(stream.into())))
        }
        Ok(Err(e)) => {
            route_failed(&prefix, &describe(&e, false));
            None
        }
        Err(_) => {
            route_failed(&prefix, &timeout_text(local, peer));
            error!("{prefix}TLS handshake timeout");
            None
        }
    }
}

fn route_failed(prefix: &str, reason: &str) {
    error!("{prefix}TLS route handshake error: {reason}");
    info!(
        "{prefix}Router connection closed: {}",
        CloseReason::TlsHandshakeFailure
    );
}

/// The host part of a route URL's `host:port` (IPv6 brackets removed).
pub fn host_of(host_port: &str) -> &str {
    let host = host_port
        .rsplit_once(':')
        .map_or(host_port, |(host, _)| host);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// A TLS configuration built at start-up, if one is configured; a failure is logged as
/// nats-server's fatal line and stops the start.
pub fn loaded<T, E: std::fmt::Display>(
    built: Option<Result<T, E>>,
) -> std::io::Result<Option<Arc<T>>> {
    match built {
        Some(Ok(tls)) => Ok(Some(Arc::new(tls))),
        Some(Err(e)) => {
            tracing::error!(target: "fatal", "{e}");
            Err(std::io::Error::other(e.to_string()))
        }
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_is_told_from_a_handshake() {
        assert!(looks_like_tls(&[0x16, 0x03, 0x01]));
        assert!(looks_like_tls(&[0x16]));
        assert!(looks_like_tls(&[0x15, 0x03, 0x03]));
        assert!(!looks_like_tls(b"CON"));
        assert!(!looks_like_tls(b"PIN"));
        assert!(!looks_like_tls(&[0x16, 0x20, 0x00]));
    }

    #[test]
    fn file_errors_read_like_go() {
        let tls = TlsOptions::new("/nonexistent/c.pem".into(), "/nonexistent/k.pem".into());
        assert_eq!(
            check(&tls).expect_err("missing files"),
            "error parsing X509 certificate/key pair: open /nonexistent/c.pem: no such file or directory"
        );
    }

    #[test]
    fn route_hosts() {
        assert_eq!(host_of("127.0.0.1:6222"), "127.0.0.1");
        assert_eq!(host_of("[::1]:6222"), "::1");
        assert_eq!(host_of("nats.example:6222"), "nats.example");
    }
}
