//! Share links that carry a whole dashboard: its JSON, the time range and
//! the variable values, compressed into the URL fragment so that no server
//! stores it and none logs it (browsers never send the fragment).
//!
//! The route is `/share`, the link `<origin>/share#v1.<payload>`:
//! - `v1.` names the format, so later versions can be told apart;
//! - `<payload>` is base64url without padding (RFC 4648 §5) of
//!   `declared length (u32, little-endian) ‖ zlib(envelope JSON)`;
//! - the envelope is `{"dashboard": {…}, "time": {"from", "to"},
//!   "vars": [{"name", "values": […]}, …]}`.
//!
//! zlib (RFC 1950) wraps the deflate stream with an Adler-32 checksum of the
//! JSON, so a corrupted link is detected; the declared length tells a
//! truncated link from a corrupted one and lets the decoder refuse an
//! oversize link before inflating anything. Inflation stops at the declared
//! length and at [`MAX_SHARE_JSON_BYTES`] whatever the header says, so a
//! zip bomb costs at most that much memory. The dashboard then goes through
//! [`Dashboard::from_json`] with all its limits.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::model::{Dashboard, DashboardError, MAX_DASHBOARD_BYTES, TimeRange};

/// The path of the share page.
pub const SHARE_ROUTE: &str = "/share";
/// The format prefix of the fragment.
pub const SHARE_PREFIX: &str = "v1.";
/// The longest fragment accepted, in characters (browsers handle URLs of a
/// few MB; sharing channels far less).
pub const MAX_SHARE_LINK_CHARS: usize = 2 * 1024 * 1024;
/// The largest envelope JSON accepted once inflated.
pub const MAX_SHARE_JSON_BYTES: usize = MAX_DASHBOARD_BYTES + 64 * 1024;

/// Why a share link could not be opened. Each message says what to do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ShareError {
    #[error("this is not a Vigil share link (it should contain #v1. followed by the dashboard)")]
    NotAShareLink,
    #[error("this share link uses format v{0}, which this version of Vigil cannot read")]
    UnsupportedVersion(String),
    #[error("the share link is {len} characters long, more than the {limit} accepted")]
    TooLong { len: usize, limit: usize },
    #[error("the share link is damaged: unexpected character {ch:?} at position {offset} of the payload")]
    BadCharacter { offset: usize, ch: char },
    #[error("the share link is cut short: it ends before the dashboard does (copy the whole link)")]
    Truncated,
    #[error("the share link is damaged: {0}")]
    Corrupt(&'static str),
    #[error("the shared dashboard is {size} bytes when unpacked, more than the {limit} accepted")]
    TooLarge { size: usize, limit: usize },
    #[error("the shared data is not a dashboard: {0}")]
    Envelope(String),
    #[error("the shared dashboard is invalid: {0}")]
    Dashboard(#[from] DashboardError),
}

/// What a share link carries.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedView {
    pub dashboard: Dashboard,
    pub time: TimeRange,
    /// Variable name → selected values.
    pub vars: Vec<(String, Vec<String>)>,
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    dashboard: Value,
    time: TimeRange,
    #[serde(default)]
    vars: Vec<SharedVar>,
}

/// A list rather than an object: the selections keep their order.
#[derive(Serialize, Deserialize)]
struct SharedVar {
    name: String,
    values: Vec<String>,
}

