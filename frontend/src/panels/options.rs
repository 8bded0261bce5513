//! Reading a panel's `options` and `fieldConfig` JSON into the typed
//! settings the renderers draw with. Dashboards come from Grafana exports
//! and hand edits, so every field is optional and a wrong type falls back
//! to Grafana's default instead of failing the panel.

use serde_json::Value;

use super::Panel;
use super::standin::{Rgb, ThresholdStep, Thresholds, parse_colour};

/// Field settings shared by every panel type (`fieldConfig.defaults`).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldOptions {
    pub unit: String,
    pub decimals: Option<u32>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub thresholds: Thresholds,
    /// `color.mode: fixed` with `color.fixedColor`: one colour for every
    /// series instead of the palette.
    pub fixed_colour: Option<Rgb>,
    /// `color.mode: thresholds`: series take their threshold colour.
    pub colour_by_thresholds: bool,
}

/// Legend settings (`options.legend`).
#[derive(Debug, Clone, PartialEq)]
pub struct LegendOptions {
    pub show: bool,
    /// `table` shows calcs as columns; `list` inline.
    pub table: bool,
    /// `right` puts the legend beside the graph; otherwise under it.
    pub right: bool,
    pub calcs: Vec<String>,
}

/// How a time-series graph draws (`fieldConfig.defaults.custom`).
#[derive(Debug, Clone, PartialEq)]
pub struct GraphStyle {
    pub line_width: f64,
    /// 0..=100.
    pub fill_opacity: f64,
    pub stacking: Stacking,
    pub points: bool,
    pub lines: bool,
    pub bars: bool,
    pub point_size: f64,
    pub threshold_lines: bool,
    pub threshold_areas: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stacking {
    None,
    Normal,
    Percent,
}

fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    v.pointer(path).filter(|v| !v.is_null())
}

fn num(v: &Value, path: &str) -> Option<f64> {
    at(v, path).and_then(|v| v.as_f64().or_else(|| v.as_str()?.trim().parse().ok()))
}

fn text<'a>(v: &'a Value, path: &str) -> Option<&'a str> {
    at(v, path).and_then(Value::as_str)
}

pub fn field_options(panel: &Panel) -> FieldOptions {
    let d = &panel.field_config;
    let thresholds = at(d, "/defaults/thresholds")
        .map(|t| {
            let steps: Vec<ThresholdStep> = t
                .get("steps")
                .and_then(Value::as_array)
                .map(|steps| {
                    steps
                        .iter()
                        .filter_map(|s| {
                            let colour = parse_colour(s.get("color")?.as_str()?)?;
                            let value = s.get("value").and_then(Value::as_f64).unwrap_or(f64::NEG_INFINITY);
                            Some(ThresholdStep { value, colour })
                        })
                        .collect()
                })
                .unwrap_or_default();
            Thresholds { percentage: t.get("mode").and_then(Value::as_str) == Some("percentage"), steps }
        })
        .filter(|t| !t.steps.is_empty())
        .unwrap_or_default();
    let colour_mode = text(d, "/defaults/color/mode").unwrap_or("palette-classic");
    FieldOptions {
        unit: text(d, "/defaults/unit").unwrap_or("").to_owned(),
        decimals: num(d, "/defaults/decimals").filter(|v| *v >= 0.0).map(|v| v.min(12.0) as u32),
        min: num(d, "/defaults/min"),
        max: num(d, "/defaults/max"),
        thresholds,
        fixed_colour: if colour_mode == "fixed" {
            text(d, "/defaults/color/fixedColor").and_then(parse_colour)
        } else {
            None
        },
        colour_by_thresholds: colour_mode == "thresholds",
    }
}

pub fn legend_options(panel: &Panel) -> LegendOptions {
    let o = &panel.options;
    let mode = text(o, "/legend/displayMode").unwrap_or("list");
    LegendOptions {
        show: mode != "hidden" && at(o, "/legend/showLegend").and_then(Value::as_bool).unwrap_or(true),
        table: mode == "table",
        right: text(o, "/legend/placement") == Some("right"),
        calcs: strings(o, "/legend/calcs"),
    }
}

