//! The dashboard JSON: a Grafana-compatible subset with serde, the import
//! normalisation that turns old Grafana dashboards into the current shape,
//! and the limits that keep hostile input from exhausting the browser.
//!
//! Why a subset with `extra` maps rather than a full schema: Grafana's
//! dashboard JSON has hundreds of fields across dozens of panel plugins. The
//! app needs a few of them typed; the rest must survive import → edit →
//! export untouched, so [`Dashboard`], [`Panel`], [`Target`], [`Variable`] and
//! the option structs keep what they do not model in a flattened `extra` map.
//!
//! Leniency follows Grafana's: numbers written as strings (`"min": "0"`,
//! `"decimals": "2"`), `datasource` as a name or a `{type, uid}` object,
//! `refresh: false`, `null` for absent strings and lists, a variable `query`
//! as a string or `{query, refId}`. Strictness is where the app would break:
//! `gridPos` must hold integers, lists must be lists, sizes are capped.
//!
//! [`Dashboard::from_json`] also normalises (Grafana's `DashboardMigrator`,
//! `public/app/features/dashboard/state/DashboardMigrator.ts`):
//! - pre-schema-16 `rows: [{panels, height, collapse, title}]` become flat
//!   panels with `gridPos` (span × 2 columns, heights in 38 px grid cells,
//!   Grafana's `RowArea` packing), and `row` panels when any row is
//!   collapsed, titled or repeated;
//! - `graph` becomes `timeseries` (draw style, line width, fill, points,
//!   stacking, y-axis unit/min/max/decimals, legend and tooltip options);
//! - `singlestat` becomes `stat`, or `gauge` when its gauge was shown
//!   (format → unit, `"a,b"` thresholds + colours → steps, sparkline →
//!   graph mode, `valueName` → reduce calculation);
//! - panels without a `gridPos` are laid out below the others, 12×8 each.
//!
//! Unknown panel types are kept as they are: the app draws a placeholder.
//! Titles and text-panel content are kept verbatim (`<script>` included):
//! escaping is the renderer's job, and Leptos text nodes never interpret it.

use serde::de::{self, DeserializeOwned, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::fmt;
use std::marker::PhantomData;

/// The largest dashboard JSON accepted, in bytes. Grafana's biggest public
/// dashboards (Node Exporter Full) are under 1 MiB.
pub const MAX_DASHBOARD_BYTES: usize = 8 * 1024 * 1024;
/// The most panels a dashboard may hold, counting those inside rows.
pub const MAX_PANELS: usize = 1000;
/// The most queries one panel may hold.
pub const MAX_TARGETS_PER_PANEL: usize = 64;
/// The most template variables a dashboard may hold.
pub const MAX_VARIABLES: usize = 200;
/// The deepest JSON nesting (objects and arrays) accepted. Real dashboards
/// stay near 12; the cap keeps recursive descent well inside wasm's 1 MiB
/// stack.
pub const MAX_JSON_DEPTH: usize = 64;
/// Columns of Grafana's grid.
pub const GRID_COLUMNS: u32 = 24;
/// Pixel height of one grid row (Grafana's `GRID_CELL_HEIGHT`).
pub const GRID_CELL_HEIGHT: u32 = 30;
/// Vertical margin between grid rows (Grafana's `GRID_CELL_VMARGIN`).
pub const GRID_CELL_VMARGIN: u32 = 8;

/// Why a dashboard JSON was refused. `path` is the JSON path of the culprit
/// (`panels[3].gridPos.w`), `.` for the whole document.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DashboardError {
    #[error("dashboard JSON is {size} bytes, more than the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("dashboard JSON nests deeper than {limit} levels at byte {offset}")]
    TooDeep { offset: usize, limit: usize },
    #[error("{path}: {message} (line {line}, column {column})")]
    Json { path: String, message: String, line: usize, column: usize },
    #[error("{path}: {what} exceed the limit of {limit}")]
    Limit { path: String, what: &'static str, limit: usize },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

/// A dashboard: what Grafana calls the dashboard model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dashboard {
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient::opt_i64")]
    pub id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient::opt_string")]
    pub uid: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub title: String,
    #[serde(default, deserialize_with = "lenient::string_list")]
    pub tags: Vec<String>,
    #[serde(default, deserialize_with = "lenient::null_default")]
    pub time: TimeRange,
    /// Auto-refresh interval (`"30s"`); Grafana writes `false` or `""` for none.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient::refresh")]
    pub refresh: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient::opt_string")]
    pub timezone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient::opt_u32")]
    pub schema_version: Option<u32>,
    #[serde(default, deserialize_with = "lenient::null_default")]
    pub templating: Templating,
    #[serde(default, deserialize_with = "bounded::<MAX_PANELS, _, _>")]
    pub panels: Vec<Panel>,
    /// Pre-schema-16 layout; emptied by [`Dashboard::from_json`].
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "bounded::<MAX_PANELS, _, _>")]
    pub rows: Vec<LegacyRow>,
    /// Everything this model does not type (annotations, links, version…).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The dashboard's time range as Grafana writes it: expressions such as
/// `now-6h` or absolute times, resolved by [`super::time`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeRange {
    #[serde(deserialize_with = "lenient::time_string")]
    pub from: String,
    #[serde(deserialize_with = "lenient::time_string")]
    pub to: String,
}

