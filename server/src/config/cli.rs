//! The command line, parsed the way nats-server's Go `flag` package parses it.
//!
//! Go flags take one or two dashes (`-routes`, `--routes`, `-config`) and multi-letter names
//! behind a single dash (`-DV`, `-ms`, `-sl`). [`normalize`] rewrites such words to clap's
//! `--long` form before clap sees them; booleans accept `-D=false` (never a separate word, which
//! Go would take as a positional). Flag values are applied over the configuration file.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{ArgAction, Parser};

use crate::options::Options;

/// The version line printed by `-v`, `--version` and `version`.
pub const VERSION_LINE: &str = "nats-server: v2.9.10";

/// nats-server 2.9.10's `--help` text, byte for byte.
pub const USAGE: &str = include_str!("usage.txt");

fn parse_go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("parse error: {s:?}")),
    }
}

/// The flags of nats-server 2.9.10 (see docs/protocol.md §4).
#[derive(Debug, Parser, Default)]
#[command(
    name = "nats-server",
    disable_help_flag = true,
    disable_version_flag = true,
    args_override_self = true
)]
pub struct Flags {
    /// Client listen host.
    #[arg(short = 'a', long = "addr", visible_alias = "net")]
    pub addr: Option<String>,
    /// Client port (-1 random).
    #[arg(short = 'p', long = "port", allow_hyphen_values = true)]
    pub port: Option<i32>,
    /// Server name.
    #[arg(short = 'n', long = "name", visible_alias = "server_name")]
    pub name: Option<String>,
    /// PID file.
    #[arg(short = 'P', long = "pid")]
    pub pid: Option<PathBuf>,
    /// Monitoring port.
    #[arg(short = 'm', long = "http_port", allow_hyphen_values = true)]
    pub http_port: Option<i32>,
    /// HTTPS monitoring port.
    #[arg(long = "https_port", visible_alias = "ms", allow_hyphen_values = true)]
    pub https_port: Option<i32>,
    /// Configuration file.
    #[arg(short = 'c', long = "config")]
    pub config: Option<PathBuf>,
    /// Test the configuration and exit.
    #[arg(short = 't', num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    pub test_config: Option<bool>,
    /// Send a signal to a running server.
    #[arg(long = "signal", visible_alias = "sl")]
    pub signal: Option<String>,
    /// Client URL advertised.
    #[arg(long = "client_advertise")]
    pub client_advertise: Option<String>,
    /// Directory for the ports file.
    #[arg(long = "ports_file_dir")]
    pub ports_file_dir: Option<PathBuf>,
    /// Log file.
    #[arg(short = 'l', long = "log")]
    pub log: Option<PathBuf>,
    /// Timestamps in the log.
    #[arg(short = 'T', long = "logtime", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    pub logtime: Option<bool>,
    /// Syslog.
    #[arg(short = 's', long = "syslog", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    pub syslog: Option<bool>,
    /// Remote syslog URL.
    #[arg(short = 'r', long = "remote_syslog")]
    pub remote_syslog: Option<String>,
    /// Debug output.
    #[arg(short = 'D', long = "debug", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    pub debug: Option<bool>,
    /// Protocol trace.
    #[arg(short = 'V', long = "trace", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    pub trace: Option<bool>,
    /// Verbose trace.
    #[arg(long = "VV", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    pub trace_verbose: Option<bool>,
    /// Debug and trace.
    #[arg(long = "DV", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    pub debug_trace: Option<bool>,
    /// Debug and verbose trace.
    #[arg(long = "DVV", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    pub debug_trace_verbose: Option<bool>,
    /// Log size limit.
    #[arg(long = "log_size_limit")]
    pub log_size_limit: Option<i64>,
    /// Max traced message length.
    #[arg(long = "max_traced_msg_len")]
    pub max_traced_msg_len: Option<i64>,
    /// JetStream.
    #[arg(long = "jetstream", visible_alias = "js", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    pub jetstream: Option<bool>,
    /// JetStream store directory.
    #[arg(long = "store_dir", visible_alias = "sd")]
    pub store_dir: Option<PathBuf>,
    /// Single user.
    #[arg(long = "user")]
    pub user: Option<String>,
    /// Single user's password.
    #[arg(long = "pass")]
    pub pass: Option<String>,
    /// Token.
    #[arg(long = "auth")]
    pub auth: Option<String>,
    /// TLS.
    #[arg(long = "tls", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    pub tls: Option<bool>,
    /// TLS certificate.
    #[arg(long = "tlscert")]
    pub tlscert: Option<PathBuf>,
    /// TLS key.
    #[arg(long = "tlskey")]
    pub tlskey: Option<PathBuf>,
    /// TLS client verification.
    #[arg(long = "tlsverify", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    pub tlsverify: Option<bool>,
    /// TLS CA.
    #[arg(long = "tlscacert")]
    pub tlscacert: Option<PathBuf>,
    /// Routes to solicit.
    #[arg(long = "routes")]
    pub routes: Option<String>,
    /// Cluster listen URL.
    #[arg(long = "cluster", visible_alias = "cluster_listen")]
    pub cluster: Option<String>,
    /// Cluster name.
    #[arg(long = "cluster_name")]
    pub cluster_name: Option<String>,
    /// Do not advertise cluster URLs to clients.
    #[arg(long = "no_advertise", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    pub no_advertise: Option<bool>,
    /// Cluster address advertised.
    #[arg(long = "cluster_advertise")]
    pub cluster_advertise: Option<String>,
    /// Retries for implicit routes.
    #[arg(long = "connect_retries")]
    pub connect_retries: Option<u32>,
    /// Profiling port.
    #[arg(long = "profile")]
    pub profile: Option<i32>,
    /// Usage.
    #[arg(short = 'h', long = "help", action = ArgAction::SetTrue)]
    pub help: bool,
    /// TLS help.
    #[arg(long = "help_tls", action = ArgAction::SetTrue)]
    pub help_tls: bool,
    /// Version.
    #[arg(short = 'v', long = "version", action = ArgAction::SetTrue)]
    pub version: bool,
    /// `version` or `help`, the only positional words nats-server accepts.
    #[arg(trailing_var_arg = true)]
    pub command: Vec<String>,
}

