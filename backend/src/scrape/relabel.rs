//! Relabeling: Prometheus's `relabel_configs` and `metric_relabel_configs`.
//!
//! Users copy relabeling rules between Prometheus and Vigil, so every action
//! behaves as Prometheus's `model/relabel` does: the same defaults
//! (`regex: (.*)`, `separator: ;`, `replacement: $1`, `action: replace`), the
//! same fully anchored regexes, the same `$1`/`${name}` expansion and the same
//! MD5-based `hashmod`.

use std::collections::BTreeMap;
use std::fmt;

use md5::{Digest, Md5};
use serde::{Deserialize, Deserializer};

/// One relabeling step.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelabelConfig {
    #[serde(default)]
    pub source_labels: Vec<String>,
    #[serde(default = "default_separator")]
    pub separator: String,
    #[serde(default)]
    pub regex: RelabelRegex,
    #[serde(default)]
    pub modulus: u64,
    #[serde(default)]
    pub target_label: String,
    #[serde(default = "default_replacement")]
    pub replacement: String,
    #[serde(default)]
    pub action: Action,
}

fn default_separator() -> String {
    ";".to_owned()
}

fn default_replacement() -> String {
    "$1".to_owned()
}

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    #[default]
    Replace,
    Keep,
    Drop,
    KeepEqual,
    DropEqual,
    HashMod,
    LabelMap,
    LabelDrop,
    LabelKeep,
    Lowercase,
    Uppercase,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        };
        f.write_str(name)
    }
}

/// A regex as written in the config, compiled fully anchored.
#[derive(Debug, Clone)]
pub struct RelabelRegex {
    pub source: String,
    anchored: regex::Regex,
}

const DEFAULT_REGEX: &str = "(.*)";

impl PartialEq for RelabelRegex {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl RelabelRegex {
    pub fn new(source: &str) -> Result<Self, regex::Error> {
        Ok(RelabelRegex { source: source.to_owned(), anchored: regex::Regex::new(&format!("^(?s:{source})$"))? })
    }

    fn is_default(&self) -> bool {
        self.source == DEFAULT_REGEX
    }
}

impl Default for RelabelRegex {
    fn default() -> Self {
        // The default pattern is a constant known to compile.
        RelabelRegex { source: DEFAULT_REGEX.to_owned(), anchored: regex::Regex::new("^(?s:(.*))$").expect("valid") }
    }
}

impl<'de> Deserialize<'de> for RelabelRegex {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let source = String::deserialize(deserializer)?;
        RelabelRegex::new(&source).map_err(|e| {
            let detail = e.to_string();
            let detail = detail.lines().last().unwrap_or(&detail).trim().to_owned();
            serde::de::Error::custom(format!("invalid regex {source:?}: {detail}"))
        })
    }
}

