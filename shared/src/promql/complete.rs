//! Completion for the query editor: what may come next at the cursor.
//!
//! The editor asks on every keystroke, so the text is usually incomplete or
//! invalid. Rather than parse, this lexes the text before the cursor
//! tolerantly ([`lexer::lex_partial`]) and reads the context from the open
//! brackets and the last token, as a person would: after `{` comes a label
//! name, after `job=` a label value, after `[` a duration, after `sum` the
//! word `by`, after an expression an operator. What to offer for each kind
//! (metric names from the server, functions from
//! [`super::functions::FUNCTIONS`]) is the editor's business.

use super::Span;
use super::lexer::{self, Token, TokenKind};
use super::parser::{WordClass, classify};

/// What the editor may offer at the cursor, and what it would replace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The bytes a chosen item replaces: the word under the cursor (all of
    /// it, also the part after the cursor), or for a label value the whole
    /// string literal with its quotes; empty, at the cursor, between words.
    pub replace: Span,
    /// What was typed of the item, from the start of `replace` to the
    /// cursor (for a label value: the unescaped text after the opening
    /// quote).
    pub prefix: String,
    /// What fits here, most specific first; empty when nothing can be
    /// completed (inside a number or a comment, after a syntax error).
    pub expected: Vec<Expected>,
}

/// One kind of thing that fits at the cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// A metric name, where an expression starts.
    MetricName,
    /// A function or aggregation name, where an expression starts.
    Function,
    /// A label name: in a selector's braces (with the selector's metric
    /// name, if written) or in `by (…)`, `without (…)`, `on (…)`, …
    LabelName { metric: Option<String> },
    /// The value of `label` in a selector's braces.
    LabelValue { metric: Option<String>, label: String },
    /// One of these keywords.
    Keyword(Vec<&'static str>),
    /// A duration: in `[…]`, or after `offset`.
    Duration,
}

/// Open brackets before the cursor, innermost last.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Frame {
    /// `(` around an expression, or around a call's or aggregation's
    /// arguments.
    Paren,
    /// `(` of a label list after `by`, `without`, `on`, `ignoring`,
    /// `group_left`, `group_right`.
    Labels,
    /// `{` of a selector, with its metric name once known.
    Braces {
        metric: Option<String>,
    },
    Brackets,
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

/// What may come at byte `cursor` of `text` (clamped to the text and to a
/// character boundary).
pub fn complete(text: &str, cursor: usize) -> Completion {
    let mut cursor = cursor.min(text.len());
    while !text.is_char_boundary(cursor) {
        cursor -= 1;
    }
    let bytes = text.as_bytes();
    let nothing = |replace: Span| Completion {
        replace,
        prefix: text.get(replace.start..cursor).unwrap_or("").to_owned(),
        expected: Vec::new(),
    };

    let (tokens, error) = lexer::lex_partial(text.get(..cursor).unwrap_or(""));
    if let Some(error) = &error
        && matches!(bytes.get(error.span.start), Some(b'"' | b'\'' | b'`'))
    {
        return in_string(text, cursor, &tokens, error.span.start);
    }

    let mut start = cursor;
    while start > 0 && bytes.get(start - 1).copied().is_some_and(is_word_byte) {
        start -= 1;
    }
    let mut end = cursor;
    while bytes.get(end).copied().is_some_and(is_word_byte) {
        end += 1;
    }
    let (mut tokens, mut error) = lexer::lex_partial(text.get(..start).unwrap_or(""));
    if frames(text, &tokens).last() == Some(&Frame::Brackets)
        && text.get(start..cursor).is_some_and(|w| w.contains(':'))
    {
        // In brackets a colon separates range and step.
        start = text.get(..cursor).and_then(|t| t.rfind(':')).map_or(start, |i| i + 1);
        end = cursor + text.get(cursor..).map_or(0, |t| t.bytes().take_while(u8::is_ascii_alphanumeric).count());
        (tokens, error) = lexer::lex_partial(text.get(..start).unwrap_or(""));
    }
    let replace = Span::new(start, end);
    if tokens.last().is_some_and(|t| t.kind == TokenKind::Eof) {
        tokens.pop();
    }
    if let Some(error) = error {
        const AT_END: [&str; 4] = [
            "unclosed left parenthesis",
            "unclosed left bracket",
            "unexpected end of input inside braces",
            "unexpected end of input in duration expression",
        ];
        if !AT_END.contains(&error.message.as_str()) {
            return nothing(replace);
        }
    }
    // Whitespace and comments lie between the last token and the word.
    let gap_start = tokens.last().map_or(0, |t| t.span.end);
    let gap = text.get(gap_start..start).unwrap_or("");
    if gap.rfind('#').is_some_and(|i| !gap[i..].contains('\n')) {
        return nothing(replace);
    }

    let prefix = text.get(start..cursor).unwrap_or("").to_owned();
    let expected = if prefix.starts_with(|c: char| c.is_ascii_digit()) {
        match context(text, &tokens) {
            expected if expected.contains(&Expected::Duration) => vec![Expected::Duration],
            _ => Vec::new(),
        }
    } else {
        context(text, &tokens)
    };
    Completion { replace, prefix, expected }
}

