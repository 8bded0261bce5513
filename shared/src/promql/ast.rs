//! The PromQL syntax tree, and its printer (`Display` writes canonical PromQL).

use std::fmt;

use super::Span;
use crate::model::METRIC_NAME;

/// A parsed PromQL expression, as Prometheus 3.x defines the language for
/// float data. Every node carries the byte span of its source text. Times and
/// durations are milliseconds, PromQL's own resolution.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    NumberLiteral {
        value: f64,
        span: Span,
    },
    StringLiteral {
        value: String,
        span: Span,
    },
    /// An instant vector selector, with its `offset` and `@` modifiers.
    VectorSelector(VectorSelector),
    /// `selector[range]`; `offset` and `@` live on the inner selector, as in
    /// Prometheus (`x[5m] offset 1m` and `x offset 1m [5m]` are not both
    /// valid: only the former is).
    MatrixSelector(MatrixSelector),
    /// `expr[range:step]` with its own `offset` and `@`.
    Subquery(SubqueryExpr),
    Paren {
        expr: Box<Expr>,
        span: Span,
    },
    /// `-expr` or `+expr`.
    Unary {
        op: UnaryOp,
        expr: Box<Expr>,
        span: Span,
    },
    Binary(BinaryExpr),
    Aggregate(AggregateExpr),
    Call(Call),
}

/// The four types a PromQL expression can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    Scalar,
    Vector,
    Matrix,
    String,
}

impl ValueType {
    /// The name Prometheus uses in messages: "scalar", "instant vector",
    /// "range vector", "string".
    pub fn describe(self) -> &'static str {
        match self {
            ValueType::Scalar => "scalar",
            ValueType::Vector => "instant vector",
            ValueType::Matrix => "range vector",
            ValueType::String => "string",
        }
    }
}

/// An `@` modifier: a fixed time, or the query's start or end.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AtModifier {
    /// Milliseconds since the epoch.
    Timestamp(i64),
    Start,
    End,
}

/// `name{matchers…} offset d @ t`. The metric name, when written, is also
/// present in `matchers` as a `__name__` equality matcher.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorSelector {
    pub name: Option<String>,
    pub matchers: Vec<Matcher>,
    /// `offset` in milliseconds; negative for `offset -5m`; 0 when absent.
    pub offset_ms: i64,
    pub at: Option<AtModifier>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MatrixSelector {
    pub selector: VectorSelector,
    pub range_ms: i64,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SubqueryExpr {
    pub expr: Box<Expr>,
    pub range_ms: i64,
    /// The resolution after `:`; `None` when omitted (the engine then uses
    /// the global evaluation interval, one minute by default).
    pub step_ms: Option<i64>,
    pub offset_ms: i64,
    pub at: Option<AtModifier>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Pos,
}

/// Binary operators, in Prometheus's precedence groups (see
/// [`BinaryOp::precedence`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eql,
    Neq,
    Lss,
    Lte,
    Gtr,
    Gte,
    And,
    Or,
    Unless,
}

impl BinaryOp {
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Pow => "^",
            BinaryOp::Atan2 => "atan2",
            BinaryOp::Eql => "==",
            BinaryOp::Neq => "!=",
            BinaryOp::Lss => "<",
            BinaryOp::Lte => "<=",
            BinaryOp::Gtr => ">",
            BinaryOp::Gte => ">=",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
            BinaryOp::Unless => "unless",
        }
    }

    /// Higher binds tighter: `or` 1, `and`/`unless` 2, comparisons 3,
    /// `+ -` 4, `* / % atan2` 5, `^` 6 (right-associative).
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And | BinaryOp::Unless => 2,
            BinaryOp::Eql | BinaryOp::Neq | BinaryOp::Lss | BinaryOp::Lte | BinaryOp::Gtr | BinaryOp::Gte => 3,
            BinaryOp::Add | BinaryOp::Sub => 4,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod | BinaryOp::Atan2 => 5,
            BinaryOp::Pow => 6,
        }
    }

    pub fn is_right_associative(self) -> bool {
        self == BinaryOp::Pow
    }

    pub fn is_comparison(self) -> bool {
        matches!(self, BinaryOp::Eql | BinaryOp::Neq | BinaryOp::Lss | BinaryOp::Lte | BinaryOp::Gtr | BinaryOp::Gte)
    }

    /// `and`, `or`, `unless`: only between two instant vectors.
    pub fn is_set_operator(self) -> bool {
        matches!(self, BinaryOp::And | BinaryOp::Or | BinaryOp::Unless)
    }
}

