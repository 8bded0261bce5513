//! Any query text: the PromQL parser returns a tree or an error whose span
//! lies inside the input, and a parsed tree prints to text that parses again
//! to the same tree. Completion works at every cursor position.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_shared::promql::{complete::complete, parse};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match parse(text) {
        Ok(expr) => {
            let printed = expr.to_string();
            match parse(&printed) {
                Ok(again) => assert!(again.same_as(&expr), "{text:?} printed as {printed:?}, which parses differently"),
                Err(e) => panic!("{text:?} printed as {printed:?}, which does not parse: {e}"),
            }
        }
        Err(e) => {
            assert!(e.span.start <= e.span.end && e.span.end <= text.len(), "{text:?}: span {:?}", e.span);
            let _ = e.describe(text);
        }
    }
    for cursor in [0, text.len() / 2, text.len()] {
        let c = complete(text, cursor);
        assert!(c.replace.start <= c.replace.end && c.replace.end <= text.len());
    }
});
