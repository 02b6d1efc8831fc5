//! TLS for the tools: `tls://` URLs, servers whose `INFO` says `tls_required`, and the
//! `--tlscert`/`--tlskey`/`--tlscacert` flags (nats.go's `ClientCert` and `RootCAs`).
//!
//! The rules are nats.go's: the TLS handshake starts right after the server's plaintext
//! `INFO`; TLS is used when the URL is `tls://`, when any TLS file was given (nats.go's
//! `Secure`), or when the server requires it; asking for TLS from a server that offers none
//! fails with `nats: secure connection not available`. The server certificate is verified
//! for the URL's host against `--tlscacert`, or the system's CA certificates without it.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::Error;

/// The TLS files given on the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// CA certificates (PEM) the server's certificate must chain to.
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) to present, with `key_file`.
    pub cert_file: Option<PathBuf>,
    /// Private key (PEM) of `cert_file`.
    pub key_file: Option<PathBuf>,
}

impl TlsFiles {
    /// Whether any file was given (which makes the client insist on TLS).
    pub fn any(&self) -> bool {
        self.ca_file.is_some() || self.cert_file.is_some() || self.key_file.is_some()
    }
}

/// How connections secure themselves: the files, and the rustls configuration built from
/// them (once, on first use: a client that never meets a TLS server never reads the system's
/// CA certificates).
#[derive(Clone, Default)]
pub struct TlsSetup {
    files: TlsFiles,
    config: Arc<OnceLock<Result<Arc<ClientConfig>, String>>>,
}

impl fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSetup")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl TlsSetup {
    /// A setup for these files. Given files are loaded now, so a wrong path is reported
    /// before any server is contacted.
    pub fn new(files: TlsFiles) -> Result<TlsSetup, Error> {
        if files.cert_file.is_some() != files.key_file.is_some() {
            return Err(Error::Tls(
                "--tlscert and --tlskey must be given together".into(),
            ));
        }
        let setup = TlsSetup {
            files,
            config: Arc::default(),
        };
        if setup.files.any() {
            setup.config()?;
        }
        Ok(setup)
    }

    /// Whether TLS was asked for (any TLS file given).
    pub fn wanted(&self) -> bool {
        self.files.any()
    }

    fn config(&self) -> Result<Arc<ClientConfig>, Error> {
        self.config
            .get_or_init(|| build_config(&self.files).map(Arc::new))
            .clone()
            .map_err(Error::Tls)
    }

    /// The TLS client handshake on `tcp`, verifying the server's certificate for `host`.
    pub async fn upgrade(&self, tcp: TcpStream, host: &str) -> Result<TlsStream<TcpStream>, Error> {
        let config = self.config()?;
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| Error::Tls(format!("invalid server name {host:?}: {e}")))?;
        TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| Error::Tls(describe(&e)))
    }
}

/// Go's wording of a file error: `open <path>: no such file or directory`.
pub(crate) fn open_error(path: &Path, err: &io::Error) -> String {
    let what = match err.kind() {
        io::ErrorKind::NotFound => "no such file or directory".to_string(),
        io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => err.to_string(),
    };
    format!("open {}: {what}", path.display())
}

fn pem_error(path: &Path, err: rustls::pki_types::pem::Error) -> String {
    match err {
        rustls::pki_types::pem::Error::Io(e) => open_error(path, &e),
        rustls::pki_types::pem::Error::NoItemsFound => {
            format!("no PEM data found in {}", path.display())
        }
        other => format!("{}: {other}", path.display()),
    }
}

fn build_config(files: &TlsFiles) -> Result<ClientConfig, String> {
    let mut roots = RootCertStore::empty();
    match &files.ca_file {
        Some(path) => {
            let load = || -> Result<Vec<CertificateDer<'static>>, String> {
                CertificateDer::pem_file_iter(path)
                    .map_err(|e| pem_error(path, e))?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| pem_error(path, e))
            };
            let certs = load().map_err(|e| format!("error loading or parsing rootCA file: {e}"))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!(
                    "error loading or parsing rootCA file: no certificates in {}",
                    path.display()
                ));
            }
        }
        None => {
            // Unreadable system certificates are skipped, as Go's pool loader does.
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    match (&files.cert_file, &files.key_file) {
        (Some(cert), Some(key)) => {
            let client = |e: String| format!("error loading client certificate: {e}");
            let chain = CertificateDer::pem_file_iter(cert)
                .map_err(|e| client(pem_error(cert, e)))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| client(pem_error(cert, e)))?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| client(pem_error(key, e)))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| client(e.to_string()))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

/// The TLS reason behind a socket error, if TLS caused it (a server that refused our
/// certificate says so with an alert, which arrives only after the handshake in TLS 1.3).
pub(crate) fn tls_failure(err: &io::Error) -> Option<String> {
    err.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .map(|_| describe(err))
}

