//! Durations as people type and read them: `500ms`, `10s`, `2m`, `1h`, `1m30s`.
//!
//! Used for the reconnect-time flag and in the tools' notices (`will attempt reconnects for
//! 2m`). Written by hand because the format is tiny and Go-like, and a crate for it would be
//! the only dependency of its kind.

use std::time::Duration;

/// Parses `<number><unit>` groups (`ms`, `s`, `m`, `h`, concatenated as in `1m30s`); a bare
/// number means seconds. Numbers may have a decimal part (`1.5s`).
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(secs) = text.parse::<f64>() {
        return seconds(secs, text);
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_len == 0 {
            return Err(format!("invalid duration {text:?}"));
        }
        let number: f64 = rest[..number_len]
            .parse()
            .map_err(|_| format!("invalid duration {text:?}"))?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => {
                return Err(format!(
                    "missing unit in duration {text:?} (use ms, s, m or h)"
                ))
            }
            other => return Err(format!("unknown unit {other:?} in duration {text:?}")),
        };
        total += number * scale;
        rest = &rest[unit_len..];
    }
    seconds(total, text)
}

fn seconds(secs: f64, text: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(secs).map_err(|_| format!("invalid duration {text:?}"))
}

/// Formats like Go's `time.Duration` but without zero parts: `2m`, `1m30s`, `1.5s`, `250ms`.
pub fn format(d: Duration) -> String {
    let total_ms = d.as_millis();
    if total_ms == 0 {
        return if d.is_zero() {
            "0s".into()
        } else {
            format!("{}µs", d.as_micros())
        };
    }
    if total_ms < 1000 {
        return format!("{total_ms}ms");
    }
    let hours = total_ms / 3_600_000;
    let minutes = total_ms / 60_000 % 60;
    let secs = total_ms / 1000 % 60;
    let millis = total_ms % 1000;
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    if secs > 0 || millis > 0 {
        if millis > 0 {
            let frac = format!("{millis:03}");
            out.push_str(&format!("{secs}.{}s", frac.trim_end_matches('0')));
        } else {
            out.push_str(&format!("{secs}s"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_bare_seconds() {
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["", "x", "5x", "m", "-1s", "1..2s"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn formats_without_zero_parts() {
        assert_eq!(format(Duration::from_secs(120)), "2m");
        assert_eq!(format(Duration::from_secs(90)), "1m30s");
        assert_eq!(format(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format(Duration::from_millis(250)), "250ms");
        assert_eq!(format(Duration::from_secs(3600 + 1)), "1h1s");
        assert_eq!(format(Duration::ZERO), "0s");
    }
}
