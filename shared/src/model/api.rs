//! The JSON shapes of the Prometheus HTTP API (`/api/v1/...`).
//!
//! The server serialises these and the dashboard app deserialises them, so
//! both ends share one definition and existing Prometheus clients (promtool,
//! Grafana, scripts) read Vigil's answers unchanged.

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeTuple, Serializer};
use serde::{Deserialize, Serialize};
use std::fmt;

use super::Labels;

/// The envelope of every API answer: `{"status":"success","data":…}` or
/// `{"status":"error","errorType":…,"error":…}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum ApiResponse<T> {
    Success {
        data: T,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        warnings: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        infos: Vec<String>,
    },
    Error {
        #[serde(rename = "errorType")]
        error_type: ErrorType,
        error: String,
    },
}

impl<T> ApiResponse<T> {
    pub fn success(data: T) -> Self {
        ApiResponse::Success { data, warnings: Vec::new(), infos: Vec::new() }
    }

    /// A success carrying PromQL's annotations.
    pub fn annotated(data: T, warnings: Vec<String>, infos: Vec<String>) -> Self {
        ApiResponse::Success { data, warnings, infos }
    }

    pub fn error(error_type: ErrorType, error: impl Into<String>) -> Self {
        ApiResponse::Error { error_type, error: error.into() }
    }
}

/// Prometheus's `errorType` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    Timeout,
    Canceled,
    Execution,
    BadData,
    Internal,
    Unavailable,
    NotFound,
}

/// The `data` of `/api/v1/query` and `/api/v1/query_range`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
pub enum QueryData {
    Vector(Vec<InstantSeries>),
    Matrix(Vec<RangeSeries>),
    Scalar(SamplePoint),
    String(StringPoint),
}

/// One element of an instant vector: `{"metric":{…},"value":[t,"v"]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstantSeries {
    pub metric: Labels,
    pub value: SamplePoint,
}

/// One series of a range vector: `{"metric":{…},"values":[[t,"v"],…]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RangeSeries {
    pub metric: Labels,
    pub values: Vec<SamplePoint>,
}

/// A float sample, written as Prometheus does: `[seconds, "value"]`, with the
/// value as a string so that `NaN` and `±Inf` survive JSON.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplePoint {
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    pub value: f64,
}

/// A string result: `[seconds, "text"]`.
#[derive(Debug, Clone, PartialEq)]
pub struct StringPoint {
    pub timestamp_ms: i64,
    pub value: String,
}

/// Formats a float as Prometheus's API does (Go's `FormatFloat(v, 'f', -1, 64)`):
/// shortest round-trip digits, never an exponent, and `NaN`, `+Inf`, `-Inf`.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v == f64::INFINITY {
        "+Inf".to_owned()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        // Rust's Display for f64 is shortest-round-trip without exponent.
        format!("{v}")
    }
}

/// Parses a sample value as Prometheus writes it (also accepting `Inf`).
pub fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

fn serialize_timestamp<S: SerializeTuple>(tuple: &mut S, timestamp_ms: i64) -> Result<(), S::Error> {
    // Whole seconds are written as integers, as Prometheus does.
    if timestamp_ms % 1000 == 0 {
        tuple.serialize_element(&(timestamp_ms / 1000))
    } else {
        tuple.serialize_element(&(timestamp_ms as f64 / 1000.0))
    }
}

impl Serialize for SamplePoint {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut tuple = serializer.serialize_tuple(2)?;
        serialize_timestamp(&mut tuple, self.timestamp_ms)?;
        tuple.serialize_element(&format_value(self.value))?;
        tuple.end()
    }
}

impl Serialize for StringPoint {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut tuple = serializer.serialize_tuple(2)?;
        serialize_timestamp(&mut tuple, self.timestamp_ms)?;
        tuple.serialize_element(&self.value)?;
        tuple.end()
    }
}

/// Reads `[seconds, "text"]` and hands the pair to `build`.
struct PointVisitor<T>(fn(i64, String) -> Result<T, String>);

