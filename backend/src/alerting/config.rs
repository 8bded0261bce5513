//! `--alertmanager.config.file`: Alertmanager's own `alertmanager.yml`, so
//! an existing file works unchanged. Defaults follow Alertmanager's
//! `config.go` (group_wait 30s, group_interval 5m, repeat_interval 4h,
//! resolve_timeout 5m); children of the route tree inherit what they do not
//! set. Errors name `file:line:col` where the YAML parser knows it and the
//! line of the offending key otherwise.
//!
//! `templates:` globs load notification template files (parsed at load:
//! a bad file is refused with its `file:line:col`); templated receiver
//! fields are parsed at load too, and may call only templates those files
//! define.
//!
//! What Vigil cannot do yet is refused at load time with a message saying
//! so, never accepted and silently ignored: receiver kinds other than
//! webhook, Slack, PagerDuty (Events API v2) and email; Slack actions and
//! images; PagerDuty v1 (`service_key`), images and links; email CRAM-MD5
//! (`auth_secret`) and threading; template functions `since`, `toDate`,
//! `base64encode`/`decode`, `list`/`dict`/`append`, `urlUnescape`; calls to
//! Alertmanager's `email.default.html` and the default names of receiver
//! kinds Vigil lacks (its other default names, `__subject`,
//! `slack.default.title`, …, are rendered by Vigil); time zones other than
//! UTC and Local in time intervals.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::matchers::{MatchType, Matcher, format_matchers, parse_matchers};
use super::timeinterval::{Period, RawInterval};
use crate::config::{PromDuration, TlsConfig};
use crate::rules::template::{Dialect, Template};

/// A configuration error with its position.
#[derive(Debug, thiserror::Error)]
pub enum AmConfigError {
    #[error("{path}: cannot read: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}:{column}: {message}")]
    At { path: PathBuf, line: usize, column: usize, message: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    global: RawGlobal,
    route: Option<RawRoute>,
    #[serde(default)]
    receivers: Vec<RawReceiver>,
    #[serde(default)]
    inhibit_rules: Vec<RawInhibit>,
    #[serde(default)]
    templates: Vec<String>,
    #[serde(default)]
    time_intervals: Vec<RawInterval>,
    /// The older name of `time_intervals`.
    #[serde(default)]
    mute_time_intervals: Vec<RawInterval>,
}

#[derive(Debug, Default, Deserialize)]
struct RawGlobal {
    resolve_timeout: Option<PromDuration>,
    slack_api_url: Option<String>,
    slack_api_url_file: Option<PathBuf>,
    pagerduty_url: Option<String>,
    smtp_from: Option<String>,
    /// Alertmanager's default greeting.
    smtp_hello: Option<String>,
    smtp_smarthost: Option<String>,
    smtp_auth_username: Option<String>,
    smtp_auth_password: Option<String>,
    smtp_auth_password_file: Option<PathBuf>,
    smtp_auth_secret: Option<String>,
    smtp_auth_secret_file: Option<PathBuf>,
    smtp_auth_identity: Option<String>,
    smtp_require_tls: Option<bool>,
    smtp_tls_config: Option<TlsConfig>,
    smtp_force_implicit_tls: Option<bool>,
    /// Settings of receiver kinds (SMTP, Slack, …), read by those receivers.
    #[serde(flatten)]
    _other: BTreeMap<String, serde_yaml_ng::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    receiver: Option<String>,
    group_by: Option<Vec<String>>,
    #[serde(default, rename = "continue")]
    continue_: bool,
    #[serde(default)]
    matchers: Vec<String>,
    #[serde(default, rename = "match")]
    match_: BTreeMap<String, String>,
    #[serde(default)]
    match_re: BTreeMap<String, String>,
    group_wait: Option<PromDuration>,
    group_interval: Option<PromDuration>,
    repeat_interval: Option<PromDuration>,
    #[serde(default)]
    mute_time_intervals: Vec<String>,
    #[serde(default)]
    active_time_intervals: Vec<String>,
    #[serde(default)]
    routes: Vec<RawRoute>,
}

#[derive(Debug, Deserialize)]
struct RawReceiver {
    name: String,
    #[serde(default)]
    webhook_configs: Vec<WebhookConfig>,
    #[serde(default)]
    slack_configs: Vec<SlackConfig>,
    #[serde(default)]
    pagerduty_configs: Vec<PagerdutyConfig>,
    #[serde(default)]
    email_configs: Vec<EmailConfig>,
    /// Other integration kinds, refused by validation.
    #[serde(flatten)]
    other: BTreeMap<String, serde_yaml_ng::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInhibit {
    #[serde(default)]
    source_matchers: Vec<String>,
    #[serde(default)]
    target_matchers: Vec<String>,
    #[serde(default)]
    source_match: BTreeMap<String, String>,
    #[serde(default)]
    source_match_re: BTreeMap<String, String>,
    #[serde(default)]
    target_match: BTreeMap<String, String>,
    #[serde(default)]
    target_match_re: BTreeMap<String, String>,
    #[serde(default)]
    equal: Vec<String>,
}

/// One `webhook_configs` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: Option<String>,
    pub url_file: Option<PathBuf>,
    #[serde(default = "default_true")]
    pub send_resolved: bool,
    /// At most this many alerts per message (0 = all); the rest are counted
    /// in `truncatedAlerts`.
    #[serde(default)]
    pub max_alerts: u64,
    pub timeout: Option<PromDuration>,
    /// Accepted; the request uses Vigil's default HTTP client.
    pub http_config: Option<serde_yaml_ng::Value>,
}

fn default_true() -> bool {
    true
}

/// One `slack_configs` entry (incoming-webhook JSON). Unset text fields
/// get Alertmanager's defaults; set ones are notification templates.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SlackConfig {
    /// Falls back to `global.slack_api_url`.
    pub api_url: Option<String>,
    pub api_url_file: Option<PathBuf>,
    pub channel: Option<String>,
    /// Slack's default is not to send resolutions.
    #[serde(default)]
    pub send_resolved: bool,
    #[serde(default)]
    pub link_names: bool,
    /// Accepted; the request uses Vigil's default HTTP client.
    pub http_config: Option<serde_yaml_ng::Value>,
    pub title: Option<String>,
    pub title_link: Option<String>,
    pub pretext: Option<String>,
    pub text: Option<String>,
    pub fallback: Option<String>,
    pub color: Option<String>,
    pub username: Option<String>,
    pub icon_emoji: Option<String>,
    pub icon_url: Option<String>,
    pub footer: Option<String>,
    pub callback_id: Option<String>,
    #[serde(default)]
    pub fields: Vec<SlackField>,
    /// The default of the fields' `short`.
    #[serde(default)]
    pub short_fields: bool,
    pub mrkdwn_in: Option<Vec<String>>,
    /// Fields Vigil does not support yet (actions, images, …): refused when set.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_yaml_ng::Value>,
}

