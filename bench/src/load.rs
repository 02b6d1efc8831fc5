//! A raw-protocol load generator: publishers and subscribers on loopback writing and reading
//! NATS protocol bytes directly, so the numbers measure the server, not a client library.
//! Used by the `compare` binary and the end-to-end criterion bench.
//!
//! Connections are plain TCP or, with a [`Tls`] configuration (see [`TlsFiles`]), TLS the
//! way NATS 2.9 does it: the server's `INFO` line in plaintext, then the handshake, then
//! everything else encrypted. Subscribers can also be websocket clients (see
//! [`run_websocket`]): an HTTP upgrade, then NATS protocol bytes in masked binary frames out
//! and the server's frames decoded back into a byte stream in.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// One load scenario.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// Name shown in reports.
    pub name: &'static str,
    /// Payload size in bytes.
    pub payload: usize,
    /// Publishing connections (the messages are split between them).
    pub publishers: usize,
    /// Subscribers on the subject (0: publish only).
    pub subscribers: usize,
    /// Subscribers form one queue group (each message goes to one of them).
    pub queue: bool,
    /// Messages published in total.
    pub messages: usize,
    /// Accounts the subscribers are spread over (0: everyone in the global account). With
    /// accounts, publishers log in as `exporter` and subscriber `i` as `importer<i % n>`: see
    /// [`accounts_config`] for the configuration that makes such a server.
    pub accounts: usize,
}

impl Scenario {
    /// `publishers` → `subscribers` plain fan-out.
    pub fn new(
        name: &'static str,
        payload: usize,
        publishers: usize,
        subscribers: usize,
        messages: usize,
    ) -> Scenario {
        Scenario {
            name,
            payload,
            publishers,
            subscribers,
            queue: false,
            messages,
            accounts: 0,
        }
    }

    /// The subscribers are spread over `n` accounts that each import the publishers'
    /// subject from the exporting account.
    pub fn in_accounts(self, n: usize) -> Scenario {
        Scenario {
            accounts: n,
            ..self
        }
    }

    /// The subscribers form one queue group.
    pub fn queue_group(self) -> Scenario {
        Scenario {
            queue: true,
            ..self
        }
    }
}

/// The outcome of one run.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    /// Wall time from the first published byte to the last expected byte received.
    pub elapsed: Duration,
    /// Messages published per second.
    pub msgs_per_sec: f64,
}

/// Client TLS settings: the roots the load generator trusts. Servers are always reached as
/// `127.0.0.1`, so their certificate needs that IP address among its names.
#[derive(Debug, Clone)]
pub struct Tls {
    config: Arc<ClientConfig>,
}

impl Tls {
    /// Trusts certificates issued by `ca` (and nothing else: no system roots, so a wrong
    /// certificate fails the run instead of being measured).
    pub fn trusting(ca: CertificateDer<'static>) -> std::io::Result<Tls> {
        let mut roots = RootCertStore::empty();
        roots.add(ca).map_err(std::io::Error::other)?;
        // The ring provider explicitly: nothing installs a process-wide default. The servers
        // pick the suite (both prefer TLS_AES_128_GCM_SHA256), so the client's order is moot.
        let config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(std::io::Error::other)?
                .with_root_certificates(roots)
                .with_no_client_auth();
        Ok(Tls {
            config: Arc::new(config),
        })
    }
}

/// A throwaway CA and a server certificate it signed (for `localhost` and `127.0.0.1`), the
/// certificate and key written as PEM files for the servers' `--tlscert`/`--tlskey`. The
/// directory is removed on drop.
#[derive(Debug)]
pub struct TlsFiles {
    dir: PathBuf,
    /// Server certificate PEM.
    pub cert: PathBuf,
    /// Server private key PEM.
    pub key: PathBuf,
    /// A client configuration trusting the CA.
    pub tls: Tls,
}

