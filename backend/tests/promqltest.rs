//! PromQL conformance: runs Prometheus's own test scripts (`promqltest`,
//! the `*.test` files of `promql/promqltest/testdata`) against Vigil's
//! engine, in-process, as Prometheus's `test.go` runs them against its own.
//!
//! The scripts are not in this repository. They are read from
//! `$PROMQLTEST_DIR`, or else from `../shared/promqltest` beside the
//! workspace; the test fails if neither exists.
//!
//! Every `eval` is a case, named `file.test:LINE` (the line of the `eval`).
//! Cases reading native histograms are skipped (see `vigil::promql::script`
//! for the rule). A case that fails must be listed in
//! `tests/promqltest/known_failures.txt` (`file.test:LINE  reason`), and a
//! listed case must still fail, so the list stays exact; both mismatches
//! fail the test, with the query and the expected and actual results.
//!
//! * `cargo test -p vigil --test promqltest -- --nocapture` prints the
//!   per-file summary (also written to `promqltest-summary.txt` in Cargo's
//!   target tmp dir).
//! * `PROMQLTEST_WRITE_KNOWN_FAILURES=1` rewrites the list from this run,
//!   keeping the reasons of cases still failing and giving new ones
//!   `TODO: <first line of the failure>`.
//!
//! What runs for each case mirrors `test.go`: the query (a parse error is a
//! query failure), `expect fail|warn|info|no_warn|no_info|ordered` and the
//! deprecated forms, the result compared with Prometheus's tolerance; for an
//! instant query also the same query as a range query around the time
//! (unless `ordered`, `expect string`, `expect range vector` or it uses
//! `start()`/`end()`/`range()`/`step()`), and the `@`-modifier variants
//! (`@ <time>` on every selector, evaluated at other times; the modified
//! syntax tree is evaluated directly rather than printed and re-parsed). A
//! panic in the engine fails only its case.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};

use vigil::promql::script::{self, Command, DEFAULT_EPSILON, Eval, Load, SequenceValue, almost_equal, format_float};
use vigil::promql::{Engine, EngineOptions, InstantSample, RangeSeries, Value};
use vigil::tsdb::{MemoryStorage, Storage};
use vigil_shared::promql::Expr;

const KNOWN_FAILURES: &str = "tests/promqltest/known_failures.txt";
const SKIP_REASON: &str = "native histograms";

#[test]
fn promql_conformance() {
    let dir = scripts_dir().unwrap_or_else(|message| panic!("{message}"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "test"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no *.test files in {}", dir.display());

    let started = std::time::Instant::now();
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for path in &files {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        match run_script(&name, &text) {
            Ok((cases, notes)) => {
                results.extend(cases);
                errors.extend(notes);
            }
            Err(e) => errors.push(format!("malformed script {e}")),
        }
    }
    let elapsed = started.elapsed();

    let known_path = Path::new(env!("CARGO_MANIFEST_DIR")).join(KNOWN_FAILURES);
    let known_text = std::fs::read_to_string(&known_path).unwrap_or_default();
    let known = parse_known_failures(&known_text).unwrap_or_else(|e| panic!("{}: {e}", known_path.display()));
    let file_names: Vec<String> =
        files.iter().filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned())).collect();
    let summary = summary_table(&dir, &file_names, &results, elapsed);
    let _ = std::fs::write(Path::new(env!("CARGO_TARGET_TMPDIR")).join("promqltest-summary.txt"), &summary);

    if std::env::var_os("PROMQLTEST_WRITE_KNOWN_FAILURES").is_some_and(|v| v != "0" && !v.is_empty()) {
        let text = write_known_failures(&known_text, &known, &results);
        std::fs::write(&known_path, text).unwrap_or_else(|e| panic!("writing {}: {e}", known_path.display()));
        println!("{summary}");
        println!("wrote {}", known_path.display());
        assert!(errors.is_empty(), "{}", errors.join("\n"));
        return;
    }

    let problems = reconcile(&results, &known);
    println!("{summary}");
    let mut report = String::new();
    for e in &errors {
        let _ = writeln!(report, "{e}\n");
    }
    for p in &problems {
        let _ = writeln!(report, "{p}\n");
    }
    if !report.is_empty() {
        let _ = writeln!(
            report,
            "{} problem(s). Fix them, or regenerate the list with PROMQLTEST_WRITE_KNOWN_FAILURES=1 cargo test -p vigil \
             --test promqltest (then review the diff of {KNOWN_FAILURES}).",
            errors.len() + problems.len()
        );
        panic!("\n{report}");
    }
}

