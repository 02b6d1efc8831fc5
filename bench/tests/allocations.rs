//! The message path allocates nothing per message, in the test suite's (debug) build too:
//! the same check as the `alloc` bench, on fewer messages.

use bench::alloc_check::{self, Counting, BOUND};

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn pub_sub_one_to_one_and_one_to_four_allocate_far_less_than_once_per_message() {
    let counted = alloc_check::measure(100_000).expect("server starts");
    for c in &counted {
        println!("{c:?}");
        assert!(c.msgs_per_sec.is_some(), "{}: the load completed", c.name);
        assert!(
            c.per_message() <= BOUND,
            "{}: {} allocations for {} messages",
            c.name,
            c.allocations,
            c.messages
        );
    }
}
