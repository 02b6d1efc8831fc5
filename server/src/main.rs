//! `gnatsd`: the NATS server binary. Only version reporting exists so far; the server itself
//! is the subject of the next issue, and until then the binary says so instead of pretending.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args
        .iter()
        .any(|a| matches!(a.as_str(), "-v" | "--version" | "version"))
    {
        println!("nats-server: v2.9.10");
        return ExitCode::SUCCESS;
    }
    eprintln!("gnatsd: the server is not implemented yet (only --version works)");
    ExitCode::FAILURE
}
