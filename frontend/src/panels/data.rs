//! What a panel is given to draw: the contract between data fetching (the
//! dashboard page, which queries the API and interpolates variables) and
//! the panel renderers (which only draw). Renderers never fetch; fetchers
//! never draw.

use vigil_shared::model::labels::Labels;

/// One series of a panel's result, from one of its targets.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesData {
    /// The target (`refId`) the series came from.
    pub ref_id: String,
    pub labels: Labels,
    /// The legend text, `legendFormat` already applied.
    pub name: String,
    /// Points in time order: milliseconds since the epoch, value. An instant
    /// query gives one point.
    pub points: Vec<(i64, f64)>,
}

/// Everything a panel's results hold.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PanelData {
    pub series: Vec<SeriesData>,
    /// The time window the data was asked for, in milliseconds, so a graph
    /// spans the whole range even where data is missing.
    pub start_ms: i64,
    pub end_ms: i64,
}

/// Where a panel is: the panel root carries it as `data-state`
/// (`loading`, `drawn`, `error`), with `data-series` and `data-points`
/// counting what was drawn, so tests can tell a drawn panel from a page
/// that merely loaded.
#[derive(Debug, Clone, PartialEq)]
pub enum PanelState {
    Loading,
    Ready(PanelData),
    Error(String),
}