/// Where the scripts are, or a message saying where we looked.
fn scripts_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("PROMQLTEST_DIR") {
        let dir = PathBuf::from(dir);
        return if dir.is_dir() {
            Ok(dir)
        } else {
            Err(format!("PROMQLTEST_DIR={} is not a directory", dir.display()))
        };
    }
    // `<workspace root>/../shared/promqltest`; the workspace root is the
    // parent of this crate.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let beside_workspace = manifest.parent().and_then(Path::parent).unwrap_or(manifest);
    let default = beside_workspace.join("shared").join("promqltest");
    if default.is_dir() {
        return Ok(default);
    }
    Err(format!(
        "Prometheus's PromQL test scripts were not found: PROMQLTEST_DIR is not set and {} does not exist. Set \
         PROMQLTEST_DIR to a directory holding the *.test files of Prometheus's promql/promqltest/testdata (for \
         example a checkout's promql/promqltest/testdata), or place them in ../shared/promqltest beside the workspace.",
        default.display()
    ))
}

// ---------------------------------------------------------------------------
// Running scripts.

#[derive(Debug)]
enum Outcome {
    Passed,
    Failed(Failure),
    Skipped(&'static str),
}

#[derive(Debug)]
struct Failure {
    /// One line: what went wrong.
    summary: String,
    /// The query, expected and actual results.
    detail: String,
}

#[derive(Debug)]
struct CaseResult {
    file: String,
    line: usize,
    header: String,
    outcome: Outcome,
}

impl CaseResult {
    fn id(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
}

/// The data loaded since the last `clear`, and an engine over it.
struct Env {
    storage: Arc<MemoryStorage>,
    engine: Engine,
}

impl Env {
    fn new() -> Env {
        let storage = Arc::new(MemoryStorage::new());
        let options = EngineOptions {
            // Prometheus's test engine enables the experimental functions.
            enable_holt_winters: true,
            ..Default::default()
        };
        let engine = Engine::new(Arc::clone(&storage) as Arc<dyn Storage>, options);
        Env { storage, engine }
    }

    /// Appends the float samples of a `load`; a note when storage refused any.
    fn load(&self, file: &str, load: &Load) -> Option<String> {
        let mut app = self.storage.appender();
        for (labels, samples) in load.float_samples() {
            for sample in samples {
                app.append(labels, sample);
            }
        }
        match app.commit() {
            Err(e) => Some(format!("{file}:{}: load failed: {e}", load.line)),
            Ok(report) if report.out_of_order + report.duplicates + report.unknown_series > 0 => {
                Some(format!("{file}:{}: load: storage refused samples: {report:?}", load.line))
            }
            Ok(_) => None,
        }
    }
}

/// Runs one script: its cases, and notes on anything that went wrong
/// outside them (loads refused by storage).
fn run_script(file: &str, text: &str) -> Result<(Vec<CaseResult>, Vec<String>), script::ScriptError> {
    install_panic_hook();
    let script = script::parse(file, text)?;
    let histograms = script.histogram_series_by_eval();
    let mut env = Env::new();
    let mut cases = Vec::new();
    let mut notes = Vec::new();
    for command in &script.commands {
        match command {
            Command::Clear { .. } => env = Env::new(),
            Command::Load(load) => notes.extend(env.load(file, load)),
            Command::Eval(eval) => {
                let parsed = vigil_shared::promql::parse(&eval.expr).ok();
                let hist = histograms.get(&eval.line).map_or(&[][..], Vec::as_slice);
                let outcome = if eval.expects_histograms() || eval.reads_any(parsed.as_ref(), hist) {
                    Outcome::Skipped(SKIP_REASON)
                } else {
                    run_case(&env.engine, eval)
                };
                cases.push(CaseResult { file: file.to_owned(), line: eval.line, header: eval.header.clone(), outcome });
            }
        }
    }
    Ok((cases, notes))
}

thread_local! {
    static IN_CASE: Cell<bool> = const { Cell::new(false) };
    static PANIC_MESSAGE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Panics inside a case are recorded for its report instead of printed;
/// others go to the previous hook.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if IN_CASE.with(Cell::get) {
                PANIC_MESSAGE.with(|m| *m.borrow_mut() = Some(info.to_string()));
            } else {
                previous(info);
            }
        }));
    });
}

