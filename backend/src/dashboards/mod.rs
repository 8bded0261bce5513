//! Dashboards: stored in SQLite, served through Grafana's HTTP API shapes
//! (so existing scripts and tooling work against Vigil), and provisioned
//! from folders of JSON files at start.
//!
//! `store` owns every SQL statement and runs on one thread of its own (SQLite
//! calls block); `api` is the axum side; `provision` loads files at start.
//! This file holds what both sides share: the structural check of a
//! dashboard document, slugs and generated uids.
//!
//! The dashboard document itself is kept as `serde_json::Value`: Vigil
//! stores whatever a Grafana dashboard carries, field for field, and checks
//! only what the store and the search depend on (see [`validate`]).

pub mod api;
pub mod provision;
pub mod share_cli;
pub mod store;

use serde_json::Value;

pub use store::{DashboardStore, Store, StoreError};

/// Longest uid Grafana accepts (`util.MaxUIDLength`).
pub const MAX_UID_LEN: usize = 40;
/// Caps that keep a hostile document from costing the search or the
/// browser much: far above what a real dashboard holds.
pub const MAX_TITLE_LEN: usize = 1_000;
pub const MAX_TAGS: usize = 100;
pub const MAX_TAG_LEN: usize = 100;
pub const MAX_PANELS: usize = 1_000;
pub const MAX_TEMPLATE_VARIABLES: usize = 200;

/// What is wrong with a dashboard document, and where (a JSON path such as
/// `dashboard.tags[2]`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ValidationError {
    pub path: String,
    pub message: String,
}

impl ValidationError {
    fn at(path: impl Into<String>, message: impl Into<String>) -> Self {
        ValidationError { path: path.into(), message: message.into() }
    }
}

/// The facts the store needs from a valid document.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub title: String,
    /// Absent, null and "" all mean "none": a new dashboard gets one.
    pub uid: Option<String>,
    pub id: Option<i64>,
    /// Absent or null counts as 0, as Grafana reads it.
    pub version: i64,
    pub tags: Vec<String>,
}

