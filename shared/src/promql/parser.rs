//! The PromQL parser: tokens to an [`Expr`], with span-carrying errors.
//!
//! Recursive descent with precedence climbing, written to accept exactly
//! what Prometheus's yacc grammar accepts (float data, default feature
//! flags) and to fail with Prometheus's messages at Prometheus's positions,
//! so that users see the same errors from Vigil as from Prometheus. As in
//! Prometheus, parsing has two phases: syntax (including the checks
//! Prometheus's grammar actions make, such as "offset may not be set multiple
//! times"), then a type-checking pass mirroring its `checkAST`, which also
//! settles each binary expression's vector matching.
//!
//! Deviations, all deliberate: Prometheus's experimental syntax (duration
//! arithmetic such as `[5m+1m]`, `step()`, `fill()`, `anchored`, `smoothed`,
//! the `</` and `>/` operators) is refused, as Prometheus refuses it without
//! its feature flags; experimental functions and `limitk`/`limit_ratio` are
//! accepted; nesting deeper than [`MAX_DEPTH`] is refused so that no input can
//! overflow the stack; durations are whole milliseconds.

use super::Span;
use super::ast::{
    AggregateExpr, AggregateOp, AtModifier, BinaryExpr, BinaryOp, Call, Cardinality, Expr, Grouping, MatchOp, Matcher,
    MatrixSelector, SubqueryExpr, UnaryOp, ValueType, VectorMatching, VectorSelector,
};
use super::functions::{self, Function};
use super::lexer::{self, LexError, Token, TokenKind, go_quote};
use crate::model::METRIC_NAME;

/// How deeply expressions may nest (parentheses, operands, arguments),
/// counted both in the parser's recursion and in the depth of the tree.
/// Prometheus has no limit; real queries stay far below this one, and every
/// recursive walk of the tree (type checking, printing, evaluation, drop)
/// stays well within a thread's stack.
pub const MAX_DEPTH: usize = 1000;

/// A parse error: what went wrong and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    pub span: Span,
    pub message: String,
}

impl ParseError {
    /// Boxed: errors travel up the recursive descent, and a small `Result`
    /// keeps its stack frames small.
    fn new(span: Span, message: impl Into<String>) -> Box<Self> {
        Box::new(ParseError { span, message: message.into() })
    }

    /// Formats the error as Prometheus does, `line:col: parse error: …`, with
    /// the 1-based line and the 1-based column of the span's start. As in
    /// Prometheus, the column counts bytes.
    pub fn describe(&self, input: &str) -> String {
        let offset = self.span.start.min(input.len());
        let before = input.as_bytes().get(..offset).unwrap_or_default();
        let line = before.iter().filter(|&&c| c == b'\n').count() + 1;
        let col = offset - before.iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1) + 1;
        format!("{line}:{col}: parse error: {}", self.message)
    }
}

impl From<LexError> for ParseError {
    fn from(e: LexError) -> Self {
        ParseError { span: e.span, message: e.message }
    }
}

/// 1-based line and column (in characters) of byte `offset` in `input`,
/// for editors.
pub fn line_col(input: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(input.len());
    let before = input.get(..offset).unwrap_or(input);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, col)
}

/// How Prometheus's lexer classifies a word outside braces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WordClass {
    Plain,
    /// `and`, `or`, `unless`, `atan2`.
    Operator,
    Aggregator,
    /// `by`, `on`, `offset`, `bool`, …
    Keyword,
    /// `start`, `end` (after `@`) and the duration functions.
    Preprocessor,
}

const OPERATOR_WORDS: &[&str] = &["and", "or", "unless", "atan2"];
const KEYWORD_WORDS: &[&str] =
    &["bool", "by", "group_left", "group_right", "ignoring", "offset", "on", "without", "smoothed", "anchored"];
const PREPROCESSOR_WORDS: &[&str] = &["start", "end", "step", "range", "max_of", "min_of"];

fn is_one_of(word: &str, list: &[&str]) -> bool {
    list.iter().any(|w| w.eq_ignore_ascii_case(word))
}

pub(crate) fn classify(word: &str) -> WordClass {
    if is_one_of(word, OPERATOR_WORDS) {
        WordClass::Operator
    } else if AggregateOp::from_name(word).is_some() {
        WordClass::Aggregator
    } else if is_one_of(word, KEYWORD_WORDS) {
        WordClass::Keyword
    } else if is_one_of(word, PREPROCESSOR_WORDS) {
        WordClass::Preprocessor
    } else {
        WordClass::Plain
    }
}

/// Keywords that can never be a bare metric name (most keywords can:
/// `sum`, `offset` and `by` are valid metric names where an expression
/// starts).
const NOT_METRIC_NAMES: &[&str] = &["bool", "on", "ignoring", "group_left", "group_right", "atan2"];

/// Whether `word` cannot be written bare as a metric name.
pub(crate) fn is_reserved_word(word: &str) -> bool {
    is_one_of(word, NOT_METRIC_NAMES) || word.eq_ignore_ascii_case("inf") || word.eq_ignore_ascii_case("nan")
}

/// Parses a whole PromQL expression.
pub fn parse(input: &str) -> Result<Expr, ParseError> {
    parse_boxed(input).map_err(|e| *e)
}

fn parse_boxed(input: &str) -> PResult<Expr> {
    let (mut tokens, lex_error) = lexer::lex_partial(input);
    if let Some(e) = &lex_error {
        // Stands in for the rest of the input: every rule rejects it, and
        // rejecting it reports the lexer's error.
        tokens.push(Token { kind: TokenKind::Eof, span: e.span });
    }
    let mut parser = Parser { input, tokens, lex_error, pos: 0, depth: 0, aggregation_depth: 0 };
    if parser.peek().kind == TokenKind::Eof && parser.lex_error.is_none() {
        return Err(ParseError::new(Span::new(0, 0), "no expression found in input"));
    }
    let (expr, _) = parser.expr(0)?;
    let next = parser.peek();
    if next.kind != TokenKind::Eof || parser.lex_error.is_some() {
        return Err(parser.unexpected(next, "", ""));
    }
    let mut expr = *expr;
    check(&mut expr, input)?;
    Ok(expr)
}