/// One attachment field of a Slack message; title and value are templates.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackField {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub value: String,
    pub short: Option<bool>,
}

/// One `pagerduty_configs` entry, sent to the Events API v2. Unset text
/// fields get Alertmanager's defaults; set ones are notification templates.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PagerdutyConfig {
    pub routing_key: Option<String>,
    pub routing_key_file: Option<PathBuf>,
    /// Falls back to `global.pagerduty_url`, then PagerDuty's own.
    pub url: Option<String>,
    #[serde(default = "default_true")]
    pub send_resolved: bool,
    pub severity: Option<String>,
    pub class: Option<String>,
    pub component: Option<String>,
    pub group: Option<String>,
    pub description: Option<String>,
    pub client: Option<String>,
    pub client_url: Option<String>,
    /// `custom_details`, merged over the defaults (`firing`, `resolved`,
    /// `num_firing`, `num_resolved`); string values are templates.
    #[serde(default)]
    pub details: BTreeMap<String, String>,
    pub http_config: Option<serde_yaml_ng::Value>,
    /// v1 (`service_key`) and other fields Vigil does not support: refused when set.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_yaml_ng::Value>,
}

/// One `email_configs` entry, with the `global.smtp_*` defaults applied
/// at load (as Alertmanager's `config.go`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// Recipients: an address list (`a@x, B <b@x>`).
    #[serde(default)]
    pub to: String,
    /// Falls back to `global.smtp_from`.
    pub from: Option<String>,
    /// The EHLO name; falls back to `global.smtp_hello`, then `localhost`.
    pub hello: Option<String>,
    /// `host:port`; falls back to `global.smtp_smarthost`.
    pub smarthost: Option<String>,
    pub auth_username: Option<String>,
    pub auth_password: Option<String>,
    pub auth_password_file: Option<PathBuf>,
    /// CRAM-MD5's secret: refused at load (lettre speaks PLAIN and LOGIN).
    pub auth_secret: Option<String>,
    pub auth_secret_file: Option<PathBuf>,
    pub auth_identity: Option<String>,
    /// Header name (canonical MIME form) → value; `Subject`, `To` and
    /// `From` get Alertmanager's defaults when absent.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The HTML part; None is Vigil's default table of alerts, `''` no part.
    pub html: Option<String>,
    /// The text part; None is Vigil's default list of alerts, `''` no part.
    pub text: Option<String>,
    /// STARTTLS required (default true, from `global.smtp_require_tls`).
    pub require_tls: Option<bool>,
    pub tls_config: Option<TlsConfig>,
    /// Implicit TLS; unset means "on port 465".
    pub force_implicit_tls: Option<bool>,
    /// Email's default is not to send resolutions.
    #[serde(default)]
    pub send_resolved: bool,
    /// Mail threading headers: refused when enabled (not supported yet).
    pub threading: Option<serde_yaml_ng::Value>,
}

/// Go's `textproto.CanonicalMIMEHeaderKey`: `content-type` → `Content-Type`
/// (names with characters outside tokens are left as they are).
pub fn canonical_header(name: &str) -> String {
    let valid = name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !valid {
        return name.to_owned();
    }
    let mut upper = true;
    name.chars()
        .map(|c| {
            let out = if upper { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() };
            upper = c == '-';
            out
        })
        .collect()
}

/// A receiver: a name and its integrations.
#[derive(Debug, Clone, PartialEq)]
pub struct Receiver {
    pub name: String,
    pub webhooks: Vec<WebhookConfig>,
    pub slacks: Vec<SlackConfig>,
    pub pagerduties: Vec<PagerdutyConfig>,
    pub emails: Vec<EmailConfig>,
}

/// `group_by`: the labels that split alerts into groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    /// `['...']`: every label, one group per alert.
    All,
    Labels(Vec<String>),
}