/// Checks a dashboard document's structure; `path` is where it sits in the
/// request (`dashboard` in a save body, empty for a file).
///
/// This is the one place a document is judged: first what the store and
/// Grafana's save rules need (title, uid, version, tags), then everything
/// the shared dashboard model (`vigil_shared::dashboard::model`) checks
/// when the app opens it, with the same JSON-path errors.
pub fn validate(doc: &Value, path: &str) -> Result<Checked, ValidationError> {
    let at = |field: &str| if path.is_empty() { field.to_owned() } else { format!("{path}.{field}") };
    let Some(obj) = doc.as_object() else {
        return Err(ValidationError::at(
            if path.is_empty() { "$" } else { path },
            format!("a dashboard must be a JSON object, not {}", kind(doc)),
        ));
    };
    let title = match obj.get("title") {
        Some(Value::String(t)) if !t.trim().is_empty() => t.clone(),
        None | Some(Value::Null) | Some(Value::String(_)) => {
            return Err(ValidationError::at(at("title"), "Dashboard title cannot be empty"));
        }
        Some(other) => return Err(ValidationError::at(at("title"), format!("expected a string, got {}", kind(other)))),
    };
    if title.chars().count() > MAX_TITLE_LEN {
        return Err(ValidationError::at(at("title"), format!("longer than {MAX_TITLE_LEN} characters")));
    }
    let uid = match obj.get("uid") {
        None | Some(Value::Null) => None,
        Some(Value::String(u)) if u.is_empty() => None,
        Some(Value::String(u)) => {
            check_uid(u).map_err(|why| ValidationError::at(at("uid"), why))?;
            Some(u.clone())
        }
        Some(other) => return Err(ValidationError::at(at("uid"), format!("expected a string, got {}", kind(other)))),
    };
    let id = match obj.get("id") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_i64() {
            Some(0) => None,
            Some(id) if id > 0 => Some(id),
            _ => return Err(ValidationError::at(at("id"), format!("expected a positive integer, got {n}"))),
        },
        Some(other) => return Err(ValidationError::at(at("id"), format!("expected a number, got {}", kind(other)))),
    };
    let version = match obj.get("version") {
        None | Some(Value::Null) => 0,
        Some(Value::Number(n)) => match n.as_i64() {
            Some(v) if v >= 0 => v,
            _ => {
                return Err(ValidationError::at(at("version"), format!("expected a non-negative integer, got {n}")));
            }
        },
        Some(other) => {
            return Err(ValidationError::at(at("version"), format!("expected a number, got {}", kind(other))));
        }
    };
    let tags = match obj.get("tags") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            if items.len() > MAX_TAGS {
                return Err(ValidationError::at(at("tags"), format!("{} tags; at most {MAX_TAGS}", items.len())));
            }
            let mut tags = Vec::with_capacity(items.len());
            for (i, tag) in items.iter().enumerate() {
                match tag {
                    Value::String(t) if t.chars().count() <= MAX_TAG_LEN => tags.push(t.clone()),
                    Value::String(_) => {
                        return Err(ValidationError::at(
                            format!("{}[{i}]", at("tags")),
                            format!("longer than {MAX_TAG_LEN} characters"),
                        ));
                    }
                    other => {
                        return Err(ValidationError::at(
                            format!("{}[{i}]", at("tags")),
                            format!("expected a string, got {}", kind(other)),
                        ));
                    }
                }
            }
            tags
        }
        Some(other) => return Err(ValidationError::at(at("tags"), format!("expected an array, got {}", kind(other)))),
    };
    check_panels(obj.get("panels"), &at("panels"), 0)?;
    match obj.get("templating") {
        None | Some(Value::Null) => {}
        Some(Value::Object(templating)) => match templating.get("list") {
            None | Some(Value::Null) => {}
            Some(Value::Array(list)) => {
                let path = format!("{}.list", at("templating"));
                if list.len() > MAX_TEMPLATE_VARIABLES {
                    return Err(ValidationError::at(
                        path,
                        format!("{} variables; at most {MAX_TEMPLATE_VARIABLES}", list.len()),
                    ));
                }
                if let Some(i) = list.iter().position(|v| !v.is_object()) {
                    return Err(ValidationError::at(
                        format!("{path}[{i}]"),
                        format!("expected an object, got {}", kind(&list[i])),
                    ));
                }
            }
            Some(other) => {
                return Err(ValidationError::at(
                    format!("{}.list", at("templating")),
                    format!("expected an array, got {}", kind(other)),
                ));
            }
        },
        Some(other) => {
            return Err(ValidationError::at(at("templating"), format!("expected an object, got {}", kind(other))));
        }
    }
    model_check(doc, path)?;
    Ok(Checked { title, uid, id, version, tags })
}

/// The shared dashboard model's checks (the app's own reading of the
/// document: types of every field it draws from, grid positions, limits on
/// panels, queries, variables and nesting), so the server never stores a
/// dashboard the app would refuse to open.
fn model_check(doc: &Value, path: &str) -> Result<(), ValidationError> {
    use vigil_shared::dashboard::model::{Dashboard, DashboardError};
    let at = |inner: &str| match (path.is_empty(), inner) {
        (true, "." | "") => "$".to_owned(),
        (true, inner) => inner.to_owned(),
        (false, "." | "") => path.to_owned(),
        (false, inner) => format!("{path}.{inner}"),
    };
    // The model parses text; the position in this re-serialised text would
    // mean nothing to the sender, so only the path is kept.
    match Dashboard::from_json(&doc.to_string()) {
        Ok(_) => Ok(()),
        Err(DashboardError::Json { path: inner, message, .. } | DashboardError::Invalid { path: inner, message }) => {
            Err(ValidationError::at(at(&inner), message))
        }
        Err(DashboardError::Limit { path: inner, what, limit }) => {
            Err(ValidationError::at(at(&inner), format!("{what} exceed the limit of {limit}")))
        }
        Err(DashboardError::TooLarge { size, limit }) => {
            Err(ValidationError::at(at(""), format!("{size} bytes, more than the limit of {limit}")))
        }
        Err(DashboardError::TooDeep { limit, .. }) => {
            Err(ValidationError::at(at(""), format!("nests deeper than {limit} levels")))
        }
    }
}

