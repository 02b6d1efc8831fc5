//! Fault injection for tests, compiled into debug builds only.
//!
//! With `GNATSD_FAULT_PANIC_SUBJECT=<subject>` in its environment, a debug build of the server
//! panics in the task of whichever connection (client or route) hands it a message on exactly
//! that subject. Tests use it to prove that a panicking connection is cleaned up (its
//! subscriptions, its interest on the routes, its place in the server's tables). Release
//! builds contain none of this.

/// Panics if `subject` is the configured fault subject (debug builds only).
#[cfg(debug_assertions)]
#[allow(clippy::panic)]
pub fn panic_point(subject: &[u8]) {
    use std::sync::OnceLock;
    static SUBJECT: OnceLock<Option<Vec<u8>>> = OnceLock::new();
    let configured = SUBJECT.get_or_init(|| {
        std::env::var_os("GNATSD_FAULT_PANIC_SUBJECT")
            .map(|s| s.to_string_lossy().into_owned().into_bytes())
    });
    if configured.as_deref() == Some(subject) {
        panic!(
            "fault injection: message on {}",
            String::from_utf8_lossy(subject)
        );
    }
}

/// Release builds: nothing.
#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn panic_point(_subject: &[u8]) {}