impl Default for TimeRange {
    fn default() -> Self {
        TimeRange { from: "now-6h".into(), to: "now".into() }
    }
}

/// `templating.list`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Templating {
    #[serde(default, deserialize_with = "bounded::<MAX_VARIABLES, _, _>")]
    pub list: Vec<Variable>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A panel's place on the 24-column grid, in grid units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GridPos {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

/// One panel. Rows are panels too (`type: "row"`); a collapsed row holds its
/// panels in `panels`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Panel {
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient::opt_i64")]
    pub id: Option<i64>,
    /// The plugin id: `timeseries`, `stat`, `row`… kept verbatim when unknown.
    #[serde(rename = "type", default, deserialize_with = "lenient::string")]
    pub kind: String,
    #[serde(default, deserialize_with = "lenient::string")]
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient::opt_string")]
    pub description: Option<String>,
    /// Absent in old dashboards; [`Dashboard::from_json`] always sets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grid_pos: Option<GridPos>,
    /// A name (old) or `{type, uid}` (new); kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datasource: Option<Value>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "bounded::<MAX_TARGETS_PER_PANEL, _, _>"
    )]
    pub targets: Vec<Target>,
    #[serde(default, skip_serializing_if = "FieldConfig::is_empty", deserialize_with = "lenient::null_default")]
    pub field_config: FieldConfig,
    #[serde(default, skip_serializing_if = "PanelOptions::is_empty", deserialize_with = "lenient::null_default")]
    pub options: PanelOptions,
    /// Minimum step for the panel's queries (`"30s"`, `"$__interval"`).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient::opt_string")]
    pub interval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient::opt_u32")]
    pub max_data_points: Option<u32>,
    /// Rows only: whether the row is folded (its panels are then in `panels`).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient::opt_bool")]
    pub collapsed: Option<bool>,
    /// Rows only: the panels of a collapsed row.
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "bounded::<MAX_PANELS, _, _>")]
    pub panels: Vec<Panel>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The panel types the app draws; anything else gets a placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PanelKind {
    TimeSeries,
    Stat,
    Gauge,
    BarGauge,
    Table,
    Text,
    Row,
    /// A plugin this app does not draw; the panel renders a placeholder.
    Unknown,
}

impl Panel {
    /// The panel type as the app knows it.
    pub fn panel_kind(&self) -> PanelKind {
        match self.kind.as_str() {
            "timeseries" | "graph" => PanelKind::TimeSeries,
            "stat" | "singlestat" => PanelKind::Stat,
            "gauge" => PanelKind::Gauge,
            "bargauge" => PanelKind::BarGauge,
            "table" | "table-old" => PanelKind::Table,
            "text" => PanelKind::Text,
            "row" => PanelKind::Row,
            _ => PanelKind::Unknown,
        }
    }

    /// The position, or a zero-sized one at the origin when none was set.
    pub fn grid(&self) -> GridPos {
        self.grid_pos.unwrap_or_default()
    }

    /// A text panel's content (`options.content`, or the old top-level
    /// `content`), verbatim: the renderer escapes it.
    pub fn text_content(&self) -> Option<&str> {
        self.options.extra.get("content").or_else(|| self.extra.get("content")).and_then(Value::as_str)
    }
}

/// One query of a panel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    #[serde(default, deserialize_with = "lenient::string")]
    pub ref_id: String,
    #[serde(default, deserialize_with = "lenient::string")]
    pub expr: String,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient::opt_string")]
    pub legend_format: Option<String>,
    /// Evaluate once at the end of the range (`/api/v1/query`); see
    /// [`Target::is_instant`].
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient::opt_bool")]
    pub instant: Option<bool>,
    /// Evaluate over the range; Grafana defaults it to true unless `instant`.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient::opt_bool")]
    pub range: Option<bool>,
    /// Minimum step of this query, overriding the panel's.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient::opt_string")]
    pub interval: Option<String>,
    /// Old Grafana's resolution divisor (1/N of the pixel-derived step).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient::opt_u32")]
    pub interval_factor: Option<u32>,
    /// Hidden queries are not run; see [`Target::is_hidden`].
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient::opt_bool")]
    pub hide: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datasource: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Target {
    /// Whether the query runs over the range (the default) — Grafana runs
    /// both when `range` and `instant` are both set.
    pub fn is_range(&self) -> bool {
        self.range.unwrap_or(!self.is_instant())
    }

    /// Whether the query is evaluated once at the end of the range.
    pub fn is_instant(&self) -> bool {
        self.instant.unwrap_or(false)
    }

    /// Whether the query is switched off.
    pub fn is_hidden(&self) -> bool {
        self.hide.unwrap_or(false)
    }
}

/// `fieldConfig`: defaults for every field, and overrides (kept opaque).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FieldConfig {
    #[serde(default, deserialize_with = "lenient::null_default")]
    pub defaults: FieldDefaults,
    #[serde(default, deserialize_with = "lenient::list")]
    pub overrides: Vec<Value>,
}

impl FieldConfig {
    fn is_empty(&self) -> bool {
        *self == FieldConfig::default()
    }
}