impl TlsFiles {
    /// Generates the CA and certificate into a fresh directory under the system temp dir.
    pub fn generate() -> std::io::Result<TlsFiles> {
        let (ca, cert_pem, key_pem) = issue().map_err(std::io::Error::other)?;
        let tls = Tls::trusting(ca)?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("gnatsd-bench-tls-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        // Owned from here on, so a failed write still removes the directory.
        let files = TlsFiles {
            cert: dir.join("server.pem"),
            key: dir.join("server-key.pem"),
            dir,
            tls,
        };
        std::fs::write(&files.cert, cert_pem)?;
        std::fs::write(&files.key, key_pem)?;
        Ok(files)
    }

    /// The server flags enabling TLS with this certificate (the same for gnatsd and
    /// nats-server).
    pub fn server_args(&self) -> Vec<String> {
        vec![
            "--tls".into(),
            "--tlscert".into(),
            self.cert.to_string_lossy().into_owned(),
            "--tlskey".into(),
            self.key.to_string_lossy().into_owned(),
        ]
    }
}

impl Drop for TlsFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A CA, and a server certificate it signed: `(CA DER, certificate PEM, key PEM)`. A real
/// chain rather than a self-signed leaf, because webpki refuses a leaf as its own anchor.
fn issue() -> Result<(CertificateDer<'static>, String, String), rcgen::Error> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "gnatsd bench CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
    let mut params = CertificateParams::new(vec!["localhost".to_string()])?;
    params
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    params.distinguished_name.push(DnType::CommonName, "server");
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &ca)?;
    Ok((ca.der().clone(), cert.pem(), key.serialize_pem()))
}

/// One client connection, plain or TLS. Boxed TLS state: it is large and moves into threads.
enum Conn {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
    Ws(Box<WsConn>),
}

/// How a connection reaches the server.
#[derive(Clone, Copy)]
enum Via<'a> {
    /// The NATS client port, plain or (with `Some`) TLS.
    Nats(Option<&'a Tls>),
    /// The websocket port, plain (`no_tls`), uncompressed.
    Websocket,
}

impl Conn {
    /// Connects to `port` on loopback, with `read_timeout` on the socket. With `tls`, reads
    /// the plaintext `INFO` line and completes the handshake, so the first read after this
    /// sees whatever the server sends next; without, `INFO` is left to be read.
    fn open(port: u16, tls: Option<&Tls>, read_timeout: Duration) -> std::io::Result<Conn> {
        let mut sock = TcpStream::connect(("127.0.0.1", port))?;
        sock.set_nodelay(true)?;
        sock.set_read_timeout(Some(read_timeout))?;
        let Some(tls) = tls else {
            return Ok(Conn::Plain(sock));
        };
        let info = read_info_line(&mut sock)?;
        if !info.windows(19).any(|w| w == b"\"tls_required\":true") {
            return Err(std::io::Error::other("server INFO does not require TLS"));
        }
        let name = ServerName::from(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let mut conn =
            ClientConnection::new(tls.config.clone(), name).map_err(std::io::Error::other)?;
        // Handshake now rather than on first use: failures surface here, not as a short run.
        while conn.is_handshaking() {
            conn.complete_io(&mut sock)?;
        }
        Ok(Conn::Tls(Box::new(StreamOwned::new(conn, sock))))
    }

    /// Connects to `port` the way `via` says (see [`Conn::open`] and [`WsConn::open`]).
    fn dial(port: u16, via: Via<'_>, read_timeout: Duration) -> std::io::Result<Conn> {
        match via {
            Via::Nats(tls) => Conn::open(port, tls, read_timeout),
            Via::Websocket => Ok(Conn::Ws(Box::new(WsConn::open(port, read_timeout)?))),
        }
    }

    fn socket(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(s) => s.get_ref(),
            Conn::Ws(s) => &s.sock,
        }
    }

    /// Sets the read timeout of the underlying socket (TLS reads time out with it).
    fn set_read_timeout(&self, timeout: Option<Duration>) -> std::io::Result<()> {
        self.socket().set_read_timeout(timeout)
    }

