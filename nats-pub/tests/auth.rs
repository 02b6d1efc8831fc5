//! What `nats-pub --nkey` and `--creds` put in `CONNECT`, read by a scripted server whose
//! `INFO` carries a nonce: the public key or the JWT, and a signature of the nonce that the
//! user's public key verifies.

use std::path::{Path, PathBuf};

use nats_cli::creds::test_jwt;
use nats_cli::testkit::{run, AuthFiles, FakeServer, WAIT};
use nats_cli::Credentials;

const NONCE: &str = "gAx3Ys_w4aoMyk0";

fn nats_pub() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_nats-pub"))
}

/// Runs `nats-pub -s <fake> <flag> <file> signed x` against a server offering `nonce` and
/// returns its `CONNECT` JSON.
fn connect_json(flag: &str, file: &str, nonce: &str) -> String {
    let info = format!(
        r#"{{"server_id":"fake","version":"2.9.10","max_payload":1048576,"nonce":"{nonce}"}}"#
    );
    let fake = FakeServer::start(&info);
    let done = run(
        &nats_pub(),
        &["-s", &fake.url(), flag, file, "signed", "x"],
        None,
        WAIT,
    );
    assert_eq!(done.code(), Some(0), "{done:?}");
    let received = fake.received();
    let line = received
        .lines()
        .find_map(|l| l.strip_prefix("CONNECT "))
        .unwrap_or_else(|| panic!("no CONNECT in {received:?}"));
    line.to_string()
}

/// The string value of `"field"` in flat JSON, if present.
fn field<'a>(json: &'a str, name: &str) -> Option<&'a str> {
    let start = json.find(&format!("\"{name}\":\""))? + name.len() + 4;
    json[start..].split('"').next()
}

/// Asserts `sig` is the user's signature of [`NONCE`], base64 URL-safe without padding.
fn assert_signed(json: &str, file: &str, read: fn(&Path) -> Result<Credentials, nats_cli::Error>) {
    let public = read(Path::new(file)).expect("credentials").public_key();
    let sig = field(json, "sig").unwrap_or_else(|| panic!("no sig in {json}"));
    let sig = data_encoding::BASE64URL_NOPAD
        .decode(sig.as_bytes())
        .expect("URL-safe base64 without padding");
    let key = nkeys::KeyPair::from_public_key(&public).expect("public key");
    assert!(key.verify(NONCE.as_bytes(), &sig).is_ok(), "{json}");
}

#[test]
fn nkey_connect_carries_public_key_and_signature() {
    let files = AuthFiles::new();
    let user = files.nkey_user("user");
    let json = connect_json("--nkey", &user.seed_file, NONCE);
    assert_eq!(field(&json, "nkey"), Some(user.public.as_str()), "{json}");
    assert_eq!(field(&json, "jwt"), None, "{json}");
    assert_signed(&json, &user.seed_file, Credentials::from_nkey_file);
    // No nonce, no signature.
    let json = connect_json("--nkey", &user.seed_file, "");
    assert_eq!(field(&json, "nkey"), Some(user.public.as_str()), "{json}");
    assert_eq!(field(&json, "sig"), None, "{json}");
}

#[test]
fn creds_connect_carries_jwt_and_signature() {
    let files = AuthFiles::new();
    let user = nkeys::KeyPair::new_user();
    let account = nkeys::KeyPair::new_account();
    let jwt = test_jwt::encode(&account, &user.public_key(), "u", test_jwt::USER);
    let seed = user.seed().expect("seed");
    let creds = files.write("u.creds", &test_jwt::creds_file(&jwt, &seed));
    let json = connect_json("--creds", &creds, NONCE);
    assert_eq!(field(&json, "jwt"), Some(jwt.as_str()), "{json}");
    assert_eq!(field(&json, "nkey"), None, "{json}");
    assert!(!json.contains(&seed), "{json}");
    assert_signed(&json, &creds, Credentials::from_creds_file);
}
