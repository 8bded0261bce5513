//! The rule manager: loads rule files, runs one task per group on its
//! interval, evaluates the group's rules in order at one timestamp, writes
//! recorded series and `ALERTS`/`ALERTS_FOR_STATE`, and keeps the state the
//! API shows.
//!
//! Follows Prometheus's `rules/manager.go` and `group.go`:
//!
//! * A group evaluates at `base + offset + k·interval`, where the offset is
//!   a hash of the group's file and name modulo the interval, so groups do
//!   not all fire at once and a group keeps its slot across restarts.
//! * Recorded series and alerts that disappear get a staleness marker; so
//!   do the series of groups removed by a reload (two intervals later, so a
//!   renamed group can take them over first).
//! * A reload that finds any invalid file changes nothing. Groups that did
//!   not change keep running untouched; changed ones restart with the state
//!   (alerts, series for staleness) of their rules matched by name and labels.
//! * On the first load, the `for` state of alerts is restored from
//!   `ALERTS_FOR_STATE` after the second evaluation (`RestoreForState`).
//!
//! PromQL runs on the blocking thread pool, never on the async runtime.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use vigil_shared::model::Labels;
use vigil_shared::promql::{MatchOp, Matcher};

use super::alert::{Alert, AlertSet, AlertState, Candidate};
use super::file::{GroupDef, RuleDef, RuleFile, RuleKind};
use super::template::{AlertData, Template, TemplateSample};
use crate::notifier::{self, AlertSink};
use crate::promql::{Engine, Value};
use crate::tsdb::{STALE_NAN_BITS, Sample, Storage};

/// The manager's settings; `Default` gives Prometheus's flag defaults.
#[derive(Debug, Clone)]
pub struct RuleManagerOptions {
    /// `--rules.alert.for-outage-tolerance`.
    pub outage_tolerance: Duration,
    /// `--rules.alert.for-grace-period`.
    pub for_grace_period: Duration,
    /// `--web.external-url`, for `$externalURL` and alerts' generator URL.
    pub external_url: String,
    /// `--rules.alert.resend-delay`: how often a firing alert is sent again.
    pub resend_delay: Duration,
    /// Where firing and resolved alerts go (the notifier); None sends nothing.
    pub notifier: Option<Arc<dyn AlertSink>>,
}

impl Default for RuleManagerOptions {
    fn default() -> Self {
        RuleManagerOptions {
            outage_tolerance: Duration::from_secs(3600),
            for_grace_period: Duration::from_secs(600),
            external_url: String::new(),
            resend_delay: Duration::from_secs(60),
            notifier: None,
        }
    }
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A rule's health, as the API words it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Unknown,
    Good,
    Bad,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Good => "ok",
            Health::Bad => "err",
        }
    }
}

/// What the API shows of a rule.
#[derive(Debug, Clone)]
pub struct RuleStatus {
    pub health: Health,
    pub last_error: Option<String>,
    pub evaluation_time: Duration,
    /// Wall-clock start of the last evaluation.
    pub last_evaluation: Option<SystemTime>,
    /// Alerting rules: the highest alert state (None before the first evaluation).
    pub state: Option<AlertState>,
    pub alerts: Vec<Alert>,
}

struct RuleState {
    health: Health,
    last_error: Option<String>,
    evaluation_time: Duration,
    last_evaluation: Option<SystemTime>,
    alerts: AlertSet,
    /// `ALERTS` series are written only once the `for` state is restored.
    restored: bool,
}

/// A rule with its parsed templates and its state.
pub struct Rule {
    pub def: RuleDef,
    /// Alerting rules: label and annotation templates, parsed once.
    label_templates: Vec<(String, Template)>,
    annotation_templates: Vec<(String, Template)>,
    state: Mutex<RuleState>,
}

impl Rule {
    fn new(def: RuleDef, restored: bool) -> Rule {
        let (mut label_templates, mut annotation_templates) = (Vec::new(), Vec::new());
        if let RuleKind::Alerting { alert, annotations, .. } = &def.kind {
            let name = format!("__alert_{alert}");
            // Validated when the file loaded; a template that fails here is
            // skipped rather than taking the rule down.
            for (k, v) in &def.labels {
                if let Ok(t) = Template::parse(&name, v) {
                    label_templates.push((k.clone(), t));
                }
            }
            for (k, v) in annotations {
                if let Ok(t) = Template::parse(&name, v) {
                    annotation_templates.push((k.clone(), t));
                }
            }
        }
        Rule {
            def,
            label_templates,
            annotation_templates,
            state: Mutex::new(RuleState {
                health: Health::Unknown,
                last_error: None,
                evaluation_time: Duration::ZERO,
                last_evaluation: None,
                alerts: AlertSet::default(),
                restored,
            }),
        }
    }

    pub fn status(&self) -> RuleStatus {
        let state = lock(&self.state);
        let alerting = matches!(self.def.kind, RuleKind::Alerting { .. });
        RuleStatus {
            health: state.health,
            last_error: state.last_error.clone(),
            evaluation_time: state.evaluation_time,
            last_evaluation: state.last_evaluation,
            state: (alerting && state.last_evaluation.is_some()).then(|| state.alerts.state()),
            alerts: state.alerts.active(),
        }
    }

