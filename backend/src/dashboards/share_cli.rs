//! `vigil share FILE.json`: prints the share link of a dashboard file, so
//! scripts and alert annotations can link to a dashboard without a server
//! storing anything.
//!
//! The link is built by `vigil_shared::dashboard::share`, the same code the
//! browser decodes it with; this module only reads the file, checks it as an
//! import would, and checks the time range and variables given.

use std::path::Path;

use anyhow::{Context, Result, bail};
use vigil_shared::dashboard::Dashboard;
use vigil_shared::dashboard::model::TimeRange;
use vigil_shared::dashboard::share::{SharedView, share_url};
use vigil_shared::dashboard::time::resolve_range;

/// Where links point when no `--url` is given (Vigil's default listen
/// address).
pub const DEFAULT_BASE: &str = "http://localhost:9090";

/// The share link for the dashboard in `file`.
///
/// `from`/`to` default to the dashboard's own range; `vars` are `name=value`
/// pairs, a name given twice selecting both values (multi-value variables).
pub fn link(file: &Path, from: Option<&str>, to: Option<&str>, vars: &[String], base: &str) -> Result<String> {
    let json = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    // A file saved from Grafana's API (`{"dashboard": {…}, "meta": …}`) is
    // accepted too: it is what `curl …/api/dashboards/uid/x` writes.
    let json = match serde_json::from_str::<serde_json::Value>(&json) {
        Ok(serde_json::Value::Object(mut o))
            if o.get("dashboard").is_some_and(|d| d.is_object()) && !o.contains_key("panels") =>
        {
            o.remove("dashboard").map(|d| d.to_string()).unwrap_or(json)
        }
        _ => json,
    };
    let dashboard =
        Dashboard::from_json(&json).with_context(|| format!("{} is not a valid dashboard", file.display()))?;
    let time = TimeRange {
        from: from.map_or_else(|| dashboard.time.from.clone(), str::to_owned),
        to: to.map_or_else(|| dashboard.time.to.clone(), str::to_owned),
    };
    // Any fixed instant will do: this only checks the expressions parse.
    resolve_range(&time, 0).with_context(|| format!("invalid time range {} to {}", time.from, time.to))?;
    let mut selected: Vec<(String, Vec<String>)> = Vec::new();
    for pair in vars {
        let Some((name, value)) = pair.split_once('=') else {
            bail!("--var {pair:?} should be name=value");
        };
        if !dashboard.templating.list.iter().any(|v| v.name == name) {
            let known: Vec<_> = dashboard.templating.list.iter().map(|v| v.name.as_str()).collect();
            bail!("--var {name}: the dashboard has no variable {name:?} (it has: {})", known.join(", "));
        }
        match selected.iter_mut().find(|(n, _)| n == name) {
            Some((_, values)) => values.push(value.to_owned()),
            None => selected.push((name.to_owned(), vec![value.to_owned()])),
        }
    }
    Ok(share_url(base, &SharedView { dashboard, time, vars: selected }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_shared::dashboard::share::decode;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        if let Err(e) = std::fs::write(&path, text) {
            panic!("{e}");
        }
        path
    }

    #[test]
    fn links_decode_back_and_bad_input_says_why() {
        let dir = std::env::temp_dir().join(format!("vigil-share-cli-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let good = write(
            &dir,
            "d.json",
            r#"{"title":"Disk","time":{"from":"now-1h","to":"now"},"templating":{"list":[{"type":"custom","name":"env","query":"a,b"}]},
               "panels":[{"id":1,"type":"stat","title":"Free","gridPos":{"x":0,"y":0,"w":6,"h":4}}]}"#,
        );
        let wrapped = write(&dir, "w.json", r#"{"meta":{},"dashboard":{"title":"Wrapped","panels":[]}}"#);
        let bad = write(&dir, "bad.json", r#"{"title":"x","panels":[{"gridPos":{"x":"left"}}]}"#);

        type Case<'a> =
            (&'a Path, Option<&'a str>, Option<&'a str>, Vec<String>, Result<(&'a str, &'a str, &'a str), &'a str>);
        let cases: Vec<Case> = vec![
            (&good, None, None, vec![], Ok(("Disk", "now-1h", "now"))),
            (
                &good,
                Some("now-6h"),
                Some("now-1h"),
                vec!["env=a".into(), "env=b".into()],
                Ok(("Disk", "now-6h", "now-1h")),
            ),
            (&wrapped, None, None, vec![], Ok(("Wrapped", "now-6h", "now"))),
            (&bad, None, None, vec![], Err("panels[0].gridPos.x")),
            (&good, Some("yesterday"), None, vec![], Err("invalid time range")),
            (&good, None, None, vec!["nope=1".into()], Err("no variable \"nope\" (it has: env)")),
            (&good, None, None, vec!["env".into()], Err("should be name=value")),
            (Path::new("/nonexistent/d.json"), None, None, vec![], Err("cannot read")),
        ];
        for (file, from, to, vars, want) in cases {
            let got = link(file, from, to, &vars, "http://vigil.example:9090/");
            match (got, want) {
                (Ok(url), Ok((title, from, to))) => {
                    let Some(fragment) = url.strip_prefix("http://vigil.example:9090/share#") else { panic!("{url}") };
                    let view = match decode(fragment) {
                        Ok(v) => v,
                        Err(e) => panic!("{e}"),
                    };
                    assert_eq!(
                        (view.dashboard.title.as_str(), view.time.from.as_str(), view.time.to.as_str()),
                        (title, from, to)
                    );
                    if !vars.is_empty() {
                        assert_eq!(view.vars, vec![("env".to_string(), vec!["a".to_string(), "b".to_string()])]);
                    }
                }
                (Err(e), Err(needle)) => assert!(format!("{e:#}").contains(needle), "{e:#} should mention {needle}"),
                (got, want) => panic!("{file:?}: got {got:?}, want {want:?}"),
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
