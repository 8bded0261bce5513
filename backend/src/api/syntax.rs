//! Endpoints about a query's text rather than its data: `format_query`
//! (Prometheus's pretty-printer), `parse_query` (the syntax tree as JSON,
//! which Prometheus's UI draws as its tree view) and `query_exemplars`
//! (validated like Prometheus; Vigil stores no exemplars yet, so every
//! answer is empty).
//!
//! Both printers work on the shared parser's tree, whose `Display` is
//! Prometheus's canonical printer; this module only adds the line breaking
//! and the JSON shape Prometheus's API gives them.

use std::collections::{BTreeMap, HashMap};

use axum::extract::Form;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value as Json, json};
use vigil_shared::model::api::format_value;
use vigil_shared::promql::{
    AggregateExpr, AtModifier, BinaryExpr, Cardinality, Expr, Grouping, MatchOp, Matcher, UnaryOp, ValueType,
    VectorSelector,
};

use super::{ApiError, Params, form_value, json_response, params, parse_query_param, success_json};

/// `/api/v1/format_query`: the query as Prometheus's `Prettify` writes it.
pub async fn format_query(params: Params) -> Result<Response, ApiError> {
    let Form(params) = params?;
    let expr = parse_query_param(&params)?;
    Ok(success_json(&pretty(&expr, 0)))
}

/// `/api/v1/parse_query`: the syntax tree, in Prometheus's JSON shape.
pub async fn parse_query(params: Params) -> Result<Response, ApiError> {
    let Form(params) = params?;
    let expr = parse_query_param(&params)?;
    Ok(success_json(&translate(&expr)))
}

/// `/api/v1/query_exemplars`: checks `start`, `end` and `query` as
/// Prometheus does, then answers that there are no exemplars.
pub async fn query_exemplars(params: Params) -> Result<Response, ApiError> {
    let Form(params): Form<HashMap<String, String>> = params?;
    let time = |name: &str, default: i64| match form_value(&params, name) {
        None => Ok(default),
        Some(text) => params::parse_time(text)
            .map_err(|e| ApiError::invalid_param(name, format!("invalid time value for '{name}': {e}"))),
    };
    let start = time("start", i64::MIN)?;
    let end = time("end", i64::MAX)?;
    if end < start {
        return Err(ApiError::bad_data("end timestamp must not be before start timestamp"));
    }
    let text = params.get("query").map(String::as_str).unwrap_or("");
    // Unlike the other endpoints, Prometheus gives the parse error bare here.
    let expr = vigil_shared::promql::parse(text).map_err(|e| ApiError::bad_data(e.describe(text)))?;
    if !has_selector(&expr) {
        // Prometheus answers a query without selectors with no data at
        // all: `data` is left out, not empty.
        return Ok(json_response(StatusCode::OK, &json!({"status": "success"})));
    }
    Ok(success_json(&Vec::<Json>::new()))
}

fn has_selector(expr: &Expr) -> bool {
    match expr {
        Expr::NumberLiteral { .. } | Expr::StringLiteral { .. } => false,
        Expr::VectorSelector(_) | Expr::MatrixSelector(_) => true,
        Expr::Subquery(s) => has_selector(&s.expr),
        Expr::Paren { expr, .. } | Expr::Unary { expr, .. } => has_selector(expr),
        Expr::Binary(b) => has_selector(&b.lhs) || has_selector(&b.rhs),
        Expr::Aggregate(a) => has_selector(&a.expr) || a.param.as_deref().is_some_and(has_selector),
        Expr::Call(c) => c.args.iter().any(has_selector),
    }
}

/// Prometheus splits a node over lines once its one-line form is longer.
const MAX_CHARACTERS_PER_LINE: usize = 100;

fn indent(level: usize) -> String {
    "  ".repeat(level)
}

/// Prometheus's `Pretty(level)`: a node that fits on a line prints as its
/// canonical text; a longer one puts its children on their own lines, one
/// level deeper. Quirks are kept (a subquery that fits is not indented),
/// so the output is byte-for-byte Prometheus's.
pub fn pretty(expr: &Expr, level: usize) -> String {
    pretty_within(expr, level, MAX_CHARACTERS_PER_LINE)
}

