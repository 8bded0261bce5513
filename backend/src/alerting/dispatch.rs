//! Dispatch: alerts into aggregation groups along the route tree, and the
//! groups' flush timing, as Alertmanager's `dispatch` package.
//!
//! A pure structure driven with explicit times (the runtime passes its
//! clock's `now`), so `group_wait`, `group_interval` and friends are tested
//! without sleeping:
//!
//! * An alert goes to every route [`Route::match_routes`] returns; within a
//!   route, to the group named by its `group_by` labels (the group key is
//!   `<route key>:<group labels>`).
//! * A new group first flushes `group_wait` after it was created, or at
//!   once if an alert in it started more than `group_wait` ago (Prometheus
//!   resending after a restart must not wait again); then every
//!   `group_interval`.
//! * A flush hands over all the group's alerts, firing ones with `endsAt`
//!   cleared; after a successful notification the resolved ones are
//!   deleted unless they changed meanwhile. Empty groups go away.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::config::Route;

/// An alert as Alertmanager keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmAlert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at_ms: i64,
    /// 0 = unset (only in flushed copies of firing alerts).
    pub ends_at_ms: i64,
    pub generator_url: String,
    pub updated_at_ms: i64,
    /// `endsAt` was not given but set from `resolve_timeout`.
    pub timeout: bool,
}

/// Prometheus's label-set fingerprint: FNV-1a 64 over the sorted names and
/// values, each followed by 0xff. Alertmanager shows it as 16 hex digits.
pub fn fingerprint(labels: &BTreeMap<String, String>) -> u64 {
    const OFFSET: u64 = 14_695_981_039_346_656_037;
    const PRIME: u64 = 1_099_511_628_211;
    let mut hash = OFFSET;
    let mut add = |bytes: &[u8]| {
        for &b in bytes {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(PRIME);
        }
    };
    for (name, value) in labels {
        add(name.as_bytes());
        add(&[0xff]);
        add(value.as_bytes());
        add(&[0xff]);
    }
    hash
}

impl AmAlert {
    pub fn fingerprint(&self) -> u64 {
        fingerprint(&self.labels)
    }

    /// Resolved as of `now_ms`: it has an end and that end is not after now.
    pub fn resolved_at(&self, now_ms: i64) -> bool {
        self.ends_at_ms != 0 && self.ends_at_ms <= now_ms
    }

    /// Alertmanager's `Alert.Merge`: `newer` is the alert received later
    /// for the same labels; the earliest start wins, and an explicit end
    /// beats one set from the resolve timeout.
    pub fn merge(&self, newer: &AmAlert, now_ms: i64) -> AmAlert {
        let (old, young) = if newer.updated_at_ms < self.updated_at_ms { (newer, self) } else { (self, newer) };
        let mut out = young.clone();
        out.starts_at_ms = out.starts_at_ms.min(old.starts_at_ms);
        if young.resolved_at(now_ms) {
            if old.resolved_at(now_ms) && old.ends_at_ms > young.ends_at_ms {
                out.ends_at_ms = old.ends_at_ms;
            }
        } else if old.ends_at_ms > young.ends_at_ms && !old.timeout {
            out.ends_at_ms = old.ends_at_ms;
        }
        out
    }
}

/// Alertmanager's `AlertSlice` order: by `job`, then `instance` (alerts
/// having them first), then by label set.
pub fn compare_alerts(a: &AmAlert, b: &AmAlert) -> Ordering {
    for key in ["job", "instance"] {
        match (a.labels.get(key), b.labels.get(key)) {
            (None, None) => continue,
            (None, Some(_)) => return Ordering::Greater,
            (Some(_), None) => return Ordering::Less,
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => {}
        }
    }
    labels_before(&a.labels, &b.labels)
}