/// A handshake error, in Go's words for the common causes.
fn describe(err: &io::Error) -> String {
    if err.kind() == io::ErrorKind::UnexpectedEof {
        return "EOF".into();
    }
    match err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)) => {
            "x509: certificate signed by unknown authority".into()
        }
        Some(rustls::Error::InvalidCertificate(other)) => format!("x509: {other}"),
        Some(rustls::Error::AlertReceived(alert)) => {
            // `CertificateRequired` → `certificate required`, Go's alert text.
            let mut words = String::new();
            for (i, c) in format!("{alert:?}").chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    words.push(' ');
                }
                words.push(c.to_ascii_lowercase());
            }
            format!("remote error: tls: {words}")
        }
        Some(other) => format!("tls: {other}"),
        None => err.to_string(),
    }
}

/// A connection's byte stream: TCP (`Left`, and every connection until the server's `INFO` is
/// read), or TLS over TCP after the upgrade (`Right`); tokio-util's `Either` forwards reads and
/// writes to the side in use.
pub type Transport = tokio_util::either::Either<TcpStream, Box<TlsStream<TcpStream>>>;

/// Throwaway certificates for the tools' TLS tests (feature `testkit`); like tests, they may
/// fail loudly.
#[cfg(feature = "testkit")]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub mod test_pki {
    use std::net::{IpAddr, Ipv4Addr};
    use std::path::PathBuf;

    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair, KeyUsagePurpose, SanType,
    };

    /// A CA, a server certificate for `localhost`/`127.0.0.1`, a client certificate, and a
    /// second CA that signed nothing we trust, as PEM files in a temporary directory
    /// (removed on drop).
    pub struct Pki {
        dir: PathBuf,
        /// The CA certificate.
        pub ca: PathBuf,
        /// Server certificate and key.
        pub server_cert: PathBuf,
        /// Server key.
        pub server_key: PathBuf,
        /// Client certificate (signed by `ca`).
        pub client_cert: PathBuf,
        /// Client key.
        pub client_key: PathBuf,
        /// A CA that signed neither certificate.
        pub other_ca: PathBuf,
    }

    fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("CA")
    }

    fn leaf(
        issuer: &CertifiedIssuer<'static, KeyPair>,
        usage: ExtendedKeyUsagePurpose,
    ) -> (String, String) {
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
        params
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, issuer).expect("certificate");
        (cert.pem(), key.serialize_pem())
    }

    impl Pki {
        /// Generates everything into a fresh temporary directory.
        pub fn new() -> Pki {
            let dir = crate::testkit::temp_dir("nats-cli-pki");
            let write = |name: &str, pem: &str| {
                let path = dir.join(name);
                std::fs::write(&path, pem).expect("write PEM");
                path
            };
            let good = ca("nats-cli test CA");
            let (server_cert, server_key) = leaf(&good, ExtendedKeyUsagePurpose::ServerAuth);
            let (client_cert, client_key) = leaf(&good, ExtendedKeyUsagePurpose::ClientAuth);
            Pki {
                ca: write("ca.pem", &good.pem()),
                server_cert: write("server.pem", &server_cert),
                server_key: write("server-key.pem", &server_key),
                client_cert: write("client.pem", &client_cert),
                client_key: write("client-key.pem", &client_key),
                other_ca: write("other-ca.pem", &ca("unrelated CA").pem()),
                dir,
            }
        }

        /// `path` as a string argument.
        pub fn arg(path: &std::path::Path) -> String {
            path.to_string_lossy().into_owned()
        }

        /// The tools' flags for a client that trusts `ca` and presents the client
        /// certificate: `--tlscacert … --tlscert … --tlskey …`.
        pub fn client_flags(&self) -> Vec<String> {
            vec![
                "--tlscacert".to_string(),
                Pki::arg(&self.ca),
                "--tlscert".into(),
                Pki::arg(&self.client_cert),
                "--tlskey".into(),
                Pki::arg(&self.client_key),
            ]
        }

        /// Server flags (gnatsd and nats-server alike) for TLS with the server certificate:
        /// `--tls --tlscert … --tlskey …`, plus `--tlsverify --tlscacert …` when `verify`
        /// (client certificates signed by `ca` required).
        pub fn server_flags(&self, verify: bool) -> Vec<String> {
            let mut flags = vec![
                "--tls".to_string(),
                "--tlscert".into(),
                Pki::arg(&self.server_cert),
                "--tlskey".into(),
                Pki::arg(&self.server_key),
            ];
            if verify {
                flags.extend([
                    "--tlsverify".into(),
                    "--tlscacert".into(),
                    Pki::arg(&self.ca),
                ]);
            }
            flags
        }
    }

    impl Default for Pki {
        fn default() -> Self {
            Pki::new()
        }
    }

    impl Drop for Pki {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_checked_up_front() {
        assert!(!TlsSetup::default().wanted());
        let half = TlsFiles {
            cert_file: Some("c.pem".into()),
            ..TlsFiles::default()
        };
        let err = TlsSetup::new(half).expect_err("cert without key");
        assert!(err.to_string().contains("--tlskey"), "{err}");
        let missing = TlsFiles {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..TlsFiles::default()
        };
        let err = TlsSetup::new(missing).expect_err("missing CA");
        assert_eq!(
            err.to_string(),
            "nats: error loading or parsing rootCA file: open /nonexistent/ca.pem: no such file or directory"
        );
    }
}
