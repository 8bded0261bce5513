//! Parsers for what targets expose: Prometheus text format 0.0.4 and
//! OpenMetrics 1.0 text.
//!
//! Hand-written because this is the hottest path of ingestion: it borrows
//! names and label values from the body instead of allocating, except where
//! an escape sequence forces a copy. Errors carry line and column.

use std::borrow::Cow;

/// The formats a target may answer with, told apart by its Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`: timestamps in integer milliseconds.
    PrometheusText,
    /// `application/openmetrics-text`: timestamps in float seconds, `# EOF`.
    OpenMetrics,
}

impl Format {
    /// Picks the parser for a response's Content-Type; Prometheus falls back
    /// to the text format for anything it does not recognise.
    pub fn from_content_type(content_type: &str) -> Format {
        if content_type.trim_start().starts_with("application/openmetrics-text") {
            Format::OpenMetrics
        } else {
            Format::PrometheusText
        }
    }
}

/// One sample line, borrowing from the body. The name and labels are
/// checked for syntax while parsing but only split out by [`series`], which
/// the scraper calls for series it has not seen before: a known series costs
/// no label parsing or allocation at all.
///
/// [`series`]: ExposedSample::series
#[derive(Debug, Clone, PartialEq)]
pub struct ExposedSample<'a> {
    /// The line's name and label text as written (`m{a="b"}`): the scrape
    /// cache's key, since a target writes a series the same way every time.
    pub series_text: &'a str,
    pub value: f64,
    pub timestamp_ms: Option<i64>,
    /// 1-based line in the body, for errors found by `series`.
    pub line: usize,
    /// The type of the last `# TYPE` line before this sample (whatever
    /// family it named, as in Prometheus's parsers): it decides whether `le`
    /// and `quantile` values are normalised.
    pub kind: MetricType,
}

/// A metric name and its labels, borrowed where no escape forced a copy.
pub type SeriesParts<'a> = (Cow<'a, str>, Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'a> ExposedSample<'a> {
    /// The metric name and labels, in the order written. Fails on a label
    /// name given twice.
    ///
    /// As Prometheus 3 does, the `le` label of a histogram's samples and the
    /// `quantile` label of a summary's are rewritten in OpenMetrics' float
    /// form (`le="1"` → `le="1.0"`), so both formats give the same series.
    pub fn series(&self) -> Result<SeriesParts<'a>, ExpositionError> {
        let mut parser = LineParser {
            line: self.series_text,
            pos: 0,
            line_no: self.line,
            format: Format::PrometheusText,
            kind: self.kind,
        };
        let mut labels = Vec::new();
        let name = parser.parse_name_and_labels(Some(&mut labels))?;
        let float_label = match self.kind {
            MetricType::Histogram => Some("le"),
            MetricType::Summary => Some("quantile"),
            _ => None,
        };
        if let Some(float_label) = float_label {
            for (name, value) in &mut labels {
                if name == float_label
                    && let Some(f) = parse_float(value)
                {
                    let normalized = format_openmetrics_float(f);
                    if normalized != *value {
                        *value = Cow::Owned(normalized);
                    }
                }
            }
        }
        Ok((name.unwrap_or(Cow::Borrowed("")), labels))
    }
}

/// Where and why a body failed to parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ExpositionError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// What a family's `# TYPE` line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
    Unknown,
}

impl MetricType {
    /// The types each format knows, as Prometheus's parsers accept them: the
    /// text format has `untyped`, OpenMetrics has `unknown` and three more.
    fn parse(text: &str, format: Format) -> Option<MetricType> {
        Some(match (text, format) {
            ("counter", _) => MetricType::Counter,
            ("gauge", _) => MetricType::Gauge,
            ("histogram", _) => MetricType::Histogram,
            ("summary", _) => MetricType::Summary,
            ("untyped", Format::PrometheusText) | ("unknown", Format::OpenMetrics) => MetricType::Unknown,
            ("gaugehistogram", Format::OpenMetrics) => MetricType::GaugeHistogram,
            ("info", Format::OpenMetrics) => MetricType::Info,
            ("stateset", Format::OpenMetrics) => MetricType::StateSet,
            _ => return None,
        })
    }

    /// The name the metadata API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        }
    }
}

/// HELP, TYPE and UNIT of one metric family, as far as the body gave them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FamilyMetadata<'a> {
    pub family: &'a str,
    pub kind: Option<MetricType>,
    pub help: Option<Cow<'a, str>>,
    pub unit: Option<&'a str>,
}

/// A parsed body: its samples and its families' metadata.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Exposition<'a> {
    pub samples: Vec<ExposedSample<'a>>,
    pub metadata: Vec<FamilyMetadata<'a>>,
}