/// `fieldConfig.defaults`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldDefaults {
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient::opt_string")]
    pub unit: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_f64",
        serialize_with = "number"
    )]
    pub min: Option<f64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_f64",
        serialize_with = "number"
    )]
    pub max: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient::opt_u32")]
    pub decimals: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<Thresholds>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<FieldColor>,
    /// Plugin-specific settings (`lineWidth`, `fillOpacity`, `drawStyle`…).
    #[serde(default, skip_serializing_if = "Map::is_empty", deserialize_with = "lenient::null_default")]
    pub custom: Map<String, Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Threshold steps: the first has no value (it stands for −∞).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    #[serde(default, deserialize_with = "lenient::null_default")]
    pub mode: ThresholdsMode,
    #[serde(default, deserialize_with = "lenient::list")]
    pub steps: Vec<ThresholdStep>,
}

/// Whether step values are absolute or percentages of min…max.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThresholdsMode {
    #[default]
    Absolute,
    Percentage,
}

/// One threshold: values at or above `value` take `color`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdStep {
    #[serde(default, deserialize_with = "lenient::string")]
    pub color: String,
    /// `None` is the base step (−∞).
    #[serde(default, deserialize_with = "lenient::opt_f64", serialize_with = "number")]
    pub value: Option<f64>,
}

/// `fieldConfig.defaults.color`: `palette-classic`, `fixed`, `thresholds`…
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldColor {
    #[serde(default, deserialize_with = "lenient::string")]
    pub mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient::opt_string")]
    pub fixed_color: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `options`: the typed parts every drawn panel uses; plugin-specific ones
/// (`graphMode`, `content`…) stay in `extra`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PanelOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legend: Option<LegendOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tooltip: Option<TooltipOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reduce_options: Option<ReduceOptions>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl PanelOptions {
    fn is_empty(&self) -> bool {
        *self == PanelOptions::default()
    }
}

/// `options.legend`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LegendOptions {
    #[serde(default = "yes", deserialize_with = "lenient::bool_true")]
    pub show_legend: bool,
    /// `list`, `table` or `hidden`.
    #[serde(default = "list_mode", deserialize_with = "lenient::string")]
    pub display_mode: String,
    /// `bottom` or `right`.
    #[serde(default = "bottom", deserialize_with = "lenient::string")]
    pub placement: String,
    /// Reductions shown beside each series (`mean`, `max`…).
    #[serde(default, deserialize_with = "lenient::string_list")]
    pub calcs: Vec<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn yes() -> bool {
    true
}
fn list_mode() -> String {
    "list".into()
}
fn bottom() -> String {
    "bottom".into()
}

/// `options.tooltip`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TooltipOptions {
    /// `single`, `multi` or `none`.
    #[serde(default = "single", deserialize_with = "lenient::string")]
    pub mode: String,
    /// `none`, `asc` or `desc`.
    #[serde(default = "none", deserialize_with = "lenient::string")]
    pub sort: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn single() -> String {
    "single".into()
}
fn none() -> String {
    "none".into()
}

/// `options.reduceOptions`: how stat-like panels reduce a series to a value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReduceOptions {
    /// Grafana's calculation ids: `lastNotNull`, `mean`, `max`…
    #[serde(default, deserialize_with = "lenient::string_list")]
    pub calcs: Vec<String>,
    /// Show every value rather than one reduction per series.
    #[serde(default, deserialize_with = "lenient::bool")]
    pub values: bool,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient::opt_string")]
    pub fields: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient::opt_u32")]
    pub limit: Option<u32>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A template variable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Variable {
    #[serde(rename = "type", default)]
    pub kind: VariableKind,
    #[serde(default, deserialize_with = "lenient::string")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient::opt_string")]
    pub label: Option<String>,
    /// The query (query variables), the values (custom: `a,b` or
    /// `key : value`), the intervals (interval: `1m,5m`), the value
    /// (constant, textbox). Grafana's `{query, refId}` object form is read
    /// into its `query` string.
    #[serde(default, deserialize_with = "lenient::variable_query")]
    pub query: String,
    /// Filter for query results: `/re/flags`, empty for none.
    #[serde(default, deserialize_with = "lenient::string")]
    pub regex: String,
    #[serde(default, deserialize_with = "lenient::bool")]
    pub multi: bool,
    #[serde(default, deserialize_with = "lenient::bool")]
    pub include_all: bool,
    /// What "All" stands for; `None` means every option joined.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient::opt_string")]
    pub all_value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<VariableCurrent>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "lenient::list")]
    pub options: Vec<VariableOption>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datasource: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Variable {
    fn extra_u8(&self, key: &str) -> u8 {
        self.extra.get(key).and_then(Value::as_u64).map_or(0, |n| n.min(255) as u8)
    }

    /// Grafana's `sort` (0 none … 8 natural descending), for
    /// [`super::variables::options_from_values`].
    pub fn sort(&self) -> u8 {
        self.extra_u8("sort")
    }

    /// Grafana's `hide`: 0 shown, 1 label hidden, 2 variable hidden.
    pub fn hide(&self) -> u8 {
        self.extra_u8("hide")
    }

    /// Grafana's `refresh` for query variables: 0 never (use the saved
    /// options), 1 on dashboard load, 2 on time range change.
    pub fn refresh(&self) -> u8 {
        self.extra_u8("refresh")
    }
}

/// The variable types; unknown ones (`datasource`, `adhoc`…) are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum VariableKind {
    #[default]
    Query,
    Custom,
    Interval,
    Constant,
    Textbox,
    Other(String),
}