/// Encodes a view as the fragment `v1.<payload>` (without `#`).
pub fn encode(view: &SharedView) -> String {
    let vars =
        view.vars.iter().map(|(name, values)| SharedVar { name: name.clone(), values: values.clone() }).collect();
    let dashboard = serde_json::to_value(&view.dashboard).unwrap_or(Value::Null);
    let envelope = Envelope { dashboard, time: view.time.clone(), vars };
    let json = serde_json::to_vec(&envelope).unwrap_or_default();
    let mut bytes = Vec::with_capacity(json.len() / 4 + 8);
    bytes.extend_from_slice(&(json.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&miniz_oxide::deflate::compress_to_vec_zlib(&json, 9));
    format!("{SHARE_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The full link for a view, given the app's origin (`http://host:9090`).
pub fn share_url(origin: &str, view: &SharedView) -> String {
    format!("{}{SHARE_ROUTE}#{}", origin.trim_end_matches('/'), encode(view))
}

/// Decodes a fragment (`v1.…`, `#v1.…`, or a whole link containing `#`).
pub fn decode(link: &str) -> Result<SharedView, ShareError> {
    let fragment = link.trim();
    let fragment = fragment.rsplit_once('#').map_or(fragment, |(_, f)| f);
    if fragment.len() > MAX_SHARE_LINK_CHARS {
        return Err(ShareError::TooLong { len: fragment.len(), limit: MAX_SHARE_LINK_CHARS });
    }
    let payload = match fragment.strip_prefix(SHARE_PREFIX) {
        Some(p) => p,
        None => {
            let version = fragment.strip_prefix('v').and_then(|r| r.split_once('.')).map(|(v, _)| v);
            return match version {
                Some(v) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => {
                    Err(ShareError::UnsupportedVersion(v.to_string()))
                }
                _ => Err(ShareError::NotAShareLink),
            };
        }
    };
    // Find a foreign character first, to name it as the link shows it.
    if let Some((offset, ch)) =
        payload.char_indices().find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_')))
    {
        return Err(ShareError::BadCharacter { offset, ch });
    }
    let bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|e| match e {
        // Stray bits in the last character, or a length no encoder makes:
        // what a link cut at an arbitrary character looks like.
        base64::DecodeError::InvalidLength(_) | base64::DecodeError::InvalidLastSymbol(..) => ShareError::Truncated,
        base64::DecodeError::InvalidByte(..) | base64::DecodeError::InvalidPadding => {
            ShareError::Corrupt("it holds characters a share link cannot")
        }
    })?;
    let (header, body) = match bytes.split_first_chunk::<4>() {
        Some(split) => split,
        None => return Err(ShareError::Truncated),
    };
    let declared = u32::from_le_bytes(*header) as usize;
    if declared > MAX_SHARE_JSON_BYTES {
        return Err(ShareError::TooLarge { size: declared, limit: MAX_SHARE_JSON_BYTES });
    }
    let json = miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(body, declared).map_err(|e| {
        use miniz_oxide::inflate::TINFLStatus as S;
        match e.status {
            S::FailedCannotMakeProgress | S::NeedsMoreInput => ShareError::Truncated,
            S::Adler32Mismatch => ShareError::Corrupt("its checksum does not match"),
            S::HasMoreOutput => ShareError::Corrupt("it unpacks to more than it declares"),
            _ => ShareError::Corrupt("it does not unpack"),
        }
    })?;
    if json.len() != declared {
        return Err(ShareError::Corrupt("it unpacks to less than it declares"));
    }
    let text = std::str::from_utf8(&json).map_err(|_| ShareError::Corrupt("it is not UTF-8 text"))?;
    super::model::check_depth(text.as_bytes(), super::model::MAX_JSON_DEPTH)?;
    let mut de = serde_json::Deserializer::from_str(text);
    let envelope: Envelope = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        ShareError::Envelope(format!("{path}: {}", e.into_inner()))
    })?;
    let dashboard = Dashboard::from_json(&envelope.dashboard.to_string())?;
    let vars = envelope.vars.into_iter().map(|v| (v.name, v.values)).collect();
    Ok(SharedView { dashboard, time: envelope.time, vars })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A realistic 50-panel dashboard: rows, time series with several
    /// queries, stats with thresholds, variables.
    pub(crate) fn fifty_panels() -> Dashboard {
        let mut panels = Vec::new();
        for i in 0..50 {
            let y = (i / 2) * 8;
            let panel = if i % 10 == 0 {
                serde_json::json!({"id": i, "type": "row", "title": format!("Section {i}"), "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}})
            } else if i % 3 == 0 {
                serde_json::json!({"id": i, "type": "stat", "title": format!("Stat {i}"), "gridPos": {"x": (i % 2) * 12, "y": y, "w": 12, "h": 8},
                  "fieldConfig": {"defaults": {"unit": "percentunit", "thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": null}, {"color": "red", "value": 0.9}]}}},
                  "options": {"reduceOptions": {"calcs": ["lastNotNull"], "values": false}},
                  "targets": [{"refId": "A", "expr": format!("avg(rate(node_cpu_seconds_total{{mode!=\"idle\", instance=~\"$instance\"}}[$__rate_interval])) by (job) # {i}")}]})
            } else {
                serde_json::json!({"id": i, "type": "timeseries", "title": format!("Requests {i} by code"), "gridPos": {"x": (i % 2) * 12, "y": y, "w": 12, "h": 8},
                "fieldConfig": {"defaults": {"unit": "reqps", "custom": {"lineWidth": 1, "fillOpacity": 10}}},
                "options": {"legend": {"showLegend": true, "displayMode": "table", "placement": "bottom", "calcs": ["mean", "max"]}},
                "targets": [
                  {"refId": "A", "expr": format!("sum by (code) (rate(http_requests_total{{job=\"$job\", handler=\"/api/{i}\"}}[$__rate_interval]))"), "legendFormat": "{{code}}"},
                  {"refId": "B", "expr": format!("histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{{job=\"$job\", handler=\"/api/{i}\"}}[5m])))"), "legendFormat": "p99"}
                ]})
            };
            panels.push(panel);
        }
        let json = serde_json::json!({
            "uid": "share-test", "title": "Fifty panels", "tags": ["test"], "time": {"from": "now-6h", "to": "now"}, "refresh": "30s",
            "templating": {"list": [
                {"type": "query", "name": "job", "query": "label_values(up, job)", "multi": true, "includeAll": true},
                {"type": "query", "name": "instance", "query": "label_values(up{job=~\"$job\"}, instance)"},
                {"type": "custom", "name": "env", "query": "prod,staging,dev"}
            ]},
            "panels": panels
        });
        match Dashboard::from_json(&json.to_string()) {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        }
    }

    fn view() -> SharedView {
        SharedView {
            dashboard: fifty_panels(),
            time: TimeRange { from: "now-24h".into(), to: "now".into() },
            vars: vec![("job".into(), vec!["api".into(), "db".into()]), ("env".into(), vec!["prod".into()])],
        }
    }

    #[test]
    fn round_trips_fifty_panels() {
        let v = view();
        let link = share_url("http://127.0.0.1:9090/", &v);
        let json_len = v.dashboard.to_json().len();
        println!("share link for a 50-panel dashboard: {} characters ({json_len} bytes of dashboard JSON)", link.len());
        assert!(link.starts_with("http://127.0.0.1:9090/share#v1."));
        assert!(link.len() < json_len / 2, "compression should at least halve it: {} vs {json_len}", link.len());
        let back = match decode(&link) {
            Ok(b) => b,
            Err(e) => panic!("{e}"),
        };
        let layout = |d: &Dashboard| d.panels.iter().map(|p| (p.id, p.grid_pos)).collect::<Vec<_>>();
        assert_eq!(layout(&back.dashboard), layout(&v.dashboard));
        assert_eq!(back, v);
        assert_eq!(back.dashboard.panels.len(), 50);
        // The fragment alone decodes too.
        assert_eq!(decode(&encode(&v)), Ok(v));

        // A real, large dashboard (138 panels), for scale.
        let real = include_str!("../../testdata/dashboards/node-exporter-full.json");
        let real = SharedView {
            dashboard: Dashboard::from_json(real).unwrap_or_else(|e| panic!("{e}")),
            time: TimeRange::default(),
            vars: Vec::new(),
        };
        let link = encode(&real);
        println!(
            "share link for Node Exporter Full: {} characters ({} bytes of JSON)",
            link.len(),
            real.dashboard.to_json().len()
        );
        assert!(link.len() < MAX_SHARE_LINK_CHARS);
        assert_eq!(decode(&link), Ok(real));
    }

    #[test]
    fn bad_links_say_what_is_wrong() {
        let good = encode(&view());
        let payload = &good[SHARE_PREFIX.len()..];
        // A character flipped in the middle: the checksum or inflate fails.
        let mut flipped: Vec<char> = good.chars().collect();
        let mid = flipped.len() / 2;
        flipped[mid] = if flipped[mid] == 'A' { 'B' } else { 'A' };
        let flipped: String = flipped.into_iter().collect();
        type Check = fn(&ShareError) -> bool;
        let cases: Vec<(String, Check)> = vec![
            ("http://x/share".into(), |e| *e == ShareError::NotAShareLink),
            ("#hello".into(), |e| *e == ShareError::NotAShareLink),
            ("v2.abc".into(), |e| *e == ShareError::UnsupportedVersion("2".into())),
            (format!("{}{}", SHARE_PREFIX, &payload[..payload.len() / 2]), |e| *e == ShareError::Truncated),
            (format!("{}{}", SHARE_PREFIX, &payload[..payload.len() - 1]), |e| *e == ShareError::Truncated),
            (format!("{}{}", SHARE_PREFIX, &payload[..payload.len() - 3]), |e| *e == ShareError::Truncated),
            ("v1.".into(), |e| *e == ShareError::Truncated),
            ("v1.AAA".into(), |e| *e == ShareError::Truncated),
            (format!("v1.{}!{}", &payload[..10], &payload[10..]), |e| {
                *e == ShareError::BadCharacter { offset: 10, ch: '!' }
            }),
            (format!("v1.{}é", &payload[..10]), |e| matches!(e, ShareError::BadCharacter { offset: 10, .. })),
            (flipped, |e| matches!(e, ShareError::Corrupt(_) | ShareError::Truncated)),
            (format!("v1.{}", "A".repeat(MAX_SHARE_LINK_CHARS + 1)), |e| matches!(e, ShareError::TooLong { .. })),
        ];
        for (link, ok) in &cases {
            match decode(link) {
                Ok(_) => panic!("{:.60} decoded", link),
                Err(e) => assert!(ok(&e), "{:.60}: {e}", link),
            }
        }
    }

    fn forge(declared: u32, json: &[u8]) -> String {
        let mut bytes = declared.to_le_bytes().to_vec();
        bytes.extend(miniz_oxide::deflate::compress_to_vec_zlib(json, 6));
        format!("v1.{}", URL_SAFE_NO_PAD.encode(bytes))
    }

    #[test]
    fn zip_bombs_and_lies_are_refused() {
        // 16 MiB of spaces compresses to ~16 KiB; its true length is refused
        // before inflating, and a lie about it stops inflation at the lie.
        let bomb = vec![b' '; 16 << 20];
        assert!(matches!(decode(&forge(bomb.len() as u32, &bomb)), Err(ShareError::TooLarge { .. })));
        assert_eq!(decode(&forge(1000, &bomb)), Err(ShareError::Corrupt("it unpacks to more than it declares")));
        let small = br#"{"dashboard":{},"time":{"from":"now-1h","to":"now"}}"#;
        assert_eq!(
            decode(&forge(small.len() as u32 + 5, small)),
            Err(ShareError::Corrupt("it unpacks to less than it declares"))
        );
        assert!(decode(&forge(small.len() as u32, small)).is_ok());
        // Valid packing, wrong content: the path of the problem is named.
        let wrong = br#"{"dashboard":{"panels":[{"gridPos":{"w":"x"}}]},"time":{"from":"now-1h","to":"now"}}"#;
        match decode(&forge(wrong.len() as u32, wrong)) {
            Err(ShareError::Dashboard(e)) => assert!(e.to_string().contains("panels[0].gridPos.w"), "{e}"),
            other => panic!("{other:?}"),
        }
        let no_time = br#"{"dashboard":{}}"#;
        match decode(&forge(no_time.len() as u32, no_time)) {
            Err(ShareError::Envelope(m)) => assert!(m.contains("time"), "{m}"),
            other => panic!("{other:?}"),
        }
        let deep = format!(r#"{{"dashboard":{{"x":{}{}}}}}"#, "[".repeat(5000), "]".repeat(5000));
        assert!(matches!(
            decode(&forge(deep.len() as u32, deep.as_bytes())),
            Err(ShareError::Dashboard(DashboardError::TooDeep { .. }))
        ));
    }

    // proptest is a native-only dev-dependency.
    #[cfg(not(target_arch = "wasm32"))]
    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Arbitrary text never panics the decoder.
            #[test]
            fn decode_never_panics(s in "\\PC{0,200}") {
                let _ = decode(&s);
                let _ = decode(&format!("v1.{s}"));
            }

            /// Arbitrary bytes, validly packed, never panic it either.
            #[test]
            fn packed_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400), declared in 0u32..2000) {
                let _ = decode(&format!("v1.{}", URL_SAFE_NO_PAD.encode(&bytes)));
                let _ = decode(&forge(declared, &bytes));
            }

            /// Any title, time and variable values survive the round trip,
            /// and any single-character change is noticed or harmless.
            #[test]
            fn round_trip(title in "\\PC{0,40}", from in "now-[0-9]{1,3}[smhd]", values in proptest::collection::vec("\\PC{0,12}", 0..4), at in any::<prop::sample::Index>()) {
                let json = serde_json::json!({"title": title, "panels": [{"type": "text", "title": title}]}).to_string();
                let view = SharedView {
                    dashboard: Dashboard::from_json(&json).map_err(|e| TestCaseError::fail(e.to_string()))?,
                    time: TimeRange { from, to: "now".into() },
                    vars: vec![("v".into(), values)],
                };
                let link = encode(&view);
                prop_assert_eq!(decode(&link), Ok(view.clone()));
                let mut chars: Vec<char> = link.chars().collect();
                let i = SHARE_PREFIX.len() + at.index(chars.len() - SHARE_PREFIX.len());
                chars[i] = if chars[i] == 'x' { 'y' } else { 'x' };
                let damaged: String = chars.into_iter().collect();
                // Either refused, or (a change in bits the checksum covers
                // cannot pass) identical to the original.
                if let Ok(back) = decode(&damaged) {
                    prop_assert_eq!(back, view);
                }
            }
        }
    }
}
