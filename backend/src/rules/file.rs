//! Rule files, in Prometheus's format (`model/rulefmt`): groups of
//! recording and alerting rules.
//!
//! Parsing refuses unknown keys, as Prometheus does, and validation follows
//! `rulefmt.go`: group names present and unique in a file, one of `record`
//! or `alert` per rule, an expression that parses, no `for`,
//! `keep_firing_for` or annotations on recording rules, valid label names,
//! and alert templates that parse. Every error names the file, and the line
//! and column of the node it is about, then the group and rule as
//! Prometheus words them: `rules.yml:7:15: group "g", rule 2, "HighLoad":
//! could not parse expression: …`. All errors of a file are reported at
//! once, one per line.
//!
//! Names follow Prometheus 3's UTF-8 validation scheme: any non-empty
//! label name but `__name__`, and a recorded name without braces.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use vigil_shared::promql::{self, Expr};

use super::template::Template;
use crate::config::PromDuration;

/// A file that could not be loaded, with every problem found in it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct RuleFileError {
    pub errors: Vec<String>,
}

impl fmt::Display for RuleFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.errors.join("\n"))
    }
}

/// A loaded, validated rule file.
#[derive(Debug, Clone)]
pub struct RuleFile {
    pub path: PathBuf,
    pub groups: Vec<GroupDef>,
}

/// One group: rules evaluated in order at one timestamp every `interval`.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupDef {
    pub name: String,
    /// The group's own interval; `None` means the global evaluation interval.
    pub interval: Option<Duration>,
    pub query_offset: Option<Duration>,
    /// At most this many series (recording) or alerts (alerting) per rule; 0 = no limit.
    pub limit: usize,
    /// Labels added to every rule of the group (the rule's own win).
    pub labels: BTreeMap<String, String>,
    pub rules: Vec<RuleDef>,
}

/// One rule, as written.
#[derive(Debug, Clone)]
pub struct RuleDef {
    pub kind: RuleKind,
    /// The expression, parsed.
    pub expr: Expr,
    pub labels: BTreeMap<String, String>,
}

impl PartialEq for RuleDef {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.expr.to_string() == other.expr.to_string() && self.labels == other.labels
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    Recording { record: String },
    Alerting { alert: String, hold: Duration, keep_firing_for: Duration, annotations: BTreeMap<String, String> },
}

impl RuleDef {
    /// The record or alert name.
    pub fn name(&self) -> &str {
        match &self.kind {
            RuleKind::Recording { record } => record,
            RuleKind::Alerting { alert, .. } => alert,
        }
    }
}

// ---------------------------------------------------------------------
// The YAML shape

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    groups: Vec<RawGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    #[serde(default, deserialize_with = "scalar_string")]
    name: String,
    interval: Option<PromDuration>,
    query_offset: Option<PromDuration>,
    #[serde(default)]
    limit: usize,
    #[serde(default)]
    rules: Vec<RawRule>,
    #[serde(default, deserialize_with = "scalar_map")]
    labels: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default, deserialize_with = "scalar_string")]
    record: String,
    #[serde(default, deserialize_with = "scalar_string")]
    alert: String,
    #[serde(default, deserialize_with = "scalar_string")]
    expr: String,
    #[serde(rename = "for")]
    hold: Option<PromDuration>,
    keep_firing_for: Option<PromDuration>,
    #[serde(default, deserialize_with = "scalar_map")]
    labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "scalar_map")]
    annotations: BTreeMap<String, String>,
}

/// A YAML scalar of any type as its text, as Go's YAML decoder fills a
/// string field (`expr: 1` is the expression `1`).
struct Scalar(String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_owned()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar(String::new()))
            }
        }
        deserializer.deserialize_any(V)
    }
}

fn scalar_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Option::<Scalar>::deserialize(deserializer).map(|s| s.map(|s| s.0).unwrap_or_default())
}

