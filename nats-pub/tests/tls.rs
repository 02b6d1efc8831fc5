//! `nats-pub` over TLS: `tls://` URLs, `--tlscert`/`--tlskey`/`--tlscacert`, the upgrade a
//! server that requires TLS asks for, and the errors when TLS cannot be had. Certificates are
//! generated per test; `nats-sub` (over TLS too) checks what arrived.

use std::path::{Path, PathBuf};

use nats_cli::testkit::{run, strs, subscriber, tls_gnatsd, Bins, Finished, Proc, Server, WAIT};
use nats_cli::tls::test_pki::Pki;

fn bins() -> Bins {
    Bins::new(env!("CARGO_BIN_EXE_nats-pub"))
}

fn nats_pub() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_nats-pub"))
}

fn publish(args: &[&str]) -> Finished {
    run(&nats_pub(), args, None, WAIT)
}

/// `nats-pub -s <url> --tlscacert <ca> x y`: TLS that trusts `ca`, without a client
/// certificate.
fn publish_trusting(ca: &Path, url: &str) -> Finished {
    publish(&["-s", url, "--tlscacert", &Pki::arg(ca), "x", "y"])
}

/// `nats-sub` over TLS with client certificates, listening on `subject`.
fn tls_subscriber(pki: &Pki, url: &str, subject: &str) -> Proc {
    let mut args = vec!["-s".to_string(), url.to_string()];
    args.extend(pki.client_flags());
    args.push(subject.into());
    subscriber(&bins().get("nats-sub", "nats-sub"), &strs(&args))
}

/// `nats-pub` over TLS with client certificates; asserts it published `hello tls`.
fn publish_over_tls(pki: &Pki, url: &str) {
    let mut args = vec!["-s".to_string(), url.to_string()];
    args.extend(pki.client_flags());
    args.extend(["secure".to_string(), "hello tls".into()]);
    let done = publish(&strs(&args));
    assert_eq!(done.code(), Some(0), "{done:?}");
    assert_eq!(done.stdout, ["Published [secure] : 'hello tls'"]);
}

#[test]
fn publishes_with_client_certificates_to_gnatsd() {
    let (pki, server) = tls_gnatsd(&bins(), true);
    let url = server.tls_url();
    let mut sub = tls_subscriber(&pki, &url, "secure");
    publish_over_tls(&pki, &url);
    assert_eq!(
        sub.stdout_until("[#1]"),
        [
            "Listening on [secure]",
            "[#1] Received on [secure] : 'hello tls'"
        ]
    );
}

#[test]
fn publishes_with_client_certificates_to_nats_server() {
    let pki = Pki::new();
    let flags = pki.server_flags(true);
    let Some(server) = Server::nats_server_with_or_skip(
        "publishes_with_client_certificates_to_nats_server",
        &strs(&flags),
    ) else {
        return;
    };
    // A nats:// URL: the server's INFO asks for TLS and the tool upgrades.
    let url = server.url();
    let sub = tls_subscriber(&pki, &url, "secure");
    publish_over_tls(&pki, &url);
    assert!(sub.wait_stdout("[#1]", WAIT), "{}", sub.describe());
}

#[test]
fn tls_url_to_a_plaintext_server_fails() {
    let pki = Pki::new();
    let server = Server::gnatsd(&bins(), &[]);
    let url = server.tls_url();
    let done = publish(&["-s", &url, "x", "y"]);
    assert_eq!(done.code(), Some(1), "{done:?}");
    assert_eq!(done.stderr, ["nats: secure connection not available"]);
    // TLS files also ask for TLS.
    let done = publish_trusting(&pki.ca, &server.url());
    assert_eq!(done.stderr, ["nats: secure connection not available"]);
}

#[test]
fn server_certificate_is_verified() {
    let (pki, server) = tls_gnatsd(&bins(), false);
    let url = server.tls_url();
    // Trusting the right CA works without a client certificate.
    let done = publish_trusting(&pki.ca, &url);
    assert_eq!(done.code(), Some(0), "{done:?}");
    // Another CA (or the system's, with no --tlscacert) does not vouch for the server.
    for extra in [vec!["--tlscacert", &*Pki::arg(&pki.other_ca)], vec![]] {
        let mut args = vec!["-s", url.as_str()];
        args.extend(extra.iter().copied());
        args.extend(["x", "y"]);
        let done = publish(&args);
        assert_eq!(done.code(), Some(1), "{done:?}");
        assert_eq!(
            done.stderr,
            ["nats: x509: certificate signed by unknown authority"],
            "{args:?}"
        );
    }
}

#[test]
fn missing_client_certificate_is_refused() {
    let (pki, server) = tls_gnatsd(&bins(), true);
    let done = publish_trusting(&pki.ca, &server.tls_url());
    assert_eq!(done.code(), Some(1), "{done:?}");
    // The server refuses with a TLS alert (after the handshake, in TLS 1.3).
    assert_eq!(
        done.stderr,
        ["nats: remote error: tls: certificate required"],
        "{done:?}"
    );
    let done = publish(&[
        "--tlscert",
        &Pki::arg(&pki.client_cert),
        "-s",
        &server.tls_url(),
        "x",
        "y",
    ]);
    assert_eq!(
        done.stderr,
        ["nats: --tlscert and --tlskey must be given together"]
    );
}
