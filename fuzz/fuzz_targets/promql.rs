//! Any query text: the PromQL parser returns a tree or an error whose span
//! lies inside the input, and a parsed tree prints to text that parses again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_shared::promql::parse;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match parse(text) {
        Ok(expr) => {
            let printed = expr.to_string();
            assert!(parse(&printed).is_ok(), "{text:?} printed as {printed:?}, which does not parse");
        }
        Err(e) => {
            assert!(e.span.start <= e.span.end && e.span.end <= text.len(), "{text:?}: span {:?}", e.span);
            let _ = e.describe(text);
        }
    }
});