impl From<String> for VariableKind {
    fn from(s: String) -> Self {
        match s.as_str() {
            "query" => VariableKind::Query,
            "custom" => VariableKind::Custom,
            "interval" => VariableKind::Interval,
            "constant" => VariableKind::Constant,
            "textbox" => VariableKind::Textbox,
            _ => VariableKind::Other(s),
        }
    }
}

impl From<VariableKind> for String {
    fn from(k: VariableKind) -> String {
        match k {
            VariableKind::Query => "query".into(),
            VariableKind::Custom => "custom".into(),
            VariableKind::Interval => "interval".into(),
            VariableKind::Constant => "constant".into(),
            VariableKind::Textbox => "textbox".into(),
            VariableKind::Other(s) => s,
        }
    }
}

/// The selected value(s) of a variable.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VariableCurrent {
    #[serde(default, deserialize_with = "lenient::one_or_many")]
    pub text: Vec<String>,
    #[serde(default, deserialize_with = "lenient::one_or_many")]
    pub value: Vec<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One option of a variable.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VariableOption {
    #[serde(default, deserialize_with = "lenient::string")]
    pub text: String,
    #[serde(default, deserialize_with = "lenient::string")]
    pub value: String,
    #[serde(default, deserialize_with = "lenient::bool")]
    pub selected: bool,
}

/// A row of the pre-schema-16 layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacyRow {
    #[serde(default, deserialize_with = "lenient::string")]
    pub title: String,
    #[serde(default, deserialize_with = "lenient::bool")]
    pub collapse: bool,
    #[serde(default, deserialize_with = "lenient::bool")]
    pub show_title: bool,
    /// `"250px"` or `250`; absent means 250.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient::opt_string")]
    pub repeat: Option<String>,
    #[serde(default, deserialize_with = "bounded::<MAX_PANELS, _, _>")]
    pub panels: Vec<Panel>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Dashboard {
    /// Parses, checks limits and normalises a dashboard JSON (see the module
    /// doc). Errors name the JSON path.
    pub fn from_json(input: &str) -> Result<Dashboard, DashboardError> {
        if input.len() > MAX_DASHBOARD_BYTES {
            return Err(DashboardError::TooLarge { size: input.len(), limit: MAX_DASHBOARD_BYTES });
        }
        check_depth(input.as_bytes(), MAX_JSON_DEPTH)?;
        let mut de = serde_json::Deserializer::from_str(input);
        let mut dash: Dashboard = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            DashboardError::Json {
                path,
                message: strip_position(&inner.to_string()),
                line: inner.line(),
                column: inner.column(),
            }
        })?;
        de.end().map_err(|e| DashboardError::Json {
            path: ".".into(),
            message: strip_position(&e.to_string()),
            line: e.line(),
            column: e.column(),
        })?;
        dash.normalize()?;
        Ok(dash)
    }

    /// The dashboard as Grafana-compatible JSON.
    pub fn to_json(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The dashboard as indented JSON, for export.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Every panel in layout order, rows' nested panels after their row.
    pub fn all_panels(&self) -> impl Iterator<Item = &Panel> {
        self.panels.iter().flat_map(|p| std::iter::once(p).chain(p.panels.iter()))
    }

    /// Brings an imported dashboard to the current shape and checks what
    /// serde cannot: total panel count and nesting of rows.
    pub fn normalize(&mut self) -> Result<(), DashboardError> {
        if !self.rows.is_empty() {
            let rows = std::mem::take(&mut self.rows);
            upgrade_rows(self, rows);
        }
        let total: usize = self.panels.iter().map(|p| 1 + p.panels.len()).sum();
        if total > MAX_PANELS {
            return Err(DashboardError::Limit {
                path: "panels".into(),
                what: "panels (rows included)",
                limit: MAX_PANELS,
            });
        }
        for (i, panel) in self.panels.iter().enumerate() {
            for (j, inner) in panel.panels.iter().enumerate() {
                if !inner.panels.is_empty() {
                    return Err(DashboardError::Invalid {
                        path: format!("panels[{i}].panels[{j}].panels"),
                        message: "only rows at the top level may hold panels".into(),
                    });
                }
            }
        }
        for panel in &mut self.panels {
            migrate_panel(panel);
            for inner in &mut panel.panels {
                migrate_panel(inner);
            }
        }
        place_unplaced(&mut self.panels);
        for panel in &mut self.panels {
            place_unplaced(&mut panel.panels);
        }
        compact(&mut self.panels);
        Ok(())
    }
}

/// serde_json appends " at line L column C"; the error carries them apart.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// Refuses JSON nested deeper than `limit` before serde recurses into it.
pub(crate) fn check_depth(bytes: &[u8], limit: usize) -> Result<(), DashboardError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (offset, &b) in bytes.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > limit {
                    return Err(DashboardError::TooDeep { offset, limit });
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Deserialises a list, refusing more than `N` elements as they stream in
/// (so 100 000 panels are refused without being built).
fn bounded<'de, const N: usize, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    struct Bounded<const N: usize, T>(PhantomData<T>);
    impl<'de, const N: usize, T: DeserializeOwned> Visitor<'de> for Bounded<N, T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "a list of at most {N} entries")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(N).min(64));
            while let Some(item) = seq.next_element()? {
                if out.len() == N {
                    return Err(de::Error::custom(format_args!("more than {N} entries (the limit)")));
                }
                out.push(item);
            }
            Ok(out)
        }
    }
    d.deserialize_any(Bounded::<N, T>(PhantomData))
}