fn token_text(text: &str, token: Token) -> &str {
    text.get(token.span.start..token.span.end).unwrap_or("")
}

fn is_word(text: &str, token: Token, words: &[&str]) -> bool {
    token.kind == TokenKind::Ident && words.iter().any(|w| w.eq_ignore_ascii_case(token_text(text, token)))
}

const LABEL_LIST_KEYWORDS: [&str; 6] = ["by", "without", "on", "ignoring", "group_left", "group_right"];

/// The brackets still open after `tokens`.
fn frames(text: &str, tokens: &[Token]) -> Vec<Frame> {
    let mut frames = Vec::new();
    for (i, &token) in tokens.iter().enumerate() {
        let prev = i.checked_sub(1).and_then(|p| tokens.get(p)).copied();
        match token.kind {
            TokenKind::LeftParen => {
                let labels = prev.is_some_and(|p| is_word(text, p, &LABEL_LIST_KEYWORDS));
                frames.push(if labels { Frame::Labels } else { Frame::Paren });
            }
            TokenKind::LeftBrace => {
                let metric = prev
                    .filter(|p| matches!(p.kind, TokenKind::Ident | TokenKind::MetricIdent))
                    .map(|p| token_text(text, p).to_owned());
                frames.push(Frame::Braces { metric });
            }
            TokenKind::LeftBracket => frames.push(Frame::Brackets),
            TokenKind::RightParen | TokenKind::RightBrace | TokenKind::RightBracket => {
                frames.pop();
            }
            // `{"name", …}`: a lone string in braces is the metric name.
            TokenKind::String
                if prev.is_some_and(|p| matches!(p.kind, TokenKind::LeftBrace | TokenKind::Comma))
                    && tokens.get(i + 1).is_none_or(|n| matches!(n.kind, TokenKind::Comma | TokenKind::RightBrace)) =>
            {
                if let Some(Frame::Braces { metric: metric @ None }) = frames.last_mut() {
                    *metric = lexer::unquote(token_text(text, token)).ok();
                }
            }
            _ => {}
        }
    }
    frames
}

/// What fits after `tokens`, the complete tokens before the word at the
/// cursor.
fn context(text: &str, tokens: &[Token]) -> Vec<Expected> {
    use TokenKind::*;
    let frames = frames(text, tokens);
    let prev = tokens.last().copied();
    let prev_kind = prev.map(|t| t.kind);
    match frames.last() {
        Some(Frame::Braces { metric }) => match prev_kind {
            Some(LeftBrace | Comma) => {
                let mut expected = vec![Expected::LabelName { metric: metric.clone() }];
                if metric.is_none() {
                    expected.push(Expected::MetricName);
                }
                expected
            }
            Some(Assign | NotEqual | RegexMatch | RegexNoMatch) => match label_before_operator(text, tokens) {
                Some(label) => vec![Expected::LabelValue { metric: metric.clone(), label }],
                None => Vec::new(),
            },
            _ => Vec::new(),
        },
        Some(Frame::Brackets) => match prev_kind {
            Some(LeftBracket | Colon) => vec![Expected::Duration],
            _ => Vec::new(),
        },
        Some(Frame::Labels) => match prev_kind {
            Some(LeftParen | Comma) => vec![Expected::LabelName { metric: None }],
            _ => Vec::new(),
        },
        Some(Frame::Paren) | None => expression_level(text, tokens, prev),
    }
}

