//! Parser tests. The tables follow Prometheus's `parse_test.go` and
//! `printer_test.go` case by case (our own tables, same inputs and
//! expectations) for everything Vigil accepts.

use super::*;
use crate::promql::ast::format_duration;

fn parse_ok(input: &str) -> Expr {
    match parse(input) {
        Ok(e) => e,
        Err(e) => panic!("{input:?} failed: {}", e.describe(input)),
    }
}

/// A compact dump of the tree's structure (spans and vector matching left
/// out), to check precedence and what attached where.
fn tree(e: &Expr) -> String {
    match e {
        Expr::NumberLiteral { value, .. } => Expr::NumberLiteral { value: *value, span: Span::default() }.to_string(),
        Expr::StringLiteral { value, .. } => go_quote(value),
        Expr::VectorSelector(vs) => vs.to_string(),
        Expr::MatrixSelector(_) => e.to_string(),
        Expr::Subquery(s) => format!(
            "(subquery {} {}:{}{})",
            tree(&s.expr),
            format_duration(s.range_ms),
            s.step_ms.map(format_duration).unwrap_or_default(),
            modifiers(s.at, s.offset_ms)
        ),
        Expr::Paren { expr, .. } => format!("(paren {})", tree(expr)),
        Expr::Unary { op, expr, .. } => {
            format!("({} {})", if *op == UnaryOp::Neg { "neg" } else { "pos" }, tree(expr))
        }
        Expr::Binary(b) => {
            format!("({}{} {} {})", b.op.as_str(), if b.return_bool { " bool" } else { "" }, tree(&b.lhs), tree(&b.rhs))
        }
        Expr::Aggregate(a) => {
            let grouping = match &a.grouping {
                Grouping::None => String::new(),
                Grouping::By(l) => format!(" by({})", l.join(",")),
                Grouping::Without(l) => format!(" without({})", l.join(",")),
            };
            let param = a.param.as_ref().map(|p| format!(" {}", tree(p))).unwrap_or_default();
            format!("({}{grouping}{param} {})", a.op.as_str(), tree(&a.expr))
        }
        Expr::Call(c) => {
            let args: Vec<String> = c.args.iter().map(tree).collect();
            format!("({}{}{})", c.func.name, if args.is_empty() { "" } else { " " }, args.join(" "))
        }
    }
}

fn modifiers(at: Option<AtModifier>, offset_ms: i64) -> String {
    let mut s = String::new();
    match at {
        Some(AtModifier::Timestamp(ms)) => s.push_str(&format!(" @{ms}ms")),
        Some(AtModifier::Start) => s.push_str(" @start"),
        Some(AtModifier::End) => s.push_str(" @end"),
        None => {}
    }
    if offset_ms != 0 {
        s.push_str(&format!(" offset {offset_ms}ms"));
    }
    s
}