/// Parses a whole body. A body with any malformed line is refused whole, as
/// Prometheus refuses the whole scrape.
pub fn parse(body: &str, format: Format) -> Result<Exposition<'_>, ExpositionError> {
    let mut out = Exposition::default();
    let mut seen_eof = false;
    let mut kind = MetricType::Unknown;
    for (index, line) in body.split('\n').enumerate() {
        let line_no = index + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if seen_eof {
            if line.is_empty() {
                continue;
            }
            return Err(ExpositionError {
                line: line_no,
                column: 1,
                message: "unexpected content after # EOF".to_owned(),
            });
        }
        if line.trim().is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            if comment.trim() == "EOF" {
                seen_eof = true;
            } else if let Some(new_kind) = parse_descriptor(comment, line_no, format, &mut out.metadata)? {
                kind = new_kind;
            }
            continue;
        }
        let sample = LineParser { line, pos: 0, line_no, format, kind }.parse_sample()?;
        out.samples.push(sample);
    }
    if format == Format::OpenMetrics && !seen_eof {
        // A body cut short would otherwise be ingested as if complete.
        let lines = body.trim_end_matches('\n').split('\n').count();
        return Err(ExpositionError { line: lines + 1, column: 1, message: "data does not end with # EOF".to_owned() });
    }
    merge_split_families(&mut out.metadata);
    Ok(out)
}

/// Parses one sample line on its own (not a comment or a blank line), for
/// readers that stream a large file line by line instead of holding a whole
/// body: the OpenMetrics import. `line_no` is only used in errors. The
/// family's type is not known here, so `le` and `quantile` values are kept
/// as written, as `promtool tsdb create-blocks-from` keeps them.
pub fn parse_sample_line(line: &str, line_no: usize, format: Format) -> Result<ExposedSample<'_>, ExpositionError> {
    LineParser { line, pos: 0, line_no, format, kind: MetricType::Unknown }.parse_sample()
}

/// Merges metadata entries of a family whose descriptor lines were not
/// adjacent; later lines win, as they would have overwritten in place.
fn merge_split_families(metadata: &mut Vec<FamilyMetadata<'_>>) {
    let mut first_index: std::collections::HashMap<&str, usize> =
        std::collections::HashMap::with_capacity(metadata.len());
    let mut merged: Vec<FamilyMetadata<'_>> = Vec::with_capacity(metadata.len());
    let mut split = false;
    for entry in metadata.iter() {
        match first_index.get(entry.family) {
            Some(&i) => {
                split = true;
                let target = &mut merged[i];
                target.kind = entry.kind.or(target.kind);
                target.help = entry.help.clone().or(target.help.take());
                target.unit = entry.unit.or(target.unit);
            }
            None => {
                first_index.insert(entry.family, merged.len());
                merged.push(entry.clone());
            }
        }
    }
    if split {
        *metadata = merged;
    }
}

/// Reads `# HELP`, `# TYPE` and `# UNIT` (OpenMetrics only), and returns
/// the type a TYPE line sets. The text format ignores other comments;
/// OpenMetrics has no others and refuses them, as Prometheus's parser does.
fn parse_descriptor<'a>(
    comment: &'a str,
    line_no: usize,
    format: Format,
    metadata: &mut Vec<FamilyMetadata<'a>>,
) -> Result<Option<MetricType>, ExpositionError> {
    let open_metrics = format == Format::OpenMetrics;
    let not_a_descriptor = || {
        if open_metrics {
            Err(ExpositionError {
                line: line_no,
                column: 1,
                message: "comments other than HELP, TYPE, UNIT and EOF are not allowed in OpenMetrics".to_owned(),
            })
        } else {
            Ok(None)
        }
    };
    let Some(rest) = comment.strip_prefix(' ') else { return not_a_descriptor() };
    let (keyword, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let known = match keyword {
        "HELP" | "TYPE" => true,
        "UNIT" => open_metrics,
        _ => false,
    };
    if !known {
        return not_a_descriptor();
    }
    let (family, text) = rest.split_once(' ').unwrap_or((rest, ""));
    let column = comment.len() - rest.len() + 2;
    if family.is_empty() {
        return Err(ExpositionError { line: line_no, column, message: format!("{keyword} needs a metric name") });
    }
    // HELP, TYPE and UNIT of a family come together, so only the last entry
    // is checked here; a family split across the body is merged at the end.
    let index = match metadata.last() {
        Some(last) if last.family == family => metadata.len() - 1,
        _ => {
            metadata.push(FamilyMetadata { family, ..FamilyMetadata::default() });
            metadata.len() - 1
        }
    };
    let entry = &mut metadata[index];
    let text_column = column + family.len() + 1;
    match keyword {
        "HELP" => entry.help = Some(unescape_help(text, format)),
        "TYPE" => {
            let kind = MetricType::parse(text.trim(), format).ok_or_else(|| ExpositionError {
                line: line_no,
                column: text_column,
                message: format!("invalid metric type {:?}", text.trim()),
            })?;
            entry.kind = Some(kind);
            return Ok(Some(kind));
        }
        _ => {
            let unit = text.trim();
            // Prometheus 3 refuses a unit that is not the family's suffix.
            let suffixed = family.len() > unit.len()
                && family.ends_with(unit)
                && family.as_bytes()[family.len() - unit.len() - 1] == b'_';
            if !unit.is_empty() && !suffixed {
                return Err(ExpositionError {
                    line: line_no,
                    column: text_column,
                    message: format!("unit {unit:?} not a suffix of metric {family:?}"),
                });
            }
            entry.unit = Some(unit);
        }
    }
    Ok(None)
}

/// HELP text escapes: `\\` and `\n` (and `\"` in OpenMetrics).
fn unescape_help(text: &str, format: Format) -> Cow<'_, str> {
    if !text.contains('\\') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('\\') => out.push('\\'),
            Some('"') if format == Format::OpenMetrics => out.push('"'),
            // An unknown escape is kept as written, as Prometheus does.
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

struct LineParser<'a> {
    line: &'a str,
    pos: usize,
    line_no: usize,
    format: Format,
    kind: MetricType,
}

