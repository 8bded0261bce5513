//! Alertmanager's label matchers (`severity="page"`, `job=~"api|web"`,
//! `env!=dev`), as routes, inhibit rules and silences write them. Routes
//! key their aggregation groups by the printed form, so printing and sorting
//! follow Alertmanager's `pkg/labels` exactly.

use std::collections::BTreeMap;
use std::fmt;

/// How a matcher compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MatchType {
    Equal,
    NotEqual,
    Regexp,
    NotRegexp,
}

impl MatchType {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchType::Equal => "=",
            MatchType::NotEqual => "!=",
            MatchType::Regexp => "=~",
            MatchType::NotRegexp => "!~",
        }
    }
}

/// One matcher; regexes are anchored at both ends.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub kind: MatchType,
    pub name: String,
    pub value: String,
    regex: Option<regex::Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        (self.kind, &self.name, &self.value) == (other.kind, &other.name, &other.value)
    }
}

impl Matcher {
    pub fn new(kind: MatchType, name: &str, value: &str) -> Result<Matcher, String> {
        let regex = match kind {
            MatchType::Regexp | MatchType::NotRegexp => {
                // Checked as written first, so the error points into the user's text.
                let invalid = |e: regex::Error| format!("invalid regular expression {value:?}: {e}");
                regex::Regex::new(value).map_err(invalid)?;
                Some(regex::Regex::new(&format!("^(?:{value})$")).map_err(invalid)?)
            }
            _ => None,
        };
        Ok(Matcher { kind, name: name.to_owned(), value: value.to_owned(), regex })
    }

    /// Whether a label value (empty when the label is absent) matches.
    pub fn matches(&self, value: &str) -> bool {
        match (self.kind, &self.regex) {
            (MatchType::Equal, _) => value == self.value,
            (MatchType::NotEqual, _) => value != self.value,
            (MatchType::Regexp, Some(re)) => re.is_match(value),
            (MatchType::NotRegexp, Some(re)) => !re.is_match(value),
            _ => false,
        }
    }

    /// Alertmanager's sort order: by name, then value, then type.
    pub fn sort_key(&self) -> (&str, &str, MatchType) {
        (&self.name, &self.value, self.kind)
    }
}

impl fmt::Display for Matcher {
    /// `name="value"` with `\`, newline and `"` escaped, as Alertmanager's
    /// `Matcher.String`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let escaped = self.value.replace('\\', "\\\\").replace('\n', "\\n").replace('"', "\\\"");
        write!(f, "{}{}\"{}\"", self.name, self.kind.as_str(), escaped)
    }
}

/// Whether every matcher matches the label set.
pub fn all_match(matchers: &[Matcher], labels: &BTreeMap<String, String>) -> bool {
    matchers.iter().all(|m| m.matches(labels.get(&m.name).map_or("", String::as_str)))
}

/// `{a="b",c=~"d"}`, as Alertmanager's `Matchers.String`.
pub fn format_matchers(matchers: &[Matcher]) -> String {
    let inner: Vec<String> = matchers.iter().map(Matcher::to_string).collect();
    format!("{{{}}}", inner.join(","))
}