/// How the two sides of a vector/vector operation pair up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cardinality {
    OneToOne,
    /// `group_left`: many on the left to one on the right.
    ManyToOne,
    /// `group_right`.
    OneToMany,
    /// Set operators.
    ManyToMany,
}

/// `on(…)`/`ignoring(…)` and `group_left(…)`/`group_right(…)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VectorMatching {
    pub card: Cardinality,
    /// The labels in `on(…)` or `ignoring(…)`.
    pub matching_labels: Vec<String>,
    /// `on` when true, `ignoring` when false (also when neither was written).
    pub on: bool,
    /// The extra labels of `group_left(…)`/`group_right(…)`.
    pub include: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BinaryExpr {
    pub op: BinaryOp,
    pub lhs: Box<Expr>,
    pub rhs: Box<Expr>,
    /// The `bool` modifier of a comparison.
    pub return_bool: bool,
    /// Present when both sides are instant vectors (the parser fills in the
    /// default: one-to-one, or many-to-many for set operators, ignoring no
    /// labels), `None` otherwise.
    pub matching: Option<VectorMatching>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggregateOp {
    Sum,
    Min,
    Max,
    Avg,
    Group,
    Stddev,
    Stdvar,
    Count,
    CountValues,
    Bottomk,
    Topk,
    Quantile,
    Limitk,
    LimitRatio,
}

impl AggregateOp {
    pub const ALL: [AggregateOp; 14] = [
        AggregateOp::Sum,
        AggregateOp::Min,
        AggregateOp::Max,
        AggregateOp::Avg,
        AggregateOp::Group,
        AggregateOp::Stddev,
        AggregateOp::Stdvar,
        AggregateOp::Count,
        AggregateOp::CountValues,
        AggregateOp::Bottomk,
        AggregateOp::Topk,
        AggregateOp::Quantile,
        AggregateOp::Limitk,
        AggregateOp::LimitRatio,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AggregateOp::Sum => "sum",
            AggregateOp::Min => "min",
            AggregateOp::Max => "max",
            AggregateOp::Avg => "avg",
            AggregateOp::Group => "group",
            AggregateOp::Stddev => "stddev",
            AggregateOp::Stdvar => "stdvar",
            AggregateOp::Count => "count",
            AggregateOp::CountValues => "count_values",
            AggregateOp::Bottomk => "bottomk",
            AggregateOp::Topk => "topk",
            AggregateOp::Quantile => "quantile",
            AggregateOp::Limitk => "limitk",
            AggregateOp::LimitRatio => "limit_ratio",
        }
    }

    /// Case-insensitive, as PromQL keywords are.
    pub fn from_name(name: &str) -> Option<AggregateOp> {
        AggregateOp::ALL.into_iter().find(|op| op.as_str().eq_ignore_ascii_case(name))
    }

    /// The type of the parameter before the vector, if the operator takes
    /// one: `count_values("label", v)`, `topk(3, v)`, `quantile(0.9, v)`.
    pub fn param_type(self) -> Option<ValueType> {
        match self {
            AggregateOp::CountValues => Some(ValueType::String),
            AggregateOp::Bottomk
            | AggregateOp::Topk
            | AggregateOp::Quantile
            | AggregateOp::Limitk
            | AggregateOp::LimitRatio => Some(ValueType::Scalar),
            _ => None,
        }
    }
}

/// `by (…)` or `without (…)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grouping {
    /// Neither was written: everything aggregates into one series.
    None,
    By(Vec<String>),
    Without(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct AggregateExpr {
    pub op: AggregateOp,
    pub expr: Box<Expr>,
    pub param: Option<Box<Expr>>,
    pub grouping: Grouping,
    pub span: Span,
}

/// A function call; `func` comes from [`super::functions::FUNCTIONS`].
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub func: &'static super::functions::Function,
    pub args: Vec<Expr>,
    pub span: Span,
}

impl Expr {
    pub fn span(&self) -> Span {
        match self {
            Expr::NumberLiteral { span, .. }
            | Expr::StringLiteral { span, .. }
            | Expr::Paren { span, .. }
            | Expr::Unary { span, .. } => *span,
            Expr::VectorSelector(selector) => selector.span,
            Expr::MatrixSelector(m) => m.span,
            Expr::Subquery(s) => s.span,
            Expr::Binary(b) => b.span,
            Expr::Aggregate(a) => a.span,
            Expr::Call(c) => c.span,
        }
    }