/// A node of the route tree, with inherited settings resolved.
#[derive(Debug, Clone)]
pub struct Route {
    pub receiver: String,
    pub group_by: GroupBy,
    pub continue_: bool,
    pub matchers: Vec<Matcher>,
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
    pub routes: Vec<Route>,
    /// Alertmanager's `Route.Key`: parent keys and this route's matchers,
    /// the first part of every group key.
    pub key: String,
    /// Alertmanager's `Route.ID`: the key plus the position among siblings.
    pub id: String,
    /// Names of time intervals when this route's notifications are muted
    /// (not inherited, as in Alertmanager).
    pub mute_time_intervals: Vec<String>,
    /// Names of time intervals outside of which they are muted.
    pub active_time_intervals: Vec<String>,
}

/// An inhibit rule.
#[derive(Debug, Clone)]
pub struct InhibitRule {
    pub source: Vec<Matcher>,
    pub target: Vec<Matcher>,
    pub equal: Vec<String>,
}

/// The validated file.
#[derive(Debug, Clone)]
pub struct AmConfig {
    pub resolve_timeout: Duration,
    pub route: Route,
    pub receivers: Vec<Receiver>,
    pub inhibit_rules: Vec<InhibitRule>,
    /// Named time intervals.
    pub time_intervals: BTreeMap<String, Vec<Period>>,
    /// The files of `templates:`, in load order (later `define`s win).
    pub templates: Vec<Template>,
}

