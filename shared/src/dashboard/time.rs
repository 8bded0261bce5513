//! The time picker's logic: Grafana time expressions (`now-6h`, `now-1d/d`,
//! `now/w`, absolute times), the quick ranges, zoom-out and the auto-refresh
//! intervals.
//!
//! Expressions follow Grafana's `dateMath.parse` (`packages/grafana-data/
//! src/datetime/datemath.ts`): `now` or an absolute time (optionally followed
//! by `||` and math), then any sequence of `+N<unit>`, `-N<unit>` and
//! `/<unit>` with units `y M w d h m s Q` (`N` defaults to 1). `/unit` rounds
//! to the start of the unit for a range's `from` and to its last millisecond
//! for its `to` (`roundUp`), so `now/d`…`now/d` is the whole of today.
//! Calendar units (`M`, `y`, `Q`) move by calendar months, clamping the day
//! as moment.js does (31 Jan + 1M = 28/29 Feb). Everything is UTC; weeks
//! start on Sunday (moment's default `en` locale, Grafana's default week
//! start); fiscal units (`fQ`, `fy`) use a fiscal year starting in January,
//! Grafana's default, which makes them the calendar units.
//!
//! Absolute times: epoch milliseconds (`1700000000000`), `YYYY-MM-DD`,
//! `YYYY-MM-DD HH:mm:ss`, ISO-8601 (`2024-01-15T10:00:00.123Z`, with `Z` or
//! a `±HH:MM` offset), and the URL's compact `YYYYMMDD` / `YYYYMMDDTHHmmss`.
//!
//! The caller passes "now" in epoch milliseconds, so all of it is testable
//! and identical in the browser and the server.

use super::model::TimeRange;

/// A time expression that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid time {input:?}: {reason}")]
pub struct TimeError {
    pub input: String,
    pub reason: String,
}

fn err(input: &str, reason: impl Into<String>) -> TimeError {
    TimeError { input: input.to_string(), reason: reason.into() }
}

const MS_PER_DAY: i64 = 86_400_000;
/// The widest time accepted, ±10 000 years around 1970 in ms, so that no
/// arithmetic below can overflow.
const MAX_ABS_MS: i64 = 315_537_897_600_000;

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (inverse of [`days_from_civil`]).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// A UTC instant split into calendar parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Civil {
    y: i64,
    mo: u32,
    d: u32,
    ms_of_day: i64,
}

impl Civil {
    fn from_ms(ms: i64) -> Civil {
        let days = ms.div_euclid(MS_PER_DAY);
        let (y, mo, d) = civil_from_days(days);
        Civil { y, mo, d, ms_of_day: ms.rem_euclid(MS_PER_DAY) }
    }

    fn to_ms(self) -> i64 {
        days_from_civil(self.y, self.mo, self.d) * MS_PER_DAY + self.ms_of_day
    }

    /// Moves by whole months, clamping the day (moment's `add(n, 'M')`).
    fn add_months(self, n: i64) -> Civil {
        let total = self.y * 12 + i64::from(self.mo - 1) + n;
        let (y, mo) = (total.div_euclid(12), (total.rem_euclid(12) + 1) as u32);
        Civil { y, mo, d: self.d.min(days_in_month(y, mo)), ms_of_day: self.ms_of_day }
    }
}

/// The units of date math.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Year,
    Quarter,
    Month,
    Week,
    Day,
    Hour,
    Minute,
    Second,
}

impl Unit {
    fn from_char(c: char) -> Option<Unit> {
        Some(match c {
            'y' => Unit::Year,
            'Q' => Unit::Quarter,
            'M' => Unit::Month,
            'w' => Unit::Week,
            'd' => Unit::Day,
            'h' => Unit::Hour,
            'm' => Unit::Minute,
            's' => Unit::Second,
            _ => return None,
        })
    }