type PResult<T> = Result<T, Box<ParseError>>;

/// A parsed expression and the depth of its tree. Boxed, because the
/// recursive descent passes it up through many frames: each frame then holds
/// a pointer instead of a whole node, which keeps deep nesting within a
/// thread's stack.
type Node = (Box<Expr>, usize);

/// The arguments of a call or aggregation: the arguments, the closing
/// parenthesis, the deepest argument's depth.
type Args = (Vec<Expr>, Token, usize);

/// What a word starting an expression turns out to be.
enum WordRole {
    Aggregation(AggregateOp),
    Call,
    Other,
}

struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Token>,
    lex_error: Option<LexError>,
    pos: usize,
    /// Current recursion depth of [`Parser::expr`].
    depth: usize,
    /// How many aggregation bodies enclose the current position: Prometheus
    /// then says "… in aggregation" in its generic syntax errors.
    aggregation_depth: usize,
}

/// The recursive core: [`Parser::expr`], [`Parser::operand`] and
/// [`Parser::call_args`] call each other once per nesting level, so they
/// keep few locals; everything else is in `#[inline(never)]` helpers whose
/// frames are gone before the recursion goes deeper.
impl<'a> Parser<'a> {
    fn peek(&self) -> Token {
        self.peek_nth(0)
    }

    fn peek_nth(&self, n: usize) -> Token {
        let last = self.tokens.last().copied().unwrap_or(Token { kind: TokenKind::Eof, span: Span::default() });
        self.tokens.get(self.pos + n).copied().unwrap_or(last)
    }

    fn bump(&mut self) -> Token {
        let token = self.peek();
        if self.pos < self.tokens.len().saturating_sub(1) {
            self.pos += 1;
        }
        token
    }