impl AmConfig {
    pub fn load(path: &Path) -> Result<AmConfig, AmConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| AmConfigError::Read { path: path.to_owned(), source })?;
        let mut config = AmConfig::parse(&text, path)?;
        if let Some(dir) = path.parent() {
            for receiver in &mut config.receivers {
                let files = receiver
                    .webhooks
                    .iter_mut()
                    .filter_map(|w| w.url_file.as_mut())
                    .chain(receiver.slacks.iter_mut().filter_map(|s| s.api_url_file.as_mut()))
                    .chain(receiver.pagerduties.iter_mut().filter_map(|p| p.routing_key_file.as_mut()))
                    .chain(receiver.emails.iter_mut().flat_map(|e| {
                        let tls = e.tls_config.as_mut().into_iter().flat_map(|t| {
                            [t.ca_file.as_mut(), t.cert_file.as_mut(), t.key_file.as_mut()].into_iter().flatten()
                        });
                        e.auth_password_file.as_mut().into_iter().chain(tls)
                    }));
                for file in files {
                    if file.is_relative() {
                        *file = dir.join(&*file);
                    }
                }
            }
        }
        Ok(config)
    }

    pub fn receiver(&self, name: &str) -> Option<&Receiver> {
        self.receivers.iter().find(|r| r.name == name)
    }

    /// Parses and validates; `path` is only used in errors.
    pub fn parse(text: &str, path: &Path) -> Result<AmConfig, AmConfigError> {
        let raw: RawFile = serde_yaml_ng::from_str(text).map_err(|e| {
            let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
            let message = e.to_string();
            let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
            AmConfigError::At { path: path.to_owned(), line, column, message }
        })?;
        let invalid = |needle: &str, message: String| match line_of(text, needle) {
            Some(line) => AmConfigError::At { path: path.to_owned(), line, column: 1, message },
            None => AmConfigError::Invalid { path: path.to_owned(), message },
        };
        let templates = load_templates(&raw.templates, path.parent().unwrap_or(Path::new("")), &invalid)?;
        let known = |name: &str| {
            crate::rules::template::DEFAULT_TEMPLATES.contains(&name)
                || templates.iter().any(|t| t.defined().any(|d| d == name))
        };
        // A field's template must parse and call only defined templates.
        let check = |receiver: &str, what: &str, text: &str| -> Result<(), AmConfigError> {
            let needle = text.lines().next().unwrap_or(what);
            let template = Template::parse_dialect(what, text, Dialect::Alertmanager)
                .map_err(|e| invalid(needle, format!("receiver {receiver:?}: {e}")))?;
            if let Some((name, line, column)) = template.undefined_calls(&known).into_iter().next() {
                return Err(invalid(
                    needle,
                    format!("receiver {receiver:?}: template: {what}:{line}:{column}: no such template {name:?}"),
                ));
            }
            Ok(())
        };
        let mut time_intervals = BTreeMap::new();
        for interval in raw.time_intervals.iter().chain(&raw.mute_time_intervals) {
            if interval.name.is_empty() {
                return Err(invalid("time_intervals", "missing name in time interval".to_owned()));
            }
            let periods = interval
                .time_intervals
                .iter()
                .map(Period::from_raw)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| invalid(&interval.name, format!("time interval {:?}: {e}", interval.name)))?;
            if time_intervals.insert(interval.name.clone(), periods).is_some() {
                return Err(invalid(&interval.name, format!("time interval {:?} is not unique", interval.name)));
            }
        }
        let mut receivers = Vec::new();
        let mut names = HashSet::new();
        for r in raw.receivers {
            if r.name.is_empty() {
                return Err(invalid("receivers", "missing name in receiver".to_owned()));
            }
            if !names.insert(r.name.clone()) {
                // The second definition is the offending one.
                let needle = format!("name: {}", r.name);
                let message = format!("notification config name {:?} is not unique", r.name);
                return Err(
                    match text.lines().enumerate().filter(|(_, l)| l.contains(&needle)).map(|(i, _)| i).last() {
                        Some(i) => AmConfigError::At { path: path.to_owned(), line: i + 1, column: 1, message },
                        None => AmConfigError::Invalid { path: path.to_owned(), message },
                    },
                );
            }
            if let Some(kind) = r.other.keys().next() {
                return Err(invalid(
                    kind,
                    format!(
                        "receiver {:?}: {kind} are not supported by Vigil yet (webhook_configs, slack_configs, pagerduty_configs and email_configs are)",
                        r.name
                    ),
                ));
            }
            for w in &r.webhook_configs {
                match (&w.url, &w.url_file) {
                    (Some(_), Some(_)) => {
                        return Err(invalid("url_file", "at most one of url & url_file must be configured".to_owned()));
                    }
                    (None, None) => {
                        return Err(invalid("webhook_configs", "one of url or url_file must be configured".to_owned()));
                    }
                    (Some(url), None) => {
                        reqwest::Url::parse(url)
                            .map_err(|e| invalid(url, format!("invalid webhook url {url:?}: {e}")))?;
                    }
                    (None, Some(_)) => {}
                }
            }
            let mut slacks = r.slack_configs;
            for slack in &mut slacks {
                if let Some(field) = slack.other.keys().next() {
                    return Err(invalid(
                        field,
                        format!("receiver {:?}: slack_configs field {field:?} is not supported by Vigil yet", r.name),
                    ));
                }
                let texts = [
                    ("title", &slack.title),
                    ("title_link", &slack.title_link),
                    ("pretext", &slack.pretext),
                    ("text", &slack.text),
                    ("fallback", &slack.fallback),
                    ("color", &slack.color),
                    ("username", &slack.username),
                    ("channel", &slack.channel),
                    ("icon_emoji", &slack.icon_emoji),
                    ("icon_url", &slack.icon_url),
                    ("footer", &slack.footer),
                    ("callback_id", &slack.callback_id),
                ];
                for (what, text) in texts {
                    if let Some(text) = text {
                        check(&r.name, what, text)?;
                    }
                }
                for field in &slack.fields {
                    check(&r.name, "fields.title", &field.title)?;
                    check(&r.name, "fields.value", &field.value)?;
                }
                if slack.api_url.is_none() && slack.api_url_file.is_none() {
                    slack.api_url = raw.global.slack_api_url.clone();
                    slack.api_url_file = raw.global.slack_api_url_file.clone();
                }
                match (&slack.api_url, &slack.api_url_file) {
                    (None, None) => {
                        return Err(invalid("slack_configs", "no global Slack API URL set".to_owned()));
                    }
                    (Some(url), _) => {
                        reqwest::Url::parse(url)
                            .map_err(|e| invalid(url, format!("invalid slack api_url {url:?}: {e}")))?;
                    }
                    _ => {}
                }
            }
            let mut pagerduties = r.pagerduty_configs;
            for pd in &mut pagerduties {
                if let Some(field) = pd.other.keys().next() {
                    return Err(invalid(
                        field,
                        format!(
                            "receiver {:?}: pagerduty_configs field {field:?} is not supported by Vigil yet (Events API v2 is)",
                            r.name
                        ),
                    ));
                }
                for (what, value) in [
                    ("severity", &pd.severity),
                    ("class", &pd.class),
                    ("component", &pd.component),
                    ("group", &pd.group),
                    ("description", &pd.description),
                    ("client", &pd.client),
                    ("client_url", &pd.client_url),
                ] {
                    if let Some(text) = value {
                        check(&r.name, what, text)?;
                    }
                }
                for text in pd.details.values() {
                    check(&r.name, "details", text)?;
                }
                match (&pd.routing_key, &pd.routing_key_file) {
                    (None, None) => {
                        return Err(invalid(
                            "pagerduty_configs",
                            "missing service or routing key in PagerDuty config".to_owned(),
                        ));
                    }
                    (Some(_), Some(_)) => {
                        return Err(invalid(
                            "routing_key_file",
                            "at most one of routing_key & routing_key_file must be configured".to_owned(),
                        ));
                    }
                    _ => {}
                }
                if pd.url.is_none() {
                    pd.url = Some(
                        raw.global
                            .pagerduty_url
                            .clone()
                            .unwrap_or_else(|| "https://events.pagerduty.com/v2/enqueue".to_owned()),
                    );
                }
            }
            let mut emails = r.email_configs;
            for email in &mut emails {
                apply_smtp_defaults(email, &raw.global).map_err(|(needle, message)| invalid(needle, message))?;
                for (what, text) in [("html", &email.html), ("text", &email.text), ("from", &email.from)] {
                    if let Some(text) = text {
                        check(&r.name, what, text)?;
                    }
                }
                check(&r.name, "to", &email.to)?;
                for (name, text) in &email.headers {
                    check(&r.name, name, text)?;
                }
            }
            receivers.push(Receiver { name: r.name, webhooks: r.webhook_configs, slacks, pagerduties, emails });
        }
        let Some(raw_route) = raw.route else {
            return Err(invalid("route", "no routes provided".to_owned()));
        };
        let Some(root_receiver) = raw_route.receiver.clone() else {
            return Err(invalid("route", "root route must specify a default receiver".to_owned()));
        };
        if !raw_route.matchers.is_empty() || !raw_route.match_.is_empty() || !raw_route.match_re.is_empty() {
            return Err(invalid("route", "root route must not have any matchers".to_owned()));
        }
        if raw_route.continue_ {
            return Err(invalid("continue", "cannot have continue in root route".to_owned()));
        }
        if !raw_route.mute_time_intervals.is_empty() {
            return Err(invalid("mute_time_intervals", "root route must not have any mute time intervals".to_owned()));
        }
        if !raw_route.active_time_intervals.is_empty() {
            return Err(invalid(
                "active_time_intervals",
                "root route must not have any active time intervals".to_owned(),
            ));
        }
        let defaults = Route {
            receiver: root_receiver,
            group_by: GroupBy::Labels(Vec::new()),
            continue_: false,
            matchers: Vec::new(),
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(5 * 60),
            repeat_interval: Duration::from_secs(4 * 3600),
            routes: Vec::new(),
            key: String::new(),
            id: String::new(),
            mute_time_intervals: Vec::new(),
            active_time_intervals: Vec::new(),
        };
        let route = build_route(&raw_route, &defaults, None, 0, &|needle, message| invalid(needle, message))?;
        let mut missing = None;
        route_receivers(&route, &mut |name| {
            if !names.contains(name) && missing.is_none() {
                missing = Some(name.to_owned());
            }
        });
        if let Some(name) = missing {
            return Err(invalid(&name, format!("undefined receiver {name:?} used in route")));
        }
        let mut undefined = None;
        route_intervals(&route, &mut |name| {
            if !time_intervals.contains_key(name) && undefined.is_none() {
                undefined = Some(name.to_owned());
            }
        });
        if let Some(name) = undefined {
            return Err(invalid(&name, format!("undefined time interval {name:?} used in route")));
        }
        let mut inhibit_rules = Vec::new();
        for rule in raw.inhibit_rules {
            let build = |new: &[String], eq: &BTreeMap<String, String>, re: &BTreeMap<String, String>| {
                matchers_from(new, eq, re).map_err(|e| invalid("inhibit_rules", e))
            };
            inhibit_rules.push(InhibitRule {
                source: build(&rule.source_matchers, &rule.source_match, &rule.source_match_re)?,
                target: build(&rule.target_matchers, &rule.target_match, &rule.target_match_re)?,
                equal: rule.equal,
            });
        }
        Ok(AmConfig {
            resolve_timeout: raw.global.resolve_timeout.map_or(Duration::from_secs(300), |d| d.0),
            route,
            receivers,
            inhibit_rules,
            time_intervals,
            templates,
        })
    }
}

