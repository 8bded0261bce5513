//! The PromQL lexer: text to tokens with byte spans.
//!
//! Hand-written rather than generated so that errors point at the exact byte
//! and the editor can lex incomplete input.

use super::Span;

/// What kind of token was read. Identifiers keep their text in the source;
/// keywords are recognised by the parser from `Ident`, since PromQL allows
/// most of them as label names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// `[a-zA-Z_][a-zA-Z0-9_]*`.
    Ident,
    /// An identifier containing `:`; valid only as a metric name.
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
    let mut lexer = Lexer { input, bytes: input.as_bytes(), pos: 0, in_brackets: false };
    let mut tokens = Vec::new();
    loop {
        let token = lexer.next_token()?;
        tokens.push(token);
        if token.kind == TokenKind::Eof {
            return Ok(tokens);
        }
    }
}

struct Lexer<'a> {
    input: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// Inside `[…]` a colon separates a subquery's range from its step;
    /// elsewhere it starts a metric name (recording rules use `a:b:c`).
    in_brackets: bool,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<u8> {
        self.bytes.get(self.pos + offset).copied()
    }

    fn error(&self, start: usize, end: usize, message: impl Into<String>) -> LexError {
        LexError { span: Span::new(start, end), message: message.into() }
    }

    fn next_token(&mut self) -> Result<Token, LexError> {
        self.skip_whitespace_and_comments();
        let start = self.pos;
        let Some(c) = self.peek() else {
            return Ok(Token { kind: TokenKind::Eof, span: Span::new(start, start) });
        };
        use TokenKind::*;
        let (kind, len) = match c {
            b'(' => (LeftParen, 1),
            b')' => (RightParen, 1),
            b'{' => (LeftBrace, 1),
            b'}' => (RightBrace, 1),
            b'[' => {
                self.in_brackets = true;
                (LeftBracket, 1)
            }
            b']' => {
                self.in_brackets = false;
                (RightBracket, 1)
            }
            b',' => (Comma, 1),
            b'@' => (At, 1),
            b'+' => (Add, 1),
            b'-' => (Sub, 1),
            b'*' => (Mul, 1),
            b'/' => (Div, 1),
            b'%' => (Mod, 1),
            b'^' => (Pow, 1),
            b'=' => match self.peek_at(1) {
                Some(b'=') => (EqualEqual, 2),
                Some(b'~') => (RegexMatch, 2),
                _ => (Assign, 1),
            },
            b'!' => match self.peek_at(1) {
                Some(b'=') => (NotEqual, 2),
                Some(b'~') => (RegexNoMatch, 2),
                _ => return Err(self.error(start, start + 1, "unexpected character after '!': expected '=' or '~'")),
            },
            b'<' => match self.peek_at(1) {
                Some(b'=') => (LessEqual, 2),
                _ => (Less, 1),
            },
            b'>' => match self.peek_at(1) {
                Some(b'=') => (GreaterEqual, 2),
                _ => (Greater, 1),
            },
            b'"' | b'\'' | b'`' => return self.lex_string(c),
            b'0'..=b'9' | b'.' => return self.lex_number_or_duration(),
            b':' if self.in_brackets => (Colon, 1),
            b':' => return Ok(self.lex_identifier()),
            c if is_ident_start(c) => return Ok(self.lex_identifier()),
            _ => {
                let ch = self.input[start..].chars().next().unwrap_or('\u{fffd}');
                return Err(self.error(start, start + ch.len_utf8(), format!("unexpected character: {ch:?}")));
            }
        };
        self.pos += len;
        Ok(Token { kind, span: Span::new(start, self.pos) })
    }

    fn skip_whitespace_and_comments(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\n' | b'\r' => self.pos += 1,
                b'#' => {
                    while self.peek().is_some_and(|c| c != b'\n') {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
    }

    fn lex_identifier(&mut self) -> Token {
        let start = self.pos;
        let mut has_colon = false;
        while let Some(c) = self.peek() {
            if c == b':' {
                has_colon = true;
            } else if !is_ident_continue(c) {
                break;
            }
            self.pos += 1;
        }
        let text = &self.input[start..self.pos];
        let kind = if has_colon {
            TokenKind::MetricIdent
        } else if text.eq_ignore_ascii_case("inf") || text.eq_ignore_ascii_case("nan") {
            TokenKind::Number
        } else {
            TokenKind::Ident
        };
        Token { kind, span: Span::new(start, self.pos) }
    }

    fn lex_string(&mut self, quote: u8) -> Result<Token, LexError> {
        let start = self.pos;
        self.pos += 1;
        loop {
            match self.peek() {
                None => return Err(self.error(start, self.pos, "unterminated quoted string")),
                Some(b'\\') if quote != b'`' => self.pos = (self.pos + 2).min(self.bytes.len()),
                Some(b'\n') if quote != b'`' => {
                    return Err(self.error(start, self.pos, "unterminated quoted string"));
                }
                Some(c) if c == quote => {
                    self.pos += 1;
                    return Ok(Token { kind: TokenKind::String, span: Span::new(start, self.pos) });
                }
                Some(_) => self.pos += 1,
            }
        }
    }

    fn lex_number_or_duration(&mut self) -> Result<Token, LexError> {
        let start = self.pos;
        if self.peek() == Some(b'0') && matches!(self.peek_at(1), Some(b'x' | b'X')) {
            self.pos += 2;
            let digits = self.pos;
            while self.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
                self.pos += 1;
            }
            if self.pos == digits {
                return Err(self.error(start, self.pos, "bad hexadecimal number"));
            }
            return self.finish_number(start);
        }
        let digits_start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let integer_only = self.pos > digits_start;
        // A duration is digits followed directly by a unit: `5m`, `1h30m`.
        if integer_only
            && self.peek().is_some_and(is_duration_unit_start)
            && let Some(end) = scan_duration_units(self.bytes, digits_start)
        {
            self.pos = end;
            return Ok(Token { kind: TokenKind::Duration, span: Span::new(start, end) });
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1;
            }
        }
        if self.pos == start + 1 && self.bytes[start] == b'.' {
            return Err(self.error(start, self.pos, "unexpected character: '.'"));
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            let mark = self.pos;
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            let exp_digits = self.pos;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1;
            }
            if self.pos == exp_digits {
                self.pos = mark;
            }
        }
        self.finish_number(start)
    }

    fn finish_number(&mut self, start: usize) -> Result<Token, LexError> {
        if self.peek().is_some_and(is_ident_continue) {
            while self.peek().is_some_and(is_ident_continue) {
                self.pos += 1;
            }
            return Err(self.error(
                start,
                self.pos,
                format!("bad number or duration syntax: {:?}", &self.input[start..self.pos]),
            ));
        }
        Ok(Token { kind: TokenKind::Number, span: Span::new(start, self.pos) })
    }
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_ident_continue(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn is_duration_unit_start(c: u8) -> bool {
    matches!(c, b'y' | b'w' | b'd' | b'h' | b'm' | b's')
}

/// Scans `(digits unit)+` from `start`; returns the end if the whole run is a
/// duration (not followed by more identifier characters).
fn scan_duration_units(bytes: &[u8], start: usize) -> Option<usize> {
    let mut pos = start;
    let mut any = false;
    loop {
        let digits = pos;
        while bytes.get(pos).is_some_and(|c| c.is_ascii_digit()) {
            pos += 1;
        }
        if pos == digits {
            break;
        }
        let unit_len = match (bytes.get(pos), bytes.get(pos + 1)) {
            (Some(b'm'), Some(b's')) => 2,
            (Some(b'y' | b'w' | b'd' | b'h' | b'm' | b's'), _) => 1,
            _ => return None,
        };
        pos += unit_len;
        any = true;
    }
    if !any || bytes.get(pos).is_some_and(|&c| is_ident_continue(c) || c == b'.') {
        return None;
    }
    Some(pos)
}

/// Parses a PromQL duration (`1h30m`, `500ms`) into milliseconds.
pub fn parse_duration_ms(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let mut pos = 0;
    let mut total: i64 = 0;
    if bytes.is_empty() {
        return None;
    }
    while pos < bytes.len() {
        let digits = pos;
        while bytes.get(pos).is_some_and(|c| c.is_ascii_digit()) {
            pos += 1;
        }
        let n: i64 = text.get(digits..pos)?.parse().ok()?;
        let (unit_ms, len) = match (bytes.get(pos), bytes.get(pos + 1)) {
            (Some(b'm'), Some(b's')) => (1, 2),
            (Some(b's'), _) => (1000, 1),
            (Some(b'm'), _) => (60_000, 1),
            (Some(b'h'), _) => (3_600_000, 1),
            (Some(b'd'), _) => (86_400_000, 1),
            (Some(b'w'), _) => (7 * 86_400_000, 1),
            (Some(b'y'), _) => (365 * 86_400_000, 1),
            _ => return None,
        };
        pos += len;
        total = total.checked_add(n.checked_mul(unit_ms)?)?;
    }
    Some(total)
}

/// Decodes the text of a `String` token (quotes included) into its value,
/// handling Go-style escapes in `"…"` and `'…'`; backquoted strings are raw.
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
            ("1 1.5 .5 1e3 0x1F Inf nan", &[Number, Number, Number, Number, Number, Number, Number, Eof]),
            ("5m 1h30m 100ms", &[Duration, Duration, Duration, Eof]),
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
            ("a[5m:1m] @ 10", &[Ident, LeftBracket, Duration, Colon, Duration, RightBracket, At, Number, Eof]),
            (
                "+ - * / % ^ == != < <= > >=",
                &[Add, Sub, Mul, Div, Mod, Pow, EqualEqual, NotEqual, Less, LessEqual, Greater, GreaterEqual, Eof],
            ),
            ("up # a comment\n", &[Ident, Eof]),
        ];
        for (input, want) in cases {
            assert_eq!(kinds(input), *want, "input {input:?}");
        }
    }

    #[test]
    fn errors_carry_spans() {
        let cases = [("up{a=\"b}", 5, 8), ("\"\\", 0, 2), ("a ! b", 2, 3), ("1x", 0, 2), ("a $ b", 2, 3), ("ü", 0, 2)];
        for (input, start, end) in cases {
            let err = lex(input).unwrap_err();
            assert_eq!(err.span, Span::new(start, end), "input {input:?}: {err}");
        }
    }

    #[test]
    fn durations() {
        let cases = [
            ("5m", Some(300_000)),
            ("1h30m", Some(5_400_000)),
            ("100ms", Some(100)),
            ("1y", Some(31_536_000_000)),
            ("", None),
            ("5x", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration_ms(text), want, "{text}");
        }
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
}
