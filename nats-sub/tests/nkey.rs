//! `--nkey` and `--creds` end to end: `nats-sub` and `nats-pub` log in with a user nkey on
//! our `gnatsd` and on the real nats-server, keep logging in with it when they fail over to
//! another server, and with a creds file on nats-server in operator mode. Wrong keys are
//! refused with the server's `Authorization Violation`.

mod common;

use common::{bins, nats_sub, publish, subscriber};
use nats_cli::testkit::{free_port, run, strs, AuthFiles, NkeyUser, Server, WAIT};

/// `nats-sub -n 1 --<flag> <file>` on `url` receives what `nats-pub` with the same flag
/// publishes; then the same flag with `wrong` is refused by both tools.
fn logs_in_and_wrong_keys_are_refused(url: &str, flag: &str, file: &str, wrong: &str) {
    let mut sub = subscriber(&["-s", url, flag, file, "-n", "1", "signed"]);
    publish(&["-s", url, flag, file, "signed", "by nkey"]);
    assert_eq!(
        sub.wait_exit(WAIT).and_then(|s| s.code()),
        Some(0),
        "{}",
        sub.describe()
    );
    assert_eq!(
        sub.stdout(),
        [
            "Listening on [signed]",
            "[#1] Received on [signed] : 'by nkey'"
        ]
    );
    let nats_pub = bins().get("nats-pub", "nats-pub");
    for (tool, args) in [
        (nats_sub(), vec!["-s", url, flag, wrong, "signed"]),
        (nats_pub, vec!["-s", url, flag, wrong, "signed", "x"]),
        // No credentials at all.
        (nats_sub(), vec!["-s", url, "signed"]),
    ] {
        let done = run(&tool, &args, None, WAIT);
        assert_eq!(done.code(), Some(1), "{args:?}: {done:?}");
        assert_eq!(
            done.stderr,
            ["nats: Authorization Violation"],
            "{args:?}: {done:?}"
        );
    }
}

/// A user the server knows and a stranger, with the config that admits only the first.
fn nkey_users(files: &AuthFiles) -> (NkeyUser, NkeyUser, String) {
    let user = files.nkey_user("user");
    let stranger = files.nkey_user("stranger");
    let config = files.nkey_config(&[&user]);
    (user, stranger, config)
}

/// The `--nkey` login on the server `start` runs with a config admitting one nkey user
/// (`None`: skipped).
fn nkey_login(start: impl FnOnce(&str) -> Option<Server>) {
    let files = AuthFiles::new();
    let (user, stranger, config) = nkey_users(&files);
    let Some(server) = start(&config) else {
        return;
    };
    logs_in_and_wrong_keys_are_refused(
        &server.url(),
        "--nkey",
        &user.seed_file,
        &stranger.seed_file,
    );
}

#[test]
fn nkey_login_on_gnatsd() {
    nkey_login(|config| Some(Server::gnatsd(&bins(), &["-c", config])));
}

#[test]
fn nkey_login_on_nats_server() {
    nkey_login(|config| {
        Server::nats_server_with_or_skip("nkey_login_on_nats_server", &["-c", config])
    });
}

/// A dead server first in `-s`, then the live one; then the live one dies and the subscriber
/// reconnects to a third, signing that server's nonce too.
#[test]
fn nkey_login_survives_failover() {
    let files = AuthFiles::new();
    let (user, _, config) = nkey_users(&files);
    let bins = bins();
    let mut a = Server::gnatsd(&bins, &["-c", &config]);
    let b = Server::gnatsd(&bins, &["-c", &config]);
    let dead = format!("nats://127.0.0.1:{}", free_port());
    let servers = format!("{dead},{},{}", a.url(), b.url());
    let nkey = |servers: &str, rest: &[&str]| -> Vec<String> {
        let mut args = vec!["-s".to_string(), servers.to_string(), "--nkey".into()];
        args.push(user.seed_file.clone());
        args.extend(rest.iter().map(|s| s.to_string()));
        args
    };
    let sub = subscriber(&strs(&nkey(&servers, &["hello"])));
    publish(&strs(&nkey(
        &format!("{dead},{}", a.url()),
        &["hello", "one"],
    )));
    assert!(sub.wait_stdout("[#1]", WAIT), "{}", sub.describe());

    a.kill();
    let reconnected = format!("Reconnected [{}]", b.url());
    assert!(sub.wait_stderr(&reconnected, WAIT), "{}", sub.describe());
    publish(&strs(&nkey(&b.url(), &["hello", "two"])));
    assert!(sub.wait_stdout("[#2]", WAIT), "{}", sub.describe());
}

/// nats-server in operator mode: a creds file with the user's JWT and seed logs in; the same
/// JWT with another seed does not sign the nonce right.
#[test]
fn creds_login_on_nats_server_in_operator_mode() {
    let files = AuthFiles::new();
    let setup = files.operator_setup();
    let Some(server) = Server::nats_server_with_or_skip(
        "creds_login_on_nats_server_in_operator_mode",
        &["-c", &setup.config],
    ) else {
        return;
    };
    logs_in_and_wrong_keys_are_refused(
        &server.url(),
        "--creds",
        &setup.creds,
        &setup.wrong_seed_creds,
    );
}

/// Bad credential files fail before any connection, like bad TLS files.
#[test]
fn bad_credential_files_fail_up_front() {
    let files = AuthFiles::new();
    let no_seed = files.write("empty.nk", "# nothing\n");
    let bad_seed = files.write("bad.nk", "SUAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n");
    let user = files.nkey_user("user");
    // Nobody listens there: reaching the network would say "no servers available".
    let closed = format!("nats://127.0.0.1:{}", free_port());
    let with_user = format!("nats://u:p@127.0.0.1:{}", free_port());
    let cases = [
        (
            vec!["-s", &closed, "--nkey", "/nonexistent/u.nk", "x"],
            "nats: open /nonexistent/u.nk: no such file or directory".to_string(),
        ),
        (
            vec!["-s", &closed, "--nkey", &no_seed, "x"],
            format!("nats: no nkey seed found in {no_seed}"),
        ),
        (
            vec!["-s", &closed, "--nkey", &bad_seed, "x"],
            format!("nats: invalid nkey seed in {bad_seed}"),
        ),
        (
            vec!["-s", &closed, "--creds", &user.seed_file, "x"],
            format!("nats: no user JWT found in {}", user.seed_file),
        ),
        (
            vec!["-s", &with_user, "--nkey", &user.seed_file, "x"],
            "nats: --nkey cannot be combined with user:pass@ or token@ in a server URL".to_string(),
        ),
    ];
    for (args, expected) in cases {
        let done = run(&nats_sub(), &args, None, WAIT);
        assert_eq!(done.code(), Some(1), "{args:?}: {done:?}");
        assert_eq!(done.stderr, [expected], "{args:?}");
    }
    let both = ["--nkey", &user.seed_file, "--creds", &user.seed_file, "x"];
    let done = run(&nats_sub(), &both, None, WAIT);
    assert_eq!(done.code(), Some(2), "{done:?}");
    assert!(
        done.stderr
            .iter()
            .any(|l| l.contains("cannot be used with")),
        "{done:?}"
    );
}
