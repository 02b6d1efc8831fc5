//! `nats-sub` over TLS: a `tls://` URL with `--tlscacert`, client certificates against a
//! server that verifies them (ours and nats-server 2.9.10), and the upgrade of a `nats://`
//! URL when the server requires TLS. Certificates are generated per test.

use std::path::PathBuf;

use nats_cli::testkit::{run, wait_until, Bins, Gnatsd, NatsServer, Proc, WAIT};
use nats_cli::tls::test_pki::Pki;

fn bins() -> Bins {
    Bins::new(env!("CARGO_BIN_EXE_nats-sub"))
}

fn nats_sub() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_nats-sub"))
}

fn nats_pub() -> PathBuf {
    bins().get("nats-pub", "nats-pub")
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Starts `nats-sub <args>` and waits for its `Listening on` line.
fn subscriber(args: &[&str]) -> Proc {
    let sub = Proc::spawn(&nats_sub(), args);
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

fn publish(args: &[&str]) {
    let done = run(&nats_pub(), args, None, WAIT);
    assert_eq!(done.code(), Some(0), "nats-pub {args:?}: {done:?}");
}

fn with_certs(pki: &Pki, args: &[&str]) -> Vec<String> {
    let mut all = vec![
        "--tlscacert".to_string(),
        Pki::arg(&pki.ca),
        "--tlscert".into(),
        Pki::arg(&pki.client_cert),
        "--tlskey".into(),
        Pki::arg(&pki.client_key),
    ];
    all.extend(args.iter().map(|s| s.to_string()));
    all
}

fn verifying_server_flags(pki: &Pki) -> Vec<String> {
    vec![
        "--tlsverify".to_string(),
        "--tlscert".into(),
        Pki::arg(&pki.server_cert),
        "--tlskey".into(),
        Pki::arg(&pki.server_key),
        "--tlscacert".into(),
        Pki::arg(&pki.ca),
    ]
}

#[test]
fn receives_over_a_tls_url() {
    let pki = Pki::new();
    let server = Gnatsd::start(
        &bins(),
        &[
            "--tls",
            "--tlscert",
            &Pki::arg(&pki.server_cert),
            "--tlskey",
            &Pki::arg(&pki.server_key),
        ],
    );
    let url = format!("tls://127.0.0.1:{}", server.port);
    let ca = Pki::arg(&pki.ca);
    let mut sub = subscriber(&["-s", &url, "--tlscacert", &ca, "greet"]);
    publish(&["-s", &url, "--tlscacert", &ca, "greet", "over tls"]);
    assert!(sub.wait_stdout("[#1]", WAIT), "{}", sub.describe());
    sub.kill();
    assert_eq!(
        sub.stdout(),
        [
            "Listening on [greet]",
            "[#1] Received on [greet] : 'over tls'"
        ]
    );
    assert!(sub.stderr().is_empty(), "{}", sub.describe());
}

#[test]
fn client_certificates_with_gnatsd_and_nats_server() {
    let pki = Pki::new();
    let flags = verifying_server_flags(&pki);
    let ours = Gnatsd::start(&bins(), &strs(&flags));
    let real = NatsServer::start_with_or_skip(
        "client_certificates_with_gnatsd_and_nats_server",
        &strs(&flags),
    );
    let mut urls = vec![format!("nats://127.0.0.1:{}", ours.port)];
    if let Some(real) = &real {
        urls.push(real.url());
    }
    for url in urls {
        // nats:// URLs: the INFO says tls_required, so both tools upgrade.
        let mut sub = subscriber(&strs(&with_certs(&pki, &["-s", &url, "-n", "2", "certs"])));
        publish(&strs(&with_certs(
            &pki,
            &["-s", &url, "-n", "2", "certs", "m"],
        )));
        assert!(
            sub.wait_exit(WAIT).is_some_and(|s| s.success()),
            "{url}: {}",
            sub.describe()
        );
        assert_eq!(
            sub.stdout(),
            [
                "Listening on [certs]",
                "[#1] Received on [certs] : 'm'",
                "[#2] Received on [certs] : 'm'"
            ],
            "{url}"
        );
    }
}

#[test]
fn untrusted_server_is_refused() {
    let pki = Pki::new();
    let server = Gnatsd::start(
        &bins(),
        &[
            "--tls",
            "--tlscert",
            &Pki::arg(&pki.server_cert),
            "--tlskey",
            &Pki::arg(&pki.server_key),
        ],
    );
    let url = format!("tls://127.0.0.1:{}", server.port);
    let done = run(
        &nats_sub(),
        &["-s", &url, "--tlscacert", &Pki::arg(&pki.other_ca), "x"],
        None,
        WAIT,
    );
    assert_eq!(done.code(), Some(1), "{done:?}");
    assert_eq!(
        done.stderr,
        ["nats: x509: certificate signed by unknown authority"]
    );
}
