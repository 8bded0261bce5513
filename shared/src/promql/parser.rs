//! The PromQL parser: tokens to an [`Expr`], with span-carrying errors.
//!
//! Recursive descent over the lexer's tokens. The walking skeleton parses
//! number literals and instant vector selectors; any other construct is
//! refused with a clear "not supported yet" error at its exact span rather
//! than misread.

use super::Span;
use super::ast::{Expr, MatchOp, Matcher, VectorSelector};
use super::lexer::{self, Token, TokenKind};
use crate::model::METRIC_NAME;

/// A parse error: what went wrong and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    pub span: Span,
    pub message: String,
}

impl ParseError {
    fn new(span: Span, message: impl Into<String>) -> Self {
        ParseError { span, message: message.into() }
    }

    /// Formats the error as Prometheus does, `line:col: parse error: …`, with
    /// the 1-based line and column (in characters) of the span's start.
    pub fn describe(&self, input: &str) -> String {
        let (line, col) = line_col(input, self.span.start);
        format!("{line}:{col}: parse error: {}", self.message)
    }
}

/// 1-based line and column of byte `offset` in `input`.
pub fn line_col(input: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(input.len());
    let before = input.get(..offset).unwrap_or(input);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, col)
}

/// Words with a meaning of their own in PromQL; they cannot be bare metric
/// names.
const RESERVED_WORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "atan2",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];

pub(crate) fn is_reserved_word(word: &str) -> bool {
    RESERVED_WORDS.iter().any(|w| w.eq_ignore_ascii_case(word))
}

/// Parses a whole PromQL expression.
pub fn parse(input: &str) -> Result<Expr, ParseError> {
    let tokens = lexer::lex(input).map_err(|e| ParseError::new(e.span, e.message))?;
    let mut parser = Parser { input, tokens, pos: 0 };
    let expr = parser.parse_expr()?;
    let next = parser.peek();
    if next.kind != TokenKind::Eof {
        return Err(parser.unexpected(next, "end of input"));
    }
    Ok(expr)
}

struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Token {
        // `lex` always ends with Eof, and `bump` never moves past it.
        self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn peek_second(&self) -> Token {
        self.tokens[(self.pos + 1).min(self.tokens.len() - 1)]
    }

    fn bump(&mut self) -> Token {
        let token = self.peek();
        if token.kind != TokenKind::Eof {
            self.pos += 1;
        }
        token
    }

    fn text(&self, token: Token) -> &str {
        self.input.get(token.span.start..token.span.end).unwrap_or("")
    }

    fn describe(&self, token: Token) -> String {
        match token.kind {
            TokenKind::Eof => "end of input".to_owned(),
            TokenKind::String => format!("string {}", self.text(token)),
            TokenKind::Number => format!("number \"{}\"", self.text(token)),
            TokenKind::Duration => format!("duration \"{}\"", self.text(token)),
            TokenKind::Ident | TokenKind::MetricIdent => format!("identifier \"{}\"", self.text(token)),
            _ => format!("\"{}\"", self.text(token)),
        }
    }

    fn unexpected(&self, token: Token, expected: &str) -> ParseError {
        ParseError::new(token.span, format!("unexpected {}, expected {expected}", self.describe(token)))
    }

    fn not_supported_yet(&self, span: Span, what: &str) -> ParseError {
        ParseError::new(span, format!("{what} are not supported by this version of Vigil yet"))
    }

    fn parse_expr(&mut self) -> Result<Expr, ParseError> {
        let token = self.peek();
        let expr = match token.kind {
            TokenKind::Number => {
                self.bump();
                let value = parse_number(self.text(token))
                    .ok_or_else(|| ParseError::new(token.span, format!("invalid number {:?}", self.text(token))))?;
                Expr::NumberLiteral { value, span: token.span }
            }
            TokenKind::Ident | TokenKind::MetricIdent => {
                if self.peek_second().kind == TokenKind::LeftParen || is_reserved_word(self.text(token)) {
                    return Err(self.not_supported_yet(token.span, "functions, aggregations and operators"));
                }
                self.bump();
                let name = self.text(token).to_owned();
                self.parse_vector_selector(Some(name), token.span)?
            }
            TokenKind::LeftBrace => self.parse_vector_selector(None, token.span)?,
            TokenKind::LeftParen | TokenKind::Sub | TokenKind::Add => {
                return Err(self.not_supported_yet(token.span, "parentheses and unary operators"));
            }
            TokenKind::String => return Err(self.not_supported_yet(token.span, "string literals")),
            _ => return Err(self.unexpected(token, "an expression")),
        };
        let next = self.peek();
        match next.kind {
            TokenKind::LeftBracket => Err(self.not_supported_yet(next.span, "range selectors and subqueries")),
            TokenKind::At => Err(self.not_supported_yet(next.span, "@ modifiers")),
            TokenKind::Ident if self.text(next).eq_ignore_ascii_case("offset") => {
                Err(self.not_supported_yet(next.span, "offset modifiers"))
            }
            TokenKind::Add
            | TokenKind::Sub
            | TokenKind::Mul
            | TokenKind::Div
            | TokenKind::Mod
            | TokenKind::Pow
            | TokenKind::EqualEqual
            | TokenKind::NotEqual
            | TokenKind::Less
            | TokenKind::LessEqual
            | TokenKind::Greater
            | TokenKind::GreaterEqual => Err(self.not_supported_yet(next.span, "binary operators")),
            _ => Ok(expr),
        }
    }

    /// Parses the optional `{…}` after a metric name (or the mandatory one
    /// when there is no name) and checks the selector is valid.
    fn parse_vector_selector(&mut self, mut name: Option<String>, start: Span) -> Result<Expr, ParseError> {
        let mut matchers = Vec::new();
        let mut end = start;
        if self.peek().kind == TokenKind::LeftBrace {
            self.bump();
            loop {
                let token = self.peek();
                match token.kind {
                    TokenKind::RightBrace => {
                        end = self.bump().span;
                        break;
                    }
                    // Prometheus 3: a lone quoted string is the metric name.
                    TokenKind::String
                        if matches!(self.peek_second().kind, TokenKind::Comma | TokenKind::RightBrace) =>
                    {
                        self.bump();
                        let value = self.unquote(token)?;
                        if name.is_some() {
                            return Err(ParseError::new(token.span, "metric name must not be set twice"));
                        }
                        name = Some(value);
                    }
                    TokenKind::Ident | TokenKind::String => {
                        matchers.push(self.parse_matcher()?);
                    }
                    _ => return Err(self.unexpected(token, "label matching operator or \"}\"")),
                }
                let separator = self.peek();
                match separator.kind {
                    TokenKind::Comma => {
                        self.bump();
                    }
                    TokenKind::RightBrace => {}
                    _ => return Err(self.unexpected(separator, "\",\" or \"}\" in label matching")),
                }
            }
        }
        if let Some(name) = &name {
            if let Some(dup) = matchers.iter().find(|m| m.name == METRIC_NAME) {
                return Err(ParseError::new(
                    start.to(end),
                    format!("metric name must not be set twice: {name:?} or {:?}", dup.value),
                ));
            }
            let name_matcher = Matcher::new(MatchOp::Equal, METRIC_NAME, name.clone())
                .map_err(|e| ParseError::new(start, e.to_string()))?;
            matchers.insert(0, name_matcher);
        }
        let span = start.to(end);
        if matchers.iter().all(Matcher::matches_empty) {
            return Err(ParseError::new(span, "vector selector must contain at least one non-empty matcher"));
        }
        Ok(Expr::VectorSelector(VectorSelector { name, matchers, offset_ms: 0, at: None, span }))
    }

    fn parse_matcher(&mut self) -> Result<Matcher, ParseError> {
        let name_token = self.bump();
        let label = match name_token.kind {
            TokenKind::String => self.unquote(name_token)?,
            _ => self.text(name_token).to_owned(),
        };
        let op_token = self.bump();
        let op = match op_token.kind {
            TokenKind::Assign => MatchOp::Equal,
            TokenKind::NotEqual => MatchOp::NotEqual,
            TokenKind::RegexMatch => MatchOp::Regex,
            TokenKind::RegexNoMatch => MatchOp::NotRegex,
            _ => return Err(self.unexpected(op_token, "label matching operator")),
        };
        let value_token = self.bump();
        if value_token.kind != TokenKind::String {
            return Err(self.unexpected(value_token, "string"));
        }
        let value = self.unquote(value_token)?;
        Matcher::new(op, label, value).map_err(|e| {
            ParseError::new(value_token.span, format!("invalid regular expression: {}", first_line(&e.to_string())))
        })
    }

    fn unquote(&self, token: Token) -> Result<String, ParseError> {
        lexer::unquote(self.text(token)).map_err(|message| ParseError::new(token.span, message))
    }
}

fn first_line(s: &str) -> &str {
    s.lines().last().unwrap_or(s).trim()
}