/// `templates:`: each glob (relative to the configuration's folder), its
/// files in name order, each parsed as Alertmanager templates. A file that
/// does not parse is refused with its `file:line:col`.
fn load_templates(
    globs: &[String],
    dir: &Path,
    invalid: &dyn Fn(&str, String) -> AmConfigError,
) -> Result<Vec<Template>, AmConfigError> {
    let mut out = Vec::new();
    for pattern in globs {
        let full = if Path::new(pattern).is_relative() { dir.join(pattern) } else { PathBuf::from(pattern) };
        let full = full.to_string_lossy().into_owned();
        let paths =
            glob::glob(&full).map_err(|e| invalid(pattern, format!("invalid template glob {pattern:?}: {e}")))?;
        let mut files: Vec<PathBuf> = paths.filter_map(Result::ok).filter(|p| p.is_file()).collect();
        files.sort();
        for file in files {
            let text =
                std::fs::read_to_string(&file).map_err(|source| AmConfigError::Read { path: file.clone(), source })?;
            let name =
                file.file_name().map_or_else(|| file.display().to_string(), |n| n.to_string_lossy().into_owned());
            let template = Template::parse_dialect(&name, &text, Dialect::Alertmanager).map_err(|e| {
                AmConfigError::At { path: file.clone(), line: e.line, column: e.column, message: e.message }
            })?;
            out.push(template);
        }
    }
    Ok(out)
}

/// Checks one `email_configs` entry and fills what it leaves unset from
/// `global` (Alertmanager's order and messages). Errors carry the text
/// to look for in the file, for the position.
fn apply_smtp_defaults(email: &mut EmailConfig, global: &RawGlobal) -> Result<(), (&'static str, String)> {
    if email.to.is_empty() {
        return Err(("email_configs", "missing to address in email config".to_owned()));
    }
    let mut headers = BTreeMap::new();
    for (name, value) in std::mem::take(&mut email.headers) {
        let canonical = canonical_header(&name);
        if headers.insert(canonical.clone(), value).is_some() {
            return Err(("headers", format!("duplicate header {canonical:?} in email config")));
        }
    }
    email.headers = headers;
    if email.threading.as_ref().and_then(|t| t.get("enabled")).and_then(serde_yaml_ng::Value::as_bool) == Some(true) {
        return Err(("threading", "email threading is not supported by Vigil yet".to_owned()));
    }
    let or = |own: &mut Option<String>, global: &Option<String>| {
        if own.as_deref().is_none_or(str::is_empty) {
            own.clone_from(global);
        }
    };
    or(&mut email.smarthost, &global.smtp_smarthost);
    let Some(smarthost) = email.smarthost.as_deref().filter(|s| !s.is_empty()) else {
        return Err(("email_configs", "no global SMTP smarthost set".to_owned()));
    };
    if split_smarthost(smarthost).is_none() {
        return Err(("smarthost", format!("address {smarthost}: missing port in address")));
    }
    or(&mut email.from, &global.smtp_from);
    if email.from.as_deref().is_none_or(str::is_empty) {
        return Err(("email_configs", "no global SMTP from set".to_owned()));
    }
    or(&mut email.hello, &global.smtp_hello);
    if email.hello.as_deref().is_none_or(str::is_empty) {
        email.hello = Some("localhost".to_owned());
    }
    or(&mut email.auth_username, &global.smtp_auth_username);
    if email.auth_password.is_none() && email.auth_password_file.is_none() {
        email.auth_password.clone_from(&global.smtp_auth_password);
        email.auth_password_file.clone_from(&global.smtp_auth_password_file);
    }
    if email.auth_password.is_some() && email.auth_password_file.is_some() {
        return Err((
            "auth_password_file",
            "at most one of auth_password & auth_password_file must be configured".to_owned(),
        ));
    }
    if email.auth_secret.is_none() && email.auth_secret_file.is_none() {
        email.auth_secret.clone_from(&global.smtp_auth_secret);
        email.auth_secret_file.clone_from(&global.smtp_auth_secret_file);
    }
    if email.auth_secret.is_some() || email.auth_secret_file.is_some() {
        return Err((
            "auth_secret",
            "email auth_secret (CRAM-MD5) is not supported by Vigil yet (PLAIN and LOGIN with auth_password are)"
                .to_owned(),
        ));
    }
    or(&mut email.auth_identity, &global.smtp_auth_identity);
    if email.require_tls.is_none() {
        email.require_tls = Some(global.smtp_require_tls.unwrap_or(true));
    }
    if email.tls_config.is_none() {
        email.tls_config.clone_from(&global.smtp_tls_config);
    }
    if email.force_implicit_tls.is_none() {
        email.force_implicit_tls = global.smtp_force_implicit_tls;
    }
    Ok(())
}