    fn add(self, ms: i64, n: i64) -> i64 {
        match self {
            Unit::Year => Civil::from_ms(ms).add_months(n.saturating_mul(12)).to_ms(),
            Unit::Quarter => Civil::from_ms(ms).add_months(n.saturating_mul(3)).to_ms(),
            Unit::Month => Civil::from_ms(ms).add_months(n).to_ms(),
            Unit::Week => ms + n * 7 * MS_PER_DAY,
            Unit::Day => ms + n * MS_PER_DAY,
            Unit::Hour => ms + n * 3_600_000,
            Unit::Minute => ms + n * 60_000,
            Unit::Second => ms + n * 1000,
        }
    }

    /// moment's `startOf(unit)`.
    fn start_of(self, ms: i64) -> i64 {
        let c = Civil::from_ms(ms);
        let day = days_from_civil(c.y, c.mo, c.d);
        match self {
            Unit::Year => days_from_civil(c.y, 1, 1) * MS_PER_DAY,
            Unit::Quarter => days_from_civil(c.y, (c.mo - 1) / 3 * 3 + 1, 1) * MS_PER_DAY,
            Unit::Month => days_from_civil(c.y, c.mo, 1) * MS_PER_DAY,
            // 1970-01-01 was a Thursday: day 0 has weekday 4 (Sunday = 0).
            Unit::Week => (day - (day + 4).rem_euclid(7)) * MS_PER_DAY,
            Unit::Day => day * MS_PER_DAY,
            Unit::Hour => ms - ms.rem_euclid(3_600_000),
            Unit::Minute => ms - ms.rem_euclid(60_000),
            Unit::Second => ms - ms.rem_euclid(1000),
        }
    }

    /// moment's `endOf(unit)`: the last millisecond of the unit.
    fn end_of(self, ms: i64) -> i64 {
        self.add(self.start_of(ms), 1) - 1
    }
}

/// Resolves a time expression to epoch milliseconds. `round_up` is true for
/// a range's `to` (see the module doc).
pub fn parse_time(input: &str, round_up: bool, now_ms: i64) -> Result<i64, TimeError> {
    let text = input.trim();
    if text.is_empty() {
        return Err(err(input, "it is empty"));
    }
    let (base, math) = if let Some(rest) = text.strip_prefix("now") {
        (now_ms, rest)
    } else {
        let (abs, math) = match text.find("||") {
            Some(i) => (&text[..i], &text[i + 2..]),
            None => (text, ""),
        };
        (parse_absolute(abs).map_err(|reason| err(input, reason))?, math)
    };
    apply_math(base, math, round_up).map_err(|reason| err(input, reason))
}

/// Grafana's `parseDateMath`.
fn apply_math(mut t: i64, math: &str, round_up: bool) -> Result<i64, String> {
    let s: Vec<char> = math.chars().filter(|c| !c.is_whitespace()).collect();
    let mut i = 0;
    while i < s.len() {
        let op = s[i];
        i += 1;
        if !matches!(op, '/' | '+' | '-') {
            return Err(format!("expected +, - or / at {op:?}"));
        }
        let start = i;
        while i < s.len() && s[i].is_ascii_digit() {
            i += 1;
            if i - start > 9 {
                return Err("the number is too large".into());
            }
        }
        let num: i64 =
            if i == start { 1 } else { s[start..i].iter().collect::<String>().parse().map_err(|_| "bad number")? };
        if op == '/' && num != 1 {
            return Err("rounding takes a unit only, as in now/d".into());
        }
        let mut unit = s.get(i).copied();
        i += 1;
        if unit == Some('f') {
            // Fiscal units, with the fiscal year starting in January.
            unit = s.get(i).copied();
            i += 1;
        }
        let unit = unit.and_then(Unit::from_char).ok_or_else(|| {
            format!("unknown unit {:?} (use y, Q, M, w, d, h, m or s)", unit.map(String::from).unwrap_or_default())
        })?;
        t = match op {
            '/' if round_up => unit.end_of(t),
            '/' => unit.start_of(t),
            '+' => unit.add(t, num),
            _ => unit.add(t, -num),
        };
        if t.abs() > MAX_ABS_MS {
            return Err("the time is out of range".into());
        }
    }
    Ok(t)
}

