//! `vigil test rules FILE...`: rule unit tests in promtool's format
//! (`promtool test rules`), so existing test files run unchanged.
//!
//! A test file names `rule_files` (relative to itself), an
//! `evaluation_interval` (default 1m), an optional `group_eval_order`, and
//! `tests`. Each test loads its `input_series` (values in the `0+10x100`
//! notation, one sample per test `interval`) into a fresh in-memory
//! storage, evaluates every group from time 0 to the last `eval_time` at
//! each evaluation interval, and checks:
//!
//! * `alert_rule_test`: the *firing* alerts of `alertname` at the
//!   evaluation covering `eval_time` (labels including `alertname`, and
//!   expanded annotations), ignoring order;
//! * `promql_expr_test`: an instant query at `eval_time` after all
//!   evaluations, samples compared by labels and value.
//!
//! As promtool, a rule that fails to evaluate ends its test with the error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use vigil_shared::model::Labels;

use super::file::RuleFile;
use super::manager::{EvalContext, Group, Health};
use crate::config::{PromDuration, format_duration};
use crate::promql::script::{SequenceValue, parse_series};
use crate::promql::{Engine, EngineOptions};
use crate::tsdb::{MemoryStorage, Sample, Storage};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    #[serde(default)]
    rule_files: Vec<String>,
    evaluation_interval: Option<PromDuration>,
    #[serde(default)]
    group_eval_order: Vec<String>,
    #[serde(default)]
    tests: Vec<TestGroup>,
    #[serde(default)]
    fuzzy_compare: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestGroup {
    interval: Option<PromDuration>,
    #[serde(default)]
    input_series: Vec<InputSeries>,
    #[serde(default)]
    alert_rule_test: Vec<AlertTest>,
    #[serde(default)]
    promql_expr_test: Vec<ExprTest>,
    #[serde(default)]
    external_labels: BTreeMap<String, String>,
    #[serde(default)]
    external_url: String,
    #[serde(default)]
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputSeries {
    series: String,
    #[serde(default)]
    values: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertTest {
    eval_time: PromDuration,
    #[serde(default)]
    alertname: String,
    #[serde(default)]
    exp_alerts: Vec<ExpAlert>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpAlert {
    #[serde(default)]
    exp_labels: BTreeMap<String, String>,
    #[serde(default)]
    exp_annotations: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExprTest {
    expr: String,
    eval_time: PromDuration,
    #[serde(default)]
    exp_samples: Vec<ExpSample>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpSample {
    #[serde(default)]
    labels: String,
    #[serde(default)]
    value: f64,
}

/// Runs every file, printing promtool's report; true when all passed.
pub fn run(files: &[PathBuf]) -> bool {
    let mut ok = true;
    for file in files {
        println!("Unit Testing:  {}", file.display());
        match run_file(file) {
            Ok(()) => println!("  SUCCESS\n"),
            Err(errors) => {
                ok = false;
                println!("  FAILED:");
                for e in errors {
                    println!("{e}");
                }
                println!();
            }
        }
    }
    ok
}

/// Runs one test file; the failures, if any.
pub fn run_file(path: &Path) -> Result<(), Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| vec![format!("{}: {e}", path.display())])?;
    let file: TestFile = serde_yaml_ng::from_str(&text).map_err(|e| vec![format!("{}: {e}", path.display())])?;
    let dir = path.parent().unwrap_or(Path::new(""));
    let patterns: Vec<String> = file
        .rule_files
        .iter()
        .map(|p| if Path::new(p).is_relative() { dir.join(p).to_string_lossy().into_owned() } else { p.clone() })
        .collect();
    let rule_files = super::manager::expand_patterns(&patterns).map_err(|e| vec![e])?;
    let loaded = super::manager::load_files(&rule_files).map_err(|e| vec![e])?;
    let eval_interval = file.evaluation_interval.map_or(Duration::from_secs(60), |d| d.0);
    let mut order = BTreeMap::new();
    for (i, name) in file.group_eval_order.iter().enumerate() {
        if order.insert(name.clone(), i).is_some() {
            return Err(vec![format!("group name repeated in evaluation order: {name}")]);
        }
    }
    let mut errors = Vec::new();
    for test in &file.tests {
        let interval = test.interval.map_or(eval_interval, |d| d.0);
        errors.extend(run_test(test, &loaded, &order, eval_interval, interval, file.fuzzy_compare));
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

fn run_test(
    test: &TestGroup,
    files: &[RuleFile],
    order: &BTreeMap<String, usize>,
    eval_interval: Duration,
    series_interval: Duration,
    fuzzy: bool,
) -> Vec<String> {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let engine_options =
        EngineOptions { default_subquery_step_ms: eval_interval.as_millis() as i64, ..EngineOptions::default() };
    let ctx = EvalContext {
        engine: Engine::new(Arc::clone(&storage), engine_options),
        storage: Arc::clone(&storage),
        external_labels: test.external_labels.clone(),
        external_url: test.external_url.clone(),
        resend_delay: std::time::Duration::from_secs(60),
        notifier: None,
    };
    // Input series.
    let step = series_interval.as_millis() as i64;
    let mut app = storage.appender();
    for input in &test.input_series {
        let (labels, values) = match parse_series(&format!("{} {}", input.series, input.values)) {
            Ok(parsed) => parsed,
            Err(e) => return vec![format!("    series {:?}: {e}", input.series)],
        };
        for (i, v) in values.iter().enumerate() {
            if let SequenceValue::Float(value) = v {
                app.append(&labels, Sample { timestamp_ms: i as i64 * step, value: *value });
            }
        }
    }
    if let Err(e) = app.commit() {
        return vec![e.to_string()];
    }
    // Groups, in `group_eval_order` (others first, in file order).
    let mut groups: Vec<Group> = files
        .iter()
        .flat_map(|f| {
            let name = f.path.display().to_string();
            f.groups.iter().map(move |g| Group::new(&name, g.clone(), series_interval, true))
        })
        .collect();
    groups.sort_by_key(|g| order.get(&g.name).copied().unwrap_or(0));

    let test_name = if test.name.is_empty() { String::new() } else { format!("    name: {},\n", test.name) };
    for a in &test.alert_rule_test {
        if a.alertname.is_empty() {
            return vec![format!(
                "an item under alert_rule_test misses required attribute alertname at eval_time {}",
                format_duration(a.eval_time.0)
            )];
        }
    }
    let max_eval = test
        .alert_rule_test
        .iter()
        .map(|a| a.eval_time.0)
        .chain(test.promql_expr_test.iter().map(|e| e.eval_time.0))
        .max()
        .unwrap_or(Duration::ZERO)
        .as_millis() as i64;
    let interval_ms = (eval_interval.as_millis() as i64).max(1);
    let mut alert_times: Vec<i64> = test.alert_rule_test.iter().map(|a| a.eval_time.0.as_millis() as i64).collect();
    alert_times.sort_unstable();
    alert_times.dedup();
    let mut next_alert_time = 0;
    let mut errors = Vec::new();
    let mut ts = 0;
    while ts <= max_eval {
        let mut eval_errors = Vec::new();
        for g in &groups {
            g.eval(&ctx, ts);
            for rule in &g.rules {
                let status = rule.status();
                if status.health == Health::Bad {
                    eval_errors.push(format!(
                        "    rule: {}, time: {}, err: {}",
                        rule.def.name(),
                        format_go_duration(ts),
                        status.last_error.unwrap_or_default()
                    ));
                }
            }
        }
        if !eval_errors.is_empty() {
            errors.extend(eval_errors);
            return errors;
        }
        while next_alert_time < alert_times.len()
            && ts <= alert_times[next_alert_time]
            && alert_times[next_alert_time] < ts + interval_ms
        {
            let t = alert_times[next_alert_time];
            for case in test.alert_rule_test.iter().filter(|a| a.eval_time.0.as_millis() as i64 == t) {
                let mut got: Vec<(Labels, Labels)> = groups
                    .iter()
                    .flat_map(|g| g.rules.iter())
                    .filter(|r| r.def.name() == case.alertname)
                    .flat_map(|r| r.status().alerts)
                    .filter(|a| a.state == super::alert::AlertState::Firing)
                    .map(|a| (a.labels, Labels::from_pairs(a.annotations)))
                    .collect();
                let mut want: Vec<(Labels, Labels)> = case
                    .exp_alerts
                    .iter()
                    .map(|e| {
                        let labels = Labels::from_pairs(e.exp_labels.clone()).with("alertname", &case.alertname);
                        (labels, Labels::from_pairs(e.exp_annotations.clone()))
                    })
                    .collect();
                got.sort();
                want.sort();
                if got != want {
                    errors.push(format!(
                        "{test_name}    alertname: {}, time: {}, \n        exp:{}, \n        got:{}",
                        case.alertname,
                        format_duration(case.eval_time.0),
                        describe_alerts(&want),
                        describe_alerts(&got)
                    ));
                }
            }
            next_alert_time += 1;
        }
        ts += interval_ms;
    }
    // PromQL expression tests, after all evaluations.
    for case in &test.promql_expr_test {
        let t = case.eval_time.0.as_millis() as i64;
        let expr = match vigil_shared::promql::parse(&case.expr) {
            Ok(expr) => expr,
            Err(e) => {
                errors.push(format!(
                    "    expr: {:?}, time: {}, err: {}",
                    case.expr,
                    format_duration(case.eval_time.0),
                    e.describe(&case.expr)
                ));
                continue;
            }
        };
        let got = match ctx.engine.instant_query(&expr, t) {
            Ok(out) => match out.value {
                crate::promql::Value::Vector(v) => v.into_iter().map(|s| (s.labels, s.value)).collect(),
                crate::promql::Value::Scalar(f) => vec![(Labels::default(), f)],
                _ => {
                    errors.push(format!("    expr: {:?}: the result is not a vector or scalar", case.expr));
                    continue;
                }
            },
            Err(e) => {
                errors.push(format!(
                    "    expr: {:?}, time: {}, err: {e}",
                    case.expr,
                    format_duration(case.eval_time.0)
                ));
                continue;
            }
        };
        let mut got: Vec<(Labels, f64)> = got;
        let mut want = Vec::new();
        let mut bad = false;
        for s in &case.exp_samples {
            match parse_series(&s.labels) {
                Ok((labels, _)) => want.push((labels, s.value)),
                Err(e) => {
                    errors.push(format!(
                        "    expr: {:?}, time: {}, err: {e}",
                        case.expr,
                        format_duration(case.eval_time.0)
                    ));
                    bad = true;
                }
            }
        }
        if bad {
            continue;
        }
        got.sort_by(|a, b| a.0.cmp(&b.0));
        want.sort_by(|a, b| a.0.cmp(&b.0));
        let equal = got.len() == want.len()
            && got.iter().zip(&want).all(|((gl, gv), (wl, wv))| gl == wl && floats_equal(*gv, *wv, fuzzy));
        if !equal {
            errors.push(format!(
                "{test_name}    expr: {:?}, time: {},\n        exp: {}\n        got: {}",
                case.expr,
                format_duration(case.eval_time.0),
                describe_samples(&want),
                describe_samples(&got)
            ));
        }
    }
    errors
}

fn floats_equal(a: f64, b: f64, fuzzy: bool) -> bool {
    if a == b || (a.is_nan() && b.is_nan()) {
        return true;
    }
    fuzzy && (a.next_down() == b || a.next_up() == b)
}

fn describe_alerts(alerts: &[(Labels, Labels)]) -> String {
    let items: Vec<String> = alerts
        .iter()
        .map(|(l, a)| format!("\n            0:\n              Labels:{l}\n              Annotations:{a}"))
        .collect();
    if items.is_empty() { "[]".to_owned() } else { items.concat() }
}

fn describe_samples(samples: &[(Labels, f64)]) -> String {
    let items: Vec<String> =
        samples.iter().map(|(l, v)| format!("{l} {}", super::template::go_float(*v, 'g', None))).collect();
    format!("[{}]", items.join(", "))
}

/// Go's `time.Duration.String` for whole milliseconds (`1m30s`, `0s`).
fn format_go_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".to_owned();
    }
    let (h, m, s, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if frac > 0 {
        out.push_str(&format!("{s}.{}s", format!("{frac:03}").trim_end_matches('0')));
    } else {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_promtool_style_tests() {
        let dir = std::env::temp_dir().join(format!("vigil-unittest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("rules.yml"),
            "groups:\n- name: g\n  rules:\n  - record: job:up:sum\n    expr: sum by (job) (up)\n  - alert: Down\n    expr: up == 0\n    for: 2m\n    labels: {severity: page}\n    annotations: {summary: '{{ $labels.instance }} down, value {{ $value }}'}\n",
        )
        .unwrap();
        let tests = |exp_instance: &str, exp_sum: f64| {
            format!(
                "rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n- interval: 1m\n  input_series:\n  - series: 'up{{job=\"a\", instance=\"x\"}}'\n    values: '1 1 0 0 0 0'\n  - series: 'up{{job=\"a\", instance=\"y\"}}'\n    values: '1+0x5'\n  alert_rule_test:\n  - eval_time: 3m\n    alertname: Down\n  - eval_time: 4m\n    alertname: Down\n    exp_alerts:\n    - exp_labels: {{severity: page, instance: {exp_instance}, job: a}}\n      exp_annotations: {{summary: '{exp_instance} down, value 0'}}\n  promql_expr_test:\n  - expr: job:up:sum\n    eval_time: 1m\n    exp_samples:\n    - labels: 'job:up:sum{{job=\"a\"}}'\n      value: {exp_sum}\n"
            )
        };
        std::fs::write(dir.join("good.yml"), tests("x", 2.0)).unwrap();
        std::fs::write(dir.join("bad.yml"), tests("y", 3.0)).unwrap();
        assert_eq!(run_file(&dir.join("good.yml")), Ok(()));
        let errors = run_file(&dir.join("bad.yml")).unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(errors[0].contains("alertname: Down, time: 4m"), "{}", errors[0]);
        assert!(errors[1].contains("expr: \"job:up:sum\", time: 1m"), "{}", errors[1]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn go_durations() {
        for (ms, want) in [(0, "0s"), (60_000, "1m0s"), (3_600_000, "1h0m0s"), (1500, "1.5s"), (90_000, "1m30s")] {
            assert_eq!(format_go_duration(ms), want);
        }
    }
}
