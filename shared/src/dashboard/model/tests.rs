//! Golden imports (a real Node Exporter Full, a real and a hand-made old
//! schema dashboard) and hostile inputs.

use super::*;

const NODE_EXPORTER_FULL: &str = include_str!("../../../testdata/dashboards/node-exporter-full.json");
const OLD_DOCKER: &str = include_str!("../../../testdata/dashboards/old-docker-monitoring.json");
const OLD_ROWS: &str = include_str!("../../../testdata/dashboards/old-schema-rows.json");

fn load(src: &str) -> Dashboard {
    match Dashboard::from_json(src) {
        Ok(d) => d,
        Err(e) => panic!("import failed: {e}"),
    }
}

fn pos(x: u32, y: u32, w: u32, h: u32) -> Option<GridPos> {
    Some(GridPos { x, y, w, h })
}

fn by_id(d: &Dashboard, id: i64) -> &Panel {
    match d.all_panels().find(|p| p.id == Some(id)) {
        Some(p) => p,
        None => panic!("no panel {id}"),
    }
}

#[test]
fn node_exporter_full_imports() {
    let d = load(NODE_EXPORTER_FULL);
    assert_eq!(d.title, "Node Exporter Full");
    assert_eq!(d.uid.as_deref(), Some("rYdddlPWk"));
    assert_eq!(d.tags, ["linux"]);
    assert_eq!((d.time.from.as_str(), d.time.to.as_str()), ("now-24h", "now"));
    assert_eq!(d.refresh.as_deref(), Some("1m"));
    assert_eq!(d.panels.len(), 31);
    assert_eq!(d.all_panels().count(), 31 + 107);
    // Table: index, id, type, title, gridPos, unit, number of targets.
    type Case = (usize, i64, &'static str, &'static str, Option<GridPos>, Option<&'static str>, usize);
    let cases: &[Case] = &[
        (0, 261, "row", "Quick CPU / Mem / Disk", pos(0, 0, 24, 1), None, 0),
        (1, 323, "bargauge", "Pressure", pos(0, 1, 3, 4), Some("percentunit"), 4),
        (2, 20, "gauge", "CPU Busy", pos(3, 1, 3, 4), Some("percent"), 1),
        (8, 75, "stat", "RAM Total", pos(20, 1, 2, 2), Some("bytes"), 1),
        (11, 15, "stat", "Uptime", pos(20, 3, 4, 2), Some("s"), 1),
        (13, 77, "timeseries", "CPU Basic", pos(0, 6, 12, 7), Some("percentunit"), 6),
        (15, 74, "timeseries", "Network Traffic Basic", pos(0, 13, 12, 7), Some("bps"), 2),
    ];
    for &(i, id, kind, title, grid, unit, targets) in cases {
        let p = &d.panels[i];
        assert_eq!((p.id, p.kind.as_str(), p.title.as_str()), (Some(id), kind, title), "panel {i}");
        assert_eq!(p.grid_pos, grid, "panel {i} gridPos");
        assert_eq!(p.field_config.defaults.unit.as_deref(), unit, "panel {i} unit");
        assert_eq!(p.targets.len(), targets, "panel {i} targets");
    }
    let cpu = &d.panels[13];
    assert_eq!(cpu.field_config.defaults.min, Some(0.0));
    assert_eq!(cpu.field_config.defaults.color.as_ref().map(|c| c.mode.as_str()), Some("palette-classic"));
    assert_eq!(cpu.field_config.defaults.custom.get("fillOpacity"), Some(&json!(40)));
    assert_eq!(cpu.field_config.overrides.len(), 5);
    // A collapsed row keeps its panels nested.
    let row = &d.panels[17];
    assert_eq!((row.kind.as_str(), row.collapsed, row.panels.len()), ("row", Some(true), 10));
    assert_eq!(row.panels[0].title, "CPU");
    assert_eq!(row.panels[0].grid_pos, pos(0, 21, 12, 12));
    // Variables: a datasource variable (kept as another kind) and queries
    // written in Grafana's object form.
    let vars: Vec<(&VariableKind, &str, &str)> =
        d.templating.list.iter().map(|v| (&v.kind, v.name.as_str(), v.query.as_str())).collect();
    assert_eq!(vars[0], (&VariableKind::Other("datasource".into()), "ds_prometheus", "prometheus"));
    assert_eq!(vars[1], (&VariableKind::Query, "job", "label_values(node_uname_info, job)"));
    assert_eq!(vars.len(), 4);
    let job = &d.templating.list[1];
    assert_eq!((job.sort(), job.hide(), job.refresh()), (1, 0, 1));
}

/// What Vigil does not model survives import → export → import, and a
/// modern panel exports exactly as it was written.
#[test]
fn node_exporter_full_round_trips() {
    let d = load(NODE_EXPORTER_FULL);
    let again = load(&d.to_json());
    assert_eq!(d, again);
    let original: Value = serde_json::from_str(NODE_EXPORTER_FULL).unwrap_or_default();
    let exported: Value = serde_json::from_str(&d.to_json()).unwrap_or_default();
    for key in ["annotations", "links", "graphTooltip", "editable", "version", "fiscalYearStartMonth"] {
        assert_eq!(original.get(key), exported.get(key), "{key}");
    }
    for i in [1, 2, 8, 13, 15] {
        let (a, b) = (&original["panels"][i], &exported["panels"][i]);
        if a != b {
            let dump = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
            let (a, b) = (dump(a), dump(b));
            let first = a.lines().zip(b.lines()).position(|(x, y)| x != y).unwrap_or(0);
            let around = |s: &str| s.lines().skip(first.saturating_sub(3)).take(6).collect::<Vec<_>>().join("\n");
            panic!("panel {i} changed on export:\n{}\n---\n{}", around(&a), around(&b));
        }
    }
}

#[test]
fn old_real_dashboard_rows_become_grid() {
    let d = load(OLD_DOCKER);
    assert!(d.rows.is_empty());
    assert_eq!((d.time.from.as_str(), d.refresh.as_deref()), ("now-15m", Some("10s")));
    assert_eq!(d.templating.list[0].query, "label_values(container_scrape_error, instance)");
    // No row is titled, collapsed or repeated: no row panels, as in Grafana.
    let cases: &[(i64, &str, Option<GridPos>, &str)] = &[
        (7, "stat", pos(0, 0, 8, 3), "none"),
        (5, "stat", pos(8, 0, 8, 3), "mbytes"),
        (6, "stat", pos(16, 0, 8, 3), "percent"),
        (2, "timeseries", pos(0, 3, 24, 7), "percent"),
        (1, "timeseries", pos(0, 10, 24, 7), "bytes"),
        (3, "timeseries", pos(0, 17, 12, 7), "Bps"),
        (4, "timeseries", pos(12, 17, 12, 7), "Bps"),
    ];
    assert_eq!(d.panels.len(), cases.len());
    for (p, &(id, kind, grid, unit)) in d.panels.iter().zip(cases) {
        assert_eq!((p.id, p.kind.as_str(), p.grid_pos), (Some(id), kind, grid));
        assert_eq!(p.field_config.defaults.unit.as_deref(), Some(unit), "panel {id}");
    }
    let stat = by_id(&d, 7);
    let reduce = stat.options.reduce_options.as_ref().map(|r| r.calcs.clone());
    assert_eq!(reduce, Some(vec!["lastNotNull".to_string()]));
    assert_eq!(stat.options.extra.get("graphMode"), Some(&json!("none")));
}

#[test]
fn old_schema_migration() {
    let d = load(OLD_ROWS);
    assert_eq!(d.refresh, None);
    let layout: Vec<(Option<i64>, &str, Option<GridPos>)> =
        d.panels.iter().map(|p| (p.id, p.kind.as_str(), p.grid_pos)).collect();
    assert_eq!(
        layout,
        [
            (Some(8), "row", pos(0, 0, 24, 1)),
            (Some(1), "stat", pos(0, 1, 6, 4)),
            (Some(2), "gauge", pos(6, 1, 6, 4)),
            (Some(3), "timeseries", pos(12, 1, 12, 8)),
            (Some(9), "row", pos(0, 9, 24, 1)),
            (Some(10), "row", pos(0, 10, 24, 1)),
            (Some(6), "text", pos(0, 11, 16, 7)),
            (Some(7), "timeseries", pos(16, 11, 8, 7)),
        ]
    );
    // The collapsed row holds its panels; the unknown plugin is kept as is.
    let details = &d.panels[4];
    assert_eq!((details.title.as_str(), details.collapsed), ("Details", Some(true)));
    let nested: Vec<(Option<i64>, &str, Option<GridPos>)> =
        details.panels.iter().map(|p| (p.id, p.kind.as_str(), p.grid_pos)).collect();
    assert_eq!(
        nested,
        [(Some(4), "timeseries", pos(0, 6, 24, 7)), (Some(5), "piechart-unknown-plugin", pos(0, 13, 8, 7))]
    );
    assert_eq!(details.panels[1].panel_kind(), PanelKind::Unknown);
    assert_eq!(details.panels[0].field_config.defaults.custom.get("drawStyle"), Some(&json!("bars")));

    // singlestat: thresholds + colours → steps, format → unit, sparkline,
    // valueName → calculation, decimals given as a string.
    let up = by_id(&d, 1);
    let dflt = &up.field_config.defaults;
    assert_eq!(dflt.unit.as_deref(), Some("percentunit"));
    assert_eq!(dflt.decimals, Some(1));
    let steps: Vec<(String, Option<f64>)> =
        dflt.thresholds.iter().flat_map(|t| t.steps.iter().map(|s| (s.color.clone(), s.value))).collect();
    assert_eq!(
        steps,
        [("#d44a3a".into(), None), ("rgba(237, 129, 40, 0.89)".into(), Some(0.5)), ("#299c46".into(), Some(0.9))]
    );
    assert_eq!(up.options.extra.get("graphMode"), Some(&json!("area")));
    assert_eq!(up.options.reduce_options.as_ref().map(|r| r.calcs.clone()), Some(vec!["mean".to_string()]));
    let disk = by_id(&d, 2);
    assert_eq!((disk.field_config.defaults.min, disk.field_config.defaults.max), (Some(0.0), Some(100.0)));

    // graph: draw style, stacking, fill, axis unit/min/decimals, legend, tooltip.
    let req = by_id(&d, 3);
    let custom = &req.field_config.defaults.custom;
    assert_eq!(custom.get("drawStyle"), Some(&json!("line")));
    assert_eq!(custom.get("lineWidth"), Some(&json!(2.0)));
    assert_eq!(custom.get("fillOpacity"), Some(&json!(10.0)));
    assert_eq!(custom.get("stacking"), Some(&json!({"mode": "normal", "group": "A"})));
    let dflt = &req.field_config.defaults;
    assert_eq!((dflt.unit.as_deref(), dflt.min, dflt.max, dflt.decimals), (Some("reqps"), Some(0.0), None, Some(2)));
    let legend = req.options.legend.as_ref();
    assert_eq!(legend.map(|l| (l.display_mode.as_str(), l.placement.as_str())), Some(("table", "right")));
    assert_eq!(legend.map(|l| l.calcs.clone()), Some(vec!["mean".to_string(), "max".into(), "lastNotNull".into()]));
    assert_eq!(req.options.tooltip.as_ref().map(|t| (t.mode.as_str(), t.sort.as_str())), Some(("multi", "desc")));
    assert_eq!(req.targets[0].legend_format.as_deref(), Some("{{code}}"));
    assert_eq!(req.targets[0].interval_factor, Some(2));
    assert!(!req.extra.contains_key("yaxes") && !req.extra.contains_key("span"));

    // Script in titles and text is kept verbatim: escaping is the renderer's.
    let text = by_id(&d, 6);
    assert_eq!(text.title, "<script>alert(1)</script>");
    assert_eq!(text.text_content(), Some("<script>alert('x')</script><b>hi</b>"));
    // Migrated dashboards are stable: a second import changes nothing.
    assert_eq!(load(&d.to_json()), d);
}

fn err(src: &str) -> DashboardError {
    match Dashboard::from_json(src) {
        Ok(_) => panic!("{src:.80} was accepted"),
        Err(e) => e,
    }
}

fn path_of(e: &DashboardError) -> &str {
    match e {
        DashboardError::Json { path, .. }
        | DashboardError::Limit { path, .. }
        | DashboardError::Invalid { path, .. } => path,
        _ => "",
    }
}

#[test]
fn wrong_types_name_their_path() {
    let panels = r#"{"type":"stat"},{"type":"stat"},{"type":"stat"}"#;
    let cases: &[(String, &str, &str)] = &[
        (
            format!(r#"{{"panels":[{panels},{{"gridPos":{{"x":0,"y":0,"w":"wide","h":3}}}}]}}"#),
            "panels[3].gridPos.w",
            "invalid type",
        ),
        (r#"{"panels":[{"gridPos":{"x":0,"y":0,"w":-1,"h":3}}]}"#.into(), "panels[0].gridPos.w", "invalid value"),
        (r#"{"title":["x"]}"#.into(), "title", "expected a string, found a list"),
        (r#"{"panels":{"a":1}}"#.into(), "panels", "invalid type: map"),
        (
            r#"{"panels":[{"targets":[{"expr":5,"refId":"A"},{"expr":{}}]}]}"#.into(),
            "panels[0].targets[1].expr",
            "found an object",
        ),
        (
            r#"{"panels":[{"fieldConfig":{"defaults":{"min":"zero"}}}]}"#.into(),
            "panels[0].fieldConfig.defaults.min",
            "the string \"zero\"",
        ),
        (
            r#"{"templating":{"list":[{"name":"x","multi":[]}]}}"#.into(),
            "templating.list[0].multi",
            "expected true or false",
        ),
        (r#"{"time":{"from":null,"to":"now"}}"#.into(), "time.from", "found null"),
        (r#"{"rows":[{"panels":[{"span":2}, {"gridPos":7}]}]}"#.into(), "rows[0].panels[1].gridPos", "invalid type"),
    ];
    for (src, path, message) in cases {
        let e = err(src);
        assert_eq!(path_of(&e), *path, "{src}: {e}");
        assert!(e.to_string().contains(message), "{src}: {e}");
    }
}

#[test]
fn limits() {
    let many = format!(r#"{{"panels":[{}]}}"#, vec![r#"{"type":"text"}"#; 100_000].join(","));
    let e = err(&many);
    assert_eq!(path_of(&e), "panels", "{e}");
    assert!(e.to_string().contains("more than 1000 entries"), "{e}");

    // Under the per-list limit, but too many counting rows' panels.
    let row = format!(r#"{{"type":"row","collapsed":true,"panels":[{}]}}"#, vec!["{}"; 600].join(","));
    let e = err(&format!(r#"{{"panels":[{row},{row}]}}"#));
    assert!(matches!(e, DashboardError::Limit { limit: MAX_PANELS, .. }), "{e}");

    let targets = vec![r#"{"expr":"up"}"#; MAX_TARGETS_PER_PANEL + 1].join(",");
    let e = err(&format!(r#"{{"panels":[{{}},{{"targets":[{targets}]}}]}}"#));
    assert_eq!(path_of(&e), "panels[1].targets", "{e}");

    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(matches!(err(&format!(r#"{{"panels":{deep}}}"#)), DashboardError::TooDeep { limit: MAX_JSON_DEPTH, .. }));
    // Brackets inside strings do not count.
    let title = "[{".repeat(1000);
    assert_eq!(load(&format!(r#"{{"title":"{title}"}}"#)).title, title);

    let huge = format!(r#"{{"title":"{}"}}"#, "a".repeat(MAX_DASHBOARD_BYTES));
    assert!(matches!(err(&huge), DashboardError::TooLarge { .. }));

    let nested = r#"{"panels":[{"type":"row","panels":[{"panels":[{}]}]}]}"#;
    assert_eq!(path_of(&err(nested)), "panels[0].panels[0].panels");

    for bad in ["", "[]", "{", r#"{"title":"a"} trailing"#, "null"] {
        let _ = err(bad);
    }
}

#[test]
fn lenient_where_grafana_is() {
    let src = r#"{
        "id": null, "uid": "u1", "title": null, "tags": null, "refresh": "",
        "panels": [
          {"id": "4", "type": "stat", "title": "S", "gridPos": {"x": 30, "y": 0, "w": 40, "h": 0},
           "datasource": "Prometheus", "maxDataPoints": "500",
           "fieldConfig": {"defaults": {"min": "0", "max": 100, "decimals": "2",
              "thresholds": {"mode": "percentage", "steps": [{"color": "green", "value": null}, {"color": "red", "value": "80"}]}}},
           "targets": [{"expr": "up", "refId": "A", "instant": "true", "datasource": {"type": "prometheus", "uid": "x"}}]},
          {"type": "timeseries", "title": "no position"},
          {"type": "timeseries", "title": "no position either"}
        ],
        "templating": {"list": [{"type": "query", "name": "v", "query": {"query": "label_values(up, job)", "refId": "X"},
           "current": {"text": ["a", "b"], "value": ["a", "b"]}}]}
    }"#;
    let d = load(src);
    assert_eq!((d.title.as_str(), d.refresh.as_ref(), d.tags.len()), ("", None, 0));
    let by_title = |t: &str| d.panels.iter().find(|p| p.title == t).and_then(|p| p.grid_pos);
    let p = by_id(&d, 4);
    assert_eq!((p.id, p.max_data_points), (Some(4), Some(500)));
    // Off-grid positions are pulled onto the grid.
    assert_eq!(p.grid_pos, pos(23, 0, 1, 1));
    let dflt = &p.field_config.defaults;
    assert_eq!((dflt.min, dflt.max, dflt.decimals), (Some(0.0), Some(100.0), Some(2)));
    let t = dflt.thresholds.as_ref().map(|t| (t.mode, t.steps[1].value));
    assert_eq!(t, Some((ThresholdsMode::Percentage, Some(80.0))));
    assert!(p.targets[0].is_instant() && !p.targets[0].is_range());
    assert_eq!(p.datasource, Some(json!("Prometheus")));
    // Panels without a position are laid out below, side by side.
    // Compaction floats the first up beside the stat; the second shares a
    // column with it and rests below.
    assert_eq!(by_title("no position"), pos(0, 0, 12, 8));
    assert_eq!(by_title("no position either"), pos(12, 1, 12, 8));
    // …and the panels are in reading order.
    let order: Vec<&str> = d.panels.iter().map(|p| p.title.as_str()).collect();
    assert_eq!(order, ["no position", "S", "no position either"]);
    let v = &d.templating.list[0];
    assert_eq!((v.query.as_str(), v.current.as_ref().map(|c| c.value.len())), ("label_values(up, job)", Some(2)));
}
