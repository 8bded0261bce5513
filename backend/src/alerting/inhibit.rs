//! Inhibition: a firing alert matching a rule's source side mutes alerts
//! matching its target side that carry the same values of the `equal`
//! labels (Alertmanager's `inhibit.Inhibitor.Mutes`). An alert matching
//! both sides is not muted by alerts that also match both, so a rule cannot
//! make a set of alerts mute each other.

use std::collections::BTreeMap;

use super::config::InhibitRule;
use super::dispatch::AmAlert;
use super::matchers::all_match;

/// Whether `target` is inhibited at `now_ms` by any of `alerts`.
pub fn is_inhibited(rules: &[InhibitRule], alerts: &[AmAlert], target: &BTreeMap<String, String>, now_ms: i64) -> bool {
    rules.iter().any(|rule| {
        if !all_match(&rule.target, target) {
            return false;
        }
        let two_sided = all_match(&rule.source, target);
        alerts.iter().any(|source| {
            !source.resolved_at(now_ms)
                && all_match(&rule.source, &source.labels)
                && !(two_sided && all_match(&rule.target, &source.labels))
                && rule.equal.iter().all(|l| source.labels.get(l) == target.get(l))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::config::AmConfig;
    use std::path::Path;

    fn alert(pairs: &[(&str, &str)], ends: i64) -> AmAlert {
        AmAlert {
            labels: pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            annotations: BTreeMap::new(),
            starts_at_ms: 0,
            ends_at_ms: ends,
            generator_url: String::new(),
            updated_at_ms: 0,
            timeout: false,
        }
    }

    #[test]
    fn inhibition_follows_alertmanager() {
        let config = AmConfig::parse(
            "route: {receiver: r}\nreceivers: [{name: r}]\ninhibit_rules:\n  - source_matchers: [severity=critical]\n    target_matchers: ['severity=~warning|critical']\n    equal: [cluster]\n",
            Path::new("am.yml"),
        )
        .unwrap();
        let rules = &config.inhibit_rules;
        let now = 1000;
        let sources = [
            alert(&[("severity", "critical"), ("cluster", "a")], 5000),
            alert(&[("severity", "critical"), ("cluster", "b")], 500),
        ];
        let labels = |pairs: &[(&str, &str)]| alert(pairs, 0).labels;
        let cases = [
            (labels(&[("severity", "warning"), ("cluster", "a")]), true),
            // The only source in cluster b resolved already.
            (labels(&[("severity", "warning"), ("cluster", "b")]), false),
            (labels(&[("severity", "warning")]), false),
            (labels(&[("severity", "info"), ("cluster", "a")]), false),
            // Matches both sides: not muted by an alert matching both too.
            (labels(&[("severity", "critical"), ("cluster", "a")]), false),
        ];
        for (target, want) in cases {
            assert_eq!(is_inhibited(rules, &sources, &target, now), want, "{target:?}");
        }
    }
}
