//! PromQL: lexer, parser, AST and printer.
//!
//! One implementation for the server's engine and the browser's editor, so
//! they can never disagree on what a query means. Every token, node and error
//! carries a byte span into the source text.

pub mod ast;
pub mod complete;
pub mod functions;
pub mod lexer;
pub mod parser;

pub use ast::{
    AggregateExpr, AggregateOp, AtModifier, BinaryExpr, BinaryOp, Call, Cardinality, Expr, Grouping, MatchOp, Matcher,
    MatrixSelector, SubqueryExpr, UnaryOp, ValueType, VectorMatching, VectorSelector,
};
pub use complete::{Completion, Expected, complete};
pub use functions::{FUNCTIONS, Function};
pub use lexer::{parse_duration, parse_number};
pub use parser::{MAX_DEPTH, ParseError, parse};

/// A half-open byte range `[start, end)` into the query text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}