fn scalar_map<'de, D: Deserializer<'de>>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error> {
    let map = Option::<BTreeMap<String, Scalar>>::deserialize(deserializer)?;
    Ok(map.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect())
}

// ---------------------------------------------------------------------
// Loading

impl RuleFile {
    /// Reads, parses and validates the file at `path`.
    pub fn load(path: &Path) -> Result<RuleFile, RuleFileError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| RuleFileError { errors: vec![format!("{}: {e}", path.display())] })?;
        RuleFile::parse(&text, path)
    }

    /// Parses and validates rule-file text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<RuleFile, RuleFileError> {
        let file = path.display().to_string();
        let raw: RawFile = if text.trim().is_empty() {
            RawFile::default()
        } else {
            serde_yaml_ng::from_str(text).map_err(|e| {
                let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
                let message = e.to_string();
                let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
                RuleFileError { errors: vec![format!("{file}:{line}:{column}: {message}")] }
            })?
        };
        let positions = yaml_positions(text);
        let at = |path: &str| -> String {
            match positions.get(path) {
                Some((line, column)) => format!("{file}:{line}:{column}: "),
                None => format!("{file}: "),
            }
        };
        let mut errors = Vec::new();
        let mut groups = Vec::new();
        let mut seen = HashSet::new();
        for (g, raw_group) in raw.groups.into_iter().enumerate() {
            let group_at = at(&format!("groups.{g}"));
            if raw_group.name.is_empty() {
                errors.push(format!("{group_at}Groupname must not be empty"));
            }
            if !seen.insert(raw_group.name.clone()) {
                errors.push(format!("{group_at}groupname: \"{}\" is repeated in the same file", raw_group.name));
            }
            for name in raw_group.labels.keys() {
                if !valid_label_name(name) {
                    errors.push(format!("{group_at}invalid label name: {name}"));
                }
            }
            let mut rules = Vec::new();
            for (r, raw_rule) in raw_group.rules.into_iter().enumerate() {
                let base = format!("groups.{g}.rules.{r}");
                let rule_name = if raw_rule.alert.is_empty() { &raw_rule.record } else { &raw_rule.alert };
                let describe = format!("group \"{}\", rule {}, \"{}\"", raw_group.name, r + 1, rule_name);
                // The position of a key's value, else of the rule itself.
                let node = |key: &str| {
                    let path = format!("{base}.{key}");
                    if positions.contains_key(&path) { at(&path) } else { at(&base) }
                };
                let mut fail =
                    |node_at: String, message: String| errors.push(format!("{node_at}{describe}: {message}"));
                match validate_rule(&raw_rule) {
                    Ok(()) => {}
                    Err(problems) => {
                        for (key, message) in problems {
                            fail(node(key), message);
                        }
                    }
                }
                let expr = if raw_rule.expr.is_empty() {
                    None
                } else {
                    match promql::parse(&raw_rule.expr) {
                        Ok(expr) => Some(expr),
                        Err(e) => {
                            fail(node("expr"), format!("could not parse expression: {}", e.describe(&raw_rule.expr)));
                            None
                        }
                    }
                };
                if !raw_rule.alert.is_empty() {
                    let name = format!("__alert_{}", raw_rule.alert);
                    for (key, value) in &raw_rule.labels {
                        if let Err(e) = Template::parse(&name, value) {
                            fail(node(&format!("labels.{key}")), format!("label {key:?}: {e}"));
                        }
                    }
                    for (key, value) in &raw_rule.annotations {
                        if let Err(e) = Template::parse(&name, value) {
                            fail(node(&format!("annotations.{key}")), format!("annotation {key:?}: {e}"));
                        }
                    }
                }
                let (Some(expr), true) = (expr, errors.is_empty()) else { continue };
                let kind = if raw_rule.alert.is_empty() {
                    RuleKind::Recording { record: raw_rule.record }
                } else {
                    RuleKind::Alerting {
                        alert: raw_rule.alert,
                        hold: raw_rule.hold.map_or(Duration::ZERO, |d| d.0),
                        keep_firing_for: raw_rule.keep_firing_for.map_or(Duration::ZERO, |d| d.0),
                        annotations: raw_rule.annotations,
                    }
                };
                // Group labels first; the rule's own win.
                let mut labels = raw_group.labels.clone();
                labels.extend(raw_rule.labels);
                rules.push(RuleDef { kind, expr, labels });
            }
            groups.push(GroupDef {
                name: raw_group.name,
                interval: raw_group.interval.map(|d| d.0).filter(|d| !d.is_zero()),
                query_offset: raw_group.query_offset.map(|d| d.0),
                limit: raw_group.limit,
                labels: raw_group.labels,
                rules,
            });
        }
        if errors.is_empty() { Ok(RuleFile { path: path.to_owned(), groups }) } else { Err(RuleFileError { errors }) }
    }
}