fn digits(s: &str, range: std::ops::Range<usize>) -> Result<u32, String> {
    let part = s.get(range).ok_or("too short")?;
    if part.bytes().all(|b| b.is_ascii_digit()) {
        part.parse().map_err(|_| "bad number".to_string())
    } else {
        Err(format!("{part:?} is not a number"))
    }
}

fn civil_ms(y: u32, mo: u32, d: u32, h: u32, mi: u32, s: u32, ms: u32) -> Result<i64, String> {
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(i64::from(y), mo) {
        return Err(format!("{y:04}-{mo:02}-{d:02} is not a date"));
    }
    if h > 23 || mi > 59 || s > 59 {
        return Err(format!("{h:02}:{mi:02}:{s:02} is not a time of day"));
    }
    let day = days_from_civil(i64::from(y), mo, d);
    Ok(day * MS_PER_DAY + i64::from(h) * 3_600_000 + i64::from(mi) * 60_000 + i64::from(s) * 1000 + i64::from(ms))
}

/// An absolute time in one of the accepted forms (module doc).
fn parse_absolute(s: &str) -> Result<i64, String> {
    let all_digits = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    // The compact URL forms come before epoch ms: 8 digits is a date.
    if all_digits && s.len() == 8 {
        return civil_ms(digits(s, 0..4)?, digits(s, 4..6)?, digits(s, 6..8)?, 0, 0, 0, 0);
    }
    if all_digits || (s.starts_with('-') && s.len() > 1 && s[1..].bytes().all(|b| b.is_ascii_digit())) {
        let ms: i64 = s.parse().map_err(|_| "the number is too large".to_string())?;
        return if ms.abs() > MAX_ABS_MS { Err("the time is out of range".into()) } else { Ok(ms) };
    }
    if s.len() == 15 && s.as_bytes()[8] == b'T' && s[9..].bytes().all(|b| b.is_ascii_digit()) {
        let (y, mo, d) = (digits(s, 0..4)?, digits(s, 4..6)?, digits(s, 6..8)?);
        return civil_ms(y, mo, d, digits(s, 9..11)?, digits(s, 11..13)?, digits(s, 13..15)?, 0);
    }
    let b = s.as_bytes();
    if s.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return Err("expected now, epoch milliseconds, YYYY-MM-DD or YYYY-MM-DD HH:mm:ss".into());
    }
    let (y, mo, d) = (digits(s, 0..4)?, digits(s, 5..7)?, digits(s, 8..10)?);
    let rest = &s[10..];
    if rest.is_empty() {
        return civil_ms(y, mo, d, 0, 0, 0, 0);
    }
    let rest =
        rest.strip_prefix(' ').or_else(|| rest.strip_prefix('T')).ok_or("expected a space or T after the date")?;
    // HH:mm[:ss[.SSS]] then an optional zone.
    let zone_at = rest.find(['Z', 'z', '+', '-']).unwrap_or(rest.len());
    let (clock, zone) = rest.split_at(zone_at);
    let parts: Vec<&str> = clock.split(':').collect();
    if parts.len() < 2 || parts.len() > 3 {
        return Err("expected HH:mm or HH:mm:ss".into());
    }
    let h = digits(parts[0], 0..parts[0].len().max(1))?;
    let mi = digits(parts[1], 0..parts[1].len().max(1))?;
    let (sec, milli) = match parts.get(2) {
        None => (0, 0),
        Some(p) => match p.split_once('.') {
            None => (digits(p, 0..p.len().max(1))?, 0),
            Some((sec, frac)) => {
                let frac3: String = frac.chars().chain("000".chars()).take(3).collect();
                if frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!("{frac:?} is not a fraction of a second"));
                }
                (digits(sec, 0..sec.len().max(1))?, digits(&frac3, 0..3)?)
            }
        },
    };
    if parts.iter().any(|p| p.len() != 2 && !p.contains('.')) {
        return Err("hours, minutes and seconds take two digits".into());
    }
    let local = civil_ms(y, mo, d, h, mi, sec, milli)?;
    let offset_min: i64 = match zone {
        "" | "Z" | "z" => 0,
        z => {
            let sign = if z.starts_with('-') { -1 } else { 1 };
            let body = z[1..].replace(':', "");
            if body.len() != 4 {
                return Err(format!("the zone {z:?} must be Z or ±HH:MM"));
            }
            sign * (i64::from(digits(&body, 0..2)?) * 60 + i64::from(digits(&body, 2..4)?))
        }
    };
    Ok(local - offset_min * 60_000)
}