    /// The negotiated TLS cipher suite, `None` on a plain connection.
    fn cipher_suite(&self) -> Option<String> {
        match self {
            Conn::Plain(_) | Conn::Ws(_) => None,
            Conn::Tls(s) => s
                .conn
                .negotiated_cipher_suite()
                .map(|suite| format!("{:?}", suite.suite())),
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
            Conn::Ws(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
            Conn::Ws(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
            Conn::Ws(s) => s.sock.flush(),
        }
    }
}

/// A websocket client connection after the upgrade. Reads return the payload bytes of the
/// server's data frames as one continuous stream (frame boundaries fall anywhere, mid-`MSG`
/// included); control frames are consumed (a ping is answered, a close ends the stream).
/// Each write is sent as one masked binary frame.
struct WsConn {
    sock: TcpStream,
    /// Bytes read from the socket and not yet decoded: `raw[start..end]` (`raw` is
    /// [`WS_READ_CHUNK`] long).
    raw: Vec<u8>,
    start: usize,
    end: usize,
    /// Payload bytes of the current data frame not yet handed out.
    left: u64,
    /// State of the masking-key generator (xorshift; the server only needs a key, not a
    /// secret one).
    key: u32,
}

/// The fixed upgrade key, RFC 6455's own sample.
const WS_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
/// Largest upgrade response accepted.
const WS_MAX_RESPONSE: usize = 16 * 1024;
/// Bytes asked of the socket per read while decoding.
const WS_READ_CHUNK: usize = 256 * 1024;

impl WsConn {
    /// Connects to the websocket port `port` on loopback and upgrades (no compression
    /// offered). Bytes the server sent after the `101` response (its `INFO` frame) are kept
    /// for the first read.
    fn open(port: u16, read_timeout: Duration) -> std::io::Result<WsConn> {
        let mut sock = TcpStream::connect(("127.0.0.1", port))?;
        sock.set_nodelay(true)?;
        sock.set_read_timeout(Some(read_timeout))?;
        sock.write_all(
            format!(
                "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            .as_bytes(),
        )?;
        let mut response = Vec::with_capacity(1024);
        let mut buf = [0u8; 4096];
        let deadline = Instant::now() + read_timeout.max(Duration::from_secs(1));
        let end = loop {
            if let Some(i) = response.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if response.len() > WS_MAX_RESPONSE || Instant::now() >= deadline {
                return Err(std::io::Error::other(
                    "no complete websocket upgrade response",
                ));
            }
            let n = sock.read(&mut buf)?;
            if n == 0 {
                return Err(std::io::Error::other("closed during websocket upgrade"));
            }
            response.extend_from_slice(&buf[..n]);
        };
        if !response.starts_with(b"HTTP/1.1 101") {
            let status = response.split(|b| *b == b'\r').next().unwrap_or_default();
            return Err(std::io::Error::other(format!(
                "websocket upgrade refused: {}",
                String::from_utf8_lossy(status)
            )));
        }
        let after = &response[end..];
        let mut raw = vec![0u8; WS_READ_CHUNK.max(after.len())];
        raw[..after.len()].copy_from_slice(after);
        Ok(WsConn {
            sock,
            raw,
            start: 0,
            end: after.len(),
            left: 0,
            key: 0x9e37_79b9 ^ u32::from(port),
        })
    }

    fn next_key(&mut self) -> [u8; 4] {
        self.key ^= self.key << 13;
        self.key ^= self.key >> 17;
        self.key ^= self.key << 5;
        self.key.to_be_bytes()
    }

    /// Sends one masked frame with `opcode` (FIN set).
    fn send_frame(&mut self, opcode: u8, payload: &[u8]) -> std::io::Result<()> {
        let key = self.next_key();
        let frame = nats_proto::ws::client_frame(0x80 | opcode, payload, key);
        self.sock.write_all(&frame)
    }

    /// Reads more raw bytes from the socket after the undecoded ones (moved to the front:
    /// only called with less than a header or control frame left, at most 135 bytes);
    /// `Ok(false)` at end of stream.
    fn fill(&mut self) -> std::io::Result<bool> {
        self.raw.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        if self.end == self.raw.len() {
            return Err(std::io::Error::other("websocket read buffer full"));
        }
        let n = self.sock.read(&mut self.raw[self.end..])?;
        self.end += n;
        Ok(n > 0)
    }

    /// Decodes the frame header at `raw[start..]`: `Some((header length, opcode, payload
    /// length))`, `None` if it is not all there yet.
    fn header(&self) -> std::io::Result<Option<(usize, u8, u64)>> {
        let h = &self.raw[self.start..self.end];
        let (Some(&b0), Some(&b1)) = (h.first(), h.get(1)) else {
            return Ok(None);
        };
        if b1 & 0x80 != 0 {
            return Err(std::io::Error::other(
                "server sent a masked websocket frame",
            ));
        }
        if b0 & 0x70 != 0 {
            return Err(std::io::Error::other(
                "compressed or reserved-bit websocket frame (compression was not offered)",
            ));
        }
        let (len, header) = match b1 & 0x7f {
            126 => match h.get(2..4) {
                Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
                None => return Ok(None),
            },
            127 => match h.get(2..10).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
                Some(b) => (u64::from_be_bytes(b), 10),
                None => return Ok(None),
            },
            n => (u64::from(n), 2),
        };
        Ok(Some((header, b0 & 0x0f, len)))
    }
}

impl Read for WsConn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        // Each pass hands out bytes, consumes a frame header or control frame, or reads the
        // socket (bounded by its read timeout); a run of empty or control frames this long
        // is not a server worth measuring.
        for _ in 0..100_000 {
            if self.left > 0 {
                let buffered = self.end - self.start;
                let want = usize::try_from(self.left)
                    .unwrap_or(usize::MAX)
                    .min(buf.len());
                if buffered == 0 {
                    // Nothing buffered: read the frame's payload straight into `buf`.
                    let n = self.sock.read(&mut buf[..want])?;
                    self.left -= n as u64;
                    return Ok(n);
                }
                let n = want.min(buffered);
                buf[..n].copy_from_slice(&self.raw[self.start..self.start + n]);
                self.start += n;
                self.left -= n as u64;
                return Ok(n);
            }
            let Some((header, opcode, len)) = self.header()? else {
                if !self.fill()? {
                    return Ok(0);
                }
                continue;
            };
            match opcode {
                // Continuation, text, binary: the payload is part of the stream.
                0x0..=0x2 => {
                    self.start += header;
                    self.left = len;
                }
                // Close, ping, pong: whole (at most 125 bytes) before acting on them.
                0x8..=0xa => {
                    if len > 125 {
                        return Err(std::io::Error::other("oversized websocket control frame"));
                    }
                    let total = header + len as usize;
                    if self.end - self.start < total {
                        if !self.fill()? {
                            return Ok(0);
                        }
                        continue;
                    }
                    let payload = self.raw[self.start + header..self.start + total].to_vec();
                    self.start += total;
                    match opcode {
                        0x8 => return Ok(0),
                        0x9 => self.send_frame(0xa, &payload)?,
                        _ => {}
                    }
                }
                other => {
                    return Err(std::io::Error::other(format!(
                        "unknown websocket opcode {other:#x}"
                    )))
                }
            }
        }
        Err(std::io::Error::other("websocket stream made no progress"))
    }
}