/// Writes whole numbers without a fraction (`0`, not `0.0`), as JavaScript
/// does, so an imported dashboard exports as it was written. Non-finite
/// values, which JSON cannot hold, become `null`.
fn number<S: serde::Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match *v {
        Some(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15 => s.serialize_i64(f as i64),
        Some(f) if f.is_finite() => s.serialize_f64(f),
        _ => s.serialize_none(),
    }
}

/// Deserialisers for the places Grafana's JSON is loose.
mod lenient {
    use super::*;

    /// A type's default for `null`.
    pub fn null_default<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(d: D) -> Result<T, D::Error> {
        Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
    }

    pub fn list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
        null_default(d)
    }

    pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        Ok(opt_string(d)?.unwrap_or_default())
    }

    /// A string; numbers and booleans are taken as their text, `null` as none.
    pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s)),
            Value::Number(n) => Ok(Some(n.to_string())),
            Value::Bool(b) => Ok(Some(b.to_string())),
            other => Err(de::Error::custom(format_args!("expected a string, found {}", kind(&other)))),
        }
    }

    /// Time range ends: strings, or epoch milliseconds as numbers.
    pub fn time_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        match opt_string(d)? {
            Some(s) => Ok(s),
            None => Err(de::Error::custom("expected a time such as \"now-6h\", found null")),
        }
    }

    pub fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(Vec::new()),
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .filter(|(_, v)| !v.is_null())
                .map(|(i, v)| match v {
                    Value::String(s) => Ok(s),
                    Value::Number(n) => Ok(n.to_string()),
                    other => Err(de::Error::custom(format_args!("[{i}]: expected a string, found {}", kind(&other)))),
                })
                .collect(),
            other => Err(de::Error::custom(format_args!("expected a list of strings, found {}", kind(&other)))),
        }
    }

    /// `"a"` or `["a", "b"]` (a variable's current value).
    pub fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(Vec::new()),
            Value::String(s) => Ok(vec![s]),
            Value::Number(n) => Ok(vec![n.to_string()]),
            Value::Bool(b) => Ok(vec![b.to_string()]),
            v @ Value::Array(_) => string_list(v).map_err(de::Error::custom),
            other => Err(de::Error::custom(format_args!("expected a string or a list, found {}", kind(&other)))),
        }
    }

    pub fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(None),
            Value::Number(n) => Ok(n.as_f64()),
            Value::String(s) if s.trim().is_empty() => Ok(None),
            Value::String(s) => s
                .trim()
                .parse::<f64>()
                .map(Some)
                .map_err(|_| de::Error::custom(format_args!("expected a number, found the string {s:?}"))),
            other => Err(de::Error::custom(format_args!("expected a number, found {}", kind(&other)))),
        }
    }

    pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        match opt_f64(d)? {
            None => Ok(None),
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(f as i64)),
            Some(f) => Err(de::Error::custom(format_args!("expected an integer, found {f}"))),
        }
    }

    pub fn opt_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        match opt_f64(d)? {
            None => Ok(None),
            Some(f) if f.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(&f) => Ok(Some(f as u32)),
            Some(f) => Err(de::Error::custom(format_args!("expected a non-negative integer, found {f}"))),
        }
    }

    pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(None),
            Value::Bool(b) => Ok(Some(b)),
            Value::String(s) if s == "true" => Ok(Some(true)),
            Value::String(s) if s == "false" || s.is_empty() => Ok(Some(false)),
            Value::Number(n) => Ok(Some(n.as_f64().is_some_and(|f| f != 0.0))),
            other => Err(de::Error::custom(format_args!("expected true or false, found {}", kind(&other)))),
        }
    }

    pub fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        Ok(opt_bool(d)?.unwrap_or(false))
    }

    pub fn bool_true<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        Ok(opt_bool(d)?.unwrap_or(true))
    }

    /// `"30s"`, or `false`/`""` for no auto-refresh.
    pub fn refresh<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null | Value::Bool(_) => Ok(None),
            Value::String(s) if s.is_empty() => Ok(None),
            Value::String(s) => Ok(Some(s)),
            other => {
                Err(de::Error::custom(format_args!("expected an interval such as \"30s\", found {}", kind(&other))))
            }
        }
    }

    /// A string, or Grafana's `{query: "...", refId}` object form.
    pub fn variable_query<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(String::new()),
            Value::String(s) => Ok(s),
            Value::Number(n) => Ok(n.to_string()),
            Value::Object(m) => match m.get("query") {
                Some(Value::String(s)) => Ok(s.clone()),
                None | Some(Value::Null) => Ok(String::new()),
                Some(other) => {
                    Err(de::Error::custom(format_args!("query.query: expected a string, found {}", kind(other))))
                }
            },
            other => Err(de::Error::custom(format_args!("expected a query string, found {}", kind(&other)))),
        }
    }

    pub fn kind(v: &Value) -> &'static str {
        match v {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "a list",
            Value::Object(_) => "an object",
        }
    }
}

// ---------------------------------------------------------------------------
// Import normalisation.

/// Grafana's `DEFAULT_ROW_HEIGHT`, in pixels.
const DEFAULT_ROW_HEIGHT: u32 = 250;
/// Grafana's `MIN_PANEL_HEIGHT`: three grid cells.
const MIN_PANEL_HEIGHT: u32 = GRID_CELL_HEIGHT * 3;
/// Grafana's `DEFAULT_PANEL_SPAN` (of 12).
const DEFAULT_PANEL_SPAN: f64 = 4.0;