/// [`pretty`] with another line width (Prometheus's tests use 10).
fn pretty_within(expr: &Expr, level: usize, width: usize) -> String {
    let pretty = |expr: &Expr, level: usize| pretty_within(expr, level, width);
    let text = expr.to_string();
    let split = text.len() > width;
    match expr {
        Expr::Aggregate(a) if split => {
            let mut out = format!("{}{}(\n", indent(level), aggregate_prefix(a));
            if let Some(param) = &a.param {
                out.push_str(&pretty(param, level + 1));
                out.push_str(",\n");
            }
            out.push_str(&format!("{}\n{})", pretty(&a.expr, level + 1), indent(level)));
            out
        }
        Expr::Binary(b) if split => format!(
            "{}\n{}{}\n{}",
            pretty(&b.lhs, level + 1),
            indent(level),
            binary_operator(b),
            pretty(&b.rhs, level + 1)
        ),
        Expr::Call(c) if split => {
            let args: Vec<String> = c.args.iter().map(|arg| pretty(arg, level + 1)).collect();
            format!("{}{}(\n{}\n{})", indent(level), c.func.name, args.join(",\n"), indent(level))
        }
        Expr::Paren { expr, .. } if split => {
            format!("{}(\n{}\n{})", indent(level), pretty(expr, level + 1), indent(level))
        }
        Expr::Subquery(s) if split => {
            let inner = s.expr.to_string();
            format!("{}{}", pretty(&s.expr, level), &text[inner.len()..])
        }
        Expr::Subquery(_) => text,
        Expr::Unary { op, expr, .. } => {
            let sign = if *op == UnaryOp::Neg { "-" } else { "+" };
            format!("{}{sign}{}", indent(level), pretty(expr, level).trim())
        }
        _ => format!("{}{text}", indent(level)),
    }
}

/// A stand-in operand, so the printer writes just the parts around it.
fn placeholder() -> Box<Expr> {
    Box::new(Expr::NumberLiteral { value: 0.0, span: Default::default() })
}

/// `sum by (job) ` — the aggregation and its grouping, as Prometheus's
/// `AggregateExpr.ShortString`.
fn aggregate_prefix(a: &AggregateExpr) -> String {
    let bare = AggregateExpr { expr: placeholder(), param: a.param.as_ref().map(|_| placeholder()), ..a.clone() };
    let text = Expr::Aggregate(bare).to_string();
    let args = if a.param.is_some() { "(0, 0)" } else { "(0)" };
    text.strip_suffix(args).unwrap_or(&text).to_owned()
}

/// `/ on (job) group_left ()` — the operator with `bool` and matching.
fn binary_operator(b: &BinaryExpr) -> String {
    let bare = BinaryExpr { lhs: placeholder(), rhs: placeholder(), ..b.clone() };
    let text = Expr::Binary(bare).to_string();
    text.strip_prefix("0 ").and_then(|t| t.strip_suffix(" 0")).unwrap_or(&text).to_owned()
}

