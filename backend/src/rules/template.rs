//! Alert templates: the subset of Go's `text/template` that Prometheus rule
//! labels and annotations use in practice, with Prometheus's functions.
//!
//! Supported: text and `{{ }}` actions with `{{-`/`-}}` trimming and
//! `{{/* comments */}}`; pipelines (`a | f x`); fields (`.Labels.job`,
//! `$labels.job`, `.Value`, `$value`, `$externalLabels.x`, `$externalURL`);
//! variables (`$x := …`, `$x = …`); `if`/`else if`/`else`/`end`,
//! `range` (with `$i, $e :=`) and `with`; string, number, bool and nil
//! constants; Go's builtins `and or not len index print printf println eq
//! ne lt le gt ge`; and Prometheus's `query first label value strvalue
//! sortByLabel reReplaceAll match title toUpper toLower stripPort
//! stripDomain humanize humanize1024 humanizeDuration humanizePercentage
//! humanizeTimestamp now parseDuration urlQueryEscape externalURL
//! pathPrefix`; `{{define}}`, `{{template}}` and `{{block}}`. Anything else
//! (unknown functions, `break`, `continue`) is refused when the template is
//! parsed, with its position, so a bad template is caught when the rule
//! file loads.
//!
//! The same engine runs Alertmanager's notification templates
//! ([`Dialect::Alertmanager`]): Alertmanager's functions instead of
//! Prometheus's (`toUpper toLower title trimSpace join match safeHtml
//! safeUrl reReplaceAll stringSlice date tz now humanizeDuration toJson`,
//! and Go's `urlquery` and `html`), its data ([`NotifyData`]: `.Receiver
//! .Status .Alerts` with `.Firing`/`.Resolved`, each alert's `.Labels
//! .Annotations .StartsAt .EndsAt .GeneratorURL .Fingerprint`, the
//! key/value sets with `.SortedPairs .Names .Values .Remove`, times with
//! `.Format`), templates defined in other files ([`Template::expand_notification`]
//! takes the loaded files as a library; Alertmanager's default names such
//! as `__subject` and `slack.default.title` are rendered in Rust,
//! [`DEFAULT_TEMPLATES`]), and for HTML bodies the escaping
//! of Go's `html/template` in text context (every action's output is
//! escaped unless it comes from `safeHtml`; attribute, URL and script
//! contexts are not told apart).
//!
//! Values print as Go prints them (`{{ $value }}` of 1e6 is `1e+06`), and
//! the humanize functions format exactly as Prometheus's.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use vigil_shared::model::Labels;

/// A parse error: `template: NAME:LINE:COL: message`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("template: {name}:{line}:{column}: {message}")]
pub struct TemplateError {
    pub name: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// A parsed template, ready to expand many times.
#[derive(Debug, Clone)]
pub struct Template {
    name: String,
    source: String,
    nodes: Vec<Node>,
    /// `{{define "name"}}` bodies (and `{{block}}`s).
    defines: BTreeMap<String, Vec<Node>>,
}

/// Which functions and data a template is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Rule labels and annotations (`$labels`, `$value`, `query`, …).
    Prometheus,
    /// Alertmanager notifications (`.Alerts`, `join`, `date`, …).
    Alertmanager,
}

/// What a notification template sees: Alertmanager's `template.Data`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NotifyData {
    pub receiver: String,
    /// `firing` when any alert fires, else `resolved`.
    pub status: String,
    pub alerts: Vec<NotifyAlert>,
    pub group_labels: BTreeMap<String, String>,
    pub common_labels: BTreeMap<String, String>,
    pub common_annotations: BTreeMap<String, String>,
    pub external_url: String,
}

/// One alert of [`NotifyData`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NotifyAlert {
    pub status: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at_ms: i64,
    /// 0 is Go's zero time (unset).
    pub ends_at_ms: i64,
    pub generator_url: String,
    pub fingerprint: String,
}

/// A sample as templates see it: `query` results and `range` elements.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateSample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Runs a PromQL query for the `query` function at the expansion time.
pub type QueryFn<'a> = &'a dyn Fn(&str) -> Result<Vec<TemplateSample>, String>;

/// What an alert template can see.
pub struct AlertData<'a> {
    pub labels: &'a Labels,
    pub external_labels: &'a BTreeMap<String, String>,
    pub external_url: &'a str,
    pub value: f64,
    /// Evaluation time, milliseconds since the epoch (for `now`).
    pub time_ms: i64,
    pub query: Option<QueryFn<'a>>,
}