/// Formats epoch milliseconds as Grafana shows absolute times,
/// `YYYY-MM-DD HH:mm:ss` (UTC).
pub fn format_time(ms: i64) -> String {
    let c = Civil::from_ms(ms);
    let s = c.ms_of_day / 1000;
    format!("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", c.y, c.mo, c.d, s / 3600, s / 60 % 60, s % 60)
}

/// A time range resolved to epoch milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbsoluteRange {
    pub from_ms: i64,
    pub to_ms: i64,
}

/// Resolves a dashboard time range: `from` rounded down, `to` rounded up.
pub fn resolve_range(range: &TimeRange, now_ms: i64) -> Result<AbsoluteRange, TimeError> {
    let from_ms = parse_time(&range.from, false, now_ms)?;
    let to_ms = parse_time(&range.to, true, now_ms)?;
    if from_ms > to_ms {
        return Err(err(&range.from, format!("it is after the end of the range ({})", range.to)));
    }
    Ok(AbsoluteRange { from_ms, to_ms })
}

/// One entry of the time picker's quick-range list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuickRange {
    pub from: &'static str,
    pub to: &'static str,
    pub display: &'static str,
}

const fn q(from: &'static str, to: &'static str, display: &'static str) -> QuickRange {
    QuickRange { from, to, display }
}

/// Grafana's quick ranges (`rangeutil.ts` `quickOptions`), in its order.
pub const QUICK_RANGES: &[QuickRange] = &[
    q("now-5m", "now", "Last 5 minutes"),
    q("now-15m", "now", "Last 15 minutes"),
    q("now-30m", "now", "Last 30 minutes"),
    q("now-1h", "now", "Last 1 hour"),
    q("now-3h", "now", "Last 3 hours"),
    q("now-6h", "now", "Last 6 hours"),
    q("now-12h", "now", "Last 12 hours"),
    q("now-24h", "now", "Last 24 hours"),
    q("now-2d", "now", "Last 2 days"),
    q("now-7d", "now", "Last 7 days"),
    q("now-30d", "now", "Last 30 days"),
    q("now-90d", "now", "Last 90 days"),
    q("now-6M", "now", "Last 6 months"),
    q("now-1y", "now", "Last 1 year"),
    q("now-2y", "now", "Last 2 years"),
    q("now-5y", "now", "Last 5 years"),
    q("now-1d/d", "now-1d/d", "Yesterday"),
    q("now-2d/d", "now-2d/d", "Day before yesterday"),
    q("now-7d/d", "now-7d/d", "This day last week"),
    q("now-1w/w", "now-1w/w", "Previous week"),
    q("now-1M/M", "now-1M/M", "Previous month"),
    q("now-1Q/fQ", "now-1Q/fQ", "Previous fiscal quarter"),
    q("now-1y/y", "now-1y/y", "Previous year"),
    q("now-1y/fy", "now-1y/fy", "Previous fiscal year"),
    q("now/d", "now/d", "Today"),
    q("now/d", "now", "Today so far"),
    q("now/w", "now/w", "This week"),
    q("now/w", "now", "This week so far"),
    q("now/M", "now/M", "This month"),
    q("now/M", "now", "This month so far"),
    q("now/y", "now/y", "This year"),
    q("now/y", "now", "This year so far"),
    q("now/fQ", "now", "This fiscal quarter so far"),
    q("now/fQ", "now/fQ", "This fiscal quarter"),
    q("now/fy", "now", "This fiscal year so far"),
    q("now/fy", "now/fy", "This fiscal year"),
];

