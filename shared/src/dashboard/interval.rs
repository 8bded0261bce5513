//! How a panel turns its time range and width into the step of its PromQL
//! range queries, and the built-in variables that depend on it
//! (`$__interval`, `$__interval_ms`, `$__rate_interval`, `$__range`,
//! `$__range_s`, `$__range_ms`).
//!
//! It follows Grafana in two stages, so a dashboard shows the same points in
//! Vigil as in Grafana:
//! 1. the panel (`PanelQueryRunner`, `rangeutil.ts` `calculateInterval`):
//!    `interval = roundInterval(range / resolution)`, at least the lower
//!    limit, where resolution is the panel's `maxDataPoints` or else its width
//!    in pixels (Grafana uses `maxDataPoints` when set, even above the width),
//!    and the lower limit is the panel's "Min interval" or else the data
//!    source's scrape interval (15 s by default);
//! 2. the Prometheus data source (`datasource.ts` `createQuery`,
//!    `adjustInterval`, `getRateIntervalScopedVariable`, `alignRange`):
//!    `step = max(interval × intervalFactor, the query's min step, range /
//!    11000)` (Prometheus refuses more than 11 000 points), `$__rate_interval
//!    = max($__interval + scrape, 4 × scrape)` with scrape the query's min
//!    step or the data source's scrape interval, and start/end floored to a
//!    multiple of the step (UTC) so that refreshes hit the same grid.
//!
//! Durations are Grafana's interval strings (`describeInterval`): a count and
//! one unit of `ms s m h d w M y` (`M` = 30 d, `y` = 365 d), or a bare number
//! of seconds. A leading `>` (Grafana's old "at least" marker) is ignored.

/// A duration string Grafana would not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid interval {input:?}: {reason}")]
pub struct IntervalError {
    pub input: String,
    pub reason: &'static str,
}

/// The data source's scrape interval when none is configured (Grafana's
/// Prometheus default).
pub const DEFAULT_SCRAPE_INTERVAL_MS: u64 = 15_000;
/// Prometheus refuses range queries of more points than this; Grafana raises
/// the step to stay under it.
pub const MAX_POINTS_PER_SERIES: u64 = 11_000;

/// Milliseconds per unit letter of Grafana's interval strings.
fn unit_ms(unit: &str) -> Option<u64> {
    Some(match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 604_800_000,
        "M" => 2_592_000_000,
        "y" => 31_536_000_000,
        _ => return None,
    })
}

/// Parses `30s`, `1m`, `250ms`, `2h`, `15` (seconds) into milliseconds.
pub fn parse_interval_ms(input: &str) -> Result<u64, IntervalError> {
    let err = |reason| IntervalError { input: input.to_string(), reason };
    let s = input.trim().trim_start_matches('>').trim();
    if s.is_empty() {
        return Err(err("it is empty"));
    }
    let digits = s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len());
    let (num, unit) = s.split_at(digits);
    if num.is_empty() {
        return Err(err("it must start with a number, as in 30s"));
    }
    let count: f64 = num.parse().map_err(|_| err("the number is malformed"))?;
    let per = if unit.is_empty() {
        1_000
    } else {
        unit_ms(unit).ok_or_else(|| err("the unit must be one of ms, s, m, h, d, w, M, y"))?
    };
    let ms = count * per as f64;
    if !ms.is_finite() || ms > 1.0e15 {
        return Err(err("it is too long"));
    }
    Ok(ms.round() as u64)
}

