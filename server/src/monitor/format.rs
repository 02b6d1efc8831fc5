//! Values rendered the way nats-server (Go) renders them, so monitoring output compares equal
//! byte for byte where it can: `time.Duration.String()`, nats-server's `myUptime`, Go's
//! RFC 3339 timestamps, Go's float encoding, and the `strconv` error texts of bad query
//! parameters.

use std::time::Duration;

use serde::Serializer;

pub use crate::stats::{now_nanos, rfc3339_nanos, unix_nanos};

/// Go's `time.Duration.String()`: `0s`, `850ns`, `1.5µs`, `176µs`, `1.489648ms`, `2.5s`,
/// `1m0s`, `1h2m3s`.
pub fn go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", fraction(nanos, 3));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", fraction(nanos, 6));
    }
    let secs = nanos / 1_000_000_000;
    let sub = nanos % 1_000_000_000;
    let mut seconds = (secs % 60).to_string();
    if sub != 0 {
        seconds.push('.');
        seconds.push_str(format!("{sub:09}").trim_end_matches('0'));
    }
    let mins = secs / 60;
    let hours = mins / 60;
    if hours > 0 {
        format!("{hours}h{}m{seconds}s", mins % 60)
    } else if mins > 0 {
        format!("{mins}m{seconds}s")
    } else {
        format!("{seconds}s")
    }
}

/// `value / 10^digits` with the fractional digits trimmed of trailing zeros.
fn fraction(value: u128, digits: u32) -> String {
    let unit = 10u128.pow(digits);
    let int = value / unit;
    let frac = value % unit;
    if frac == 0 {
        return int.to_string();
    }
    let frac = format!("{frac:0width$}", width = digits as usize);
    format!("{int}.{}", frac.trim_end_matches('0'))
}

/// nats-server's round-trip time rendering: truncated to microseconds between 1 µs and 1 ms.
pub fn go_rtt(rtt: Duration) -> String {
    if rtt > Duration::from_micros(1) && rtt < Duration::from_millis(1) {
        go_duration(Duration::from_micros(rtt.as_micros() as u64))
    } else {
        go_duration(rtt)
    }
}

/// nats-server's `myUptime`: whole seconds as `1y2d3h4m5s`, `2d0h0m1s`, `1h0m0s`, `2m6s`, `5s`.
pub fn uptime(d: Duration) -> String {
    let secs = d.as_secs();
    let mins = secs / 60;
    let hours = mins / 60;
    let days = hours / 24;
    let years = days / 365;
    if years > 0 {
        format!(
            "{years}y{}d{}h{}m{}s",
            days % 365,
            hours % 24,
            mins % 60,
            secs % 60
        )
    } else if days > 0 {
        format!("{days}d{}h{}m{}s", hours % 24, mins % 60, secs % 60)
    } else if hours > 0 {
        format!("{hours}h{}m{}s", mins % 60, secs % 60)
    } else if mins > 0 {
        format!("{mins}m{}s", secs % 60)
    } else {
        format!("{secs}s")
    }
}

/// The duration between two Unix-nanosecond instants (zero when `to` is before `from`).
pub fn between(from: i64, to: i64) -> Duration {
    Duration::from_nanos(u64::try_from(to.saturating_sub(from)).unwrap_or(0))
}

/// Serializes a float the way Go's `encoding/json` does for ordinary values: integral values
/// without a fraction (`2`, not `2.0`).
pub fn go_float<S: Serializer>(value: &f64, s: S) -> Result<S::Ok, S::Error> {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e15 {
        s.serialize_i64(*value as i64)
    } else if value.is_finite() {
        s.serialize_f64(*value)
    } else {
        s.serialize_i64(0)
    }
}

/// Go's `strconv.ParseBool`.
pub fn parse_bool(param: &str, value: &str) -> Result<bool, String> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!(
            "Error decoding boolean for '{param}': strconv.ParseBool: parsing {value:?}: invalid syntax"
        )),
    }
}

/// Go's `strconv.Atoi` (64-bit `int`).
pub fn parse_int(param: &str, value: &str) -> Result<i64, String> {
    parse_signed(value).map_err(|why| {
        format!("Error decoding int for '{param}': strconv.Atoi: parsing {value:?}: {why}")
    })
}