impl<'a> LineParser<'a> {
    fn error(&self, message: impl Into<String>) -> ExpositionError {
        ExpositionError { line: self.line_no, column: self.pos + 1, message: message.into() }
    }

    fn peek(&self) -> Option<u8> {
        self.line.as_bytes().get(self.pos).copied()
    }

    fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    /// Parses a metric name and an optional label set from the start of the
    /// line, leaving `pos` at the end of the series text. With `labels`,
    /// collects them (and refuses duplicates); without, only checks syntax.
    fn parse_name_and_labels(
        &mut self,
        labels: Option<&mut Vec<(Cow<'a, str>, Cow<'a, str>)>>,
    ) -> Result<Option<Cow<'a, str>>, ExpositionError> {
        let mut name: Option<Cow<'a, str>> = None;
        if self.peek() != Some(b'{') {
            name = Some(Cow::Borrowed(self.take_name(true)?));
        }
        let name_end = self.pos;
        self.skip_blanks();
        if self.peek() == Some(b'{') {
            self.pos += 1;
            self.parse_labels(&mut name, labels)?;
        } else {
            self.pos = name_end;
        }
        Ok(name)
    }

    fn parse_sample(mut self) -> Result<ExposedSample<'a>, ExpositionError> {
        let name = self.parse_name_and_labels(None)?;
        let before_value = self.pos;
        self.skip_blanks();
        if name.is_none() {
            return Err(self.error("metric name is missing"));
        }
        let series_text = &self.line[..before_value];
        if self.pos == before_value {
            return Err(self.error("expected a space before the sample value"));
        }
        let value_text = self.take_token();
        let value = parse_float(value_text).ok_or_else(|| {
            self.pos -= value_text.len();
            self.error(format!("invalid sample value {value_text:?}"))
        })?;
        self.skip_blanks();
        let mut timestamp_ms = None;
        if self.peek().is_some_and(|c| c != b'#') {
            let text = self.take_token();
            timestamp_ms = Some(self.parse_timestamp(text).ok_or_else(|| {
                self.pos -= text.len();
                self.error(format!("invalid timestamp {text:?}"))
            })?);
            self.skip_blanks();
        }
        match self.peek() {
            None => {}
            // An OpenMetrics exemplar: checked as Prometheus checks it, then
            // dropped (Vigil has no exemplar storage, like Prometheus
            // without `--enable-feature=exemplar-storage`).
            Some(b'#') if self.format == Format::OpenMetrics => self.parse_exemplar()?,
            Some(_) => return Err(self.error("unexpected text after the sample")),
        }
        Ok(ExposedSample { series_text, value, timestamp_ms, line: self.line_no, kind: self.kind })
    }

    /// ` # {labels} value [timestamp]` after an OpenMetrics sample.
    fn parse_exemplar(&mut self) -> Result<(), ExpositionError> {
        if !self.line[self.pos..].starts_with("# {") {
            return Err(self.error("expected an exemplar '# {…} value' after the sample"));
        }
        self.pos += 3;
        let mut name = None;
        self.parse_labels(&mut name, None)?;
        if name.is_some() {
            return Err(self.error("expected label name in the exemplar"));
        }
        let before_value = self.pos;
        self.skip_blanks();
        let value_text = self.take_token();
        if self.pos == before_value || parse_float(value_text).is_none() {
            self.pos -= value_text.len();
            return Err(self.error(format!("invalid exemplar value {value_text:?}")));
        }
        self.skip_blanks();
        if self.peek().is_some() {
            let text = self.take_token();
            if text.parse::<f64>().ok().filter(|t| t.is_finite()).is_none() {
                self.pos -= text.len();
                return Err(self.error(format!("invalid exemplar timestamp {text:?}")));
            }
            self.skip_blanks();
        }
        if self.peek().is_some() {
            return Err(self.error("unexpected text after the exemplar"));
        }
        Ok(())
    }

    fn parse_timestamp(&self, text: &str) -> Option<i64> {
        match self.format {
            Format::PrometheusText => text.parse().ok(),
            Format::OpenMetrics => {
                // Truncated toward zero, as Prometheus's `int64(ts * 1000)`.
                let seconds: f64 = text.parse().ok()?;
                let ms = seconds * 1000.0;
                (ms.is_finite() && ms.abs() < 9.2e18).then_some(ms as i64)
            }
        }
    }

    fn take_token(&mut self) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(|c| c != b' ' && c != b'\t') {
            self.pos += 1;
        }
        &self.line[start..self.pos]
    }

    fn take_name(&mut self, metric: bool) -> Result<&'a str, ExpositionError> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            let ok = c.is_ascii_alphabetic()
                || c == b'_'
                || (metric && c == b':')
                || (self.pos > start && c.is_ascii_digit());
            if !ok {
                break;
            }
            self.pos += 1;
        }
        if self.pos == start {
            let what = if metric { "metric name" } else { "label name" };
            return Err(self.error(format!("invalid {what}")));
        }
        Ok(&self.line[start..self.pos])
    }

    fn parse_labels(
        &mut self,
        name: &mut Option<Cow<'a, str>>,
        mut labels: Option<&mut Vec<(Cow<'a, str>, Cow<'a, str>)>>,
    ) -> Result<(), ExpositionError> {
        loop {
            self.skip_blanks();
            match self.peek() {
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                None => return Err(self.error("unterminated label set: expected '}'")),
                _ => {}
            }
            let label_name: Cow<'a, str> = if self.peek() == Some(b'"') {
                let quoted = self.take_quoted()?;
                self.skip_blanks();
                // Prometheus 3: a quoted string alone is the metric name.
                if matches!(self.peek(), Some(b',' | b'}')) {
                    if name.is_some() {
                        return Err(self.error("metric name given twice"));
                    }
                    *name = Some(quoted);
                    self.finish_label_pair()?;
                    continue;
                }
                quoted
            } else {
                Cow::Borrowed(self.take_name(false)?)
            };
            self.skip_blanks();
            if self.peek() != Some(b'=') {
                return Err(self.error(format!("expected '=' after label name {label_name:?}")));
            }
            self.pos += 1;
            self.skip_blanks();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected '\"' to start the label value"));
            }
            let value = self.take_quoted()?;
            if let Some(labels) = labels.as_deref_mut() {
                if labels.iter().any(|(n, _)| *n == label_name) {
                    return Err(self.error(format!("duplicate label name {label_name:?}")));
                }
                labels.push((label_name, value));
            }
            self.finish_label_pair()?;
        }
    }

    fn finish_label_pair(&mut self) -> Result<(), ExpositionError> {
        self.skip_blanks();
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                Ok(())
            }
            Some(b'}') => Ok(()),
            _ => Err(self.error("expected ',' or '}' after label value")),
        }
    }

    /// Reads a `"…"` string with `\\`, `\"` and `\n` escapes; borrows when
    /// there is no escape.
    fn take_quoted(&mut self) -> Result<Cow<'a, str>, ExpositionError> {
        let open = self.pos;
        self.pos += 1;
        let start = self.pos;
        let mut owned: Option<String> = None;
        loop {
            match self.peek() {
                None => {
                    self.pos = open;
                    return Err(self.error("unterminated quoted string"));
                }
                Some(b'"') => {
                    let value = match owned {
                        Some(s) => Cow::Owned(s),
                        None => Cow::Borrowed(&self.line[start..self.pos]),
                    };
                    self.pos += 1;
                    return Ok(value);
                }
                Some(b'\\') => {
                    let buf = owned.get_or_insert_with(|| self.line[start..self.pos].to_owned());
                    match self.line[self.pos + 1..].chars().next() {
                        Some('\\') => buf.push('\\'),
                        Some('"') => buf.push('"'),
                        Some('n') => buf.push('\n'),
                        // Prometheus's lexer accepts any escape and keeps an
                        // unknown one as written.
                        Some(other) => {
                            buf.push('\\');
                            buf.push(other);
                        }
                        None => {
                            self.pos = open;
                            return Err(self.error("unterminated quoted string"));
                        }
                    }
                    self.pos += 1 + self.line[self.pos + 1..].chars().next().map_or(1, char::len_utf8);
                }
                Some(_) => {
                    // Advance by a whole character so slices stay on UTF-8
                    // boundaries.
                    let c = self.line[self.pos..].chars().next().unwrap_or('\u{fffd}');
                    if let Some(buf) = owned.as_mut() {
                        buf.push(c);
                    }
                    self.pos += c.len_utf8();
                }
            }
        }
    }
}