    /// Name and labels: how a reloaded rule finds its predecessor.
    fn identity(&self) -> String {
        format!("{}{:?}", self.def.name(), self.def.labels)
    }
}

/// What evaluation reads and writes.
#[derive(Clone)]
pub struct EvalContext {
    pub engine: Engine,
    pub storage: Arc<dyn Storage>,
    pub external_labels: BTreeMap<String, String>,
    pub external_url: String,
    pub resend_delay: Duration,
    pub notifier: Option<Arc<dyn AlertSink>>,
}

struct GroupEvalState {
    /// Per rule, the series it wrote at the last successful evaluation.
    series_in_previous_eval: Vec<HashSet<Labels>>,
    /// Series of removed rules, to mark stale at the next evaluation.
    stale_series: Vec<Labels>,
    /// Replaced or removed by a reload: evaluates no more.
    stopped: bool,
}

/// The counts behind the `prometheus_rule_*` metrics of a group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupCounters {
    /// Rule evaluations, and those that failed.
    pub evaluations: u64,
    pub failures: u64,
    /// Evaluation slots scheduled (run or missed), and those missed.
    pub iterations: u64,
    pub missed: u64,
    /// Samples written by the last evaluation.
    pub last_samples: u64,
}

#[derive(Clone, Copy, Default)]
struct GroupStats {
    evaluation_time: Duration,
    last_evaluation: Option<SystemTime>,
}

/// A group: its rules, evaluated in order, and its state.
pub struct Group {
    pub file: String,
    pub name: String,
    pub interval: Duration,
    pub limit: usize,
    pub query_offset: Duration,
    pub def: GroupDef,
    pub rules: Vec<Rule>,
    eval_state: Mutex<GroupEvalState>,
    stats: Mutex<GroupStats>,
    counters: Mutex<GroupCounters>,
}

impl Group {
    /// A group from its definition; `interval` is the global evaluation
    /// interval, used when the group has none. `restored` false makes its
    /// alerting rules wait for [`Group::restore_for_state`].
    pub fn new(file: &str, def: GroupDef, interval: Duration, restored: bool) -> Group {
        let rules: Vec<Rule> = def.rules.iter().cloned().map(|r| Rule::new(r, restored)).collect();
        Group {
            file: file.to_owned(),
            name: def.name.clone(),
            interval: def.interval.unwrap_or(interval),
            limit: def.limit,
            query_offset: def.query_offset.unwrap_or(Duration::ZERO),
            eval_state: Mutex::new(GroupEvalState {
                series_in_previous_eval: vec![HashSet::new(); rules.len()],
                stale_series: Vec::new(),
                stopped: false,
            }),
            stats: Mutex::new(GroupStats::default()),
            counters: Mutex::new(GroupCounters::default()),
            def,
            rules,
        }
    }

    pub fn counters(&self) -> GroupCounters {
        *lock(&self.counters)
    }

    pub fn evaluation_time(&self) -> Duration {
        lock(&self.stats).evaluation_time
    }

    pub fn last_evaluation(&self) -> Option<SystemTime> {
        lock(&self.stats).last_evaluation
    }

    fn interval_ms(&self) -> i64 {
        (self.interval.as_millis() as i64).max(1)
    }

    /// Prometheus's `EvalTimestamp`: the latest slot of this group at or
    /// before `now_ms`.
    pub fn eval_timestamp(&self, now_ms: i64) -> i64 {
        let interval = self.interval_ms();
        let hash = xxhash_rust::xxh64::xxh64(format!("{}\u{ff}{}", self.file, self.name).as_bytes(), 0);
        let offset = (hash % interval as u64) as i64;
        let adjusted = now_ms - offset;
        adjusted - adjusted.rem_euclid(interval) + offset
    }