// ---------------------------------------------------------------------
// Syntax tree

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action {
        pipe: Pipe,
    },
    /// `{{template "name" pipeline}}`.
    Template {
        pos: usize,
        name: String,
        pipe: Option<Pipe>,
    },
    If {
        pipe: Pipe,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
    Range {
        pos: usize,
        pipe: Pipe,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    With {
        pipe: Pipe,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

#[derive(Debug, Clone)]
struct Pipe {
    /// Variables declared (`:=`) or assigned (`=`) by the pipeline.
    vars: Vec<String>,
    assign: bool,
    cmds: Vec<Cmd>,
}

#[derive(Debug, Clone)]
struct Cmd {
    pos: usize,
    args: Vec<Arg>,
}

#[derive(Debug, Clone)]
enum Arg {
    /// `.a.b` (empty chain: the dot itself).
    Field(Vec<String>),
    /// `$x.a.b`.
    Var(String, Vec<String>),
    Func(String),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
    Pipe(Box<Pipe>, Vec<String>),
}

// ---------------------------------------------------------------------
// Values

#[derive(Debug, Clone, PartialEq)]
enum Val {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Map(BTreeMap<String, String>),
    Sample(TemplateSample),
    List(Vec<Val>),
    /// The root of an alert template: `.Labels`, `.ExternalLabels`, `.ExternalURL`, `.Value`.
    Root(Box<RootData>),
    /// Alertmanager's `KV` (labels, annotations): a map with methods.
    Kv(BTreeMap<String, String>),
    /// `KV.SortedPairs`.
    Pairs(Vec<(String, String)>),
    Pair(String, String),
    Alerts(Vec<NotifyAlert>),
    Alert(Box<NotifyAlert>),
    Data(Box<NotifyData>),
    /// A `time.Time`, milliseconds since the epoch, in UTC (0: the zero time).
    Time(i64),
    /// `html/template`'s `HTML`: printed unescaped in HTML bodies.
    Safe(String),
}

#[derive(Debug, Clone, PartialEq)]
struct RootData {
    labels: BTreeMap<String, String>,
    external_labels: BTreeMap<String, String>,
    external_url: String,
    value: f64,
}

impl Val {
    fn type_name(&self) -> &'static str {
        match self {
            Val::Nil => "nil",
            Val::Bool(_) => "bool",
            Val::Int(_) => "int",
            Val::Float(_) => "float64",
            Val::Str(_) => "string",
            Val::Map(_) => "map[string]string",
            Val::Sample(_) => "*template.sample",
            Val::List(_) => "template.queryResult",
            Val::Root(_) => "struct",
            Val::Kv(_) => "template.KV",
            Val::Pairs(_) => "template.Pairs",
            Val::Pair(..) => "template.Pair",
            Val::Alerts(_) => "template.Alerts",
            Val::Alert(_) => "template.Alert",
            Val::Data(_) => "*template.Data",
            Val::Time(_) => "time.Time",
            Val::Safe(_) => "template.HTML",
        }
    }

    /// Go's truth: zero values and empty collections are false.
    fn truth(&self) -> bool {
        match self {
            Val::Nil => false,
            Val::Bool(b) => *b,
            Val::Int(i) => *i != 0,
            Val::Float(f) => *f != 0.0,
            Val::Str(s) => !s.is_empty(),
            Val::Map(m) => !m.is_empty(),
            Val::List(l) => !l.is_empty(),
            Val::Kv(m) => !m.is_empty(),
            Val::Pairs(p) => !p.is_empty(),
            Val::Alerts(a) => !a.is_empty(),
            Val::Safe(s) => !s.is_empty(),
            Val::Sample(_) | Val::Root(_) | Val::Pair(..) | Val::Alert(_) | Val::Data(_) | Val::Time(_) => true,
        }
    }

    /// How `{{ }}` prints a value (Go's `fmt.Print`).
    fn print(&self) -> String {
        match self {
            Val::Nil => "<no value>".to_owned(),
            Val::Bool(b) => b.to_string(),
            Val::Int(i) => i.to_string(),
            Val::Float(f) => go_float(*f, 'g', None),
            Val::Str(s) => s.clone(),
            Val::Map(m) => print_map(m),
            Val::Sample(s) => format!("&{{{} {}}}", print_map(&s.labels), go_float(s.value, 'g', None)),
            Val::List(l) => {
                let items: Vec<String> = l.iter().map(Val::print).collect();
                format!("[{}]", items.join(" "))
            }
            Val::Root(r) => format!(
                "{{{} {} {} {}}}",
                print_map(&r.labels),
                print_map(&r.external_labels),
                r.external_url,
                go_float(r.value, 'g', None)
            ),
            Val::Kv(m) => print_map(m),
            Val::Pairs(p) => {
                let items: Vec<String> = p.iter().map(|(k, v)| format!("{{{k} {v}}}")).collect();
                format!("[{}]", items.join(" "))
            }
            Val::Pair(k, v) => format!("{{{k} {v}}}"),
            Val::Alerts(a) => {
                let items: Vec<String> = a.iter().map(print_alert).collect();
                format!("[{}]", items.join(" "))
            }
            Val::Alert(a) => print_alert(a),
            Val::Data(d) => format!("&{{{} {} {} {}}}", d.receiver, d.status, d.alerts.len(), d.external_url),
            Val::Time(ms) => go_time_format(*ms, "2006-01-02 15:04:05.999999999 -0700 MST"),
            Val::Safe(s) => s.clone(),
        }
    }
}

fn print_alert(a: &NotifyAlert) -> String {
    format!(
        "{{{} {} {} {} {} {} {}}}",
        a.status,
        print_map(&a.labels),
        print_map(&a.annotations),
        go_time_format(a.starts_at_ms, "2006-01-02 15:04:05.999999999 -0700 MST"),
        go_time_format(a.ends_at_ms, "2006-01-02 15:04:05.999999999 -0700 MST"),
        a.generator_url,
        a.fingerprint
    )
}

/// Alertmanager's `KV.SortedPairs`: `alertname` first, the rest by name.
fn sorted_pairs(kv: &BTreeMap<String, String>) -> Vec<(String, String)> {
    let first = kv.get_key_value("alertname").map(|(k, v)| (k.clone(), v.clone()));
    first.into_iter().chain(kv.iter().filter(|(k, _)| *k != "alertname").map(|(k, v)| (k.clone(), v.clone()))).collect()
}

fn print_map(m: &BTreeMap<String, String>) -> String {
    let items: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    format!("map[{}]", items.join(" "))
}

// ---------------------------------------------------------------------
// Functions

/// Go's own template functions, in both dialects.
const GO_BUILTINS: &[&str] = &[
    "and", "or", "not", "len", "index", "print", "printf", "println", "eq", "ne", "lt", "le", "gt", "ge", "urlquery",
    "html",
];

/// Alertmanager's `DefaultFuncs` that Vigil implements.
const ALERTMANAGER_FUNCS: &[&str] = &[
    "toUpper",
    "toLower",
    "title",
    "trimSpace",
    "join",
    "match",
    "safeHtml",
    "safeUrl",
    "reReplaceAll",
    "stringSlice",
    "date",
    "tz",
    "now",
    "humanizeDuration",
    "toJson",
];

/// Alertmanager functions Vigil does not implement yet.
const ALERTMANAGER_UNSUPPORTED: &[&str] = &[
    "since",
    "toDate",
    "mustToDate",
    "base64encode",
    "base64decode",
    "list",
    "append",
    "dict",
    "urlUnescape",
    "routeLabels",
    "js",
    "call",
    "slice",
];

/// Prometheus's template functions.
const PROMETHEUS_FUNCS: &[&str] = &[
    "query",
    "first",
    "label",
    "value",
    "strvalue",
    "sortByLabel",
    "reReplaceAll",
    "match",
    "title",
    "toUpper",
    "toLower",
    "stripPort",
    "stripDomain",
    "humanize",
    "humanize1024",
    "humanizeDuration",
    "humanizePercentage",
    "humanizeTimestamp",
    "now",
    "parseDuration",
    "urlQueryEscape",
    "externalURL",
    "pathPrefix",
    "graphLink",
    "tableLink",
    "safeHtml",
];

/// Prometheus template functions Vigil does not implement (they return Go
/// values with methods: `(now | toTime).Format "2006"`).
const UNSUPPORTED: &[&str] = &["toTime", "toDuration", "args", "tmpl", "js", "call", "slice"];

impl Dialect {
    fn has_function(self, name: &str) -> bool {
        GO_BUILTINS.contains(&name)
            || match self {
                Dialect::Prometheus => PROMETHEUS_FUNCS.contains(&name),
                Dialect::Alertmanager => ALERTMANAGER_FUNCS.contains(&name),
            }
    }

    fn unsupported(self, name: &str) -> bool {
        match self {
            Dialect::Prometheus => UNSUPPORTED.contains(&name),
            Dialect::Alertmanager => ALERTMANAGER_UNSUPPORTED.contains(&name),
        }
    }
}

// ---------------------------------------------------------------------
// Parser

struct Parser<'a> {
    name: &'a str,
    src: &'a str,
    /// The text left to parse, from byte `at`.
    at: usize,
    /// Variables in scope, innermost last.
    vars: Vec<String>,
    /// Whitespace to trim from the start of the next text (set by `-}}`).
    trim_next: bool,
    dialect: Dialect,
    /// How many `if`/`range`/`with` enclose the current position
    /// (`define` is only allowed outside them).
    depth: usize,
    defines: BTreeMap<String, Vec<Node>>,
}

/// How a list of nodes ended.
enum Closer {
    Eof,
    End,
    Else { pos: usize, chained: Option<Box<Pipe>>, keyword: String },
}

impl Template {
    /// Parses `source`; `name` appears in errors (`__alert_Name` for rules).
    /// The variables `$labels`, `$externalLabels`, `$externalURL` and
    /// `$value` are predefined, as Prometheus defines them.
    /// A rule's template stands alone: a `{{template}}` call must name a
    /// `define` of the same text, else it is refused here.
    pub fn parse(name: &str, source: &str) -> Result<Template, TemplateError> {
        let template = Template::parse_dialect(name, source, Dialect::Prometheus)?;
        if let Some((called, line, column)) = template.undefined_calls(&|_| false).into_iter().next() {
            let message = format!("no such template {called:?}");
            return Err(TemplateError { name: name.to_owned(), line, column, message });
        }
        Ok(template)
    }

    /// Parses a template of either dialect (`$` is the only predefined
    /// variable of Alertmanager's).
    pub fn parse_dialect(name: &str, source: &str, dialect: Dialect) -> Result<Template, TemplateError> {
        let vars = match dialect {
            Dialect::Prometheus => {
                ["$", "$labels", "$externalLabels", "$externalURL", "$value"].map(str::to_owned).to_vec()
            }
            Dialect::Alertmanager => vec!["$".to_owned()],
        };
        let mut parser =
            Parser { name, src: source, at: 0, vars, trim_next: false, dialect, depth: 0, defines: BTreeMap::new() };
        let (nodes, end) = parser.nodes()?;
        match end {
            Closer::Eof => {
                Ok(Template { name: name.to_owned(), source: source.to_owned(), nodes, defines: parser.defines })
            }
            Closer::End => Err(parser.error(parser.at, "unexpected {{end}}")),
            Closer::Else { pos, .. } => Err(parser.error(pos, "unexpected {{else}}")),
        }
    }

    /// Expands the template for an alert.
    pub fn expand_alert(&self, data: &AlertData<'_>) -> Result<String, String> {
        let labels: BTreeMap<String, String> = data.labels.iter().map(|l| (l.name.clone(), l.value.clone())).collect();
        let root = RootData {
            labels: labels.clone(),
            external_labels: data.external_labels.clone(),
            external_url: data.external_url.to_owned(),
            value: data.value,
        };
        let dot = Val::Root(Box::new(root));
        let vars = vec![
            ("$".to_owned(), dot.clone()),
            ("$labels".to_owned(), Val::Map(labels)),
            ("$externalLabels".to_owned(), Val::Map(data.external_labels.clone())),
            ("$externalURL".to_owned(), Val::Str(data.external_url.to_owned())),
            ("$value".to_owned(), Val::Float(data.value)),
        ];
        let mut exec = Exec {
            template: self,
            root: self,
            library: &[],
            html: false,
            depth: 0,
            dialect: Dialect::Prometheus,
            vars,
            query: data.query,
            time_ms: data.time_ms,
            out: String::new(),
        };
        exec.nodes(&self.nodes, &dot).map_err(|e| format!("error executing template {}: {e}", self.name))?;
        Ok(exec.out)
    }

    /// Expands a notification template with Alertmanager's data; `library`
    /// holds the loaded template files whose `define`s it may call (later
    /// files win, as Alertmanager parses them in order). `html` escapes
    /// every action's output as `html/template` does in text context.
    pub fn expand_notification(
        &self,
        data: &NotifyData,
        library: &[Template],
        html: bool,
        now_ms: i64,
    ) -> Result<String, String> {
        let dot = Val::Data(Box::new(data.clone()));
        let mut exec = Exec {
            template: self,
            root: self,
            library,
            html,
            depth: 0,
            dialect: Dialect::Alertmanager,
            vars: vec![("$".to_owned(), dot.clone())],
            query: None,
            time_ms: now_ms,
            out: String::new(),
        };
        exec.nodes(&self.nodes, &dot)?;
        Ok(exec.out)
    }

    /// The names this template defines.
    pub fn defined(&self) -> impl Iterator<Item = &str> {
        self.defines.keys().map(String::as_str)
    }

    /// `{{template "name"}}` calls in this template whose name is neither
    /// defined here nor in `known`, with their position (`line`, `column`).
    pub fn undefined_calls(&self, known: &dyn Fn(&str) -> bool) -> Vec<(String, usize, usize)> {
        fn walk(nodes: &[Node], out: &mut Vec<(usize, String)>) {
            for node in nodes {
                match node {
                    Node::Template { pos, name, .. } => out.push((*pos, name.clone())),
                    Node::If { then: a, otherwise: b, .. }
                    | Node::Range { body: a, otherwise: b, .. }
                    | Node::With { body: a, otherwise: b, .. } => {
                        walk(a, out);
                        walk(b, out);
                    }
                    Node::Text(_) | Node::Action { .. } => {}
                }
            }
        }
        let mut calls = Vec::new();
        walk(&self.nodes, &mut calls);
        for body in self.defines.values() {
            walk(body, &mut calls);
        }
        calls.sort();
        calls
            .into_iter()
            .filter(|(_, name)| !self.defines.contains_key(name) && !known(name))
            .map(|(pos, name)| {
                let (line, column) = line_col(&self.source, pos);
                (name, line, column)
            })
            .collect()
    }
}

impl<'a> Parser<'a> {
    fn error(&self, pos: usize, message: impl Into<String>) -> TemplateError {
        let (line, column) = line_col(self.src, pos);
        TemplateError { name: self.name.to_owned(), line, column, message: message.into() }
    }

    fn rest(&self) -> &'a str {
        &self.src[self.at..]
    }

    /// Parses nodes until the end of input, `{{end}}` or `{{else}}`.
    fn nodes(&mut self) -> Result<(Vec<Node>, Closer), TemplateError> {
        let mut nodes = Vec::new();
        loop {
            let rest = self.rest();
            let open = rest.find("{{");
            let mut text = &rest[..open.unwrap_or(rest.len())];
            if std::mem::take(&mut self.trim_next) {
                text = text.trim_start_matches(is_go_space);
            }
            let Some(open) = open else {
                if !text.is_empty() {
                    nodes.push(Node::Text(text.to_owned()));
                }
                self.at = self.src.len();
                return Ok((nodes, Closer::Eof));
            };
            let action_pos = self.at + open;
            let mut inner = self.at + open + 2;
            // `{{- ` trims the whitespace before the action.
            if self.src[inner..].starts_with('-') && self.src[inner + 1..].starts_with(is_go_space) {
                text = text.trim_end_matches(is_go_space);
                inner += 1;
            }
            if !text.is_empty() {
                nodes.push(Node::Text(text.to_owned()));
            }
            self.at = inner;
            let tokens = self.action_tokens(action_pos)?;
            if tokens.is_empty() {
                return Err(self.error(action_pos, "missing value for command"));
            }
            if tokens.len() == 1 && matches!(tokens[0].kind, Tok::Comment) {
                continue;
            }
            let keyword = match &tokens[0].kind {
                Tok::Ident(word) => word.clone(),
                _ => String::new(),
            };
            match keyword.as_str() {
                "end" => {
                    if tokens.len() > 1 {
                        return Err(self.error(tokens[1].pos, "unexpected token in end"));
                    }
                    return Ok((nodes, Closer::End));
                }
                "else" => {
                    let chained = if tokens.len() > 1 {
                        let Tok::Ident(word) = &tokens[1].kind else {
                            return Err(self.error(tokens[1].pos, "unexpected token in else"));
                        };
                        if word != "if" && word != "with" {
                            return Err(self.error(tokens[1].pos, format!("unexpected {word:?} in else")));
                        }
                        Some(Box::new(self.pipeline(&tokens[2..], tokens[1].pos)?))
                    } else {
                        None
                    };
                    let keyword = match tokens.get(1).map(|t| &t.kind) {
                        Some(Tok::Ident(word)) => word.clone(),
                        _ => String::new(),
                    };
                    return Ok((nodes, Closer::Else { pos: action_pos, chained, keyword }));
                }
                "if" | "range" | "with" => {
                    let node = self.control(&keyword, action_pos, &tokens[1..], tokens[0].pos)?;
                    nodes.push(node);
                }
                "define" | "block" => {
                    if keyword == "define" && self.depth > 0 {
                        return Err(self.error(action_pos, "unexpected <define> in command"));
                    }
                    let Some(Token { kind: Tok::Str(name), .. }) = tokens.get(1) else {
                        return Err(self.error(action_pos, format!("missing name in {keyword} clause")));
                    };
                    let name = name.clone();
                    let pipe = if keyword == "block" {
                        if tokens.len() < 3 {
                            return Err(self.error(action_pos, "missing value for command"));
                        }
                        Some(self.pipeline(&tokens[2..], tokens[2].pos)?)
                    } else if tokens.len() > 2 {
                        return Err(self.error(tokens[2].pos, "unexpected token in define clause"));
                    } else {
                        None
                    };
                    // A definition sees only `$` (its own dot).
                    let outer = std::mem::replace(&mut self.vars, vec!["$".to_owned()]);
                    let depth = std::mem::take(&mut self.depth);
                    let (body, end) = self.nodes()?;
                    self.vars = outer;
                    self.depth = depth;
                    match end {
                        Closer::End => {}
                        Closer::Eof => {
                            return Err(
                                self.error(action_pos, format!("unexpected EOF: {{{{{keyword}}}}} has no {{{{end}}}}"))
                            );
                        }
                        Closer::Else { pos, .. } => return Err(self.error(pos, "unexpected {{else}}")),
                    }
                    // As Go: an empty (whitespace) definition does not replace one with content.
                    let empty = body.iter().all(|n| matches!(n, Node::Text(t) if t.trim().is_empty()));
                    if !(empty && self.defines.contains_key(&name)) {
                        self.defines.insert(name.clone(), body);
                    }
                    if keyword == "block" {
                        nodes.push(Node::Template { pos: action_pos, name, pipe });
                    }
                }
                "template" => {
                    let Some(Token { kind: Tok::Str(name), .. }) = tokens.get(1) else {
                        return Err(self.error(action_pos, "missing name in template clause"));
                    };
                    let name = name.clone();
                    let pipe = if tokens.len() > 2 { Some(self.pipeline(&tokens[2..], tokens[2].pos)?) } else { None };
                    nodes.push(Node::Template { pos: action_pos, name, pipe });
                }
                "break" | "continue" => {
                    return Err(
                        self.error(action_pos, format!("{{{{{keyword}}}}} is not supported by Vigil's templates"))
                    );
                }
                _ => {
                    let pipe = self.pipeline(&tokens, action_pos)?;
                    nodes.push(Node::Action { pipe });
                }
            }
        }
    }

    /// `if`, `range` and `with`, with their bodies and `else` branches.
    fn control(&mut self, keyword: &str, pos: usize, tokens: &[Token], kw_pos: usize) -> Result<Node, TemplateError> {
        let scope = self.vars.len();
        let pipe = self.pipeline(tokens, kw_pos)?;
        self.depth += 1;
        let body = self.nodes();
        self.depth -= 1;
        let (body, end) = body?;
        // Variables declared in the pipeline stay visible in the else branch,
        // as in Go; they go out of scope at {{end}}.
        let otherwise = match end {
            Closer::Eof => return Err(self.error(pos, format!("unexpected EOF: {{{{{keyword}}}}} has no {{{{end}}}}"))),
            Closer::End => Vec::new(),
            Closer::Else { pos: else_pos, chained: None, .. } => {
                let (otherwise, end) = self.nodes()?;
                match end {
                    Closer::End => otherwise,
                    Closer::Eof => return Err(self.error(else_pos, "unexpected EOF: {{else}} has no {{end}}")),
                    Closer::Else { pos, .. } => return Err(self.error(pos, "unexpected {{else}} after {{else}}")),
                }
            }
            Closer::Else { pos: else_pos, chained: Some(chained), keyword: chained_kw } => {
                // `{{else if p}}` is `{{else}}{{if p}}…{{end}}` sharing this {{end}}.
                let node = self.chained_else(&chained_kw, else_pos, *chained)?;
                vec![node]
            }
        };
        self.vars.truncate(scope);
        Ok(match keyword {
            "if" => Node::If { pipe, then: body, otherwise },
            "range" => Node::Range { pos, pipe, body, otherwise },
            _ => Node::With { pipe, body, otherwise },
        })
    }

    fn chained_else(&mut self, keyword: &str, pos: usize, pipe: Pipe) -> Result<Node, TemplateError> {
        let (body, end) = self.nodes()?;
        let otherwise = match end {
            Closer::Eof => return Err(self.error(pos, "unexpected EOF: {{else}} has no {{end}}")),
            Closer::End => Vec::new(),
            Closer::Else { chained: None, pos: else_pos, .. } => {
                let (otherwise, end) = self.nodes()?;
                if !matches!(end, Closer::End) {
                    return Err(self.error(else_pos, "expected {{end}}"));
                }
                otherwise
            }
            Closer::Else { chained: Some(chained), keyword: kw, pos } => vec![self.chained_else(&kw, pos, *chained)?],
        };
        Ok(if keyword == "if" {
            Node::If { pipe, then: body, otherwise }
        } else {
            Node::With { pipe, body, otherwise }
        })
    }

    /// Reads the tokens of one action up to `}}`, handling `-}}`.
    fn action_tokens(&mut self, action_pos: usize) -> Result<Vec<Token>, TemplateError> {
        let mut tokens = Vec::new();
        let bytes = self.src.as_bytes();
        loop {
            while self.at < bytes.len() && is_go_space(bytes[self.at] as char) {
                // ` -}}` ends the action and trims what follows.
                if self.src[self.at + 1..].starts_with("-}}") {
                    self.at += 4;
                    self.trim_next = true;
                    return Ok(tokens);
                }
                self.at += 1;
            }
            let rest = self.rest();
            if rest.is_empty() {
                return Err(self.error(action_pos, "unclosed action"));
            }
            if rest.starts_with("}}") {
                self.at += 2;
                return Ok(tokens);
            }
            let pos = self.at;
            let c = rest.chars().next().unwrap_or(' ');
            let (kind, len) = if let Some(after) = rest.strip_prefix("/*") {
                let Some(end) = after.find("*/") else {
                    return Err(self.error(pos, "unclosed comment"));
                };
                (Tok::Comment, end + 4)
            } else if c == '"' {
                let (s, len) = self.quoted(rest, pos)?;
                (Tok::Str(s), len)
            } else if c == '`' {
                let Some(end) = rest[1..].find('`') else {
                    return Err(self.error(pos, "unterminated raw quoted string"));
                };
                (Tok::Str(rest[1..1 + end].to_owned()), end + 2)
            } else if c == '|' {
                (Tok::Pipe, 1)
            } else if c == '(' {
                (Tok::Open, 1)
            } else if c == ')' {
                (Tok::Close, 1)
            } else if c == ',' {
                (Tok::Comma, 1)
            } else if rest.starts_with(":=") {
                (Tok::Declare, 2)
            } else if c == '=' {
                (Tok::Assign, 1)
            } else if c == '$' || c == '.' && !rest[1..].starts_with(|c: char| c.is_ascii_digit()) {
                let len = rest[1..]
                    .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
                    .map_or(rest.len(), |i| i + 1);
                let word = &rest[..len];
                let (head, fields) = split_fields(word);
                if fields.iter().any(String::is_empty) && word != "." {
                    return Err(self.error(pos, format!("bad field or variable {word:?}")));
                }
                if c == '$' { (Tok::Var(head.to_owned(), fields), len) } else { (Tok::Field(fields), len) }
            } else if c.is_ascii_digit() || ((c == '-' || c == '+' || c == '.') && rest.len() > 1) {
                let len = rest.find(|c: char| !(c.is_ascii_alphanumeric() || "+-._".contains(c))).unwrap_or(rest.len());
                // A sign is only part of a number right at its start.
                let mut len = len;
                if let Some(i) = rest[1..len].find(['+', '-']) {
                    let prev = rest.as_bytes()[i];
                    if !(prev == b'e' || prev == b'E') {
                        len = i + 1;
                    }
                }
                let text = &rest[..len];
                (number_token(text).ok_or_else(|| self.error(pos, format!("bad number syntax: {text:?}")))?, len)
            } else if c.is_alphabetic() || c == '_' {
                let len = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
                (Tok::Ident(rest[..len].to_owned()), len)
            } else {
                return Err(self.error(pos, format!("unexpected {c:?} in command")));
            };
            self.at += len;
            tokens.push(Token { pos, kind });
        }
    }

    fn quoted(&self, rest: &str, pos: usize) -> Result<(String, usize), TemplateError> {
        let mut out = String::new();
        let mut chars = rest.char_indices().skip(1);
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => return Ok((out, i + 1)),
                '\n' => break,
                '\\' => match chars.next().map(|(_, c)| c) {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some('r') => out.push('\r'),
                    Some('\\') => out.push('\\'),
                    Some('"') => out.push('"'),
                    Some('\'') => out.push('\''),
                    Some(other) => return Err(self.error(pos, format!("invalid escape \\{other} in string"))),
                    None => break,
                },
                c => out.push(c),
            }
        }
        Err(self.error(pos, "unterminated quoted string"))
    }

    /// A pipeline: optional declarations, then commands separated by `|`.
    fn pipeline(&mut self, tokens: &[Token], pos: usize) -> Result<Pipe, TemplateError> {
        let mut tokens = tokens;
        let mut vars = Vec::new();
        let mut assign = false;
        // `$x :=`, `$x =` or (range) `$i, $e :=`.
        let decl_end = tokens.iter().position(|t| matches!(t.kind, Tok::Declare | Tok::Assign));
        if let Some(end) = decl_end {
            let names: Vec<&Token> = tokens[..end].iter().filter(|t| !matches!(t.kind, Tok::Comma)).collect();
            let all_vars = names.iter().all(|t| matches!(&t.kind, Tok::Var(_, f) if f.is_empty()));
            if all_vars && !names.is_empty() && names.len() <= 2 {
                assign = matches!(tokens[end].kind, Tok::Assign);
                for t in names {
                    if let Tok::Var(name, _) = &t.kind {
                        if assign && !self.vars.contains(name) {
                            return Err(self.error(t.pos, format!("undefined variable: {name}")));
                        }
                        vars.push(name.clone());
                    }
                }
                tokens = &tokens[end + 1..];
            }
        }
        let cmds = self.commands(tokens, pos)?;
        if cmds.is_empty() {
            return Err(self.error(pos, "missing value for command"));
        }
        if !assign {
            self.vars.extend(vars.iter().cloned());
        }
        Ok(Pipe { vars, assign, cmds })
    }

    fn commands(&self, tokens: &[Token], pos: usize) -> Result<Vec<Cmd>, TemplateError> {
        let mut cmds = Vec::new();
        let mut i = 0;
        let mut cmd = Cmd { pos: tokens.first().map_or(pos, |t| t.pos), args: Vec::new() };
        while i < tokens.len() {
            let t = &tokens[i];
            match &t.kind {
                Tok::Pipe => {
                    if cmd.args.is_empty() {
                        return Err(self.error(t.pos, "missing command before |"));
                    }
                    cmds.push(std::mem::replace(&mut cmd, Cmd { pos: t.pos + 1, args: Vec::new() }));
                    i += 1;
                    continue;
                }
                Tok::Open => {
                    let close = matching_close(tokens, i).ok_or_else(|| self.error(t.pos, "unclosed left paren"))?;
                    let inner = self.commands(&tokens[i + 1..close], t.pos)?;
                    if inner.is_empty() {
                        return Err(self.error(t.pos, "missing value for parenthesized pipeline"));
                    }
                    let pipe = Pipe { vars: Vec::new(), assign: false, cmds: inner };
                    cmd.args.push(Arg::Pipe(Box::new(pipe), Vec::new()));
                    i = close + 1;
                    // `(…).Field`
                    if let Some(Token { kind: Tok::Field(fields), .. }) = tokens.get(i)
                        && !fields.is_empty()
                        && let Some(Arg::Pipe(_, chain)) = cmd.args.last_mut()
                    {
                        *chain = fields.clone();
                        i += 1;
                    }
                    continue;
                }
                Tok::Close => return Err(self.error(t.pos, "unexpected right paren")),
                Tok::Comma | Tok::Declare | Tok::Assign => {
                    return Err(self.error(t.pos, "unexpected token in command"));
                }
                Tok::Comment => return Err(self.error(t.pos, "comment must be the whole action")),
                Tok::Str(s) => cmd.args.push(Arg::Str(s.clone())),
                Tok::Int(n) => cmd.args.push(Arg::Int(*n)),
                Tok::Float(f) => cmd.args.push(Arg::Float(*f)),
                Tok::Field(fields) => cmd.args.push(Arg::Field(fields.clone())),
                Tok::Var(name, fields) => {
                    if !self.vars.contains(name) {
                        return Err(self.error(t.pos, format!("undefined variable \"{name}\"")));
                    }
                    cmd.args.push(Arg::Var(name.clone(), fields.clone()));
                }
                Tok::Ident(word) => match word.as_str() {
                    "true" => cmd.args.push(Arg::Bool(true)),
                    "false" => cmd.args.push(Arg::Bool(false)),
                    "nil" => cmd.args.push(Arg::Nil),
                    "if" | "else" | "end" | "range" | "with" | "define" | "template" | "block" => {
                        return Err(self.error(t.pos, format!("unexpected <{word}> in command")));
                    }
                    name if self.dialect.has_function(name) => cmd.args.push(Arg::Func(name.to_owned())),
                    name if self.dialect.unsupported(name) => {
                        return Err(
                            self.error(t.pos, format!("function {name:?} is not supported by Vigil's templates"))
                        );
                    }
                    name => return Err(self.error(t.pos, format!("function {name:?} not defined"))),
                },
            }
            i += 1;
        }
        if !cmd.args.is_empty() {
            cmds.push(cmd);
        } else if !cmds.is_empty() {
            return Err(self.error(cmd.pos, "missing command after |"));
        }
        for (n, cmd) in cmds.iter().enumerate() {
            // A method (`.Labels.Remove`, `.StartsAt.Format`) takes arguments
            // too; whether the last field is one is known when it runs.
            let method = matches!(&cmd.args[0], Arg::Field(c) | Arg::Var(_, c) | Arg::Pipe(_, c) if !c.is_empty());
            if n > 0 && !matches!(cmd.args[0], Arg::Func(_)) && !method {
                return Err(self.error(cmd.pos, "non executable command in pipeline stage"));
            }
            if cmd.args.len() > 1 && !matches!(cmd.args[0], Arg::Func(_)) && !method {
                return Err(self.error(cmd.pos, "can't give argument to non-function"));
            }
        }
        Ok(cmds)
    }
}