/// Parses a sample value: Go's `ParseFloat` syntax, including `NaN`, `+Inf`
/// and `-Inf`.
fn parse_float(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        "NaN" | "nan" => Some(f64::NAN),
        _ if text.is_empty() => None,
        _ => text.parse().ok(),
    }
}

/// A float as Go's `strconv.FormatFloat(f, 'g', -1, 64)` writes it, with
/// `.0` added when that has neither `.` nor `e`: Prometheus's
/// `FormatOpenMetricsFloat`, used for `le` and `quantile` values.
fn format_openmetrics_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.to_owned();
    }
    // Rust's `{:e}` gives the shortest round-tripping digits, as Go's -1
    // precision does; only the layout differs.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = mantissa.strip_prefix('-').map_or(("", mantissa), |m| ("-", m));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    // Shortest-precision %g switches to an exponent below 1e-4 and from
    // 1e6 on (Go uses precision 6 for that decision).
    let out = if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let exp_sign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{first}{dot}{rest}e{exp_sign}{:02}", exp.unsigned_abs())
    } else if exp < 0 {
        format!("{sign}0.{}{digits}", "0".repeat((-exp - 1) as usize))
    } else if exp as usize + 1 >= digits.len() {
        format!("{sign}{digits}{}", "0".repeat(exp as usize + 1 - digits.len()))
    } else {
        let (int, frac) = digits.split_at(exp as usize + 1);
        format!("{sign}{int}.{frac}")
    };
    if out.contains(['.', 'e']) { out } else { format!("{out}.0") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(body: &str, format: Format) -> ExposedSample<'_> {
        let mut samples = parse(body, format).unwrap().samples;
        assert_eq!(samples.len(), 1, "{body:?}");
        samples.remove(0)
    }

    #[test]
    fn sample_lines() {
        type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], f64, Option<i64>);
        let cases: &[Case] = &[
            ("up 1", "up", &[], 1.0, None),
            ("up 1 1700000000000", "up", &[], 1.0, Some(1_700_000_000_000)),
            ("a:b_c{x=\"1\",y=\"2\",} 2.5e3", "a:b_c", &[("x", "1"), ("y", "2")], 2500.0, None),
            ("m { x = \"q\\\"\\\\\\n\" } -Inf", "m", &[("x", "q\"\\\n")], f64::NEG_INFINITY, None),
            ("m{x=\"ü,}\"}\t+Inf", "m", &[("x", "ü,}")], f64::INFINITY, None),
            ("{\"my.metric\",\"a.b\"=\"v\"} 3", "my.metric", &[("a.b", "v")], 3.0, None),
        ];
        for (body, name, labels, value, ts) in cases {
            let s = one(body, Format::PrometheusText);
            let (got_name, got_labels) = s.series().unwrap();
            assert_eq!(got_name, *name, "{body}");
            let got: Vec<(&str, &str)> = got_labels.iter().map(|(n, v)| (n.as_ref(), v.as_ref())).collect();
            assert_eq!(got, *labels, "{body}");
            assert_eq!(s.value, *value, "{body}");
            assert_eq!(s.timestamp_ms, *ts, "{body}");
        }
        assert!(one("x NaN", Format::PrometheusText).value.is_nan());
    }

    #[test]
    fn openmetrics_timestamps_exemplars_and_eof() {
        let body = "# TYPE c counter\n# HELP c help\nc_total 5 1700000000.5 # {trace_id=\"a\"} 1\n# EOF\n";
        let parsed = parse(body, Format::OpenMetrics).unwrap();
        let samples = parsed.samples;
        assert_eq!(samples.len(), 1);
        assert_eq!(
            parsed.metadata,
            [FamilyMetadata { family: "c", kind: Some(MetricType::Counter), help: Some("help".into()), unit: None }]
        );
        assert_eq!(samples[0].timestamp_ms, Some(1_700_000_000_500));
        let err = parse("# EOF\nx 1\n", Format::OpenMetrics).unwrap_err();
        assert_eq!((err.line, err.message.as_str()), (2, "unexpected content after # EOF"));
        // A body cut short is refused, not ingested as if complete.
        let err = parse("# TYPE c counter\nc_total 5\n", Format::OpenMetrics).unwrap_err();
        assert_eq!((err.line, err.message.as_str()), (3, "data does not end with # EOF"));
        // The text format has no EOF marker.
        assert!(parse("c_total 5\n", Format::PrometheusText).is_ok());
    }

    #[test]
    fn unknown_escapes_in_label_values_are_kept_as_written() {
        let cases = [
            ("x{y=\"a\\tb\"} 1", "a\\tb"),
            ("x{y=\"a\\\\b\"} 1", "a\\b"),
            ("x{y=\"a\\\"b\"} 1", "a\"b"),
            ("x{y=\"a\\nb\"} 1", "a\nb"),
            ("x{y=\"\\é\"} 1", "\\é"),
        ];
        for (line, want) in cases {
            let parsed = parse(line, Format::PrometheusText).unwrap();
            let (_, labels) = parsed.samples[0].series().unwrap();
            assert_eq!(labels.iter().find(|(n, _)| n == "y").map(|(_, v)| v.as_ref()), Some(want), "{line}");
        }
    }

    #[test]
    fn errors_carry_line_and_column() {
        let cases = [
            ("ok 1\nbad{x=\"1\" 2", 2, 11, "expected ',' or '}'"),
            ("x", 1, 2, "expected a space before the sample value"),
            ("x abc", 1, 3, "invalid sample value"),
            ("x 1 notatime", 1, 5, "invalid timestamp"),
            ("x{y=\"1} 1", 1, 5, "unterminated quoted string"),
            ("x{y=\"1\",y=\"2\"} 1", 1, 14, "duplicate label name"),
            ("1x 1", 1, 1, "invalid metric name"),
            ("x{=\"1\"} 1", 1, 3, "invalid label name"),
            ("x 1 2 3", 1, 7, "unexpected text after the sample"),
        ];
        for (body, line, column, want) in cases {
            // Syntax errors come from `parse`; a duplicate label name from
            // `series`, which only runs for series not seen before.
            let err = match parse(body, Format::PrometheusText) {
                Err(e) => e,
                Ok(parsed) => parsed.samples.iter().find_map(|s| s.series().err()).expect("an error"),
            };
            assert!(err.message.contains(want), "{body:?}: {err}");
            assert_eq!((err.line, err.column), (line, column), "{body:?}: {err}");
        }
    }

    #[test]
    fn metadata_lines() {
        let body = "# HELP a Line one\\nwith \\\\ slash\n# TYPE a gauge\n# UNIT a seconds\n# a plain comment\n#TYPE x y\n# TYPE b untyped\na 1\n";
        let parsed = parse(body, Format::PrometheusText).unwrap();
        assert_eq!(
            parsed.metadata,
            [
                FamilyMetadata {
                    family: "a",
                    kind: Some(MetricType::Gauge),
                    help: Some("Line one\nwith \\ slash".into()),
                    // The text format has no UNIT: Prometheus reads it as a comment.
                    unit: None,
                },
                FamilyMetadata { family: "b", kind: Some(MetricType::Unknown), help: None, unit: None },
            ]
        );
        let split = parse("# TYPE a gauge\n# TYPE b counter\n# HELP a late help\n", Format::PrometheusText).unwrap();
        assert_eq!(split.metadata.len(), 2);
        assert_eq!(
            (split.metadata[0].kind, split.metadata[0].help.as_deref()),
            (Some(MetricType::Gauge), Some("late help"))
        );
        let err = parse("x 1\n# TYPE x bogus\n", Format::PrometheusText).unwrap_err();
        assert_eq!((err.line, err.column, err.message.as_str()), (2, 10, "invalid metric type \"bogus\""));
    }

    /// What one body parses to, a line per sample: the series as
    /// `series()` gives it (labels in written order), value, timestamp.
    fn render(body: &str, format: Format) -> Result<Vec<String>, String> {
        let parsed = parse(body, format).map_err(|e| e.to_string())?;
        parsed
            .samples
            .iter()
            .map(|s| {
                let (name, labels) = s.series().map_err(|e| e.to_string())?;
                let labels: Vec<String> = labels.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
                let ts = s.timestamp_ms.map(|t| format!(" @{t}")).unwrap_or_default();
                Ok(format!("{name}{{{}}} {}{ts}", labels.join(","), s.value))
            })
            .collect()
    }

    #[test]
    fn families_of_every_type_parse_as_prometheus_does() {
        use Format::{OpenMetrics as Om, PrometheusText as Text};
        let cases: &[(&str, Format, &str, &[&str])] = &[
            (
                // Prometheus 3 writes `le` in OpenMetrics float form, so
                // `le="1"` from the text format is the same series as
                // OpenMetrics' `le="1.0"`.
                "text histogram",
                Text,
                "# HELP h A histogram.\n# TYPE h histogram\nh_bucket{le=\"0.5\"} 1\nh_bucket{le=\"1\"} 2\nh_bucket{x=\"a\",le=\"1e6\"} 2\nh_bucket{le=\"+Inf\"} 3\nh_sum 4.5\nh_count 3\n",
                &[
                    "h_bucket{le=\"0.5\"} 1",
                    "h_bucket{le=\"1.0\"} 2",
                    "h_bucket{x=\"a\",le=\"1e+06\"} 2",
                    "h_bucket{le=\"+Inf\"} 3",
                    "h_sum{} 4.5",
                    "h_count{} 3",
                ],
            ),
            (
                "text summary",
                Text,
                "# TYPE s summary\ns{quantile=\"0.5\"} 1\ns{quantile=\"1\"} 2\ns{quantile=\"0.99\"} NaN\ns_sum 3\ns_count 2\n",
                &[
                    "s{quantile=\"0.5\"} 1",
                    "s{quantile=\"1.0\"} 2",
                    "s{quantile=\"0.99\"} NaN",
                    "s_sum{} 3",
                    "s_count{} 2",
                ],
            ),
            (
                // Only histograms and summaries are normalised, and the type
                // in force is the last TYPE line's.
                "le of other types",
                Text,
                "# TYPE g gauge\ng{le=\"1\",quantile=\"1\"} 1\nuntyped_after{le=\"1\"} 1\n",
                &["g{le=\"1\",quantile=\"1\"} 1", "untyped_after{le=\"1\"} 1"],
            ),
            (
                // `_created` is an ordinary series unless Prometheus runs the
                // experimental created-timestamp feature; exemplars are
                // parsed and dropped, with or without their timestamp;
                // timestamps are truncated to milliseconds as Go's int64().
                "openmetrics counter",
                Om,
                "# TYPE c counter\n# HELP c A counter.\nc_total 5 # {trace_id=\"abc\"} 1\nc_total{x=\"y\"} 6 1700000000.0019 # {trace_id=\"def\"} 2 1700000000.5\nc_created 1.7e9\n# EOF\n",
                &["c_total{} 5", "c_total{x=\"y\"} 6 @1700000000001", "c_created{} 1700000000"],
            ),
            (
                "openmetrics histogram with exemplars",
                Om,
                "# TYPE req_seconds histogram\n# UNIT req_seconds seconds\n# HELP req_seconds Request time.\nreq_seconds_bucket{le=\"0.1\"} 1 # {trace_id=\"a\"} 0.05 1700000000.123\nreq_seconds_bucket{le=\"1\"} 2 # {} 0.5\nreq_seconds_bucket{le=\"+Inf\"} 2\nreq_seconds_sum 0.55\nreq_seconds_count 2\nreq_seconds_created 1700000000.25\n# EOF\n",
                &[
                    "req_seconds_bucket{le=\"0.1\"} 1",
                    "req_seconds_bucket{le=\"1.0\"} 2",
                    "req_seconds_bucket{le=\"+Inf\"} 2",
                    "req_seconds_sum{} 0.55",
                    "req_seconds_count{} 2",
                    "req_seconds_created{} 1700000000.25",
                ],
            ),
            (
                "openmetrics summary",
                Om,
                "# TYPE rpc summary\nrpc{quantile=\"0.9\"} 3\nrpc{quantile=\"1\"} 4\nrpc_sum 7 123\nrpc_count 2\n# EOF\n",
                &["rpc{quantile=\"0.9\"} 3", "rpc{quantile=\"1.0\"} 4", "rpc_sum{} 7 @123000", "rpc_count{} 2"],
            ),
            (
                // gaugehistogram buckets keep `le` as written.
                "openmetrics info, stateset and gaugehistogram",
                Om,
                "# TYPE build info\nbuild_info{version=\"1.2\"} 1\n# TYPE feature stateset\nfeature{feature=\"a\"} 1\nfeature{feature=\"b\"} 0\n# TYPE queue gaugehistogram\nqueue_bucket{le=\"1\"} 3\nqueue_bucket{le=\"+Inf\"} 5\nqueue_gcount 5\nqueue_gsum 7\n# TYPE u unknown\nu 1\n# EOF\n",
                &[
                    "build_info{version=\"1.2\"} 1",
                    "feature{feature=\"a\"} 1",
                    "feature{feature=\"b\"} 0",
                    "queue_bucket{le=\"1\"} 3",
                    "queue_bucket{le=\"+Inf\"} 5",
                    "queue_gcount{} 5",
                    "queue_gsum{} 7",
                    "u{} 1",
                ],
            ),
        ];
        for (what, format, body, want) in cases {
            assert_eq!(render(body, *format).unwrap_or_else(|e| panic!("{what}: {e}")), *want, "{what}");
        }
    }

    #[test]
    fn openmetrics_metadata_of_every_type() {
        let body = "# TYPE build info\n# HELP build Build facts.\nbuild_info 1\n# TYPE feature stateset\nfeature{feature=\"a\"} 1\n# TYPE queue_bytes gaugehistogram\n# UNIT queue_bytes bytes\nqueue_bytes_gcount 1\n# TYPE c counter\n# UNIT c \nc_total 1\n# EOF\n";
        let parsed = parse(body, Format::OpenMetrics).unwrap();
        type Row<'a> = (&'a str, Option<MetricType>, Option<&'a str>, Option<&'a str>);
        let got: Vec<Row> = parsed.metadata.iter().map(|m| (m.family, m.kind, m.help.as_deref(), m.unit)).collect();
        assert_eq!(
            got,
            [
                ("build", Some(MetricType::Info), Some("Build facts."), None),
                ("feature", Some(MetricType::StateSet), None, None),
                ("queue_bytes", Some(MetricType::GaugeHistogram), None, Some("bytes")),
                ("c", Some(MetricType::Counter), None, Some("")),
            ]
        );
    }

    #[test]
    fn what_prometheus_refuses_in_each_format() {
        use Format::{OpenMetrics as Om, PrometheusText as Text};
        let cases: &[(Format, &str, &str)] = &[
            // Each format has its own type names.
            (Text, "# TYPE x info\nx 1\n", "invalid metric type \"info\""),
            (Text, "# TYPE x unknown\nx 1\n", "invalid metric type \"unknown\""),
            (Om, "# TYPE x untyped\nx 1\n# EOF\n", "invalid metric type \"untyped\""),
            // Prometheus 3 checks a unit against the family name.
            (
                Om,
                "# TYPE x counter\n# UNIT x seconds\nx_total 1\n# EOF\n",
                "unit \"seconds\" not a suffix of metric \"x\"",
            ),
            (Om, "# UNIT xseconds seconds\n# EOF\n", "not a suffix"),
            // OpenMetrics has no free comments; the text format ignores them.
            (Om, "# just a comment\nx 1\n# EOF\n", "comments other than HELP, TYPE, UNIT and EOF"),
            // A malformed exemplar fails the scrape, as in Prometheus.
            (Om, "c_total 1 # not an exemplar\n# EOF\n", "expected an exemplar"),
            (Om, "c_total 1 # {a=\"b\"}\n# EOF\n", "invalid exemplar value"),
            (Om, "c_total 1 # {a=\"b\"} x\n# EOF\n", "invalid exemplar value"),
            (Om, "c_total 1 # {a=\"b\"} 1 NaN\n# EOF\n", "invalid exemplar timestamp"),
            (Om, "c_total 1 # {a=\"b\"} 1 2 3\n# EOF\n", "unexpected text after the exemplar"),
            (Om, "c_total 1 # {a=\"b\" 1\n# EOF\n", "expected ',' or '}'"),
            // The text format has no exemplars.
            (Text, "c_total 1 # {a=\"b\"} 1\n", "unexpected text after the sample"),
        ];
        for (format, body, want) in cases {
            let err = match parse(body, *format) {
                Err(e) => e.to_string(),
                Ok(parsed) => panic!("{body:?} parsed: {:?}", parsed.samples),
            };
            assert!(err.contains(want), "{body:?}: {err}");
        }
        // …while these are fine.
        for body in ["# a plain comment\n# UNIT x seconds\nx 1\n", "#no space\nx 1\n"] {
            assert!(parse(body, Text).is_ok(), "{body:?}");
        }
    }

    #[test]
    fn openmetrics_floats_are_written_as_go_does() {
        let cases = [
            (1.0, "1.0"),
            (0.0, "0.0"),
            (-1.0, "-1.0"),
            (0.5, "0.5"),
            (0.25, "0.25"),
            (100.0, "100.0"),
            (123456.0, "123456.0"),
            (1e6, "1e+06"),
            (2.5e6, "2.5e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (2.5e-7, "2.5e-07"),
            (1.5e300, "1.5e+300"),
            (-0.005, "-0.005"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ];
        for (f, want) in cases {
            assert_eq!(format_openmetrics_float(f), want, "{f}");
        }
    }

    #[test]
    fn borrows_when_no_escapes() {
        let s = one("m{a=\"plain\"}  1", Format::PrometheusText);
        assert_eq!(s.series_text, "m{a=\"plain\"}");
        let (name, labels) = s.series().unwrap();
        assert!(matches!(labels[0].1, Cow::Borrowed(_)));
        assert!(matches!(name, Cow::Borrowed(_)));
    }

    #[test]
    fn content_type_picks_format() {
        assert_eq!(Format::from_content_type("application/openmetrics-text; version=1.0.0"), Format::OpenMetrics);
        assert_eq!(Format::from_content_type("text/plain; version=0.0.4"), Format::PrometheusText);
        assert_eq!(Format::from_content_type(""), Format::PrometheusText);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// No body, however malformed, panics the parser.
            #[test]
            fn never_panics(body in "[a-z_{}=\"\\, #\n0-9.eE+-]{0,80}|\\PC{0,40}") {
                let _ = parse(&body, Format::PrometheusText);
                let _ = parse(&body, Format::OpenMetrics);
            }

            /// Any label value survives escaping and parsing unchanged.
            #[test]
            fn escaped_values_round_trip(value in "\\PC{0,20}", v in -1e9f64..1e9) {
                let escaped = value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
                let body = format!("m{{a=\"{escaped}\"}} {v}\n");
                let samples = parse(&body, Format::PrometheusText).map_err(|e| TestCaseError::fail(format!("{body:?}: {e}")))?.samples;
                prop_assert_eq!(samples.len(), 1);
                let (_, labels) = samples[0].series().map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(labels[0].1.as_ref(), value.as_str());
                prop_assert_eq!(samples[0].value, v);
            }
        }
    }
}