    fn text(&self, token: Token) -> &'a str {
        self.input.get(token.span.start..token.span.end).unwrap_or("")
    }

    /// Whether the token is the word `word` (keywords are case-insensitive).
    fn is_word(&self, token: Token, word: &str) -> bool {
        token.kind == TokenKind::Ident && self.text(token).eq_ignore_ascii_case(word)
    }

    /// The token as Prometheus's messages name it.
    fn describe(&self, token: Token, in_braces: bool) -> String {
        use TokenKind::*;
        let text = self.text(token);
        match token.kind {
            Eof => "end of input".to_owned(),
            Ident if in_braces => format!("identifier {}", go_quote(text)),
            Ident => match classify(text) {
                WordClass::Plain => format!("identifier {}", go_quote(text)),
                WordClass::Operator => format!("<op:{text}>"),
                WordClass::Aggregator => format!("<aggr:{text}>"),
                WordClass::Keyword => format!("<{text}>"),
                WordClass::Preprocessor => go_quote(text),
            },
            MetricIdent => format!("metric identifier {}", go_quote(text)),
            Number => format!("number {}", go_quote(text)),
            Duration => format!("duration {}", go_quote(text)),
            String => {
                if text.chars().count() > 10 {
                    let head: std::string::String = text.chars().take(10).collect();
                    format!("string {}...", go_quote(&head))
                } else {
                    format!("string {}", go_quote(text))
                }
            }
            Add | Sub | Mul | Div | Mod | Pow | EqualEqual | NotEqual | Less | LessEqual | Greater | GreaterEqual
            | At | RegexMatch | RegexNoMatch | TrimUpper | TrimLower => format!("<op:{text}>"),
            LeftParen | RightParen | LeftBrace | RightBrace | LeftBracket | RightBracket | Comma | Colon | Assign => {
                go_quote(text)
            }
        }
    }

    #[inline(never)]
    fn unexpected_in(&self, token: Token, context: &str, expected: &str, in_braces: bool) -> Box<ParseError> {
        if token.kind == TokenKind::Eof
            && let Some(e) = &self.lex_error
        {
            return Box::new(e.clone().into());
        }
        let mut message = format!("unexpected {}", self.describe(token, in_braces));
        let context = if context.is_empty() && self.aggregation_depth > 0 { "aggregation" } else { context };
        if !context.is_empty() {
            message.push_str(" in ");
            message.push_str(context);
        }
        if !expected.is_empty() {
            message.push_str(", expected ");
            message.push_str(expected);
        }
        ParseError::new(token.span, message)
    }

    /// "unexpected X[ in context][, expected …]", Prometheus's syntax error.
    fn unexpected(&self, token: Token, context: &str, expected: &str) -> Box<ParseError> {
        self.unexpected_in(token, context, expected, false)
    }

    #[inline(never)]
    fn too_deep(span: Span) -> Box<ParseError> {
        ParseError::new(span, format!("expression nested too deeply: more than {MAX_DEPTH} levels"))
    }

    fn deeper(depth: usize, span: Span) -> PResult<usize> {
        let depth = depth + 1;
        if depth > MAX_DEPTH { Err(Self::too_deep(span)) } else { Ok(depth) }
    }

    /// An expression whose binary operators bind at least as tightly as
    /// `min_precedence`.
    fn expr(&mut self, min_precedence: u8) -> PResult<Node> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Self::too_deep(self.peek().span));
        }
        let mut lhs = self.operand()?;
        while let Some(op) = self.binary_op(self.peek())? {
            let precedence = op.precedence();
            if precedence < min_precedence {
                break;
            }
            self.bump();
            let (return_bool, matching) = self.binary_modifiers()?;
            let rhs = self.expr(if op.is_right_associative() { precedence } else { precedence + 1 })?;
            lhs = make_binary(op, lhs, rhs, return_bool, matching)?;
        }
        self.depth -= 1;
        Ok(lhs)
    }

    /// An operand of a binary operator: a unary expression, or a primary
    /// expression with its postfix modifiers. A unary `+`/`-` binds like
    /// `*`: tighter than `+`, looser than `^` (`-2^2` is -4).
    fn operand(&mut self) -> PResult<Node> {
        let token = self.peek();
        let node = match token.kind {
            TokenKind::Add | TokenKind::Sub => {
                self.bump();
                let operand = self.expr(BinaryOp::Pow.precedence())?;
                return make_unary(token, operand);
            }
            TokenKind::LeftParen => {
                self.bump();
                let inner = self.expr(0)?;
                self.close_paren(token, inner)?
            }
            TokenKind::Ident => match self.word_role(token) {
                WordRole::Aggregation(op) => {
                    let grouping = self.aggregation_start()?;
                    self.aggregation_depth += 1;
                    let args = self.call_args()?;
                    self.aggregation_depth -= 1;
                    self.aggregation_end(op, token, grouping, args)?
                }
                WordRole::Call => {
                    self.bump();
                    self.bump();
                    let args = self.call_args()?;
                    self.call_end(token, args)?
                }
                WordRole::Other => self.leaf(token)?,
            },
            _ => self.leaf(token)?,
        };
        self.postfix(node)
    }

    /// Arguments after `(` up to and including `)`.
    fn call_args(&mut self) -> PResult<Args> {
        let mut args = Vec::new();
        let mut depth = 0;
        if self.peek().kind == TokenKind::RightParen {
            return Ok((args, self.bump(), depth));
        }
        loop {
            let (arg, arg_depth) = self.expr(0)?;
            args.push(*arg);
            depth = depth.max(arg_depth);
            if let Some(close) = self.after_arg()? {
                return Ok((args, close, depth));
            }
        }
    }

    /// After an argument: `,` (then `None`) or the closing parenthesis.
    #[inline(never)]
    fn after_arg(&mut self) -> PResult<Option<Token>> {
        let token = self.peek();
        match token.kind {
            TokenKind::Comma => {
                self.bump();
                if self.peek().kind == TokenKind::RightParen {
                    return Err(ParseError::new(token.span, "trailing commas not allowed in function call args"));
                }
                Ok(None)
            }
            TokenKind::RightParen => Ok(Some(self.bump())),
            _ => Err(self.unexpected(token, "", "")),
        }
    }

    #[inline(never)]
    fn close_paren(&mut self, open: Token, (inner, depth): Node) -> PResult<Node> {
        let close = self.peek();
        if close.kind != TokenKind::RightParen {
            return Err(self.unexpected(close, "", ""));
        }
        self.bump();
        let span = open.span.to(close.span);
        Ok((Box::new(Expr::Paren { expr: inner, span }), Self::deeper(depth, span)?))
    }

    /// A word where an expression starts: an aggregation, a function call,
    /// or else a metric name (which may be a keyword, as in Prometheus).
    fn word_role(&self, token: Token) -> WordRole {
        let text = self.text(token);
        let next = self.peek_nth(1);
        let class = classify(text);
        if class == WordClass::Aggregator
            && (next.kind == TokenKind::LeftParen || self.is_word(next, "by") || self.is_word(next, "without"))
            && let Some(op) = AggregateOp::from_name(text)
        {
            return WordRole::Aggregation(op);
        }
        if next.kind == TokenKind::LeftParen && matches!(class, WordClass::Plain | WordClass::Preprocessor) {
            return WordRole::Call;
        }
        WordRole::Other
    }

    /// Expressions without subexpressions: literals and selectors.
    #[inline(never)]
    fn leaf(&mut self, token: Token) -> PResult<Node> {
        let expr = match token.kind {
            TokenKind::Number => {
                self.bump();
                let value = lexer::parse_number_checked(self.text(token))
                    .map_err(|e| ParseError::new(token.span, format!("error parsing number: {e}")))?;
                Expr::NumberLiteral { value, span: token.span }
            }
            TokenKind::Duration => {
                self.bump();
                let ms = lexer::parse_duration(self.text(token)).map_err(|e| ParseError::new(token.span, e))?;
                Expr::NumberLiteral { value: lexer::ms_to_seconds(ms), span: token.span }
            }
            TokenKind::String => {
                self.bump();
                Expr::StringLiteral { value: self.unquote(token)?, span: token.span }
            }
            TokenKind::LeftBrace => self.selector(None, token.span)?,
            TokenKind::MetricIdent | TokenKind::Ident => {
                let text = self.text(token);
                let next = self.peek_nth(1).kind;
                if is_one_of(text, NOT_METRIC_NAMES)
                    || (is_one_of(text, &["fill", "fill_left", "fill_right"]) && next == TokenKind::LeftParen)
                {
                    return Err(self.unexpected(token, "", ""));
                }
                self.bump();
                self.selector(Some(text.to_owned()), token.span)?
            }
            _ => return Err(self.unexpected(token, "", "")),
        };
        Ok((Box::new(expr), 1))
    }

    /// Any `[range]`, `[range:step]`, `offset` and `@` modifiers after an
    /// operand: they bind tighter than any operator.
    #[inline(never)]
    fn postfix(&mut self, (mut expr, mut depth): Node) -> PResult<Node> {
        loop {
            let token = self.peek();
            match token.kind {
                TokenKind::LeftBracket => {
                    let subquery;
                    (expr, subquery) = self.range_or_subquery(expr)?;
                    if subquery {
                        depth = Self::deeper(depth, expr.span())?;
                    }
                }
                TokenKind::At => self.at_modifier(&mut expr)?,
                TokenKind::Ident if self.is_word(token, "offset") => self.offset_modifier(&mut expr)?,
                TokenKind::Ident if self.is_word(token, "anchored") || self.is_word(token, "smoothed") => {
                    return Err(ParseError::new(
                        expr.span(),
                        format!("{} modifier is experimental and not enabled", self.text(token).to_ascii_lowercase()),
                    ));
                }
                _ => return Ok((expr, depth)),
            }
        }
    }

    #[inline(never)]
    fn call_end(&mut self, name: Token, (args, close, depth): Args) -> PResult<Node> {
        let text = self.text(name);
        let func = functions::lookup(text)
            .ok_or_else(|| ParseError::new(name.span, format!("unknown function with name {}", go_quote(text))))?;
        let span = name.span.to(close.span);
        Ok((Box::new(Expr::Call(Call { func, args, span })), Self::deeper(depth, span)?))
    }

    /// `op [by|without (…)] (`, up to the arguments.
    #[inline(never)]
    fn aggregation_start(&mut self) -> PResult<Option<Grouping>> {
        self.bump();
        let mut grouping = None;
        if self.is_word(self.peek(), "by") || self.is_word(self.peek(), "without") {
            grouping = Some(self.aggregation_modifier()?.0);
        }
        let open = self.peek();
        if open.kind != TokenKind::LeftParen {
            return Err(self.unexpected(open, "aggregation", ""));
        }
        self.bump();
        Ok(grouping)
    }

    /// After the arguments: an optional `by|without (…)`, and the checks
    /// on the number of arguments.
    #[inline(never)]
    fn aggregation_end(
        &mut self,
        op: AggregateOp,
        op_token: Token,
        mut grouping: Option<Grouping>,
        (mut args, close, depth): Args,
    ) -> PResult<Node> {
        let mut end = close.span;
        if grouping.is_none() && (self.is_word(self.peek(), "by") || self.is_word(self.peek(), "without")) {
            let (modifier, close) = self.aggregation_modifier()?;
            grouping = Some(modifier);
            end = close.span;
        }
        let span = op_token.span.to(end);
        if args.is_empty() {
            return Err(ParseError::new(span, "no arguments for aggregate expression provided"));
        }
        let wanted = if op.param_type().is_some() { 2 } else { 1 };
        if args.len() != wanted {
            return Err(ParseError::new(
                span,
                format!(
                    "wrong number of arguments for aggregate expression provided, expected {wanted}, got {}",
                    args.len()
                ),
            ));
        }
        let expr = args.pop().map(Box::new);
        let param = args.pop().map(Box::new);
        let Some(expr) = expr else {
            return Err(ParseError::new(span, "no arguments for aggregate expression provided"));
        };
        // Prometheus cannot tell `by ()` from no grouping, and prints both
        // the same way; so neither does Vigil's tree.
        let grouping = match grouping {
            Some(Grouping::By(labels)) if labels.is_empty() => Grouping::None,
            Some(grouping) => grouping,
            None => Grouping::None,
        };
        let node = Expr::Aggregate(AggregateExpr { op, expr, param, grouping, span });
        Ok((Box::new(node), Self::deeper(depth, span)?))
    }

    #[inline(never)]
    fn binary_op(&self, token: Token) -> PResult<Option<BinaryOp>> {
        use TokenKind::*;
        Ok(Some(match token.kind {
            Add => BinaryOp::Add,
            Sub => BinaryOp::Sub,
            Mul => BinaryOp::Mul,
            Div => BinaryOp::Div,
            Mod => BinaryOp::Mod,
            Pow => BinaryOp::Pow,
            EqualEqual => BinaryOp::Eql,
            NotEqual => BinaryOp::Neq,
            Less => BinaryOp::Lss,
            LessEqual => BinaryOp::Lte,
            Greater => BinaryOp::Gtr,
            GreaterEqual => BinaryOp::Gte,
            TrimUpper | TrimLower => {
                return Err(ParseError::new(
                    token.span,
                    format!(
                        "the histogram trim operator {} is experimental in Prometheus and not supported",
                        go_quote(self.text(token))
                    ),
                ));
            }
            Ident => {
                let text = self.text(token);
                if text.eq_ignore_ascii_case("and") {
                    BinaryOp::And
                } else if text.eq_ignore_ascii_case("or") {
                    BinaryOp::Or
                } else if text.eq_ignore_ascii_case("unless") {
                    BinaryOp::Unless
                } else if text.eq_ignore_ascii_case("atan2") {
                    BinaryOp::Atan2
                } else {
                    return Ok(None);
                }
            }
            _ => return Ok(None),
        }))
    }

    /// `bool`, `on(…)`/`ignoring(…)`, `group_left(…)`/`group_right(…)`
    /// after a binary operator.
    #[inline(never)]
    fn binary_modifiers(&mut self) -> PResult<(bool, VectorMatching)> {
        let mut matching =
            VectorMatching { card: Cardinality::OneToOne, matching_labels: Vec::new(), on: false, include: Vec::new() };
        let return_bool = self.is_word(self.peek(), "bool");
        if return_bool {
            self.bump();
        }
        let token = self.peek();
        if self.is_word(token, "on") || self.is_word(token, "ignoring") {
            self.bump();
            matching.on = self.is_word(token, "on");
            matching.matching_labels = self.grouping_labels()?.0;
            let group = self.peek();
            if self.is_word(group, "group_left") || self.is_word(group, "group_right") {
                self.bump();
                matching.card =
                    if self.is_word(group, "group_left") { Cardinality::ManyToOne } else { Cardinality::OneToMany };
                if self.peek().kind == TokenKind::LeftParen {
                    matching.include = self.grouping_labels()?.0;
                }
            }
        }
        let token = self.peek();
        if ["fill", "fill_left", "fill_right"].iter().any(|w| self.is_word(token, w))
            && self.peek_nth(1).kind == TokenKind::LeftParen
        {
            return Err(ParseError::new(token.span, "binop fill modifiers are experimental and not enabled"));
        }
        Ok((return_bool, matching))
    }

    /// `(label, …)` after `by`, `without`, `on`, `ignoring`, `group_left`,
    /// `group_right`; returns the labels and the closing parenthesis.
    #[inline(never)]
    fn grouping_labels(&mut self) -> PResult<(Vec<String>, Token)> {
        let open = self.peek();
        if open.kind != TokenKind::LeftParen {
            return Err(self.unexpected(open, "grouping opts", "\"(\""));
        }
        self.bump();
        let mut labels = Vec::new();
        if self.peek().kind == TokenKind::RightParen {
            return Ok((labels, self.bump()));
        }
        loop {
            let token = self.peek();
            let label = match token.kind {
                TokenKind::Ident if !self.is_word(token, "without") => self.text(token).to_owned(),
                TokenKind::MetricIdent => self.text(token).to_owned(),
                TokenKind::String => {
                    let label = self.unquote(token)?;
                    if label.is_empty() {
                        return Err(ParseError::new(token.span, "invalid label name for grouping: \"\""));
                    }
                    label
                }
                _ => return Err(self.unexpected(token, "grouping opts", "label")),
            };
            self.bump();
            labels.push(label);
            let separator = self.peek();
            match separator.kind {
                TokenKind::Comma => {
                    self.bump();
                    if self.peek().kind == TokenKind::RightParen {
                        return Ok((labels, self.bump()));
                    }
                }
                TokenKind::RightParen => return Ok((labels, self.bump())),
                _ => return Err(self.unexpected(separator, "grouping opts", "\",\" or \")\"")),
            }
        }
    }

    #[inline(never)]
    fn aggregation_modifier(&mut self) -> PResult<(Grouping, Token)> {
        let keyword = self.bump();
        let (labels, close) = self.grouping_labels()?;
        let grouping = if self.is_word(keyword, "by") { Grouping::By(labels) } else { Grouping::Without(labels) };
        Ok((grouping, close))
    }

    /// The optional `{…}` after a metric name (or the mandatory one when
    /// there is no name). The name, when given, becomes the first matcher.
    #[inline(never)]
    fn selector(&mut self, name: Option<String>, start: Span) -> PResult<Expr> {
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
                    TokenKind::Ident | TokenKind::String => {
                        self.bump();
                        let label = match token.kind {
                            TokenKind::String => self.unquote(token)?,
                            _ => self.text(token).to_owned(),
                        };
                        let op = match self.peek().kind {
                            TokenKind::Assign => Some(MatchOp::Equal),
                            TokenKind::NotEqual => Some(MatchOp::NotEqual),
                            TokenKind::RegexMatch => Some(MatchOp::Regex),
                            TokenKind::RegexNoMatch => Some(MatchOp::NotRegex),
                            _ => None,
                        };
                        let matcher = match op {
                            Some(op) => {
                                self.bump();
                                let value_token = self.peek();
                                if value_token.kind != TokenKind::String {
                                    return Err(self.unexpected_in(value_token, "label matching", "string", true));
                                }
                                self.bump();
                                let value = self.unquote(value_token)?;
                                new_matcher(op, label, value, token.span.to(value_token.span))?
                            }
                            // Prometheus 3: a lone quoted string is the metric name.
                            None if token.kind == TokenKind::String => {
                                new_matcher(MatchOp::Equal, METRIC_NAME.to_owned(), label, token.span)?
                            }
                            None => {
                                return Err(self.unexpected_in(
                                    self.peek(),
                                    "label matching",
                                    "label matching operator",
                                    true,
                                ));
                            }
                        };
                        matchers.push(matcher);
                    }
                    _ => return Err(self.unexpected_in(token, "label matching", "identifier or \"}\"", true)),
                }
                let separator = self.peek();
                match separator.kind {
                    TokenKind::Comma => {
                        self.bump();
                    }
                    TokenKind::RightBrace => {}
                    _ => return Err(self.unexpected_in(separator, "label matching", "\",\" or \"}\"", true)),
                }
            }
        }
        if let Some(name) = &name {
            matchers.insert(0, new_matcher(MatchOp::Equal, METRIC_NAME.to_owned(), name.clone(), start)?);
        }
        Ok(Expr::VectorSelector(VectorSelector { name, matchers, offset_ms: 0, at: None, span: start.to(end) }))
    }

    /// `[range]` after a selector, or `[range:step]` after any expression.
    /// Returns the new expression and whether it is a subquery.
    #[inline(never)]
    fn range_or_subquery(&mut self, expr: Box<Expr>) -> PResult<(Box<Expr>, bool)> {
        let open = self.bump();
        let range_ms = self.bracket_duration(
            "subquery or range selector",
            "number, duration, step(), or range()",
            "duration must be greater than 0",
        )?;
        let token = self.peek();
        match token.kind {
            TokenKind::RightBracket => {
                let close = self.bump();
                let brackets = open.span.to(close.span);
                let Expr::VectorSelector(selector) = *expr else {
                    return Err(ParseError::new(brackets, "ranges only allowed for vector selectors"));
                };
                if selector.offset_ms != 0 {
                    return Err(ParseError::new(brackets, "no offset modifiers allowed before range"));
                }
                if selector.at.is_some() {
                    return Err(ParseError::new(brackets, "no @ modifiers allowed before range"));
                }
                let span = selector.span.to(close.span);
                Ok((Box::new(Expr::MatrixSelector(MatrixSelector { selector, range_ms, span })), false))
            }
            TokenKind::Colon => {
                self.bump();
                let step_ms = if self.peek().kind == TokenKind::RightBracket {
                    None
                } else {
                    Some(self.bracket_duration(
                        "subquery selector",
                        "number, duration, step(), range(), or \"]\"",
                        "duration must be greater than 0",
                    )?)
                };
                let close = self.peek();
                if close.kind != TokenKind::RightBracket {
                    return Err(self.unexpected(close, "subquery selector", "\"]\""));
                }
                self.bump();
                let span = expr.span().to(close.span);
                let subquery = SubqueryExpr { expr, range_ms, step_ms, offset_ms: 0, at: None, span };
                Ok((Box::new(Expr::Subquery(subquery)), true))
            }
            _ => Err(self.unexpected(token, "subquery or range", "\":\" or \"]\"")),
        }
    }

    /// A signed number or duration literal, in seconds, and its span. Errors
    /// name `context` and `expected` when there is no literal. Duration
    /// arithmetic, `step()` and the like are refused as experimental.
    fn duration_literal(&mut self, context: &str, expected: &str) -> PResult<(f64, Span, Option<Span>)> {
        let first = self.peek();
        let mut negative = false;
        let mut sign = None;
        while matches!(self.peek().kind, TokenKind::Add | TokenKind::Sub) {
            let token = self.bump();
            negative ^= token.kind == TokenKind::Sub;
            sign.get_or_insert(token.span);
        }
        let token = self.peek();
        let seconds = match token.kind {
            TokenKind::Number => lexer::parse_number_checked(self.text(token))
                .map_err(|e| ParseError::new(token.span, format!("error parsing number: {e}")))?,
            TokenKind::Duration => lexer::ms_to_seconds(
                lexer::parse_duration(self.text(token)).map_err(|e| ParseError::new(token.span, e))?,
            ),
            TokenKind::LeftParen => return Err(experimental(first.span.to(token.span))),
            TokenKind::Ident if is_one_of(self.text(token), &["step", "range", "max_of", "min_of"]) => {
                let open = self.peek_nth(1);
                if open.kind != TokenKind::LeftParen {
                    return Err(self.unexpected(open, context, expected));
                }
                return Err(experimental(first.span.to(token.span)));
            }
            _ => return Err(self.unexpected(token, context, expected)),
        };
        self.bump();
        let seconds = if negative { -seconds } else { seconds };
        // Prometheus keeps durations as nanoseconds in an i64.
        if seconds.is_nan() || seconds.abs() > 9_223_372_036.854_775 {
            return Err(ParseError::new(sign.unwrap_or(token.span), "duration out of range"));
        }
        Ok((seconds, first.span.to(token.span), sign))
    }

    /// A range or step inside brackets: a positive literal.
    fn bracket_duration(&mut self, context: &str, expected: &str, not_positive: &str) -> PResult<i64> {
        let (seconds, span, _) = self.duration_literal(context, expected)?;
        let next = self.peek();
        if matches!(
            next.kind,
            TokenKind::Add | TokenKind::Sub | TokenKind::Mul | TokenKind::Div | TokenKind::Mod | TokenKind::Pow
        ) {
            return Err(experimental(span));
        }
        if seconds <= 0.0 {
            return Err(ParseError::new(span, not_positive));
        }
        let ms = lexer::seconds_to_ms(seconds);
        if ms <= 0 {
            return Err(ParseError::new(span, "duration must be at least 1ms"));
        }
        Ok(ms)
    }

    #[inline(never)]
    fn offset_modifier(&mut self, expr: &mut Expr) -> PResult<()> {
        self.bump();
        let (seconds, span, _) = self.duration_literal("offset", "number, duration, step(), or range()")?;
        let offset_ms = lexer::seconds_to_ms(seconds);
        let end = span.end;
        let expr_span = expr.span();
        let (slot, span_end) = match expr {
            Expr::VectorSelector(vs) => (&mut vs.offset_ms, &mut vs.span.end),
            Expr::MatrixSelector(m) => (&mut m.selector.offset_ms, &mut m.span.end),
            Expr::Subquery(s) => (&mut s.offset_ms, &mut s.span.end),
            _ => {
                return Err(ParseError::new(
                    expr_span,
                    "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
                ));
            }
        };
        if *slot != 0 {
            return Err(ParseError::new(expr_span, "offset may not be set multiple times"));
        }
        *slot = offset_ms;
        *span_end = end;
        Ok(())
    }

    #[inline(never)]
    fn at_modifier(&mut self, expr: &mut Expr) -> PResult<()> {
        self.bump();
        let token = self.peek();
        let (at, end) = if self.is_word(token, "start") || self.is_word(token, "end") {
            self.bump();
            let open = self.peek();
            if open.kind != TokenKind::LeftParen {
                return Err(self.unexpected(open, "@", "timestamp"));
            }
            self.bump();
            let close = self.peek();
            if close.kind != TokenKind::RightParen {
                return Err(self.unexpected(close, "@", "timestamp"));
            }
            self.bump();
            (if self.is_word(token, "start") { AtModifier::Start } else { AtModifier::End }, close.span.end)
        } else {
            let mut negative = false;
            if matches!(token.kind, TokenKind::Add | TokenKind::Sub) {
                self.bump();
                negative = token.kind == TokenKind::Sub;
            }
            let literal = self.peek();
            let seconds = match literal.kind {
                TokenKind::Number => lexer::parse_number_checked(self.text(literal))
                    .map_err(|e| ParseError::new(literal.span, format!("error parsing number: {e}")))?,
                TokenKind::Duration => lexer::ms_to_seconds(
                    lexer::parse_duration(self.text(literal)).map_err(|e| ParseError::new(literal.span, e))?,
                ),
                _ => return Err(self.unexpected(literal, "@", "timestamp")),
            };
            self.bump();
            let seconds = if negative { -seconds } else { seconds };
            if !seconds.is_finite() || seconds >= i64::MAX as f64 || seconds <= i64::MIN as f64 {
                return Err(ParseError::new(
                    expr.span(),
                    format!("timestamp out of bounds for @ modifier: {}", go_float(seconds)),
                ));
            }
            (AtModifier::Timestamp((seconds * 1000.0).round() as i64), literal.span.end)
        };
        let expr_span = expr.span();
        let (slot, span_end) = match expr {
            Expr::VectorSelector(vs) => (&mut vs.at, &mut vs.span.end),
            Expr::MatrixSelector(m) => (&mut m.selector.at, &mut m.span.end),
            Expr::Subquery(s) => (&mut s.at, &mut s.span.end),
            _ => {
                return Err(ParseError::new(
                    expr_span,
                    "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery",
                ));
            }
        };
        if slot.is_some() {
            return Err(ParseError::new(expr_span, "@ <timestamp> may not be set multiple times"));
        }
        *slot = Some(at);
        *span_end = end;
        Ok(())
    }

    fn unquote(&self, token: Token) -> PResult<String> {
        lexer::unquote(self.text(token)).map_err(|message| ParseError::new(token.span, message))
    }
}

