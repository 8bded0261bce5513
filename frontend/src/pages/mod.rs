//! The app's pages, one module each: the dashboard list, a dashboard,
//! Explore, and the Targets, Alerts and Rules status tables. Navigation
//! state lives in the URL, so every view survives reload and back/forward.

pub mod alerts;
pub mod dashboard;
pub mod explore;
pub mod import;
pub mod list;
pub mod rules;
pub mod share;
pub mod targets;

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_location, use_navigate};

/// The pairs of a query string, decoded as the router decodes them.
pub fn parse_query(search: &str) -> Vec<(String, String)> {
    let decode =
        |s: &str| -> String { js_sys::decode_uri_component(s).ok().map_or_else(|| s.to_owned(), String::from) };
    search
        .trim_start_matches('?')
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(pair), String::new()),
        })
        .collect()
}

/// The query string of `pairs`, every part percent-encoded (spaces as
/// `%20`: the router does not read `+` as a space).
pub fn format_query(pairs: &[(String, String)]) -> String {
    let encode = crate::api::encode;
    let parts: Vec<String> = pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
    if parts.is_empty() { String::new() } else { format!("?{}", parts.join("&")) }
}

/// A changed URL query: each key given replaces all its values (none
/// removes it); the others stay as they were, in order.
pub fn with_changes(pairs: Vec<(String, String)>, changes: &[(String, Vec<String>)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> =
        pairs.into_iter().filter(|(k, _)| !changes.iter().any(|(c, _)| c == k)).collect();
    for (key, values) in changes {
        out.extend(values.iter().map(|v| (key.clone(), v.clone())));
    }
    out
}

/// Writes query changes into the URL of the current page: a history entry
/// per change (back undoes it), or a replacement for typing.
pub fn use_query_writer() -> impl Fn(Vec<(String, Vec<String>)>, bool) + Clone + 'static {
    let navigate = use_navigate();
    let location = use_location();
    move |changes, replace| {
        let pairs = with_changes(parse_query(&location.search.get_untracked()), &changes);
        let url = format!("{}{}", location.pathname.get_untracked(), format_query(&pairs));
        navigate(&url, NavigateOptions { replace, scroll: false, ..Default::default() });
    }
}

/// A change of one key to one value.
pub fn set(key: &str, value: impl Into<String>) -> (String, Vec<String>) {
    (key.to_owned(), vec![value.into()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn query_strings_round_trip_through_changes() {
        let start = parse_query("?from=now-6h&var-job=a&var-job=b%20c&expr=rate(x%5B5m%5D)%20*%202");
        assert_eq!(start[3], ("expr".to_owned(), "rate(x[5m]) * 2".to_owned()));
        // (parameter changes, the query string after them).
        type Case<'a> = (&'a [(&'a str, &'a [&'a str])], &'a str);
        let cases: &[Case] = &[
            (&[], "?from=now-6h&var-job=a&var-job=b%20c&expr=rate(x%5B5m%5D)%20*%202"),
            (
                &[("from", &["1700000000000"])],
                "?var-job=a&var-job=b%20c&expr=rate(x%5B5m%5D)%20*%202&from=1700000000000",
            ),
            (&[("var-job", &[]), ("expr", &[])], "?from=now-6h"),
            (&[("var-job", &["x|y"])], "?from=now-6h&expr=rate(x%5B5m%5D)%20*%202&var-job=x%7Cy"),
        ];
        for (changes, want) in cases {
            let changes: Vec<(String, Vec<String>)> =
                changes.iter().map(|(k, vs)| ((*k).to_owned(), vs.iter().map(|v| (*v).to_owned()).collect())).collect();
            let got = format_query(&with_changes(start.clone(), &changes));
            assert_eq!(got, *want);
            assert_eq!(parse_query(&got), with_changes(start.clone(), &changes), "parses back");
        }
    }
}
