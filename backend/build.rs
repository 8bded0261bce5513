//! Embeds the dashboard app (Trunk's `dist/` at the workspace root) into the
//! binary, so `vigil` is one self-contained file, as Prometheus is; also
//! records the compiler's version for the build-info endpoint.
//!
//! Writes `$OUT_DIR/ui_assets.rs` with one `(path, bytes)` entry per file.
//! Without a built `dist/`, the list is empty and the server answers the UI
//! routes with instructions to build it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let dist = std::env::var_os("VIGIL_UI_DIST").map(PathBuf::from).unwrap_or_else(|| manifest_dir.join("../dist"));
    println!("cargo:rerun-if-env-changed=VIGIL_UI_DIST");
    // A directory here makes Cargo rerun us when any file inside changes; a
    // missing one makes it rerun every build until it exists.
    println!("cargo:rerun-if-changed={}", dist.display());

    // The compiler's version, for `/api/v1/status/buildinfo` (where
    // Prometheus reports its Go version).
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let version = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "rust".to_owned());
    println!("cargo:rustc-env=VIGIL_RUSTC_VERSION={version}");
    for name in ["VIGIL_BUILD_REVISION", "VIGIL_BUILD_BRANCH", "VIGIL_BUILD_USER", "VIGIL_BUILD_DATE"] {
        println!("cargo:rerun-if-env-changed={name}");
    }

    let mut files = Vec::new();
    collect(&dist, &dist, &mut files);
    files.sort();
    let mut code = String::from(
        "/// Files of the built dashboard app: (path relative to dist/, contents).\npub static UI_ASSETS: &[(&str, &[u8])] = &[\n",
    );
    for (relative, absolute) in &files {
        let _ = writeln!(code, "    ({relative:?}, include_bytes!({absolute:?})),");
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("ui_assets.rs");
    if let Err(e) = std::fs::write(&out, code) {
        panic!("cannot write {}: {e}", out.display());
    }
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, files);
        } else if let (Ok(relative), Ok(absolute)) = (path.strip_prefix(root), path.canonicalize()) {
            files.push((relative.to_string_lossy().replace('\\', "/"), absolute.to_string_lossy().into_owned()));
        }
    }
}
