//! The alert state machine of one alerting rule, as a pure structure driven
//! with explicit timestamps (Prometheus's `AlertingRule.Eval` after the
//! query, and `RestoreForState`), so `for` and `keep_firing_for` are tested
//! without waiting.
//!
//! An alert is *pending* from the first evaluation its label set is in the
//! rule's result, *firing* once it has been there for the rule's `for`
//! duration, and *inactive* (resolved) when it leaves the result, unless it
//! was firing and `keep_firing_for` has not run out. Pending alerts that
//! leave are forgotten at once; resolved ones are kept 15 minutes (as
//! Prometheus keeps them to resend the resolution).

use std::collections::{BTreeMap, HashMap};

use vigil_shared::model::Labels;

/// How long a resolved alert is kept.
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertState {
    Inactive,
    Pending,
    Firing,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert instance: a label set of the rule's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub labels: Labels,
    pub annotations: BTreeMap<String, String>,
    pub state: AlertState,
    /// The expression's value at the last evaluation.
    pub value: f64,
    /// When the condition started to hold (milliseconds).
    pub active_at_ms: i64,
    pub fired_at_ms: Option<i64>,
    pub resolved_at_ms: Option<i64>,
    pub keep_firing_since_ms: Option<i64>,
    /// When it was last handed to the notifier.
    pub last_sent_at_ms: Option<i64>,
    /// The `endsAt` a firing alert is sent with: how long Alertmanager may
    /// consider it firing without hearing again.
    pub valid_until_ms: i64,
}

impl Alert {
    /// Prometheus's `needsSending`: firing or resolved alerts, when resolved
    /// since last sent or not sent for longer than `resend_delay_ms`.
    fn needs_sending(&self, ts_ms: i64, resend_delay_ms: i64) -> bool {
        if self.state == AlertState::Pending {
            return false;
        }
        let Some(last_sent) = self.last_sent_at_ms else { return true };
        if self.resolved_at_ms.is_some_and(|r| r > last_sent) {
            return true;
        }
        last_sent + resend_delay_ms < ts_ms
    }
}

/// An element of the rule's result after labels and templates: the input of
/// one evaluation step.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub labels: Labels,
    pub annotations: BTreeMap<String, String>,
    pub value: f64,
}

/// The alerts of one rule, keyed by their labels.
#[derive(Debug, Clone, Default)]
pub struct AlertSet {
    active: HashMap<Labels, Alert>,
}

