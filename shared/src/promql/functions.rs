//! The PromQL function table: names, argument types and return types.
//!
//! One table for the parser's type checking, the engine's dispatch and the
//! editor's completion with signatures, so the three cannot disagree.

use super::ast::ValueType::{self, Matrix, Scalar, String as Str, Vector};

/// A PromQL function's signature.
#[derive(Debug, PartialEq, Eq)]
pub struct Function {
    pub name: &'static str,
    /// The declared argument types. With `variadic` set, the last type
    /// repeats (or, for a positive count, may be omitted).
    pub arg_types: &'static [ValueType],
    /// 0: exactly `arg_types`. n > 0: up to n trailing arguments may be
    /// left out. -1: the last argument may repeat without limit. As in
    /// Prometheus's `parser.Function.Variadic`.
    pub variadic: i32,
    pub return_type: ValueType,
    /// Prometheus gates these behind `--enable-feature=promql-experimental-functions`;
    /// Vigil accepts them.
    pub experimental: bool,
}

const fn f(name: &'static str, arg_types: &'static [ValueType], variadic: i32, return_type: ValueType) -> Function {
    Function { name, arg_types, variadic, return_type, experimental: false }
}

const fn x(name: &'static str, arg_types: &'static [ValueType], variadic: i32, return_type: ValueType) -> Function {
    Function { name, arg_types, variadic, return_type, experimental: true }
}

/// Every function Vigil knows, sorted by name.
pub static FUNCTIONS: &[Function] = &[
    f("abs", &[Vector], 0, Vector),
    f("absent", &[Vector], 0, Vector),
    f("absent_over_time", &[Matrix], 0, Vector),
    f("acos", &[Vector], 0, Vector),
    f("acosh", &[Vector], 0, Vector),
    f("asin", &[Vector], 0, Vector),
    f("asinh", &[Vector], 0, Vector),
    f("atan", &[Vector], 0, Vector),
    f("atanh", &[Vector], 0, Vector),
    f("avg_over_time", &[Matrix], 0, Vector),
    f("ceil", &[Vector], 0, Vector),
    f("changes", &[Matrix], 0, Vector),
    f("clamp", &[Vector, Scalar, Scalar], 0, Vector),
    f("clamp_max", &[Vector, Scalar], 0, Vector),
    f("clamp_min", &[Vector, Scalar], 0, Vector),
    f("cos", &[Vector], 0, Vector),
    f("cosh", &[Vector], 0, Vector),
    f("count_over_time", &[Matrix], 0, Vector),
    f("day_of_month", &[Vector], 1, Vector),
    f("day_of_week", &[Vector], 1, Vector),
    f("day_of_year", &[Vector], 1, Vector),
    f("days_in_month", &[Vector], 1, Vector),
    f("deg", &[Vector], 0, Vector),
    f("delta", &[Matrix], 0, Vector),
    f("deriv", &[Matrix], 0, Vector),
    x("double_exponential_smoothing", &[Matrix, Scalar, Scalar], 0, Vector),
    x("end", &[], 0, Scalar),
    f("exp", &[Vector], 0, Vector),
    x("first_over_time", &[Matrix], 0, Vector),
    f("floor", &[Vector], 0, Vector),
    f("histogram_avg", &[Vector], 0, Vector),
    f("histogram_count", &[Vector], 0, Vector),
    f("histogram_fraction", &[Scalar, Scalar, Vector], 0, Vector),
    f("histogram_quantile", &[Scalar, Vector], 0, Vector),
    x("histogram_quantiles", &[Vector, Str, Scalar, Scalar], 9, Vector),
    f("histogram_stddev", &[Vector], 0, Vector),
    f("histogram_stdvar", &[Vector], 0, Vector),
    f("histogram_sum", &[Vector], 0, Vector),
    // Only with `--promql.holt-winters` (Prometheus 3 renamed it
    // double_exponential_smoothing); the engine refuses it otherwise.
    x("holt_winters", &[Matrix, Scalar, Scalar], 0, Vector),
    f("hour", &[Vector], 1, Vector),
    f("idelta", &[Matrix], 0, Vector),
    f("increase", &[Matrix], 0, Vector),
    f("irate", &[Matrix], 0, Vector),
    f("label_join", &[Vector, Str, Str, Str], -1, Vector),
    f("label_replace", &[Vector, Str, Str, Str, Str], 0, Vector),
    f("last_over_time", &[Matrix], 0, Vector),
    f("ln", &[Vector], 0, Vector),
    f("log10", &[Vector], 0, Vector),
    f("log2", &[Vector], 0, Vector),
    x("mad_over_time", &[Matrix], 0, Vector),
    x("max_of", &[Scalar, Scalar], 0, Scalar),
    f("max_over_time", &[Matrix], 0, Vector),
    x("min_of", &[Scalar, Scalar], 0, Scalar),
    f("min_over_time", &[Matrix], 0, Vector),
    f("minute", &[Vector], 1, Vector),
    f("month", &[Vector], 1, Vector),
    f("pi", &[], 0, Scalar),
    f("predict_linear", &[Matrix, Scalar], 0, Vector),
    f("present_over_time", &[Matrix], 0, Vector),
    f("quantile_over_time", &[Scalar, Matrix], 0, Vector),
    f("rad", &[Vector], 0, Vector),
    x("range", &[], 0, Scalar),
    f("rate", &[Matrix], 0, Vector),
    f("resets", &[Matrix], 0, Vector),
    f("round", &[Vector, Scalar], 1, Vector),
    f("scalar", &[Vector], 0, Scalar),
    f("sgn", &[Vector], 0, Vector),
    f("sin", &[Vector], 0, Vector),
    f("sinh", &[Vector], 0, Vector),
    f("sort", &[Vector], 0, Vector),
    x("sort_by_label", &[Vector, Str], -1, Vector),
    x("sort_by_label_desc", &[Vector, Str], -1, Vector),
    f("sort_desc", &[Vector], 0, Vector),
    f("sqrt", &[Vector], 0, Vector),
    x("start", &[], 0, Scalar),
    f("stddev_over_time", &[Matrix], 0, Vector),
    f("stdvar_over_time", &[Matrix], 0, Vector),
    x("step", &[], 0, Scalar),
    f("sum_over_time", &[Matrix], 0, Vector),
    f("tan", &[Vector], 0, Vector),
    f("tanh", &[Vector], 0, Vector),
    f("time", &[], 0, Scalar),
    f("timestamp", &[Vector], 0, Vector),
    x("ts_of_first_over_time", &[Matrix], 0, Vector),
    x("ts_of_last_over_time", &[Matrix], 0, Vector),
    x("ts_of_max_over_time", &[Matrix], 0, Vector),
    x("ts_of_min_over_time", &[Matrix], 0, Vector),
    f("vector", &[Scalar], 0, Vector),
    f("year", &[Vector], 1, Vector),
];