impl Write for WsConn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.send_frame(0x2, buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.sock.flush()
    }
}

/// Reads the plaintext `INFO ...\r\n` line a byte at a time: anything read past the `\n`
/// would belong to the TLS handshake.
fn read_info_line(sock: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut line = Vec::with_capacity(512);
    let mut byte = [0u8; 1];
    while line.last() != Some(&b'\n') {
        if line.len() > 64 * 1024 {
            return Err(std::io::Error::other("INFO line too long"));
        }
        if sock.read(&mut byte)? == 0 {
            return Err(std::io::Error::other("closed before INFO"));
        }
        line.push(byte[0]);
    }
    if !line.starts_with(b"INFO ") {
        return Err(std::io::Error::other("expected INFO"));
    }
    Ok(line)
}

const CONNECT: &[u8] = b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\n";

/// A server configuration for [`Scenario::in_accounts`]: an account `EXPORTER` (user
/// `exporter`) exporting the load subject, and `n` accounts `IMPORTER<i>` (user
/// `importer<i>`) importing it; passwords equal the user names. Clients without credentials
/// (the readiness probe) are `exporter` (`no_auth_user`).
pub fn accounts_config(n: usize) -> String {
    let mut conf = format!(
        "accounts {{\n  EXPORTER {{ users: [{{user: exporter, password: exporter}}], exports: [{{stream: {SUBJECT}}}] }}\n"
    );
    for i in 0..n {
        conf.push_str(&format!(
            "  IMPORTER{i} {{ users: [{{user: importer{i}, password: importer{i}}}], imports: [{{stream: {{account: EXPORTER, subject: {SUBJECT}}}}}] }}\n"
        ));
    }
    conf.push_str("}\nno_auth_user: exporter\n");
    conf
}

/// A server configuration adding a plaintext, uncompressed websocket listener on
/// `127.0.0.1:port` (for `-c`; the client port comes from `-a`/`-p`).
pub fn websocket_config(port: u16) -> String {
    format!("websocket {{\n  host: 127.0.0.1\n  port: {port}\n  no_tls: true\n}}\n")
}

