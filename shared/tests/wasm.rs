//! The shared crate in a real browser: what the query editor relies on,
//! compiled to wasm32 and run in headless Chromium by wasm-bindgen-test.
//!
//! `CHROMEDRIVER=/usr/bin/chromedriver cargo test -p vigil-shared --target
//! wasm32-unknown-unknown --test wasm` (the xtask's `test` runs it). The
//! native unit tests hold the full tables; these are a representative slice
//! of each, to catch anything that behaves differently on wasm32 (32-bit
//! `usize`, no threads, a 1 MiB stack, the regex engine, float formatting).
#![cfg(target_arch = "wasm32")]

use vigil_shared::model::api::{ApiResponse, ErrorType, InstantSeries, QueryData, RangeSeries, SamplePoint};
use vigil_shared::model::{Label, Labels};
use vigil_shared::promql::{
    AggregateOp, BinaryOp, Expected, Expr, MAX_DEPTH, MatchOp, Span, ValueType, complete, parse,
};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

fn parse_ok(input: &str) -> Expr {
    match parse(input) {
        Ok(e) => e,
        Err(e) => panic!("{input:?} failed: {}", e.describe(input)),
    }
}

/// Valid queries, one or more for every syntax class, with the type they
/// must have.
const VALID: &[(&str, ValueType)] = &[
    // Literals.
    ("1", ValueType::Scalar),
    ("-0755", ValueType::Scalar),
    ("0x1F", ValueType::Scalar),
    ("1_000.5e-3", ValueType::Scalar),
    ("+Inf", ValueType::Scalar),
    ("NaN", ValueType::Scalar),
    ("5m", ValueType::Scalar),
    (r#""double \" quoted""#, ValueType::String),
    ("'single'", ValueType::String),
    ("`raw \\ string`", ValueType::String),
    // Selectors, matchers and modifiers.
    ("up", ValueType::Vector),
    ("job:http_requests:rate5m", ValueType::Vector),
    (r#"http_requests_total{job="api", code!="200", path=~"/api/.*", method!~"GET|HEAD"}"#, ValueType::Vector),
    (r#"{__name__=~"node_.*", instance="a:9100"}"#, ValueType::Vector),
    (r#"{"my.utf8.metric", "label.with.dots"="x"}"#, ValueType::Vector),
    ("up offset 5m", ValueType::Vector),
    ("up offset -1h30m", ValueType::Vector),
    ("up @ 1700000000", ValueType::Vector),
    ("up @ start() offset 1m", ValueType::Vector),
    ("http_requests_total[5m]", ValueType::Matrix),
    ("http_requests_total[5m] offset 1d @ end()", ValueType::Matrix),
    // Subqueries.
    ("rate(http_requests_total[5m])[30m:1m]", ValueType::Matrix),
    ("max_over_time(deriv(rate(x[1m])[5m:])[1h:5m] offset 1w)", ValueType::Vector),
    // Unary and binary operators, precedence, matching.
    ("-up", ValueType::Vector),
    ("1 + 2 * 3 ^ 2 % 5 - 4 / 2", ValueType::Scalar),
    ("2 ^ 3 ^ 2", ValueType::Scalar),
    ("1 > bool 0", ValueType::Scalar),
    ("up == 1", ValueType::Vector),
    ("a and b or c unless d", ValueType::Vector),
    ("a atan2 b", ValueType::Vector),
    ("a / on(instance) group_left(job) b", ValueType::Vector),
    ("a * ignoring(code) group_right b", ValueType::Vector),
    ("a > bool on() b", ValueType::Vector),
    // Aggregations.
    ("sum(rate(http_requests_total[5m]))", ValueType::Vector),
    ("sum by (job, instance) (rate(x[5m]))", ValueType::Vector),
    ("sum(rate(x[5m])) without (instance)", ValueType::Vector),
    ("topk(5, x)", ValueType::Vector),
    ("quantile(0.9, x)", ValueType::Vector),
    (r#"count_values("v", x)"#, ValueType::Vector),
    ("limitk(2, x)", ValueType::Vector),
    ("group by (\"a.b\") (x)", ValueType::Vector),
    // Functions.
    ("time()", ValueType::Scalar),
    ("scalar(up)", ValueType::Scalar),
    ("vector(1)", ValueType::Vector),
    ("histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))", ValueType::Vector),
    (r#"label_replace(up, "dst", "$1", "src", "(.*)")"#, ValueType::Vector),
    (r#"label_join(up, "dst", ",", "a", "b")"#, ValueType::Vector),
    ("clamp(x, -1, +1)", ValueType::Vector),
    ("predict_linear(node_filesystem_free_bytes[1h], 4 * 3600) < 0", ValueType::Vector),
    ("absent_over_time(up{job=\"x\"}[10m])", ValueType::Vector),
    // Parentheses, comments, case-insensitive keywords, whitespace.
    ("((up))", ValueType::Vector),
    ("sum(up) # a comment\n  by (job)", ValueType::Vector),
    ("SUM BY (a) (x) AND ON (a) y", ValueType::Vector),
    ("  rate (\n\tx[5m]\n)  ", ValueType::Vector),
];

#[wasm_bindgen_test]
fn valid_queries_parse_with_their_types() {
    for (input, want) in VALID {
        assert_eq!(parse_ok(input).value_type(), *want, "{input:?}");
    }
}

#[wasm_bindgen_test]
fn the_tree_has_the_expected_shape() {
    let Expr::Binary(b) = parse_ok("1 + 2 * 3") else { panic!("not binary") };
    assert_eq!(b.op, BinaryOp::Add);
    assert!(matches!(*b.rhs, Expr::Binary(ref r) if r.op == BinaryOp::Mul));

    let Expr::Aggregate(a) = parse_ok("sum by (job) (rate(x{a=~\"b.*\"}[5m]))") else { panic!("not aggregate") };
    assert_eq!(a.op, AggregateOp::Sum);
    let Expr::Call(call) = &*a.expr else { panic!("not call") };
    assert_eq!(call.func.name, "rate");
    let Expr::MatrixSelector(m) = &call.args[0] else { panic!("not matrix") };
    assert_eq!(m.range_ms, 300_000);
    let matcher = m.selector.matchers.iter().find(|m| m.name == "a").expect("matcher a");
    assert_eq!(matcher.op, MatchOp::Regex);
    // Regex matchers are anchored, and the regex engine works on wasm32.
    assert!(matcher.matches("bcd"));
    assert!(!matcher.matches("abc"));

    // Spans are byte offsets, also after multi-byte characters.
    let input = r#"{"ü"="x"} + foo"#;
    let Expr::Binary(b) = parse_ok(input) else { panic!("not binary") };
    assert_eq!(b.rhs.span(), Span::new(input.len() - 3, input.len()));
    assert_eq!(parse_ok("foo offset 5m").span(), Span::new(0, 13));
}

/// Invalid queries: where the error starts and Prometheus's message.
const INVALID: &[(&str, usize, &str)] = &[
    ("", 0, "no expression found in input"),
    ("1+", 2, "unexpected end of input"),
    ("(1))", 4, "unexpected right parenthesis ')'"),
    ("((1)", 4, "unclosed left parenthesis"),
    ("1 == 1", 2, "comparisons between scalars must use BOOL modifier"),
    ("foo and 1", 0, r#"set operator "and" not allowed in binary scalar expression"#),
    ("1e400", 0, r#"error parsing number: strconv.ParseFloat: parsing "1e400": value out of range"#),
    ("some_metric{a=b}", 14, r#"unexpected identifier "b" in label matching, expected string"#),
    ("{}", 0, "vector selector must contain at least one non-empty matcher"),
    (r#"foo{__name__="bar"}"#, 0, r#"metric name must not be set twice: "foo" or "bar""#),
    (r#"up{a=~"("}"#, 3, "error parsing regexp"),
    ("up{a=\"b\"", 8, "unexpected end of input inside braces"),
    ("foo[5mm]", 4, r#"bad number or duration syntax: "5mm""#),
    ("foo[0m]", 4, "duration must be greater than 0"),
    ("foo[5m", 6, "unclosed left bracket"),
    ("some_metric OFFSET 1m[5m]", 21, "no offset modifiers allowed before range"),
    ("foo @ 1 @ 2", 0, "@ <timestamp> may not be set multiple times"),
    ("foo @ 9223372036854775809", 0, "timestamp out of bounds for @ modifier: 9223372036854775808.000000"),
    ("(foo + bar)[5m]", 11, "ranges only allowed for vector selectors"),
    ("1[5m:]", 0, "subquery is only allowed on instant vector, got scalar instead"),
    ("sum by (a b)(x)", 10, r#"unexpected identifier "b" in grouping opts, expected "," or ")""#),
    ("topk(some_metric)", 0, "wrong number of arguments for aggregate expression provided, expected 2, got 1"),
    ("sum(x[5m])", 4, "expected type instant vector in aggregation expression, got range vector"),
    ("rate(some_metric)", 5, r#"expected type range vector in call to function "rate", got instant vector"#),
    ("floor(some_metric, 1)", 0, r#"expected 1 argument(s) in call to "floor", got 2"#),
    ("non_existent_function_far_bar()", 0, r#"unknown function with name "non_existent_function_far_bar""#),
    ("foo[5m] + 1", 0, "binary expression must contain only scalar and instant vector types"),
    ("a - on(b) ignoring(c) d", 10, "unexpected <ignoring>"),
    ("\"\\", 0, "escape sequence not terminated"),
    (r#""\c""#, 0, "unknown escape sequence U+0063 'c'"),
    ("foo[5m+1m]", 4, "experimental duration expression is not enabled"),
];

#[wasm_bindgen_test]
fn invalid_queries_fail_with_prometheus_messages_and_spans() {
    for (input, start, want) in INVALID {
        let err = match parse(input) {
            Ok(e) => panic!("{input:?} parsed, to {e}"),
            Err(err) => err,
        };
        assert!(err.message.starts_with(want), "{input:?}: got {:?}, want {want:?}", err.message);
        assert_eq!(err.span.start, *start, "{input:?}: {}", err.message);
        assert!(err.span.start <= err.span.end && err.span.end <= input.len(), "{input:?}: span {:?}", err.span);
    }
    let input = "up{\n  a=1}";
    assert_eq!(parse(input).unwrap_err().describe(input), "2:5: parse error: unexpected character inside braces: '1'");
}

/// Inputs and their canonical printing ("" when unchanged).
const PRINTER: &[(&str, &str)] = &[
    (r#"sum by(code) (task:errors:rate10s{job="s"})"#, r#"sum by (code) (task:errors:rate10s{job="s"})"#),
    ("sum(x) by (a)", "sum by (a) (x)"),
    ("a - on(b) group_left c", "a - on (b) group_left () c"),
    ("a @ 10", "a @ 10.000"),
    ("x[14d]", "x[2w]"),
    ("x[1h:90s]", "x[1h:1m30s]"),
    (r#"foo{b="1", a="2"}"#, r#"foo{a="2",b="1"}"#),
    ("'a\\x01\\u00a0b'", r#""a\x01\u00a0b""#),
    ("1e21", "1000000000000000000000"),
    ("1e-7", "0.0000001"),
    ("foo AND bar", "foo and bar"),
    (r#"{"a.b"="c"}"#, ""),
    ("-(1 + 2)", ""),
    ("rate(x[5m] offset -1h)", ""),
];

#[wasm_bindgen_test]
fn printing_is_canonical_and_reparses_to_the_same_tree() {
    for (input, want) in PRINTER {
        let expr = parse_ok(input);
        let printed = expr.to_string();
        let want = if want.is_empty() { input } else { want };
        assert_eq!(printed, *want, "{input:?}");
        assert!(parse_ok(&printed).same_as(&expr), "{input:?} printed as {printed:?}");
    }
    for (input, _) in VALID {
        let expr = parse_ok(input);
        let printed = expr.to_string();
        assert!(parse_ok(&printed).same_as(&expr), "{input:?} printed as {printed:?}");
    }
}

#[wasm_bindgen_test]
fn deep_nesting_fits_the_browsers_stack_or_is_refused() {
    // The browser gives wasm a 1 MiB stack. Past MAX_DEPTH the parser
    // refuses rather than overflow it. Right at the limit only an optimised
    // build fits: unoptimised frames are several times larger, and a debug
    // build overflows from about 800 nested calls or aggregations (parens
    // and operators are fine to the limit). The app ships optimised, and the
    // xtask also runs this suite with `--release`.
    let depth = if cfg!(debug_assertions) { 300 } else { MAX_DEPTH / 2 - 10 };
    for input in [
        format!("{}1{}", "(".repeat(depth), ")".repeat(depth)),
        format!("{}x{}", "-(".repeat(depth / 2), ")".repeat(depth / 2)),
        format!("{}x{}", "sum(".repeat(depth), ")".repeat(depth)),
        format!("{}x{}", "abs(".repeat(depth), ")".repeat(depth)),
        "1 ^ ".repeat(depth) + "1",
        "x + ".repeat(depth) + "x",
    ] {
        let expr = parse_ok(&input);
        assert!(parse_ok(&expr.to_string()).same_as(&expr), "{}", &input[..20]);
    }
    let mut too_deep = vec![
        format!("{}1{}", "(".repeat(5000), ")".repeat(5000)),
        "1+".repeat(5000) + "1",
        "1^".repeat(5000) + "1",
        format!("{}1", "-".repeat(5000)),
    ];
    if !cfg!(debug_assertions) {
        too_deep.push(format!("{}x{}", "sum(".repeat(3000), ")".repeat(3000)));
        too_deep.push(format!("{}x{}", "abs(".repeat(3000), ")".repeat(3000)));
        too_deep.push(format!("{}x", "-(".repeat(3000)));
    }
    for input in too_deep {
        let err = parse(&input).unwrap_err();
        assert!(err.message.starts_with("expression nested too deeply"), "{}: {}", &input[..20], err.message);
    }
}

/// Splits a case written with `|` at the cursor.
fn at_cursor(marked: &str) -> (String, usize) {
    (marked.replace('|', ""), marked.find('|').expect("cursor"))
}

#[wasm_bindgen_test]
fn completion_reads_the_context() {
    let label = |metric: Option<&str>| Expected::LabelName { metric: metric.map(str::to_owned) };
    let cases: Vec<(&str, &str, Vec<Expected>)> = vec![
        ("|", "", vec![Expected::MetricName, Expected::Function]),
        ("sum(rat|", "rat", vec![Expected::MetricName, Expected::Function]),
        ("foo{|", "", vec![label(Some("foo"))]),
        ("sum by (a, jo|", "jo", vec![label(None)]),
        (
            "foo{job=\"vi|gil\"}",
            "vi",
            vec![Expected::LabelValue { metric: Some("foo".to_owned()), label: "job".to_owned() }],
        ),
        ("foo[5|", "5", vec![Expected::Duration]),
        ("sum |", "", vec![Expected::Keyword(vec!["by", "without"])]),
        ("foo @ |", "", vec![Expected::Keyword(vec!["start()", "end()"])]),
        ("foo + 1|", "1", vec![]),
    ];
    for (marked, prefix, expected) in cases {
        let (text, cursor) = at_cursor(marked);
        let got = complete(&text, cursor);
        assert_eq!(got.expected, expected, "{marked:?}");
        assert_eq!(got.prefix, prefix, "{marked:?}");
    }
    // The replaced span covers the whole word, and for a label value the
    // whole string literal.
    let (text, cursor) = at_cursor("ra|te(x[5m])");
    assert_eq!(complete(&text, cursor).replace, Span::new(0, 4));
    let (text, cursor) = at_cursor("foo{job=\"vi|gil\"}");
    assert_eq!(complete(&text, cursor).replace, Span::new(8, 15));
    // Any cursor in any text is fine, including inside multi-byte characters.
    let text = "sum by (job) (rate(foo{a=\"ü\", b=~'x'}[5m:1m] offset 1h @ start()))";
    for cursor in 0..=text.len() + 2 {
        let got = complete(text, cursor);
        assert!(got.replace.start <= got.replace.end && got.replace.end <= text.len(), "at {cursor}");
    }
}

#[wasm_bindgen_test]
fn labels_serialise_as_a_json_object() {
    let labels = Labels::from_pairs([("job", "vigil"), ("__name__", "up"), ("empty", "")]);
    let json = serde_json::to_string(&labels).unwrap();
    assert_eq!(json, r#"{"__name__":"up","job":"vigil"}"#);
    let back: Labels = serde_json::from_str(r#"{"job":"vigil","__name__":"up","x":"q\"\n"}"#).unwrap();
    assert_eq!(back.metric_name(), Some("up"));
    assert_eq!(back.get("x"), Some("q\"\n"));
    assert_eq!(back.to_string(), r#"up{job="vigil", x="q\"\n"}"#);
    let names: Vec<&str> = back.iter().map(|l: &Label| l.name.as_str()).collect();
    assert_eq!(names, ["__name__", "job", "x"]);
}

#[wasm_bindgen_test]
fn api_responses_round_trip_through_json() {
    let vector = ApiResponse::success(QueryData::Vector(vec![InstantSeries {
        metric: Labels::from_pairs([("__name__", "up"), ("job", "vigil")]),
        value: SamplePoint { timestamp_ms: 1_435_781_451_781, value: 1.0 },
    }]));
    let json = serde_json::to_string(&vector).unwrap();
    assert_eq!(
        json,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"vigil"},"value":[1435781451.781,"1"]}]}}"#
    );
    assert_eq!(serde_json::from_str::<ApiResponse<QueryData>>(&json).unwrap(), vector);

    // Timestamps past 2^32 ms and NaN/±Inf values survive on a 32-bit target.
    let matrix: ApiResponse<QueryData> = serde_json::from_str(
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"x"},"values":[[1700000000,"1.5"],[1700000015.5,"+Inf"],[1700000030,"NaN"]]}]},"warnings":["w"]}"#,
    )
    .unwrap();
    let ApiResponse::Success { data: QueryData::Matrix(series), warnings, .. } = &matrix else {
        panic!("not a matrix: {matrix:?}")
    };
    assert_eq!(warnings, &["w"]);
    let RangeSeries { metric, values } = &series[0];
    assert_eq!(metric.metric_name(), Some("x"));
    assert_eq!(values[0], SamplePoint { timestamp_ms: 1_700_000_000_000, value: 1.5 });
    assert_eq!(values[1].timestamp_ms, 1_700_000_015_500);
    assert_eq!(values[1].value, f64::INFINITY);
    assert!(values[2].value.is_nan());
    let json = serde_json::to_string(&matrix).unwrap();
    assert!(json.contains(r#"[1700000015.5,"+Inf"]"#), "{json}");

    let error: ApiResponse<QueryData> = ApiResponse::error(ErrorType::BadData, "1:1: parse error: x");
    let json = serde_json::to_string(&error).unwrap();
    assert_eq!(json, r#"{"status":"error","errorType":"bad_data","error":"1:1: parse error: x"}"#);
    assert_eq!(serde_json::from_str::<ApiResponse<QueryData>>(&json).unwrap(), error);

    assert!(serde_json::from_str::<SamplePoint>(r#"[1,"x"]"#).is_err());
}

// ---------------------------------------------------------------------------
// Dashboards: the model, interpolation, time math and step logic, where
// 32-bit `usize`, the regex engine and float formatting could differ.

mod dashboards {
    use vigil_shared::dashboard::interval::{PanelQueryContext, TargetStep, round_interval};
    use vigil_shared::dashboard::model::{DashboardError, MAX_PANELS, PanelKind};
    use vigil_shared::dashboard::render::{downsample, format_value, reduce};
    use vigil_shared::dashboard::share::{self, SharedView};
    use vigil_shared::dashboard::time::{parse_time, resolve_range};
    use vigil_shared::dashboard::variables::{Format, ResolvedVariable, Scope, VariableQuery, parse_variable_query};
    use vigil_shared::dashboard::{Dashboard, model::VariableOption};
    use wasm_bindgen_test::wasm_bindgen_test;

    const NODE_EXPORTER_FULL: &str = include_str!("../testdata/dashboards/node-exporter-full.json");
    const OLD_ROWS: &str = include_str!("../testdata/dashboards/old-schema-rows.json");

    fn load(src: &str) -> Dashboard {
        match Dashboard::from_json(src) {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        }
    }

    #[wasm_bindgen_test]
    fn imports_real_and_old_dashboards() {
        let d = load(NODE_EXPORTER_FULL);
        assert_eq!((d.panels.len(), d.all_panels().count()), (31, 138));
        assert_eq!(d.panels[13].title, "CPU Basic");
        assert_eq!(d.panels[13].field_config.defaults.unit.as_deref(), Some("percentunit"));
        assert_eq!(load(&d.to_json()), d);

        let old = load(OLD_ROWS);
        let kinds: Vec<&str> = old.panels.iter().map(|p| p.kind.as_str()).collect();
        assert_eq!(kinds, ["row", "stat", "gauge", "timeseries", "row", "row", "text", "timeseries"]);
        assert_eq!(old.panels[4].panels[1].panel_kind(), PanelKind::Unknown);
        assert_eq!(old.panels[6].title, "<script>alert(1)</script>");
    }

    #[wasm_bindgen_test]
    fn hostile_dashboards_are_refused_with_a_path() {
        let e = Dashboard::from_json(r#"{"panels":[{},{},{},{"gridPos":{"x":0,"y":0,"w":"x","h":1}}]}"#);
        match e {
            Err(DashboardError::Json { path, .. }) => assert_eq!(path, "panels[3].gridPos.w"),
            other => panic!("{other:?}"),
        }
        let many = format!(r#"{{"panels":[{}]}}"#, vec!["{}"; 100_000].join(","));
        assert!(matches!(Dashboard::from_json(&many), Err(DashboardError::Json { .. })));
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(Dashboard::from_json(&deep), Err(DashboardError::TooDeep { .. })));
        const { assert!(MAX_PANELS < 100_000) };
    }

    fn var(json: &str, options: &[&str]) -> ResolvedVariable {
        let v = match serde_json::from_str(json) {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        };
        let options = options
            .iter()
            .map(|o| VariableOption { text: o.to_string(), value: o.to_string(), selected: false })
            .collect();
        ResolvedVariable::resolve(&v, options, None)
    }

    #[wasm_bindgen_test]
    fn interpolation_escapes_for_promql() {
        let multi = var(r#"{"name":"v","multi":true,"current":{"value":["a.b","x|y","\\"]}}"#, &["a.b", "x|y", "\\"]);
        let single = var(r#"{"name":"s","current":{"value":"q\"uote"}}"#, &["q\"uote"]);
        let vars = [multi, single];
        let builtins = [("__rate_interval", "60s".to_string())];
        let scope = Scope { variables: &vars, builtins: &builtins };
        let q = scope.interpolate(r#"rate(up{a=~"$v", b="${s}"}[$__rate_interval])"#, Format::Prometheus);
        assert_eq!(q, r#"rate(up{a=~"(a\\.b|x\\|y|\\\\)", b="q\"uote"}[60s])"#);
        assert!(vigil_shared::promql::parse(&q).is_ok(), "{q}");
        assert_eq!(scope.interpolate("${v:csv} ${v:json}", Format::Prometheus), r#"a.b,x|y,\ ["a.b","x|y","\\"]"#);
        assert_eq!(
            parse_variable_query("v", "label_values(up{job=\"a\"}, instance)"),
            Ok(VariableQuery::LabelValues { label: "instance".into(), matcher: Some("up{job=\"a\"}".into()) })
        );
    }

    #[wasm_bindgen_test]
    fn time_math_and_steps() {
        // 2024-02-29 13:45:30.250 UTC: timestamps past 2^32 ms and leap days.
        let now = 1_709_214_330_250_i64;
        assert_eq!(parse_time("now-1d/d", false, now), Ok(1_709_078_400_000));
        assert_eq!(parse_time("now/M", true, now), Ok(1_709_251_199_999));
        assert_eq!(parse_time("2024-01-15T10:20:30+02:00", false, now), Ok(1_705_306_830_000));
        let range = vigil_shared::dashboard::model::TimeRange { from: "now-6h".into(), to: "now".into() };
        let r = match resolve_range(&range, now) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        };
        let ctx = PanelQueryContext {
            from_ms: r.from_ms,
            to_ms: r.to_ms,
            width_px: 1000,
            max_data_points: None,
            min_interval: None,
            scrape_interval: None,
        };
        let plan = match ctx.plan(&TargetStep::default()) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        };
        assert_eq!((plan.step_ms, plan.rate_interval_ms), (20_000, 60_000));
        assert_eq!(plan.end_ms % 20_000, 0);
        assert_eq!(round_interval(3_000_000_000.0), 2_592_000_000);
    }

    #[wasm_bindgen_test]
    fn render_helpers() {
        assert_eq!(format_value(1536.0, Some("bytes"), None).to_string(), "1.50 KiB");
        assert_eq!(format_value(0.1234, Some("percentunit"), Some(1)).to_string(), "12.3%");
        assert_eq!(format_value(3725.0, Some("dtdurations"), Some(1)).to_string(), "1 hour, 2 minutes");
        assert_eq!(reduce(&[Some(1.0), None, Some(3.0)], "mean"), Some(2.0));
        let points: Vec<(i64, f64)> = (0..10_000).map(|i| (1_700_000_000_000 + i * 1000, (i % 7) as f64)).collect();
        let mut out = Vec::new();
        downsample(&points, points[0].0, points[9_999].0, 100, &mut out);
        assert!(out.len() <= 400 && out.len() >= 200, "{}", out.len());
    }

    #[wasm_bindgen_test]
    fn share_links_round_trip() {
        let view = SharedView {
            dashboard: load(OLD_ROWS),
            time: vigil_shared::dashboard::model::TimeRange { from: "now-1h".into(), to: "now".into() },
            vars: vec![("env".into(), vec!["prod".into()])],
        };
        let link = share::share_url("http://127.0.0.1:9090", &view);
        assert_eq!(share::decode(&link), Ok(view));
        assert_eq!(share::decode(&link[..link.len() - 7]), Err(share::ShareError::Truncated));
    }
}

fn grid(d: &vigil_shared::dashboard::Dashboard) -> Vec<(Option<i64>, u32, u32, u32, u32)> {
    let mut v: Vec<_> = d.panels.iter().map(|p| (p.id, p.grid().x, p.grid().y, p.grid().w, p.grid().h)).collect();
    v.sort();
    v
}

fn two_columns() -> vigil_shared::dashboard::Dashboard {
    let json = r#"{"title":"t","panels":[
        {"id":1,"type":"timeseries","gridPos":{"x":0,"y":0,"w":12,"h":4}},
        {"id":2,"type":"timeseries","gridPos":{"x":0,"y":4,"w":12,"h":4}},
        {"id":3,"type":"stat","gridPos":{"x":12,"y":0,"w":12,"h":6}}]}"#;
    match vigil_shared::dashboard::Dashboard::from_json(json) {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    }
}

#[wasm_bindgen_test]
fn layout_edits_push_down_and_compact() {
    use vigil_shared::dashboard::layout::{self, Step};
    let mut d = two_columns();
    assert_eq!(layout::move_panel(&mut d, 1, 12, 0), Ok(()));
    assert_eq!(grid(&d), vec![(Some(1), 12, 0, 12, 4), (Some(2), 0, 0, 12, 4), (Some(3), 12, 4, 12, 6)]);
    let mut d = two_columns();
    assert_eq!(layout::nudge(&mut d, 1, Step::Down), Ok(true));
    assert_eq!(grid(&d), vec![(Some(1), 0, 4, 12, 4), (Some(2), 0, 0, 12, 4), (Some(3), 12, 0, 12, 6)]);
    assert_eq!(layout::resize_panel(&mut d, 3, 99, 0), Ok(()));
    assert_eq!(grid(&d)[2], (Some(3), 12, 0, 12, 1));
}

#[wasm_bindgen_test]
fn undo_and_redo_restore_each_state() {
    use vigil_shared::dashboard::{history::History, layout};
    let mut d = two_columns();
    let original = d.clone();
    let mut h = History::new(10);
    assert_eq!(h.edit(&mut d, |d| layout::duplicate_panel(d, 1)), Ok(4));
    let duplicated = d.clone();
    assert_eq!(h.edit(&mut d, |d| layout::add_row(d, "Row")), Ok(5));
    assert!(h.undo(&mut d));
    assert_eq!(d, duplicated);
    assert!(h.undo(&mut d));
    assert_eq!(d, original);
    assert!(h.redo(&mut d));
    assert_eq!(d, duplicated);
}
