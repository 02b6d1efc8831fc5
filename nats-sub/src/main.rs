//! `nats-sub`: not implemented yet; it says so rather than pretending.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!("nats-sub: not implemented yet");
    ExitCode::FAILURE
}
