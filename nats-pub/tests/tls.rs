//! `nats-pub` over TLS: `tls://` URLs, `--tlscert`/`--tlskey`/`--tlscacert`, the upgrade a
//! server that requires TLS asks for, and the errors when TLS cannot be had. Certificates are
//! generated per test; `nats-sub` (over TLS too) checks what arrived.

use std::path::PathBuf;

use nats_cli::testkit::{run, wait_until, Bins, Finished, Gnatsd, NatsServer, Proc, WAIT};
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

/// `--tls --tlscert … --tlskey …` (and `--tlsverify --tlscacert …` when `verify`).
fn server_flags(pki: &Pki, verify: bool) -> Vec<String> {
    let mut flags = vec![
        "--tls".to_string(),
        "--tlscert".into(),
        Pki::arg(&pki.server_cert),
        "--tlskey".into(),
        Pki::arg(&pki.server_key),
    ];
    if verify {
        flags.extend([
            "--tlsverify".into(),
            "--tlscacert".into(),
            Pki::arg(&pki.ca),
        ]);
    }
    flags
}

fn client_flags(pki: &Pki) -> Vec<String> {
    vec![
        "--tlscacert".to_string(),
        Pki::arg(&pki.ca),
        "--tlscert".into(),
        Pki::arg(&pki.client_cert),
        "--tlskey".into(),
        Pki::arg(&pki.client_key),
    ]
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// `nats-sub` over TLS with client certificates, listening on `subject`.
fn tls_subscriber(pki: &Pki, url: &str, subject: &str) -> Proc {
    let nats_sub = bins().get("nats-sub", "nats-sub");
    let mut args = vec!["-s".to_string(), url.to_string()];
    args.extend(client_flags(pki));
    args.push(subject.into());
    let sub = Proc::spawn(&nats_sub, &strs(&args));
    assert!(
        wait_until(WAIT, || sub
            .stdout()
            .iter()
            .any(|l| l.starts_with("Listening on ["))),
        "subscriber not listening: {}",
        sub.describe()
    );
    sub
}

fn publish_over_tls(pki: &Pki, url: &str) {
    let mut args = vec!["-s".to_string(), url.to_string()];
    args.extend(client_flags(pki));
    args.extend(["secure".to_string(), "hello tls".into()]);
    let done = publish(&strs(&args));
    assert_eq!(done.code(), Some(0), "{done:?}");
    assert_eq!(done.stdout, ["Published [secure] : 'hello tls'"]);
}

#[test]
fn publishes_with_client_certificates_to_gnatsd() {
    let pki = Pki::new();
    let server = Gnatsd::start(&bins(), &strs(&server_flags(&pki, true)));
    let url = format!("tls://127.0.0.1:{}", server.port);
    let mut sub = tls_subscriber(&pki, &url, "secure");
    publish_over_tls(&pki, &url);
    assert!(sub.wait_stdout("[#1]", WAIT), "{}", sub.describe());
    sub.kill();
    assert_eq!(
        sub.stdout(),
        [
            "Listening on [secure]",
            "[#1] Received on [secure] : 'hello tls'"
        ]
    );
}

#[test]
fn publishes_with_client_certificates_to_nats_server() {
    let pki = Pki::new();
    let flags = server_flags(&pki, true);
    let Some(server) = NatsServer::start_with_or_skip(
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
    let server = Gnatsd::start(&bins(), &[]);
    let url = format!("tls://127.0.0.1:{}", server.port);
    let done = publish(&["-s", &url, "x", "y"]);
    assert_eq!(done.code(), Some(1), "{done:?}");
    assert_eq!(done.stderr, ["nats: secure connection not available"]);
    // TLS files also ask for TLS.
    let done = publish(&[
        "-s",
        &server.url(),
        "--tlscacert",
        &Pki::arg(&pki.ca),
        "x",
        "y",
    ]);
    assert_eq!(done.stderr, ["nats: secure connection not available"]);
}

#[test]
fn server_certificate_is_verified() {
    let pki = Pki::new();
    let server = Gnatsd::start(&bins(), &strs(&server_flags(&pki, false)));
    let url = format!("tls://127.0.0.1:{}", server.port);
    // Trusting the right CA works without a client certificate.
    let done = publish(&["-s", &url, "--tlscacert", &Pki::arg(&pki.ca), "x", "y"]);
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
    let pki = Pki::new();
    let server = Gnatsd::start(&bins(), &strs(&server_flags(&pki, true)));
    let url = format!("tls://127.0.0.1:{}", server.port);
    let done = publish(&["-s", &url, "--tlscacert", &Pki::arg(&pki.ca), "x", "y"]);
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
        &url,
        "x",
        "y",
    ]);
    assert_eq!(
        done.stderr,
        ["nats: --tlscert and --tlskey must be given together"]
    );
}
