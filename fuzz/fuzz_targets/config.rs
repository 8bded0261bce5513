//! Any configuration text: loading returns a config or an error naming the
//! file, and never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use vigil::config::Config;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(e) = Config::parse(text, Path::new("fuzz.yml")) {
            assert!(e.to_string().starts_with("fuzz.yml"));
        }
    }
});
