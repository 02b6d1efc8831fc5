//! `nats-sub` over TLS: a `tls://` URL with `--tlscacert`, client certificates against a
//! server that verifies them (ours and nats-server 2.9.10), and the upgrade of a `nats://`
//! URL when the server requires TLS. Certificates are generated per test.

mod common;

use common::{bins, nats_sub, publish, subscriber};
use nats_cli::testkit::{run, strs, tls_gnatsd, Server, WAIT};
use nats_cli::tls::test_pki::Pki;

/// The client certificate flags, then `args`.
fn with_certs(pki: &Pki, args: &[&str]) -> Vec<String> {
    let mut all = pki.client_flags();
    all.extend(args.iter().map(|s| s.to_string()));
    all
}

#[test]
fn receives_over_a_tls_url() {
    let (pki, server) = tls_gnatsd(&bins(), false);
    let url = server.tls_url();
    let ca = Pki::arg(&pki.ca);
    let mut sub = subscriber(&["-s", &url, "--tlscacert", &ca, "greet"]);
    publish(&["-s", &url, "--tlscacert", &ca, "greet", "over tls"]);
    assert_eq!(
        sub.stdout_until("[#1]"),
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
    let flags = pki.server_flags(true);
    let ours = Server::gnatsd(&bins(), &strs(&flags));
    let real = Server::nats_server_with_or_skip(
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
    let (pki, server) = tls_gnatsd(&bins(), false);
    let url = server.tls_url();
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