/// `host:port` (`[v6]:port`) of a smarthost.
pub fn split_smarthost(smarthost: &str) -> Option<(String, u16)> {
    let (host, port) = smarthost.rsplit_once(':')?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    Some((host.to_owned(), port.parse().ok()?))
}

fn route_intervals(route: &Route, visit: &mut impl FnMut(&str)) {
    route.mute_time_intervals.iter().chain(&route.active_time_intervals).for_each(|n| visit(n));
    for child in &route.routes {
        route_intervals(child, visit);
    }
}

fn route_receivers(route: &Route, visit: &mut impl FnMut(&str)) {
    visit(&route.receiver);
    for child in &route.routes {
        route_receivers(child, visit);
    }
}

/// New-style matchers plus the deprecated `match`/`match_re` maps, sorted
/// as Alertmanager sorts them.
fn matchers_from(
    new: &[String],
    eq: &BTreeMap<String, String>,
    re: &BTreeMap<String, String>,
) -> Result<Vec<Matcher>, String> {
    let mut out = Vec::new();
    for (name, value) in eq {
        out.push(Matcher::new(MatchType::Equal, name, value)?);
    }
    for (name, value) in re {
        out.push(Matcher::new(MatchType::Regexp, name, value)?);
    }
    for text in new {
        out.extend(parse_matchers(text)?);
    }
    out.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    Ok(out)
}

fn build_route(
    raw: &RawRoute,
    parent: &Route,
    parent_keys: Option<(&str, &str)>,
    index: usize,
    invalid: &dyn Fn(&str, String) -> AmConfigError,
) -> Result<Route, AmConfigError> {
    let matchers = matchers_from(&raw.matchers, &raw.match_, &raw.match_re).map_err(|e| invalid("match", e))?;
    let group_by = match &raw.group_by {
        None => parent.group_by.clone(),
        Some(labels) if labels.iter().any(|l| l == "...") => {
            if labels.len() > 1 {
                return Err(invalid(
                    "group_by",
                    "cannot have wildcard group_by (`...`) and other labels at the same time".to_owned(),
                ));
            }
            GroupBy::All
        }
        Some(labels) => {
            let mut seen = HashSet::new();
            for l in labels {
                if !seen.insert(l) {
                    return Err(invalid("group_by", format!("duplicated label {l:?} in group_by")));
                }
            }
            GroupBy::Labels(labels.clone())
        }
    };
    let printed = format_matchers(&matchers);
    let (key, id) = match parent_keys {
        None => (printed.clone(), printed),
        Some((pkey, pid)) => (format!("{pkey}/{printed}"), format!("{pid}/{printed}/{index}")),
    };
    let interval = |own: Option<PromDuration>, inherited: Duration, what: &str| -> Result<Duration, AmConfigError> {
        let d = own.map_or(inherited, |d| d.0);
        if d.is_zero() && what != "group_wait" {
            return Err(invalid(what, format!("{what} cannot be zero")));
        }
        Ok(d)
    };
    let mut route = Route {
        receiver: raw.receiver.clone().unwrap_or_else(|| parent.receiver.clone()),
        group_by,
        continue_: raw.continue_,
        matchers,
        group_wait: interval(raw.group_wait, parent.group_wait, "group_wait")?,
        group_interval: interval(raw.group_interval, parent.group_interval, "group_interval")?,
        repeat_interval: interval(raw.repeat_interval, parent.repeat_interval, "repeat_interval")?,
        routes: Vec::new(),
        key,
        id,
        mute_time_intervals: raw.mute_time_intervals.clone(),
        active_time_intervals: raw.active_time_intervals.clone(),
    };
    let mut children = Vec::with_capacity(raw.routes.len());
    for (i, child) in raw.routes.iter().enumerate() {
        children.push(build_route(child, &route, Some((&route.key, &route.id)), i, invalid)?);
    }
    route.routes = children;
    Ok(route)
}

impl Route {
    /// Alertmanager's `Route.Match`: the deepest matching routes, depth
    /// first; siblings after a match only when it has `continue`. A route
    /// none of whose children match is itself the match.
    pub fn match_routes(&self, labels: &BTreeMap<String, String>) -> Vec<&Route> {
        if !super::matchers::all_match(&self.matchers, labels) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for child in &self.routes {
            let matched = child.match_routes(labels);
            let found = !matched.is_empty();
            out.extend(matched);
            if found && !child.continue_ {
                break;
            }
        }
        if out.is_empty() {
            out.push(self);
        }
        out
    }

