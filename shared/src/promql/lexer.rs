//! The PromQL lexer: text to tokens with byte spans.
//!
//! Hand-written rather than generated so that errors point at the exact byte
//! and the editor can lex incomplete input ([`lex_partial`]). It follows
//! Prometheus's lexer state by state (statements, inside `{…}`, right after
//! `[`), because which text is an error, and with which message, depends on
//! those states: `foo{a:b="c"}` fails on the colon, `foo[5m:1m]` does not.

use super::Span;

/// What kind of token was read. Words keep their text in the source;
/// keywords are recognised by the parser from `Ident`, since PromQL allows
/// most of them as metric or label names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A word: `[a-zA-Z_][a-zA-Z0-9_]*`, possibly a keyword.
    Ident,
    /// A word containing `:`; valid only as a metric name.
    MetricIdent,
    /// A number literal, including hex, exponent, `Inf` and `NaN`.
    Number,
    /// A duration such as `5m` or `1h30m`.
    Duration,
    /// A quoted string; the token's span includes the quotes.
    String,
    LeftParen,
    RightParen,
    LeftBrace,
    RightBrace,
    LeftBracket,
    RightBracket,
    Comma,
    Colon,
    At,
    /// `=`, used in label matchers.
    Assign,
    /// `!=`.
    NotEqual,
    /// `=~`.
    RegexMatch,
    /// `!~`.
    RegexNoMatch,
    EqualEqual,
    Less,
    LessEqual,
    Greater,
    GreaterEqual,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    /// `</` and `>/`: Prometheus's experimental histogram trim operators.
    /// Lexed so that the parser can refuse them by name.
    TrimUpper,
    TrimLower,
    Eof,
}

/// One token: its kind and where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub span: Span,
}

/// A lexing error with the span of the offending text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct LexError {
    pub span: Span,
    pub message: String,
}

/// Splits `input` into tokens, ending with one `Eof` token. Comments
/// (`# …` to the end of the line) and whitespace are skipped.
pub fn lex(input: &str) -> Result<Vec<Token>, LexError> {
    match lex_partial(input) {
        (tokens, None) => Ok(tokens),
        (_, Some(error)) => Err(error),
    }
}

/// Lexes as far as possible: the tokens before the first error, and that
/// error. Without an error the tokens end with `Eof`. The editor uses this on
/// text that is still being typed.
pub fn lex_partial(input: &str) -> (Vec<Token>, Option<LexError>) {
    let mut lexer = Lexer {
        input,
        bytes: input.as_bytes(),
        pos: 0,
        paren_depth: 0,
        brace_open: false,
        bracket_open: false,
        duration_expr: false,
        got_colon: false,
        got_duration: false,
    };
    let mut tokens = Vec::new();
    loop {
        match lexer.next_token() {
            Ok(token) => {
                tokens.push(token);
                if token.kind == TokenKind::Eof {
                    return (tokens, None);
                }
            }
            Err(error) => return (tokens, Some(error)),
        }
    }
}

struct Lexer<'a> {
    input: &'a str,
    bytes: &'a [u8],
    pos: usize,
    paren_depth: i64,
    /// Inside `{…}` words are label names, never keywords or numbers.
    brace_open: bool,
    /// Inside `[…]` a colon separates a subquery's range from its step;
    /// elsewhere it is part of a metric name (recording rules use `a:b:c`).
    bracket_open: bool,
    /// Right after `[`, until the first number or duration: Prometheus lexes
    /// duration expressions (`[-5m]`, `[step()]`) here.
    duration_expr: bool,
    got_colon: bool,
    got_duration: bool,
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