/// Grafana's `roundInterval`: the nice interval at or below a raw one.
pub fn round_interval(ms: f64) -> u64 {
    // (upper bound, rounded value): the first bound above `ms` wins.
    const TABLE: [(f64, u64); 29] = [
        (10.0, 1),
        (15.0, 10),
        (35.0, 20),
        (75.0, 50),
        (150.0, 100),
        (350.0, 200),
        (750.0, 500),
        (1_500.0, 1_000),
        (3_500.0, 2_000),
        (7_500.0, 5_000),
        (12_500.0, 10_000),
        (17_500.0, 15_000),
        (25_000.0, 20_000),
        (45_000.0, 30_000),
        (90_000.0, 60_000),
        (210_000.0, 120_000),
        (450_000.0, 300_000),
        (750_000.0, 600_000),
        (1_050_000.0, 900_000),
        (1_500_000.0, 1_200_000),
        (2_700_000.0, 1_800_000),
        (5_400_000.0, 3_600_000),
        (9_000_000.0, 7_200_000),
        (16_200_000.0, 10_800_000),
        (32_400_000.0, 21_600_000),
        (86_400_000.0, 43_200_000),
        (604_800_000.0, 86_400_000),
        (1_814_400_000.0, 604_800_000),
        (3_628_800_000.0, 2_592_000_000),
    ];
    TABLE.iter().find(|(bound, _)| ms < *bound).map_or(31_536_000_000, |&(_, v)| v)
}

/// Grafana's `secondsToHms`: the largest whole unit (`1y`, `2d`, `5m`, `30s`,
/// `500ms`), as `$__interval` is written.
pub fn format_interval(ms: u64) -> String {
    let s = ms / 1000;
    let parts = [(31_536_000, 'y'), (86_400, 'd'), (3_600, 'h'), (60, 'm'), (1, 's')];
    let mut rest = s;
    for (i, (size, unit)) in parts.iter().enumerate() {
        // Grafana takes each unit of what the larger units leave over.
        let n = if i == 0 { rest / size } else { (rest % parts[i - 1].0) / size };
        if n > 0 {
            return format!("{n}{unit}");
        }
        if i > 0 {
            rest %= parts[i - 1].0;
        }
    }
    if ms > 0 { format!("{ms}ms") } else { "less than a millisecond".into() }
}

/// What a panel knows when it is about to query.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelQueryContext<'a> {
    /// The resolved time range, epoch milliseconds.
    pub from_ms: i64,
    pub to_ms: i64,
    /// The panel's drawing width in CSS pixels.
    pub width_px: u32,
    /// `panel.maxDataPoints`.
    pub max_data_points: Option<u32>,
    /// `panel.interval` ("Min interval"), variables already replaced.
    pub min_interval: Option<&'a str>,
    /// The data source's scrape interval (`jsonData.timeInterval`); `None`
    /// means 15 s.
    pub scrape_interval: Option<&'a str>,
}

/// One query's own settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetStep<'a> {
    /// `target.interval` ("Min step"), variables other than `$__interval`
    /// already replaced.
    pub interval: Option<&'a str>,
    /// `target.intervalFactor` (old "Resolution 1/N"), 1 when absent.
    pub interval_factor: Option<u32>,
}

/// The panel-level interval (stage 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PanelInterval {
    pub interval_ms: u64,
    /// The range, for `$__range`.
    pub range_ms: u64,
}

/// A range query ready for `/api/v1/query_range`, plus the built-ins its
/// expression is interpolated with.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeQueryPlan {
    /// Start and end in milliseconds, aligned to the step.
    pub start_ms: i64,
    pub end_ms: i64,
    pub step_ms: u64,
    /// `$__interval` for this query (the step).
    pub interval_ms: u64,
    pub rate_interval_ms: u64,
    pub range_ms: u64,
}

