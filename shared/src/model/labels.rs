//! Label sets: the identity of a time series.

use std::fmt;

/// The reserved label that carries a series' metric name.
pub const METRIC_NAME: &str = "__name__";

/// One label pair.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label {
    pub name: String,
    pub value: String,
}

/// A label set, kept sorted by name with unique names, so two equal sets are
/// equal as values and hash the same.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Labels(Vec<Label>);

impl Labels {
    /// Builds a label set from pairs in any order. Empty values are dropped,
    /// as Prometheus treats an empty label value as an absent label. A later
    /// duplicate name wins.
    pub fn from_pairs<N, V>(pairs: impl IntoIterator<Item = (N, V)>) -> Self
    where
        N: Into<String>,
        V: Into<String>,
    {
        let mut labels: Vec<Label> = Vec::new();
        for (name, value) in pairs {
            let (name, value) = (name.into(), value.into());
            match labels.iter_mut().find(|l| l.name == name) {
                Some(existing) => existing.value = value,
                None => labels.push(Label { name, value }),
            }
        }
        labels.retain(|l| !l.value.is_empty());
        labels.sort();
        Labels(labels)
    }

    /// The value of label `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.binary_search_by(|l| l.name.as_str().cmp(name)).ok().map(|i| self.0[i].value.as_str())
    }

    /// The metric name, if set.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Label> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The same set with `name` set to `value`, or removed when `value` is
    /// empty (an empty value means an absent label).
    pub fn with(&self, name: &str, value: &str) -> Labels {
        let mut labels = self.0.clone();
        match labels.binary_search_by(|l| l.name.as_str().cmp(name)) {
            Ok(i) if value.is_empty() => {
                labels.remove(i);
            }
            Ok(i) => labels[i].value = value.to_owned(),
            Err(_) if value.is_empty() => {}
            Err(i) => labels.insert(i, Label { name: name.to_owned(), value: value.to_owned() }),
        }
        Labels(labels)
    }

    /// The labels whose names satisfy `keep`.
    pub fn filtered(&self, mut keep: impl FnMut(&str) -> bool) -> Labels {
        Labels(self.0.iter().filter(|l| keep(&l.name)).cloned().collect())
    }

    /// The set without its metric name.
    pub fn without_metric_name(&self) -> Labels {
        if self.metric_name().is_none() {
            return self.clone();
        }
        self.filtered(|name| name != METRIC_NAME)
    }
}

impl fmt::Display for Labels {
    /// Writes the set as Prometheus prints series: `name{a="1", b="2"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.metric_name().unwrap_or("");
        f.write_str(name)?;
        let mut first = true;
        for label in self.0.iter().filter(|l| l.name != METRIC_NAME) {
            f.write_str(if first { "{" } else { ", " })?;
            first = false;
            write!(f, "{}=\"", label.name)?;
            for c in label.value.chars() {
                match c {
                    '\\' => f.write_str("\\\\")?,
                    '"' => f.write_str("\\\"")?,
                    '\n' => f.write_str("\\n")?,
                    c => write!(f, "{c}")?,
                }
            }
            f.write_str("\"")?;
        }
        if !first {
            f.write_str("}")?;
        } else if name.is_empty() {
            f.write_str("{}")?;
        }
        Ok(())
    }
}

impl serde::Serialize for Labels {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for label in &self.0 {
            map.serialize_entry(&label.name, &label.value)?;
        }
        map.end()
    }
}

impl<'de> serde::Deserialize<'de> for Labels {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = std::collections::BTreeMap::<String, String>::deserialize(deserializer)?;
        Ok(Labels::from_pairs(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_pairs_sorts_dedups_and_drops_empty() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[], "{}"),
            (&[("__name__", "up")], "up"),
            (&[("job", "a"), ("__name__", "up")], "up{job=\"a\"}"),
            (&[("b", "2"), ("a", "1"), ("a", "3")], "{a=\"3\", b=\"2\"}"),
            (&[("a", ""), ("__name__", "x")], "x"),
            (&[("a", "q\"\\\n")], "{a=\"q\\\"\\\\\\n\"}"),
        ];
        for (pairs, want) in cases {
            let labels = Labels::from_pairs(pairs.iter().copied());
            assert_eq!(labels.to_string(), *want, "pairs {pairs:?}");
        }
    }

    #[test]
    fn get_finds_by_name() {
        let labels = Labels::from_pairs([("job", "vigil"), ("__name__", "up")]);
        assert_eq!(labels.get("job"), Some("vigil"));
        assert_eq!(labels.metric_name(), Some("up"));
        assert_eq!(labels.get("instance"), None);
    }

    #[test]
    fn json_round_trip() {
        let labels = Labels::from_pairs([("job", "vigil"), ("__name__", "up")]);
        let json = serde_json::to_string(&labels).unwrap();
        assert_eq!(json, r#"{"__name__":"up","job":"vigil"}"#);
        let back: Labels = serde_json::from_str(&json).unwrap();
        assert_eq!(back, labels);
    }
}
