//! Any notification template text: parsing returns a template or an error
//! with a position, and expanding it (text and HTML, with a library that
//! has a recursive `define`) returns text or an error — never a panic or a
//! stack overflow.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use vigil::rules::template::{Dialect, NotifyAlert, NotifyData, Template};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let template = match Template::parse_dialect("fuzz", text, Dialect::Alertmanager) {
        Ok(t) => t,
        Err(e) => {
            assert!(e.to_string().starts_with("template: fuzz:"));
            return;
        }
    };
    let labels: BTreeMap<String, String> =
        [("alertname", "A"), ("instance", "h:1")].iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let data = NotifyData {
        receiver: "r".to_owned(),
        status: "firing".to_owned(),
        alerts: vec![NotifyAlert {
            status: "firing".to_owned(),
            labels: labels.clone(),
            annotations: labels.clone(),
            starts_at_ms: 1_700_000_000_123,
            ends_at_ms: 0,
            generator_url: "http://x/graph".to_owned(),
            fingerprint: "0123456789abcdef".to_owned(),
        }],
        group_labels: labels.clone(),
        common_labels: labels,
        common_annotations: BTreeMap::new(),
        external_url: "http://x".to_owned(),
    };
    let library = Template::parse_dialect("lib", r#"{{ define "loop" }}{{ template "loop" . }}{{ end }}"#, Dialect::Alertmanager)
        .into_iter()
        .collect::<Vec<_>>();
    for html in [false, true] {
        let _ = template.expand_notification(&data, &library, html, 1_700_000_100_000);
    }
});