#[inline(never)]
fn make_binary(
    op: BinaryOp,
    (lhs, lhs_depth): Node,
    (rhs, rhs_depth): Node,
    return_bool: bool,
    matching: VectorMatching,
) -> PResult<Node> {
    let span = lhs.span().to(rhs.span());
    let depth = Parser::deeper(lhs_depth.max(rhs_depth), span)?;
    let binary = BinaryExpr { op, lhs, rhs, return_bool, matching: Some(matching), span };
    Ok((Box::new(Expr::Binary(binary)), depth))
}

/// A unary operator on a number literal folds into the literal, as in
/// Prometheus: `-1` is the number -1, `-(1)` the negation of `(1)`.
#[inline(never)]
fn make_unary(token: Token, (operand, depth): Node) -> PResult<Node> {
    let op = if token.kind == TokenKind::Sub { UnaryOp::Neg } else { UnaryOp::Pos };
    let span = token.span.to(operand.span());
    Ok(match *operand {
        Expr::NumberLiteral { value, .. } => {
            let value = if op == UnaryOp::Neg { -value } else { value };
            (Box::new(Expr::NumberLiteral { value, span }), depth)
        }
        operand => (Box::new(Expr::Unary { op, expr: Box::new(operand), span }), Parser::deeper(depth, span)?),
    })
}