    /// Takes over the state of the group this one replaces (Prometheus's
    /// `CopyState`): rules matched by name and labels, in order.
    fn copy_state(&self, from: &Group) {
        *lock(&self.stats) = *lock(&from.stats);
        let mut from_eval = lock(&from.eval_state);
        from_eval.stopped = true;
        let mut eval = lock(&self.eval_state);
        let mut by_identity: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, rule) in from.rules.iter().enumerate() {
            by_identity.entry(rule.identity()).or_default().push(i);
        }
        for (i, rule) in self.rules.iter().enumerate() {
            let Some(indexes) = by_identity.get_mut(&rule.identity()) else { continue };
            if indexes.is_empty() {
                continue;
            }
            let fi = indexes.remove(0);
            eval.series_in_previous_eval[i] = std::mem::take(&mut from_eval.series_in_previous_eval[fi]);
            let old = std::mem::take(&mut lock(&from.rules[fi].state).alerts);
            lock(&rule.state).alerts.absorb(old);
        }
        eval.stale_series = std::mem::take(&mut from_eval.stale_series);
        for indexes in by_identity.values() {
            for &fi in indexes {
                eval.stale_series.extend(from_eval.series_in_previous_eval[fi].drain());
            }
        }
    }

    /// Every series the group wrote last, for stale markers when it goes away.
    fn take_all_series(&self) -> Vec<Labels> {
        let mut eval = lock(&self.eval_state);
        eval.stopped = true;
        let mut out: Vec<Labels> = std::mem::take(&mut eval.stale_series);
        for set in &mut eval.series_in_previous_eval {
            out.extend(set.drain());
        }
        out
    }

    /// Evaluates every rule in order at `ts_ms` and writes the results.
    pub fn eval(&self, ctx: &EvalContext, ts_ms: i64) {
        let started = Instant::now();
        let wall = SystemTime::now();
        let offset_ms = self.query_offset.as_millis() as i64;
        let sample_ts = ts_ms - offset_ms;
        let mut eval_state = lock(&self.eval_state);
        if eval_state.stopped {
            return;
        }
        for (i, rule) in self.rules.iter().enumerate() {
            let rule_started = Instant::now();
            let rule_wall = SystemTime::now();
            let result = self.eval_rule(ctx, rule, ts_ms);
            {
                let mut counters = lock(&self.counters);
                counters.evaluations += 1;
                counters.failures += u64::from(result.is_err());
                if i == 0 {
                    counters.last_samples = 0;
                }
                counters.last_samples += result.as_ref().map_or(0, |s| s.len() as u64);
            }
            let mut state = lock(&rule.state);
            state.last_evaluation = Some(rule_wall);
            match result {
                Err(e) => {
                    debug!(group = %self.name, rule = %rule.def.name(), error = %e, "evaluating rule failed");
                    state.health = Health::Bad;
                    state.last_error = Some(e);
                }
                Ok(samples) => {
                    drop(state);
                    let mut app = ctx.storage.appender();
                    let mut returned = HashSet::with_capacity(samples.len());
                    for (labels, value) in samples {
                        app.append(&labels, Sample { timestamp_ms: sample_ts, value });
                        returned.insert(labels);
                    }
                    for gone in eval_state.series_in_previous_eval[i].difference(&returned) {
                        app.append(gone, Sample { timestamp_ms: sample_ts, value: f64::from_bits(STALE_NAN_BITS) });
                    }
                    let mut state = lock(&rule.state);
                    match app.commit() {
                        Ok(_) => {
                            state.health = Health::Good;
                            state.last_error = None;
                            eval_state.series_in_previous_eval[i] = returned;
                        }
                        Err(e) => {
                            warn!(group = %self.name, rule = %rule.def.name(), error = %e, "writing rule results failed");
                            state.health = Health::Bad;
                            state.last_error = Some(e.to_string());
                        }
                    }
                    state.evaluation_time = rule_started.elapsed();
                    continue;
                }
            }
            state.evaluation_time = rule_started.elapsed();
        }
        if !eval_state.stale_series.is_empty() {
            let mut app = ctx.storage.appender();
            for labels in &eval_state.stale_series {
                app.append(labels, Sample { timestamp_ms: sample_ts, value: f64::from_bits(STALE_NAN_BITS) });
            }
            if app.commit().is_ok() {
                eval_state.stale_series.clear();
            }
        }
        *lock(&self.stats) = GroupStats { evaluation_time: started.elapsed(), last_evaluation: Some(wall) };
    }

    /// One rule's samples to write, or why it failed.
    fn eval_rule(&self, ctx: &EvalContext, rule: &Rule, ts_ms: i64) -> Result<Vec<(Labels, f64)>, String> {
        let query_ts = ts_ms - self.query_offset.as_millis() as i64;
        let vector = query_vector(&ctx.engine, &rule.def.expr, query_ts)?;
        match &rule.def.kind {
            RuleKind::Recording { record } => {
                let mut out = Vec::with_capacity(vector.len());
                let mut seen = HashSet::with_capacity(vector.len());
                for (labels, value) in vector {
                    let mut labels = labels.with("__name__", record);
                    for (k, v) in &rule.def.labels {
                        labels = labels.with(k, v);
                    }
                    if !seen.insert(labels.clone()) {
                        return Err(
                            "vector contains metrics with the same labelset after applying rule labels".to_owned()
                        );
                    }
                    out.push((labels, value));
                }
                if self.limit > 0 && out.len() > self.limit {
                    return Err(format!("exceeded limit of {} with {} series", self.limit, out.len()));
                }
                Ok(out)
            }
            RuleKind::Alerting { alert, hold, keep_firing_for, .. } => {
                let query = |q: &str| -> Result<Vec<TemplateSample>, String> {
                    let expr = vigil_shared::promql::parse(q).map_err(|e| e.describe(q))?;
                    Ok(query_vector(&ctx.engine, &expr, ts_ms)?
                        .into_iter()
                        .map(|(labels, value)| TemplateSample {
                            labels: labels.iter().map(|l| (l.name.clone(), l.value.clone())).collect(),
                            value,
                        })
                        .collect())
                };
                let mut candidates = Vec::with_capacity(vector.len());
                let mut seen = HashSet::with_capacity(vector.len());
                for (labels, value) in vector {
                    let data = AlertData {
                        labels: &labels,
                        external_labels: &ctx.external_labels,
                        external_url: &ctx.external_url,
                        value,
                        time_ms: ts_ms,
                        query: Some(&query),
                    };
                    let expand = |t: &Template| {
                        t.expand_alert(&data).unwrap_or_else(|e| {
                            warn!(alert = %alert, error = %e, "expanding alert template failed");
                            format!("<error expanding template: {e}>")
                        })
                    };
                    let mut alert_labels = labels.without_metric_name();
                    for (k, t) in &rule.label_templates {
                        alert_labels = alert_labels.with(k, &expand(t));
                    }
                    let alert_labels = alert_labels.with("alertname", alert);
                    let annotations: BTreeMap<String, String> =
                        rule.annotation_templates.iter().map(|(k, t)| (k.clone(), expand(t))).collect();
                    if !seen.insert(alert_labels.clone()) {
                        return Err(
                            "vector contains metrics with the same labelset after applying alert labels".to_owned()
                        );
                    }
                    candidates.push(Candidate { labels: alert_labels, annotations, value });
                }
                let mut state = lock(&rule.state);
                let alerts = state.alerts.update(
                    ts_ms,
                    candidates,
                    hold.as_millis() as i64,
                    keep_firing_for.as_millis() as i64,
                    self.limit,
                )?;
                if let Some(sink) = &ctx.notifier {
                    let due =
                        state.alerts.due_for_sending(ts_ms, ctx.resend_delay.as_millis() as i64, self.interval_ms());
                    if !due.is_empty() {
                        let generator_url = generator_url(&ctx.external_url, &rule.def.expr.to_string());
                        drop(state);
                        sink.send(due.iter().map(|a| to_notifier_alert(a, &generator_url)).collect());
                        state = lock(&rule.state);
                    }
                }
                if !state.restored {
                    return Ok(Vec::new());
                }
                let mut out = Vec::with_capacity(alerts.len() * 2);
                for a in alerts {
                    out.push((alerts_series(&a, alert, "ALERTS").with("alertstate", a.state.as_str()), 1.0));
                    out.push((alerts_series(&a, alert, "ALERTS_FOR_STATE"), a.active_at_ms.div_euclid(1000) as f64));
                }
                Ok(out)
            }
        }
    }

    /// Prometheus's `RestoreForState`: alerts that were pending before a
    /// restart resume their `for` from `ALERTS_FOR_STATE`, within the outage
    /// tolerance; alerts due within the grace period wait out the grace period.
    pub fn restore_for_state(&self, ctx: &EvalContext, now_ms: i64, options: &RuleManagerOptions) {
        let mint = now_ms - options.outage_tolerance.as_millis() as i64;
        let Ok(querier) = ctx.storage.querier(mint, now_ms) else { return };
        let grace_ms = options.for_grace_period.as_millis() as i64;
        for rule in &self.rules {
            let RuleKind::Alerting { alert, hold, .. } = &rule.def.kind else { continue };
            let hold_ms = hold.as_millis() as i64;
            let mut state = lock(&rule.state);
            state.restored = true;
            if hold_ms < grace_ms {
                continue;
            }
            let mut matchers = Vec::new();
            for (name, value) in [("__name__", "ALERTS_FOR_STATE"), ("alertname", alert.as_str())] {
                matchers.extend(Matcher::new(MatchOp::Equal, name, value));
            }
            for (k, v) in &rule.def.labels {
                if !v.contains("{{") {
                    matchers.extend(Matcher::new(MatchOp::Equal, k.as_str(), v.as_str()));
                }
            }
            let Ok(series) = querier.select(&matchers) else { continue };
            let last: HashMap<Labels, (i64, f64)> = series
                .into_iter()
                .filter_map(|s| {
                    let last = s.samples.last()?;
                    Some((s.labels.without_metric_name(), (last.timestamp_ms, last.value)))
                })
                .collect();
            if last.is_empty() {
                continue;
            }
            state.alerts.restore(now_ms, hold_ms, grace_ms, |labels| last.get(labels).copied());
        }
    }
}