fn run_case(engine: &Engine, eval: &Eval) -> Outcome {
    IN_CASE.with(|c| c.set(true));
    let result = panic::catch_unwind(AssertUnwindSafe(|| run_eval(engine, eval)));
    IN_CASE.with(|c| c.set(false));
    match result {
        Ok(Ok(())) => Outcome::Passed,
        Ok(Err(failure)) => Outcome::Failed(failure),
        Err(payload) => {
            let message = PANIC_MESSAGE.with(|m| m.borrow_mut().take()).unwrap_or_else(|| {
                payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "(no message)".to_owned())
            });
            let summary = format!("the engine panicked: {}", message.replace('\n', " "));
            Outcome::Failed(Failure {
                detail: format!(
                    "  query:    {}\n  expected: {}\n  panic:    {message}",
                    eval.header,
                    indent(&eval.describe_expected())
                ),
                summary,
            })
        }
    }
}

/// Parses a query; errors are rendered as Prometheus renders parse errors.
fn parse_query(text: &str) -> Result<Expr, String> {
    vigil_shared::promql::parse(text).map_err(|e| e.describe(text))
}

fn run_eval(engine: &Engine, eval: &Eval) -> Result<(), Failure> {
    let parsed = parse_query(&eval.expr);
    if eval.is_range {
        return run_range(engine, eval, &parsed);
    }
    run_instant(engine, eval, &eval.expr, &parsed, eval.eval_ms, None)?;
    if let Ok(expr) = &parsed
        && let Some((variant, times)) = script::at_modifier_variants(expr, eval.eval_ms)
    {
        let text = variant.to_string();
        for t in times {
            run_instant(engine, eval, &text, &Ok(variant.clone()), t, Some(t))?;
        }
    }
    Ok(())
}

/// A failure of one query of a case.
fn fail(eval: &Eval, mode: &str, query: &str, problem: String, got: String) -> Failure {
    let summary = if mode.is_empty() { problem } else { format!("[{mode}] {problem}") };
    let mut detail = format!("  query:    {query}\n");
    if !mode.is_empty() {
        let _ = writeln!(detail, "  mode:     {mode}");
    }
    let _ = writeln!(detail, "  problem:  {}", indent(&summary));
    let _ = writeln!(detail, "  expected: {}", indent(&eval.describe_expected()));
    let _ = write!(detail, "  got:      {}", indent(&got));
    Failure { summary: summary.lines().next().unwrap_or_default().to_owned(), detail }
}

fn indent(text: &str) -> String {
    text.replace('\n', "\n            ")
}

fn run_range(engine: &Engine, eval: &Eval, parsed: &Result<Expr, String>) -> Result<(), Failure> {
    let query = &eval.header;
    let result = parsed.clone().and_then(|expr| {
        engine.range_query(&expr, eval.start_ms, eval.end_ms, eval.step_ms).map_err(|e| e.to_string())
    });
    let out = match result {
        Err(error) => {
            return if eval.is_fail() {
                match eval.check_expected_failure(&error) {
                    None => Ok(()),
                    Some(problem) => Err(fail(eval, "", query, problem, format!("error: {error}"))),
                }
            } else {
                Err(fail(eval, "", query, format!("query failed: {error}"), format!("error: {error}")))
            };
        }
        Ok(out) => out,
    };
    let value = Value::Matrix(out.value);
    if eval.is_fail() {
        return Err(fail(eval, "", query, "expected an error but got none".to_owned(), describe_value(&value)));
    }
    eval.check_annotations(&out.warnings, &out.infos)
        .map_err(|problem| fail(eval, "", query, problem, describe_annotations(&out.warnings, &out.infos)))?;
    compare_result(eval, &value).map_err(|problem| fail(eval, "", query, problem, describe_value(&value)))
}

