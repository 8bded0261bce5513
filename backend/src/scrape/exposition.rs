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
}

/// A metric name and its labels, borrowed where no escape forced a copy.
pub type SeriesParts<'a> = (Cow<'a, str>, Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'a> ExposedSample<'a> {
    /// The metric name and labels, in the order written. Fails on a label
    /// name given twice.
    pub fn series(&self) -> Result<SeriesParts<'a>, ExpositionError> {
        let mut parser =
            LineParser { line: self.series_text, pos: 0, line_no: self.line, format: Format::PrometheusText };
        let mut labels = Vec::new();
        let name = parser.parse_name_and_labels(Some(&mut labels))?;
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
    fn parse(text: &str) -> Option<MetricType> {
        Some(match text {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "gaugehistogram" => MetricType::GaugeHistogram,
            "summary" => MetricType::Summary,
            "info" => MetricType::Info,
            "stateset" => MetricType::StateSet,
            // The text format's "untyped" is OpenMetrics' "unknown".
            "untyped" | "unknown" => MetricType::Unknown,
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
            } else {
                parse_descriptor(comment, line_no, format, &mut out.metadata)?;
            }
            continue;
        }
        let sample = LineParser { line, pos: 0, line_no, format }.parse_sample()?;
        out.samples.push(sample);
    }
    merge_split_families(&mut out.metadata);
    Ok(out)
}

/// Parses one sample line on its own (not a comment or a blank line), for
/// readers that stream a large file line by line instead of holding a whole
/// body: the OpenMetrics import. `line_no` is only used in errors.
pub fn parse_sample_line(line: &str, line_no: usize, format: Format) -> Result<ExposedSample<'_>, ExpositionError> {
    LineParser { line, pos: 0, line_no, format }.parse_sample()
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

/// Reads `# HELP`, `# TYPE` and `# UNIT`; other comments are ignored.
fn parse_descriptor<'a>(
    comment: &'a str,
    line_no: usize,
    format: Format,
    metadata: &mut Vec<FamilyMetadata<'a>>,
) -> Result<(), ExpositionError> {
    let Some(rest) = comment.strip_prefix(' ') else { return Ok(()) };
    let (keyword, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    if !matches!(keyword, "HELP" | "TYPE" | "UNIT") {
        return Ok(());
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
            let kind = MetricType::parse(text.trim()).ok_or_else(|| ExpositionError {
                line: line_no,
                column: text_column,
                message: format!("invalid metric type {:?}", text.trim()),
            })?;
            entry.kind = Some(kind);
        }
        _ => entry.unit = Some(text.trim()),
    }
    Ok(())
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
            // An OpenMetrics exemplar: parsed as present, then dropped.
            Some(b'#') if self.format == Format::OpenMetrics => {}
            Some(_) => return Err(self.error("unexpected text after the sample")),
        }
        Ok(ExposedSample { series_text, value, timestamp_ms, line: self.line_no })
    }

    fn parse_timestamp(&self, text: &str) -> Option<i64> {
        match self.format {
            Format::PrometheusText => text.parse().ok(),
            Format::OpenMetrics => {
                let seconds: f64 = text.parse().ok()?;
                let ms = (seconds * 1000.0).round();
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
                    let escaped = match self.line.as_bytes().get(self.pos + 1) {
                        Some(b'\\') => '\\',
                        Some(b'"') => '"',
                        Some(b'n') => '\n',
                        _ => return Err(self.error("invalid escape sequence: only \\\\, \\\" and \\n are allowed")),
                    };
                    buf.push(escaped);
                    self.pos += 2;
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
    }

    #[test]
    fn errors_carry_line_and_column() {
        let cases = [
            ("ok 1\nbad{x=\"1\" 2", 2, 11, "expected ',' or '}'"),
            ("x", 1, 2, "expected a space before the sample value"),
            ("x abc", 1, 3, "invalid sample value"),
            ("x 1 notatime", 1, 5, "invalid timestamp"),
            ("x{y=\"1} 1", 1, 5, "unterminated quoted string"),
            ("x{y=\"\\t\"} 1", 1, 6, "invalid escape sequence"),
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
                    unit: Some("seconds"),
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