    /// The labels of an alert that name its group under this route.
    pub fn group_labels(&self, labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        match &self.group_by {
            GroupBy::All => labels.clone(),
            GroupBy::Labels(names) => {
                names.iter().filter_map(|n| labels.get(n).map(|v| (n.clone(), v.clone()))).collect()
            }
        }
    }
}

fn line_of(text: &str, needle: &str) -> Option<usize> {
    text.lines().position(|line| line.contains(needle)).map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<AmConfig, String> {
        AmConfig::parse(text, Path::new("am.yml")).map_err(|e| e.to_string())
    }

    const TREE: &str = r#"
global:
  resolve_timeout: 1m
route:
  receiver: default
  group_by: [alertname]
  group_wait: 10s
  routes:
    - matchers: ['severity="page"']
      receiver: pager
      group_by: ['...']
      continue: true
      routes:
        - match: {team: db}
          receiver: db
    - match_re: {severity: 'page|critical'}
      receiver: audit
      repeat_interval: 1h
    - matchers: ['team="web"', 'env!=dev']
      receiver: web
receivers:
  - name: default
  - name: pager
    webhook_configs: [{url: 'http://127.0.0.1:1/hook'}]
  - name: db
  - name: audit
  - name: web
inhibit_rules:
  - source_matchers: ['severity="page"']
    target_match: {severity: warning}
    equal: [alertname]
"#;

    #[test]
    fn routes_inherit_and_match_as_alertmanager() {
        let config = parse(TREE).unwrap();
        assert_eq!(config.resolve_timeout, Duration::from_secs(60));
        let root = &config.route;
        assert_eq!(
            (root.group_interval, root.repeat_interval),
            (Duration::from_secs(300), Duration::from_secs(14_400))
        );
        let pager = &root.routes[0];
        assert_eq!(pager.key, r#"{}/{severity="page"}"#);
        assert_eq!(pager.id, r#"{}/{severity="page"}/0"#);
        assert_eq!(pager.routes[0].key, r#"{}/{severity="page"}/{team="db"}"#);
        assert_eq!(pager.routes[0].group_by, GroupBy::All, "inherited");
        assert_eq!(pager.group_wait, Duration::from_secs(10), "inherited");
        assert_eq!(root.routes[2].key, r#"{}/{env!="dev",team="web"}"#, "matchers sorted by name");
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);
        let cases: &[Case] = &[
            (&[("alertname", "X")], &["default"]),
            // continue on the pager route: the next sibling is tried too.
            (&[("severity", "page")], &["pager", "audit"]),
            (&[("severity", "page"), ("team", "db")], &["db", "audit"]),
            (&[("severity", "critical")], &["audit"]),
            (&[("team", "web"), ("env", "prod")], &["web"]),
            (&[("team", "web"), ("env", "dev")], &["default"]),
        ];
        for (labels, want) in cases {
            let labels: BTreeMap<String, String> =
                labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
            let got: Vec<&str> = root.match_routes(&labels).iter().map(|r| r.receiver.as_str()).collect();
            assert_eq!(&got, want, "{labels:?}");
        }
        assert_eq!(config.inhibit_rules[0].target[0].to_string(), r#"severity="warning""#);
    }

    #[test]
    fn bad_files_are_refused_with_their_position() {
        let cases = [
            ("route:\n  receiver: x\nreceivers:\n  - name: y\n", "am.yml:2:1: undefined receiver \"x\" used in route"),
            (
                "route:\n  receiver: x\n  group_wait: soon\nreceivers:\n  - name: x\n",
                "am.yml:2:3: route: not a valid duration string: \"soon\"",
            ),
            (
                "route:\n  receiver: x\n  routes:\n    - matchers: ['a=~\"(\"']\nreceivers:\n  - name: x\n",
                "am.yml:4:1: \"a=~\\\"(\\\"\": invalid regular expression \"(\": regex parse error:\n    (\n    ^\nerror: unclosed group",
            ),
            (
                "route:\n  receiver: x\n  group_by: ['...', job]\nreceivers:\n  - name: x\n",
                "am.yml:3:1: cannot have wildcard group_by (`...`) and other labels at the same time",
            ),
            (
                "route:\n  receiver: x\nreceivers:\n  - name: x\n    slack_configs: [{channel: '#a'}]\n",
                "am.yml:5:1: no global Slack API URL set",
            ),
            (
                "route:\n  receiver: x\nreceivers:\n  - name: x\n    email_configs: [{to: 'a@b'}]\n",
                "am.yml:5:1: no global SMTP smarthost set",
            ),
            (
                "route:\n  receiver: x\nreceivers:\n  - name: x\n    opsgenie_configs: [{api_key: k}]\n",
                "am.yml:5:1: receiver \"x\": opsgenie_configs are not supported by Vigil yet (webhook_configs, slack_configs, pagerduty_configs and email_configs are)",
            ),
            (
                "global:\n  smtp_smarthost: 'mail:25'\nroute:\n  receiver: x\nreceivers:\n  - name: x\n    email_configs: [{to: 'a@b'}]\n",
                "am.yml:7:1: no global SMTP from set",
            ),
            (
                "route:\n  receiver: x\nreceivers:\n  - name: x\n    email_configs: [{to: 'a@b', from: 'c@d', smarthost: mail}]\n",
                "am.yml:5:1: address mail: missing port in address",
            ),
            (
                "route:\n  receiver: x\nreceivers:\n  - name: x\n    email_configs:\n      - to: 'a@b'\n        from: 'c@d'\n        smarthost: 'mail:25'\n        headers: {subject: a, SUBJECT: b}\n",
                "am.yml:9:1: duplicate header \"Subject\" in email config",
            ),
            (
                "route:\n  receiver: x\nreceivers:\n  - name: x\n    email_configs:\n      - to: 'a@b'\n        from: 'c@d'\n        smarthost: 'mail:25'\n        html: '{{ .Status | nope }}'\n",
                "am.yml:9:1: receiver \"x\": template: html:1:14: function \"nope\" not defined",
            ),
            (
                "route:\n  receiver: x\nreceivers:\n  - name: x\n    email_configs:\n      - to: 'a@b'\n        from: 'c@d'\n        smarthost: 'mail:25'\n        auth_secret: s\n",
                "am.yml:9:1: email auth_secret (CRAM-MD5) is not supported by Vigil yet (PLAIN and LOGIN with auth_password are)",
            ),
            (
                "global:\n  slack_api_url: 'http://127.0.0.1:1/'\nroute:\n  receiver: x\nreceivers:\n  - name: x\n    slack_configs: [{title: '{{ template \"nope\" . }}'}]\n",
                "am.yml:7:1: receiver \"x\": template: title:1:1: no such template \"nope\"",
            ),
            (
                "global:\n  slack_api_url: 'http://127.0.0.1:1/'\nroute:\n  receiver: x\nreceivers:\n  - name: x\n    slack_configs: [{actions: []}]\n",
                "am.yml:7:1: receiver \"x\": slack_configs field \"actions\" is not supported by Vigil yet",
            ),
            (
                "route:\n  receiver: x\n  mute_time_intervals: [night]\nreceivers:\n  - name: x\n",
                "am.yml:3:1: root route must not have any mute time intervals",
            ),
            (
                "route:\n  receiver: x\n  routes: [{mute_time_intervals: [night]}]\nreceivers:\n  - name: x\n",
                "am.yml:3:1: undefined time interval \"night\" used in route",
            ),
            (
                "route:\n  receiver: x\nreceivers:\n  - name: x\ntime_intervals:\n  - name: night\n    time_intervals: [{weekdays: [someday]}]\n",
                "am.yml:6:1: time interval \"night\": invalid weekday \"someday\" in \"someday\"",
            ),
            (
                "route:\n  receiver: x\nreceivers:\n  - name: x\n    pagerduty_configs: [{service_key: k}]\n",
                "am.yml:5:1: receiver \"x\": pagerduty_configs field \"service_key\" is not supported by Vigil yet (Events API v2 is)",
            ),
            (
                "route:\n  receiver: x\nreceivers:\n  - name: x\n    pagerduty_configs: [{severity: warning}]\n",
                "am.yml:5:1: missing service or routing key in PagerDuty config",
            ),
            (
                "route:\n  receiver: x\nreceivers:\n  - name: x\n  - name: x\n",
                "am.yml:5:1: notification config name \"x\" is not unique",
            ),
            (
                "route:\n  receiver: x\n  recevier: y\nreceivers:\n  - name: x\n",
                "am.yml:3:3: route: unknown field `recevier`, expected one of `receiver`, `group_by`, `continue`, `matchers`, `match`, `match_re`, `group_wait`, `group_interval`, `repeat_interval`, `mute_time_intervals`, `active_time_intervals`, `routes`",
            ),
        ];
        let wrong: Vec<String> = cases
            .iter()
            .filter_map(|(text, want)| {
                let got = parse(text).map(|_| String::new()).unwrap_or_else(|e| e);
                (got != *want).then(|| format!("{text}\n  got:  {got}\n  want: {want}"))
            })
            .collect();
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn template_files_load_in_order_and_bad_ones_are_refused_with_file_line_col() {
        let dir = std::env::temp_dir().join(format!("vigil-am-templates-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("tmpl")).unwrap();
        std::fs::write(dir.join("tmpl/a.tmpl"), "{{ define \"x\" }}a{{ end }}\n").unwrap();
        std::fs::write(dir.join("tmpl/b.tmpl"), "{{ define \"y\" }}{{ template \"x\" . }}{{ end }}\n").unwrap();
        let config = |title: &str| {
            format!(
                "global:\n  slack_api_url: 'http://127.0.0.1:1/'\ntemplates: ['tmpl/*.tmpl']\nroute:\n  receiver: x\nreceivers:\n  - name: x\n    slack_configs:\n      - title: '{title}'\n"
            )
        };
        let load = |text: String| {
            std::fs::write(dir.join("am.yml"), text).unwrap();
            AmConfig::load(&dir.join("am.yml")).map_err(|e| e.to_string())
        };
        let loaded = load(config("{{ template \"y\" . }}")).unwrap();
        let names: Vec<Vec<&str>> = loaded.templates.iter().map(|t| t.defined().collect()).collect();
        assert_eq!(names, [vec!["x"], vec!["y"]], "files in name order");
        let am = dir.join("am.yml").display().to_string();
        assert_eq!(
            load(config("{{ template \"z\" . }}")).unwrap_err(),
            format!("{am}:9:1: receiver \"x\": template: title:1:1: no such template \"z\"")
        );
        std::fs::write(dir.join("tmpl/c.tmpl"), "{{ define \"z\" }}\n  {{ .Status | nope }}\n{{ end }}\n").unwrap();
        let bad = dir.join("tmpl/c.tmpl").display().to_string();
        assert_eq!(
            load(config("{{ template \"y\" . }}")).unwrap_err(),
            format!("{bad}:2:16: function \"nope\" not defined")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