fn experimental(span: Span) -> Box<ParseError> {
    ParseError::new(span, "experimental duration expression is not enabled")
}

fn new_matcher(op: MatchOp, label: String, value: String, span: Span) -> PResult<Matcher> {
    Matcher::new(op, label, value).map_err(|e| {
        let text = e.to_string();
        let summary = text.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or("invalid regular expression");
        let summary = summary.strip_prefix("error: ").unwrap_or(summary);
        ParseError::new(span, format!("error parsing regexp: {summary}"))
    })
}

/// Go's `%f`: six decimals, `+Inf`, `-Inf`, `NaN`.
fn go_float(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf".to_owned() } else { "-Inf".to_owned() }
    } else {
        format!("{value:.6}")
    }
}

/// The names Prometheus's `ValueType.String()` gives, used in one message.
fn internal_type_name(t: ValueType) -> &'static str {
    match t {
        ValueType::Scalar => "scalar",
        ValueType::Vector => "vector",
        ValueType::Matrix => "matrix",
        ValueType::String => "string",
    }
}

/// The type-checking pass, as Prometheus's `checkAST`: children first, then
/// the node itself, reporting the first error. Also settles each binary
/// expression's `matching`. Recursive once per level, so the checks
/// themselves are in helpers.
fn check(expr: &mut Expr, input: &str) -> PResult<ValueType> {
    match expr {
        Expr::NumberLiteral { .. } => Ok(ValueType::Scalar),
        Expr::StringLiteral { .. } => Ok(ValueType::String),
        Expr::VectorSelector(vs) => {
            check_selector(vs)?;
            Ok(ValueType::Vector)
        }
        Expr::MatrixSelector(m) => {
            check_selector(&m.selector)?;
            Ok(ValueType::Matrix)
        }
        Expr::Subquery(s) => {
            let t = check(&mut s.expr, input)?;
            check_subquery(s.span, t)
        }
        Expr::Paren { expr, .. } => check(expr, input),
        Expr::Unary { expr, span, .. } => {
            let t = check(expr, input)?;
            check_unary(*span, t)
        }
        Expr::Binary(b) => {
            let lt = check(&mut b.lhs, input)?;
            let rt = check(&mut b.rhs, input)?;
            check_binary(b, lt, rt, input)
        }
        Expr::Aggregate(a) => {
            let t = check(&mut a.expr, input)?;
            check_aggregated(a.expr.span(), t)?;
            if let Some(param) = &mut a.param {
                let t = check(param, input)?;
                check_aggregation_param(a.op, param.span(), t)?;
            }
            Ok(ValueType::Vector)
        }
        Expr::Call(c) => {
            check_call_arity(c)?;
            let func = c.func;
            for (i, arg) in c.args.iter_mut().enumerate() {
                let Some(want) = argument_type(func, i) else { break };
                let t = check(arg, input)?;
                check_argument(func, want, arg.span(), t)?;
            }
            Ok(func.return_type)
        }
    }
}