impl PanelQueryContext<'_> {
    /// Stage 1: Grafana's `calculateInterval` for the panel.
    pub fn panel_interval(&self) -> Result<PanelInterval, IntervalError> {
        let range_ms = self.to_ms.saturating_sub(self.from_ms).max(0) as u64;
        let resolution = match self.max_data_points {
            Some(n) if n > 0 => n,
            _ => self.width_px.max(1),
        };
        let low_limit = match (self.min_interval.filter(|s| !s.trim().is_empty()), self.scrape_interval) {
            (Some(min), _) => parse_interval_ms(min)?,
            (None, Some(scrape)) if !scrape.trim().is_empty() => parse_interval_ms(scrape)?,
            _ => DEFAULT_SCRAPE_INTERVAL_MS,
        };
        let interval_ms = round_interval(range_ms as f64 / f64::from(resolution)).max(low_limit).max(1);
        Ok(PanelInterval { interval_ms, range_ms })
    }

    fn scrape_ms(&self) -> Result<u64, IntervalError> {
        match self.scrape_interval.filter(|s| !s.trim().is_empty()) {
            Some(s) => Ok(parse_interval_ms(s)?.max(1)),
            None => Ok(DEFAULT_SCRAPE_INTERVAL_MS),
        }
    }

    /// Stage 2: the Prometheus data source's step for one query.
    pub fn plan(&self, target: &TargetStep) -> Result<RangeQueryPlan, IntervalError> {
        let panel = self.panel_interval()?;
        let interval = panel.interval_ms;
        let own = target.interval.map(str::trim).filter(|s| !s.is_empty());
        // `$__interval` as a min step means the panel interval itself.
        let own_ms = match own {
            Some("$__interval" | "${__interval}" | "[[__interval]]") => Some(interval),
            Some(s) => Some(parse_interval_ms(s)?),
            None => None,
        };
        let min_step = own_ms.unwrap_or(interval);
        let scrape = match own_ms {
            Some(ms) if ms > 0 => ms,
            _ => self.scrape_ms()?,
        };
        // Grafana computes in whole seconds for the start and end
        // (`Math.ceil(ms / 1000)`) and the range from them.
        let start_s = ceil_div(self.from_ms, 1000);
        let end_s = ceil_div(self.to_ms, 1000);
        let range_s = (end_s - start_s).max(0) as u64;
        let safe_ms = {
            let safe = range_s as f64 / MAX_POINTS_PER_SERIES as f64;
            let safe = if safe > 1.0 { safe.ceil() } else { safe };
            (safe * 1000.0).round() as u64
        };
        let factor = u64::from(target.interval_factor.unwrap_or(1).max(1));
        let step_ms = (interval.saturating_mul(factor)).max(min_step).max(safe_ms).max(1);
        let rate_interval_ms = (step_ms + scrape).max(4 * scrape);
        let step = step_ms as i64;
        Ok(RangeQueryPlan {
            start_ms: (start_s * 1000).div_euclid(step) * step,
            end_ms: (end_s * 1000).div_euclid(step) * step,
            step_ms,
            interval_ms: step_ms,
            rate_interval_ms,
            range_ms: panel.range_ms,
        })
    }
}

fn ceil_div(a: i64, b: i64) -> i64 {
    let q = a.div_euclid(b);
    if a.rem_euclid(b) == 0 { q } else { q + 1 }
}

impl RangeQueryPlan {
    /// The built-in variables for interpolation: `$__interval`,
    /// `$__interval_ms`, `$__rate_interval`, `$__range`, `$__range_s`,
    /// `$__range_ms`, written as Grafana's Prometheus data source writes them
    /// (seconds with an `s` suffix; `$__range_s` rounded).
    pub fn builtins(&self) -> Vec<(&'static str, String)> {
        let range_s = (self.range_ms as f64 / 1000.0).round() as u64;
        vec![
            ("__interval", format!("{}s", seconds(self.interval_ms))),
            ("__interval_ms", self.interval_ms.to_string()),
            ("__rate_interval", format!("{}s", seconds(self.rate_interval_ms))),
            ("__range", format!("{range_s}s")),
            ("__range_s", range_s.to_string()),
            ("__range_ms", self.range_ms.to_string()),
        ]
    }

    /// The `step` parameter for `/api/v1/query_range`, in seconds.
    pub fn step_param(&self) -> String {
        seconds(self.step_ms)
    }

    /// The `start` parameter, in seconds.
    pub fn start_param(&self) -> String {
        seconds_signed(self.start_ms)
    }

    /// The `end` parameter, in seconds.
    pub fn end_param(&self) -> String {
        seconds_signed(self.end_ms)
    }
}

