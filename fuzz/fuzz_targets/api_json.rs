//! Any answer body: the dashboard app's decoder of Prometheus API JSON
//! returns a value or an error, and never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_shared::model::api::{ApiResponse, QueryData, TargetsData};

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<ApiResponse<QueryData>>(data);
    let _ = serde_json::from_slice::<ApiResponse<TargetsData>>(data);
});
