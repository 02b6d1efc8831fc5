//! What `nats-sub`'s integration tests share: the binaries under test, a subscriber that is
//! listening before the test goes on, and a publisher that must succeed.

use std::path::PathBuf;

use nats_cli::testkit::{self, run, Bins, Proc, WAIT};

/// The workspace's binaries, found next to `nats-sub`.
pub fn bins() -> Bins {
    Bins::new(env!("CARGO_BIN_EXE_nats-sub"))
}

/// The `nats-sub` binary under test.
pub fn nats_sub() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_nats-sub"))
}

/// Starts `nats-sub <args>` and waits for its `Listening on` line.
pub fn subscriber(args: &[&str]) -> Proc {
    testkit::subscriber(&nats_sub(), args)
}

/// Runs `nats-pub <args>` and asserts it succeeded.
pub fn publish(args: &[&str]) {
    let done = run(&bins().get("nats-pub", "nats-pub"), args, None, WAIT);
    assert_eq!(done.code(), Some(0), "nats-pub {args:?}: {done:?}");
}
