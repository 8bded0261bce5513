//! Rules end to end: a `vigil` scraping itself every second evaluates a
//! rule file every second; recorded series appear in queries, an alert goes
//! pending then firing (in `/api/v1/alerts` and as `ALERTS` series),
//! `/api/v1/rules` answers in Prometheus's shape, and a reload with a broken
//! rule file keeps the running rules. The bundled example rules pass
//! Debian's `promtool check rules` and load in Vigil.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Vigil, eventually, free_port, temp_dir};
use serde_json::Value;

const PROMTOOL: &str = "/usr/bin/promtool";

async fn get_json(url: &str) -> Value {
    let body = reqwest::get(url).await.expect("HTTP request").text().await.expect("body");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url} answered non-JSON ({e}): {body}"))
}

const RULES: &str = r#"groups:
  - name: self
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
        labels:
          source: rule
      - alert: VigilUp
        expr: job:up:sum == 1
        for: 2s
        labels:
          severity: test
        annotations:
          summary: "{{ $labels.job }} is up ({{ $value }})"
"#;

#[tokio::test]
async fn rules_record_alert_and_answer_the_api() {
    let port = free_port();
    let dir = temp_dir("vigil-rules");
    std::fs::write(dir.join("rules.yml"), RULES).unwrap();
    let config_path = dir.join("vigil.yml");
    std::fs::write(
        &config_path,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nrule_files: ['rules.yml']\nscrape_configs:\n  - job_name: vigil\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        ),
    )
    .unwrap();
    let vigil = Vigil::start_with_config_file(port, &config_path);

    // The recording rule's series.
    let recorded = eventually(Duration::from_secs(20), "job:up:sum from the recording rule", || async {
        let json = get_json(&vigil.url("/api/v1/query?query=job:up:sum")).await;
        json["data"]["result"].as_array()?.first().cloned()
    })
    .await;
    assert_eq!(recorded["metric"]["__name__"], "job:up:sum");
    assert_eq!(recorded["metric"]["job"], "vigil");
    assert_eq!(recorded["metric"]["source"], "rule");
    assert_eq!(recorded["value"][1], "1");

    // The alert: pending first, then firing after its `for: 2s`.
    let alert_in = |state: &'static str| {
        let url = vigil.url("/api/v1/alerts");
        move || {
            let url = url.clone();
            async move {
                let json = get_json(&url).await;
                let alerts = json["data"]["alerts"].as_array()?.clone();
                alerts.into_iter().find(|a| a["state"] == state)
            }
        }
    };
    let pending = eventually(Duration::from_secs(20), "a pending alert", alert_in("pending")).await;
    assert_eq!(pending["labels"]["alertname"], "VigilUp");
    assert_eq!(pending["labels"]["severity"], "test");
    assert_eq!(pending["annotations"]["summary"], "vigil is up (1)");
    assert_eq!(pending["value"], "1e+00");
    assert!(pending["activeAt"].as_str().is_some_and(|t| t.ends_with('Z')), "{pending}");
    let firing = eventually(Duration::from_secs(20), "the alert firing", alert_in("firing")).await;
    assert_eq!(firing["labels"]["alertname"], "VigilUp");
    let series = eventually(Duration::from_secs(10), "ALERTS{alertstate=\"firing\"}", || async {
        let json = get_json(&vigil.url("/api/v1/query?query=ALERTS{alertstate=%22firing%22}")).await;
        json["data"]["result"].as_array()?.first().cloned()
    })
    .await;
    assert_eq!(series["metric"]["alertname"], "VigilUp");
    assert_eq!(series["metric"]["severity"], "test");
    let json = get_json(&vigil.url("/api/v1/query?query=ALERTS_FOR_STATE")).await;
    assert_eq!(json["data"]["result"].as_array().map(Vec::len), Some(1), "{json}");

    // `/api/v1/rules`.
    let json = get_json(&vigil.url("/api/v1/rules")).await;
    assert_eq!(json["status"], "success");
    let group = &json["data"]["groups"][0];
    assert_eq!(group["name"], "self");
    assert_eq!(group["file"], dir.join("rules.yml").display().to_string());
    assert_eq!(group["interval"], 1);
    assert_eq!(group["limit"], 0);
    assert!(group["evaluationTime"].is_number() && group["lastEvaluation"].is_string(), "{group}");
    let record = &group["rules"][0];
    assert_eq!(record["type"], "recording");
    assert_eq!(record["name"], "job:up:sum");
    assert_eq!(record["query"], "sum by (job) (up)");
    assert_eq!(record["labels"]["source"], "rule");
    assert_eq!(record["health"], "ok");
    assert!(record.get("lastError").is_none(), "{record}");
    let alert = &group["rules"][1];
    assert_eq!(alert["type"], "alerting");
    assert_eq!(alert["state"], "firing");
    assert_eq!(alert["duration"], 2);
    assert_eq!(alert["keepFiringFor"], 0);
    assert_eq!(alert["annotations"]["summary"], "{{ $labels.job }} is up ({{ $value }})");
    assert_eq!(alert["alerts"][0]["state"], "firing");
    let only_records = get_json(&vigil.url("/api/v1/rules?type=record")).await;
    assert_eq!(only_records["data"]["groups"][0]["rules"].as_array().map(Vec::len), Some(1));
    let response = reqwest::get(vigil.url("/api/v1/rules?type=bogus")).await.unwrap();
    assert_eq!(response.status().as_u16(), 400);
    // `match[]` selects rules by their configured labels; sets are ORed.
    let names = |json: &Value| -> Vec<String> {
        json["data"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .map(|r| r["name"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    for (query, want) in [
        ("match[]={severity=\"test\"}", vec!["VigilUp"]),
        ("match[]={source=~\"r.*\"}", vec!["job:up:sum"]),
        ("match[]={severity=\"test\"}&match[]={source=\"rule\"}", vec!["job:up:sum", "VigilUp"]),
        ("match[]={severity=\"none\"}", vec![]),
    ] {
        let query = query.replace('{', "%7B").replace('}', "%7D").replace('"', "%22");
        assert_eq!(names(&get_json(&vigil.url(&format!("/api/v1/rules?{query}"))).await), want, "{query}");
    }
    let response = reqwest::get(vigil.url("/api/v1/rules?match[]=%7B")).await.unwrap();
    assert_eq!(response.status().as_u16(), 400, "a bad selector is refused");

    // A broken rule file is refused on reload, naming file and line, and
    // the running rules stay.
    std::fs::write(dir.join("rules.yml"), RULES.replace("sum by (job) (up)", "sum by (job) (up")).unwrap();
    let client = reqwest::Client::new();
    let response = client.post(vigil.url("/-/reload")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 500);
    let text = response.text().await.unwrap();
    assert!(
        text.contains("rules.yml:5:15: group \"self\", rule 1, \"job:up:sum\": could not parse expression"),
        "{text}"
    );
    let json = get_json(&vigil.url("/api/v1/alerts")).await;
    assert_eq!(json["data"]["alerts"][0]["state"], "firing", "state kept: {json}");

    // A valid change applies; the unchanged alert keeps firing.
    std::fs::write(dir.join("rules.yml"), RULES.replace("source: rule", "source: reloaded")).unwrap();
    let response = client.post(vigil.url("/-/reload")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200, "{}", response.text().await.unwrap_or_default());
    let json = get_json(&vigil.url("/api/v1/rules")).await;
    assert_eq!(json["data"]["groups"][0]["rules"][0]["labels"]["source"], "reloaded");
    let json = get_json(&vigil.url("/api/v1/alerts")).await;
    assert_eq!(json["data"]["alerts"][0]["state"], "firing", "alert state survives a reload: {json}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_invalid_rule_file_stops_startup_with_its_position() {
    let dir = temp_dir("vigil-rules-bad");
    std::fs::write(dir.join("bad.yml"), "groups:\n  - name: a\n    rules:\n      - alert: A\n        expr: up\n        annotations:\n          x: '{{ nope }}'\n").unwrap();
    std::fs::write(dir.join("vigil.yml"), "rule_files: ['*.yml']\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("--config.file")
        .arg(dir.join("vigil.yml"))
        .arg("--storage.tsdb.path")
        .arg(dir.join("data"))
        .arg("--web.listen-address")
        .arg(format!("127.0.0.1:{}", free_port()))
        .output()
        .expect("run vigil");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bad.yml:7:14: group \"a\", rule 1, \"A\": annotation \"x\": template: __alert_A:1:4: function \"nope\" not defined"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn example_rules_pass_promtool_and_load_in_vigil() {
    assert!(
        Path::new(PROMTOOL).exists(),
        "{PROMTOOL} is missing: install it with `apt-get install -y prometheus` (or run `cargo xtask setup --test-packages`)"
    );
    let config_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/vigil.yml");
    let config = vigil::config::Config::load(&config_path).expect("example config");
    let files = vigil::rules::manager::expand_patterns(&config.rule_files).expect("rule_files globs");
    assert!(!files.is_empty(), "examples/vigil.yml names no rule file");
    for file in &files {
        let output = Command::new(PROMTOOL).args(["check", "rules"]).arg(file).output().expect("run promtool");
        assert!(
            output.status.success(),
            "promtool refuses {}:\n{}{}",
            file.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let loaded =
            vigil::rules::RuleFile::load(file).unwrap_or_else(|e| panic!("Vigil refuses {}: {e}", file.display()));
        assert!(loaded.groups.iter().map(|g| g.rules.len()).sum::<usize>() >= 2, "{}", file.display());
    }
}

#[test]
fn promtool_and_vigil_both_refuse_bad_rules() {
    assert!(Path::new(PROMTOOL).exists(), "{PROMTOOL} is missing: install it with `apt-get install -y prometheus`");
    let dir = temp_dir("vigil-promtool-rules");
    let cases = [
        ("bad expression", "      - record: a\n        expr: 'sum('\n"),
        ("no record or alert", "      - expr: up\n"),
        ("both record and alert", "      - record: a\n        alert: B\n        expr: up\n"),
        ("for on a recording rule", "      - record: a\n        expr: up\n        for: 1m\n"),
        ("unknown field", "      - record: a\n        expr: up\n        lables: {}\n"),
        ("bad template", "      - alert: A\n        expr: up\n        annotations: {s: '{{ nope }}'}\n"),
        ("unclosed template", "      - alert: A\n        expr: up\n        annotations: {s: '{{ if true }}x'}\n"),
    ];
    for (what, rule) in cases {
        let path = dir.join("bad.yml");
        std::fs::write(&path, format!("groups:\n  - name: g\n    rules:\n{rule}")).unwrap();
        let promtool = Command::new(PROMTOOL).args(["check", "rules"]).arg(&path).output().expect("run promtool");
        assert!(!promtool.status.success(), "{what}: promtool accepted it");
        assert!(vigil::rules::RuleFile::load(&path).is_err(), "{what}: Vigil accepted it");
    }
    let dup = dir.join("dup.yml");
    std::fs::write(&dup, "groups:\n  - name: g\n    rules: []\n  - name: g\n    rules: []\n").unwrap();
    assert!(!Command::new(PROMTOOL).args(["check", "rules"]).arg(&dup).output().unwrap().status.success());
    assert!(vigil::rules::RuleFile::load(&dup).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same unit-test files through Debian's `promtool test rules` and
/// `vigil test rules`: both pass or both fail.
#[test]
fn vigil_test_rules_agrees_with_promtool() {
    assert!(Path::new(PROMTOOL).exists(), "{PROMTOOL} is missing: install it with `apt-get install -y prometheus`");
    let dir = temp_dir("vigil-unittest");
    std::fs::write(
        dir.join("rules.yml"),
        r#"groups:
  - name: g
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: Down
        expr: up == 0
        for: 2m
        labels: {severity: page}
        annotations: {summary: '{{ $labels.instance }} down, value {{ $value }}'}
      - alert: Big
        expr: size > 1000
        annotations: {summary: '{{ $value | humanize }} {{ $value | humanize1024 }}B'}
      - alert: Flappy
        expr: flap == 1
        keep_firing_for: 2m
      - alert: Q
        expr: up{instance="y"} == 1
        annotations:
          all: '{{ range query "up" | sortByLabel "instance" }}{{ .Labels.instance }}={{ .Value }} {{ end }}'
          sum: '{{ query "sum(up)" | first | value }}'
          none: '{{ with query "nope" }}x{{ else }}none{{ end }}'
"#,
    )
    .unwrap();
    let test = |alert_time: &str, instance: &str, sum: &str, extra: &str| {
        format!(
            r#"rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'up{{job="a", instance="x"}}'
        values: '1 1 0 0 0 0'
      - series: 'up{{job="a", instance="y"}}'
        values: '1+0x5'
      - series: 'size'
        values: '1 _ 1234567 stale 5000'
      - series: 'flap'
        values: '1 0 0 0 0'
    alert_rule_test:
      - eval_time: {alert_time}
        alertname: Down
        exp_alerts:
          - exp_labels: {{severity: page, instance: {instance}, job: a}}
            exp_annotations: {{summary: '{instance} down, value 0'}}
{extra}    promql_expr_test:
      - expr: job:up:sum
        eval_time: 1m
        exp_samples:
          - labels: 'job:up:sum{{job="a"}}'
            value: {sum}
"#
        )
    };
    let big = "      - eval_time: 2m\n        alertname: Big\n        exp_alerts:\n          - exp_annotations: {summary: '1.235M 1.177MiB'}\n      - eval_time: 3m\n        alertname: Big\n";
    let big_wrong = "      - eval_time: 3m\n        alertname: Big\n        exp_alerts:\n          - exp_annotations: {summary: '1.235M 1.177MiB'}\n";
    let flappy = |t: &str, firing: bool| {
        let exp = if firing { "\n        exp_alerts:\n          - {}\n" } else { "\n" };
        format!("      - eval_time: {t}\n        alertname: Flappy{exp}")
    };
    let query = |sum: &str| {
        format!(
            "      - eval_time: 4m\n        alertname: Q\n        exp_alerts:\n          - exp_labels: {{instance: y, job: a}}\n            exp_annotations: {{all: 'x=0 y=1 ', sum: '{sum}', none: none}}\n"
        )
    };
    let cases = [
        ("passing", test("4m", "x", "2", ""), true),
        ("eval_time between evaluations", test("4m30s", "x", "2", ""), true),
        ("still pending", test("3m", "x", "2", ""), false),
        ("wrong alert labels", test("4m", "y", "2", ""), false),
        ("wrong sample value", test("4m", "x", "3", ""), false),
        ("humanized annotations and a stale marker", test("4m", "x", "2", big), true),
        ("an alert that went stale", test("4m", "x", "2", big_wrong), false),
        ("keep_firing_for holds", test("4m", "x", "2", &(flappy("2m", true) + &flappy("3m", false))), true),
        ("keep_firing_for runs out", test("4m", "x", "2", &flappy("3m", true)), false),
        ("query in templates", test("4m", "x", "2", &query("1")), true),
        ("query in templates, wrong", test("4m", "x", "2", &query("2")), false),
    ];
    for (what, text, want_pass) in cases {
        let path = dir.join("test.yml");
        std::fs::write(&path, &text).unwrap();
        let promtool = Command::new(PROMTOOL).args(["test", "rules"]).arg(&path).output().expect("run promtool");
        let ours =
            Command::new(env!("CARGO_BIN_EXE_vigil")).args(["test", "rules"]).arg(&path).output().expect("run vigil");
        assert_eq!(
            promtool.status.success(),
            want_pass,
            "{what}: promtool {}{}",
            String::from_utf8_lossy(&promtool.stdout),
            String::from_utf8_lossy(&promtool.stderr)
        );
        assert_eq!(ours.status.success(), want_pass, "{what}: vigil {}", String::from_utf8_lossy(&ours.stdout));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Alert templates expand in Vigil exactly as in Prometheus: each template
/// is an annotation of one alert, the expected annotations are Vigil's own
/// expansions, and Debian's `promtool test rules` must agree with them.
#[test]
fn templates_expand_as_promtool_expands_them() {
    use std::collections::BTreeMap;
    use vigil::rules::template::{AlertData, Template};

    assert!(Path::new(PROMTOOL).exists(), "{PROMTOOL} is missing: install it with `apt-get install -y prometheus`");
    // Debian's promtool (2.42) predates `now` and `urlQueryEscape`; the
    // template unit tests cover those.
    let templates = [
        "{{ $value }}",
        "{{ .Value }}",
        "{{ $labels.instance }} {{ .Labels.job }} [{{ $labels.missing }}]",
        "{{ $value | humanize }}",
        "{{ humanize1024 $value }}",
        "{{ $value | humanizePercentage }}",
        "{{ humanizeDuration 3725.5 }} {{ humanizeDuration 0.0005 }} {{ humanizeDuration 59.99 }}",
        "{{ humanizeTimestamp 1435065584.128 }}",
        "{{ humanize 0.000001234 }} {{ humanize -1234 }} {{ humanize1024 1023 }}",
        "{{ printf \"%.2f\" $value }}",
        "{{ printf \"%d items\" 3 }}",
        "{{ printf \"%5.1f|%-4s|%04d|%+d\" 2.25 \"x\" 7 5 }}",
        "{{ printf \"%v %s\" $value $labels.job }}",
        "{{ printf \"%e %g %.3g\" $value $value $value }}",
        "{{ printf \"%d\" $value }}",
        "{{ $labels.instance | stripPort }} {{ $labels.instance | stripDomain }}",
        // (Prometheus 2.42's `title` was Go's strings.Title, which also splits
        // `a.b` and `don't`; Vigil follows today's cases.Title.)
        "{{ title \"hello world-foo bar_baz\" }}",
        "{{ toUpper \"abc\" }} {{ toLower \"ABC\" }}",
        "{{ reReplaceAll \"(.*):(.*)\" \"$2 on $1\" $labels.instance }}",
        "{{ match \"^host\" $labels.instance }}",
        "{{ if gt $value 1000.0 }}big{{ else }}small{{ end }}",
        "{{ if eq $labels.job \"x\" }}x{{ else if eq $labels.job \"node\" }}node{{ else }}?{{ end }}",
        "{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}",
        "{{ len $labels }} {{ index $labels \"job\" }}",
        "{{ $labels }}",
        "{{ print $value 1 \"x\" 2 }}",
        "{{ and 1 0 }} {{ or 0 \"\" \"z\" }} {{ not 0 }} {{ eq 1 3 1 }}",
        "{{ \"1h30m\" | parseDuration }}",
        "{{ $value | humanize | printf \"%s!\" }}",
        "a {{- \"  trimmed  \" -}} b",
        "{{ 1e3 }} {{ 0x10 }} {{ -1.5 }} {{ 1.0 }} {{ 010 }}",
        "{{ with $labels.nope }}x{{ else }}none{{ end }} {{ with $labels.job }}{{ . }}{{ end }}",
        "{{ $externalLabels.region }}",
        "{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}",
        "{{/* a comment */}}kept",
        "{{ graphLink \"rate(x[5m])\" }}",
        "{{ (printf \"%s-%s\" \"a\" \"b\") }} {{ printf \"%s\" (index $labels \"job\") }}",
        "{{ if and (gt $value 1.0) (lt $value 1e9) }}in{{ end }}",
        "{{- if true -}} x {{- end -}}",
        "{{ if $x := $labels.job }}{{ $x }}{{ end }}",
        "{{ \"tab\\there\" }} {{ `raw\\n` }}",
        "{{ .Labels }} {{ .ExternalLabels }}",
        "{{ $ }}",
        "{{ $labels.job | printf \"%q\" }}",
        "{{ if not (eq $labels.job \"x\") }}not x{{ end }}",
        "{{ with $labels.nope }}{{ . }}{{ else }}{{ $labels.job | toUpper }}{{ end }}",
        "{{ range $labels }}{{ . }},{{ else }}empty{{ end }}",
        "{{ humanize 999.95 }} {{ humanize 1000 }} {{ humanize 0.001 }} {{ humanize1024 1024 }}",
        "{{ printf \"%.0f %.1f %10.3f|%-10.2f|\" 2.5 0.05 3.14159 -1.005 }}",
        "{{ printf \"%s\" 1.5 }} {{ printf \"%x %X\" 255 255 }}",
        "{{ 1 }}{{ \"\" }}{{ false }}",
    ];
    let value = 1234567.891;
    let labels = vigil_shared::model::Labels::from_pairs([("instance", "host.example.com:9100"), ("job", "node")]);
    let external = BTreeMap::from([("region".to_owned(), "eu".to_owned())]);
    let mut annotations = serde_json::Map::new();
    let mut expected = serde_json::Map::new();
    for (i, text) in templates.iter().enumerate() {
        let template = Template::parse("__alert_T", text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let ours = template
            .expand_alert(&AlertData {
                labels: &labels,
                external_labels: &external,
                external_url: "",
                value,
                time_ms: 0,
                query: None,
            })
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        annotations.insert(format!("a{i}"), Value::from(*text));
        expected.insert(format!("a{i}"), Value::from(ours));
    }
    let rules = serde_json::json!({"groups": [{"name": "g", "rules": [{
        "alert": "T",
        "expr": format!("label_replace(label_replace(vector({value}), \"instance\", \"host.example.com:9100\", \"\", \"\"), \"job\", \"node\", \"\", \"\")"),
        "annotations": annotations,
    }]}]});
    let tests = serde_json::json!({
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [{
            "external_labels": {"region": "eu"},
            "alert_rule_test": [{
                "eval_time": "0m",
                "alertname": "T",
                "exp_alerts": [{"exp_labels": {"instance": "host.example.com:9100", "job": "node"}, "exp_annotations": expected}],
            }],
        }],
    });
    let dir = temp_dir("vigil-templates");
    std::fs::write(dir.join("rules.yml"), serde_yaml_ng::to_string(&rules).unwrap()).unwrap();
    std::fs::write(dir.join("test.yml"), serde_yaml_ng::to_string(&tests).unwrap()).unwrap();
    let promtool =
        Command::new(PROMTOOL).args(["test", "rules"]).arg(dir.join("test.yml")).output().expect("run promtool");
    assert!(
        promtool.status.success(),
        "promtool expands differently:\n{}{}",
        String::from_utf8_lossy(&promtool.stdout),
        String::from_utf8_lossy(&promtool.stderr)
    );
    let ours =
        Command::new(env!("CARGO_BIN_EXE_vigil")).args(["test", "rules"]).arg(dir.join("test.yml")).output().unwrap();
    assert!(ours.status.success(), "{}", String::from_utf8_lossy(&ours.stdout));
    let _ = std::fs::remove_dir_all(&dir);
}