#[inline(never)]
fn check_subquery(span: Span, t: ValueType) -> PResult<ValueType> {
    if t != ValueType::Vector {
        return Err(ParseError::new(
            span,
            format!("subquery is only allowed on instant vector, got {} instead", internal_type_name(t)),
        ));
    }
    Ok(ValueType::Matrix)
}

#[inline(never)]
fn check_unary(span: Span, t: ValueType) -> PResult<ValueType> {
    if !matches!(t, ValueType::Scalar | ValueType::Vector) {
        return Err(ParseError::new(
            span,
            format!(
                "unary expression only allowed on expressions of type scalar or instant vector, got {}",
                go_quote(t.describe())
            ),
        ));
    }
    Ok(t)
}

#[inline(never)]
fn check_aggregated(span: Span, t: ValueType) -> PResult<()> {
    if t != ValueType::Vector {
        return Err(ParseError::new(
            span,
            format!("expected type instant vector in aggregation expression, got {}", t.describe()),
        ));
    }
    Ok(())
}

#[inline(never)]
fn check_aggregation_param(op: AggregateOp, span: Span, t: ValueType) -> PResult<()> {
    match op.param_type() {
        Some(want) if want != t => Err(ParseError::new(
            span,
            format!("expected type {} in aggregation parameter, got {}", want.describe(), t.describe()),
        )),
        _ => Ok(()),
    }
}