/// Connects (`via`) and logs in as `user` (password = name), or anonymously.
fn connect_as(port: u16, via: Via<'_>, user: Option<&str>) -> std::io::Result<Conn> {
    match user {
        None => connect_via(port, via),
        Some(user) => {
            let mut s = Conn::dial(port, via, Duration::from_secs(30))?;
            s.write_all(
                format!(
                    "CONNECT {{\"verbose\":false,\"pedantic\":false,\"user\":\"{user}\",\"pass\":\"{user}\"}}\r\n"
                )
                .as_bytes(),
            )?;
            Ok(s)
        }
    }
}
const SUBJECT: &str = "bench.subject";

fn connect(port: u16, tls: Option<&Tls>) -> std::io::Result<Conn> {
    connect_via(port, Via::Nats(tls))
}

fn connect_via(port: u16, via: Via<'_>) -> std::io::Result<Conn> {
    let mut s = Conn::dial(port, via, Duration::from_secs(30))?;
    s.write_all(CONNECT)?;
    Ok(s)
}

/// Sends PING and reads until PONG (skipping INFO and anything else before it).
fn sync(s: &mut Conn) -> std::io::Result<()> {
    s.write_all(b"PING\r\n")?;
    read_until_pong(s)
}

/// Reads until PONG, skipping anything before it (bounded in time).
pub(crate) fn read_until_pong(s: &mut impl Read) -> std::io::Result<()> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buf[..n]);
        if seen.windows(6).any(|w| w == b"PONG\r\n") {
            return Ok(());
        }
    }
    Err(std::io::Error::other("no PONG"))
}

/// Waits until `port` accepts connections and answers PING (bounded). With `tls`, for a
/// server requiring TLS: the handshake must succeed too.
pub fn wait_ready(port: u16, timeout: Duration, tls: Option<&Tls>) -> bool {
    wait_ready_via(port, timeout, Via::Nats(tls))
}

/// Waits until the websocket port `port` upgrades a connection and answers PING over it
/// (bounded).
pub fn wait_ready_websocket(port: u16, timeout: Duration) -> bool {
    wait_ready_via(port, timeout, Via::Websocket)
}