/// Pixels (`250`, `"250px"`) to grid rows, as Grafana's `getGridHeight`.
fn grid_height(height: Option<&Value>) -> u32 {
    let px = match height {
        Some(Value::Number(n)) => n.as_f64().map(|f| f.max(0.0) as u32),
        Some(Value::String(s)) => {
            // parseInt: leading digits, the rest ignored.
            let digits: String = s.trim().chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<u32>().ok()
        }
        _ => None,
    }
    .filter(|&h| h > 0)
    .unwrap_or(DEFAULT_ROW_HEIGHT);
    px.max(MIN_PANEL_HEIGHT).div_ceil(GRID_CELL_HEIGHT + GRID_CELL_VMARGIN)
}

/// Grafana's `RowArea`: the height used in each column of the row being
/// filled, to pack panels left to right and wrap when full.
struct RowArea {
    area: Vec<u32>,
    y_pos: u32,
    height: u32,
}

impl RowArea {
    fn new(height: u32, y_pos: u32) -> Self {
        RowArea { area: vec![0; GRID_COLUMNS as usize], y_pos, height }
    }

    fn add_panel(&mut self, pos: GridPos) {
        let bottom = pos.y + pos.h - self.y_pos;
        for i in pos.x..(pos.x + pos.w).min(GRID_COLUMNS) {
            let cell = &mut self.area[i as usize];
            if *cell == 0 || bottom > *cell {
                *cell = bottom;
            }
        }
    }

    /// The free place for a panel of `width` columns, scanning free columns
    /// from the right as Grafana does; wraps to a fresh row once.
    fn position(&mut self, width: u32, call_once: bool) -> Option<(u32, u32)> {
        let mut start = None;
        let mut end = None;
        for i in (0..self.area.len()).rev() {
            if self.height > self.area[i] {
                if end.is_none() {
                    end = Some(i);
                } else if i < self.area.len() - 1 && self.area[i] <= self.area[i + 1] {
                    start = Some(i);
                } else {
                    break;
                }
            } else {
                break;
            }
        }
        match (start, end) {
            (Some(s), Some(e)) if e - s + 1 >= width as usize => {
                let y = self.area[s..].iter().copied().max().unwrap_or(0);
                Some((s as u32, y))
            }
            _ if !call_once => {
                self.y_pos += self.height;
                self.area.iter_mut().for_each(|c| *c = 0);
                self.position(width, true)
            }
            _ => None,
        }
    }
}

/// Grafana's `upgradeToGridLayout` (schema 16).
fn upgrade_rows(dash: &mut Dashboard, rows: Vec<LegacyRow>) {
    let max_id = rows.iter().flat_map(|r| r.panels.iter()).filter_map(|p| p.id).max().unwrap_or(0);
    let mut next_row_id = max_id + 1;
    let show_rows = rows.iter().any(|r| r.collapse || r.show_title || r.repeat.is_some());
    let mut y_pos = dash.panels.iter().map(|p| p.grid().y + p.grid().h).max().unwrap_or(0);
    for row in rows {
        if row.extra.get("repeatIteration").is_some_and(|v| !v.is_null()) {
            continue;
        }
        let row_height = grid_height(row.height.as_ref());
        let mut row_panel = show_rows.then(|| Panel {
            id: Some(next_row_id),
            kind: "row".into(),
            title: row.title.clone(),
            description: None,
            grid_pos: Some(GridPos { x: 0, y: y_pos, w: GRID_COLUMNS, h: 1 }),
            datasource: None,
            targets: Vec::new(),
            field_config: FieldConfig::default(),
            options: PanelOptions::default(),
            interval: None,
            max_data_points: None,
            collapsed: Some(row.collapse),
            panels: Vec::new(),
            extra: row.repeat.iter().map(|r| ("repeat".to_string(), Value::String(r.clone()))).collect(),
        });
        if row_panel.is_some() {
            next_row_id += 1;
            y_pos += 1;
        }
        let first_of_row = dash.panels.len();
        let mut area = RowArea::new(row_height, y_pos);
        for mut panel in row.panels {
            let span = panel
                .extra
                .remove("span")
                .and_then(|v| lenient_f64(&v))
                .filter(|s| *s > 0.0)
                .unwrap_or(DEFAULT_PANEL_SPAN);
            let width = ((span.floor() as u32) * (GRID_COLUMNS / 12)).clamp(1, GRID_COLUMNS);
            let height = match panel.extra.remove("height") {
                Some(h) if !h.is_null() => grid_height(Some(&h)),
                _ => row_height,
            };
            let (x, y) = area.position(width, false).unwrap_or((0, 0));
            y_pos = area.y_pos;
            let pos = GridPos { x, y: y_pos + y, w: width, h: height };
            area.add_panel(pos);
            panel.grid_pos = Some(pos);
            match &mut row_panel {
                Some(rp) if row.collapse => rp.panels.push(panel),
                _ => dash.panels.push(panel),
            }
        }
        let collapsed = row_panel.is_some() && row.collapse;
        if let Some(rp) = row_panel {
            // Grafana pushes the row after its panels, then sorts panels by
            // position; putting it before them gives that order directly.
            if collapsed {
                dash.panels.push(rp);
            } else {
                dash.panels.insert(first_of_row, rp);
            }
        }
        if !collapsed {
            y_pos += row_height;
        }
    }
}

