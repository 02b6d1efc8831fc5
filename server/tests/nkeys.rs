//! NKey users: the INFO carries a fresh nonce, the client signs it with its seed, and the
//! server checks the signature against the configured public key. Every case runs against
//! our server and, when it is installed, nats-server 2.9.10, with the same keys and bytes.

mod common;

use common::*;
use nkeys::KeyPair;

/// An account with one nkey user (with permissions) and one password user.
fn config(user: &KeyPair) -> String {
    format!(
        "accounts {{\n  A {{ users: [\n    {{nkey: {}, permissions: {{publish: \"ok.>\"}}}}\n    {{user: p, password: p}}\n  ] }}\n}}\n",
        user.public_key()
    )
}

/// The nonce of an INFO line.
fn nonce_of(info: &str) -> String {
    let json: serde_json::Value =
        serde_json::from_str(info.trim_start_matches("INFO ").trim()).expect("INFO json");
    json["nonce"].as_str().unwrap_or_default().to_string()
}

/// What a test client signs, given the nonce it got.
type Signer<'a> = Box<dyn Fn(&str) -> String + 'a>;

fn sign(key: &KeyPair, nonce: &str) -> String {
    data_encoding::BASE64URL_NOPAD.encode(&key.sign(nonce.as_bytes()).expect("sign"))
}

/// Connects, reads INFO and sends a CONNECT with `nkey` and the signature `sig_of(nonce)`.
fn connect_signed(port: u16, nkey: &str, sig_of: impl Fn(&str) -> String) -> Raw {
    let mut raw = Raw::connect(port);
    let nonce = nonce_of(&raw.info);
    assert_eq!(nonce.len(), 15, "{}", raw.info);
    let connect = format!(
        r#"CONNECT {{"verbose":false,"nkey":"{nkey}","sig":"{}"}}"#,
        sig_of(&nonce)
    );
    raw.send(format!("{connect}\r\n").as_bytes());
    raw
}

#[test]
fn an_nkey_user_signs_the_nonce_of_its_info_and_gets_its_permissions() {
    let user = KeyPair::new_user();
    for binary in binaries("an_nkey_user_signs_the_nonce") {
        let server = TestServer::binary_with_config(binary, &config(&user), &[]);
        let mut raw = connect_signed(server.port, &user.public_key(), |n| sign(&user, n));
        raw.send(b"PUB ok.1 1\r\nx\r\nPUB denied 1\r\nx\r\n");
        assert_eq!(
            raw.ping(),
            "-ERR 'Permissions Violation for Publish to \"denied\"'\r\nPONG\r\n",
            "{binary}"
        );
        // Every connection gets a nonce of its own.
        let (a, b) = (Raw::connect(server.port), Raw::connect(server.port));
        assert_ne!(nonce_of(&a.info), nonce_of(&b.info), "{binary}");
        // The password user of the same account still logs in as before.
        let mut p = Raw::connect_with(server.port, r#"{"verbose":false,"user":"p","pass":"p"}"#);
        assert_eq!(p.ping(), "PONG\r\n", "{binary}");
    }
}

#[test]
fn bad_missing_and_foreign_signatures_are_authorization_violations() {
    let user = KeyPair::new_user();
    let stranger = KeyPair::new_user();
    for binary in binaries("bad_missing_and_foreign_signatures") {
        let server = TestServer::binary_with_config(binary, &config(&user), &[]);
        let cases: [(String, Signer<'_>); 5] = [
            // Signed by another key.
            (user.public_key(), Box::new(|n| sign(&stranger, n))),
            // A signature of something else.
            (
                user.public_key(),
                Box::new(|_| sign(&user, "not the nonce")),
            ),
            // No signature.
            (user.public_key(), Box::new(|_| String::new())),
            // Not base64 at all.
            (user.public_key(), Box::new(|_| "!!!".to_string())),
            // A key that is no user of this server, signing correctly.
            (stranger.public_key(), Box::new(|n| sign(&stranger, n))),
        ];
        for (i, (nkey, sig_of)) in cases.iter().enumerate() {
            let mut raw = connect_signed(server.port, nkey, sig_of);
            raw.send(b"PING\r\n");
            let (got, closed) = raw.read_until_closed();
            assert_eq!(
                (got.as_str(), closed),
                ("-ERR 'Authorization Violation'\r\n", true),
                "{binary}: case {i}"
            );
        }
    }
}

#[test]
fn nkey_entries_nats_server_refuses_are_refused() {
    let user = KeyPair::new_user();
    let account = KeyPair::new_account();
    let cases = [
        (
            format!(
                "authorization {{ users: [ {{nkey: {}}} ] }}\n",
                account.public_key()
            ),
            "Not a valid public nkey for a user",
        ),
        (
            format!(
                "authorization {{ users: [ {{nkey: {}, user: x, password: y}} ] }}\n",
                user.public_key()
            ),
            "Nkey users do not take usernames or passwords",
        ),
        (
            format!(
                "authorization {{ users: [ {{nkey: {0}}}, {{nkey: {0}}} ] }}\n",
                user.public_key()
            ),
            "Duplicate nkey",
        ),
    ];
    for (conf, text) in &cases {
        for binary in binaries("nkey_entries_nats_server_refuses") {
            assert_config_refused(binary, conf, text);
        }
    }
}

#[tokio::test]
async fn async_nats_logs_in_with_an_nkey_seed() {
    let user = KeyPair::new_user();
    let server = TestServer::with_config(&config(&user), &[]);
    let stranger = KeyPair::new_user();
    assert_login(
        &server.url(),
        async_nats::ConnectOptions::with_nkey(user.seed().expect("seed")),
        async_nats::ConnectOptions::with_nkey(stranger.seed().expect("seed")),
    )
    .await;
}