/// The labels of an `ALERTS` or `ALERTS_FOR_STATE` sample.
fn alerts_series(alert: &Alert, name: &str, metric: &str) -> Labels {
    alert.labels.with("__name__", metric).with("alertname", name)
}

/// Prometheus's `SendAlerts`: a resolved alert ends when it resolved, a
/// firing one when its validity runs out.
fn to_notifier_alert(alert: &Alert, generator_url: &str) -> notifier::Alert {
    notifier::Alert {
        labels: alert.labels.iter().map(|l| (l.name.clone(), l.value.clone())).collect(),
        annotations: alert.annotations.clone(),
        starts_at_ms: alert.fired_at_ms.unwrap_or(alert.active_at_ms),
        ends_at_ms: alert.resolved_at_ms.unwrap_or(alert.valid_until_ms),
        generator_url: generator_url.to_owned(),
    }
}

/// The link back to the expression, as Prometheus's
/// `TableLinkForExpression` writes it.
pub fn generator_url(external_url: &str, expr: &str) -> String {
    format!("{}/graph?g0.expr={}&g0.tab=1", external_url.trim_end_matches('/'), query_escape(expr))
}

/// Go's `url.QueryEscape`: unreserved bytes kept, space as `+`, the rest
/// percent-encoded.
pub(crate) fn query_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Runs an instant query as rules do: a vector as is, a scalar as one
/// sample without labels, anything else an error.
fn query_vector(engine: &Engine, expr: &vigil_shared::promql::Expr, ts_ms: i64) -> Result<Vec<(Labels, f64)>, String> {
    match engine.instant_query(expr, ts_ms).map_err(|e| e.to_string())?.value {
        Value::Vector(v) => Ok(v.into_iter().map(|s| (s.labels, s.value)).collect()),
        Value::Scalar(f) => Ok(vec![(Labels::default(), f)]),
        _ => Err("rule result is not a vector or scalar".to_owned()),
    }
}