/// A JSON object with its keys in Go's order (sorted), whatever order
/// serde_json's map keeps.
fn object<const N: usize>(fields: [(&str, Json); N]) -> Json {
    let sorted: BTreeMap<&str, Json> = fields.into_iter().collect();
    Json::Object(sorted.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

fn value_type_name(t: ValueType) -> &'static str {
    match t {
        ValueType::Scalar => "scalar",
        ValueType::Vector => "vector",
        ValueType::Matrix => "matrix",
        ValueType::String => "string",
    }
}

/// Prometheus's `translateAST`: the tree as its UI's tree view reads it.
/// Fields for syntax Vigil does not parse yet (duration expressions,
/// `anchored`/`smoothed`, `fill` modifiers) are present with their
/// "not written" values, so the shape is the same.
pub fn translate(expr: &Expr) -> Json {
    match expr {
        Expr::Aggregate(a) => {
            let (grouping, without) = match &a.grouping {
                Grouping::None => (Vec::new(), false),
                Grouping::By(labels) => (labels.clone(), false),
                Grouping::Without(labels) => (labels.clone(), true),
            };
            object([
                ("type", json!("aggregation")),
                ("op", json!(a.op.as_str())),
                ("expr", translate(&a.expr)),
                ("param", a.param.as_deref().map_or(Json::Null, translate)),
                ("grouping", json!(grouping)),
                ("without", json!(without)),
            ])
        }
        Expr::Binary(b) => {
            let matching = b.matching.as_ref().map_or(Json::Null, |m| {
                let card = match m.card {
                    Cardinality::OneToOne => "one-to-one",
                    Cardinality::ManyToOne => "many-to-one",
                    Cardinality::OneToMany => "one-to-many",
                    Cardinality::ManyToMany => "many-to-many",
                };
                object([
                    ("card", json!(card)),
                    ("labels", json!(m.matching_labels)),
                    ("on", json!(m.on)),
                    ("include", json!(m.include)),
                    ("fillValues", object([("lhs", Json::Null), ("rhs", Json::Null)])),
                ])
            });
            object([
                ("type", json!("binaryExpr")),
                ("op", json!(b.op.as_str())),
                ("lhs", translate(&b.lhs)),
                ("rhs", translate(&b.rhs)),
                ("matching", matching),
                ("bool", json!(b.return_bool)),
            ])
        }
        Expr::Call(c) => object([
            ("type", json!("call")),
            (
                "func",
                object([
                    ("name", json!(c.func.name)),
                    ("argTypes", json!(c.func.arg_types.iter().map(|t| value_type_name(*t)).collect::<Vec<_>>())),
                    ("variadic", json!(c.func.variadic)),
                    ("returnType", json!(value_type_name(c.func.return_type))),
                ]),
            ),
            ("args", Json::Array(c.args.iter().map(translate).collect())),
        ]),
        Expr::MatrixSelector(m) => {
            let vs = &m.selector;
            let (timestamp, start_or_end) = at_fields(vs.at);
            object([
                ("type", json!("matrixSelector")),
                ("name", json!(vs.name.as_deref().unwrap_or(""))),
                ("range", json!(m.range_ms)),
                ("rangeExpr", Json::Null),
                ("offset", json!(vs.offset_ms)),
                ("offsetExpr", Json::Null),
                ("matchers", matchers(vs)),
                ("timestamp", timestamp),
                ("startOrEnd", start_or_end),
                ("anchored", json!(false)),
                ("smoothed", json!(false)),
            ])
        }
        Expr::Subquery(s) => {
            let (timestamp, start_or_end) = at_fields(s.at);
            object([
                ("type", json!("subquery")),
                ("expr", translate(&s.expr)),
                ("range", json!(s.range_ms)),
                ("rangeExpr", Json::Null),
                ("offset", json!(s.offset_ms)),
                ("offsetExpr", Json::Null),
                ("step", json!(s.step_ms.unwrap_or(0))),
                ("stepExpr", Json::Null),
                ("timestamp", timestamp),
                ("startOrEnd", start_or_end),
            ])
        }
        Expr::NumberLiteral { value, .. } => {
            object([("type", json!("numberLiteral")), ("val", json!(format_value(*value)))])
        }
        Expr::Paren { expr, .. } => object([("type", json!("parenExpr")), ("expr", translate(expr))]),
        Expr::StringLiteral { value, .. } => object([("type", json!("stringLiteral")), ("val", json!(value))]),
        Expr::Unary { op, expr, .. } => object([
            ("type", json!("unaryExpr")),
            ("op", json!(if *op == UnaryOp::Neg { "-" } else { "+" })),
            ("expr", translate(expr)),
        ]),
        Expr::VectorSelector(vs) => {
            let (timestamp, start_or_end) = at_fields(vs.at);
            object([
                ("type", json!("vectorSelector")),
                ("name", json!(vs.name.as_deref().unwrap_or(""))),
                ("offset", json!(vs.offset_ms)),
                ("offsetExpr", Json::Null),
                ("matchers", matchers(vs)),
                ("timestamp", timestamp),
                ("startOrEnd", start_or_end),
                ("anchored", json!(false)),
                ("smoothed", json!(false)),
            ])
        }
    }
}

/// `timestamp` (milliseconds, for `@ 123`) and `startOrEnd` (for
/// `@ start()` / `@ end()`).
fn at_fields(at: Option<AtModifier>) -> (Json, Json) {
    match at {
        None => (Json::Null, Json::Null),
        Some(AtModifier::Timestamp(ms)) => (json!(ms), Json::Null),
        Some(AtModifier::Start) => (Json::Null, json!("start")),
        Some(AtModifier::End) => (Json::Null, json!("end")),
    }
}

/// The matchers in Prometheus's order: the braces' matchers as written,
/// then the one for a name written before the braces (Vigil's parser puts
/// that one first).
fn matchers(vs: &VectorSelector) -> Json {
    let (name_matcher, rest): (Option<&Matcher>, &[Matcher]) = match (&vs.name, vs.matchers.split_first()) {
        (Some(_), Some((first, rest))) => (Some(first), rest),
        _ => (None, &vs.matchers),
    };
    let list = rest.iter().chain(name_matcher).map(|m| {
        let op = match m.op {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        };
        object([("name", json!(m.name)), ("value", json!(m.value)), ("type", json!(op))])
    });
    Json::Array(list.collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_shared::promql::parse;

    #[test]
    fn pretty_prints_as_prometheus() {
        // Every case of Prometheus's promql/parser/prettier_test.go (before
        // its duration expressions, which Vigil does not parse), at the
        // 10-character width those tests set.
        #[derive(serde::Deserialize)]
        struct Case {
            #[serde(rename = "in")]
            input: String,
            out: String,
        }
        let cases: Vec<Case> = serde_json::from_str(include_str!("testdata/prettier_cases.json")).unwrap();
        assert!(cases.len() > 50);
        let mut failures = Vec::new();
        for case in &cases {
            let expr = parse(&case.input).unwrap_or_else(|e| panic!("{}: {}", case.input, e.describe(&case.input)));
            let got = pretty_within(&expr, 0, 10);
            if got != case.out {
                failures.push(format!("{}\n--- want\n{}\n--- got\n{}", case.input, case.out, got));
            }
        }
        assert!(failures.is_empty(), "{} of {} differ:\n{}", failures.len(), cases.len(), failures.join("\n\n"));
        // At the real width, a short query is its canonical text.
        let expr = parse("sum by (job) (rate(x[5m]))").unwrap();
        assert_eq!(pretty(&expr, 0), "sum by (job) (rate(x[5m]))");
    }

    #[test]
    fn translates_the_tree_as_prometheus() {
        let got = translate(&parse(r#"sum by (job) (rate(up{job="a"}[5m] offset 1m)) > bool 1"#).unwrap());
        let want = json!({
            "type": "binaryExpr", "op": ">", "bool": true, "matching": null,
            "lhs": {
                "type": "aggregation", "op": "sum", "grouping": ["job"], "without": false, "param": null,
                "expr": {
                    "type": "call",
                    "func": {"name": "rate", "argTypes": ["matrix"], "variadic": 0, "returnType": "vector"},
                    "args": [{
                        "type": "matrixSelector", "name": "up", "range": 300000, "rangeExpr": null,
                        "offset": 60000, "offsetExpr": null, "timestamp": null, "startOrEnd": null,
                        "anchored": false, "smoothed": false,
                        "matchers": [
                            {"name": "job", "type": "=", "value": "a"},
                            {"name": "__name__", "type": "=", "value": "up"},
                        ],
                    }],
                },
            },
            "rhs": {"type": "numberLiteral", "val": "1"},
        });
        assert_eq!(got, want);
        let got = translate(&parse("a / on (x) group_left (y) -b @ end()").unwrap());
        assert_eq!(
            got["matching"],
            json!({"card": "many-to-one", "labels": ["x"], "on": true, "include": ["y"],
                   "fillValues": {"lhs": null, "rhs": null}})
        );
        assert_eq!(got["rhs"]["type"], "unaryExpr");
        assert_eq!(got["rhs"]["expr"]["startOrEnd"], "end");
        let got = translate(&parse("max_over_time((x)[1h:] @ 10)").unwrap());
        let sub = &got["args"][0];
        assert_eq!((&sub["type"], &sub["step"], &sub["timestamp"]), (&json!("subquery"), &json!(0), &json!(10000)));
        assert_eq!(sub["expr"]["type"], "parenExpr");
    }
}