fn is_alpha(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_alnum(c: u8) -> bool {
    is_alpha(c) || c.is_ascii_digit()
}

impl Lexer<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<u8> {
        self.bytes.get(self.pos + offset).copied()
    }

    /// The character at `pos`, for messages.
    fn char_at(&self, pos: usize) -> char {
        self.input.get(pos..).and_then(|s| s.chars().next()).unwrap_or('\u{fffd}')
    }

    fn accept(&mut self, valid: &[u8]) -> bool {
        match self.peek() {
            Some(c) if valid.contains(&c) => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    fn error(&self, start: usize, end: usize, message: impl Into<String>) -> LexError {
        LexError { span: Span::new(start, end.max(start)), message: message.into() }
    }

    fn token(&mut self, kind: TokenKind, start: usize, len: usize) -> Token {
        self.pos = start + len;
        Token { kind, span: Span::new(start, self.pos) }
    }

    fn skip_space(&mut self, comments: bool) {
        while let Some(c) = self.peek() {
            if is_space(c) {
                self.pos += 1;
            } else if comments && c == b'#' {
                while self.peek().is_some_and(|c| c != b'\n' && c != b'\r') {
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    fn next_token(&mut self) -> Result<Token, LexError> {
        if self.brace_open {
            self.inside_braces()
        } else if self.duration_expr {
            self.in_duration_expr()
        } else {
            self.statement()
        }
    }

    fn statement(&mut self) -> Result<Token, LexError> {
        use TokenKind::*;
        self.skip_space(true);
        let start = self.pos;
        let Some(c) = self.peek() else {
            if self.paren_depth != 0 {
                return Err(self.error(start, start, "unclosed left parenthesis"));
            }
            if self.bracket_open {
                return Err(self.error(start, start, "unclosed left bracket"));
            }
            return Ok(Token { kind: Eof, span: Span::new(start, start) });
        };
        let token = match c {
            b',' => self.token(Comma, start, 1),
            b'*' => self.token(Mul, start, 1),
            b'/' => self.token(Div, start, 1),
            b'%' => self.token(Mod, start, 1),
            b'+' => self.token(Add, start, 1),
            b'-' => self.token(Sub, start, 1),
            b'^' => self.token(Pow, start, 1),
            b'@' => self.token(At, start, 1),
            b'=' => match self.peek_at(1) {
                Some(b'=') => self.token(EqualEqual, start, 2),
                Some(b'~') => {
                    return Err(self.error(start, start + 2, "unexpected character after '=': '~'"));
                }
                _ => self.token(Assign, start, 1),
            },
            b'!' => match self.peek_at(1) {
                Some(b'=') => self.token(NotEqual, start, 2),
                _ => {
                    let next = if self.peek_at(1).is_some() { self.char_at(start + 1) } else { '\u{fffd}' };
                    let end = start + 1 + if self.peek_at(1).is_some() { next.len_utf8() } else { 0 };
                    return Err(self.error(
                        start,
                        end,
                        format!("unexpected character after '!': {}", go_quote_rune(next)),
                    ));
                }
            },
            b'<' => match self.peek_at(1) {
                Some(b'=') => self.token(LessEqual, start, 2),
                Some(b'/') => self.token(TrimUpper, start, 2),
                _ => self.token(Less, start, 1),
            },
            b'>' => match self.peek_at(1) {
                Some(b'=') => self.token(GreaterEqual, start, 2),
                Some(b'/') => self.token(TrimLower, start, 2),
                _ => self.token(Greater, start, 1),
            },
            b'0'..=b'9' => return self.number_or_duration(),
            b'.' if self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) => return self.number_or_duration(),
            b'"' | b'\'' => return self.string(c),
            b'`' => return self.raw_string(),
            c if (is_alpha(c) || c == b':') && !self.bracket_open => return Ok(self.word()),
            b':' => {
                if self.got_colon {
                    return Err(self.error(start, start + 1, "unexpected colon ':'"));
                }
                self.got_colon = true;
                self.token(Colon, start, 1)
            }
            c if is_alpha(c) => {
                if let Some(token) = self.duration_keyword() {
                    return Ok(token);
                }
                return Err(self.error(
                    start,
                    self.pos.max(start + 1),
                    format!("unexpected character: {}, expected ':'", go_quote_rune(char::from(c))),
                ));
            }
            b'(' => {
                self.paren_depth += 1;
                self.token(LeftParen, start, 1)
            }
            b')' => {
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    // Prometheus reports this just past the parenthesis.
                    return Err(self.error(start + 1, start + 1, "unexpected right parenthesis ')'"));
                }
                self.token(RightParen, start, 1)
            }
            b'{' => {
                self.brace_open = true;
                self.token(LeftBrace, start, 1)
            }
            b'[' => {
                if self.bracket_open {
                    return Err(self.error(start, start + 1, "unexpected left bracket '['"));
                }
                self.bracket_open = true;
                self.duration_expr = true;
                self.got_colon = false;
                self.got_duration = false;
                self.token(LeftBracket, start, 1)
            }
            b']' => {
                if !self.bracket_open {
                    return Err(self.error(start, start + 1, "unexpected right bracket ']'"));
                }
                self.bracket_open = false;
                self.token(RightBracket, start, 1)
            }
            _ => {
                let ch = self.char_at(start);
                return Err(self.error(
                    start,
                    start + ch.len_utf8(),
                    format!("unexpected character: {}", go_quote_rune(ch)),
                ));
            }
        };
        Ok(token)
    }

    fn inside_braces(&mut self) -> Result<Token, LexError> {
        use TokenKind::*;
        self.skip_space(true);
        let start = self.pos;
        let Some(c) = self.peek() else {
            return Err(self.error(start, start, "unexpected end of input inside braces"));
        };
        let token = match c {
            c if is_alpha(c) => {
                while self.peek().is_some_and(is_alnum) {
                    self.pos += 1;
                }
                Token { kind: Ident, span: Span::new(start, self.pos) }
            }
            b',' => self.token(Comma, start, 1),
            b'"' | b'\'' => return self.string(c),
            b'`' => return self.raw_string(),
            b'=' => match self.peek_at(1) {
                Some(b'~') => self.token(RegexMatch, start, 2),
                _ => self.token(Assign, start, 1),
            },
            b'!' => match self.peek_at(1) {
                Some(b'~') => self.token(RegexNoMatch, start, 2),
                Some(b'=') => self.token(NotEqual, start, 2),
                _ => {
                    let next = if self.peek_at(1).is_some() { self.char_at(start + 1) } else { '\u{fffd}' };
                    return Err(self.error(
                        start,
                        start + 1,
                        format!("unexpected character after '!' inside braces: {}", go_quote_rune(next)),
                    ));
                }
            },
            b'{' => return Err(self.error(start, start + 1, "unexpected left brace '{'")),
            b'}' => {
                self.brace_open = false;
                self.token(RightBrace, start, 1)
            }
            _ => {
                let ch = self.char_at(start);
                return Err(self.error(
                    start,
                    start + ch.len_utf8(),
                    format!("unexpected character inside braces: {}", go_quote_rune(ch)),
                ));
            }
        };
        Ok(token)
    }

    fn in_duration_expr(&mut self) -> Result<Token, LexError> {
        use TokenKind::*;
        self.skip_space(false);
        let start = self.pos;
        let Some(c) = self.peek() else {
            return Err(self.error(start, start, "unexpected end of input in duration expression"));
        };
        let token = match c {
            b']' => {
                self.bracket_open = false;
                self.duration_expr = false;
                self.got_colon = false;
                self.token(RightBracket, start, 1)
            }
            b':' => {
                if !self.got_duration {
                    return Err(self.error(
                        start + 1,
                        start + 1,
                        "unexpected colon before duration in duration expression",
                    ));
                }
                if self.got_colon {
                    return Err(self.error(start + 1, start + 1, "unexpected repeated colon in duration expression"));
                }
                self.got_colon = true;
                self.token(Colon, start, 1)
            }
            b'(' => {
                self.paren_depth += 1;
                self.token(LeftParen, start, 1)
            }
            b')' => {
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    return Err(self.error(start + 1, start + 1, "unexpected right parenthesis ')'"));
                }
                self.token(RightParen, start, 1)
            }
            b'+' => self.token(Add, start, 1),
            b'-' => self.token(Sub, start, 1),
            b'*' => self.token(Mul, start, 1),
            b'/' => self.token(Div, start, 1),
            b'%' => self.token(Mod, start, 1),
            b'^' => self.token(Pow, start, 1),
            b',' => self.token(Comma, start, 1),
            b'0'..=b'9' => {
                self.got_duration = true;
                self.duration_expr = false;
                return self.number_or_duration();
            }
            b'.' if self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) => {
                self.got_duration = true;
                self.duration_expr = false;
                return self.number_or_duration();
            }
            c if is_alpha(c) => match self.duration_keyword() {
                Some(token) => token,
                None => {
                    return Err(self.error(
                        start,
                        start + 1,
                        format!("unexpected character in duration expression: {}", go_quote_rune(char::from(c))),
                    ));
                }
            },
            _ => {
                let ch = self.char_at(start);
                return Err(self.error(
                    start,
                    start + ch.len_utf8(),
                    format!("unexpected character in duration expression: {}", go_quote_rune(ch)),
                ));
            }
        };
        Ok(token)
    }

    /// `step`, `range`, `max_of`, `min_of` inside brackets. Leaves `pos`
    /// after the word either way, as Prometheus does.
    fn duration_keyword(&mut self) -> Option<Token> {
        let start = self.pos;
        while self.peek().is_some_and(is_alpha) {
            self.pos += 1;
        }
        let word = self.input.get(start..self.pos).unwrap_or("");
        let known = ["step", "range", "max_of", "min_of"].iter().any(|k| k.eq_ignore_ascii_case(word));
        known.then(|| Token { kind: TokenKind::Ident, span: Span::new(start, self.pos) })
    }

    fn word(&mut self) -> Token {
        let start = self.pos;
        while self.peek().is_some_and(|c| is_alnum(c) || c == b':') {
            self.pos += 1;
        }
        let text = self.input.get(start..self.pos).unwrap_or("");
        let kind = if text.eq_ignore_ascii_case("inf") || text.eq_ignore_ascii_case("nan") {
            TokenKind::Number
        } else if text.contains(':') {
            TokenKind::MetricIdent
        } else {
            TokenKind::Ident
        };
        Token { kind, span: Span::new(start, self.pos) }
    }

    fn string(&mut self, quote: u8) -> Result<Token, LexError> {
        let start = self.pos;
        self.pos += 1;
        loop {
            let Some(c) = self.peek() else {
                return Err(self.error(start, self.pos, "unterminated quoted string"));
            };
            match c {
                b'\\' => {
                    self.pos += 1;
                    self.escape(start, quote)?;
                }
                b'\n' => return Err(self.error(start, self.pos, "unterminated quoted string")),
                c if c == quote => {
                    self.pos += 1;
                    return Ok(Token { kind: TokenKind::String, span: Span::new(start, self.pos) });
                }
                _ => self.pos += self.char_at(self.pos).len_utf8(),
            }
        }
    }

    /// Checks one escape sequence (the backslash is already consumed), as
    /// Go's scanner does, so that bad escapes fail in the lexer with
    /// Prometheus's messages.
    fn escape(&mut self, start: usize, quote: u8) -> Result<(), LexError> {
        let Some(c) = self.peek() else {
            return Err(self.error(start, self.pos, "escape sequence not terminated"));
        };
        let (mut n, base, max) = match c {
            b'a' | b'b' | b'f' | b'n' | b'r' | b't' | b'v' | b'\\' => {
                self.pos += 1;
                return Ok(());
            }
            c if c == quote => {
                self.pos += 1;
                return Ok(());
            }
            b'0'..=b'7' => (3, 8, 255),
            b'x' => {
                self.pos += 1;
                (2, 16, 255)
            }
            b'u' => {
                self.pos += 1;
                (4, 16, 0x10ffff)
            }
            b'U' => {
                self.pos += 1;
                (8, 16, 0x10ffff)
            }
            _ => {
                let ch = self.char_at(self.pos);
                self.pos += ch.len_utf8();
                return Err(self.error(start, self.pos, format!("unknown escape sequence {}", go_sharp_u(ch))));
            }
        };
        let mut value: u32 = 0;
        while n > 0 {
            let Some(c) = self.peek() else {
                return Err(self.error(start, self.pos, "escape sequence not terminated"));
            };
            let digit = char::from(c).to_digit(16).filter(|&d| d < base);
            let Some(digit) = digit else {
                let ch = self.char_at(self.pos);
                return Err(self.error(
                    start,
                    self.pos + ch.len_utf8(),
                    format!("illegal character {} in escape sequence", go_sharp_u(ch)),
                ));
            };
            value = value * base + digit;
            self.pos += 1;
            n -= 1;
        }
        if value > max || (0xd800..0xe000).contains(&value) {
            return Err(self.error(start, self.pos, "escape sequence is an invalid Unicode code point"));
        }
        Ok(())
    }

    fn raw_string(&mut self) -> Result<Token, LexError> {
        let start = self.pos;
        self.pos += 1;
        match self.input.get(self.pos..).and_then(|rest| rest.find('`')) {
            Some(offset) => {
                self.pos += offset + 1;
                Ok(Token { kind: TokenKind::String, span: Span::new(start, self.pos) })
            }
            None => {
                self.pos = self.bytes.len();
                Err(self.error(start, self.pos, "unterminated raw string"))
            }
        }
    }

    fn number_or_duration(&mut self) -> Result<Token, LexError> {
        let start = self.pos;
        if self.scan_number() {
            return Ok(Token { kind: TokenKind::Number, span: Span::new(start, self.pos) });
        }
        if self.accept_remaining_duration() {
            return Ok(Token { kind: TokenKind::Duration, span: Span::new(start, self.pos) });
        }
        let text = self.input.get(start..self.pos).unwrap_or("");
        Err(self.error(start, self.pos, format!("bad number or duration syntax: {}", go_quote(text))))
    }

    /// Scans what may be a number, leaving `pos` where scanning stopped:
    /// decimal, hexadecimal, with `_` separators, `.` and exponent, as
    /// Prometheus accepts them (the text is validated when parsed). False if
    /// the text is not a number, e.g. because a unit letter follows.
    fn scan_number(&mut self) -> bool {
        const DEC: &[u8] = b"0123456789";
        const HEX: &[u8] = b"0123456789abcdefABCDEF";
        let initial = self.pos;
        let mut digits = DEC;
        if self.accept(b"0") && self.accept(b"xX") {
            self.accept(b"_");
            digits = HEX;
        }
        self.accept(b".");
        self.accept(digits);
        let mut dot = false;
        let mut exponent = false;
        while let Some(c) = self.peek() {
            if !(digits.contains(&c) || matches!(c, b'.' | b'_' | b'e' | b'E')) {
                break;
            }
            if c == b'.' && dot {
                self.pos += 1;
                return false;
            }
            if matches!(c, b'e' | b'E') && exponent {
                self.pos += 1;
                return false;
            }
            if self.accept(b".") {
                dot = true;
                if self.accept(b"_.") || digits.len() > 10 {
                    return false;
                }
                continue;
            }
            if self.accept(b"eE") {
                exponent = true;
                self.accept(b"+-");
                if self.accept(b"._eE") || self.peek().is_none() {
                    return false;
                }
                continue;
            }
            if self.accept(b"_") {
                if self.accept(b"._eE") || self.peek().is_none() {
                    return false;
                }
                continue;
            }
            while self.accept(digits) {}
        }
        self.pos != initial && !self.peek().is_some_and(is_alnum)
    }

    /// After [`Self::scan_number`] stopped at a letter: whether the rest is
    /// duration units (`5m`, `1h30m`, `100ms`); the units themselves are
    /// checked when the duration is parsed.
    fn accept_remaining_duration(&mut self) -> bool {
        if !self.accept(b"smhdwy") {
            return false;
        }
        self.accept(b"s");
        while self.accept(b"0123456789") {
            while self.accept(b"0123456789") {}
            if !self.accept(b"smhdw") {
                return false;
            }
            self.accept(b"s");
        }
        if self.peek().is_some_and(is_alnum) {
            self.pos += 1;
            return false;
        }
        true
    }
}

const MS_PER_SECOND: i64 = 1000;
const NS_PER_MS: u64 = 1_000_000;

/// Parses a duration as Prometheus does (`model.ParseDuration`): units from
/// largest to smallest, each at most once (`1h30m`, `500ms`, `2w`, `1y`), or
/// a bare `0`. Returns milliseconds, or Prometheus's error message.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    if text == "0" {
        return Ok(0);
    }
    if text.is_empty() {
        return Err("empty duration string".to_owned());
    }
    let invalid = || format!("not a valid duration string: {}", go_quote(text));
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 24 * 3_600_000),
        ("w", 7 * 24 * 3_600_000),
        ("d", 24 * 3_600_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let bytes = text.as_bytes();
    let mut pos = 0;
    // Prometheus keeps nanoseconds: the range limit is that of an i64 of them.
    let mut total_ns: u64 = 0;
    let mut last_unit = None;
    while pos < bytes.len() {
        let digits = pos;
        while bytes.get(pos).is_some_and(u8::is_ascii_digit) {
            pos += 1;
        }
        if pos == digits {
            return Err(invalid());
        }
        let value: u64 = text.get(digits..pos).and_then(|d| d.parse().ok()).ok_or_else(invalid)?;
        let unit_start = pos;
        while bytes.get(pos).is_some_and(|c| !c.is_ascii_digit()) {
            pos += 1;
        }
        if pos == unit_start {
            return Err(invalid());
        }
        let unit = text.get(unit_start..pos).unwrap_or("");
        let Some(index) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(format!("unknown unit {} in duration {}", go_quote(unit), go_quote(text)));
        };
        if last_unit.is_some_and(|last| index <= last) {
            return Err(invalid());
        }
        last_unit = Some(index);
        let unit_ns = UNITS[index].1 * NS_PER_MS;
        if value > (1u64 << 63) / unit_ns {
            return Err("duration out of range".to_owned());
        }
        total_ns = total_ns.saturating_add(value * unit_ns);
        if total_ns > i64::MAX as u64 {
            return Err("duration out of range".to_owned());
        }
    }
    Ok((total_ns / NS_PER_MS) as i64)
}

