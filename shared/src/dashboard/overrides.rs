//! `fieldConfig.overrides`: Grafana's per-series exceptions to the panel's
//! field defaults ("this series in red", "transmit drawn below zero",
//! "this one in bytes"). Real dashboards lean on them — Node Exporter Full
//! has overrides on most of its graphs — so a panel drawn without them
//! shows the wrong colours, units and signs.
//!
//! An override is a matcher plus a list of properties. For each series,
//! the effective field config is the defaults with the properties of every
//! matching override set in order (a later override wins), as Grafana's
//! `applyFieldOverrides` does. Property ids are paths into the field
//! config (`unit`, `color`, `custom.fillOpacity`, `custom.hideFrom`); a
//! property whose value does not fit the field is ignored, never an error:
//! dashboards come from many Grafana versions.

use serde_json::{Map, Value};

use super::model::{FieldConfig, FieldDefaults};

/// What a matcher sees of a series: Grafana's field display name (the
/// legend text) and the query it came from.
#[derive(Debug, Clone, Copy)]
pub struct FieldIdentity<'a> {
    pub display_name: &'a str,
    pub ref_id: &'a str,
}

/// A parsed `matcher` (`{"id": "byName", "options": "x"}`).
#[derive(Debug, Clone)]
enum Matcher {
    ByName(String),
    ByRegexp(Option<regex::Regex>),
    ByFrameRefId(String),
    ByNames {
        include: bool,
        names: Vec<String>,
    },
    /// `byType`: every series Vigil draws is a number field.
    ByType(bool),
    /// A matcher Vigil does not know (`byValue`, plugin matchers): it
    /// matches nothing, so the panel keeps its defaults.
    Unknown,
}

impl Matcher {
    fn parse(matcher: &Value) -> Matcher {
        let id = matcher.get("id").and_then(Value::as_str).unwrap_or("");
        let options = matcher.get("options");
        let text = || options.and_then(Value::as_str).unwrap_or("").to_owned();
        match id {
            "byName" => Matcher::ByName(text()),
            "byRegexp" => Matcher::ByRegexp(js_regex(&text())),
            "byFrameRefID" => Matcher::ByFrameRefId(text()),
            "byNames" => {
                let include = options.and_then(|o| o.get("mode")).and_then(Value::as_str) != Some("exclude");
                let names = options
                    .and_then(|o| o.get("names"))
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                    .unwrap_or_default();
                Matcher::ByNames { include, names }
            }
            "byType" => Matcher::ByType(matches!(text().as_str(), "number" | "numeric")),
            _ => Matcher::Unknown,
        }
    }

    fn matches(&self, field: FieldIdentity<'_>) -> bool {
        match self {
            Matcher::ByName(name) => name == field.display_name,
            Matcher::ByRegexp(re) => re.as_ref().is_some_and(|re| re.is_match(field.display_name)),
            Matcher::ByFrameRefId(ref_id) => ref_id == field.ref_id,
            Matcher::ByNames { include, names } => names.iter().any(|n| n == field.display_name) == *include,
            Matcher::ByType(number) => *number,
            Matcher::Unknown => false,
        }
    }
}

/// Grafana's `stringToJsRegex`: `/pattern/flags`, or a bare pattern that
/// must match the whole name. Only the `i`, `m` and `s` flags mean
/// anything for a test; an invalid pattern matches nothing.
fn js_regex(text: &str) -> Option<regex::Regex> {
    let (pattern, flags) = match text.strip_prefix('/').and_then(|rest| rest.rsplit_once('/')) {
        Some((pattern, flags)) if flags.chars().all(|c| "gimsuy".contains(c)) => (pattern.to_owned(), flags),
        _ => (format!("^(?:{text})$"), ""),
    };
    let mut builder = regex::RegexBuilder::new(&pattern);
    builder
        .case_insensitive(flags.contains('i'))
        .multi_line(flags.contains('m'))
        .dot_matches_new_line(flags.contains('s'));
    builder.build().ok()
}