/// Prometheus's `LabelSet.Before` as an ordering: fewer labels first, then
/// the first differing label in name order.
fn labels_before(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Ordering {
    if a.len() != b.len() {
        return a.len().cmp(&b.len());
    }
    let mut names: Vec<&String> = a.keys().chain(b.keys()).collect();
    names.sort();
    for name in names {
        match (a.get(name), b.get(name)) {
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => {}
        }
    }
    Ordering::Equal
}

/// Go's `%q` of a string, as `LabelSet.String` prints values.
fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Prometheus's `LabelSet.String`: `{a="1", b="2"}`.
pub fn format_label_set(labels: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={}", go_quote(v))).collect();
    format!("{{{}}}", parts.join(", "))
}

/// What one group flush hands to the notification pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Flush {
    pub group_key: String,
    pub route_id: String,
    pub receiver: String,
    pub group_labels: BTreeMap<String, String>,
    /// Sorted; firing alerts have `ends_at_ms` 0.
    pub alerts: Vec<AmAlert>,
    pub repeat_interval_ms: i64,
    /// The flush time: the pipeline's `now`.
    pub now_ms: i64,
    /// How long notifying may take before the next flush.
    pub timeout_ms: i64,
    /// The route's time intervals muting it, and those outside of which it is muted.
    pub mute_time_intervals: Vec<String>,
    pub active_time_intervals: Vec<String>,
}

/// What the API shows of an aggregation group.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupView {
    pub key: String,
    pub receiver: String,
    pub labels: BTreeMap<String, String>,
    pub alerts: Vec<AmAlert>,
}

#[derive(Debug)]
struct Group {
    route_id: String,
    receiver: String,
    group_key: String,
    labels: BTreeMap<String, String>,
    alerts: BTreeMap<u64, AmAlert>,
    next_flush_ms: i64,
    has_flushed: bool,
    group_wait_ms: i64,
    group_interval_ms: i64,
    repeat_interval_ms: i64,
    mute_time_intervals: Vec<String>,
    active_time_intervals: Vec<String>,
}

/// The aggregation groups of one route tree.
#[derive(Debug)]
pub struct Dispatcher {
    route: Route,
    /// By (route id, group labels).
    groups: BTreeMap<(String, String), Group>,
}

fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Dispatcher {
    pub fn new(route: Route) -> Dispatcher {
        Dispatcher { route, groups: BTreeMap::new() }
    }

    /// Routes an alert (already merged with what was known) into its groups.
    pub fn insert(&mut self, alert: &AmAlert, now_ms: i64) {
        let routes = self.route.match_routes(&alert.labels);
        for route in routes {
            let labels = route.group_labels(&alert.labels);
            let printed = format_label_set(&labels);
            let group = self.groups.entry((route.id.clone(), printed.clone())).or_insert_with(|| Group {
                route_id: route.id.clone(),
                receiver: route.receiver.clone(),
                group_key: format!("{}:{printed}", route.key),
                labels,
                alerts: BTreeMap::new(),
                next_flush_ms: now_ms + ms(route.group_wait),
                has_flushed: false,
                group_wait_ms: ms(route.group_wait),
                group_interval_ms: ms(route.group_interval),
                repeat_interval_ms: ms(route.repeat_interval),
                mute_time_intervals: route.mute_time_intervals.clone(),
                active_time_intervals: route.active_time_intervals.clone(),
            });
            group.alerts.insert(alert.fingerprint(), alert.clone());
            if !group.has_flushed && alert.starts_at_ms + group.group_wait_ms < now_ms {
                group.next_flush_ms = now_ms;
            }
        }
    }

    /// When the next group is due, if any.
    pub fn next_flush_ms(&self) -> Option<i64> {
        self.groups.values().map(|g| g.next_flush_ms).min()
    }

    /// The flushes due at `now_ms`; each group's next is a group_interval on.
    pub fn due(&mut self, now_ms: i64) -> Vec<Flush> {
        let mut out = Vec::new();
        let mut empty = Vec::new();
        for (key, group) in &mut self.groups {
            if group.next_flush_ms > now_ms {
                continue;
            }
            if group.alerts.is_empty() {
                empty.push(key.clone());
                continue;
            }
            group.next_flush_ms = now_ms + group.group_interval_ms;
            group.has_flushed = true;
            let mut alerts: Vec<AmAlert> = group
                .alerts
                .values()
                .map(|a| {
                    let mut a = a.clone();
                    if !a.resolved_at(now_ms) {
                        a.ends_at_ms = 0;
                    }
                    a
                })
                .collect();
            alerts.sort_by(compare_alerts);
            out.push(Flush {
                group_key: group.group_key.clone(),
                route_id: group.route_id.clone(),
                receiver: group.receiver.clone(),
                group_labels: group.labels.clone(),
                alerts,
                repeat_interval_ms: group.repeat_interval_ms,
                now_ms,
                timeout_ms: group.group_interval_ms,
                mute_time_intervals: group.mute_time_intervals.clone(),
                active_time_intervals: group.active_time_intervals.clone(),
            });
        }
        for key in empty {
            self.groups.remove(&key);
        }
        out
    }

    /// After a flush was notified successfully: deletes its resolved alerts
    /// from the group, unless they were updated since.
    pub fn flushed(&mut self, flush: &Flush) {
        let printed = format_label_set(&flush.group_labels);
        let Some(group) = self.groups.get_mut(&(flush.route_id.clone(), printed)) else { return };
        for sent in flush.alerts.iter().filter(|a| a.resolved_at(flush.now_ms)) {
            let fp = sent.fingerprint();
            if group.alerts.get(&fp).is_some_and(|a| a.updated_at_ms == sent.updated_at_ms) {
                group.alerts.remove(&fp);
            }
        }
    }

    /// Every group, for `/api/v2/alerts/groups`.
    pub fn groups(&self) -> Vec<GroupView> {
        self.groups
            .values()
            .map(|g| GroupView {
                key: g.group_key.clone(),
                receiver: g.receiver.clone(),
                labels: g.labels.clone(),
                alerts: g.alerts.values().cloned().collect(),
            })
            .collect()
    }

    /// Takes over the groups of a dispatcher whose route tree was replaced:
    /// their alerts are routed anew (as Alertmanager's reload does, which
    /// rebuilds the dispatcher and re-inserts every alert).
    pub fn alerts(&self) -> Vec<AmAlert> {
        let mut out: BTreeMap<u64, AmAlert> = BTreeMap::new();
        for g in self.groups.values() {
            for (fp, a) in &g.alerts {
                out.insert(*fp, a.clone());
            }
        }
        out.into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::config::AmConfig;
    use std::path::Path;

    fn alert(pairs: &[(&str, &str)], starts: i64, ends: i64, updated: i64) -> AmAlert {
        AmAlert {
            labels: pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            annotations: BTreeMap::new(),
            starts_at_ms: starts,
            ends_at_ms: ends,
            generator_url: String::new(),
            updated_at_ms: updated,
            timeout: false,
        }
    }

    fn dispatcher(route: &str) -> Dispatcher {
        let text = format!("route:\n{route}\nreceivers:\n  - name: r\n  - name: s\n");
        Dispatcher::new(AmConfig::parse(&text, Path::new("am.yml")).unwrap().route)
    }

    #[test]
    fn fingerprints_and_group_keys_match_alertmanager() {
        // Values from Prometheus's model tests / Alertmanager's API output.
        assert_eq!(fingerprint(&BTreeMap::new()), 14_695_981_039_346_656_037);
        let labels: BTreeMap<String, String> =
            [("alertname", "VigilTestAlert")].iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        assert_eq!(format_label_set(&labels), r#"{alertname="VigilTestAlert"}"#);
        let mut d = dispatcher("  receiver: r\n  group_by: [alertname, job]");
        d.insert(&alert(&[("alertname", "A"), ("job", "x\"y"), ("i", "1")], 0, 100_000, 0), 0);
        let flushes = d.due(30_000);
        assert_eq!(flushes[0].group_key, r#"{}:{alertname="A", job="x\"y"}"#);
    }

    /// A timeline with group_wait 30s, group_interval 5m: which groups flush
    /// when, with which alerts.
    #[test]
    fn group_wait_and_group_interval_follow_alertmanager() {
        let mut d = dispatcher("  receiver: r\n  group_by: [alertname]\n  group_wait: 30s\n  group_interval: 5m");
        let end = 10_000_000;
        d.insert(&alert(&[("alertname", "A"), ("instance", "1")], 1000, end, 1000), 1000);
        assert_eq!(d.next_flush_ms(), Some(31_000));
        assert!(d.due(30_999).is_empty(), "group_wait not over");
        // A second alert in the same group waits with the first.
        d.insert(&alert(&[("alertname", "A"), ("instance", "2")], 20_000, end, 20_000), 20_000);
        let flushes = d.due(31_000);
        assert_eq!(flushes.len(), 1);
        let instances: Vec<&str> = flushes[0].alerts.iter().map(|a| a.labels["instance"].as_str()).collect();
        assert_eq!(instances, ["1", "2"]);
        assert_eq!(flushes[0].alerts[0].ends_at_ms, 0, "firing alerts go out without an end");
        // The next flush is a group_interval later, not a group_wait.
        d.insert(&alert(&[("alertname", "A"), ("instance", "3")], 40_000, end, 40_000), 40_000);
        assert!(d.due(330_999).is_empty());
        assert_eq!(d.due(331_000)[0].alerts.len(), 3);
        // An alert that started long ago (a restart of Prometheus) makes a
        // new group flush at once.
        d.insert(&alert(&[("alertname", "B")], 0, end, 400_000), 400_000);
        let flushes = d.due(400_000);
        assert_eq!(flushes.len(), 1);
        assert_eq!(flushes[0].group_key, r#"{}:{alertname="B"}"#);
    }

    #[test]
    fn resolved_alerts_leave_after_a_successful_flush_unless_updated() {
        let mut d = dispatcher("  receiver: r\n  group_wait: 0s\n  group_interval: 1m");
        d.insert(&alert(&[("alertname", "A")], 0, 5000, 1000), 1000);
        d.insert(&alert(&[("alertname", "B")], 0, 5000, 1000), 1000);
        let flush = d.due(10_000).remove(0);
        assert!(flush.alerts.iter().all(|a| a.resolved_at(10_000)));
        // B fires again while the notification is in flight.
        d.insert(&alert(&[("alertname", "B")], 0, 500_000, 11_000), 11_000);
        d.flushed(&flush);
        let names: Vec<String> = d.alerts().iter().map(|a| a.labels["alertname"].clone()).collect();
        assert_eq!(names, ["B"]);
        // Once empty, a group disappears at its next flush time.
        d.insert(&alert(&[("alertname", "B")], 0, 20_000, 12_000), 12_000);
        let flush = d.due(70_000).remove(0);
        d.flushed(&flush);
        assert!(d.due(130_000).is_empty());
        assert_eq!(d.next_flush_ms(), None);
    }

    #[test]
    fn group_by_all_and_continue_fan_out() {
        let mut d = dispatcher(
            "  receiver: r\n  group_wait: 0s\n  routes:\n    - matchers: [team=a]\n      group_by: ['...']\n      continue: true\n    - receiver: s\n      matchers: [team=a]",
        );
        d.insert(&alert(&[("alertname", "X"), ("team", "a"), ("i", "1")], 0, 1_000_000, 0), 0);
        d.insert(&alert(&[("alertname", "X"), ("team", "a"), ("i", "2")], 0, 1_000_000, 0), 0);
        let mut got: Vec<(String, String, usize)> =
            d.due(0).into_iter().map(|f| (f.receiver, f.group_key, f.alerts.len())).collect();
        got.sort();
        assert_eq!(
            got,
            [
                ("r".to_owned(), r#"{}/{team="a"}:{alertname="X", i="1", team="a"}"#.to_owned(), 1),
                ("r".to_owned(), r#"{}/{team="a"}:{alertname="X", i="2", team="a"}"#.to_owned(), 1),
                ("s".to_owned(), r#"{}/{team="a"}:{}"#.to_owned(), 2),
            ]
        );
    }

    #[test]
    fn merging_keeps_the_earliest_start_and_explicit_ends() {
        let now = 100_000;
        let old = alert(&[("a", "1")], 1000, 200_000, 10_000);
        let mut timeout = alert(&[("a", "1")], 5000, 150_000, 20_000);
        timeout.timeout = true;
        let merged = old.merge(&timeout, now);
        assert_eq!((merged.starts_at_ms, merged.ends_at_ms), (1000, 200_000), "explicit end kept");
        let resolved = alert(&[("a", "1")], 5000, 50_000, 30_000);
        let merged = old.merge(&resolved, now);
        assert_eq!((merged.starts_at_ms, merged.ends_at_ms), (1000, 50_000), "a resolution wins");
    }
}