/// Parses a PromQL duration (`1h30m`, `500ms`) into milliseconds; `None` if
/// it is not one. See [`parse_duration`] for the message.
pub fn parse_duration_ms(text: &str) -> Option<i64> {
    parse_duration(text).ok()
}

/// Seconds as a float (a number literal used as a duration) to whole
/// milliseconds, rounding to nanoseconds first as Prometheus does.
pub(crate) fn seconds_to_ms(seconds: f64) -> i64 {
    let ns = (seconds * 1e9).round();
    (ns / NS_PER_MS as f64).trunc() as i64
}

pub(crate) fn ms_to_seconds(ms: i64) -> f64 {
    ms as f64 / MS_PER_SECOND as f64
}

/// Parses a PromQL number literal as Prometheus does: first as a Go integer
/// (decimal, `0x` hex, leading-`0` octal, `_` separators), then as a float
/// (exponents, `Inf`, `NaN`). `None` if it is not a number.
pub fn parse_number(text: &str) -> Option<f64> {
    parse_number_checked(text).ok()
}

/// [`parse_number`] with Go's error text (`strconv.ParseFloat: parsing "…": invalid syntax`).
pub(crate) fn parse_number_checked(text: &str) -> Result<f64, String> {
    if let Some(n) = parse_go_int(text) {
        return Ok(n as f64);
    }
    let (negative, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let signed = |v: f64| if negative { -v } else { v };
    if body.eq_ignore_ascii_case("inf") || body.eq_ignore_ascii_case("infinity") {
        return Ok(signed(f64::INFINITY));
    }
    if body.eq_ignore_ascii_case("nan") {
        return Ok(f64::NAN);
    }
    let syntax = || format!("strconv.ParseFloat: parsing {}: invalid syntax", go_quote(text));
    let decimal = body.bytes().all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'e' | b'E' | b'+' | b'-'));
    if body.is_empty() || !decimal || !underscores_ok(body) {
        return Err(syntax());
    }
    let cleaned: String = body.chars().filter(|&c| c != '_').collect();
    let value: f64 = cleaned.parse().map_err(|_| syntax())?;
    if value.is_infinite() {
        return Err(format!("strconv.ParseFloat: parsing {}: value out of range", go_quote(text)));
    }
    Ok(signed(value))
}

