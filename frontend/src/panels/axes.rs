//! Axis arithmetic shared by the graph types: "nice" value ticks, time
//! ticks on round UTC instants, and the UTC labels Grafana writes under a
//! time axis. Pure functions, no drawing.

/// Ticks for a value axis over `[min, max]` with about `count` steps: the
/// step is 1, 2 or 5 times a power of ten, and the range widened to whole
/// steps unless `fixed` (the dashboard set min and max). Returns
/// (axis min, axis max, step, ticks).
pub fn value_ticks(min: f64, max: f64, count: usize, fixed: (bool, bool)) -> (f64, f64, f64, Vec<f64>) {
    let (mut lo, mut hi) = if min.is_finite() && max.is_finite() { (min, max) } else { (0.0, 1.0) };
    if hi < lo {
        std::mem::swap(&mut lo, &mut hi);
    }
    if hi == lo {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        if !fixed.0 {
            lo -= pad;
        }
        if !fixed.1 {
            hi += pad;
        }
        if hi == lo {
            hi = lo + 1.0;
        }
    }
    let step = nice_step((hi - lo) / count.max(1) as f64);
    if !fixed.0 {
        lo = (lo / step).floor() * step;
    }
    if !fixed.1 {
        hi = (hi / step).ceil() * step;
    }
    let mut ticks = Vec::new();
    let mut t = (lo / step).ceil() * step;
    // Bounded: at most a few more than `count` ticks fit.
    while t <= hi + step * 1e-9 && ticks.len() <= count * 2 + 2 {
        // Rounded to the step's precision, so 0.30000000000000004 prints 0.3.
        ticks.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        t += step;
    }
    (lo, hi, step, ticks)
}

/// 1, 2 or 5 × 10^n, the smallest at least `raw`.
pub fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let fraction = raw / magnitude;
    let nice = if fraction <= 1.0 {
        1.0
    } else if fraction <= 2.0 {
        2.0
    } else if fraction <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// Decimals that tell ticks `step` apart.
pub fn step_decimals(step: f64) -> u32 {
    if step >= 1.0 || !step.is_finite() || step <= 0.0 { 0 } else { (-step.log10()).ceil().clamp(0.0, 12.0) as u32 }
}

const SECOND: i64 = 1000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// Tick spacings a time axis may use, on round UTC boundaries.
const TIME_STEPS: [i64; 22] = [
    SECOND,
    2 * SECOND,
    5 * SECOND,
    10 * SECOND,
    15 * SECOND,
    30 * SECOND,
    MINUTE,
    2 * MINUTE,
    5 * MINUTE,
    10 * MINUTE,
    15 * MINUTE,
    30 * MINUTE,
    HOUR,
    2 * HOUR,
    3 * HOUR,
    6 * HOUR,
    12 * HOUR,
    DAY,
    2 * DAY,
    7 * DAY,
    30 * DAY,
    365 * DAY,
];

/// Time ticks over `[from, to]` (ms) with at most `max_ticks` of them, each
/// with its UTC label.
pub fn time_ticks(from: i64, to: i64, max_ticks: usize) -> Vec<(i64, String)> {
    let span = (to - from).max(1);
    let max_ticks = max_ticks.max(1) as i64;
    let step = TIME_STEPS.iter().copied().find(|s| span / s <= max_ticks).unwrap_or(365 * DAY);
    let mut ticks = Vec::new();
    let mut t = from.div_euclid(step) * step;
    if t < from {
        t += step;
    }
    while t <= to && ticks.len() as i64 <= max_ticks {
        ticks.push((t, time_label(t, step, span)));
        t += step;
    }
    ticks
}