/// The overrides of a panel, parsed once and applied to each series.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    rules: Vec<(Matcher, Vec<(String, Value)>)>,
}

impl Overrides {
    pub fn new(config: &FieldConfig) -> Overrides {
        let rules = config
            .overrides
            .iter()
            .filter_map(|rule| {
                let matcher = Matcher::parse(rule.get("matcher")?);
                let properties = rule
                    .get("properties")?
                    .as_array()?
                    .iter()
                    .filter_map(|p| Some((p.get("id")?.as_str()?.to_owned(), p.get("value").cloned()?)))
                    .collect::<Vec<_>>();
                Some((matcher, properties))
            })
            .collect();
        Overrides { rules }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The field config of one series: `defaults` with every matching
    /// override applied in order. `None` when nothing matches, so callers
    /// keep sharing the defaults.
    pub fn for_field(&self, defaults: &FieldDefaults, field: FieldIdentity<'_>) -> Option<FieldDefaults> {
        let matching: Vec<&(String, Value)> =
            self.rules.iter().filter(|(m, _)| m.matches(field)).flat_map(|(_, props)| props).collect();
        if matching.is_empty() {
            return None;
        }
        let mut json = serde_json::to_value(defaults).ok()?;
        for (id, value) in matching {
            let Some(before) = json.as_object().cloned() else { break };
            set_path(&mut json, id, value.clone());
            // A value of the wrong shape (a string where thresholds go)
            // is dropped, as Grafana's option processors drop it.
            if serde_json::from_value::<FieldDefaults>(json.clone()).is_err() {
                json = Value::Object(before);
            }
        }
        serde_json::from_value(json).ok()
    }
}

/// Sets `custom.hideFrom`-style dotted paths, creating objects on the way;
/// `null` removes the key (Grafana treats an unset override as absent).
fn set_path(root: &mut Value, path: &str, value: Value) {
    let mut parts: Vec<&str> = path.split('.').filter(|p| !p.is_empty()).collect();
    let Some(last) = parts.pop() else { return };
    let mut node = root;
    for part in parts {
        let Some(object) = node.as_object_mut() else { return };
        let child = object.entry(part.to_owned()).or_insert_with(|| Value::Object(Map::new()));
        if !child.is_object() {
            *child = Value::Object(Map::new());
        }
        node = child;
    }
    let Some(object) = node.as_object_mut() else { return };
    if value.is_null() {
        object.remove(last);
    } else {
        object.insert(last.to_owned(), value);
    }
}

/// `displayName` with the two substitutions Prometheus dashboards use:
/// `${__series.name}` (the legend text) and `${__field.labels.NAME}`.
pub fn display_name(template: &str, legend: &str, labels: &[(String, String)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let key = &after[..end];
        match key {
            "__series.name" | "__field.displayName" => out.push_str(legend),
            _ => match key.strip_prefix("__field.labels.") {
                Some(name) => out.push_str(labels.iter().find(|(n, _)| n == name).map_or("", |(_, v)| v.as_str())),
                None => out.push_str(&rest[start..start + 2 + end + 1]),
            },
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(overrides: Value) -> FieldConfig {
        serde_json::from_value(
            json!({"defaults": {"unit": "bps", "custom": {"fillOpacity": 10}}, "overrides": overrides}),
        )
        .expect("a field config")
    }

    #[test]
    fn matchers_pick_series_as_grafana_does() {
        // (matcher, display name, refId, matches)
        let cases: &[(Value, &str, &str, bool)] = &[
            (json!({"id": "byName", "options": "eth0 transmit"}), "eth0 transmit", "A", true),
            (json!({"id": "byName", "options": "eth0 transmit"}), "eth0 receive", "A", false),
            // A bare pattern must match the whole name.
            (json!({"id": "byRegexp", "options": ".*trans.*"}), "eth0 transmit", "A", true),
            (json!({"id": "byRegexp", "options": "trans"}), "eth0 transmit", "A", false),
            // `/…/flags` matches anywhere, with flags.
            (json!({"id": "byRegexp", "options": "/TRANS/i"}), "eth0 transmit", "A", true),
            (json!({"id": "byRegexp", "options": "/(/"}), "eth0 transmit", "A", false),
            (json!({"id": "byFrameRefID", "options": "B"}), "x", "B", true),
            (json!({"id": "byFrameRefID", "options": "B"}), "x", "A", false),
            (json!({"id": "byNames", "options": {"mode": "include", "names": ["a", "b"]}}), "b", "A", true),
            (json!({"id": "byNames", "options": {"mode": "exclude", "names": ["a", "b"]}}), "b", "A", false),
            (json!({"id": "byNames", "options": {"mode": "exclude", "names": ["a"]}}), "b", "A", true),
            (json!({"id": "byType", "options": "number"}), "x", "A", true),
            (json!({"id": "byType", "options": "time"}), "x", "A", false),
            (json!({"id": "byValue", "options": {"reducer": "max"}}), "x", "A", false),
            (json!({"id": "byName"}), "x", "A", false),
        ];
        for (matcher, name, ref_id, want) in cases {
            let m = Matcher::parse(matcher);
            assert_eq!(
                m.matches(FieldIdentity { display_name: name, ref_id }),
                *want,
                "{matcher} on {name:?}/{ref_id}"
            );
        }
    }

    #[test]
    fn properties_apply_in_order_and_bad_values_are_dropped() {
        let c = config(json!([
            {"matcher": {"id": "byRegexp", "options": "/transmit/"}, "properties": [
                {"id": "custom.transform", "value": "negative-Y"},
                {"id": "color", "value": {"mode": "fixed", "fixedColor": "red"}},
                {"id": "unit", "value": "bytes"},
            ]},
            {"matcher": {"id": "byName", "options": "eth0 transmit"}, "properties": [
                {"id": "unit", "value": "decbytes"},
                {"id": "thresholds", "value": "not thresholds"},
                {"id": "custom.fillOpacity", "value": null},
                {"id": "displayName", "value": "TX ${__field.labels.device}"},
            ]},
            {"matcher": "not an object"},
            {"properties": []},
        ]));
        let overrides = Overrides::new(&c);
        assert!(!overrides.is_empty());
        let none = overrides.for_field(&c.defaults, FieldIdentity { display_name: "eth0 receive", ref_id: "A" });
        assert!(none.is_none(), "no override matches a receive series");

        let got = overrides
            .for_field(&c.defaults, FieldIdentity { display_name: "eth0 transmit", ref_id: "A" })
            .expect("overrides match");
        assert_eq!(got.unit.as_deref(), Some("decbytes"), "the later override wins");
        assert_eq!(got.custom.get("transform"), Some(&json!("negative-Y")));
        assert_eq!(got.custom.get("fillOpacity"), None, "null removes");
        assert!(got.thresholds.is_none(), "a wrong-shaped value is ignored");
        assert_eq!(got.color.as_ref().map(|c| c.mode.as_str()), Some("fixed"));
        assert_eq!(got.extra.get("displayName"), Some(&json!("TX ${__field.labels.device}")));

        let other = overrides
            .for_field(&c.defaults, FieldIdentity { display_name: "eth1 transmit", ref_id: "A" })
            .expect("the regexp matches");
        assert_eq!((other.unit.as_deref(), other.custom.get("fillOpacity")), (Some("bytes"), Some(&json!(10))));
    }

    #[test]
    fn display_names_substitute_series_and_labels() {
        let labels = vec![("device".to_owned(), "eth0".to_owned())];
        let cases = [
            ("TX ${__field.labels.device}", "TX eth0"),
            ("${__series.name} (out)", "legend (out)"),
            ("${__field.labels.missing}!", "!"),
            ("${unknown} and ${", "${unknown} and ${"),
            ("plain", "plain"),
        ];
        for (template, want) in cases {
            assert_eq!(display_name(template, "legend", &labels), want, "{template}");
        }
    }
}
