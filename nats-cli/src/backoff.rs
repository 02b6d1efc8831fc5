//! Delays between reconnect rounds: exponential, capped, with jitter.
//!
//! Jitter matters when a server restarts under many clients: without it they all come back in
//! the same millisecond. The random numbers only need to differ between processes, so a
//! xorshift generator seeded from the clock and the process id does, without a `rand`
//! dependency.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The first delay.
pub const INITIAL: Duration = Duration::from_millis(100);
/// The largest delay.
pub const MAX: Duration = Duration::from_secs(2);

/// Doubling delays from [`INITIAL`] up to [`MAX`], each scaled by a random factor in
/// `[0.8, 1.2)`.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    base: Duration,
    max: Duration,
    state: u64,
}

impl Backoff {
    /// A backoff with the default bounds.
    pub fn new() -> Backoff {
        Backoff::with_bounds(INITIAL, MAX)
    }

    /// A backoff from `initial` doubling up to `max`.
    pub fn with_bounds(initial: Duration, max: Duration) -> Backoff {
        let clock = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let seed = clock ^ (u64::from(std::process::id()) << 32) ^ 0x9E37_79B9_7F4A_7C15;
        Backoff {
            initial,
            base: initial,
            max,
            // xorshift must not start at zero.
            state: seed.max(1),
        }
    }

    /// The next delay; the one after will be twice as long (before jitter), up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.base.mul_f64(0.8 + 0.4 * self.random_unit());
        self.base = (self.base * 2).min(self.max);
        delay
    }

    /// Starts over from the initial delay (after a successful reconnect).
    pub fn reset(&mut self) {
        self.base = self.initial.min(self.max);
    }

    /// A number in `[0, 1)`.
    fn random_unit(&mut self) -> f64 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_with_bounded_jitter() {
        let mut b = Backoff::new();
        let mut expected = INITIAL;
        for _ in 0..10 {
            let d = b.next_delay();
            assert!(
                d >= expected.mul_f64(0.8) && d < expected.mul_f64(1.2),
                "{d:?}"
            );
            expected = (expected * 2).min(MAX);
        }
        b.reset();
        assert!(b.next_delay() < INITIAL.mul_f64(1.2));
    }
}