/// The function called `name` (function names are case-sensitive).
pub fn lookup(name: &str) -> Option<&'static Function> {
    FUNCTIONS.binary_search_by(|func| func.name.cmp(name)).ok().map(|i| &FUNCTIONS[i])
}

impl Function {
    /// The signature as the editor shows it, e.g. `clamp(instant vector, scalar, scalar)`.
    pub fn signature(&self) -> std::string::String {
        let mut args: Vec<std::string::String> = self.arg_types.iter().map(|t| t.describe().to_owned()).collect();
        match self.variadic {
            0 => {}
            -1 => args.push("...".to_owned()),
            n => {
                let optional = args.len().saturating_sub(n as usize);
                for arg in &mut args[optional..] {
                    *arg = format!("[{arg}]");
                }
            }
        }
        format!("{}({}) -> {}", self.name, args.join(", "), self.return_type.describe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_so_lookup_finds_every_entry() {
        for pair in FUNCTIONS.windows(2) {
            assert!(pair[0].name < pair[1].name, "{} before {}", pair[0].name, pair[1].name);
        }
        for func in FUNCTIONS {
            assert_eq!(lookup(func.name).map(|f| f.name), Some(func.name));
        }
        assert!(lookup("no_such_function").is_none());
    }

    #[test]
    fn signatures() {
        let cases = [
            ("clamp", "clamp(instant vector, scalar, scalar) -> instant vector"),
            ("round", "round(instant vector, [scalar]) -> instant vector"),
            ("label_join", "label_join(instant vector, string, string, string, ...) -> instant vector"),
            ("time", "time() -> scalar"),
        ];
        for (name, want) in cases {
            assert_eq!(lookup(name).map(Function::signature).as_deref(), Some(want));
        }
    }
}
