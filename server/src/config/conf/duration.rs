//! Go `time.ParseDuration` for option values such as `ping_interval: "2m"`; the config layer
//! keeps durations as strings and the options layer converts them with this.

use std::time::Duration;

/// Parses a Go duration string: a sequence of decimal numbers, each with an optional fraction
/// and a unit (`ns`, `us`/`µs`, `ms`, `s`, `m`, `h`), e.g. `"1m30s"`, `"1.5s"`, `"500ms"`;
/// `"0"` needs no unit. Returns `None` for malformed, negative (other than zero) or
/// out-of-range (beyond Go's ~292 years) durations.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let (negative, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, after) = rest.split_at(int_len);
        rest = after;
        let mut frac_part = "";
        if let Some(after_dot) = rest.strip_prefix('.') {
            let n = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            frac_part = &after_dot[..n];
            rest = &after_dot[n..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        let unit_len = rest
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (unit, after) = rest.split_at(unit_len);
        rest = after;
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3_600 * 1_000_000_000,
            _ => return None,
        };
        // More than 30 integer digits overflows anything Go accepts anyway.
        if int_part.len() > 30 {
            return None;
        }
        let whole: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().ok()?
        };
        let mut nanos = whole.checked_mul(unit_nanos)?;
        if !frac_part.is_empty() {
            // Digits beyond 18 cannot change the result at nanosecond precision; dropping
            // them keeps the arithmetic inside u128.
            let frac = &frac_part[..frac_part.len().min(18)];
            let numerator: u128 = frac.parse().ok()?;
            let scale = 10u128.pow(u32::try_from(frac.len()).ok()?);
            nanos = nanos.checked_add(numerator * unit_nanos / scale)?;
        }
        total = total.checked_add(nanos)?;
        if total > i64::MAX as u128 {
            return None;
        }
    }
    if negative && total != 0 {
        return None;
    }
    u64::try_from(total).ok().map(Duration::from_nanos)
}
