//! Command-line pieces both tools share: the server and TLS flags ([`ConnectArgs`], flattened
//! into each tool's clap parser) and [`diag!`](crate::diag) for diagnostics on stderr.

use std::path::PathBuf;

use clap::Args;

use crate::tls::{TlsFiles, TlsSetup};
use crate::url::parse_server_list;
use crate::{ClientOptions, Error, ServerPool, DEFAULT_URL};

/// Writes a diagnostic line to stderr. Unlike `eprintln!` it does not panic when stderr is
/// closed: losing a diagnostic must not turn into a crash.
#[macro_export]
macro_rules! diag {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = ::std::writeln!(::std::io::stderr(), $($arg)*);
    }};
}

/// Which servers to use and how to secure the connection: `-s/--server`, `--tlscert`,
/// `--tlskey` and `--tlscacert`, defined once so that `nats-pub` and `nats-sub` spell, default
/// and document them the same way (`#[command(flatten)]` this into a tool's `Args`).
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
}

impl ConnectArgs {
    /// Checks the server list, then the TLS files, and turns them into what
    /// [`Client::connect`](crate::Client::connect) takes, with client `name` and `version`.
    /// Nothing touches the network, so a typo fails at once instead of after a connect attempt.
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
}
