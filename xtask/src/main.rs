//! Developer commands, so a fresh machine needs exactly two:
//! `cargo xtask run` (set up, build the UI, start Vigil) and
//! `cargo xtask test` (set up, then the whole test suite).
//!
//! Every step checks before it acts, so the second run is quick: tools are
//! installed only when missing or at the wrong version, and the version of
//! `wasm-bindgen-cli` always comes from `Cargo.lock`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

const USAGE: &str = "usage: cargo xtask <command>

commands:
  setup [--test-packages]
                      install what is missing: wasm32 target, trunk, wasm-bindgen-cli (and,
                      with --test-packages, the Debian packages the tests drive: chromium,
                      chromium-driver, prometheus, prometheus-alertmanager,
                      prometheus-node-exporter)
  build-ui            build the dashboard app into dist/ with trunk (release)
  run [ARGS...]       setup, build-ui, build vigil (release) and start it with
                      examples/vigil.yml and the dashboards of examples/dashboards on
                      http://127.0.0.1:9090; ARGS go to vigil
  fuzz [SECONDS]       run every cargo-fuzz target (fuzz/) for SECONDS each (default 60)
  test                setup --test-packages, build-ui, then every test: native, the shared
                      crate's wasm32 build and its browser suite (headless Chromium), backend
                      integration and browser end-to-end, and a short run of every fuzz target
  test-wasm           setup --test-packages, then only the browser suites: the shared crate's
                      (shared/tests/wasm.rs in headless Chromium, debug and release) and the
                      frontend's (its unit and panel drawing tests, release)";

/// Trunk 0.22 needs a newer rustc than the project's fixed 1.95.
const TRUNK_VERSION_REQ: &str = "^0.21";
const TRUNK_VERSION_PREFIX: &str = "trunk 0.21.";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root()?;
    std::env::set_current_dir(&root).with_context(|| format!("cannot enter {}", root.display()))?;
    match args.first().map(String::as_str) {
        Some("setup") => setup(args.iter().any(|a| a == "--test-packages")),
        Some("build-ui") => build_ui(),
        Some("run") => run(&args[1..]),
        Some("test") => test(),
        Some("test-wasm") => {
            setup(true)?;
            let (passed, failed) = wasm_tests()?;
            println!("tests: {passed} passed, {failed} failed");
            Ok(())
        }
        Some("fuzz") => {
            let seconds = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(60);
            fuzz(seconds)
        }
        _ => {
            eprintln!("{USAGE}");
            bail!("unknown or missing command");
        }
    }
}

fn workspace_root() -> Result<PathBuf> {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().map(Path::to_path_buf).context("xtask must live one level below the workspace root")
}

/// Runs a command, streaming its output, and fails if it fails.
fn run_cmd(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: $ {}", describe(cmd));
    let status = cmd.status().with_context(|| format!("cannot start {}", describe(cmd)))?;
    if !status.success() {
        bail!("`{}` failed with {status}", describe(cmd));
    }
    Ok(())
}

/// Runs a command quietly and returns its stdout, or None if it cannot run.
fn output_of(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn describe(cmd: &Command) -> String {
    let mut text = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
}

/// The version of `package` recorded in Cargo.lock.
fn locked_version(package: &str) -> Result<String> {
    let lock = std::fs::read_to_string("Cargo.lock").context("cannot read Cargo.lock")?;
    let needle = format!("name = \"{package}\"\nversion = \"");
    let start = lock.find(&needle).with_context(|| format!("{package} is not in Cargo.lock"))? + needle.len();
    let end = lock[start..].find('"').context("malformed Cargo.lock")? + start;
    Ok(lock[start..end].to_owned())
}

fn setup(with_test_packages: bool) -> Result<()> {
    // wasm32 target.
    let installed = output_of("rustup", &["target", "list", "--installed"]).unwrap_or_default();
    if !installed.lines().any(|l| l.trim() == "wasm32-unknown-unknown") {
        run_cmd(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))?;
    }

    // trunk.
    let trunk = output_of("trunk", &["--version"]).unwrap_or_default();
    if !trunk.starts_with(TRUNK_VERSION_PREFIX) {
        run_cmd(cargo().args(["install", "--locked", "trunk", "--version", TRUNK_VERSION_REQ]))?;
    }

    // wasm-bindgen-cli, exactly the version the frontend links against.
    let wanted = locked_version("wasm-bindgen")?;
    let have = output_of("wasm-bindgen", &["--version"]).unwrap_or_default();
    // The same package installs the runner of the shared crate's browser
    // tests; either one missing or stale means reinstalling both.
    let have_runner = output_of("wasm-bindgen-test-runner", &["--version"]).unwrap_or_default();
    if have != format!("wasm-bindgen {wanted}") || have_runner != format!("wasm-bindgen-test-runner {wanted}") {
        let version = format!("={wanted}");
        let locked =
            run_cmd(cargo().args(["install", "--locked", "--force", "wasm-bindgen-cli", "--version", &version]));
        if let Err(e) = locked {
            // Its lock file can name a dependency version the registry has
            // since yanked; the unlocked build resolves a served one.
            eprintln!("xtask: locked install failed ({e}); retrying without --locked");
            run_cmd(cargo().args(["install", "--force", "wasm-bindgen-cli", "--version", &version]))?;
        }
    }
    check_trunk_toml(&wanted)?;

    if with_test_packages {
        install_test_packages()?;
    }
    Ok(())
}