/// Go's `strconv.ParseInt(text, 0, 64)`.
fn parse_go_int(text: &str) -> Option<i64> {
    let (negative, body) = match text.as_bytes().first() {
        Some(b'-') => (true, text.get(1..)?),
        Some(b'+') => (false, text.get(1..)?),
        _ => (false, text),
    };
    let bytes = body.as_bytes();
    let (base, digits): (u32, &str) = match bytes {
        [b'0', p, _, ..] if p.eq_ignore_ascii_case(&b'x') => (16, body.get(2..)?),
        [b'0', p, _, ..] if p.eq_ignore_ascii_case(&b'o') => (8, body.get(2..)?),
        [b'0', p, _, ..] if p.eq_ignore_ascii_case(&b'b') => (2, body.get(2..)?),
        [b'0', ..] => (8, body.get(1..)?),
        [] => return None,
        _ => (10, body),
    };
    if body.contains('_') && !underscores_ok(body) {
        return None;
    }
    let mut value: u64 = 0;
    for c in digits.chars().filter(|&c| c != '_') {
        let d = c.to_digit(36)?;
        if d >= base {
            return None;
        }
        value = value.checked_mul(u64::from(base))?.checked_add(u64::from(d))?;
    }
    if negative {
        if value > 1 << 63 {
            return None;
        }
        Some((value as i64).wrapping_neg())
    } else {
        i64::try_from(value).ok()
    }
}