fn wait_ready_via(port: u16, timeout: Duration, via: Via<'_>) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        // A short read timeout: a server that accepts but never answers must not hold this
        // loop past its deadline.
        if let Ok(mut s) = Conn::dial(port, via, Duration::from_secs(1)) {
            if sync(&mut s).is_ok() {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// The TLS cipher suite the server on `port` negotiates with this client, e.g.
/// `TLS13_AES_128_GCM_SHA256`: a TLS comparison only means something if it is the same.
pub fn tls_cipher_suite(port: u16, tls: &Tls) -> std::io::Result<String> {
    let s = Conn::open(port, Some(tls), Duration::from_secs(10))?;
    s.cipher_suite()
        .ok_or_else(|| std::io::Error::other("no cipher suite negotiated"))
}

/// Runs `scenario` against the server on `port`; with `tls`, every publisher and subscriber
/// connection is a TLS connection.
pub fn run(port: u16, scenario: Scenario, tls: Option<&Tls>) -> std::io::Result<Outcome> {
    run_between(port, port, scenario, tls)
}

/// Runs `scenario` with the publishers on `pub_port` and the subscribers on `sub_port` (two
/// routed servers when they differ); over TLS with `tls`.
pub fn run_between(
    pub_port: u16,
    sub_port: u16,
    scenario: Scenario,
    tls: Option<&Tls>,
) -> std::io::Result<Outcome> {
    let routed = pub_port != sub_port;
    run_via(
        (pub_port, Via::Nats(tls)),
        (sub_port, Via::Nats(tls)),
        routed,
        scenario,
    )
}

/// Runs `scenario` on one server with the publishers plain NATS clients on `pub_port` and
/// the subscribers websocket clients (uncompressed) on its websocket port `ws_port`.
pub fn run_websocket(pub_port: u16, ws_port: u16, scenario: Scenario) -> std::io::Result<Outcome> {
    run_via(
        (pub_port, Via::Nats(None)),
        (ws_port, Via::Websocket),
        false,
        scenario,
    )
}

/// Runs `scenario` with the publishers connecting to `publish` and the subscribers to
/// `subscribe` (port and transport); `routed`: two routed servers, so the subscribers'
/// interest is awaited on the publishers' side first.
fn run_via(
    publish: (u16, Via<'_>),
    subscribe: (u16, Via<'_>),
    routed: bool,
    scenario: Scenario,
) -> std::io::Result<Outcome> {
    let mut frame = format!("PUB {SUBJECT} {}\r\n", scenario.payload).into_bytes();
    frame.extend_from_slice(&vec![b'x'; scenario.payload]);
    frame.extend_from_slice(b"\r\n");
    let msg_len = format!("MSG {SUBJECT} 1 {}\r\n", scenario.payload).len() + scenario.payload + 2;
    // Every plain subscriber gets every message; a queue group shares them.
    let per_sub = msg_len * scenario.messages;
    let group_total = Arc::new(AtomicUsize::new(0));

    let mut subs = Vec::new();
    let importer = |i: usize| format!("importer{}", i % scenario.accounts.max(1));
    for i in 0..scenario.subscribers {
        let login = (scenario.accounts > 0).then(|| importer(i));
        let mut s = connect_as(subscribe.0, subscribe.1, login.as_deref())?;
        let queue = if scenario.queue { "workers " } else { "" };
        s.write_all(format!("SUB {SUBJECT} {queue}1\r\n").as_bytes())?;
        sync(&mut s)?;
        subs.push(s);
    }
    let mut publishers = Vec::new();
    for _ in 0..scenario.publishers.max(1) {
        let login = (scenario.accounts > 0).then_some("exporter");
        let mut p = connect_as(publish.0, publish.1, login)?;
        sync(&mut p)?;
        publishers.push(p);
    }
    if routed {
        for s in subs.iter_mut() {
            wait_for_route_interest(s, &mut publishers[0])?;
        }
    }

    let start = Instant::now();
    let readers: Vec<_> = subs
        .into_iter()
        .map(|mut s| {
            let (queue, total) = (scenario.queue, group_total.clone());
            let expected_group = per_sub;
            std::thread::spawn(move || -> std::io::Result<usize> {
                let mut buf = vec![0u8; 256 * 1024];
                let mut got = 0usize;
                let deadline = Instant::now() + Duration::from_secs(120);
                if queue {
                    // Stop when the group as a whole has everything.
                    s.set_read_timeout(Some(Duration::from_millis(20)))?;
                    while total.load(Ordering::Relaxed) < expected_group
                        && Instant::now() < deadline
                    {
                        match s.read(&mut buf) {
                            Ok(0) => break,
                            Ok(n) => {
                                got += n;
                                total.fetch_add(n, Ordering::Relaxed);
                            }
                            Err(e)
                                if matches!(
                                    e.kind(),
                                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                                ) => {}
                            Err(e) => return Err(e),
                        }
                    }
                    return Ok(got);
                }
                while got < per_sub && Instant::now() < deadline {
                    let n = s.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    got += n;
                }
                Ok(got)
            })
        })
        .collect();

    let writers: Vec<_> = publishers
        .into_iter()
        .enumerate()
        .map(|(i, mut p)| {
            let frame = frame.clone();
            let count = scenario.messages / scenario.publishers.max(1)
                + usize::from(i < scenario.messages % scenario.publishers.max(1));
            std::thread::spawn(move || -> std::io::Result<()> {
                // Write in ~64 KiB batches, as a busy client library would.
                let per_batch = (64 * 1024 / frame.len()).max(1);
                let mut batch = Vec::with_capacity(per_batch * frame.len());
                let mut sent = 0;
                while sent < count {
                    batch.clear();
                    let n = per_batch.min(count - sent);
                    for _ in 0..n {
                        batch.extend_from_slice(&frame);
                    }
                    p.write_all(&batch)?;
                    sent += n;
                }
                sync(&mut p)
            })
        })
        .collect();
    for w in writers {
        w.join()
            .map_err(|_| std::io::Error::other("publisher panicked"))??;
    }
    let mut received = 0;
    for r in readers {
        received += r
            .join()
            .map_err(|_| std::io::Error::other("reader panicked"))??;
    }
    let expected = if scenario.queue {
        per_sub
    } else {
        per_sub * scenario.subscribers
    };
    if received < expected {
        return Err(std::io::Error::other(format!(
            "subscribers got {received} of {expected} bytes"
        )));
    }
    let elapsed = start.elapsed();
    Ok(Outcome {
        elapsed,
        msgs_per_sec: scenario.messages as f64 / elapsed.as_secs_f64(),
    })
}

/// Request/reply round trips: a responder answers every request; one requester sends
/// `count` requests one after another (over TLS with `tls`). Returns the sorted round-trip
/// times.
pub fn request_reply(
    port: u16,
    payload: usize,
    count: usize,
    tls: Option<&Tls>,
) -> std::io::Result<Vec<Duration>> {
    let mut responder = connect(port, tls)?;
    responder.write_all(b"SUB bench.req 1\r\n")?;
    sync(&mut responder)?;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let answer = {
        let stop = stop.clone();
        let body = vec![b'r'; payload];
        std::thread::spawn(move || -> std::io::Result<()> {
            responder.set_read_timeout(Some(Duration::from_millis(50)))?;
            let mut pending = Vec::new();
            let mut buf = [0u8; 64 * 1024];
            while !stop.load(Ordering::Relaxed) {
                match responder.read(&mut buf) {
                    Ok(0) => return Ok(()),
                    Ok(n) => pending.extend_from_slice(&buf[..n]),
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        continue
                    }
                    Err(e) => return Err(e),
                }
                // MSG bench.req 1 <reply> <size>\r\n<payload>\r\n
                let mut out = Vec::new();
                while let Some(nl) = pending.iter().position(|b| *b == b'\n') {
                    let line = String::from_utf8_lossy(&pending[..nl])
                        .trim_end()
                        .to_string();
                    let parts: Vec<&str> = line.split(' ').collect();
                    if parts.first() != Some(&"MSG") {
                        pending.drain(..=nl);
                        continue;
                    }
                    let size: usize = parts.last().and_then(|s| s.parse().ok()).unwrap_or(0);
                    if pending.len() < nl + 1 + size + 2 {
                        break;
                    }
                    if parts.len() == 5 {
                        out.extend_from_slice(
                            format!("PUB {} {}\r\n", parts[3], body.len()).as_bytes(),
                        );
                        out.extend_from_slice(&body);
                        out.extend_from_slice(b"\r\n");
                    }
                    pending.drain(..nl + 1 + size + 2);
                }
                if !out.is_empty() {
                    responder.write_all(&out)?;
                }
            }
            Ok(())
        })
    };
    let mut requester = connect(port, tls)?;
    requester.write_all(b"SUB bench.inbox 1\r\n")?;
    sync(&mut requester)?;
    let mut request = format!("PUB bench.req bench.inbox {payload}\r\n").into_bytes();
    request.extend_from_slice(&vec![b'q'; payload]);
    request.extend_from_slice(b"\r\n");
    let reply_len = format!("MSG bench.inbox 1 {payload}\r\n").len() + payload + 2;
    let mut times = Vec::with_capacity(count);
    let mut buf = vec![0u8; 64 * 1024];
    for _ in 0..count {
        let t = Instant::now();
        requester.write_all(&request)?;
        let mut got = 0;
        while got < reply_len {
            let n = requester.read(&mut buf)?;
            if n == 0 {
                return Err(std::io::Error::other("requester closed"));
            }
            got += n;
        }
        times.push(t.elapsed());
    }
    stop.store(true, Ordering::Relaxed);
    answer
        .join()
        .map_err(|_| std::io::Error::other("responder panicked"))??;
    times.sort_unstable();
    Ok(times)
}

/// The `p`-th percentile (0–100) of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Across a route, interest arrives asynchronously: subscribe to a probe subject after the
/// bench subject (interest travels in order) and publish probes until one gets through.
fn wait_for_route_interest(sub: &mut Conn, publisher: &mut Conn) -> std::io::Result<()> {
    sub.write_all(b"SUB bench.probe 2\r\n")?;
    sync(sub)?;
    sub.set_read_timeout(Some(Duration::from_millis(50)))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        publisher.write_all(b"PUB bench.probe 0\r\n\r\n")?;
        if let Ok(n) = sub.read(&mut buf) {
            seen.extend_from_slice(&buf[..n]);
            if seen.windows(15).any(|w| w == b"MSG bench.probe") {
                break;
            }
        }
    }
    // Stop probing, then drain the probes still in flight.
    sub.write_all(b"UNSUB 2\r\n")?;
    sync(publisher)?;
    sync(sub)?;
    sub.set_read_timeout(Some(Duration::from_millis(100)))?;
    while sub.read(&mut buf).map(|n| n > 0).unwrap_or(false) {}
    sub.set_read_timeout(Some(Duration::from_secs(30)))?;
    if seen.windows(15).any(|w| w == b"MSG bench.probe") {
        Ok(())
    } else {
        Err(std::io::Error::other("interest never crossed the route"))
    }
}

/// CPU time (user + system) a process has used so far, from `/proc/<pid>/stat`.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // Clock ticks are 100 Hz on Linux.
    Some(Duration::from_millis((utime + stime) * 10))
}

fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Peak resident set size (`VmHWM`) in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM:")
}

/// Current resident set size (`VmRSS`) in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// An unmasked server frame.
    fn server_frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![first];
        match payload.len() {
            n if n < 126 => f.push(n as u8),
            n if n <= 0xffff => {
                f.push(126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(payload);
        f
    }

    /// Reads one masked client frame: `(first byte, unmasked payload)`.
    fn client_frame(sock: &mut TcpStream) -> std::io::Result<(u8, Vec<u8>)> {
        let mut h = [0u8; 2];
        sock.read_exact(&mut h)?;
        assert_ne!(h[1] & 0x80, 0, "client frames must be masked");
        let len = match h[1] & 0x7f {
            126 => {
                let mut b = [0u8; 2];
                sock.read_exact(&mut b)?;
                u16::from_be_bytes(b) as usize
            }
            127 => {
                let mut b = [0u8; 8];
                sock.read_exact(&mut b)?;
                u64::from_be_bytes(b) as usize
            }
            n => n as usize,
        };
        let mut key = [0u8; 4];
        sock.read_exact(&mut key)?;
        let mut payload = vec![0u8; len];
        sock.read_exact(&mut payload)?;
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
        Ok((h[0], payload))
    }

    #[test]
    fn websocket_stream_across_frames() -> std::io::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let info = b"INFO {}\r\n".to_vec();
        let mut msgs = Vec::new();
        for i in 0..2000 {
            msgs.extend_from_slice(format!("MSG a 1 {}\r\n", i % 300).as_bytes());
            msgs.extend(std::iter::repeat_n(b'x', i % 300));
            msgs.extend_from_slice(b"\r\n");
        }
        let expected: Vec<u8> = info.iter().chain(msgs.iter()).copied().collect();
        let server = {
            let msgs = msgs.clone();
            std::thread::spawn(move || -> std::io::Result<Vec<u8>> {
                let (mut sock, _) = listener.accept()?;
                sock.set_read_timeout(Some(Duration::from_secs(10)))?;
                let mut req = Vec::new();
                let mut byte = [0u8; 1];
                while !req.ends_with(b"\r\n\r\n") && req.len() < 4096 {
                    sock.read_exact(&mut byte)?;
                    req.push(byte[0]);
                }
                // The 101 and the first frame in one write, INFO fragmented around a ping.
                let mut out = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n".to_vec();
                out.extend(server_frame(0x02, &info[..4]));
                out.extend(server_frame(0x89, b"hi"));
                out.extend(server_frame(0x80, &info[4..]));
                sock.write_all(&out)?;
                // MSGs cut at odd places: sizes cycle through short, 16-bit and 64-bit
                // lengths, written in pieces that split headers too.
                let mut stream = Vec::new();
                let (mut at, mut k) = (0, 0);
                let sizes = [1, 7, 125, 126, 300, 65_535, 70_000];
                while at < msgs.len() {
                    let n = sizes[k % sizes.len()].min(msgs.len() - at);
                    stream.extend(server_frame(0x82, &msgs[at..at + n]));
                    stream.extend(server_frame(0x82, b""));
                    at += n;
                    k += 1;
                }
                for piece in stream.chunks(997) {
                    sock.write_all(piece)?;
                }
                let pong = client_frame(&mut sock)?;
                assert_eq!(pong, (0x8a, b"hi".to_vec()));
                let ping = client_frame(&mut sock)?;
                sock.write_all(&server_frame(0x88, &[3, 232]))?;
                Ok(ping.1)
            })
        };
        let mut ws = WsConn::open(port, Duration::from_secs(10))?;
        let mut got = Vec::new();
        let mut buf = [0u8; 1000];
        while got.len() < expected.len() {
            let n = ws.read(&mut buf)?;
            assert_ne!(n, 0, "stream ended early");
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, expected);
        ws.write_all(b"PING\r\n")?;
        assert_eq!(ws.read(&mut buf)?, 0, "a close frame ends the stream");
        let ping = server
            .join()
            .map_err(|_| std::io::Error::other("server panicked"))??;
        assert_eq!(ping, b"PING\r\n");
        Ok(())
    }
}