/// Trunk must use the installed wasm-bindgen and never download one.
fn check_trunk_toml(wasm_bindgen: &str) -> Result<()> {
    let text = std::fs::read_to_string("Trunk.toml").context("cannot read Trunk.toml")?;
    let pin = format!("wasm_bindgen = \"{wasm_bindgen}\"");
    if !text.contains(&pin) {
        bail!("Trunk.toml must pin `{pin}` under [tools] to match Cargo.lock's wasm-bindgen");
    }
    if !text.contains("offline = true") {
        bail!("Trunk.toml must set `offline = true` under [build] so trunk never downloads tools");
    }
    Ok(())
}

/// Debian packages the tests drive for real, with a file each installs.
const TEST_PACKAGES: &[(&str, &str)] = &[
    ("chromium", "/usr/bin/chromium"),
    ("chromium-driver", "/usr/bin/chromedriver"),
    ("prometheus", "/usr/bin/promtool"),
    ("prometheus-alertmanager", "/usr/bin/amtool"),
    ("prometheus-node-exporter", "/usr/bin/prometheus-node-exporter"),
];

fn install_test_packages() -> Result<()> {
    let missing: Vec<&str> =
        TEST_PACKAGES.iter().filter(|(_, path)| !Path::new(path).exists()).map(|(package, _)| *package).collect();
    if missing.is_empty() {
        return Ok(());
    }
    if output_of("apt-get", &["--version"]).is_none() {
        bail!(
            "the tests need Debian's {} (apt-get install -y {}), and apt-get is not available here",
            missing.join(", "),
            missing.join(" ")
        );
    }
    let as_root = output_of("id", &["-u"]).as_deref() == Some("0");
    let apt = |args: &[&str]| -> Result<()> {
        let mut cmd = if as_root { Command::new("apt-get") } else { Command::new("sudo") };
        if !as_root {
            cmd.arg("apt-get");
        }
        run_cmd(cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive"))
    };
    apt(&["update"])?;
    let mut install = vec!["install", "-y", "--no-install-recommends"];
    install.extend(&missing);
    apt(&install)
}

/// Builds the app into a staging folder and copies into `dist/` only what
/// changed: Trunk rewrites every file on each build, and `vigil` embeds
/// `dist/`, so untouched files must keep their times or every test binary
/// would rebuild on every run.
fn build_ui() -> Result<()> {
    let staging = Path::new("target/ui-staging");
    run_cmd(Command::new("trunk").args(["build", "--release", "--dist"]).arg(staging))?;
    sync_dir(staging, Path::new("dist"))
}

/// Makes `to` hold exactly the files of `from`, writing only files whose
/// contents differ and removing files `from` lacks.
fn sync_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    let mut wanted = std::collections::HashSet::new();
    for entry in std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        let (source, target) = (entry.path(), to.join(&name));
        wanted.insert(name);
        if source.is_dir() {
            sync_dir(&source, &target)?;
            continue;
        }
        let contents = std::fs::read(&source).with_context(|| format!("cannot read {}", source.display()))?;
        if std::fs::read(&target).ok().as_deref() != Some(contents.as_slice()) {
            std::fs::write(&target, &contents).with_context(|| format!("cannot write {}", target.display()))?;
        }
    }
    for entry in std::fs::read_dir(to).with_context(|| format!("cannot read {}", to.display()))? {
        let entry = entry?;
        if !wanted.contains(&entry.file_name()) {
            let path = entry.path();
            let removed = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
            removed.with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    Ok(())
}

fn run(vigil_args: &[String]) -> Result<()> {
    setup(false)?;
    build_ui()?;
    // Built after the UI so build.rs embeds the fresh dist/.
    run_cmd(cargo().args(["build", "--release", "-p", "vigil"]))?;
    let mut cmd = Command::new("target/release/vigil");
    cmd.args(["--config.file", "examples/vigil.yml", "--dashboards.provisioning-dir", "examples/dashboards"])
        .args(vigil_args);
    eprintln!("xtask: starting Vigil on http://127.0.0.1:9090 (Ctrl-C stops it)");
    run_cmd(&mut cmd)
}

const CARGO_FUZZ_VERSION_REQ: &str = "=0.13.2";
const CARGO_FUZZ_VERSION_PREFIX: &str = "cargo-fuzz 0.13.2";

/// The parsers' fuzz targets, in `fuzz/fuzz_targets/`.
const FUZZ_TARGETS: &[&str] = &["exposition", "promql", "config", "api_json", "dashboard_json", "notify_template"];

/// Seconds each fuzz target runs inside `cargo xtask test`: enough to catch
/// shallow crashes on every change; `cargo xtask fuzz` runs longer.
const TEST_FUZZ_SECONDS: u32 = 10;

fn fuzz(seconds: u32) -> Result<()> {
    // Pinned, as the other tools are, so a fresh machine builds what CI built.
    if !output_of("cargo", &["fuzz", "--version"]).unwrap_or_default().starts_with(CARGO_FUZZ_VERSION_PREFIX) {
        run_cmd(cargo().args(["install", "--locked", "cargo-fuzz", "--version", CARGO_FUZZ_VERSION_REQ]))?;
    }
    for target in FUZZ_TARGETS {
        // cargo-fuzz passes nightly-only sanitizer flags; RUSTC_BOOTSTRAP
        // lets the project's fixed stable toolchain accept them.
        run_cmd(
            cargo()
                .args(["fuzz", "run", "-O", target, "--", &format!("-max_total_time={seconds}")])
                .current_dir("fuzz")
                .env("RUSTC_BOOTSTRAP", "1"),
        )?;
    }
    Ok(())
}

fn test() -> Result<()> {
    setup(true)?;
    // The shared crate is the browser's too: it must build for wasm32.
    run_cmd(cargo().args(["build", "-p", "vigil-shared", "--target", "wasm32-unknown-unknown"]))?;
    // And it must behave the same there: its browser suite, in headless
    // Chromium, unoptimised and optimised (the app ships optimised, and
    // only an optimised build fits the deepest queries on the browser's
    // stack).
    let (mut passed, mut failed) = wasm_tests()?;
    // The browser test needs the app embedded in the vigil it starts.
    build_ui()?;
    // Lints are part of the suite: a warning fails it.
    run_cmd(cargo().args([
        "clippy",
        "-p",
        "vigil",
        "-p",
        "vigil-shared",
        "-p",
        "xtask",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    // The app builds only for wasm32, so it is linted there, in the release
    // profile its tests already built.
    run_cmd(cargo().args([
        "clippy",
        "-p",
        "vigil-frontend",
        "--target",
        "wasm32-unknown-unknown",
        "--release",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    fuzz(TEST_FUZZ_SECONDS)?;
    let mut cmd = cargo();
    cmd.args(["test", "--workspace", "--exclude", "vigil-frontend"]).env("CHROMEDRIVER", "/usr/bin/chromedriver");
    let (native_passed, native_failed) = run_and_count_tests(&mut cmd)?;
    passed += native_passed;
    failed += native_failed;
    // One closing line for the whole suite, after cargo's per-binary ones.
    println!("tests: {passed} passed, {failed} failed");
    if passed == 0 {
        bail!("the test suite ran no test");
    }
    Ok(())
}

/// Runs the shared crate's wasm-bindgen-test suite (`shared/tests/wasm.rs`)
/// in headless Chromium, in the test profile and in release, then the
/// frontend's tests in release. Never skipped:
/// without its runner or the browser this fails and says what is missing.
fn wasm_tests() -> Result<(u64, u64)> {
    let wanted = locked_version("wasm-bindgen")?;
    match output_of("wasm-bindgen-test-runner", &["--version"]) {
        Some(v) if v == format!("wasm-bindgen-test-runner {wanted}") => {}
        Some(v) => bail!(
            "the wasm32 tests need wasm-bindgen-test-runner {wanted} (Cargo.lock's wasm-bindgen), found `{v}`; \
             run `cargo install --locked wasm-bindgen-cli --version ={wanted}`"
        ),
        None => bail!(
            "the wasm32 tests need wasm-bindgen-test-runner {wanted}, and it is not on PATH; \
             run `cargo install --locked wasm-bindgen-cli --version ={wanted}` (`cargo xtask setup` does)"
        ),
    }
    for (_, path) in TEST_PACKAGES.iter().filter(|(package, _)| package.starts_with("chromium")) {
        if !Path::new(path).exists() {
            bail!("the wasm32 tests run in headless Chromium and need {path}; run `cargo xtask setup --test-packages`");
        }
    }
    // wasm-bindgen-test-runner starts Chromium without a profile folder, so
    // chromedriver makes one (`org.chromium.Chromium.scoped_dir.*`) in the
    // temp folder and the runner's abrupt end leaves it there: give the
    // whole run a temp folder of its own, removed afterwards.
    let scratch = ScratchDir::new("vigil-wasm-tests")?;
    let (mut passed, mut failed) = (0, 0);
    for profile in [None, Some("--release")] {
        let mut cmd = cargo();
        cmd.args(["test", "-p", "vigil-shared", "--target", "wasm32-unknown-unknown", "--test", "wasm"])
            .args(profile)
            .env("TMPDIR", &scratch.0)
            .env("CHROMEDRIVER", "/usr/bin/chromedriver");
        let (p, f) = run_and_count_tests(&mut cmd)?;
        if p == 0 {
            bail!("`{}` ran no test", describe(&cmd));
        }
        passed += p;
        failed += f;
    }
    // The dashboard app's own tests (panel drawing read back from real
    // canvases, timings, the mounted components): release only, the
    // profile the app ships in.
    let mut cmd = cargo();
    cmd.args(["test", "-p", "vigil-frontend", "--target", "wasm32-unknown-unknown", "--release"])
        .env("TMPDIR", &scratch.0)
        .env("CHROMEDRIVER", "/usr/bin/chromedriver");
    let (p, f) = run_and_count_tests(&mut cmd)?;
    if p == 0 {
        bail!("`{}` ran no test", describe(&cmd));
    }
    passed += p;
    failed += f;
    Ok((passed, failed))
}

/// A folder under the system temp folder, removed with everything in it
/// on drop (also when a step fails).
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new(prefix: &str) -> Result<ScratchDir> {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(ScratchDir(dir))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `cargo test`, echoing its output, and adds up the "test result"
/// lines of every test binary.
fn run_and_count_tests(cmd: &mut Command) -> Result<(u64, u64)> {
    use std::io::{BufRead, BufReader};
    eprintln!("xtask: $ {}", describe(cmd));
    let mut child =
        cmd.stdout(std::process::Stdio::piped()).spawn().with_context(|| format!("cannot start {}", describe(cmd)))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let (mut passed, mut failed) = (0, 0);
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading cargo test output")?;
        println!("{line}");
        if let Some(rest) = line.strip_prefix("test result: ") {
            let count = |word: &str| -> u64 {
                rest.split(';')
                    .find_map(|part| part.trim().strip_suffix(word)?.trim().rsplit(' ').next()?.parse().ok())
                    .unwrap_or(0)
            };
            passed += count("passed");
            failed += count("failed");
        }
    }
    let status = child.wait().context("waiting for cargo test")?;
    if !status.success() {
        println!("tests: {passed} passed, {failed} failed");
        bail!("`{}` failed with {status}", describe(cmd));
    }
    Ok((passed, failed))
}