fn lenient_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Panels without a position go below everything else, two per line;
/// positions off the grid are pulled onto it.
fn place_unplaced(panels: &mut [Panel]) {
    for g in panels.iter_mut().filter_map(|p| p.grid_pos.as_mut()) {
        g.x = g.x.min(GRID_COLUMNS - 1);
        g.w = g.w.clamp(1, GRID_COLUMNS - g.x);
        g.h = g.h.max(1);
    }
    let mut y = panels.iter().filter_map(|p| p.grid_pos).map(|g| g.y.saturating_add(g.h)).max().unwrap_or(0);
    let mut x = 0;
    for panel in panels.iter_mut().filter(|p| p.grid_pos.is_none()) {
        let (w, h) = if panel.kind == "row" { (GRID_COLUMNS, 1) } else { (12, 8) };
        if x + w > GRID_COLUMNS {
            x = 0;
            y += 8;
        }
        panel.grid_pos = Some(GridPos { x, y, w, h });
        x += w;
        if x >= GRID_COLUMNS {
            x = 0;
            y += h;
        }
    }
}

/// Grafana's grid (react-grid-layout with vertical compaction) floats every
/// panel up until it touches one above it and never lets two overlap. Old
/// layouts rely on that (a tall panel in a short row overlaps the next row
/// on paper), so the positions are compacted once here and the app can draw
/// them as they are. Panels are then in reading order (y, then x), as
/// Grafana sorts them. Already compact layouts are unchanged.
pub(crate) fn compact(panels: &mut [Panel]) {
    panels.sort_by_key(|p| (p.grid().y, p.grid().x));
    let mut placed: Vec<GridPos> = Vec::with_capacity(panels.len());
    for panel in panels.iter_mut() {
        let mut g = panel.grid();
        // Placed panels come earlier in reading order, so this one rests
        // just below the lowest of those it shares columns with: floated up
        // as far as it goes, or pushed down out of an overlap.
        g.y = placed.iter().filter(|p| p.x < g.x + g.w && g.x < p.x + p.w).map(|p| p.y + p.h).max().unwrap_or(0);
        panel.grid_pos = Some(g);
        placed.push(g);
    }
    // Reading order again, so that a second import changes nothing.
    panels.sort_by_key(|p| (p.grid().y, p.grid().x));
}

/// Old panel types to their replacements.
fn migrate_panel(panel: &mut Panel) {
    match panel.kind.as_str() {
        "graph" => migrate_graph(panel),
        "singlestat" | "grafana-singlestat-panel" => migrate_singlestat(panel),
        _ => {}
    }
}

fn take(panel: &mut Panel, key: &str) -> Value {
    panel.extra.remove(key).unwrap_or(Value::Null)
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty() && s != "false",
        _ => false,
    }
}

/// Grafana's `graphPanelChangedHandler` (timeseries/migrations.ts), the
/// parts this app draws.
fn migrate_graph(panel: &mut Panel) {
    panel.kind = "timeseries".into();
    let lines = panel.extra.get("lines").map(truthy).unwrap_or(true);
    let bars = panel.extra.get("bars").is_some_and(truthy);
    let points = panel.extra.get("points").is_some_and(truthy);
    let custom = &mut panel.field_config.defaults.custom;
    let draw = if bars {
        "bars"
    } else if !lines && points {
        "points"
    } else {
        "line"
    };
    custom.insert("drawStyle".into(), json!(draw));
    if let Some(w) = panel.extra.get("linewidth").and_then(lenient_f64) {
        custom.insert("lineWidth".into(), json!(w));
    }
    if let Some(f) = panel.extra.get("fill").and_then(lenient_f64) {
        custom.insert("fillOpacity".into(), json!(f * 10.0));
    }
    custom.insert("showPoints".into(), json!(if points { "always" } else { "never" }));
    if let Some(r) = panel.extra.get("pointradius").and_then(lenient_f64) {
        custom.insert("pointSize".into(), json!(2.0 * r + 1.0));
    }
    if panel.extra.get("steppedLine").is_some_and(truthy) {
        custom.insert("lineInterpolation".into(), json!("stepAfter"));
    }
    if panel.extra.get("stack").is_some_and(truthy) {
        let mode = if panel.extra.get("percentage").is_some_and(truthy) { "percent" } else { "normal" };
        custom.insert("stacking".into(), json!({"mode": mode, "group": "A"}));
    }
    if panel.extra.get("nullPointMode").and_then(Value::as_str) == Some("connected") {
        custom.insert("spanNulls".into(), json!(true));
    }
    for key in [
        "lines",
        "bars",
        "points",
        "linewidth",
        "fill",
        "pointradius",
        "steppedLine",
        "stack",
        "percentage",
        "nullPointMode",
    ] {
        panel.extra.remove(key);
    }

    // The left y axis carries unit, min, max and decimals.
    let yaxes = take(panel, "yaxes");
    if let Some(left) = yaxes.as_array().and_then(|a| a.first()) {
        let defaults = &mut panel.field_config.defaults;
        if defaults.unit.is_none() {
            defaults.unit = left.get("format").and_then(Value::as_str).map(str::to_string);
        }
        defaults.min = defaults.min.or_else(|| left.get("min").and_then(lenient_f64));
        defaults.max = defaults.max.or_else(|| left.get("max").and_then(lenient_f64));
        defaults.decimals = defaults.decimals.or_else(|| left.get("decimals").and_then(lenient_f64).map(|d| d as u32));
    }
    if let Some(d) = panel.extra.remove("decimals").as_ref().and_then(lenient_f64) {
        panel.field_config.defaults.decimals.get_or_insert(d as u32);
    }
    if panel.field_config.defaults.color.is_none() {
        panel.field_config.defaults.color =
            Some(FieldColor { mode: "palette-classic".into(), fixed_color: None, extra: Map::new() });
    }

    let legend = take(panel, "legend");
    if legend.is_object() && panel.options.legend.is_none() {
        let calcs = [("avg", "mean"), ("min", "min"), ("max", "max"), ("current", "lastNotNull"), ("total", "sum")]
            .iter()
            .filter(|(old, _)| legend.get(old).is_some_and(truthy))
            .map(|(_, new)| new.to_string())
            .collect();
        panel.options.legend = Some(LegendOptions {
            show_legend: legend.get("show").map(truthy).unwrap_or(true),
            display_mode: if legend.get("alignAsTable").is_some_and(truthy) { "table" } else { "list" }.into(),
            placement: if legend.get("rightSide").is_some_and(truthy) { "right" } else { "bottom" }.into(),
            calcs,
            extra: Map::new(),
        });
    }
    let tooltip = take(panel, "tooltip");
    if tooltip.is_object() && panel.options.tooltip.is_none() {
        let sort = match tooltip.get("sort").and_then(lenient_f64) {
            Some(1.0) => "asc",
            Some(2.0) => "desc",
            _ => "none",
        };
        panel.options.tooltip = Some(TooltipOptions {
            mode: if tooltip.get("shared").is_some_and(truthy) { "multi" } else { "single" }.into(),
            sort: sort.into(),
            extra: Map::new(),
        });
    }
}

