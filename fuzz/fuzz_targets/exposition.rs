//! Any body, in both formats: the exposition parser returns samples or an
//! error with a position, and never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil::scrape::exposition::{Format, parse};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for format in [Format::PrometheusText, Format::OpenMetrics] {
            if let Err(e) = parse(text, format) {
                assert!(e.line >= 1 && e.column >= 1);
            }
        }
    }
});
