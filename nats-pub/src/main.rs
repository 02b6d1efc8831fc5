//! `nats-pub`: not implemented yet; it says so rather than pretending.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!("nats-pub: not implemented yet");
    ExitCode::FAILURE
}