impl RelabelConfig {
    /// Checks the combinations Prometheus refuses at load time.
    pub fn validate(&self) -> Result<(), String> {
        let needs_target = matches!(
            self.action,
            Action::Replace
                | Action::HashMod
                | Action::Lowercase
                | Action::Uppercase
                | Action::KeepEqual
                | Action::DropEqual
        );
        if needs_target && self.target_label.is_empty() {
            return Err(format!("relabel configuration for {} action requires 'target_label' value", self.action));
        }
        if self.action == Action::HashMod && self.modulus == 0 {
            return Err("relabel configuration for hashmod requires non-zero modulus".to_owned());
        }
        if matches!(
            self.action,
            Action::Lowercase | Action::Uppercase | Action::HashMod | Action::KeepEqual | Action::DropEqual
        ) && !is_label_name(&self.target_label)
        {
            return Err(format!("{:?} is invalid 'target_label' for {} action", self.target_label, self.action));
        }
        if self.action == Action::Replace && !self.target_label.contains('$') && !is_label_name(&self.target_label) {
            return Err(format!("{:?} is invalid 'target_label' for {} action", self.target_label, self.action));
        }
        if matches!(self.action, Action::LabelDrop | Action::LabelKeep)
            && (!self.source_labels.is_empty()
                || !self.target_label.is_empty()
                || self.modulus != 0
                || self.separator != default_separator()
                || self.replacement != default_replacement())
        {
            return Err(format!("{} action requires only 'regex', and no other fields", self.action));
        }
        if matches!(self.action, Action::KeepEqual | Action::DropEqual)
            && (!self.regex.is_default()
                || self.modulus != 0
                || self.separator != default_separator()
                || self.replacement != default_replacement())
        {
            return Err(format!(
                "{} action requires only 'source_labels' and `target_label`, and no other fields",
                self.action
            ));
        }
        Ok(())
    }
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Applies `configs` in order to a label set; `None` means the target or
/// series is dropped.
pub fn process(mut labels: BTreeMap<String, String>, configs: &[RelabelConfig]) -> Option<BTreeMap<String, String>> {
    for config in configs {
        if !apply(&mut labels, config) {
            return None;
        }
        // An empty value is an absent label.
        labels.retain(|_, v| !v.is_empty());
    }
    Some(labels)
}

/// One step; false drops the label set.
fn apply(labels: &mut BTreeMap<String, String>, config: &RelabelConfig) -> bool {
    let value = config
        .source_labels
        .iter()
        .map(|name| labels.get(name).map_or("", String::as_str))
        .collect::<Vec<_>>()
        .join(&config.separator);
    let regex = &config.regex.anchored;
    match config.action {
        Action::Drop => return !regex.is_match(&value),
        Action::Keep => return regex.is_match(&value),
        Action::DropEqual => return labels.get(&config.target_label).map_or("", String::as_str) != value,
        Action::KeepEqual => return labels.get(&config.target_label).map_or("", String::as_str) == value,
        Action::Replace => {
            let Some(captures) = regex.captures(&value) else { return true };
            let mut target = String::new();
            captures.expand(&config.target_label, &mut target);
            if !is_label_name(&target) {
                return true;
            }
            let mut result = String::new();
            captures.expand(&config.replacement, &mut result);
            if result.is_empty() {
                labels.remove(&target);
            } else {
                labels.insert(target, result);
            }
        }
        Action::Lowercase => {
            labels.insert(config.target_label.clone(), value.to_lowercase());
        }
        Action::Uppercase => {
            labels.insert(config.target_label.clone(), value.to_uppercase());
        }
        Action::HashMod => {
            let digest = Md5::digest(value.as_bytes());
            // Prometheus folds the digest into a uint64 with shifts that
            // overflow for the first eight bytes: only the last eight count.
            let mut tail = [0u8; 8];
            tail.copy_from_slice(&digest[8..16]);
            let modulo = u64::from_be_bytes(tail) % config.modulus.max(1);
            labels.insert(config.target_label.clone(), modulo.to_string());
        }
        Action::LabelMap => {
            let mapped: Vec<(String, String)> = labels
                .iter()
                .filter(|(name, _)| regex.is_match(name))
                .map(|(name, v)| (regex.replace(name, config.replacement.as_str()).into_owned(), v.clone()))
                .collect();
            labels.extend(mapped);
        }
        Action::LabelDrop => labels.retain(|name, _| !regex.is_match(name)),
        Action::LabelKeep => labels.retain(|name, _| regex.is_match(name)),
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn configs(yaml: &str) -> Vec<RelabelConfig> {
        let configs: Vec<RelabelConfig> = serde_yaml_ng::from_str(yaml).unwrap();
        for c in &configs {
            c.validate().unwrap();
        }
        configs
    }

    /// Cases checked against Prometheus's own relabel tests and docs.
    #[test]
    fn actions() {
        let input = labels(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("__meta_x", "m1"), ("__meta_y", "m2")]);
        type Case<'a> = (&'a str, Option<&'a [(&'a str, &'a str)]>);
        let cases: &[Case] = &[
            // replace with capture groups, default action
            (
                "- {source_labels: [a], regex: 'f(.*)', target_label: d, replacement: 'ch${1}-ch${1}'}",
                Some(&[
                    ("a", "foo"),
                    ("b", "bar"),
                    ("c", "baz"),
                    ("__meta_x", "m1"),
                    ("__meta_y", "m2"),
                    ("d", "choo-choo"),
                ]),
            ),
            // non-matching regex leaves labels alone; regexes are anchored
            (
                "- {source_labels: [a], regex: 'oo', target_label: d}",
                Some(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("__meta_x", "m1"), ("__meta_y", "m2")]),
            ),
            // joined sources with separator; empty replacement deletes
            (
                "- {source_labels: [a, b], separator: '-', regex: 'foo-bar', target_label: a, replacement: ''}",
                Some(&[("b", "bar"), ("c", "baz"), ("__meta_x", "m1"), ("__meta_y", "m2")]),
            ),
            // target label from the regex
            (
                "- {source_labels: [a], regex: '(f)(.*)', target_label: 'x_${2}', replacement: '$1'}",
                Some(&[
                    ("a", "foo"),
                    ("b", "bar"),
                    ("c", "baz"),
                    ("__meta_x", "m1"),
                    ("__meta_y", "m2"),
                    ("x_oo", "f"),
                ]),
            ),
            (
                "- {source_labels: [a], regex: 'f.*', action: keep}",
                Some(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("__meta_x", "m1"), ("__meta_y", "m2")]),
            ),
            ("- {source_labels: [a], regex: 'f', action: keep}", None),
            ("- {source_labels: [a], regex: 'foo', action: drop}", None),
            ("- {source_labels: [missing], regex: '', action: drop}", None),
            (
                "- {source_labels: [a], target_label: a, action: keepequal}",
                Some(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("__meta_x", "m1"), ("__meta_y", "m2")]),
            ),
            ("- {source_labels: [a], target_label: b, action: keepequal}", None),
            (
                "- {source_labels: [a], target_label: b, action: dropequal}",
                Some(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("__meta_x", "m1"), ("__meta_y", "m2")]),
            ),
            (
                "- {regex: '__meta_(.*)', action: labelmap}",
                Some(&[
                    ("a", "foo"),
                    ("b", "bar"),
                    ("c", "baz"),
                    ("__meta_x", "m1"),
                    ("__meta_y", "m2"),
                    ("x", "m1"),
                    ("y", "m2"),
                ]),
            ),
            ("- {regex: '__meta_.*|c', action: labeldrop}", Some(&[("a", "foo"), ("b", "bar")])),
            ("- {regex: 'a|b', action: labelkeep}", Some(&[("a", "foo"), ("b", "bar")])),
            (
                "- {source_labels: [a, b], target_label: up, action: uppercase}",
                Some(&[
                    ("a", "foo"),
                    ("b", "bar"),
                    ("c", "baz"),
                    ("__meta_x", "m1"),
                    ("__meta_y", "m2"),
                    ("up", "FOO;BAR"),
                ]),
            ),
            (
                "- {source_labels: [b], target_label: b, action: lowercase}",
                Some(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("__meta_x", "m1"), ("__meta_y", "m2")]),
            ),
        ];
        for (yaml, want) in cases {
            let got = process(input.clone(), &configs(yaml));
            assert_eq!(got, want.map(labels), "{yaml}");
        }
    }

    /// `hashmod` matches Prometheus: its relabel tests expect "baz" with
    /// modulus 1000 to give 976.
    #[test]
    fn hashmod_matches_prometheus() {
        let got = process(
            labels(&[("c", "baz")]),
            &configs("- {source_labels: [c], target_label: d, modulus: 1000, action: hashmod}"),
        )
        .unwrap();
        assert_eq!(got["d"], "976");
    }

    #[test]
    fn invalid_configs_are_refused() {
        let cases = [
            ("- {action: replace, source_labels: [a]}", "requires 'target_label' value"),
            ("- {action: hashmod, source_labels: [a], target_label: b}", "requires non-zero modulus"),
            ("- {action: labeldrop, regex: a, target_label: b}", "labeldrop action requires only 'regex'"),
            ("- {action: keepequal, source_labels: [a], target_label: b, regex: x}", "keepequal action requires only"),
            ("- {action: lowercase, source_labels: [a], target_label: 'bad-name'}", "is invalid 'target_label'"),
        ];
        for (yaml, want) in cases {
            let configs: Vec<RelabelConfig> = serde_yaml_ng::from_str(yaml).unwrap();
            let err = configs[0].validate().unwrap_err();
            assert!(err.contains(want), "{yaml}: {err}");
        }
        let err = serde_yaml_ng::from_str::<Vec<RelabelConfig>>("- {regex: '('}").unwrap_err().to_string();
        assert!(err.contains("invalid regex \"(\""), "{err}");
        let err = serde_yaml_ng::from_str::<Vec<RelabelConfig>>("- {action: explode}").unwrap_err().to_string();
        assert!(err.contains("unknown variant `explode`"), "{err}");
    }
}
