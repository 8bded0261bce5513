//! Any body, in both formats: the exposition parser returns samples or an
//! error with a position, and never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil::scrape::exposition::{Format, parse};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for format in [Format::PrometheusText, Format::OpenMetrics] {
            match parse(text, format) {
                Ok(parsed) => {
                    for sample in &parsed.samples {
                        if let Err(e) = sample.series() {
                            assert!(e.line >= 1 && e.column >= 1);
                        }
                    }
                }
                Err(e) => assert!(e.line >= 1 && e.column >= 1),
            }
        }
    }
});