impl<'de, T> Visitor<'de> for PointVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a [timestamp, \"value\"] pair")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<T, A::Error> {
        let seconds: f64 = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let text: String = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(1, &self))?;
        if seq.next_element::<de::IgnoredAny>()?.is_some() {
            return Err(de::Error::invalid_length(3, &self));
        }
        let timestamp_ms = (seconds * 1000.0).round() as i64;
        (self.0)(timestamp_ms, text).map_err(de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for SamplePoint {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(PointVisitor(|timestamp_ms, text| {
            let value = parse_value(&text).ok_or_else(|| format!("invalid sample value {text:?}"))?;
            Ok(SamplePoint { timestamp_ms, value })
        }))
    }
}

impl<'de> Deserialize<'de> for StringPoint {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(PointVisitor(|timestamp_ms, value| Ok(StringPoint { timestamp_ms, value })))
    }
}

/// The `data` of `/api/v1/targets`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetsData {
    pub active_targets: Vec<ActiveTarget>,
    pub dropped_targets: Vec<DroppedTarget>,
    /// Dropped targets per scrape pool, including those not listed.
    #[serde(default)]
    pub dropped_target_counts: std::collections::BTreeMap<String, usize>,
}

/// A target being scraped, as `/api/v1/targets` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveTarget {
    pub discovered_labels: Labels,
    pub labels: Labels,
    pub scrape_pool: String,
    pub scrape_url: String,
    pub global_url: String,
    pub last_error: String,
    /// RFC 3339; `0001-01-01T00:00:00Z` before the first scrape.
    pub last_scrape: String,
    pub last_scrape_duration: f64,
    /// `up`, `down` or `unknown`.
    pub health: String,
    pub scrape_interval: String,
    pub scrape_timeout: String,
}

/// A discovered target that relabeling dropped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DroppedTarget {
    pub discovered_labels: Labels,
    #[serde(default)]
    pub scrape_pool: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_value_matches_go() {
        let cases = [
            (1.0, "1"),
            (0.1, "0.1"),
            (1e21, "1000000000000000000000"),
            (1e-7, "0.0000001"),
            (-2.5, "-2.5"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ];
        for (v, want) in cases {
            assert_eq!(format_value(v), want);
            let back = parse_value(want).unwrap();
            assert!(back == v || (back.is_nan() && v.is_nan()), "{want}");
        }
    }

    #[test]
    fn vector_response_has_prometheus_shape() {
        let response = ApiResponse::success(QueryData::Vector(vec![InstantSeries {
            metric: Labels::from_pairs([("__name__", "up"), ("job", "vigil")]),
            value: SamplePoint { timestamp_ms: 1_435_781_451_781, value: 1.0 },
        }]));
        let json = serde_json::to_string(&response).unwrap();
        assert_eq!(
            json,
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"vigil"},"value":[1435781451.781,"1"]}]}}"#
        );
        let back: ApiResponse<QueryData> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, response);
    }

    #[test]
    fn matrix_and_error_round_trip() {
        let matrix: ApiResponse<QueryData> = ApiResponse::success(QueryData::Matrix(vec![RangeSeries {
            metric: Labels::from_pairs([("__name__", "x")]),
            values: vec![
                SamplePoint { timestamp_ms: 1000, value: 1.5 },
                SamplePoint { timestamp_ms: 2000, value: f64::INFINITY },
            ],
        }]));
        let json = serde_json::to_string(&matrix).unwrap();
        assert!(json.contains(r#""values":[[1,"1.5"],[2,"+Inf"]]"#), "{json}");
        assert_eq!(serde_json::from_str::<ApiResponse<QueryData>>(&json).unwrap(), matrix);

        let error: ApiResponse<QueryData> = ApiResponse::error(ErrorType::BadData, "parse error");
        let json = serde_json::to_string(&error).unwrap();
        assert_eq!(json, r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#);
        assert_eq!(serde_json::from_str::<ApiResponse<QueryData>>(&json).unwrap(), error);
    }

    #[test]
    fn bad_points_are_errors_not_panics() {
        for bad in [r#"[1]"#, r#"[1,"x"]"#, r#"[1,"2",3]"#, r#""1""#, r#"["a","1"]"#] {
            assert!(serde_json::from_str::<SamplePoint>(bad).is_err(), "{bad}");
        }
    }
}
