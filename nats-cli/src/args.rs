//! Command-line pieces both tools share: the server, TLS and credential flags ([`ConnectArgs`], flattened
//! into each tool's clap parser) and [`diag!`](crate::diag) for diagnostics on stderr.

use std::path::PathBuf;

use clap::Args;

use crate::tls::{TlsFiles, TlsSetup};
use crate::url::{parse_server_list, Auth};
use crate::{ClientOptions, Credentials, Error, ServerPool, DEFAULT_URL};

/// Writes a diagnostic line to stderr. Unlike `eprintln!` it does not panic when stderr is
/// closed: losing a diagnostic must not turn into a crash.
#[macro_export]
macro_rules! diag {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = ::std::writeln!(::std::io::stderr(), $($arg)*);
    }};
}

/// Which servers to use, how to secure the connection and whom to log in as: `-s/--server`,
/// `--tlscert`, `--tlskey`, `--tlscacert`, `--nkey` and `--creds`, defined once so that
/// `nats-pub` and `nats-sub` spell, default and document them the same way
/// (`#[command(flatten)]` this into a tool's `Args`).
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct ConnectArgs {
    /// NATS server URLs, comma separated (nats:// or tls://[user:pass@|token@]host[:port]).
    // This doc comment is the `--help` text, so its brackets are not rustdoc links.
    #[allow(rustdoc::broken_intra_doc_links)]
    #[arg(short = 's', long = "server", value_name = "URLS", default_value = DEFAULT_URL)]
    pub server: String,

    /// Client certificate (PEM) to present to the server; needs --tlskey. Implies TLS.
    #[arg(long = "tlscert", value_name = "FILE")]
    pub tlscert: Option<PathBuf>,

    /// Private key (PEM) of --tlscert.
    #[arg(long = "tlskey", value_name = "FILE")]
    pub tlskey: Option<PathBuf>,

    /// CA certificates (PEM) to verify the server with (default: the system's). Implies TLS.
    #[arg(long = "tlscacert", value_name = "FILE")]
    pub tlscacert: Option<PathBuf>,

    /// User nkey seed file (SU...): sign the server's nonce with it. Not with --creds, nor
    /// with user:pass@ or token@ in the server URLs.
    #[arg(long = "nkey", value_name = "SEEDFILE", conflicts_with = "creds")]
    pub nkey: Option<PathBuf>,

    /// User credentials file (user JWT and nkey seed, as nsc writes it): log in with the JWT
    /// and sign the server's nonce. Not with --nkey, nor with user:pass@ or token@ in the
    /// server URLs.
    #[arg(long = "creds", value_name = "FILE")]
    pub creds: Option<PathBuf>,
}

impl ConnectArgs {
    /// Checks the server list, then the TLS files, then the credentials file, and turns them
    /// into what [`Client::connect`](crate::Client::connect) takes, with client `name` and
    /// `version`. Nothing touches the network, so a typo fails at once instead of after a
    /// connect attempt.
    ///
    /// `--nkey`/`--creds` and credentials in a URL are refused together: which of them the
    /// server would take is its choice, and a login that depends on the server is a surprise.
    pub fn client_setup(
        &self,
        name: &str,
        version: &str,
    ) -> Result<(ServerPool, ClientOptions), Error> {
        let urls = parse_server_list(&self.server)?;
        let mut options = ClientOptions::new(name, version);
        options.tls = TlsSetup::new(TlsFiles {
            ca_file: self.tlscacert.clone(),
            cert_file: self.tlscert.clone(),
            key_file: self.tlskey.clone(),
        })?;
        let flag = match (&self.nkey, &self.creds) {
            (Some(path), _) => Some(("--nkey", Credentials::from_nkey_file(path)?)),
            (None, Some(path)) => Some(("--creds", Credentials::from_creds_file(path)?)),
            (None, None) => None,
        };
        if let Some((flag, credentials)) = flag {
            if urls.iter().any(|url| url.auth != Auth::None) {
                return Err(Error::Credentials(format!(
                    "{flag} cannot be combined with user:pass@ or token@ in a server URL"
                )));
            }
            options.credentials = Some(credentials);
        }
        Ok((ServerPool::new(urls), options))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// A tool with nothing but the shared flags.
    #[derive(Parser, Debug)]
    struct Tool {
        #[command(flatten)]
        connect: ConnectArgs,
    }

    #[test]
    fn server_defaults_and_bad_lists_fail_before_connecting() {
        let tool = Tool::try_parse_from(["tool"]).expect("valid");
        assert_eq!(tool.connect.server, DEFAULT_URL);
        assert!(tool.connect.client_setup("t", "1").is_ok());
        let tool = Tool::try_parse_from(["tool", "-s", "nats://host:port"]).expect("valid");
        assert!(tool.connect.client_setup("t", "1").is_err());
        let tool = Tool::try_parse_from(["tool", "--tlscert", "c.pem"]).expect("valid");
        let err = tool
            .connect
            .client_setup("t", "1")
            .expect_err("cert without key");
        assert!(err.to_string().contains("--tlskey"), "{err}");
    }

    #[test]
    fn credential_flags_are_checked_before_connecting() {
        let err = Tool::try_parse_from(["tool", "--nkey", "a.nk", "--creds", "b.creds"])
            .expect_err("both");
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
        let tool =
            Tool::try_parse_from(["tool", "--creds", "/nonexistent/u.creds"]).expect("valid");
        let err = tool.connect.client_setup("t", "1").expect_err("missing");
        assert_eq!(
            err.to_string(),
            "nats: open /nonexistent/u.creds: no such file or directory"
        );

        let file = std::env::temp_dir().join(format!("nats-cli-args-{}.nk", std::process::id()));
        let seed = nkeys::KeyPair::new_user().seed().expect("seed");
        std::fs::write(&file, &seed).expect("write seed");
        let nkey = file.to_string_lossy().into_owned();
        let setup = |server: &str| {
            Tool::try_parse_from(["tool", "-s", server, "--nkey", &nkey])
                .expect("valid")
                .connect
                .client_setup("t", "1")
        };
        let good = setup("h:1,h:2");
        let with_user = setup("h:1,nats://u:p@h:2");
        let _ = std::fs::remove_file(&file);
        let (_, options) = good.expect("seed file");
        assert!(matches!(options.credentials, Some(Credentials::Nkey(_))));
        let err = with_user.expect_err("user in URL");
        assert_eq!(
            err.to_string(),
            "nats: --nkey cannot be combined with user:pass@ or token@ in a server URL"
        );
    }
}
