//! Time intervals (`time_intervals`, and the older `mute_time_intervals`):
//! named sets of periods during which routes are muted
//! (`mute_time_intervals`) or outside of which they are (`active_time_intervals`),
//! as Alertmanager's `timeinterval` package.
//!
//! A period matches when every field it sets matches: `times` (start
//! inclusive, end exclusive, `HH:MM`, end up to `24:00`), `weekdays`
//! (`monday:friday`), `days_of_month` (`1:5`, negative counts from the end
//! of the month: `-1` is the last day), `months` (`january:march` or
//! numbers) and `years`. A named interval matches when any of its periods
//! does. `location` may be `UTC` (the default) or `Local`; other time zones
//! are refused, Vigil has no time-zone database yet.

use serde::Deserialize;

/// One period as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPeriod {
    #[serde(default)]
    pub times: Vec<RawTimeRange>,
    #[serde(default)]
    pub weekdays: Vec<String>,
    #[serde(default)]
    pub days_of_month: Vec<String>,
    #[serde(default)]
    pub months: Vec<String>,
    #[serde(default)]
    pub years: Vec<String>,
    pub location: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTimeRange {
    pub start_time: String,
    pub end_time: String,
}

/// A named interval as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInterval {
    pub name: String,
    #[serde(default)]
    pub time_intervals: Vec<RawPeriod>,
}

/// A validated period; empty lists match everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// Minutes of the day, [start, end).
    times: Vec<(u32, u32)>,
    /// 0 = Sunday.
    weekdays: Vec<(u32, u32)>,
    days_of_month: Vec<(i32, i32)>,
    months: Vec<(u32, u32)>,
    years: Vec<(i64, i64)>,
    local: bool,
}

const WEEKDAYS: [&str; 7] = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"];
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// `a:b` or `a`, each side through `one`.
fn range<T: Copy + PartialOrd>(text: &str, one: impl Fn(&str) -> Option<T>, what: &str) -> Result<(T, T), String> {
    let (a, b) = text.split_once(':').unwrap_or((text, text));
    let parse = |s: &str| one(s.trim()).ok_or_else(|| format!("invalid {what} {s:?} in {text:?}"));
    let (a, b) = (parse(a)?, parse(b)?);
    if a > b {
        return Err(format!("{what} range {text:?}: start after end"));
    }
    Ok((a, b))
}

fn minutes(text: &str, allow_24: bool) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    let total = h * 60 + m;
    (m < 60 && (total < 24 * 60 || (allow_24 && total == 24 * 60))).then_some(total)
}

impl Period {
    pub fn from_raw(raw: &RawPeriod) -> Result<Period, String> {
        let mut times = Vec::new();
        for t in &raw.times {
            let start =
                minutes(&t.start_time, false).ok_or_else(|| format!("invalid start_time {:?}", t.start_time))?;
            let end = minutes(&t.end_time, true).ok_or_else(|| format!("invalid end_time {:?}", t.end_time))?;
            if start >= end {
                return Err(format!("start_time {:?} must be before end_time {:?}", t.start_time, t.end_time));
            }
            times.push((start, end));
        }
        let weekday = |s: &str| WEEKDAYS.iter().position(|d| d.eq_ignore_ascii_case(s)).map(|i| i as u32);
        let month = |s: &str| {
            MONTHS
                .iter()
                .position(|m| m.eq_ignore_ascii_case(s))
                .map(|i| i as u32 + 1)
                .or_else(|| s.parse::<u32>().ok().filter(|m| (1..=12).contains(m)))
        };
        let day = |s: &str| s.parse::<i32>().ok().filter(|d| *d != 0 && (-31..=31).contains(d));
        let weekdays = raw.weekdays.iter().map(|w| range(w, weekday, "weekday")).collect::<Result<_, _>>()?;
        let months = raw.months.iter().map(|m| range(m, month, "month")).collect::<Result<_, _>>()?;
        let years = raw.years.iter().map(|y| range(y, |s| s.parse::<i64>().ok(), "year")).collect::<Result<_, _>>()?;
        let mut days_of_month = Vec::new();
        for d in &raw.days_of_month {
            let (a, b) = d.split_once(':').unwrap_or((d, d));
            let (a, b) = (
                day(a.trim()).ok_or_else(|| format!("invalid day of month {a:?} in {d:?}"))?,
                day(b.trim()).ok_or_else(|| format!("invalid day of month {b:?} in {d:?}"))?,
            );
            // Same-sign ranges must be ordered; mixed ones are checked per month.
            if a.signum() == b.signum() && a > b {
                return Err(format!("days_of_month range {d:?}: start after end"));
            }
            days_of_month.push((a, b));
        }
        let local = match raw.location.as_deref() {
            None | Some("UTC") => false,
            Some("Local") => true,
            Some(other) => {
                return Err(format!("location {other:?} is not supported by Vigil yet (UTC and Local are)"));
            }
        };
        Ok(Period { times, weekdays, days_of_month, months, years, local })
    }