/// One instant query of a case (`at_variant`: the evaluation time of an
/// `@`-modifier variant), and its range-mode check.
fn run_instant(
    engine: &Engine,
    eval: &Eval,
    text: &str,
    parsed: &Result<Expr, String>,
    time_ms: i64,
    at_variant: Option<i64>,
) -> Result<(), Failure> {
    let query = match at_variant {
        None => eval.header.clone(),
        Some(_) => format!("{text} (instant at {})", format_ms(time_ms)),
    };
    let mode = at_variant.map(|t| format!("@ variant at {}", format_ms(t))).unwrap_or_default();
    let result = parsed.clone().and_then(|expr| engine.instant_query(&expr, time_ms).map_err(|e| e.to_string()));
    let out = match result {
        Err(error) => {
            return if eval.is_fail() {
                match eval.check_expected_failure(&error) {
                    None => Ok(()),
                    Some(problem) => Err(fail(eval, &mode, &query, problem, format!("error: {error}"))),
                }
            } else {
                Err(fail(eval, &mode, &query, format!("query failed: {error}"), format!("error: {error}")))
            };
        }
        Ok(out) => out,
    };
    if eval.is_fail() {
        return Err(fail(eval, &mode, &query, "expected an error but got none".to_owned(), describe_value(&out.value)));
    }
    eval.check_annotations(&out.warnings, &out.infos)
        .map_err(|problem| fail(eval, &mode, &query, problem, describe_annotations(&out.warnings, &out.infos)))?;
    compare_result(eval, &out.value)
        .map_err(|problem| fail(eval, &mode, &query, problem, describe_value(&out.value)))?;

    if eval.exclude_from_range_query || script::uses_query_context_functions(text) {
        return Ok(());
    }
    // The same query as a range query must give the same result at this
    // time (the middle step).
    let range_mode = if mode.is_empty() { "range mode".to_owned() } else { format!("{mode}, range mode") };
    let range_query =
        format!("{text} (range from {} to {} step 1m)", format_ms(time_ms - 60_000), format_ms(time_ms + 60_000));
    let expr = parsed.as_ref().expect("the instant query parsed");
    let range = engine
        .range_query(expr, time_ms - 60_000, time_ms + 60_000, 60_000)
        .map_err(|e| fail(eval, &range_mode, &range_query, format!("query failed: {e}"), format!("error: {e}")))?;
    if eval.is_ordered() {
        // Range results are always sorted by labels.
        return Ok(());
    }
    let matrix = Value::Matrix(range.value);
    let Value::Matrix(series) = &matrix else { unreachable!() };
    assert_matrix_sorted(series).map_err(|p| fail(eval, &range_mode, &range_query, p, describe_value(&matrix)))?;
    let at_time: Vec<InstantSample> = series
        .iter()
        .filter_map(|s| {
            s.samples
                .iter()
                .find(|p| p.timestamp_ms == time_ms)
                .map(|p| InstantSample { labels: s.labels.clone(), value: p.value })
        })
        .collect();
    let value = match (&out.value, at_time.first()) {
        (Value::Scalar(_), Some(first)) => Value::Scalar(first.value),
        (Value::Scalar(_), None) => {
            return Err(fail(
                eval,
                &range_mode,
                &range_query,
                format!("no sample at {} for the scalar result", format_ms(time_ms)),
                describe_value(&matrix),
            ));
        }
        _ => Value::Vector(at_time),
    };
    compare_result(eval, &value).map_err(|p| fail(eval, &range_mode, &range_query, p, describe_value(&matrix)))
}