/// Rewrites Go-style words (`-config`, `-DV`, `-routes=x`) to clap's `--long` form. Single
/// letters stay short flags; everything after the first non-flag word is left alone, as Go
/// stops parsing there.
pub fn normalize<I: IntoIterator<Item = OsString>>(args: I) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut flags_done = false;
    for (i, arg) in args.into_iter().enumerate() {
        if i == 0 || flags_done {
            out.push(arg);
            continue;
        }
        let Some(text) = arg.to_str() else {
            out.push(arg);
            continue;
        };
        if text == "--" {
            flags_done = true;
            out.push(arg);
            continue;
        }
        if let Some(body) = text.strip_prefix('-').filter(|b| !b.starts_with('-')) {
            let name = body.split('=').next().unwrap_or(body);
            if name.len() > 1 && !name.starts_with(|c: char| c.is_ascii_digit()) {
                out.push(OsString::from(format!("--{body}")));
                continue;
            }
        }
        out.push(arg);
    }
    out
}

/// What the command line asks for besides running the server.
#[derive(Debug)]
pub enum Action {
    /// Start the server with these options.
    Run(Box<Options>),
    /// Check the configuration file and exit.
    TestConfig(Box<Options>),
    /// Print this to stdout and exit 0.
    Print(String),
    /// Print this to stderr and exit 1.
    Fail(String),
}