fn strings(v: &Value, path: &str) -> Vec<String> {
    at(v, path)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

pub fn graph_style(panel: &Panel) -> GraphStyle {
    let d = &panel.field_config;
    let draw_style = text(d, "/defaults/custom/drawStyle").unwrap_or("line");
    let show_points = text(d, "/defaults/custom/showPoints").unwrap_or("auto");
    let thresholds_mode = text(d, "/defaults/custom/thresholdsStyle/mode").unwrap_or("off");
    GraphStyle {
        line_width: num(d, "/defaults/custom/lineWidth").unwrap_or(1.0).clamp(0.0, 10.0),
        fill_opacity: num(d, "/defaults/custom/fillOpacity").unwrap_or(0.0).clamp(0.0, 100.0),
        stacking: match text(d, "/defaults/custom/stacking/mode") {
            Some("normal") => Stacking::Normal,
            Some("percent") => Stacking::Percent,
            _ => Stacking::None,
        },
        points: draw_style == "points" || show_points == "always",
        lines: draw_style == "line",
        bars: draw_style == "bars",
        point_size: num(d, "/defaults/custom/pointSize").unwrap_or(5.0).clamp(1.0, 40.0),
        threshold_lines: matches!(thresholds_mode, "line" | "line+area" | "dashed" | "dashed+area"),
        threshold_areas: matches!(thresholds_mode, "area" | "line+area" | "dashed+area"),
    }
}

/// The reduce calc of stat, gauge and bar gauge panels
/// (`options.reduceOptions.calcs[0]`, Grafana's default `lastNotNull`).
pub fn reduce_calc(panel: &Panel) -> String {
    strings(&panel.options, "/reduceOptions/calcs").into_iter().next().unwrap_or_else(|| "lastNotNull".to_owned())
}

/// A string option (`options.<name>`), or `default`.
pub fn option_str<'a>(panel: &'a Panel, name: &str, default: &'a str) -> &'a str {
    panel.options.get(name).and_then(Value::as_str).unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn panel(options: Value, field_config: Value) -> Panel {
        Panel { panel_type: "timeseries".into(), options, field_config, ..Panel::default() }
    }

    #[wasm_bindgen_test]
    fn reads_grafana_json_and_defaults() {
        let p = panel(
            json!({"legend": {"displayMode": "table", "placement": "right", "calcs": ["lastNotNull", "max"]}}),
            json!({"defaults": {
                "unit": "bytes", "decimals": 2, "min": "0", "max": 100,
                "color": {"mode": "fixed", "fixedColor": "red"},
                "thresholds": {"mode": "percentage", "steps": [{"color": "green", "value": null}, {"color": "#ff0000", "value": 90}]},
                "custom": {"fillOpacity": 30, "stacking": {"mode": "percent"}, "showPoints": "always", "thresholdsStyle": {"mode": "line+area"}}
            }}),
        );
        let f = field_options(&p);
        assert_eq!((f.unit.as_str(), f.decimals, f.min, f.max), ("bytes", Some(2), Some(0.0), Some(100.0)));
        assert_eq!(f.fixed_colour, Some(Rgb(0xf2, 0x49, 0x5c)));
        assert!(f.thresholds.percentage);
        assert_eq!(f.thresholds.steps.len(), 2);
        let l = legend_options(&p);
        assert!(l.show && l.table && l.right);
        assert_eq!(l.calcs, vec!["lastNotNull", "max"]);
        let g = graph_style(&p);
        assert_eq!((g.fill_opacity, g.stacking, g.points), (30.0, Stacking::Percent, true));
        assert!(g.threshold_lines && g.threshold_areas);

        // Wrong types and missing fields fall back to Grafana's defaults.
        let p =
            panel(json!({"legend": "nonsense"}), json!({"defaults": {"unit": 5, "decimals": -1, "thresholds": {}}}));
        let f = field_options(&p);
        assert_eq!((f.unit.as_str(), f.decimals), ("", None));
        assert_eq!(f.thresholds, Thresholds::default());
        assert!(legend_options(&p).show);
        assert_eq!(graph_style(&p).stacking, Stacking::None);
        assert_eq!(reduce_calc(&p), "lastNotNull");
    }
}