    /// The expression's type, as Prometheus's type checker assigns it.
    pub fn value_type(&self) -> ValueType {
        match self {
            Expr::NumberLiteral { .. } => ValueType::Scalar,
            Expr::StringLiteral { .. } => ValueType::String,
            Expr::VectorSelector(_) | Expr::Aggregate(_) => ValueType::Vector,
            Expr::MatrixSelector(_) | Expr::Subquery(_) => ValueType::Matrix,
            Expr::Paren { expr, .. } | Expr::Unary { expr, .. } => expr.value_type(),
            Expr::Binary(b) => {
                if b.lhs.value_type() == ValueType::Scalar && b.rhs.value_type() == ValueType::Scalar {
                    ValueType::Scalar
                } else {
                    ValueType::Vector
                }
            }
            Expr::Call(c) => c.func.return_type,
        }
    }
}

/// How a matcher compares a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }
}

/// One label matcher. Regexes are fully anchored, as in Prometheus.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    regex: Option<regex::Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Matcher {
    /// Builds a matcher; fails only on an invalid regular expression.
    pub fn new(op: MatchOp, name: impl Into<String>, value: impl Into<String>) -> Result<Self, regex::Error> {
        let value = value.into();
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(regex::Regex::new(&format!("^(?s:{value})$"))?),
            MatchOp::Equal | MatchOp::NotEqual => None,
        };
        Ok(Matcher { name: name.into(), op, value, regex })
    }

    /// Whether a label value (empty for an absent label) satisfies the matcher.
    pub fn matches(&self, value: &str) -> bool {
        match (self.op, &self.regex) {
            (MatchOp::Equal, _) => value == self.value,
            (MatchOp::NotEqual, _) => value != self.value,
            (MatchOp::Regex, Some(re)) => re.is_match(value),
            (MatchOp::NotRegex, Some(re)) => !re.is_match(value),
            // `new` always compiles a regex for the regex operators.
            (MatchOp::Regex | MatchOp::NotRegex, None) => false,
        }
    }

    /// Whether the matcher also matches the empty string, i.e. series that
    /// lack the label entirely.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }
}

impl fmt::Display for Expr {
    /// Canonical PromQL, formatted as Prometheus's printer formats it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::NumberLiteral { value, .. } => write_number(f, *value),
            Expr::StringLiteral { value, .. } => write_quoted(f, value),
            Expr::VectorSelector(selector) => selector.fmt(f),
            Expr::MatrixSelector(m) => {
                m.selector.write_name_and_matchers(f)?;
                f.write_str("[")?;
                write_duration(f, m.range_ms)?;
                f.write_str("]")?;
                write_at_offset(f, m.selector.at, m.selector.offset_ms)
            }
            Expr::Subquery(s) => {
                write!(f, "{}[", s.expr)?;
                write_duration(f, s.range_ms)?;
                f.write_str(":")?;
                if let Some(step) = s.step_ms {
                    write_duration(f, step)?;
                }
                f.write_str("]")?;
                write_at_offset(f, s.at, s.offset_ms)
            }
            Expr::Paren { expr, .. } => write!(f, "({expr})"),
            Expr::Unary { op, expr, .. } => {
                f.write_str(if *op == UnaryOp::Neg { "-" } else { "+" })?;
                write!(f, "{expr}")
            }
            Expr::Binary(b) => {
                write!(f, "{} {}", b.lhs, b.op.as_str())?;
                if b.return_bool {
                    f.write_str(" bool")?;
                }
                if let Some(m) = &b.matching {
                    let grouped = matches!(m.card, Cardinality::ManyToOne | Cardinality::OneToMany);
                    if m.on || !m.matching_labels.is_empty() || grouped {
                        f.write_str(if m.on { " on (" } else { " ignoring (" })?;
                        write_label_list(f, &m.matching_labels)?;
                        f.write_str(")")?;
                    }
                    if grouped {
                        f.write_str(if m.card == Cardinality::ManyToOne { " group_left (" } else { " group_right (" })?;
                        write_label_list(f, &m.include)?;
                        f.write_str(")")?;
                    }
                }
                write!(f, " {}", b.rhs)
            }
            Expr::Aggregate(a) => {
                f.write_str(a.op.as_str())?;
                match &a.grouping {
                    Grouping::None => {}
                    Grouping::By(labels) => {
                        f.write_str(" by (")?;
                        write_label_list(f, labels)?;
                        f.write_str(") ")?;
                    }
                    Grouping::Without(labels) => {
                        f.write_str(" without (")?;
                        write_label_list(f, labels)?;
                        f.write_str(") ")?;
                    }
                }
                f.write_str("(")?;
                if let Some(param) = &a.param {
                    write!(f, "{param}, ")?;
                }
                write!(f, "{})", a.expr)
            }
            Expr::Call(c) => {
                write!(f, "{}(", c.func.name)?;
                for (i, arg) in c.args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{arg}")?;
                }
                f.write_str(")")
            }
        }
    }
}

