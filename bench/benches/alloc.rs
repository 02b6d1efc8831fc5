//! Proof that the message path allocates nothing per message (see `bench::alloc_check`):
//! 200,000 messages through 1→1 and 1→4 in a release build. Fails (exit 1) when the
//! allocations pass the bound.

use bench::alloc_check::{self, Counting, BOUND};

#[global_allocator]
static GLOBAL: Counting = Counting;

fn main() {
    // `cargo bench` passes `--bench`; nothing to configure.
    let Some(counted) = alloc_check::measure(200_000) else {
        eprintln!("server did not start");
        std::process::exit(1);
    };
    let mut failed = false;
    for c in &counted {
        println!(
            "alloc/{}: {} allocations for {} messages = {:.4} per message ({:?} msgs/s)",
            c.name,
            c.allocations,
            c.messages,
            c.per_message(),
            c.msgs_per_sec
        );
        failed |= c.per_message() > BOUND;
    }
    if failed {
        eprintln!("the message path allocates per message");
        std::process::exit(1);
    }
}