/// How the picker names a range: the quick range's name, `Last N units` for
/// other `now-N<unit>`…`now` ranges, else `from to to` with absolute
/// times written as [`format_time`] writes them.
pub fn describe_range(range: &TimeRange) -> String {
    if let Some(q) = QUICK_RANGES.iter().find(|q| q.from == range.from && q.to == range.to) {
        return q.display.to_string();
    }
    if let Some(rest) = range.from.strip_prefix("now-").filter(|_| range.to == "now") {
        let split = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let (n, unit) = rest.split_at(split);
        let name = match unit {
            "s" => Some("second"),
            "m" => Some("minute"),
            "h" => Some("hour"),
            "d" => Some("day"),
            "w" => Some("week"),
            "M" => Some("month"),
            "y" => Some("year"),
            _ => None,
        };
        if let (Ok(n), Some(name)) = (n.parse::<u64>(), name) {
            return format!("Last {n} {name}{}", if n == 1 { "" } else { "s" });
        }
    }
    let show = |s: &str| match parse_absolute(s) {
        Ok(ms) if !s.starts_with("now") => format_time(ms),
        _ => s.to_string(),
    };
    format!("{} to {}", show(&range.from), show(&range.to))
}

/// Grafana's zoom out: the range doubled around its centre (a zero-length
/// range becomes 30 s), as absolute epoch milliseconds.
pub fn zoom_out(range: AbsoluteRange, factor: f64) -> AbsoluteRange {
    let span = (range.to_ms - range.from_ms) as f64;
    let center = range.to_ms as f64 - span / 2.0;
    let new_span = if span == 0.0 { 30_000.0 } else { span * factor.max(1.0) };
    let clamp = |v: f64| v.round().clamp(-(MAX_ABS_MS as f64), MAX_ABS_MS as f64) as i64;
    AbsoluteRange { from_ms: clamp(center - new_span / 2.0), to_ms: clamp(center + new_span / 2.0) }
}

/// The auto-refresh choices the picker offers (Grafana's defaults).
pub const REFRESH_INTERVALS: &[&str] = &["5s", "10s", "30s", "1m", "5m", "15m", "30m", "1h", "2h", "1d"];
/// The shortest auto-refresh allowed (Grafana's `min_refresh_interval`).
pub const MIN_REFRESH_MS: u64 = 5_000;