impl AlertSet {
    /// Applies one evaluation at `ts_ms` whose result is `candidates` (label
    /// sets already unique). Returns the alerts to write as `ALERTS` series:
    /// those pending or firing now. With `limit` > 0, more than `limit` of
    /// them is an error and forgets every alert, as in Prometheus.
    pub fn update(
        &mut self,
        ts_ms: i64,
        candidates: Vec<Candidate>,
        hold_ms: i64,
        keep_firing_for_ms: i64,
        limit: usize,
    ) -> Result<Vec<Alert>, String> {
        let mut in_result = std::collections::HashSet::with_capacity(candidates.len());
        for c in candidates {
            in_result.insert(c.labels.clone());
            match self.active.get_mut(&c.labels) {
                Some(alert) if alert.state != AlertState::Inactive => {
                    alert.value = c.value;
                    alert.annotations = c.annotations;
                }
                _ => {
                    self.active.insert(
                        c.labels.clone(),
                        Alert {
                            labels: c.labels,
                            annotations: c.annotations,
                            state: AlertState::Pending,
                            value: c.value,
                            active_at_ms: ts_ms,
                            fired_at_ms: None,
                            resolved_at_ms: None,
                            keep_firing_since_ms: None,
                            last_sent_at_ms: None,
                            valid_until_ms: 0,
                        },
                    );
                }
            }
        }
        let mut out = Vec::new();
        let mut remove = Vec::new();
        for (key, alert) in self.active.iter_mut() {
            if !in_result.contains(key) {
                let mut keep_firing = false;
                if alert.state == AlertState::Firing && keep_firing_for_ms > 0 {
                    let since = *alert.keep_firing_since_ms.get_or_insert(ts_ms);
                    keep_firing = ts_ms - since < keep_firing_for_ms;
                }
                if alert.state == AlertState::Pending
                    || alert.resolved_at_ms.is_some_and(|r| ts_ms - r > RESOLVED_RETENTION_MS)
                {
                    remove.push(key.clone());
                }
                if alert.state != AlertState::Inactive && !keep_firing {
                    alert.state = AlertState::Inactive;
                    alert.resolved_at_ms = Some(ts_ms);
                }
                if !keep_firing {
                    continue;
                }
            } else {
                alert.keep_firing_since_ms = None;
            }
            if alert.state == AlertState::Pending && ts_ms - alert.active_at_ms >= hold_ms {
                alert.state = AlertState::Firing;
                alert.fired_at_ms = Some(ts_ms);
            }
            // A longer `for` after a reload sends a firing alert back to pending.
            if alert.state == AlertState::Firing && ts_ms - alert.active_at_ms < hold_ms {
                alert.state = AlertState::Pending;
                alert.fired_at_ms = None;
                alert.keep_firing_since_ms = None;
            }
            out.push(alert.clone());
        }
        for key in remove {
            self.active.remove(&key);
        }
        if limit > 0 && out.len() > limit {
            self.active.clear();
            return Err(format!("exceeded limit of {limit} with {} alerts", out.len()));
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }

    /// Pending and firing alerts (not the resolved ones kept for a while),
    /// sorted by labels.
    pub fn active(&self) -> Vec<Alert> {
        let mut out: Vec<Alert> = self.active.values().filter(|a| a.resolved_at_ms.is_none()).cloned().collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    /// The highest state of any alert (inactive when there are none).
    pub fn state(&self) -> AlertState {
        self.active.values().map(|a| a.state).max().unwrap_or(AlertState::Inactive)
    }

    pub fn len(&self) -> usize {
        self.active.len()
    }

    pub fn is_empty(&self) -> bool {
        self.active.is_empty()
    }

    /// Prometheus's `sendAlerts`: the firing and resolved alerts due to be
    /// sent at `ts_ms` (never sent, resolved since last sent, or last sent
    /// more than `resend_delay_ms` ago), marked sent. A firing alert is valid
    /// until four resend delays or evaluation intervals (the longer) from
    /// now, so Alertmanager resolves it by itself only after two missed
    /// evaluations or sends.
    pub fn due_for_sending(&mut self, ts_ms: i64, resend_delay_ms: i64, interval_ms: i64) -> Vec<Alert> {
        let mut out = Vec::new();
        for alert in self.active.values_mut() {
            if alert.needs_sending(ts_ms, resend_delay_ms) {
                alert.last_sent_at_ms = Some(ts_ms);
                alert.valid_until_ms = ts_ms + 4 * resend_delay_ms.max(interval_ms);
                out.push(alert.clone());
            }
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    /// Takes over another set's alerts (a reloaded, changed rule keeps the
    /// state of the rule it replaces).
    pub fn absorb(&mut self, other: AlertSet) {
        self.active.extend(other.active);
    }

    /// Prometheus's `RestoreForState` for one rule, at `now_ms`, after a
    /// restart. `last_for_state` gives, for an alert's labels, the last
    /// `ALERTS_FOR_STATE` sample within the outage tolerance: its time and
    /// value (the alert's active-since, in seconds), or None.
    pub fn restore(
        &mut self,
        now_ms: i64,
        hold_ms: i64,
        grace_ms: i64,
        mut last_for_state: impl FnMut(&Labels) -> Option<(i64, f64)>,
    ) {
        for alert in self.active.values_mut() {
            let Some((t_ms, v)) = last_for_state(&alert.labels) else { continue };
            if crate::tsdb::is_stale_marker(v) {
                continue;
            }
            let down_at_ms = t_ms.div_euclid(1000) * 1000;
            let mut restored_active_at_ms = (v as i64) * 1000;
            let time_spent_pending = down_at_ms - restored_active_at_ms;
            let remaining = hold_ms - time_spent_pending;
            if remaining <= 0 {
                // It was firing when the server went down: it fires again at
                // the next evaluation if its condition still holds.
            } else if remaining < grace_ms {
                restored_active_at_ms = now_ms + grace_ms - hold_ms;
            } else {
                restored_active_at_ms += now_ms - down_at_ms;
            }
            alert.active_at_ms = restored_active_at_ms;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(instance: &str) -> Candidate {
        Candidate {
            labels: Labels::from_pairs([("alertname", "Down"), ("instance", instance)]),
            annotations: BTreeMap::new(),
            value: 1.0,
        }
    }

    /// Evaluations at explicit times: which instances are in the result,
    /// and the expected (instance, state) written as `ALERTS`.
    #[allow(clippy::type_complexity)]
    fn run(hold_ms: i64, keep_ms: i64, steps: &[(i64, &[&str], &[(&str, AlertState)])]) {
        let mut set = AlertSet::default();
        for (ts, present, want) in steps {
            let out = set.update(*ts, present.iter().map(|i| candidate(i)).collect(), hold_ms, keep_ms, 0).unwrap();
            let got: Vec<(String, AlertState)> =
                out.iter().map(|a| (a.labels.get("instance").unwrap_or("").to_owned(), a.state)).collect();
            let want: Vec<(String, AlertState)> = want.iter().map(|(i, s)| ((*i).to_owned(), *s)).collect();
            assert_eq!(got, want, "at {ts}");
        }
    }

    use AlertState::*;

    #[test]
    fn pending_then_firing_after_for() {
        run(
            2000,
            0,
            &[
                (0, &["a"], &[("a", Pending)]),
                (1000, &["a"], &[("a", Pending)]),
                (2000, &["a", "b"], &[("a", Firing), ("b", Pending)]),
                (3000, &["a"], &[("a", Firing)]),
                (4000, &[], &[]),
                (5000, &["a"], &[("a", Pending)]),
            ],
        );
    }

    #[test]
    fn zero_for_fires_at_once() {
        run(0, 0, &[(0, &["a"], &[("a", Firing)]), (1000, &[], &[])]);
    }

    #[test]
    fn keep_firing_for_holds_a_resolved_alert() {
        run(
            0,
            2500,
            &[
                (0, &["a"], &[("a", Firing)]),
                (1000, &[], &[("a", Firing)]),
                (2000, &[], &[("a", Firing)]),
                (3000, &[], &[("a", Firing)]),
                (4000, &[], &[]),
            ],
        );
        // Coming back resets the keep-firing clock.
        run(
            0,
            1500,
            &[
                (0, &["a"], &[("a", Firing)]),
                (1000, &[], &[("a", Firing)]),
                (2000, &["a"], &[("a", Firing)]),
                (3000, &[], &[("a", Firing)]),
                (4000, &[], &[("a", Firing)]),
                (5000, &[], &[]),
            ],
        );
        // Pending alerts are not kept.
        run(5000, 10_000, &[(0, &["a"], &[("a", Pending)]), (1000, &[], &[])]);
    }

    #[test]
    fn resolved_alerts_are_kept_fifteen_minutes_then_forgotten() {
        let mut set = AlertSet::default();
        set.update(0, vec![candidate("a")], 0, 0, 0).unwrap();
        set.update(1000, vec![], 0, 0, 0).unwrap();
        assert_eq!((set.len(), set.active().len(), set.state()), (1, 0, Inactive));
        set.update(1000 + RESOLVED_RETENTION_MS, vec![], 0, 0, 0).unwrap();
        assert_eq!(set.len(), 1);
        set.update(1001 + RESOLVED_RETENTION_MS, vec![], 0, 0, 0).unwrap();
        assert!(set.is_empty());
    }

    #[test]
    fn limit_fails_and_forgets() {
        let mut set = AlertSet::default();
        let err = set.update(0, vec![candidate("a"), candidate("b")], 0, 0, 1).unwrap_err();
        assert_eq!(err, "exceeded limit of 1 with 2 alerts");
        assert!(set.is_empty());
    }

    /// Evaluations every 10 s with a 60 s resend delay: (time, instances in
    /// the result, expected (instance, resolved?, valid until) sent).
    #[test]
    fn sending_follows_prometheus_resend_semantics() {
        let resend = 60_000;
        let interval = 10_000;
        let mut set = AlertSet::default();
        #[allow(clippy::type_complexity)]
        let steps: &[(i64, &[&str], &[(&str, bool, i64)])] = &[
            // Pending alerts are never sent.
            (0, &["a"], &[]),
            // Firing: sent at once, valid for 4 × max(resend, interval).
            (20_000, &["a"], &[("a", false, 20_000 + 240_000)]),
            (30_000, &["a", "b"], &[]),
            // b fires (for is 20 s): sent at once.
            (50_000, &["a", "b"], &[("b", false, 290_000)]),
            // Exactly one resend delay later is not yet "after".
            (80_000, &["a", "b"], &[]),
            (90_000, &["a", "b"], &[("a", false, 330_000)]),
            // b resolves: sent at once with its resolution.
            (100_000, &["a"], &[("b", true, 340_000)]),
            (110_000, &["a"], &[]),
            // The resolved alert is resent every resend delay while kept.
            (170_000, &["a"], &[("a", false, 410_000), ("b", true, 410_000)]),
        ];
        for (ts, present, want) in steps {
            set.update(*ts, present.iter().map(|i| candidate(i)).collect(), 20_000, 0, 0).unwrap();
            let sent = set.due_for_sending(*ts, resend, interval);
            let got: Vec<(String, bool, i64)> = sent
                .iter()
                .map(|a| {
                    (a.labels.get("instance").unwrap_or("").to_owned(), a.resolved_at_ms.is_some(), a.valid_until_ms)
                })
                .collect();
            let want: Vec<(String, bool, i64)> = want.iter().map(|(i, r, v)| ((*i).to_owned(), *r, *v)).collect();
            assert_eq!(got, want, "at {ts}");
        }
        // A long evaluation interval stretches the validity instead.
        let mut set = AlertSet::default();
        set.update(0, vec![candidate("a")], 0, 0, 0).unwrap();
        assert_eq!(set.due_for_sending(0, resend, 120_000)[0].valid_until_ms, 480_000);
    }

    #[test]
    fn restore_for_state_follows_prometheus() {
        let hold = 30 * 60_000;
        let grace = 10 * 60_000;
        let now = 10_000_000_000;
        // (went down at, active since, expected active_at)
        let cases = [
            // Was firing: unchanged.
            (now - 60_000, (now - 40 * 60_000) / 1000, now - 40 * 60_000),
            // 5 minutes left: less than the grace period, so it fires after the grace period.
            (now - 60_000, (now - 60_000 - 25 * 60_000) / 1000, now + grace - hold),
            // 20 minutes left: shifted by the downtime.
            (now - 60_000, (now - 60_000 - 10 * 60_000) / 1000, now - 10 * 60_000),
        ];
        for (down_at, since_s, want) in cases {
            let mut set = AlertSet::default();
            set.update(now, vec![candidate("a")], hold, 0, 0).unwrap();
            set.restore(now, hold, grace, |_| Some((down_at, since_s as f64)));
            assert_eq!(set.active()[0].active_at_ms, want, "down at {down_at}, since {since_s}");
        }
        let mut set = AlertSet::default();
        set.update(now, vec![candidate("a")], hold, 0, 0).unwrap();
        set.restore(now, hold, grace, |_| Some((now - 1000, f64::from_bits(crate::tsdb::STALE_NAN_BITS))));
        assert_eq!(set.active()[0].active_at_ms, now, "a stale marker means it was not active");
    }
}