/// Parses the arguments (including argv\[0\]) into an action.
pub fn parse<I: IntoIterator<Item = OsString>>(args: I) -> Action {
    let flags = match Flags::try_parse_from(normalize(args)) {
        Ok(flags) => flags,
        Err(err) => return clap_failure(err),
    };
    if flags.help
        || flags
            .command
            .first()
            .is_some_and(|c| c.eq_ignore_ascii_case("help"))
    {
        return Action::Print(USAGE.to_string());
    }
    if flags.version
        || flags
            .command
            .first()
            .is_some_and(|c| c.eq_ignore_ascii_case("version"))
    {
        return Action::Print(format!("{VERSION_LINE}\n"));
    }
    if let Some(signal) = &flags.signal {
        return send_signal(signal);
    }
    if let Some(word) = flags.command.first() {
        return Action::Fail(format!("nats-server: unrecognized command: {word:?}"));
    }
    let mut options = Options::default();
    if let Some(path) = &flags.config {
        match crate::config::load(path) {
            Ok(loaded) => options = loaded,
            Err(err) => return Action::Fail(format!("nats-server: {err}")),
        }
        options.config_file = Some(path.clone());
    }
    if let Err(err) = apply(&flags, &mut options) {
        return Action::Fail(format!("nats-server: {err}"));
    }
    if flags.test_config == Some(true) {
        if flags.config.is_none() {
            return Action::Fail(
                "nats-server: must specify [-c, --config] option to check configuration file syntax"
                    .into(),
            );
        }
        return Action::TestConfig(Box::new(options));
    }
    if let Err(err) = options.validate() {
        return Action::Fail(format!("nats-server: {err}"));
    }
    Action::Run(Box::new(options))
}

/// The options a reload puts in force: the configuration file read again, with the same
/// command-line flags applied on top (as at start-up, flags win over the file).
pub fn reload_options<I: IntoIterator<Item = OsString>>(args: I) -> Result<Options, String> {
    match parse(args) {
        Action::Run(options) => Ok(*options),
        Action::Fail(text) => Err(text
            .strip_prefix("nats-server: ")
            .map(str::to_string)
            .unwrap_or(text)),
        Action::TestConfig(_) | Action::Print(_) => {
            Err("the command line does not start a server".into())
        }
    }
}