/// test.go's `compareResult`.
fn compare_result(eval: &Eval, value: &Value) -> Result<(), String> {
    let expect_scalar = eval.scalar.is_some();
    let find = |labels: &vigil_shared::model::Labels| eval.series.iter().find(|s| &s.labels == labels);
    match value {
        Value::Matrix(matrix) => {
            if eval.is_ordered() {
                return Err("expected ordered result, but query returned a matrix".to_owned());
            }
            if expect_scalar {
                return Err("expected scalar result, but got a matrix".to_owned());
            }
            assert_matrix_sorted(matrix)?;
            let mut seen = BTreeSet::new();
            for s in matrix {
                let Some(exp) = find(&s.labels) else {
                    return Err(format!("unexpected metric {} in result, has {}", s.labels, describe_points(s)));
                };
                seen.insert(exp.labels.clone());
                let mut expected = Vec::new();
                for (i, v) in exp.values.iter().enumerate() {
                    let t = eval.start_ms + i as i64 * eval.step_ms;
                    if t > eval.end_ms {
                        return Err(format!(
                            "expected {} points for {}, but query time range cannot return this many points",
                            exp.values.len(),
                            exp.labels
                        ));
                    }
                    if let SequenceValue::Float(f) = v {
                        expected.push((t, *f));
                    }
                }
                if expected.len() != s.samples.len() {
                    return Err(format!(
                        "expected {} float points for {}, but got {}",
                        expected.len(),
                        exp.labels,
                        describe_points(s)
                    ));
                }
                for (i, ((t, f), actual)) in expected.iter().zip(&s.samples).enumerate() {
                    if *t != actual.timestamp_ms {
                        return Err(format!(
                            "expected float value at index {i} for {} to have timestamp {t}, but it had timestamp {} \
                             (result has {})",
                            exp.labels,
                            actual.timestamp_ms,
                            describe_points(s)
                        ));
                    }
                    if !almost_equal(actual.value, *f, DEFAULT_EPSILON) {
                        return Err(format!(
                            "expected float value at index {i} (t={t}) for {} to be {}, but got {} (result has {})",
                            exp.labels,
                            format_float(*f),
                            format_float(actual.value),
                            describe_points(s)
                        ));
                    }
                }
            }
            if let Some(missing) = eval.series.iter().find(|s| !seen.contains(&s.labels)) {
                return Err(format!("expected metric {} not found", missing.labels));
            }
            Ok(())
        }
        Value::Vector(vector) => {
            if expect_scalar {
                return Err("expected scalar result, but got a vector".to_owned());
            }
            let mut seen = BTreeSet::new();
            for (pos, s) in vector.iter().enumerate() {
                let Some(exp) = find(&s.labels) else {
                    return Err(format!(
                        "unexpected metric {} in result, has value {}",
                        s.labels,
                        format_float(s.value)
                    ));
                };
                if eval.is_ordered() && exp.pos != pos + 1 {
                    return Err(format!(
                        "expected metric {} at position {} but was at {}",
                        exp.labels,
                        exp.pos,
                        pos + 1
                    ));
                }
                let want = match exp.values.first() {
                    Some(SequenceValue::Float(f)) => *f,
                    // test.go compares an omitted value as 0.
                    Some(SequenceValue::Omitted) => 0.0,
                    Some(SequenceValue::Histogram(h)) => {
                        return Err(format!("expected histogram {h} for {} but got float value", exp.labels));
                    }
                    None => return Err(format!("expected series {} has no value", exp.labels)),
                };
                if !almost_equal(want, s.value, DEFAULT_EPSILON) {
                    return Err(format!(
                        "expected {} for {} but got {}",
                        format_float(want),
                        s.labels,
                        format_float(s.value)
                    ));
                }
                seen.insert(exp.labels.clone());
            }
            if let Some(missing) = eval.series.iter().find(|s| !seen.contains(&s.labels)) {
                let values: Vec<String> = missing.values.iter().map(ToString::to_string).collect();
                return Err(format!("expected metric {} with [{}] not found", missing.labels, values.join(" ")));
            }
            Ok(())
        }
        Value::Scalar(v) => {
            let Some(want) = eval.scalar else {
                return Err(format!("expected vector or matrix result, but got scalar {}", format_float(*v)));
            };
            if !almost_equal(want, *v, DEFAULT_EPSILON) {
                return Err(format!("expected scalar {} but got {}", format_float(want), format_float(*v)));
            }
            Ok(())
        }
        Value::String(s) => {
            if &eval.expected_string != s {
                return Err(format!("expected string {:?} but got {s:?}", eval.expected_string));
            }
            Ok(())
        }
    }
}

