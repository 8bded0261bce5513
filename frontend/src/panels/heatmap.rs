//! The heatmap panel: time columns × value buckets, each cell coloured by
//! its count on a colour scale, with the scale drawn as a legend. Two
//! sources: classic histogram series (`_bucket` with an `le` label, which
//! are cumulative, so each bucket's own count is its `le` minus the one
//! below), and plain series, whose values are counted into even buckets
//! per time column.

use std::collections::BTreeMap;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axes::time_ticks;
use super::canvas::Theme;
use super::data::{PanelData, SeriesData};
use super::options::field_options;
use super::render::{Rgb, format_value};
use super::timeseries::{Geometry, rgb, text_style};
use super::{Drawn, Panel};

/// Counts on a grid: `counts[column][bucket]`.
#[derive(Debug, Clone, PartialEq)]
pub struct HeatGrid {
    /// Column start times, ascending.
    pub times: Vec<i64>,
    /// Bucket labels, bottom to top.
    pub buckets: Vec<String>,
    pub counts: Vec<Vec<f64>>,
}

impl HeatGrid {
    pub fn max(&self) -> f64 {
        self.counts.iter().flatten().copied().filter(|v| v.is_finite()).fold(0.0, f64::max)
    }
}

/// The `le` bound of a bucket series: a number, or `+Inf`.
fn le_of(s: &SeriesData) -> Option<f64> {
    let le = s.labels.get("le")?;
    match le {
        "+Inf" | "Inf" | "inf" => Some(f64::INFINITY),
        other => other.parse().ok(),
    }
}