/// A time label as Grafana's time axis writes it, in UTC: seconds when
/// ticks are under a minute apart, `HH:MM` within a day, the date added
/// beyond.
pub fn time_label(ms: i64, step: i64, span: i64) -> String {
    let (year, month, day, h, m, s) = utc(ms);
    if step < MINUTE {
        format!("{h:02}:{m:02}:{s:02}")
    } else if span <= DAY {
        format!("{h:02}:{m:02}")
    } else if step < DAY {
        format!("{month:02}/{day:02} {h:02}:{m:02}")
    } else if span <= 365 * DAY {
        format!("{month:02}/{day:02}")
    } else {
        format!("{year}-{month:02}")
    }
}

/// A full UTC timestamp, `YYYY-MM-DD HH:MM:SS`, for tooltips.
pub fn full_time(ms: i64) -> String {
    let (year, month, day, h, m, s) = utc(ms);
    format!("{year}-{month:02}-{day:02} {h:02}:{m:02}:{s:02}")
}

/// Milliseconds since the epoch to UTC (year, month, day, hour, minute,
/// second), by the days-to-civil algorithm (proleptic Gregorian).
pub fn utc(ms: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = ms.div_euclid(DAY);
    let secs = ms.rem_euclid(DAY) / SECOND;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, (secs / 3600) as u32, (secs % 3600 / 60) as u32, (secs % 60) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn converts_to_utc() {
        type Civil = (i64, u32, u32, u32, u32, u32);
        let cases: &[(i64, Civil)] = &[
            (0, (1970, 1, 1, 0, 0, 0)),
            (951_782_400_000, (2000, 2, 29, 0, 0, 0)),
            (1_700_000_000_000, (2023, 11, 14, 22, 13, 20)),
            (-1000, (1969, 12, 31, 23, 59, 59)),
        ];
        for (ms, want) in cases {
            assert_eq!(utc(*ms), *want, "{ms}");
        }
        assert_eq!(full_time(1_700_000_000_000), "2023-11-14 22:13:20");
    }

    #[wasm_bindgen_test]
    fn time_ticks_are_round_and_labelled_like_grafana() {
        let from = 1_700_000_000_000;
        // 15 minutes, 8 ticks at most: every 2 minutes, HH:MM.
        let ticks = time_ticks(from, from + 15 * MINUTE, 8);
        assert!(ticks.iter().all(|(t, _)| t % (2 * MINUTE) == 0), "{ticks:?}");
        assert_eq!(ticks[0].1, "22:14");
        // One minute: seconds shown.
        let ticks = time_ticks(from, from + MINUTE, 6);
        assert!(ticks[0].1.len() == 8, "{ticks:?}");
        // Seven days: dates.
        let ticks = time_ticks(from, from + 7 * DAY, 8);
        assert_eq!(ticks[0].1, "11/15");
        assert!(ticks.len() <= 9);
    }

    #[wasm_bindgen_test]
    fn value_ticks_are_nice() {
        // (data min, data max, ticks wanted, (axis min, axis max, step)).
        type Case = (f64, f64, usize, (f64, f64, f64));
        let cases: &[Case] = &[
            (0.0, 97.0, 5, (0.0, 100.0, 20.0)),
            (0.13, 0.52, 4, (0.1, 0.6, 0.1)),
            (5.0, 5.0, 4, (4.5, 5.5, 0.5)),
            (f64::NAN, f64::NAN, 4, (0.0, 1.0, 0.5)),
        ];
        for (min, max, count, (lo, hi, step)) in cases {
            let (l, h, s, ticks) = value_ticks(*min, *max, *count, (false, false));
            assert!(
                (l - lo).abs() < 1e-9 && (h - hi).abs() < 1e-9 && (s - step).abs() < 1e-9,
                "{min}..{max}: {l} {h} {s}"
            );
            assert!(ticks.len() >= 2 && ticks.iter().all(|t| *t >= l - 1e-9 && *t <= h + 1e-9), "{ticks:?}");
        }
        // Fixed bounds are kept.
        let (l, h, _, _) = value_ticks(3.0, 97.0, 5, (true, true));
        assert_eq!((l, h), (3.0, 97.0));
        assert_eq!(step_decimals(0.05), 2);
        assert_eq!(step_decimals(20.0), 0);
    }
}
