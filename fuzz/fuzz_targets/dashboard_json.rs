//! Any dashboard JSON or share link: import (parse, limits, migration of old
//! schemas, layout) and share-link decoding return a value or an error, and
//! never panic; an imported dashboard exports to JSON that imports again to
//! the same dashboard.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_shared::dashboard::{Dashboard, share};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(dashboard) = Dashboard::from_json(text) {
        let again = Dashboard::from_json(&dashboard.to_json());
        assert_eq!(again.as_ref(), Ok(&dashboard), "export of {text:?} does not import to the same dashboard");
    }
    let _ = share::decode(text);
});