#[inline(never)]
fn check_call_arity(c: &Call) -> PResult<()> {
    let declared = c.func.arg_types.len();
    let given = c.args.len();
    let name = go_quote(c.func.name);
    if c.func.variadic == 0 {
        if declared != given {
            return Err(ParseError::new(
                c.span,
                format!("expected {declared} argument(s) in call to {name}, got {given}"),
            ));
        }
        return Ok(());
    }
    let required = declared.saturating_sub(1);
    let most = required + usize::try_from(c.func.variadic).unwrap_or(0);
    if required > given {
        return Err(ParseError::new(
            c.span,
            format!("expected at least {required} argument(s) in call to {name}, got {given}"),
        ));
    }
    if c.func.variadic > 0 && most < given {
        return Err(ParseError::new(
            c.span,
            format!("expected at most {most} argument(s) in call to {name}, got {given}"),
        ));
    }
    Ok(())
}

/// The declared type of argument `i`: the last type repeats for variadic
/// functions; `None` past the end of the others (the count check has
/// already failed then).
fn argument_type(func: &Function, i: usize) -> Option<ValueType> {
    match func.arg_types.get(i) {
        Some(&t) => Some(t),
        None if func.variadic != 0 => func.arg_types.last().copied(),
        None => None,
    }
}

#[inline(never)]
fn check_argument(func: &Function, want: ValueType, span: Span, t: ValueType) -> PResult<()> {
    if t != want {
        return Err(ParseError::new(
            span,
            format!(
                "expected type {} in call to function {}, got {}",
                want.describe(),
                go_quote(func.name),
                t.describe()
            ),
        ));
    }
    Ok(())
}