/// Go's `strconv.ParseUint(value, 10, 64)`.
pub fn parse_uint(param: &str, value: &str) -> Result<u64, String> {
    let why = if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        "invalid syntax"
    } else {
        match value.parse::<u64>() {
            Ok(v) => return Ok(v),
            Err(_) => "value out of range",
        }
    };
    Err(format!(
        "Error decoding uint64 for '{param}': strconv.ParseUint: parsing {value:?}: {why}"
    ))
}

fn parse_signed(value: &str) -> Result<i64, &'static str> {
    let digits = value
        .strip_prefix('+')
        .or_else(|| value.strip_prefix('-'))
        .unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("invalid syntax");
    }
    value.parse::<i64>().map_err(|_| "value out of range")
}

/// Escapes `<`, `>`, `&`, U+2028 and U+2029 as Go's `encoding/json` does (they can only occur
/// inside JSON strings, so escaping the whole document is safe).
pub fn go_escape_html(json: String) -> String {
    if !json
        .chars()
        .any(|c| matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}'))
    {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_render_like_go() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(850), "850ns"),
            (Duration::from_nanos(1_500), "1.5µs"),
            (Duration::from_micros(176), "176µs"),
            (Duration::from_nanos(1_489_648), "1.489648ms"),
            (Duration::from_millis(2_500), "2.5s"),
            (Duration::from_secs(60), "1m0s"),
            (Duration::from_secs(126), "2m6s"),
            (Duration::from_secs(3600), "1h0m0s"),
            (Duration::from_secs(3723), "1h2m3s"),
        ];
        for (d, want) in cases {
            assert_eq!(go_duration(d), want, "{d:?}");
        }
    }

    #[test]
    fn rtt_is_truncated_to_microseconds_below_a_millisecond() {
        assert_eq!(go_rtt(Duration::from_nanos(400_123)), "400µs");
        assert_eq!(go_rtt(Duration::from_nanos(1_489_648)), "1.489648ms");
        assert_eq!(go_rtt(Duration::ZERO), "0s");
    }

    #[test]
    fn uptime_renders_like_nats_server() {
        assert_eq!(uptime(Duration::from_millis(999)), "0s");
        assert_eq!(uptime(Duration::from_secs(126)), "2m6s");
        assert_eq!(uptime(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(uptime(Duration::from_secs(2 * 86400 + 1)), "2d0h0m1s");
        assert_eq!(uptime(Duration::from_secs(366 * 86400)), "1y1d0h0m0s");
    }

    #[test]
    fn timestamps_trim_trailing_zeros() {
        assert_eq!(rfc3339_nanos(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339_nanos(1_795_687_733_528_400_000),
            "2026-11-26T10:08:53.5284Z"
        );
        assert_eq!(
            rfc3339_nanos(1_795_687_733_000_000_001),
            "2026-11-26T10:08:53.000000001Z"
        );
    }

    #[test]
    fn query_values_parse_like_strconv() {
        assert_eq!(parse_bool("subs", "t"), Ok(true));
        assert_eq!(parse_bool("subs", "False"), Ok(false));
        assert_eq!(
            parse_bool("subs", "x").unwrap_err(),
            "Error decoding boolean for 'subs': strconv.ParseBool: parsing \"x\": invalid syntax"
        );
        assert_eq!(parse_int("limit", "-3"), Ok(-3));
        assert_eq!(
            parse_int("limit", "x").unwrap_err(),
            "Error decoding int for 'limit': strconv.Atoi: parsing \"x\": invalid syntax"
        );
        assert!(parse_int("limit", "99999999999999999999")
            .unwrap_err()
            .ends_with("value out of range"));
        assert_eq!(parse_uint("cid", "7"), Ok(7));
        assert_eq!(
            parse_uint("cid", "-1").unwrap_err(),
            "Error decoding uint64 for 'cid': strconv.ParseUint: parsing \"-1\": invalid syntax"
        );
    }

    #[test]
    fn html_characters_are_escaped_like_go() {
        assert_eq!(
            go_escape_html("{\"s\":\"a.>&<\"}".into()),
            "{\"s\":\"a.\\u003e\\u0026\\u003c\"}"
        );
    }

    #[test]
    fn floats_drop_integral_fractions() {
        let mut out = Vec::new();
        let mut ser = serde_json::Serializer::new(&mut out);
        go_float(&2.0, &mut ser).expect("serialize");
        assert_eq!(out, b"2");
        let mut out = Vec::new();
        let mut ser = serde_json::Serializer::new(&mut out);
        go_float(&0.75, &mut ser).expect("serialize");
        assert_eq!(out, b"0.75");
    }
}
