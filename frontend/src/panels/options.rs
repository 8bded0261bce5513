//! Reading a panel's `options` and `fieldConfig` JSON into the typed
//! settings the renderers draw with. Dashboards come from Grafana exports
//! and hand edits, so every field is optional and a wrong type falls back
//! to Grafana's default instead of failing the panel. The typed parts come
//! from `vigil_shared::dashboard::model`; plugin-specific ones (`custom`,
//! `graphMode`, …) are read from its `extra` maps here.

use serde_json::Value;

use vigil_shared::dashboard::model::{FieldDefaults, Thresholds};
use vigil_shared::dashboard::overrides::{FieldIdentity, Overrides, display_name};

use super::Panel;
use super::data::PanelData;
use super::render::{Rgb, default_thresholds, parse_colour};

/// Field settings shared by every panel type (`fieldConfig.defaults`).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldOptions {
    pub unit: String,
    pub decimals: Option<u32>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// The dashboard's steps, or Grafana's default (green, red from 80).
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
    /// `showPoints: auto`: points where they are sparse enough to tell apart.
    pub points_auto: bool,
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

/// A value inside `fieldConfig.defaults.custom` by key path.
fn custom<'a>(panel: &'a Panel, keys: &[&str]) -> Option<&'a Value> {
    let (first, rest) = keys.split_first()?;
    let mut v = panel.field_config.defaults.custom.get(*first)?;
    for k in rest {
        v = v.get(*k)?;
    }
    (!v.is_null()).then_some(v)
}

/// A number, also when written as a string (as Grafana's JSON often does).
fn num(v: Option<&Value>) -> Option<f64> {
    v.and_then(|v| v.as_f64().or_else(|| v.as_str()?.trim().parse().ok()))
}

pub fn field_options(panel: &Panel) -> FieldOptions {
    field_options_from(&panel.field_config.defaults)
}

/// [`FieldOptions`] from a field config: the panel's defaults, or one
/// series' config after its overrides.
pub fn field_options_from(d: &FieldDefaults) -> FieldOptions {
    let thresholds = d.thresholds.clone().filter(|t| !t.steps.is_empty()).unwrap_or_else(default_thresholds);
    let colour_mode = d.color.as_ref().map_or("palette-classic", |c| c.mode.as_str());
    FieldOptions {
        unit: d.unit.clone().unwrap_or_default(),
        decimals: d.decimals.map(|v| v.min(12)),
        min: d.min,
        max: d.max,
        thresholds,
        fixed_colour: if colour_mode == "fixed" {
            d.color.as_ref().and_then(|c| c.fixed_color.as_deref()).and_then(parse_colour)
        } else {
            None
        },
        colour_by_thresholds: colour_mode == "thresholds",
    }
}

pub fn legend_options(panel: &Panel) -> LegendOptions {
    match &panel.options.legend {
        Some(l) => LegendOptions {
            show: l.show_legend && l.display_mode != "hidden",
            table: l.display_mode == "table",
            right: l.placement == "right",
            calcs: l.calcs.clone(),
        },
        None => LegendOptions { show: true, table: false, right: false, calcs: Vec::new() },
    }
}

pub fn graph_style(panel: &Panel) -> GraphStyle {
    let text = |keys: &[&str], default: &'static str| -> String {
        custom(panel, keys).and_then(Value::as_str).unwrap_or(default).to_owned()
    };
    let draw_style = text(&["drawStyle"], "line");
    let show_points = text(&["showPoints"], "auto");
    let thresholds_mode = text(&["thresholdsStyle", "mode"], "off");
    GraphStyle {
        line_width: num(custom(panel, &["lineWidth"])).unwrap_or(1.0).clamp(0.0, 10.0),
        fill_opacity: num(custom(panel, &["fillOpacity"])).unwrap_or(0.0).clamp(0.0, 100.0),
        stacking: match text(&["stacking", "mode"], "none").as_str() {
            "normal" => Stacking::Normal,
            "percent" => Stacking::Percent,
            _ => Stacking::None,
        },
        points: draw_style == "points" || show_points == "always",
        points_auto: show_points == "auto",
        lines: draw_style == "line",
        bars: draw_style == "bars",
        point_size: num(custom(panel, &["pointSize"])).unwrap_or(5.0).clamp(1.0, 40.0),
        threshold_lines: matches!(thresholds_mode.as_str(), "line" | "line+area" | "dashed" | "dashed+area"),
        threshold_areas: matches!(thresholds_mode.as_str(), "area" | "line+area" | "dashed+area"),
    }
}

/// One series' own settings once the panel's `fieldConfig.overrides` are
/// applied: what Grafana lets an override change per series and Vigil
/// draws (colour, unit, decimals, thresholds, the negative-Y transform that
/// puts "transmit" below "receive", and hiding from legend, tooltip or
/// graph).
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesField {
    pub field: FieldOptions,
    pub negative_y: bool,
    pub hide_legend: bool,
    pub hide_tooltip: bool,
    pub hide_viz: bool,
}