/// Parses one or more matchers, comma separated, optionally in braces:
/// `{alertname="Down", severity=~"page|crit"}` or `env!=dev`. Values may
/// be double-quoted (with Go escapes) or bare. Errors give the byte offset.
pub fn parse_matchers(text: &str) -> Result<Vec<Matcher>, String> {
    let trimmed = text.trim();
    let inner = match (trimmed.strip_prefix('{'), trimmed.ends_with('}')) {
        (Some(rest), true) => &rest[..rest.len() - 1],
        (Some(_), false) => return Err(format!("{text:?}: missing closing '}}'")),
        _ => trimmed,
    };
    let bytes = inner.as_bytes();
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        while pos < bytes.len() && bytes[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if pos >= bytes.len() {
            break;
        }
        let name_start = pos;
        while pos < bytes.len() && !matches!(bytes[pos], b'=' | b'!' | b'~') && !bytes[pos].is_ascii_whitespace() {
            pos += 1;
        }
        let name = inner[name_start..pos].trim_matches('"');
        if name.is_empty() {
            return Err(format!("{text:?}: expected a label name at offset {name_start}"));
        }
        while pos < bytes.len() && bytes[pos].is_ascii_whitespace() {
            pos += 1;
        }
        let rest = &inner[pos..];
        let kind = if rest.starts_with("=~") {
            MatchType::Regexp
        } else if rest.starts_with("!~") {
            MatchType::NotRegexp
        } else if rest.starts_with("!=") {
            MatchType::NotEqual
        } else if rest.starts_with('=') {
            MatchType::Equal
        } else {
            return Err(format!("{text:?}: expected an operator (=, !=, =~, !~) at offset {pos}"));
        };
        pos += kind.as_str().len();
        while pos < bytes.len() && bytes[pos].is_ascii_whitespace() {
            pos += 1;
        }
        let value = if bytes.get(pos) == Some(&b'"') {
            let start = pos;
            pos += 1;
            let mut value = String::new();
            loop {
                match bytes.get(pos) {
                    None => return Err(format!("{text:?}: unterminated quoted value starting at offset {start}")),
                    Some(b'"') => {
                        pos += 1;
                        break;
                    }
                    Some(b'\\') => {
                        let escaped = inner[pos + 1..]
                            .chars()
                            .next()
                            .ok_or_else(|| format!("{text:?}: unterminated escape at offset {pos}"))?;
                        value.push(match escaped {
                            'n' => '\n',
                            't' => '\t',
                            other => other,
                        });
                        pos += 1 + escaped.len_utf8();
                    }
                    Some(_) => {
                        let c = inner[pos..].chars().next().unwrap_or(' ');
                        value.push(c);
                        pos += c.len_utf8();
                    }
                }
            }
            value
        } else {
            let start = pos;
            while pos < bytes.len() && bytes[pos] != b',' {
                pos += 1;
            }
            inner[start..pos].trim().to_owned()
        };
        out.push(Matcher::new(kind, name, &value).map_err(|e| format!("{text:?}: {e}"))?);
        while pos < bytes.len() && bytes[pos].is_ascii_whitespace() {
            pos += 1;
        }
        match bytes.get(pos) {
            None => break,
            Some(b',') => pos += 1,
            Some(_) => return Err(format!("{text:?}: expected ',' at offset {pos}")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_as_alertmanager() {
        let cases = [
            (r#"alertname="Down""#, Ok(r#"{alertname="Down"}"#)),
            (r#"{severity=~"page|crit", env!=dev}"#, Ok(r#"{severity=~"page|crit",env!="dev"}"#)),
            (r#"a!~"x\"y""#, Ok(r#"{a!~"x\"y"}"#)),
            ("a = b , c=d", Ok(r#"{a="b",c="d"}"#)),
            (r#"a=~"(""#, Err(())),
            ("{a=b", Err(())),
            ("=b", Err(())),
            ("a b", Err(())),
            (r#"a="b"#, Err(())),
        ];
        for (text, want) in cases {
            let got = parse_matchers(text).map(|m| format_matchers(&m)).map_err(|_| ());
            assert_eq!(got, want.map(str::to_owned), "{text}");
        }
    }

    #[test]
    fn matching_treats_absent_labels_as_empty_and_anchors_regexes() {
        let labels = BTreeMap::from([("job".to_owned(), "api-server".to_owned())]);
        let cases = [
            ("job=api-server", true),
            ("job=~api", false),
            ("job=~api.*", true),
            ("job!~web.*", true),
            ("team=", true),
            ("team!=", false),
            ("team=~.*", true),
            ("job=api-server,team!=x", true),
        ];
        for (text, want) in cases {
            let m = parse_matchers(text).unwrap();
            assert_eq!(all_match(&m, &labels), want, "{text}");
        }
    }
}