/// Parses a PromQL number literal: decimal, exponent, hex, `Inf`, `NaN`.
pub fn parse_number(text: &str) -> Option<f64> {
    if text.eq_ignore_ascii_case("inf") {
        return Some(f64::INFINITY);
    }
    if text.eq_ignore_ascii_case("nan") {
        return Some(f64::NAN);
    }
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16).ok().map(|v| v as f64);
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selector(input: &str) -> VectorSelector {
        match parse(input) {
            Ok(Expr::VectorSelector(s)) => s,
            other => panic!("{input:?} parsed to {other:?}"),
        }
    }

    #[test]
    fn selectors_parse_and_print_canonically() {
        let cases = [
            ("up", "up"),
            ("up{}", "up"),
            ("  up { job = \"vigil\" , } ", "up{job=\"vigil\"}"),
            ("{__name__=~\"up|down\"}", "{__name__=~\"up|down\"}"),
            ("job:rate5m:sum{a!='b',c!~`d.*`}", "job:rate5m:sum{a!=\"b\", c!~\"d.*\"}"),
            ("{\"my.metric\", \"a.b\"=\"x\"}", "{__name__=\"my.metric\", \"a.b\"=\"x\"}"),
            ("inf_metric", "inf_metric"),
        ];
        for (input, want) in cases {
            let s = selector(input);
            assert_eq!(s.to_string(), want, "input {input:?}");
            assert_eq!(selector(want).matchers, s.matchers, "reparse of {want:?}");
        }
    }

    #[test]
    fn numbers() {
        let cases = [("1", 1.0), ("1.5e3", 1500.0), ("0x10", 16.0), ("Inf", f64::INFINITY), (".5", 0.5)];
        for (input, want) in cases {
            match parse(input) {
                Ok(Expr::NumberLiteral { value, .. }) => assert_eq!(value, want, "{input}"),
                other => panic!("{input}: {other:?}"),
            }
        }
        assert!(matches!(parse("NaN"), Ok(Expr::NumberLiteral { value, .. }) if value.is_nan()));
    }

    #[test]
    fn errors_name_the_span() {
        let cases = [
            ("", 0, "unexpected end of input, expected an expression"),
            ("{}", 0, "vector selector must contain at least one non-empty matcher"),
            ("{a=\"\"}", 0, "vector selector must contain at least one non-empty matcher"),
            ("up{a=~\"(\"}", 6, "invalid regular expression"),
            ("up{a}", 4, "unexpected \"}\", expected label matching operator"),
            ("up{a=1}", 5, "unexpected number \"1\", expected string"),
            ("up down", 3, "unexpected identifier \"down\", expected end of input"),
            ("rate(up[5m])", 0, "not supported"),
            ("up[5m]", 2, "not supported"),
            ("up + 1", 3, "not supported"),
            ("up{__name__=\"x\"}", 0, "metric name must not be set twice"),
            ("up{a=\"b\"", 8, "unexpected end of input"),
        ];
        for (input, start, want) in cases {
            let err = parse(input).unwrap_err();
            assert_eq!(err.span.start, start, "input {input:?}: {err}");
            assert!(err.message.contains(want), "input {input:?}: got {err}, want {want}");
        }
    }

    #[test]
    fn describe_gives_line_and_column() {
        let input = "up{\n  a=1}";
        let err = parse(input).unwrap_err();
        assert_eq!(err.describe(input), "2:5: parse error: unexpected number \"1\", expected string");
    }

    #[test]
    fn regex_matchers_are_anchored() {
        let s = selector("{job=~\"vig\"}");
        assert!(s.matchers[0].matches("vig"));
        assert!(!s.matchers[0].matches("vigil"));
        let s = selector("{job=~\"a.b\"}");
        assert!(s.matchers[0].matches("a\nb"), "dot matches newline as in Prometheus");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Parsing never panics, whatever the input.
            #[test]
            fn parse_never_panics(input in "\\PC{0,40}") {
                let _ = parse(&input);
            }

            /// parse → print → parse gives the same selector.
            #[test]
            fn print_round_trips(
                name in "[a-zA-Z_:][a-zA-Z0-9_:]{0,8}",
                label in "[a-zA-Z_][a-zA-Z0-9_.]{0,8}",
                value in "\\PC{1,12}",
                op in 0usize..2,
            ) {
                prop_assume!(!is_reserved_word(&name) && label != METRIC_NAME);
                let op = ["=", "!="][op];
                let mut quoted = String::new();
                for c in value.chars() {
                    match c {
                        '\\' => quoted.push_str("\\\\"),
                        '"' => quoted.push_str("\\\""),
                        c => quoted.push(c),
                    }
                }
                let input = format!("{{\"{name}\", \"{label}\"{op}\"{quoted}\"}}");
                if let Ok(first) = parse(&input) {
                    let printed = first.to_string();
                    let second = parse(&printed).map_err(|e| TestCaseError::fail(format!("{printed}: {e}")))?;
                    match (first, second) {
                        (Expr::VectorSelector(a), Expr::VectorSelector(b)) => prop_assert_eq!(a.matchers, b.matchers),
                        other => prop_assert!(false, "{:?}", other),
                    }
                }
            }
        }
    }
}