/// The grid of a classic histogram: series with the same `le` are summed
/// (as Grafana's heatmap format does), buckets sorted by bound, and each
/// timestamp's cumulative counts turned into per-bucket counts. `None`
/// unless every series has a readable `le`.
pub fn from_buckets(series: &[SeriesData], unit: &str) -> Option<HeatGrid> {
    if series.is_empty() {
        return None;
    }
    // Bound → timestamp → cumulative count. Bounds as ordered bits: all
    // parsed bounds are non-NaN.
    let mut by_le: BTreeMap<OrderedBound, BTreeMap<i64, f64>> = BTreeMap::new();
    for s in series {
        let le = le_of(s)?;
        let column = by_le.entry(OrderedBound(le)).or_default();
        for (t, v) in s.points.iter().filter(|p| p.1.is_finite()) {
            *column.entry(*t).or_default() += v;
        }
    }
    let mut times: Vec<i64> = by_le.values().flat_map(|c| c.keys().copied()).collect();
    times.sort_unstable();
    times.dedup();
    let bounds: Vec<f64> = by_le.keys().map(|b| b.0).collect();
    let counts = times
        .iter()
        .map(|t| {
            let mut below = 0.0;
            by_le
                .values()
                .map(|c| {
                    // A bucket missing at this time counts as the one below.
                    let cumulative = c.get(t).copied().unwrap_or(below);
                    let own = (cumulative - below).max(0.0);
                    below = cumulative.max(below);
                    own
                })
                .collect()
        })
        .collect();
    let buckets =
        bounds.iter().map(|b| if b.is_infinite() { "+Inf".to_owned() } else { format_value(*b, unit, None) }).collect();
    Some(HeatGrid { times, buckets, counts })
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct OrderedBound(f64);
impl Eq for OrderedBound {}
impl PartialOrd for OrderedBound {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for OrderedBound {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// The grid of plain series: per timestamp, how many series' values fall
/// in each of `rows` even buckets between the lowest and highest value.
pub fn from_values(series: &[SeriesData], rows: usize, unit: &str) -> HeatGrid {
    let rows = rows.max(1);
    let values = series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).filter(|v| v.is_finite());
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (lo, hi) = if lo.is_finite() { (lo, if hi > lo { hi } else { lo + 1.0 }) } else { (0.0, 1.0) };
    let size = (hi - lo) / rows as f64;
    let mut columns: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for s in series {
        for (t, v) in s.points.iter().filter(|p| p.1.is_finite()) {
            let row = (((v - lo) / size).floor() as usize).min(rows - 1);
            columns.entry(*t).or_insert_with(|| vec![0.0; rows])[row] += 1.0;
        }
    }
    HeatGrid {
        times: columns.keys().copied().collect(),
        buckets: (0..rows).map(|i| format_value(lo + size * i as f64, unit, None)).collect(),
        counts: columns.into_values().collect(),
    }
}

/// At most `columns` time columns over `[from, to]`: columns falling in the
/// same one of `columns` equal slices are summed (into the first's time),
/// so a long range costs pixels, not samples.
pub fn merge_columns(grid: HeatGrid, from: i64, to: i64, columns: usize) -> HeatGrid {
    if grid.times.len() <= columns || columns == 0 || to <= from {
        return grid;
    }
    let slice = |t: i64| ((t - from) as f64 / (to - from) as f64 * columns as f64).floor() as i64;
    let mut times: Vec<i64> = Vec::with_capacity(columns);
    let mut counts: Vec<Vec<f64>> = Vec::with_capacity(columns);
    let mut current = None;
    for (t, column) in grid.times.into_iter().zip(grid.counts) {
        let s = slice(t);
        match counts.last_mut() {
            Some(sum) if current == Some(s) => {
                for (a, b) in sum.iter_mut().zip(&column) {
                    *a += b;
                }
            }
            _ => {
                times.push(t);
                counts.push(column);
                current = Some(s);
            }
        }
    }
    HeatGrid { times, buckets: grid.buckets, counts }
}

/// The colour of a cell with `fraction` (0..=1) of the largest count:
/// Grafana's default "Oranges" scheme, from pale to deep.
pub fn scale_colour(fraction: f64) -> Rgb {
    const STOPS: [Rgb; 4] =
        [Rgb(0xfe, 0xe6, 0xce), Rgb(0xfd, 0xae, 0x6b), Rgb(0xe6, 0x55, 0x0d), Rgb(0x8c, 0x2d, 0x04)];
    let f = fraction.clamp(0.0, 1.0) * (STOPS.len() - 1) as f64;
    let i = (f.floor() as usize).min(STOPS.len() - 2);
    STOPS[i].mix(STOPS[i + 1], f - i as f64)
}

pub fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
    data: &PanelData,
    theme: &Theme,
    ratio: f64,
) -> Result<Drawn, String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let field = field_options(panel);
    let grid = from_buckets(&data.series, &field.unit).unwrap_or_else(|| from_values(&data.series, 12, &field.unit));
    area.fill(&rgb(theme.background)).map_err(err)?;
    let (width, height) = area.dim_in_pixel();
    let (width, height) = (f64::from(width), f64::from(height));
    let font = 11.0 * ratio;
    let label_chars = grid.buckets.iter().map(|b| b.chars().count()).max().unwrap_or(1) as f64;
    let g = Geometry {
        left: (label_chars * font * 0.62 + 10.0 * ratio).round(),
        right: (width - 10.0 * ratio).round(),
        top: (8.0 * ratio).round(),
        // Time labels, then the colour legend.
        bottom: (height - font * 3.2 - 12.0 * ratio).round(),
        from_ms: data.start_ms,
        to_ms: data.end_ms.max(data.start_ms + 1),
    };
    let grid = merge_columns(grid, g.from_ms, g.to_ms, ((g.right - g.left) / (2.0 * ratio)).max(1.0) as usize);
    if g.right - g.left < 4.0 || g.bottom - g.top < 4.0 || grid.buckets.is_empty() {
        area.present().map_err(err)?;
        return Ok(Drawn::default());
    }
    let px = |x: f64, y: f64| (x.round() as i32, y.round() as i32);
    let label_style = text_style(font, theme.muted, false);
    let rows = grid.buckets.len() as f64;
    let row_h = (g.bottom - g.top) / rows;
    // Bucket labels, thinned to one every ~2 label heights.
    let every = ((font * 2.0 / row_h).ceil() as usize).max(1);
    for (i, label) in grid.buckets.iter().enumerate().filter(|(i, _)| i % every == 0) {
        let y = g.bottom - row_h * (i as f64 + 0.5);
        area.draw(&Text::new(
            label.clone(),
            px(g.left - 6.0 * ratio, y),
            label_style.pos(Pos::new(HPos::Right, VPos::Center)),
        ))
        .map_err(err)?;
    }
    let max_ticks = ((g.right - g.left) / (90.0 * ratio)).floor().max(1.0) as usize;
    for (t, label) in time_ticks(g.from_ms, g.to_ms, max_ticks) {
        area.draw(&Text::new(
            label,
            px(g.x_of(t), g.bottom + 4.0 * ratio),
            label_style.pos(Pos::new(HPos::Center, VPos::Top)),
        ))
        .map_err(err)?;
    }
    // Column width: up to the next column; the last as wide as the one
    // before it.
    let max = grid.max();
    let mut drawn = Drawn { series: data.series.len(), points: 0 };
    for (c, t) in grid.times.iter().enumerate() {
        let next = grid
            .times
            .get(c + 1)
            .copied()
            .unwrap_or_else(|| t + (t - grid.times.get(c.wrapping_sub(1)).copied().unwrap_or(t - 1)));
        let (x0, x1) = (g.x_of(*t).max(g.left), g.x_of(next).min(g.right));
        if x1 <= x0 {
            continue;
        }
        for (b, count) in grid.counts[c].iter().enumerate() {
            if *count <= 0.0 || max <= 0.0 {
                continue;
            }
            let y1 = g.bottom - row_h * b as f64;
            let colour = scale_colour(count / max);
            area.draw(&Rectangle::new([px(x0, y1 - row_h), px(x1.max(x0 + 1.0), y1)], rgb(colour).filled()))
                .map_err(err)?;
            drawn.points += 1;
        }
    }
    // The colour legend: the scale from 0 to the largest count, right
    // aligned with the plot, its labels either side.
    let max_label = format_value(max, "short", None);
    let max_w = max_label.chars().count() as f64 * font * 0.62;
    let legend_y = height - font * 1.2 - 4.0 * ratio;
    let legend_w = (g.right - g.left - max_w - 8.0 * ratio).clamp(0.0, 200.0 * ratio);
    let legend_x = g.right - max_w - 4.0 * ratio - legend_w;
    let steps = 40;
    for k in 0..steps {
        let (f0, f1) = (k as f64 / steps as f64, (k + 1) as f64 / steps as f64);
        area.draw(&Rectangle::new(
            [px(legend_x + legend_w * f0, legend_y - font * 0.5), px(legend_x + legend_w * f1, legend_y + font * 0.5)],
            rgb(scale_colour(f0)).filled(),
        ))
        .map_err(err)?;
    }
    area.draw(&Text::new(
        "0".to_owned(),
        px(legend_x - 4.0 * ratio, legend_y),
        label_style.pos(Pos::new(HPos::Right, VPos::Center)),
    ))
    .map_err(err)?;
    area.draw(&Text::new(
        max_label,
        px(legend_x + legend_w + 4.0 * ratio, legend_y),
        label_style.pos(Pos::new(HPos::Left, VPos::Center)),
    ))
    .map_err(err)?;
    area.present().map_err(err)?;
    Ok(drawn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_shared::model::labels::Labels;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn bucket(le: &str, instance: &str, points: &[(i64, f64)]) -> SeriesData {
        SeriesData {
            ref_id: "A".into(),
            labels: Labels::from_pairs([("__name__", "h_bucket"), ("instance", instance), ("le", le)]),
            name: le.into(),
            points: points.to_vec(),
        }
    }

    #[wasm_bindgen_test]
    fn histogram_buckets_become_per_bucket_counts() {
        // Out of order on purpose; two instances summed per bound.
        let series = vec![
            bucket("+Inf", "a", &[(0, 10.0), (10, 20.0)]),
            bucket("0.5", "a", &[(0, 6.0), (10, 6.0)]),
            bucket("0.1", "a", &[(0, 2.0), (10, 5.0)]),
            bucket("0.1", "b", &[(0, 1.0), (10, 1.0)]),
            bucket("0.5", "b", &[(0, 1.0), (10, 1.0)]),
            bucket("+Inf", "b", &[(0, 1.0), (10, 1.0)]),
        ];
        let grid = from_buckets(&series, "s").expect("a histogram");
        assert_eq!(grid.times, vec![0, 10]);
        assert_eq!(grid.buckets, vec!["100 ms", "500 ms", "+Inf"]);
        // t=0: cumulative 3, 7, 11 → 3, 4, 4. t=10: 6, 7, 21 → 6, 1, 14.
        assert_eq!(grid.counts, vec![vec![3.0, 4.0, 4.0], vec![6.0, 1.0, 14.0]]);
        assert_eq!(grid.max(), 14.0);

        // A series without `le` is not a histogram.
        let mut plain = series.clone();
        plain.push(SeriesData { labels: Labels::from_pairs([("job", "x")]), ..series[0].clone() });
        assert_eq!(from_buckets(&plain, ""), None);
        assert_eq!(from_buckets(&[], ""), None);
    }

    #[wasm_bindgen_test]
    fn plain_series_are_counted_per_time_column() {
        let s = |points: &[(i64, f64)]| SeriesData {
            ref_id: "A".into(),
            labels: Labels::default(),
            name: String::new(),
            points: points.to_vec(),
        };
        let series = vec![s(&[(0, 0.0), (10, 10.0)]), s(&[(0, 4.0), (10, 9.0)]), s(&[(0, f64::NAN), (10, 2.0)])];
        let grid = from_values(&series, 2, "");
        assert_eq!(grid.times, vec![0, 10]);
        assert_eq!(grid.buckets, vec!["0", "5"]);
        assert_eq!(grid.counts, vec![vec![2.0, 0.0], vec![1.0, 2.0]]);
    }

    #[wasm_bindgen_test]
    fn many_columns_merge_into_pixel_slices() {
        let grid = HeatGrid {
            times: (0..100).collect(),
            buckets: vec!["a".into(), "b".into()],
            counts: (0..100).map(|i| vec![1.0, f64::from(i % 2)]).collect(),
        };
        let merged = merge_columns(grid.clone(), 0, 100, 10);
        assert_eq!(merged.times, (0..10).map(|i| i * 10).collect::<Vec<_>>());
        assert!(merged.counts.iter().all(|c| c == &vec![10.0, 5.0]), "{:?}", merged.counts);
        // Few enough columns: unchanged.
        assert_eq!(merge_columns(grid.clone(), 0, 100, 100), grid);
    }

    #[wasm_bindgen_test]
    fn colour_scale_runs_pale_to_deep() {
        assert_eq!(scale_colour(0.0), Rgb(0xfe, 0xe6, 0xce));
        assert_eq!(scale_colour(1.0), Rgb(0x8c, 0x2d, 0x04));
        assert_eq!(scale_colour(7.0), scale_colour(1.0), "clamped");
        let l = |c: Rgb| u32::from(c.0) + u32::from(c.1) + u32::from(c.2);
        assert!(l(scale_colour(0.3)) > l(scale_colour(0.6)), "darker as counts grow");
    }
}