/// Go's rule for `_` in number literals: only between digits, or between a
/// base prefix and a digit.
fn underscores_ok(s: &str) -> bool {
    let bytes = s.as_bytes();
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if bytes.len() >= 2 && bytes[0] == b'0' && matches!(bytes[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = bytes[1].eq_ignore_ascii_case(&b'x');
    }
    while let Some(&c) = bytes.get(i) {
        i += 1;
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
            continue;
        }
        if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
            continue;
        }
        if saw == b'_' {
            return false;
        }
        saw = b'!';
    }
    saw != b'_'
}

/// Decodes the text of a `String` token (quotes included) into its value,
/// handling Go-style escapes in `"…"` and `'…'`; backquoted strings are raw.
/// Go turns `\xFF` and `\377` into single bytes; Rust strings hold only
/// UTF-8, so they become the code point of the same number (U+00FF).
pub fn unquote(token_text: &str) -> Result<String, String> {
    let quote = token_text.chars().next().ok_or("empty string token")?;
    let body = token_text.get(1..token_text.len().saturating_sub(1)).ok_or("unterminated quoted string")?;
    if quote == '`' {
        return Ok(body.to_owned());
    }
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let escaped = chars.next().ok_or("invalid escape at end of string")?;
        match escaped {
            'a' => out.push('\u{07}'),
            'b' => out.push('\u{08}'),
            'f' => out.push('\u{0c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\u{0b}'),
            '\\' => out.push('\\'),
            '"' if quote == '"' => out.push('"'),
            '\'' if quote == '\'' => out.push('\''),
            'x' => out.push(hex_escape(&mut chars, 2)?),
            'u' => out.push(hex_escape(&mut chars, 4)?),
            'U' => out.push(hex_escape(&mut chars, 8)?),
            '0'..='7' => {
                let mut value = escaped.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    let d = chars.next().and_then(|c| c.to_digit(8)).ok_or("invalid octal escape")?;
                    value = value * 8 + d;
                }
                out.push(char::from_u32(value).filter(|_| value < 256).ok_or("invalid octal escape")?);
            }
            other => return Err(format!("unknown escape sequence '\\{other}'")),
        }
    }
    Ok(out)
}