/// `--signal cmd[=pid|pidfile]`: sends the signal nats-server maps `cmd` to, to the given
/// process, or to the one running `gnatsd` process found by `pgrep`.
fn send_signal(spec: &str) -> Action {
    let (cmd, target) = match spec.split_once('=') {
        Some((c, t)) => (c, Some(t)),
        None => (spec, None),
    };
    let sig = match cmd {
        "ldm" => "USR2",
        "stop" => "KILL",
        "quit" => "INT",
        "term" => "TERM",
        "reopen" => "USR1",
        "reload" => "HUP",
        other => return Action::Fail(format!("nats-server: unknown signal {other:?}")),
    };
    let pid = match target {
        Some(t) if t.chars().all(|c| c.is_ascii_digit()) => t.to_string(),
        Some(file) => match std::fs::read_to_string(file) {
            Ok(pid) => pid.trim().to_string(),
            Err(e) => {
                return Action::Fail(format!("nats-server: could not read pidfile {file:?}: {e}"))
            }
        },
        None => {
            let out = std::process::Command::new("pgrep")
                .arg("-x")
                .arg("gnatsd")
                .output();
            let pids: Vec<String> = out
                .map(|o| {
                    String::from_utf8_lossy(&o.stdout)
                        .split_whitespace()
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            let own = std::process::id().to_string();
            let pids: Vec<String> = pids.into_iter().filter(|p| *p != own).collect();
            match pids.as_slice() {
                [one] => one.clone(),
                [] => return Action::Fail("nats-server: no gnatsd process running".into()),
                _ => {
                    return Action::Fail(format!(
                        "nats-server: multiple gnatsd processes running:\n{}",
                        pids.join("\n")
                    ))
                }
            }
        }
    };
    match std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(&pid)
        .status()
    {
        Ok(status) if status.success() => Action::Print(String::new()),
        _ => Action::Fail(format!("nats-server: could not signal process {pid}")),
    }
}

/// Go's flag package prints unknown flags and bad values followed by the usage, and exits 0.
fn clap_failure(err: clap::Error) -> Action {
    use clap::error::{ContextKind, ErrorKind};
    let arg = err
        .get(ContextKind::InvalidArg)
        .map(|v| v.to_string())
        .unwrap_or_default();
    let first = match err.kind() {
        ErrorKind::UnknownArgument => {
            format!(
                "flag provided but not defined: -{}",
                arg.trim_start_matches('-')
            )
        }
        _ => {
            let value = err
                .get(ContextKind::InvalidValue)
                .map(|v| v.to_string())
                .unwrap_or_default();
            let name = arg
                .split_whitespace()
                .next()
                .unwrap_or("")
                .trim_start_matches('-');
            format!("invalid value {value:?} for flag -{name}: parse error")
        }
    };
    eprintln!("{first}");
    Action::Print(USAGE.to_string())
}

/// Applies flag values over `options` (flags win over the file).
pub fn apply(flags: &Flags, options: &mut Options) -> Result<(), String> {
    if let Some(v) = &flags.addr {
        options.host = v.clone();
    }
    if let Some(v) = flags.port {
        options.port = v;
    }
    if let Some(v) = &flags.name {
        options.server_name = Some(v.clone());
    }
    if let Some(v) = &flags.pid {
        options.pid_file = Some(v.clone());
    }
    if let Some(v) = flags.http_port {
        options.http_port = v;
    }
    if let Some(v) = &flags.client_advertise {
        options.client_advertise = Some(v.clone());
    }
    if let Some(v) = &flags.ports_file_dir {
        options.ports_file_dir = Some(v.clone());
    }
    if let Some(v) = &flags.log {
        options.log_file = Some(v.clone());
    }
    if let Some(v) = flags.logtime {
        options.logtime = v;
    }
    if let Some(v) = flags.debug {
        options.debug = v;
    }
    if let Some(v) = flags.trace.or(flags.trace_verbose) {
        options.trace = v;
    }
    if let Some(v) = flags.debug_trace.or(flags.debug_trace_verbose) {
        options.debug = v;
        options.trace = v;
    }
    if let Some(v) = &flags.user {
        options.authorization.user = Some(v.clone());
    }
    if let Some(v) = &flags.pass {
        options.authorization.password = Some(v.clone());
    }
    if let Some(v) = &flags.auth {
        options.authorization.token = Some(v.clone());
    }
    apply_tls(flags, options)?;
    if let Some(v) = flags.https_port {
        options.https_port = v;
    }
    if let Some(routes) = &flags.routes {
        options.cluster.routes = routes
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(String::from)
            .collect();
    }
    if let Some(url) = &flags.cluster {
        apply_cluster_url(url, options)?;
    }
    if let Some(v) = &flags.cluster_name {
        options.cluster.name = Some(v.clone());
    }
    if let Some(v) = flags.no_advertise {
        options.cluster.no_advertise = v;
    }
    if let Some(v) = &flags.cluster_advertise {
        options.cluster.advertise = Some(v.clone());
    }
    if let Some(v) = flags.connect_retries {
        options.cluster.connect_retries = v;
    }
    Ok(())
}

/// Any TLS flag replaces the file's client TLS with the flags' settings, which must then name
/// a certificate and a key (nats-server's `overrideTLS`); the file's `timeout` is kept.
fn apply_tls(flags: &Flags, options: &mut Options) -> Result<(), String> {
    let any = flags.tls.is_some()
        || flags.tlscert.is_some()
        || flags.tlskey.is_some()
        || flags.tlsverify.is_some()
        || flags.tlscacert.is_some();
    if !any {
        return Ok(());
    }
    let cert = flags
        .tlscert
        .clone()
        .ok_or("TLS Server certificate must be present and valid")?;
    let key = flags
        .tlskey
        .clone()
        .ok_or("TLS Server private key must be present and valid")?;
    let tls = crate::options::TlsOptions {
        ca_file: flags.tlscacert.clone(),
        verify: flags.tlsverify == Some(true),
        // As nats-server: the flags rebuild the certificates, the file's mapping stays.
        map: options.tls.as_ref().is_some_and(|t| t.map),
        timeout: options
            .tls
            .as_ref()
            .map_or(crate::options::TlsOptions::DEFAULT_TIMEOUT, |t| t.timeout),
        ..crate::options::TlsOptions::new(cert, key)
    };
    crate::tls::check(&tls)?;
    options.tls = Some(tls);
    Ok(())
}

/// `nats://[user:pass@]host:port` for `--cluster`; `:-1` picks a random port.
fn apply_cluster_url(url: &str, options: &mut Options) -> Result<(), String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (auth, hostport) = match rest.rsplit_once('@') {
        Some((auth, hp)) => (Some(auth), hp),
        None => (None, rest),
    };
    let hostport = hostport.trim_end_matches('/');
    let (host, port) = hostport
        .rsplit_once(':')
        .ok_or_else(|| format!("error parsing cluster url {url:?}: missing port"))?;
    let port: i32 = port
        .parse()
        .map_err(|_| format!("error parsing cluster url {url:?}: bad port"))?;
    options.cluster.host = host.trim_matches(|c| c == '[' || c == ']').to_string();
    options.cluster.port = port;
    if let Some(auth) = auth {
        match auth.split_once(':') {
            Some((user, pass)) => {
                options.cluster.user = Some(user.to_string());
                options.cluster.password = Some(pass.to_string());
            }
            None => return Err("expected cluster password to be set".into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<OsString> {
        std::iter::once("gnatsd")
            .chain(s.split_whitespace())
            .map(OsString::from)
            .collect()
    }

    fn run(s: &str) -> Options {
        match parse(words(s)) {
            Action::Run(o) => *o,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn go_style_flags_are_accepted() {
        let o = run("-p 4333 -a 127.0.0.1 -DV");
        assert_eq!(
            (o.port, o.host.as_str(), o.debug, o.trace),
            (4333, "127.0.0.1", true, true)
        );
        let o = run("--port=-1 -T=false -n X");
        assert_eq!(
            (o.port, o.logtime, o.server_name.as_deref()),
            (-1, false, Some("X"))
        );
        let o = run("-p 5222 -cluster nats://localhost:5248 -routes nats://localhost:4248 -D");
        assert_eq!(o.cluster.port, 5248);
        assert_eq!(o.cluster.host, "localhost");
        assert_eq!(o.cluster.routes, ["nats://localhost:4248"]);
        let o = run("--user a --pass b -D=false");
        assert_eq!(o.authorization.user.as_deref(), Some("a"));
        assert!(!o.debug);
    }

    #[test]
    fn version_help_and_errors() {
        assert!(matches!(parse(words("-v")), Action::Print(s) if s == "nats-server: v2.9.10\n"));
        assert!(matches!(parse(words("version")), Action::Print(_)));
        assert!(matches!(parse(words("--help")), Action::Print(s) if s == USAGE));
        assert!(
            matches!(parse(words("foo")), Action::Fail(s) if s == "nats-server: unrecognized command: \"foo\"")
        );
        assert!(
            matches!(parse(words("--routes nats://a:1")), Action::Fail(s) if s.contains("solicited routes require cluster capabilities"))
        );
        assert!(
            matches!(parse(words("-t")), Action::Fail(s) if s.contains("must specify [-c, --config]"))
        );
        assert!(
            matches!(parse(words("--cluster nats://u@h:1")), Action::Fail(s) if s.contains("expected cluster password"))
        );
    }
}
