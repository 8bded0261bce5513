//! Serves the dashboard app (the Wasm build of `frontend/`) from files
//! embedded at compile time by `build.rs`.
//!
//! Any path that is not an API route and not an asset gets `index.html`,
//! so the app's client-side routes survive a reload.

use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

include!(concat!(env!("OUT_DIR"), "/ui_assets.rs"));

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}

fn asset(path: &str) -> Option<&'static [u8]> {
    UI_ASSETS.iter().find(|(p, _)| *p == path).map(|(_, bytes)| *bytes)
}

/// Whether the binary was built with the dashboard app inside.
pub fn ui_is_embedded() -> bool {
    asset("index.html").is_some()
}

/// The fallback handler: an asset, or the app's `index.html`.
pub async fn serve_ui(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    if path.starts_with("api/") {
        return (StatusCode::NOT_FOUND, "404 page not found\n").into_response();
    }
    if let Some(bytes) = asset(path).filter(|_| !path.is_empty()) {
        // Trunk puts a content hash in asset names, so they never change.
        return (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(content_type(path))),
                (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable")),
            ],
            bytes,
        )
            .into_response();
    }
    match asset("index.html") {
        Some(index) => (
            [(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")), (header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))],
            index,
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            "This vigil binary was built without the dashboard app. Build it with `cargo xtask run` (or `trunk build --release` before `cargo build`).\n",
        )
            .into_response(),
    }
}
