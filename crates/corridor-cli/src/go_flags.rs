//! Values written the way flowersec-tunnel (a Go program) reads them, so the
//! same flags and `FSEC_TUNNEL_*` variables work unchanged with `corridor relay`:
//! Go's `time.ParseDuration` and `strconv.ParseBool` syntax.
//!
//! Written here because the duration crates (humantime and the like) read
//! their own syntax, not Go's: `1.5s`, `1h30m`, `250ms`, `100us` and `0`.

use std::time::Duration;

const NANOS_PER_UNIT: [(&str, u128); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("\u{b5}s", 1_000),  // µs, MICRO SIGN
    ("\u{3bc}s", 1_000), // μs, GREEK SMALL LETTER MU
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses a Go duration (`10s`, `1m30s`, `1.5s`, `250ms`, `100us`, `0`), or
/// a plain number of seconds. Negative durations are refused.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let bad = || format!("invalid duration {text:?} (examples: 10s, 1m30s, 1.5s, 250ms)");
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    let unsigned = text.strip_prefix('+').unwrap_or(text);
    if unsigned.starts_with('-') {
        return Err(format!("invalid duration {text:?}: must not be negative"));
    }
    if unsigned.is_empty() {
        return Err(bad());
    }
    let mut total: u128 = 0;
    let mut rest = unsigned;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        rest = after;
        let unit = NANOS_PER_UNIT
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|&(_, nanos)| nanos)
            .ok_or_else(bad)?;
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && fraction.is_empty() {
            return Err(bad());
        }
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| bad())?
        };
        // Like Go: digits past what the arithmetic holds are dropped, and the
        // fraction of a nanosecond is truncated.
        let (mut numerator, mut denominator) = (0u128, 1u128);
        for digit in fraction.chars() {
            let digit = digit.to_digit(10).ok_or_else(bad)?;
            if denominator < 10u128.pow(24) {
                numerator = numerator * 10 + u128::from(digit);
                denominator *= 10;
            }
        }
        total = whole
            .checked_mul(unit)
            .and_then(|nanos| nanos.checked_add(numerator * unit / denominator))
            .and_then(|nanos| total.checked_add(nanos))
            .ok_or_else(|| format!("invalid duration {text:?}: too large"))?;
    }
    u64::try_from(total)
        .map(Duration::from_nanos)
        .map_err(|_| format!("invalid duration {text:?}: too large"))
}

/// Parses a boolean as Go's `strconv.ParseBool` does: `1 t T TRUE true True`
/// and `0 f F FALSE false False`.
pub(crate) fn parse_bool(text: &str) -> Result<bool, String> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!(
            "invalid boolean {text:?} (true, false, 1, 0, t, f)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_go_reads_them() {
        let cases = [
            ("10s", Duration::from_secs(10)),
            ("1m30s", Duration::from_secs(90)),
            ("1h2m3s", Duration::from_secs(3723)),
            ("1.5s", Duration::from_millis(1500)),
            (".5s", Duration::from_millis(500)),
            ("2.s", Duration::from_secs(2)),
            ("250ms", Duration::from_millis(250)),
            ("100us", Duration::from_micros(100)),
            ("100\u{b5}s", Duration::from_micros(100)),
            ("100\u{3bc}s", Duration::from_micros(100)),
            ("1ns", Duration::from_nanos(1)),
            ("1.0000000001s", Duration::from_secs(1)),
            ("+3s", Duration::from_secs(3)),
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("45", Duration::from_secs(45)),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn malformed_durations_are_refused_with_the_text() {
        for text in ["", "s", ".s", "1x", "1.2.3s", "10 s", "-1s", "1s-", "ms10"] {
            let error = parse_duration(text).expect_err(text);
            assert!(error.contains(&format!("{text:?}")), "{error}");
        }
        let huge = parse_duration("999999999999h").expect_err("overflow");
        assert!(huge.contains("too large"), "{huge}");
    }

    #[test]
    fn booleans_read_as_go_reads_them() {
        for text in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_bool(text), Ok(true), "{text}");
        }
        for text in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_bool(text), Ok(false), "{text}");
        }
        for text in ["yes", "", "tRUE", "2"] {
            assert!(parse_bool(text).is_err(), "{text}");
        }
    }
}