/// Valid queries and the structure they must parse to.
const VALID: &[(&str, &str)] = &[
    // Number literals; a sign folds into the literal.
    ("1", "1"),
    ("+Inf", "+Inf"),
    ("-Inf", "-Inf"),
    ("inf", "+Inf"),
    ("NaN", "NaN"),
    ("nAn", "NaN"),
    (".5", "0.5"),
    ("5.", "5"),
    ("123.4567", "123.4567"),
    ("5e-3", "0.005"),
    ("5e3", "5000"),
    ("0xc", "12"),
    ("0755", "493"),
    ("+5.5e-3", "0.0055"),
    ("-0755", "-493"),
    ("1_000", "1000"),
    ("- 1", "-1"),
    ("--1", "1"),
    ("5m", "300"),
    ("1h30m", "5400"),
    ("100ms", "0.1"),
    // Strings.
    (r#""double-quoted string \" with escaped quote""#, r#""double-quoted string \" with escaped quote""#),
    (r#"'single-quoted string \' with escaped quote'"#, r#""single-quoted string ' with escaped quote""#),
    ("`backtick-quoted string`", r#""backtick-quoted string""#),
    (r#""\a\b\f\n\r\t\v\\\" - \u1234\U00010111☺""#, r#""\a\b\f\n\r\t\v\\\" - ሴ𐄑☺""#),
    ("`\\a\\b`", r#""\\a\\b""#),
    // Arithmetic, precedence and associativity.
    ("1 + 1", "(+ 1 1)"),
    ("1 - 1", "(- 1 1)"),
    ("1 * 1", "(* 1 1)"),
    ("1 % 1", "(% 1 1)"),
    ("1 / 1", "(/ 1 1)"),
    ("1 == bool 1", "(== bool 1 1)"),
    ("1 != bool 1", "(!= bool 1 1)"),
    ("1 > bool 1", "(> bool 1 1)"),
    ("1 >= bool 1", "(>= bool 1 1)"),
    ("1 < bool 1", "(< bool 1 1)"),
    ("1 <= bool 1", "(<= bool 1 1)"),
    ("1 < BOOL 1", "(< bool 1 1)"),
    ("-1^2", "(neg (^ 1 2))"),
    ("-2^2", "(neg (^ 2 2))"),
    ("-1*2", "(* -1 2)"),
    ("-1+2", "(+ -1 2)"),
    ("-1^-2", "(neg (^ 1 -2))"),
    ("+1 + -2 * 1", "(+ 1 (* -2 1))"),
    ("1 + 2/(3*1)", "(+ 1 (/ 2 (paren (* 3 1))))"),
    ("1 < bool 2 - 1 * 2", "(< bool 1 (- 2 (* 1 2)))"),
    ("2 ^ 3 ^ 2", "(^ 2 (^ 3 2))"),
    ("1 - 2 - 3", "(- (- 1 2) 3)"),
    ("8 / 2 / 2", "(/ (/ 8 2) 2)"),
    ("1 + 2 * 3 ^ 2 % 4", "(+ 1 (% (* 2 (^ 3 2)) 4))"),
    ("a ^ -b * c", "(* (^ a (neg b)) c)"),
    ("a + -b * c", "(+ a (* (neg b) c))"),
    ("a * -b * c", "(* (* a (neg b)) c)"),
    ("a atan2 b * c", "(* (atan2 a b) c)"),
    ("a * b atan2 c", "(atan2 (* a b) c)"),
    ("a + b atan2 c", "(+ a (atan2 b c))"),
    ("a ATAN2 b", "(atan2 a b)"),
    ("foo == 1", "(== foo 1)"),
    ("foo == bool 1", "(== bool foo 1)"),
    ("2.5 / bar", "(/ 2.5 bar)"),
    ("foo + bar or bla and blub", "(or (+ foo bar) (and bla blub))"),
    ("foo and bar unless baz or qux", "(or (unless (and foo bar) baz) qux)"),
    ("a == b and c", "(and (== a b) c)"),
    ("a or b or c", "(or (or a b) c)"),
    ("a AND b Or c", "(or (and a b) c)"),
    ("-some_metric", "(neg some_metric)"),
    ("+some_metric", "(pos some_metric)"),
    (" +some_metric", "(pos some_metric)"),
    (r#" +{"some_metric"}"#, r#"(pos {__name__="some_metric"})"#),
    ("-(1)", "(neg (paren 1))"),
    ("-foo offset 5m", "(neg foo offset 5m)"),
    ("foo * sum", "(* foo sum)"),
    ("a + sum", "(+ a sum)"),
    ("foo offset 5s-8", "(- foo offset 5s 8)"),
    ("foo offset -1^1", "(^ foo offset -1s 1)"),
    ("1 + 1 # comment", "(+ 1 1)"),
    ("1 +\n# comment\n1", "(+ 1 1)"),
    // Selectors.
    ("foo", "foo"),
    ("min", "min"),
    ("sum", "sum"),
    ("offset", "offset"),
    ("by", "by"),
    ("and", "and"),
    ("start", "start"),
    ("end", "end"),
    ("and and and", "(and and and)"),
    ("offset offset 5m", "offset offset 5m"),
    ("sum(sum)", "(sum sum)"),
    ("sum{a=\"b\"}", "sum{a=\"b\"}"),
    ("start{end=\"foo\"}", "start{end=\"foo\"}"),
    ("end{start=\"foo\"}", "end{start=\"foo\"}"),
    ("foo:bar{a=\"bc\"}", "foo:bar{a=\"bc\"}"),
    (":foo", ":foo"),
    ("inf_metric", "inf_metric"),
    ("nan2", "nan2"),
    (r#"{"foo"}"#, r#"{__name__="foo"}"#),
    (r#"{'foo\'bar', 'a\\dos\\path'='boo\\urns'}"#, r#"{"a\\dos\\path"="boo\\urns",__name__="foo'bar"}"#),
    (r#"{"foo", a="bc"}"#, r#"{__name__="foo",a="bc"}"#),
    ("foo{NaN='bc'}", "foo{NaN=\"bc\"}"),
    ("foo{bar='}'}", "foo{bar=\"}\"}"),
    (r#"foo{a="b", foo!="bar", test=~"test", bar!~"baz"}"#, r#"foo{a="b",bar!~"baz",foo!="bar",test=~"test"}"#),
    (
        r#"{a="b", foo!="bar", "foo", test=~"test", bar!~"baz"}"#,
        r#"{__name__="foo",a="b",bar!~"baz",foo!="bar",test=~"test"}"#,
    ),
    (r#"foo{a="b", foo!="bar", test=~"test", bar!~"baz",}"#, r#"foo{a="b",bar!~"baz",foo!="bar",test=~"test"}"#),
    (r#"{__name__=~"bar", __name__!~"baz"}"#, r#"{__name__!~"baz",__name__=~"bar"}"#),
    (r#"{__name__="bar", __name__="baz"}"#, r#"{__name__="bar",__name__="baz"}"#),
    (r#"{"bar", __name__="baz"}"#, r#"{__name__="bar",__name__="baz"}"#),
    (r#"{"my.metric", "a.b"="x"}"#, r#"{"a.b"="x",__name__="my.metric"}"#),
    (r#"{"a.b"="c"}"#, r#"{"a.b"="c"}"#),
    ("up { job = \"vigil\" , } ", r#"up{job="vigil"}"#),
    ("foo{a # comment\n=\"b\"}", r#"foo{a="b"}"#),
    // Offsets and @, in either order.
    ("foo offset 5m", "foo offset 5m"),
    ("foo offset -7m", "foo offset -7m"),
    ("foo OFFSET 1h30m", "foo offset 1h30m"),
    ("foo OFFSET 1m30ms", "foo offset 1m30ms"),
    ("foo offset 5", "foo offset 5s"),
    ("foo offset +5m", "foo offset 5m"),
    ("foo offset 1.5", "foo offset 1s500ms"),
    ("foo offset 0s", "foo"),
    ("foo @ 1603774568", "foo @ 1603774568.000"),
    ("foo @ -100", "foo @ -100.000"),
    ("foo @ .3", "foo @ 0.300"),
    ("foo @ 3.", "foo @ 3.000"),
    ("foo @ 3.33", "foo @ 3.330"),
    ("foo @ 3.3333", "foo @ 3.333"),
    ("foo @ 3.3335", "foo @ 3.334"),
    ("foo @ 3e2", "foo @ 300.000"),
    ("foo @ 3e-1", "foo @ 0.300"),
    ("foo @ 0xA", "foo @ 10.000"),
    ("foo @ -3.3e1", "foo @ -33.000"),
    ("foo @ +5", "foo @ 5.000"),
    ("foo @ 1m", "foo @ 60.000"),
    ("foo @ start()", "foo @ start()"),
    ("foo @ end()", "foo @ end()"),
    ("foo @ START ( )", "foo @ start()"),
    ("foo @ 1 offset 1m", "foo @ 1.000 offset 1m"),
    ("foo offset 1m @ 1", "foo @ 1.000 offset 1m"),
    // Range selectors: modifiers after the range go on the inner selector.
    ("test[1000ms]", "test[1s]"),
    ("test[1001ms]", "test[1s1ms]"),
    ("test[5s]", "test[5s]"),
    ("test[5m]", "test[5m]"),
    ("foo[5m30s]", "foo[5m30s]"),
    ("test[5h] OFFSET 5m", "test[5h] offset 5m"),
    ("test[5d] OFFSET 10s", "test[5d] offset 10s"),
    ("test[5w] offset 2w", "test[5w] offset 2w"),
    (r#"test{a="b"}[5y] OFFSET 3d"#, r#"test{a="b"}[5y] offset 3d"#),
    (r#"test{a="b"}[5m] OFFSET 3600"#, r#"test{a="b"}[5m] offset 1h"#),
    ("foo[3ms] @ 2.345", "foo[3ms] @ 2.345"),
    ("foo[4s180ms] @ 2.345", "foo[4s180ms] @ 2.345"),
    ("foo[4.18] @ 2.345", "foo[4s180ms] @ 2.345"),
    ("foo[4.018] @ 2.345", "foo[4s18ms] @ 2.345"),
    (r#"test{a="b"}[5y] @ 1603774699"#, r#"test{a="b"}[5y] @ 1603774699.000"#),
    ("test[5]", "test[5s]"),
    ("test[+5m]", "test[5m]"),
    ("some_metric[5m] @ 1m", "some_metric[5m] @ 60.000"),
    ("test[5y] @ start()", "test[5y] @ start()"),
    ("test[5y] @ end() offset 1m", "test[5y] @ end() offset 1m"),
    ("test[5m] offset 1m @ 10", "test[5m] @ 10.000 offset 1m"),
    ("x[ 5m ]", "x[5m]"),
    ("offset{step=\"1s\"}[5m]", "offset{step=\"1s\"}[5m]"),
    ("step{offset=\"1s\"}[5m]", "step{offset=\"1s\"}[5m]"),
    // Subqueries.
    (r#"foo{bar="baz"}[10m:6s]"#, r#"(subquery foo{bar="baz"} 10m:6s)"#),
    (r#"foo{bar="baz"}[10m5s:1h6ms]"#, r#"(subquery foo{bar="baz"} 10m5s:1h6ms)"#),
    ("foo[10m:]", "(subquery foo 10m:)"),
    (
        r#"min_over_time(rate(foo{bar="baz"}[2s])[5m:5s])"#,
        r#"(min_over_time (subquery (rate foo{bar="baz"}[2s]) 5m:5s))"#,
    ),
    (
        r#"min_over_time(rate(foo{bar="baz"}[2s])[5m:])[4m:3s]"#,
        r#"(subquery (min_over_time (subquery (rate foo{bar="baz"}[2s]) 5m:)) 4m:3s)"#,
    ),
    (
        r#"min_over_time(rate(foo{bar="baz"}[2s])[5m:] offset 4m)[4m:3s]"#,
        r#"(subquery (min_over_time (subquery (rate foo{bar="baz"}[2s]) 5m: offset 240000ms)) 4m:3s)"#,
    ),
    (
        r#"min_over_time(rate(foo{bar="baz"}[2s])[5m:] @ 1603775091)[4m:3s]"#,
        r#"(subquery (min_over_time (subquery (rate foo{bar="baz"}[2s]) 5m: @1603775091000ms)) 4m:3s)"#,
    ),
    (
        r#"min_over_time(rate(foo{bar="baz"}[2s])[5m:] @ -160377509)[4m:3s]"#,
        r#"(subquery (min_over_time (subquery (rate foo{bar="baz"}[2s]) 5m: @-160377509000ms)) 4m:3s)"#,
    ),
    (
        "sum without(and, by, avg, count, alert, annotations)(some_metric) [30m:10s]",
        "(subquery (sum without(and,by,avg,count,alert,annotations) some_metric) 30m:10s)",
    ),
    ("some_metric OFFSET 1m [10m:5s]", "(subquery some_metric offset 1m 10m:5s)"),
    ("some_metric @ 123 [10m:5s]", "(subquery some_metric @ 123.000 10m:5s)"),
    ("some_metric @ 123 offset 1m [10m:5s]", "(subquery some_metric @ 123.000 offset 1m 10m:5s)"),
    ("some_metric offset 1m @ 123 [10m:5s]", "(subquery some_metric @ 123.000 offset 1m 10m:5s)"),
    ("some_metric[10m:5s] offset 1m @ 123", "(subquery some_metric 10m:5s @123000ms offset 60000ms)"),
    (r#"(foo + bar{nm="val"})[5m:]"#, r#"(subquery (paren (+ foo bar{nm="val"})) 5m:)"#),
    (r#"(foo + bar{nm="val"})[5m:] offset 10m"#, r#"(subquery (paren (+ foo bar{nm="val"})) 5m: offset 600000ms)"#),
    (
        r#"(foo + bar{nm="val"} @ 1234)[5m:] @ 1603775019"#,
        r#"(subquery (paren (+ foo bar{nm="val"} @ 1234.000)) 5m: @1603775019000ms)"#,
    ),
    ("foo[10m:6s] @ start()", "(subquery foo 10m:6s @start)"),
    ("foo[10m:6s] @ end()", "(subquery foo 10m:6s @end)"),
    ("foo[5:1]", "(subquery foo 5s:1s)"),
    ("max_over_time(rate(foo[5m])[5m:1m])[1h:]", "(subquery (max_over_time (subquery (rate foo[5m]) 5m:1m)) 1h:)"),
    ("Inf ^ 2", "(^ +Inf 2)"),
    ("-Inf ^ 2", "(neg (^ +Inf 2))"),
    // Aggregations.
    ("sum by (foo)(some_metric)", "(sum by(foo) some_metric)"),
    ("sum by (anchored)(some_metric)", "(sum by(anchored) some_metric)"),
    ("sum by (smoothed)(some_metric)", "(sum by(smoothed) some_metric)"),
    (r#"sum by ("foo bar")({"some.metric"})"#, r#"(sum by(foo bar) {__name__="some.metric"})"#),
    (r#"sum by ("foo", bar, 'baz')({"some.metric"})"#, r#"(sum by(foo,bar,baz) {__name__="some.metric"})"#),
    ("avg by (foo)(some_metric)", "(avg by(foo) some_metric)"),
    ("max by (foo)(some_metric)", "(max by(foo) some_metric)"),
    ("sum without (foo) (some_metric)", "(sum without(foo) some_metric)"),
    ("sum (some_metric) without (foo)", "(sum without(foo) some_metric)"),
    ("stddev(some_metric)", "(stddev some_metric)"),
    ("stdvar by (foo)(some_metric)", "(stdvar by(foo) some_metric)"),
    ("sum by ()(some_metric)", "(sum some_metric)"),
    ("sum without ()(some_metric)", "(sum without() some_metric)"),
    ("sum by (foo,bar,)(some_metric)", "(sum by(foo,bar) some_metric)"),
    ("sum by (foo,)(some_metric)", "(sum by(foo) some_metric)"),
    ("topk(5, some_metric)", "(topk 5 some_metric)"),
    (r#"count_values("value", some_metric)"#, r#"(count_values "value" some_metric)"#),
    (
        "sum without(and, by, avg, count, alert, annotations)(some_metric)",
        "(sum without(and,by,avg,count,alert,annotations) some_metric)",
    ),
    ("sum by (on, bool, offset, start, group_left)(x)", "(sum by(on,bool,offset,start,group_left) x)"),
    ("sum by (foo:bar)(x)", "(sum by(foo:bar) x)"),
    ("SUM BY (a) (x)", "(sum by(a) x)"),
    ("Count(x)", "(count x)"),
    ("group(x)", "(group x)"),
    ("bottomk(3, x)", "(bottomk 3 x)"),
    ("quantile(0.9, x)", "(quantile 0.9 x)"),
    ("limitk(2, x)", "(limitk 2 x)"),
    ("limit_ratio(0.5, x)", "(limit_ratio 0.5 x)"),
    ("min by (a) (x)", "(min by(a) x)"),
    ("(sum(foo))", "(paren (sum foo))"),
    ("(sum(foo) )", "(paren (sum foo))"),
    ("(sum(foo) by (bar))", "(paren (sum by(bar) foo))"),
    ("(sum by (bar) (foo))", "(paren (sum by(bar) foo))"),
    ("sum by (job)(rate(http_requests_total[30m]))", "(sum by(job) (rate http_requests_total[30m]))"),
    ("sum(x) by (a) + 1", "(+ (sum by(a) x) 1)"),
    // Functions.
    ("time()", "(time)"),
    (r#"floor(some_metric{foo!="bar"})"#, r#"(floor some_metric{foo!="bar"})"#),
    ("rate(some_metric[5m])", "(rate some_metric[5m])"),
    ("round(some_metric)", "(round some_metric)"),
    ("round(some_metric, 5)", "(round some_metric 5)"),
    ("rate(avg[5m])", "(rate avg[5m])"),
    ("day_of_month()", "(day_of_month)"),
    (r#"label_replace(up, "dst", "$1", "src", "(.*)")"#, r#"(label_replace up "dst" "$1" "src" "(.*)")"#),
    (r#"label_join(up, "dst", ",")"#, r#"(label_join up "dst" ",")"#),
    (r#"label_join(up, "dst", ",", "a", "b", "c")"#, r#"(label_join up "dst" "," "a" "b" "c")"#),
    (r#"sort_by_label(up, "a", "b")"#, r#"(sort_by_label up "a" "b")"#),
    ("histogram_quantile(0.9, rate(x[5m]))", "(histogram_quantile 0.9 (rate x[5m]))"),
    ("clamp(x, -1, +1)", "(clamp x -1 1)"),
    ("predict_linear(foo[1h], 3000)", "(predict_linear foo[1h] 3000)"),
    ("vector(1) + scalar(x)", "(+ (vector 1) (scalar x))"),
    ("pi() * 2", "(* (pi) 2)"),
    ("rate (x[5m])", "(rate x[5m])"),
    ("abs(-x)", "(abs (neg x))"),
];

#[test]
fn valid_queries_parse_to_the_expected_structure() {
    for (input, want) in VALID {
        assert_eq!(tree(&parse_ok(input)), *want, "input {input:?}");
    }
}

#[test]
fn valid_queries_print_and_reparse_to_the_same_tree() {
    for (input, _) in VALID {
        let first = parse_ok(input);
        let printed = first.to_string();
        let second = parse(&printed).unwrap_or_else(|e| panic!("{input:?} printed as {printed:?}: {e}"));
        assert!(first.same_as(&second), "{input:?} printed as {printed:?}, which parses differently");
        assert_eq!(second.to_string(), printed, "printing is stable for {input:?}");
    }
}

/// Invalid queries: where the (first) error starts, and its message.
const INVALID: &[(&str, usize, &str)] = &[
    ("", 0, "no expression found in input"),
    ("# just a comment\n\n", 0, "no expression found in input"),
    ("1+", 2, "unexpected end of input"),
    (".", 0, "unexpected character: '.'"),
    ("2.5.", 0, r#"bad number or duration syntax: "2.5.""#),
    ("100..4", 0, r#"bad number or duration syntax: "100..""#),
    ("0deadbeef", 0, r#"bad number or duration syntax: "0de""#),
    ("1 /", 3, "unexpected end of input"),
    ("*1", 0, "unexpected <op:*>"),
    ("(1))", 4, "unexpected right parenthesis ')'"),
    ("((1)", 4, "unclosed left parenthesis"),
    ("(", 1, "unclosed left parenthesis"),
    ("1e400", 0, r#"error parsing number: strconv.ParseFloat: parsing "1e400": value out of range"#),
    ("1 and 1", 0, r#"set operator "and" not allowed in binary scalar expression"#),
    ("1 == 1", 2, "comparisons between scalars must use BOOL modifier"),
    ("1 or 1", 0, r#"set operator "or" not allowed in binary scalar expression"#),
    ("1 unless 1", 0, r#"set operator "unless" not allowed in binary scalar expression"#),
    ("1 !~ 1", 2, "unexpected character after '!': '~'"),
    ("1 =~ 1", 2, "unexpected character after '=': '~'"),
    (
        r#"-"string""#,
        0,
        r#"unary expression only allowed on expressions of type scalar or instant vector, got "string""#,
    ),
    (
        "-test[5m]",
        0,
        r#"unary expression only allowed on expressions of type scalar or instant vector, got "range vector""#,
    ),
    ("*test", 0, "unexpected <op:*>"),
    (
        "-foo[5m:]",
        0,
        r#"unary expression only allowed on expressions of type scalar or instant vector, got "range vector""#,
    ),
    ("@@", 0, "unexpected <op:@>"),
    (
        "1 offset 1d",
        0,
        "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
    ),
    ("foo offset 1s offset 2s", 0, "offset may not be set multiple times"),
    ("a - on(b) ignoring(c) d", 10, "unexpected <ignoring>"),
    ("foo and 1", 0, r#"set operator "and" not allowed in binary scalar expression"#),
    ("1 and foo", 0, r#"set operator "and" not allowed in binary scalar expression"#),
    ("foo or 1", 0, r#"set operator "or" not allowed in binary scalar expression"#),
    ("1 unless foo", 0, r#"set operator "unless" not allowed in binary scalar expression"#),
    ("1 or on(bar) foo", 0, "vector matching only allowed between instant vectors"),
    ("foo == on(bar) 10", 0, "vector matching only allowed between instant vectors"),
    ("foo + group_left(baz) bar", 6, "unexpected <group_left>"),
    ("foo and on(bar) group_left(baz) bar", 0, r#"no grouping allowed for "and" operation"#),
    ("foo and on(bar) group_right(baz) bar", 0, r#"no grouping allowed for "and" operation"#),
    ("foo or on(bar) group_left(baz) bar", 0, r#"no grouping allowed for "or" operation"#),
    ("foo unless on(bar) group_right(baz) bar", 0, r#"no grouping allowed for "unless" operation"#),
    (
        r#"http_requests{group="production"} + on(instance) group_left(job,instance) cpu_count{type="smp"}"#,
        34,
        r#"label "instance" must not occur in ON and GROUP clause at once"#,
    ),
    ("foo + bool bar", 4, "bool modifier can only be used on comparison operators"),
    ("foo + bool 10", 4, "bool modifier can only be used on comparison operators"),
    ("foo and bool 10", 4, "bool modifier can only be used on comparison operators"),
    ("foo @ +Inf", 0, "timestamp out of bounds for @ modifier: +Inf"),
    ("foo @ -Inf", 0, "timestamp out of bounds for @ modifier: -Inf"),
    ("foo @ NaN", 0, "timestamp out of bounds for @ modifier: NaN"),
    ("foo @ 9223372036854775809", 0, "timestamp out of bounds for @ modifier: 9223372036854775808.000000"),
    ("foo @ -9223372036854775809", 0, "timestamp out of bounds for @ modifier: -9223372036854775808.000000"),
    ("{", 1, "unexpected end of input inside braces"),
    ("}", 0, "unexpected character: '}'"),
    ("some{", 5, "unexpected end of input inside braces"),
    ("some}", 4, "unexpected character: '}'"),
    ("some_metric{a=b}", 14, r#"unexpected identifier "b" in label matching, expected string"#),
    (r#"some_metric{a:b="b"}"#, 13, "unexpected character inside braces: ':'"),
    (r#"foo{a*"b"}"#, 5, "unexpected character inside braces: '*'"),
    (r#"foo{a>="b"}"#, 5, "unexpected character inside braces: '>'"),
    ("foo{gibberish}", 13, r#"unexpected "}" in label matching, expected label matching operator"#),
    ("foo{1}", 4, "unexpected character inside braces: '1'"),
    ("{}", 0, "vector selector must contain at least one non-empty matcher"),
    (r#"{x=""}"#, 0, "vector selector must contain at least one non-empty matcher"),
    (r#"{x=~".*"}"#, 0, "vector selector must contain at least one non-empty matcher"),
    (r#"{x!~".+"}"#, 0, "vector selector must contain at least one non-empty matcher"),
    (r#"{x!="a"}"#, 0, "vector selector must contain at least one non-empty matcher"),
    (r#"{} offset 5m"#, 0, "vector selector must contain at least one non-empty matcher"),
    (r#"foo{__name__="bar"}"#, 0, r#"metric name must not be set twice: "foo" or "bar""#),
    (r#"foo{__name__=~"bar"}"#, 0, r#"metric name must not be set twice: "foo" or "bar""#),
    (r#"foo{"bar"}"#, 0, r#"metric name must not be set twice: "foo" or "bar""#),
    ("foo{__name__= =}", 14, r#"unexpected "=" in label matching, expected string"#),
    ("foo{,}", 4, r#"unexpected "," in label matching, expected identifier or "}""#),
    (r#"foo{__name__ == "bar"}"#, 14, r#"unexpected "=" in label matching, expected string"#),
    (r#"foo{__name__="bar" lol}"#, 19, r#"unexpected identifier "lol" in label matching, expected "," or "}""#),
    (r#"foo{a="b" by}"#, 10, r#"unexpected identifier "by" in label matching, expected "," or "}""#),
    (r#"foo{"a"=}"#, 8, r#"unexpected "}" in label matching, expected string"#),
    (r#"{"http.requests"xx}"#, 16, r#"unexpected identifier "xx" in label matching, expected "," or "}""#),
    (r#"up{a=~"("}"#, 3, "error parsing regexp"),
    ("up{a=\"b\"", 8, "unexpected end of input inside braces"),
    ("up down", 3, r#"unexpected identifier "down""#),
    ("foo[5mm]", 4, r#"bad number or duration syntax: "5mm""#),
    ("foo[5m1]", 4, r#"bad number or duration syntax: "5m1""#),
    ("foo[5m:1m1]", 7, r#"bad number or duration syntax: "1m1""#),
    ("foo[5y1hs]", 4, r#"unknown unit "hs" in duration "5y1hs""#),
    ("foo[5m1h]", 4, r#"not a valid duration string: "5m1h""#),
    ("foo[5m1m]", 4, r#"not a valid duration string: "5m1m""#),
    ("foo[0m]", 4, "duration must be greater than 0"),
    ("foo[0]", 4, "duration must be greater than 0"),
    ("foo[5m:0s]", 7, "duration must be greater than 0"),
    (r#"foo["5m"]"#, 4, r#"unexpected character in duration expression: '"'"#),
    ("foo[]", 4, r#"unexpected "]" in subquery or range selector, expected number, duration, step(), or range()"#),
    ("foo[-1]", 4, "duration must be greater than 0"),
    ("foo[-5m]", 4, "duration must be greater than 0"),
    ("foo[5m 1m]", 7, r#"unexpected duration "1m" in subquery or range, expected ":" or "]""#),
    ("foo[5m:1m 2m]", 10, r#"unexpected duration "2m" in subquery selector, expected "]""#),
    ("foo[5m:,]", 7, r#"unexpected "," in subquery selector, expected number, duration, step(), range(), or "]""#),
    ("foo[0.0001]", 4, "duration must be at least 1ms"),
    ("some_metric[5m] OFFSET 1mm", 23, r#"bad number or duration syntax: "1mm""#),
    ("some_metric[5m] OFFSET", 22, "unexpected end of input in offset, expected number, duration, step(), or range()"),
    ("some_metric OFFSET 1m[5m]", 21, "no offset modifiers allowed before range"),
    ("some_metric[5m] @", 17, "unexpected end of input in @, expected timestamp"),
    ("some_metric @ 1234 [5m]", 19, "no @ modifiers allowed before range"),
    ("some_metric @ start() [5m]", 22, "no @ modifiers allowed before range"),
    ("some_metric @ end()[5m]", 19, "no @ modifiers allowed before range"),
    ("some_metric @ start", 19, "unexpected end of input in @, expected timestamp"),
    ("some_metric @ foo", 14, r#"unexpected identifier "foo" in @, expected timestamp"#),
    ("foo @ 1 @ 2", 0, "@ <timestamp> may not be set multiple times"),
    ("foo @ --1", 7, "unexpected <op:-> in @, expected timestamp"),
    ("(foo + bar)[5m]", 11, "ranges only allowed for vector selectors"),
    ("1[5m]", 1, "ranges only allowed for vector selectors"),
    ("rate(food[1m])[1h] offset 1h", 14, "ranges only allowed for vector selectors"),
    (
        "rate(some_metric[5m]) @ 1234",
        0,
        "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery",
    ),
    (
        "(foo) offset 5m",
        0,
        "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
    ),
    (r#"sum by ("foo)(some_metric{})"#, 8, "unterminated quoted string"),
    ("sum without(==)(some_metric)", 12, "unexpected <op:==> in grouping opts, expected label"),
    ("sum without(,)(some_metric)", 12, r#"unexpected "," in grouping opts, expected label"#),
    ("sum without(foo,,)(some_metric)", 16, r#"unexpected "," in grouping opts, expected label"#),
    ("sum by (without)(x)", 8, "unexpected <without> in grouping opts, expected label"),
    ("sum by (nan)(x)", 8, r#"unexpected number "nan" in grouping opts, expected label"#),
    ("sum by (a b)(x)", 10, r#"unexpected identifier "b" in grouping opts, expected "," or ")""#),
    (r#"sum by ("")(x)"#, 8, r#"invalid label name for grouping: """#),
    ("sum some_metric by (test)", 4, r#"unexpected identifier "some_metric""#),
    ("sum (some_metric) by test", 21, r#"unexpected identifier "test" in grouping opts, expected "(""#),
    ("sum () by (test)", 0, "no arguments for aggregate expression provided"),
    ("MIN keep_common (some_metric)", 4, r#"unexpected identifier "keep_common""#),
    ("MIN (some_metric) keep_common", 18, r#"unexpected identifier "keep_common""#),
    ("sum (some_metric) without (test) by (test)", 33, "unexpected <by>"),
    ("sum without (test) (some_metric) by (test)", 33, "unexpected <by>"),
    ("sum by (a) b", 11, r#"unexpected identifier "b" in aggregation"#),
    ("sum(a b)", 6, r#"unexpected identifier "b" in aggregation"#),
    ("topk(some_metric)", 0, "wrong number of arguments for aggregate expression provided, expected 2, got 1"),
    ("topk(some_metric,)", 16, "trailing commas not allowed in function call args"),
    ("sum(a, b)", 0, "wrong number of arguments for aggregate expression provided, expected 1, got 2"),
    ("topk(some_metric, other_metric)", 5, "expected type scalar in aggregation parameter, got instant vector"),
    ("count_values(5, other_metric)", 13, "expected type string in aggregation parameter, got scalar"),
    ("sum(x[5m])", 4, "expected type instant vector in aggregation expression, got range vector"),
    ("sum(1)", 4, "expected type instant vector in aggregation expression, got scalar"),
    ("floor()", 0, r#"expected 1 argument(s) in call to "floor", got 0"#),
    ("floor(some_metric, other_metric)", 0, r#"expected 1 argument(s) in call to "floor", got 2"#),
    ("floor(some_metric, 1)", 0, r#"expected 1 argument(s) in call to "floor", got 2"#),
    ("floor(1)", 6, r#"expected type instant vector in call to function "floor", got scalar"#),
    ("hour(some_metric, some_metric, some_metric)", 0, r#"expected at most 1 argument(s) in call to "hour", got 3"#),
    ("round()", 0, r#"expected at least 1 argument(s) in call to "round", got 0"#),
    (r#"label_join(x, "a")"#, 0, r#"expected at least 3 argument(s) in call to "label_join", got 2"#),
    (r#"label_join(x, "a", "b", 1)"#, 24, r#"expected type string in call to function "label_join", got scalar"#),
    ("time(some_metric)", 0, r#"expected 0 argument(s) in call to "time", got 1"#),
    ("non_existent_function_far_bar()", 0, r#"unknown function with name "non_existent_function_far_bar""#),
    ("RATE(x[5m])", 0, r#"unknown function with name "RATE""#),
    ("no_such_function()", 0, r#"unknown function with name "no_such_function""#),
    ("rate(some_metric)", 5, r#"expected type range vector in call to function "rate", got instant vector"#),
    ("rate(a b)", 7, r#"unexpected identifier "b""#),
    ("-=", 1, r#"unexpected "=""#),
    ("++-++-+-+-<", 10, "unexpected <op:<>"),
    ("e-+=/(0)", 3, r#"unexpected "=""#),
    ("a>b()", 2, r#"unknown function with name "b""#),
    ("rate(avg)", 5, r#"expected type range vector in call to function "rate", got instant vector"#),
    ("`\\``", 3, "unterminated raw string"),
    ("\"\\", 0, "escape sequence not terminated"),
    (r#""\c""#, 0, "unknown escape sequence U+0063 'c'"),
    (r#""\x.""#, 0, "illegal character U+002E '.' in escape sequence"),
    (r#"foo{bar="baz"}["#, 15, "unexpected end of input in duration expression"),
    ("test[5d] OFFSET 10s [10m:5s]", 0, "subquery is only allowed on instant vector, got matrix instead"),
    (r#"(foo + bar{nm="val"})[5m:][10m:5s]"#, 0, "subquery is only allowed on instant vector, got matrix instead"),
    ("1[5m:]", 0, "subquery is only allowed on instant vector, got scalar instead"),
    (r#""a"[5m:]"#, 0, "subquery is only allowed on instant vector, got string instead"),
    ("foo[step]", 8, r#"unexpected "]" in subquery or range selector, expected number, duration, step(), or range()"#),
    ("sum(", 4, "unclosed left parenthesis"),
    ("sum(rate(", 9, "unclosed left parenthesis"),
    ("foo[5s x 5s]", 7, "unexpected character: 'x', expected ':'"),
    ("foo[5s s 5s]", 7, "unexpected character: 's', expected ':'"),
    ("foo[5m", 6, "unclosed left bracket"),
    ("foo]", 3, "unexpected right bracket ']'"),
    ("foo[5m][5m]", 7, "ranges only allowed for vector selectors"),
    ("foo[1m:2m:3m]", 9, "unexpected colon ':'"),
    ("foo[:5m]", 5, "unexpected colon before duration in duration expression"),
    // Binary operand types.
    ("foo[5m] + 1", 0, "binary expression must contain only scalar and instant vector types"),
    (r#"1 + "a""#, 4, "binary expression must contain only scalar and instant vector types"),
    // Keywords that cannot name a metric.
    ("bool", 0, "unexpected <bool>"),
    ("on", 0, "unexpected <on>"),
    ("atan2", 0, "unexpected <op:atan2>"),
    ("foo + on", 8, "unexpected end of input in grouping opts, expected \"(\""),
    ("foo:bar(x)", 7, r#"unexpected "(""#),
    ("and(x)", 3, r#"unexpected "(""#),
    // Prometheus's experimental syntax, refused as Prometheus refuses it by default.
    ("foo[5m+1m]", 4, "experimental duration expression is not enabled"),
    ("foo[step()]", 4, "experimental duration expression is not enabled"),
    ("foo[(5s)]", 4, "experimental duration expression is not enabled"),
    ("foo[-2^2]", 4, "experimental duration expression is not enabled"),
    ("foo offset (5)", 11, "experimental duration expression is not enabled"),
    ("foo offset step()", 11, "experimental duration expression is not enabled"),
    ("foo[5m:1m*2]", 7, "experimental duration expression is not enabled"),
    ("foo offset 9.5e10", 11, "duration out of range"),
    ("foo offset -9.5e10", 11, "duration out of range"),
    ("foo[9.5e10]", 4, "duration out of range"),
    ("a + fill(-23) b", 4, "binop fill modifiers are experimental and not enabled"),
    ("a anchored", 0, "anchored modifier is experimental and not enabled"),
    ("a </ b", 2, "the histogram trim operator \"</\" is experimental in Prometheus and not supported"),
];

#[test]
fn invalid_queries_fail_with_prometheus_messages_at_prometheus_positions() {
    for (input, start, want) in INVALID {
        let err = match parse(input) {
            Ok(e) => panic!("{input:?} parsed, to {e}"),
            Err(err) => err,
        };
        assert!(err.message.starts_with(want), "input {input:?}: got {:?}, want {want:?}", err.message);
        assert_eq!(err.span.start, *start, "input {input:?}: {}", err.message);
        assert!(err.span.start <= err.span.end && err.span.end <= input.len(), "input {input:?}: span {:?}", err.span);
    }
}

#[test]
fn describe_gives_line_and_byte_column() {
    let input = "up{\n  a=1}";
    let err = parse(input).unwrap_err();
    assert_eq!(err.describe(input), "2:5: parse error: unexpected character inside braces: '1'");
    let input = r#"label_replace(x, "ü", "a", "b", 1)"#;
    let err = parse(input).unwrap_err();
    assert_eq!(
        err.describe(input),
        r#"1:34: parse error: expected type string in call to function "label_replace", got scalar"#
    );
}

#[test]
fn number_and_selector_spans() {
    let cases = [("1", 0, 1), ("-0755", 0, 5), ("- 1", 0, 3), ("foo offset 5m", 0, 13), ("foo[5m] @ 10", 0, 12)];
    for (input, start, end) in cases {
        assert_eq!(parse_ok(input).span(), Span::new(start, end), "{input}");
    }
    let Expr::Unary { expr, span, .. } = parse_ok(" +some_metric") else { panic!() };
    assert_eq!((span, expr.span()), (Span::new(1, 13), Span::new(2, 13)));
    let Expr::Aggregate(a) = parse_ok("sum(x) by (a) ") else { panic!() };
    assert_eq!(a.span, Span::new(0, 13));
    let Expr::Call(c) = parse_ok("rate(x[5m])") else { panic!() };
    assert_eq!((c.span, c.args[0].span()), (Span::new(0, 11), Span::new(5, 10)));
    let Expr::MatrixSelector(m) = parse_ok("x[5m] offset 1m") else { panic!() };
    assert_eq!((m.span, m.selector.span), (Span::new(0, 15), Span::new(0, 1)));
}

#[test]
fn selectors_keep_the_name_first_and_outside_braces_only() {
    let Expr::VectorSelector(vs) = parse_ok(r#"foo{a="b"}"#) else { panic!() };
    assert_eq!(vs.name.as_deref(), Some("foo"));
    assert_eq!((vs.matchers[0].name.as_str(), vs.matchers[0].value.as_str()), (METRIC_NAME, "foo"));
    assert_eq!(vs.matchers.len(), 2);
    let Expr::VectorSelector(vs) = parse_ok(r#"{"foo", a="b"}"#) else { panic!() };
    assert_eq!(vs.name, None);
    assert_eq!(vs.matchers[0].value, "foo");
}

#[test]
fn regex_matchers_are_anchored() {
    let Expr::VectorSelector(vs) = parse_ok("{job=~\"vig\"}") else { panic!() };
    assert!(vs.matchers[0].matches("vig"));
    assert!(!vs.matchers[0].matches("vigil"));
    let Expr::VectorSelector(vs) = parse_ok("{job=~\"a.b\"}") else { panic!() };
    assert!(vs.matchers[0].matches("a\nb"), "dot matches newline as in Prometheus");
}

#[test]
fn cached_regexes_behave_like_fresh_ones() {
    // Same pattern, different operators and labels; more patterns than the
    // cache keeps; a failure twice, also once a valid pattern is cached.
    for round in 0..3 {
        for i in 0..100 {
            let input = format!("{{job=~\"a{i}|b.\", x!~\"a{i}|b.\"}}");
            let Expr::VectorSelector(vs) = parse_ok(&input) else { panic!() };
            assert!(vs.matchers[0].matches(&format!("a{i}")) && vs.matchers[0].matches("b\n"), "{round} {input}");
            assert!(!vs.matchers[0].matches(&format!("a{i}a")), "{round} {input}");
            assert!(!vs.matchers[1].matches("bc") && vs.matchers[1].matches("c"), "{round} {input}");
        }
        let err = parse(r#"up{a=~"("}"#).unwrap_err();
        assert!(err.message.starts_with("error parsing regexp"), "{}", err.message);
        crate::promql::ast::clear_regex_cache();
    }
    let long = "x|".repeat(3000) + "y";
    let Expr::VectorSelector(vs) = parse_ok(&format!("{{a=~\"{long}\"}}")) else { panic!() };
    assert!(vs.matchers[0].matches("y") && !vs.matchers[0].matches("z"));
}

fn matching(input: &str) -> Option<VectorMatching> {
    match parse_ok(input) {
        Expr::Binary(b) => b.matching,
        other => panic!("{input}: {other:?}"),
    }
}

fn vm(card: Cardinality, on: bool, labels: &[&str], include: &[&str]) -> Option<VectorMatching> {
    Some(VectorMatching {
        card,
        matching_labels: labels.iter().map(|s| s.to_string()).collect(),
        on,
        include: include.iter().map(|s| s.to_string()).collect(),
    })
}

#[test]
fn vector_matching_is_filled_in_as_documented() {
    use Cardinality::*;
    let cases = [
        ("foo * bar", vm(OneToOne, false, &[], &[])),
        ("foo * 1", None),
        ("1 * foo", None),
        ("1 + 1", None),
        ("foo + ignoring() 1", None),
        ("foo and bar", vm(ManyToMany, false, &[], &[])),
        ("foo or bar", vm(ManyToMany, false, &[], &[])),
        ("foo unless bar", vm(ManyToMany, false, &[], &[])),
        ("foo and on(test,blub) bar", vm(ManyToMany, true, &["test", "blub"], &[])),
        ("foo and on() bar", vm(ManyToMany, true, &[], &[])),
        ("foo and ignoring(test,blub) bar", vm(ManyToMany, false, &["test", "blub"], &[])),
        ("foo unless on(bar) baz", vm(ManyToMany, true, &["bar"], &[])),
        ("foo * on(test,blub) bar", vm(OneToOne, true, &["test", "blub"], &[])),
        ("foo * on(test,blub) group_left bar", vm(ManyToOne, true, &["test", "blub"], &[])),
        ("foo / on(test,blub) group_left(bar) bar", vm(ManyToOne, true, &["test", "blub"], &["bar"])),
        ("foo / ignoring(test,blub) group_left(blub) bar", vm(ManyToOne, false, &["test", "blub"], &["blub"])),
        ("foo - on(test,blub) group_right(bar,foo) bar", vm(OneToMany, true, &["test", "blub"], &["bar", "foo"])),
        (
            "foo - ignoring(test,blub) group_right(bar,foo) bar",
            vm(OneToMany, false, &["test", "blub"], &["bar", "foo"]),
        ),
        ("foo == bool on(a) bar", vm(OneToOne, true, &["a"], &[])),
        ("foo unless on(start) bar", vm(ManyToMany, true, &["start"], &[])),
        (r#"foo / on("äää") group_left("ööö") bar"#, vm(ManyToOne, true, &["äää"], &["ööö"])),
        ("sum(a) + rate(b[5m])", vm(OneToOne, false, &[], &[])),
        ("(a) + -b", vm(OneToOne, false, &[], &[])),
        ("scalar(a) + b", None),
    ];
    for (input, want) in cases {
        assert_eq!(matching(input), want, "{input}");
    }
    let Expr::Binary(b) = parse_ok("bar + on(foo) bla / on(baz, buz) group_right(test) blub") else { panic!() };
    assert_eq!(b.matching, vm(OneToOne, true, &["foo"], &[]));
    let Expr::Binary(rhs) = *b.rhs else { panic!() };
    assert_eq!(rhs.matching, vm(OneToMany, true, &["baz", "buz"], &["test"]));
}

/// Prometheus's `printer_test.go` cases that do not need experimental flags:
/// input and, where it differs, the canonical output.
const PRINTER: &[(&str, &str)] = &[
    (r#"sum by() (task:errors:rate10s{job="s"})"#, r#"sum(task:errors:rate10s{job="s"})"#),
    (r#"sum by(code) (task:errors:rate10s{job="s"})"#, r#"sum by (code) (task:errors:rate10s{job="s"})"#),
    (r#"sum without() (task:errors:rate10s{job="s"})"#, r#"sum without () (task:errors:rate10s{job="s"})"#),
    (
        r#"sum without(instance) (task:errors:rate10s{job="s"})"#,
        r#"sum without (instance) (task:errors:rate10s{job="s"})"#,
    ),
    (r#"sum by("foo.bar") (task:errors:rate10s{job="s"})"#, r#"sum by ("foo.bar") (task:errors:rate10s{job="s"})"#),
    (
        r#"sum without("foo.bar") (task:errors:rate10s{job="s"})"#,
        r#"sum without ("foo.bar") (task:errors:rate10s{job="s"})"#,
    ),
    (r#"topk(5, task:errors:rate10s{job="s"})"#, ""),
    (r#"count_values("value", task:errors:rate10s{job="s"})"#, ""),
    ("a - on() c", "a - on () c"),
    ("a - on(b) c", "a - on (b) c"),
    ("a - on(b) group_left(x) c", "a - on (b) group_left (x) c"),
    ("a - on(b) group_left(x, y) c", "a - on (b) group_left (x, y) c"),
    ("a - on(b) group_left c", "a - on (b) group_left () c"),
    ("a - on(b) group_left() (c)", "a - on (b) group_left () (c)"),
    ("a - ignoring(b) c", "a - ignoring (b) c"),
    ("a - ignoring() c", "a - c"),
    ("a - ignoring() group_left(__metric__) c", "a - ignoring () group_left (__metric__) c"),
    ("a - ignoring() group_left c", "a - ignoring () group_left () c"),
    ("up > bool 0", ""),
    ("a offset 1m", ""),
    ("a offset -7m", ""),
    (r#"a{c="d"}[5m] offset 1m"#, ""),
    ("a[5m] offset 1m", ""),
    ("a[12m] offset -3m", ""),
    ("a[1h:5m] offset 1m", ""),
    (r#"{__name__="a"}"#, ""),
    (r#"a{b!="c"}[1m]"#, ""),
    (r#"a{b=~"c"}[1m]"#, ""),
    (r#"a{b!~"c"}[1m]"#, ""),
    ("a @ 10", "a @ 10.000"),
    ("a[1m] @ 10", "a[1m] @ 10.000"),
    ("a @ start()", ""),
    ("a @ end()", ""),
    ("a[1m] @ start()", ""),
    ("a[1m] @ end()", ""),
    (r#"{__name__="",a="x"}"#, ""),
    (r#"{"a.b"="c"}"#, ""),
    (r#"{"0"="1"}"#, ""),
    (r#"{"_0"="1"}"#, r#"{_0="1"}"#),
    (r#"{""="0"}"#, ""),
    ("{``=\"0\"}", r#"{""="0"}"#),
    ("1048576", ""),
    ("predict_linear(foo[1h], 3000)", ""),
    (r#"sum by("üüü") (foo)"#, r#"sum by ("üüü") (foo)"#),
    (r#"sum without("äää") (foo)"#, r#"sum without ("äää") (foo)"#),
    (r#"count by("ööö", job) (foo)"#, r#"count by ("ööö", job) (foo)"#),
    (r#"foo / on("äää") bar"#, r#"foo / on ("äää") bar"#),
    (r#"foo / ignoring("üüü") bar"#, r#"foo / ignoring ("üüü") bar"#),
    (r#"foo / on("äää") group_left("ööö") bar"#, r#"foo / on ("äää") group_left ("ööö") bar"#),
    (r#"foo / on("äää") group_right("ööö") bar"#, r#"foo / on ("äää") group_right ("ööö") bar"#),
    (r#"foo / on(legacy, "üüü") bar"#, r#"foo / on (legacy, "üüü") bar"#),
    ("foo / on(job, instance) bar", "foo / on (job, instance) bar"),
    // Vigil's own: numbers, durations, strings and selectors.
    ("Inf", "+Inf"),
    ("-inf", "-Inf"),
    ("nan", "NaN"),
    ("1e21", "1000000000000000000000"),
    ("1e-7", "0.0000001"),
    ("0x10", "16"),
    ("5m", "300"),
    ("x[90d]", "x[90d]"),
    ("x[14d]", "x[2w]"),
    ("x[366d]", "x[366d]"),
    ("x[365d]", "x[1y]"),
    ("x[3600s]", "x[1h]"),
    ("x[1h:90s]", "x[1h:1m30s]"),
    (r#"foo{b="1", a="2"}"#, r#"foo{a="2",b="1"}"#),
    ("'a\\x01\\u00a0b'", r#""a\x01\u00a0b""#),
    ("`a\"b`", r#""a\"b""#),
    ("-x", ""),
    ("-(1 + 2)", ""),
    ("sum(x) by (a)", "sum by (a) (x)"),
    ("rate(x[5m] offset -1h)", ""),
    ("x @ 1.5 offset 1m", "x @ 1.500 offset 1m"),
    ("x[5m:] @ start()", ""),
    ("1 + 2 * 3", ""),
    ("(1 + 2) * 3", ""),
    ("2 ^ -1", ""),
    ("Inf ^ 2", ""),
    ("+Inf ^ 2", ""),
    ("a unless on (b) c", ""),
    ("foo AND bar", "foo and bar"),
    ("a atan2 b", ""),
    ("sum(a) BY (b)", "sum by (b) (a)"),
];

#[test]
fn printer_matches_prometheus() {
    for (input, want) in PRINTER {
        let want = if want.is_empty() { input } else { want };
        let expr = parse_ok(input);
        assert_eq!(expr.to_string(), *want, "input {input:?}");
        let again = parse_ok(want);
        assert!(again.same_as(&expr), "{want:?} reparses differently from {input:?}");
    }
}

#[test]
fn printed_strings_read_back() {
    for value in ["", "a\"b", "\\", "\u{0}\u{1f}\u{7f}", "é\u{a0}\u{2028}\u{feff}", "\u{10ffff}\u{e000}", "☺\t\n"] {
        let input = go_quote(value);
        let Expr::StringLiteral { value: parsed, .. } = parse_ok(&input) else { panic!() };
        assert_eq!(parsed, value, "{input}");
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    // Release builds need less than half a megabyte at the limit, so the
    // test runs on a stack as small as a browser's (1 MiB); unoptimised
    // frames are several times larger.
    let stack = if cfg!(debug_assertions) { 16 << 20 } else { 1 << 20 };
    std::thread::Builder::new()
        .stack_size(stack)
        .spawn(|| {
            let ok_depth = MAX_DEPTH / 2 - 10;
            let chain = "x + ".repeat(MAX_DEPTH - 1) + "x";
            let near_limit = [
                format!("{}1{}", "(".repeat(ok_depth), ")".repeat(ok_depth)),
                format!("{}1{}", "-(".repeat(ok_depth / 2), ")".repeat(ok_depth / 2)),
                format!("{}x{}", "sum(".repeat(ok_depth), ")".repeat(ok_depth)),
                "1 ^ ".repeat(MAX_DEPTH - 2) + "1",
                chain.clone(),
            ];
            for input in &near_limit {
                let expr = parse_ok(input);
                assert!(parse_ok(&expr.to_string()).same_as(&expr), "{}", &input[..20]);
            }
            let err = parse(&(chain + " + x")).unwrap_err();
            assert!(err.message.starts_with("expression nested too deeply"), "{}", err.message);
            for input in [
                format!("{}1{}", "(".repeat(5000), ")".repeat(5000)),
                format!("{}1", "-".repeat(5000)),
                format!("{}x", "-(".repeat(3000)),
                "1+".repeat(5000) + "1",
                "1^".repeat(5000) + "1",
                format!("x{}", "[1m:]".repeat(5000)),
                format!("{}x{}", "sum(".repeat(3000), ")".repeat(3000)),
                format!("{}x{}", "abs(".repeat(3000), ")".repeat(3000)),
                format!("({}) {}", "-{}-1".repeat(10000), "[1m:]".repeat(1000)),
            ] {
                let err = parse(&input).unwrap_err();
                assert!(err.message.starts_with("expression nested too deeply"), "{}: {}", &input[..20], err.message);
            }
        })
        .unwrap()
        .join()
        .unwrap();
}

// proptest is a native-only dev-dependency (it does not build for wasm32).
#[cfg(not(target_arch = "wasm32"))]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Fragments of PromQL, valid and not, to build token soups from.
    const FRAGMENTS: &[&str] = &[
        "foo",
        "bar",
        "sum",
        "rate",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "offset",
        "and",
        "or",
        "unless",
        "atan2",
        "start",
        "end",
        "topk",
        "count_values",
        "histogram_quantile",
        "label_replace",
        "time",
        "inf",
        "NaN",
        "1",
        "0.5",
        "-",
        "+",
        "*",
        "/",
        "%",
        "^",
        "==",
        "!=",
        "<",
        ">=",
        "(",
        ")",
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "@",
        "=",
        "=~",
        "!~",
        "\"a\"",
        "'b'",
        "`c`",
        "5m",
        "1h30m",
        "0x1f",
        "1e3",
        "# c\n",
        " ",
        "\n",
        "job",
        "\"a.b\"",
        "[5m]",
        "[1h:5m]",
        "{job=\"x\"}",
        "a:b",
        ".",
        "\\",
    ];

    proptest! {
        /// Parsing never panics, and errors stay inside the input.
        #[test]
        fn parse_never_panics(input in "\\PC{0,60}") {
            if let Err(e) = parse(&input) {
                prop_assert!(e.span.start <= e.span.end && e.span.end <= input.len());
                let _ = e.describe(&input);
            }
        }

        /// Token soups: mostly invalid, sometimes valid; never a panic, and
        /// whatever parses prints to text that parses to the same tree.
        #[test]
        fn token_soup(parts in proptest::collection::vec(proptest::sample::select(FRAGMENTS), 0..24)) {
            let input = parts.join(" ");
            match parse(&input) {
                Ok(expr) => {
                    let printed = expr.to_string();
                    let again = parse(&printed).map_err(|e| TestCaseError::fail(format!("{input:?} → {printed:?}: {e}")))?;
                    prop_assert!(again.same_as(&expr), "{:?} → {:?}", input, printed);
                }
                Err(e) => prop_assert!(e.span.end <= input.len()),
            }
        }

        /// Generated valid queries print to text that parses to the same tree.
        #[test]
        fn print_round_trips(input in query(4)) {
            let expr = parse(&input).map_err(|e| TestCaseError::fail(format!("{input:?}: {}", e.describe(&input))))?;
            let printed = expr.to_string();
            let again = parse(&printed).map_err(|e| TestCaseError::fail(format!("{input:?} → {printed:?}: {e}")))?;
            prop_assert!(again.same_as(&expr), "{:?} → {:?}", input, printed);
        }
    }

    fn duration() -> impl Strategy<Value = String> {
        prop_oneof![
            (1u32..100, proptest::sample::select(&["ms", "s", "m", "h", "d", "w", "y"][..]))
                .prop_map(|(n, u)| format!("{n}{u}")),
            (1u32..100, 1u32..60).prop_map(|(h, m)| format!("{h}h{m}m")),
            (1u32..1000).prop_map(|n| n.to_string()),
        ]
    }

    fn label_value() -> impl Strategy<Value = String> {
        "\\PC{0,6}".prop_map(|s| go_quote(&s))
    }

    fn selector() -> impl Strategy<Value = String> {
        let name = prop_oneof![
            Just(String::new()),
            "[a-z_][a-z0-9_:]{0,6}".prop_filter("not a reserved word", |n| !is_reserved_word(n)),
            Just("sum".to_owned()),
            Just("offset".to_owned()),
        ];
        let label = prop_oneof!["[a-z_][a-z0-9_]{0,4}", "\\PC{1,4}".prop_map(|s| go_quote(&s))];
        let equality = (proptest::sample::select(&["=", "!="][..]), label_value());
        let regex = (proptest::sample::select(&["=~", "!~"][..]), "[a-z.]{0,4}(\\.\\*)?".prop_map(|s| go_quote(&s)));
        let matcher = (label, prop_oneof![equality, regex]).prop_map(|(l, (o, v))| format!("{l}{o}{v}"));
        (name, proptest::collection::vec(matcher, 0..3)).prop_map(|(name, matchers)| {
            if name.is_empty() {
                // An always non-empty matcher keeps the selector valid.
                format!("{{__name__=\"x\", {}}}", matchers.join(", "))
            } else if matchers.is_empty() {
                name
            } else {
                format!("{name}{{{}}}", matchers.join(", "))
            }
        })
    }

    fn modifiers() -> impl Strategy<Value = String> {
        let offset = prop_oneof![
            Just(String::new()),
            duration().prop_map(|d| format!(" offset {d}")),
            duration().prop_map(|d| format!(" offset -{d}"))
        ];
        let at = prop_oneof![
            Just(String::new()),
            Just(" @ start()".to_owned()),
            Just(" @ end()".to_owned()),
            (-100_000i64..100_000, 0u32..1000).prop_map(|(s, ms)| format!(" @ {s}.{ms:03}")),
        ];
        (offset, at, any::<bool>()).prop_map(|(o, a, swap)| if swap { format!("{a}{o}") } else { format!("{o}{a}") })
    }

    fn number() -> impl Strategy<Value = String> {
        prop_oneof![
            (0u32..1000).prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|f| Expr::NumberLiteral { value: f, span: Span::default() }.to_string()),
            Just("Inf".to_owned()),
            Just("NaN".to_owned()),
            Just("0x1F".to_owned()),
            Just("1.5e3".to_owned()),
        ]
    }

    /// Queries of instant-vector type, up to `depth` levels deep.
    fn query(depth: u32) -> BoxedStrategy<String> {
        let leaf = prop_oneof![
            (selector(), modifiers()).prop_map(|(s, m)| format!("{s}{m}")),
            (selector(), duration(), modifiers()).prop_map(|(s, d, m)| format!("rate({s}[{d}]{m})")),
        ];
        leaf.prop_recursive(depth, 32, 3, |inner| {
            let vector = inner.clone();
            let binary_op =
                proptest::sample::select(&["+", "-", "*", "/", "%", "^", "atan2", "== bool", "> bool", "!=", "<="][..]);
            let set_op = proptest::sample::select(&["and", "or", "unless"][..]);
            let matching = prop_oneof![
                Just(String::new()),
                Just(" on(a)".to_owned()),
                Just(" ignoring(a, b)".to_owned()),
                Just(" on(a) group_left()".to_owned()),
                Just(" ignoring(a) group_right(b, \"c.d\")".to_owned()),
            ];
            let agg = proptest::sample::select(&["sum", "avg", "count", "max", "min", "group", "stddev", "stdvar"][..]);
            let grouping = prop_oneof![
                Just(String::new()),
                Just(" by (a)".to_owned()),
                Just(" without (a, b)".to_owned()),
                Just(" by ()".to_owned())
            ];
            prop_oneof![
                (vector.clone(), binary_op.clone(), matching.clone(), vector.clone())
                    .prop_map(|(a, o, m, b)| format!("({a} {o}{m} {b})")),
                (vector.clone(), binary_op.clone(), number()).prop_map(|(a, o, n)| format!("({a} {o} {n})")),
                (number(), binary_op, vector.clone()).prop_map(|(n, o, a)| format!("({n} {o} {a})")),
                (vector.clone(), set_op, vector.clone()).prop_map(|(a, o, b)| format!("{a} {o} ({b})")),
                (agg.clone(), grouping.clone(), vector.clone()).prop_map(|(g, by, v)| format!("{g}{by} ({v})")),
                (agg, vector.clone(), grouping).prop_map(|(g, v, by)| format!("{g}({v}){by}")),
                (number(), vector.clone()).prop_map(|(n, v)| format!("topk({n}, {v})")),
                vector.clone().prop_map(|v| format!("count_values(\"x\", {v})")),
                vector.clone().prop_map(|v| format!("({v})")),
                vector.clone().prop_map(|v| format!("-{v}")),
                vector.clone().prop_map(|v| format!("+ {v}")),
                vector.clone().prop_map(|v| format!("abs({v})")),
                (vector.clone(), duration(), prop_oneof![Just(String::new()), duration()], modifiers())
                    .prop_map(|(v, r, s, m)| format!("max_over_time(({v})[{r}:{s}]{m})")),
                (vector.clone(), number()).prop_map(|(v, n)| format!("clamp_max({v}, {n})")),
                vector.prop_map(|v| format!("label_replace({v}, \"a\", \"$1\", \"b\", \"(.*)\")")),
            ]
        })
        .boxed()
    }
}