fn matching_close(tokens: &[Token], open: usize) -> Option<usize> {
    let mut depth = 0;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        match t.kind {
            Tok::Open => depth += 1,
            Tok::Close => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

fn split_fields(word: &str) -> (&str, Vec<String>) {
    let mut parts = word.split('.');
    let head = parts.next().unwrap_or("");
    let fields: Vec<String> = parts.map(str::to_owned).collect();
    if word == "." { (head, Vec::new()) } else { (head, fields) }
}

fn number_token(text: &str) -> Option<Tok> {
    let clean = text.replace('_', "");
    let (neg, digits) = match clean.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean)),
    };
    let int = if let Some(hex) = digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        i64::from_str_radix(hex, 16).ok()
    } else if digits.len() > 1 && digits.starts_with('0') && digits.bytes().all(|b| b.is_ascii_digit()) {
        i64::from_str_radix(&digits[1..], 8).ok()
    } else {
        digits.parse::<i64>().ok()
    };
    if let Some(n) = int {
        return Some(Tok::Int(if neg { -n } else { n }));
    }
    let f: f64 = digits.parse().ok()?;
    Some(Tok::Float(if neg { -f } else { f }))
}

fn is_go_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let before = &src[..pos.min(src.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.chars().count(), |i| before[i + 1..].chars().count()) + 1;
    (line, column)
}

#[derive(Debug, Clone)]
struct Token {
    pos: usize,
    kind: Tok,
}

#[derive(Debug, Clone)]
enum Tok {
    Ident(String),
    Field(Vec<String>),
    Var(String, Vec<String>),
    Str(String),
    Int(i64),
    Float(f64),
    Pipe,
    Open,
    Close,
    Comma,
    Declare,
    Assign,
    Comment,
}

// ---------------------------------------------------------------------
// Execution

struct Exec<'a> {
    /// The template whose nodes run now (for positions in errors).
    template: &'a Template,
    /// The template being expanded, whose `define`s come first.
    root: &'a Template,
    /// Other templates whose `define`s may be called.
    library: &'a [Template],
    /// Escape actions' output for HTML.
    html: bool,
    /// Nested `{{template}}` calls.
    depth: usize,
    /// Where `title`, `now` and `safeHtml` differ.
    dialect: Dialect,
    vars: Vec<(String, Val)>,
    query: Option<QueryFn<'a>>,
    time_ms: i64,
    out: String,
}

impl<'a> Exec<'a> {
    fn at(&self, pos: usize, message: String) -> String {
        let (line, column) = line_col(&self.template.source, pos);
        format!("template: {0}:{line}:{column}: executing \"{0}\": {message}", self.template.name)
    }

    fn nodes(&mut self, nodes: &[Node], dot: &Val) -> Result<(), String> {
        for node in nodes {
            match node {
                Node::Text(text) if self.html => self.out.push_str(&html_text(text)),
                Node::Text(text) => self.out.push_str(text),
                Node::Action { pipe, .. } => {
                    let value = self.pipe(pipe, dot)?;
                    if pipe.vars.is_empty() {
                        match value {
                            Val::Safe(s) => self.out.push_str(&s),
                            value if self.html => self.out.push_str(&html_escape(&value.print(), true)),
                            value => self.out.push_str(&value.print()),
                        }
                    }
                }
                Node::Template { pos, name, pipe } => {
                    let value = match pipe {
                        Some(pipe) => {
                            let scope = self.vars.len();
                            let value = self.pipe(pipe, dot)?;
                            self.vars.truncate(scope);
                            value
                        }
                        None => Val::Nil,
                    };
                    let Some((owner, body)) = self.lookup(name) else {
                        if self.dialect == Dialect::Alertmanager
                            && let Some(text) = default_template(name, &value)
                        {
                            let text = text.map_err(|e| self.at(*pos, e))?;
                            self.out.push_str(&if self.html { html_escape(&text, true) } else { text });
                            continue;
                        }
                        return Err(self.at(*pos, format!("no such template {name:?}")));
                    };
                    // Go allows 100000; Vigil's stack is the limit here.
                    if self.depth >= 200 {
                        return Err(self.at(*pos, "exceeded maximum template depth (200)".to_owned()));
                    }
                    let vars = std::mem::replace(&mut self.vars, vec![("$".to_owned(), value.clone())]);
                    let caller = std::mem::replace(&mut self.template, owner);
                    self.depth += 1;
                    let result = self.nodes(body, &value);
                    self.depth -= 1;
                    self.template = caller;
                    self.vars = vars;
                    result?;
                }
                Node::If { pipe, then, otherwise, .. } => {
                    let scope = self.vars.len();
                    let value = self.pipe(pipe, dot)?;
                    let branch = if value.truth() { then } else { otherwise };
                    self.nodes(branch, dot)?;
                    self.vars.truncate(scope);
                }
                Node::With { pipe, body, otherwise, .. } => {
                    let scope = self.vars.len();
                    let value = self.pipe(pipe, dot)?;
                    if value.truth() {
                        self.nodes(body, &value)?;
                    } else {
                        self.nodes(otherwise, dot)?;
                    }
                    self.vars.truncate(scope);
                }
                Node::Range { pos, pipe, body, otherwise } => {
                    let scope = self.vars.len();
                    let decl = Pipe { vars: Vec::new(), ..pipe.clone() };
                    let value = self.pipe(&decl, dot)?;
                    let items: Vec<(Val, Val)> = match value {
                        Val::List(items) => {
                            items.into_iter().enumerate().map(|(i, v)| (Val::Int(i as i64), v)).collect()
                        }
                        Val::Map(m) | Val::Kv(m) => m.into_iter().map(|(k, v)| (Val::Str(k), Val::Str(v))).collect(),
                        Val::Pairs(p) => {
                            p.into_iter().enumerate().map(|(i, (k, v))| (Val::Int(i as i64), Val::Pair(k, v))).collect()
                        }
                        Val::Alerts(a) => a
                            .into_iter()
                            .enumerate()
                            .map(|(i, a)| (Val::Int(i as i64), Val::Alert(Box::new(a))))
                            .collect(),
                        Val::Int(n) => (0..n.max(0)).map(|i| (Val::Int(i), Val::Int(i))).collect(),
                        Val::Nil => Vec::new(),
                        other => {
                            return Err(self.at(*pos, format!("range can't iterate over {}", other.print())));
                        }
                    };
                    if items.is_empty() {
                        self.nodes(otherwise, dot)?;
                    }
                    for (key, item) in items {
                        let inner = self.vars.len();
                        match pipe.vars.as_slice() {
                            [one] => self.vars.push((one.clone(), item.clone())),
                            [k, v] => {
                                self.vars.push((k.clone(), key));
                                self.vars.push((v.clone(), item.clone()));
                            }
                            _ => {}
                        }
                        self.nodes(body, &item)?;
                        self.vars.truncate(inner);
                    }
                    self.vars.truncate(scope);
                }
            }
        }
        Ok(())
    }