/// The problems of one rule that need no parsing, each with the key whose
/// position locates it.
fn validate_rule(rule: &RawRule) -> Result<(), Vec<(&'static str, String)>> {
    let mut problems = Vec::new();
    let mut push = |key: &'static str, message: &str| problems.push((key, message.to_owned()));
    if !rule.record.is_empty() && !rule.alert.is_empty() {
        push("record", "only one of 'record' and 'alert' must be set");
    }
    if rule.record.is_empty() && rule.alert.is_empty() {
        push("record", "one of 'record' or 'alert' must be set");
    }
    if rule.expr.is_empty() {
        push("expr", "field 'expr' must be set in rule");
    }
    if !rule.record.is_empty() {
        if !rule.annotations.is_empty() {
            push("record", "invalid field 'annotations' in recording rule");
        }
        if rule.hold.is_some_and(|d| !d.0.is_zero()) {
            push("record", "invalid field 'for' in recording rule");
        }
        if rule.keep_firing_for.is_some_and(|d| !d.0.is_zero()) {
            push("record", "invalid field 'keep_firing_for' in recording rule");
        }
        if rule.record.contains(['{', '}']) {
            problems.push((
                "record",
                format!("braces present in the recording rule name; should it be in expr?: {}", rule.record),
            ));
        }
    }
    for name in rule.labels.keys() {
        if !valid_label_name(name) {
            problems.push(("labels", format!("invalid label name: {name}")));
        }
    }
    for name in rule.annotations.keys() {
        if name.is_empty() {
            problems.push(("annotations", format!("invalid annotation name: {name}")));
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}

/// Prometheus 3's UTF-8 scheme: any non-empty name but the metric name.
fn valid_label_name(name: &str) -> bool {
    !name.is_empty() && name != "__name__"
}

/// Where every node of the first YAML document starts (1-based line and
/// column), by path: `groups.0.rules.2.expr`. serde does not keep positions,
/// so this walks libyaml's event stream (the parser serde_yaml_ng itself
/// is built on).
fn yaml_positions(text: &str) -> HashMap<String, (usize, usize)> {
    use std::mem::MaybeUninit;

    enum Frame {
        Map {
            path: String,
            key: Option<String>,
        },
        Seq {
            path: String,
            next: usize,
        },
        /// A complex (non-scalar) mapping key, skipped whole.
        Skip,
    }
    let mut positions = HashMap::new();
    let mut stack: Vec<Frame> = Vec::new();
    // SAFETY: the parser is initialised before use and deleted once; the
    // input outlives it; every event is read before `yaml_event_delete`.
    unsafe {
        let mut parser = MaybeUninit::<unsafe_libyaml::yaml_parser_t>::uninit();
        if unsafe_libyaml::yaml_parser_initialize(parser.as_mut_ptr()).fail {
            return positions;
        }
        let parser = parser.as_mut_ptr();
        unsafe_libyaml::yaml_parser_set_input_string(parser, text.as_ptr(), text.len() as _);
        loop {
            let mut event = MaybeUninit::<unsafe_libyaml::yaml_event_t>::uninit();
            if unsafe_libyaml::yaml_parser_parse(parser, event.as_mut_ptr()).fail {
                break;
            }
            let event = event.as_mut_ptr();
            let kind = (*event).type_;
            let mark = (*event).start_mark;
            let scalar = (kind == unsafe_libyaml::YAML_SCALAR_EVENT).then(|| {
                let s = (*event).data.scalar;
                String::from_utf8_lossy(std::slice::from_raw_parts(s.value, s.length as usize)).into_owned()
            });
            unsafe_libyaml::yaml_event_delete(event);
            let position = (mark.line as usize + 1, mark.column as usize + 1);
            let starts =
                kind == unsafe_libyaml::YAML_MAPPING_START_EVENT || kind == unsafe_libyaml::YAML_SEQUENCE_START_EVENT;
            let is_node =
                starts || kind == unsafe_libyaml::YAML_SCALAR_EVENT || kind == unsafe_libyaml::YAML_ALIAS_EVENT;
            if kind == unsafe_libyaml::YAML_MAPPING_END_EVENT || kind == unsafe_libyaml::YAML_SEQUENCE_END_EVENT {
                stack.pop();
                continue;
            }
            if kind == unsafe_libyaml::YAML_DOCUMENT_END_EVENT || kind == unsafe_libyaml::YAML_STREAM_END_EVENT {
                break;
            }
            if !is_node {
                continue;
            }
            let path = match stack.last_mut() {
                None => Some(String::new()),
                Some(Frame::Skip) => None,
                Some(Frame::Map { key: key @ None, .. }) => {
                    match scalar {
                        Some(name) => *key = Some(name),
                        None if starts => stack.push(Frame::Skip),
                        None => *key = Some(String::new()),
                    }
                    continue;
                }
                Some(Frame::Map { path, key }) => {
                    let name = key.take().unwrap_or_default();
                    Some(if path.is_empty() { name } else { format!("{path}.{name}") })
                }
                Some(Frame::Seq { path, next }) => {
                    *next += 1;
                    Some(if path.is_empty() { (*next - 1).to_string() } else { format!("{path}.{}", *next - 1) })
                }
            };
            if let Some(path) = &path {
                positions.entry(path.clone()).or_insert(position);
            }
            if starts {
                stack.push(match path {
                    None => Frame::Skip,
                    Some(path) if kind == unsafe_libyaml::YAML_MAPPING_START_EVENT => Frame::Map { path, key: None },
                    Some(path) => Frame::Seq { path, next: 0 },
                });
            }
        }
        unsafe_libyaml::yaml_parser_delete(parser);
    }
    positions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RuleFile, String> {
        RuleFile::parse(text, Path::new("rules.yml")).map_err(|e| e.to_string())
    }

    #[test]
    fn parses_groups_and_rules() {
        let file = parse(
            r#"groups:
  - name: example
    interval: 30s
    limit: 10
    query_offset: 1m
    labels:
      team: infra
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
        labels:
          team: sre
      - alert: InstanceDown
        expr: up == 0
        for: 5m
        keep_firing_for: 1m
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.instance }} of {{ $labels.job }} is down"
  - name: second
    rules:
      - record: one
        expr: 1
"#,
        )
        .unwrap();
        assert_eq!(file.groups.len(), 2);
        let g = &file.groups[0];
        assert_eq!(
            (g.name.as_str(), g.interval, g.limit, g.query_offset),
            ("example", Some(Duration::from_secs(30)), 10, Some(Duration::from_secs(60)))
        );
        assert_eq!(g.rules[0].name(), "job:up:sum");
        assert_eq!(g.rules[0].labels.get("team").map(String::as_str), Some("sre"));
        assert_eq!(g.rules[1].labels.get("team").map(String::as_str), Some("infra"));
        let RuleKind::Alerting { hold, keep_firing_for, annotations, .. } = &g.rules[1].kind else { panic!() };
        assert_eq!((*hold, *keep_firing_for), (Duration::from_secs(300), Duration::from_secs(60)));
        assert!(annotations["summary"].contains("$labels.instance"));
        assert_eq!(file.groups[1].interval, None);
        assert_eq!(file.groups[1].rules[0].expr.to_string(), "1");
        assert!(parse("").unwrap().groups.is_empty());
    }

    #[test]
    fn errors_name_file_line_and_rule() {
        let cases = [
            ("groups:\n  - name: a\n    bogus: 1\n", "rules.yml:3:5: groups[0]: unknown field `bogus`"),
            (
                "groups:\n  - name: a\n    rules:\n      - record: x\n        expr: sum(\n",
                "rules.yml:5:15: group \"a\", rule 1, \"x\": could not parse expression: 1:5: parse error: unclosed left parenthesis",
            ),
            (
                "groups:\n  - name: a\n    rules:\n      - record: x\n        expr: up\n  - name: a\n",
                "rules.yml:6:5: groupname: \"a\" is repeated in the same file",
            ),
            ("groups:\n  - rules: []\n", "rules.yml:2:5: Groupname must not be empty"),
            (
                "groups:\n  - name: a\n    rules:\n      - expr: up\n",
                "rules.yml:4:9: group \"a\", rule 1, \"\": one of 'record' or 'alert' must be set",
            ),
            (
                "groups:\n  - name: a\n    rules:\n      - record: x\n        alert: y\n        expr: up\n",
                "rules.yml:4:17: group \"a\", rule 1, \"y\": only one of 'record' and 'alert' must be set",
            ),
            (
                "groups:\n  - name: a\n    rules:\n      - record: x\n",
                "rules.yml:4:9: group \"a\", rule 1, \"x\": field 'expr' must be set in rule",
            ),
            (
                "groups:\n  - name: a\n    rules:\n      - record: x\n        expr: up\n        for: 1m\n",
                "rules.yml:4:17: group \"a\", rule 1, \"x\": invalid field 'for' in recording rule",
            ),
            (
                "groups:\n  - name: a\n    rules:\n      - record: 'x{a=\"b\"}'\n        expr: up\n",
                "braces present in the recording rule name; should it be in expr?",
            ),
            (
                "groups:\n  - name: a\n    rules:\n      - record: x\n        expr: up\n        annotations: {a: b}\n",
                "invalid field 'annotations' in recording rule",
            ),
            (
                "groups:\n  - name: a\n    rules:\n      - alert: x\n        expr: up\n        labels: {__name__: b}\n",
                "rules.yml:6:17: group \"a\", rule 1, \"x\": invalid label name: __name__",
            ),
            (
                "groups:\n  - name: a\n    rules:\n      - alert: A\n        expr: up\n        annotations:\n          summary: '{{ nope }}'\n",
                "rules.yml:7:20: group \"a\", rule 1, \"A\": annotation \"summary\": template: __alert_A:1:4: function \"nope\" not defined",
            ),
            ("groups:\n  - name: a\n    interval: soon\n", "rules.yml:2:5: groups[0]: not a valid duration string"),
        ];
        for (text, want) in cases {
            let err = parse(text).unwrap_err();
            assert!(err.starts_with(want) || err.contains(want), "{text}\n got: {err}\nwant: {want}");
        }
    }

    #[test]
    fn all_errors_of_a_file_are_reported() {
        let err =
            parse("groups:\n  - name: a\n    rules:\n      - record: x\n      - alert: y\n        expr: 'up +'\n")
                .unwrap_err();
        assert_eq!(err.lines().count(), 2, "{err}");
    }

    #[test]
    fn positions_follow_yaml_paths() {
        let p = yaml_positions("groups:\n- name: a\n  rules:\n  - {record: x, expr: up}\n");
        assert_eq!(p.get("groups.0"), Some(&(2, 3)));
        assert_eq!(p.get("groups.0.rules.0.expr"), Some(&(4, 23)));
    }
}
