//! Keeping glibc's `memcpy` off `rep movsb` on AMD processors.
//!
//! For copies from a few KiB up, glibc 2.36 (Debian 12's) switches from its vector loop to the
//! `rep movsb` instruction whenever the CPU advertises fast string moves (ERMS), and AMD's do.
//! On the AMD EPYC this was measured on, `rep movsb` is much slower than the vector loop for the
//! copies a server makes: a payload at any offset of a read buffer copied to any offset of a
//! write buffer, or rustls copying a decrypted record out of its receive buffer. Measured with `compare --only "=TLS pub only 1 KB"` on a
//! 2-core AMD EPYC: 600,889 msgs/s at 1,740 ns of server CPU per message with glibc's default,
//! 908,270 msgs/s at 1,180 ns with `rep movsb` kept out of the way; `memmove` was a third of the
//! server's CPU in that profile.
//!
//! glibc reads its tunables once, when the process starts, so the only way for a program to set
//! one is to run itself again with it set: before anything else, `main` re-executes the same
//! binary (same process id, name, arguments and descriptors) with `GLIBC_TUNABLES` raising the
//! `rep movsb` threshold beyond any copy we make. Not on other CPUs, and never when the
//! environment already has `GLIBC_TUNABLES` (even empty): an operator's tunables win, and an
//! empty value is the way to opt out.

use std::ffi::OsString;

/// The environment variable glibc reads its tunables from.
const TUNABLES: &str = "GLIBC_TUNABLES";

/// The setting: copies below 1 GB never use `rep movsb` (glibc then uses its vector loop, and
/// non-temporal stores for copies larger than its cache-size threshold).
pub const SETTING: &str = "glibc.cpu.x86_rep_movsb_threshold=1000000000";

/// Whether this process should run itself again with [`SETTING`]: an AMD x86-64 CPU under
/// glibc, and no `GLIBC_TUNABLES` in the environment.
fn wanted(tunables: Option<OsString>, cpuinfo: &str) -> bool {
    cfg!(all(
        target_arch = "x86_64",
        target_os = "linux",
        target_env = "gnu"
    )) && tunables.is_none()
        && cpuinfo
            .lines()
            .find(|line| line.starts_with("vendor_id"))
            .is_some_and(|line| line.ends_with("AuthenticAMD"))
}

/// Re-executes this binary with [`SETTING`] when [`wanted`]; returns only when it is not, or
/// when the exec failed (the server then runs as it is, just slower at copying).
pub fn apply() {
    let tunables = std::env::var_os(TUNABLES);
    if tunables.is_some() {
        // The re-executed process, or an operator's own tunables: nothing to read.
        return;
    }
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    if !wanted(tunables, &cpuinfo) {
        return;
    }
    let mut args = std::env::args_os();
    let Some(arg0) = args.next() else {
        return;
    };
    // The binary's own path rather than /proc/self/exe, which would rename the process
    // (`ps`, `pkill gnatsd` and perf see the file name exec was given).
    let Ok(binary) = std::env::current_exe() else {
        return;
    };
    use std::os::unix::process::CommandExt;
    // `exec` only returns on failure; its error is not worth stopping the server for.
    let _failed = std::process::Command::new(binary)
        .arg0(arg0)
        .args(args)
        .env(TUNABLES, SETTING)
        .exec();
}

#[cfg(test)]
mod tests {
    use super::*;

    const AMD: &str = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\n";
    const INTEL: &str = "processor\t: 0\nvendor_id\t: GenuineIntel\n";

    #[test]
    fn only_an_amd_cpu_without_tunables_is_re_executed() {
        let amd = cfg!(all(
            target_arch = "x86_64",
            target_os = "linux",
            target_env = "gnu"
        ));
        assert_eq!(wanted(None, AMD), amd);
        assert!(!wanted(None, INTEL));
        assert!(!wanted(None, ""));
        assert!(!wanted(Some(OsString::new()), AMD));
        assert!(!wanted(
            Some(OsString::from("glibc.malloc.arena_max=2")),
            AMD
        ));
    }
}