    fn pipe(&mut self, pipe: &Pipe, dot: &Val) -> Result<Val, String> {
        let mut value: Option<Val> = None;
        for cmd in &pipe.cmds {
            value = Some(self.cmd(cmd, dot, value)?);
        }
        let value = value.unwrap_or(Val::Nil);
        for name in &pipe.vars {
            if pipe.assign {
                if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    slot.1 = value.clone();
                }
            } else {
                self.vars.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    /// A defined template: the root's own, then the library's (last first).
    fn lookup(&self, name: &str) -> Option<(&'a Template, &'a [Node])> {
        let root: &'a Template = self.root;
        std::iter::once(root)
            .chain(self.library.iter().rev())
            .find_map(|t| t.defines.get(name).map(|body| (t, body.as_slice())))
    }

    fn var(&self, name: &str) -> Val {
        self.vars.iter().rev().find(|(n, _)| n == name).map_or(Val::Nil, |(_, v)| v.clone())
    }

    fn arg(&mut self, arg: &Arg, dot: &Val, pos: usize) -> Result<Val, String> {
        match arg {
            Arg::Field(chain) => self.fields(dot.clone(), chain, pos),
            Arg::Var(name, chain) => self.fields(self.var(name), chain, pos),
            Arg::Str(s) => Ok(Val::Str(s.clone())),
            Arg::Int(n) => Ok(Val::Int(*n)),
            Arg::Float(f) => Ok(Val::Float(*f)),
            Arg::Bool(b) => Ok(Val::Bool(*b)),
            Arg::Nil => Ok(Val::Nil),
            Arg::Pipe(pipe, chain) => {
                let value = self.pipe(pipe, dot)?;
                self.fields(value, chain, pos)
            }
            Arg::Func(name) => self.call(name, Vec::new(), pos),
        }
    }

    fn fields(&self, mut value: Val, chain: &[String], pos: usize) -> Result<Val, String> {
        for field in chain {
            value = match value {
                // missingkey=zero: a missing label is the empty string.
                Val::Map(m) => Val::Str(m.get(field).cloned().unwrap_or_default()),
                Val::Sample(s) if field == "Labels" => Val::Map(s.labels),
                Val::Sample(s) if field == "Value" => Val::Float(s.value),
                Val::Root(r) => match field.as_str() {
                    "Labels" => Val::Map(r.labels),
                    "ExternalLabels" => Val::Map(r.external_labels),
                    "ExternalURL" => Val::Str(r.external_url),
                    "Value" => Val::Float(r.value),
                    _ => return Err(self.at(pos, format!("can't evaluate field {field} in type struct"))),
                },
                Val::Kv(m) => match field.as_str() {
                    "SortedPairs" => Val::Pairs(sorted_pairs(&m)),
                    "Names" => Val::List(sorted_pairs(&m).into_iter().map(|(k, _)| Val::Str(k)).collect()),
                    "Values" => Val::List(sorted_pairs(&m).into_iter().map(|(_, v)| Val::Str(v)).collect()),
                    "Remove" => return Err(self.at(pos, "wrong number of args for Remove: want 1 got 0".to_owned())),
                    _ => Val::Str(m.get(field).cloned().unwrap_or_default()),
                },
                Val::Pairs(p) => match field.as_str() {
                    "Names" => Val::List(p.into_iter().map(|(k, _)| Val::Str(k)).collect()),
                    "Values" => Val::List(p.into_iter().map(|(_, v)| Val::Str(v)).collect()),
                    _ => return Err(self.at(pos, format!("can't evaluate field {field} in type template.Pairs"))),
                },
                Val::Pair(k, v) => match field.as_str() {
                    "Name" => Val::Str(k),
                    "Value" => Val::Str(v),
                    _ => return Err(self.at(pos, format!("can't evaluate field {field} in type template.Pair"))),
                },
                Val::Alerts(a) => match field.as_str() {
                    "Firing" => Val::Alerts(a.into_iter().filter(|a| a.status == "firing").collect()),
                    "Resolved" => Val::Alerts(a.into_iter().filter(|a| a.status == "resolved").collect()),
                    _ => return Err(self.at(pos, format!("can't evaluate field {field} in type template.Alerts"))),
                },
                Val::Alert(a) => match field.as_str() {
                    "Status" => Val::Str(a.status),
                    "Labels" => Val::Kv(a.labels),
                    "Annotations" => Val::Kv(a.annotations),
                    "StartsAt" => Val::Time(a.starts_at_ms),
                    "EndsAt" => Val::Time(a.ends_at_ms),
                    "GeneratorURL" => Val::Str(a.generator_url),
                    "Fingerprint" => Val::Str(a.fingerprint),
                    _ => return Err(self.at(pos, format!("can't evaluate field {field} in type template.Alert"))),
                },
                Val::Data(d) => match field.as_str() {
                    "Receiver" => Val::Str(d.receiver),
                    "Status" => Val::Str(d.status),
                    "Alerts" => Val::Alerts(d.alerts),
                    "GroupLabels" => Val::Kv(d.group_labels),
                    "CommonLabels" => Val::Kv(d.common_labels),
                    "CommonAnnotations" => Val::Kv(d.common_annotations),
                    "ExternalURL" => Val::Str(d.external_url),
                    _ => return Err(self.at(pos, format!("can't evaluate field {field} in type *template.Data"))),
                },
                Val::Time(ms) => match field.as_str() {
                    "Unix" => Val::Int(if ms == 0 { -62_135_596_800 } else { ms.div_euclid(1000) }),
                    "UTC" | "Local" => Val::Time(ms),
                    "Format" => return Err(self.at(pos, "wrong number of args for Format: want 1 got 0".to_owned())),
                    _ => return Err(self.at(pos, format!("can't evaluate field {field} in type time.Time"))),
                },
                Val::Nil => return Err(self.at(pos, format!("nil pointer evaluating <nil>.{field}"))),
                other => {
                    return Err(self.at(pos, format!("can't evaluate field {field} in type {}", other.type_name())));
                }
            };
        }
        Ok(value)
    }

    /// A method with arguments: `KV.Remove` and `Time.Format`.
    fn method(&self, receiver: Val, name: &str, args: Vec<Val>, pos: usize) -> Result<Val, String> {
        match (receiver, name, args.as_slice()) {
            (Val::Kv(m), "Remove", [Val::List(keys)]) => {
                let keys: Vec<String> = keys.iter().map(string_arg).collect();
                Ok(Val::Kv(m.into_iter().filter(|(k, _)| !keys.contains(k)).collect()))
            }
            (Val::Time(ms), "Format", [Val::Str(layout)]) => Ok(Val::Str(go_time_format(ms, layout))),
            (receiver, name, args) => {
                Err(self
                    .at(pos, format!("can't call {name} with {} args on type {}", args.len(), receiver.type_name())))
            }
        }
    }

    fn cmd(&mut self, cmd: &Cmd, dot: &Val, piped: Option<Val>) -> Result<Val, String> {
        let Arg::Func(name) = &cmd.args[0] else {
            let method = match &cmd.args[0] {
                Arg::Field(chain) | Arg::Var(_, chain) | Arg::Pipe(_, chain) => chain.last().cloned(),
                _ => None,
            };
            if let Some(method) = method.filter(|_| cmd.args.len() > 1 || piped.is_some()) {
                let receiver = match &cmd.args[0] {
                    Arg::Field(chain) => self.fields(dot.clone(), &chain[..chain.len() - 1], cmd.pos)?,
                    Arg::Var(name, chain) => self.fields(self.var(name), &chain[..chain.len() - 1], cmd.pos)?,
                    Arg::Pipe(pipe, chain) => {
                        let value = self.pipe(pipe, dot)?;
                        self.fields(value, &chain[..chain.len() - 1], cmd.pos)?
                    }
                    _ => Val::Nil,
                };
                let mut args = Vec::with_capacity(cmd.args.len());
                for arg in &cmd.args[1..] {
                    args.push(self.arg(arg, dot, cmd.pos)?);
                }
                args.extend(piped);
                return self.method(receiver, &method, args, cmd.pos);
            }
            if cmd.args.len() > 1 || piped.is_some() {
                return Err(self.at(cmd.pos, "can't give argument to non-function".to_owned()));
            }
            return self.arg(&cmd.args[0], dot, cmd.pos);
        };
        // `and` and `or` short-circuit.
        if name == "and" || name == "or" {
            let mut last = Val::Nil;
            let args: Vec<&Arg> = cmd.args[1..].iter().collect();
            if args.is_empty() && piped.is_none() {
                return Err(self.at(cmd.pos, format!("wrong number of args for {name}: want at least 1 got 0")));
            }
            for arg in args {
                last = self.arg(arg, dot, cmd.pos)?;
                if last.truth() == (name == "or") {
                    return Ok(last);
                }
            }
            if let Some(p) = piped {
                last = p;
            }
            return Ok(last);
        }
        let mut args = Vec::with_capacity(cmd.args.len());
        for arg in &cmd.args[1..] {
            args.push(self.arg(arg, dot, cmd.pos)?);
        }
        if let Some(p) = piped {
            args.push(p);
        }
        self.call(name, args, cmd.pos)
    }

    fn call(&mut self, name: &str, args: Vec<Val>, pos: usize) -> Result<Val, String> {
        let at = |message: String| self.at(pos, format!("error calling {name}: {message}"));
        let want = |n: usize| -> Result<(), String> {
            if args.len() == n {
                Ok(())
            } else {
                Err(self.at(pos, format!("wrong number of args for {name}: want {n} got {}", args.len())))
            }
        };
        let value = match name {
            "not" => {
                want(1)?;
                Val::Bool(!args[0].truth())
            }
            "len" => {
                want(1)?;
                match &args[0] {
                    Val::Str(s) => Val::Int(s.len() as i64),
                    Val::Map(m) | Val::Kv(m) => Val::Int(m.len() as i64),
                    Val::List(l) => Val::Int(l.len() as i64),
                    Val::Pairs(p) => Val::Int(p.len() as i64),
                    Val::Alerts(a) => Val::Int(a.len() as i64),
                    other => return Err(at(format!("len of type {}", other.type_name()))),
                }
            }
            "index" => {
                if args.is_empty() {
                    return Err(self.at(pos, "wrong number of args for index: want at least 1 got 0".to_owned()));
                }
                let mut value = args[0].clone();
                for key in &args[1..] {
                    value = match (value, key) {
                        (Val::Map(m) | Val::Kv(m), Val::Str(k)) => Val::Str(m.get(k).cloned().unwrap_or_default()),
                        (Val::Alerts(a), Val::Int(i)) => a
                            .get(usize::try_from(*i).unwrap_or(usize::MAX))
                            .cloned()
                            .map(|a| Val::Alert(Box::new(a)))
                            .ok_or_else(|| at(format!("index out of range: {i}")))?,
                        (Val::List(l), Val::Int(i)) => l
                            .get(usize::try_from(*i).unwrap_or(usize::MAX))
                            .cloned()
                            .ok_or_else(|| at(format!("index out of range: {i}")))?,
                        (v, _) => return Err(at(format!("can't index item of type {}", v.type_name()))),
                    };
                }
                value
            }
            "print" => Val::Str(go_sprint(&args)),
            "println" => {
                let items: Vec<String> = args.iter().map(Val::print).collect();
                Val::Str(items.join(" ") + "\n")
            }
            "printf" => {
                let Some(Val::Str(format)) = args.first() else {
                    return Err(at("printf needs a format string".to_owned()));
                };
                Val::Str(go_sprintf(format, &args[1..]))
            }
            "eq" | "ne" | "lt" | "le" | "gt" | "ge" => Val::Bool(compare(name, &args).map_err(at)?),
            "query" => {
                want(1)?;
                let Val::Str(q) = &args[0] else { return Err(at("query needs a string".to_owned())) };
                let Some(query) = self.query else { return Err(at("queries are not available here".to_owned())) };
                Val::List(query(q).map_err(at)?.into_iter().map(Val::Sample).collect())
            }
            "first" => {
                want(1)?;
                match &args[0] {
                    Val::List(l) => {
                        l.first().cloned().ok_or_else(|| at("first() called on vector with no elements".to_owned()))?
                    }
                    other => {
                        return Err(at(format!(
                            "wrong type for value; expected template.queryResult; got {}",
                            other.type_name()
                        )));
                    }
                }
            }
            "label" => {
                want(2)?;
                match (&args[0], &args[1]) {
                    (Val::Str(label), Val::Sample(s)) => Val::Str(s.labels.get(label).cloned().unwrap_or_default()),
                    _ => return Err(at("label needs a label name and a sample".to_owned())),
                }
            }
            "value" => {
                want(1)?;
                match &args[0] {
                    Val::Sample(s) => Val::Float(s.value),
                    other => {
                        return Err(at(format!(
                            "wrong type for value; expected *template.sample; got {}",
                            other.type_name()
                        )));
                    }
                }
            }
            "strvalue" => {
                want(1)?;
                match &args[0] {
                    Val::Sample(s) => Val::Str(s.labels.get("__value__").cloned().unwrap_or_default()),
                    other => {
                        return Err(at(format!(
                            "wrong type for value; expected *template.sample; got {}",
                            other.type_name()
                        )));
                    }
                }
            }
            "sortByLabel" => {
                want(2)?;
                match (&args[0], &args[1]) {
                    (Val::Str(label), Val::List(l)) => {
                        let mut l = l.clone();
                        let key = |v: &Val| match v {
                            Val::Sample(s) => s.labels.get(label).cloned().unwrap_or_default(),
                            _ => String::new(),
                        };
                        l.sort_by_key(key);
                        Val::List(l)
                    }
                    _ => return Err(at("sortByLabel needs a label name and a query result".to_owned())),
                }
            }
            "reReplaceAll" => {
                want(3)?;
                let [pattern, replacement, text] = [&args[0], &args[1], &args[2]].map(string_arg);
                let re = regex::Regex::new(&pattern).map_err(|e| at(e.to_string()))?;
                Val::Str(re.replace_all(&text, go_replacement(&replacement).as_str()).into_owned())
            }
            "match" => {
                want(2)?;
                let re = regex::Regex::new(&string_arg(&args[0])).map_err(|e| at(e.to_string()))?;
                Val::Bool(re.is_match(&string_arg(&args[1])))
            }
            "title" => {
                want(1)?;
                let text = string_arg(&args[0]);
                Val::Str(if self.dialect == Dialect::Alertmanager { title_cased(&text) } else { title(&text) })
            }
            "trimSpace" => {
                want(1)?;
                Val::Str(string_arg(&args[0]).trim().to_owned())
            }
            "join" => {
                want(2)?;
                match &args[1] {
                    Val::List(items) => {
                        Val::Str(items.iter().map(string_arg).collect::<Vec<_>>().join(&string_arg(&args[0])))
                    }
                    other => {
                        return Err(at(format!("wrong type for value; expected []string; got {}", other.type_name())));
                    }
                }
            }
            "stringSlice" => Val::List(args.iter().map(|a| Val::Str(string_arg(a))).collect()),
            "safeUrl" => {
                want(1)?;
                Val::Safe(string_arg(&args[0]))
            }
            "date" => {
                want(2)?;
                match (&args[0], &args[1]) {
                    (Val::Str(layout), Val::Time(ms)) => Val::Str(go_time_format(*ms, layout)),
                    (_, other) => {
                        return Err(at(format!("wrong type for value; expected time.Time; got {}", other.type_name())));
                    }
                }
            }
            "tz" => {
                want(2)?;
                match (&args[0], &args[1]) {
                    (Val::Str(zone), Val::Time(ms)) if zone == "UTC" || zone.is_empty() => Val::Time(*ms),
                    (Val::Str(zone), Val::Time(_)) => {
                        return Err(at(format!("unknown time zone {zone} (Vigil's templates know only UTC)")));
                    }
                    (_, other) => {
                        return Err(at(format!("wrong type for value; expected time.Time; got {}", other.type_name())));
                    }
                }
            }
            "toJson" => {
                want(1)?;
                Val::Str(to_json(&args[0]).to_string())
            }
            "urlquery" => Val::Str(url_query_escape(&go_sprint(&args))),
            "html" => Val::Str(html_escape(&go_sprint(&args), false)),
            "toUpper" => {
                want(1)?;
                Val::Str(string_arg(&args[0]).to_uppercase())
            }
            "toLower" => {
                want(1)?;
                Val::Str(string_arg(&args[0]).to_lowercase())
            }
            "stripPort" => {
                want(1)?;
                let s = string_arg(&args[0]);
                Val::Str(split_host_port(&s).map_or(s.clone(), |(h, _)| h))
            }
            "stripDomain" => {
                want(1)?;
                Val::Str(strip_domain(&string_arg(&args[0])))
            }
            "humanize" | "humanize1024" | "humanizeDuration" | "humanizePercentage" | "humanizeTimestamp" => {
                want(1)?;
                let v = to_float(&args[0]).map_err(at)?;
                Val::Str(
                    match name {
                        "humanize" => Ok(humanize(v)),
                        "humanize1024" => Ok(humanize1024(v)),
                        "humanizeDuration" => Ok(humanize_duration(v)),
                        "humanizePercentage" => Ok(humanize_percentage(v)),
                        _ => humanize_timestamp(v),
                    }
                    .map_err(at)?,
                )
            }
            "now" => {
                want(0)?;
                if self.dialect == Dialect::Alertmanager {
                    Val::Time(self.time_ms)
                } else {
                    Val::Float(self.time_ms as f64 / 1000.0)
                }
            }
            "parseDuration" => {
                want(1)?;
                let s = string_arg(&args[0]);
                let (neg, body) = match s.strip_prefix('-') {
                    Some(b) => (true, b),
                    None => (false, s.as_str()),
                };
                let ms = vigil_shared::promql::lexer::parse_duration_ms(body)
                    .ok_or_else(|| at(format!("not a valid duration string: {s:?}")))?;
                Val::Float(if neg { -(ms as f64) } else { ms as f64 } / 1000.0)
            }
            "urlQueryEscape" => {
                want(1)?;
                Val::Str(url_query_escape(&string_arg(&args[0])))
            }
            "externalURL" => Val::Str(self.var("$externalURL").print()),
            "graphLink" | "tableLink" => {
                want(1)?;
                let tab = if name == "graphLink" { 0 } else { 1 };
                Val::Str(format!("/graph?g0.expr={}&g0.tab={tab}", url_query_escape(&string_arg(&args[0]))))
            }
            "safeHtml" => {
                want(1)?;
                if self.dialect == Dialect::Alertmanager {
                    Val::Safe(string_arg(&args[0]))
                } else {
                    Val::Str(string_arg(&args[0]))
                }
            }
            "pathPrefix" => Val::Str(String::new()),
            other => return Err(self.at(pos, format!("function {other:?} not defined"))),
        };
        Ok(value)
    }
}

/// Go's `template.HTMLEscapeString` (`+` too, as `html/template` escapes
/// in text context when `plus` is set).
fn html_escape(s: &str, plus: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => out.push('\u{FFFD}'),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '+' if plus => out.push_str("&#43;"),
            c => out.push(c),
        }
    }
    out
}

