//! `vigil share` as scripts use it: the built binary prints a link that the
//! shared decoder (the one the browser runs) opens back into the same
//! dashboard, time range and variables; a bad file fails with its JSON path
//! and a nonzero exit.

use std::process::Command;

use vigil_shared::dashboard::share::decode;

mod common;

fn vigil(args: &[&str]) -> std::process::Output {
    match Command::new(env!("CARGO_BIN_EXE_vigil")).args(args).output() {
        Ok(out) => out,
        Err(e) => panic!("cannot run vigil: {e}"),
    }
}

#[test]
fn share_prints_a_link_that_decodes_back() {
    let dir = common::temp_dir("share-cli");
    let file = dir.join("dash.json");
    let json = r#"{"uid":"node","title":"Node <b>overview</b>","time":{"from":"now-1h","to":"now"},
        "templating":{"list":[{"type":"query","name":"instance","query":"label_values(up, instance)","multi":true}]},
        "panels":[{"id":1,"type":"timeseries","title":"CPU","gridPos":{"x":0,"y":0,"w":12,"h":8},
                   "targets":[{"refId":"A","expr":"rate(node_cpu_seconds_total{instance=~\"$instance\"}[5m])"}]},
                  {"id":2,"type":"text","title":"Notes","gridPos":{"x":12,"y":0,"w":12,"h":8},"options":{"content":"hello"}}]}"#;
    std::fs::write(&file, json).unwrap_or_else(|e| panic!("{e}"));
    let path = file.to_string_lossy().into_owned();

    // (flags, link prefix, time range, variables in the link)
    type Case<'a> = (&'a [&'a str], &'a str, (&'a str, &'a str), Vec<(String, Vec<String>)>);
    let cases: [Case; 3] = [
        (&[], "http://localhost:9090/share#", ("now-1h", "now"), vec![]),
        (
            &["--from", "now-6h", "--to", "now-5m", "--var", "instance=a:9100", "--var", "instance=b:9100"],
            "http://localhost:9090/share#",
            ("now-6h", "now-5m"),
            vec![("instance".into(), vec!["a:9100".into(), "b:9100".into()])],
        ),
        (&["--url", "https://vigil.example/"], "https://vigil.example/share#", ("now-1h", "now"), vec![]),
    ];
    for (flags, prefix, (from, to), vars) in cases {
        let mut args = vec!["share", path.as_str()];
        args.extend_from_slice(flags);
        let out = vigil(&args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        let link = stdout.trim();
        assert_eq!(stdout.lines().count(), 1, "one line, the link: {stdout}");
        let Some(fragment) = link.strip_prefix(prefix) else { panic!("{link} should start with {prefix}") };
        let view = decode(fragment).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        assert_eq!(view.dashboard.title, "Node <b>overview</b>");
        assert_eq!(view.dashboard.panels.len(), 2);
        assert_eq!(view.dashboard.panels[1].text_content(), Some("hello"));
        assert_eq!((view.time.from.as_str(), view.time.to.as_str()), (from, to));
        assert_eq!(view.vars, vars);
    }

    // --web.external-url is the default base when --url is absent.
    let out = vigil(&["--web.external-url", "http://prom.internal:9090/vigil", "share", path.as_str()]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("http://prom.internal:9090/vigil/share#v1."), "{out:?}");

    let bad = dir.join("bad.json");
    std::fs::write(&bad, r#"{"title":"x","panels":[{"id":1},{"id":2,"gridPos":{"x":0,"y":0,"w":"wide","h":2}}]}"#)
        .unwrap_or_else(|e| panic!("{e}"));
    let bad_path = bad.to_string_lossy().into_owned();
    let failures: [(Vec<&str>, &str); 4] = [
        (vec!["share", bad_path.as_str()], "panels[1].gridPos.w"),
        (vec!["share", "/nonexistent.json"], "cannot read"),
        (vec!["share", path.as_str(), "--from", "last tuesday"], "invalid time range"),
        (vec!["share", path.as_str(), "--var", "job=x"], "no variable \"job\""),
    ];
    for (args, needle) in failures {
        let out = vigil(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(out.stdout.is_empty(), "{args:?} printed {:?}", String::from_utf8_lossy(&out.stdout));
        assert!(stderr.contains(needle), "{args:?}: {stderr} should mention {needle}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