    /// Whether the instant `ms` (Unix milliseconds) falls in the period.
    pub fn contains(&self, ms: i64) -> bool {
        let offset_s = if self.local { local_offset_seconds(ms) } else { 0 };
        let seconds = ms.div_euclid(1000) + offset_s;
        let days = seconds.div_euclid(86_400);
        let minute = (seconds.rem_euclid(86_400) / 60) as u32;
        let (year, month, day) = crate::api::params::civil_from_days(days);
        // 1970-01-01 was a Thursday.
        let weekday = (days + 4).rem_euclid(7) as u32;
        let month_len = {
            let (ny, nm) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
            crate::api::params::days_from_civil(ny, nm, 1) - crate::api::params::days_from_civil(year, month, 1)
        } as i32;
        let in_any =
            |ranges: &[(u32, u32)], v: u32| ranges.is_empty() || ranges.iter().any(|(a, b)| *a <= v && v <= *b);
        let times_ok = self.times.is_empty() || self.times.iter().any(|(a, b)| *a <= minute && minute < *b);
        let days_ok = self.days_of_month.is_empty()
            || self.days_of_month.iter().any(|(a, b)| {
                let resolve = |d: i32| if d < 0 { month_len + 1 + d } else { d };
                let (a, b) = (resolve(*a).max(1), resolve(*b).min(month_len));
                a <= day as i32 && day as i32 <= b
            });
        let years_ok = self.years.is_empty() || self.years.iter().any(|(a, b)| *a <= year && year <= *b);
        times_ok && in_any(&self.weekdays, weekday) && days_ok && in_any(&self.months, month as u32) && years_ok
    }
}

/// This machine's offset from UTC at `ms`, in seconds.
fn local_offset_seconds(ms: i64) -> i64 {
    let t: libc::time_t = ms.div_euclid(1000) as libc::time_t;
    // SAFETY: localtime_r writes into the tm this function owns and reads t.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if ok { tm.tm_gmtoff } else { 0 }
}

/// Whether `ms` is in any period of a named interval.
pub fn any_contains(periods: &[Period], ms: i64) -> bool {
    periods.iter().any(|p| p.contains(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn period(yaml: &str) -> Result<Period, String> {
        let raw: RawPeriod = serde_yaml_ng::from_str(yaml).map_err(|e| e.to_string())?;
        Period::from_raw(&raw)
    }

    /// Unix ms of a UTC date and time.
    fn at(y: i64, mo: i64, d: i64, h: i64, mi: i64) -> i64 {
        (crate::api::params::days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60) * 1000
    }

    #[test]
    fn periods_match_as_alertmanager_defines_them() {
        // 2026-11-25 is a Wednesday; 2026-11-30 the last day of November.
        let cases = [
            ("times: [{start_time: '09:00', end_time: '17:00'}]", at(2026, 11, 25, 9, 0), true),
            ("times: [{start_time: '09:00', end_time: '17:00'}]", at(2026, 11, 25, 17, 0), false),
            ("times: [{start_time: '17:00', end_time: '24:00'}]", at(2026, 11, 25, 23, 59), true),
            ("weekdays: ['monday:friday']", at(2026, 11, 25, 12, 0), true),
            ("weekdays: ['saturday', 'sunday']", at(2026, 11, 25, 12, 0), false),
            ("weekdays: ['sunday']", at(2026, 11, 29, 0, 0), true),
            ("days_of_month: ['-1']", at(2026, 11, 30, 12, 0), true),
            ("days_of_month: ['-1']", at(2026, 11, 29, 12, 0), false),
            ("days_of_month: ['1:5', '25']", at(2026, 11, 25, 12, 0), true),
            ("days_of_month: ['-3:-1']", at(2026, 2, 26, 0, 0), true),
            ("months: ['november', '1:3']", at(2026, 11, 25, 12, 0), true),
            ("months: ['december']", at(2026, 11, 25, 12, 0), false),
            ("years: ['2020:2025']", at(2026, 11, 25, 12, 0), false),
            (
                "{weekdays: [wednesday], times: [{start_time: '12:00', end_time: '13:00'}]}",
                at(2026, 11, 25, 12, 30),
                true,
            ),
            (
                "{weekdays: [thursday], times: [{start_time: '12:00', end_time: '13:00'}]}",
                at(2026, 11, 25, 12, 30),
                false,
            ),
            ("location: UTC", at(2026, 11, 25, 12, 30), true),
        ];
        for (yaml, ms, want) in cases {
            assert_eq!(period(yaml).unwrap().contains(ms), want, "{yaml} at {ms}");
        }
    }

    #[test]
    fn invalid_periods_are_refused() {
        let cases = [
            (
                "times: [{start_time: '17:00', end_time: '09:00'}]",
                "start_time \"17:00\" must be before end_time \"09:00\"",
            ),
            ("times: [{start_time: '24:00', end_time: '24:00'}]", "invalid start_time \"24:00\""),
            ("weekdays: [funday]", "invalid weekday \"funday\" in \"funday\""),
            ("weekdays: ['friday:monday']", "weekday range \"friday:monday\": start after end"),
            ("days_of_month: ['0']", "invalid day of month \"0\" in \"0\""),
            ("months: ['13']", "invalid month \"13\" in \"13\""),
            ("location: Europe/Berlin", "location \"Europe/Berlin\" is not supported by Vigil yet (UTC and Local are)"),
        ];
        for (yaml, want) in cases {
            assert_eq!(period(yaml).unwrap_err(), want, "{yaml}");
        }
    }
}