fn write_label_list(f: &mut fmt::Formatter<'_>, labels: &[String]) -> fmt::Result {
    for (i, label) in labels.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        if is_plain_label_name(label) {
            f.write_str(label)?;
        } else {
            write_quoted(f, label)?;
        }
    }
    Ok(())
}

/// Writes a duration as Prometheus's `model.Duration` does: largest units
/// first (`1h30m`, `90s` stays `1m30s`, `0s` for zero).
pub fn write_duration(f: &mut fmt::Formatter<'_>, ms: i64) -> fmt::Result {
    if ms == 0 {
        return f.write_str("0s");
    }
    let mut rest = ms;
    if rest < 0 {
        f.write_str("-")?;
        rest = -rest;
    }
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 24 * 3_600_000),
        ("w", 7 * 24 * 3_600_000),
        ("d", 24 * 3_600_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    for (unit, size) in UNITS {
        if rest >= size {
            write!(f, "{}{unit}", rest / size)?;
            rest %= size;
        }
    }
    Ok(())
}

fn write_at_offset(f: &mut fmt::Formatter<'_>, at: Option<AtModifier>, offset_ms: i64) -> fmt::Result {
    match at {
        None => {}
        Some(AtModifier::Timestamp(ms)) => write!(f, " @ {:.3}", ms as f64 / 1000.0)?,
        Some(AtModifier::Start) => f.write_str(" @ start()")?,
        Some(AtModifier::End) => f.write_str(" @ end()")?,
    }
    if offset_ms != 0 {
        f.write_str(" offset ")?;
        write_duration(f, offset_ms)?;
    }
    Ok(())
}

fn write_number(f: &mut fmt::Formatter<'_>, value: f64) -> fmt::Result {
    if value.is_nan() {
        f.write_str("NaN")
    } else if value.is_infinite() {
        f.write_str(if value > 0.0 { "Inf" } else { "-Inf" })
    } else {
        write!(f, "{value}")
    }
}

impl VectorSelector {
    fn write_name_and_matchers(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name_is_plain = self.name.as_deref().is_some_and(is_plain_metric_name);
        if let (true, Some(name)) = (name_is_plain, &self.name) {
            f.write_str(name)?;
        }
        let shown: Vec<&Matcher> = self
            .matchers
            .iter()
            .filter(|m| {
                !(name_is_plain
                    && m.name == METRIC_NAME
                    && m.op == MatchOp::Equal
                    && Some(&m.value) == self.name.as_ref())
            })
            .collect();
        if shown.is_empty() && name_is_plain {
            return Ok(());
        }
        f.write_str("{")?;
        for (i, m) in shown.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            if is_plain_label_name(&m.name) {
                f.write_str(&m.name)?;
            } else {
                write_quoted(f, &m.name)?;
            }
            f.write_str(m.op.as_str())?;
            write_quoted(f, &m.value)?;
        }
        f.write_str("}")
    }
}

impl fmt::Display for VectorSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_name_and_matchers(f)?;
        write_at_offset(f, self.at, self.offset_ms)
    }
}

fn write_quoted(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        match c {
            '\\' => f.write_str("\\\\")?,
            '"' => f.write_str("\\\"")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if c.is_control() => write!(f, "\\u{:04x}", c as u32)?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

/// Whether `name` can be written bare as a metric name.
pub fn is_plain_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        && !super::parser::is_reserved_word(name)
}

/// Whether `name` can be written bare as a label name.
pub fn is_plain_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
