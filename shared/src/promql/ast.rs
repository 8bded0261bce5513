//! The PromQL syntax tree, and its printer (`Display` writes canonical PromQL).

use std::fmt;

use super::Span;
use crate::model::METRIC_NAME;

/// A parsed PromQL expression. The walking skeleton covers number literals and
/// instant vector selectors; the rest of the language joins this enum.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    NumberLiteral { value: f64, span: Span },
    VectorSelector(VectorSelector),
}

impl Expr {
    pub fn span(&self) -> Span {
        match self {
            Expr::NumberLiteral { span, .. } => *span,
            Expr::VectorSelector(selector) => selector.span,
        }
    }
}

/// `name{matchers…}`: selects series by label matchers. The metric name, when
/// written, is also present in `matchers` as a `__name__` equality matcher.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorSelector {
    pub name: Option<String>,
    pub matchers: Vec<Matcher>,
    pub span: Span,
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
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::NumberLiteral { value, .. } => write_number(f, *value),
            Expr::VectorSelector(selector) => selector.fmt(f),
        }
    }
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

impl fmt::Display for VectorSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