/// Alertmanager's default template names that Vigil renders itself (it
/// ships no copy of Alertmanager's template file): a configuration that
/// calls `{{ template "slack.default.title" . }}` works. Files may
/// redefine them; their `define` wins.
pub const DEFAULT_TEMPLATES: &[&str] = &[
    "__alertmanager",
    "__alertmanagerURL",
    "__subject",
    "__description",
    "__text_alert_list",
    "slack.default.title",
    "slack.default.username",
    "slack.default.fallback",
    "slack.default.callbackid",
    "slack.default.pretext",
    "slack.default.titlelink",
    "slack.default.iconemoji",
    "slack.default.iconurl",
    "slack.default.text",
    "slack.default.footer",
    "slack.default.color",
    "pagerduty.default.description",
    "pagerduty.default.client",
    "pagerduty.default.clientURL",
    "pagerduty.default.instances",
    "email.default.subject",
];

/// What a default template prints for `dot`; None for other names.
fn default_template(name: &str, dot: &Val) -> Option<Result<String, String>> {
    if !DEFAULT_TEMPLATES.contains(&name) {
        return None;
    }
    let data = |dot: &Val| match dot {
        Val::Data(d) => Ok(d.as_ref().clone()),
        other => Err(format!("template {name:?} needs the notification data, not {}", other.type_name())),
    };
    let url = |d: &NotifyData| format!("{}/#/alerts?receiver={}", d.external_url, url_query_escape(&d.receiver));
    Some(match name {
        "__alertmanager" | "slack.default.username" | "pagerduty.default.client" => Ok("Alertmanager".to_owned()),
        "__alertmanagerURL" | "slack.default.titlelink" | "pagerduty.default.clientURL" => data(dot).map(|d| url(&d)),
        "__subject" | "slack.default.title" | "pagerduty.default.description" | "email.default.subject" => {
            data(dot).map(|d| notification_subject(&d))
        }
        "slack.default.fallback" => data(dot).map(|d| format!("{} | {}", notification_subject(&d), url(&d))),
        "slack.default.color" => data(dot).map(|d| if d.status == "firing" { "danger" } else { "good" }.to_owned()),
        "__text_alert_list" | "pagerduty.default.instances" => match dot {
            Val::Alerts(alerts) => Ok(text_alert_list(alerts)),
            other => Err(format!("template {name:?} needs a list of alerts, not {}", other.type_name())),
        },
        // The empty ones: descriptions, pretext, icons, footer, callback id.
        _ => Ok(String::new()),
    })
}

/// Alertmanager's `__subject`: `[FIRING:2] <group label values> (<other
/// common label values>)`, or `[RESOLVED] …`.
pub fn notification_subject(d: &NotifyData) -> String {
    let values = |kv: &BTreeMap<String, String>| -> String {
        sorted_pairs(kv).into_iter().map(|(_, v)| v).collect::<Vec<_>>().join(" ")
    };
    let mut out = format!("[{}", d.status.to_uppercase());
    if d.status == "firing" {
        let _ = write!(out, ":{}", d.alerts.iter().filter(|a| a.status == "firing").count());
    }
    let _ = write!(out, "] {} ", values(&d.group_labels));
    if d.common_labels.len() > d.group_labels.len() {
        let rest: BTreeMap<String, String> = d
            .common_labels
            .iter()
            .filter(|(k, _)| !d.group_labels.contains_key(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let _ = write!(out, "({})", values(&rest));
    }
    out
}

/// Alertmanager's `__text_alert_list`: each alert's labels, annotations
/// and source.
pub fn text_alert_list(alerts: &[NotifyAlert]) -> String {
    let mut out = String::new();
    for a in alerts {
        out.push_str("Labels:\n");
        for (k, v) in sorted_pairs(&a.labels) {
            let _ = writeln!(out, " - {k} = {v}");
        }
        out.push_str("Annotations:\n");
        for (k, v) in sorted_pairs(&a.annotations) {
            let _ = writeln!(out, " - {k} = {v}");
        }
        let _ = writeln!(out, "Source: {}", a.generator_url);
    }
    out
}

/// The template's own text in an HTML body: as `html/template`, a `<`
/// that starts no tag (not followed by a letter, `/` or `!` in the same
/// text) is written `&lt;`.
fn html_text(text: &str) -> std::borrow::Cow<'_, str> {
    let starts_tag = |rest: &str| rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/' || c == '!');
    if !text.char_indices().any(|(i, c)| c == '<' && !starts_tag(&text[i + 1..])) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 4);
    for (i, c) in text.char_indices() {
        if c == '<' && !starts_tag(&text[i + 1..]) {
            out.push_str("&lt;");
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// `golang.org/x/text/cases.Title`: the first letter of each word upper
/// case, the rest lower case (Alertmanager's `title`).
fn title_cased(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_word = false;
    for c in s.chars() {
        if c.is_alphanumeric() || (in_word && c == '\'') {
            if in_word {
                out.extend(c.to_lowercase());
            } else {
                out.extend(c.to_uppercase());
            }
            in_word = true;
        } else {
            out.push(c);
            in_word = false;
        }
    }
    out
}

/// `encoding/json` of a template value.
fn to_json(v: &Val) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Val::Nil => J::Null,
        Val::Bool(b) => J::Bool(*b),
        Val::Int(i) => J::from(*i),
        Val::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        Val::Str(s) | Val::Safe(s) => J::String(s.clone()),
        Val::Map(m) | Val::Kv(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), J::String(v.clone()))).collect()),
        Val::List(l) => J::Array(l.iter().map(to_json).collect()),
        Val::Pairs(p) => J::Array(p.iter().map(|(k, v)| serde_json::json!({"Name": k, "Value": v})).collect()),
        Val::Pair(k, v) => serde_json::json!({"Name": k, "Value": v}),
        Val::Time(ms) => J::String(go_time_format(*ms, "2006-01-02T15:04:05.999999999Z07:00")),
        Val::Alerts(a) => J::Array(a.iter().map(|a| to_json(&Val::Alert(Box::new(a.clone())))).collect()),
        Val::Alert(a) => serde_json::json!({
            "status": a.status,
            "labels": a.labels,
            "annotations": a.annotations,
            "startsAt": go_time_format(a.starts_at_ms, "2006-01-02T15:04:05.999999999Z07:00"),
            "endsAt": go_time_format(a.ends_at_ms, "2006-01-02T15:04:05.999999999Z07:00"),
            "generatorURL": a.generator_url,
            "fingerprint": a.fingerprint,
        }),
        Val::Data(d) => serde_json::json!({
            "receiver": d.receiver,
            "status": d.status,
            "alerts": to_json(&Val::Alerts(d.alerts.clone())),
            "groupLabels": d.group_labels,
            "commonLabels": d.common_labels,
            "commonAnnotations": d.common_annotations,
            "externalURL": d.external_url,
        }),
        Val::Sample(s) => serde_json::json!({"Labels": s.labels, "Value": s.value}),
        Val::Root(_) => J::String(v.print()),
    }
}