#[inline(never)]
fn check_selector(vs: &VectorSelector) -> PResult<()> {
    if let Some(name) = &vs.name {
        // The first matcher is the one the parser made from the name.
        if let Some(other) = vs.matchers.iter().skip(1).find(|m| m.name == METRIC_NAME) {
            return Err(ParseError::new(
                vs.span,
                format!("metric name must not be set twice: {} or {}", go_quote(name), go_quote(&other.value)),
            ));
        }
    } else if vs.matchers.iter().all(Matcher::matches_empty) {
        return Err(ParseError::new(vs.span, "vector selector must contain at least one non-empty matcher"));
    }
    Ok(())
}

#[inline(never)]
fn check_binary(b: &mut BinaryExpr, lt: ValueType, rt: ValueType, input: &str) -> PResult<ValueType> {
    let op_span = operator_span(input, b.lhs.span(), b.rhs.span());
    let op_name = go_quote(b.op.as_str());
    if b.return_bool && !b.op.is_comparison() {
        return Err(ParseError::new(op_span, "bool modifier can only be used on comparison operators"));
    }
    if b.op.is_comparison() && !b.return_bool && lt == ValueType::Scalar && rt == ValueType::Scalar {
        return Err(ParseError::new(op_span, "comparisons between scalars must use BOOL modifier"));
    }
    if let Some(m) = &mut b.matching {
        if b.op.is_set_operator() && m.card == Cardinality::OneToOne {
            m.card = Cardinality::ManyToMany;
        }
        if m.on
            && let Some(label) = m.matching_labels.iter().find(|l| m.include.contains(l))
        {
            return Err(ParseError::new(
                op_span,
                format!("label {} must not occur in ON and GROUP clause at once", go_quote(label)),
            ));
        }
    }
    let operand_ok = |t| matches!(t, ValueType::Scalar | ValueType::Vector);
    if !operand_ok(lt) {
        return Err(ParseError::new(
            b.lhs.span(),
            "binary expression must contain only scalar and instant vector types",
        ));
    }
    if !operand_ok(rt) {
        return Err(ParseError::new(
            b.rhs.span(),
            "binary expression must contain only scalar and instant vector types",
        ));
    }
    if lt != ValueType::Vector || rt != ValueType::Vector {
        if b.matching.as_ref().is_some_and(|m| !m.matching_labels.is_empty()) {
            return Err(ParseError::new(b.span, "vector matching only allowed between instant vectors"));
        }
        b.matching = None;
    } else if b.op.is_set_operator()
        && b.matching.as_ref().is_some_and(|m| matches!(m.card, Cardinality::OneToMany | Cardinality::ManyToOne))
    {
        return Err(ParseError::new(b.span, format!("no grouping allowed for {op_name} operation")));
    }
    if (lt == ValueType::Scalar || rt == ValueType::Scalar) && b.op.is_set_operator() {
        return Err(ParseError::new(b.span, format!("set operator {op_name} not allowed in binary scalar expression")));
    }
    Ok(if lt == ValueType::Scalar && rt == ValueType::Scalar { ValueType::Scalar } else { ValueType::Vector })
}

/// The text between two operands, without surrounding whitespace: where
/// Prometheus reports errors about the operator and its modifiers.
fn operator_span(input: &str, lhs: Span, rhs: Span) -> Span {
    let bytes = input.as_bytes();
    let is_space = |i: usize| bytes.get(i).is_some_and(|&c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'));
    let mut start = lhs.end;
    while start < rhs.start && is_space(start) {
        start += 1;
    }
    let mut end = rhs.start;
    while end > start && is_space(end - 1) {
        end -= 1;
    }
    Span::new(start, end)
}

#[cfg(test)]
#[path = "parser_tests.rs"]
mod tests;