fn label_before_operator(text: &str, tokens: &[Token]) -> Option<String> {
    let label = tokens.get(tokens.len().checked_sub(2)?)?;
    match label.kind {
        TokenKind::Ident => Some(token_text(text, *label).to_owned()),
        TokenKind::String => lexer::unquote(token_text(text, *label)).ok(),
        _ => None,
    }
}

const EXPRESSION_START: [Expected; 2] = [Expected::MetricName, Expected::Function];

/// Outside braces, brackets and label lists: after an operator an
/// expression starts, after an expression an operator follows.
fn expression_level(text: &str, tokens: &[Token], prev: Option<Token>) -> Vec<Expected> {
    use TokenKind::*;
    let start = || EXPRESSION_START.to_vec();
    let with = |keywords: &[&'static str]| {
        let mut expected = start();
        expected.push(Expected::Keyword(keywords.to_vec()));
        expected
    };
    let Some(prev) = prev else { return start() };
    let word = token_text(text, prev).to_ascii_lowercase();
    match prev.kind {
        LeftParen | Comma => start(),
        Add | Sub | Mul | Div | Mod | Pow => with(&["on", "ignoring"]),
        EqualEqual | NotEqual | Less | LessEqual | Greater | GreaterEqual => with(&["bool", "on", "ignoring"]),
        At => vec![Expected::Keyword(vec!["start()", "end()"])],
        Ident => match classify(&word) {
            WordClass::Operator => with(&["on", "ignoring"]),
            WordClass::Aggregator => vec![Expected::Keyword(vec!["by", "without"])],
            WordClass::Keyword => match word.as_str() {
                "offset" => vec![Expected::Duration],
                "bool" => with(&["on", "ignoring"]),
                "group_left" | "group_right" => start(),
                _ => Vec::new(),
            },
            _ if word.contains(':') => after_expression(text, tokens, prev),
            _ if super::functions::lookup(token_text(text, prev)).is_some() => Vec::new(),
            _ => after_expression(text, tokens, prev),
        },
        RightParen => {
            let opened_by = matching_open(tokens).and_then(|i| i.checked_sub(1)).and_then(|i| tokens.get(i));
            match opened_by {
                Some(&word) if is_word(text, word, &["on", "ignoring"]) => with(&["group_left", "group_right"]),
                Some(&word) if is_word(text, word, &["group_left", "group_right", "bool"]) => start(),
                Some(&word) if is_word(text, word, &["by", "without"]) => {
                    // `sum by (a) (…)` or `sum(…) by (a)`: which one?
                    let before = matching_open(tokens).and_then(|i| i.checked_sub(2)).and_then(|i| tokens.get(i));
                    match before {
                        Some(&agg) if agg.kind == Ident && classify(token_text(text, agg)) == WordClass::Aggregator => {
                            Vec::new()
                        }
                        _ => after_expression(text, tokens, prev),
                    }
                }
                _ => after_expression(text, tokens, prev),
            }
        }
        MetricIdent | Number | Duration | String | RightBrace | RightBracket => after_expression(text, tokens, prev),
        _ => Vec::new(),
    }
}