/// `panels` must be an array of objects; rows carry their collapsed panels
/// in a nested `panels` (one level, as Grafana's rows do).
fn check_panels(panels: Option<&Value>, path: &str, depth: usize) -> Result<usize, ValidationError> {
    let items = match panels {
        None | Some(Value::Null) => return Ok(0),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(ValidationError::at(path, format!("expected an array, got {}", kind(other)))),
    };
    if items.len() > MAX_PANELS {
        return Err(ValidationError::at(path, format!("{} panels; at most {MAX_PANELS}", items.len())));
    }
    let mut total = items.len();
    for (i, panel) in items.iter().enumerate() {
        let here = format!("{path}[{i}]");
        let Some(obj) = panel.as_object() else {
            return Err(ValidationError::at(here, format!("expected an object, got {}", kind(panel))));
        };
        if let Some(t) = obj.get("type").filter(|t| !t.is_string() && !t.is_null()) {
            return Err(ValidationError::at(format!("{here}.type"), format!("expected a string, got {}", kind(t))));
        }
        if let Some(t) = obj.get("title").filter(|t| !t.is_string() && !t.is_null()) {
            return Err(ValidationError::at(format!("{here}.title"), format!("expected a string, got {}", kind(t))));
        }
        if depth == 0 {
            total += check_panels(obj.get("panels"), &format!("{here}.panels"), depth + 1)?;
        } else if obj.get("panels").is_some_and(|p| p.as_array().is_some_and(|a| !a.is_empty())) {
            return Err(ValidationError::at(format!("{here}.panels"), "panels nest one level deep at most (in rows)"));
        }
        if total > MAX_PANELS {
            return Err(ValidationError::at(path, format!("more than {MAX_PANELS} panels in all")));
        }
    }
    Ok(total)
}

/// Grafana's rules for a uid: at most 40 characters, letters, digits, `-`
/// and `_`.
pub fn check_uid(uid: &str) -> Result<(), String> {
    if uid.len() > MAX_UID_LEN {
        return Err(format!("uid too long, max {MAX_UID_LEN} characters"));
    }
    if !uid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err("uid contains illegal characters (allowed: letters, digits, '-' and '_')".to_owned());
    }
    Ok(())
}

/// The name of a JSON value's type, for messages.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A URL-safe form of a title, as Grafana's `slugify`: lower case, runs of
/// anything but letters and digits become one `-`, no `-` at either end.
pub fn slugify(title: &str) -> String {
    let mut slug = String::with_capacity(title.len());
    let mut dash = false;
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            if dash && !slug.is_empty() {
                slug.push('-');
            }
            dash = false;
            slug.push(c);
        } else {
            dash = true;
        }
    }
    slug
}

/// A new uid in the shape recent Grafana versions generate: 14 characters,
/// a lower-case letter then letters and digits, so it is also a valid
/// Kubernetes name.
pub fn generate_uid() -> String {
    const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut uid = String::with_capacity(14);
    uid.push(char::from(b'a' + fastrand::u8(0..26)));
    for _ in 0..13 {
        uid.push(char::from(ALNUM[fastrand::usize(..ALNUM.len())]));
    }
    uid
}

/// A dashboard's URL in the app, as Grafana's: `/d/<uid>/<slug>`.
pub fn dashboard_url(uid: &str, slug: &str) -> String {
    format!("/d/{uid}/{slug}")
}