struct Running {
    group: Arc<Group>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

struct ManagerState {
    groups: BTreeMap<(String, String), Running>,
    /// The first load restores `for` state; later ones do not.
    loaded_once: bool,
    external_labels: BTreeMap<String, String>,
}

/// Loads rule files and runs their groups.
pub struct RuleManager {
    engine: Engine,
    storage: Arc<dyn Storage>,
    options: RuleManagerOptions,
    state: Mutex<ManagerState>,
    /// Read by the API without waiting for a reload.
    snapshot: Mutex<Vec<Arc<Group>>>,
    shutdown: CancellationToken,
}

/// Loads every file; all errors or all groups.
pub fn load_files(files: &[PathBuf]) -> Result<Vec<RuleFile>, String> {
    let mut loaded = Vec::new();
    let mut errors = Vec::new();
    for path in files {
        match RuleFile::load(path) {
            Ok(f) => loaded.push(f),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() { Ok(loaded) } else { Err(errors.join("\n")) }
}

/// Expands `rule_files` patterns (already absolute or relative to the
/// working folder) into files, in order, without duplicates.
pub fn expand_patterns(patterns: &[String]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for pattern in patterns {
        let paths = glob::glob(pattern).map_err(|e| format!("invalid rule file pattern {pattern:?}: {e}"))?;
        for path in paths.flatten() {
            if !files.contains(&path) {
                files.push(path);
            }
        }
    }
    Ok(files)
}

impl RuleManager {
    pub fn new(engine: Engine, storage: Arc<dyn Storage>, options: RuleManagerOptions) -> Arc<RuleManager> {
        Arc::new(RuleManager {
            engine,
            storage,
            options,
            state: Mutex::new(ManagerState {
                groups: BTreeMap::new(),
                loaded_once: false,
                external_labels: BTreeMap::new(),
            }),
            snapshot: Mutex::new(Vec::new()),
            shutdown: CancellationToken::new(),
        })
    }

    /// The running groups, sorted by file then name.
    pub fn groups(&self) -> Vec<Arc<Group>> {
        lock(&self.snapshot).clone()
    }

    /// Applies a new set of rule files. If any file is invalid nothing
    /// changes and the error lists every problem. Must run inside the
    /// Tokio runtime (it spawns the groups' tasks).
    pub fn update(
        &self,
        files: &[PathBuf],
        interval: Duration,
        external_labels: BTreeMap<String, String>,
    ) -> Result<(), String> {
        let loaded = load_files(files)?;
        let mut state = lock(&self.state);
        let restore = !state.loaded_once;
        state.loaded_once = true;
        let labels_changed = state.external_labels != external_labels;
        state.external_labels = external_labels.clone();
        let ctx = Arc::new(EvalContext {
            engine: self.engine.clone(),
            storage: Arc::clone(&self.storage),
            external_labels,
            external_url: self.options.external_url.clone(),
            resend_delay: self.options.resend_delay,
            notifier: self.options.notifier.clone(),
        });
        let mut old = std::mem::take(&mut state.groups);
        let mut new_groups = BTreeMap::new();
        for file in &loaded {
            let file_name = file.path.display().to_string();
            for def in &file.groups {
                let key = (file_name.clone(), def.name.clone());
                let group = Group::new(&file_name, def.clone(), interval, !restore);
                if let Some(running) = old.remove(&key) {
                    let same =
                        !labels_changed && running.group.def == group.def && running.group.interval == group.interval;
                    if same {
                        new_groups.insert(key, running);
                        continue;
                    }
                    // Copying waits for a running evaluation, then stops the old group.
                    running.stop.cancel();
                    group.copy_state(&running.group);
                }
                let group = Arc::new(group);
                let stop = self.shutdown.child_token();
                let task = tokio::spawn(run_group(
                    Arc::clone(&group),
                    Arc::clone(&ctx),
                    stop.clone(),
                    restore,
                    self.options.clone(),
                ));
                new_groups.insert(key, Running { group, stop, task });
            }
        }
        // Groups that are gone: stop them, and mark their series stale two
        // intervals later unless a new group wrote them meanwhile.
        for (_, running) in old {
            running.stop.cancel();
            let series = running.group.take_all_series();
            if series.is_empty() {
                continue;
            }
            let storage = Arc::clone(&self.storage);
            let shutdown = self.shutdown.clone();
            let wait = running.group.interval * 2;
            tokio::spawn(async move {
                tokio::select! {
                    () = shutdown.cancelled() => {}
                    () = tokio::time::sleep(wait) => {
                        let ts = now_ms();
                        let mut app = storage.appender();
                        for labels in &series {
                            app.append(labels, Sample { timestamp_ms: ts, value: f64::from_bits(STALE_NAN_BITS) });
                        }
                        let _ = app.commit();
                    }
                }
            });
        }
        let count = new_groups.len();
        *lock(&self.snapshot) = new_groups.values().map(|r| Arc::clone(&r.group)).collect();
        state.groups = new_groups;
        info!(groups = count, "rule groups loaded");
        Ok(())
    }

    /// Applies a configuration's `rule_files`, `evaluation_interval` and
    /// `external_labels`. On error the running rules stay.
    pub fn apply_config(&self, config: &crate::config::Config) -> Result<(), String> {
        let files = expand_patterns(&config.rule_files)
            .and_then(|files| {
                self.update(&files, config.global.evaluation_interval.0, config.global.external_labels.clone())
            })
            .map_err(|e| format!("error loading rules, previous rule set restored: {e}"));
        if let Err(e) = &files {
            warn!(error = %e, "loading rule files failed");
        }
        files
    }

    /// Stops every group.
    pub fn stop(&self) {
        self.shutdown.cancel();
        for (_, running) in std::mem::take(&mut lock(&self.state).groups) {
            running.task.abort();
        }
    }
}

/// Encodes every group's `prometheus_rule_*` metrics, labelled
/// `rule_group="<file>;<name>"` as Prometheus labels them.
#[derive(Debug)]
pub struct RuleCollector(pub Arc<RuleManager>);

impl std::fmt::Debug for RuleManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleManager").finish_non_exhaustive()
    }
}

impl prometheus_client::collector::Collector for RuleCollector {
    fn encode(&self, mut encoder: prometheus_client::encoding::DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        use prometheus_client::metrics::counter::ConstCounter;
        use prometheus_client::metrics::gauge::ConstGauge;
        let groups = self.0.groups();
        let keys: Vec<String> = groups.iter().map(|g| format!("{};{}", g.file, g.name)).collect();
        type Count = fn(&GroupCounters) -> u64;
        let counters: [(&str, &str, Count); 4] = [
            ("prometheus_rule_evaluations", "The total number of rule evaluations.", |c| c.evaluations),
            ("prometheus_rule_evaluation_failures", "The total number of rule evaluation failures.", |c| c.failures),
            (
                "prometheus_rule_group_iterations",
                "The total number of scheduled rule group evaluations, whether executed or missed.",
                |c| c.iterations,
            ),
            (
                "prometheus_rule_group_iterations_missed",
                "The total number of rule group evaluations missed due to slow rule group evaluation.",
                |c| c.missed,
            ),
        ];
        for (name, help, pick) in counters {
            let mut family = encoder.encode_descriptor(name, help, None, ConstCounter::new(0u64).metric_type())?;
            for (group, key) in groups.iter().zip(&keys) {
                ConstCounter::new(pick(&group.counters()))
                    .encode(family.encode_family(&[("rule_group", key.as_str())])?)?;
            }
        }
        type Value = fn(&Group) -> f64;
        let gauges: [(&str, &str, Value); 5] = [
            ("prometheus_rule_group_interval_seconds", "The interval of a rule group.", |g| g.interval.as_secs_f64()),
            ("prometheus_rule_group_last_duration_seconds", "The duration of the last rule group evaluation.", |g| {
                g.evaluation_time().as_secs_f64()
            }),
            (
                "prometheus_rule_group_last_evaluation_timestamp_seconds",
                "The timestamp of the last rule group evaluation in seconds.",
                |g| {
                    g.last_evaluation()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map_or(0.0, |d| d.as_secs_f64())
                },
            ),
            ("prometheus_rule_group_rules", "The number of rules.", |g| g.rules.len() as f64),
            (
                "prometheus_rule_group_last_evaluation_samples",
                "The number of samples returned during the last rule group evaluation.",
                |g| g.counters().last_samples as f64,
            ),
        ];
        for (name, help, pick) in gauges {
            let mut family = encoder.encode_descriptor(name, help, None, ConstGauge::new(0f64).metric_type())?;
            for (group, key) in groups.iter().zip(&keys) {
                ConstGauge::new(pick(group)).encode(family.encode_family(&[("rule_group", key.as_str())])?)?;
            }
        }
        Ok(())
    }
}

/// A group's task: wait for its first slot, evaluate every interval, and
/// restore `for` state after the second evaluation of the first load.
async fn run_group(
    group: Arc<Group>,
    ctx: Arc<EvalContext>,
    stop: CancellationToken,
    restore: bool,
    options: RuleManagerOptions,
) {
    let interval_ms = group.interval_ms();
    let mut ts = group.eval_timestamp(now_ms()) + interval_ms;
    let mut evaluations = 0u64;
    loop {
        let wait = Duration::from_millis((ts - now_ms()).max(0) as u64);
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        let g = Arc::clone(&group);
        let c = Arc::clone(&ctx);
        let options = options.clone();
        let restore_now = restore && evaluations == 1;
        let done = tokio::task::spawn_blocking(move || {
            g.eval(&c, ts);
            if restore_now {
                g.restore_for_state(&c, now_ms(), &options);
            }
        });
        if done.await.is_err() {
            warn!(group = %group.name, "rule group evaluation panicked");
        }
        evaluations += 1;
        // Skip the slots that passed while evaluating.
        let now = now_ms();
        let missed = ((now - ts) / interval_ms - 1).max(0);
        if missed > 0 {
            debug!(group = %group.name, missed, "rule group missed evaluations");
        }
        {
            let mut counters = lock(&group.counters);
            counters.iterations += 1 + missed as u64;
            counters.missed += missed as u64;
        }
        ts += (missed + 1) * interval_ms;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promql::EngineOptions;
    use crate::tsdb::MemoryStorage;
    use std::path::Path;

    #[allow(clippy::type_complexity)]
    fn setup(samples: &[(&str, &[(&str, &str)], i64, f64)]) -> EvalContext {
        let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let mut app = storage.appender();
        for (name, labels, t, v) in samples {
            let labels = Labels::from_pairs(labels.iter().copied().chain([("__name__", *name)]));
            app.append(&labels, Sample { timestamp_ms: *t, value: *v });
        }
        app.commit().unwrap();
        EvalContext {
            engine: Engine::new(Arc::clone(&storage), EngineOptions::default()),
            storage,
            external_labels: BTreeMap::from([("cluster".to_owned(), "eu".to_owned())]),
            external_url: String::new(),
            resend_delay: Duration::from_secs(60),
            notifier: None,
        }
    }

    fn group(text: &str) -> Group {
        let file = RuleFile::parse(text, Path::new("t.yml")).unwrap();
        Group::new("t.yml", file.groups[0].clone(), Duration::from_secs(1), true)
    }

    fn values(ctx: &EvalContext, query: &str, t: i64) -> Vec<(String, f64)> {
        let expr = vigil_shared::promql::parse(query).unwrap();
        query_vector(&ctx.engine, &expr, t).unwrap().into_iter().map(|(l, v)| (l.to_string(), v)).collect()
    }

    #[test]
    fn recording_rules_chain_within_a_group_and_go_stale() {
        let ctx = setup(&[
            ("up", &[("job", "a"), ("instance", "1")], 0, 1.0),
            ("up", &[("job", "a"), ("instance", "2")], 0, 0.0),
            ("up", &[("job", "b"), ("instance", "3")], 0, 1.0),
        ]);
        let g = group(
            "groups:\n- name: g\n  rules:\n  - record: job:up:sum\n    expr: sum by (job) (up)\n    labels: {src: rule}\n  - record: total\n    expr: sum(job:up:sum)\n",
        );
        g.eval(&ctx, 10_000);
        assert_eq!(
            values(&ctx, "job:up:sum", 10_000),
            vec![
                ("job:up:sum{job=\"a\", src=\"rule\"}".to_owned(), 1.0),
                ("job:up:sum{job=\"b\", src=\"rule\"}".to_owned(), 1.0)
            ]
        );
        assert_eq!(values(&ctx, "total", 10_000), vec![("total".to_owned(), 2.0)]);
        assert_eq!(g.rules[0].status().health, Health::Good);
        // After `up` goes stale for job b, its recorded series gets a marker.
        let mut app = ctx.storage.appender();
        app.append(
            &Labels::from_pairs([("__name__", "up"), ("job", "b"), ("instance", "3")]),
            Sample { timestamp_ms: 15_000, value: f64::from_bits(STALE_NAN_BITS) },
        );
        app.commit().unwrap();
        g.eval(&ctx, 20_000);
        assert_eq!(values(&ctx, "job:up:sum", 20_000).len(), 1);
    }

    #[test]
    fn limit_and_duplicates_fail_the_rule() {
        let ctx = setup(&[("up", &[("job", "a")], 0, 1.0), ("up", &[("job", "b")], 0, 1.0)]);
        let g = group("groups:\n- name: g\n  limit: 1\n  rules:\n  - record: r\n    expr: up\n");
        g.eval(&ctx, 1000);
        let status = g.rules[0].status();
        assert_eq!(status.health, Health::Bad);
        assert_eq!(status.last_error.as_deref(), Some("exceeded limit of 1 with 2 series"));
        let g = group(
            "groups:\n- name: g\n  rules:\n  - record: r\n    expr: sum without (job) (up) or up\n    labels: {job: x}\n",
        );
        g.eval(&ctx, 1000);
        assert_eq!(
            g.rules[0].status().last_error.as_deref(),
            Some("vector contains metrics with the same labelset after applying rule labels")
        );
    }

    #[test]
    fn alerts_go_pending_then_firing_and_write_alerts_series() {
        let ctx = setup(&[("up", &[("job", "a"), ("instance", "h:1")], 0, 0.0)]);
        let g = group(
            "groups:\n- name: g\n  rules:\n  - alert: Down\n    expr: up == 0\n    for: 2s\n    labels: {severity: page, on: '{{ $labels.instance }}'}\n    annotations: {summary: '{{ $labels.job }} down in {{ $externalLabels.cluster }}, value {{ $value }}'}\n",
        );
        g.eval(&ctx, 1000);
        let status = g.rules[0].status();
        assert_eq!(status.state, Some(AlertState::Pending));
        let alert = &status.alerts[0];
        assert_eq!(alert.labels.get("on"), Some("h:1"));
        assert_eq!(alert.labels.get("alertname"), Some("Down"));
        assert_eq!(alert.annotations["summary"], "a down in eu, value 0");
        assert_eq!(
            values(&ctx, "ALERTS", 1000),
            vec![(
                "ALERTS{alertname=\"Down\", alertstate=\"pending\", instance=\"h:1\", job=\"a\", on=\"h:1\", severity=\"page\"}"
                    .to_owned(),
                1.0
            )]
        );
        assert_eq!(values(&ctx, "ALERTS_FOR_STATE", 1000)[0].1, 1.0);
        g.eval(&ctx, 3000);
        assert_eq!(g.rules[0].status().state, Some(AlertState::Firing));
        assert_eq!(values(&ctx, "ALERTS{alertstate=\"firing\"}", 3000).len(), 1);
        // The pending series went stale when it started firing.
        assert!(values(&ctx, "ALERTS{alertstate=\"pending\"}", 3000).is_empty());
    }

    #[test]
    fn for_state_is_restored_from_alerts_for_state() {
        let hold_s = 1800;
        let now = 100_000_000;
        // Before the restart: pending since now-20m, last written at now-5m.
        let ctx = setup(&[
            ("up", &[("job", "a")], now, 0.0),
            (
                "ALERTS_FOR_STATE",
                &[("job", "a"), ("alertname", "Down")],
                now - 300_000,
                ((now - 1_200_000) / 1000) as f64,
            ),
        ]);
        let file = RuleFile::parse(
            &format!("groups:\n- name: g\n  rules:\n  - alert: Down\n    expr: up == 0\n    for: {hold_s}s\n"),
            Path::new("t.yml"),
        )
        .unwrap();
        let g = Group::new("t.yml", file.groups[0].clone(), Duration::from_secs(60), false);
        g.eval(&ctx, now);
        assert!(values(&ctx, "ALERTS", now).is_empty(), "nothing is written before restoring");
        g.restore_for_state(&ctx, now, &RuleManagerOptions::default());
        // 15 minutes were spent pending, 15 remain; the 5 minutes down are added.
        assert_eq!(g.rules[0].status().alerts[0].active_at_ms, now - 1_200_000 + 300_000);
    }

    #[test]
    fn rule_metrics_count_evaluations_and_failures() {
        let ctx = setup(&[("up", &[("job", "a")], 0, 1.0), ("up", &[("job", "b")], 0, 1.0)]);
        let g = group(
            "groups:\n- name: g\n  rules:\n  - record: r\n    expr: up\n  - record: bad\n    expr: up\n    labels: {job: x}\n",
        );
        g.eval(&ctx, 1000);
        g.eval(&ctx, 2000);
        let c = g.counters();
        assert_eq!((c.evaluations, c.failures, c.last_samples), (4, 2, 2));
        let manager = RuleManager::new(ctx.engine.clone(), Arc::clone(&ctx.storage), RuleManagerOptions::default());
        lock(&manager.snapshot).push(Arc::new(g));
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(RuleCollector(Arc::clone(&manager))));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for line in [
            "prometheus_rule_evaluations_total{rule_group=\"t.yml;g\"} 4",
            "prometheus_rule_evaluation_failures_total{rule_group=\"t.yml;g\"} 2",
            "prometheus_rule_group_rules{rule_group=\"t.yml;g\"} 2.0",
            "prometheus_rule_group_interval_seconds{rule_group=\"t.yml;g\"} 1.0",
            "prometheus_rule_group_last_evaluation_samples{rule_group=\"t.yml;g\"} 2.0",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn eval_timestamps_are_aligned_and_stable() {
        let g = group("groups:\n- name: g\n  interval: 10s\n  rules: []\n");
        let t = g.eval_timestamp(1_000_000_123);
        assert!(t <= 1_000_000_123 && 1_000_000_123 - t < 10_000);
        assert_eq!(g.eval_timestamp(t + 9_999), t);
        assert_eq!(g.eval_timestamp(t + 10_000), t + 10_000);
    }
}