fn assert_matrix_sorted(matrix: &[RangeSeries]) -> Result<(), String> {
    for (i, pair) in matrix.windows(2).enumerate() {
        if pair[0].labels > pair[1].labels {
            return Err(format!(
                "matrix results should always be sorted by labels, but matrix is not sorted: series at index {} with \
                 labels {} sorts before series at index {i} with labels {}",
                i + 1,
                pair[1].labels,
                pair[0].labels
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Describing results.

fn format_ms(ms: i64) -> String {
    if ms % 1000 == 0 { format!("{}s", ms / 1000) } else { format!("{ms}ms") }
}

fn describe_points(s: &RangeSeries) -> String {
    let points: Vec<String> =
        s.samples.iter().map(|p| format!("{} @[{}]", format_float(p.value), p.timestamp_ms)).collect();
    format!("{} float point{} [{}]", points.len(), if points.len() == 1 { "" } else { "s" }, points.join(" "))
}

fn describe_value(value: &Value) -> String {
    const MAX: usize = 20;
    let more = |n: usize| if n > MAX { format!("\n… and {} more series", n - MAX) } else { String::new() };
    match value {
        Value::Scalar(v) => format!("scalar {}", format_float(*v)),
        Value::String(s) => format!("string {s:?}"),
        Value::Vector(v) if v.is_empty() => "(empty vector)".to_owned(),
        Value::Vector(v) => {
            let lines: Vec<String> =
                v.iter().take(MAX).map(|s| format!("{} {}", s.labels, format_float(s.value))).collect();
            lines.join("\n") + &more(v.len())
        }
        Value::Matrix(m) if m.is_empty() => "(empty matrix)".to_owned(),
        Value::Matrix(m) => {
            let lines: Vec<String> = m
                .iter()
                .take(MAX)
                .map(|s| {
                    let points: Vec<String> = s
                        .samples
                        .iter()
                        .map(|p| format!("{}@{}", format_float(p.value), format_ms(p.timestamp_ms)))
                        .collect();
                    format!("{} {}", s.labels, points.join(" "))
                })
                .collect();
            lines.join("\n") + &more(m.len())
        }
    }
}

fn describe_annotations(warnings: &[String], infos: &[String]) -> String {
    format!("warnings {warnings:?}, infos {infos:?}")
}

// ---------------------------------------------------------------------------
// The known-failures list and the report.

/// `file.test:LINE  reason` lines; `#` comments and blank lines ignored.
fn parse_known_failures(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut known = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (id, reason) = line.split_once([' ', '\t']).unwrap_or((line, ""));
        let valid = id.rsplit_once(':').is_some_and(|(file, n)| file.ends_with(".test") && n.parse::<usize>().is_ok());
        if !valid {
            return Err(format!("line {}: expected `file.test:LINE  reason`, got {line:?}", i + 1));
        }
        if known.insert(id.to_owned(), reason.trim().to_owned()).is_some() {
            return Err(format!("line {}: {id} is listed twice", i + 1));
        }
    }
    Ok(known)
}

/// The mismatches between this run and the list.
fn reconcile(results: &[CaseResult], known: &BTreeMap<String, String>) -> Vec<String> {
    let mut problems = Vec::new();
    let mut ids = BTreeSet::new();
    for case in results {
        let id = case.id();
        match (&case.outcome, known.contains_key(&id)) {
            (Outcome::Failed(f), false) => {
                problems.push(format!("FAIL {id} (not in known_failures.txt): {}\n{}", f.summary, f.detail))
            }
            (Outcome::Passed, true) => {
                problems.push(format!("PASS {id}: {}\n  now passes: remove it from known_failures.txt", case.header))
            }
            (Outcome::Skipped(reason), true) => problems.push(format!(
                "SKIP {id}: {}\n  is skipped ({reason}) but listed in known_failures.txt: remove it",
                case.header
            )),
            _ => {}
        }
        ids.insert(id);
    }
    for id in known.keys().filter(|id| !ids.contains(*id)) {
        problems.push(format!("{id} is listed in known_failures.txt but is not an eval line of any script: remove it"));
    }
    problems
}

/// The list for this run's failures, keeping the file's leading comment
/// and the reasons of cases still failing.
fn write_known_failures(old_text: &str, known: &BTreeMap<String, String>, results: &[CaseResult]) -> String {
    let header: String = old_text.lines().take_while(|l| l.trim().starts_with('#')).map(|l| format!("{l}\n")).collect();
    let mut out = if header.is_empty() {
        "# PromQL conformance cases (file.test:LINE of the eval) that fail against Vigil's engine, and why.\n\
         # Checked by tests/promqltest.rs: a failing case missing here, or a case listed here that passes,\n\
         # fails the test. Regenerate with PROMQLTEST_WRITE_KNOWN_FAILURES=1 (reasons of cases still\n\
         # failing are kept).\n"
            .to_owned()
    } else {
        header
    };
    out.push('\n');
    let mut failed: Vec<(&str, usize, String)> = results
        .iter()
        .filter_map(|c| match &c.outcome {
            Outcome::Failed(f) => {
                let reason = known.get(&c.id()).cloned().unwrap_or_else(|| {
                    let first: String = f.summary.chars().take(200).collect();
                    format!("TODO: {first}")
                });
                Some((c.file.as_str(), c.line, reason))
            }
            _ => None,
        })
        .collect();
    failed.sort();
    for (file, line, reason) in failed {
        let _ = writeln!(out, "{:<28} {reason}", format!("{file}:{line}"));
    }
    out
}

fn summary_table(dir: &Path, files: &[String], results: &[CaseResult], elapsed: std::time::Duration) -> String {
    #[derive(Default)]
    struct Counts {
        cases: usize,
        passed: usize,
        failed: usize,
        skipped: usize,
    }
    let mut per_file: BTreeMap<&str, Counts> = files.iter().map(|f| (f.as_str(), Counts::default())).collect();
    let mut total = Counts::default();
    for case in results {
        let counts = per_file.entry(case.file.as_str()).or_default();
        for c in [&mut *counts, &mut total] {
            c.cases += 1;
            match case.outcome {
                Outcome::Passed => c.passed += 1,
                Outcome::Failed(_) => c.failed += 1,
                Outcome::Skipped(_) => c.skipped += 1,
            }
        }
    }
    let percent = |c: &Counts| {
        let run = c.cases - c.skipped;
        if run == 0 { "-".to_owned() } else { format!("{:.1}%", 100.0 * c.passed as f64 / run as f64) }
    };
    let mut out = format!("PromQL conformance: Prometheus's promqltest scripts from {}\n\n", dir.display());
    let _ = writeln!(
        out,
        "| {:<24} | {:>6} | {:>6} | {:>6} | {:>7} | {:>8} |",
        "file", "cases", "passed", "failed", "skipped", "passed %"
    );
    let _ = writeln!(out, "|{:-<26}|{:->8}|{:->8}|{:->8}|{:->9}|{:->10}|", ":", ":", ":", ":", ":", ":");
    let row = |out: &mut String, name: &str, c: &Counts| {
        let _ = writeln!(
            out,
            "| {name:<24} | {:>6} | {:>6} | {:>6} | {:>7} | {:>8} |",
            c.cases,
            c.passed,
            c.failed,
            c.skipped,
            percent(c)
        );
    };
    for (file, counts) in &per_file {
        row(&mut out, file, counts);
    }
    row(&mut out, "**total**", &total);
    let _ = write!(
        out,
        "\nfailed: listed in tests/promqltest/known_failures.txt (the test requires it); skipped: {SKIP_REASON}; \
         passed % of the cases run. {} cases in {:.1}s.\n",
        total.cases,
        elapsed.as_secs_f64()
    );
    out
}

// ---------------------------------------------------------------------------
// The harness's own checks.

fn outcomes(script: &str) -> Vec<(usize, String)> {
    let (cases, notes) = run_script("self.test", script).unwrap_or_else(|e| panic!("{e}"));
    assert!(notes.is_empty(), "{notes:?}");
    cases
        .into_iter()
        .map(|c| {
            let outcome = match c.outcome {
                Outcome::Passed => "pass".to_owned(),
                Outcome::Skipped(reason) => format!("skip: {reason}"),
                Outcome::Failed(f) => format!("fail: {}", f.summary),
            };
            (c.line, outcome)
        })
        .collect()
}

/// Checks the harness against cases whose outcome is known with any engine
/// that evaluates number literals and selectors in range queries.
#[test]
fn harness_reports_outcomes() {
    let script = r#"
load 1m
  foo 1+1x5
  bar{a="b"} 1 {{count:1}} 3

eval instant at 2m 42
  42

eval instant at 2m 42
  43

eval instant at 2m 42
  foo 42

eval range from 0 to 2m step 1m foo
  foo 1 2 3

eval range from 0 to 2m step 1m foo
  foo 1 2 4

eval range from 0 to 2m step 1m foo
  foo 1 2 3
  baz 1 1 1

eval range from 0 to 1m step 1m foo
  foo 1 2 3

eval instant at 2m bar
  bar{a="b"} 3

eval instant at 2m foo{
  expect fail

eval instant at 2m foo{
  expect fail msg: something else

eval instant at 2m 1
  expect fail
"#;
    let got = outcomes(script);
    let want: &[(usize, &str)] = &[
        (6, "pass"),
        (9, "fail: expected scalar 43 but got 42"),
        (12, "fail: expected vector or matrix result, but got scalar 42"),
        (15, "pass"),
        (18, "fail: expected float value at index 2 (t=120000) for foo to be 4, but got 3"),
        (21, "fail: expected metric baz not found"),
        (25, "fail: expected 3 points for foo, but query time range cannot return this many points"),
        (28, "skip: native histograms"),
        (31, "pass"),
        (34, "fail: expected error matching \"something else\", but got: "),
        (37, "fail: expected an error but got none"),
    ];
    assert_eq!(got.len(), want.len(), "{got:#?}");
    for ((line, outcome), (want_line, want_outcome)) in got.iter().zip(want) {
        assert_eq!(line, want_line, "{got:#?}");
        assert!(outcome.starts_with(want_outcome), "line {line}: got {outcome:?}, want {want_outcome:?}…");
    }
}

#[test]
fn harness_catches_panics_and_reconciles_the_list() {
    install_panic_hook();
    let engine = Env::new().engine;
    let eval = script::parse("p.test", "eval instant at 0 1\n  1\n").unwrap().evals().next().unwrap().clone();
    IN_CASE.with(|c| c.set(true));
    let outcome = panic::catch_unwind(|| panic!("boom"));
    IN_CASE.with(|c| c.set(false));
    assert!(outcome.is_err());
    assert!(PANIC_MESSAGE.with(|m| m.borrow_mut().take()).is_some_and(|m| m.contains("boom")));
    assert!(matches!(run_case(&engine, &eval), Outcome::Passed | Outcome::Failed(_)));

    let case = |line, outcome| CaseResult { file: "a.test".to_owned(), line, header: "eval".to_owned(), outcome };
    let failure = || Failure { summary: "wrong".to_owned(), detail: "  detail".to_owned() };
    let results = vec![
        case(1, Outcome::Passed),
        case(2, Outcome::Failed(failure())),
        case(3, Outcome::Failed(failure())),
        case(4, Outcome::Passed),
        case(5, Outcome::Skipped(SKIP_REASON)),
    ];
    let known =
        parse_known_failures("# header\n\na.test:3  reason three\na.test:4 was failing\na.test:5 x\na.test:9 gone\n")
            .unwrap();
    let problems = reconcile(&results, &known);
    let firsts: Vec<&str> = problems.iter().map(|p| p.split([' ', ':']).next().unwrap_or("")).collect();
    assert_eq!(firsts, vec!["FAIL", "PASS", "SKIP", "a.test"], "{problems:#?}");
    assert!(problems[0].starts_with("FAIL a.test:2 "));
    assert!(problems[1].contains("now passes: remove it from known_failures.txt"));

    let written = write_known_failures("# header\n\na.test:3  reason three\n", &known, &results);
    assert!(written.starts_with("# header\n\n"), "{written}");
    let rewritten = parse_known_failures(&written).unwrap();
    assert_eq!(rewritten.get("a.test:2").map(String::as_str), Some("TODO: wrong"));
    assert_eq!(rewritten.get("a.test:3").map(String::as_str), Some("reason three"));
    assert_eq!(rewritten.len(), 2);
    assert!(reconcile(&results[1..3], &rewritten).is_empty());

    assert!(parse_known_failures("nonsense here").is_err());
    assert!(parse_known_failures("a.test:1 x\na.test:1 y").is_err());
}