/// A folder's URL in the app, as Grafana's: `/dashboards/f/<uid>/<slug>`.
pub fn folder_url(uid: &str, title: &str) -> String {
    format!("/dashboards/f/{uid}/{}", slugify(title))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn validation_names_the_json_path() {
        let many_tags: Vec<String> = (0..=MAX_TAGS).map(|i| format!("t{i}")).collect();
        let many_panels: Vec<Value> = (0..=MAX_PANELS).map(|_| json!({"type": "stat"})).collect();
        let deep = (0..100).fold(json!(1), |inner, _| json!([inner]));
        let cases: Vec<(Value, &str, &str)> = vec![
            (json!([]), "dashboard", "a dashboard must be a JSON object, not an array"),
            (json!({}), "dashboard.title", "Dashboard title cannot be empty"),
            (json!({"title": "  "}), "dashboard.title", "Dashboard title cannot be empty"),
            (json!({"title": 5}), "dashboard.title", "expected a string, got a number"),
            (json!({"title": "a", "uid": 7}), "dashboard.uid", "expected a string, got a number"),
            (json!({"title": "a", "uid": "a b"}), "dashboard.uid", "uid contains illegal characters"),
            (json!({"title": "a", "uid": "x".repeat(41)}), "dashboard.uid", "uid too long, max 40 characters"),
            (json!({"title": "a", "version": "3"}), "dashboard.version", "expected a number, got a string"),
            (json!({"title": "a", "version": -1}), "dashboard.version", "expected a non-negative integer"),
            (json!({"title": "a", "id": 1.5}), "dashboard.id", "expected a positive integer"),
            (json!({"title": "a", "tags": "prod"}), "dashboard.tags", "expected an array, got a string"),
            (json!({"title": "a", "tags": ["ok", 3]}), "dashboard.tags[1]", "expected a string, got a number"),
            (json!({"title": "a", "tags": many_tags}), "dashboard.tags", "101 tags; at most 100"),
            (json!({"title": "a", "panels": {}}), "dashboard.panels", "expected an array, got an object"),
            (json!({"title": "a", "panels": [{}, 1]}), "dashboard.panels[1]", "expected an object, got a number"),
            (json!({"title": "a", "panels": [{"type": []}]}), "dashboard.panels[0].type", "expected a string"),
            (json!({"title": "a", "panels": many_panels}), "dashboard.panels", "1001 panels; at most 1000"),
            (
                json!({"title": "a", "panels": [{"type": "row", "panels": [{"title": false}]}]}),
                "dashboard.panels[0].panels[0].title",
                "expected a string, got a boolean",
            ),
            (
                json!({"title": "a", "templating": {"list": [{}, "x"]}}),
                "dashboard.templating.list[1]",
                "expected an object, got a string",
            ),
            // From the shared model: what the app would refuse to open.
            (
                json!({"title": "a", "panels": [{"type": "stat", "gridPos": {"x": 0, "y": 0, "w": "wide", "h": 4}}]}),
                "dashboard.panels[0].gridPos.w",
                "invalid type",
            ),
            (json!({"title": "a", "extra": deep}), "dashboard", "nests deeper than 64 levels"),
        ];
        for (doc, path, message) in cases {
            let err = validate(&doc, "dashboard").expect_err(&format!("{doc} should be refused"));
            assert_eq!(err.path, path, "{doc}");
            assert!(err.message.contains(message), "{doc}: {:?} should contain {message:?}", err.message);
        }
    }

    #[test]
    fn validation_reads_the_fields_the_store_uses() {
        let cases = [
            (json!({"title": "A"}), Checked { title: "A".into(), uid: None, id: None, version: 0, tags: vec![] }),
            (
                json!({"title": "<script>alert(1)</script>", "uid": "", "id": null, "version": 3, "tags": ["x"]}),
                Checked {
                    title: "<script>alert(1)</script>".into(),
                    uid: None,
                    id: None,
                    version: 3,
                    tags: vec!["x".into()],
                },
            ),
            (
                json!({"title": "B", "uid": "ab-C_9", "id": 4}),
                Checked { title: "B".into(), uid: Some("ab-C_9".into()), id: Some(4), version: 0, tags: vec![] },
            ),
        ];
        for (doc, want) in cases {
            assert_eq!(validate(&doc, "").as_ref(), Ok(&want), "{doc}");
        }
    }

    #[test]
    fn slugs_as_grafana_makes_them() {
        let cases = [
            ("Production Overview", "production-overview"),
            ("  Node  exporter / host ", "node-exporter-host"),
            ("Vigil", "vigil"),
            ("<script>alert(1)</script>", "script-alert-1-script"),
            ("Über Größe", "über-größe"),
            ("---", ""),
        ];
        for (title, slug) in cases {
            assert_eq!(slugify(title), slug, "{title:?}");
        }
    }

    #[test]
    fn generated_uids_are_valid_and_distinct() {
        let uids: std::collections::HashSet<String> = (0..1000).map(|_| generate_uid()).collect();
        assert_eq!(uids.len(), 1000);
        for uid in &uids {
            assert_eq!(uid.len(), 14);
            assert!(uid.as_bytes()[0].is_ascii_lowercase(), "{uid}");
            assert_eq!(check_uid(uid), Ok(()));
        }
    }
}