fn hex_escape(chars: &mut std::str::Chars<'_>, digits: usize) -> Result<char, String> {
    let mut value = 0u32;
    for _ in 0..digits {
        let d = chars.next().and_then(|c| c.to_digit(16)).ok_or("invalid hex escape")?;
        value = value * 16 + d;
    }
    char::from_u32(value).ok_or_else(|| format!("escape sequence is an invalid Unicode code point: {value:#x}"))
}

/// Whether Go's `strconv.IsPrint` would call `c` printable. Go uses the
/// Unicode tables; this approximation escapes controls, non-ASCII spaces,
/// format characters and private-use code points, which is what matters for
/// output that must read back unchanged.
fn is_go_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(c as u32,
        0xad | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x180e | 0x200b..=0x200f | 0x202a..=0x202e
        | 0x2060..=0x206f | 0xfeff | 0xfff9..=0xfffb | 0xe000..=0xf8ff | 0xfdd0..=0xfdef
        | 0xf0000..=0x10ffff)
        && (c as u32 & 0xfffe) != 0xfffe
}

fn write_go_escaped(out: &mut String, c: char, quote: char) {
    use std::fmt::Write;
    match c {
        '\u{07}' => out.push_str("\\a"),
        '\u{08}' => out.push_str("\\b"),
        '\u{0c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{0b}' => out.push_str("\\v"),
        '\\' => out.push_str("\\\\"),
        c if c == quote => {
            out.push('\\');
            out.push(c);
        }
        c if is_go_printable(c) => out.push(c),
        c if (c as u32) < 0x20 || c == '\u{7f}' => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if (c as u32) < 0x10000 => {
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\U{:08x}", c as u32);
        }
    }
}

