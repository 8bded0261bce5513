//! The dashboard's state in its URL query, as Grafana writes it: `from`,
//! `to`, `refresh` and one `var-<name>` per selected value
//! (`?from=now-6h&to=now&refresh=30s&var-job=api&var-job=db`). A link copied
//! from the address bar reopens the same view.

/// The time range, refresh and variable selections carried by a URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UrlState {
    pub from: Option<String>,
    pub to: Option<String>,
    pub refresh: Option<String>,
    /// Variable name → selected values, in first-seen order.
    pub vars: Vec<(String, Vec<String>)>,
}

/// The most query parameters read; the rest are ignored (a URL is not a
/// place for thousands of selections).
pub const MAX_URL_PARAMS: usize = 1000;

impl UrlState {
    /// Reads a query string (with or without the leading `?`). Unknown
    /// parameters are ignored; malformed percent-escapes are kept literally,
    /// as browsers do.
    pub fn parse(query: &str) -> UrlState {
        let mut state = UrlState::default();
        for pair in query.trim_start_matches('?').split('&').filter(|p| !p.is_empty()).take(MAX_URL_PARAMS) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let (k, v) = (decode(k), decode(v));
            match k.as_str() {
                "from" => state.from = Some(v),
                "to" => state.to = Some(v),
                "refresh" => state.refresh = Some(v),
                _ => {
                    if let Some(name) = k.strip_prefix("var-").filter(|n| !n.is_empty()) {
                        match state.vars.iter_mut().find(|(n, _)| n == name) {
                            Some((_, values)) => values.push(v),
                            None => state.vars.push((name.to_string(), vec![v])),
                        }
                    }
                }
            }
        }
        state
    }

    /// The values given for a variable.
    pub fn var(&self, name: &str) -> Option<&[String]> {
        self.vars.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }

    /// Writes the query string, without the leading `?`.
    pub fn to_query(&self) -> String {
        let mut parts = Vec::new();
        for (key, value) in [("from", &self.from), ("to", &self.to)] {
            if let Some(v) = value {
                parts.push(format!("{key}={}", encode(v)));
            }
        }
        for (name, values) in &self.vars {
            for v in values {
                parts.push(format!("var-{}={}", encode(name), encode(v)));
            }
        }
        if let Some(r) = self.refresh.as_ref().filter(|r| !r.is_empty()) {
            parts.push(format!("refresh={}", encode(r)));
        }
        parts.join("&")
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` and `+` (a space in form encoding).
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let state = UrlState {
            from: Some("now-6h".into()),
            to: Some("now".into()),
            refresh: Some("30s".into()),
            vars: vec![
                ("job".into(), vec!["api".into(), "a b&c=d".into()]),
                ("instance".into(), vec!["$__all".into()]),
            ],
        };
        let q = state.to_query();
        assert_eq!(q, "from=now-6h&to=now&var-job=api&var-job=a%20b%26c%3Dd&var-instance=%24__all&refresh=30s");
        assert_eq!(UrlState::parse(&q), state);
        assert_eq!(UrlState::parse(&format!("?{q}")), state);
    }

    #[test]
    fn lenient_reading() {
        let s = UrlState::parse("from=1700000000000&var-x=a+b&var-x=%zz&var-=nope&orgId=1&var-y&%");
        assert_eq!(s.from.as_deref(), Some("1700000000000"));
        assert_eq!(s.var("x"), Some(&["a b".to_string(), "%zz".to_string()][..]));
        assert_eq!(s.var("y"), Some(&[String::new()][..]));
        assert_eq!(s.vars.len(), 2);
        assert_eq!(decode("%E2%9C%93"), "✓");
        assert_eq!(decode("%"), "%");
        assert_eq!(decode("%4"), "%4");
    }
}