/// The panel's data with its overrides applied: each series renamed by a
/// `displayName` override, with its own [`SeriesField`]. Values stay as
/// they are: negative-Y only flips the drawing, as in Grafana, whose legend
/// and tooltip show the series' real values. Series no override matches share the
/// panel's defaults.
pub fn with_overrides(panel: &Panel, data: PanelData) -> (PanelData, Vec<SeriesField>) {
    let defaults = &panel.field_config.defaults;
    let overrides = Overrides::new(&panel.field_config);
    let base = series_field(defaults);
    if overrides.is_empty() && !has_display_name(defaults) {
        let fields = vec![base; data.series.len()];
        return (data, fields);
    }
    let PanelData { series, start_ms, end_ms } = data;
    let mut fields = Vec::with_capacity(series.len());
    let series = series
        .into_iter()
        .map(|mut s| {
            let own = overrides.for_field(defaults, FieldIdentity { display_name: &s.name, ref_id: &s.ref_id });
            let config = own.as_ref().unwrap_or(defaults);
            if let Some(template) = config.extra.get("displayName").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                let labels: Vec<(String, String)> =
                    s.labels.iter().map(|l| (l.name.clone(), l.value.clone())).collect();
                s.name = display_name(template, &s.name, &labels);
            }
            fields.push(if own.is_some() { series_field(config) } else { base.clone() });
            s
        })
        .collect();
    (PanelData { series, start_ms, end_ms }, fields)
}

fn has_display_name(d: &FieldDefaults) -> bool {
    d.extra.get("displayName").and_then(Value::as_str).is_some_and(|t| !t.is_empty())
}

fn series_field(d: &FieldDefaults) -> SeriesField {
    let hide = |key: &str| d.custom.get("hideFrom").and_then(|h| h.get(key)).and_then(Value::as_bool).unwrap_or(false);
    SeriesField {
        field: field_options_from(d),
        negative_y: d.custom.get("transform").and_then(Value::as_str) == Some("negative-Y"),
        hide_legend: hide("legend"),
        hide_tooltip: hide("tooltip"),
        hide_viz: hide("viz"),
    }
}

/// The field of series `i`, or the panel's when the lists disagree.
pub fn field_at<'a>(fields: &'a [SeriesField], i: usize, fallback: &'a FieldOptions) -> &'a FieldOptions {
    fields.get(i).map_or(fallback, |f| &f.field)
}

/// The reduce calc of stat, gauge and bar gauge panels
/// (`options.reduceOptions.calcs[0]`, Grafana's default `lastNotNull`).
pub fn reduce_calc(panel: &Panel) -> String {
    panel
        .options
        .reduce_options
        .as_ref()
        .and_then(|r| r.calcs.first().cloned())
        .unwrap_or_else(|| "lastNotNull".to_owned())
}

/// A plugin-specific string option (`options.<name>`), or `default`.
pub fn option_str<'a>(panel: &'a Panel, name: &str, default: &'a str) -> &'a str {
    panel.options.extra.get(name).and_then(Value::as_str).unwrap_or(default)
}

/// A plugin-specific boolean option (`options.<name>`), or `default`.
pub fn option_bool(panel: &Panel, name: &str, default: bool) -> bool {
    panel.options.extra.get(name).and_then(Value::as_bool).unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn panel(options: Value, field_config: Value) -> Panel {
        serde_json::from_value(json!({"type": "timeseries", "options": options, "fieldConfig": field_config}))
            .expect("a panel")
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
        assert_eq!(f.thresholds.mode, vigil_shared::dashboard::model::ThresholdsMode::Percentage);
        assert_eq!(f.thresholds.steps.len(), 2);
        let l = legend_options(&p);
        assert!(l.show && l.table && l.right);
        assert_eq!(l.calcs, vec!["lastNotNull", "max"]);
        let g = graph_style(&p);
        assert_eq!((g.fill_opacity, g.stacking, g.points), (30.0, Stacking::Percent, true));
        assert!(g.threshold_lines && g.threshold_areas);

        // Wrong types and missing fields fall back to Grafana's defaults.
        let p =
            panel(json!({}), json!({"defaults": {"custom": {"fillOpacity": "x", "stacking": 3}, "thresholds": {}}}));
        let f = field_options(&p);
        assert_eq!((f.unit.as_str(), f.decimals, f.fixed_colour), ("", None, None));
        assert_eq!(f.thresholds, default_thresholds());
        assert_eq!(graph_style(&p).fill_opacity, 0.0);
        assert!(legend_options(&p).show);
        assert_eq!(graph_style(&p).stacking, Stacking::None);
        assert_eq!(reduce_calc(&p), "lastNotNull");
    }

    #[wasm_bindgen_test]
    fn overrides_rename_and_style_single_series() {
        use super::super::data::SeriesData;
        use vigil_shared::model::labels::Labels;
        let p = panel(
            json!({}),
            json!({"defaults": {"unit": "bps"}, "overrides": [
                {"matcher": {"id": "byRegexp", "options": "/transmit/"}, "properties": [
                    {"id": "custom.transform", "value": "negative-Y"},
                    {"id": "unit", "value": "bytes"},
                    {"id": "displayName", "value": "TX ${__field.labels.device}"},
                    {"id": "custom.hideFrom", "value": {"legend": true, "tooltip": false, "viz": false}},
                ]},
            ]}),
        );
        let series = |name: &str| SeriesData {
            ref_id: "A".into(),
            labels: Labels::from_pairs([("device", "eth0")]),
            name: name.into(),
            points: vec![(0, 2.0)],
        };
        let data = PanelData { series: vec![series("eth0 receive"), series("eth0 transmit")], start_ms: 0, end_ms: 1 };
        let (data, fields) = with_overrides(&p, data);
        let names: Vec<&str> = data.series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["eth0 receive", "TX eth0"]);
        assert_eq!(data.series[1].points, vec![(0, 2.0)], "values are kept; only drawing flips");
        assert_eq!((fields[0].field.unit.as_str(), fields[0].negative_y, fields[0].hide_legend), ("bps", false, false));
        assert_eq!((fields[1].field.unit.as_str(), fields[1].negative_y, fields[1].hide_legend), ("bytes", true, true));
    }
}