/// Go's `strconv.Quote`: the form Prometheus prints strings in, and its
/// `%q` in error messages.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        write_go_escaped(&mut out, c, '"');
    }
    out.push('"');
    out
}

/// Go's `%q` of a rune: `'x'`.
pub(crate) fn go_quote_rune(c: char) -> String {
    let mut out = String::from("'");
    write_go_escaped(&mut out, c, '\'');
    out.push('\'');
    out
}

/// Go's `%#U` of a rune: `U+0063 'c'`.
fn go_sharp_u(c: char) -> String {
    if is_go_printable(c) { format!("U+{:04X} '{c}'", c as u32) } else { format!("U+{:04X}", c as u32) }
}

#[cfg(test)]
mod tests {
    use super::TokenKind::*;
    use super::*;

    fn kinds(input: &str) -> Vec<TokenKind> {
        lex(input).unwrap().into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn token_kinds() {
        let cases: &[(&str, &[TokenKind])] = &[
            ("up", &[Ident, Eof]),
            ("job:rate5m:sum", &[MetricIdent, Eof]),
            (
                "1 1.5 .5 5. 1e3 0x1F 1_000 Inf nan",
                &[Number, Number, Number, Number, Number, Number, Number, Number, Number, Eof],
            ),
            ("5m 1h30m 100ms 1.5m", &[Duration, Duration, Duration, Duration, Eof]),
            (
                "{a=\"b\",c!='d',e=~`f`,g!~\"h\"}",
                &[
                    LeftBrace,
                    Ident,
                    Assign,
                    String,
                    Comma,
                    Ident,
                    NotEqual,
                    String,
                    Comma,
                    Ident,
                    RegexMatch,
                    String,
                    Comma,
                    Ident,
                    RegexNoMatch,
                    String,
                    RightBrace,
                    Eof,
                ],
            ),
            ("{NaN='x'}", &[LeftBrace, Ident, Assign, String, RightBrace, Eof]),
            ("a[5m:1m] @ 10", &[Ident, LeftBracket, Duration, Colon, Duration, RightBracket, At, Number, Eof]),
            ("a[-5m]", &[Ident, LeftBracket, Sub, Duration, RightBracket, Eof]),
            ("a[step()]", &[Ident, LeftBracket, Ident, LeftParen, RightParen, RightBracket, Eof]),
            (
                "+ - * / % ^ == != < <= > >= </ >/",
                &[
                    Add,
                    Sub,
                    Mul,
                    Div,
                    Mod,
                    Pow,
                    EqualEqual,
                    NotEqual,
                    Less,
                    LessEqual,
                    Greater,
                    GreaterEqual,
                    TrimUpper,
                    TrimLower,
                    Eof,
                ],
            ),
            ("up # a comment\n", &[Ident, Eof]),
            ("{a # comment\n=\"b\"}", &[LeftBrace, Ident, Assign, String, RightBrace, Eof]),
        ];
        for (input, want) in cases {
            assert_eq!(kinds(input), *want, "input {input:?}");
        }
    }

    #[test]
    fn errors_carry_spans_and_prometheus_messages() {
        let cases = [
            ("up{a=\"b}", 5, "unterminated quoted string"),
            ("\"\\", 0, "escape sequence not terminated"),
            ("a ! b", 2, "unexpected character after '!': ' '"),
            ("1x", 0, "bad number or duration syntax: \"1\""),
            ("a $ b", 2, "unexpected character: '$'"),
            ("ü", 0, "unexpected character: 'ü'"),
            (".", 0, "unexpected character: '.'"),
            ("2.5.", 0, "bad number or duration syntax: \"2.5.\""),
            ("100..4", 0, "bad number or duration syntax: \"100..\""),
            ("0deadbeef", 0, "bad number or duration syntax: \"0de\""),
            ("(1))", 4, "unexpected right parenthesis ')'"),
            ("((1)", 4, "unclosed left parenthesis"),
            ("1 =~ 1", 2, "unexpected character after '=': '~'"),
            ("}", 0, "unexpected character: '}'"),
            ("some_metric{a:b=\"b\"}", 13, "unexpected character inside braces: ':'"),
            ("foo{1}", 4, "unexpected character inside braces: '1'"),
            ("foo[5mm]", 4, "bad number or duration syntax: \"5mm\""),
            ("foo[5m1]", 4, "bad number or duration syntax: \"5m1\""),
            ("foo[\"5m\"]", 4, "unexpected character in duration expression: '\"'"),
            ("foo{bar=\"baz\"}[", 15, "unexpected end of input in duration expression"),
            ("foo[5s x 5s]", 7, "unexpected character: 'x', expected ':'"),
            ("foo[5m", 6, "unclosed left bracket"),
            ("`\\``", 3, "unterminated raw string"),
            ("\"\\c\"", 0, "unknown escape sequence U+0063 'c'"),
            ("\"\\x.\"", 0, "illegal character U+002E '.' in escape sequence"),
            ("\"\\uD800\"", 0, "escape sequence is an invalid Unicode code point"),
            ("'\\\"'", 0, "unknown escape sequence U+0022 '\"'"),
        ];
        for (input, start, message) in cases {
            let err = lex(input).unwrap_err();
            assert_eq!((err.span.start, err.message.as_str()), (start, message), "input {input:?}");
            assert!(err.span.end <= input.len(), "input {input:?}");
        }
    }

    #[test]
    fn partial_lexing_keeps_the_tokens_before_the_error() {
        let (tokens, error) = lex_partial("sum(rate(foo{job=\"ab");
        assert_eq!(tokens.len(), 8);
        assert_eq!(error.map(|e| e.span.start), Some(17));
    }

    #[test]
    fn durations() {
        let cases = [
            ("5m", Ok(300_000)),
            ("1h30m", Ok(5_400_000)),
            ("100ms", Ok(100)),
            ("1y", Ok(31_536_000_000)),
            ("1m30ms", Ok(60_030)),
            ("0", Ok(0)),
            ("0s", Ok(0)),
            ("", Err("empty duration string")),
            ("5x", Err("unknown unit \"x\" in duration \"5x\"")),
            ("5y1hs", Err("unknown unit \"hs\" in duration \"5y1hs\"")),
            ("5m1h", Err("not a valid duration string: \"5m1h\"")),
            ("5m1m", Err("not a valid duration string: \"5m1m\"")),
            ("1.5m", Err("unknown unit \".\" in duration \"1.5m\"")),
            ("300y", Err("duration out of range")),
            ("99999999999999999999999s", Err("not a valid duration string: \"99999999999999999999999s\"")),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text), want.map_err(str::to_owned), "{text}");
        }
        assert_eq!(parse_duration_ms("1h"), Some(3_600_000));
    }

    #[test]
    fn numbers_follow_go() {
        let cases = [
            ("1", Ok(1.0)),
            ("0755", Ok(493.0)),
            ("08", Ok(8.0)),
            ("0xc", Ok(12.0)),
            ("0x_1F", Ok(31.0)),
            ("1_000", Ok(1000.0)),
            ("1_000.5", Ok(1000.5)),
            ("5.", Ok(5.0)),
            (".5", Ok(0.5)),
            ("5e-3", Ok(0.005)),
            ("1.e2", Ok(100.0)),
            ("Inf", Ok(f64::INFINITY)),
            ("99999999999999999999", Ok(1e20)),
            ("1e400", Err("strconv.ParseFloat: parsing \"1e400\": value out of range")),
            ("1__0", Err("strconv.ParseFloat: parsing \"1__0\": invalid syntax")),
            ("0xFFFFFFFFFFFFFFFFFF", Err("strconv.ParseFloat: parsing \"0xFFFFFFFFFFFFFFFFFF\": invalid syntax")),
        ];
        for (text, want) in cases {
            assert_eq!(parse_number_checked(text), want.map_err(str::to_owned), "{text}");
        }
        assert!(parse_number("nan").is_some_and(f64::is_nan));
    }

    #[test]
    fn unquoting() {
        let cases = [
            (r#""a\nb""#, Ok("a\nb")),
            (r#"'it\'s'"#, Ok("it's")),
            (r#""\x41\u00e9\101""#, Ok("Aé\u{41}")),
            ("`raw\\n`", Ok("raw\\n")),
            (r#""\q""#, Err(())),
        ];
        for (input, want) in cases {
            assert_eq!(unquote(input).map_err(|_| ()), want.map(str::to_owned), "{input}");
        }
    }

    #[test]
    fn go_quoting() {
        let cases = [
            ("a", "\"a\""),
            ("a\"b\\c", "\"a\\\"b\\\\c\""),
            ("\n\t\u{1}\u{7f}", "\"\\n\\t\\x01\\x7f\""),
            ("üñí☺", "\"üñí☺\""),
            ("\u{a0}\u{200b}", "\"\\u00a0\\u200b\""),
        ];
        for (input, want) in cases {
            assert_eq!(go_quote(input), want);
        }
    }
}