/// Go's `time.Time.Format` in UTC (0 is the zero time, year 1): the layout
/// elements of the reference time `Mon Jan 2 15:04:05 MST 2006`.
pub fn go_time_format(ms: i64, layout: &str) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const DAYS: [&str; 7] = ["Thursday", "Friday", "Saturday", "Sunday", "Monday", "Tuesday", "Wednesday"];
    // The zero time.Time is 0001-01-01 00:00:00 UTC.
    let ms = if ms == 0 { -62_135_596_800_000 } else { ms };
    let (secs, millis) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = crate::api::params::civil_from_days(days);
    let (hour, minute, second) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let month_name = MONTHS[(month - 1).clamp(0, 11) as usize];
    let weekday = DAYS[days.rem_euclid(7) as usize];
    let nanos = format!("{:09}", millis * 1_000_000);
    let hour12 = if hour % 12 == 0 { 12 } else { hour % 12 };
    // Longest elements first where one is a prefix of another.
    let elements: &[(&str, String)] = &[
        ("January", month_name.to_owned()),
        ("Jan", month_name[..3].to_owned()),
        ("Monday", weekday.to_owned()),
        ("Mon", weekday[..3].to_owned()),
        ("MST", "UTC".to_owned()),
        ("2006", format!("{year:04}")),
        ("-07:00:00", "+00:00:00".to_owned()),
        ("-0700", "+0000".to_owned()),
        ("-07:00", "+00:00".to_owned()),
        ("-07", "+00".to_owned()),
        ("Z07:00:00", "Z".to_owned()),
        ("Z0700", "Z".to_owned()),
        ("Z07:00", "Z".to_owned()),
        ("Z07", "Z".to_owned()),
        ("01", format!("{month:02}")),
        ("02", format!("{day:02}")),
        ("_2", format!("{day:>2}")),
        ("03", format!("{hour12:02}")),
        ("04", format!("{minute:02}")),
        ("05", format!("{second:02}")),
        ("06", format!("{:02}", year % 100)),
        ("15", format!("{hour:02}")),
        ("PM", if hour >= 12 { "PM" } else { "AM" }.to_owned()),
        ("pm", if hour >= 12 { "pm" } else { "am" }.to_owned()),
        ("1", month.to_string()),
        ("2", day.to_string()),
        ("3", hour12.to_string()),
        ("4", minute.to_string()),
        ("5", second.to_string()),
    ];
    let mut out = String::new();
    let mut rest = layout;
    'outer: while !rest.is_empty() {
        // Fractional seconds: `.000` (fixed) or `.999` (trailing zeros cut).
        for sep in ['.', ','] {
            if let Some(after) = rest.strip_prefix(sep) {
                let zeros = after.bytes().take_while(|&b| b == b'0').count();
                let nines = after.bytes().take_while(|&b| b == b'9').count();
                let digits = zeros.max(nines);
                let ends_number = !after[digits..].starts_with(|c: char| c.is_ascii_digit());
                if digits > 0 && ends_number {
                    let fraction = &nanos[..digits.min(9)];
                    if zeros > 0 {
                        out.push(sep);
                        out.push_str(fraction);
                    } else {
                        let trimmed = fraction.trim_end_matches('0');
                        if !trimmed.is_empty() {
                            out.push(sep);
                            out.push_str(trimmed);
                        }
                    }
                    rest = &after[digits..];
                    continue 'outer;
                }
            }
        }
        for (element, value) in elements {
            if let Some(after) = rest.strip_prefix(element) {
                out.push_str(value);
                rest = after;
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

fn string_arg(v: &Val) -> String {
    match v {
        Val::Str(s) => s.clone(),
        other => other.print(),
    }
}

/// Go's `ConvertToFloat`: floats, integers and numeric strings.
fn to_float(v: &Val) -> Result<f64, String> {
    match v {
        Val::Float(f) => Ok(*f),
        Val::Int(i) => Ok(*i as f64),
        Val::Str(s) => parse_go_float(s).ok_or_else(|| format!("strconv.ParseFloat: parsing {s:?}: invalid syntax")),
        other => Err(format!("can't convert {} to float", other.type_name())),
    }
}

fn parse_go_float(s: &str) -> Option<f64> {
    match s.to_ascii_lowercase().trim_start_matches('+') {
        "inf" | "infinity" => return Some(f64::INFINITY),
        "-inf" | "-infinity" => return Some(f64::NEG_INFINITY),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    s.replace('_', "").parse().ok()
}

/// Go's `eq`/`ne`/`lt`/`le`/`gt`/`ge`: values of one basic kind only
/// (`gt $value 1` is an error; write `1.0`).
fn compare(op: &str, args: &[Val]) -> Result<bool, String> {
    if args.len() < 2 {
        return Err("missing argument for comparison".to_owned());
    }
    if (op != "eq") && args.len() != 2 {
        return Err(format!("wrong number of args for {op}: want 2 got {}", args.len()));
    }
    let cmp = |a: &Val, b: &Val| -> Result<Option<std::cmp::Ordering>, String> {
        match (a, b) {
            (Val::Int(x), Val::Int(y)) => Ok(Some(x.cmp(y))),
            (Val::Float(x), Val::Float(y)) => Ok(x.partial_cmp(y)),
            (Val::Str(x), Val::Str(y)) => Ok(Some(x.cmp(y))),
            (Val::Bool(x), Val::Bool(y)) if op == "eq" || op == "ne" => Ok(Some(x.cmp(y))),
            (Val::Nil, _) | (_, Val::Nil) if op == "eq" || op == "ne" => {
                Ok(Some(if a == b { std::cmp::Ordering::Equal } else { std::cmp::Ordering::Less }))
            }
            (a, b) if std::mem::discriminant(a) != std::mem::discriminant(b) => {
                Err("incompatible types for comparison".to_owned())
            }
            _ => Err("invalid type for comparison".to_owned()),
        }
    };
    use std::cmp::Ordering::*;
    Ok(match op {
        "eq" => {
            for other in &args[1..] {
                if cmp(&args[0], other)? == Some(Equal) {
                    return Ok(true);
                }
            }
            false
        }
        "ne" => cmp(&args[0], &args[1])? != Some(Equal),
        "lt" => cmp(&args[0], &args[1])? == Some(Less),
        "le" => matches!(cmp(&args[0], &args[1])?, Some(Less | Equal)),
        "gt" => cmp(&args[0], &args[1])? == Some(Greater),
        _ => matches!(cmp(&args[0], &args[1])?, Some(Greater | Equal)),
    })
}

/// Go's `fmt.Sprint`: spaces between operands when neither is a string.
fn go_sprint(args: &[Val]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !matches!(a, Val::Str(_)) && !matches!(args[i - 1], Val::Str(_)) {
            out.push(' ');
        }
        out.push_str(&a.print());
    }
    out
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%s %v %d %f %e %g %q %x
/// %X %o %b %t %%`, with flags `-+0 `, width and precision.
fn go_sprintf(format: &str, args: &[Val]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let (mut minus, mut plus, mut zero, mut space) = (false, false, false, false);
        while let Some(&f) = chars.peek() {
            match f {
                '-' => minus = true,
                '+' => plus = true,
                '0' => zero = true,
                ' ' => space = true,
                _ => break,
            }
            chars.next();
        }
        let mut width = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        let mut precision: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                chars.next();
            }
            precision = Some(p.parse().unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.next() else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        let bad = |arg: &Val| format!("%!{verb}({}={})", arg.type_name(), arg.print());
        let mut body = match (verb, arg) {
            ('v', Val::Float(f)) | ('g', Val::Float(f)) => go_float(*f, 'g', precision),
            ('e', Val::Float(f)) => go_float(*f, 'e', Some(precision.unwrap_or(6))),
            ('f', Val::Float(f)) | ('F', Val::Float(f)) => go_float(*f, 'f', Some(precision.unwrap_or(6))),
            ('d', Val::Int(i)) | ('v', Val::Int(i)) => i.to_string(),
            ('x', Val::Int(i)) => format!("{i:x}"),
            ('X', Val::Int(i)) => format!("{i:X}"),
            ('o', Val::Int(i)) => format!("{i:o}"),
            ('b', Val::Int(i)) => format!("{i:b}"),
            ('X', Val::Str(s)) => s.bytes().map(|b| format!("{b:02X}")).collect(),
            ('x', Val::Str(s)) => s.bytes().map(|b| format!("{b:02x}")).collect(),
            ('s', Val::Str(s)) | ('v', Val::Str(s)) => match precision {
                Some(p) => s.chars().take(p).collect(),
                None => s.clone(),
            },
            ('q', Val::Str(s)) => format!("{s:?}"),
            ('t', Val::Bool(b)) | ('v', Val::Bool(b)) => b.to_string(),
            ('v', other) | ('s', other @ (Val::Map(_) | Val::List(_) | Val::Sample(_))) => other.print(),
            (_, other) => bad(other),
        };
        let numeric = matches!(arg, Val::Float(_) | Val::Int(_)) && !body.starts_with("%!");
        if numeric && !body.starts_with('-') && !body.starts_with('+') {
            if plus {
                body.insert(0, '+');
            } else if space {
                body.insert(0, ' ');
            }
        }
        let width: usize = width.parse().unwrap_or(0);
        let len = body.chars().count();
        if len < width {
            let pad = width - len;
            if minus {
                body.push_str(&" ".repeat(pad));
            } else if zero && numeric {
                let sign = usize::from(body.starts_with(['-', '+', ' ']));
                body.insert_str(sign, &"0".repeat(pad));
            } else {
                body.insert_str(0, &" ".repeat(pad));
            }
        }
        out.push_str(&body);
    }
    let extra: Vec<&Val> = args.collect();
    if !extra.is_empty() {
        let items: Vec<String> = extra.iter().map(|a| format!("{}={}", a.type_name(), a.print())).collect();
        let _ = write!(out, "%!(EXTRA {})", items.join(", "));
    }
    out
}

/// Go's `$1`/`${name}` replacement syntax, turned into the regex crate's.
fn go_replacement(repl: &str) -> String {
    // Both use `$1` and `${1}`; Go, like the regex crate, takes the longest
    // name after `$`, so the syntax carries over as is.
    repl.to_owned()
}

/// `cases.Title(language.AmericanEnglish, cases.NoLower)`: the first letter
/// of every word in upper case, the rest untouched.
///
/// Words follow Unicode's word boundaries closely enough for labels: `_`
/// joins, and `.`, `:` and apostrophes between letters do not split
/// (`host.example.com` is one word).
fn title(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for (i, &c) in chars.iter().enumerate() {
        let word_char = c.is_alphanumeric() || c == '_';
        if start && word_char {
            out.extend(c.to_uppercase());
            start = false;
            continue;
        }
        out.push(c);
        let joins = matches!(c, '.' | ':' | '\'' | '’')
            && i > 0
            && chars[i - 1].is_alphanumeric()
            && chars.get(i + 1).is_some_and(|n| n.is_alphanumeric());
        if !word_char && !joins {
            start = true;
        }
    }
    out
}

/// Go's `net.SplitHostPort`.
fn split_host_port(s: &str) -> Option<(String, String)> {
    if let Some(rest) = s.strip_prefix('[') {
        let end = rest.find(']')?;
        let host = &rest[..end];
        let port = rest[end + 1..].strip_prefix(':')?;
        if port.contains(':') || host.contains('[') {
            return None;
        }
        return Some((host.to_owned(), port.to_owned()));
    }
    let colon = s.rfind(':')?;
    let (host, port) = (&s[..colon], &s[colon + 1..]);
    if host.contains(':') {
        return None;
    }
    Some((host.to_owned(), port.to_owned()))
}

fn strip_domain(s: &str) -> String {
    let (host, port) = split_host_port(s).unwrap_or_else(|| (s.to_owned(), String::new()));
    if host.parse::<std::net::IpAddr>().is_ok() {
        return s.to_owned();
    }
    let short = host.split('.').next().unwrap_or("").to_owned();
    if port.is_empty() {
        short
    } else if short.contains(':') {
        format!("[{short}]:{port}")
    } else {
        format!("{short}:{port}")
    }
}

fn url_query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            b => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

// ---------------------------------------------------------------------
// Prometheus's humanize functions

/// `humanize`: SI prefixes, four significant digits.
pub fn humanize(mut v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return go_float(v, 'g', Some(4));
    }
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", go_float(v, 'g', Some(4)))
}

/// `humanize1024`: binary prefixes, four significant digits.
pub fn humanize1024(mut v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return go_float(v, 'g', Some(4));
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", go_float(v, 'g', Some(4)))
}

/// `humanizeDuration`: seconds as `1d 2h 3m 4s`, or `1.5s`, `100ms`.
pub fn humanize_duration(mut v: f64) -> String {
    if !v.is_finite() {
        return go_float(v, 'g', Some(4));
    }
    if v == 0.0 {
        return format!("{}s", go_float(v, 'g', Some(4)));
    }
    if v.abs() >= 1.0 {
        let mut sign = "";
        if v < 0.0 {
            sign = "-";
            v = -v;
        }
        let duration = v as i64;
        let (seconds, minutes, hours, days) =
            (duration % 60, (duration / 60) % 60, (duration / 3600) % 24, duration / 86_400);
        return if days != 0 {
            format!("{sign}{days}d {hours}h {minutes}m {seconds}s")
        } else if hours != 0 {
            format!("{sign}{hours}h {minutes}m {seconds}s")
        } else if minutes != 0 {
            format!("{sign}{minutes}m {seconds}s")
        } else {
            format!("{sign}{}s", go_float(v, 'g', Some(4)))
        };
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", go_float(v, 'g', Some(4)))
}

/// `humanizePercentage`: a ratio as a percentage.
pub fn humanize_percentage(v: f64) -> String {
    format!("{}%", go_float(v * 100.0, 'g', Some(4)))
}

/// `humanizeTimestamp`: Unix seconds as Go prints a UTC time.
pub fn humanize_timestamp(v: f64) -> Result<String, String> {
    if !v.is_finite() {
        return Ok(go_float(v, 'g', Some(4)));
    }
    let ns = v * 1e9;
    if ns > i64::MAX as f64 || ns < i64::MIN as f64 {
        return Err(format!(
            "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
            go_float(v, 'g', None)
        ));
    }
    let ns = ns as i64;
    let secs = ns.div_euclid(1_000_000_000);
    let frac = ns.rem_euclid(1_000_000_000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let mut out = format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", rem / 3600, rem / 60 % 60, rem % 60);
    if frac != 0 {
        let digits = format!("{frac:09}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out.push_str(" +0000 UTC");
    Ok(out)
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Go's float formatting: `'g'` (`%v` when `precision` is None, `%.Ng`
/// otherwise), `'e'` and `'f'` with a precision.
pub fn go_float(v: f64, verb: char, precision: Option<usize>) -> String {
    if v.is_nan() {
        return "NaN".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    match verb {
        'f' => format!("{v:.*}", precision.unwrap_or(6)),
        'e' => match precision {
            Some(p) => {
                let (neg, digits, exp) = decimal_digits(v, Some(p + 1));
                format_e(neg, &digits, exp, p)
            }
            // Shortest round-trip digits (`strconv.FormatFloat(v, 'e', -1, 64)`).
            None => {
                let (neg, digits, exp) = decimal_digits(v, None);
                format_e(neg, &digits, exp, digits.len() - 1)
            }
        },
        _ => {
            let shortest = precision.is_none();
            let prec = precision.map(|p| p.max(1));
            let (neg, digits, exp) = decimal_digits(v, prec);
            // `digits` has no trailing zeros; `dp` is where the point goes.
            let nd = digits.len() as i64;
            let dp = exp + 1;
            let mut eprec = prec.map_or(nd, |p| p as i64);
            if eprec > nd && nd >= dp {
                eprec = nd;
            }
            if shortest {
                eprec = 6;
            }
            if exp < -4 || exp >= eprec {
                let p = prec.map_or(nd, |p| (p as i64).min(nd));
                format_e(neg, &digits, exp, (p - 1).max(0) as usize)
            } else {
                let p = prec.map_or(nd, |p| p as i64);
                let p = if p > dp { nd } else { p };
                format_f(neg, &digits, dp, (p - dp).max(0) as usize)
            }
        }
    }
}

/// The significant digits of `v` (rounded to `precision` digits, or the
/// shortest that round-trip), trailing zeros removed, and its exponent.
fn decimal_digits(v: f64, precision: Option<usize>) -> (bool, String, i64) {
    let text = match precision {
        Some(p) => format!("{:.*e}", p.saturating_sub(1), v.abs()),
        None => format!("{:e}", v.abs()),
    };
    let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
    let mut digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    let exp: i64 = exp.parse().unwrap_or(0);
    if digits == "0" {
        return (v.is_sign_negative(), digits, 0);
    }
    (v.is_sign_negative(), digits, exp)
}

fn format_e(neg: bool, digits: &str, exp: i64, frac_digits: usize) -> String {
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    out.push_str(&digits[..1]);
    if frac_digits > 0 {
        out.push('.');
        let rest = &digits[1..];
        out.push_str(&rest[..rest.len().min(frac_digits)]);
        for _ in rest.len()..frac_digits {
            out.push('0');
        }
    }
    let exp = if digits == "0" { 0 } else { exp };
    let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    out
}

fn format_f(neg: bool, digits: &str, dp: i64, frac_digits: usize) -> String {
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    let digit = |i: i64| -> char {
        if i >= 0 && (i as usize) < digits.len() { digits.as_bytes()[i as usize] as char } else { '0' }
    };
    if dp > 0 {
        for i in 0..dp {
            out.push(digit(i));
        }
    } else {
        out.push('0');
    }
    if frac_digits > 0 {
        out.push('.');
        for i in 0..frac_digits as i64 {
            out.push(digit(dp + i));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(text: &str, labels: &[(&str, &str)], value: f64) -> Result<String, String> {
        let labels = Labels::from_pairs(labels.iter().copied());
        let external = BTreeMap::from([("cluster".to_owned(), "eu1".to_owned())]);
        let query = |q: &str| -> Result<Vec<TemplateSample>, String> {
            match q {
                "up" => Ok(vec![
                    TemplateSample {
                        labels: BTreeMap::from([
                            ("job".to_owned(), "b".to_owned()),
                            ("instance".to_owned(), "y:1".to_owned()),
                        ]),
                        value: 0.0,
                    },
                    TemplateSample {
                        labels: BTreeMap::from([
                            ("job".to_owned(), "a".to_owned()),
                            ("instance".to_owned(), "x:1".to_owned()),
                        ]),
                        value: 1.0,
                    },
                ]),
                "none" => Ok(Vec::new()),
                _ => Err(format!("bad query {q}")),
            }
        };
        let template = Template::parse("__alert_Test", text).map_err(|e| e.to_string())?;
        template.expand_alert(&AlertData {
            labels: &labels,
            external_labels: &external,
            external_url: "http://vigil:9090",
            value,
            time_ms: 1_353_755_652_000,
            query: Some(&query),
        })
    }

    #[test]
    fn expands_prometheus_alert_templates() {
        let labels = [("instance", "host:9100"), ("job", "node"), ("__name__", "up")];
        let cases: &[(&str, f64, &str)] = &[
            ("plain text", 0.0, "plain text"),
            ("{{ 1 }}", 0.0, "1"),
            ("{{ $labels.instance }} down", 0.0, "host:9100 down"),
            // Prometheus's `define`/`template`/`block`: the called template's dot is the argument.
            ("{{ define \"i\" }}<{{ .job }}>{{ end }}{{ template \"i\" $labels }}", 0.0, "<node>"),
            ("{{ block \"b\" $value }}[{{ . }}]{{ end }}", 2.5, "[2.5]"),
            ("{{ .Labels.job }}/{{ $labels.missing }}.", 0.0, "node/."),
            ("{{ $value }}", 1e6, "1e+06"),
            ("{{ $value }}", 0.5, "0.5"),
            ("{{ .Value }}", 123456.0, "123456"),
            ("{{ $value }}", 1234567.0, "1.234567e+06"),
            ("{{ $externalLabels.cluster }} {{ $externalURL }}", 0.0, "eu1 http://vigil:9090"),
            ("{{ $value | humanize }}", 1234567.0, "1.235M"),
            ("{{ humanize $value }}", 0.12, "120m"),
            ("{{ $value | humanizePercentage }}", 0.1234567, "12.35%"),
            ("{{ printf \"%.2f\" $value }}", 3.14659, "3.15"),
            ("{{ printf \"%s=%d %v %f\" \"a\" 3 $value $value }}", 1.5, "a=3 1.5 1.500000"),
            ("{{ printf \"%5.1f|%-4s|%04d\" 2.25 \"x\" 7 }}", 0.0, "  2.2|x   |0007"),
            ("{{ \"aa bb CC\" | title }} {{ \"aB\" | toUpper }} {{ \"aB\" | toLower }}", 0.0, "Aa Bb CC AB ab"),
            ("{{ title \"host.example.com don't x_y a-b\" }}", 0.0, "Host.example.com Don't X_y A-B"),
            ("{{ if gt $value 1.0 }}high{{ else }}low{{ end }}", 2.0, "high"),
            ("{{ if gt $value 1.0 }}high{{ else if eq $value 1.0 }}one{{ else }}low{{ end }}", 1.0, "one"),
            ("{{ if eq $labels.job \"node\" \"x\" }}yes{{ end }}", 0.0, "yes"),
            ("{{ if ne .Labels.job \"node\" }}yes{{ else }}no{{ end }}", 0.0, "no"),
            ("{{ if and (lt 1 2) (not false) }}ok{{ end }}", 0.0, "ok"),
            ("{{ query \"up\" | first | value }}", 0.0, "0"),
            ("{{ with query \"up\" }}{{ . | first | label \"job\" }}{{ end }}", 0.0, "b"),
            ("{{ range query \"up\" }}{{ .Labels.job }} {{ .Value }};{{ end }}", 0.0, "b 0;a 1;"),
            ("{{ range query \"up\" | sortByLabel \"job\" }}{{ .Labels.job }}{{ end }}", 0.0, "ab"),
            (
                "{{ range $i, $s := query \"up\" }}{{ $i }}={{ $s.Labels.instance | stripPort }} {{ end }}",
                0.0,
                "0=y 1=x ",
            ),
            ("{{ range query \"none\" }}x{{ else }}empty{{ end }}", 0.0, "empty"),
            ("{{ len (query \"up\") }}", 0.0, "2"),
            ("{{ $x := \"a\" }}{{ $x = \"b\" }}{{ $x }}", 0.0, "b"),
            ("{{ reReplaceAll \"(a)b\" \"x$1\" \"ab\" }}", 0.0, "xa"),
            ("{{ match \"a+\" \"aa\" }} {{ match \"a+\" \"b\" }}", 0.0, "true false"),
            ("a  {{- \" b \" -}}  c", 0.0, "a b c"),
            ("{{/* comment */}}x", 0.0, "x"),
            ("{{ index $labels \"job\" }}", 0.0, "node"),
            (
                "{{ \"foo.example.com:12345\" | stripPort }} {{ \"[2001:0DB8::1]:12345\" | stripPort }}",
                0.0,
                "foo.example.com 2001:0DB8::1",
            ),
            ("{{ \"foo.example.com:12345\" | stripDomain }}", 0.0, "foo:12345"),
            ("{{ now }}", 0.0, "1.353755652e+09"),
            ("{{ \"1h\" | parseDuration }}", 0.0, "3600"),
            ("{{ print 1 2 \"a\" }}", 0.0, "1 2a"),
            (
                "{{ graphLink \"up\" }} {{ tableLink \"rate(x[5m])\" }}",
                0.0,
                "/graph?g0.expr=up&g0.tab=0 /graph?g0.expr=rate%28x%5B5m%5D%29&g0.tab=1",
            ),
        ];
        for (text, value, want) in cases {
            assert_eq!(expand(text, &labels, *value).as_deref(), Ok(*want), "template {text:?}");
        }
    }

    #[test]
    fn execution_errors_are_reported() {
        let cases = [
            ("{{ query \"none\" | first }}", "first() called on vector with no elements"),
            ("{{ humanize \"one\" }}", "strconv.ParseFloat: parsing \"one\": invalid syntax"),
            ("{{ if gt $value 1 }}x{{ end }}", "incompatible types for comparison"),
            ("{{ .Foo }}", "can't evaluate field Foo"),
        ];
        for (text, want) in cases {
            let err = expand(text, &[], 0.0).unwrap_err();
            assert!(err.contains(want), "{text}: {err}");
            assert!(err.starts_with("error executing template __alert_Test: template: __alert_Test:1:"), "{err}");
        }
    }

    #[test]
    fn bad_templates_are_refused_with_their_position() {
        let cases = [
            ("{{ foo }}", "template: __alert_T:1:4: function \"foo\" not defined"),
            ("ok\n  {{ $nope }}", "template: __alert_T:2:6: undefined variable \"$nope\""),
            ("{{ if true }}x", "template: __alert_T:1:1: unexpected EOF"),
            ("{{ end }}", "template: __alert_T:1:"),
            ("{{ $labels.job", "template: __alert_T:1:1: unclosed action"),
            ("{{ template \"x\" }}", "template: __alert_T:1:1: no such template \"x\""),
            (
                "{{ if true }}{{ define \"x\" }}{{ end }}{{ end }}",
                "template: __alert_T:1:14: unexpected <define> in command",
            ),
            ("{{ \"abc }}", "unterminated quoted string"),
            ("{{ }}", "missing value for command"),
            (
                "{{ now | toTime }}",
                "template: __alert_T:1:10: function \"toTime\" is not supported by Vigil's templates",
            ),
            ("{{ 1 | 2 }}", "non executable command in pipeline stage"),
        ];
        for (text, want) in cases {
            let err = Template::parse("__alert_T", text).unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn humanize_matches_prometheus() {
        let cases: &[(fn(f64) -> String, f64, &str)] = &[
            (humanize, 0.0, "0"),
            (humanize, 1.0, "1"),
            (humanize, 1234567.0, "1.235M"),
            (humanize, 0.12, "120m"),
            (humanize, -1.0, "-1"),
            (humanize, i64::MAX as f64, "9.223E"),
            (humanize, u64::MAX as f64, "18.45E"),
            (humanize, f64::INFINITY, "+Inf"),
            (humanize, f64::NEG_INFINITY, "-Inf"),
            (humanize, f64::NAN, "NaN"),
            (humanize, 1e30, "1e+06Y"),
            (humanize1024, 0.0, "0"),
            (humanize1024, 1.0, "1"),
            (humanize1024, 1048576.0, "1Mi"),
            (humanize1024, 0.12, "0.12"),
            (humanize1024, 1234567.0, "1.177Mi"),
            (humanize1024, i64::MAX as f64, "8Ei"),
            (humanize1024, u64::MAX as f64, "16Ei"),
            (humanize1024, f64::NAN, "NaN"),
            (humanize_duration, 0.0, "0s"),
            (humanize_duration, 1.0, "1s"),
            (humanize_duration, 60.0, "1m 0s"),
            (humanize_duration, 3600.0, "1h 0m 0s"),
            (humanize_duration, 86400.0, "1d 0h 0m 0s"),
            (humanize_duration, 86400.0 + 3600.0, "1d 1h 0m 0s"),
            (humanize_duration, -(86400.0 * 2.0 + 3600.0 * 3.0 + 60.0 * 4.0 + 5.0), "-2d 3h 4m 5s"),
            (humanize_duration, 899.99, "14m 59s"),
            (humanize_duration, 0.1, "100ms"),
            (humanize_duration, 0.0001, "100us"),
            (humanize_duration, 0.12345, "123.5ms"),
            (humanize_duration, 60.1, "1m 0s"),
            (humanize_duration, 1.2345, "1.234s"),
            (humanize_duration, 12.345, "12.35s"),
            (humanize_duration, 1234567.0, "14d 6h 56m 7s"),
            (humanize_duration, f64::INFINITY, "+Inf"),
            (humanize_percentage, -0.22222, "-22.22%"),
            (humanize_percentage, 0.0, "0%"),
            (humanize_percentage, 0.1234567, "12.35%"),
            (humanize_percentage, 1.23456, "123.5%"),
            (humanize_percentage, 1234567.0, "1.235e+08%"),
            (humanize_percentage, i64::MAX as f64, "9.223e+20%"),
            (humanize_percentage, u64::MAX as f64, "1.845e+21%"),
        ];
        for (f, v, want) in cases {
            assert_eq!(f(*v), *want, "value {v}");
        }
        let timestamps: &[(f64, &str)] = &[
            (0.0, "1970-01-01 00:00:00 +0000 UTC"),
            (-1.0, "1969-12-31 23:59:59 +0000 UTC"),
            (1.0, "1970-01-01 00:00:01 +0000 UTC"),
            (1234567.0, "1970-01-15 06:56:07 +0000 UTC"),
            (9223372036.0, "2262-04-11 23:47:16 +0000 UTC"),
            (1435065584.128, "2015-06-23 13:19:44.128 +0000 UTC"),
            (f64::NAN, "NaN"),
        ];
        for (v, want) in timestamps {
            assert_eq!(humanize_timestamp(*v).as_deref(), Ok(*want), "timestamp {v}");
        }
        let err = humanize_timestamp(i64::MIN as f64 * 2.0).unwrap_err();
        assert!(err.ends_with("cannot be represented as a nanoseconds timestamp since it overflows int64"), "{err}");
    }

    #[test]
    fn go_float_formatting() {
        let cases: &[(f64, char, Option<usize>, &str)] = &[
            (1e6, 'g', None, "1e+06"),
            (123456.0, 'g', None, "123456"),
            (0.0001, 'g', None, "0.0001"),
            (0.00001, 'g', None, "1e-05"),
            (1e21, 'g', None, "1e+21"),
            (-2.5, 'g', None, "-2.5"),
            (0.0, 'g', None, "0"),
            (1000.0, 'g', Some(4), "1000"),
            (10000.0, 'g', Some(4), "1e+04"),
            (1.5, 'g', Some(4), "1.5"),
            (123.45, 'g', Some(4), "123.5"),
            (0.0001234, 'g', Some(4), "0.0001234"),
            (1.23456, 'f', Some(2), "1.23"),
            (1234.5, 'e', Some(2), "1.23e+03"),
            (1.0, 'e', None, "1e+00"),
            (0.5, 'e', None, "5e-01"),
            (-123.0, 'e', None, "-1.23e+02"),
            (0.0, 'e', None, "0e+00"),
        ];
        for (v, verb, prec, want) in cases {
            assert_eq!(go_float(*v, *verb, *prec), *want, "{v} {verb} {prec:?}");
        }
    }

    /// The data of the notification tests (also `tests/alerting.rs`'s
    /// comparison with amtool uses the same alerts).
    fn notify_data() -> NotifyData {
        let map = |p: &[(&str, &str)]| p.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        NotifyData {
            receiver: "team-x".to_owned(),
            status: "firing".to_owned(),
            alerts: vec![
                NotifyAlert {
                    status: "firing".to_owned(),
                    labels: map(&[("alertname", "DiskFull"), ("instance", "db:9100"), ("severity", "page")]),
                    annotations: map(&[("summary", "disk <full> & more")]),
                    starts_at_ms: 1_700_000_000_123,
                    ends_at_ms: 0,
                    generator_url: "http://vigil/graph?g0.expr=x".to_owned(),
                    fingerprint: "0123456789abcdef".to_owned(),
                },
                NotifyAlert {
                    status: "resolved".to_owned(),
                    labels: map(&[("alertname", "DiskFull"), ("instance", "web:9100"), ("severity", "page")]),
                    annotations: map(&[("summary", "ok")]),
                    starts_at_ms: 1_700_000_000_000,
                    ends_at_ms: 1_700_000_060_000,
                    generator_url: "http://vigil/graph?g0.expr=y".to_owned(),
                    fingerprint: "fedcba9876543210".to_owned(),
                },
            ],
            group_labels: map(&[("alertname", "DiskFull")]),
            common_labels: map(&[("alertname", "DiskFull"), ("severity", "page")]),
            common_annotations: BTreeMap::new(),
            external_url: "http://vigil:9090".to_owned(),
        }
    }

    fn library() -> Vec<Template> {
        [
            ("a.tmpl", r#"{{ define "lib.x" }}first{{ end }}{{ define "lib.list" }}{{ range . }}{{ .Labels.instance }};{{ end }}{{ end }}"#),
            ("b.tmpl", r#"{{ define "lib.x" }}second {{ .Status }}{{ end }}"#),
        ]
        .iter()
        .map(|(name, text)| Template::parse_dialect(name, text, Dialect::Alertmanager).unwrap())
        .collect()
    }

    fn notify(text: &str, html: bool) -> Result<String, String> {
        let template = Template::parse_dialect("t", text, Dialect::Alertmanager).map_err(|e| e.to_string())?;
        template.expand_notification(&notify_data(), &library(), html, 1_700_000_100_000)
    }

    /// Expected outputs are what Alertmanager's `amtool template render`
    /// prints for the same data and templates (Debian's amtool 0.25; the
    /// functions it lacks — `date`, `tz`, `trimSpace`, `toJson` — follow
    /// Alertmanager's `template.go`).
    #[test]
    fn expands_alertmanager_notification_templates() {
        let cases: &[(&str, &str)] = &[
            (
                r#"[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .GroupLabels.SortedPairs.Values | join " " }} {{ if gt (len .CommonLabels) (len .GroupLabels) }}({{ with .CommonLabels.Remove .GroupLabels.Names }}{{ .Values | join " " }}{{ end }}){{ end }}"#,
                "[FIRING:1] DiskFull (page)",
            ),
            (
                r#"{{ range .Alerts.Firing }}{{ .Labels.instance }}{{ end }}|{{ range .Alerts.Resolved }}{{ .Labels.instance }}{{ end }}"#,
                "db:9100|web:9100",
            ),
            (
                r#"{{ range .CommonLabels.SortedPairs }}{{ .Name }}={{ .Value }};{{ end }}"#,
                "alertname=DiskFull;severity=page;",
            ),
            (
                r#"{{ (index .Alerts 0).StartsAt.Format "2006-01-02 15:04:05.000 MST" }}|{{ (index .Alerts 1).EndsAt.Format "Jan 2, 2006 at 3:04pm (MST)" }}|{{ (index .Alerts 0).StartsAt }}|{{ (index .Alerts 0).EndsAt }}"#,
                "2023-11-14 22:13:20.123 UTC|Nov 14, 2023 at 10:14pm (UTC)|2023-11-14 22:13:20.123 +0000 UTC|0001-01-01 00:00:00 +0000 UTC",
            ),
            (
                r#"{{ (index .Alerts 0).StartsAt.Format "Monday 02-Jan-06 03:04:05PM -07:00 Z07:00 .999" }}|{{ (index .Alerts 1).StartsAt.Format "15:04:05.999" }}"#,
                "Tuesday 14-Nov-23 10:13:20PM +00:00 Z .123|22:13:20",
            ),
            (
                r#"{{ date "Jan 2, 2006 at 3:04pm (MST)" (index .Alerts 1).EndsAt }}|{{ tz "UTC" (index .Alerts 0).StartsAt }}"#,
                "Nov 14, 2023 at 10:14pm (UTC)|2023-11-14 22:13:20.123 +0000 UTC",
            ),
            (
                r#"{{ title "hELLO wORLD" }} {{ toUpper "a" }} {{ trimSpace "  x  " }}|{{ reReplaceAll "(\\w+):(\\d+)" "$2@$1" "db:9100" }}|{{ stringSlice "a" "b" | join "," }}|{{ match "^Disk" .CommonLabels.alertname }}"#,
                "Hello World A x|9100@db|a,b|true",
            ),
            (
                r#"{{ .CommonLabels }}|{{ .CommonLabels.missing }}|{{ len .Alerts }} {{ (index .Alerts 1).Status }} {{ (index .Alerts 0).Fingerprint }}|{{ .GroupLabels.SortedPairs }}|{{ .ExternalURL }}/#/alerts?receiver={{ .Receiver | urlquery }}"#,
                "map[alertname:DiskFull severity:page]||2 resolved 0123456789abcdef|[{alertname DiskFull}]|http://vigil:9090/#/alerts?receiver=team-x",
            ),
            (
                r#"{{ template "lib.x" . }}|{{ template "lib.list" .Alerts }}|{{ define "y" }}<{{ . }}>{{ end }}{{ template "y" .Receiver }}|{{ block "b" .Status }}[{{ . }}]{{ end }}"#,
                "second firing|db:9100;web:9100;|<team-x>|[firing]",
            ),
            (
                r#"{{ (index .Alerts 0).StartsAt.Unix }} {{ range $i, $a := .Alerts }}{{ $i }}{{ $a.Labels.instance }}{{ end }} {{ .CommonLabels.Names }} {{ .Alerts.Resolved | len }} {{ html "<a href=\"x\">" }} {{ printf "%s-%d" .Status 3 }}"#,
                "1700000000 0db:91001web:9100 [alertname severity] 1 &lt;a href=&#34;x&#34;&gt; firing-3",
            ),
            (r#"{{ toJson .GroupLabels }}|{{ .GroupLabels.Values }}"#, r#"{"alertname":"DiskFull"}|[DiskFull]"#),
            // Default names newer than Debian's amtool (Alertmanager's default.tmpl of today).
            (
                r#"{{ template "slack.default.color" . }}|{{ template "email.default.subject" . }}|{{ template "__subject" . }}"#,
                "danger|[FIRING:1] DiskFull (page)|[FIRING:1] DiskFull (page)",
            ),
        ];
        let wrong: Vec<String> = cases
            .iter()
            .filter_map(|(text, want)| {
                let got = notify(text, false).unwrap_or_else(|e| format!("error: {e}"));
                (got != *want).then(|| format!("{text}\n  got:  {got}\n  want: {want}"))
            })
            .collect();
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn html_bodies_are_escaped_as_html_template_does() {
        let got = notify(
            r#"<b>{{ (index .Alerts 0).Annotations.summary }}</b>{{ "<i>" | safeHtml }}{{ "a+b" }}|{{ .Alerts.Firing }}"#,
            true,
        );
        assert_eq!(
            got.as_deref(),
            Ok(
                "<b>disk &lt;full&gt; &amp; more</b><i>a&#43;b|[{firing map[alertname:DiskFull instance:db:9100 severity:page] map[summary:disk &lt;full&gt; &amp; more] 2023-11-14 22:13:20.123 &#43;0000 UTC 0001-01-01 00:00:00 &#43;0000 UTC http://vigil/graph?g0.expr=x 0123456789abcdef}]"
            )
        );
        // A `<` that starts no tag is escaped too, as html/template does.
        assert_eq!(
            notify(r#"{{ define "d" }}<{{ . }}>{{ end }}{{ template "d" .Receiver }} a < b"#, true).as_deref(),
            Ok("&lt;team-x> a &lt; b")
        );
        // Text bodies are not escaped.
        assert_eq!(notify(r#"{{ "<i>" }}"#, false).as_deref(), Ok("<i>"));
    }

    #[test]
    fn bad_notification_templates_are_refused() {
        let cases: &[(&str, &str)] = &[
            (r#"{{ template "x" . }"#, "template: t:1:19: unexpected '}' in command"),
            (
                r#"{{ if .Status }}{{ define "y" }}{{ end }}{{ end }}"#,
                "template: t:1:17: unexpected <define> in command",
            ),
            (r#"{{ define "y" }}"#, "template: t:1:1: unexpected EOF: {{define}} has no {{end}}"),
            (r#"{{ define y }}{{ end }}"#, "template: t:1:1: missing name in define clause"),
            (r#"{{ query "up" }}"#, "template: t:1:4: function \"query\" not defined"),
            (r#"{{ since .X }}"#, "template: t:1:4: function \"since\" is not supported by Vigil's templates"),
            // Prometheus's rule templates do not see Alertmanager's functions.
            (r#"{{ "a" | join "," }}"#, "template: t:1:10: function \"join\" not defined"),
            // At run time, with their position.
            (r#"{{ template "nope" . }}"#, "template: t:1:1: executing \"t\": no such template \"nope\""),
            (
                r#"{{ tz "Europe/Paris" (index .Alerts 0).StartsAt }}"#,
                "template: t:1:4: executing \"t\": error calling tz: unknown time zone Europe/Paris (Vigil's templates know only UTC)",
            ),
            (
                r#"{{ .Alerts.Nope }}"#,
                "template: t:1:4: executing \"t\": can't evaluate field Nope in type template.Alerts",
            ),
            (
                r#"{{ define "loop" }}{{ template "loop" . }}{{ end }}{{ template "loop" . }}"#,
                "template: t:1:20: executing \"t\": exceeded maximum template depth (200)",
            ),
        ];
        let wrong: Vec<String> = cases
            .iter()
            .filter_map(|(text, want)| {
                let got = if text.contains("join") {
                    Template::parse("t", text).map(|_| String::new()).unwrap_or_else(|e| e.to_string())
                } else {
                    notify(text, false).unwrap_or_else(|e| e)
                };
                (got != *want).then(|| format!("{text}\n  got:  {got}\n  want: {want}"))
            })
            .collect();
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}