/// Reads a refresh setting: `""`/`off` for none, else an interval, raised to
/// [`MIN_REFRESH_MS`] as Grafana raises it.
pub fn parse_refresh(input: &str) -> Result<Option<u64>, TimeError> {
    let s = input.trim();
    if s.is_empty() || s.eq_ignore_ascii_case("off") || s == "false" {
        return Ok(None);
    }
    let ms = super::interval::parse_interval_ms(s).map_err(|e| err(input, e.reason))?;
    if ms == 0 {
        return Err(err(input, "a refresh interval must be longer than zero"));
    }
    Ok(Some(ms.max(MIN_REFRESH_MS)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-02-29 (a Thursday) 13:45:30.250 UTC.
    const NOW: i64 = 1_709_214_330_250;

    fn at(s: &str) -> i64 {
        match parse_absolute(s) {
            Ok(v) => v,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn calendar_round_trips() {
        for day in [-719_468, -1, 0, 1, 11_016, 19_782, 2_932_896] {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
        assert_eq!(at("1970-01-01"), 0);
        assert_eq!(format_time(NOW), "2024-02-29 13:45:30");
    }

    #[test]
    fn expressions() {
        // (expression, round up, expected)
        let cases: &[(&str, bool, &str)] = &[
            ("now", false, "2024-02-29T13:45:30.250Z"),
            ("now-6h", false, "2024-02-29T07:45:30.250Z"),
            ("now - 6h", false, "2024-02-29T07:45:30.250Z"),
            ("now-1d/d", false, "2024-02-28T00:00:00Z"),
            ("now-1d/d", true, "2024-02-28T23:59:59.999Z"),
            ("now/d", false, "2024-02-29T00:00:00Z"),
            ("now/d", true, "2024-02-29T23:59:59.999Z"),
            // Weeks start on Sunday: 2024-02-25.
            ("now/w", false, "2024-02-25T00:00:00Z"),
            ("now/w", true, "2024-03-02T23:59:59.999Z"),
            ("now-1w/w", false, "2024-02-18T00:00:00Z"),
            ("now/M", false, "2024-02-01T00:00:00Z"),
            ("now/M", true, "2024-02-29T23:59:59.999Z"),
            ("now-1M/M", true, "2024-01-31T23:59:59.999Z"),
            ("now/y", false, "2024-01-01T00:00:00Z"),
            ("now/y", true, "2024-12-31T23:59:59.999Z"),
            ("now/Q", false, "2024-01-01T00:00:00Z"),
            ("now-1Q/fQ", true, "2023-12-31T23:59:59.999Z"),
            ("now/fy", false, "2024-01-01T00:00:00Z"),
            ("now/h", false, "2024-02-29T13:00:00Z"),
            ("now/m", true, "2024-02-29T13:45:59.999Z"),
            ("now-1y", false, "2023-02-28T13:45:30.250Z"),
            ("now+1M", false, "2024-03-29T13:45:30.250Z"),
            ("now-30d", false, "2024-01-30T13:45:30.250Z"),
            ("now-h", false, "2024-02-29T12:45:30.250Z"),
            ("now-1d+2h/h", false, "2024-02-28T15:00:00Z"),
            ("1700000000000", false, "2023-11-14T22:13:20Z"),
            ("2024-01-15", false, "2024-01-15T00:00:00Z"),
            ("2024-01-15 10:20:30", false, "2024-01-15T10:20:30Z"),
            ("2024-01-15T10:20:30.5Z", false, "2024-01-15T10:20:30.500Z"),
            ("2024-01-15T10:20:30+02:00", false, "2024-01-15T08:20:30Z"),
            ("2024-01-15T10:20-0130", false, "2024-01-15T11:50:00Z"),
            ("20240115", false, "2024-01-15T00:00:00Z"),
            ("20240115T102030", false, "2024-01-15T10:20:30Z"),
            ("2024-01-31||+1M", false, "2024-02-29T00:00:00Z"),
            ("2024-01-15||/M", true, "2024-01-31T23:59:59.999Z"),
        ];
        for &(expr, up, want) in cases {
            let got = match parse_time(expr, up, NOW) {
                Ok(v) => v,
                Err(e) => panic!("{expr}: {e}"),
            };
            assert_eq!(got, at(want), "{expr} (round up {up}): got {}", format_time(got));
        }
    }

    #[test]
    fn bad_expressions_say_why() {
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("now-6x", "unknown unit \"x\""),
            ("now-", "unknown unit \"\""),
            ("now/2d", "rounding takes a unit only"),
            ("now*2", "expected +, - or /"),
            ("now-99999999999d", "too large"),
            ("now-9999999y", "out of range"),
            ("yesterday", "expected now"),
            ("2024-13-01", "not a date"),
            ("2024-02-30", "not a date"),
            ("2024-01-01 25:00:00", "not a time of day"),
            ("2024-01-01 1:2:3", "two digits"),
            ("2024-01-01T10:00:00+5", "zone"),
            ("2024-01-01Tx", "expected HH:mm"),
            ("99999999999999999999999", "too large"),
            ("2024-01-01||*", "expected +, - or /"),
        ];
        for (expr, part) in cases {
            match parse_time(expr, false, NOW) {
                Ok(v) => panic!("{expr} resolved to {v}"),
                Err(e) => assert!(e.to_string().contains(part), "{expr}: {e}"),
            }
        }
    }

    #[test]
    fn ranges_and_names() {
        let range = |f: &str, t: &str| TimeRange { from: f.into(), to: t.into() };
        let today = resolve_range(&range("now/d", "now/d"), NOW);
        assert_eq!(today, Ok(AbsoluteRange { from_ms: at("2024-02-29"), to_ms: at("2024-03-01") - 1 }));
        assert!(resolve_range(&range("now", "now-1h"), NOW).is_err());
        let names: &[(&str, &str, &str)] = &[
            ("now-5m", "now", "Last 5 minutes"),
            ("now-30d", "now", "Last 30 days"),
            ("now/d", "now/d", "Today"),
            ("now-1d/d", "now-1d/d", "Yesterday"),
            ("now/w", "now/w", "This week"),
            ("now-45m", "now", "Last 45 minutes"),
            ("now-1w", "now", "Last 1 week"),
            ("1700000000000", "1700003600000", "2023-11-14 22:13:20 to 2023-11-14 23:13:20"),
            ("now-2h", "now-1h", "now-2h to now-1h"),
        ];
        for (f, t, want) in names {
            assert_eq!(describe_range(&range(f, t)), *want);
        }
        // Every quick range resolves, in order.
        for q in QUICK_RANGES {
            let r = resolve_range(&range(q.from, q.to), NOW);
            assert!(r.is_ok_and(|r| r.from_ms < r.to_ms), "{}", q.display);
        }
    }

    #[test]
    fn zoom_and_refresh() {
        let r = AbsoluteRange { from_ms: 1_000_000, to_ms: 4_600_000 };
        assert_eq!(zoom_out(r, 2.0), AbsoluteRange { from_ms: -800_000, to_ms: 6_400_000 });
        let point = AbsoluteRange { from_ms: 60_000, to_ms: 60_000 };
        assert_eq!(zoom_out(point, 2.0), AbsoluteRange { from_ms: 45_000, to_ms: 75_000 });
        let parsed: Vec<Option<u64>> = REFRESH_INTERVALS.iter().map(|s| parse_refresh(s).ok().flatten()).collect();
        assert_eq!(
            parsed,
            [5_000, 10_000, 30_000, 60_000, 300_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 86_400_000].map(Some)
        );
        assert_eq!(parse_refresh(""), Ok(None));
        assert_eq!(parse_refresh("off"), Ok(None));
        assert_eq!(parse_refresh("1s"), Ok(Some(MIN_REFRESH_MS)));
        assert!(parse_refresh("soon").is_err());
        assert!(parse_refresh("0s").is_err());
    }

    #[cfg(not(target_arch = "wasm32"))]
    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// Arbitrary text and "now" never panic the parser.
            #[test]
            fn never_panics(s in "\\PC{0,40}", now in any::<i64>(), up in any::<bool>()) {
                let _ = parse_time(&s, up, now);
                let _ = parse_time(&format!("now{s}"), up, now);
                let _ = parse_refresh(&s);
            }

            /// Expressions built from the grammar always resolve, and `/unit`
            /// brackets the unrounded time.
            #[test]
            fn grammar_resolves(ops in proptest::collection::vec(("[+-]", 0u32..500, "[yQMwdhms]"), 0..5), round in "[yQMwdhms]", now in -4_000_000_000_000i64..4_000_000_000_000) {
                let math: String = ops.iter().map(|(op, n, u)| format!("{op}{n}{u}")).collect();
                let expr = format!("now{math}");
                let t = parse_time(&expr, false, now).map_err(|e| TestCaseError::fail(e.to_string()))?;
                let down = parse_time(&format!("{expr}/{round}"), false, now).map_err(|e| TestCaseError::fail(e.to_string()))?;
                let up = parse_time(&format!("{expr}/{round}"), true, now).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert!(down <= t && t <= up, "{} {} {}", down, t, up);
            }

            /// Formatting an instant and parsing it back is the identity
            /// (to the second).
            #[test]
            fn absolute_round_trip(ms in -60_000_000_000_000i64..200_000_000_000_000) {
                let s = ms - ms.rem_euclid(1000);
                let text = format_time(s);
                if !text.starts_with('-') {
                    prop_assert_eq!(parse_time(&text, false, 0), Ok(s));
                }
            }
        }
    }
}