/// Grafana's classic threshold colours (`red`, `orange`, `green` as rgba),
/// used when a singlestat names fewer colours than steps.
const SINGLESTAT_COLORS: [&str; 3] = ["rgba(245, 54, 54, 0.9)", "rgba(237, 129, 40, 0.89)", "rgba(50, 172, 45, 0.97)"];

/// Grafana's singlestat → stat migration (`sharedSingleStatMigrationHandler`
/// and `DashboardMigrator`'s `migrateSinglestat`).
fn migrate_singlestat(panel: &mut Panel) {
    let gauge = take(panel, "gauge");
    let is_gauge = gauge.get("show").is_some_and(truthy);
    panel.kind = if is_gauge { "gauge" } else { "stat" }.into();

    let value_name = take(panel, "valueName");
    let calc = match value_name.as_str().unwrap_or("current") {
        "avg" => "mean",
        "total" => "sum",
        "min" => "min",
        "max" => "max",
        "first" => "first",
        "delta" => "delta",
        "range" => "range",
        "diff" => "diff",
        _ => "lastNotNull",
    };
    panel.options.reduce_options = Some(ReduceOptions {
        calcs: vec![calc.into()],
        values: false,
        fields: Some(String::new()),
        limit: None,
        extra: Map::new(),
    });
    let sparkline = take(panel, "sparkline");
    let graph_mode = if sparkline.get("show").is_some_and(truthy) { "area" } else { "none" };
    panel.options.extra.insert("graphMode".into(), json!(graph_mode));
    panel.options.extra.insert("colorMode".into(), json!("value"));
    panel.options.extra.insert("justifyMode".into(), json!("auto"));
    panel.options.extra.insert("textMode".into(), json!("auto"));

    let defaults = &mut panel.field_config.defaults;
    if let Some(Value::String(f)) = panel.extra.remove("format") {
        defaults.unit.get_or_insert(f);
    }
    if let Some(d) = panel.extra.remove("decimals").as_ref().and_then(lenient_f64) {
        defaults.decimals.get_or_insert(d as u32);
    }
    if is_gauge {
        defaults.min = defaults.min.or_else(|| gauge.get("minValue").and_then(lenient_f64));
        defaults.max = defaults.max.or_else(|| gauge.get("maxValue").and_then(lenient_f64));
    }
    let colors: Vec<String> = match panel.extra.remove("colors") {
        Some(Value::Array(c)) => c.into_iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    };
    let thresholds = match panel.extra.remove("thresholds") {
        Some(Value::String(s)) => s,
        _ => String::new(),
    };
    let values: Vec<&str> = thresholds.split(',').map(str::trim).collect();
    if values.iter().any(|v| !v.is_empty()) && defaults.thresholds.is_none() {
        let color = |i: usize| {
            colors.get(i).cloned().unwrap_or_else(|| SINGLESTAT_COLORS[i % SINGLESTAT_COLORS.len()].to_string())
        };
        let mut steps = vec![ThresholdStep { color: color(0), value: None }];
        for (i, v) in values.iter().enumerate() {
            // `_.toNumber("")` is 0 in Grafana; an unparsable one is skipped.
            let value = if v.is_empty() { Some(0.0) } else { v.parse::<f64>().ok() };
            if let Some(value) = value {
                steps.push(ThresholdStep { color: color(i + 1), value: Some(value) });
            }
        }
        defaults.thresholds = Some(Thresholds { mode: ThresholdsMode::Absolute, steps });
        defaults.color = Some(FieldColor { mode: "thresholds".into(), fixed_color: None, extra: Map::new() });
    }
}

#[cfg(test)]
mod tests;