/// Milliseconds as seconds without trailing zeros (`1.5`, `30`, `0.02`).
fn seconds(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        (ms / 1000).to_string()
    } else {
        trim_zeros(format!("{}.{:03}", ms / 1000, ms % 1000))
    }
}

fn seconds_signed(ms: i64) -> String {
    if ms < 0 { format!("-{}", seconds(ms.unsigned_abs())) } else { seconds(ms as u64) }
}

fn trim_zeros(s: String) -> String {
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_intervals() {
        let cases: &[(&str, Result<u64, &str>)] = &[
            ("30s", Ok(30_000)),
            ("1m", Ok(60_000)),
            ("250ms", Ok(250)),
            ("2h", Ok(7_200_000)),
            ("1d", Ok(86_400_000)),
            ("1w", Ok(604_800_000)),
            ("1M", Ok(2_592_000_000)),
            ("1y", Ok(31_536_000_000)),
            ("15", Ok(15_000)),
            (">10s", Ok(10_000)),
            ("1.5s", Ok(1_500)),
            ("", Err("empty")),
            ("s", Err("start with a number")),
            ("10x", Err("unit")),
            ("1h30m", Err("unit")),
            ("1..2s", Err("malformed")),
            ("99999999999999999y", Err("too long")),
        ];
        for (input, want) in cases {
            match (parse_interval_ms(input), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, *want, "{input}"),
                (Err(e), Err(part)) => assert!(e.to_string().contains(part), "{input}: {e}"),
                (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn rounds_like_grafana() {
        // Each bound of Grafana's table, just below and at it.
        let cases: &[(f64, u64)] = &[
            (0.0, 1),
            (9.9, 1),
            (10.0, 10),
            (14.0, 10),
            (15.0, 20),
            (100.0, 100),
            (1_499.0, 1_000),
            (1_500.0, 2_000),
            (12_000.0, 10_000),
            (14_400.0, 15_000),
            (17_500.0, 20_000),
            (44_999.0, 30_000),
            (86_400.0, 60_000),
            (200_000.0, 120_000),
            (400_000.0, 300_000),
            (3_000_000.0, 3_600_000),
            (20_000_000.0, 21_600_000),
            (50_000_000.0, 43_200_000),
            (100_000_000.0, 86_400_000),
            (1_000_000_000.0, 604_800_000),
            (3_000_000_000.0, 2_592_000_000),
            (4_000_000_000.0, 31_536_000_000),
        ];
        for &(raw, want) in cases {
            assert_eq!(round_interval(raw), want, "{raw}");
        }
    }

    #[test]
    fn formats_like_seconds_to_hms() {
        let cases: &[(u64, &str)] = &[
            (15_000, "15s"),
            (60_000, "1m"),
            (90_000, "1m"),
            (7_200_000, "2h"),
            (86_400_000, "1d"),
            (31_536_000_000, "1y"),
            (500, "500ms"),
            (0, "less than a millisecond"),
        ];
        for &(ms, want) in cases {
            assert_eq!(format_interval(ms), want, "{ms}");
        }
    }

    const HOUR: i64 = 3_600_000;
    const NOW: i64 = 1_700_000_123_456;

    fn ctx(range_ms: i64, width: u32) -> PanelQueryContext<'static> {
        PanelQueryContext {
            from_ms: NOW - range_ms,
            to_ms: NOW,
            width_px: width,
            max_data_points: None,
            min_interval: None,
            scrape_interval: None,
        }
    }

    #[test]
    fn steps_for_ranges_and_widths() {
        // (range, width, maxDataPoints, min interval, scrape, target interval, factor) → (step ms, rate interval ms)
        type Case = (
            i64,
            u32,
            Option<u32>,
            Option<&'static str>,
            Option<&'static str>,
            Option<&'static str>,
            Option<u32>,
            u64,
            u64,
        );
        let cases: &[Case] = &[
            // 6h over 1000 px: 21.6 s → 20 s; rate = max(20+15, 60) = 60 s.
            (6 * HOUR, 1000, None, None, None, None, None, 20_000, 60_000),
            // 1h over 1000 px: 3.6 s → 5 s, raised to the 15 s scrape interval.
            (HOUR, 1000, None, None, None, None, None, 15_000, 60_000),
            // 7 days over 500 px: 1209.6 s → 20 m; rate = 20m + 15s.
            (168 * HOUR, 500, None, None, None, None, None, 1_200_000, 1_215_000),
            // maxDataPoints wins over the width, even when larger.
            (6 * HOUR, 200, Some(2000), None, None, None, None, 15_000, 60_000),
            (6 * HOUR, 2000, Some(100), None, None, None, None, 300_000, 315_000),
            // Panel min interval replaces the scrape interval as the floor.
            (HOUR, 1000, None, Some("1m"), None, None, None, 60_000, 75_000),
            (HOUR, 1000, None, Some("1s"), None, None, None, 5_000, 60_000),
            // Data source scrape interval 5s: floor and rate base.
            (HOUR, 1000, None, None, Some("5s"), None, None, 5_000, 20_000),
            // Target min step raises the step and is the rate base.
            (6 * HOUR, 1000, None, None, None, Some("2m"), None, 120_000, 480_000),
            (6 * HOUR, 1000, None, None, None, Some("$__interval"), None, 20_000, 80_000),
            // Interval factor multiplies.
            (6 * HOUR, 1000, None, None, None, None, Some(2), 40_000, 60_000),
            // 1 year over 20000 px with a 1 s floor: 11 000 points at most.
            (8760 * HOUR, 20000, None, Some("1s"), None, None, None, 2_867_000, 2_882_000),
        ];
        for &(range, width, mdp, min, scrape, tint, factor, step, rate) in cases {
            let c = PanelQueryContext {
                max_data_points: mdp,
                min_interval: min,
                scrape_interval: scrape,
                ..ctx(range, width)
            };
            let plan = match c.plan(&TargetStep { interval: tint, interval_factor: factor }) {
                Ok(p) => p,
                Err(e) => panic!("{range} {width}: {e}"),
            };
            assert_eq!(
                (plan.step_ms, plan.rate_interval_ms),
                (step, rate),
                "range {range} width {width} mdp {mdp:?} min {min:?} scrape {scrape:?} target {tint:?}"
            );
            assert_eq!(plan.start_ms % plan.step_ms as i64, 0);
            assert_eq!(plan.end_ms % plan.step_ms as i64, 0);
            assert!(plan.end_ms <= NOW + 1000 && plan.end_ms > NOW - plan.step_ms as i64);
        }
    }

    #[test]
    fn alignment_and_builtins() {
        let plan = match ctx(6 * HOUR, 1000).plan(&TargetStep::default()) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        };
        // now = …123.456 s → ceil 1700000124 s, floored to 20 s.
        assert_eq!((plan.end_ms, plan.start_ms), (1_700_000_120_000, 1_699_978_520_000));
        assert_eq!(
            (plan.start_param(), plan.end_param(), plan.step_param()),
            ("1699978520".into(), "1700000120".into(), "20".into())
        );
        let b = plan.builtins();
        let get = |k: &str| b.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("__interval"), Some("20s"));
        assert_eq!(get("__interval_ms"), Some("20000"));
        assert_eq!(get("__rate_interval"), Some("60s"));
        assert_eq!(get("__range"), Some("21600s"));
        assert_eq!(get("__range_s"), Some("21600"));
        assert_eq!(get("__range_ms"), Some("21600000"));

        // Sub-second steps are written as fractions.
        let c = PanelQueryContext { min_interval: Some("10ms"), ..ctx(60_000, 1000) };
        let plan = match c.plan(&TargetStep::default()) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        };
        assert_eq!((plan.step_ms, plan.step_param()), (50, "0.05".into()));

        let bad = PanelQueryContext { min_interval: Some("soon"), ..ctx(HOUR, 100) };
        assert!(bad.plan(&TargetStep::default()).is_err());
    }
}
