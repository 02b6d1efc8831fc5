//! Operator mode: an operator JWT, account JWTs preloaded into the memory resolver, and
//! clients that log in with user JWTs signing their INFO nonce. Every case runs against our
//! server and, when it is installed, nats-server 2.9.10, with the same keys and the same
//! bytes expected from both.

#[path = "common/cluster.rs"]
mod cluster_util;
mod common;
#[path = "common/ws.rs"]
mod ws;

use std::time::Duration;

use common::*;
use nats_cli::creds::test_jwt::{self, encode, encode_with, now};
use nkeys::KeyPair;

const VIOLATION: &str = "-ERR 'Authorization Violation'\r\n<closed>";

/// An account's `nats` claim: `extra` (JSON members, each followed by a comma) and a
/// connection limit; other limits unlimited.
fn account(extra: &str, conn: i64) -> String {
    format!(
        r#"{{{extra}"type":"account","version":2,"limits":{{"subs":-1,"data":-1,"payload":-1,"imports":-1,"exports":-1,"wildcards":true,"conn":{conn},"leaf":-1}}}}"#
    )
}

/// A user's `nats` claim with `extra` (JSON members, each followed by a comma), unlimited.
fn user(extra: &str) -> String {
    format!(r#"{{{extra}"type":"user","version":2,"subs":-1,"data":-1,"payload":-1}}"#)
}

/// A user claim's connect window (`HH:MM:SS`, read in UTC), as JSON members.
fn window(start: &str, end: &str) -> String {
    format!(r#""times":[{{"start":"{start}","end":"{end}"}}],"times_location":"UTC","#)
}

/// A connect window of an hour in the other half of the UTC day than `now`.
fn window_elsewhere(now: i64) -> String {
    if now.rem_euclid(86_400) < 43_200 {
        window("18:00:00", "19:00:00")
    } else {
        window("06:00:00", "07:00:00")
    }
}

/// An operator (with a signing key) and its system account.
struct Operator {
    key: KeyPair,
    signer: KeyPair,
    jwt: String,
    system: KeyPair,
}

impl Operator {
    fn new() -> Operator {
        let key = KeyPair::new_operator();
        let signer = KeyPair::new_operator();
        let nats = format!(
            r#"{{"signing_keys":["{}"],"type":"operator","version":2}}"#,
            signer.public_key()
        );
        let jwt = encode(&key, &key.public_key(), "test-operator", &nats);
        Operator {
            key,
            signer,
            jwt,
            system: KeyPair::new_account(),
        }
    }

    /// An account JWT signed by the operator.
    fn account(&self, key: &KeyPair, nats: &str) -> String {
        encode(&self.key, &key.public_key(), "acc", nats)
    }

    /// The configuration: operator, memory resolver, system account, and `preload` plus
    /// the system account's JWT; `more` is appended.
    fn config(&self, preload: &[(&KeyPair, String)], more: &str) -> String {
        let mut conf = format!(
            "operator: {}\nresolver: MEMORY\nsystem_account: {sys}\nresolver_preload: {{\n  {sys}: \"{}\"\n",
            self.jwt,
            self.account(&self.system, &account("", -1)),
            sys = self.system.public_key(),
        );
        for (key, jwt) in preload {
            conf.push_str(&format!("  {}: \"{jwt}\"\n", key.public_key()));
        }
        conf.push_str("}\n");
        conf.push_str(more);
        conf
    }
}

/// The nonce of an INFO line.
fn nonce_of(info: &str) -> String {
    let json: serde_json::Value =
        serde_json::from_str(info.trim_start_matches("INFO ").trim()).expect("INFO json");
    json["nonce"].as_str().unwrap_or_default().to_string()
}

/// Connects with `jwt`, the nonce signed by `signer` (none: no `sig`).
fn login(port: u16, jwt: &str, signer: Option<&KeyPair>) -> Raw {
    let mut raw = Raw::connect(port);
    let nonce = nonce_of(&raw.info);
    assert_eq!(nonce.len(), 15, "{}", raw.info);
    let sig = signer.map_or(String::new(), |k| {
        data_encoding::BASE64URL_NOPAD.encode(&k.sign(nonce.as_bytes()).expect("sign"))
    });
    raw.send(
        format!(r#"CONNECT {{"verbose":false,"pedantic":false,"headers":true,"jwt":"{jwt}","sig":"{sig}"}}"#)
            .as_bytes(),
    );
    raw.send(b"\r\n");
    raw
}

/// Everything up to the PONG of a PING, or `<closed>` appended when the server hangs up.
fn until_pong(raw: &mut Raw) -> String {
    raw.send(b"PING\r\n");
    let mut out = String::new();
    while let Some(line) = raw.read_line(WAIT) {
        out.push_str(&line);
        if line == "PONG\r\n" {
            return out;
        }
    }
    out + "<closed>"
}

/// What a login with `jwt` (nonce signed by `signer`) followed by `ops` and a PING gets.
fn attempt(port: u16, jwt: &str, signer: Option<&KeyPair>, ops: &[u8]) -> String {
    let mut raw = login(port, jwt, signer);
    raw.send(ops);
    until_pong(&mut raw)
}

#[test]
fn user_jwts_log_in_or_are_refused_as_nats_server_decides() {
    let op = Operator::new();
    let a = KeyPair::new_account();
    let a_signer = KeyPair::new_account();
    let b = KeyPair::new_account();
    let untrusted = KeyPair::new_account();
    // Accounts whose own claims break the operator's limits on them do not validate.
    let (too_many, wild) = (KeyPair::new_account(), KeyPair::new_account());
    let limits = |imports: i64, exports: i64, wildcards: bool| {
        format!(
            r#""limits":{{"subs":-1,"data":-1,"payload":-1,"imports":{imports},"exports":{exports},"wildcards":{wildcards},"conn":-1,"leaf":-1}}"#
        )
    };
    let too_many_jwt = op.account(
        &too_many,
        &format!(
            r#"{{"imports":[{{"name":"i","subject":"x","account":"{}","type":"stream"}}],{},"type":"account","version":2}}"#,
            b.public_key(),
            limits(0, -1, true)
        ),
    );
    let wild_jwt = op.account(
        &wild,
        &format!(
            r#"{{"exports":[{{"name":"e","subject":"w.>","type":"stream"}}],{},"type":"account","version":2}}"#,
            limits(-1, 5, false)
        ),
    );
    let revoked = KeyPair::new_user();
    let u = KeyPair::new_user();
    let stranger = KeyPair::new_user();
    let now = now();
    // A is signed by the operator's signing key, has a signing key of its own and revokes
    // one user's JWTs issued until a minute from now.
    let a_jwt = encode(
        &op.signer,
        &a.public_key(),
        "A",
        &account(
            &format!(
                r#""signing_keys":["{}"],"revocations":{{"{}":{}}},"#,
                a_signer.public_key(),
                revoked.public_key(),
                now + 60
            ),
            -1,
        ),
    );
    let untrusted_jwt = encode(
        &KeyPair::new_operator(),
        &untrusted.public_key(),
        "U",
        &account("", -1),
    );
    let conf = op.config(
        &[
            (&a, a_jwt),
            (&b, op.account(&b, &account("", -1))),
            (&untrusted, untrusted_jwt),
            (&too_many, too_many_jwt),
            (&wild, wild_jwt),
        ],
        "",
    );
    let pk = u.public_key();
    let of_a = |nats: &str| encode(&a, &pk, "u", nats);
    let issued_by_a = format!(r#""issuer_account":"{}","#, a.public_key());
    let cases: Vec<(&str, String, Option<&KeyPair>, &str)> = vec![
        ("valid", of_a(&user("")), Some(&u), "PONG\r\n"),
        (
            "inside a connect window",
            of_a(&user(&window("00:00:00", "23:59:59"))),
            Some(&u),
            "PONG\r\n",
        ),
        (
            "outside every connect window",
            of_a(&user(&window_elsewhere(now))),
            Some(&u),
            VIOLATION,
        ),
        (
            "signed by the account's signing key",
            encode(&a_signer, &pk, "u", &user(&issued_by_a)),
            Some(&u),
            "PONG\r\n",
        ),
        (
            "bearer token without a signature",
            of_a(&user(r#""bearer_token":true,"#)),
            None,
            "PONG\r\n",
        ),
        (
            "allowed_connection_types with STANDARD",
            of_a(&user(r#""allowed_connection_types":["STANDARD"],"#)),
            Some(&u),
            "PONG\r\n",
        ),
        (
            "expired",
            encode_with(&a, &pk, "u", &user(""), &format!(r#""exp":{},"#, now - 10)),
            Some(&u),
            VIOLATION,
        ),
        (
            "not yet valid",
            encode_with(&a, &pk, "u", &user(""), &format!(r#""nbf":{},"#, now + 100)),
            Some(&u),
            VIOLATION,
        ),
        (
            "revoked",
            encode(&a, &revoked.public_key(), "r", &user("")),
            Some(&revoked),
            VIOLATION,
        ),
        (
            "signed by another account in A's name",
            encode(&b, &pk, "u", &user(&issued_by_a)),
            Some(&u),
            VIOLATION,
        ),
        (
            "signed by A's signing key without issuer_account",
            encode(&a_signer, &pk, "u", &user("")),
            Some(&u),
            VIOLATION,
        ),
        (
            "of an unknown account",
            encode(&KeyPair::new_account(), &pk, "u", &user("")),
            Some(&u),
            VIOLATION,
        ),
        (
            "of an account with more imports than its limit",
            encode(&too_many, &pk, "u", &user("")),
            Some(&u),
            VIOLATION,
        ),
        (
            "of an account with wildcard exports it may not have",
            encode(&wild, &pk, "u", &user("")),
            Some(&u),
            VIOLATION,
        ),
        (
            "of an account an untrusted operator signed",
            encode(&untrusted, &pk, "u", &user("")),
            Some(&u),
            VIOLATION,
        ),
        ("no signature", of_a(&user("")), None, VIOLATION),
        (
            "nonce signed by another key",
            of_a(&user("")),
            Some(&stranger),
            VIOLATION,
        ),
        (
            "allowed_connection_types without STANDARD",
            of_a(&user(r#""allowed_connection_types":["WEBSOCKET"],"#)),
            Some(&u),
            VIOLATION,
        ),
        (
            "src excludes loopback",
            of_a(&user(r#""src":["10.0.0.0/8"],"#)),
            Some(&u),
            VIOLATION,
        ),
        ("no JWT", String::new(), Some(&u), VIOLATION),
        ("garbage", "eyJ.x.y".to_string(), Some(&u), VIOLATION),
    ];
    for binary in binaries("user_jwts_log_in_or_are_refused") {
        let server = TestServer::binary_with_config(binary, &conf, &[]);
        for (name, jwt, signer, expected) in &cases {
            let got = attempt(server.port, jwt, *signer, b"");
            assert_eq!(&got, expected, "{binary}: {name}");
        }
    }
}

/// Three account keys: A exports the stream `news.>`, B imports it, C neither.
fn news_accounts() -> [KeyPair; 3] {
    [(); 3].map(|_| KeyPair::new_account())
}

/// The account JWTs of [`news_accounts`], for `resolver_preload`.
fn news_preload<'a>(op: &Operator, [a, b, c]: [&'a KeyPair; 3]) -> Vec<(&'a KeyPair, String)> {
    let exports = r#""exports":[{"name":"news","subject":"news.>","type":"stream"}],"#;
    let imports = format!(
        r#""imports":[{{"name":"news","subject":"news.>","account":"{}","type":"stream"}}],"#,
        a.public_key()
    );
    vec![
        (a, op.account(a, &account(exports, -1))),
        (b, op.account(b, &account(&imports, -1))),
        (c, op.account(c, &account("", -1))),
    ]
}

/// A user of `account` and its key.
fn member(account: &KeyPair) -> (String, KeyPair) {
    let key = KeyPair::new_user();
    (encode(account, &key.public_key(), "m", &user("")), key)
}

#[test]
fn jwt_accounts_are_isolated_and_stream_imports_cross_them() {
    let op = Operator::new();
    let [a, b, c] = news_accounts();
    let conf = op.config(&news_preload(&op, [&a, &b, &c]), "");
    for binary in binaries("jwt_accounts_are_isolated") {
        let server = TestServer::binary_with_config(binary, &conf, &[]);
        let mut subscribers = Vec::new();
        for acc in [&a, &b, &c] {
            let (jwt, key) = member(acc);
            let mut raw = login(server.port, &jwt, Some(&key));
            raw.send(b"SUB news.> 1\r\nSUB local 2\r\n");
            assert_eq!(until_pong(&mut raw), "PONG\r\n", "{binary}");
            subscribers.push(raw);
        }
        let (jwt, key) = member(&a);
        let mut publisher = login(server.port, &jwt, Some(&key));
        publisher.send(b"PUB news.x 5\r\nhello\r\n");
        assert_eq!(until_pong(&mut publisher), "PONG\r\n", "{binary}");
        let (jwt, key) = member(&c);
        let mut in_c = login(server.port, &jwt, Some(&key));
        in_c.send(b"PUB local 2\r\nhi\r\n");
        assert_eq!(until_pong(&mut in_c), "PONG\r\n", "{binary}");
        let [in_a, in_b, in_c_sub] = subscribers.as_mut_slice() else {
            unreachable!()
        };
        // A's own subscriber and B (through its import) get A's stream; C gets neither A's
        // stream nor lets its own `local` out.
        assert_eq!(
            until_pong(in_a),
            "MSG news.x 1 5\r\nhello\r\nPONG\r\n",
            "{binary}"
        );
        assert_eq!(
            until_pong(in_b),
            "MSG news.x 1 5\r\nhello\r\nPONG\r\n",
            "{binary}"
        );
        assert_eq!(
            until_pong(in_c_sub),
            "MSG local 2 2\r\nhi\r\nPONG\r\n",
            "{binary}"
        );
        assert_eq!(
            until_pong(in_a),
            "PONG\r\n",
            "{binary}: C's local reached A"
        );
        assert_eq!(
            until_pong(in_b),
            "PONG\r\n",
            "{binary}: C's local reached B"
        );
    }
}

/// A service exported in A's JWT and imported in B's (under a local subject) answers B's
/// requests; the request carries B's account (its public key) in `Nats-Request-Info`.
#[test]
fn service_imports_declared_in_account_jwts_answer_requests() {
    let op = Operator::new();
    let (a, b) = (KeyPair::new_account(), KeyPair::new_account());
    let exports = r#""exports":[{"name":"svc","subject":"svc.>","type":"service","response_type":"Stream"}],"#;
    let imports = format!(
        r#""imports":[{{"name":"svc","subject":"svc.echo","account":"{}","local_subject":"echo","type":"service"}}],"#,
        a.public_key()
    );
    let conf = op.config(
        &[
            (&a, op.account(&a, &account(exports, -1))),
            (&b, op.account(&b, &account(&imports, -1))),
        ],
        "",
    );
    for binary in binaries("service_imports_declared_in_account_jwts") {
        let server = TestServer::binary_with_config(binary, &conf, &[]);
        let (jwt, key) = member(&a);
        let mut service = login(server.port, &jwt, Some(&key));
        service.send(b"SUB svc.> 1\r\n");
        assert_eq!(until_pong(&mut service), "PONG\r\n", "{binary}");
        let (jwt, key) = member(&b);
        let mut requester = login(server.port, &jwt, Some(&key));
        requester.send(b"SUB inbox 9\r\nPUB echo inbox 2\r\nhi\r\n");
        assert_eq!(until_pong(&mut requester), "PONG\r\n", "{binary}");
        let line = service.read_line(WAIT).expect("request");
        let fields: Vec<&str> = line.trim_end().split(' ').collect();
        assert_eq!(&fields[..2], ["HMSG", "svc.echo"], "{binary}: {line:?}");
        let total: usize = fields[5].parse().expect("size");
        let block = String::from_utf8_lossy(&service.read_exact_for(total + 2, WAIT)).into_owned();
        let info = format!(
            "Nats-Request-Info: {{\"acc\":\"{}\",\"rtt\":",
            b.public_key()
        );
        assert!(
            block.contains(&info) && block.ends_with("hi\r\n"),
            "{binary}: {block:?}"
        );
        // A streamed response: two parts, then the empty message that ends it.
        let reply = fields[3];
        service.send(format!("PUB {reply} 1\r\n1\r\nPUB {reply} 1\r\n2\r\nPUB {reply} 0\r\n\r\nPUB {reply} 1\r\n3\r\n").as_bytes());
        assert_eq!(until_pong(&mut service), "PONG\r\n", "{binary}");
        assert_eq!(
            until_pong(&mut requester),
            "MSG inbox 9 1\r\n1\r\nMSG inbox 9 1\r\n2\r\nMSG inbox 9 0\r\n\r\nPONG\r\n",
            "{binary}"
        );
    }
}

#[test]
fn jwt_permissions_and_limits_apply() {
    let op = Operator::new();
    let a = KeyPair::new_account();
    let scoped = KeyPair::new_account();
    let templated = KeyPair::new_account();
    let strict = KeyPair::new_account();
    let scope = |key: &KeyPair, template: &str| {
        format!(
            r#"{{"kind":"user_scope","key":"{}","role":"r","template":{{{template}"subs":-1,"data":-1,"payload":-1}}}}"#,
            key.public_key()
        )
    };
    let a_nats = account(
        &format!(
            r#""default_permissions":{{"sub":{{"deny":["secret"]}}}},"signing_keys":[{},{},{}],"#,
            scope(&scoped, r#""pub":{"deny":["scoped.no"]},"#),
            scope(
                &templated,
                r#""pub":{"allow":["svc.{{name()}}.>","acc.{{account-name()}}","own.{{subject()}}"]},"sub":{"allow":["in.{{tag(dept)}}","out.{{tag(none)}}"]},"#
            ),
            scope(&strict, r#""pub":{"deny":["x.{{tag(none)}}"]},"#),
        ),
        2,
    );
    let conf = op.config(&[(&a, op.account(&a, &a_nats))], "");
    let u = KeyPair::new_user();
    let pk = u.public_key();
    let templated_ops = format!(
        "PUB svc.tpl.x 0\r\n\r\nPUB acc.acc 0\r\n\r\nPUB own.{pk} 0\r\n\r\nPUB svc.other.x 0\r\n\r\nSUB in.sales 1\r\nSUB in.ops 2\r\nSUB in.hr 3\r\nSUB out.x 4\r\n"
    );
    let cases: Vec<(&str, String, &[u8], &str)> = vec![
        (
            "publish deny",
            encode(&a, &pk, "u", &user(r#""pub":{"deny":["x"]},"#)),
            b"PUB x 1\r\n1\r\nPUB y 1\r\n1\r\n",
            "-ERR 'Permissions Violation for Publish to \"x\"'\r\nPONG\r\n",
        ),
        (
            "subscribe allow",
            encode(&a, &pk, "u", &user(r#""sub":{"allow":["ok.>"]},"#)),
            b"SUB ok.1 1\r\nSUB no 2\r\n",
            "-ERR 'Permissions Violation for Subscription to \"no\"'\r\nPONG\r\n",
        ),
        (
            "the account's default permissions",
            encode(&a, &pk, "u", &user("")),
            b"SUB secret 1\r\n",
            "-ERR 'Permissions Violation for Subscription to \"secret\"'\r\nPONG\r\n",
        ),
        (
            "a scoped signing key's template",
            encode(
                &scoped,
                &pk,
                "u",
                &format!(
                    r#"{{"issuer_account":"{}","type":"user","version":2}}"#,
                    a.public_key()
                ),
            ),
            b"PUB scoped.no 0\r\n\r\n",
            "-ERR 'Permissions Violation for Publish to \"scoped.no\"'\r\nPONG\r\n",
        ),
        (
            "a scoped signing key's template filled in for the user",
            encode(
                &templated,
                &pk,
                "tpl",
                &format!(
                    r#"{{"issuer_account":"{}","tags":["dept:sales","dept:ops"],"type":"user","version":2}}"#,
                    a.public_key()
                ),
            ),
            templated_ops.as_bytes(),
            "-ERR 'Permissions Violation for Publish to \"svc.other.x\"'\r\n-ERR 'Permissions Violation for Subscription to \"in.hr\"'\r\n-ERR 'Permissions Violation for Subscription to \"out.x\"'\r\nPONG\r\n",
        ),
        (
            "a template whose deny list comes out invalid",
            encode(
                &strict,
                &pk,
                "u",
                &format!(
                    r#"{{"issuer_account":"{}","type":"user","version":2}}"#,
                    a.public_key()
                ),
            ),
            b"",
            VIOLATION,
        ),
        (
            "a scoped signing key's user with permissions of its own",
            encode(
                &scoped,
                &pk,
                "u",
                &user(&format!(r#""issuer_account":"{}","#, a.public_key())),
            ),
            b"",
            VIOLATION,
        ),
        (
            "the user's subscription limit",
            encode(
                &a,
                &pk,
                "u",
                r#"{"type":"user","version":2,"subs":1,"data":-1,"payload":-1}"#,
            ),
            b"SUB a 1\r\nSUB b 2\r\n",
            "-ERR 'maximum subscriptions exceeded'\r\nPONG\r\n",
        ),
        (
            "the user's payload limit",
            encode(
                &a,
                &pk,
                "u",
                r#"{"type":"user","version":2,"subs":-1,"data":-1,"payload":2}"#,
            ),
            b"PUB big 3\r\nabc\r\n",
            "-ERR 'Maximum Payload Violation'\r\n<closed>",
        ),
    ];
    for binary in binaries("jwt_permissions_and_limits_apply") {
        let server = TestServer::binary_with_config(binary, &conf, &[]);
        for (name, jwt, ops, expected) in &cases {
            assert_eq!(
                &attempt(server.port, jwt, Some(&u), ops),
                expected,
                "{binary}: {name}"
            );
        }
        // The account allows two connections at once: a third is refused until one goes.
        let jwt = encode(&a, &pk, "u", &user(""));
        let mut first = login(server.port, &jwt, Some(&u));
        assert_eq!(until_pong(&mut first), "PONG\r\n", "{binary}");
        let mut second = login(server.port, &jwt, Some(&u));
        assert_eq!(until_pong(&mut second), "PONG\r\n", "{binary}");
        assert_eq!(
            attempt(server.port, &jwt, Some(&u), b""),
            "-ERR 'maximum account active connections exceeded'\r\n<closed>",
            "{binary}"
        );
        drop(first);
        assert!(
            poll_until(WAIT, || attempt(server.port, &jwt, Some(&u), b"")
                == "PONG\r\n"),
            "{binary}: a place freed by a closed connection"
        );
    }
}

#[test]
fn a_user_jwt_that_expires_while_connected_closes_the_connection() {
    let op = Operator::new();
    let a = KeyPair::new_account();
    // The first PING comes 1.8-2.16 s after the connection opens; logging in half-way
    // through a second, with `exp` the second after next, expiry falls 1.5 s later. Ours
    // closes at that instant, before any PING. nats-server counts the time left in whole
    // seconds from the current one (up to a second late: a kept difference), so its PING may
    // come first.
    let conf = op.config(
        &[(&a, op.account(&a, &account("", -1)))],
        "ping_interval: \"1.8s\"\n",
    );
    let u = KeyPair::new_user();
    for binary in binaries("a_user_jwt_that_expires") {
        let server = TestServer::binary_with_config(binary, &conf, &[]);
        let into_second = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(Duration::ZERO, |d| {
                Duration::from_nanos(d.subsec_nanos().into())
            });
        let half = Duration::from_millis(500);
        std::thread::sleep(if into_second <= half {
            half - into_second
        } else {
            Duration::from_secs(1) + half - into_second
        });
        let jwt = encode_with(
            &a,
            &u.public_key(),
            "u",
            &user(""),
            &format!(r#""exp":{},"#, now() + 2),
        );
        let mut raw = login(server.port, &jwt, Some(&u));
        assert_eq!(until_pong(&mut raw), "PONG\r\n", "{binary}");
        let (got, closed) = raw.read_until_closed();
        let got = if binary == OURS {
            got.as_str()
        } else {
            got.strip_prefix("PING\r\n").unwrap_or(&got)
        };
        assert_eq!(got, "-ERR 'User Authentication Expired'\r\n", "{binary}");
        assert!(closed, "{binary}: closed at expiry");
    }
}

#[test]
fn operator_configurations_nats_server_refuses_are_refused() {
    let op = Operator::new();
    let a = KeyPair::new_account();
    let a_jwt = op.account(&a, &account("", -1));
    let foreign = encode(
        &KeyPair::new_operator(),
        &op.system.public_key(),
        "sys",
        &account("", -1),
    );
    let user_jwt = encode(&a, &KeyPair::new_user().public_key(), "u", &user(""));
    let sys = op.system.public_key();
    let jwt = &op.jwt;
    let both = [
        (
            op.config(&[], "authorization { users: [ {user: a, password: b} ] }\n"),
            "operators do not allow users to be configured directly",
        ),
        (
            op.config(&[], "accounts { X {} }\n"),
            "operators do not allow Accounts to be configured directly",
        ),
        (
            format!("operator: {jwt}\nresolver: MEMORY\nsystem_account: {sys}\n"),
            "error resolving system account: account missing",
        ),
        (
            format!(
                "operator: {jwt}\nresolver: MEMORY\nsystem_account: {sys}\nresolver_preload: {{ {sys}: \"{foreign}\" }}\n"
            ),
            "error resolving system account: account validation failed",
        ),
        (
            format!(
                "operator: {jwt}\nresolver: MEMORY\nresolver_preload: {{ {}: \"{user_jwt}\" }}\n",
                a.public_key()
            ),
            "invalid account JWT",
        ),
        (
            format!("operator: {a_jwt}\nresolver: MEMORY\n"),
            "error parsing operator JWT: not operator claim",
        ),
        (
            "operator: /nonexistent/op.jwt\nresolver: MEMORY\n".to_string(),
            "error parsing operator JWT: open /nonexistent/op.jwt: no such file or directory",
        ),
        (
            format!("operator: [{jwt}]\nresolver: MEMORY\n"),
            "error parsing operators: unsupported type []interface {}",
        ),
        (
            format!("operator: {jwt}\nresolver: foo\n"),
            "error parsing account resolver, should be MEM",
        ),
        (
            format!(
                "operator: {}\nresolver: MEMORY\nsystem_account: {sys}\n",
                encode(
                    &op.key,
                    &op.key.public_key(),
                    "o",
                    &format!(
                        r#"{{"system_account":"{}","type":"operator","version":2}}"#,
                        a.public_key()
                    )
                )
            ),
            "system_account in config and operator JWT must be identical",
        ),
    ];
    for (conf, text) in &both {
        for binary in binaries("operator_configurations_refused") {
            assert_config_refused(binary, conf, text);
        }
    }
    // nats-server refuses these too (it tries the operator's account server, or the URL,
    // and fails): our texts say what is missing or not supported.
    let ours = [
        (
            format!("operator: {jwt}\n"),
            "operators require an account resolver to be configured",
        ),
        (
            format!("operator: {jwt}\nresolver: URL(http://127.0.0.1:9/accounts/)\n"),
            "resolver URL is not supported by this server yet",
        ),
    ];
    for (conf, text) in &ours {
        assert_config_refused(OURS, conf, text);
        if reference_available("operator_configurations_refused") {
            let file = TempFile::new("refused", "bad.conf", conf);
            let (code, out) = run_to_exit(REFERENCE, &["-c", &file.arg(), "-p", "-1"]);
            assert_eq!(code, Some(1), "nats-server {conf}: {out}");
        }
    }
    // Where nats-server would route traffic we do not implement yet, we refuse to start
    // instead of ignoring the account's mappings.
    let mapped = op.account(
        &a,
        &account(r#""mappings":{"a":[{"subject":"b","weight":100}]},"#, -1),
    );
    assert_config_refused(
        OURS,
        &op.config(&[(&a, mapped)], ""),
        &format!(
            "account {}: mappings in account JWTs are not supported",
            a.public_key()
        ),
    );
}

#[test]
fn monitoring_shows_the_operator_and_jwt_logins() {
    let op = Operator::new();
    let a = KeyPair::new_account();
    let conf = op.config(&[(&a, op.account(&a, &account("", -1)))], "");
    let u = KeyPair::new_user();
    let jwt = encode(&a, &u.public_key(), "the-user", &user(""));
    let mut seen = Vec::new();
    for binary in binaries("monitoring_shows_the_operator") {
        let server = TestServer::binary_with_config(binary, &conf, &["-m", "-1"]);
        let http = server.logged_port("Starting http monitor on ");
        let mut raw = login(server.port, &jwt, Some(&u));
        assert_eq!(until_pong(&mut raw), "PONG\r\n", "{binary}");
        let varz = get_json(http, "/varz");
        let connz = get_json(http, "/connz?auth=1");
        let conn = &connz["connections"][0];
        assert_eq!(conn["authorized_user"], u.public_key(), "{binary}");
        assert_eq!(conn["account"], a.public_key(), "{binary}");
        assert_eq!(conn["issuer_key"], a.public_key(), "{binary}");
        assert_eq!(conn["name_tag"], "the-user", "{binary}");
        assert_eq!(conn["jwt"], jwt.as_str(), "{binary}");
        assert_eq!(varz["system_account"], op.system.public_key(), "{binary}");
        assert_eq!(varz["auth_required"], true, "{binary}");
        assert_eq!(
            varz["trusted_operators_jwt"][0],
            op.jwt.as_str(),
            "{binary}"
        );
        seen.push(varz["trusted_operators_claim"].clone());
        // A closed connection keeps its JWT fields.
        drop(raw);
        let closed_has_jwt = poll_until(WAIT, || {
            let closed = get_json(http, "/connz?auth=1&state=closed");
            let c = &closed["connections"][0];
            c["jwt"] == jwt.as_str()
                && c["issuer_key"] == a.public_key()
                && c["name_tag"] == "the-user"
        });
        assert!(
            closed_has_jwt,
            "{binary}: {}",
            get_json(http, "/connz?auth=1&state=closed")
        );
    }
    assert_eq!(seen[0][0]["sub"], op.key.public_key());
    if let [ours, reference] = seen.as_slice() {
        assert_eq!(
            ours, reference,
            "the decoded operator as nats-server shows it"
        );
    }
}

#[tokio::test]
async fn async_nats_logs_in_with_a_creds_file() {
    let op = Operator::new();
    let a = KeyPair::new_account();
    let conf = op.config(&[(&a, op.account(&a, &account("", -1)))], "");
    let server = TestServer::with_config(&conf, &[]);
    let u = KeyPair::new_user();
    let jwt = encode(&a, &u.public_key(), "u", test_jwt::USER);
    let good = test_jwt::creds_file(&jwt, &u.seed().expect("seed"));
    let wrong_seed = test_jwt::creds_file(&jwt, &KeyPair::new_user().seed().expect("seed"));
    let client = async_nats::ConnectOptions::with_credentials(&good)
        .expect("creds")
        .connect(server.url())
        .await
        .expect("connect");
    let mut sub = client.subscribe("jwt.subject").await.expect("subscribe");
    client.flush().await.expect("flush");
    client
        .publish("jwt.subject", "hello".into())
        .await
        .expect("publish");
    let msg = tokio::time::timeout(Duration::from_secs(5), futures::StreamExt::next(&mut sub))
        .await
        .expect("in time")
        .expect("a message");
    assert_eq!(&msg.payload[..], b"hello");
    assert_login(
        &server.url(),
        async_nats::ConnectOptions::with_credentials(&good).expect("creds"),
        async_nats::ConnectOptions::with_credentials(&wrong_seed).expect("creds"),
    )
    .await;
}

/// JWT accounts across three servers of `kinds` (the first the seed): B's subscriber on the
/// third gets A's stream published on the second through B's import; C sees none of it.
fn jwt_accounts_across(kinds: [cluster_util::ServerKind; 3]) {
    let op = Operator::new();
    let [a, b, c] = news_accounts();
    let preload = news_preload(&op, [&a, &b, &c]);
    let [pa, pb, pc, ca, cb, cc] = free_ports::<6>();
    let conf = |cluster: u16, routes: &[u16]| {
        let urls = cluster_util::route_urls(routes, "nats-route", ", ");
        op.config(
            &preload,
            &format!(
                "cluster {{\n  name: jwt\n  listen: 127.0.0.1:{cluster}\n  routes: [{urls}]\n}}\n"
            ),
        )
    };
    let nodes = cluster_util::start_together(
        &[
            (kinds[0], pa, ca, conf(ca, &[])),
            (kinds[1], pb, cb, conf(cb, &[ca])),
            (kinds[2], pc, cc, conf(cc, &[ca])),
        ],
        2,
    );
    let context = format!("{kinds:?}");
    let (jwt, key) = member(&b);
    let mut in_b = login(pc, &jwt, Some(&key));
    in_b.send(b"SUB news.> 1\r\n");
    assert_eq!(until_pong(&mut in_b), "PONG\r\n", "{context}");
    let (jwt, key) = member(&c);
    let mut in_c = login(pc, &jwt, Some(&key));
    in_c.send(b"SUB > 1\r\n");
    assert_eq!(until_pong(&mut in_c), "PONG\r\n", "{context}");
    let (jwt, key) = member(&a);
    let mut publisher = login(pb, &jwt, Some(&key));
    assert_eq!(until_pong(&mut publisher), "PONG\r\n", "{context}");
    // Interest crosses the routes a moment after the SUB: publish until it arrives.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut got = String::new();
    while got.is_empty() && std::time::Instant::now() < deadline {
        publisher.send(b"PUB news.x 2\r\nhi\r\n");
        assert_eq!(until_pong(&mut publisher), "PONG\r\n", "{context}");
        let (bytes, _) = in_b.read_for(Duration::from_millis(200));
        got = String::from_utf8_lossy(&bytes).into_owned();
    }
    assert!(
        got.starts_with("MSG news.x 1 2\r\nhi\r\n"),
        "{context}: {got:?}"
    );
    assert_eq!(
        until_pong(&mut in_c),
        "PONG\r\n",
        "{context}: C saw A's stream"
    );
    drop(nodes);
}

#[test]
fn jwt_accounts_work_across_a_cluster_of_ours() {
    jwt_accounts_across([cluster_util::ServerKind::Ours; 3]);
}

#[test]
fn jwt_accounts_work_across_a_cluster_mixed_with_nats_server() {
    use cluster_util::ServerKind::{Ours, Real};
    if cluster_util::real_server_available("jwt_accounts_work_across_a_cluster_mixed") {
        jwt_accounts_across([Real, Ours, Ours]);
        jwt_accounts_across([Ours, Real, Real]);
    }
}

/// A websocket client in operator mode: its user JWT may come in the `jwt_cookie` cookie
/// instead of CONNECT, and `allowed_connection_types` tells websocket from plain clients.
#[test]
fn websocket_clients_log_in_with_a_jwt_cookie_and_their_connection_type() {
    let op = Operator::new();
    let a = KeyPair::new_account();
    let conf = op.config(
        &[(&a, op.account(&a, &account("", -1)))],
        "websocket { host: 127.0.0.1, port: -1, no_tls: true, jwt_cookie: my_jwt }\n",
    );
    let bearer = |types: &str| {
        let u = KeyPair::new_user();
        encode(
            &a,
            &u.public_key(),
            "u",
            &user(&format!(
                r#""bearer_token":true,"allowed_connection_types":{types},"#
            )),
        )
    };
    let ws_only = bearer(r#"["WEBSOCKET"]"#);
    let tcp_only = bearer(r#"["STANDARD"]"#);
    // Over websocket: the cookie's JWT logs in when CONNECT has none.
    let over_ws = |port: u16, cookie: &str| {
        let mut c = ws::WsRaw::open(port, &format!("Cookie: other=1; my_jwt={cookie}\r\n"));
        c.frame(WAIT).expect("INFO");
        c.send(b"CONNECT {\"verbose\":false}\r\nPING\r\n");
        c.read_until("PONG\r\n", WAIT)
    };
    for binary in binaries("websocket_jwt_cookie") {
        let server = TestServer::binary_with_config(binary, &conf, &[]);
        let port = server.logged_port("Listening for websocket clients on ");
        assert_eq!(over_ws(port, &ws_only), "PONG\r\n", "{binary}");
        assert_eq!(
            over_ws(port, &tcp_only),
            "-ERR 'Authorization Violation'\r\n",
            "{binary}"
        );
        assert_eq!(
            attempt(server.port, &ws_only, None, b""),
            VIOLATION,
            "{binary}"
        );
        assert_eq!(
            attempt(server.port, &tcp_only, None, b""),
            "PONG\r\n",
            "{binary}"
        );
    }
}
