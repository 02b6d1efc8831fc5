//! `gnatsd`: parse the command line (Go-style flags), start the server, handle signals.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::process::ExitCode;

use gnatsd::config::cli::{self, Action};
use gnatsd::server::Server;
use tokio::signal::unix::{signal, SignalKind};
use tracing::{error, info};

fn main() -> ExitCode {
    // First, before any thread or socket: may run this binary again with glibc tuned.
    gnatsd::copy_tuning::apply();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let options = match cli::parse(args.clone()) {
        Action::Print(text) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Action::Fail(text) => {
            eprintln!("{text}");
            return ExitCode::FAILURE;
        }
        Action::TestConfig(options) => {
            let file = options
                .config_file
                .as_ref()
                .map(|f| f.display().to_string())
                .unwrap_or_default();
            if let Err(e) = options.validate() {
                eprintln!("nats-server: {e}");
                return ExitCode::FAILURE;
            }
            // nats-server's configuration check fails on its warnings too.
            if !options.config_warnings.is_empty() {
                // nats-server ends each warning with a newline, and then the line.
                eprintln!("nats-server: {}\n", options.config_warnings.join("\n"));
                return ExitCode::FAILURE;
            }
            eprintln!("nats-server: configuration file {file} is valid");
            return ExitCode::SUCCESS;
        }
        Action::Run(options) => options,
    };
    for warning in &options.config_warnings {
        eprintln!("{warning}");
    }
    gnatsd::log::configure(options.debug, options.trace, options.logtime);
    if let Err(e) = gnatsd::log::set_file(options.log_file.as_deref()) {
        eprintln!("nats-server: error opening log file: {e}");
        return ExitCode::FAILURE;
    }
    gnatsd::log::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("nats-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(run(*options, args));
    // Nothing is left to wait for: tracked tasks are done (or past their limit), and a
    // bcrypt check still running on the blocking pool must not hold the exit up.
    runtime.shutdown_background();
    code
}

/// Longest shutdown waits for connections to flush and close before the process exits.
const SHUTDOWN_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);

async fn run(options: gnatsd::options::Options, args: Vec<std::ffi::OsString>) -> ExitCode {
    // Handlers first: a signal that arrives as soon as "Server is ready" is logged must find
    // them installed, not the default action.
    let (Ok(mut int), Ok(mut term), Ok(mut hup), Ok(mut usr1), Ok(mut usr2)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
        signal(SignalKind::user_defined1()),
        signal(SignalKind::user_defined2()),
    ) else {
        error!(target: "fatal", "could not install signal handlers");
        return ExitCode::FAILURE;
    };
    let server = match gnatsd::launch::start(options).await {
        Ok(server) => server,
        Err(_) => return ExitCode::FAILURE,
    };
    let lame_duck_done = tokio_util::sync::CancellationToken::new();
    let mut in_lame_duck = false;
    let code = loop {
        tokio::select! {
            _ = int.recv() => break ExitCode::SUCCESS,
            // nats-server exits with status 1 on SIGTERM, but ignores it in lame duck mode.
            _ = term.recv(), if !in_lame_duck => break ExitCode::FAILURE,
            _ = usr2.recv(), if !in_lame_duck => {
                in_lame_duck = true;
                let (server, done) = (server.clone(), lame_duck_done.clone());
                server.clone().spawn(async move {
                    server.enter_lame_duck().await;
                    done.cancel();
                });
            }
            _ = lame_duck_done.cancelled() => break ExitCode::SUCCESS,
            _ = hup.recv() => reload(&server, &args),
            _ = usr1.recv() => match gnatsd::log::reopen() {
                Ok(true) => info!("File log re-opened"),
                Ok(false) => info!("File log re-open ignored, not a file logger"),
                Err(e) => error!("File log re-open failed: {e}"),
            },
        }
    };
    server.shutdown();
    // Every connection, listener and dial loop is a tracked task that ends on shutdown: exit
    // as soon as the last one has closed its socket.
    server.wait_tasks(SHUTDOWN_LIMIT).await;
    info!("Server Exiting..");
    code
}

/// SIGHUP: the configuration file read again and the command-line flags applied on top.
fn reload(server: &Server, args: &[std::ffi::OsString]) {
    if server.options().config_file.is_none() {
        error!("Failed to reload server configuration: can only reload config when a file is provided using -c or --config");
        return;
    }
    match cli::reload_options(args.iter().cloned()) {
        Ok(options) => server.reload(options),
        Err(e) => error!("Failed to reload server configuration: {e}"),
    }
}
