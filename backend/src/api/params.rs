//! Parsing of the API's time and duration parameters, as Prometheus accepts
//! them: Unix seconds (with fraction) or RFC 3339 for times; seconds or a
//! PromQL duration for steps.

use std::time::{SystemTime, UNIX_EPOCH};

use vigil_shared::promql::lexer::parse_duration_ms;

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Seconds written as a float, in milliseconds; `Err(())` for text that is
/// not a number, `Ok(None)` for a number that does not fit (we refuse it
/// rather than wrap or clamp).
fn seconds_to_ms(text: &str) -> Result<Option<i64>, ()> {
    let seconds: f64 = text.parse().map_err(|_| ())?;
    let ms = (seconds * 1000.0).round();
    Ok((ms.is_finite() && ms.abs() <= 9.2e18).then_some(ms as i64))
}

/// A time: `1435781451.781` or `2015-07-01T20:10:51.781Z`.
pub fn parse_time(text: &str) -> Result<i64, String> {
    let invalid = || format!("cannot parse {text:?} to a valid timestamp");
    match seconds_to_ms(text) {
        Ok(ms) => ms.ok_or_else(invalid),
        Err(()) => parse_rfc3339(text).ok_or_else(invalid),
    }
}

/// A step: `15`, `0.5` (seconds) or `1m`.
pub fn parse_step(text: &str) -> Result<i64, String> {
    match seconds_to_ms(text) {
        Ok(ms) => ms.ok_or_else(|| format!("cannot parse {text:?} to a valid duration. It overflows int64")),
        Err(()) => parse_duration_ms(text).ok_or_else(|| format!("cannot parse {text:?} to a valid duration")),
    }
}

/// RFC 3339 (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`) to Unix milliseconds.
fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let s = text.get(from..from + len)?;
        s.bytes().all(|c| c.is_ascii_digit()).then(|| s.parse().ok())?
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut pos = 19;
    let mut millis = 0;
    if b.get(pos) == Some(&b'.') {
        pos += 1;
        let start = pos;
        while b.get(pos).is_some_and(u8::is_ascii_digit) {
            pos += 1;
        }
        let frac = text.get(start..pos)?;
        if frac.is_empty() {
            return None;
        }
        let padded = format!("{:0<3}", &frac[..frac.len().min(3)]);
        millis = padded.parse::<i64>().ok()?;
    }
    let offset_minutes = match b.get(pos)? {
        b'Z' | b'z' if pos + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if pos + 6 == b.len() && b[pos + 3] == b':' => {
            let minutes = num(pos + 1, 2)? * 60 + num(pos + 4, 2)?;
            if *sign == b'+' { minutes } else { -minutes }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1000 + millis)
}

/// Formats a time as RFC 3339 in UTC with nanoseconds, as Go's
/// `time.RFC3339Nano` does (trailing zeros of the fraction trimmed).
pub fn format_rfc3339(time: std::time::SystemTime) -> String {
    let (seconds, nanos) = match time.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(_) => return "0001-01-01T00:00:00Z".to_owned(),
    };
    let (days, rem) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    let mut out = format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60);
    if nanos > 0 {
        let fraction = format!("{nanos:09}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// The date of a day count since 1970-01-01 (inverse of `days_from_civil`).
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        let cases = [
            ("1435781451.781", Ok(1_435_781_451_781)),
            ("0", Ok(0)),
            ("-1.5", Ok(-1500)),
            ("2015-07-01T20:10:51.781Z", Ok(1_435_781_451_781)),
            ("2015-07-01T20:10:51Z", Ok(1_435_781_451_000)),
            ("2015-07-01T22:10:51.7+02:00", Ok(1_435_781_451_700)),
            ("1970-01-01T00:00:00Z", Ok(0)),
            ("2024-02-29T12:00:00Z", Ok(1_709_208_000_000)),
            ("yesterday", Err(())),
            ("2015-13-01T00:00:00Z", Err(())),
            ("2015-07-01T20:10:51", Err(())),
            ("1e300", Err(())),
            ("NaN", Err(())),
        ];
        for (text, want) in cases {
            assert_eq!(parse_time(text).map_err(|_| ()), want, "{text}");
        }
    }

    #[test]
    fn rfc3339_formatting_round_trips() {
        use std::time::Duration;
        let cases = [
            (0, "1970-01-01T00:00:00Z"),
            (1_435_781_451_781, "2015-07-01T20:10:51.781Z"),
            (1_709_208_000_000, "2024-02-29T12:00:00Z"),
            (951_782_400_000, "2000-02-29T00:00:00Z"),
        ];
        for (ms, want) in cases {
            let text = format_rfc3339(UNIX_EPOCH + Duration::from_millis(ms));
            assert_eq!(text, want);
            assert_eq!(parse_time(&text), Ok(ms as i64));
        }
    }

    #[test]
    fn steps() {
        let cases =
            [("15", Ok(15_000)), ("0.5", Ok(500)), ("1m", Ok(60_000)), ("1h30m", Ok(5_400_000)), ("x", Err(()))];
        for (text, want) in cases {
            assert_eq!(parse_step(text).map_err(|_| ()), want, "{text}");
        }
    }
}