/// The index of the `(` that the last token, a `)`, closes.
fn matching_open(tokens: &[Token]) -> Option<usize> {
    let mut depth = 0usize;
    for (i, token) in tokens.iter().enumerate().rev() {
        match token.kind {
            TokenKind::RightParen => depth += 1,
            TokenKind::LeftParen => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// After a complete expression: binary operators spelled as words, and the
/// modifiers that fit what the expression is.
fn after_expression(text: &str, tokens: &[Token], prev: Token) -> Vec<Expected> {
    let mut keywords = vec!["and", "or", "unless", "atan2"];
    let selector_like = match prev.kind {
        TokenKind::Ident | TokenKind::MetricIdent | TokenKind::RightBrace | TokenKind::RightBracket => true,
        TokenKind::Duration | TokenKind::Number => {
            // The literal after `offset` or `@` ends a selector too.
            tokens.len() >= 2
                && tokens
                    .get(tokens.len() - 2)
                    .is_some_and(|t| t.kind == TokenKind::At || is_word(text, *t, &["offset"]))
        }
        TokenKind::RightParen => {
            let opened_by = matching_open(tokens).and_then(|i| i.checked_sub(1)).and_then(|i| tokens.get(i));
            match opened_by {
                Some(&word) if is_word(text, word, &["start", "end"]) => true,
                Some(&word)
                    if word.kind == TokenKind::Ident && classify(token_text(text, word)) == WordClass::Aggregator =>
                {
                    keywords.extend(["by", "without"]);
                    false
                }
                _ => false,
            }
        }
        _ => false,
    };
    if selector_like {
        keywords.push("offset");
    }
    vec![Expected::Keyword(keywords)]
}

/// The cursor is inside a string literal that starts at byte `quote`.
fn in_string(text: &str, cursor: usize, tokens: &[Token], quote: usize) -> Completion {
    let bytes = text.as_bytes();
    let quote_char = bytes.get(quote).copied().unwrap_or(b'"');
    // Where the string ends in the whole text: just past its closing quote,
    // or at the end of the line if it has none yet.
    let mut end = cursor;
    loop {
        match bytes.get(end) {
            None => break,
            Some(b'\n') if quote_char != b'`' => break,
            Some(b'\\') if quote_char != b'`' => end += 2,
            Some(&c) if c == quote_char => {
                end += 1;
                break;
            }
            Some(_) => end += 1,
        }
    }
    let end = end.min(text.len());
    let typed = text.get(quote + 1..cursor).unwrap_or("");
    let prefix = decode_partial(typed, quote_char);
    let replace = Span::new(quote, end);
    let mut tokens = tokens.to_vec();
    if tokens.last().is_some_and(|t| t.kind == TokenKind::Eof) {
        tokens.pop();
    }
    let expected = match frames(text, &tokens).last() {
        Some(Frame::Braces { metric }) => match tokens.last().map(|t| t.kind) {
            Some(TokenKind::Assign | TokenKind::NotEqual | TokenKind::RegexMatch | TokenKind::RegexNoMatch) => {
                match label_before_operator(text, &tokens) {
                    Some(label) => vec![Expected::LabelValue { metric: metric.clone(), label }],
                    None => Vec::new(),
                }
            }
            Some(TokenKind::LeftBrace | TokenKind::Comma) => {
                let mut expected = vec![Expected::LabelName { metric: metric.clone() }];
                if metric.is_none() {
                    expected.push(Expected::MetricName);
                }
                expected
            }
            _ => Vec::new(),
        },
        Some(Frame::Labels)
            if matches!(tokens.last().map(|t| t.kind), Some(TokenKind::LeftParen | TokenKind::Comma)) =>
        {
            vec![Expected::LabelName { metric: None }]
        }
        _ => Vec::new(),
    };
    Completion { replace, prefix, expected }
}

/// The value of a string's unfinished content: escapes decoded as far as
/// they are complete.
fn decode_partial(typed: &str, quote: u8) -> String {
    let quote = char::from(quote);
    let mut candidate = typed;
    loop {
        let literal = format!("{quote}{candidate}{quote}");
        if let Ok(value) = lexer::unquote(&literal) {
            return value;
        }
        match candidate.char_indices().next_back() {
            Some((i, _)) => candidate = &candidate[..i],
            None => return String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Expected::*;
    use super::*;

    fn label(metric: Option<&str>) -> Expected {
        LabelName { metric: metric.map(str::to_owned) }
    }

    fn value(metric: Option<&str>, label: &str) -> Expected {
        LabelValue { metric: metric.map(str::to_owned), label: label.to_owned() }
    }

    fn kw(words: &[&'static str]) -> Expected {
        Keyword(words.to_vec())
    }

    const AFTER_EXPR: &[&str] = &["and", "or", "unless", "atan2"];
    const AFTER_SELECTOR: &[&str] = &["and", "or", "unless", "atan2", "offset"];
    const AFTER_AGG: &[&str] = &["and", "or", "unless", "atan2", "by", "without"];

    /// The text with `|` at the cursor and `⟨…⟩` around the replaced bytes
    /// (omitted when empty at the cursor), the prefix, what is expected.
    fn cases() -> Vec<(&'static str, &'static str, Vec<Expected>)> {
        vec![
            ("|", "", vec![MetricName, Function]),
            ("⟨ra|⟩", "ra", vec![MetricName, Function]),
            ("⟨ra|te⟩(x[5m])", "ra", vec![MetricName, Function]),
            ("⟨job:req|⟩", "job:req", vec![MetricName, Function]),
            ("sum(⟨ht|⟩", "ht", vec![MetricName, Function]),
            ("rate(|", "", vec![MetricName, Function]),
            ("histogram_quantile(0.9, ⟨r|⟩", "r", vec![MetricName, Function]),
            ("(|", "", vec![MetricName, Function]),
            ("foo + |", "", vec![MetricName, Function, kw(&["on", "ignoring"])]),
            ("foo > ⟨b|⟩", "b", vec![MetricName, Function, kw(&["bool", "on", "ignoring"])]),
            ("foo > bool |", "", vec![MetricName, Function, kw(&["on", "ignoring"])]),
            ("foo and |", "", vec![MetricName, Function, kw(&["on", "ignoring"])]),
            ("foo / on(a) |", "", vec![MetricName, Function, kw(&["group_left", "group_right"])]),
            ("foo / on(a) group_left |", "", vec![MetricName, Function]),
            ("foo / on(a) group_left(b) |", "", vec![MetricName, Function]),
            ("foo |", "", vec![kw(AFTER_SELECTOR)]),
            ("foo ⟨of|⟩", "of", vec![kw(AFTER_SELECTOR)]),
            ("foo{a=\"b\"} |", "", vec![kw(AFTER_SELECTOR)]),
            ("foo[5m] |", "", vec![kw(AFTER_SELECTOR)]),
            ("rate(foo[5m]) |", "", vec![kw(AFTER_EXPR)]),
            ("sum(foo) |", "", vec![kw(AFTER_AGG)]),
            ("sum by (a) (foo) |", "", vec![kw(AFTER_EXPR)]),
            ("sum(foo) by (a) |", "", vec![kw(AFTER_EXPR)]),
            ("1 |", "", vec![kw(AFTER_EXPR)]),
            ("foo offset 5m |", "", vec![kw(AFTER_SELECTOR)]),
            ("sum |", "", vec![kw(&["by", "without"])]),
            ("sum ⟨wi|⟩", "wi", vec![kw(&["by", "without"])]),
            ("sum by (|", "", vec![label(None)]),
            ("sum by (a, ⟨jo|⟩", "jo", vec![label(None)]),
            ("sum without(⟨|i⟩) (x)", "", vec![label(None)]),
            ("foo * on(|", "", vec![label(None)]),
            ("foo * ignoring(a) group_left(|", "", vec![label(None)]),
            ("sum by (⟨\"a.|⟩", "a.", vec![label(None)]),
            ("foo{|", "", vec![label(Some("foo"))]),
            ("foo{⟨jo|⟩", "jo", vec![label(Some("foo"))]),
            ("foo{⟨jo|b⟩=\"x\"}", "jo", vec![label(Some("foo"))]),
            ("foo{job=\"x\", ⟨in|⟩", "in", vec![label(Some("foo"))]),
            ("{|", "", vec![label(None), MetricName]),
            ("{\"my.metric\", |", "", vec![label(Some("my.metric"))]),
            ("job:rate5m{|}", "", vec![label(Some("job:rate5m"))]),
            ("foo{job=|", "", vec![value(Some("foo"), "job")]),
            ("foo{job=~|", "", vec![value(Some("foo"), "job")]),
            ("foo{job=⟨\"vi|⟩", "vi", vec![value(Some("foo"), "job")]),
            ("foo{job=⟨\"vi|gil\"⟩}", "vi", vec![value(Some("foo"), "job")]),
            ("foo{job!=⟨'a\\'b|'⟩}", "a'b", vec![value(Some("foo"), "job")]),
            ("foo{\"a.b\"=⟨`x|⟩", "x", vec![value(Some("foo"), "a.b")]),
            ("{\"my.metric\", job=⟨\"|⟩", "", vec![value(Some("my.metric"), "job")]),
            ("foo{job=⟨\"a\\|⟩", "a", vec![value(Some("foo"), "job")]),
            ("sum(rate(foo{job=⟨\"a|⟩", "a", vec![value(Some("foo"), "job")]),
            ("{⟨\"my|⟩", "my", vec![label(None), MetricName]),
            ("foo[|", "", vec![Duration]),
            ("foo[⟨5|⟩", "5", vec![Duration]),
            ("foo[⟨5m|⟩]", "5m", vec![Duration]),
            ("foo[5m:|", "", vec![Duration]),
            ("foo[5m:⟨1|⟩]", "1", vec![Duration]),
            ("foo offset |", "", vec![Duration]),
            ("foo offset ⟨1|⟩", "1", vec![Duration]),
            ("foo @ |", "", vec![kw(&["start()", "end()"])]),
            ("foo + ⟨1|⟩", "1", vec![]),
            ("⟨\"a|⟩", "a", vec![]),
            ("foo # comment |", "", vec![]),
            ("foo # comment\n|", "", vec![kw(AFTER_SELECTOR)]),
            ("foo $ |", "", vec![]),
            ("rate |", "", vec![]),
            ("sum by |", "", vec![]),
            ("foo{job |", "", vec![]),
            ("ü|", "", vec![]),
        ]
    }

    #[test]
    fn completes_from_context() {
        for (marked, prefix, expected) in cases() {
            let cursor = marked.replace(['⟨', '⟩'], "").find('|').expect("cursor");
            let text = marked.replace(['⟨', '⟩', '|'], "");
            let without_cursor = marked.replace('|', "");
            let replace = match (without_cursor.find('⟨'), without_cursor.find('⟩')) {
                (Some(start), Some(end)) => Span::new(start, end - '⟨'.len_utf8()),
                _ => Span::new(cursor, cursor),
            };
            let got = complete(&text, cursor);
            assert_eq!(got.expected, expected, "{marked:?}");
            assert_eq!(got.prefix, prefix, "{marked:?}");
            if !expected.is_empty() {
                assert_eq!(got.replace, replace, "{marked:?}");
            }
        }
    }

    #[test]
    fn any_cursor_in_any_text_is_fine() {
        let texts = ["sum by (job) (rate(foo{a=\"ü\", b=~'x'}[5m:1m] offset 1h @ start()))", "{\"a", "ü€𝄞", ""];
        for text in texts {
            for cursor in 0..=text.len() + 2 {
                let got = complete(text, cursor);
                assert!(got.replace.start <= got.replace.end && got.replace.end <= text.len(), "{text:?} at {cursor}");
            }
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn never_panics(text in "\\PC{0,30}", cursor in 0usize..40) {
                let got = complete(&text, cursor);
                prop_assert!(got.replace.start <= got.replace.end && got.replace.end <= text.len());
            }
        }
    }
}
